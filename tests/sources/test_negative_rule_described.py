"""What the marts' ``negatives`` count, said as it is computed, for a source whose negative
rule is not csat: through the real ``sources run`` (real Prefect, real Parquet read back by
DuckDB). Found by a review: agent_outcomes and fix_list described negatives as "csat <= 2",
and feedback_scored its negative ones so, where the source's definition declares another rule
(an nps detractor, a bad rating, every complaint)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.sources.configured_run import run_configured_source
from transforms.schemas import PUBLISHED_TABLES

#: A pulse survey naming agents and customers: NPS the negative rule (detractors, 0-6).
DEFINITION = (
    'name = "nps-pulse"\nnegative = "nps"\npseudonymise_agents = false\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nagent_id = "Agent"\ncustomer_id = "Customer"\n'
    'queue = "Queue"\ncsat = { column = "CSAT", required = false }\nnps = "NPS"\n'
)
#: Where csat and nps disagree: A1 has two detractors with a fair csat and one csat of 1
#: from a promoter; A2 one detractor without a csat.
EXPORT = """ID,At,Agent,Customer,Queue,CSAT,NPS
N1,2026-03-02 09:00,A1,C1,billing,4,3
N2,2026-03-02 09:10,A1,C2,billing,3,5
N3,2026-03-03 09:20,A1,C3,billing,1,9
N4,2026-03-03 09:30,A1,C4,billing,5,10
N5,2026-03-02 09:40,A2,C5,billing,,2
N6,2026-03-03 09:50,A2,C6,billing,2,8
"""


def test_negatives_are_the_sources_rule_and_described_so(prefect_api: None, tmp_path: Path) -> None:
    _, read = run_configured_source(tmp_path, "nps-pulse", DEFINITION, EXPORT)

    counted = dict(
        duckdb.sql(
            f"SELECT agent, sum(negatives)::INTEGER FROM {read('marts/agent_outcomes')} "
            "GROUP BY ALL"
        ).fetchall()
    )
    by_rule = duckdb.sql(
        f"SELECT c.agent_id, count(*) FILTER (WHERE s.nps <= 6)::INTEGER, "
        f"count(*) FILTER (WHERE s.csat <= 2)::INTEGER FROM {read('marts/feedback_scored')} AS s "
        f"JOIN {read('clean/responses')} AS c USING (response_id) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert by_rule == [("A1", 2, 1), ("A2", 1, 1)]
    assert counted == {agent: nps for agent, nps, _ in by_rule}  # the nps rule, not csat's

    # Every published table that counts or names negatives says so: the source's rule.
    said = {
        f"{table.name}.{column}": text
        for table in PUBLISHED_TABLES
        for column, text in {"(table)": table.description, **table.descriptions}.items()
        if "negative" in column or "negative ones" in text
    }
    for column in ("agent_outcomes.negatives", "fix_list.negatives", "daily_summary.negatives"):
        assert "the source's negative rule" in said[column], column
    assert "the source's negative rule" in said["feedback_scored.(table)"]
    flat = [name for name, text in said.items() if "csat <= 2" in text and "by default" not in text]
    assert flat == []
    dictionary = (Path(__file__).resolve().parents[2] / "docs" / "data_dictionary.md").read_text()
    assert "Responses with csat <= 2" not in dictionary and "Of those, csat <= 2" not in dictionary
