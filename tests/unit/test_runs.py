"""Backfill plans and their idempotency keys, from the state on disk."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from servicelens.settings import Settings
from servicelens.storage.runs import date_status, drift_flags, plan_backfill

DAY = date(2026, 10, 1)


def test_keys_repeat_for_one_data_dir_and_differ_between_two(tmp_path: Path) -> None:
    """Two triggers on the same data see the same key; the same date of another data
    directory on the same Prefect server is not taken for a duplicate."""
    one, other = Settings(data_dir=str(tmp_path / "a")), Settings(data_dir=str(tmp_path / "b"))

    def key(settings: Settings) -> str:
        return plan_backfill([date_status(settings, DAY)], "all")[0].idempotency_key

    assert key(one) == key(one)
    assert key(one) != key(other)
    assert DAY.isoformat() in key(one)


def test_two_sources_of_one_data_dir_have_their_own_keys(tmp_path: Path) -> None:
    """A date of one source is never taken for the same date of another source (or of the
    sample) sharing the data directory."""
    sample = Settings(data_dir=str(tmp_path))
    calls = sample.for_source("calls", "calls.toml")
    cfpb = sample.for_source("cfpb", "cfpb", "month")

    def key(settings: Settings) -> str:
        return plan_backfill([date_status(settings, DAY)], "all")[0].idempotency_key

    assert len({key(sample), key(calls), key(cfpb)}) == 3


def test_a_data_dir_spelled_another_way_does_not_rerun_unchanged_dates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inputs are recorded under the paths as the data directory was given: ``data`` in an
    analyst's shell, the absolute path in the nightly job. Compared by path, every look-back
    date (every landed partition of a source) ran again when the other one next ran; the
    same bytes are the same inputs, and a changed file still counts as a change."""
    import logging
    from datetime import timedelta

    import flows.tasks
    from flows.tasks import score_and_publish_task
    from servicelens import stages
    from servicelens.storage.runs import plan_nightly
    from servicelens.synthetic.generator import generate

    # The task's own function, outside a flow run: its warnings (no model yet) go to logging.
    monkeypatch.setattr(flows.tasks, "get_run_logger", lambda: logging.getLogger("test"))
    first, second = DAY, DAY + timedelta(days=1)
    generate(tmp_path / "data", first, second, 120, 4)
    monkeypatch.chdir(tmp_path)
    relative = Settings(data_dir="data")
    for day in (first, second):
        validated = stages.validate_day(relative, day, "by-analyst")
        stages.publish_clean(relative, validated, {"run_id": "by-analyst"})
        score_and_publish_task.fn(relative, day)

    absolute = Settings(data_dir=str(tmp_path / "data"))
    assert date_status(absolute, first).state == "completed"
    assert [p.day for p in plan_nightly(absolute, second, 1) if p.run] == [second]
    surveys = absolute.raw_day(first) / "surveys.csv"
    surveys.write_bytes(surveys.read_bytes() + b"\n")
    assert sorted(p.day for p in plan_nightly(absolute, second, 1) if p.run) == [first, second]


def test_inputs_are_the_same_files_with_the_same_bytes_however_the_root_is_spelled() -> None:
    from servicelens.storage.runs import same_inputs

    recorded = {"data/raw/2026-10-01/a.jsonl": "1", "data/raw/2026-10-02/a.jsonl": "2"}
    assert same_inputs(
        recorded,
        {"/srv/fb/data/raw/2026-10-01/a.jsonl": "1", "/srv/fb/data/raw/2026-10-02/a.jsonl": "2"},
    )
    # Two days' exports with their contents swapped are not the same inputs.
    assert not same_inputs(
        recorded, {"data/raw/2026-10-01/a.jsonl": "2", "data/raw/2026-10-02/a.jsonl": "1"}
    )
    assert not same_inputs(None, recorded)
    assert not same_inputs(recorded, {"data/raw/2026-10-01/a.jsonl": "1"})


