-- DuckDB views over servicelens's hive-partitioned Parquet marts. From the project folder,
-- with the Python package `make env` installs (it installs no `duckdb` shell), over ./data
-- (SET VARIABLE data_dir = '/srv/servicelens' before the file for another directory):
--
--   .venv/bin/python -c "import duckdb; duckdb.execute(open('sql/views.sql').read());
--   duckdb.sql('FROM daily_summary').show()"
--
-- or, in a DuckDB shell installed by hand (the version uv.lock pins for the package):
--   duckdb -cmd "SET VARIABLE data_dir = '/srv/servicelens'" -init sql/views.sql
--
-- An object store's data directory (data_dir = 's3://bucket/prefix') is read the same way,
-- through fsspec registered on the connection (Python), or through DuckDB's httpfs extension
-- and an s3 secret (the shell, ODBC, BI tools; installed once, offline too: README, Object
-- storage).
--
-- Each view reads every survey_date=YYYY-MM-DD partition of its table, for every source in
-- the data directory: the generated sample keeps its layers at the top (marts/, quarantine/),
-- every configured source under sources/<name>/ (sources/cfpb/marts/feedback_scored). Rows
-- name their `source`; a data directory may hold the sample, sources, or both. A monthly
-- source (CFPB: `partition = "month"` in its definition, "granularity" in each partition's
-- _manifest.json) names a partition by the month's first day, so its rows' survey_date is
-- that day; submitted_at keeps each row's own time. union_by_name lets partitions written by
-- an older contract version (fewer columns) be read beside newer ones: the columns they lack
-- read as null. A table no run has written yet has no view (DuckDB: "No files found");
-- `servicelens query` (servicelens/reporting/analyst.py) gives it an empty one. Column
-- meanings: docs/data_dictionary.md.

SET VARIABLE data_dir = coalesce(getvariable('data_dir'), 'data');

-- The data directory as DuckDB spells the files it finds there: no trailing slash, no
-- leading ./ (DuckDB drops it).
CREATE OR REPLACE MACRO servicelens_root() AS
regexp_replace(rtrim(getvariable('data_dir'), '/'), '^(\./)+', '');

-- The business timezone the data directory records, as the command line reads it
-- (servicelens/storage/runs.py, recorded_timezone): "timezone" in the _manifest.json of the
-- newest clean/responses partition of the sample and of each configured source. A list of
-- {timezone, manifest}; null when none records one (a directory no run has written yet).
-- query() reads the manifests only when there are some: read_json_objects refuses none.
SET VARIABLE servicelens_timezone_manifests = (
    SELECT list(newest ORDER BY newest)
    FROM (
        SELECT max(file) AS newest
        FROM (
            SELECT file
            FROM glob(servicelens_root() || '/clean/responses/survey_date=*/_manifest.json')
            UNION ALL
            SELECT file
            FROM glob(
                servicelens_root() || '/sources/*/clean/responses/survey_date=*/_manifest.json'
            )
        )
        GROUP BY regexp_replace(file, '/survey_date=[^/]+/_manifest[.]json$', '')
    )
);
SET VARIABLE servicelens_recorded_timezones = (
    SELECT list({'timezone': timezone, 'manifest': filename} ORDER BY filename)
    FROM query(
        CASE WHEN getvariable('servicelens_timezone_manifests') IS NULL
            THEN 'SELECT NULL::VARCHAR AS timezone, NULL::VARCHAR AS filename WHERE false'
            ELSE 'SELECT json ->> ''timezone'' AS timezone, filename FROM read_json_objects('
                || 'getvariable(''servicelens_timezone_manifests''), filename = true)'
        END
    )
    WHERE timezone IS NOT NULL
);

