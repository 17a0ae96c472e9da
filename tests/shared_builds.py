"""Costly test inputs built once a test run, not once a worker: the first pytest-xdist worker
to ask builds one under a lock in the folder every worker of the run shares, the others wait
for it and read what it left.

A session-scoped fixture is built once per test process, and ``--dist loadfile`` hands the
files that use it to whichever of the three workers is free: the model tests' generated
dates, their labels and trained models were built up to three times a run for the same
results (8 dates of 1,500 surveys validated by Great Expectations, a model cross-validated,
a boosted design fitted: 18.1 s of user CPU on 2026-12-07). What a test reads is unchanged:
the same deterministic build, and each process gets its own unpickled objects.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder every worker of this test run shares: pytest's base temporary folder
    (under xdist, the parent of each worker's own), pruned by pytest as its other folders
    are; never the repository."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root / name``, a folder ``build`` filled (given it, empty) for the first caller of
    the run; later callers, in any worker, wait on its lock and get it as it was left.
    A build that raises leaves no mark: the next caller builds again (and fails alike).

    The folder is shared: read it, or copy it before writing (``shutil.copytree``)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / f"{name}.done").exists():
            build(folder)
            (root / f"{name}.done").touch()
    return folder


def pickled_once(root: Path, name: str, make: Callable[[], T]) -> T:
    """What ``make`` returns, made by the first caller of the run (:func:`built_once`) and
    pickled; each caller gets its own unpickled copy. For the run's own objects only:
    unpickling runs code, and nothing but this module writes these files."""

    def build(folder: Path) -> None:
        (folder / "object.pickle").write_bytes(pickle.dumps(make()))

    folder = built_once(root, name, build)
    made: T = pickle.loads((folder / "object.pickle").read_bytes())
    return made
