"""``servicelens erase`` says and records which dates' manifests it updated because their
look-back reads the contact facts it rewrote (the set-up of
``test_erase_neighbour_inputs``: a real configured source with a contact-facts feed, real
landing, real ``backfill``): the erasure record, the ``--json`` output and the summary
name 2026-11-16, whose manifests changed though none of its data did. Found in review:
the dates were updated and returned, but nothing recorded them, so an auditor reading the
record could not tell why those manifests changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.settings import Settings
from tests.reliability.test_erase_neighbour_inputs import run_source  # noqa: F401  (fixture)

NEIGHBOUR = "helpdesk/2026-11-16"


def _erase(source: Settings, *extra: str) -> int:
    argv = ["--data-dir", str(source.data_dir), "erase", "--customer-id", "C1"]
    return main([*argv, "--source", "helpdesk", "--yes", *extra])


def test_the_summary_and_the_record_name_the_dates_whose_look_back_was_updated(
    run_source: Settings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _erase(run_source) == 0
    said = capsys.readouterr().out
    told = [line for line in said.splitlines() if "look-back" in line]
    assert len(told) == 1, said
    assert told[0].endswith(f": {NEIGHBOUR}"), told
    path = Path(said.split("erasure record: ", 1)[1].splitlines()[0])
    record = json.loads(path.read_text())
    assert record["look_back_updated"] == [NEIGHBOUR]
    assert "helpdesk/daily_summary/2026-11-15" in " ".join(record["rebuilt"])


def test_the_json_output_names_them_too(
    run_source: Settings,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _erase(run_source, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["look_back_updated"] == [NEIGHBOUR]
    record = json.loads(Path(out["record"]).read_text())
    assert record["look_back_updated"] == [NEIGHBOUR]
