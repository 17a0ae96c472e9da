"""pandas' ``Unnamed: <i>`` placeholders in a two-row header (a SurveyMonkey export saved
again by pandas, ../shared/field/03-...) are empty question cells, forward-filled like
them; in a one-row header the same text is a real column name."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicelens.ingest.definitions import load_definition
from servicelens.ingest.readers import CsvDialect, read_csv_with_lines

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
VARIANT = FIELD / "03-surveymonkey-response-subheader" / "variant-pandas-resaved.csv"
CHANNELS = (
    "Which of the following channels do you use to read our news? "
    "Please check all options that apply."
)


@pytest.mark.skipif(not VARIANT.exists(), reason=f"field sample not at {VARIANT}")
def test_03_surveymonkey_pandas_resaved_continuation_columns_carry_the_question() -> None:
    read = read_csv_with_lines(VARIANT, dialect=load_definition("surveymonkey").read.dialect)
    # Row 1 reads `...apply.,Unnamed: 5,Unnamed: 6,...`: both filled from the question.
    assert read.header[3:6] == [
        f"{CHANNELS} - Website (https://www.example.org)",
        f"{CHANNELS} - Official emails (*@example.org emails)",
        f"{CHANNELS} - Blog (https://blog.example.org)",
    ]
    assert not [name for name in read.header if name.startswith("Unnamed:")]
    # The leading pandas index column (empty in row 1) is still named by its sub-header.
    assert read.header[0] == "0"
    assert len(set(read.header)) == len(read.header)
    assert read.frame.height == 8


def test_a_column_really_named_unnamed_in_a_one_row_header_keeps_its_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.csv"
    path.write_text("id,Unnamed: 3,comment\n1,x,fine\n", encoding="utf-8")
    dialect = CsvDialect(names="joined", lower_case_names=False)
    read = read_csv_with_lines(path, dialect=dialect)
    assert read.header == ["id", "Unnamed: 3", "comment"]
    assert read.frame.get_column("Unnamed: 3").to_list() == ["x"]
