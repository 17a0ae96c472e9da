"""A configured source's agent is one pseudonym in its clean layer and in agent_outcomes.

Found by a workforce analyst's trial: the clean layer named agent 135 ``agent-d775b1a324cf``
(the keyed hash landing gives it), agent_outcomes ``agent-ba8738828901``, the keyed hash of
that pseudonym, so no mart row could be drilled down to its contacts. The sample's clean
layer keeps the ids as delivered and its marts hash them, once."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from tests.sources.configured_run import run_configured_source
from transforms.agents import agent_outcomes, pseudonymise

DEFINITION = (
    'name = "desk"\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "email" }\nagent_id = "Agent"\ncustomer_id = "Customer"\n'
    'queue = "Queue"\ncsat = "CSAT"\n'
)
EXPORT = """ID,At,Agent,Customer,Queue,CSAT
D1,2026-03-02 09:00,135,C1,billing,5
D2,2026-03-02 09:10,136,C2,billing,1
D3,2026-03-03 09:20,135,C3,billing,4
"""


def test_agent_outcomes_name_the_clean_layers_pseudonyms(tmp_path: Path) -> None:
    _, read = run_configured_source(tmp_path, "desk", DEFINITION, EXPORT)
    clean = dict(
        duckdb.sql(f"SELECT response_id, agent_id FROM {read('clean/responses')}").fetchall()
    )
    assert clean["D1"] == clean["D3"] != clean["D2"]
    assert all(a.startswith("agent-") for a in clean.values())
    marts = duckdb.sql(
        f"SELECT agent, contacts FROM {read('marts/agent_outcomes')} ORDER BY contacts DESC"
    ).fetchall()
    assert marts == [(clean["D1"], 2), (clean["D2"], 1)]  # a second hash before


def _week(agent_ids: list[str], key: bytes) -> pl.DataFrame:
    """agent_outcomes of one week's contacts, one per agent id, none settled."""
    contacts = pl.DataFrame(
        {
            "agent_id": agent_ids,
            "customer_id": [f"C{i}" for i in range(len(agent_ids))],
            "handle_seconds": [60.0] * len(agent_ids),
            "transfers": [0] * len(agent_ids),
            "came_back": [False] * len(agent_ids),
            "settled": [False] * len(agent_ids),
        }
    )
    responses = pl.DataFrame(
        schema={
            "agent_id": pl.String,
            "csat": pl.Int8,
            "is_negative": pl.Boolean,
            "root_cause": pl.String,
        }
    )
    return agent_outcomes(
        contacts,
        responses,
        date(2026, 3, 2),
        key=key,
        min_contacts=1,
        window_days=7,
        model_version=None,
    )


def test_ids_are_hashed_once_and_pseudonyms_kept() -> None:
    key = b"k" * 32
    [pseudonym] = pseudonymise(pl.Series(["135"]), key).to_list()
    # The sample's ids as delivered are hashed; a configured source's pseudonym is kept.
    raw = _week(["135"], key)
    kept = _week([pseudonym], key)
    assert raw.get_column("agent").to_list() == [pseudonym]
    assert kept.get_column("agent").to_list() == [pseudonym]
    assert kept.get_column("agent_ids").to_list() == ["pseudonymous"]
