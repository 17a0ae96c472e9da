"""``servicelens erase``: a data subject's rows erased on request (GDPR Art. 17).

The command line only: the work is :mod:`servicelens.erasure`. ``--dry-run`` lists every
partition holding the rows and changes nothing; otherwise the command asks on a terminal, or
needs ``--yes``. An id found nowhere is said so, exit 0, and nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from servicelens.cli.console import print_json, table
from servicelens.settings import Settings

#: The exit status when rows are still there after erasing (a run published them meanwhile).
EXIT_ROWS_REMAIN = 1


def add_subject_arguments(parser: argparse.ArgumentParser) -> None:
    """The data subject's selection, as ``erase`` and ``access`` take it: ``--customer-id``
    and ``--response-id`` (each repeatable; lists, empty by default) and ``--source``."""
    parser.add_argument(
        "--customer-id",
        action="append",
        default=[],
        metavar="ID",
        help="a customer's id as the exports carry it (repeat for more)",
    )
    parser.add_argument(
        "--response-id",
        action="append",
        default=[],
        metavar="ID",
        help="a survey response's id (repeat for more)",
    )
    parser.add_argument(
        "--source", default=None, help="only this source's layers (`sample` for the sample's)"
    )


def add_erase_command(sub: Any) -> None:
    """Register ``erase`` on the main parser's subcommands."""
    erase = sub.add_parser(
        "erase",
        help="erase a customer's or a response's rows from every layer (right to erasure)",
        description=(
            "Find every row of the customers and responses named in the landed, clean, "
            "quarantine, contact and per-response mart partitions of every source (or "
            "--source's), rewrite those partitions without them (manifests reconciled: read = "
            "kept + quarantined + erased), rebuild the aggregate marts of those dates and "
            "weeks, delete the parse-cache entries of the interaction exports holding them, "
            "and keep the ids (hashed with the agent key) in the erasure list so no later "
            "run brings the rows back from the raw zone. Writes an erasure record under "
            "<data-dir>/erasure/records/. An id found nowhere: 'no rows found', exit 0, "
            "nothing written. See the README's 'Personal data' section."
        ),
    )
    add_subject_arguments(erase)
    erase.add_argument(
        "--dry-run", action="store_true", help="list where the rows are; change nothing"
    )
    erase.add_argument("--yes", action="store_true", help="erase without asking")
    erase.add_argument(
        "--delete-reports",
        action="store_true",
        help="also delete the touched dates' Data Docs and every HTML report (they may quote "
        "the rows); `servicelens report` writes the latest again",
    )
    erase.set_defaults(handler=cmd_erase)


def _where_lines(result: Any) -> list[str]:
    rows = [
        {"source": f.source, "layer": f.table, "date": str(f.day), "rows": f.rows, "file": f.file}
        for f in result.found
    ]
    return [table(rows)] if rows else []


#: What ``_not_rewritten_lines`` gives as a folder and a count rather than a line each.
GROUPED = ("HTML report",)


def _not_rewritten_lines(result: Any) -> list[str]:
    """What the erase leaves holding the subject's data, a line each, with what to do; the
    HTML reports as their folder and how many (a trial's dry run listed 60 reports a line
    each), every path kept in the erasure record and ``--json``."""
    lines = ["Not rewritten (holding the subject's data):"]
    items = result.not_rewritten
    lines += [
        f"  {i['what']}: {i['path']}\n    {i['action']}" for i in items if i["what"] not in GROUPED
    ]
    for what in GROUPED:
        if group := [i for i in items if i["what"] == what]:
            folders = sorted({str(Path(i["path"]).parent) for i in group})
            where = ", ".join(folders)
            lines.append(
                f"  {what}s: {len(group)} in {where} (each named in the erasure record and "
                f"--json)\n    {group[0]['action']}"
            )
    return lines if items else []


def _model_version_lines(result: Any) -> list[str]:
    """The model versions holding the subject's ids (``erasure.model_versions_holding``),
    each with the command that deletes it."""
    held = [i for i in result.not_rewritten if i["what"] == "model version"]
    lines = ["Model versions holding their ids (not rewritten):"]
    lines += [f"  {i['path']}\n    {i['action']}" for i in held]
    return lines if held else []


def _include_command(args: argparse.Namespace, ids: list[str], dry_run: bool) -> str:
    """The erase command, as a dry run, naming ``ids`` as customers beside what ``args``
    asked for (on a dry run) or alone (after erasing: the rest is erased), with ``--source``
    as asked. The console adds ``--data-dir`` (``suggestions_name``)."""
    import shlex

    customers = [*args.customer_id, *ids] if dry_run else ids
    words = [f"--customer-id {shlex.quote(c.strip())}" for c in customers]
    if dry_run:
        words += [f"--response-id {shlex.quote(r.strip())}" for r in args.response_id]
    if args.source:
        words.append(f"--source {shlex.quote(args.source)}")
    # A dry run, even after erasing: another id's rows are looked at before they go.
    return " ".join(["servicelens erase", *words, "--dry-run"])


