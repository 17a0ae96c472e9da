"""What analysts and QA run by hand: the run report, the data dictionary, the example DuckDB
queries, and the review queue as it stands.

These are the handlers of ``servicelens report``, ``servicelens dictionary``,
``servicelens query`` and ``servicelens review-queue``; the parser lines live in
:mod:`servicelens.cli.main`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Collection
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from servicelens.cli.console import print_json, table, warning_line
from servicelens.dates import periods_word
from servicelens.reporting.suggested import not_promoted_text, nothing_to_read_text
from servicelens.settings import Settings
from servicelens.storage.fs import DataPath, RemotePath
from transforms.schemas import WEEKLY_TABLES

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
VIEWS_FILE = SQL_DIR / "views.sql"
QUERIES_DIR = SQL_DIR / "queries"


def example_queries() -> dict[str, Path]:
    """The example queries by name (file name without ``.sql``)."""
    return {path.stem: path for path in sorted(QUERIES_DIR.glob("*.sql"))}


def source_roots(data_dir: DataPath) -> dict[str, DataPath]:
    """Each source's layers in a data directory: the generated sample at the top, every
    other source under ``sources/<name>/``."""
    roots: dict[str, DataPath] = {"sample": data_dir}
    found: list[DataPath] = sorted(
        (p.parent.parent for p in data_dir.glob("sources/*/clean/responses")), key=str
    )
    for root in found:
        roots[root.name] = root
    return roots


def monthly_source_names(settings: Settings) -> list[str]:
    """The configured sources of ``settings``' data directory partitioned by month. A
    source whose registered definition cannot be read is not among them: its partitioning
    is the definition's (its rows are narrowed as days')."""
    from servicelens.ingest.configured import readable_configured_sources

    readable, _ = readable_configured_sources(settings)
    return [s.source for s in readable if s.partition == "month"]


def _has_partitions(table_dir: DataPath) -> bool:
    return any(table_dir.glob("survey_date=*/*.parquet"))


def connect_views(data_dir: DataPath, timezone: str | None = None) -> Any:
    """An in-memory DuckDB connection with ``sql/views.sql`` applied to ``data_dir``: each
    view reads every source's partitions side by side (rows carry ``source``), as in DuckDB
    itself. ``timezone`` is the business timezone (IANA name), the variable
    ``business_timezone`` that queries read a response's own local day in; None: the one
    the data directory records, as the views read it in plain DuckDB (it was Europe/London
    whatever the directory recorded).

    A published table without partitions yet gets an empty view of its contract. Raises
    FileNotFoundError when no source has a partition of ``marts/feedback_scored``.
    """
    import duckdb

    roots = source_roots(data_dir)
    if not any(_has_partitions(r / "marts" / "feedback_scored") for r in roots.values()):
        raise FileNotFoundError(
            f"{data_dir / 'marts' / 'feedback_scored'}: no mart partitions to query. Run "
            "`servicelens backfill --start ... --end ...` (or `servicelens demo`) first, or "
            "point --data-dir at a data directory"
        )
    connection = duckdb.connect()
    if isinstance(data_dir, RemotePath):
        # DuckDB reads the store through the pipeline's own fsspec client and credentials.
        connection.register_filesystem(data_dir.fs)
        location = str(data_dir)
    else:
        location = str(data_dir.resolve())
    connection.execute("SET VARIABLE data_dir = $dir", {"dir": location})
    if timezone is not None:
        connection.execute("SET VARIABLE business_timezone = $tz", {"tz": timezone})
    for statement in connection.extract_statements(VIEWS_FILE.read_text()):
        try:
            connection.execute(statement)
        except duckdb.IOException:
            # A table no run has written yet (e.g. the weekly marts of a data directory that
            # predates them): an empty view of its contract, so every query still runs.
            connection.execute(_empty_view(statement.query))
    _add_missing_contract_columns(connection)
    return connection


def _add_missing_contract_columns(connection: Any) -> None:
    """Give each table's view the columns of its contract that none of its partitions has
    yet, as nulls (``union_by_name`` adds a column only where some partition holds it).
    Found with daily_summary's expected_policy_failures (contract 6): on a data directory
    whose daily marts were all written before it, `query policies_by_root_cause` stopped with
    DuckDB's binder error, where the contract says such rows read as null."""
    from servicelens.reporting.dictionary import sql_type
    from transforms.schemas import PUBLISHED_TABLES

    for contract in PUBLISHED_TABLES:
        view = contract.name
        written = {d[0] for d in connection.execute(f"SELECT * FROM {view} LIMIT 0").description}
        missing = [column for column in contract.schema if column not in written]
        if not missing:
            continue
        nulls = ", ".join(f"NULL::{sql_type(contract.schema[c])} AS {c}" for c in missing)
        connection.execute(f"ALTER VIEW {view} RENAME TO {view}__as_written")
        connection.execute(f"CREATE VIEW {view} AS SELECT *, {nulls} FROM {view}__as_written")


def processed_dates_columns() -> dict[str, str]:
    """The columns of ``processed_dates`` (sql/views.sql), a view of the feedback_scored
    partitions' manifests rather than of a table, with their DuckDB types: its contract,
    ``transforms.schemas.PROCESSED_DATES_CONTRACT``, which the data dictionary documents."""
    from servicelens.reporting.dictionary import sql_type
    from transforms.schemas import PROCESSED_DATES_SCHEMA

    return {column: sql_type(dtype) for column, dtype in PROCESSED_DATES_SCHEMA.items()}


