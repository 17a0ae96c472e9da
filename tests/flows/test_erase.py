"""``servicelens erase`` on a backfilled sample, then a backfill --rerun all of the erased dates:
the subject's ids appear in no Parquet file, the other rows and counts are unchanged, every
manifest reconciles (read = kept + quarantined + erased), and nothing comes back."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from servicelens.erasure import (
    ErasureRequest,
    ErasureResult,
    delete_reports,
    erase,
    hashed_id,
)
from servicelens.settings import Settings
from servicelens.storage.partitions import read_manifest
from servicelens.storage.runs import backfill_plan, date_status

START = date(2026, 10, 5)
DAYS = [START + timedelta(days=i) for i in range(3)]
END = DAYS[-1]
#: The per-response tables the subject's rows are erased from (not the aggregates).
ROW_TABLES = ("clean/responses", "clean/contacts", "quarantine", "marts/feedback_scored")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from servicelens.synthetic.generator import generate

    root = tmp_path_factory.mktemp("erase")
    generate(root, START, END + timedelta(days=1), 200, 11)
    return Settings(data_dir=str(root))


def _backfill(settings: Settings, rerun: str) -> None:
    from flows.pipeline import backfill

    state = backfill(START, END, settings=settings, rerun=rerun, return_state=True)
    assert state.is_completed(), state


def _every_parquet_text(root: Path) -> dict[str, str]:
    """Each Parquet file under ``root`` as text (every column cast to text, as NDJSON)."""
    texts = {}
    for file in sorted(root.glob("**/*.parquet")):
        frame = pl.read_parquet(file)
        texts[str(file.relative_to(root))] = frame.write_ndjson()
    return texts


def _table(settings: Settings, table: str) -> pl.DataFrame:
    files = sorted((settings.root / table).glob("survey_date=*/part-0.parquet"))  # type: ignore[union-attr]
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` but the command logs."""
    return {
        str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(root.glob("**/*"))
        if f.is_file() and "logs" not in f.relative_to(root).parts
    }


def _subject(settings: Settings) -> tuple[str, set[str]]:
    """A customer with a clean response whose earlier copy is quarantined (superseded), and
    every id of theirs (customer, response and interaction ids) in the clean layer."""
    clean = _table(settings, "clean/responses")
    quarantine = _table(settings, "quarantine")
    copied = clean.join(
        quarantine.select(pl.col("record_id").alias("response_id")), on="response_id"
    )
    customer = str(copied.get_column("customer_id").drop_nulls()[0])
    rows = clean.filter(pl.col("customer_id") == customer)
    ids = {customer, *rows.get_column("response_id"), *rows.get_column("interaction_id")}
    return customer, ids


def _reconciled(settings: Settings) -> list[dict[str, Any]]:
    """The counts of every date's clean and mart manifests, each asserted to reconcile."""
    found = []
    for day in DAYS:
        for table in (
            settings.clean_dir,
            settings.quarantine_dir,
            settings.marts_dir / "feedback_scored",
        ):
            counts = (read_manifest(table, day) or {})["counts"]
            assert counts["surveys_read"] == (
                counts["kept"] + counts["quarantined"] + counts.get("erased", 0)
            ), (table, day, counts)
            found.append(counts)
    return found


