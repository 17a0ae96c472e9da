"""Erasing a data subject's rows on request (GDPR Art. 17) and keeping them erased.

``servicelens erase`` finds every row of the customers and responses asked for in the
Parquet layers of the data directory (landed, clean, quarantine, contacts and the per-response
marts), rewrites each partition holding any through :func:`~servicelens.storage.partitions.
write_partition` with its manifest's counts reconciled (read = kept + quarantined + erased),
rebuilds the aggregate marts of the touched dates from what is left, and writes an erasure
record holding hashed ids only.

The raw zone keeps the vendors' files as delivered (it is immutable: the checksums the rerun
policy compares are of those files). So that a later landing, run or backfill never brings
the rows back from it, the erased ids are kept in an *erasure list*
(``erasure/erased_ids.json``), as a keyed hash of each id under the agent key
(:func:`hashed_id`), never in plain text, and every stage that reads the raw zone or a
landed partition drops the rows they match (:func:`erasure_list`,
:meth:`Eraser.without_erased`), counting them as ``erased``.

A row matches when one of its id columns (:data:`ID_COLUMNS`) holds an erased id, or when its
``raw_record`` (a quarantined row's record as read, or a landed row's) holds one as a whole
token (:data:`ID_TOKEN`): a malformed line has no columns, only its text. One rule bounds
that (:meth:`Eraser.mask`, erase's and the access request's locator alike): a row whose own
``customer_id`` is present and is none of the subjects' is another customer's, whatever id
it shares with theirs. Two surveys may name one call (a forwarded survey link): the call's
``interaction_id`` links the subject's rows, and matches only rows with no customer id of
their own or the subject's.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import polars as pl

from models.registry import FACTS_ONLY_FILE, HOLDOUT_FILE, OUT_OF_FOLD_FILE, QUARANTINE_FILE
from servicelens.ingest.readers import RawRead
from servicelens.settings import INTERACTIONS_FILE, Settings
from servicelens.storage.fs import DataPath, as_path, read_parquet, write_text_whole
from servicelens.storage.locks import LockBusyError
from servicelens.storage.partitions import (
    DATA_FILE,
    StorageError,
    checksums,
    code_version,
    locks_dir,
    partition_dir,
    read_manifest,
    write_partition,
)
from transforms.schemas import (
    CLEAN_RESPONSE_SCHEMA,
    CONTACT_SCHEMA,
    DAILY_SUMMARY_SCHEMA,
    FEEDBACK_SCORED_SCHEMA,
    LANDED_SCHEMA,
    PARTITION_COLUMN,
    QUARANTINE_SCHEMA,
    REVIEW_QUEUE_SCHEMA,
    with_contract_columns,
)

#: The kinds of id a request names; the response and interaction ids of a customer's rows
#: are erased with the customer (and listed, so a rerun drops their raw survey lines, which
#: carry no customer id).
IdKind = Literal["customer_id", "response_id", "interaction_id"]
#: Columns whose value is a subject's id in some table (``record_id``: the quarantine's
#: response or interaction id as read).
ID_COLUMNS: tuple[str, ...] = ("customer_id", "response_id", "interaction_id", "record_id")
#: Columns holding a record's whole text, searched for an id as a token.
TEXT_COLUMNS: tuple[str, ...] = ("raw_record",)
#: What an id looks like inside a record's text: a run of letters, digits, ``_`` and ``-``.
ID_TOKEN = r"[A-Za-z0-9][A-Za-z0-9_\-]*"
#: What is no part of an id around it: the characters Python's ``str.strip`` strips (which
#: :func:`hashed_id` strips), as polars' ``str.strip_chars`` is given them.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: Where the erasure list and records live, under the data directory.
ERASURE_DIR = "erasure"
LIST_FILE = "erased_ids.json"
RECORDS_DIR = "records"
#: An erasure under way (or stopped partway): its ids, dates and facts' checksums, one file
#: per erasure (:func:`_write_pending`); runs leave its ids out as the list's.
PENDING_DIR = "pending"
#: The aggregate marts rebuilt from the rows left: by date, and by week.
REBUILT_DAILY = "daily_summary"
REBUILT_WEEKLY = ("fix_list", "agent_outcomes")
_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "landed": LANDED_SCHEMA,
    "landed_interactions": LANDED_SCHEMA,
    "clean": CLEAN_RESPONSE_SCHEMA,
    "quarantine": QUARANTINE_SCHEMA,
    "contacts": CONTACT_SCHEMA,
    "feedback_scored": FEEDBACK_SCORED_SCHEMA,
    "review_queue": REVIEW_QUEUE_SCHEMA,
}


def hashed_id(key: bytes, value: str) -> str:
    """The keyed BLAKE2b (hex, 32 bytes; the key: sha256 of ``key``, the agent key) of an id:
    what the erasure list and records hold instead of the id. Keyed BLAKE2b is a MAC, as
    HMAC-SHA256 is, at half the cost: every id a read of the raw zone holds is hashed when
    the list has entries (:func:`ids_hashed_to`). Surrounding whitespace is not part of an
    id."""
    return hashlib.blake2b(
        value.strip().encode(),
        key=hashlib.sha256(key).digest(),
        digest_size=32,
        person=b"sl-erasure",
    ).hexdigest()


def ids_hashed_to(key: bytes, values: pl.Series, digests: frozenset[bytes]) -> list[str]:
    """Those of ``values`` (distinct text, stripped) whose :func:`hashed_id` under ``key`` is
    one of ``digests`` (its 32 bytes, not hex), in ``values``' order.

    What a read of the raw zone spends on the erasure list: one keyed BLAKE2b per distinct id
    (about 0.5 µs of CPU each; a 1M-survey date holds some 2.2 million). The key's block is
    hashed once and the state copied for each id, the digests compared as bytes: the same
    hashes as :func:`hashed_id`, at a third of its cost. DuckDB's HMAC-SHA256 over the whole
    column (``sha256`` on BLOBs) was measured at about 1 µs of CPU an id: four SHA-256 blocks
    in portable code, against one BLAKE2b block here."""
    keyed = hashlib.blake2b(key=hashlib.sha256(key).digest(), digest_size=32, person=b"sl-erasure")
    found = []
    for value in values.cast(pl.Binary).to_list():
        state = keyed.copy()
        state.update(value)
        if state.digest() in digests:
            found.append(value.decode())
    return found


@dataclass(frozen=True)
class Eraser:
    """Tells the rows of erased ids from the others: ``hashes`` are :func:`hashed_id` of
    every erased id under ``key``. An eraser without hashes matches nothing and hashes
    nothing (the usual case: no erasure was ever asked for)."""

    key: bytes = b""
    hashes: frozenset[str] = frozenset()
    #: Of ``hashes``, those of customer ids: the subjects' own (:meth:`others_rows`).
    customers: frozenset[str] = frozenset()
    #: Of ``hashes``, those of ids that link a subject's rows and another customer's may
    #: name too (an ``interaction_id``: one call, two surveys); they match a row only when
    #: its own customer id is absent or a subject's (:meth:`others_rows`).
    linking: frozenset[str] = frozenset()
    #: Hashes of the response ids of other customers' responses naming a linking id (not in
    #: ``hashes``): their rows with no customer id of their own are theirs.
    others: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.hashes)

    @cached_property
    def digests(self) -> frozenset[bytes]:
        """``hashes`` as bytes, as :func:`ids_hashed_to` compares them."""
        return frozenset(bytes.fromhex(h) for h in self.hashes)

    def with_ids(self, values: Iterable[str], kind: str | None = None) -> Eraser:
        """This eraser, matching ``values`` (plain ids) too; ``kind`` (an :data:`IdKind`)
        says which: customer ids are the subjects' own, interaction ids link."""
        return self.with_hashed({kind: [hashed_id(self.key, v) for v in values]})

    def with_hashed(self, hashed: Mapping[Any, Iterable[str]]) -> Eraser:
        """This eraser, matching the :func:`hashed_id` hexes ``hashed`` holds by kind too (an
        erasure list's entries, a journal's ``hashed_ids``; kind ``None``: unknown)."""
        by_kind = {kind: list(hashes) for kind, hashes in hashed.items()}
        every = {h for hashes in by_kind.values() for h in hashes}
        return replace(
            self,
            hashes=self.hashes | every,
            customers=self.customers | set(by_kind.get("customer_id", [])),
            linking=self.linking | set(by_kind.get("interaction_id", [])),
        )

    def others_rows(self, frame: pl.DataFrame) -> pl.Series:
        """Per row of ``frame``, whether it is another customer's (bool, ``frame.height``
        long): its own ``customer_id`` is present (not empty once stripped of whitespace)
        and none of the subjects' (its hash not one of ``customers``), or its
        ``response_id`` or ``record_id`` is one of ``others`` (a response of another
        customer's, in a table with no customer id). The rule erase and the access request
        share: a row with no customer id of its own, and no response of another's, is still
        followed by the ids that link it. Hashes the distinct ids of those columns (about
        0.5 µs each, :func:`ids_hashed_to`)."""
        others = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
        # customer_id: another's when present and not listed; the others: when listed.
        for column, digests, listed in (
            ("customer_id", self.customers, False),
            ("response_id", self.others, True),
            ("record_id", self.others, True),
        ):
            if not digests or frame.schema.get(column) != pl.String:
                continue
            own = frame.get_column(column).str.strip_chars(WHITESPACE)
            present = own.drop_nulls().unique()
            hits = ids_hashed_to(
                self.key,
                present.filter(present != ""),
                frozenset(bytes.fromhex(h) for h in digests),
            )
            found = own.is_in(hits) if listed else (own != "") & ~own.is_in(hits)
            others = others | found.fill_null(False)
        return others

    def mask(self, frame: pl.DataFrame, columns: Sequence[str] = ID_COLUMNS) -> pl.Series:
        """Per row of ``frame``, whether it is an erased subject's row (bool, ``frame.height``
        long): one of the id ``columns`` holding an erased id, or a record text holding one
        as a token; a row held only by a linking id (an ``interaction_id``) is not matched
        when it is another customer's (:meth:`others_rows`). The distinct values of all the
        columns are hashed together, once each."""
        matched = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
        if not self or frame.height == 0:
            return matched
        ids = [
            frame.get_column(c).str.strip_chars(WHITESPACE)
            for c in columns
            if c in frame.columns and frame.schema[c] == pl.String
        ]
        texts = [
            frame.get_column(c).str.extract_all(ID_TOKEN)
            for c in TEXT_COLUMNS
            if c in frame.columns and frame.schema[c] == pl.String
        ]
        # Each column's distinct values (an id seldom stands in two columns): hashing is the
        # cost, about 0.5 µs an id, and a second unique over them all would cost as much.
        candidates = [*ids, *(tokens.explode() for tokens in texts)]
        distinct = pl.concat([v.drop_nulls().unique() for v in candidates]) if candidates else None
        hits = (
            []
            if distinct is None
            else ids_hashed_to(self.key, distinct.filter(distinct != ""), self.digests)
        )
        if not hits:
            return matched
        linking = [v for v in hits if hashed_id(self.key, v) in self.linking]

        def holding(wanted: list[str]) -> pl.Series:
            found = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
            if not wanted:
                return found
            for values in ids:
                found = found | values.is_in(wanted).fill_null(False)
            for tokens in texts:
                any_token = tokens.list.eval(pl.element().is_in(wanted)).list.any()
                found = found | any_token.fill_null(False)
            return found

        matched = holding([v for v in hits if v not in linking])
        linked = holding(linking)
        if not linked.any():
            return matched
        # A linking id (one call, two customers' surveys) takes no row that is another
        # customer's by its own customer id: the rule erase and access share.
        subjects = linked.clone().scatter(
            linked.arg_true(), ~self.others_rows(frame.filter(linked))
        )
        return matched | subjects

    def without_erased(
        self, frame: pl.DataFrame, columns: Sequence[str] = ID_COLUMNS
    ) -> tuple[pl.DataFrame, int]:
        """``frame`` without the erased subjects' rows (matched by ``columns`` and the
        record text), and how many were dropped."""
        if not self:
            return frame, 0
        erased = self.mask(frame, columns)
        return frame.filter(~erased), int(erased.sum())

    def erased_text(self, text: str) -> bool:
        """Whether a record's text (a malformed line) holds an erased id as a token."""
        return self.erased_texts([text])[0]

    def erased_texts(self, texts: Sequence[str]) -> list[bool]:
        """Per record text (a file's malformed lines), whether it holds an erased id as a
        token: the tokens of all of them hashed together, once each."""
        if not self or not texts:
            return [False] * len(texts)
        frame = pl.DataFrame({"raw_record": list(texts)}, schema={"raw_record": pl.String})
        return self.mask(frame, ()).to_list()

    def without_erased_read(
        self, read: RawRead, columns: Sequence[str] = ID_COLUMNS
    ) -> tuple[RawRead, int]:
        """A raw file's read without the erased subjects' rows (matched by ``columns``) and
        malformed lines, and how many records were dropped. The caller counts them as
        erased."""
        if not self:
            return read, 0
        frame, dropped = self.without_erased(read.frame, columns)
        erased = self.erased_texts([r.text for r in read.rejects])
        rejects = [r for r, gone in zip(read.rejects, erased, strict=True) if not gone]
        return replace(read, frame=frame, rejects=rejects), dropped + len(read.rejects) - len(
            rejects
        )

    def reading(self, read_file: Callable[..., RawRead]) -> Callable[..., RawRead]:
        """``read_file`` (an interaction reader: path, sha256, keep) whose reads leave out the
        erased subjects' records, counting them as ``skipped`` so a file's records read stay
        what the file holds. ``read_file`` itself is returned when nothing is erased."""
        if not self:
            return read_file

        def read(*args: Any, **kwargs: Any) -> RawRead:
            # Every interaction of a customer carries the customer's id: the other id
            # columns need not be hashed (a day's export is millions of rows at scale).
            kept, dropped = self.without_erased_read(read_file(*args, **kwargs), ("customer_id",))
            return replace(kept, skipped=kept.skipped + dropped)

        return read


