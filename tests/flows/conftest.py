"""Fixtures of the flow tests: a real HTTP endpoint that alerts are sent to."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest


@dataclass
class AlertReceiver:
    """Where a ``json://`` Apprise alert goes: its URL and every message it received."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    """An HTTP server on 127.0.0.1 that records the JSON body of every POST."""
    found: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            found.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield AlertReceiver(f"json://127.0.0.1:{server.server_port}/alerts", found)
    finally:
        server.shutdown()
        server.server_close()


def flow_runs_named(name: str, data_dir: str, *, partial: bool = False) -> list[Any]:
    """The flow runs called ``name`` (or whose name contains it, ``partial``) that ran on
    ``data_dir``, as the API returns them.

    Each pytest worker shares one Prefect API across its test modules, and several modules
    backfill the same dates (``nightly-2026-10-01``): a module counting its runs by name
    alone counted another module's too (CI saw two runs where one was made here)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    from flows.recovery import data_dir_of_parameters, same_data_dir

    wanted = FlowRunFilterName(like_=name) if partial else FlowRunFilterName(any_=[name])
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=wanted))
    return [
        run
        for run in runs
        if (ran_on := data_dir_of_parameters(run.parameters)) and same_data_dir(ran_on, data_dir)
    ]
