"""Raw readers: every record is either a row with its line or a reject with its line."""

from __future__ import annotations

import codecs
from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from servicelens.ingest.readers import (
    _C1_CONTROLS,
    RawRead,
    SourceError,
    _lines_maybe_mojibake,
    _mojibake_prefilter,
    _refuse_mojibake,
    decode_to_utf8,
    read_csv_with_lines,
    read_jsonl_with_lines,
)
from transforms.schemas import RAW_INTERACTION_SCHEMA, RAW_SURVEY_COLUMNS

#: The real export shapes beside the project (../shared/field).
FIELD = Path(__file__).resolve().parents[2].parent / "shared" / "field"
HEADER = "response_id,comment,csat\n"


def test_lines_are_physical_lines_even_with_newlines_inside_quotes(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + 'R1,"first\nsecond",3\n\nR2,plain,4\n')
    read = read_csv_with_lines(path)
    assert read.frame.select("response_id", "source_line").rows() == [("R1", 2), ("R2", 5)]
    assert read.rejects == []


def test_ragged_rows_are_rejects_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + "R1,ok,3\nR2,too,many,fields\nR3,few\nR4,ok,5\n")
    read = read_csv_with_lines(path)
    assert read.frame.get_column("source_line").to_list() == [2, 5]
    assert [(r.line, r.text) for r in read.rejects] == [(3, "R2,too,many,fields"), (4, "R3,few")]
    assert "4 fields" in read.rejects[0].reason
    assert read.records_read == 4


