"""A comment quoting the row's own customer id, or its recipient's own name, is redacted
where the export carries them. Found by a data-protection officer's trial of a Qualtrics
source: "ref C40017733" (no word naming a customer number before it) and the recipient's
first and last name (RecipientFirstName, RecipientLastName: columns never landed) were kept
in the landed, clean and feedback_scored comments."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.settings import Settings
from transforms.pii import redact_pii

DEFINITION = """\
name = "ie-qualtrics"
timezone = "Europe/Dublin"
country = "IE"
never_store = ["RecipientFirstName", "RecipientLastName", "RecipientEmail"]
[read]
delimiter = ";"

[columns]
response_id = "ResponseId"
submitted_at = {{ column = "RecordedDate", format = "%Y-%m-%d %H:%M" }}
csat = "Q1"
comment = "Q2"
customer_id = "CustomerId"
"""
HEADER = "ResponseId;RecordedDate;Q1;Q2;CustomerId;RecipientFirstName;RecipientLastName\n"
NOW = datetime(2026, 12, 4, 9, tzinfo=UTC)


def _frame(rows: list[tuple[str | None, str | None, str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["t", "cid", "first", "last"], orient="row", schema_overrides={}
    )


def test_the_rows_own_customer_id_is_redacted_and_another_rows_kept() -> None:
    frame = _frame(
        [
            ("ref C40017733", "C40017733", None, None),
            ("my account c40017733 was charged twice", "C40017733", None, None),
            ("ref C40017734, not mine", "C40017733", None, None),  # another customer's
            ("ref C40017733", "C99999999", None, None),  # another row's id
            ("C40017733X is the order", "C40017733", None, None),  # not a whole word
            ("customer number C40017733", "C40017733", None, None),
            ("ref 40017733 twice: 40017733", "40017733", None, None),
            ("no id here", None, None, None),
        ]
    )
    redacted, counts = redact_pii(frame, ["t"], "IE", customer_ids="cid")
    assert redacted.get_column("t").to_list() == [
        "ref [CUSTOMER_NUMBER]",
        "my account [CUSTOMER_NUMBER] was charged twice",
        "ref C40017734, not mine",
        "ref C40017733",
        "C40017733X is the order",
        "customer number [CUSTOMER_NUMBER]",
        "ref [CUSTOMER_NUMBER] twice: [CUSTOMER_NUMBER]",
        "no id here",
    ]
    assert counts["customer_number"] == 5 and sum(counts.values()) == 5
    assert redacted.get_column("cid").to_list() == frame.get_column("cid").to_list()


@pytest.mark.parametrize(
    ("text", "first", "last", "expected"),
    [
        ("Siobhán Byrne rang me", "Siobhán", "Byrne", "[NAME] rang me"),
        (
            "this is siobhán, BYRNE in the file",
            "Siobhán",
            "Byrne",
            "this is [NAME], [NAME] in the file",
        ),
        ("Mr O'Brien was charged", "Aoife", "O'Brien", "Mr [NAME] was charged"),
        ("Byrnes Ltd delivered", "Siobhán", "Byrne", "Byrnes Ltd delivered"),  # whole words
        ("the agent, Byrne, helped", None, "Byrne", "the agent, [NAME], helped"),
        # Names that are ordinary words: redacted capitalised, as a name is written.
        (
            "I will call again; Will was rude",
            "Will",
            "Kavanagh",
            "I will call again; [NAME] was rude",
        ),
        ("my bill doubled, Bill", "Bill", "Nolan", "my bill doubled, [NAME]"),
        ("may I say: May Kelly helped", "May", "Kelly", "may I say: [NAME] helped"),
        ("with grace and patience", "Grace", "Patience", "with grace and patience"),
        ("the price went up, Price said", "Tom", "Price", "the price went up, [NAME] said"),
        # A one-letter name is not looked for; another row's names are not either.
        ("J wrote this", "J", "Walsh", "J wrote this"),
    ],
)
def test_the_recipients_own_names_are_redacted(
    text: str, first: str | None, last: str | None, expected: str
) -> None:
    frame = _frame([(text, None, first, last), (text, None, "Róisín", "Dunne")])
    redacted, counts = redact_pii(frame, ["t"], "IE", recipient_names=["first", "last"])
    assert redacted.get_column("t").to_list() == [expected, text]
    assert counts["person_name"] == expected.count("[NAME]")


def test_a_delivery_lands_its_comments_without_the_rows_own_id_and_names(
    tmp_path: Path,
) -> None:
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery, landed_periods
    from servicelens.storage.partitions import read_partition

    path = tmp_path / "ie-qualtrics.toml"
    path.write_text(DEFINITION.format(), encoding="utf-8")
    definition = load_definition(str(path))
    source = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Dublin").for_source(
        definition.name, str(path)
    )
    rows = [
        (
            "R1",
            "ref C40017733, Siobhán here. I live at 12 Acacia Road, D02 X285",
            "C40017733",
            "Siobhán",
            "Byrne",
        ),
        ("R2", "ref C40017733 is not me - Byrne is my neighbour", "C50000001", "Will", "Kelly"),
        ("R3", "I will call - order A12 B345", "C50000002", "Will", "Nolan"),
    ]
    export = tmp_path / "export.csv"
    export.write_text(
        HEADER
        + "".join(
            f"{r};2026-12-03 1{i}:00;2;{c};{cid};{f};{ln}\n"
            for i, (r, c, cid, f, ln) in enumerate(rows)
        ),
        encoding="utf-8",
    )
    land_delivery(source, definition, export, NOW)
    (day,) = landed_periods(source)
    landed = read_partition(source.landed_dir, day).sort("source_line")
    assert landed.height == 3
    comments = dict(landed.select("response_id", "comment").iter_rows())
    assert comments == {
        "R1": "ref [CUSTOMER_NUMBER], [NAME] here. I live at [ADDRESS], [ADDRESS]",
        "R2": "ref C40017733 is not me - Byrne is my neighbour",  # another row's id and name
        "R3": "I will call - order A12 B345",
    }
    records = dict(landed.select("response_id", "raw_record").iter_rows())
    assert "C40017733" not in records["R1"].replace('"CustomerId":"C40017733"', "")
    assert "Siobhán" not in records["R1"] and "D02 X285" not in records["R1"]
    assert '"CustomerId":"C40017733"' in records["R1"]  # its own field, as before
    assert set(landed.get_column("customer_id")) == {"C40017733", "C50000001", "C50000002"}
    assert not [c for c in landed.columns if c.startswith("__own")]
