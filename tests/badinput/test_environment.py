"""A ``SERVICELENS_*`` variable holding a value no command can use: every command, ``--help``
too, is refused with one line naming the variable, its value and what it must be, exit 2.

Found by a new analyst's trial: ``SERVICELENS_TIMEZONE=Europe/Berln servicelens --help``
(and ``SERVICELENS_LOOKBACK_DAYS=three``, ``SERVICELENS_SLOT_LEASE_SECONDS=1m``, ...) ended
in a raw traceback, exit 1, before the command's error handler ran.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.settings import SettingError, Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICELENS = Path(sys.executable).parent / "servicelens"


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one line ``main(argv)`` refuses with, checked to be the whole of stderr."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("servicelens: error: "), lines
    return lines[0]


def test_a_mistyped_timezone_stops_help_with_one_line_and_a_close_match() -> None:
    """In a fresh process, as the trial ran it: no traceback, exit 2, the closest zone."""
    done = subprocess.run(
        [str(SERVICELENS), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SERVICELENS_TIMEZONE": "Europe/Berln"},
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "servicelens: error: SERVICELENS_TIMEZONE='Europe/Berln': not a timezone name (did you "
        "mean Europe/Berlin?); use an IANA name such as Europe/London or America/New_York, or "
        "unset it for the default (Europe/London)"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("SERVICELENS_TIMEZONE", "europe/london", "did you mean Europe/London?"),
        ("SERVICELENS_TIMEZONE", "", "not a timezone name"),
        ("SERVICELENS_LOOKBACK_DAYS", "three", "a whole number of 0 or more"),
        ("SERVICELENS_LOOKBACK_DAYS", "-1", "a whole number of 0 or more"),
        ("SERVICELENS_BACKFILL_SLOTS", "two", "a whole number of 1 or more"),
        # 0 or fewer slots: Prefect refused every date with a raw 422, "Slots requested is
        # greater than the limit", and the date's failure could not be recorded.
        ("SERVICELENS_BACKFILL_SLOTS", "0", "a whole number of 1 or more"),
        ("SERVICELENS_BACKFILL_SLOTS", "-2", "a whole number of 1 or more"),
        ("SERVICELENS_LOG_KEEP", "lots", "a whole number of 1 or more"),
        ("SERVICELENS_REPORT_KEEP", "x", "a whole number of 1 or more"),
        ("SERVICELENS_RETURN_WINDOW_DAYS", "0", "a whole number of 1 or more"),
        ("SERVICELENS_SLOT_LEASE_SECONDS", "1m", "from 60 to 86400"),
        ("SERVICELENS_SLOT_LEASE_SECONDS", "30", "from 60 to 86400"),
        ("SERVICELENS_HEARTBEAT_SECONDS", "0", "above 0"),
        ("SERVICELENS_EARLY_WARNING_FDR", "nan", "above 0 and below 1"),
        ("SERVICELENS_AUDIT_DATE_ORDER", "dayfirst", "day-first or month-first"),
        ("SERVICELENS_STORE_CONNECT_SECONDS", "5s", "a number of seconds of 0.1 or more"),
        ("SERVICELENS_STORE_READ_SECONDS", "0", "a number of seconds of 0.1 or more"),
        ("SERVICELENS_STORE_ATTEMPTS", "1.5", "a whole number of 1 or more"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["query", "--list"],
        ["report"],
        ["run"],
        ["backfill", "--start", "2026-05-01", "--end", "2026-05-01"],
    ],
)
def test_a_bad_variable_is_one_line_naming_it_before_any_command_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    says: str,
    command: list[str],
) -> None:
    monkeypatch.setenv(variable, value)
    line = _refused(capsys, [*command, "--data-dir", str(tmp_path / "data")])
    assert line.startswith(f"servicelens: error: {variable}={value!r}: "), line
    assert says in line
    # Refused before anything: no data directory, no log folder.
    assert not (tmp_path / "data").exists()


def test_a_refusal_asked_for_as_json_is_one_json_document(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERVICELENS_LOG_KEEP", "lots")
    assert main(["query", "--list", "--json"]) == 2
    assert '"error": "SERVICELENS_LOG_KEEP=' in capsys.readouterr().out


def test_good_values_are_read_as_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "America/New_York")
    monkeypatch.setenv("SERVICELENS_LOOKBACK_DAYS", " 0 ")
    monkeypatch.setenv("SERVICELENS_SLOT_LEASE_SECONDS", "90.5")
    monkeypatch.setenv("SERVICELENS_LOG_KEEP", "")  # empty: the default, as unset
    settings = Settings.from_variables()
    assert settings.timezone == "America/New_York"
    assert settings.late_data_lookback_days == 0
    assert settings.slot_lease_seconds == 90.5
    assert settings.log_keep == 200


def test_flows_building_settings_themselves_get_the_same_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deployment's flow builds its settings with from_env: the same message, as a
    SettingError (a ValueError), not zoneinfo's."""
    monkeypatch.setenv("SERVICELENS_TIMEZONE", "Europe/Berln")
    with pytest.raises(SettingError, match="did you mean Europe/Berlin"):
        Settings.from_env("/nonexistent")


def test_a_misspelt_variable_is_named_with_the_one_meant(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Found by trial 81: ``SERVICELENS_DATADIR=/tmp/x servicelens query --list`` and
    ``SERVICELENS_TIMEZON=UTC ... backfill --dry-run`` exited 0 on ./data and the default
    timezone, saying nothing. The command still runs (a variable may belong to a wrapper),
    but says which variable it ignores and which it reads."""
    monkeypatch.setenv("SERVICELENS_DATADIR", str(tmp_path))
    monkeypatch.setenv("SERVICELENS_TIMEZON", "UTC")
    monkeypatch.setenv("SERVICELENS_SOMETHING_ELSE", "1")
    assert main(["query", "--list"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [
        "servicelens: warning: SERVICELENS_DATADIR is not a variable servicelens reads (did "
        "you mean SERVICELENS_DATA_DIR?): it is ignored",
        "servicelens: warning: SERVICELENS_SOMETHING_ELSE is not a variable servicelens "
        "reads: it is ignored",
        "servicelens: warning: SERVICELENS_TIMEZON is not a variable servicelens reads (did "
        "you mean SERVICELENS_TIMEZONE?): it is ignored",
    ]


def test_every_variable_the_code_reads_is_known() -> None:
    """The list misspellings are checked against is the code's own: every
    ``SERVICELENS_*`` name written in the package, flows and benchmarks."""
    import re

    from servicelens.settings import VARIABLES

    written: set[str] = set()
    for folder in ("servicelens", "flows", "transforms", "models", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            written |= set(re.findall(r"SERVICELENS_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    assert written == VARIABLES
