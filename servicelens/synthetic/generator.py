"""Deterministic synthetic raw exports encoding the product brief's customer-service scenarios.

The generator plays the survey vendor, the contact-centre CRM, the QA team and the policy
catalogue at once, and keeps the truth it used in a separate ``truth/`` folder that training
never reads. Layout under ``out_dir``::

    raw/<YYYY-MM-DD>/surveys.csv         survey-vendor export (schemas.RAW_SURVEY_COLUMNS)
    raw/<YYYY-MM-DD>/interactions.jsonl  CRM interactions that STARTED that day
    raw/<YYYY-MM-DD>/audits.csv          QA labels for negatives submitted that day
    raw/reference/policies.csv           policy catalogue (schemas.RAW_POLICY_COLUMNS)
    truth/<YYYY-MM-DD>.csv               true root cause and oracle posterior per negative
    truth/<YYYY-MM-DD>.injected.csv      every injected defect/variant: kind,response_id,line
    truth/summary.json                   GenerationSummary plus per-day oracle accuracy
    truth/agents.csv                     every agent's working style: agent_id,style

Generative story, per response (all vectorised):

1. a scenario (one per policy code), then hidden facts from scenario-specific priors;
2. ``p_fail = sigmoid(k * (intercept + sum(weight * hidden failure fact)))`` and
   ``truth_failure ~ Bernoulli(p_fail)``: some of what broke is never recorded anywhere;
3. CSAT from (truth_failure, expectation mismatch, temper); NPS from CSAT; effort from CSAT
   and the hidden facts that make a contact laborious;
4. interaction fields as noisy, partly missing views of the hidden facts;
5. the comment from scenario, hidden facts, mismatch, temper and CSAT only.

Agents have working styles (``truth/agents.csv``): a slow but thorough agent takes longer,
rarely transfers, resolves more and rarely bounces a customer into a transfer loop; a quick
transferrer is fast, transfers more, escalates and bounces more (a hidden ``transfer_loop``,
so a real failure). Customers come back: every contact may be followed by an unsurveyed
contact of the same customer with the same queue 1-12 days later, far more often after a quick
transferrer or a failure that leaves the problem open, and a repeat-issue contact has one to
three unsurveyed earlier contacts about it in the 14 days before. So the interaction history
across dates holds the repeat contacts and first-contact resolution the marts derive.

Nothing observable depends on ``truth_failure`` except through CSAT, so the oracle
``P(truth_failure | hidden facts, csat)`` of a negative response (Bayes on steps 2-3; it is
finer than conditioning on "csat <= 2" alone) is the ceiling for any model of the raw data.

Determinism: every random draw comes from ``numpy.random.default_rng([seed, day ordinal,
stream, ...])``. Survey day D's responses are split into groups by how many days before D their
interaction started (0, 1 or 2), and each group has its own stream, so an interaction file can
be assembled from the groups of the three survey days that refer to it without generating
those days in full. Every raw file therefore depends only on (seed, its own date, per_day,
mess) and not on the range it was generated in (except which day is the cp1252 one):
generating a range day by day into one folder gives the same raw bytes as generating it at
once. The price is that the interaction files at the edges of a range also hold the
interactions of surveys just outside it, as a CRM export would. ``truth/summary.json`` and the
injected files of the two days before ``start`` do describe one run.

Content that is legitimate but awkward (empty comments, non-English comments, embedded
newlines) is generated in both modes and listed in the injected files; ``mess=False`` switches
off every defect and every cleanable variant, and writes UTF-8 only. Turning mess on or off
never changes the underlying responses: the mess has its own random streams.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from transforms.clean import local_to_utc_forward
from transforms.schemas import (
    CHANNELS,
    NEGATIVE_CSAT_MAX,
    RAW_AUDIT_COLUMNS,
    RAW_INTERACTION_SCHEMA,
    RAW_POLICY_COLUMNS,
    RAW_SURVEY_COLUMNS,
)

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: The default business timezone: a survey "of day D" was submitted on D in this zone
#: (``generate(timezone=...)`` takes the one the settings name).
BUSINESS_TZ = "Europe/London"

# --- reference data -----------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """One row of the policy catalogue (raw/reference/policies.csv)."""

    policy_code: str
    description: str
    queue: str
    promised_sla: str
    disclosure: str
    fee_allowed: float


POLICIES: tuple[Policy, ...] = (
    Policy(
        "DELIV-4H-WINDOW",
        "Furniture delivery in a booked 4-hour window",
        "delivery",
        "arrive within the booked 4-hour window",
        "explained at purchase, again when booking, printed on the receipt",
        0.0,
    ),
    Policy(
        "GYM-CANCEL",
        "Rolling gym membership cancellation",
        "membership",
        "cancel on request within 15 minutes",
        "signed membership contract (no termination fee)",
        0.0,
    ),
    Policy(
        "GYM-CANCEL-TERM",
        "Fixed-term gym membership cancellation",
        "membership",
        "cancel on request within 15 minutes",
        "signed 12-month contract with early termination fee",
        60.0,
    ),
    Policy(
        "PRICE-LOOKUP",
        "Every item on sale has a price in the till system",
        "checkout",
        "price found at the till in under 1 minute",
        "shelf label and till catalogue",
        0.0,
    ),
    Policy(
        "GREET-10MIN",
        "Store visitors are greeted by staff",
        "support",
        "greeted within 10 minutes",
        "service charter in store",
        0.0,
    ),
    Policy(
        "REPEAT-ISSUE",
        "Issues are owned until resolved",
        "support",
        "resolved within 2 contacts",
        "service charter on the website",
        0.0,
    ),
    Policy(
        "BILLING-FEE",
        "Late payment fee",
        "billing",
        "correct bill, only contractual fees",
        "terms and conditions, first bill",
        15.0,
    ),
    Policy(
        "CONDUCT",
        "Representatives follow policy and stay courteous",
        "support",
        "policy applied consistently",
        "published returns and service policy",
        0.0,
    ),
)

# --- hidden facts and scenarios -----------------------------------------------------------

#: Hidden facts of an interaction. The first eleven feed the failure score; the last two are
#: about the customer and only move CSAT and the comment.
FACTS: tuple[str, ...] = (
    "window_missed",
    "no_show",
    "policy_undisclosed",
    "long_cancellation",
    "upsell",
    "fee_not_in_contract",
    "price_missing",
    "greeted_late",
    "repeat_issue",
    "transfer_loop",
    "long_call",
    "expectation_mismatch",
    "customer_temper",
)

#: Weight of each hidden fact in the failure score (absent = 0). A long call that resolved the
#: problem lowers it: the brief's "a long call is not a failure".
FAILURE_WEIGHTS: dict[str, float] = {
    "window_missed": 5.0,
    "no_show": 6.5,
    "policy_undisclosed": 2.6,
    "long_cancellation": 3.2,
    "upsell": 1.2,
    "fee_not_in_contract": 5.0,
    "price_missing": 4.6,
    "greeted_late": 5.0,
    "repeat_issue": 4.8,
    "transfer_loop": 5.0,
    "long_call": -0.6,
}
FAILURE_INTERCEPT = -3.0
FAILURE_SLOPE = 1.0


@dataclass(frozen=True)
class Scenario:
    """A customer-service situation from the brief, tied to one policy code."""

    name: str
    policy_code: str
    share: float
    #: probabilities over schemas.CHANNELS
    channel_p: tuple[float, float, float, float, float]
    #: prior probability of each hidden fact (absent = never)
    priors: dict[str, float]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "delivery_window",
        "DELIV-4H-WINDOW",
        0.20,
        (0.35, 0.25, 0.15, 0.05, 0.20),
        {
            "window_missed": 0.15,
            "no_show": 0.05,
            "policy_undisclosed": 0.09,
            "repeat_issue": 0.04,
            "transfer_loop": 0.02,
            "long_call": 0.08,
            "expectation_mismatch": 0.27,
            "customer_temper": 0.10,
        },
    ),
    Scenario(
        "gym_cancellation",
        "GYM-CANCEL",
        0.10,
        (0.30, 0.05, 0.10, 0.55, 0.00),
        {
            "long_cancellation": 0.22,
            "upsell": 0.19,
            "fee_not_in_contract": 0.14,
            "policy_undisclosed": 0.08,
            "transfer_loop": 0.02,
            "expectation_mismatch": 0.21,
            "customer_temper": 0.12,
        },
    ),
    Scenario(
        "gym_cancellation_fixed_term",
        "GYM-CANCEL-TERM",
        0.07,
        (0.30, 0.05, 0.10, 0.55, 0.00),
        {
            "long_cancellation": 0.15,
            "upsell": 0.19,
            "fee_not_in_contract": 0.06,
            "policy_undisclosed": 0.09,
            "transfer_loop": 0.02,
            "expectation_mismatch": 0.36,
            "customer_temper": 0.12,
        },
    ),
    Scenario(
        "checkout_price_missing",
        "PRICE-LOOKUP",
        0.12,
        (0.00, 0.05, 0.05, 0.90, 0.00),
        {
            "price_missing": 0.21,
            "expectation_mismatch": 0.19,
            "customer_temper": 0.08,
        },
    ),
    Scenario(
        "store_greeting",
        "GREET-10MIN",
        0.12,
        (0.00, 0.00, 0.05, 0.95, 0.00),
        {
            "greeted_late": 0.20,
            "expectation_mismatch": 0.26,
            "customer_temper": 0.10,
        },
    ),
    Scenario(
        "repeat_contact",
        "REPEAT-ISSUE",
        0.14,
        (0.50, 0.30, 0.15, 0.00, 0.05),
        {
            "repeat_issue": 0.27,
            "transfer_loop": 0.11,
            "long_call": 0.20,
            "expectation_mismatch": 0.19,
            "customer_temper": 0.15,
        },
    ),
    Scenario(
        "billing_fee",
        "BILLING-FEE",
        0.13,
        (0.40, 0.25, 0.20, 0.00, 0.15),
        {
            "fee_not_in_contract": 0.15,
            "policy_undisclosed": 0.09,
            "transfer_loop": 0.08,
            "repeat_issue": 0.05,
            "long_call": 0.15,
            "expectation_mismatch": 0.27,
            "customer_temper": 0.10,
        },
    ),
    Scenario(
        "angry_customer",
        "CONDUCT",
        0.12,
        (0.50, 0.20, 0.05, 0.25, 0.00),
        {
            "transfer_loop": 0.08,
            "repeat_issue": 0.05,
            "policy_undisclosed": 0.04,
            "long_call": 0.25,
            "expectation_mismatch": 0.26,
            "customer_temper": 0.65,
        },
    ),
)

_SCEN_INDEX: dict[str, int] = {s.policy_code: i for i, s in enumerate(SCENARIOS)}
_POLICY_BY_CODE: dict[str, Policy] = {p.policy_code: p for p in POLICIES}
_PRIORS = np.array([[s.priors.get(f, 0.0) for f in FACTS] for s in SCENARIOS])
_SHARES = np.array([s.share for s in SCENARIOS]) / sum(s.share for s in SCENARIOS)
_CHANNEL_CUM = np.cumsum(np.array([s.channel_p for s in SCENARIOS]), axis=1)
_CHANNEL_CUM[:, -1] = 1.0

#: P(csat = 1..5 | truth_failure, expectation_mismatch, temper), row = 4*fail + 2*mismatch + temper.
CSAT_P = np.array(
    [
        [0.02, 0.04, 0.14, 0.38, 0.42],
        [0.22, 0.24, 0.24, 0.18, 0.12],
        [0.20, 0.30, 0.26, 0.16, 0.08],
        [0.40, 0.30, 0.16, 0.09, 0.05],
        [0.40, 0.36, 0.14, 0.07, 0.03],
        [0.58, 0.26, 0.10, 0.04, 0.02],
        [0.52, 0.30, 0.11, 0.05, 0.02],
        [0.66, 0.22, 0.08, 0.03, 0.01],
    ]
)

# --- rates ----------------------------------------------------------------------------------

#: Where the interaction of a survey submitted on D started: D, D-1, D-2.
START_OFFSET_P = (0.65, 0.25, 0.10)
#: Interactions that got no survey, as a share of per_day, written per start day.
FILLER_SHARE = 0.30
#: P(empty comment) for negative, neutral and positive CSAT: ~8% overall. Unhappy customers
#: write something far more often than happy ones.
EMPTY_COMMENT_RATE: tuple[float, float, float] = (0.035, 0.08, 0.11)
NON_ENGLISH_RATE = 0.03
EMBEDDED_NEWLINE_RATE = 0.002
NULL_LANGUAGE_RATE = 0.04
AUDIT_RATE = 0.35
AUDIT_FLIP_RATE = 0.04
AUDITORS: tuple[str, ...] = ("qa.amrita", "qa.ben", "qa.carla", "qa.dmitri")

#: Cleanable variants: independent of each other and of the row defects below.
CHANNEL_VARIANT_RATE = 0.15
CSAT_LABEL_RATE = 0.10
TIMESTAMP_OFFSET_RATE = 0.30
#: Row defects: at most one per row, so each defective line has exactly one reason.
ROW_DEFECT_RATES: dict[str, float] = {
    "unknown_channel": 0.003,
    "csat_out_of_range": 0.003,
    "csat_non_numeric": 0.002,
    "nps_out_of_range": 0.002,
    "timestamp_unparseable": 0.002,
    "timestamp_future": 0.001,
    "missing_response_id": 0.001,
    "duplicate_response_id": 0.001,
    "survey_without_interaction": 0.003,
    "malformed_line": 0.001,
    "duplicate_redelivery": 0.02,
}
MALFORMED_JSON_RATE = 0.0005

CHANNEL_VARIANTS: dict[str, tuple[str, ...]] = {
    "phone": ("Phone", " phone", "VOICE", "Voice"),
    "chat": ("CHAT", "Live Chat", "Chat"),
    "email": ("E-mail", "email ", "EMAIL"),
    "store": ("In-Store", "Store", "in-store"),
    "web": ("Web Form", "WEB", "Web"),
}
UNKNOWN_CHANNELS: tuple[str, ...] = ("fax", "pigeon", "telex", "carrier pigeon")
CSAT_LABELS: tuple[str, ...] = (
    "Very dissatisfied",
    "Dissatisfied",
    "Neutral",
    "Satisfied",
    "Very satisfied",
)
BAD_CSAT_NUMBERS: tuple[str, ...] = ("0", "6", "7", "10", "11")
BAD_CSAT_TEXT: tuple[str, ...] = ("n/a", "five", "N/A", "?")
BAD_NPS: tuple[str, ...] = ("11", "-1", "12", "100")
BAD_TIMESTAMPS: tuple[str, ...] = ("yesterday", "31/31/2026", "not recorded", "2026-13-45T25:61")
#: Offsets a vendor in another region might stamp, in minutes east of UTC.
OTHER_OFFSETS_MIN: tuple[int, ...] = (120, 60, -300, 330, -480)

_STREAM_COUNTS, _STREAM_CORE, _STREAM_CONTENT, _STREAM_MESS = 0, 1, 2, 3
_STREAM_IMESS, _STREAM_AUDIT = 5, 6
_STREAM_AGENT, _STREAM_RETURNS, _STREAM_ROSTER = 7, 8, 9
_FILLER_GROUP = 3


def _rng(seed: int, day: date, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, day.toordinal(), *stream])


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _pick(rng: np.random.Generator, u_cum: FloatArray, n: int) -> IntArray:
    """Row-wise categorical draw: index of the first cumulative probability above a uniform."""
    u = rng.random(n)
    return np.asarray((u[:, None] >= u_cum).sum(axis=1), dtype=np.int64)


def _cum(p: Sequence[float]) -> FloatArray:
    c = np.cumsum(np.asarray(p, dtype=np.float64))
    c[-1] = 1.0
    return c


# --- agents and repeat contacts --------------------------------------------------------------

#: Agents on the contact-centre roster; each keeps one working style for every day generated.
N_AGENTS = 300
#: Working styles, as the brief describes them: "a representative who stays 28 minutes and
#: solves the problem" (slow_thorough) and "one who transfers the caller quickly" (quick_transfer).
AGENT_STYLES: tuple[str, ...] = ("average", "slow_thorough", "quick_transfer")
AGENT_STYLE_SHARES: tuple[float, float, float] = (0.70, 0.15, 0.15)
_AVERAGE, _SLOW, _QUICK = 0, 1, 2
#: Handle time of a style's contacts, relative to the scenario's.
_STYLE_HANDLE_FACTOR = np.array([1.0, 1.6, 0.55])
#: P(the customer contacts the same queue again within ~12 days), by style, before the facts
#: of the contact add to it (_RETURN_BUMPS).
_STYLE_RETURN_P = np.array([0.08, 0.03, 0.26])
_RETURN_BUMPS: dict[str, float] = {
    "transfer_loop": 0.30,
    "no_show": 0.35,
    "window_missed": 0.15,
    "repeat_issue": 0.25,
    "fee_not_in_contract": 0.15,
    "long_cancellation": 0.05,
}
#: Days between a contact and the customer's return: 1 + geometric, at most this many.
MAX_RETURN_GAP = 12
#: Earlier contacts of a repeat-issue contact lie at most this many days before it.
MAX_PRIOR_GAP = 14
_MAX_PRIORS = 3
#: A repeat was usually caused by a bounce: who handled the earlier contacts, by style weight.
_PRIOR_AGENT_WEIGHT = np.array([1.0, 0.25, 4.0])


@functools.cache
def agent_roster(seed: int) -> npt.NDArray[np.int64]:
    """The working style (index into AGENT_STYLES) of each agent ``A0000..``, fixed per seed."""
    rng = np.random.default_rng([seed, _STREAM_ROSTER])
    styles = rng.choice(len(AGENT_STYLES), size=N_AGENTS, p=AGENT_STYLE_SHARES)
    return np.asarray(styles, dtype=np.int64)


@dataclass(frozen=True)
class _ContactPlan:
    """What one group's contacts are before their fields are drawn: scenario, hidden facts,
    the agent who handled each (and so its style) and the customer's history around it.

    Everything here comes from the first draws of the core stream (scenario, facts) and from
    the agent stream, so it can be recomputed cheaply for the groups of other days: the
    interaction file of day X holds the returns of contacts made before X and the earlier
    contacts of repeat issues raised after X.
    """

    scen: IntArray
    facts: dict[str, BoolArray]
    agent: IntArray
    style: IntArray
    customer: IntArray
    #: 0 = the customer does not come back; else the days until they contact the queue again.
    return_gap: IntArray
    #: Days before this contact of each earlier contact about the same issue (0 = none).
    prior_gaps: IntArray
    #: Uniforms the style's effects on transfers and resolution are decided by.
    style_draw: FloatArray


def _contact_plan(
    seed: int, day: date, group: int, n: int, core: np.random.Generator | None = None
) -> _ContactPlan:
    """Scenario, facts and agent of ``n`` contacts; ``core`` continues the core stream."""
    core = core or _rng(seed, day, _STREAM_CORE, group)
    scen = core.choice(len(SCENARIOS), size=n, p=_SHARES).astype(np.int64)
    facts: dict[str, BoolArray] = {
        f: core.random(n) < _PRIORS[scen, i] for i, f in enumerate(FACTS)
    }
    arng = _rng(seed, day, _STREAM_AGENT, group)
    agent = arng.integers(0, N_AGENTS, n)
    style = agent_roster(seed)[agent]
    quick, slow = style == _QUICK, style == _SLOW
    u = arng.random((4, n))
    # A quick transferrer bounces customers; a thorough agent rarely does, and stays longer.
    facts["transfer_loop"] = (facts["transfer_loop"] | (quick & (u[0] < 0.12))) & ~(
        slow & (u[0] < 0.7)
    )
    facts["long_call"] = facts["long_call"] | (slow & (u[1] < 0.3))
    p_return = _STYLE_RETURN_P[style].copy()
    for fact, bump in _RETURN_BUMPS.items():
        p_return += bump * facts[fact]
    returns = u[2] < np.minimum(p_return, 0.9)
    gap = np.minimum(arng.geometric(0.35, n), MAX_RETURN_GAP)
    has_priors = facts["repeat_issue"] | (u[3] < 0.01)
    count = np.where(has_priors, 1 + np.minimum(arng.poisson(0.5, n), _MAX_PRIORS - 1), 0)
    before = np.cumsum(arng.integers(1, 7, size=(_MAX_PRIORS, n)), axis=0)
    wanted = (np.arange(_MAX_PRIORS)[:, None] < count) & (before <= MAX_PRIOR_GAP)
    return _ContactPlan(
        scen=scen,
        facts=facts,
        agent=agent,
        style=style,
        customer=arng.integers(0, 1_000_000_000, n),
        return_gap=np.where(returns, gap, 0),
        prior_gaps=np.where(wanted, before, 0),
        style_draw=arng.random(n),
    )


# --- core: scenario, hidden facts, interaction fields ---------------------------------------


def failure_probability(facts: dict[str, BoolArray]) -> FloatArray:
    """P(truth_failure | hidden facts): the logistic failure model of step 2."""
    n = len(next(iter(facts.values())))
    score = np.full(n, FAILURE_INTERCEPT)
    for name, weight in FAILURE_WEIGHTS.items():
        score += weight * facts[name]
    return _sigmoid(FAILURE_SLOPE * score)


#: Relative submission/start volume per local hour.
# fmt: off
_HOUR_WEIGHTS: tuple[float, ...] = (
    0.6, 0, 0, 0.2, 0.3, 0.6, 1.2, 2.5, 4, 5.5, 6, 6,
    6.5, 6, 6, 5.5, 5.5, 6, 6, 5.5, 5, 4, 3, 1.5,
)
# fmt: on


def _tod_seconds(rng: np.random.Generator, n: int, *, allow_after_midnight: bool) -> IntArray:
    # 01:00-03:00 local never occurs, so local times are never missing or ambiguous on DST days;
    # 00:00-01:00 is kept for surveys because it is the previous day in UTC during summer time.
    weights = np.asarray(_HOUR_WEIGHTS, dtype=np.float64)
    if not allow_after_midnight:
        weights[0] = 0.0
    hour = np.searchsorted(_cum(weights / weights.sum()), rng.random(n), side="right")
    return np.asarray(hour * 3600 + rng.integers(0, 3600, size=n), dtype=np.int64)


def _local_to_utc(day: date, seconds: IntArray, timezone: str) -> pl.Series:
    """Local times of ``day`` (``seconds`` after its midnight in ``timezone``) in UTC. A time
    the clocks skip (spring forward) is read an hour later, as a clock shows it."""
    local = pl.Series(
        "t",
        (np.datetime64(day.isoformat(), "s") + seconds.astype("timedelta64[s]")).astype(
            "datetime64[us]"
        ),
    )
    return pl.select(local_to_utc_forward(pl.lit(local), timezone).alias("t")).to_series()


def _core_group(seed: int, day: date, group: int, n: int, timezone: str) -> pl.DataFrame:
    """Responses of survey day ``day`` whose interaction started ``group`` days earlier.

    ``group == _FILLER_GROUP`` makes interactions of ``day`` that get no survey. Returns the
    hidden facts (``h_`` columns), the survey's channel and submission time, and the
    interaction's raw fields.
    """
    rng = _rng(seed, day, _STREAM_CORE, group)
    plan = _contact_plan(seed, day, group, n, rng)
    scen, facts = plan.scen, plan.facts
    is_gym = (scen == _SCEN_INDEX["GYM-CANCEL"]) | (scen == _SCEN_INDEX["GYM-CANCEL-TERM"])
    # The salesman who keeps a customer for an hour is usually the one pushing a cheaper plan.
    facts["upsell"] |= is_gym & facts["long_cancellation"] & (rng.random(n) < 0.5)
    channel_idx = _pick(rng, _CHANNEL_CUM[scen], n)
    is_store = channel_idx == CHANNELS.index("store")
    is_email = channel_idx == CHANNELS.index("email")

    # wait: time to be answered (phone/chat), greeted (store) or replied to (email)
    wait = rng.lognormal(np.log(150.0), 0.9, size=n)
    wait = np.where(is_store, rng.lognormal(np.log(200.0), 0.55, size=n), wait)
    wait = np.where(is_email, rng.lognormal(np.log(3 * 3600.0), 0.6, size=n), wait)
    wait = np.where(facts["greeted_late"], rng.normal(1250.0, 230.0, size=n), wait)
    wait = np.clip(wait, 5.0, 6 * 3600.0)
    handle = rng.lognormal(np.log(420.0), 0.5, size=n)
    handle = np.where(facts["transfer_loop"], handle * 0.5, handle)
    handle = np.where(facts["long_call"], rng.uniform(1200.0, 2400.0, size=n), handle)
    handle = np.where(facts["long_cancellation"], rng.uniform(2400.0, 4800.0, size=n), handle)
    handle = np.where(facts["price_missing"], handle + rng.uniform(120.0, 400.0, size=n), handle)
    handle = np.clip(handle * _STYLE_HANDLE_FACTOR[plan.style], 20.0, 2 * 3600.0)

    # times: survey submitted on `day`; interaction started `group` days before. A same-day
    # survey comes after the interaction ended, so its time is drawn from the start onwards.
    submit = _tod_seconds(rng, n, allow_after_midnight=True)
    start = _tod_seconds(rng, n, allow_after_midnight=False)
    lag = rng.uniform(60.0, 3 * 3600.0, size=n)
    if group in (0, _FILLER_GROUP):
        busy = (wait + handle + lag).astype(np.int64)
        start = np.minimum(start, 86399 - busy)
        submit = start + busy
        start_day = day
    else:
        start_day = day - timedelta(days=group)
    started_utc = _local_to_utc(start_day, start, timezone)

    # observed facts: noisy, partly missing views of the hidden ones
    breach = (
        facts["window_missed"]
        | facts["no_show"]
        | facts["greeted_late"]
        | facts["long_cancellation"]
        | (facts["transfer_loop"] & (rng.random(n) < 0.5))
        | facts["price_missing"]
        | facts["repeat_issue"]
        | (rng.random(n) < 0.03)
    )
    sla_met = (~breach) ^ (rng.random(n) < 0.05)
    disclosed = (~facts["policy_undisclosed"] & (rng.random(n) >= 0.03)) ^ (rng.random(n) < 0.05)
    transfers = rng.choice(3, size=n, p=[0.68, 0.24, 0.08])
    transfers = np.where(facts["transfer_loop"], 3 + np.minimum(rng.poisson(0.5, n), 3), transfers)
    transfers = _styled_transfers(transfers, plan.style, plan.style_draw)
    prior = rng.choice(4, size=n, p=[0.60, 0.27, 0.10, 0.03])
    prior = np.where(facts["repeat_issue"], 2 + np.minimum(rng.poisson(1.2, n), 5), prior)

    fees = _fees(rng, scen, facts, n)
    resolution = _styled_resolution(_resolution(rng, facts, n), plan.style, plan.style_draw)
    # Drawn and not used: the customer and agent come from the plan's own stream now, and
    # these two draws keep every later draw of the core stream (waits, nulls) as it was.
    rng.integers(0, 5_000_000, n), rng.integers(0, 800, n)
    return pl.DataFrame(
        {
            "scenario": scen,
            "channel_idx": channel_idx.astype(np.int8),
            "submitted_utc": _local_to_utc(day, submit, timezone),
            "interaction_id": _interaction_ids(day, group, n),
            "customer_id": _prefixed("C", plan.customer, 9),
            "agent_id": _prefixed("A", plan.agent, 4),
            "started_utc": started_utc,
            "wait_seconds": _with_nulls(rng, np.round(wait * rng.lognormal(0, 0.08, n), 1), 0.02),
            "handle_seconds": _with_nulls(rng, np.round(handle, 1), 0.02),
            "transfers": _with_nulls(rng, transfers.astype(np.int64), 0.05),
            "prior_contacts": _with_nulls(rng, prior.astype(np.int64), 0.03),
            "sla_met": _with_nulls(rng, sla_met, 0.25),
            "policy_disclosed": _with_nulls(rng, disclosed, 0.30),
            "resolution": pl.Series(RESOLUTIONS, dtype=pl.String).gather(resolution),
            "fees_charged": _with_nulls(rng, fees, 0.03),
            **{f"h_{f}": v for f, v in facts.items()},
        }
    ).with_columns(pl.col("scenario").cast(pl.Int8))


def _prefixed(prefix: str, numbers: IntArray, width: int) -> pl.Series:
    """``numbers`` as zero-padded ids, e.g. ``A0042``."""
    digits = pl.Series(numbers).cast(pl.String).str.zfill(width)
    return pl.select(pl.concat_str(pl.lit(prefix), pl.lit(digits))).to_series()


def _interaction_ids(day: date, group: int, n: int) -> pl.Series:
    """Ids of one group's interactions: ``I<survey day>-<group>-<row>``."""
    prefix = f"I{day:%Y%m%d}-{'F' if group == _FILLER_GROUP else group}-"
    return _prefixed(prefix, np.arange(n), max(7, len(str(n))))


