"""Which model scored what: ``feedback_scored.model_version`` is on the rows a model scored
only, and what reads it (the weekly marts, processed_dates) still says which model ran a
week or date whose responses it had nothing to score in (the stages run directly)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from servicelens import stages
from servicelens.outcomes import publish_weekly_marts, week_of
from servicelens.reporting.analyst import connect_views
from servicelens.settings import Settings
from servicelens.storage.partitions import scan_table, write_partition
from servicelens.synthetic.generator import generate
from transforms.marts import without_scores
from transforms.schemas import CLEAN_RESPONSE_SCHEMA

START = date(2026, 10, 5)  # a Monday: the dates are one week
DAYS = [START + timedelta(days=i) for i in range(3)]


@pytest.fixture(scope="module")
def calm(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Dates a champion ('m1') ran whose clean rows hold no negative: nothing to score."""
    root = tmp_path_factory.mktemp("calm")
    generate(root, DAYS[0], DAYS[-1], 200, seed=4)
    settings = Settings(data_dir=str(root))
    for day in DAYS:
        validated = stages.validate_day(settings, day, "calm")
        stages.publish_clean(settings, validated, {"run_id": "calm"})
        kept = stages.load_clean(settings, day).filter(~pl.col("is_negative").fill_null(False))
        write_partition(
            kept, settings.clean_dir, day, CLEAN_RESPONSE_SCHEMA, {}, settings.staging_dir
        )
        stages.publish_marts(settings, day, without_scores(kept), "m1", {"run_id": "calm"})
    publish_weekly_marts(settings, DAYS, {"run_id": "calm"})
    return settings


def test_rows_no_model_scored_name_no_model(calm: Settings) -> None:
    scored = scan_table(calm.marts_dir / "feedback_scored").collect()
    assert scored.height > 0 and scored.get_column("root_cause").null_count() == scored.height
    assert scored.get_column("model_version").null_count() == scored.height


def test_the_manifests_still_say_which_model_ran_the_dates(calm: Settings) -> None:
    connection = connect_views(calm.root, calm.timezone)
    ran = connection.execute(
        "SELECT model_version, count(*), sum(negatives_scored) FROM processed_dates GROUP BY 1"
    ).fetchall()
    assert ran == [("m1", len(DAYS), 0)]


def test_a_week_with_nothing_to_score_counts_no_failure_by_the_model_that_ran_it(
    calm: Settings,
) -> None:
    """Its agents' policy failures are 0 of 0 negatives by the champion that ran the week
    (from the dates' manifests), not null as before any model existed."""
    agents = scan_table(calm.marts_dir / "agent_outcomes").collect()
    week = agents.filter(pl.col("survey_date") == week_of(START))
    assert week.get_column("model_version").unique().to_list() == ["m1"]
    # An agent none of whose contacts was surveyed has no count at all.
    surveyed = week.filter(pl.col("responses") > 0)
    assert surveyed.height > 0 and surveyed.get_column("negatives").sum() == 0
    assert surveyed.get_column("negatives_policy_failure").unique().to_list() == [0]
