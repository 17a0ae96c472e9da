"""``servicelens sources``: list the built-in source definitions, and preview one on a file.

``sources check DEFINITION FILE`` runs the file through the same ingest layer as the nightly
run (decoding, line numbers, mapping, PII redaction, Great Expectations, reconciliation) and
prints the first rows as mapped and every quarantined row with its reasons. It writes
nothing. Heavy libraries are imported inside the handlers, so ``--help`` stays quick.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TypeVar

from servicelens.cli.console import (
    counts_detail,
    early_warning_lines,
    partition_notes,
    print_json,
    table,
    trained_rows_line,
)
from servicelens.cli.embedded_api import start_in_background
from servicelens.ingest import definitions
from servicelens.settings import Settings
from servicelens.validation.reasons import quarantined_split

#: The value type of a mapping copied under another key (:func:`_feed_exported_as`).
_T = TypeVar("_T")

#: Canonical columns shown in the preview, when the definition fills them.
PREVIEW_COLUMNS: tuple[str, ...] = (
    "response_id",
    "submitted_at",
    "survey_date",
    "channel",
    "csat",
    "nps",
    "rating",
    "queue",
    "policy_code",
    "comment",
    "label",
    # The operation's facts and the source's own, where the definition maps them (a trial
    # could not check its value map Ja -> resolved before landing).
    "wait_seconds",
    "handle_seconds",
    "transfers",
    "sla_met",
    "resolution",
    "resolved_first_contact",
    "abandoned",
    "fees_charged",
    "attributes",
    "is_negative",
    "source_line",
)


#: ``--replace`` of ``sources add | run | demo`` (configured.replacement_refusal).
REPLACE_HELP = "replace the definition of a source of the same name whose exports are landed"


def add_sources_commands(sub: Any) -> None:
    """Register ``servicelens sources list`` and ``servicelens sources check``."""
    sources = sub.add_parser(
        "sources",
        help="list the built-in source definitions, or preview one on an export",
        description="Source definitions: list the presets, preview one on an export (writes "
        "nothing), land and run a source's deliveries through the nightly machinery.",
        epilog="examples:\n  servicelens sources list\n"
        "  servicelens sources add acme-qualtrics.toml   # then drop exports in its inbox\n"
        "  servicelens sources check qualtrics-acme.toml export.csv\n"
        "  servicelens sources check cfpb complaints.csv --rows 5 --json\n"
        "  servicelens sources run acme-qualtrics.toml export.csv --train\n"
        "  servicelens sources demo cfpb --input complaints.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = sources.add_subparsers(dest="action", required=True)
    action.add_parser(
        "list",
        help="the built-in definitions (presets), and the sources configured in the data "
        "directory with their inboxes",
    )
    add = action.add_parser(
        "add",
        help="configure a source in the data directory: the nightly run lands the files "
        "dropped in its inbox, and backfill --source runs it",
        description="Configure a source in the data directory: its definition is copied "
        "to sources/<name>/ and its inbox/<name>/ and audits/<name>/ folders are made. The "
        "nightly run (`servicelens run`) lands the files dropped in the inbox; `servicelens "
        "backfill --source NAME` runs its partitions again. A definition that changes a "
        "source whose exports are landed needs --replace. Example: servicelens sources add "
        "cfpb, or servicelens sources add acme-qualtrics.toml",
    )
    add.add_argument("definition", help="built-in definition name or a definition file")
    add.add_argument("--replace", action="store_true", help=REPLACE_HELP)
    check = action.add_parser(
        "check",
        help="preview a definition on a file; writes nothing",
        description="Preview a definition on a file: the rows as mapped, and every row that "
        "would be quarantined with its reasons. Writes nothing.",
    )
    check.add_argument("definition", help="built-in definition name or a definition file")
    check.add_argument("file", help="the export to read")
    check.add_argument("--rows", type=int, default=10, help="mapped rows to show (default 10)")
    run = action.add_parser(
        "run",
        help="land deliveries of a source and run its partitions (clean, marts, report)",
    )
    run.add_argument("definition", help="built-in definition name or a definition file")
    run.add_argument("files", nargs="+", help="delivered export files, any date range")
    run.add_argument("--train", action="store_true", help="train the source's model on its labels")
    run.add_argument("--replace", action="store_true", help=REPLACE_HELP)
    demo = action.add_parser(
        "demo",
        help="a source end to end: land, validate, train on its labels, score, report, query",
    )
    demo.add_argument("definition", help="built-in definition name (e.g. cfpb) or a file")
    demo.add_argument("--input", nargs="+", required=True, help="the export(s) to run")
    demo.add_argument("--replace", action="store_true", help=REPLACE_HELP)
    sources.set_defaults(handler=cmd_sources)


def cmd_sources(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens sources list | add | check | run | demo``."""
    from servicelens.ingest.definitions import built_in_definitions, load_definition

    if args.action == "list":
        rows = []
        for name in built_in_definitions():
            definition = load_definition(name)
            rows.append(
                {
                    "name": name,
                    "format": definition.read.format,
                    "partition": definition.partition,
                    "describes": definition.description,
                }
            )
        from servicelens.ingest.configured import left_out_note, readable_configured_sources

        # A source whose registered definition cannot be read is named with what mends it,
        # not listed: it has no partitioning to show (it failed the whole list).
        readable, unreadable = readable_configured_sources(settings)
        configured = _configured_rows(settings, [s.source for s in readable]) if readable else []
        if args.json:
            unread = [{"source": u.source, "error": u.reason} for u in unreadable]
            print_json(
                {"built_in": rows, "configured": configured, "unreadable_definitions": unread}
            )
            return 0
        print("built-in definitions:\n" + table(rows))
        print(f"\nconfigured in {settings.root}:")
        if configured or not unreadable:
            print(
                table(configured) if configured else "  none (servicelens sources add DEFINITION)"
            )
        for left_out in unreadable:
            print(f"  {left_out_note(left_out)}")
        return 0
    if args.action == "add":
        from servicelens.ingest.configured import register_source, replacement_refusal

        replacing = bool(args.replace and replacement_refusal(settings, args.definition))
        rules_before = _rules_of(settings, args.definition) if replacing else None
        read_before = _registered_definition(settings, args.definition) if replacing else None
        source = register_source(settings, args.definition, args.replace)
        added = _configured_rows(settings, [source.source])[0]
        from servicelens.ingest.configured import timezone_note

        # A source in another timezone than the business one (not an error; said before
        # the first run fixes the data directory's timezone: README, "The command line").
        added["timezone_note"] = timezone_note(settings, str(source.definition))
        from servicelens.ingest.definitions import load_definition as loaded
        from servicelens.reporting.suggested import nothing_to_read_text

        definition = loaded(str(source.definition))
        added["model_note"] = nothing_to_read_text(definition)
        # A survey with a contact-facts feed: where the feed's files go (a trial's QA lead
        # was not told of the folder `sources add` made for them).
        feed_inbox = source.for_interactions().inbox_dir if source.interaction_feed else None
        added["interactions_inbox"] = None if feed_inbox is None else str(feed_inbox)
        if args.json:
            print_json(added)
            return 0
        from servicelens.ingest.configured import DEFINITION_FILE

        # The registered copy where it lives (a trial's s3:// directory was told the local
        # folder its definition is fetched into for loading).
        registered = source.source_root / DEFINITION_FILE
        feed = (
            ""
            if feed_inbox is None
            else f", and the [interactions] feed's contact files in {feed_inbox}"
        )
        print(
            f"source {source.source} configured ({registered}); drop its exports in "
            f"{source.inbox_dir}{feed}: the nightly run (`servicelens run`, the served "
            f"schedule) lands them and runs the {source.partition}s they touch. QA puts its audits "
            f"(response_id, root_cause, audited_at, auditor) as CSV files or Excel workbooks in "
            f"{source.audits_dir}: training reads them as labels"
        )
        if replacing and rules_before == _rules_of(settings, str(source.definition)):
            # A trial declared audit_date_order and was told to run every partition again.
            print(
                "its rules for rows are unchanged (what changed, such as audit_date_order or "
                "the description, changes no landed row): nothing needs to run again"
            )
        elif replacing:
            # Found by a trial: an added attribute stayed empty in the landed partitions
            # after --replace and a backfill; landing maps an export, a run does not.
            from servicelens.ingest.landing import landed_periods

            periods = landed_periods(source)
            print(
                f"its exports landed before keep the columns they were mapped to when they "
                f"landed; the new definition's checks apply to them when their partitions run "
                f"again (`servicelens backfill --source {source.source} --start {periods[0]} "
                f"--end {periods[-1]} --rerun all`). To read and map them with it too (a new or "
                f"renamed column, attribute or label, another encoding or date format), drop "
                f"them again into {source.inbox_dir}: the "
                "next `servicelens run` lands them again"
            )
            if read_before is not None and (
                advice := added_columns_advice(
                    read_before, _registered_definition(settings, str(source.definition))
                )
            ):
                print(advice)
            from servicelens.storage.runs import cleaned_under_other_rules, other_rules_text

            # Found by a trial: negative = "csat <= 3" set after dates had run, and the
            # docs said to drop every export again; running the dates again is enough.
            if other_rules := other_rules_text(source, cleaned_under_other_rules(source)):
                print(other_rules)
        if added["timezone_note"]:
            print(f"note: {added['timezone_note']}")
        if added["model_note"]:
            print(f"note: {added['model_note']}")
        return 0
    from servicelens.ingest.configured import definition_named

    # A source configured here is named as its registered definition (found by a trial:
    # `sources run NAME` was refused right after `sources add`).
    args.definition = definition_named(settings, args.definition, "definition")
    if args.action in ("run", "demo"):
        return _run(args, settings)
    from servicelens.ingest.definitions import DefinitionError
    from servicelens.ingest.mapping import MissingColumns

    try:
        preview = check_definition(args.definition, args.file, settings, args.rows)
    except (ValueError, OSError) as error:
        # The run's advice when the file is QA's audits or another configured source's
        # export (found by trials: a Paris export checked against Dublin's definition was
        # told to change Dublin's; a QA form's export, that it lacked the call log's columns).
        if elsewhere := _belongs_elsewhere(settings, args.definition, args.file, error):
            if isinstance(error, MissingColumns):
                raise MissingColumns(elsewhere, error.missing) from error
            raise DefinitionError(elsewhere) from error
        raise
    if args.json:
        print_json(preview)
    else:
        print(_preview_text(preview))
    # A pre-check script stops a file that `run` would exit 4 on, by the same rule (a
    # retailer's trial: every row would be quarantined, exit 0, and `run` then exited 4).
    # A few quarantined rows are an ordinary export's (a preview, a test response): 0.
    from servicelens.cli.console import EXIT_KEPT_NOTHING, kept_none_of_many

    counts = preview["counts"]
    outcome = {"outcome": "completed", "result": {"surveys_read": counts["read"], **counts}}
    return EXIT_KEPT_NOTHING if kept_none_of_many(outcome) else 0


