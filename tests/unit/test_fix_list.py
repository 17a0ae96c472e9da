"""The fix list on a few responses: counts, points lost and their intervals by hand (with
the minimum count lowered to 1, so a few rows show the arithmetic), and the minimum itself."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from servicelens.settings import Settings
from transforms.fix_list import MIN_RESPONSES_PER_SIDE, fix_list, mean_difference, nps_score
from transforms.formatting import formatted_text
from transforms.schemas import FIX_LIST_CONTRACT, FIX_LIST_SCHEMA

WEEK = date(2026, 10, 5)
#: A daily source's settings: the report's fix list dates a daily window by its own dates.
DAILY = Settings(data_dir="unused")


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
    rows = fix_list(_responses(), "week", WEEK, date(2026, 10, 11), WEEK, min_responses=1)
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


def test_the_examples_are_distinct_comments() -> None:
    """Found by a trial: the report's fix list showed the same comment three times."""
    same = _responses().with_columns(
        pl.when(pl.col("response_id").is_in(["r0", "r2"]))
        .then(pl.lit("on hold for an hour"))
        .otherwise(pl.col("comment"))
        .alias("comment")
    )
    rows = fix_list(same, "week", WEEK, date(2026, 10, 11), WEEK, min_responses=1)
    assert _row(rows, "operations", "P")["example_comments"] == ["on hold for an hour"]


def test_ranked_per_owner_with_owners_of_each_kind() -> None:
    rows = fix_list(
        _responses(), "window", date(2026, 9, 14), date(2026, 10, 11), WEEK, min_responses=1
    )
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
        min_responses=1,
    )
    points = rows.select(pl.col("^csat_.*$").exclude("csat_not_estimated"))
    assert points.null_count().row(0) == (rows.height,) * points.width
    assert set(rows.get_column("csat_not_estimated")) == {"no response has a csat"}
    assert not any(points.select(pl.all().is_nan().any()).row(0))
    # The nps estimate still stands where nps was given.
    assert _row(rows, "operations", "P")["nps_points_lost"] is not None


def _tiny_window() -> pl.DataFrame:
    """A window of a small source: P/q has one failure among 12 responses (csat and nps
    everywhere), R/r four failures among 5 (one comparable response)."""
    return pl.DataFrame(
        {
            "response_id": [f"t{i}" for i in range(17)],
            "policy_code": ["P"] * 12 + ["R"] * 5,
            "queue": ["q"] * 12 + ["r"] * 5,
            "csat": [1, 4, 5, 3, 4, 5, 4, 3, 5, 4, 5, 4, 1, 2, 1, 1, 5],
            "nps": [0, 9, 10, 8, 9, 10, 7, 8, 9, 10, 9, 7, 0, 2, 1, 0, 10],
            "is_negative": [True] + [False] * 11 + [True] * 4 + [False],
            "root_cause": ["policy_failure"] + [None] * 11 + ["policy_failure"] * 4 + [None],
            "p_policy_failure": [0.9] + [None] * 11 + [0.8] * 4 + [None],
            "needs_review": [False] + [None] * 11 + [False] * 4 + [None],
            "comment": ["late"] + ["fine"] * 11 + ["fee"] * 4 + ["ok"],
            "model_version": ["m1"] * 17,
        }
    )


def test_a_handful_of_responses_gives_no_estimate_and_says_so() -> None:
    """Found by a BI developer's trial: a source's newest window, built on one problem
    response, published csat_points_lost 1.0 and nps_points_lost 50.0 without intervals; a
    week of 4 responses gave 100.0 NPS points. Below MIN_RESPONSES_PER_SIDE responses with
    the score on either side, every estimate is null like its interval, the row says why,
    and it ranks after the estimated ones."""
    rows = fix_list(_tiny_window(), "window", date(2026, 9, 14), date(2026, 10, 11), WEEK)
    estimates = pl.col("^(csat_lost|csat_points|nps_points).*$")
    lone = _row(rows, "operations", "P")
    assert lone["problem_responses"] == 1
    assert rows.filter(pl.col("policy_code") == "P").select(estimates).null_count().row(0) == (
        (1,) * 9
    )
    assert lone["csat_not_estimated"] == (
        f"too few responses: 1 with the problem and 11 without have a csat "
        f"({MIN_RESPONSES_PER_SIDE} of each are needed)"
    )
    assert lone["nps_not_estimated"] == (
        f"too few responses: 1 with the problem and 11 without have an nps "
        f"({MIN_RESPONSES_PER_SIDE} of each are needed)"
    )
    # Four problem responses against one comparable: the comparable side is too small.
    few = _row(rows, "operations", "R")
    assert few["csat_points_lost"] is None and few["nps_points_lost"] is None
    assert few["csat_not_estimated"].startswith("too few responses: 4 with the problem and 1 ")
    assert [r["policy_code"] for r in rows.sort("rank").iter_rows(named=True)] == ["R", "P"]
    # The counts and the plain means stay: they are descriptions, not estimates.
    assert (lone["csat_problem"], lone["responses"]) == (1.0, 12)
    # With enough on both sides, the estimate stands and nothing is said.
    enough = pl.concat(
        [_tiny_window()]
        + [
            _tiny_window()
            .filter(pl.col("policy_code") == "P")
            .with_columns(formatted_text("{}-{}", "response_id", pl.lit(copy)).alias("response_id"))
            for copy in range(MIN_RESPONSES_PER_SIDE - 1)
        ]
    )
    row = _row(fix_list(enough, "window", WEEK, WEEK, WEEK), "operations", "P")
    assert row["problem_responses"] == MIN_RESPONSES_PER_SIDE
    assert row["csat_points_lost"] is not None and row["nps_points_lost"] is not None
    assert (row["csat_not_estimated"], row["nps_not_estimated"]) == (None, None)


