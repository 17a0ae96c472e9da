"""Alerts: a failed nightly run notifies whoever ``SERVICELENS_NOTIFY_URL`` points at.

The URL is an Apprise URL (``json://host:port/path``, ``mailto://...``, ``slack://...``), so one
setting reaches e-mail, chat or a webhook. Prefect automations can do the same on the server;
this hook works without one.
"""

from __future__ import annotations

import logging
from typing import Any

import apprise

from servicelens.dates import SurveyDateError
from servicelens.settings import Settings
from servicelens.storage.runs import flag_sentence

LOGGER = logging.getLogger(__name__)


def send_alert(url: str, title: str, body: str) -> bool:
    """Send one notification; False if the receiver did not accept it."""
    sender = apprise.Apprise()
    if not sender.add(url):
        raise ValueError(
            f"notification URL {url!r} is not an Apprise URL; set SERVICELENS_NOTIFY_URL to "
            "something like json://alerts.example.com/servicelens"
        )
    return bool(sender.notify(title=title, body=body))


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure`` hook: alert the configured URL (parameter, else environment).

    A run refused before it did anything (:class:`SurveyDateError`: a ``day`` not over yet,
    given by whoever started it by hand, who sees the refusal) is nobody's night to page.
    """
    url = flow_run.parameters.get("notify_url") or Settings.from_env().notify_url
    if not url:
        return
    if isinstance(state.result(raise_on_failure=False), SurveyDateError):
        LOGGER.info("no alert: %s was refused before anything ran: %s", flow_run.name, state)
        return
    send_alert(
        url,
        f"servicelens: {flow_run.name} failed",
        f"{state.message}\nflow run {flow_run.id} ({flow.name})",
    )


def alert_on_early_warning(url: str | None, warning: dict[str, Any] | None) -> bool:
    """Tell ``url`` about a nightly date whose failure share really rose (no-op without a URL
    or a flag): each flagged policy with its share, normal range and the comments behind it.
    """
    if not url or not warning or not warning.get("flags"):
        return False
    # The date is published by now: an unreachable or mistyped alert URL must not fail it.
    lines = []
    for flag in warning["flags"]:
        lines.append(flag_sentence(flag))
        lines += [f"  - {comment}" for comment in flag["comments"]]
    lines += ["", warning.get("statement", "")]
    policies = ", ".join(flag["policy_code"] for flag in warning["flags"])
    title = f"servicelens {warning['day']}: failure share rose for {policies}"
    try:
        sent = send_alert(url, title, "\n".join(lines))
    except ValueError as error:
        LOGGER.warning("early-warning alert not sent: %s", error)
        return False
    if not sent:
        LOGGER.warning("early-warning alert not accepted by %s: %s", url, title)
    return sent
