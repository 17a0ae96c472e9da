"""A QA lead's audits kept in Excel (trial 111): a mistyped re-audit, a workbook of one sheet
per month, audits naming their response by its interaction id."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _month_workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """An .xlsx written by xlsxwriter as Excel saves one: each sheet's rows from its row 1,
    a ``datetime`` a date cell (shown dd/mm/yyyy), a number a number cell, text text."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for row, cells in enumerate(rows):
            for column, cell in enumerate(cells):
                if isinstance(cell, datetime):
                    sheet.write_datetime(row, column, cell, day)
                else:
                    sheet.write(row, column, cell)
    book.close()
    return path


HEADER = ["response_id", "root_cause", "audited_at", "auditor"]
SUMMARY = [["Month", "perceived", "policy_failure", "Total"], ["Oct 2026", 2, 1, 3]]
LOOKUPS = [["Code", "Verdict"], ["P", "perceived"], ["PF", "policy_failure"]]


def test_a_workbook_of_one_sheet_per_month_is_read_whole(tmp_path: Path) -> None:
    """A QA lead's Excel keeps a sheet per month beside a Summary of pivot counts and a
    Lookups list of verdict codes: it was refused whole ("which of them holds the audits is
    not known"). Each month is read, November under its renamed verdict heading; R2,
    audited in October and again in December, is a re-audit across sheets; October's row 3
    (R2, overruled) and November's row 3 (R5, 'PF') are two rows, each named by its sheet;
    the Summary and Lookups are named once each as skipped."""
    path = _month_workbook(
        tmp_path / "qa-2026.xlsx",
        {
            "Summary": SUMMARY,
            "Oct 2026": [
                HEADER,
                ["R1", "perceived", datetime(2026, 10, 5), "ann"],
                ["R2", "perceived", datetime(2026, 10, 6), "ann"],
                ["R3", "policy_failure", datetime(2026, 10, 7), "bo"],
            ],
            "Nov 2026": [
                ["Response ID", "rootcause", "audited_at", "Auditor"],
                ["R4", "policy_failure", datetime(2026, 11, 3), "ann"],
                ["R5", "PF", datetime(2026, 11, 4), "bo"],
                ["R6", "perceived", datetime(2026, 11, 5), "bo"],
            ],
            "Dec 2026": [
                HEADER,
                ["R2", "policy_failure", datetime(2026, 12, 1), "cy"],
                ["R7", "perceived", datetime(2026, 12, 1), "cy"],
            ],
            "Lookups": LOOKUPS,
        },
    )
    read = read_audit_files([path], "UTC", NOW)
    assert read.unreadable == []
    assert read.sheets_read == {str(path): ["Oct 2026", "Nov 2026", "Dec 2026"]}
    assert (read.rows_read, read.audits.height, read.replaced, read.overturned) == (8, 6, 1, 1)
    assert read.audits.sort("response_id").select(
        "response_id", "root_cause", "source_sheet", "source_line"
    ).rows() == [
        ("R1", "perceived", "Oct 2026", 2),
        ("R2", "policy_failure", "Dec 2026", 2),
        ("R3", "policy_failure", "Oct 2026", 4),
        ("R4", "policy_failure", "Nov 2026", 2),
        ("R6", "perceived", "Nov 2026", 4),
        ("R7", "perceived", "Dec 2026", 3),
    ]
    accounting = audit_accounting(
        read, _negatives(*(f"R{i}" for i in range(1, 8))), pl.Series([], dtype=pl.String)
    )
    verdict = "root_cause: 'PF' is not one of perceived or policy_failure"
    overruled = (
        "overruled by a later audit: 'perceived' by ann at 2026-10-06 gave way to "
        "'policy_failure' by cy at 2026-12-01 00:00 (tmp/qa-2026.xlsx sheet 'Dec 2026' row 2), "
        "the latest; file a new audit to change it"
    ).replace("tmp/", f"{tmp_path.name}/")
    assert (accounting["used"], accounting["replaced_by_a_later_audit"]) == (6, 1)
    assert accounting["set_aside"] == {"root_cause": 1}
    assert accounting["set_aside_rows"] == [
        {
            "source_file": str(path),
            "sheet": "Nov 2026",
            "source_line": 3,
            "response_id": "R5",
            "reason": verdict,
            "settled": False,
            "re_audit": False,
        }
    ]
    assert accounting["overturned_rows"] == [
        {
            "source_file": str(path),
            "sheet": "Oct 2026",
            "source_line": 3,
            "response_id": "R2",
            "reason": overruled,
        }
    ]
    skipped = "no audit headings found (not audits: skipped)"
    assert accounting["sheets_skipped"] == [
        {"file": str(path), "sheet": "Summary", "why": skipped},
        {"file": str(path), "sheet": "Lookups", "why": skipped},
    ]
    book = f"{tmp_path.name}/qa-2026.xlsx"
    assert accounting_text(accounting).splitlines() == [
        "audits: 8 rows in 1 file(s), 6 used; 1 replaced by a later audit (1 with another "
        f"verdict), 1 set aside (root_cause); {book} sheet 'Summary': {skipped}; {book} sheet "
        f"'Lookups': {skipped}; {book} sheet 'Nov 2026' row 1: column 'rootcause' read as "
        "root_cause: rename it to root_cause to silence this",
        f"  {book} sheet 'Nov 2026' row 3 (R5): {verdict}",
        f"  {book} sheet 'Oct 2026' row 3 (R2): {overruled}",
    ]