def _configured_rows(settings: Settings, names: list[str] | None = None) -> list[dict[str, Any]]:
    """The configured sources: definition, partitioning, inbox and files waiting in it."""
    from servicelens.ingest.configured import (
        configured_names,
        configured_source,
        pending_deliveries,
    )
    from servicelens.ingest.landing import landed_periods

    rows = []
    for name in names or configured_names(settings):
        source = configured_source(settings, name)
        rows.append(
            {
                "name": name,
                "partition": source.partition,
                "agent_ids": "as recorded" if source.reveal_agent_ids else "pseudonymous",
                "landed_partitions": len(landed_periods(source)),
                "inbox": str(source.inbox_dir),
                "waiting": len(pending_deliveries(source)),
                "audits": str(source.audits_dir),
            }
        )
    return rows


def run_nightly(
    day: Any, settings: Settings, show: bool = True
) -> tuple[list[dict[str, Any]], list[Any]]:
    """``servicelens run``'s part for the configured sources: land their inboxes and run the
    partitions that changed. Returns one row per partition (``source``, ``day``,
    ``outcome``, ``result``, ``error``), and the run reports this run wrote (named by its
    flow run's id: ``reporting.report.build_report``); with ``show``, prints the rows as a
    table."""
    import time

    start_in_background()
    from flows.pipeline import finished_rows, nightly_sources
    from flows.prefect_client import prompt_flow_heartbeats
    from servicelens.cli.console import files_since, progress
    from servicelens.dates import yesterday

    started = time.time()
    # How many partitions are to run is known only once the inboxes are landed: the bar
    # counts the sources' mart partitions written so far (a 500k-row export's 170 months
    # took four minutes with nothing on the terminal).
    with (
        prompt_flow_heartbeats(),
        progress(
            "sources",
            None,
            lambda: files_since(
                settings.root / "sources", "*/marts/feedback_scored/*/_manifest.json", started
            ),
            show,
            unit="partition",
        ),
    ):
        state = nightly_sources(day or yesterday(settings.timezone), settings, return_state=True)
    rows = finished_rows(state, "the sources' nightly run")
    for row in rows:
        row["source"] = row["result"].get("source")
    if show:
        print(outcomes_text(rows, settings))
    # Its own reports only: the folder's new files held a concurrent run's too (a
    # retailer's trial listed the report of the run its lock turned away).
    run_id = str(state.state_details.flow_run_id)[:8]
    return rows, sorted(settings.reports_dir.glob(f"report-*-{run_id}*.html"))


