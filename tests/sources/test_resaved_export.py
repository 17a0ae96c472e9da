"""A source without response ids (Google Forms) delivered again as a spreadsheet re-save:
its times lose their seconds, so its derived ids change. Landing matches the re-saved rows
to the responses landed before (every answer, the time to the delivered minute): a whole
re-save replaces them as a re-delivery does; a delivery mixing such rows with new ones is
landed as it is, and says so; identical answers in other minutes are other responses."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.configured import register_source
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import land_delivery
from servicelens.settings import Settings
from servicelens.storage.partitions import scan_table

FORMS = Path(__file__).resolve().parents[3] / "shared" / "field" / "05-google-forms-crlf-multiline"
SAMPLE = FORMS / "sample.csv"
QUESTION = "Do you believe that a hotdog falls under the category of a sandwich?"
DEFINITION = (
    'extends = "google_forms"\nname = "gforms"\ntimezone = "Europe/London"\n'
    '[read]\ndelimiter = "auto"\nencoding = "auto"\n[columns]\n'
    f'csat = {{ column = "{QUESTION}", values = {{ "yes" = 5, "yesss" = 5, "yeah" = 5, '
    '"y" = 5, "no" = 1, "n" = 1, "nope" = 1, "noooo" = 1 } }\n'
    'comment = "What is the rationale behind your opinion?"\n'
    'submitted_at = { format = ["%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M"] }\n'
)
FIRST = datetime(2025, 2, 1, tzinfo=UTC)
LATER = datetime(2025, 2, 2, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason=f"field sample not at {SAMPLE}")


def _source(tmp_path: Path) -> Settings:
    definition = tmp_path / "gforms.toml"
    definition.write_text(DEFINITION)
    return register_source(Settings(data_dir=str(tmp_path / "data")), str(definition))


def _excel_uk(records: list[list[str]], path: Path, delimiter: str = ";") -> Path:
    """``records`` (the header first) as Excel with UK settings saves them: cp1252,
    ``;``-separated, CRLF, times day first without seconds. (A file of two or three rows
    is written with commas: the stdlib sniffer behind ``delimiter = "auto"`` reads this
    form's header, its questions holding commas and semicolons, as comma-separated.)"""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(records[0])
    for record in records[1:]:
        at = datetime.strptime(record[0], "%m/%d/%Y %H:%M:%S")
        writer.writerow([f"{at:%d/%m/%Y %H:%M}", *record[1:]])
    path.write_bytes(out.getvalue().encode("cp1252"))
    return path


def _records(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _responses(source: Settings) -> int:
    """Distinct responses of the landed layer (what the clean layer keeps, copies aside)."""
    landed = scan_table(source.landed_dir).filter(pl.col("reject").is_null()).collect()
    return landed.get_column("response_id").n_unique()


def _land(source: Settings, file: Path, at: datetime) -> list[str]:
    definition = load_definition(str(source.definition))
    return land_delivery(source, definition, str(file), at).notes()


def test_a_spreadsheet_resave_of_an_export_replaces_its_responses(tmp_path: Path) -> None:
    source = _source(tmp_path)
    _land(source, SAMPLE, FIRST)
    before = _responses(source)
    notes = _land(source, _excel_uk(_records(SAMPLE), tmp_path / "resave.csv"), LATER)
    assert _responses(source) == before == 15
    assert any("re-save ones landed before" in n and "replace the earlier" in n for n in notes)


def test_identical_answers_in_another_minute_are_another_response(tmp_path: Path) -> None:
    """Two people answering "Yes" / "vibes": one at 00:12:40 (the export), one at 00:13
    (a later, re-saved export of two new responses). Both are kept, and nothing is said."""
    source = _source(tmp_path)
    header, *rows = _records(SAMPLE)
    _land(source, SAMPLE, FIRST)
    vibes = next(r for r in rows if r[2] == "vibes")
    assert vibes[0] == "1/16/2025 0:12:40"
    others = [["1/16/2025 0:13:02", *vibes[1:]], ["1/16/2025 0:14:10", "No", "new", *vibes[3:]]]
    notes = _land(source, _excel_uk([header, *others], tmp_path / "later.csv", ","), LATER)
    assert _responses(source) == 15 + 2
    assert not [n for n in notes if "landed before" in n]


def test_a_delivery_mixing_a_same_minute_match_with_new_rows_keeps_both_and_says_so(
    tmp_path: Path,
) -> None:
    """The same answers in the same minute, with a new response beside it: it may be a
    re-saved copy or another person, so it is kept, and the note says how many, which line,
    and what to do."""
    source = _source(tmp_path)
    header, *rows = _records(SAMPLE)
    _land(source, SAMPLE, FIRST)
    vibes = next(r for r in rows if r[2] == "vibes")
    new = ["1/16/2025 0:14:10", "No", "a new answer", *vibes[3:]]
    notes = _land(source, _excel_uk([header, vibes, new], tmp_path / "mixed.csv", ","), LATER)
    assert _responses(source) == 15 + 2
    (said,) = [n for n in notes if "landed before" in n]
    assert said.startswith("1 row (e.g. line 2) has every answer of a response landed before")
    assert "deliver the original export instead" in said