def _empty_view(create_view: str) -> str:
    """``CREATE VIEW`` of a published table with its contract's columns and no rows (or of
    ``processed_dates``, :func:`processed_dates_columns`, when no partition has a manifest)."""
    from servicelens.reporting.dictionary import sql_type
    from transforms.schemas import PUBLISHED_TABLES

    found = re.search(r"CREATE OR REPLACE VIEW (\w+)", create_view)
    name = found.group(1) if found else ""
    contract = {t.name: t for t in PUBLISHED_TABLES}.get(name)
    if contract is not None:
        types = {column: sql_type(dtype) for column, dtype in contract.schema.items()}
    elif name == "processed_dates":
        types = processed_dates_columns()
    else:
        raise FileNotFoundError(f"no partitions for the view in: {create_view.strip()[:80]}")
    columns = ", ".join(f"NULL::{sql} AS {column}" for column, sql in types.items())
    return f"CREATE OR REPLACE VIEW {name} AS SELECT {columns} WHERE false"


def unscored_note(connection: Any, with_champion: Collection[str] = ()) -> str | None:
    """What to say when negatives exist but no model has scored them (None when scored):
    the commands that train and score each feed that has negatives (the sample's, or a
    configured source's with ``--source``); a feed in ``with_champion`` (its name, or
    :data:`~transforms.schemas.SAMPLE_SOURCE`) has a champion already, so only the backfill
    that scores its dates (a trial was told to train a source that had one)."""
    from transforms.schemas import SAMPLE_SOURCE

    negatives, scored = connection.execute(
        "SELECT count(*) FILTER (WHERE is_negative), count(root_cause) FROM feedback_scored"
    ).fetchone()
    if not negatives or scored:
        return None
    feeds = [
        str(row[0])
        for row in connection.execute(
            "SELECT DISTINCT coalesce(source, ?) FROM feedback_scored WHERE is_negative ORDER BY 1",
            [SAMPLE_SOURCE],
        ).fetchall()
    ]
    steps = []
    for feed in feeds:
        flag = "" if feed == SAMPLE_SOURCE else f" --source {feed}"
        backfill = f"`servicelens backfill{flag} --start ... --end ... --rerun all`"
        steps.append(
            f"{backfill} (its champion scores them)"
            if feed in with_champion
            else f"`servicelens train{flag}`, then {backfill}"
        )
    return (
        f"note: none of the {negatives:,} negative responses has a root cause yet (no champion "
        "model scored them), so nothing here is a recommendation. To score them, run "
        + "; and ".join(steps)
        + "."
    )


def run_query(
    data_dir: DataPath,
    name: str,
    timezone: str | None = None,
    weeks: Collection[date] | None = None,
) -> list[dict[str, Any]]:
    """Run one example query over the marts in ``data_dir`` (``timezone``: the business
    timezone, by default the one the directory records); rows as dicts. ``weeks``: the
    query reads only those partitions of the weekly marts (agent_outcomes, fix_list; their
    ``survey_date``), as the run report shows one week. Raises ValueError naming the
    queries there are when ``name`` is none of them."""
    sql = _query_sql(name)
    connection = connect_views(data_dir, timezone)
    if weeks is not None:
        chosen = ", ".join(f"DATE '{day.isoformat()}'" for day in sorted(weeks)) or "NULL"
        for view in WEEKLY_TABLES:
            connection.execute(f"ALTER VIEW {view} RENAME TO {view}__every_week")
            connection.execute(
                f"CREATE VIEW {view} AS SELECT * FROM {view}__every_week "
                f"WHERE survey_date IN ({chosen})"
            )
    return _rows(connection, sql)


def _query_sql(name: str) -> str:
    """The SQL of the example query ``name`` (ValueError naming the others if none)."""
    queries = example_queries()
    if name not in queries:
        raise ValueError(
            f"no example query {name!r}; choose one of {sorted(queries)} "
            "(`servicelens query --list` shows them)"
        )
    return queries[name].read_text()


