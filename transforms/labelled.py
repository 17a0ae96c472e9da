"""Audited (labelled) responses shaped for training: pure polars, frames in, frames or
numpy arrays out, so that ``models/`` is handed arrays rather than frames."""

from __future__ import annotations

import polars as pl


def time_split(frame: pl.DataFrame, test_share: float = 0.25) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train on earlier survey dates, test on the latest ``test_share`` of dates.

    ``frame`` carries ``survey_date``; ValueError when it holds fewer than two dates."""
    dates = frame.get_column("survey_date").unique().sort()
    if dates.len() < 2:
        on = f"all {frame.height} are of {dates[0]}" if dates.len() else "there are none"
        raise ValueError(
            "training tests each model on the latest survey dates after it learned from the "
            f"earlier ones, so the audits must span at least two survey dates; {on}. Audit "
            "responses of another date (a later delivery of the source, or an earlier one)"
        )
    n_test = max(1, round(dates.len() * test_share))
    cutoff = dates[dates.len() - n_test]
    return (
        frame.filter(pl.col("survey_date") < cutoff),
        frame.filter(pl.col("survey_date") >= cutoff),
    )
