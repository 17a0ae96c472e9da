"""The ``servicelens`` command line: the entry point that builds settings and starts flows.

Prefect is imported only after its home is pointed inside the project (``.prefect/`` next to
the working directory unless ``PREFECT_HOME`` is set), so runs never touch the user's home.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from servicelens.cli.console import files_since, progress, table
from servicelens.cli.schedule import add_schedule_commands
from servicelens.cli.sources import add_sources_commands
from servicelens.reporting.analyst import cmd_dictionary, cmd_query, cmd_report
from servicelens.settings import SAMPLE_PER_DAY, Settings

EXAMPLES = """\
examples:
  servicelens demo                                   # sample data, every flow, a summary
  servicelens generate --start 2026-10-01 --end 2026-10-07 --per-day 2000 --seed 7
  servicelens run --date 2026-10-07                  # the nightly flow for one date
  servicelens backfill --start 2026-10-01 --end 2026-10-07 --rerun failed --dry-run
  servicelens serve                                  # nightly, backfill, retrain deployments
  servicelens train                                  # train, register, maybe promote
  servicelens report                                 # rebuild data/reports/latest.html
  servicelens query --list                           # example DuckDB queries over the marts
  servicelens query policies_by_root_cause --json    # one of them, as JSON
  servicelens dictionary --check                     # docs and files on disk match the contracts
  servicelens train --source cfpb --input complaints.csv   # a foreign export via a mapping
  servicelens score --source cfpb --input new.csv --output scored.parquet
  servicelens models list | promote VERSION | rollback
  SERVICELENS_DATA_DIR=/srv/servicelens servicelens run --date 2026-10-07

