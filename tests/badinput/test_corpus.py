"""A corpus of bad survey exports, one case per kind of defect, run through the real stages.

Each case starts from a generated, clean day and breaks it in one way. Every case ends in
one of two ways: the damaged row is quarantined with a reason naming its column and quoting
its value (everything else kept, read = kept + quarantined, recorded in the manifest), or the
date fails with an error naming the file, the line, the column and the value. Never a
traceback as the only message, never a silent drop.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.readers import SourceError
from servicelens.settings import Settings
from servicelens.stages import BatchError, publish_clean, validate_day
from servicelens.storage.partitions import read_manifest
from servicelens.synthetic.generator import generate
from transforms.schemas import RAW_SURVEY_COLUMNS

DAY = date(2026, 10, 2)
HEADER = list(RAW_SURVEY_COLUMNS)
Rows = list[dict[str, str]]


@dataclass(frozen=True)
class Case:
    """One defect: how to break the day's export and what the pipeline must do with it."""

    name: str
    #: Takes the clean rows, returns the bytes of the broken export.
    build: Callable[[Rows], bytes]
    #: ``kept`` (cleaned and kept), ``quarantined`` or ``fails`` (the date stops).
    outcome: str
    #: Text the quarantine reason or the error must contain (column, value, line...).
    expect: tuple[str, ...] = ()
    #: The data line (1-based, after the header) the defect is on, for quarantine cases.
    line: int = 3
    #: Extra checks on the kept rows.
    check_kept: Callable[[pl.DataFrame], None] | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _csv(rows: Rows, header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _with(index: int, **values: str) -> Callable[[Rows], bytes]:
    """The export with row ``index`` (0-based) changed."""

    def build(rows: Rows) -> bytes:
        rows = [dict(r) for r in rows]
        rows[index].update(values)
        return _csv(rows)

    return build


def _comment_is(text: str) -> Callable[[pl.DataFrame], None]:
    def check(kept: pl.DataFrame) -> None:
        assert kept.filter(pl.col("source_line") == 4).get_column("comment").item() == text

    return check


def _encoded(encoding: str, comment: str, bom: bytes = b"") -> Callable[[Rows], bytes]:
    def build(rows: Rows) -> bytes:
        rows = [dict(r) for r in rows]
        rows[2]["comment"] = comment
        return bom + _csv(rows, encoding=encoding)

    return build


def _lines(edit: Callable[[list[str]], list[str]]) -> Callable[[Rows], bytes]:
    """The export's text lines edited directly (for defects the csv writer cannot produce)."""

    def build(rows: Rows) -> bytes:
        # Plain comments around the edited line, so splitting it on commas finds the fields
        # whatever text the generator wrote there.
        rows = [dict(r) for r in rows]
        for index in (2, 3):
            rows[index]["comment"] = "a plain comment"
        return ("\n".join(edit(_csv(rows).decode().splitlines())) + "\n").encode()

    return build


def _replace_line(index: int, text: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        lines[index] = text
        return lines

    return edit


def _renamed(old: str, new: str) -> Callable[[Rows], bytes]:
    def build(rows: Rows) -> bytes:
        header = [new if h == old else h for h in HEADER]
        return _csv([{(new if k == old else k): v for k, v in r.items()} for r in rows], header)

    return build


def _dropped(column: str) -> Callable[[Rows], bytes]:
    return lambda rows: _csv(rows, [h for h in HEADER if h != column])


def _extra_column(rows: Rows) -> bytes:
    return _csv([{**r, "store_id": "S-17"} for r in rows], [*HEADER, "store_id"])


def _duplicate_id_different_content(rows: Rows) -> bytes:
    rows = [dict(r) for r in rows]
    rows[2] = {**rows[1], "csat": "1" if rows[1]["csat"] != "1" else "5", "comment": "changed"}
    return _csv(rows)


def _redelivered_without_delivery_times(rows: Rows) -> bytes:
    # A re-delivery with other answers in an export without delivered_at: nothing says
    # which copy is the later (a trial's was told "delivered at the same time").
    rows = [dict(r) for r in rows]
    rows[2] = {**rows[1], "csat": "1" if rows[1]["csat"] != "1" else "5"}
    return _csv(rows, [h for h in HEADER if h != "delivered_at"])


def _huge_comment(rows: Rows) -> bytes:
    return _with(2, comment="x" * (1 << 20))(rows)


def _unbalanced_quote(lines: list[str]) -> list[str]:
    # A comment opened with a quote that never closes: the csv module reads on to the next
    # quote, so the lines in between become one malformed record.
    fields = lines[3].split(",")
    fields[7] = '"never closed'
    lines[3] = ",".join(fields)
    # The next line ends with a lone quote, which closes it: the two lines become one record.
    lines[4] = lines[4] + '"'
    return lines


CASES: list[Case] = [
    Case("cp1252", _encoded("cp1252", "Café – naïve, a 20 € fee"), "kept",
         check_kept=_comment_is("Café – naïve, a 20 € fee")),
    Case("latin-1 with a byte no cp1252 text has", _encoded("latin-1", "Müller\x81 façade"),
         "fails", ("surveys.csv: line 4, column ", "byte 0x81 is not a cp1252 character",
                   "as cp850: ", "set `encoding`")),
    Case("utf-8 with BOM", _encoded("utf-8", "naïve", codecs.BOM_UTF8), "kept",
         check_kept=_comment_is("naïve")),
    Case("utf-16 with BOM", _encoded("utf-16", "naïve ✓"), "kept",
         check_kept=_comment_is("naïve ✓")),
    Case("utf-16-le without BOM", _encoded("utf-16-le", "naïve ✓"), "kept",
         check_kept=_comment_is("naïve ✓")),
    Case("unbalanced quote", _lines(_unbalanced_quote), "quarantined",
         ("malformed line", "check the quotes on line 4")),
    Case("stray quote inside an unquoted field",
         _lines(lambda ls: [*ls[:3], ls[3].replace(ls[3].split(",")[7], 'He said "no way'), *ls[4:]]
                if '"' not in ls[3] else ls),
         "kept"),
    Case("ragged row: a field too many", _lines(lambda ls: [*ls[:3], ls[3] + ",extra", *ls[4:]]),
         "quarantined", ("malformed line: 11 fields where the header has 10",)),
    Case("ragged row: fields missing",
         _lines(_replace_line(3, "R-SHORT,I-SHORT,2026-10-02T10:00:00")),
         "quarantined", ("malformed line: 3 fields where the header has 10",)),
    Case("missing required column", _dropped("csat"), "fails",
         ("surveys.csv", "line 1 (header)", "'csat'", "missing")),
    Case("missing optional column", _dropped("nps"), "kept"),
    Case("extra column", _extra_column, "kept"),
    Case("renamed column", _renamed("csat", "CSAT Score"), "fails",
         ("surveys.csv", "line 1 (header)", "'csat'", "'CSAT Score'")),
    Case("duplicate id within the file", _duplicate_id_different_content, "quarantined",
         ("response_id:", "more than one different response")),
    Case("re-delivered without delivered_at", _redelivered_without_delivery_times,
         "quarantined", ("response_id:", "delivery times (delivered_at: the same, or none)")),
    Case("csat out of range", _with(2, csat="9"), "quarantined",
         ("csat: '9' is not a score from 1 to 5",)),
    Case("csat not a number", _with(2, csat="very good"), "quarantined",
         ("csat: 'very good' is not a score",)),
    Case("nps out of range", _with(2, nps="11"), "quarantined", ("nps: '11'",)),
    Case("effort not a number", _with(2, effort="n/a"), "quarantined", ("effort: 'n/a'",)),
    Case("future date", _with(2, submitted_at="2099-01-01T00:00:00Z"), "quarantined",
         ("submitted_at: '2099-01-01T00:00:00Z' is in the future: later than the clock of",
          "the run plus 5 minutes of allowed skew")),
    Case("ancient date", _with(2, submitted_at="1899-12-30T00:00:00"), "quarantined",
         ("submitted_at: '1899-12-30T00:00:00' is before 2000-01-01, earlier than any",)),
    Case("date that is not a date", _with(2, submitted_at="yesterday"), "quarantined",
         ("submitted_at: 'yesterday' is not a timestamp",)),
    Case("null response_id", _with(2, response_id=""), "quarantined",
         ("response_id: (empty) missing",)),
    Case("null interaction_id", _with(2, interaction_id=""), "quarantined",
         ("interaction_id: (empty) missing",)),
    Case("1 MB comment", _huge_comment, "quarantined",
         ("comment: 'xxxx", "(1048576 characters)", "longer than the 10000-character limit")),
    Case("control characters", _with(2, comment="bad\x00 serv\x07ice\x1b\x7f today"), "kept",
         check_kept=_comment_is("bad service today")),
    Case("html and script", _with(2, comment="<script>fetch('//x')</script><b>Late</b> again"),
         "kept", check_kept=_comment_is("Late again")),
    Case("spreadsheet formula in a comment (kept as written; the worksheet neutralises it)",
         _with(2, comment='=HYPERLINK("http://evil.example","click")'), "kept",
         check_kept=_comment_is('=HYPERLINK("http://evil.example","click")')),
    Case("spreadsheet formula as an id", _with(2, response_id='=HYPERLINK("x")'),
         "quarantined", ("response_id: '=HYPERLINK(\"x\")' starts like a spreadsheet formula",)),
    Case("spreadsheet command as an id, after a minus",
         _with(2, response_id="-1+1+cmd|' /C calc'!A0"), "quarantined",
         ("response_id: '-1+1+cmd|' /C calc'!A0' starts like a spreadsheet formula",)),
    Case("an id that is a negative number", _with(2, response_id="-1042"), "kept"),
    Case("unknown channel", _with(2, channel="carrier pigeon"), "quarantined",
         ("channel: 'carrier pigeon' is not a known channel",)),
    Case("survey with no interaction", _with(2, interaction_id="I-NOWHERE"), "quarantined",
         ("interaction_id: 'I-NOWHERE' matches no interaction",)),
    Case("empty file", lambda rows: b"", "fails", ("surveys.csv", "empty", "0 bytes")),
    Case("header only", lambda rows: _csv([]), "fails", ("surveys.csv", "no survey rows")),
    Case("not a CSV at all", lambda rows: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
         "fails", ("surveys.csv", "line 2", "0x1A, a control character", "not a CSV")),
]  # fmt: skip


def assert_contains(kept: pl.DataFrame, text: str) -> None:
    comment = kept.filter(pl.col("source_line") == 4).get_column("comment").item()
    assert text in comment, comment


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Rows]:
    """Two clean generated days (the second one is broken by each case)."""
    root = tmp_path_factory.mktemp("corpus-base")
    generate(root, DAY - timedelta(days=1), DAY, per_day=30, seed=5, mess=False)
    text = (root / "raw" / DAY.isoformat() / "surveys.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    return root, rows


def _settings_with(base_root: Path, tmp_path: Path, export: bytes) -> Settings:
    root = tmp_path / "data"
    shutil.copytree(base_root / "raw", root / "raw")
    (root / "raw" / DAY.isoformat() / "surveys.csv").write_bytes(export)
    return Settings(data_dir=str(root))


def test_the_clean_base_day_is_kept_whole(base: tuple[Path, Rows], tmp_path: Path) -> None:
    root, rows = base
    settings = _settings_with(root, tmp_path, _csv(rows))
    validated = validate_day(settings, DAY, "corpus")
    assert validated.counts.kept == len(rows) and validated.counts.quarantined == 0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_defect_is_quarantined_or_fails_the_date_clearly(
    case: Case, base: tuple[Path, Rows], tmp_path: Path
) -> None:
    root, rows = base
    settings = _settings_with(root, tmp_path, case.build(rows))
    if case.outcome == "fails":
        with pytest.raises((BatchError, SourceError)) as error:
            validate_day(settings, DAY, "corpus")
        message = str(error.value)
        assert all(text in message for text in case.expect), message
        assert not settings.clean_dir.exists(), "a failed date must write nothing"
        return

    validated = validate_day(settings, DAY, "corpus")
    publish_clean(settings, validated, {"run_id": "corpus"})
    counts = read_manifest(settings.quarantine_dir, DAY)
    assert counts is not None
    recorded = counts["counts"]
    assert recorded["surveys_read"] == recorded["kept"] + recorded["quarantined"]
    kept = validated.clean()
    quarantine = validated.quarantine().filter(pl.col("feed") == "surveys")
    assert kept.height == recorded["kept"] and quarantine.height == recorded["quarantined"]
    # Every line read is on exactly one side.
    lines = pl.concat([kept.get_column("source_line"), quarantine.get_column("source_line")])
    assert lines.n_unique() == lines.len() == recorded["surveys_read"]

    if case.outcome == "kept":
        assert recorded["quarantined"] == 0, quarantine.to_dicts()
        assert recorded["kept"] == len(rows)
        if case.check_kept:
            case.check_kept(kept)
        return

    assert case.outcome == "quarantined"
    at_line = quarantine.filter(pl.col("source_line") == case.line + 1)
    assert at_line.height == 1, quarantine.select("source_line", "reasons").to_dicts()
    reasons = " | ".join(at_line.get_column("reasons").item().to_list())
    assert all(text in reasons for text in case.expect), reasons
    assert case.line + 1 not in kept.get_column("source_line").to_list()
    # Only the broken row (and, for an unbalanced quote, the lines it swallowed) is lost to
    # the clean layer; the rest of the day is kept.
    assert recorded["kept"] >= len(rows) - 5


def test_a_response_delivered_again_in_another_days_file_is_counted_once(
    base: tuple[Path, Rows], tmp_path: Path
) -> None:
    root, rows = base
    earlier = DAY - timedelta(days=1)
    settings = _settings_with(root, tmp_path, _csv(rows))
    first = (settings.raw_day(earlier) / "surveys.csv").read_text().splitlines()
    again = dict(next(csv.DictReader(io.StringIO("\n".join(first[:2])))))
    (settings.raw_day(DAY) / "surveys.csv").write_bytes(_csv([*rows, again]))
    publish_clean(settings, validate_day(settings, earlier, "first"), {"run_id": "first"})

    validated = validate_day(settings, DAY, "second")
    quarantine = validated.quarantine()
    reasons = quarantine.filter(pl.col("record_id") == again["response_id"]).get_column("reasons")
    assert reasons.len() == 1
    # It names the date that holds the response, and where a correction goes.
    assert f"already in the clean layer under survey date {earlier}; " in reasons.item()[0]
    assert "goes in that date's export" in reasons.item()[0]
    assert again["response_id"] not in validated.clean()["response_id"]
