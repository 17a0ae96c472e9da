-- Is a long call a failure? Agents' weeks grouped by their median handle time, with the
-- first-contact resolution of their contacts (did the customer come back to the same queue
-- within the return window? for a source without customer ids, the share its own resolved
-- flag records resolved: each agent-week's fcr_measure says which, and each is rolled up over
-- its own contacts, settled or flagged): a long call that resolves is good service, a quick
-- transfer that brings the customer back is not. Counts are summed, then divided (mean_csat weighted by
-- csat_responses and transfers_per_contact by contacts_with_transfers, the rows each is over:
-- responses and contacts count rows without one too; weeks written before agent_outcomes 7
-- have no contacts_with_transfers and drop out of it). The band is each agent-week's median
-- handle time, as written: medians are not rolled up (not exactly possible); only
-- agent-weeks with enough settled contacts to judge are counted, and the negatives a policy
-- failure caused (the operation broke) are kept apart from the perceived ones (the policy was
-- followed and explained, and the customer expected something else; agent_outcomes'
-- negatives_other): neither is as such the agent's doing, and agents_by_policy_failure_share
-- names the policy most of each agent's perceived negatives are about; agent-weeks whose
-- export recorded no handle time are a band of their own, last. Each source on its own: their
-- agents and calls are not comparable.
WITH judged AS (
    SELECT
        *,
        CASE
            WHEN median_handle_seconds < 300 THEN '1 under 5 min'
            WHEN median_handle_seconds < 600 THEN '2 5-10 min'
            WHEN median_handle_seconds < 1200 THEN '3 10-20 min'
            WHEN median_handle_seconds >= 1200 THEN '4 20 min or more'
            ELSE '5 no handle time recorded'
        END AS band,
        coalesce(fcr_measure = 'resolved flag', false) AS claimed
    FROM agent_outcomes
    WHERE status = 'judged'
)
SELECT
    source,
    substr(band, 3) AS median_handle_time,
    count(DISTINCT agent) AS agents,
    sum(contacts)::BIGINT AS contacts,
    round(
        sum(transfers_per_contact * contacts_with_transfers)
            / nullif(sum(contacts_with_transfers), 0),
        2
    ) AS transfers_per_contact,
    sum(settled_contacts)::BIGINT AS settled_contacts,
    round(
        sum(CASE WHEN claimed THEN flagged_resolved ELSE settled_contacts - came_back END)
            / nullif(sum(CASE WHEN claimed THEN flagged_contacts ELSE settled_contacts END), 0),
        3
    ) AS first_contact_resolution,
    round(sum(mean_csat * csat_responses) / nullif(sum(csat_responses), 0), 2) AS mean_csat,
    sum(negatives_policy_failure)::BIGINT AS negatives_policy_failure,
    sum(negatives_other)::BIGINT AS negatives_perceived
FROM judged
GROUP BY source, band
ORDER BY source, band;
