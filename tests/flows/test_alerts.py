"""The alert of a failed nightly run says what failed, where, why and what to run; an alert
that is not sent is a warning.

Found by a platform engineer's trial: the alert read ``{"title": "servicelens:
adventurous-hound failed", "message": "1 of 4 dates did not complete: ['2026-12-04']\\nflow
run ...", "type": "info"}``: no reason (the date's record said ``required column(s) ['csat']
missing``), no data directory, no command, a random run name, type info. With an unreachable
URL Prefect said the hook "finished running successfully" and nothing said the alert was
lost. Here the hook runs on a real failed state and a real outcome record, and sends
through Apprise to a real HTTP receiver, then to a port nobody listens on.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import asdict
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.states import Failed

# At collection, not in a test: the first import of Prefect's flow machinery (prefect.main,
# here through flows.pipeline) configures logging, and that replaces the root logger's
# handlers, caplog's among them. A test that made that import itself, first on its pytest
# worker, captured no record (it passed only after another test of the worker had made it).
from flows.dates import DateOutcome
from flows.notify import alert_on_failure
from flows.pipeline import DatesNotCompleted
from servicelens.retrain import (
    FAILED,
    NOT_TRAINED,
    SKIPPED,
    ModelsNotTrained,
    Retrained,
    retrain_message,
    retrain_rows,
)
from servicelens.settings import Settings
from servicelens.storage.runs import record_outcome
from tests.flows.conftest import AlertReceiver

DAY = date(2026, 12, 4)
REASON = "data/raw/2026-12-04/surveys.csv: required column(s) ['csat'] missing"


def _failed_nightly(settings: Settings, notify_url: str) -> tuple[Any, Any, Any]:
    """A nightly window's flow, flow run and failed state, as Prefect hands them to the hook,
    with the failed date's outcome recorded."""
    record_outcome(settings, DAY, "run-1", "failed", error=REASON, inputs={})
    row = asdict(DateOutcome.failed(settings, str(DAY), f"nightly-{DAY}", "", ""))
    ok = {**row, "day": "2026-12-03", "outcome": "completed", "todo": "", "error": ""}
    message = f"1 of 2 dates did not complete: ['{DAY}']"
    state = Failed(message=message, data=DatesNotCompleted(message, [ok, row]))
    flow_run = SimpleNamespace(
        name="adventurous-hound",
        id="bfc61a6e-c593-4534-b732-277386227279",
        parameters={"data_dir": settings.data_dir, "notify_url": notify_url},
    )
    return SimpleNamespace(name="nightly-window"), flow_run, state


def test_a_failed_nightlys_alert_names_the_flow_dates_folder_reason_and_rerun(
    tmp_path: Path, receiver: AlertReceiver
) -> None:
    settings = Settings(data_dir=str(tmp_path))
    alert_on_failure(*_failed_nightly(settings, receiver.url))
    [alert] = receiver.received
    assert alert["type"] == "failure"
    assert alert["title"] == f"servicelens nightly-window failed for {DAY} in {tmp_path}"
    assert f"{DAY}: failed: {REASON}" in alert["message"]
    assert (
        f"servicelens --data-dir {tmp_path} backfill --start {DAY} --end {DAY} --rerun failed"
        in alert["message"]
    )
    assert "2026-12-03" not in alert["message"]


def test_an_alert_nobody_receives_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(data_dir=str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="flows.notify"):
        alert_on_failure(*_failed_nightly(settings, f"json://127.0.0.1:{port}/alerts"))
    [warned] = [r for r in caplog.records if r.name == "flows.notify"]
    assert warned.levelno == logging.WARNING
    assert f"127.0.0.1:{port}" in warned.getMessage()
    assert str(DAY) in warned.getMessage()


