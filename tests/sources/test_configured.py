"""Sources configured in a data directory, through the real nightly flow and backfill (real
Prefect, real Parquet read back by DuckDB): field exports dropped in each source's inbox are
landed by the nightly run (raw copies immutable and checksummed, the inbox emptied), every
partition they touch runs, a re-delivery supersedes and a late row reprocesses only its
date, ``backfill --source`` reruns a source's partitions with its granularity (months for
CFPB), and the weekly marts are built per source."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.configured import (
    backfill_dates,
    configured_names,
    configured_source,
    pending_deliveries,
    pick_up_deliveries,
    register_source,
)
from servicelens.ingest.definitions import DefinitionError
from servicelens.reporting.analyst import connect_views
from servicelens.settings import Settings
from servicelens.storage.partitions import read_manifest, read_partition, scan_table
from tests.flows.conftest import flow_runs_named

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
CALLS = FIELD / "10-call-centre-dayfirst-excel" / "sample.csv"
CFPB = FIELD / "08-cfpb-official-download" / "sample.csv"
DEFINITION = Path(__file__).parent / "definitions" / "call-centre.toml"
CALL_DATES = [
    date(2021, 1, 1),
    date(2021, 1, 2),
    date(2021, 1, 13),
    date(2021, 2, 1),
    date(2021, 3, 4),
    date(2021, 3, 12),
    date(2021, 3, 31),
]
CFPB_MONTHS = [date(2023, 6, 1), date(2023, 7, 1), date(2023, 8, 1)]
#: The nightly run's date: after every row of both field samples.
NIGHT = date(2023, 9, 1)

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _drop(settings: Settings, source: Path, name: str, text: str | None = None) -> Path:
    """A vendor drops a file into the inbox."""
    target = settings.inbox_dir / name
    if text is None:
        shutil.copyfile(source, target)
    else:
        target.write_text(text, encoding="utf-8")
    return target


def _week_source(tmp_path: Path) -> tuple[str, Settings, Path]:
    """A data directory (``tmp_path/data``) with the source ``week`` configured: its
    definition reads ``ID,At,Score`` (``At`` as ``%Y-%m-%d %H:%M``)."""
    definition = tmp_path / "week.toml"
    definition.write_text(
        'name = "week"\n[columns]\nresponse_id = "ID"\n'
        'submitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
        'channel = { value = "phone" }\ncsat = "Score"\n'
    )
    data = str(tmp_path / "data")
    return data, register_source(Settings(data_dir=data), str(definition)), definition


def test_a_sources_audit_date_order_is_declared_once_in_its_definition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a QA lead's trial: how QA's slashed audit dates read was an environment
    variable, so `train` (run with it) and `review-queue` and `report` (without it) read
    the same audits two ways. A source's definition declares it; every command that
    addresses the source gets it, over the variable; the fingerprint is unchanged (no
    landed row changes)."""
    from servicelens.ingest.definitions import load_definition

    base = Settings(data_dir=str(tmp_path / "data"))
    plain = tmp_path / "plain.toml"
    plain.write_text(DEFINITION.read_text(encoding="utf-8"), encoding="utf-8")
    declared = tmp_path / "calls.toml"
    declared.write_text(
        'audit_date_order = "Day-First"\n' + DEFINITION.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    assert load_definition(str(declared)).fingerprint == load_definition(str(plain)).fingerprint
    register_source(base, str(declared))
    register_source(base, "cfpb")
    monkeypatch.setenv("SERVICELENS_AUDIT_DATE_ORDER", "month-first")
    from_env = Settings.from_env(data_dir=str(tmp_path / "data"))
    assert from_env.audit_date_order == "month-first"
    assert configured_source(from_env, "pwc-call-centre").audit_date_order == "day-first"
    # A source that declares none keeps the variable's.
    assert configured_source(from_env, "cfpb").audit_date_order == "month-first"
    declared.write_text(
        'audit_date_order = "dd/mm"\n' + DEFINITION.read_text(encoding="utf-8"), encoding="utf-8"
    )
    with pytest.raises(DefinitionError, match="audit_date_order = 'dd/mm'; use 'day-first' or"):
        load_definition(str(declared))


def test_first_audits_are_asked_with_comments_only_of_a_source_that_has_them(
    tmp_path: Path,
) -> None:
    """Found by a QA lead's trial: the review queue of a call log (no comment column) asked
    for first audits "with comments"."""
    from servicelens.reporting.analyst import _has_comments

    base = Settings(data_dir=str(tmp_path / "data"))
    assert not _has_comments(register_source(base, str(DEFINITION)))
    assert _has_comments(register_source(base, "cfpb")) and _has_comments(base)


def test_the_first_audits_advice_reads_as_a_sentence() -> None:
    """Found by a QA lead's trial: the review queue of a source without a model asked QA to
    "audit at least 3 audits of each root cause"; the minimum is train's own words."""
    from models.train import MIN_AUDITS_PER_ROOT_CAUSE, audits_needed_text
    from servicelens.reporting.analyst import first_audits_advice

    train = "servicelens train --source calls"
    assert first_audits_advice(train, with_comments=False) == (
        f"training needs {audits_needed_text()}; audit them, then `{train}`"
    )
    assert first_audits_advice(train, with_comments=True).startswith(
        f"training needs, of responses with a comment, at least {MIN_AUDITS_PER_ROOT_CAUSE} "
        "audits of each root cause (perceived, policy_failure)"
    )
    assert "audit at least" not in first_audits_advice(train, with_comments=True)


def test_registering_copies_the_definition_and_makes_an_inbox(tmp_path: Path) -> None:
    base = Settings(data_dir=str(tmp_path / "data"))
    calls = register_source(base, str(DEFINITION))
    cfpb = register_source(base, "cfpb")
    assert configured_names(base) == ["cfpb", "pwc-call-centre"]
    registered = base.root / "sources" / "pwc-call-centre" / "definition.toml"
    assert registered.read_text() == DEFINITION.read_text() and calls.definition == str(registered)
    assert calls.inbox_dir == base.root / "inbox" / "pwc-call-centre" and calls.inbox_dir.is_dir()
    # The definitions decide how agent ids are shown and how partitions are cut.
    assert (calls.partition, calls.reveal_agent_ids) == ("day", False)
    assert (cfpb.partition, cfpb.reveal_agent_ids) == ("month", False)
    # Files still being written are left in the inbox for the next run.
    _drop(calls, CALLS, ".calls.csv.partial", "x")
    _drop(calls, CALLS, "calls.csv.tmp", "x")
    _drop(calls, CALLS, "calls.csv")
    assert [p.name for p in pending_deliveries(calls)] == ["calls.csv"]
    with pytest.raises(DefinitionError, match=r"not configured.*cfpb, pwc-call-centre"):
        backfill_dates(base, date(2021, 1, 1), date(2021, 1, 2), "qualtrics")


def test_an_inbox_file_the_definition_does_not_fit_stays_saying_what_to_change(
    tmp_path: Path,
) -> None:
    """A workbook dropped into a CSV source's inbox: the error says it is a workbook and that
    the run reads the registered copy of the definition, so editing one's own file is not
    enough; a header without rows lands nothing and stays in the inbox, saying so (a copy
    paused after its header, or a feed's day without responses); a zipped CSV lands as the
    CSV inside."""
    import zipfile

    import xlsxwriter

    calls = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(DEFINITION)
    )
    book = xlsxwriter.Workbook(str(calls.inbox_dir / "calls.xlsx"))
    book.add_worksheet("Sheet1").write_row(0, 0, ["ID", "Agent"])
    book.close()
    with zipfile.ZipFile(calls.inbox_dir / "calls.csv.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.write(CALLS, "calls.csv")
    # A header without rows left the inbox and changed nothing, with nothing said; then it
    # left saying so, and a trial's copy paused after its header lost its rest: it stays
    # while cut inside its header (no line end; a whole one is a day of 0 responses).
    header = CALLS.read_bytes().splitlines()[0]
    (calls.inbox_dir / "empty-day.csv").write_bytes(header)
    picked = {Path(item.file).name: item for item in pick_up_deliveries(calls)}
    empty = picked["empty-day.csv"]
    assert empty.error == "" and empty.landing is None
    assert (
        "empty-day.csv: the file has no data rows (a header only, or only empty rows); nothing "
        "landed. If rows were expected, ask the sender for the complete export"
    ) in empty.note
    assert "survey" not in empty.note  # the source's rows are calls
    error = picked["calls.xlsx"].error
    assert "this is not a CSV text file but an Excel .xlsx workbook" in error
    registered = tmp_path / "data" / "sources" / calls.source / "definition.toml"
    assert f"this source reads its registered copy, {registered}" in error
    # Found by a new-user trial: told to register again with --replace though the
    # definition file had not changed since it was registered.
    assert f"{registered}, the same as {DEFINITION.resolve()})" in error
    assert "--replace" not in error
    assert empty.note.endswith(
        "; it stays in the inbox and is landed once it holds rows (delete it if none are to come)"
    )
    # The workbook stays to be fixed, and the header-only file until it holds rows.
    assert sorted(p.name for p in pending_deliveries(calls)) == ["calls.xlsx", "empty-day.csv"]
    zipped = picked["calls.csv.zip"]
    assert zipped.error == "" and zipped.landing is not None and zipped.landing.rows > 0
    # Found by a trial: the error named the inbox file and then the raw copy it read
    # ("inbox/x: raw/...-x: line 1"), and each refused file's copy stayed in the raw zone.
    # It names the file as delivered, once; the raw zone keeps the landed only.
    inbox_file = calls.inbox_dir / "calls.xlsx"
    assert error.startswith(f"{inbox_file}: line 1: this is not a CSV text file"), error
    assert str(calls.deliveries_dir) not in error
    raw = sorted(p.name.split("-", 1)[1] for p in calls.deliveries_dir.iterdir())
    assert raw == ["calls.csv.zip"]


def test_a_definition_changed_since_it_was_registered_is_told_to_register_again(
    tmp_path: Path,
) -> None:
    """The run reads the registered copy: a refusal that advises changing the definition
    says to register the file again only once it changed since it was registered, naming
    it (a trial was told to, with nothing changed)."""
    import xlsxwriter

    own = tmp_path / "calls.toml"
    own.write_text(DEFINITION.read_text(encoding="utf-8"), encoding="utf-8")
    calls = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(own)
    )
    book = xlsxwriter.Workbook(str(calls.inbox_dir / "calls.xlsx"))
    book.add_worksheet("Sheet1").write_row(0, 0, ["ID", "Agent"])
    book.close()
    [unchanged] = pick_up_deliveries(calls)
    assert "--replace" not in unchanged.error and f"the same as {own.resolve()})" in unchanged.error
    own.write_text(own.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    [changed] = pick_up_deliveries(calls)
    assert changed.error.endswith(
        f"; {own.resolve()} has changed since it was registered: register it again with "
        f"`servicelens sources add {own.resolve()} --replace`)"
    ), changed.error


def test_an_export_dropped_in_another_sources_inbox_is_told_where_it_belongs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an analytics engineer's trial: a call log dropped in the inbox of a German
    feedback source was told to change that source's definition, with 'Kanal' listed twice
    (its [[exclude]] rule reads the column its channel maps). The error now says which
    configured source reads every column of the file and where its inbox is; the file stays
    where it was dropped, and nothing lands."""
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    calls = register_source(base, str(DEFINITION))
    german = tmp_path / "stadtwerke.toml"
    german.write_text(
        (DEFINITION.parent / "european-feedback.toml").read_text(encoding="utf-8")
        + '\n[[exclude]]\ncolumn = "Kanal"\nin = ["Filiale"]\nreason = "surveyed apart"\n',
        encoding="utf-8",
    )
    feedback = register_source(base, str(german))
    dropped = _drop(feedback, CALLS, "calls.csv")
    [picked] = pick_up_deliveries(feedback)
    assert picked.landing is None
    assert picked.error.startswith(
        f"{dropped}: not an export of source stadtwerke-feedback: it lacks 'Antwort-ID', "
    )
    assert picked.error.count("'Kanal'") == 1
    assert (
        f"has every column source {calls.source} reads: if it is that source's export, move "
        f"it to {calls.inbox_dir}"
    ) in picked.error
    assert [p.name for p in pending_deliveries(feedback)] == ["calls.csv"]
    assert not calls.landed_dir.exists() and not feedback.landed_dir.exists()
    # `sources check` gives the run's advice, named by the source or by its file (a trial's
    # check told to set delimiter = ";" in the definition of the source it did not belong to).
    from servicelens.cli.main import main

    for named in ("stadtwerke-feedback", str(german)):
        capsys.readouterr()
        assert main(["--data-dir", str(base.root), "sources", "check", named, str(dropped)]) == 2
        said = " ".join(capsys.readouterr().err.split())
        assert said.startswith(
            f"servicelens: error: {dropped}: not an export of source stadtwerke-feedback: "
        ), said
        assert f"move it to {calls.inbox_dir}" in said and "[columns]" not in said
    # Where no configured source fits, the error is the definition's, as before.
    shutil.rmtree(base.root / "sources" / calls.source)
    [again] = pick_up_deliveries(feedback)
    assert "that the export does not have" in again.error and "move it" not in again.error
    assert again.error.count("'Kanal'") == 1


def test_a_qa_audit_file_in_an_exports_inbox_is_told_where_audits_go(tmp_path: Path) -> None:
    """Found by a contact centre's trial: a QA Google Form's export (``Timestamp, Email
    Address, Response ID, Verdict, Rationale``), and the audit columns with ``verdict`` for
    ``root_cause``, dropped in the call log's inbox were refused as call logs missing their
    columns, with no word of audits. They are named as looking like QA audit files, with the
    source's audits folder, the `mv -n` that files them there and the columns to rename; a
    call log missing a column is refused as before."""
    import shlex

    calls = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(DEFINITION)
    )
    form = _drop(
        calls,
        CALLS,
        "qa-form.csv",
        "Timestamp,Email Address,Response ID,Verdict,Rationale\n"
        "2021/01/02 10:00:00,qa@example.com,ID0001,Perceived,slow answer\n",
    )
    named = _drop(
        calls,
        CALLS,
        "qa.csv",
        "response_id,verdict,audited_at,auditor\nID0001,perceived,2021-01-02,ann\n",
    )
    lines = CALLS.read_text(encoding="utf-8-sig").splitlines()
    _drop(
        calls, CALLS, "calls.csv", "\n".join([lines[0].replace("Call Id", "Call No"), *lines[1:]])
    )
    picked = {Path(item.file).name: item.error for item in pick_up_deliveries(calls)}
    target = shlex.quote(f"{calls.audits_dir}/")
    assert picked["qa-form.csv"].startswith(
        f"{form}: line 1 (header): this looks like a QA audit file, not an export of source "
        f"pwc-call-centre: its header (Timestamp, Email Address, Response ID, Verdict, "
        "Rationale) names the audit columns response_id, root_cause, audited_at, auditor, some "
        "under other names, and it lacks 'Call Id', "
    ), picked["qa-form.csv"]
    assert picked["qa-form.csv"].endswith(
        f"If it is QA's audits, move it to {calls.audits_dir}, where training reads the "
        f"source's audits (`mv -n {shlex.quote(str(form))} {target}`), and rename 'Verdict' to "
        "root_cause, 'Timestamp' to audited_at, 'Email Address' to auditor in its line 1, so "
        "that it is read as audits"
    ), picked["qa-form.csv"]
    assert picked["qa.csv"].endswith(
        f"(`mv -n {shlex.quote(str(named))} {target}`), and rename 'verdict' to root_cause in "
        "its line 1, so that it is read as audits"
    ), picked["qa.csv"]
    assert "looks like a QA audit" not in picked["calls.csv"] and "'Call Id'" in picked["calls.csv"]
    assert sorted(p.name for p in pending_deliveries(calls)) == [
        "calls.csv",
        "qa-form.csv",
        "qa.csv",
    ]


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "definition-file"])
def test_sources_check_of_a_qa_audit_file_says_where_audits_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], configured: bool
) -> None:
    """``sources check`` previews what the inbox would do with a file: a QA audit file
    checked against an export's definition is told, as the inbox tells it, that it is audits
    and where they go, not that it lacks the export's columns."""
    from servicelens.cli.main import main

    data = tmp_path / "data"
    calls = Settings(data_dir=str(data)).for_source("pwc-call-centre", str(DEFINITION))
    if configured:
        calls = register_source(Settings(data_dir=str(data)), str(DEFINITION))
    checked = tmp_path / "checked"
    checked.mkdir()
    form = checked / "qa-form.csv"
    form.write_text(
        "Timestamp,Email Address,Response ID,Verdict,Rationale\n"
        "2021/01/02 10:00:00,qa@example.com,ID0001,Perceived,slow answer\n",
        encoding="utf-8",
    )
    named = checked / "qa.csv"
    named.write_text(
        "response_id,root_cause,audited_at,auditor\nID0001,perceived,2021-01-02,ann\n",
        encoding="utf-8",
    )
    definition = "pwc-call-centre" if configured else str(DEFINITION)
    for audits, says in [
        (form, "this looks like a QA audit file, not an export of source pwc-call-centre"),
        (named, "this is a file of QA audits"),
    ]:
        capsys.readouterr()
        assert main(["--data-dir", str(data), "sources", "check", definition, str(audits)]) == 2
        said = " ".join(capsys.readouterr().err.split())
        assert said.startswith(f"servicelens: error: {audits}: line 1 (header): {says}"), said
        assert f"move it to {calls.audits_dir}, where training reads the source's audits" in said


def test_a_correction_dropped_beside_its_original_lands_after_it(tmp_path: Path) -> None:
    """Deliveries land in the order they were written, not by name: a correction saved as
    "calls (1).csv" (a second download's name) sorted before "calls.csv" and landed
    first, so the original, landed after it, superseded the correction."""
    import os

    calls = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(DEFINITION)
    )
    original = _drop(calls, CALLS, "calls.csv")
    corrected = CALLS.read_text(encoding="utf-8-sig").replace(
        "ID0008,Fay,13/01/2021,13:09:38,Payment related,Y,Y,82,0:02:07,5,",
        "ID0008,Fay,13/01/2021,13:09:38,Payment related,Y,Y,82,0:02:07,1,",
    )
    _drop(calls, CALLS, "calls (1).csv", corrected)
    written = original.stat().st_mtime
    os.utime(original, (written - 3600, written - 3600))  # the original came an hour before
    assert [p.name for p in pending_deliveries(calls)] == ["calls.csv", "calls (1).csv"]
    picked = pick_up_deliveries(calls)
    assert [item.error for item in picked] == ["", ""]
    landed = (
        scan_table(calls.landed_dir)
        .filter(pl.col("response_id") == "ID0008")
        .sort("landed_at")
        .collect()
    )
    # The later landing is the one the clean layer keeps; it is the correction.
    assert landed.height == 2
    assert landed.get_column("source_file").to_list()[-1].endswith("calls (1).csv")


