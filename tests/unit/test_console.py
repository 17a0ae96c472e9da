"""The terminal's progress bar."""

from __future__ import annotations

import io
import time

import pytest

from servicelens.cli.console import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_without_a_total_counts_what_is_done(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a trial at scale: a sources run of 170 partitions said nothing for four
    minutes; how many partitions it runs is known only once its inboxes are landed, so its
    bar counts them, with the time elapsed."""
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    done = [0]
    with progress("sources", None, lambda: done[0], unit="partition", poll_seconds=0.01):
        for _ in range(3):
            done[0] += 1
            time.sleep(0.03)
    assert "sources: 3 partitions done [" in terminal.getvalue()
    # With a total, the bar shows the share done.
    with progress("backfill", 4, lambda: done[0], unit="date", poll_seconds=0.01):
        pass
    assert "backfill:  75%|" in terminal.getvalue()
