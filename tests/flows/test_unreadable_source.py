"""A configured source whose registered definition cannot be read (its TOML edited by hand)
is that source's failure alone in the nightly run, ``servicelens run`` and a backfill over
every source: the others land and run, the run fails at the end naming the source, the file
and the command that mends it, and the nightly's alert says so. Real Prefect, real field
exports, a real HTTP receiver for the alert.

Found after the weekly retrain was made to carry on past such a source: the nightly run's
sources part, ``run`` and ``backfill`` still stopped at it, every other source's inbox left
unlanded.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from servicelens.ingest.configured import pending_deliveries, register_source
from servicelens.settings import Settings
from servicelens.storage.partitions import scan_table
from tests.flows.conftest import AlertReceiver

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
DEFINITIONS = ROOT / "tests" / "sources" / "definitions"
CYCLING = DEFINITIONS / "surveymonkey-cycling.toml"
EUROPEAN = DEFINITIONS / "european-feedback.toml"
#: After every row of both field exports (March 2026 for the European one).
NIGHT = date(2026, 4, 1)

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _two_sources_one_broken(data: str) -> tuple[Settings, Settings, Path]:
    """``data`` with the SurveyMonkey and the European sources configured, an export in
    each inbox, and the SurveyMonkey one's registered definition broken by hand (not TOML).
    Returns the two sources' settings and the broken file."""
    base = Settings(data_dir=data)
    cycling = register_source(base, str(CYCLING))
    european = register_source(base, str(EUROPEAN))
    shutil.copy(FIELD / "03-surveymonkey-response-subheader" / "sample.csv", cycling.inbox_dir)
    shutil.copy(FIELD / "12-european-semicolon-decimal-comma" / "sample.csv", european.inbox_dir)
    broken = cycling.source_root / "definition.toml"
    broken.write_text(broken.read_text().replace("[columns]", "[columns", 1))
    return cycling, european, broken


def _names_the_file_and_the_fix(said: str, broken: Path) -> None:
    assert f"{broken}: not valid TOML" in said, said
    # The command line names the data directory in the command (--data-dir DIR).
    assert re.search(rf"`servicelens (--data-dir \S+ )?sources add {CYCLING} --replace`", said)