def test_a_month_sheet_lacking_a_column_is_set_aside_and_the_others_count(
    tmp_path: Path,
) -> None:
    """November's sheet lost its auditor column: that sheet is set aside whole, named with
    its header row, the missing column and what to change; October and December are read,
    and a response audited on both at one time with two verdicts is a conflict, as within
    one sheet. A workbook whose sheets are all no audits is refused naming them."""
    path = _month_workbook(
        tmp_path / "qa.xlsx",
        {
            "Oct 2026": [HEADER, ["R1", "perceived", datetime(2026, 10, 5), "ann"]],
            "Nov 2026": [HEADER[:3], ["R2", "perceived", datetime(2026, 11, 5)]],
            "Dec 2026": [HEADER, ["R1", "policy_failure", datetime(2026, 10, 5), "bo"]],
        },
    )
    read = read_audit_files([path], "UTC", NOW)
    assert read.unreadable == [
        {
            "file": str(path),
            "sheet": "Nov 2026",
            "reason": f"{path}: sheet 'Nov 2026' row 1 (header): an audit file needs the columns "
            "response_id, root_cause, audited_at, auditor; it has no auditor (its header: "
            "response_id, root_cause, audited_at). No column is named near auditor (who "
            "audited), and the file has no other column: add a auditor column. Then save the "
            "file again, or export the audits with these names. The sheet is set aside whole; "
            "the workbook's other audit sheets are read",
        }
    ]
    assert read.sheets_read == {str(path): ["Oct 2026", "Dec 2026"]}
    assert (read.rows_read, read.audits.height) == (2, 0)
    assert read.set_aside.select("source_sheet", "source_line", "response_id").rows() == [
        ("Dec 2026", 2, "R1"),
        ("Oct 2026", 2, "R1"),
    ]
    assert all(r.startswith("conflicting audits: ") for r in read.set_aside.get_column("reason"))
    # Each names the other sheet's row, so QA can open both.
    book = f"{tmp_path.name}/qa.xlsx"
    assert [r.split(" (", 1)[1].split(")")[0] for r in read.set_aside.get_column("reason")] == [
        f"{book} sheet 'Oct 2026' row 2",
        f"{book} sheet 'Dec 2026' row 2",
    ]
    none = _month_workbook(tmp_path / "none.xlsx", {"Summary": SUMMARY, "Lookups": LOOKUPS})
    (unread,) = read_audit_files([none], "UTC", NOW).unreadable
    assert unread["reason"].startswith(
        f"{none}: no sheet of the workbook ('Summary' and 'Lookups') has a header row naming "
        "the audit columns"
    )


def test_conflicting_audits_in_two_files_name_each_others_place(tmp_path: Path) -> None:
    """Two audits of one response at one time with two verdicts, one in each auditor's file:
    each conflict named its own row only ("disagrees with another audit of this response"),
    and QA had to search every file for the other. Each names the others' file and line;
    a row two others disagree with names both."""
    ann, bo = tmp_path / "ann" / "qa.csv", tmp_path / "bo" / "qa.csv"
    for path in (ann, bo):
        path.parent.mkdir()
    header = "response_id,root_cause,audited_at,auditor\n"
    ann.write_text(header + "R9,perceived,2026-11-03,ann\nR1,perceived,2026-11-02 10:00,ann\n")
    bo.write_text(
        header + "R1,policy_failure,2026-11-02 10:00,bo\nR1,policy_failure,2026-11-02 10:00,cy\n"
    )
    read = read_audit_files([ann, bo], "UTC", NOW)
    assert read.audits.get_column("response_id").to_list() == ["R9"]
    reasons = {
        (Path(file).parent.name, line): reason
        for file, line, reason in read.set_aside.select(
            "source_file", "source_line", "reason"
        ).iter_rows()
    }
    assert reasons[("ann", 3)] == (
        "conflicting audits: 'perceived' by ann at 2026-11-02 10:00 disagrees with 2 other "
        "audits of this response at the same time (bo/qa.csv line 2 and bo/qa.csv line 3); "
        "settle it with a later audit"
    )
    assert [reasons[("bo", line)].split(" (")[1] for line in (2, 3)] == [
        "ann/qa.csv line 3); settle it with a later audit"
    ] * 2