def erasure_dir(settings: Settings) -> DataPath:
    """``erasure/`` of the data directory: the erasure list and the erasure records (one for
    the whole data directory, every source's)."""
    return settings.root / ERASURE_DIR


def _list_entries(settings: Settings) -> list[dict[str, Any]]:
    path = erasure_dir(settings) / LIST_FILE
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text()).get("erased", [])
    return entries


class ErasureError(StorageError):
    """An erasure that could not be done: before anything was written (a partition it cannot
    read or count), or stopped partway (the message says what was done and that the same
    erase again finishes it). Its message is the whole story."""


def _pending_path(settings: Settings, erasure_id: str) -> DataPath:
    return erasure_dir(settings) / PENDING_DIR / f"{erasure_id}.json"


def _pending_journals(settings: Settings) -> list[dict[str, Any]]:
    """Every erasure under way or stopped partway (``erasure/pending/*.json``), oldest
    first."""
    folder = erasure_dir(settings) / PENDING_DIR
    if not folder.exists():
        return []
    files: list[DataPath] = sorted(folder.glob("*.json"), key=str)
    return [json.loads(f.read_text()) for f in files]


def _pending_of(
    settings: Settings, hashed: dict[str, list[str]], source: str | None
) -> list[dict[str, Any]]:
    """The erasures of ``source`` stopped partway that asked for one of the customer or
    response ids ``hashed`` holds (:func:`hashed_id` by kind): those the same erase finishes."""
    asked = set(hashed.get("customer_id", [])) | set(hashed.get("response_id", []))
    return [
        journal
        for journal in _pending_journals(settings)
        if journal.get("source") == source
        and asked
        & (
            set(journal["hashed_ids"].get("customer_id", []))
            | set(journal["hashed_ids"].get("response_id", []))
        )
    ]


def _found_of(journals: Sequence[dict[str, Any]]) -> list[Found]:
    """The partitions the first attempt of stopped erasures found (their journals')."""
    return [
        Found(f["source"], f["table"], date.fromisoformat(f["day"]), f["file"], f["rows"])
        for journal in journals
        for f in journal.get("found", [])
    ]


def _write_pending(
    settings: Settings,
    erasure_id: str,
    request: ErasureRequest,
    hashed: dict[str, list[str]],
    found: Sequence[Found],
    facts_before: dict[str, dict[date, str]],
    earlier: Sequence[dict[str, Any]],
) -> DataPath:
    """Write the journal of an erasure about to rewrite partitions: its hashed ids (which runs
    leave out from now on, :func:`erasure_list`), the partitions found, the contact facts'
    checksums before, and when each attempt started. Removed once the erasure is recorded."""
    started = [t for journal in earlier for t in journal.get("attempts", [journal["started_at"]])]
    journal = {
        "about": "an erasure under way or stopped partway: `servicelens erase` of the same id "
        "finishes it. Runs leave these ids out meanwhile. Do not edit.",
        "erasure_id": erasure_id,
        "started_at": earlier[0]["started_at"] if earlier else datetime.now(UTC).isoformat(),
        "attempts": [*started, datetime.now(UTC).isoformat()],
        "source": request.source,
        "hashed_ids": hashed,
        "found": [{**f.__dict__, "day": f.day.isoformat()} for f in found],
        "facts_before": {
            source: {d.isoformat(): v for d, v in sums.items()}
            for source, sums in facts_before.items()
        },
    }
    path = _pending_path(settings, erasure_id)
    write_text_whole(path, json.dumps(journal, indent=2))
    return path


def erasure_list(settings: Settings) -> Eraser:
    """The eraser of every id erased so far that applies to ``settings``' source (an entry
    made with ``--source`` applies to that source only). Reads the agent key only when the
    list has entries: a data directory never asked to erase anything needs none. The ids of
    an erasure under way, or stopped partway (``erasure/pending/``), are left out too."""
    pending = [
        {"hash": h, "kind": kind, "source": journal.get("source")}
        for journal in _pending_journals(settings)
        for kind, hashes in journal["hashed_ids"].items()
        for h in hashes
    ]
    by_kind: dict[str | None, list[str]] = {}
    for e in [*_list_entries(settings), *pending]:
        if e.get("source") in (None, settings.source):
            by_kind.setdefault(e.get("kind"), []).append(e["hash"])
    if not by_kind:
        return Eraser()
    return Eraser(settings.agent_key()).with_hashed(by_kind)


@dataclass
class Found:
    """The rows of the subject in one partition of one table: where, and how many."""

    source: str
    table: str
    day: date
    file: str
    rows: int


@dataclass
class IdVariant:
    """An id found in one source's table that differs from a customer id asked for only in
    case or surrounding whitespace (``c00016`` or ``" C00016"`` for ``C00016``): ``asked``
    the id asked for (stripped), ``spelled`` the value as found (a column's value, or a
    token of a record's text), ``rows`` the table's rows holding it (all its partitions),
    ``hashed`` its :func:`hashed_id`.

    ``erased``: whether the erasure takes its rows. Surrounding whitespace is no part of an id
    (:func:`hashed_id`), so ``" C00016"`` is erased with ``C00016``; another case is another
    id (the vendors' ids are opaque, and may be case-sensitive): ``c00016`` is named, never
    erased unless asked for."""

    source: str
    table: str
    asked: str
    spelled: str
    rows: int
    hashed: str = ""

    @property
    def erased(self) -> bool:
        """Whether the spelling differs by surrounding whitespace alone (erased with it)."""
        return self.spelled.strip(WHITESPACE) == self.asked


