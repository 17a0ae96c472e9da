"""The published contracts: described in one place, documented from it, checked on write."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from servicelens.reporting.dictionary import (
    DICTIONARY_PATH,
    contract_mismatches,
    render_data_dictionary,
)
from servicelens.reporting.report import build_report
from servicelens.settings import Settings
from servicelens.storage.partitions import write_partition
from transforms.marts import daily_summary, feedback_scored, reasons_column
from transforms.schemas import (
    CLEAN_RESPONSES_CONTRACT,
    CONTACTS_CONTRACT,
    DAILY_SUMMARY_CONTRACT,
    FEEDBACK_SCORED_CONTRACT,
    PROCESSED_DATES_CONTRACT,
    PUBLISHED_TABLES,
    conform,
)

#: The columns as first published (version 1). Contracts only grow, so each stays a prefix.
FIRST_PUBLISHED = {
    "feedback_scored": [
        "response_id",
        "interaction_id",
        "survey_date",
        "submitted_at",
        "channel",
        "queue",
        "policy_code",
        "language",
        "csat",
        "nps",
        "effort",
        "wait_seconds",
        "handle_seconds",
        "transfers",
        "prior_contacts",
        "comment",
        "is_negative",
        "root_cause",
        "p_policy_failure",
        "needs_review",
        "model_version",
    ],
    "daily_summary": [
        "survey_date",
        "queue",
        "policy_code",
        "channel",
        "responses",
        "negatives",
        "policy_failures",
        "perceived",
        "negative_share",
        "policy_failure_share",
        "mean_csat",
    ],
}


def _scored_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "response_id": ["r1", "r2", "r3"],
            "interaction_id": ["i1", "i2", "i3"],
            "survey_date": [date(2026, 10, 1)] * 3,
            "submitted_at": [datetime(2026, 10, 1, 9, tzinfo=UTC)] * 3,
            "channel": ["phone", "chat", "phone"],
            "queue": ["delivery"] * 3,
            "policy_code": ["DELIV-4H-WINDOW"] * 3,
            "language": ["en"] * 3,
            "csat": [1, 2, 5],
            "nps": [0, None, 9],
            "effort": [7, 6, 1],
            "wait_seconds": [30.0, 40.0, 50.0],
            "handle_seconds": [300.0, 1800.0, 200.0],
            "transfers": [3, 0, 0],
            "prior_contacts": [0, 0, 0],
            "comment": ["bounced around", "wanted a fixed time", "great"],
            "is_negative": [True, True, False],
            "root_cause": ["policy_failure", "perceived", None],
            "p_policy_failure": [0.9, 0.2, None],
            "needs_review": [False, False, None],
            "top_reasons": [["word: never came (+1.20)"], ["word: fixed time (-0.90)"], None],
            "repeat_contacts_30d": [2, 0, None],
        }
    )


@pytest.mark.parametrize("table", PUBLISHED_TABLES, ids=lambda t: t.name)
def test_every_column_is_described(table) -> None:  # type: ignore[no-untyped-def]
    assert list(table.descriptions) == list(table.schema)
    assert all(len(text) > 10 for text in table.descriptions.values())


@pytest.mark.parametrize("name", sorted(FIRST_PUBLISHED))
def test_contracts_only_grow(name: str) -> None:
    table = {t.name: t for t in PUBLISHED_TABLES}[name]
    first = FIRST_PUBLISHED[name]
    assert list(table.schema)[: len(first)] == first
    assert table.version is not None and table.version >= 2
    assert table.schema["schema_version"] == pl.Int32()
    assert len(table.history) == table.version


def test_mart_builders_stamp_the_contract_version() -> None:
    scored = feedback_scored(_scored_rows(), "m1")
    summary = conform(daily_summary(_scored_rows()), DAILY_SUMMARY_CONTRACT.schema)
    assert scored.get_column("schema_version").to_list() == [FEEDBACK_SCORED_CONTRACT.version] * 3
    assert summary.get_column("schema_version").unique().to_list() == [
        DAILY_SUMMARY_CONTRACT.version
    ]


def test_top_reasons_are_each_rows_slice_of_the_flat_reasons() -> None:
    """Row i's reasons are texts[offsets[i]:offsets[i + 1]], strongest first; a row with
    none has an empty list, as feedback_scored's List(String) column holds them."""
    texts = np.array(["transfers >= 3", "word 'refund'", "fee_excess > 0"], dtype=object)
    column = reasons_column(texts, np.array([0, 2, 2, 3]))
    assert column.dtype == pl.List(pl.String)
    assert column.to_list() == [["transfers >= 3", "word 'refund'"], [], ["fee_excess > 0"]]


def test_model_version_is_on_the_rows_a_model_scored_only() -> None:
    """Found by a user's trial: after `make demo`, 85,114 rows never scored (csat >= 3,
    root_cause null) named the champion's version, which the dictionary calls the "Version
    of the model that scored the row"."""
    scored = feedback_scored(_scored_rows(), "m1")
    assert scored.select("root_cause", "model_version").rows() == [
        ("policy_failure", "m1"),
        ("perceived", "m1"),
        (None, None),
    ]
    assert feedback_scored(_scored_rows(), None).get_column("model_version").null_count() == 3


