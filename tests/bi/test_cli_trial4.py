"""A user trial of the command line on a data directory holding only configured sources.

``backfill --dry-run`` there planned 30 dates that "would fail at once: no export" and exited
0, while the real run refused, exit 2, saying to backfill one source at a time: both now
take every configured source. ``report --source NAME`` of a source without a model told to run
``servicelens train`` and ``servicelens backfill ... --rerun all``, which act on the sample:
its hints name the source. ``serve --help`` said it needs PREFECT_API_URL (it serves on the
temporary embedded API without it, where no schedule creates a run: the help says so), and
``serve``, ``score`` and ``models`` had no examples. Everything runs in-process, without
starting Prefect.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import configured_source
from servicelens.settings import Settings

#: The trial's range, a year earlier: a past month whatever the day the tests run.
START, END = "2025-11-01", "2025-11-30"
DRY_RUN = ["backfill", "--start", START, "--end", END, "--dry-run"]


def _sources_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A data directory with one configured source (the zendesk preset) and no sample
    exports (raw/<date>/), configured as a user does it."""
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "sources", "add", "zendesk"]) == 0
    capsys.readouterr()
    return data


def test_a_dry_run_backfill_of_a_sources_only_directory_plans_every_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A later trial: the run refused without --source ("backfill one source at a time"),
    one command per source to re-run a month. Both now take every configured source; the
    dry run plans each as ``--source NAME --dry-run`` does (nothing landed here: it says
    so), never the sample's dates, which would all fail at once."""
    data = _sources_only(tmp_path, capsys)
    assert main(["--data-dir", data, "sources", "add", "cfpb"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, *DRY_RUN]) == 0
    shown = capsys.readouterr().out
    assert "source cfpb:" in shown and "source zendesk:" in shown
    assert "no landed partition of source 'zendesk'" in shown
    assert "would fail at once" not in shown
    assert main(["--data-dir", data, *DRY_RUN, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    # With --source, the source's own partitions are planned (none landed yet: it says so).
    code = main(["--data-dir", data, *DRY_RUN, "--source", "zendesk"])
    assert code == 2
    assert "source 'zendesk' has no landed partition" in capsys.readouterr().err


def test_the_backfill_flows_dry_run_plans_every_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flow's own plan (flows/pipeline.py), for a deployment's run: each source's landed
    partitions, each row naming its source; none of the sample's dates."""
    from unittest import mock

    from flows.pipeline import backfill
    from servicelens.storage.partitions import MANIFEST_FILE

    data = _sources_only(tmp_path, capsys)
    landed = configured_source(Settings(data_dir=data), "zendesk").landed_dir
    (landed / f"survey_date={START}").mkdir(parents=True)
    (landed / f"survey_date={START}" / MANIFEST_FILE).write_text("{}")
    with mock.patch("flows.pipeline.publish_run_summary"):
        state = backfill.fn(
            date.fromisoformat(START), date.fromisoformat(END), data_dir=data, dry_run=True
        )
    rows = state.result()
    assert [(r["source"], r["day"], r["run"]) for r in rows] == [("zendesk", START, True)]


def test_a_sources_report_names_the_source_in_its_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _sources_only(tmp_path, capsys)
    assert main(["--data-dir", data, "report", "--source", "zendesk"]) == 0
    shown = capsys.readouterr().out
    missing = [line for line in shown.splitlines() if "not available:" in line]
    # A later trial: the page's header read "champion None" for a source with no model.
    page = next(Path(data, "reports").glob("report-*.html")).read_text(encoding="utf-8")
    assert "no champion model yet" in page and "champion <code>None</code>" not in page
    text = "\n".join(missing)
    named = f"servicelens --data-dir {data}"
    assert f"`{named} train --source zendesk` (on the labels it has landed" in text
    assert f"`{named} backfill --source zendesk --start ... --end ... --rerun all`" in text
    assert f"`{named} backfill --source zendesk --start ... --end ...`" in text
    assert f"`{named} train --source zendesk`" in page  # the report's own hints too
    # Every command a hint names is the source's, never the sample's.
    assert f"`{named} train`" not in text and f"`{named} backfill`" not in text
    assert f"`{named} backfill --start" not in text


def test_the_samples_report_hints_are_unchanged(tmp_path: Path) -> None:
    from servicelens.reporting.report import _backfill_hint, _not_scored
    from servicelens.reporting.suggested import train_hint

    sample = Settings(data_dir=str(tmp_path / "data"))
    assert train_hint(sample) == "`servicelens train`"
    assert _backfill_hint(sample) == "`servicelens backfill`"
    assert _not_scored(sample) == (
        "no model has scored the negatives yet, so there is nothing to recommend: run "
        "`servicelens train`, then re-run the dates (`servicelens backfill --start ... --end "
        "... --rerun all`)"
    )
    from servicelens.ingest.configured import register_source

    register_source(sample, "zendesk")
    source = configured_source(sample, "zendesk")
    assert "--source zendesk --start ... --end ... --rerun all" in _not_scored(source)

    # Once the source has landed partitions, the hints name their range, not placeholders
    # (a platform engineer's upgrade trial copied "--start ... --end ..." from a report).
    from servicelens.storage.partitions import MANIFEST_FILE

    for day in ("2026-11-02", "2026-11-05"):
        landed = source.landed_dir / f"survey_date={day}"
        landed.mkdir(parents=True)
        (landed / MANIFEST_FILE).write_text("{}")
    span = "--start 2026-11-02 --end 2026-11-05"
    assert _backfill_hint(source) == f"`servicelens backfill --source zendesk {span}`"
    assert f"`servicelens backfill --source zendesk {span} --rerun all`" in _not_scored(source)
    assert _backfill_hint(source, " --start 2026-11-03 --end 2026-11-03 --rerun failed") == (
        "`servicelens backfill --source zendesk --start 2026-11-03 --end 2026-11-03 --rerun failed`"
    )


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "command",
    ["serve", "score", "models", "models list", "models promote", "models rollback"],
)
def test_help_gives_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    shown = _help(capsys, *command.split())
    assert "example:" in shown, shown
    examples = shown.split("example:", 1)[1]
    assert f"servicelens {command}" in examples


def test_serve_help_says_what_it_does_without_a_prefect_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without PREFECT_API_URL serve runs on a temporary embedded API started with Prefect's
    scheduler, so the schedules fire (tests/flows/test_schedules.py runs one); the help
    says so, and points production at a server."""
    listed = _help(capsys)
    shown = _help(capsys, "serve")
    assert "needs PREFECT_API_URL" not in listed + shown
    assert "PREFECT_API_URL" in listed
    assert "temporary embedded API with Prefect's scheduler" in shown
    assert "as long as this command" in shown and "schedules fire while it runs" in shown
    assert "no scheduler" not in shown and "prefect server start" in shown


def test_train_in_a_sources_only_directory_names_the_source_to_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a later trial: ``train`` there said there was no clean data and to run
    ``servicelens backfill``, which refuses in such a directory; it names the source."""
    data = _sources_only(tmp_path, capsys)
    code = main(["--data-dir", data, "train"])
    shown = capsys.readouterr()
    assert code == 2, shown
    assert shown.err.splitlines()[0] == (
        f"servicelens: error: {data} holds no sample dates, only configured sources "
        f"(zendesk): ask for one with `servicelens --data-dir {data} train --source zendesk`"
    )
    # Asked for, a source with nothing landed yet is told where its exports go (a second
    # trial was told to run the sample's backfill).
    assert main(["--data-dir", data, "train", "--source", "zendesk"]) == 2
    assert (
        "no clean data yet, so nothing to train on; ingest some dates first: drop its exports "
        f"in {data}/inbox/zendesk and run `servicelens --data-dir {data} run`, or `servicelens "
        f"--data-dir {data} sources run zendesk FILE...`"
    ) in capsys.readouterr().err


def test_report_in_a_sources_only_directory_writes_each_sources_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an airline's trial: ``report`` in a directory holding only configured
    sources refused without ``--source``, while ``run`` and ``backfill`` take every source.
    It writes each source's report, as the nightly run does; ``--source`` still picks one."""
    import json

    data = _sources_only(tmp_path, capsys)
    assert main(["--data-dir", data, "sources", "add", "qualtrics"]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "--json", "report"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert [Path(r["latest"]).name for r in written] == [
        "latest-qualtrics.html",
        "latest-zendesk.html",
    ]
    assert all(Path(r["report"]).exists() for r in written)
    assert main(["--data-dir", data, "report", "--source", "zendesk"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith(f"report written: {data}/reports/report-")
    assert shown[0].endswith("-zendesk.html") and len(shown) > 2


def test_the_unscored_note_names_each_feeds_own_commands() -> None:
    """Found by the same trial: ``query`` over a directory of configured sources advised
    `servicelens train` and `servicelens backfill`, which act on the sample only."""
    import duckdb

    from servicelens.reporting.analyst import unscored_note

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE feedback_scored AS SELECT * FROM (VALUES (true, NULL, 'cfpb'), "
        "(true, NULL, 'sample'), (false, NULL, 'zendesk')) t(is_negative, root_cause, source)"
    )
    note = unscored_note(con)
    assert note is not None and note.startswith("note: none of the 2 negative responses")
    assert note.endswith(
        "To score them, run `servicelens train --source cfpb`, then `servicelens backfill "
        "--source cfpb --start ... --end ... --rerun all`; and `servicelens train`, then "
        "`servicelens backfill --start ... --end ... --rerun all`."
    )


def test_models_without_a_model_say_what_to_train_and_name_the_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a review: ``models --source zendesk show`` with nothing trained said "no
    champion yet; name a version (`models list`)", and ``models list`` listed nothing; in a
    directory of configured sources ``models show`` looked in the empty sample registry."""
    data = _sources_only(tmp_path, capsys)
    registry = f"{data}/models/sources/zendesk"
    assert main(["--data-dir", data, "models", "--source", "zendesk", "show"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"servicelens: error: {registry}: no model trained yet: `servicelens --data-dir {data} "
        "train --source zendesk` trains one"
    )
    assert main(["--data-dir", data, "models", "--source", "zendesk", "list"]) == 0
    assert capsys.readouterr().out == (
        f"no models in {registry}: `servicelens --data-dir {data} train --source zendesk` "
        "trains one\n"
    )
    # The command suggested works when pasted: the action follows --source (a QA lead's
    # trial pasted `models --source NAME` and was told an action is required).
    for action in (["show"], ["list"], ["promote", "v1"]):
        assert main(["--data-dir", data, "models", *action]) == 2
        assert capsys.readouterr().err.splitlines()[0] == (
            f"servicelens: error: {data} holds no sample dates, only configured sources "
            f"(zendesk): ask for one with `servicelens --data-dir {data} models --source "
            f"zendesk {' '.join(action)}`"
        )
    assert main(["--data-dir", data, "models", "--source", "zendesk", "promote", "nonsense"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"servicelens: error: cannot promote nonsense: {registry}/nonsense has no model; "
        f"`servicelens --data-dir {data} models --source zendesk list` names the versions there"
    )


def test_run_help_says_what_the_nightly_job_does(capsys: pytest.CaptureFixture[str]) -> None:
    """Found in a review: ``run --help`` gave only ``--date: default: yesterday``; that the
    run also lands every configured source's inbox was nowhere but in the README."""
    shown = _help(capsys, "run")
    assert "The nightly job" in shown and "inbox" in shown and "Exit status 1" in shown
    assert "default: yesterday in the business timezone" in " ".join(shown.split())


def test_source_is_a_configured_name_a_preset_or_a_file_and_a_typo_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: `score --source euro-feedback` (a source configured in
    the directory) was "neither a built-in definition nor a path"; a misspelt name was
    answered with the presets only (`models`) or as a missing --input (`train`)."""
    data = _sources_only(tmp_path, capsys)
    own = tmp_path / "euro.toml"
    own.write_text('extends = "zendesk"\nname = "euro-feedback"\n')
    assert main(["--data-dir", data, "sources", "add", str(own)]) == 0
    capsys.readouterr()
    export = tmp_path / "export.csv"
    export.write_text("x\n1\n")
    out = str(tmp_path / "scored.csv")
    assert main(["--data-dir", data, "score", "--source", "euro-feedback", "--input", str(export),
                 "--output", out]) == 2  # fmt: skip
    assert "no euro-feedback model yet" in capsys.readouterr().err
    for command in (["models", "--source", "euro-feedbak", "list"],
                    ["train", "--source", "euro-feedbak"],
                    ["score", "--source", "euro-feedbak", "--input", str(export),
                     "--output", out]):  # fmt: skip
        assert main(["--data-dir", data, *command]) == 2
        assert capsys.readouterr().err.splitlines()[0] == (
            f"servicelens: error: --source euro-feedbak: not a source configured in {data} "
            "(euro-feedback, zendesk), a built-in definition (cfpb, google_forms, "
            "microsoft_forms, qualtrics, sample, surveymonkey, typeform, zendesk) or a "
            "definition file; did you mean euro-feedback?"
        ), command


def test_a_source_named_like_the_sample_feed_is_refused_with_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: `sources add` of a definition named "sample" said the
    source 'sample' was not configured and to add it with `servicelens sources add`."""
    own = tmp_path / "mine.toml"
    own.write_text('extends = "qualtrics"\nname = "sample"\n')
    assert main(["--data-dir", str(tmp_path / "data"), "sources", "add", str(own)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"servicelens: error: {own}: name = 'sample' is the generated sample feed's own name "
        "(its layers are at the top of the data directory, not under sources/); give the "
        "source a name of its own in the definition's name line"
    )


def test_a_source_that_marks_nothing_negative_is_not_told_to_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: a Google Forms source (no csat, so nothing negative) was
    told by `run` to train a model, and `train` then asked for more audits."""
    from servicelens.cli.sources import outcomes_text

    data = str(tmp_path / "data")
    definition = Path(__file__).parents[1] / "sources" / "definitions" / "google-forms-hotdog.toml"
    assert main(["--data-dir", data, "sources", "add", str(definition)]) == 0
    capsys.readouterr()
    counts = {"surveys_read": 3, "kept": 3, "quarantined": 0, "scored": 0}
    row = {"source": "hot-dog-survey", "day": "2025-01-17", "outcome": "completed", "error": "",
           "result": {**counts, "model_version": None}}  # fmt: skip
    text = outcomes_text([row], Settings(data_dir=data))
    assert "read 3 kept 3 quarantined 0 scored 0 (no negatives)" in text
    assert "servicelens train" not in text
    assert 'hot-dog-survey: its definition marks no response negative (negative = "none"' in text
    assert main(["--data-dir", data, "train", "--source", "hot-dog-survey"]) == 2
    assert capsys.readouterr().err.startswith(
        "servicelens: error: source hot-dog-survey: its definition marks no response negative"
    )
    # Nor by `score`, which asked for `train --input FILE` first (trial 81).
    export = Path(__file__).parents[3] / "shared" / "field" / "05-google-forms-crlf-multiline"
    export = export / "sample.csv"
    argv = ["--data-dir", data, "score", "--source", "hot-dog-survey", "--input", str(export)]
    assert main([*argv, "--output", str(tmp_path / "scored.parquet")]) == 2
    assert capsys.readouterr().err.startswith(
        "servicelens: error: source hot-dog-survey: its definition marks no response negative"
    )


def test_audits_saved_under_a_source_that_needs_no_model_are_said_to_be_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a contact centre's trial: audits saved under a Google Forms source (negative
    = "none") were never mentioned, as the tally of where audits went is training's. `run`
    and `sources run` say, in one line, once, that its audits folder's files are not used,
    and why; with none there, nothing is said."""
    from servicelens.cli.sources import _run_summary, outcomes_text

    data = str(tmp_path / "data")
    definition = Path(__file__).parents[1] / "sources" / "definitions" / "google-forms-hotdog.toml"
    assert main(["--data-dir", data, "sources", "add", str(definition)]) == 0
    capsys.readouterr()
    settings = Settings(data_dir=data)
    counts = {"surveys_read": 3, "kept": 3, "quarantined": 0, "scored": 0}
    rows = [
        {"source": "hot-dog-survey", "day": day, "outcome": "completed", "error": "",
         "result": {**counts, "model_version": None}}
        for day in ("2025-01-16", "2025-01-17")
    ]  # fmt: skip
    summary = {"source": "hot-dog-survey", "granularity": "day", "landed": [], "ingested": [],
               "published": [], "report": "r.html", "seconds": 1.0}  # fmt: skip
    assert "audit" not in outcomes_text(rows, settings).replace("audits/", "")
    assert "audit file" not in _run_summary(summary, settings)
    folder = configured_source(settings, "hot-dog-survey").audits_dir
    (folder / "qa-january.csv").write_text("response_id,root_cause,audited_at,auditor\n")
    (folder / "qa-february.xlsx").write_bytes(b"PK")
    said = (
        f"hot-dog-survey: 2 audit files in {folder} (qa-february.xlsx, qa-january.csv) are "
        'not used: the source needs no model (negative = "none" in its definition), so '
        "nothing trains on audits"
    )
    for text in (outcomes_text(rows, settings), _run_summary(summary, settings)):
        assert text.count("audit file") == 1 and said in text.splitlines(), text


def test_the_report_of_a_source_that_marks_nothing_negative_says_no_model_is_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a consumer-finance lead's trial: `report --source` of a survey whose
    definition says negative = "none" said "no champion model yet: run ... train --source"
    under Model and baselines, Fix list and What QA audits next, and `train` then refused;
    `run` had said no model is needed. The report says so, and why, in `run`'s words."""
    from servicelens.cli.sources import NOTHING_NEGATIVE

    data = str(tmp_path / "data")
    definition = Path(__file__).parents[1] / "sources" / "definitions" / "google-forms-hotdog.toml"
    assert main(["--data-dir", data, "sources", "add", str(definition)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "report", "--source", "hot-dog-survey"]) == 0
    shown = capsys.readouterr().out
    page = next(Path(data, "reports").glob("report-*.html")).read_text(encoding="utf-8")
    why = f"no model needed: hot-dog-survey: {NOTHING_NEGATIVE}"
    assert f"  not available: Model and baselines: {why}\n" in shown
    # Said once: the other sections point to it (test_report_sources.py lands rows too).
    for section in ("Fix list: what to fix first, by owner", "What QA audits next"):
        assert (
            f"  not available: {section}: no model needed, so nothing is scored: see Model and "
            "baselines\n"
        ) in shown
    assert "train --source" not in shown and "train --source" not in page
    assert "no champion model yet" not in page and "no model needed" in page


def test_score_without_a_model_tells_a_landed_source_to_train_on_what_it_landed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a consumer-finance lead's trial: `score --source cfpb` with CFPB's labelled
    complaints landed and no model said "run `train --source cfpb --input FILE` first",
    while run and report said `train --source cfpb`. It says what they say; a source with
    nothing landed, and a definition that is no configured source, still need a labelled
    export (--input)."""
    from servicelens.ingest.configured import pick_up_deliveries, register_source
    from servicelens.reporting.suggested import train_hint

    data = str(tmp_path / "data")
    export = Path(__file__).parents[3] / "shared" / "field" / "08-cfpb-official-download"
    score = ["--data-dir", data, "score", "--input", str(export / "sample.csv"),
             "--output", str(tmp_path / "scored.parquet")]  # fmt: skip

    def refusal(source: str) -> str:
        assert main([*score, "--source", source]) == 2
        return capsys.readouterr().err

    # Taken from the inbox at once: the file is whole when written (Settings' default waits).
    source = register_source(Settings(data_dir=data, inbox_settle_seconds=0), "cfpb")
    untrained = f"servicelens: error: {data}/models/sources/cfpb: no cfpb model yet; run "
    with_input = f"`servicelens --data-dir {data} train --source cfpb --input FILE` first"
    assert refusal("cfpb").startswith(untrained + with_input)  # nothing landed yet
    (source.inbox_dir / "complaints.csv").write_bytes((export / "sample.csv").read_bytes())
    assert not [p.error for p in pick_up_deliveries(source) if p.error]
    said = refusal("cfpb")
    hint = train_hint(source).replace("servicelens", f"servicelens --data-dir {data}", 1)
    assert said == f"{untrained}{hint}, then score again\n"
    assert "--input FILE`" not in said
    # A definition file of a source not configured here has landed nothing to train on.
    other = tmp_path / "card-complaints.toml"
    other.write_text('extends = "cfpb"\nname = "card-complaints"\n')
    assert refusal(str(other)).startswith(
        f"servicelens: error: {data}/models/sources/card-complaints: no card-complaints model "
        f"yet; run `servicelens --data-dir {data} train --source {other} --input FILE` first"
    )


def test_a_sources_backfill_may_end_with_its_current_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: `backfill --source cfpb --start 2026-12-01 --end
    2026-12-31` (a monthly source, the month's partition landed) was refused as ending in
    the future; a source's backfill runs what it has landed, and --end only bounds that.
    A later trial's daily source took an --end months ahead in silence: an --end after the
    source's current period (today, for the daily zendesk) is refused as the sample's is
    (tests/badinput/test_source_dates.py covers the monthly case)."""
    from datetime import timedelta

    data = _sources_only(tmp_path, capsys)
    today = date.today().isoformat()
    later = (date.today() + timedelta(days=40)).isoformat()
    args = ["--data-dir", data, "backfill", "--source", "zendesk", "--dry-run"]
    assert main([*args, "--start", "2026-11-01", "--end", today]) == 2
    said = capsys.readouterr().err
    assert "is in the future" not in said
    assert "source 'zendesk' has no landed partition between 2026-11-01 and " in said
    assert main([*args, "--start", "2026-11-01", "--end", later]) == 2
    assert f"--end {later} is in the future" in capsys.readouterr().err
    # Without --source, a date after today is still refused.
    assert main(["--data-dir", data, "backfill", "--dry-run", "--start", "2026-11-01",
                 "--end", later]) == 2  # fmt: skip
    assert f"--end {later} is in the future" in capsys.readouterr().err


def test_training_a_configured_source_without_a_label_on_an_export_says_to_drop_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial: `train --source <its definition> --input export.csv` of a
    configured source whose definition has no [label] was told to configure the source
    (`servicelens sources add`, without the definition) though it was configured."""
    data = _sources_only(tmp_path, capsys)
    export = tmp_path / "export.csv"
    export.write_text("x\n1\n")
    assert main(["--data-dir", data, "train", "--source", "zendesk", "--input", str(export)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert "has no [label], so it cannot train on --input; source zendesk is configured here" in (
        said
    )
    assert said.endswith(
        f"run `servicelens --data-dir {data} train --source zendesk` without --input"
    )
