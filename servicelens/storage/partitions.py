"""Persistence: hive partitions swapped in whole, manifests, and frames staged between tasks.

A partition is written complete into the staging area, then swapped into place with one atomic
exchange on the same filesystem (Linux ``renameat2``), so a reader, or a process killed at
any point, sees the old partition or the new one, never half of one. Where the exchange is not
available the swap takes two renames, and if a process dies between them
:func:`recover_partitions` puts the previous version back before the next write. Writers of
one partition hold its lock while they swap.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from servicelens.checkpoints import checkpoint
from servicelens.storage.checksums import sha256_file
from servicelens.storage.fs import (
    DataPath,
    RemotePath,
    encode_parquet,
    machine_folder_for,
    os_error_of,
    read_parquet,
    remove_tree,
    size_of,
    write_parquet,
    write_text_whole,
)
from servicelens.storage.locks import exclusive_lock, partition_lock_path
from transforms.schemas import PARTITION_COLUMN, conform

MANIFEST_FILE = "_manifest.json"
DATA_FILE = "part-0.parquet"


_Dir = TypeVar("_Dir", Path, RemotePath, DataPath)


def partition_dir(table_dir: _Dir, day: date) -> _Dir:
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


class StorageError(OSError):
    """A partition could not be written (disk full, read-only folder, ...); the previous
    version of the partition is untouched. The message names the path and what to do."""

    #: The file that could not be written (a staged file, a lock file), or the partition.
    path: str | None = None


#: How long a writer waits for another writer of the same partition to finish its swap.
PARTITION_LOCK_WAIT_SECONDS = 120.0
_RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths atomically


def locks_dir(staging_dir: DataPath) -> Path:
    """Where the lock files of dates and partitions live (beside the staged partitions).

    Locks are ``flock`` locks, which need a local file. For an object-store data directory
    the lock files live in a local temporary folder named after the store's URL instead, so
    runs and writers on this machine (threads, processes, a local Dask cluster's workers)
    still take turns. Runs on OTHER machines writing the same store are not kept apart by
    them: there the partition guarantee rests on the single-PUT write and the manifest's
    ``data_sha256`` (see :func:`_put_partition`), and the last writer wins.
    """
    if isinstance(staging_dir, Path):
        return staging_dir / "locks"
    return machine_folder_for(staging_dir, "locks")


def write_partition(
    frame: pl.DataFrame | DataPath,
    table_dir: DataPath,
    day: date,
    schema: dict[str, pl.DataType],
    manifest: dict[str, Any],
    staging_dir: DataPath,
) -> DataPath:
    """Replace the ``day`` partition of ``table_dir`` with ``frame`` and its manifest, whole.

    The frame is conformed to ``schema`` (the mart contract) before anything is written, so a
    contract violation fails before the old partition is touched. The partition column is not
    stored in the file: it lives in the directory name, as hive readers expect. Writers of
    the same partition take turns (a lock per table and date); a disk that is full or
    read-only raises :class:`StorageError` and leaves the previous version in place.

    ``frame`` may instead be a file :func:`stage_partition` wrote for this contract: it is
    already the partition's data file, so it is linked (or copied) into place rather than
    read and encoded again (0.5 s for a 1M date's clean rows). A staged file that does not
    carry exactly the contract's columns and types (staged by another version) is read and
    conformed like a frame.
    """
    target = partition_dir(table_dir, day)
    lock = partition_lock_path(locks_dir(staging_dir), table_dir.name, day)
    try:
        data = _PartitionData.of(frame, schema)
        with exclusive_lock(lock, PARTITION_LOCK_WAIT_SECONDS, f"partition {target}"):
            if isinstance(table_dir, RemotePath):
                return _put_partition(data, table_dir, day, schema, manifest)
            assert isinstance(staging_dir, Path), "a local table stages in a local folder"
            return _write_partition_locked(data, table_dir, day, schema, manifest, staging_dir)
    except OSError as error:
        if isinstance(error, StorageError):
            raise
        failure = StorageError(
            error.errno,
            f"{target}: cannot write the partition: {error.strerror or error} "
            f"({getattr(error, 'filename', None) or staging_dir}). The previous version of the "
            "partition is unchanged; free disk space or make the data directory writable, "
            "then run the date again",
        )
        failure.path = getattr(error, "filename", None) or str(target)
        raise failure from error


def stage_partition(
    frame: pl.DataFrame,
    schema: dict[str, pl.DataType],
    staging_dir: DataPath,
    run_id: str,
    name: str,
) -> DataPath:
    """Stage a frame that a later task publishes as a partition (:func:`write_partition`):
    conformed to ``schema`` and written exactly as a partition's data file is, so publishing
    moves the file instead of encoding the rows twice. Tasks pass this path, not the frame.
    A contract violation fails here, in the task that made the frame: ``ValueError`` naming
    missing columns, or polars' error for a value the contract's type cannot hold
    (:func:`transforms.schemas.conform`)."""
    target = run_staging_dir(staging_dir, run_id) / f"{name}.parquet"
    data = conform(frame, schema).drop(PARTITION_COLUMN)
    if not isinstance(target, Path):
        write_parquet(data, target)  # one PUT: a new object
        return target
    # A new file renamed over the name, never written in place: a published partition may
    # be a hard link to the file staged before under this name (a task run again).
    scratch = target.with_name(f"{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write_parquet(data, scratch)
        scratch.replace(target)
    except (OSError, pl.exceptions.PolarsError) as error:
        # Told before the part-written file is deleted: the full disk is still full then.
        failed = os_error_of(error, target)
        scratch.unlink(missing_ok=True)  # a full disk's part-written file, not left to fill it
        raise failed from error
    return target


class _PartitionData:
    """A partition's data file to be: rows to encode, or a file staged already encoded (a
    local file, or an object store's file as its bytes)."""

    def __init__(self, rows: int, frame: pl.DataFrame | None, staged: Path | bytes | None) -> None:
        self.rows = rows
        self.frame = frame
        self.staged = staged

    @classmethod
    def of(cls, frame: pl.DataFrame | DataPath, schema: dict[str, pl.DataType]) -> _PartitionData:
        if isinstance(frame, pl.DataFrame):
            data = conform(frame, schema).drop(PARTITION_COLUMN)
            return cls(data.height, data, None)
        # A file in an object store is fetched once: its bytes are checked, counted and PUT.
        staged = frame if isinstance(frame, Path) else frame.read_bytes()

        def source() -> Path | io.BytesIO:
            return staged if isinstance(staged, Path) else io.BytesIO(staged)

        contract = {name: dtype for name, dtype in schema.items() if name != PARTITION_COLUMN}
        if list(pl.read_parquet_schema(source()).items()) != list(contract.items()):
            return cls.of(pl.read_parquet(source()), schema)
        # The row count is in the file's metadata: no rows are read.
        return cls(int(pl.scan_parquet(source()).select(pl.len()).collect().item()), None, staged)

    def write(self, path: Path) -> None:
        """Make ``path`` the data file (it must not exist)."""
        if isinstance(self.staged, bytes):
            path.write_bytes(self.staged)
        elif isinstance(self.staged, Path):
            try:
                # The staged name is deleted with the run's staging; stage_partition never
                # writes into a staged file, so the partition's data cannot change under it.
                os.link(self.staged, path)
            except OSError:
                shutil.copyfile(self.staged, path)  # another filesystem, or no hard links
        else:
            assert self.frame is not None
            try:
                encode_parquet(self.frame, path)
            except pl.exceptions.PolarsError as error:
                # polars reports I/O failures (a full disk) as its own errors; keep the OS's
                # words and number.
                raise os_error_of(error, path) from error

    def payload(self) -> bytes:
        """The data file's bytes."""
        if isinstance(self.staged, bytes):
            return self.staged
        if isinstance(self.staged, Path):
            return self.staged.read_bytes()
        assert self.frame is not None
        buffer = io.BytesIO()
        encode_parquet(self.frame, buffer)
        return buffer.getvalue()


def _partition_manifest(
    manifest: dict[str, Any],
    table: str,
    day: date,
    rows: int,
    schema: dict[str, pl.DataType],
    data_bytes: int,
) -> dict[str, Any]:
    """The caller's manifest plus what the partition itself says: table, date, rows, the
    contract's columns, the data file's size in bytes (``data_bytes``: a data file that is
    not the manifest's shows, :func:`torn_partition`) and when it was written."""
    return {
        **manifest,
        "table": table,
        PARTITION_COLUMN: day.isoformat(),
        "rows": rows,
        "columns": {name: str(dtype) for name, dtype in schema.items()},
        "data_bytes": data_bytes,
        "written_at": datetime.now(UTC).isoformat(),
    }


def _write_partition_locked(
    data: _PartitionData,
    table_dir: Path,
    day: date,
    schema: dict[str, pl.DataType],
    manifest: dict[str, Any],
    staging_dir: Path,
) -> Path:
    recover_partitions(table_dir, staging_dir, day)
    token = uuid.uuid4().hex[:12]
    staging_dir.mkdir(parents=True, exist_ok=True)
    new = staging_dir / f"new-{table_dir.name}-{day.isoformat()}-{token}"
    new.mkdir(parents=True)
    try:
        data.write(new / DATA_FILE)
        with (new / DATA_FILE).open("rb") as handle:
            os.fsync(handle.fileno())
        full_manifest = _partition_manifest(
            manifest, table_dir.name, day, data.rows, schema, (new / DATA_FILE).stat().st_size
        )
        _write_file_durably(
            new / MANIFEST_FILE, json.dumps(full_manifest, indent=2, default=str).encode()
        )
        _fsync_dir(new)
    except BaseException:
        # Not yet swapped in: a part-written copy would only keep the disk full.
        shutil.rmtree(new, ignore_errors=True)
        raise
    checkpoint(f"partition-staged:{table_dir.name}")

    target = partition_dir(table_dir, day)
    table_dir.mkdir(parents=True, exist_ok=True)
    if target.exists() and _exchange(new, target):
        # One atomic step: readers and crashes see the old partition or the new one. The old
        # one now sits at ``new``'s path in staging and is removed below (or by recovery).
        _fsync_dir(table_dir)
        checkpoint(f"partition-swapped:{table_dir.name}")
        shutil.rmtree(new, ignore_errors=True)
        return target
    old = staging_dir / f"old-{table_dir.name}-{day.isoformat()}-{token}"
    # Where no atomic exchange exists: two renames, and a durable record of which table a
    # parked partition belongs to, so recovery can put it back after a crash in between.
    marker = staging_dir / f"{old.name}.target"
    try:
        _write_file_durably(marker.with_suffix(".tmp"), str(target).encode())
        marker.with_suffix(".tmp").rename(marker)
    except BaseException:
        marker.with_suffix(".tmp").unlink(missing_ok=True)
        shutil.rmtree(new, ignore_errors=True)
        raise
    _fsync_dir(staging_dir)
    if target.exists():
        target.rename(old)
        checkpoint(f"partition-parked:{table_dir.name}")
    new.rename(target)
    _fsync_dir(table_dir)
    checkpoint(f"partition-swapped:{table_dir.name}")
    shutil.rmtree(old, ignore_errors=True)
    marker.unlink(missing_ok=True)
    return target


def _put_partition(
    data: _PartitionData,
    table_dir: RemotePath,
    day: date,
    schema: dict[str, pl.DataType],
    manifest: dict[str, Any],
) -> RemotePath:
    """The object-store form of :func:`write_partition`: one data object, one PUT.

    An object store has no rename, but a single PUT replaces an object atomically. A partition
    is therefore exactly one data object, serialised in memory and PUT over the old one: a
    reader sees the old rows or the new rows, never a mix. The manifest is PUT after the data
    and records the data's sha256, so a crash between the two PUTs is detectable (the
    manifest's ``data_sha256`` does not match) and the next run of the date repairs it.
    """
    target = partition_dir(table_dir, day)
    payload = data.payload()
    (target / DATA_FILE).write_bytes(payload)
    full_manifest = {
        **_partition_manifest(manifest, table_dir.name, day, data.rows, schema, len(payload)),
        "data_sha256": hashlib.sha256(payload).hexdigest(),
    }
    (target / MANIFEST_FILE).write_text(json.dumps(full_manifest, indent=2, default=str))
    return target


def _exchange(new: Path, target: Path) -> bool:
    """Swap two directories atomically (Linux renameat2 RENAME_EXCHANGE); False if the
    platform or filesystem cannot, so the caller falls back to two renames."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    at_cwd = -100
    if renameat2(at_cwd, os.fsencode(new), at_cwd, os.fsencode(target), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(target))


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def recover_partitions(table_dir: Path, staging_dir: Path, day: date | None = None) -> list[Path]:
    """Undo swaps a crash interrupted: put parked old partitions back where none stands now.

    With ``day``, only that date's partition is looked at (the caller holds its lock, so no
    other process is writing it); without, every date of the table, which is safe only when
    nothing else is writing. Returns the partitions restored. Half-written new partitions,
    and old ones left over after an exchange, are simply removed.
    """
    restored: list[Path] = []
    if not staging_dir.exists():
        return restored
    prefix = f"{table_dir.name}-{day.isoformat()}-" if day else f"{table_dir.name}-"
    for marker in staging_dir.glob(f"old-{prefix}*.target"):
        parked = staging_dir / marker.name.removesuffix(".target")
        target = Path(marker.read_text())
        if parked.exists() and not target.exists():
            parked.rename(target)
            restored.append(target)
        shutil.rmtree(parked, ignore_errors=True)
        marker.unlink(missing_ok=True)
    for leftover in staging_dir.glob(f"new-{prefix}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return restored


def replace_manifest(
    table_dir: DataPath, day: date, manifest: dict[str, Any], staging_dir: DataPath
) -> None:
    """Replace the manifest of ``table_dir``'s existing ``day`` partition with ``manifest``
    whole (a reader sees the old one or the new one), its data file left as it is: for a
    change to what the manifest records about the partition's inputs, not its rows (keep
    ``rows``, ``data_bytes`` and ``data_sha256`` as read, or the partition reads as torn).
    Holds the partition's lock, as :func:`write_partition` does. Raises FileNotFoundError
    when there is no such partition."""
    target = partition_dir(table_dir, day)
    if not (target / DATA_FILE).exists():
        raise FileNotFoundError(errno.ENOENT, "no partition to update the manifest of", str(target))
    lock = partition_lock_path(locks_dir(staging_dir), table_dir.name, day)
    with exclusive_lock(lock, PARTITION_LOCK_WAIT_SECONDS, f"partition {target}"):
        write_text_whole(target / MANIFEST_FILE, json.dumps(manifest, indent=2, default=str))


def read_manifest(table_dir: DataPath, day: date) -> dict[str, Any] | None:
    """The manifest of a partition, or None if the partition does not exist. One read (on
    an object store one GET, not a HEAD and a GET)."""
    path = partition_dir(table_dir, day) / MANIFEST_FILE
    try:
        text = path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    result: dict[str, Any] = json.loads(text)
    return result


def torn_partition(
    data: DataPath, manifest: dict[str, Any], contents: bytes | Path | None = None
) -> str:
    """Why the partition data file ``data`` is not the one its ``manifest`` (as
    :func:`read_manifest` gave it) describes, or "" when it is.

    On an object store the data and the manifest are two PUTs (:func:`_put_partition`): a run
    stopped between them leaves new rows under the previous manifest, whose row counts, run
    id and inputs then describe other rows. The file's size is compared with the manifest's
    ``data_bytes`` (one stat, or one HEAD request); with ``contents`` (the file's bytes, or
    the local file, for a check that reads every file anyway) its sha256 is compared with
    the manifest's ``data_sha256`` too (object-store writes record it). What a manifest
    written before these fields existed does not record is not compared.
    """
    expected = manifest.get("data_bytes")
    stopped = "(a run stopped between writing the data and its manifest)"
    if expected is not None:
        try:
            actual = len(contents) if isinstance(contents, bytes) else size_of(data)
        except FileNotFoundError:
            return f"{data} is not there, though its manifest is {stopped}"
        if actual != expected:
            return f"{data} holds {actual:,} bytes, its manifest describes {expected:,} {stopped}"
    checksum = manifest.get("data_sha256")
    if contents is None or checksum is None:
        return ""
    digest = hashlib.sha256(
        contents.read_bytes() if isinstance(contents, Path) else contents
    ).hexdigest()
    if digest != checksum:
        return f"{data}: its sha256 is {digest[:12]}, its manifest's {checksum[:12]} {stopped}"
    return ""


class SchemaEvolutionError(ValueError):
    """Partitions of one table disagree on a column's type: they cannot be read as one."""


