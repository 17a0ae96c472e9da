"""The pipeline against a real local S3 server (moto's, on 127.0.0.1), marts read by DuckDB."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from servicelens.settings import Settings
from servicelens.storage.fs import RemotePath, filesystem
from servicelens.storage.partitions import DATA_FILE, read_manifest, read_partition, write_partition
from tests.scale.s3_requests import CountingMotoServer, s3_endpoint
from transforms.schemas import DAILY_SUMMARY_SCHEMA, DAILY_SUMMARY_VERSION

START = date(2026, 10, 1)
END = START + timedelta(days=4)
BUCKET = "servicelens-test"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[CountingMotoServer]:
    """A moto S3 server on 127.0.0.1 that counts the requests it serves."""
    server = CountingMotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(s3_server: CountingMotoServer) -> Iterator[str]:
    """The S3 server's endpoint in the environment, with one bucket; yields the data
    directory URL."""
    with s3_endpoint(s3_server, BUCKET):
        yield f"s3://{BUCKET}/servicelens"


@pytest.fixture(scope="module")
def demo_on_s3(prefect_api: None, s3: str) -> tuple[Settings, dict[str, Any]]:
    from flows.pipeline import demo

    settings = Settings(data_dir=f"{s3}/demo")
    return settings, demo(settings, START, END, per_day=700, seed=5)


def _duckdb_on_s3() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.register_filesystem(filesystem("s3"))
    return connection


def test_the_whole_pipeline_runs_on_s3_and_duckdb_reads_the_marts(
    demo_on_s3: tuple[Settings, dict[str, Any]],
) -> None:
    settings, result = demo_on_s3
    assert isinstance(settings.root, RemotePath)
    kept = {r["day"]: r["kept"] for r in result["ingested"]}
    for counts in result["ingested"]:
        assert counts["surveys_read"] == counts["kept"] + counts["quarantined"]
    glob = f"{settings.marts_dir}/feedback_scored/*/*.parquet"
    rows = (
        _duckdb_on_s3()
        .sql(
            f"SELECT survey_date, count(*), count(root_cause), count(*) FILTER (is_negative) "
            f"FROM read_parquet('{glob}', hive_partitioning=true) GROUP BY 1 ORDER BY 1"
        )
        .fetchall()
    )
    assert {str(day): n for day, n, _, _ in rows} == kept
    # sql/views.sql finds the layers through the same store (servicelens query's connection).
    from servicelens.reporting.analyst import connect_views

    views = connect_views(settings.root)
    assert views.execute("SELECT source, count(*) FROM feedback_scored GROUP BY 1").fetchall() == [
        ("sample", sum(kept.values()))
    ]
    # The partitions' manifests are read through the store too.
    processed = views.execute("SELECT survey_date, rows_kept FROM processed_dates").fetchall()
    assert {str(day): n for day, n in processed} == kept
    # Every negative got a root cause from the model trained and registered on S3.
    assert all(scored == negatives > 0 for _, _, scored, negatives in rows)
    assert (settings.models_dir / "champion.json").exists()
    manifest = read_manifest(settings.marts_dir / "feedback_scored", END)
    assert manifest is not None and manifest["model_version"] == result["trained"]["version"]
    assert not list(settings.root.glob(".staging/new-*"))


def test_rewriting_a_partition_replaces_its_single_object(s3: str) -> None:
    table = RemotePath(f"{s3}/atomic/daily_summary")
    staging = RemotePath(f"{s3}/atomic/.staging")
    day = START
    first = _summary(day, responses=10)
    second = _summary(day, responses=99)

    write_partition(first, table, day, DAILY_SUMMARY_SCHEMA, {"run": 1}, staging)
    one = read_manifest(table, day)
    write_partition(second, table, day, DAILY_SUMMARY_SCHEMA, {"run": 2}, staging)
    two = read_manifest(table, day)

    partition = table / f"survey_date={day}"
    assert sorted(p.name for p in partition.iterdir()) == ["_manifest.json", DATA_FILE]
    assert read_partition(table, day).get_column("responses").to_list() == [99]
    assert one is not None and two is not None and one["run"] == 1 and two["run"] == 2
    import hashlib

    data = (partition / DATA_FILE).read_bytes()
    assert two["data_sha256"] == hashlib.sha256(data).hexdigest() != one["data_sha256"]


def test_a_write_that_fails_leaves_the_previous_partition(s3: str) -> None:
    table = RemotePath(f"{s3}/failing/daily_summary")
    staging = RemotePath(f"{s3}/failing/.staging")
    day = START
    write_partition(_summary(day, 10), table, day, DAILY_SUMMARY_SCHEMA, {"run": 1}, staging)
    before = (table / f"survey_date={day}" / DATA_FILE).read_bytes()
    broken = _summary(day, 10).drop("mean_csat")  # breaks the mart contract
    with pytest.raises(ValueError, match="mean_csat"):
        write_partition(broken, table, day, DAILY_SUMMARY_SCHEMA, {"run": 2}, staging)
    assert (table / f"survey_date={day}" / DATA_FILE).read_bytes() == before
    manifest = read_manifest(table, day)
    assert manifest is not None and manifest["run"] == 1


def _summary(day: date, responses: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "survey_date": [day],
            "queue": ["billing"],
            "policy_code": ["FEE-01"],
            "channel": ["phone"],
            "responses": [responses],
            "negatives": [1],
            "policy_failures": [1],
            "perceived": [0],
            "mean_csat": [3.0],
            "negative_share": [0.1],
            "policy_failure_share": [1.0],
            "schema_version": [DAILY_SUMMARY_VERSION],
            "source": ["sample"],
            "rated": [responses],
            "expected_policy_failures": [0.8],
            "expected_policy_failure_share": [0.8],
            "csat_responses": [responses],
            "ratings": [0],
            "satisfied": [0],
            "satisfied_share": [None],
            "fcr_answered": [0],
            "fcr_resolved": [0],
            "fcr_rate": [None],
            "abandoned": [0],
        }
    )


def test_a_partition_whose_manifest_put_never_came_is_found_and_named(
    demo_on_s3: tuple[Settings, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition on S3 is two PUTs, the data and then its manifest. A store that goes away
    between them leaves the new rows under the old manifest (a platform engineer's trial:
    nothing noticed, though the README said the checksum exposes it). The date is no longer
    ``completed``, so the next run repairs it, and ``dictionary --check`` names the file."""
    from servicelens.reporting.dictionary import contract_mismatches
    from servicelens.storage.partitions import MANIFEST_FILE, StorageError
    from servicelens.storage.runs import date_status, plan_backfill
    from transforms.schemas import FEEDBACK_SCORED_SCHEMA

    settings, _ = demo_on_s3
    table = settings.marts_dir / "feedback_scored"
    partition = table / f"survey_date={END}"
    data, manifest = partition / DATA_FILE, partition / MANIFEST_FILE
    before = {path: path.read_bytes() for path in (data, manifest)}
    assert date_status(settings, END).state == "completed"
    assert contract_mismatches(settings.root) == []
    fewer = read_partition(table, END).head(10)
    old = read_manifest(table, END)
    assert old is not None

    real_write = RemotePath.write_text

    def store_gone(self: RemotePath, text: str, encoding: str = "utf-8") -> int:
        if self.name == MANIFEST_FILE:
            raise ConnectionError("Connection was closed before we received a valid response")
        return real_write(self, text, encoding)

    monkeypatch.setattr(RemotePath, "write_text", store_gone)
    with pytest.raises((StorageError, ConnectionError)):
        write_partition(fewer, table, END, FEEDBACK_SCORED_SCHEMA, old, settings.staging_dir)
    monkeypatch.undo()
    try:
        assert read_manifest(table, END) == old  # the old manifest over the new rows
        status = date_status(settings, END)
        assert status.state == "missing", status
        assert f"{data} holds" in status.torn and "manifest describes" in status.torn
        assert "running the date again repairs it" in status.detail
        assert plan_backfill([status], "missing")[0].run  # a plain backfill repairs it
        problems = contract_mismatches(settings.root)
        assert len(problems) == 1 and str(data) in problems[0], problems
        assert f"backfill --start {END} --end {END} --rerun all" in problems[0]
    finally:
        for path, payload in before.items():
            path.write_bytes(payload)
    assert date_status(settings, END).state == "completed"


