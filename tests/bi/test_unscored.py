"""Before any model has scored the negatives, every analyst output says so instead of
recommending (the stages run directly, as a backfill before the first training would)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from servicelens import stages
from servicelens.cli.main import main
from servicelens.outcomes import early_warning, publish_weekly_marts
from servicelens.reporting.analyst import example_queries, run_query
from servicelens.reporting.report import build_report
from servicelens.settings import Settings
from servicelens.synthetic.generator import generate
from transforms.marts import without_scores

START = date(2026, 10, 5)
DAYS = [START + timedelta(days=i) for i in range(3)]
#: The agent_outcomes columns the agent queries read, in the order the tests' rows give them.
AGENT_COLUMNS = (
    "source, agent, status, contacts, contacts_with_handle_time, contacts_with_transfers, "
    "settled_contacts, came_back, median_handle_seconds, transfers_per_contact, responses, "
    "mean_csat, csat_responses, negatives, negatives_policy_failure, negatives_other, "
    "fcr_measure, flagged_contacts, flagged_resolved"
)


@pytest.fixture(scope="module")
def unscored(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("unscored")
    generate(root, DAYS[0], DAYS[-1], 300, seed=2)
    settings = Settings(data_dir=str(root))
    for day in DAYS:
        validated = stages.validate_day(settings, day, "unscored")
        stages.publish_clean(settings, validated, {"run_id": "unscored"})
        scored = without_scores(stages.load_clean(settings, day))
        warning = early_warning(settings, day, scored, None, None)
        manifest = {"run_id": "unscored", "early_warning": warning}
        stages.publish_marts(settings, day, scored, None, manifest)
    publish_weekly_marts(settings, DAYS, {"run_id": "unscored"})
    return settings


def test_queries_say_nothing_is_scored_instead_of_recommending(
    unscored: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = run_query(unscored.root, "policies_by_root_cause")
    assert len(policies) == 8
    for row in policies:
        assert row["main_fix"].startswith("not scored yet")
        assert row["rank_perceived"] is None and row["rank_policy_failure"] is None
        # Nor a count of none beside "not scored yet" (a user's trial read 0.0 expected).
        unknown = ("perceived", "policy_failures", "expected_policy_failures")
        assert [row[c] for c in unknown] == [None, None, None], row
    assert run_query(unscored.root, "fix_list_by_owner") == []
    assert main(["--data-dir", str(unscored.root), "query", "fix_list_by_owner", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "[]"
    assert "no champion model" in captured.err
    assert f"servicelens --data-dir {unscored.root} train" in captured.err


def test_the_weekly_marts_split_nothing_they_cannot_know(unscored: Settings) -> None:
    from servicelens.storage.partitions import scan_table

    fixes = scan_table(unscored.marts_dir / "fix_list").collect()
    assert fixes.height == 0
    agents = scan_table(unscored.marts_dir / "agent_outcomes").collect()
    assert agents.height > 0 and agents["model_version"].null_count() == agents.height
    assert agents["negatives"].sum() > 0
    assert agents["negatives_policy_failure"].null_count() == agents.height


def test_the_report_says_why_there_is_no_recommendation(unscored: Settings, tmp_path: Path) -> None:
    report = build_report(unscored, run_id="unscored")
    assert "nothing to recommend" in report.missing["Fix list: what to fix first, by owner"]
    early = report.missing["Early warning: failure shares against their history"]
    assert "no champion model" in early
    assert "train a model first" in report.missing["Top policies of each kind"]


def test_weekly_marts_left_behind_by_a_stopped_run_are_rebuilt_by_the_next(
    unscored: Settings,
) -> None:
    """A run stopped after publishing dates and before rebuilding their weeks' marts left
    them stale, and the run that finished the job (which does not run those dates again)
    never rebuilt them: the next rebuild of any week now takes them too."""
    import os

    from servicelens.outcomes import days_behind_weekly_marts, week_of
    from servicelens.storage.partitions import partition_dir

    assert days_behind_weekly_marts(unscored) == []
    week = week_of(DAYS[0])
    manifest = partition_dir(unscored.marts_dir / "fix_list", week) / "_manifest.json"
    hour_ago = manifest.stat().st_mtime - 3600
    os.utime(manifest, (hour_ago, hour_ago))  # as if written before the dates' marts
    assert days_behind_weekly_marts(unscored) == [d for d in DAYS if week_of(d) == week]
    rebuilt = publish_weekly_marts(unscored, [], {"run_id": "later"})
    assert week.isoformat() in rebuilt["weeks"]
    assert manifest.stat().st_mtime > hour_ago + 60
    assert days_behind_weekly_marts(unscored) == []


def _policies_by_root_cause(
    rows: str, columns: str = "main_fix, expected_policy_failure_share"
) -> dict[str, tuple[Any, ...]]:
    """policies_by_root_cause over a daily_summary of ``rows`` (SQL VALUES of source,
    policy_code, negatives, perceived, policy_failures, expected_policy_failures), each row
    a day of its own, with no feedback_scored rows: each policy's ``columns`` of the query
    (by default main_fix and expected_policy_failure_share)."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE daily_summary AS SELECT *, DATE '2026-10-01' + (row_number() OVER ())::INT "
        f"AS survey_date FROM (VALUES {rows}) AS t(source, policy_code, "
        "negatives, perceived, policy_failures, expected_policy_failures)"
    )
    connection.execute(
        "CREATE TABLE feedback_scored (source VARCHAR, survey_date DATE, policy_code VARCHAR, "
        "is_negative BOOLEAN, root_cause VARCHAR, p_policy_failure DOUBLE)"
    )
    sql = example_queries()["policies_by_root_cause"].read_text().strip().rstrip(";")
    return {
        r[0]: tuple(r[1:])
        for r in connection.execute(f"SELECT policy_code, {columns} FROM ({sql})").fetchall()
    }


