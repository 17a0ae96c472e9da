"""The ``servicelens`` command line: the entry point that builds settings and starts flows.

Prefect is imported only after its home is pointed inside the project (``.prefect/`` in the
checkout, :func:`servicelens.settings.project_dir`, unless ``PREFECT_HOME`` is set), so runs
never touch the user's home.

Start-up is part of the interface: ``--help``, ``query``, ``models list``, ``dictionary``,
``report`` and ``backfill --dry-run`` answer in well under two seconds because this module
imports nothing heavy at the top. Prefect, Great Expectations, scikit-learn and Dask are
imported inside the handlers that use them (``tests/bi/test_startup.py`` checks it).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from servicelens.cli.access import add_access_command
from servicelens.cli.embedded_api import start_in_background, while_starting
from servicelens.cli.erase import add_erase_command
from servicelens.cli.interrupts import (
    began_running,
    finishing_after_error,
    run_stoppable,
    said_when_stopped,
)
from servicelens.cli.logfile import log_file_path, logs_to_file
from servicelens.cli.runs import add_runs_commands
from servicelens.cli.schedule import add_date_range, add_schedule_commands
from servicelens.cli.sources import REPLACE_HELP, add_sources_commands
from servicelens.cli.upgrades import cmd_dictionary
from servicelens.dates import (
    SurveyDateError,
    refuse_after_current_period,
    refuse_future,
    refuse_reversed,
    today,
    why_no_date,
    yesterday,
)
from servicelens.reporting.analyst import (
    WORKSHEET_DELIMITERS,
    cmd_query,
    cmd_report,
    cmd_review_queue,
)
from servicelens.reporting.suggested import suggestions_name
from servicelens.runtime import is_rust_panic, raised_by_a_library
from servicelens.settings import (
    PREFECT_FILE_LEASES,
    PREFECT_LEASE_STORAGE_VARIABLE,
    SAMPLE_PER_DAY,
    SettingError,
    Settings,
    environment_timezone,
    timezone_origin,
    unread_variables,
)
from servicelens.storage.contract_versions import older_contracts_note

if TYPE_CHECKING:
    from servicelens.synthetic.generator import KeptExport

#: Commands that process survey dates: a date after today (business timezone) is refused.
PROCESSES_SURVEY_DATES = ("run", "backfill", "demo")


def _examples(end: date) -> tuple[str, dict[str, str]]:
    """The examples of ``--help`` and of each command's ``--help``, dated so they run as
    written after ``servicelens demo`` (whose 28 days end yesterday)."""
    week = (end - timedelta(days=6)).isoformat()
    first = (end - timedelta(days=27)).isoformat()
    last = end.isoformat()
    # A model version as training names it (flows/training.py): when it was saved, a checksum.
    version = f"{end:%Y%m%d}T050012345678Z-3f9c2a1b"
    main = f"""\
examples:
  servicelens demo                                   # sample data, every flow, a summary
  servicelens generate --start {week} --end {last} --per-day 2000 --seed 7
  servicelens run --date {last}                  # the nightly flow for one date
  servicelens backfill --start {week} --end {last} --rerun failed --dry-run
  servicelens serve                                  # nightly, backfill, retrain deployments
  servicelens train                                  # train, register, maybe promote
  servicelens report                                 # rebuild data/reports/latest.html
  servicelens query --list                           # example DuckDB queries over the marts
  servicelens query policies_by_root_cause --json    # one of them, as JSON
  servicelens dictionary --check                     # docs and files on disk match the contracts
  servicelens train --source cfpb --input complaints.csv   # a foreign export via a mapping
  servicelens score --source cfpb --input new.csv --output scored.parquet
  servicelens models list | promote VERSION | rollback
  servicelens run --date {last} --data-dir /srv/servicelens   # global options go anywhere

The newest run report is always at <data-dir>/reports/latest.html; column meanings are in
docs/data_dictionary.md. Add --json to any command for machine-readable output, -v to see
Prefect's log lines; without -v they go to <data-dir>/logs/ (for an s3:// data directory,
logs and reports go to $TMPDIR/servicelens-local/<hash>/ on this machine).

