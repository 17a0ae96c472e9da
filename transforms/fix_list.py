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
unequal variances: the groups differ in size and spread). Neither is published from fewer
than :data:`MIN_RESPONSES_PER_SIDE` responses with the score on either side: the point is
null like its interval then, and ``csat_not_estimated`` / ``nps_not_estimated`` say why. A
point stands without an interval only where both sides are large enough and each gave one
score alone (no spread to build an interval from). It is an estimate of association, not a
controlled experiment: fixed customers may still differ.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
from scipy import stats

from transforms.formatting import formatted_text
from transforms.marts import model_versions_text
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
#: The fewest responses with a score (csat, or nps) each side of a comparison needs, the
#: problem responses and the comparable ones, before the fix list publishes an estimate.
#: Welch's interval is too narrow when a side has fewer than about 5 values (simulated on
#: Cross Validated, "Behaviour of Welch's t-test with unequal group sizes", question 431009:
#: against a group of 100, false positives at 7.9, 3.1, 1.9 and 1.6 times the nominal rate
#: for a second group of 2 to 5), and on scores as coarse as csat (1-5) or a response's NPS
#: part (-100, 0, 100) a side of fewer is often a single value, with no interval at all: a
#: BI developer's trial read 1.0 csat points and 50 NPS points from one problem response,
#: and 100 NPS points from a week of 4 responses, each without an interval.
MIN_RESPONSES_PER_SIDE = 5


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


#: One side of many comparisons: per comparison, how many values (``n``), their mean and
#: their sample variance (``ddof=1``; NaN when ``n < 2``), as float arrays.
Moments = tuple[np.ndarray, np.ndarray, np.ndarray]