The newest run report is always at <data-dir>/reports/latest.html; column meanings are in
docs/data_dictionary.md. Add --json to any command for machine-readable output.
"""

#: Examples shown by `servicelens <command> --help`.
COMMAND_EXAMPLES: dict[str, str] = {
    "generate": "servicelens generate --start 2026-10-01 --end 2026-10-07 --per-day 2000 --seed 7",
    "run": "servicelens run                      # yesterday, in the business timezone\n"
    "  servicelens run --date 2026-10-07 --json",
    "backfill": "servicelens backfill --start 2026-10-01 --end 2026-10-28 --dry-run\n"
    "  servicelens backfill --start 2026-10-01 --end 2026-10-28 --rerun failed",
    "train": "servicelens train --json",
    "demo": "servicelens demo                     # 28 days up to yesterday, 5000 surveys a day\n"
    "  servicelens demo --days 7 --per-day 500",
    "report": "servicelens report && xdg-open data/reports/latest.html",
    "query": "servicelens query --list\n"
    "  servicelens query queues_that_bounce\n"
    "  servicelens query long_calls_are_not_failures --json",
    "dictionary": "servicelens dictionary > dictionary.md   # print it\n"
    "  servicelens dictionary --check          # docs and Parquet on disk match the contracts\n"
    "  servicelens dictionary --write          # after changing transforms/schemas.py",
}


def _configure_prefect_home(verbose: bool = False) -> None:
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")
    # The embedded server needs more than Prefect's default 20 s on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if not verbose:
        # Flow and task logs still reach the Prefect API (and UI); the terminal shows a progress
        # bar and a summary instead of a line per task. --verbose brings the lines back.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from error


def _print(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.json


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from servicelens.storage.fs import local_folder_for
    from servicelens.synthetic.generator import generate

    started = time.time()
    days = (args.end - args.start).days + 1
    # The generator writes local files; for an object store they are uploaded at the end.
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
        summary = generate(out, args.start, args.end, args.per_day, args.seed)
    if args.json:
        _print({k: v for k, v in summary.__dict__.items() if k != "files"}, True)
        return 0
    print(
        f"generated {summary.surveys} surveys, {summary.interactions} interactions and "
        f"{summary.audits} audits for {summary.start}..{summary.end} into {settings.root / 'raw'}"
        f" (oracle accuracy on negatives {summary.oracle_accuracy:.3f})"
    )
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from flows.pipeline import nightly

    result = nightly(args.date, settings)
    _print(result, args.json)
    if not args.json:
        print(_counts_line(result))
        print(f"report: {settings.reports_dir / 'latest.html'}")
    return 0


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from flows.pipeline import train

    result = train(settings)
    _print(result, args.json)
    if not args.json:
        print(f"model {result['version']}: {result['decision']}")
        print(_metrics_lines(result["metrics"]))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from flows.pipeline import demo, yesterday

    end = args.end or yesterday(settings.timezone)
    start = args.start or end - timedelta(days=args.days - 1)
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

    with progress("demo", 3 * days + 1, steps_done, _show_progress(args)):
        result = demo(settings, start, end, args.per_day, args.seed)
    _print(result, args.json)
    if not args.json:
        print(_demo_summary(result, settings))
    return 0


def _counts_line(row: dict[str, Any]) -> str:
    return (
        f"read {row.get('surveys_read')} kept {row.get('kept')} quarantined "
        f"{row.get('quarantined')} negatives scored {row.get('scored')} "
        f"(model {row.get('model_version')})"
    )


def _metrics_lines(metrics: dict[str, Any]) -> str:
    lines = [f"{'':<22}{'accuracy':>9}{'roc_auc':>9}{'macro_f1':>9}{'brier':>8}{'ece':>7}"]
    rows = [
        ("model (audit labels)", metrics["model"]),
        ("majority baseline", metrics["majority_baseline"]),
        ("best single rule", metrics["best_rule_baseline"]),
    ]
    truth = metrics.get("against_truth") or {}
    if truth:
        rows += [
            ("model vs truth", truth["model_vs_truth"]),
            ("oracle vs truth", truth["oracle_vs_truth"]),
        ]
    for name, m in rows:
        lines.append(
            f"{name:<22}{m['accuracy']:>9.3f}{m['roc_auc']:>9.3f}{m['macro_f1']:>9.3f}"
            f"{m['brier']:>8.3f}{m['ece']:>7.3f}"
        )
    lines.append(f"best single rule: {metrics['best_rule_baseline']['rule']}")
    split = metrics["split"]
    lines.append(
        f"time split: train {split['train_rows']} audited rows, test {split['test_rows']} "
        f"({split['test_from']}..{split['test_to']})"
    )
    return "\n".join(lines)


def _demo_summary(result: dict[str, Any], settings: Settings) -> str:
    ingested = result["ingested"]
    published = result["published"]
    read = sum(r["surveys_read"] for r in ingested)
    kept = sum(r["kept"] for r in ingested)
    quarantined = sum(r["quarantined"] for r in ingested)
    scored = sum(r["scored"] for r in published)
    trained = result["trained"]
    return "\n".join(
        [
            "",
            "servicelens demo: done",
            f"dates {ingested[0]['day']}..{ingested[-1]['day']} ({len(ingested)} days)",
            f"rows in {read}, kept {kept}, quarantined {quarantined} (read = kept + quarantined:"
            f" {read == kept + quarantined})",
            f"negatives scored {scored} with model {trained['version']} ({trained['decision']})",
            _metrics_lines(trained["metrics"]),
            "",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="servicelens",
        description="Feedback-survey pipeline: perceived bad service vs real policy failures.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir", help="data directory (default: $SERVICELENS_DATA_DIR or ./data)"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show Prefect's log lines on the terminal"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write deterministic synthetic source exports")
    gen.add_argument("--start", type=_day, required=True)
    gen.add_argument("--end", type=_day, required=True)
    gen.add_argument("--per-day", type=int, default=SAMPLE_PER_DAY)
    gen.add_argument("--seed", type=int, default=7)
    gen.set_defaults(handler=cmd_generate)

    run = sub.add_parser("run", help="the nightly flow for one survey date")
    run.add_argument("--date", type=_day, default=None, help="default: yesterday")
    run.set_defaults(handler=cmd_run)

    add_schedule_commands(sub, _day)
    add_sources_commands(sub)

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
    demo.set_defaults(handler=cmd_demo)

    report = sub.add_parser("report", help="write the HTML run report from what is on disk")
    report.set_defaults(handler=cmd_report)

    query = sub.add_parser("query", help="run an example DuckDB query over the marts")
    query.add_argument("name", nargs="?", help="query name (see --list)")
    query.add_argument("--list", action="store_true", help="list the example queries")
    query.set_defaults(handler=cmd_query)

    dictionary = sub.add_parser(
        "dictionary", help="print, write or check the data dictionary of the marts"
    )
    dictionary.add_argument("--write", action="store_true", help="rewrite docs/data_dictionary.md")
    dictionary.add_argument(
        "--check", action="store_true", help="check the docs and every partition on disk"
    )
    dictionary.set_defaults(handler=cmd_dictionary)

    _finish_subcommands(sub)
    return parser


def _finish_subcommands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Give every subcommand (whoever registered it) --json and its --help examples."""
    for name, command in sub.choices.items():
        if "--json" not in command._option_string_actions:
            # SUPPRESS keeps `servicelens --json run` working: the subcommand only sets it if given.
            command.add_argument(
                "--json", action="store_true", default=argparse.SUPPRESS, help="print as JSON"
            )
        if name in COMMAND_EXAMPLES and not command.epilog:
            command.epilog = "example:\n  " + COMMAND_EXAMPLES[name]
            command.formatter_class = argparse.RawDescriptionHelpFormatter


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_prefect_home(args.verbose)
    settings = Settings.from_env(args.data_dir)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    from models.registry import ModelFileError
    from servicelens.ingest.readers import SourceError
    from servicelens.stages import BatchError
    from servicelens.storage.locks import LockBusyError
    from servicelens.storage.partitions import StorageError

    try:
        return handler(args, settings)
    except (
        BatchError,
        SourceError,
        ValueError,
        ModelFileError,
        FileNotFoundError,
        LockBusyError,
        StorageError,
    ) as error:
        print(f"servicelens: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        if "ephemeral Prefect API" not in str(error):
            raise
        print(
            "servicelens: error: Prefect's temporary API did not start in time (a busy "
            "machine?). Try again with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300, or "
            "start a server with `prefect server start` and set PREFECT_API_URL to it",
            file=sys.stderr,
        )
        return 2
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


if __name__ == "__main__":
    raise SystemExit(main())
