"""``sql/views.sql`` run as the README runs it, in plain DuckDB: every view reads the sample's
layer at the top of the data directory and every configured source's under
``sources/<name>/``, in a data directory holding either or both, and nothing else in it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from servicelens.reporting.analyst import VIEWS_FILE, connect_views

#: Each view and the table folder it reads.
VIEW_TABLES = {
    "feedback_scored": "marts/feedback_scored",
    "daily_summary": "marts/daily_summary",
    "quarantine": "quarantine",
    "fix_list": "marts/fix_list",
    "agent_outcomes": "marts/agent_outcomes",
    "review_queue": "marts/review_queue",
}


def _partition(root: Path, table: str, day: date, source: str, rows: int) -> None:
    folder = root / table / f"survey_date={day.isoformat()}"
    folder.mkdir(parents=True)
    if table == "marts/feedback_scored":  # its manifest, as write_partition leaves it
        manifest = {
            "run_id": f"run-{source}-{day}",
            "flow": "nightly",
            "source": source,
            "counts": {"surveys_read": rows + 1, "kept": rows, "quarantined": 1, "scored": rows},
            "model_version": "v1",
            "survey_date": day.isoformat(),
            "rows": rows,
            "written_at": "2026-10-03T02:00:00+00:00",
        }
        (folder / "_manifest.json").write_text(json.dumps(manifest))
    pl.DataFrame(
        {
            "response_id": [f"{source}-{day}-{i}" for i in range(rows)],
            "source": [source] * rows,
            "is_negative": [True] * rows,
            "root_cause": ["perceived"] * rows,
            "transfers": [0] * rows,
        }
    ).write_parquet(folder / "part-0.parquet")


def _layer(root: Path, source: str, rows: int) -> None:
    for table in VIEW_TABLES.values():
        _partition(root, table, date(2026, 10, 1), source, rows)
        _partition(root, table, date(2026, 10, 2), source, rows)


def _views(data_dir: str) -> duckdb.DuckDBPyConnection:
    """What the README does: set data_dir, run the file."""
    connection = duckdb.connect()
    connection.execute("SET VARIABLE data_dir = $dir", {"dir": data_dir})
    connection.execute(VIEWS_FILE.read_text())
    return connection


def _by_source(connection: duckdb.DuckDBPyConnection, view: str) -> list[tuple[str, int]]:
    return connection.execute(
        f"SELECT source, count(*) FROM {view} GROUP BY ALL ORDER BY ALL"
    ).fetchall()


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """The sample at the top, two configured sources, and things the views must not read: a
    copy of the marts in another folder, the clean layer, a file beside the partitions."""
    _layer(tmp_path, "sample", 3)
    _layer(tmp_path / "sources" / "cfpb", "cfpb", 2)
    _layer(tmp_path / "sources" / "zendesk-eu", "zendesk-eu", 1)
    _layer(tmp_path / "backup-2026-09", "stale copy", 5)
    _partition(tmp_path / "clean", "responses", date(2026, 10, 1), "sample", 3)
    (tmp_path / "marts" / "feedback_scored" / "survey_date=2026-10-01" / "notes.txt").write_text(
        "not a partition"
    )
    return tmp_path


def test_every_view_reads_the_sample_and_every_source_and_nothing_else(mixed: Path) -> None:
    connection = _views(str(mixed))
    for view in VIEW_TABLES:
        assert _by_source(connection, view) == [
            ("cfpb", 4),
            ("sample", 6),
            ("zendesk-eu", 2),
        ], view
    assert _by_source(connection, "scored_negatives") == [
        ("cfpb", 4),
        ("sample", 6),
        ("zendesk-eu", 2),
    ]
    # The partition column comes from the folder, a date, in every layer.
    days = connection.execute(
        "SELECT DISTINCT source, survey_date FROM feedback_scored ORDER BY ALL"
    ).fetchall()
    assert days == [
        (source, date(2026, 10, day))
        for source in ("cfpb", "sample", "zendesk-eu")
        for day in (1, 2)
    ]
    # A folder the layers do not name is still read at the top, as before.
    clean = connection.execute(
        "SELECT count(*) FROM servicelens_partitions('clean/responses')"
    ).fetchall()
    assert clean == [(3,)]


def test_processed_dates_say_a_date_whose_last_run_failed(mixed: Path) -> None:
    """Found by a BI developer's trial: a date published, then re-run and failed (a renamed
    csat header), still listed exactly as before in processed_dates, nothing saying its
    newest run failed and that the partition comes from an earlier run. Its outcome record
    (runs/survey_date=<date>.json) now says so; a date without one reads null."""
    from servicelens.settings import Settings
    from servicelens.storage.runs import record_outcome

    settings = Settings.from_env(str(mixed))
    record_outcome(settings, date(2026, 10, 1), "run-1", "completed", inputs={})
    error = "raw/2026-10-02/surveys.csv: required column csat is missing"
    record_outcome(settings, date(2026, 10, 2), "run-2", "failed", error=error, inputs={})
    failed_at = json.loads((mixed / "runs" / "survey_date=2026-10-02.json").read_text())
    # A configured source's record, beside its layer: only its own date is told.
    cfpb_runs = mixed / "sources" / "cfpb" / "runs"
    cfpb_runs.mkdir(parents=True)
    (cfpb_runs / "survey_date=2026-10-01.json").write_text(
        json.dumps(
            {
                "survey_date": "2026-10-01",
                "outcome": "failed",
                "error": "cfpb broke",
                "finished_at": "2026-10-05T01:00:00+00:00",
            }
        )
    )
    # A date run and failed that no run ever published: a row of its own, from the record
    # alone (found by a BI analyst's trial: it looked like a date never run).
    never = "raw/2026-10-03/surveys.csv: not UTF-8"
    record_outcome(settings, date(2026, 10, 3), "run-3", "failed", error=never, inputs={})
    # In plain DuckDB, as the README runs it, and as `servicelens query` builds the views.
    for connection in (_views(str(mixed)), connect_views(mixed)):
        assert connection.execute(
            "SELECT source, granularity, rows_read, rows_kept, run_id, model_version, "
            "last_run_outcome, last_run_error FROM processed_dates "
            "WHERE survey_date = DATE '2026-10-03'"
        ).fetchall() == [("sample", None, None, None, None, None, "failed", never)]
        rows = connection.execute(
            "SELECT source, survey_date, rows_kept, run_id, last_run_outcome, "
            "last_run_finished_at, last_run_error FROM processed_dates "
            "WHERE source IN ('sample', 'cfpb') AND run_id IS NOT NULL ORDER BY ALL"
        ).fetchall()
        assert [row[:6] for row in rows] == [
            ("cfpb", date(2026, 10, 1), 2, "run-cfpb-2026-10-01", "failed", rows[0][5]),
            ("cfpb", date(2026, 10, 2), 2, "run-cfpb-2026-10-02", None, None),
            ("sample", date(2026, 10, 1), 3, "run-sample-2026-10-01", "completed", rows[2][5]),
            # The earlier run's partition and counts, and the failure after it.
            ("sample", date(2026, 10, 2), 3, "run-sample-2026-10-02", "failed", rows[3][5]),
        ]
        assert [row[6] for row in rows] == ["cfpb broke", None, None, error]
        assert rows[3][5].isoformat() == failed_at["finished_at"]
        assert rows[1][5] is None and rows[2][5] is not None


def test_processed_dates_tell_a_date_that_kept_nothing_from_one_never_run(mixed: Path) -> None:
    """Found by a BI analyst's trial: a date processed that kept no row and a date never
    delivered both had no rows anywhere but the manifests. processed_dates reads them."""
    _partition(mixed, "marts/feedback_scored", date(2026, 10, 4), "sample", 0)
    connection = _views(str(mixed))
    assert connection.execute(
        "SELECT source, survey_date, rows_read, rows_kept, rows_quarantined, run_id "
        "FROM processed_dates WHERE source = 'sample' ORDER BY survey_date"
    ).fetchall() == [
        ("sample", date(2026, 10, 1), 4, 3, 1, "run-sample-2026-10-01"),
        ("sample", date(2026, 10, 2), 4, 3, 1, "run-sample-2026-10-02"),
        ("sample", date(2026, 10, 4), 1, 0, 1, "run-sample-2026-10-04"),
    ]
    assert _by_source(connection, "processed_dates") == [
        ("cfpb", 2),
        ("sample", 3),
        ("zendesk-eu", 2),
    ]
    # What kept nothing, against what never ran: 10-03 is in neither.
    assert connection.execute(
        "SELECT survey_date FROM processed_dates WHERE source = 'sample' AND rows_kept = 0"
    ).fetchall() == [(date(2026, 10, 4),)]


def test_a_data_directory_with_sources_only_is_read(tmp_path: Path) -> None:
    """Before, every view read only the top layer: here DuckDB said "No files found"."""
    _layer(tmp_path / "sources" / "cfpb", "cfpb", 2)
    connection = _views(str(tmp_path))
    for view in VIEW_TABLES:
        assert _by_source(connection, view) == [("cfpb", 4)], view


@pytest.mark.parametrize("layers", [("sources",), ("sample",), ("sample", "sources")])
def test_the_readmes_duckdb_queries_read_a_data_directory_of_either_layer_or_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layers: tuple[str, ...]
) -> None:
    """Found by a trial: the README's DuckDB examples read `data/marts/...` and a list of
    both layers' patterns, and a data directory with configured sources only stopped them
    with `IO Error: No files found that match the pattern "data/marts/feedback_scored/..."`.
    Its queries go through sql/views.sql, run here as written, from a project folder.

    A new user's trial: the README said to use "the `duckdb` shell", which `make env` does
    not install. Its recipes run with the installed Python package, and the README says so
    wherever it names the shell."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("Query the marts with DuckDB", 1)[1].split("\n## ", 1)[0]
    assert not [b for b in re.findall(r"```sql\n(.*?)```", section, re.S) if ".read" in b]
    said = ("installs no `duckdb` shell", "not the `duckdb` shell", "client yourself")
    for paragraph in (" ".join(p.split()) for p in readme.split("\n\n")):
        if "`duckdb` shell" in paragraph:
            assert any(words in paragraph for words in said), paragraph
    [python] = re.findall(r"```python\n(.*?)```", section, re.S)[:1]
    project = tmp_path / "project"
    project.mkdir()
    (project / "sql").symlink_to(VIEWS_FILE.parent)
    expected = []
    if "sample" in layers:
        _layer(project / "data", "sample", 3)
        expected.append(("sample", "perceived", 6))
    if "sources" in layers:
        _layer(project / "data" / "sources" / "cfpb", "cfpb", 2)
        expected.insert(0, ("cfpb", "perceived", 4))
    monkeypatch.chdir(project)
    # The Python block, as written.
    namespace: dict[str, object] = {}
    exec(python, namespace)  # the README's own example
    connection = namespace["con"]
    assert isinstance(connection, duckdb.DuckDBPyConnection)
    select = re.search(r'con\.sql\("(.*?)"\)', python)
    assert select is not None
    assert connection.execute(select.group(1)).fetchall() == expected


