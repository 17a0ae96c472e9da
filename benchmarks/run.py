"""``make bench``: the pipeline at 10k, 100k, 1M and 5M surveys, beside two references doing
the same work (pandas, and a DuckDB peer in SQL) and a polars floor, with wall time, rows per
second and peak memory per stage.

Every measurement runs in a fresh subprocess, so peak memory is that run's own and nothing is
warm from a previous run. Data is generated once into ``benchmarks/data/`` (git-ignored) and
reused by later runs. 10k and 100k are one date each; 1M is one date of a five-date dataset
of 1M surveys a day and 5M is all five dates of it, processed as a backfill does (one date
after another, each reading its three days of interactions).

Implementations alternate within each round of runs (servicelens, pandas, DuckDB, floor,
then pandas, DuckDB, floor, servicelens, and so on: each round starts with the next one), so
a busy spell of the shared machine, or the slow first run of a size, does not land on one of
them; the table holds the median run of each. The ratios are medians over medians.

Usage: ``python -m benchmarks.run [--sizes 10k,100k,1M,5M] [--repeats 3] [--repeats-large 3]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
START = date(2026, 10, 1)
STAGES = ("read", "validate", "redact", "clean", "score", "write", "other")
IMPLEMENTATIONS = ("servicelens", "pandas", "duckdb", "floor")
#: Issue 18's targets (2 cores).
TARGETS = {
    "1M_over_floor": 5.0,
    "1M_peak_gb": 3.0,
    "5M_over_1M_over_floors": 1.1,
    "pandas_over_servicelens_1M": 5.0,
    "pandas_over_servicelens_100k": 4.0,
    "duckdb_over_servicelens_1M": 1.0,
    "prefect_overhead_s_per_date": 0.3,
}


@dataclass(frozen=True)
class Size:
    label: str
    dataset: str  # folder under the data dir
    per_day: int
    days_generated: int
    days_processed: int


SIZES = {
    "10k": Size("10k", "10k", 10_000, 1, 1),
    "100k": Size("100k", "100k", 100_000, 1, 1),
    "1M": Size("1M", "1M-x5", 1_000_000, 5, 1),
    "5M": Size("5M", "1M-x5", 1_000_000, 5, 5),
}


def generate(data: Path, size: Size) -> Path:
    """Generate a dataset once; a marker file records what it holds."""
    from servicelens.synthetic.generator import generate as generate_raw

    target = data / size.dataset
    marker = target / ".generated.json"
    spec = {"per_day": size.per_day, "days": size.days_generated, "start": str(START)}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return target
    shutil.rmtree(target, ignore_errors=True)
    began = time.perf_counter()
    end = START + timedelta(days=size.days_generated - 1)
    generate_raw(target, START, end, size.per_day, seed=7)
    marker.write_text(json.dumps(spec))
    print(f"generated {size.dataset} in {time.perf_counter() - began:.1f}s", flush=True)
    return target


def train_model(data: Path) -> Path:
    """Ingest a small sample and train the champion every implementation scores with."""
    from models.registry import (
        METADATA_FILE,
        MODEL_FORMAT,
        champion_version,
        save_model,
        set_champion,
    )
    from models.train import train_root_cause_model
    from servicelens import stages
    from servicelens.settings import Settings
    from servicelens.synthetic.generator import generate as generate_raw

    target = data / "train"
    models = target / "models"
    version = champion_version(models)
    if version is not None:
        saved = json.loads((models / version / METADATA_FILE).read_text())
        # A model saved by older code is trained again: its file may load slower, and every
        # implementation loads it inside the clock.
        if saved.get("model_format") == MODEL_FORMAT:
            return models
    shutil.rmtree(target, ignore_errors=True)
    end = START + timedelta(days=6)
    generate_raw(target, START, end, 1500, seed=7)
    settings = Settings(data_dir=str(target))
    for i in range(7):
        validated = stages.validate_day(settings, START + timedelta(days=i), "bench-train")
        stages.publish_clean(settings, validated, {"run_id": "bench-train"})
    result = train_root_cause_model(stages.labelled_negatives(settings), seed=7)
    save_model(result.model, models, "bench", {"purpose": "benchmark"}, result.metrics)
    set_champion(models, "bench", "benchmark model")
    return models


def reset_outputs(dataset: Path, models: Path) -> None:
    for name in (
        "clean",
        "quarantine",
        "marts",
        ".staging",
        "pandas_out",
        "duckdb_out",
        "floor_out",
    ):
        shutil.rmtree(dataset / name, ignore_errors=True)
    copy = dataset / "models"
    if copy.exists() and _champion_sha(copy) != _champion_sha(models):
        shutil.rmtree(copy)  # the champion was trained again since it was copied
    if not copy.exists():
        shutil.copytree(models, copy)


def _champion_sha(models: Path) -> str | None:
    """The checksum the champion's metadata records for its model file."""
    from models.registry import METADATA_FILE, champion_version

    version = champion_version(models)
    if version is None:
        return None
    return str(json.loads((models / version / METADATA_FILE).read_text()).get("model_sha256"))


