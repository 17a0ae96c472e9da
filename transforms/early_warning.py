"""Early warning: has a policy's failure share really risen against its own recent history?

Each night, for every policy, the share of scored negatives the model called a policy
failure is tested against the policy's share over the days before (pure functions over
counts; the tests are scipy's):

* one-sided exact binomial test (``scipy.stats.binomtest``): today's failures out of today's
  scored negatives against the pooled history rate;
* days vary more than a binomial would (weekdays, campaigns): the history's dispersion
  (Pearson chi-square over its days, divided by their degrees of freedom, at least 1) deflates
  today's counts before the test, the usual quasi-binomial correction, so an ordinary wobble
  is not a flag;
* many policies are tested every night, so the p-values are adjusted with Benjamini-Hochberg
  (``scipy.stats.false_discovery_control``) at the false discovery rate ``fdr``: on a night
  when no policy really rose, the chance of any flag at all is at most ``fdr``; when some did,
  at most that share of the flags is expected to be false;
* a flag also needs the share to be at least ``min_rise`` above the history rate, so a large
  volume cannot make a trivial rise significant;
* the history rate and its dispersion are estimated from in-control days only, as a control
  chart's limits are (Montgomery, *Introduction to Statistical Quality Control*, Phase I
  and Phase II of control chart application: limits are estimated from a period in
  control, days out of control are left out and the limits recomputed, then Phase II
  monitors new days against them). A history day whose failure share lies beyond
  :data:`BASELINE_LIMIT` robust standard deviations of the history's median share is left
  out (:func:`in_control_days`): without that an incident's own days entered the history,
  raised its rate and inflated its dispersion, and a trial's incident (52-66% against
  15%) became its own "normal" on its third day. The rule reads the history's counts
  alone, never an earlier date's stored flags, so a date's result does not depend on the
  order dates are run in (a backfill newest first, or one date alone).

Counts must all come from one model: the caller re-scores history that an older champion
scored, so a new champion's different threshold is never read as a rise.

Responses without a policy code (a source that maps no ``policy_code``, a Qualtrics export
say) are one group of their own, ``policy_code`` null: their failure share is the source's
whole among the negatives without a code, tested against the same group's history like any
policy, and named :data:`transforms.schemas.NO_POLICY` wherever a person reads it.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from transforms.schemas import POSITIVE_CLASS, group_keys

#: A policy is tested only with at least this many days of history...
MIN_HISTORY_DAYS = 7
#: ...and this many scored negatives today.
MIN_NEGATIVES = 20
#: The normal range is the central interval of today's share expected from history.
NORMAL_RANGE = 0.95
#: A history day beyond this many robust standard deviations of the history's median share
#: is left out of the baseline: the three-sigma limits of a Shewhart control chart.
BASELINE_LIMIT = 3.0

#: What :func:`failure_counts` returns (before any group keys).
FAILURE_COUNT_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "policy_code": pl.String(),
    "negatives": pl.Int64(),
    "failures": pl.Int64(),
}

EARLY_WARNING_COLUMNS: dict[str, pl.DataType] = {
    "policy_code": pl.String(),
    "negatives": pl.Int64(),
    "failures": pl.Int64(),
    "share": pl.Float64(),
    "baseline_share": pl.Float64(),
    "normal_low": pl.Float64(),
    "normal_high": pl.Float64(),
    "history_days": pl.Int64(),
    "history_negatives": pl.Int64(),
    "history_days_left_out": pl.Int64(),
    "dispersion": pl.Float64(),
    "p_value": pl.Float64(),
    "p_adjusted": pl.Float64(),
    "flagged": pl.Boolean(),
    "status": pl.String(),
}


def failure_counts(scored: pl.DataFrame) -> pl.DataFrame:
    """Scored negatives and policy failures per survey date and policy.

    ``scored`` needs ``survey_date``, ``policy_code`` and ``root_cause`` (null = not scored,
    left out), and may carry the mart group keys. Output: the keys, ``survey_date``,
    ``policy_code``, ``negatives``, ``failures`` (Int64).
    """
    keys = [*group_keys(scored.columns), "survey_date", "policy_code"]
    return (
        scored.filter(pl.col("root_cause").is_not_null())
        .group_by(keys)
        .agg(
            pl.len().cast(pl.Int64).alias("negatives"),
            (pl.col("root_cause") == POSITIVE_CLASS).sum().cast(pl.Int64).alias("failures"),
        )
        .sort(keys)
    )


def _dispersion(negatives: np.ndarray, failures: np.ndarray, rate: float) -> float:
    """Pearson chi-square of the history days around their pooled rate, per degree of
    freedom; 1 (binomial) or more."""
    if len(negatives) < 2 or rate <= 0 or rate >= 1:
        return 1.0
    expected = negatives * rate
    chi_square = float(np.sum((failures - expected) ** 2 / (expected * (1 - rate))))
    return max(1.0, chi_square / (len(negatives) - 1))


def _pooled(negatives: np.ndarray, failures: np.ndarray) -> tuple[float, float]:
    """The pooled failure rate of some days, bounded away from 0 and 1 so a policy that never
    failed can still be tested, and their dispersion around it."""
    total = int(negatives.sum())
    rate = min(max(float(failures.sum()) / total, 0.5 / total), 1 - 0.5 / total)
    return rate, _dispersion(negatives, failures, rate)


def in_control_days(negatives: np.ndarray, failures: np.ndarray) -> np.ndarray:
    """Which history days are in control, the days a baseline is estimated from (Phase I of
    a control chart, Montgomery, *Introduction to Statistical Quality Control*: trial limits
    from the history, days beyond them left out, the limits recomputed from the rest until
    every day left in lies within them).

    ``negatives``, ``failures``: one policy's scored negatives and policy failures per history
    day (equal-length integer arrays, ``negatives`` > 0). Returns a boolean array of the same
    length, False for a day left out; a day is left out beyond either limit, as Phase I
    leaves out points beyond either.

    First, robust trial limits, so an incident on up to half of the history cannot widen
    the limits that should leave it out: each day's Pearson residual against the median daily
    share ``m``, ``(failures - negatives * m) / sqrt(negatives * m * (1 - m))``, more than
    :data:`BASELINE_LIMIT` robust standard deviations from the residuals' median (the median
    absolute deviation scaled to a normal's standard deviation,
    ``scipy.stats.median_abs_deviation(scale="normal")``: the Hampel identifier) is out; the
    robust standard deviation is at least 1, the binomial's own, so near-identical days do
    not leave out an ordinary one. The median absolute deviation of a history a quarter of
    whose days are an incident's is itself inflated (a trial's incident day at 43% stayed in
    on it alone), so then, as Phase I recomputes its limits, the day left in furthest from
    the others is judged against the rate and dispersion pooled over the other days left in
    (its own count would widen its own limits), and left out beyond :data:`BASELINE_LIMIT`
    standard deviations, dispersion included; until none is. A day left out never comes
    back in. With fewer than 3 days nothing is left out, and 2 days always stay in.
    """
    days = len(negatives)
    kept = np.ones(days, dtype=bool)
    if days < 3:
        return kept
    total = int(negatives.sum())
    median = min(max(float(np.median(failures / negatives)), 0.5 / total), 1 - 0.5 / total)
    residuals = (failures - negatives * median) / np.sqrt(negatives * median * (1 - median))
    spread = max(1.0, float(stats.median_abs_deviation(residuals, scale="normal")))
    kept = np.abs(residuals - np.median(residuals)) <= BASELINE_LIMIT * spread
    while kept.sum() > 2:
        worst, furthest = -1, BASELINE_LIMIT
        for day in np.flatnonzero(kept):
            others = kept.copy()
            others[day] = False
            rate, dispersion = _pooled(negatives[others], failures[others])
            sd = np.sqrt(negatives[day] * rate * (1 - rate) * dispersion)
            distance = abs(float(failures[day] - negatives[day] * rate)) / float(sd)
            if distance > furthest:
                worst, furthest = int(day), distance
        if worst < 0:
            break
        kept[worst] = False
    return kept


def compare_with_history(
    today: pl.DataFrame,
    history: pl.DataFrame,
    *,
    fdr: float,
    min_rise: float,
    min_history_days: int = MIN_HISTORY_DAYS,
    min_negatives: int = MIN_NEGATIVES,
) -> pl.DataFrame:
    """Test each policy of ``today`` against its ``history`` (both :func:`failure_counts`).

    One row per policy of today (:data:`EARLY_WARNING_COLUMNS`, plus any group keys), the
    responses without a policy code (``policy_code`` null) one group against the history's
    null group: ``status`` is 'tested', or why not: 'too little history' (fewer than
    ``min_history_days`` history days with a scored negative in control, the days the
    baseline is pooled over, default :data:`MIN_HISTORY_DAYS`), 'too few negatives today'
    (fewer than ``min_negatives`` scored
    today, default :data:`MIN_NEGATIVES`), or both joined by '; ' when both hold;
    ``baseline_share`` and ``dispersion`` are pooled over the history days in control
    (:func:`in_control_days`), ``history_days_left_out`` counts the others (``history_days``
    and ``history_negatives`` count the whole history);
    ``normal_low``/``normal_high`` bound the share today's volume gives 95% of the time at
    the history rate (dispersion included); ``p_adjusted`` is Benjamini-Hochberg over the
    policies tested (per source); ``flagged`` needs ``p_adjusted <= fdr`` and a share at
    least ``min_rise`` above ``baseline_share``.
    """
    keys = group_keys(today.columns)
    # A date without history (the first, or none published yet) has no group keys to match.
    history = history.with_columns(
        pl.lit(None, pl.String).alias(k) for k in keys if k not in history.columns
    )
    rows = []
    for row in today.iter_rows(named=True):
        # eq_missing: a null key (no policy code, no source) matches the history's nulls;
        # `==` never would (a null compares as null), and a source without policy codes was
        # always "too little history" (a new user's Qualtrics trial, 35 days of it).
        mine = history.filter(
            pl.all_horizontal(
                [pl.col(k).eq_missing(pl.lit(row[k], pl.String)) for k in [*keys, "policy_code"]]
            )
        )
        n, k = int(row["negatives"]), int(row["failures"])
        past_n = mine.get_column("negatives").to_numpy()
        past_k = mine.get_column("failures").to_numpy()
        total = int(past_n.sum())
        found = {
            **{key: row[key] for key in [*keys, "policy_code"]},
            "negatives": n,
            "failures": k,
            "share": k / n if n else None,
            "history_days": int((past_n > 0).sum()),
            "history_negatives": total,
        }
        # Phase I: the baseline is pooled over the in-control days only, so it is those that
        # must be enough: a history of 8 days 2 of them an incident's is a baseline of 6.
        scored = past_n > 0
        kept = in_control_days(past_n[scored], past_k[scored])
        found["history_days_left_out"] = int((~kept).sum())
        short = int(kept.sum()) < min_history_days
        few = n < min_negatives
        if short:
            # Both reasons when both hold: one alone would promise a test that waits on more.
            reasons = ["too little history", *(["too few negatives today"] if few else [])]
            rows.append({**found, "status": "; ".join(reasons)})
            continue
        rate, dispersion = _pooled(past_n[scored][kept], past_k[scored][kept])
        n_eff = max(1, round(n / dispersion))
        low, high = stats.binom.interval(NORMAL_RANGE, n_eff, rate)
        found |= {
            "baseline_share": rate,
            "dispersion": dispersion,
            "normal_low": float(low) / n_eff,
            "normal_high": float(high) / n_eff,
        }
        if few:
            rows.append({**found, "status": "too few negatives today"})
            continue
        k_eff = min(n_eff, round(k / dispersion))
        test = stats.binomtest(k_eff, n_eff, rate, alternative="greater")
        rows.append({**found, "p_value": float(test.pvalue), "status": "tested"})
    result = pl.DataFrame(
        rows, schema={**{key: today.schema[key] for key in keys}, **EARLY_WARNING_COLUMNS}
    )
    adjusted = []
    for _, group in result.with_row_index("_row").group_by(keys or pl.lit(0)):
        tested = group.filter(pl.col("status") == "tested")
        if tested.height:
            p = stats.false_discovery_control(tested.get_column("p_value").to_numpy(), method="bh")
            adjusted.append(tested.select("_row", pl.Series("_adjusted", p)))
    if adjusted:
        result = (
            result.with_row_index("_row")
            .join(pl.concat(adjusted), on="_row", how="left")
            .with_columns(pl.col("_adjusted").alias("p_adjusted"))
            .drop("_row", "_adjusted")
        )
    return result.with_columns(
        ((pl.col("p_adjusted") <= fdr) & (pl.col("share") - pl.col("baseline_share") >= min_rise))
        .fill_null(False)
        .alias("flagged")
    )


def untested_reasons(
    result: pl.DataFrame,
    *,
    min_history_days: int = MIN_HISTORY_DAYS,
    min_negatives: int = MIN_NEGATIVES,
) -> str:
    """Why the policies of ``result`` (:func:`compare_with_history`) were not tested, each
    reason once with the numbers behind it, e.g. 'too few negatives today (at most 12 scored
    for a policy; 20 needed)'. The thresholds are the ones ``result`` was computed with
    (defaults :data:`MIN_HISTORY_DAYS` days, :data:`MIN_NEGATIVES` negatives). Empty when
    every policy was tested or there is none."""
    status = pl.col("status")
    short, few = status.str.contains("too little history"), status.str.contains("too few")
    left_out = pl.col("history_days_left_out").fill_null(0)
    most = result.select(
        few.any().alias("few"),
        pl.col("negatives").filter(few).max().alias("negatives"),
    ).row(0, named=True)
    # The short policy with the most days in control (then the most left out), said with the
    # days left out: a policy with 9 days of history, 3 of them out of control, would
    # otherwise read as short of days it has.
    longest = (
        result.filter(short)
        .select((pl.col("history_days") - left_out).alias("in_control"), left_out.alias("out"))
        .sort("in_control", "out", descending=True)
        .head(1)
        .rows(named=True)
    )
    found = []
    if longest:
        days, out = longest[0]["in_control"], longest[0]["out"]
        left = f", {out} more left out of its baseline as out of control" if out else ""
        found.append(
            f"too little history (at most {days} days in control with scored negatives for a "
            f"policy{left}; {min_history_days} needed)"
        )
    if most["few"]:
        found.append(
            f"too few negatives today (at most {most['negatives']} scored for a policy; "
            f"{min_negatives} needed)"
        )
    return "; ".join(found)


def false_alarm_statement(fdr: float, tested: int, min_rise: float) -> str:
    """How the false-alarm rate is controlled, in words, for the report and the alert."""
    return (
        f"{tested} policies tested against their own history (one-sided exact binomial test, "
        "counts deflated by the history's day-to-day dispersion, history days out of control "
        f"left out of the baseline); Benjamini-Hochberg at a "
        f"false discovery rate of {fdr:.0%}: on a night when no policy really rose, the chance "
        f"of any flag is at most {fdr:.0%}, and when some did, at most {fdr:.0%} of the flags "
        f"are expected to be false. A flag also needs a rise of at least {min_rise * 100:.0f} "
        "percentage points."
    )
