"""A source whose export carries each row's country (a Qualtrics embedded-data field
"Country" or "Market", a Zendesk ticket field, a locale column) reads each row's national
phone numbers in that country's plan. Found by a multilingual European operator's trial: one
source covering four countries had to choose one ``country``, and a French number in French
national form with no phone word before it ("le 01 42 68 53 00 sonne") was kept in a source
with ``country = "DE"``, in the landed comment and the quarantine's raw record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.settings import Settings
from transforms.pii import redact_pii

#: The trial's French number in national form, no phone word before it.
FRENCH = "le 01 42 68 53 00 sonne"
#: A German national number (Berlin), no phone word before it.
GERMAN = "Bitte 030 12345678 zurück"

DEFINITION = """\
name = "eu-operator"
timezone = "Europe/Berlin"
country = "DE"
{extra}
[read]
delimiter = ";"

[columns]
response_id = "ResponseId"
submitted_at = {{ column = "RecordedDate", format = "%Y-%m-%d %H:%M" }}
csat = "Q1"
comment = "Q2"
{country}
"""
HEADER = "ResponseId;RecordedDate;Q1;Q2;Market\n"
NOW = datetime(2026, 12, 4, 9, tzinfo=UTC)


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


def _definition(tmp_path: Path, country: str, extra: str = "") -> Path:
    path = tmp_path / "eu-operator.toml"
    path.write_text(DEFINITION.format(country=country, extra=extra), encoding="utf-8")
    return path


def _export(tmp_path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """An export of ``rows`` (id, comment, market), one response a minute."""
    lines = [
        f"{rid};2026-12-03 1{i}:00;2;{comment};{market}\n"
        for i, (rid, comment, market) in enumerate(rows)
    ]
    path = tmp_path / "export.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


TRIAL_ROWS = [
    ("R1", FRENCH, "FR"),
    ("R2", GERMAN, "DE"),
    ("R3", FRENCH, ""),  # no value: the source's DE
    ("R4", FRENCH, "France"),  # unrecognised: the source's DE, told
    ("R5", FRENCH, "fr-BE"),  # a locale: Belgium's plan, where 01 42 68 53 00 is no number
    ("R6", FRENCH, "fr_FR"),
    ("R7", FRENCH, "France"),
    ("R8", FRENCH, "UK"),
]


def test_a_delivery_of_two_countries_is_redacted_row_by_row_and_unrecognised_told_once(
    tmp_path: Path,
) -> None:
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery, landed_periods
    from servicelens.storage.partitions import read_partition

    path = _definition(tmp_path, 'country = { column = "Market" }')
    definition = load_definition(str(path))
    source = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Berlin").for_source(
        definition.name, str(path)
    )
    landing = land_delivery(source, definition, _export(tmp_path, TRIAL_ROWS), NOW)
    (day,) = landed_periods(source)
    landed = read_partition(source.landed_dir, day).sort("source_line")
    assert landed.height == len(TRIAL_ROWS)  # every row kept: redaction loses none
    comments = dict(landed.select("response_id", "comment").iter_rows())
    assert comments == {
        "R1": "le [PHONE] sonne",
        "R2": "Bitte [PHONE] zurück",
        "R3": FRENCH,
        "R4": FRENCH,
        "R5": FRENCH,
        "R6": "le [PHONE] sonne",
        "R7": FRENCH,
        "R8": FRENCH,
    }
    # The raw record's comment field is redacted in the row's country too.
    records = dict(landed.select("response_id", "raw_record").iter_rows())
    assert "01 42 68 53 00" not in records["R1"] and "[PHONE]" in records["R1"]
    assert "030 12345678" not in records["R2"]
    assert '"Market":"FR"' in records["R1"]  # the export's column, as delivered
    assert "country" not in landed.columns
    # Told once for the delivery, with the count and the values.
    told = [n for n in landing.notes() if "names no country" in n]
    assert len(told) == 1
    assert told[0].startswith(
        "3 rows had a per-row country (country from column 'Market') that names no country: "
        "'France' (2), 'UK' (1); their phone numbers were read in the source's country DE "
        "(kept, as every row)"
    )


def test_a_delivery_without_unrecognised_values_is_told_nothing(tmp_path: Path) -> None:
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery

    path = _definition(tmp_path, 'country = "Market"')
    definition = load_definition(str(path))
    source = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Berlin").for_source(
        definition.name, str(path)
    )
    rows = [("R1", FRENCH, "fr"), ("R2", GERMAN, "")]
    landing = land_delivery(source, definition, _export(tmp_path, rows), NOW)
    assert landing.unrecognised_countries is None
    assert not [n for n in landing.notes() if "country" in n]


def test_sources_check_shows_the_per_row_country_and_its_values_mapped(tmp_path: Path) -> None:
    from servicelens.cli.sources import _preview_text, check_definition

    path = _definition(
        tmp_path, 'country = { column = "Market", values = { France = "FR", Deutschland = "DE" } }'
    )
    settings = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Berlin")
    export = _export(tmp_path, TRIAL_ROWS)
    preview = check_definition(str(path), str(export), settings)
    countries = preview["row_countries"]
    assert countries["by_country"] == {"FR": 4, "DE": 1, "BE": 1}
    assert (countries["empty"], countries["unrecognised"]) == (1, {"UK": 1})
    text = _preview_text(preview)
    assert (
        "phone numbers in national form read in each row's country (country from column "
        "'Market'): FR 4, BE 1, DE 1; in the source's country DE: 2 (1 without a value, "
        "1 unrecognised)"
    ) in text
    assert "1 row had a per-row country (country from column 'Market') that names no " in text
    assert "country: 'UK' (1); its phone numbers were read in the source's country DE" in text
    # France and fr_FR are read in France's plan; fr-BE in Belgium's, '' and UK in Germany's.
    shown = {row["response_id"]: row["comment"] for row in preview["rows"]}
    assert [r for r, comment in shown.items() if "[PHONE]" in comment] == [
        "R1",
        "R2",
        "R4",
        "R6",
        "R7",
    ]


def test_the_per_row_country_is_no_feature_and_a_source_without_one_shows_none(
    tmp_path: Path,
) -> None:
    from servicelens.cli.sources import check_definition
    from servicelens.ingest.definitions import DefinitionError, load_definition

    path = _definition(
        tmp_path, 'country = "Market"', extra='[features]\ncategorical = ["country"]\n'
    )
    with pytest.raises(DefinitionError, match=r"map its column under \[attributes\] too"):
        load_definition(str(path))
    path = _definition(tmp_path, "")
    settings = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Berlin")
    preview = check_definition(str(path), str(_export(tmp_path, TRIAL_ROWS)), settings)
    assert preview["row_countries"] is None
    assert preview["counts"]["redacted"]["phone"] == 1  # R2's German number only
