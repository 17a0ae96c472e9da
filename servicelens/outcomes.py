"""What the marts lead to, as plain functions (no Prefect): the weekly fix list and agent
outcomes, and the nightly early warning.

* :func:`publish_weekly_marts` rebuilds ``marts/fix_list`` and ``marts/agent_outcomes`` for
  the weeks a run's dates touch: their own weeks, the weeks before whose first-contact
  resolution their contacts settle (a customer coming back is only known later), and the
  weeks whose fix-list window covers them. Both read the published partitions only, so a
  rebuild gives the same rows whichever run does it.
* :func:`early_warning` tests each policy's failure share of one date against its own
  recent history, all of it scored by the same champion.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from servicelens.dates import add_months, next_period
from servicelens.settings import Settings
from servicelens.stages import contact_history, load_clean
from servicelens.storage.fs import listings_reused, modified_at
from servicelens.storage.partitions import (
    DATA_FILE,
    MANIFEST_FILE,
    older_contract_partitions,
    partition_dir,
    read_manifest,
    scan_table,
    write_partition,
)
from transforms.agents import agent_outcomes, published_agents
from transforms.early_warning import (
    FAILURE_COUNT_SCHEMA,
    compare_with_history,
    failure_counts,
    false_alarm_statement,
    untested_reasons,
)
from transforms.fix_list import fix_list
from transforms.marts import model_versions_text
from transforms.repeat_contacts import with_returns
from transforms.schemas import (
    AGENT_OUTCOMES_SCHEMA,
    AGENT_OUTCOMES_VERSION,
    FIX_LIST_SCHEMA,
    FIX_LIST_VERSION,
    PARTITION_COLUMN,
    POSITIVE_CLASS,
    group_keys,
)

#: History days scored by another model are re-scored on at most this many negatives each:
#: enough for the history rate, bounded whatever the volume.
RESCORE_SAMPLE = 5_000
#: Comments shown behind each early-warning flag.
FLAG_COMMENTS = 3


#: A monthly source's fix-list window: this many months up to each month (a quarter).
MONTHLY_WINDOW_MONTHS = 3


def week_of(day: date) -> date:
    """The Monday of ``day``'s week (weeks start on Monday, like ``date_trunc('week')``)."""
    return day - timedelta(days=day.weekday())


def period_of(settings: Settings, day: date) -> date:
    """The weekly marts' period of ``day``: its week's Monday, or for a source partitioned by
    month (a low-volume source, whose weeks hold a handful of rows) its month's first day."""
    return day.replace(day=1) if settings.partition == "month" else week_of(day)


def period_end(settings: Settings, start: date) -> date:
    """The last survey date of the period starting ``start``."""
    if settings.partition == "month":
        return add_months(start, 1) - timedelta(days=1)
    return start + timedelta(days=6)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _published(table_dir: Any, days: list[date]) -> list[date]:
    return [d for d in days if (partition_dir(table_dir, d) / DATA_FILE).exists()]


def _rows(table_dir: Any, days: list[date], columns: list[str] | None = None) -> pl.DataFrame:
    """The rows of the published partitions of ``days`` (empty frame if none)."""
    found = _published(table_dir, days)
    if not found:
        return pl.DataFrame()
    scan = scan_table(table_dir, found)
    return scan.select(columns).collect() if columns else scan.collect()


def _models_that_ran(table_dir: Any, days: list[date]) -> str | None:
    """The model versions the manifests of ``days``' published partitions of ``table_dir``
    record as the champion that ran them (:func:`transforms.marts.model_versions_text`);
    None when none had one. feedback_scored's rows name a model only where it gave a root
    cause (contract 7)."""
    ran = [
        (read_manifest(table_dir, d) or {}).get("model_version")
        for d in _published(table_dir, days)
    ]
    return model_versions_text(pl.Series(ran, dtype=pl.String))