def outcomes_text(rows: list[dict[str, Any]], settings: Settings) -> str:
    """The configured sources' part of ``servicelens run``: a table with one line per
    partition run (:func:`run_nightly`'s rows), then, for each source that has no model
    yet, why its rows were not scored and the commands that change that: where training
    saved a version and kept it out, that version, training's reason and how to promote it
    (:func:`~servicelens.reporting.suggested.not_promoted_text`), as ``backfill`` says it."""
    from servicelens.ingest.configured import UNREADABLE_DEFINITION

    if not rows:
        return "configured sources: nothing landed or changed"
    unscored = {r["source"] for r in rows if _without_model(r)}
    # A source whose definition marks nothing negative has nothing a model would score:
    # found by a trial, a Google Forms source was told to train, then to audit more.
    nothing_negative = {name for name in unscored if marks_nothing_negative(settings, name)}

    def flag(row: dict[str, Any]) -> str:
        if not _without_model(row):
            return ""
        return (
            " (no negatives)" if row["source"] in nothing_negative else " (no champion model yet)"
        )

    # How many inbox files each source landed, before the partitions they touched (a bank
    # analyst's trial looked in raw/sources/ for it).
    lines = [
        f"{r['source']}: {deliveries_read(said['landed'], ' from ' + said['inbox'])}"
        for r in rows
        if (said := r["result"].get("deliveries"))
    ]
    lines += [
        table(
            [
                {
                    "source": r["source"],
                    # An inbox file that could not be landed belongs to no partition, nor
                    # does a source whose registered definition cannot be read.
                    "partition": "(inbox)"
                    if r["result"].get("inbox_file")
                    else "(definition)"
                    if r["result"].get(UNREADABLE_DEFINITION)
                    else r["day"],
                    "outcome": r["outcome"],
                    "detail": r["error"] or counts_detail(r["result"], flag(r)),
                }
                for r in rows
            ]
        )
    ]
    lines += early_warning_lines(rows)
    # What the run says of a delivery beyond its counts (flows.sources, Landing.notes).
    lines += [
        f"{r['source']}: {note}" for r in rows for note in r["result"].get("landing_notes", [])
    ]
    # A partition left failed (its last run failed, its inputs unchanged) says what to run.
    lines += [
        f"{r['source']} {r['day']}: {r['todo']}"
        for r in rows
        if r["outcome"] == "skipped" and r.get("todo")
    ]
    from servicelens.ingest.audits import unused_audits_line
    from servicelens.ingest.configured import configured_source
    from servicelens.ingest.landing import landed_periods
    from servicelens.reporting.suggested import not_promoted_text

    for name in sorted(nothing_negative):
        lines.append(f"{name}: {NOTHING_NEGATIVE}")
        if unused := unused_audits_line(configured_source(settings, name)):
            lines.append(unused)

    for name in sorted(unscored - nothing_negative):
        # The source's landed range, not placeholders (two trials copied "--start ...").
        source = configured_source(settings, name)
        periods = landed_periods(source)
        span = f"--start {periods[0]} --end {periods[-1]}" if periods else "--start ... --end ..."
        if (kept_out := not_promoted_text(source)) is not None:
            # Training saved a version and kept it out: said as backfill, the report and
            # review-queue say it (unscored_dates_note), not "train one".
            lines.append(
                f"{name}: no champion model for this source, so its negative responses are "
                f"not scored: the {kept_out}. Once a model is champion (one trained on more "
                f"audits with `servicelens train --source {name}`, or that one promoted), "
                f"score its dates again with `servicelens backfill --source {name} {span} "
                "--rerun all`"
            )
            continue
        lines.append(
            f"{name}: no model for this source yet, so its negative responses are not "
            f"scored: train one on the labels it has landed and the QA audits in "
            f"audits/{name}/ with `servicelens train --source {name}` (or on a labelled "
            "export: add --input FILE), then score its dates again "
            f"with `servicelens backfill --source {name} {span} --rerun all`"
        )
    return "\n".join(lines)


def _rules_of(settings: Settings, definition: str) -> str:
    """The fingerprint (``SourceDefinition.fingerprint``) of the registered definition of
    the source ``definition`` (a file or built-in name) names, in ``settings``' data
    directory. Raises DefinitionError when that source is not configured there."""
    from servicelens.ingest.configured import configured_source
    from servicelens.ingest.definitions import load_definition

    name = load_definition(definition).name
    return load_definition(str(configured_source(settings, name).definition)).fingerprint


def _registered_definition(settings: Settings, definition: str) -> definitions.SourceDefinition:
    """The registered definition of the source ``definition`` (a file or built-in name)
    names, in ``settings``' data directory, loaded. Raises DefinitionError when that source
    is not configured there."""
    from servicelens.ingest.configured import configured_source
    from servicelens.ingest.definitions import load_definition

    name = load_definition(definition).name
    return load_definition(str(configured_source(settings, name).definition))


def added_columns_advice(
    before: definitions.SourceDefinition, after: definitions.SourceDefinition
) -> str:
    """What ``sources add --replace`` says when definition ``after`` reads export columns
    ``before`` (the one it replaces) did not, and requires them: the exports landed before
    most likely lack them (a question added to the survey, a column renamed), so dropping
    them again is refused for each until the mapping is marked ``required = false`` (or, a
    renamed column, lists the old name as an alternative), with the line to write. Empty
    when it reads none. Found by an analyst's trial: a question added mid-quarter, the
    README's step of dropping the v1 exports again, and every night refused."""
    from servicelens.ingest.readers import column_key

    read_before = {column_key(name) for group in before.export_columns for name in group}
    optional = after.optional_groups

    def known(group: tuple[str, ...]) -> bool:
        """Read before (one of its alternatives), or marked optional."""
        return group in optional or any(column_key(name) in read_before for name in group)

    lines: list[str] = []
    for name, rule in after.columns.items():
        for group in rule.sources:
            if known(group) or name in ("response_id", "submitted_at"):
                continue
            old = before.columns.get(name)
            if old is not None and len(old.sources) == 1 and len(rule.sources) == 1:
                both = json.dumps([*old.sources[0], *group], ensure_ascii=False)
                lines.append(f"[columns] {name} = {{ column = {both} }} (renamed: both names)")
            elif line := after.optional_line(group):
                lines.append(line)
    for name, group in after.attributes.items():
        if known(group):
            continue
        if (old_group := before.attributes.get(name)) is not None:
            both = json.dumps([*old_group, *group], ensure_ascii=False)
            lines.append(f"[attributes] {name} = {both} (renamed: both names)")
        elif line := after.optional_line(group):
            lines.append(line)
    if not lines:
        return ""
    return (
        "the new definition reads column(s) the definition it replaces did not, so the "
        "exports landed before most likely lack them, and dropping one again is refused "
        "for it. Before dropping them again, write in the definition: "
        + "; ".join(lines)
        + " (required = false: an export without the column lands its rows with none, "
        "said once per delivery; `servicelens sources add FILE --replace` again after)"
    )


