"""What a served process's log keeps of Prefect's and asyncio's background noise.

Found by a platform engineer's trial: serve's log file held nothing of any scheduled run,
only tracebacks of ``SystemExit: 0`` in asyncio callbacks as serve stopped and of
``ConnectionRefusedError`` as the server restarted. Here records like those go through
serve's log set-up to a real file handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path


def _record(name: str, level: int, message: str, error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        return logging.LogRecord(name, level, __file__, 1, message, None, sys.exc_info())


def test_serve_log_drops_stop_noise_and_names_a_lost_connection_in_one_line(
    tmp_path: Path,
) -> None:
    from flows.served import say_served, serve_log

    path = tmp_path / "serve.log"
    handler = logging.FileHandler(path)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with serve_log():
            stop = SystemExit(0)
            try:
                raise asyncio.CancelledError() from stop
            except asyncio.CancelledError as cancelled:
                handler.handle(
                    _record("asyncio", logging.ERROR, "Exception in callback X", cancelled)
                )
            refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 4285)")
            handler.handle(
                _record(
                    "prefect.FlowRunCancellingObserver",
                    logging.WARNING,
                    "The FlowRunCancellingObserver websocket failed with an exception.",
                    refused,
                )
            )
            handler.handle(_record("servicelens", logging.ERROR, "a real bug", KeyError("x")))
            say_served("ended nightly-window/run (id): Completed: 1 completed")
    finally:
        root.removeHandler(handler)
        handler.close()
    written = path.read_text()
    assert "Exception in callback" not in written
    assert "SystemExit" not in written
    assert written.count("Traceback") == 1  # the bug's, kept
    assert (
        "The FlowRunCancellingObserver websocket failed with an exception. "
        "(ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 4285))"
    ) in written
    assert "ended nightly-window/run (id): Completed: 1 completed" in written


#: A served flow run's process up to the import that warned: Prefect's engine loads the flow
#: (``flows/pipeline.py``, which imports ``servicelens`` first), then a date's validation
#: imports Great Expectations, and with it requests, for the first time. Meanwhile another
#: thread (Prefect's workers building parameter schemas, pandas in the data-docs thread)
#: leaves a ``warnings.catch_warnings`` block it entered before: here at the moment
#: requests, its filter added, imports ``requests.adapters``, which imports urllib3's SOCKS
#: module, the interleaving that lost requests' filter.
SERVED_RUN_IMPORTS = """
import importlib.abc
import sys
import threading
import warnings

import flows.pipeline

entered, leave, left = threading.Event(), threading.Event(), threading.Event()


def another_thread():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        entered.set()
        leave.wait(120)
    left.set()


class LeaveAsAdaptersAreImported(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "requests.adapters":
            leave.set()
            left.wait(120)
        return None


assert "requests" not in sys.modules, "requests is imported before validation now"
sys.meta_path.insert(0, LeaveAsAdaptersAreImported())
threading.Thread(target=another_thread).start()
assert entered.wait(120)
from servicelens.validation.expectations import survey_batch_suite

survey_batch_suite()
assert left.is_set()
print("validated")
"""


def test_a_served_runs_first_import_of_requests_prints_no_socks_warning(tmp_path: Path) -> None:
    """Found by a trial: after most runs serve started, its output held urllib3's
    ``socks.py:50: DependencyWarning: SOCKS support in urllib3 requires ... PySocks``.
    requests silences it by a filter it adds as it is imported; a ``catch_warnings`` block
    of another thread that ends meanwhile puts back the filters it found, without that one
    (not thread-safe before Python 3.14). servicelens adds its own as a process starts."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    ran = subprocess.run(
        [sys.executable, "-c", SERVED_RUN_IMPORTS],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "validated"
    assert "DependencyWarning" not in ran.stderr, ran.stderr
    assert "SOCKS" not in ran.stderr, ran.stderr