def test_unbalanced_quote_is_one_reject_not_a_silent_merge(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(HEADER + 'R1,"broken,3\nR2,ok,4\n')
    read = read_csv_with_lines(path)
    assert read.frame.height + len(read.rejects) == read.records_read
    assert read.rejects and read.rejects[0].line == 2


def test_encodings_are_detected() -> None:
    text = HEADER + "R1,café,3\n"
    assert decode_to_utf8(text.encode("cp1252"))[1] == "cp1252"
    assert decode_to_utf8(codecs.BOM_UTF8 + text.encode())[1] == "utf-8-sig"
    assert decode_to_utf8(text.encode("utf-16"))[1] == "utf-16"
    assert decode_to_utf8(text.encode())[0].decode() == text


def test_header_names_are_trimmed_and_lower_cased(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(codecs.BOM_UTF8 + b" Response_ID ,Comment,CSAT\r\nR1,x,3\r\n")
    read = read_csv_with_lines(path)
    assert read.header == ["response_id", "comment", "csat"]
    assert read.frame.get_column("csat").to_list() == ["3"]


def test_jsonl_bad_lines_are_rejects_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "i.jsonl"
    path.write_text(
        '{"interaction_id": "I1", "transfers": 1}\n'
        '{"interaction_id": "I2", "trans\n'
        "\n"
        '{"interaction_id": "I3", "transfers": "three"}\n'
        '{"interaction_id": "I4", "sla_met": false}\n'
    )
    read = read_jsonl_with_lines(path)
    assert read.frame.select("interaction_id", "source_line").rows() == [("I1", 1), ("I4", 5)]
    assert [r.line for r in read.rejects] == [2, 4]
    assert "transfers" in read.rejects[1].reason


def _interaction_lines(count: int) -> list[str]:
    return [
        f'{{"interaction_id": "I{i}", "transfers": {i % 4}, "sla_met": {str(i % 2 == 0).lower()}}}'
        for i in range(count)
    ]


def test_jsonl_keep_drops_rows_but_never_a_reject_or_a_line_number(tmp_path: Path) -> None:
    """``keep`` drops the rows a date does not need while the export is decoded: the rows it
    keeps are the same rows on the same lines, the rejects are the same, and the rows it
    drops are counted as skipped. A truncated line whose text holds the id ``keep`` wants,
    and one it does not, are rejects either way."""
    import polars as pl

    lines = _interaction_lines(3000)
    lines[10] = '{"interaction_id": "I10", "trans'  # truncated: a reject
    lines[17] = '{"interaction_id": "I17", "transfers": 2.5}'  # read apart: the exact decoder
    lines[1500] = "   "  # blank: not a record
    lines[2999] = '{"interaction_id": "I2999"'  # truncated last line, without a newline
    path = tmp_path / "i.jsonl"
    path.write_text("\n".join(lines))
    keep = pl.col("interaction_id").str.ends_with("7")
    every, kept = read_jsonl_with_lines(path), read_jsonl_with_lines(path, keep=keep)
    assert [(r.line, r.reason) for r in kept.rejects] == [(r.line, r.reason) for r in every.rejects]
    assert [r.line for r in every.rejects] == [11, 18, 3000]
    assert "'transfers': 2.5 is not a whole number" in every.rejects[1].reason
    assert every.frame.height == 2996 and every.skipped == 0
    assert kept.frame.equals(every.frame.filter(keep))
    assert kept.frame.get_column("source_line").to_list()[:2] == [8, 28]
    assert kept.skipped == every.frame.height - kept.frame.height
    assert kept.records_read == every.records_read == 2996 + 3


def test_jsonl_value_polars_cannot_convert_sends_the_file_to_the_exact_decoder(
    tmp_path: Path,
) -> None:
    lines = _interaction_lines(2000)
    lines[1700] = '{"interaction_id": "I1700", "transfers": "three"}'
    path = tmp_path / "i.jsonl"
    path.write_text("\n".join(lines) + "\n")
    read = read_jsonl_with_lines(path)
    assert [r.line for r in read.rejects] == [1701]
    assert "transfers" in read.rejects[0].reason
    assert read.frame.height == 1999


def test_jsonl_read_from_the_file_or_from_memory_gives_the_same_rows(tmp_path: Path) -> None:
    """Plain UTF-8 is streamed from the file; a BOM, CR line ends or a legacy encoding are
    decoded in memory first. Rows, lines and rejects are the same."""
    from servicelens.ingest import readers

    lines = _interaction_lines(400)
    lines[7] = '{"interaction_id": "I7", "que'
    lines[8] = '{"interaction_id": "Ié8", "queue": "délivery"}'
    text = "\n".join(lines) + "\n"
    variants = {
        "plain.jsonl": text.encode("utf-8"),
        "bom.jsonl": codecs.BOM_UTF8 + text.encode("utf-8"),
        "crlf.jsonl": text.replace("\n", "\r\n").encode("utf-8"),
        "cp1252.jsonl": text.encode("cp1252"),
    }
    assert readers._PlainUtf8File.open(str(tmp_path / "missing.jsonl")) is None
    reads = {}
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        from_file = readers._PlainUtf8File.open(str(tmp_path / name))
        assert (from_file is not None) == (name == "plain.jsonl")
        if from_file is not None:
            from_file.close()
        reads[name] = read_jsonl_with_lines(tmp_path / name)
    plain = reads.pop("plain.jsonl")
    assert plain.frame.height == 399 and [r.line for r in plain.rejects] == [8]
    assert plain.frame.filter(pl.col("source_line") == 9).get_column("queue").item() == "délivery"
    for read in reads.values():
        assert read.frame.drop("source_file").equals(plain.frame.drop("source_file"))
        assert [r.line for r in read.rejects] == [8]


_LINE_TEXT = st.text(
    alphabet=st.sampled_from([*'ab \t,;"\r', "é", "Ã", "©", "\x85", "œ", "€", "ж", "😀"]),
    max_size=12,
)


def _detector_characters() -> list[str]:
    from ftfy.badness import BADNESS_RE

    return sorted({c for c in BADNESS_RE.pattern if ord(c) > 127})


@settings(max_examples=3000)
@given(
    st.text(
        alphabet=st.sampled_from(
            [*_detector_characters(), *"aAzZ .,?!-_0\t\r", "\x1c", "\x85", "\xa0"]
        ),
        max_size=8,
    )
)
def test_mojibake_prefilter_finds_every_line_ftfy_finds(line: str) -> None:
    """polars' engine, given the compacted pattern, matches every text ftfy's matches (built
    from the characters the pattern names, and whitespace the two engines class apart)."""
    from ftfy.badness import is_bad

    if is_bad(line):
        assert pl.Series([line]).str.contains(_mojibake_prefilter()).item()
        assert [n for n, _ in _lines_maybe_mojibake(f"ok\n{line}\nok")] == [2]


@given(st.lists(_LINE_TEXT, max_size=12))
@example(["Ãœ", "©"])  # found by a CI run: UTF-8, then a line that is not
def test_mojibake_refusal_equals_checking_every_line(lines: list[str]) -> None:
    """Skipping ASCII lines refuses exactly what checking every line refused, at the same line."""
    from ftfy.badness import is_bad

    text = "\n".join(lines)
    data = text.encode("cp1252", errors="replace")
    first_bad = next(
        (
            n
            for n, line in enumerate(text.split("\n"), 1)
            if is_bad(line) and is_bad(_C1_CONTROLS.sub("", line))
        ),
        None,
    )
    if first_bad is None:
        _refuse_mojibake("x.csv", text, data, "cp1252")
        return
    # Bytes that are UTF-8 up to a line after the mojibake (["Ãœ", "©"]: C3 9C is "Ü" in
    # UTF-8, A9 is not UTF-8) are a file of mixed encodings: the refusal points at the first
    # line that is not UTF-8 and names the mojibake line as its example.
    try:
        data.decode("utf-8")
        not_utf8 = None
    except UnicodeDecodeError as error:
        not_utf8 = data.count(b"\n", 0, error.start) + 1
    if not_utf8 is not None and first_bad < not_utf8:
        expected = rf"x\.csv: line {not_utf8}, byte \d+: .* e\.g\. on line {first_bad}\)"
    else:
        expected = rf"x\.csv: line {first_bad}: "
    with pytest.raises(SourceError, match=expected):
        _refuse_mojibake("x.csv", text, data, "cp1252")


#: Lines whose fields are not what the contract's types say, or that polars' reader and
#: Python's decoder could read apart (a key twice, a key written with an escape, a nested
#: object naming a field).
_AWKWARD_LINES = [
    '{"interaction_id": 123}',
    '{"interaction_id": 1.50, "queue": "billing"}',
    '{"interaction_id": true}',
    '{"interaction_id": {"a":  1}}',
    '{"interaction_id": ["I1"]}',
    '{"interaction_id": null, "agent_id": -1}',
    '{"interaction_id": "I1", "interaction_id": "I2"}',
    '{"interaction_id": 5, "interaction_id": "I2"}',
    '{"interaction\\u005fid": 7}',
    '{"interaction\\u005fid": "I3"}',
    '{"interaction_id": "I4", "extra": {"queue": 5}}',
    '{"interaction_id": "I5", "note": "a, \\"queue\\": 5"}',
    '{"interaction_id": "I6", "transfers": 2.0}',
    '{"interaction_id": "I7", "wait_seconds": "12"}',
    '{"interaction_id": "I8", "sla_met": 1}',
    '{"interaction_id": "I9", "transfers": 9223372036854775808}',
    '{"interaction_id": "I10", "transfers": -9223372036854775808}',
    '{"interaction_id": "I11", "wait_seconds": 1' + "0" * 400 + "}",
    # As pandas writes an integer column with a missing value: floats, whole or not.
    '{"interaction_id": "I12", "transfers": 1.0, "prior_contacts": null}',
    '{"interaction_id": "I13", "transfers": 2e0, "prior_contacts": -0.0}',
    '{"interaction_id": "I14", "transfers": 2.5}',
    '{"interaction_id": "I15", "prior_contacts": 1.0000000000000001}',
    '{"interaction_id": "I16", "transfers": 9007199254740993}',
    '{"interaction_id": "I17", "transfers": 9007199254740993.0}',
    '{"interaction_id": "I18", "transfers": 1.0e19}',
    '{"interaction_id": "I19", "transfers": 9.0e18}',
    '{"interaction_id": "I20", "transfers": -9223372036854775808.0}',
    '{"interaction_id": "I21", "transfers": true}',
    '{"interaction_id": "I22", "wait_seconds": false}',
    '{"interaction_id": "I23", "transfers": 1e400}',
]


def _read_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[RawRead, RawRead]:
    """The read as it runs, and the same read forced down the exact (Python) path."""
    from servicelens.ingest import readers

    as_it_runs = read_jsonl_with_lines(path)
    with monkeypatch.context() as patched:
        patched.setattr(readers, "_decode_json_fast", lambda *args, **kwargs: None)
        exact = read_jsonl_with_lines(path)
    return as_it_runs, exact


def _same_read(one: RawRead, other: RawRead) -> None:
    assert one.frame.equals(other.frame)
    assert [(r.line, r.text, r.reason) for r in one.rejects] == [
        (r.line, r.text, r.reason) for r in other.rejects
    ]
    assert one.skipped == other.skipped


@pytest.mark.parametrize("awkward", _AWKWARD_LINES)
def test_jsonl_line_gets_the_same_answer_whichever_path_reads_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, awkward: str
) -> None:
    """A line's fate (kept with which values, or rejected with which reason) must not
    depend on the other lines of its file, which decide whether polars' reader or the exact
    decoder reads it. polars' reader writes a number or an object given for a text field
    as text; the exact decoder rejects it, so such a file goes the exact way."""
    lines = _interaction_lines(50)
    lines[20] = awkward
    path = tmp_path / "i.jsonl"
    path.write_text("\n".join(lines) + "\n")
    as_it_runs, exact = _read_both_ways(path, monkeypatch)
    _same_read(as_it_runs, exact)
    assert exact.frame.height + len(exact.rejects) == 50


def test_jsonl_duplicate_key_keeps_its_first_value_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "i.jsonl"
    path.write_text('{"interaction_id": "I1", "interaction_id": "I2", "queue": "a"}\n')
    as_it_runs, exact = _read_both_ways(path, monkeypatch)
    assert as_it_runs.frame.get_column("interaction_id").to_list() == ["I1"]
    _same_read(as_it_runs, exact)


def test_jsonl_whole_number_out_of_range_is_a_reject_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "i.jsonl"
    path.write_text(
        "\n".join(
            [*_interaction_lines(3), '{"interaction_id": "I9", "transfers": 2' + "0" * 19 + "}"]
        )
        + "\n"
    )
    read = read_jsonl_with_lines(path)
    assert [r.line for r in read.rejects] == [4]
    assert "'transfers': 2" + "0" * 19 + " is out of range for Int64" in read.rejects[0].reason
    assert read.frame.height == 3


def test_jsonl_number_for_a_text_field_is_a_reject_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "i.jsonl"
    path.write_text("\n".join([*_interaction_lines(5), '{"interaction_id": 123}']) + "\n")
    read = read_jsonl_with_lines(path)
    assert [r.line for r in read.rejects] == [6]
    assert "'interaction_id': 123 is not a string (text in double quotes)" in read.rejects[0].reason
    assert read.frame.height == 5


def test_jsonl_value_of_the_wrong_type_is_quoted_as_json_with_what_the_field_takes(
    tmp_path: Path,
) -> None:
    """A reason shows the value as the export wrote it (true, "12"), not as Python does."""
    path = tmp_path / "i.jsonl"
    lines = [
        '{"interaction_id": "I1", "sla_met": 1}',
        '{"interaction_id": "I2", "wait_seconds": "12"}',
        '{"interaction_id": "I3", "transfers": true}',
        '{"interaction_id": "I4", "queue": ["a"]}',
    ]
    path.write_text("\n".join(lines) + "\n")
    read = read_jsonl_with_lines(path)
    assert [r.reason.removeprefix("malformed JSON: field ") for r in read.rejects] == [
        "'sla_met': 1 is not true or false",
        "'wait_seconds': \"12\" is not a number",
        "'transfers': true is not a whole number",
        "'queue': [\"a\"] is not a string (text in double quotes)",
    ]


def test_jsonl_whole_number_written_as_a_float_is_an_integer_on_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas writes an integer column holding a missing value as floats (``1.0``): each
    row is read, its count an integer and the missing one null, without the exact path
    (minutes for a 500 MB export)."""
    import numpy as np
    import pandas as pd

    from servicelens.ingest import readers

    path = tmp_path / "i.jsonl"
    pd.DataFrame(
        {"interaction_id": ["I1", "I2", "I3"], "transfers": [1, np.nan, 2], "sla_met": [True] * 3}
    ).to_json(path, orient="records", lines=True)
    assert '"transfers":1.0' in path.read_text()

    def not_called(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pandas export went down the exact path")

    monkeypatch.setattr(readers, "_decode_json_exact", not_called)
    read = read_jsonl_with_lines(path)
    assert read.rejects == []
    assert read.frame.get_column("transfers").dtype == pl.Int64
    assert read.frame.get_column("transfers").to_list() == [1, None, 2]
    assert read.frame.get_column("source_line").to_list() == [1, 2, 3]


@pytest.mark.parametrize(
    ("value", "kept", "reason"),
    [
        ("2.0", 2, None),
        ("2e0", 2, None),
        ("-0.0", 0, None),
        ("9007199254740993.0", 9007199254740993, None),
        ("2.5", None, "field 'transfers': 2.5 is not a whole number"),
        ("1.0e19", None, "field 'transfers': 1.0e19 is out of range for Int64"),
        ("true", None, "field 'transfers': true is not a whole number"),
    ],
)
def test_jsonl_integer_field_takes_a_whole_number_however_it_is_written(
    tmp_path: Path, value: str, kept: int | None, reason: str | None
) -> None:
    """A whole number beyond 2**53 (which a float cannot hold) is read from its literal."""
    path = tmp_path / "i.jsonl"
    lines = [*_interaction_lines(3), f'{{"interaction_id": "X", "transfers": {value}}}']
    path.write_text("\n".join(lines) + "\n")
    read = read_jsonl_with_lines(path)
    if reason is None:
        assert read.rejects == []
        assert read.frame.get_column("transfers").to_list()[-1] == kept
    else:
        assert [(r.line, r.reason) for r in read.rejects] == [(4, f"malformed JSON: {reason}")]
        assert read.frame.height == 3


def _export_of(
    rows: list[list[tuple[str, object]]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An NDJSON export of ``rows``, one object per row, its (key, value) pairs in order
    (a key may come twice), each value as ``json.dumps`` writes it."""
    import json

    lines = [
        "{" + ", ".join(f'"{key}": {json.dumps(value)}' for key, value in row) + "}" for row in rows
    ]
    path = tmp_path_factory.mktemp("jsonl") / "i.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    # Whole numbers written as floats (2.0, 1e+16), as pandas writes a count, past 2**53 too.
    st.integers(min_value=-(2**64), max_value=2**64).map(float),
    st.text(alphabet=st.sampled_from([*'aZ0 ,:{}"\\', "é", "😀", "\t"]), max_size=6),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["queue", "x"]), st.integers(0, 3), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([*RAW_INTERACTION_SCHEMA, "note", "interaction\\u005fid"]),
                _JSON_VALUES,
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_jsonl_fast_and_exact_paths_agree_on_any_values(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[tuple[str, object]]]
) -> None:
    """Random objects (any JSON type in any field, keys twice, escaped keys) read as they
    run and forced down the exact path give the same rows, values and rejects."""
    path = _export_of(rows, tmp_path_factory)
    with pytest.MonkeyPatch.context() as monkeypatch:
        as_it_runs, exact = _read_both_ways(path, monkeypatch)
    _same_read(as_it_runs, exact)


