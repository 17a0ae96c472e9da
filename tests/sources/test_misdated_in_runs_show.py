"""``servicelens runs show`` names the kept rows that may be misdated, in the report's words.

Found by a French insurer's trial: a BPO row whose date reads either way round (DD/MM and
MM/DD both valid) was flagged in its date's clean manifest and in the report's Data quality
after its night, and ``runs show`` said nothing of it. Real ``sources run`` (Prefect's real
engine) and the real ``runs show``, text and ``--json``; the report of the same data
directory gives the same words.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from datetime import date, timedelta
from html import unescape
from pathlib import Path

import pytest

from servicelens.cli.main import main

DEFINITION = (
    'name = "lisbon-bpo"\ntimezone = "Europe/Paris"\n'
    '[columns]\nresponse_id = "ID"\n'
    'submitted_at = { column = "When", format = "%d/%m/%Y %H:%M" }\n'
    'channel = { value = "phone" }\ncsat = "CSAT"\n'
)


def _written_month_first(today: date) -> date:
    """A recent day (of the last 60) whose day is below its month, so that written month
    first (``%m/%d/%Y``) and read day first it is a day months earlier, not ahead: the
    swapped reading is the one near the delivery."""
    for back in range(1, 61):
        day = today - timedelta(days=back)
        if day.day < day.month:
            return day
    raise AssertionError("any 60 days hold one whose day is below its month")


def _printed(data: str, *command: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--data-dir", data, *command]) == 0
    return printed.getvalue()


@pytest.mark.slow
def test_runs_show_names_a_kept_row_that_may_be_misdated_as_the_report_does(
    prefect_api: None, tmp_path: Path
) -> None:
    day = _written_month_first(date.today())
    read_as = date(day.year, day.day, day.month)
    definition = tmp_path / "lisbon-bpo.toml"
    definition.write_text(DEFINITION)
    export = tmp_path / "export.csv"
    export.write_text(
        "ID,When,CSAT\n" + "".join(f"B{h},{day:%m/%d/%Y} {h}:00,4\n" for h in range(10, 13))
    )
    data = str(tmp_path / "data")
    _printed(data, "sources", "run", str(definition), str(export))

    shown = json.loads(_printed(data, "--json", "runs", "show"))
    (flag,) = shown["misdated"]
    assert flag["source"] == "lisbon-bpo"
    assert flag["note"].startswith(
        f"{read_as}: 3 kept rows read either way round and may be misdated (one of them: row "
    ), flag
    assert f"and with day and month swapped of {day}" in flag["note"]
    text = _printed(data, "runs", "show")
    assert f"  lisbon-bpo {flag['note']}\n" in text

    # The report's Data quality says it in the same words: one function.
    _printed(data, "report", "--source", "lisbon-bpo")
    html = (Path(data) / "reports" / "latest-lisbon-bpo.html").read_text()
    quality = re.search(r'<section id="quality">(.*?)</section>', html, re.S)
    assert quality is not None
    flags = [unescape(f) for f in re.findall(r'<p class="flag">(.*?)</p>', quality.group(1))]
    assert flag["note"] in flags