def test_a_policy_without_negatives_is_not_called_unscored() -> None:
    """Found by a new user's trial: a source whose export gives no rating (so no negatives)
    was told "not scored yet: no model has scored these negatives", which it never can be."""
    fixes = _policies_by_root_cause(
        "('hotdog', 'NONE', 0, 0, 0, 0.0), ('acme', 'FEE', 4, NULL, NULL, NULL), "
        "('acme', 'OLD', 2, 0, 0, NULL), ('acme', 'WINDOW', 5, 1, 4, 3.5)"
    )
    assert {policy: fix for policy, (fix, _) in fixes.items()} == {
        "NONE": "no negative responses: nothing to classify",
        "FEE": "not scored yet: no model has scored these negatives, nothing to recommend",
        # Written before version 5 of the contract: 0 where no model scored.
        "OLD": "not scored yet: no model has scored these negatives, nothing to recommend",
        "WINDOW": "operation: fix what breaks",
    }


def test_a_policy_no_model_scored_counts_nothing_rather_than_0() -> None:
    """Found by a user's trial: on unscored sources the query printed expected_policy_failures
    0.0 (and 0 perceived, 0 failures) beside a null share and "not scored yet": the policy's
    groups without negatives hold 0 of each, and summed with its unscored groups' nulls they
    read as a count of none. A policy without negatives has none, scored or not."""
    counts = _policies_by_root_cause(
        "('acme', 'FEE', 4, NULL, NULL, NULL), ('acme', 'FEE', 0, 0, 0, 0.0), "
        # Written before version 5 of the contract: 0 where no model scored.
        "('acme', 'OLD', 2, 0, 0, NULL), ('acme', 'OLD', 0, 0, 0, NULL), "
        "('hotdog', 'NONE', 0, 0, 0, 0.0), "
        "('acme', 'HALF', 3, NULL, NULL, NULL), ('acme', 'HALF', 2, 1, 1, 1.2)",
        "perceived, policy_failures, expected_policy_failures, expected_policy_failure_share",
    )
    assert counts == {
        "FEE": (None, None, None, None),
        "OLD": (None, None, None, None),
        "NONE": (0, 0, None, None),  # nothing scored: no estimate, as in daily_summary
        # Partly scored: the scored negatives' counts, and their share.
        "HALF": (1, 1, 1.2, 0.6),
    }