#: Why a source whose definition says ``negative = "none"`` gets no root causes (kept here
#: by name: the commands import it from this module).
NOTHING_NEGATIVE = definitions.NOTHING_NEGATIVE


def marks_nothing_negative(settings: Settings, name: str) -> bool:
    """Whether the configured source ``name``'s definition says ``negative = "none"``."""
    from servicelens.ingest.configured import configured_source
    from servicelens.stages import source_definition

    return source_definition(configured_source(settings, name)).negative == "none"


def _without_model(row: dict[str, Any]) -> bool:
    """Whether a run's row completed without a model to score with (a new source's)."""
    result = row.get("result") or {}
    return not row.get("error") and "model_version" in result and result["model_version"] is None


def _belongs_elsewhere(
    settings: Settings, definition_name: str, file: str, error: Exception
) -> str | None:
    """What ``servicelens run`` says of ``file`` refused by ``definition_name`` (``error``)
    when it is QA's audits or another configured source's export
    (:func:`~servicelens.ingest.configured.belongs_elsewhere`), or in another code page
    than the source's deliveries
    (:func:`~servicelens.ingest.configured.sent_in_another_code_page`), for the source the
    definition names: the configured one, else as the definition alone makes it. None
    otherwise, and when the definition itself cannot be loaded (the error is its own).

    A file of the source's contact-facts feed (:func:`~servicelens.ingest.configured.
    fits_interactions`) was checked as the feed (:func:`check_definition`), so ``error`` is
    the feed's refusal: it is looked at as the nightly run looks at one in
    ``inbox/<name>/interactions/``, with the feed's folders and definition. Found by fixDC:
    a feed file refused for its day order was told to move to that folder, where the next
    run refused it."""
    from servicelens.ingest.configured import (
        belongs_elsewhere,
        configured_names,
        configured_source,
        fits_interactions,
        sent_in_another_code_page,
    )
    from servicelens.ingest.definitions import DefinitionError, load_definition
    from servicelens.storage.fs import as_path

    try:
        definition = load_definition(definition_name)
    except DefinitionError:
        return None
    source = (
        configured_source(settings, definition.name)
        if definition.name in configured_names(settings)
        else settings.for_source(definition.name, definition_name, definition.partition)
    )
    path = as_path(file)
    if fits_interactions(definition, path):
        source, definition = source.for_interactions(), definition.interactions_definition()
    return belongs_elsewhere(source, path, error) or sent_in_another_code_page(
        source, definition, path, error
    )


