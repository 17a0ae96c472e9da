-- Which queues bounce customers? A transfer loop (3 or more transfers) is a failure even when
-- every agent was quick. Shares are of all the queue's responses; the failure share is of its
-- scored negatives.
SELECT
    source,
    queue,
    count(*) AS responses,
    round(avg(transfers), 2) AS mean_transfers,
    round(avg((transfers >= 3)::INTEGER), 3) AS transfer_loop_share,
    -- Unrated responses (no score: an unanswered call) count as not negative, as in
    -- daily_summary's negative_share (negatives / responses): a trial read 0.429 here
    -- against 0.345 from summing daily_summary, the unrated left out of this average.
    round(avg(coalesce(is_negative, false)::INTEGER), 3) AS negative_share,
    count(*) FILTER (WHERE is_negative AND transfers >= 3) AS negatives_after_loop,
    round(
        avg((root_cause = 'policy_failure')::INTEGER) FILTER (WHERE transfers >= 3), 3
    ) AS policy_failure_share_after_loop
FROM feedback_scored
GROUP BY source, queue
ORDER BY source, transfer_loop_share DESC, queue;
