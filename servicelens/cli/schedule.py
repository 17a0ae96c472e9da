"""``servicelens backfill`` and ``servicelens serve``: the analyst's backfill and the scheduler."""

from __future__ import annotations

import argparse
import calendar
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from servicelens.cli.console import (
    EXIT_KEPT_NOTHING,
    counts_detail,
    early_warning_lines,
    kept_none_of_many,
    print_json,
    said_on_terminal,
    table,
    warning_line,
)
from servicelens.cli.embedded_api import start_in_background, while_starting
from servicelens.cli.interrupts import said_when_stopped, stops_itself
from servicelens.dates import why_no_date
from servicelens.settings import Settings
from servicelens.storage.contract_versions import older_contracts_note
from servicelens.storage.runs import (
    RERUN_POLICIES,
    TODO_CHANGED,
    TODO_FAILED,
    PlannedDate,
    completed_since,
)

if TYPE_CHECKING:
    from servicelens.ingest.configured import UnreadableSource

#: A stopped backfill names the dates it completed up to this many, else counts them.
NAMED_AT_MOST = 5


def _detail(row: dict[str, Any]) -> str:
    """What happened to a date and, when something is left, what to do about it."""
    result = row.get("result") or {}
    parts = []
    if row["outcome"] == "completed":
        parts.append(counts_detail(result))
    elif row.get("error"):
        parts.append(str(row["error"]))
    if row.get("todo"):
        parts.append(f"to do: {row['todo']}")
    if row.get("recovered"):
        parts.append(f"recovered: {row['recovered']}")
    return "; ".join(parts)


def unscored_dates_note(rows: list[dict[str, Any]], settings: Settings) -> str | None:
    """When dates completed without a champion model (their negatives published with no
    root cause): how many, what to do about the model, and the backfill that scores them;
    else None. ``rows``: a backfill's (or ``run``'s) outcome rows of ``settings``' source
    (the sample's or a configured source's, whose registry is read). Found by a trial: a
    backfill before any model listed every date "completed ... scored 0" and exited 0
    without a word of it. A date with no negative response is not counted (a trial's note
    said 6 dates of 2 that had any); a result without the count is counted by its kept rows.

    Where training saved a version and kept it out (no skill over chance, too few audits to
    judge), the note names it, training's reason and how to promote it by hand, as the
    report and ``review-queue`` do (:func:`~servicelens.reporting.suggested.not_promoted_text`):
    a BI developer's trial read "Train one" right after ``train`` had refused its model."""
    from servicelens.reporting.suggested import not_promoted_text

    days = sorted(
        r["day"]
        for r in rows
        if r["outcome"] == "completed"
        and (result := r.get("result") or {}).get("model_version", "") is None
        and result.get("negatives", result.get("kept"))
    )
    if not days:
        return None
    flag = "" if settings.is_sample else f" --source {settings.source}"
    unscored = (
        f"no champion model yet: the negative responses of {len(days)} date(s) were published "
        "without root causes."
    )
    score = f"servicelens backfill{flag} --start {days[0]} --end {days[-1]} --rerun all"
    if (kept_out := not_promoted_text(settings)) is not None:
        return (
            f"{unscored} The {kept_out}. Once a model is champion (one trained on more audits "
            f"with `servicelens train{flag}`, or that one promoted), score them: {score}"
        )
    return f"{unscored} Train one (`servicelens train{flag}`), then score them: {score}"


def unrecorded_failures_note(rows: list[dict[str, Any]], source: str | None) -> str | None:
    """When dates failed and their failure could not be recorded, even when the backfill
    tried again at its end (``flows.dates.record_unrecorded_failures``): the dates and the
    one command that runs them again; else None. ``rows``: a backfill's outcome rows. Such
    a date reads as its last run left it (completed, say), so ``--rerun failed`` and
    ``--rerun missing`` skip it: a data engineer's trial found one after an object store
    stopped answering, told only in its table row."""
    from flows.dates import failure_unrecorded

    days = sorted(r["day"] for r in rows if failure_unrecorded(r["outcome"], r.get("todo") or ""))
    if not days:
        return None
    flag = f" --source {source}" if source else ""
    others = sum(days[0] <= r["day"] <= days[-1] and r["day"] not in days for r in rows)
    again = f" (it runs again the {others} other date(s) of that range)" if others else ""
    return (
        f"the failure of {len(days)} date(s) could not be recorded, at the backfill's end "
        f"either: {', '.join(days)}; they read as their last run left them, which --rerun "
        f"failed and --rerun missing skip. Once the data directory answers, run: "
        f"servicelens backfill{flag} --start {days[0]} --end {days[-1]} --rerun all{again}"
    )


