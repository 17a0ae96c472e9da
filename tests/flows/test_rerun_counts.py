"""A date run again says when its counts changed from its previous run.

Found by a BI owner's trial (trial 110): `make demo` over a lake it had built before
rewrote 28 dates; 2026-11-08's look-back interactions had been replaced in between, and its
kept count fell from 4,892 to 3,869 in a table that looked like every other demo's.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from servicelens.settings import Settings
from tests.flows.conftest import END_TO_END_END, END_TO_END_START, end_to_end_demo

# The dates of the end-to-end demo, whose run is this module's first (built once a run).
START = END_TO_END_START
END = END_TO_END_END
DAYS = (END - START).days + 1


def _drop_half_the_lines(path_day: date, settings: Settings) -> None:
    """Replace a look-back day's interactions with half of its lines (as an operator's
    `generate` of other dates once did): the surveys about the others find no contact."""
    path = settings.raw_day(path_day) / "interactions.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[::2]), encoding="utf-8")


@pytest.fixture(scope="module")
def reran(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    """The end-to-end demo (:func:`end_to_end_demo`, a copy of this module's own), and the
    same demo run again over it after a look-back day's interactions were cut by half."""
    from flows.pipeline import demo

    settings, _ = end_to_end_demo(tmp_path_factory, "rerun")
    # The demo keeps a look-back day's export that is there (raw exports are never
    # modified): its START reads the trimmed file on the second run.
    _drop_half_the_lines(START - timedelta(days=1), settings)
    return settings, demo(settings, START, END, per_day=1200, seed=3)


def test_the_demo_lists_every_date_and_says_whose_counts_changed(
    reran: tuple[Settings, dict],
) -> None:
    from servicelens.cli.main import _demo_summary

    settings, result = reran
    first = result["ingested"][0]
    before, now = first["previous_counts"], first
    assert now["kept"] < before["kept"]
    lines = _demo_summary(result, settings).splitlines()
    change = (
        f"read {before['surveys_read']:,} -> {now['surveys_read']:,}, "
        if now["surveys_read"] != before["surveys_read"]
        else ""
    ) + f"kept {before['kept']:,} -> {now['kept']:,}"
    said = [line for line in lines if line.startswith("counts changed since the previous run")]
    assert len(said) == 1
    # The trimmed day is a look-back day of START and of the date after it.
    assert said[0].startswith(f"counts changed since the previous run of 2 of the {DAYS} date(s)")
    assert f"{START} ({change}" in said[0]
    assert f"; {START + timedelta(days=1)} (" in said[0]
    # Every date has its row, the changed ones saying what changed, the others "no".
    header = next(i for i, line in enumerate(lines) if line.startswith("date "))
    assert "changed since previous run" in lines[header]
    rows = lines[header + 2 : header + 2 + DAYS]
    days = [str(START + timedelta(days=i)) for i in range(DAYS)]
    assert [row.split()[0] for row in rows] == days
    assert change in rows[0] and "kept " in rows[1]
    assert all(row.rstrip().endswith(" no") for row in rows[2:])


def test_a_rerun_date_says_its_counts_changed_in_the_run_table(
    reran: tuple[Settings, dict],
) -> None:
    from flows.pipeline import nightly
    from servicelens.cli.console import counts_detail
    from servicelens.cli.main import _counts_line

    settings, _ = reran
    day = END
    same = nightly(day, settings, report=False)
    # Nothing changed since the demo's run: no word of a change.
    assert same["previous_counts"]["kept"] == same["kept"]
    assert "changed since its previous run" not in counts_detail(same)
    _drop_half_the_lines(day - timedelta(days=1), settings)
    result = nightly(day, settings, report=False)
    before = result["previous_counts"]
    assert result["kept"] < before["kept"]
    said = f"changed since its previous run: kept {before['kept']:,} -> {result['kept']:,}"
    assert said in counts_detail(result)
    assert said in _counts_line(result, day)
