"""The path abstraction: local paths stay pathlib.Path; URLs get a Path-like RemotePath."""

from __future__ import annotations

import uuid
from pathlib import Path

import polars as pl
import pytest

from servicelens.settings import Settings
from servicelens.storage.fs import (
    RemotePath,
    as_path,
    local_folder_for,
    read_parquet,
    write_parquet,
)


@pytest.fixture
def root() -> RemotePath:
    return RemotePath(f"memory://servicelens-{uuid.uuid4().hex[:8]}")


def test_local_data_dirs_stay_pathlib(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    assert isinstance(settings.root, Path)
    assert isinstance(settings.clean_dir, Path)
    assert as_path("relative/dir") == Path("relative/dir")


def test_urls_become_remote_paths_with_the_same_layout() -> None:
    settings = Settings(data_dir="s3://bucket/prefix/")
    assert isinstance(settings.root, RemotePath)
    assert str(settings.clean_dir) == "s3://bucket/prefix/clean/responses"
    assert settings.clean_dir.name == "responses"
    assert str(settings.clean_dir.parent) == "s3://bucket/prefix/clean"
    with pytest.raises(ValueError, match="is not a URL"):
        RemotePath("bucket/prefix")


def test_remote_files_read_write_and_list(root: RemotePath) -> None:
    (root / "a" / "one.txt").write_text("1")
    (root / "a" / "two.txt").write_text("2")
    assert (root / "a").exists() and not (root / "b").exists()
    assert [p.name for p in root.glob("a/*.txt")] == ["one.txt", "two.txt"]
    assert (root / "a" / "two.txt").read_text() == "2"
    frame = pl.DataFrame({"x": [1, 2, 3]})
    write_parquet(frame, root / "t.parquet")
    assert read_parquet(str(root / "t.parquet")).equals(frame)


def test_a_writer_that_fails_leaves_the_previous_object(root: RemotePath) -> None:
    target = root / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), target.open("wb") as handle:
        handle.write(b"half of the new")
        raise RuntimeError("the writer died")
    assert target.read_bytes() == b"old"
    with target.open("wb") as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"


def test_files_written_locally_are_uploaded_under_a_remote_root(root: RemotePath) -> None:
    with local_folder_for(root) as folder:
        (folder / "raw" / "2026-10-01").mkdir(parents=True)
        (folder / "raw" / "2026-10-01" / "surveys.csv").write_text("response_id\nR1\n")
    assert (root / "raw" / "2026-10-01" / "surveys.csv").read_text() == "response_id\nR1\n"
