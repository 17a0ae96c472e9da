"""The generated sample's malformed survey lines keep their response id in quarantine where
it reads for certain (a trial's audit of one was called "a misspelt id")."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from servicelens.settings import Settings
from servicelens.stages import sample_day_rows
from servicelens.synthetic.generator import generate

DAY = date(2026, 12, 2)


@pytest.fixture(scope="module")
def quarantined(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str | None]:
    root = tmp_path_factory.mktemp("sample-malformed")
    generate(root, DAY, DAY, per_day=30, seed=3, mess=False)
    settings = Settings(data_dir=str(root))
    path: Path = settings.raw_day(DAY) / "surveys.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = next(csv.reader([lines[5]]))
    fields = dict(zip(header, row, strict=True))
    comment = header.index("comment")

    def line(response_id: str, values: list[str]) -> str:
        out = [response_id, *values[1:]]
        return ",".join(f'"{v}"' if "," in v or '"' in v else v for v in out)

    values = [fields[c] for c in header]
    # One field too many: an unquoted comma in the comment, after the id.
    unquoted = [*values]
    unquoted[comment] = "slow"
    text = line("R20261202-90000001", unquoted).replace(",slow,", ",slow, again,")
    # The trial's line: an extra field at the end.
    trailing = line("R20261202-90000002", values) + ",x"
    # One field too many whose first field is no id of the export's shape: none is told.
    split_id = "R2026,1202-90000003," + ",".join(line("", values).split(",")[1:])
    # A line cut short, its last field (delivered_at) missing: its fields are in place.
    short = ",".join(line("R20261202-90000004", values).split(",")[:-1])
    lines += [text, "", trailing, "", split_id, "", short]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = sample_day_rows(settings, DAY, data_docs=False)
    rejects = rows.quarantine.filter(source_file=str(path))
    return dict(zip(rejects["source_line"], rejects["record_id"], strict=True))


def test_a_line_with_a_field_too_many_keeps_its_first_field_as_its_id(
    quarantined: dict[int, str | None],
) -> None:
    ids = sorted(i for i in quarantined.values() if i)
    assert "R20261202-90000001" in ids
    assert "R20261202-90000002" in ids


def test_an_id_that_does_not_read_for_certain_is_left_null(
    quarantined: dict[int, str | None],
) -> None:
    assert not any(i and "90000003" in i for i in quarantined.values())
    assert not any(i == "R2026" for i in quarantined.values())


def test_a_line_cut_short_in_place_keeps_its_id(quarantined: dict[int, str | None]) -> None:
    assert "R20261202-90000004" in quarantined.values()