def test_periods_text_writes_runs_of_days_or_months_as_spans() -> None:
    from datetime import date, timedelta

    from servicelens.ingest.configured import periods_text

    days = [date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 9)]
    assert periods_text(days, "day") == "2026-11-03..2026-11-05, 2026-11-09"
    months = [date(2019, 2, 1), date(2019, 3, 1), date(2019, 5, 1)]
    assert periods_text(months, "month") == "2019-02..2019-03, 2019-05"
    scattered = [date(2026, 1, 1) + timedelta(days=2 * i) for i in range(14)]
    assert periods_text(scattered, "day").endswith("2026-01-23 and 2 more spans")


def test_a_utf8_line_in_a_cp1252_file_is_told_to_repair_not_to_change_the_code_page(
    tmp_path: Path,
) -> None:
    """Found by a trial: a cp1252 export with one line appended as UTF-8 was told to set
    `encoding = "cp850"` with repair_mojibake, which read its own letters wrong ("Geb³hr")
    and repaired nothing. repair_mojibake alone reads it right."""
    from servicelens.ingest.readers import decode_export

    data = "ID;Kommentar\nA1;Gebühr falsch\n".encode("cp1252")
    data += "A2;Gebühr doppelt, Rückruf fehlt\n".encode()
    with pytest.raises(SourceError) as refused:
        decode_export("x.csv", data)
    assert str(refused.value) == (
        # Only the field around the damage is quoted, redacted (a trial's refusal quoted a
        # respondent's name and e-mail from the rest of the line).
        "x.csv: line 3: the text 'GebÃ¼hr doppelt' is UTF-8 in a file read "
        "as cp1252: the file mixes encodings (that line reads 'Gebühr doppelt' "
        "as UTF-8). Set `repair_mojibake = true` in the definition's [read] to read "
        "such lines as UTF-8, keeping `encoding` as it is, or save the file again as UTF-8 "
        "and deliver it again"
    )
    repaired, found = decode_export("x.csv", data, repair_mojibake=True)
    assert repaired.decode() == "ID;Kommentar\nA1;Gebühr falsch\nA2;Gebühr doppelt, Rückruf fehlt\n"
    assert found == "cp1252+repaired"
    # A DOS file (0x81 is "ü" in cp850, nothing in cp1252) with a UTF-8 line: no setting
    # repairs both, so the advice is to save it again.
    dos = "ID;Kommentar\nA1;Gebühr falsch\n".encode("cp850") + "A2;Rückruf fehlt\n".encode()
    with pytest.raises(SourceError, match=r"line 3: .* is UTF-8 in a file read as \S+: the file "
                       r"mixes .*; byte 0x81 on line 2 is not a cp1252 character, so the rest is "
                       r"in another code page\. Save the file again as UTF-8"):  # fmt: skip
        decode_export("x.csv", dos)


