"""Commands that change nothing make nothing, not even a log folder, in a data directory
that does not exist.

Found by a new analyst's trial: ``backfill --dry-run --data-dir nodata`` (a mistyped
directory) and ``query`` made ``nodata/logs/`` to keep the log of their refusal, though the
README says a dry run changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servicelens.cli.main import main, parse_arguments, reads_only


@pytest.mark.parametrize(
    "argv",
    [
        ["backfill", "--start", "2026-11-01", "--end", "2026-11-02", "--dry-run"],
        ["query", "policies_by_root_cause"],
        ["models", "show"],
        ["review-queue", "--source", "nowhere"],
        # It writes, but nothing there to report on: refused, and no folder made for it.
        ["report"],
        # A CI check of a mistyped path passed: "matches ... every partition under" it.
        ["dictionary", "--check"],
        ["--json", "dictionary", "--check"],
    ],
)
def test_a_read_only_command_on_a_missing_data_directory_makes_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    missing = tmp_path / "nodata"
    assert main([*argv, "--data-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("servicelens: error: ") and len(err.splitlines()) == 1, err
    assert not missing.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["backfill", "--start", "2026-11-01", "--end", "2026-11-02", "--dry-run"], True),
        (["backfill", "--start", "2026-11-01", "--end", "2026-11-02"], False),
        (["query", "--list"], True),
        (["dictionary", "--check"], True),
        (["models", "list"], True),
        (["models", "promote", "v1"], False),
        (["sources", "list"], True),
        (["sources", "add", "cfpb"], False),
        (["runs", "show"], True),
        (["runs", "release"], False),
        (["report"], False),
        (["run"], False),
        (["generate", "--start", "2026-11-01", "--end", "2026-11-02"], False),
    ],
)
def test_which_commands_read_only(argv: list[str], expected: bool) -> None:
    assert reads_only(parse_arguments(argv)) is expected


def test_dictionary_check_names_the_missing_data_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a BI developer's trial: ``dictionary --check --data-dir /tmp/nonexist`` said
    the dictionary matched every partition under it, exit 0. Refused as ``report`` refuses
    it, naming the directory and what to check; printing or writing the dictionary, which
    reads no data, still works."""
    import json

    missing = tmp_path / "nonexist"
    assert main(["--json", "dictionary", "--check", "--data-dir", str(missing)]) == 2
    said = json.loads(capsys.readouterr().out)
    assert said["error"] == (
        f"{missing} does not exist: check --data-dir or SERVICELENS_DATA_DIR; "
        f"`servicelens --data-dir {missing} demo` fills a new one with sample data"
    )
    assert main(["dictionary", "--data-dir", str(missing)]) == 0
    assert capsys.readouterr().out.startswith("# ")
    assert not missing.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["review-queue"],
        ["models", "list"],
        ["models", "show"],
        ["runs", "show"],
        ["--json", "runs", "show"],
        ["query", "policies_by_root_cause"],
    ],
)
def test_a_listing_of_a_missing_data_directory_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Found by a trial: ``review-queue``, ``models list`` and ``runs show`` of a mistyped
    --data-dir answered "nothing open", "no models", "nothing dead holds anything", exit 0,
    as of an empty, healthy directory; ``query`` said it had no partitions. Refused as
    ``report`` refuses it, in one line naming the directory, and nothing is made there."""
    import json

    missing = tmp_path / "nonexist"
    assert main([*argv, "--data-dir", str(missing)]) == 2
    said = capsys.readouterr()
    message = (
        f"{missing} does not exist: check --data-dir or SERVICELENS_DATA_DIR; "
        f"`servicelens --data-dir {missing} demo` fills a new one with sample data"
    )
    if "--json" in argv:
        assert json.loads(said.out)["error"] == message
    else:
        assert said.err == f"servicelens: error: {message}\n"
    assert not missing.exists()


def test_the_query_list_refuses_a_misspelt_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The list ends with a command to copy, with the --source given: not a misspelt one."""
    data = tmp_path / "data"
    assert main(["sources", "add", "cfpb", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    assert main(["query", "--list", "--source", "cfpb", "--data-dir", str(data)]) == 0
    assert " query --source cfpb " in capsys.readouterr().out
    assert main(["query", "--list", "--source", "cfbp", "--data-dir", str(data)]) == 2
    assert "did you mean cfpb?" in capsys.readouterr().err
