"""Recovery of what dead runs leave behind, against a real Prefect API, in this process.

A dead run is simulated the way a SIGKILL leaves it: a flow run of the date, created with
the date's idempotency key by another trigger, stuck in Running, and (when it got that far)
an in-flight record whose lock nobody holds. A live one is a thread of this process that
really holds the date. tests/reliability/test_backfill_crash.py kills real processes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicelens.settings import Settings
from servicelens.storage.claims import hold_date, list_claims
from servicelens.storage.runs import PlannedDate, date_status, plan_backfill, read_outcome
from tests.flows.conftest import flow_runs_named
from tests.flows.stuck import dead_record, stuck_run

START = date(2026, 9, 1)
DAYS = [START + timedelta(days=i) for i in range(4)]
WAIT_SECONDS = 300.0


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from servicelens.synthetic.generator import generate

    root = tmp_path_factory.mktemp("recovery")
    generate(root, START, DAYS[-1], 200, 9)
    # Beats every 50 ms: a run with no record counts as dead after 0.2 s, not 20 s.
    return Settings(data_dir=str(root), heartbeat_seconds=0.05, backfill_slots=1)


def _plan(settings: Settings, day: date) -> PlannedDate:
    return plan_backfill([date_status(settings, day)], "all")[0]


def _read_run(flow_run_id: Any) -> Any:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def _runs_of(settings: Settings, day: date, trigger: str = "nightly") -> list[Any]:
    """The date's flow runs that ``trigger`` (nightly, backfill) created, by their name."""
    return flow_runs_named(f"{trigger}-{day}", settings.data_dir)


def _lease_for(flow_run: Any, limit: str) -> str:
    """One slot of ``limit`` leased to ``flow_run`` for an hour (far longer than a test)."""
    from prefect import get_client
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder

    with get_client(sync_client=True) as client:
        granted = client.increment_concurrency_slots_with_lease(
            names=[limit],
            slots=1,
            mode="concurrency",
            lease_duration=3600,
            holder=ConcurrencyLeaseHolder(type="flow_run", id=flow_run.id),
        ).json()
    return str(granted["lease_id"])


def _active_slots() -> int:
    from prefect import get_client

    from flows.slots import BACKFILL_LIMIT

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(BACKFILL_LIMIT).active_slots


@contextmanager
def _held_by_a_thread(
    settings: Settings, day: date, flow_run: Any, slot_of: str | None = None
) -> Iterator[None]:
    """A live run: a thread of this process holds ``day`` for ``flow_run`` while the block
    runs (its lock, its in-flight record and heartbeat), and a slot of the limit
    ``slot_of`` if one is named."""
    from flows.slots import backfill_slot

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with (
            hold_date(settings, day, str(flow_run.id), flow_run.name, 0.0) as held,
            backfill_slot(settings, held, flow_run.id, lambda: 0, slot_of),
        ):
            holding.set()
            release.wait(WAIT_SECONDS)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(WAIT_SECONDS)
        yield
    finally:
        release.set()
        holder.join(WAIT_SECONDS)


@pytest.fixture
def limit(prefect_api: None, settings: Settings) -> Iterator[str]:
    from flows.slots import BACKFILL_LIMIT, ensure_backfill_limit

    ensure_backfill_limit(settings.backfill_slots)
    yield BACKFILL_LIMIT


@pytest.mark.parametrize("record", ["no record", "dead record"])
def test_a_stuck_run_of_a_dead_process_is_marked_crashed_and_the_date_runs_again(
    record: str, settings: Settings, limit: str
) -> None:
    from flows.dates import recovery_key, run_planned_dates
    from flows.pipeline import nightly

    day = DAYS[0] if record == "no record" else DAYS[1]
    planned = _plan(settings, day)
    stuck = stuck_run(settings, planned)
    if record == "dead record":
        dead_record(settings, stuck)
    # What the killed run had staged (a platform engineer's trial found such folders left).
    from servicelens.storage.partitions import run_staging_dir

    staged = run_staging_dir(settings.staging_dir, str(stuck.id))
    staged.mkdir(parents=True)
    (staged / "valid-2026-10-01.parquet").write_bytes(b"PAR1")
    time.sleep(4 * settings.heartbeat_seconds)  # older than a stale period

    [outcome] = run_planned_dates(nightly, [planned], settings, limit=limit)
    assert not staged.exists()

    assert outcome.outcome == "completed", outcome
    assert str(stuck.id) in outcome.recovered
    crashed = _read_run(stuck.id)
    assert crashed.state.type.value == "CRASHED"
    assert "lock is free" in crashed.state.message or "lock) is free" in crashed.state.message
    assert "the date's next run takes over" in crashed.state.message
    ran = [r for r in _runs_of(settings, day) if r.id != stuck.id]
    assert [r.state.type.value for r in ran] == ["COMPLETED"]
    assert ran[0].idempotency_key == recovery_key(planned.idempotency_key, stuck.id)
    assert date_status(settings, day).state == "completed"
    assert read_outcome(settings, day)["history"][-2]["outcome"] == "crashed"  # type: ignore[index]
    assert list_claims(settings) == []
    assert _active_slots() == 0