#: Exit status of ``backfill`` when every date of the range is done, or held by a live run;
#: when a date failed, was found failed in another trigger, or could not run; and when the
#: only dates left are ones the rerun policy skipped because their last run failed.
EXIT_DONE, EXIT_INCOMPLETE, EXIT_SKIPPED_FAILED = 0, 1, 3


def exit_status(rows: list[dict[str, Any]]) -> int:
    """0, 1, 3 (see :data:`EXIT_DONE`) or 4 (``console.EXIT_KEPT_NOTHING``: nothing else
    to say, but a date read rows and kept none) from a backfill's outcome rows."""
    left = [r for r in rows if r.get("todo")]
    if any(r["outcome"] != "skipped" for r in left):
        return EXIT_INCOMPLETE
    # A date skipped though its inputs changed says so in its row; the policy asked for is
    # done (as --rerun missing asks, it runs what was never published).
    if any(r["todo"] == TODO_FAILED for r in left):
        return EXIT_SKIPPED_FAILED
    return EXIT_KEPT_NOTHING if any(kept_none_of_many(r) for r in rows) else EXIT_DONE


def _dry_run(args: argparse.Namespace, settings: Settings, days: list[date]) -> int:
    """The plan, with what would happen to each date (runs in flight included); no Prefect.
    (A sources-only directory without ``--source`` plans each source's partitions:
    :func:`_dry_run_every_source`.)

    Exits as the run would if every date it runs completed (a trial's script checked the
    dry run, got 0, and the run exited 3): 1 when a date would fail at once (no export, or
    a survey export whose header the run refuses), 3 when dates whose last run failed would
    be skipped, else 0."""
    if not days and not args.source:
        raise ValueError(f"--end {args.end} is before --start {args.start}")
    planned, plan, code = _dry_plan(args, settings, days)
    if args.json:
        print_json(planned)
        return code
    _print_dry_run(args, settings, planned, plan)
    return code


def _dry_plan(
    args: argparse.Namespace, settings: Settings, days: list[date]
) -> tuple[list[dict[str, str]], list[PlannedDate], int]:
    """A dry run's rows (date, state, action, what happens, reason), its plan, and the exit
    status the run would have (:func:`_dry_run`)."""
    from servicelens.storage.claims import in_flight_action
    from servicelens.storage.runs import backfill_plan, date_status

    statuses = [date_status(settings, d) for d in days]
    plan = backfill_plan(settings, statuses, args.rerun, args.newest_first, preview=True)
    planned = [
        {"date": str(p.day), "state": p.state, **in_flight_action(settings, p), "reason": p.reason}
        for p in plan
    ]
    if settings.is_sample:
        _with_header_refusals(settings, planned)
    skipped_failed = sum(p.todo == TODO_FAILED for p in plan)
    code = (
        EXIT_INCOMPLETE
        if any(FAILS_AT_ONCE in r["what_happens"] for r in planned)
        else EXIT_SKIPPED_FAILED
        if skipped_failed
        else EXIT_DONE
    )
    return planned, plan, code


def _print_dry_run(
    args: argparse.Namespace,
    settings: Settings,
    planned: list[dict[str, str]],
    plan: list[PlannedDate],
) -> None:
    """A dry run's table, its one-line summary and its notes, on stdout."""
    actions = [r["action"] for r in planned]
    skipped_failed = sum(p.todo == TODO_FAILED for p in plan)
    unit = table_unit(settings)
    shown = [{unit: r["date"], **r} for r in planned]
    print(table(shown, [unit, "state", "action", "what_happens", "reason"]))
    would = sum(a in ("run", "recover") for a in actions)
    line = f"dry run: {would} of {len(plan)} dates would run"
    extras = [
        f"{actions.count('recover')} after recovering a dead run" if "recover" in actions else "",
        f"{actions.count('held')} held by a live run" if "held" in actions else "",
        f"{actions.count('fail')} would fail at once: {_why_they_fail(planned)}"
        if "fail" in actions
        else "",
    ]
    if skipped_failed:
        extras.append(f"{skipped_failed} skipped though their last run failed (add --rerun failed)")
    skipped_changed = sum(p.todo == TODO_CHANGED for p in plan)
    if skipped_changed:
        extras.append(
            f"{skipped_changed} skipped though their inputs changed since their last run "
            "(add --rerun changed)"
        )
    extra = "; ".join(e for e in extras if e)
    print(line + (f" ({extra})" if extra else ""))
    if note := older_contracts_note(settings, args.source):
        print(note)
    if note := earlier_definition_note(args, settings):
        print(note)
    if note := unlanded_note(args, settings):
        print(note)
    if note := waiting_note(args, settings):
        print(note)


#: How a dry run's ``what_happens`` begins for a date whose run would fail at once.
FAILS_AT_ONCE = "fails at once: "