def spellings_differing_in_case(frame: pl.DataFrame, asked: Sequence[str]) -> pl.DataFrame:
    """The values of ``frame``'s ``customer_id`` column and the id tokens (:data:`ID_TOKEN`)
    of its ``raw_record`` text that equal one of ``asked`` (ids, stripped) once stripped of
    whitespace and lower-cased, but are not one of ``asked`` as written: columns ``asked``
    and ``spelled`` (String), ``rows`` (UInt32, the rows of ``frame`` holding that
    spelling, each row once), sorted. Either column may be missing or hold nulls.

    A record's text is searched only where it holds one of ``asked`` in any ASCII case
    (polars' ``contains_any``), so a variant differing in the case of a non-ASCII letter is
    found in the id column alone."""
    empty = pl.DataFrame(schema={"asked": pl.String, "spelled": pl.String, "rows": pl.UInt32})
    if not asked or frame.height == 0:
        return empty
    lowered = pl.DataFrame({"asked": list(asked)}).with_columns(
        pl.col("asked").str.to_lowercase().alias("key")
    )
    row = pl.int_range(pl.len(), dtype=pl.UInt32).alias("row")
    spelled: list[pl.DataFrame] = []
    if frame.schema.get("customer_id") == pl.String:
        spelled.append(frame.select(row, pl.col("customer_id").alias("spelled")))
    if frame.schema.get("raw_record") == pl.String:
        text = pl.col("raw_record")
        holding = text.str.contains_any(list(asked), ascii_case_insensitive=True).fill_null(False)
        spelled.append(
            frame.select(row, text.str.extract_all(ID_TOKEN).alias("spelled"))
            .filter(frame.select(holding).to_series())
            .explode("spelled")
        )
    if not spelled:
        return empty
    return (
        pl.concat(spelled)
        .drop_nulls("spelled")
        .filter(~pl.col("spelled").is_in(list(asked)))
        .with_columns(pl.col("spelled").str.strip_chars(WHITESPACE).str.to_lowercase().alias("key"))
        .join(lowered, on="key")
        .unique(["row", "spelled"])
        .group_by("asked", "spelled")
        .agg(pl.len().alias("rows"))
        .sort("asked", "spelled")
    )


@dataclass
class ErasureResult:
    """What an erasure found, and (unless a dry run) did: the partitions holding the
    subject's rows, the aggregate marts rebuilt, the Prefect parse-cache entries deleted, the
    artefacts left to the operator, and where the record is."""

    dry_run: bool
    found: list[Found] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    cache_entries_deleted: list[str] = field(default_factory=list)
    not_rewritten: list[dict[str, str]] = field(default_factory=list)
    record: str | None = None
    hashed_ids: dict[str, list[str]] = field(default_factory=dict)
    #: Rows found again after erasing (a run published them meanwhile): erase again.
    remaining: list[Found] = field(default_factory=list)
    #: The spellings of the customer ids asked for in another case or with whitespace
    #: around them, found when looking (:func:`find_subject`).
    variants: list[IdVariant] = field(default_factory=list)
    #: The dates (``source/YYYY-MM-DD``) whose look-back reads contact facts the erasure
    #: rewrote, their manifests told the facts' new checksums (:func:`_keep_readers_current`).
    look_back_updated: list[str] = field(default_factory=list)
    #: When the earlier attempts of this erasure started, which stopped partway (a date
    #: held, a write that failed) and this one finished; empty for an erasure done at once.
    resumed: list[str] = field(default_factory=list)

    def not_included(self) -> list[str]:
        """The ids found that differ from one asked for in case, so are not erased (plain,
        stripped, sorted): each is another id, perhaps another customer's."""
        return sorted({v.spelled.strip(WHITESPACE) for v in self.variants if not v.erased})

    def rows_by_table(self) -> dict[str, int]:
        """Rows found per ``source/table``."""
        totals: dict[str, int] = {}
        for f in self.found:
            name = f"{f.source}/{f.table}"
            totals[name] = totals.get(name, 0) + f.rows
        return totals

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (``--json``); ids appear hashed only."""
        return {
            "dry_run": self.dry_run,
            "rows_found": sum(f.rows for f in self.found),
            "rows_by_table": self.rows_by_table(),
            "partitions": [{**f.__dict__, "day": f.day.isoformat()} for f in self.found],
            "rebuilt": self.rebuilt,
            "look_back_updated": self.look_back_updated,
            "resumed": self.resumed,
            "cache_entries_deleted": self.cache_entries_deleted,
            "not_rewritten": self.not_rewritten,
            "record": self.record,
            "hashed_ids": self.hashed_ids,
            "remaining": [{**f.__dict__, "day": f.day.isoformat()} for f in self.remaining],
            # Hashed as the ids are: the record keeps no id in plain text.
            "id_variants": [
                {
                    "source": v.source,
                    "table": v.table,
                    "rows": v.rows,
                    "erased": v.erased,
                    "hashed_id": v.hashed,
                }
                for v in self.variants
            ],
        }


def table_dirs(settings: Settings) -> dict[str, DataPath]:
    """The folders of the per-date tables whose rows are erased one by one, for one source,
    in the order :func:`erase_day` rewrites them (the aggregates are rebuilt instead); a
    source with a contact-facts feed (``[interactions]``) has its landed facts too, which
    carry the customer's id."""
    return {
        "landed": settings.landed_dir,
        **(
            {"landed_interactions": settings.for_interactions().landed_dir}
            if settings.interaction_feed
            else {}
        ),
        "clean": settings.clean_dir,
        "quarantine": settings.quarantine_dir,
        "contacts": settings.contacts_dir,
        "feedback_scored": settings.marts_dir / "feedback_scored",
        "review_queue": settings.marts_dir / "review_queue",
    }


def _partitions(table_dir: DataPath) -> list[tuple[date, DataPath]]:
    found = []
    for file in table_dir.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}"):
        try:
            found.append((date.fromisoformat(file.parent.name.split("=", 1)[1]), file))
        except ValueError:
            continue  # not a partition
    return sorted(found, key=lambda item: item[0])


def subject_eraser(
    layers: Sequence[Settings], key: bytes, customer_ids: Sequence[str], response_ids: Sequence[str]
) -> tuple[Eraser, dict[IdKind, set[str]]]:
    """The eraser of a request, and its ids by kind: the ids asked for, plus the response and
    interaction ids of the customers' rows in the clean layer, the landed layer and the
    contact history of ``layers`` (the raw survey lines of a customer carry only those)."""
    ids: dict[IdKind, set[str]] = {
        "customer_id": {c.strip() for c in customer_ids if c.strip()},
        "response_id": {r.strip() for r in response_ids if r.strip()},
        "interaction_id": set(),
    }
    customers = Eraser(key).with_ids(ids["customer_id"])
    if customers:
        for settings in layers:
            dirs = table_dirs(settings)
            for table in ("landed", "landed_interactions", "clean", "contacts"):
                for _, file in _partitions(dirs[table]) if table in dirs else []:
                    frame = read_parquet(file)
                    if "customer_id" not in frame.columns:
                        continue
                    hits = frame.filter(
                        pl.col("customer_id").str.strip_chars().is_in(ids["customer_id"])
                    )
                    for kind in ("response_id", "interaction_id"):
                        if kind in hits.columns:
                            ids[kind].update(hits.get_column(kind).drop_nulls().str.strip_chars())
    eraser = Eraser(key)
    for kind, values in ids.items():
        eraser = eraser.with_ids(values, kind)
    others = _others_responses(layers, ids["customer_id"], ids["interaction_id"])
    return replace(eraser, others=frozenset(hashed_id(key, r) for r in others)), ids


def _others_responses(
    layers: Sequence[Settings], customers: set[str], interactions: set[str]
) -> set[str]:
    """The response ids of other customers' responses naming one of ``interactions`` (the
    subjects' calls; two surveys may name one): a landed or clean row whose own customer id
    is present and none of ``customers``. Their rows in the tables without a customer id
    (``feedback_scored``, ``review_queue``, the quarantine's ``record_id``) are theirs, not
    the subject's (:meth:`Eraser.others_rows`). Reads three columns of each partition."""
    found: set[str] = set()
    if not interactions:
        return found
    wanted = ["customer_id", "response_id", "interaction_id"]
    for settings in layers:
        dirs = table_dirs(settings)
        for table in ("landed", "clean"):
            for _, file in _partitions(dirs[table]):
                try:
                    frame = read_parquet(file, columns=wanted)
                except pl.exceptions.ColumnNotFoundError:
                    continue  # a layout without one of them: no response names a call
                own = pl.col("customer_id").str.strip_chars(WHITESPACE)
                rows = frame.filter(
                    pl.col("interaction_id").str.strip_chars(WHITESPACE).is_in(interactions)
                    & (own != "")
                    & ~own.is_in(customers)
                )
                found.update(rows.get_column("response_id").drop_nulls().str.strip_chars())
    return found


def find_rows(layers: Sequence[Settings], eraser: Eraser) -> list[Found]:
    """Every partition of ``layers``' per-date tables (:func:`table_dirs`) holding rows
    ``eraser`` matches, with their count. Reads every partition once."""
    return find_subject(layers, eraser, ())[0]