Exit status: 0 done; 1 a date failed, or a bug; 2 a one-line refusal; 3 and 4 `run` and
`backfill` outcomes; 130, 143 interrupted. Each command's --help lists its own.
"""
    commands = {
        "generate": f"servicelens generate --start {week} --end {last} --per-day 2000 --seed 7",
        "run": "servicelens run                      # yesterday, in the business timezone\n"
        f"  servicelens run --date {last} --json",
        "backfill": f"servicelens backfill --start {first} --end {last} --dry-run\n"
        f"  servicelens backfill --start {first} --end {last} --rerun failed",
        "train": "servicelens train --json",
        "erase": "servicelens erase --customer-id C123 --dry-run   # where the rows are\n"
        "  servicelens erase --customer-id C123 --yes --json\n"
        "  servicelens erase --response-id R1 --response-id R2 --source acme-qualtrics --yes",
        "access": "servicelens access --customer-id C123 --out answer-C123/\n"
        "  servicelens access --customer-id C123 --source acme-qualtrics --out answer/ --json",
        "demo": "servicelens demo                   # 28 days up to yesterday, 5000 surveys a day\n"
        "  servicelens demo --days 7 --per-day 500\n"
        "  servicelens demo --source cfpb --input ../shared/real/cfpb/complaints.csv",
        "report": "servicelens report && xdg-open data/reports/latest.html",
        "review-queue": "servicelens review-queue                 # the 50 most urgent, all dates\n"
        f"  servicelens review-queue --start {week} --output worksheet.csv\n"
        "  servicelens review-queue --source acme-qualtrics --limit 0 --json",
        "query": "servicelens query --list\n"
        "  servicelens query queues_that_bounce\n"
        "  servicelens query long_calls_are_not_failures --json\n"
        "  servicelens query agents_by_policy_failure_share --source telco-surveys\n"
        f"  servicelens query quarantined_rows --source acme-qualtrics --start {week} --limit 0",
        "dictionary": "servicelens dictionary > dictionary.md   # print it\n"
        "  servicelens dictionary --check          # docs and Parquet on disk match the contracts\n"
        "  servicelens dictionary --write          # after changing transforms/schemas.py",
        "serve": "PREFECT_API_URL=http://127.0.0.1:4200/api servicelens serve   # on `prefect "
        "server start`\n"
        "  SERVICELENS_NIGHTLY_CRON='*/5 * * * *' servicelens serve   # see the schedule fire\n"
        "  prefect deployment run 'backfill/servicelens-backfill' "
        f"-p start={first} -p end={last} -p rerun=failed",
        "score": "servicelens score --source cfpb --input new.csv --output scored.parquet\n"
        "  servicelens score --source acme-qualtrics.toml --input new.csv --output "
        f"scored.parquet --version {version}",
        "models": "servicelens models list                  # the survey model's versions\n"
        "  servicelens models --source cfpb list    # a source's registry\n"
        f"  servicelens models promote {version}\n"
        "  servicelens models rollback              # back to the champion it replaced",
        "models list": "servicelens models list                  # * marks the champion\n"
        "  servicelens models --source cfpb list --json",
        "models promote": f"servicelens models promote {version}   # a version from "
        "`models list`\n"
        f"  servicelens models --source cfpb promote {version}",
        "models rollback": "servicelens models rollback              # one champion further back\n"
        "  servicelens models --source cfpb rollback",
    }
    return main, commands


def _configure_prefect(verbose: bool = False) -> None:
    """Point Prefect at the project's home and, unless ``verbose``, keep its logging off the
    terminal (it goes to the command's log file, :mod:`servicelens.cli.logfile`).

    Environment variables, because Prefect reads them when it is first imported.
    """
    from servicelens.settings import project_dir
    from transforms.language import CACHE_DIR_VARIABLE, DEFAULT_CACHE_DIR

    # Beside the project, whichever folder the command runs in (servicelens.settings).
    os.environ.setdefault("PREFECT_HOME", str(project_dir() / ".prefect"))
    os.environ.setdefault(CACHE_DIR_VARIABLE, str(project_dir() / DEFAULT_CACHE_DIR))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")
    # The embedded server needs more than Prefect's default 20 s on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # Backfill slot leases must outlive the embedded server that granted them.
    os.environ.setdefault(PREFECT_LEASE_STORAGE_VARIABLE, PREFECT_FILE_LEASES)
    if not verbose:
        # Flow and task logs still reach the Prefect API (and UI) and the log file; the
        # terminal shows a progress bar and a summary. Prefect's internal logger writes to a
        # terminal handler of its own: it propagates to the log file instead.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_INTERNAL_PROPAGATE", "true")


def _stop_servers_left_behind() -> None:
    """Stop the embedded Prefect API servers that killed commands of this Prefect home left
    running (servicelens.cli.embedded_api), and say so in one line."""
    from servicelens.cli.embedded_api import stop_orphaned_servers, stopped_message

    stopped = stop_orphaned_servers(Path(os.environ["PREFECT_HOME"]))
    if stopped:
        print(stopped_message(stopped), file=sys.stderr)


def _day(text: str) -> date:
    """A date typed ``YYYY-MM-DD``, for options like ``--date``. Raises
    ``argparse.ArgumentTypeError`` saying why the text names no date: the calendar's
    reason when it is shaped as one (:func:`servicelens.dates.why_no_date`)."""
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        if (reason := why_no_date(text)) is not None:
            raise argparse.ArgumentTypeError(f"{text!r} is not a date: {reason}") from error
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from error


def _count(text: str) -> int:
    """A whole number of 0 or more, for options like ``--limit``."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return value


def _print(result: Any, as_json: bool) -> None:
    if as_json:
        from servicelens.cli.console import print_json

        print_json(result)


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.json


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from servicelens.cli.console import files_since, progress
    from servicelens.storage.fs import local_folder_for
    from servicelens.synthetic.generator import RawExportsThere, generate

    started = time.time()
    days = (args.end - args.start).days + 1
    # The generator writes local files; for an object store they are uploaded at the end.
    try:
        with (
            local_folder_for(settings.root) as out,
            progress(
                "generating",
                days,
                lambda: files_since(out / "raw", "*/surveys.csv", started),
                _show_progress(args),
                unit="day",
            ),
        ):
            summary = generate(
                out,
                args.start,
                args.end,
                args.per_day,
                args.seed,
                timezone=settings.timezone,
                audits_until=datetime.now(UTC),
                replace=args.replace,
            )
    except RawExportsThere as error:
        print(
            f"servicelens: error: {error}. To write them again, add --replace (the dates' "
            "runs will find their inputs changed), or generate dates that have none",
            file=sys.stderr,
        )
        return 2
    if args.json:
        _print(
            {
                k: [asdict(e) for e in v] if k == "kept_exports" else v
                for k, v in summary.__dict__.items()
                if k != "files"
            },
            True,
        )
        return 0
    print(
        f"generated {summary.surveys} surveys, {summary.interactions} interactions and "
        f"{summary.audits} audits for {summary.start}..{summary.end} into {settings.root / 'raw'}"
        f" (oracle accuracy on negatives {summary.oracle_accuracy:.3f})"
    )
    if summary.kept_audit_files:
        print(_kept_audits_note(summary.kept_audit_files))
    for kept in summary.kept_exports:
        print(kept_export_note(kept))
    return 0


def kept_export_note(kept: KeptExport) -> str:
    """What ``generate`` says of a look-back day's export it found and left as it was."""
    held = (
        "it holds the lines this run would have written"
        if kept.not_there == 0
        else f"{kept.not_there} of the {kept.lines} lines this run would have written are not "
        "in it: surveys about those contacts will find no interaction (quarantined). To "
        "rewrite it, generate from its date with --replace"
    )
    return f"left {kept.path} as it was (a raw export is never modified once there): {held}"


def _kept_audits_note(kept: list[str]) -> str:
    """What ``generate`` (and the demo) say of the audit files they found and kept."""
    shown = ", ".join(kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
    return (
        f"kept {len(kept)} audit file(s) already there as they were ({shown}): an audit file "
        "is never overwritten, as it may hold QA's verdicts"
    )


def _warnings_said(args: argparse.Namespace) -> AbstractContextManager[None]:
    """servicelens's warnings on stderr too (a dead run of the date recovered), except under
    ``--json``, whose output is the JSON alone."""
    from servicelens.cli.console import said_on_terminal

    return nullcontext() if args.json else said_on_terminal()


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from servicelens.cli.sources import run_nightly
    from servicelens.ingest.configured import (
        NO_EXPORTS_AT_ALL,
        configured_names,
        has_sample_exports,
        holds_nothing,
    )
    from servicelens.settings import SURVEYS_FILE

    day = args.date or yesterday(settings.timezone)
    if holds_nothing(settings):
        # Refused before anything runs: a run there recorded the date failed and made the
        # mistyped directory's folders (a platform engineer's trial, on an S3 prefix).
        raise ValueError(
            f"{settings.raw_day(day) / SURVEYS_FILE}: no survey export for {day}; nothing to "
            f"process ({NO_EXPORTS_AT_ALL.format(data_dir=settings.data_dir)})"
        )
    # The sample's raw/<date>/ layout, and every source configured in the data directory.
    sources = configured_names(settings)
    result: dict[str, Any] | None = None
    sample_skipped = _sample_skipped(settings, day) if sources else None
    if sample_skipped and not args.json:
        print(f"{day}: sample skipped: {sample_skipped}")
    sample_failed: str | None = None
    if (has_sample_exports(settings) or not sources) and not sample_skipped:
        start_in_background()
        from flows.pipeline import nightly
        from flows.prefect_client import prompt_flow_heartbeats
        from servicelens.storage.runs import read_outcome
        from servicelens.validation.expectations import survey_batch_suite

        recorded_before = read_outcome(settings, day)
        try:
            with said_when_stopped(_nothing_more), prompt_flow_heartbeats(), _warnings_said(args):
                while_starting(survey_batch_suite)
                result = nightly(day, settings)
        except _user_errors() as error:
            if isinstance(error, UnicodeError):
                raise
            if not sources:
                if _failed_while_running(settings, day, recorded_before):
                    _alert_failed_run(settings, [_failed_sample_row(settings, day, str(error))])
                    raise DateFailedError(str(error)) from error
                raise  # refused before the date ran (its lock held, a future date): 2
            # The date failed, recorded so; the configured sources still run (an operations
            # engineer's trial: one bad sample export left every source's inbox unlanded).
            sample_failed = str(error)
            print(f"servicelens: error: {day}: sample failed: {error}", file=sys.stderr)
        else:
            result = {**result, "left_failed": _left_failed(settings, day)}
            if not args.json:
                print(_counts_line(result, day))
                from servicelens.cli.console import early_warning_lines

                for line in early_warning_lines([{"day": str(day), "result": result}]):
                    print(line)
                for left in result["left_failed"]:
                    print(f"servicelens: {left['date']}: {left['why']}", file=sys.stderr)
                # As backfill says it (a platform engineer's trial: `run` with no model said
                # "(model None)" only, and the completed date is not run again by default).
                from servicelens.cli.schedule import unscored_dates_note

                completed = {"outcome": "completed", "day": day.isoformat(), "result": result}
                if unscored := unscored_dates_note([completed], settings):
                    print(unscored)
    rows: list[dict[str, Any]] = []
    # With only configured sources, the run writes one report per source
    # (flows.pipeline.nightly_report_settings).
    reports: list[Any] = []
    if sources:
        with said_when_stopped(_nothing_more), _warnings_said(args):
            rows, reports = run_nightly(args.date, settings, show=not args.json)
    if not args.json and (older := older_contracts_note(settings)):
        # After an upgrade the nightly run reads the partitions an earlier release wrote as
        # done (a platform engineer's first nightly said nothing of 60 of them).
        print(older)
    if args.json:
        sample = (
            {"skipped": sample_skipped}
            if sample_skipped
            else {"failed": sample_failed}
            if sample_failed
            else result
        )
        _print(result if not sources else {"sample": sample, "sources": rows}, True)
    elif result is None:
        for path in reports or [settings.reports_dir / "latest.html"]:
            print(f"report: {path}")
    else:
        print(f"report: {settings.reports_dir / 'latest.html'}")
    if sample_failed or any(r["outcome"] == "failed" for r in rows):
        sample_rows = [_failed_sample_row(settings, day, sample_failed)] if sample_failed else []
        _alert_failed_run(settings, [*sample_rows, *rows])
        return 1
    from servicelens.cli.console import EXIT_KEPT_NOTHING, kept_none_of_many

    sample_row = [] if result is None else [{"outcome": "completed", "result": result}]
    return EXIT_KEPT_NOTHING if any(kept_none_of_many(r) for r in [*sample_row, *rows]) else 0


def _failed_sample_row(settings: Settings, day: date, error: str) -> dict[str, Any]:
    """The outcome row of the sample's date that ``run`` processed and that failed."""
    from flows.dates import DateOutcome

    return asdict(DateOutcome.failed(settings, day.isoformat(), None, error))


def _alert_failed_run(settings: Settings, rows: list[dict[str, Any]]) -> None:
    """Alert ``SERVICELENS_NOTIFY_URL`` of this failed ``run`` (one alert, as the served
    nightly's: :func:`flows.notify.alert_on_failed_run`); a cron job's failed run alerted
    nobody (a QA lead's trial)."""
    from flows.notify import alert_on_failed_run

    alert_on_failed_run(settings, rows)


class DateFailedError(Exception):
    """A date ``run`` processed failed, and its outcome is recorded ``failed`` (``--rerun
    failed`` runs it again). The message is the date's error (file, line, column, what to
    change); the command exits 1, as the README's "Exit status" table says of a date that
    failed, not 2, which is for a command refused before or instead of running dates."""


def _nothing_more() -> None:
    """What a stopped ``run`` says of finishing: nothing more than "run the same command
    again" (:func:`~servicelens.cli.interrupts.said_when_stopped` marks its dates running)."""
    return None


def _failed_while_running(
    settings: Settings, day: date, recorded_before: dict[str, Any] | None
) -> bool:
    """Whether this command's run of ``day`` recorded it failed: its outcome record
    (``runs/survey_date=<day>.json``) is a failure written since ``recorded_before`` was read.
    A refusal before the date ran (its lock held by another run, a date in the future)
    records nothing."""
    from servicelens.storage.runs import read_outcome

    recorded = read_outcome(settings, day)
    return (
        recorded is not None
        and recorded.get("outcome") == "failed"
        and recorded.get("finished_at") != (recorded_before or {}).get("finished_at")
    )


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from servicelens.stages import refuse_training_without_clean_data

    # Refused before Prefect's API starts, as the flow would refuse it 9 s later.
    refuse_training_without_clean_data(settings)
    start_in_background()
    from flows.pipeline import train
    from flows.prefect_client import prompt_flow_heartbeats
    from servicelens.cli.console import steps_said

    with prompt_flow_heartbeats(), nullcontext() if args.json else steps_said():
        # Given settings, the flow trains that one model and returns its dict.
        result = cast(dict[str, Any], train(settings, folds=args.folds))
    _print(result, args.json)
    if not args.json:
        from servicelens.cli.models import decision_above_table

        decided = decision_above_table(result["decision"], result["metrics"])
        print(f"model {result['version']}: {decided}")
        if result["promoted"]:
            from servicelens.cli.models import rescore_hint

            if hint := rescore_hint(settings, settings.models_dir, None):
                print(hint, file=sys.stderr)
        if "audits" in result["metrics"]:
            from servicelens.ingest.audits import accounting_text

            print(accounting_text(result["metrics"]["audits"]))
        print(metrics_lines(result["metrics"]))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    if args.source:  # a real export end to end: the same as `sources demo`
        from servicelens.cli.sources import run_source_demo

        return run_source_demo(args.source, args.input, settings, args.json, args.replace)
    end = args.end or yesterday(settings.timezone)
    start = args.start or end - timedelta(days=args.days - 1)
    refuse_reversed(start, end, ("--start", "--end"))
    start_in_background()
    from flows.pipeline import demo
    from flows.prefect_client import prompt_flow_heartbeats
    from servicelens.cli.console import files_since, progress

    days = (end - start).days + 1
    started = time.time()

    def steps_done() -> int:
        # generate (a survey file per day), ingest (a clean partition per day), train (one
        # model version), publish (a mart partition per day): 3 * days + 1 steps.
        return (
            files_since(settings.root / "raw", "*/surveys.csv", started)
            + files_since(settings.clean_dir, "survey_date=*/_manifest.json", started)
            + files_since(settings.models_dir, "*/metrics.json", started)
            + files_since(
                settings.marts_dir / "feedback_scored", "survey_date=*/_manifest.json", started
            )
        )

    with (
        progress("demo", 3 * days + 1, steps_done, _show_progress(args)),
        prompt_flow_heartbeats(),
    ):
        result = demo(settings, start, end, args.per_day, args.seed)
    _print(result, args.json)
    if not args.json:
        print(_demo_summary(result, settings))
    return 0


def _sample_skipped(settings: Settings, day: date) -> str | None:
    """Why ``servicelens run`` skips the sample's date ``day`` in a data directory that
    also holds configured sources, or None to run it: the sample has no export for the day
    (``raw/<day>/surveys.csv``). A trial's run of a date only a source had failed on the
    sample's missing export (exit 2) and never ran the sources. With no source configured,
    a missing export still fails the run: the sample is then all there is to run."""
    from servicelens.ingest.configured import has_sample_exports
    from servicelens.settings import SURVEYS_FILE

    export = settings.raw_day(day) / SURVEYS_FILE
    if not has_sample_exports(settings) or export.exists():
        return None
    return f"no survey export ({export}): nothing to process (the configured sources still run)"


def _left_failed(settings: Settings, day: date | None) -> list[dict[str, str]]:
    """The look-back dates before ``day`` (default yesterday) whose last run failed and
    whose inputs have not changed since, as the nightly window names them, and those whose
    inputs changed since their last run or whose publish a stopped run left half done,
    which it would run (``date``, and ``why``: what is left and the backfill that runs
    it). `servicelens run` runs one date; a QA lead's trial saw it exit 0 in silence with an
    earlier date still failed."""
    from datetime import timedelta

    from servicelens.dates import yesterday
    from servicelens.storage.runs import (
        INPUTS_CHANGED,
        changed_since_run,
        date_status,
        left_failed,
    )

    target = day or yesterday(settings.timezone)
    found = []
    for back in range(1, settings.late_data_lookback_days + 1):
        status = date_status(settings, target - timedelta(days=back))
        # Only the inputs of a date whose files are newer than its result are hashed (a
        # completed 1M date's are hundreds of MB).
        changed = changed_since_run(settings, status)
        if status.state == "failed" and not changed:
            left = left_failed(settings, status, "servicelens backfill")
            found.append({"date": str(status.day), "why": f"{left.reason}. {left.todo}"})
        elif status.torn:
            # Half published by a run that stopped: the nightly window runs it again.
            found.append(
                {
                    "date": str(status.day),
                    "why": f"{status.detail} (the nightly window runs it): `servicelens "
                    f"backfill --start {status.day} --end {status.day}`",
                }
            )
        elif changed:
            # An operator's trial corrected a look-back date's export: the served nightly
            # window runs it, `servicelens run` (one date) passed it over in silence.
            rerun = "failed" if status.state == "failed" else "changed"
            found.append(
                {
                    "date": str(status.day),
                    "why": f"{INPUTS_CHANGED} (the nightly window runs it): "
                    f"`servicelens backfill --start {status.day} --end {status.day} "
                    f"--rerun {rerun}`",
                }
            )
    return found


def _counts_line(row: dict[str, Any], day: date) -> str:
    """The sample date's lines of ``servicelens run``: its date (a trial's first line said
    "read 5096 kept 4909 ..." of no date), its counts, the quarantined rows split into
    superseded copies and rejects as the demo's summary and the run report split them, and
    the model that scored it; then, where interaction records were quarantined, the demo's
    line saying how many and where (:func:`rows_in_lines`; a README walker's trial read
    neither on `run`, which the README says every run summary gives). The quarantined are
    split as :func:`~servicelens.validation.reasons.quarantined_split` splits them, the rows
    a definition's ``[[exclude]]`` rules set aside apart from the rejects, and the rows
    erased on request are named: read = kept + quarantined (+ erased)."""
    from servicelens.validation.reasons import quarantined_split

    quarantined = row.get("quarantined") or 0
    superseded = row.get("superseded_duplicates") or 0
    set_aside = row.get("set_aside") or 0
    split = (
        f" ({quarantined_split(quarantined, superseded, set_aside)})"
        if superseded or set_aside
        else ""
    )
    erased = f" erased on request {n}" if (n := row.get("erased")) else ""
    line = (
        f"{day}: read {row.get('surveys_read')} kept {row.get('kept')} quarantined "
        f"{row.get('quarantined')}{split}{erased} negatives scored {row.get('scored')} "
        + (
            f"(model {version})"
            if (version := row.get("model_version"))
            else "(no champion model yet)"
        )
    )
    from servicelens.cli.console import changed_note

    return "\n".join([line, *changed_note(row), *rows_in_lines([row])[1:]])


def metrics_lines(metrics: dict[str, Any]) -> str:
    """``train``'s table: the design training chose and the candidates it compared
    (:func:`~servicelens.cli.models.selection_lines`), then the model and every baseline
    ``metrics`` (a version's ``metrics.json``) holds on the time split's test slice, then the
    model cross-validated on every labelled row, with a line naming a baseline that ranks the
    holdout better than the model (a trial read only cross-validated and time-split ROC-AUC
    on the terminal while the facts-only baseline ranked better), the best rule, and which
    rows each figure is on: the time split's, with how many repeat a training row's comment,
    and the cross-validation's, on which skill over chance is judged (a QA lead's trial read
    a refusal for no skill, ROC-AUC 0.449, above a table of 1.000s with no word of why)."""
    from servicelens.cli.models import decision_lines, selection_lines

    width = 25
    # Every training records its selection; metrics without one print no design line.
    lines = selection_lines(selection) if (selection := metrics.get("selection")) else []
    lines += [f"{'':<{width}}{'accuracy':>9}{'roc_auc':>9}{'macro_f1':>9}{'brier':>8}{'ece':>7}"]
    baselines = [
        ("majority baseline", metrics["majority_baseline"]),
        # A training slice on which every rule is constant has none to score.
        *(
            [("best single rule", rule)]
            if "rule" in (rule := metrics["best_rule_baseline"])
            else []
        ),
        *[
            (name, metrics[key])
            for name, key in (
                ("text only baseline", "text_only_baseline"),
                ("facts only baseline", "facts_only_baseline"),
            )
            if key in metrics
        ],
    ]
    rows = [("model, time split", metrics["model"]), *baselines]
    truth = metrics.get("against_truth") or {}
    if truth:
        rows += [
            ("model vs truth", truth["model_vs_truth"]),
            ("oracle vs truth", truth["oracle_vs_truth"]),
        ]
    cv = metrics.get("cross_validation") or {}
    if "roc_auc" in cv:
        rows.append(("model, cross-validated", cv))
    nan = float("nan")
    for name, m in rows:
        lines.append(
            f"{name:<{width}}{m.get('accuracy', nan):>9.3f}{m.get('roc_auc', nan):>9.3f}"
            f"{m.get('macro_f1', nan):>9.3f}{m.get('brier', nan):>8.3f}{m.get('ece', nan):>7.3f}"
        )
    # Every headline metric a learned baseline wins, as a source's training says it (a data
    # scientist's trial: CFPB's facts-only baseline won macro-F1 and accuracy too, unsaid).
    from models.evaluate import baselines_ahead_text, rule_baseline_text

    if ahead := baselines_ahead_text(metrics):
        lines.append(ahead)
    lines.append(f"best single rule: {rule_baseline_text(metrics['best_rule_baseline'])}")
    split = metrics["split"]
    seen = split.get("test_rows_with_training_text")
    lines.append(
        f"time split: trained on {split['train_rows']:,} labelled rows, tested on "
        f"{split['test_rows']:,} ({split['test_from']}..{split['test_to']})"
        + (f", {seen:,} of them repeating a training row's comment" if seen else "")
        + ": the model's time split row"
        + (", the truth rows" if truth else "")
        + " and the baselines are scored on these"
    )
    lines += decision_lines(metrics)
    if "roc_auc" in cv:
        labelled = split["train_rows"] + split["test_rows"]
        shared = cv.get("shared_text_rows")
        apart = (
            f" nor on a copy of its comment ({int(shared):,} share theirs with another)"
            if cv.get("grouped_by_text") is True and shared
            else ""
        )
        lines.append(
            f"cross-validated: all {labelled:,} labelled rows, each scored by a model that did "
            f"not train on it{apart}; skill over chance is judged on these"
        )
    return "\n".join(lines)


def rows_in_lines(ingested: list[dict[str, Any]]) -> list[str]:
    """The demo's reconciliation of survey rows over its dates (``ingested``: one dict of
    :class:`servicelens.stages.DayCounts` fields per date), and, where interaction records
    were quarantined, a line saying how many and where: the quarantine mart holds them
    beside the survey rows, ``feed = 'interactions'`` (found by a QA lead's trial: the mart
    held 5,799 rows against the 5,690 quarantined the summary printed)."""
    read = sum(r["surveys_read"] for r in ingested)
    kept = sum(r["kept"] for r in ingested)
    from servicelens.validation.reasons import quarantined_split

    quarantined = sum(r["quarantined"] for r in ingested)
    superseded = sum(r.get("superseded_duplicates", 0) for r in ingested)
    set_aside = sum(r.get("set_aside") or 0 for r in ingested)
    erased = sum(r.get("erased", 0) for r in ingested)
    lines = [
        (
            f"rows in {read}, kept {kept}, quarantined {quarantined} (read = kept + quarantined:"
            f" {read == kept + quarantined})"
            if not erased
            else f"rows in {read}, kept {kept}, quarantined {quarantined}, erased on request "
            f"{erased} (read = kept + quarantined + erased: {read == kept + quarantined + erased})"
        )
        # As the quarantine's superseded column splits them (a BI analyst's trial read a
        # quarantined count of re-delivered copies as rejects).
        + (
            f"; of the quarantined, {quarantined_split(quarantined, superseded, set_aside)}"
            if superseded or set_aside
            else ""
        )
    ]
    interactions = sum(r.get("interactions_quarantined", 0) for r in ingested)
    if interactions:
        interactions_read = sum(r.get("interactions_read", 0) for r in ingested)
        lines.append(
            f"interaction records: {interactions} of {interactions_read} quarantined too; the "
            f"quarantine mart holds them beside the survey rows (feed = 'interactions'), "
            f"{quarantined + interactions} rows in all"
        )
    return lines


def _changed_lines(ingested: list[dict[str, Any]], published: list[dict[str, Any]]) -> list[str]:
    """The demo's line above its table when dates it ran before have other counts now
    (:func:`servicelens.reporting.rerun.changed_since_previous`), with where to read why."""
    from servicelens.cli.console import QUARANTINE_HINT
    from servicelens.reporting.rerun import changed_since_previous

    rows = [{**i, **p} for i, p in zip(ingested, published, strict=True)]
    line = changed_since_previous(rows)
    return [f"{line}. {QUARANTINE_HINT}"] if line else []


def _change_cell(ingested: dict[str, Any], published: dict[str, Any]) -> str:
    """A date's cell of the demo table's "changed since previous run" column."""
    from servicelens.reporting.rerun import counts_change

    if not ingested.get("previous_counts"):
        return "first run"
    return counts_change(ingested["previous_counts"], {**ingested, **published}) or "no"


def _demo_summary(result: dict[str, Any], settings: Settings) -> str:
    from servicelens.cli.console import table, trained_rows_line
    from servicelens.cli.models import decision_above_table
    from servicelens.reporting.rerun import counts_change

    ingested = result["ingested"]
    published = result["published"]
    changed = any(
        counts_change(i.get("previous_counts"), {**i, **p})
        for i, p in zip(ingested, published, strict=True)
    )
    scored = sum(r["scored"] for r in published)
    trained = result["trained"]
    return "\n".join(
        [
            "",
            "servicelens demo: done",
            f"dates {ingested[0]['day']}..{ingested[-1]['day']} ({len(ingested)} days)",
            *rows_in_lines(ingested),
            *(
                [_kept_audits_note(kept_audits)]
                if (kept_audits := result["generated"].get("kept_audit_files"))
                else []
            ),
            f"negatives scored {scored} with model {trained['version']} "
            f"({decision_above_table(trained['decision'], trained['metrics'])})",
            *([line] if (line := trained_rows_line(published)) else []),
            metrics_lines(trained["metrics"]),
            "",
            *_changed_lines(ingested, published),
            table(
                [
                    {
                        "date": i["day"],
                        "read": i["surveys_read"],
                        "kept": i["kept"],
                        "quarantined": i["quarantined"],
                        "negatives": p["negatives"],
                        "failures": p["policy_failures"],
                        "review": p["needs_review"],
                        # Only when a date's counts differ from its previous run's.
                        **({"changed since previous run": _change_cell(i, p)} if changed else {}),
                    }
                    for i, p in zip(ingested, published, strict=True)
                ]
            ),
            "",
            f"marts: {settings.marts_dir}/feedback_scored, {settings.marts_dir}/daily_summary",
            f"quarantine: {settings.quarantine_dir}   models: {settings.models_dir}",
            f"report: {result.get('report')}",
            f"        newest always at {settings.reports_dir / 'latest.html'}",
            "next: open the report in a browser; `servicelens query --list` for DuckDB questions",
        ]
    )


class _Parser(argparse.ArgumentParser):
    """argparse, with a hint after a usage error: where the options of the command are.
    With ``--json`` on the command line, the error also goes to stdout as the JSON document
    every other failure prints (:func:`_fail`): a trial's script met empty stdout for
    ``run --date 2026-13-01 --json``."""

    #: The command line being parsed (main sets it): whether --json was asked for.
    argv: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        said = f"{message} (see `{self.prog} --help`)"
        if "--json" in _Parser.argv:
            _print_json_error(f"{self.prog}: {said}", None)
        self.exit(2, f"{self.prog}: error: {said}\n")


GLOBAL_OPTIONS = "global options (before or after the command)"


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--json`` and ``-v``, accepted by ``parser`` and listed in its help.

    Every parser gets them with no default (SUPPRESS): a value given before the command is
    not overwritten by the command's parser, and :func:`_global_defaults` fills the rest.
    """
    group = parser.add_argument_group(GLOBAL_OPTIONS)
    taken = parser._option_string_actions
    if "--data-dir" not in taken:
        group.add_argument(
            "--data-dir",
            metavar="DIR",
            default=argparse.SUPPRESS,
            help="data directory, local or s3://bucket/prefix "
            "(default: $SERVICELENS_DATA_DIR or ./data)",
        )
    if "--json" not in taken:
        group.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON"
        )
    if "-v" not in taken and "--verbose" not in taken:
        group.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show Prefect's log lines and any traceback on the terminal "
            "(otherwise they go to <data-dir>/logs/; for an s3:// data directory, to "
            "$TMPDIR/servicelens-local/<hash>/logs/)",
        )


def _global_defaults(args: argparse.Namespace) -> argparse.Namespace:
    for name, default in (("data_dir", None), ("json", False), ("verbose", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return args


def _subcommands(
    parser: argparse.ArgumentParser, within: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every subcommand parser under ``parser``, nested ones included, each with its whole
    name (``models list``, ``sources run``: not ``run``, which is another command)."""
    seen: set[int] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                if id(command) not in seen:  # an alias is the same parser again
                    seen.add(id(command))
                    whole = f"{within} {name}".strip()
                    yield whole, command
                    yield from _subcommands(command, whole)


def build_parser(today_end: date | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``today_end`` dates the examples (default: yesterday)."""
    timezone = environment_timezone()
    examples, command_examples = _examples(today_end or yesterday(timezone))
    parser = _Parser(
        prog="servicelens",
        description="Feedback-survey pipeline: perceived bad service vs real policy failures.",
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="write deterministic synthetic source exports")
    gen.add_argument("--start", type=_day, required=True)
    gen.add_argument("--end", type=_day, required=True)
    gen.add_argument("--per-day", type=int, default=SAMPLE_PER_DAY)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument(
        "--replace",
        action="store_true",
        help="write the dates' raw exports again where they are there already (refused "
        "otherwise: raw exports are never modified once delivered)",
    )
    gen.set_defaults(handler=cmd_generate)

    run = sub.add_parser(
        "run",
        help="the nightly flow for one survey date",
        description=textwrap.fill(
            "The nightly job, as its schedule runs it. The sample feed (raw/<date>/ in the "
            "data directory, if it has one): the date's surveys validated, cleaned, scored "
            "and published as marts, with the run report. Then every configured source "
            "(`servicelens sources add`): the files dropped in its inbox are landed and the "
            "partitions they changed are run. Exit status 1 when a partition of a source "
            "failed; a date or partition left failed by an earlier run is named.",
            80,
        ),
    )
    run.add_argument(
        "--date",
        type=_day,
        default=None,
        help="survey date, YYYY-MM-DD (default: yesterday in the business timezone)",
    )
    run.set_defaults(handler=cmd_run)

    add_schedule_commands(sub, _day)
    add_sources_commands(sub)
    add_runs_commands(sub)
    add_erase_command(sub)
    add_access_command(sub)

    train = sub.add_parser("train", help="train a challenger model and promote it if not worse")
    train.set_defaults(handler=cmd_train)
    # score, models list|promote|rollback, and train --source/--input (servicelens/cli/models.py)
    from servicelens.cli.models import add_arguments as add_model_commands

    add_model_commands(sub, train)

    demo = sub.add_parser("demo", help="sample data -> every flow -> marts, with a summary")
    demo.add_argument("--start", type=_day, default=None)
    demo.add_argument("--end", type=_day, default=None, help="default: yesterday")
    demo.add_argument("--days", type=int, default=28)
    demo.add_argument("--per-day", type=int, default=SAMPLE_PER_DAY)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--source",
        default=None,
        help="run a real export instead of sample data: a built-in definition (cfpb) or a "
        "definition file; needs --input (same as `servicelens sources demo`)",
    )
    demo.add_argument("--input", nargs="+", default=None, help="the export(s) for --source")
    demo.add_argument("--replace", action="store_true", help=f"with --source: {REPLACE_HELP}")
    demo.set_defaults(handler=cmd_demo)

    report = sub.add_parser("report", help="write the HTML run report from what is on disk")
    report.add_argument(
        "--source", default=None, help="a configured source's report instead of the sample's"
    )
    report.set_defaults(handler=cmd_report)

    queue = sub.add_parser(
        "review-queue",
        help="the responses most worth a QA audit next, without those audited since",
    )
    queue.add_argument(
        "--source", default=None, help="a configured source's queue instead of the sample's"
    )
    add_date_range(
        queue,
        _day,
        "first survey date, or a month YYYY-MM (default: all)",
        "last survey date, or a month YYYY-MM (default: all)",
    )
    queue.add_argument(
        "--limit", type=_count, default=50, help="the most urgent N items (0: all; default 50)"
    )
    queue.add_argument(
        "--output", default=None, help="write them as a CSV worksheet for QA to fill in"
    )
    queue.add_argument(
        "--delimiter",
        choices=WORKSHEET_DELIMITERS,
        default=",",
        help="the --output worksheet's delimiter: ',' (default), or ';' for Excel where the "
        "decimal mark is a comma (German, French, ...: numbers are then written with a "
        "decimal comma, so Excel opens it in columns)",
    )
    queue.add_argument(
        "--replace",
        action="store_true",
        help="let --output replace a file that exists (QA's verdicts in it are lost)",
    )
    queue.set_defaults(handler=cmd_review_queue)

    query = sub.add_parser("query", help="run an example DuckDB query over the marts")
    query.add_argument("name", nargs="?", help="query name (see --list)")
    query.add_argument("--list", action="store_true", help="list the example queries")
    query.add_argument(
        "--source", default=None, help="only this source's rows (`sample` for the sample's)"
    )
    add_date_range(
        query,
        _day,
        "first survey date of the rows, or a month YYYY-MM (a weekly mart's row: of a week "
        "that ends on or after it)",
        "last survey date of the rows, or a month YYYY-MM",
    )
    query.add_argument(
        "--limit", type=_count, default=None, help="at most N rows (0: all; default: the query's)"
    )
    query.set_defaults(handler=cmd_query)

    dictionary = sub.add_parser(
        "dictionary", help="print, write or check the data dictionary of the marts"
    )
    dictionary.add_argument("--write", action="store_true", help="rewrite docs/data_dictionary.md")
    dictionary.add_argument(
        "--check", action="store_true", help="check the docs and every partition on disk"
    )
    dictionary.set_defaults(handler=cmd_dictionary)

    _finish_parsers(parser, command_examples)
    return parser


#: The exit statuses every command may end with (the README's "Exit status" table).
_EVERY_EXIT = {
    "0": "done",
    "1": "a bug in servicelens (the message says so and names the log)",
    "2": "refused or failed with a one-line message saying what to change (bad arguments, "
    "a bad variable, a file that cannot be read), before or instead of running dates",
    "130, 143": "interrupted (Ctrl-C, SIGTERM); what it held is released",
}
#: What ``console.EXIT_KEPT_NOTHING`` (4) means, for each command that exits with it.
_KEPT_NOTHING = (
    "nothing failed, but a date or partition read 10 or more rows and kept none (its row "
    "says which checks failed most): an export or a definition gone wrong"
)
#: The statuses of the commands that end with more than :data:`_EVERY_EXIT` (the code: cmd_run,
#: schedule.exit_status and _dry_run, sources._run, runs.cmd_runs_show, cmd_dictionary).
EXIT_STATUSES: dict[str, dict[str, str]] = {
    "run": {
        "1": "the date or a source's partition failed while running, recorded failed (its "
        "one-line reason printed; a source's in the table), or the data directory's object "
        "store stopped answering while it ran, or a bug",
        "4": _KEPT_NOTHING,
    },
    "backfill": {
        "1": "a date failed or could not run (--dry-run: a date would fail at once), the data "
        "directory's object store stopped answering while dates ran, or a bug",
        "3": "the only dates left are ones skipped because their last run failed (--rerun "
        "failed includes them)",
        "4": _KEPT_NOTHING,
    },
    "sources run": {"4": _KEPT_NOTHING},
    "sources check": {
        "4": "the file reads, but it has 10 or more rows and would keep none, as `run` exits 4 "
        "on such a date: a pre-check script can stop it before it reaches an inbox"
    },
    "sources demo": {"4": _KEPT_NOTHING},
    "demo": {"4": f"with --source: {_KEPT_NOTHING}"},
    "erase": {
        "1": "rows of the subject were still there after erasing (a run published them "
        "meanwhile): run the same erase again"
    },
    "runs show": {"1": "a dead run still holds something (`runs release` releases it), or a bug"},
    "dictionary": {
        "1": "--check: the docs or a partition on disk disagree with the contracts, or a bug"
    },
    "serve": {
        "0": "stopped by Ctrl-C or SIGTERM, its normal end (what its runs held is released and "
        "named): a service manager such as systemd counts 0 as a clean stop, 143 as a failure"
    },
}
#: The commands that never exit 130 or 143: ``serve`` runs until stopped, so a stop is its
#: clean end (exit 0), as systemd expects of a service (``SuccessExitStatus``: 0 is clean;
#: an exit 143 left the unit "failed" after every ``systemctl stop``).
STOPPED_CLEANLY = {"serve"}


def exit_statuses_text(command: str) -> str:
    """The ``exit status:`` block of ``command``'s --help (its whole name: ``sources run``):
    the statuses every command ends with (130 and 143 but for :data:`STOPPED_CLEANLY`) and
    :data:`EXIT_STATUSES`' own, in order."""
    statuses = {**_EVERY_EXIT, **EXIT_STATUSES.get(command, {})}
    if command in STOPPED_CLEANLY:
        del statuses["130, 143"]
    lines = ["exit status:"]
    for code in sorted(statuses, key=lambda c: int(c.split(",")[0])):
        text = textwrap.fill(
            statuses[code], 78, initial_indent=f"  {code:<9} ", subsequent_indent=" " * 12
        )
        lines.append(text)
    return "\n".join(lines)


def _finish_parsers(parser: argparse.ArgumentParser, examples: dict[str, str]) -> None:
    """Give the parser and every subcommand (whoever registered it) the global options, each
    command its --help examples, and each command that runs (not a group such as ``sources``)
    its exit statuses."""
    _add_global_options(parser)
    for each in (parser, *(command for _, command in _subcommands(parser))):
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction) and action.metavar is None:
                # A missing verb is named by its choices, not by its internal name (an
                # operator's trial: "the following arguments are required: runs_command").
                action.metavar = "{" + ",".join(action.choices) + "}"
    for name, command in _subcommands(parser):
        _add_global_options(command)
        # The innermost command parsed is the one whose --help a usage error points at.
        command.set_defaults(command_parser=command)
        if name in examples and not command.epilog:
            command.epilog = "example:\n  " + examples[name]
            command.formatter_class = argparse.RawDescriptionHelpFormatter
        if any(isinstance(a, argparse._SubParsersAction) for a in command._actions):
            continue
        # The trial's backfill exited 4, which its --help did not list: each command lists
        # every status it ends with.
        if command.formatter_class is not argparse.RawDescriptionHelpFormatter:
            if command.description:
                command.description = textwrap.fill(command.description, 80)
            command.formatter_class = argparse.RawDescriptionHelpFormatter
        said = f"{command.epilog}\n\n" if command.epilog else ""
        command.epilog = said + exit_statuses_text(name)


#: Commands, and command verbs, that change nothing in the data directory: reads_only.
_READ_ONLY_COMMANDS = frozenset({"query", "dictionary", "review-queue", "access"})
_READ_ONLY_VERBS = {"models": ("list", "show"), "sources": ("list", "check"), "runs": ("show",)}


def reads_only(args: argparse.Namespace) -> bool:
    """Whether the command ``args`` parsed changes nothing in the data directory: a dry run,
    a query, a listing (``models list|show``, ``sources list|check``, ``runs show``), the
    dictionary, the review queue (its worksheet goes where --output says), an access request
    (its answer goes where --out says). ``report`` is not:
    it writes a report."""
    if args.command in _READ_ONLY_COMMANDS:
        return True
    if args.command in ("backfill", "erase"):
        return bool(getattr(args, "dry_run", False))
    if args.command == "models" and getattr(args, "action", None) == "delete":
        return not args.yes  # a dry run
    verb = getattr(args, "action", None) or getattr(args, "runs_command", None)
    return verb in _READ_ONLY_VERBS.get(args.command, ())


#: Commands that publish agents' pseudonyms (``sources run`` too): a second agent key left in
#: the working directory is refused before they start (Settings.refuse_a_second_agent_key).
PSEUDONYMISES_AGENTS = frozenset({"run", "backfill", "demo", "train", "score", "serve", "erase"})


def _refuse_unrunnable_dates(args: argparse.Namespace, settings: Settings) -> None:
    """Reversed ranges and future survey dates, refused before any work (and never recorded
    as a failure of a date). The flows check again, for runs started from a deployment."""
    from servicelens.cli.schedule import as_typed, plain_day

    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and end is not None:
        refuse_reversed(start, end, ("--start", "--end"), (as_typed(start), as_typed(end)))
    if args.command == "backfill" and isinstance(end, date):
        _to_today_in_this_month(args, end, settings.timezone)
    # A month typed as YYYY-MM is a plain date from here on (schedule.MonthDay).
    for option in ("start", "end"):
        if isinstance(value := getattr(args, option, None), date):
            setattr(args, option, plain_day(value))
    if args.command not in PROCESSES_SURVEY_DATES:
        return
    for option in ("date", "end"):
        value = getattr(args, option, None)
        if not isinstance(value, date):
            continue
        if option == "end" and (source := getattr(args, "source", None)):
            if args.command == "backfill":
                _refuse_after_current_period(value, settings, source)
            # `demo --source` runs the export it is given, whatever --end says.
            continue
        refuse_future(value, settings.timezone, f"--{option}")


def _to_today_in_this_month(args: argparse.Namespace, end: date, timezone: str) -> None:
    """A backfill's ``--end`` typed as the current month (``2026-12``, its last day) runs to
    today in ``timezone``, saying so on stderr: the help promises "a month to its last day",
    and a trial's ``--end 2026-12`` on the 5th was refused as in the future. A day typed
    after today, or a later month, is still refused."""
    from servicelens.cli.schedule import as_typed

    now = today(timezone)
    typed = as_typed(end)
    if typed != end.isoformat() and end > now and (end.year, end.month) == (now.year, now.month):
        args.end = now
        print(f"servicelens: --end {typed} runs to today, {now} ({timezone})", file=sys.stderr)


def _refuse_after_current_period(end: date, settings: Settings, source: str) -> None:
    """A source's backfill ``--end`` after its current partition period, refused.

    A monthly source's --end may be the current month's last day (a trial's --end
    2026-12-31 was refused on the 2nd, with partition 2026-12-01 landed), so the sample's
    refusal (after today) does not fit it; but an --end after that period was taken in
    silence (a trial's daily source: --end 2027-01-31, 2160 days counted)."""
    from servicelens.ingest.configured import configured_names, configured_source

    if source not in configured_names(settings):
        return  # the backfill refuses the name itself, and names the closest source
    partition = configured_source(settings, source).partition
    refuse_after_current_period(end, settings.timezone, partition, "--end")


def _refuse_another_timezone(args: argparse.Namespace, settings: Settings) -> None:
    """Before a command that processes dates (``run``, ``backfill``, its dry run too,
    ``demo``, ``sources run`` and ``sources demo``): refuse, with TimezoneMismatchError (a
    ValueError: exit status 2), a business timezone other than the one the data directory's
    newest partitions record (``storage.runs.refuse_another_timezone``). It was a warning,
    and a trial's run rewrote a date in New York's day in a London directory, exit 0."""
    processes = args.command in PROCESSES_SURVEY_DATES or (
        args.command == "sources" and getattr(args, "action", None) in ("run", "demo")
    )
    if not processes:
        return
    from servicelens.storage.runs import refuse_another_timezone

    refuse_another_timezone(settings, timezone_origin(settings.timezone))
    _say_source_timezones(args, settings)


def _say_source_timezones(args: argparse.Namespace, settings: Settings) -> None:
    """Before the first command that publishes partitions (so fixes the data directory's
    business timezone; a dry run too), warn on stderr of each source, configured or being
    run, whose definition declares another timezone (``configured.timezone_note``). Found by
    a trial: a Berlin source's first night in a London directory dated 00:30 Berlin's
    responses the day before, silently, and for good. Each note is told once
    (``configured.untold_timezone_notes``): a data engineer's trial had the same two notes
    on every nightly run of sources that had delivered nothing yet."""
    from servicelens.ingest.configured import (
        UnreadableSource,
        configured_names,
        configured_sources_or_unreadable,
        remember_timezone_notes_told,
        timezone_note,
        untold_timezone_notes,
    )
    from servicelens.ingest.definitions import DefinitionError
    from servicelens.storage.runs import recorded_timezone

    if recorded_timezone(settings) is not None:
        return
    # The sources the command runs: the one --source names (a name that is not configured
    # is refused by the command itself, saying only that), or every configured one.
    names = configured_names(settings)
    named = getattr(args, "source", None)
    if named is not None:
        names = [named] if named in names else []
    # A source whose registered definition cannot be read has no timezone to note: the
    # command runs the others and names it failed.
    definitions = [
        str(s.definition)
        for s in configured_sources_or_unreadable(settings)
        if not isinstance(s, UnreadableSource) and s.source in names
    ]
    if args.command == "sources":
        definitions.append(args.definition)
    elif args.command == "demo" and named is not None and not names:
        definitions.append(named)  # demo --source takes a definition, as sources demo does
    notes: list[str] = []
    for definition in definitions:
        try:
            note = timezone_note(settings, definition)
        except DefinitionError:
            continue  # a configured source's name, or a bad file: the command says so
        if note and note not in notes:
            notes.append(note)
    # Told once (the rule of the unread columns' note): a nightly run of a directory whose
    # sources have delivered nothing yet repeated the same notes every night. A dry run
    # tells every note and remembers none: it changes nothing.
    if getattr(args, "dry_run", False):
        untold = notes
    else:
        untold = untold_timezone_notes(settings, notes)
        remember_timezone_notes_told(settings, untold, datetime.now(UTC))
    if untold:
        from servicelens.cli.console import warning_line

        for note in untold:
            print(warning_line(note), file=sys.stderr)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is the whole story (file, line, column, value, what to do):
    shown as one line, exit status 2."""
    # Imported here, not at the top: each module is light, but none is needed for --help.
    from models.registry import ModelFileError
    from servicelens.ingest.readers import SourceError
    from servicelens.stages import BatchError
    from servicelens.storage.locks import LockBusyError
    from servicelens.storage.partitions import StorageError

    return (
        SurveyDateError,
        BatchError,
        SourceError,
        ValueError,
        ModelFileError,
        FileNotFoundError,
        LockBusyError,
        StorageError,
    )


def _is_refusal(error: BaseException) -> bool:
    """Whether ``error`` is one of servicelens's own refusals of its input (a file, a
    definition, a model file, a partition), whose message names what and what to do: logged
    as one line, not a traceback. A built-in error (ValueError, FileNotFoundError) keeps
    its traceback in the log: it may come from anywhere."""
    from models.registry import ModelFileError
    from servicelens.ingest.definitions import DefinitionError
    from servicelens.ingest.readers import SourceError
    from servicelens.stages import BatchError
    from servicelens.storage.partitions import StorageError

    refusals: tuple[type[BaseException], ...] = (
        BatchError,
        SourceError,
        DefinitionError,
        ModelFileError,
        StorageError,
    )
    # Training's refusal of too few labelled rows, if training ran: its module imports
    # scikit-learn (1-2 s of CPU), which every other refused command (`train` with no clean
    # data, a bad date) paid to be told it was not this.
    stacked = sys.modules.get("models.stacked")
    if stacked is not None:
        refusals += (stacked.TooFewToFit,)
    return isinstance(error, refusals)


#: OSError numbers that mean the data directory cannot be written (not a servicelens bug).
_CANNOT_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


def write_failure_message(
    error: BaseException | None, then: str = "run the command again"
) -> str | None:
    """The message for a file the command could not write (permissions, a read-only or
    full disk), ending in ``then`` (what to do once it can be written), or None if
    ``error`` is not one. Found by an operator's trial: a run-record folder made read-only
    ended in "unexpected PermissionError ... this is a bug in servicelens" (a partition's
    own write says so itself: StorageError)."""
    from servicelens.storage.fs import file_written_when

    if not isinstance(error, OSError) or error.errno not in _CANNOT_WRITE:
        return None
    # A full disk's error from write() names no file: the file being written is found
    # from where it was raised (a trial read "a file of the data directory").
    file = file_written_when(error)
    where = file or "a file of the data directory"
    # The file's own folder: for an object store's data directory it is a local one (locks,
    # logs), which "the data directory" misnamed (a platform engineer's trial).
    folder = f"{Path(file).parent}" if file else "the data directory"
    # The system's own words for the error number: a lock's error carries its own advice
    # in strerror, which read "writable" twice beside this one's (a platform engineer's trial).
    said = os.strerror(error.errno) if error.errno else str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"{where}: cannot write it: {said}. Free disk space on the filesystem of "
            f"{folder} (`df -h {folder}` shows what is left), then {then}"
        )
    return (
        f"{where}: cannot write it: {said}. Make {folder} writable (or "
        f"free disk space), then {then}"
    )


def promoted_then_unwritable_message(error: BaseException, settings: Settings) -> str | None:
    """The message for a ``train`` that promoted its version and then could not write its
    run report to disk (``flows.training.PromotedThenFailedError`` caused by an error
    :func:`write_failure_message` knows), or None for anything else: the promotion, the
    rollback, the file and the ``report`` command that writes the report once the folder
    can be written, not "a bug in servicelens" (found by a review of a trial's fix: a full
    disk is no bug), nor "run the command again", which would train once more."""
    training = sys.modules.get("flows.training")
    if training is None or not isinstance(error, training.PromotedThenFailedError):
        return None
    source = "" if settings.is_sample else f" --source {settings.source}"
    unwritable = write_failure_message(
        error.__cause__, then=f"`servicelens{source} report` writes the run report"
    )
    return None if unwritable is None else f"{error}. {unwritable}"


def ran_then_unwritable_message(error: BaseException, args: argparse.Namespace) -> str | None:
    """The message for a ``run`` or ``backfill`` whose dates ran and whose run report then
    could not be written (``flows.pipeline.RanThenReportFailedError`` caused by an error
    :func:`write_failure_message` knows: a full disk), or None for anything else: what ran,
    the file refused, and the command to run once there is space (:func:`run_again`)."""
    pipeline = sys.modules.get("flows.pipeline")
    if pipeline is None or not isinstance(error, pipeline.RanThenReportFailedError):
        return None
    unwritable = write_failure_message(error.__cause__, then=f"run `{run_again(args)}`")
    return None if unwritable is None else f"{error}. {unwritable}"


def run_again(args: argparse.Namespace) -> str:
    """The command that runs again what a ``run`` or ``backfill`` (``args``) left failed: the
    same ``run``; the same backfill's range, with ``--rerun failed`` for one that ran missing
    dates only (its failed dates are skipped by that policy). The data directory is added
    where it is printed (``servicelens.reporting.suggested``)."""
    if args.command != "backfill":
        return "servicelens run" + (f" --date {args.date}" if args.date else "")
    rerun = "failed" if args.rerun == "missing" else args.rerun
    return (
        "servicelens backfill"
        + (f" --source {args.source}" if args.source else "")
        + f" --start {args.start} --end {args.end} --rerun {rerun}"
    )


def object_store_failure_message(error: BaseException, data_dir: str) -> str | None:
    """The message for an object store that does not answer, has no credentials for the
    data directory, refuses them, or has no such bucket; None if ``error`` is none of those
    or the data directory is local. Found by a platform engineer's trial: the nightly `run`
    printed 135 lines of botocore traceback, and other commands called it a servicelens bug.
    The credentials and endpoint are the AWS SDK's own variables (``servicelens.storage.fs``)."""
    from servicelens.storage.fs import is_url, store_endpoint, store_not_answering_message

    if not is_url(data_dir):
        return None
    endpoint = store_endpoint()
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(
        error, botocore.NoCredentialsError | botocore.PartialCredentialsError
    ):
        return (
            f"{data_dir}: no credentials for the object store ({error}): set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), then run the "
            "command again"
        )
    if (unanswered := store_not_answering_message(error, data_dir)) is not None:
        return (
            f"{unanswered}. Check that it is up and that AWS_ENDPOINT_URL names it, then run "
            "the command again: every partition on it is the old one or the new one"
        )
    if isinstance(error, PermissionError) and error.errno is None:
        return (
            f"{data_dir}: the object store at {endpoint} refused access ({error}): check "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and the bucket's policy"
        )
    if isinstance(error, FileNotFoundError) and "bucket does not exist" in str(error):
        return (
            f"{data_dir}: its bucket does not exist on {endpoint}: create it, or correct "
            "--data-dir (SERVICELENS_DATA_DIR) or AWS_ENDPOINT_URL"
        )
    return None


def store_stopped_while_running_message(store_failed: str, args: argparse.Namespace) -> str:
    """``store_failed`` (:func:`object_store_failure_message`) of a store that failed while a
    ``run`` or ``backfill`` (``args``) was running dates: the state the dates were left in and
    the command that finishes them once the store answers again (:func:`run_again`)."""
    said, _, _ = store_failed.partition(", then run the command again")
    return (
        f"{said}. It stopped answering while dates ran: the dates that completed before are "
        "recorded; the date running then is not recorded as failed (its record is on that "
        "store), each partition on the store is the old one or the new one, and what it "
        "held is released by the next run (`servicelens runs show` lists it meanwhile). "
        f"When the store answers again, run `{run_again(args)}`"
    )


#: The words Prefect's client raises RuntimeError with when its API does not answer
#: (prefect/client/orchestration/__init__.py, ``raise_for_api_version_mismatch``, 3.x).
PREFECT_UNREACHABLE_WORDS = "Failed to reach API at "


def prefect_failure_message(error: BaseException) -> str | None:
    """The message for a failure of Prefect's API rather than of servicelens or the data,
    or None if ``error`` is not one:

    * the embedded API did not start in time (a busy machine);
    * the API answered 404 mid-command (``prefect.exceptions.ObjectNotFound``: a run
      deleted, or the database removed or replaced), naming the request;
    * the API does not answer: a server named by ``PREFECT_API_URL`` that is down, or the
      embedded API killed under the command.
    """
    import httpx
    from prefect.exceptions import ObjectNotFound

    if isinstance(error, RuntimeError) and "ephemeral Prefect API" in str(error):
        return (
            "Prefect's temporary API did not start in time (a busy machine?). Try again "
            "with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300, or start a server "
            "with `prefect server start` and set PREFECT_API_URL to it"
        )
    if isinstance(error, ObjectNotFound):
        request = getattr(error.http_exc, "request", None)
        asked = f" ({request.method} {request.url.path})" if request is not None else ""
        home = os.environ.get("PREFECT_HOME", "")
        return (
            f"Prefect's API no longer has a flow run or limit this command was using{asked}: "
            "it was deleted, or the API's database was removed or replaced while the command "
            f"ran (on the embedded API, the one under PREFECT_HOME={home}). Dates that "
            f"finished are recorded; {finishing_after_error()}"
        )
    url = os.environ.get("PREFECT_API_URL", "")
    if isinstance(error, RuntimeError) and str(error).startswith(PREFECT_UNREACHABLE_WORDS):
        url = str(error).removeprefix(PREFECT_UNREACHABLE_WORDS).strip() or url
    elif not isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
        return None
    if not url:
        return (
            "Prefect's temporary embedded API stopped answering during the command (was it "
            f"killed?). What finished is recorded; {finishing_after_error()}"
        )
    return (
        f"Prefect's API at {url} does not answer (PREFECT_API_URL): start that server "
        "(`prefect server start`) and run the command again, or unset PREFECT_API_URL to "
        "run on a temporary embedded API"
    )


#: A command refused or failed with a message before or instead of running dates.
EXIT_REFUSED = 2
#: `run`: the date it ran failed, recorded so (:class:`DateFailedError`).
EXIT_DATE_FAILED = 1


def _fail(
    message: str,
    log: Path | None,
    as_json: bool = False,
    status: int = EXIT_REFUSED,
    traceback: bool = True,
) -> int:
    """Say why a command failed, on stderr (and where its log is); returns ``status``
    (:data:`EXIT_REFUSED`, or :data:`EXIT_DATE_FAILED` for a date that failed while
    running). With ``as_json`` (the command's --json), stdout gets the same as one JSON
    document, ``{"error": ..., "log": ...}``: a trial's script parsing --json output met
    plain text. ``traceback``: the log holds the error's traceback (a refusal's is not
    logged, and the line names Prefect's log alone)."""
    print(f"servicelens: error: {message}", file=sys.stderr)
    if log is not None and traceback:
        print(f"  Prefect's log and the traceback: {log}  (-v shows them here)", file=sys.stderr)
    elif log is not None:
        print(f"  Prefect's log: {log}", file=sys.stderr)
    if as_json:
        _print_json_error(message, log)
    return status


def _print_json_error(message: str, log: Path | None) -> None:
    """A failure as the one JSON document a --json command prints on stdout."""
    print(json.dumps({"error": message, "log": str(log) if log else None}))


def _json(args: argparse.Namespace) -> bool:
    """Whether the command was asked for --json output."""
    return bool(getattr(args, "json", False))


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; an option the command does not know is reported by the
    command's own parser, so the hint names the command's ``--help``."""
    parser = build_parser()
    _Parser.argv = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command: argparse.ArgumentParser = getattr(args, "command_parser", parser)
        command.error(f"unrecognized arguments: {' '.join(unknown)}")
    return _global_defaults(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: ``sys.argv[1:]``); returns its exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        # Before the arguments are parsed: --help dates its examples in SERVICELENS_TIMEZONE,
        # and a bad variable crashed every command, --help too, with a traceback (a new
        # analyst's trial, SERVICELENS_TIMEZONE=Europe/Berln).
        Settings.from_variables()
    except SettingError as error:
        return _fail(str(error), None, "--json" in words)
    unread = unread_variables()
    if unread:
        # Imported only to say one: the console's imports (tqdm) would slow every --help.
        from servicelens.cli.console import warning_line

        for warning in unread:
            print(warning_line(warning), file=sys.stderr)
    if words[:1] == ["prefect"]:
        # Prefect's CLI, its arguments its own (`--help` too): nothing of the data directory.
        from servicelens.cli.schedule import run_prefect_cli

        _configure_prefect(verbose=True)
        return run_prefect_cli(words[1:])
    args = parse_arguments(argv)
    _configure_prefect(args.verbose)
    _stop_servers_left_behind()
    try:
        settings = Settings.from_env(args.data_dir)
    except Exception as error:  # the data directory's store, asked for its timezone
        data_dir = Settings.from_variables(args.data_dir).data_dir
        if (store_failed := object_store_failure_message(error, data_dir)) is None:
            raise
        return _fail(store_failed, None, _json(args))
    with suggestions_name(settings.data_dir):
        return _main(args, settings)


def _main(args: argparse.Namespace, settings: Settings) -> int:
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    if reads_only(args) or args.command == "report":
        handler = _listing_once(handler)
    try:
        from servicelens.storage.fs import refuse_a_file_as_folder, refuse_a_half_url

        refuse_a_half_url(settings.data_dir)
        refuse_a_file_as_folder(settings.data_dir)
        _refuse_unrunnable_dates(args, settings)
        _refuse_another_timezone(args, settings)
        if args.command in PSEUDONYMISES_AGENTS or getattr(args, "action", None) == "run":
            settings.refuse_a_second_agent_key()
    except (SurveyDateError, ValueError) as error:
        return _fail(str(error), None, _json(args))
    except Exception as error:  # the data directory's store, asked for its records
        if (store_failed := object_store_failure_message(error, settings.data_dir)) is None:
            raise
        return _fail(store_failed, None, _json(args))
    if args.verbose:
        return _run(handler, args, settings, None)
    log = log_file_path(settings.local_root / "logs", args.command)
    # A command that changes nothing keeps no log in a data directory that does not exist:
    # its log made <data-dir>/logs/ of a mistyped --data-dir (a new analyst's trial, a dry
    # run). An object store's logs go to a machine folder, which may be made. `report`
    # writes, but refuses such a directory first (reporting.analyst.cmd_report), as `run`,
    # `backfill` and `train` do: a directory that does not exist holds no export,
    # no model and no source definition (a platform engineer's trial found ./data/logs made
    # by a `run` started from the wrong folder, beside its refusal).
    keeps_out = reads_only(args) or args.command in _REFUSE_A_MISSING_DATA_DIRECTORY
    within = settings.root if isinstance(settings.root, Path) and keeps_out else None
    with logs_to_file(log, settings.log_keep, within) as file_log:
        try:
            return _run(handler, args, settings, file_log)
        finally:
            _drain_prefect_services()
            file_log.flush()


def _listing_once(
    handler: Callable[[argparse.Namespace, Settings], int],
) -> Callable[[argparse.Namespace, Settings], int]:
    """``handler`` reading an object store's listings and small files once
    (:func:`servicelens.storage.fs.listings_reused`): for the commands that read the data
    directory as it is when they start (the read-only ones and ``report``). On a trial's 14
    dates on S3, ``report`` sent the same LIST 36 times and took 1m52, ``query`` 2m13."""
    from servicelens.storage.fs import listings_reused

    def listing_once(args: argparse.Namespace, settings: Settings) -> int:
        with listings_reused():
            return handler(args, settings)

    return listing_once


#: Commands that write to the data directory but refuse one that does not exist: their log
#: is kept only in a data directory that exists (:func:`_main`).
_REFUSE_A_MISSING_DATA_DIRECTORY = frozenset({"report", "run", "backfill", "train"})


#: How long a finished command waits for Prefect to send its queued logs and events.
DRAIN_SECONDS = 30.0


def _drain_prefect_services() -> None:
    """Let Prefect send its queued log lines and events while they still go to the log file.

    Prefect drains these queues when the interpreter exits, after the command has given the
    terminal back, and on a busy machine says so there ("Still processing items: 1 items
    remaining..."), a line after the command's message. Draining here, inside the command,
    keeps that in the log file. Nothing to do if the command never imported Prefect.
    """
    if "prefect" not in sys.modules:
        return
    # Prefect's base class of its log and event workers; drain_all covers every instance.
    from prefect._internal.concurrency.services import QueueService

    QueueService.drain_all(timeout=DRAIN_SECONDS, at_exit=False)


def _run(
    handler: Callable[[argparse.Namespace, Settings], int],
    args: argparse.Namespace,
    settings: Settings,
    file_log: Any,
) -> int:
    """Run the command; a failure becomes one line (and the log file's path), never a
    traceback, unless ``-v`` asked for everything (``file_log`` is None then)."""

    def log_path(refusal: BaseException | None = None) -> Path | None:
        if file_log is None:
            if refusal is None:
                # -v: the traceback the log file would hold, on the terminal before the
                # message, as the README says (a trial's -v showed the one line alone).
                import traceback

                traceback.print_exc(file=sys.stderr)
            return None
        import logging

        logger = logging.getLogger("servicelens")
        command = " ".join(sys.argv[1:])
        if refusal is not None:
            # An expected refusal (a file, a definition, a partition: its message names it
            # and says what to do) is one line, as a date's failure is recorded
            # (flows.dates.failure_message): a trial's header-only export left a BatchError
            # traceback in the log beside a message that said it all.
            logger.error("command refused: %s: %s: %s", command, type(refusal).__name__, refusal)
        else:
            # The traceback goes to the file, beside Prefect's log of the same failure.
            logger.error("command failed: %s", command, exc_info=True)
        file_log.flush()
        return Path(file_log.path) if file_log.written else None

    try:
        return run_stoppable(handler, args, settings)
    except BrokenPipeError:
        # The reader (e.g. `| head`) stopped early: not an error of ours.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit-time flush
        return 0
    except KeyboardInterrupt:
        print(
            "\nservicelens: interrupted. Each partition is swapped in whole, so every "
            "partition on disk is either the old one or the new one; re-run the same command to "
            "finish",
            file=sys.stderr,
        )
        return 130
    except Exception as error:
        if (store_failed := object_store_failure_message(error, settings.data_dir)) is not None:
            if began_running():
                stopped = store_stopped_while_running_message(store_failed, args)
                return _fail(stopped, log_path(), _json(args), EXIT_DATE_FAILED)
            return _fail(store_failed, log_path(), _json(args))
        if isinstance(error, DateFailedError):
            return _fail(str(error), log_path(), _json(args), EXIT_DATE_FAILED)
        # A decoding error is a ValueError that names no file or line: one that reaches here
        # escaped the readers' own messages, a bug to report (an analyst's trial read
        # "'utf-8' codec can't decode byte 0xe9 in position 136" as its whole error).
        # So is a ValueError a library raised (difflib's "n must be > 0: 0" in a new user's
        # trial, shown as the whole error of `sources check`): it names nothing of the input.
        if (
            isinstance(error, _user_errors())
            and not isinstance(error, UnicodeError)
            and not raised_by_a_library(error)
        ):
            # The traceback of a refusal made before anything was logged (a typo in a
            # source's name, a date out of range) is logged, but not pointed at: the
            # message is all there is to read. Found by a trial.
            logged_before = file_log is not None and file_log.written
            refusal = _is_refusal(error)
            where = log_path(error if refusal else None)
            return _fail(
                str(error), where if logged_before else None, _json(args), traceback=not refusal
            )
        if (prefect_failed := prefect_failure_message(error)) is not None:
            return _fail(prefect_failed, log_path(), _json(args))
        if (ran_then := ran_then_unwritable_message(error, args)) is not None:
            return _fail(ran_then, log_path(), _json(args), EXIT_DATE_FAILED)
        if (cannot_write := write_failure_message(error)) is not None:
            return _fail(cannot_write, log_path(), _json(args))
        if (promoted := promoted_then_unwritable_message(error, settings)) is not None:
            return _fail(promoted, log_path(), _json(args))
        if file_log is None:
            raise
        # A failure nobody wrote a message for: say so plainly; the traceback is in the file.
        return _bug(error, log_path())
    except BaseException as error:
        # A Rust panic (polars' "assertion failed: i < self.len()" in a user trial) is a
        # BaseException: a bug like any other, not a stop. KeyboardInterrupt is handled
        # above; SystemExit and GeneratorExit go on as they came.
        if file_log is None or not is_rust_panic(error):
            raise
        return _bug(error, log_path())


def _bug(error: BaseException, log: Path | None) -> int:
    """Say that ``error`` is a bug of servicelens, naming its log (``log``; None when nothing
    was logged); returns 1."""
    print(f"servicelens: error: unexpected {type(error).__name__}: {error}", file=sys.stderr)
    print(
        f"  this is a bug in servicelens, not in your data: please report it with the "
        f"log {log or '(nothing was logged)'}; -v shows the traceback here",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
