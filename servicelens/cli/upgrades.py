"""``servicelens dictionary``: the data dictionary, and after an upgrade the partitions an
earlier servicelens wrote under an older contract version
(:mod:`servicelens.storage.contract_versions`).
"""

from __future__ import annotations

import argparse

from servicelens.settings import Settings
from servicelens.storage.contract_versions import (
    grown_clean_columns,
    grown_columns_lines,
    grown_partition_dirs,
    older_partitions_report,
    partition_dirs,
)


def cmd_dictionary(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens dictionary [--write | --check]``, as
    :func:`servicelens.reporting.analyst.cmd_dictionary`, except that ``--check`` names the
    partitions of older contract versions grouped by source, table and version, with the
    backfills that rewrite them (:func:`older_partitions_report`), instead of one line per
    file with a placeholder date, and the clean layers' partitions written before a column
    was added grouped likewise (:func:`grown_columns_lines`: the backfill that rewrites
    them, or why none need be run). Exit status 0, or 1 when anything differs that a
    command can rewrite or that needs a change of code or contract; ValueError
    (exit 2) for a local data directory that does not exist."""
    from servicelens.cli.console import print_json
    from servicelens.reporting.analyst import cmd_dictionary as render_or_check
    from servicelens.reporting.analyst import refuse_a_missing_data_dir
    from servicelens.reporting.dictionary import (
        DICTIONARY_PATH,
        contract_mismatches,
        render_data_dictionary,
    )

    if not args.check:
        return render_or_check(args, settings)
    refuse_a_missing_data_dir(settings)
    lines, commands, found = older_partitions_report(settings)
    # The clean layers' partitions written before a column was added: grouped as the marts'
    # are, not one line per file (a BI owner's trial read 86 of them, two suggesting a
    # backfill that skips the date it names).
    grown = grown_clean_columns(settings)
    notes = grown_columns_lines(settings, grown)
    to_rewrite = [n for n in notes if "rewrite: `" in n]
    covered = tuple(
        f"{d}/" for d in [*partition_dirs(settings, found), *grown_partition_dirs(settings, grown)]
    )
    problems = []
    if not DICTIONARY_PATH.exists() or DICTIONARY_PATH.read_text() != render_data_dictionary():
        problems.append(
            f"{DICTIONARY_PATH} differs from transforms/schemas.py: run "
            "`servicelens dictionary --write` and commit it"
        )
    problems += [
        p
        for p in contract_mismatches(settings.root)
        if not p.startswith(covered) and not any(p.startswith(f"{d[:-1]}:") for d in covered)
    ]
    if args.json:
        print_json(
            {
                "ok": not (problems or lines or to_rewrite),
                "problems": problems,
                "older_contract": lines,
                "clean_layers": notes,
                "commands": commands,
            }
        )
    elif problems or lines or notes:
        print("\n".join(problems + lines + notes))
        if commands:
            print("to rewrite every partition of an older contract version, run:")
            print("\n".join(f"  {c}" for c in commands))
    if not (args.json or problems or lines or to_rewrite):
        print(
            f"nothing to rewrite under {settings.root}: the lines above need no run"
            if notes
            else f"data dictionary matches the contracts and every partition under {settings.root}"
        )
    return 1 if problems or lines or to_rewrite else 0
