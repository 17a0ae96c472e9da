"""Text from a template and column values (transforms.formatting): what pl.format gives,
without its panic on a column whose first chunk is empty (found by a user trial, where two
early QA audits crashed `train`, `report`, `review-queue` and `backfill`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from transforms.formatting import formatted_text


def _filtered_after_uneven_chunks() -> pl.DataFrame:
    """Rows 4 and 5 of a frame whose ``s`` came in two chunks and ``v`` in one, as a join
    leaves them: filtered, ``s`` keeps an empty first chunk."""
    text = pl.Series("s", ["a", "b", "c"])
    text.append(pl.Series("s", ["d", "e"]))
    frame = pl.DataFrame([pl.Series("v", [1, 2, 3, 4, 5]), text]).filter(pl.col("v") > 3)
    assert [len(chunk) for chunk in frame.get_column("s").get_chunks()] == [0, 2]
    return frame


def test_a_column_whose_first_chunk_is_empty_is_formatted() -> None:
    frame = _filtered_after_uneven_chunks()
    text = frame.select(formatted_text("<{}: {}>", "s", pl.col("v") * 10)).to_series()
    assert text.to_list() == ["<d: 40>", "<e: 50>"]


@pytest.mark.parametrize(
    ("template", "values"),
    [
        ("{}", ["i"]),
        ("x {} y {} z", ["f", "s"]),
        ("audited {}, submitted {}", [pl.col("t").dt.date(), "t"]),
        ("<{}>{}", ["b", pl.lit("!")]),
        ("no value", []),
    ],
)
def test_the_text_is_pl_formats_with_null_where_a_value_is_null(
    template: str, values: list[str | pl.Expr]
) -> None:
    frame = pl.DataFrame(
        {
            "i": [1, None, 3],
            "f": [1.5, 2.0, None],
            "s": ["a", "b", "c"],
            "t": [datetime(2026, 11, 20, 9, tzinfo=UTC), None, datetime(2026, 1, 2, tzinfo=UTC)],
            "b": [True, False, None],
            "d": [date(2026, 11, 20)] * 3,
        }
    )
    expected = frame.select(pl.format(template, *values).alias("x"))  # noqa: TID251
    assert frame.select(formatted_text(template, *values).alias("x")).equals(expected)


def test_a_template_and_its_values_that_differ_in_number_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'\{\} and \{\}' has 2 placeholder\(s\) for 1 value"):
        formatted_text("{} and {}", "s")


@pytest.mark.parametrize(
    ("template", "values"),
    [
        ("{}", ["a"]),
        ("x {}", [pl.col("t") * 2]),
        ("<{}>{}", ["a", pl.lit("!")]),
        ("{}{}", [pl.lit("q"), "a"]),
        ("{}", [pl.Series("s", ["v"])]),
        ("no value", []),
    ],
)
def test_the_text_is_named_as_pl_format_names_it(
    template: str, values: list[str | pl.Expr | pl.Series]
) -> None:
    """Found by the whole suite: the training data's fingerprint stacked its facts-only ids
    (``formatted_text("facts-only:{}", "response_id")``, unnamed) under the labelled ids, and
    train stopped with "unable to vstack, column names don't match: response_id and literal";
    pl.format named its text after the first value."""
    frame = pl.DataFrame({"a": ["x"], "t": [1]})
    expected = frame.select(pl.format(template, *values)).columns  # noqa: TID251
    assert frame.select(formatted_text(template, *values)).columns == expected