def test_an_agents_policy_failure_share_is_of_the_negatives_a_model_scored() -> None:
    """Checked with the policies' 0.0 for unscored negatives (a user's trial): an agent's
    week published before the first champion (negatives_policy_failure null) added its
    negatives to the share's denominator, as if none were a policy failure."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE agent_outcomes AS SELECT * FROM (VALUES "
        "('acme', 'agent-1', 'judged', 10, 10, 10, 8, 2, 300.0, 0.5, 6, 3.0, 6, 4, NULL, "
        "NULL, NULL, NULL, NULL), "
        "('acme', 'agent-1', 'judged', 10, 10, 10, 8, 2, 300.0, 0.5, 6, 2.5, 6, 4, 3, 1, "
        "'no repeat contact', 0, 0)) "
        f"AS t({AGENT_COLUMNS})"
    )
    sql = example_queries()["agents_whose_customers_come_back"].read_text().strip().rstrip(";")
    share = connection.execute(f"SELECT negatives_from_policy_failures FROM ({sql})").fetchall()
    assert share == [(0.75,)]  # 3 of the 4 scored negatives, not 3 of 8


def test_an_agents_first_contact_resolution_from_a_flag_is_the_flags_share() -> None:
    """Found by a contact centre's trial: for a call log without customer ids whose
    ``Resolved`` flag gives first-contact resolution (fcr_measure 'resolved flag'),
    agents_whose_customers_come_back showed ``nan`` for every agent (``1 - came_back /
    settled_contacts`` over no settled contact) while handle_time_vs_resolution showed the
    flag's share. Both roll it up over the flagged contacts now, and say which measure."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE agent_outcomes AS SELECT * FROM (VALUES "
        "('calls', 'agent-1', 'judged', 10, 10, 10, 0, 0, 300.0, 0.5, 6, 3.0, 6, 4, 1, 3, "
        "'resolved flag', 10, 6), "
        "('calls', 'agent-1', 'judged', 5, 5, 5, 0, 0, 300.0, 0.5, 6, 3.0, 6, 4, 1, 3, "
        "'resolved flag', 4, 4), "
        "('shop', 'agent-2', 'judged', 10, 10, 10, 8, 2, 300.0, 0.5, 6, 3.0, 6, 4, 1, 3, "
        "'no repeat contact', 3, 0)) "
        f"AS t({AGENT_COLUMNS})"
    )
    sql = example_queries()["agents_whose_customers_come_back"].read_text().strip().rstrip(";")
    rows = connection.execute(
        f"SELECT source, first_contact_resolution, fcr_measure FROM ({sql})"
    ).fetchall()
    # 10 of the 14 flagged contacts resolved; 6 of the 8 settled ones did not come back.
    assert rows == [("calls", 0.714, "resolved flag"), ("shop", 0.75, "no repeat contact")]