def test_a_dead_run_marked_crashed_a_moment_before_is_told_as_such_when_its_record_is_released(
    prefect_api: None, settings: Settings
) -> None:
    """Found by a data engineer's trial after a Dask worker was killed: the date's claim
    marked its run crashed ("was stuck: ...; marked crashed, the date runs"), then, 0.3 s
    later, the hold that replaced its record said "recovered ...: already finished in
    Prefect" of the same run, killed mid-flight. The second says what happened to it."""
    from prefect.states import Crashed

    from flows.recovery import release_dead_run, set_final_state
    from servicelens.storage.claims import Liveness

    planned = _plan(settings, START - timedelta(days=30))  # a date no other test runs
    stuck = stuck_run(settings, planned, key=f"killed-{uuid.uuid4()}")
    claim = dead_record(settings, stuck)
    assert set_final_state(stuck.id, Crashed(message="servicelens: its process is gone"))

    released = release_dead_run(settings, claim, Liveness(False, "its lock was free"))

    assert "already marked crashed" in released.message, released.message
    assert "finished" not in released.message, released.message
    from servicelens.storage.claims import claim_path

    claim_path(settings, claim.record_name).unlink(missing_ok=True)  # the caller's to delete


def test_a_live_run_keeps_the_date_and_a_second_trigger_reports_duplicate(
    settings: Settings, limit: str
) -> None:
    from flows.dates import run_planned_dates
    from flows.pipeline import nightly

    day = DAYS[2]
    planned = _plan(settings, day)
    live = stuck_run(settings, planned)
    with _held_by_a_thread(settings, day, live):
        time.sleep(4 * settings.heartbeat_seconds)  # old enough to be taken for dead, if it were
        [outcome] = run_planned_dates(nightly, [planned], settings, limit=limit)
    assert outcome.outcome == "duplicate" and outcome.todo == ""
    assert str(live.id) in outcome.error and "holds its lock" in outcome.error
    assert [r.id for r in _runs_of(settings, day)] == [live.id]  # not run a second time
    assert _read_run(live.id).state.type.value == "RUNNING"  # left to its owner


def test_a_dead_runs_slot_comes_back_at_once_and_a_waiting_date_names_the_live_holder(
    settings: Settings, limit: str
) -> None:

    from flows.dates import run_planned_dates
    from flows.pipeline import nightly
    from flows.slots import backfill_slot, slot_usage

    # A killed run holds the only slot, with a lease far longer than this test.
    day, other = DAYS[3], DAYS[0]
    stuck = stuck_run(settings, _plan(settings, day), key=f"killed-{uuid.uuid4()}")
    dead_record(settings, stuck, lease_id=_lease_for(stuck, limit), limit=limit)
    usage = slot_usage(settings)
    assert usage is not None and (usage.limit, usage.active) == (1, 1)
    assert [(h.name, h.alive.alive if h.alive else None) for h in usage.holders] == [
        (f"nightly-{day}", False)
    ]

    [outcome] = run_planned_dates(nightly, [_plan(settings, day)], settings, limit=limit)
    assert outcome.outcome == "completed", outcome
    assert _active_slots() == 0  # released when found dead, not an hour later

    # A live date holds the only slot: another date waits for it, then runs.
    live = stuck_run(settings, _plan(settings, other), key=f"live-{uuid.uuid4()}")
    holding, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def hold() -> None:
        with (
            hold_date(settings, other, str(live.id), live.name, 0.0) as held,
            backfill_slot(settings, held, live.id, lambda: 0, limit),
        ):
            holding.set()
            release.wait(WAIT_SECONDS)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(WAIT_SECONDS)
    waiting = threading.Thread(
        target=lambda: seen.update(
            outcome=run_planned_dates(nightly, [_plan(settings, day)], settings, limit=limit)[0]
        )
    )
    waiting.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not any(c.note.startswith("waiting for a slot") for c in list_claims(settings)):
            assert time.monotonic() < deadline, "the second date never waited for the slot"
            time.sleep(0.05)
        usage = slot_usage(settings)
        assert usage is not None and usage.active == 1
        assert [(h.name, h.alive.alive if h.alive else None) for h in usage.holders] == [
            (live.name, True)
        ]
        assert "outcome" not in seen  # still waiting while the slot is held
    finally:
        release.set()
        holder.join(WAIT_SECONDS)
        waiting.join(WAIT_SECONDS)
    assert seen["outcome"].outcome == "completed"
    assert _active_slots() == 0


