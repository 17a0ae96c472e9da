"""What a served process's log keeps of Prefect's and asyncio's background noise.

Found by a platform engineer's trial: serve's log file held nothing of any scheduled run,
only tracebacks of ``SystemExit: 0`` in asyncio callbacks as serve stopped and of
``ConnectionRefusedError`` as the server restarted. Here records like those go through
serve's log set-up to a real file handler.
"""

from __future__ import annotations

import asyncio
import logging
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