def _failed_retrain(settings: Settings, notify_url: str) -> tuple[Any, Any, Any]:
    """A retrain's flow, flow run and failed state, as Prefect hands them to the hook: one
    source's registered definition unreadable, one source's training failed, the sample's
    model refused (too few audits), one source skipped."""
    outcomes = [
        Retrained("sample", NOT_TRAINED, "training needs at least 3 audits; QA audits are ..."),
        Retrained("acme", FAILED, "its registered definition cannot be read: x.toml: not TOML"),
        Retrained("calls", FAILED, "OSError: [Errno 28] No space left on device"),
        Retrained("forms", SKIPPED, "no model needed: its definition marks no response ..."),
    ]
    message = retrain_message(outcomes)
    state = Failed(message=message, data=ModelsNotTrained(message, retrain_rows(outcomes)))
    flow_run = SimpleNamespace(
        name="weekly-owl",
        id="0f3c1d52-5a0e-4b8c-9d3e-5b5f0a7e2c11",
        parameters={"data_dir": settings.data_dir, "notify_url": notify_url},
    )
    return SimpleNamespace(name="train"), flow_run, state


def test_a_failed_retrains_alert_names_each_failed_model_and_why_on_a_line(
    tmp_path: Path, receiver: AlertReceiver
) -> None:
    """Found reading the retrain deployment: it had no failure hook, so a failed weekly
    retrain notified nobody. Its alert names the failed models, each with why on one line,
    the command that trains each again, and what became of the others (a refusal among
    them: not a failure)."""
    settings = Settings(data_dir=str(tmp_path))
    alert_on_failure(*_failed_retrain(settings, receiver.url))
    [alert] = receiver.received
    assert alert["type"] == "failure"
    assert alert["title"] == f"servicelens train failed for acme, calls in {tmp_path}"
    lines = alert["message"].splitlines()
    assert lines[:2] == [
        "acme: failed: its registered definition cannot be read: x.toml: not TOML",
        "calls: failed: OSError: [Errno 28] No space left on device",
    ]
    assert f"  servicelens --data-dir {tmp_path} train --source acme" in lines
    assert f"  servicelens --data-dir {tmp_path} train --source calls" in lines
    assert "The other models: 1 not trained, 1 skipped" in lines
    assert "sample: not trained: training needs at least 3 audits; QA audits are ..." in lines
    assert "weekly-owl" in lines[-1]


def _source_with_a_cp850_file(tmp_path: Path) -> tuple[str, Settings, Path]:
    """A data directory (returned first) with a configured source (its settings) whose inbox
    holds a cp850 export (its path) that the source's definition cannot land."""
    from servicelens.ingest.configured import register_source

    export = Path(__file__).resolve().parents[3] / "shared" / "field"
    export = export / "12-european-semicolon-decimal-comma" / "sample.csv"
    if not export.exists():
        pytest.skip(f"field sample not at {export}")
    definition = Path(__file__).parents[1] / "sources" / "definitions" / "european-feedback.toml"
    data = str(tmp_path / "data")
    source = register_source(Settings(data_dir=data), str(definition))
    refused = source.inbox_dir / "night-cp850.csv"
    refused.write_bytes(export.read_bytes().decode("cp1252").encode("cp850"))
    return data, source, refused