def test_a_utf8_file_is_read_as_utf8_unless_only_the_declared_code_page_reads_it() -> None:
    """Found by a trial: a UTF-8 copy read as the declared cp850 (with repair_mojibake) was
    quarantined as mojibake. A cp850 file whose double-encoded letters happen to be valid
    UTF-8 (C7 A6 and C7 B8 are "Ǧ" and "Ǹ" there, letters no code page has) is still read
    as the cp850 declared, and repaired: its cp850 reading is text, its UTF-8 one is not.
    A UTF-8 file that reads as text in neither is UTF-8 (a later trial's re-saved copy)."""
    from servicelens.ingest.landing import Landing
    from servicelens.ingest.readers import declared_encoding_not_used, decode_export

    utf8 = "id,comment\r\nA1,La Pêche, café à deux pas\r\n".encode()
    for repair in (False, True):
        text, found = decode_export("x.csv", utf8, "cp850", repair)
        assert text == utf8 and declared_encoding_not_used(found) == "cp850"
    marked, found = decode_export("x.csv", codecs.BOM_UTF8 + utf8, "cp1252", True)
    assert marked == utf8 and declared_encoding_not_used(found) == "cp1252"
    damaged = b"id,comment\r\nA1,La P\xc7\xa6che, clair \xc7\xb8t\xc7\xb8\r\n"
    text, found = decode_export("x.csv", damaged, "cp850", True)
    assert text.decode() == "id,comment\r\nA1,La Pêche, clair été\r\n"
    assert found == "cp850+repaired" and declared_encoding_not_used(found) is None
    assert decode_export("x.csv", b"id\nA1\n", "cp850")[1] == "cp850"  # ASCII: as declared
    # Text in neither (a cp850 file read as latin-1, saved as UTF-8): UTF-8, left as read.
    twice = "id,comment\r\nA1,FraÇ©che, et Çÿ deux pas\r\n".encode()
    text, found = decode_export("x.csv", twice, "cp850", True)
    assert text == twice and declared_encoding_not_used(found) == "cp850"
    landing = Landing("x.csv", "raw/x.csv", "0" * 64, 1, 0, declared_encoding_not_used="cp850")
    assert landing.notes() == [
        "the file is UTF-8 and was read as UTF-8, not as cp850 as the definition's [read] "
        "declares (read so, its text would be mojibake). If this source now delivers UTF-8 "
        'only, set `encoding = "auto"` there'
    ]