def check_definition(
    definition_name: str, file: str, settings: Settings, rows: int = 10
) -> dict[str, Any]:
    """What the ingest layer makes of ``file`` under a definition: counts, the first
    ``rows`` kept rows as mapped, and every quarantined row with its reasons. Writes
    nothing. Raises the ingest layer's errors (DefinitionError, SourceError, BatchError).

    A JSON export whose list of records is empty (a paged export's last page) is whole:
    its preview counts nothing and its ``note`` says so (the nightly run takes such a page
    from the inbox in the same words); any other preview's ``note`` is None.
    ``contacts_note``: what a definition whose ``[interactions]`` feed maps no customer id
    is told (its unrated tickets are no contacts), else None. ``never_store_unmatched``:
    the never_store names the export's header lacks; of a contact-facts file, only those
    one of its columns is spelt near (``readers.closest_column``): the source's
    never_store names its survey export's columns too, which a contact file lacks."""
    import polars as pl

    from servicelens.ingest.configured import fits_interactions, timezone_note
    from servicelens.ingest.definitions import FEED_COLUMNS, load_definition
    from servicelens.ingest.landing import row_countries, short_ids_notes
    from servicelens.ingest.mapping import read_columns, unnamed_columns, unread_columns
    from servicelens.ingest.readers import closest_column, spreadsheet_column_letters
    from servicelens.reporting.suggested import nothing_to_read_text
    from servicelens.stages import BatchError, NoRecords, as_interaction_quarantine, ingest_export

    definition = load_definition(definition_name)
    # The days the rows are filed under, and the note `sources add` tells of a definition in
    # another timezone (a card issuer's trial: New York's 20:05 was dated the next day, the
    # default London's, with "naive times in America/New_York" the only word said).
    told = {
        "business_timezone": settings.timezone,
        "timezone_note": timezone_note(settings, definition_name),
        # A definition no model can read, said before any audit is asked for.
        "model_note": nothing_to_read_text(definition),
    }
    # A contact-facts file of a source that declares the feed is previewed as the nightly
    # run lands it from inbox/<name>/interactions/ (a trial's Zendesk Explore CSV was
    # refused as "not JSON", the ratings' format).
    feed = "interactions" if fits_interactions(definition, file) else "surveys"
    contacts_note = definition.unsurveyed_contacts_note
    if feed == "interactions":
        definition = definition.interactions_definition()
    try:
        ingested = ingest_export(definition, file, settings)
    except NoRecords:
        return {**_no_records_preview(definition, file, settings), **told}
    except BatchError:
        if (quiet := _quiet_day_note(definition, file, settings)) is None:
            raise
        return {**_no_records_preview(definition, file, settings, quiet), **told}
    clean, quarantine = ingested.clean, ingested.quarantine
    columns = PREVIEW_COLUMNS
    if feed == "interactions":
        quarantine = as_interaction_quarantine(quarantine)
        # Its start is the time that dates it, its interaction id its id.
        clean = clean.with_columns(pl.col("submitted_at").alias("started_at"))
        columns = ("interaction_id", "started_at", *FEED_COLUMNS, "source_line")
    shown = [
        c
        for c in dict.fromkeys(columns)
        if c in clean.columns and clean[c].null_count() < clean.height
    ]
    read = ingested.mapped.read
    return {
        "definition": str(definition.path),
        "source": definition.name,
        "feed": feed,
        "file": file,
        "unpacked_from": read.unpacked_from,
        "format": read.format,
        "encoding": read.encoding,
        "delimiter": read.delimiter,
        "header_lines": read.header_lines,
        "title": None if read.title is None else {"line": read.title[0], "text": read.title[1]},
        # A workbook's sheet: its rows' source_line is the row Excel shows on it.
        "sheet": read.sheet,
        "timezone": ingested.mapped.timezone,
        **told,
        "counts": {
            "read": ingested.counts.surveys_read,
            "kept": ingested.counts.kept,
            "quarantined": ingested.counts.quarantined,
            "negatives": ingested.counts.negatives,
            "redacted": ingested.counts.redacted,
        },
        "rows": clean.head(rows)
        .select(shown)
        .with_columns(pl.col(pl.Datetime("us", "UTC")).dt.to_string("%Y-%m-%dT%H:%M:%SZ"))
        .to_dicts(),
        # Each row's sheet beside its row (null for a CSV or JSON export): a row number alone
        # was read without the sheet it is on.
        "quarantined": quarantine.select(
            "source_line", pl.lit(read.sheet, pl.String).alias("sheet"), "record_id", "reasons"
        ).to_dicts(),
        "labels": {
            "labelled": ingested.clean.get_column("label").is_not_null().sum(),
            "unmapped": ingested.mapped.unmapped_labels,
            "not_verdicts": ingested.mapped.not_verdict_labels,
            # A misspelt [label] column labels nothing, silently (found by a trial).
            "column_missing": None
            if ingested.mapped.has_label
            else {
                "column": list(definition.label_column),
                "export_has": header_names(
                    read.header, definition.label_column, read_columns(definition, read.header)
                ),
            },
        }
        if definition.label_column
        else None,
        # A never_store entry naming no column of the export is most likely misspelt: the
        # column it meant is stored if something maps it (found by a trial: accepted).
        # never_store is the source's, for its surveys and its contact-facts feed alike: a
        # contact file is told only of an entry one of its own columns is spelt near (a
        # trial's contact export was told it lacked the survey's postcode question).
        "never_store_unmatched": [
            name
            for name in unmatched_columns(definition.never_store, read.header)
            if feed == "surveys" or closest_column(name, read.header)
        ],
        # Ids that most likely lost their leading zeros in a spreadsheet: kept, and told.
        "short_ids": short_ids_notes(ingested.mapped.frame, ingested.mapped.exported_as),
        # A per-row country: how many rows each country's phone plan read, the fallback's,
        # and the values that name no country (told by a run once per delivery).
        "row_countries": None
        if (countries := row_countries(ingested.mapped)) is None
        else {
            "summary": countries.summary(),
            "by_country": countries.by_country,
            "fallback": countries.fallback,
            "empty": countries.empty,
            "unrecognised": countries.unrecognised,
            "note": countries.unrecognised_note(definition.path),
        },
        # Columns nothing reads (a column the source added): they stay in raw/ only.
        "unread_columns": (unread := unread_columns(definition, read.header, read.frame)),
        # Of those, the ones with a blank header cell: their place (1-based), the letters a
        # spreadsheet shows over it, and a value, by which the note names them.
        "unnamed_columns": {
            name: {
                "number": place,
                "letters": spreadsheet_column_letters(place),
                "example": value,
            }
            for name, (place, value) in unnamed_columns(read.header, unread, read.frame).items()
        },
        "export_columns": named_in_reasons(
            quarantine.get_column("reasons").explode().drop_nulls().to_list(),
            {**ingested.mapped.exported_as, **_feed_exported_as(ingested.mapped.exported_as)}
            if feed == "interactions"
            else ingested.mapped.exported_as,
            {**ingested.mapped.alternatives, **_feed_exported_as(ingested.mapped.alternatives)}
            if feed == "interactions"
            else ingested.mapped.alternatives,
        ),
        "note": None,
        # A feed without customer ids leaves its unrated tickets out of the contacts.
        "contacts_note": contacts_note,
    }


def _quiet_day_note(definition: Any, file: str, settings: Settings) -> str | None:
    """For ``file``, refused by the batch check, the preview's note when it is a whole CSV of
    a header alone (:func:`~servicelens.ingest.landing.header_only_whole`), which ``run``
    lands as a delivery of 0 responses: "0 responses", and the day a run records for it
    (:func:`~servicelens.ingest.landing.quiet_day`). None for any other refusal, and for a
    header-only file still being written (too young, or cut inside its header). Raises
    the mapping's DefinitionError when its header does not fit the definition. Found by a
    trial: a quiet day's Typeform export, header only, exited 2 asking for the complete
    export."""
    from servicelens.ingest.landing import header_only_whole, quiet_day
    from servicelens.ingest.mapping import map_export, read_export

    read = read_export(definition, file)
    if read.records_read or read.format != "csv" or not header_only_whole(settings, file):
        return None
    map_export(definition, read, settings.timezone)  # its header fits, or says what to change
    said = "0 responses: a header only, whole (settled, ending with its line end)"
    day, how = quiet_day(file, None, definition.partition)
    if day is not None:
        return f"{said}; landed, it is recorded for {day.isoformat()} ({how})"
    if "no date" in how:
        return f"{said}; its name holds no date, so the nightly run records it for the run's date"
    return f"{said}; {how}"


def _no_records_preview(
    definition: Any, file: str, settings: Settings, note: str | None = None
) -> dict[str, Any]:
    """:func:`check_definition`'s preview of a JSON export holding an empty list of records:
    nothing read, kept or quarantined, and a ``note`` saying the page is whole
    (:func:`~servicelens.ingest.mapping.no_records_text`). Found by a trial: the empty last
    page of a nightly Zendesk pull exited 2 here, "the file has no records (an empty list)",
    while ``run`` took it with a CSV's words. With ``note``, the preview of a whole CSV of a
    header alone (:func:`_quiet_day_note`), saying that note instead."""
    from servicelens.ingest.mapping import no_records_text, read_export

    read = read_export(definition, file)
    return {
        "definition": str(definition.path),
        "source": definition.name,
        "file": file,
        "unpacked_from": read.unpacked_from,
        "format": read.format,
        "encoding": read.encoding,
        "delimiter": read.delimiter,
        "header_lines": read.header_lines,
        "title": None,
        "sheet": None,
        "timezone": definition.timezone or settings.timezone,
        "counts": dict.fromkeys(("read", "kept", "quarantined", "negatives", "redacted"), 0),
        "rows": [],
        "quarantined": [],
        "labels": None,
        "never_store_unmatched": [],
        "short_ids": [],
        "row_countries": None,
        "unread_columns": [],
        "unnamed_columns": {},
        "export_columns": {},
        "note": note or no_records_text(definition.read.records),
    }


