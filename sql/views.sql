-- DuckDB views over servicelens's hive-partitioned Parquet marts.
--
--   duckdb -cmd "SET VARIABLE data_dir = '/srv/servicelens'" -init sql/views.sql
--   duckdb -init sql/views.sql            -- data_dir defaults to ./data (run from the repo)
--
-- Each view reads every survey_date=YYYY-MM-DD partition. Sources other than the generated
-- sample keep their layers under sources/<name>/ (servicelens_partitions('sources/cfpb/
-- marts/feedback_scored')); `servicelens query` (servicelens/reporting/analyst.py) redefines
-- feedback_scored, daily_summary and quarantine as the union of every source present, each
-- row naming its `source`. A monthly source (CFPB: `partition = "month"` in its definition,
-- "granularity" in each partition's _manifest.json) names a partition by the month's first
-- day, so its rows' survey_date is that day; submitted_at keeps each row's own time.
-- union_by_name lets partitions
-- written by an older contract version (fewer columns) be read beside newer ones: the
-- columns they lack read as null. Column meanings: docs/data_dictionary.md.

SET VARIABLE data_dir = coalesce(getvariable('data_dir'), 'data');

-- Every survey_date partition of one table under the data directory.
CREATE OR REPLACE MACRO servicelens_partitions(table_path) AS TABLE
SELECT *
FROM read_parquet(
    getvariable('data_dir') || '/' || table_path || '/survey_date=*/*.parquet',
    hive_partitioning = true,
    hive_types = {'survey_date': DATE},
    union_by_name = true
);

-- One row per valid survey response; root_cause for negatives (csat <= 2).
CREATE OR REPLACE VIEW feedback_scored AS
SELECT * FROM servicelens_partitions('marts/feedback_scored');

-- Counts and shares by date, queue, policy and channel. Sum counts; never average shares.
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

-- Negative responses the model has scored: the rows root-cause questions are about.
CREATE OR REPLACE VIEW scored_negatives AS
SELECT
    *,
    root_cause = 'policy_failure' AS is_policy_failure,
    root_cause = 'perceived' AS is_perceived,
    transfers >= 3 AS is_transfer_loop
FROM feedback_scored
WHERE is_negative AND root_cause IS NOT NULL;
