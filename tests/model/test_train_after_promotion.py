"""``train`` whose run report fails after its version was promoted says it was promoted.

Found by a user trial: train crashed after it had saved and promoted its version, and the
message said nothing of the new champion. The report describes the champion, so it is
written after the promotion; its failure (here a Rust panic, as in the trial) now names the
promoted version and the rollback to the champion it replaced. Real training through the
command line on the embedded Prefect API, on a few small generated dates.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicelens.settings import Settings

START = date(2026, 9, 1)
DAYS = 4
PANIC = "assertion failed: i < self.len()"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from servicelens.stages import publish_clean, validate_day
    from servicelens.synthetic.generator import generate

    generate(tmp_path, START, START + timedelta(days=DAYS - 1), per_day=500, seed=5)
    settings = Settings(data_dir=str(tmp_path))
    for i in range(DAYS):
        day = START + timedelta(days=i)
        publish_clean(settings, validate_day(settings, day, "t"), {})
    return settings


def test_a_report_failing_after_the_promotion_names_the_new_champion_and_the_rollback(
    prefect_api: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from polars.exceptions import PanicException

    import flows.tasks
    from models.registry import champion_version, read_decision, read_metrics
    from servicelens.cli.main import main

    def panics(*_: Any, **__: Any) -> Any:
        raise PanicException(PANIC)

    monkeypatch.setattr(flows.tasks, "build_report", panics)
    argv = ["--data-dir", settings.data_dir, "train"]

    assert main([*argv, "--folds", "2"]) == 1
    said = capsys.readouterr().err.splitlines()
    first = champion_version(settings.models_dir)
    assert first is not None
    assert said[0] == (
        "servicelens: error: unexpected PromotedThenFailedError: model "
        f"{first} was trained, saved and promoted to champion; writing the run report then "
        f"failed: PanicException: {PANIC}. The new champion scores the dates run from now on; "
        "there was no champion before it, so there is none to roll back to"
    )
    # Everything the version needs was written before the alias was swapped.
    assert read_metrics(settings.models_dir, first)["audits"]
    assert (read_decision(settings.models_dir, first) or {})["promoted"] is True

    # Another build of the same audits (other folds) promoted over it: the rollback is named.
    assert main([*argv, "--folds", "3"]) == 1
    said = capsys.readouterr().err.splitlines()
    second = champion_version(settings.models_dir)
    assert second not in (None, first)
    assert f"model {second} was trained, saved and promoted to champion;" in said[0]
    data_dir = str(Path(settings.data_dir).resolve())
    assert said[0].endswith(
        f"`servicelens --data-dir {data_dir} models rollback` goes back to {first}, the "
        "champion it replaced"
    )
    assert main(["--data-dir", settings.data_dir, "models", "rollback"]) == 0
    assert champion_version(settings.models_dir) == first
    capsys.readouterr()

    # A failure after a run that promoted nothing is raised as it came: here the champion
    # rolled back to is built again, so it is kept, not trained again.
    assert main([*argv, "--folds", "2"]) == 1
    said = capsys.readouterr().err.splitlines()
    assert said[0] == f"servicelens: error: unexpected PanicException: {PANIC}"
    assert champion_version(settings.models_dir) == first


def test_a_report_the_disk_refuses_after_the_promotion_is_no_bug_and_names_the_report_command(
    prefect_api: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk or a read-only reports folder is not a bug of servicelens, and "run the
    command again" would train once more: the message says what was promoted, what cannot
    be written, and the command that writes the report once it can."""
    import errno

    import flows.tasks
    from models.registry import champion_version
    from servicelens.cli.main import main

    report = Path(settings.data_dir) / "reports" / "report-x.html"

    def refused(*_: Any, **__: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(report))

    monkeypatch.setattr(flows.tasks, "build_report", refused)
    assert main(["--data-dir", settings.data_dir, "train", "--folds", "2"]) == 2
    said = capsys.readouterr().err
    version = champion_version(settings.models_dir)
    data_dir = str(Path(settings.data_dir).resolve())
    assert said.startswith(
        f"servicelens: error: model {version} was trained, saved and promoted to champion; "
        "writing the run report then failed: PermissionError: "
    ), said
    assert (
        f"{report}: cannot write it: Permission denied. Make {report.parent} writable (or free "
        f"disk space), then `servicelens --data-dir {data_dir} report` writes the run report"
    ) in said, said
    assert "bug" not in said and "unexpected" not in said
