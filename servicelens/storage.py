"""Persistence: hive partitions swapped in whole, manifests, and frames staged between tasks.

A partition is written complete into the staging area, then swapped into place with two
renames on the same filesystem. A reader therefore sees the old partition or the new one,
never a half-written file; if a process dies between the two renames, :func:`recover_partitions`
puts the previous version back before the next write.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from models.registry import sha256_file
from transforms.schemas import PARTITION_COLUMN, conform

MANIFEST_FILE = "_manifest.json"
DATA_FILE = "part-0.parquet"


def partition_dir(table_dir: Path, day: date) -> Path:
    return table_dir / f"{PARTITION_COLUMN}={day.isoformat()}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file_durably(path: Path, payload: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def write_partition(
    frame: pl.DataFrame,
    table_dir: Path,
    day: date,
    schema: dict[str, pl.DataType],
    manifest: dict[str, Any],
    staging_dir: Path,
) -> Path:
    """Replace the ``day`` partition of ``table_dir`` with ``frame`` and its manifest, whole.

    The frame is conformed to ``schema`` (the mart contract) before anything is written, so a
    contract violation fails before the old partition is touched. The partition column is not
    stored in the file: it lives in the directory name, as hive readers expect.
    """
    data = conform(frame, schema).drop(PARTITION_COLUMN)
    recover_partitions(table_dir, staging_dir)
    token = uuid.uuid4().hex[:12]
    staging_dir.mkdir(parents=True, exist_ok=True)
    new = staging_dir / f"new-{table_dir.name}-{day.isoformat()}-{token}"
    new.mkdir(parents=True)
    data.write_parquet(new / DATA_FILE, compression="zstd", statistics=True)
    with (new / DATA_FILE).open("rb") as handle:
        os.fsync(handle.fileno())
    full_manifest = {
        **manifest,
        "table": table_dir.name,
        PARTITION_COLUMN: day.isoformat(),
        "rows": data.height,
        "columns": {name: str(dtype) for name, dtype in schema.items()},
        "written_at": datetime.now(UTC).isoformat(),
    }
    _write_file_durably(
        new / MANIFEST_FILE, json.dumps(full_manifest, indent=2, default=str).encode()
    )
    _fsync_dir(new)

    target = partition_dir(table_dir, day)
    table_dir.mkdir(parents=True, exist_ok=True)
    old = staging_dir / f"old-{table_dir.name}-{day.isoformat()}-{token}"
    # The record of which table a parked partition belongs to, for recovery after a crash.
    (staging_dir / f"{old.name}.target").write_text(str(target))
    if target.exists():
        target.rename(old)
    new.rename(target)
    _fsync_dir(table_dir)
    shutil.rmtree(old, ignore_errors=True)
    (staging_dir / f"{old.name}.target").unlink(missing_ok=True)
    return target


def recover_partitions(table_dir: Path, staging_dir: Path) -> list[Path]:
    """Undo swaps a crash interrupted: put parked old partitions back where none stands now.

    Returns the partitions restored. Half-written new partitions are simply removed.
    """
    restored: list[Path] = []
    if not staging_dir.exists():
        return restored
    for marker in staging_dir.glob(f"old-{table_dir.name}-*.target"):
        parked = staging_dir / marker.name.removesuffix(".target")
        target = Path(marker.read_text())
        if parked.exists() and not target.exists():
            parked.rename(target)
            restored.append(target)
        shutil.rmtree(parked, ignore_errors=True)
        marker.unlink(missing_ok=True)
    for leftover in staging_dir.glob(f"new-{table_dir.name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return restored


def read_manifest(table_dir: Path, day: date) -> dict[str, Any] | None:
    """The manifest of a partition, or None if the partition does not exist."""
    path = partition_dir(table_dir, day) / MANIFEST_FILE
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def scan_table(table_dir: Path) -> pl.LazyFrame:
    """Lazily read every partition of a table, with the partition column restored."""
    return pl.scan_parquet(
        table_dir / f"{PARTITION_COLUMN}=*" / "*.parquet",
        hive_partitioning=True,
        hive_schema={PARTITION_COLUMN: pl.Date()},
    )


def read_partition(table_dir: Path, day: date) -> pl.DataFrame:
    """One partition, with its partition column."""
    path = partition_dir(table_dir, day) / DATA_FILE
    return pl.read_parquet(path).with_columns(pl.lit(day).alias(PARTITION_COLUMN))


def checksums(paths: list[Path]) -> dict[str, str]:
    """sha256 of each existing input file, keyed by path."""
    return {str(p): sha256_file(p) for p in paths if p.exists()}


def code_version() -> str:
    """The git commit of the code, with ``-dirty`` for uncommitted changes, if known."""
    here = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        return f"servicelens-{version('servicelens')}"


def stage_frame(frame: pl.DataFrame, staging_dir: Path, run_id: str, name: str) -> Path:
    """Write a frame handed between tasks; tasks pass this path, not the frame."""
    target = staging_dir / "runs" / run_id / f"{name}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(target, compression="lz4")
    return target


def drop_run_staging(staging_dir: Path, run_id: str) -> None:
    shutil.rmtree(staging_dir / "runs" / run_id, ignore_errors=True)
