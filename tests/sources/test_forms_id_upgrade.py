"""Upgrading a Microsoft Forms source across a change of the preset's response id (the
Start time's text, then the start time to the minute): Forms exports are cumulative, so
the first export after the upgrade holds every response landed before. Its copies must
supersede the earlier ones, not count beside them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import land_delivery
from servicelens.settings import Settings
from servicelens.stages import validate_landed_day
from servicelens.storage.partitions import scan_table

QUESTION = "How satisfied were you with the support you received?"
RESPONSES = [
    (851, datetime(2026, 11, 30, 9, 2, 41), datetime(2026, 11, 30, 9, 4, 2), 4, "Good"),
    (852, datetime(2026, 11, 30, 9, 5, 59), datetime(2026, 11, 30, 9, 8, 30), 2, "Fee"),
    (853, datetime(2026, 11, 30, 9, 9, 7), datetime(2026, 11, 30, 9, 11, 0), 5, "Fast"),
    (854, datetime(2026, 12, 1, 14, 0, 12), datetime(2026, 12, 1, 14, 3, 5), 1, "Slow"),
    (855, datetime(2026, 12, 2, 8, 30, 0), datetime(2026, 12, 2, 8, 31, 40), 3, "Fine"),
]
#: The preset's response id before 2026-12-07: the ID and the Start time's text.
OLD_ID = 'response_id = { columns = ["ID", "Start time"] }\n'


def _workbook(path: Path, upto: int) -> Path:
    """A Forms responses workbook holding every response so far (ids 851..``upto``)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet, when = book.add_worksheet("Sheet1"), book.add_format({"num_format": "m/d/yy h:mm:ss"})
    sheet.write_row(0, 0, ["ID", "Start time", "Completion time", "Email", "Name", QUESTION])
    for row, (number, start, end, csat, _) in enumerate(
        [r for r in RESPONSES if r[0] <= upto], start=1
    ):
        sheet.write_number(row, 0, number)
        sheet.write_datetime(row, 1, start, when)
        sheet.write_datetime(row, 2, end, when)
        sheet.write_row(row, 3, ["anonymous", "", csat])
    book.close()
    return path


def _definition(path: Path, rule: str = "") -> Path:
    path.write_text(
        'extends = "microsoft_forms"\nname = "support-forms"\ntimezone = "Europe/London"\n'
        f'[columns]\ncsat = "{QUESTION}"\n{rule}',
        encoding="utf-8",
    )
    return path


def test_a_cumulative_forms_export_after_the_id_change_counts_each_response_once(
    tmp_path: Path,
) -> None:
    """Found by a review of the id change: a source landed under the old id (with the start
    time's seconds) took the next cumulative export's copies as new responses, and counted
    every response twice. The earlier delivery is landed again from its raw copy under the
    new id first, said once, and the new copies supersede its rows."""
    settings = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/London")
    old = load_definition(str(_definition(tmp_path / "old.toml", OLD_ID)))
    new = load_definition(str(_definition(tmp_path / "new.toml")))
    source = settings.for_source(new.name, str(tmp_path / "new.toml"))
    first = _workbook(tmp_path / "Customer Support Survey(1-853).xlsx", 853)
    land_delivery(source, old, first, datetime(2026, 11, 30, 18, tzinfo=UTC))
    landed = scan_table(source.landed_dir).collect().get_column("response_id").sort()
    assert landed.to_list()[0] == "851 2026-11-30 09:02:41"  # landed under the old rule

    second = _workbook(tmp_path / "Customer Support Survey(1-854).xlsx", 854)
    landing = land_delivery(source, new, second, datetime(2026, 12, 1, 18, tzinfo=UTC))
    rekeyed = [n for n in landing.notes() if "landed again first" in n]
    assert len(rekeyed) == 1 and "3 responses" in rekeyed[0], landing.notes()
    assert "'851 2026-11-30 09:02:41' is now '851 2026-11-30 09:02'" in rekeyed[0]
    assert "Customer Support Survey(1-853).xlsx" in rekeyed[0]

    third = _workbook(tmp_path / "Customer Support Survey(1-855).xlsx", 855)
    landing = land_delivery(source, new, third, datetime(2026, 12, 2, 18, tzinfo=UTC))
    assert not [n for n in landing.notes() if "landed again first" in n]  # said once

    as_of = datetime(2026, 12, 3, tzinfo=UTC)
    counted = {}
    first_in = {date(2026, 11, 30): 853, date(2026, 12, 1): 854, date(2026, 12, 2): 855}
    for day in (date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)):
        validated = validate_landed_day(source, day, f"d{day.day}", as_of)
        kept, quarantine = validated.clean(), validated.quarantine()
        # Every row read is kept or quarantined, each earlier copy as superseded.
        assert quarantine.get_column("superseded").all()
        assert (
            kept.height + quarantine.height
            == scan_table(source.landed_dir, [day])
            .collect()
            .filter(pl.col("excluded").is_null())
            .height
        )
        files = kept.get_column("source_file").map_elements(lambda f: Path(f).name.split("-", 1)[1])
        # The first copy of each: the later exports repeated it unchanged, counted in the
        # landed manifest and not stored again.
        assert set(files) == {f"Customer Support Survey(1-{first_in[day]}).xlsx"}
        counted[day] = sorted(kept.get_column("response_id").to_list())
    assert counted == {
        date(2026, 11, 30): [
            "851 2026-11-30 09:02",
            "852 2026-11-30 09:05",
            "853 2026-11-30 09:09",
        ],
        date(2026, 12, 1): ["854 2026-12-01 14:00"],
        date(2026, 12, 2): ["855 2026-12-02 08:30"],
    }
