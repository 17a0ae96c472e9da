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