def test_each_month_sheets_date_order_is_named(tmp_path: Path) -> None:
    """A workbook of one sheet per month, typed in two tools: October's dates show day-first
    (28/10), November's month-first (11/13). Each sheet is read in its own order, but
    date_orders_shown named October's alone, so QA never saw why November read month-first."""
    path = _month_workbook(
        tmp_path / "qa.xlsx",
        {
            "Oct 2026": [HEADER, ["R1", "perceived", "28/10/2026 09:00", "ann"]],
            "Nov 2026": [HEADER, ["R2", "policy_failure", "11/13/2026 09:00", "bo"]],
        },
    )
    read = read_audit_files([path], "UTC", NOW)
    assert read.audits.sort("response_id").get_column("audited_at").dt.day().to_list() == [28, 13]
    assert {
        (shown["sheet"], shown["order"], shown["why"]) for shown in read.date_orders.values()
    } == {
        ("Oct 2026", "day-first", "sheet 'Oct 2026' row 2's '28/10/2026 09:00' has a day above 12"),
        (
            "Nov 2026",
            "month-first",
            "sheet 'Nov 2026' row 2's '11/13/2026 09:00' has a day above 12",
        ),
    }
    accounting = audit_accounting(read, _negatives("R1", "R2"), pl.Series([], dtype=pl.String))
    text = accounting_text(accounting)
    assert f"{tmp_path.name}/qa.xlsx read day-first (sheet 'Oct 2026' row 2's" in text
    assert f"{tmp_path.name}/qa.xlsx read month-first (sheet 'Nov 2026' row 2's" in text


def test_audit_headings_qa_gives_on_the_header_row_are_read(tmp_path: Path) -> None:
    """Trial 116: a UK contact centre's workbook (sheets 'March 2026', 'April 2026' and a
    'Summary' of counts; header ``Call Id, Verdict, Audit Date, Auditor, Notes``) had each
    month refused ("did you mean 'Verdict' for root_cause, 'Audit Date' for audited_at?"),
    and a CSV headed ``response_id,Verdict,Audit Date,auditor`` too, though the README says a
    header may name a column by a name QA gives it: only a header under a title was read so.
    Both are read, said once per file in the tally, and label their own responses."""
    header = ["Call Id", "Verdict", "Audit Date", "Auditor", "Notes"]
    book = _month_workbook(
        tmp_path / "qa-audits-2026.xlsx",
        {
            "March 2026": [
                header,
                ["ID000101", "Perceived", datetime(2026, 3, 17), "P. Singh", ""],
                ["ID000102", "Policy failure", datetime(2026, 3, 18), "T. Evans", "refund"],
            ],
            "April 2026": [
                header,
                ["ID000201", "policy_failure", datetime(2026, 4, 2), "T. Evans"],
            ],
            "Summary": [["Verdict", "Count"], ["Perceived", 1], ["Policy failure", 2]],
        },
    )
    csv = tmp_path / "qa-extra.csv"
    csv.write_text(
        "response_id,Verdict,Audit Date,auditor\nID000103,perceived,2026-03-20 09:00,ann\n",
        encoding="utf-8",
    )
    read = read_audit_files([book, csv], "Europe/London", NOW)
    assert read.unreadable == []
    assert read.sheets_read == {str(book): ["March 2026", "April 2026"]}
    assert read.audits.sort("response_id").select("response_id", "root_cause").rows() == [
        ("ID000101", "perceived"),
        ("ID000102", "policy_failure"),
        ("ID000103", "perceived"),
        ("ID000201", "policy_failure"),
    ]
    clean = _negatives("ID000101", "ID000102", "ID000103", "ID000201", "ID000999")
    accounting = audit_accounting(read, clean, pl.Series([], dtype=pl.String))
    assert accounting["used"] == 4
    text = accounting_text(accounting)
    assert f"{tmp_path.name}/qa-extra.csv line 1: column 'Verdict' read as root_cause" in text
    assert "column 'Audit Date' read as audited_at" in text
