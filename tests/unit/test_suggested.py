"""The commands a message suggests name the data directory the command ran on (an operator's
trial pasted `servicelens train` from a cron job's log and trained the demo's model)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from servicelens.cli.main import build_parser, main
from servicelens.reporting.suggested import COMMANDS, data_dir_argument, naming_data_dir


def test_the_commands_are_the_parsers() -> None:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(COMMANDS) == sorted(commands.choices)


def test_each_suggested_command_gets_the_data_directory() -> None:
    text = (
        "no champion model yet: Train one (`servicelens train`), then score them: "
        "servicelens backfill --start 2026-11-28 --end 2026-12-02 --rerun all\n"
        "see `servicelens runs show` and `servicelens --data-dir /x runs release`; "
        "servicelens is a pipeline; /usr/bin/servicelens run; usage: servicelens run [-h]\n"
    )
    named = naming_data_dir(text, "--data-dir /srv/sl", COMMANDS)
    assert named == (
        "no champion model yet: Train one (`servicelens --data-dir /srv/sl train`), then score "
        "them: servicelens --data-dir /srv/sl backfill --start 2026-11-28 --end 2026-12-02 "
        "--rerun all\nsee `servicelens --data-dir /srv/sl runs show` and "
        "`servicelens --data-dir /x runs release`; servicelens is a pipeline; "
        "/usr/bin/servicelens run; usage: servicelens run [-h]\n"
    )
    # A suggestion naming its own data directory later on the line keeps it.
    kept = "run `servicelens run --date 2026-11-01 --data-dir /y` now"
    assert naming_data_dir(kept, "--data-dir /srv/sl", COMMANDS) == kept


def test_serves_own_lines_keep_their_name_and_their_suggestions_get_the_data_directory() -> None:
    """Found by a test: serve's lines (``servicelens serve: started ...``, journald's view
    of a scheduled run) read ``servicelens --data-dir /srv/sl serve: started ...`` under
    ``--data-dir``, taken for a suggested ``serve`` command; a command said at a colon is
    the line's speaker, and the command a line suggests still names the data directory."""
    text = (
        "servicelens serve: started nightly-window/teal-agouti (01a2, scheduled)\n"
        "servicelens serve: ended backfill/x (01a3): stopped by serve's shutdown (it was "
        "Running); rerun with: servicelens backfill --start 2026-11-02 --end 2026-11-02\n"
    )
    assert naming_data_dir(text, "--data-dir /srv/sl", COMMANDS) == (
        "servicelens serve: started nightly-window/teal-agouti (01a2, scheduled)\n"
        "servicelens serve: ended backfill/x (01a3): stopped by serve's shutdown (it was "
        "Running); rerun with: servicelens --data-dir /srv/sl backfill --start 2026-11-02 "
        "--end 2026-11-02\n"
    )


def test_the_default_data_directory_is_not_named_and_others_are_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert data_dir_argument("./data") is None
    assert data_dir_argument(str(tmp_path / "data")) is None
    assert data_dir_argument("nightly") == f"--data-dir {tmp_path / 'nightly'}"
    assert data_dir_argument("s3://bucket/prod") == "--data-dir s3://bucket/prod"
    assert data_dir_argument("/srv/my data") == "--data-dir '/srv/my data'"
    assert data_dir_argument('/srv/a"b') is None  # would need escaping in --json output


def test_a_refusal_suggests_the_command_on_its_own_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "nightly"
    assert main(["--data-dir", str(data), "train"]) == 2
    said = capsys.readouterr().err
    assert f"servicelens --data-dir {data} backfill --start" in said, said
    assert main(["--data-dir", str(data), "--json", "train"]) == 2
    assert f"servicelens --data-dir {data} backfill --start" in capsys.readouterr().out