def test_a_utf8_file_with_its_mark_read_as_a_code_page_is_called_utf8() -> None:
    """An operator's trial dropped the call-centre export (UTF-8 with a BOM) into a cp1252
    source's inbox and was told the file mixed encodings and to set repair_mojibake. It was
    then refused as UTF-8; read as cp850 with repair_mojibake, a UTF-8 file lost its rows
    (a later trial), so UTF-8 marked as such is read as UTF-8, the read saying what the
    definition declared (for the run's note on the delivery)."""
    from servicelens.ingest.readers import declared_encoding_not_used, decode_export

    export = next((FIELD / "10-call-centre-dayfirst-excel").glob("*.csv"))
    for repair in (False, True):
        text, found = decode_export(str(export), export.read_bytes(), "cp1252", repair)
        assert text == export.read_bytes()[len(codecs.BOM_UTF8) :]
        assert declared_encoding_not_used(found) == "cp1252"


@pytest.mark.parametrize(
    ("wanted", "suggested"),
    [
        ("Kommentr", "Kommentar"),  # a letter left out
        ("Komentar", "Kommentar"),
        ("Date recieved", "Date Received"),  # two letters swapped, and case
        ("nsp score", "nps_score"),  # punctuation
        ("Submit Date (UTC)", None),  # another word, not a typo of it (trial 87)
        ("Datum", None),
    ],
)
def test_did_you_mean_offers_a_misspelling_never_another_word(
    wanted: str, suggested: str | None
) -> None:
    """Found by a user trial: "did you mean 'Start Date (UTC)'" for a missing `Submit Date
    (UTC)`: accepting it would read the wrong timestamps. Each word that differs must be
    within a typo of its counterpart."""
    from servicelens.ingest.readers import closest_column
    from servicelens.validation.expectations import validate_survey_batch

    header = ["#", "Start Date (UTC)", "Network ID", "Kommentar", "Date Received", "nps_score"]
    assert closest_column(wanted, header) == suggested
    if suggested is None:  # the sample layout's required columns are offered alike
        renamed = [c if c != "submitted_at" else "started_at" for c in RAW_SURVEY_COLUMNS]
        assert "did you mean" not in validate_survey_batch(renamed, 3, line=1)[0]


