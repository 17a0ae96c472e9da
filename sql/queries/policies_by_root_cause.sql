-- Which policies generate the most perceived complaints (a communication fix) and which the
-- most real failures (an operational fix)? Counts are summed from daily_summary, then shares
-- are computed once (averaging per-day shares would weight a quiet day like a busy one).
-- How common failures are, the owner (main_fix) and both ranks come from the calibrated
-- estimate, expected_policy_failures (the sum of p_policy_failure), over the scored negatives:
-- perceived and policy_failures are the model's decisions at its threshold, tuned to tell each
-- response's cause, not to count them (a BI developer's trial read GREET-10MIN at 0.457 by
-- decisions against 0.515 expected and 0.517 true, and was told "communication"). The
-- decision counts stay as counts. A day written before daily_summary version 6 has no
-- expected_policy_failures: it takes the sum of its scored responses' p_policy_failure
-- (feedback_scored), as policy_trend_weekly counts every day. Its decision count never stands
-- in (a platform engineer's upgrade read CONDUCT's old decisions, 92, as its estimate while
-- the weekly view summed the same rows to 108.3). A policy with a scored day that has neither
-- has no estimate, share or rank: main_fix counts those days and names the command that
-- rewrites them (`servicelens dictionary --check` names their partitions).
-- Before any model has scored the negatives (their counts are null then), a policy's fix says
-- so instead of recommending, and its counts and estimate are null, not 0: its groups without
-- negatives hold 0 of each, which summed with the nulls read as a count of none (a user's
-- trial read "expected_policy_failures 0.0" beside "not scored yet");
-- a policy without negatives (a source whose export gives no rating) says that instead, and
-- has no estimate (null: nothing was scored), as daily_summary version 7 writes it.
-- One block per source: a source's policy codes are its own.
WITH estimated AS (
    SELECT source, survey_date, policy_code, sum(p_policy_failure)::DOUBLE AS expected_failures
    FROM feedback_scored
    WHERE is_negative AND root_cause IS NOT NULL
    GROUP BY source, survey_date, policy_code
),
days AS (
    SELECT
        source,
        survey_date,
        policy_code,
        sum(negatives) AS negatives,
        sum(perceived) AS perceived,
        sum(policy_failures) AS policy_failures,
        sum(perceived + policy_failures) AS scored,
        sum(expected_policy_failures)::DOUBLE AS expected_failures
    FROM daily_summary
    GROUP BY source, survey_date, policy_code
),
policies AS (
    SELECT
        source,
        policy_code,
        sum(negatives) AS negatives,
        sum(perceived) AS perceived,
        sum(policy_failures) AS policy_failures,
        coalesce(sum(scored), 0) AS scored,
        sum(coalesce(d.expected_failures, e.expected_failures)) AS expected_failures,
        count(*) FILTER (
            WHERE d.scored > 0 AND coalesce(d.expected_failures, e.expected_failures) IS NULL
        ) AS days_without_estimate
    FROM days AS d
    LEFT JOIN estimated AS e USING (source, survey_date, policy_code)
    GROUP BY source, policy_code
),
estimates AS (
    SELECT
        * REPLACE (
            CASE WHEN days_without_estimate = 0 THEN expected_failures END AS expected_failures
        )
    FROM policies
)
SELECT
    source,
    policy_code,
    negatives::BIGINT AS negatives,
    CASE WHEN scored > 0 OR negatives = 0 THEN perceived::BIGINT END AS perceived,
    CASE WHEN scored > 0 OR negatives = 0 THEN policy_failures::BIGINT END AS policy_failures,
    CASE WHEN scored > 0 THEN round(expected_failures, 1) END AS expected_policy_failures,
    round(expected_failures / nullif(scored, 0), 3) AS expected_policy_failure_share,
    CASE
        WHEN negatives = 0
            THEN 'no negative responses: nothing to classify'
        WHEN scored = 0
            THEN 'not scored yet: no model has scored these negatives, nothing to recommend'
        WHEN expected_failures IS NULL
            THEN 'no estimate for ' || days_without_estimate
                || ' scored date(s) written before it: `servicelens backfill --source '
                || source || ' --rerun all` rewrites them'
        WHEN expected_failures > scored / 2 THEN 'operation: fix what breaks'
        ELSE 'communication: set expectations'
    END AS main_fix,
    CASE WHEN scored > 0 AND expected_failures IS NOT NULL
        THEN rank() OVER (
            PARTITION BY source, scored > 0 AND expected_failures IS NOT NULL
            ORDER BY scored - expected_failures DESC
        )
    END AS rank_perceived,
    CASE WHEN scored > 0 AND expected_failures IS NOT NULL
        THEN rank() OVER (
            PARTITION BY source, scored > 0 AND expected_failures IS NOT NULL
            ORDER BY expected_failures DESC
        )
    END AS rank_policy_failure
FROM estimates
ORDER BY source, negatives DESC, policy_code;
