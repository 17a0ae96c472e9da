"""A SurveyMonkey export with a response whose own date cannot be read (an empty End Date),
through the real ``sources run`` (real Prefect, manifests read back by DuckDB): the row is
quarantined under its delivery's own day (the date its file name holds, else the day most
of its dated rows fall on, else the day it was landed), as any undatable row is, and that
date's partition says so, in the run's summary and in processed_dates' ``rows_undated``
(found by a trial: "2026-12-05 read 1 kept 0 quarantined 1" read as a day of responses)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from servicelens.ingest.configured import register_source
from servicelens.reporting.analyst import connect_views
from servicelens.settings import Settings

DEFINITION = Path(__file__).parent / "definitions" / "telwave-csat.toml"
CSAT = "Overall, how satisfied were you with the service you received from our team?"
NPS = "How likely is it that you would recommend Telwave to a friend or colleague?"
#: SurveyMonkey's two header rows, as the trial's export has them.
HEADER = (
    "Respondent ID,Collector ID,Start Date,End Date,IP Address,Email Address,First Name,"
    f'Last Name,Custom Data 1,ticket_id,agent,queue,"{CSAT}",{NPS},How did you contact us?,'
    "Was your issue resolved?,What could we have done better?\r\n"
    ",,,,,,,,,,,,Response,Response,Response,Response,Open-Ended Response\r\n"
)


def _row(rid: str, end: str, csat: str) -> str:
    return (
        f"{rid},431552871,11/09/2026 04:05:16 PM,{end},81.2.66.39,,,,,INC4072442,TW1014,"
        f"Billing,{csat},7,Phone,Yes,fine\r\n"
    )


def test_a_row_without_its_own_date_is_counted_as_undated_under_its_deliverys_day(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), str(DEFINITION))
    export = tmp_path / "Telwave_CSAT_Post-Contact_Survey.csv"
    export.write_text(
        HEADER
        + _row("114200000021", "11/09/2026 05:04:44 PM", "Very satisfied")
        + _row("114200000045", "11/09/2026 05:37:16 PM", "Dissatisfied")
        # An incomplete response: no End Date, so no survey date of its own.
        + _row("114200000454", "", "Very dissatisfied"),
        encoding="utf-8-sig",
    )
    capsys.readouterr()
    assert main(["--data-dir", str(data), "sources", "run", "telwave-csat", str(export)]) == 0
    said = " ".join(capsys.readouterr().out.split())

    rows = (
        connect_views(data)
        .execute(
            "SELECT survey_date, rows_read, rows_kept, rows_quarantined, rows_undated "
            "FROM processed_dates WHERE source = 'telwave-csat' ORDER BY survey_date"
        )
        .fetchall()
    )
    # Its delivery's own day: the day its other rows fall on (its name holds no date), not
    # the day it was landed; said to be so.
    assert [(d.isoformat(), *counts) for d, *counts in rows] == [("2026-11-09", 3, 2, 1, 1)]
    assert (
        "2026-11-09: 1 of its 3 rows is filed under this date, its delivery's day, because "
        "its own date (submitted_at) could not be read: not a response of this date "
        "(processed_dates.rows_undated)" in said
    ), said
    assert (
        "1 row whose submitted_at gives no survey date (empty, or a format the definition does "
        "not read) is quarantined under its delivery's day, 2026-11-09 (the day most of its "
        "dated rows fall on), not a survey date of its own" in said
    ), said
    # The run's report says it where the other quarantine counts are (data quality).
    [report] = sorted((data / "reports").glob("report-*-telwave-csat.html"))[-1:]
    head, table = report.read_text(encoding="utf-8").split("<th>rejected_share</th>", 1)
    columns = re.findall(
        r"<th>([^<]*)</th>",
        head.rsplit("<table>", 1)[1] + "<th>rejected_share</th>" + table.split("</thead>", 1)[0],
    )
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table.split("</table>", 1)[0])
    by_date = [
        dict(zip(columns, cells[i : i + len(columns)], strict=True))
        for i in range(0, len(cells), len(columns))
    ]
    assert [(r["survey_date"], r["read"], r["quarantined"], r["undated"]) for r in by_date] == [
        ("2026-11-09", "3", "1", "1"),
    ], by_date


def _day_first(rid: str, end: str) -> str:
    """A row whose End Date is written day first with dots (``07.09.2026 14:30``): a format
    the SurveyMonkey definition does not declare, so the row gives no survey date."""
    return _row(rid, end, "Satisfied")


def test_a_catch_up_files_undated_rows_under_each_deliverys_own_day(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an analyst's trial: a quarter of daily exports caught up on one day filed
    their day-first rows under that day, outside the quarter (one partition of 75 rows,
    nothing kept, exit 4), and the backfill ranges the run suggested ran to it. Each
    undated row goes to its delivery's own day: the date its file name holds, else the day
    most of its dated rows fall on."""
    from servicelens.cli.main import main

    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), str(DEFINITION))
    exports = []
    for day in (2, 3, 4, 5):
        export = tmp_path / f"Telwave_CSAT_2026-11-{day:02d}.csv"
        export.write_text(
            HEADER
            + _row(f"1142{day}0000001", f"11/{day:02d}/2026 05:04:44 PM", "Very satisfied")
            + _row(f"1142{day}0000002", f"11/{day:02d}/2026 06:37:16 PM", "Dissatisfied")
            + "".join(
                _day_first(f"1142{day}000001{n}", f"{day:02d}.11.2026 1{n}:30") for n in range(3)
            ),
            encoding="utf-8-sig",
        )
        exports.append(str(export))
    # A name without a date: its undated row goes where most of its rows are (6 Nov).
    unnamed = tmp_path / "Telwave_CSAT_Post-Contact_Survey.csv"
    unnamed.write_text(
        HEADER
        + _row("114260000001", "11/06/2026 09:00:00 AM", "Satisfied")
        + _row("114260000002", "11/06/2026 10:00:00 AM", "Satisfied")
        + _row("114270000001", "11/07/2026 11:00:00 AM", "Satisfied")
        + _day_first("114270000011", "06.11.2026 14:30"),
        encoding="utf-8-sig",
    )
    capsys.readouterr()
    assert (
        main(["--data-dir", str(data), "sources", "run", "telwave-csat", *exports, str(unnamed)])
        == 0
    )
    said = " ".join(capsys.readouterr().out.split())
    rows = (
        connect_views(data)
        .execute(
            "SELECT strftime(survey_date, '%Y-%m-%d'), rows_read, rows_kept, rows_quarantined, "
            "rows_undated FROM processed_dates WHERE source = 'telwave-csat' ORDER BY 1"
        )
        .fetchall()
    )
    assert rows == [
        ("2026-11-02", 5, 2, 3, 3),
        ("2026-11-03", 5, 2, 3, 3),
        ("2026-11-04", 5, 2, 3, 3),
        ("2026-11-05", 5, 2, 3, 3),
        ("2026-11-06", 3, 2, 1, 1),
        ("2026-11-07", 1, 1, 0, 0),
    ], rows
    # Each delivery says where its undated rows went, and why there.
    assert (
        "3 rows whose submitted_at gives no survey date (empty, or a format the definition "
        "does not read) are quarantined under its delivery's day, 2026-11-04 (the date its "
        "file name holds)" in said
    ), said
    assert (
        "1 row whose submitted_at gives no survey date (empty, or a format the definition "
        "does not read) is quarantined under its delivery's day, 2026-11-06 (the day most "
        "of its dated rows fall on)" in said
    ), said
    # No partition of the catch-up's day: the backfills the run's report suggests cover
    # the deliveries' days.
    assert "2026-12-" not in said, said
    [report] = sorted((data / "reports").glob("report-*-telwave-csat.html"))[-1:]
    ranges = re.findall(
        r"backfill --source telwave-csat --start (\S+) --end ([0-9-]+)", report.read_text()
    )
    assert ranges and set(ranges) == {("2026-11-02", "2026-11-07")}, ranges


