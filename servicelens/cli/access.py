"""``servicelens access``: every row about a data subject, for an access request (GDPR Art.
15).

The command line only: the work is :mod:`servicelens.access`, which finds the rows with
erase's locator (:mod:`servicelens.erasure`). Nothing in the data directory changes; the
answer is written to ``--out``.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from servicelens.cli.console import print_json, table
from servicelens.cli.erase import add_subject_arguments
from servicelens.settings import Settings


def add_access_command(sub: Any) -> None:
    """Register ``access`` on the main parser's subcommands."""
    access = sub.add_parser(
        "access",
        help="write every row about a customer or a response to a folder (right of access)",
        description=(
            "Find every row of the customers and responses named in the layers `erase` "
            "looks in (landed, clean responses, contacts, quarantine, feedback_scored, "
            "review_queue) of every source (or --source's), the QA audit rows of their "
            "responses, and the rows of the model versions' files naming them, and write "
            "them to --out as one CSV per layer (UTF-8, a header; each row starts with the "
            "source, date and file it was found in) and summary.json. Changes nothing in "
            "the data directory. See the README's 'Answering an access request'."
        ),
    )
    add_subject_arguments(access)
    access.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="a new or empty folder to write the CSVs and summary.json to",
    )
    access.set_defaults(handler=cmd_access)


def _include_command(args: argparse.Namespace, missed: list[str]) -> str:
    """This access command with ``missed`` (other spellings) named as customers too."""
    words = [f"--customer-id {shlex.quote(c.strip())}" for c in [*args.customer_id, *missed]]
    words += [f"--response-id {shlex.quote(r.strip())}" for r in args.response_id]
    if args.source:
        words.append(f"--source {shlex.quote(args.source)}")
    return " ".join(["servicelens access", *words, "--out", shlex.quote(str(args.out))])


def cmd_access(args: argparse.Namespace, settings: Settings) -> int:
    """Write the subject's rows to ``--out``; print rows per layer. Exit 0 (rows found or
    not: an answer of no rows is an answer), 2 refused (no id, no data directory, an --out
    that holds files, an unknown --source)."""
    from flows.recovery import data_directory_layers
    from servicelens.access import subject_access, write_access
    from servicelens.cli.erase import variant_rows
    from servicelens.erasure import ErasureRequest, layers_of

    if not args.customer_id and not args.response_id:
        raise ValueError("access: name whose rows with --customer-id ID and/or --response-id ID")
    if not settings.root.exists():
        raise ValueError(f"{settings.data_dir}: no such data directory; check --data-dir")
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        # Refused before reading anything (write_access refuses it too).
        raise ValueError(
            f"--out {out}: {'is a file' if not out.is_dir() else 'holds files already'}; "
            "name a new or empty folder for this request's answer"
        )
    request = ErasureRequest(tuple(args.customer_id), tuple(args.response_id), args.source)
    layers = layers_of(data_directory_layers(settings), args.source)
    result = subject_access(settings, layers, request)
    summary = write_access(result, request, out, str(settings.data_dir))
    missed = result.not_included()
    if args.json:
        extra = {
            "not_included": {"customer_ids": missed, "command": _include_command(args, missed)}
        }
        print_json({**summary, "out": str(out), **(extra if missed else {})})
        return 0
    asked = ", ".join(
        [f"customer {c}" for c in request.customer_ids]
        + [f"response {r}" for r in request.response_ids]
    )
    total = sum(summary["rows_by_layer"].values())
    print(f"{asked}: {total} rows written to {out} (nothing in {settings.data_dir} changed)")
    rows = [
        {"layer": layer, "rows": n, "file": summary["files"].get(layer, "-")}
        for layer, n in summary["rows_by_layer"].items()
    ]
    print(table(rows))
    print(f"summary: {out / 'summary.json'}")
    if result.variants:
        print(
            "Ids found that differ from a customer id asked for only in case or surrounding "
            "whitespace:"
        )
        print(table(variant_rows(result.variants, "included")))
    if missed:
        print(
            f"{', '.join(missed)}: not included, another case may be another customer's id. "
            "If they are the same customer, answer with this instead (a new --out):\n"
            f"  {_include_command(args, missed)}"
        )
    return 0