def welch_intervals(
    comparable: Moments, problem: Moments, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mean(comparable) - mean(problem)`` and its Welch confidence interval (low, high),
    for many pairs of samples at once, from each sample's :data:`Moments`.

    Returns three float arrays, NaN where there is no estimate: no values on a side (all
    three); fewer than two values on a side or no spread on either (the interval).

    The interval is the one ``scipy.stats.ttest_ind(comparable, problem, equal_var=False)
    .confidence_interval(confidence)`` gives (Welch 1947: the standard error
    ``sqrt(var_c/n_c + var_p/n_p)`` and the Welch-Satterthwaite degrees of freedom), with the
    t quantile from ``scipy.stats.t.ppf``; tests/unit/test_fix_list.py checks it against
    scipy to 1e-9.
    """
    n_c, mean_c, var_c = comparable
    n_p, mean_p, var_p = problem
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = np.where((n_c > 0) & (n_p > 0), mean_c - mean_p, np.nan)
        share_c, share_p = var_c / n_c, var_p / n_p
        error = np.sqrt(share_c + share_p)
        freedom = (share_c + share_p) ** 2 / (share_c**2 / (n_c - 1) + share_p**2 / (n_p - 1))
        estimable = (np.minimum(n_c, n_p) >= 2) & (var_c + var_p > 0)
        quantile = stats.t.ppf(0.5 + confidence / 2, np.where(estimable, freedom, 1.0))
        half = np.where(estimable, quantile * error, np.nan)
    return difference, difference - half, difference + half


def mean_difference(
    comparable: np.ndarray, problem: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float | None, float | None, float | None]:
    """``mean(comparable) - mean(problem)`` and its Welch confidence interval (low, high) for
    one pair of samples (:func:`welch_intervals`); None where it cannot be estimated."""

    def moments(values: np.ndarray) -> Moments:
        n = len(values)
        mean = np.mean(values) if n else np.nan
        return (
            np.array([n], float),
            np.array([mean]),
            np.array([np.var(values, ddof=1) if n > 1 else np.nan]),
        )

    estimate = welch_intervals(moments(comparable), moments(problem), confidence)
    return tuple(None if np.isnan(v[0]) else float(v[0]) for v in estimate)  # type: ignore[return-value]


def _moments(value: str, on: pl.Expr, name: str) -> list[pl.Expr]:
    """Count, mean and sample variance of ``value``'s non-null values where ``on`` holds."""
    picked = pl.col(value).filter(on)
    return [
        picked.count().alias(f"{name}_n"),
        picked.mean().alias(f"{name}_mean"),
        picked.var(ddof=1).alias(f"{name}_var"),
    ]


def _estimates(frame: pl.DataFrame, value: str) -> dict[str, np.ndarray]:
    """The comparable-minus-problem estimate of ``value`` (``csat`` or ``nps``) per row."""

    def side(name: str) -> Moments:
        return tuple(  # type: ignore[return-value]
            frame.get_column(f"{value}_{name}_{m}").cast(pl.Float64).to_numpy()
            for m in ("n", "mean", "var")
        )

    estimate = welch_intervals(side("c"), side("p"))
    return dict(zip(("estimate", "low", "high"), estimate, strict=True))


def _examples(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per group and root cause: the comments of the problem responses the model was surest
    about (a failure: highest ``p_policy_failure``; perceived: lowest), those needing review
    last, ties by id; at most :data:`EXAMPLES` distinct ones, empty comments skipped."""
    p = pl.col("p_policy_failure")
    sure = pl.when(pl.col("root_cause") == POSITIVE_CLASS).then(p).otherwise(1 - p)
    written = frame.filter(
        pl.col("root_cause").is_in(list(OWNERS))
        & pl.col("comment").is_not_null()
        & (pl.col("comment") != "")
    )
    return (
        written.with_columns(sure.alias("_sure"))
        .sort(
            [pl.col("needs_review").fill_null(False), "_sure", "response_id"],
            descending=[False, True, False],
            maintain_order=True,  # full ties keep the input order, as within each group
        )
        .group_by([*by, "root_cause"], maintain_order=True)
        # Distinct: a trial's report showed one comment three times (a response re-sent,
        # or a canned answer many gave).
        .agg(pl.col("comment").unique(maintain_order=True).head(EXAMPLES).alias("example_comments"))
    )


def _not_estimated(score: str, article: str, min_responses: int) -> pl.Expr:
    """Why the ``score`` (``csat`` or ``nps``) estimate of a row is null, or null where it
    stands: no response of the group has the score; only the comparable side is short (the
    problem may have hundreds of responses: a policy whose every response in the group is a
    perceived complaint has none without the problem to compare with, which "too few
    responses: 190 with the problem and 0 without" misread as too few); or the problem side
    is short, with both counts (each side's count from :func:`_moments`,
    ``min_responses`` each side needs, :data:`MIN_RESPONSES_PER_SIDE`)."""
    problem, comparable = pl.col(f"{score}_p_n"), pl.col(f"{score}_c_n")
    needed = f"{min_responses} needed)"
    return (
        pl.when((problem == 0) & (comparable == 0))
        .then(pl.lit(f"no response has {article} {score}"))
        .when((problem >= min_responses) & (comparable == 0))
        .then(
            pl.lit(
                f"no responses without the problem to compare with (0 with {article} {score}; "
                + needed
            )
        )
        .when((problem >= min_responses) & (comparable < min_responses))
        .then(
            formatted_text(
                "too few responses without the problem to compare with "
                f"({{}} with {article} {score}; {needed}",
                comparable,
            )
        )
        .when((problem < min_responses) | (comparable < min_responses))
        .then(
            formatted_text(
                f"too few responses: {{}} with the problem and {{}} without have {article} "
                f"{score} ({min_responses} of each are needed)",
                problem,
                comparable,
            )
        )
        .otherwise(None)
    )


def fix_list(
    responses: pl.DataFrame,
    period: str,
    period_start: date,
    period_end: date,
    week: date,
    min_responses: int = MIN_RESPONSES_PER_SIDE,
) -> pl.DataFrame:
    """The fix list of one period, in :data:`transforms.schemas.FIX_LIST_SCHEMA`.

    ``responses``: every valid response of the period (feedback_scored rows) with
    ``policy_code``, ``queue``, ``csat``, ``nps``, ``root_cause``, ``p_policy_failure``,
    ``needs_review``, ``comment``, ``response_id``, ``is_negative`` and ``model_version``, and
    any :data:`transforms.schemas.MART_GROUP_KEYS`. ``period`` is 'week' or 'window';
    ``week`` the Monday of the partition it is written to. Empty when no response has a root
    cause (no model yet): there is nothing to recommend.

    A row's csat estimates (per response, points lost, their intervals) are null where fewer
    than ``min_responses`` (:data:`MIN_RESPONSES_PER_SIDE`) problem or comparable responses
    have a csat, and ``csat_not_estimated`` says which side is short and by how much; the nps
    estimates and
    ``nps_not_estimated`` likewise. Such rows rank after every estimated one.

    Every group (policy and queue, per source) is estimated at once: one aggregation gives
    each side's count, mean and variance, and :func:`welch_intervals` the intervals.
    """
    keys = group_keys(responses.columns)
    scored = responses.filter(pl.col("root_cause").is_not_null())
    if scored.height == 0:
        return pl.DataFrame(schema=FIX_LIST_SCHEMA)
    model_version = model_versions_text(scored.get_column("model_version"))
    by = [*keys, "policy_code", "queue"]
    # Responses with an nps, per source: the denominator of the period's NPS.
    respondents = pl.col("_nps").count()
    frame = responses.with_columns(
        nps_score().alias("_nps"),
        pl.col("csat").cast(pl.Float64).alias("_csat"),
        # Joined to the examples on text (a categorical or all-null input column too).
        pl.col("root_cause", "comment").cast(pl.String),
    ).with_columns((respondents.over(keys) if keys else respondents).alias("_respondents"))
    causes = pl.col("root_cause")
    per_cause = []
    for cause, owner in OWNERS.items():
        problem = (causes == cause).fill_null(False)
        # Comparable: the same group without this root cause (no root cause included).
        per_cause.append(
            frame.group_by(by)
            .agg(
                pl.len().alias("responses"),
                pl.col("is_negative").sum().alias("negatives"),
                (causes == POSITIVE_CLASS).sum().alias("policy_failures"),
                (causes == "perceived").sum().alias("perceived"),
                pl.col("_respondents").first(),
                problem.sum().alias("problem_responses"),
                *_moments("_csat", problem, "csat_p"),
                *_moments("_csat", ~problem, "csat_c"),
                *_moments("_nps", problem, "nps_p"),
                *_moments("_nps", ~problem, "nps_c"),
            )
            .filter(pl.col("problem_responses") > 0)
            .with_columns(pl.lit(owner).alias("owner"), pl.lit(cause).alias("root_cause"))
        )
    estimated = pl.concat(per_cause)
    # Responses without a csat (a complaint database has none) are left out, as the nps'
    # are: a null read as NaN made every estimate NaN, not null.
    csat, nps = _estimates(estimated, "csat"), _estimates(estimated, "nps")
    nps_share = pl.when(pl.col("_respondents") > 0).then(pl.col("nps_p_n") / pl.col("_respondents"))
    listed = (
        estimated.with_columns(
            pl.col("csat_p_mean").alias("csat_problem"),
            pl.col("csat_c_mean").alias("csat_comparable"),
            *(
                pl.Series(f"csat_lost_per_response{suffix}", csat[part]).fill_nan(None)
                for part, suffix in (("estimate", ""), ("low", "_low"), ("high", "_high"))
            ),
            *(
                pl.Series(f"_nps{suffix}", nps[part]).fill_nan(None)
                for part, suffix in (("estimate", ""), ("low", "_low"), ("high", "_high"))
            ),
        )
        .with_columns(
            _not_estimated("csat", "a", min_responses).alias("csat_not_estimated"),
            _not_estimated("nps", "an", min_responses).alias("nps_not_estimated"),
        )
        .with_columns(
            # Below the minimum the point is null like its interval: never a bare number
            # from a handful of responses.
            *(
                pl.when(pl.col("csat_not_estimated").is_null())
                .then(pl.col(f"csat_lost_per_response{suffix}"))
                .alias(f"csat_lost_per_response{suffix}")
                for suffix in ("", "_low", "_high")
            ),
            *(
                pl.when(pl.col("nps_not_estimated").is_null())
                .then(pl.col(f"_nps{suffix}"))
                .alias(f"_nps{suffix}")
                for suffix in ("", "_low", "_high")
            ),
        )
        .with_columns(
            *(
                (pl.col(f"csat_lost_per_response{suffix}") * pl.col("problem_responses")).alias(
                    f"csat_points_lost{suffix}"
                )
                for suffix in ("", "_low", "_high")
            ),
            *(
                (pl.col(f"_nps{suffix}") * nps_share.fill_null(0.0)).alias(
                    f"nps_points_lost{suffix}"
                )
                for suffix in ("", "_low", "_high")
            ),
        )
        .join(_examples(frame, by), on=[*by, "root_cause"], how="left", nulls_equal=True)
        .with_columns(pl.col("example_comments").fill_null(pl.lit([], pl.List(pl.String))))
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
                pl.lit(model_version, pl.String).alias("model_version"),
                pl.lit(FIX_LIST_VERSION, pl.Int32).alias("schema_version"),
            )
        ),
        FIX_LIST_SCHEMA,
    )