def test_a_delivery_of_undated_rows_only_and_no_date_in_its_name_is_filed_under_its_landing_day(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A delivery none of whose rows gives a date, and whose name holds none, has no day of
    its own: its rows are filed under the day it was landed, and that partition of nothing
    kept exits 4 (an export or a definition gone wrong: the README's exit table)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from servicelens.cli.main import main
    from servicelens.ingest.definitions import load_definition

    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), str(DEFINITION))
    export = tmp_path / "Telwave_CSAT_Post-Contact_Survey.csv"
    export.write_text(
        HEADER + "".join(_day_first(f"11430000{n:04d}", "07.11.2026 14:30") for n in range(12)),
        encoding="utf-8-sig",
    )
    zone = load_definition(str(DEFINITION)).timezone or Settings(data_dir=str(data)).timezone
    before = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    capsys.readouterr()
    assert main(["--data-dir", str(data), "sources", "run", "telwave-csat", str(export)]) == 4
    said = " ".join(capsys.readouterr().out.split())
    ((day, read, kept, undated),) = (
        connect_views(data)
        .execute(
            "SELECT survey_date, rows_read, rows_kept, rows_undated FROM processed_dates "
            "WHERE source = 'telwave-csat'"
        )
        .fetchall()
    )
    assert (read, kept, undated) == (12, 0, 12)
    assert day >= before
    assert (
        f"12 rows whose submitted_at gives no survey date (empty, or a format the definition "
        f"does not read) are quarantined under its delivery's day, {day.isoformat()} (the day "
        "it was landed: its file name holds no single date and none of its rows has one)" in said
    ), said
