"""``servicelens backfill`` and ``servicelens serve``: the analyst's backfill and the scheduler."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from servicelens.settings import Settings
from servicelens.storage.runs import RERUN_POLICIES


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def _detail(row: dict[str, Any]) -> str:
    result = row.get("result") or {}
    if row["outcome"] == "completed":
        return (
            f"read {result.get('surveys_read')} kept {result.get('kept')} quarantined "
            f"{result.get('quarantined')} scored {result.get('scored')}"
        )
    return str(row.get("error", ""))


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    """Plan (``--dry-run``) or run a backfill; exit 1 when any date failed."""
    from servicelens.storage.runs import date_status, plan_backfill

    if args.dry_run:
        # Planned without Prefect: a dry run changes nothing, not even the run history.
        days = [
            date.fromordinal(d) for d in range(args.start.toordinal(), args.end.toordinal() + 1)
        ]
        if not days:
            raise ValueError(f"--end {args.end} is before --start {args.start}")
        plan = plan_backfill(
            [date_status(settings, d) for d in days], args.rerun, args.newest_first
        )
        planned = [
            {
                "date": str(p.day),
                "state": p.state,
                "action": "run" if p.run else "skip",
                "reason": p.reason,
            }
            for p in plan
        ]
        if args.json:
            print(json.dumps(planned, indent=2))
        else:
            print(_table(planned, ["date", "state", "action", "reason"]))
            print(f"dry run: {sum(p.run for p in plan)} of {len(plan)} dates would run")
        return 0

    from flows.fanout import dask_address
    from flows.pipeline import backfill
    from servicelens.cli.console import files_since, progress

    # The bar counts mart partitions this backfill writes, out of the dates its plan will run.
    started = time.time()
    days = [date.fromordinal(d) for d in range(args.start.toordinal(), args.end.toordinal() + 1)]
    to_run = sum(
        p.run for p in plan_backfill([date_status(settings, d) for d in days], args.rerun, False)
    )
    with progress(
        "backfill",
        to_run,
        lambda: files_since(
            settings.marts_dir / "feedback_scored", "survey_date=*/_manifest.json", started
        ),
        enabled=not args.json,
        unit="date",
    ):
        state = backfill(
            args.start,
            args.end,
            rerun=args.rerun,
            newest_first=args.newest_first,
            concurrency=args.concurrency,
            settings=settings,
            dask_address=dask_address(args.dask_address),
            return_state=True,
        )
    rows: Any = state.result(raise_on_failure=False)
    if not isinstance(rows, list):  # the backfill itself failed before running any date
        raise RuntimeError(f"backfill failed: {state.message}")
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        shown = [{**r, "date": r["day"], "detail": _detail(r)} for r in rows]
        print(_table(shown, ["date", "outcome", "flow_run", "detail"]))
        counts = {
            o: sum(r["outcome"] == o for r in rows)
            for o in ("completed", "failed", "skipped", "duplicate")
        }
        print(", ".join(f"{n} {o}" for o, n in counts.items()))
        print(f"report: {settings.reports_dir / 'latest.html'}")
    return 1 if any(r["outcome"] == "failed" for r in rows) else 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the nightly, backfill and retrain deployments on the configured Prefect API."""
    from flows.deployments import serve_deployments

    serve_deployments(settings)
    return 0


def add_schedule_commands(sub: Any, day: Callable[[str], date]) -> None:
    """Register ``backfill`` and ``serve`` on the main parser's subcommands."""
    back = sub.add_parser(
        "backfill",
        help="run a date range, each date its own flow run; ends with a table of outcomes",
    )
    back.add_argument("--start", type=day, required=True)
    back.add_argument("--end", type=day, required=True)
    back.add_argument(
        "--rerun",
        choices=RERUN_POLICIES,
        default="missing",
        help="missing: never published (default); failed: also last run failed; all: every date",
    )
    back.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    back.add_argument("--newest-first", action="store_true", help="run the latest dates first")
    back.add_argument(
        "--concurrency",
        type=int,
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
        help="serve the nightly, backfill and retrain deployments (needs PREFECT_API_URL)",
    )
    serve.set_defaults(handler=cmd_serve)
