"""Every command's --help lists the exit statuses it ends with, and agrees with the
README's "Exit status" table and with the code's constants.

Found by a new analyst's trial: a backfill exited 4, and `backfill --help` listed 0, 1 and
3 only.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from servicelens.cli.console import EXIT_KEPT_NOTHING
from servicelens.cli.main import _subcommands, build_parser
from servicelens.cli.schedule import EXIT_INCOMPLETE, EXIT_SKIPPED_FAILED

README = Path(__file__).resolve().parents[2] / "README.md"


def _helps() -> dict[str, str]:
    """Each command that runs (not a group such as ``sources``), by its whole name, with
    its --help."""
    return {
        name: command.format_help()
        for name, command in _subcommands(build_parser())
        if not any(isinstance(a, argparse._SubParsersAction) for a in command._actions)
    }


def _listed(help_text: str) -> set[str]:
    """The statuses the ``exit status:`` block of a --help lists."""
    block = help_text.split("\nexit status:\n", 1)[1]
    return {m.group(1) for m in re.finditer(r"^  (\d+(?:, \d+)?) ", block, re.MULTILINE)}


def _readme_rows() -> dict[str, str]:
    """The README's exit table: status -> meaning."""
    text = README.read_text()
    rows = re.findall(r"^\| ([\d, ]+) \| (.+) \|$", text.split("**Exit status**", 1)[1], re.M)
    return dict(rows)


@pytest.mark.parametrize("name", sorted(_helps()))
def test_every_command_lists_the_statuses_any_command_ends_with(name: str) -> None:
    interrupted = set() if name == "serve" else {"130, 143"}
    assert {"0", "1", "2"} | interrupted <= _listed(_helps()[name])


def test_serve_stopped_by_a_signal_is_status_0_in_its_help_and_the_readme() -> None:
    """Found by a trial: serve stopped by SIGTERM exited 0 while the README's table gave
    130, 143 to every command interrupted. A stop is serve's normal end, and systemd counts
    exit 0 as a clean stop and 143 as a failure (the unit "failed" after `systemctl stop`),
    so serve keeps 0 (tests/flows/test_schedules.py stops it both ways and expects 0) and
    its help and the README say so."""
    help_text = _helps()["serve"]
    assert "130, 143" not in _listed(help_text)
    assert "stopped by Ctrl-C or SIGTERM" in " ".join(help_text.split())
    rows = _readme_rows()
    assert "`serve` stopped by Ctrl-C or SIGTERM" in rows["0"]
    assert "any command but `serve`" in rows["130, 143"]


@pytest.mark.parametrize("status", ["3", "4"])
def test_the_commands_the_readme_names_for_a_status_list_it_and_no_others(status: str) -> None:
    helps = _helps()
    named = set(re.findall(r"`([a-z-]+(?: [a-z]+)?)", _readme_rows()[status]))
    named = {n if n in helps else n.split()[0] for n in named} & set(helps)
    listing = {name for name, text in helps.items() if status in _listed(text)}
    assert named and named == listing


def test_backfill_lists_the_statuses_its_code_returns() -> None:
    """schedule.exit_status and _dry_run return these (the trial's 4 among them)."""
    listed = _listed(_helps()["backfill"])
    assert {str(EXIT_INCOMPLETE), str(EXIT_SKIPPED_FAILED), str(EXIT_KEPT_NOTHING)} <= listed
    assert "4: a date kept none" in build_parser().format_help()


def test_the_readme_says_a_never_published_date_without_export_is_skipped() -> None:
    """The dry run exits 1 only for a date it would run whose export is gone (a date
    published before); one never published without an export is skipped, exit 0
    (storage.runs.backfill_plan)."""
    text = " ".join(README.read_text().split())
    assert "the sample's layout with no export for it" not in text
    assert "a date never published that has no export is `skip`" in text


def test_a_date_that_failed_in_run_is_status_1_in_the_readme_and_in_run_help() -> None:
    """Found by a BI developer's trial: the README's example of a failing `run` (a renamed
    csat header) said "exits 2" beside a table giving 1 to a date that failed in `run`; the
    code exited 2. A date that ran and failed is 1 everywhere; 2 is a refusal before any ran
    (tests/badinput/test_cli_messages.py runs both)."""
    assert _readme_rows()["1"].startswith(
        "`run` or `backfill`: a date or partition failed while running (recorded failed)"
    )
    assert "before or instead of running dates" in _readme_rows()["2"]
    run_help = " ".join(_helps()["run"].split())
    assert "1 the date or a source's partition failed while running, recorded failed" in run_help
    text = " ".join(README.read_text().split())
    assert "That date ran and failed, recorded so (`backfill --rerun failed` runs it again): " in (
        text
    )
    assert "`run` exits 1, as `backfill` does for the same date." in text
