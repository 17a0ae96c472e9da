-- Which rows were not kept, and why? Every quarantined row of the newest survey dates, with
-- the file and physical line it came from and each of its reasons (what a run's table means
-- by "the quarantine"). Rows with a problem of their own come first, then the earlier copies
-- a later line or delivery superseded (the quarantine's superseded column: a whole file
-- delivered again makes one for every row, of the surveys and of a contact feed alike);
-- newest date first; the first 500 rows (the command says how many there are in all).
SELECT
    source,
    survey_date,
    feed,
    source_file,
    source_line,
    record_id,
    array_to_string(reasons, ' | ') AS reasons
FROM quarantine
ORDER BY
    -- Null in rows written before the column existed: there the first reason tells, as the
    -- quarantine's contract says (a corrected re-delivery's 'updated: superseded by ...'
    -- copies of a trial's contacts were listed ahead of its rejects).
    coalesce(superseded, regexp_matches(reasons[1], '^(duplicate delivery|updated|exact duplicate):')),
    survey_date DESC, source, source_file, source_line
LIMIT 500;
