"""The interaction exports' spreadsheet-id check tests every id once as read
(``id_maybe_as_spreadsheet_wrote_it``) and the exact check only where that test says so:
the rows it moves to the rejects, and their reasons, must be those of the exact check run
on every row, whatever the ids hold."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from servicelens.ingest.readers import RawRead
from servicelens.stages import spreadsheet_id_rejects, with_spreadsheet_ids_rejected
from servicelens.validation.expectations import (
    id_as_spreadsheet_wrote_it_found,
    id_maybe_as_spreadsheet_wrote_it,
)
from transforms.clean import normalised_text

RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLUMNS = ("interaction_id", "customer_id", "agent_id")
#: Ids as spreadsheets and exports write them: scientific notation, formulas, a lone dash,
#: numbers, whitespace and control characters around or inside them, Unicode spaces.
IDS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "I20261001-1-0000001",
            "4.17E+08",
            "4,17E+08",
            " 4.17E+08",
            "\t4.17E+08",
            "\u00a04.17e+08 ",
            "=HYPERLINK(1)",
            " =1+1",
            "+1",
            "@SUM(A1)",
            "-",
            "-1042",
            "-1+1+cmd|' /C calc'!A0",
            "- 12",
            "\x00-1.2.3",
            "",
            "   ",
            "C984729469",
            "A0224",
            "\u2028=x",
            "7e+1",
        ]
    ),
    st.text(
        alphabet=st.sampled_from(list("0123456789eE+-.,=@AIC\t\r\n \u00a0\u2028\x00\x1f\x7f")),
        max_size=12,
    ),
    st.text(max_size=10),
)


def _exactly_checked(read: RawRead) -> RawRead:
    """The check as it ran before the quick test: the exact test on every row (the
    rejects worded as the reader words them)."""
    frame = read.frame
    failing = frame.select(
        pl.any_horizontal(
            id_as_spreadsheet_wrote_it_found(c, normalised_text(c)) for c in COLUMNS
        ).fill_null(False)
    ).to_series()
    rejects = spreadsheet_id_rejects(frame.filter(failing), COLUMNS)
    return replace(
        read, frame=frame.filter(~failing), rejects=sorted(rejects, key=lambda r: r.line)
    )


@RELAXED
@given(st.lists(st.tuples(IDS, IDS, IDS), min_size=1, max_size=12))
@example([("4.17E+08", "C1", "A1"), ("I1", " =1", "-"), ("I2", "C2", "7.26e+06")])
def test_the_rows_and_reasons_are_the_exact_checks_on_every_row(
    rows: list[tuple[str | None, str | None, str | None]],
) -> None:
    frame = pl.DataFrame(
        {name: [r[i] for r in rows] for i, name in enumerate(COLUMNS)},
        schema={name: pl.String for name in COLUMNS},
    ).with_columns(
        pl.lit("interactions.jsonl").alias("source_file"),
        pl.int_range(1, len(rows) + 1, dtype=pl.Int64).alias("source_line"),
    )
    read = RawRead("interactions.jsonl", "utf-8", list(COLUMNS), frame, [], 0)
    checked = with_spreadsheet_ids_rejected(read)
    expected = _exactly_checked(read)
    assert checked.frame.equals(expected.frame)
    assert checked.rejects == expected.rejects


@RELAXED
@given(IDS)
def test_every_id_the_exact_check_fails_is_caught_by_the_quick_test(value: str | None) -> None:
    frame = pl.DataFrame({c: [value] for c in COLUMNS}, schema={c: pl.String for c in COLUMNS})
    for column in COLUMNS:
        found, maybe = frame.select(
            id_as_spreadsheet_wrote_it_found(column, normalised_text(column)).fill_null(False),
            id_maybe_as_spreadsheet_wrote_it(column).fill_null(False).alias("maybe"),
        ).row(0)
        assert maybe or not found, (column, value)
