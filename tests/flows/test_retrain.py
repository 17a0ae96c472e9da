"""The served retrain deployment's flow (``train`` with a data directory) trains every model
the nightly run scores with, through the real Prefect engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.registry import champion_version
from servicelens.ingest.configured import configured_source, register_source
from servicelens.retrain import ModelsNotTrained
from servicelens.settings import Settings
from tests.flows.conftest import AlertReceiver
from tests.sources.configured_run import run_configured_source
from tests.sources.test_train_and_score import VENDOR_MAPPING, _vendor_export

#: Google Forms with no rating mapped (negative = "none"): it needs no model.
FORMS = Path(__file__).resolve().parents[1] / "sources" / "definitions" / "google-forms-hotdog.toml"


@pytest.mark.slow
def test_the_scheduled_retrain_trains_each_configured_source(
    prefect_api: None, tmp_path: Path, receiver: AlertReceiver
) -> None:
    """Found by a new user's trial: in a data directory holding configured sources only,
    every run of the retrain deployment failed on the sample's empty clean layer (and
    advised `servicelens demo`); no source's model was ever retrained."""
    from flows.pipeline import train

    # A source whose export carries its labels, and a Google Forms survey (no model needed).
    data, _ = run_configured_source(
        tmp_path, "acme-vendor", VENDOR_MAPPING, _vendor_export().write_csv()
    )
    base = Settings(data_dir=str(data))
    register_source(base, str(FORMS))
    vendor = configured_source(base, "acme-vendor")
    assert champion_version(vendor.models_dir) is None  # `sources run` trained nothing
    shutil.rmtree(base.reports_dir)

    state = train(data_dir=str(data), folds=2, return_state=True)
    assert state.is_completed(), state.message
    rows = state.result()
    assert [(r["model"], r["outcome"]) for r in rows] == [
        ("acme-vendor", "promoted"),
        ("hot-dog-survey", "skipped"),
    ]
    assert champion_version(vendor.models_dir) == rows[0]["version"]
    assert champion_version(base.models_dir) is None  # no sample model was asked for
    # The trained source's report is rewritten after its training, naming its champion.
    report = base.reports_dir / "latest-acme-vendor.html"
    assert rows[0]["version"] in report.read_text(encoding="utf-8")
    assert not (base.reports_dir / "latest-hot-dog-survey.html").exists()

    # A source added later with too few labels to train on: refused with training's own
    # message, the sources after it are still retrained, and the run completes saying so
    # (a new source stays so until QA has audited enough: not a failure every week).
    run_configured_source(
        tmp_path,
        "acme-small",
        VENDOR_MAPPING.replace('name = "acme-vendor"', 'name = "acme-small"'),
        _vendor_export(6, seed=3).write_csv(),
    )
    state = train(data_dir=str(data), folds=2, notify_url=receiver.url, return_state=True)
    assert state.is_completed(), state.message
    rows = state.result()
    assert [(r["model"], r["outcome"]) for r in rows] == [
        ("acme-small", "not trained"),
        ("acme-vendor", "unchanged"),
        ("hot-dog-survey", "skipped"),
    ]
    small = rows[0]["detail"]
    assert "QA audits of source acme-small are read from" in small, small
    assert state.message is not None and "demo" not in state.message
    assert state.message.splitlines()[0] == "1 not trained, 1 unchanged, 1 skipped"
    assert receiver.received == []  # a refusal is not a failure: nobody is paged

    # A registered definition edited by hand into something that is not TOML: that source
    # fails on its own, the others are still retrained, and the run fails once all were
    # tried, alerting the configured URL with the source and why (found reading the
    # retrain: one such file stopped the whole retrain, and a failed retrain alerted nobody).
    copy = data / "sources" / "acme-small" / "definition.toml"
    copy.write_text(copy.read_text() + "negative = csat <= 3\n")
    state = train(data_dir=str(data), folds=2, notify_url=receiver.url, return_state=True)
    assert state.is_failed(), state.message
    with pytest.raises(ModelsNotTrained) as failed:
        state.result()
    assert [(r["model"], r["outcome"]) for r in failed.value.rows] == [
        ("acme-small", "failed"),
        ("acme-vendor", "unchanged"),
        ("hot-dog-survey", "skipped"),
    ]
    [alert] = receiver.received
    assert alert["type"] == "failure"
    assert alert["title"] == f"servicelens train failed for acme-small in {data}"
    said = alert["message"].splitlines()[0]
    assert said.startswith(f"acme-small: failed: its registered definition cannot be read: {copy}")
    assert "servicelens sources add" in said


@pytest.mark.slow
def test_a_training_refused_by_hand_alerts_nobody(
    prefect_api: None, tmp_path: Path, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`servicelens train` runs the retrain's flow given its settings: its refusal is the
    user's to read where they ran it, not an alert to the URL the deployment pages."""
    from flows.pipeline import train
    from servicelens.stages import BatchError

    monkeypatch.setenv("SERVICELENS_NOTIFY_URL", receiver.url)
    state = train(Settings(data_dir=str(tmp_path)), return_state=True)
    assert state.is_failed()
    with pytest.raises(BatchError, match="no clean data yet"):
        state.result()
    assert receiver.received == []
