-- Which rows were not kept, and why? Every quarantined row of the newest survey dates, with
-- the file and physical line it came from and each of its reasons (what a run's table means
-- by "the quarantine"). Rows with a problem of their own come first, then older copies
-- superseded by a re-delivery (a whole file delivered again makes one for every row);
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
    len(list_filter(reasons, lambda r: NOT (starts_with(r, 'duplicate delivery: superseded by')
                                             OR starts_with(r, 'exact duplicate of line')))) = 0,
    survey_date DESC, source, source_file, source_line
LIMIT 500;
