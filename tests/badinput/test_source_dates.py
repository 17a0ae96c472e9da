"""A configured source's backfill ending after its current partition period is refused
before anything runs, as the sample's future dates are; a monthly source's --end in the
current month stays accepted (its partition may be landed already).

Found by a new analyst's trial: ``backfill --source callcentre --start 2021-03-01 --end
2027-01-31`` exited 0 and counted the days to come among its 2160.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.dates import SurveyDateError, refuse_after_current_period
from servicelens.ingest.configured import register_source
from servicelens.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DAILY = ROOT / "tests" / "sources" / "definitions" / "qualtrics-acme.toml"
#: 2 December 2026, 12:00 in London.
NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("end", "granularity", "refused"),
    [
        (date(2026, 12, 2), "day", False),  # today: a partial day, as for the sample
        (date(2026, 12, 3), "day", True),
        (date(2026, 12, 31), "month", False),  # the trial's monthly --end on the 2nd
        (date(2027, 1, 1), "month", True),
        (date(2027, 1, 31), "month", True),
    ],
)
def test_an_end_after_the_current_period_is_refused(
    end: date, granularity: str, refused: bool
) -> None:
    if not refused:
        refuse_after_current_period(end, "Europe/London", granularity, "--end", NOW)
        return
    with pytest.raises(SurveyDateError, match="is in the future") as raised:
        refuse_after_current_period(end, "Europe/London", granularity, "--end", NOW)
    assert str(raised.value).startswith(f"--end {end} is in the future (today is 2026-12-02")
    assert "nothing was run and nothing recorded" in str(raised.value)


def _configured(tmp_path: Path, definition: str) -> str:
    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), definition)
    return str(data)


@pytest.mark.parametrize(
    ("definition", "source", "end"),
    [(str(DAILY), "acme-qualtrics", "2099-01-31"), ("cfpb", "cfpb", "2099-01")],
)
@pytest.mark.parametrize("dry_run", [["--dry-run"], []])
def test_a_sources_backfill_into_the_future_is_refused_before_it_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    definition: str,
    source: str,
    end: str,
    dry_run: list[str],
) -> None:
    data = _configured(tmp_path, definition)
    argv = ["backfill", "--source", source, "--start", "2021-03-01", "--end", end]
    assert main([*argv, *dry_run, "--data-dir", data]) == 2
    err = capsys.readouterr().err
    assert err.startswith("servicelens: error: --end 2099-01-31 is in the future"), err
    assert len(err.splitlines()) == 1
    assert (
        not (Path(data) / "runs").exists()
        and not (Path(data) / "sources" / source / "runs").exists()
    )


def test_a_monthly_sources_end_in_the_current_month_is_not_refused_as_future(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It goes on to the source's partitions (none landed here: that is what it says)."""
    data = _configured(tmp_path, "cfpb")
    current = datetime.now(UTC).date()
    argv = ["backfill", "--source", "cfpb", "--start", "2021-03", "--end", f"{current:%Y-%m}"]
    assert main([*argv, "--dry-run", "--data-dir", data]) == 2
    err = capsys.readouterr().err
    assert "in the future" not in err and "no landed partition" in err, err


@pytest.mark.parametrize("definition", [str(DAILY), "cfpb"])
def test_a_backfill_to_the_current_month_runs_to_today(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], definition: str
) -> None:
    """Found by trial 82: ``--end 2026-12`` on the 5th was refused as in the future
    (2026-12-31), though the help promises "a month YYYY-MM to its last day". It runs to
    today, and says so; the sample's backfill too."""
    from servicelens.dates import today

    data = _configured(tmp_path, definition)
    source = "acme-qualtrics" if definition == str(DAILY) else "cfpb"
    now = today(Settings(data_dir=data).timezone)
    month = f"{now:%Y-%m}"
    argv = ["backfill", "--source", source, "--start", "2021-03", "--end", month, "--dry-run"]
    assert main([*argv, "--data-dir", data]) == 2  # nothing landed: what it says
    err = capsys.readouterr().err
    assert f"servicelens: --end {month} runs to today, {now} (" in err, err
    assert f"no landed partition between 2021-03-01 and {now};" in err, err
    assert "in the future" not in err, err
