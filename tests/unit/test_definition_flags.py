"""A ``[read]`` flag is TOML's true or false: anything else is refused naming the file, the
key and the value. Found by a fix helper's reading: ``decimal_comma = "auto"`` (a value the
delimiter's ``"auto"`` suggests) read as true through ``bool``, and a usual file's every
decimal number was quarantined with nothing said of the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicelens.ingest.definitions import DefinitionError, load_definition

DEFINITION = (
    'name = "acme"\n[read]\n{flag}\n[columns]\nresponse_id = "ID"\n'
    'submitted_at = {{ column = "At", format = "%Y-%m-%d %H:%M" }}\ncsat = "Score"\n'
)


@pytest.mark.parametrize("key", ["decimal_comma", "repair_mojibake", "lower_case_names"])
@pytest.mark.parametrize("value", ['"auto"', '"false"', "1"])
def test_a_flag_that_is_not_true_or_false_is_refused(tmp_path: Path, key: str, value: str) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(DEFINITION.format(flag=f"{key} = {value}"), encoding="utf-8")
    with pytest.raises(DefinitionError) as refused:
        load_definition(str(path))
    said = str(refused.value)
    assert str(path) in said
    assert f"{key} = " in said and "is not true or false" in said
    assert f"write {key} = true or {key} = false (no quotes)" in said


@pytest.mark.parametrize(("value", "read"), [("true", True), ("false", False)])
def test_true_and_false_read_as_written(tmp_path: Path, value: str, read: bool) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(DEFINITION.format(flag=f"decimal_comma = {value}"), encoding="utf-8")
    assert load_definition(str(path)).read.decimal_comma is read