def test_an_agent_week_without_handle_time_is_a_band_of_its_own() -> None:
    """Found by a fix helper reading the query: an agent-week whose export recorded no
    handle time (median_handle_seconds null) fell through the bands' CASE into '20 min or
    more', as if its calls were the longest."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE agent_outcomes AS SELECT * FROM (VALUES "
        "('acme', 'agent-1', 'judged', 10, 0, 10, 8, 2, NULL, 0.5, 6, 3.0, 6, 4, 1, 3, "
        "'no repeat contact', 0, 0), "
        "('acme', 'agent-2', 'judged', 10, 10, 10, 8, 2, 1500.0, 0.5, 6, 3.0, 6, 4, 1, 3, "
        "'no repeat contact', 0, 0)) "
        f"AS t({AGENT_COLUMNS})"
    )
    sql = example_queries()["handle_time_vs_resolution"].read_text().strip().rstrip(";")
    bands = connection.execute(f"SELECT median_handle_time, agents FROM ({sql})").fetchall()
    assert bands == [("20 min or more", 1), ("no handle time recorded", 1)]


def test_the_owner_follows_the_calibrated_estimate_not_the_decisions() -> None:
    """Found by a BI developer's trial: GREET-10MIN, 0.457 failures by the model's decisions
    but 0.515 by its calibrated probabilities (0.517 true), was given to communications. The
    share and the owner are the expected figures'. A day written before daily_summary
    version 6 (no expected_policy_failures) whose responses give no estimate either leaves
    the policy without one: its decisions do not stand in (a platform engineer's upgrade)."""
    fixes = _policies_by_root_cause(
        "('sample', 'GREET', 100, 55, 45, 51.5), ('sample', 'CONDUCT', 100, 70, 30, 29.0), "
        "('sample', 'MIXED', 10, 6, 4, 2.0), ('sample', 'MIXED', 10, 3, 7, NULL)"
    )
    assert fixes["GREET"] == ("operation: fix what breaks", 0.515)
    assert fixes["CONDUCT"] == ("communication: set expectations", 0.29)
    assert fixes["MIXED"] == (
        "no estimate for 1 scored date(s) written before it: "
        "`servicelens backfill --source sample --rerun all` rewrites them",
        None,
    )


def test_a_backfill_before_any_model_says_its_dates_are_unscored(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: a backfill before the first training listed every date "completed
    ... scored 0" and exited 0 without a word; a data engineer following `--rerun missing`
    would leave those dates unscored for good. `run` says the same (a platform engineer's
    trial read "negatives scored 0 (model None)" and nothing else)."""
    generate(tmp_path, DAYS[0], DAYS[2], 120, seed=3)
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", str(DAYS[0])]
    assert main([*argv, "--end", str(DAYS[1])]) == 0
    assert (
        "no champion model yet: the negative responses of 2 date(s) were published without "
        f"root causes. Train one (`servicelens --data-dir {tmp_path} train`), then score them: "
        f"servicelens --data-dir {tmp_path} backfill --start {DAYS[0]} --end {DAYS[1]} --rerun all"
    ) in capsys.readouterr().out
    assert main(["--data-dir", str(tmp_path), "run", "--date", str(DAYS[2])]) == 0
    said = capsys.readouterr().out
    assert f"{DAYS[2]}: read " in said and " (no champion model yet)" in said
    assert (
        "no champion model yet: the negative responses of 1 date(s) were published without "
        f"root causes. Train one (`servicelens --data-dir {tmp_path} train`), then score them: "
        f"servicelens --data-dir {tmp_path} backfill --start {DAYS[2]} --end {DAYS[2]} --rerun all"
    ) in said


def test_weekly_marts_of_an_older_contract_are_named_and_rebuilt(unscored: Settings) -> None:
    """agent_outcomes version 3 changed what first-contact resolution counts and kept its
    columns, so weeks published under version 2 read as current and kept the biased share
    until something happened to rebuild them: `dictionary --check` now names them, and the
    next rebuild of any week takes them too."""
    from servicelens.outcomes import week_of
    from servicelens.reporting.dictionary import contract_mismatches
    from servicelens.storage.partitions import DATA_FILE, MANIFEST_FILE, partition_dir

    week = week_of(DAYS[0])
    data = partition_dir(unscored.marts_dir / "agent_outcomes", week) / DATA_FILE
    current = pl.read_parquet(data)
    assert contract_mismatches(unscored.root) == []
    biased = current.with_columns(
        pl.lit(2, pl.Int32).alias("schema_version"),
        pl.lit(0.0).alias("first_contact_resolution"),
    )
    biased.write_parquet(data)
    # As a version 2 week's manifest was: without the data file's size (written since).
    manifest = data.parent / MANIFEST_FILE
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"data_bytes": None}))
    [problem] = contract_mismatches(unscored.root)
    assert f"survey_date={week}" in problem and "agent_outcomes contract version 2" in problem
    assert "a contact is settled once its return window has passed" in problem
    assert "the next run rebuilds it" in problem

    rebuilt = publish_weekly_marts(unscored, [], {"run_id": "later"})
    assert rebuilt["older_contract_rebuilt"] == [week.isoformat()]
    assert_frame_equal(pl.read_parquet(data), current)
    assert contract_mismatches(unscored.root) == []


def test_the_report_names_a_date_whose_last_run_failed(
    unscored: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a BI trial: a date whose backfill failed (its export broken) kept its earlier
    marts, and every later report showed the date as reconciled with no word of the failure:
    only its run record knew. The header, the data-quality section and `report` say so."""
    from servicelens.storage.runs import outcome_path, record_outcome

    day = DAYS[1]
    error = f"{unscored.raw_day(day) / 'surveys.csv'}: line 1 (header): no response_id column"
    record_outcome(unscored, day, "broken-run", "failed", error=error + "\nmore detail")
    try:
        report = build_report(unscored, run_id="after-failure")
        html = report.latest.read_text()
        assert report.headline["failed_dates"] == [day.isoformat()]
        assert f"Last run failed for {day}" in html
        assert "1 date(s) failed on their last run, 1 of them still showing an earlier run" in html
        assert "no response_id column" in html and "more detail" not in html
        assert f"--start {day} --end {day} --rerun failed" in html
        assert "<td>failed</td>" in html
        assert main(["--data-dir", str(unscored.root), "report"]) == 0
        assert f"last run failed: {day}" in capsys.readouterr().out
    finally:
        outcome_path(unscored, day).unlink()
    assert build_report(unscored, run_id="fixed").headline["failed_dates"] == []


def test_the_unscored_note_counts_only_dates_with_negatives(tmp_path: Path) -> None:
    """Found by a trial: a backfill of six dates of which two had negative responses said
    "the negative responses of 6 date(s) were published without root causes"."""
    from servicelens.cli.schedule import unscored_dates_note

    def row(day: str, negatives: int) -> dict[str, object]:
        result = {"model_version": None, "kept": 5, "negatives": negatives}
        return {"day": day, "outcome": "completed", "result": result}

    note = unscored_dates_note(
        [row("2026-03-01", 0), row("2026-03-02", 3), row("2026-03-03", 0), row("2026-03-04", 1)],
        Settings(data_dir=str(tmp_path)).for_source("stadtwerke", "stadtwerke.toml"),
    )
    assert note is not None and "the negative responses of 2 date(s)" in note
    assert "--start 2026-03-02 --end 2026-03-04 --rerun all" in note
    assert "servicelens train --source stadtwerke" in note
    assert unscored_dates_note([row("2026-03-01", 0)], Settings(data_dir=str(tmp_path))) is None


def test_a_week_of_an_older_contract_with_nothing_to_show_is_rebuilt(tmp_path: Path) -> None:
    """Found by a platform engineer's upgrade: CFPB's fix list of 2026-12-01 (a month whose
    delivery was quarantined, so no scored row and no contact) stayed contract version 2
    through nightly runs, though the README says every run rebuilds weekly marts of an older
    version: the rebuild skipped a period with nothing to show, leaving its old partition.
    Such a period is rewritten, empty, under the current contract."""
    from servicelens.outcomes import weeks_of_older_contracts
    from servicelens.storage.partitions import DATA_FILE, partition_dir

    settings = Settings(data_dir=str(tmp_path))
    week = date(2026, 11, 30)
    for table in ("fix_list", "agent_outcomes"):
        folder = partition_dir(settings.marts_dir / table, week)
        folder.mkdir(parents=True)
        pl.DataFrame({"schema_version": [2]}, schema={"schema_version": pl.Int32}).write_parquet(
            folder / DATA_FILE
        )
    assert weeks_of_older_contracts(settings) == [week]
    rebuilt = publish_weekly_marts(settings, [], {"run_id": "nightly"})
    assert rebuilt["older_contract_rebuilt"] == [week.isoformat()]
    assert weeks_of_older_contracts(settings) == []
    for table in ("fix_list", "agent_outcomes"):
        assert (
            pl.read_parquet(partition_dir(settings.marts_dir / table, week) / DATA_FILE).height == 0
        )
