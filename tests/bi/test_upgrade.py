"""After an upgrade: partitions an earlier servicelens wrote under older contract versions are
named, with commands that rewrite them, by `dictionary --check`, `run` and `backfill`."""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.outcomes import week_of
from servicelens.settings import Settings
from servicelens.storage.partitions import DATA_FILE, MANIFEST_FILE, partition_dir
from servicelens.synthetic.generator import generate
from transforms.schemas import (
    AGENT_OUTCOMES_VERSION,
    DAILY_SUMMARY_VERSION,
    FEEDBACK_SCORED_VERSION,
)

START = date(2026, 10, 5)
DAYS = [START + timedelta(days=i) for i in range(3)]

#: Columns each older version did not have yet (transforms/schemas.py's version history).
_ADDED_SINCE = {
    ("feedback_scored", 5): [
        "sla_met",
        "policy_disclosed",
        "resolution",
        "fees_charged",
        "fee_excess",
        "in_training_set",
    ],
    ("daily_summary", 3): ["rated", "expected_policy_failures", "expected_policy_failure_share"],
    ("agent_outcomes", 2): [],
    # Empty before a model scores anything: no row says its version, the manifest's columns do.
    ("fix_list", 3): ["csat_not_estimated", "nps_not_estimated"],
}


def _as_older_release(
    marts: Path,
    days: list[date],
    tables: tuple[str, ...] = ("feedback_scored", "daily_summary", "agent_outcomes"),
) -> None:
    """Rewrite the partitions as an older release wrote them: feedback_scored version 5,
    daily_summary 3 (without the columns added since), agent_outcomes 2 (same columns)."""
    for (table, version), dropped in _ADDED_SINCE.items():
        if table not in tables:
            continue
        parts = [week_of(days[0])] if table in ("agent_outcomes", "fix_list") else days
        for day in parts:
            data = partition_dir(marts / table, day) / DATA_FILE
            frame = pl.read_parquet(data).drop(dropped)
            frame.with_columns(pl.lit(version, pl.Int32).alias("schema_version")).write_parquet(
                data
            )
            # Its manifest described its own file (and its own columns).
            manifest = data.parent / MANIFEST_FILE
            described = json.loads(manifest.read_text())
            columns = {c: t for c, t in described["columns"].items() if c not in dropped}
            described |= {"data_bytes": data.stat().st_size, "columns": columns}
            manifest.write_text(json.dumps(described))


def _commands(out: str) -> list[list[str]]:
    tail = out.split("to rewrite every partition of an older contract version, run:\n")[1]
    return [shlex.split(line)[1:] for line in tail.splitlines() if line.startswith("  ")]


