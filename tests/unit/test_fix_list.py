"""The fix list on a few responses: counts, points lost and their intervals by hand."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from scipy import stats

from transforms.fix_list import fix_list, mean_difference, nps_score
from transforms.schemas import FIX_LIST_SCHEMA

WEEK = date(2026, 10, 5)


def _responses() -> pl.DataFrame:
    # P/q: three failures, one perceived, four without a problem; R/r: two perceived, two fine.
    return pl.DataFrame(
        {
            "response_id": [f"r{i}" for i in range(12)],
            "policy_code": ["P"] * 8 + ["R"] * 4,
            "queue": ["q"] * 8 + ["r"] * 4,
            "csat": [1, 2, 1, 2, 4, 5, 5, 3, 1, 1, 5, 5],
            "nps": [0, 3, None, 6, 9, 10, 8, 7, 2, 1, 10, 9],
            "is_negative": [True] * 4 + [False] * 4 + [True, True, False, False],
            "root_cause": ["policy_failure"] * 3
            + ["perceived"]
            + [None] * 4
            + ["perceived"] * 2
            + [None] * 2,
            "p_policy_failure": [0.9, 0.7, 0.95, 0.2, None, None, None, None, 0.1, 0.3, None, None],
            "needs_review": [False, False, False, False, None, None, None, None, False, True]
            + [None] * 2,
            "comment": [
                *["late twice", "", "never came", "wanted a time"],
                *["fine", "fine", "fine", "fine", "angry", "rude", "ok", "ok"],
            ],
            "model_version": ["m1"] * 12,
        }
    )


def _row(rows: pl.DataFrame, owner: str, policy: str) -> dict:  # type: ignore[type-arg]
    return rows.filter((pl.col("owner") == owner) & (pl.col("policy_code") == policy)).row(
        0, named=True
    )


def test_points_lost_against_comparable_responses_by_hand() -> None:
    rows = fix_list(_responses(), "week", WEEK, date(2026, 10, 11), WEEK)
    assert rows.schema == pl.Schema(FIX_LIST_SCHEMA)
    failures = _row(rows, "operations", "P")
    assert (failures["responses"], failures["negatives"]) == (8, 4)
    assert (failures["policy_failures"], failures["perceived"]) == (3, 1)
    assert failures["problem_responses"] == 3 and failures["root_cause"] == "policy_failure"
    # Comparable: the other five responses of P/q (csat 2, 4, 5, 5, 3: mean 3.8).
    assert failures["csat_comparable"] == pytest.approx(3.8)
    assert failures["csat_problem"] == pytest.approx(4 / 3)
    assert failures["csat_lost_per_response"] == pytest.approx(3.8 - 4 / 3)
    assert failures["csat_points_lost"] == pytest.approx(3 * (3.8 - 4 / 3))
    welch = stats.ttest_ind([2, 4, 5, 5, 3], [1, 2, 1], equal_var=False).confidence_interval(0.95)
    assert failures["csat_lost_per_response_low"] == pytest.approx(welch.low)
    assert failures["csat_points_lost_high"] == pytest.approx(3 * welch.high)
    # NPS: problem scores -100, -100 (one has no nps); comparable -100, 100, 100, 0, 0 (mean
    # 20); 2 of the period's 11 responses with an nps: 120 x 2 / 11 points of the NPS.
    assert failures["nps_points_lost"] == pytest.approx(120 * 2 / 11)
    # Examples: written comments, the surest first; the empty one is skipped.
    assert failures["example_comments"] == ["never came", "late twice"]


def test_ranked_per_owner_with_owners_of_each_kind() -> None:
    rows = fix_list(_responses(), "window", date(2026, 9, 14), date(2026, 10, 11), WEEK)
    communications = rows.filter(pl.col("owner") == "communications").sort("rank")
    # R: 2 x (5 - 1) = 8 points; P: 1 x (mean of the other seven, 3, minus 2) = 1 point.
    assert communications.get_column("policy_code").to_list() == ["R", "P"]
    assert communications.get_column("csat_points_lost").to_list() == pytest.approx([8.0, 1.0])
    # One perceived response in P: a difference, but no interval from a single value.
    lone = _row(rows, "communications", "P")
    assert lone["csat_lost_per_response_low"] is None
    assert lone["csat_lost_per_response_high"] is None
    assert rows.filter(pl.col("owner") == "operations").get_column("rank").to_list() == [1]
    assert set(rows.get_column("period")) == {"window"}
    assert rows.get_column("period_start").unique().to_list() == [date(2026, 9, 14)]
    # The less sure (needs_review) response comes last among R's examples.
    assert _row(rows, "communications", "R")["example_comments"] == ["angry", "rude"]


def test_a_source_without_csat_gets_null_points_not_nan() -> None:
    """A complaint database has no csat: its points lost are unknown (null), which the run
    report then shows as such; NaN (nulls read as NaN) made the report's integer cast fail."""
    rows = fix_list(
        _responses().with_columns(pl.lit(None, pl.Int64).alias("csat")),
        "week",
        WEEK,
        date(2026, 10, 11),
        WEEK,
    )
    points = rows.select(pl.col("^csat_.*$"))
    assert points.null_count().row(0) == (rows.height,) * points.width
    assert not any(points.select(pl.all().is_nan().any()).row(0))
    # The nps estimate still stands where nps was given.
    assert _row(rows, "operations", "P")["nps_points_lost"] is not None


