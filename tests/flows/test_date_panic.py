"""A Rust panic in one date of a backfill is that date's failure, not a stop of the process.

Found by a user trial: polars panicked in a date's stage; ``backfill`` printed no table,
exited 1 and left the date's in-flight record saying "interrupted (PanicException)", so
``runs show`` exited 1 until ``runs release``. pyo3's ``PanicException`` derives from
``BaseException``, and every place that told a stop (Ctrl-C, SIGTERM) from a bug took it
for a stop. Here a real backfill of two generated dates runs through the command line on
the embedded Prefect API, and one date's stage panics.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicelens.settings import Settings
from tests.flows.conftest import flow_runs_named

START = date(2026, 10, 1)
DAYS = [START, START + timedelta(days=1)]
BROKEN = DAYS[1]
PANIC = "assertion failed: i < self.len()"


def _panic() -> None:
    """Panic as polars 2.1 does over a column whose first chunk is filtered away; a polars
    that no longer panics there gets the same type raised as pyo3 raises it."""
    import polars as pl
    from polars.exceptions import PanicException

    text = pl.Series("s", ["a", "b", "c"])
    text.append(pl.Series("s", ["d", "e"]))
    frame = pl.DataFrame([pl.Series("v", [1, 2, 3, 4, 5]), text]).filter(pl.col("v") > 3)
    frame.select(pl.format("{}", "s"))  # noqa: TID251 - panics in polars 2.1
    raise PanicException(PANIC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from servicelens.synthetic.generator import generate

    generate(tmp_path, START, DAYS[-1] + timedelta(days=1), 40, 3)
    return Settings(data_dir=str(tmp_path))


def test_a_panic_in_one_date_fails_that_date_and_the_backfill_goes_on(
    prefect_api: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import flows.tasks
    from servicelens.cli.main import main
    from servicelens.storage.claims import list_claims
    from servicelens.storage.runs import date_status, read_outcome

    publish_marts = flows.tasks.publish_marts

    def panics_on_broken(settings: Settings, day: date, *args: Any, **kwargs: Any) -> Any:
        if day == BROKEN:
            _panic()
        return publish_marts(settings, day, *args, **kwargs)

    monkeypatch.setattr(flows.tasks, "publish_marts", panics_on_broken)
    argv = ["--data-dir", settings.data_dir]
    backfill = [*argv, "backfill", "--start", str(DAYS[0]), "--end", str(DAYS[-1])]

    code = main([*backfill, "--json"])
    rows = {r["day"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert [rows[str(d)]["outcome"] for d in DAYS] == ["completed", "failed"]
    assert rows[str(BROKEN)]["error"] == f"RustPanicError: {PANIC}"
    assert "--rerun failed" in rows[str(BROKEN)]["todo"]
    recorded = read_outcome(settings, BROKEN) or {}
    assert recorded["outcome"] == "failed"
    assert recorded["error"] == f"RustPanicError: {PANIC}"
    assert date_status(settings, BROKEN).state == "failed"
    # Prefect's engine saw an error of the date's flow run, not a crash of its process.
    [run] = flow_runs_named(f"backfill-{BROKEN}", settings.data_dir)
    assert run.state.type.value == "FAILED"
    # Nothing is left held: no record for `runs show` to call dead.
    assert list_claims(settings) == []
    assert main([*argv, "runs", "show"]) == 0
    capsys.readouterr()

    monkeypatch.setattr(flows.tasks, "publish_marts", publish_marts)
    assert main([*backfill, "--rerun", "failed", "--json"]) == 0
    rows = {r["day"]: r for r in json.loads(capsys.readouterr().out)}
    assert [rows[str(d)]["outcome"] for d in DAYS] == ["skipped", "completed"]
    assert date_status(settings, BROKEN).state == "completed"
