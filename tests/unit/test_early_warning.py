"""Early warning: the test, its multiple-testing control and a champion change, by hand."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from servicelens.outcomes import early_warning
from servicelens.settings import Settings
from servicelens.storage.runs import describe_flags, flag_sentence
from transforms.early_warning import compare_with_history, failure_counts, untested_reasons

DAY = date(2026, 10, 29)


def _history(rates: dict[str, list[tuple[int, int]]]) -> pl.DataFrame:
    rows = [
        (DAY - timedelta(days=len(days) - i), policy, n, k)
        for policy, days in rates.items()
        for i, (n, k) in enumerate(days)
    ]
    return pl.DataFrame(
        rows, schema=["survey_date", "policy_code", "negatives", "failures"], orient="row"
    )


def _today(counts: dict[str, tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(p, n, k) for p, (n, k) in counts.items()],
        schema=["policy_code", "negatives", "failures"],
        orient="row",
    )


def test_a_rise_is_flagged_with_its_normal_range_and_adjusted_p() -> None:
    history = _history({"DELIV": [(100, 30)] * 10, "GYM": [(100, 50)] * 10})
    result = compare_with_history(
        _today({"DELIV": (100, 55), "GYM": (100, 50)}), history, fdr=0.01, min_rise=0.05
    ).sort("policy_code")
    deliv, gym = result.iter_rows(named=True)
    assert deliv["baseline_share"] == 0.3 and deliv["dispersion"] == 1.0
    assert deliv["p_value"] == pytest.approx(stats.binomtest(55, 100, 0.3, "greater").pvalue)
    adjusted = stats.false_discovery_control([deliv["p_value"], gym["p_value"]], method="bh")
    assert [deliv["p_adjusted"], gym["p_adjusted"]] == pytest.approx(list(adjusted))
    low, high = stats.binom.interval(0.95, 100, 0.3)
    assert (deliv["normal_low"], deliv["normal_high"]) == (low / 100, high / 100)
    assert deliv["flagged"] and not gym["flagged"]
    assert deliv["status"] == gym["status"] == "tested"


def test_short_history_few_negatives_and_small_rises_are_not_flagged() -> None:
    history = _history(
        {"NEW": [(100, 30)] * 3, "QUIET": [(100, 30)] * 10, "BIG": [(10_000, 3_000)] * 10}
    )
    result = {
        row["policy_code"]: row
        for row in compare_with_history(
            _today({"NEW": (100, 90), "QUIET": (10, 9), "BIG": (10_000, 3_300)}),
            history,
            fdr=0.01,
            min_rise=0.05,
        ).iter_rows(named=True)
    }
    assert result["NEW"]["status"] == "too little history" and not result["NEW"]["flagged"]
    assert result["QUIET"]["status"] == "too few negatives today"
    assert not result["QUIET"]["flagged"]
    # Three points up on ten thousand negatives is significant, and too small to page anyone.
    assert result["BIG"]["p_adjusted"] < 1e-6 and not result["BIG"]["flagged"]


def test_a_history_that_wanders_widens_the_normal_range() -> None:
    steady = _history({"P": [(100, 30)] * 10})
    wandering = _history({"P": [(100, 10), (100, 50)] * 5})
    today = _today({"P": (100, 45)})
    assert compare_with_history(today, steady, fdr=0.01, min_rise=0.05)["flagged"].item()
    wide = compare_with_history(today, wandering, fdr=0.01, min_rise=0.05).row(0, named=True)
    assert wide["dispersion"] > 5 and not wide["flagged"]
    assert wide["normal_high"] > 0.45


def test_false_alarms_across_policies_stay_under_the_stated_rate() -> None:
    """300 quiet nights of eight policies: the share of nights with any flag stays below the
    false discovery rate (on a night with no real rise, FDR control bounds that chance)."""
    rng = np.random.default_rng(1)
    rates = [0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7]
    nights_with_a_flag = rises_found = 0
    for night in range(300):
        history = _history(
            {
                f"P{i}": [(n, rng.binomial(n, p)) for n in rng.poisson(200, 28)]
                for i, p in enumerate(rates)
            }
        )
        counts = {
            f"P{i}": (n := int(rng.poisson(200)), int(rng.binomial(n, p)))
            for i, p in enumerate(rates)
        }
        quiet = compare_with_history(_today(counts), history, fdr=0.01, min_rise=0.0)
        nights_with_a_flag += bool(quiet["flagged"].any())
        if night < 100:  # and a real rise, 0.4 -> 0.55, is found almost every time
            n = counts["P2"][0]
            counts["P2"] = (n, int(rng.binomial(n, 0.55)))
            risen = compare_with_history(_today(counts), history, fdr=0.01, min_rise=0.05)
            rises_found += bool(risen.filter(pl.col("policy_code") == "P2")["flagged"].item())
    assert nights_with_a_flag / 300 <= 0.01
    assert rises_found >= 80


# --- an incident that is still running ------------------------------------------------------

#: Trial 121's INSTALL-WINDOW counts (scored negatives, policy failures) as its marts held them,
#: 2026-11-16..12-06: fourteen ordinary days, then a planted installation incident every day
#: from 11-30 (the scored failures equal the generator's truth).
TRIAL_INSTALL = [
    (28, 2), (19, 2), (29, 4), (38, 4), (26, 2), (33, 6), (34, 2),
    (31, 8), (29, 5), (30, 8), (25, 5), (28, 6), (35, 3), (29, 6),
    (64, 35), (69, 38), (60, 37), (67, 44), (65, 28), (61, 37), (65, 34),
]  # fmt: skip
#: The trial's other tested policy: early termination fees, never a failure.
TRIAL_ETF = [
    40, 35, 35, 33, 35, 34, 38, 36, 34, 37, 35, 33, 36, 34, 37, 31, 29, 33, 35, 26, 36,
]  # fmt: skip
TRIAL_START = date(2026, 11, 16)
INCIDENT_DAYS = [TRIAL_START + timedelta(days=i) for i in range(14, 21)]


def _trial_counts(day: date) -> pl.DataFrame:
    i = (day - TRIAL_START).days
    (n, k), etf = TRIAL_INSTALL[i], TRIAL_ETF[i]
    return pl.DataFrame(
        {
            "survey_date": [day, day],
            "policy_code": ["INSTALL-WINDOW", "ETF"],
            "negatives": [n, etf],
            "failures": [k, 0],
        }
    )


def test_an_incident_that_keeps_running_is_flagged_every_day_of_it() -> None:
    """Found by trial 121: an installation incident (52-66% failures against about 15%) was
    flagged on its first two days only. Its own days entered the 28-day history, raised the
    baseline to 0.35 and the dispersion to 8.9, and it became its own normal; they are left
    out of the baseline now, as a control chart's Phase I leaves out days out of control."""
    results = {
        day: compare_with_history(
            _trial_counts(day).drop("survey_date"),
            pl.concat([_trial_counts(TRIAL_START + timedelta(days=i)) for i in range(14 + n)]),
            fdr=0.01,
            min_rise=0.05,
        )
        for n, day in enumerate(INCIDENT_DAYS)
    }
    flagged = [day for day, result in results.items() if result["flagged"].any()]
    assert flagged == INCIDENT_DAYS
    ordinary = TRIAL_INSTALL[:14]
    for n, (day, result) in enumerate(results.items()):
        install = result.filter(pl.col("policy_code") == "INSTALL-WINDOW").row(0, named=True)
        assert install["flagged"] and install["share"] > install["normal_high"], day
        # The days of the incident before this one, and no ordinary day, are left out.
        assert install["history_days_left_out"] == n, day
        assert install["history_days"] == 14 + n
        assert install["baseline_share"] == pytest.approx(
            sum(k for _, k in ordinary) / sum(n for n, _ in ordinary)
        )
        assert not result.filter(pl.col("policy_code") == "ETF")["flagged"].item()