def test_another_number_of_a_coded_column_is_named_alike_not_a_misspelling() -> None:
    """Found by a new-user trial: a definition's ``Q3`` where the Qualtrics export has Q1
    and Q2 got no suggestion, and the shortened header hid them. Another number is another
    question (no "did you mean 'Q12'" for ``Q13``: it would read the wrong answers); the
    columns coded alike are named, nearest number first, and kept in a header cut short."""
    from servicelens.ingest.readers import (
        closest_column,
        columns_coded_alike,
        could_be_misspelt,
        header_excerpt,
    )

    header = ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)"]
    header += ["Finished", "RecordedDate", "ResponseId", "RecipientLastName", "RecipientEmail"]
    header += ["LocationLatitude", "LocationLongitude", "Q1", "Q2", "Q2 - Topics", "Q12"]
    assert not could_be_misspelt("Q13", "Q12") and not could_be_misspelt("QID3", "qid_2")
    assert could_be_misspelt("Q3", "q_3") and could_be_misspelt("Kommentr", "Kommentar")
    assert closest_column("Q13", header) is None
    alike = columns_coded_alike("Q3", header)
    assert alike == ["Q2", "Q1", "Q12"] and columns_coded_alike("comment", header) == []
    assert header_excerpt(header, alike).endswith("'Q1', 'Q2', 'Q12' ... and 3 more")


def test_a_renamed_column_is_offered_among_the_unmapped_never_a_mapped_one(
    tmp_path: Path,
) -> None:
    """Found by a new user's trial: the airline's csat column ``Q1`` renamed
    ``Q1_NPS_GROUP`` was refused with "(the export has 'Q2')", the comment column the
    definition already reads, and ``Q1_NPS_GROUP`` was one of "11 more". A column the
    definition reads is never offered; those holding the missing name come first, then the
    columns it does not read, before those it does."""
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.mapping import MissingColumns, map_export, read_export
    from servicelens.ingest.readers import columns_holding

    header = (FIELD / "01-qualtrics-three-header-rows" / "sample.csv").read_text().split("\n")[0]
    assert ",Q1,Q2," in header
    lines = [header.replace(",Q1,", ",Q1_NPS_GROUP,")]
    lines.append(
        "2018-07-19 11:46:19,2018-07-19 11:47:55,0,203.0.113.249,100,96,1,"
        "2018-07-19 11:47:55,R_V4WTFuq1vq3ozrK,,,,,46.6,6.0,anonymous,DE,2,Hallo Welt!,"
    )
    export = tmp_path / "airline.csv"
    export.write_text("\n".join(lines) + "\n")
    definition = tmp_path / "airline.toml"
    definition.write_text(
        'extends = "qualtrics"\nname = "airline"\n[columns]\ncsat = "Q1"\ncomment = "Q2"\n'
    )
    loaded = load_definition(str(definition))
    with pytest.raises(MissingColumns) as error:
        map_export(loaded, read_export(loaded, str(export)), "UTC")
    message = str(error.value)
    assert "reads column(s) 'Q1' (the export has 'Q1_NPS_GROUP') that the export" in message
    quoted = message[message.index("The export's header has") :]
    assert quoted.startswith("The export's header has 20 columns: 'StartDate', 'EndDate'")
    assert quoted.endswith("'Q1_NPS_GROUP' ... and 9 more")
    assert "'Q2'" not in message.replace("'Q2 - Topics'", "")
    header_of = ["Q10", "Comment on Q1", "Q1_NPS_GROUP", "Q1"]
    assert columns_holding("Q1", header_of) == ["Q1_NPS_GROUP", "Comment on Q1"]