@pytest.mark.parametrize("spelling", ["{dir}/", "./{name}", "./{name}/", "{name}"])
def test_the_data_directory_may_be_spelled_relative_or_with_a_slash(
    mixed: Path, spelling: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(mixed.parent)
    connection = _views(spelling.format(dir=mixed, name=mixed.name))
    assert _by_source(connection, "feedback_scored") == [
        ("cfpb", 4),
        ("sample", 6),
        ("zendesk-eu", 2),
    ]


def test_new_partitions_of_a_layer_are_read_without_running_the_file_again(
    tmp_path: Path,
) -> None:
    _layer(tmp_path, "sample", 3)
    _layer(tmp_path / "sources" / "cfpb", "cfpb", 2)
    connection = _views(str(tmp_path))
    _partition(tmp_path, "marts/feedback_scored", date(2026, 10, 3), "sample", 3)
    # Another source's first partition: sources/*/ covers it.
    _partition(tmp_path / "sources" / "acme", "marts/feedback_scored", date(2026, 10, 3), "acme", 1)
    assert _by_source(connection, "feedback_scored") == [("acme", 1), ("cfpb", 4), ("sample", 9)]


def test_a_table_no_run_has_written_has_no_view_in_duckdb_and_an_empty_one_in_query(
    tmp_path: Path,
) -> None:
    for table in ("clean/responses", "marts/feedback_scored", "marts/daily_summary", "quarantine"):
        _partition(tmp_path / "sources" / "cfpb", table, date(2026, 10, 1), "cfpb", 2)
    connection = duckdb.connect()
    connection.execute("SET VARIABLE data_dir = $dir", {"dir": str(tmp_path)})
    with pytest.raises(duckdb.IOException, match="No files found"):
        connection.execute(VIEWS_FILE.read_text())
    analyst = connect_views(tmp_path)
    assert _by_source(analyst, "feedback_scored") == [("cfpb", 2)]
    assert analyst.execute("SELECT count(*) FROM fix_list").fetchall() == [(0,)]
    # Partitions without manifests (never written so by a run): an empty processed_dates.
    for manifest in tmp_path.glob("**/_manifest.json"):
        manifest.unlink()
    analyst = connect_views(tmp_path)
    assert analyst.execute(
        "SELECT count(*), any_value(rows_kept) FROM processed_dates"
    ).fetchall() == [(0, None)]


def _fix_list(root: Path, day: date, source: str) -> None:
    folder = root / "marts/fix_list" / f"survey_date={day.isoformat()}"
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "period": ["window", "window"],
            "owner": ["operations", "communications"],
            "rank": [1, 1],
            "policy_code": [f"{source}-FEE", f"{source}-WINDOW"],
            "queue": ["billing", "delivery"],
            "problem_responses": [10, 4],
            "csat_points_lost": [12.0, 3.0],
            "csat_points_lost_low": [10.0, 2.0],
            "csat_points_lost_high": [14.0, 4.0],
            "nps_points_lost": [0.5, 0.1],
            "period_start": [date(2026, 9, 1)] * 2,
            "period_end": [day] * 2,
            "example_comments": [["late"], ["fee"]],
            "source": [source] * 2,
        }
    ).write_parquet(folder / "part-0.parquet")