def _rows(connection: Any, sql: str) -> list[dict[str, Any]]:
    result = connection.execute(sql)
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def _query_summary(path: Path) -> str:
    """The first sentence of a query file's leading comment: the question it answers."""
    comment = []
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        comment.append(line.removeprefix("--").strip())
    text = " ".join(comment)
    ends = [i for i in (text.find("? "), text.find(". ")) if i >= 0]
    return text[: min(ends) + 1] if ends else text


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens query [--list | NAME]``: list the example queries of ``sql/queries``,
    or run one over the views of ``sql/views.sql`` and print its rows (a table, or JSON).

    Returns 0. Raises ValueError (exit status 2) for a query of a local data directory that
    does not exist (:func:`refuse_a_missing_data_dir`); the list reads no data and is shown
    whatever the directory."""
    if args.list or not args.name:
        from servicelens.ingest.configured import configured_names, configured_source
        from transforms.schemas import SAMPLE_SOURCE

        source = getattr(args, "source", None)
        if source and source not in (SAMPLE_SOURCE, *configured_names(settings)):
            # The list shows a command to copy with it: not with a misspelt one (a trial's).
            try:
                connection = connect_views(settings.root, settings.timezone)
            except FileNotFoundError:  # no marts yet: the configured sources are all there are
                configured_source(settings, source)  # raises, naming the closest
            else:
                refuse_unknown_feed(settings, connection, source)
        rows = [{"query": n, "answers": _query_summary(p)} for n, p in example_queries().items()]
        print_json(rows) if args.json else print(table(rows))
        if not args.json:
            # With the --source given, the command shown is one to copy (found by a trial).
            of = f" --source {args.source}" if getattr(args, "source", None) else ""
            print(f"\nrun one: servicelens query{of} {rows[0]['query']}   (SQL in {QUERIES_DIR})")
        return 0
    sql = _query_sql(args.name)
    # It said "no mart partitions to query" of a mistyped --data-dir: as if it were empty.
    refuse_a_missing_data_dir(settings)
    connection = connect_views(settings.root, settings.timezone)
    if (source := getattr(args, "source", None)) is not None:
        refuse_unknown_feed(settings, connection, source)
    narrow_views(connection, args.start, args.end, monthly_source_names(settings), source)
    sql = filtered_query(connection, sql, args.name, source, getattr(args, "limit", None))
    rows = _rows(connection, sql)
    print_json(rows) if args.json else print(table(rows))
    if (shown := truncation_note(connection, sql, len(rows))) is not None:
        print(shown, file=sys.stderr)
    if not rows and (empty := no_rows_note(connection, sql)) is not None:
        print(empty, file=sys.stderr)
    # Only a query over what the model scores is read as recommendations (a trial's
    # quarantined_rows was followed by a note on root causes it does not show).
    scored = any(name in sql for name in MODEL_OUTPUTS)
    note = unscored_note(connection, feeds_with_champion(settings)) if scored else None
    if note:
        print(note, file=sys.stderr)
    return 0


def refuse_unknown_feed(settings: Settings, connection: Any, source: str) -> None:
    """Raise ValueError when ``source`` is neither a configured source of ``settings``' data
    directory nor a source whose rows the marts or the quarantine hold (the sample's too;
    ``connection``, :func:`connect_views`'s), naming those and the closest of them.

    Found by a trial: ``query quarantined_rows --source eu-feedbak`` printed "(no rows)",
    exit 0, and the analyst concluded the source had no quarantine."""
    import difflib

    from servicelens.ingest.configured import configured_names

    held = {
        str(row[0])
        for row in connection.execute(
            "SELECT DISTINCT source FROM feedback_scored WHERE source IS NOT NULL "
            "UNION SELECT DISTINCT source FROM quarantine WHERE source IS NOT NULL"
        ).fetchall()
    }
    feeds = sorted({*configured_names(settings), *held})
    if source in feeds:
        return
    close = difflib.get_close_matches(source, feeds, n=1)
    raise ValueError(
        f"--source {source}: no such source in {settings.data_dir} (its sources: "
        f"{', '.join(feeds) or 'none yet'})" + (f"; did you mean {close[0]}?" if close else "")
    )


def feeds_with_champion(settings: Settings) -> set[str]:
    """The feeds of ``settings``' data directory whose registry has a champion: the sample
    (:data:`~transforms.schemas.SAMPLE_SOURCE`) and configured sources, by name (one whose
    registered definition cannot be read too: its registry needs no definition)."""
    from models.registry import champion_version
    from servicelens.ingest.configured import configured_names, records_layer
    from transforms.schemas import SAMPLE_SOURCE

    feeds = {SAMPLE_SOURCE: settings.models_dir} if settings.is_sample else {}
    feeds |= {name: records_layer(settings, name).models_dir for name in configured_names(settings)}
    return {feed for feed, models in feeds.items() if champion_version(models) is not None}


#: What a query reads of the model's output: the scored mart, the fix list, root causes.
MODEL_OUTPUTS = ("feedback_scored", "fix_list", "root_cause", "policy_failure")

#: A query's closing row limit (``LIMIT 500;``), read to say when its answer was cut.
_LIMIT = re.compile(r"\bLIMIT\s+(\d+)\s*;?\s*$", re.IGNORECASE)


#: The views of sql/views.sql over one table each, and the column that ends a row's period
#: (None: the row is of its survey_date alone; the weekly marts' rows are of a week, or a
#: month, that starts on their survey_date).
_DATED_VIEWS: dict[str, str | None] = {
    "feedback_scored": None,
    "daily_summary": None,
    "quarantine": None,
    "fix_list": "period_end",
    "agent_outcomes": "week_end",
}


def narrow_views(
    connection: Any,
    start: date | None,
    end: date | None,
    monthly_sources: Collection[str] = (),
    source: str | None = None,
) -> None:
    """Narrow every table's view on ``connection`` (:func:`connect_views`'s) to the survey
    dates ``start``..``end`` (inclusive; None: open) and to ``source``'s rows (None: every
    source's), so that every example query, every view built on them
    (``scored_negatives``), and the notes counted over them (:func:`no_rows_note`,
    :func:`unscored_note`), answer for those dates and that source only. A user's trial:
    ``query quarantined_rows --source calls`` said the query read 34 quarantined rows, all
    of other sources, and ``queues_that_bounce --source calls`` counted every source's
    negatives and advised training the others.

    A weekly mart's row is kept when its week (or month) overlaps the range. A source in
    ``monthly_sources`` names each partition by its month's first day, so a range starting
    within a month keeps that month (as ``backfill --source`` takes it). Found by a trial:
    seven of the eight queries refused --start and --end, their answers carrying no
    survey_date to filter on afterwards."""
    if start is None and end is None and source is None:
        return
    months = ", ".join("'" + name.replace("'", "''") + "'" for name in monthly_sources)
    for view, period_end in _DATED_VIEWS.items():
        where = []
        if source is not None:
            where.append(f"source = '{source.replace(chr(39), chr(39) * 2)}'")
        if end is not None:
            where.append(f"survey_date <= DATE '{end.isoformat()}'")
        if start is not None:
            first = f"DATE '{start.isoformat()}'"
            if period_end is not None:
                where.append(f"{period_end} >= {first}")
            elif months:
                where.append(
                    f"(survey_date >= {first} OR (source IN ({months}) "
                    f"AND survey_date >= date_trunc('month', {first})))"
                )
            else:
                where.append(f"survey_date >= {first}")
        connection.execute(f"ALTER VIEW {view} RENAME TO {view}__every_date")
        connection.execute(
            f"CREATE VIEW {view} AS SELECT * FROM {view}__every_date WHERE {' AND '.join(where)}"
        )


def filtered_query(
    connection: Any,
    sql: str,
    name: str,
    source: str | None = None,
    limit: int | None = None,
) -> str:
    """An example query's SQL narrowed to one ``source``'s rows, with ``limit`` rows at
    most (0: all; None: the query's own closing ``LIMIT``): the query, without its limit,
    becomes a subquery filtered on its ``source`` column, its order kept. With no filter
    and no limit the SQL is returned as it is. (Dates, and the source for the notes counted
    over the views, are narrowed in the views: :func:`narrow_views`.)

    Found by a trial: ``quarantined_rows`` showed the newest 500 rows of every source, and
    the sample's pushed a configured source's out of sight. Raises ValueError when the
    query's rows carry no source column (naming the columns it has)."""
    if source is None and limit is None:
        return sql
    found = _LIMIT.search(sql)
    inner = (sql[: found.start()] if found else sql).strip().rstrip(";")
    columns = [d[0] for d in connection.execute(f"SELECT * FROM ({inner}) LIMIT 0").description]
    if source is not None and "source" not in columns:
        raise ValueError(
            f"query {name} has no source column to filter with --source (its columns: "
            f"{', '.join(columns)}); copy its SQL from {QUERIES_DIR} to filter it another way"
        )
    where = []
    if source is not None:
        where.append(f"source = '{source.replace(chr(39), chr(39) * 2)}'")
    rows = limit if limit is not None else (int(found.group(1)) if found else 0)
    return (
        f"SELECT * FROM ({inner}) AS answer"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (f" LIMIT {rows};" if rows else ";")
    )


def no_rows_note(connection: Any, sql: str) -> str | None:
    """Why a query answered no rows: the views it reads (over ``connection``,
    :func:`connect_views`'s, narrowed as the query was) and how many rows each holds, so an
    empty table is told from conditions that kept nothing. None when it reads no view.

    Found by a trial: ``query handle_time_vs_resolution`` printed "(no rows)" for a source
    whose exports carry no agent or handle time, with no word of why. A view with a
    ``status`` column (agent_outcomes) has its rows counted by status too: a QA lead's
    ``agents_whose_customers_come_back`` kept none of a call log's agent-weeks, every one
    ``no customer id``, and the note said only that its conditions kept none."""
    names = [
        str(row[0])
        for row in connection.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
        ).fetchall()
    ]
    code = re.sub(r"--[^\n]*", "", sql)  # the SQL's comments name tables too
    read = [n for n in names if re.search(rf"\b{re.escape(n)}\b", code)]
    if not read:
        return None
    counts = {n: connection.execute(f"SELECT count(*) FROM {n}").fetchall()[0][0] for n in read}
    held = ", ".join(f"{n} ({c:,} rows)" for n, c in counts.items())
    if not any(counts.values()):
        return (
            f"note: no rows: the query reads {held}, for the dates and source asked. A table is "
            "empty before a run writes it, or when its sources lack what it is built from "
            "(docs/data_dictionary.md says what each table needs)"
        )
    statuses = []
    for name in read:
        columns = {str(row[0]) for row in connection.execute(f"DESCRIBE {name}").fetchall()}
        if counts[name] and "status" in columns:
            tally = connection.execute(
                f"SELECT status, count(*) FROM {name} GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
            statuses.append(f"{name}' status: " + ", ".join(f"'{s}' {n:,}" for s, n in tally))
    said = f"note: no rows: the query reads {held}; its conditions kept none of them"
    if statuses:
        said += f" ({'; '.join(statuses)}: docs/data_dictionary.md says what each means)"
    if counts.get("agent_outcomes") and (lacking := _agent_weeks_lacking(connection, code)):
        said += f". {lacking}"
    return said


def _agent_weeks_lacking(connection: Any, code: str) -> str | None:
    """What agent_outcomes' rows lack for a query of agents' weeks (``code``, its SQL
    without comments) to keep any: an agent on any contact, and, where it reads
    ``median_handle_seconds``, a handle time; with where the source's own resolved flag is
    to be read when it has one. None where some row names an agent (its status, which
    :func:`no_rows_note` counts, says why it was not kept), or where the view lacks the
    columns counted.

    Found by an analyst's trial: ``query handle_time_vs_resolution`` of a SurveyMonkey
    post-call survey (no agent, no handle time, a resolved question mapped)
    printed "(no rows)" and a status count, not that the query compares agents' handle
    times, which the source does not record, nor where its resolution was."""
    from transforms.agents import NO_AGENT_RECORDED

    needed = {
        "status",
        "contacts",
        "contacts_with_handle_time",
        "flagged_contacts",
        "flagged_resolved",
    }
    columns = {str(r[0]) for r in connection.execute("DESCRIBE agent_outcomes").fetchall()}
    if not needed <= columns:
        return None  # a view narrower than the contract (connect_views gives it all)
    row = connection.execute(
        "SELECT count(*) FILTER (WHERE status IS DISTINCT FROM ?), "
        "coalesce(sum(contacts), 0), coalesce(sum(contacts_with_handle_time), 0), "
        "coalesce(sum(flagged_contacts), 0), coalesce(sum(flagged_resolved), 0) "
        "FROM agent_outcomes",
        [NO_AGENT_RECORDED],
    ).fetchone()
    with_agent, contacts, timed, flagged, resolved = (int(v) for v in row)
    if with_agent:
        return None  # agents' weeks there are: their statuses say why none was kept
    lacks = ["no agent on any contact (every row 'no agent recorded')"]
    if not timed and re.search(r"\bmedian_handle_seconds\b", code):
        lacks.append(f"no handle time on any of its {contacts:,} contacts")
    said = (
        f"The source's exports record {' and '.join(lacks)}: this query judges agents' weeks "
        "by what they record, so it has nothing to compare here (map the export's agent and "
        "handle-time columns as agent_id and handle_seconds in the source definition's "
        "[columns] if it has them)"
    )
    if flagged:
        said += (
            f". Its own resolved flag, {resolved:,} resolved of {flagged:,} answered, is on "
            "each response in feedback_scored (resolved_first_contact) and by day and "
            "channel in daily_summary (fcr_answered, fcr_resolved, fcr_rate; abandoned "
            "calls left out, counted in abandoned)"
        )
    return said


def truncation_note(connection: Any, sql: str, shown: int) -> str | None:
    """When an example query returned as many rows as its closing ``LIMIT``: how many rows
    the query has without it (counted over ``connection``, :func:`connect_views`'s), and
    where its SQL is to widen or filter it; else None. Found by a trial:
    ``quarantined_rows`` showed 497 of 2,108 rows without a word."""
    found = _LIMIT.search(sql)
    if found is None or shown < int(found.group(1)):
        return None
    inner = sql[: found.start()].strip().rstrip(";")
    total = connection.execute(f"SELECT count(*) FROM ({inner})").fetchall()[0][0]
    if total <= shown:
        return None
    return (
        f"note: the first {shown} of {total:,} rows: narrow them with --source, --start and "
        "--end, show them all with --limit 0, or copy the SQL from "
        f"{QUERIES_DIR} to filter it otherwise and run it in DuckDB after sql/views.sql "
        "(README, Query the marts in DuckDB)"
    )


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens report [--source NAME]``: the sample's run report, or a configured
    source's (as that source's backfill writes it). In a data directory that holds only
    configured sources (the sample's report would be empty) and no ``--source``, every
    configured source's, in name order, as the nightly run writes them (an airline's trial
    was refused there, while ``run`` and ``backfill`` took every source); ``--json`` then
    prints one object per source, in a list. A source whose registered definition cannot
    be read has no report: the others are written, and it is named on stderr, once, with
    the file, the error and the command that mends it (it failed the command outright)."""
    from servicelens.ingest.configured import (
        configured_names,
        has_sample_exports,
        left_out_note,
        readable_configured_sources,
    )

    # A report of nothing, in a folder a misspelt --data-dir made (a new analyst's trial).
    refuse_a_missing_data_dir(settings)
    source = getattr(args, "source", None)
    if source is None and not has_sample_exports(settings) and configured_names(settings):
        readable, unreadable = readable_configured_sources(settings)
        for left_out in unreadable:
            print(warning_line(left_out_note(left_out)), file=sys.stderr)
        results = [_write_report(args, chosen) for chosen in readable]
        if args.json:
            print_json(results)
        return 0
    result = _write_report(args, chosen_source(settings, source, "report"))
    if args.json:
        print_json(result)
    return 0


def _write_report(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Write ``settings``' source's run report; print where and what it lacks (unless
    ``--json``) and return the same as a dict (``report``, ``latest``,
    ``sections_not_available``, ``section_notes`` and the report's headline)."""
    from servicelens.cli.console import said_if_slow
    from servicelens.reporting.report import build_report, reasons_first

    with said_if_slow(
        f"building the report of {settings.source} from {settings.root}", not args.json
    ):
        report = build_report(settings)
    result = {
        "report": str(report.path),
        "latest": str(report.latest),
        "sections_not_available": report.missing,
        # What a section not available says besides why (audits a source does not use).
        "section_notes": report.notes,
        **report.headline,
    }
    if args.json:
        return result
    print(f"report written: {report.path}")
    print(f"newest always:  {report.latest}   (open it in a browser)")
    for section, reason in reasons_first(report.missing):
        print(f"  not available: {section}: {reason}")
        for note in report.notes.get(section, []):
            print(f"    {note}")
    for waiting in report.headline["inbox_not_landed"]:
        print(
            f"  inbox not landed (refused for {waiting['waiting']}): {waiting['reason']}; "
            f"{waiting['todo']}"
        )
    for unclaimed in report.headline["inbox_unclaimed"]:
        print(f"  inbox folder of no source: {unclaimed['reason']}")
    if failed := report.headline["failed_dates"]:
        print(
            f"  last run failed: {', '.join(failed)} (why, and what to run: the report's Data "
            "quality section)"
        )
    return result