def test_nothing_is_recommended_before_a_model_scored_anything() -> None:
    unscored = _responses().with_columns(
        pl.lit(None, pl.String).alias("root_cause"), pl.lit(None, pl.String).alias("model_version")
    )
    rows = fix_list(unscored, "week", WEEK, date(2026, 10, 11), WEEK)
    assert rows.height == 0 and rows.schema == pl.Schema(FIX_LIST_SCHEMA)


def test_nps_scores_and_mean_difference_edges() -> None:
    scores = pl.DataFrame({"nps": [0, 6, 7, 8, 9, 10, None]}).select(nps_score()).to_series()
    assert scores.to_list() == [-100.0, -100.0, 0.0, 0.0, 100.0, 100.0, None]
    assert mean_difference(np.array([]), np.array([1.0])) == (None, None, None)
    assert mean_difference(np.array([3.0, 3.0]), np.array([1.0, 1.0])) == (2.0, None, None)


def test_the_report_shows_an_estimate_its_interval_or_that_it_is_not_known() -> None:
    """The run report's fix-list cells, including a partition written with NaN before
    nulls were kept (it made the report's integer cast fail: a CFPB backfill crashed)."""
    from servicelens.reporting.report import _estimate

    frame = pl.DataFrame(
        {
            "csat_points_lost": [12.4, 3.0, None, float("nan")],
            "csat_points_lost_low": [4.2, None, None, float("nan")],
            "csat_points_lost_high": [20.6, None, None, float("nan")],
        }
    )
    assert frame.select(_estimate("csat_points_lost", 0)).to_series().to_list() == [
        "12 (4 to 21)",
        "3 (no interval)",
        "not known",
        "not known",
    ]


def test_the_report_says_how_a_source_without_scores_is_ranked() -> None:
    """Found by a new user's trial: CFPB's fix list said "Ranked by csat points" above
    estimates that were all "not known" (a complaint database has no csat)."""
    from types import SimpleNamespace

    from servicelens.reporting.report import _fix_list

    def page(responses: pl.DataFrame) -> str:
        rows = fix_list(responses, "window", date(2026, 9, 14), date(2026, 10, 11), WEEK)
        return _fix_list(SimpleNamespace(fix_list=rows, champion="m1"))  # type: ignore[arg-type]

    assert "Ranked by csat points;" in page(_responses())
    complaints = page(_responses().with_columns(pl.lit(None, pl.Int8).alias("csat")))
    assert "Ranked by csat points" not in complaints
    assert "no csat, so its points are not known: ranked by the number of" in complaints
    # Found by an operator's trial: whole CFPB narratives (thousands of characters) filled
    # the examples; each is cut at a word before EXAMPLE_CHARACTERS, marked so.
    from servicelens.reporting.report import EXAMPLE_CHARACTERS

    narrative = "XX/XX/XXXX the fee was charged again " * 200
    long = page(_responses().with_columns(pl.lit(narrative).alias("comment")))
    shown = long.split("“", 1)[1].split("”", 1)[0]
    assert shown.endswith(" …") and narrative.startswith(shown.removesuffix(" …"))
    assert len(shown) <= EXAMPLE_CHARACTERS + 2 and narrative[len(shown) - 2] == " "


# --- the vectorised estimates against scipy, group by group ---------------------------------


