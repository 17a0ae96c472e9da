"""Landing real deliveries through the nightly machinery (real Prefect, real Parquet read
back by DuckDB): raw as delivered -> landed per date -> clean -> marts, re-delivered rows
superseded, a late row reprocessing its date, manifests naming every delivery, and the
generated sample and a source side by side in one data directory."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from servicelens.ingest.definitions import SourceDefinition
from servicelens.reporting.analyst import connect_views
from servicelens.settings import Settings
from servicelens.storage.partitions import partition_dir, read_manifest, read_partition

DEFINITION = Path(__file__).parent / "definitions" / "call-centre.toml"
HEADER = "Call Id,Agent,Date,Time,Topic,Answered (Y/N),Resolved,Speed of answer in seconds,"
HEADER += "AvgTalkDuration,Satisfaction rating\r\n"
FIRST = (
    HEADER
    + "ID0001,Eli,01/01/2021,17:23:40,Technical Support,Y,Y,12,0:05:03,5\r\n"
    + "ID0002,Hal,01/01/2021,09:27:13,Payment related,Y,N,30,0:01:00,2\r\n"
    + "ID0003,Fay,02/01/2021,13:08:57,Contract related,Y,Y,79,0:00:57,3\r\n"
)
# A day later the vendor re-delivers ID0002 (rating changed) and a late call of 1 January.
SECOND = (
    HEADER
    + "ID0002,Hal,01/01/2021,09:27:13,Payment related,Y,Y,30,0:01:00,4\r\n"
    + "ID0009,Cy,01/01/2021,20:00:00,Streaming,Y,Y,5,0:02:00,1\r\n"
)
JAN1, JAN2 = date(2021, 1, 1), date(2021, 1, 2)


@pytest.mark.slow
def test_deliveries_land_per_date_and_late_rows_reprocess_their_date(
    prefect_api: None, tmp_path: Path
) -> None:
    from flows.sources import land_and_run, source_settings

    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    first, second = tmp_path / "calls-jan.csv", tmp_path / "calls-jan-again.csv"
    first.write_bytes(FIRST.encode())
    second.write_bytes(SECOND.encode())
    result = land_and_run(str(DEFINITION), [str(first)], base)
    assert [r["day"] for r in result["published"]] == ["2021-01-01", "2021-01-02"]
    source = source_settings(base, str(DEFINITION))
    sha = hashlib.sha256(first.read_bytes()).hexdigest()
    raw = base.root / "raw" / "sources" / "pwc-call-centre" / f"{sha[:12]}-calls-jan.csv"
    assert raw.read_bytes() == first.read_bytes()  # as delivered

    # Landing the same bytes again changes nothing.
    again = land_and_run(str(DEFINITION), [str(first)], base)
    assert again["landed"][0]["already_landed"] and again["published"] == []

    late = land_and_run(str(DEFINITION), [str(second)], base)
    # Only the date the late delivery touched ran again.
    assert [r["day"] for r in late["published"]] == ["2021-01-01"]
    landed = read_partition(source.landed_dir, JAN1)
    assert landed.height == 4  # every copy is landed
    manifest = read_manifest(source.landed_dir, JAN1)
    assert manifest is not None and set(manifest["deliveries"]) == {
        sha,
        hashlib.sha256(second.read_bytes()).hexdigest(),
    }
    clean = read_partition(source.clean_dir, JAN1).sort("response_id")
    assert clean.select("response_id", "csat", "resolution").rows() == [
        ("ID0001", 5, "resolved"),
        ("ID0002", 4, "resolved"),  # the re-delivery wins
        ("ID0009", 1, "resolved"),
    ]
    assert clean.get_column("source").unique().to_list() == ["pwc-call-centre"]
    quarantine = read_partition(source.quarantine_dir, JAN1)
    assert quarantine.select("record_id", "source").rows() == [("ID0002", "pwc-call-centre")]
    # Its rating changed: an update, not a copy sent again.
    assert quarantine.get_column("reasons").to_list() == [
        [
            "updated: superseded by the later version on line 2 of calls-jan-again.csv "
            "(changed: resolution, resolved_first_contact, csat)"
        ]
    ]
    clean_manifest = read_manifest(source.clean_dir, JAN1)
    assert clean_manifest is not None
    assert clean_manifest["counts"]["surveys_read"] == 4
    assert len(clean_manifest["inputs"]) == 3  # the landed file and both deliveries
    assert clean_manifest["partition"] == {"key": "survey_date", "granularity": "day"}
    assert read_manifest(source.clean_dir, JAN2) is not None
    outcome = json.loads((source.runs_dir / "survey_date=2021-01-01.json").read_text())
    assert outcome["outcome"] == "completed"

    # DuckDB's views read the source's marts (no sample data in this directory).
    con = connect_views(base.root)
    rows = con.execute(
        "SELECT source, survey_date, count(*) FROM feedback_scored GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == [("pwc-call-centre", JAN1, 3), ("pwc-call-centre", JAN2, 1)]
    assert con.execute("SELECT source, record_id FROM quarantine").fetchall() == [
        ("pwc-call-centre", "ID0002")
    ]


@pytest.mark.slow
def test_a_source_whose_audits_cannot_train_yet_still_publishes_its_marts(
    prefect_api: None, tmp_path: Path
) -> None:
    """Found by a trial: ``sources demo`` on a new source (no audits yet) landed and
    validated its export, then stopped at training with exit 2: no marts, no report. The
    partitions are published unscored and the result says why no model was trained: for
    this call-centre log (no comment, no [features]), that nothing is declared for a model
    to read, which audits alone would not change."""
    from flows.sources import land_and_run, source_settings
    from servicelens.cli.sources import _run_summary

    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    export = tmp_path / "calls-jan.csv"
    export.write_bytes(FIRST.encode())
    result = land_and_run(str(DEFINITION), [str(export)], base, train=True)
    assert result["trained"] is None
    assert result["untrained"] is not None
    assert result["untrained"].startswith("source pwc-call-centre has nothing for a model to read")
    assert [r["day"] for r in result["published"]] == ["2021-01-01", "2021-01-02"]
    source = source_settings(base, str(DEFINITION))
    marts = read_partition(source.marts_dir / "feedback_scored", JAN1)
    assert sorted(marts.get_column("response_id").to_list()) == ["ID0001", "ID0002"]
    assert marts.get_column("root_cause").null_count() == marts.height  # no model: unscored
    assert Path(result["report"]).exists()
    result["seconds"] = 1.0
    assert "no model trained: source pwc-call-centre has nothing for a model" in _run_summary(
        result, base
    )


def test_a_time_the_clocks_skip_lands_on_its_own_day_so_a_redelivery_supersedes_it(
    tmp_path: Path,
) -> None:
    """Found by a trial: a row at 01:30 on the night the clocks went forward could not be
    dated, so it landed in its delivery date's partition; each re-delivery landed it in
    another, where the newer copy never superseded it, and every one was quarantined again
    (each publishing a partition of only that row). It lands on the day it names."""
    from datetime import UTC, datetime

    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition = load_definition(str(DEFINITION))
    source = base.for_source(definition.name, str(DEFINITION))
    gap = "ID0100,Eli,29/03/2026,01:30:00,Technical Support,Y,Y,12,0:05:03,{}\r\n"
    first, second = tmp_path / "calls-1.csv", tmp_path / "calls-2.csv"
    first.write_bytes((HEADER + gap.format(2)).encode())
    second.write_bytes((HEADER + gap.format(4)).encode())
    landed_first = land_delivery(source, definition, first, datetime(2026, 4, 1, 9, tzinfo=UTC))
    landed_second = land_delivery(source, definition, second, datetime(2026, 4, 2, 9, tzinfo=UTC))
    assert list(landed_first.periods) == list(landed_second.periods) == [date(2026, 3, 29)]
    assert read_partition(source.landed_dir, date(2026, 3, 29)).height == 2


def _two_deliveries(
    tmp_path: Path, defined: Path, second_rows: str
) -> tuple[Settings, SourceDefinition, Path, Path]:
    """A call-centre source of definition ``defined`` in ``tmp_path``, its first delivery
    (:data:`FIRST`) and a second one holding ``second_rows`` under the header."""
    from servicelens.ingest.definitions import load_definition

    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition = load_definition(str(defined))
    source = base.for_source(definition.name, str(defined))
    first, second = tmp_path / "calls-1.csv", tmp_path / "calls-2.csv"
    first.write_bytes(FIRST.encode())
    second.write_bytes((HEADER + second_rows).encode())
    return source, definition, first, second


def test_a_redelivery_that_fails_its_checks_says_the_response_left_the_marts(
    tmp_path: Path,
) -> None:
    """Found by a trial: a re-delivered call log with a broken wait time took published
    responses out of the clean layer and the marts, and the good copies' reason read
    "superseded by line 2 of ...", as if the new copy were published. Nothing is lost (both
    copies are quarantined); the superseded copy's reason says the response left and why."""
    from datetime import UTC, datetime

    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import (
        SUPERSEDED_BY_A_FAILED_COPY,
        publish_clean,
        validate_landed_day,
    )

    # ID0001 re-delivered with a wait time that is no number; ID0002 with a valid change.
    source, definition, first, second = _two_deliveries(
        tmp_path,
        DEFINITION,
        "ID0001,Eli,01/01/2021,17:23:40,Technical Support,Y,Y,abc,0:05:03,5\r\n"
        "ID0002,Hal,01/01/2021,09:27:13,Payment related,Y,Y,30,0:01:00,4\r\n",
    )
    land_delivery(source, definition, first, datetime(2021, 1, 3, 9, tzinfo=UTC))
    published = validate_landed_day(source, JAN1, "p", datetime(2021, 1, 3, 10, tzinfo=UTC))
    publish_clean(source, published, {"run_id": "p"})
    land_delivery(source, definition, second, datetime(2021, 1, 4, 9, tzinfo=UTC))
    validated = validate_landed_day(source, JAN1, "t", datetime(2021, 1, 5, tzinfo=UTC))
    assert validated.clean().get_column("response_id").to_list() == ["ID0002"]
    quarantine = validated.quarantine()
    reasons = {
        (r["record_id"], Path(r["source_file"]).name.split("-", 1)[1], r["source_line"]): r[
            "reasons"
        ]
        for r in quarantine.iter_rows(named=True)
    }
    # Both re-delivered copies changed since (a wait time, a rating): updates.
    assert reasons[("ID0001", "calls-1.csv", 2)] == [
        "updated: superseded by the later version on line 2 of calls-2.csv "
        "(changed: wait_seconds)" + SUPERSEDED_BY_A_FAILED_COPY
    ]
    assert reasons[("ID0002", "calls-1.csv", 3)] == [
        "updated: superseded by the later version on line 3 of calls-2.csv "
        "(changed: resolution, resolved_first_contact, csat)"
    ]
    assert reasons[("ID0001", "calls-2.csv", 2)][0].startswith("wait_seconds: 'abc' is not")
    assert validated.counts.surveys_read == validated.counts.kept + validated.counts.quarantined
    # The run's table says it too: the quarantine alone was found only by whoever looked.
    from dataclasses import asdict

    from servicelens.cli.console import counts_detail

    assert validated.counts.withdrawn == 1
    assert counts_detail({**asdict(validated.counts), "scored": 0}) == (
        "read 4 kept 1 quarantined 3 (2 of them superseded by a later line or "
        "delivery: 2 updated) scored 0; 1 response is in no mart now: a newer "
        "delivery failed its checks (fix it and deliver it again) or is set aside by the "
        "definition, and superseded the older "
        "copies. Each row's file, line and reasons: `servicelens query quarantined_rows`"
    )

    # Found by a trial: a third delivery failing again took out nothing the marts still
    # held (the last published partition kept ID0002 only), yet the note said "1 response is
    # in no mart now". Withdrawn counts responses the published partition holds.
    publish_clean(source, validated, {"run_id": "t"})
    third = tmp_path / "calls-3.csv"
    third.write_bytes(
        (HEADER + "ID0001,Eli,01/01/2021,17:23:40,Technical Support,Y,Y,xyz,0:05:03,5\r\n").encode()
    )
    land_delivery(source, definition, third, datetime(2021, 1, 6, 9, tzinfo=UTC))
    again = validate_landed_day(source, JAN1, "u", datetime(2021, 1, 7, tzinfo=UTC))
    assert again.clean().get_column("response_id").to_list() == ["ID0002"]
    assert again.counts.withdrawn == 0
    assert "in no mart now" not in counts_detail({**asdict(again.counts), "scored": 0})


