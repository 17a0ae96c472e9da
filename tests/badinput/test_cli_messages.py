"""What a person sees when a command fails: one line first, never a traceback in front of it.

The failing commands run as a user runs them, in a fresh process through the installed
``servicelens`` entry point: the message is stderr's first line, Prefect's log and the
traceback are in the log file the second line names. Dates that no run accepts are refused
before any work, by the command line and by the flows (for deployments), and are never
recorded as failures.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.dates import SurveyDateError, today
from servicelens.settings import Settings
from servicelens.synthetic.generator import generate

ROOT = Path(__file__).resolve().parents[2]
SERVICELENS = Path(sys.executable).parent / "servicelens"
DAY = date(2026, 9, 14)


def _servicelens(*argv: str, api: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, in a process of its own; on the Prefect API at ``api`` if given
    (the test process's own: no embedded API to start), else on the embedded API.

    For the command a test is about; its set-up (``sources add`` of a data directory) runs
    through :func:`main` in the test's process: a process of its own paid ~5 s of CPU
    importing great_expectations, prefect and sklearn to copy a definition file."""
    env = {**os.environ, "PREFECT_API_URL": api} if api else None
    return subprocess.run(
        [str(SERVICELENS), *argv], capture_output=True, text=True, cwd=ROOT, timeout=900, env=env
    )


def _test_api() -> str:
    """The URL of the test process's Prefect API (the ``prefect_api`` fixture's)."""
    from prefect.settings import get_current_settings

    return str(get_current_settings().api.url)


def _one_message(done: subprocess.CompletedProcess[str], status: int = 2) -> list[str]:
    """stderr's lines, checked to hold one message and no traceback, and the exit status:
    2 for a command refused before or instead of running dates, 1 for a date that ran and
    failed (the README's "Exit status" table)."""
    lines = done.stderr.splitlines()
    assert done.returncode == status, done.stderr
    assert lines and lines[0].startswith("servicelens: error: "), done.stderr
    assert "Traceback" not in done.stderr and 'File "' not in done.stderr
    return lines


def _log_named(lines: list[str]) -> str:
    """The log file the message points at; it holds the traceback the terminal did not."""
    assert len(lines) == 2 and "Prefect's log and the traceback: " in lines[1], lines
    path = Path(lines[1].split("traceback: ", 1)[1].split()[0])
    assert path.parent.name == "logs" and path.name.startswith("servicelens-")
    return path.read_text()


def test_train_without_clean_data_says_what_to_run_first(tmp_path: Path) -> None:
    """Refused before Prefect's API starts (a trial waited 9 s to be told), so there is no
    log to name; an empty clean folder is refused alike (it ended in polars' ComputeError,
    called a bug in servicelens)."""
    done = _servicelens("train", "--data-dir", str(tmp_path))
    lines = _one_message(done)
    assert f"{tmp_path}/clean/responses: no clean data yet" in lines[0]
    # The command it suggests acts on the same data directory (an operator's trial pasted
    # one from a cron job's log and it acted on ./data).
    assert f"`servicelens --data-dir {tmp_path} backfill --start" in lines[0]
    assert len(lines) == 1
    (tmp_path / "clean" / "responses").mkdir(parents=True)
    assert main(["--data-dir", str(tmp_path), "train"]) == 2


@pytest.mark.slow
def test_a_survey_export_without_csat_names_the_file_line_and_column(
    prefect_api: None, tmp_path: Path
) -> None:
    """The date ran and failed, recorded so: exit 1, as the README's table says of a date
    that failed in `run` and as `backfill` exits for it (a BI developer's trial saw 2).
    The commands run on the test's Prefect API: what they say is the claim, not the API's
    start (three embedded APIs were 8 s of CPU each)."""
    api = _test_api()
    generate(tmp_path, DAY, DAY + timedelta(days=1), 60, seed=3)
    export = tmp_path / "raw" / str(DAY) / "surveys.csv"
    with export.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    dropped = rows[0].index("csat")
    with export.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(r[:dropped] + r[dropped + 1 :] for r in rows)

    # Asked for as JSON, stdout holds the message and the log's path (found by a trial: a
    # script reading --json met plain text on a failure); stderr says it as ever.
    done = _servicelens("--data-dir", str(tmp_path), "run", "--date", str(DAY), "--json", api=api)
    lines = _one_message(done, status=1)
    recorded = json.loads((tmp_path / "runs" / f"survey_date={DAY}.json").read_text())
    assert recorded["outcome"] == "failed"
    said = json.loads(done.stdout)
    assert lines[0] == f"servicelens: error: {said['error']}"
    assert said["log"] is not None and Path(said["log"]).exists()
    assert lines[0].startswith(f"servicelens: error: {export}: line 1 (header): ")
    assert "required column(s) ['csat'] missing" in lines[0]
    assert "Fix the export, or map its columns with a source definition" in lines[0]
    log = _log_named(lines)
    assert "Traceback" in log and "csat" in log

    # The next night's `run` does its own date and names this one, still failed (a QA
    # lead's trial saw it exit 0 without a word).
    after = _servicelens(
        "--data-dir", str(tmp_path), "run", "--date", str(DAY + timedelta(1)), api=api
    )
    assert after.returncode == 0, after.stderr
    assert (
        f"servicelens: {DAY}: its last run failed, and its inputs have not changed since. "
        f"its error is in {tmp_path / 'runs'}"
    ) in after.stderr
    assert (
        f"`servicelens --data-dir {tmp_path} backfill --start {DAY} --end {DAY} --rerun failed`"
    ) in after.stderr

    # Its export fixed: the next `run` says the date changed and what runs it (an
    # operator's trial saw a corrected look-back date passed over in silence).
    with export.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    fixed = _servicelens(
        "--data-dir", str(tmp_path), "run", "--date", str(DAY + timedelta(1)), api=api
    )
    assert fixed.returncode == 0, fixed.stderr
    assert (
        f"servicelens: {DAY}: its inputs changed since its last run (the nightly window runs "
        f"it): `servicelens --data-dir {tmp_path} backfill --start {DAY} --end {DAY} "
        "--rerun failed`"
    ) in fixed.stderr


