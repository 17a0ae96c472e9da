"""Where data lives: a local directory or an object store, behind one small path type.

A data directory is either a local path (``./data``) or a URL (``s3://bucket/prefix``,
``memory://scratch``). Local paths stay :class:`pathlib.Path`, so local behaviour is exactly
what it was. URLs become :class:`RemotePath`, which offers the part of the ``Path`` API the
pipeline uses (``/``, ``exists``, ``read_bytes``, ``write_text``, ``glob`` ...) on top of
fsspec. Credentials and endpoints come from the usual places of the store's own client (for
S3: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ~/.aws), never
from this code.

Object stores have no rename, but a single-object PUT is atomic: a reader gets the old object
or the new one, never part of one. :meth:`RemotePath.write_bytes` is therefore always one PUT
of a payload built completely in memory first; :mod:`servicelens.storage.partitions` builds its
partition guarantee on that.
"""

from __future__ import annotations

import bisect
import errno
import functools
import hashlib
import io
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.asyn import AsyncFileSystem, sync

if TYPE_CHECKING:
    # Imported by the two functions that read and write Parquet: the settings (and so every
    # command's --help) use this module's paths only.
    import polars as pl

#: Stores whose directory listings fsspec would otherwise cache between calls; another
#: process (a Dask worker) may have written since, so listings are always fresh.
_LISTING_CACHED = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")


def is_url(location: str | Path) -> bool:
    """True for ``scheme://...`` locations (object stores), False for local paths."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def refuse_a_half_url(location: str) -> None:
    """Raise ValueError for a data directory written like an object store's URL with a
    slash missing (``s3:/bucket/prefix``, ``s3:bucket``), which would otherwise be a local
    folder named ``s3:`` (found by a platform engineer's trial: `generate` wrote into
    ./s3:/bucket/typo without a word)."""
    found = re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):/?([^/].*)$", location)
    if found and not is_url(location) and len(found.group(1)) > 1:
        scheme, rest = found.groups()
        raise ValueError(
            f"--data-dir {location}: an object store's URL has two slashes after "
            f"'{scheme}:' ({scheme}://{rest}); for a local folder, write it as ./{location}"
        )


def refuse_a_file_as_folder(location: str) -> None:
    """Raise ValueError for a local data directory that is an existing file: every command
    would read it as an empty folder (found by a QA lead's trial: `models list` said "no
    models in /tmp/f/models" and exited 0, `run` that the log could not be written)."""
    if not is_url(location) and Path(location).is_file():
        raise ValueError(
            f"--data-dir {location}: is a file, not a folder; name the folder that holds "
            "raw/, clean/ and models/ (or a new one, which commands create)"
        )


def refuse_a_missing_bucket(location: str) -> None:
    """Raise FileNotFoundError ("... bucket does not exist", as s3fs words it, which
    ``servicelens.cli.main.object_store_failure_message`` turns into the message naming the
    endpoint) when ``location`` is an object store URL whose bucket does not exist; a local
    folder or an existing bucket passes. One request to the store."""
    if not is_url(location):
        return
    root = RemotePath(location)
    bucket = root.key.split("/", 1)[0]
    if not root.fs.exists(bucket):
        raise FileNotFoundError(f"{location}: The specified bucket does not exist")


#: Where botocore reads an S3 endpoint other than AWS's from, service-specific first.
S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def store_address(location: str | Path | RemotePath) -> str:
    """``location`` as a name that tells two stores apart: an ``s3://`` URL served from an
    endpoint other than AWS's (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, as botocore
    reads them) carries the endpoint (``s3://bucket/prefix@http://127.0.0.1:9000``); any
    other location is itself. A platform engineer's trial found one bucket and prefix on
    two endpoints (a local store and AWS, say) sharing their lock folder and their runs'
    keys on one Prefect server, so one's run of a date could be taken for a duplicate of
    the other's."""
    text = str(location)
    if not text.startswith(("s3://", "s3a://")):
        return text
    endpoint = next((os.environ[v] for v in S3_ENDPOINT_VARIABLES if os.environ.get(v)), "")
    return f"{text}@{endpoint.rstrip('/')}" if endpoint else text


def store_endpoint() -> str:
    """The S3 endpoint this process's requests go to, as botocore reads it
    (:data:`S3_ENDPOINT_VARIABLES`), or "the AWS default endpoint"."""
    found = next((os.environ[v] for v in S3_ENDPOINT_VARIABLES if os.environ.get(v)), "")
    return found.rstrip("/") or "the AWS default endpoint"


def store_not_answering(error: BaseException) -> BaseException | None:
    """The error of ``error``'s chain (itself, then what it was raised from or during) that
    says the object store did not answer once a request's attempts were spent: botocore's
    ``ConnectionError`` (``EndpointConnectionError``, ``ConnectTimeoutError``) and
    ``HTTPClientError`` (``ReadTimeoutError``); None when there is none. Such errors keep
    their type across a Dask cluster (they pickle whole); a trial's backfill showed one as
    a raw "ReadTimeoutError: Read timeout on endpoint URL ..." because the worker's date
    outcome wrote it as text without asking what it was."""
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is None:  # nothing has spoken to an object store in this process
        return None
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, botocore.ConnectionError | botocore.HTTPClientError):
            return current
        current = current.__cause__ or current.__context__
    return None


