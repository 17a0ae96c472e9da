-- The same question over time: perceived complaints and real failures per policy and week
-- (weeks start on Monday). A policy whose failures fall after an operational fix, or whose
-- perceived complaints fall after a disclosure change, shows it here. perceived and
-- policy_failures count the model's decisions at its threshold; how common failures are is
-- the calibrated estimate, expected_policy_failures (the sum of p_policy_failure) and its
-- share, as in policies_by_root_cause (decisions under-counted every sample policy's failures).
-- A response's week is that of its own day in the business timezone (the variable
-- business_timezone, sql/views.sql): a monthly source's rows all carry their month's first
-- day as survey_date, and were all put in that day's week. days_covered is how many days of
-- the week have any response of the source: the first and last weeks of the data are
-- usually partial, so compare their counts per day, not as a fall.
WITH dated AS (
    SELECT
        *,
        coalesce(
            timezone(getvariable('business_timezone'), submitted_at)::DATE, survey_date
        ) AS response_day,
        date_trunc('week', response_day)::DATE AS week
    FROM feedback_scored
),
covered AS (
    SELECT source, week, count(DISTINCT response_day) AS days_covered
    FROM dated
    GROUP BY source, week
)
SELECT
    source,
    week,
    policy_code,
    count(*) AS negatives,
    count(*) FILTER (WHERE root_cause = 'perceived') AS perceived,
    count(*) FILTER (WHERE root_cause = 'policy_failure') AS policy_failures,
    round(sum(p_policy_failure)::DOUBLE, 1) AS expected_policy_failures,
    round(avg(p_policy_failure), 3) AS expected_policy_failure_share,
    days_covered
FROM dated
JOIN covered USING (source, week)
WHERE is_negative AND root_cause IS NOT NULL
GROUP BY source, week, policy_code, days_covered
ORDER BY source, week, policy_code;