def _with_header_refusals(settings: Settings, planned: list[dict[str, str]]) -> None:
    """Mark each date of a sample dry run's ``planned`` rows that would run but whose survey
    export's header the run refuses (:func:`~servicelens.stages.survey_header_refusal`) as
    failing at once, in the run's words. Found by a user trial: a failed date whose export
    still had a renamed column was planned to run, exit 0, and the run failed it at once.
    A configured source's partitions are landed already mapped: no header is read again."""
    from servicelens.stages import survey_header_refusal

    for row in planned:
        if row["action"] not in ("run", "recover") or FAILS_AT_ONCE in row["what_happens"]:
            continue
        if not (refusal := survey_header_refusal(settings, date.fromisoformat(row["date"]))):
            continue
        if row["action"] == "run":
            row.update(action="fail", what_happens=FAILS_AT_ONCE + refusal)
        else:
            row["what_happens"] += f", and {FAILS_AT_ONCE}{refusal}"


def _why_they_fail(planned: list[dict[str, str]]) -> str:
    """``no export``, ``an export the run refuses`` or both: why the dry run's ``fail``
    dates would fail at once (the table says each one's reason)."""
    failing = [r["what_happens"] for r in planned if r["action"] == "fail"]
    missing = [w.startswith(f"{FAILS_AT_ONCE}no ") for w in failing]
    whys = ["no export"] if any(missing) else []
    return ", ".join(whys + ([] if all(missing) else ["an export the run refuses"]))


def earlier_definition_note(args: argparse.Namespace, source: Settings) -> str | None:
    """With ``--source``, how many dates (months) of the range hold rows landed under an
    earlier definition of the source than the registered one
    (:func:`~servicelens.ingest.landing.landed_under_earlier_definitions`): a backfill
    re-publishes them as they were landed, and what applies the new mapping (their raw
    deliveries dropped again into the inbox, landed by the next ``servicelens run``).
    Found by an analyst's trial: after ``sources add --replace`` a dry run listed 90 dates
    "completed, rerun=all", the backfill was taken to apply the new definition, and it
    republished identical marts. None without ``--source`` or such dates."""
    from servicelens.ingest.landing import landed_under_earlier_definitions
    from servicelens.stages import source_definition

    if not args.source or source.is_sample:
        return None
    earlier, landed = landed_under_earlier_definitions(
        source, source_definition(source), args.start, args.end
    )
    if not earlier:
        return None
    unit = "month" if source.partition == "month" else "date"
    span = str(earlier[0]) if len(earlier) == 1 else f"{earlier[0]}..{earlier[-1]}"
    return (
        f"{len(earlier)} of the {landed} {unit}(s) of source {args.source!r} in the range "
        f"({span}) hold rows landed under an earlier definition of the source: a backfill "
        "re-publishes them as they were landed (columns, attributes and labels as that "
        "definition mapped them; the current one's checks and negative rule apply). To map "
        "them with the current definition, land their deliveries again: put the raw copies "
        f"(under {source.deliveries_dir}) back into {source.inbox_dir}, and the next "
        '`servicelens run` lands them again and runs their dates (README, "Real exports")'
    )


def unlanded_note(args: argparse.Namespace, source: Settings) -> str | None:
    """With ``--source``, the days (months) of the range that have no landed partition, which
    the backfill's table leaves out (nothing to run): a trial's analyst could not tell a gap
    in the deliveries from a date that was skipped. None without ``--source`` or gaps."""
    from servicelens.ingest.configured import periods_text, unlanded_periods

    if not args.source:
        return None
    gaps = unlanded_periods(source, args.start, args.end)
    if not gaps:
        return None
    unit = "month" if source.partition == "month" else "day"
    return (
        f"{len(gaps)} {unit}(s) of the range have no landed partition of source "
        f"{args.source!r}, so nothing to run: {periods_text(gaps, source.partition)} (no "
        "delivery held surveys of them)"
    )


def waiting_note(args: argparse.Namespace, source: Settings) -> str | None:
    """With ``--source``, the files waiting in the source's inbox: a backfill runs landed
    partitions only, and a trial's analyst, a corrected export in the inbox, saw every date
    "skip  nothing to do" and exit 0. Only the files a run lands are said to be landed by
    it; the others are named with why not (:func:`~servicelens.ingest.configured.
    inbox_outlook`). None without ``--source`` or inbox files."""
    from servicelens.ingest.configured import inbox_outlook

    if not args.source:
        return None
    lands, left = inbox_outlook(source)
    if not lands and not left:
        return None
    said = []
    if lands:
        files = ", ".join(p.name for p in lands[:3]) + (", ..." if len(lands) > 3 else "")
        said.append(
            f"{len(lands)} file(s) wait in the inbox of source {args.source!r}, not landed yet "
            f"({files}; {source.inbox_dir}): a backfill runs what is landed; `servicelens run` "
            "lands them and runs the dates they hold"
        )
    if left:
        # Not "waiting to be landed": a run leaves them (found by a trial's dry run).
        said.append(
            f"{len(left)} file(s) in the inbox of source {args.source!r} that `servicelens "
            f"run` does not land now ({source.inbox_dir}): " + "; ".join(left)
        )
    return "; ".join(said)


