"""The row suite's column expectations run on their own column (expectations.py,
``_column_domain_engine``): the same results, failing rows and reasons as GX's stock pandas
engine, which gives every expectation the whole frame."""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from servicelens.validation import expectations
from servicelens.validation.expectations import RowRules, validate_survey_rows
from transforms.clean import AMBIGUOUS, FLAG_READ, NONEXISTENT

NOW = datetime(2026, 10, 2, 6, 0, tzinfo=UTC)
#: Every check the row suite can hold, so that each can be made to fail.
RULES = RowRules(
    check_rating=True,
    number_facts=("fees_charged", "transfers"),
    flag_facts=("sla_met",),
    double_encoded_columns=("comment", "queue"),
)
ROWS = 600


def _generated_rows(seed: int) -> pl.DataFrame:
    """``ROWS`` joined survey rows over two files, each check failing on some of them (and
    several on one row), with nulls in every checked column."""
    rng = np.random.default_rng(seed)

    def some(share: float) -> np.ndarray:
        return rng.random(ROWS) < share

    ids = np.array([f"R{i:05d}" for i in range(ROWS)], dtype=object)
    ids[some(0.03)] = None
    ids[rng.choice(ROWS, 8)] = "R00007"  # used twice or more
    ids[some(0.02)] = "=HYPERLINK(1)"
    ids[some(0.02)] = "7.26E+06"
    interaction = np.array([f"I{i:05d}" for i in range(ROWS)], dtype=object)
    interaction[some(0.03)] = None
    interaction[some(0.02)] = "@SUM(A1)"
    customer = np.array([f"C{i:05d}" for i in range(ROWS)], dtype=object)
    customer[some(0.02)] = "4,17E+08"
    agent = np.array([f"A{i % 40:03d}" for i in range(ROWS)], dtype=object)
    agent[some(0.02)] = "-1+1"
    agent[some(0.02)] = "[AGENT: scientific notation]"  # a pseudonymised agent's, so written
    submitted = np.array(
        [NOW - timedelta(hours=int(h)) for h in rng.integers(1, 48, ROWS)], dtype=object
    )
    submitted[some(0.03)] = None
    submitted[some(0.02)] = datetime(1999, 5, 1, tzinfo=UTC)
    submitted[some(0.02)] = NOW + timedelta(days=3)
    dst = np.full(ROWS, None, dtype=object)
    dst[some(0.02)] = NONEXISTENT
    dst[some(0.02)] = AMBIGUOUS
    channel = rng.choice(["phone", "chat", "email", "pigeon", None], ROWS, p=[0.3] * 3 + [0.05] * 2)

    def score(low: int, high: int) -> list[int | None]:
        values = rng.integers(low - 1, high + 2, ROWS).astype(object)
        values[some(0.03)] = None
        return values.tolist()

    def flags() -> np.ndarray:
        return rng.choice([True, False, None], ROWS, p=[0.9, 0.05, 0.05])

    comment = np.array(["Waited ages, nobody called back."] * ROWS, dtype=object)
    comment[some(0.02)] = "x" * 10_001
    comment[some(0.02)] = "GebÃ¼hr doppelt berechnet"
    comment[some(0.02)] = None
    queue = rng.choice(["billing", "GebÃ¼hren", None], ROWS, p=[0.9, 0.05, 0.05])
    fees = rng.normal(10, 20, ROWS).astype(object)
    fees[some(0.03)] = None
    transfers = score(0, 3)
    frame = pl.DataFrame(
        {
            "response_id": pl.Series(ids.tolist(), dtype=pl.String),
            "interaction_id": pl.Series(interaction.tolist(), dtype=pl.String),
            "customer_id": pl.Series(customer.tolist(), dtype=pl.String),
            "agent_id": pl.Series(agent.tolist(), dtype=pl.String),
            "submitted_at": pl.Series(submitted.tolist(), dtype=pl.Datetime("us", "UTC")),
            "submitted_at_dst": pl.Series(dst.tolist(), dtype=pl.String),
            "channel": pl.Series(channel.tolist(), dtype=pl.String),
            "csat": pl.Series(score(1, 5), dtype=pl.Int8),
            "nps": pl.Series(score(0, 10), dtype=pl.Int8),
            "effort": pl.Series(score(1, 7), dtype=pl.Int8),
            "comment": pl.Series(comment.tolist(), dtype=pl.String),
            "queue": pl.Series(queue.tolist(), dtype=pl.String),
            "rating": pl.Series(
                rng.choice(["good", "bad", "meh", None], ROWS, p=[0.45, 0.45, 0.05, 0.05]).tolist(),
                dtype=pl.String,
            ),
            "fees_charged": pl.Series(fees.tolist(), dtype=pl.Float64),
            "transfers": pl.Series(transfers, dtype=pl.Int16),
            f"sla_met{FLAG_READ}": pl.Series(flags().tolist(), dtype=pl.Boolean),
            "sla_met_raw": rng.choice(["yes", "perhaps"], ROWS).tolist(),
            "has_interaction": pl.Series(flags().tolist(), dtype=pl.Boolean),
            "accepted_on": pl.Series(
                [date(2026, 9, 28) if x else None for x in some(0.03)], dtype=pl.Date
            ),
            "source_file": ["a/surveys.csv"] * (ROWS // 2) + ["b/surveys.csv"] * (ROWS - ROWS // 2),
            "source_line": [*range(2, ROWS // 2 + 2), *range(2, ROWS - ROWS // 2 + 2)],
        }
    )
    return frame.with_columns(
        pl.col("submitted_at").dt.to_string().alias("submitted_at_raw"),
        *(pl.col(c).cast(pl.String).alias(f"{c}_raw") for c in ("channel", "csat", "nps")),
        *(pl.col(c).cast(pl.String).alias(f"{c}_raw") for c in ("effort", "fees_charged")),
        pl.col("transfers").cast(pl.String).alias("transfers_raw"),
    ).with_row_index(expectations.ROW_ID)


@functools.cache
def _whole_frame_batch_definition(name: str) -> Any:
    """A batch definition on GX's stock pandas engine: every expectation gets the whole
    frame as its domain."""
    source = expectations._context().data_sources.add_pandas(f"{name}_whole_frame_source")
    return source.add_dataframe_asset(f"{name}_frame").add_batch_definition_whole_dataframe(
        f"{name}_batch"
    )


def _validated(frame: pl.DataFrame, docs_page: Path | None) -> tuple[pl.DataFrame, Any]:
    """The reasons of :func:`validate_survey_rows` and GX's result of its one validation."""
    results = []
    run = expectations._run

    def recorded(*args: Any, **kwargs: Any) -> Any:
        results.append(run(*args, **kwargs))
        return results[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expectations, "_run", recorded)
        reasons = validate_survey_rows(frame, NOW, docs_page, RULES)
    (result,) = results
    return reasons.sort(expectations.ROW_ID, "reason"), result


@pytest.mark.parametrize("seed", [1, 2])
def test_column_domains_give_gx_results_and_reasons_of_the_whole_frame(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every expectation of the row suite fails on some rows; run on its own column, each
    gives GX's result on the whole frame (counts, percentages, failing (file, line)s and,
    as put back for Data Docs, their values), and every row the same reasons; the Data Docs
    page is still written."""
    from great_expectations.execution_engine import PandasExecutionEngine

    frame = _generated_rows(seed)
    page = tmp_path / "surveys_rows.html"
    narrowed, narrowed_result = _validated(frame, page)
    engine = expectations._batch_definition("surveys_rows").data_asset.datasource
    assert type(engine.get_execution_engine()) is expectations._column_domain_engine()
    assert page.stat().st_size > 0

    monkeypatch.setattr(expectations, "_batch_definition", _whole_frame_batch_definition)
    whole, whole_result = _validated(frame, tmp_path / "whole_frame.html")
    stock = _whole_frame_batch_definition("surveys_rows").data_asset.datasource
    assert type(stock.get_execution_engine()) is PandasExecutionEngine

    checks, _ = expectations._row_suite(
        RULES.require_interaction_id,
        RULES.require_interaction_match,
        RULES.require_csat,
        RULES.check_rating,
        RULES.number_facts,
        RULES.flag_facts,
        RULES.double_encoded_columns,
        RULES.repairs_mojibake,
        RULES.max_comment_chars,
    )
    assert len(narrowed_result.results) == len(checks)
    assert not any(o.success for o in narrowed_result.results), "each check must fail somewhere"

    def by_check(result: Any) -> str:
        """Each expectation's success and result, as JSON (a null score's NaN equals NaN)."""
        return json.dumps(
            {
                f"{o.expectation_config.type} {o.expectation_config.kwargs['column']}": [
                    o.success,
                    o.result,
                ]
                for o in result.results
            },
            sort_keys=True,
            default=str,
        )

    assert by_check(narrowed_result) == by_check(whole_result)
    assert narrowed.height > 0
    assert narrowed.equals(whole)
    # Several reasons on one row, and every row that failed a check has its reason.
    assert narrowed.group_by(expectations.ROW_ID).len().get_column("len").max() > 1  # type: ignore[operator]
