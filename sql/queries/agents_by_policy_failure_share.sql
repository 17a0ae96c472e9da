-- Which agents have real policy failures? Agents ranked by the share of their scored
-- negatives the model called policy_failure (a policy failed the customer: not coaching,
-- the operation to fix), over every week a model scored, whatever the week's status: it
-- needs no customer id (an export without one leaves first-contact resolution unmeasured,
-- `no customer id`, and agents_whose_customers_come_back empty) and no minimum of settled
-- contacts. Counts are summed over the weeks, then divided (a plain average of weekly shares
-- would weight a week of 2 negatives like one of 40). A week no model scored has no count and
-- is left out; negatives the model has not scored in a scored week (a week straddling the
-- first champion) count as not failures. scored_negatives is n beside the share: an agent
-- with fewer than 20 (early warning's minimum, transforms/early_warning.py MIN_NEGATIVES)
-- ranks after every agent with enough, their share shown but `too few scored negatives` (one
-- failure among 3 reads 0.33; a 95% interval at n = 20 is still about +-0.2). source_share is
-- the source's share over the same weeks, to read each agent against. Shares are the model's
-- decisions at its threshold (agent_outcomes holds no calibrated estimate): fit for comparing
-- agents of one source, not for how common failures are (policies_by_root_cause). Agent ids
-- are pseudonymous; a source without agents (`no agent recorded`) is left out; an agent is
-- one source's. Queues: queues_by_policy_failure_share.
-- The other negatives are perceived (the policy was followed and explained, and the customer
-- expected something else): not the agent's doing as such either, and an agent who takes a
-- policy's calls takes its complaints (a trial's billing agent, 162 perceived negatives in two
-- weeks, every one about an explained price rise, read as the worst agent). So each agent's
-- perceived count sits beside top_perceived_policy, the policy most of them are about over
-- the weeks (each week's top policy, agent_outcomes 11, its negatives summed over the weeks it
-- was top; ties: the first by name), and its share of them: read a high count with it.
WITH scored AS (
    SELECT *
    FROM agent_outcomes
    WHERE agent IS NOT NULL AND negatives_policy_failure IS NOT NULL
),
agents AS (
    SELECT
        source,
        agent,
        count(*) AS weeks,
        sum(contacts)::BIGINT AS contacts,
        sum(negatives)::BIGINT AS scored_negatives,
        sum(negatives_policy_failure)::BIGINT AS policy_failures,
        sum(negatives_other)::BIGINT AS perceived
    FROM scored
    GROUP BY source, agent
),
top_perceived AS (
    SELECT
        source,
        agent,
        top_perceived_policy,
        sum(round(top_perceived_policy_share * negatives_other)) AS top_perceived
    FROM scored
    WHERE top_perceived_policy IS NOT NULL
    GROUP BY source, agent, top_perceived_policy
    QUALIFY row_number() OVER (
        PARTITION BY source, agent ORDER BY top_perceived DESC, top_perceived_policy
    ) = 1
),
sources AS (
    SELECT
        source,
        sum(negatives_policy_failure) / nullif(sum(negatives), 0) AS source_share
    FROM scored
    GROUP BY source
)
SELECT
    source,
    agent,
    weeks,
    contacts,
    scored_negatives,
    policy_failures,
    round(policy_failures / nullif(scored_negatives, 0), 3) AS policy_failure_share,
    round(source_share, 3) AS source_share,
    perceived,
    top_perceived_policy,
    round(top_perceived / nullif(perceived, 0), 3) AS top_perceived_policy_share,
    CASE
        WHEN scored_negatives < 20
            THEN 'too few scored negatives (' || scored_negatives || ' of 20): do not rank'
    END AS note
FROM agents
JOIN sources USING (source)
LEFT JOIN top_perceived USING (source, agent)
ORDER BY
    source,
    scored_negatives < 20,
    policy_failure_share DESC NULLS LAST,
    scored_negatives DESC,
    agent
LIMIT 50;