def test_one_or_two_odd_days_leave_the_baseline_as_the_ordinary_days_give_it() -> None:
    """A day of an outage and a day half its failures went unrecorded: both left out, so the
    baseline and its dispersion are the ordinary days' and a real rise is still found."""
    ordinary = [(100, 28), (100, 32), (100, 30), (100, 29), (100, 31)] * 4
    history = _history({"P": [*ordinary[:9], (100, 80), *ordinary[9:15], (100, 2)]})
    row = compare_with_history(_today({"P": (100, 50)}), history, fdr=0.01, min_rise=0.05).row(
        0, named=True
    )
    assert row["history_days_left_out"] == 2 and row["history_days"] == 17
    assert row["baseline_share"] == pytest.approx(0.3) and row["dispersion"] == 1.0
    assert row["flagged"]
    # An ordinary night against the same history is not flagged.
    quiet = compare_with_history(_today({"P": (100, 33)}), history, fdr=0.01, min_rise=0.05)
    assert not quiet["flagged"].item()


def test_a_stable_history_leaves_almost_no_day_out_and_keeps_its_false_alarm_rate() -> None:
    """Ordinary binomial wobble, day to day volumes varying (300 nights of 28 history days):
    leaving days out of the baseline does not leave ordinary days out, nor raise the share of
    nights with a flag above the false discovery rate (9 in 2,000 both before and after)."""
    rng = np.random.default_rng(3)
    left_out = days = flagged = 0
    for _ in range(300):
        n = rng.poisson(60, 28)
        failures = rng.binomial(n, 0.2)
        history = _history({"P": list(zip(n.tolist(), failures.tolist(), strict=True))})
        row = compare_with_history(
            _today({"P": (60, int(rng.binomial(60, 0.2)))}), history, fdr=0.01, min_rise=0.0
        ).row(0, named=True)
        left_out += row["history_days_left_out"]
        days += row["history_days"]
        flagged += row["flagged"]
    # Three standard deviations leave out a day in a few hundred (0.3% of a normal's).
    assert left_out / days < 0.01
    assert flagged / 300 <= 0.01


