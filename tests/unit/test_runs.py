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


def _record_timezone(root: Path, table: str, zone: str, day: str = "2026-11-01") -> Path:
    """A clean partition's manifest under ``root``/``table`` recording ``zone``."""
    import json

    folder = root / table / f"survey_date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_manifest.json").write_text(json.dumps({"timezone": zone}))
    return folder / "_manifest.json"


@pytest.mark.parametrize(
    "command",
    [
        ["backfill", "--start", "2026-11-01", "--end", "2026-11-01", "--dry-run"],
        ["backfill", "--start", "2026-11-01", "--end", "2026-11-01"],
        ["run", "--date", "2026-11-01"],
        ["--json", "run", "--date", "2026-11-01"],
    ],
)
def test_a_command_refuses_a_directory_processed_in_another_timezone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """Found by trials: running a directory built in Europe/London with
    SERVICELENS_TIMEZONE=Asia/Kolkata re-read its naive times 5 h 30 min off without a
    word; then, with a warning, a run of 2026-10-25 in America/New_York rewrote the date
    with New York's day and manifest, exit 0. Refused before anything runs, exit 2, naming
    the directory's timezone, where it is recorded, the one asked for and what to do."""
    import json

    from servicelens.cli.main import main

    manifest = _record_timezone(tmp_path, "clean/responses", "Europe/London")
    _record_timezone(tmp_path, "sources/calls/clean/responses", "Europe/London")
    argv = ["--data-dir", str(tmp_path), *command]
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Asia/Kolkata")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(argv) == 2
    said = capsys.readouterr()
    message = (
        f'{tmp_path} keeps business timezone Europe/London (recorded as "timezone" in '
        f"{manifest}), and this command would run in Asia/Kolkata (SERVICELENS_TIMEZONE): "
        "its dates would be cut at another timezone's midnight and its naive times read in "
        "another clock, moving rows between dates. Nothing was run. Unset "
        "SERVICELENS_TIMEZONE (a command then uses the directory's own) or set it to "
        "Europe/London; to work in Asia/Kolkata, process the exports in another data "
        "directory (--data-dir)"
    )
    if "--json" in command:
        assert json.loads(said.out)["error"] == message
    else:
        assert said.err == f"servicelens: error: {message}\n"
    # Nothing written: no log, no run record, no partition.
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_flows_refuse_a_directory_processed_in_another_timezone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment's run (the served nightly window, a backfill, a date's nightly flow)
    is refused as the command line refuses it, before anything is read or recorded."""
    from flows.pipeline import backfill, nightly, nightly_window
    from servicelens.storage.runs import TimezoneMismatchError, refuse_another_timezone

    _record_timezone(tmp_path, "clean/responses", "Europe/London")
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "America/New_York")
    before = sorted(tmp_path.rglob("*"))
    refused = "keeps business timezone Europe/London"
    with pytest.raises(TimezoneMismatchError, match=refused):
        nightly_window.fn(day=DAY, data_dir=str(tmp_path))
    with pytest.raises(TimezoneMismatchError, match=refused):
        backfill.fn(DAY, DAY, data_dir=str(tmp_path), dry_run=True)
    with pytest.raises(TimezoneMismatchError, match=refused):
        nightly.fn(DAY, Settings.from_env(str(tmp_path)))
    assert sorted(tmp_path.rglob("*")) == before
    # In the directory's own timezone the refusal has nothing to say.
    refuse_another_timezone(Settings(data_dir=str(tmp_path), timezone="Europe/London"), "")


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
    assert "error" not in capsys.readouterr().err
    # Set, the variable wins (and is refused); a directory of two timezones keeps none.
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Asia/Kolkata")
    assert Settings.from_env(str(tmp_path)).timezone == "Asia/Kolkata"
    monkeypatch.delenv("SERVICELENS_TIMEZONE")
    record("sources/calls/clean/responses", "America/New_York")
    assert Settings.from_env(str(tmp_path)).timezone == "Europe/London"
    # A directory of two timezones (an earlier version only warned) is refused whatever
    # the command runs in, naming both; the default's origin is said as such (a BI
    # developer's trial was told SERVICELENS_TIMEZONE in a shell without it).
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith(
        f"servicelens: error: {tmp_path} records more than one business timezone (as "
        f'"timezone" in its newest partitions\' manifests: Europe/Berlin in {tmp_path}/'
        "clean/responses/survey_date=2026-11-01/_manifest.json; America/New_York in "
    )
    assert (
        "this command would run in Europe/London (the default: SERVICELENS_TIMEZONE is not "
        "set)" in error
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


def test_one_data_directory_however_spelt_is_one_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform engineer's trial: a deployment given the absolute path and a backfill
    given ``./data`` ran the same dates twice (two keys, no duplicate), and another folder's
    ``./data`` recovered the first folder's flow runs as its own."""
    from servicelens.storage.runs import dataset_id

    (tmp_path / "ops" / "data").mkdir(parents=True)
    (tmp_path / "tenant2" / "data").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "ops" / "data")
    monkeypatch.chdir(tmp_path / "ops")
    spellings = ["./data", "data", "data/", str(tmp_path / "ops" / "data"), "../link"]
    assert len({dataset_id(Settings(data_dir=s)) for s in spellings}) == 1
    ops = dataset_id(Settings(data_dir="./data"))
    monkeypatch.chdir(tmp_path / "tenant2")
    assert dataset_id(Settings(data_dir="./data")) != ops


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


