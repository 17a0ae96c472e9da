"""A source's definition changed mid-quarter (an analyst's trial: a SurveyMonkey source whose
survey added a question on day 45, mapped to resolved_first_contact, registered as v2 with
`sources add --replace`): the earlier deliveries' ids checked once and quietly when the id
rule reads what they have, the exports from before the question landed again without it
when it is marked required = false, and a backfill's dry run saying it re-publishes rows
as they were landed. Through the real pipeline: register v1, land, register v2, land."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.configured import register_source
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import IDS_CHECKED_FILE, land_delivery
from servicelens.ingest.mapping import MissingColumns
from servicelens.settings import Settings
from servicelens.stages import validate_landed_day
from servicelens.storage.partitions import scan_table

NAME = "support-monkey"
QUESTION = "Was your issue resolved on this call?"
V1 = f"""name = "{NAME}"
timezone = "Europe/London"
[columns]
response_id = "Respondent ID"
submitted_at = {{ column = "End Date", format = "%m/%d/%Y %H:%M:%S" }}
csat = "Overall satisfaction"
comment = "Comments"
[attributes]
team = "Team"
"""
#: v2: the added question, the attribute's column renamed (both names read).
V2 = V1.replace('team = "Team"', 'team = ["Team", "Agent team"]') + (
    f'[columns.resolved_first_contact]\ncolumn = "{QUESTION}"\n'
)
V2_OPTIONAL = V2 + "required = false\n"


def _export(path: Path, day: int, start: int, v2: bool = False) -> Path:
    """A day's SurveyMonkey-like export of three responses (ids ``start``..``start + 2``);
    ``v2``: with the added question and the renamed Team column."""
    header = ["Respondent ID", "End Date", "Overall satisfaction", "Comments"]
    header += ["Agent team", QUESTION] if v2 else ["Team"]
    lines = [",".join(header)]
    for i in range(3):
        row = [str(start + i), f"10/{day:02d}/2026 09:{10 + i}:00", str(1 + (start + i) % 5)]
        row += ["fine", "Billing"] + (["Yes" if i % 2 else "No"] if v2 else [])
        lines.append(",".join(row))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def _definition(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def _landed_v1(tmp_path: Path, days: int = 4) -> tuple[Settings, list[Path]]:
    """v1 registered and ``days`` daily exports (1..``days`` October) landed under it."""
    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    source = register_source(base, _definition(tmp_path / "v1.toml", V1))
    v1 = load_definition(str(source.definition))
    exports = []
    for day in range(1, days + 1):
        export = _export(tmp_path / f"2026-10-{day:02d}.csv", day, 100 * day)
        land_delivery(source, v1, export, datetime(2026, 10, day, 20, tzinfo=UTC))
        exports.append(export)
    return source, exports


def _replaced(base: Settings, tmp_path: Path, text: str) -> Settings:
    return register_source(base, _definition(tmp_path / "v2.toml", text), replace=True)


def _rekey_notes(notes: list[str]) -> list[str]:
    return [n for n in notes if "earlier deliver" in n]


def test_earlier_deliveries_lacking_a_column_the_id_rule_does_not_read_are_checked_quietly(
    tmp_path: Path,
) -> None:
    """The trial's 184 notes: each v2 delivery named every v1 raw copy as unreadable under
    the current definition (it lacks the new question), though the id rule never changed.
    The ids are checked under the id rule alone: found unchanged, nothing said, and
    recorded, so the next delivery reads nothing again."""
    source, _ = _landed_v1(tmp_path)
    source = _replaced(source, tmp_path, V2)
    v2 = load_definition(str(source.definition))
    for day in (5, 6):
        export = _export(tmp_path / f"2026-10-{day:02d}.csv", day, 100 * day, v2=True)
        landing = land_delivery(source, v2, export, datetime(2026, 10, day, 20, tzinfo=UTC))
        assert _rekey_notes(landing.notes()) == [], landing.notes()
    recorded = json.loads((source.landed_dir / IDS_CHECKED_FILE).read_text())
    assert recorded["rules"] == v2.fingerprint and recorded["unreadable"] == {}
    # The ids as landed: 18 rows, 18 ids, none landed again.
    ids = scan_table(source.landed_dir).collect().get_column("response_id")
    assert ids.len() == 18 and ids.n_unique() == 18


def test_earlier_deliveries_lacking_the_id_rules_column_are_told_once_for_the_run(
    tmp_path: Path,
) -> None:
    """Where the id rule's own column is missing from the earlier raw copies, one note names
    how many and a few of them (not one per earlier delivery), and the next landing under
    the same rules says nothing more while nothing changed."""
    source, _ = _landed_v1(tmp_path)
    renamed = V2.replace('response_id = "Respondent ID"', 'response_id = "Response ID"')
    source = _replaced(source, tmp_path, renamed)
    v2 = load_definition(str(source.definition))
    said = []
    for day in (5, 6, 7):
        export = _export(tmp_path / f"2026-10-{day:02d}.csv", day, 100 * day, v2=True)
        text = export.read_text().replace("Respondent ID", "Response ID", 1)
        export.write_text(text, encoding="utf-8")
        landing = land_delivery(source, v2, export, datetime(2026, 10, day, 20, tzinfo=UTC))
        said.append(_rekey_notes(landing.notes()))
    assert len(said[0]) == 1, said[0]
    note = said[0][0]
    assert note.startswith("4 earlier deliveries (2026-10-01.csv, 2026-10-02.csv, ")
    assert "1 more" in note and "'Response ID'" in note and len(note) < 1000
    assert said[1:] == [[], []]  # said once: recorded, unchanged since
    recorded = json.loads((source.landed_dir / IDS_CHECKED_FILE).read_text())
    assert len(recorded["unreadable"]) == 4


def test_a_column_marked_required_false_lands_exports_from_before_it_without_it(
    tmp_path: Path,
) -> None:
    """The README's way to re-map old exports (drop them again) refused every v1 export for
    lacking the added question. Marked required = false, it is not asked in them: null,
    said once per delivery, every row kept; not marked, the export is refused as before."""
    source, exports = _landed_v1(tmp_path, days=2)
    refusing = load_definition(_definition(tmp_path / "v2-required.toml", V2))
    with pytest.raises(MissingColumns, match="Was your issue resolved on this call"):
        land_delivery(source, refusing, exports[0], datetime(2026, 10, 9, tzinfo=UTC))
    optional = V2_OPTIONAL + '[attributes.callback]\ncolumn = "Callback"\nrequired = false\n'
    source = _replaced(source, tmp_path, optional)
    v2 = load_definition(str(source.definition))
    landing = land_delivery(source, v2, exports[0], datetime(2026, 10, 9, tzinfo=UTC))
    assert landing.landed_again and landing.rows == 3
    told = [n for n in landing.notes() if "required = false" in n]
    assert len(told) == 1 and QUESTION in told[0] and "'Callback'" in told[0], landing.notes()
    landed = scan_table(source.landed_dir, [date(2026, 10, 1)]).collect()
    assert landed.height == 3
    assert landed.get_column("resolved_first_contact").null_count() == 3
    attributes = [json.loads(a) for a in landed.get_column("attributes")]
    assert attributes == [{"team": "Billing", "callback": None}] * 3
    validated = validate_landed_day(source, date(2026, 10, 1), "r1", datetime.now(UTC))
    assert validated.clean().height == 3 and validated.quarantine().height == 0
    # A v2 export, with the question, reads it.
    export = _export(tmp_path / "2026-10-03.csv", 3, 300, v2=True)
    landing = land_delivery(source, v2, export, datetime(2026, 10, 9, tzinfo=UTC))
    told = [n for n in landing.notes() if "required = false" in n]
    assert len(told) == 1 and QUESTION not in told[0] and "'Callback'" in told[0]
    read = scan_table(source.landed_dir, [date(2026, 10, 3)]).collect()
    assert read.get_column("resolved_first_contact").drop_nulls().len() == 3


def test_replace_says_to_mark_an_added_column_optional_before_dropping_exports_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sources add --replace` told to drop the old exports again, which the added question
    then refused: it says to mark the column required = false, with the line to write, and
    to list a renamed column's old name beside the new."""
    from servicelens.cli.main import main

    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Europe/London")
    source, _ = _landed_v1(tmp_path, days=1)
    added = V1.replace('team = "Team"', 'team = "Agent team"') + (
        f'[columns.resolved_first_contact]\ncolumn = "{QUESTION}"\n'
    )
    v2 = _definition(tmp_path / "v2.toml", added)
    assert main(["--data-dir", str(source.root), "sources", "add", v2, "--replace"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert f'resolved_first_contact = {{ column = "{QUESTION}", required = false }}' in said, said
    assert '[attributes] team = ["Team", "Agent team"]' in said
    # Once written, nothing more to say of it.
    v2 = _definition(tmp_path / "v2.toml", V2_OPTIONAL)
    assert main(["--data-dir", str(source.root), "sources", "add", v2, "--replace"]) == 0
    assert "required = false" not in capsys.readouterr().out


def test_a_backfill_dry_run_says_dates_hold_rows_landed_under_an_earlier_definition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial's dry run listed 90 dates "completed, rerun=all" after --replace, and the
    analyst took the backfill to apply v2: it says how many dates hold rows landed under
    an earlier definition, that a backfill re-publishes them as landed, and how to land
    them again."""
    from servicelens.cli.main import main

    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Europe/London")
    source, exports = _landed_v1(tmp_path, days=3)
    source = _replaced(source, tmp_path, V2_OPTIONAL)
    backfill = ["--data-dir", str(source.root), "backfill", "--source", NAME]
    backfill += ["--start", "2026-10-01", "--end", "2026-10-31", "--rerun", "all", "--dry-run"]
    assert main(backfill) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "3 of the 3 date(s) of source 'support-monkey' in the range" in said, said
    assert "a backfill re-publishes them as they were landed" in said
    assert f"back into {source.inbox_dir}" in said
    # One landed again under v2: two dates left.
    v2 = load_definition(str(source.definition))
    land_delivery(source, v2, exports[1], datetime(2026, 10, 9, tzinfo=UTC))
    assert main(backfill) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "2 of the 3 date(s)" in said and "(2026-10-01..2026-10-03)" in said
    frame = scan_table(source.landed_dir, [date(2026, 10, 2)]).collect()
    assert frame.filter(pl.col("resolved_first_contact").is_not_null()).is_empty()
