"""``servicelens erase`` and the dates whose look-back reads what it rewrote, through a real
configured source with a contact-facts feed (real landing, real ``backfill``, real
Parquet): erasing a customer whose ticket is in one day's landed facts leaves the next day,
which joins that day's facts and holds none of the customer's rows, not "changed" for
``--rerun changed``, as the erased date itself is not. Found by an on-call trial: after
an erase, ``backfill --dry-run`` listed a neighbouring date as "its inputs changed since its
last run: add --rerun changed", so the next nightly ran it again for nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings
from servicelens.storage.runs import backfill_plan, date_status

DEFINITION = """name = "helpdesk"
[columns]
response_id = "Response"
interaction_id = "Ticket"
submitted_at = "Rated at"
csat = "Score"

[interactions]
[interactions.columns]
interaction_id = "Ticket ID"
started_at = { column = "Ticket created - Timestamp", format = "%Y-%m-%d %H:%M:%S" }
queue = "Ticket group"
customer_id = "Requester"
"""
#: C1's ticket and rating are on 2026-11-15; 2026-11-16's ratings join that day's facts
#: (the look-back) and hold nothing of C1's.
TICKETS = (
    "Ticket ID,Ticket created - Timestamp,Ticket group,Requester\n"
    "T1,2026-11-15 09:00:00,Shipping,C1\n"
    "T4,2026-11-15 10:00:00,Shipping,C4\n"
    "T2,2026-11-16 09:00:00,Billing,C2\n"
    "T3,2026-11-16 09:30:00,Billing,C3\n"
)
RATINGS = (
    "Response,Ticket,Rated at,Score\n"
    "R1,T1,2026-11-15T10:00:00Z,1\n"
    "R4,T4,2026-11-16T08:00:00Z,2\n"
    "R2,T2,2026-11-16T11:00:00Z,4\n"
    "R3,T3,2026-11-16T12:00:00Z,2\n"
)
DAYS = [date(2026, 11, 15), date(2026, 11, 16)]


def _changed(source: Settings) -> list[date]:
    statuses = [date_status(source, day) for day in DAYS]
    return [p.day for p in backfill_plan(source, statuses, "changed") if p.run]


def run_helpdesk(tmp_path: Path, tickets: dict[str, str]) -> Settings:
    """The ``helpdesk`` source in ``tmp_path/data``, its ratings and the ticket deliveries
    ``tickets`` (file name -> CSV text) landed and both days run by a real ``backfill``."""
    definition = tmp_path / "helpdesk.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    source = register_source(base, str(definition))
    for name, text in tickets.items():
        (source.for_interactions().inbox_dir / name).write_text(text)
    (source.inbox_dir / "ratings.csv").write_text(RATINGS)
    pick_up_deliveries(source)
    run = ["--data-dir", str(tmp_path / "data"), "backfill", "--source", "helpdesk"]
    assert main([*run, "--start", "2026-11-15", "--end", "2026-11-16"]) == 0
    return source


@pytest.fixture
def run_source(prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Settings:
    """The ``helpdesk`` source, its ratings and tickets landed and both days run."""
    source = run_helpdesk(tmp_path, {"tickets.csv": TICKETS})
    assert _changed(source) == []
    capsys.readouterr()
    return source


def _erase(source: Settings, customer: str) -> None:
    argv = ["--data-dir", str(source.data_dir), "erase", "--customer-id", customer]
    assert main([*argv, "--source", "helpdesk", "--yes"]) == 0


def test_a_date_reading_the_facts_an_erase_rewrote_is_not_changed(
    run_source: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    source = run_source
    _erase(source, "C1")
    said = capsys.readouterr().out
    assert "  2026-11-16  " not in said, said  # no partition of it was touched
    assert _changed(source) == []
    assert [date_status(source, day).state for day in DAYS] == ["completed", "completed"]
    # The plan the trial read says nothing of it either.
    argv = ["--data-dir", str(source.data_dir), "backfill", "--source", "helpdesk"]
    assert main([*argv, "--start", "2026-11-15", "--end", "2026-11-16", "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "inputs changed" not in plan, plan


def test_a_date_whose_inputs_changed_otherwise_stays_changed(
    run_source: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A corrected ticket export landed for 2026-11-16 before the erase: the erase does not
    hide that the date has changed, only its own rewrite of 2026-11-15's facts."""
    source = run_source
    header, *tickets = TICKETS.splitlines()
    corrected = "\n".join([header, tickets[2], tickets[3].replace("Billing", "Returns")]) + "\n"
    (source.for_interactions().inbox_dir / "tickets-corrected.csv").write_text(corrected)
    pick_up_deliveries(source)
    assert _changed(source) == [DAYS[1]]
    _erase(source, "C1")
    assert _changed(source) == [DAYS[1]]
