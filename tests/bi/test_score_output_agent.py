"""`servicelens score --output` names each row's agent as agent_outcomes does, so BI slices a
scored file by agent and joins it to the agents' weeks. Found comparing the score output's
columns with the marts': it had none, so a scored export could be read by queue and month
but not by agent without joining back to the file."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from servicelens.settings import Settings
from servicelens.storage.partitions import scan_table
from tests.bi.conftest import DEMO_DAYS, DEMO_START
from tests.sources.configured_run import run_configured_source

#: A ticket export with its agents' names, QA's verdict on every row (all negative).
DEFINITION = (
    'name = "acme-desk"\nnegative = "all"\npseudonymise_agents = true\n[columns]\n'
    'response_id = "Ticket"\nsubmitted_at = { column = "Opened", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "email" }\nagent_id = "Agent"\nqueue = "Team"\n'
    'comment = "Comment"\n[label]\ncolumn = "Verdict"\n[label.values]\n'
    '"fault" = "policy_failure"\n"as designed" = "perceived"\n'
)
FAILURES = ["the engineer never came", "charged a fee not in my contract", "line dead for days"]
PERCEIVED = ["the fee was in the contract I signed", "I wanted it faster than policy allows"]
AGENTS = ["Ana Lopez", "Ben Okafor", "Chen Wu", "Dora Nagy"]


def _export(rows: int = 240) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    failure = rng.random(rows) < 0.5
    return pl.DataFrame(
        {
            "Ticket": [f"K{i:05d}" for i in range(rows)],
            "Opened": [f"2026-03-{2 + i % 5:02d} 1{i % 8}:{i % 60:02d}" for i in range(rows)],
            "Agent": [AGENTS[i % len(AGENTS)] for i in range(rows)],
            "Team": rng.choice(["billing", "repairs"], rows).tolist(),
            "Comment": [str(rng.choice(FAILURES if f else PERCEIVED)) for f in failure],
            "Verdict": np.where(failure, "fault", "as designed").tolist(),
        }
    )


def test_a_configured_sources_scored_export_names_agent_outcomes_agents(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export's path: each row's agent is the pseudonym agent_outcomes gives its agent
    (never the name), one per agent, and every one joins to the agents' weeks there."""
    from servicelens.cli.main import main

    export = _export()
    data, read = run_configured_source(
        tmp_path, "acme-desk", DEFINITION, export.write_csv(), "--train"
    )
    capsys.readouterr()
    out = tmp_path / "scored.parquet"
    argv = ["--data-dir", str(data), "--json", "score", "--source", "acme-desk"]
    assert main([*argv, "--input", str(tmp_path / "acme-desk.csv"), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["agent_note"] is None

    scored = pl.read_parquet(out)
    assert scored.get_column("response_id").to_list() == export.get_column("Ticket").to_list()
    assert scored.get_column("agent").null_count() == 0
    assert not set(scored.get_column("agent")) & set(AGENTS)
    # One pseudonym per agent, row for row with the names the export gave.
    pairs = set(zip(export.get_column("Agent"), scored.get_column("agent"), strict=True))
    assert len(pairs) == len(AGENTS) == len({agent for _, agent in pairs})
    # BI's join: the scored rows by agent and week, to agent_outcomes' row of that week.
    joined = duckdb.sql(
        f"SELECT s.agent, count(*) AS scored, any_value(o.responses) AS responses "
        f"FROM read_parquet('{out}') AS s JOIN {read('marts/agent_outcomes')} AS o "
        "ON o.agent = s.agent AND s.survey_date BETWEEN o.week_start AND o.week_end "
        "GROUP BY ALL"
    ).fetchall()
    assert sorted(agent for agent, _, _ in joined) == sorted({agent for _, agent in pairs})
    # The whole export is one week (2-6 March 2026): each agent's responses are its rows.
    assert all(n == responses for _, n, responses in joined)


def test_an_export_that_records_no_agent_scores_with_agent_null_and_says_so(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    no_agent = DEFINITION.replace('agent_id = "Agent"\n', "")
    data, _ = run_configured_source(
        tmp_path, "acme-desk", no_agent, _export().write_csv(), "--train"
    )
    capsys.readouterr()
    out = tmp_path / "scored.parquet"
    export = tmp_path / "acme-desk.csv"
    argv = ["--data-dir", str(data), "score", "--source", "acme-desk"]
    assert main([*argv, "--input", str(export), "--output", str(out)]) == 0
    said = capsys.readouterr().out
    scored = pl.read_parquet(out)
    assert scored.schema["agent"] == pl.String and scored.get_column("agent").null_count() == 240
    assert f"agent: null on every row: no row of {export} names an agent" in said
    assert "map the export's agent column as agent_id in acme-desk's [columns]" in said


def test_a_sample_dates_scored_export_names_agent_outcomes_agents(
    demo_data: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample's raw-zone date: agents come from the date's interactions, as in the
    marts; each row's agent is agent_outcomes' pseudonym of the clean layer's agent id."""
    from servicelens.cli.main import main

    day = DEMO_START + timedelta(days=DEMO_DAYS - 1)
    out = tmp_path / "scored.parquet"
    export = demo_data.raw_day(day) / "surveys.csv"
    argv = ["--data-dir", str(demo_data.data_dir), "--json", "score", "--source", "sample"]
    assert main([*argv, "--input", str(export), "--output", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["agent_note"] is None

    scored = pl.read_parquet(out).select("response_id", "agent", "survey_date")
    clean = scan_table(demo_data.clean_dir, [day]).collect().select("response_id", "agent_id")
    both = scored.join(clean, on="response_id", how="inner")
    assert both.height == scored.height > 100
    assert both.get_column("agent").null_count() == both.get_column("agent_id").null_count()
    named = both.drop_nulls("agent_id")
    # One pseudonym per agent id, never the id itself.
    assert named.select("agent_id", "agent").unique().height == named.n_unique("agent_id")
    assert named.n_unique("agent") == named.n_unique("agent_id")
    assert not set(named.get_column("agent")) & set(named.get_column("agent_id"))
    outcomes = scan_table(demo_data.marts_dir / "agent_outcomes").collect()
    weeks = outcomes.select(pl.col("agent").alias("week_agent"), "week_start", "week_end")
    found = named.join_where(
        weeks.drop_nulls("week_agent"),
        pl.col("agent") == pl.col("week_agent"),
        pl.col("survey_date") >= pl.col("week_start"),
        pl.col("survey_date") <= pl.col("week_end"),
    )
    assert found.n_unique("response_id") == named.height