def weeks_touched(settings: Settings, days: list[date]) -> list[date]:
    """The Mondays of the weeks whose weekly marts processing ``days`` can change (for a
    monthly source: the months, and the months whose window covers them)."""
    if not days:
        return []
    if settings.partition == "month":
        first = period_of(settings, min(days) - timedelta(days=settings.return_window_days))
        last = add_months(period_of(settings, max(days)), MONTHLY_WINDOW_MONTHS - 1)
        months = (last.year - first.year) * 12 + last.month - first.month
        return [add_months(first, i) for i in range(months + 1)]
    settles = settings.return_window_days + settings.interaction_lookback_days + 1
    first = week_of(min(days) - timedelta(days=settles))
    last = week_of(max(days) + timedelta(days=settings.fix_list_window_days))
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _known_until(settings: Settings, first: date, last: date) -> pl.Expr:
    """Each contact's end of the contact history (UTC), as an expression over its
    ``started_at``: midnight (business time) after the last of the unbroken run of exports
    from the contact's own day (its period, for a monthly source) up to ``last``; the
    contact's own midnight where its day has none. A contact needs the history from its start
    to the end of its return window, not from the week's Monday: a week whose first days
    had no export (the history starts mid-week) was judged on nothing, its every contact
    unsettled (a trial's first week: 24,158 contacts, 0 settled, 24,158 by hand). A contact
    that started before ``first`` (a source's survey dated in the week about an earlier
    contact) is counted from ``first``."""
    zone = ZoneInfo(settings.timezone)
    indexed = set(_published(settings.contacts_dir, _days(first, last)))
    periods = [first]
    while next_period(periods[-1], settings.partition) <= last:
        periods.append(next_period(periods[-1], settings.partition))
    ends: dict[date, datetime] = {}
    run_end = next_period(periods[-1], settings.partition)
    for period in reversed(periods):
        if period not in indexed:
            run_end = period
        ends[period] = datetime.combine(run_end, datetime.min.time(), zone).astimezone(UTC)
    local_day = pl.col("started_at").dt.convert_time_zone(settings.timezone).dt.date()
    if settings.partition == "month":
        local_day = local_day.dt.month_start()
    own = pl.min_horizontal(pl.max_horizontal(local_day, pl.lit(first)), pl.lit(last))
    return own.replace_strict(ends, default=None, return_dtype=pl.Datetime("us", "UTC")).alias(
        "known_until"
    )


def outcome_agent_key(settings: Settings) -> bytes | None:
    """The key agent_outcomes pseudonymises ``settings``' source's agents with
    (:meth:`Settings.agent_key`); None where the source's definition lets its agent ids be
    shown as recorded (``Settings.reveal_agent_ids``)."""
    return None if settings.reveal_agent_ids else settings.agent_key()


def published_agent_ids(settings: Settings, agent_ids: pl.Series) -> pl.Series:
    """agent_outcomes' ``agent`` of each of ``agent_ids`` (String, the clean layer's
    ``agent_id`` of ``settings``' source): the mart's own pseudonym, under the mart's key
    (:func:`outcome_agent_key`, :func:`transforms.agents.published_agents`), so a row that
    names its agent so joins to the agent's weeks there. Raises ``ValueError`` as
    :meth:`Settings.agent_key` does (a key file inside the data directory)."""
    return published_agents(agent_ids, outcome_agent_key(settings))