def test_the_data_dictionary_states_the_minimum_the_code_applies() -> None:
    for column in ("csat_lost_per_response", "csat_points_lost", "nps_points_lost"):
        text = FIX_LIST_CONTRACT.descriptions[column]
        assert f"fewer than {MIN_RESPONSES_PER_SIDE} of the problem responses" in text
    assert (
        f"{MIN_RESPONSES_PER_SIDE} of each are needed"
        in (FIX_LIST_CONTRACT.descriptions["csat_not_estimated"])
    )


def test_the_report_says_a_window_has_too_few_responses_instead_of_a_number() -> None:
    from types import SimpleNamespace

    from servicelens.reporting.report import _fix_list

    rows = fix_list(_tiny_window(), "window", date(2026, 9, 14), date(2026, 10, 11), WEEK)
    page = _fix_list(SimpleNamespace(fix_list=rows, champion="m1", settings=DAILY))  # type: ignore[arg-type]
    assert (
        "Too few responses have a csat to estimate any row's points (each needs "
        f"{MIN_RESPONSES_PER_SIDE} with the problem and {MIN_RESPONSES_PER_SIDE} without)"
    ) in page
    assert "too few responses: 1 with the problem and 11 without have a csat" in page
    assert "not known" not in page and "(no interval)" not in page


def test_the_report_dates_a_monthly_window_by_its_rows_days_not_its_months(
    tmp_path: Path,
) -> None:
    """Found by a review of a monthly source's report: its fix list said "Survey dates
    2023-06-01 to 2023-08-31" (the window's months) beside the header's 2023-06-27..2023-08-25
    for the same complaints. It gives the first and last day of the window's rows, as the
    header does (:func:`servicelens.reporting.report.rows_first_and_last`)."""
    from types import SimpleNamespace

    from servicelens.reporting.report import _fix_list
    from servicelens.storage.partitions import DATA_FILE, partition_dir

    settings = Settings(data_dir=str(tmp_path), partition="month", timezone="UTC")
    june, july, august = date(2023, 6, 1), date(2023, 7, 1), date(2023, 8, 1)
    for month, received in ((june, datetime(2023, 6, 27, 9)), (august, datetime(2023, 8, 25, 9))):
        folder = partition_dir(settings.clean_dir, month)
        folder.mkdir(parents=True)
        submitted = pl.Series("submitted_at", [received], pl.Datetime("us", "UTC"))
        submitted.to_frame().write_parquet(folder / DATA_FILE)
    # July kept no row: its partition is not read.
    manifests = pl.DataFrame({"survey_date": [june, july, august], "kept": [1, 0, 1]})
    rows = fix_list(_responses(), "window", june, date(2023, 8, 31), august, min_responses=1)
    inputs = SimpleNamespace(fix_list=rows, champion="m1", settings=settings, manifests=manifests)
    assert "<p>Survey dates 2023-06-27 to 2023-08-25, " in _fix_list(inputs)  # type: ignore[arg-type]


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
        rows = fix_list(
            responses, "window", date(2026, 9, 14), date(2026, 10, 11), WEEK, min_responses=1
        )
        return _fix_list(SimpleNamespace(fix_list=rows, champion="m1", settings=DAILY))  # type: ignore[arg-type]

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
                if min(len(a), len(b)) < MIN_RESPONSES_PER_SIDE:
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
                "example_comments": written.get_column("comment")
                .unique(maintain_order=True)
                .head(3)
                .to_list(),
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


