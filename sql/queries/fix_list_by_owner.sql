-- What should each owner fix first? The newest fix list over its whole window: for operations
-- (real failures: fix what breaks) and communications (perceived complaints: fix how
-- expectations are set), the five policy and queue pairs whose fix would recover the most
-- csat points, against comparable responses without the problem, with the 95% interval and
-- the NPS points at stake. Each source's own newest list (a source whose data ends earlier
-- than another's is not left out). Empty until a model has scored the negatives.
-- No estimate rests on a handful of responses: where fewer than 5 problem or 5 comparable
-- responses have the score, the points are null and `note` says so with the counts
-- (transforms/fix_list.py, MIN_RESPONSES_PER_SIDE); such rows rank after the estimated ones.
WITH newest AS (
    SELECT *
    FROM fix_list
    WHERE period = 'window'
    QUALIFY survey_date = max(survey_date) OVER (PARTITION BY source)
)
SELECT
    source,
    owner,
    rank,
    policy_code,
    queue,
    problem_responses,
    round(csat_points_lost, 1) AS csat_points_lost,
    round(csat_points_lost_low, 1) AS csat_points_low,
    round(csat_points_lost_high, 1) AS csat_points_high,
    round(nps_points_lost, 2) AS nps_points_lost,
    nullif(
        concat_ws('; ', 'csat: ' || csat_not_estimated, 'nps: ' || nps_not_estimated), ''
    ) AS note,
    period_start,
    period_end,
    example_comments[1] AS example_comment
FROM newest
WHERE rank <= 5
ORDER BY source, owner DESC, rank;
