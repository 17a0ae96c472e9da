"""What a date's rerun changed: its counts against the ones its published partition held.

A date run again (a demo over a lake it built before, a backfill ``--rerun``, the nightly
look-back) replaces its partitions; the run's output says which dates' counts differ from
those the marts held before (a BI owner's trial: the demo's rerun over an upgraded lake
printed 2026-11-08 kept 3,869 in a table of 28 dates, and nothing said it had been 4,892).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from servicelens.settings import Settings
from servicelens.storage.partitions import read_manifest

#: The counts compared, in the order they are said: ``(key, word)``. The keys are the
#: date's counts (:class:`servicelens.stages.DayCounts` and the marts' counts), as a
#: partition manifest's ``counts`` and a date's run result hold them.
COMPARED_COUNTS = (
    ("surveys_read", "read"),
    ("kept", "kept"),
    ("quarantined", "quarantined"),
    ("negatives", "negatives"),
)


def published_counts(settings: Settings, day: date) -> dict[str, int] | None:
    """The :data:`COMPARED_COUNTS` of ``day``'s published feedback_scored partition (its
    manifest's ``counts``, written by the run that published it, whichever flow it was), or
    None when the date has no published partition yet. Read before a run replaces it."""
    manifest = read_manifest(settings.marts_dir / "feedback_scored", day)
    if manifest is None:
        return None
    counts = manifest.get("counts") or {}
    return {key: int(counts[key]) for key, _ in COMPARED_COUNTS if counts.get(key) is not None}


def counts_change(previous: dict[str, int] | None, now: dict[str, Any]) -> str | None:
    """``"kept 4,892 -> 3,869, quarantined 201 -> 1,224"``: each of :data:`COMPARED_COUNTS`
    that ``now`` (a date's counts of this run) holds and that differs from ``previous``
    (:func:`published_counts` read before the run), or None when none differs or the date
    had no previous run (``previous`` None)."""
    if not previous:
        return None
    changed = [
        f"{word} {previous[key]:,} -> {int(now[key]):,}"
        for key, word in COMPARED_COUNTS
        if key in previous and now.get(key) is not None and int(now[key]) != previous[key]
    ]
    return ", ".join(changed) or None


def changed_since_previous(ingested: list[dict[str, Any]]) -> str | None:
    """The line a run's output says above its table when dates' counts changed:
    ``"counts changed since the previous run of 1 of 28 dates: 2026-11-08 (kept 4,892 ->
    3,869, quarantined 201 -> 1,224)"``. ``ingested``: one dict per date run, with ``day``,
    its counts and ``previous_counts`` (:func:`published_counts`, None for a first run)."""
    changes = [
        (row["day"], change)
        for row in ingested
        if (change := counts_change(row.get("previous_counts"), row))
    ]
    if not changes:
        return None
    rerun = sum(bool(row.get("previous_counts")) for row in ingested)
    return (
        f"counts changed since the previous run of {len(changes)} of the {rerun} date(s) run "
        "before: " + "; ".join(f"{day} ({change})" for day, change in changes)
    )
