"""daily_summary's mean_csat rolled up across groups and dates through the real
``sources run`` (real Prefect, real Parquet read back by DuckDB), for a source whose negative
rule is not csat: weighted by csat_responses it is feedback_scored's avg(csat) (found by a BI
analyst's trial: weighting by rated or responses, the only counts there were, is not)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from servicelens.ingest.configured import register_source
from servicelens.settings import Settings
from tests.sources.configured_run import run_configured_source

#: A pulse survey: csat optional, NPS the negative rule (detractors, 0-6).
DEFINITION = (
    'name = "pulse"\nnegative = "nps"\n[columns]\nresponse_id = "ID"\n'
    'submitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\nchannel = "Channel"\n'
    'csat = { column = "CSAT", required = false }\nnps = "NPS"\n'
)
#: Rows with a csat and no nps, an nps and no csat, and both, over two dates and channels.
EXPORT = """ID,At,Channel,CSAT,NPS
P1,2026-03-02 09:00,phone,5,9
P2,2026-03-02 09:10,phone,1,2
P3,2026-03-02 09:20,phone,,8
P4,2026-03-02 09:30,chat,2,
P5,2026-03-02 09:40,chat,,3
P6,2026-03-03 10:00,phone,4,
P7,2026-03-03 10:10,phone,3,10
P8,2026-03-03 10:20,chat,,0
"""


def test_mean_csat_rolls_up_by_csat_responses(prefect_api: None, tmp_path: Path) -> None:
    from servicelens.cli.main import main

    data = tmp_path / "data"
    definition = tmp_path / "pulse.toml"
    definition.write_text(DEFINITION)
    register_source(Settings(data_dir=str(data)), str(definition))
    export = tmp_path / "pulse.csv"
    export.write_text(EXPORT)
    assert main(["--data-dir", str(data), "sources", "run", "pulse", str(export)]) == 0
    marts = data / "sources" / "pulse" / "marts"

    def read(table: str) -> str:
        return (
            f"read_parquet('{marts}/{table}/*/*.parquet', hive_partitioning = true, "
            "union_by_name = true)"
        )

    [(mean, rated)] = duckdb.sql(
        "SELECT sum(mean_csat * csat_responses) / sum(csat_responses), "
        f"sum(mean_csat * rated) / sum(rated) FROM {read('daily_summary')} "
        "WHERE csat_responses > 0"
    ).fetchall()
    [(expected, with_csat)] = duckdb.sql(
        f"SELECT avg(csat), count(csat) FROM {read('feedback_scored')}"
    ).fetchall()
    assert mean == pytest.approx(expected) and expected == pytest.approx(3.0)
    # Weighted by rated (the rows the nps rule judged), the mean is another number.
    assert rated != pytest.approx(expected)
    # The count is of the rows the mean is over, per group: null mean_csat where it is 0.
    assert duckdb.sql(
        f"SELECT sum(csat_responses), count(*) FILTER (WHERE (mean_csat IS NULL) != "
        f"(csat_responses = 0)) FROM {read('daily_summary')}"
    ).fetchall() == [(with_csat, 0)]


#: A pulse survey naming its agents and customers: csat optional, NPS the negative rule.
AGENT_DEFINITION = (
    'name = "agent-pulse"\nnegative = "nps"\npseudonymise_agents = false\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nagent_id = "Agent"\ncustomer_id = "Customer"\n'
    'queue = "Queue"\ncsat = { column = "CSAT", required = false }\nnps = "NPS"\n'
)
#: Two weeks (a Monday and a Tuesday each): an agent-week's share of rows without a csat
#: differs from its other week's, so weighting by responses moves the roll-up (A1 2.67
#: against 2.5, A2 2.0 against 3.0, both 2.33 against 2.71).
AGENT_EXPORT = """ID,At,Agent,Customer,Queue,CSAT,NPS
Q1,2026-03-02 09:00,A1,C1,billing,5,9
Q2,2026-03-02 09:10,A1,C2,billing,1,2
Q3,2026-03-03 09:20,A1,C3,billing,,8
Q4,2026-03-03 09:30,A1,C4,billing,,7
Q5,2026-03-02 09:40,A2,C5,billing,4,9
Q6,2026-03-03 09:50,A2,C6,billing,4,9
Q7,2026-03-09 09:00,A1,C7,billing,2,3
Q8,2026-03-10 09:10,A1,C8,billing,2,3
Q9,2026-03-09 09:20,A2,C9,billing,1,1
Q10,2026-03-10 09:30,A2,C10,billing,,9
Q11,2026-03-10 09:40,A2,C11,billing,,9
Q12,2026-03-10 09:50,A2,C12,billing,,9
"""


def test_agent_outcomes_mean_csat_rolls_up_by_csat_responses_in_the_agent_queries(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent_outcomes 6: handle_time_vs_resolution and agents_whose_customers_come_back
    weighted each agent-week's mean_csat by its responses, rows without a csat included;
    by csat_responses the roll-up is avg(csat) over the agents' scored responses."""
    from servicelens.reporting.analyst import run_query

    # Every agent judged on the contacts a one-day window settles by the next day's delivery.
    monkeypatch.setenv("SERVICELENS_RETURN_WINDOW_DAYS", "1")
    monkeypatch.setenv("SERVICELENS_MIN_AGENT_CONTACTS", "1")
    data, read = run_configured_source(tmp_path, "agent-pulse", AGENT_DEFINITION, AGENT_EXPORT)

    agents = read("marts/agent_outcomes")
    assert duckdb.sql(
        f"SELECT status, count(*), sum(responses), sum(csat_responses) FROM {agents} GROUP BY ALL"
    ).fetchall() == [("judged", 4, 12, 7)]
    direct = dict(
        duckdb.sql(
            f"SELECT c.agent_id, avg(s.csat) FROM {read('marts/feedback_scored')} AS s "
            f"JOIN {read('clean/responses')} AS c USING (response_id) GROUP BY ALL"
        ).fetchall()
    )
    assert direct == pytest.approx({"A1": 2.5, "A2": 3.0})
    worst = run_query(data, "agents_whose_customers_come_back")
    assert {row["agent"]: row["mean_csat"] for row in worst} == pytest.approx(direct, abs=0.005)
    [(everyone,)] = duckdb.sql(f"SELECT avg(csat) FROM {read('marts/feedback_scored')}").fetchall()
    [band] = run_query(data, "handle_time_vs_resolution")
    assert band["mean_csat"] == pytest.approx(everyone, abs=0.005)
    assert everyone == pytest.approx(19 / 7)


