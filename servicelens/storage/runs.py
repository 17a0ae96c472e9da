"""What state each survey date is in, and which dates a backfill or the nightly run processes.

No Prefect here: these functions read partition manifests and the per-date outcome records,
and return plans that the flows carry out. A date is

* ``completed`` when both mart partitions stand with their manifests (what BI reads), all
  of one run's publish (:func:`unfinished_publish`),
* ``failed`` when its latest run failed after (or without) the last successful publish,
* ``missing`` otherwise: never published, or published in part by a run that stopped
  before it finished (``DateStatus.torn`` says which), so running the date repairs it.

The outcome records live in ``<data>/runs/survey_date=<date>.json``, outside the marts, so a
failure never touches what BI reads.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from servicelens.settings import SURVEYS_FILE, Settings, day_input_files
from servicelens.storage.fs import DataPath, modified_at, store_address, write_text_whole
from servicelens.storage.partitions import (
    DATA_FILE,
    MANIFEST_FILE,
    checksums,
    partition_dir,
    read_manifest,
    torn_partition,
)
from transforms.clean import NPS_DETRACTOR_MAX
from transforms.schemas import NEGATIVE_CSAT_MAX, PARTITION_COLUMN, policy_name

DateState = Literal["missing", "failed", "completed"]
Outcome = Literal["completed", "failed", "interrupted", "crashed"]
#: Outcomes of runs that stopped before they finished: the date's state stays as it was.
UNFINISHED = ("interrupted", "crashed")
RerunPolicy = Literal["missing", "failed", "changed", "all"]
RERUN_POLICIES: tuple[str, ...] = get_args(RerunPolicy)
#: The tables whose manifests say a date is published; BI reads these.
MART_TABLES = ("feedback_scored", "daily_summary")
#: Written by the same run after MART_TABLES (``flows/tasks.py``), where it is written at all
#: (dates published before it existed have none).
ALSO_PUBLISHED = ("review_queue",)
HISTORY_KEPT = 20


def input_checksums(settings: Settings, day: date) -> dict[str, str]:
    """What one date's (or partition's) output is built from, path -> sha256: the sample's
    raw files of the date, or a landed source's partition file and every delivery in it
    (the landed manifest's checksums: a delivery is immutable, so it is not hashed again)."""
    current = checksums(day_input_files(settings, day))
    if settings.is_sample:
        return current
    manifest = read_manifest(settings.landed_dir, day) or {}
    return {**current, **manifest.get("inputs", {})}


def outcome_path(settings: Settings, day: date) -> DataPath:
    return settings.runs_dir / f"{PARTITION_COLUMN}={day.isoformat()}.json"


def record_outcome(
    settings: Settings,
    day: date,
    run_id: str,
    outcome: Outcome,
    *,
    error: str | None = None,
    counts: dict[str, Any] | None = None,
    inputs: dict[str, str] | None = None,
) -> DataPath:
    """Write the outcome of one date's run, atomically (a reader sees the old or the new one).

    ``completed`` and ``failed`` decide the date's state, with the date's input checksums
    (path -> sha256): ``inputs``, the ones the run read its files under, else taken now
    (:func:`input_checksums`, hashing every input again), so the nightly run can tell later
    whether a date's inputs have changed since it ran. ``interrupted`` (stopped by a signal)
    and ``crashed`` (found dead by a later run) leave the date's state as it was: they are
    added to the history, with ``error`` saying why, under ``stopped``. A run's unfinished
    outcome is recorded once.
    """
    finished_at = datetime.now(UTC).isoformat()
    previous = read_outcome(settings, day) or {}
    earlier = previous.get("history", [])
    if outcome in UNFINISHED and any(h.get("run_id") == run_id for h in earlier):
        return outcome_path(settings, day)
    # Earlier outcomes are kept (briefly) so a trigger can key on the state it was made in.
    entry = {"run_id": run_id, "finished_at": finished_at, "outcome": outcome}
    history = [*earlier, entry][-HISTORY_KEPT:]
    this_run = {
        PARTITION_COLUMN: day.isoformat(),
        "outcome": outcome,
        "run_id": run_id,
        "finished_at": finished_at,
        "error": error,
    }
    if outcome in UNFINISHED:
        # The record keeps the outcome that decides the state; with none yet, this one.
        kept = {**this_run, "counts": {}, "inputs": {}, **previous}
        record = {**kept, "stopped": {**entry, "reason": error}, "history": history}
    else:
        inputs = input_checksums(settings, day) if inputs is None else inputs
        record = {**this_run, "counts": counts or {}, "inputs": inputs, "history": history}
    target = outcome_path(settings, day)
    write_text_whole(target, json.dumps(record, indent=2, default=str))
    return target


#: The inbox files a source's last nightly run could not land, beside its date records.
INBOX_RECORD = "inbox-not-landed.json"


def record_inbox_failures(settings: Settings, run_id: str, failures: dict[str, str]) -> DataPath:
    """Record the files of a source's inbox that run ``run_id`` could not land (path -> its
    one-line error), replacing what the source's previous run recorded (an empty record when
    all landed). An inbox file belongs to no date, so it is not a date's outcome; without
    this record a scheduled run's failure was said only in Prefect's API, and nothing in the
    data directory named the file or why (found by a trial: ``runs show``, the run records
    and the logs had none of it).

    Each file keeps ``refused_since``, when a run first refused it (carried over from the
    previous record while runs go on refusing it), so its wait can be told (the run report,
    ``runs show``); a record written before it was kept has none: its ``recorded_at`` is
    the earliest known."""
    now = datetime.now(UTC).isoformat()
    before = read_inbox_failures(settings) or {}
    since = {
        f["file"]: f.get("refused_since") or before.get("recorded_at") or now
        for f in before.get("files", [])
    }
    record = {
        "run_id": run_id,
        "recorded_at": now,
        "files": [
            {"file": file, "error": error, "refused_since": since.get(file, now)}
            for file, error in failures.items()
        ],
    }
    target = settings.runs_dir / INBOX_RECORD
    write_text_whole(target, json.dumps(record, indent=2))
    return target


#: The policies each date's early-warning alert named, beside the source's date records.
ALERTED_RECORD = "early-warning-alerted.json"


def alerted_policies(settings: Settings, day: date) -> list[str | None]:
    """The policy codes (None: the responses without one) an early-warning alert already
    named for ``day`` of the source (:func:`record_alerted`), so a date run again with
    nothing new pages nobody twice. Empty when none was sent."""
    path = settings.runs_dir / ALERTED_RECORD
    if not path.exists():
        return []
    record: dict[str, list[str | None]] = json.loads(path.read_text())
    return record.get(day.isoformat(), [])


def record_alerted(settings: Settings, day: date, policies: list[str | None]) -> DataPath:
    """Add ``policies`` to those an early-warning alert named for ``day`` (one JSON object,
    ISO date -> policy codes, for the source, written whole)."""
    path = settings.runs_dir / ALERTED_RECORD
    record: dict[str, list[str | None]] = json.loads(path.read_text()) if path.exists() else {}
    named = record.get(day.isoformat(), [])
    record[day.isoformat()] = [*named, *(p for p in policies if p not in named)]
    write_text_whole(path, json.dumps(record, indent=2, sort_keys=True))
    return path


def read_inbox_failures(settings: Settings) -> dict[str, Any] | None:
    """The record :func:`record_inbox_failures` last wrote for the source, or None."""
    path = settings.runs_dir / INBOX_RECORD
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def read_outcome(settings: Settings, day: date) -> dict[str, Any] | None:
    path = outcome_path(settings, day)
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def decided_by(settings: Settings, day: date, run_id: str) -> bool:
    """Whether the run ``run_id`` recorded a completed or failed outcome of ``day`` (its last
    outcome, or one kept in its history): a run that did decided the date's state. An
    interrupted or crashed outcome leaves the state as it was (:func:`record_outcome`)."""
    outcome = read_outcome(settings, day) or {}
    return any(
        e.get("run_id") == run_id and e.get("outcome") in ("completed", "failed")
        for e in [outcome, *outcome.get("history", [])]
    )


def completed_since(settings: Settings, day: date, since: datetime) -> bool:
    """Whether a run of ``day`` recorded it completed at ``since`` or later (its last
    outcome, or one kept in its history): what a backfill stopped part way had finished."""
    outcome = read_outcome(settings, day) or {}
    return any(
        e.get("outcome") == "completed" and _when(e.get("finished_at")) >= since
        for e in [outcome, *outcome.get("history", [])]
    )


def ran_since(settings: Settings, day: date, since: datetime) -> bool:
    """Whether a run of ``day`` recorded its own outcome (completed, failed, interrupted)
    at ``since`` or later: a run was started for it then (a dead backfill's dates without
    one were never started). ``crashed`` is left out: a later run's recovery writes it, and
    a backfill recovering an earlier one's dead runs as it starts records them after its
    own start."""
    outcome = read_outcome(settings, day) or {}
    return any(
        e.get("outcome") != "crashed" and _when(e.get("finished_at")) >= since
        for e in outcome.get("history", [])
    )


@dataclass(frozen=True)
class DateStatus:
    """Where one date stands, decided from its mart manifests and its last outcome record."""

    day: date
    state: DateState
    #: The last run of this date that had finished when the trigger was made: the basis of
    #: the idempotency key.
    last_run_id: str | None
    detail: str = ""
    #: Which data directory the date belongs to (see :func:`dataset_id`).
    dataset: str = ""
    #: A ``missing`` date whose partitions a stopped run left half published: what
    #: :func:`unfinished_publish` found ("" otherwise).
    torn: str = ""


def _when(text: str | None) -> datetime:
    return datetime.fromisoformat(text) if text else datetime.min.replace(tzinfo=UTC)


def _last_run_before(outcome: dict[str, Any] | None, as_of: datetime | None) -> str | None:
    if outcome is None:
        return None
    finished = [
        h["run_id"]
        for h in outcome.get("history", [])
        if as_of is None or _when(h["finished_at"]) < as_of
    ]
    return finished[-1] if finished else None


def dataset_id(settings: Settings) -> str:
    """A short, stable name for the data directory, for keys shared on one Prefect server:
    two data directories (two tenants, a test and production) must never take each other's
    runs for duplicates, and one directory however it is spelt (``./data``, ``data/``, its
    absolute path, a symbolic link to it) is one dataset. A platform engineer's trial found
    a deployment (absolute path) and a command-line backfill (``./data``) running the same
    dates twice, each its own "completed", and another folder's ``./data`` recovering the
    first folder's flow runs as its own."""
    # Sources sharing a data directory have their own dates (the sample keeps its old id);
    # an object store's prefix is told apart from the same one on another endpoint.
    root = settings.root
    where = str(root.resolve()) if isinstance(root, Path) else str(settings.data_dir).rstrip("/")
    name = store_address(where) + ("" if settings.is_sample else f"#{settings.source}")
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def date_status(settings: Settings, day: date, as_of: datetime | None = None) -> DateStatus:
    """Classify one date from its manifests; a failure newer than the last publish wins.

    ``as_of`` is when the trigger was made: runs that finished after it (another trigger's,
    in flight at the time) do not change the idempotency basis, so both triggers agree.
    """
    manifests = [read_manifest(settings.marts_dir / table, day) for table in MART_TABLES]
    outcome = read_outcome(settings, day)
    published = all(m is not None for m in manifests)
    written_at = max((_when(m.get("written_at")) for m in manifests if m), default=None)
    basis = _last_run_before(outcome, as_of)
    dataset = dataset_id(settings)
    if outcome is not None and outcome["outcome"] == "failed":
        failed_after_publish = written_at is None or _when(outcome["finished_at"]) >= written_at
        if failed_after_publish:
            return DateStatus(day, "failed", basis, outcome.get("error") or "", dataset)
    if published:
        torn = unfinished_publish(settings, day, [m for m in manifests if m is not None])
        if torn:
            detail = f"published in part: {torn}; running the date again repairs it"
            return DateStatus(day, "missing", basis, detail, dataset, torn)
        written = f"written {written_at:%Y-%m-%d %H:%M}Z"
        crashed = last_run_crashed(outcome)
        if crashed:
            # Its partitions are the earlier run's, whole (each swap is atomic, and a torn
            # publish reads missing above); what the crashed run was to change is not done.
            detail = f"{crashed}; its partitions {written} by an earlier run stay published"
            return DateStatus(day, "failed", basis, detail, dataset)
        return DateStatus(day, "completed", basis, written, dataset)
    stopped = (outcome or {}).get("stopped")
    detail = (
        f"its last run was {stopped['outcome']} at {stopped['finished_at'][:19]}" if stopped else ""
    )
    return DateStatus(day, "missing", basis, detail, dataset)


def last_run_crashed(outcome: dict[str, Any] | None) -> str:
    """``"its last run crashed at 2026-11-01T10:04:12 (the run in process 4242 on vm is
    gone: its lock is free)"`` when the latest run of a date's outcome record (the last
    entry of its history) crashed: found dead by a later run's recovery
    (:func:`record_outcome` keeps the state an earlier run decided, and the crash under
    ``stopped``); "" otherwise.

    Such a date reads ``failed`` (:func:`date_status`), its earlier partitions still
    published: the work its last run was to do (a ``--rerun all`` with a new champion, a
    corrected export) is not done, and ``--rerun failed`` is how an analyst asks what is
    left. As Dagster shows an asset partition whose latest run failed as failed, whatever
    an earlier run materialised. A new user's trial: after a ``kill -9`` mid-date and the
    recovery, ``backfill --rerun failed`` listed nothing, the date reading ``completed``.
    An interrupted run (stopped by a signal, which says so as it stops) leaves the state as
    it was."""
    history = (outcome or {}).get("history") or []
    if not history or history[-1].get("outcome") != "crashed":
        return ""
    stopped = (outcome or {}).get("stopped") or {}
    when = str(history[-1].get("finished_at") or "")[:19]
    why = f" ({stopped['reason']})" if stopped.get("reason") else ""
    return f"its last run crashed at {when}{why}"


def unfinished_publish(settings: Settings, day: date, marts: list[dict[str, Any]]) -> str:
    """Why ``day``'s published partitions are not all of one run's publish, or "" when they
    are. ``marts`` are the manifests of its MART_TABLES partitions (all present).

    A run publishes a date in steps: the clean partition, then each mart partition, and on an
    object store each partition's data, then its manifest (:func:`write_partition`). Each step
    is atomic; a run stopped between two of them (a crash, a kill, a store that went away)
    leaves a date BI reads half old and half new while every partition stands: a
    ``daily_summary`` that does not add up to its ``feedback_scored``, marts built from other
    inputs than its clean rows, or a data file under the previous manifest. Its later
    recovery records it ``crashed``, which leaves the date's state as it was, so without this
    check the date stayed ``completed`` and no run repaired it (a platform engineer's trial).
    Found here, from the manifests the state is read from (and one size per mart file):

    * the mart partitions (and the review queue, where the date has one) name different runs,
    * the marts were built from other inputs than the clean partition beside them,
    * a mart's data file is not the size its manifest records (:func:`torn_partition`).
    """
    runs = {
        table: m.get("run_id")
        for table, m in zip(MART_TABLES, marts, strict=True)
        if m.get("run_id") is not None
    }
    for table in ALSO_PUBLISHED:
        also = read_manifest(settings.marts_dir / table, day)
        if also is not None and also.get("run_id") is not None:
            runs[table] = also["run_id"]
    if len(set(runs.values())) > 1:
        by_run: dict[str, list[str]] = {}
        for table, run in runs.items():
            by_run.setdefault(str(run), []).append(table)
        written = "; ".join(f"{' and '.join(t)} by run {run[:8]}" for run, t in by_run.items())
        return f"its partitions were written by different runs ({written})"
    clean = read_manifest(settings.clean_dir, day)
    built_from = marts[0].get("inputs")
    if (
        clean is not None
        and built_from is not None
        and not same_inputs(built_from, clean.get("inputs") or {})
    ):
        return (
            f"its marts were built from other inputs than its clean partition "
            f"({partition_dir(settings.clean_dir, day)}): a run stopped after publishing it"
        )
    for table, manifest in zip(MART_TABLES, marts, strict=True):
        data = partition_dir(settings.marts_dir / table, day) / DATA_FILE
        torn = torn_partition(data, manifest)
        if torn:
            return torn
    return ""


@dataclass(frozen=True)
class PlannedDate:
    """One date of a plan: run it or skip it, and why."""

    day: date
    state: DateState
    run: bool
    reason: str
    #: Two triggers that see the same state on disk compute the same key, so Prefect creates
    #: one flow run for them; a later, deliberate re-run sees a new state and a new key.
    idempotency_key: str
    #: What the user should do about a date the plan leaves incomplete (a skipped failed
    #: date); empty when nothing is needed.
    todo: str = ""


def idempotency_key(status: DateStatus) -> str:
    """The date, its data directory and the run its state on disk came from."""
    after = status.last_run_id or "none"
    return f"servicelens-nightly-{status.day.isoformat()}-{status.dataset}-after-{after}"


def plan_backfill(
    statuses: Iterable[DateStatus],
    rerun: RerunPolicy,
    newest_first: bool = False,
    changed: Callable[[DateStatus], bool] | None = None,
) -> list[PlannedDate]:
    """Which dates a backfill runs: ``missing`` (default) runs dates never published,
    ``failed`` also those whose last run failed, ``changed`` those never published and those
    whose inputs changed since their last run (a late or corrected export; failed dates only
    if so), ``all`` runs every date.

    ``changed`` (:func:`inputs_changed` bound to the settings) is needed by the ``changed``
    policy; given with another, a published date it does not run whose inputs changed says
    so in its ``todo`` (a dry run's plan), so a corrected export is never shown as "nothing
    to do". Raises ValueError for an unknown policy, or ``changed`` without the function.
    """
    if rerun not in RERUN_POLICIES:
        raise ValueError(f"--rerun {rerun!r}: choose one of {', '.join(RERUN_POLICIES)}")
    if rerun == "changed" and changed is None:
        raise ValueError("--rerun changed needs the inputs to compare (plan_backfill(changed=))")
    wanted: dict[str, set[str]] = {
        "missing": {"missing"},
        "failed": {"missing", "failed"},
        "changed": {"missing"},
        "all": {"missing", "failed", "completed"},
    }
    plan = []
    for s in statuses:
        differs = changed is not None and s.state != "missing" and changed(s)
        run = s.state in wanted[rerun] or (rerun == "changed" and differs)
        reason = f"{s.state}, rerun={rerun}" + (f" ({s.detail})" if s.detail else "")
        if differs:
            reason += "; inputs changed since its last run"
        plan.append(
            PlannedDate(s.day, s.state, run, reason, idempotency_key(s), _todo(s, run, differs))
        )
    return sorted(plan, key=lambda p: p.day, reverse=newest_first)


def backfill_plan(
    settings: Settings,
    statuses: Iterable[DateStatus],
    rerun: RerunPolicy,
    newest_first: bool = False,
    preview: bool = False,
) -> list[PlannedDate]:
    """:func:`plan_backfill` for ``settings``' dates, comparing inputs where it is needed:
    for ``--rerun changed``, and in a ``preview`` (a dry run), so a published date whose
    export was corrected says so. Comparing hashes every published date's inputs, which a
    real run of another policy does not need."""

    def changed(status: DateStatus) -> bool:
        return inputs_changed(settings, status)

    # A real run of another policy hashes only the dates whose files are newer than their
    # result: a trial's plain backfill skipped a corrected date silently ("completed,
    # rerun=missing") where its dry run had said to add --rerun changed.
    compare = preview or rerun == "changed"
    cheaply = functools.partial(changed_since_run, settings)
    plan = plan_backfill(statuses, rerun, newest_first, changed if compare else cheaply)
    if not settings.is_sample:
        return plan
    # A sample date without an export (a range over days never delivered) has nothing to
    # process: skipped, saying so. A trial's backfill over such days failed each with "no
    # survey export", told to fix it, and exited 3 on every rerun. A date published before
    # keeps its plan (the export may have been moved away: running it fails, as asked).
    return [
        replace(
            p,
            run=False,
            reason=f"no survey export ({settings.raw_day(p.day) / SURVEYS_FILE}): nothing "
            "to process",
            todo="",
        )
        if p.state in ("missing", "failed")
        and not (settings.raw_day(p.day) / SURVEYS_FILE).exists()
        else p
        for p in plan
    ]


#: What a date whose inputs differ from those its result was built from is said to be.
INPUTS_CHANGED = "its inputs changed since its last run"
#: A skipped date's ``todo`` when its inputs changed since its last run.
TODO_CHANGED = f"{INPUTS_CHANGED}: add --rerun changed to run it again"
#: A skipped date's ``todo`` when its last run failed.
TODO_FAILED = "its last run failed: add --rerun failed to run it again"


def _todo(status: DateStatus, run: bool, differs: bool = False) -> str:
    """What a date the plan skips still needs: a failed date's rerun first, whether or not
    its inputs changed since (a trial fixed a failed date's export and a plain backfill
    exited 0, the date's last run still failed: exit 3 is for failed dates skipped)."""
    if run:
        return ""
    if status.state == "failed":
        return TODO_FAILED
    if differs:
        return TODO_CHANGED
    return ""


def changed_since_run(settings: Settings, status: DateStatus) -> bool:
    """:func:`inputs_changed`, hashing only a date whose files are newer than its result
    (:func:`modified_since_run`), or one cleaned under another negative rule
    (:func:`rule_change`, a manifest read): cheap enough for every date a run passes over."""
    if status.state == "completed":
        # The rule is asked once: inputs_changed would read the manifest for it again.
        if rule_change(settings, status.day):
            return True
        return modified_since_run(settings, status) and clean_inputs_changed(settings, status.day)
    return modified_since_run(settings, status) and inputs_changed(settings, status)


def modified_since_run(settings: Settings, status: DateStatus) -> bool:
    """Whether any of a published or failed date's input files was modified after its
    result was written (its clean partition's manifest, or its failed run's record): the
    only dates whose inputs can differ, unless a copy kept an older modification time.
    Compares file times only, so a real backfill of another policy than ``changed`` can
    say which skipped dates changed without hashing every published date's exports."""
    if status.state == "completed":
        result = partition_dir(settings.clean_dir, status.day) / MANIFEST_FILE
    elif status.state == "failed":
        result = outcome_path(settings, status.day)
    else:
        return False
    try:
        written = modified_at(result)
    except OSError:
        return True
    for path in day_input_files(settings, status.day):
        try:
            if modified_at(path) > written:
                return True
        except OSError:
            continue  # a file that is not there (yet): hashing says whether that matters
    return False


def inputs_changed(settings: Settings, status: DateStatus) -> bool:
    """Whether a date's raw inputs differ from those its on-disk result was built from.

    A completed date compares with its clean partition's manifest, a failed date with the
    checksums taken when it failed; a missing date has changed if its survey export exists.
    A completed date cleaned under another negative rule than its source's definition says
    now (:func:`rule_change`) has changed too: its negatives are the old rule's.
    """
    if status.state == "completed":
        return clean_inputs_changed(settings, status.day) or bool(rule_change(settings, status.day))
    current = input_checksums(settings, status.day)
    if status.state == "failed":
        outcome = read_outcome(settings, status.day)
        return outcome is None or not same_inputs(outcome.get("inputs"), current)
    return str(day_input_files(settings, status.day)[0]) in current


def cleaned_under(settings: Settings, day: date) -> str | None:
    """The negative rule ``day``'s clean partition decided ``is_negative`` by, as its
    manifest records it (``csat <= 2``); None for the sample (its rule is fixed), without a
    clean partition, or where ``settings`` carries no rule to compare with.

    A manifest written before the rule was recorded was cleaned under the source's rule at
    its default threshold, the only one a definition could say then: a definition that
    sets another threshold since runs such a date again (found by a trial: the threshold
    raised to csat <= 3, the dates landed before kept their csat-3 responses not negative,
    and nothing said so)."""
    if settings.is_sample or not settings.negative_rule:
        return None
    manifest = read_manifest(settings.clean_dir, day)
    if manifest is None:
        return None
    recorded = manifest.get("negative_rule")
    if isinstance(recorded, str):
        return recorded
    kind = settings.negative_rule.split("<=", 1)[0].strip()
    default = {"csat": NEGATIVE_CSAT_MAX, "nps": NPS_DETRACTOR_MAX}.get(kind)
    return settings.negative_rule if default is None else f"{kind} <= {default}"


def rule_change(settings: Settings, day: date) -> str | None:
    """What changed in the negative rule since ``day``'s clean partition was cleaned, said
    for a plan (``cleaned under negative = "csat <= 2"; the definition now says "csat <=
    3"``), or None when it was cleaned under the definition's rule (:func:`cleaned_under`).

    A date so changed counts as changed (:func:`inputs_changed`): ``is_negative`` is decided
    when a date's landed rows are cleaned, so running it again, not landing its exports
    again, gives its responses the new rule."""
    before = cleaned_under(settings, day)
    if before is None or before == settings.negative_rule:
        return None
    return (
        f'cleaned under negative = "{before}"; the definition now says "{settings.negative_rule}"'
    )


def cleaned_under_other_rules(settings: Settings) -> dict[str, list[date]]:
    """The source's clean partitions cleaned under another negative rule than ``settings``'
    (:func:`rule_change`): each such rule -> its dates (partition starts), in order. Empty
    for the sample, or when every partition is the definition's rule's."""
    if settings.is_sample or not settings.negative_rule:
        return {}
    found: dict[str, list[date]] = {}
    manifests: list[DataPath] = list(
        settings.clean_dir.glob(f"{PARTITION_COLUMN}=*/{MANIFEST_FILE}")
    )
    days = sorted(date.fromisoformat(m.parent.name.split("=", 1)[1]) for m in manifests)
    for day in days:
        before = cleaned_under(settings, day)
        if before is not None and before != settings.negative_rule:
            found.setdefault(before, []).append(day)
    return found


def other_rules_text(settings: Settings, found: dict[str, list[date]]) -> str:
    """:func:`cleaned_under_other_rules`' ``found`` said for the terminal: which dates were
    cleaned under which rule, that their responses are negative or not by it until they
    run again, and the command that runs them now (the next ``servicelens run`` does too).
    Empty when ``found`` is."""
    if not found:
        return ""
    days = sorted(d for dates in found.values() for d in dates)
    under = "; ".join(
        f'{len(dates)} date(s) cleaned under "{rule}" ({_span(dates)})'
        for rule, dates in found.items()
    )
    return (
        f'the definition calls a response negative by negative = "{settings.negative_rule}", '
        f"but {under}: their responses are negative or not by that rule until they run "
        f"again. The next `servicelens run` runs them again (no export needs dropping "
        f"again), or now: `servicelens backfill --source {settings.source} --start "
        f"{days[0]} --end {days[-1]} --rerun changed`"
    )


def _span(days: list[date]) -> str:
    """``days`` (in order) as ``2026-01-12`` or ``2026-01-12..2026-01-13``."""
    return str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"


def clean_inputs_changed(settings: Settings, day: date) -> bool:
    """Whether ``day``'s clean partition (none counts as changed) was built from other
    inputs than the date has now."""
    manifest = read_manifest(settings.clean_dir, day)
    return manifest is None or not same_inputs(
        manifest.get("inputs"), input_checksums(settings, day)
    )


def same_inputs(recorded: dict[str, str] | None, current: dict[str, str]) -> bool:
    """Whether ``recorded`` inputs (path -> sha256, as a manifest or outcome holds them) are
    the same files with the same bytes as ``current``.

    A file is named by its folder and its name (``2026-10-01/interactions.jsonl``,
    ``survey_date=2021-01-01/part-0.parquet``), not by its whole path: paths are written as
    the data directory was given (``data`` in one shell, ``/srv/feedback/data`` in the
    nightly job), and comparing them made every partition whose inputs were recorded under
    the other spelling run again."""
    if recorded is None:
        return False

    def named(inputs: dict[str, str]) -> Counter[tuple[str, str]]:
        return Counter(
            ("/".join(path.replace("\\", "/").rsplit("/", 2)[-2:]), digest)
            for path, digest in inputs.items()
        )

    return named(recorded) == named(current)


def left_failed(settings: Settings, status: DateStatus, backfill: str) -> PlannedDate:
    """A nightly plan's entry for a date whose last run failed and whose inputs have not
    changed since: not run (a failure reruns when its inputs change), but named every night
    with where its error is and the command that reruns it once it is fixed, never left
    behind in silence (a failure caused by something else than the export, a QA file or a
    full disk, would otherwise stay failed while the nightly run exits 0). ``backfill`` is
    the command to name (``servicelens backfill``, with ``--source NAME`` for a source)."""
    return PlannedDate(
        status.day,
        status.state,
        False,
        "its last run failed, and its inputs have not changed since",
        idempotency_key(status),
        f"its error is in {outcome_path(settings, status.day)}; once it is fixed: "
        f"`{backfill} --start {status.day} --end {status.day} --rerun failed`",
    )


def plan_nightly(
    settings: Settings, target: date, lookback_days: int, as_of: datetime | None = None
) -> list[PlannedDate]:
    """The nightly run: ``target`` (yesterday) always, plus each of the ``lookback_days``
    dates before it whose inputs changed since it was last processed (late surveys). A
    look-back date left failed with the same inputs is named, not run (:func:`left_failed`)."""
    from datetime import timedelta

    plan: list[PlannedDate] = []
    status = date_status(settings, target, as_of)
    plan.append(PlannedDate(target, status.state, True, "nightly date", idempotency_key(status)))
    for back in range(1, lookback_days + 1):
        status = date_status(settings, target - timedelta(days=back), as_of)
        changed = inputs_changed(settings, status)
        if status.state == "failed" and not changed:
            plan.append(left_failed(settings, status, "servicelens backfill"))
            continue
        reason = (
            status.detail
            if status.torn
            else "inputs changed since last run"
            if changed
            else "inputs unchanged"
        )
        plan.append(PlannedDate(status.day, status.state, changed, reason, idempotency_key(status)))
    return plan


def drift_flags(counts: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
    """Plain warnings for a date whose shares move away from the dates before it.

    ``counts`` and each entry of ``history`` hold ``surveys_read``, ``quarantined``,
    ``superseded_duplicates``, ``set_aside``, ``kept``, ``negatives`` and ``rated`` (the
    kept rows a rating was given for). The rejected share is of the quarantined rows that
    are neither earlier copies superseded nor set aside by the definition's
    ``[[exclude]]`` rules (a Zendesk survey only offered), over the rows read. The
    negative share is of the rated rows (an unanswered call is neither negative nor not: a
    day with more of them is not a day with fewer complaints), of the kept rows where a
    date's counts predate ``rated``. The volume is of the rows read less those set aside
    (surveys offered are no responses), of the rows read where a date's counts predate
    ``set_aside``. With fewer than three earlier dates only absolute thresholds apply.
    """
    flags: list[str] = []
    read = counts.get("surveys_read") or 0
    if read == 0:
        return ["no surveys read"]
    # Earlier copies a later delivery replaced are not rejects: three deliveries of one
    # export flagged a share of 80% of a day where nothing was wrong (a BI analyst's trial).
    # Nor are rows the definition sets aside: a night of Zendesk surveys mostly offered and
    # unanswered is no night of rejects.
    rejected_share = (
        (counts.get("quarantined") or 0)
        - (counts.get("superseded_duplicates") or 0)
        - (counts.get("set_aside") or 0)
    ) / read
    usable = [h for h in history if h.get("surveys_read")]
    # One volume for every date compared: responses where all count the rows set aside.
    aside = all("set_aside" in c for c in (counts, *usable))

    def volume(c: dict[str, Any]) -> int:
        return int(c["surveys_read"]) - (int(c.get("set_aside") or 0) if aside else 0)

    # One denominator for every date compared: rated where all have it.
    of = "rated" if all("rated" in c for c in (counts, *usable)) else "kept"

    def share(c: dict[str, Any]) -> float:
        return float(c.get("negatives", 0)) / max(c.get(of, 0), 1)

    negative_share = share(counts)
    if rejected_share > 0.10:
        flags.append(
            f"rejected share {rejected_share:.1%} > 10% (quarantined rows other than earlier "
            "copies a later delivery replaced and rows the source definition sets aside)"
        )
    if len(usable) >= 3:
        past_negative = sum(share(h) for h in usable) / len(usable)
        past_volume = sum(volume(h) for h in usable) / len(usable)
        if past_negative and abs(negative_share - past_negative) / past_negative > 0.5:
            flags.append(
                f"negative share {negative_share:.1%} vs {past_negative:.1%} over "
                f"{len(usable)} earlier dates"
            )
        if past_volume and abs(volume(counts) - past_volume) / past_volume > 0.5:
            apart = counts.get("set_aside") if aside else 0
            said = f" (not counting {apart} set aside)" if apart else ""
            flags.append(f"{volume(counts)} surveys{said} vs {past_volume:.0f} a day before")
    return flags


def recent_counts(settings: Settings, day: date, days: int = 7) -> list[dict[str, Any]]:
    """Counts of the published dates before ``day`` (from clean manifests), for drift flags."""
    from datetime import timedelta

    found = []
    for back in range(1, days + 1):
        manifest = read_manifest(settings.clean_dir, day - timedelta(days=back))
        if manifest:
            found.append(manifest.get("counts", {}))
    return found


def summary_markdown(title: str, rows: list[dict[str, Any]]) -> str:
    """A markdown table of per-date outcomes, the body of the run-summary artifact."""
    columns = [
        "date",
        "outcome",
        "rows_in",
        "kept",
        "quarantined",
        "scored",
        "expectation_failures",
        "model_version",
        "drift_flags",
        "early_warning",
    ]
    lines = [f"# {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["", "## Failures and notes", ""]
        lines += [f"- **{r['date']}**: {r['error']}" for r in errors]
    return "\n".join(lines)


def summary_row(
    day: date, outcome: str, result: dict[str, Any], flags: list[str]
) -> dict[str, Any]:
    """One row of the run summary from a date's counts."""
    failures = result.get("failed_expectations") or {}
    return {
        "date": day.isoformat(),
        "outcome": outcome,
        "rows_in": result.get("surveys_read", ""),
        "kept": result.get("kept", ""),
        "quarantined": result.get("quarantined", ""),
        "scored": result.get("scored", ""),
        "expectation_failures": ", ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
        or "none",
        "model_version": result.get("model_version") or "",
        "drift_flags": "; ".join(flags) or "none",
        "early_warning": describe_flags(result.get("early_warning")),
        "error": result.get("error", ""),
    }


def describe_flags(warning: dict[str, Any] | None) -> str:
    """One line per flag, for the run summary and the alert: 'none' when there is none."""
    if not warning or not warning.get("flags"):
        return "none" if warning and warning.get("tested") else (warning or {}).get("status", "")
    return "; ".join(
        f"{policy_name(flag['policy_code'])} failure share {flag['share']:.0%} (normal "
        f"{flag['normal_range'][0]:.0%}-{flag['normal_range'][1]:.0%}, "
        f"{flag['failures']}/{flag['negatives']})"
        for flag in warning["flags"]
    )


def flag_sentence(flag: dict[str, Any]) -> str:
    """One early-warning flag as a sentence: the policy, its share, normal range and history."""
    low, high = flag["normal_range"]
    return (
        f"{policy_name(flag['policy_code'])}: {flag['share']:.0%} of {flag['negatives']:,} "
        "scored negatives "
        f"were policy failures; normal range {low:.0%}-{high:.0%} "
        f"(history {flag['baseline_share']:.0%})."
    )


class TimezoneMismatchError(ValueError):
    """A command or flow was asked to process dates of a data directory in another business
    timezone than its partitions record; nothing was run."""


def refuse_another_timezone(settings: Settings, origin: str) -> None:
    """Raise :class:`TimezoneMismatchError` when a newest clean partition of the data
    directory (the sample's, or a configured source's) records another business timezone
    than ``settings.timezone``; ``origin`` says where that one came from
    (:func:`servicelens.settings.timezone_origin`). Nothing when every newest manifest
    records it, or none records one (a new directory).

    A data directory keeps one business timezone: its dates are days of that timezone and
    its naive times are read in it. Found by a BI developer's trial: a run of 2026-10-25
    with SERVICELENS_TIMEZONE=America/New_York in a Europe/London directory only warned,
    exited 0 and rewrote the date's partitions with New York's day (rows of London's
    10-26 among them) and a manifest saying America/New_York. The command line, the
    nightly, nightly-window, backfill and sources flows call this before any work."""
    recorded = _newest_timezones(settings)
    others = {path: zone for path, zone in recorded.items() if zone != settings.timezone}
    if not others:
        return
    asked = f"this command would run in {settings.timezone} ({origin})"
    harm = (
        "its dates would be cut at another timezone's midnight and its naive times read in "
        "another clock, moving rows between dates. Nothing was run"
    )
    zones = sorted(set(recorded.values()))
    if len(zones) == 1:
        zone = zones[0]
        path = next(iter(others))
        raise TimezoneMismatchError(
            f'{settings.data_dir} keeps business timezone {zone} (recorded as "timezone" '
            f"in {path}), and {asked}: {harm}. Unset SERVICELENS_TIMEZONE (a command then "
            f"uses the directory's own) or set it to {zone}; to work in {settings.timezone}, "
            "process the exports in another data directory (--data-dir)"
        )
    where = "; ".join(f"{zone} in {path}" for path, zone in recorded.items())
    raise TimezoneMismatchError(
        f'{settings.data_dir} records more than one business timezone (as "timezone" in '
        f"its newest partitions' manifests: {where}), and {asked}: {harm}. A data directory "
        "keeps one: process its exports in one timezone in another data directory "
        "(--data-dir)"
    )


def recorded_timezone(settings: Settings) -> str | None:
    """The one business timezone the data directory's newest clean partitions record (the
    sample's and each configured source's), or None when they record none or disagree.

    Found by a trial: a cron job without ``SERVICELENS_TIMEZONE`` ran a Europe/Berlin
    directory in Europe/London, filed new rows under London's days and quarantined rows of
    the day before as dated elsewhere, and exited 0; its BI queries read weeks in London's
    days too. Where the variable is not set, the directory's own timezone is used."""
    zones = set(_newest_timezones(settings).values())
    return zones.pop() if len(zones) == 1 else None


def _newest_timezones(settings: Settings) -> dict[str, str]:
    """The newest clean partition's manifest path -> the business timezone it records, for
    the sample and each configured source that has one."""
    from servicelens.storage.partitions import MANIFEST_FILE

    tables: list[DataPath] = [settings.root / "clean" / "responses"]
    sources = settings.root / "sources"
    if sources.exists():
        tables += sorted(
            (p / "clean" / "responses" for p in sources.iterdir() if p.is_dir()), key=str
        )
    found: dict[str, str] = {}
    for table in tables:
        if not table.exists():
            continue
        manifests: list[DataPath] = sorted(table.glob(f"survey_date=*/{MANIFEST_FILE}"), key=str)
        if not manifests:
            continue
        recorded = json.loads(manifests[-1].read_text()).get("timezone")
        if recorded:
            found[str(manifests[-1])] = str(recorded)
    return found