def test_the_same_bytes_dropped_again_are_named_once_in_raw_and_the_run_says_so(
    tmp_path: Path,
) -> None:
    """An export downloaded twice ("calls (1).csv") or dropped again under its own name
    changes nothing: the raw zone keeps its bytes once, under the name they came first, and
    the inbox file leaves with a note saying it was already landed. Before, the second name
    made a second raw copy and the nightly run said nothing about the file."""
    calls = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(DEFINITION)
    )
    _drop(calls, CALLS, "calls.csv")
    [first] = pick_up_deliveries(calls)
    assert first.landing is not None and first.note == ""
    landed = scan_table(calls.landed_dir).collect()
    _drop(calls, CALLS, "calls (1).csv")
    _drop(calls, CALLS, "calls.csv")
    again = {Path(item.file).name: item for item in pick_up_deliveries(calls)}
    assert again["calls (1).csv"].note == (
        "calls (1).csv: already landed as calls.csv (the same bytes); nothing changed"
    )
    assert again["calls.csv"].note == "calls.csv: already landed (the same bytes); nothing changed"
    for item in again.values():
        assert item.error == "" and item.landing is not None and item.landing.already_landed
        assert item.landing.delivered_as == first.landing.delivered_as
    copies = sorted(p.name for p in calls.deliveries_dir.iterdir())
    sha = hashlib.sha256(CALLS.read_bytes()).hexdigest()
    assert copies == [f"{sha[:12]}-calls.csv"]
    assert pending_deliveries(calls) == []
    assert scan_table(calls.landed_dir).collect().equals(landed)


