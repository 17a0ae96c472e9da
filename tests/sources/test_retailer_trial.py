"""A BI analyst's trial at a German retailer: a semicolon, decimal-comma export and a
Qualtrics export as configured sources, in a fresh data directory.

A definition declaring another timezone than the business timezone was cut into the
business timezone's days without a word, and the first run fixed that timezone for the data
directory for good: ``sources add`` and the first run now say so before anything is
published. Everything runs in-process through the real command line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.readers import TOTALS_ROW_NOTE

DEFINITIONS = Path(__file__).parent / "definitions"
#: Declares timezone = "Europe/Berlin".
BERLIN = DEFINITIONS / "european-feedback.toml"


def test_adding_a_source_in_another_timezone_than_the_business_one_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVICELENS_TIMEZONE", raising=False)
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "sources", "add", str(BERLIN)]) == 0
    out = capsys.readouterr().out
    assert (
        "stadtwerke-feedback's definition reads its naive times in Europe/Berlin, but the "
        "business timezone is Europe/London (the default: SERVICELENS_TIMEZONE is not set)"
    ) in out
    assert "set SERVICELENS_TIMEZONE=Europe/Berlin" in out
    # --json carries it too.
    assert main(["--data-dir", data, "--json", "sources", "add", str(BERLIN)]) == 0
    added = json.loads(capsys.readouterr().out)
    assert "Europe/Berlin" in added["timezone_note"]
    # The first command that would fix the directory's timezone says it again, on stderr,
    # before it runs anything (here a dry run, refused as nothing is landed yet).
    main(
        [
            "--data-dir",
            data,
            "backfill",
            "--source",
            "stadtwerke-feedback",
            "--start",
            "2026-03-01",
            "--end",
            "2026-03-02",
            "--dry-run",
        ]
    )
    assert (
        "servicelens: warning: stadtwerke-feedback's definition reads its naive times in "
        "Europe/Berlin" in capsys.readouterr().err
    )
    # In the business timezone the definition declares, nothing is said.
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Europe/Berlin")
    assert main(["--data-dir", data, "sources", "add", str(BERLIN)]) == 0
    assert "timezone" not in capsys.readouterr().out


#: A US card issuer's post-chat survey: naive times in New York.
NEW_YORK = """name = "cardco-check"
timezone = "America/New_York"
[columns]
response_id = "Respondent ID"
submitted_at = { column = "End Date", format = "%m/%d/%Y %I:%M:%S %p" }
csat = "Score"
"""
#: 20:05 on 31 October in New York is 00:05 on 1 November in UTC and in London.
EVENING_EXPORT = (
    "Respondent ID,End Date,Score\n"
    "114019524704,10/31/2026 08:05:50 PM,4\n"
    "114019064549,10/31/2026 01:44:06 PM,5\n"
)


def test_checking_an_export_in_another_timezone_says_so_as_adding_it_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a card issuer's trial: ``sources check`` printed "naive times in
    America/New_York" and dated a response of 20:05 New York time on the next day, the
    business timezone's (the default, Europe/London), without a word; ``sources add`` of
    the same definition said so. Both now tell the same note."""
    from servicelens.ingest.configured import timezone_note
    from servicelens.settings import Settings

    monkeypatch.delenv("SERVICELENS_TIMEZONE", raising=False)
    definition = tmp_path / "cardco-check.toml"
    definition.write_text(NEW_YORK)
    export = tmp_path / "cardco-2026-10-31.csv"
    export.write_text(EVENING_EXPORT)
    data = str(tmp_path / "data")
    note = timezone_note(Settings.from_env(data), str(definition))
    assert note is not None and "Europe/London (the default" in note
    check = ["--data-dir", data, "sources", "check", str(definition), str(export)]
    assert main(check) == 0
    out = capsys.readouterr().out
    assert f"note: {note}" in out
    assert "survey dates in Europe/London's days" in out
    assert main([*check, "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["timezone_note"] == note
    assert [r["survey_date"] for r in checked["rows"]] == ["2026-11-01", "2026-10-31"]
    assert main(["--data-dir", data, "sources", "add", str(definition)]) == 0
    assert f"note: {note}" in capsys.readouterr().out
    # In the business timezone the definition declares, the days are New York's: no note.
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "America/New_York")
    assert main([*check, "--json"]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["timezone_note"] is None
    assert [r["survey_date"] for r in checked["rows"]] == ["2026-10-31", "2026-10-31"]


def test_an_empty_inbox_file_stays_in_the_inbox_saying_so_and_fails_no_night(
    tmp_path: Path,
) -> None:
    """A 0-byte file (an export that failed on the vendor's side) failed every nightly run
    and stayed in the inbox, while a header-only file was skipped and removed: it is now
    skipped as that one is, saying what to ask the vendor for. Both then stay in the inbox
    (an operations analyst's trial: how most copies start, a 0-byte file was removed, and
    the copy's rest went into the removed file)."""
    from servicelens.ingest.configured import (
        pending_deliveries,
        pick_up_deliveries,
        register_source,
    )
    from servicelens.settings import Settings

    source = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(BERLIN)
    )
    (source.inbox_dir / "umfrage-2026-04-01.csv").write_bytes(b"")
    (picked,) = pick_up_deliveries(source)
    assert picked.error == "" and picked.landing is None
    inbox_file = source.inbox_dir / "umfrage-2026-04-01.csv"
    assert picked.note == (
        f"{inbox_file}: the file is empty (0 bytes), not an export; nothing landed. Ask the "
        "vendor to send the export again; it stays in the inbox and is landed once it holds "
        "rows (delete it if none are to come)"
    )
    assert pending_deliveries(source) == [inbox_file]


#: The trial's export's shape: semicolons, decimal commas, day-first dotted dates.
HEADER = (
    "Antwort-ID;Vorgangsnummer;Eingangsdatum;Kanal;Zufriedenheit;Weiterempfehlung (0-10);"
    "Bearbeitungszeit (Min);Gebühr (EUR);Kommentar\n"
)


def _export(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def test_sources_check_exits_as_run_does_when_rows_would_be_quarantined(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pre-check script passed a file whose every row ``run`` then quarantined (exit 4):
    ``sources check`` now exits 4 where ``run`` would, 0 for a clean file or one keeping
    most of its rows (a few quarantined rows are an ordinary export's)."""
    data = str(tmp_path / "data")
    clean = _export(
        tmp_path / "clean.csv",
        [
            f"A-{n};V-{n};01.04.2026 10:{n:02d};Telefon;4 - Zufrieden;8;4,5;0,00;gut"
            for n in range(3)
        ],
    )
    check = ["--data-dir", data, "sources", "check", str(BERLIN)]
    assert main([*check, str(clean)]) == 0
    assert "would be quarantined" not in capsys.readouterr().out
    unrated = _export(
        tmp_path / "unrated.csv",
        [f"A-{n};V-{n};01.04.2026 10:{n:02d};Telefon;sehr gut;8;4,5;0,00;gut" for n in range(12)],
    )
    for json_flag in ([], ["--json"]):
        assert main([*check, str(unrated), *json_flag]) == 4
        capsys.readouterr()


SAMPLE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "field"
    / "12-european-semicolon-decimal-comma"
    / "sample.csv"
)


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"field sample not at {SAMPLE}")
def test_a_run_lists_only_the_reports_it_wrote(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs started a second apart: the first listed the second's report as its own.
    Here another run writes its report while this one is landing the inbox."""
    import shutil
    import threading

    from servicelens.ingest.configured import register_source
    from servicelens.settings import Settings

    data = str(tmp_path / "data")
    source = register_source(Settings(data_dir=data), str(BERLIN))
    shutil.copyfile(SAMPLE, source.inbox_dir / "umfrage.csv")
    reports = Path(data) / "reports"
    other = reports / "report-20261205T000000Z-0badc0de-stadtwerke-feedback.html"

    def another_run() -> None:
        # Once this run has landed the inbox (its reports come after), the other writes.
        while (source.inbox_dir / "umfrage.csv").exists():
            threading.Event().wait(0.05)
        reports.mkdir(parents=True, exist_ok=True)
        other.write_text("<html>another run's report</html>")

    writer = threading.Thread(target=another_run, daemon=True)
    writer.start()
    main(["--data-dir", data, "run", "--date", "2026-03-04"])
    writer.join(timeout=5)
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("report:")]
    assert other.exists() and listed, listed
    assert all(other.name not in line for line in listed), listed


def test_a_spreadsheet_totals_row_is_told_as_one_not_as_a_score_to_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The export's last lines were a spreadsheet's summary (``Durchschnitt: 3,1``, then
    ``Summe;...``), and their rows were told to map words onto the scale: now each is told it
    looks like a totals row that should not be in the export; it stays quarantined."""
    export = _export(
        tmp_path / "summary.csv",
        [
            "A-1;V-1;01.04.2026 10:00;Telefon;4 - Zufrieden;8;4,5;0,00;gut",
            "A-2;V-2;01.04.2026 11:00;Telefon;sehr gut;8;4,5;0,00;gut",
            "Durchschnitt: 3,1",
            "Summe;;;;Durchschnitt;16;9;0,00;",
        ],
    )
    argv = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(BERLIN), str(export)]
    # The good rows are kept: two totals rows are no reason to stop the file (exit 0).
    assert main([*argv, "--json"]) == 0
    reasons = {
        row["source_line"]: "; ".join(row["reasons"])
        for row in json.loads(capsys.readouterr().out)["quarantined"]
    }
    totals = (
        "looks like the totals or summary row of a spreadsheet, not a response: it should not "
        "be in the export (take it out, or export the responses without totals); the row "
        "stays quarantined, so nothing is lost"
    )
    assert totals in reasons[4] and totals in reasons[5], reasons
    assert "values = {" not in reasons[5]
    # A response's word that is not a score is still told how to map it.
    assert totals not in reasons[3] and "values = {" in reasons[3]


def test_a_totals_row_failing_two_scores_is_told_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A totals row whose satisfaction and recommendation both fail (a word, and a sum over
    10) said it looked like a totals row once per column, twice in its reasons and in what
    ``sources check`` printed: it is said once, on its first reason."""
    export = _export(
        tmp_path / "summary.csv",
        [
            "A-1;V-1;01.04.2026 10:00;Telefon;4 - Zufrieden;8;4,5;0,00;gut",
            "Summe;;;;Durchschnitt;16;9;0,00;",
        ],
    )
    argv = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(BERLIN), str(export)]
    assert main([*argv, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)["quarantined"]
    failed = [r for r in row["reasons"] if r.startswith(("csat:", "nps:"))]
    assert len(failed) == 2, row["reasons"]
    assert sum(TOTALS_ROW_NOTE in r for r in row["reasons"]) == 1, row["reasons"]
    assert TOTALS_ROW_NOTE in failed[0] and "values = {" not in "; ".join(row["reasons"])
    assert main(argv) == 0
    assert " ".join(capsys.readouterr().out.split()).count(TOTALS_ROW_NOTE) == 1


def test_no_timezone_note_where_the_two_zones_keep_the_same_clocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bank analyst's trial: a Berlin business adding a Vienna source was told a response
    near midnight "can be dated the day before or after its Europe/Vienna day", though the
    two zones' offsets agree at every instant since 1981. Here the other way round: a
    Berlin definition in a Vienna data directory is told nothing, a London one is."""
    from servicelens.dates import zones_differ
    from servicelens.ingest.configured import timezone_note
    from servicelens.settings import Settings

    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Europe/Vienna")
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "--json", "sources", "add", str(BERLIN)]) == 0
    assert json.loads(capsys.readouterr().out)["timezone_note"] is None
    london = Settings(data_dir=str(tmp_path / "london"), timezone="Europe/London")
    note = timezone_note(london, str(BERLIN))
    assert note is not None and "can be dated the day before or after" in note
    # The tz database's 1980: Austria's clocks changed at 00:00, West Germany's at 02:00.
    assert zones_differ("Europe/Vienna", "Europe/Berlin", date(1980, 1, 1))
    assert not zones_differ("Europe/Vienna", "Europe/Berlin", date(1981, 1, 1))


