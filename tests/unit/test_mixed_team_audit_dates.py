"""Audit dates as a QA team mixing LibreOffice Calc and Google Sheets saves them: each row
used or set aside with every reason, naming its file and line (found by a QA lead's trial,
97)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from servicelens.ingest.audits import read_audit_files

#: The time the audits are read at: every audit in these files is before it.
NOW = datetime(2026, 12, 7, tzinfo=UTC)
HEADER = "response_id,root_cause,audited_at,auditor\n"


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def _where(read: pl.DataFrame) -> dict[str, tuple[str, int]]:
    """Each row's response id with its file's name and its line."""
    return {
        r: (Path(f).name, line)
        for r, f, line in read.select("response_id", "source_file", "source_line").iter_rows()
    }


def test_a_two_digit_year_reads_as_this_century_in_the_order_the_file_shows(
    tmp_path: Path,
) -> None:
    """LibreOffice Calc's en-GB default writes ``06/12/26 08:08``: it was set aside as "not a
    date QA writes", and the reason never said the year had two digits."""
    calc = _write(
        tmp_path,
        "audits-ann.csv",
        HEADER + "R1,perceived,06/12/26 08:08,ann\n"
        "R2,policy_failure,13/11/26,ann\n"  # the day above 12: the file is day-first
        "R3,perceived,28.11.26 14:05,ann\n",  # LibreOffice's de-DE default
    )
    sheets = _write(
        tmp_path,
        "audits-bo.csv",
        HEADER + "R4,perceived,11/30/26 9:05,bo\n"  # month-first, as a US locale writes it
        "R5,perceived,12/1/26,bo\n",
    )
    unsure = _write(tmp_path, "audits-cy.csv", HEADER + "R6,perceived,06/12/26 08:08,cy\n")
    read = read_audit_files([calc, sheets, unsure], "UTC", NOW)
    at = {r: str(t)[:16] for r, t in read.audits.select("response_id", "audited_at").iter_rows()}
    assert at == {
        "R1": "2026-12-06 08:08",
        "R2": "2026-11-13 00:00",
        "R3": "2026-11-28 14:05",
        "R4": "2026-11-30 09:05",
        "R5": "2026-12-01 00:00",
    }
    assert _where(read.set_aside) == {"R6": ("audits-cy.csv", 2)}
    # A file that cannot show its order is told both readings, with four-digit years.
    (reason,) = read.set_aside.get_column("reason")
    assert reason.startswith(
        "audited_at: '06/12/26 08:08' reads as day/month or as month/day: no date of its file "
        "has a number above 12 to tell which; write it as 2026-12-06 08:08 (day first) or "
        "2026-06-12 08:08 (month first)"
    )
    assert read.rows_read == read.audits.height + read.set_aside.height


def test_a_row_with_two_problems_is_set_aside_with_both(tmp_path: Path) -> None:
    """Line 4 had a misspelt verdict and a date no format reads: only the verdict was said,
    so the auditor met the date on the next round. Every reason is given, joined as a
    quarantined row's are."""
    from servicelens.ingest.audits import accounting_text, audit_accounting

    audits = _write(
        tmp_path,
        "audits-dee.csv",
        HEADER + "R1,perceived,2026-12-01 10:00,dee\n"
        "R2,policy_failure,2026-13-01,dee\n"
        "R3,polcy_failure,2026-31-11 09:00,dee\n"
        ",Percieved,2099-01-01,dee\n",
    )
    read = read_audit_files([audits], "UTC", NOW)
    assert _where(read.audits) == {"R1": ("audits-dee.csv", 2)}
    reasons = {
        line: reason for line, reason in read.set_aside.select("source_line", "reason").iter_rows()
    }
    assert sorted(reasons) == [3, 4, 5]
    assert reasons[3].startswith("audited_at: '2026-13-01' is missing or not a date QA writes")
    verdict, date = reasons[4].split("; ", 1)
    assert verdict == (
        "root_cause: 'polcy_failure' is not one of perceived or policy_failure (did you mean "
        "policy_failure?)"
    )
    assert date.startswith("audited_at: '2026-31-11 09:00' is missing or not a date QA writes")
    missing, misspelt, ahead = reasons[5].split("; ")
    assert missing == "response_id: (empty) missing"
    assert misspelt.startswith("root_cause: 'Percieved' is not one of")
    assert ahead.startswith("audited_at: '2099-01-01' is in the future")
    # The tally quotes each row's reasons whole, with its file and line.
    clean = pl.DataFrame(
        {"response_id": ["R1", "R2", "R3"], "is_negative": [True] * 3},
    )
    accounting = audit_accounting(read, clean, pl.Series("record_id", [], pl.String))
    assert accounting["rows_read"] == 4 and accounting["used"] == 1
    assert f"audits-dee.csv line 4 (R3): {reasons[4]}" in accounting_text(accounting)


