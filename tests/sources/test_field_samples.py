"""Each field sample (real export shapes, ../shared/field/) through the ingest layer, with its
values asserted: ids, timestamps in UTC, scores, comments with their accents, and every row
either kept or quarantined with its reason (read = kept + quarantined)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.definitions import DefinitionError, load_definition
from servicelens.ingest.readers import CsvDialect, SourceError, read_csv_with_lines
from servicelens.settings import Settings
from servicelens.stages import Ingested, ingest_export

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
DEFINITIONS = Path(__file__).parent / "definitions"
NOW = datetime(2026, 11, 30, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _ingest(definition: str, sample: str, tmp_path: Path) -> Ingested:
    ingested = ingest_export(
        load_definition(definition if "." not in definition else str(DEFINITIONS / definition)),
        FIELD / sample,
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    counts = ingested.counts
    assert counts.surveys_read == counts.kept + counts.quarantined
    assert ingested.clean.height == counts.kept and ingested.quarantine.height == counts.quarantined
    return ingested


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _row(ingested: Ingested, response_id: str) -> dict[str, object]:
    return ingested.clean.filter(pl.col("response_id") == response_id).row(0, named=True)


def _reasons(ingested: Ingested) -> dict[int, list[str]]:
    return dict(ingested.quarantine.select("source_line", "reasons").iter_rows())


def test_01_qualtrics_three_header_rows(tmp_path: Path) -> None:
    got = _ingest("qualtrics-acme.toml", "01-qualtrics-three-header-rows/sample.csv", tmp_path)
    read = got.mapped.read
    # Rows 2 (question text) and 3 ({"ImportId": ...}) are header, not responses.
    assert read.header_lines == 3 and read.header[8] == "ResponseId"
    assert got.counts.surveys_read == 12 and got.counts.kept == 10
    first = _row(got, "R_V4WTFuq1vq3ozrK")
    # RecordedDate 2018-07-19 11:47:55 in Europe/Zurich (CEST, UTC+2).
    assert first["submitted_at"] == _utc("2018-07-19 09:47:55")
    assert first["source_line"] == 4 and first["csat"] == 2 and first["comment"] == "Hallo Welt!"
    # Choice codes through the survey's map: 3 -> 4, 4 -> 5.
    assert _row(got, "R_V9o5YQEz1lgkn9B")["csat"] == 4
    assert _row(got, "R_0wPIXPXBb4R6BsR")["csat"] == 5
    assert _row(got, "R_MWyFQ483xzzlt2T")["comment"] == (
        "Freundlicher Mitarbeiter, aber die Gebühr wurde trotzdem berechnet."
    )
    # The quoted comment with a comma and a line break is one response on lines 11-12, its
    # line break kept.
    assert _row(got, "R_jgUFe0W6hJWxMdm")["comment"] == (
        "Transferred three times,\nnobody could find my order."
    )
    reasons = _reasons(got)
    assert list(reasons) == [7, 16]
    assert reasons[7][0].startswith("Finished: '0': the respondent did not finish")
    assert reasons[16][0].startswith("Status: '1': is not a real response")
    # Personal columns never leave raw/: not in the quarantine's raw record either.
    assert not got.quarantine.get_column("raw_record").str.contains("203.0.113|IPAddress").any()


@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_01_qualtrics_header_rows_are_found_whatever_the_case_of_its_names(
    tmp_path: Path, case: Callable[[str], str]
) -> None:
    """Column names are matched whatever their case (a tool that upper-cases the first
    row, say): the header rows must be found the same way, or rows 2 and 3 (question text,
    ImportId) were read as two more responses."""
    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text(encoding="utf-8")
    first, rest = text.split("\n", 1)
    export = tmp_path / "01-cased" / "sample.csv"
    export.parent.mkdir()
    export.write_text(case(first) + "\n" + rest, encoding="utf-8")
    original = _ingest("qualtrics-acme.toml", "01-qualtrics-three-header-rows/sample.csv", tmp_path)
    cased = ingest_export(
        load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
        export,
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    assert cased.mapped.read.header_lines == 3
    assert cased.counts == original.counts
    columns = ["response_id", "submitted_at", "csat", "source_line"]
    assert cased.clean.select(columns).equals(original.clean.select(columns))


@pytest.mark.parametrize("repeated", [[1], [1, 2], [2, 1]])
def test_01_qualtrics_header_row_repeated_among_the_header_lines_is_header(
    tmp_path: Path, repeated: list[int]
) -> None:
    """Found by a new-user trial: the question-text row twice (lines 1, 2, 2, 3) took the
    second extra header place, so the ImportId row on line 4 was read as a response, its
    Status '{"ImportId":"status"}' quarantined and dated the day the delivery landed."""
    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text(encoding="utf-8")
    lines = text.split("\n")
    head = lines[:3] + [lines[i] for i in repeated]
    export = tmp_path / "repeated.csv"
    export.write_text("\n".join(head + lines[3:]), encoding="utf-8")
    got = ingest_export(
        load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
        export,
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    assert got.mapped.read.header_lines == 3 + len(repeated)
    assert got.counts.surveys_read == 12 and got.counts.kept == 10
    assert list(_reasons(got)) == [7 + len(repeated), 16 + len(repeated)]


def test_01_qualtrics_title_above_the_header_is_skipped_and_said(tmp_path: Path) -> None:
    """Found by a new-user trial: a title line above the header ("Post-call survey export
    2018-07-19") was read as the export's one column, every column the definition reads
    said missing. It is skipped, said so by `sources check`, and every row keeps its line."""
    from servicelens.cli.sources import _preview_text, check_definition

    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text(encoding="utf-8")
    export = tmp_path / "titled.csv"
    export.write_text("Post-call survey export 2018-07-19\n" + text, encoding="utf-8")
    got = ingest_export(
        load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
        export,
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    read = got.mapped.read
    assert read.title == (1, "Post-call survey export 2018-07-19") and read.header_lines == 4
    assert got.counts.surveys_read == 12 and got.counts.kept == 10
    assert _row(got, "R_V4WTFuq1vq3ozrK")["source_line"] == 5
    settings = Settings(data_dir=str(tmp_path), timezone="Europe/London")
    preview = check_definition(str(DEFINITIONS / "qualtrics-acme.toml"), str(export), settings)
    assert preview["title"] == {"line": 1, "text": "Post-call survey export 2018-07-19"}
    assert (
        "line 1 skipped as a title above the header ('Post-call survey export 2018-07-19')"
        in _preview_text(preview)
    )


def _qualtrics_in_denver(tmp_path: Path, *changes: tuple[str, str]) -> Ingested:
    """The Qualtrics sample with America/Denver in its ImportId row (and ``changes``)."""
    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text(encoding="utf-8")
    zoned = text.replace(
        '"{""ImportId"":""recordedDate""}"',
        '"{""ImportId"":""recordedDate"",""timeZone"":""America/Denver""}"',
    )
    for old, new in changes:
        zoned = zoned.replace(old, new)
    export = tmp_path / "zoned.csv"
    export.write_text(zoned, encoding="utf-8")
    return ingest_export(
        load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
        export,
        Settings(data_dir=str(tmp_path)),
        now=NOW,
    )


def test_01_qualtrics_timezone_from_the_importid_row(tmp_path: Path) -> None:
    got = _qualtrics_in_denver(tmp_path)
    assert got.mapped.timezone == "America/Denver"
    # 11:47:55 MDT (UTC-6).
    assert _row(got, "R_V4WTFuq1vq3ozrK")["submitted_at"] == _utc("2018-07-19 17:47:55")


def test_a_daylight_saving_reason_names_the_zone_the_export_header_gave(tmp_path: Path) -> None:
    """Found by a trial: times read in the ImportId row's America/Denver were quarantined as
    "does not exist in Europe/Zurich" (the definition's fallback zone), untrue in Zurich."""
    # Denver springs forward at 2:00.
    got = _qualtrics_in_denver(tmp_path, ("2018-07-19 12:47:03", "2018-03-11 02:30:00"))
    reasons = got.quarantine.filter(pl.col("record_id") == "R_V9o5YQEz1lgkn9B").get_column(
        "reasons"
    )
    assert reasons.to_list() == [
        [
            "submitted_at: '2018-03-11 02:30:00' does not exist in America/Denver: the clocks "
            "went forward over it (daylight saving); it was not shifted. Ask for times with a "
            "UTC offset"
        ]
    ]


def test_03_surveymonkey_response_subheader(tmp_path: Path) -> None:
    got = _ingest(
        "surveymonkey-cycling.toml", "03-surveymonkey-response-subheader/sample.csv", tmp_path
    )
    header = got.mapped.read.header
    # Row 1 forward-filled and joined with row 2; "Response" sub-headers add nothing; NBSP
    # and HTML gone; no empty or repeated name.
    assert header[:4] == [
        "RespondentID",
        "StartDate",
        "EndDate",
        "Typically, how often do you cycle?",
    ]
    great = "List up to three things that make the existing Fredericton trails/bikeway system"
    assert f"{great} great: - 2" in header
    assert all(header) and len(set(header)) == len(header)
    assert got.counts.surveys_read == 16 and got.counts.kept == 16
    first = _row(got, "4920308491")
    # 08-18-2016, month first, midnight in America/Moncton (ADT, UTC-3).
    assert first["survey_date"] == date(2016, 8, 18)
    assert first["submitted_at"] == _utc("2016-08-18 03:00:00")
    assert first["source_line"] == 3
    assert _row(got, "4934991783")["comment"] == "Merci pour le sondage"
    # The postal-code question is never stored.
    assert "e3n7y4" not in got.clean.write_csv().lower()


def test_03_surveymonkey_dates_keep_their_day_east_of_the_business_timezone(
    tmp_path: Path,
) -> None:
    """Found by a trial: SurveyMonkey's EndDate is a date alone; read in Europe/Berlin it is
    midnight there, 23:00 the day before in London, and every row was filed a day early."""
    from servicelens.ingest.landing import land_delivery

    berlin = tmp_path / "cycling-berlin.toml"
    berlin.write_text(
        f'extends = "{DEFINITIONS / "surveymonkey-cycling.toml"}"\n'
        'name = "fredericton-cycling"\ntimezone = "Europe/Berlin"\n'
    )
    got = _ingest(str(berlin), "03-surveymonkey-response-subheader/sample.csv", tmp_path)
    first = _row(got, "4920308491")
    assert first["survey_date"] == date(2016, 8, 18)  # 08-18-2016 as written
    assert first["submitted_at"] == _utc("2016-08-17 22:00:00")  # midnight CEST
    # Every row keeps the day it had with the survey's own timezone (America/Moncton, west).
    moncton = _ingest(
        "surveymonkey-cycling.toml", "03-surveymonkey-response-subheader/sample.csv", tmp_path
    )
    dates = ["response_id", "survey_date"]
    assert (
        got.clean.select(dates)
        .sort("response_id")
        .equals(moncton.clean.select(dates).sort("response_id"))
    )
    # Landing files each row under the same day, so its clean run keeps it.
    settings = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition = load_definition(str(berlin))
    source = settings.for_source(definition.name, str(berlin))
    sample = FIELD / "03-surveymonkey-response-subheader" / "sample.csv"
    landed = land_delivery(source, definition, sample, NOW)
    assert set(landed.periods) == set(got.clean.get_column("survey_date").to_list())


def test_03_surveymonkey_pandas_resaved_variant_reads_without_crashing() -> None:
    dialect = CsvDialect(
        header_rows=2, names="joined", generic_sub_names=("Response",), lower_case_names=False
    )
    read = read_csv_with_lines(
        FIELD / "03-surveymonkey-response-subheader" / "variant-pandas-resaved.csv", dialect=dialect
    )
    # The unnamed pandas index column takes its sub-header cell ("0") as its name.
    assert read.header[0] == "0"
    assert read.header[3].startswith("Which of the following channels") and read.header[3].endswith(
        "Website (https://www.example.org)"
    )
    assert len(set(read.header)) == len(read.header)
    assert read.frame.height == 8 and read.frame.get_column("source_line").to_list()[0] == 3


def test_01_qualtrics_with_one_line_saved_in_cp1252_names_that_line(tmp_path: Path) -> None:
    """Found by a trial: one row appended in cp1252 (a `ü` as the byte 0xFC) to the UTF-8
    Qualtrics export made the whole file read as cp1252, and the refusal named line 2, whose
    UTF-8 `ä` then read as mojibake, and advised a code page and a repair. It names the line
    and byte that are not UTF-8."""
    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_bytes()
    row = text.rstrip(b"\n").rsplit(b"\n", 1)[1].replace(b"Test", b"Gr\xfc\xdfe")
    export = tmp_path / "mixed" / "sample.csv"
    export.parent.mkdir()
    export.write_bytes(text.rstrip(b"\n") + b"\n" + row + b"\n")
    line = text.rstrip(b"\n").count(b"\n") + 2
    with pytest.raises(SourceError) as refused:
        ingest_export(
            load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
            export,
            Settings(data_dir=str(tmp_path), timezone="Europe/London"),
            now=NOW,
        )
    message = str(refused.value)
    assert message.startswith(f"{export}: line {line}, byte ")
    assert ": 0xFC is not UTF-8, though the lines before it are" in message
    assert "Save that line's text as UTF-8" in message


@pytest.mark.parametrize(
    ("ragged", "day"),
    [
        # The comment typed with two commas and no quotes: the fields after RecordedDate.
        (
            lambda line: line.replace('"Waited 40 min on hold, then the line dropped."',
                                      "Waited 40 min, on hold, then dropped"),
            date(2018, 7, 19),
        ),
        # Two fields too many before RecordedDate (an IP address split): it is one of three
        # fields, and the only one that reads as the definition's time.
        (lambda line: line.replace(",192.0.2.21,", ",192,0,2.21,"), date(2018, 7, 19)),
        # No field in reach reads as a time: its delivery's day, as for any undatable row
        # (the day its other rows fall on: the name holds no date).
        (lambda line: line.replace(",2018-07-19 16:12:43,", ",soon,x,y,"), None),
    ],
)  # fmt: skip
def test_01_qualtrics_ragged_line_is_quarantined_under_the_date_it_gives(
    tmp_path: Path, ragged: Callable[[str], str], day: date | None
) -> None:
    """Found by a QA lead's trial: a Qualtrics delivery with one line of 2 fields too many
    landed that line in a partition of the day it was landed ("read 1 kept 0 quarantined
    1"), a survey date that received no surveys, though its RecordedDate was readable. It
    goes with the date its RecordedDate gives; undatable, with its delivery's day (here
    the day its other rows fall on, not the day it was landed)."""
    from servicelens.ingest.landing import land_delivery

    lines = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text().split("\n")
    (at,) = [i for i, line in enumerate(lines) if "R_syEuxZenoJQNmd8" in line]
    lines[at] = ragged(lines[at])
    export = tmp_path / "ragged" / "sample.csv"
    export.parent.mkdir()
    export.write_text("\n".join(lines))
    got = _ingest("qualtrics-acme.toml", str(export), tmp_path)
    (reject,) = got.quarantine.filter(pl.col("source_line") == at + 1).rows(named=True)
    assert reject["reasons"][0].startswith("malformed line: ")
    assert reject["survey_date"] == (day or date(2018, 7, 19))
    # Landed, it lands in that date's partition; the rest of the export in 2018-07-19.
    settings = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition = load_definition(str(DEFINITIONS / "qualtrics-acme.toml"))
    source = settings.for_source(definition.name, str(DEFINITIONS / "qualtrics-acme.toml"))
    landed = land_delivery(source, definition, export, NOW)
    assert sorted(landed.periods) == [date(2018, 7, 19)]
    # An undatable line is said to be where it is, and why.
    assert landed.notes() == (
        []
        if day is not None
        else [
            f"line {at + 1} could not be read as a record (malformed) and gives no "
            "submitted_at that reads: quarantined under its delivery's day, 2018-07-19 (the "
            "day most of its dated rows fall on), not a survey date of its own"
        ]
    )


def _typeform_refusal(definition: Path, tmp_path: Path) -> str:
    """Why the field's re-saved Typeform sample is refused when read by ``definition``."""
    with pytest.raises(SourceError) as error:
        ingest_export(
            load_definition(str(definition)),
            FIELD / "04-typeform-resaved-8bit" / "sample.csv",
            Settings(data_dir=str(tmp_path)),
        )
    return str(error.value)


def test_04_typeform_resaved_8bit_is_refused_as_mojibake(tmp_path: Path) -> None:
    with pytest.raises(
        SourceError, match=r"sample\.csv: line 1: .*double-encoded \(mojibake\).*0x8D on line 13"
    ):
        ingest_export(
            load_definition("typeform"),
            FIELD / "04-typeform-resaved-8bit" / "sample.csv",
            Settings(data_dir=str(tmp_path)),
        )


def test_04_typeform_resaved_8bit_without_its_code_page_is_told_it_not_a_column_to_map(
    tmp_path: Path,
) -> None:
    """Found by a user trial: a definition reading a Typeform question whose title holds the
    8-bit damage ("Tell us more¶about what happened", B6 FF), with no [read], was refused
    only for a column the export lacks ("did you mean 'Tell us moreÂ\\xa0about what
    happened'?"), inviting a mapping of the damaged name, and never told that the file is
    in cp850. The header's repaired reading has the column, so the file is refused for its
    code page: the line, the text read both ways, and the encoding to set."""
    definition = tmp_path / "spring.toml"
    definition.write_text(
        'extends = "typeform"\nname = "spring"\n[columns]\n'
        'submitted_at = { column = "Submit Date (UTC)", format = "%Y-%m-%d %H:%M" }\n'
        'comment = "How do you think the spring fits into the community of Wakefield/La '
        'P\u00eache and surrounding area?"\n',
        encoding="utf-8",
    )
    message = _typeform_refusal(definition, tmp_path)
    assert "did you mean" not in message and "map it in [columns]" not in message, message
    assert (
        "sample.csv: line 1: the text 'he community of Wakefield/La PÇ¦che and surrounding "
        "area?' looks double-encoded (mojibake) after reading the file as latin-1; byte 0x8D "
        "on line 13 is not a cp1252 character. The file looks saved again in an 8-bit code "
        "page (docs/sources.md, decoding): cp850 reads that text as 'he community of "
        "Wakefield/La Pêche and surrounding area?'. The file reads as text in cp850: set "
        '`encoding = "cp850"` in the definition\'s [read] with `repair_mojibake = true`'
    ) in message


def test_04_typeform_resaved_8bit_reading_its_second_other_is_told_its_code_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a UK energy supplier's trial (trial 125): a definition with no [read] that
    keeps the second of the export's two ``Other`` columns (``Other_2``, the reader's name
    for it) was first told ``line 1 (header): ... reads column(s) 'Other_2' that the export
    does not have``, though the header has both; the header was checked in each code page
    with its raw names, not the reader's. ``sources check`` now says the true cause first:
    the file's code page and ``repair_mojibake``."""
    from servicelens.cli.main import main

    definition = tmp_path / "spring.toml"
    definition.write_text(
        'extends = "typeform"\nname = "spring"\n[columns]\n'
        'submitted_at = { column = "Submit Date (UTC)", format = "%Y-%m-%d %H:%M" }\n'
        '[attributes]\nuse_other = "Other"\nvisits_other = "Other_2"\n',
        encoding="utf-8",
    )
    sample = FIELD / "04-typeform-resaved-8bit" / "sample.csv"
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "sources", "check", str(definition), str(sample)]) != 0
    said = capsys.readouterr().err
    assert "does not have" not in said and "Other_2" not in said, said
    assert "looks double-encoded (mojibake)" in said
    assert 'set `encoding = "cp850"`' in said and "`repair_mojibake = true`" in said


