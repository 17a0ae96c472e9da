"""``servicelens runs show`` and ``servicelens runs release``: what runs in flight hold, and
freeing what dead ones left behind, for the operator who does not want to wait.

A run killed outright (SIGKILL, OOM, a reboot) cannot say it stopped: its flow run stays
``Running`` in Prefect and its backfill slot stays taken until its lease runs out. The next
backfill releases all of it by itself when it starts; ``runs release`` does it now. Prefect is
imported inside the handlers only.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from servicelens.cli.console import print_json, table
from servicelens.cli.embedded_api import start_in_background
from servicelens.settings import Settings


def _age(stamp: str) -> str:
    seconds = (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def _records(settings: Settings) -> list[dict[str, Any]]:
    """The in-flight records of every layer of the data directory (the sample's and each
    configured source's), one row each."""
    from flows.recovery import data_directory_layers
    from servicelens.storage.claims import list_claims, liveness

    rows = []
    claims = [c for layer in data_directory_layers(settings) for c in list_claims(layer)]
    for claim in claims:
        verdict = liveness(claim)
        holds = ["date lock" if claim.kind == "date" else "run lock"]
        if claim.lease_id:
            holds.append(f"slot of {claim.limit}")
        rows.append(
            {
                "run": claim.name,
                "date": claim.day or "",
                "process": claim.owner,
                "started": claim.started_at[:19],
                "last_beat": _age(claim.beat_at),
                "holds": ", ".join(holds),
                "status": "alive" if verdict.alive else "dead",
                "why": verdict.reason,
                "note": claim.note,
                "flow_run_id": claim.flow_run_id,
                "lease_id": claim.lease_id or "",
            }
        )
    return rows


def _inbox_failures(settings: Settings) -> list[dict[str, Any]]:
    """The inbox files each configured source's last nightly run could not land and that
    still wait there (``ingest.configured.not_landed``), one row each: a scheduled run's
    failure said so only in Prefect."""
    from flows.recovery import data_directory_layers
    from servicelens.ingest.configured import not_landed

    return [
        {
            "source": layer.source,
            "file": waiting.file,
            "error": waiting.error,
            "run_id": waiting.run_id,
            "recorded_at": waiting.recorded_at[:19],
            "refused_since": waiting.refused_since[:19],
            "waiting": waiting.waiting(),
        }
        for layer in data_directory_layers(settings)
        for waiting in not_landed(layer)
    ]


def _misdated(settings: Settings) -> list[dict[str, str]]:
    """Each partition of every layer whose clean manifest flags kept rows that read either
    way round and may be misdated, one row each: the source and the report's Data quality
    words for it (:func:`servicelens.reporting.report.misdated_notes`, ``<date>: <note>``).
    Found by a trial: the report named such a row every night, ``runs show`` never."""
    from flows.recovery import data_directory_layers
    from servicelens.reporting.report import misdated_notes

    return [
        {"source": layer.source, "note": note}
        for layer in data_directory_layers(settings)
        for note in misdated_notes(layer.clean_dir)
    ]


def _unreadable_definitions(settings: Settings) -> list[dict[str, str]]:
    """The configured sources whose registered definition cannot be read, one row each: the
    source and the nightly run's words for it (the file, the error, the command that mends
    it). Said by ``runs show``, which lists their records (``data_directory_layers``) and
    raised on them; not for a source's own layer (``--source``)."""
    from servicelens.ingest.configured import readable_configured_sources

    if not settings.is_sample:
        return []
    _, unreadable = readable_configured_sources(settings)
    return [{"source": u.source, "error": u.reason} for u in unreadable]


def cmd_runs_show(args: argparse.Namespace, settings: Settings) -> int:
    """List the runs in flight (alive or dead), the backfill slots and their holders, and
    unfinished flow runs no live record accounts for. Exit 0 when nothing dead holds
    anything, 1 otherwise (``servicelens runs release`` frees it).

    Raises ValueError (exit status 2) for a local data directory that does not exist: a
    mistyped --data-dir said "nothing dead holds anything", exit 0
    (:func:`~servicelens.reporting.analyst.refuse_a_missing_data_dir`)."""
    from servicelens.reporting.analyst import refuse_a_missing_data_dir

    refuse_a_missing_data_dir(settings)
    start_in_background()
    from flows.recovery import stuck_flow_runs
    from flows.slots import slot_usage

    records = _records(settings)
    usage = slot_usage(settings)
    stuck = [
        {
            "run": s.flow_run.name,
            "state": s.flow_run.state.name if s.flow_run.state else "",
            "created": str(s.flow_run.created)[:19],
            "status": "alive" if s.verdict.alive else "dead",
            "why": s.verdict.reason,
            "flow_run_id": str(s.flow_run.id),
        }
        for s in stuck_flow_runs(settings)
    ]
    slots: dict[str, Any] = {}
    if usage is not None:
        slots = {
            "limit": usage.limit,
            "taken": usage.active,
            "holders": [h.describe() for h in usage.holders],
            "orphans": usage.orphans,
        }
    dead = [r for r in records if r["status"] == "dead"] + [
        s for s in stuck if s["status"] == "dead"
    ]
    inbox = _inbox_failures(settings)
    unreadable = _unreadable_definitions(settings)
    misdated = _misdated(settings)
    if args.json:
        print_json(
            {
                "in_flight": records,
                "slots": slots,
                "stuck": stuck,
                "inbox": inbox,
                "unreadable_definitions": unreadable,
                "misdated": misdated,
            }
        )
        return 1 if dead or slots.get("orphans") else 0
    print(f"runs in flight ({settings.runs_dir / 'in-flight'}):")
    columns = ["run", "process", "started", "last_beat", "holds", "status", "why"]
    print(table([{c: r[c] for c in columns} for r in records]) if records else "  none")
    if usage is not None:
        print(
            f"\nslots of servicelens-backfill: {usage.taken}"
            + (f", {slots['orphans']} by no lease (orphans)" if slots["orphans"] else "")
            + usage.lag
        )
        for holder in slots["holders"]:
            print(f"  {holder}")
    if stuck:
        print("\nunfinished flow runs with no live record:")
        print(table([{k: v for k, v in s.items() if k != "flow_run_id"} for s in stuck]))
    if inbox:
        # Not a dead run's: said here because nothing else in the data directory names them.
        print("\ninbox files the last nightly run could not land (they wait in the inbox):")
        for row in inbox:
            print(
                f"  {row['source']} (inbox) failed: {row['error']} (at {row['recorded_at']}; "
                f"refused for {row['waiting']})"
            )
    if unreadable:
        # Their runs' records are listed above; their nightly runs fail until this is mended.
        print("\nsources whose registered definition cannot be read (the nightly run fails them):")
        for row in unreadable:
            print(f"  {row['source']}: {row['error']}")
    if misdated:
        # Not a run's: each partition's published rows, as the report's Data quality says.
        print("\nkept rows that may be misdated (their dates' clean manifests):")
        for row in misdated:
            print(f"  {row['source']} {row['note']}")
    if dead or slots.get("orphans"):
        print("\nrun `servicelens runs release` to release what dead runs hold")
        return 1
    print("\nnothing dead holds anything")
    return 0


def cmd_runs_release(args: argparse.Namespace, settings: Settings) -> int:
    """Release what dead runs hold: mark their flow runs crashed, give back their slots
    (and expired or orphaned leases of the embedded API), delete their records. Live runs
    are left alone."""
    start_in_background()
    from flows.recovery import release_dead_runs

    # What is released is printed below, once (``released:``, and what is left to run); the
    # recovery's log lines go to the command's log file alone, as every command's do. Not
    # kept from propagating: with no handler left to reach, Python printed each of them on
    # stderr (logging.lastResort), so a trial saw every release twice.
    released = release_dead_runs(settings)
    if args.json:
        print_json({"released": released.lines, "to_do": released.to_do})
    else:
        lines = [f"released: {line}" for line in released.lines] + released.to_do
        print("\n".join(lines) or "nothing to release")
    return 0


def add_runs_commands(sub: Any) -> None:
    """Register ``runs show`` and ``runs release`` on the main parser's subcommands."""
    runs = sub.add_parser(
        "runs",
        help="show what runs in flight hold (date locks, backfill slots, flow runs), and "
        "release what dead ones left",
    )
    verbs = runs.add_subparsers(dest="runs_command", required=True)
    for name, handler, text in (
        (
            "show",
            cmd_runs_show,
            "runs in flight, alive or dead; backfill slots and their holders; flow runs "
            "left unfinished (exit 1 if a dead run holds something)",
        ),
        (
            "release",
            cmd_runs_release,
            "mark dead runs' flow runs crashed and give back their slots now, instead of "
            "waiting for the next backfill or the slot lease to run out",
        ),
    ):
        verb = verbs.add_parser(name, help=text)
        # --json is a global option: each verb gets it with the others (main._global_options).
        verb.set_defaults(handler=handler)
    runs.epilog = (
        "examples:\n  servicelens runs show\n  servicelens runs release\n"
        "  servicelens --json runs show"
    )
    runs.formatter_class = argparse.RawDescriptionHelpFormatter
