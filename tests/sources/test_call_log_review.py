"""A contact-centre call log (a source with no comment text) as QA first meets it: the review
worksheet carries the call's facts, and a definition no model can read is said so where
audits are first asked for and when it is added or checked. Real configured source, real
``sources run`` and ``review-queue`` (the tests' Prefect API), the worksheet read back.

Found by a UK energy supplier's QA lead: the call log's ``review-queue --output`` worksheet
held the queue alone (no wait, talk time or outcome), so QA could not judge a call from it;
before ``[features]`` was declared, ``review-queue`` offered 4,262 calls for first audits
and only the retrain said the source ``has nothing for a model to read``. And ``sources
add`` of a survey with an ``[interactions]`` feed made ``inbox/<source>/interactions/``
without saying so."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import configured_source
from servicelens.ingest.definitions import DefinitionError, load_definition
from servicelens.settings import Settings
from tests.sources.configured_run import run_configured_source

NAME = "calls"
COLUMNS = (
    f'name = "{NAME}"\n'
    "[columns]\n"
    'response_id = "Call Id"\n'
    'submitted_at = { column = "Start", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\n'
    'queue = "Topic"\n'
    'wait_seconds = "Speed of answer in seconds"\n'
    'handle_seconds = "Talk seconds"\n'
    'resolution = { column = "Resolved", values = { Y = "resolved", N = "unresolved" } }\n'
    'csat = "Satisfaction"\n'
)
FEATURES = '[features]\ncategorical = ["queue"]\nnumeric = ["wait_seconds", "handle_seconds"]\n'
NOTHING_TO_READ = re.compile(
    rf"source {NAME} has nothing for a model to read: its definition \(.+\) maps no comment "
    r"and declares no \[features\]"
)


def _export() -> str:
    """40 calls over two days; call K0i waits 30 + 7 i seconds, talks 100 + 11 i seconds."""
    lines = ["Call Id,Start,Topic,Speed of answer in seconds,Talk seconds,Resolved,Satisfaction"]
    for i in range(40):
        lines.append(
            f"K{i:04d},2026-11-{2 + i % 2:02d} {9 + i % 8:02d}:{i % 60:02d},"
            f"{'billing' if i % 3 else 'smart meter'},{30 + 7 * i},{100 + 11 * i},"
            f"{'Y' if i % 4 else 'N'},{1 + i % 5}"
        )
    return "\n".join(lines) + "\n"


def _words(definition: str) -> str:
    """What training refuses ``definition`` (a file) with."""
    with pytest.raises(DefinitionError) as refused:
        load_definition(definition).refuse_an_empty_model()
    return str(refused.value)


def test_the_worksheet_carries_the_calls_facts_with_their_units(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = run_configured_source(tmp_path, NAME, COLUMNS + FEATURES, _export())
    capsys.readouterr()
    sheet = tmp_path / "worksheet.csv"
    argv = ["--data-dir", str(data), "review-queue", "--source", NAME, "--limit", "0"]
    assert main([*argv, "--output", str(sheet)]) == 0
    said = capsys.readouterr().out
    assert "for the first audits" in said and "nothing for a model" not in said, said
    with sheet.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, said
    assert {"wait_seconds", "handle_seconds", "resolution"} <= set(rows[0]), list(rows[0])
    for row in rows:
        i = int(row["response_id"].removeprefix("K"))
        assert float(row["wait_seconds"]) == 30 + 7 * i
        assert float(row["handle_seconds"]) == 100 + 11 * i
        assert row["resolution"] == ("resolved" if i % 4 else "unresolved")


def test_a_definition_no_model_can_read_is_said_at_add_check_and_review_queue(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = run_configured_source(tmp_path, NAME, COLUMNS, _export())
    capsys.readouterr()
    registered = str(configured_source(Settings(data_dir=str(data)), NAME).definition)
    words = _words(registered)
    assert NOTHING_TO_READ.match(words), words

    def out() -> str:
        """What the command printed, its suggested commands as the words write them."""
        return capsys.readouterr().out.replace(f"servicelens --data-dir {data} ", "servicelens ")

    # Where audits are first asked for, in the retrain's words.
    assert main(["--data-dir", str(data), "review-queue", "--source", NAME]) == 0
    said = out()
    assert "for the first audits" in said and f"note: {words}" in said, said
    # sources check of an export against it.
    export = tmp_path / f"{NAME}.csv"
    assert main(["--data-dir", str(data), "sources", "check", NAME, str(export)]) == 0
    assert f"note: {words}" in out()
    # sources add of it (another data directory), and nothing said once it has [features].
    for definition, said_so in ((COLUMNS, True), (COLUMNS + FEATURES, False)):
        other = tmp_path / f"other-{said_so}"
        (tmp_path / "added.toml").write_text(definition, encoding="utf-8")
        argv = ["--data-dir", str(other), "sources", "add", str(tmp_path / "added.toml")]
        assert main(argv) == 0
        added = capsys.readouterr().out
        assert bool(NOTHING_TO_READ.search(added)) is said_so, added


def test_sources_add_of_a_survey_with_a_feed_says_where_its_files_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "survey.toml"
    definition.write_text(
        'name = "survey"\n[columns]\nresponse_id = "Response"\ninteraction_id = "Call"\n'
        'submitted_at = "Rated at"\ncsat = "Score"\ncomment = "Comment"\n'
        '[interactions]\n[interactions.columns]\ninteraction_id = "Call ID"\n'
        'started_at = { column = "Start", format = "%Y-%m-%d %H:%M:%S" }\nqueue = "Topic"\n',
        encoding="utf-8",
    )
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "sources", "add", str(definition)]) == 0
    said = capsys.readouterr().out
    feed_inbox = configured_source(Settings(data_dir=str(data)), "survey").for_interactions()
    assert feed_inbox.inbox_dir.is_dir()
    assert f"the [interactions] feed's contact files in {feed_inbox.inbox_dir}" in said, said
