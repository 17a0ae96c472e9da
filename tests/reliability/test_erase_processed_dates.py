"""processed_dates after ``servicelens erase``, through a real configured source (real
``sources run``, real Parquet, the view read by DuckDB): the rows erased are the view's
``rows_erased``, so read = kept + quarantined + erased adds up on every date, erased or not.
Found by an on-call trial: after erasing a customer, sum(rows_read) exceeded sum(rows_kept)
+ sum(rows_quarantined) by 17 and 3 rows, the manifests' ``counts.erased``, which the view
did not show."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import configured_source
from servicelens.ingest.landing import land_delivery
from servicelens.reporting.analyst import connect_views
from servicelens.settings import Settings
from servicelens.stages import source_definition
from servicelens.storage.partitions import partition_dir, read_manifest
from servicelens.storage.runs import backfill_plan, date_status
from tests.sources import test_erase_source as erase_source
from tests.sources.configured_run import run_configured_source

#: test_erase_source's source and export under a name of its own: C2 has a kept response
#: (N2) and one quarantined for its unreadable time (N7, filed under its delivery's day,
#: 2026-03-02, the day most of its rows fall on); 2026-03-03 has no row of C2's.
NAME = "pulse-erase-view"
DEFINITION = erase_source.DEFINITION.replace(erase_source.NAME, NAME)
EXPORT = erase_source.EXPORT
QUERY = (
    "SELECT survey_date::VARCHAR, rows_read, rows_kept, rows_quarantined, rows_erased "
    f"FROM processed_dates WHERE source = '{NAME}' ORDER BY survey_date"
)


def test_processed_dates_count_the_rows_erased_so_every_date_adds_up(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = run_configured_source(tmp_path, NAME, DEFINITION, EXPORT)
    source = configured_source(Settings(data_dir=str(data)), NAME)
    before = connect_views(data).execute(QUERY).fetchall()
    # Never erased: 0, not null.
    assert [row[4] for row in before] == [0, 0], before

    # A manifest written before the column existed (no counts.erased) reads 0 too.
    mart, day = source.marts_dir / "feedback_scored", date(2026, 3, 3)
    written = read_manifest(mart, day) or {}
    counts = {k: v for k, v in written["counts"].items() if k != "erased"}
    manifest = {**written, "counts": counts}
    (partition_dir(mart, day) / "_manifest.json").write_text(json.dumps(manifest))  # type: ignore[operator]
    assert connect_views(data).execute(QUERY).fetchall() == before

    capsys.readouterr()
    argv = ["--data-dir", str(data), "erase", "--customer-id", "C2", "--source", NAME]
    assert main([*argv, "--yes"]) == 0
    after = connect_views(data).execute(QUERY).fetchall()
    assert len(after) == 2, after
    for survey_date, read, kept, quarantined, erased in after:
        assert read == kept + quarantined + erased, (survey_date, read, kept, quarantined, erased)
    by_day = {row[0]: row[1:] for row in after}
    assert by_day["2026-03-02"] == (4, 2, 0, 2)  # N2 and N7 erased, N1 and N3 kept
    assert by_day["2026-03-03"] == (1, 1, 0, 0)  # not touched
    assert sum(row[4] for row in after) == 2  # N2, and N7 under its delivery's day


#: A later export re-sending C2's erased row (N2, 2026-03-02) beside a new row of 2026-03-04.
LATER = """ID,At,Agent,Customer,Queue,CSAT
N2,2026-03-02 09:10,A1,C2,billing,1
N8,2026-03-04 09:10,A1,C8,billing,1
"""


def test_a_redelivered_erased_row_is_counted_by_its_day_as_by_the_landed_manifest(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a data-protection officer's trial: a later export re-sent an erased
    customer's old row; landing left it out and counted it (the landed manifest's
    ``erased``: 5 + 1), but the delivery was no input of that day, so ``--rerun changed``
    (and the nightly plan) skipped it and ``processed_dates`` kept saying 5."""
    name = f"{NAME}-later"
    data, _ = run_configured_source(tmp_path, name, DEFINITION.replace(NAME, name), EXPORT)
    source = configured_source(Settings(data_dir=str(data)), name)
    argv = ["--data-dir", str(data), "erase", "--customer-id", "C2", "--source", name]
    assert main([*argv, "--yes"]) == 0
    later = tmp_path / "later.csv"
    later.write_text(LATER)
    # Landed as the nightly run lands its inbox, before it plans the dates that changed.
    landing = land_delivery(source, source_definition(source), str(later))
    day = date(2026, 3, 2)
    assert landing.periods[day] == 0  # N2 left out
    landed_erased = sum((read_manifest(source.landed_dir, day) or {})["erased"].values())
    # N2 and N7 (its time unreadable: under its delivery's day) of the first export; N2 again
    assert landed_erased == 3
    days = [day, date(2026, 3, 3), date(2026, 3, 4)]
    plan = backfill_plan(source, [date_status(source, d) for d in days], "changed")
    assert [p.day for p in plan if p.run] == [day, date(2026, 3, 4)]

    backfill = ["--data-dir", str(data), "backfill", "--source", name, "--rerun", "changed"]
    assert main([*backfill, "--start", str(days[0]), "--end", str(days[-1])]) == 0
    query = QUERY.replace(f"'{NAME}'", f"'{name}'")
    by_day = {row[0]: row[1:] for row in connect_views(data).execute(query).fetchall()}
    # read = kept + quarantined + erased: N1 and N3 kept
    assert by_day["2026-03-02"] == (2 + landed_erased, 2, 0, landed_erased)
    assert by_day["2026-03-04"] == (1, 1, 0, 0)
    plan = backfill_plan(source, [date_status(source, d) for d in days], "changed")
    assert [p.day for p in plan if p.run] == []