def find_subject(
    layers: Sequence[Settings], eraser: Eraser, customer_ids: Sequence[str]
) -> tuple[list[Found], list[IdVariant]]:
    """:func:`find_rows`, and the spellings of ``customer_ids`` (the ids asked for, stripped)
    that differ only in case or surrounding whitespace (:func:`spellings_differing_in_case`)
    per source and table, their rows summed over its partitions (``hashed`` left empty).
    Reads every partition once."""
    found = []
    variants: dict[tuple[str, str, str, str], int] = {}
    for where, rows, spellings in subject_partitions(layers, eraser, customer_ids):
        if rows.height:
            found.append(where)
        for asked, spelled, n in spellings.iter_rows():
            key = (where.source, where.table, asked, spelled)
            variants[key] = variants.get(key, 0) + n
    return found, [IdVariant(*key, rows) for key, rows in variants.items()]


def subject_partitions(
    layers: Sequence[Settings], eraser: Eraser, customer_ids: Sequence[str]
) -> Iterator[tuple[Found, pl.DataFrame, pl.DataFrame]]:
    """The one locator of a subject's rows (erase's, the access request's): for every
    partition of ``layers``' per-date tables (:func:`table_dirs`), in their order, where it
    is (:class:`Found`, ``rows`` the rows ``eraser`` matches, 0 or more), those rows as
    stored (the partition file's columns), and the spellings of ``customer_ids`` in it that
    differ in case or surrounding whitespace (:func:`spellings_differing_in_case`). Reads
    every partition once."""
    for settings in layers:
        for table, table_dir in table_dirs(settings).items():
            for day, file in _partitions(table_dir):
                frame = read_parquet(file)
                rows = frame.filter(eraser.mask(frame))
                where = Found(settings.source, table, day, str(file), rows.height)
                yield where, rows, spellings_differing_in_case(frame, customer_ids)


#: The files of a model version that name the responses it trained on, by response id (and
#: a quarantined input row's record): what :func:`model_files_holding` searches.
MODEL_ID_FILES = (OUT_OF_FOLD_FILE, HOLDOUT_FILE, FACTS_ONLY_FILE, QUARANTINE_FILE)


@dataclass
class ModelRows:
    """The rows of one file of one model version that are about the subject: ``registry``
    the version's registry (``models/`` or ``models/sources/<name>/``), ``source`` its
    source (``sample`` for ``models/``), ``champion`` whether the version is its champion."""

    source: str
    registry: DataPath
    version: str
    file: str
    champion: bool
    rows: pl.DataFrame


def _registries(settings: Settings, layers: Sequence[Settings], every: bool) -> dict[str, DataPath]:
    """The model registries of ``layers`` by source name, and with ``every`` each other
    registry under ``models/sources/`` (a source trained with ``train --input`` alone)."""
    found: dict[str, DataPath] = {layer.source: layer.models_dir for layer in layers}
    others = settings.root / "models" / "sources"
    if every and others.exists():
        folders: list[DataPath] = sorted(others.iterdir(), key=str)
        for folder in folders:
            if folder.is_dir():
                found.setdefault(folder.name, folder)
    return found


def versions_in(registry: DataPath) -> list[DataPath]:
    """The saved model versions' folders in ``registry`` (each with its metadata file),
    sorted; none where it does not exist. The sample's ``models/`` also holds the configured
    sources' registries (``models/sources/``), which are not its versions."""
    from models.registry import METADATA_FILE

    if not registry.exists():
        return []
    return sorted((p for p in registry.iterdir() if (p / METADATA_FILE).exists()), key=str)


def _sample_commands_refused(sample: Settings) -> bool:
    """Whether ``servicelens train`` and ``models`` refuse the sample's registry here: a data
    directory holding no sample dates, only configured sources (``chosen_source``)."""
    from servicelens.reporting.analyst import chosen_source

    try:
        chosen_source(sample, None, "train")
    except ValueError:
        return True
    return False


def model_files_holding(
    settings: Settings, layers: Sequence[Settings], eraser: Eraser, every: bool = False
) -> list[ModelRows]:
    """Every file of a saved model version (:data:`MODEL_ID_FILES`) holding rows ``eraser``
    matches (by response id, and a quarantined input row's id or record text, as the
    layers' rows), in the registries of ``layers`` (with ``every``, the other sources'
    under ``models/sources/`` too), oldest version first. The vocabulary in ``model.skops``
    and the drift reference may hold the subject's words too; those carry no ids, so
    nothing here can tell (the README says so). Reads through the storage layer (local or
    object store); a file that cannot be read as Parquet raises as
    ``servicelens.storage.fs.read_parquet`` does."""
    from models.registry import champion_version

    if not eraser:
        return []
    found: list[ModelRows] = []
    for source, registry in _registries(settings, layers, every).items():
        if not registry.exists():
            continue
        champion = champion_version(registry)
        for folder in versions_in(registry):
            for name in MODEL_ID_FILES:
                file = folder / name
                if not file.exists():
                    continue
                frame = read_parquet(file)
                rows = frame.filter(eraser.mask(frame))
                if rows.height:
                    found.append(
                        ModelRows(source, registry, folder.name, str(file),
                                  folder.name == champion, rows)
                    )  # fmt: skip
    return found


def model_versions_holding(
    settings: Settings, layers: Sequence[Settings], eraser: Eraser, every: bool = False
) -> list[dict[str, str]]:
    """The model versions whose files hold the subject's ids (:func:`model_files_holding`),
    as :func:`_not_rewritten` names what it leaves (``what``, ``path``, ``action``): the
    command that deletes each (``servicelens models [--source NAME] delete VERSION --yes``),
    and for a champion, to retrain first (``servicelens train [--source NAME]``). An
    erasure cannot rewrite them: a model is fitted on its rows (README "Erasing one
    person's data")."""
    from transforms.schemas import SAMPLE_SOURCE

    by_version: dict[tuple[str, str], list[ModelRows]] = {}
    for held in model_files_holding(settings, layers, eraser, every):
        by_version.setdefault((held.source, held.version), []).append(held)
    named: list[dict[str, str]] = []
    for (source, version), files in by_version.items():
        flag = "" if source == SAMPLE_SOURCE else f" --source {source}"
        delete = f"`servicelens models{flag} delete {version} --yes`"
        rows = ", ".join(f"{f.rows.height} in {Path(f.file).name}" for f in files)
        holds = f"holds their response ids ({rows}), and may hold their words in its vocabulary"
        action = (
            f"{holds}. The champion: retrain (`servicelens train{flag}`; promote the new "
            f"version by hand if training keeps this one), then delete it: {delete}"
            if files[0].champion
            else f"{holds}: delete it: {delete}"
        )
        named.append(
            {"what": "model version", "path": str(files[0].registry / version), "action": action}
        )
    return named


#: Quarantine reason kinds (``reason_kinds``) of a line the reader could not split: the
#: date's ``malformed_lines``, never a failed expectation.
_MALFORMED_KINDS = ("malformed_line", "malformed_json", "repeated_header")
#: Reason kinds that are no failed expectation (``failed_expectations`` counts the others).
_NOT_EXPECTATIONS = (*_MALFORMED_KINDS, "duplicate_delivery", "updated", "exact_duplicate")