#: Values polars' decoder converts into each type of field without refusing the file, some
#: of them otherwise than the exact decoder (2.5 into an Int64 field, true into a number,
#: a number into text): the lines it must hand to the exact decoder, one by one.
_CONVERTIBLE = {
    pl.Int64(): st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**64), max_value=2**64),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e20, max_value=1e20),
    ),
    pl.Float64(): st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**60), 2**60),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    pl.Boolean(): st.one_of(st.none(), st.booleans()),
    pl.String(): st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-1000, 1000),
        st.sampled_from(["true", "12", "1.5", "{}", "[]"]),
        st.text(alphabet=st.sampled_from([*'aZ0 ,:{}"\\', "é", "1"]), max_size=6),
    ),
}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([*RAW_INTERACTION_SCHEMA, "interaction\\u005fid"]).flatmap(
                lambda key: st.tuples(
                    st.just(key),
                    _CONVERTIBLE[RAW_INTERACTION_SCHEMA.get(key, pl.String())],
                )
            ),
            max_size=5,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_jsonl_lines_polars_reads_apart_go_to_the_exact_decoder_one_by_one(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[tuple[str, object]]]
) -> None:
    """Files polars' decoder reads through (no value it refuses), some of whose lines it
    reads otherwise than the exact decoder: the read as it runs (polars, those lines alone
    sent on) and the exact read give the same rows, values and rejects."""
    from servicelens.ingest import readers

    path = _export_of(rows, tmp_path_factory)
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast = readers._decode_json_fast(
            lambda: readers._numbered_lines(str(path), False), RAW_INTERACTION_SCHEMA, None
        )
        assert fast is not None, "polars' decoder refused a value it converts"
        as_it_runs, exact = _read_both_ways(path, monkeypatch)
    _same_read(as_it_runs, exact)


@pytest.mark.parametrize(
    ("encoding", "unicode"),
    [
        ("utf-8", True),
        ("utf-8-sig+repaired", True),
        ("utf-16-le", True),
        ("utf-8+repaired, not the declared cp850", True),
        ("cp850+repaired", False),
        ("latin-1", False),
    ],
)
def test_read_as_unicode_reads_what_decode_export_returned(encoding: str, unicode: bool) -> None:
    from servicelens.ingest.readers import read_as_unicode

    assert read_as_unicode(encoding) is unicode


def test_a_missing_column_beside_only_mapped_ones_is_named_not_a_library_error(
    tmp_path: Path,
) -> None:
    """Found by a new user's trial: a semicolon export without its ``Kundennummer`` column,
    every other column of it read by the definition, failed ``sources check`` and the
    nightly with difflib's "n must be > 0: 0" (no column was left to offer). It gets the
    missing-column message: file, header line, the column, the header, what to change."""
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.mapping import MissingColumns, map_export, read_export

    definition = tmp_path / "cx-euro.toml"
    definition.write_text(
        'name = "cx-euro"\ntimezone = "Europe/Berlin"\n[read]\ndelimiter = ";"\n'
        'decimal_comma = true\n[columns]\nresponse_id = "Antwort-ID"\n'
        'customer_id = "Kundennummer"\n'
        'submitted_at = { column = "Eingangsdatum", format = "%d.%m.%Y %H:%M" }\n'
        'comment = "Kommentar"\n'
    )
    export = tmp_path / "euro.csv"
    export.write_text(
        "Antwort-ID;Eingangsdatum;Kommentar\nA-30000;03.12.2026 01:55;Schnell geholfen\n"
    )
    loaded = load_definition(str(definition))
    with pytest.raises(MissingColumns) as error:
        map_export(loaded, read_export(loaded, str(export)), "UTC")
    assert str(error.value) == (
        f"{export}: line 1 (header): definition {definition} reads column(s) 'Kundennummer' "
        "that the export does not have. If the export lost them (a column deleted or renamed "
        "on the way), deliver it again with them; if this is how the export is now, map it "
        "in [columns], [attributes] or [[exclude]] of the definition. The export's header "
        "has 3 columns: 'Antwort-ID', 'Eingangsdatum', 'Kommentar'"
    )