def _history_contacts(
    seed: int,
    origin: date,
    groups: Sequence[tuple[date, int, int]],
    *,
    earlier: bool,
    timezone: str,
) -> pl.DataFrame:
    """Unsurveyed contacts by the customers of the contacts that started on ``origin``, with
    the same queue: their returns (``-R``, on a later day) or, with ``earlier``, the earlier
    contacts of their repeat issues (``-P1``, ``-P2``...). ``groups`` are the (survey day,
    group, size) whose interactions started on ``origin``; ``lands_on`` is the day each
    contact started, whose interaction file it belongs in.
    """
    found = []
    for day, group, n in groups:
        plan = _contact_plan(seed, day, group, n)
        ids = _interaction_ids(day, group, n)
        if earlier:
            nth, rows = np.nonzero(plan.prior_gaps)
            days = -plan.prior_gaps[nth, rows]
            suffix = pl.Series(nth + 1).cast(pl.String)
            suffix = pl.select(pl.concat_str(pl.lit("-P"), pl.lit(suffix))).to_series()
        else:
            rows = np.flatnonzero(plan.return_gap)
            days = plan.return_gap[rows]
            suffix = pl.Series(["-R"] * len(rows), dtype=pl.String)
        found.append(
            pl.DataFrame(
                {
                    "base": ids.gather(rows),
                    "suffix": suffix,
                    "scenario": plan.scen[rows].astype(np.int8),
                    "customer_id": _prefixed("C", plan.customer[rows], 9),
                    "days": days.astype(np.int64),
                }
            )
        )
    base = pl.concat(found).sort("days", "base", "suffix")
    m = base.height
    rng = _rng(seed, origin, _STREAM_RETURNS, int(earlier))
    roster = agent_roster(seed)
    weights = _PRIOR_AGENT_WEIGHT[roster] if earlier else np.ones(N_AGENTS)
    agent = rng.choice(N_AGENTS, size=m, p=weights / weights.sum())
    style = roster[agent]
    days = base["days"].to_numpy()
    start = days * 86400 + _tod_seconds(rng, m, allow_after_midnight=False)
    wait = np.clip(rng.lognormal(np.log(150.0), 0.9, size=m), 5.0, 6 * 3600.0)
    handle = rng.lognormal(np.log(420.0), 0.5, size=m) * _STYLE_HANDLE_FACTOR[style]
    draw = rng.random(m)
    transfers = _styled_transfers(rng.choice(3, size=m, p=[0.68, 0.24, 0.08]), style, draw)
    # An earlier contact of a repeat issue did not solve it; a return mostly does.
    outcome = _cum((0.30, 0.50, 0.20)) if earlier else _cum((0.75, 0.15, 0.10))
    resolution = _styled_resolution(_pick(rng, np.tile(outcome, (m, 1)), m), style, draw)
    return base.select(
        pl.concat_str("base", "suffix").alias("interaction_id"),
        "scenario",
        "customer_id",
        (pl.lit(origin) + pl.duration(days=pl.col("days"))).alias("lands_on"),
        _local_to_utc(origin, start, timezone).alias("started_utc"),
        pl.Series("agent_id", _prefixed("A", agent, 4)),
        pl.Series("wait_seconds", np.round(wait, 1)),
        pl.Series("handle_seconds", np.round(np.clip(handle, 20.0, 2 * 3600.0), 1)),
        pl.Series("transfers", transfers.astype(np.int64)),
        pl.Series("prior_contacts", rng.choice(4, size=m, p=[0.60, 0.27, 0.10, 0.03])),
        _with_nulls(rng, rng.random(m) < 0.85, 0.25).alias("sla_met"),
        _with_nulls(rng, rng.random(m) < 0.9, 0.30).alias("policy_disclosed"),
        pl.Series("resolution", RESOLUTIONS, dtype=pl.String).gather(resolution),
        pl.Series("fees_charged", np.zeros(m)),
    )