def refuse_a_missing_data_dir(settings: Settings) -> None:
    """Raise ValueError when the data directory is a local folder that does not exist,
    naming it as given (``--data-dir`` or ``SERVICELENS_DATA_DIR``): a command that reads or
    reports on it would otherwise answer about nothing (``report`` wrote an empty report,
    ``dictionary --check`` passed a mistyped path; ``review-queue``, ``models list`` and
    ``runs show`` answered "nothing", exit 0). An object store's prefix is not checked: its
    commands say when its bucket is missing."""
    if isinstance(settings.root, Path) and not settings.root.exists():
        raise ValueError(
            f"{settings.data_dir} does not exist: check --data-dir or SERVICELENS_DATA_DIR; "
            "`servicelens demo` fills a new one with sample data"
        )


def chosen_source(settings: Settings, source: str | None, command: str, then: str = "") -> Settings:
    """The settings of ``--source NAME``, or the sample's; in a data directory that holds
    only configured sources the sample has nothing, so ValueError says which to ask for:
    ``servicelens <command> --source <first> <then>`` (``then``: what must follow the
    option, such as ``models``' action, so the command works when pasted)."""
    from servicelens.ingest.configured import (
        configured_names,
        configured_source,
        has_sample_exports,
        left_out_note,
        readable_configured_sources,
    )
    from transforms.schemas import SAMPLE_SOURCE

    if source and source != SAMPLE_SOURCE:
        return configured_source(settings, source)
    if not has_sample_exports(settings) and (names := configured_names(settings)):
        # The command offered is one that works: not a source whose registered definition
        # cannot be read (it is named, with what mends it).
        readable, unreadable = readable_configured_sources(settings)
        first = readable[0].source if readable else names[0]
        asked = " ".join(["servicelens", command, "--source", first, then]).strip()
        left = "".join(f"; {left_out_note(u)}" for u in unreadable)
        raise ValueError(
            f"{settings.data_dir} holds no sample dates, only configured sources "
            f"({', '.join(names)}): "
            f"ask for one with `{asked}`{left}"
        )
    return settings