def test_a_tab_separated_audit_file_in_a_date_folder_is_told_to_be_renamed(
    tmp_path: Path,
) -> None:
    """A ``.tsv`` in the sample's ``raw/<date>/`` was told to "save the workbook as CSV": it
    is no workbook, and renamed ``audits-fay.csv`` it is read (its tab sniffed). A source's
    audits folder says the same of the same file, in the same words."""
    from servicelens.ingest.audits import (
        audit_files,
        misplaced_advice,
        misplaced_audit_files,
        source_audit_files,
    )

    raw = tmp_path / "raw"
    tsv = _write(
        raw / "2026-12-03",
        "audits-fay.tsv",
        "response_id\troot_cause\taudited_at\tauditor\nR1\tperceived\t2026-12-01 10:00\tfay\n",
    )
    workbook = _write(raw / "2026-12-03", "audits-gus.xlsx", "")
    assert misplaced_audit_files(raw) == [str(tsv), str(workbook)]
    advice = misplaced_advice(str(tsv))
    assert advice == (
        "audits are read from CSV files named audits.csv or audits-<name>.csv: if it is CSV or "
        "tab-separated text, such as Excel's Unicode Text, rename it audits-fay.csv (its "
        "delimiter, a tab or a comma, is found by itself)"
    )
    assert "workbook" not in advice
    assert "a date's folder reads no workbook" in misplaced_advice(str(workbook))
    in_source = _write(tmp_path / "audits" / "acme", "audits-fay.tsv", tsv.read_text())
    assert misplaced_advice(str(in_source)).endswith(advice.split(": ", 1)[1])
    # Renamed as told, every row is read.
    tsv.rename(tsv.with_suffix(".csv"))
    workbook.unlink()
    assert misplaced_audit_files(raw) == [] and source_audit_files(tmp_path / "audits") == []
    read = read_audit_files(audit_files(raw), "UTC", NOW)
    assert _where(read.audits) == {"R1": ("audits-fay.csv", 2)}