def table_unit(settings: Settings) -> str:
    """The heading of a backfill table's first column: ``partition`` for a monthly source,
    whose rows are month partitions as `run` calls them (a platform engineer's trial read
    CFPB's months under "date"), else ``date``. JSON output keeps its ``date`` key."""
    return "partition" if settings.partition == "month" else "date"


def left_when_stopped(
    args: argparse.Namespace, settings: Settings, plan: list[PlannedDate], since: datetime
) -> str:
    """What a backfill stopped part way says about finishing: the dates of its ``plan`` it
    completed (recorded completed at ``since`` or later), and the backfill that runs only
    the dates left, those from the first one not completed, in the order the plan runs
    them, to the end of the range. Found by a user trial: "run the same command again"
    after a stopped ``--rerun all`` would have run every completed date again."""
    planned = [p.day for p in plan if p.run]
    done = [day for day in planned if completed_since(settings, day, since)]
    left = [day for day in planned if day not in done]
    if len(done) <= NAMED_AT_MOST:
        completed = ", ".join(str(day) for day in sorted(done)) or "none"
    else:
        completed = f"{len(done)} dates between {min(done)} and {max(done)}"
    said = f"completed before the stop: {completed} ({len(done)} of {len(planned)} to run)"
    if not left:
        return f"{said}; nothing is left to run"
    start, end = (args.start, max(left)) if args.newest_first else (min(left), args.end)
    command = (
        "servicelens backfill"
        + (f" --source {args.source}" if args.source else "")
        + f" --start {start} --end {end} --rerun {args.rerun}"
        + (" --newest-first" if args.newest_first else "")
        + (f" --concurrency {args.concurrency}" if args.concurrency > 1 else "")
    )
    said = f"{said}; to run the {len(left)} left: `{command}`"
    again = [day for day in done if start <= day <= end]
    if again and args.rerun == "all":
        # Dates run side by side finish out of order: some after the first one left.
        said += f" (it runs again {len(again)} completed date(s) of that range)"
    return said


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    """Plan (``--dry-run``) or run a backfill; print a table of dates, outcomes and what is
    left to do; exit 0 when every date is done (or held by a live run), 1 when a date did not
    complete, 3 when only dates skipped because their last run failed are left (a dry run:
    what the run would exit if the dates it runs completed).

    With ``--source`` the dates are that configured source's landed partitions in the range
    (months for a monthly source)."""
    from servicelens.ingest.configured import backfill_dates, backfill_refusal, only_sources
    from transforms.schemas import SAMPLE_SOURCE

    if args.source == SAMPLE_SOURCE:
        args.source = None  # the sample's dates: `query --source sample` names them so
    base = settings
    settings, days = backfill_dates(settings, args.start, args.end, args.source)
    # Refused here, before Prefect's API starts (14 s on a quiet machine to say the same);
    # the flow refuses too, for a deployment's run.
    if not args.source and (refusal := backfill_refusal(settings)):
        raise ValueError(refusal)
    if not args.source and only_sources(settings):
        # Every configured source, as the nightly run takes them (a new user's trial ran
        # last month again one command per source).
        return _backfill_every_source(args, base)
    if args.dry_run:
        return _dry_run(args, settings, days)

    # After the refusals: a Dask scheduler that does not answer starts no API.
    cluster = _start_backfill_api(args, settings)
    from flows.pipeline import finished_rows, outcome_counts
    from servicelens.cli.console import files_since
    from servicelens.storage.runs import backfill_plan, date_status

    # The bar counts mart partitions this backfill writes, out of the dates its plan will run.
    started = time.time()
    statuses = [date_status(settings, d) for d in days]
    plan = backfill_plan(settings, statuses, args.rerun, args.newest_first)
    to_run = sum(p.run for p in plan)
    since = datetime.now(UTC)
    state = _watched_backfill(
        args,
        base,
        cluster,
        left=lambda: left_when_stopped(args, settings, plan, since),
        to_run=to_run,
        written=lambda: files_since(
            settings.marts_dir / "feedback_scored", "survey_date=*/_manifest.json", started
        ),
        unit="date",
    )
    rows = finished_rows(state, "backfill")
    code = exit_status(rows)
    if args.json:
        print_json(rows)
        return code
    from flows.dates import DateOutcome

    unit = table_unit(settings)
    shown = [{**r, unit: r["day"], "detail": _detail(r)} for r in rows]
    print(table(shown, [unit, "outcome", "flow_run", "detail"]))
    for line in early_warning_lines(rows):
        print(line)
    print(outcome_counts([DateOutcome(**r) for r in rows]))
    if note := unscored_dates_note(rows, settings):
        print(note)
    if note := unrecorded_failures_note(rows, args.source):
        print(note)
    if note := older_contracts_note(settings, args.source):
        print(note)
    if note := earlier_definition_note(args, settings):
        print(note)
    if note := unlanded_note(args, settings):
        print(note)
    if note := waiting_note(args, settings):
        print(note)
    print(f"report: {settings.reports_dir / 'latest.html'}")
    if code == EXIT_INCOMPLETE:
        print("not every date completed: see 'to do' above (exit status 1)")
    elif code == EXIT_SKIPPED_FAILED:
        print(
            "dates whose last run failed were skipped: run again with --rerun failed to "
            "include them (exit status 3)"
        )
    if any(r.get("todo") == TODO_CHANGED for r in rows):
        print(
            "dates whose inputs changed since their last run were skipped: run again with "
            "--rerun changed to include them"
        )
    return code