def test_a_failed_run_from_cron_alerts_as_the_served_nightly_does(
    prefect_api: None, tmp_path: Path, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a QA lead's trial: the served nightly's failure alerted, and `servicelens
    run`, which the README offers to cron, failed on the same kind of night (exit 1) and
    alerted nobody. Now it alerts SERVICELENS_NOTIFY_URL once, with the same text, titled
    as the command's."""
    from servicelens.cli.main import main
    from servicelens.ingest.configured import NOT_LANDED_TODO

    data, source, refused = _source_with_a_cp850_file(tmp_path)
    monkeypatch.setenv("SERVICELENS_NOTIFY_URL", receiver.url)
    assert main(["--data-dir", data, "run", "--date", "2026-04-01"]) == 1
    [alert] = receiver.received
    assert alert["type"] == "failure"
    assert alert["title"] == (
        f"servicelens run failed: 1 inbox file(s) not landed ({source.source}) in {data}"
    )
    assert f"{source.source} (inbox): {refused}: line 1, column " in alert["message"]
    assert NOT_LANDED_TODO in alert["message"] and "flow run" not in alert["message"]


def test_a_nightly_failed_by_an_inbox_file_alerts_with_the_file_why_and_what_to_do(
    prefect_api: None, tmp_path: Path, receiver: AlertReceiver
) -> None:
    """Found by an on-call engineer's trial: a configured source's inbox file the nightly run
    could not land (a cp850 export) failed the night. The alert is the real scheduled run's
    (its ``on_failure`` hook, to a real receiver): it names the source and the file, why
    and what to do, and not the night's date as a date to backfill (a backfill does not
    land an inbox)."""
    from flows.pipeline import nightly_window
    from servicelens.ingest.configured import NOT_LANDED_TODO

    data, source, refused = _source_with_a_cp850_file(tmp_path)
    night = date(2026, 4, 1)
    state = nightly_window(day=night, data_dir=data, notify_url=receiver.url, return_state=True)
    assert state.is_failed() and refused.exists()
    [alert] = receiver.received
    assert alert["type"] == "failure"
    assert alert["title"] == (
        f"servicelens nightly-window failed: 1 inbox file(s) not landed ({source.source}) in {data}"
    )
    assert f"{source.source} (inbox): {refused}: line 1, column " in alert["message"]
    assert "cp850" in alert["message"]
    assert NOT_LANDED_TODO in alert["message"]
    assert "backfill" not in alert["message"] and str(night) not in alert["message"]


def test_a_failed_source_partitions_alert_gives_a_backfill_that_reruns_it_as_printed(
    prefect_api: None,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    receiver: AlertReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a later read of the alert: a configured source's failed partition was told
    `servicelens backfill --start D --end D --rerun failed`, which in a data directory
    holding the sample's dates too runs the sample's date and leaves the source's partition
    failed. Here the command is taken from the alert as printed and run."""
    import shlex

    from flows.notify import alert_on_failed_run
    from servicelens.cli.main import main
    from servicelens.ingest.configured import configured_source
    from servicelens.storage.runs import read_outcome
    from tests.sources.test_train_and_score import _vendor_inbox_run

    _, data = _vendor_inbox_run(tmp_path_factory, tmp_path)
    settings = Settings(data_dir=data[1], notify_url=receiver.url)
    # The generated sample's layout beside the source (a demo's data directory).
    sample = settings.raw_day(date(2026, 1, 5))
    sample.mkdir(parents=True)
    (sample / "surveys.csv").write_text("response_id,interaction_id,submitted_at,csat\n")
    source = configured_source(settings, "acme-vendor")
    day = date(2026, 1, 5)
    record_outcome(source, day, "run-1", "failed", error="a disk that filled up")
    row = asdict(DateOutcome.failed(source, str(day), None, "a disk that filled up"))
    assert alert_on_failed_run(settings, [{**row, "result": {"source": "acme-vendor"}}])

    [alert] = receiver.received
    [command] = [line.strip() for line in alert["message"].splitlines() if "backfill" in line]
    main(shlex.split(command)[1:])
    rerun = read_outcome(source, day) or {}
    assert (rerun.get("outcome"), rerun.get("run_id")) != ("failed", "run-1"), command
    assert rerun.get("outcome") == "completed"
    assert f"{day} acme-vendor: failed: a disk that filled up" in alert["message"]

    # The failed row's "to do" in the run's and the backfill's tables, as the command line
    # prints it (naming the data directory it ran on): its command reruns the partition too.
    from servicelens.reporting.suggested import data_dir_argument, naming_data_dir

    record_outcome(source, day, "run-2", "failed", error="a disk that filled up")
    todo = DateOutcome.failed(source, str(day), None, "a disk that filled up").todo
    printed = naming_data_dir(todo, data_dir_argument(data[1]) or "")
    [told] = [part for part in printed.split("`") if part.startswith("servicelens ")]
    main(shlex.split(told)[1:])
    rerun = read_outcome(source, day) or {}
    assert (rerun.get("outcome"), rerun.get("run_id")) != ("failed", "run-2"), printed
    assert rerun.get("outcome") == "completed"
