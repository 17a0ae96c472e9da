"""The bench's peak memory is the measured process's own, not its parent's."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.clock import peak_rss_bytes

_CHILD = (
    "import json; from benchmarks.clock import peak_rss_bytes; print(json.dumps(peak_rss_bytes()))"
)


def test_a_measurement_started_by_a_large_process_reports_its_own_peak() -> None:
    """The bench generates datasets in its own process, then starts each measurement in a
    fresh one: Linux's ru_maxrss carried the parent's high-water mark into the child, so a
    floor run that peaks near 1.6 GB read 3,129 MB, the bench's own."""
    held = bytearray(400 * 2**20)
    held[::4096] = b"\x01" * len(held[::4096])  # touch every page: resident, not reserved
    assert peak_rss_bytes() > 400 * 2**20
    done = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True
    )
    child_peak = json.loads(done.stdout)
    assert 0 < child_peak < 200 * 2**20, child_peak
    del held