def test_a_renamed_required_column_fails_the_date_with_the_status_backfill_gives_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a BI developer's trial: `run --date D` of an export whose `csat` header was
    renamed `csat_score` printed a good message and exited 2, which the README's table keeps
    for commands refused before running dates; the date ran and failed, recorded so, and
    `backfill` exits 1 for the same date. `run` exits 1 too; a refusal stays 2."""
    generate(tmp_path, DAY, DAY, 40, seed=5)
    export = tmp_path / "raw" / str(DAY) / "surveys.csv"
    header, rest = export.read_text(encoding="utf-8").split("\n", 1)
    export.write_text(header.replace(",csat,", ",csat_score,") + "\n" + rest, encoding="utf-8")
    data = ["--data-dir", str(tmp_path)]
    assert main([*data, "run", "--date", str(DAY)]) == 1
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith(f"servicelens: error: {export}: line 1 (header): required column")
    assert "did you mean 'csat_score' for 'csat'?" in said[0]
    assert (
        json.loads((tmp_path / "runs" / f"survey_date={DAY}.json").read_text())["outcome"]
        == "failed"
    )
    backfill = [*data, "backfill", "--start", str(DAY), "--end", str(DAY), "--rerun", "failed"]
    assert main(backfill) == 1
    capsys.readouterr()
    future = today("Europe/London") + timedelta(days=3)
    assert main([*data, "run", "--date", str(future)]) == 2  # refused before running


def test_a_failure_asked_for_as_json_is_one_json_document_on_stdout(tmp_path: Path) -> None:
    """Found by a trial: a script reading `train --json` met plain text on a failure. The
    message stays on stderr as ever; stdout holds it as JSON, with the log's path when the
    command got as far as keeping one (a failed run's: the csat test above)."""
    done = _servicelens("train", "--data-dir", str(tmp_path), "--json")
    assert done.returncode == 2
    said = json.loads(done.stdout)
    assert said["error"].startswith(f"{tmp_path}/clean/responses: no clean data yet")
    assert said["log"] is None  # refused before any work
    assert _one_message(done)[0] == f"servicelens: error: {said['error']}"
    future = today("Europe/London") + timedelta(days=3)
    done = _servicelens("run", "--date", str(future), "--data-dir", str(tmp_path), "--json")
    refused = json.loads(done.stdout)
    assert refused["log"] is None and "is in the future" in refused["error"]
    # A date that is no date is refused by the argument parser: the same (a trial's script
    # met empty stdout), and without --json stdout stays empty.
    done = _servicelens("run", "--date", "2026-13-01", "--data-dir", str(tmp_path), "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout) == {
        "error": "servicelens run: argument --date: '2026-13-01' is not a date: there is no "
        "month 13 (months are 01 to 12); if it means 13 January 2026, write 2026-01-13 (see "
        "`servicelens run --help`)",
        "log": None,
    }
    done = _servicelens("run", "--date", "2026-13-01", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and done.stdout == ""


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("2026-02-30", "February 2026 has no 30th: its last day is 2026-02-28"),
        ("2028-02-30", "February 2028 has no 30th: its last day is 2028-02-29"),
        ("2026-04-31", "April 2026 has no 31st: its last day is 2026-04-30"),
        ("2026-03-00", "there is no day 00 (the days of March 2026 are 01 to 31)"),
        ("2026-00-10", "there is no month 00 (months are 01 to 12)"),
        (
            "2026-31-12",
            "there is no month 31 (months are 01 to 12); if it means 31 December 2026, "
            "write 2026-12-31",
        ),
    ],
)
def test_a_date_the_calendar_lacks_is_refused_with_the_calendars_reason(
    typed: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an on-call engineer's trial: `run --date 2026-02-30` was told it "is not a
    date like 2026-11-01", which reads as a complaint about its shape."""
    with pytest.raises(SystemExit) as refused:
        main(["run", "--date", typed, "--data-dir", str(tmp_path)])
    assert refused.value.code == 2
    assert f"argument --date: {typed!r} is not a date: {said} (see" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "typed", "said"),
    [
        ("--start", "2026-02-30", "February 2026 has no 30th: its last day is 2026-02-28"),
        ("--end", "2026-13", "there is no month 13 (months are 01 to 12)"),
        ("--end", "2026-04-31", "April 2026 has no 31st: its last day is 2026-04-30"),
    ],
)
def test_a_range_end_the_calendar_lacks_is_refused_with_the_calendars_reason(
    option: str, typed: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--start`/`--end` (a date or a month) give the calendar's reason as `--date` does:
    they said "is not a date like 2026-11-01 or a month like 2026-11" of 2026-02-30."""
    bounds = {"--start": "2026-02-01", "--end": "2026-02-03", option: typed}
    with pytest.raises(SystemExit) as refused:
        main(
            ["backfill", *(a for pair in bounds.items() for a in pair), "--data-dir", str(tmp_path)]
        )
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {typed!r} is not a date or a month: {said} (see" in err
    assert list(tmp_path.iterdir()) == []


def test_text_of_another_shape_is_told_what_a_date_looks_like(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--date", "2026-2-3"])
    assert "'2026-2-3' is not a date like 2026-11-01" in capsys.readouterr().err


def test_a_future_date_is_refused_before_anything_runs(tmp_path: Path) -> None:
    future = today("Europe/London") + timedelta(days=3)
    lines = _one_message(_servicelens("run", "--date", str(future), "--data-dir", str(tmp_path)))
    assert lines == [
        f"servicelens: error: --date {future} is in the future (today is "
        f"{today('Europe/London')} in Europe/London); nothing was run and nothing recorded. "
        f"Use a date up to {today('Europe/London')} (yesterday, "
        f"{today('Europe/London') - timedelta(days=1)}, is the last complete day)"
    ]
    assert list(tmp_path.iterdir()) == []  # no outcome recorded, no log, nothing


def test_a_reversed_backfill_is_refused_before_prefect_starts(tmp_path: Path) -> None:
    for extra in ([], ["--dry-run"]):
        done = _servicelens(
            "backfill",
            "--start",
            "2026-10-05",
            "--end",
            "2026-10-01",
            "--data-dir",
            str(tmp_path),
            *extra,
        )
        assert _one_message(done) == [
            "servicelens: error: --end 2026-10-01 is before --start 2026-10-05; nothing was "
            "run. Swap them: --start 2026-10-01 --end 2026-10-05"
        ]
    assert list(tmp_path.iterdir()) == []


def test_the_flows_refuse_the_same_dates_and_record_nothing(
    prefect_api: None, tmp_path: Path
) -> None:
    from flows.pipeline import backfill, nightly

    settings = Settings(data_dir=str(tmp_path))
    with pytest.raises(SurveyDateError, match="is in the future"):
        nightly(today(settings.timezone) + timedelta(days=1), settings)
    state = backfill(date(2026, 10, 5), date(2026, 10, 1), settings=settings, return_state=True)
    assert state.is_failed() and "is before start 2026-10-05" in str(state.message)
    assert not settings.runs_dir.exists()


def test_global_options_go_before_or_after_any_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["--json", "--data-dir", str(tmp_path), "models", "list"],
        ["models", "list", "--json", "--data-dir", str(tmp_path)],
        ["models", "--data-dir", str(tmp_path), "list", "--json"],
    ):
        assert main(argv) == 0
        assert capsys.readouterr().out.strip() == "[]"
    for command in (["train"], ["models", "list"], ["backfill"], ["serve"], ["query"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0
        shown = capsys.readouterr().out
        assert "global options (before or after the command)" in shown, command
        assert "--data-dir DIR" in shown and "--json" in shown and "-v, --verbose" in shown


def test_each_commands_help_shows_its_own_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """`sources run --help` showed `servicelens run`'s examples: nested commands were
    matched by their last word alone."""
    shown = {}
    for command in (["run"], ["sources", "run"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        shown[" ".join(command)] = capsys.readouterr().out
    assert "servicelens run --date" in shown["run"]
    assert "servicelens run --date" not in shown["sources run"]


def test_an_unknown_option_points_at_the_commands_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--bogus", "x"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "servicelens train: error: unrecognized arguments: --bogus x "
        "(see `servicelens train --help`)"
    )
    # A missing verb is named by its choices (an operator's trial read "runs_command").
    with pytest.raises(SystemExit):
        main(["runs"])
    assert capsys.readouterr().err.splitlines()[-1] == (
        "servicelens runs: error: the following arguments are required: {show,release} "
        "(see `servicelens runs --help`)"
    )


@pytest.mark.slow
def test_an_agent_key_left_in_the_working_directory_is_one_clear_message(tmp_path: Path) -> None:
    """Found by a new user's trial: ``run`` from a folder holding an agent key where earlier
    versions kept it (``.servicelens/agent.key``) landed some inboxes, then failed every date
    (or, with two sources, "unexpected RuntimeError ... a bug in servicelens"). The refusal,
    which says which key to keep, now comes first, and nothing is landed or recorded."""
    from tests.sources.test_configured import CALLS, DEFINITION

    data, here = tmp_path / "data", tmp_path / "elsewhere"
    (here / ".servicelens").mkdir(parents=True)
    (here / ".servicelens" / "agent.key").write_text("a key from an earlier version\n")
    assert main(["--data-dir", str(data), "sources", "add", str(DEFINITION)]) == 0  # set-up
    inbox = data / "inbox" / "pwc-call-centre"
    (inbox / CALLS.name).write_bytes(CALLS.read_bytes())
    done = subprocess.run(
        [str(SERVICELENS), "--data-dir", str(data), "run"],
        capture_output=True,
        text=True,
        cwd=here,
        timeout=900,
        # The project's own key file, as a user has it (the tests' fixed key set aside); the
        # refusal comes before it would be created.
        env={k: v for k, v in os.environ.items() if not k.startswith("SERVICELENS_AGENT_KEY")},
    )
    lines = _one_message(done)
    assert f"an agent key is at {here / '.servicelens' / 'agent.key'}" in lines[0], lines
    assert "unexpected" not in done.stderr and "a bug in servicelens" not in done.stderr
    assert (inbox / CALLS.name).exists()  # not landed: the next run, fixed, lands it
    assert not (data / "sources" / "pwc-call-centre" / "landed").exists()


BACKFILL_2021 = ["--start", "2021-01-01", "--end", "2021-01-03"]


def test_a_backfill_without_source_where_there_are_only_sources_plans_each_source(
    tmp_path: Path,
) -> None:
    """Found by a new user's trial: every date failed with "no survey export" and was
    recorded as failed. Then it was refused, asking for ``--source``, one command per
    source; a later trial expected every configured source, as the nightly run takes them.
    The dry run plans the source's partitions, never the sample's dates, and needs no
    Prefect: the command is pointed at a Prefect API that is not there."""
    from tests.sources.test_configured import DEFINITION

    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "sources", "add", str(DEFINITION)]) == 0  # set-up
    done = subprocess.run(
        [str(SERVICELENS), "--data-dir", str(data), "backfill", *BACKFILL_2021, "--dry-run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("source pwc-call-centre:\n"), done.stdout
    assert "no landed partition of source 'pwc-call-centre'" in done.stdout
    assert "unexpected" not in done.stderr and "would fail at once" not in done.stdout
    assert not (data / "runs").exists() or not any((data / "runs").rglob("*2021-01-0*"))


def test_a_backfill_skips_the_dates_that_have_no_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by new users' trials: the dry run said a date without an export "runs as a new
    nightly flow run", and the real backfill failed it with "no survey export", recorded it
    as failed, told to fix it, and exited 3 on every rerun. A date never delivered has
    nothing to process: the plan skips it, saying so."""
    from servicelens.settings import Settings
    from servicelens.storage.runs import backfill_plan, date_status, record_outcome

    generate(tmp_path, DAY, DAY, 50, 3)
    missing = DAY + timedelta(days=1)
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", str(DAY), "--end", str(missing)]
    assert main([*argv, "--dry-run", "--json"]) == 0
    plan = {row["date"]: row for row in json.loads(capsys.readouterr().out)}
    assert plan[str(DAY)]["action"] == "run"
    assert plan[str(missing)]["action"] == "skip"
    export = tmp_path / "raw" / str(missing) / "surveys.csv"
    assert plan[str(missing)]["reason"] == f"no survey export ({export}): nothing to process"
    assert main([*argv, "--dry-run"]) == 0
    assert "dry run: 1 of 2 dates would run" in capsys.readouterr().out
    # A date an earlier backfill failed for want of its export is skipped alike, not left
    # failed with something to do.
    settings = Settings(data_dir=str(tmp_path))
    record_outcome(settings, missing, "run-x", "failed", error="BatchError: no survey export")
    (skipped,) = backfill_plan(settings, [date_status(settings, missing)], "failed")
    assert (skipped.run, skipped.todo) == (False, "")


def test_the_dry_run_says_a_date_whose_header_the_run_refuses_fails_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a user trial: a failed date whose survey export still had a renamed column
    (``csat_score``) was planned by ``--rerun failed --dry-run`` as "runs as a new nightly
    flow run", exit 0, and the real run failed it at once on the header. The dry run reads
    each planned date's header as the run does, and says it fails at once, in the run's
    words, exiting 1 as for a date without its export."""
    from servicelens.settings import Settings
    from servicelens.stages import BatchError, read_surveys
    from servicelens.storage.runs import record_outcome

    last = DAY + timedelta(days=3)
    generate(tmp_path, DAY, last, 50, 3)
    settings = Settings(data_dir=str(tmp_path))
    surveys = settings.raw_day(last) / "surveys.csv"
    surveys.write_bytes(surveys.read_bytes().replace(b",csat,", b",csat_score,", 1))
    with pytest.raises(BatchError) as refused:  # the real run's reader, and its words
        read_surveys(settings, last)
    record_outcome(settings, last, "run-x", "failed", error=f"BatchError: {refused.value}")
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", str(DAY), "--end", str(last)]
    argv += ["--rerun", "failed", "--dry-run"]
    assert main([*argv, "--json"]) == 1
    plan = {row["date"]: row for row in json.loads(capsys.readouterr().out)}
    assert plan[str(last)]["action"] == "fail"
    assert plan[str(last)]["what_happens"] == f"fails at once: {refused.value}"
    assert "'csat'" in plan[str(last)]["what_happens"]
    assert [plan[str(DAY + timedelta(days=n))]["action"] for n in range(3)] == ["run"] * 3
    assert main(argv) == 1
    said = capsys.readouterr().out
    assert "dry run: 3 of 4 dates would run (1 would fail at once: " in said


def test_a_prefect_server_that_does_not_answer_is_named_with_what_to_do(tmp_path: Path) -> None:
    """Found while checking the refusal above: with PREFECT_API_URL naming a server that is
    not running, every command that uses Prefect said "unexpected RuntimeError: Failed to
    reach API at ... this is a bug in servicelens"."""
    dead = "http://127.0.0.1:9/api"
    # A data directory that exists: `runs show` refuses a missing one before asking Prefect.
    (tmp_path / "data").mkdir()
    done = subprocess.run(
        [str(SERVICELENS), "--data-dir", str(tmp_path / "data"), "runs", "show"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        env={**os.environ, "PREFECT_API_URL": dead},
    )
    lines = _one_message(done)
    assert lines[0] == (
        f"servicelens: error: Prefect's API at {dead} does not answer (PREFECT_API_URL): start "
        "that server (`prefect server start`) and run the command again, or unset "
        "PREFECT_API_URL to run on a temporary embedded API"
    ), lines
    assert "a bug in servicelens" not in done.stderr


def test_a_refusal_made_before_anything_ran_is_one_line(tmp_path: Path) -> None:
    """Found by a trial: a misspelt source name was answered with a second line pointing at
    a log file that held only the refusal's own traceback."""
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "sources", "add", "cfpb"]) == 0  # set-up
    backfill = ["backfill", "--source", "cfpbb", "--start", "2023-07", "--end", "2023-08"]
    done = _servicelens("--data-dir", data, *backfill)
    lines = _one_message(done)
    assert lines == [
        f"servicelens: error: source 'cfpbb' is not configured in {data} (configured: cfpb); "
        "did you mean cfpb?"
    ]
    [log] = (tmp_path / "data" / "logs").glob("*-backfill.log")
    # Kept for whoever looks, and as the README says: the refusal's one line, no traceback
    # (an on-call engineer's trial read "its file holds nothing but the refusal's traceback").
    [line] = log.read_text().splitlines()
    assert "command refused: " in line and "DefinitionError: source 'cfpbb'" in line
    # Refused on the command line, before the command starts: no log file at all.
    future = str(today("Europe/London") + timedelta(days=3))
    for refused in (["run", "--date", future], ["run", "--date", "2026-02-30"]):
        assert _servicelens("--data-dir", data, *refused).returncode == 2
    assert [log] == list((tmp_path / "data" / "logs").iterdir())


def test_refusals_of_an_unknown_source_name_the_default_data_directory_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a BI developer's trial: for the same default data directory, `backfill` said
    "not configured in data" and `train` "not a source configured in ./data". Both name it
    as it was given (here the default, ./data), as every other message does."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERVICELENS_DATA_DIR", raising=False)
    (tmp_path / "data").mkdir()
    assert main(["train", "--source", "nope"]) == 2
    trained = capsys.readouterr().err
    assert main(["backfill", "--source", "nope", "--start", "2026-11-01", "--end",
                 "2026-11-01"]) == 2  # fmt: skip
    backfilled = capsys.readouterr().err
    assert trained.startswith(
        "servicelens: error: --source nope: not a source configured in ./data (none)"
    )
    assert backfilled.startswith(
        "servicelens: error: source 'nope' is not configured in ./data (configured: none)"
    )


def test_train_of_a_source_in_a_missing_data_directory_says_only_that(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: `train --source bank-qualtrics` from a folder with no ./data was
    asked "did you mean qualtrics?" (a preset's name); the missing data directory, the
    likelier mistake, is said first and alone, with or without --input."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SERVICELENS_DATA_DIR", raising=False)
    for extra in ([], ["--input", "export.csv"]):
        assert main(["train", "--source", "bank-qualtrics", *extra]) == 2
        said = capsys.readouterr().err
        assert said.startswith("servicelens: error: ./data does not exist: check --data-dir"), said
        assert "did you mean" not in said
    assert not (tmp_path / "data").exists()


def test_a_failed_dates_message_is_the_errors_own_words() -> None:
    """Found by a trial: a backfill's table read "BatchError: data/raw/...: no survey
    export": errors that name the file and what to change are shown as their message; any
    other keeps its type, which says where to look."""
    from flows.dates import failure_message
    from servicelens.ingest.readers import SourceError
    from servicelens.stages import BatchError

    assert failure_message(BatchError("a.csv: no survey export")) == "a.csv: no survey export"
    assert failure_message(SourceError("a.csv: line 2: ...")) == "a.csv: line 2: ..."
    assert failure_message(KeyError("queue")) == "KeyError: 'queue'"


def test_a_data_directory_without_any_export_asks_whether_it_is_the_right_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: `--data-dir` mistyped, `run` said "no survey export for <date>" and
    nothing more. A directory that never received an export says so; one that holds other
    dates' exports does not."""
    typo = tmp_path / "dta"
    assert main(["--data-dir", str(typo), "run", "--date", str(DAY)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said == (
        f"servicelens: error: {typo}/raw/{DAY}/surveys.csv: no survey export for {DAY}; "
        f"nothing to process ({typo} holds no exports at all: check --data-dir or "
        f"SERVICELENS_DATA_DIR; `servicelens --data-dir {typo} demo` fills a new one with "
        "sample data)"
    )
    # Refused before anything ran: no failed run recorded there, no folders made for it,
    # not even for its log (a platform engineer's trial found ./data/logs so made).
    assert not typo.exists()
    assert main(["--data-dir", str(typo), "backfill", "--start", str(DAY), "--end", str(DAY)]) == 2
    said = capsys.readouterr().err.splitlines()[0]
    assert said == (
        f"servicelens: error: {typo} holds no exports at all: check --data-dir or "
        f"SERVICELENS_DATA_DIR; `servicelens --data-dir {typo} demo` fills a new one with "
        "sample data"
    )
    assert not typo.exists()
    assert main(["--data-dir", str(typo), "train"]) == 2
    assert "no clean data yet, so nothing to train on" in capsys.readouterr().err
    assert not typo.exists()
    data = tmp_path / "data"
    (data / "raw" / str(DAY - timedelta(days=1))).mkdir(parents=True)
    # A directory that holds exports: the date runs, fails and is recorded so (exit 1).
    assert main(["--data-dir", str(data), "run", "--date", str(DAY)]) == 1
    said = capsys.readouterr().err.splitlines()[0]
    assert said.endswith(f"no survey export for {DAY}; nothing to process")


@pytest.mark.parametrize("dry_run", [["--dry-run"], []], ids=["dry-run", "run"])
def test_a_concurrency_under_one_is_refused_by_the_dry_run_as_by_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dry_run: list[str]
) -> None:
    """Found by a trial: `backfill --concurrency -3 --dry-run` printed a plan, exit 0, and
    the same without --dry-run refused it."""
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", str(DAY), "--end", str(DAY)]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--concurrency", "-3", *dry_run])
    assert stopped.value.code == 2
    assert "argument --concurrency: -3: use 1 or more" in capsys.readouterr().err


def test_a_log_file_that_cannot_be_written_is_said_once_and_the_command_goes_on(
    tmp_path: Path,
) -> None:
    """Found by an operator's trial: a logs folder that could not be written raised from
    the first log call (three chained tracebacks, no message). Here `logs` is a file."""
    (tmp_path / "logs").write_text("not a folder")
    done = _servicelens("train", "--data-dir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
    lines = done.stderr.splitlines()
    [said] = [line for line in lines if line.startswith("servicelens: cannot write the log")]
    assert said.startswith(f"servicelens: cannot write the log file {tmp_path / 'logs'}/")
    assert said.endswith(f"this command's log is not kept. Make {tmp_path / 'logs'} writable")
    assert any(
        line.startswith(f"servicelens: error: {tmp_path}/clean/responses: no clean data yet")
        for line in lines
    )


def test_a_file_the_command_cannot_write_is_not_called_a_bug() -> None:
    """Found by an operator's trial: a read-only run-record folder ended in "unexpected
    PermissionError ... this is a bug in servicelens"."""
    import errno

    from servicelens.cli.main import write_failure_message

    denied = PermissionError(errno.EACCES, "Permission denied", "/srv/data/runs/x.json.tmp")
    assert write_failure_message(denied) == (
        "/srv/data/runs/x.json.tmp: cannot write it: Permission denied. Make /srv/data/runs "
        "writable (or free disk space), then run the command again"
    )
    # A lock of an s3:// data directory is a local file: its folder is named, not "the data
    # directory" (a platform engineer's trial).
    locks = PermissionError(errno.EACCES, "Permission denied", "/tmp/servicelens-locks/ab/x.lock")
    assert "Make /tmp/servicelens-locks/ab writable" in str(write_failure_message(locks))
    assert write_failure_message(OSError(errno.ENOSPC, "No space left on device")) is not None
    assert write_failure_message(FileNotFoundError(errno.ENOENT, "gone", "x")) is None


def test_a_lock_file_the_command_cannot_create_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a platform engineer's trial: a read-only data directory's refusal said
    "check that ... exists and is writable. Make ... writable": the lock's own advice, then
    the command's."""
    import errno

    from servicelens.cli.main import write_failure_message
    from servicelens.storage import locks

    def denied(*args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(locks.os, "open", denied)
    with pytest.raises(OSError) as refused, locks.date_lock(tmp_path / "locks", DAY, 0.0):
        pass
    said = write_failure_message(refused.value)
    lock = locks.date_lock_path(tmp_path / "locks", DAY)
    assert said == (
        f"{lock}: cannot write it: Permission denied. Make {lock.parent} writable (or free "
        "disk space), then run the command again"
    )
    assert write_failure_message(ValueError("no")) is None


@pytest.mark.parametrize("trouble", ["store down", "no credentials"])
@pytest.mark.parametrize("command", [["run", "--date", "2026-12-02"], ["report"]])
def test_an_object_store_that_does_not_answer_or_has_no_credentials_is_one_message(
    tmp_path: Path, trouble: str, command: list[str]
) -> None:
    """Found by a platform engineer's trial: the nightly `run` on an s3:// data directory
    printed 135 lines of botocore traceback when the store was down or the credentials
    missing, and other commands called it "a bug in servicelens"."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on: the store is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SERVICELENS_"))}
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        PREFECT_HOME=str(tmp_path / "prefect"),
        # One attempt: botocore's default five, with its back-off, made each case wait 15 s
        # for the same message.
        AWS_MAX_ATTEMPTS="1",
    )
    if trouble == "store down":
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    done = subprocess.run(
        [str(SERVICELENS), "--data-dir", "s3://servicelens-test/ops", *command],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    lines = _one_message(done)
    expected = (
        f"the object store at http://127.0.0.1:{port} does not answer"
        if trouble == "store down"
        else "no credentials for the object store"
    )
    assert lines[0].startswith("servicelens: error: s3://servicelens-test/ops: "), lines
    assert expected in lines[0], lines
    assert "bug" not in done.stderr


def test_a_dask_address_nothing_answers_at_is_one_message_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a platform engineer's trial: a wrong scheduler port waited 42 s and ended in
    "unexpected OSError ... a bug in servicelens"; a typo in the port said only "invalid
    literal for int()"."""
    import socket

    from servicelens.cli.embedded_api import _embedded_servers

    servers = _embedded_servers()
    generate(tmp_path, DAY, DAY, 20, seed=1, mess=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", str(DAY), "--end", str(DAY)]
    assert main([*argv, "--dask-address", f"tcp://127.0.0.1:{port}"]) == 2
    said = capsys.readouterr().err
    assert f"--dask-address tcp://127.0.0.1:{port} (or SERVICELENS_DASK_ADDRESS): no Dask " in said
    assert "start one (`dask scheduler`) or correct the address; nothing was run" in said
    assert main([*argv, "--dask-address", "127.0.0.1:8946x"]) == 2
    assert "is not a scheduler address like tcp://HOST:8786" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.json"))
    assert _embedded_servers() == servers  # refused before Prefect's API is started


def test_an_object_store_url_missing_a_slash_is_refused_not_made_a_local_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a platform engineer's trial: `--data-dir s3:/bucket/typo` wrote into a local
    folder ./s3:/bucket/typo without a word."""
    monkeypatch.chdir(tmp_path)
    argv = ["--data-dir", "s3:/bucket/typo", "generate", "--start", str(DAY), "--end", str(DAY)]
    assert main(argv) == 2
    assert (
        "--data-dir s3:/bucket/typo: an object store's URL has two slashes after 's3:' "
        "(s3://bucket/typo); for a local folder, write it as ./s3:/bucket/typo"
    ) in capsys.readouterr().err
    assert not (tmp_path / "s3:").exists()


def test_a_data_directory_that_is_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial: `--data-dir FILE models list` said there were no models
    in FILE/models and exited 0."""
    afile = tmp_path / "f"
    afile.write_text("")
    for command in (["models", "list"], ["run"], ["query", "fix_list"]):
        assert main(["--data-dir", str(afile), *command]) == 2
        said = capsys.readouterr().err
        assert f"--data-dir {afile}: is a file, not a folder" in said, said
        assert "Traceback" not in said
    assert afile.read_text() == ""


def test_a_decoding_error_no_reader_worded_is_reported_as_a_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an analyst's trial: Python's "'utf-8' codec can't decode byte 0xe9 in
    position 136" was shown as the whole error, exit 2 like a refusal that says what to
    change. A UnicodeError is a ValueError that names no file or line: one that reaches the
    command line escaped the readers' own messages, and is reported as a bug, with its log."""
    import servicelens.cli.main as cli

    def undecodable(*_: object) -> int:
        raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")

    monkeypatch.setattr(cli, "cmd_dictionary", undecodable)
    assert cli.main(["--data-dir", str(tmp_path), "dictionary"]) == 1
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("servicelens: error: unexpected UnicodeDecodeError: 'utf-8' codec")
    assert said[1].startswith("  this is a bug in servicelens, not in your data")


def test_a_library_value_error_is_a_bug_and_v_shows_its_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user's trial: difflib's ValueError "n must be > 0: 0" reached
    `sources check` as the whole error, exit 2 like a refusal that says what to change, and
    `-v` showed that one line though the README says "-v shows them here". A ValueError
    raised inside a library names no file, line or column: it is reported as a bug with its
    log, and under -v its traceback is on the terminal. servicelens's own ValueErrors stay
    one-line refusals."""
    import difflib

    import servicelens.cli.main as cli

    def asks_difflib_for_nothing(*_: object) -> int:
        difflib.get_close_matches("Kundennummer", [], n=0)
        return 0

    monkeypatch.setattr(cli, "cmd_dictionary", asks_difflib_for_nothing)
    assert cli.main(["--data-dir", str(tmp_path), "dictionary"]) == 1
    said = capsys.readouterr().err.splitlines()
    assert said[0] == "servicelens: error: unexpected ValueError: n must be > 0: 0"
    assert said[1].startswith("  this is a bug in servicelens, not in your data")
    log = Path(said[1].split("with the log ", 1)[1].split(";")[0])
    assert "in get_close_matches" in log.read_text()

    with pytest.raises(ValueError, match="n must be > 0"):  # -v: Python shows the traceback
        cli.main(["-v", "--data-dir", str(tmp_path), "dictionary"])

    from datetime import date

    from servicelens.synthetic.generator import generate

    def refuses(*_: object) -> int:
        generate(tmp_path, date(2026, 2, 1), date(2026, 1, 1), 1, seed=7)
        return 0

    monkeypatch.setattr(cli, "cmd_dictionary", refuses)
    assert cli.main(["--data-dir", str(tmp_path), "dictionary"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said[0] == (
        "servicelens: error: end 2026-01-01 is before start 2026-02-01; pass start <= end"
    )
    # -v: the traceback the log would hold, then the same line.
    assert cli.main(["-v", "--data-dir", str(tmp_path), "dictionary"]) == 2
    said = capsys.readouterr().err.splitlines()
    assert said[0] == "Traceback (most recent call last):" and "in generate" in "".join(said)
    assert said[-1].startswith("servicelens: error: end 2026-01-01 is before start")


def test_a_rust_panic_is_reported_as_a_bug_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a user trial: polars panicked ("assertion failed: i < self.len()") and the
    command ended in a Python traceback, exit 1, not the one line a bug gets. pyo3's
    PanicException derives from BaseException, which the command line did not catch. The
    panic here is polars' own, over a column whose first chunk is empty; SystemExit still
    goes on as it came."""
    import polars as pl
    from polars.exceptions import PanicException

    import servicelens.cli.main as cli

    def panics(*_: object) -> int:
        text = pl.Series("s", ["a", "b", "c"])
        text.append(pl.Series("s", ["d", "e"]))
        frame = pl.DataFrame([pl.Series("v", [1, 2, 3, 4, 5]), text]).filter(pl.col("v") > 3)
        frame.select(pl.format("{}", "s"))  # noqa: TID251 - panics in polars 2.1
        # A polars that no longer panics there: the same type, raised as pyo3 raises it.
        raise PanicException("assertion failed: i < self.len()")

    monkeypatch.setattr(cli, "cmd_dictionary", panics)
    assert cli.main(["--data-dir", str(tmp_path), "dictionary"]) == 1
    said = capsys.readouterr().err.splitlines()
    assert said[0] == (
        "servicelens: error: unexpected PanicException: assertion failed: i < self.len()"
    )
    assert said[1].startswith("  this is a bug in servicelens, not in your data")
    log = Path(said[1].split("with the log ", 1)[1].split(";")[0])
    assert "PanicException: assertion failed" in log.read_text()

    def exits(*_: object) -> int:
        raise SystemExit(3)

    monkeypatch.setattr(cli, "cmd_dictionary", exits)
    with pytest.raises(SystemExit):
        cli.main(["--data-dir", str(tmp_path), "dictionary"])


def test_a_reversed_range_of_months_is_swapped_as_months(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an analyst's trial: `--start 2021-06 --end 2021-01` was told to swap them as
    `--start 2021-01-31 --end 2021-06-01`, most of both months short. The months are swapped
    as typed; a month beside a day keeps each as it was typed."""
    argv = ["--data-dir", str(tmp_path), "backfill", "--dry-run"]
    assert main([*argv, "--start", "2021-06", "--end", "2021-01"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "servicelens: error: --end 2021-01 is before --start 2021-06; nothing was run. Swap "
        "them: --start 2021-01 --end 2021-06"
    )
    assert main([*argv, "--start", "2021-06-15", "--end", "2021-01"]) == 2
    assert "Swap them: --start 2021-01 --end 2021-06-15" in capsys.readouterr().err


def test_a_full_disk_names_the_file_its_write_refused() -> None:
    """Found by an on-call engineer's trial on a 64 KB tmpfs: "a file of the data directory:
    cannot write it: No space left on device". Python's write() of an open file reports a
    full disk without the file's name; /dev/full answers every write with ENOSPC, as a full
    disk does."""
    from servicelens.cli.main import write_failure_message

    with pytest.raises(OSError) as full:
        Path("/dev/full").write_bytes(b"x" * 10_000)
    assert full.value.filename is None  # what the trial's message had to go on
    assert write_failure_message(full.value, then="run `servicelens run`") == (
        "/dev/full: cannot write it: No space left on device. Free disk space on the "
        "filesystem of /dev (`df -h /dev` shows what is left), then run `servicelens run`"
    )