def test_the_nightly_run_carries_on_past_a_source_it_cannot_read_and_alerts_it(
    prefect_api: None, tmp_path: Path, receiver: AlertReceiver
) -> None:
    from flows.pipeline import DatesNotCompleted, nightly_window

    data = str(tmp_path / "data")
    cycling, european, broken = _two_sources_one_broken(data)
    # A file the other source's definition does not fit: its refusal looks for another
    # source it would fit, and passes over the one it cannot read.
    export = (european.inbox_dir / "sample.csv").read_bytes()
    renamed = european.inbox_dir / "renamed.csv"
    renamed.write_bytes(export.replace(b"Antwort-ID", b"Antwort-Nr", 1))
    state = nightly_window(day=NIGHT, data_dir=data, notify_url=receiver.url, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert f"1 inbox file(s) not landed: {european.source}: {renamed}: line 1" in message
    assert f"; 1 source(s) not run: {cycling.source}: its registered " in message, message
    _names_the_file_and_the_fix(message, broken)
    rows = state.result(raise_on_failure=False)
    assert isinstance(rows, DatesNotCompleted)
    failed = [r for r in rows.rows if r["outcome"] == "failed"]
    assert [r["result"]["source"] for r in failed] == [cycling.source, european.source]
    assert failed[1]["result"]["inbox_file"] == str(renamed)
    # The other source landed its inbox and ran every partition it touched.
    ran = {r["result"]["source"] for r in rows.rows if r["outcome"] == "completed"}
    assert ran == {european.source}
    assert scan_table(european.clean_dir).collect().height > 0
    # The broken source's export waits in its inbox for the mended definition.
    assert len(pending_deliveries(cycling)) == 1 and pending_deliveries(european) == [renamed]

    [alert] = receiver.received
    # The renamed export is an inbox file not landed, named apart from the broken source.
    assert alert["title"] == (
        f"servicelens nightly-window failed for source {cycling.source}; 1 inbox file(s) not "
        f"landed ({european.source}) in {data}"
    )
    assert f"{european.source} (inbox): {renamed}" in alert["message"]
    _names_the_file_and_the_fix(alert["message"], broken)
    assert f"source {cycling.source}: failed: its registered definition" in alert["message"]
    # Its line is the source's, not the night's (the backfill the alert advises for the
    # night's dates does not mend a definition).
    assert f"{NIGHT}: failed: its registered" not in alert["message"]


def test_run_and_backfill_carry_on_past_a_source_they_cannot_read(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main
    from servicelens.cli.sources import outcomes_text

    data = str(tmp_path / "data")
    cycling, european, broken = _two_sources_one_broken(data)
    assert main(["--data-dir", data, "run", "--date", NIGHT.isoformat(), "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["sources"]
    (failed,) = [r for r in rows if r["outcome"] == "failed"]
    assert failed["source"] == cycling.source
    _names_the_file_and_the_fix(failed["error"], broken)
    assert {r["source"] for r in rows if r["outcome"] == "completed"} == {european.source}
    line = next(x for x in outcomes_text(rows, Settings(data_dir=data)).splitlines() if "TOML" in x)
    assert line.split()[:3] == [cycling.source, "(definition)", "failed"]

    start, end = "2016-08-01", NIGHT.isoformat()
    backfill = ["--data-dir", data, "backfill", "--start", start, "--end", end, "--rerun", "all"]
    # The dry run says what the run does to the broken source, and exits as the run does
    # (it left the source out of its plan without a word, and exited 0).
    assert main([*backfill, "--dry-run", "--json"]) == 1
    planned = json.loads(capsys.readouterr().out)
    (unread,) = [r for r in planned if r["source"] == cycling.source]
    assert unread["action"] == "fail"
    _names_the_file_and_the_fix(unread["reason"], broken)
    assert {r["action"] for r in planned if r["source"] == european.source} == {"run"}
    assert main([*backfill, "--dry-run"]) == 1
    said = capsys.readouterr().out
    assert f"source {cycling.source}: would fail at once: its registered definition" in said
    assert main([*backfill, "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    (failed,) = [r for r in rows if r["outcome"] == "failed"]
    assert failed["result"]["source"] == cycling.source
    _names_the_file_and_the_fix(failed["error"], broken)
    done = {r["result"]["source"] for r in rows if r["outcome"] == "completed"}
    assert done == {european.source}

    # Mended as it says: the next run lands the export that waited, and all complete.
    assert main(["--data-dir", data, "sources", "add", str(CYCLING), "--replace"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "run", "--date", NIGHT.isoformat(), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["sources"]
    assert cycling.source in {r["source"] for r in rows if r["outcome"] == "completed"}
    assert pending_deliveries(cycling) == []


def test_commands_over_every_source_answer_for_the_others_and_name_the_one_left_out(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``runs show``, ``runs release``, ``report``, ``review-queue`` and ``query`` over a
    data directory with one broken source: each raised on it (``configured_sources``) and
    failed outright, the other source's answers with it. Each now answers for the other
    source and says the broken one once, in the nightly run's words."""
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    cycling, european, broken = _two_sources_one_broken(data)
    assert main(["--data-dir", data, "run", "--date", NIGHT.isoformat()]) == 1
    capsys.readouterr()

    def said(*command: str, status: int = 0) -> str:
        assert main(["--data-dir", data, *command]) == status, capsys.readouterr()
        out, err = capsys.readouterr()
        return out + err

    shown = said("runs", "show")
    assert shown.count(str(broken)) == 1, shown
    _names_the_file_and_the_fix(shown, broken)
    assert main(["--data-dir", data, "--json", "runs", "show"]) == 0
    [row] = json.loads(capsys.readouterr().out)["unreadable_definitions"]
    assert row["source"] == cycling.source
    _names_the_file_and_the_fix(row["error"], broken)
    assert "nothing to release" in said("runs", "release")

    reported = said("report")
    assert reported.count(f"source {cycling.source} left out: ") == 1, reported
    _names_the_file_and_the_fix(reported, broken)
    assert f"latest-{european.source}.html" in reported
    assert not (Path(data) / "reports" / f"latest-{cycling.source}.html").exists()

    # Without --source it asks for one: one that works, and says why not the other.
    refused = said("review-queue", status=2)
    assert f"review-queue --source {european.source}`" in refused, refused
    assert refused.count(f"source {cycling.source} left out: ") == 1
    _names_the_file_and_the_fix(refused, broken)
    queue = said("review-queue", "--source", european.source)
    assert queue.startswith(f"review queue of {european.source}: "), queue

    assert main(["--data-dir", data, "--json", "query", "fix_list_by_owner"]) == 0
    capsys.readouterr()


def test_sources_list_lists_the_others_and_names_the_one_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sources list`` raised on a source whose registered definition cannot be read: the
    list of what is configured, where one looks first, failed for every source."""
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    cycling, european, broken = _two_sources_one_broken(data)
    assert main(["--data-dir", data, "sources", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.count(str(broken)) == 1, listed
    _names_the_file_and_the_fix(listed, broken)
    assert main(["--data-dir", data, "--json", "sources", "list"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in found["configured"]] == [european.source]
    [row] = found["unreadable_definitions"]
    assert row["source"] == cycling.source
    _names_the_file_and_the_fix(row["error"], broken)