def _agents(root: Path, day: date, source: str, fcr: float) -> None:
    folder = root / "marts/agent_outcomes" / f"survey_date={day.isoformat()}"
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "agent": ["agent-1"],
            "status": ["judged"],
            "contacts": [100],
            "median_handle_seconds": [240.0],
            "transfers_per_contact": [0.5],
            "settled_contacts": [80],
            "came_back": [80 * (1 - fcr)],
            "mean_csat": [3.0],
            "responses": [20],
            "negatives": [5],
            "negatives_policy_failure": [2],
            "negatives_other": [3],
            "source": [source],
        }
    ).write_parquet(folder / "part-0.parquet")


def test_the_owner_and_agent_queries_keep_each_source_apart(tmp_path: Path) -> None:
    """Found by a trial: fix_list_by_owner, handle_time_vs_resolution and
    agents_whose_customers_come_back had no source column (`--source` was refused), the fix
    list showed only the sources whose data reached the newest date, and agents of two
    sources with the same pseudonym were summed as one."""
    from servicelens.reporting.analyst import run_query

    for root, day, source in ((tmp_path, 30, "sample"), (tmp_path / "sources/cfpb", 1, "cfpb")):
        _partition(root, "marts/feedback_scored", date(2026, 11, day), source, 3)
    _fix_list(tmp_path, date(2026, 11, 30), "sample")
    _fix_list(tmp_path / "sources" / "cfpb", date(2026, 10, 31), "cfpb")
    (tmp_path / "sources" / "cfpb" / "definition.toml").write_text('name = "cfpb"\n')
    fixes = run_query(tmp_path, "fix_list_by_owner")
    assert [(r["source"], r["owner"], r["policy_code"]) for r in fixes] == [
        ("cfpb", "operations", "cfpb-FEE"),
        ("cfpb", "communications", "cfpb-WINDOW"),
        ("sample", "operations", "sample-FEE"),
        ("sample", "communications", "sample-WINDOW"),
    ]
    _agents(tmp_path, date(2026, 11, 30), "sample", 0.9)
    _agents(tmp_path / "sources" / "cfpb", date(2026, 10, 31), "cfpb", 0.5)
    agents = run_query(tmp_path, "agents_whose_customers_come_back")
    assert [(r["source"], r["agent"], r["first_contact_resolution"]) for r in agents] == [
        ("cfpb", "agent-1", 0.5),
        ("sample", "agent-1", 0.9),
    ]
    bands = run_query(tmp_path, "handle_time_vs_resolution")
    assert [(r["source"], r["agents"]) for r in bands] == [("cfpb", 1), ("sample", 1)]