def test_dictionary_check_names_older_partitions_with_commands_that_rewrite_them(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A platform engineer's upgrade: `dictionary --check` printed one line per file,
    "missing ['sla_met', ...], not in contract [], types []" and `run --date ...` with a
    literal `...`, no contract versions, and (for a week) a Monday without an export."""
    generate(tmp_path, DAYS[0], DAYS[-1], 120, seed=3)
    data = ["--data-dir", str(tmp_path)]
    assert main([*data, "backfill", "--start", str(DAYS[0]), "--end", str(DAYS[-1])]) == 0
    # A configured source's copy of the same marts (the command must carry --source).
    shutil.copytree(tmp_path / "marts", tmp_path / "sources" / "acme" / "marts")
    tables = ("feedback_scored", "daily_summary", "agent_outcomes", "fix_list")
    for root in (tmp_path, tmp_path / "sources" / "acme"):
        _as_older_release(root / "marts", DAYS, tables)
    capsys.readouterr()

    assert main([*data, "dictionary", "--check"]) == 1
    out = capsys.readouterr().out
    assert "..." not in out.replace(f"{DAYS[0]}..{DAYS[-1]}", "")
    assert "not in contract []" not in out and "types []" not in out
    span = f"survey_date={DAYS[0]}..{DAYS[-1]}"
    sample = f"servicelens --data-dir {tmp_path} backfill --start {DAYS[0]} --end {DAYS[-1]}"
    acme = f"servicelens --data-dir {tmp_path} backfill --source acme --start {DAYS[0]}"
    assert (
        f"sample feedback_scored: 3 partition(s) of {tmp_path}/marts/feedback_scored/{span} hold "
        f"contract version 5, the current is {FEEDBACK_SCORED_VERSION} (since: 6: added sla_met"
    ) in out
    assert "7: model_version is null on rows no model scored" in out
    assert "9: added resolved_first_contact" in out and "10: added fcr_answered" in out
    assert (
        "sample daily_summary: 3 partition(s)" in out
        and f"version 3, the current is {DAILY_SUMMARY_VERSION}" in out
    )
    assert "5: policy_failures and perceived are null" in out
    assert f"sample agent_outcomes: 1 partition(s) of {tmp_path}/marts/agent_outcomes/" in out
    assert f"hold contract version 2, the current is {AGENT_OUTCOMES_VERSION}" in out
    assert "source acme feedback_scored: 3 partition(s)" in out
    assert (
        f"sample fix_list: 1 partition(s) of {tmp_path}/marts/fix_list/survey_date="
        f"{week_of(DAYS[0])} hold an older layout (no rows say which version; without "
        "csat_not_estimated, nps_not_estimated), the current is 4"
    ) in out
    assert "missing [" not in out
    # 2 sources x 4 tables: 8 lines, each with its command, then the 2 commands alone.
    assert out.count("; rewrite: `servicelens") == 8
    commands = _commands(out)
    assert [" ".join(c) for c in commands] == [
        f"--data-dir {tmp_path} backfill --start {DAYS[0]} --end {DAYS[-1]} --rerun all",
        f"--data-dir {tmp_path} backfill --source acme --start {DAYS[0]} --end {DAYS[-1]} "
        "--rerun all",
    ]
    assert sample in out and acme in out

    # The sample's command, pasted, rewrites every one of its partitions.
    shutil.rmtree(tmp_path / "sources")
    assert main(commands[0]) == 0
    capsys.readouterr()
    assert main([*data, "dictionary", "--check"]) == 0, capsys.readouterr().out


def test_run_and_backfill_say_partitions_hold_older_contract_versions(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first nightly after an upgrade, a default backfill and its dry run read dates an
    older release wrote as done ("0 of 3 dates would run") without a word on their version."""
    generate(tmp_path, DAYS[0], DAYS[-1], 120, seed=3)
    data = ["--data-dir", str(tmp_path)]
    days = ["--start", str(DAYS[0]), "--end", str(DAYS[-1])]
    assert main([*data, "backfill", *days]) == 0
    _as_older_release(tmp_path / "marts", DAYS)
    capsys.readouterr()

    check = f"servicelens --data-dir {tmp_path} dictionary --check"
    assert main([*data, "backfill", *days, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 0 of 3 dates would run" in out
    assert "7 partition(s) (feedback_scored, daily_summary, agent_outcomes) hold rows" in out
    assert "older contract version" in out and check in out
    # Nothing changed in the inputs: no date runs (the backfill's end rebuilds older weeks).
    assert main([*data, "backfill", *days, "--rerun", "changed"]) == 0
    out = capsys.readouterr().out
    assert "6 partition(s) (feedback_scored, daily_summary) hold rows" in out and check in out
    # The nightly run rewrites its own date (and every older week); the rest it names.
    assert main([*data, "run", "--date", str(DAYS[-1])]) == 0
    out = capsys.readouterr().out
    assert "4 partition(s) (feedback_scored, daily_summary) hold rows" in out and check in out
    assert main([*data, "backfill", *days, "--rerun", "all"]) == 0
    assert "older contract version" not in capsys.readouterr().out


def test_the_readmes_duckdb_reads_see_new_columns_across_contract_versions(
    tmp_path: Path,
) -> None:
    """The README's first DuckDB example read without `union_by_name`: on a directory whose
    partitions hold two contract versions, DuckDB took the first file's columns, so a column
    added since was invisible (or `Binder Error: "sla_met" not found`)."""
    import re

    import duckdb

    from servicelens.storage.partitions import write_partition
    from transforms.marts import feedback_scored
    from transforms.schemas import FEEDBACK_SCORED_CONTRACT

    from .test_contracts import _scored_rows

    for root in (tmp_path, tmp_path / "sources" / "acme"):
        for day in DAYS[:2]:
            write_partition(
                feedback_scored(_scored_rows(), "m1"),
                root / "marts" / "feedback_scored",
                day,
                FEEDBACK_SCORED_CONTRACT.schema,
                {},
                tmp_path / ".staging",
            )
        # The first (oldest) partition as contract version 5 wrote it: no sla_met.
        _as_older_release(root / "marts", DAYS[:1], tables=("feedback_scored",))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", readme, re.S)
    reads = [
        re.search(r"read_parquet\((.*?)\)\n", block, re.S)
        for block in blocks
        if "read_parquet(" in block and "marts/feedback_scored" in block
    ]
    assert reads  # the views' queries aside (tests/bi/test_views_layers.py)
    for read in reads:
        assert read is not None
        call = read.group(1).replace("'data/", f"'{tmp_path}/")
        sql = f"SELECT count(*), count(sla_met) FROM read_parquet({call})"
        with duckdb.connect() as con:
            [(total, _)] = con.sql(sql).fetchall()  # not a Binder Error
            columns = [
                c[0] for c in con.sql(f"DESCRIBE SELECT * FROM read_parquet({call})").fetchall()
            ]
        assert total == 6 * call.count("marts/feedback_scored"), read.group(0)
        assert "sla_met" in columns and "source" in columns, read.group(0)


def test_a_partition_rewritten_by_hand_names_its_own_backfill_not_a_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a platform engineer's upgrade trial: a file whose columns differ from its
    contract said "missing [...], not in contract [], types []. Re-publish the date
    (`servicelens run --date ...`)": empty lists, a placeholder, and the sample's command
    for a configured source's partition."""
    from servicelens.reporting.dictionary import _rewrite
    from servicelens.stages import publish_clean, validate_day
    from servicelens.synthetic.generator import generate

    day = date(2026, 10, 5)
    generate(tmp_path, day, day, per_day=80, seed=3)
    settings = Settings(data_dir=str(tmp_path))
    publish_clean(settings, validate_day(settings, day, "t"), {})
    [file] = (settings.quarantine_dir / f"survey_date={day}").glob("*.parquet")
    pl.read_parquet(file).drop("raw_record").write_parquet(file)

    assert main(["--data-dir", str(tmp_path), "dictionary", "--check"]) == 1
    said = capsys.readouterr().out
    assert (
        f"{file}: missing ['raw_record']. Rewrite it (`servicelens --data-dir {tmp_path} " in said
    )
    assert f"backfill --start {day} --end {day} --rerun all`) or update the contract" in said
    assert "[]" not in said and "..." not in said
    configured = tmp_path / "sources" / "acme" / "clean" / "responses" / f"survey_date={day}"
    assert _rewrite(tmp_path, configured / "part-0.parquet") == (
        f"servicelens backfill --source acme --start {day} --end {day} --rerun all"
    )
