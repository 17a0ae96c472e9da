"""The quick commands start without the heavy libraries, on a finished data directory.

``--help``, ``query``, ``models list``, ``dictionary``, ``report`` and ``backfill --dry-run``
must answer in well under two seconds; importing Prefect, Great Expectations, scikit-learn
(with skops) or Dask would take several. Each command runs end to end in a fresh interpreter
under ``python -X importtime``, which names every module it imported. (Speed itself is
measured, not asserted: README "The command line".)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from servicelens.settings import Settings
from tests.bi.conftest import DEMO_END, DEMO_START

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"prefect", "great_expectations", "sklearn", "skops", "dask", "distributed"}


def _imported(argv: list[str]) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "servicelens.cli.main", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    modules = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return modules, done


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["query", "policies_by_root_cause"],
        ["query", "--list"],
        ["models", "list"],
        ["dictionary"],
        ["dictionary", "--check"],
        ["report"],
        ["backfill", "--start", str(DEMO_START), "--end", str(DEMO_END), "--dry-run"],
    ],
    ids=" ".join,
)
def test_quick_commands_import_no_heavy_library(demo_data: Settings, command: list[str]) -> None:
    modules, done = _imported(["--data-dir", str(demo_data.root), *command])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), "the command printed nothing"
    assert "servicelens" in modules  # the importtime log was read
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_quick_commands_of_a_source_with_features_import_no_heavy_library(tmp_path: Path) -> None:
    """Found by a trial: once a source whose definition declares [features] was configured,
    `models list` imported scikit-learn (reading the features went through the model's
    module) and took 2.4 s."""
    from servicelens.ingest.configured import register_source

    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), "cfpb")  # its preset declares [features]
    for command in (
        ["models", "--source", "cfpb", "list"],
        ["query", "--list"],
    ):
        modules, done = _imported(["--data-dir", str(data), *command])
        assert done.returncode == 0, done.stderr[-2000:]
        assert "servicelens" in modules
        assert not modules & HEAVY, (command, sorted(modules & HEAVY))


def test_the_report_command_draws_the_model_sections_without_them(demo_data: Settings) -> None:
    modules, done = _imported(["--data-dir", str(demo_data.root), "--json", "report"])
    assert done.returncode == 0, done.stderr[-2000:]
    missing = json.loads(done.stdout)["sections_not_available"]
    # Every section that reads the model and the audits was drawn (the six demo dates are too
    # few for some of the sections about history, which say so).
    drawn = ("Data quality", "Model and baselines", "Calibration", "Drift flags")
    assert not [title for title in missing if title.startswith(drawn)], missing
    assert not [title for title in missing if "Confusion matrix" in title], missing
    assert not modules & HEAVY


def test_a_refused_command_imports_no_heavy_library(tmp_path: Path) -> None:
    """A command refused before any work says so without importing scikit-learn: telling a
    refusal from a bug asked whether the error was training's own (models.stacked, which
    imports scikit-learn), and every refused command paid 3.6 s of CPU for it, 1.0 s since
    (farm-bench, `train` on an empty data directory, 2026-12-07)."""
    data = tmp_path / "data"
    data.mkdir()
    modules, done = _imported(["--data-dir", str(data), "train"])
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no clean data yet, so nothing to train on" in done.stderr
    assert "servicelens" in modules
    assert not modules & HEAVY, sorted(modules & HEAVY)
