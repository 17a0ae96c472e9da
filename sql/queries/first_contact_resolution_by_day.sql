-- How often was the issue resolved on the first contact, as the source reports it? Per
-- source, date and channel, the responses whose resolved_first_contact is answered (a
-- post-call survey's "Was your issue resolved on this call?", a call log's Resolved flag)
-- and the share of them resolved, from daily_summary: counts summed over its queues and
-- policies, then divided (never an average of its fcr_rate). Dates where nothing was
-- answered are left out, and so are partitions written before daily_summary 10 (no
-- fcr_answered: rewrite them with the backfill `servicelens dictionary --check` names).
-- The source's answer (the customer's, in a survey; a system's, in a ticket feed or call
-- log), as its definition maps it, not the observed "no repeat contact" of
-- agent_outcomes (agents_whose_customers_come_back). Over handled contacts: calls the
-- source flags abandoned (a call log's Answered (Y/N) = N, mapped as abandoned) are counted
-- apart, in abandoned, and are not in answered (SQM Group's and ICMI's definition of
-- first-call resolution); abandoned is null on dates written before daily_summary 11, whose
-- answered counted them too. Newest dates first.
SELECT
    source,
    survey_date,
    channel,
    sum(responses)::BIGINT AS responses,
    sum(abandoned)::BIGINT AS abandoned,
    sum(fcr_answered)::BIGINT AS answered,
    sum(fcr_resolved)::BIGINT AS resolved,
    round(sum(fcr_resolved) / sum(fcr_answered), 3) AS first_contact_resolution
FROM daily_summary
WHERE fcr_answered IS NOT NULL
GROUP BY source, survey_date, channel
HAVING sum(fcr_answered) > 0
ORDER BY source, survey_date DESC, channel
LIMIT 500;