def _feed_exported_as(exported_as: dict[str, _T]) -> dict[str, _T]:
    """The export headers of a contact-facts file's ``started_at``, which it is landed
    under ``submitted_at`` (``SourceDefinition.interactions_definition``)."""
    return {"started_at": exported_as["submitted_at"]} if "submitted_at" in exported_as else {}


def header_names(
    header: list[str], close_to: tuple[str, ...] = (), taken: list[str] | None = None
) -> dict[str, Any]:
    """An export's header as ``sources check --json`` gives it: how many ``columns``, the
    ``names`` a message would quote (``readers.header_quoted``, in file order: when the
    list is cut, the columns nearest ``close_to`` are kept first, a misspelling, a name
    holding it or another number of a coded name, then the columns not in ``taken`` (those
    the definition reads, never offered); each name cut) and how many ``more``.

    Found by a trial: ``export_has`` held a Typeform header whole, 1,500 characters of
    question text, and a header cell can carry values (question text piping a hidden
    field's, or a data row read as the header under a wrong ``header_lines``): the JSON
    says no more of it than the terminal does."""
    from servicelens.ingest.readers import columns_a_missing_one_may_be, header_quoted

    near: list[str] = []
    for name in close_to:
        close, alike = columns_a_missing_one_may_be(name, header, taken or ())
        near += [close] if close else alike
    if taken is not None:
        near += [name for name in header if name not in taken]
    names = header_quoted(header, near)
    return {"columns": len(header), "names": names, "more": len(set(header)) - len(names)}


def header_names_text(names: dict[str, Any]) -> str:
    """:func:`header_names` as a message quotes it: ``3 columns: 'ID', 'Score', ...``."""
    columns = names["columns"]
    more = f" ... and {names['more']} more" if names["more"] else ""
    quoted = ", ".join(repr(name) for name in names["names"])
    return f"{columns} column{'s' if columns != 1 else ''}: {quoted}{more}"


def unmatched_columns(names: tuple[str, ...], header: list[str]) -> list[str]:
    """The ``never_store`` ``names`` that match no column of ``header``, compared as the
    definition's checks compare them (case, spaces and punctuation ignored:
    ``column_key``). A built-in preset's own entries are left out: a preset lists the
    personal columns of every variant of its export (CFPB's ``ZIP code`` and
    ``zip_code``), so one export never has them all."""
    import tomllib

    from servicelens.ingest.definitions import BUILT_IN_DIR
    from servicelens.ingest.readers import column_key

    present = {column_key(h) for h in header}
    for preset in BUILT_IN_DIR.glob("*.toml"):
        listed = tomllib.loads(preset.read_text(encoding="utf-8")).get("never_store", [])
        present |= {column_key(c) for c in listed}
    return [n for n in names if column_key(n) not in present]


def named_in_reasons(
    reasons: list[str],
    exported_as: dict[str, tuple[str, ...]],
    alternatives: dict[str, tuple[tuple[str, ...], ...]] | None = None,
) -> dict[str, str]:
    """The canonical columns ``reasons`` name (``csat: (empty) missing`` names csat), each
    with the export's header(s) it was read from (``MappedExport.exported_as``, two joined
    with " + "; ``MappedExport.alternatives``, the alternatives of one read row by row,
    joined with " or "), in the order they are first named; columns the export calls by
    the same name are left out.

    Reasons name canonical columns so they read the same for every source; a person who
    set up the source knows the export's own headers ("How satisfied are you with ...")."""
    named: dict[str, str] = {}
    for reason in reasons:
        column = reason.split(": ", 1)[0]
        groups = (alternatives or {}).get(column) or tuple(
            (h,) for h in exported_as.get(column, ())
        )
        header = " + ".join(" or ".join(group) for group in groups) if groups else None
        if header is not None and header.casefold() != column.casefold():
            named.setdefault(column, header)
    return named


def _preview_text(preview: dict[str, Any]) -> str:
    from pathlib import Path

    from servicelens.ingest.landing import unread_columns_note

    counts = preview["counts"]
    facts = " as contact facts ([interactions])" if preview.get("feed") == "interactions" else ""
    lines = [
        f"{preview['file']} read{facts} with {preview['source']} ({preview['definition']})",
        ", ".join(
            [
                *([f"unpacked ({preview['unpacked_from']})"] if preview["unpacked_from"] else []),
                f"encoding {preview['encoding']}",
                # A workbook or JSON export has no delimiter to show.
                *([f"delimiter {preview['delimiter']!r}"] if preview["delimiter"] else []),
                # A workbook's header is named by its row as Excel shows it, as its other
                # rows are (a trial's read "2 header line(s)" of a title and a header row).
                # A JSON file's records name their fields: no header line (a cfpb file,
                # read as JSON or CSV by its content, says which it was).
                "JSON records"
                if preview.get("format") == "json"
                else f"{preview['header_lines']} header line(s)"
                if preview["sheet"] is None
                else f"header in sheet {preview['sheet']!r} row {preview['header_lines']}",
                f"naive times in {preview['timezone']}",
                *(
                    [f"survey dates in {business}'s days"]
                    if (business := preview.get("business_timezone"))
                    not in (None, preview["timezone"])
                    else []
                ),
            ]
        ),
        f"read {counts['read']}: kept {counts['kept']}, quarantined {counts['quarantined']} "
        "(read = kept + quarantined)" + ("" if facts else f", negatives {counts['negatives']}"),
        # A contact feed's rows are contacts, never negative responses: its "negatives 0"
        # was read as a count of something (a trial's).
    ]
    if preview.get("timezone_note"):
        lines.append(f"note: {preview['timezone_note']}")
    if preview.get("model_note"):
        lines.append(f"note: {preview['model_note']}")
    # A workbook's rows are named as Excel shows them: on its sheet, by row (a trial's
    # quarantined rows read "row 7" with the sheet said only above them).
    unit = "line" if preview["sheet"] is None else f"sheet {preview['sheet']!r} row"
    if title := preview.get("title"):
        # Said, not only done: the header is then one line further down than sent.
        where = f"{unit} {title['line']}"
        lines.insert(2, f"{where} skipped as a title above the header ({title['text'][:80]!r})")
    # --rows 0 shows none of the kept rows: no "(none kept)" beside a count of kept rows
    # (a trial read "first 0 rows as mapped: (none kept)" with 20 kept).
    if preview["rows"]:
        lines += [
            "",
            f"first {len(preview['rows'])} rows as mapped:",
            table([{k: _short(v) for k, v in row.items()} for row in preview["rows"]]),
        ]
    elif preview.get("note"):
        lines.append(f"note: {preview['note']}")
    elif not counts["kept"]:
        lines += ["", "rows as mapped: (none kept)"]
    from servicelens.cli.models import not_verdicts_text, unmapped_labels_text

    labels = preview["labels"]
    if labels is not None:
        lines += ["", f"labelled (kept rows with a label, for training): {labels['labelled']}"]
        if missing := labels["column_missing"]:
            lines.append(
                f"  the label column {missing['column']} of the definition's [label] is not in "
                "this export, so no row is labelled; the export's header has "
                f"{header_names_text(missing['export_has'])}"
            )
        if labels["unmapped"]:
            lines.append(unmapped_labels_text(labels["unmapped"]))
        if labels.get("not_verdicts"):
            lines.append(not_verdicts_text(labels["not_verdicts"]))
    if unmatched := preview["never_store_unmatched"]:
        file_is = (
            "contact file of the [interactions] feed"
            if preview.get("feed") == "interactions"
            else "export"
        )
        lines += [
            "",
            f"never_store names {len(unmatched)} column(s) this {file_is} does not have: "
            f"{', '.join(repr(n) for n in unmatched)}. Check the spelling against the "
            "export's header: a personal column that is misspelt there is not kept out of "
            "the clean layer if the definition maps it",
        ]
    for note in preview["short_ids"]:
        lines += ["", f"{Path(preview['file']).name}: {note}"]
    if countries := preview.get("row_countries"):
        lines += ["", countries["summary"]]
        if countries["note"]:
            lines.append(f"{Path(preview['file']).name}: {countries['note']}")
    if contacts_note := preview.get("contacts_note"):
        lines += ["", contacts_note]
    if unread := preview["unread_columns"]:
        unnamed = {
            name: (column["number"], column["example"])
            for name, column in preview.get("unnamed_columns", {}).items()
        }
        lines += ["", f"{Path(preview['file']).name}: {unread_columns_note(unread, unnamed)}"]
    if preview["quarantined"]:
        quarantined = preview["quarantined"]
        plural = "" if len(quarantined) == 1 else "s"
        lines += ["", f"would be quarantined: {len(quarantined):,} row{plural}"]
        if len(quarantined) > QUARANTINE_PREVIEW:
            lines += ["by kind of reason (a row may have several):", _kinds_text(quarantined)]
            lines.append(f"the first {QUARANTINE_PREVIEW} (--json lists every row):")
        for row in quarantined[:QUARANTINE_PREVIEW]:
            # A record that could not be split into fields has no id to show (not "no id").
            label = f" ({row['record_id']})" if row["record_id"] else ""
            lines.append(f"  {unit} {row['source_line']}{label}: " + "; ".join(row["reasons"]))
        if preview["export_columns"]:
            lines += ["", "the columns these reasons name, as the export names them:"]
            lines += [f"  {c}: {h!r}" for c, h in preview["export_columns"].items()]
    lines += ["", "nothing was written"]
    return "\n".join(lines)


