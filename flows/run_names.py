"""What a date's flow run is called and which flow a partition says published it: one rule
for the sample's dates and every configured source's, read from the run's trigger tag."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from prefect.runtime import flow_run

#: What asked for a date's ``nightly`` flow run: the nightly schedule (or ``servicelens run``)
#: or a backfill. The backfill flow (``backfill/servicelens-backfill``, ``servicelens
#: backfill``) tags each date run it creates ``backfill``, on Dask as locally.
DateTrigger = Literal["nightly", "backfill"]

#: The name of the flow each date runs as (flows/pipeline.py).
DATE_FLOW = "nightly"

# ``nightly-2026-11-02``, ``backfill-cfpb-2026-11-02``: a trigger, an optional source, a date.
# A backfill's own run (``backfill-2026-10-01-to-2026-10-07-...``) does not end with a date.
_DATE_RUN_NAME = re.compile(r"^(nightly|backfill)-(?:.+-)?\d{4}-\d{2}-\d{2}$")


def date_run_trigger(tags: Iterable[str]) -> DateTrigger:
    """``backfill`` for a date run tagged ``backfill`` (created by a backfill), else
    ``nightly`` (the nightly window's, ``servicelens run``'s, a direct call's)."""
    return "backfill" if "backfill" in tags else "nightly"


def date_run_name(settings: object, day: object, tags: Iterable[str] = ()) -> str:
    """A date's flow-run name: the trigger (:func:`date_run_trigger` of ``tags``), the source
    unless it is the generated sample, the date: ``nightly-2026-11-02``,
    ``backfill-cfpb-2026-11-02`` (``settings``: its Settings, or the parameters' dict form).
    Prefect's UI tells the sources' runs apart (an operator's trial saw every source's date
    run named alike) and a backfill's from a nightly's (a BI developer's trial saw a
    backfill's dates named ``nightly-sm-support-...``)."""
    if isinstance(settings, dict):
        source = settings.get("source")
    else:
        source = getattr(settings, "source", None)
    trigger = date_run_trigger(tags)
    return f"{trigger}-{day}" if source in (None, "sample") else f"{trigger}-{source}-{day}"


def is_date_run_name(name: str) -> bool:
    """Whether ``name`` is one :func:`date_run_name` gives (a nightly's or a backfill's date
    run), not a backfill's own run (``backfill-<start>-to-<end>-...``)."""
    return _DATE_RUN_NAME.match(name) is not None


def publishing_flow() -> str | None:
    """The ``flow`` a partition's manifest records (``processed_dates.flow``): for a date's
    ``nightly`` flow run, what triggered it (:func:`date_run_trigger` of its tags), so that a
    backfill's dates read ``backfill``, not the ``nightly`` flow they run as; for any other
    flow run (a backfill's or the nightly window's weekly marts) its flow's name; None outside
    a flow run (an erasure writes ``erase`` itself)."""
    name = flow_run.get_flow_name()
    return date_run_trigger(flow_run.get_tags()) if name == DATE_FLOW else name