#: The same pulse survey with each call's handle time and transfers, either left empty by the
#: export on some rows.
TIMED_DEFINITION = AGENT_DEFINITION.replace('name = "agent-pulse"', 'name = "timed-pulse"') + (
    'handle_seconds = { column = "Handle", required = false }\n'
    'transfers = { column = "Transfers", required = false }\n'
)
#: Two weeks of A1 and A2 (a Monday and a Tuesday each). A1's first week has two of its four
#: calls without handle time or transfers, so weighting its weeks by contacts moves its roll-up
#: (transfers 0.67 against 0.5, handle time 7.0 against 5.5 minutes).
TIMED_EXPORT = """ID,At,Agent,Customer,Queue,CSAT,NPS,Handle,Transfers
T1,2026-03-02 09:00,A1,C1,billing,4,9,600,2
T2,2026-03-02 09:10,A1,C2,billing,2,3,600,0
T3,2026-03-03 09:20,A1,C3,billing,3,8,,
T4,2026-03-03 09:30,A1,C4,billing,5,9,,
T5,2026-03-02 09:40,A2,C5,billing,4,9,300,1
T6,2026-03-03 09:50,A2,C6,billing,4,9,300,1
T7,2026-03-09 09:00,A1,C7,billing,2,3,60,0
T8,2026-03-10 09:10,A1,C8,billing,4,9,60,0
T9,2026-03-09 09:20,A2,C9,billing,1,1,300,1
T10,2026-03-10 09:30,A2,C10,billing,3,7,300,1
"""


def test_agent_transfers_and_handle_time_roll_up_by_the_contacts_they_are_over(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent_outcomes 7: transfers_per_contact and median_handle_seconds are over the contacts
    with a value, and handle_time_vs_resolution and agents_whose_customers_come_back weighted
    them by contacts, those without one included: an agent's transfers per contact over two
    weeks was 0.67 where its calls averaged 0.5."""
    from servicelens.reporting.analyst import run_query

    monkeypatch.setenv("SERVICELENS_RETURN_WINDOW_DAYS", "1")
    monkeypatch.setenv("SERVICELENS_MIN_AGENT_CONTACTS", "1")
    data, read = run_configured_source(tmp_path, "timed-pulse", TIMED_DEFINITION, TIMED_EXPORT)

    agents = read("marts/agent_outcomes")
    assert duckdb.sql(
        f"SELECT status, sum(contacts), sum(contacts_with_handle_time), "
        f"sum(contacts_with_transfers) FROM {agents} GROUP BY ALL"
    ).fetchall() == [("judged", 10, 8, 8)]
    direct = {
        agent: (transfers, handle)
        for agent, transfers, handle in duckdb.sql(
            f"SELECT c.agent_id, avg(s.transfers), avg(s.handle_seconds) / 60 "
            f"FROM {read('marts/feedback_scored')} AS s "
            f"JOIN {read('clean/responses')} AS c USING (response_id) GROUP BY ALL"
        ).fetchall()
    }
    assert direct == {"A1": (0.5, 5.5), "A2": (1.0, 5.0)}
    worst = run_query(data, "agents_whose_customers_come_back")
    # Each week's median is its calls' mean here, so the weighted medians are exact too.
    assert {r["agent"]: (r["transfers_per_contact"], r["handle_minutes"]) for r in worst} == (
        direct
    )
    [(everyone,)] = duckdb.sql(
        f"SELECT avg(transfers) FROM {read('marts/feedback_scored')}"
    ).fetchall()
    bands = run_query(data, "handle_time_vs_resolution")
    assert sum(r["contacts"] for r in bands) == 10
    one_band = [r for r in bands if r["median_handle_time"] == "under 5 min"]
    # A1's second week (60 s) and A2's weeks (300 s: 5-10 min) are in other bands than A1's
    # first week (600 s): the band holding A1's first week counts its two timed calls only.
    assert one_band and one_band[0]["transfers_per_contact"] == 0.0
    [first_week] = [r for r in bands if r["median_handle_time"] == "10-20 min"]
    assert first_week["transfers_per_contact"] == 1.0  # 2 and 0 over 2 calls, not 2 over 4
    assert everyone == pytest.approx(6 / 8)