def test_a_command_warns_when_the_directory_was_processed_in_another_timezone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: running a directory built in Europe/London with
    SERVICELENS_TIMEZONE=Asia/Kolkata re-read its naive times 5 h 30 min off and dated
    rows by Kolkata's days beside London's, without a word."""
    import json

    from servicelens.cli.main import main

    for table in ("clean/responses", "sources/calls/clean/responses"):
        folder = tmp_path / table / "survey_date=2026-11-01"
        folder.mkdir(parents=True)
        (folder / "_manifest.json").write_text(json.dumps({"timezone": "Europe/London"}))
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", "2026-11-01", "--end",
            "2026-11-01", "--dry-run"]  # fmt: skip
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Europe/London")
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Asia/Kolkata")
    assert main(argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f"servicelens: warning: {tmp_path}/clean/responses/survey_date=2026-11-01/_manifest.json "
        "was processed in business timezone Europe/London, and this command runs in "
        "Asia/Kolkata (SERVICELENS_TIMEZONE)"
    )
    assert "Set SERVICELENS_TIMEZONE=Europe/London" in warnings[0]
    assert "sources/calls/clean/responses" in warnings[1]


def test_without_servicelens_timezone_a_directory_keeps_the_timezone_it_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: a cron job without SERVICELENS_TIMEZONE ran a Europe/Berlin
    directory in Europe/London, filed new rows under London's days, quarantined older ones
    as dated elsewhere, and exited 0 (its BI queries read London's weeks too). Unset, the
    variable defaults to the timezone the directory's partitions record."""
    import json

    from servicelens.cli.main import main
    from servicelens.settings import Settings

    def record(table: str, zone: str) -> None:
        folder = tmp_path / table / "survey_date=2026-11-01"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "_manifest.json").write_text(json.dumps({"timezone": zone}))

    monkeypatch.delenv("SERVICELENS_TIMEZONE", raising=False)
    assert Settings.from_env(str(tmp_path)).timezone == "Europe/London"  # nothing recorded
    record("clean/responses", "Europe/Berlin")
    record("sources/calls/clean/responses", "Europe/Berlin")
    assert Settings.from_env(str(tmp_path)).timezone == "Europe/Berlin"
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", "2026-11-01", "--end",
            "2026-11-01", "--dry-run"]  # fmt: skip
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err
    # Set, the variable wins (and is warned of); a directory of two timezones keeps none.
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Asia/Kolkata")
    assert Settings.from_env(str(tmp_path)).timezone == "Asia/Kolkata"
    monkeypatch.delenv("SERVICELENS_TIMEZONE")
    record("sources/calls/clean/responses", "America/New_York")
    assert Settings.from_env(str(tmp_path)).timezone == "Europe/London"
    # The warning says where that timezone came from (a BI developer's trial was told
    # SERVICELENS_TIMEZONE in a shell without it).
    assert main(argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 2
    assert all(
        "this command runs in Europe/London (the default: SERVICELENS_TIMEZONE is not set, "
        "and the newest partitions of the directory record more than one timezone)" in line
        for line in warnings
    )


def test_a_look_back_date_left_failed_is_named_with_its_error_and_the_command(
    tmp_path: Path,
) -> None:
    """A QA lead's trial: `servicelens run` said nothing about a sample date still failed
    from an earlier night (its inputs unchanged, so not run again). It is named every night
    with where its error is and the backfill that reruns it; once its export changes, it
    runs. (A configured source's nightly plan names it alike.)"""
    from datetime import timedelta

    from servicelens.storage.runs import outcome_path, plan_nightly, record_outcome

    settings = Settings(data_dir=str(tmp_path))
    failed, target = DAY, DAY + timedelta(days=1)
    folder = settings.raw_day(failed)
    folder.mkdir(parents=True)
    (folder / "surveys.csv").write_text("response_id\nR1\n")
    record_outcome(settings, failed, "run-1", "failed", error="surveys.csv: line 1: no csat")

    plan = {p.day: p for p in plan_nightly(settings, target, 2)}
    assert plan[target].run
    left = plan[failed]
    assert not left.run
    assert left.reason == "its last run failed, and its inputs have not changed since"
    assert left.todo == (
        f"its error is in {outcome_path(settings, failed)}; once it is fixed: "
        f"`servicelens backfill --start {failed} --end {failed} --rerun failed`"
    )
    assert plan[failed - timedelta(days=1)].reason == "inputs unchanged"

    (folder / "surveys.csv").write_text("response_id,csat\nR1,5\n")
    assert {p.day: p for p in plan_nightly(settings, target, 2)}[failed].run


def test_a_data_file_is_compared_with_its_manifest_by_size_and_by_checksum(
    tmp_path: Path,
) -> None:
    """A partition's manifest records its data file's size (every write) and sha256 (an
    object store's): a file of another size is named from one stat, a file of the same size
    and other bytes when its contents are read (``dictionary --check``)."""
    import hashlib

    from servicelens.storage.partitions import torn_partition

    data = tmp_path / "part-0.parquet"
    data.write_bytes(b"new rows")
    described = {"data_bytes": 8, "data_sha256": hashlib.sha256(b"old rows").hexdigest()}
    assert torn_partition(data, described) == ""  # the size alone agrees
    assert "its manifest's" in torn_partition(data, described, data)
    assert "its manifest's" in torn_partition(data, described, b"new rows")
    assert torn_partition(data, {**described, "data_sha256": None}, data) == ""
    assert "holds 8 bytes, its manifest describes 9" in torn_partition(data, {"data_bytes": 9})
    assert "is not there" in torn_partition(tmp_path / "gone.parquet", described)
    assert torn_partition(data, {}) == ""  # a manifest from before these fields


def test_one_bucket_on_two_endpoints_has_two_keys_and_two_lock_folders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a platform engineer's trial: the same bucket and prefix on a local store and
    on AWS shared their runs' keys on one Prefect server and their lock folder on one
    machine. The endpoint tells them apart; without one (AWS's own) nothing changes."""
    import hashlib

    from servicelens.storage.fs import machine_folder_for
    from servicelens.storage.runs import dataset_id

    url = "s3://feedback/prod"
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    on_aws = dataset_id(Settings(data_dir=url)), machine_folder_for(url, "locks")
    assert on_aws[0] == hashlib.sha256(url.encode()).hexdigest()[:10]  # as before
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")
    on_minio = dataset_id(Settings(data_dir=url)), machine_folder_for(url, "locks")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001")  # botocore's first
    on_another = dataset_id(Settings(data_dir=url)), machine_folder_for(url, "locks")
    assert len({on_aws[0], on_minio[0], on_another[0]}) == 3
    assert len({on_aws[1], on_minio[1], on_another[1]}) == 3
    local = Settings(data_dir="/srv/feedback")
    assert dataset_id(local) == hashlib.sha256(b"/srv/feedback").hexdigest()[:10]


def test_the_negative_share_drift_is_of_rated_rows() -> None:
    """An analyst's trial: a call centre's unanswered calls (no rating) counted as not
    negative. A night with twice the unanswered calls is not a night with half the
    complaints; a night with twice the complaints among the rated is flagged."""
    usual = {"surveys_read": 100, "kept": 100, "quarantined": 0, "negatives": 20, "rated": 80}
    quiet = {**usual, "rated": 40, "negatives": 10}  # half the calls unrated, same share
    assert drift_flags(quiet, [usual] * 3) == []
    worse = {**usual, "negatives": 40}
    assert drift_flags(worse, [usual] * 3) == ["negative share 50.0% vs 25.0% over 3 earlier dates"]
    # Dates counted before `rated` existed: all compared on kept rows alike.
    older = {k: v for k, v in usual.items() if k != "rated"}
    assert drift_flags(quiet, [older] * 3) == ["negative share 10.0% vs 20.0% over 3 earlier dates"]
