"""QA audits from a team whose auditors save their worksheets from LibreOffice Calc and from
Google Sheets (.csv, .tsv, .xlsx), read by training's tally and the review queue alike.
Found by a QA lead's trial (97): each test says which of its findings it holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import configured_source
from servicelens.settings import Settings
from tests.sources.configured_run import run_configured_source

#: A survey source with csat negatives (csat <= 2): N1-N4 are negative, N5 is not.
DEFINITION = (
    'name = "acme-qualtrics"\npseudonymise_agents = false\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nagent_id = "Agent"\ncustomer_id = "Customer"\n'
    'queue = "Queue"\ncsat = "CSAT"\ncomment = "Comment"\n'
)
EXPORT = """ID,At,Agent,Customer,Queue,CSAT,Comment
N1,2026-11-20 09:00,A1,C1,billing,1,charged twice
N2,2026-11-20 09:10,A1,C2,billing,2,never called back
N3,2026-11-20 09:20,A2,C3,phones,1,cut off
N4,2026-11-20 09:30,A2,C4,phones,2,fee not explained
N5,2026-11-20 09:40,A2,C5,phones,5,great
"""


def test_an_audit_set_aside_leaves_its_item_in_a_new_sources_first_audit_list(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 1: a source with no champion lists its negatives for the first audits; an
    audit dated before its response (N2: audited 2026-11-13, submitted 2026-11-20) is not
    used by training, and the warning says it closes no item, so its response stays listed.
    It was missing: 4 negatives - 1 used audit left 2 open items, not 3."""
    data, _ = run_configured_source(tmp_path, "acme-qualtrics", DEFINITION, EXPORT)
    source = configured_source(Settings(data_dir=str(data)), "acme-qualtrics")
    (source.audits_dir / "qa-fay.csv").write_text(
        "response_id,root_cause,audited_at,auditor\n"
        "N1,policy_failure,2026-11-21 10:00,fay\n"
        "N2,perceived,2026-11-13 10:00,fay\n"
    )
    capsys.readouterr()
    queue = ["--data-dir", str(data), "review-queue", "--source", "acme-qualtrics"]
    assert main([*queue, "--limit", "0", "--json"]) == 0
    captured = capsys.readouterr()
    said = json.loads(captured.out)
    assert said["open_items"] == 3
    assert sorted(i["response_id"] for i in said["items"]) == ["N2", "N3", "N4"]
    assert {i["reason"] for i in said["items"]} == {"first_audit"}
    # Every audit row is used (N1, closing its item) or named with its file, line and why.
    assert "1 audit row(s) set aside close no item below" in captured.err
    assert (
        f"{source.audits_dir / 'qa-fay.csv'} line 3 (N2): was audited before the response was "
        "submitted (audited 2026-11-13, submitted 2026-11-20)" in captured.err
    )

    # Finding 2, through the source's clean layer: a Google Sheets file's 12/1/2026 read
    # day-first would be 12 January, before its response: the file is month-first, whatever
    # the (unset) setting, and the tally says so.
    (source.audits_dir / "qa-bo.csv").write_text(
        "response_id,root_cause,audited_at,auditor\nN3,perceived,12/1/2026 7:02:00,bo\n"
    )
    from servicelens.ingest.audits import accounting_text
    from servicelens.stages import audit_report, audits_read

    read = audits_read(source)
    at = {r: str(t)[:16] for r, t in read.audits.select("response_id", "audited_at").iter_rows()}
    assert at["N3"] == "2026-12-01 07:02"
    report = audit_report(source)
    assert report is not None
    assert (
        "acme-qualtrics/qa-bo.csv read month-first (line 2's '12/1/2026 7:02:00' read "
        "day-first would be before its response was submitted)"
    ) in accounting_text(report)