def train_command(settings: Settings) -> str:
    """The command that trains ``settings``' source: ``servicelens train``, with
    ``--source NAME`` for a configured source."""
    return "servicelens train" + ("" if settings.is_sample else f" --source {settings.source}")


#: Characters of a comment shown in the terminal's review queue (the worksheet has all).
QUEUE_COMMENT_CHARS = 60


#: Set-aside audit rows ``review-queue`` quotes (the rest are counted).
SET_ASIDE_QUOTED = 5


def _has_comments(settings: Settings) -> bool:
    """Whether ``settings``' source has a free-text comment (the sample has; a configured
    source when its definition maps ``comment``)."""
    if settings.is_sample or settings.definition is None:
        return True
    from servicelens.ingest.definitions import load_definition

    return "comment" in load_definition(settings.definition).columns


def _audits_in_other_case(
    audits: pl.DataFrame, items: pl.DataFrame, sheets: dict[str, str]
) -> list[str]:
    """Warnings for audits in force whose id is an open item's response id but for case
    (``r2026...`` for ``R2026...``): they close nothing, ids being case-sensitive (vendors'
    are), and a QA lead's trial saw the item stay open without a word here (only train's
    metrics.json named it). ``audits`` has ``response_id``, ``source_file``,
    ``source_sheet`` and ``source_line``; ``items`` ``response_id``; ``sheets`` the
    workbooks read and their sheet (``AuditRead.sheets``), whose rows are named by sheet
    and row."""
    from servicelens.ingest.audits import audit_position

    if audits.is_empty() or items.is_empty():
        return []
    open_ids = items.select(
        pl.col("response_id").alias("_item"), pl.col("response_id").str.to_lowercase().alias("_k")
    ).unique("_k")
    found = (
        audits.filter(~pl.col("response_id").is_in(items.get_column("response_id").implode()))
        .with_columns(pl.col("response_id").str.to_lowercase().alias("_k"))
        .join(open_ids, "_k", "inner")
        .sort("source_file", "source_sheet", "source_line")
    )
    if found.is_empty():
        return []
    lines = [
        warning_line(
            f"{found.height:,} audit(s) name an open item's response in other case, and "
            "close nothing: ids are matched exactly, so write each as the export does:"
        )
    ]
    lines += [
        f"  {audit_position(row['source_file'], sheets, sheet=row['source_sheet'])} "
        f"{row['source_line']}: "
        f"'{row['response_id']}' for '{row['_item']}'"
        for row in found.head(SET_ASIDE_QUOTED).iter_rows(named=True)
    ]
    if found.height > SET_ASIDE_QUOTED:
        lines.append(f"  ... and {found.height - SET_ASIDE_QUOTED:,} more")
    return lines


