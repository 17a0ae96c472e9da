"""A corrected re-download of the same export: the complaints whose values changed are said
to be updated, naming what changed, and those sent again unchanged stay duplicate
deliveries, for every source (not only one whose export states an update time).

Found by a consumer-finance researcher's trial (trial 106): after the CFPB's June 2025
complaints were downloaded again, all 78 superseded rows read "duplicate delivery:
superseded by line 2 of complaints-2025-06-redownload.csv", among them 99106008, whose
company response had moved from 'In progress' to 'Closed with monetary relief', and
13822987, whose narrative had been edited."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

from servicelens.cli.console import counts_detail
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import land_delivery
from servicelens.settings import Settings
from servicelens.stages import validate_landed_rows
from servicelens.storage.partitions import read_partition
from servicelens.validation.reasons import quarantined_split, with_reason_kinds

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HEADER = [
    "Date received", "Product", "Sub-product", "Issue", "Sub-issue",
    "Consumer complaint narrative", "Company", "State", "Tags", "Submitted via",
    "Company response to consumer", "Timely response?", "Complaint ID",
]  # fmt: skip
#: Three June 2025 complaints as the CFPB's CSV download writes them.
JUNE = [
    ["2025-06-01", "Credit card", "Store credit card", "Fees or interest", "",
     "I was charged interest I was told I would not pay.", "CITIBANK, N.A.", "NV", "",
     "Web", "Closed with non-monetary relief", "Yes", "13822987"],
    ["2025-06-02", "Credit card", "Store credit card", "Problem when making payments", "",
     "I could not make a payment online.", "Possible Financial Inc", "OH", "", "Web",
     "Closed with explanation", "Yes", "13824392"],
    ["2025-06-03", "Debt collection", "I do not know", "Attempts to collect debt not owed",
     "Debt was paid", "They call about a debt I paid.", "Collections R Us", "TX", "", "Web",
     "In progress", "Yes", "99106008"],
]  # fmt: skip


def _download(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_a_corrected_redownload_says_what_changed_and_keeps_unchanged_copies_duplicates(
    tmp_path: Path,
) -> None:
    definition = load_definition("cfpb")
    source = Settings(data_dir=str(tmp_path / "data")).for_source("cfpb", "cfpb", "month")
    edited, same, corrected = (list(row) for row in JUNE)
    edited[5] = "I was charged interest I was told I would not pay, twice."
    corrected[10] = "Closed with monetary relief"
    first = _download(tmp_path / "complaints-2025-06.csv", JUNE)
    again = _download(tmp_path / "complaints-2025-06-redownload.csv", [edited, same, corrected])
    land_delivery(source, definition, first, NOW)
    landing = land_delivery(source, definition, again, NOW.replace(hour=13))
    month = date(2025, 6, 1)
    # The complaint downloaded again as it was is counted at landing, not stored again.
    assert landing.unchanged_copies == {month: 1}
    rows = read_partition(source.landed_dir, month)
    clean, quarantine, counts = validate_landed_rows(source, definition, rows, NOW, period=month)

    assert clean.select("response_id", "label").sort("response_id").rows() == [
        ("13822987", "policy_failure"),
        ("13824392", "perceived"),
        ("99106008", "policy_failure"),
    ]
    of_file = "of complaints-2025-06-redownload.csv"
    assert dict(quarantine.select("record_id", "reasons").iter_rows()) == {
        "13822987": [f"updated: superseded by the later version on line 2 {of_file} "
                     "(changed: comment)"],
        "99106008": [f"updated: superseded by the later version on line 4 {of_file} "
                     "(changed: label)"],
    }  # fmt: skip
    kinds = with_reason_kinds(quarantine.sort("record_id")).get_column("reason_kinds").to_list()
    assert kinds == [["updated"], ["updated"]]
    assert quarantine.get_column("superseded").to_list() == [True, True]
    assert counts.updated_copies == 2 and counts.superseded_duplicates == 2
    assert quarantined_split(3, 3, 0, counts.updated_copies) == (
        "3 superseded by a later line or delivery (2 updated, 1 unchanged), 0 rejected"
    )
    assert counts_detail({**counts.__dict__, "scored": 0}) == (
        "read 5 kept 3 quarantined 2 (2 of them superseded by a later line or delivery: "
        "2 updated) scored 0"
    )


def test_an_attribute_corrected_in_a_redownload_is_named(tmp_path: Path) -> None:
    """An attribute (the company's name, kept as JSON in ``attributes``) is named by its
    own name, not as the whole attributes column."""
    definition = load_definition("cfpb")
    source = Settings(data_dir=str(tmp_path / "data")).for_source("cfpb", "cfpb", "month")
    renamed = list(JUNE[1])
    renamed[6] = "Possible Financial, Inc."
    first = _download(tmp_path / "complaints.csv", JUNE[1:2])
    again = _download(tmp_path / "complaints-again.csv", [renamed])
    land_delivery(source, definition, first, NOW)
    land_delivery(source, definition, again, NOW.replace(hour=13))
    month = date(2025, 6, 1)
    rows = read_partition(source.landed_dir, month)
    _, quarantine, _ = validate_landed_rows(source, definition, rows, NOW, period=month)
    assert quarantine.get_column("reasons").to_list() == [
        [
            "updated: superseded by the later version on line 2 of complaints-again.csv "
            "(changed: company)"
        ]
    ]