def test_the_policy_failure_share_is_of_the_scored_negatives_and_null_without_a_model() -> None:
    """An operator's trial read a share of 0.0 ("0 % policy failures") for every source
    published before its first model: 0 failures of 2 unscored negatives is no share."""
    scored = _scored_rows()
    by_channel = {r["channel"]: r for r in daily_summary(scored).iter_rows(named=True)}
    assert by_channel["phone"]["policy_failure_share"] == 1.0  # r1 failure; r3 not negative
    assert by_channel["chat"]["policy_failure_share"] == 0.0  # r2 perceived
    unscored = scored.with_columns(pl.lit(None, pl.String).alias("root_cause"))
    summary = daily_summary(unscored)
    assert summary.get_column("negatives").to_list() == [1, 1]
    assert summary.get_column("policy_failure_share").to_list() == [None, None]
    # Nor are its counts 0 (a BI developer's trial read "0 policy failures" for a source
    # with no model yet); a group without negatives has none, scored or not.
    assert summary.get_column("policy_failures").to_list() == [None, None]
    assert summary.get_column("perceived").to_list() == [None, None]
    calm = daily_summary(unscored.filter(pl.col("response_id") == "r3"))
    assert calm.select("negatives", "policy_failures", "perceived").row(0) == (0, 0, 0)


def test_the_expected_share_sums_the_probabilities_of_the_scored_negatives() -> None:
    """Counting decisions at a threshold tuned for macro-F1 over- or under-counts a group
    (a data scientist's trial: CFPB's "mortgage" 0.015 counted, 0.053 true, 0.067 from the
    probabilities). Summing them estimates how many; a group with no scored negative, or
    with negatives and no model, has no estimate."""
    rows = _scored_rows().with_columns(
        pl.Series("channel", ["phone"] * 3),
        pl.Series("root_cause", ["policy_failure", "perceived", None]),
        pl.Series("p_policy_failure", [0.6, 0.3, None]),
    )
    summary = daily_summary(rows).row(0, named=True)
    assert summary["policy_failure_share"] == 0.5
    assert summary["expected_policy_failures"] == pytest.approx(0.9)
    assert summary["expected_policy_failure_share"] == pytest.approx(0.45)
    unscored = daily_summary(rows.with_columns(pl.lit(None, pl.String).alias("root_cause")))
    assert unscored.select("expected_policy_failures", "expected_policy_failure_share").row(0) == (
        None,
        None,
    )
    # A group no model scored a row of has no estimate either, negatives or not: a platform
    # engineer read sum(expected_policy_failures) 0.0 for a source with no model, its groups
    # without negatives holding 0 beside the unscored groups' nulls.
    calm = daily_summary(rows.filter(pl.col("response_id") == "r3")).row(0, named=True)
    assert (calm["expected_policy_failures"], calm["expected_policy_failure_share"]) == (None, None)
    whole_source = pl.concat(
        [
            daily_summary(rows.with_columns(pl.lit(None, pl.String).alias("root_cause"))),
            daily_summary(rows.filter(pl.col("response_id") == "r3")),
        ]
    )
    assert whole_source.get_column("expected_policy_failures").sum() == 0  # polars: nulls skip
    assert whole_source.get_column("expected_policy_failures").null_count() == whole_source.height


def test_the_negative_share_is_of_the_rated_responses_and_null_without_one() -> None:
    """An analyst's trial read a call-centre queue's negative share low by its unanswered
    calls (no rating: neither negative nor not), and 0.0 for a group of unrated responses."""
    rows = _scored_rows()
    unanswered = rows.head(2).with_columns(
        pl.Series("response_id", ["r4", "r5"]),
        pl.lit(None, pl.Int64).alias("csat"),
        pl.lit(None, pl.Boolean).alias("is_negative"),
        pl.lit(None, pl.String).alias("root_cause"),
        pl.Series("channel", ["phone", "email"]),
    )
    summary = daily_summary(pl.concat([rows, unanswered]))
    by_channel = {r["channel"]: r for r in summary.iter_rows(named=True)}
    phone = by_channel["phone"]  # r1 negative, r3 not, r4 unrated
    assert (phone["responses"], phone["rated"], phone["negatives"]) == (3, 2, 1)
    assert phone["negative_share"] == 0.5
    email = by_channel["email"]  # r5 alone, unrated
    assert (email["responses"], email["rated"], email["negative_share"]) == (1, 0, None)


def test_the_data_dictionary_is_generated_from_the_contracts() -> None:
    assert DICTIONARY_PATH.read_text() == render_data_dictionary(), (
        "docs/data_dictionary.md is stale: run `servicelens dictionary --write`"
    )
    for table in PUBLISHED_TABLES:
        for column in table.schema:
            assert f"| `{column}` |" in DICTIONARY_PATH.read_text()