def test_the_order_dates_are_run_in_does_not_change_their_early_warning(
    tmp_path: Path,
) -> None:
    """The baseline is read from the history's published counts, not from earlier dates'
    stored flags: the trial's incident days run oldest first, newest first (a backfill with
    --newest-first) and each alone give the same warnings, a flag on every day."""
    settings = Settings(data_dir=str(tmp_path))
    for i in range(21):
        day = TRIAL_START + timedelta(days=i)
        counts = _trial_counts(day).select("policy_code", "negatives", "failures").rows()
        rows = [_scored(day, policy, n, k) for policy, n, k in counts]
        _write(settings.marts_dir / "feedback_scored", day, pl.concat(rows))

    def warn(day: date) -> dict[str, object]:
        scored = pl.read_parquet(
            settings.marts_dir / "feedback_scored" / f"survey_date={day}" / "part-0.parquet"
        ).with_columns(pl.lit(day).alias("survey_date"))
        return early_warning(settings, day, scored, "v1", lambda f: f)

    oldest_first = {day: warn(day) for day in INCIDENT_DAYS}
    newest_first = {day: warn(day) for day in reversed(INCIDENT_DAYS)}
    alone = {INCIDENT_DAYS[-1]: warn(INCIDENT_DAYS[-1])}
    assert oldest_first == newest_first
    assert alone[INCIDENT_DAYS[-1]] == oldest_first[INCIDENT_DAYS[-1]]
    for day, warning in oldest_first.items():
        assert [f["policy_code"] for f in warning["flags"]] == ["INSTALL-WINDOW"], day  # type: ignore[index]


