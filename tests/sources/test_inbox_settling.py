"""A file still being copied into a source's inbox is left there for a later run, and no file
leaves the inbox unless its bytes are the ones landed.

Found by an operations analyst's trial: ``august.csv``, written in two halves 35 s apart,
was landed during the pause as a header cut off, removed from the inbox, and the writer's
second half went into the removed file: its rows were lost, exit 0. Real files in a real
inbox; a file's age is set with ``os.utime``, never slept for."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import servicelens.ingest.configured as configured
import servicelens.ingest.landing as landing
from servicelens.ingest.configured import pending_deliveries, pick_up_deliveries, register_source
from servicelens.settings import SettingError, Settings

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
CALLS = FIELD / "10-call-centre-dayfirst-excel" / "sample.csv"
DEFINITION = Path(__file__).parent / "definitions" / "call-centre.toml"
#: Bytes of the export a paused copy had written: part of its header (131 bytes).
CUT = 100

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _source(tmp_path: Path, settle: float = 60.0) -> Settings:
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=settle)
    return register_source(base, str(DEFINITION))


def _written_ago(path: Path, seconds: float) -> None:
    """``path`` as last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _raw_copies(source: Settings) -> list[str]:
    folder = Path(str(source.deliveries_dir))
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_file_modified_within_the_settling_time_waits_and_is_taken_once_settled(
    tmp_path: Path,
) -> None:
    calls = _source(tmp_path)
    whole = CALLS.read_bytes()
    august = calls.inbox_dir / "august.csv"
    august.write_bytes(whole[:CUT])
    _written_ago(august, 35)
    [picked] = pick_up_deliveries(calls)
    assert (picked.landing, picked.error) == (None, "")
    assert picked.note == (
        "august.csv: waits: modified 35 s ago; taken once unchanged for 60 s "
        "(SERVICELENS_INBOX_SETTLE_SECONDS)"
    )
    assert august.read_bytes() == whole[:CUT] and _raw_copies(calls) == []
    assert pending_deliveries(calls) == [august]  # counted as waiting (sources list)
    # The writer goes on; once unchanged for the settling time, the whole file lands.
    with august.open("ab") as handle:
        handle.write(whole[CUT:])
    _written_ago(august, 61)
    [picked] = pick_up_deliveries(calls)
    assert picked.note == "" and picked.landing is not None
    assert picked.landing.rows + picked.landing.rejects == whole.count(b"\n") - 1
    assert not august.exists()
    assert [name.split("-", 1)[1] for name in _raw_copies(calls)] == ["august.csv"]


def test_the_settling_time_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().inbox_settle_seconds == 60.0
    monkeypatch.setenv("SERVICELENS_INBOX_SETTLE_SECONDS", "2")
    assert Settings.from_variables().inbox_settle_seconds == 2.0
    monkeypatch.setenv("SERVICELENS_INBOX_SETTLE_SECONDS", "-1")
    with pytest.raises(SettingError, match=r"SERVICELENS_INBOX_SETTLE_SECONDS='-1': use a"):
        Settings.from_variables()


def test_a_file_written_to_while_it_is_read_waits_and_lands_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _source(tmp_path)
    whole = CALLS.read_bytes()
    august = calls.inbox_dir / "august.csv"
    august.write_bytes(whole[:CUT])
    _written_ago(august, 120)
    read = landing.read_bytes

    def read_as_the_writer_resumes(location: str) -> bytes:
        data = read(location)
        if Path(location) == august:
            with august.open("ab") as handle:
                handle.write(whole[CUT:])
        return data

    monkeypatch.setattr(landing, "read_bytes", read_as_the_writer_resumes)
    [picked] = pick_up_deliveries(calls)
    assert (picked.landing, picked.error) == (None, "")
    assert picked.note == (
        "august.csv: waits: it changed while it was read; taken once unchanged for 60 s"
    )
    assert august.read_bytes() == whole and _raw_copies(calls) == []
    assert not Path(str(calls.landed_dir)).exists()


def test_a_file_written_to_while_it_is_landed_stays_and_lands_again_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer paused past the settling time, then wrote on while its first part was
    landed: the file stays in the inbox, and the next run lands all of it."""
    calls = _source(tmp_path)
    whole = CALLS.read_bytes()
    first_rows = len(b"".join(whole.splitlines(keepends=True)[:13]))
    august = calls.inbox_dir / "august.csv"
    august.write_bytes(whole[:first_rows])
    _written_ago(august, 120)
    land = configured.land_delivery

    def land_as_the_writer_resumes(*args: object, **kwargs: object) -> landing.Landing:
        landed = land(*args, **kwargs)  # type: ignore[arg-type]
        with august.open("ab") as handle:
            handle.write(whole[first_rows:])
        return landed

    monkeypatch.setattr(configured, "land_delivery", land_as_the_writer_resumes)
    [picked] = pick_up_deliveries(calls)
    assert picked.error == "" and picked.landing is not None
    assert picked.landing.rows + picked.landing.rejects == 12
    assert picked.note == (
        "august.csv: it changed while it was landed, so it stays in the inbox; its rows as "
        "read are landed, and it is landed again, whole, once unchanged for 60 s"
    )
    assert august.read_bytes() == whole
    monkeypatch.undo()
    _written_ago(august, 61)
    [picked] = pick_up_deliveries(calls)
    assert picked.note == "" and picked.landing is not None
    assert picked.landing.rows + picked.landing.rejects == whole.count(b"\n") - 1
    assert not august.exists()


@pytest.mark.parametrize(
    ("lines", "said"),
    [(0, "the file is empty (0 bytes), not an export; nothing landed"), (1, "no data rows")],
    ids=["0 bytes", "header cut before its line end"],
)
def test_an_empty_or_header_only_file_stays_in_the_inbox_saying_so(
    tmp_path: Path, lines: int, said: str
) -> None:
    """How many copies start (0 bytes), or one cut inside its header: the trial's were
    landed as files without rows and removed, the copy's rest going nowhere. Settled, such
    a file stays, its row saying why, until it holds rows or is deleted; no raw copy."""
    calls = _source(tmp_path)
    august = calls.inbox_dir / "august.csv"
    written = b"".join(CALLS.read_bytes().splitlines(keepends=True)[:lines]).rstrip(b"\r\n")
    august.write_bytes(written)
    _written_ago(august, 120)
    [picked] = pick_up_deliveries(calls)
    assert (picked.landing, picked.error) == (None, "")
    assert said in picked.note
    assert picked.note.endswith(
        "; it stays in the inbox and is landed once it holds rows (delete it if none are to come)"
    )
    assert august.read_bytes() == written and _raw_copies(calls) == []
    # Once the copy completes, it lands whole and leaves.
    august.write_bytes(CALLS.read_bytes())
    _written_ago(august, 61)
    [picked] = pick_up_deliveries(calls)
    assert picked.note == "" and picked.landing is not None and not august.exists()
