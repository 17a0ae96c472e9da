"""``servicelens sources check`` of a contact-facts file that its ``[interactions]`` feed
refuses for its day order says the refusal the nightly pick-up gives it, not where to move
it: the check is what is run before a file goes into an inbox.

Found by fixDC: a ticket export writing its times day first (13/11/2026), checked against a
definition whose feed declares them month first, was told "move it to
inbox/<name>/interactions/", where the next run refused it for its day order.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings

#: Ratings with a ticket export as their contact facts, its start times month first; it
#: extends nothing.
DEFINITION = """name = "helpdesk"
[columns]
response_id = "Response"
interaction_id = "Ticket"
submitted_at = "Rated at"
csat = "Score"

[interactions]
[interactions.columns]
interaction_id = "Ticket ID"
started_at = { column = "Ticket created - Timestamp", format = "%m/%d/%Y %H:%M" }
queue = "Ticket group"
"""
#: The ticket export written day first: 13 to 18 November read only so.
TICKETS = "Ticket ID,Ticket created - Timestamp,Ticket group\n" + "".join(
    f"T{n},{13 + n}/11/2026 09:00,Billing\n" for n in range(6)
)
REFUSAL = (
    "line 2: started_at '13/11/2026 09:00' reads only as %d/%m/%Y %H:%M, as do 5 more of its "
    "times, and none reads only as the definition's %m/%d/%Y %H:%M: this export writes the day "
    'first. Nothing of it is landed: declare format = "%d/%m/%Y %H:%M" for started_at under '
    "[interactions.columns] in the definition"
)


def test_check_says_the_nightly_refusal_of_a_feed_file_in_the_other_day_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "helpdesk.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    tickets = tmp_path / "tickets.csv"
    tickets.write_text(TICKETS, encoding="utf-8")
    data = tmp_path / "data"

    code = main(["--data-dir", str(data), "sources", "check", str(definition), str(tickets)])
    out = capsys.readouterr()
    said = out.out + out.err
    assert code != 0, said
    assert f"{tickets}: {REFUSAL}" in said, said
    assert "move it" not in said and "Traceback" not in said, said

    # The nightly pick-up of the same file from the feed's inbox refuses it in those words.
    source = register_source(Settings(data_dir=str(data), inbox_settle_seconds=0), str(definition))
    capsys.readouterr()
    shutil.copy(tickets, source.for_interactions().inbox_dir / tickets.name)
    [refused] = pick_up_deliveries(source)
    assert refused.landing is None and REFUSAL in refused.error, refused.error

    # Registered, the check says it the same way (the configured source's feed).
    code = main(["--data-dir", str(data), "sources", "check", "helpdesk", str(tickets)])
    said = "".join(capsys.readouterr())
    assert code != 0 and REFUSAL in said and "move it" not in said, said
