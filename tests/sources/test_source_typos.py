"""A misspelt source name is answered alike by every command: "did you mean ...?", not
advice to add a source that exists under the right name; a misspelt ``extends`` names the
definition file, the key and the closest preset.

Found by a new analyst's trial: ``train`` and ``query`` suggested the configured source, but
``backfill``, ``review-queue`` and ``report`` said "add it with `servicelens sources add`",
and ``extends = "qualtric"`` was refused naming neither the file nor the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import register_source
from servicelens.ingest.definitions import DefinitionError, load_definition
from servicelens.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "tests" / "sources" / "definitions" / "qualtrics-acme.toml"


@pytest.fixture
def data(tmp_path: Path) -> str:
    register_source(Settings(data_dir=str(tmp_path / "data")), str(ACME))
    return str(tmp_path / "data")


@pytest.mark.parametrize(
    "argv",
    [
        ["backfill", "--start", "2026-05-01", "--end", "2026-05-02", "--dry-run"],
        ["backfill", "--start", "2026-05-01", "--end", "2026-05-02"],
        ["review-queue"],
        ["report"],
        ["train"],
    ],
)
def test_every_command_suggests_the_configured_source_for_a_typo(
    data: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main([*argv, "--source", "acme-qualtric", "--data-dir", data]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].endswith("did you mean acme-qualtrics?"), err
    assert "sources add" not in err


def test_a_name_close_to_no_source_is_told_how_to_add_one(
    data: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review-queue", "--source", "zendesk-support", "--data-dir", data]) == 2
    err = capsys.readouterr().err
    assert "not configured" in err and "sources add DEFINITION" in err
    assert "did you mean" not in err


def test_a_misspelt_extends_names_the_file_the_key_and_the_preset(tmp_path: Path) -> None:
    definition = tmp_path / "definition.toml"
    definition.write_text('extends = "qualtric"\nname = "acme"\n')
    with pytest.raises(DefinitionError) as raised:
        load_definition(str(definition))
    message = str(raised.value)
    assert message.startswith(f"{definition}: extends = 'qualtric' names neither"), message
    assert message.endswith("did you mean 'qualtrics'?")


def test_an_extends_close_to_nothing_says_to_correct_the_line(tmp_path: Path) -> None:
    definition = tmp_path / "definition.toml"
    definition.write_text('extends = "zzzz"\nname = "acme"\n')
    with pytest.raises(DefinitionError, match=r"extends = 'zzzz' .*; correct the extends line$"):
        load_definition(str(definition))


def test_a_misspelt_canonical_column_is_offered_the_one_meant(tmp_path: Path) -> None:
    """Found by a new-user trial: ``coment = "Q2"`` in [columns] was refused with the 24
    canonical names to search by eye, and no "did you mean 'comment'?" before them."""
    definition = tmp_path / "typo.toml"
    definition.write_text('extends = "qualtrics"\nname = "bank"\n[columns]\ncoment = "Q2"\n')
    with pytest.raises(DefinitionError) as error:
        load_definition(str(definition))
    message = str(error.value)
    assert "['coment'] are not canonical columns (did you mean 'comment' for 'coment'?)" in message
    assert message.index("did you mean") < message.index("'response_id'")


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("comment = Q2", '; text values need double quotes: comment = "Q2"'),
        ("csat = { column = Q1 }", '; text values need double quotes: "Q1"'),
        ("comment = 2x", ""),  # not a bare word: the parser's words alone
    ],
)
def test_a_text_value_without_quotes_is_told_to_quote_it(
    tmp_path: Path, line: str, hint: str
) -> None:
    """Found by a new-user trial: ``comment = Q2`` got "Invalid value (at line 4, column
    11)", which said neither what was wrong nor how to write it."""
    definition = tmp_path / "bare.toml"
    definition.write_text(f'extends = "qualtrics"\nname = "bank"\n[columns]\n{line}\n')
    with pytest.raises(DefinitionError) as error:
        load_definition(str(definition))
    message = str(error.value)
    assert "not valid TOML: " in message and "(at line 4, column " in message
    assert message.endswith(")" + hint), message


def test_a_coded_column_that_is_not_in_the_export_names_the_ones_coded_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new-user trial: a definition reading ``Q3`` where the Qualtrics export
    has Q1 and Q2 got no suggestion, and the header it quoted was cut before them. Q1, read
    as csat, is not offered (another trial's renamed Q1 was offered the comment column)."""
    definition = tmp_path / "bank.toml"
    definition.write_text(
        'extends = "qualtrics"\nname = "bank"\n[columns]\ncsat = "Q1"\ncomment = "Q3"\n'
    )
    export = ROOT.parent / "shared" / "field" / "01-qualtrics-three-header-rows" / "sample.csv"
    assert main(["sources", "check", str(definition), str(export)]) == 2
    err = capsys.readouterr().err
    assert "reads column(s) 'Q3' (the export has 'Q2') that the export does not" in err
    header = err[err.index("The export's header has") :]
    # Q2 is quoted, though the header is cut; in file order.
    assert header.index("'StartDate'") < header.index("'Q2'") < header.index(" more"), err
