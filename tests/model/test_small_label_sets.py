"""Training with too few audits says what it needs in the user's terms.

Found by a new user's trial on real exports: 14 labelled CFPB complaints gave scikit-learn's
"n_splits=3 cannot be greater than the number of members in each class", and a Qualtrics
export of one day "a time split needs audited responses on at least two survey dates".
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from models.select import time_ordered_folds
from transforms.labelled import time_split


def test_too_few_audits_of_a_root_cause_for_the_folds_are_counted() -> None:
    dates = np.array(["2023-08-01"] * 10, dtype="datetime64[D]")
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError) as refused:
        time_ordered_folds(dates, y, folds=3, seed=7)
    assert str(refused.value) == (
        "choosing the model compares designs in 3 folds, so it needs at least 3 audits of "
        "each root cause in the rows it learns from (the earlier survey dates; the latest are "
        "held out to test); they hold 8 perceived and 2 policy_failure. Audit more negative "
        "responses, of both kinds"
    )
    folds, description = time_ordered_folds(dates, np.array([1, 1, 1, 0, 0, 0, 0] + [0] * 3), 3, 7)
    assert len(folds) == 3 and description.startswith("3 stratified folds")


def test_audits_of_one_survey_date_say_why_two_are_needed() -> None:
    frame = pl.DataFrame({"survey_date": [date(2026, 3, 13)] * 4, "root_cause": ["perceived"] * 4})
    with pytest.raises(ValueError) as refused:
        time_split(frame)
    assert str(refused.value) == (
        "training tests each model on the latest survey dates after it learned from the "
        "earlier ones, so the audits must span at least two survey dates; all 4 are of "
        "2026-03-13. Audit responses of another date (a later delivery of the source, or an "
        "earlier one)"
    )


def test_too_few_comments_in_a_fold_are_counted() -> None:
    """Found by a QA lead's trial: 16 audits used, 7 with comments (3 and 4), and the refusal
    said only "at least two labelled rows with text of each root cause"."""
    from models.stacked import _text_folds

    with pytest.raises(ValueError) as refused:
        _text_folds(np.array([0, 0, 0, 1]), cv=3, seed=7)
    assert str(refused.value) == (
        "the model needs at least two labelled rows with a comment of each root cause in every "
        "fold it is fitted on; one holds 3 perceived and 1 policy_failure with a comment. "
        "Audit more negative responses that have comments, of both kinds"
    )