def scan_table(table_dir: DataPath, days: Collection[date] | None = None) -> pl.LazyFrame:
    """Lazily read every partition of a table (or, with ``days``, those dates' partitions
    only), with the partition column restored.

    Schema evolution: contracts only grow (``transforms/schemas.py``), so a partition
    written before a column existed lacks it. Partitions are combined by column name, and a
    column a partition does not have reads as null there. Partitions that disagree on a
    column's type raise :class:`SchemaEvolutionError` naming the table, the column and the
    partitions, and saying to rewrite them (``--rerun all``). Each partition read has its
    schema read first: ``days`` keeps a reader of a few dates (a week's marts, a date's
    contact history) from reading every schema of a table that grows by a partition a day
    (170 monthly partitions of a source took 0.1 s each week, 15 % of its whole run).
    With ``days`` and none of them published, the frame is empty, with the table's columns.

    A partition published while the frame is read does not tear it: each local partition's
    data file is opened once, when this is called, and read from the open file
    (:func:`_open_partitions`); the frame reads the versions published then, each whole. So
    the frame holds open files: it cannot be pickled (polars: ``ScanSources::Files cannot
    be serialized``); pass a table's path between processes, as the tasks do. An object
    store's partitions are read here, one GET each.
    """
    wanted = None if days is None else set(days)
    if isinstance(table_dir, RemotePath):
        # Partitions are read through fsspec (the same client and credentials as writes).
        found = [
            date.fromisoformat(p.parent.name.split("=", 1)[1])
            for p in table_dir.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}")
        ]
        chosen = [d for d in found if wanted is None or d in wanted]
        if not chosen:
            return read_partition(table_dir, found[0]).lazy().head(0) if found else pl.LazyFrame()
        frames = [read_partition(table_dir, day) for day in chosen]
        _check_types(table_dir, {str(d): f.schema for d, f in zip(chosen, frames, strict=True)})
        return pl.concat([f.lazy() for f in frames], how="diagonal_relaxed")
    scans, opened = _open_partitions(table_dir, wanted)
    if not scans:
        if wanted is None:
            return pl.LazyFrame()
        # The table's columns, no rows: any one partition's.
        some, _ = _open_partitions(table_dir, None, first_only=True)
        if not some:
            return pl.LazyFrame()
        return some[0][1].head(0).with_columns(pl.lit(None, pl.Date()).alias(PARTITION_COLUMN))
    schemas = {f"{PARTITION_COLUMN}={day}": scan.collect_schema() for day, scan in scans}
    same = len({tuple(schema.items()) for schema in schemas.values()}) == 1
    if not same:
        _check_types(table_dir, schemas)
    elif not opened:
        # One scan of all the files: polars opens a few at a time.
        return pl.scan_parquet(
            [partition_dir(table_dir, day) / DATA_FILE for day, _ in scans],
            hive_partitioning=True,
            hive_schema={PARTITION_COLUMN: pl.Date()},
        )
    return pl.concat(
        [scan.with_columns(pl.lit(day).alias(PARTITION_COLUMN)) for day, scan in scans],
        how="vertical" if same else "diagonal_relaxed",
    )


