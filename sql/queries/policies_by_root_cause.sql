-- Which policies generate the most perceived complaints (a communication fix) and which the
-- most real failures (an operational fix)? Counts are summed from daily_summary, then shares
-- are computed once (averaging per-day shares would weight a quiet day like a busy one).
-- Before any model has scored the negatives (their counts are null then), a policy's fix says
-- so instead of recommending;
-- a policy without negatives (a source whose export gives no rating) says that instead.
-- One block per source: a source's policy codes are its own.
SELECT
    source,
    policy_code,
    sum(negatives)::BIGINT AS negatives,
    sum(perceived)::BIGINT AS perceived,
    sum(policy_failures)::BIGINT AS policy_failures,
    round(sum(policy_failures) / nullif(sum(perceived) + sum(policy_failures), 0), 3)
        AS policy_failure_share,
    CASE
        WHEN sum(negatives) = 0
            THEN 'no negative responses: nothing to classify'
        WHEN coalesce(sum(policy_failures), 0) + coalesce(sum(perceived), 0) = 0
            THEN 'not scored yet: no model has scored these negatives, nothing to recommend'
        WHEN sum(policy_failures) > sum(perceived) THEN 'operation: fix what breaks'
        ELSE 'communication: set expectations'
    END AS main_fix,
    CASE WHEN coalesce(sum(policy_failures), 0) + coalesce(sum(perceived), 0) > 0
        THEN rank() OVER (PARTITION BY source ORDER BY sum(perceived) DESC) END AS rank_perceived,
    CASE WHEN coalesce(sum(policy_failures), 0) + coalesce(sum(perceived), 0) > 0
        THEN rank() OVER (PARTITION BY source ORDER BY sum(policy_failures) DESC) END AS rank_policy_failure
FROM daily_summary
GROUP BY source, policy_code
ORDER BY source, negatives DESC, policy_code;
