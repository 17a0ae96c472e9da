"""``servicelens run`` on a data directory whose disk fills up while a date runs.

Found by an on-call data engineer's trial (the data directory on a 64 KB tmpfs, one export in
its source's inbox): "servicelens: error: a file of the data directory: cannot write it: No
space left on device", exit 2, though the date had run (and failed) and the README keeps 2 for
a command stopped before or instead of running dates. A real tmpfs fills up here.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicelens.ingest.configured import register_source
from servicelens.settings import Settings

DEFINITION = Path(__file__).parents[1] / "sources" / "definitions" / "european-feedback.toml"
#: The trial's export (cp1252, ';'-separated): four responses of three dates.
EXPORT = (
    "Antwort-ID;Vorgangsnummer;Eingangsdatum;Kanal;Zufriedenheit;Weiterempfehlung (0-10);"
    "Bearbeitungszeit (Min);Gebühr (EUR);Kommentar\n"
    "A-10001;V-77120;01.03.2026 08:14;Telefon;4 - Zufrieden;8;4,5;0,00;Schnell geholfen, danke\n"
    "A-10002;V-77121;01.03.2026 09:02;E-Mail;1 - Sehr unzufrieden;0;62,25;1.299,99;"
    '"Gebühr wurde doppelt abgebucht; niemand ruft zurück"\n'
    "A-10003;V-77125;02.03.2026 17:45;Chat;k.A.;;3;0,00;\n"
    "A-10004;V-77126;03.03.2026 11:30;Filiale;5 - Sehr zufrieden;10;12,75;0,00;"
    "Sehr nette Beratung in der Filiale\n"
)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KB filesystem (tmpfs), the trial's: a source's first run fills it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _run_on_a_tiny_disk(disk: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, int, str]:
    """``servicelens run`` over a data directory on ``disk`` whose source's inbox holds the
    trial's export: the data directory, the exit status and the command's error line."""
    from servicelens.cli.main import main

    data = disk / "data"
    source = register_source(Settings(data_dir=str(data)), str(DEFINITION))
    export = source.inbox_dir / "eu-night1.csv"
    export.write_text(EXPORT, encoding="cp1252")
    settled = time.time() - 3600  # delivered an hour ago: taken, not left to settle
    os.utime(export, (settled, settled))

    code = main(["--data-dir", str(data), "run"])
    err = capsys.readouterr().err
    [said] = [line for line in err.splitlines() if line.startswith("servicelens: error: ")]
    return data, code, said


def test_a_disk_that_fills_while_dates_run_names_the_file_and_exits_1(
    prefect_api: None, tiny_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, code, said = _run_on_a_tiny_disk(tiny_disk, capsys)
    assert code == 1, said
    assert "the run's dates ran: " in said, said
    assert "a file of the data directory" not in said, said
    # The file refused, what to do, and the command that runs what is left.
    assert f": cannot write it: {os.strerror(28)}. Free disk space on the filesystem of " in said
    assert f"{data}/" in said.split("cannot write it")[-2], said
    assert said.endswith(f"then run `servicelens --data-dir {data} run`"), said


def test_a_date_whose_failure_could_not_be_recorded_says_disk_full(
    prefect_api: None, tiny_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The date's failure record could not be written either (the disk was full): its row
    said Prefect's "OSError: [Errno 28] No space left on device: '<file>'", not the words of
    every other full disk (``flows.dates.failure_message``)."""
    data, _, said = _run_on_a_tiny_disk(tiny_disk, capsys)
    assert "OSError" not in said and "[Errno 28] No space left on device:" not in said, said
    dates = said.split("(", 1)[1]
    assert re.match(rf"\d{{4}}-\d\d-\d\d: disk full at {data}/\S+: free space, then", dates), said
