"""``servicelens erase`` of a customer with rows in partitions an earlier release wrote (the
quarantine's layout 1, without ``superseded`` or reason kinds; feedback_scored 5, without
``in_training_set``) and in current ones: a trial (110) upgraded in place, erased such a
customer, and the erase failed on the old quarantine's missing ``superseded`` after listing
the ids, every row still there. And an erase stopped partway (a date held by a run) records
nothing as erased; the same erase again finishes and records it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.erasure import ErasureRequest, erase, erasure_list
from servicelens.settings import Settings
from servicelens.stages import conform_filling
from servicelens.storage.locks import LockBusyError, date_lock
from servicelens.storage.partitions import (
    locks_dir,
    partition_dir,
    read_manifest,
    write_partition,
)
from servicelens.validation.reasons import with_reason_kinds
from transforms.schemas import (
    CLEAN_RESPONSE_SCHEMA,
    FEEDBACK_SCORED_SCHEMA,
    PARTITION_COLUMN,
    QUARANTINE_ROW_SCHEMA,
    QUARANTINE_SCHEMA,
)

OLD, NEW = date(2026, 10, 26), date(2026, 11, 16)
#: What each table's older layout lacked (transforms/schemas.py's version histories).
_QUARANTINE_ADDED = ["superseded", "schema_version", "reason_kinds", "reason_columns"]
_FEEDBACK_ADDED = ["in_training_set"]


def _clean(day: date) -> pl.DataFrame:
    return conform_filling(
        pl.DataFrame(
            {
                "response_id": [f"R1-{day.day}", f"R2-{day.day}"],
                "customer_id": ["C1", "C2"],
                "survey_date": [day, day],
                "comment": ["fine", "slow"],
                "is_negative": [False, True],
                "queue": ["billing", "billing"],
                "channel": ["phone", "phone"],
                "csat": [5, 1],
            },
            schema_overrides={"csat": pl.Int8},
        ),
        CLEAN_RESPONSE_SCHEMA,
    )


def _quarantine(day: date) -> pl.DataFrame:
    """C2's earlier copy (superseded) and C2's failed row; C1's failed row."""
    base = {c: None for c in QUARANTINE_ROW_SCHEMA} | {"feed": "surveys", "superseded": False}
    rows = [
        base
        | {
            "record_id": f"R2-{day.day}",
            "raw_record": '{"Customer": "C2"}',
            "superseded": True,
            "reasons": ["duplicate delivery: superseded by line 3"],
        },
        base
        | {
            "record_id": f"R3-{day.day}",
            "raw_record": '{"Customer": "C2"}',
            "reasons": ["csat: '9' is not a score from 1 to 5"],
        },
        base
        | {
            "record_id": f"R4-{day.day}",
            "raw_record": '{"Customer": "C1"}',
            "reasons": ["csat: '7' is not a score from 1 to 5"],
        },
    ]
    return with_reason_kinds(
        pl.DataFrame(rows, schema=QUARANTINE_ROW_SCHEMA).with_columns(
            pl.lit(day).alias(PARTITION_COLUMN)
        )
    ).with_columns(pl.lit(3, pl.Int32).alias("schema_version"))


def _counts() -> dict[str, object]:
    return {
        "surveys_read": 5,
        "kept": 2,
        "quarantined": 3,
        "erased": 0,
        "superseded_duplicates": 1,
        "failed_expectations": {"csat": 2},
        "negatives": 1,
        "rated": 2,
    }


def _write(settings: Settings, day: date, older: bool) -> None:
    """The date's clean, quarantine and feedback_scored partitions, current or as an earlier
    release wrote them (the columns added since dropped, plain Parquet, as its manifest
    said)."""
    clean = _clean(day)
    feedback = conform_filling(clean, FEEDBACK_SCORED_SCHEMA)
    quarantine = _quarantine(day)
    manifest = {"counts": _counts()}
    for table_dir, frame, schema, added in (
        (settings.clean_dir, clean, CLEAN_RESPONSE_SCHEMA, []),
        (settings.quarantine_dir, quarantine, QUARANTINE_SCHEMA, _QUARANTINE_ADDED),
        (settings.marts_dir / "feedback_scored", feedback, FEEDBACK_SCORED_SCHEMA, _FEEDBACK_ADDED),
    ):
        write_partition(frame, table_dir, day, schema, manifest, settings.staging_dir)
        if older:
            data = partition_dir(table_dir, day) / "part-0.parquet"
            pl.read_parquet(data).drop(added).write_parquet(data)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "test key")
    settings = Settings(data_dir=str(tmp_path / "data"), lock_wait_seconds=0)
    _write(settings, OLD, older=True)
    _write(settings, NEW, older=False)
    return settings


