"""Runs left behind the way a SIGKILL leaves them, for recovery tests: a flow run of a date
created with its idempotency key by another trigger and stuck in Running, and the in-flight
record its process left (a lock file nobody holds, or a beat that stopped)."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from typing import Any

from servicelens.settings import Settings
from servicelens.storage.claims import Claim, claim_path
from servicelens.storage.locks import date_lock_path
from servicelens.storage.partitions import locks_dir
from servicelens.storage.runs import PlannedDate


def stuck_run(settings: Settings, planned: PlannedDate, key: str | None = None) -> Any:
    """A flow run of ``planned`` that another trigger created and left Running."""
    from prefect import get_client
    from prefect.client.schemas.actions import FlowRunCreate
    from prefect.client.schemas.objects import FlowRun
    from prefect.states import Running, to_state_create

    from flows.pipeline import nightly

    with get_client(sync_client=True) as client:
        request = FlowRunCreate(
            flow_id=client.create_flow(nightly),
            name=f"nightly-{planned.day}",
            parameters=nightly.serialize_parameters(
                {"day": planned.day, "settings": settings, "report": False}
            ),
            context={"servicelens_trigger": "a-killed-backfill"},
            tags=["servicelens", "backfill"],
            idempotency_key=key or planned.idempotency_key,
            state=to_state_create(Running()),
        )
        response = client.request("POST", "/flow_runs/", json=request.model_dump(mode="json"))
    return FlowRun.model_validate(response.json())


def dead_record(settings: Settings, flow_run: Any, **changes: object) -> Claim:
    """The in-flight record a killed process leaves: its lock file exists, nobody holds it."""
    day = date.fromisoformat(str(flow_run.parameters["day"]))
    lock = date_lock_path(locks_dir(settings.staging_dir), day)
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    now = datetime.now(UTC).isoformat()
    claim = Claim(
        kind="date",
        name=flow_run.name,
        flow_run_id=str(flow_run.id),
        host=socket.gethostname(),
        pid=999_999,
        started_at=now,
        beat_at=now,
        beat_seconds=settings.heartbeat_seconds,
        lock=str(lock),
        day=day.isoformat(),
        note="running",
    )
    claim = replace(claim, **changes)  # type: ignore[arg-type]
    path = claim_path(settings, claim.record_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(claim)))
    return claim
