"""The CFPB's two downloads of the same complaints, CSV and JSON, plain or gzipped, read by
the built-in ``cfpb`` source alike; and a JSON file given to a source that reads CSV told
as what it is.

Found by a consumer-finance researcher's trial (trial 106): the July 2025 complaints as the
CFPB serves them in JSON (a top-level array, the API's field names) were refused by the
``cfpb`` source as a CSV whose header "has 1 column: '['", and a definition of
``format = "json"`` read them as another source, with no model to score them."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.readers import SourceError, delivered_format
from servicelens.settings import Settings
from servicelens.stages import ingest_export

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

#: Three of the July 2025 complaints as the CFPB's JSON download writes them (narratives
#: shortened; the trial's file held 19).
COMPLAINTS = [
    {
        "date_received": "2025-07-01T12:00:00-05:00",
        "product": "Money transfer, virtual currency, or money service",
        "sub_product": "Mobile or digital wallet",
        "issue": "Trouble accessing funds in your mobile or digital wallet",
        "sub_issue": None,
        "complaint_what_happened": "My account was suddenly restricted with no reason given.",
        "company_public_response": None,
        "company": "PAYPAL HOLDINGS, INC.",
        "state": "NY",
        "zip_code": "10001",
        "tags": None,
        "consumer_consent_provided": "Consent provided",
        "submitted_via": "Web",
        "date_sent_to_company": "2025-07-01T12:00:00-05:00",
        "company_response": "Closed with monetary relief",
        "timely": "Yes",
        "consumer_disputed": "N/A",
        "complaint_id": "14390051",
        "has_narrative": True,
    },
    {
        "date_received": "2025-07-02T12:00:00-05:00",
        "product": "Credit card",
        "sub_product": "General-purpose credit card or charge card",
        "issue": "Problem when making payments",
        "sub_issue": "Problem during payment process",
        "complaint_what_happened": "I called and emailed and still could not make a payment.",
        "company_public_response": None,
        "company": "Possible Financial Inc",
        "state": "OH",
        "zip_code": "44052",
        "tags": "Servicemember",
        "consumer_consent_provided": "Consent provided",
        "submitted_via": "Web",
        "date_sent_to_company": "2025-07-02T12:00:00-05:00",
        "company_response": "Closed with explanation",
        "timely": "No",
        "consumer_disputed": "N/A",
        "complaint_id": "14402210",
        "has_narrative": True,
    },
    {
        "date_received": "2025-07-03T12:00:00-05:00",
        "product": "Debt collection",
        "sub_product": "I do not know",
        "issue": "Attempts to collect debt not owed",
        "sub_issue": "Debt was paid",
        "complaint_what_happened": "They keep calling about a debt I paid in 2023.",
        "company_public_response": None,
        "company": "Collections R Us",
        "state": "TX",
        "zip_code": "73301",
        "tags": None,
        "consumer_consent_provided": "Consent provided",
        "submitted_via": "Web",
        "date_sent_to_company": "2025-07-03T12:00:00-05:00",
        "company_response": "In progress",
        "timely": "Yes",
        "consumer_disputed": "N/A",
        "complaint_id": "14417766",
        "has_narrative": True,
    },
]

#: The CSV download's header names for the JSON's fields (the CFPB's published CSV).
CSV_NAMES = {
    "date_received": "Date received",
    "product": "Product",
    "sub_product": "Sub-product",
    "issue": "Issue",
    "sub_issue": "Sub-issue",
    "complaint_what_happened": "Consumer complaint narrative",
    "company_public_response": "Company public response",
    "company": "Company",
    "state": "State",
    "zip_code": "ZIP code",
    "tags": "Tags",
    "consumer_consent_provided": "Consumer consent provided?",
    "submitted_via": "Submitted via",
    "date_sent_to_company": "Date sent to company",
    "company_response": "Company response to consumer",
    "timely": "Timely response?",
    "consumer_disputed": "Consumer disputed?",
    "complaint_id": "Complaint ID",
}


def _json_download(path: Path) -> Path:
    """The complaints as the CFPB's JSON download: a top-level array, indented."""
    path.write_text(json.dumps(COMPLAINTS, indent=2), encoding="utf-8")
    return path


def _csv_download(path: Path) -> Path:
    """The same complaints as the CFPB's CSV download (dates without a time)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_NAMES.values())
        for record in COMPLAINTS:
            row = {**record, "date_received": str(record["date_received"])[:10]}
            writer.writerow("" if row[k] is None else row[k] for k in CSV_NAMES)
    return path


#: What a complaint is, whichever download it came in.
COMPARED = ["response_id", "survey_date", "queue", "policy_code", "comment", "label", "sla_met"]


def _clean(path: Path, tmp_path: Path) -> pl.DataFrame:
    ingested = ingest_export(
        load_definition("cfpb"), path, Settings(data_dir=str(tmp_path / "data")), now=NOW
    )
    assert ingested.counts.kept == len(COMPLAINTS) and ingested.counts.quarantined == 0
    return ingested.clean.select(COMPARED).sort("response_id")


def test_the_cfpb_source_reads_its_json_download_plain_and_gzipped_as_its_csv(
    tmp_path: Path,
) -> None:
    from_csv = _clean(_csv_download(tmp_path / "complaints.csv"), tmp_path)
    plain = _json_download(tmp_path / "complaints.json")
    packed = tmp_path / "complaints.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for delivery in (plain, packed):
        from_json = _clean(delivery, tmp_path)
        assert from_json.equals(from_csv), delivery.name
    assert from_csv["label"].to_list() == ["policy_failure", "perceived", None]
    assert from_csv["sla_met"].to_list() == [True, False, True]


def test_sources_check_previews_the_json_download_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    download = _json_download(tmp_path / "complaints-2025-07.json")
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "sources", "check", "cfpb", str(download)]) == 0
    out = capsys.readouterr().out
    assert "JSON records" in out
    assert "read 3: kept 3, quarantined 0" in out


def test_a_json_file_given_to_a_source_that_reads_csv_is_told_it_is_json(
    tmp_path: Path,
) -> None:
    download = _json_download(tmp_path / "complaints.json")
    with pytest.raises(SourceError) as refused:
        ingest_export(
            load_definition("sample"), download, Settings(data_dir=str(tmp_path / "data"))
        )
    message = str(refused.value)
    assert message.startswith(f"{download}: line 1: this file is JSON (a top-level array); ")
    assert "source sample reads CSV" in message
    assert 'format = "auto"' in message and "header" not in message


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'[\n  {\n    "date_received": "2025-07-01"', ("json", "a top-level array")),
        (b"\xef\xbb\xbf  []", ("json", "a top-level array")),
        (b'{"satisfaction_ratings": [', ("json", "an object")),
        (b'{"id": 1}\n{"id": 2}\n', ("json", "JSON Lines (an object a line)")),
        ('[{"id": 1}]'.encode("utf-16"), ("json", "a top-level array")),
        (b"[Id],[Name]\n1,Ann\n", ("csv", "")),
        (b"Date received,Product\n2025-07-01,Credit card\n", ("csv", "")),
        (b"{Id};Name\n1;Ann\n", ("csv", "")),
    ],
)
def test_a_delivery_is_json_when_its_content_opens_json(
    tmp_path: Path, head: bytes, expected: tuple[str, str]
) -> None:
    plain = tmp_path / "export"
    plain.write_bytes(head)
    packed = tmp_path / "export.gz"
    packed.write_bytes(gzip.compress(head))
    assert delivered_format(plain) == expected
    assert delivered_format(packed) == expected