def test_a_flag_is_said_on_the_terminal_and_the_days_left_out_in_the_report(
    tmp_path: Path,
) -> None:
    """Found by trial 121: a backfill's flag was only in --json, the manifest and the report;
    `run` and `backfill` print one line per flagged policy after their table, worded as the
    report and the alert word it. The report's table says how many history days were left
    out of each baseline."""
    from servicelens.cli.console import early_warning_lines
    from servicelens.cli.sources import outcomes_text
    from servicelens.reporting.report import _early_warning, _Inputs

    settings = Settings(data_dir=str(tmp_path))
    for i in range(21):
        day = TRIAL_START + timedelta(days=i)
        counts = _trial_counts(day).select("policy_code", "negatives", "failures").rows()
        _write(
            settings.marts_dir / "feedback_scored",
            day,
            pl.concat([_scored(day, policy, n, k) for policy, n, k in counts]),
        )
    last = INCIDENT_DAYS[-1]
    scored = pl.read_parquet(
        settings.marts_dir / "feedback_scored" / f"survey_date={last}" / "part-0.parquet"
    ).with_columns(pl.lit(last).alias("survey_date"))
    warning = early_warning(settings, last, scored, "v1", lambda f: f)
    [flag] = warning["flags"]
    quiet = {**warning, "flags": []}
    rows = [
        {"day": str(last), "result": {"source": "fibre-sm", "early_warning": warning}},
        {"day": str(last - timedelta(1)), "result": {"source": "fibre-sm", "early_warning": quiet}},
        {"day": str(last), "result": {"early_warning": warning}},  # the sample's date
    ]
    assert early_warning_lines(rows) == [
        f"{last} fibre-sm: early warning: {flag_sentence(flag)}",
        f"{last}: early warning: {flag_sentence(flag)}",
    ]
    assert flag_sentence(flag).startswith(
        "INSTALL-WINDOW: 52% of 65 scored negatives were policy failures; normal range "
    )
    # `run`'s part for configured sources prints it after its table.
    said = outcomes_text(
        [
            {"source": "fibre-sm", "day": str(last), "outcome": "completed", "error": "", **r}
            for r in rows[:1]
        ],
        settings,
    ).splitlines()
    assert said[-1] == f"{last} fibre-sm: early warning: {flag_sentence(flag)}"
    inputs = _Inputs(
        settings, pl.DataFrame(), None, None, None, None, None, None, None,
        early_warnings={last: warning},
    )  # fmt: skip
    html = _early_warning(inputs)
    assert "<th>history_days_left_out</th>" in html
    install = next(p for p in warning["policies"] if p["policy_code"] == "INSTALL-WINDOW")
    assert install["history_days_left_out"] == 6


def _scored(day: date, policy: str, n: int, failures: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "response_id": [f"{day}-{policy}-{i}" for i in range(n)],
            "policy_code": [policy] * n,
            "is_negative": [True] * n,
            "comment": [f"comment {i}" for i in range(n)],
            "root_cause": ["policy_failure"] * failures + ["perceived"] * (n - failures),
            "p_policy_failure": [0.9] * failures + [0.2] * (n - failures),
            "model_version": ["v1"] * n,
        }
    )


def test_failure_counts_leave_unscored_rows_out() -> None:
    scored = pl.DataFrame(
        {
            "survey_date": [DAY] * 4,
            "policy_code": ["P", "P", "P", "Q"],
            "root_cause": ["policy_failure", "perceived", None, "perceived"],
        }
    )
    counts = failure_counts(scored).rows()
    assert counts == [(DAY, "P", 2, 1), (DAY, "Q", 1, 0)]


# --- a source without policy codes ----------------------------------------------------------


def _no_policy(days: list[tuple[int, int]]) -> pl.DataFrame:
    """History counts of a source that maps no policy_code (a Qualtrics export): one group,
    policy_code null, as failure_counts gives it."""
    return _history({"_": days}).with_columns(pl.lit(None, pl.String).alias("policy_code"))


