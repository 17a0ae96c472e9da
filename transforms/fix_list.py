"""The fix list: which problems cost the most, and who owns the fix (polars; scipy intervals).

A real failure is fixed by the operation (owner ``operations``), a perceived complaint by how
expectations are set (owner ``communications``). For each policy and queue and each of the
two, the estimate of what fixing it would recover compares the responses with the problem to
*comparable responses without it*: the same policy and queue in the same period, every
response except those of that root cause. If the problem responses had scored like those,

* each would have gained ``csat_comparable - csat_problem`` csat points, and all of them
  ``problem_responses`` times that (``csat_points_lost``, the ranking key);
* the period's NPS (over every response with an nps) would have risen by
  ``nps_points_lost`` points (the problem responses' promoter-minus-detractor scores
  replaced by the comparable ones').

Both come with a 95% confidence interval from Welch's t-test (``scipy.stats.ttest_ind`` with
unequal variances: the groups differ in size and spread), never a bare point. It is an
estimate of association, not a controlled experiment: fixed customers may still differ.
"""

from __future__ import annotations

import warnings
from datetime import date
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from transforms.schemas import (
    FIX_LIST_SCHEMA,
    FIX_LIST_VERSION,
    POSITIVE_CLASS,
    conform,
    group_keys,
    with_group_keys,
)

#: Who owns the fix of each root cause.
OWNERS: dict[str, str] = {POSITIVE_CLASS: "operations", "perceived": "communications"}
EXAMPLES = 3
CONFIDENCE = 0.95


def nps_score(column: str = "nps") -> pl.Expr:
    """A response's part of an NPS: +100 promoter (9-10), -100 detractor (0-6), 0 passive.

    The mean of these over responses is the NPS (share of promoters minus share of
    detractors, in points); null when the response has no nps.
    """
    nps = pl.col(column)
    return (
        pl.when(nps.is_null())
        .then(None)
        .when(nps >= 9)
        .then(100.0)
        .when(nps <= 6)
        .then(-100.0)
        .otherwise(0.0)
    )


def mean_difference(
    comparable: np.ndarray, problem: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float | None, float | None, float | None]:
    """``mean(comparable) - mean(problem)`` and its Welch confidence interval (low, high).

    None where it cannot be estimated: no values on a side (all three), fewer than two on a
    side or no spread at all (the interval).
    """
    if len(comparable) == 0 or len(problem) == 0:
        return None, None, None
    difference = float(np.mean(comparable) - np.mean(problem))
    if min(len(comparable), len(problem)) < 2:
        return difference, None, None
    if np.var(comparable, ddof=1) + np.var(problem, ddof=1) == 0:
        return difference, None, None
    with warnings.catch_warnings():
        # One side all alike (every problem response a detractor) is common and fine for
        # Welch's test; scipy warns about the moments of a constant sample all the same.
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        test = stats.ttest_ind(comparable, problem, equal_var=False)
        interval = test.confidence_interval(confidence)
    return difference, float(interval.low), float(interval.high)


def _scaled(
    estimate: tuple[float | None, float | None, float | None], factor: float
) -> tuple[float | None, float | None, float | None]:
    return tuple(None if v is None else v * factor for v in estimate)  # type: ignore[return-value]


def _examples(problem: pl.DataFrame, cause: str) -> list[str]:
    """The comments of the problem responses the model was surest about (ties by id)."""
    sure = pl.col("p_policy_failure") if cause == POSITIVE_CLASS else 1 - pl.col("p_policy_failure")
    written = problem.filter(pl.col("comment").is_not_null() & (pl.col("comment") != ""))
    return (
        written.sort(
            [pl.col("needs_review").fill_null(False), sure, pl.col("response_id")],
            descending=[False, True, False],
        )
        .head(EXAMPLES)
        .get_column("comment")
        .to_list()
    )


