"""Which agents and queues have real policy failures, for a source whose exports carry no
customer id (a telecom's SurveyMonkey surveys): through the real ``sources run --train`` and
``backfill --rerun all`` (real Prefect, real Parquet read back by DuckDB). Found by a QA
lead's trial: agents_whose_customers_come_back and handle_time_vs_resolution need customer
ids (every agent-week `no customer id`), policies_by_root_cause answers by policy, and the
two planted agents (0.64 against about 0.40) were found only with hand-written DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from tests.sources.configured_run import run_configured_source

#: NPS the negative rule, agents and queues named, no customer id, QA's verdict per row.
DEFINITION = (
    'name = "telco-pulse"\nnegative = "nps"\npseudonymise_agents = false\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nagent_id = "Agent"\nqueue = "Queue"\nnps = "NPS"\n'
    'comment = "Comment"\n[label]\ncolumn = "Verdict"\n[label.values]\n'
    '"fault" = "policy_failure"\n"as designed" = "perceived"\n'
)
FAILURES = ["the engineer never came", "charged a fee not in my contract", "line dead for days"]
PERCEIVED = ["the fee was in the contract I signed", "I wanted it faster than policy allows"]
AGENTS = [f"A{i}" for i in range(1, 9)]
PLANTED = {"A3", "A6"}  # their negatives are policy failures far more often
SMALL = "A9"  # a handful of negatives, every one a failure: not to be ranked first
QUEUES = ["billing", "repairs", "moves"]
PLANTED_QUEUE = "repairs"


def _export(seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(960):
        agent = str(rng.choice(AGENTS))
        queue = str(rng.choice(QUEUES))
        rows.append((agent, queue, rng.random() < 0.5))
    rows += [(SMALL, "billing", True)] * 4
    records = []
    for i, (agent, queue, negative) in enumerate(rows):
        p = 0.7 if agent in PLANTED or agent == SMALL else 0.6 if queue == PLANTED_QUEUE else 0.3
        failure = negative and (agent == SMALL or rng.random() < p)
        comment = rng.choice(FAILURES if failure else PERCEIVED) if negative else "fine thanks"
        records.append(
            {
                "ID": f"S{i:05d}",
                "At": f"2026-03-{2 + i % 6:02d} {9 + i % 8:02d}:{i % 60:02d}",
                "Agent": agent,
                "Queue": queue,
                "NPS": int(rng.integers(0, 7) if negative else rng.integers(7, 11)),
                "Comment": str(comment),
                "Verdict": ("fault" if failure else "as designed") if negative else "",
            }
        )
    return pl.DataFrame(records)


def test_agents_and_queues_rank_by_policy_failure_share_without_customer_ids(
    prefect_api: None, tmp_path: Path
) -> None:
    from servicelens.cli.main import main
    from servicelens.reporting.analyst import run_query

    data, read = run_configured_source(
        tmp_path, "telco-pulse", DEFINITION, _export().write_csv(), "--train"
    )
    backfill = ["--data-dir", str(data), "backfill", "--source", "telco-pulse", "--rerun", "all"]
    assert main([*backfill, "--start", "2026-03-02", "--end", "2026-03-07"]) == 0

    # The setting: no agent-week can be judged on first-contact resolution.
    assert duckdb.sql(f"SELECT DISTINCT status FROM {read('marts/agent_outcomes')}").fetchall() == [
        ("no customer id",)
    ]
    assert run_query(data, "agents_whose_customers_come_back") == []

    # The model's decisions per agent and queue, straight from the scored responses.
    scored = (
        f"{read('marts/feedback_scored')} AS s JOIN {read('clean/responses')} AS c "
        "USING (response_id) WHERE s.is_negative AND s.root_cause IS NOT NULL"
    )
    by_agent = {
        agent: (n, failures)
        for agent, n, failures in duckdb.sql(
            "SELECT c.agent_id, count(*), count(*) FILTER (WHERE s.root_cause = "
            f"'policy_failure') FROM {scored} GROUP BY ALL"
        ).fetchall()
    }
    agents = run_query(data, "agents_by_policy_failure_share")
    assert {r["agent"]: (r["scored_negatives"], r["policy_failures"]) for r in agents} == by_agent
    ranked = [r["agent"] for r in agents]
    assert set(ranked[:2]) == PLANTED and ranked[-1] == SMALL
    top, small = agents[0], agents[-1]
    assert top["policy_failure_share"] == pytest.approx(
        top["policy_failures"] / top["scored_negatives"], abs=0.0005
    )
    assert top["policy_failure_share"] > top["source_share"] + 0.15 and top["note"] is None
    # The small agent's share is the highest, and it is shown with its n, ranked last.
    assert small["policy_failure_share"] == 1.0 and small["scored_negatives"] == 4
    assert small["note"] == "too few scored negatives (4 of 20): do not rank"
    [(overall,)] = duckdb.sql(
        f"SELECT avg((s.root_cause = 'policy_failure')::INTEGER) FROM {scored}"
    ).fetchall()
    assert {r["source_share"] for r in agents} == {round(overall, 3)}

    by_queue = dict(
        duckdb.sql(
            "SELECT s.queue, count(*) FILTER (WHERE s.root_cause = 'policy_failure') "
            f"FROM {scored} GROUP BY ALL"
        ).fetchall()
    )
    queues = run_query(data, "queues_by_policy_failure_share")
    assert {r["queue"]: r["policy_failures"] for r in queues} == by_queue
    assert queues[0]["queue"] == PLANTED_QUEUE
    assert all(r["expected_policy_failure_share"] is not None for r in queues)
    assert sum(r["scored_negatives"] for r in queues) == sum(n for n, _ in by_agent.values())
