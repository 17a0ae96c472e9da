"""Alerts: a failed nightly run or retrain notifies whoever ``SERVICELENS_NOTIFY_URL`` points at.

The URL is an Apprise URL (``json://host:port/path``, ``mailto://...``, ``slack://...``), so one
setting reaches e-mail, chat or a webhook. Prefect automations can do the same on the server;
this hook works without one.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from datetime import date
from types import SimpleNamespace
from typing import Any

import apprise

from servicelens.dates import SurveyDateError
from servicelens.ingest.configured import UNREADABLE_DEFINITION, configured_source
from servicelens.ingest.landing import period_start
from servicelens.retrain import UNFINISHED, ModelsNotTrained, Retrained, retrain_message
from servicelens.settings import Settings
from servicelens.storage.runs import (
    alerted_policies,
    flag_sentence,
    read_outcome,
    record_alerted,
)
from transforms.schemas import policy_name

LOGGER = logging.getLogger(__name__)


def send_alert(
    url: str, title: str, body: str, notify_type: apprise.NotifyType = apprise.NotifyType.INFO
) -> bool:
    """Send one notification; False if the receiver did not accept it (or cannot be
    reached: Apprise logs why and returns False)."""
    sender = apprise.Apprise()
    if not sender.add(url):
        raise ValueError(
            f"notification URL {url!r} is not an Apprise URL; set SERVICELENS_NOTIFY_URL to "
            "something like json://alerts.example.com/servicelens"
        )
    return bool(sender.notify(title=title, body=body, notify_type=notify_type))


def failure_alert(
    flow_name: str,
    run_name: str | None,
    run_id: Any,
    message: str,
    failure: Any,
    settings: Settings,
) -> tuple[str, str]:
    """The title and body of a failed run's alert: the flow, the failed dates, the inbox
    files not landed (their sources) and the data directory in the title; each failed
    date's reason (its outcome record's error) and the command that runs them again, and
    each inbox file's refusal and what to do, in the body. A trial's alert read
    "servicelens: adventurous-hound failed" with "1 of 4 dates did not complete:
    ['2026-12-04']"; another's, for a cp850 file left in a source's inbox, named the night
    as the failed date and told to backfill it, which lands no inbox. A retrain's
    (``failure`` a :class:`ModelsNotTrained`) is :func:`models_failure_alert`'s. Without
    ``run_name`` (a command's run: ``servicelens run``) the body names no flow run.
    """
    where = settings.data_dir
    if isinstance(failure, ModelsNotTrained):
        title, body = models_failure_alert(flow_name, where, failure.rows)
        return title, f"{body}\n\nflow run {run_name} ({run_id})" if run_name else body
    rows = getattr(failure, "rows", None) or []
    inbox = [r for r in rows if _inbox_file(r)]
    failed = [
        r for r in rows if r.get("todo") and r.get("outcome") != "skipped" and not _inbox_file(r)
    ]
    # A source not run because its registered definition cannot be read names no date, and
    # a backfill does not mend it: its line is the source's, its error says what does.
    unread = [r for r in failed if (r.get("result") or {}).get(UNREADABLE_DEFINITION)]
    failed = [r for r in failed if r not in unread]
    lines: list[str] = []
    named = [str(r["day"]) for r in failed] + [f"source {r['result']['source']}" for r in unread]
    title = f"servicelens {flow_name} failed"
    if named:
        title += f" for {', '.join(named)}"
    if inbox:
        sources = ", ".join(dict.fromkeys(str(r["result"].get("source")) for r in inbox))
        title += f"{';' if named else ':'} {len(inbox)} inbox file(s) not landed ({sources})"
    title += f" in {where}"
    for row in failed:
        source = (row.get("result") or {}).get("source")
        named_day = f"{row['day']} {source}" if source else str(row["day"])
        lines.append(f"{named_day}: {row['outcome']}: {_reason(settings, row)}")
    lines += [f"source {r['result']['source']}: {r['outcome']}: {r['error']}" for r in unread]
    if failed:
        lines += ["", "Once the cause is fixed, run them again:"]
        lines += [f"  {command}" for command in rerun_commands(where, failed)]
    for row in inbox:
        # The refusal names the file (flows.sources.configured_source_outcomes).
        lines += [
            *([""] if lines else []),
            f"{row['result'].get('source')} (inbox): {row.get('error') or 'not landed'}",
            f"  {row.get('todo') or 'it stays in the inbox'}",
        ]
    if not failed and not unread and not inbox:
        lines.append(message or "failed")
    ran = f"flow run {run_name} ({run_id}); " if run_name else ""
    lines += [
        "",
        f"{ran}`servicelens --data-dir {shlex.quote(where)} runs "
        "show` lists what is still held and the inbox files not landed",
    ]
    return title, "\n".join(lines)


def models_failure_alert(flow_name: str, where: str, rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The title and body of a failed retrain's alert (``rows``: each model's
    :class:`Retrained`, as a dict): the models that failed and the data directory in the
    title; in the body each failed model's line (why, on one line), the command that trains
    each again, then what became of the others (:func:`retrain_message`: a refusal among
    them completes, and is said as one)."""
    outcomes = [Retrained(**row) for row in rows]
    failed = [o for o in outcomes if o.outcome in UNFINISHED]
    others = [o for o in outcomes if o.outcome not in UNFINISHED]
    title = f"servicelens {flow_name} failed for {', '.join(o.model for o in failed)} in {where}"
    lines = [o.line() for o in failed]
    lines += ["", "Once the cause is fixed, train them again:"]
    for o in failed:
        source = "" if o.model == Settings.source else f" --source {shlex.quote(o.model)}"
        lines.append(f"  servicelens --data-dir {shlex.quote(where)} train{source}")
    if others:
        lines += ["", f"The other models: {retrain_message(others)}"]
    return title, "\n".join(lines)


def _inbox_file(row: dict[str, Any]) -> bool:
    """Whether an outcome row is an inbox file (or folder) that failed to land, which names
    a source and a file, not a date (as ``flows.pipeline`` tells them apart)."""
    return row.get("outcome") == "failed" and bool((row.get("result") or {}).get("inbox_file"))


def rerun_commands(where: str, failed: list[dict[str, Any]]) -> list[str]:
    """The backfills that run ``failed`` (outcome rows of a run on the data directory
    ``where``; a configured source's name ``result["source"]``) again, one a source over its
    failed dates, each runnable as printed: a configured source's names ``--source NAME``,
    since a backfill without it runs the sample's dates where the data directory holds
    them (found by a later read of the alert: the command it gave left the source's
    partition failed); ``--rerun all`` where a failure was not recorded (its ``todo`` says
    so: :func:`flows.dates.failed_todo`), else ``--rerun failed``."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in failed:
        by_source.setdefault(str((row.get("result") or {}).get("source") or ""), []).append(row)
    commands = []
    for source, rows in by_source.items():
        days = [str(r["day"]) for r in rows]
        rerun = "all" if any("--rerun all" in str(r.get("todo")) for r in rows) else "failed"
        named = f" --source {shlex.quote(source)}" if source else ""
        commands.append(
            f"servicelens --data-dir {shlex.quote(where)} backfill{named} --start {min(days)} "
            f"--end {max(days)} --rerun {rerun}"
        )
    return commands


def _reason(settings: Settings, row: dict[str, Any]) -> str:
    """Why a date failed: the run's error, else what the date's outcome record says (as
    ``servicelens runs show`` reads it; a configured source's partition, its source's)."""
    if row.get("error"):
        return str(row["error"])
    try:
        if source := (row.get("result") or {}).get("source"):
            settings = configured_source(settings, str(source))
        recorded = read_outcome(settings, date.fromisoformat(str(row["day"]))) or {}
    except (OSError, ValueError):
        recorded = {}
    return str(recorded.get("error") or "no error recorded: see the flow run's log")


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure`` hook: alert the configured URL (parameter, else environment),
    as a failure. An alert that is not sent (a refused or unreachable URL) is logged as a
    warning: Prefect reports the hook as run either way.

    A run refused before it did anything (:class:`SurveyDateError`: a ``day`` not over yet,
    given by whoever started it by hand, who sees the refusal) is nobody's night to page,
    nor is a run given its settings: the command line's (``servicelens train``, whose
    refusal, such as too few audits, its user reads where they ran it).
    """
    if flow_run.parameters.get("settings") is not None:
        LOGGER.info("no alert: %s was run from the command line: %s", flow_run.name, state)
        return
    settings = Settings.from_env(flow_run.parameters.get("data_dir"))
    url = flow_run.parameters.get("notify_url") or settings.notify_url
    if not url:
        return
    failure = state.result(raise_on_failure=False)
    if isinstance(failure, SurveyDateError):
        LOGGER.info("no alert: %s was refused before anything ran: %s", flow_run.name, state)
        return
    title, body = failure_alert(
        flow.name, flow_run.name, flow_run.id, state.message, failure, settings
    )
    _send_failure(url, title, body)


def alert_on_failed_run(settings: Settings, rows: list[dict[str, Any]]) -> bool:
    """Alert ``settings.notify_url`` (``SERVICELENS_NOTIFY_URL``) of a ``servicelens run``
    that failed, as the served nightly's failure is alerted (:func:`failure_alert`, titled
    ``servicelens run failed ...``): ``rows`` are its dates' and inbox files' outcome rows
    (the fields of :class:`flows.dates.DateOutcome`, as dicts), the failed ones named with
    why and what to run. A nightly run from cron alerted nobody (found by a QA lead's
    trial). No-op without a URL; returns whether the receiver accepted the alert."""
    if not settings.notify_url:
        return False
    title, body = failure_alert("run", None, None, "", SimpleNamespace(rows=rows), settings)
    return _send_failure(settings.notify_url, title, body)


def _send_failure(url: str, title: str, body: str) -> bool:
    """Send a failure alert; one not sent (a refused or unreachable URL) is a warning."""
    try:
        sent = send_alert(url, title, body, apprise.NotifyType.FAILURE)
    except ValueError as error:
        LOGGER.warning("failure alert not sent: %s", error)
        return False
    if not sent:
        LOGGER.warning(
            "failure alert not sent: %s did not accept it (refused or unreachable): %s",
            url,
            title,
        )
    return sent


def alert_on_early_warning(
    url: str | None, warning: dict[str, Any] | None, settings: Settings
) -> bool:
    """Tell ``url`` about a date of ``settings``' source (the sample, or a configured
    source, named in the title) whose failure share really rose: each flagged policy not
    already named by an alert for that date (:func:`~servicelens.storage.runs.alerted_policies`)
    with its share, normal range and the comments behind it. No-op without a URL, a flag or
    a policy not alerted before: a date run again with nothing new (``servicelens run
    --date D`` twice, a re-delivered export) pages nobody twice. The policies are recorded
    as alerted only once the receiver accepted the alert, so an unreachable receiver is
    tried again on the next run of the date. Returns whether an alert was sent.
    """
    if not url or not warning or not warning.get("flags"):
        return False
    day = date.fromisoformat(str(warning["day"]))
    before = alerted_policies(settings, day)
    flags = [flag for flag in warning["flags"] if flag["policy_code"] not in before]
    if not flags:
        LOGGER.info("early-warning alert for %s already sent: nothing new", day)
        return False
    # The date is published by now: an unreachable or mistyped alert URL must not fail it.
    lines = []
    for flag in flags:
        lines.append(flag_sentence(flag))
        lines += [f"  - {comment}" for comment in flag["comments"]]
    lines += ["", warning.get("statement", "")]
    policies = ", ".join(policy_name(flag["policy_code"]) for flag in flags)
    source = "" if settings.is_sample else f" {settings.source}"
    title = f"servicelens {day}{source}: failure share rose for {policies}"
    try:
        sent = send_alert(url, title, "\n".join(lines))
    except ValueError as error:
        LOGGER.warning("early-warning alert not sent: %s", error)
        return False
    if not sent:
        LOGGER.warning("early-warning alert not accepted by %s: %s", url, title)
        return False
    record_alerted(settings, day, [flag["policy_code"] for flag in flags])
    return True


def alert_on_nightly_date(
    url: str | None, settings: Settings, outcomes: Sequence[Any], target: date
) -> bool:
    """:func:`alert_on_early_warning` for the nightly date of a nightly run of ``settings``'
    source (``outcomes``: its :class:`flows.dates.DateOutcome` rows; ``target``: the night,
    whose partition is the one of the source's granularity holding it). Other dates the run
    processed (the look-back, partitions a late delivery changed) page nobody: their flags
    are in the run's lines, manifests and report, as a backfill's are."""
    nightly = period_start(target, settings.partition).isoformat()
    for outcome in outcomes:
        if outcome.day == nightly and outcome.outcome == "completed":
            return alert_on_early_warning(url, outcome.result.get("early_warning"), settings)
    return False
