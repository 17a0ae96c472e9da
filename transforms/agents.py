"""Agent outcomes: a fair weekly view of each agent (pure polars; keyed hashes from hashlib).

A representative who stays 28 minutes and solves the problem gave good service; one who
transfers the caller quickly and sends them back into the queue did not. So handle time is
never shown alone: each agent's week carries first-contact resolution beside it, and the
agent's negative responses are split by the model's root cause: those a policy failure caused
(the operation broke) and the perceived ones (the policy was followed and explained, and the
customer expected something else). Neither is the agent's doing as such: a billing agent who
takes the calls about a price rise gets its complaints, so each agent-week names the policy
most of its perceived negatives are about, and its share (a trial's billing agent read as the
worst, 74 and 88 "other" negatives a week, every one about the price rise).

First-contact resolution, as the field defines it (COPC, SQM; ISO 18295-1 speaks of
"resolution at first contact"), is a contact that resolved the problem with no repeat
contact within a window. Two measures of it reach here:

* observed (:data:`FCR_OBSERVED`): did the customer come back to the same queue within the
  return window (:mod:`transforms.repeat_contacts`)? Needs customer ids, and waits for the
  window to pass.
* reported (:data:`FCR_CLAIMED`): the source's own answer that the contact resolved the
  problem (:data:`transforms.schemas.RESOLVED_FLAG`: the customer's, in a survey; a
  system's, in a ticket feed or call log, as a call log's ``Resolved`` Y/N); final at once.

Where the contacts carry customer ids the observed measure wins: a customer who does not
come back is what resolution means to the customer, while the flag is the claim of the person
being measured (agents close calls as resolved that bring the customer back, the very
quick-transfer pattern this view exists to expose). The flag is the measure only where no
return can be seen; where both exist the flag's counts stay beside the observed share
(``flagged_contacts``, ``flagged_resolved``), so the claim can be read against the outcome.

Both measures are over handled contacts: a call the source flags abandoned
(:data:`transforms.schemas.ABANDONED`: the caller hung up before anyone answered) is in
neither, as SQM Group's and ICMI's definitions of first-call resolution count answered
calls only. An agent is not charged for a call that never reached anyone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, timedelta

import polars as pl

from transforms.marts import handled, satisfaction_counts, satisfied_share
from transforms.schemas import (
    ABANDONED,
    AGENT_OUTCOMES_SCHEMA,
    AGENT_OUTCOMES_VERSION,
    POSITIVE_CLASS,
    RESOLVED_FLAG,
    ROOT_CAUSES,
    conform,
    group_keys,
    with_group_keys,
)

#: An agent-week's status when none of its contacts carries a customer id (a call log whose
#: definition maps no ``customer_id``): a customer coming back cannot be recognised, so no
#: contact settles and first-contact resolution cannot be measured, however many contacts
#: there are. A QA lead's trial read "too few contacts" at 45-71 contacts a week, and the
#: report's "later dates settle them", of a source where none ever would.
NO_CUSTOMER_ID = "no customer id"
#: ``fcr_measure`` of a row whose first-contact resolution is the share of its settled
#: contacts whose customer did not come back (observed; needs customer ids).
FCR_OBSERVED = "no repeat contact"
#: ``fcr_measure`` of a row whose first-contact resolution is the share of its contacts the
#: source's own flag records as resolved (claimed; where no contact carries a customer id).
FCR_CLAIMED = "resolved flag"
#: An agent-week with fewer settled contacts than the minimum: not judged on this week.
TOO_FEW_CONTACTS = "too few contacts"
#: An agent-week with enough contacts to judge whose contacts are not settled enough yet
#: (their return windows still open, or not covered by the contact history): later dates
#: settle them. A head of operations' trial read "too few contacts" of its newest week at
#: 296-499 contacts an agent, 0 settled.
NOT_SETTLED_YET = "not settled yet"
#: The one row of a week whose contacts name no agent (a complaints database).
NO_AGENT_RECORDED = "no agent recorded"

#: The model's other root cause: the policy was followed and explained, and the customer
#: expected something else (not a failure of the operation, nor as such the agent's doing).
PERCEIVED = next(cause for cause in ROOT_CAUSES if cause != POSITIVE_CLASS)

PSEUDONYM_PREFIX = "agent-"
#: Hex characters of the keyed hash kept in a pseudonym (48 bits: no collisions among the
#: thousands of agents a contact centre has, and short enough to read).
PSEUDONYM_HEX = 12


#: A number as a spreadsheet writes it in scientific notation (``4,17E+08``, ``7.26E+06``,
#: pandas' ``7.26e+06``): an id saved so has lost its digits. The row suite quarantines ids
#: so written (servicelens.validation.expectations, ``SCIENTIFIC_ID``).
SCIENTIFIC_NOTATION = r"^[0-9](?:[.,][0-9]+)?[eE]\+[0-9]{1,3}$"
#: What :func:`pseudonymise` gives an agent id in :data:`SCIENTIFIC_NOTATION`: no agent's id
#: (ids a spreadsheet rounded alike would share one pseudonym, merging their agents), and
#: not the rounded staff number either, which the row suite's reason would quote where the
#: source promises pseudonyms. The row suite quarantines it, saying what it stands for.
AGENT_IN_SCIENTIFIC_NOTATION = "[AGENT: scientific notation]"


def pseudonymise(agent_ids: pl.Series, key: bytes) -> pl.Series:
    """Each id as ``agent-<12 hex>``: HMAC-SHA256 of the id under ``key``; nulls stay null.

    The same id and key always give the same pseudonym (weeks join up); without the key the
    ids cannot be recovered by hashing every plausible id, as a plain hash could be. An id a
    spreadsheet wrote in scientific notation gets :data:`AGENT_IN_SCIENTIFIC_NOTATION`
    instead (a trial's staff numbers saved as ``4,17E+08``: its digits are lost).
    """
    mapping = {
        agent: AGENT_IN_SCIENTIFIC_NOTATION
        if re.match(SCIENTIFIC_NOTATION, agent)
        else PSEUDONYM_PREFIX
        + hmac.new(key, agent.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
        for agent in agent_ids.drop_nulls().unique().to_list()
    }
    return agent_ids.replace_strict(mapping, default=None, return_dtype=pl.String)


def pseudonymise_unless_pseudonymous(agent_ids: pl.Series, key: bytes) -> pl.Series:
    """:func:`pseudonymise`, keeping a value that is a pseudonym already (``agent-<12 hex>``)
    or :data:`AGENT_IN_SCIENTIFIC_NOTATION`: a configured source's landed and clean layers
    hold its agents as pseudonyms (rows landed before landing wrote them hold the names,
    which get the same pseudonym here), and hashing one again gave an agent another name in
    the agent marts than in the clean layer (a trial's ``agent-d775b1a324cf`` in clean was
    ``agent-ba8738828901`` in agent_outcomes, its rows not to be drilled down to)."""
    already = (
        agent_ids.str.contains(f"^{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_HEX}}}$")
        | (agent_ids == AGENT_IN_SCIENTIFIC_NOTATION)
    ).fill_null(False)
    return agent_ids.zip_with(already, pseudonymise(agent_ids, key)).alias(agent_ids.name)


def published_agents(agent_ids: pl.Series, key: bytes | None) -> pl.Series:
    """The ``agent`` agent_outcomes publishes for each of ``agent_ids`` (the clean layer's
    ``agent_id``, String; nulls stay null): its keyed pseudonym under ``key``
    (:func:`pseudonymise_unless_pseudonymous`: a pseudonym already stays, so a configured
    source's agent is named as in its clean layer), or the id as recorded where ``key`` is
    None (a source whose definition lets its agents be shown). Every table that names an
    agent by agent_outcomes' ``agent`` (a ``servicelens score --output`` file) takes it from
    here, so the two join."""
    return agent_ids if key is None else pseudonymise_unless_pseudonymous(agent_ids, key)


def top_perceived_policies(responses: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per ``keys`` (an agent-week's group keys and ``agent_id``), the policy most of its
    perceived negatives are about: ``top_perceived_policy`` (String; ties: the first by name)
    and ``_top_perceived`` (its perceived negatives). ``responses``: ``is_negative``,
    ``root_cause`` and ``policy_code`` beside ``keys``; negatives without a policy code name
    no policy (a source that maps none has no row here)."""
    return (
        responses.filter(
            pl.col("is_negative")
            & (pl.col("root_cause") == PERCEIVED)
            & pl.col("policy_code").is_not_null()
        )
        .group_by([*keys, "policy_code"])
        .agg(pl.len().alias("_top_perceived"))
        .sort(["_top_perceived", "policy_code"], descending=[True, False])
        .group_by(keys, maintain_order=True)
        .first()
        .rename({"policy_code": "top_perceived_policy"})
    )


def agent_outcomes(
    contacts: pl.DataFrame,
    responses: pl.DataFrame,
    week_start: date,
    *,
    week_end: date | None = None,
    key: bytes | None,
    min_contacts: int,
    window_days: int,
    model_version: str | None,
) -> pl.DataFrame:
    """One row per agent for the week starting ``week_start`` (a Monday), in
    :data:`transforms.schemas.AGENT_OUTCOMES_SCHEMA`, best first-contact resolution first.

    ``contacts``: the contacts that started in the week, with ``agent_id``,
    ``handle_seconds`` (seconds), ``transfers``, their look-forward ``came_back`` and
    ``settled`` (:func:`transforms.repeat_contacts.with_returns`) and, where known,
    ``customer_id`` (a frame without it is read as having customers) and the source's own
    ``resolved_first_contact`` flag (:data:`transforms.schemas.RESOLVED_FLAG`, Boolean; a
    frame without it has none), and its ``abandoned`` flag
    (:data:`transforms.schemas.ABANDONED`, Boolean; a frame without it has none): an
    abandoned contact is counted in ``contacts`` but in neither measure (not settled, not
    flagged). ``responses``: the survey
    responses about those contacts, with ``agent_id``, ``csat``, ``rating`` (a two-level
    rating: ``ratings``, ``satisfied`` and ``satisfied_share`` count it; a frame without
    it has none), ``is_negative`` and
    ``root_cause`` (null before any model scored them, when ``model_version`` is None;
    otherwise every version that scored them, :func:`transforms.marts.model_versions_text`)
    and ``policy_code`` (a frame without it has none): ``top_perceived_policy`` is the policy
    most of the agent-week's perceived negatives are about (ties: the first by name; null
    without a perceived negative with a policy code), ``top_perceived_policy_share`` its
    share (0-1) of ``negatives_other`` (the perceived negatives; those without a policy code
    count, and in a week straddling the first model the negatives it did not score).
    ``key`` pseudonymises the agent ids (:func:`pseudonymise_unless_pseudonymous`: the ids
    of a configured source are pseudonyms already and stay as they are, the sample's are
    hashed); None shows them as recorded.
    ``first_contact_resolution`` is ``1 - came_back / settled_contacts`` (``fcr_measure``
    :data:`FCR_OBSERVED`) where some contact of the agent-week carries a customer id, else
    ``flagged_resolved / flagged_contacts`` (:data:`FCR_CLAIMED`) where some carries the flag,
    else null (the module's docstring says why the observed measure wins); a share from 0 to
    1, null while none of the contacts it is over is counted. An agent-week without customer
    ids or flags is :data:`NO_CUSTOMER_ID` (no contact of it can ever settle); one with fewer
    than ``min_contacts`` contacts its measure counts (settled, or flagged) is
    :data:`TOO_FEW_CONTACTS`, unless its contacts, settled or not, reach ``min_contacts`` while
    some are not settled (:data:`NOT_SETTLED_YET`: later dates settle them); contacts without
    an agent (a source that records none) make one
    :data:`NO_AGENT_RECORDED` row.
    Both frames may carry the :data:`transforms.schemas.MART_GROUP_KEYS`. ``week_end``: the
    period's last day (default the Sunday; a monthly source's period is its month).
    """
    keys = [*group_keys(contacts.columns), "agent_id"]
    if "rating" not in responses.columns:
        responses = responses.with_columns(pl.lit(None, pl.String).alias("rating"))
    if "policy_code" not in responses.columns:
        responses = responses.with_columns(pl.lit(None, pl.String).alias("policy_code"))
    flag, flagged = pl.col(RESOLVED_FLAG).filter(handled()), RESOLVED_FLAG in contacts.columns
    if ABANDONED not in contacts.columns:
        contacts = contacts.with_columns(pl.lit(None, pl.Boolean).alias(ABANDONED))
    # Settled and handled: an abandoned call is no contact the agent could resolve.
    settled = pl.col("settled") & handled()
    per_agent = contacts.group_by(keys).agg(
        pl.len().cast(pl.UInt32).alias("contacts"),
        pl.col("handle_seconds").median().alias("median_handle_seconds"),
        pl.col("transfers").cast(pl.Float64).mean().alias("transfers_per_contact"),
        # The contacts each is over (an export can leave either empty): transfers_per_contact's
        # weight when rolling it up, and the median's (contacts count the empty ones too).
        pl.col("handle_seconds")
        .is_not_null()
        .sum()
        .cast(pl.UInt32)
        .alias("contacts_with_handle_time"),
        pl.col("transfers").is_not_null().sum().cast(pl.UInt32).alias("contacts_with_transfers"),
        settled.fill_null(False).sum().cast(pl.UInt32).alias("settled_contacts"),
        # Among the settled only: first_contact_resolution is 1 - came_back / settled.
        (pl.col("came_back") & settled).fill_null(False).sum().cast(pl.UInt32).alias("came_back"),
        # Provisional while a handled contact is unsettled: an abandoned one never counts.
        ((pl.col("settled") == False) & handled()).any().alias("fcr_provisional"),  # noqa: E712
        handled().sum().alias("_handled"),
        (
            pl.col("customer_id").is_not_null().any()
            if "customer_id" in contacts.columns
            else pl.lit(True)
        ).alias("_customers_known"),
        # The source's own claim, counted whichever measure first_contact_resolution is.
        (flag.is_not_null().sum() if flagged else pl.lit(0)).alias("flagged_contacts"),
        (flag.fill_null(False).sum() if flagged else pl.lit(0)).alias("flagged_resolved"),
        # Whether the source flags this agent's contacts at all, abandoned ones too: a week
        # whose only flagged calls were abandoned is measured by the flag with none counted
        # ('too few contacts'), not told to map a customer id ('no customer id').
        (pl.col(RESOLVED_FLAG).is_not_null().any() if flagged else pl.lit(False)).alias(
            "_flags_known"
        ),
    )
    scored = model_version is not None
    failures = (pl.col("is_negative") & (pl.col("root_cause") == POSITIVE_CLASS)).sum()
    surveyed = responses.group_by(keys).agg(
        pl.len().cast(pl.UInt32).alias("responses"),
        pl.col("csat").cast(pl.Float64).mean().alias("mean_csat"),
        # The rows mean_csat is over: its weight when rolling it up (responses count the
        # rows without a csat too).
        pl.col("csat").is_not_null().sum().cast(pl.UInt32).alias("csat_responses"),
        pl.col("is_negative").sum().cast(pl.UInt32).alias("negatives"),
        (failures if scored else pl.lit(None)).cast(pl.UInt32).alias("negatives_policy_failure"),
        *satisfaction_counts(),
    )
    surveyed = surveyed.join(
        top_perceived_policies(responses, keys), on=keys, how="left", nulls_equal=True
    )
    no_agent = pl.col("agent_id").is_null()
    claimed = pl.when(pl.col("fcr_measure") == FCR_CLAIMED)
    joined = (
        per_agent.join(surveyed, on=keys, how="full", coalesce=True, nulls_equal=True)
        .with_columns(
            pl.col(
                "contacts",
                "contacts_with_handle_time",
                "contacts_with_transfers",
                "settled_contacts",
                "came_back",
                "flagged_contacts",
                "flagged_resolved",
            ).fill_null(0),
            pl.col("responses", "csat_responses", "negatives", "ratings", "satisfied").fill_null(0),
            pl.col("fcr_provisional").fill_null(False),
        )
        .with_columns(
            # Null for an agent only the responses name (no contact): no measure.
            pl.when(pl.col("_customers_known"))
            .then(pl.lit(FCR_OBSERVED))
            .when(pl.col("_flags_known").fill_null(False))
            .then(pl.lit(FCR_CLAIMED))
            .alias("fcr_measure"),
        )
        .with_columns(
            claimed.then(pl.col("flagged_contacts"))
            .otherwise(pl.col("settled_contacts"))
            .alias("_counted"),
            claimed.then(pl.col("flagged_resolved"))
            .otherwise(pl.col("settled_contacts") - pl.col("came_back"))
            .alias("_resolved"),
        )
        .with_columns(
            (pl.col("negatives") - pl.col("negatives_policy_failure")).alias("negatives_other"),
            satisfied_share(pl.col("satisfied"), pl.col("ratings")).alias("satisfied_share"),
            pl.when(pl.col("_counted") > 0)
            .then(pl.col("_resolved") / pl.col("_counted"))
            .alias("first_contact_resolution"),
            pl.when(no_agent)
            .then(pl.lit(NO_AGENT_RECORDED))
            .when(pl.col("_counted") >= min_contacts)
            .then(pl.lit("judged"))
            .when(pl.col("fcr_measure").is_null() & pl.col("_customers_known").not_())
            .then(pl.lit(NO_CUSTOMER_ID))
            .when(pl.col("fcr_provisional") & (pl.col("_handled") >= min_contacts))
            .then(pl.lit(NOT_SETTLED_YET))
            .otherwise(pl.lit(TOO_FEW_CONTACTS))
            .alias("status"),
            pl.when(no_agent)
            .then(pl.lit("none recorded"))
            .otherwise(pl.lit("as recorded" if key is None else "pseudonymous"))
            .alias("agent_ids"),
        )
        .with_columns(
            (pl.col("_top_perceived") / pl.col("negatives_other")).alias(
                "top_perceived_policy_share"
            )
        )
    )
    agent = joined.get_column("agent_id")
    return conform(
        with_group_keys(
            joined.with_columns(
                published_agents(agent, key).alias("agent"),
                pl.lit(week_start).alias("survey_date"),
                pl.lit(week_start).alias("week_start"),
                pl.lit(week_end or week_start + timedelta(days=6)).alias("week_end"),
                pl.lit(window_days, pl.Int16).alias("return_window_days"),
                pl.lit(model_version, pl.String).alias("model_version"),
                pl.lit(AGENT_OUTCOMES_VERSION, pl.Int32).alias("schema_version"),
            ).sort(
                ["status", "first_contact_resolution", "agent"],
                descending=[False, True, False],
                nulls_last=True,
            )
        ),
        AGENT_OUTCOMES_SCHEMA,
    )
