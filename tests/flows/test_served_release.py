"""What serve names as it stops: the backfills it had started whose range it left unrun."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Completed, Crashed, Running

from flows.served import _release
from servicelens.settings import Settings


@flow(name="backfill")
def _backfill_shape(start: str, end: str, rerun: str = "missing") -> None:
    """Only its name and parameters are used: flow runs are made of it, never run."""


def test_a_backfill_that_ended_itself_on_the_stop_is_named_with_the_rest_of_its_range(
    prefect_api: None, tmp_path: Path
) -> None:
    """Found on a loaded `make test` run: Ctrl-C to serve reached the backfill's own process
    too, which ended its flow run before serve read it, so serve named the date left
    unfinished but not the backfill's `--rerun missing` command for the rest of its range.
    A backfill that did not complete and whose range holds a date the stop left without an
    outcome is named, found unfinished or not; one that completed, or whose range holds no
    such date, is not."""
    settings = Settings(data_dir=str(tmp_path / "data"))
    with get_client(sync_client=True) as client:

        def made(name: str, start: str, end: str, state: object) -> str:
            run = client.create_flow_run(
                _backfill_shape,
                name=name,
                parameters={"start": start, "end": end, "rerun": "missing"},
            )
            client.set_flow_run_state(run.id, state, force=True)  # type: ignore[arg-type]
            return str(run.id)

        ids = [
            made("ended-itself", "2026-11-02", "2026-11-04", Crashed(message="interrupted")),
            made("completed", "2026-11-02", "2026-11-02", Completed()),
            made("ended-elsewhere", "2026-10-01", "2026-10-02", Crashed(message="old")),
            made("still-running", "2026-12-01", "2026-12-01", Running()),
        ]
    left = {(None, None): ["2026-11-02"]}
    unfinished, _, backfills = _release([settings], ids, settings, left)
    assert unfinished == ["still-running"]
    assert sorted((b.name, b.start, b.end, b.rerun) for b in backfills) == [
        ("ended-itself", "2026-11-02", "2026-11-04", "missing"),
        ("still-running", "2026-12-01", "2026-12-01", "missing"),
    ]
