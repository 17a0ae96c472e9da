"""Flow-run heartbeats sent by servicelens (flows/prefect_client.py): the events Prefect's
engine would send, from a thread that is gone when the flow's function returns, and none for
the date runs a parent's process holds."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from prefect.context import FlowRunContext
from prefect.flow_engine import FlowRunEngine
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from flows import prefect_client
from flows.prefect_client import (
    HEARTBEAT_EVENT,
    beating_flow,
    heartbeat_seconds,
    prompt_flow_heartbeats,
    without_flow_heartbeats,
)

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The heartbeat events sent, as keyword arguments of ``emit_event``."""
    events: list[dict[str, Any]] = []
    monkeypatch.setattr(prefect_client, "emit_event", lambda **kwargs: events.append(kwargs))
    return events


seen: dict[str, Any] = {}


@beating_flow(name="heartbeat-child")
def child() -> None:
    seen["child_run"] = FlowRunContext.get().flow_run  # type: ignore[union-attr]


@beating_flow(name="heartbeat-parent")
def parent(with_child: bool = False, day: date | None = None) -> str:
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    seen["engine_frequency"] = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
    seen["beating"] = [t for t in threading.enumerate() if t.name == "flow-heartbeat"]
    # Prefect's own template for this run, to compare with the events sent.
    seen["prefect_template"] = FlowRunEngine(
        flow=context.flow, flow_run=context.flow_run
    )._build_heartbeat_event_template()
    if with_child:
        with without_flow_heartbeats():
            child()
    return str(context.flow_run.id)


def test_the_heartbeat_is_prefects_event_and_stops_with_the_flow(
    sent: list[dict[str, Any]],
) -> None:
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 45}), prompt_flow_heartbeats():
        # A parameter typed with a name of this module (the flows' own take dates): Prefect
        # validates parameters against the function's signature.
        run_id = parent(with_child=True, day=date(2026, 10, 1))
    # Prefect's engine sent none (it would have waited for its thread at the end).
    assert seen["engine_frequency"] is None
    assert len(seen["beating"]) == 1
    assert not seen["beating"][0].is_alive()  # joined when the function returned
    # One beat at the start (the next was 45 s away), for the parent only: the child date
    # runs in the parent's process, whose heartbeat already says it is alive.
    assert [e["event"] for e in sent] == [HEARTBEAT_EVENT]
    resource, related = seen["prefect_template"]
    assert sent[0]["resource"] == resource
    assert resource["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    assert [r.model_dump() for r in sent[0]["related"]] == [r.model_dump() for r in related]
    assert seen["child_run"].id != run_id


def test_outside_the_command_line_prefect_sends_them_as_before(
    sent: list[dict[str, Any]],
) -> None:
    """A deployment's run (the runner starts it) is not inside prompt_flow_heartbeats."""
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 45}):
        parent()
    assert seen["engine_frequency"] == 45 and sent == [] and seen["beating"] == []


def test_heartbeats_turned_off_stay_off(sent: list[dict[str, Any]]) -> None:
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prompt_flow_heartbeats():
        parent()
    assert seen["engine_frequency"] is None and sent == [] and seen["beating"] == []


def test_a_dask_worker_given_the_interval_beats_for_its_date(
    sent: list[dict[str, Any]],
) -> None:
    """A worker inherits the parent's settings (Prefect's heartbeats off inside
    prompt_flow_heartbeats), not its context: given the interval, its date run beats."""
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 45}), prompt_flow_heartbeats():
        handed = heartbeat_seconds()
    assert handed == 45
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):  # as on the worker
        parent()
        assert sent == []
        with prompt_flow_heartbeats(handed):
            run_id = parent()
    assert [e["resource"]["prefect.resource.id"] for e in sent] == [f"prefect.flow-run.{run_id}"]


def test_a_beating_flows_version_is_its_own_files_hash() -> None:
    """Prefect versions a flow by its function's file; wrapped, that was prefect_client.py."""
    from prefect.utilities.hashing import file_hash

    from flows import pipeline

    assert parent.version == file_hash(__file__)
    assert pipeline.nightly.version == file_hash(pipeline.__file__)
    assert pipeline.nightly.version != file_hash(prefect_client.__file__)
