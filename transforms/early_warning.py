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
  volume cannot make a trivial rise significant.

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
    ``min_history_days`` history days with a scored negative, default
    :data:`MIN_HISTORY_DAYS`), 'too few negatives today' (fewer than ``min_negatives`` scored
    today, default :data:`MIN_NEGATIVES`), or both joined by '; ' when both hold;
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
        short = found["history_days"] < min_history_days
        few = n < min_negatives
        if short:
            # Both reasons when both hold: one alone would promise a test that waits on more.
            reasons = ["too little history", *(["too few negatives today"] if few else [])]
            rows.append({**found, "status": "; ".join(reasons)})
            continue
        # Bounded away from 0 and 1 so a policy that never failed can still be tested.
        rate = min(max(float(past_k.sum()) / total, 0.5 / total), 1 - 0.5 / total)
        dispersion = _dispersion(past_n, past_k, rate)
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
    most = result.select(
        short.any().alias("short"),
        few.any().alias("few"),
        pl.col("history_days").filter(short).max().alias("history_days"),
        pl.col("negatives").filter(few).max().alias("negatives"),
    ).row(0, named=True)
    found = []
    if most["short"]:
        found.append(
            f"too little history (at most {most['history_days']} days with scored negatives "
            f"for a policy; {min_history_days} needed)"
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
        f"counts deflated by the history's day-to-day dispersion); Benjamini-Hochberg at a "
        f"false discovery rate of {fdr:.0%}: on a night when no policy really rose, the chance "
        f"of any flag is at most {fdr:.0%}, and when some did, at most {fdr:.0%} of the flags "
        f"are expected to be false. A flag also needs a rise of at least {min_rise * 100:.0f} "
        "percentage points."
    )