def test_too_little_history_counts_the_days_in_control_not_the_days_left_out() -> None:
    """The baseline is pooled over the history days in control only: 8 days of history, 2
    of them an incident's (60% against 30%), is a baseline of 6 days, short of the 7 needed.
    It was tested, against 6 days, as if it had 8; now it says too little history, with the
    days in control and the days left out."""
    incident = _history({"DELIV": [(100, 30)] * 6 + [(100, 60)] * 2})
    result = compare_with_history(_today({"DELIV": (100, 55)}), incident, fdr=0.01, min_rise=0.05)
    [row] = result.iter_rows(named=True)
    assert (row["status"], row["history_days"], row["history_days_left_out"]) == (
        "too little history",
        8,
        2,
    )
    assert not row["flagged"] and row["baseline_share"] is None
    assert untested_reasons(result) == (
        "too little history (at most 6 days in control with scored negatives for a policy, "
        "2 more left out of its baseline as out of control; 7 needed)"
    )
    # 9 days, 2 left out: 7 in control, tested against them.
    [tested] = compare_with_history(
        _today({"DELIV": (100, 55)}),
        _history({"DELIV": [(100, 30)] * 7 + [(100, 60)] * 2}),
        fdr=0.01,
        min_rise=0.05,
    ).iter_rows(named=True)
    assert (tested["status"], tested["history_days_left_out"]) == ("tested", 2)
    assert tested["baseline_share"] == pytest.approx(0.3)


def _no_policy_today(negatives: int, failures: int) -> pl.DataFrame:
    return _today({"_": (negatives, failures)}).with_columns(
        pl.lit(None, pl.String).alias("policy_code")
    )


def test_responses_without_a_policy_code_are_tested_against_their_own_history() -> None:
    """Found by a new user's trial: a Qualtrics source (no policy_code mapped) with 35 days
    of history was "not tested: too little history", history_days 0, every night: history
    was matched with `policy_code == None`, which in polars matches nothing."""
    history = _no_policy([(100, 30)] * 35)
    [row] = compare_with_history(
        _no_policy_today(100, 55), history, fdr=0.01, min_rise=0.05
    ).iter_rows(named=True)
    assert row["policy_code"] is None
    assert (row["history_days"], row["history_negatives"]) == (35, 3_500)
    assert row["status"] == "tested" and row["baseline_share"] == pytest.approx(0.3)
    assert row["flagged"]
    # An ordinary night of the same source is tested too, and not flagged.
    [quiet] = compare_with_history(
        _no_policy_today(100, 31), history, fdr=0.01, min_rise=0.05
    ).iter_rows(named=True)
    assert quiet["status"] == "tested" and not quiet["flagged"]


def test_a_night_of_few_negatives_says_so_not_too_little_history() -> None:
    """The trial's source had under 20 negatives a day: that is why it cannot be tested, with
    the numbers, and its history is still counted."""
    result = compare_with_history(
        _no_policy_today(12, 9), _no_policy([(15, 5)] * 35), fdr=0.01, min_rise=0.05
    )
    [row] = result.iter_rows(named=True)
    assert row["status"] == "too few negatives today" and row["history_days"] == 35
    assert not row["flagged"]
    assert untested_reasons(result) == (
        "too few negatives today (at most 12 scored for a policy; 20 needed)"
    )
    # Short history and few negatives: both reasons, so neither promises a test on its own.
    [both] = compare_with_history(
        _no_policy_today(12, 9), _no_policy([(15, 5)] * 3), fdr=0.01, min_rise=0.05
    ).iter_rows(named=True)
    assert both["status"] == "too little history; too few negatives today"


def _scored_without_policy(day: date, n: int, failures: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "survey_date": [day] * n,
            "response_id": [f"{day}-{i}" for i in range(n)],
            "policy_code": pl.Series([None] * n, dtype=pl.String),
            "is_negative": [True] * n,
            "comment": [f"comment {i}" for i in range(n)],
            "root_cause": ["policy_failure"] * failures + ["perceived"] * (n - failures),
            "p_policy_failure": [0.9] * failures + [0.2] * (n - failures),
            "model_version": ["v1"] * n,
        }
    )