@pytest.mark.parametrize(
    ("wanted", "header", "suggested"),
    [
        # Renamed by the vendor (a new user's Typeform trial), beside the wrong timestamp.
        (
            "Submit Date (UTC)",
            ["#", "Start Date (UTC)", "Submitted At (UTC)"],
            "Submitted At (UTC)",
        ),
        ("RecordedDate", ["StartDate", "Recorded At", "EndDate"], "Recorded At"),
        # Other columns of near names: none is offered.
        ("Customer ID", ["Customer Name", "Customer Type"], None),
        ("Interaction ID", ["Interaction Type"], None),
        ("Kundennummer", ["Kundenname"], None),
        ("Bearbeitungszeit (Min)", ["Bearbeitungszeit (Sek)"], None),
        ("Email Address", ["IP Address"], None),
        ("QID1234", ["QID1235"], None),
        ("created_at", ["updated_at"], None),
    ],
)
def test_did_you_mean_offers_a_renamed_column_near_in_whole(
    wanted: str, header: list[str], suggested: str | None
) -> None:
    """Found by a new user's trial: Typeform renamed ``Submit Date (UTC)`` to ``Submitted At
    (UTC)`` and the refusal offered nothing ("Date" and "At" are other words, not a typo of
    each other). A column whose whole name is near enough (rapidfuzz's ratio) is offered;
    columns of other things with near names, and another number of a code, are not."""
    from servicelens.ingest.readers import closest_column

    assert closest_column(wanted, header) == suggested


def test_the_missing_column_message_quotes_the_header_in_file_order(tmp_path: Path) -> None:
    """Found by a new user's trial: the refusal of a Typeform export whose ``Submit Date
    (UTC)`` was renamed listed its header neither in file order nor alphabetically (``#``,
    the first column, sixth), the columns the definition does not read first. The header is
    quoted in file order; a long one is cut to the suggested and unread columns first, still
    in file order."""
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.mapping import MissingColumns, map_export, read_export
    from servicelens.ingest.readers import header_excerpt

    definition = tmp_path / "cx-typeform.toml"
    definition.write_text(
        'extends = "typeform"\nname = "cx-typeform"\n[columns]\n'
        'submitted_at = { column = "Submit Date (UTC)", format = "%Y-%m-%d %H:%M" }\n'
        'comment = "Tell us more"\ncustomer_id = "customer_ref"\n'
    )
    export = tmp_path / "typeform.csv"
    export.write_text(
        "#,Tell us more,customer_ref,Start Date (UTC),Submitted At (UTC),Network ID\n"
        "5d6424c9,Great service,C00022,2026-12-02 1:55,2026-12-02 1:55,ab12cd34ef\n"
    )
    loaded = load_definition(str(definition))
    with pytest.raises(MissingColumns) as error:
        map_export(loaded, read_export(loaded, str(export)), "UTC")
    message = str(error.value)
    assert "'Submit Date (UTC)' (did you mean 'Submitted At (UTC)'?)" in message
    assert message.endswith(
        "The export's header has 6 columns: '#', 'Tell us more', 'customer_ref', "
        "'Start Date (UTC)', 'Submitted At (UTC)', 'Network ID'"
    )
    header = [f"Question {i} of the survey, asked of every respondent" for i in range(9)]
    header += ["Submitted At (UTC)"]
    assert header_excerpt(header, ["Submitted At (UTC)"]) == (
        f"10 columns: {header[0]!r}, {header[1]!r}, {header[2]!r}, 'Submitted At (UTC)' ... "
        "and 6 more"
    )


def test_a_contact_feeds_unreadable_re_delivery_is_told_as_a_contact_and_its_started_at() -> None:
    """A contact feed's row (a contact, dated by started_at) that re-delivers one landed
    before with a start that cannot be read was told as "re-delivers a response ... with a
    submitted_at": the feed's own terms now, with the export's name for its start column;
    a survey export's note is as it was."""
    from datetime import date

    from servicelens.ingest.landing import Landing

    kept = {date(2026, 11, 3): [4, 7]}
    feed = Landing(
        "contacts.csv",
        "raw/contacts.csv",
        "0" * 64,
        2,
        0,
        older_copies_kept=kept,
        contact_start_column=("Start Time",),
        landed_on=date(2026, 11, 6),
    )
    assert feed.notes() == [
        "lines 4, 7 re-deliver contacts landed before (in 2026-11-03's partition) with a "
        "started_at ('Start Time') that cannot be read: they are quarantined under the day "
        "the delivery was landed, 2026-11-06, apart, and the older copies stay in the marts. "
        "Fix 'Start Time' in the export (or the format of started_at in the definition's "
        "[interactions.columns]) and deliver it again to replace the older copies"
    ]
    survey = Landing("s.csv", "raw/s.csv", "0" * 64, 2, 0, older_copies_kept=kept)
    assert survey.notes()[0].startswith(
        "lines 4, 7 re-deliver responses landed before (in 2026-11-03's partition) with a "
        "submitted_at that cannot be read"
    )
