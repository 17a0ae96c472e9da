"""After an upgrade: the partitions an earlier servicelens wrote under an older contract
version, and the few backfills that rewrite them (``dictionary --check``, ``run``,
``backfill`` and the run report say so). Reads partitions' footers and manifests only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from pathlib import Path

from servicelens.settings import Settings
from servicelens.storage.fs import DataPath
from servicelens.storage.partitions import older_contract_partitions, partition_dir
from transforms.schemas import (
    ABANDONED,
    CLEAN_RESPONSES_CONTRACT,
    CONTACTS_CONTRACT,
    PARTITION_COLUMN,
    PUBLISHED_TABLES,
    RESOLVED_FLAG,
    WEEKLY_TABLES,
    TableContract,
)

_VERSIONED = tuple(t for t in PUBLISHED_TABLES if t.version is not None)
#: Clean-layer columns only a source definition maps: the generated sample's rows hold them
#: null, so its partitions written before them need no rewrite.
_SAMPLE_NEVER_MAPS = frozenset({RESOLVED_FLAG, ABANDONED})


@dataclass(frozen=True)
class OlderPartitions:
    """The partitions of one table of one source (``None``: the generated sample) that hold
    rows of contract version ``version`` (below the table's current one); ``None`` for
    partitions with no rows to say it whose manifests name fewer columns than the contract
    (``missing``: an empty week of a fix list written before its columns were added)."""

    source: str | None
    table: TableContract
    version: int | None
    days: tuple[date, ...]
    missing: tuple[str, ...] = ()

    @property
    def current(self) -> int:
        assert self.table.version is not None
        return self.table.version

    @property
    def held(self) -> str:
        """The version the partitions hold, as a phrase."""
        if self.version is None:
            return f"an older layout (no rows say which version; without {', '.join(self.missing)})"
        return f"contract version {self.version}"

    @property
    def changes(self) -> str:
        """The contract's own change notes (``TableContract.history``) since ``version``."""
        if self.version is None:
            return " ".join(e for e in self.table.history if any(c in e for c in self.missing))
        return " ".join(self.table.history[self.version : self.current])


def _roots(settings: Settings) -> list[tuple[str | None, DataPath]]:
    root = settings.root
    sources: list[DataPath] = sorted(root.glob("sources/*"), key=str)
    return [(None, root), *((s.name, s) for s in sources)]


def older_partitions(settings: Settings) -> list[OlderPartitions]:
    """Every partition of a versioned mart (feedback_scored, daily_summary, fix_list,
    agent_outcomes; the sample's and each configured source's) holding rows of an older
    contract version than ``transforms.schemas`` says, grouped by source, table and version.
    From footers, not data (:func:`older_contract_partitions`)."""
    found: list[OlderPartitions] = []
    for source, root in _roots(settings):
        for table in _VERSIONED:
            assert table.version is not None
            older = older_contract_partitions(root / table.path, table.version)
            by_version = sorted(older.items(), key=lambda item: (item[1], item[0]))
            for version, items in groupby(by_version, key=lambda item: item[1]):
                days = tuple(day for day, _ in items)
                found.append(OlderPartitions(source, table, version, days))
            found += _older_layouts(root / table.path, table, source, set(older))
    return found


def _older_layouts(
    table_dir: DataPath, table: TableContract, source: str | None, listed: set[date]
) -> list[OlderPartitions]:
    """The partitions not in ``listed`` whose manifests name fewer columns than ``table``'s
    contract (contracts only grow): empty ones, whose rows cannot say their version. Reads
    manifests only."""
    from servicelens.storage.partitions import read_manifest

    days: list[date] = []
    missing: set[str] = set()
    for part in table_dir.glob(f"{PARTITION_COLUMN}=*"):
        try:
            day = date.fromisoformat(part.name.removeprefix(f"{PARTITION_COLUMN}="))
        except ValueError:
            continue
        manifest = read_manifest(table_dir, day) if day not in listed else None
        columns = (manifest or {}).get("columns")
        if isinstance(columns, dict):
            lacking = [c for c in table.schema if c not in columns]
            if lacking:
                days.append(day)
                missing.update(lacking)
    if not days:
        return []
    ordered = tuple(c for c in table.schema if c in missing)
    return [OlderPartitions(source, table, None, tuple(sorted(days)), ordered)]


def _published_days(root: DataPath) -> list[date]:
    """The days (a monthly source: months' first days) holding a daily mart partition: the
    dates that hold data, so a backfill of them runs rather than skips."""
    days: set[date] = set()
    for table in ("feedback_scored", "daily_summary"):
        for part in (root / "marts" / table).glob(f"{PARTITION_COLUMN}=*"):
            try:
                days.add(date.fromisoformat(part.name.removeprefix(f"{PARTITION_COLUMN}=")))
            except ValueError:
                continue
    return sorted(days)


def _ranges(old: list[date], published: list[date]) -> list[tuple[date, date]]:
    """``old`` days as ranges that take in no published day of a current version (so
    ``--rerun all`` of a range rewrites no more than it must); one range when they are
    contiguous among the published days."""
    wanted = set(old)
    ranges: list[tuple[date, date]] = []
    start: date | None = None
    last: date | None = None
    for day in sorted(set(published) | wanted):
        if day in wanted:
            start = start or day
            last = day
        elif start is not None and last is not None:
            ranges.append((start, last))
            start = last = None
    if start is not None and last is not None:
        ranges.append((start, last))
    return ranges


def rewrite_commands(
    settings: Settings, found: list[OlderPartitions]
) -> dict[str | None, list[str]]:
    """For each source in ``found``, the backfills that rewrite its older partitions, with
    ``--data-dir`` and (a configured source's) ``--source``: ``--rerun all`` over the
    ranges of its daily partitions' dates; a source whose weekly marts alone are older gets
    one date of data in the first such week (or month), since any run of the source rebuilds
    every week of an older contract."""
    roots = dict(_roots(settings))
    commands: dict[str | None, list[str]] = {}
    for source in dict.fromkeys(group.source for group in found):
        groups = [g for g in found if g.source == source]
        published = _published_days(roots[source])
        daily = sorted({d for g in groups if g.table.name not in WEEKLY_TABLES for d in g.days})
        if not daily:
            first = min(d for g in groups for d in g.days)
            within = [d for d in published if first <= d < first + timedelta(days=7)]
            if within or published:
                day = (within or published)[0]
                daily = [day]
        ranges = _ranges(daily, published) if daily else []
        flag = f" --source {source}" if source else ""
        commands[source] = [
            f"servicelens --data-dir {settings.data_dir} backfill{flag} --start {start} "
            f"--end {end} --rerun all"
            for start, end in ranges
        ]
    return commands


def _spans(days: tuple[date, ...]) -> str:
    """``2026-11-01..2026-11-28, 2026-12-03``: consecutive days as one span."""
    spans: list[str] = []
    ordered = sorted(days)
    start = prev = ordered[0]
    for day in [*ordered[1:], None]:
        if day is not None and day - prev == timedelta(days=1):
            prev = day
            continue
        spans.append(str(start) if start == prev else f"{start}..{prev}")
        if day is not None:
            start = prev = day
    return ", ".join(spans)


def older_partitions_report(
    settings: Settings,
) -> tuple[list[str], list[str], list[OlderPartitions]]:
    """``dictionary --check``'s lines on older contract versions: one per source, table and
    version (the table, its partitions' dates, the version they hold and the current one,
    what changed in between, the command that rewrites them), then the commands alone, once
    each. Empty when every partition is of its current contract."""
    found = older_partitions(settings)
    if not found:
        return [], [], []
    commands = rewrite_commands(settings, found)
    lines = []
    for group in found:
        where = f"source {group.source}" if group.source else "sample"
        path = (
            group.table.path if not group.source else f"sources/{group.source}/{group.table.path}"
        )
        again = "; ".join(f"`{c}`" for c in commands[group.source]) or (
            "no date of data to run: publish one, then run `dictionary --check` again"
        )
        lines.append(
            f"{where} {group.table.name}: {len(group.days)} partition(s) of "
            f"{settings.data_dir}/{path}/{PARTITION_COLUMN}={_spans(group.days)} hold "
            f"{group.held}, the current is {group.current} (since: "
            f"{group.changes}); rewrite: {again}"
        )
    unique = list(dict.fromkeys(c for cs in commands.values() for c in cs))
    return lines, unique, found


def partition_dirs(settings: Settings, found: list[OlderPartitions]) -> list[str]:
    """The directory of every partition in ``found``, as text (to leave out other checks'
    lines on the same partitions: the rewrite fixes those too)."""
    roots = dict(_roots(settings))
    return [
        str(partition_dir(roots[g.source] / g.table.path, day)) for g in found for day in g.days
    ]


def older_contracts_note(settings: Settings, source: str | None = None) -> str | None:
    """One line for ``run`` and ``backfill`` (and its dry run): how many partitions an earlier
    servicelens wrote under an older contract version, and the command that lists and
    rewrites them. None when there are none. Reads footers only. With ``source`` (a
    backfill's ``--source``): that source's partitions, and how many every source holds
    (a trial's backfill of one source said 36 of a data directory's partitions, 2 its own).

    None on object storage without looking: there a footer is a request of its own, one per
    partition of four marts per source, on every nightly run (a year of one source: some
    1,500 requests); `dictionary --check` still finds them."""
    from servicelens.storage.fs import is_url

    if is_url(settings.data_dir):
        return None
    found = older_partitions(settings)
    if not found:
        return None
    every = sum(len(g.days) for g in found)
    whose = across = ""
    if source is not None:
        found = [g for g in found if g.source == source]
        whose = f" of source {source!r}"
    if not found:
        return None
    count = sum(len(g.days) for g in found)
    if count < every:
        across = f" ({every} across every source)"
    tables = ", ".join(dict.fromkeys(g.table.name for g in found))
    return (
        f"{count} partition(s){whose} ({tables}) hold rows of an older contract version{across}, "
        "written by an earlier servicelens; `--rerun changed` does not rewrite them. List them "
        "with the "
        f"backfills that rewrite them: servicelens --data-dir {settings.data_dir} dictionary "
        "--check"
    )


#: The clean layers: unversioned (their columns only grow), read with a missing column as
#: null (:func:`servicelens.stages.contact_history`, the marts' builds).
_CLEAN_LAYERS = (CLEAN_RESPONSES_CONTRACT, CONTACTS_CONTRACT)


@dataclass(frozen=True)
class GrownColumns:
    """The partitions of a clean layer (``table``) of one source (``None``: the generated
    sample) written before the contract's columns ``missing`` were added: the published
    dates' (``days``, rewritten by a run of the date) and, of clean/contacts, the look-back
    days' (``indexed``: exports no survey date of their own was run for, indexed once when a
    later date first needed them and never again)."""

    source: str | None
    table: TableContract
    missing: tuple[str, ...]
    days: tuple[date, ...]
    indexed: tuple[date, ...] = ()


def grown_clean_columns(settings: Settings) -> list[GrownColumns]:
    """Every clean/responses and clean/contacts partition (the sample's and each configured
    source's) whose Parquet file lacks columns its contract has now, grouped by source, table
    and the columns lacking. Reads footers only; a file with columns the contract does not
    have, or of other types, is not one of them (``dictionary --check`` names it alone)."""
    import polars as pl

    found: list[GrownColumns] = []
    for source, root in _roots(settings):
        published = set(_published_days(root))
        for table in _CLEAN_LAYERS:
            expected = [c for c in table.schema if c != PARTITION_COLUMN]
            groups: dict[tuple[str, ...], list[date]] = {}
            files: list[DataPath] = sorted(
                root.glob(f"{table.path}/{PARTITION_COLUMN}=*/*.parquet"), key=str
            )
            for file in files:
                try:
                    day = date.fromisoformat(file.parent.name.removeprefix(f"{PARTITION_COLUMN}="))
                except ValueError:
                    continue
                footer = file if isinstance(file, Path) else file.read_bytes()
                actual = dict(pl.read_parquet_schema(footer))
                missing = tuple(c for c in expected if c not in actual)
                extra = [c for c in actual if c not in expected]
                retyped = [c for c in expected if c in actual and actual[c] != table.schema[c]]
                if missing and not extra and not retyped:
                    groups.setdefault(missing, []).append(day)
            for missing, days in groups.items():
                found.append(
                    GrownColumns(
                        source,
                        table,
                        missing,
                        tuple(d for d in days if d in published),
                        tuple(d for d in days if d not in published),
                    )
                )
    return found


def grown_columns_lines(settings: Settings, found: list[GrownColumns]) -> list[str]:
    """``dictionary --check``'s line of each group of :func:`grown_clean_columns`, for an
    analyst: which partitions, what they lack, what a reader sees there (null), and either
    the one backfill that rewrites them or, where a rewrite would write the same nulls (the
    sample has no resolved or abandoned flag to map) or no command rewrites them (a look-back
    day's contacts), that nothing need be run and why."""
    published = {source: _published_days(root) for source, root in _roots(settings)}
    lines = []
    for group in found:
        where = f"source {group.source}" if group.source else "sample"
        path = (
            group.table.path if not group.source else f"sources/{group.source}/{group.table.path}"
        )
        days = tuple(sorted(group.days + group.indexed))
        columns = ", ".join(group.missing)
        head = (
            f"{where} {group.table.name}: {len(days)} partition(s) of "
            f"{settings.data_dir}/{path}/{PARTITION_COLUMN}={_spans(days)} were written before "
            f"{columns} {'was' if len(group.missing) == 1 else 'were'} added (this layer is "
            "unversioned: its columns only grow, and every read sees a missing column as null)"
        )
        if not group.source and set(group.missing) <= _SAMPLE_NEVER_MAPS:
            lines.append(
                f"{head}; harmless, nothing to run: the generated sample has no resolved or "
                f"abandoned flag, so a rewrite would write {columns} null, as it reads now"
            )
            continue
        parts = []
        if group.days:
            flag = f" --source {group.source}" if group.source else ""
            parts.append(
                "rewrite: "
                + "; ".join(
                    f"`servicelens --data-dir {settings.data_dir} backfill{flag} --start {a} "
                    f"--end {b} --rerun all`"
                    for a, b in _ranges(list(group.days), published[group.source])
                )
            )
        if group.indexed:
            parts.append(
                f"{_spans(group.indexed)}: look-back days' contacts (no survey date of their "
                "own), indexed once when a later date first needed them; no run rewrites them, "
                "and their contacts read the missing columns as null"
            )
        lines.append(f"{head}; " + "; ".join(parts))
    return lines


def grown_partition_dirs(settings: Settings, found: list[GrownColumns]) -> list[str]:
    """The directory of every partition in ``found``, as text (``dictionary --check`` leaves
    out its per-file lines on them)."""
    roots = dict(_roots(settings))
    return [
        str(partition_dir(roots[g.source] / g.table.path, day))
        for g in found
        for day in g.days + g.indexed
    ]
