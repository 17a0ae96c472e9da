"""Deliveries cut off at their end (a copy in progress, a download interrupted) through a
real inbox and ``servicelens run``: the cut record is said to be cut off, never replaces a
complete copy landed before, and the complete file delivered again wins.

Found by an operations lead's trial: a French client's re-delivery cut off mid-comment
(``...;0,00;Le si``, no final line end) replaced FR-0012's complete copy in the marts, and
the complete original, sent again, was "already landed (the same bytes); nothing changed"."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from servicelens.ingest.configured import register_source
from servicelens.settings import Settings
from tests.shared_builds import built_once, run_folder

if TYPE_CHECKING:
    from servicelens.ingest.definitions import SourceDefinition

CALLS_DEFINITION = """\
name = "dublin-calls"
timezone = "Europe/Dublin"
pseudonymise_agents = true

[columns]
response_id = "Call Id"
submitted_at = { columns = ["Date", "Time"], format = "%d/%m/%Y %H:%M:%S" }
channel = { value = "phone" }
agent_id = "Agent"
queue = "Topic"
csat = "Satisfaction rating"
"""
CALLS_HEADER = "Call Id,Agent,Date,Time,Topic,Satisfaction rating\r\n"


def _calls(n: int) -> str:
    """A day-first call log of ``n`` calls, PC0001..., CRLF line ends (Excel's)."""
    return CALLS_HEADER + "".join(
        f"PC{i:04d},Eimear,{i + 1:02d}/11/2026,13:{i:02d}:00,Admin Support,{1 + i % 5}\r\n"
        for i in range(1, n + 1)
    )


@pytest.fixture
def inbox_run(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, object]:
    """The data directory, and ``deliver(source, name, data)``: put ``data`` in the source's
    inbox as ``name`` and run ``servicelens run`` (exit 0 asserted)."""
    from servicelens.cli.main import main

    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Europe/Dublin")
    monkeypatch.setenv("SERVICELENS_INBOX_SETTLE_SECONDS", "0")
    data = tmp_path / "data"

    def deliver(source: str, name: str, content: bytes) -> None:
        (data / "inbox" / source / name).write_bytes(content)
        assert main(["--data-dir", str(data), "run"]) == 0

    return data, deliver


def _register(data: Path, tmp_path: Path, name: str, text: str) -> None:
    definition = tmp_path / f"{name}.toml"
    definition.write_text(text, encoding="utf-8")
    register_source(Settings(data_dir=str(data)), str(definition))


def _registered_and_delivered(
    tmp_path_factory: pytest.TempPathFactory,
    data: Path,
    tmp_path: Path,
    name: str,
    text: str,
    delivery: tuple[str, bytes],
) -> None:
    """``data`` as :func:`_register` (the definition ``text`` registered from
    ``tmp_path/NAME.toml``) and ``deliver(name, *delivery)`` of :func:`inbox_run` leave it.

    Several tests began with the same deterministic steps (the first delivery landed and
    run by Prefect's real engine); the first of the run to ask builds them
    (:func:`tests.shared_builds.built_once`, keyed by the source and the delivery) and each
    test copies the data directory before it writes. The copy is a moved data directory,
    read as the one the run wrote (inputs are matched by folder and name); the file its
    source was registered from is the test's own ``NAME.toml``, as if the test had
    registered it. Built under the environment ``inbox_run`` sets (its timezone)."""
    import hashlib

    from servicelens.cli.main import main
    from servicelens.ingest.configured import REGISTERED_FROM_FILE

    file, content = delivery
    key = hashlib.sha256(text.encode() + file.encode() + content).hexdigest()[:12]

    def build(folder: Path) -> None:
        _register(folder / "data", folder, name, text)
        (folder / "data" / "inbox" / name / file).write_bytes(content)
        assert main(["--data-dir", str(folder / "data"), "run"]) == 0

    built = built_once(run_folder(tmp_path_factory), f"delivered-{name}-{key}", build)
    shutil.copytree(built / "data", data)
    definition = tmp_path / f"{name}.toml"
    definition.write_text(text, encoding="utf-8")
    registered_from = data / "sources" / name / REGISTERED_FROM_FILE
    assert registered_from.read_text() == str((built / f"{name}.toml").resolve())
    registered_from.write_text(str(definition.resolve()))


def _cut_call_log(tmp_path_factory: pytest.TempPathFactory, data: Path, tmp_path: Path) -> bytes:
    """The call log of twelve calls (:func:`_calls`), its copy cut off inside the last
    line delivered as calls.csv and run (:func:`_registered_and_delivered`): the whole log."""
    whole = _calls(12).encode()
    cut = whole[: whole.index(b"PC0012") + 18]
    _registered_and_delivered(
        tmp_path_factory, data, tmp_path, "dublin-calls", CALLS_DEFINITION, ("calls.csv", cut)
    )
    return whole


def _quarantine(data: Path, source: str) -> list[tuple[object, ...]]:
    files = str(data / "sources" / source / "quarantine" / "*" / "*.parquet")
    return duckdb.sql(
        "SELECT source_line, record_id, superseded, reasons, raw_record FROM read_parquet(?, "
        "hive_partitioning = true, union_by_name = true) WHERE NOT superseded ORDER BY ALL",
        params=[files],
    ).fetchall()


def test_a_call_log_copied_in_part_says_it_looks_cut_off(
    inbox_run: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    data, _ = inbox_run
    _cut_call_log(tmp_path_factory, data, tmp_path)
    [(line, _, _, reasons, _)] = _quarantine(data, "dublin-calls")
    assert line == 13
    assert reasons == [
        "malformed line: 3 fields where the header has 6 (the file looks cut off at line 13: "
        "its last line has no line end, as its other lines have, and fewer fields than the "
        "header; ask for the complete file, or wait for it to be copied whole and deliver it "
        "again)"
    ]


def test_a_call_log_copied_in_part_masks_only_the_agent_of_its_last_line(
    inbox_run: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The cut line's fields are the header's first ones: the Call Id before the agent's
    column is left as it is (a trial's read ``[AGENT],[AGENT],01/1``)."""
    data, _ = inbox_run
    _cut_call_log(tmp_path_factory, data, tmp_path)
    [(_, _, _, _, raw_record)] = _quarantine(data, "dublin-calls")
    assert raw_record == "PC0012,[AGENT],13/1"


def test_a_call_log_copied_in_part_names_the_call_of_its_last_line(
    inbox_run: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The cut line's leading fields are whole: its Call Id, followed by a delimiter, is
    the record's id; one cut inside the id is none."""
    data, deliver = inbox_run
    whole = _cut_call_log(tmp_path_factory, data, tmp_path)
    [(line, record_id, _, _, _)] = _quarantine(data, "dublin-calls")
    assert (line, record_id) == (13, "PC0012")
    deliver("dublin-calls", "calls-b.csv", whole[: whole.index(b"PC0012") + 4])  # type: ignore[operator]
    assert [
        (line, record_id)
        for line, record_id, _, _, raw in _quarantine(data, "dublin-calls")
        if raw == "PC00"
    ] == [(13, None)]


def test_the_complete_call_log_delivered_after_supersedes_the_cut_line(
    inbox_run: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The call the cut line held is kept from the complete copy: the fragment is an
    earlier copy a later delivery replaced, not a reject (a trial's counted it once kept
    and once rejected)."""
    from servicelens.reporting.analyst import connect_views

    data, deliver = inbox_run
    whole = _cut_call_log(tmp_path_factory, data, tmp_path)
    deliver("dublin-calls", "calls-full.csv", whole)  # type: ignore[operator]
    assert "PC0012" in _comments(data, "dublin-calls")
    assert _quarantine(data, "dublin-calls") == []
    files = str(data / "sources" / "dublin-calls" / "quarantine" / "*" / "*.parquet")
    [(record_id, reasons)] = duckdb.sql(
        "SELECT record_id, reasons FROM read_parquet(?, hive_partitioning = true, "
        "union_by_name = true) WHERE superseded AND source_line = 13 AND source_file LIKE "
        "'%-calls.csv'",
        params=[files],
    ).fetchall()
    assert record_id == "PC0012"
    assert reasons[0].startswith("duplicate delivery: superseded by line 13 of calls-full.csv")
    assert reasons[1].startswith("malformed line: 3 fields where the header has 6")
    rejected = connect_views(data).execute(
        "SELECT sum(rows_rejected) FROM processed_dates WHERE source = 'dublin-calls'"
    )
    assert rejected.fetchone() == (0,)


PARIS_DEFINITION = """\
name = "paris-client"
timezone = "Europe/Paris"

[read]
delimiter = "auto"
decimal_comma = true

[columns]
response_id = "N° réponse"
submitted_at = { column = "Date de réception", format = "%d/%m/%Y %H:%M" }
channel = { value = "web" }
csat = "Satisfaction"
comment = "Commentaire"
"""
#: A French client's export as Excel fr-FR saves it: cp1252, semicolons, CRLF.
AVIS = (
    "N° réponse;Date de réception;Satisfaction;Commentaire\r\n"
    "FR-0010;29/10/2026 11:11;4;Bien aussi\r\n"
    "FR-0011;30/10/2026 08:00;1;Frais de résiliation non prévus au contrat\r\n"
    "FR-0012;31/10/2026 18:20;2;Le site ne marche pas\r\n"
).encode("cp1252")


def _comments(data: Path, source: str) -> dict[str, str]:
    files = str(data / "sources" / source / "clean" / "responses" / "*" / "*.parquet")
    return dict(
        duckdb.sql(
            "SELECT response_id, comment FROM read_parquet(?, hive_partitioning = true)",
            params=[files],
        ).fetchall()
    )


def test_a_redelivery_cut_off_mid_comment_does_not_replace_the_complete_copy(
    inbox_run: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    data, deliver = inbox_run
    delivery = ("avis-octobre.csv", AVIS)
    _registered_and_delivered(
        tmp_path_factory, data, tmp_path, "paris-client", PARIS_DEFINITION, delivery
    )
    cut = AVIS[: AVIS.index(b"Le si") + 5]
    deliver("paris-client", "avis-octobre.csv", cut)  # type: ignore[operator]
    assert _comments(data, "paris-client")["FR-0012"] == "Le site ne marche pas"
    [(line, record_id, _, reasons, _)] = _quarantine(data, "paris-client")
    assert (line, record_id) == (4, "FR-0012")
    [reason] = reasons
    assert re.fullmatch(
        r"malformed line: the file looks cut off at line 4: its last line has no line end, as "
        r"its other lines have, and its values stop short of the copy of FR-0012 landed before "
        r"\(line 4 of [0-9a-f]{12}-avis-octobre\.csv\), which stays in force; ask for the "
        r"complete export",
        reason,
    )


def test_the_original_sent_again_after_a_later_delivery_wins_again(
    inbox_run: tuple[Path, object],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bytes landed before, no longer in force for some responses (a later delivery
    replaced them), sent again: the sender means them, so they land again and win."""
    data, deliver = inbox_run
    delivery = ("avis-octobre.csv", AVIS)
    _registered_and_delivered(
        tmp_path_factory, data, tmp_path, "paris-client", PARIS_DEFINITION, delivery
    )
    edited = AVIS.replace(b"Le site ne marche pas", b"Le site marche")
    deliver("paris-client", "avis-octobre.csv", edited)  # type: ignore[operator]
    assert _comments(data, "paris-client")["FR-0012"] == "Le site marche"
    capsys.readouterr()
    deliver("paris-client", "avis-octobre.csv", AVIS)  # type: ignore[operator]
    assert _comments(data, "paris-client")["FR-0012"] == "Le site ne marche pas"
    # Said as what happened: the definition did not change.
    said = capsys.readouterr().out
    assert "sent again after a later delivery replaced some of their responses" in said
    assert "changed definition" not in said
    # The run names the newer delivery whose copies it superseded (the same name, sent
    # later: its raw copy tells them apart).
    assert re.search(
        r"they supersede 1 response of the newer delivery avis-octobre\.csv \(raw copy "
        r"\S+/[0-9a-f]{12}-avis-octobre\.csv\)",
        " ".join(said.split()),
    ), said


def _paris_by_hand(tmp_path: Path) -> tuple[SourceDefinition, Settings, Path]:
    """The paris-client definition, its source's settings (a data directory of its own) and
    an empty folder for the files sent, for landing deliveries by hand (no inbox, no run)."""
    from servicelens.ingest.definitions import load_definition

    definition_file = tmp_path / "paris-client.toml"
    definition_file.write_text(PARIS_DEFINITION, encoding="utf-8")
    definition = load_definition(str(definition_file))
    source = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Paris").for_source(
        definition.name, str(definition_file)
    )
    sent = tmp_path / "sent"
    sent.mkdir()
    return definition, source, sent


def test_an_old_file_sent_again_names_the_newer_delivery_it_overrides(tmp_path: Path) -> None:
    """Supersession is by delivery order: the original sent again after its correction wins
    again. The landing says which newer delivery's copies it superseded, and how many, so an
    operator notices a correction overridden; the correction sent again wins back."""
    from datetime import UTC, datetime

    from servicelens.ingest.landing import Landing, land_delivery

    definition, source, sent = _paris_by_hand(tmp_path)
    original, corrected = sent / "avis-octobre.csv", sent / "avis-octobre-corrige.csv"
    original.write_bytes(AVIS)
    corrected.write_bytes(AVIS.replace(b"Le site ne marche pas", b"Le site marche"))

    def land(path: Path, day: int) -> Landing:
        return land_delivery(source, definition, path, datetime(2026, 11, day, tzinfo=UTC))

    land(original, 1)
    fix = land(corrected, 2)
    again = land(original, 3)
    raw_fix = fix.delivered_as
    assert again.sent_again
    # One response of three was corrected: the other two copies are the same in both.
    assert again.superseded_newer == {raw_fix: 1}
    [note] = again.notes()
    assert note.startswith(
        "landed again: the same bytes, landed before, sent again after a later delivery "
        "replaced some of their responses, whose copies are in force again: they supersede 1 "
        f"response of the newer delivery avis-octobre-corrige.csv (raw copy {raw_fix}). If "
        "that delivery was a correction, its copies are no longer in force: drop its raw copy "
        "into the inbox again to put them back; it changed the partition"
    ), note
    # The correction sent again (its raw copy, as the note says) wins back, naming the original.
    back = land(Path(raw_fix), 4)
    assert back.superseded_newer == {again.delivered_as: 1}


def test_an_old_file_sent_again_after_a_newer_copy_of_the_same_rows_is_already_landed(
    tmp_path: Path,
) -> None:
    """A later delivery whose rows are the same as the old file's (other bytes: saved again
    with other line ends) replaced nothing a person could see: the old file sent again after
    it is already landed, not said to supersede it."""
    from datetime import UTC, datetime

    from servicelens.ingest.landing import land_delivery

    definition, source, sent = _paris_by_hand(tmp_path)
    original, resaved = sent / "avis-octobre.csv", sent / "avis-octobre-lf.csv"
    original.write_bytes(AVIS)
    resaved.write_bytes(AVIS.replace(b"\r\n", b"\n"))
    land_delivery(source, definition, original, datetime(2026, 11, 1, tzinfo=UTC))
    assert not land_delivery(
        source, definition, resaved, datetime(2026, 11, 2, tzinfo=UTC)
    ).sent_again
    again = land_delivery(source, definition, original, datetime(2026, 11, 3, tzinfo=UTC))
    assert again.already_landed and not again.sent_again and again.superseded_newer == {}


def test_a_call_log_copied_in_part_is_told_in_the_run_notes_as_truncated(
    tmp_path: Path,
) -> None:
    """The run's notes (what the nightly's user reads) said of the cut line only that it
    "could not be read as a record (malformed)", as they did of a Zendesk page cut off
    (trial 99): they say the file looks truncated, what was landed, and what to do."""
    from datetime import UTC, datetime

    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    definition_file = tmp_path / "dublin-calls.toml"
    definition_file.write_text(CALLS_DEFINITION, encoding="utf-8")
    definition = load_definition(str(definition_file))
    source = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Dublin").for_source(
        definition.name, str(definition_file)
    )
    whole = _calls(12).encode()
    cut = tmp_path / "calls.csv"
    cut.write_bytes(whole[: whole.index(b"PC0012") + 18])
    landing = land_delivery(source, definition, cut, datetime(2026, 12, 6, 9, tzinfo=UTC))
    assert landing.notes() == [
        "looks truncated: the file ends inside the record on line 13 (response PC0012), cut "
        "off there (a download interrupted, or a copy still in progress); the 11 records read "
        "whole before it are landed, and the cut one is quarantined under its delivery's "
        "day, 2026-11-02 (the day most of its dated rows fall on). Download the file again "
        "and drop it in the inbox: "
        "the complete copy supersedes it"
    ]
