"""End to end through Prefect's real engine and API, into a temporary data directory."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from servicelens.settings import Settings
from servicelens.storage.partitions import read_manifest, scan_table
from tests.flows.conftest import END_TO_END_END, END_TO_END_START, end_to_end_demo
from transforms.schemas import (
    CLEAN_RESPONSE_SCHEMA,
    DAILY_SUMMARY_SCHEMA,
    FEEDBACK_SCORED_SCHEMA,
    QUARANTINE_SCHEMA,
)

START = END_TO_END_START
END = END_TO_END_END


def _without_partition(schema: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    return {k: v for k, v in schema.items() if k != "survey_date"}


@pytest.fixture(scope="module")
def demo_run(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    """The module's own copy of the end-to-end demo (built once a run: :func:`end_to_end_demo`),
    which its tests write to (a date re-run, a broken batch)."""
    return end_to_end_demo(tmp_path_factory, "e2e")


def test_every_row_read_is_kept_or_quarantined(demo_run: tuple[Settings, dict]) -> None:
    settings, result = demo_run
    for counts in result["ingested"]:
        day = date.fromisoformat(counts["day"])
        assert counts["surveys_read"] == counts["kept"] + counts["quarantined"]
        manifest = read_manifest(settings.clean_dir, day)
        assert manifest is not None
        assert manifest["counts"]["kept"] == counts["kept"]
        assert manifest["run_id"] not in (None, "local")
        assert all(len(sha) == 64 for sha in manifest["inputs"].values())
        quarantined = read_manifest(settings.quarantine_dir, day)
        assert quarantined is not None
        surveys_quarantined = (
            pl.read_parquet(settings.quarantine_dir / f"survey_date={day}" / "part-0.parquet")
            .filter(pl.col("feed") == "surveys")
            .height
        )
        assert surveys_quarantined == counts["quarantined"]


def test_the_demo_summary_adds_up_to_the_quarantine_mart_bi_reads(
    demo_run: tuple[Settings, dict],
) -> None:
    """Found by a QA lead's trial: the demo printed 5,690 quarantined and the quarantine
    mart held 5,799 rows, the other 109 interaction records the summary never named."""
    from servicelens.cli.main import rows_in_lines

    settings, result = demo_run
    [(surveys, interactions, superseded)] = duckdb.sql(
        "SELECT count(*) FILTER (feed = 'surveys'), count(*) FILTER (feed = 'interactions'), "
        "count(*) FILTER (feed = 'surveys' AND superseded) "
        f"FROM read_parquet('{settings.quarantine_dir}/*/*.parquet')"
    ).fetchall()
    assert interactions > 0  # the generated sample's interaction exports carry broken records
    assert superseded > 0  # and re-deliveries of some responses
    lines = rows_in_lines(result["ingested"])
    assert f"quarantined {surveys} (read = kept + quarantined: True)" in lines[0]
    # The split BI reads in the quarantine's superseded column (trial 83).
    assert lines[0].endswith(
        f"; of the quarantined, {superseded} superseded by a later line or "
        f"delivery, {surveys - superseded} rejected"
    )
    assert lines[1].startswith(f"interaction records: {interactions} of ")
    assert lines[1].endswith(f"(feed = 'interactions'), {surveys + interactions} rows in all")
    no_interactions = [{**r, "interactions_quarantined": 0} for r in result["ingested"]]
    assert len(rows_in_lines(no_interactions)) == 1


def test_marts_and_layers_match_their_contracts(demo_run: tuple[Settings, dict]) -> None:
    settings, _ = demo_run
    tables = {
        settings.marts_dir / "feedback_scored": FEEDBACK_SCORED_SCHEMA,
        settings.marts_dir / "daily_summary": DAILY_SUMMARY_SCHEMA,
        settings.quarantine_dir: QUARANTINE_SCHEMA,
        settings.clean_dir: CLEAN_RESPONSE_SCHEMA,
    }
    for table, schema in tables.items():
        files = sorted(table.glob("survey_date=*/part-0.parquet"))
        assert len(files) == (END - START).days + 1, table
        for file in files:
            assert dict(pl.read_parquet_schema(file)) == _without_partition(schema), file
        assert dict(scan_table(table).collect_schema()) == {
            **_without_partition(schema),
            "survey_date": pl.Date(),
        }


def test_negatives_are_scored_by_the_champion(demo_run: tuple[Settings, dict]) -> None:
    settings, result = demo_run
    scored = scan_table(settings.marts_dir / "feedback_scored").collect()
    negatives = scored.filter(pl.col("is_negative"))
    assert negatives.height > 0
    assert negatives.get_column("root_cause").null_count() == 0
    assert negatives.get_column("p_policy_failure").is_between(0, 1).all()
    assert scored.filter(~pl.col("is_negative")).get_column("root_cause").null_count() == (
        scored.height - negatives.height
    )
    # The champion is named on the rows it scored, and on no other (contract 7).
    by_scoring = scored.group_by(pl.col("root_cause").is_null().alias("unscored")).agg(
        pl.col("model_version").unique()
    )
    assert sorted(by_scoring.rows()) == [
        (False, [result["trained"]["version"]]),
        (True, [None]),
    ]
    assert scored.get_column("response_id").is_unique().all()
    trained = result["trained"]["metrics"]
    assert trained["model"]["accuracy"] > trained["majority_baseline"]["accuracy"]
    assert "oracle_vs_truth" in trained["against_truth"]


def test_duckdb_reads_the_marts(demo_run: tuple[Settings, dict]) -> None:
    settings, _ = demo_run
    glob = str(settings.marts_dir / "feedback_scored" / "*" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT root_cause, count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
        "GROUP BY 1 ORDER BY 1 NULLS LAST"
    ).fetchall()
    assert [r[0] for r in rows] == ["perceived", "policy_failure", None]
    summary = str(settings.marts_dir / "daily_summary" / "*" / "*.parquet")
    total = duckdb.sql(
        f"SELECT sum(responses) FROM read_parquet('{summary}', hive_partitioning=true)"
    ).fetchall()
    assert total[0][0] == sum(r[1] for r in rows)


def test_rerunning_a_date_replaces_its_partition(demo_run: tuple[Settings, dict]) -> None:
    from flows.pipeline import nightly

    settings, _ = demo_run
    before = scan_table(settings.marts_dir / "feedback_scored").collect()
    first_manifest = read_manifest(settings.marts_dir / "feedback_scored", END)
    nightly(END, settings)
    after = scan_table(settings.marts_dir / "feedback_scored").collect()
    assert after.height == before.height
    assert after.get_column("response_id").is_unique().all()
    second_manifest = read_manifest(settings.marts_dir / "feedback_scored", END)
    assert first_manifest is not None and second_manifest is not None
    assert second_manifest["run_id"] != first_manifest["run_id"]
    # The review queue's manifest has the marts' counts too (a trial's said "scored": 0).
    queue_manifest = read_manifest(settings.marts_dir / "review_queue", END)
    assert queue_manifest is not None
    assert queue_manifest["counts"]["scored"] == second_manifest["counts"]["scored"] > 0
    staging = Path(settings.staging_dir)
    assert not list(staging.glob("new-*")) and not list(staging.glob("old-*"))
    # Frames staged between tasks go when their run ends (the demo's and the re-run's).
    assert not list(staging.glob("runs/*/*"))


def test_a_broken_batch_fails_its_date_and_keeps_the_previous_output(
    demo_run: tuple[Settings, dict],
) -> None:
    from flows.pipeline import nightly
    from servicelens.stages import BatchError

    settings, _ = demo_run
    day = START
    before = read_manifest(settings.clean_dir, day)
    surveys = settings.raw_day(day) / "surveys.csv"
    original = surveys.read_bytes()
    try:
        # The vendor renamed a required column.
        surveys.write_bytes(original.replace(b"csat,", b"satisfaction,", 1))
        with pytest.raises(BatchError, match=r"surveys\.csv: line 1 \(header\).*csat"):
            nightly(day, settings)
    finally:
        surveys.write_bytes(original)
    assert read_manifest(settings.clean_dir, day) == before


def test_the_demo_marks_the_audited_rows_its_champion_trained_on(
    demo_run: tuple[Settings, dict],
) -> None:
    """Found by a data scientist's trial: the marts scored the audited responses the
    champion had learned in-sample (CFPB's: ROC-AUC 0.966 in the mart, 0.743 on the time
    split), and the demo's counts and shares were built on them with nothing to say so."""
    from servicelens.cli.main import _demo_summary

    settings, result = demo_run
    versions = {r["model_version"] for r in result["published"]}
    assert len(versions) == 1
    [version] = versions
    oof = f"read_parquet('{settings.models_dir / version / 'out_of_fold.parquet'}')"
    mart = (
        f"read_parquet('{settings.marts_dir}/feedback_scored/*/*.parquet', "
        "hive_partitioning = true, union_by_name = true)"
    )
    [(trained, held_out, unseen, unseen_in_oof, unscored)] = duckdb.sql(
        "SELECT count(*) FILTER (WHERE s.in_training_set), "
        "count(*) FILTER (WHERE s.in_training_set AND s.p_policy_failure = o.p_out_of_fold), "
        "count(*) FILTER (WHERE NOT s.in_training_set), "
        "count(o.response_id) FILTER (WHERE NOT s.in_training_set), "
        "count(*) FILTER (WHERE s.in_training_set IS NULL AND s.root_cause IS NOT NULL) "
        f"FROM {mart} s LEFT JOIN {oof} o USING (response_id)"
    ).fetchall()
    # The audits of the demo's dates trained the champion that scored them again.
    assert trained > 0 and held_out == trained
    assert unseen > 0 and unseen_in_oof == 0 and unscored == 0
    assert sum(r["in_training_set"] for r in result["published"]) == trained
    scored = sum(r["scored"] for r in result["published"])
    assert (
        f"{trained:,} of the {scored:,} scored rows are labels the model trained on "
        "(in_training_set): they carry its out-of-fold scores, not fresh predictions"
    ) in _demo_summary(result, settings).splitlines()
