"""QA's audits of an erased customer's responses, through a real configured source (real
``sources run``, real Prefect, real Parquet): ``servicelens erase`` names the audit file and
its rows (QA's file is not rewritten) and Prefect's database, and every later read of the
audits (training's labels, the tally of metrics.json and the report) leaves them out,
counting them, never quoting their ids. Found by a data-protection officer's trial: 22 erased
responses' audits were quoted in every later report, metrics.json, train log and Prefect's
log table as "no response of the clean layer: a misspelt id"."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.audits import accounting_text
from servicelens.ingest.configured import configured_source
from servicelens.settings import Settings
from servicelens.stages import audit_report, read_audits
from tests.sources import test_erase_source as erase_source
from tests.sources.configured_run import run_configured_source

NAME = "pulse-erase-audits"
DEFINITION = erase_source.DEFINITION.replace(erase_source.NAME, NAME)
#: C2's responses: N2 (kept, csat 1) and N7 (quarantined). N3 is C3's (csat 2), N1 C1's (csat 4).
EXPORT = erase_source.EXPORT
#: QA's file: N2 on lines 2 and 4 (an audit and its re-audit), N3 on line 3, N1 on line 5.
AUDITS = """response_id,root_cause,audited_at,auditor
N2,policy_failure,2026-03-04 10:00,qa1
N3,perceived,2026-03-04 10:05,qa1
N2,perceived,2026-03-05 09:00,qa2
N1,perceived,2026-03-05 09:30,qa2
"""


@pytest.fixture
def source_with_audits(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Settings, Path, Path]:
    data, _ = run_configured_source(tmp_path, NAME, DEFINITION, EXPORT)
    source = configured_source(Settings(data_dir=str(data)), NAME)
    folder = Path(str(source.audits_dir))
    folder.mkdir(parents=True, exist_ok=True)
    audits = folder / "qa-audits.csv"
    audits.write_text(AUDITS)
    # Prefect's own database where the CLI keeps it (PREFECT_HOME/prefect.db); the tests' API
    # runs on a temporary one, so this one is made here, as Prefect makes it: a SQLite file.
    home = tmp_path / "prefect-home"
    home.mkdir()
    sqlite3.connect(home / "prefect.db").close()
    monkeypatch.setenv("PREFECT_HOME", str(home))
    return data, source, audits, home / "prefect.db"


def test_erase_names_the_audit_rows_and_prefects_database(
    source_with_audits: tuple[Path, Settings, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _, audits, database = source_with_audits
    capsys.readouterr()
    argv = ["--data-dir", str(data), "erase", "--customer-id", "C2", "--source", NAME]
    assert main([*argv, "--dry-run", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)["not_rewritten"]
    named = {i["what"]: i for i in items}
    assert named["audit file"]["path"] == str(audits)
    assert named["audit file"]["rows"] == "lines 2, 4"
    assert "remove those rows" in named["audit file"]["action"]
    assert named["Prefect database"]["path"] == str(database)
    assert "prefect flow-run delete" in named["Prefect database"]["action"]
    assert [i["path"] for i in items].count(str(audits)) == 1
    assert audits.read_text() == AUDITS  # QA's file is theirs: not rewritten

    assert main([*argv, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert f"audit file: {audits}" in printed and "lines 2, 4" in printed
    assert f"Prefect database: {database}" in printed


def test_an_erased_customers_audits_are_left_out_and_counted_never_quoted(
    source_with_audits: tuple[Path, Settings, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, source, _, _ = source_with_audits
    before = audit_report(source)
    assert before is not None and before["used"] == 2  # N2's re-audit, and N3
    argv = ["--data-dir", str(data), "erase", "--customer-id", "C2", "--source", NAME]
    assert main([*argv, "--yes", "--json"]) == 0
    capsys.readouterr()

    report = audit_report(source)
    assert report is not None
    assert report["rows_read"] == 4
    assert report["of_an_erased_response"] == 2
    assert report["used"] == 1  # N3
    assert report["of_an_unknown_response"] == 0
    assert report["of_a_response_not_negative"] == 1  # N1, csat 4
    assert report["replaced_by_a_later_audit"] == 0  # N2's earlier audit is erased too
    # Every count adds up to the rows read.
    counted = (
        report["used"]
        + report["replaced_by_a_later_audit"]
        + report["repeated"]
        + report["not_filled_in"]
        + report["undecided"]
        + report["of_a_response_not_negative"]
        + report["of_a_quarantined_response"]
        + report["of_an_unknown_response"]
        + report["of_an_erased_response"]
        + sum(report["set_aside"].values())
    )
    assert counted == report["rows_read"]
    assert "N2" not in json.dumps(report, default=str)
    text = accounting_text(report)
    assert "2 for responses erased on request" in text and "N2" not in text, text

    labels = read_audits(source, [date(2026, 3, 2), date(2026, 3, 3)])
    assert "N2" not in labels.get_column("response_id").to_list()
    assert "N3" in labels.get_column("response_id").to_list()