def _open_partitions(
    table_dir: Path, wanted: Collection[date] | None, first_only: bool = False
) -> tuple[list[tuple[date, pl.LazyFrame]], bool]:
    """A lazy scan of each published partition of local table ``table_dir`` (of the
    ``wanted`` dates only, when given), in date order (with ``first_only``, of the first
    partition found only); and whether each scan reads a file opened here.

    Each data file is opened once, here, and its scan reads that open file: polars keeps a
    duplicate of the descriptor for as long as the frame lives, and an open file keeps its
    bytes when a publish swaps its partition directory away (:func:`write_partition`). Read
    by path instead, polars (2.1) opens a file once for its footer and again for its row
    groups, and a publish between the two opens mixed two versions (``expected parquet
    magic bytes``, a panic; ``benchmarks/publish_race.py``). A partition swapped after it
    was listed is still there under its name (the swap is one exchange), so it is read at
    its newer version, never lost nor read twice (where the exchange is unavailable and a
    publish takes two renames, a partition listed in the instant between them is left
    out). Projection and predicate pushdown are kept (only the columns and row groups a
    query needs are decoded).

    The price is descriptors: about three per partition while a query reads them (measured:
    a query of 1,500 partitions peaked at 4,117 open files). When the process's hard limit
    of open files cannot allow it (:func:`_allow_open_files`), the scans read the files by
    path, as every reader outside the pipeline does, and are exposed to a publish."""
    if wanted is None:
        days = []
        for folder in table_dir.glob(f"{PARTITION_COLUMN}=*"):
            try:
                days.append(date.fromisoformat(folder.name.split("=", 1)[1]))
            except ValueError:
                continue  # not a partition's folder
    else:
        days = list(wanted)
    # Beyond what the limit of open files allows, partitions are read by path, as every
    # reader outside the pipeline reads them (exposed to a publish between two opens).
    by_path = not _allow_open_files(1 if first_only else len(days))
    scans = []
    for day in sorted(days):
        path = partition_dir(table_dir, day) / DATA_FILE
        try:
            if by_path:
                if path.is_file():
                    scans.append((day, pl.scan_parquet(path)))
            else:
                with path.open("rb") as handle:
                    scans.append((day, pl.scan_parquet(handle)))
        except (FileNotFoundError, NotADirectoryError):
            continue  # no such partition (or a folder without its data file)
        if scans and first_only:
            break
    return scans, not by_path


