"""Raw files -> clean layer for one generated date, two source trees side by side.

Each run is a fresh process that runs ``stages.validate_day`` and ``stages.publish_clean``
(read, validate, clean, write the clean and quarantine partitions; no scoring) from one tree,
with the stage clock of ``benchmarks.impl_servicelens``; the trees alternate, and the medians
are compared. It answers "is the ingest layer of this branch slower than that of another
commit?" on the same data and machine:

    git archive <base commit> | tar -x -C /tmp/base
    .venv/bin/python benchmarks/ingest_compare.py /tmp/base . benchmarks/data/1M-x5 --repeats 3

(``make bench BENCH_ARGS="--sizes 1M"`` generates ``benchmarks/data/1M-x5`` first.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

RUN_ONE = """
import importlib, json, shutil, sys, time
from datetime import date
root, data, day = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, root)
from benchmarks.clock import StageClock, peak_rss_bytes
from benchmarks.impl_servicelens import STAGES
import flows.tasks  # imports and GX's context are start-up, not work
from servicelens.validation.expectations import _context
_context()
from servicelens import stages
from servicelens.settings import Settings
assert stages.__file__.startswith(root), stages.__file__
for name in ("clean", "quarantine", "marts", ".staging"):
    shutil.rmtree(f"{data}/{name}", ignore_errors=True)
settings = Settings(data_dir=data)
with StageClock() as clock:
    for module_name, functions in STAGES.items():
        module = importlib.import_module(module_name)
        for attribute, stage in functions.items():
            clock.wrap(module, attribute, stage)
    began = time.perf_counter()
    validated = stages.validate_day(settings, date.fromisoformat(day), "bench")
    stages.publish_clean(settings, validated, {"run_id": "bench"})
    wall = time.perf_counter() - began
counts = validated.counts
print(json.dumps({"wall_s": wall, "stages_s": dict(clock.seconds), "read": counts.surveys_read,
                  "kept": counts.kept, "peak_mb": peak_rss_bytes() / 2**20}))
"""


def run_one(tree: Path, data: Path, day: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", RUN_ONE, str(tree.resolve()), str(data.resolve()), day],
        capture_output=True,
        text=True,
        cwd=tree,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", type=Path, help="the tree to compare against (e.g. main)")
    parser.add_argument("new", type=Path, help="this tree")
    parser.add_argument("data", type=Path, help="a generated dataset")
    parser.add_argument("--day", default="2026-10-01")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, object]]] = {"base": [], "new": []}
    for _ in range(args.repeats):
        for name in ("base", "new"):
            result = run_one(getattr(args, name), args.data, args.day)
            runs[name].append(result)
            print(name, json.dumps(result), flush=True)
    for name, results in runs.items():
        walls = [float(r["wall_s"]) for r in results]  # type: ignore[arg-type]
        stages = {
            s: statistics.median(float(r["stages_s"].get(s, 0.0)) for r in results)  # type: ignore[union-attr]
            for s in ("read", "validate", "clean", "write", "other")
        }
        print(
            f"{name}: median {statistics.median(walls):.2f} s of {[round(w, 2) for w in walls]}; "
            + ", ".join(f"{s} {v:.2f}" for s, v in stages.items())
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
