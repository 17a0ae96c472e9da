"""The ``servicelens`` command line: the entry point that builds settings and starts flows.

Prefect is imported only after its home is pointed inside the project (``.prefect/`` next to
the working directory unless ``PREFECT_HOME`` is set), so runs never touch the user's home.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from servicelens.settings import Settings

EXAMPLES = """\
examples:
  servicelens demo                                   # sample data, every flow, a summary
  servicelens generate --start 2026-10-01 --end 2026-10-07 --per-day 2000 --seed 7
  servicelens run --date 2026-10-07                  # the nightly flow for one date
  servicelens backfill --start 2026-10-01 --end 2026-10-07
  servicelens train                                  # train, register, maybe promote
  SERVICELENS_DATA_DIR=/srv/servicelens servicelens run --date 2026-10-07
"""


def _configure_prefect_home() -> None:
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from error


def _print(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))


def cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from servicelens.fs import local_folder_for
    from servicelens.synthetic import generate

    with local_folder_for(settings.root) as out:
        summary = generate(out, args.start, args.end, args.per_day, args.seed)
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
    return 0


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from flows.fanout import run_backfill

    outcomes = run_backfill(args.start, args.end, settings, args.dask_address)
    _print(outcomes, args.json)
    if not args.json:
        print(f"{'date':<12} {'outcome':<10} detail")
        for row in outcomes:
            detail = _counts_line(row) if row["outcome"] == "completed" else row.get("error", "")
            print(f"{row['day']:<12} {row['outcome']:<10} {detail}")
    return 1 if any(row["outcome"] != "completed" for row in outcomes) else 0


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
            f"marts: {settings.marts_dir}/feedback_scored, {settings.marts_dir}/daily_summary",
            f"quarantine: {settings.quarantine_dir}   models: {settings.models_dir}",
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
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write deterministic synthetic source exports")
    gen.add_argument("--start", type=_day, required=True)
    gen.add_argument("--end", type=_day, required=True)
    gen.add_argument("--per-day", type=int, default=1500)
    gen.add_argument("--seed", type=int, default=7)
    gen.set_defaults(handler=cmd_generate)

    run = sub.add_parser("run", help="the nightly flow for one survey date")
    run.add_argument("--date", type=_day, default=None, help="default: yesterday")
    run.set_defaults(handler=cmd_run)

    back = sub.add_parser("backfill", help="the nightly flow over a date range")
    back.add_argument("--start", type=_day, required=True)
    back.add_argument("--end", type=_day, required=True)
    back.add_argument(
        "--dask-address",
        default=None,
        help="run the dates on this Dask scheduler, e.g. tcp://HOST:8786 "
        "(default: $SERVICELENS_DASK_ADDRESS, else one date at a time locally)",
    )
    back.set_defaults(handler=cmd_backfill)

    train = sub.add_parser("train", help="train a challenger model and promote it if not worse")
    train.set_defaults(handler=cmd_train)

    demo = sub.add_parser("demo", help="sample data -> every flow -> marts, with a summary")
    demo.add_argument("--start", type=_day, default=None)
    demo.add_argument("--end", type=_day, default=None, help="default: yesterday")
    demo.add_argument("--days", type=int, default=28)
    demo.add_argument("--per-day", type=int, default=1500)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_prefect_home()
    settings = Settings.from_env(args.data_dir)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    from servicelens.sources import SourceError
    from servicelens.stages import BatchError

    try:
        return handler(args, settings)
    except (BatchError, SourceError, ValueError) as error:
        print(f"servicelens: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