def agent_week(settings: Settings, week: date) -> pl.DataFrame:
    """The agent outcomes of one week (a monthly source: one month; empty when no contact
    started in it)."""
    last_day = period_end(settings, week)
    week_days = _days(week, last_day)
    window = settings.return_window_days
    contacts = contact_history(settings, week_days).with_columns(
        pl.lit(settings.source).alias("source")
    )
    if contacts.height == 0:
        return pl.DataFrame(schema=AGENT_OUTCOMES_SCHEMA)
    horizon = last_day + timedelta(days=window + 1)
    later = contact_history(
        settings,
        _days(week, horizon),
        customers=contacts.select("customer_id", "queue").drop_nulls().unique(),
    )
    followed = with_returns(contacts, later, window, _known_until(settings, week, horizon))
    # Responses are about contacts of the week, surveyed that week or up to the look-back after.
    survey_days = _days(week, last_day + timedelta(days=settings.interaction_lookback_days))
    clean = _rows(settings.clean_dir, survey_days)
    if clean.height and not settings.is_sample:
        # A source's row is its own contact (transforms.clean.contacts_from_responses).
        clean = clean.with_columns(
            pl.coalesce("interaction_id", "response_id").alias("interaction_id")
        )
    responses = pl.DataFrame(
        schema={
            "source": pl.String,
            "agent_id": pl.String,
            "csat": pl.Int8,
            "rating": pl.String,
            "is_negative": pl.Boolean,
            "policy_code": pl.String,
        }
    ).with_columns(pl.lit(None, pl.String).alias("root_cause"))
    model_version = None
    if clean.height:
        scored = _rows(
            settings.marts_dir / "feedback_scored",
            survey_days,
            ["response_id", "root_cause", "model_version"],
        )
        responses = clean.join(followed.select("interaction_id"), on="interaction_id", how="semi")
        if scored.height:
            responses = responses.join(scored, on="response_id", how="left")
            # Every model that scored the week's responses (a week can straddle a promotion
            # until its dates are re-run); a week it gave no root cause (no negative) by the
            # model that ran its dates: 0 failures of 0 negatives, not "no model yet".
            model_version = model_versions_text(
                scored.get_column("model_version")
            ) or _models_that_ran(settings.marts_dir / "feedback_scored", survey_days)
        if "root_cause" not in responses.columns or model_version is None:
            responses = responses.with_columns(pl.lit(None, pl.String).alias("root_cause"))
    return agent_outcomes(
        followed,
        responses.select(
            *group_keys(responses.columns),
            "agent_id",
            "csat",
            pl.col("rating")
            if "rating" in responses.columns
            else pl.lit(None, pl.String).alias("rating"),
            "is_negative",
            "root_cause",
            # The policy of each perceived negative: top_perceived_policy.
            pl.col("policy_code")
            if "policy_code" in responses.columns
            else pl.lit(None, pl.String).alias("policy_code"),
        ),
        week,
        week_end=last_day,
        key=outcome_agent_key(settings),
        min_contacts=settings.min_agent_contacts,
        window_days=window,
        model_version=model_version,
    )


def fix_list_week(settings: Settings, week: date) -> pl.DataFrame:
    """The fix list of one week and of the window up to its last survey date (empty when the
    week has no published marts or nothing in it has been scored). A monthly source's
    period is a month, its window :data:`MONTHLY_WINDOW_MONTHS` months."""
    published = _published(
        settings.marts_dir / "feedback_scored", _days(week, period_end(settings, week))
    )
    if not published:
        return pl.DataFrame(schema=FIX_LIST_SCHEMA)
    end = max(published)
    start = end - timedelta(days=settings.fix_list_window_days - 1)
    period, last = "week", end
    if settings.partition == "month":
        start = add_months(week, 1 - MONTHLY_WINDOW_MONTHS)
        period, last = "month", period_end(settings, week)
    window = _rows(settings.marts_dir / "feedback_scored", _days(start, end))
    this_week = window.filter(pl.col("survey_date") >= week)
    first = min(_published(settings.marts_dir / "feedback_scored", _days(start, end)))
    return pl.concat(
        [
            fix_list(this_week, period, week, last, week),
            fix_list(window, "window", first, last, week),
        ]
    )


def _written_at(table_dir: Any) -> dict[date, float]:
    """When each partition of a table was written (its manifest's modification time), by
    partition date."""
    found: dict[date, float] = {}
    for manifest in table_dir.glob(f"{PARTITION_COLUMN}=*/{MANIFEST_FILE}"):
        key = manifest.parent.name.removeprefix(f"{PARTITION_COLUMN}=")
        try:
            found[date.fromisoformat(key)] = modified_at(manifest)
        except (ValueError, OSError):  # not a partition, or swapped away meanwhile
            continue
    return found


def days_behind_weekly_marts(settings: Settings) -> list[date]:
    """Published dates whose feedback_scored partition was written after the fix list or
    agent outcomes of a week (or month) they touch (:func:`weeks_touched`), or whose own week
    has none: a run stopped (Ctrl-C, a crash) after publishing them and before it rebuilt
    the weekly marts (or part way through rebuilding them), which the run that finishes the
    job did not know, since it does not run those dates again. Timed by the partitions'
    manifests (their files' modification times)."""
    weekly = [_written_at(settings.marts_dir / t) for t in ("fix_list", "agent_outcomes")]

    def behind(day: date, written: float) -> bool:
        touched = weeks_touched(settings, [day])
        return any(
            weekly_at.get(period_of(settings, day), 0.0) < written
            or any(weekly_at.get(week, written) < written for week in touched)
            for weekly_at in weekly
        )

    published = _written_at(settings.marts_dir / "feedback_scored")
    return sorted(day for day, written in published.items() if behind(day, written))