-- The business timezone in which a response's own day is read from its submitted_at
-- (policy_trend_weekly's weeks): the one the data directory records, as `servicelens query`
-- reads it, so BI counts the command line's days without setting anything (found by an
-- airline's trial: it was Europe/London whatever the directory recorded, and 242 of 1,080
-- rows of an America/Toronto directory fell on another day). Set it before this file to
-- read days in another timezone, as SERVICELENS_TIMEZONE does for the command line; Europe/
-- London (the pipeline's default) where nothing is recorded. A directory recording more than
-- one stops here, naming them: which one is meant cannot be guessed.
SET VARIABLE business_timezone = coalesce(
    getvariable('business_timezone'),
    CASE
        WHEN len(list_distinct(
            list_transform(getvariable('servicelens_recorded_timezones'), lambda r: r.timezone)
        )) = 1
            THEN getvariable('servicelens_recorded_timezones')[1].timezone
        WHEN len(getvariable('servicelens_recorded_timezones')) > 1
            THEN error(
                servicelens_root() || ' records more than one business timezone ('
                || array_to_string(
                    list_transform(
                        getvariable('servicelens_recorded_timezones'),
                        lambda r: r.timezone || ' in ' || r.manifest
                    ),
                    '; '
                )
                || '): set the one to read response days in before sql/views.sql, e.g. '
                || 'SET VARIABLE business_timezone = '''
                || getvariable('servicelens_recorded_timezones')[1].timezone || ''''
            )
    END,
    'Europe/London'
);

-- Which layers hold each table, found once, when this file runs: the sample's tables sit at
-- the top of the data directory (marts/feedback_scored), each configured source's under
-- sources/<name>/. A table maps to one glob per layer holding it (sources/*/ covers every
-- source). DuckDB's globs have no optional folder, and a list of globs fails when one
-- matches nothing, so the views cannot name both layers blindly; a recursive glob on every
-- query would walk the whole data directory (raw files, reports) each time. Run this file
-- again after a run adds a layer (the first run of a new table or of the sources); new
-- partitions of a layer found here are read as they appear.
SET VARIABLE servicelens_layers = (
    SELECT map_from_entries(list((table_path, patterns)))
    FROM (
        SELECT table_path, list(DISTINCT pattern) AS patterns
        FROM (
            SELECT
                m.table_path,
                servicelens_root() || regexp_replace(m.layer, '^/sources/[^/]+$', '/sources/*')
                    || '/' || m.table_path || '/survey_date=*/*.parquet' AS pattern
            FROM (
                SELECT regexp_extract(
                    file,
                    '^' || regexp_escape(servicelens_root())
                        || '(/sources/[^/]+)?/((?:marts/)?[^/]+)/survey_date=[^/]+/[^/]+[.]parquet$',
                    ['layer', 'table_path']
                ) AS m
                FROM glob(servicelens_root() || '/**/survey_date=*/*.parquet')
            )
            WHERE m.table_path <> ''
        )
        GROUP BY table_path
    )
);

-- Every survey_date partition of one table (`marts/feedback_scored`, `quarantine`), in every
-- layer that holds it; any other folder under the data directory is read at its top
-- (servicelens_partitions('clean/responses')).
CREATE OR REPLACE MACRO servicelens_partitions(table_path) AS TABLE
SELECT *
FROM read_parquet(
    coalesce(
        getvariable('servicelens_layers')[table_path],
        [servicelens_root() || '/' || table_path || '/survey_date=*/*.parquet']
    ),
    hive_partitioning = true,
    hive_types = {'survey_date': DATE},
    union_by_name = true
);

-- One row per valid survey response; root_cause for negatives (is_negative: the source's
-- negative rule, csat <= 2 by default).
-- resolved_first_contact: the source's own resolved yes/no (a post-call survey's question,
-- a call log's flag), null where not mapped, not answered, or in partitions written before
-- feedback_scored 9 (union_by_name reads them beside the newer ones). abandoned: the source's
-- own yes/no that the call was abandoned before anyone answered (null where not mapped, or
-- before feedback_scored 10).
CREATE OR REPLACE VIEW feedback_scored AS
SELECT * FROM servicelens_partitions('marts/feedback_scored');

-- Counts and shares by date, queue, policy and channel. Sum counts; never average shares.
-- fcr_answered, fcr_resolved and fcr_rate count resolved_first_contact over handled contacts
-- (null in partitions written before daily_summary 10): sum(fcr_resolved) / sum(fcr_answered).
-- abandoned counts the calls the source flags abandoned, which fcr_answered leaves out (null
-- in partitions written before daily_summary 11, whose fcr_answered counted them too).
CREATE OR REPLACE VIEW daily_summary AS
SELECT * FROM servicelens_partitions('marts/daily_summary');

-- Every rejected row with its file, line and reasons.
CREATE OR REPLACE VIEW quarantine AS
SELECT * FROM servicelens_partitions('quarantine');

-- What to fix first and who owns it: per week, the week's rows and the window up to it.
CREATE OR REPLACE VIEW fix_list AS
SELECT * FROM servicelens_partitions('marts/fix_list');

-- Each agent's week: handle time beside first-contact resolution. Never rank by handle time.
CREATE OR REPLACE VIEW agent_outcomes AS
SELECT * FROM servicelens_partitions('marts/agent_outcomes');

-- The responses proposed for a QA audit, as each date's scoring proposed them (audits filed
-- since are not taken out here: `servicelens review-queue` lists the items still open).
CREATE OR REPLACE VIEW review_queue AS
SELECT * FROM servicelens_partitions('marts/review_queue');

-- The folders of per-date run outcome records (runs/survey_date=<date>.json, the sample's at
-- the top, each configured source's under sources/<name>/runs), found once, when this file
-- runs, as servicelens_layers is: one glob per folder holding a record, since a glob that
-- matches nothing fails. Null when no run has recorded an outcome.
SET VARIABLE servicelens_run_records = (
    SELECT list(DISTINCT pattern)
    FROM (
        SELECT servicelens_root() || '/runs/survey_date=*.json' AS pattern
        FROM glob(servicelens_root() || '/runs/survey_date=*.json')
        UNION ALL
        SELECT servicelens_root() || '/sources/*/runs/survey_date=*.json' AS pattern
        FROM glob(servicelens_root() || '/sources/*/runs/survey_date=*.json')
    )
);

-- One row per source and survey date (or month) a run published: what it read, kept and
-- quarantined, which run and model, and when; from the _manifest.json beside each
-- feedback_scored partition. A date processed that kept nothing has a row here (rows_kept
-- 0) and none in feedback_scored; a date never delivered or not run yet has none in either
-- (found by a BI analyst's trial: the two looked alike without reading the manifests).
-- A date run but never published (every run of it failed, crashed or was interrupted) has
-- a row too, from its outcome record alone: counts, run, model and granularity null, and
-- last_run_outcome saying what happened (before, it looked like a date never run).
-- last_run_outcome, last_run_finished_at and last_run_error come from the date's run outcome
-- record (runs/survey_date=<date>.json): a date whose newest run failed still lists the
-- partition an earlier run published, and these say it failed, when, and why (found by a BI
-- developer's trial: a failed re-run looked like the published one). Null where no outcome
-- was recorded. The manifests and the records are read in one call because
-- read_json_objects refuses an empty list of files, and a data directory may have no records.
CREATE OR REPLACE VIEW processed_dates AS
WITH objects AS (
    SELECT json, filename
    FROM read_json_objects(
        list_concat(
            list_transform(
                coalesce(
                    getvariable('servicelens_layers')['marts/feedback_scored'],
                    [servicelens_root() || '/marts/feedback_scored/survey_date=*/*.parquet']
                ),
                lambda pattern: regexp_replace(pattern, '/[*][.]parquet$', '/_manifest.json')
            ),
            coalesce(getvariable('servicelens_run_records'), [])
        ),
        filename = true
    )
),
manifests AS (
    SELECT json FROM objects WHERE ends_with(filename, '/_manifest.json')
),
run_records AS (
    SELECT
        coalesce(regexp_extract(filename, '/sources/([^/]+)/runs/[^/]+$', 1), '') AS layer,
        CAST(json ->> 'survey_date' AS DATE) AS survey_date,
        json ->> 'outcome' AS outcome,
        CAST(json ->> 'finished_at' AS TIMESTAMPTZ) AS finished_at,
        json ->> 'error' AS error
    FROM objects
    WHERE NOT ends_with(filename, '/_manifest.json')
)
SELECT
    coalesce(CAST(m.json ->> 'survey_date' AS DATE), r.survey_date) AS survey_date,
    CASE WHEN m.json IS NOT NULL THEN coalesce(m.json ->> 'source', 'sample')
        WHEN r.layer = '' THEN 'sample' ELSE r.layer END AS source,
    CASE WHEN m.json IS NOT NULL
        THEN coalesce(m.json -> 'partition' ->> 'granularity', 'day') END AS granularity,
    CAST(m.json -> 'counts' ->> 'surveys_read' AS BIGINT) AS rows_read,
    CAST(m.json ->> 'rows' AS BIGINT) AS rows_kept,
    CAST(m.json -> 'counts' ->> 'quarantined' AS BIGINT) AS rows_quarantined,
    CAST(m.json -> 'counts' ->> 'scored' AS BIGINT) AS negatives_scored,
    m.json ->> 'model_version' AS model_version,
    m.json ->> 'flow' AS flow,
    m.json ->> 'run_id' AS run_id,
    CAST(m.json ->> 'written_at' AS TIMESTAMPTZ) AS written_at,
    r.outcome AS last_run_outcome,
    r.finished_at AS last_run_finished_at,
    CASE WHEN r.outcome = 'failed' THEN r.error END AS last_run_error,
    -- Of rows_quarantined: earlier copies a later delivery replaced (nothing wrong with
    -- them), the rows the source definition's [[exclude]] rules set aside (a Zendesk survey
    -- only offered: nothing wrong with them either), and the rest, rejected in their own
    -- right. A partition written before its set-aside rows were counted (no set_aside in
    -- its counts) has rows_set_aside null and them among rows_rejected, as its run said.
    CAST(m.json -> 'counts' ->> 'superseded_duplicates' AS BIGINT) AS rows_superseded,
    CAST(m.json -> 'counts' ->> 'set_aside' AS BIGINT) AS rows_set_aside,
    CAST(m.json -> 'counts' ->> 'quarantined' AS BIGINT)
        - CAST(m.json -> 'counts' ->> 'superseded_duplicates' AS BIGINT)
        - coalesce(CAST(m.json -> 'counts' ->> 'set_aside' AS BIGINT), 0) AS rows_rejected,
    -- Of rows_read: rows filed under this date only as their delivery's day (the date its
    -- file name holds, else the day most of its rows fall on, else the day it was landed),
    -- their own submitted_at unreadable (empty, an undeclared format, a summary row, a
    -- malformed record): not responses known to be of this date. A date where rows_read =
    -- rows_undated has no row dated by itself (filter it off a date axis). Null for
    -- partitions run or landed before it was counted.
    CAST(m.json -> 'counts' ->> 'undated' AS BIGINT) AS rows_undated,
    -- Of rows_read: rows of subjects erased on request (servicelens erase; or left out of a
    -- later run by the erasure list): read = kept + quarantined + erased. 0 for a date never
    -- erased, and for a manifest written before erasures were counted (none were erased).
    CASE WHEN m.json IS NOT NULL
        THEN coalesce(CAST(m.json -> 'counts' ->> 'erased' AS BIGINT), 0) END AS rows_erased
FROM manifests AS m
FULL OUTER JOIN run_records AS r
    ON r.survey_date = CAST(m.json ->> 'survey_date' AS DATE)
    AND r.layer = CASE WHEN coalesce(m.json ->> 'source', 'sample') = 'sample' THEN ''
        ELSE m.json ->> 'source' END;

-- Negative responses the model has scored: the rows root-cause questions are about.
CREATE OR REPLACE VIEW scored_negatives AS
SELECT
    *,
    root_cause = 'policy_failure' AS is_policy_failure,
    root_cause = 'perceived' AS is_perceived,
    transfers >= 3 AS is_transfer_loop
FROM feedback_scored
WHERE is_negative AND root_cause IS NOT NULL;
