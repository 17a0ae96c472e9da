"""The report's calibration section says which rows it is on, and why."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from models.registry import HOLDOUT_FILE, OUT_OF_FOLD_FILE
from servicelens.reporting.report import MIN_AUDITED, _calibration, _Inputs
from servicelens.settings import Settings

VERSION = "20261207T000000000000Z-test"


def _labels(rows: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, rows)
    causes = np.where(rng.random(rows) < p, "policy_failure", "perceived")
    return list(causes), p


def _inputs(tmp_path: Path, holdout_rows: int) -> _Inputs:
    """A champion whose registry folder holds a time-split slice of ``holdout_rows`` and
    100 out-of-fold probabilities, and 40 audited negatives of its training dates."""
    settings = Settings(data_dir=str(tmp_path))
    folder = Path(str(settings.models_dir)) / VERSION
    folder.mkdir(parents=True)
    causes, p = _labels(holdout_rows, 1)
    pl.DataFrame(
        {
            "response_id": [f"H{i}" for i in range(holdout_rows)],
            "survey_date": [date(2026, 11, 1)] * holdout_rows,
            "root_cause": causes,
            "p_policy_failure": p,
        }
    ).write_parquet(folder / HOLDOUT_FILE)
    causes, p = _labels(100, 2)
    pl.DataFrame(
        {"response_id": [f"T{i}" for i in range(100)], "root_cause": causes, "p_out_of_fold": p}
    ).write_parquet(folder / OUT_OF_FOLD_FILE)
    causes, p = _labels(40, 3)
    audited = pl.DataFrame(
        {
            "survey_date": [date(2026, 10, 12) + timedelta(days=i % 20) for i in range(40)],
            "audit_root_cause": causes,
            "p_policy_failure": p,
            "in_training_set": [True] * 40,
        }
    )
    return _Inputs(
        settings=settings,
        manifests=pl.DataFrame(),
        scored=None,
        summary=None,
        quarantine=None,
        champion=VERSION,
        metrics=None,
        metadata=None,
        audited=audited,
    )


def test_calibration_on_out_of_fold_rows_says_the_time_split_was_too_small(
    tmp_path: Path,
) -> None:
    """Found by a French insurer's trial: the BPO model's calibration was on 100
    out-of-fold rows while its holdout table showed ECE 0.307 on 22 time-split rows, and
    the Qualtrics model's on its 42-row time split, without a word of why."""
    html = _calibration(_inputs(tmp_path, 22))
    assert "100 labelled negatives the champion was trained on" in html
    assert (
        "Not the time-split test slice, which comes first: it has 22 labelled negatives "
        "(ECE " in html
    )
    assert f"fewer than the {MIN_AUDITED} a calibration chart needs here" in html


def test_calibration_on_the_time_split_names_it(tmp_path: Path) -> None:
    html = _calibration(_inputs(tmp_path, 42))
    assert "42 labelled negatives of the champion&#x27;s time-split test slice" in html
    assert "Not the time-split test slice" not in html
