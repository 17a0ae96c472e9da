-- Which rows were not kept, and why? Every quarantined row of the newest survey dates, with
-- the file and physical line it came from and each of its reasons (what a run's table means
-- by "the quarantine"). Newest date first; the first 500 rows.
SELECT
    source,
    survey_date,
    feed,
    source_file,
    source_line,
    record_id,
    array_to_string(reasons, ' | ') AS reasons
FROM quarantine
ORDER BY survey_date DESC, source, source_file, source_line
LIMIT 500;