def _with_nulls(
    rng: np.random.Generator, values: npt.NDArray[np.generic], rate: float
) -> pl.Series:
    return pl.Series(values).scatter(np.flatnonzero(rng.random(len(values)) < rate), None)


def _fees(
    rng: np.random.Generator, scen: IntArray, facts: dict[str, BoolArray], n: int
) -> FloatArray:
    """Fees charged: contractual ones are common too, so a fee alone proves nothing."""
    bad = facts["fee_not_in_contract"]
    fees = np.zeros(n)
    gym = scen == _SCEN_INDEX["GYM-CANCEL"]
    term = scen == _SCEN_INDEX["GYM-CANCEL-TERM"]
    billing = scen == _SCEN_INDEX["BILLING-FEE"]
    fees = np.where(gym & bad, rng.choice([49.0, 60.0, 75.0], size=n), fees)
    fees = np.where(term & (rng.random(n) < 0.85), 60.0, fees)
    fees = np.where(term & bad, 60.0 + rng.choice([25.0, 35.0], size=n), fees)
    fees = np.where(billing & (rng.random(n) < 0.45), 15.0, fees)
    fees = np.where(billing & bad, rng.choice([30.0, 35.0, 50.0], size=n), fees)
    return fees


RESOLUTIONS: tuple[str, ...] = ("resolved", "unresolved", "escalated")
_RESOLUTION_P: tuple[tuple[str, tuple[float, float, float]], ...] = (
    # lowest priority first: a later, more telling fact overrides an earlier one
    ("customer_temper", (0.55, 0.25, 0.20)),
    ("expectation_mismatch", (0.55, 0.30, 0.15)),
    ("policy_undisclosed", (0.50, 0.30, 0.20)),
    ("price_missing", (0.85, 0.10, 0.05)),
    ("greeted_late", (0.70, 0.20, 0.10)),
    ("long_cancellation", (0.85, 0.05, 0.10)),
    ("window_missed", (0.50, 0.30, 0.20)),
    ("fee_not_in_contract", (0.35, 0.30, 0.35)),
    ("repeat_issue", (0.20, 0.55, 0.25)),
    ("transfer_loop", (0.20, 0.40, 0.40)),
    ("no_show", (0.10, 0.70, 0.20)),
)


