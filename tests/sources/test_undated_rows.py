"""A SurveyMonkey export with a response whose own date cannot be read (an empty End Date),
through the real ``sources run`` (real Prefect, manifests read back by DuckDB): the row is
quarantined under the date its delivery was landed, as any undatable row is, and that
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


def test_a_row_without_its_own_date_is_counted_as_undated_under_the_delivery_date(
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
    assert len(rows) == 2, rows
    (day, *counts), (delivered_on, *undated) = rows
    assert (day.isoformat(), *counts) == ("2026-11-09", 2, 2, 0, 0)
    # The delivery's own date: a partition of no responses, and said to be one.
    assert undated == [1, 0, 1, 1]
    assert (
        f"{delivered_on.isoformat()}: its 1 row is filed under the date the delivery was landed "
        "because its own date (submitted_at) could not be read: not a response of this date "
        "(processed_dates.rows_undated)" in said
    ), said
    assert "2026-11-09: " not in said, said
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
        ("2026-11-09", "2", "0", "0"),
        (delivered_on.isoformat(), "1", "1", "1"),
    ], by_date