def _variant_lines(result: Any, args: argparse.Namespace) -> list[str]:
    """The spellings of the customer ids asked for in another case or with whitespace around
    them, per source and layer with their rows, and the command that includes those in
    another case."""
    if not result.variants:
        return []
    lines = [
        "Ids found that differ from a customer id asked for only in case or surrounding "
        "whitespace:",
        table(variant_rows(result.variants)),
    ]
    if missed := result.not_included():
        named = ", ".join(missed)
        done = "are not erased" if not result.dry_run else "would not be erased"
        lines += [
            f"{named} {done}: another case may be another customer's id. If they are the "
            "same customer, look with this, then run it with --yes instead of --dry-run:",
            f"  {_include_command(args, missed, result.dry_run)}",
        ]
    return lines


def variant_rows(variants: Any, taken: str = "erased") -> list[dict[str, Any]]:
    """The rows of the table of other spellings (``erasure.IdVariant``): source, layer, the
    id asked for, the spelling found, its rows, and in column ``taken`` whether whitespace
    alone differs (so it is taken with the id asked for) or case (another id)."""
    return [
        {
            "source": v.source,
            "layer": v.table,
            "asked": v.asked,
            "found": v.spelled if v.spelled == v.spelled.strip() else repr(v.spelled),
            "rows": v.rows,
            taken: "yes (whitespace is no part of an id)" if v.erased else "no (another id)",
        }
        for v in variants
    ]


def _not_included_json(result: Any, args: argparse.Namespace) -> dict[str, Any]:
    missed = result.not_included()
    if not missed:
        return {}
    return {
        "not_included": {
            "customer_ids": missed,
            "command": _include_command(args, missed, result.dry_run),
        }
    }


def cmd_erase(args: argparse.Namespace, settings: Settings) -> int:
    """Erase (or with --dry-run, find) the rows of the ids asked for; see the module's
    docstring. Exit 0 done (or nothing found), 1 rows remain (erase again), 2 refused."""
    from flows.recovery import data_directory_layers
    from servicelens.erasure import ErasureRequest, delete_reports, erase, layers_of

    if not args.customer_id and not args.response_id:
        raise ValueError("erase: name whom to erase with --customer-id ID and/or --response-id ID")
    if not settings.root.exists():
        raise ValueError(f"{settings.data_dir}: no such data directory; check --data-dir")
    request = ErasureRequest(tuple(args.customer_id), tuple(args.response_id), args.source)
    layers = layers_of(data_directory_layers(settings), args.source)
    asked = ", ".join(
        [f"customer {c}" for c in request.customer_ids]
        + [f"response {r}" for r in request.response_ids]
    )
    preview = erase(settings, layers, request, dry_run=True)
    if not preview.found:
        if args.json:
            print_json(
                {
                    **preview.as_dict(),
                    "message": f"no rows found for {asked}",
                    **_not_included_json(preview, args),
                }
            )
        else:
            print(
                f"no rows found for {asked} in {settings.data_dir}: "
                "nothing erased, nothing recorded"
            )
            # Model versions trained before an earlier erasure still hold the ids.
            if models := _model_version_lines(preview):
                print("\n".join(models))
            if variants := _variant_lines(preview, args):
                print("\n".join(variants))
        return 0
    if args.dry_run:
        if args.json:
            print_json({**preview.as_dict(), **_not_included_json(preview, args)})
        else:
            total = sum(f.rows for f in preview.found)
            print(
                f"{asked}: {total} rows in {len(preview.found)} partitions "
                "(dry run, nothing changed)"
            )
            lines = _where_lines(preview) + _not_rewritten_lines(preview)
            print("\n".join(lines + _variant_lines(preview, args)))
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValueError(
                "erase: add --yes to erase without a terminal to ask on (or --dry-run to look)"
            )
        print("\n".join(_where_lines(preview) + _variant_lines(preview, args)))
        answer = input(f"Erase {asked} from these partitions for good? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing erased")
            return 0
    result = erase(
        settings,
        layers,
        request,
        dry_run=False,
        cache_storage=_cache_storage(),
        on_wait=lambda message: print(message, file=sys.stderr, flush=True),
    )
    deleted = delete_reports(result) if args.delete_reports else []
    if args.json:
        print_json(
            {**result.as_dict(), "deleted_reports": deleted, **_not_included_json(result, args)}
        )
    else:
        total = sum(f.rows for f in result.found)
        print(f"erased {asked}: {total} rows from {len(result.found)} partitions")
        print("\n".join(_where_lines(result)))
        if result.rebuilt:
            print("rebuilt from the rows left: " + ", ".join(result.rebuilt))
        if result.look_back_updated:
            print(
                "manifests told the rewritten contact facts' new checksums (their look-back "
                "reads them; data untouched): " + ", ".join(result.look_back_updated)
            )
        print(f"parse-cache entries deleted: {len(result.cache_entries_deleted)}")
        print("\n".join(_not_rewritten_lines(result)))
        for path in deleted:
            print(f"deleted {path}")
        print(f"erasure record: {result.record}")
        if variants := _variant_lines(result, args):
            print("\n".join(variants))
    if result.remaining:
        where = ", ".join(f"{f.source}/{f.table}/{f.day}" for f in result.remaining)
        print(
            f"servicelens: error: rows of {asked} are still in {where}: a run published them "
            "while erasing; run the same erase again",
            file=sys.stderr,
        )
        return EXIT_ROWS_REMAIN
    return 0


def _cache_storage() -> Any:
    """Prefect's local result storage, where the interaction parse cache keeps its entries."""
    from pathlib import Path

    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    return Path(PREFECT_LOCAL_STORAGE_PATH.value())