def _resolution(rng: np.random.Generator, facts: dict[str, BoolArray], n: int) -> IntArray:
    dominant = np.zeros(n, dtype=np.int64)
    for i, (fact, _) in enumerate(_RESOLUTION_P, start=1):
        dominant[facts[fact]] = i
    table = np.stack([_cum((0.80, 0.12, 0.08))] + [_cum(p) for _, p in _RESOLUTION_P])
    return _pick(rng, table[dominant], n)


def _styled_transfers(transfers: IntArray, style: IntArray, draw: FloatArray) -> IntArray:
    """A quick transferrer passes the customer on once more; a thorough agent keeps them."""
    more = (style == _QUICK) & (draw < 0.6)
    none = (style == _SLOW) & (draw < 0.6) & (transfers < 3)
    return np.where(more, transfers + 1, np.where(none, 0, transfers))


def _styled_resolution(resolution: IntArray, style: IntArray, draw: FloatArray) -> IntArray:
    """A quick transferrer escalates what a thorough agent resolves."""
    escalated = (style == _QUICK) & (draw < 0.35)
    resolved = (style == _SLOW) & (draw < 0.6)
    return np.where(escalated, RESOLUTIONS.index("escalated"), np.where(resolved, 0, resolution))


# --- comments ------------------------------------------------------------------------------

_SHORT_CODES: dict[str, str] = {
    "DELIV": "DELIV-4H-WINDOW",
    "GYM": "GYM-CANCEL",
    "TERM": "GYM-CANCEL-TERM",
    "PRICE": "PRICE-LOOKUP",
    "GREET": "GREET-10MIN",
    "REPEAT": "REPEAT-ISSUE",
    "BILL": "BILLING-FEE",
    "CONDUCT": "CONDUCT",
}


@dataclass(frozen=True)
class _Slot:
    """One sentence slot of a comment: where it goes, when it may appear, how often, phrasings.

    ``when`` is a conjunction of space-separated terms, each a scenario list (``@GYM/TERM``),
    a hidden fact, or a CSAT band (``negative``, ``neutral``, ``positive``); ``!`` negates one;
    ``*`` means always. ``translation`` names the row of _TRANSLATIONS used for non-English
    comments (None: the sentence is left out of them).
    """

    pos: int
    when: str
    p: float
    translation: str | None
    variants: tuple[str, ...]


# One block per slot: "[position | when | probability | translation or -]", then its phrasings.
# Sentences share vocabulary across classes on purpose ("delivery", "window", "fee", "waited",
# "cancel", "nobody", "policy"), so that no single word gives the root cause away. The
# accented slot (position 11) is there so the legacy cp1252 day holds non-ASCII English text.
_SLOT_SPEC = """
[0 | @DELIV | 0.5 | -]
Ordered a sofa and booked the delivery online.
My wardrobe delivery was booked for Saturday.
Bought a dining table, delivery was arranged at the till.
We booked a delivery slot for the new bed.
Had a furniture delivery booked for this week.
[1 | @DELIV window_missed | 0.97 | late]
The delivery came two hours outside the window.
They turned up well after the 4-hour window had ended.
The van arrived at 6pm, the window was 8 to 12.
They said "between 8 and 12", then came at 3pm.
Delivery was late, way past the slot I was given.
Waited all morning, the window came and went and they showed up hours later.
[2 | @DELIV no_show | 0.97 | noshow]
The driver never came.
Nobody turned up and nobody called.
I took a day off work and the delivery never arrived.
No delivery, no phone call, nothing.
Waited in the whole window and no one showed up.
[3 | @DELIV policy_undisclosed | 0.9 | undisclosed]
Nobody told me it was a 4-hour window.
The window was never explained when I bought it.
Nothing on the receipt about a delivery window.
I only found out about the window on the day.
[6 | @DELIV expectation_mismatch | 0.95 | fixed_time]
I wanted a fixed time, not a 4-hour window.
Why can't I choose an exact delivery time?
A four hour window is ridiculous, I can't wait in all morning.
I asked for a specific time and they said the window is all they can do.
Delivery was late, I waited in all morning.
They came at the very end of the window, I expected them first thing.
[7 | @DELIV expectation_mismatch !policy_undisclosed | 0.3 | -]
I know they told me about the window twice, but still.
Yes it was on the receipt, that's not the point.
They did explain the window when I booked.
[0 | @GYM/TERM | 0.5 | -]
Went to the gym to cancel my membership.
I wanted to cancel my membership.
Came in to end my gym contract.
Tried to cancel my gym membership this week.
[1 | @GYM/TERM long_cancellation | 0.97 | long_cancel]
It took an hour and three people to cancel.
I had to see the salesman, his supervisor and the general manager just to cancel.
Spent an hour at the desk to cancel a membership.
Three different people tried to talk me out of cancelling.
Cancelling should take five minutes, it took over an hour.
[3 | @GYM/TERM upsell | 0.8 | upsell]
They kept pushing a cheaper plan.
The manager tried to sell me a discounted membership instead.
Kept offering me a cheaper plan when I just wanted to cancel.
[2 | @GYM fee_not_in_contract | 0.97 | fee]
Then they charged a termination fee that is not in my contract.
There's no cancellation fee in what I signed, but they charged one anyway.
They charged me a fee to cancel, my contract says nothing about a fee.
Charged £60 to leave, it's not in the contract.
[2 | @TERM fee_not_in_contract | 0.97 | fee]
On top of the termination fee they added an admin charge.
They charged more than the fee in my contract.
The fee was £85, my contract says £60.
[4 | @GYM/TERM/BILL policy_undisclosed | 0.9 | undisclosed]
Nobody mentioned any of this when I signed up.
The terms were never explained to me.
The salesman never told me about the fee when I joined.
[6 | @TERM expectation_mismatch | 0.95 | fee_expected]
I didn't expect to pay a fee to cancel.
A £60 fee to leave is daylight robbery.
They charged a termination fee, apparently it's in the contract I signed.
I know the fee is in the contract but it's still unfair.
Paying to cancel feels wrong.
[6 | @GYM expectation_mismatch | 0.95 | wanted_more]
I wanted to cancel by email but they said it has to be done in person.
Had to give a month's notice, which is silly.
I expected it to be instant, not wait for the next billing date.
Why do I have to come in to cancel?
[7 | @GYM/TERM !long_cancellation | 0.25 | -]
To be fair the cancellation itself was quick.
The girl at the desk cancelled it in a few minutes.
[0 | @PRICE | 0.5 | -]
At the checkout today.
Was buying a few things at the till.
Queued at the checkout with a full trolley.
[1 | @PRICE price_missing | 0.97 | price]
The cashier had to walk to the shelf to find the price.
The item wasn't in the system so the cashier went to check the price.
The price wasn't on the system and we all had to wait.
Two items had no price at the till.
The barcode didn't scan and there was no price in the system.
[3 | @PRICE price_missing | 0.4 | -]
The cashier was lovely and very helpful though.
Not the cashier's fault, she did her best.
[3 | @PRICE !price_missing | 0.2 | -]
The cashier was polite enough.
Staff were fine.
[6 | @PRICE expectation_mismatch | 0.95 | wanted_more]
The queue was too slow.
I was in a hurry and the till took ages.
Only two tills open, I waited ages to pay.
The person in front had a price check and I had to wait.
[0 | @GREET | 0.5 | -]
Went into the store to look at kitchens.
Visited the showroom on Saturday.
I went to the store for some advice.
[1 | @GREET greeted_late | 0.97 | greet]
Nobody greeted me for twenty minutes.
I stood there for 20 minutes before anyone said hello.
Waited over twenty minutes and not one member of staff came over.
Staff walked past me for ages, nobody acknowledged me.
[6 | @GREET expectation_mismatch | 0.95 | short_wait]
I waited a few minutes and nobody came straight away.
Had to wait for someone to be free.
Staff were busy with other customers, I waited.
I shouldn't have to wait at all.
[0 | @REPEAT | 0.5 | -]
Contacted you about my order.
I called about a fault with my fridge.
Got in touch about my refund.
[5 | repeat_issue | 0.97 | repeat]
This is the fourth time I call about this.
Third call this week about the same problem.
I keep having to contact you about the same issue.
Every time I call I have to explain everything again.
Still not fixed after several contacts.
[6 | @REPEAT expectation_mismatch | 0.95 | wanted_more]
I wanted it sorted today, not in 5 working days.
They said the refund takes a week, that's too slow.
I expected a replacement, not a repair.
[8 | transfer_loop | 0.97 | transfer]
I was transferred three times.
Passed from one department to another and back again.
Got bounced between teams, nobody could help.
Transferred four times and ended up where I started.
[9 | long_call | 0.5 | long_call]
The call took ages but she sorted it in the end.
Half an hour on the phone for a simple question.
Long call, but it got fixed.
I was on the phone for nearly 30 minutes.
[0 | @BILL | 0.5 | -]
Checked my latest bill.
Question about a charge on my account.
About my statement this month.
[2 | @BILL fee_not_in_contract | 0.97 | fee]
They added an admin fee I never agreed to.
I was charged a fee that isn't in my terms.
Charged twice for the same late fee.
A £35 fee appeared on my bill with no explanation.
[6 | @BILL expectation_mismatch | 0.95 | fee_expected]
I was charged a late fee, I paid one day late.
£15 for paying a day late is a rip-off.
I know the late fee is in the terms but it's harsh.
Didn't expect a fee for a late payment.
[0 | @CONDUCT | 0.5 | -]
Spoke to your agent today.
Called customer services.
Went to the service desk.
[7 | @CONDUCT | 0.4 | -]
The agent just kept repeating the policy.
She said it's company policy and wouldn't budge.
He said there was nothing he could do.
[6 | @CONDUCT expectation_mismatch | 0.95 | wanted_more]
I wanted a refund without a receipt.
They wouldn't accept my return after 60 days.
I wanted to speak to a manager immediately.
[10 | customer_temper | 0.9 | swear]
This is f***ing ridiculous.
Bloody useless, the lot of you.
What a load of crap.
Absolute sh*t service.
You people are a joke.
Damn waste of my time.
[11 | * | 0.02 | -]
I spoke to Zoë at the front desk.
The café in the store was closed too.
Mr Müller took my details.
It was déjà vu, same as last year.
Renée from the team called me back.
[4 | @CONDUCT policy_undisclosed | 0.9 | undisclosed]
Nobody ever told me about this policy.
The returns policy was never explained to me.
[12 | expectation_mismatch | 0.5 | -]
That's not what I expected.
I don't care what the policy says.
It's not what I was led to believe.
Surely that can't be right.
[13 | customer_temper | 0.5 | -]
Unbelievable!
Disgraceful!
Are you kidding me?
I'm absolutely furious.
[14 | negative | 0.5 | neg]
Very disappointed.
Not happy at all.
Never again.
Sort it out.
Terrible experience.
Expected better.
[14 | neutral | 0.4 | neutral]
It was okay.
Could be better.
Average.
[14 | positive | 0.6 | pos]
Thanks for sorting it.
Good service overall.
Quick and easy, thank you.
Staff were friendly.
"""