def test_a_definition_that_only_shares_a_sources_name_is_refused_once_data_is_landed(
    tmp_path: Path,
) -> None:
    """Found by a new user's trial: a copied definition that kept another source's name was
    configured in its place without a word, and the next backfill read that source's landed
    exports with it (every complaint of the month quarantined). Before anything is landed,
    and with --replace (an edited definition of the same source), it is replaced."""
    from datetime import UTC, datetime

    from servicelens.ingest.configured import configured_source, register_source
    from servicelens.ingest.definitions import DefinitionError, load_definition
    from servicelens.ingest.landing import land_delivery, landed_periods

    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    name = load_definition(str(DEFINITION)).name
    other = tmp_path / "copied.toml"
    other.write_text(f'extends = "qualtrics"\nname = "{name}"\n')
    register_source(base, str(DEFINITION))
    register_source(base, str(other))  # nothing landed yet: replaced as asked
    source = register_source(base, str(DEFINITION))
    export = tmp_path / "calls-1.csv"
    export.write_bytes(FIRST.encode())
    when = datetime(2021, 1, 3, tzinfo=UTC)
    land_delivery(source, load_definition(str(DEFINITION)), export, when)
    registered = (source.source_root / "definition.toml").read_text()
    landed = len(landed_periods(source))

    with pytest.raises(DefinitionError) as refused:
        register_source(base, str(other))
    assert str(refused.value).startswith(
        f"source {name} is already configured ({source.source_root / 'definition.toml'}) with "
        "another definition, "
        f"and {landed} day partition(s) of its exports are landed: {other} would replace"
    )
    assert "add --replace" in str(refused.value)
    assert (source.source_root / "definition.toml").read_text() == registered
    register_source(base, str(DEFINITION))  # the same definition again: nothing to refuse
    register_source(base, str(other), replace=True)
    assert configured_source(base, name).partition == "day"
    assert (source.source_root / "definition.toml").read_text() != registered


