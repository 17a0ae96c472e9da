"""What a date waiting for a backfill slot says of the slots' holders (flows.slots)."""

from __future__ import annotations

from flows.slots import SlotHolder, SlotUsage, _wait_message
from servicelens.storage.claims import Liveness


def _holder(name: str) -> SlotHolder:
    alive = Liveness(True, "process 27785 on vm holds its lock")
    return SlotHolder("lease", "run", name, None, alive)


def test_a_wait_counts_the_holders_it_names_when_the_servers_count_lags() -> None:
    """Found by a trial on a Prefect server: "waiting 34 s for a slot (0 of 2 taken, held
    by: nightly-team-form-2026-11-02 (alive ...))": the count, read before the in-flight
    records, had not caught up with the holder they named."""
    holder = _holder("nightly-team-form-2026-11-02")
    lagging = SlotUsage(limit=2, active=0, holders=[holder], leases_visible=False)
    said = _wait_message("2026-11-07", "servicelens-backfill", lagging, 34.0)
    assert "0 of 2 taken" not in said
    assert (
        "(1 of 2 taken, held by: nightly-team-form-2026-11-02 (alive: process 27785 on vm "
        "holds its lock); the server's count, 0, lags)"
    ) in said

    both = [holder, _holder("nightly-team-form-2026-11-03")]
    usage = SlotUsage(limit=2, active=2, holders=both, leases_visible=False)
    said = _wait_message("2026-11-07", "servicelens-backfill", usage, 3.0)
    assert "(2 of 2 taken, held by: nightly-team-form-2026-11-02 (alive" in said
    assert "lags" not in said