def test_a_query_reads_a_column_no_partition_holds_yet_as_null(tmp_path: Path) -> None:
    """Found in review of policies_by_root_cause reading expected_policy_failures (daily_summary
    contract 6): a data directory whose daily marts were all written before it stopped the
    query with DuckDB's binder error. A contract's column no partition holds reads as null,
    as the contract says; those days' decisions do not stand in for the estimate (their
    feedback_scored rows here carry no p_policy_failure either)."""
    from servicelens.reporting.analyst import run_query

    _partition(tmp_path, "marts/feedback_scored", date(2026, 10, 1), "sample", 3)
    folder = tmp_path / "marts/daily_summary/survey_date=2026-10-01"
    folder.mkdir(parents=True)
    pl.DataFrame(  # version 5: no expected_policy_failures, no expected_policy_failure_share
        {
            "source": ["sample"],
            "policy_code": ["FEE"],
            "negatives": [10],
            "perceived": [4],
            "policy_failures": [6],
            "schema_version": [5],
        }
    ).write_parquet(folder / "part-0.parquet")
    connection = connect_views(tmp_path)
    assert connection.execute(
        "SELECT expected_policy_failures, expected_policy_failure_share FROM daily_summary"
    ).fetchall() == [(None, None)]
    [policy] = run_query(tmp_path, "policies_by_root_cause")
    assert (policy["expected_policy_failure_share"], policy["main_fix"]) == (
        None,
        "no estimate for 1 scored date(s) written before it: "
        "`servicelens backfill --source sample --rerun all` rewrites them",
    )