#: Quarantined rows ``sources check`` lists one by one; more are counted by kind of reason.
QUARANTINE_PREVIEW = 20


def _kinds_text(quarantined: list[dict[str, Any]]) -> str:
    """The quarantined rows (``source_line``, ``reasons``) counted by kind of reason and
    column (``servicelens.validation.reasons``), most rows first."""
    import polars as pl

    from servicelens.validation.reasons import reasons_by_kind

    frame = pl.DataFrame(
        {
            "source": [""] * len(quarantined),
            "feed": ["surveys"] * len(quarantined),
            "reasons": [row["reasons"] for row in quarantined],
        },
        schema={"source": pl.String, "feed": pl.String, "reasons": pl.List(pl.String)},
    )
    kinds = reasons_by_kind(frame).select("rows", "column", "kind")
    return table(
        [
            {"rows": f"{r['rows']:,}", "column": r["column"] or "", "kind": r["kind"]}
            for r in kinds.to_dicts()
        ]
    )


def _short(value: object, width: int = 40) -> object:
    if not isinstance(value, str) or len(value) <= width:
        return value
    return value[: width - 1] + "…"


def run_source_demo(
    definition: str,
    files: list[str] | None,
    settings: Settings,
    as_json: bool,
    replace: bool = False,
) -> int:
    """``servicelens demo --source NAME --input FILE [--replace]``: the same as ``sources
    demo``."""
    if not files:
        raise ValueError(f"--source {definition} needs --input: the export(s) to run")
    args = argparse.Namespace(
        action="demo", definition=definition, input=files, json=as_json, replace=replace
    )
    return _run(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """``sources run`` / ``sources demo``: the land-and-run flow, then a summary. Returns 0,
    or 4 (``console.EXIT_KEPT_NOTHING``) when a partition it ran read 10 or more rows and
    kept none (:func:`servicelens.cli.console.kept_none_of_many`), as ``run`` does."""
    import time

    from flows.prefect_client import prompt_flow_heartbeats
    from flows.sources import land_and_run
    from servicelens.ingest.configured import replacement_refusal
    from servicelens.storage.fs import as_path

    demo = args.action == "demo"
    files = args.input if demo else args.files
    if missing := [f for f in files if not as_path(f).exists()]:
        # Found by a trial: a typo in a file's name gave the bare errno.
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(
            f"{missing[0]}: no such file{more}; nothing was landed. Check the path (a "
            "relative one is taken from the current folder)"
        )
    replace = bool(getattr(args, "replace", False))
    # Refused before Prefect starts, as the flow would refuse it.
    if not replace and (refusal := replacement_refusal(settings, args.definition)):
        raise ValueError(refusal)
    start_in_background()
    began = time.perf_counter()
    with prompt_flow_heartbeats():
        result = land_and_run(
            args.definition, files, settings, train=demo or args.train, replace=replace
        )
    result["seconds"] = round(time.perf_counter() - began, 1)
    if demo:
        result["queries"] = _demo_queries(settings)
    if args.json:
        print_json(result)
    else:
        print(_run_summary(result, settings))
    # As `run` and `backfill` do: a partition that read many rows and kept none is an export
    # or a definition gone wrong (trial 68 saw a delivery that kept nothing exit 0 here).
    from servicelens.cli.console import EXIT_KEPT_NOTHING, kept_none_of_many

    partitions = [{"outcome": "completed", "result": r} for r in result["ingested"]]
    return EXIT_KEPT_NOTHING if any(kept_none_of_many(r) for r in partitions) else 0


def _demo_queries(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Two questions answered with DuckDB over the views, sources side by side."""
    from servicelens.reporting.analyst import connect_views

    con = connect_views(settings.root, settings.timezone)
    questions = {
        "by_source_and_root_cause": "SELECT source, root_cause, count(*) AS responses "
        "FROM feedback_scored GROUP BY ALL ORDER BY ALL",
        # The five queues with the most negatives of each source: a trial's CFPB demo
        # beside the sample's 28 days showed the sample's five only.
        # The share the probabilities estimate beside the share of decisions: a data
        # scientist's trial read CFPB's mortgage at 0.015 counted, 0.053 true, 0.067 expected
        # (transforms.marts.daily_summary).
        "failures_by_product": "SELECT source, queue, negatives, policy_failure_share, "
        "expected_policy_failure_share FROM ("
        "SELECT source, queue, count(*) AS negatives, "
        "round(avg(CASE WHEN root_cause = 'policy_failure' THEN 1.0 ELSE 0 END), 3) "
        "AS policy_failure_share, round(avg(p_policy_failure), 3) AS "
        "expected_policy_failure_share, row_number() OVER (PARTITION BY source ORDER BY count(*) "
        "DESC, queue) AS rank FROM scored_negatives GROUP BY source, queue) "
        "WHERE rank <= 5 ORDER BY source, negatives DESC, queue",
    }
    answers = {}
    for name, sql in questions.items():
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        answers[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return answers


#: Partition notes a source's run summary shows (:func:`_run_summary`); the rest are counted.
NOTES_SHOWN = 10


def deliveries_read(landed: list[dict[str, Any]], where: str = "") -> str:
    """How many deliveries a run landed, and how many of them were landed before (the same
    bytes): "1 delivery read (0 already landed before)", ``where`` after "read" ("10
    deliveries read from /data/inbox/bank (0 already landed before)"), and how many of
    their rows were repeats of rows landed before, unchanged (a cumulative export's: "(0
    already landed before; 199 of their rows repeat rows landed before, unchanged ...)").
    ``landed``: one dict a delivery, with its landing's ``already_landed`` and
    ``unchanged_copies`` (rows by period; absent: none). The words of a source's run
    summary (``sources run|demo``) and of ``servicelens run``'s line a source."""
    already = sum(1 for d in landed if d["already_landed"])
    # A cumulative export's rows repeated unchanged are counted, not stored again: said, so
    # that a delivery's rows add up (the run table's partitions hold only the rows landed).
    unchanged = sum(sum((d.get("unchanged_copies") or {}).values()) for d in landed)
    copies = (
        f"; {unchanged} of their rows repeat rows landed before, unchanged: counted in the "
        "landed manifests, not stored again"
        if unchanged
        else ""
    )
    return (
        f"{len(landed)} deliver{'y' if len(landed) == 1 else 'ies'} read{where} "
        f"({already} already landed before{copies})"
    )


def _run_summary(result: dict[str, Any], settings: Settings) -> str:
    ingested = result["ingested"]
    read = sum(r["surveys_read"] for r in ingested)
    kept = sum(r["kept"] for r in ingested)
    quarantined = sum(r["quarantined"] for r in ingested)
    # Earlier copies a later delivery replaced are quarantined too, but are not rejects: a
    # BI analyst's trial read "quarantined 26" of three deliveries with 2 rejected responses.
    copies = sum(r.get("superseded_duplicates") or 0 for r in ingested)
    set_aside = sum(r.get("set_aside") or 0 for r in ingested)
    updated = sum(r.get("updated_copies") or 0 for r in ingested)
    erased = sum(r.get("erased") or 0 for r in ingested)
    scored = sum(r.get("scored", 0) for r in result["published"])
    negatives = sum(r.get("negatives", 0) for r in ingested)
    # Said as `servicelens run` says it (a QA lead's trial read "negatives scored 0" alone).
    why = ""
    if not scored and negatives and result["published"]:
        unscored = all(r.get("model_version") is None for r in result["published"])
        why = " (no champion model yet)" if unscored else ""
    lines = [
        f"{result['source']}: {deliveries_read(result['landed'])}, "
        f"{len(ingested)} partition{'' if len(ingested) == 1 else 's'} of a "
        f"{result['granularity']} processed",
        # The partitions' rows, every delivery's landed in them: a trial read the counts of
        # a 12-row delivery's partitions (24 rows) as the delivery's own.
        f"rows of those partitions (every delivery landed in them) read {read}, kept {kept}, "
        f"quarantined {quarantined} ({quarantined_split(quarantined, copies, set_aside, updated)}; "
        + (
            f"read = kept + quarantined: {read == kept + quarantined}); "
            if not erased
            else f"erased on request {erased}; read = kept + quarantined + erased: "
            f"{read == kept + quarantined + erased}); "
        )
        + f"negatives scored {scored}{why}",
    ]
    if line := trained_rows_line(result["published"]):
        lines.append(line)
    lines += [f"{d['file']}: {note}" for d in result["landed"] for note in d.get("notes", [])]
    # What the partitions' table would say beyond counts (found by a trial: a day-first
    # export read month-first was summed up as kept 4, quarantined 4, and nothing else).
    noted = [(r["day"], n) for r in ingested for n in partition_notes(r)]
    lines += [f"{day}: {note}" for day, note in noted[:NOTES_SHOWN]]
    if len(noted) > NOTES_SHOWN:
        lines.append(f"... and {len(noted) - NOTES_SHOWN} more such notes, in the run's report")
    trained = result.get("trained")
    if trained:
        metrics = trained["metrics"]
        cv = metrics["cross_validation"]
        from servicelens.cli.models import folds_text

        lines.append(
            f"model {trained['version']}: {trained['decision']}; {folds_text(cv)} ROC-AUC "
            f"{cv['roc_auc']:.3f}, time-split ROC-AUC {metrics['model']['roc_auc']:.3f} "
            f"({metrics['split']['test_rows']} test rows)"
        )
        if trained.get("promoted"):
            from servicelens.cli.models import rescore_hint
            from servicelens.ingest.configured import configured_source

            source = configured_source(settings, result["source"])
            if hint := rescore_hint(source, source.models_dir, source.source):
                lines.append(hint)
    if result.get("untrained"):
        lines.append(f"no model trained: {result['untrained']}")
    if marks_nothing_negative(settings, result["source"]):
        from servicelens.ingest.audits import unused_audits_line
        from servicelens.ingest.configured import configured_source

        if unused := unused_audits_line(configured_source(settings, result["source"])):
            lines.append(unused)
    for name, rows in (result.get("queries") or {}).items():
        lines += ["", f"DuckDB: {name}", table(rows)]
    lines += [
        "",
        f"layers: {settings.root / 'sources' / result['source']} (landed, clean, quarantine, "
        "marts, runs)",
        f"report: {result['report']}",
        f"took {result['seconds']} s",
    ]
    return "\n".join(lines)
