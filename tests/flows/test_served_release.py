"""What serve names as it stops: the backfills it had started whose range it left unrun."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Completed, Crashed, Pending, Running

from flows.served import ServedRuns, _release
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


def test_a_run_whose_process_ends_in_serve_s_shutdown_is_said_stopped_by_it(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: on SIGTERM, serve said "ended backfill/psychedelic-rattlesnake
    (...): its process exited with the run Submitting", as if the run had been lost, before
    "stopped serving". Once serve's shutdown has begun, such a run is said stopped by it,
    with the backfill that runs its range again; before it, the old line stays (a process
    that ended on its own is a different story)."""
    settings = Settings(data_dir=str(tmp_path / "data"))
    with get_client(sync_client=True) as client:
        ids = []
        for name in ("psychedelic-rattlesnake", "lost-by-itself"):
            run = client.create_flow_run(
                _backfill_shape,
                name=name,
                parameters={"start": "2026-03-01", "end": "2026-03-31", "rerun": "all"},
            )
            client.set_flow_run_state(run.id, Pending(), force=True)
            ids.append(str(run.id))
    served = ServedRuns(settings)
    for run_id in ids:
        served._note_data_dir(run_id)  # as serve's look does when the process starts
    lost, stopped = ids[1], ids[0]
    served._say_ended({stopped})  # only the one process gone, serve still serving
    served.stopping.set()
    served._say_ended(set())  # the other gone in serve's shutdown
    said = capsys.readouterr().out
    assert f"ended backfill/lost-by-itself ({lost}): its process exited with the run" in said
    assert (
        f"ended backfill/psychedelic-rattlesnake ({stopped}): stopped by serve's shutdown (it "
        "was Pending); rerun with: servicelens backfill --start 2026-03-01 --end 2026-03-31 "
        "--rerun all"
    ) in said
    assert said.count("its process exited") == 1
