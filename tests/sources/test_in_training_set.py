"""Rows whose label the champion trained on are marked and carry its out-of-fold scores.

Found by a data scientist's trial with the real CFPB complaints: feedback_scored scored the
labelled complaints with the final model, which had learned them (ROC-AUC 0.966 and
accuracy 0.906 in the mart against 0.743 on the training's time split), and the demo's
counts, the daily summary's shares and the review queue were built on those scores with no
column saying so."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from models.registry import champion_version, read_metadata
from tests.sources.configured_run import run_configured_source
from transforms.marts import IN_TRAINING_SET, feedback_scored, with_out_of_fold_scores
from transforms.schemas import FEEDBACK_SCORED_SCHEMA

NOTE = "trained on this label: P(policy_failure) "
IN_SAMPLE_NOTE = "trained on this label without a comment, so no out-of-fold probability: "


def _scored() -> pl.DataFrame:
    """Four responses as the champion scored them in-sample: two it trained on (r1, r2),
    one it never saw (r3), one not negative (r4)."""
    return pl.DataFrame(
        {
            "response_id": ["r1", "r2", "r3", "r4"],
            "p_policy_failure": [0.95, 0.10, 0.80, None],
            "root_cause": ["policy_failure", "perceived", "policy_failure", None],
            "needs_review": [False, False, False, None],
            "top_reasons": [["sla_met=0 (+0.74)"], ["fee_excess (-0.50)"], ["waited"], None],
        },
        schema_overrides={"top_reasons": pl.List(pl.String)},
    )


def test_trained_rows_take_the_out_of_fold_probability_and_the_rest_are_unchanged() -> None:
    out_of_fold = pl.DataFrame(
        {
            "response_id": ["r1", "r2", "r9"],
            "root_cause": ["perceived", "perceived", "perceived"],
            "p_out_of_fold": [0.40, 0.05, 0.99],
        }
    )
    scored = _scored()
    published = with_out_of_fold_scores(scored, out_of_fold, 0.5, (0.35, 0.65))
    assert published.get_column(IN_TRAINING_SET).to_list() == [True, True, False, None]
    assert published.get_column("p_policy_failure").to_list() == [0.40, 0.05, 0.80, None]
    # r1 flips: the out-of-fold probability is under the threshold, inside the band.
    assert published.get_column("root_cause").to_list() == [
        "perceived",
        "perceived",
        "policy_failure",
        None,
    ]
    assert published.get_column("needs_review").to_list() == [True, False, False, None]
    reasons = published.get_column("top_reasons").to_list()
    assert reasons[0] == [
        NOTE + "0.40 out-of-fold (0.95 from the model that learned it, whose reasons follow)",
        "sla_met=0 (+0.74)",
    ]
    assert reasons[1][0].startswith(NOTE + "0.05 ") and reasons[1][1:] == ["fee_excess (-0.50)"]
    assert reasons[2:] == [["waited"], None]
    # The row no model trained on is as it was scored.
    assert published.row(2) == (*scored.row(2), False)
    # The mart carries the column; a model with no out-of-fold file says nothing (null).
    mart = feedback_scored(
        with_out_of_fold_scores(scored, None, 0.5, (0.35, 0.65)).with_columns(
            pl.lit(None, dtype).alias(name)
            for name, dtype in FEEDBACK_SCORED_SCHEMA.items()
            if name not in scored.columns and name != IN_TRAINING_SET
        ),
        "v1",
    )
    assert mart.get_column(IN_TRAINING_SET).to_list() == [None] * 4
    assert mart.get_column("p_policy_failure").to_list() == [0.95, 0.10, 0.80, None]


def test_a_label_trained_on_without_a_comment_is_in_the_training_set_with_its_own_score() -> None:
    """Labels without text train every model but cross-validation scores none of them: they
    have no out-of-fold probability and read false, so NOT in_training_set still held
    in-sample scores (found reviewing the fix)."""
    out_of_fold = pl.DataFrame(
        {"response_id": ["r1"], "root_cause": ["perceived"], "p_out_of_fold": [0.40]}
    )
    scored = _scored()
    published = with_out_of_fold_scores(
        scored, out_of_fold, 0.5, (0.35, 0.65), facts_only=pl.Series(["r2", "r4"])
    )
    # r2, trained on without text, is in the training set with its scores as they were;
    # r4, not scored, stays null whatever the file says.
    assert published.get_column(IN_TRAINING_SET).to_list() == [True, True, False, None]
    assert published.get_column("p_policy_failure").to_list() == [0.40, 0.10, 0.80, None]
    assert published.get_column("root_cause").to_list()[1] == "perceived"
    assert published.get_column("top_reasons").to_list()[1] == [
        IN_SAMPLE_NOTE + "P(policy_failure) 0.10 and these reasons are from the model that "
        "learned it",
        "fee_excess (-0.50)",
    ]


#: An NPS survey export whose QA verdicts cover part of the negatives: the rest the
#: champion never saw.
DEFINITION = (
    'name = "pulse-verdicts"\nnegative = "nps"\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nqueue = "Queue"\nnps = "NPS"\n'
    'comment = "Comment"\n[label]\ncolumn = "Verdict"\n[label.values]\n'
    '"fault" = "policy_failure"\n"as designed" = "perceived"\n'
)
FAILURES = ["the engineer never came", "charged a fee not in my contract", "line dead for days"]
PERCEIVED = ["the fee was in the contract I signed", "I wanted it faster than policy allows"]


def _export(seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(720):
        negative = rng.random() < 0.6
        failure = negative and rng.random() < 0.45
        comment = rng.choice(FAILURES if failure else PERCEIVED) if negative else "fine thanks"
        comment += str(rng.choice(["", " awful", " again", " really"]))
        labelled = negative and rng.random() < 0.7
        records.append(
            {
                "ID": f"S{i:05d}",
                "At": f"2026-03-{2 + i % 6:02d} {9 + i % 8:02d}:{i % 60:02d}",
                "Queue": str(rng.choice(["billing", "repairs", "moves"])),
                "NPS": int(rng.integers(0, 7) if negative else rng.integers(7, 11)),
                "Comment": str(comment),
                "Verdict": ("fault" if failure else "as designed") if labelled else "",
            }
        )
    return pl.DataFrame(records)


def test_a_sources_marts_mark_the_rows_the_champion_trained_on(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    export = _export()
    data, read = run_configured_source(
        tmp_path, "pulse-verdicts", DEFINITION, export.write_csv(), "--train"
    )
    labelled = export.filter(pl.col("Verdict") != "")
    negatives = export.filter(pl.col("NPS") <= 6)
    # The run's summary says how many of its scores are of labels the model learned.
    assert (
        f"{labelled.height:,} of the {negatives.height:,} scored rows are labels the model "
        "trained on (in_training_set): they carry its out-of-fold scores, not fresh predictions"
    ) in capsys.readouterr().out.splitlines()
    backfill = ["--data-dir", str(data), "backfill", "--source", "pulse-verdicts"]
    assert main([*backfill, "--rerun", "all", "--start", "2026-03-02", "--end", "2026-03-07"]) == 0
    capsys.readouterr()
    models = data / "models" / "sources" / "pulse-verdicts"
    champion = champion_version(models)
    assert champion is not None
    threshold = read_metadata(models, champion)["decision"]["threshold"]
    oof = f"read_parquet('{models / champion / 'out_of_fold.parquet'}')"
    mart = read("marts/feedback_scored")

    counts = dict(
        duckdb.sql(
            f"SELECT coalesce(in_training_set::VARCHAR, 'null'), count(*) FROM {mart} GROUP BY ALL"
        ).fetchall()
    )
    assert counts == {
        "true": labelled.height,
        "false": negatives.height - labelled.height,
        "null": export.height - negatives.height,
    }
    # Every trained row carries its out-of-fold probability, the root cause at the
    # threshold from it, and a first reason that says so; the model version that trained.
    [(trained, same_p, same_cause, noted, versions)] = duckdb.sql(
        f"SELECT count(*), count(*) FILTER (WHERE s.p_policy_failure = o.p_out_of_fold), "
        f"count(*) FILTER (WHERE s.root_cause = CASE WHEN o.p_out_of_fold >= {threshold} "
        "THEN 'policy_failure' ELSE 'perceived' END), "
        f"count(*) FILTER (WHERE s.top_reasons[1] LIKE '{NOTE}%'), "
        f"list(DISTINCT s.model_version) FROM {mart} s JOIN {oof} o USING (response_id) "
        "WHERE s.in_training_set"
    ).fetchall()
    assert trained == same_p == same_cause == noted == labelled.height
    assert versions == [champion]
    # The rows the champion never saw are honest predictions, scored as before: no note,
    # in the out-of-fold file none of them.
    [(unseen, in_oof, noted)] = duckdb.sql(
        f"SELECT count(*), count(o.response_id), count(*) FILTER (WHERE "
        f"s.top_reasons[1] LIKE '{NOTE}%') FROM {mart} s LEFT JOIN {oof} o USING (response_id) "
        "WHERE NOT s.in_training_set"
    ).fetchall()
    assert (unseen, in_oof, noted) == (negatives.height - labelled.height, 0, 0)
    # The daily summary counts the root causes the mart shows.
    [(summary_failures, mart_failures)] = duckdb.sql(
        f"SELECT (SELECT sum(policy_failures) FROM {read('marts/daily_summary')}), "
        f"(SELECT count(*) FILTER (WHERE root_cause = 'policy_failure') FROM {mart})"
    ).fetchall()
    assert summary_failures == mart_failures
