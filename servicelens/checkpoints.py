"""Named points in a run where a crash test can stop the process and kill it.

Crash-safety tests must SIGKILL a real process at a known moment, e.g. after a partition is
staged but before it is swapped in. ``SERVICELENS_PAUSE_AT`` names such points (comma
separated); when a run reaches one it writes the point's name to ``SERVICELENS_PAUSE_FILE``
and waits (``SERVICELENS_PAUSE_SECONDS``, default 120), so the test can kill it there, or
delete the file to let it go on. Without the variable a checkpoint costs one environment
lookup and does nothing.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

PAUSE_AT_ENV = "SERVICELENS_PAUSE_AT"
PAUSE_FILE_ENV = "SERVICELENS_PAUSE_FILE"
PAUSE_SECONDS_ENV = "SERVICELENS_PAUSE_SECONDS"
#: Long enough for any test to kill the process; a run is never left paused for good.
PAUSE_SECONDS = 120.0
POLL_SECONDS = 0.05


def checkpoint(name: str) -> None:
    """Pause here if a crash test asked to (see the module docstring); otherwise return."""
    wanted = os.environ.get(PAUSE_AT_ENV)
    if not wanted or name not in wanted.split(","):
        return
    default = Path(tempfile.gettempdir()) / f"servicelens-paused-{os.getpid()}"
    marker = Path(os.environ.get(PAUSE_FILE_ENV) or default)
    # Written whole, then renamed: a test that saw the file appear read it empty once, on a
    # busy machine, between its creation and its write (a whole-suite run, test_kill.py).
    partial = marker.with_name(f".{marker.name}.partial")
    partial.write_text(name)
    os.replace(partial, marker)
    deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS_ENV) or PAUSE_SECONDS)
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