def measure_one(impl: str, dataset: str, days: list[date]) -> dict[str, Any]:
    """Run one implementation in this (fresh) process and return its measurements."""
    import importlib

    from benchmarks.clock import StageClock, peak_rss_bytes

    module = importlib.import_module(
        {
            "servicelens": "benchmarks.impl_servicelens",
            "pandas": "benchmarks.pandas_reference",
            "duckdb": "benchmarks.duckdb_reference",
            "floor": "benchmarks.floor",
        }[impl]
    )
    # Library imports and GX's context are start-up, not work: warm them before the clock
    # (skops builds its table of trusted types when imported, seconds on a busy machine;
    # every implementation but the floor loads the model with it).
    if impl != "floor":
        import skops.io  # noqa: F401
    if impl in ("pandas", "duckdb"):
        import duckdb  # noqa: F401
        import sklearn.pipeline  # noqa: F401

        import models.explain  # noqa: F401
    if impl == "servicelens":
        import flows.tasks  # noqa: F401
        from servicelens.validation.expectations import _context

        _context()
    baseline = peak_rss_bytes()
    began = time.perf_counter()
    with StageClock() as clock:
        counts = module.run(dataset, days, clock)
    wall = time.perf_counter() - began
    return {
        "impl": impl,
        "wall_s": wall,
        "stages_s": {s: clock.seconds.get(s, 0.0) for s in STAGES},
        "stages_cpu_s": {s: clock.cpu_seconds.get(s, 0.0) for s in STAGES},
        "cpu_s": sum(clock.cpu_seconds.values()),
        "stage_peak_mb": {s: clock.peak.get(s, 0) / 2**20 for s in STAGES},
        "peak_mb": peak_rss_bytes() / 2**20,
        "baseline_mb": baseline / 2**20,
        "counts": counts,
        "per_date": clock.marks,
    }