def _start_backfill_api(args: argparse.Namespace, settings: Settings) -> str | None:
    """The Dask scheduler's address a backfill runs on (checked: one that does not answer,
    or whose workers would pseudonymise agents with another key, is refused before any API
    starts; workers on another Prefect API are warned of), or None; Prefect's API started
    in the background meanwhile, while the backfill's plan is made."""
    from flows.fanout import check_dask_address, check_dask_workers, dask_address

    cluster = dask_address(args.dask_address)
    if cluster:
        check_dask_address(cluster)
        for warning in check_dask_workers(cluster, settings):
            print(warning_line(warning), file=sys.stderr)
    start_in_background()
    return cluster


def _watched_backfill(
    args: argparse.Namespace,
    base: Settings,
    cluster: str | None,
    *,
    left: Callable[[], str],
    to_run: int,
    written: Callable[[], int],
    unit: str,
) -> Any:
    """Run the ``backfill`` flow of ``args`` on ``base``'s data directory (one source with
    ``--source``, else the sample's dates or every configured source) and return its final
    state; meanwhile a bar counts ``written()`` partitions out of ``to_run`` (each a
    ``unit``), a stop says ``left()`` (what is left to do), and flow heartbeats are kept."""
    from flows.pipeline import backfill
    from flows.prefect_client import prompt_flow_heartbeats
    from servicelens.cli.console import progress
    from servicelens.validation.expectations import survey_batch_suite

    with (
        said_when_stopped(left),
        said_on_terminal(),
        progress("backfill", to_run, written, enabled=not args.json, unit=unit),
        prompt_flow_heartbeats(),
    ):
        if cluster is None and to_run:  # the dates are validated here, not on Dask's workers
            while_starting(survey_batch_suite)
        return backfill(
            args.start,
            args.end,
            rerun=args.rerun,
            newest_first=args.newest_first,
            concurrency=args.concurrency,
            settings=base,
            dask_address=cluster,
            source=args.source,
            return_state=True,
        )


def _as_source(args: argparse.Namespace, name: str) -> argparse.Namespace:
    """``args`` as ``backfill --source NAME`` would have them: what that source's notes and
    stop message are said with."""
    return argparse.Namespace(**{**vars(args), "source": name})


def _worst(codes: list[int]) -> int:
    """One exit status for several sources' backfills: 1 if any did not complete, else 3
    if any skipped failed dates, else 4 if any kept none of many rows, else 0."""
    for code in (EXIT_INCOMPLETE, EXIT_SKIPPED_FAILED, EXIT_KEPT_NOTHING):
        if code in codes:
            return code
    return EXIT_DONE