def weeks_of_older_contracts(settings: Settings) -> list[date]:
    """Weeks (a monthly source: months) whose agent outcomes or fix list were published under
    an older version of the table's contract: their columns match today's, their meaning
    does not (agent_outcomes before version 3 counted a return's first-contact resolution at
    once and a non-return's only after its window, so open weeks leaned towards returns).
    From each partition's ``schema_version``; rebuilt by :func:`publish_weekly_marts` from
    the published partitions."""
    found: set[date] = set()
    for table, version in (
        ("agent_outcomes", AGENT_OUTCOMES_VERSION),
        ("fix_list", FIX_LIST_VERSION),
    ):
        found.update(older_contract_partitions(settings.marts_dir / table, version))
    return sorted(found)


def publish_weekly_marts(
    settings: Settings, days: list[date], manifest: dict[str, Any]
) -> dict[str, Any]:
    """Rebuild and publish the fix list and agent outcomes of every week ``days`` touch, and
    of the weeks an earlier run left behind (:func:`days_behind_weekly_marts`).

    Weeks published under an older contract (:func:`weeks_of_older_contracts`) are rebuilt
    too, even with nothing to show (then empty, under the current contract): a platform
    engineer's upgrade found CFPB's fix list of a month whose delivery was all quarantined
    left at version 2 by every nightly run. Returns the weeks written and their row counts
    (``weeks``) and which of them were rebuilt for their contract
    (``older_contract_rebuilt``). Any other week with nothing to show is skipped (its old
    partition, if any, stays); a week's fix list is empty until a model has scored its
    negatives.

    On an object store each table is listed once for the whole rebuild
    (:func:`~servicelens.storage.fs.listings_reused`): a trial's 14 dates spent 4 minutes
    here, every week's every date a request or three of its own.
    """
    with listings_reused():
        return _publish_weekly_marts(settings, days, manifest)


def _publish_weekly_marts(
    settings: Settings, days: list[date], manifest: dict[str, Any]
) -> dict[str, Any]:
    weeks = set(weeks_touched(settings, days))
    for behind in days_behind_weekly_marts(settings):
        weeks.update(weeks_touched(settings, [behind]))
    older = weeks_of_older_contracts(settings)
    weeks.update(older)
    written: dict[str, dict[str, int]] = {}
    for week in sorted(weeks):
        agents = agent_week(settings, week)
        fixes = fix_list_week(settings, week)
        if (
            agents.height == 0
            and week not in older
            and not _published(
                settings.marts_dir / "feedback_scored", _days(week, period_end(settings, week))
            )
        ):
            continue
        counts = {"agent_outcomes": agents.height, "fix_list": fixes.height}
        full = {
            **manifest,
            "week": week.isoformat(),
            "period": {"start": week.isoformat(), "end": period_end(settings, week).isoformat()},
            "return_window_days": settings.return_window_days,
            "counts": counts,
        }
        for table, frame, schema in (
            ("agent_outcomes", agents, AGENT_OUTCOMES_SCHEMA),
            ("fix_list", fixes, FIX_LIST_SCHEMA),
        ):
            model = frame.get_column("model_version").drop_nulls()
            write_partition(
                frame,
                settings.marts_dir / table,
                week,
                schema,
                {**full, "model_version": model[0] if model.len() else None},
                settings.staging_dir,
            )
        written[week.isoformat()] = counts
    return {
        "weeks": written,
        "older_contract_rebuilt": sorted(w.isoformat() for w in older if w.isoformat() in written),
    }


# --- early warning ---------------------------------------------------------------------------

#: Re-scores clean negatives with today's champion (adds ``root_cause``) as its marts would
#: publish them: out-of-fold for the rows it was trained on (``with_out_of_fold_scores``).
Rescorer = Callable[[pl.DataFrame], pl.DataFrame]


