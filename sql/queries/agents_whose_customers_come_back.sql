-- Whose customers come back? Agents over the weeks they could be judged on, lowest
-- first-contact resolution first, with their handle time and transfers beside it: a quick
-- agent whose customers return is the problem, not a slow one whose customers do not. Each
-- weekly figure is weighted by the rows it is over (contacts, responses count rows without
-- one too): transfers by contacts_with_transfers (exactly the mean over those contacts), csat
-- by csat_responses, and handle time by contacts_with_handle_time: a weighted mean of weekly
-- medians, an approximation (a median cannot be rolled up exactly). Weeks written before
-- agent_outcomes 7 have no contacts_with_* counts and drop out of those two. The share of their negatives a policy failure
-- caused is what coaching the agent would not fix, of the negatives a model scored (a week no
-- model scored has no count: counted as none, its negatives lowered the share). Agent ids are
-- pseudonymous; agent-weeks not judged are left out (too few settled contacts, or contacts with
-- no customer id, which never settle). An agent is one source's (pseudonyms are per source).
-- A source without customer ids whose export flags each contact resolved or not has its
-- first-contact resolution from that flag (fcr_measure 'resolved flag': the share of its
-- flagged contacts the flag records resolved: the source's answer, the customer's in a
-- survey, a system's in a ticket feed or call log, not a customer seen not to come back), rolled up over its flagged contacts as handle_time_vs_resolution does.
WITH judged AS (
    SELECT *, coalesce(fcr_measure = 'resolved flag', false) AS claimed
    FROM agent_outcomes
    WHERE status = 'judged'
)
SELECT
    source,
    agent,
    count(*) AS weeks,
    sum(contacts)::BIGINT AS contacts,
    round(
        sum(CASE WHEN claimed THEN flagged_resolved ELSE settled_contacts - came_back END)
            / nullif(sum(CASE WHEN claimed THEN flagged_contacts ELSE settled_contacts END), 0),
        3
    ) AS first_contact_resolution,
    CASE
        WHEN bool_and(claimed) THEN 'resolved flag'
        WHEN bool_or(claimed) THEN 'no repeat contact and resolved flag'
        ELSE 'no repeat contact'
    END AS fcr_measure,
    round(
        sum(median_handle_seconds * contacts_with_handle_time)
            / nullif(sum(contacts_with_handle_time), 0) / 60,
        1
    ) AS handle_minutes,
    round(
        sum(transfers_per_contact * contacts_with_transfers)
            / nullif(sum(contacts_with_transfers), 0),
        2
    ) AS transfers_per_contact,
    round(sum(mean_csat * csat_responses) / nullif(sum(csat_responses), 0), 2) AS mean_csat,
    round(
        sum(negatives_policy_failure)
            / nullif(sum(negatives) FILTER (WHERE negatives_policy_failure IS NOT NULL), 0),
        3
    ) AS negatives_from_policy_failures
FROM judged
GROUP BY source, agent
ORDER BY first_contact_resolution, contacts DESC, source, agent
LIMIT 20;