@pytest.mark.parametrize(
    ("recorded", "now", "changed"),
    [
        (None, "csat <= 2", None),  # cleaned before the rule was recorded: the default's
        (None, "csat <= 3", 'cleaned under negative = "csat <= 2"; the definition now says'),
        (None, "nps <= 8", 'cleaned under negative = "nps <= 6"; the definition now says'),
        (None, "all", None),
        ("csat <= 3", "csat <= 3", None),
        ("csat <= 3", "csat <= 2", 'cleaned under negative = "csat <= 3"; the definition now'),
    ],
)
def test_a_date_cleaned_under_another_negative_rule_has_changed(
    tmp_path: Path, recorded: str | None, now: str, changed: str | None
) -> None:
    """Found by a trial: a definition's negative threshold raised to csat <= 3 after its
    dates had run left them with csat-3 responses not negative, and nothing ran them again.
    The clean partition's manifest says the rule it was cleaned under (none recorded: the
    rule's default threshold, the only one there was); another rule is a change."""
    import polars as pl

    from servicelens.storage.partitions import write_partition
    from servicelens.storage.runs import (
        DateStatus,
        changed_since_run,
        cleaned_under_other_rules,
        input_checksums,
        inputs_changed,
        rule_change,
    )

    settings = Settings(data_dir=str(tmp_path)).for_source(
        "airline", "airline.toml", negative_rule=now
    )
    clean = pl.DataFrame({"survey_date": [DAY], "response_id": ["A1"]})
    # Built from the inputs the date has: only the rule can differ.
    manifest: dict[str, object] = {"inputs": input_checksums(settings, DAY)}
    if recorded is not None:
        manifest["negative_rule"] = recorded
    write_partition(
        clean, settings.clean_dir, DAY, dict(clean.schema), manifest, settings.staging_dir
    )
    said = rule_change(settings, DAY)
    status = DateStatus(DAY, "completed", "run-1")
    assert inputs_changed(settings, status) == changed_since_run(settings, status)
    assert inputs_changed(settings, status) == (changed is not None)
    if changed is None:
        assert said is None and cleaned_under_other_rules(settings) == {}
    else:
        assert said is not None and said.startswith(changed)
        assert list(cleaned_under_other_rules(settings).values()) == [[DAY]]


def test_a_night_of_surveys_mostly_offered_and_unanswered_is_flagged_for_nothing() -> None:
    """A support manager's trial: Zendesk ratings only offered (set aside by the preset's
    ``[[exclude]]``, not rejects) made rejected shares of 0.30-0.46 a night. A night of
    surveys mostly offered is no night of rejects, nor of more responses; a real reject
    still counts."""
    usual = {
        "surveys_read": 100, "kept": 80, "quarantined": 20, "superseded_duplicates": 0,
        "set_aside": 18, "negatives": 16, "rated": 80,
    }  # fmt: skip
    offered = {**usual, "surveys_read": 400, "quarantined": 320, "set_aside": 318}
    assert drift_flags(offered, [usual] * 3) == []
    rejects = {**usual, "quarantined": 40, "kept": 60, "negatives": 12, "rated": 60}
    assert drift_flags(rejects, [usual] * 3) == [
        "rejected share 22.0% > 10% (quarantined rows other than earlier copies a later "
        "delivery replaced and rows the source definition sets aside)"
    ]