def _scored_responses(root: Path, day: date, p_policy_failure: list[float]) -> None:
    """feedback_scored of one day of CONDUCT's negatives: a decision of policy_failure
    where p_policy_failure is 0.5 or more."""
    folder = root / "marts/feedback_scored" / f"survey_date={day.isoformat()}"
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "response_id": [f"{day}-{i}" for i in range(len(p_policy_failure))],
            "source": "sample",
            "policy_code": "CONDUCT",
            "is_negative": True,
            "root_cause": ["policy_failure" if p >= 0.5 else "perceived" for p in p_policy_failure],
            "p_policy_failure": p_policy_failure,
            "transfers": 0,
        }
    ).write_parquet(folder / "part-0.parquet")


def _summary_day(root: Path, day: date, failures: int, perceived: int, **extra: object) -> None:
    folder = root / "marts/daily_summary" / f"survey_date={day.isoformat()}"
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "source": ["sample"],
            "policy_code": ["CONDUCT"],
            "negatives": [failures + perceived],
            "perceived": [perceived],
            "policy_failures": [failures],
            **{name: [value] for name, value in extra.items()},
        }
    ).write_parquet(folder / "part-0.parquet")


def test_a_day_without_the_estimate_is_not_counted_by_its_decisions(tmp_path: Path) -> None:
    """Found by a platform engineer's upgrade of a data directory built by an older release:
    policies_by_root_cause showed CONDUCT's expected_policy_failures as 92.0, the old days'
    decision count, while policy_trend_weekly summed the same rows' p_policy_failure to
    108.3. A day whose daily_summary predates the estimate (version 5) takes it from its
    scored responses, as the weekly view does; without them the estimate is null and
    main_fix names the command that rewrites those days."""
    from servicelens.reporting.analyst import run_query

    old, new = date(2026, 10, 5), date(2026, 10, 6)  # one week
    _scored_responses(tmp_path, old, [0.5, 0.6, 0.3])  # 2 decisions, 1.4 expected
    _summary_day(tmp_path, old, 2, 1, schema_version=5)
    _scored_responses(tmp_path, new, [0.4, 0.2])
    _summary_day(tmp_path, new, 0, 2, schema_version=6, expected_policy_failures=0.6)
    [policy] = run_query(tmp_path, "policies_by_root_cause")
    [week] = run_query(tmp_path, "policy_trend_weekly")
    assert policy["expected_policy_failures"] == week["expected_policy_failures"] == 2.0
    assert policy["expected_policy_failure_share"] == 0.4
    assert policy["main_fix"] == "communication: set expectations"

    # An old day whose scored responses carry no probability: no estimate, said so.
    folder = tmp_path / "marts/feedback_scored" / f"survey_date={old.isoformat()}"
    pl.read_parquet(folder / "part-0.parquet").drop("p_policy_failure").write_parquet(
        folder / "part-0.parquet"
    )
    [policy] = run_query(tmp_path, "policies_by_root_cause")
    assert (policy["expected_policy_failures"], policy["rank_policy_failure"]) == (None, None)
    assert policy["main_fix"] == (
        "no estimate for 1 scored date(s) written before it: "
        "`servicelens backfill --source sample --rerun all` rewrites them"
    )


