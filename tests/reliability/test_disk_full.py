"""A disk that fills up during one date of a backfill fails that date, and only that date.

Found by a platform engineer's trial on a tmpfs with 1.5 MB free: the backfill printed 55
copies of "could not rewrite its in-flight record", then ended (exit 2) in "partition ...
is locked by process None on None (since None); waited 120s": the date whose partition lock
could not record its holder kept that lock (its descriptor was never closed), the next date
waited for it, and the date that hit the full disk had no failed outcome recorded (its staged
files still filled the disk when the failure was written), with scratch files left in
``runs/``. Here the full disk is simulated where it struck: the write of a partition lock's
holder, and every small file written while the date's staged files fill the disk, until
the date's staging is deleted.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicelens.settings import Settings

START = date(2026, 11, 17)
DAYS = [START + timedelta(days=i) for i in range(3)]
BROKEN = DAYS[1]
FULL = os.strerror(errno.ENOSPC)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    from servicelens.synthetic.generator import generate

    generate(tmp_path, START, DAYS[-1] + timedelta(days=1), 40, 5)
    monkeypatch.setenv("SERVICELENS_HEARTBEAT_SECONDS", "0.1")
    return Settings(data_dir=str(tmp_path))


def test_a_full_disk_fails_its_date_says_where_and_leaves_no_lock_nor_scratch_file(
    prefect_api: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import flows.dates
    import servicelens.storage.partitions
    from servicelens.cli.main import main
    from servicelens.storage.claims import list_claims
    from servicelens.storage.runs import date_status, read_outcome

    data_dir = str(Path(settings.data_dir).resolve())
    full = threading.Event()
    real_pwrite = os.pwrite
    real_write_text = pathlib.Path.write_text
    real_discard = flows.dates.discard_run_staging

    struck = threading.Event()

    def pwrite(fd: int, payload: bytes, offset: int) -> int:
        # The disk fills up as the date records itself as the holder of a partition lock.
        lock = os.readlink(f"/proc/self/fd/{fd}")
        if lock.endswith(f"partition-contacts-{BROKEN}.lock") and not struck.is_set():
            struck.set()
            full.set()
            time.sleep(1.0)  # heartbeats fall due while the disk is full
            raise OSError(errno.ENOSPC, FULL)
        return real_pwrite(fd, payload, offset)

    def write_text(self: pathlib.Path, text: str, *args: Any, **kwargs: Any) -> int:
        # While full, a file of the data directory is created, and its write fails.
        if full.is_set() and str(self.resolve()).startswith(data_dir):
            self.open("w").close()
            raise OSError(errno.ENOSPC, FULL, str(self))
        return real_write_text(self, text, *args, **kwargs)

    def discard_run_staging(staging_dir: Any, run_id: str) -> None:
        real_discard(staging_dir, run_id)
        full.clear()  # the date's staged files were what filled the disk

    monkeypatch.setattr(os, "pwrite", pwrite)
    monkeypatch.setattr(pathlib.Path, "write_text", write_text)
    monkeypatch.setattr(flows.dates, "discard_run_staging", discard_run_staging)
    # A lock kept by mistake is waited for 3 s here, not 120 s.
    monkeypatch.setattr(servicelens.storage.partitions, "PARTITION_LOCK_WAIT_SECONDS", 3.0)

    argv = ["--data-dir", settings.data_dir]
    code = main([*argv, "backfill", "--start", str(DAYS[0]), "--end", str(DAYS[-1]), "--json"])
    out, err = capfd.readouterr()
    assert "locked by" not in err
    assert code == 1, err
    rows = {r["day"]: r for r in json.loads(out)}
    assert [rows[str(d)]["outcome"] for d in DAYS] == ["completed", "failed", "completed"]
    # Which write failed first is the date's (the lock file, or a Data Docs page written
    # beside it in the background): any, named as a full disk with its file.
    assert rows[str(BROKEN)]["error"].startswith("disk full at "), rows[str(BROKEN)]["error"]
    assert rows[str(BROKEN)]["error"].endswith(": free space, then run again")
    assert data_dir in rows[str(BROKEN)]["error"]
    # The failure is recorded, so --rerun failed takes the date up.
    recorded = read_outcome(settings, BROKEN) or {}
    assert recorded["outcome"] == "failed"
    assert recorded["error"] == rows[str(BROKEN)]["error"]
    assert date_status(settings, BROKEN).state == "failed"
    # Each run in flight says once that it could not rewrite its record, not once a beat.
    warnings = [line for line in err.splitlines() if "could not rewrite its in-flight" in line]
    assert warnings, err
    assert len(warnings) == len(set(warnings)), warnings
    # Failed atomic writes leave no scratch file behind; nothing is held.
    assert sorted(Path(settings.data_dir).rglob("*.tmp")) == []
    assert list_claims(settings) == []