def _history_counts(
    settings: Settings, day: date, version: str, rescore: Rescorer
) -> tuple[pl.DataFrame, list[str]]:
    """Failure counts of the history days, every one as today's champion's marts hold it (a
    day it published is read from feedback_scored, one an earlier champion published is
    re-scored by ``rescore``); and the days that had to be re-scored."""
    days = _days(day - timedelta(days=settings.early_warning_history_days), day - timedelta(1))
    frames, rescored = [], []
    for past in _published(settings.marts_dir / "feedback_scored", days):
        rows = _rows(settings.marts_dir / "feedback_scored", [past]).filter(pl.col("is_negative"))
        if rows.height == 0:
            continue
        if (rows.get_column("model_version") == version).all():
            frames.append(failure_counts(rows))
            continue
        negatives = load_clean(settings, past).filter(pl.col("is_negative"))
        if negatives.height > RESCORE_SAMPLE:
            negatives = negatives.sample(RESCORE_SAMPLE, seed=settings.seed)
        frames.append(failure_counts(rescore(negatives)))
        rescored.append(past.isoformat())
    empty = pl.DataFrame(schema=FAILURE_COUNT_SCHEMA)
    return pl.concat([empty, *frames], how="diagonal_relaxed"), rescored


def _comments(scored: pl.DataFrame, policy: str | None) -> list[str]:
    """Today's comments behind a policy's flag (``None``: the responses without a policy
    code): its failures the model was surest about."""
    return (
        scored.filter(
            # eq_missing: `== None` matches nothing, and a flag on the responses without a
            # policy code would show no comment behind it.
            pl.col("policy_code").eq_missing(pl.lit(policy, pl.String))
            & (pl.col("root_cause") == POSITIVE_CLASS)
            & pl.col("comment").is_not_null()
            & (pl.col("comment") != "")
        )
        .sort(["p_policy_failure", "response_id"], descending=[True, False])
        .head(FLAG_COMMENTS)
        .get_column("comment")
        .to_list()
    )


#: Why a date's early warning tested no policy when the date has no scored negative.
NOTHING_TO_TEST = "no negative response was scored on this date"


def early_warning(
    settings: Settings,
    day: date,
    scored: pl.DataFrame,
    version: str | None,
    rescore: Rescorer | None,
) -> dict[str, Any]:
    """Test each policy's failure share of ``day`` (``scored``: the date's responses with
    root causes, as feedback_scored publishes them) against the
    ``early_warning_history_days`` before it, so each policy's counts are the mart's.

    The result (JSON-ready, kept in the date's manifest) holds every policy's row of
    :func:`transforms.early_warning.compare_with_history`, the ``flags`` (policy, share,
    normal range, comments behind it) and how false alarms are controlled. Without a
    champion nothing is scored and nothing is tested.
    """
    if version is None or rescore is None:
        return {
            "day": day.isoformat(),
            "model_version": None,
            "status": "not tested: no champion model yet, so no failure share to compare",
            "tested": 0,
            "flags": [],
            "policies": [],
        }
    history, rescored = _history_counts(settings, day, version, rescore)
    tested = compare_with_history(
        failure_counts(scored),
        history,
        fdr=settings.early_warning_fdr,
        min_rise=settings.early_warning_min_rise,
        min_history_days=settings.early_warning_min_history_days,
    )
    count = int((tested.get_column("status") == "tested").sum())
    flags = [
        {
            "policy_code": row["policy_code"],
            "share": row["share"],
            "baseline_share": row["baseline_share"],
            "normal_range": [row["normal_low"], row["normal_high"]],
            "negatives": row["negatives"],
            "failures": row["failures"],
            "p_adjusted": row["p_adjusted"],
            "comments": _comments(scored, row["policy_code"]),
        }
        for row in tested.filter("flagged").iter_rows(named=True)
    ]
    # A date without a scored negative has no policy to test (a partition holding only
    # quarantined rows: a trial's report read "not tested: " and nothing after it).
    untested = (
        untested_reasons(tested, min_history_days=settings.early_warning_min_history_days)
        or NOTHING_TO_TEST
    )
    return {
        "day": day.isoformat(),
        "model_version": version,
        "status": f"{len(flags)} flag(s)" if count else f"not tested: {untested}",
        "tested": count,
        "flags": flags,
        "statement": false_alarm_statement(
            settings.early_warning_fdr, count, settings.early_warning_min_rise
        ),
        "history_rescored": rescored,
        "policies": tested.to_dicts(),
    }