def _toronto_night(root: Path, zone: str = "America/Toronto") -> None:
    """Two survey dates of a data directory recorded in ``zone``, as a run leaves them: each
    clean and feedback_scored partition's manifest says "timezone" (the other tables hold a
    row each). The first date's
    response was written at 23:30 in Toronto on Sunday 4 October, 04:30 on Monday in London;
    the second's at 10:00 on Monday 5 October."""
    responses = {
        date(2026, 10, 4): ("2026-10-05 03:30:00+00", 0.8),
        date(2026, 10, 5): ("2026-10-05 14:00:00+00", 0.4),
    }
    for day, (submitted_at, p_policy_failure) in responses.items():
        manifest = {"timezone": zone, "source": "sample", "survey_date": day.isoformat()}
        clean = root / "clean/responses" / f"survey_date={day.isoformat()}"
        clean.mkdir(parents=True)
        (clean / "_manifest.json").write_text(json.dumps(manifest))
        for table in VIEW_TABLES.values():  # plain DuckDB reads every table the views name
            if table != "marts/feedback_scored":
                _partition(root, table, day, "sample", 1)
        scored = root / "marts/feedback_scored" / f"survey_date={day.isoformat()}"
        scored.mkdir(parents=True)
        (scored / "_manifest.json").write_text(json.dumps({**manifest, "rows": 1}))
        pl.DataFrame(
            {
                "response_id": [f"r-{day}"],
                "source": ["sample"],
                "submitted_at": [submitted_at],
                "policy_code": ["FEE"],
                "is_negative": [True],
                "root_cause": ["policy_failure" if p_policy_failure >= 0.5 else "perceived"],
                "p_policy_failure": [p_policy_failure],
                "transfers": [0],
            }
        ).with_columns(pl.col("submitted_at").str.to_datetime(time_zone="UTC")).write_parquet(
            scored / "part-0.parquet"
        )