def test_a_timezone_note_is_told_once_and_again_for_a_source_in_another_zone(
    prefect_api: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A data engineer's trial: every nightly run of a directory whose sources (one in
    Zurich, one in Berlin, the business in London by default) had delivered nothing yet
    repeated both long notes, unchanged, night after night. They are told once, as the
    unread columns' note is; a source added in another timezone is told of then."""
    monkeypatch.delenv("SERVICELENS_TIMEZONE", raising=False)
    data = str(tmp_path / "data")
    for definition in (BERLIN, DEFINITIONS / "qualtrics-acme.toml"):
        assert main(["--data-dir", data, "sources", "add", str(definition)]) == 0
    capsys.readouterr()

    def nightly_warnings() -> list[str]:
        assert main(["--data-dir", data, "run", "--date", "2026-03-01"]) == 0
        err = capsys.readouterr().err
        return [line for line in err.splitlines() if "definition reads its naive times" in line]

    first = nightly_warnings()
    assert [line.split("'s definition")[0] for line in first] == [
        "servicelens: warning: acme-qualtrics",
        "servicelens: warning: stadtwerke-feedback",
    ]
    assert nightly_warnings() == []
    # A third source, in New York: its note alone.
    hot_dog = DEFINITIONS / "google-forms-hotdog.toml"
    assert main(["--data-dir", data, "sources", "add", str(hot_dog)]) == 0
    capsys.readouterr()
    third = nightly_warnings()
    assert len(third) == 1
    assert third[0].startswith(
        "servicelens: warning: hot-dog-survey's definition reads its naive times in "
        "America/New_York"
    )