def test_a_source_added_on_s3_is_named_where_it_is_registered(
    s3: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a platform engineer's trial: `sources add` in an s3:// directory said the
    definition was configured in a local temporary folder (where it is fetched for loading)."""
    from servicelens.cli.main import main

    data = f"{s3}/sources-added"
    assert main(["--data-dir", data, "sources", "add", "cfpb"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"source cfpb configured ({data}/sources/cfpb/definition.toml); "), said
    assert RemotePath(f"{data}/sources/cfpb/definition.toml").exists()


def test_run_and_backfill_on_a_missing_bucket_name_the_bucket(
    s3: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a platform engineer's trial: `run` and `backfill` on s3://nosuchbucket/...
    said the data directory "holds no exports at all" and to fill it with `demo`, where
    `generate` named the missing bucket. An existing bucket's empty prefix still gets the
    no-exports message."""
    from servicelens.cli.main import main

    endpoint = os.environ["AWS_ENDPOINT_URL"]
    missing = "s3://no-such-bucket/sl"
    for command in (
        ["run", "--date", str(START)],
        ["backfill", "--start", str(START), "--end", str(START)],
    ):
        assert main(["--data-dir", missing, *command]) == 2
        said = capsys.readouterr().err
        assert f"{missing}: its bucket does not exist on {endpoint}: create it" in said, said
        assert "holds no exports" not in said
    assert main(["--data-dir", f"{s3}/empty-prefix", "run", "--date", str(START)]) == 2
    assert "holds no exports at all" in capsys.readouterr().err


def test_a_glob_over_partitions_is_one_listing(s3: str, s3_server: CountingMotoServer) -> None:
    """fsspec's glob walks ``survey_date=*/part-0.parquet`` folder by folder: a HEAD, a
    one-key LIST and a LIST per partition, at every glob of a table (a platform engineer's
    trial counted ~49,000 requests for a 14-date backfill and its report). The store's
    filesystem lists the table once, for the pipeline's paths and for DuckDB alike."""
    table = RemotePath(f"{s3}/globbed/daily_summary")
    days = [START + timedelta(days=n) for n in range(8)]
    for day in days:
        (table / f"survey_date={day}" / DATA_FILE).write_bytes(b"data")
        (table / f"survey_date={day}" / "_manifest.json").write_text("{}")
    (table / "survey_date=2026-13-01x" / "notes.txt").write_text("not a partition file")

    start = s3_server.mark()
    found = list(table.glob(f"survey_date=*/{DATA_FILE}"))
    assert [p.parent.name for p in found] == [f"survey_date={d}" for d in days]
    assert s3_server.since(start) == {"LIST": 1}
    start = s3_server.mark()
    folders = filesystem("s3").glob(f"{table.key}/survey_date=*")  # what DuckDB calls
    assert len(folders) == 9 and s3_server.since(start) == {"LIST": 1}
    # The same answers as fsspec's own glob, files and folders, at any depth.
    import s3fs

    plain = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    for pattern in ("survey_date=*/*", "*/part-0.*", "**", "**/*.json", "survey_date=*", "*", "s*"):
        assert filesystem("s3").glob(f"{table.key}/{pattern}") == plain.glob(
            f"{table.key}/{pattern}"
        ), pattern


def test_a_report_on_s3_lists_each_table_once(
    demo_on_s3: tuple[Settings, dict[str, Any]], s3_server: CountingMotoServer
) -> None:
    """A platform engineer's trial on moto (14 dates, two sources): `report` took 1m52 and
    sent the same LIST of one partition 36 times, `query` 2m13; each section read the
    tables, manifests and run records again, a glob and an ``exists`` a request or three
    each. Within ``listings_reused`` (every read-only command, `report`, the report a run
    writes) a table is listed once and a small file read once; the report is the same."""
    from datetime import UTC, datetime

    from servicelens.reporting.report import build_report, render_report
    from servicelens.storage.fs import listings_reused

    settings, _ = demo_on_s3
    now = datetime(2026, 10, 6, 12, tzinfo=UTC)
    plain, _ = render_report(settings, None, now)
    start = s3_server.mark()
    with listings_reused():
        reused, _ = render_report(settings, None, now)
    counted = s3_server.since(start)
    assert reused == plain
    # 5 dates: before, 768 requests (LIST 487, HEAD 213, GET 68); now about 75: the
    # tables' listings and a GET per partition file read.
    assert counted["LIST"] <= 30, counted
    assert counted["HEAD"] <= 10, counted
    assert counted.total() <= 150, counted
    start = s3_server.mark()
    build_report(settings, now=now)  # `report`, and the report a run writes
    assert s3_server.since(start).total() <= 150


def test_a_report_on_s3_reads_each_partition_once(
    demo_on_s3: tuple[Settings, dict[str, Any]], s3_server: CountingMotoServer
) -> None:
    """A platform engineer's trial: `report` read every scored partition three times and
    the clean and quarantine ones twice (the sections and the audit tally each read the
    tables again), and a partition file read was a HEAD and a GET. Within one command
    each partition file is one GET, the sections sharing it; the report is the same."""
    from collections import Counter
    from datetime import UTC, datetime

    from servicelens.reporting.report import render_report
    from servicelens.storage.fs import listings_reused

    settings, _ = demo_on_s3
    now = datetime(2026, 10, 6, 12, tzinfo=UTC)
    plain, _ = render_report(settings, None, now)
    start = s3_server.mark()
    with listings_reused():
        reused, _ = render_report(settings, None, now)
    with s3_server._lock:
        served = s3_server.requests[start:]
    assert reused == plain
    reads = Counter(key for kind, key in served if kind in ("GET", "HEAD"))
    partition_files = {k: n for k, n in reads.items() if "/survey_date=" in k}
    assert any("feedback_scored" in k for k in partition_files), partition_files
    assert {k: n for k, n in partition_files.items() if n > 1} == {}, partition_files


def test_the_readmes_s3_recipe_reads_a_store_of_configured_sources(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data engineer's trial: the README's object-storage recipe read only the sample's
    path (``s3://bucket/prefix/marts/...``), and a store holding configured sources alone
    (``sources/<name>/marts/...``) stopped it with "No files found". Its Python block, run
    as written (the bucket and prefix replaced) from the project folder, reads them through
    the raw pattern and through sql/views.sql."""
    import re

    from tests.bi.test_views_layers import _layer

    local = tmp_path / "data"
    _layer(local / "sources" / "cfpb", "cfpb", 2)
    url = f"{s3}/readme-sources"
    store = filesystem("s3")
    store.put(str(local / "sources"), f"{url.removeprefix('s3://')}/sources", recursive=True)
    project = Path(__file__).resolve().parents[2]
    readme = (project / "README.md").read_text()
    section = readme.split("### Object storage", 1)[1].split("\n## ", 1)[0]
    [python] = [
        block
        for block in re.findall(r"```python\n(.*?)```", section, re.S)
        if "register_filesystem" in block
    ]
    monkeypatch.chdir(project)
    namespace: dict[str, object] = {}
    exec(python.replace("s3://bucket/prefix", url), namespace)  # the README's own example
    connection = namespace["con"]
    assert isinstance(connection, duckdb.DuckDBPyConnection)
    by_source = "SELECT source, count(*) FROM feedback_scored GROUP BY 1"
    assert connection.execute(by_source).fetchall() == [("cfpb", 4)]