def fix_list(
    responses: pl.DataFrame, period: str, period_start: date, period_end: date, week: date
) -> pl.DataFrame:
    """The fix list of one period, in :data:`transforms.schemas.FIX_LIST_SCHEMA`.

    ``responses``: every valid response of the period (feedback_scored rows) with
    ``policy_code``, ``queue``, ``csat``, ``nps``, ``root_cause``, ``p_policy_failure``,
    ``needs_review``, ``comment``, ``response_id`` and ``model_version``, and any
    :data:`transforms.schemas.MART_GROUP_KEYS`. ``period`` is 'week' or 'window';
    ``week`` the Monday of the partition it is written to. Empty when no response has a root
    cause (no model yet): there is nothing to recommend.
    """
    keys = group_keys(responses.columns)
    scored = responses.filter(pl.col("root_cause").is_not_null())
    if scored.height == 0:
        return pl.DataFrame(schema=FIX_LIST_SCHEMA)
    model_version = scored.get_column("model_version").drop_nulls().sort().tail(1).to_list()
    with_scores = responses.with_columns(nps_score().alias("_nps"))
    # Responses with an nps, per source: the denominator of the period's NPS.
    respondents: dict[tuple[Any, ...], int] = {(): with_scores.get_column("_nps").count()}
    if keys:
        respondents = {
            tuple(row[:-1]): row[-1]
            for row in with_scores.group_by(keys).agg(pl.col("_nps").count()).iter_rows()
        }
    rows: list[dict[str, Any]] = []
    for group_key, group in with_scores.group_by([*keys, "policy_code", "queue"]):
        nps_total = respondents[tuple(group_key[: len(keys)])]
        causes = group.get_column("root_cause")
        for cause, owner in OWNERS.items():
            is_problem = pl.col("root_cause") == cause
            problem = group.filter(is_problem)
            if problem.height == 0:
                continue
            comparable = group.filter(is_problem.fill_null(False).not_())
            # Responses without a csat (a complaint database has none) are left out, as
            # the nps' are: a null read as NaN made every estimate NaN, not null.
            csat = mean_difference(
                comparable.get_column("csat").drop_nulls().cast(pl.Float64).to_numpy(),
                problem.get_column("csat").drop_nulls().cast(pl.Float64).to_numpy(),
            )
            problem_nps = problem.get_column("_nps").drop_nulls().to_numpy()
            nps = _scaled(
                mean_difference(comparable.get_column("_nps").drop_nulls().to_numpy(), problem_nps),
                len(problem_nps) / nps_total if nps_total else 0.0,
            )
            total = _scaled(csat, problem.height)
            rows.append(
                {
                    **dict(zip([*keys, "policy_code", "queue"], group_key, strict=True)),
                    "owner": owner,
                    "root_cause": cause,
                    "responses": group.height,
                    "negatives": int(group.get_column("is_negative").sum()),
                    "policy_failures": int((causes == POSITIVE_CLASS).sum()),
                    "perceived": int((causes == "perceived").sum()),
                    "problem_responses": problem.height,
                    "csat_problem": problem.get_column("csat").cast(pl.Float64).mean(),
                    "csat_comparable": comparable.get_column("csat").cast(pl.Float64).mean(),
                    "csat_lost_per_response": csat[0],
                    "csat_lost_per_response_low": csat[1],
                    "csat_lost_per_response_high": csat[2],
                    "csat_points_lost": total[0],
                    "csat_points_lost_low": total[1],
                    "csat_points_lost_high": total[2],
                    "nps_points_lost": nps[0],
                    "nps_points_lost_low": nps[1],
                    "nps_points_lost_high": nps[2],
                    "example_comments": _examples(problem, cause),
                }
            )
    listed = pl.DataFrame(
        rows,
        schema_overrides={
            "example_comments": pl.List(pl.String),
            **{c: pl.Float64 for c in FIX_LIST_SCHEMA if c.startswith(("csat_", "nps_"))},
        },
    )
    order = [*keys, "owner", "csat_points_lost", "problem_responses", "policy_code", "queue"]
    ranked = listed.sort(
        order, descending=[False] * (len(keys) + 1) + [True, True, False, False], nulls_last=True
    ).with_columns(pl.int_range(1, pl.len() + 1).over([*keys, "owner"]).alias("rank"))
    return conform(
        with_group_keys(
            ranked.with_columns(
                pl.lit(week).alias("survey_date"),
                pl.lit(period).alias("period"),
                pl.lit(period_start).alias("period_start"),
                pl.lit(period_end).alias("period_end"),
                pl.lit(model_version[0] if model_version else None, pl.String).alias(
                    "model_version"
                ),
                pl.lit(FIX_LIST_VERSION, pl.Int32).alias("schema_version"),
            )
        ),
        FIX_LIST_SCHEMA,
    )
