"""The interaction exports' UTF-8 and CR check is taken from the read that hashes them
(``readers.sha256_checking_text``), not from a second read of the file: the hash must be
the file's sha256, the verdict the one a read of its own gives, and the JSON Lines reader
must read a file so checked exactly as it reads one it checks itself."""

from __future__ import annotations

import codecs
import hashlib
import io
import os
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servicelens.ingest import readers
from servicelens.ingest.readers import RawRead, read_jsonl_with_lines, sha256_checking_text
from servicelens.storage.partitions import PendingChecksums
from tests.unit.test_utf8_check import _python_says

RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Characters of every UTF-8 length, CR and LF, and damage: a lone continuation byte, an open
#: lead byte, a surrogate, an overlong form.
_PIECES = st.sampled_from(
    [
        b"a",
        b"\n",
        b"\r",
        "é".encode(),
        "€".encode(),
        "😡".encode(),
        b"\x80",
        b"\xf0\x9f",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
    ]
)


@RELAXED
@given(st.lists(_PIECES, max_size=40).map(b"".join), st.integers(1, 9))
def test_one_read_gives_the_sha256_and_the_check_of_its_own_read(data: bytes, piece: int) -> None:
    """Wherever the pieces are cut, and after an invalid piece too, every byte is hashed
    once and the verdict is the check's own (and Python's strict decoder's)."""
    digest = hashlib.sha256()
    valid, carriage_return = readers._utf8_and_cr(io.BytesIO(data), piece=piece, digest=digest)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    assert valid == _python_says(data)
    alone = readers._utf8_and_cr(io.BytesIO(data), piece=piece)
    assert valid == alone[0]
    if valid:
        assert carriage_return == alone[1] == (b"\r" in data)


def _lines(n: int) -> list[str]:
    return [
        f'{{"interaction_id": "I{i}", "customer_id": "C{i % 7}", "queue": "délivery", '
        f'"transfers": {i % 3}, "sla_met": true}}'
        for i in range(n)
    ]


def _read_as_is(read: RawRead) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    return read.frame.drop("source_file"), [(r.line, r.text, r.reason) for r in read.rejects]


def test_a_file_checked_while_hashed_reads_as_one_checked_by_its_reader(tmp_path: Path) -> None:
    """Plain UTF-8 is streamed; CR line ends, a legacy encoding or a byte that is not UTF-8
    deep in the file (after the first piece the check reads) are decoded in memory: the
    hashing pass's verdict decides the same, and the rows and rejects are the same."""
    lines = _lines(300)
    lines[5] = '{"interaction_id": "I5", "que'
    text = "\n".join(lines) + "\n"
    variants = {
        "plain.jsonl": text.encode(),
        "crlf.jsonl": text.replace("\n", "\r\n").encode(),
        "cp1252.jsonl": text.encode("cp1252"),
        "late_cr.jsonl": text.encode() + b'{"interaction_id": "I9\r"}\n',
        "late_byte.jsonl": text.encode() + b'{"interaction_id": "I\xe99"}\n',
        "bom.jsonl": codecs.BOM_UTF8 + text.encode(),
    }
    for name, data in variants.items():
        unhashed = tmp_path / "unhashed" / name
        unhashed.parent.mkdir(exist_ok=True)
        unhashed.write_bytes(data)
        hashed = tmp_path / name
        hashed.write_bytes(data)
        assert sha256_checking_text(hashed) == hashlib.sha256(data).hexdigest()
        streamed = readers._PlainUtf8File.open(str(hashed))
        assert (streamed is not None) == (name == "plain.jsonl"), name
        if streamed is not None:
            streamed.close()
        frame, rejects = _read_as_is(read_jsonl_with_lines(hashed))
        own_frame, own_rejects = _read_as_is(read_jsonl_with_lines(unhashed))
        assert frame.equals(own_frame), name
        assert rejects == own_rejects, name


def test_a_file_changed_after_it_was_hashed_is_checked_again(tmp_path: Path) -> None:
    """The verdict belongs to the file as it was hashed: a file rewritten since (here with
    CR line ends, the same size and another modification time) is checked by its reader,
    and its CRs are kept in the rejects' text."""
    path = tmp_path / "interactions.jsonl"
    plain = '{"interaction_id": "I1"}\n{"interaction_id": "I2", "que\n'
    path.write_text(plain)
    sha256_checking_text(path)
    crlf = plain.replace("}\n", "}\r").encode()
    assert len(crlf) == len(plain.encode())
    path.write_bytes(crlf)
    stamp = path.stat()
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    assert readers._PlainUtf8File.open(str(path)) is None
    read = read_jsonl_with_lines(path)
    assert [r.text for r in read.rejects] == [
        '{"interaction_id": "I1"}\r{"interaction_id": "I2", "que'
    ]


def test_pending_checksums_take_the_hasher_given(tmp_path: Path) -> None:
    """A date's checksums hash its interaction exports with the text check: their verdicts
    are kept for the reader, and the checksums are the files' sha256."""
    paths = [tmp_path / f"{i}.jsonl" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_text("\n".join(_lines(10 + i)) + "\n")
    readers._TEXT_CHECKED_WHILE_HASHED.clear()
    found = PendingChecksums(paths, hasher=sha256_checking_text).all()
    assert found == {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert sorted(k[0] for k in readers._TEXT_CHECKED_WHILE_HASHED) == sorted(
        str(p.resolve()) for p in paths
    )
    assert set(readers._TEXT_CHECKED_WHILE_HASHED.values()) == {(True, False)}