def _backfill_every_source(args: argparse.Namespace, base: Settings) -> int:
    """``backfill`` without ``--source`` in a data directory holding only configured
    sources: each source's landed partitions in the range, one flow run for them all (the
    ``backfill`` flow takes every source there), then a table with a line per partition,
    a summary line per source and each source's notes. Exits as :func:`exit_status` of every
    source's rows: 1 when a partition of any source did not complete. A dry run plans each
    source as ``--source NAME --dry-run`` does, one table each."""
    from servicelens.ingest.configured import readable_configured_sources, sources_to_backfill

    ranges = sources_to_backfill(base, args.start, args.end)
    if args.dry_run:
        return _dry_run_every_source(args, ranges, readable_configured_sources(base)[1])

    cluster = _start_backfill_api(args, base)
    from flows.dates import DateOutcome
    from flows.pipeline import finished_rows, outcome_counts
    from servicelens.cli.console import files_since
    from servicelens.storage.runs import backfill_plan, date_status

    started = time.time()
    plans = [
        (
            chosen,
            backfill_plan(
                chosen, [date_status(chosen, d) for d in days], args.rerun, args.newest_first
            ),
        )
        for chosen, days in ranges
    ]
    since = datetime.now(UTC)

    def left() -> str:
        return "; ".join(
            f"source {chosen.source}: "
            + left_when_stopped(_as_source(args, chosen.source), chosen, plan, since)
            for chosen, plan in plans
            if any(p.run for p in plan)
        )

    state = _watched_backfill(
        args,
        base,
        cluster,
        left=left,
        to_run=sum(p.run for _, plan in plans for p in plan),
        written=lambda: files_since(
            base.root / "sources", "*/marts/feedback_scored/*/_manifest.json", started
        ),
        unit="partition",
    )
    rows = finished_rows(state, "backfill")
    code = exit_status(rows)
    if args.json:
        print_json(rows)
        return code
    shown = [
        {**r, "source": r["result"].get("source"), "partition": r["day"], "detail": _detail(r)}
        for r in rows
    ]
    print(table(shown, ["source", "partition", "outcome", "flow_run", "detail"]))
    for line in early_warning_lines(rows):
        print(line)
    for chosen, _ in ranges:
        name = chosen.source
        mine = [r for r in rows if r["result"].get("source") == name]
        counts = (
            outcome_counts([DateOutcome(**r) for r in mine])
            if mine
            else "nothing landed in the range"
        )
        print(f"{name}: {counts}")
        for note in (
            unscored_dates_note(mine, chosen),
            unrecorded_failures_note(mine, name),
            unlanded_note(_as_source(args, name), chosen),
            waiting_note(_as_source(args, name), chosen),
        ):
            if note:
                print(f"{name}: {note}")
    # Each source's report of this run (as `run` lists them: reporting.report.build_report).
    run_id = str(state.state_details.flow_run_id)[:8]
    for path in sorted(base.reports_dir.glob(f"report-*-{run_id}*.html")):
        print(f"report: {path}")
    failed = sorted({r["result"].get("source") for r in rows if r["outcome"] == "failed"})
    if code == EXIT_INCOMPLETE:
        print(
            f"not every partition completed (source(s): {', '.join(map(str, failed)) or '-'}): "
            "see 'to do' above (exit status 1)"
        )
    elif code == EXIT_SKIPPED_FAILED:
        print(
            "partitions whose last run failed were skipped: run again with --rerun failed to "
            "include them (exit status 3)"
        )
    return code


def _dry_run_every_source(
    args: argparse.Namespace,
    ranges: list[tuple[Settings, list[date]]],
    unreadable: list[UnreadableSource],
) -> int:
    """The dry run of :func:`_backfill_every_source`: each source's plan, as ``backfill
    --source NAME --dry-run`` prints it under a ``source NAME:`` heading (JSON: one list,
    each row naming its ``source``); the exit status the run would have. Each source of
    ``unreadable`` (its registered definition cannot be read, so its partitions cannot be
    planned) is one line, and one row of action ``fail`` without a date, saying why and
    what mends it, as the run fails it (an on-call engineer's dry run left such a source out
    without a word and exited 0, where the run exits 1)."""
    codes, rows = [], []
    for source in unreadable:
        codes.append(EXIT_INCOMPLETE)
        rows.append(
            {
                "source": source.source,
                "date": "",
                "state": "",
                "action": "fail",
                "what_happens": FAILS_AT_ONCE.rstrip(": "),
                "reason": source.reason,
            }
        )
        if not args.json:
            print(f"source {source.source}: would fail at once: {source.reason}")
    for chosen, days in ranges:
        planned, plan, code = _dry_plan(args, chosen, days)
        codes.append(code)
        rows += [{"source": chosen.source, **r} for r in planned]
        if not args.json:
            print(f"source {chosen.source}:")
            _print_dry_run(_as_source(args, chosen.source), chosen, planned, plan)
    if args.json:
        print_json(rows)
    return _worst(codes)