def test_the_dictionary_documents_the_view_and_clean_tables_bi_reads() -> None:
    """A BI trial read processed_dates, clean/contacts and clean/responses with no column
    documented: each is a section of the dictionary, every column described."""
    text = render_data_dictionary()
    for table in (PROCESSED_DATES_CONTRACT, CLEAN_RESPONSES_CONTRACT, CONTACTS_CONTRACT):
        section = text.split(f"## `{table.name}`", 1)[1].split("\n## ", 1)[0]
        for column in table.schema:
            assert f"| `{column}` |" in section, (table.name, column)
        assert set(table.descriptions) == set(table.schema), table.name


def test_check_reads_the_clean_layer_against_its_contract(tmp_path: Path) -> None:
    """`dictionary --check` covers the clean tables BI reads: a partition whose columns
    differ from CLEAN_RESPONSE_SCHEMA is named with the backfill that rewrites it."""
    from transforms.schemas import CLEAN_RESPONSE_SCHEMA

    folder = tmp_path / "clean" / "responses" / "survey_date=2026-10-01"
    folder.mkdir(parents=True)
    good = pl.DataFrame(schema=CLEAN_RESPONSE_SCHEMA).drop("survey_date")
    good.write_parquet(folder / "part-0.parquet")
    assert contract_mismatches(tmp_path) == []
    good.drop("label").write_parquet(folder / "part-0.parquet")
    [problem] = contract_mismatches(tmp_path)
    assert "clean/responses/survey_date=2026-10-01/part-0.parquet: missing ['label']" in problem
    assert "backfill --start 2026-10-01 --end 2026-10-01 --rerun all" in problem


def test_writing_refuses_a_frame_that_breaks_the_contract(tmp_path: Path) -> None:
    broken = feedback_scored(_scored_rows(), "m1").with_columns(pl.lit("not a score").alias("csat"))
    with pytest.raises(pl.exceptions.InvalidOperationError):
        write_partition(
            broken,
            tmp_path / "marts" / "feedback_scored",
            date(2026, 10, 1),
            FEEDBACK_SCORED_CONTRACT.schema,
            {},
            tmp_path / ".staging",
        )
    assert not (tmp_path / "marts" / "feedback_scored" / "survey_date=2026-10-01").exists()


def test_files_on_disk_that_drift_from_the_contract_are_named(tmp_path: Path) -> None:
    good = write_partition(
        feedback_scored(_scored_rows(), "m1"),
        tmp_path / "marts" / "feedback_scored",
        date(2026, 10, 1),
        FEEDBACK_SCORED_CONTRACT.schema,
        {},
        tmp_path / ".staging",
    )
    assert contract_mismatches(tmp_path) == []
    # Someone rewrote a partition by hand with csat as text and without schema_version.
    drifted = pl.read_parquet(good / "part-0.parquet").with_columns(pl.col("csat").cast(pl.String))
    drifted.drop("schema_version").write_parquet(good / "part-0.parquet")
    [problem] = contract_mismatches(tmp_path)
    assert "survey_date=2026-10-01/part-0.parquet" in problem
    assert "schema_version" in problem and "csat is String" in problem


def test_the_report_says_what_is_missing_on_an_empty_data_dir(tmp_path: Path) -> None:
    report = build_report(Settings(data_dir=str(tmp_path)), run_id="empty-run")
    html = report.latest.read_text()
    assert report.latest.read_text() == report.path.read_text()
    assert set(report.missing) == {
        "Sources",
        "Volumes",
        "Perceived vs policy failure, over time",
        "Top policies of each kind",
        "Fix list: what to fix first, by owner",
        "Agents: handle time against first-contact resolution",
        "Early warning: failure shares against their history",
        "What QA audits next",
        "Data quality",
        "Model and baselines",
        "Calibration",
        "Confusion matrix and precision-recall",
        "Drift flags",
    }
    assert html.count("Not available:") == 13
    # Says what to do next, on its own data directory.
    assert f"servicelens --data-dir {tmp_path} backfill" in html


def test_a_data_file_its_manifest_does_not_describe_is_named_with_its_backfill(
    tmp_path: Path,
) -> None:
    """A data file of another size than its manifest records (on S3: a run stopped between
    the data's PUT and the manifest's) is named by `dictionary --check`, with the backfill
    that writes it again: a source's with its --source."""
    import json

    for root, source in ((tmp_path, ""), (tmp_path / "sources" / "acme", " --source acme")):
        written = write_partition(
            feedback_scored(_scored_rows(), "m1"),
            root / "marts" / "feedback_scored",
            date(2026, 10, 1),
            FEEDBACK_SCORED_CONTRACT.schema,
            {},
            tmp_path / ".staging",
        )
        assert contract_mismatches(tmp_path) == []
        manifest = written / "_manifest.json"
        described = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**described, "data_bytes": described["data_bytes"] + 1}))
        [problem] = contract_mismatches(tmp_path)
        assert problem == (
            f"{written / 'part-0.parquet'} holds {described['data_bytes']:,} bytes, its manifest "
            f"describes {described['data_bytes'] + 1:,} (a run stopped between writing the data "
            f"and its manifest); run the date again: `servicelens backfill{source} --start "
            "2026-10-01 --end 2026-10-01 --rerun all`"
        )
        manifest.write_text(json.dumps(described))
