"""Raw readers: every record is either a row with its line or a reject with its line."""

from __future__ import annotations

import codecs
from pathlib import Path

from servicelens.ingest.readers import decode_to_utf8, read_csv_with_lines, read_jsonl_with_lines

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
