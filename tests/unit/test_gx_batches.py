"""Great Expectations batches: what GX computes beside the expectations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from servicelens.validation import expectations


def test_batches_are_not_fingerprinted_and_still_validated() -> None:
    """GX would md5 every batch under 1 GB (1.3 s at a million surveys) for a batch marker
    nothing reads; the context turns it off through GX's own threshold. A GX upgrade that
    renames the threshold shows up here, not as a silent slowdown."""
    header = ["response_id", "submitted_at"]
    frame = pd.DataFrame(np.zeros((3, 2), dtype=np.int8), columns=pd.Index(header))
    suite = expectations.survey_batch_suite(("response_id", "comment"))
    result = expectations._run("surveys_batch", suite, frame, index=False)
    assert "pandas_data_fingerprint" not in result.meta["batch_markers"]
    assert "ge_load_time" in result.meta["batch_markers"]
    # The expectations themselves still run: the required column is missing.
    assert not result.success


def test_failing_rows_values_put_back_are_what_gx_reports_itself() -> None:
    """The row suite asks GX for the failing rows' (file, line) only, and the values are put
    back from the frame for Data Docs: every key the page reads equals what GX reports when
    it reads the values itself, row by row (strings, numbers, nulls, ties in the counts)."""
    import great_expectations as gx

    expectations._context()
    lines = list(range(2, 62))
    channel = ["phone", "pigeon", None, "fax", "pigeon", "web"] * 10
    rating = [5, 0, 3, 9, 9, 1] * 10
    data = pd.DataFrame(
        {
            "source_file": ["a.csv"] * 30 + ["b.csv"] * 30,
            "source_line": lines,
            "channel": channel,
            "rating": rating,
        }
    ).set_index(["source_file", "source_line"])
    suite = gx.ExpectationSuite(name="values_put_back")
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeInSet(column="channel", value_set=["phone", "web"])
    )
    suite.add_expectation(
        gx.expectations.ExpectColumnValuesToBeBetween(column="rating", min_value=1, max_value=5)
    )
    ours = expectations._with_unexpected_values(
        expectations._run("values_put_back", suite, data, index=True), data
    )
    batch = expectations._batch_definition("values_put_back").get_batch(
        batch_parameters={"dataframe": data}
    )
    theirs = batch.validate(
        suite,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": ["source_file", "source_line"],
            "return_unexpected_index_query": False,
        },
    )
    keys = (
        "unexpected_list",
        "unexpected_index_list",
        "partial_unexpected_list",
        "partial_unexpected_index_list",
        "partial_unexpected_counts",
        "unexpected_count",
    )
    by_column = {
        o.expectation_config.kwargs["column"]: o.result
        for o in theirs.results
        if o.expectation_config is not None
    }
    assert len(ours.results) == 2
    for outcome in ours.results:
        expected = by_column[outcome.expectation_config.kwargs["column"]]
        assert expected["unexpected_count"] > 0
        for key in keys:
            assert outcome.result[key] == expected[key], key


def test_a_required_column_missing_names_the_header_columns_like_it() -> None:
    """Found by a trial: the sample's export with `csat` renamed `CSAT score` was told the
    column was missing, with no hint, while a source definition's check offers one."""
    from transforms.schemas import RAW_SURVEY_COLUMNS

    header = [c if c != "csat" else "CSAT score" for c in RAW_SURVEY_COLUMNS]
    (failure,) = expectations.validate_survey_batch(header, 3, line=1)
    assert failure.startswith(
        "line 1 (header): required column(s) ['csat'] missing (did you mean 'CSAT score' for "
        "'csat'?). Fix the export, or map its columns with a source definition "
        f"(docs/sources.md); the header has {len(header)} columns: 'response_id', "
    )
    assert "'channel', 'CSAT score', 'nps'" in failure  # in file order
    unlike = [c for c in RAW_SURVEY_COLUMNS if c != "csat"]
    assert "did you mean" not in expectations.validate_survey_batch(unlike, 3, line=1)[0]
