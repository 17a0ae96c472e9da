-- Are long calls failures? A representative who stays 28 minutes and solves the problem gave
-- good service; a quick transfer loop did not. Compare negative responses by handle time and
-- against transfer loops: the policy-failure share of 20-40 minute calls should not be above
-- that of short calls, and far below that of transfer loops. Calls over 40 minutes are mostly
-- hour-long cancellations, which are failures of their own kind. Negatives whose interaction
-- gives no handle time or no transfer count (none was joined, or the export left it empty)
-- have a row of their own, so the bands add up to every scored negative.
WITH banded AS (
    SELECT
        source,
        CASE
            WHEN transfers >= 3 THEN '0 transfer loop (3+ transfers)'
            WHEN handle_seconds IS NULL OR transfers IS NULL
                THEN '5 not known (no handle time or transfer count)'
            WHEN handle_seconds < 600 THEN '1 under 10 min'
            WHEN handle_seconds < 1200 THEN '2 10-20 min'
            WHEN handle_seconds < 2400 THEN '3 20-40 min'
            ELSE '4 over 40 min'
        END AS band,
        root_cause
    FROM scored_negatives
)
SELECT
    source,
    substr(band, 3) AS contact,
    count(*) AS negatives,
    count(*) FILTER (WHERE root_cause = 'policy_failure') AS policy_failures,
    round(avg((root_cause = 'policy_failure')::INTEGER), 3) AS policy_failure_share
FROM banded
GROUP BY source, band
ORDER BY source, band;
