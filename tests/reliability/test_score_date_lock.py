"""``servicelens score`` of a date of the raw zone and a run of the same date take turns.

Scoring a date's raw export reads it as the nightly run does, and so publishes the contact
history of the look-back exports no date has indexed yet (``clean/contacts``). Without the
date's lock a score beside a backfill of the same date wrote those partitions while the
backfill did. The run here is a real second process holding the date as a backfill's date
run does (``hold_date``: its lock and in-flight record)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from models.pipeline import spec_to_dict
from models.registry import save_model, set_champion
from models.train import train_root_cause_model
from servicelens import stages
from servicelens.cli.models import cmd_score
from servicelens.settings import Settings
from servicelens.storage.locks import LockBusyError
from servicelens.synthetic.generator import generate
from tests.reliability.cli import wait_until

START = date(2026, 3, 2)
DAY = START + timedelta(days=2)
RUN = f"backfill-{DAY}"
#: The run: holds the date, says so, waits for ``release`` (or ``hold`` seconds), then ends.
HOLDER = """
import sys, time
from datetime import date
from pathlib import Path
from servicelens.settings import Settings
from servicelens.storage.claims import hold_date

data, day, name, ready, release, hold = sys.argv[1:7]
settings = Settings(data_dir=data)
with hold_date(settings, date.fromisoformat(day), "run-1", name, 0.0):
    Path(ready).touch()
    deadline = time.monotonic() + float(hold)
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    Path(release).with_suffix(".done").write_text(str(time.time()))
"""


@pytest.fixture(scope="module")
def scorable(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Three generated dates, a champion trained on them, and no contact history indexed:
    a score of the last date indexes its two look-back exports."""
    root = tmp_path_factory.mktemp("score-lock")
    generate(root, START, DAY, per_day=300, seed=4)
    settings = Settings(data_dir=str(root))
    for i in range(3):
        stages.publish_clean(
            settings, stages.validate_day(settings, START + timedelta(days=i), "t"), {}
        )
    result = train_root_cause_model(stages.labelled_negatives(settings), seed=3, cv_folds=3)
    meta = {"decision": result.decision.as_dict(), "feature_spec": spec_to_dict(result.spec)}
    save_model(result.model, settings.models_dir, "v1", meta, result.metrics)
    set_champion(settings.models_dir, "v1", "test")
    return settings


def _fresh(settings: Settings) -> None:
    """No contact history indexed, no earlier score's output."""
    shutil.rmtree(settings.contacts_dir, ignore_errors=True)


def _indexed(settings: Settings) -> list[str]:
    return sorted(p.parent.name for p in settings.contacts_dir.glob("survey_date=*/part-0.parquet"))


def _hold(settings: Settings, tmp_path: Path, hold: float) -> subprocess.Popen[bytes]:
    ready = tmp_path / "ready"
    args = [settings.data_dir, str(DAY), RUN, str(ready), str(tmp_path / "release"), str(hold)]
    run = subprocess.Popen([sys.executable, "-c", HOLDER, *args], start_new_session=True)
    wait_until(ready.exists, run, "holding its date", seconds=30)
    return run


def test_a_score_of_a_date_a_backfill_holds_is_refused_naming_the_date_and_the_run(
    scorable: Settings, tmp_path: Path
) -> None:
    _fresh(scorable)
    run = _hold(scorable, tmp_path, hold=60)
    out = tmp_path / "scored.parquet"
    export = scorable.raw_day(DAY) / "surveys.csv"
    args = argparse.Namespace(source="sample", input=export, output=out, version=None, json=True)
    try:
        with pytest.raises(LockBusyError) as refused:
            cmd_score(args, replace(scorable, lock_wait_seconds=0.5))
    finally:
        (tmp_path / "release").touch()
        assert run.wait(30) == 0
    message = str(refused.value)
    assert f"sample date {DAY}" in message and RUN in message, message
    assert "lock_wait_seconds" in message and "score again" in message, message
    # Nothing written meanwhile: no contact history, no scores.
    assert _indexed(scorable) == [] and not out.exists()


def test_a_score_waits_for_the_run_holding_its_date_then_scores(
    scorable: Settings, tmp_path: Path
) -> None:
    _fresh(scorable)
    run = _hold(scorable, tmp_path, hold=120)
    out = tmp_path / "scored.parquet"
    export = scorable.raw_day(DAY) / "surveys.csv"
    code = (
        "import sys; from servicelens.cli.main import main; "
        f"sys.exit(main(['--data-dir', {scorable.data_dir!r}, 'score', '--source', 'sample', "
        f"'--input', {str(export)!r}, '--output', {str(out)!r}]))"
    )
    score = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    said: list[str] = []

    def read() -> None:
        assert score.stderr is not None
        for line in score.stderr:
            said.append(line)
            if "waiting" in line:  # the run ends once the score waits for it
                (tmp_path / "release").touch()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert score.wait(300) == 0, "".join(said)
    finally:
        (tmp_path / "release").touch()
        reader.join(30)
        assert run.wait(30) == 0
    waited = [line for line in said if "waiting" in line]
    assert len(waited) == 1 and f"sample date {DAY}" in waited[0] and RUN in waited[0], said
    # The score wrote after the run let go of the date.
    released = float((tmp_path / "release.done").read_text())
    assert out.stat().st_mtime >= released
    # It indexed the look-back exports, as the nightly run would have.
    assert {f"survey_date={DAY - timedelta(days=d)}" for d in (2, 1)} <= set(_indexed(scorable))
