-- Which queues bounce customers? A transfer loop (3 or more transfers) is a failure even when
-- every agent was quick. The loop share is of all the queue's responses, the negative share of
-- its rated ones, the failure share of its scored negatives.
SELECT
    source,
    queue,
    count(*) AS responses,
    round(avg(transfers), 2) AS mean_transfers,
    round(avg((transfers >= 3)::INTEGER), 3) AS transfer_loop_share,
    -- Of the rated responses (no score, an unanswered call, is neither negative nor not),
    -- as daily_summary's negative_share (negatives / rated): the two must agree (a trial
    -- read 0.429 here against 0.345 from summing daily_summary).
    round(avg(is_negative::INTEGER), 3) AS negative_share,
    count(*) FILTER (WHERE is_negative AND transfers >= 3) AS negatives_after_loop,
    round(
        avg((root_cause = 'policy_failure')::INTEGER) FILTER (WHERE transfers >= 3), 3
    ) AS policy_failure_share_after_loop
FROM feedback_scored
GROUP BY source, queue
ORDER BY source, transfer_loop_share DESC, queue;
