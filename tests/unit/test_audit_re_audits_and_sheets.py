"""A QA lead's audits kept in Excel (trial 111): a mistyped re-audit, a workbook of one sheet
per month, audits naming their response by its interaction id."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from servicelens.ingest.audits import accounting_text, audit_accounting, read_audit_files

#: The time the audits are read at: every audit in these files is before it.
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _negatives(*ids: str) -> pl.DataFrame:
    """The clean layer's responses ``ids``, each negative."""
    return pl.DataFrame({"response_id": list(ids), "is_negative": [True] * len(ids)})


def test_a_mistyped_re_audit_holds_the_earlier_verdict_out_and_is_quoted_alone(
    tmp_path: Path,
) -> None:
    """Trial 111: 'Perceived' on 2026-10-27, re-audited 'PF' on 2026-11-05; the re-audit was
    folded into "36 more like it" and the overturned 'Perceived' trained. A QA lead's later
    verdict outranks the earlier one even mistyped: the earlier is held out until it is
    mended, and the re-audit quoted by itself. An unreadable and a readable verdict at one
    time disagree, as two readable ones do."""
    path = tmp_path / "qa.csv"
    path.write_text(
        "response_id,root_cause,audited_at,auditor\n"
        "R1,Perceived,2026-10-27 10:00,ann\n"  # line 2: re-audited (line 4)
        "R2,perceived,2026-10-28 10:00,ann\n"  # line 3: in force
        "R1,PF,2026-11-05 09:00,lee\n"  # line 4: the mistyped re-audit
        "R3,PF,2026-11-02 08:10:59,lee\n"  # line 5: same time as line 6
        "R3,Perceived,2026-11-02 08:10:59,ann\n"  # line 6
        "R2,PF,2026-10-01 09:00,lee\n"  # line 7: older than R2's audit in force: settled
        "R4,PF,2026-11-06 09:00,lee\n"  # line 8: no other audit
        "R5,PF,2026-11-07 09:00,lee\n",  # line 9: no other audit
        encoding="utf-8",
    )
    read = read_audit_files([path], "UTC", NOW)
    assert read.audits.get_column("response_id").to_list() == ["R2"]
    reasons = dict(read.set_aside.select("source_line", "reason").iter_rows())
    assert reasons[2] == (
        "held out of training: 'perceived' by ann at 2026-10-27 10:00 was re-audited later, "
        f"at 2026-11-05 09:00 ({tmp_path.name}/qa.csv line 4), with a verdict that cannot be "
        "read ('PF'): mend that row, and its verdict is in force"
    )
    assert reasons[6] == (
        "conflicting audits: 'perceived' by ann at 2026-11-02 08:10 disagrees with another "
        f"audit of this response at the same time ({tmp_path.name}/qa.csv line 5, whose "
        "verdict 'PF' cannot be read); settle it with a later audit"
    )
    accounting = audit_accounting(
        read, _negatives("R1", "R2", "R3", "R4", "R5"), pl.Series([], dtype=pl.String)
    )
    assert accounting["used"] == 1
    assert [r["source_line"] for r in accounting["set_aside_rows"] if r["re_audit"]] == [4, 5]
    text = accounting_text(accounting)
    name = f"{tmp_path.name}/qa.csv"
    assert (
        f"  {name} line 4 (R1): root_cause: 'PF' is not one of perceived or policy_failure\n"
        in text
    )
    assert (
        f"  {name} line 5 (R3): root_cause: 'PF' is not one of perceived or policy_failure\n"
        in text
    )
    assert (
        f"  {name} line 8 (R4): root_cause: 'PF' is not one of perceived or policy_failure "
        "(and 1 more like it in this file)" in text
    )
    assert "line 7 (R2)" not in text


def test_audits_naming_their_responses_by_an_interaction_id_column_are_read(
    tmp_path: Path,
) -> None:
    """Trial 111: a workbook whose id column is headed 'Interaction ID' was not read at all,
    told to rename 'Verdict' and 'Audit Date' and nothing of it; renamed 'Response ID', its
    ids matched by interaction id. The usual headings of an interaction id name the audited
    response (as its ticket does), on line 1 or below a title; an unknown id shaped like
    the clean layer's interaction ids is told as one that no survey response carries."""
    other_ids = pl.DataFrame(
        {"other_id": ["INT-1000001"], "named": ["interaction_id"], "response_id": ["S500001"]}
    )
    clean = pl.DataFrame(
        {"response_id": ["S500001"], "is_negative": [True], "interaction_id": ["INT-1000001"]}
    )
    rows = (
        "INT-1000001,perceived,2026-11-01 10:00,ann\nINT-9900000,perceived,2026-11-01 10:00,ann\n"
    )
    for name, header in (
        ("plain.csv", "Interaction ID,root_cause,audited_at,auditor\n"),
        ("titled.csv", "QA log,,,\n,,,\ninteraction_id,Verdict,Audit Date,Auditor\n"),
    ):
        path = tmp_path / name
        path.write_text(header + rows, encoding="utf-8")
        read = read_audit_files([path], "UTC", NOW, other_ids=other_ids)
        assert read.unreadable == []
        assert read.audits.get_column("response_id").to_list() == ["S500001", "INT-9900000"]
        assert read.named_by_other_id == {"interaction_id": 1}
        # Not "rename it to response_id": it is the interaction's id, read as such.
        assert [r["column"] for r in read.renamed if r["read_as"] == "response_id"] == []
        accounting = audit_accounting(read, clean, pl.Series([], dtype=pl.String))
        (unknown,) = accounting["unused_rows"]
        assert unknown["reason"] == (
            "response_id: 'INT-9900000' is an interaction id that no survey response carries: "
            "a misspelt id, or its response not delivered yet"
        )


def test_a_workbooks_date_order_and_rows_set_aside_name_its_sheet(tmp_path: Path) -> None:
    """Trial 111: the tally said "line 6's '28/09/2026 09:34'" of a workbook whose every other
    message says "sheet 'Audits' row 6", and metrics.json's set_aside_rows had no sheet."""
    import xlsxwriter

    path = tmp_path / "qa.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Audits")
    for row, cells in enumerate(
        (
            ["response_id", "root_cause", "audited_at", "auditor"],
            ["R1", "perceived", "28/09/2026 09:34", "ann"],
            ["R2", "PF", "29/09/2026 09:34", "ann"],
        )
    ):
        sheet.write_row(row, 0, cells)
    book.close()
    read = read_audit_files([path], "UTC", NOW)
    assert read.date_orders[str(path)]["why"] == (
        "sheet 'Audits' row 2's '28/09/2026 09:34' has a day above 12"
    )
    accounting = audit_accounting(read, _negatives("R1", "R2"), pl.Series([], dtype=pl.String))
    (row,) = accounting["set_aside_rows"]
    assert (row["source_file"], row["sheet"], row["source_line"]) == (str(path), "Audits", 3)
