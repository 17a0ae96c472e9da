"""A long-running process (``serve``'s scheduler) reads QA's audits for every date it runs:
its read of them is cached, and must follow the clean layer a date's re-run changes.

Found by a review: the cache was keyed on the audit files alone, while a file's slashed
dates show their order by the ``submitted_at`` of the responses they audit (the clean
layer's), so a re-run that delivered a response left its audit set aside, as if the response
were still unknown, until the process restarted.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.settings import Settings
from servicelens.stages import audits_read
from servicelens.synthetic.generator import generate

DAY = date(2026, 3, 1)
#: Read day-first, 2 March (after the response); month-first, 3 February (before it): the
#: response's submitted_at shows the order, once the clean layer has the response.
AUDITED_AT = "02/03/2026 10:00"


def test_a_date_run_again_in_the_same_process_changes_the_audits_read(
    prefect_api: None, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    generate(data, DAY, DAY, 60, 5)
    surveys = data / "raw" / DAY.isoformat() / "surveys.csv"
    delivered = surveys.read_text(encoding="utf-8")
    rows = pl.read_csv(surveys, infer_schema=False)
    negative = rows.filter(
        pl.col("csat").is_in(["1", "2"]) & pl.col("submitted_at").str.starts_with("2026-03-01T")
    )
    response = negative.get_column("response_id")[0]
    # The first delivery lacks the response; its audit is filed all the same.
    surveys.write_text(
        "".join(
            line for line in delivered.splitlines(keepends=True) if not line.startswith(response)
        ),
        encoding="utf-8",
    )
    audits = data / "raw" / DAY.isoformat() / "audits-ann.csv"
    audits.write_text(
        f"response_id,root_cause,audited_at,auditor\n{response},perceived,{AUDITED_AT},ann\n"
    )
    argv = ["--data-dir", str(data)]
    assert main([*argv, "run", "--date", DAY.isoformat()]) == 0
    settings = Settings(data_dir=str(data))
    before = audits_read(settings)
    assert str(audits) not in before.date_orders
    assert response in before.set_aside.get_column("response_id").to_list()

    # The date is run again with the response delivered: the process reads the audit anew.
    surveys.write_text(delivered, encoding="utf-8")
    assert main([*argv, "run", "--date", DAY.isoformat()]) == 0
    clean = pl.read_parquet(data / "clean" / "responses" / f"survey_date={DAY}" / "*.parquet")
    assert response in clean.get_column("response_id").to_list()
    after = audits_read(settings)
    assert after.date_orders[str(audits)]["order"] == "day-first"
    assert response not in after.set_aside.get_column("response_id").to_list()
    used = after.audits.filter(pl.col("response_id") == response)
    assert str(used.get_column("audited_at")[0])[:16] == "2026-03-02 10:00"


def test_run_says_a_refused_audit_file_as_the_warning_review_queue_says(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: `run` printed an audit file's refusal (a sheet lacking
    its auditor column) as `servicelens: <reason>`, while `review-queue` printed the same
    refusal as `servicelens: warning: <reason>`: reading `run`'s output, one could not tell
    it was a warning. Both now say it through one prefix."""
    data = tmp_path / "data"
    generate(data, DAY, DAY, 40, 5)
    refused = data / "raw" / DAY.isoformat() / "audits-zoe.csv"
    refused.write_text("response_id,root_cause,audited_at\nR1,perceived,2026-03-02\n")
    argv = ["--data-dir", str(data)]

    assert main([*argv, "run", "--date", DAY.isoformat()]) == 0
    run_said = [line for line in capsys.readouterr().err.splitlines() if str(refused) in line]
    assert main([*argv, "review-queue"]) == 0
    queue_said = [line for line in capsys.readouterr().err.splitlines() if str(refused) in line]

    reason = f"servicelens: warning: {refused}: line 1 (header): an audit file needs the columns"
    assert [line.startswith(reason) for line in run_said] == [True], run_said
    assert [line.startswith(reason) for line in queue_said] == [True], queue_said