def test_a_source_without_policy_codes_is_flagged_with_comments_and_a_name(
    tmp_path: Path,
) -> None:
    """End to end over the marts on disk: the trial's 35 days, a rise on the last one."""
    settings = Settings(data_dir=str(tmp_path))
    for back in range(1, 36):
        day = DAY - timedelta(days=back)
        _write(settings.marts_dir / "feedback_scored", day, _scored_without_policy(day, 40, 12))
    warning = early_warning(settings, DAY, _scored_without_policy(DAY, 40, 32), "v1", lambda f: f)
    [policy] = warning["policies"]
    # The history window is early_warning_history_days (28) of the 35 on disk.
    assert policy["history_days"] == settings.early_warning_history_days
    assert warning["tested"] == 1 and warning["status"] == "1 flag(s)"
    [flag] = warning["flags"]
    assert flag["policy_code"] is None and len(flag["comments"]) == 3
    assert flag_sentence(flag).startswith("responses without a policy code: 80% of 40 ")
    assert describe_flags(warning).startswith("responses without a policy code failure share")
    # The report names the group too (a None in its list of flags was a TypeError).
    from servicelens.reporting.report import _early_warning, _Inputs

    inputs = _Inputs(
        settings, pl.DataFrame(), None, None, None, None, None, None, None,
        early_warnings={DAY: warning},
    )  # fmt: skip
    assert "<td>responses without a policy code</td>" in _early_warning(inputs)
    # A night under 20 negatives says so, with its numbers, in the manifest's status.
    few = early_warning(settings, DAY, _scored_without_policy(DAY, 12, 9), "v1", lambda f: f)
    assert few["status"] == (
        "not tested: too few negatives today (at most 12 scored for a policy; 20 needed)"
    )
    assert few["policies"][0]["history_days"] == settings.early_warning_history_days


# --- a champion change is not a rise ---------------------------------------------------------


def _negatives(day: date, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "response_id": [f"{day}-{i}" for i in range(n)],
            "policy_code": ["DELIV"] * n,
            "is_negative": [True] * n,
            "comment": [f"comment {i}" for i in range(n)],
        }
    )


def _write(table: Path, day: date, frame: pl.DataFrame) -> None:
    folder = table / f"survey_date={day}"
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "part-0.parquet")


