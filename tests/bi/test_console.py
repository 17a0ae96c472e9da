"""The command line's tables and progress counting."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from servicelens.cli.console import (
    counts_detail,
    files_since,
    nothing_kept_note,
    table,
)
from servicelens.validation.reasons import quarantined_split


def test_table_aligns_numbers_right_and_text_left() -> None:
    text = table(
        [
            {"date": "2026-10-01", "outcome": "completed", "read": 1222, "share": 0.0391},
            {"date": "2026-10-02", "outcome": "failed", "read": None, "share": None},
        ]
    )
    header, rule, first, second = text.splitlines()
    assert header.split() == ["date", "outcome", "read", "share"]
    assert first == "2026-10-01  completed  1,222  0.039"
    assert second == "2026-10-02  failed         -      -"
    assert len(rule) == len(first)


def test_a_long_last_cell_draws_no_long_rule_and_pads_nothing() -> None:
    """Found by a trial: a failed delivery's message of about 900 characters in the run
    table's detail column drew a rule of 900 dashes under the header."""
    message = "x" * 900
    header, rule, failed, done = table(
        [
            {"partition": "(inbox)", "outcome": "failed", "detail": message},
            {"partition": "2026-03-01", "outcome": "completed", "detail": "read 8"},
        ]
    ).splitlines()
    assert header == "partition   outcome    detail"
    assert rule == "-" * 10 + "  " + "-" * 9 + "  " + "-" * 60
    assert failed == "(inbox)     failed     " + message
    assert done == "2026-03-01  completed  read 8"


def test_a_columns_floats_show_the_places_they_need() -> None:
    """Found by a new user's trial: fix_list_by_owner's points, rounded to one place in SQL,
    printed as 12952.000."""
    lines = table(
        [
            {"points": 12951.98, "share": 0.5, "ratio": 1 / 3, "lost": 12952.0},
            {"points": 11831.6, "share": 0.25, "ratio": 0.1, "lost": None},
        ]
    ).splitlines()
    assert lines[2].split() == ["12951.98", "0.50", "0.333", "12952.0"]
    assert lines[3].split() == ["11831.60", "0.25", "0.100", "-"]


def test_files_since_counts_only_what_this_run_wrote(tmp_path: Path) -> None:
    old = tmp_path / "survey_date=2026-10-01" / "_manifest.json"
    old.parent.mkdir()
    old.write_text("{}")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    started = time.time() - 1
    new = tmp_path / "survey_date=2026-10-02" / "_manifest.json"
    new.parent.mkdir()
    new.write_text("{}")
    assert files_since(tmp_path, "survey_date=*/_manifest.json", started) == 1
    assert files_since(tmp_path / "missing", "*", started) == 0


def test_a_run_that_kept_nothing_says_so_and_what_failed_most() -> None:
    """24 rows read, 24 quarantined for a date format the definition did not know was shown
    as an ordinary completed partition."""
    from servicelens.cli.schedule import _detail

    result = {
        "surveys_read": 24,
        "kept": 0,
        "quarantined": 24,
        "scored": 0,
        "failed_expectations": {"submitted_at": 24, "csat": 2},
    }
    note = nothing_kept_note(result)
    assert note is not None
    assert note.startswith("none of its 24 rows was kept (most failed checks: submitted_at, 24)")
    assert note in _detail({"outcome": "completed", "result": result})
    assert nothing_kept_note({**result, "kept": 1}) is None
    assert nothing_kept_note({"surveys_read": 0, "kept": 0}) is None
    # Found by a trial: a partition whose one row a correction moved away was asked whether
    # the export still fits its definition.
    moved = nothing_kept_note({"surveys_read": 1, "kept": 0, "superseded_duplicates": 1})
    assert moved is not None and moved.startswith(
        "all of its 1 rows are superseded by a later line or delivery"
    )
    malformed = nothing_kept_note({"surveys_read": 30, "kept": 0, "malformed_lines": 30})
    assert malformed is not None and "(most failed checks: malformed lines, 30)" in malformed
    # Found by a trial: a truncated download was asked whether the export still fits its
    # date format; records that could not be split say the file may be damaged.
    assert "is the file damaged or cut short" in malformed and "date format" not in malformed
    # Found by an operator's trial: two notes joined read "until then.; none of its 2 rows".
    from servicelens.cli.console import counts_detail

    both = counts_detail(
        {"surveys_read": 2, "kept": 0, "quarantined": 2, "scored": 0, "day_first": 1}
        | {"failed_expectations": {"submitted_at": 2}}
    )
    assert "misdated, until then; none of its 2 rows was kept" in both and ".;" not in both
    assert "date format" in note
    assert note.endswith("Each row's file, line and reasons: `servicelens query quarantined_rows`")


