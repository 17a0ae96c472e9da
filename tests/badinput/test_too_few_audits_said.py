"""Too few audits of a root cause is a refusal of the data, said in one line: a QA lead's
trial (111) read "training needs at least 3 audits ..." followed by "Prefect's log and the
traceback: ...", the pointer the command line gives an error it takes for a bug."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources.configured_run import run_configured_source

#: Ticket ratings with QA's verdict on every row, all negative.
DEFINITION = (
    'name = "acme-desk"\nnegative = "all"\n[columns]\n'
    'response_id = "Ticket"\nsubmitted_at = { column = "Opened", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "email" }\nqueue = "Team"\ncomment = "Comment"\n'
    '[label]\ncolumn = "Verdict"\n[label.values]\n'
    '"fault" = "policy_failure"\n"as designed" = "perceived"\n'
)


def test_too_few_audits_of_a_root_cause_is_said_without_a_traceback(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    rows = ["Ticket,Opened,Team,Comment,Verdict"] + [
        f"K{i:03d},2026-03-{2 + i % 5:02d} 10:{i:02d},billing,"
        f"{'the engineer never came' if i < 2 else 'the fee was in my contract'},"
        f"{'fault' if i < 2 else 'as designed'}"
        for i in range(30)
    ]
    data, _ = run_configured_source(tmp_path, "acme-desk", DEFINITION, "\n".join(rows) + "\n")
    capsys.readouterr()
    assert main(["--data-dir", str(data), "train", "--source", "acme-desk"]) == 2
    said = capsys.readouterr().err
    assert "training needs at least 3 audits of each root cause" in said
    assert "2 policy_failure" in said
    assert "traceback" not in said
