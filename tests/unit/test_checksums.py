"""Input checksums: hashed on threads while other files are read, equal to hashing in turn."""

from __future__ import annotations

import hashlib
from pathlib import Path

from servicelens.storage.partitions import PendingChecksums, checksums


def _files(tmp_path: Path) -> list[Path]:
    paths = []
    for i, size in enumerate([0, 10, 3 << 20, 5 << 20 | 7]):
        path = tmp_path / f"file{i}.bin"
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        paths.append(path)
    return [*paths, tmp_path / "missing.csv"]


def test_pending_checksums_equal_checksums_and_hashlib(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    expected = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths[:-1]}
    pending = PendingChecksums(paths)
    # One file first (the survey export, read while the others hash), then all of them.
    assert pending.of([paths[2], paths[-1]]) == {str(paths[2]): expected[str(paths[2])]}
    every = pending.all()
    assert every == expected == checksums(paths)
    assert list(every) == [str(p) for p in paths[:-1]]  # in the order given, missing left out


def test_a_file_read_here_is_hashed_from_the_bytes_read(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    expected = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths[:-1]}
    pending = PendingChecksums(paths, read_here=[paths[2]])
    data = pending.read(paths[2])
    assert data == paths[2].read_bytes()
    # Replaced after it was read: the checksum still describes the bytes the caller parses.
    paths[2].write_bytes(b"replaced")
    every = pending.all()
    assert every == expected
    assert list(every) == [str(p) for p in paths[:-1]]


def test_a_file_named_but_never_read_is_hashed_from_the_file(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    expected = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths[:-1]}
    pending = PendingChecksums(paths, read_here=[paths[3], paths[-1]])
    assert pending.of([paths[3]]) == {str(paths[3]): expected[str(paths[3])]}
    assert pending.all() == expected
