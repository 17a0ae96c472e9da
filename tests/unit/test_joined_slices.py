"""The survey reader streams its well-formed records to pyarrow around the rejects
(``readers.JoinedSlices``) instead of joining them into one copy: the stream must give the
join's bytes, and a read through it the rows, lines and rejects a read of the join gives."""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servicelens.ingest import readers
from servicelens.ingest.readers import JoinedSlices, SourceError, read_csv_with_lines

RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def data_and_slices(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    data = draw(st.binary(max_size=300))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    return data, pairs


@RELAXED
@given(data_and_slices(), st.integers(1, 64))
def test_the_stream_gives_the_bytes_of_the_join(
    case: tuple[bytes, list[tuple[int, int]]], buffer_size: int
) -> None:
    data, slices = case
    stream = io.BufferedReader(JoinedSlices(data, slices), buffer_size)
    pieces = []
    while chunk := stream.read(buffer_size):
        pieces.append(chunk)
    assert b"".join(pieces) == b"\n".join(data[a:b] for a, b in slices)


class _Joined(io.BytesIO):
    """The join the reader built before the stream: the reference."""

    def __init__(self, data: bytes, slices: Iterable[tuple[int, int]]) -> None:
        super().__init__(b"\n".join(data[int(a) : int(b)] for a, b in slices))


HEADER = "response_id,interaction_id,comment,csat\n"
#: Exports with rejects (so the reader takes the well-formed records around them) and what
#: breaks readers: ragged lines, quoted newlines, CRLF, BOMs, NUL, a truncated last line, in
#: UTF-8, cp1252 and UTF-16.
ADVERSARIAL = {
    "ragged": HEADER + "R1,I1,fine,4\nR2,I2,one,too,many,5\nR3,I3,ok,3\nR4,I4\nR5,I5,end,2\n",
    "quoted_newlines": HEADER
    + 'R1,I1,"two\nlines",4\nR2,I2,x,y,z,5\nR3,I3,"a ""quoted""\r\nword",3\n',
    "crlf": (HEADER + 'R1,I1,a,4\nR2,I2,b\nR3,I3,c,5\nR4,I4,"d,e",1\n').replace("\n", "\r\n"),
    "boms": "\ufeff" + HEADER + "R1,I1,a,4\nR2,I2,x,y,5,6\n\ufeffR3,I3,c,2\n",
    "nul": HEADER + "R1,I1,a,4\nR2,I2,x,y,5,6\nR3,I3,nul\x00here,2\n",
    "truncated": HEADER + "R1,I1,a,4\nR2,I2,b,c,d\nR3,I3,c,5\nR4,I4,cut of",
    "cp1252": HEADER + "R1,I1,café crème,4\nR2,I2,x,y,z,1\nR3,I3,naïve €,5\n",
    "utf16": HEADER + "R1,I1,Grüße,4\nR2,I2,x,y,z\nR3,I3,ok,5\n",
    "blank_and_spaces": HEADER + "R1,I1,a,4\n\n   \nR2,I2,b,c,d,e\n,,,\nR3,I3,c,5\n",
}
ENCODINGS = {"cp1252": "cp1252", "utf16": "utf-16"}


def _encoded(name: str) -> bytes:
    text = ADVERSARIAL[name]
    if name == "utf16":
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return text.encode(ENCODINGS.get(name, "utf-8"))


def _read_or_refusal(path: Path) -> tuple[pl.DataFrame, list[readers.Reject], str] | str:
    """The rows, rejects and encoding of a read of ``path``, or the message refusing it."""
    try:
        read = read_csv_with_lines(path)
    except SourceError as error:
        return str(error)
    return read.frame, read.rejects, read.encoding


def _assert_same(streamed: object, joined: object) -> None:
    if isinstance(streamed, str) or isinstance(joined, str):
        assert streamed == joined
        return
    assert isinstance(streamed, tuple) and isinstance(joined, tuple)
    assert streamed[0].equals(joined[0])
    assert streamed[1:] == joined[1:]


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_a_read_through_the_stream_equals_a_read_of_the_join(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"{name}.csv"
    path.write_bytes(_encoded(name))
    streamed = _read_or_refusal(path)
    if name != "nul":  # refused whole: a NUL byte says it is no text file
        assert not isinstance(streamed, str) and streamed[1], "read around its rejects"
    monkeypatch.setattr(readers, "JoinedSlices", _Joined)
    _assert_same(streamed, _read_or_refusal(path))


def test_invalid_utf8_gets_the_same_answer_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(HEADER.encode() + b"R1,I1,caf\xc3\xa9,4\nR2,I2,x,y,z\nR3,I3,\xff\xfe bad,5\n")
    streamed = _read_or_refusal(path)
    monkeypatch.setattr(readers, "JoinedSlices", _Joined)
    _assert_same(streamed, _read_or_refusal(path))