@stops_itself
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the nightly, backfill and retrain deployments on the configured Prefect API
    (without ``PREFECT_API_URL``, the embedded one, started with Prefect's scheduler service,
    which creates the scheduled runs)."""
    from datetime import UTC, datetime

    from prefect.settings import PREFECT_API_URL

    from flows.deployments import build_deployments, serve_deployments, serving_plan
    from flows.served import stopped_message

    # What each deployment will do, from the deployments serve registers (a cron Prefect
    # refuses stops here, before any server starts): a trial had to `prefect deployment
    # inspect` to learn the retrain's cron, timezone and data directory.
    plan = serving_plan(settings, build_deployments(settings), datetime.now(UTC))
    start_in_background(services=True)

    end = serve_deployments(settings, on_serving=lambda names: _print_serving(names, plan))
    if end.paused:
        print(
            f"stopped serving; the deployments are paused on {PREFECT_API_URL.value()}: their "
            "schedules create no runs until `servicelens serve` runs again, which resumes them",
            file=sys.stderr,
        )
    elif PREFECT_API_URL.value():
        print(
            f"stopped serving; the deployments could not be paused on {PREFECT_API_URL.value()} "
            "(the log says why): their schedules keep creating runs that nothing serves until "
            "`servicelens serve` runs again",
            file=sys.stderr,
        )
    else:
        print("stopped serving (the embedded API stopped with it)", file=sys.stderr)
    about_runs = stopped_message(end.stopped)
    if about_runs:
        print(about_runs, file=sys.stderr)
    return 0


def _print_serving(names: list[str], plan: list[str]) -> None:
    """What ``serve`` says once its deployments are registered: which, what each will do
    (``plan``: :func:`flows.deployments.serving_plan`), and the commands that
    run one now and list the runs from the project folder, through ``servicelens prefect``
    (Prefect's own banner said ``prefect deployment run [DEPLOYMENT_NAME]``, which a trial's
    terminal ran without the project's Prefect home and API: "Deployment ... not found!")."""
    command = _own_command()
    print(
        "Your deployments are being served and polling for scheduled runs: "
        + ", ".join(names)
        + "".join(f"\n{line}" for line in plan)
        + "\nTo run one now, or list the runs, from the project folder (Prefect's CLI with "
        "this project's Prefect home and serve's API):\n"
        f"  {command} prefect deployment run '{names[1] if len(names) > 1 else names[0]}' "
        "-p start=YYYY-MM-DD -p end=YYYY-MM-DD\n"
        f"  {command} prefect flow-run ls --flow-name {names[0].split('/')[0]}",
        flush=True,
    )


def _own_command() -> str:
    """This command as it was typed (``.venv/bin/servicelens``), or ``servicelens``."""
    import shlex
    from pathlib import Path

    typed = sys.argv[0] if sys.argv else ""
    return shlex.quote(typed) if Path(typed).name == "servicelens" else "servicelens"


def prefect_environment(environment: dict[str, str]) -> dict[str, str]:
    """``environment`` for Prefect's own CLI run beside this project's commands: the
    project's Prefect home and settings (``servicelens.cli.main._configure_prefect``, set in
    it already), and, unless ``PREFECT_API_URL`` names a server, the API of a running
    ``servicelens serve`` of that home (:func:`~servicelens.cli.embedded_api.serving_api_url`).
    Without one, Prefect's CLI starts a temporary API of its own over the same database."""
    from pathlib import Path

    from servicelens.cli.embedded_api import serving_api_url

    found = dict(environment)
    if not found.get("PREFECT_API_URL") and (url := serving_api_url(Path(found["PREFECT_HOME"]))):
        found["PREFECT_API_URL"] = url
    return found


def run_prefect_cli(words: list[str]) -> int:
    """``servicelens prefect ARGS``: Prefect's CLI (``prefect ARGS``) with
    :func:`prefect_environment`; its exit status."""
    import os
    import subprocess

    environment = prefect_environment(dict(os.environ))
    return subprocess.run(
        [sys.executable, "-m", "prefect", *words], env=environment, check=False
    ).returncode


def cmd_prefect(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens [--data-dir DIR] prefect ARGS`` (``servicelens prefect ...`` is run
    before the arguments are parsed: :func:`servicelens.cli.main.main`)."""
    return run_prefect_cli(list(args.prefect_args))


class MonthDay(date):
    """The day a month given as ``YYYY-MM`` stands for (its first or last day), knowing it
    was typed as a month (``typed``), so a refusal quotes the option as it was typed: a
    trial's reversed ``--start 2021-06 --end 2021-01`` was told to swap them as ``--start
    2021-01-31 --end 2021-06-01``, most of two months short. The command line makes it a
    plain date once the range is checked (:func:`plain_day`)."""

    typed: str = ""


def as_typed(day: date) -> str:
    """How ``day`` was typed on the command line: its month for a :class:`MonthDay`."""
    return getattr(day, "typed", "") or day.isoformat()


def plain_day(day: date) -> date:
    """``day`` as a plain date (a :class:`MonthDay`'s arithmetic would keep its class)."""
    return date(day.year, day.month, day.day)


def _month_day(year: int, month: int, last: bool) -> MonthDay:
    found = MonthDay(year, month, calendar.monthrange(year, month)[1] if last else 1)
    found.typed = f"{year:04d}-{month:02d}"
    return found


def day_or_month(day: Callable[[str], date], last: bool) -> Callable[[str], date]:
    """An argument type reading ``YYYY-MM-DD`` with ``day``, or a month ``YYYY-MM`` as its
    first day (``last`` False, for ``--start``) or its last day (``last`` True, for
    ``--end``): a monthly source's partitions are months. Raises
    ``argparse.ArgumentTypeError`` with the calendar's reason for text shaped as either
    that names none (:func:`servicelens.dates.why_no_date`: ``2026-02-30``, ``2026-13``),
    else naming both forms."""

    def parse(text: str) -> date:
        if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit():
            year, month = int(text[:4]), int(text[5:])
            if year >= 1 and 1 <= month <= 12:
                return _month_day(year, month, last)
        try:
            return day(text)
        except argparse.ArgumentTypeError:
            # The calendar's reason where the text is shaped as a date or a month (an
            # on-call engineer's trial: 2026-02-30 was told it is not shaped like one).
            if (reason := why_no_date(text)) is not None:
                raise argparse.ArgumentTypeError(
                    f"{text!r} is not a date or a month: {reason}"
                ) from None
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a date like 2026-11-01 or a month like 2026-11"
            ) from None

    return parse


def _at_least_one(text: str) -> int:
    """A count of 1 or more (``--concurrency``), refused by the parser, so a dry run refuses
    it as the real run does (a trial's ``--concurrency -3 --dry-run`` printed a plan)."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: use 1 or more")
    return value


def add_date_range(
    parser: argparse.ArgumentParser,
    day: Callable[[str], date],
    start_help: str,
    end_help: str,
    required: bool = False,
) -> None:
    """``--start`` and ``--end`` on ``parser``: a date read by ``day``, or a month
    (:func:`day_or_month`: from its first day, to its last), as every command taking a
    range reads them (backfill, review-queue, query)."""
    parser.add_argument(
        "--start", type=day_or_month(day, last=False), required=required, help=start_help
    )
    parser.add_argument(
        "--end", type=day_or_month(day, last=True), required=required, help=end_help
    )


def add_schedule_commands(sub: Any, day: Callable[[str], date]) -> None:
    """Register ``backfill`` and ``serve`` on the main parser's subcommands."""
    back = sub.add_parser(
        "backfill",
        help="run a date range, each date its own flow run; ends with a table of outcomes "
        "(exit 0: all done; 1: a date did not complete; 3: failed dates were skipped; 4: a "
        "date kept none of many rows)",
    )
    add_date_range(
        back,
        day,
        "first survey date, YYYY-MM-DD, or a month YYYY-MM from its first day (with "
        "--source: of its partitions; a month's partition is named by its first day)",
        "last survey date, YYYY-MM-DD (included), or a month YYYY-MM to its last day (the "
        "current month: to today)",
        required=True,
    )
    back.add_argument(
        "--rerun",
        choices=RERUN_POLICIES,
        default="missing",
        help="missing: never published (default); failed: also last run failed or crashed; "
        "changed: never published, or inputs changed since the last run (a late or corrected "
        "export); all: every date",
    )
    back.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan and what would happen to each date (runs in flight included); "
        "change nothing",
    )
    back.add_argument(
        "--source",
        default=None,
        help="a source configured in the data directory (`servicelens sources list`): its "
        "landed partitions in the range (months for a monthly source) instead of the sample's; "
        "without it, a data directory holding only configured sources backfills every one",
    )
    back.add_argument("--newest-first", action="store_true", help="run the latest dates first")
    back.add_argument(
        "--concurrency",
        type=_at_least_one,
        default=1,
        help="dates run at once (default 1); with --dask-address the cluster's workers decide",
    )
    back.add_argument(
        "--dask-address",
        default=None,
        help="run the planned dates on this Dask scheduler, e.g. tcp://HOST:8786 "
        "(default: $SERVICELENS_DASK_ADDRESS, else in this process)",
    )
    back.set_defaults(handler=cmd_backfill)

    serve = sub.add_parser(
        "serve",
        help="serve the nightly, backfill and retrain deployments until Ctrl-C (their "
        "schedules fire; on a Prefect server with PREFECT_API_URL)",
        # Shown as written (the examples' formatter keeps line breaks).
        description="Register the nightly, backfill and retrain deployments and run their flow "
        "runs until Ctrl-C.\n\n"
        "The Prefect server creates the scheduled runs (its scheduler service) and serve runs "
        "them.\nWithout PREFECT_API_URL, serve starts a temporary embedded API with Prefect's "
        "scheduler,\nwhich lives as long as this command: the nightly and retrain schedules "
        "fire while it runs.\nIn production, point PREFECT_API_URL at a server (`prefect server "
        "start`; README,\n'Schedules and backfills'): its UI shows the runs, and stopping "
        "serve pauses the schedules.",
    )
    serve.set_defaults(handler=cmd_serve)

    prefect = sub.add_parser(
        "prefect",
        help="Prefect's CLI with this project's Prefect home and the API of a running serve "
        "(e.g. `prefect deployment run 'backfill/servicelens-backfill' -p start=... -p "
        "end=...`, `prefect flow-run ls`)",
        add_help=False,
    )
    prefect.add_argument("prefect_args", nargs=argparse.REMAINDER)
    prefect.set_defaults(handler=cmd_prefect)