@pytest.fixture(scope="module")
def erased(prefect_api: None, settings: Settings) -> dict[str, Any]:
    """The backfilled data directory before, the dry run's and the erasure's results."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    _backfill(settings, "missing")
    customer, ids = _subject(settings)
    root = Path(settings.data_dir)
    before = {
        "snapshot": _snapshot(root),
        "tables": {t: _table(settings, t) for t in ROW_TABLES},
        "counts": {str(d): read_manifest(settings.clean_dir, d)["counts"] for d in DAYS},  # type: ignore[index]
        "cache": sorted(
            p.name for p in Path(PREFECT_LOCAL_STORAGE_PATH.value()).glob("interactions-*")
        ),
    }
    request = ErasureRequest(customer_ids=(customer,))
    dry = erase(settings, [settings], request, dry_run=True)
    after_dry = _snapshot(root)
    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    result = erase(settings, [settings], request, dry_run=False, cache_storage=storage)
    return {
        "customer": customer,
        "ids": ids,
        "before": before,
        "dry": dry,
        "after_dry": after_dry,
        "result": result,
        "cache_after": sorted(p.name for p in storage.glob("interactions-*")),
    }


def test_a_dry_run_lists_every_place_and_changes_nothing(erased: dict[str, Any]) -> None:
    dry: ErasureResult = erased["dry"]
    assert erased["after_dry"] == erased["before"]["snapshot"]
    tables = {f.table for f in dry.found}
    # The response is in clean and the marts, its superseded copy in quarantine, the
    # customer's interaction in the contact history.
    assert {"clean", "quarantine", "contacts", "feedback_scored"} <= tables
    assert all(f.rows > 0 and Path(f.file).exists() for f in dry.found)
    assert dry.record is None


def test_the_subjects_ids_appear_in_no_parquet_file_after_erasing(
    settings: Settings, erased: dict[str, Any]
) -> None:
    result: ErasureResult = erased["result"]
    assert result.remaining == []
    for name, text in _every_parquet_text(Path(settings.data_dir)).items():
        for plain in erased["ids"]:
            assert plain not in text, (plain, name)


def test_the_other_rows_are_unchanged_and_the_counts_reconcile(
    settings: Settings, erased: dict[str, Any]
) -> None:
    result: ErasureResult = erased["result"]
    erased_rows = result.rows_by_table()
    for table, old in erased["before"]["tables"].items():
        new = _table(settings, table)
        name = {"clean/responses": "clean", "clean/contacts": "contacts"}.get(table, table)
        name = name.removeprefix("marts/")
        assert new.height == old.height - erased_rows.get(f"sample/{name}", 0)
        # Every row left is a row that was there, unchanged.
        assert new.join(old, on=new.columns, how="anti", nulls_equal=True).height == 0
    for counts in _reconciled(settings):
        assert counts["erased"] >= 0
    touched = {f.day for f in result.found}
    for day in DAYS:
        old = erased["before"]["counts"][str(day)]
        new = read_manifest(settings.clean_dir, day)["counts"]  # type: ignore[index]
        assert new["surveys_read"] == old["surveys_read"]
        assert (new["erased"] > 0) == (day in touched)


def test_the_parse_cache_entries_of_the_touched_exports_are_deleted(
    erased: dict[str, Any],
) -> None:
    result: ErasureResult = erased["result"]
    assert result.cache_entries_deleted
    assert set(result.cache_entries_deleted) <= set(erased["before"]["cache"])
    assert not set(result.cache_entries_deleted) & set(erased["cache_after"])


def test_the_record_and_the_list_hold_hashed_ids_only(
    settings: Settings, erased: dict[str, Any]
) -> None:
    result: ErasureResult = erased["result"]
    record = Path(str(result.record)).read_text()
    listing = (Path(settings.data_dir) / "erasure" / "erased_ids.json").read_text()
    for plain in erased["ids"]:
        assert plain not in record and plain not in listing
    key = settings.agent_key()
    assert hashed_id(key, erased["customer"]) in json.loads(record)["hashed_ids"]["customer_id"]
    assert json.loads(record)["rows_by_table"] == result.rows_by_table()
    assert any(item["what"] == "raw file" for item in result.not_rewritten)


def test_delete_reports_deletes_the_touched_dates_data_docs_and_the_reports(
    settings: Settings, erased: dict[str, Any]
) -> None:
    result: ErasureResult = erased["result"]
    touched = {str(f.day) for f in result.found}
    named = {i["what"]: i["path"] for i in result.not_rewritten}
    assert {"raw file", "Data Docs", "HTML report"} <= set(named)
    docs = settings.gx_docs_dir
    # A look-back day whose contacts alone held the customer was never run: no Data Docs.
    with_docs = {day for day in touched if (docs / day).exists()}
    assert with_docs
    deleted = delete_reports(result)
    assert {Path(p).name for p in deleted if Path(p).parent == docs} == with_docs
    assert not any(d.exists() for d in (docs / day for day in touched))
    assert list(settings.reports_dir.glob("*.html")) == []
    # The other dates' Data Docs stay.
    assert all((docs / str(day)).exists() for day in DAYS if str(day) not in touched)


def test_a_rerun_of_the_erased_dates_brings_nothing_back(
    settings: Settings, erased: dict[str, Any]
) -> None:
    # --rerun changed sees nothing to do: the erased partitions are not "changed".
    statuses = [date_status(settings, day) for day in DAYS]
    plan = backfill_plan(settings, statuses, "changed")
    assert [p.day for p in plan if p.run] == []
    erased_counts = {
        str(d): read_manifest(settings.clean_dir, d)["counts"]["erased"]  # type: ignore[index]
        for d in DAYS
    }
    _backfill(settings, "all")
    for name, text in _every_parquet_text(Path(settings.data_dir)).items():
        for plain in erased["ids"]:
            assert plain not in text, (plain, name)
    _reconciled(settings)
    for day in DAYS:
        counts = read_manifest(settings.clean_dir, day)["counts"]  # type: ignore[index]
        assert counts["erased"] == erased_counts[str(day)]
        assert counts["surveys_read"] == erased["before"]["counts"][str(day)]["surveys_read"]


def test_an_unknown_id_is_said_found_nowhere_and_nothing_is_written(
    settings: Settings, erased: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    root = Path(settings.data_dir)
    before = _snapshot(root)
    argv = ["--data-dir", settings.data_dir, "erase", "--customer-id", "C000NOBODY", "--yes"]
    assert main(argv) == 0
    assert "no rows found for customer C000NOBODY" in capsys.readouterr().out
    assert _snapshot(root) == before


def test_without_yes_and_no_terminal_to_ask_on_it_refuses_and_changes_nothing(
    settings: Settings, erased: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    root = Path(settings.data_dir)
    before = _snapshot(root)
    clean = _table(settings, "clean/responses")
    other = str(clean.get_column("customer_id").drop_nulls()[0])
    assert main(["--data-dir", settings.data_dir, "erase", "--customer-id", other]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert _snapshot(root) == before
