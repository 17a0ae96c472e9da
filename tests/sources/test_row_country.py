"""A source whose export carries each row's country (a Qualtrics embedded-data field
"Country" or "Market", a Zendesk ticket field, a locale column) reads each row's national
phone numbers in that country's plan. Found by a multilingual European operator's trial: one
source covering four countries had to choose one ``country``, and a French number in French
national form with no phone word before it ("le 01 42 68 53 00 sonne") was kept in a source
with ``country = "DE"``, in the landed comment and the quarantine's raw record."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.pii import redact_pii

#: The trial's French number in national form, no phone word before it.
FRENCH = "le 01 42 68 53 00 sonne"
#: A German national number (Berlin), no phone word before it.
GERMAN = "Bitte 030 12345678 zurück"


def test_each_rows_national_numbers_are_read_in_its_own_country() -> None:
    frame = pl.DataFrame(
        {
            "t": [FRENCH, GERMAN, FRENCH, FRENCH, "ring +33 1 42 68 53 00", GERMAN],
            "region": ["FR", "DE", None, "DE", "DE", "FR"],
        }
    )
    redacted, counts = redact_pii(frame, ["t"], region="DE", row_regions="region")
    assert redacted.get_column("t").to_list() == [
        "le [PHONE] sonne",  # a FR row
        "Bitte [PHONE] zurück",  # a DE row
        FRENCH,  # no country: the source's DE, as before
        FRENCH,  # a DE row: not a German number
        "ring [PHONE]",  # international form, whatever the row's region
        # 030 12345678 is no valid French number and no phone word stands before it
        GERMAN,
    ]
    assert counts["phone"] == 3
    assert redacted.get_column("region").to_list() == frame.get_column("region").to_list()


def test_a_rows_region_that_no_plan_knows_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"region 'XX' .* e\.g\. 'GB'"):
        redact_pii(pl.DataFrame({"t": [FRENCH], "r": ["XX"]}), ["t"], "DE", row_regions="r")


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("FR", "FR"),
        ("fr", "FR"),
        (" De ", "DE"),
        ("de-AT", "AT"),
        ("fr_BE", "BE"),
        ("zh-Hant-TW", "TW"),
        ("", None),
        (None, None),
        ("UK", None),  # not ISO 3166: GB
        ("Germany", None),
        ("de", "DE"),  # two letters are read as a country code, not a language
        ("en", None),  # no country
        ("fr-XX", None),
        ("deu", None),
    ],
)
def test_a_per_row_country_is_a_code_or_a_locales_region(value: str | None, region: str) -> None:
    from transforms.pii import row_region

    frame = pl.DataFrame({"c": [value]}, schema={"c": pl.String})
    assert frame.select(row_region(pl.col("c"))).item() == region