def test_04_typeform_resaved_8bit_repaired_when_declared(tmp_path: Path) -> None:
    got = _ingest("typeform-spring.toml", "04-typeform-resaved-8bit/sample.csv", tmp_path)
    assert got.counts.surveys_read == 10 and got.counts.kept == 10
    first = _row(got, "0e154b93a4b4725061bf15062cc1edf8")
    # "2017-02-27 8:16": minutes only, one-digit hour, UTC.
    assert first["submitted_at"] == _utc("2017-02-27 08:16:00")
    # A line break inside the quoted answer (bare LF in a CRLF file) is kept, in one answer.
    assert first["comment"] == "Frozen ground all winter,\nand cars block each other in"
    attributes = _row(got, "4ec81f4a6b1362dbd9a2d7d4f2166967")["attributes"]
    assert "Fraîche, et à deux pas de chez moi" in str(attributes)
    assert "Un lieu clé pour le village" in str(attributes)
    # The duplicate "Other" column got a deterministic name; names and e-mails never stored.
    assert "Other_2" in got.mapped.read.header
    stored = got.clean.write_csv()
    assert "alex.sample@example.com" not in stored and "35ea50e570" not in stored


def test_04_typeform_corrected_utf8_copy_is_read_as_utf8_despite_the_declared_cp850(
    tmp_path: Path,
) -> None:
    """Found by a user trial: a corrected UTF-8 copy of the 8-bit export, read as the cp850
    its definition declares (with repair_mojibake), lost its good responses to quarantine
    ("1 response is in no mart now"), each line told another code page (cp437, cp1252).
    Valid UTF-8 that reads as text is read as UTF-8, every row kept, and the read says
    which encoding was declared and not used."""
    from servicelens.ingest.readers import declared_encoding_not_used, decode_export

    sample = FIELD / "04-typeform-resaved-8bit" / "sample.csv"
    corrected, _ = decode_export(str(sample), sample.read_bytes(), "cp850", True)
    copy = tmp_path / "inbox" / "corrected.csv"
    copy.parent.mkdir()
    copy.write_bytes(corrected)
    got = ingest_export(
        load_definition(str(DEFINITIONS / "typeform-spring.toml")),
        copy,
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    assert got.counts.surveys_read == 10 and got.counts.kept == 10, _reasons(got)
    assert declared_encoding_not_used(got.mapped.read.encoding) == "cp850"
    attributes = _row(got, "4ec81f4a6b1362dbd9a2d7d4f2166967")["attributes"]
    assert "Fraîche, et à deux pas de chez moi" in str(attributes)


@pytest.mark.parametrize("mark", [b"", b"\xef\xbb\xbf"], ids=["no-bom", "bom"])
@pytest.mark.parametrize("read_in", ["latin-1", "cp850"])
def test_04_typeform_utf8_copy_of_its_mojibake_is_read_as_utf8_despite_the_declared_cp850(
    tmp_path: Path, read_in: str, mark: bytes
) -> None:
    """Found by a user trial: the 8-bit export, read as latin-1 and saved again as UTF-8
    (valid UTF-8, its text double-encoded: "FraÇ©che"), was read as the cp850 its
    definition declares, which made "Fra├ç┬®che" of it. A file that is UTF-8 beyond ASCII
    is read as UTF-8 unless only the declared code page reads it as text, the read says
    which encoding was declared, and the mojibake is the UTF-8 text's: repaired where ftfy
    repairs it (read as cp850 before saving), else quarantined as read, the reason saying
    the file was read as UTF-8 (the trial's told to save the file again as UTF-8)."""
    from servicelens.ingest.readers import declared_encoding_not_used, decode_export
    from servicelens.validation.expectations import DOUBLE_ENCODED_READ_AS_UTF8

    raw = (FIELD / "04-typeform-resaved-8bit" / "sample.csv").read_bytes()
    assert not raw.isascii() and b"\xc7\xa9" in raw  # "î" double-encoded, then cp850
    copy = tmp_path / "inbox" / "typeform-utf8-mojibake.csv"
    copy.parent.mkdir()
    copy.write_bytes(mark + raw.decode(read_in).encode("utf-8"))
    text, found = decode_export(str(copy), copy.read_bytes(), "cp850", True)
    assert declared_encoding_not_used(found) == "cp850", found
    assert "├" not in text.decode("utf-8")
    got = ingest_export(
        load_definition(str(DEFINITIONS / "typeform-spring.toml")),
        copy,
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    counts = got.counts
    assert counts.surveys_read == 10 and counts.kept + counts.quarantined == 10
    if read_in == "cp850":  # "FraÃ®che" in UTF-8: ftfy repairs it
        assert counts.kept == 10, _reasons(got)
        attributes = _row(got, "4ec81f4a6b1362dbd9a2d7d4f2166967")["attributes"]
        assert "Fraîche, et à deux pas de chez moi" in str(attributes)
    else:  # "FraÇ©che": no repair of it is text, so it is quarantined as read
        assert counts.kept == 9 and list(_reasons(got)) == [10]
        [reason] = _reasons(got)[10]
        assert reason.startswith('attributes: \'{"positives":"FraÇ©che, et Çÿ deux pas')
        # Said to be read as UTF-8 and double-encoded; not told to save it as UTF-8.
        assert reason.endswith(f"' {DOUBLE_ENCODED_READ_AS_UTF8}"), reason
        assert "read as UTF-8; its text is double-encoded" in reason
        assert "save the file again" not in reason and "save it again" not in reason


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_missing_column_refusal_says_what_to_do_before_a_shortened_header(
    tmp_path: Path, delimiter: str
) -> None:
    """Found by a user trial: the missing-column and semicolon-file refusals quoted a
    Typeform header whole (1,500 characters of question text, which can hold respondents'
    hidden-field values) before the one sentence that said what to do. The advice comes
    first; the header after it, cut beyond 200 characters with a count of the rest, the
    column suggested first."""
    sample = (FIELD / "04-typeform-resaved-8bit" / "sample.csv").read_bytes()
    renamed = sample.replace(b"Submit Date (UTC)", b"Submit Date")
    export = tmp_path / "export.csv"
    # Semicolons for commas: a semicolon-separated export read as commas.
    export.write_bytes(renamed.replace(b",", delimiter.encode()))
    definition = load_definition(str(DEFINITIONS / "typeform-spring.toml"))  # delimiter ","
    with pytest.raises(DefinitionError) as error:
        ingest_export(definition, export, Settings(data_dir=str(tmp_path)))
    message = str(error.value)
    advice, _, shown = message.partition(". The export's header has ")
    assert "reads column(s) " in advice and "'Submit Date (UTC)'" in advice
    assert advice.endswith("[attributes] or [[exclude]] of the definition"), message
    assert "question" not in advice.lower() and len(shown) < 300, shown
    if delimiter == ",":
        # 'Submit Date' and the columns the definition does not read, in file order.
        assert shown.startswith("29 columns: 'When do you use"), shown
        assert "'Submit Date' ... and" in shown, shown
        assert shown.endswith(" and 24 more"), shown
    else:
        assert "looks semicolon-separated, and was read as comma-separated" in advice
        assert shown.startswith("1 column: '#;When do you use") and "…" in shown


def test_04_typeform_repair_without_its_code_page_is_refused(tmp_path: Path) -> None:
    """``repair_mojibake`` without ``encoding`` on a file that is neither UTF-8 nor cp1252:
    repairing latin-1's reading gave other wrong letters ("FraÇ©che") and called them
    repaired; now the code page is asked for, naming the byte no cp1252 file has."""
    definition = tmp_path / "spring-auto.toml"
    definition.write_text('extends = "typeform"\nname = "spring"\n[read]\nrepair_mojibake = true\n')
    with pytest.raises(
        SourceError, match=r"line 13, column \d+: byte 0x8D is not a cp1252 character"
    ) as e:
        ingest_export(
            load_definition(str(definition)),
            FIELD / "04-typeform-resaved-8bit" / "sample.csv",
            Settings(data_dir=str(tmp_path)),
        )
    assert 'set `encoding = "cp850"` in the definition\'s [read]' in str(e.value)


def test_04_typeform_repair_in_the_wrong_code_page_keeps_no_other_letters(
    tmp_path: Path,
) -> None:
    """Found by a user trial: the cp850 file declared latin-1 with repair_mojibake kept
    "Un lieu clǸ pour le village" (ftfy read latin-1's "clÇ¸" as UTF-8) with no reason,
    while "FraÇ©che" in the same row was quarantined. A repair is kept only when verified:
    else the value stays as read, and its reason names the column, the value and the code
    page that reads the file (cp850)."""
    definition = tmp_path / "spring-latin1.toml"
    definition.write_text(
        (DEFINITIONS / "typeform-spring.toml")
        .read_text(encoding="utf-8")
        .replace('encoding = "cp850"', 'encoding = "latin-1"')
        .replace(
            'comment = "In your use of the spring, what are the negative aspects that you '
            'would change if you could?"',
            'comment = "As a community member, what does the spring mean to you as a water '
            'source?"',
        ),
        encoding="utf-8",
    )
    got = ingest_export(
        load_definition(str(definition)),
        FIELD / "04-typeform-resaved-8bit" / "sample.csv",
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    assert got.counts.surveys_read == got.counts.kept + got.counts.quarantined
    assert not got.clean.write_csv().count("Ǹ")
    reasons = " ".join(_reasons(got)[10])
    assert "comment: 'Un lieu clÇ¸ pour le village' looks double-encoded" in reasons
    assert "attributes: " in reasons
    assert "Ǹ" not in reasons and reasons.count("Set encoding = cp850 in the [read] table") == 2


@pytest.mark.parametrize("encoding", ["cp1252", "auto"])
def test_04_typeform_wrong_code_page_is_told_the_one_that_reads_it(
    tmp_path: Path, encoding: str
) -> None:
    """Found by a user trial: declared cp1252, the file was refused with Python's "'charmap'
    codec can't decode byte 0x8d in position 4570" and "or use auto"; with auto, shown line
    13 in cp850 as garbage and told "latin-1" keeps such bytes. The byte is named by its
    line and column, and the advice names the code page the file reads right in: cp850."""
    definition = tmp_path / "spring.toml"
    definition.write_text(
        (DEFINITIONS / "typeform-spring.toml")
        .read_text(encoding="utf-8")
        .replace('encoding = "cp850"', f'encoding = "{encoding}"'),
        encoding="utf-8",
    )
    message = _typeform_refusal(definition, tmp_path)
    assert re.search(r"sample\.csv: line 13, column \d+: byte 0x8D", message), message
    assert 'set `encoding = "cp850"` in the definition\'s [read]' in message
    assert "position" not in message and "byte offset" not in message
    assert "latin-1" not in message.split(" set ")[-1]


def test_a_file_in_an_undetectable_code_page_is_refused_showing_its_readings(
    tmp_path: Path,
) -> None:
    """Found by a trial: a cp850 (DOS) export was read as latin-1, and "Geb\x81hr" (a C1
    control character for the ü) reached the clean layer and the marts without a word.
    A byte cp1252 leaves undefined is never latin-1 text: the file is refused, naming the
    byte and its line and showing that line in the likely code pages; declared, it reads."""
    from servicelens.ingest.readers import decode_export

    data = "id,comment\n1,Gebühr wurde doppelt abgebucht\n".encode("cp850")
    for repair in (False, True):
        with pytest.raises(SourceError) as error:
            decode_export("x.csv", data, "auto", repair)
        assert str(error.value).startswith(
            "x.csv: line 2, column 6: byte 0x81 is not a cp1252 character and the file is not "
            "UTF-8; read as latin-1 it would be a control character in the text, so the file "
            "was saved in another code page. The field that holds it reads as cp850: "
            "'Gebühr wurde doppelt abgebucht'; as cp437: 'Gebühr wurde doppelt abgebucht'; as "
            "mac_roman: 'GebÅhr wurde doppelt abgebucht'. The file reads as text in cp850: set "
            '`encoding = "cp850"` in the definition\'s [read]'
        )
    assert decode_export("x.csv", data, "cp850") == (
        "id,comment\n1,Gebühr wurde doppelt abgebucht\n".encode(),
        "cp850",
    )
    # Declared latin-1 keeps the bytes as they are, as asked.
    assert decode_export("x.csv", data, "latin-1")[1] == "latin-1"


def test_a_mac_roman_export_is_refused_not_read_as_cp1252(tmp_path: Path) -> None:
    """Found by an analyst's trial: the European export saved on a classic Mac decodes as
    cp1252 without a byte to object to (Mac Roman's ä ö ü ß are cp1252's Š š Ÿ §), and
    "wŠren schšn, Grš§e" reached the marts. It is refused, showing a line both ways;
    declared, it reads; and cp1252 text with quotes, apostrophes, dashes and Slavic names
    is not taken for Mac Roman."""
    from servicelens.ingest.readers import decode_export

    sample = FIELD / "12-european-semicolon-decimal-comma" / "sample.csv"
    text = sample.read_bytes().decode("cp1252")
    mac = tmp_path / "mac" / "sample.csv"
    mac.parent.mkdir()
    mac.write_bytes(text.encode("mac_roman"))
    with pytest.raises(SourceError) as error:
        _ingest("european-feedback.toml", str(mac), tmp_path)
    said = str(error.value)
    assert said.startswith(f"{mac}: line 1, column ")
    assert "GebŸhr (EUR)" in said and "Gebühr (EUR)" in said and "as mac_roman (" in said
    assert 'Set `encoding = "mac_roman"`' in said
    assert decode_export(str(mac), mac.read_bytes(), "mac_roman")[0] == text.encode()
    western = (
        "id,comment\n1,Kunde sagt: „das ist teuer“ – 15,00 €, don’t\n"
        "2,naïve façade déjà vu – «citation» l’équipe, Très bien\n"
        "3,Dušan und Šárka Nováková, Miloš Žižek\n"
    ).encode("cp1252")
    assert decode_export("w.csv", western)[1] == "cp1252"


def test_05_google_forms_crlf_multiline(tmp_path: Path) -> None:
    got = _ingest("google-forms-hotdog.toml", "05-google-forms-crlf-multiline/sample.csv", tmp_path)
    assert got.counts.surveys_read == 16 and got.counts.kept == 15
    ids = got.clean.get_column("response_id")
    assert ids.str.starts_with("row-").all() and ids.is_unique().all()
    first = got.clean.row(0, named=True)
    # 1/15/2025 21:53:05, month first, in America/New_York (EST, UTC-5).
    assert first["submitted_at"] == _utc("2025-01-16 02:53:05")
    assert first["comment"] == "You can see right into it, nothing’s sealed"
    # Multi-line answers keep their line breaks (found by an operator's trial: "no strong
    # feelings\nbread around things tho" reached BI on one line); spaces beside a break and
    # a trailing break go.
    comments = got.clean.get_column("comment").drop_nulls()
    assert "no strong feelings\nbread around things tho" in comments.to_list()
    assert comments.str.contains("\n").sum() >= 2
    assert not comments.str.contains(r" \n|\n |\r|^\s|\s$").any()
    # The exact duplicate (same timestamp, same answers) is flagged, not kept twice.
    ((line, reasons),) = _reasons(got).items()
    assert line == 10 and reasons == [
        "exact duplicate: the same answers as line 11, so the same derived id"
    ]
    # The run's table does not call it a copy a later delivery replaced (a trial's did):
    # superseded by a later line, an exact duplicate as its reason says (trial 82).
    from dataclasses import asdict

    from servicelens.cli.console import counts_detail

    assert (
        "(1 of them superseded by a later line or delivery: 1 exact duplicate)"
    ) in counts_detail(asdict(got.counts))
    # The same row always derives the same id (a re-delivery supersedes, not duplicates).
    again = _ingest(
        "google-forms-hotdog.toml", "05-google-forms-crlf-multiline/sample.csv", tmp_path
    )
    assert again.clean.get_column("response_id").to_list() == ids.to_list()


def test_google_forms_ids_survive_a_re_download_of_another_shape(tmp_path: Path) -> None:
    """Found by a trial: a re-download of the same Google Form after its owner added a
    question (a column empty for every earlier response), with columns in another order,
    or with a delimiter after each line's last field gave every response a new derived
    id, and each counted twice. The same answers now derive the same id from any of
    those shapes."""
    import csv

    sample = "05-google-forms-crlf-multiline/sample.csv"
    original = _ingest("google-forms-hotdog.toml", sample, tmp_path / "original")
    ids = dict(original.clean.select("source_line", "response_id").iter_rows())
    with (FIELD / sample).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    reshaped = {
        "new-question": [
            r + (["Any other comments?"] if i == 0 else [""]) for i, r in enumerate(rows)
        ],
        "reordered": [[r[0], *reversed(r[1:])] for r in rows],
        "trailing-delimiter": [[*r, ""] for r in rows],
    }
    for name, shape in reshaped.items():
        export = tmp_path / f"{name}.csv"
        with export.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out, lineterminator="\r\n").writerows(shape)
        again = _ingest("google-forms-hotdog.toml", str(export), tmp_path / name)
        assert dict(again.clean.select("source_line", "response_id").iter_rows()) == ids, name
    # Other answers, another id.
    changed = [rows[0], [rows[1][0], "Yes", *rows[1][2:]]]
    export = tmp_path / "changed.csv"
    with export.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out, lineterminator="\r\n").writerows(changed)
    [other] = (
        _ingest("google-forms-hotdog.toml", str(export), tmp_path / "changed")
        .clean["response_id"]
        .to_list()
    )
    assert other not in ids.values()


@pytest.mark.parametrize(
    ("definition", "sample"),
    [
        ("google-forms-hotdog.toml", "05-google-forms-crlf-multiline/sample.csv"),
        # Its comments hold NUL bytes: on one CR-only "line", they read as a binary file.
        ("surveymonkey-cycling.toml", "03-surveymonkey-response-subheader/sample.csv"),
    ],
)
def test_an_export_saved_with_classic_mac_line_ends_reads_the_same(
    tmp_path: Path, definition: str, sample: str
) -> None:
    """The same export saved as a "Macintosh" CSV (each line ends in CR alone, as Excel for
    Mac and old Mac tools write it) gives the same rows, ids and lines. The csv module read
    its header as one line holding a bare CR and raised, which the user met as a bug."""
    mac = tmp_path / "mac" / "sample.csv"
    mac.parent.mkdir()
    mac.write_bytes((FIELD / sample).read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r"))
    assert b"\n" not in mac.read_bytes()
    settings = Settings(data_dir=str(tmp_path), timezone="Europe/London")
    original = _ingest(definition, sample, tmp_path)
    saved_on_a_mac = ingest_export(
        load_definition(str(DEFINITIONS / definition)), mac, settings, now=NOW
    )
    assert saved_on_a_mac.counts == original.counts
    for frame in ("clean", "quarantine"):
        columns = (
            ["response_id", "source_line", "comment"]
            if frame == "clean"
            else ["source_line", "reasons"]
        )
        assert (
            getattr(saved_on_a_mac, frame)
            .select(columns)
            .equals(getattr(original, frame).select(columns))
        )


def test_a_bare_carriage_return_the_csv_module_refuses_is_an_error_naming_the_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(b"response_id,com\rment,csat\nR1,x,3\n")
    with pytest.raises(SourceError, match=r"s\.csv: line 1: 'response_id,com\\rment,csat': .*CR"):
        read_csv_with_lines(path)


def test_08_cfpb_official_download(tmp_path: Path) -> None:
    got = _ingest("cfpb", "08-cfpb-official-download/sample.csv", tmp_path)
    # Title Case headers ("Date received", "Timely response?") map without renaming.
    assert got.counts.surveys_read == 15 and got.counts.kept == 14
    ((line, reasons),) = _reasons(got).items()
    assert line == 18 and "the delivery looks truncated" in reasons[0]
    assert got.clean.get_column("is_negative").all()  # every complaint is a complaint
    first = _row(got, "7264292")
    assert first["survey_date"] == date(2023, 8, 25)
    assert first["label"] == "perceived" and first["sla_met"] is True
    labels = got.clean.get_column("label")
    # The 8 "In progress" complaints have no label yet; "N/A" is a missing value.
    assert labels.null_count() == 8 and set(labels.drop_nulls()) == {"perceived", "policy_failure"}
    assert "N/A" not in got.clean.get_column("attributes").str.join("").item()


REAL_CFPB = ROOT.parent / "shared" / "real" / "cfpb" / "complaints.csv"


def _cfpb_cut_inside_a_narrative(tmp_path: Path) -> tuple[Path, int, int]:
    """The field sample's header and 14 complete complaints, then one more whose narrative
    is a real one over several lines (the first of shared/real/cfpb with 3 line ends or
    more), the file cut in the middle of that narrative's third line, as a download
    interrupted there ends: no closing quote, no final newline. Returns the file, the line
    the cut record starts on and the file's last line."""
    import csv
    import io

    with (FIELD / "08-cfpb-official-download/sample.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))[:-1]  # the sample's own cut record left out
    with REAL_CFPB.open(newline="") as handle:
        narrative = next(
            r["consumer_complaint_narrative"]
            for r in csv.DictReader(handle)
            if r["consumer_complaint_narrative"].count("\n") >= 3
        )
    header = rows[0]
    cut_record = list(rows[1])
    cut_record[header.index("Consumer complaint narrative")] = narrative
    cut_record[header.index("Complaint ID")] = "16349248"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([*rows, cut_record])
    text = out.getvalue()
    start = text[: text.rstrip("\n").rindex(f"\n{cut_record[0]},")].count("\n") + 2
    third = text.index(narrative.split("\n")[2], text.index(narrative[:40]))
    cut = text[: third + len(narrative.split("\n")[2]) // 2]
    export = tmp_path / "complaints-2025-10.csv"
    export.write_text(cut, encoding="utf-8", newline="")
    return export, start, cut.count("\n") + 1


@pytest.mark.skipif(not REAL_CFPB.exists(), reason=f"real CFPB complaints not at {REAL_CFPB}")
def test_a_cfpb_download_cut_inside_a_multi_line_narrative_is_one_truncated_record(
    tmp_path: Path,
) -> None:
    """Found by a complaints analyst's trial: a monthly download cut inside complaint
    16349248's narrative (lines 78-82, no closing quote, no final newline) read as a stray
    quote on line 78 and four more rejects of 1 or 2 fields (lines 79-82, "could not be
    read as records"), read 328 where 324 records were delivered, and nothing said the file
    was truncated. The cut record is one reject over its lines, saying so, and the run's
    notes say the delivery looks truncated."""
    from servicelens.ingest.landing import land_delivery

    export, start, end = _cfpb_cut_inside_a_narrative(tmp_path)
    assert end - start >= 2  # the cut record spans three lines or more
    got = ingest_export(
        load_definition("cfpb"), export, Settings(data_dir=str(tmp_path), timezone="Europe/London")
    )
    assert got.counts.surveys_read == 15 and got.counts.kept == 14
    assert got.counts.quarantined == 1
    assert _reasons(got) == {
        start: [
            f"malformed line: 6 fields where the header has 18 (lines {start}-{end} are one "
            "record, and the file ends inside its quoted value with no final newline: the "
            "delivery looks truncated; ask for the complete file)"
        ]
    }
    (reject,) = got.mapped.read.rejects
    assert reject.truncated and reject.text.count("\n") == end - start

    definition = load_definition("cfpb")
    source = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London").for_source(
        definition.name, "cfpb", partition="month"
    )
    landing = land_delivery(source, definition, export, datetime(2026, 12, 6, 9, tzinfo=UTC))
    notes = landing.notes()
    assert len(notes) == 1 and notes[0].startswith(
        f"looks truncated: the file ends inside the record on line {start}, cut off there"
    )
    assert "could not be read as" not in notes[0]


def test_08_cfpb_in_progress_is_said_unlabelled_on_purpose_not_to_be_mapped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a complaints analyst's trial: `sources check` of the CFPB sample said
    "'In progress' 8. Map those that are verdicts", nudging the user to map an outcome the
    cfpb preset leaves unlabelled on purpose. Words a definition's [label] not_verdicts
    names are said to stay unlabelled on purpose; any other unmapped word is still told to
    be mapped if it is a verdict."""
    from servicelens.cli.main import main

    sample = FIELD / "08-cfpb-official-download/sample.csv"
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "sources", "check", "cfpb", str(sample)]) == 0
    out = capsys.readouterr().out
    assert (
        "label words the definition's [label] not_verdicts says are no verdict, so their rows "
        "are kept unlabelled on purpose (not trained on): 'In progress' 8\n" in out
    )
    assert "Map those that are verdicts" not in out and "does not map" not in out

    # A definition extending the preset that leaves In progress out of not_verdicts, and an
    # outcome spelt another way: both are named as words to map if they are verdicts.
    text = sample.read_text(encoding="utf-8")
    respelt = tmp_path / "complaints.csv"
    respelt.write_text(
        text.replace("Closed with explanation", "Closed w/ explanation", 1), encoding="utf-8"
    )
    definition = tmp_path / "cfpb-all.toml"
    definition.write_text(
        'extends = "cfpb"\nname = "cfpb-all"\n[label]\nnot_verdicts = []\n', encoding="utf-8"
    )
    got = _ingest(str(definition), str(respelt), tmp_path)
    assert got.mapped.unmapped_labels == {"In progress": 8, "Closed w/ explanation": 1}
    assert got.mapped.not_verdict_labels == {}
    preset = _ingest("cfpb", str(respelt), tmp_path)
    assert preset.mapped.unmapped_labels == {"Closed w/ explanation": 1}
    assert preset.mapped.not_verdict_labels == {"In progress": 8}

    # A word cannot be both a verdict and none.
    definition.write_text(
        'extends = "cfpb"\nname = "cfpb-all"\n[label]\n'
        'not_verdicts = ["closed WITH explanation"]\n',
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError, match=r"not_verdicts names \['closed with explanation'\]"):
        load_definition(str(definition))


def test_ids_a_spreadsheet_turned_into_numbers_are_read_or_refused(tmp_path: Path) -> None:
    """Found by a trial: the CFPB download's Complaint ID saved as 7264292.0 (through a
    float) was kept as another id than 7264292, so a re-delivery would count it twice; saved
    as 7.26E+6 (digits lost) the ids were quarantined as used by more than one response,
    without why, and the one whose rounding was unique was kept as 7.29E+6."""
    import csv

    with (FIELD / "08-cfpb-official-download/sample.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index("Complaint ID")
    rows[1][at] = f"{rows[1][at]}.0"
    original = {r[at] for r in rows[2:4]}
    rows[2][at], rows[3][at] = "7.26E+6", "7.26E+06"
    export = tmp_path / "complaints.csv"
    with export.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    got = _ingest("cfpb", str(export), tmp_path)
    assert _row(got, "7264292")["survey_date"] == date(2023, 8, 25)
    reasons = _reasons(got)
    scientific = [line for line, why in reasons.items() if "scientific notation" in why[-1]]
    assert sorted(scientific) == [3, 4] and not original & set(got.clean["response_id"])
    assert reasons[3][-1] == (
        "response_id: '7.26E+6' is a number a spreadsheet wrote in scientific notation: its "
        "digits are lost. Export the ids again as text (format that column as Text before "
        "saving, or import the CSV with it as Text: a CSV opened in the spreadsheet has its "
        "long numbers turned into this)"
    )


def test_a_yes_or_no_that_is_neither_is_quarantined_quoting_it(tmp_path: Path) -> None:
    """Found by an operator's trial: a complaint whose "Timely response?" said "Maybe" was
    kept with sla_met null and no word, where a number that is no number is quarantined."""
    import csv

    from servicelens.validation.expectations import FLAG_PROBLEM

    with (FIELD / "08-cfpb-official-download/sample.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index("Timely response?")
    rows[1][at], rows[2][at], rows[3][at] = "Maybe", "", " NO "
    export = tmp_path / "complaints.csv"
    with export.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    got = _ingest("cfpb", str(export), tmp_path)
    assert _reasons(got)[2] == [f"sla_met: 'Maybe' {FLAG_PROBLEM}"]
    assert got.counts.kept == 13 and got.counts.failed_expectations == {"sla_met": 1}
    # An empty answer is a fact not given; any case and spacing of a yes or no reads.
    assert _row(got, rows[2][-1])["sla_met"] is None
    assert _row(got, rows[3][-1])["sla_met"] is False


def test_10_call_centre_dayfirst_excel(tmp_path: Path) -> None:
    got = _ingest("call-centre.toml", "10-call-centre-dayfirst-excel/sample.csv", tmp_path)
    assert got.counts.surveys_read == 24 and got.counts.kept == 24
    # 01/02/2021 is 1 February (day first, declared); 13/01 and 31/03 read too.
    assert _row(got, "ID0010")["submitted_at"] == _utc("2021-02-01 17:09:18")
    assert _row(got, "ID0007")["survey_date"] == date(2021, 1, 13)
    assert _row(got, "ID0022")["survey_date"] == date(2021, 3, 31)
    answered = _row(got, "ID0001")
    assert answered["handle_seconds"] == 303.0 and answered["wait_seconds"] == 12.0  # 0:05:03
    assert answered["csat"] == 5 and answered["channel"] == "phone"
    assert answered["resolution"] == "resolved" and answered["resolved_first_contact"] is True
    # Y/N read as yes and no: the log's own first-contact resolution (no customer id).
    assert got.clean.get_column("resolved_first_contact").value_counts().sort(
        "resolved_first_contact"
    ).rows() == [(False, 6), (True, 18)]
    # Satisfaction 0 on an unanswered call means not answered: missing, not a score.
    unanswered = _row(got, "ID0002")
    assert unanswered["csat"] is None and unanswered["handle_seconds"] is None
    assert unanswered["is_negative"] is None
    # Agent names are pseudonymised, the same agent keeping one pseudonym.
    agents = got.clean.get_column("agent_id")
    assert agents.str.starts_with("agent-").all() and agents.n_unique() == 7
    assert "Eli" not in got.clean.write_csv()


def test_10_call_centre_read_without_a_format_is_told_it_reads_day_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a user's trial: the call log's definition without a format for Date and Time
    (so ISO 8601) quarantined all 24 rows as "'13/01/2021 13:43:49' is missing or not a
    timestamp", which it is not missing, with no word of the format it reads as; a declared
    format that misses is told which one reads the times, and so is no format."""
    from servicelens.cli.main import main

    declared = (DEFINITIONS / "call-centre.toml").read_text()
    undeclared = tmp_path / "call-centre.toml"
    undeclared.write_text(declared.replace(', format = "%d/%m/%Y %H:%M:%S"', ""))
    assert 'submitted_at = { columns = ["Date", "Time"] }' in undeclared.read_text()
    export = FIELD / "10-call-centre-dayfirst-excel" / "sample.csv"
    assert (
        main(
            ["--data-dir", str(tmp_path / "data"), "sources", "check", str(undeclared), str(export)]
        )
        == 4  # every row would be quarantined: `run` would exit 4 on it too
    )
    out = capsys.readouterr().out
    assert "read 24: kept 0, quarantined 24" in out and "missing" not in out
    undeclared_iso = (
        "is not a timestamp as ISO 8601 reads it (the definition declares no format for "
        "submitted_at); it reads as %d/%m/%Y %H:%M:%S (day first){}: add the format the export "
        "writes to submitted_at in the definition (format takes a list)"
    )
    # 13/01/2021 reads day first only; 01/02/2021 either way round, both named.
    assert (
        "line 8 (ID0007): submitted_at: '13/01/2021 13:43:49' " + undeclared_iso.format("")
    ) in out
    assert (
        "line 11 (ID0010): submitted_at: '01/02/2021 17:09:18' "
        + undeclared_iso.format(" or %m/%d/%Y %H:%M:%S (month first)")
    ) in out


def test_12_european_semicolon_decimal_comma(tmp_path: Path) -> None:
    got = _ingest(
        "european-feedback.toml", "12-european-semicolon-decimal-comma/sample.csv", tmp_path
    )
    read = got.mapped.read
    assert read.delimiter == ";" and read.encoding == "cp1252"
    assert got.counts.surveys_read == 8 and got.counts.kept == 7
    second = _row(got, "A-10002")
    assert second["fees_charged"] == 1299.99 and second["handle_seconds"] == 62.25 * 60
    assert second["csat"] == 1 and second["nps"] == 0 and second["channel"] == "email"
    assert second["comment"] == "Gebühr wurde doppelt abgebucht; niemand ruft zurück"
    # 01.03.2026 08:14 in Europe/Berlin (CET, UTC+1).
    assert _row(got, "A-10001")["submitted_at"] == _utc("2026-03-01 07:14:00")
    # k.A., N/A and - are missing values, not reasons to reject the response.
    assert _row(got, "A-10003")["csat"] is None
    assert _row(got, "A-10006")["nps"] is None and _row(got, "A-10006")["channel"] == "phone"
    assert (
        _row(got, "A-10008")["csat"] is None and _row(got, "A-10008")["handle_seconds"] == 61200.0
    )
    # The export states no language: each comment's is detected, as for the sample (a new
    # user's trial found it null for every source that states none).
    languages = dict(got.clean.select("response_id", "language").iter_rows())
    assert languages["A-10002"] == languages["A-10006"] == "de"
    assert languages["A-10003"] is None  # no comment, nothing to detect
    # 29.03.2026 02:30 does not exist in Berlin: its own reason, not shifted, not "unparseable".
    assert _reasons(got) == {
        9: [
            "submitted_at: '29.03.2026 02:30' does not exist in Europe/Berlin: the clocks went "
            "forward over it (daylight saving); it was not shifted. Ask for times with a UTC "
            "offset"
        ]
    }


def _european_with(tmp_path: Path, old: str, new: str) -> Ingested:
    """The European field export (cp1252) with its one ``old`` text written as ``new``,
    ingested with its definition."""
    sample = FIELD / "12-european-semicolon-decimal-comma" / "sample.csv"
    text = sample.read_bytes().decode("cp1252")
    assert text.count(old) == 1
    edited = tmp_path / "12-edited" / "sample.csv"
    edited.parent.mkdir()
    edited.write_bytes(text.replace(old, new).encode("cp1252"))
    return _ingest("european-feedback.toml", str(edited), tmp_path)


def test_a_day_its_month_does_not_have_is_named_so(tmp_path: Path) -> None:
    """Found by an analyst's trial: 29.02.2026 11:00 was "missing or not a timestamp",
    which sent them looking for a format problem; the format is right, the day is not."""
    got = _european_with(tmp_path, "01.03.2026 08:14", "29.02.2026 08:14")
    (reasons,) = [r for r in _reasons(got).values() if "29.02.2026" in r[0]]
    assert reasons == [
        "submitted_at: '29.02.2026 08:14' is a day the calendar does not have (its month has "
        "fewer days): check the day, or whether day and month are the right way round"
    ]


def test_an_amount_written_with_its_currency_says_so(tmp_path: Path) -> None:
    """Found by an analyst's trial: 15,00 € was quarantined with advice to set
    decimal_comma and thousands, which the definition had set right."""
    got = _european_with(tmp_path, ";15,00;", ";15,00 €;")
    (reasons,) = [r for r in _reasons(got).values() if "€" in r[0]]
    assert reasons == [
        "fees_charged: '15,00 €' is not a number of 0 or more: it holds a currency sign or "
        "code, and the column must hold the amount alone (a source has one currency); export "
        "the column formatted as a number, not as currency"
    ]


def test_an_export_cut_inside_its_last_quoted_comment_quarantines_that_record(
    tmp_path: Path,
) -> None:
    """Found by an analyst's trial: the European export cut off inside A-10005's quoted
    comment (its last column, so the record still had every field) was kept whole, its
    comment "Dreimal weit" in the marts. The cut record is quarantined, saying why; the
    ones before it are kept as they were."""
    sample = FIELD / "12-european-semicolon-decimal-comma" / "sample.csv"
    data = sample.read_bytes()
    cut = tmp_path / "12-cut" / "sample.csv"
    cut.parent.mkdir()
    cut.write_bytes(data[: data.index(b"Dreimal weiterverbunden.") + 12])
    got = _ingest("european-feedback.toml", str(cut), tmp_path)
    assert got.counts.surveys_read == 5 and got.counts.kept == 4
    assert "A-10005" not in got.clean.get_column("response_id").to_list()
    assert _reasons(got) == {
        6: [
            "malformed line: the file ends inside a quoted value: the delivery looks "
            "truncated; ask for the complete file"
        ]
    }
    assert _row(got, "A-10002")["comment"] == "Gebühr wurde doppelt abgebucht; niemand ruft zurück"


def test_a_definition_that_does_not_fit_names_file_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"sample\.csv: lines 1-3 \(header\): definition .*"
                       r"qualtrics-acme\.toml reads column\(s\) 'Q1'[ ,]"):  # fmt: skip
        export = tmp_path / "renamed.csv"
        text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text()
        export.write_text(text.replace(",Q1,", ",Q7,", 1))
        ingest_export(
            load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
            export.rename(tmp_path / "sample.csv"),
            Settings(data_dir=str(tmp_path)),
        )


@pytest.mark.parametrize(
    ("delimiter", "encoding", "said", "zipped"),
    [
        (";", "utf-8", 'delimiter = ";"', False),
        ("\t", "utf-16", 'delimiter = "\\t"', False),
        (";", "utf-8", 'delimiter = ";"', True),
    ],
)
def test_an_export_resaved_with_another_delimiter_is_told_so(
    tmp_path: Path, delimiter: str, encoding: str, said: str, zipped: bool
) -> None:
    """The Google Forms sample resaved semicolon-separated (a European Excel) or as Excel's
    "Unicode text" (UTF-16, tab-separated): the definition reads commas, and the error says
    the delimiter is what to change, not only the columns (for a zipped export too: the
    hint looks inside the archive)."""
    import csv
    import io
    import zipfile

    rows = list(
        csv.reader(io.StringIO((FIELD / "05-google-forms-crlf-multiline/sample.csv").read_text()))
    )
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    export = tmp_path / "resaved.csv"
    export.write_bytes(out.getvalue().encode(encoding))
    if zipped:
        with zipfile.ZipFile(tmp_path / "resaved.csv.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(export, "resaved.csv")
        export = tmp_path / "resaved.csv.zip"
    with pytest.raises(DefinitionError, match=r"resaved\.csv(\.zip)?: line 1 \(header\)") as raised:
        ingest_export(
            load_definition(str(DEFINITIONS / "google-forms-hotdog.toml")),
            export,
            Settings(data_dir=str(tmp_path)),
        )
    assert said in str(raised.value) and "was read as comma-separated" in str(raised.value)
    # Split so, the header has every column: the delimiter is said first and alone, "auto"
    # first (an on-call trial's tab-separated re-save was told it after each column).
    assert "was read as comma-separated, so " in str(raised.value)
    assert 'Set delimiter = "auto" in [read] of the definition' in str(raised.value)
    assert "Otherwise" not in str(raised.value)


def test_a_semicolon_export_in_the_sample_layout_is_told_so_too(tmp_path: Path) -> None:
    """raw/<date>/surveys.csv saved semicolon-separated said only which columns were missing;
    the definition path said the delimiter was the thing to change. It is said alone: a
    trial read the whole header quoted as the close match of every column before it."""
    from datetime import date

    from servicelens.stages import BatchError, read_surveys
    from servicelens.synthetic.generator import generate

    day = date(2026, 10, 1)
    generate(tmp_path, day, day, 20, seed=3)
    settings = Settings(data_dir=str(tmp_path))
    export = settings.raw_day(day) / "surveys.csv"
    export.write_text(export.read_text().replace(",", ";"))
    with pytest.raises(BatchError, match=r"surveys\.csv: line 1 \(header\): the file") as raised:
        read_surveys(settings, day)
    assert "looks semicolon-separated, and was read as comma-separated" in str(raised.value)
    assert 'through a source definition with delimiter = ";"' in str(raised.value)
    assert "did you mean" not in str(raised.value)


def test_a_renamed_sample_column_is_quoted_as_the_file_writes_it(tmp_path: Path) -> None:
    """The sample layout compares names in lower case; a trial looked in its file for the
    message's ``'csat score'`` where the file says ``CSAT  Score``."""
    from datetime import date

    from servicelens.stages import BatchError, read_surveys
    from servicelens.synthetic.generator import generate

    day = date(2026, 10, 1)
    generate(tmp_path, day, day, 20, seed=3)
    settings = Settings(data_dir=str(tmp_path))
    export = settings.raw_day(day) / "surveys.csv"
    export.write_text(export.read_text().replace(",csat,", ",CSAT  Score,", 1))
    with pytest.raises(BatchError, match=r"required column\(s\) \['csat'\]") as raised:
        read_surveys(settings, day)
    assert "did you mean 'CSAT Score' for 'csat'?" in str(raised.value)
    # The column suggested quoted as written, the header in file order.
    assert "the header has 10 columns: 'response_id', " in str(raised.value)
    assert "'channel', 'CSAT Score', 'nps'" in str(raised.value)
    assert "csat score" not in str(raised.value)


def test_a_renamed_column_is_not_blamed_on_the_delimiter(tmp_path: Path) -> None:
    export = tmp_path / "sample.csv"
    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text()
    export.write_text(text.replace(",Q1,", ",Q7,", 1))
    with pytest.raises(DefinitionError) as raised:
        ingest_export(
            load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
            export,
            Settings(data_dir=str(tmp_path)),
        )
    assert "separated" not in str(raised.value)


def test_two_exports_joined_into_one_file_say_so_at_the_repeated_header(tmp_path: Path) -> None:
    """`cat monday.csv tuesday.csv`: the second export's three Qualtrics header rows are
    quarantined as a repeated header, not as responses whose every value is wrong."""
    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text(encoding="utf-8")
    joined = tmp_path / "01-joined" / "sample.csv"
    joined.parent.mkdir()
    joined.write_text(text + text, encoding="utf-8")
    got = ingest_export(
        load_definition(str(DEFINITIONS / "qualtrics-acme.toml")),
        joined,
        Settings(data_dir=str(tmp_path), timezone="Europe/London"),
        now=NOW,
    )
    header_at = text.count("\n") + 1  # the second export's first line
    reasons = _reasons(got)
    for line in (header_at, header_at + 1, header_at + 2):
        assert reasons[line] == [
            "repeats the header (lines 1-3): two exports joined into one file? Deliver each "
            "export as its own file, or remove the repeated header"
        ]
    assert got.counts.surveys_read == 2 * 12 + 3


@pytest.mark.parametrize(
    "sample", ["sample.csv", "variant-pandas-resaved.csv"], ids=["export", "pandas-resaved"]
)
def test_two_surveymonkey_exports_joined_set_aside_the_header_with_its_empty_cells(
    sample: str,
) -> None:
    """`cat a.csv a.csv` of a SurveyMonkey export: its first header row has 20 empty cells
    (and the pandas round trip an empty first one), so the repeated header is matched on
    empty cells too. The reader reads an empty cell as ``""``, never null, which is what the
    comparison needs (``null == ""`` would be null, and the header read as a response)."""
    text = (FIELD / "03-surveymonkey-response-subheader" / sample).read_bytes()
    dialect = CsvDialect(
        header_rows=2,
        names="joined",
        generic_sub_names=("Response", "Open-Ended Response"),
        lower_case_names=False,
    )
    read = read_csv_with_lines("joined.csv", text + text, dialect=dialect)
    header_at = text.count(b"\n") + 1  # the second export's first line
    assert [(r.line, r.reason) for r in read.rejects] == [
        (
            line,
            "repeats the header (lines 1-2): two exports joined into one file? Deliver each "
            "export as its own file, or remove the repeated header",
        )
        for line in (header_at, header_at + 1)
    ]
    responses = read.frame.height // 2
    lines = read.frame.get_column("source_line").to_list()
    assert lines == [*range(3, 3 + responses), *range(header_at + 2, header_at + 2 + responses)]


def test_sources_check_names_the_export_columns_its_reasons_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new user's trial: reasons name canonical columns (``submitted_at: ...``), which a
    person who knows only the export ("Eingangsdatum") must translate. ``sources check``
    gives, under the reasons, each column they name as the export names it."""
    import json

    from servicelens.cli.main import main

    args = [
        "--data-dir",
        str(tmp_path / "data"),
        "sources",
        "check",
        str(DEFINITIONS / "european-feedback.toml"),
        str(FIELD / "12-european-semicolon-decimal-comma" / "sample.csv"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.split("would be quarantined: 1 row\n")[1].split("\n\nnothing was written")[0] == (
        "  line 9 (A-10007): submitted_at: '29.03.2026 02:30' does not exist in "
        "Europe/Berlin: the clocks went forward over it (daylight saving); it was not "
        "shifted. Ask for times with a UTC offset\n\n"
        "the columns these reasons name, as the export names them:\n"
        "  submitted_at: 'Eingangsdatum'"
    )
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["export_columns"] == {
        "submitted_at": "Eingangsdatum"
    }


def test_sources_check_names_never_store_entries_the_export_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: a misspelt never_store entry was accepted without a word; the
    personal column it meant is stored if the definition maps it. A preset's own entries
    (variants of one export) are not named."""
    import json

    from servicelens.cli.main import main

    definition = tmp_path / "feedback.toml"
    definition.write_text(
        f'extends = "{DEFINITIONS / "european-feedback.toml"}"\n'
        'never_store = ["Telefonnumer", "ZIP code"]\n'
    )
    sample = FIELD / "12-european-semicolon-decimal-comma" / "sample.csv"
    args = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(definition)]
    assert main([*args, str(sample)]) == 0
    assert (
        "never_store names 1 column(s) this export does not have: 'Telefonnumer'. Check the "
        "spelling against the export's header"
    ) in capsys.readouterr().out
    assert main([*args, str(sample), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["never_store_unmatched"] == ["Telefonnumer"]


def test_columns_named_by_reasons_leave_out_what_the_export_calls_the_same() -> None:
    from servicelens.cli.sources import named_in_reasons

    exported_as = {"csat": ("CSAT",), "nps": ("Q2",), "submitted_at": ("Date", "Time")}
    reasons = [
        "csat: (empty) missing",
        "submitted_at: 'x' is missing or not a timestamp",
        "nps: '11' is not a score from 0 to 10",
        "malformed line: 4 fields where the header has 3",
        "submitted_at: (empty) missing",
    ]
    assert named_in_reasons(reasons, exported_as) == {
        "submitted_at": "Date + Time",
        "nps": "Q2",
    }
    # A column read row by row from either of two wordings names both (a trial's).
    alternatives = {"csat": (("Old wording", "New wording"),)}
    assert named_in_reasons(reasons, exported_as, alternatives)["csat"] == (
        "Old wording or New wording"
    )


def test_sources_check_counts_many_quarantined_rows_by_reason_and_lists_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial at scale: a 200k-row Qualtrics export printed 33,354 lines, one per
    quarantined row, with no summary."""
    import json

    from servicelens.cli import sources
    from servicelens.cli.main import main

    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    header, rows = lines[:3], lines[3:]
    many = [r.replace("R_", f"R_{i:03d}", 1) for i in range(12) for r in rows]
    export = tmp_path / "many.csv"
    export.write_text("\n".join([*header, *many]) + "\n", encoding="utf-8")
    definition = str(DEFINITIONS / "qualtrics-acme.toml")
    assert (
        main(["--data-dir", str(tmp_path / "d"), "sources", "check", definition, str(export)]) == 0
    )
    out = capsys.readouterr().out.split("would be quarantined: ")[1]
    listed = [line for line in out.splitlines() if line.startswith("  line ")]
    assert len(listed) == sources.QUARANTINE_PREVIEW
    assert out.startswith("24 rows\nby kind of reason (a row may have several):\n")
    assert f"the first {sources.QUARANTINE_PREVIEW} (--json lists every row):" in out
    argv = ["--data-dir", str(tmp_path / "d"), "sources", "check", definition, str(export)]
    assert main([*argv, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["quarantined"]) == 24
    # --rows 0 shows no kept row, and does not call the kept rows none (found by a trial:
    # "first 0 rows as mapped: (none kept)" under "kept 20").
    assert main([*argv, "--rows", "0"]) == 0
    out = capsys.readouterr().out
    assert "read 144: kept 120, quarantined 24 " in out
    assert "rows as mapped" not in out and "(none kept)" not in out


def test_04_typeform_refusal_quotes_no_respondent(tmp_path: Path) -> None:
    """Found by a user trial: with repair_mojibake alone, the refusal printed line 13 as
    "Jordan,,jordan@example.com,...": a respondent's name and e-mail, which never leave
    raw/. Only the field that holds the byte is quoted."""
    definition = tmp_path / "spring-auto.toml"
    definition.write_text('extends = "typeform"\nname = "spring"\n[read]\nrepair_mojibake = true\n')
    with pytest.raises(SourceError, match=r"line 13, column \d+: byte 0x8D") as error:
        ingest_export(
            load_definition(str(definition)),
            FIELD / "04-typeform-resaved-8bit" / "sample.csv",
            Settings(data_dir=str(tmp_path)),
        )
    assert "jordan" not in str(error.value).lower()


def test_04_typeform_in_the_cfpb_inbox_is_told_it_is_not_a_cfpb_export(tmp_path: Path) -> None:
    """Found by a user trial: the Typeform file dropped into the cfpb source's inbox was
    told about mojibake and code pages for the cfpb definition; a UTF-8 file of another
    export is told its header is not the definition's. The header comes first: encoding
    advice is for a file whose header fits."""
    with pytest.raises(DefinitionError) as error:
        ingest_export(
            load_definition("cfpb"),
            FIELD / "04-typeform-resaved-8bit" / "sample.csv",
            Settings(data_dir=str(tmp_path)),
        )
    message = str(error.value)
    assert "line 1 (header): definition" in message and "'Complaint ID'" in message
    assert "that the export does not have" in message
    # Typeform's own columns are quoted, and none of them offered for a CFPB column
    # (Submit Date (UTC) was, for Submitted via: another word, not a typo of it).
    assert "header has 29 columns: '#', 'When do you use" in message
    assert "did you mean 'Submit Date (UTC)'" not in message
    assert "mojibake" not in message and "encoding" not in message


def _qualtrics_with_q3(
    tmp_path: Path, name: str = "Q3", also: str | None = None, export_name: str = "4"
) -> Path:
    """The Qualtrics sample with a question added at the end (Q3), as a BI trial's fourth
    export had it: a column the definition does not know. ``name``: its name in the header
    ("" leaves every header row's cell of it blank); ``also``: another such column after it;
    written to ``qualtrics-export-<export_name>.csv``, every row's Q3 that name (so each
    export's bytes differ)."""
    import csv
    import io

    text = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    rows[0].append(name)
    rows[1].append("Would you contact us again?" if name else "")
    rows[2].append('{"ImportId":"QID3"}' if name else "")
    for row in rows[3:]:
        row.append("yes" if export_name == "4" else f"yes ({export_name})")
    if also is not None:
        rows[0].append(also)
        rows[1].append(also)
        rows[2].append('{"ImportId":"QID4"}')
        for row in rows[3:]:
            row.append("no")
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    export = tmp_path / f"qualtrics-export-{export_name}.csv"
    export.write_text(out.getvalue(), encoding="utf-8")
    return export


def test_a_column_the_source_adds_is_said_once_per_file(tmp_path: Path) -> None:
    """A BI trial's Qualtrics export added Q3: `sources run` landed it without a word, in
    no attribute and no quarantined raw_record. The run's notes and `sources check` name
    the file and the column, say it stays in raw/ only and how to keep it; Qualtrics' own
    metadata (StartDate, Duration, DistributionChannel, Q2 - Topics) is expected and not
    said, nor is a never_store column."""
    from servicelens.cli.sources import _preview_text, check_definition
    from servicelens.ingest.landing import land_delivery

    export = _qualtrics_with_q3(tmp_path)
    settings = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition_path = DEFINITIONS / "qualtrics-acme.toml"
    definition = load_definition(str(definition_path))
    source = settings.for_source(definition.name, str(definition_path))
    notes = land_delivery(source, definition, export, NOW).notes()
    said = [n for n in notes if "read by nothing" in n]
    assert len(said) == 1, notes
    assert said[0].startswith("column 'Q3' is read by nothing")
    assert "stay in raw/ only" in said[0]
    assert 'add it under [attributes] in the definition (e.g. q3 = "Q3")' in said[0]
    preview = check_definition(str(definition_path), str(export), settings)
    assert preview["unread_columns"] == ["Q3"]
    assert f"qualtrics-export-4.csv: {said[0]}" in _preview_text(preview)
    # The export as the preset knows it: nothing to say.
    sample = FIELD / "01-qualtrics-three-header-rows" / "sample.csv"
    assert check_definition(str(definition_path), str(sample), settings)["unread_columns"] == []


def test_unread_columns_are_told_once_a_source_until_they_change(tmp_path: Path) -> None:
    """Found by a review: a column left unread was told of on every delivery, every night,
    and a user learns to ignore the notes. The first night's delivery tells of Q3; the
    second night's, with the same Q3, does not (`sources check` still does); a third's
    that adds Q4 tells of both."""
    from flows.sources import _landing_dict, _landing_notes_by_partition
    from servicelens.cli.sources import _preview_text, check_definition
    from servicelens.ingest.landing import land_delivery

    settings = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition_path = DEFINITIONS / "qualtrics-acme.toml"
    definition = load_definition(str(definition_path))
    source = settings.for_source(definition.name, str(definition_path))

    def nightly_notes(export: Path, night: datetime) -> list[str]:
        landing = land_delivery(source, definition, export, night)
        table = _landing_notes_by_partition([{"landing": _landing_dict(landing)}], ["x"])
        return [n for notes in table.values() for n in notes if "read by nothing" in n]

    first = nightly_notes(_qualtrics_with_q3(tmp_path), NOW)
    assert len(first) == 1
    assert first[0].startswith("qualtrics-export-4.csv: column 'Q3' is read by nothing")
    second = _qualtrics_with_q3(tmp_path, export_name="5")
    assert nightly_notes(second, NOW + timedelta(days=1)) == []
    preview = check_definition(str(definition_path), str(second), settings)
    assert "qualtrics-export-5.csv: column 'Q3' is read by nothing" in _preview_text(preview)
    third = _qualtrics_with_q3(tmp_path, also="Q4", export_name="6")
    told = nightly_notes(third, NOW + timedelta(days=2))
    assert len(told) == 1
    assert told[0].startswith("qualtrics-export-6.csv: columns 'Q3', 'Q4' are read by nothing")


def test_a_column_with_a_blank_header_is_named_by_its_place_and_a_value(tmp_path: Path) -> None:
    """The note named a column whose header cell is blank by the reader's made-up name
    (``'column_12'``), which no file of the user's holds: the run's notes and `sources
    check` name it by its place, the letters a spreadsheet shows over it and a value, and
    say the name a definition reads it by."""
    from servicelens.cli.sources import _preview_text, check_definition
    from servicelens.ingest.landing import land_delivery

    export = _qualtrics_with_q3(tmp_path, name="")
    place, letters = 21, "U"  # the sample's 20 columns, then the unnamed one
    settings = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition_path = DEFINITIONS / "qualtrics-acme.toml"
    definition = load_definition(str(definition_path))
    source = settings.for_source(definition.name, str(definition_path))
    notes = land_delivery(source, definition, export, NOW).notes()
    said = [n for n in notes if "read by nothing" in n]
    assert len(said) == 1, notes
    assert said[0].startswith(
        f"the unnamed column {place} ({letters} in a spreadsheet; e.g. value 'yes') is read by "
        "nothing"
    )
    assert (
        f'[attributes] in the definition (e.g. column_{place} = "column_{place}": a column '
        f"with a blank header is read as column_<its place>, here 'column_{place}'), or give it "
        "a name in the export's header; if it is to stay in raw/ only"
    ) in said[0]
    preview = check_definition(str(definition_path), str(export), settings)
    assert preview["unnamed_columns"] == {
        f"column_{place}": {"number": place, "letters": letters, "example": "yes"}
    }
    assert f"qualtrics-export-4.csv: {said[0]}" in _preview_text(preview)


@pytest.mark.parametrize(
    ("number", "letters"), [(1, "A"), (5, "E"), (26, "Z"), (27, "AA"), (52, "AZ"), (703, "AAA")]
)
def test_spreadsheet_column_letters(number: int, letters: str) -> None:
    from servicelens.ingest.readers import spreadsheet_column_letters

    assert spreadsheet_column_letters(number) == letters


def test_expected_columns_add_to_the_presets_and_stop_the_note(tmp_path: Path) -> None:
    """A column left in raw/ on purpose is listed in the definition's expected_columns:
    the note stops, and the preset's expected metadata stays expected."""
    from servicelens.ingest.mapping import read_export, unread_columns

    export = _qualtrics_with_q3(tmp_path)
    quiet = tmp_path / "acme-quiet.toml"
    quiet.write_text(
        f'extends = "{DEFINITIONS / "qualtrics-acme.toml"}"\nname = "acme-quiet"\n'
        'expected_columns = ["q3"]\n',
        encoding="utf-8",
    )
    definition = load_definition(str(quiet))
    assert unread_columns(definition, read_export(definition, export).header) == []


@pytest.mark.parametrize(
    ("preset", "header"),
    [
        (
            "zendesk",
            [
                "url",
                "id",
                "assignee_id",
                "group_id",
                "requester_id",
                "ticket_id",
                "score",
                "comment",
                "reason",
                "reason_code",
                "reason_id",
                "created_at",
                "updated_at",
            ],
        ),
        ("surveymonkey", ["RespondentID", "CollectorID", "StartDate", "EndDate"]),
        ("typeform", ["#", "Start Date (UTC)", "Submit Date (UTC)", "Stage Date (UTC)", "Tags"]),
        ("microsoft_forms", ["ID", "Start time", "Completion time", "Last modified time"]),
    ],
)
def test_a_presets_own_metadata_is_expected_not_noted(preset: str, header: list[str]) -> None:
    """The unread-column note is for a column the source added: the vendor's own metadata
    (Zendesk's url, reason_code and reason_id in every record) would have been noted in
    every nightly run of every team on the preset."""
    from servicelens.ingest.mapping import unread_columns

    assert unread_columns(load_definition(preset), header) == []


def test_raw_record_holds_what_the_dictionary_says(tmp_path: Path) -> None:
    """A BI trial read "the row's raw values" in the dictionary and found only the mapped
    and filter columns in raw_record (its new Q3 in neither). raw_record holds the export
    columns the definition reads, never a never_store one, and the dictionary says so."""
    import json

    from servicelens.ingest.mapping import read_columns
    from transforms.schemas import QUARANTINE_CONTRACT

    export = _qualtrics_with_q3(tmp_path)
    definition = load_definition(str(DEFINITIONS / "qualtrics-acme.toml"))
    got = ingest_export(
        definition, str(export), Settings(data_dir=str(tmp_path), timezone="Europe/London"), NOW
    )
    records = got.quarantine.get_column("raw_record").to_list()
    assert records
    keys = {key for record in records for key in json.loads(record)}
    assert keys == set(read_columns(definition, got.mapped.read.header))
    assert "Q3" not in keys and "RecipientEmail" not in keys
    said = QUARANTINE_CONTRACT.descriptions["raw_record"]
    assert "the export columns the source definition reads" in said
    assert "Columns the definition does not read are not in it" in said
