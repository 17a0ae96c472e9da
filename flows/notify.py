"""Alerts: a failed nightly run notifies whoever ``SERVICELENS_NOTIFY_URL`` points at.

The URL is an Apprise URL (``json://host:port/path``, ``mailto://...``, ``slack://...``), so one
setting reaches e-mail, chat or a webhook. Prefect automations can do the same on the server;
this hook works without one.
"""

from __future__ import annotations

from typing import Any

import apprise

from servicelens.settings import Settings


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
    """Prefect ``on_failure`` hook: alert the configured URL (parameter, else environment)."""
    url = flow_run.parameters.get("notify_url") or Settings.from_env().notify_url
    if not url:
        return
    send_alert(
        url,
        f"servicelens: {flow_run.name} failed",
        f"{state.message}\nflow run {flow_run.id} ({flow.name})",
    )