#: The delimiters a review-queue worksheet can be written with (``--delimiter``).
WORKSHEET_DELIMITERS = (",", ";")


def write_worksheet(worksheet: pl.DataFrame, output: Path, delimiter: str = ",") -> None:
    """Write a review-queue worksheet (:func:`transforms.marts.audit_worksheet`) to
    ``output`` as CSV that Excel opens in columns: UTF-8 with a byte-order mark (so Excel
    reads it as UTF-8), separated by ``delimiter``.

    ``";"`` is for Excel where the decimal mark is a comma (German, French, ...): it splits
    a CSV it opens at its list separator, ``;`` there, so a comma-separated worksheet opened
    as one column (a German team's trial); its numbers are written with a decimal comma
    too. No ``sep=;`` line: Excel ignores the byte-order mark of a file starting with one,
    and shows the comments' umlauts as mojibake. The audits reader reads either form back
    (delimiter sniffed, the header's names matched), when QA saves it as an audit file.
    Raises ValueError for another delimiter."""
    if delimiter not in WORKSHEET_DELIMITERS:
        raise ValueError(
            f"a worksheet's delimiter is one of {WORKSHEET_DELIMITERS}, not {delimiter!r}"
        )
    worksheet.write_csv(
        output, separator=delimiter, decimal_comma=delimiter == ";", include_bom=True
    )


def _check_worksheet_target(output: Path, replace: bool) -> None:
    """Refuse a worksheet path that is a folder, or a file that exists without ``replace``:
    the file may be a worksheet QA has filled in (the command itself advises saving one in
    the audits folder), and a fresh worksheet over it would lose their verdicts.

    Raises ValueError naming the path and what to do instead."""
    if output.is_dir():
        raise ValueError(
            f"--output {output} is a folder: name a file in it, e.g. {output / 'worksheet.csv'}"
        )
    if output.exists() and not replace:
        raise ValueError(
            f"--output {output} exists, and may hold verdicts QA has filled in: name a new "
            "file, or add --replace to write over it"
        )
    if not output.parent.is_dir():
        raise ValueError(f"--output {output}: there is no folder {output.parent}; create it first")


def first_audits_advice(train: str, with_comments: bool) -> str:
    """What the review queue of a source without a model asks of QA: the audits the first
    model needs, in the words of ``models.train.audits_needed_text`` (the one minimum
    ``train`` refuses below: a new analyst's trial was asked for five here, two by train,
    three by the README), then ``train``, the command to run (``servicelens train ...``).

    ``with_comments``: the source maps a comment, so the audits must be of responses with
    one; a call log is audited on its facts (a trial's call-centre source was asked for
    audits "with comments" it cannot have). The sentence read "audit at least 3 audits of
    each root cause" (a QA lead's trial)."""
    from models.train import audits_needed_text

    which = ", of responses with a comment," if with_comments else ""
    return f"training needs{which} {audits_needed_text()}; audit them, then `{train}`"


def review_reasons_text(reasons: pl.Series) -> str:
    """The open review items' ``reasons`` counted, each said for what it is: the
    ``review-queue`` command's and the run report's words (README, "Three counts of
    review"). Uncertain items are the model's abstentions (feedback_scored's
    ``needs_review``), spot checks the date's closest calls it decided (found by a QA lead's
    trial: "459 uncertain" of negatives none of which needed review)."""
    from transforms.marts import SPOT_CHECK, UNCERTAIN

    def count(reason: str, one: str, many: str) -> str:
        n = int((reasons == reason).sum())
        return f"{n:,} {one if n == 1 else many}"

    return (
        f"{count(UNCERTAIN, 'uncertain', 'uncertain')} (inside the review band, where the "
        "model abstains: needs_review), "
        f"{count(SPOT_CHECK, 'spot check', 'spot checks')} (outside the review band: decided "
        "by the model, the unaudited negatives of their date closest to the threshold), "
        f"{count('label_doubt', 'label doubt', 'label doubts')} (audits the model's "
        "out-of-fold probability disagrees with)"
    )


