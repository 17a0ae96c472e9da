"""A header-only export that is whole is a day of 0 responses, not an error.

Found by a small team's trial (Typeform's download of a day with no chats, its header and
no row): `sources check` exited 2 asking for the complete export, the nightly run skipped
the file every night and left it in the inbox, a backfill's dry run said `run` lands it,
and the quiet day had no row anywhere. Whole is what the inbox already calls settled:
unchanged for the settling time, and ending with its line end. Real files, real runs."""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import pytest

from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
CALLS = FIELD / "10-call-centre-dayfirst-excel" / "sample.csv"
DEFINITION = Path(__file__).parent / "definitions" / "call-centre.toml"
QUIET = date(2023, 9, 2)

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _header(folder: Path, name: str, age: float = 120.0) -> Path:
    """A header-only export (its line end included) named ``name``, written ``age`` s ago."""
    path = folder / name
    path.write_bytes(CALLS.read_bytes().splitlines(keepends=True)[0])
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_a_whole_header_only_file_lands_as_its_days_0_responses(tmp_path: Path) -> None:
    calls = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    young = _header(calls.inbox_dir, "calls-2023-09-03.csv", age=5)
    quiet = _header(calls.inbox_dir, f"calls-{QUIET}.csv")
    picked = {Path(p.file).name: p for p in pick_up_deliveries(calls)}
    landed = picked[quiet.name].landing
    assert picked[quiet.name].error == "" and landed is not None
    assert landed.periods == {QUIET: 0} and not quiet.exists()
    assert landed.notes()[0] == (
        "0 responses: a header only, whole (settled, ending with its line end), recorded "
        f"for {QUIET} (the date its name holds)"
    )
    # Its raw copy, by sha256; a partition of no rows for the day.
    assert Path(landed.delivered_as).read_bytes() == CALLS.read_bytes().splitlines(True)[0]
    assert Path(landed.delivered_as).name.startswith(landed.sha256[:12])
    manifest = json.loads(
        (calls.landed_dir / f"survey_date={QUIET}" / "_manifest.json").read_text()
    )
    assert manifest["deliveries"] == {landed.sha256: landed.delivered_as}
    # One still being written waits, as any file does.
    assert picked[young.name].landing is None and "waits: modified" in picked[young.name].note
    assert young.exists()


def test_sources_check_of_a_whole_header_only_file_says_0_responses_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from servicelens.cli.main import main

    monkeypatch.setenv("SERVICELENS_INBOX_SETTLE_SECONDS", "60")
    data = ["--data-dir", str(tmp_path / "data")]
    quiet = _header(tmp_path, f"calls-{QUIET}.csv")
    assert main([*data, "sources", "check", str(DEFINITION), str(quiet)]) == 0
    said = capsys.readouterr().out
    assert "read 0: kept 0, quarantined 0" in said
    assert (
        "note: 0 responses: a header only, whole (settled, ending with its line end); landed, "
        f"it is recorded for {QUIET} (the date its name holds)"
    ) in said
    # A copy still being written is refused as before.
    young = _header(tmp_path, "calls.csv", age=1)
    assert main([*data, "sources", "check", str(DEFINITION), str(young)]) == 2
    assert "ask for the complete export" in capsys.readouterr().err


def test_the_nightly_run_records_the_quiet_day_processed_with_0_rows(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    calls = register_source(Settings(data_dir=data), str(DEFINITION))
    quiet = _header(calls.inbox_dir, "calls.csv")  # no date in its name: the run's date
    assert main(["--data-dir", data, "run", "--date", QUIET.isoformat(), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["sources"]
    (row,) = [r for r in rows if r["result"].get("source") == calls.source]
    assert (row["day"], row["outcome"]) == (QUIET.isoformat(), "completed"), row
    assert row["result"]["landing_notes"] == [
        "calls.csv: 0 responses: a header only, whole (settled, ending with its line end), "
        f"recorded for {QUIET} (the run's date; its name holds no date)"
    ]
    assert not quiet.exists()
    record = json.loads((calls.runs_dir / f"survey_date={QUIET}.json").read_text())
    assert record["outcome"] == "completed"


def test_a_dry_runs_inbox_note_does_not_say_run_lands_an_empty_file(tmp_path: Path) -> None:
    import argparse

    from servicelens.cli.schedule import waiting_note

    calls = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    empty = calls.inbox_dir / "calls.csv"
    empty.write_bytes(b"")
    os.utime(empty, (time.time() - 120, time.time() - 120))
    _header(calls.inbox_dir, f"calls-{QUIET}.csv")
    note = waiting_note(argparse.Namespace(source=calls.source), calls)
    assert note is not None
    assert note.startswith(
        f"1 file(s) wait in the inbox of source {calls.source!r}, not landed yet "
        f"(calls-{QUIET}.csv; "
    ), note
    assert note.endswith(
        f"1 file(s) in the inbox of source {calls.source!r} that `servicelens run` does not "
        f"land now ({calls.inbox_dir}): calls.csv: empty (0 bytes): no run lands it; ask the "
        "vendor to send the export again"
    ), note