def test_the_readmes_recipe_reads_days_in_the_timezone_the_data_directory_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an airline's trial (America/Toronto recorded in its data directory): the
    README's recipe set only data_dir, the views read days in Europe/London, 242 of 1,080
    rows fell on another day, and policy_trend_weekly showed 5.2 expected failures over 2
    days for a week where `servicelens query` showed 3.2 over 1. The views now read the
    recorded timezone, so the recipe, as written, gives the command line's days."""
    import re

    from servicelens.reporting.analyst import run_query
    from servicelens.settings import Settings

    monkeypatch.delenv("SERVICELENS_TIMEZONE", raising=False)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("Query the marts with DuckDB", 1)[1].split("\n## ", 1)[0]
    [python] = re.findall(r"```python\n(.*?)```", section, re.S)[:1]
    project = tmp_path / "project"
    project.mkdir()
    (project / "sql").symlink_to(VIEWS_FILE.parent)
    _toronto_night(project / "data")
    monkeypatch.chdir(project)
    namespace: dict[str, object] = {}
    exec(python, namespace)  # the README's own example, data_dir = 'data'
    connection = namespace["con"]
    assert isinstance(connection, duckdb.DuckDBPyConnection)
    # Each response's own day is the survey date the pipeline filed it under.
    assert connection.execute(
        "SELECT survey_date, timezone(getvariable('business_timezone'), submitted_at)::DATE "
        "FROM feedback_scored ORDER BY 1"
    ).fetchall() == [(date(2026, 10, 4),) * 2, (date(2026, 10, 5),) * 2]
    sql = (VIEWS_FILE.parent / "queries" / "policy_trend_weekly.sql").read_text()
    weeks = [
        (row["week"], row["expected_policy_failures"], row["days_covered"])
        for row in (
            dict(zip([d[0] for d in result.description], r, strict=True))
            for result in [connection.execute(sql)]
            for r in result.fetchall()
        )
    ]
    # Sunday 4 October is in the week of 28 September, Monday the 5th in its own.
    assert weeks == [(date(2026, 9, 28), 0.8, 1), (date(2026, 10, 5), 0.4, 1)]
    # The command line's figures: `servicelens query` in the settings it builds.
    cli = Settings.from_env(str(project / "data"))
    assert cli.timezone == "America/Toronto"
    for figures in (
        run_query(cli.root, "policy_trend_weekly", cli.timezone),
        run_query(cli.root, "policy_trend_weekly"),
    ):
        assert [
            (r["week"], r["expected_policy_failures"], r["days_covered"]) for r in figures
        ] == weeks


def test_the_views_refuse_to_guess_between_two_recorded_timezones(tmp_path: Path) -> None:
    """A data directory whose sample and a source record different business timezones: the
    views stop, naming them and what to set, rather than read days in Europe/London."""
    _toronto_night(tmp_path)
    _toronto_night(tmp_path / "sources" / "eu", zone="Europe/Berlin")
    with pytest.raises(duckdb.InvalidInputException) as refused:
        _views(str(tmp_path))
    assert str(refused.value).endswith(
        f"{tmp_path} records more than one business timezone (America/Toronto in "
        f"{tmp_path}/clean/responses/survey_date=2026-10-05/_manifest.json; Europe/Berlin in "
        f"{tmp_path}/sources/eu/clean/responses/survey_date=2026-10-05/_manifest.json): set "
        "the one to read response days in before sql/views.sql, e.g. SET VARIABLE "
        "business_timezone = 'America/Toronto'"
    )
    connection = duckdb.connect()
    connection.execute("SET VARIABLE data_dir = $dir", {"dir": str(tmp_path)})
    connection.execute("SET VARIABLE business_timezone = 'Europe/Berlin'")
    connection.execute(VIEWS_FILE.read_text())
    assert connection.execute("SELECT getvariable('business_timezone')").fetchall() == [
        ("Europe/Berlin",)
    ]


def test_processed_dates_has_the_columns_the_data_dictionary_documents(mixed: Path) -> None:
    """A BI trial found processed_dates, the reconciliation view, in no data dictionary: its
    columns are documented from PROCESSED_DATES_CONTRACT, which must be what the view has."""
    from servicelens.reporting.dictionary import sql_type
    from transforms.schemas import PROCESSED_DATES_CONTRACT

    described = _views(str(mixed)).execute("DESCRIBE processed_dates").fetchall()
    assert [(row[0], row[1]) for row in described] == [
        (column, sql_type(dtype)) for column, dtype in PROCESSED_DATES_CONTRACT.schema.items()
    ]
