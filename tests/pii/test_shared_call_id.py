"""An access request and an erase take exactly the subject's rows when another customer's
survey names one of the subject's calls (real configured source with a contact-facts feed,
real landing and ``backfill``, real Parquet read back by DuckDB).

Found by a UK energy supplier's trial: ``access --customer-id BW000777`` wrote the survey
responses of four other customers (comments included) in landed, clean, contacts and
feedback_scored: each named the same call id (``interaction_id``) as one of BW000777's (two
surveys naming one call: a forwarded survey link). The locator, erase's too, followed the
call id into rows whose own customer id is someone else's. A row whose own customer id is
present and different is never the subject's; a row with no customer id of its own is still
followed by the call id that links it. As in the trial, the survey carries the customer id
and the call log does not."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from servicelens.cli.main import main
from servicelens.erasure import table_dirs
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings

NAME = "callsurvey"
DEFINITION = f"""name = "{NAME}"
[columns]
response_id = "Response"
interaction_id = "Call"
customer_id = "Account"
submitted_at = "Rated at"
csat = "Score"
comment = "Comment"

[interactions]
[interactions.columns]
interaction_id = "Call ID"
started_at = {{ column = "Call start", format = "%Y-%m-%d %H:%M:%S" }}
queue = "Topic"
"""
CALLS = "Call ID,Call start,Topic\nK1,2026-11-15 09:00:00,Billing\nK2,2026-11-15 09:30:00,Billing\n"
#: R1 is C1's survey of their call K1; R5 is C5's survey of the same call (a forwarded
#: link); R7 names K1 with no account of its own (followed by the call); R2 is C2's.
RATINGS = (
    "Response,Call,Account,Rated at,Score,Comment\n"
    "R1,K1,C1,2026-11-15T10:00:00Z,1,never rang back\n"
    "R5,K1,C5,2026-11-15T10:05:00Z,2,my neighbour's bill is wrong\n"
    "R7,K1,,2026-11-15T10:07:00Z,2,still waiting\n"
    "R2,K2,C2,2026-11-15T11:00:00Z,4,fine\n"
)
DAY = ("--start", "2026-11-15", "--end", "2026-11-15")
SUBJECT_RESPONSES = {"R1", "R7"}


@pytest.fixture
def source(prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Settings:
    """The source, its calls and ratings landed and the day run by a real ``backfill``."""
    definition = tmp_path / f"{NAME}.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    settings = register_source(base, str(definition))
    (settings.for_interactions().inbox_dir / "calls.csv").write_text(CALLS)
    (settings.inbox_dir / "ratings.csv").write_text(RATINGS)
    pick_up_deliveries(settings)
    assert main(["--data-dir", str(base.data_dir), "backfill", "--source", NAME, *DAY]) == 0
    capsys.readouterr()
    return settings


def _ids(settings: Settings, table: str, column: str) -> list[str]:
    """``column`` of every row of one of the source's per-date tables (a name of
    ``erasure.table_dirs``), read back by DuckDB."""
    files = sorted(Path(str(table_dirs(settings)[table])).glob("*/*.parquet"))
    if not files:
        return []
    paths = ", ".join(f"'{f}'" for f in files)
    rows = duckdb.sql(f"select {column} from read_parquet([{paths}])").fetchall()
    return sorted("" if v is None else str(v) for (v,) in rows)


def test_access_takes_the_subjects_rows_and_no_other_customers_naming_their_call(
    source: Settings, tmp_path: Path
) -> None:
    assert "R5" in _ids(source, "feedback_scored", "response_id")  # scored, in the marts
    out = tmp_path / "answer"
    argv = ["--data-dir", str(source.data_dir), "access", "--customer-id", "C1"]
    assert main([*argv, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert {"R1", "R5"} & set(summary["ids_found"]["response_id"]) == {"R1"}
    for layer in ("landed", "clean", "feedback_scored"):
        with (out / f"{layer}.csv").open(encoding="utf-8", newline="") as handle:
            responses = {row["response_id"] for row in csv.DictReader(handle)}
        assert responses == SUBJECT_RESPONSES, layer
    with (out / "contacts.csv").open(encoding="utf-8", newline="") as handle:
        assert {row["customer_id"] for row in csv.DictReader(handle)} <= {"C1", ""}
    # Nothing of C5's: neither their id, nor their response, nor their comment.
    for file in out.glob("*.csv"):
        text = file.read_text(encoding="utf-8")
        assert "C5" not in text and "R5" not in text and "neighbour" not in text, file


def test_erase_takes_the_subjects_rows_and_keeps_another_customers_naming_their_call(
    source: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    tables = ("landed", "clean", "feedback_scored")
    before = {t: _ids(source, t, "response_id") for t in tables}
    contacts_before = _ids(source, "contacts", "customer_id")
    assert all({"R1", "R5", "R7"} <= set(ids) for ids in before.values()), before
    data = str(source.data_dir)
    assert main(["--data-dir", data, "erase", "--customer-id", "C1", "--yes"]) == 0
    kept = {t: sorted(set(ids) - SUBJECT_RESPONSES) for t, ids in before.items()}
    assert {t: _ids(source, t, "response_id") for t in tables} == kept
    contacts = _ids(source, "contacts", "customer_id")
    assert "C1" not in contacts and contacts.count("C5") == contacts_before.count("C5") > 0
    # A rerun from the raw zone leaves the erased rows out (the erasure list), not C5's.
    assert main(["--data-dir", data, "backfill", "--source", NAME, *DAY, "--rerun", "all"]) == 0
    capsys.readouterr()
    assert {t: _ids(source, t, "response_id") for t in tables} == kept
    assert _ids(source, "contacts", "customer_id").count("C5") == contacts_before.count("C5")
