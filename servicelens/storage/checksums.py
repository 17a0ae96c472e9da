"""File checksums: standard library only, so that ``models.registry`` (which records a model
file's) and the partition manifests share one without importing each other."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servicelens.storage.fs import DataPath


def sha256_file(path: DataPath) -> str:
    """The hex sha256 of the file at ``path`` (local or object store), read in 1 MiB blocks.

    Raises whatever opening ``path`` raises (FileNotFoundError for a missing file)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
