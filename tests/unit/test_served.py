"""What `servicelens serve` says of the runs it stopped (flows/served.py)."""

from __future__ import annotations

from pathlib import Path

from flows.served import Stopped, StoppedBackfill, stopped_message


def test_a_stopped_backfill_names_the_rest_of_its_range_with_its_own_policy() -> None:
    """An operator's trial stopped serve during a ten-date `--rerun all` backfill: it was
    told to run again only the date in flight, and the dates after it kept the old run's
    output without a word."""
    backfill = StoppedBackfill.of(
        "backfill-2026-11-23-to-2026-12-02-all-dates",
        {"start": "2026-11-23", "end": "2026-12-02", "rerun": "all", "source": None},
    )
    assert backfill is not None
    said = stopped_message(
        Stopped(runs=[backfill.name], days={(None, None): ["2026-11-29"]}, backfills=[backfill])
    )
    assert said is not None
    assert (
        "the backfill backfill-2026-11-23-to-2026-12-02-all-dates stopped before its end "
        "(2026-11-23 to 2026-12-02, --rerun all): the dates from 2026-11-29 on may not have "
        "run; run them again with: servicelens backfill --start 2026-11-29 --end 2026-12-02 "
        "--rerun all"
    ) in said
    assert "left unfinished" not in said  # the range's command covers the date in flight

    # Another policy keeps its own command for the rest, and the date in flight is run
    # again whatever it left (--rerun all), per source.
    of_source = StoppedBackfill.of(
        "b", {"start": "2026-11-23", "end": "2026-12-02", "source": "cfpb"}
    )
    assert of_source is not None and of_source.rerun == "missing"
    said = stopped_message(
        Stopped(runs=["b"], days={(None, "cfpb"): ["2026-11-29"]}, backfills=[of_source])
    )
    assert said is not None
    assert (
        "servicelens backfill --source cfpb --start 2026-11-29 --end 2026-12-02 --rerun missing"
    ) in said
    assert (
        "servicelens backfill --source cfpb --start 2026-11-29 --end 2026-11-29 --rerun all"
    ) in said
    # A nightly run is no backfill.
    assert StoppedBackfill.of("nightly-2026-11-29", {"day": "2026-11-29"}) is None


def test_a_date_outside_the_stopped_backfills_range_is_still_named() -> None:
    """Found in review: under --rerun all a stopped backfill's command runs its own
    unfinished dates, but a date of the same source held by another run (a nightly run
    stopped with it) is outside that range and keeps its own line."""
    backfill = StoppedBackfill.of(
        "backfill-2026-11-23-to-2026-11-30-all-dates",
        {"start": "2026-11-23", "end": "2026-11-30", "rerun": "all"},
    )
    assert backfill is not None
    said = stopped_message(
        Stopped(
            runs=[backfill.name, "nightly-2026-12-02"],
            days={(None, None): ["2026-11-29", "2026-12-02"]},
            backfills=[backfill],
        )
    )
    assert said is not None
    assert "servicelens backfill --start 2026-11-29 --end 2026-11-30 --rerun all" in said
    assert (
        "dates left unfinished by the runs serve stopped: 2026-12-02 (every partition on disk "
        "is the old one or the new one); run them again with: servicelens backfill --start "
        "2026-12-02 --end 2026-12-02 --rerun all"
    ) in said


def test_a_stopped_run_of_another_data_directory_is_named_with_it(tmp_path: Path) -> None:
    """Found by a trial: a backfill run through the server with a `data_dir` parameter that
    is not serve's own was named with a command for serve's data directory (and what it held
    was not released: flows/served.py's ServedRuns asks each run for its data directory)."""
    other = tmp_path / "big"
    backfill = StoppedBackfill.of(
        "backfill-2026-11-28-to-2026-12-03-missing-dates",
        {"start": "2026-11-28", "end": "2026-12-03", "data_dir": str(other)},
        own_data_dir="data",
    )
    assert backfill is not None and backfill.data_dir == str(other.resolve())
    said = stopped_message(
        Stopped(
            runs=[backfill.name],
            days={(str(other.resolve()), None): ["2026-11-29"]},
            backfills=[backfill],
        )
    )
    assert said is not None
    command = f"servicelens --data-dir {other.resolve()} backfill"
    assert f"{command} --start 2026-11-29 --end 2026-12-03 --rerun missing" in said
    assert "dates left unfinished" not in said  # it is in the other data directory
    assert f"in {other.resolve()} left unfinished" in said
    assert f"{command} --start 2026-11-29 --end 2026-11-29 --rerun all" in said
    # A data_dir parameter naming serve's own directory is serve's: no --data-dir.
    own = StoppedBackfill.of(
        "b",
        {"start": "2026-11-28", "end": "2026-11-28", "data_dir": str(other)},
        own_data_dir=str(other),
    )
    assert own is not None and own.data_dir is None


def test_a_dead_backfill_names_what_it_left_and_what_it_never_started() -> None:
    """Found by a trial: after `kill -9` of serve and its flow run during a `--rerun all`
    backfill, the restarted serve said of each crashed date "marked crashed", no command,
    and nothing of the date the backfill never reached. The recovery (flows.recovery's
    left_to_do) says it in serve's stop words, with the dates it never started."""
    from flows.served import unfinished_lines

    backfill = StoppedBackfill.of(
        "backfill-2026-10-22-to-2026-11-07-all-dates",
        {"start": "2026-10-22", "end": "2026-11-07", "rerun": "all", "source": "team-form"},
    )
    assert backfill is not None
    held = ["2026-11-02", "2026-11-03", "2026-11-05", "2026-11-06"]
    lines = unfinished_lines(
        [backfill],
        {(None, "team-form"): held},
        "the dead runs",
        {backfill.name: ["2026-11-07"]},
    )
    assert lines == [
        "the backfill backfill-2026-10-22-to-2026-11-07-all-dates stopped before its end "
        "(2026-10-22 to 2026-11-07, --rerun all): 2026-11-02, 2026-11-03, 2026-11-05, "
        "2026-11-06 left unfinished; 2026-11-07 never started; run them again with: "
        "servicelens backfill --source team-form --start 2026-11-02 --end 2026-11-07 "
        "--rerun all"
    ]
    # A backfill that had run every date of its range when it died needs nothing; the
    # dates a dead nightly held are named with their own command.
    assert unfinished_lines([backfill], {}, "the dead runs", {backfill.name: []}) == []
    assert unfinished_lines([], {(None, None): ["2026-11-02"]}, "the dead runs") == [
        "dates left unfinished by the dead runs: 2026-11-02 (every partition on disk is the "
        "old one or the new one); run them again with: servicelens backfill --start "
        "2026-11-02 --end 2026-11-02 --rerun all"
    ]
