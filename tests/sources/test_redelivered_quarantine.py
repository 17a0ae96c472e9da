"""Re-delivered exports of a configured source through the real ``sources run`` (real
Prefect, real Parquet read back by DuckDB): the quarantine tells the earlier copies a later
delivery replaced from the rows rejected in their own right, and the counts say how many of
each (found by a BI analyst's trial: three deliveries of a Qualtrics export read "quarantined
26" where two responses were rejected)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from servicelens.ingest.configured import register_source
from servicelens.reporting.analyst import connect_views
from servicelens.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = Path(__file__).parent / "definitions" / "qualtrics-acme.toml"
#: The three header rows of a current Qualtrics export (column ids, question text, ImportIds).
HEADER = (
    "StartDate,EndDate,Status,IPAddress,Progress,Duration (in seconds),Finished,RecordedDate,"
    "ResponseId,RecipientLastName,RecipientFirstName,RecipientEmail,ExternalReference,"
    "LocationLatitude,LocationLongitude,DistributionChannel,UserLanguage,Q1,Q2\n"
    "Start,End,Type,IP,Progress,Duration,Finished,Recorded,Response ID,Last,First,Email,"
    "Reference,Lat,Long,Channel,Language,How satisfied?,Why?\n"
    + ",".join(
        f'"{{""ImportId"":""{key}""}}"'
        for key in [
            "startDate",
            "endDate",
            "status",
            "ipAddress",
            "progress",
            "duration",
            "finished",
            "recordedDate",
            "_recordId",
            "recipientLastName",
            "recipientFirstName",
            "recipientEmail",
            "externalDataReference",
            "locationLatitude",
            "locationLongitude",
            "distributionChannel",
            "userLanguage",
            "QID1",
            "QID2_TEXT",
        ]
    )
    + "\n"
)


def _export(comment: str) -> str:
    """One export of four responses: two real ones, a survey preview (Status 1) and one the
    respondent did not finish (Finished 0); ``comment`` is R_a's (a re-export edits it), and
    ends the preview's and the unfinished one's (so their earlier copies are landed: a copy
    re-delivered as it was, R_b's, is counted at landing, not stored again)."""
    rows = [
        ("0", "1", "R_a", "4", comment),
        ("0", "1", "R_b", "1", "nobody called back"),
        ("1", "1", "R_p", "2", f"preview {comment}"),
        ("0", "0", "R_u", "3", f"half done {comment}"),
    ]
    return HEADER + "".join(
        f"2026-03-02 09:00:00,2026-03-02 09:05:00,{status},,100,300,{finished},"
        f'2026-03-02 09:05:00,{rid},,,,,,,anonymous,EN,{q1},"{q2}"\n'
        for status, finished, rid, q1, q2 in rows
    )


@pytest.fixture
def redelivered(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, str]:
    """A data directory whose source acme-qualtrics had the one export delivered three
    times (each re-export editing one comment), each run by ``sources run``; and what the
    last run printed."""
    from servicelens.cli.main import main

    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), str(DEFINITION))
    for n, comment in enumerate(["fine", "fine, thanks", "fine, thanks again"]):
        export = tmp_path / f"export-{n}.csv"
        export.write_text(_export(comment), encoding="utf-8")
        capsys.readouterr()
        assert main(["--data-dir", str(data), "sources", "run", "acme-qualtrics", str(export)]) == 0
    return data, " ".join(capsys.readouterr().out.split())


def test_the_quarantine_tells_superseded_copies_from_rejects(
    redelivered: tuple[Path, str],
) -> None:
    redelivered, said = redelivered
    quarantine = str(redelivered / "sources" / "acme-qualtrics" / "quarantine" / "*" / "*.parquet")
    rows = duckdb.sql(
        "SELECT record_id, superseded, count(*) FROM read_parquet(?, hive_partitioning = true, "
        "union_by_name = true) GROUP BY ALL ORDER BY ALL",
        params=[quarantine],
    ).fetchall()
    # Every earlier copy is superseded, whether its newest copy was kept (R_a) or set
    # aside by the definition itself (R_p, R_u); each rejected response counts once.
    assert rows == [
        ("R_a", True, 2),
        ("R_p", False, 1),
        ("R_p", True, 2),
        ("R_u", False, 1),
        ("R_u", True, 2),
    ]
    # A set-aside earlier copy names the newest copy, and still says why it was set aside.
    [(reasons,)] = duckdb.sql(
        "SELECT reasons FROM read_parquet(?, hive_partitioning = true, union_by_name = true) "
        "WHERE record_id = 'R_p' AND superseded AND source_file LIKE '%export-0.csv'",
        params=[quarantine],
    ).fetchall()
    assert reasons[0].startswith("duplicate delivery: superseded by line 6 of export-2.csv")
    assert "survey preview" in reasons[1]
    # processed_dates says how many of the quarantined rows are copies, how many the
    # definition sets aside (a preview, an unfinished response: no rejects), how many
    # rejects: it counted the set-aside ones among the rejects, where the run said 0.
    connection = connect_views(redelivered)
    assert connection.execute(
        "SELECT rows_read, rows_kept, rows_quarantined, rows_superseded, rows_set_aside, "
        "rows_rejected FROM processed_dates WHERE source = 'acme-qualtrics'"
    ).fetchall() == [(10, 2, 8, 6, 2, 0)]
    assert connection.execute(
        "SELECT count(*) FROM quarantine WHERE NOT superseded"
    ).fetchone() == (2,)
    # The run and its report say so too, the two rows the definition sets aside (a preview
    # and an unfinished response) apart from the rejects: nothing is wrong with them.
    assert (
        "read 10, kept 2, quarantined 8 (6 superseded by a later line or delivery (2 updated, "
        "4 unchanged), 2 set aside by the source definition, 0 rejected; read = kept + "
        "quarantined: True)" in said
    ), said
    [report] = sorted((redelivered / "reports").glob("report-*-acme-qualtrics.html"))[-1:]
    table = report.read_text(encoding="utf-8").split("<th>rejected_share</th>", 1)[1]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    # survey_date, read, kept, quarantined, superseded, set_aside, rejected, rejected_share
    assert cells[:8] == ["2026-03-02", "10", "2", "8", "6", "2", "0", "0.000"]


def test_the_quarantine_groups_reasons_by_a_stable_kind(redelivered: tuple[Path, str]) -> None:
    """A BI trial's ~1,000 reasons were 582 distinct strings, each quoting its value: the
    quarantine (contract 3) carries each reason's stable kind and column beside it."""
    data, _ = redelivered
    connection = connect_views(data)
    assert connection.execute(
        "SELECT kind, column_named, count(*) FROM (SELECT unnest(reason_kinds) AS kind, "
        "unnest(reason_columns) AS column_named FROM quarantine) GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        # R_a's two earlier copies: each re-export edited its comment.
        ("duplicate_delivery", None, 4),
        ("set_aside", "Finished", 3),
        ("set_aside", "Status", 3),
        ("updated", None, 2),
    ]
    assert connection.execute(
        "SELECT DISTINCT schema_version, len(reasons) = len(reason_kinds) FROM quarantine"
    ).fetchall() == [(3, True)]
    # The README's query runs as printed (DuckDB groups by no unnest directly).
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [query] = [b for b in re.findall(r"```sql\n(.*?)```", readme, re.S) if "reason_kinds" in b]
    assert sorted(connection.execute(query).fetchall()) == [
        ("acme-qualtrics", "set_aside", "Finished", 1),
        ("acme-qualtrics", "set_aside", "Status", 1),
    ]