def _reference(responses: pl.DataFrame) -> dict[tuple[object, ...], dict[str, object]]:
    """Each (source, policy, queue, root cause)'s estimates, one group at a time, the way the
    fix list computed them before it was vectorised: scipy's Welch test per group."""
    rows: dict[tuple[object, ...], dict[str, object]] = {}
    scored = responses.with_columns(nps_score().alias("_nps"))
    for (source, policy, queue), group in scored.group_by(["source", "policy_code", "queue"]):
        respondents = scored.filter(pl.col("source") == source).get_column("_nps").count()
        for cause in ("policy_failure", "perceived"):
            is_problem = pl.col("root_cause") == cause
            problem = group.filter(is_problem)
            if problem.height == 0:
                continue
            comparable = group.filter(is_problem.fill_null(False).not_())

            def welch(
                column: str, comparable: pl.DataFrame = comparable, problem: pl.DataFrame = problem
            ) -> tuple[float | None, float | None, float | None]:
                a = comparable.get_column(column).drop_nulls().cast(pl.Float64).to_numpy()
                b = problem.get_column(column).drop_nulls().cast(pl.Float64).to_numpy()
                if len(a) == 0 or len(b) == 0:
                    return None, None, None
                difference = float(np.mean(a) - np.mean(b))
                if min(len(a), len(b)) < 2 or np.var(a, ddof=1) + np.var(b, ddof=1) == 0:
                    return difference, None, None
                interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
                return difference, float(interval.low), float(interval.high)

            csat, nps = welch("csat"), welch("_nps")
            share = problem.get_column("_nps").count() / respondents if respondents else 0.0
            p = problem.get_column("p_policy_failure")
            sure = p if cause == "policy_failure" else 1 - p
            written = (
                problem.with_columns(sure.alias("_sure"))
                .filter(pl.col("comment").is_not_null() & (pl.col("comment") != ""))
                .sort(
                    [pl.col("needs_review").fill_null(False), "_sure", "response_id"],
                    descending=[False, True, False],
                )
            )
            rows[(source, policy, queue, cause)] = {
                "responses": group.height,
                "problem_responses": problem.height,
                "csat_lost_per_response": csat[0],
                "csat_lost_per_response_low": csat[1],
                "csat_lost_per_response_high": csat[2],
                "csat_points_lost_high": None if csat[2] is None else csat[2] * problem.height,
                "nps_points_lost": None if nps[0] is None else nps[0] * share,
                "nps_points_lost_low": None if nps[1] is None else nps[1] * share,
                "example_comments": written.get_column("comment").head(3).to_list(),
            }
    return rows


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, constant sides
@pytest.mark.parametrize("seed", range(6))
def test_every_groups_estimates_equal_scipys_welch_test_one_group_at_a_time(seed: int) -> None:
    """Random periods: two sources, groups of 1 to 40 responses, constant groups, csat or nps
    missing, no root cause, empty and missing comments, ties in the model's certainty."""
    rng = np.random.default_rng(seed)
    n = 600
    size = rng.integers(1, 40, 30)
    group = np.repeat(np.arange(30), size)[:n]
    n = len(group)
    constant = rng.random(30) < 0.2
    csat = np.where(constant[group], 3, rng.integers(1, 6, n))
    responses = pl.DataFrame(
        {
            "response_id": [f"r{i:04d}" for i in rng.permutation(n)],
            "source": np.where(group % 3 == 0, "zendesk", "qualtrics"),
            "policy_code": [f"P{g % 7}" for g in group],
            "queue": [f"q{g % 4}" for g in group],
            "csat": pl.Series(csat).scatter(np.flatnonzero(rng.random(n) < 0.15), None),
            "nps": pl.Series(rng.integers(0, 11, n)).scatter(
                np.flatnonzero(rng.random(n) < 0.2), None
            ),
            "is_negative": rng.random(n) < 0.5,
            "root_cause": rng.choice(
                ["policy_failure", "perceived", None], n, p=[0.3, 0.4, 0.3]
            ).tolist(),
            "p_policy_failure": np.round(rng.random(n), 1),  # ties
            "needs_review": rng.choice([True, False, None], n).tolist(),
            "comment": rng.choice(["late", "rude", "", None, "fee", "wait"], n).tolist(),
            "model_version": ["m1"] * n,
        },
        strict=False,
    )
    rows = fix_list(responses, "window", WEEK, date(2026, 10, 11), WEEK)
    expected = _reference(responses)
    assert rows.height == len(expected)
    for row in rows.iter_rows(named=True):
        key = (row["source"], row["policy_code"], row["queue"], row["root_cause"])
        for column, value in expected[key].items():
            if isinstance(value, float):
                assert row[column] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, column)
            else:
                assert row[column] == value, (key, column)
    assert not rows.select(pl.col(pl.Float64).is_nan().any()).row(0).count(True)


def test_a_categorical_root_cause_and_comments_that_are_all_missing() -> None:
    """Found in review: a categorical ``root_cause`` failed the join to the examples, and a
    ``comment`` column of nulls only (polars' Null type) made polars panic."""
    rows = fix_list(
        _responses().with_columns(
            pl.col("root_cause").cast(pl.Categorical), pl.lit(None).alias("comment")
        ),
        "week",
        WEEK,
        date(2026, 10, 11),
        WEEK,
    )
    assert rows.height == 3
    assert rows.get_column("example_comments").to_list() == [[], [], []]
    assert _row(rows, "operations", "P")["csat_comparable"] == pytest.approx(3.8)


def test_a_period_two_models_scored_names_both_oldest_first() -> None:
    """Found by a QA lead's trial: a 28-day window the older champion scored 25 days of
    named only the newer one; so did agent_outcomes (the commonest). Both marts name every
    version, oldest first (versions are named by when they were trained)."""
    from transforms.marts import model_versions_text

    mixed = _responses().with_columns(
        pl.when(pl.int_range(pl.len()) < 5)
        .then(pl.lit("20261204T2231Z-new"))
        .otherwise(pl.lit("20261101T0900Z-old"))
        .alias("model_version")
    )
    rows = fix_list(mixed, "window", date(2026, 9, 14), date(2026, 10, 11), WEEK)
    assert set(rows.get_column("model_version")) == {"20261101T0900Z-old, 20261204T2231Z-new"}
    one = fix_list(_responses(), "week", WEEK, date(2026, 10, 11), WEEK)
    assert set(one.get_column("model_version")) == {"m1"}
    assert model_versions_text(pl.Series([None, None], dtype=pl.String)) is None
