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


def test_json_output_is_strict_json_with_an_undefined_number_as_null(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--json` outputs carried a model's undefined metrics as bare `NaN` (found by a trial in
    metrics.json, which `models show --json` prints): jq and JavaScript refuse them."""
    import json

    from servicelens.cli.console import print_json

    print_json({"roc_auc": float("nan"), "by_group": [{"n": 3.0, "pr_auc": float("inf")}]})

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    printed = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert printed == {"roc_auc": None, "by_group": [{"n": 3.0, "pr_auc": None}]}
