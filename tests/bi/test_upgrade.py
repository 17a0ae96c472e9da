"""After an upgrade: partitions an earlier servicelens wrote under older contract versions are
named, with commands that rewrite them, by `dictionary --check`, `run` and `backfill`."""

from __future__ import annotations

import shlex
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.outcomes import week_of
from servicelens.storage.partitions import DATA_FILE, partition_dir
from servicelens.synthetic.generator import generate

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
    ],
    ("daily_summary", 3): ["rated", "expected_policy_failures", "expected_policy_failure_share"],
    ("agent_outcomes", 2): [],
}


def _as_older_release(marts: Path, days: list[date]) -> None:
    """Rewrite the partitions as an older release wrote them: feedback_scored version 5,
    daily_summary 3 (without the columns added since), agent_outcomes 2 (same columns)."""
    for (table, version), dropped in _ADDED_SINCE.items():
        parts = [week_of(days[0])] if table == "agent_outcomes" else days
        for day in parts:
            data = partition_dir(marts / table, day) / DATA_FILE
            frame = pl.read_parquet(data).drop(dropped)
            frame.with_columns(pl.lit(version, pl.Int32).alias("schema_version")).write_parquet(
                data
            )


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
    for root in (tmp_path, tmp_path / "sources" / "acme"):
        _as_older_release(root / "marts", DAYS)
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
        "contract version 5, the current is 7 (since: 6: added sla_met"
    ) in out
    assert "7: model_version is null on rows no model scored" in out
    assert "sample daily_summary: 3 partition(s)" in out and "version 3, the current is 6" in out
    assert "5: policy_failures and perceived are null" in out
    assert f"sample agent_outcomes: 1 partition(s) of {tmp_path}/marts/agent_outcomes/" in out
    assert "hold contract version 2, the current is 4" in out
    assert "source acme feedback_scored: 3 partition(s)" in out
    # 2 sources x 3 tables: 6 lines, each with its command, then the 2 commands alone.
    assert out.count("; rewrite: `servicelens") == 6
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