def _erasure_files(settings: Settings) -> dict[str, list[str]]:
    root = Path(settings.data_dir) / "erasure"
    return {
        "listed": [e["hash"] for e in json.loads((root / "erased_ids.json").read_text())["erased"]]
        if (root / "erased_ids.json").exists()
        else [],
        "records": sorted(p.name for p in (root / "records").glob("*.json")),
    }


def _holds_c2(table_dir: Path, day: date) -> bool:
    """Whether the partition holds a row of C2's: the id, or one of C2's response ids."""
    text = pl.read_parquet(partition_dir(table_dir, day) / "part-0.parquet").write_ndjson()
    assert "C1" in text or "R1-" in text  # the other customer's rows are kept
    return any(i in text for i in ("C2", f"R2-{day.day}", f"R3-{day.day}"))


def test_a_customer_in_older_and_current_partitions_is_erased_from_both(
    settings: Settings,
) -> None:
    result = erase(settings, [settings], ErasureRequest(customer_ids=("C2",)), dry_run=False)
    assert sum(f.rows for f in result.found) == 8  # clean, feedback, 2 quarantine rows: a date
    assert not result.remaining
    for day in (OLD, NEW):
        for table_dir in (
            settings.clean_dir,
            settings.quarantine_dir,
            settings.marts_dir / "feedback_scored",
        ):
            assert not _holds_c2(table_dir, day), (table_dir, day)
        counts = read_manifest(settings.quarantine_dir, day)["counts"]  # type: ignore[index]
        # The old rows' superseded copy is told by its first reason, as the contract says.
        assert counts["surveys_read"] == 5
        assert (counts["kept"], counts["quarantined"], counts["erased"]) == (1, 1, 3), day
        assert counts["superseded_duplicates"] == 0
        assert counts["failed_expectations"] == {"csat": 1}
    files = _erasure_files(settings)
    assert len(files["records"]) == 1 and files["listed"]
    assert not list((Path(settings.data_dir) / "erasure" / "pending").glob("*.json"))


@pytest.fixture
def new_date_held(settings: Settings) -> Iterator[threading.Event]:
    """Another thread holds the date NEW, as a run would, until the event is set."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with date_lock(locks_dir(settings.staging_dir), NEW, 0):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(30)
    yield release
    release.set()
    holder.join(30)


def test_an_erase_stopped_partway_records_nothing_and_the_same_erase_finishes_it(
    settings: Settings, new_date_held: threading.Event
) -> None:
    request = ErasureRequest(customer_ids=("C2",))
    with pytest.raises(LockBusyError, match="run the same erase again"):
        erase(settings, [settings], request, dry_run=False)
    # The first date is erased, the second not; nothing says the customer is erased...
    assert not _holds_c2(settings.clean_dir, OLD)
    assert _holds_c2(settings.clean_dir, NEW)
    assert _erasure_files(settings) == {"listed": [], "records": []}
    # ... but a run meanwhile leaves the customer's rows out.
    frame = pl.DataFrame({"customer_id": ["C1", "C2"]})
    assert erasure_list(settings).mask(frame).to_list() == [False, True]
    new_date_held.set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            finished = erase(settings, [settings], request, dry_run=False)
            break
        except LockBusyError:
            time.sleep(0.1)
    assert not finished.remaining and finished.resumed
    # Finished: every row gone, counts subtracted once, the record says it resumed.
    for day in (OLD, NEW):
        assert not _holds_c2(settings.quarantine_dir, day)
        counts = read_manifest(settings.quarantine_dir, day)["counts"]  # type: ignore[index]
        assert (counts["kept"], counts["quarantined"], counts["erased"]) == (1, 1, 3), day
    files = _erasure_files(settings)
    assert len(files["records"]) == 1 and files["listed"]
    record = json.loads(
        (Path(settings.data_dir) / "erasure" / "records" / files["records"][0]).read_text()
    )
    assert record["rows_found"] == 8 and len(record["resumed"]) == 1
    assert {p["day"] for p in record["partitions"]} == {str(OLD), str(NEW)}
    assert not list((Path(settings.data_dir) / "erasure" / "pending").glob("*.json"))
