-- Which queues have real policy failures? Queues ranked by the share of their scored
-- negatives the model called policy_failure, from daily_summary (agent_outcomes has no
-- queue): counts summed over the dates, then divided (never an average of daily shares).
-- Needs no customer id. A group no model scored (policy_failures and perceived null) is left
-- out. scored_negatives is n beside the share: a queue with fewer than 20 (early warning's
-- minimum, transforms/early_warning.py MIN_NEGATIVES) ranks after every queue with enough,
-- its share shown but `too few scored negatives`. The share is the model's decisions at its
-- threshold, as agents_by_policy_failure_share's (comparable with it); beside it,
-- expected_policy_failure_share is the calibrated estimate of how common failures are
-- (sum(expected_policy_failures) / scored negatives, as policies_by_root_cause; null where a
-- date written before daily_summary 6 has none). source_share is the source's decision share
-- over the same rows. One block per source: a source's queues are its own.
WITH scored AS (
    SELECT *
    FROM daily_summary
    WHERE policy_failures IS NOT NULL AND perceived IS NOT NULL
),
queues AS (
    SELECT
        source,
        queue,
        count(DISTINCT survey_date) AS dates,
        sum(negatives)::BIGINT AS negatives,
        sum(policy_failures + perceived)::BIGINT AS scored_negatives,
        sum(policy_failures)::BIGINT AS policy_failures,
        sum(expected_policy_failures) AS expected_policy_failures,
        count(*) FILTER (WHERE expected_policy_failures IS NULL AND policy_failures + perceived > 0)
            AS groups_without_estimate
    FROM scored
    GROUP BY source, queue
),
sources AS (
    SELECT source, sum(policy_failures) / nullif(sum(policy_failures + perceived), 0) AS source_share
    FROM scored
    GROUP BY source
)
SELECT
    source,
    queue,
    dates,
    negatives,
    scored_negatives,
    policy_failures,
    round(policy_failures / nullif(scored_negatives, 0), 3) AS policy_failure_share,
    CASE WHEN groups_without_estimate = 0
        THEN round(expected_policy_failures / nullif(scored_negatives, 0), 3)
    END AS expected_policy_failure_share,
    round(source_share, 3) AS source_share,
    CASE
        WHEN scored_negatives < 20
            THEN 'too few scored negatives (' || scored_negatives || ' of 20): do not rank'
    END AS note
FROM queues
JOIN sources USING (source)
WHERE scored_negatives > 0
ORDER BY
    source,
    scored_negatives < 20,
    policy_failure_share DESC NULLS LAST,
    scored_negatives DESC,
    queue;