#: Descriptors left free beside a read's partitions: polars opens a few more as it reads.
_SPARE_DESCRIPTORS = 512


def _allow_open_files(count: int) -> bool:
    """Whether this process may keep ``count`` more files open (three times: polars holds
    about two more descriptors of each while a query reads it; and
    :data:`_SPARE_DESCRIPTORS` beside them), raising its soft limit of open files up to its
    hard limit if that is what it takes. A read keeps one descriptor per partition open
    while its frame lives (:func:`_open_partitions`); a soft limit of 1,024 (a common
    default) is below a few years of daily partitions, and the hard limit usually far
    above it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:  # no procfs: count the limit as the whole allowance
        in_use = 0
    # Polars holds about two more descriptors of each file while a query reads it.
    needed = in_use + 3 * count + _SPARE_DESCRIPTORS
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return True
    if hard != resource.RLIM_INFINITY and hard < needed:
        return False
    raised = needed if hard == resource.RLIM_INFINITY else min(hard, max(needed, 2 * soft))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    except (ValueError, OSError):
        return False
    return True


def _check_types(table_dir: DataPath, schemas: dict[str, Any]) -> None:
    """Raise SchemaEvolutionError when two partitions give one column different types."""
    seen: dict[str, tuple[Any, str]] = {}
    for partition, schema in schemas.items():
        for column, dtype in schema.items():
            first = seen.setdefault(column, (dtype, partition))
            if first[0] != dtype:
                raise SchemaEvolutionError(
                    f"{table_dir}: column {column!r} is {first[0]} in {first[1]} but {dtype} "
                    f"in {partition}; partitions written by another version of the contract "
                    "cannot be read together. Rewrite them: `servicelens backfill --start ... "
                    "--end ... --rerun all`"
                )


def older_contract_partitions(table_dir: DataPath, version: int) -> dict[date, int]:
    """The partitions of ``table_dir`` holding rows written under a contract version below
    ``version``, by partition date, with the oldest version found (each row's
    ``schema_version``). A contract's columns can stay the same while their meaning changes
    (agent_outcomes version 3 counts a contact's first-contact resolution only once its
    window is over), so the types alone do not show such a partition. Partitions without the
    column are not listed (their types differ, which :func:`scan_table` reports).

    Cheap enough for every ``run`` and ``backfill``: a local file's version is the minimum
    its Parquet footer's statistics record (metadata only, no data page is read); a file
    whose footer keeps no statistics, or one on object storage, reads that one column."""
    older: dict[date, int] = {}
    for file in table_dir.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}"):
        key = file.parent.name.removeprefix(f"{PARTITION_COLUMN}=")
        try:
            day = date.fromisoformat(key)
            oldest: object = _footer_minimum(file, "schema_version")
            if oldest is None:
                versions = read_parquet(file, columns=["schema_version"])
                oldest = versions.get_column("schema_version").min()
        except (ValueError, OSError, pl.exceptions.ColumnNotFoundError):
            continue  # not a partition, swapped away meanwhile, or another shape
        if isinstance(oldest, int) and oldest < version:
            older[day] = oldest
    return older


def _footer_minimum(file: DataPath, column: str) -> int | None:
    """The smallest value of integer ``column`` that a local Parquet file's footer statistics
    record, or None when they record none (or the file is remote: its footer is a read of
    its own). Raises ColumnNotFoundError when the file has no such column."""
    if not isinstance(file, Path):
        return None
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(file).metadata
    names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
    if column not in names:
        raise pl.exceptions.ColumnNotFoundError(f"{file}: no column {column!r}")
    index = names.index(column)
    minima = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            return None
        minima.append(stats.min)
    return min(minima) if minima else None


def read_partition(table_dir: DataPath, day: date) -> pl.DataFrame:
    """One partition, with its partition column."""
    path = partition_dir(table_dir, day) / DATA_FILE
    return read_parquet(path).with_columns(pl.lit(day).alias(PARTITION_COLUMN))


def checksums(
    paths: Sequence[DataPath], hasher: Callable[[DataPath], str] = sha256_file
) -> dict[str, str]:
    """sha256 of each existing input file, keyed by path (in the order given).

    Files are hashed on threads, one per core (:class:`PendingChecksums`): hashlib lets go of
    the GIL while it hashes, and a date's inputs at scale are several files of hundreds of
    megabytes each. ``hasher`` as :class:`PendingChecksums` takes it.
    """
    return PendingChecksums(paths, hasher=hasher).all()


class PendingChecksums:
    """sha256 of a date's input files, hashed on threads (one per core) while the caller
    reads the ones already hashed.

    A file's checksum must describe the bytes that are read. A file the caller parses from
    memory is named in ``read_here`` and read with :meth:`read`: its checksum is taken from
    those very bytes while the caller parses them. Any other file is read only after
    :meth:`of` (or :meth:`all`) has returned its hash; meanwhile the others hash beside the
    reading (hashlib lets go of the GIL). Files are hashed in the order given, and the
    checksums keep that order. ``close`` cancels what has not started (a date that fails
    early). Missing files are left out, as :func:`checksums` does.

    ``hasher`` gives a file's hex sha256 from the file (:func:`sha256_file`, or one that
    learns more from the same read, as the JSON Lines reader's
    :func:`~servicelens.ingest.readers.sha256_checking_text` does).
    """

    def __init__(
        self,
        paths: Sequence[DataPath],
        read_here: Sequence[DataPath] = (),
        hasher: Callable[[DataPath], str] = sha256_file,
    ) -> None:
        existing = [p for p in paths if p.exists()]
        self._pool = ThreadPoolExecutor(max(1, min(len(existing), os.cpu_count() or 1)))
        self._paths = {str(p): p for p in existing}
        self._hasher = hasher
        #: Files named in ``read_here`` not read yet: a placeholder keeps their place in order.
        self._unread = {str(p) for p in read_here} & set(self._paths)
        self._hashing: dict[str, Future[str]] = {
            str(p): Future() if str(p) in self._unread else self._pool.submit(hasher, p)
            for p in existing
        }

    def read(self, path: DataPath) -> bytes:
        """The bytes of ``path`` (named in ``read_here``), read now; their sha256 is taken on
        a thread while the caller parses them. Raises what reading the file raises."""
        data = path.read_bytes()
        self._unread.discard(str(path))
        self._hashing[str(path)] = self._pool.submit(_sha256_bytes, data)
        return data

    def of(self, paths: Sequence[DataPath]) -> dict[str, str]:
        """The checksums of those of ``paths`` that exist, waiting for them."""
        return {str(p): self._result(str(p)) for p in paths if str(p) in self._hashing}

    def all(self) -> dict[str, str]:
        """Every existing file's checksum (path -> sha256), in the order given."""
        try:
            return {path: self._result(path) for path in self._hashing}
        finally:
            self.close()

    def _result(self, path: str) -> str:
        if path in self._unread:  # named in ``read_here`` but never read: hashed from the file
            self._unread.discard(path)
            self._hashing[path] = self._pool.submit(self._hasher, self._paths[path])
        return self._hashing[path].result()

    def close(self) -> None:
        """Stop hashing: files not started are not hashed."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_version() -> str:
    """The git commit of the code, with ``-dirty`` for uncommitted changes, if known."""
    here = Path(__file__).resolve().parents[2]
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


def run_staging_dir(staging_dir: DataPath, run_id: str) -> DataPath:
    """Where one run's frames handed between tasks are staged."""
    return staging_dir / "runs" / run_id


def discard_run_staging(staging_dir: DataPath, run_id: str) -> None:
    """Delete a finished run's staged frames: the partitions it published (or the previous
    ones, if it failed) are the record; the staged copies would otherwise pile up."""
    remove_tree(run_staging_dir(staging_dir, run_id))
