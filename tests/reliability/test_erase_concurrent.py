"""``servicelens erase`` and a run of the same date take turns (the date's lock).

A run holding a date publishes what it read before the ids were listed; without the lock
an erasure that finished first was undone by that publication (the final check only said
so, exit 1). The run here is a real second process holding the date as a nightly run does
(``hold_date``: its lock and in-flight record) and then publishing the date's clean
partition as read before the erasure."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.erasure import ErasureRequest, erase, find_rows, subject_eraser
from servicelens.settings import Settings
from servicelens.storage.locks import LockBusyError
from servicelens.storage.partitions import write_partition
from tests.reliability.cli import wait_until
from transforms.schemas import CLEAN_RESPONSE_SCHEMA, QUARANTINE_SCHEMA

DAY = date(2026, 3, 2)
RUN = "nightly-2026-03-02"
#: The run: holds the date, says so, waits for ``release`` (or ``hold`` seconds), then
#: publishes the clean partition it built before the erasure (C2's row in it) and ends.
WRITER = """
import sys, time
from datetime import date
from pathlib import Path
import polars as pl
from servicelens.settings import Settings
from servicelens.storage.claims import hold_date
from servicelens.storage.partitions import write_partition
from transforms.schemas import CLEAN_RESPONSE_SCHEMA

data, key, ready, release, hold = sys.argv[1:6]
settings = Settings(data_dir=data, agent_key_file=key)
frame = pl.read_parquet(Path(data) / "before.parquet")
with hold_date(settings, date(2026, 3, 2), "run-1", "nightly-2026-03-02", 0.0):
    Path(ready).touch()
    deadline = time.monotonic() + float(hold)
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    write_partition(frame, settings.clean_dir, date(2026, 3, 2), CLEAN_RESPONSE_SCHEMA,
                    {"counts": {"surveys_read": 2, "kept": 2, "quarantined": 0}},
                    settings.staging_dir)
"""


def _clean_rows() -> pl.DataFrame:
    rows = pl.DataFrame(
        {
            "response_id": ["R1", "R2"],
            "interaction_id": ["I1", "I2"],
            "customer_id": ["C1", "C2"],
            "survey_date": [DAY, DAY],
        }
    )
    return rows.with_columns(
        pl.lit(None, kind).alias(c) for c, kind in CLEAN_RESPONSE_SCHEMA.items() if c not in rows
    ).select(list(CLEAN_RESPONSE_SCHEMA))


@pytest.fixture
def published(tmp_path: Path) -> Settings:
    """A data directory with one date published: C1's and C2's responses kept."""
    settings = Settings(data_dir=str(tmp_path / "data"), agent_key_file=str(tmp_path / "key"))
    counts = {"counts": {"surveys_read": 2, "kept": 2, "quarantined": 0}}
    clean = _clean_rows()
    write_partition(
        clean, settings.clean_dir, DAY, CLEAN_RESPONSE_SCHEMA, counts, settings.staging_dir
    )
    quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA)
    write_partition(
        quarantine, settings.quarantine_dir, DAY, QUARANTINE_SCHEMA, counts, settings.staging_dir
    )
    clean.write_parquet(tmp_path / "data" / "before.parquet")
    return settings


def _start_run(settings: Settings, tmp_path: Path, hold: float) -> subprocess.Popen[bytes]:
    ready = tmp_path / "ready"
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            settings.data_dir,
            settings.agent_key_file,
            str(ready),
            str(tmp_path / "release"),
            str(hold),
        ],
        start_new_session=True,
    )
    wait_until(ready.exists, run, "holding its date", seconds=30)
    return run


def test_erase_waits_for_the_run_holding_the_date_and_erases_what_it_published(
    published: Settings, tmp_path: Path
) -> None:
    # The run holds its date until erase says it waits (``release``): a deadline of a few
    # seconds ran out on a busy machine before erase reached the date, and nothing waited.
    run = _start_run(published, tmp_path, hold=120)
    said: list[str] = []

    def waiting(message: str) -> None:  # the run ends once erase waits for it
        said.append(message)
        (tmp_path / "release").touch()

    try:
        result = erase(
            published,
            [published],
            ErasureRequest(customer_ids=("C2",)),
            dry_run=False,
            on_wait=waiting,
        )
    finally:
        (tmp_path / "release").touch()
        assert run.wait(60) == 0
    # The run published first (its partition from before the erasure); erase came after.
    assert result.remaining == []
    eraser, _ = subject_eraser([published], published.agent_key(), ["C2"], [])
    assert find_rows([published], eraser) == []
    left = pl.read_parquet(published.clean_dir / f"survey_date={DAY}" / "part-0.parquet")  # type: ignore[operator]
    assert left.get_column("customer_id").to_list() == ["C1"]
    assert len(said) == 1 and f"sample date {DAY}" in said[0] and RUN in said[0]


def test_a_date_held_longer_than_the_wait_is_refused_naming_the_date_and_the_run(
    published: Settings, tmp_path: Path
) -> None:
    run = _start_run(published, tmp_path, hold=60)
    impatient = replace(published, lock_wait_seconds=0.5)
    try:
        with pytest.raises(LockBusyError) as refused:
            erase(impatient, [impatient], ErasureRequest(customer_ids=("C2",)), dry_run=False)
    finally:
        (tmp_path / "release").touch()
        assert run.wait(30) == 0
    message = str(refused.value)
    assert f"sample date {DAY}" in message and RUN in message and "0.5 s" in message
    assert "run the same erase again" in message
