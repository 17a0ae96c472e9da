"""The agents' perceived negatives, named for what they are and with the policy most of them
are about, through agent_outcomes' real Parquet partitions read back by DuckDB's analyst
queries. Found by trial 121 (a broadband head of operations): a billing agent who took the
calls about an explained price rise had 74 and 88 negatives a week, none a failure, shown as
"the rest"/"other" and read as the worst agent; nothing in the marts said they were all one
policy's."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from servicelens.storage.partitions import write_partition
from tests.bi.test_report_agents import _with_scored_marts
from tests.unit.test_agents import _billing_week
from transforms.agents import agent_outcomes
from transforms.schemas import AGENT_OUTCOMES_SCHEMA

WEEKS = (date(2026, 11, 16), date(2026, 11, 23))


def test_agents_by_policy_failure_share_names_each_agents_perceived_policy(
    tmp_path: Path,
) -> None:
    from servicelens.reporting.analyst import run_query

    settings = _with_scored_marts(tmp_path)
    contacts, responses = _billing_week(settled=True)
    for monday in WEEKS:
        rows = agent_outcomes(
            contacts,
            responses,
            monday,
            key=None,
            min_contacts=20,
            window_days=7,
            model_version="m1",
        ).with_columns(pl.lit("sample").alias("source"))
        write_partition(
            rows,
            settings.marts_dir / "agent_outcomes",
            monday,
            AGENT_OUTCOMES_SCHEMA,
            {"week": monday.isoformat(), "period_end": str(monday + timedelta(days=6))},
            settings.staging_dir,
        )
    ranked = run_query(settings.root, "agents_by_policy_failure_share")
    agents = {row["agent"]: row for row in ranked}
    pshah, bwong, dfletcher = agents["pshah"], agents["bwong"], agents["dfletcher"]
    # pshah: 24 perceived negatives over the two weeks, every one about the price rise.
    assert (pshah["policy_failures"], pshah["perceived"]) == (0, 24)
    assert (pshah["top_perceived_policy"], pshah["top_perceived_policy_share"]) == (
        "BILL-PRICE",
        1.0,
    )
    assert (bwong["top_perceived_policy"], bwong["top_perceived_policy_share"]) == (
        "BILL-DD-DATE",
        round(4 / 6, 3),
    )
    # The agent with the failures still ranks first, well above the source's share.
    assert next(iter(agents)) == "dfletcher"
    assert dfletcher["policy_failure_share"] == round(16 / 24, 3)
    assert dfletcher["source_share"] == round(16 / (24 + 6 + 24), 3)
    assert dfletcher["top_perceived_policy"] == "INSTALL-WINDOW"
    # handle_time_vs_resolution names the column for what it holds.
    [band] = run_query(settings.root, "handle_time_vs_resolution")
    assert (band["negatives_policy_failure"], band["negatives_perceived"]) == (16, 38)
