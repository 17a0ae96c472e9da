"""Drift against the training reference: PSI judged against sampling noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.drift import (
    NOISE_QUANTILE,
    PSI_ALERT,
    ROWS_PER_BIN,
    compare_with_reference,
    judge_psi,
    psi_noise,
)

#: A training set like CFPB's: 1,500 rows over 51 companies with a long tail (the
#: reference's 50 commonest and the rest), and 4 products.
TRAINING_ROWS = 1500
COMPANIES = [f"company {i}" for i in range(120)]
PRODUCTS = ["mortgage", "credit card", "debt collection", "student loan"]


def _population() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    weights = 1 / np.arange(1, len(COMPANIES) + 1)
    return pd.DataFrame(
        {
            "company": rng.choice(COMPANIES, TRAINING_ROWS, p=weights / weights.sum()),
            "queue": rng.choice(PRODUCTS, TRAINING_ROWS, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def _reference(training: pd.DataFrame) -> dict:
    from models.drift import _top_shares

    shares = {
        column: _top_shares(
            {str(k): float(v) for k, v in training[column].value_counts(normalize=True).items()}
        )
        for column in training
    }
    return {
        "numeric": {},
        "categorical": shares,
        "text": None,
        "threshold": 0.5,
        "policy_failure_share": 0.3,
        "rows": TRAINING_ROWS,
    }


def _compare(batch: pd.DataFrame, reference: dict) -> dict:
    # The class mix as in training: only the features' PSI is under test.
    p = np.r_[np.ones(round(0.3 * len(batch))), np.zeros(len(batch) - round(0.3 * len(batch)))]
    return compare_with_reference(batch, p, reference)


def test_noise_is_the_chi_square_quantile_scaled_by_both_sample_sizes() -> None:
    from scipy.stats import chi2

    assert psi_noise(51, 200, 1500) == pytest.approx(
        (1 / 200 + 1 / 1500) * chi2.ppf(NOISE_QUANTILE, 50)
    )
    assert psi_noise(1, 200, 1500) == 0.0


@pytest.mark.parametrize("rows", [200, 600, 1000])
def test_random_samples_of_the_training_data_are_no_drift(rows: int) -> None:
    """Found by a data scientist's trial: 200 random rows of CFPB's own training export read
    "DRIFT: policy_code PSI 0.31 > 0.25; sub_product PSI 0.28; company PSI 0.31"."""
    training = _population()
    reference = _reference(training)
    for seed in range(20):
        drift = _compare(training.sample(rows, random_state=seed), reference)
        assert not drift["flagged"], (rows, seed, drift)
    bins = len(reference["categorical"]["company"])
    if rows < ROWS_PER_BIN * bins:
        # The sample cannot tell: it says so, and is not called free of drift.
        assert drift["not_judged"] == [
            f"company: too few rows ({rows:,}) for {bins} categories "
            f"(judged from {ROWS_PER_BIN * bins:,})"
        ]
    else:
        assert drift["not_judged"] == []


def test_a_shifted_sample_is_drift() -> None:
    training = _population()
    reference = _reference(training)
    shifted = training.sample(600, random_state=1)
    # Debt collection complaints about the tail's companies: both features move.
    shifted["queue"] = np.where(np.arange(600) % 2 == 0, "debt collection", shifted["queue"])
    shifted["company"] = np.where(np.arange(600) % 3 == 0, COMPANIES[40], shifted["company"])
    drift = _compare(shifted, reference)
    assert drift["flagged"]
    assert [a.split(" PSI")[0] for a in drift["alerts"]] == ["company", "queue"]
    assert all(f"> {PSI_ALERT}, beyond sampling noise" in a for a in drift["alerts"])
    # The same shift in 200 rows: the queue's 4 bins are judged, the 51 companies are not.
    small = _compare(shifted.head(200), reference)
    assert small["flagged"] and [a.split(" PSI")[0] for a in small["alerts"]] == ["queue"]
    assert small["not_judged"] and small["not_judged"][0].startswith("company: too few rows")


def test_a_psi_past_the_line_but_within_noise_is_not_drift() -> None:
    """2 bins and 20 rows: a 0.3 PSI is within what chance gives (6.6 * (1/20 + 1/20))."""
    judged = judge_psi(np.array([0.5, 0.5]), np.array([0.77, 0.23]), 20, 20)
    assert judged.judged and judged.psi > PSI_ALERT
    assert judged.noise > judged.psi and not judged.drifted
