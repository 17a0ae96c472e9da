"""Fixtures of the flow tests: a real HTTP endpoint that alerts are sent to, the early
warning's demo run, and the end-to-end demo run."""

from __future__ import annotations

import json
import pickle
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from servicelens.settings import Settings
from tests.shared_builds import built_once, run_folder

#: The end-to-end demo: six dates of 1,200 surveys, seed 3 (test_end_to_end.py), also the
#: first run of the dates test_rerun_counts.py runs again.
END_TO_END_START = date(2026, 10, 1)
END_TO_END_END = END_TO_END_START + timedelta(days=5)

#: The early warning's demo: six dates, a policy has three days of history by the last one.
EARLY_WARNING_START = date(2026, 10, 5)
EARLY_WARNING_END = EARLY_WARNING_START + timedelta(days=5)


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


def _early_warning_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=str(data_dir), early_warning_min_history_days=3)


@pytest.fixture(scope="module")
def early_warning_demo(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of its own, for the module, of one demo run (Prefect's real engine, Great
    Expectations, a model trained) of :data:`EARLY_WARNING_START` to
    :data:`EARLY_WARNING_END`, 600 surveys a date, with three days of history enough for
    the early warning.

    test_early_warning.py and test_early_warning_counts.py each ran this same deterministic
    demo (about 50 s of CPU on 2 cores) in a data directory of their own; the first module
    of the run to ask builds it now (:func:`tests.shared_builds.built_once`), and each gets
    a copy to write to (the copy is a moved data directory: inputs are matched by folder
    and name, not by whole path, as in ``servicelens.storage.runs.same_inputs``)."""
    from flows.pipeline import demo

    def build(folder: Path) -> None:
        demo(
            _early_warning_settings(folder),
            EARLY_WARNING_START,
            EARLY_WARNING_END,
            per_day=600,
            seed=5,
        )

    built = built_once(run_folder(tmp_path_factory), "early-warning-demo", build)
    own = tmp_path_factory.mktemp("early-warning")
    shutil.copytree(built, own, dirs_exist_ok=True)
    return _early_warning_settings(own)


def end_to_end_demo(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[Settings, dict]:
    """A copy of its own (``tmp_path_factory.mktemp(name)``) of one demo run (Prefect's
    real engine, Great Expectations, a model trained) of :data:`END_TO_END_START` to
    :data:`END_TO_END_END`, 1,200 surveys a date, seed 3, and what the demo returned.

    test_end_to_end.py checks this run, and test_rerun_counts.py ran the same deterministic
    demo (training its model is two thirds of a demo's CPU: cProfile, 2026-12-07) before
    running it again; the first module of the run to ask builds it now
    (:func:`tests.shared_builds.built_once`) and each gets a copy to write to (a moved data
    directory, as :func:`early_warning_demo`'s). The demo's result is unpickled from what
    the build left: the same counts, versions and rows the demo returned."""
    from flows.pipeline import demo

    def build(folder: Path) -> None:
        settings = Settings(data_dir=str(folder / "data"))
        result = demo(settings, END_TO_END_START, END_TO_END_END, per_day=1200, seed=3)
        (folder / "result.pickle").write_bytes(pickle.dumps(result))

    built = built_once(run_folder(tmp_path_factory), "end-to-end-demo", build)
    own = tmp_path_factory.mktemp(name)
    shutil.copytree(built / "data", own, dirs_exist_ok=True)
    result: dict = pickle.loads((built / "result.pickle").read_bytes())
    return Settings(data_dir=str(own)), result
