"""The run reports of a backfill over two configured sources never show a source as
unscored because the backfill had not reached it yet (real Prefect, real Parquet read back
by DuckDB, the HTML reports the backfill wrote).

Found by a French insurer's trial (a Qualtrics export and a Lisbon BPO's spreadsheet, both
through the inbox, unscored until their models were trained): the report written as the
first source's dates of ``backfill --rerun all`` finished showed the second source's
"negatives scored 0" beside the champion about to score them; that source's own report, two
minutes later, was right. Each report's Sources table reads every source's marts, and the
backfill wrote each source's report as that source finished."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import register_source
from servicelens.settings import Settings
from tests.bi.test_report_sources import _about, _sources_table
from tests.sources.test_train_and_score import VENDOR_MAPPING, _vendor_export

FIRST, SECOND = "acme-vendor", "bpo-vendor"


def _scored_in_marts(data: str, source: str) -> int:
    """The negatives of ``source`` its feedback_scored mart holds a probability for, read
    back by DuckDB."""
    pattern = f"{data}/sources/{source}/marts/feedback_scored/*/*.parquet"
    count = (
        duckdb.connect()
        .execute(
            f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = true, "
            "union_by_name = true) WHERE is_negative AND p_policy_failure IS NOT NULL"
        )
        .fetchone()
    )
    assert count is not None
    return int(count[0])


@pytest.fixture(scope="module")
def two_source_backfill(
    prefect_api: None, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, list[Path], dict[str, int]]:
    """Two vendor sources landed from their inboxes by one night's ``run`` (no model yet,
    nothing scored), the second one's model trained, then ``backfill --rerun all`` of three
    dates without ``--source`` (every source, the first one first): the data directory, the
    reports the backfill wrote, and each source's negatives scored in its marts."""
    folder = tmp_path_factory.mktemp("two-sources")
    data = str(folder / "data")
    base = Settings(data_dir=data)
    for name, seed in ((FIRST, 1), (SECOND, 3)):
        definition = folder / f"{name}.toml"
        definition.write_text(VENDOR_MAPPING.replace('"acme-vendor"', f'"{name}"'))
        source = register_source(base, str(definition))
        export = folder / f"{name}.csv"
        _vendor_export(240, seed=seed).write_csv(export)
        shutil.copyfile(export, source.inbox_dir / export.name)
    with contextlib.redirect_stdout(io.StringIO()):
        # The night lands both inboxes; no model yet, so nothing is scored.
        assert main(["--data-dir", data, "run", "--date", "2026-01-13"]) == 0
        # The second source's model (the first has none: its report is written first).
        assert main(["--data-dir", data, "train", "--source", SECOND, "--folds", "2"]) == 0
    assert _scored_in_marts(data, SECOND) == 0
    before = set(base.reports_dir.glob("report-*.html"))
    with contextlib.redirect_stdout(io.StringIO()):
        backfill = ["backfill", "--start", "2026-01-01", "--end", "2026-01-03", "--rerun", "all"]
        assert main(["--data-dir", data, *backfill]) == 0
    written = sorted(set(base.reports_dir.glob("report-*.html")) - before)
    return base, written, {name: _scored_in_marts(data, name) for name in (FIRST, SECOND)}


@pytest.mark.slow
def test_every_report_of_a_two_source_backfill_shows_each_source_as_it_ended(
    two_source_backfill: tuple[Settings, list[Path], dict[str, int]],
) -> None:
    _, written, scored = two_source_backfill
    # Three dates of 20 complaints, each one negative, scored by the new champion.
    assert scored == {FIRST: 0, SECOND: 60}
    assert sorted(_about(p) for p in written) == [FIRST, SECOND]
    for report in written:
        table = {row["source"]: row for row in _sources_table(report.read_text())}
        shown = {name: int(table[name]["negatives scored"]) for name in (FIRST, SECOND)}
        assert shown == scored, report.name
        assert {row["being rebuilt"] for row in table.values()} == {"-"}


def _report_json(base: Settings, source: str) -> dict[str, Any]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--data-dir", base.data_dir, "--json", "report", "--source", source]) == 0
    said: dict[str, Any] = json.loads(printed.getvalue())
    return said


@pytest.mark.slow
def test_a_report_written_while_another_run_holds_a_sources_dates_says_it_is_being_rebuilt(
    two_source_backfill: tuple[Settings, list[Path], dict[str, int]],
) -> None:
    """A report written by another run (here ``report``) while a live run holds a date of
    the second source (a real in-flight record and date lock, as a backfill's date run
    keeps them) says so beside that source's counts, in the HTML and the JSON; once the
    run has let go, nothing is said."""
    from servicelens.ingest.configured import configured_source
    from servicelens.storage.claims import hold_date

    base, _, _ = two_source_backfill
    second = configured_source(base, SECOND)
    name = f"backfill-{SECOND}-2026-01-02"
    with hold_date(second, date(2026, 1, 2), "a-live-backfill", name, 0.0):
        said = _report_json(base, FIRST)
    assert said["being_rebuilt"] == {SECOND: [name]}
    table = {row["source"]: row for row in _sources_table(Path(said["report"]).read_text())}
    assert (table[SECOND]["being rebuilt"], table[FIRST]["being rebuilt"]) == (f"by {name}", "-")
    assert _report_json(base, FIRST)["being_rebuilt"] == {}