def test_a_date_whose_slot_lease_was_revoked_says_so_once_and_stops_renewing(
    settings: Settings, limit: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A lease that ran out while its date ran (renewals late on a busy machine) and was
    revoked: the renewal's 410 Gone is a warning the user can act on, said once, not an
    HTTP error logged on every beat."""
    from uuid import UUID

    from flows.slots import LeaseKeeper, release_lease

    day = DAYS[1]
    flow_run = stuck_run(settings, _plan(settings, day), key=f"revoked-{uuid.uuid4()}")
    lease = _lease_for(flow_run, limit)
    keeper = LeaseKeeper(UUID(lease), day.isoformat(), limit, 60.0)
    keeper.renewed_at -= 30  # a renewal is due (a third of the lease has passed)
    keeper.renew()
    assert not keeper.lost and time.monotonic() - keeper.renewed_at < 30

    release_lease(lease)  # revoked, as a backfill waiting for a slot revokes one run out
    keeper.renewed_at -= 50
    with caplog.at_level(logging.WARNING, "servicelens.backfill"):
        keeper.renew()
        keeper.renew()
    assert keeper.lost
    said = [r.getMessage() for r in caplog.records if r.name == "servicelens.backfill"]
    assert len(said) == 1, said
    assert said[0].startswith(f"{day}: its slot of {limit} was taken back while it ran"), said
    # 50 s set back, plus however long the two renewals took on the machine: a busy CI
    # machine's said 52 s (a whole run at load 20), so the age is at least 50, not exactly.
    renewed = re.search(r"last renewed (\d+) s ago for 60 s", said[0])
    assert renewed and int(renewed.group(1)) >= 50, said[0]
    assert "SERVICELENS_SLOT_LEASE_SECONDS" in said[0]
    assert _active_slots() == 0


def test_the_nightly_window_recovers_a_stuck_date_the_same_way(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pipeline import nightly_window
    from servicelens.storage.runs import plan_nightly

    # The window builds its settings from the environment, as a deployment's run does.
    monkeypatch.setenv("SERVICELENS_HEARTBEAT_SECONDS", str(settings.heartbeat_seconds))
    target = DAYS[-1]
    [planned] = plan_nightly(settings, target, 0)
    stuck = stuck_run(settings, planned)
    time.sleep(4 * settings.heartbeat_seconds)
    state = nightly_window(target, lookback_days=0, data_dir=settings.data_dir, return_state=True)
    rows = state.result(raise_on_failure=False)
    assert state.is_completed(), state
    assert [(r["day"], r["outcome"]) for r in rows] == [(str(target), "completed")]
    assert str(stuck.id) in rows[0]["recovered"]
    assert _read_run(stuck.id).state.type.value == "CRASHED"


def test_runs_show_and_release_free_what_a_dead_run_holds(
    settings: Settings, limit: str, capsys: pytest.CaptureFixture[str]
) -> None:

    from servicelens.cli.main import main

    day = DAYS[1]
    stuck = stuck_run(settings, _plan(settings, day), key=f"killed-{uuid.uuid4()}")
    lease = _lease_for(stuck, limit)
    dead_record(settings, stuck, lease_id=lease, limit=limit)
    argv = ["--data-dir", settings.data_dir, "--json", "runs"]

    assert main([*argv, "show"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert [(r["run"], r["status"], r["lease_id"]) for r in shown["in_flight"]] == [
        (f"nightly-{day}", "dead", lease)
    ]
    assert (shown["slots"]["taken"], shown["slots"]["limit"]) == (1, 1)

    # Said once (a new user's trial saw each release twice: its log line, then `released:`).
    assert main(["--data-dir", settings.data_dir, "runs", "release"]) == 0
    said = capsys.readouterr()
    lines = (said.out + said.err).splitlines()
    released = [line for line in lines if line.startswith("released: ")]
    assert len([line for line in released if line.startswith(f"released: nightly-{day}: ")]) == 1
    for line in released:
        assert [said for said in lines if line.removeprefix("released: ") in said] == [line]
    assert _read_run(stuck.id).state.type.value == "CRASHED"
    assert _active_slots() == 0

    # Not the exit status: on a busy machine (a fresh clone's `make test` beside two other
    # suites) `show` also listed young flow runs of this module's earlier tests, which went
    # dead between `release` and here. What this test left is what it checks.
    main([*argv, "show"])
    after = json.loads(capsys.readouterr().out)
    assert after["in_flight"] == [] and after["slots"]["taken"] == 0
    assert str(stuck.id) not in [r["flow_run_id"] for r in after["stuck"]], after


def test_runs_show_and_release_see_a_configured_sources_runs(
    limit: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: a source's runs keep their records in the source's layer
    (sources/<name>/runs/), which `runs show` and `runs release` did not read. A killed
    source backfill was shown as "a run of another data directory or machine", and a live
    one, old enough, was taken for dead: `runs release` marked its date's run crashed."""
    from pathlib import Path

    from servicelens.cli.main import main
    from servicelens.ingest.configured import register_source

    definition = Path(__file__).parents[1] / "sources" / "definitions" / "call-centre.toml"
    base = Settings(data_dir=str(tmp_path / "data"), heartbeat_seconds=0.05)
    source = register_source(base, str(definition))
    dead_day, live_day = date(2021, 1, 1), date(2021, 1, 2)
    dead = stuck_run(source, _plan(source, dead_day), key=f"killed-{uuid.uuid4()}")
    dead_record(source, dead, lease_id=_lease_for(dead, limit), limit=limit)
    live = stuck_run(source, _plan(source, live_day), key=f"live-{uuid.uuid4()}")
    argv = ["--data-dir", base.data_dir, "--json", "runs"]
    with _held_by_a_thread(source, live_day, live):
        time.sleep(8 * base.heartbeat_seconds)  # old enough to be taken for dead, if it were
        assert main([*argv, "show"]) == 1
        shown = json.loads(capsys.readouterr().out)
        status = {r["run"]: r["status"] for r in shown["in_flight"]}
        assert status == {f"nightly-{dead_day}": "dead", f"nightly-{live_day}": "alive"}
        holders = shown["slots"]["holders"]
        assert holders and all("another data directory" not in h for h in holders), holders
        assert main([*argv, "release"]) == 0
        released = json.loads(capsys.readouterr().out)["released"]
        assert any(line.startswith(f"nightly-{dead_day}: ") for line in released), released
        assert _read_run(dead.id).state.type.value == "CRASHED"
        assert _read_run(live.id).state.type.value == "RUNNING"  # left to its owner
        assert [c.name for c in list_claims(source)] == [f"nightly-{live_day}"]


@pytest.mark.parametrize("holder_layer", ["another source", "the sample"])
def test_a_source_waiting_for_a_slot_names_a_holder_of_another_layer_of_its_directory(
    holder_layer: str, limit: str, tmp_path: Path
) -> None:
    """Found by a user trial: with one slot, two configured sources of one data directory
    backfilled at once, and the waiting one said the slot was held by "a run of another
    data directory or machine": it looked the holder up in its own layer's records only."""
    from flows.slots import _wait_message, slot_usage
    from servicelens.ingest.configured import register_source

    definitions = Path(__file__).parents[1] / "sources" / "definitions"
    base = Settings(data_dir=str(tmp_path / "data"), heartbeat_seconds=0.05)
    waiting = register_source(base, str(definitions / "call-centre.toml"))
    other = register_source(base, str(definitions / "european-feedback.toml"))
    holding = other if holder_layer == "another source" else base
    day = date(2021, 3, 31)
    live = stuck_run(holding, _plan(holding, day), key=f"live-{uuid.uuid4()}")
    with _held_by_a_thread(holding, day, live, slot_of=limit):
        usage = slot_usage(waiting)
        assert usage is not None
        assert [(h.name, h.alive.alive if h.alive else None) for h in usage.holders] == [
            (live.name, True)
        ]
        said = _wait_message(str(day), limit, usage, 2.0)
        assert "another data directory" not in said and "holds its lock" in said, said
    assert _active_slots() == 0


def test_runs_show_reads_a_killed_backfills_date_run_dead_before_it_held_the_date(
    prefect_api: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a user trial: right after `kill -9` of a backfill, `runs show` listed the
    backfill dead and its date's flow run, created moments before and not yet holding the
    date, "alive ... not yet holding the date", though it was to run in the killed process.
    The real `servicelens backfill` runs on this test's Prefect API (no embedded API to
    start), is paused just after creating its date's flow run and killed with its group."""
    from prefect.settings import get_current_settings

    from servicelens.cli.main import main
    from tests.reliability.cli import (
        START,
        backfill_of,
        generated_home,
        kill_group,
        records,
        start_paused,
        wait_until,
    )

    [day], args = backfill_of(1)
    home = generated_home(tmp_path, START, 1, seed=17)
    pause = tmp_path / "pause"
    api = str(get_current_settings().api.url)
    backfill = start_paused(
        home, args, tmp_path / "backfill.log", "date-run-created", pause, PREFECT_API_URL=api
    )
    wait_until(pause.exists, backfill, "its date's flow run created")
    [parent] = records(home)  # the backfill's own; its date holds nothing yet
    kill_group(backfill)

    # A stale period of hours: by its age alone the date's young run would read alive.
    monkeypatch.setenv("SERVICELENS_HEARTBEAT_SECONDS", "3600")
    assert main(["--data-dir", str(home.data), "--json", "runs", "show"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert [(r["run"], r["status"]) for r in shown["in_flight"]] == [(parent["name"], "dead")]
    verdicts = {s["run"]: (s["status"], s["why"]) for s in shown["stuck"]}
    # The date's run is named for the backfill that created it, and read as a date's run.
    assert set(verdicts) == {parent["name"], f"backfill-{day}"}, shown["stuck"]
    status, why = verdicts[f"backfill-{day}"]
    assert status == "dead" and parent["name"] in why and "its lock is free" in why, why
    assert verdicts[parent["name"]][0] == "dead"


def test_a_backfill_run_again_right_after_a_kill_before_its_date_held_anything_runs_the_date(
    prefect_api: None, tmp_path: Path
) -> None:
    """Found by a flaky whole-suite run: a backfill killed just after creating its date's
    flow run (before that run wrote a record) left the run Pending for good. The next
    backfill released the killed backfill's record first, and then nothing tied the young,
    record-less date run to a dead process: it was either met again under the date's key and
    read "alive, not yet holding the date" (the date reported a duplicate and not run), or
    never met at all. It must be marked crashed, saying why, and the date run."""
    from prefect.settings import get_current_settings

    from tests.reliability.cli import (
        START,
        assert_published_and_reconciled,
        backfill_of,
        generated_home,
        json_rows,
        kill_group,
        records,
        run,
        start_paused,
        wait_until,
    )

    [day], args = backfill_of(1)
    home = generated_home(tmp_path, START, 1, seed=19)
    pause = tmp_path / "pause"
    api = str(get_current_settings().api.url)
    backfill = start_paused(
        home, args, tmp_path / "killed.log", "date-run-created", pause, PREFECT_API_URL=api
    )
    wait_until(pause.exists, backfill, "its date's flow run created")
    [killed] = _runs_of(Settings(data_dir=str(home.data)), date.fromisoformat(day), "backfill")
    kill_group(backfill)

    code, output = run(home, ["--json", *args], tmp_path / "again.log", PREFECT_API_URL=api)
    assert code == 0, output
    assert [(r["day"], r["outcome"]) for r in json_rows(output)] == [(day, "completed")]
    said = (
        f"servicelens: warning: recovered backfill-{day}: it was to run in the process of backfill-"
    )
    assert said in output, output
    assert_published_and_reconciled(home, [day])
    assert records(home) == []
    left = _read_run(killed.id).state
    assert left.type.value == "CRASHED", left
    assert "is gone: its lock is free" in left.message, left.message


def test_servicelens_run_says_on_the_terminal_that_it_recovered_a_dead_run(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: `servicelens run` took over a date a killed run had held, marking
    that run crashed, and said so only in its log file (`backfill` prints it)."""
    from servicelens.cli.main import main
    from servicelens.synthetic.generator import generate

    day = date(2026, 9, 20)
    generate(tmp_path / "data", day, day, 50, 3)
    settings = Settings(data_dir=str(tmp_path / "data"))
    stuck = stuck_run(settings, _plan(settings, day), key=f"killed-{uuid.uuid4()}")
    dead_record(settings, stuck)

    assert main(["--data-dir", settings.data_dir, "run", "--date", str(day)]) == 0
    said = capsys.readouterr().err
    assert f"servicelens: warning: recovered nightly-{day}: " in said, said
    assert "its lock was free; marked crashed" in said
    assert _read_run(stuck.id).state.type.value == "CRASHED"


def test_on_a_server_a_dead_runs_lapsed_lease_is_not_listed_as_a_holder() -> None:
    """Found by a trial on a real server: `runs show` said "0 of 2 taken" and listed a dead
    run's lease under it (its lease had run out; the server cannot list leases)."""
    from flows.slots import SlotHolder, _without_lapsed
    from servicelens.storage.claims import Liveness

    dead = SlotHolder("l1", "r1", "nightly-2026-09-01", None, Liveness(False, "gone"))
    live = SlotHolder("l2", "r2", "nightly-2026-09-02", None, Liveness(True, "holds its lock"))
    assert _without_lapsed([dead], 0) == []
    assert _without_lapsed([dead, live], 1) == [live]
    # A slot the live holders do not account for may be the dead run's: it stays listed.
    assert _without_lapsed([dead, live], 2) == [dead, live]


def test_a_date_whose_records_were_removed_runs_again(prefect_api: None, tmp_path: Path) -> None:
    """Found by a platform engineer's trial: a data directory removed and generated again
    (or another store under the same name) keeps the Prefect API's completed run of each
    date under the same idempotency key, and `backfill --rerun all` reported every date
    "duplicate", wrote nothing and exited 0."""
    import shutil

    from flows.dates import run_planned_dates
    from flows.pipeline import nightly
    from servicelens.synthetic.generator import generate

    day = date(2026, 9, 25)
    data = tmp_path / "data"
    generate(data, day, day, 50, 3)
    settings = Settings(data_dir=str(data))
    [first] = run_planned_dates(nightly, [_plan(settings, day)], settings)
    assert first.outcome == "completed", first
    shutil.rmtree(data)
    generate(data, day, day, 50, 3)
    [again] = run_planned_dates(nightly, [_plan(settings, day)], settings)
    assert again.outcome == "completed", again
    assert "without a completed or failed outcome in this data directory" in again.recovered
    manifest = settings.marts_dir / "feedback_scored" / f"survey_date={day}" / "_manifest.json"
    assert manifest.exists()


class _Stopped(BaseException):
    """What the test's SIGTERM handler raises, as Prefect's raises ``TerminationSignal``."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    def stop(signum: int, _frame: object) -> None:
        raise _Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("moment", ["slot-granted", "releasing"])
def test_a_stop_while_a_slot_is_taken_or_given_back_leaves_no_slot_unaccounted(
    limit: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """Found by CI: serve stopped with a date in flight (SIGTERM to the flow run, a second
    one from the runner) and the date's slot stayed taken for its lease time, named by no
    record: the signal had landed between the API granting the lease and the record naming
    it, or after the record stopped naming it and before the API took it back. Now a signal
    there waits for the call to finish: granted, the record names the lease (whoever finds
    the process gone releases it); being given back, the release goes through first."""
    import flows.slots as slots

    settings = Settings(data_dir=str(tmp_path), heartbeat_seconds=0.05)
    day, flow_run_id = DAYS[2], uuid.uuid4()

    def sigterm_now() -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    if moment == "slot-granted":
        monkeypatch.setattr(
            slots, "checkpoint", lambda name: sigterm_now() if name == moment else None
        )
    else:
        release_lease = slots.release_lease

        def release(lease_id: str, client: Any = None) -> None:
            sigterm_now()
            release_lease(lease_id, client)

        monkeypatch.setattr(slots, "release_lease", release)
    try:
        with (
            _sigterm_raises(),
            pytest.raises(_Stopped),
            hold_date(settings, day, str(flow_run_id), f"nightly-{day}", 0.0) as held,
            slots.backfill_slot(settings, held, flow_run_id, lambda: 0, limit),
        ):
            pass
        # Stopped: the record stays, saying so, for the next run to release what it names.
        [record] = list_claims(settings)
        assert record.note.startswith("interrupted"), record
        if moment == "slot-granted":
            assert record.lease_id and _active_slots() == 1
            slots.release_lease(record.lease_id)
        else:
            assert record.lease_id is None
        assert _active_slots() == 0
    finally:  # a failure here must not leave the module's tests waiting for the slot
        _give_back_every_slot(limit)


def _give_back_every_slot(limit: str) -> None:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        taken = client.read_global_concurrency_limit_by_name(limit).active_slots
        if taken:
            client.release_concurrency_slots([limit], taken, occupancy_seconds=1.0)


def _nightly_window_run(data_dir: str) -> Any:
    """A nightly-window flow run on ``data_dir`` as the server's scheduler leaves one that
    waits for the run before it: ``Scheduled``, named ``AwaitingConcurrencySlot``."""
    from prefect import get_client
    from prefect.states import Scheduled

    from flows.pipeline import nightly_window

    with get_client(sync_client=True) as client:
        return client.create_flow_run(
            nightly_window,
            parameters={"data_dir": data_dir},
            state=Scheduled(name="AwaitingConcurrencySlot"),
        )


def _now_pending(flow_run: Any) -> Any:
    """The run moved to ``Pending``, as serve's runner does when it picks it up; re-read."""
    from prefect import get_client
    from prefect.states import Pending

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Pending(), force=True)
        return client.read_flow_run(flow_run.id)


def test_runs_show_and_release_leave_alone_a_nightly_run_serve_has_just_started(
    prefect_api: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a trial: after a restart of serve on a loaded machine, `runs show` listed a
    nightly-window run serve had just started "dead: no live in-flight record; created 341
    s ago", exit 1, and told the user to run `runs release`; it completed a minute later. It
    had waited its turn (AwaitingConcurrencySlot), then sat in Pending while its process
    started and before it wrote its record. Its age says nothing; the process the runner
    started for it (its run id in PREFECT__FLOW_RUN_ID) says it is alive."""
    import subprocess
    import sys

    from servicelens.cli.main import main

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # A stale period of 0.2 s: the run below is older than that long before it is shown.
    monkeypatch.setenv("SERVICELENS_HEARTBEAT_SECONDS", "0.05")
    waiting = _nightly_window_run(str(data_dir))
    later = _nightly_window_run(str(data_dir))  # picked up after the commands below
    started = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, "PREFECT__FLOW_RUN_ID": str(waiting.id)},
    )
    try:
        running = _now_pending(waiting)
        argv = ["--data-dir", str(data_dir), "--json", "runs"]
        assert main([*argv, "show"]) == 0
        [shown] = json.loads(capsys.readouterr().out)["stuck"]
        assert (shown["run"], shown["status"]) == (running.name, "alive"), shown
        assert f"process {started.pid} " in shown["why"], shown

        assert main([*argv, "release"]) == 0
        assert json.loads(capsys.readouterr().out)["released"] == []
        assert _read_run(running.id).state.type.value == "PENDING"
    finally:
        started.kill()
        started.wait()

    # Its process gone and its Pending state older than a stale period: dead, saying so.
    from flows.recovery import unrecorded_run_liveness

    since = running.state.timestamp
    assert not unrecorded_run_liveness(running, None, 0.2, since + timedelta(seconds=1)).alive
    # Its process not yet started, its state fresh, though the run itself is old (created
    # before the commands above ran).
    fresh = _now_pending(later)
    at = fresh.state.timestamp + timedelta(seconds=0.1)
    assert (at - fresh.created).total_seconds() > 0.2
    verdict = unrecorded_run_liveness(fresh, None, 0.2, at)
    assert verdict.alive and "Pending since" in verdict.reason, verdict
