"""The served nightly run (``nightly_window``, real Prefect) logs the configured sources'
table ``servicelens run`` prints: found by a trial, whose served run's log and serve's
output said only "Completed: 1 completed, 3 skipped"."""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path
from uuid import UUID

from servicelens.ingest.configured import register_source
from servicelens.settings import Settings

NAME = "pulse-served"
DEFINITION = (
    f'name = "{NAME}"\npseudonymise_agents = false\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nagent_id = "Agent"\nqueue = "Queue"\ncsat = "CSAT"\n'
)
EXPORT = """ID,At,Agent,Queue,CSAT
N1,2026-03-02 09:00,A1,billing,4
N2,2026-03-02 09:10,A1,billing,1
N7,2026-03-02 nine,A2,billing,5
N4,2026-03-03 09:30,A1,billing,5
"""


def _flow_run_log(flow_run_id: UUID | None) -> list[str]:
    """The messages of the flow run's log, as Prefect's API holds them (serve's output
    and the UI show these)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # blocks until the queued logs are sent
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def test_the_served_nightly_logs_the_partition_table_run_prints(
    prefect_api: None, tmp_path: Path
) -> None:
    from flows.pipeline import nightly_window
    from servicelens.cli.sources import outcomes_text

    data = tmp_path / "data"
    definition = tmp_path / f"{NAME}.toml"
    definition.write_text(DEFINITION)
    source = register_source(Settings(data_dir=str(data)), str(definition))
    (source.inbox_dir / "pulse.csv").write_text(EXPORT)
    # The tests' Prefect logs WARNING and above (tests/conftest.py); a served run's, INFO.
    runs_logger = logging.getLogger("prefect.flow_runs")
    level = runs_logger.level
    runs_logger.setLevel(logging.INFO)
    try:
        state = nightly_window(day=date(2026, 3, 3), data_dir=str(data), return_state=True)
    finally:
        runs_logger.setLevel(level)
    rows = [{**r, "source": r["result"].get("source")} for r in state.result()]
    table = outcomes_text(rows, source)
    logged = [m for m in _flow_run_log(state.state_details.flow_run_id) if m == table]
    assert len(logged) == 1
    text = logged[0]
    assert re.search(rf"{NAME}\s+2026-03-02\s+completed\s+read 3 kept 2 quarantined 1", text), text
    assert re.search(rf"{NAME}\s+2026-03-03\s+completed\s+read 1 kept 1 quarantined 0", text), text
