"""A UK contact-centre QA lead's trial (trial 116): a call log's ``AvgTalkDuration``, read as
``unit = "h:mm:ss"``, held ``25:99:00``, and it was kept as 95,940 seconds by ``sources
check`` and by the run (quarantined 0), published, scored and counted in the agents' handle
times; ``0:75:00`` was kept as 4,500 and ``0:05:99`` as 399. Only the shape was read. Each
value of the trial's ``durtest.csv`` is checked here through ``sources check`` and through
the landing and validation a ``run`` does: a clock's minutes and seconds are 0-59, the rest
is quarantined naming the value and what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import land_delivery, landed_periods
from servicelens.settings import Settings
from servicelens.stages import validate_landed_day
from servicelens.validation.expectations import CLOCK_DURATION_PROBLEM

#: The trial's ``ukmotor-calls.toml``, as it registered it.
DEFINITION = """\
name = "ukmotor-calls"
timezone = "Europe/London"
pseudonymise_agents = true
negative = "csat"
audit_date_order = "day-first"
expected_columns = ["Column1", "column_13", "column_14"]

[columns]
response_id = "Call Id"
submitted_at = { columns = ["Date", "Time"], format = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"] }
channel = { value = "phone" }
agent_id = "Agent"
queue = "Topic"
resolved_first_contact = "Resolved"
wait_seconds = "Speed of answer in seconds"
handle_seconds = { column = "AvgTalkDuration", unit = "h:mm:ss" }
csat = { column = "Satisfaction rating", missing = ["0"], required = false }
comment = "Customer comment"

[attributes]
answered = "Answered (Y/N)"
"""
HEADER = (
    "\ufeffCall Id,Agent,Date,Time,Topic,Answered (Y/N),Resolved,Speed of answer in seconds,"
    "AvgTalkDuration,Satisfaction rating,Customer comment,Column1,,"
)
#: The trial's durations (its ``durtest.csv``, lines 2-10), and two more that are a clock's:
#: hours past 24 (H:MM:SS's hours are any count) and minutes past 99 in M:SS.
DURATIONS = [
    "0:75:00",
    "0:05:99",
    "25:99:00",
    "-0:01:00",
    "1:2:3",
    "abc",
    "0:05:03",
    "99:00",
    "1:00:00:00",
    "25:59:59",
    "125:30",
]


def _part_problem(what: str) -> str:
    """The reason's problem for a duration whose minutes or seconds no clock shows."""
    return (
        "is not a duration written as H:MM:SS or M:SS, as unit h:mm:ss in the definition "
        f"reads it: its {what} (the hours of H:MM:SS and the minutes of M:SS may be any "
        "count, the minutes of H:MM:SS and the seconds are a clock's 0-59); fix the value, "
        "or add a word meaning no value to the missing list of the column"
    )


#: Each quarantined line (the header is line 1) and its one reason.
QUARANTINED = {
    2: f"handle_seconds: '0:75:00' {_part_problem('minutes 75 are not 0-59')}",
    3: f"handle_seconds: '0:05:99' {_part_problem('seconds 99 are not 0-59')}",
    4: f"handle_seconds: '25:99:00' {_part_problem('minutes 99 are not 0-59')}",
    5: f"handle_seconds: '-0:01:00' {CLOCK_DURATION_PROBLEM}",
    6: f"handle_seconds: '1:2:3' {CLOCK_DURATION_PROBLEM}",
    7: f"handle_seconds: 'abc' {CLOCK_DURATION_PROBLEM}",
    10: f"handle_seconds: '1:00:00:00' {CLOCK_DURATION_PROBLEM}",
}
#: Each kept response and its handle time in seconds.
KEPT = [
    ("IDX0006", 5 * 60 + 3.0),
    ("IDX0007", 99 * 60.0),
    ("IDX0009", 25 * 3600 + 59 * 60 + 59.0),
    ("IDX0010", 125 * 60 + 30.0),
]


def _export(folder: Path) -> Path:
    """The trial's ``durtest.csv``: one call a day from 1 April 2026, each its duration."""
    rows = [
        f"IDX{i:04d},Ana,{i + 1:02d}/04/2026,10:00:00,Claims,Y,Y,12,{duration},2,"
        f"dur test {duration},4,,"
        for i, duration in enumerate(DURATIONS)
    ]
    path = folder / "durtest.csv"
    path.write_text("\r\n".join([HEADER, *rows]) + "\r\n", encoding="utf-8")
    return path


def test_sources_check_quarantines_a_duration_no_clock_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sources check`` said quarantined 0 and kept 25:99:00 as 95,940 seconds."""
    definition = tmp_path / "ukmotor-calls.toml"
    definition.write_text(DEFINITION)
    data = str(tmp_path / "data")
    argv = ["--data-dir", data, "sources", "check", str(definition), str(_export(tmp_path))]
    main([*argv, "--json"])
    checked: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert {r["source_line"]: r["reasons"] for r in checked["quarantined"]} == {
        line: [reason] for line, reason in QUARANTINED.items()
    }
    assert (checked["counts"]["read"], checked["counts"]["kept"]) == (11, 4)
    assert checked["counts"]["quarantined"] == 7


def test_a_run_quarantines_a_duration_no_clock_shows(tmp_path: Path) -> None:
    """The run landed and published 25:99:00 as 95,940 seconds; each value now lands as
    ``sources check`` tells, every row read kept or quarantined."""
    (tmp_path / "ukmotor-calls.toml").write_text(DEFINITION)
    definition = load_definition(str(tmp_path / "ukmotor-calls.toml"))
    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    source = base.for_source(definition.name, str(tmp_path / "ukmotor-calls.toml"))
    land_delivery(source, definition, _export(tmp_path), datetime(2026, 4, 12, 9, tzinfo=UTC))
    kept: list[pl.DataFrame] = []
    quarantined: dict[int, list[str]] = {}
    for period in landed_periods(source):
        validated = validate_landed_day(
            source, period, period.isoformat(), datetime(2026, 4, 12, 10, tzinfo=UTC)
        )
        counts = validated.counts
        assert counts.surveys_read == counts.kept + counts.quarantined
        kept.append(validated.clean().select("response_id", "handle_seconds"))
        quarantined |= {
            r["source_line"]: r["reasons"] for r in validated.quarantine().iter_rows(named=True)
        }
    assert pl.concat(kept).sort("response_id").rows() == KEPT
    assert quarantined == {line: [reason] for line, reason in QUARANTINED.items()}


#: A UK energy supplier's call log (trial 125): an abandoned or unanswered call's
#: ``AvgTalkDuration`` is written ``0`` by the spreadsheet, not ``0:00:00``; zero is zero
#: in any unit. Any other bare number stays refused (``90`` may be seconds or minutes).
ZERO_DURATIONS = {"0": 0.0, "00": 0.0, "0.0": 0.0, "0:00": 0.0, "90": None}


def test_a_bare_zero_duration_is_zero_seconds_in_the_marts(tmp_path: Path) -> None:
    """``handle_seconds: '0' is not a duration of 0 or more written as H:MM:SS ...``
    quarantined every call that was never talked to; read back by DuckDB, each zero is 0 s
    and ``90`` is still quarantined with the clock problem."""
    import duckdb

    from tests.sources.configured_run import run_configured_source

    rows = [
        f"Z{i:03d},Ana,02/04/2026,10:0{i}:00,Claims,Y,Y,12,{duration},2,zero {i},4,,"
        for i, duration in enumerate(ZERO_DURATIONS)
    ]
    export = "\r\n".join([HEADER.lstrip("\ufeff"), *rows]) + "\r\n"
    _, read = run_configured_source(tmp_path, "ukmotor-calls", DEFINITION, export)
    kept = duckdb.sql(
        f"SELECT response_id, handle_seconds FROM {read('clean/responses')} ORDER BY response_id"
    ).fetchall()
    assert kept == [
        (f"Z{i:03d}", s) for i, s in enumerate(ZERO_DURATIONS.values()) if s is not None
    ]
    quarantined = duckdb.sql(f"SELECT source_line, reasons FROM {read('quarantine')}").fetchall()
    assert quarantined == [(6, [f"handle_seconds: '90' {CLOCK_DURATION_PROBLEM}"])]