def _parse_slots(spec: str) -> tuple[_Slot, ...]:
    slots: list[_Slot] = []
    for block in spec.strip().split("\n["):
        head, *lines = block.strip().lstrip("[").splitlines()
        pos, when, p, translation = (part.strip() for part in head.rstrip("]").split("|"))
        slots.append(
            _Slot(
                pos=int(pos),
                when="" if when == "*" else when,
                p=float(p),
                translation=None if translation == "-" else translation,
                variants=tuple(line.strip() for line in lines if line.strip()),
            )
        )
    return tuple(slots)


_SLOTS = _parse_slots(_SLOT_SPEC)
_N_POS = 1 + max(slot.pos for slot in _SLOTS)
#: Position of the closing verdict; its three slots are the last three, for negative, neutral
#: and positive CSAT.
_CLOSER_POS = _N_POS - 1

LANGUAGES: tuple[str, ...] = ("es", "fr", "de")
_TRANSLATIONS: dict[str, tuple[str, str, str]] = {
    "late": (
        "La entrega llegó dos horas fuera de la franja horaria.",
        "La livraison est arrivée deux heures après le créneau.",
        "Die Lieferung kam zwei Stunden außerhalb des Zeitfensters.",
    ),
    "noshow": (
        "El repartidor nunca vino.",
        "Le livreur n'est jamais venu.",
        "Der Fahrer ist nie gekommen.",
    ),
    "undisclosed": (
        "Nadie me explicó las condiciones.",
        "Personne ne m'a expliqué les conditions.",
        "Niemand hat mir die Bedingungen erklärt.",
    ),
    "fixed_time": (
        "Quería una hora fija, no una franja de cuatro horas.",
        "Je voulais une heure précise, pas un créneau de quatre heures.",
        "Ich wollte eine feste Uhrzeit, kein Zeitfenster von vier Stunden.",
    ),
    "long_cancel": (
        "Tardaron una hora y tres personas en cancelar.",
        "Il a fallu une heure et trois personnes pour résilier.",
        "Die Kündigung hat eine Stunde und drei Personen gedauert.",
    ),
    "upsell": (
        "Insistieron en venderme un plan más barato.",
        "Ils ont insisté pour me vendre une formule moins chère.",
        "Sie wollten mir unbedingt einen günstigeren Tarif verkaufen.",
    ),
    "fee": (
        "Me cobraron una comisión que no está en el contrato.",
        "On m'a facturé des frais qui ne figurent pas dans le contrat.",
        "Man hat mir eine Gebühr berechnet, die nicht im Vertrag steht.",
    ),
    "fee_expected": (
        "Sé que la comisión está en el contrato, pero es injusta.",
        "Je sais que les frais sont dans le contrat, mais c'est injuste.",
        "Ich weiß, dass die Gebühr im Vertrag steht, aber sie ist unfair.",
    ),
    "wanted_more": (
        "Esperaba algo más de lo que dice la política.",
        "Je m'attendais à mieux que ce que prévoit la politique.",
        "Ich hatte mehr erwartet, als die Richtlinie vorsieht.",
    ),
    "price": (
        "La cajera tuvo que ir al estante a buscar el precio.",
        "La caissière a dû aller au rayon pour trouver le prix.",
        "Die Kassiererin musste zum Regal gehen, um den Preis zu finden.",
    ),
    "greet": (
        "Nadie me atendió durante veinte minutos.",
        "Personne ne m'a accueilli pendant vingt minutes.",
        "Zwanzig Minuten lang hat mich niemand begrüßt.",
    ),
    "short_wait": (
        "Tuve que esperar unos minutos y no me gustó.",
        "J'ai dû attendre quelques minutes, ce n'est pas normal.",
        "Ich musste ein paar Minuten warten, das geht gar nicht.",
    ),
    "repeat": (
        "Es la cuarta vez que llamo por esto.",
        "C'est la quatrième fois que j'appelle pour ça.",
        "Das ist schon das vierte Mal, dass ich deswegen anrufe.",
    ),
    "transfer": (
        "Me transfirieron tres veces.",
        "On m'a transféré trois fois.",
        "Ich wurde dreimal weiterverbunden.",
    ),
    "long_call": (
        "La llamada fue larga, pero lo resolvieron.",
        "L'appel a été long, mais le problème est réglé.",
        "Das Gespräch war lang, aber das Problem wurde gelöst.",
    ),
    "swear": (
        "¡Es una puta vergüenza!",
        "C'est du grand n'importe quoi, bordel !",
        "So ein verdammter Mist!",
    ),
    "neg": ("Muy decepcionado.", "Très déçu.", "Sehr enttäuscht."),
    "neutral": ("Regular.", "Bof.", "Geht so."),
    "pos": ("Buen servicio, gracias.", "Bon service, merci.", "Guter Service, danke."),
}


def _phrase_table() -> tuple[pl.Series, list[int], dict[str, list[int]]]:
    """All phrases in one Series; offsets of each slot's English variants and translations."""
    phrases: list[str] = []
    offsets: list[int] = []
    for slot in _SLOTS:
        offsets.append(len(phrases))
        phrases.extend(slot.variants)
    trans: dict[str, list[int]] = {}
    for key, texts in _TRANSLATIONS.items():
        trans[key] = list(range(len(phrases), len(phrases) + len(texts)))
        phrases.extend(texts)
    return pl.Series("phrase", phrases, dtype=pl.String), offsets, trans


_PHRASES, _SLOT_OFFSETS, _TRANS_IDS = _phrase_table()


def _slot_mask(when: str, scen: IntArray, facts: dict[str, BoolArray]) -> BoolArray:
    mask = np.ones(len(scen), dtype=bool)
    for term in when.split():
        name = term.lstrip("!")
        if name.startswith("@"):
            value = np.isin(scen, [_SCEN_INDEX[_SHORT_CODES[s]] for s in name[1:].split("/")])
        else:
            value = facts[name]
        mask &= ~value if term.startswith("!") else value
    return mask


def _comments(
    rng: np.random.Generator,
    scen: IntArray,
    facts: dict[str, BoolArray],
    csat: IntArray,
    lang_idx: IntArray,
    empty: BoolArray,
    newline: BoolArray,
) -> pl.Series:
    """Comment text, assembled from slot sentences in position order.

    Depends only on scenario, hidden facts and CSAT (never on truth_failure), so the oracle,
    which conditions on those, stays a ceiling for any model of the text.
    """
    n = len(scen)
    band = np.where(csat <= NEGATIVE_CSAT_MAX, 0, np.where(csat == 3, 1, 2))
    terms = {
        **facts,
        "negative": band == 0,
        "neutral": band == 1,
        "positive": band == 2,
    }
    # An unhappy customer tells the whole story; a satisfied one rarely lists what went wrong.
    mention_scale = np.asarray([1.0, 0.8, 0.5])[band]
    non_en = lang_idx >= 0
    foreign_lang = np.maximum(lang_idx, 0)
    ids = np.full((_N_POS, n), -1, dtype=np.int64)
    for slot, offset in zip(_SLOTS, _SLOT_OFFSETS, strict=True):
        # draws only for the rows a slot applies to: most slots concern one scenario
        rows = np.flatnonzero(_slot_mask(slot.when, scen, terms))
        rows = rows[rng.random(len(rows)) < slot.p * mention_scale[rows]]
        phrase = offset + rng.integers(0, len(slot.variants), size=len(rows))
        if slot.translation is None:
            foreign = np.full(len(rows), -1, dtype=np.int64)
        else:
            foreign = np.asarray(_TRANS_IDS[slot.translation])[foreign_lang[rows]]
        phrase = np.where(non_en[rows], foreign, phrase)
        ids[slot.pos, rows[phrase >= 0]] = phrase[phrase >= 0]
    # Nobody submits a blank box on purpose: if no sentence was picked, close with a verdict.
    nothing = np.flatnonzero((ids < 0).all(axis=0))
    english_verdict = np.asarray(_SLOT_OFFSETS[-3:])[band[nothing]]
    english_verdict += rng.integers(0, 3, size=len(nothing))
    foreign_verdict = np.asarray([_TRANS_IDS[k] for k in ("neg", "neutral", "pos")])[
        band[nothing], foreign_lang[nothing]
    ]
    ids[_CLOSER_POS, nothing] = np.where(non_en[nothing], foreign_verdict, english_verdict)

    # Left-align each row's sentences so only as many string columns as the longest comment
    # are materialised, not one per position.
    packed = np.full((_N_POS, n), -1, dtype=np.int64)
    filled = np.zeros(n, dtype=np.int64)
    for pos in range(_N_POS):
        rows = np.flatnonzero(ids[pos] >= 0)
        packed[filled[rows], rows] = ids[pos, rows]
        filled[rows] += 1
    columns = []
    for k in range(int(filled.max(initial=0))):
        idx = pl.Series(packed[k])
        columns.append(_PHRASES.gather(idx.set(idx < 0, None)))
    text = pl.select(pl.concat_str(columns, separator=" ", ignore_nulls=True)).to_series()
    text = text.set(pl.Series(empty), "")
    lines = np.flatnonzero(newline)
    return text.scatter(lines, text.gather(lines).str.replace(" ", "\n", literal=True, n=1))


