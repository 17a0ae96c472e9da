"""``servicelens erase`` names a contact feed's raw deliveries holding the subject's ids,
through a real configured source with a contact-facts feed (real landing, real
``backfill``, real Parquet): the dry run, the erase's output and its erasure record list the
ticket export under ``raw/sources/<name>/`` as "Not rewritten", as they list the survey
export. Found by a card issuer's trial: a customer's rows were rewritten in
``landed/interactions`` and the contact history, yet the five raw contact exports still
holding the customer id in plain text were never named, so nobody was told to delete them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.settings import Settings
from tests.reliability.test_erase_neighbour_inputs import TICKETS, run_helpdesk

#: The tickets in two deliveries: C1's ticket (T1) in the first, none of C1's in the second.
HEADER, *LINES = TICKETS.splitlines()
FIRST_TICKETS = "\n".join([HEADER, *LINES[:2]]) + "\n"
SECOND_TICKETS = "\n".join([HEADER, *LINES[2:]]) + "\n"


@pytest.fixture
def helpdesk(prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Settings:
    """The ``helpdesk`` source, its ratings and two ticket deliveries landed, both days run."""
    source = run_helpdesk(
        tmp_path, {"tickets-15.csv": FIRST_TICKETS, "tickets-16.csv": SECOND_TICKETS}
    )
    capsys.readouterr()
    return source


def _raw(source: Settings, name: str) -> str:
    (path,) = (source.root / "raw" / "sources" / "helpdesk").glob(f"*-{name}")
    return str(path)


def _raw_files(items: list[dict[str, str]]) -> list[str]:
    return sorted(i["path"] for i in items if i["what"] == "raw file")


def test_erase_names_the_contact_feeds_raw_deliveries_holding_the_customer(
    helpdesk: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    source = helpdesk
    tickets, others, ratings = (
        _raw(source, n) for n in ("tickets-15.csv", "tickets-16.csv", "ratings.csv")
    )
    assert "C1" in Path(tickets).read_text() and "C1" not in Path(others).read_text()
    argv = ["--data-dir", str(source.data_dir), "erase", "--customer-id", "C1"]

    assert main([*argv, "--dry-run", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert {"landed_interactions", "contacts"} <= {f["table"] for f in planned["partitions"]}
    # The ticket export holds C1 and T1; the ratings export T1 and R1; the other tickets none.
    assert _raw_files(planned["not_rewritten"]) == sorted([tickets, ratings])

    assert main([*argv, "--dry-run"]) == 0
    assert f"raw file: {tickets}" in capsys.readouterr().out

    assert main([*argv, "--yes"]) == 0
    said = capsys.readouterr().out
    assert f"raw file: {tickets}" in said and f"raw file: {others}" not in said, said
    (record,) = (source.root / "erasure" / "records").glob("*.json")
    kept = json.loads(record.read_text())["not_rewritten"]
    assert _raw_files(kept) == sorted([tickets, ratings])
    assert "C1" in Path(tickets).read_text()  # the raw zone is not rewritten: named instead
