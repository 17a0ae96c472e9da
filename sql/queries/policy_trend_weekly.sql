-- The same question over time: perceived complaints and real failures per policy and week
-- (weeks start on Monday). A policy whose failures fall after an operational fix, or whose
-- perceived complaints fall after a disclosure change, shows it here.
SELECT
    source,
    date_trunc('week', survey_date)::DATE AS week,
    policy_code,
    count(*) AS negatives,
    count(*) FILTER (WHERE root_cause = 'perceived') AS perceived,
    count(*) FILTER (WHERE root_cause = 'policy_failure') AS policy_failures,
    round(avg(p_policy_failure), 3) AS mean_p_policy_failure
FROM scored_negatives
GROUP BY ALL
ORDER BY source, week, policy_code;