def test_the_fix_list_query_says_a_window_has_too_few_responses_instead_of_a_number() -> None:
    """`servicelens query fix_list_by_owner` over a tiny window: no points, a note instead."""
    import duckdb

    from servicelens.reporting.analyst import example_queries

    window = fix_list(_tiny_window(), "window", date(2026, 9, 14), date(2026, 10, 11), WEEK)
    connection = duckdb.connect()
    connection.register("fix_list", window.to_arrow())
    sql = example_queries()["fix_list_by_owner"].read_text()
    cursor = connection.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = {
        r["policy_code"]: r for r in (dict(zip(names, v, strict=True)) for v in cursor.fetchall())
    }
    lone = rows["P"]
    assert [lone[c] for c in ("csat_points_lost", "csat_points_low", "nps_points_lost")] == [
        None
    ] * 3
    assert lone["note"] == (
        "csat: too few responses: 1 with the problem and 11 without have a csat "
        f"({MIN_RESPONSES_PER_SIDE} of each are needed); nps: too few responses: 1 with the "
        f"problem and 11 without have an nps ({MIN_RESPONSES_PER_SIDE} of each are needed)"
    )


def test_the_fix_list_of_a_source_rated_good_or_bad_names_its_satisfied_share(
    tmp_path: Path,
) -> None:
    """A Zendesk source rates good or bad (its satisfaction is the satisfied share): its
    fix list said "This source gives no csat", as a complaint database's does, as if it
    measured no satisfaction at all."""
    from types import SimpleNamespace

    from servicelens.reporting.report import SATISFIED_WORDS, _fix_list

    definition = tmp_path / "acme-zendesk.toml"
    definition.write_text('extends = "zendesk"\nname = "acme-zendesk"\n', encoding="utf-8")
    zendesk = Settings(data_dir=str(tmp_path / "data")).for_source("acme-zendesk", str(definition))
    responses = _responses().with_columns(pl.lit(None, pl.Int8).alias("csat"))
    rows = fix_list(
        responses, "window", date(2026, 9, 14), date(2026, 10, 11), WEEK, min_responses=1
    )
    page = _fix_list(SimpleNamespace(fix_list=rows, champion="m1", settings=zendesk))  # type: ignore[arg-type]
    assert "gives no csat" not in page
    assert (
        "This source rates good or bad (a two-level rating), not on a csat scale, so csat "
        f'points lost are not estimated; its satisfaction is the <a href="#satisfaction">'
        f"{SATISFIED_WORDS}</a>: ranked by the number of responses with the problem"
    ) in page


def test_a_side_with_nothing_to_compare_with_says_so_not_too_few() -> None:
    """Found by a head of operations' trial: ``query fix_list_by_owner`` printed
    "too few responses: 190 with the problem and 0 without have a csat (5 of each are
    needed)" of a policy whose every response was a perceived complaint: 190 responses are
    not too few, the group has no response without the problem to compare them with. Each
    side short alone is named as such; both short keeps the two counts."""
    problem = MIN_RESPONSES_PER_SIDE + 3
    # Policy E: every response perceived (nothing without the problem); F: two without it;
    # G: two with the problem, eight without.
    policies = ["E"] * problem + ["F"] * (problem + 2) + ["G"] * 10
    perceived = [True] * problem + [True] * problem + [False] * 2 + [True] * 2 + [False] * 8
    rows = fix_list(
        pl.DataFrame(
            {
                "response_id": [f"e{i}" for i in range(len(policies))],
                "policy_code": policies,
                "queue": ["billing"] * len(policies),
                "csat": [2 if p else 4 for p in perceived],
                "nps": [3 if p else 9 for p in perceived],
                "is_negative": perceived,
                "root_cause": ["perceived" if p else None for p in perceived],
                "p_policy_failure": [0.1 if p else None for p in perceived],
                "needs_review": [False if p else None for p in perceived],
                "comment": ["price went up"] * len(policies),
                "model_version": ["m1"] * len(policies),
            }
        ),
        "window",
        WEEK,
        WEEK,
        WEEK,
    )
    nothing = _row(rows, "communications", "E")
    assert nothing["problem_responses"] == problem and nothing["csat_points_lost"] is None
    assert nothing["csat_not_estimated"] == (
        "no responses without the problem to compare with "
        f"(0 with a csat; {MIN_RESPONSES_PER_SIDE} needed)"
    )
    assert nothing["nps_not_estimated"] == (
        "no responses without the problem to compare with "
        f"(0 with an nps; {MIN_RESPONSES_PER_SIDE} needed)"
    )
    assert _row(rows, "communications", "F")["csat_not_estimated"] == (
        "too few responses without the problem to compare with "
        f"(2 with a csat; {MIN_RESPONSES_PER_SIDE} needed)"
    )
    # The problem side short keeps both counts: that side is what is too few.
    assert _row(rows, "communications", "G")["csat_not_estimated"] == (
        "too few responses: 2 with the problem and 8 without have a csat "
        f"({MIN_RESPONSES_PER_SIDE} of each are needed)"
    )