def test_the_run_table_and_summaries_say_superseded_copies_in_one_word_and_split_by_kind() -> None:
    """The nightly table called one thing two things ("exact duplicates of a later line or
    delivery", "copies replaced by a later line or delivery"), and the summaries called the
    same count "earlier copies a later delivery replaced", though an earlier line of the
    same file is in it too (rows_superseded counts both). One word for the count, then each
    kind as its rows' reasons name it, adding up to it."""
    both = {"surveys_read": 10, "kept": 5, "quarantined": 5, "scored": 2}
    both |= {"superseded_duplicates": 3, "exact_duplicates": 1}
    assert counts_detail(both) == (
        "read 10 kept 5 quarantined 5 (3 of them superseded by a later line or "
        "delivery: 1 exact duplicate, 2 duplicate deliveries) scored 2"
    )
    assert quarantined_split(5, 3) == ("3 superseded by a later line or delivery, 2 rejected")


def test_the_run_table_counts_rows_set_aside_apart_from_rejects() -> None:
    """Found by a bank analyst's trial: `servicelens run` read "quarantined 1" of a Qualtrics
    preview the definition's [[exclude]] set aside, which processed_dates counted as
    rows_set_aside 1, rows_rejected 0 (README: the run summaries count them apart)."""
    preview = {"surveys_read": 142, "kept": 141, "quarantined": 1, "scored": 0, "set_aside": 1}
    assert counts_detail(preview) == (
        "read 142 kept 141 quarantined 1 (1 of them set aside by the source definition) scored 0"
    )
    both = preview | {"quarantined": 3, "superseded_duplicates": 2, "surveys_read": 144}
    assert counts_detail(both) == (
        "read 144 kept 141 quarantined 3 (1 of them set aside by the source definition, 2 "
        "superseded by a later line or delivery: 2 duplicate deliveries) scored 0"
    )


def test_a_partition_of_a_stray_row_is_not_taken_for_an_export_that_no_longer_fits() -> None:
    """Found by a trial: a one-row partition (a typo'd date dated by its delivery, a time in
    a DST gap) was asked whether the export still fit its definition, while the rest of the
    export was kept; and a row quarantined for a swapped day and month got that question
    after the note that already said what to declare, with the quarantine hint twice."""
    from servicelens.cli.console import QUARANTINE_HINT, partition_notes

    stray = {"surveys_read": 1, "kept": 0, "failed_expectations": {"submitted_at": 1}}
    assert nothing_kept_note(stray) == (
        f"its 1 row was not kept (most failed checks: submitted_at, 1). {QUARANTINE_HINT}"
    )
    few = nothing_kept_note({**stray, "surveys_read": 4})
    assert few == (
        f"none of its 4 rows was kept (most failed checks: submitted_at, 1). {QUARANTINE_HINT}"
    )
    swapped = {**stray, "day_first": 1}
    (only,) = partition_notes(swapped)
    assert only.startswith("1 row was quarantined because its time reads only with day and")
    assert only.count(QUARANTINE_HINT) == 1
    both = partition_notes({**swapped, "surveys_read": 3, "kept": 2, "withdrawn": 1})
    assert len(both) == 2 and " ".join(both).count(QUARANTINE_HINT) == 1
    assert both[-1].endswith(QUARANTINE_HINT)


def test_the_sample_dates_line_of_run_names_the_date() -> None:
    """Found by a trial: `servicelens run`'s first line read "read 5096 kept 4909 ..." of no
    date (the default is yesterday in the business timezone, which a user must work out)."""
    from datetime import date

    from servicelens.cli.main import _counts_line

    row = {"surveys_read": 5096, "kept": 4909, "quarantined": 187, "scored": 1700}
    assert _counts_line({**row, "model_version": "v1"}, date(2026, 12, 1)) == (
        "2026-12-01: read 5096 kept 4909 quarantined 187 negatives scored 1700 (model v1)"
    )


def test_the_sample_dates_line_of_run_splits_its_quarantine_as_the_readme_says() -> None:
    """Found by a README walker's trial: the README says the run's table splits quarantined
    rows into superseded copies and rejects and gives broken interaction records a line of
    their own; `servicelens run` printed "quarantined 192" alone (the demo split it)."""
    from datetime import date

    from servicelens.cli.main import _counts_line

    row = {
        "surveys_read": 5092,
        "kept": 4900,
        "quarantined": 192,
        "superseded_duplicates": 12,
        "interactions_read": 5100,
        "interactions_quarantined": 8,
        "scored": 0,
    }
    assert _counts_line(row, date(2026, 11, 10)).splitlines() == [
        "2026-11-10: read 5092 kept 4900 quarantined 192 (12 superseded by a later line or "
        "delivery, 180 rejected) negatives scored 0 (no champion model yet)",
        "interaction records: 8 of 5100 quarantined too; the quarantine mart holds them "
        "beside the survey rows (feed = 'interactions'), 200 rows in all",
    ]