def test_sources_check_and_run_take_a_configured_name_and_name_a_swapped_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: right after `sources add`, `sources check NAME FILE` was refused
    as neither a preset nor a file; and an 8-bit export given where the definition goes
    was answered with the codec's words alone."""
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "sources", "add", str(DEFINITION)]) == 0
    name = _definition_name()
    export = tmp_path / "calls-1.csv"
    export.write_bytes(FIRST.encode())
    capsys.readouterr()
    assert main(["--data-dir", data, "sources", "check", name, str(export)]) == 0
    assert f"read with {name} (" in capsys.readouterr().out
    assert main(["--data-dir", data, "sources", "check", name + "x", str(export)]) == 2
    assert f"did you mean {name}?" in capsys.readouterr().err
    latin = tmp_path / "export.csv"
    latin.write_bytes("ID;Kommentar\n1;Gebühr\n".encode("cp1252"))
    assert main(["--data-dir", data, "sources", "check", str(latin), str(DEFINITION)]) == 2
    assert capsys.readouterr().err.startswith(
        f"servicelens: error: {latin}: line 2: not a definition: it is not UTF-8 text, so not "
        f"TOML (an export? The definition comes first: `servicelens --data-dir {data} sources "
        "check DEFINITION FILE`)"
    )
    # The same in UTF-8 (a second trial), and a file that is not there.
    assert main(["--data-dir", data, "sources", "check", str(export), str(DEFINITION)]) == 2
    assert "(an export? The definition comes first:" in capsys.readouterr().err
    missing = str(tmp_path / "calls-2.csv")
    assert main(["--data-dir", data, "sources", "run", name, missing]) == 2
    assert capsys.readouterr().err.startswith(
        f"servicelens: error: {missing}: no such file; nothing was landed. Check the path"
    )