@pytest.mark.slow
def test_the_nightly_run_and_backfill_take_the_configured_sources(
    prefect_api: None, tmp_path: Path
) -> None:
    from flows.pipeline import backfill, nightly_window

    data = tmp_path / "data"
    base = Settings(data_dir=str(data))
    calls = register_source(base, str(DEFINITION))
    cfpb = register_source(base, "cfpb")
    dropped = _drop(calls, CALLS, "calls-q1.csv")
    _drop(cfpb, CFPB, "complaints.csv")
    sha = hashlib.sha256(CALLS.read_bytes()).hexdigest()

    state = nightly_window(day=NIGHT, data_dir=str(data), return_state=True)
    rows = state.result()
    ran = sorted((r["result"]["source"], r["day"]) for r in rows if r["outcome"] == "completed")
    # The CFPB sample's truncated last record still has its Date received (2023-07-17): it
    # is quarantined in July's partition, not in one of its delivery's month.
    assert ran == sorted(
        [("cfpb", d.isoformat()) for d in CFPB_MONTHS]
        + [("pwc-call-centre", d.isoformat()) for d in CALL_DATES]
    )
    truncated = read_partition(cfpb.quarantine_dir, date(2023, 7, 1)).filter(
        pl.col("source_line") == 18
    )
    assert "the delivery looks truncated" in truncated.get_column("reasons").item()[0]
    # The inbox is emptied; the raw zone holds the delivery as delivered, named by checksum.
    assert pending_deliveries(calls) == [] and pending_deliveries(cfpb) == []
    raw = data / "raw" / "sources" / "pwc-call-centre" / f"{sha[:12]}-calls-q1.csv"
    assert raw.read_bytes() == CALLS.read_bytes() and not dropped.exists()

    # Every row read is kept or quarantined, per source, in its own layers.
    clean = scan_table(calls.clean_dir).collect()
    assert clean.height == 24 and clean.get_column("source").unique().to_list() == [
        "pwc-call-centre"
    ]
    months = scan_table(cfpb.clean_dir).collect()
    assert sorted(months.get_column("survey_date").unique().to_list()) == CFPB_MONTHS
    manifest = read_manifest(cfpb.clean_dir, CFPB_MONTHS[0])
    assert manifest is not None and manifest["partition"]["granularity"] == "month"
    assert manifest["counts"]["surveys_read"] == (
        manifest["counts"]["kept"] + manifest["counts"]["quarantined"]
    )

    # Weekly marts per source: the call centre's weeks, with its agents pseudonymised; CFPB's
    # months (a monthly source), with no agents recorded.
    agents = scan_table(calls.marts_dir / "agent_outcomes").collect()
    assert agents.get_column("source").unique().to_list() == ["pwc-call-centre"]
    assert agents.get_column("agent").drop_nulls().str.starts_with("agent-").all()
    assert "Eli" not in agents.write_csv()
    first_week = agents.filter(pl.col("survey_date") == date(2020, 12, 28))
    # ID0001-6, on 1 and 2 January; Hal took two of them.
    assert sorted(first_week.get_column("contacts").to_list()) == [1, 1, 1, 1, 2]
    assert first_week.get_column("week_end").unique().to_list() == [date(2021, 1, 3)]
    cfpb_agents = scan_table(cfpb.marts_dir / "agent_outcomes").collect().sort("survey_date")
    assert cfpb_agents.get_column("status").unique().to_list() == ["no agent recorded"]
    august = cfpb_agents.filter(pl.col("survey_date") == date(2023, 8, 1)).row(0, named=True)
    assert (august["week_start"], august["week_end"]) == (date(2023, 8, 1), date(2023, 8, 31))
    assert august["contacts"] == months.filter(pl.col("survey_date") == date(2023, 8, 1)).height
    assert (cfpb.marts_dir / "fix_list" / "survey_date=2023-08-01" / "part-0.parquet").exists()

    # A second night: a re-delivered call with a changed rating and a late call of 13 January.
    late = (
        "Call Id,Agent,Date,Time,Topic,Answered (Y/N),Resolved,Speed of answer in seconds,"
        "AvgTalkDuration,Satisfaction rating"
        + "\nID0008,Fay,13/01/2021,13:09:38,Payment related,Y,Y,30,0:01:00,1"
        + "\nID0099,Ana,13/01/2021,18:00:00,Streaming,Y,Y,5,0:02:00,2\n"
    )
    _drop(calls, CALLS, "calls-late.csv", late)
    rows = nightly_window(day=NIGHT, data_dir=str(data), return_state=True).result()
    ran = [(r["result"].get("source"), r["day"]) for r in rows if r["outcome"] == "completed"]
    assert ran == [("pwc-call-centre", "2021-01-13")]  # only the date the delivery touched
    january = read_partition(calls.clean_dir, date(2021, 1, 13)).sort("response_id")
    assert january.select("response_id", "csat").rows() == [
        ("ID0007", 1),
        ("ID0008", 1),  # the re-delivery wins (5 in the first delivery)
        ("ID0009", 5),
        ("ID0099", 2),
    ]
    superseded = read_partition(calls.quarantine_dir, date(2021, 1, 13))
    assert superseded.select("record_id").to_series().to_list() == ["ID0008"]
    # The line that supersedes it is in the other delivery: the reason names that file, and
    # what the re-delivery changed (an updated copy, not a duplicate).
    assert superseded.get_column("reasons").to_list() == [
        [
            "updated: superseded by the later version on line 2 of calls-late.csv (changed: "
            "wait_seconds, handle_seconds, csat)"
        ]
    ]

    # backfill --source: the CFPB months in the range, each a partition of a month.
    state = backfill(
        date(2023, 7, 15),
        date(2023, 12, 31),
        rerun="all",
        data_dir=str(data),
        source="cfpb",
        return_state=True,
    )
    assert [r["day"] for r in state.result()] == ["2023-07-01", "2023-08-01"]
    assert all(r["outcome"] == "completed" for r in state.result())
    # Each date's flow run names its source (an operator's trial could not tell the sources'
    # runs apart in Prefect's UI: every one was nightly-<date>) and what triggered it: the
    # nightly window's are nightly-cfpb-<month>, the backfill's backfill-cfpb-<month> (a BI
    # developer's trial saw a backfill's dates named nightly-sm-support-<date>).
    backfilled = [date.fromisoformat(r["day"]) for r in state.result()]
    for month in backfilled:
        [nightly_run] = flow_runs_named(f"nightly-cfpb-{month}", str(data))
        [backfill_run] = flow_runs_named(f"backfill-cfpb-{month}", str(data))
        assert "nightly" in nightly_run.tags and "backfill" in backfill_run.tags

    con = connect_views(base.root)
    by_source = con.execute(
        "SELECT source, count(*) FROM feedback_scored GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert by_source == [("cfpb", months.height), ("pwc-call-centre", 25)]
    # processed_dates.flow tells a nightly from a backfill (BI filters on it): the months
    # the backfill rewrote say backfill, the dates only the nightly run wrote say nightly.
    flows = con.execute("SELECT source, survey_date, flow FROM processed_dates ORDER BY ALL")
    assert flows.fetchall() == sorted(
        [("cfpb", m, "backfill" if m in backfilled else "nightly") for m in CFPB_MONTHS]
        + [("pwc-call-centre", d, "nightly") for d in CALL_DATES]
    )
    # The example queries keep each source's rows apart (their queues and policies are
    # their own), and show the sources without a model too.
    from servicelens.reporting.analyst import run_query

    queues = run_query(base.root, "queues_that_bounce")
    assert {r["source"] for r in queues} == {"cfpb", "pwc-call-centre"}
    assert sum(r["responses"] for r in queues if r["source"] == "pwc-call-centre") == 25
    # Its negative share is daily_summary's (negatives / rated: an unanswered call is
    # neither negative nor not).
    summed = con.execute(
        "SELECT source, queue, round(sum(negatives) / sum(rated), 3) FROM daily_summary "
        "GROUP BY ALL"
    ).fetchall()
    assert {(r["source"], r["queue"], r["negative_share"]) for r in queues} == set(summed)
    assert con.execute("SELECT count(*) FROM feedback_scored WHERE is_negative IS NULL").fetchall()[
        0
    ][0], "the call-centre sample has unrated calls"
    policies = run_query(base.root, "policies_by_root_cause")
    assert list(policies[0])[:2] == ["source", "policy_code"]


def test_the_command_line_adds_lists_and_plans_a_configured_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sources add``, ``sources list`` and ``backfill --source --dry-run`` (no Prefect):
    the plan holds the source's landed partitions in the range, months for CFPB."""

    from servicelens.cli.main import main
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import source_definition

    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "sources", "add", "cfpb"]) == 0
    assert "drop its exports in" in capsys.readouterr().out
    cfpb = configured_source(Settings(data_dir=data), "cfpb")
    landing = land_delivery(cfpb, source_definition(cfpb), CFPB)
    assert sorted(landing.periods)[:3] == CFPB_MONTHS
    _drop(cfpb, CFPB, "complaints-again.csv")

    assert main(["--data-dir", data, "sources", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["configured"]
    assert [(s["name"], s["partition"], s["waiting"]) for s in listed] == [("cfpb", "month", 1)]

    argv = ["backfill", "--source", "cfpb", "--start", "2023-07-15", "--end", "2023-12-31"]
    assert main(["--data-dir", data, *argv, "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [(p["date"], p["action"]) for p in plan] == [
        ("2023-07-01", "run"),
        ("2023-08-01", "run"),
    ]
    # The months of the range with nothing landed are named, not silently left out (found
    # by a trial: a gap in the deliveries looked like a month the backfill forgot).
    assert main(["--data-dir", data, *argv, "--dry-run"]) == 0
    said = capsys.readouterr().out
    # Its rows are month partitions, headed so as `run` calls them (a trial read "date").
    assert said.splitlines()[0].split()[:2] == ["partition", "state"], said
    assert (
        "4 month(s) of the range have no landed partition of source 'cfpb', so nothing to "
        "run: 2023-09..2023-12 (no delivery held surveys of them)"
    ) in said
    # A delivery waiting in the inbox is named, not left out of a plan that runs only what
    # is landed (found by a trial: a corrected export waited while every date said
    # "nothing to do").
    assert (
        f"1 file(s) wait in the inbox of source 'cfpb', not landed yet (complaints-again.csv; "
        f"{cfpb.inbox_dir}): a backfill runs what is landed; `servicelens --data-dir "
    ) in said
    # Months, as a monthly source's partitions are named: from the first day of the first
    # to the last day of the last (found by a trial: `--start 2023-07` was refused).
    months = ["backfill", "--source", "cfpb", "--start", "2023-07", "--end", "2023-08"]
    assert main(["--data-dir", data, *months, "--dry-run", "--json"]) == 0
    assert [p["date"] for p in json.loads(capsys.readouterr().out)] == [
        "2023-07-01",
        "2023-08-01",
    ]
    with pytest.raises(SystemExit):
        main(["--data-dir", data, *months[:4], "2023-13", "--dry-run"])
    assert "'2023-13' is not a date or a month: there is no month 13" in capsys.readouterr().err
    # A source that is not configured: one line naming the ones that are.
    assert main(["--data-dir", data, *argv, "--source", "zendesk", "--dry-run"]) == 2
    error = capsys.readouterr().err.splitlines()[0]
    assert "'zendesk' is not configured" in error and "(configured: cfpb)" in error
    assert main(["--data-dir", data, "demo", "--source", "cfpb"]) == 2
    assert "--source cfpb needs --input" in capsys.readouterr().err


def test_a_definition_extending_a_file_is_registered_with_it(tmp_path: Path) -> None:
    """The data directory holds every file a registered definition needs; a definition that
    allows its agent ids to be shown makes the source's settings reveal them."""
    own = tmp_path / "team" / "calls-open.toml"
    own.parent.mkdir()
    own.write_text(
        f'extends = "{DEFINITION}"\nname = "calls-open"\npseudonymise_agents = false\n',
        encoding="utf-8",
    )
    base = Settings(data_dir=str(tmp_path / "data"))
    source = register_source(base, str(own))
    folder = base.root / "sources" / "calls-open"
    assert sorted(p.name for p in folder.glob("*.toml")) == [
        "definition.toml",
        "extends-1-call-centre.toml",
    ]
    assert 'extends = "extends-1-call-centre.toml"' in (folder / "definition.toml").read_text()
    own.unlink()  # the registered copies stand on their own
    again = configured_source(base, "calls-open")
    assert (again.reveal_agent_ids, source.reveal_agent_ids) == (True, True)
    assert again.partition == "day"


@pytest.mark.slow
def test_servicelens_run_lands_the_inbox_of_a_data_directory_without_sample_data(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``servicelens run`` in a data directory holding only a configured source: no sample
    date is attempted, the inbox is landed and its months run; one JSON document."""

    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    cfpb = register_source(Settings(data_dir=data), "cfpb")
    _drop(cfpb, CFPB, "complaints.csv")
    assert main(["--data-dir", data, "run", "--date", NIGHT.isoformat(), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["sample"] is None
    done = [(r["source"], r["day"]) for r in printed["sources"] if r["outcome"] == "completed"]
    assert done[:3] == [("cfpb", d.isoformat()) for d in CFPB_MONTHS]
    assert pending_deliveries(cfpb) == []
    assert not (Path(data) / "clean" / "responses").exists()  # no sample date was run

    # No cfpb model in this data directory: the table says why nothing was scored, and how
    # to change that, with the configured definition's path.
    from servicelens.cli.sources import outcomes_text

    said = outcomes_text(printed["sources"], Settings(data_dir=data)).splitlines()
    # How many inbox files it landed, before the table (a bank analyst's trial looked in
    # raw/sources/ for it), in the words of `sources run`'s summary.
    assert said[0] == f"cfpb: 1 delivery read from {cfpb.inbox_dir} (0 already landed before)"
    assert said[1].startswith("source ")
    assert all(line.endswith("scored 0 (no champion model yet)") for line in said[3:6]), said
    assert said[-1].startswith("cfpb: no model for this source yet, so its negative")
    assert "QA audits in audits/cfpb/ with `servicelens train --source cfpb`" in said[-1]
    assert sum("no model for this source" in line for line in said) == 1
    # The range to score again is the source's landed partitions, not placeholders (two
    # trials' operators were left to find it).
    from servicelens.ingest.landing import landed_periods

    landed = landed_periods(cfpb)
    assert f"backfill --source cfpb --start {landed[0]} --end {landed[-1]} --rerun all`" in said[-1]

    # A partition that failed for a cause outside its inputs (a QA file, a full disk) is
    # not retried by the next nightly run while its inputs are unchanged, but named, with
    # what to run once fixed (a trial's marts stayed behind, the run exiting 0 in silence).
    from servicelens.storage.runs import record_outcome

    record_outcome(cfpb, CFPB_MONTHS[0], "run-x", "failed", error="SourceError: a QA file")
    assert main(["--data-dir", data, "run", "--date", NIGHT.isoformat(), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["sources"]
    (left,) = [r for r in rows if r["day"] == CFPB_MONTHS[0].isoformat()]
    assert left["outcome"] == "skipped"
    assert left["error"] == "its last run failed, and its inputs have not changed since"
    assert left["todo"].endswith(
        f"`servicelens --data-dir {data} backfill --source cfpb --start {CFPB_MONTHS[0]} "
        f"--end {CFPB_MONTHS[0]} --rerun failed`"
    )
    said = outcomes_text(rows, Settings(data_dir=data))
    assert f"cfpb {CFPB_MONTHS[0]}: its error is in " in said

    # `run --date` of a partition already processed, with nothing landed since, names it
    # (a trial's `run --date D` listed nothing for D at all), and how to run it again.
    month = CFPB_MONTHS[1]
    assert main(["--data-dir", data, "run", "--date", str(month + timedelta(days=14))]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (
        f"cfpb {month} skipped up to date: processed, and nothing landed for it since (to "
        f"process it again: `servicelens --data-dir {data} backfill --source cfpb --start {month} "
        f"--end {month} --rerun all`)"
    ) in said

    # The sample's report would be empty here: it writes the source's, as the nightly does
    # (an airline's trial was refused without --source while run and backfill took all).
    assert main(["--data-dir", data, "report"]) == 0
    assert capsys.readouterr().out.startswith(f"report written: {data}/reports/report-")
    assert main(["--data-dir", data, "report", "--source", "cfpb", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert Path(report["latest"]).read_text().count("cfpb") > 0


@pytest.mark.slow
def test_a_backfill_without_source_runs_every_configured_source_over_the_range(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: re-running last month in a data directory holding only
    configured sources was refused ("backfill one source at a time"), one command per
    source. As the nightly run does, it takes every configured source: a line per
    partition naming its source, a summary per source, exit 1 if any source failed."""
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    base = Settings(data_dir=data, inbox_settle_seconds=0)
    calls, cfpb = register_source(base, str(DEFINITION)), register_source(base, "cfpb")
    _drop(calls, CALLS, "calls.csv")
    _drop(cfpb, CFPB, "complaints.csv")
    assert all(not p.error for p in [*pick_up_deliveries(calls), *pick_up_deliveries(cfpb)])
    # One of CFPB's months cannot be read: that source fails, the other still runs.
    broken = cfpb.landed_dir / "survey_date=2023-07-01" / "part-0.parquet"
    broken.write_bytes(b"not parquet")
    assert (
        main(["--data-dir", data, "backfill", "--start", "2021-01-01", "--end", "2023-08-31"]) == 1
    )
    said = capsys.readouterr().out
    lines = said.splitlines()
    assert lines[0].split() == ["source", "partition", "outcome", "flow_run", "detail"]
    ran = [line.split()[:3] for line in lines[2:] if line.split()[0] in ("cfpb", calls.source)]
    assert ran == [
        ["cfpb", d.isoformat(), "failed" if d == date(2023, 7, 1) else "completed"]
        for d in CFPB_MONTHS
    ] + [[calls.source, d.isoformat(), "completed"] for d in CALL_DATES]
    assert "cfpb: 2 completed, 1 failed" in lines
    assert f"{calls.source}: 7 completed" in lines
    assert "not every partition completed (source(s): cfpb)" in said
    assert read_partition(calls.clean_dir, CALL_DATES[0]).height > 0

    # With --source it stays one source.
    assert (
        main(
            [
                "--data-dir",
                data,
                "backfill",
                "--source",
                calls.source,
                "--start",
                "2021-01-01",
                "--end",
                "2021-01-31",
                "--rerun",
                "all",
                "--json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["day"] for r in rows] == [d.isoformat() for d in CALL_DATES[:3]]


def test_a_scheduled_runs_failure_names_the_inbox_file_and_keeps_why_in_the_data_dir(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: a scheduled nightly run with an inbox file its definition cannot
    read ended "1 of 3 dates did not complete: ['<night>']" (serve's end line is the run's
    state message), and the file and its reason were nowhere in the data directory. The
    state names the source, the file and the reason, not the date; ``runs show`` lists it
    while it waits in the inbox."""
    from flows.pipeline import DatesNotCompleted, nightly_window
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    calls = register_source(Settings(data_dir=data), str(DEFINITION))
    renamed = calls.inbox_dir / "renamed.csv"
    renamed.write_text(CALLS.read_text(encoding="utf-8-sig").replace("Call Id", "Call No", 1))
    state = nightly_window(day=NIGHT, data_dir=data, return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert NIGHT.isoformat() not in message and "dates did not complete" not in message
    assert message.startswith(f"1 inbox file(s) not landed: {calls.source}: {renamed}: line 1")
    assert "Call Id" in message, message
    assert isinstance(state.result(raise_on_failure=False), DatesNotCompleted)
    assert main(["--data-dir", data, "runs", "show", "--json"]) == 0
    (kept,) = json.loads(capsys.readouterr().out)["inbox"]
    assert kept["source"] == calls.source and kept["file"] == str(renamed)
    assert kept["error"].startswith(f"{renamed}: line 1 (header): ")
    # Fixed and landed: the next run's record is empty, and runs show lists nothing.
    renamed.unlink()
    assert nightly_window(day=NIGHT, data_dir=data, return_state=True).is_completed()
    assert main(["--data-dir", data, "runs", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inbox"] == []


def test_an_inbox_file_that_fails_is_named_with_its_source_not_a_partition(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``servicelens run`` with a file its source's definition cannot read: the failed row
    names the source and the file, shows no partition (none ran), and the command exits 1;
    the other file of the inbox lands and runs."""

    from servicelens.cli.main import main
    from servicelens.cli.sources import outcomes_text

    data = str(tmp_path / "data")
    calls = register_source(Settings(data_dir=data), str(DEFINITION))
    _drop(calls, CALLS, "calls.csv")
    (calls.inbox_dir / "renamed.csv").write_text(
        CALLS.read_text(encoding="utf-8-sig").replace("Call Id", "Call No", 1)
    )
    (calls.inbox_dir / "empty-day.csv").write_bytes(CALLS.read_bytes().splitlines()[0])
    # A drop folder whose name is not a source's (found by a trial: ignored every night).
    misspelt = calls.inbox_dir.parent / (calls.source + "s")
    misspelt.mkdir()
    shutil.copy(CALLS, misspelt / "calls-2.csv")
    assert main(["--data-dir", data, "run", "--date", NIGHT.isoformat(), "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["sources"]
    failed = [r for r in rows if r["outcome"] == "failed"]
    assert len(failed) == 2 and failed[0]["source"] == calls.source
    assert failed[0]["result"]["inbox_file"].endswith("renamed.csv")
    # Named once, as delivered (a trial's read "inbox/x.csv: raw/...-x.csv: line 1").
    renamed = calls.inbox_dir / "renamed.csv"
    assert failed[0]["error"].startswith(f"{renamed}: line 1 (header): "), failed[0]["error"]
    assert failed[0]["error"].count("renamed.csv") == 1
    assert failed[1]["error"] == (
        f"{misspelt} holds 1 file(s) but no source named {misspelt.name} is configured, so "
        f"no run lands them: move them to {calls.inbox_dir}/ (did you mean {calls.source}?), "
        f"or configure it with `servicelens --data-dir {data} sources add DEFINITION`"
    )
    assert any(r["outcome"] == "completed" for r in rows)
    (empty,) = [r for r in rows if r["result"].get("inbox_file", "").endswith("empty-day.csv")]
    assert empty["outcome"] == "skipped" and "has no data rows" in empty["error"]
    text = outcomes_text(rows, Settings(data_dir=data)).splitlines()
    line = next(x for x in text if "failed" in x)
    assert line.split()[:3] == [calls.source, "(inbox)", "failed"]
    line = next(x for x in text if "holds 1 file(s)" in x)
    assert line.split()[:3] == [misspelt.name, "(inbox)", "failed"]
    line = next(x for x in text if "empty-day.csv" in x)
    assert line.split()[:3] == [calls.source, "(inbox)", "skipped"]


def test_rows_landed_before_the_definition_could_date_them_are_not_kept_elsewhere(
    tmp_path: Path,
) -> None:
    """A delivery whose dates the definition could not read lands in its delivery date's
    partition (quarantined there). Once the definition reads them, re-running that partition
    kept the rows in it, dated years away (their marts in the wrong partition, and the
    corrected delivery refused as already accepted); they are now quarantined saying where
    they belong, and the same file dropped again lands them there."""
    from datetime import UTC

    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_rows

    iso = tmp_path / "calls-iso.csv"
    iso.write_text(
        re.sub(
            r"(\d\d)/(\d\d)/(\d{4})",
            r"\3-\2-\1",
            CALLS.read_text(encoding="utf-8-sig"),
        ),
        encoding="utf-8",
    )
    delivered = date(2026, 12, 1)
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    settings = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    day_first = load_definition(str(DEFINITION))
    landing = land_delivery(settings, day_first, iso, at)
    assert list(landing.periods) == [delivered]
    fixed = tmp_path / "call-centre.toml"
    fixed.write_text(
        DEFINITION.read_text().replace(
            'format = "%d/%m/%Y %H:%M:%S"', 'format = ["%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S"]'
        )
    )
    now = datetime(2026, 12, 2, tzinfo=UTC)
    clean, quarantine, counts = validate_landed_rows(
        settings, load_definition(str(fixed)), read_partition(settings.landed_dir, delivered),
        now, None, delivered,
    )  # fmt: skip
    assert clean.height == 0 and counts.quarantined == counts.surveys_read == 24
    reasons = quarantine.filter(pl.col("record_id") == "ID0001").get_column("reasons")[0]
    assert any(
        r.startswith("submitted_at: now reads as survey date 2021-01-01, so the row belongs "
                     "to partition 2021-01-01, not 2026-12-01") for r in reasons
    ), reasons  # fmt: skip
    # Dropped again under the fixed definition, the same bytes land where they belong, and
    # leave the partition they were landed in: no row is kept in one partition and
    # quarantined in another.
    again = land_delivery(settings, load_definition(str(fixed)), iso, now)
    assert not again.already_landed
    assert min(again.periods) == date(2021, 1, 1)
    assert again.moved_out == {delivered: 24} and again.periods[delivered] == 0
    assert sum(again.periods.values()) == 24
    left = read_partition(settings.landed_dir, delivered)
    assert left.height == 0
    assert again.sha256 not in (read_manifest(settings.landed_dir, delivered) or {})["deliveries"]
    clean, quarantine, counts = validate_landed_rows(
        settings, load_definition(str(fixed)), left, now, None, delivered
    )
    assert clean.height == quarantine.height == counts.surveys_read == 0
    # The same bytes under the same rules once more: nothing changes.
    assert land_delivery(settings, load_definition(str(fixed)), iso, now).already_landed


def test_rows_a_fixed_definition_moves_to_other_partitions_are_kept_once(
    tmp_path: Path,
) -> None:
    """A delivery landed again under another timezone: rows move to the day before or
    after. Processed oldest first (as every run does), a moved row met its old partition's
    stale clean copy and was quarantined as accepted elsewhere, then dropped from the old
    partition when it ran: in neither (15 of 24 lost, found in review). Every row read is
    now kept exactly once."""
    from datetime import UTC

    from servicelens import stages
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    base = Settings(data_dir=str(tmp_path / "data"))
    settings = register_source(base, str(DEFINITION))

    def process(periods: list[date]) -> None:
        for period in sorted(periods):
            validated = stages.validate_day(settings, period, "r")
            stages.publish_clean(settings, validated, {"run_id": "r"})

    def clean_ids() -> list[str]:
        ids = scan_table(settings.clean_dir).select("response_id").collect().to_series()
        return sorted(ids.to_list())

    at = datetime(2021, 4, 1, 9, tzinfo=UTC)
    first = land_delivery(settings, load_definition(str(DEFINITION)), CALLS, at)
    process(list(first.periods))
    before = clean_ids()
    assert len(before) == len(set(before)) == 24
    shifted = tmp_path / "call-centre.toml"
    shifted.write_text(
        DEFINITION.read_text().replace(
            'timezone = "Europe/London"', 'timezone = "Pacific/Kiritimati"'
        )
    )
    settings = register_source(base, str(shifted), replace=True)  # the same source, fixed
    again = land_delivery(settings, load_definition(str(shifted)), CALLS, at)
    assert set(again.periods) != set(first.periods)  # rows moved between days
    process(list(again.periods))
    assert clean_ids() == before
    elsewhere = scan_table(settings.quarantine_dir).collect()
    assert elsewhere.filter(pl.col("record_id").is_in(before)).is_empty()


@pytest.mark.parametrize("whole", [True, False], ids=["whole-export", "one-row"])
def test_a_redelivery_that_corrects_a_date_replaces_the_older_copy(
    tmp_path: Path, whole: bool
) -> None:
    """Found by a trial: a re-delivery moving a response to another date was quarantined as
    already accepted under the old date, and the old date stayed in the clean layer and the
    marts. The latest delivery now wins across partitions as within one: the older copy is
    quarantined where it was, saying which line of which delivery replaced it, whether the
    correction comes in a whole export again or in a file of that one row."""
    from datetime import UTC

    from servicelens import stages
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    settings = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    definition = load_definition(str(DEFINITION))

    def process(periods: list[date]) -> None:
        for period in sorted(periods):  # oldest first, as every run does
            validated = stages.validate_day(settings, period, "r")
            stages.publish_clean(settings, validated, {"run_id": "r"})

    first = land_delivery(settings, definition, CALLS, datetime(2021, 4, 1, 9, tzinfo=UTC))
    process(list(first.periods))
    lines = CALLS.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith("ID0001,Eli,01/01/2021,")
    lines[1] = lines[1].replace("01/01/2021", "03/01/2021")
    fixed = tmp_path / "calls-fix.csv"
    fixed.write_text("\n".join(lines if whole else lines[:2]) + "\n", encoding="utf-8")
    again = land_delivery(settings, definition, fixed, datetime(2021, 4, 2, 9, tzinfo=UTC))
    old, new = date(2021, 1, 1), date(2021, 1, 3)
    assert again.superseded_elsewhere == {old: 1}
    assert {old, new} <= set(again.periods)
    process(list(again.periods))

    clean = scan_table(settings.clean_dir).collect()
    assert clean.filter(pl.col("response_id") == "ID0001").get_column("survey_date").to_list() == [
        new
    ]
    assert clean.get_column("response_id").n_unique() == clean.height == 24
    quarantined = scan_table(settings.quarantine_dir).filter(pl.col("record_id") == "ID0001")
    [(day, reasons)] = quarantined.select("survey_date", "reasons").collect().rows()
    assert day == old
    assert reasons == [
        "duplicate delivery: superseded by line 2 of calls-fix.csv, a later delivery that "
        "dates it 2021-01-03"
    ]
    # Landed again (the same bytes, the same rules), nothing changes.
    assert land_delivery(
        settings, definition, fixed, datetime(2021, 4, 3, tzinfo=UTC)
    ).already_landed
    # A later copy whose time cannot be read (a spreadsheet re-save changed its format) is
    # landed under its delivery date and supersedes nothing elsewhere: found by a trial,
    # where such copies took the good ones out of the marts while quarantined themselves.
    resaved = tmp_path / "calls-resaved.csv"
    assert lines[2].startswith("ID0002,Hal,01/01/2021,")
    resaved.write_text(
        "\n".join([lines[0], lines[2].replace("01/01/2021", "2021-01-01")]) + "\n",
        encoding="utf-8",
    )
    third = land_delivery(settings, definition, resaved, datetime(2021, 4, 4, 9, tzinfo=UTC))
    assert third.superseded_elsewhere == {} and old not in third.periods
    # ... and the run says so: the older copy stays in the marts until a fixed copy comes.
    assert third.older_copies_kept == {old: [2]}
    assert third.notes() == [
        "line 2 re-delivers a response landed before (in 2021-01-01's partition) with a "
        "submitted_at that cannot be read: it is quarantined under the day the delivery was "
        "landed, 2021-04-04, apart, and the older copy stays in the marts. Fix submitted_at "
        "in the export (or the "
        "definition's format for it) and deliver it again to replace the older copy"
    ]
    # A new response whose time cannot be read re-delivers nothing: no such note, only the
    # day it is filed under (the delivery has no other day: no date in its name, no dated
    # row).
    unknown = tmp_path / "calls-new.csv"
    unknown.write_text(
        "\n".join([lines[0], lines[2].replace("ID0002", "ID9999").replace("01/01/2021", "x")])
        + "\n",
        encoding="utf-8",
    )
    fourth = land_delivery(settings, definition, unknown, datetime(2021, 4, 5, 9, tzinfo=UTC))
    assert fourth.older_copies_kept == {} and fourth.notes() == [
        "1 row whose submitted_at gives no survey date (empty, or a format the definition "
        "does not read) is quarantined under its delivery's day, 2021-04-05 (the day it was "
        "landed: its file name holds no single date and none of its rows has one), not a "
        "survey date of its own"
    ]


def test_a_copy_superseded_by_a_delivery_of_the_same_name_names_its_raw_copy(
    tmp_path: Path,
) -> None:
    """Found by a trial: an edited re-save delivered under the same name quarantined the
    older copy as "superseded by line 2 of calls.csv", in calls.csv: which of the two was
    not said. The reason names the later delivery's raw copy then."""
    from datetime import UTC

    from servicelens import stages
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    settings = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    definition = load_definition(str(DEFINITION))
    lines = CALLS.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith("ID0001,Eli,01/01/2021,17:23:40,")
    first, second = tmp_path / "one" / "calls.csv", tmp_path / "two" / "calls.csv"
    for path, rows in ((first, lines[:3]), (second, [lines[0], lines[1].replace(",5,", ",4,")])):
        path.parent.mkdir()
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    land_delivery(settings, definition, first, datetime(2021, 4, 1, 9, tzinfo=UTC))
    later = land_delivery(settings, definition, second, datetime(2021, 4, 2, 9, tzinfo=UTC))
    validated = stages.validate_day(settings, date(2021, 1, 1), "r")
    quarantined = validated.quarantine().filter(pl.col("record_id") == "ID0001")
    raw_copy = Path(later.delivered_as).name
    assert raw_copy.endswith("-calls.csv") and len(raw_copy) > len("calls.csv")
    assert quarantined.get_column("reasons").to_list() == [
        [f"updated: superseded by the later version on line 2 of a later delivery of calls.csv "
         f"(raw copy {raw_copy}) (changed: csat)"]
    ]  # fmt: skip


def test_the_same_file_under_the_same_rules_is_already_landed_on_any_day(
    tmp_path: Path,
) -> None:
    """A delivery with a line that cannot be read nor dated (quarantined under its
    delivery's day: the day most of its rows fall on, not the day it was landed), dropped
    again days later under the same definition, changes nothing;
    landed by a version that recorded no definition fingerprint, it is landed again (the
    definition may have been fixed since), in the same partitions."""
    from datetime import UTC

    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery, landed_periods
    from servicelens.storage.partitions import MANIFEST_FILE, partition_dir

    broken = tmp_path / "calls.csv"
    text = CALLS.read_text(encoding="utf-8-sig")
    broken.write_text(text + 'ID9999,"unclosed,no date\n', encoding="utf-8")
    settings = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    definition = load_definition(str(DEFINITION))
    first = land_delivery(settings, definition, broken, datetime(2026, 12, 1, 9, tzinfo=UTC))
    ((undated_on, _),) = first.undated_rejects.items()
    assert first.rejects == 1 and undated_on in first.periods
    assert max(first.periods) < date(2026, 12, 1)
    later = datetime(2026, 12, 5, 9, tzinfo=UTC)
    assert land_delivery(settings, definition, broken, later).already_landed
    for period in landed_periods(settings):
        path = partition_dir(settings.landed_dir, period) / MANIFEST_FILE
        manifest = json.loads(path.read_text())
        del manifest["definitions"]
        path.write_text(json.dumps(manifest))
    again = land_delivery(settings, definition, broken, later)
    assert not again.already_landed
    assert again.periods == first.periods and again.moved_out == {}
    assert land_delivery(settings, definition, broken, later).already_landed


def test_the_same_file_dropped_again_under_a_fixed_mapping_is_landed_again(
    tmp_path: Path,
) -> None:
    """A mapping fixed after a delivery landed (the queue read from the wrong column) and
    the same file dropped again: its rows are landed again under the fixed mapping, not
    refused as already landed; a definition saved again unchanged changes nothing."""
    from datetime import UTC

    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    wrong = tmp_path / "wrong.toml"
    wrong.write_text(DEFINITION.read_text().replace('queue = "Topic"', 'queue = "Agent"'))
    settings = register_source(Settings(data_dir=str(tmp_path / "data")), str(wrong))
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    first = land_delivery(settings, load_definition(str(wrong)), CALLS, at)
    period = min(first.periods)
    queues = read_partition(settings.landed_dir, period).get_column("queue").unique().to_list()
    assert "Eli" in queues
    assert land_delivery(settings, load_definition(str(wrong)), CALLS, at).already_landed
    copied = tmp_path / "copied.toml"  # the same rules in another file: the same fingerprint
    copied.write_text("# saved again\n" + wrong.read_text())
    assert land_delivery(settings, load_definition(str(copied)), CALLS, at).already_landed
    described = tmp_path / "described.toml"  # only the description edited: no row changes
    described.write_text(wrong.read_text().replace("saved from Excel", "exported by the PBX"))
    assert load_definition(str(described)).description != load_definition(str(wrong)).description
    assert land_delivery(settings, load_definition(str(described)), CALLS, at).already_landed

    later = datetime(2026, 12, 3, 9, tzinfo=UTC)
    again = land_delivery(settings, load_definition(str(DEFINITION)), CALLS, later)
    assert not again.already_landed and again.moved_out == {}
    assert again.periods == first.periods
    landed = read_partition(settings.landed_dir, period)
    # Landed again, its rows keep the time they were first landed: a re-delivered row's
    # copies are ranked by it, so an old file dropped again never outranks a later one.
    assert landed.get_column("landed_at").unique().to_list() == [at]
    assert "Eli" not in landed.get_column("queue").to_list()
    assert "Technical Support" in landed.get_column("queue").to_list()
    assert landed.height == first.periods[period]  # replaced, not doubled


def test_a_row_dated_after_its_delivery_is_quarantined_not_lost(tmp_path: Path) -> None:
    """Found by a new user's trial: a European export read month-first by mistake dated
    "12.03.2026" as 3 December, in a partition of a date still to come. That partition
    failed every run ("day ... is in the future") and the row was neither kept nor
    quarantined. It is now a reject of its delivery's day (the day most of its rows fall
    on, the file's name holding no date), saying what to check.

    The export alone is now refused whole (its times read only day-first, none only
    month-first); a row written month-first (13 January) makes it a mix, landed row by
    row as before."""
    from datetime import UTC

    from servicelens import stages
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery, landed_periods

    european = tmp_path / "mixed.csv"
    european.write_bytes(
        (FIELD / "12-european-semicolon-decimal-comma" / "sample.csv").read_bytes()
        + b"A-10099;V-77199;01.13.2026 10:00;Telefon;4 - Zufrieden;8;4,5;0,00;Danke\r\n"
    )
    month_first = tmp_path / "month-first.toml"
    month_first.write_text(
        (DEFINITION.parent / "european-feedback.toml")
        .read_text()
        .replace('format = "%d.%m.%Y %H:%M"', 'format = "%m.%d.%Y %H:%M"')
    )
    settings = register_source(Settings(data_dir=str(tmp_path / "data")), str(month_first))
    landed_at = datetime(2026, 6, 1, 9, tzinfo=UTC)
    landing = land_delivery(settings, load_definition(str(month_first)), european, landed_at)
    assert max(landed_periods(settings)) < date(2026, 6, 1)  # none after the delivery
    assert landing.undated == (4, date(2026, 1, 3), "the day most of its dated rows fall on")
    read = kept = quarantined = 0
    for period in landed_periods(settings):
        validated = stages.validate_day(settings, period, "r", datetime(2026, 6, 2, tzinfo=UTC))
        stages.publish_clean(settings, validated, {"run_id": "r"})
        read += validated.counts.surveys_read
        kept += validated.counts.kept
        quarantined += validated.counts.quarantined
    assert read == landing.rows == kept + quarantined == 9
    future = (
        scan_table(settings.quarantine_dir)
        .filter(pl.col("record_id") == "A-10005")
        .collect()
        .select("survey_date", "source_line", "reasons")
    )
    assert future.rows() == [
        (
            date(2026, 1, 3),
            6,
            [
                "submitted_at: '12.03.2026 07:59' is after the delivery was landed "
                "(2026-06-01 09:00 UTC), in the future: check that the definition's format "
                "for it (%m.%d.%Y %H:%M) reads this export's dates"
            ],
        )
    ]


def test_a_partition_that_failed_before_recording_runs_again_next_night(
    prefect_api: None, tmp_path: Path
) -> None:
    """Found by a new user's trial: a partition refused as dated in the future failed before
    anything was recorded, so the date's state, and with it the run's idempotency key,
    stayed the same; every later run said "duplicate: already ran as ... (Failed)" and the
    date could never run again, by the nightly run or a backfill. The failed run is now
    followed like a crashed one, and the date runs (here, fails again, saying why)."""
    from datetime import UTC

    from flows.pipeline import finished_rows, nightly_sources
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery, landed_periods

    base = Settings(data_dir=str(tmp_path / "data"))
    calls = register_source(base, str(DEFINITION))
    later = tmp_path / "calls-2099.csv"
    later.write_text(CALLS.read_text(encoding="utf-8-sig").replace("/2021,", "/2099,"))
    # Landed by a clock set in 2099: its rows are not after their delivery, so they land in
    # partitions of dates still to come, which no run can process yet.
    land_delivery(
        calls, load_definition(str(DEFINITION)), later, datetime(2099, 12, 31, tzinfo=UTC)
    )
    future = [p.isoformat() for p in landed_periods(calls)]
    assert future and all(p.startswith("2099-") for p in future)

    def outcomes() -> dict[str, tuple[str, str]]:
        rows = finished_rows(nightly_sources(NIGHT, base, return_state=True), "the run")
        return {r["day"]: (r["outcome"], r["error"]) for r in rows if r["day"] in future}

    for night in range(2):
        seen = outcomes()
        assert set(seen) == set(future), night
        for outcome, error in seen.values():
            assert outcome == "failed" and "is in the future" in error, (night, error)


def test_a_source_backfill_of_a_range_without_partitions_says_which_it_has(
    tmp_path: Path,
) -> None:
    """Found by a new user's trial: it printed "(no rows)" and "no dates", exit 0, and
    rewrote the run report; a mistyped range looked like a backfill that did nothing."""
    from datetime import UTC

    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    base = Settings(data_dir=str(tmp_path / "data"))
    calls = register_source(base, str(DEFINITION))
    with pytest.raises(ValueError, match=r"nothing is landed for it yet: drop its exports into"):
        backfill_dates(base, date(2020, 1, 1), date(2020, 1, 31), calls.source)
    # Exports waiting in the inbox are named, not asked for (trial 82 had 29 there).
    waiting = calls.inbox_dir / "calls.csv"
    waiting.write_bytes(CALLS.read_bytes())
    settled = datetime.now().timestamp() - 120
    os.utime(waiting, (settled, settled))
    with pytest.raises(ValueError) as refused:
        backfill_dates(base, date(2021, 1, 1), date(2021, 1, 31), calls.source)
    assert str(refused.value).endswith(
        f"nothing is landed for it yet, and 1 file(s) wait in {calls.inbox_dir}: "
        "`servicelens run` lands them"
    ), refused.value
    waiting.unlink()
    land_delivery(calls, load_definition(str(DEFINITION)), CALLS, datetime(2021, 4, 1, tzinfo=UTC))
    with pytest.raises(ValueError) as refused:
        backfill_dates(base, date(2020, 1, 1), date(2020, 1, 31), calls.source)
    assert str(refused.value) == (
        f"source {calls.source!r} has no landed partition between 2020-01-01 and 2020-01-31; "
        "its 7 landed partition(s) span 2021-01-01..2021-03-31"
    )
    assert backfill_dates(base, date(2021, 1, 1), date(2021, 1, 31), calls.source)[1] == [
        date(2021, 1, 1),
        date(2021, 1, 2),
        date(2021, 1, 13),
    ]


def test_the_nightly_run_says_what_sources_run_says_of_a_delivery(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: a week of a day-first export read month-first was named at landing
    by `sources run` only; the nightly run (`servicelens run`), which lands the same inbox,
    printed its counts and nothing else. It prints the delivery's notes under its table (a
    misspelt label column), and fails on one it refuses (that week, refused since a later
    trial's misdated call log)."""
    from servicelens.cli.main import main

    definition = tmp_path / "week.toml"
    definition.write_text(
        'name = "week"\ntimezone = "Europe/Berlin"\n[read]\ndelimiter = ";"\n'
        '[columns]\nresponse_id = "ID"\n'
        'submitted_at = { column = "Eingang", format = "%m.%d.%Y %H:%M" }\n'
        'channel = { value = "phone" }\ncsat = "Note"\n'
        '[label]\ncolumn = "Outcom"\n[label.values]\n"Refund" = "policy_failure"\n'
    )
    data = str(tmp_path / "data")
    week = register_source(Settings(data_dir=data), str(definition))
    _drop(
        week,
        definition,
        "week.csv",
        "ID;Eingang;Note\n" + "".join(f"W{d};0{d}.03.2026 09:00;4\n" for d in range(1, 9)),
    )
    assert main(["--data-dir", data, "run", "--date", "2026-03-02"]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "week (inbox) failed " + str(Path(data) / "inbox" / "week" / "week.csv") + ": line 2: "
        "submitted_at '01.03.2026 09:00' reads either way round"
    ) in said
    assert "2026-03-01 completed" not in said

    _drop(
        week,
        definition,
        "week.csv",
        "ID;Eingang;Note\n" + "".join(f"W{d};03.0{d}.2026 09:00;4\n" for d in range(1, 9)),
    )
    assert main(["--data-dir", data, "run", "--date", "2026-03-02"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "week: week.csv: the label column 'Outcom' of the definition's [label] is not in this "
        "export, so none of its rows is labelled"
    ) in said
    assert said.count("week.csv: the label column") == 1


def test_run_of_a_date_only_a_source_delivered_skips_the_sample_and_runs_the_source(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: in a data directory holding the sample's layout and a configured
    source, `servicelens run --date D` of a day the sample has no export for failed on it
    ("no survey export", exit 2) and never landed the source's inbox. The sample's date is
    skipped, saying why, and the source's partitions run."""

    from servicelens.cli.main import main

    data, week, definition = _week_source(tmp_path)
    # The sample's layout holds another day (any file named surveys.csv marks it).
    other = Path(data) / "raw" / "2026-03-01" / "surveys.csv"
    other.parent.mkdir(parents=True)
    other.write_text("response_id\n")
    _drop(
        week, definition, "week.csv", "ID,At,Score\nW1,2026-03-02 09:00,4\nW2,2026-03-02 10:00,2\n"
    )
    assert main(["--data-dir", data, "run", "--date", "2026-03-02"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    missing = Path(data) / "raw" / "2026-03-02" / "surveys.csv"
    assert f"2026-03-02: sample skipped: no survey export ({missing}): nothing to process" in said
    assert "week 2026-03-02 completed" in said, said

    _drop(week, definition, "late.csv", "ID,At,Score\nW3,2026-03-02 11:00,5\n")
    assert main(["--data-dir", data, "run", "--date", "2026-03-02", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["sample"]["skipped"].startswith(f"no survey export ({missing})")
    assert [(r["source"], r["day"], r["outcome"]) for r in printed["sources"]] == [
        ("week", "2026-03-02", "completed")
    ]


def test_run_of_a_date_whose_sample_export_fails_still_runs_the_sources(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an operations engineer's trial: one bad export in the sample's raw/<date>/
    failed `servicelens run` (exit 2) before any configured source's inbox was landed. The
    sample's date fails, said on stderr, the sources run, and the run exits 1."""

    from servicelens.cli.main import main

    data, week, definition = _week_source(tmp_path)
    bad = Path(data) / "raw" / "2026-03-02" / "surveys.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("respondent,score\nA1,4\n")
    _drop(week, definition, "week.csv", "ID,At,Score\nW1,2026-03-02 09:00,4\n")
    assert main(["--data-dir", data, "run", "--date", "2026-03-02"]) == 1
    shown = capsys.readouterr()
    said = " ".join(shown.out.split())
    assert "week 2026-03-02 completed" in said, said
    assert shown.err.startswith("servicelens: error: 2026-03-02: sample failed: "), shown.err
    assert str(bad) in shown.err and "Traceback" not in shown.err

    _drop(week, definition, "late.csv", "ID,At,Score\nW2,2026-03-02 11:00,5\n")
    assert main(["--data-dir", data, "run", "--date", "2026-03-02", "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert str(bad) in printed["sample"]["failed"]
    assert [(r["source"], r["outcome"]) for r in printed["sources"]] == [("week", "completed")]


def test_a_run_that_kept_none_of_a_deliverys_rows_exits_4(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an operations engineer's trial: a delivery whose 24 rows were all
    quarantined (its dates in a format the definition did not read) was a `completed`
    partition and exit 0, so cron or systemd had nothing to act on. Such a run exits 4;
    one that kept a row exits 0. `sources run`, landing a delivery by hand, does the same."""
    from servicelens.cli.main import main

    data, week, definition = _week_source(tmp_path)

    def rows(first_score: int) -> str:
        return "".join(f"W{i},2026-03-02 09:{i:02d},{i % 5 + first_score}\n" for i in range(12))

    # Scores of 11 and more: every row out of the 1-5 range, and quarantined for it.
    _drop(week, definition, "bad.csv", "ID,At,Score\n" + rows(11))
    assert main(["--data-dir", data, "run", "--date", "2026-03-02"]) == 4
    said = " ".join(capsys.readouterr().out.split())
    assert "week 2026-03-02 completed read 12 kept 0 quarantined 12" in said, said
    assert "none of its 12 rows was kept" in said
    # The corrected delivery replaces them: kept, exit 0.
    _drop(week, definition, "good.csv", "ID,At,Score\n" + rows(1))
    assert main(["--data-dir", data, "run", "--date", "2026-03-02"]) == 0

    # By hand, a week later: a delivery that keeps none of its rows exits 4, with --json too.
    def later(first_score: int) -> str:
        return "ID,At,Score\n" + rows(first_score).replace("2026-03-02", "2026-03-09").replace(
            "W", "L"
        )

    late = tmp_path / "late.csv"
    late.write_text(later(11))
    capsys.readouterr()
    assert main(["--data-dir", data, "--json", "sources", "run", "week", str(late)]) == 4
    printed = json.loads(capsys.readouterr().out)
    assert [(r["surveys_read"], r["kept"]) for r in printed["ingested"]] == [(12, 0)]
    late.write_text(later(1))
    assert main(["--data-dir", data, "sources", "run", "week", str(late)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "read 24, kept 12, quarantined 12" in said, said


def test_a_call_log_without_customer_ids_says_returns_cannot_be_measured(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial: the call-centre definition maps no customer id, and its
    1,500 calls gave agent_outcomes 'too few contacts' at 45-71 contacts per agent-week with
    no settled one; the report said "later dates settle them", and
    `query agents_whose_customers_come_back` printed "(no rows)". A contact settles only
    once the customer could be recognised coming back: without a customer id none ever
    does, and the mart, the report and the query say so, and what to map."""
    from servicelens.cli.main import main

    data = ["--data-dir", str(tmp_path / "data")]
    # Without its Resolved flag too (the definition maps it: first-contact resolution then
    # comes from it, tests/sources/test_resolved_first_contact.py).
    unflagged = tmp_path / "call-centre.toml"
    unflagged.write_text(
        DEFINITION.read_text(encoding="utf-8").replace('resolved_first_contact = "Resolved"', "")
    )
    assert "resolved_first_contact" not in unflagged.read_text().split("[columns]")[1]
    assert main([*data, "sources", "run", str(unflagged), str(CALLS)]) == 0
    calls = Settings(data_dir=str(tmp_path / "data"), source="pwc-call-centre")
    agents = scan_table(calls.marts_dir / "agent_outcomes").collect()
    with_agent = agents.filter(pl.col("agent").is_not_null())
    assert with_agent.height and with_agent.get_column("status").unique().to_list() == [
        "no customer id"
    ]
    assert with_agent.get_column("settled_contacts").sum() == 0
    html = (tmp_path / "data" / "reports" / "latest.html").read_text(encoding="utf-8")
    section = re.search(r'<section id="agents">(.*?)</section>', html, re.S)
    assert section is not None
    said = re.sub(r"\s+", " ", section.group(1))
    assert "later dates settle them" not in said
    assert (
        "The contacts of pwc-call-centre carry no customer id, so a customer coming back "
        "cannot be recognised: first-contact resolution cannot be measured, and no agent "
        "is judged on it" in said
    )
    assert (
        "map its column as <code>customer_id</code> in the source definition's "
        "<code>[columns]</code>" in said
    )
    capsys.readouterr()
    query = [*data, "query", "agents_whose_customers_come_back", "--source", "pwc-call-centre"]
    assert main(query) == 0
    note = capsys.readouterr().err
    assert f"agent_outcomes' status: 'no customer id' {with_agent.height:,}" in note


def _zendesk_download(edits: dict[int, dict[str, object]] | None = None) -> dict[str, object]:
    """200 satisfaction ratings of 2026-11-20 as Zendesk's API export gives them (GET
    /api/v2/satisfaction_ratings): every 8th only offered (25 set aside by the preset), the
    rest good or bad; ``edits`` changes the fields of the ratings at those positions."""
    ratings = []
    for i in range(200):
        at = datetime(2026, 11, 20, 6, 0) + timedelta(minutes=5 * i)
        score = "offered" if i % 8 == 7 else ("bad" if i % 3 == 0 else "good")
        rating: dict[str, object] = {
            "url": f"https://acme.zendesk.com/api/v2/satisfaction_ratings/{35000001000 + i}.json",
            "id": 35000001000 + i,
            "assignee_id": 360000100 + i % 7,
            "group_id": 3600042,
            "requester_id": 380000000 + i,
            "ticket_id": 91000 + i,
            "score": score,
            "created_at": f"{at:%Y-%m-%dT%H:%M:%SZ}",
            "updated_at": f"{at + timedelta(minutes=3):%Y-%m-%dT%H:%M:%SZ}",
            "comment": None if score == "offered" else f"Ticket {91000 + i}: handled",
            "reason": None,
        }
        ratings.append({**rating, **(edits or {}).get(i, {})})
    return {"satisfaction_ratings": ratings, "next_page": None, "previous_page": None,
            "count": 200}  # fmt: skip


def test_a_zendesk_download_repeating_ratings_keeps_one_copy_of_each(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial: a second download repeating the 200 ratings already
    landed (the same ratings as one-line JSON, one comment edited) quarantined every
    repeated rating in both files as "used by more than one different response", though
    their records were byte-identical, and the run exited 4. Their updated_at (the
    preset's delivered_at) is the same, so the later download wins, as the preset says of
    repeated deliveries; a changed rating with a later updated_at wins whichever lands last.

    A download repeating ratings is a cumulative export: a rating the same as its copy in
    force is counted in the landed manifest (``unchanged_copies``, naming the download it
    repeats), not stored nor quarantined again (it quarantined 199 such copies, then 399:
    read 400 kept 175 quarantined 225, then 600 / 175 / 425). Nothing read is lost: each
    download's ratings = its rows landed + its unchanged copies, and each night's date
    read = kept + quarantined + erased."""
    from servicelens.cli.main import main

    data = str(tmp_path / "data")
    definition = tmp_path / "z.toml"
    definition.write_text('extends="zendesk"\nname="acme-zendesk"\n')
    assert main(["--data-dir", data, "sources", "add", str(definition)]) == 0
    zendesk = configured_source(Settings(data_dir=data), "acme-zendesk")
    day = date(2026, 11, 20)

    def run(name: str, document: dict[str, object], indent: int | None) -> dict[str, object]:
        _drop(zendesk, definition, name, json.dumps(document, indent=indent))
        capsys.readouterr()
        code = main(["--data-dir", data, "--json", "run", "--date", "2026-11-30"])
        (row,) = [r for r in json.loads(capsys.readouterr().out)["sources"] if r["day"] == str(day)]
        assert code == 0 and row["outcome"] == "completed", row
        result: dict[str, object] = row["result"]
        # The date's own reconciliation, as published.
        assert result["surveys_read"] == result["kept"] + result["quarantined"] + result["erased"]
        return result

    def by_delivery() -> dict[str, tuple[int, int, dict[str, int]]]:
        """Per download (its name): rows landed, unchanged copies counted, and of which
        earlier download (its name) those are copies."""
        landed = scan_table(zendesk.landed_dir).collect()
        stored = dict(
            landed.group_by(pl.col("source_file").str.extract(r"-(ratings.*)$")).len().iter_rows()
        )
        manifest = read_manifest(zendesk.landed_dir, day) or {}
        counted = {
            Path(entry["file"]).name.split("-", 1)[1]: (
                entry["rows"],
                {Path(of).name.split("-", 1)[1]: n for of, n in entry["of"].items()},
            )
            for entry in manifest.get("unchanged_copies", {}).values()
        }
        return {
            name: (stored.get(name, 0), *counted.get(name, (0, {})))
            for name in sorted({*stored, *counted})
        }

    first = run("ratings.json", _zendesk_download(), 2)
    assert (first["surveys_read"], first["kept"], first["quarantined"]) == (200, 175, 25)

    edited = {4: {"comment": "Ticket 91004: handled, and called back"}}
    again = run("ratings (1).json", _zendesk_download(edited), None)
    # The 199 ratings the second download repeats as they were are counted in the landed
    # manifest, naming the first; only the edited one is landed, and the date reads 201:
    # kept 175, quarantined the 25 offered (unrated) ratings the preset sets aside and the
    # edited rating's earlier copy.
    assert (again["surveys_read"], again["kept"], again["quarantined"]) == (201, 175, 26)
    assert by_delivery() == {
        "ratings.json": (200, 0, {}),
        "ratings (1).json": (1, 199, {"ratings.json": 199}),
    }
    clean = read_partition(zendesk.clean_dir, day)
    assert clean.get_column("response_id").n_unique() == 175
    comments = dict(clean.select("response_id", "comment").iter_rows())
    assert comments["35000001004"] == "Ticket 91004: handled, and called back"
    # A kept rating names the download its copy in force was landed from, at that copy's
    # place (the first, for the 174 the second repeated unchanged; the second for the edit).
    files = dict(
        clean.select("response_id", pl.col("source_file").str.extract(r"-(ratings.*)$")).iter_rows()
    )
    assert files.pop("35000001004") == "ratings (1).json"
    assert set(files.values()) == {"ratings.json"}
    quarantine = read_partition(zendesk.quarantine_dir, day)
    reasons = quarantine.get_column("reasons").list.first()
    assert not reasons.str.contains("more than one different response").any()
    (updated,) = reasons.filter(reasons.str.starts_with("updated: superseded")).to_list()
    assert updated.endswith("changed: comment)")
    assert not reasons.str.starts_with("duplicate delivery").any()
    assert quarantine.get_column("superseded").sum() == 1
    assert quarantine.filter(~pl.col("superseded")).get_column("record_id").n_unique() == 25

    # A third download: the same ratings again, one changed since (bad -> good) with a
    # later updated_at, which wins; the rest keep their latest copy.
    changed = {3: {"score": "good", "comment": "Sorted", "updated_at": "2026-11-22T10:00:00Z"}}
    third = run("ratings-page.json", {**_zendesk_download(changed), "count": 201}, 2)
    # Landed: the changed rating, and the edited one as the first download had it (it differs
    # from its copy in force, the second's); the 198 others are counted, naming the first.
    assert (third["surveys_read"], third["kept"], third["quarantined"]) == (203, 175, 28)
    assert by_delivery()["ratings-page.json"] == (2, 198, {"ratings.json": 198})
    clean = read_partition(zendesk.clean_dir, day)
    rating = clean.filter(pl.col("response_id") == "35000001003").row(0, named=True)
    assert (rating["rating"], rating["comment"]) == ("good", "Sorted")


def test_a_file_landed_again_under_a_changed_definition_is_named_by_the_run(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a user trial: after `sources add --replace` with a changed definition, the
    same bytes dropped again ("calls (1).csv") were landed again and left the inbox, and
    `servicelens run` named them nowhere (no row, no note, no JSON entry). The run says
    each was landed again, as which earlier delivery, and which partitions that changed;
    when its rows are the same under the new rules, that it changed none."""
    from servicelens.cli.main import main
    from servicelens.cli.sources import outcomes_text

    data = str(tmp_path / "data")
    calls = register_source(Settings(data_dir=data), str(DEFINITION))
    _drop(calls, CALLS, "calls.csv")
    night = ["--data-dir", data, "run", "--date", NIGHT.isoformat(), "--json"]
    assert main(night) == 0
    capsys.readouterr()

    def replaced_by(old: str, new: str) -> None:
        changed = tmp_path / "changed.toml"
        changed.write_text(DEFINITION.read_text().replace(old, new))
        assert main(["--data-dir", data, "sources", "add", str(changed), "--replace"]) == 0
        capsys.readouterr()

    # A value no row holds: other rules, the same rows.
    replaced_by('N = "unresolved" }', 'N = "unresolved", X = "unresolved" }')
    _drop(calls, CALLS, "calls (1).csv")
    assert main(night) == 0
    rows = json.loads(capsys.readouterr().out)["sources"]
    [named] = [r for r in rows if r["result"].get("inbox_file", "").endswith("calls (1).csv")]
    assert named["outcome"] == "skipped"
    assert named["error"] == (
        "calls (1).csv: landed again under the changed definition (the same bytes as "
        "calls.csv, landed before); its rows are the same under it: no partition changed"
    )
    assert [r["outcome"] for r in rows if not r["result"].get("inbox_file")] == ["skipped"]
    text = outcomes_text(rows, Settings(data_dir=data)).splitlines()
    line = next(x for x in text if "calls (1).csv" in x)
    assert line.split()[:3] == [calls.source, "(inbox)", "skipped"]
    assert pending_deliveries(calls) == []

    # Rules that change every row: the partitions change and run again, and the run says why.
    replaced_by('channel = { value = "phone" }', 'channel = { value = "voice" }')
    _drop(calls, CALLS, "export (1).csv")
    assert main(night) == 0
    rows = json.loads(capsys.readouterr().out)["sources"]
    ran = sorted(r["day"] for r in rows if r["outcome"] == "completed")
    assert ran == [d.isoformat() for d in CALL_DATES]
    notes = [note for r in rows for note in r["result"].get("landing_notes", [])]
    assert notes == [
        "export (1).csv: landed again under the changed definition (the same bytes as "
        f"calls.csv, landed before); it changed the partitions of {', '.join(ran)}"
    ]
    said = outcomes_text(rows, Settings(data_dir=data))
    assert f"{calls.source}: {notes[0]}" in said.splitlines()


def test_a_definitions_negative_threshold_decides_its_landed_negatives_and_is_named(
    prefect_api: None, tmp_path: Path
) -> None:
    """Found by a new user's trial: an airline's QA audited csat-3 responses, `negative =
    "csat <= 3"` was refused, and 82 of 410 audits were set aside as "not negative" with no
    word of the rule. Through the real `sources run`: the definition's threshold decides
    the clean layer's negatives, and the audit tally names the rule."""
    import duckdb

    from servicelens.ingest.audits import accounting_text
    from servicelens.stages import audit_report
    from tests.sources.configured_run import run_configured_source

    definition = (
        'name = "airline"\nnegative = "csat <= 3"\n[columns]\nresponse_id = "ID"\n'
        'submitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
        'channel = { value = "phone" }\ncsat = "Score"\n'
    )
    export = "ID,At,Score\n" + "".join(
        f"A{score},2026-01-12 09:0{score},{score}\n" for score in range(1, 6)
    )
    data, read = run_configured_source(tmp_path, "airline", definition, export)
    negatives = duckdb.sql(
        f"SELECT response_id, is_negative FROM {read('clean/responses')} ORDER BY 1"
    ).fetchall()
    assert negatives == [("A1", True), ("A2", True), ("A3", True), ("A4", False), ("A5", False)]
    source = configured_source(Settings(data_dir=str(data)), "airline")
    source.audits_dir.mkdir(parents=True, exist_ok=True)
    (source.audits_dir / "qa.csv").write_text(
        "response_id,root_cause,audited_at,auditor\n"
        "A3,perceived,2026-01-13,qa-ann\nA4,perceived,2026-01-13,qa-ann\n"
    )
    report = audit_report(source)
    assert report is not None and (report["used"], report["of_a_response_not_negative"]) == (1, 1)
    assert (
        '1 for a response that is not negative (by the definition\'s negative = "csat <= 3")'
        in accounting_text(report)
    )


def test_dates_cleaned_under_an_older_negative_rule_run_again_under_the_new_one(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: `negative = "csat <= 3"` set (and registered with --replace) after
    a date had run left its csat-3 responses not negative, the tally blamed the new rule
    for it, and the docs said to drop every export again. Through the real commands: the
    replacement and the tally name the date and the rule it was cleaned under, and the next
    `servicelens run` cleans it again under the new rule, no export dropped again."""
    import duckdb

    from servicelens.cli.main import main
    from servicelens.ingest.audits import accounting_text
    from servicelens.stages import audit_report
    from tests.sources.configured_run import run_configured_source

    columns = (
        '[columns]\nresponse_id = "ID"\nsubmitted_at = { column = "At", format = '
        '"%Y-%m-%d %H:%M" }\nchannel = { value = "phone" }\ncsat = "Score"\n'
    )
    export = "ID,At,Score\n" + "".join(
        f"A{score},2026-01-12 09:0{score},{score}\n" for score in range(1, 6)
    )
    data, read = run_configured_source(tmp_path, "airline", f'name = "airline"\n{columns}', export)
    settings = Settings(data_dir=str(data))
    source = configured_source(settings, "airline")
    source.audits_dir.mkdir(parents=True, exist_ok=True)
    (source.audits_dir / "qa.csv").write_text(
        "response_id,root_cause,audited_at,auditor\n"
        "A1,policy_failure,2026-01-13,qa-ann\nA3,perceived,2026-01-13,qa-ann\n"
    )
    changed = tmp_path / "airline-3.toml"
    changed.write_text(f'name = "airline"\nnegative = "csat <= 3"\n{columns}')
    capsys.readouterr()
    assert main(["--data-dir", str(data), "sources", "add", str(changed), "--replace"]) == 0
    said = capsys.readouterr().out
    assert (
        'the definition calls a response negative by negative = "csat <= 3", but 1 date(s) '
        'cleaned under "csat <= 2" (2026-01-12)'
    ) in said
    assert "--start 2026-01-12 --end 2026-01-12 --rerun changed" in said

    source = configured_source(settings, "airline")
    report = audit_report(source)
    assert report is not None and (report["used"], report["of_a_response_not_negative"]) == (1, 1)
    [row] = report["unused_rows"]
    assert row["reason"].startswith(
        "response_id: 'A3' is not a negative response by negative = \"csat <= 2\", the rule "
        'its date was cleaned under; the definition now says "csat <= 3"'
    )
    assert 'cleaned under "csat <= 2" (2026-01-12)' in accounting_text(report)

    # The next nightly run cleans the date again: A3 is negative, the manifest says by what.
    assert main(["--data-dir", str(data), "run"]) == 0
    negatives = duckdb.sql(
        f"SELECT response_id FROM {read('clean/responses')} WHERE is_negative ORDER BY 1"
    ).fetchall()
    assert negatives == [("A1",), ("A2",), ("A3",)]
    manifest = read_manifest(source.clean_dir, date(2026, 1, 12))
    assert manifest is not None and manifest["negative_rule"] == "csat <= 3"
    report = audit_report(source)
    assert report is not None and (report["used"], report["cleaned_under_other_rules"]) == (2, "")
