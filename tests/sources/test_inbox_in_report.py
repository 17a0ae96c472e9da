"""A night whose delivery was refused reads as such in the run report: found by an on-call
engineer's trial, where a cp850 file (then one with a renamed column) in a configured
source's inbox failed ``servicelens run`` and stayed in the inbox, while that night's report
(``latest-<source>.html``, ``latest.html``) named neither file nor reason and read as clean.

End to end through the real nightly flow (real Prefect, real Parquet), with the European
field export."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from servicelens.ingest.configured import NOT_LANDED_TODO, register_source
from servicelens.reporting.report import latest_name
from servicelens.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXPORT = ROOT.parent / "shared" / "field" / "12-european-semicolon-decimal-comma" / "sample.csv"
DEFINITION = Path(__file__).parent / "definitions" / "european-feedback.toml"
#: After every row of the export (March 2026).
NIGHT = date(2026, 4, 1)

pytestmark = pytest.mark.skipif(not EXPORT.exists(), reason=f"field sample not at {EXPORT}")


def _run(data: str) -> int:
    from servicelens.cli.main import main

    return main(["--data-dir", data, "run", "--date", NIGHT.isoformat(), "--json"])


def test_the_report_names_each_inbox_file_not_landed_with_why_and_since_when(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    source = register_source(Settings(data_dir=data), str(DEFINITION))
    reports = Path(data) / "reports"

    # A good night: the export lands, and the report has nothing to say of the inbox.
    shutil.copyfile(EXPORT, source.inbox_dir / "night1.csv")
    assert _run(data) == 0
    capsys.readouterr()
    clean = (reports / latest_name(source.source)).read_text()
    assert "not landed" not in clean.split("<nav>")[0]
    assert main(["--data-dir", data, "report", "--source", source.source, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inbox_not_landed"] == []

    # The next night's files are refused: one saved in cp850, one with a renamed column.
    text = EXPORT.read_bytes().decode("cp1252").replace("A-100", "A-200")
    cp850 = source.inbox_dir / "night3-cp850.csv"
    cp850.write_bytes(text.encode("cp850"))
    renamed = source.inbox_dir / "night4-renamed.csv"
    renamed.write_text(text.replace("Antwort-ID", "Antwort Nr", 1), encoding="utf-8")
    assert _run(data) == 1
    capsys.readouterr()
    first = json.loads(
        (Path(data) / "sources" / source.source / "runs" / "inbox-not-landed.json").read_text()
    )
    # A second night refuses them again: they have waited since the first refusal.
    assert _run(data) == 1
    capsys.readouterr()

    page = (reports / latest_name(source.source)).read_text()
    top = page.split("<nav>")[0]  # under the header, above every section
    assert "2 file(s) delivered to" in top and "were not landed" in top
    assert "night3-cp850.csv" in top and "cp850" in top
    assert "night4-renamed.csv" in top and "Antwort-ID" in top
    assert "Fix the definition or the file: it stays in the inbox" in top
    since = {f["file"]: f["refused_since"] for f in first["files"]}
    assert set(since) == {str(cp850), str(renamed)}
    assert f"refused by every run since {since[str(cp850)][:16].replace('T', ' ')} UTC" in top
    # latest.html is whichever source's report was written last: its Sources table counts
    # every source's files waiting.
    assert "inbox not landed" in (reports / "latest.html").read_text()

    assert main(["--data-dir", data, "report", "--source", source.source, "--json"]) == 0
    waiting = json.loads(capsys.readouterr().out)["inbox_not_landed"]
    assert [w["file"] for w in waiting] == [str(cp850), str(renamed)]
    assert all(w["refused_since"] == since[w["file"]] for w in waiting)
    assert waiting[0]["reason"].startswith(f"{cp850}: line 1, column ")
    assert "cp850" in waiting[0]["reason"] and "\n" not in waiting[0]["reason"]
    assert waiting[1]["reason"].startswith(f"{renamed}: line 1 (header): ")
    assert all(w["todo"] == NOT_LANDED_TODO and w["waiting"].endswith(" s") for w in waiting)
    # And in the terminal lines of `report`.
    assert main(["--data-dir", data, "report", "--source", source.source]) == 0
    said = capsys.readouterr().out
    assert said.count("  inbox not landed (refused for ") == 2
    assert f"{renamed}: line 1 (header): " in said

    # Fixed: the files land, and the report says nothing of the inbox again.
    cp850.write_text(text, encoding="utf-8")
    renamed.unlink()
    assert _run(data) == 0
    capsys.readouterr()
    page = (reports / latest_name(source.source)).read_text()
    assert "not landed" not in page.split("<nav>")[0]
    assert main(["--data-dir", data, "report", "--source", source.source, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inbox_not_landed"] == []


def test_every_report_names_an_inbox_folder_no_source_is_named_after(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files dropped into a misspelt drop folder fail the nightly run, but its report read
    as clean: every report of the data directory names the folder and what to do."""
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    source = register_source(Settings(data_dir=data), str(DEFINITION))
    shutil.copyfile(EXPORT, source.inbox_dir / "night1.csv")
    assert _run(data) == 0
    capsys.readouterr()
    misspelt = Path(data) / "inbox" / source.source[:-1]
    misspelt.mkdir()
    shutil.copyfile(EXPORT, misspelt / "night2.csv")

    assert main(["--data-dir", data, "report", "--source", source.source, "--json"]) == 0
    [unclaimed] = json.loads(capsys.readouterr().out)["inbox_unclaimed"]
    assert unclaimed["folder"] == str(misspelt)
    assert unclaimed["reason"].startswith(f"{misspelt} holds 1 file(s) but no source named ")
    assert f"did you mean {source.source}?" in unclaimed["reason"]
    page = (Path(data) / "reports" / latest_name(source.source)).read_text()
    top = page.split("<nav>")[0]
    assert "1 inbox folder(s) of" in top and "no source is named after them" in top
    assert f"did you mean {source.source}?" in top
    assert main(["--data-dir", data, "report", "--source", source.source]) == 0
    assert f"  inbox folder of no source: {misspelt} holds 1 file(s)" in capsys.readouterr().out

    shutil.move(misspelt / "night2.csv", source.inbox_dir / "night2.csv")
    assert main(["--data-dir", data, "report", "--source", source.source, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inbox_unclaimed"] == []
