"""A configured source's early warning reaches the alert URL from the nightly runs, once a
date: ``servicelens run`` (as from cron) and the served ``nightly-window``.

Found by a QA lead's trial (a Google Forms source with a contact feed, one day at a time):
``servicelens run --date 2026-12-05`` printed "early warning: SMART-APPT: 86% of 92 scored
negatives were policy failures" and the served window's run flagged SMART-APPT on 12-06,
and the webhook received nothing: only the sample's nightly date was ever alerted. Here the
vendor export of tests/sources (20 complaints a day, half of them the company's fault) is
the source's history, and a day whose every complaint is a failure is the spike; alerts go
through Apprise to a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from tests.flows.conftest import AlertReceiver
from tests.sources.test_train_and_score import VENDOR_MAPPING, _vendor_export

SOURCE = "acme-vendor"
#: What the early warning calls the one group of a source that maps no policy code.
NO_POLICY = "responses without a policy code"


def _spike(day: date, rows: int, prefix: str) -> pl.DataFrame:
    """``rows`` complaints of ``day``, every one the company's fault (an incident)."""
    failures = _vendor_export(240, seed=2).filter(pl.col("verdict") == "Our fault").head(rows)
    return failures.with_columns(
        (pl.lit(f"{prefix}-") + pl.col("ticket")).alias("ticket"),
        pl.lit(day.strftime("%d/%m/%Y")).alias("opened"),
    )


def test_a_sources_flagged_night_alerts_once_from_run_and_from_the_served_window(
    prefect_api: None, tmp_path: Path, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.pipeline import nightly_window

    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    history = tmp_path / "history.csv"
    _vendor_export().write_csv(history)  # 2026-01-01..12, 20 complaints a day
    data = str(tmp_path / "data")
    monkeypatch.setenv("SERVICELENS_NOTIFY_URL", receiver.url)
    # Landed, trained and scored by hand: twelve days of history, none flagged, no alert.
    assert main(["--data-dir", data, "sources", "run", str(mapping), str(history), "--train"]) == 0
    assert receiver.received == []

    inbox = tmp_path / "data" / "inbox" / SOURCE
    night = date(2026, 1, 13)
    _spike(night, 24, "S").write_csv(inbox / "export-13.csv")
    assert main(["--data-dir", data, "run", "--date", str(night)]) == 0
    [alert] = receiver.received
    assert alert["title"] == f"servicelens {night} {SOURCE}: failure share rose for {NO_POLICY}"
    assert alert["message"].startswith(f"{NO_POLICY}: 100% of 24 scored negatives were policy ")

    # A late row re-delivers the night: its partition runs again, flagged as before, and
    # nobody is paged again for it; run with nothing new, it is not run at all.
    _spike(night, 25, "S").write_csv(inbox / "export-13-again.csv")
    assert main(["--data-dir", data, "run", "--date", str(night)]) == 0
    assert main(["--data-dir", data, "run", "--date", str(night)]) == 0
    assert len(receiver.received) == 1

    # The served window's night, the next day's incident: one alert, naming that date.
    served = date(2026, 1, 14)
    _spike(served, 22, "T").write_csv(inbox / "export-14.csv")
    state = nightly_window(day=served, data_dir=data, notify_url=receiver.url, return_state=True)
    assert state.is_completed(), state.message
    assert [a["title"] for a in receiver.received[1:]] == [
        f"servicelens {served} {SOURCE}: failure share rose for {NO_POLICY}"
    ]
    assert f"{NO_POLICY}: 100% of 22 scored negatives" in receiver.received[1]["message"]


def _zone_far_from_midnight() -> str:
    """A business timezone whose clock is between 02:00 and 22:00 now, so "yesterday" there
    stays the same day for the test's length (UTC, else Tokyo, nine hours ahead)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    for zone in ("UTC", "Asia/Tokyo"):
        if 2 <= datetime.now(ZoneInfo(zone)).hour < 22:
            return zone
    raise AssertionError("UTC or Tokyo is always between 02:00 and 22:00")


def test_sources_run_of_the_nightly_date_alerts_once_as_run_does(
    prefect_api: None, tmp_path: Path, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``servicelens sources run FILE`` is how a team runs one delivery by hand: a delivery
    of the nightly date (yesterday in the business timezone) that flags a policy alerts as
    ``run`` does, once a date and policy, in the same record (the night's ``run`` after it
    pages nobody again); its history days page nobody."""
    from servicelens.dates import yesterday

    zone = _zone_far_from_midnight()
    monkeypatch.setenv("SERVICELENS_TIMEZONE", zone)
    monkeypatch.setenv("SERVICELENS_NOTIFY_URL", receiver.url)
    night = yesterday(zone)
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    # The vendor export's twelve days moved onto the twelve days before the night.
    shift = night - date(2026, 1, 13)
    history = tmp_path / "history.csv"
    _vendor_export().with_columns(
        (pl.col("opened").str.to_date("%d/%m/%Y") + shift).dt.strftime("%d/%m/%Y")
    ).write_csv(history)
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "sources", "run", str(mapping), str(history), "--train"]) == 0
    assert receiver.received == []

    spike = tmp_path / "export-night.csv"
    _spike(night, 24, "S").write_csv(spike)
    assert main(["--data-dir", data, "sources", "run", str(mapping), str(spike)]) == 0
    [alert] = receiver.received
    assert alert["title"] == f"servicelens {night} {SOURCE}: failure share rose for {NO_POLICY}"
    assert alert["message"].startswith(f"{NO_POLICY}: 100% of 24 scored negatives were policy ")

    # Re-delivered by hand, then by the inbox on the night's run: nobody is paged again.
    again = tmp_path / "export-night-again.csv"
    _spike(night, 25, "S").write_csv(again)
    assert main(["--data-dir", data, "sources", "run", str(mapping), str(again)]) == 0
    _spike(night, 26, "S").write_csv(tmp_path / "data" / "inbox" / SOURCE / "export-late.csv")
    assert main(["--data-dir", data, "run", "--date", str(night)]) == 0
    assert len(receiver.received) == 1