# --- surveys of one day -----------------------------------------------------------------------

_KINDS = tuple(ROW_DEFECT_RATES)
_NO_DEFECT = len(_KINDS)
_CANONICAL_TS = "%Y-%m-%dT%H:%M:%S+00:00"
#: Row defects that break the response id, so QA could not have audited the response by it.
_ID_BROKEN = ("missing_response_id", "duplicate_response_id")


@dataclass(frozen=True)
class _DayStats:
    surveys: int
    audits: int
    negatives: int
    oracle_correct: int
    files: list[str]
    #: The day's audits.csv, when one was there already and kept as it was.
    kept_audits: list[str] = field(default_factory=list)


def _kind(name: str) -> int:
    return _KINDS.index(name)


def _table(values: Sequence[str], idx: IntArray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(idx % len(values))


def _csv_field(name: str) -> pl.Expr:
    """RFC 4180 quoting, as polars' write_csv does it."""
    col = pl.col(name)
    quoted = pl.concat_str(pl.lit('"'), col.str.replace_all('"', '""', literal=True), pl.lit('"'))
    return pl.when(col.str.contains(r'[",\r\n]')).then(quoted).otherwise(col).fill_null("")


def _injected(kind: str, response_id: pl.Series, line: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        {"kind": pl.Series([kind] * len(response_id), dtype=pl.String)}
    ).with_columns(
        response_id.cast(pl.String).alias("response_id"), line.cast(pl.Int64).alias("line")
    )


def _write_lines(path: Path, header: str | None, lines: pl.Series, encoding: str) -> None:
    """Write pre-formatted lines as they are (no quoting: they are CSV or JSON text already)."""
    frame = pl.DataFrame({"l": lines})
    if encoding == "utf-8":
        with path.open("wb") as fh:
            if header is not None:
                fh.write((header + "\n").encode("utf-8"))
            frame.write_csv(fh, include_header=False, quote_style="never")
        return
    buf = io.BytesIO()
    frame.write_csv(buf, include_header=False, quote_style="never")
    text = buf.getvalue().decode("utf-8")
    path.write_bytes(((header + "\n" if header is not None else "") + text).encode(encoding))


_DEFECT_CUM = np.cumsum(list(ROW_DEFECT_RATES.values()))
_CSAT_CUM = np.cumsum(CSAT_P, axis=1)
_CSAT_CUM[:, -1] = 1.0
_CHANNEL_FLAT = [v for c in CHANNELS for v in CHANNEL_VARIANTS[c]]
_CHANNEL_OFF = np.cumsum([0] + [len(CHANNEL_VARIANTS[c]) for c in CHANNELS])[:-1]
_CHANNEL_CNT = np.asarray([len(CHANNEL_VARIANTS[c]) for c in CHANNELS])
_CSAT_LABELLED = [f"{i + 1} - {label}" for i, label in enumerate(CSAT_LABELS)]
_OFFSET_SUFFIX = [
    f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in OTHER_OFFSETS_MIN
]


def _audit_times(submitted: pl.Series, delay_us: IntArray, until: datetime | None) -> pl.Series:
    """When QA audited each response: ``delay_us`` microseconds after it was submitted, but
    never after ``until`` (nor before the submission). A trial's re-audits typed "today"
    lost to generated audits dated days ahead, as the latest audit wins."""
    audited = submitted + pl.Series(delay_us).cast(pl.Duration("us"))
    if until is None:
        return audited
    cap = pl.lit(until).cast(submitted.dtype)
    frame = pl.DataFrame({"submitted": submitted, "audited": audited})
    return frame.select(
        pl.min_horizontal("audited", pl.max_horizontal("submitted", cap)).alias("audited")
    ).to_series()


def _survey_day(
    out_dir: Path,
    seed: int,
    day: date,
    groups: Sequence[pl.DataFrame],
    *,
    mess: bool,
    legacy: bool,
    lost_interactions: set[str],
    interaction_injected: pl.DataFrame,
    timezone: str,
    audits_until: datetime | None = None,
) -> _DayStats:
    """Write surveys, audits and truth of survey day ``day`` from its three response groups
    (audits dated no later than ``audits_until``, see :func:`generate`)."""
    frame = pl.concat(groups, how="vertical").sort("submitted_utc", maintain_order=True)
    n = frame.height
    width = max(8, len(str(n)))
    frame = frame.with_columns(
        pl.concat_str(
            pl.lit(f"R{day:%Y%m%d}-"),
            pl.int_range(n, dtype=pl.Int64).cast(pl.String).str.zfill(width),
        ).alias("response_id")
    )
    facts: dict[str, BoolArray] = {f: frame[f"h_{f}"].to_numpy() for f in FACTS}
    scen = frame["scenario"].to_numpy().astype(np.int64)

    # --- content: truth, csat and what the customer wrote ------------------------------------
    rng = _rng(seed, day, _STREAM_CONTENT)
    p_fail = failure_probability(facts)
    truth = rng.random(n) < p_fail
    customer = 2 * facts["expectation_mismatch"].astype(np.int64) + facts["customer_temper"]
    csat = _pick(rng, _CSAT_CUM[4 * truth + customer], n) + 1
    like_fail = CSAT_P[4 + customer, csat - 1]
    like_ok = CSAT_P[customer, csat - 1]
    oracle = p_fail * like_fail / (p_fail * like_fail + (1.0 - p_fail) * like_ok)
    toil = facts["long_cancellation"] | facts["transfer_loop"] | facts["repeat_issue"]
    nps = np.clip(np.rint(2.3 * csat - 1.5 + rng.normal(0.0, 1.3, n)), 0, 10).astype(np.int64)
    effort = np.clip(np.rint(8.2 - 1.4 * csat + 0.8 * toil + rng.normal(0.0, 0.9, n)), 1, 7)
    nps_null = rng.random(n) < 0.12
    effort_null = rng.random(n) < 0.20
    band = np.where(csat <= NEGATIVE_CSAT_MAX, 0, np.where(csat == 3, 1, 2))
    empty = rng.random(n) < np.asarray(EMPTY_COMMENT_RATE)[band]
    non_en = (rng.random(n) < NON_ENGLISH_RATE) & ~empty
    lang_idx = np.where(non_en, rng.integers(0, len(LANGUAGES), n), -1)
    newline = (rng.random(n) < EMBEDDED_NEWLINE_RATE) & ~empty
    # Comments in any language may come without one: the clean layer detects it.
    lang_null = rng.random(n) < NULL_LANGUAGE_RATE
    delivery_delay = rng.uniform(600.0, 6 * 3600.0, n)
    comment = _comments(rng, scen, facts, csat, lang_idx, empty, newline)
    language = pl.Series(["en", *LANGUAGES], dtype=pl.String).gather(lang_idx + 1)
    language = language.scatter(np.flatnonzero(lang_null), None)

    # --- mess: drawn in both modes so content never depends on the switch ---------------------
    mrng = _rng(seed, day, _STREAM_MESS)
    defect = np.searchsorted(_DEFECT_CUM, mrng.random(n), side="right")
    pick = mrng.integers(0, 1 << 30, size=(5, n))
    channel_variant = mrng.random(n) < CHANNEL_VARIANT_RATE
    csat_label = mrng.random(n) < CSAT_LABEL_RATE
    ts_offset = mrng.random(n) < TIMESTAMP_OFFSET_RATE
    redelivery_gap = mrng.uniform(6 * 3600.0, 30 * 3600.0, n)
    stale_csat = np.clip(csat + mrng.choice([-2, -1, 1, 2], n), 1, 5)
    stale_csat = np.where(mrng.random(n) < 0.5, stale_csat, csat)
    stale_slot = np.floor(mrng.random(n) * (n + 1)).astype(np.int64)
    if not mess:
        defect[:] = _NO_DEFECT
    channel_variant &= mess & (defect != _kind("unknown_channel"))
    csat_label &= mess & ~np.isin(defect, [_kind("csat_out_of_range"), _kind("csat_non_numeric")])
    ts_offset &= mess & ~np.isin(
        defect, [_kind("timestamp_unparseable"), _kind("timestamp_future")]
    )
    clean_rows = np.flatnonzero(defect == _NO_DEFECT)
    dup_rows = np.flatnonzero(defect == _kind("duplicate_response_id"))
    partner = clean_rows[mrng.integers(0, max(len(clean_rows), 1), len(dup_rows))]
    redelivered = defect == _kind("duplicate_redelivery")

    def where(kind: str) -> IntArray:
        return np.flatnonzero(defect == _kind(kind))

    def overwrite(series: pl.Series, idx: IntArray, values: pl.Series) -> pl.Series:
        return series.scatter(idx, values) if len(idx) else series

    # Every variant is computed for its own rows only: formatting a million timestamps five
    # ways to keep one of them is most of the cost otherwise.
    utc = frame["submitted_utc"]
    submitted_at = utc.dt.to_string(_CANONICAL_TS)
    ts_mode = pick[4] % 3
    idx = np.flatnonzero(ts_offset & (ts_mode == 0))
    shift = np.asarray(OTHER_OFFSETS_MIN)[pick[3][idx] % len(OTHER_OFFSETS_MIN)]
    local = utc.gather(idx) + pl.Series(shift * 60_000_000).cast(pl.Duration("us"))
    suffix = _table(_OFFSET_SUFFIX, pick[3][idx] % len(OTHER_OFFSETS_MIN))
    submitted_at = overwrite(submitted_at, idx, local.dt.to_string("%Y-%m-%dT%H:%M:%S") + suffix)
    idx = np.flatnonzero(ts_offset & (ts_mode == 1))
    submitted_at = overwrite(submitted_at, idx, utc.gather(idx).dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
    idx = np.flatnonzero(ts_offset & (ts_mode == 2))
    naive = utc.gather(idx).dt.convert_time_zone(timezone).dt.to_string("%Y-%m-%dT%H:%M:%S")
    submitted_at = overwrite(submitted_at, idx, naive)
    idx = where("timestamp_future")
    future = (utc.gather(idx) + timedelta(days=365)).dt.to_string(_CANONICAL_TS)
    submitted_at = overwrite(submitted_at, idx, future)
    idx = where("timestamp_unparseable")
    submitted_at = overwrite(submitted_at, idx, _table(BAD_TIMESTAMPS, pick[4][idx]))

    channel_idx = frame["channel_idx"].to_numpy().astype(np.int64)
    channel = pl.Series(CHANNELS, dtype=pl.String).gather(channel_idx)
    idx = np.flatnonzero(channel_variant)
    ci = channel_idx[idx]
    channel = overwrite(
        channel, idx, _table(_CHANNEL_FLAT, _CHANNEL_OFF[ci] + pick[0][idx] % _CHANNEL_CNT[ci])
    )
    idx = where("unknown_channel")
    channel = overwrite(channel, idx, _table(UNKNOWN_CHANNELS, pick[0][idx]))

    csat_text = pl.Series(csat).cast(pl.String)
    idx = np.flatnonzero(csat_label)
    csat_text = overwrite(csat_text, idx, _table(_CSAT_LABELLED, csat[idx] - 1))
    idx = where("csat_out_of_range")
    csat_text = overwrite(csat_text, idx, _table(BAD_CSAT_NUMBERS, pick[1][idx]))
    idx = where("csat_non_numeric")
    csat_text = overwrite(csat_text, idx, _table(BAD_CSAT_TEXT, pick[1][idx]))

    nps_text = pl.Series(nps).cast(pl.String).scatter(np.flatnonzero(nps_null), None)
    idx = where("nps_out_of_range")
    nps_text = overwrite(nps_text, idx, _table(BAD_NPS, pick[2][idx]))

    response_id = frame["response_id"].clone()
    idx = where("missing_response_id")
    response_id = overwrite(response_id, idx, pl.Series([""] * len(idx), dtype=pl.String))
    interaction_id = frame["interaction_id"].clone()
    idx = where("survey_without_interaction")
    # an id of the right shape that no CRM export ever held
    ghost = pl.Series(idx).cast(pl.String).str.zfill(7)
    interaction_id = overwrite(interaction_id, idx, f"I{day:%Y%m%d}-7-" + ghost)

    def after(base: pl.Series, delay_seconds: FloatArray) -> pl.Series:
        delay = pl.Series((delay_seconds * 1e6).astype(np.int64)).cast(pl.Duration("us"))
        return (base + delay).dt.to_string(_CANONICAL_TS)

    delivered_at = after(utc, delivery_delay + np.where(redelivered, redelivery_gap, 0.0))
    # Two different responses under one id and one export time: a conflict nobody can resolve.
    response_id = overwrite(response_id, dup_rows, response_id.gather(partner))
    delivered_at = overwrite(delivered_at, dup_rows, delivered_at.gather(partner))

    effort_text = pl.Series(effort.astype(np.int64)).cast(pl.String)
    rows = pl.DataFrame(
        {
            "response_id": response_id,
            "interaction_id": interaction_id,
            "submitted_at": submitted_at,
            "channel": channel,
            "csat": csat_text,
            "nps": nps_text,
            "effort": effort_text.scatter(np.flatnonzero(effort_null), None),
            "comment": comment,
            "language": language,
            "delivered_at": delivered_at,
            "orig_id": frame["response_id"],
            "sort_key": np.arange(n, dtype=np.int64) * 2 + 1,
            "stale": np.zeros(n, dtype=bool),
            "defect": defect,
        }
    )
    survey_cols = list(RAW_SURVEY_COLUMNS)
    # The vendor first exported a stale copy (maybe before a CSAT correction), then the final
    # one; the stale copy lands anywhere in the file.
    stale = rows.filter(pl.Series(redelivered)).with_columns(
        pl.Series(stale_csat[redelivered]).cast(pl.String).alias("csat"),
        after(utc.filter(pl.Series(redelivered)), delivery_delay[redelivered]).alias(
            "delivered_at"
        ),
        pl.Series(stale_slot[redelivered] * 2).alias("sort_key"),
        pl.lit(True).alias("stale"),
    )
    out = pl.concat([rows, stale]).sort("sort_key")
    physical = 1 + out["comment"].str.count_matches("\n", literal=True).fill_null(0)
    # Only the comment is free text; every other field comes from vocabularies without
    # separators, quotes or newlines, so only the comment needs quoting.
    fields = [pl.col(c).fill_null("") for c in survey_cols]
    fields[survey_cols.index("comment")] = _csv_field("comment")
    out = out.with_columns(
        (2 + physical.cum_sum() - physical).cast(pl.Int64).alias("line"),
        pl.concat_str(fields, separator=",").alias("text"),
    )
    ragged = np.flatnonzero(((out["defect"] == _kind("malformed_line")) & ~out["stale"]).to_numpy())
    if len(ragged):
        broken = out[ragged].select(
            pl.when(pl.col("line") % 2 == 0)
            .then(pl.concat_str(pl.col("text"), pl.lit(",x")))
            .otherwise(pl.concat_str(fields[:-1], separator=","))
        )
        out = out.with_columns(out["text"].scatter(ragged, broken.to_series()))
    encoding = "cp1252" if legacy and mess else "utf-8"
    day_dir = out_dir / "raw" / f"{day:%Y-%m-%d}"
    day_dir.mkdir(parents=True, exist_ok=True)
    _write_lines(day_dir / "surveys.csv", ",".join(survey_cols), out["text"], encoding)

    # --- injected: every defect and variant, with the physical line it sits on ----------------
    lines = out.filter(~pl.col("stale")).sort("sort_key")["line"]
    ids = frame["response_id"]
    found: list[pl.DataFrame] = []

    def record(kind: str, mask: BoolArray) -> None:
        found.append(_injected(kind, ids.filter(pl.Series(mask)), lines.filter(pl.Series(mask))))

    for name in _KINDS:
        if name not in ("duplicate_redelivery", "duplicate_response_id"):
            record(name, defect == _kind(name))
    both = np.zeros(n, dtype=bool)
    both[dup_rows] = True
    both[partner] = True
    record("duplicate_response_id", both)
    stale_out = out.filter("stale")
    found.append(_injected("duplicate_redelivery", stale_out["orig_id"], stale_out["line"]))
    record("channel_variant", channel_variant)
    record("csat_label", csat_label)
    record("timestamp_offset", ts_offset)
    record("empty_comment", empty)
    record("non_english_comment", non_en)
    record("embedded_newline", newline)
    lost = frame["interaction_id"].is_in(sorted(lost_interactions)).to_numpy() & (
        defect != _kind("survey_without_interaction")
    )
    record("interaction_malformed", lost)
    if encoding != "utf-8":
        found.append(_injected("legacy_encoding", pl.Series([None]), pl.Series([None])))
    found.append(interaction_injected)
    injected = pl.concat(found).sort("line", "kind", "response_id", nulls_last=False)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    injected.write_csv(truth_dir / f"{day:%Y-%m-%d}.injected.csv")

    # --- truth for negatives --------------------------------------------------------------------
    negative = csat <= NEGATIVE_CSAT_MAX
    names = pl.Series([s.name for s in SCENARIOS], dtype=pl.String)
    truth_frame = pl.DataFrame(
        {
            "response_id": ids,
            "true_root_cause": np.where(truth, "policy_failure", "perceived"),
            "oracle_p_policy_failure": np.round(oracle, 6),
            "scenario": names.gather(scen),
        }
    ).filter(pl.Series(negative))
    truth_frame.write_csv(truth_dir / f"{day:%Y-%m-%d}.csv", float_precision=6)

    # --- QA audits: a sample of negatives, labelled with a small error rate -------------------
    arng = _rng(seed, day, _STREAM_AUDIT)
    audited = (arng.random(n) < AUDIT_RATE) & negative
    audited &= ~np.isin(defect, [_kind(k) for k in _ID_BROKEN])
    audited[partner] = False
    auditor = arng.integers(0, len(AUDITORS), n)
    audit_delay = (arng.uniform(1.0, 5.0, n) * 86400e6).astype(np.int64)
    label = truth ^ (arng.random(n) < AUDIT_FLIP_RATE)
    audits = (
        pl.DataFrame(
            {
                "response_id": ids,
                "root_cause": np.where(label, "policy_failure", "perceived"),
                "audited": _audit_times(frame["submitted_utc"], audit_delay, audits_until),
                "auditor": pl.Series(list(AUDITORS)).gather(auditor),
            }
        )
        .filter(pl.Series(audited))
        .sort("audited", "response_id")
        .with_columns(pl.col("audited").dt.to_string(_CANONICAL_TS).alias("audited_at"))
        .select(RAW_AUDIT_COLUMNS)
    )
    stamp = f"{day:%Y-%m-%d}"
    # An audit file already there is never overwritten: review-queue tells QA to save its
    # worksheet as a date's audits.csv, and a trial's filled-in verdicts were replaced by
    # generated ones without a word (the demo regenerates the last 28 days on every run).
    kept = (day_dir / "audits.csv").exists()
    if not kept:
        audits.write_csv(day_dir / "audits.csv")
    return _DayStats(
        surveys=out.height,
        audits=0 if kept else audits.height,
        negatives=int(negative.sum()),
        oracle_correct=int(((oracle > 0.5) == truth)[negative].sum()),
        files=[
            f"raw/{stamp}/surveys.csv",
            *([] if kept else [f"raw/{stamp}/audits.csv"]),
            f"truth/{stamp}.csv",
            f"truth/{stamp}.injected.csv",
        ],
        kept_audits=[f"raw/{stamp}/audits.csv"] if kept else [],
    )


# --- interactions of one start day ------------------------------------------------------------


def _interaction_file(
    out_dir: Path,
    seed: int,
    day: date,
    parts: Sequence[pl.DataFrame],
    *,
    mess: bool,
    timezone: str,
    keep_existing: bool = False,
) -> tuple[set[str], pl.DataFrame, int, KeptExport | None]:
    """Write raw/<day>/interactions.jsonl; return malformed ids, their injected rows, line
    count, and with ``keep_existing``, when the file is there already: what was not written
    (the file is left as it is)."""
    codes = {i: s.policy_code for i, s in enumerate(SCENARIOS)}
    queues = {i: _POLICY_BY_CODE[s.policy_code].queue for i, s in enumerate(SCENARIOS)}
    needed = ["scenario", "started_utc", *RAW_INTERACTION_SCHEMA]
    for derived in ("policy_code", "queue", "started_at"):
        needed.remove(derived)
    frame = pl.concat([p.select(needed) for p in parts], how="vertical")
    text = frame.select(
        pl.struct(
            pl.col("scenario").replace_strict(codes, return_dtype=pl.String).alias("policy_code")
            if c == "policy_code"
            else pl.col("scenario").replace_strict(queues, return_dtype=pl.String).alias("queue")
            if c == "queue"
            else pl.col("started_utc")
            .dt.convert_time_zone(timezone)
            .dt.to_string("%Y-%m-%dT%H:%M:%S%:z")
            .alias("started_at")
            if c == "started_at"
            else pl.col(c).cast(t)
            for c, t in RAW_INTERACTION_SCHEMA.items()
        )
        .struct.json_encode()
        .alias("json"),
        pl.col("interaction_id"),
        pl.col("started_utc"),
    )
    # CRM exports come in start order; ties keep the (deterministic) concatenation order.
    # Sorting three columns instead of the wide frame is most of the saving.
    text = text.sort("started_utc", maintain_order=True)
    lines = text["json"]
    height = text.height
    irng = _rng(seed, day, _STREAM_IMESS)
    bad_idx = np.flatnonzero((irng.random(height) < MALFORMED_JSON_RATE) & mess)
    broken = lines.gather(bad_idx)
    cut = (broken.str.len_chars().to_numpy() * irng.uniform(0.2, 0.9, len(bad_idx))).astype(
        np.int64
    )
    lines = lines.scatter(bad_idx, pl.select(broken.str.head(pl.Series(cut))).to_series())
    day_dir = out_dir / "raw" / f"{day:%Y-%m-%d}"
    bad_ids = text["interaction_id"].gather(bad_idx)
    injected = _injected("malformed_json", bad_ids, pl.Series(bad_idx + 1))
    path = day_dir / "interactions.jsonl"
    if keep_existing and path.exists():
        there = set(path.read_text(encoding="utf-8", errors="replace").splitlines())
        kept = KeptExport(
            f"raw/{day:%Y-%m-%d}/interactions.jsonl",
            lines=height,
            not_there=int((~lines.is_in(pl.Series(list(there), dtype=pl.String))).sum()),
        )
        return set(bad_ids.to_list()), injected, height, kept
    day_dir.mkdir(parents=True, exist_ok=True)
    _write_lines(path, None, lines, "utf-8")
    return set(bad_ids.to_list()), injected, height, None


# --- entry point ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeptExport:
    """A raw export of a day outside the range :func:`generate` was asked for (a look-back
    day's interactions) that was there already and was left as it is: raw exports are never
    modified once delivered."""

    #: relative to the output folder
    path: str
    #: lines this run would have written
    lines: int
    #: of them, the lines the file does not hold as they are (0: it holds what would have
    #: been written); the surveys about those contacts find no interaction
    not_there: int


class RawExportsThere(ValueError):
    """:func:`generate` was asked for days whose raw exports are there already."""

    def __init__(self, out_dir: Path, paths: list[str]) -> None:
        self.paths = paths
        shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        super().__init__(
            f"{out_dir}: {len(paths)} raw export(s) of these dates are there already "
            f"({shown}); nothing was written: raw exports are never modified once delivered, "
            "and a run of those dates would read other data than it did"
        )


def raw_exports_in_range(out_dir: Path, start: date, end: date) -> list[str]:
    """The survey and interaction exports of ``start``..``end`` already under
    ``out_dir/raw`` (relative to ``out_dir``), in date order."""
    found = []
    for offset in range((end - start).days + 1):
        stamp = f"{start + timedelta(days=offset):%Y-%m-%d}"
        for name in ("surveys.csv", "interactions.jsonl"):
            if (Path(out_dir) / "raw" / stamp / name).exists():
                found.append(f"raw/{stamp}/{name}")
    return found


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate` wrote, for the CLI to print."""

    start: date
    end: date
    per_day: int
    seed: int
    #: data rows written to surveys.csv files (redelivered copies and defective rows included)
    surveys: int
    #: lines written to interactions.jsonl files, including the two days before ``start``
    interactions: int
    audits: int
    #: responses whose true CSAT is negative (rows of the truth files)
    negatives: int
    #: accuracy of the hidden-facts oracle over all negative responses in the range
    oracle_accuracy: float
    #: paths written, relative to ``out_dir``
    files: list[str]
    #: audit files that were there already, kept as they were (never overwritten: they may
    #: hold QA's verdicts), relative to ``out_dir``
    kept_audit_files: list[str] = field(default_factory=list)
    #: raw exports of days before ``start`` (the look-back days' interactions) that were
    #: there already, left as they were
    kept_exports: list[KeptExport] = field(default_factory=list)


def write_policies(out_dir: Path) -> Path:
    """Write the policy catalogue to ``raw/reference/policies.csv`` and return its path."""
    path = out_dir / "raw" / "reference" / "policies.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame([asdict(p) for p in POLICIES]).select(RAW_POLICY_COLUMNS).write_csv(path)
    return path


def write_agents(out_dir: Path, seed: int) -> Path:
    """Write the agents' working styles to ``truth/agents.csv`` (agent_id, style)."""
    path = out_dir / "truth" / "agents.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "agent_id": _prefixed("A", np.arange(N_AGENTS), 4),
            "style": pl.Series(AGENT_STYLES).gather(agent_roster(seed)),
        }
    ).write_csv(path)
    return path


def generate(
    out_dir: Path,
    start: date,
    end: date,
    per_day: int,
    seed: int,
    *,
    mess: bool = True,
    legacy_encoding_day: int | None = 1,
    timezone: str = BUSINESS_TZ,
    audits_until: datetime | None = None,
    replace: bool = False,
) -> GenerationSummary:
    """Write synthetic raw exports and their truth for survey days ``start``..``end``.

    Each day holds ``per_day`` distinct responses (plus redelivered copies when ``mess``).
    Interaction files are also written for the two days before ``start``, because surveys
    refer to interactions that started up to two days earlier. ``legacy_encoding_day`` is the
    0-based index of the day whose surveys.csv is written in cp1252 (``None``: never; ignored
    when ``mess`` is False). ``timezone`` is the business timezone (``SERVICELENS_TIMEZONE``):
    a survey of day D is submitted on D there, and naive times are its local times.
    ``audits_until`` (an aware time; the commands pass the current time): QA audits a
    response 1 to 5 days after it, but no audit is dated after this, as none can be when
    the exports are delivered (None: no limit). Same arguments give byte-identical files.

    Raw exports are never modified once there: a look-back day's interaction file that
    exists is left as it is (``GenerationSummary.kept_exports`` says so, and how many of the
    lines this run would have written it lacks), and the days ``start``..``end`` are written
    only when none of their surveys.csv and interactions.jsonl is there yet, or with
    ``replace`` (else :class:`RawExportsThere`, naming them). Found by a trial: generating
    the days after a range rewrote its last two days' interactions (91 of 484 ids replaced)
    without a word, and the backfill then found their inputs changed.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}; pass start <= end")
    if per_day < 1:
        raise ValueError(f"per_day must be at least 1, got {per_day}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    out_dir = Path(out_dir)
    if not replace and (there := raw_exports_in_range(out_dir, start, end)):
        raise RawExportsThere(out_dir, there)
    n_days = (end - start).days + 1
    n_filler = round(FILLER_SHARE * per_day)

    def sizes(d: date) -> IntArray:
        return np.asarray(
            _rng(seed, d, _STREAM_COUNTS).multinomial(per_day, START_OFFSET_P), dtype=np.int64
        )

    cache: dict[tuple[date, int], pl.DataFrame] = {}

    def group(d: date, k: int) -> pl.DataFrame:
        if (d, k) not in cache:
            cache[(d, k)] = _core_group(seed, d, k, int(sizes(d)[k]), timezone)
        return cache[(d, k)]

    def started_on(x: date) -> list[tuple[date, int, int]]:
        """The groups whose interactions started on ``x``: the surveys of x, x+1 and x+2
        about it, and the contacts nobody was surveyed about."""
        later = [x + timedelta(days=k) for k in range(3)]
        return [(d, k, int(sizes(d)[k])) for k, d in enumerate(later)] + [
            (x, _FILLER_GROUP, n_filler)
        ]

    # Returns of earlier contacts and earlier contacts of later repeat issues, by the day the
    # contacts they belong to started; each computed once, dropped once every file is written.
    history: dict[tuple[date, bool], pl.DataFrame] = {}

    def history_landing_on(x: date) -> list[pl.DataFrame]:
        origins = [(x - timedelta(days=g), False) for g in range(1, MAX_RETURN_GAP + 1)]
        origins += [(x + timedelta(days=g), True) for g in range(1, MAX_PRIOR_GAP + 1)]
        for key in origins:
            if key not in history:
                history[key] = _history_contacts(
                    seed, key[0], started_on(key[0]), earlier=key[1], timezone=timezone
                )
        for key in list(history):
            if key not in origins:
                del history[key]
        return [history[key].filter(pl.col("lands_on") == x) for key in origins]

    files = [str(write_policies(out_dir).relative_to(out_dir).as_posix())]
    files.append(str(write_agents(out_dir, seed).relative_to(out_dir).as_posix()))
    kept_audit_files: list[str] = []
    kept_exports: list[KeptExport] = []
    lost: dict[date, set[str]] = {}
    per_day_stats: dict[str, dict[str, float | int]] = {}
    totals = {"surveys": 0, "interactions": 0, "audits": 0, "negatives": 0, "correct": 0}
    for offset in range(-2, n_days):
        x = start + timedelta(days=offset)
        parts = [group(x, 0), group(x + timedelta(days=1), 1), group(x + timedelta(days=2), 2)]
        parts.append(_core_group(seed, x, _FILLER_GROUP, n_filler, timezone))
        parts.extend(history_landing_on(x))
        lost[x], file_injected, height, kept = _interaction_file(
            out_dir, seed, x, parts, mess=mess, timezone=timezone, keep_existing=offset < 0
        )
        if kept is None:
            totals["interactions"] += height
            files.append(f"raw/{x:%Y-%m-%d}/interactions.jsonl")
        else:
            kept_exports.append(kept)
        if offset < 0:
            (out_dir / "truth").mkdir(parents=True, exist_ok=True)
            file_injected.sort("line").write_csv(out_dir / "truth" / f"{x:%Y-%m-%d}.injected.csv")
            files.append(f"truth/{x:%Y-%m-%d}.injected.csv")
        else:
            stats = _survey_day(
                out_dir,
                seed,
                x,
                [group(x, k) for k in range(3)],
                mess=mess,
                legacy=legacy_encoding_day == offset,
                lost_interactions=lost[x]
                | lost[x - timedelta(days=1)]
                | lost[x - timedelta(days=2)],
                interaction_injected=file_injected,
                timezone=timezone,
                audits_until=audits_until,
            )
            files.extend(stats.files)
            kept_audit_files.extend(stats.kept_audits)
            totals["surveys"] += stats.surveys
            totals["audits"] += stats.audits
            totals["negatives"] += stats.negatives
            totals["correct"] += stats.oracle_correct
            per_day_stats[f"{x:%Y-%m-%d}"] = {
                "surveys": stats.surveys,
                "audits": stats.audits,
                "negatives": stats.negatives,
                "oracle_accuracy": stats.oracle_correct / max(stats.negatives, 1),
            }
            lost.pop(x - timedelta(days=2), None)
        # a group is done once its survey day and its interaction file are both written
        for d, k in list(cache):
            file_done = d - timedelta(days=k) <= x
            survey_done = not (start <= d <= end) or d <= x
            if file_done and survey_done:
                del cache[(d, k)]

    files.append("truth/summary.json")
    summary = GenerationSummary(
        start=start,
        end=end,
        per_day=per_day,
        seed=seed,
        surveys=totals["surveys"],
        interactions=totals["interactions"],
        audits=totals["audits"],
        negatives=totals["negatives"],
        oracle_accuracy=totals["correct"] / max(totals["negatives"], 1),
        files=sorted(files),
        kept_audit_files=sorted(kept_audit_files),
        kept_exports=kept_exports,
    )
    payload = {
        **asdict(summary),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "mess": mess,
        "legacy_encoding_day": legacy_encoding_day if mess else None,
        "days": per_day_stats,
    }
    (out_dir / "truth" / "summary.json").write_text(json.dumps(payload, indent=2) + "\n")
    return summary
