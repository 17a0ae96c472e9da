"""Prefect's result storage as the cache of the one stage whose work repeats: parsing an
interaction export.

Every date joins the interactions of its own day and the days before it
(``interaction_lookback_days``), so a backfill of N dates would parse each interaction file
up to three times, and a nightly look-back parses again files that did not change. A parsed
file is kept under a key made of what its output depends on, and nothing else:

* the file's sha256 and path (a re-delivered file has a new checksum, so it is parsed again);
* the code that parses and redacts it: the source of the modules involved, of the stages'
  interaction redaction and the polars version (a change to the parser or the redaction
  invalidates every entry; a change elsewhere, none).

The cached value is the parsed file itself (rows, rejects with their lines, encoding), with
personal data redacted as the stages redact it right after parsing (the text fields by value,
each reject's text whole, as the quarantine quotes it): the cache is outside ``raw/``, and
nothing unredacted is written there. It is a
record in Prefect's result storage (``$PREFECT_HOME/storage``, inside the project, or the
result storage Prefect is configured with) holding zstd-compressed Arrow IPC. An entry is
therefore self-contained: it never points at a staged file that a clean-up could remove.
Entries expire after ``CACHE_DAYS``; deleting the storage folder only costs a re-parse.
Prefect's ``PREFECT_TASKS_REFRESH_CACHE`` makes every file parsed again (and its entry
rewritten), as it does for cached tasks.

The records are read and written directly, not through a cached task: a task run per file
was three task runs a date, each three state events the API records (half of what a
backfill asked of the embedded API per date, for a lookup that touches only a file).

The rest of a date is not cached, on purpose: validation depends on other dates' clean
partitions (a response accepted elsewhere is a duplicate) and on the time of the run (future
timestamps), and scoring on the champion model, so its output is not a function of its own
inputs alone.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import io
import json
import logging
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import polars as pl
from prefect.results import ResultStore, get_result_store
from prefect.serializers import Serializer
from prefect.settings import PREFECT_TASKS_REFRESH_CACHE
from prefect.types import DateTime
from pydantic import Field

from servicelens.ingest.readers import RawRead, Reject, read_jsonl_with_lines
from servicelens.stages import (
    INTERACTION_TEXT_COLUMNS,
    redacted_interactions,
    redacted_reject_texts,
)
from servicelens.storage.fs import DataPath
from transforms.schemas import RAW_INTERACTION_SCHEMA

#: How long a parsed file stays cached. Interactions older than the look-back are not read
#: again by a nightly run; a backfill over old dates parses them again once.
CACHE_DAYS = 14
#: The modules whose code decides what a parsed interaction file contains.
PARSER_MODULES = (
    "servicelens/ingest/readers.py",
    "servicelens/storage/fs.py",
    "transforms/schemas.py",
    "transforms/pii.py",  # the redaction every entry has been through
)
_ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("servicelens.caching")


@cache
def parser_fingerprint() -> str:
    """sha256 of the parser's and the redaction's code and the polars version: the cache's
    code key (:func:`parser_sources`)."""
    digest = hashlib.sha256(pl.__version__.encode())
    for source in parser_sources():
        digest.update(source)
    return digest.hexdigest()[:16]


def parser_sources() -> list[bytes]:
    """The code a cached entry's content depends on: the modules of :data:`PARSER_MODULES`,
    and the stages' interaction redaction (its functions' source and the columns it
    redacts; not all of stages.py, whose other changes leave a parse as it was)."""
    sources = [(_ROOT / module).read_bytes() for module in PARSER_MODULES]
    for function in (redacted_interactions, redacted_reject_texts):
        sources.append(inspect.getsource(function).encode())
    sources.append(repr(INTERACTION_TEXT_COLUMNS).encode())
    return sources


def interaction_cache_key(path: str, sha256: str) -> str:
    """The cache key of a parsed interaction file: its checksum and path, and the parser code."""
    where = hashlib.sha256(path.encode()).hexdigest()[:12]
    return f"interactions-{sha256}-{where}-{parser_fingerprint()}"


# Not ``Serializer[RawRead]``: a parametrised pydantic class has no ``type`` default, and
# Prefect's serializer registry needs one to find this class when it reads a record back.
class RawReadSerializer(Serializer):  # type: ignore[type-arg]
    """A parsed file as compressed Arrow IPC (its rows) plus its rejects and encoding.

    Arrow keeps every dtype exactly (time zones included) and reads back far faster than the
    JSON it came from; Prefect wraps the bytes in a JSON record, hence the base64.
    """

    type: str = Field(default="servicelens-raw-read", frozen=True)

    def dumps(self, obj: RawRead) -> bytes:
        rows = io.BytesIO()
        obj.frame.write_ipc(rows, compression="zstd")
        about = {
            "path": obj.path,
            "encoding": obj.encoding,
            "header": obj.header,
            "rejects": [asdict(r) for r in obj.rejects],
            "skipped": obj.skipped,
        }
        # One line of JSON (json.dumps escapes every newline), then the Arrow bytes: no
        # pickle, so reading a cache entry never runs code.
        return base64.b64encode(json.dumps(about).encode() + b"\n" + rows.getvalue())

    def loads(self, blob: bytes) -> RawRead:
        about, rows = base64.b64decode(blob).split(b"\n", 1)
        meta = json.loads(about)
        return RawRead(
            path=meta["path"],
            encoding=meta["encoding"],
            header=meta["header"],
            frame=pl.read_ipc(io.BytesIO(rows)),
            rejects=[Reject(**r) for r in meta["rejects"]],
            skipped=meta.get("skipped", 0),
        )


def _cache_store() -> ResultStore:
    """The current run's result store (its storage resolved once per flow run), writing
    parsed files with :class:`RawReadSerializer` and keeping none of them in memory."""
    return get_result_store().model_copy(
        update={"serializer": RawReadSerializer(), "cache_result_in_memory": False}
    )


def _cached(store: ResultStore, key: str) -> RawRead | None:
    """The unexpired entry ``key``, or None. An entry that cannot be read (missing, written
    halfway by a run that died, by an older serializer) is a miss: the file is parsed again."""
    try:
        record = store.read(key)
    except Exception as error:  # the storage block raises its own kinds of "not there"
        log.debug("%s: not in the parse cache (%s)", key, error)
        return None
    expiration = record.metadata.expiration
    if expiration is not None and expiration <= datetime.now(UTC):
        return None
    return record.result if isinstance(record.result, RawRead) else None


def parse_interactions(path: str, sha256: str) -> RawRead:
    """One interaction export, parsed (``sha256`` is its checksum: it keys the cache), from
    the cache when an entry of this file, content and parser is there.

    No retries of its own: it runs inside ``validate-and-publish-clean``, which retries on
    I/O errors.
    """
    store = _cache_store()
    key = interaction_cache_key(path, sha256)
    if not PREFECT_TASKS_REFRESH_CACHE.value():
        cached = _cached(store, key)
        if cached is not None:
            return cached
    # Redacted before it is stored: nothing unredacted is written outside raw/.
    parsed = redacted_interactions(read_jsonl_with_lines(path, RAW_INTERACTION_SCHEMA))
    store.write(parsed, key=key, expiration=DateTime.now("UTC") + timedelta(days=CACHE_DAYS))
    return parsed


def prune_cache(now: float | None = None) -> int:
    """Delete expired parse entries from Prefect's result storage; return how many.

    Prefect never deletes an expired record itself, and a year of nightly runs would keep a
    year of parsed files. The flows call this once per backfill or nightly window.
    """
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    cutoff = (now or time.time()) - CACHE_DAYS * 86400
    removed = 0
    for entry in Path(PREFECT_LOCAL_STORAGE_PATH.value()).glob("interactions-*"):
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except FileNotFoundError:  # another run pruned it first
            continue
    return removed


def read_interactions_cached(path: DataPath, sha256: str, keep: pl.Expr | None = None) -> RawRead:
    """The stages' interaction reader, through the parse cache (use inside a flow run).

    ``sha256`` is the file's checksum, which ``validate_day`` computed once for the manifest.
    The whole file is parsed and cached (each date of the look-back needs different rows of
    it); the date's ``keep`` applies after, exactly as the direct reader applies it.
    """
    parsed = parse_interactions(str(path), sha256)
    if keep is None:
        return parsed
    kept = parsed.frame.filter(keep)
    skipped = parsed.skipped + parsed.frame.height - kept.height
    return replace(parsed, frame=kept, skipped=skipped)
