"""In-flight records: a free lock proves a process dead, a beat proves one alive elsewhere.

No Prefect: the records, their heartbeat and the lock probe, with real processes holding
and dying with real locks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from servicelens.settings import Settings
from servicelens.storage.claims import (
    Claim,
    claim_path,
    hold_date,
    list_claims,
    liveness,
    read_date_claim,
    settled_liveness,
)
from servicelens.storage.locks import date_lock, date_lock_path, is_locked
from servicelens.storage.partitions import locks_dir
from servicelens.storage.runs import (
    DateStatus,
    date_status,
    idempotency_key,
    plan_backfill,
    read_outcome,
    record_outcome,
)

DAY = date(2026, 11, 3)
WAIT_SECONDS = 120.0


def _settings(tmp_path: Path, beat: float = 0.1) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), heartbeat_seconds=beat)


def _hold_in_child(lock: Path, ready: Path) -> subprocess.Popen[bytes]:
    """A real process that takes the flock on ``lock`` and sleeps."""
    code = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + WAIT_SECONDS
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    return child


def test_a_lock_is_held_while_its_process_lives_and_free_once_it_is_killed(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "date.lock"
    assert not is_locked(lock)  # no file yet
    child = _hold_in_child(lock, tmp_path / "ready")
    try:
        assert is_locked(lock)
        assert is_locked(lock)  # probing twice does not take it
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert not is_locked(lock)


def test_this_process_holding_a_date_counts_as_held(tmp_path: Path) -> None:
    with date_lock(tmp_path, DAY, 0.0):
        assert is_locked(date_lock_path(tmp_path, DAY))
    assert not is_locked(date_lock_path(tmp_path, DAY))


def _claim(settings: Settings, **changes: object) -> Claim:
    now = datetime.now(UTC).isoformat()
    base = Claim(
        kind="date",
        name=f"nightly-{DAY}",
        flow_run_id="0f0f0f0f-0000-0000-0000-000000000000",
        host=socket.gethostname(),
        pid=4242,
        started_at=now,
        beat_at=now,
        beat_seconds=settings.heartbeat_seconds,
        lock=str(date_lock_path(locks_dir(settings.staging_dir), DAY)),
        day=DAY.isoformat(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_record_of_this_machine_is_alive_exactly_while_its_lock_is_held(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    claim = _claim(settings)
    lock = Path(claim.lock)
    lock.parent.mkdir(parents=True)
    assert not liveness(claim).alive
    child = _hold_in_child(lock, tmp_path / "ready")
    try:
        assert liveness(claim).alive
        # However old its beat: on its own machine the lock decides.
        stale = replace(claim, beat_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
        assert liveness(stale).alive
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    verdict = liveness(claim)
    assert not verdict.alive and "lock is free" in verdict.reason


def test_a_record_of_another_machine_is_alive_while_it_beats(tmp_path: Path) -> None:
    settings = _settings(tmp_path, beat=5.0)
    now = datetime.now(UTC)
    fresh = _claim(settings, host="worker-7", beat_at=(now - timedelta(seconds=3)).isoformat())
    stale = replace(fresh, beat_at=(now - timedelta(seconds=21)).isoformat())
    assert liveness(fresh, now).alive
    assert not liveness(stale, now).alive  # four beats of 5 s missed


def test_a_remote_record_that_stops_beating_is_found_dead_within_a_stale_period(
    tmp_path: Path,
) -> None:
    """A Dask worker that died a moment ago still looks alive by its last beat: the reader
    watches it until it goes stale rather than calling the date a duplicate."""
    settings = _settings(tmp_path, beat=0.2)
    claim = _claim(settings, host="worker-7")
    path = claim_path(settings, claim.record_name)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(claim.__dict__))
    began = time.monotonic()
    verdict = settled_liveness(settings, claim)
    assert not verdict.alive and "last beat" in verdict.reason
    assert time.monotonic() - began < WAIT_SECONDS  # bounded, not a hang


def test_holding_a_date_keeps_a_beating_record_and_removes_it_at_the_end(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, beat=0.05)
    with hold_date(settings, DAY, "run-1", f"nightly-{DAY}", 0.0) as held:
        first = read_date_claim(settings, DAY)
        assert first is not None and first.flow_run_id == "run-1" and first.pid == os.getpid()
        assert liveness(first).alive
        deadline = time.monotonic() + WAIT_SECONDS
        while (read_date_claim(settings, DAY) or first).beat_at == first.beat_at:
            assert time.monotonic() < deadline, "the record never beat"
            time.sleep(0.02)
        # The same thread may hold the date again (the nightly flow inside a backfill's date
        # run): it shares the record.
        with hold_date(settings, DAY, "run-1", f"nightly-{DAY}", 0.0) as inner:
            assert inner is held
    assert read_date_claim(settings, DAY) is None
    with pytest.raises(ValueError), hold_date(settings, DAY, "run-2", "n", 0.0):
        raise ValueError("the date failed")
    assert list_claims(settings) == []  # a failed run's outcome record says why, not this


def test_a_rust_panic_through_a_held_date_is_a_failure_not_an_interruption(
    tmp_path: Path,
) -> None:
    """pyo3's PanicException is a BaseException, as a stop is: a panic that reaches the
    hold (past the date's stages, which raise it as an ordinary error) ends the run like
    any bug, its record removed, not left "interrupted" for ``runs show`` to call dead."""
    from polars.exceptions import PanicException

    settings = _settings(tmp_path)
    with pytest.raises(PanicException), hold_date(settings, DAY, "run-1", "n", 0.0):
        raise PanicException("assertion failed: i < self.len()")
    assert list_claims(settings) == []
    assert read_outcome(settings, DAY) is None  # nothing recorded interrupted


def test_a_run_stopped_by_a_signal_leaves_its_record_and_is_recorded_interrupted(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    settings.runs_dir.mkdir(parents=True)
    record_outcome(settings, DAY, "run-0", "failed", error="csat missing")
    before = date_status(settings, DAY)
    with pytest.raises(KeyboardInterrupt), hold_date(settings, DAY, "run-1", "n", 0.0):
        raise KeyboardInterrupt
    left = read_date_claim(settings, DAY)
    assert left is not None and left.note.startswith("interrupted")
    assert not liveness(left).alive  # its lock went with the run
    outcome = read_outcome(settings, DAY)
    assert outcome is not None
    assert outcome["stopped"]["outcome"] == "interrupted"
    assert outcome["stopped"]["run_id"] == "run-1"
    after = date_status(settings, DAY)
    # Still failed (an interruption is not a failure, nor a success), with a new key: the
    # next trigger gets a new flow run.
    assert (after.state, after.detail) == ("failed", "csat missing")
    assert idempotency_key(after) != idempotency_key(before)
    # Recorded once per run, whoever records it (the run itself, or a later recovery).
    record_outcome(settings, DAY, "run-1", "crashed", error="lock free")
    assert [h["outcome"] for h in read_outcome(settings, DAY)["history"]] == [  # type: ignore[index]
        "failed",
        "interrupted",
    ]


def test_a_default_backfill_says_how_to_include_a_failed_date() -> None:
    statuses = [
        DateStatus(DAY, "failed", "r1", "csat missing"),
        DateStatus(DAY + timedelta(days=1), "completed", "r2"),
        DateStatus(DAY + timedelta(days=2), "missing", None),
    ]
    missing = plan_backfill(statuses, "missing")
    assert [(p.run, p.todo) for p in missing] == [
        (False, "its last run failed: add --rerun failed to run it again"),
        (False, ""),
        (True, ""),
    ]
    assert [p.todo for p in plan_backfill(statuses, "failed")] == ["", "", ""]


def test_a_date_that_completes_after_its_interruption_is_not_named_interrupted(
    tmp_path: Path,
) -> None:
    """Found by a trial: Ctrl-C printed "recorded as interrupted: 2021-05-14", and 60 ms
    later the date's run recorded it completed (the signal came between its last partition
    swap and its outcome). What the command says is read from the record at the end."""
    from servicelens.storage.claims import abandon_held, completed_anyway

    settings = _settings(tmp_path)
    settings.runs_dir.mkdir(parents=True)
    with hold_date(settings, DAY, "run-1", "n", 0.0):
        (held,) = abandon_held("interrupted by SIGINT")
        assert not completed_anyway(held)
        record_outcome(settings, DAY, "run-1", "completed", inputs={})
        assert completed_anyway(held)


def test_once_the_process_is_stopping_no_new_date_is_held(tmp_path: Path) -> None:
    """Found by a platform engineer's trial: after SIGTERM the command's thread, still
    running while the main thread released what the process held, held the next date; the
    process then exited and left it held by a dead run (`runs show` exit 1), 2 of 5 times.
    A hold made before the stop is released with the others; none is made after it."""
    from servicelens.storage import claims

    settings = _settings(tmp_path)
    settings.runs_dir.mkdir(parents=True)
    try:
        with hold_date(settings, DAY, "run-1", "n", 0.0):
            claims.refuse_new_holds()
            assert [h.claim.flow_run_id for h in claims.abandon_held("SIGTERM")] == ["run-1"]
            with (
                pytest.raises(claims.ProcessStopping),
                hold_date(settings, DAY + timedelta(days=1), "run-2", "n", 0.0),
            ):
                pass
            # The refused hold left no record and no held run; the earlier one stays.
            assert [c.flow_run_id for c in list_claims(settings)] == ["run-1"]
            assert [h.claim.flow_run_id for h in claims.held_here()] == ["run-1"]
    finally:
        claims._stopping.clear()  # this test's process goes on


def test_a_signal_while_prefect_is_half_imported_still_stops_as_interrupted(
    tmp_path: Path,
) -> None:
    """Found by a trial: Ctrl-C about three seconds into any command, while the command's
    thread was importing Prefect's server module, ended in "unexpected AttributeError:
    partially initialized module 'prefect.server.api.server' has no attribute
    'SubprocessASGIServer'", exit 1, "a bug in servicelens". The modules are put in the
    state Python holds them in mid-import (in ``sys.modules``, without their names yet), and
    the stop runs in a process of its own (it ends with ``os._exit``)."""
    script = (
        "import signal, sys, types\n"
        "for name in ('prefect.server.api.server', 'flows.recovery'):\n"
        "    sys.modules[name] = types.ModuleType(name)\n"
        "from servicelens.cli.embedded_api import own_server_exit\n"
        "assert own_server_exit() is None\n"
        "from servicelens.cli.interrupts import _stop_now\n"
        "_stop_now(signal.SIGINT)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "SERVICELENS_DATA_DIR": str(tmp_path)},
    )
    assert done.returncode == 130, done.stderr
    assert "servicelens: SIGINT: stopping" in done.stderr
    assert "servicelens: interrupted." in done.stderr
    assert "Error" not in done.stderr and "Traceback" not in done.stderr


def test_a_dry_run_says_what_would_be_done_with_a_dead_run_and_does_none_of_it(
    tmp_path: Path,
) -> None:
    """Found by an on-call engineer's trial: after a backfill was killed with SIGKILL,
    ``backfill --dry-run`` said "nightly-eu-csat-2026-03-29 died ...: it is marked crashed,
    its slot released", though it changed nothing (the next real backfill did that)."""
    from servicelens.settings import SURVEYS_FILE
    from servicelens.storage.claims import in_flight_action
    from servicelens.storage.runs import PlannedDate

    settings = _settings(tmp_path)
    claim = _claim(settings)  # its lock free: its process is gone
    path = claim_path(settings, claim.record_name)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(claim.__dict__))
    planned = PlannedDate(DAY, "missing", True, "never ran", f"key-{DAY}")
    export = settings.raw_day(DAY) / SURVEYS_FILE  # the date's export is there to run
    export.parent.mkdir(parents=True)
    export.write_text("survey_id\n")
    plan = in_flight_action(settings, planned)
    assert plan["action"] == "recover"
    assert plan["what_happens"].startswith(f"nightly-{DAY} died (the run in "), plan
    assert "is gone: its lock is free)" in plan["what_happens"], plan
    assert (
        "it would be marked crashed, its slot released, and the date runs again"
        in (plan["what_happens"])
    )
    assert "it is marked crashed" not in plan["what_happens"]
    assert read_date_claim(settings, DAY) == claim  # nothing released