def run_subprocess(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    import os

    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark step {args} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def prefect_overhead(dataset: str, days: list[date], repeats: int = 3) -> dict[str, Any]:
    """Seconds per date a Prefect backfill adds over calling the same stages directly.

    Also reported: the embedded API's CPU seconds per date during the backfills (Linux), and
    the two things a backfill does once at its end that the direct calls leave out (the
    weekly marts and the run report), timed by calling their functions directly, so the
    overhead can be read with and without them.
    """
    import os

    # Prefect's home inside the project, as the CLI does; the embedded API may start slowly
    # on a busy machine, and its start-up is measured separately, not counted as overhead.
    os.environ.setdefault("PREFECT_HOME", str(HERE.parent / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect import flow

    from benchmarks.impl_servicelens import run as run_plain
    from flows.fanout import run_backfill
    from servicelens.cli.embedded_api import start_in_background
    from servicelens.outcomes import publish_weekly_marts
    from servicelens.reporting.report import build_report
    from servicelens.settings import Settings

    @flow(name="bench-warm-up")
    def warm_up() -> int:
        return 1

    began = time.perf_counter()
    # The embedded API as the commands start it (its settings: servicelens.cli.embedded_api);
    # before 2026-12-07 the bench let Prefect start its own, with Prefect's defaults.
    start_in_background()
    warm_up()  # waits for the embedded API: start-up, excluded from the overhead
    startup = time.perf_counter() - began
    from benchmarks.clock import StageClock

    with StageClock() as clock:  # also warms imports and GX
        run_plain(dataset, days, clock)

    plain_cpu: list[float] = []
    plain_api_cpu: list[float] = []

    def timed_plain() -> tuple[float, float]:
        began, cpu_began, api_began = time.perf_counter(), _own_cpu_s(), api_server_cpu_s()
        with StageClock() as clock:
            run_plain(dataset, days, clock)
        stages = time.perf_counter() - began
        plain_cpu.append(_own_cpu_s() - cpu_began)
        if api_began is not None and (api_ended := api_server_cpu_s()) is not None:
            plain_api_cpu.append(api_ended - api_began)
        # What the backfill does once at its end, called directly, timed apart.
        began = time.perf_counter()
        settings = Settings(data_dir=dataset)
        publish_weekly_marts(settings, days, {"run_id": "bench", "flow": "bench"})
        build_report(settings, "bench")
        return stages, time.perf_counter() - began

    from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

    backfill_cpu: list[float] = []

    def timed_backfill(refresh_cache: bool) -> tuple[float, float | None]:
        began, cpu_began, api_began = time.perf_counter(), _own_cpu_s(), api_server_cpu_s()
        # rerun="all": the plain runs above already published these dates.
        with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: refresh_cache}):
            outcomes = run_backfill(days[0], days[-1], Settings(data_dir=dataset), rerun="all")
        assert all(o["outcome"] == "completed" for o in outcomes), outcomes
        wall, api_ended = time.perf_counter() - began, api_server_cpu_s()
        backfill_cpu.append(_own_cpu_s() - cpu_began)
        api = api_ended - api_began if api_began is not None and api_ended is not None else None
        return wall, api

    # The overhead is measured with the parse cache bypassed (every file parsed as often as
    # the plain run parses it; writing the cache entries is still paid): a warm cache saves
    # work the plain run does, and would hide the overhead. Its saving is reported apart.
    # Plain and Prefect runs alternate, and the medians are compared: on a shared machine a
    # single pair of runs moved the result by more than the target itself.
    plains: list[float] = []
    once: list[float] = []
    backfills: list[float] = []
    api_cpu: list[float] = []
    for _ in range(repeats):
        stages, at_end = timed_plain()
        plains.append(stages)
        once.append(at_end)
        wall, api = timed_backfill(refresh_cache=True)
        backfills.append(wall)
        if api is not None:
            api_cpu.append(api)
    plain, through_prefect = statistics.median(plains), statistics.median(backfills)
    weekly_and_report = statistics.median(once)
    own_cpu = (statistics.median(backfill_cpu) - statistics.median(plain_cpu)) / len(days)
    api_cpu_overhead = (
        (statistics.median(api_cpu) - statistics.median(plain_api_cpu)) / len(days)
        if api_cpu and plain_api_cpu
        else None
    )
    cached, _ = timed_backfill(refresh_cache=False)
    return {
        "dates": len(days),
        "repeats": repeats,
        "prefect_startup_s": startup,
        "plain_s": plain,
        "plain_runs_s": plains,
        "backfill_s": through_prefect,
        "backfill_runs_s": backfills,
        "backfill_cache_warm_s": cached,
        "overhead_s_per_date": (through_prefect - plain) / len(days),
        "weekly_marts_and_report_s": weekly_and_report,
        "overhead_s_per_date_beyond_weekly_marts_and_report": (
            through_prefect - plain - weekly_and_report
        )
        / len(days),
        "api_server_cpu_s_per_date": (statistics.median(api_cpu) / len(days) if api_cpu else None),
        # CPU seconds (user + system) per date the backfill adds over the direct calls, this
        # process's (all its threads) and the embedded API's: on a shared machine the wall
        # overhead also holds the waits for a busy core at every API call.
        "load_average": os.getloadavg()[0],
        "overhead_cpu_s_per_date": own_cpu,
        "overhead_api_cpu_s_per_date": api_cpu_overhead,
    }


def _own_cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far, all its threads."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def api_server_cpu_s() -> float | None:
    """CPU seconds (user + system) used so far by this process's child processes that are
    alive: in the Prefect benchmark, the embedded API server. None where /proc is missing."""
    import os

    tasks = Path("/proc/self/task")
    if not tasks.exists():
        return None
    children = {pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()}
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run (by wall time) of repeated runs, with every wall time kept."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    median = dict(ordered[len(ordered) // 2])
    median["repeats"] = len(runs)
    median["all_wall_s"] = [round(r["wall_s"], 3) for r in runs]
    median["wall_s"] = statistics.median(r["wall_s"] for r in runs)
    return median


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| size | implementation | "
        + " | ".join(f"{s} s" for s in STAGES)
        + " | total s | CPU s | rows/s | peak MB | every run, s |",
        "|---|---|" + "---:|" * (len(STAGES) + 5),
    ]
    for label, by_impl in results["sizes"].items():
        rows = by_impl["rows"]
        for impl in IMPLEMENTATIONS:
            r = by_impl.get(impl)
            if r is None:
                continue
            stages = " | ".join(f"{r['stages_s'][s]:.2f}" for s in STAGES)
            lines.append(
                f"| {label} | {impl} | {stages} | {r['wall_s']:.2f} | {r.get('cpu_s', 0):.1f} | "
                f"{rows / r['wall_s']:,.0f} | {r['peak_mb']:,.0f} | "
                f"{', '.join(f'{w:.1f}' for w in r['all_wall_s'])} |"
            )
    for label, by_impl in results["sizes"].items():
        dates = by_impl["servicelens"].get("per_date", [])
        if len(dates) < 2:
            continue
        lines += [
            "",
            f"{label}, servicelens, date by date (a backfill that slows down or grows shows here):",
            "",
            "| date | " + " | ".join(f"{s} s" for s in STAGES) + " | total s | RSS after MB |",
            "|---|" + "---:|" * (len(STAGES) + 2),
        ]
        for d in dates:
            stages = " | ".join(f"{d['stages_s'].get(s, 0.0):.2f}" for s in STAGES)
            lines.append(f"| {d['label']} | {stages} | {d['total_s']:.2f} | {d['rss_mb']:,.0f} |")
    lines += ["", "| measure | value | target | met |", "|---|---:|---:|---|"]
    for name, check in results["checks"].items():
        met = "yes" if check["met"] else "**no**"
        lines.append(f"| {name} | {check['value']:.2f} | {check['target']} | {met} |")
    machine = results["machine"]
    lines += [
        "",
        f"Machine: {machine['cpus']} CPUs, load average {machine['load_before']:.1f} before the "
        f"run and {machine.get('load_after', float('nan')):.1f} after; "
        f"servicelens {results['code_version']}; {results['started_at']}.",
    ]
    return "\n".join(lines)