def test_each_file_reads_its_slashed_dates_in_the_order_its_own_dates_show(
    tmp_path: Path,
) -> None:
    """One auditor's LibreOffice saves 05/12/2026 10:15 (day-first), another's Google Sheets
    12/6/2026 7:02:00 (month-first): the one declared order misread half the team (read
    day-first, the Sheets rows became "audited 2026-06-12", before their responses). A
    file's order is what its own dates allow; the setting decides only a file that shows
    nothing, and a file whose rows contradict each other is set aside saying so."""
    from servicelens.ingest.audits import accounting_text, audit_accounting

    submitted_at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    calc = _write(
        tmp_path,
        "audits-ann.csv",
        HEADER + "R1,perceived,05/12/2026 10:15,ann\nR2,policy_failure,06/12/2026 08:00,ann\n",
    )
    sheets = _write(
        tmp_path,
        "audits-bo.csv",
        HEADER + "R3,perceived,12/6/2026 7:02:00,bo\nR4,perceived,12/1/2026 7:02:00,bo\n",
    )
    # Nothing to tell: 3 December and 12 March are both after its response (January's) and
    # not ahead.
    unsure = _write(tmp_path, "audits-cy.csv", HEADER + "R5,perceived,03/12/2026,cy\n")
    both = _write(
        tmp_path,
        "audits-dee.csv",
        HEADER + "R6,perceived,05/12/2026,dee\nR7,perceived,12/6/2026,dee\n",
    )
    ids = [f"R{i}" for i in range(1, 8)]
    clean = pl.DataFrame(
        {"response_id": ids, "is_negative": [True] * 7, "submitted_at": [submitted_at] * 7}
    ).with_columns(
        pl.when(pl.col("response_id") == "R5")
        .then(pl.lit(datetime(2026, 1, 2, tzinfo=UTC)))
        .otherwise("submitted_at")
        .alias("submitted_at")
    )

    def submitted_of(wanted: pl.Series) -> pl.DataFrame:
        return clean.filter(pl.col("response_id").is_in(wanted.implode())).select(
            "response_id", "submitted_at"
        )

    read = read_audit_files(
        [calc, sheets, unsure, both],
        "UTC",
        NOW,
        date_order="day-first",
        submitted_of=submitted_of,
    )
    at = {r: str(t)[:16] for r, t in read.audits.select("response_id", "audited_at").iter_rows()}
    assert at == {
        "R1": "2026-12-05 10:15",
        "R2": "2026-12-06 08:00",
        "R3": "2026-12-06 07:02",
        "R4": "2026-12-01 07:02",
        "R5": "2026-12-03 00:00",  # the setting's order
    }
    assert _where(read.set_aside) == {"R6": ("audits-dee.csv", 2), "R7": ("audits-dee.csv", 3)}
    # Which row rules out which order (the file's other dates read either way).
    assert read.set_aside.get_column("reason").to_list()[0] == (
        "audited_at: '05/12/2026' is not read, nor any slashed date of its file: line 3's "
        "'12/6/2026' rules out day-first (read so, it would be before its response was "
        "submitted) and line 2's '05/12/2026' rules out month-first (read so, it would be "
        "before its response was submitted), so the file mixes day-first and month-first "
        "dates; in the spreadsheet, retype this date as 2026-12-05 (day first) or 2026-05-12 "
        "(month first), as its auditor meant, and the file's other slashed dates likewise (or "
        "correct the line that is mistyped)"
    )
    assert {Path(f).name: (o["order"], o["from"]) for f, o in read.date_orders.items()} == {
        "audits-ann.csv": ("day-first", "its dates"),
        "audits-bo.csv": ("month-first", "its dates"),
        # Its order came from the setting, and the tally, report and --json say so.
        "audits-cy.csv": ("day-first", "the setting"),
    }
    # The tally names the order each file was read in, and the line that shows it.
    text = accounting_text(
        audit_accounting(read, clean, pl.Series("record_id", [], pl.String))
    ).splitlines()[0]
    assert (
        f"{tmp_path.name}/audits-bo.csv read month-first (line 2's '12/6/2026 7:02:00' read "
        "day-first would be before its response was submitted)"
    ) in text
    assert f"{tmp_path.name}/audits-ann.csv read day-first (line 2's '05/12/2026 10:15'" in text
    assert (
        f"{tmp_path.name}/audits-cy.csv read day-first (as SERVICELENS_AUDIT_DATE_ORDER declares: "
        "no date of the file shows the order, and line 2's '03/12/2026' reads either way)"
    ) in text
    # Without the setting nothing decided it: its row is set aside, and no order is named.
    unset = read_audit_files([unsure], "UTC", NOW, submitted_of=submitted_of)
    assert unset.date_orders == {} and unset.set_aside.height == 1
    assert read.rows_read == read.audits.height + read.set_aside.height