def _definition_name() -> str:
    from servicelens.ingest.definitions import load_definition

    return load_definition(str(DEFINITION)).name


def test_the_commands_that_configure_a_source_refuse_and_replace_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sources add` and `demo --source` refuse a changed definition of a source with landed
    exports, before any Prefect work, saying to add --replace; both take --replace (the
    `demo` command had no such option, so its own advice could not be followed)."""
    from datetime import UTC, datetime

    from servicelens.cli.main import main, parse_arguments
    from servicelens.ingest.configured import register_source
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    data = tmp_path / "data"
    base = Settings(data_dir=str(data), timezone="Europe/London")
    source = register_source(base, str(DEFINITION))
    export = tmp_path / "calls-1.csv"
    export.write_bytes(FIRST.encode())
    land_delivery(
        source, load_definition(str(DEFINITION)), export, datetime(2021, 1, 3, tzinfo=UTC)
    )
    name = load_definition(str(DEFINITION)).name
    edited = tmp_path / "edited.toml"
    edited.write_text(f'extends = "{DEFINITION}"\nname = "{name}"\ntimezone = "Europe/Paris"\n')
    demo = ["--data-dir", str(data), "demo", "--source", str(edited), "--input", str(export)]
    for command in (demo, ["--data-dir", str(data), "sources", "add", str(edited)]):
        assert main(command) == 2
        said = " ".join(capsys.readouterr().err.split())
        assert "add --replace (exports are mapped as they land: to map the landed ones" in said
    assert parse_arguments([*demo, "--replace"]).replace is True
    assert main(["--data-dir", str(data), "sources", "add", str(edited), "--replace"]) == 0
    assert "Europe/Paris" in (source.source_root / "definition.toml").read_text()
    # A trial's added attribute stayed empty in the landed partitions after --replace and a
    # backfill: what replacing does to exports landed before is said, and how to remap them.
    said = " ".join(capsys.readouterr().out.split())
    assert "its exports landed before keep the columns they were mapped to" in said
    assert f"drop them again into {source.inbox_dir}" in said
    # The landed range, not placeholders; and a change no landed row sees (a QA lead's
    # trial declared audit_date_order) is not told to run every partition again.
    assert f"backfill --source {name} --start 2021-01-01 --end 2021-01-" in said
    edited.write_text(
        f'extends = "{DEFINITION}"\nname = "{name}"\ntimezone = "Europe/Paris"\n'
        'audit_date_order = "day-first"\ndescription = "QA writes dates day first"\n'
    )
    assert main(["--data-dir", str(data), "sources", "add", str(edited), "--replace"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "its rules for rows are unchanged" in said and "backfill" not in said


def test_an_id_two_rows_of_one_delivery_use_on_two_dates_is_quarantined_on_both(
    tmp_path: Path,
) -> None:
    """Found by a trial: a SurveyMonkey week with one respondent id on two days kept the copy
    whose partition ran first and quarantined the other, while ``sources check`` quarantined
    both. Landing sets both aside with the row suite's reason, whichever order the dates run
    in; and a date in the future counts as a failed check of submitted_at, not as a line the
    reader could not split."""
    from datetime import UTC, datetime

    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_day
    from servicelens.validation.expectations import REPEATED_ID

    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London")
    definition = load_definition(str(DEFINITION))
    source = base.for_source(definition.name, str(DEFINITION))
    export = tmp_path / "calls.csv"
    export.write_bytes(
        (
            HEADER
            + "ID0001,Eli,01/01/2021,17:23:40,Technical Support,Y,Y,12,0:05:03,5\r\n"
            + "ID0002,Hal,01/01/2021,09:27:13,Payment related,Y,N,30,0:01:00,2\r\n"
            + " ID0001 ,Fay,02/01/2021,13:08:57,Contract related,Y,Y,79,0:00:57,3\r\n"
            + "ID0003,Fay,02/01/2021,13:09:57,Contract related,Y,Y,79,0:00:57,3\r\n"
            + "ID0004,Cy,09/01/2021,13:09:57,Contract related,Y,Y,79,0:00:57,3\r\n"
            + "ID0005,Cy,02/01/2021,13:09:57,Contract related,Y,Y,79\r\n"
        ).encode()
    )
    land_delivery(source, definition, export, datetime(2021, 1, 3, 9, tzinfo=UTC))
    now = datetime(2021, 1, 3, 10, tzinfo=UTC)
    # The line the reader could not split (a field too few) is quarantined under the date
    # its own time gives, 2 January (rejected_record_dates), not the delivery's.
    for day, kept, line, malformed in ((JAN2, ["ID0003"], 4, 1), (JAN1, ["ID0002"], 2, 0)):
        validated = validate_landed_day(source, day, str(day), now)
        assert validated.clean().get_column("response_id").to_list() == kept
        quarantined = {
            r["source_line"]: r["reasons"] for r in validated.quarantine().iter_rows(named=True)
        }
        assert quarantined[line] == [f"response_id: 'ID0001' {REPEATED_ID}"]
        assert validated.counts.surveys_read == validated.counts.kept + validated.counts.quarantined
        assert validated.counts.malformed_lines == malformed
    # The row dated ahead (9 January) is filed under its delivery's day, the day most of
    # its rows fall on (2 January), not the day it was landed: a failed check of
    # submitted_at there, not a malformed line (that one is line 7's, dated by its fields).
    delivered = validate_landed_day(source, JAN2, "d", now)
    assert delivered.counts.malformed_lines == 1
    assert delivered.counts.failed_expectations.get("submitted_at") == 1
    assert delivered.counts.undated == 1
    assert not partition_dir(source.landed_dir, date(2021, 1, 3)).exists()


def test_a_redelivery_the_definition_sets_aside_takes_the_older_copy_out(
    tmp_path: Path,
) -> None:
    """Found by a trial: a Qualtrics re-export flagging a published response as spam
    (``Status`` 8, which the preset sets aside) quarantined the new copy and left the older
    one in the marts. The latest delivery wins whatever it says: the older copy is
    superseded, its reason says by what, and the response is counted as withdrawn."""
    from dataclasses import asdict
    from datetime import UTC, datetime

    from servicelens.cli.console import counts_detail
    from servicelens.cli.main import _counts_line
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import (
        SUPERSEDED_BY_A_SET_ASIDE_COPY,
        publish_clean,
        validate_landed_day,
    )

    defined = tmp_path / "call-centre.toml"
    defined.write_text(
        DEFINITION.read_text()
        + '\n[[exclude]]\ncolumn = "Answered (Y/N)"\nin = ["N"]\n'
        + 'reason = "the call was not answered: set aside by this definition"\n'
    )
    # ID0001 re-delivered as not answered (set aside); ID0002 as it was.
    source, definition, first, second = _two_deliveries(
        tmp_path,
        defined,
        "ID0001,Eli,01/01/2021,17:23:40,Technical Support,N,Y,12,0:05:03,5\r\n"
        + FIRST.splitlines(keepends=True)[2],
    )
    land_delivery(source, definition, first, datetime(2021, 1, 3, 9, tzinfo=UTC))
    published = validate_landed_day(source, JAN1, "p", datetime(2021, 1, 3, 10, tzinfo=UTC))
    assert sorted(published.clean().get_column("response_id")) == ["ID0001", "ID0002"]
    publish_clean(source, published, {"run_id": "p"})
    landing = land_delivery(source, definition, second, datetime(2021, 1, 4, 9, tzinfo=UTC))
    # ID0002, re-delivered as it was, is counted in the landed manifest, not stored again.
    assert landing.unchanged_copies == {JAN1: 1}
    validated = validate_landed_day(source, JAN1, "t", datetime(2021, 1, 5, tzinfo=UTC))
    assert validated.clean().get_column("response_id").to_list() == ["ID0002"]
    reasons = {
        (r["record_id"], Path(r["source_file"]).name.split("-", 1)[1], r["source_line"]): r[
            "reasons"
        ]
        for r in validated.quarantine().iter_rows(named=True)
    }
    assert reasons[("ID0001", "calls-1.csv", 2)] == [
        "duplicate delivery: superseded by line 2 of calls-2.csv" + SUPERSEDED_BY_A_SET_ASIDE_COPY
    ]
    assert "set aside by this definition" in reasons[("ID0001", "calls-2.csv", 2)][0]
    counts = validated.counts
    assert counts.surveys_read == counts.kept + counts.quarantined == 3
    assert counts.withdrawn == 1
    assert "1 response is in no mart now" in counts_detail({**asdict(counts), "scored": 0})
    # The run's summary line splits the quarantined as every summary does: the set-aside
    # row is no reject (it read "2 superseded ..., 1 rejected"), and read adds up.
    line = _counts_line({**asdict(counts), "scored": 0}, JAN1)
    assert line.startswith("2021-01-01: read 3 kept 1 quarantined 2 (1 ")
    assert ", 1 set aside by the source definition, 0 rejected)" in line.splitlines()[0]


def test_a_landing_that_did_not_finish_is_landed_again_not_under_a_changed_definition(
    tmp_path: Path,
) -> None:
    """Found by an on-call engineer's trial: a full disk stopped the landing of
    eu-night1.csv after its first partition; once space was freed, the next run said
    "landed again under the changed definition (the same bytes, landed before)", though the
    definition never changed. The state such a landing leaves is made here: the delivery's
    raw copy and its first date's partition, its second date's never written."""
    import shutil

    from servicelens.ingest.configured import register_source
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery
    from servicelens.storage.partitions import partition_dir

    source = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    definition = load_definition(str(source.definition))
    export = tmp_path / "calls-jan.csv"
    export.write_bytes(FIRST.encode())
    first = land_delivery(source, definition, str(export))
    assert sorted(first.periods) == [JAN1, JAN2]
    shutil.rmtree(partition_dir(source.landed_dir, JAN2))

    again = land_delivery(source, definition, str(export))
    assert again.landed_again and sorted(again.periods) == [JAN1, JAN2]
    assert read_partition(source.landed_dir, JAN2).height == 1
    [said] = [n for n in again.notes() if n.startswith("landed again")]
    assert said == (
        "landed again: its earlier landing did not finish (the same bytes, under the same "
        "definition); it changed the partition of 2021-01-02"
    )