def checks(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Issue 18's targets against what this run measured (ratios of median wall times)."""
    sizes = results["sizes"]
    out: dict[str, dict[str, Any]] = {}

    def add(name: str, value: float, target: float | None, below: bool) -> None:
        out[name] = {
            "value": value,
            "target": "(information)" if target is None else f"{'<' if below else '>'} {target}",
            "met": True if target is None else (value < target if below else value > target),
        }

    for label, by_impl in sizes.items():
        ours = by_impl["servicelens"]["wall_s"]
        if "pandas" in by_impl:
            target = {"1M": TARGETS["pandas_over_servicelens_1M"]}.get(
                label, TARGETS["pandas_over_servicelens_100k"] if label == "100k" else None
            )
            add(f"{label}: pandas time / servicelens time", by_impl["pandas"]["wall_s"] / ours,
                target, False)  # fmt: skip
        if "duckdb" in by_impl:
            target = TARGETS["duckdb_over_servicelens_1M"] if label == "1M" else None
            add(f"{label}: DuckDB time / servicelens time", by_impl["duckdb"]["wall_s"] / ours,
                target, False)  # fmt: skip
        if "floor" in by_impl:
            target = TARGETS["1M_over_floor"] if label == "1M" else None
            add(f"{label}: servicelens time / floor time", ours / by_impl["floor"]["wall_s"],
                target, True)  # fmt: skip
    if "1M" in sizes:
        one = sizes["1M"]["servicelens"]
        add("1M peak memory, GB", one["peak_mb"] / 1024, TARGETS["1M_peak_gb"], True)
        if "5M" in sizes and "floor" in sizes["5M"] and "floor" in sizes["1M"]:
            ours = sizes["5M"]["servicelens"]["wall_s"] / one["wall_s"]
            floors = sizes["5M"]["floor"]["wall_s"] / sizes["1M"]["floor"]["wall_s"]
            add("(5M / 1M) / the floor's (5M / 1M)", ours / floors,
                TARGETS["5M_over_1M_over_floors"], True)  # fmt: skip
    if "prefect" in results:
        add(
            "Prefect overhead per date in a backfill, s",
            results["prefect"]["overhead_s_per_date"],
            TARGETS["prefect_overhead_s_per_date"],
            True,
        )
        beyond = results["prefect"].get("overhead_s_per_date_beyond_weekly_marts_and_report")
        if beyond is not None:
            add("  of which not the weekly marts and report, s", beyond, None, True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("one", help="(internal) one measurement in this process")
    one.add_argument("--impl", choices=IMPLEMENTATIONS, required=True)
    one.add_argument("--data", required=True)
    one.add_argument("--days", type=int, required=True)
    over = sub.add_parser("prefect", help="(internal) Prefect overhead per date")
    over.add_argument("--data", required=True)
    parser.add_argument("--sizes", default="10k,100k,1M,5M")
    parser.add_argument("--repeats", type=int, default=3, help="runs of 10k and 100k")
    parser.add_argument("--repeats-large", type=int, default=3, help="runs of 1M and 5M")
    parser.add_argument(
        "--references-up-to", default="1M", help="largest size pandas and DuckDB run at"
    )
    parser.add_argument("--no-prefect", action="store_true", help="skip the Prefect overhead")
    parser.add_argument("--data-dir", default=str(HERE / "data"))
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)

    if args.command == "one":
        days = [START + timedelta(days=i) for i in range(args.days)]
        print(json.dumps(measure_one(args.impl, args.data, days)))
        return 0
    if args.command == "prefect":
        days = [START + timedelta(days=i) for i in range(7)]
        print(json.dumps(prefect_overhead(args.data, days)))
        return 0
    return run_all(args)


def run_all(args: argparse.Namespace) -> int:
    import os
    from datetime import UTC, datetime

    from servicelens.storage.partitions import code_version

    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    reference_limit = list(SIZES).index(args.references_up_to)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": code_version(),
        "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]},
        "sizes": {},
    }
    models = train_model(data)
    for label in labels:
        size = SIZES[label]
        dataset = generate(data, size)
        large = size.per_day * size.days_processed > 100_000
        repeats = args.repeats_large if large else args.repeats
        impls = [
            impl
            for impl in IMPLEMENTATIONS
            if impl not in ("pandas", "duckdb") or list(SIZES).index(label) <= reference_limit
        ]
        runs: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
        for round_ in range(repeats):
            # Alternating, one run of each per round, and each round starts with the next
            # implementation: the first run of a size (after the lighter size before it) was
            # the slowest of its three whichever ran first (servicelens' first 100k run:
            # 2.9, 3.7 and 3.8 s in three benches, against 2.5-2.8 s for its next two).
            start = round_ % len(impls)
            for impl in impls[start:] + impls[:start]:
                reset_outputs(dataset, models)
                days = str(size.days_processed)
                run = run_subprocess(
                    ["one", "--impl", impl, "--data", str(dataset), "--days", days]
                )
                runs[impl].append(run)
                print(
                    f"{label:>5} {impl:<12} run {round_ + 1}/{repeats} {run['wall_s']:8.2f}s "
                    f"peak {run['peak_mb']:8.0f} MB",
                    flush=True,
                )
        by_impl: dict[str, Any] = {impl: summarise(r) for impl, r in runs.items()}
        for name, check in checks({"sizes": {label: by_impl}}).items():
            print(f"{name}: {check['value']:.2f} (target {check['target']})", flush=True)
        by_impl["rows"] = by_impl["servicelens"]["counts"]["surveys"]
        results["sizes"][label] = by_impl
        write_results(results, Path(args.out))  # partial results survive an interrupted run
    if not args.no_prefect:
        train_dir = data / "train"
        reset_outputs(train_dir, models)
        import tempfile

        # A fresh Prefect home (empty database), as on a new machine: the target's setting.
        with tempfile.TemporaryDirectory(prefix="bench-prefect-") as home:
            results["prefect"] = run_subprocess(
                ["prefect", "--data", str(train_dir)], env={"PREFECT_HOME": home}
            )
        overhead = results["prefect"]["overhead_s_per_date"]
        print(f"prefect overhead {overhead:.3f}s per date", flush=True)
    results["machine"]["load_after"] = os.getloadavg()[0]
    print(write_results(results, Path(args.out)))
    return 0


def write_results(results: dict[str, Any], out: Path) -> str:
    """Write bench.json and bench.md under ``out``; return the markdown."""
    results["checks"] = checks(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    table = markdown(results)
    (out / "bench.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    raise SystemExit(main())