def test_history_scored_by_an_older_champion_is_rescored_with_todays(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    # The old champion called every DELIV negative perceived; the new one calls 60% failures.
    for back in range(1, 11):
        day = DAY - timedelta(days=back)
        _write(settings.clean_dir, day, _negatives(day, 50))
        _write(
            settings.marts_dir / "feedback_scored",
            day,
            _negatives(day, 50).with_columns(
                pl.lit("perceived").alias("root_cause"), pl.lit("old").alias("model_version")
            ),
        )

    def new_champion(frame: pl.DataFrame) -> pl.DataFrame:
        failed = pl.int_range(pl.len()) % 5 < 3
        return frame.with_columns(
            pl.when(failed)
            .then(pl.lit("policy_failure"))
            .otherwise(pl.lit("perceived"))
            .alias("root_cause"),
            pl.lit(0.7).alias("p_policy_failure"),
        )

    today = new_champion(_negatives(DAY, 50)).with_columns(pl.lit(DAY).alias("survey_date"))
    warning = early_warning(settings, DAY, today, "new", new_champion)
    assert len(warning["history_rescored"]) == 10
    assert warning["tested"] == 1 and warning["flags"] == []
    [deliv] = warning["policies"]
    assert deliv["baseline_share"] == pytest.approx(0.6) and deliv["share"] == pytest.approx(0.6)
    # Compared with the old champion's counts, the same night would have read as a rise.
    naive = compare_with_history(
        failure_counts(today), _history({"DELIV": [(50, 0)] * 10}), fdr=0.01, min_rise=0.05
    )
    assert naive["flagged"].item()


def test_without_a_champion_nothing_is_tested(tmp_path: Path) -> None:
    warning = early_warning(Settings(data_dir=str(tmp_path)), DAY, _negatives(DAY, 5), None, None)
    assert warning["tested"] == 0 and warning["flags"] == []
    assert "no champion" in warning["status"]


def test_a_date_without_scored_negatives_says_why_it_is_not_tested(tmp_path: Path) -> None:
    """Found by a trial: a source's newest partition held only a quarantined row, and the
    report said "Early warning: ... 2026-12-01: not tested: " with nothing after it."""
    none = _negatives(DAY, 0).with_columns(
        pl.lit(None, pl.String).alias("root_cause"), pl.lit(DAY).alias("survey_date")
    )
    warning = early_warning(Settings(data_dir=str(tmp_path)), DAY, none, "v1", lambda f: f)
    assert warning["tested"] == 0
    assert warning["status"] == "not tested: no negative response was scored on this date"


def test_the_report_shows_the_newest_tested_date_past_an_untested_one(tmp_path: Path) -> None:
    """Found by a trial: a source's newest partition held only rows whose date could not be
    read (filed under their delivery's date), and the report's early warning said "not
    tested: " of it and nothing else. The newest tested date is shown, after a line on the
    newer one."""
    from servicelens.reporting.report import _early_warning, _Inputs, _NotAvailable

    policy = {
        "policy_code": "DELIV",
        "negatives": 50,
        "failures": 30,
        "share": 0.6,
        "normal_low": 0.5,
        "normal_high": 0.7,
        "baseline_share": 0.6,
        "history_days": 10,
        "p_adjusted": 0.9,
        "flagged": False,
        "status": "tested",
    }
    tested = {"tested": 1, "flags": [], "policies": [policy], "statement": "1 policy tested"}
    newer = DAY + timedelta(days=30)
    inputs = _Inputs(
        Settings(data_dir=str(tmp_path)), pl.DataFrame(), None, None, None, None, None, None,
        None, early_warnings={DAY: tested, newer: {"tested": 0, "status": "not tested: "}},
    )  # fmt: skip
    html = _early_warning(inputs)
    assert html.startswith(
        f"<p>{newer}: not tested: no negative response was scored on this date; the newest "
        f"date tested follows.</p><p>{DAY}: 1 policy tested</p>"
    )
    assert "<td>DELIV</td>" in html
    # With no date tested at all, the newest one's reason, never an empty one.
    inputs.early_warnings = {newer: {"tested": 0, "status": "not tested: "}}
    with pytest.raises(_NotAvailable, match=f"^{newer}: not tested: no negative response was"):
        _early_warning(inputs)
    # Found by an operator's trial: a newer partition that kept no row (scored before the
    # champion existed) is not the one that says why nothing was tested.
    inputs.early_warnings = {
        DAY: {"tested": 0, "status": "not tested: too little history", "kept": 17},
        newer: {"tested": 0, "status": "not tested: no champion model yet", "kept": 0},
    }
    with pytest.raises(_NotAvailable, match=f"^{DAY}: not tested: too little history$"):
        _early_warning(inputs)
    # Found by a QA lead's trial: a date scored before the champion was trained said "no
    # champion model yet" in a report naming the champion. It says when, and what scores it.
    inputs.champion = "v20261204T101500Z"
    inputs.early_warnings = {
        DAY: {"tested": 0, "status": "not tested: no champion model yet, so...", "kept": 9}
    }
    with pytest.raises(_NotAvailable) as said:
        _early_warning(inputs)
    assert str(said.value) == (
        f"{DAY}: not tested: scored before a champion existed; to score it with champion "
        f"v20261204T101500Z, run `servicelens backfill --start {DAY} --end {DAY} --rerun all`"
    )