def _exclude_reasons(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The reasons of the source definition's ``[[exclude]]`` rules, and of those marked
    ``unanswered``; none for the sample, or a source whose definition is gone."""
    if settings.is_sample:
        return (), ()
    from servicelens.stages import source_definition

    try:
        rules = source_definition(settings).exclude
    except Exception:  # the definition was removed since: its counts stay as written
        return (), ()
    return tuple(r.reason for r in rules), tuple(r.reason for r in rules if r.unanswered)


def _less(before: dict[str, int], erased: dict[str, int], keep_zeros: bool) -> dict[str, int]:
    """``before`` (counts by key) less ``erased``, never below 0; with ``keep_zeros``
    False the keys left at 0 go (``failed_expectations`` lists the columns that failed)."""
    after = {k: max(0, v - erased.get(k, 0)) for k, v in before.items()}
    return {k: v for k, v in after.items() if v or keep_zeros}


def erased_counts(
    quarantine: pl.DataFrame,
    clean: pl.DataFrame,
    set_aside: Sequence[str] = (),
    unanswered: Sequence[str] = (),
    feed: str = "surveys",
) -> dict[str, Any]:
    """What erased rows counted for in a date's ``DayCounts`` beyond read, kept and
    quarantined, as the stages count them (``servicelens.stages``): ``quarantine`` the
    erased quarantine rows (``QUARANTINE_SCHEMA``, or any older layout the contract still
    reads: a column added since is null, ``reason_kinds`` taken again where a partition
    older than contract 3 has none, and where ``superseded`` is null an earlier copy is told
    by its first reason, :func:`~servicelens.validation.reasons.is_superseded_copy`, as
    ``processed_dates`` and the report tell it), ``clean`` the erased clean rows;
    ``set_aside`` and ``unanswered`` the source definition's ``[[exclude]]`` reasons;
    ``feed`` the quarantine rows counted (``surveys``; ``interactions``: the contact feed's,
    whose ``superseded``, ``exact_duplicates`` and ``updated_copies`` are the date's
    ``interactions_superseded``... as ``servicelens.stages`` counts them).

    Returns ``superseded``, ``exact_duplicates``, ``updated_copies``, ``withdrawn``
    (distinct responses), ``day_first``, ``malformed_lines``, ``set_aside``, ``unanswered`` (rows),
    ``failed_expectations`` (reasons by the column they name) and ``redacted``
    (placeholders by kind, in the clean rows' comments and the quarantined records)."""
    from servicelens.stages import SUPERSEDED_BY_A_FAILED_COPY, SUPERSEDED_BY_A_SET_ASIDE_COPY
    from servicelens.validation.expectations import READS_SWAPPED
    from servicelens.validation.reasons import is_superseded_copy, with_reason_kinds
    from transforms.pii import add_counts, placeholder_counts

    # A partition of an older layout reads as the quarantine contract says: the columns added
    # since null (layout 1 had no ``superseded``, version 2 no reason kinds), an earlier copy
    # told by its first reason where ``superseded`` is null (is_superseded_copy).
    surveys = with_contract_columns(quarantine, QUARANTINE_SCHEMA).filter(pl.col("feed") == feed)
    if surveys.get_column("reason_kinds").has_nulls():
        surveys = with_reason_kinds(surveys.drop("reason_kinds", "reason_columns"), set_aside)
    surveys = surveys.with_columns(is_superseded_copy().alias("superseded"))
    superseded = surveys.filter(pl.col("superseded"))
    rejects = surveys.filter(~pl.col("superseded"))
    kinds, reasons = pl.col("reason_kinds"), pl.col("reasons")
    aside = rejects.filter(kinds.list.contains("set_aside"))
    withdrawing = reasons.list.eval(
        pl.element().str.contains(SUPERSEDED_BY_A_FAILED_COPY, literal=True)
        | pl.element().str.contains(SUPERSEDED_BY_A_SET_ASIDE_COPY, literal=True)
    ).list.any()
    failed = (
        rejects.select(reasons, kinds)
        .explode("reasons", "reason_kinds")
        .filter(~pl.col("reason_kinds").is_in([*_NOT_EXPECTATIONS, "set_aside"]))
        .select(pl.col("reasons").str.extract(r"^([a-z_]+):").alias("column"))
        .drop_nulls()
        .group_by("column")
        .len()
    )
    return {
        "superseded": superseded.height,
        # A later line of the same file (a form submitted twice), as the stages count them.
        "exact_duplicates": superseded.filter(kinds.list.first() == "exact_duplicate").height,
        "updated_copies": superseded.filter(kinds.list.first() == "updated").height,
        "withdrawn": superseded.filter(withdrawing).get_column("record_id").n_unique(),
        "day_first": rejects.filter(
            reasons.list.eval(pl.element().str.contains(READS_SWAPPED, literal=True)).list.any()
        ).height,
        "malformed_lines": rejects.filter(
            kinds.list.eval(pl.element().is_in(_MALFORMED_KINDS)).list.any()
        ).height,
        "set_aside": aside.height,
        "unanswered": aside.filter(
            reasons.list.eval(
                pl.any_horizontal(False, *(pl.element().str.ends_with(f" {r}") for r in unanswered))
            ).list.any()
        ).height,
        "failed_expectations": dict(failed.iter_rows()),
        "redacted": add_counts(
            placeholder_counts(clean, "comment"), placeholder_counts(quarantine, "raw_record")
        ),
    }


def _counts_after(
    counts: dict[str, Any],
    clean: pl.DataFrame,
    erased_clean: pl.DataFrame,
    erased_quarantine: pl.DataFrame,
    undated: int,
    settings: Settings,
    contacts_erased: int = 0,
    awaiting: int | None = None,
) -> dict[str, Any]:
    """A date's reconciliation counts (``DayCounts`` as a manifest holds them) after the
    clean rows ``erased_clean`` and the quarantine rows ``erased_quarantine`` were erased
    (``undated`` of them landed without a date of their own): still read = kept +
    quarantined + erased, and every count of rows (:func:`erased_counts`) without them;
    ``clean`` is the clean rows left. ``swapped_nearer`` and ``maybe_misdated`` are left as
    they were (a reading of the whole delivery's times), ``interactions_read`` too (records
    the file holds: a later read counts an erased one as skipped).

    The contact feed's counts alike: ``contacts_erased`` rows of the date's landed contact
    facts were erased (kept ones and quarantined copies), counted in
    ``interactions_erased`` so that ``interactions_read`` = kept + ``interactions_quarantined``
    + ``interactions_erased``, and ``interactions_superseded``... lose the erased earlier
    copies; ``awaiting``, the kept responses left that still wait for their contact facts
    (:func:`_awaiting_after`), bounds ``awaiting_contact_facts``."""
    feed = erased_quarantine.get_column("feed")
    surveys = int((feed == "surveys").sum())
    interactions = int((feed == "interactions").sum())
    reasons = _exclude_reasons(settings)
    gone = erased_counts(erased_quarantine, erased_clean, *reasons)
    copies = erased_counts(erased_quarantine, erased_clean.clear(), *reasons, "interactions")
    superseded = max(0, counts.get("superseded_duplicates", 0) - gone["superseded"])
    after = {
        **counts,
        "kept": clean.height,
        "quarantined": counts.get("quarantined", 0) - surveys,
        "erased": counts.get("erased", 0) + erased_clean.height + surveys,
        "interactions_quarantined": counts.get("interactions_quarantined", 0) - interactions,
        # The landed facts' rows erased are the contacts erased, kept or quarantined.
        "interactions_erased": counts.get("interactions_erased", 0)
        + max(interactions, contacts_erased),
        "superseded_duplicates": superseded,
        # Of those, the later lines of the same file (the stages' exact duplicates).
        "exact_duplicates": max(0, counts.get("exact_duplicates", 0) - gone["exact_duplicates"]),
    }
    for name in (
        "updated_copies",
        "withdrawn",
        "day_first",
        "malformed_lines",
        "set_aside",
    ):
        if name in counts:
            after[name] = max(0, counts[name] - gone[name])
    if "unanswered" in counts:
        after["unanswered"] = max(0, counts["unanswered"] - gone["unanswered"])
    for name, erased in (
        ("interactions_superseded", "superseded"),
        ("interactions_exact_duplicates", "exact_duplicates"),
        ("interactions_updated", "updated_copies"),
    ):
        if name in counts:
            after[name] = max(0, counts[name] - copies[erased])
    if counts.get("awaiting_contact_facts") and awaiting is not None:
        after["awaiting_contact_facts"] = min(counts["awaiting_contact_facts"], awaiting)
    if counts.get("undated") is not None:
        after["undated"] = max(0, counts["undated"] - undated)
    for name in ("failed_expectations", "redacted"):
        if isinstance(counts.get(name), dict):
            after[name] = _less(counts[name], gone[name], keep_zeros=name == "redacted")
    if "is_negative" in clean.columns:
        after["negatives"] = int(clean.get_column("is_negative").sum())
        after["rated"] = int(clean.get_column("is_negative").is_not_null().sum())
    return after


def _awaiting_after(settings: Settings, day: date, clean: pl.DataFrame) -> int | None:
    """Of ``clean``, a source's kept responses of ``day`` left by an erasure, those the
    stages count as ``awaiting_contact_facts``: naming a contact the feed's facts have no row
    for, while the feed has no export landed for ``day`` (the facts read and checked as a run
    reads them, :func:`servicelens.stages.landed_interactions`; the erased customer's own
    contacts may be gone from the feed by now). None for the sample or a source without a
    feed."""
    from servicelens.stages import (
        contacts_without_facts,
        feed_export_landed,
        landed_interactions,
        source_definition,
    )

    if settings.is_sample or not settings.interaction_periods(day):
        return None
    if feed_export_landed(settings, day) or "interaction_id" not in clean.columns:
        return 0
    facts = landed_interactions(settings, source_definition(settings), day, datetime.now(UTC))
    return contacts_without_facts(clean, facts.facts)


def _conformed(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as ``table``'s partition is written back: a partition written under an
    older contract lacks the columns added since (the quarantine's ``superseded``, layout 2,
    and reason kinds, contract 3; feedback_scored's ``in_training_set``): they are written
    null, as readers of the table read them in such partitions, and the rows keep their own
    ``schema_version``. Raises what :func:`~transforms.schemas.conform` raises for a column
    that cannot be cast."""
    from transforms.schemas import conform

    schema = _SCHEMAS.get(table) or DAILY_SUMMARY_SCHEMA
    return conform(with_contract_columns(frame, schema), schema)


def _read(table_dir: DataPath, day: date, table: str) -> tuple[pl.DataFrame, dict[str, Any]] | None:
    """A partition of ``table`` with its partition column, and its manifest; None when there
    is none. A partition an earlier release wrote reads with the columns added to the
    table's contract since null (``with_contract_columns``), as the README's "Upgrading"
    says BI reads it."""
    file = partition_dir(table_dir, day) / DATA_FILE
    if not file.exists():
        return None
    frame = read_parquet(file).with_columns(pl.lit(day).alias(PARTITION_COLUMN))
    schema = _SCHEMAS.get(table) or DAILY_SUMMARY_SCHEMA
    return with_contract_columns(frame, schema), read_manifest(table_dir, day) or {}


def _by_this_erasure(manifest: dict[str, Any], erasure_id: str) -> bool:
    """Whether ``manifest``'s partition was already rewritten by erasure ``erasure_id`` (an
    earlier attempt of it that stopped partway)."""
    return manifest.get("erasure_id") == erasure_id


def erase_day(
    settings: Settings, day: date, eraser: Eraser, erasure_id: str, write: bool = True
) -> list[str]:
    """Rewrite one date (or month) of one source without the rows ``eraser`` matches, every
    partition through :func:`write_partition` and each manifest reconciled; rebuild the
    date's ``daily_summary`` from the feedback_scored rows left (as the pipeline builds it).
    Returns the partitions rebuilt rather than filtered (``daily_summary/<date>``).

    ``write`` False reads, counts and builds everything (the checks that can fail on a
    partition: :func:`erased_counts`, the daily summary, each table's contract) and writes
    nothing: :func:`erase` does so for every date before writing any.

    Again after an attempt of the same ``erasure_id`` stopped partway, a date finishes: a
    partition that attempt rewrote (its manifest's ``erasure_id``) holds no rows to erase,
    the date's counts are those it wrote (the clean or quarantine manifest's), and the
    landed rows it erased still count (``erased_undated``, the new landed checksums)."""
    from servicelens.stages import contact_inputs, mart_counts
    from servicelens.storage.runs import input_checksums
    from transforms.marts import daily_summary

    def put(table_dir: DataPath, table: str, frame: pl.DataFrame, manifest: dict[str, Any]) -> None:
        conformed = _conformed(table, frame)
        if write:
            schema = _SCHEMAS.get(table) or DAILY_SUMMARY_SCHEMA
            write_partition(conformed, table_dir, day, schema, manifest, staging)

    staging = settings.staging_dir
    dirs = table_dirs(settings)
    stamp = {"erasure_id": erasure_id, "erased_at": datetime.now(UTC).isoformat()}
    inputs: dict[str, str] | None = None
    undated = 0  # of the landed rows erased, those dated by their delivery (undated)
    # The survey rows as landed, and a source's landed contact facts (a partition per day
    # the contacts started, which the survey partitions of the look-back days join).
    landed_rewritten = False
    contacts_erased = 0  # of the date's landed contact facts, the rows erased
    for table in ("landed", "landed_interactions"):
        landed = _read(dirs[table], day, table) if table in dirs else None
        if landed is None:
            continue
        if _by_this_erasure(landed[1], erasure_id):  # an earlier attempt rewrote it
            landed_rewritten = True
            if table == "landed":
                undated = int(landed[1].get("erased_undated", 0))
            continue
        if not (mask := eraser.mask(landed[0])).any():
            continue
        # Counted by delivery, as landing counts the rows it leaves out when a delivery is
        # landed again (ingest.landing.land_delivery): read = kept + quarantined + erased.
        erased: dict[str, int] = dict(landed[1].get("erased", {}))
        for delivery, rows in landed[0].filter(mask).group_by("delivery").len().iter_rows():
            erased[delivery or ""] = erased.get(delivery or "", 0) + rows
        gone = 0
        if table == "landed_interactions":
            contacts_erased = int(mask.sum())
        if table == "landed" and "dated_by_delivery" in landed[0].columns:
            gone = int(landed[0].filter(mask).get_column("dated_by_delivery").sum())
            undated = gone
        manifest = {**landed[1], "erased": erased, **stamp, "erased_undated": gone}
        put(dirs[table], table, landed[0].filter(~mask), manifest)
        landed_rewritten = True
    # The landed files are the date's inputs: their new checksums are what the clean and
    # mart partitions were built from now, so --rerun changed does not run it again.
    if landed_rewritten and write:
        inputs = input_checksums(settings, day)

    def with_inputs(manifest: dict[str, Any]) -> dict[str, Any]:
        return manifest if inputs is None else {**manifest, "inputs": inputs}

    clean = _read(dirs["clean"], day, "clean")
    quarantine = _read(dirs["quarantine"], day, "quarantine")
    counts: dict[str, Any] | None = None
    if clean is not None and quarantine is not None:
        clean_mask = eraser.mask(clean[0])
        kept_clean = clean[0].filter(~clean_mask)
        mask = eraser.mask(quarantine[0])
        done = [m for m in (clean[1], quarantine[1]) if _by_this_erasure(m, erasure_id)]
        if done:  # counted by the attempt that rewrote one of them: the rows are gone
            counts = dict(done[0].get("counts", {}))
        else:
            counts = _counts_after(
                clean[1].get("counts", {}),
                kept_clean,
                clean[0].filter(clean_mask),
                quarantine[0].filter(mask),
                undated,
                settings,
                contacts_erased,
                _awaiting_after(settings, day, kept_clean),
            )
        for table, frame, manifest in (
            ("clean", kept_clean, clean[1]),
            ("quarantine", quarantine[0].filter(~mask), quarantine[1]),
        ):
            put(dirs[table], table, frame, with_inputs({**manifest, "counts": counts, **stamp}))
    contacts = _read(dirs["contacts"], day, "contacts")
    if contacts is not None:
        kept, dropped = eraser.without_erased(contacts[0])
        if dropped or inputs is not None:
            manifest = contacts[1]
            if inputs is not None:  # a source's contacts: its landed file and day's facts
                owned = contact_inputs(settings, day)
                manifest = {**manifest, "inputs": {k: v for k, v in inputs.items() if k in owned}}
            put(dirs["contacts"], "contacts", kept, {**manifest, **stamp})
    rebuilt: list[str] = []
    feedback = _read(dirs["feedback_scored"], day, "feedback_scored")
    if feedback is not None:
        kept_feedback, _ = eraser.without_erased(feedback[0])
        mart_manifest = with_inputs(
            {
                **feedback[1],
                "counts": {
                    **feedback[1].get("counts", {}),
                    **(counts or {}),
                    **mart_counts(kept_feedback),
                },
                **stamp,
            }
        )
        # As the pipeline builds it (stages.marts_for_day), from the rows left: feedback_scored
        # carries every column the summary groups and counts.
        summary = daily_summary(kept_feedback)
        put(dirs["feedback_scored"], "feedback_scored", kept_feedback, mart_manifest)
        put(settings.marts_dir / REBUILT_DAILY, REBUILT_DAILY, summary, mart_manifest)
        rebuilt.append(f"{settings.source}/{REBUILT_DAILY}/{day}")
        queue = _read(dirs["review_queue"], day, "review_queue")
        if queue is not None:
            kept_queue, _ = eraser.without_erased(queue[0])
            queue_counts = {**mart_manifest["counts"], "review_queue": kept_queue.height}
            put(
                dirs["review_queue"],
                "review_queue",
                kept_queue,
                {**queue[1], **with_inputs({}), "counts": queue_counts, **stamp},
            )
    return rebuilt


@dataclass(frozen=True)
class ErasureRequest:
    """Whose rows to erase: customers and/or responses, in every source or in ``source``."""

    customer_ids: tuple[str, ...] = ()
    response_ids: tuple[str, ...] = ()
    source: str | None = None


def layers_of(layers: Sequence[Settings], source: str | None) -> list[Settings]:
    """Of the data directory's ``layers`` (the sample's and each configured source's,
    ``flows.recovery.data_directory_layers``), all, or ``source``'s alone. Raises ValueError
    naming the sources there are when ``source`` is none of them."""
    if source is None:
        return list(layers)
    chosen = [layer for layer in layers if layer.source == source]
    if not chosen:
        names = ", ".join(layer.source for layer in layers)
        raise ValueError(
            f"--source {source}: no such source in {layers[0].data_dir} (there are: {names}); "
            "name one of them, or leave --source out to search every source"
        )
    return chosen


def files_holding(files: Iterable[DataPath], ids: Iterable[str]) -> list[DataPath]:
    """Those of ``files`` whose bytes hold one of ``ids`` (plain)."""
    needles = [i.encode() for i in ids if i]
    return [f for f in files if f.exists() and any(n in f.read_bytes() for n in needles)]


def raw_files(layers: Sequence[Settings], found: Sequence[Found]) -> list[DataPath]:
    """The raw files the partitions in ``found`` were built from: a sample date's exports
    (its survey export, the interaction exports of its look-back) and audits, a configured
    source's deliveries landed in the date's partitions (its landed manifest's, and its
    contact feed's, ``landed/interactions``, whose exports carry the customer id). Only these
    are searched for the ids: the raw zone of a year of dates is hundreds of gigabytes."""
    from servicelens.settings import day_input_files

    files: dict[str, DataPath] = {}
    for layer in layers:
        landed = [layer.landed_dir]
        if not layer.is_sample and layer.interaction_feed:
            landed.append(layer.for_interactions().landed_dir)
        for day in sorted({f.day for f in found if f.source == layer.source}):
            if layer.is_sample:
                for file in [*day_input_files(layer, day), layer.raw_day(day) / "audits.csv"]:
                    files[str(file)] = file
                continue
            for folder in landed:
                deliveries = (read_manifest(folder, day) or {}).get("deliveries", {})
                for path in deliveries.values():
                    files[str(path)] = as_path(path)
    return [files[name] for name in sorted(files)]


def delete_parse_cache_entries(storage: Path, files: Iterable[DataPath]) -> list[str]:
    """Delete the Prefect parse-cache entries (``flows/caching.py``: keyed
    ``interactions-<sha256 of the file>-...``) of ``files`` from ``storage`` (Prefect's local
    result storage); return the names deleted. Every parser version's entry goes."""
    from servicelens.storage.checksums import sha256_file

    deleted = []
    for file in files:
        for entry in storage.glob(f"interactions-{sha256_file(file)}-*"):
            entry.unlink(missing_ok=True)
            deleted.append(entry.name)
    return deleted


def _audit_files(layer: Settings) -> list[DataPath]:
    """The audit files ``layer``'s source reads (``servicelens.stages.audits_read``): the
    sample's in every date folder of ``raw/``, a configured source's in its audits folder."""
    from servicelens.ingest.audits import audit_files, source_audit_files

    if layer.is_sample:
        return audit_files(layer.root / "raw")
    return source_audit_files(layer.audits_dir)


def _rows_text(sheet: str | None, lines: Sequence[int]) -> str:
    """``line 35, line 41`` of a CSV, ``sheet 'Nov 2026' rows 3, 9`` of a workbook."""
    numbers = ", ".join(str(n) for n in lines)
    if sheet is not None:
        return f"sheet {sheet!r} row{'s' if len(lines) > 1 else ''} {numbers}"
    return f"line{'s' if len(lines) > 1 else ''} {numbers}"


def _not_rewritten(
    settings: Settings,
    layers: Sequence[Settings],
    found: Sequence[Found],
    ids: set[str],
    prefect_home: Path | None = None,
) -> list[dict[str, str]]:
    """What holds the subject's data and is not rewritten, each with what to do: the raw
    files the touched partitions were built from, QA's audit files holding the subject's
    response ids (each with its rows: ``rows``, e.g. ``lines 35, 41``), the Data Docs and
    reports, the models, the command logs, and Prefect's database under ``prefect_home``
    (``prefect.db``: its run logs and parameters may quote ids logged before the erasure)."""
    from servicelens.ingest.audits import erased_audit_rows

    left: list[dict[str, str]] = []
    eraser = Eraser(settings.agent_key()).with_ids(ids) if ids else Eraser()
    audits: dict[str, list[dict[str, Any]]] = {}
    for layer in layers:
        for place in erased_audit_rows(_audit_files(layer), eraser) if eraser else []:
            audits.setdefault(place["file"], []).append(place)
    for file in files_holding(raw_files(layers, found), ids):
        if str(file) in audits:
            continue  # named below by its rows
        left.append(
            {
                "what": "raw file",
                "path": str(file),
                "action": "kept as delivered (the raw zone is immutable); the erasure list keeps "
                "its rows out of every later landing, run and backfill. Delete it under your "
                "retention rules",
            }
        )
    for audit_file, places in audits.items():
        rows = "; ".join(_rows_text(p["sheet"], p["lines"]) for p in places)
        count = sum(len(p["lines"]) for p in places)
        left.append(
            {
                "what": "audit file",
                "path": audit_file,
                "rows": rows,
                "action": f"QA's own file: {rows} ({count} audit{'s' if count > 1 else ''} of "
                "the subject's responses): remove those rows; runs, training and the review "
                "queue leave them out meanwhile (counted as of an erased response, never "
                "quoted)",
            }
        )
    days = sorted({(f.source, f.day) for f in found})
    for source, day in days:
        docs = settings.gx_docs_dir / (str(day) if source == "sample" else f"{source}/{day}")
        if docs.exists():
            left.append(
                {
                    "what": "Data Docs",
                    "path": str(docs),
                    "action": "may quote the rows' values: deleted with --delete-reports "
                    "(written again by the date's next run)",
                }
            )
    if settings.reports_dir.exists():
        for report in sorted(settings.reports_dir.glob("*.html")):
            left.append(
                {
                    "what": "HTML report",
                    "path": str(report),
                    "action": "may quote the subject's comments: deleted with --delete-reports; "
                    "`servicelens report` writes the latest again",
                }
            )
    for layer in layers:
        if not versions_in(layer.models_dir):
            continue  # the sample's models/ in a directory of sources holds only sources/
        may_hold = (
            "any version trained on these rows may hold their words in its vocabulary "
            "(model.skops, reference.json), which no id tells"
        )
        flag = "" if layer.is_sample else f" --source {layer.source}"
        if layer.is_sample and _sample_commands_refused(layer):
            action = (
                f"{may_hold}; this data directory holds no sample dates to retrain on (train "
                "and models refuse the sample here): delete its version folders (each with a "
                "metadata.json) under your retention rules"
            )
        else:
            action = (
                f"{may_hold}: retrain (`servicelens train{flag}`), then delete the versions "
                f"trained before it (`servicelens models{flag} list`, then `... delete VERSION "
                "--yes`); those holding the ids are named below"
            )
        left.append({"what": "models", "path": str(layer.models_dir), "action": action})
    logs = settings.local_root / "logs"
    if logs.exists():
        left.append(
            {
                "what": "logs",
                "path": str(logs),
                "action": "command logs may name the rows' ids or file lines: delete the logs "
                "older than this erasure under your retention rules",
            }
        )
    database = prefect_home / "prefect.db" if prefect_home is not None else None
    if database is not None and database.exists():
        left.append(
            {
                "what": "Prefect database",
                "path": str(database),
                "action": "Prefect's flow-run logs and parameters (table log, flow_run) may "
                "quote ids logged before this erasure: with the same PREFECT_HOME, list the "
                "runs with `prefect flow-run ls` and delete the older ones with `prefect "
                "flow-run delete <id>` (Prefect 3: its log rows go after it, in the "
                "background), or, with no run going, delete the file (every run's history; "
                "Prefect makes a new one)",
            }
        )
    return left


def delete_reports(result: ErasureResult) -> list[str]:
    """Delete the Data Docs folders and HTML reports ``result`` names (``--delete-reports``);
    return their paths."""
    import shutil

    deleted = []
    for item in result.not_rewritten:
        path = Path(item["path"])
        if item["what"] == "Data Docs" and path.is_dir():
            shutil.rmtree(path)
        elif item["what"] == "HTML report" and path.is_file():
            path.unlink()
        else:
            continue
        deleted.append(str(path))
    return deleted


def erase(
    settings: Settings,
    layers: Sequence[Settings],
    request: ErasureRequest,
    dry_run: bool,
    cache_storage: Path | None = None,
    on_wait: Callable[[str], None] = lambda message: None,
) -> ErasureResult:
    """Find, and unless ``dry_run`` erase, the rows of ``request``'s subject in every Parquet
    layer of ``settings``' data directory (see the module's docstring): in each of
    ``layers`` (:func:`layers_of` chooses them by ``request.source``).

    Erasing: every touched date is read, counted and built first, writing nothing (a
    partition it cannot erase raises :class:`ErasureError`, nothing written); then the ids
    go in a pending journal (``erasure/pending/``, hashed), which runs honour as the list, so
    a run meanwhile or a stop halfway cannot bring the rows back; then each touched date is
    rewritten (:func:`erase_day`), the dates whose look-back joins contact facts it rewrote
    told their new checksums (:func:`_keep_readers_current`), the weekly marts of its weeks
    rebuilt (``outcomes.publish_weekly_marts``), the parse-cache entries of the raw interaction
    exports holding the ids deleted from ``cache_storage``, and only then the ids added to the
    erasure list and the erasure record written (the journal removed). A write that fails
    partway raises :class:`ErasureError` (a held date, LockBusyError): nothing is recorded as
    erased, and the same erase again finishes the journal's dates (``resumed``).
    Each date is rewritten holding its lock, as a run of it does (:func:`holding_date`):
    ``on_wait`` is told of a date a run holds, waited for up to ``Settings.lock_wait_seconds``
    (then :class:`~servicelens.storage.locks.LockBusyError`, naming the date and the run).
    Nothing is written on a dry run. Raises ValueError for an unknown ``request.source``.

    The result's ``variants`` name the spellings of the customer ids asked for that differ
    only in case or surrounding whitespace (:class:`IdVariant`), found or not: those in
    another case are not erased. Case is taken as part of an id, as the vendors' systems
    may take it (``c00016`` may be another customer, and an erasure cannot be undone); the
    operator who decides they are the same customer names them too."""
    layers = layers_of(layers, request.source)
    key = settings.agent_key()
    eraser, ids = subject_eraser(layers, key, request.customer_ids, request.response_ids)
    hashed: dict[str, list[str]] = {
        kind: sorted(hashed_id(key, v) for v in values) for kind, values in ids.items()
    }
    found, variants = find_subject(layers, eraser, sorted(ids["customer_id"]))
    variants = [replace(v, hashed=hashed_id(key, v.spelled)) for v in variants]
    result = ErasureResult(dry_run, found, hashed_ids=hashed, variants=variants)
    plain = set().union(*ids.values())
    home = os.environ.get("PREFECT_HOME")  # the CLI sets it (cli/main.py) before this
    result.not_rewritten = _not_rewritten(
        settings, layers, result.found, plain, Path(home) if home else None
    ) + model_versions_holding(settings, layers, eraser, every=request.source is None)
    if dry_run:
        return result
    earlier = _pending_of(settings, hashed, request.source)
    if not result.found and not earlier:
        # Found in no partition, and no earlier attempt to finish: nothing recorded.
        return result
    if earlier:  # an attempt of this erasure stopped partway: this one finishes it
        erasure_id = earlier[0]["erasure_id"]
        for journal in earlier:
            for kind, hashes in journal["hashed_ids"].items():
                hashed[kind] = sorted(set(hashed.get(kind, [])) | set(hashes))
        eraser = eraser.with_hashed(hashed)
        result.found = _found_of(earlier) + [
            f
            for f in result.found
            if (f.source, f.table, f.day)
            not in {(g.source, g.table, g.day) for g in _found_of(earlier)}
        ]
        result.resumed = [j["started_at"] for j in earlier]
    else:
        erasure_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    days = {
        layer.source: sorted({f.day for f in result.found if f.source == layer.source})
        for layer in layers
    }
    # Every date is read, counted and built before anything is written: a partition that
    # cannot be erased (a layout this release cannot read) leaves nothing erased or listed.
    for layer in layers:
        for day in days[layer.source]:
            try:
                erase_day(layer, day, eraser, erasure_id, write=False)
            except (pl.exceptions.PolarsError, ValueError, KeyError) as error:
                raise ErasureError(
                    f"erase: {layer.source} date {day} cannot be erased: {error}. Nothing was "
                    "erased or recorded; run `servicelens dictionary --check` and rewrite the "
                    "partitions it names (the backfill it prints), then run the same erase again"
                ) from error
    facts_before = {layer.source: _facts_checksums(layer, days[layer.source]) for layer in layers}
    for journal in earlier:  # the facts as they were before the first attempt rewrote them
        for source, sums in journal.get("facts_before", {}).items():
            facts_before.setdefault(source, {}).update(
                {date.fromisoformat(d): v for d, v in sums.items()}
            )
    journal_path = _write_pending(
        settings, erasure_id, request, hashed, result.found, facts_before, earlier
    )
    try:
        _erase_found(layers, result, eraser, erasure_id, on_wait, days, facts_before)
    except LockBusyError:
        raise  # says the date, the run holding it and to run the same erase again
    except Exception as error:
        raise ErasureError(
            f"erase {erasure_id} stopped partway: {error}. The rows of the dates before it "
            f"are erased; the ids are kept out of every run meanwhile ({journal_path}), not "
            "yet recorded as erased. Mend that, then run the same erase again: it finishes "
            "the dates left and writes the erasure record"
        ) from error
    result.remaining = find_rows(layers, eraser)
    if cache_storage is not None:
        interaction_files = [
            f for f in raw_files(layers, result.found) if f.name == INTERACTIONS_FILE
        ]
        result.cache_entries_deleted = delete_parse_cache_entries(
            cache_storage, files_holding(interaction_files, plain)
        )
    _add_to_list(settings, hashed, request.source, erasure_id)
    result.record = str(_write_record(settings, result, request, erasure_id))
    for journal in earlier:
        _pending_path(settings, journal["erasure_id"]).unlink(missing_ok=True)
    journal_path.unlink(missing_ok=True)
    return result


def date_holder(settings: Settings, day: date) -> str:
    """Who holds ``settings``' date ``day`` now, for a message: the run its in-flight record
    names (``servicelens.storage.claims``: a nightly run's or a backfill's date), with the
    process the lock file records; the process alone when the holder keeps no record (a
    ``sources run``)."""
    from servicelens.storage.claims import read_date_claim
    from servicelens.storage.locks import date_lock_path, lock_holder

    process = lock_holder(date_lock_path(locks_dir(settings.staging_dir), day))
    claim = read_date_claim(settings, day)
    if claim is None:
        return process
    return f"run {claim.name} (flow run {claim.flow_run_id}; {process})"


@contextmanager
def holding_date(
    settings: Settings, day: date, command: str, then: str, on_wait: Callable[[str], None]
) -> Iterator[None]:
    """Hold ``settings``' date ``day`` for ``command`` (``erase``, ``score``) as a run of it
    does (its lock: a nightly run, a backfill's date and ``sources run`` take the same), so
    the command and a run of the date take turns: a run that read the raw zone before an
    erasure listed its ids publishes before the date is erased, never after. A date held by a
    run: ``on_wait`` is told whose, then the lock is waited for up to
    ``Settings.lock_wait_seconds``; after that :class:`~servicelens.storage.locks.LockBusyError`
    names the command, the date and the run, then says ``then`` (what was done, what to do).

    Only taking the date's lock is said so: a LockBusyError raised inside the block (another
    date's lock, a partition's) is the caller's, as raised."""
    from servicelens.storage.locks import LockBusyError, date_lock, date_lock_path, is_locked

    folder = locks_dir(settings.staging_dir)
    wait = settings.lock_wait_seconds
    what = f"{command}: {settings.source} date {day}"
    if is_locked(date_lock_path(folder, day)):
        on_wait(
            f"{what} is held by {date_holder(settings, day)}; waiting up to {wait:g} s for "
            "it to finish"
        )
    with ExitStack() as held:
        try:
            held.enter_context(date_lock(folder, day, wait))
        except LockBusyError:
            raise LockBusyError(
                f"{what} is still held by {date_holder(settings, day)} after {wait:g} s "
                f"(lock_wait_seconds); {then}"
            ) from None
        yield


#: What ``erase`` says when a date stays held (:func:`holding_date`).
ERASE_THEN = (
    "the dates before it are erased and the ids are kept out of every run meanwhile "
    "(erasure/pending/), not yet recorded as erased. Let that run finish (`servicelens runs "
    "show`), then run the same erase again: it finishes the dates left and writes the record"
)


def _erase_found(
    layers: Sequence[Settings],
    result: ErasureResult,
    eraser: Eraser,
    erasure_id: str,
    on_wait: Callable[[str], None],
    days_by_source: dict[str, list[date]],
    facts_before_by_source: dict[str, dict[date, str]],
) -> None:
    from servicelens.outcomes import publish_weekly_marts

    for layer in layers:
        days = days_by_source.get(layer.source, [])
        if not days:
            continue
        facts_before = facts_before_by_source.get(layer.source, {})
        for day in days:
            # A date at a time, as a run holds it: a run of another date goes on meanwhile.
            with holding_date(layer, day, "erase", ERASE_THEN, on_wait):
                result.rebuilt.extend(erase_day(layer, day, eraser, erasure_id))
        rewritten = {
            day: (digest, now)
            for day, now in _facts_checksums(layer, days).items()
            if (digest := facts_before.get(day)) is not None and digest != now
        }
        result.look_back_updated.extend(
            f"{layer.source}/{day.isoformat()}"
            for day in _keep_readers_current(layer, rewritten, on_wait)
        )
        manifest = {
            "run_id": f"erasure-{erasure_id}",
            "flow": "erase",
            "code_version": code_version(),
            "timezone": layer.timezone,
            "source": layer.source,
            "partition": {"key": PARTITION_COLUMN, "granularity": layer.partition},
        }
        weekly = publish_weekly_marts(layer, days, manifest)
        result.rebuilt.extend(
            f"{layer.source}/{table}/week {week}"
            for week in weekly.get("weeks", {})
            for table in REBUILT_WEEKLY
        )


def _facts_checksums(layer: Settings, days: Sequence[date]) -> dict[date, str]:
    """sha256 of ``layer``'s landed contact-facts partition of each of ``days`` that has
    one; none for a source without a feed (``[interactions]``)."""
    if not layer.interaction_feed:
        return {}
    facts = layer.for_interactions().landed_dir
    files = [partition_dir(facts, day) / DATA_FILE for day in days]
    day_of = {str(file): day for file, day in zip(files, days, strict=True)}
    return {day_of[path]: digest for path, digest in checksums(files).items()}


#: The tables of a date whose manifests record the inputs it was built from (``inputs``,
#: compared by ``storage.runs.inputs_changed`` and ``storage.runs.date_inconsistency``).
_BUILT_FROM_INPUTS = ("clean", "quarantine", "feedback_scored", REBUILT_DAILY, "review_queue")


def _keep_readers_current(
    layer: Settings, rewritten: dict[date, tuple[str, str]], on_wait: Callable[[str], None]
) -> list[date]:
    """Record, in the manifests of every date of ``layer`` whose look-back joins one of the
    contact-facts partitions an erase rewrote (``rewritten``: partition -> sha256 before and
    after), the partition's new sha256 where the old one is recorded: the erase removed
    rows of subjects that are on the erasure list, which a run of those dates leaves out
    anyway, so they have not changed for ``--rerun changed`` (as the erased dates, whose
    manifests :func:`erase_day` records their new inputs in, have not). A date built from
    another version of the partition, or whose other inputs changed, stays changed. Each
    date is held as :func:`erase_day`'s are. Returns the dates whose manifests were
    updated."""
    from servicelens.storage.partitions import replace_manifest

    if not rewritten:
        return []
    facts = layer.for_interactions().landed_dir
    # An input is named by its folder and file, as storage.runs.same_inputs compares them.
    swaps = {
        (partition_dir(facts, period).name, before): after
        for period, (before, after) in rewritten.items()
    }
    dirs = {**table_dirs(layer), REBUILT_DAILY: layer.marts_dir / REBUILT_DAILY}
    readers = [
        day
        for day, _ in _partitions(layer.clean_dir)
        if set(layer.interaction_periods(day)) & rewritten.keys()
    ]
    updated: list[date] = []
    for day in readers:
        with holding_date(layer, day, "erase", ERASE_THEN, on_wait):
            for table in _BUILT_FROM_INPUTS:
                manifest = read_manifest(dirs[table], day)
                inputs = (manifest or {}).get("inputs")
                if manifest is None or not isinstance(inputs, dict):
                    continue
                current = {
                    path: swaps.get((path.replace("\\", "/").rsplit("/", 2)[-2], digest), digest)
                    for path, digest in inputs.items()
                }
                if current != inputs:
                    replace_manifest(
                        dirs[table], day, {**manifest, "inputs": current}, layer.staging_dir
                    )
                    if not updated or updated[-1] != day:
                        updated.append(day)
    return updated


def _add_to_list(
    settings: Settings, hashed: dict[str, list[str]], source: str | None, erasure_id: str
) -> None:
    entries = _list_entries(settings)
    known = {(e["hash"], e.get("source")) for e in entries}
    now = datetime.now(UTC).isoformat()
    for kind, hashes in hashed.items():
        entries.extend(
            {"hash": h, "kind": kind, "source": source, "erased_at": now, "erasure_id": erasure_id}
            for h in hashes
            if (h, source) not in known
        )
    about = (
        "ids erased on request (servicelens erase), as keyed BLAKE2b under the agent key: every "
        "landing, run and backfill leaves their rows out. Do not edit, except to undo one "
        "erasure whole as the README's 'Undoing an erasure' says (its raw files deleted first, "
        "every entry of its erasure_id removed, no run going); do not change the key."
    )
    write_text_whole(
        erasure_dir(settings) / LIST_FILE, json.dumps({"about": about, "erased": entries}, indent=2)
    )


def _write_record(
    settings: Settings, result: ErasureResult, request: ErasureRequest, erasure_id: str
) -> DataPath:
    record = {
        "erasure_id": erasure_id,
        "erased_at": datetime.now(UTC).isoformat(),
        "source": request.source or "every source",
        "code_version": code_version(),
        **result.as_dict(),
    }
    record.pop("record", None)
    path = erasure_dir(settings) / RECORDS_DIR / f"{erasure_id}.json"
    write_text_whole(path, json.dumps(record, indent=2))
    return path