def cmd_review_queue(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens review-queue [--source NAME] [--start D] [--end D] [--limit N]
    [--output FILE.csv [--delimiter ';']]``: the responses most worth a QA audit next,
    across dates, with the ones audited since their date was scored left out
    (``stages.open_review_queue``); ``--output`` writes them as a worksheet QA fills in and
    saves as an audit file (:func:`write_worksheet`).

    Raises ValueError (exit status 2) for a local data directory that does not exist: a
    mistyped --data-dir answered "nothing open", exit 0 (:func:`refuse_a_missing_data_dir`)."""
    refuse_a_missing_data_dir(settings)
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from models.registry import champion_version
    from servicelens.ingest.audits import SOURCE_AUDIT_FILES, audit_position, misplaced_advice
    from servicelens.ingest.definitions import load_definition
    from servicelens.reporting.report import label_heading
    from servicelens.stages import (
        audits_dated_before_their_response,
        audits_read,
        clean_days,
        first_audits,
        misplaced_audits,
        open_review_queue,
        review_queue_days,
        with_contact_facts,
    )
    from transforms.marts import FIRST_AUDIT, SPOT_CHECK, UNCERTAIN, audit_worksheet

    chosen = chosen_source(settings, args.source, "review-queue")
    if args.output:
        _check_worksheet_target(Path(args.output), args.replace)
    start = args.start
    if start is not None and chosen.partition == "month":
        start = start.replace(day=1)  # a month's partition is named by its first day
    # An audit dated before its response is not used (a QA lead's trial saw it close its
    # item here while `train` set it aside): left out of the queue, and named below.
    early = audits_dated_before_their_response(chosen, review_queue_days(chosen, start, args.end))
    items, closed = open_review_queue(chosen, start, args.end, early)
    # No model yet, so no queue: the negatives nobody has labelled, for the first audits.
    first = not items.height and not closed and champion_version(chosen.models_dir) is None
    if first:
        # Its audits dated before their response are those of the clean layer's dates: they
        # leave their items open, and are named below (a QA lead's trial saw one closed).
        early = audits_dated_before_their_response(chosen, clean_days(chosen, start, args.end))
        items = first_audits(chosen, start, args.end, early)
    # What QA judges a response by beside the queue's columns: a call log has no comment.
    items = with_contact_facts(chosen, items)
    # An audit file that cannot be read, or an audit row set aside, closes no item: say
    # which, on stderr, so QA mends the row rather than audit the response again.
    read = audits_read(chosen)
    # Found by a QA lead's trial: `train` named these, the queue said nothing and kept
    # their responses open.
    for misplaced in misplaced_audits(chosen):
        print(
            warning_line(
                f"{misplaced} is not read: {misplaced_advice(misplaced)}; "
                "its audits close no item below"
            ),
            file=sys.stderr,
        )
    for unread in read.unreadable:
        print(
            warning_line(f"{unread['reason']}; its audits close no item below"),
            file=sys.stderr,
        )
    # A row set aside that a later audit of its response settles leaves nothing open:
    # listing it here sent QA to mend rows a later audit had already superseded (a QA
    # lead's trial). One whose item is open is named whatever audit is in force: a
    # mistyped re-audit of a label doubt was counted as closed by the audit it doubted.
    open_ids = items.get_column("response_id").implode()
    settled = read.settled() & ~read.set_aside.get_column("response_id").is_in(open_ids)
    covered, leaving_open = read.set_aside.filter(settled), read.set_aside.filter(~settled)
    leaving_open = pl.concat([leaving_open, early], how="vertical_relaxed")
    where = (
        f"`{train_command(chosen)}` names the first of each kind, and its version's "
        "metrics.json, audits.set_aside_rows, every one"
    )
    if covered.height:
        print(
            f"servicelens: note: {covered.height:,} audit row(s) set aside are of responses "
            f"a later audit in force closes ({where})",
            file=sys.stderr,
        )
    if leaving_open.height:
        print(
            warning_line(
                f"{leaving_open.height:,} audit row(s) set aside close no item below until "
                f"they are mended ({where}):"
            ),
            file=sys.stderr,
        )
        for row in leaving_open.head(SET_ASIDE_QUOTED).iter_rows(named=True):
            print(
                f"  {audit_position(row['source_file'], read.sheets, sheet=row['source_sheet'])} "
                f"{row['source_line']} "
                f"({row['response_id'] or 'no id'}): {row['reason']}",
                file=sys.stderr,
            )
        if leaving_open.height > SET_ASIDE_QUOTED:  # a QA lead's trial missed the sixth
            print(
                f"  ... and {leaving_open.height - SET_ASIDE_QUOTED:,} more (`--json` lists "
                "every one)",
                file=sys.stderr,
            )
    for line in _audits_in_other_case(read.audits, items, read.sheets):
        print(line, file=sys.stderr)
    shown = items if args.limit == 0 else items.head(args.limit)
    reasons = items.get_column("reason")
    days = items.get_column("survey_date")
    summary = {
        "source": chosen.source,
        "open_items": items.height,
        "uncertain": int((reasons == UNCERTAIN).sum()),
        "spot_check": int((reasons == SPOT_CHECK).sum()),
        "label_doubt": int((reasons == "label_doubt").sum()),
        "first_audit": int((reasons == FIRST_AUDIT).sum()),
        "dates": days.n_unique(),
        "first_date": str(days.min()) if items.height else None,
        "last_date": str(days.max()) if items.height else None,
        "closed_by_audits_since": closed,
        "shown": shown.height,
        # Each row set aside that leaves an item open, located (a trial found none here).
        # A workbook's rows by sheet and row as Excel shows them (``line``); null for a CSV.
        "audit_rows_set_aside": leaving_open.select(
            pl.col("source_file").alias("file"),
            pl.col("source_sheet").alias("sheet"),
            pl.col("source_line").alias("line"),
            "response_id",
            "reason",
        ).to_dicts(),
        "audit_rows_set_aside_closed_otherwise": covered.height,
        # A definition no model can read: said where audits are first asked for, in the
        # retrain's words (a QA lead's trial audited a call log no model could be trained on).
        "model_note": None
        if chosen.is_sample or chosen.definition is None
        else nothing_to_read_text(load_definition(chosen.definition)),
    }
    if chosen.is_sample:
        today = datetime.now(ZoneInfo(chosen.timezone)).date()
        save_to = (
            f"as {chosen.raw_day(today) / 'audits.csv'} (today's folder: a date's queue is "
            "closed by the audits of its own folder and every later one; if it has an "
            "audits.csv, save yours beside it as audits-<your name>.csv)"
        )
    else:
        save_to = f"in {chosen.audits_dir} (any name; {SOURCE_AUDIT_FILES} are read there)"
    if args.output:
        output = Path(args.output)
        write_worksheet(audit_worksheet(shown), output, args.delimiter)
        summary["worksheet"] = str(output)
    if args.json:
        rows = shown.with_columns(pl.col("survey_date").cast(pl.String)).to_dicts()
        print_json({**summary, "items": rows})
        return 0
    if not items.height:
        # Found by a QA lead's trial: queues written empty (every negative audited when its
        # date was scored) were answered as if no date had been scored.
        queued = len(review_queue_days(chosen, start, args.end))
        why = "; dates get a queue when they are scored with a champion"
        if queued:
            why = (
                f"; the queues of its {queued:,} scored {periods_word(chosen.partition)} hold "
                "no item (every negative was audited, or none was scored)"
            )
        print(
            f"review queue of {chosen.source}: nothing open"
            + (f" ({closed:,} items closed by audits filed since)" if closed else why)
        )
        return 0
    if first:
        train = train_command(chosen)
        offered = (
            f"{items.height:,} negative responses that no audit labels, over "
            f"{summary['dates']} {periods_word(chosen.partition)} ({summary['first_date']}.."
            f"{summary['last_date']}), spread over the queues"
        )
        if (refused := not_promoted_text(chosen)) is not None:
            # Found by a QA lead's trial: "no model yet", and the audits a first model needs
            # asked for, of a source whose trained model was refused promotion.
            print(
                f"review queue of {chosen.source}: no champion yet ({refused}), so no date was "
                f"scored and there is no queue: {offered}; audit more of them, then `{train}`"
            )
        else:
            print(
                f"review queue of {chosen.source}: no model yet, so {offered} for the first "
                f"audits: {first_audits_advice(train, _has_comments(chosen))}"
            )
            if summary["model_note"]:
                print(f"note: {summary['model_note']}")
    else:
        print(
            f"review queue of {chosen.source}: {items.height:,} open items over "
            f"{summary['dates']} {periods_word(chosen.partition)} ({summary['first_date']}.."
            f"{summary['last_date']}): {review_reasons_text(reasons)}; "
            f"{closed:,} closed by audits filed since their dates were scored"
        )
    if args.output:
        typed_today = datetime.now(ZoneInfo(chosen.timezone)).date().isoformat()
        print(
            f"wrote the {shown.height:,} most urgent to {args.output}: fill in root_cause "
            f"(perceived or policy_failure), audited_at ({typed_today} 14:05: with the time, "
            "so a re-audit later the same day replaces it) and "
            f"auditor on each row you audit, then save it {save_to}. Rows left blank count "
            "as not audited yet"
        )
        return 0
    print(
        f"the {shown.height:,} most urgent"
        + (" (--limit 0 shows all):" if shown.height < items.height else ":")
    )
    preview = shown.select(
        pl.col("survey_date").cast(pl.String).alias("date"),
        "response_id",
        "reason",
        pl.col("priority").round(3),
        pl.col("p_policy_failure").round(3).alias("p"),
        pl.col("audit_label").alias(label_heading(chosen)),
        "queue",
        pl.when(pl.col("comment").str.len_chars() > QUEUE_COMMENT_CHARS)
        .then(pl.col("comment").str.slice(0, QUEUE_COMMENT_CHARS - 3) + "...")
        .otherwise(pl.col("comment"))
        .alias("comment"),
    )
    print(table(preview.to_dicts()))
    print(
        "as a worksheet to fill in: add --output worksheet.csv; audits are read from files "
        f"saved {save_to}"
    )
    return 0


def cmd_dictionary(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens dictionary [--write | --check]``: print the data dictionary rendered
    from the contracts (``transforms/schemas.py``), write it to ``docs/data_dictionary.md``,
    or check that file and every partition of the data directory against the contracts.

    Returns 0, or 1 when ``--check`` finds a difference (each printed with what to run).
    Raises ValueError (exit status 2) for ``--check`` of a local data directory that does
    not exist: a CI check with a mistyped path passed, "matches ... every partition under
    /tmp/nonexist" (a BI developer's trial)."""
    from servicelens.reporting.dictionary import (
        DICTIONARY_PATH,
        contract_mismatches,
        render_data_dictionary,
    )

    if args.check:
        refuse_a_missing_data_dir(settings)
    text = render_data_dictionary()
    if args.write:
        DICTIONARY_PATH.write_text(text)
        print(f"wrote {DICTIONARY_PATH}")
        return 0
    if not args.check:
        print(text, end="")
        return 0
    problems = []
    if not DICTIONARY_PATH.exists() or DICTIONARY_PATH.read_text() != text:
        problems.append(
            f"{DICTIONARY_PATH} differs from transforms/schemas.py: run "
            "`servicelens dictionary --write` and commit it"
        )
    problems += contract_mismatches(settings.root)
    if args.json:
        print_json({"ok": not problems, "problems": problems})
    elif problems:
        print("\n".join(problems))
    else:
        print(f"data dictionary matches the contracts and every partition under {settings.root}")
    return 1 if problems else 0