def store_not_answering_message(error: BaseException, data_dir: str) -> str | None:
    """``s3://bucket/prefix: the object store at http://... does not answer (<botocore's
    words>)`` when ``error`` is an object store not answering (:func:`store_not_answering`)
    and ``data_dir`` is on one; else None. The start of every such message (README,
    *Object storage*); its callers add what to do."""
    found = store_not_answering(error)
    if found is None or not is_url(data_dir):
        return None
    return f"{data_dir}: the object store at {store_endpoint()} does not answer ({found})"


def machine_folder_for(location: str | Path | RemotePath, purpose: str) -> Path:
    """A folder on this machine, in the temporary directory, named after ``location`` (an
    object store's URL, with its endpoint: :func:`store_address`): for files that must be
    local files (locks, HTML pages)."""
    digest = hashlib.sha256(store_address(location).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"servicelens-{purpose}" / digest


@functools.cache
def filesystem(protocol: str) -> AbstractFileSystem:
    """One fsspec filesystem per protocol per process, configured from the environment.

    An object store's filesystem globs with one listing (:func:`glob_listing_once`), for
    the pipeline's paths and for DuckDB, which is handed this filesystem. Its listings are
    not kept: another process (a Dask worker) may have written since. Within
    :func:`listings_reused`, :attr:`RemotePath.fs` is another one, which keeps them."""
    if protocol not in _LISTING_CACHED:
        return fsspec.filesystem(protocol)
    # Not from fsspec's instance cache (this function is the cache): after
    # ``filesystem.cache_clear()`` the next one reads the environment again (a test's new
    # endpoint), as ``fsspec.filesystem`` made after clearing s3fs's cache did.
    return _made_store(protocol, keeps_listings=False)


def _made_store(protocol: str, keeps_listings: bool) -> AbstractFileSystem:
    """A new filesystem of an object store (:func:`_store_class`), its requests bounded as
    :func:`store_client_options` says."""
    made: AbstractFileSystem = _store_class(protocol)(
        use_listings_cache=keeps_listings,
        skip_instance_cache=True,
        **store_client_options(protocol),
    )
    if protocol in ("s3", "s3a"):
        made.retries = 1  # type: ignore[attr-defined]  # s3fs's own loop; botocore retries
    return made


#: The bounds on an S3 request of :func:`store_client_options`: the variable that sets
#: each, its default and its least value. Without them botocore waits 60 s for a store
#: that accepts connections but does not answer, five attempts a request, and s3fs tries
#: each request five times over: a trial's store stopped mid-command was reported after
#: minutes unless AWS_MAX_ATTEMPTS was lowered.
STORE_CONNECT_SECONDS = ("SERVICELENS_STORE_CONNECT_SECONDS", 5.0, 0.1)
STORE_READ_SECONDS = ("SERVICELENS_STORE_READ_SECONDS", 20.0, 0.1)
STORE_ATTEMPTS = ("SERVICELENS_STORE_ATTEMPTS", 3, 1)


def _store_bound(variable: tuple[str, float, float]) -> float:
    """The number in the environment variable ``variable`` names (its default when unset or
    empty). Raises ValueError naming the variable, its value and what to write instead."""
    name, default, least = variable
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = least - 1
    if not least <= value < float("inf") or (isinstance(default, int) and value != int(value)):
        kind = "a whole number" if isinstance(default, int) else "a number of seconds"
        raise ValueError(
            f"{name}={text!r}: use {kind} of {least:g} or more, or unset it for the "
            f"default ({default:g})"
        )
    return value


def store_bounds() -> tuple[float, float, int]:
    """The connect and read timeouts (seconds) and the attempts per request an object
    store's requests are bounded by (:data:`STORE_CONNECT_SECONDS`,
    :data:`STORE_READ_SECONDS`, :data:`STORE_ATTEMPTS`). Raises ValueError naming a
    variable that does not hold a usable number."""
    return (
        _store_bound(STORE_CONNECT_SECONDS),
        _store_bound(STORE_READ_SECONDS),
        int(_store_bound(STORE_ATTEMPTS)),
    )


def store_client_options(protocol: str = "s3") -> dict[str, Any]:
    """The options an S3 filesystem (s3fs) of this process is made with: connect and read
    timeouts in seconds (``SERVICELENS_STORE_CONNECT_SECONDS``, default 5;
    ``SERVICELENS_STORE_READ_SECONDS``, default 20) and attempts per request
    (``SERVICELENS_STORE_ATTEMPTS``, default 3, made by botocore alone: :func:`_made_store`
    sets s3fs's own loop of five tries to one), so a store that is down is reported within
    tens of seconds. The user's own ``AWS_MAX_ATTEMPTS`` (or ``max_attempts`` in
    ~/.aws/config) wins over the attempts. Empty for any other protocol. Raises ValueError
    for a variable that does not hold a usable number (:func:`_store_bound`)."""
    if protocol not in ("s3", "s3a"):
        return {}
    connect, read, attempts = store_bounds()
    config: dict[str, Any] = {"connect_timeout": connect, "read_timeout": read}
    import botocore.session

    if botocore.session.get_session().get_config_variable("max_attempts") is None:
        config["retries"] = {"total_max_attempts": attempts}
    return {"config_kwargs": config}


#: An object store's small files (manifests, run records) read within
#: :func:`listings_reused` are kept up to this size, in bytes.
_KEPT_FILE_BYTES = 1 << 20
#: Larger files read within :func:`listings_reused` (the partitions a report's sections
#: and its audit tally each read: a trial's report read every scored partition three
#: times) are kept too, up to this many bytes in all; beyond it a file is read again.
_KEPT_LARGE_BYTES = 512 << 20


@functools.cache
def _store_class(protocol: str) -> type[AbstractFileSystem]:
    """fsspec's filesystem class of an object store, with :func:`glob_listing_once` as its
    glob and, when made with ``use_listings_cache=True``, the whole listings and the small
    files it read kept until its own writes change them."""
    kind = fsspec.get_filesystem_class(protocol)

    def glob(self: AbstractFileSystem, path: str, **kwargs: Any) -> Any:
        if kwargs or not any(_magic(part) for part in self._strip_protocol(path).split("/")):
            return kind.glob(self, path, **kwargs)
        return glob_listing_once(self, path)

    def own_cat_file(self: AbstractFileSystem, path: str, **kwargs: Any) -> Any:
        # An async store's own read (s3fs: one GET, ranged when start or end is given).
        # ``kind.cat_file`` is fsspec's generic one there, which opens the object and reads
        # it in blocks of 50 MiB: a 4 KiB head cost the whole of a smaller object.
        if isinstance(self, AsyncFileSystem):
            return sync(self.loop, self._cat_file, path, **kwargs)
        return kind.cat_file(self, path, **kwargs)

    def cat_file(
        self: AbstractFileSystem, path: str, start: Any = None, end: Any = None, **kwargs: Any
    ) -> Any:
        kept = _kept(self)
        if kept is None or start is not None or end is not None or kwargs:
            return own_cat_file(self, path, start=start, end=end, **kwargs)
        key = self._strip_protocol(path)
        if key not in kept.files:
            data = own_cat_file(self, path)
            if len(data) > _KEPT_FILE_BYTES:
                if kept.large_bytes + len(data) > _KEPT_LARGE_BYTES:
                    return data
                kept.large_bytes += len(data)
            kept.files[key] = data
        return kept.files[key]

    def invalidate_cache(self: AbstractFileSystem, path: str | None = None) -> None:
        kind.invalidate_cache(self, path)
        kept = _kept(self)
        if kept is not None:
            kept.forget(None if path is None else self._strip_protocol(path))

    async def set_session(self: Any, refresh: bool = False, kwargs: Any = None) -> Any:
        # s3fs makes (and remakes) its botocore client here; every request passes by.
        client = await kind.set_session(self, refresh=refresh, kwargs=kwargs or {})
        _send_bodies_at_once(client)
        return client

    methods: dict[str, Any] = {
        "glob": glob,
        "cat_file": cat_file,
        "invalidate_cache": invalidate_cache,
    }
    if protocol in ("s3", "s3a"):
        methods["set_session"] = set_session
    return type(kind.__name__, (kind,), {**methods, "__module__": kind.__module__})


def _send_bodies_at_once(client: Any) -> None:
    """Keep ``client`` (s3fs's aiobotocore S3 client) from asking the store for leave to
    send a request's body (``Expect: 100-continue``, which botocore puts on every PUT and
    POST with a body): aiohttp waits for the store's "100 Continue" with no bound at all
    and starts a request's read timeout only once the body is sent, so a store that stopped
    answering held a write forever whatever ``SERVICELENS_STORE_READ_SECONDS`` said (a
    trial's nightly date hung > 15 min on its heartbeat's 500-byte PUT to a store frozen
    with SIGSTOP; a read failed in 2.1 s). Without the header the body goes out at once
    and the read timeout bounds the wait for the answer: the same PUT failed in 2.1 s.
    botocore's own (synchronous) client waits 1 s for "100 Continue" and then sends the
    body anyway; the cost of not asking is a body sent to a store that refuses it."""
    if getattr(client, "_servicelens_bodies_at_once", False):
        return
    import botocore.handlers

    client.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
    client._servicelens_bodies_at_once = True


class _Kept:
    """What a filesystem made within :func:`listings_reused` keeps besides fsspec's own
    folder listings: whole listings under a folder (by folder) and small files' bytes."""

    def __init__(self) -> None:
        self.trees: dict[str, list[str]] = {}
        self.files: dict[str, bytes] = {}
        #: The bytes of the files above :data:`_KEPT_FILE_BYTES` in ``files``.
        self.large_bytes = 0

    def forget(self, path: str | None) -> None:
        """Drop what ``path`` (None: anything) being written or deleted changes."""
        for folder in list(self.trees):
            if path is None or _related(folder, path):
                self.trees.pop(folder, None)
        for key in list(self.files):
            if path is None or _related(key, path):
                data = self.files.pop(key, b"")
                if len(data) > _KEPT_FILE_BYTES:
                    self.large_bytes -= len(data)


def _related(one: str, other: str) -> bool:
    """Whether one of the two keys is the other or under it."""
    return one == other or one.startswith(other + "/") or other.startswith(one + "/")


def _kept(fs: AbstractFileSystem) -> _Kept | None:
    if not fs.dircache.use_listings_cache:
        return None
    kept: _Kept | None = getattr(fs, "_servicelens_kept", None)
    if kept is None:
        kept = _Kept()
        fs._servicelens_kept = kept  # type: ignore[attr-defined]
    return kept


#: The object stores' filesystems of the innermost :func:`listings_reused` block, by
#: protocol (None outside any).
_REUSED: ContextVar[dict[str, AbstractFileSystem] | None] = ContextVar(
    "servicelens_listings_reused", default=None
)


@contextmanager
def listings_reused() -> Iterator[None]:
    """Within the block, code of this context (and the threads and DuckDB connections it
    hands its paths' filesystem) lists each folder of an object store once and reads each
    small file (a manifest, a run record) once: a listing answers the globs, ``exists``,
    sizes and modification times below it, until this block's own writes change them.
    Another process's writes made meanwhile are not seen, so use it for a step that reads
    the store as it is when the step starts (a report, a query, the weekly marts'
    rebuild), not around a date's run. A report on a trial's 14 dates and two sources
    sent the same LIST 36 times; a glob, an ``exists`` and a size were a request each.
    Local paths are not affected. Nested blocks share the outer one's listings."""
    if _REUSED.get() is not None:
        yield
        return
    token = _REUSED.set({})
    try:
        yield
    finally:
        _REUSED.reset(token)


def _filesystem_of(protocol: str) -> AbstractFileSystem:
    """The filesystem a :class:`RemotePath` of ``protocol`` uses here (:func:`filesystem`,
    or within :func:`listings_reused` one that keeps its listings)."""
    reused = _REUSED.get()
    if reused is None or protocol not in _LISTING_CACHED:
        return filesystem(protocol)
    if protocol not in reused:
        reused[protocol] = _made_store(protocol, keeps_listings=True)
    return reused[protocol]


def _magic(part: str) -> bool:
    return any(c in part for c in "*?[")


def glob_listing_once(fs: AbstractFileSystem, path: str) -> list[str]:
    """``fs.glob(path)`` (the files and folders matching ``path``, sorted, without the
    scheme) from one flat listing of the folder before the first wildcard (one request per
    1,000 objects under it). fsspec's own glob walks a pattern of two levels or more folder
    by folder: ``table/survey_date=*/part-0.parquet`` cost three requests a partition (a
    HEAD, a one-key LIST and a LIST), the same LISTs again at every glob of the table (a
    platform engineer's trial counted ~49,000 requests for a 14-date backfill and its
    report). A one-level pattern is answered from the folder's listing (with a delimiter),
    a deeper one from a flat listing. The filesystems of :func:`filesystem` glob a path
    without wildcards, or with other arguments, as fsspec does."""
    from fsspec.utils import glob_translate

    stripped = fs._strip_protocol(path)
    parts = stripped.split("/")
    first = next(i for i, part in enumerate(parts) if _magic(part))
    root = "/".join(parts[:first])
    if first == len(parts) - 1 and "**" not in stripped:
        # One level: the folder's listing (with a delimiter), folders and objects.
        try:
            children = fs.ls(root, detail=True)
        except FileNotFoundError:
            return []
        pattern = re.compile(glob_translate(stripped))
        names = (str(c["name"]).rstrip("/") for c in children)
        return sorted(name for name in names if pattern.match(name))
    stem = re.split(r"[*?\[]", parts[first], maxsplit=1)[0]
    kept = _kept(fs)
    if kept is None:
        listed = fs.find(root, prefix=stem) if stem else fs.find(root)
    else:
        listed = _tree(fs, kept, root)
    found: dict[str, bool] = {}  # path -> whether it is a folder
    for key in listed:
        name = key.rstrip("/")
        found[root] = True  # ``root/**`` matches the root itself when anything is under it
        found.setdefault(name, key.endswith("/"))
        while len(name) > len(root):  # each folder between the object and the root
            name = name.rsplit("/", 1)[0]
            found[name] = True
    pattern = re.compile(glob_translate(stripped))
    slash = stripped.endswith("/**")  # as fsspec: a folder matches ``.../**`` as ``folder/``
    return sorted(p for p, folder in found.items() if pattern.match(p + "/" * (folder and slash)))


def _tree(fs: AbstractFileSystem, kept: _Kept, root: str) -> list[str]:
    """Every key under ``root``, from the kept listing of it or of a folder above it, or
    listed now (and kept: s3fs's ``find`` fills the listings of the folders under it)."""
    for folder, keys in kept.trees.items():
        if root.startswith(folder + "/"):
            return [k for k in keys if k.startswith(root + "/")]
    if root not in kept.trees:
        kept.trees[root] = sorted(fs.find(root))
    return kept.trees[root]


def _kept_answer(fs: AbstractFileSystem, key: str) -> bool | None:
    """Whether ``key`` is an object or a folder, from a kept listing of a folder above it
    (within :func:`listings_reused`): a partition's file or folder has its table listed
    for it, any other key its folder (whose listing fsspec then keeps, and answers from).
    None when nothing kept says."""
    kept = _kept(fs)
    if kept is None:
        return None
    covering = next((f for f in kept.trees if key.startswith(f + "/")), None)
    if covering is None:
        parts = key.split("/")
        # table/survey_date=D/file or table/survey_date=D: list the table
        table = next((i for i in (len(parts) - 2, len(parts) - 1) if "=" in parts[i]), None)
        if table is None or table < 2:
            if len(parts) < 3:
                return None  # a bucket, or an object at its top
            try:
                fs.ls("/".join(parts[:-1]))
            except FileNotFoundError:
                return False
            return None
        covering = "/".join(parts[:table])
        _tree(fs, kept, covering)
    keys = kept.trees[covering]
    at = bisect.bisect_left(keys, key)
    under = bisect.bisect_left(keys, key + "/")
    return (at < len(keys) and keys[at] == key) or (
        under < len(keys) and keys[under].startswith(key + "/")
    )


class RemotePath:
    """A file or folder in an object store, addressed by URL, with a ``Path``-like API.

    Folders do not really exist in object stores: ``mkdir`` does nothing and a folder
    "exists" when some object has its URL as a prefix.
    """

    def __init__(self, url: str) -> None:
        protocol, _, rest = url.partition("://")
        if not rest:
            raise ValueError(f"{url!r} is not a URL like s3://bucket/prefix")
        self.protocol = protocol
        self._key = rest.strip("/")

    # --- naming ---------------------------------------------------------------------------

    @property
    def fs(self) -> AbstractFileSystem:
        return _filesystem_of(self.protocol)

    @property
    def key(self) -> str:
        """The URL without its scheme, as fsspec methods expect it."""
        return self._key

    def __str__(self) -> str:
        return f"{self.protocol}://{self._key}"

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    def __truediv__(self, part: str | Path) -> RemotePath:
        return RemotePath(f"{self}/{str(part).strip('/')}")

    @property
    def name(self) -> str:
        return self._key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        head = self._key.rsplit("/", 1)[0] if "/" in self._key else self._key
        return RemotePath(f"{self.protocol}://{head}")

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def with_suffix(self, suffix: str) -> RemotePath:
        return self.parent / Path(self.name).with_suffix(suffix).name

    # --- reading and writing --------------------------------------------------------------

    def exists(self) -> bool:
        fs = self.fs
        known = _kept_answer(fs, self.key)
        return bool(fs.exists(self.key)) if known is None else known

    def is_dir(self) -> bool:
        return bool(self.fs.isdir(self.key))

    def read_bytes(self) -> bytes:
        data: bytes = self.fs.cat_file(self.key)
        return data

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> int:
        """Store ``data`` as this object with one PUT (atomic: readers see old or new)."""
        self.fs.pipe_file(self.key, data)
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def open(self, mode: str = "rb") -> IO[Any]:
        if "w" in mode:
            # Buffer the whole object and PUT it on close, so a writer that fails midway
            # leaves the previous object in place.
            return _PutOnClose(self, text="b" not in mode)
        handle: IO[Any] = self.fs.open(self.key, mode)
        return handle

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: object stores create prefixes with the first object under them."""

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        for key in sorted(self.fs.glob(f"{self.key}/{pattern}")):
            yield RemotePath(f"{self.protocol}://{key}")

    def iterdir(self) -> Iterator[RemotePath]:
        if not self.exists():
            return
        for key in sorted(self.fs.ls(self.key, detail=False)):
            yield RemotePath(f"{self.protocol}://{key}")

    def unlink(self, missing_ok: bool = False) -> None:
        if missing_ok and not self.exists():
            return
        self.fs.rm_file(self.key)

    def replace(self, target: RemotePath) -> RemotePath:
        """Copy to ``target`` (a server-side copy lands as one object) and delete this one."""
        self.fs.copy(self.key, target.key)
        self.fs.rm_file(self.key)
        return target

    def remove_tree(self) -> None:
        if self.exists():
            self.fs.rm(self.key, recursive=True)


class _PutOnClose(io.BytesIO):
    """A write handle that uploads its whole content in one PUT when closed without error."""

    def __init__(self, target: RemotePath, text: bool) -> None:
        super().__init__()
        self._target = target
        self._text = text
        self._failed = False

    def write(self, data: Any) -> int:  # type: ignore[override]
        return super().write(data.encode() if self._text else data)

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self._failed = kind is not None
        super().__exit__(kind, value, traceback)

    def close(self) -> None:
        if not self.closed and not self._failed:
            self._target.write_bytes(self.getvalue())
        super().close()


#: A location of the data directory or anything under it.
DataPath = Path | RemotePath


def as_path(location: str | Path | RemotePath) -> DataPath:
    """``s3://...`` and other URLs become RemotePath; anything else a local Path."""
    if isinstance(location, Path | RemotePath):
        return location
    return RemotePath(location) if is_url(location) else Path(location)


def modified_at(location: DataPath) -> float:
    """When the file was last written, in seconds since the epoch: the local file's mtime,
    or the object store's LastModified (fsspec's ``modified``); 0.0 where the store does not
    say. Raises OSError (FileNotFoundError) for a missing local file."""
    if isinstance(location, Path):
        return location.stat().st_mtime
    try:
        return float(location.fs.modified(location.key).timestamp())
    except (NotImplementedError, AttributeError, TypeError):
        return 0.0


def size_of(location: DataPath) -> int:
    """A file's size in bytes: the local file's, or the object's (one HEAD request). Raises
    OSError (FileNotFoundError) for a file or object that is not there."""
    if isinstance(location, Path):
        return location.stat().st_size
    return int(location.fs.size(location.key))


def file_state(location: DataPath) -> tuple[int, float]:
    """A file's size and when it was last written (:func:`size_of`, :func:`modified_at`; one
    ``stat`` for a local file): two looks that differ mean it was written in between. Raises
    OSError (FileNotFoundError) for a file that is not there."""
    if isinstance(location, Path):
        stat = location.stat()
        return stat.st_size, stat.st_mtime
    return size_of(location), modified_at(location)


def read_bytes(location: str | Path | RemotePath) -> bytes:
    return as_path(location).read_bytes()


def read_parquet(
    location: str | Path | RemotePath, columns: list[str] | None = None
) -> pl.DataFrame:
    """Read one Parquet file from a local path or an object store (only ``columns``, when
    given: the others are not decoded). From an object store the file is one GET (a file
    handle cost a HEAD first), and within :func:`listings_reused` a file read before is
    not read again (up to :data:`_KEPT_LARGE_BYTES` in all).

    A local file is opened once and read from the open file: polars (2.1) reading a path
    opens it again for the row groups after the footer, and a partition published between
    the two opens mixed two files (``servicelens.storage.partitions.scan_table``)."""
    import polars as pl

    path = as_path(location)
    if isinstance(path, Path):
        with path.open("rb") as handle:
            return pl.read_parquet(handle, columns=columns)
    return pl.read_parquet(io.BytesIO(path.read_bytes()), columns=columns)


#: zstd level of the Parquet files the storage layer writes (partitions, staged files, marts;
#: the model registry's out-of-fold file and `servicelens score --output` files keep polars'
#: defaults). Level 1, not polars' default (3):
#: rewriting a 1M date's five large files (three days' contacts, the clean responses, the
#: scored mart; 129 MB) took 2.3 s of CPU instead of 2.7-2.9 s, and the files came out no
#: larger (128 MB against 129 MB), the columns being mostly dictionary-encoded already.
ZSTD_LEVEL = 1


def encode_parquet(frame: pl.DataFrame, target: Path | io.BytesIO) -> None:
    """Encode ``frame`` as the pipeline's Parquet (zstd at :data:`ZSTD_LEVEL`, column
    statistics for readers' pruning) into a local file or a buffer."""
    frame.write_parquet(target, compression="zstd", compression_level=ZSTD_LEVEL, statistics=True)


def write_parquet(frame: pl.DataFrame, location: DataPath) -> None:
    """Write one Parquet file (:func:`encode_parquet`); to an object store it is serialised
    first, then one PUT."""
    if isinstance(location, Path):
        location.parent.mkdir(parents=True, exist_ok=True)
        encode_parquet(frame, location)
        return
    buffer = io.BytesIO()
    encode_parquet(frame, buffer)
    location.write_bytes(buffer.getvalue())


def os_error_of(error: BaseException, path: Path) -> OSError:
    """``error`` as an OSError about ``path``: polars reports a failed write (a full disk) as
    its own error, "... underlying IO error: No space left on device (os error 28)"; the
    OS's number is kept, so callers can tell a full disk from other failures."""
    if isinstance(error, OSError):
        return error
    found = re.search(r"\(os error (\d+)\)", str(error))
    if found:
        number = int(found.group(1))
        return OSError(number, os.strerror(number), str(path))
    # On a filesystem that fills during the write, polars can lose the OS's number and say
    # only "parquet: File out of specification: Invalid thrift: transport error" (a trial's
    # 64 KB tmpfs): a write that failed on a filesystem with no block left is a full disk.
    if no_space_left(path):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return OSError(f"writing {path} failed: {error}")


def no_space_left(path: Path) -> bool:
    """Whether the filesystem that holds ``path`` (or its nearest existing folder) has no
    block left for a write; False when that cannot be told."""
    folder = path
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def file_written_when(error: OSError) -> str | None:
    """The file ``error`` is about: its ``filename``, else the file being written where it
    was raised (the innermost frame of its traceback holding an open file). Python's
    ``write()`` of an open file reports a full disk with no file name (a trial read "a file
    of the data directory: cannot write it: No space left on device"); the frame that wrote
    still holds the file object, which knows its name. None if neither says."""
    if error.filename:
        return str(error.filename)
    found: str | None = None
    trace = error.__traceback__
    while trace is not None:
        for value in trace.tb_frame.f_locals.values():
            name = getattr(value, "name", None)
            if isinstance(value, io.IOBase) and isinstance(name, str):
                found = name  # the innermost frame's file wins: it is the one written
        trace = trace.tb_next
    return found


def write_text_whole(target: DataPath, text: str) -> None:
    """Write a small text file so that a reader sees the old content or the new, never part.

    Locally through a scratch file (named after this process and thread, so threads may
    write the same target at once) renamed over the target; in an object store, one PUT.
    """
    if isinstance(target, RemotePath):
        target.write_text(text)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        scratch.write_text(text)
        scratch.replace(target)
    except BaseException:
        scratch.unlink(missing_ok=True)  # a full disk's part-written scratch file
        raise


def prune_to_newest(folder: Path, pattern: str, keep: int, spare: Path | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` files of ``folder`` whose names match ``pattern``.

    For files named with a fixed-width UTC time after a fixed prefix (the command logs'
    ``servicelens-<time>-...``, the reports' ``report-<time>...``): their names sort by
    time, so the newest are the last by name. ``spare`` (the file about to be written) is
    never deleted nor counted. Returns the deleted paths, oldest first; a file another
    process removed first is skipped. ``keep`` below 0 counts as 0.
    """
    files = sorted(p for p in folder.glob(pattern) if p != spare)
    old = files[: max(len(files) - max(keep, 0), 0)]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def remove_tree(location: DataPath) -> None:
    """Delete a folder and everything in it, if it exists."""
    if isinstance(location, Path):
        import shutil

        shutil.rmtree(location, ignore_errors=True)
    else:
        location.remove_tree()


@contextmanager
def local_folder_for(root: DataPath) -> Iterator[Path]:
    """A local folder to write into that ends up at ``root``.

    For a local ``root`` that is ``root`` itself. For an object store it is a temporary folder
    whose files are uploaded under ``root`` (same relative paths) when the block ends without
    an error; for tools that can only write to local disk, such as the sample generator.
    """
    if isinstance(root, Path):
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="servicelens-") as tmp:
        yield Path(tmp)
        for file in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
            (root / file.relative_to(tmp).as_posix()).write_bytes(file.read_bytes())