def test_the_sample_dates_line_of_run_adds_up_with_rows_erased() -> None:
    """read = kept + quarantined + erased: a date whose rows were erased on request read
    "read 100 kept 90 quarantined 5", 5 rows unaccounted for."""
    from datetime import date

    from servicelens.cli.main import _counts_line

    row = {"surveys_read": 100, "kept": 90, "quarantined": 5, "erased": 5, "scored": 3}
    assert _counts_line(row, date(2026, 11, 10)) == (
        "2026-11-10: read 100 kept 90 quarantined 5 erased on request 5 negatives scored 3 "
        "(no champion model yet)"
    )


def test_a_cell_written_over_lines_stays_on_its_row() -> None:
    """Found by a platform engineer's trial: a Dask cluster's multi-line error broke the
    backfill table's rows (so would a comment written over lines, in `query`'s)."""
    from servicelens.cli.console import table

    text = table(
        [
            {"date": "2026-10-01", "detail": "CommClosedError: in <TCP>:\nStream is closed\r\n"},
            {"date": "2026-10-02", "detail": "completed"},
        ]
    )
    assert text.splitlines()[2:] == [
        "2026-10-01  CommClosedError: in <TCP>: ↵ Stream is closed",
        "2026-10-02  completed",
    ]


def test_a_backfill_whose_date_kept_none_of_many_rows_exits_4() -> None:
    """Found by an operations engineer's trial: 24 of 24 rows quarantined was exit 0. A
    completed date that read 10 or more rows and kept none gives 4, unless a failure (1)
    or a skipped failed date (3) says more; older copies a re-delivery replaced are no
    reason, nor is a stray row or two."""
    from servicelens.cli.console import EXIT_KEPT_NOTHING
    from servicelens.cli.schedule import exit_status

    def completed(read: int, kept: int, superseded: int = 0) -> dict[str, object]:
        counts = {"surveys_read": read, "kept": kept, "superseded_duplicates": superseded}
        return {"outcome": "completed", "result": counts, "todo": None}

    assert exit_status([completed(24, 20), completed(24, 0)]) == EXIT_KEPT_NOTHING == 4
    assert exit_status([completed(24, 20), completed(9, 0)]) == 0
    assert exit_status([completed(24, 0, superseded=24)]) == 0
    failed = {"outcome": "failed", "result": {}, "todo": "run it again"}
    assert exit_status([completed(24, 0), failed]) == 1


def test_a_slow_step_without_a_bar_says_what_it_is_doing_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A platform engineer's trial on S3 could not tell `report` building its report from
    a hang, nor a backfill rebuilding its weekly marts after its bar reached 100 %: each
    now says what it does, on a terminal (a pseudo-terminal here), above any bar."""
    import logging
    import pty
    import select

    from servicelens.cli.console import said_if_slow, said_on_terminal
    from servicelens.runtime import STEPS_LOGGER

    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal:
        monkeypatch.setattr("sys.stderr", terminal)
        with said_if_slow("building the report", seconds=0.05):
            time.sleep(0.5)
        with said_if_slow("a quick step", seconds=30):
            pass
        with said_if_slow("not on a terminal", enabled=False, seconds=0.0):
            time.sleep(0.2)
        with said_on_terminal():
            logging.getLogger(STEPS_LOGGER).info("rebuilding the weekly marts of the run's weeks")
        logging.getLogger(STEPS_LOGGER).info("said in the log file only")
        terminal.flush()
        said = ""
        while select.select([leader], [], [], 0.5)[0]:  # a pty gives its lines in chunks
            said += os.read(leader, 4096).decode()
    os.close(leader)
    lines = said.replace("\r", "").splitlines()
    assert lines == [
        "servicelens: building the report ...",
        "servicelens: rebuilding the weekly marts of the run's weeks",
    ], said


def test_dates_whose_failure_could_not_be_recorded_are_named_with_the_one_command() -> None:
    """Found by a data engineer's trial: a date an object store failed read completed (its
    failure not recorded), and only its table row said so. When the backfill's last try to
    record it fails too, a note names the dates and the backfill that runs them again."""
    from flows.dates import TODO_RERUN_FAILED, TODO_UNRECORDED
    from servicelens.cli.schedule import unrecorded_failures_note

    unrecorded = TODO_UNRECORDED
    rows = [
        {"day": "2026-11-22", "outcome": "failed", "todo": f"{unrecorded} --start 2026-11-22"},
        {"day": "2026-11-23", "outcome": "completed", "todo": ""},
        {"day": "2026-11-24", "outcome": "failed", "todo": f"{unrecorded} --start 2026-11-24"},
        {"day": "2026-11-25", "outcome": "failed", "todo": TODO_RERUN_FAILED},
    ]
    note = unrecorded_failures_note(rows, "acme-qualtrics")
    assert note is not None
    assert "2 date(s) could not be recorded" in note and "2026-11-22, 2026-11-24" in note
    assert note.endswith(
        "servicelens backfill --source acme-qualtrics --start 2026-11-22 --end 2026-11-24 "
        "--rerun all (it runs again the 1 other date(s) of that range)"
    ), note
    assert unrecorded_failures_note(rows[1:2] + rows[3:], None) is None
