"""Personal data planted in survey comments never leaves the raw zone.

The unit tests pin what each kind of redaction catches and what it leaves alone. The
pipeline test plants e-mail addresses, phone, card and bank numbers and postal addresses in
generated comments (in rows that are kept, rows that fail validation and malformed lines),
runs the real stages, and searches every value of every table, manifest and staged frame the
run wrote, and every log record, for any of them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from models.train import without_scores
from servicelens.settings import Settings
from servicelens.stages import (
    load_clean,
    publish_clean,
    publish_marts,
    validate_day,
)
from servicelens.storage.partitions import read_manifest
from servicelens.synthetic.generator import generate
from transforms.pii import PII_KINDS, luhn_valid, redact_pii

DAY = date(2026, 10, 5)

#: What a customer might write, by kind, each with the number of values it holds.
PLANTED: dict[str, list[str]] = {
    "email": ["jane.doe@example.com", "m.garcia+pedidos@correo.example.es"],
    "phone": ["+44 20 7946 0958", "(555) 123-4567", "07700 900123"],
    "card": ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
    "bank_account": [
        "GB82 WEST 1234 5698 7654 32",
        "DE89370400440532013000",
        "sort code 12-34-56",
        "account number 31926819",
    ],
    "postal_address": ["221B Baker Street", "10 Downing Street", "SW1A 2AA"],
}


def _redact(text: str) -> str:
    frame, _ = redact_pii(pl.DataFrame({"t": [text]}), ["t"])
    return str(frame.item())


@pytest.mark.parametrize(
    ("kind", "value"), [(kind, value) for kind, values in PLANTED.items() for value in values]
)
def test_each_planted_value_is_replaced_by_its_typed_placeholder(kind: str, value: str) -> None:
    placeholder = next(k.placeholder for k in PII_KINDS if k.name == kind)
    frame, counts = redact_pii(pl.DataFrame({"t": [f"Please use {value} thanks"]}), ["t"])
    assert frame.item() == f"Please use {placeholder} thanks"
    assert counts[kind] == 1 and sum(counts.values()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Order 4111111111111112 arrived late",  # 16 digits that fail the Luhn check
        "Delivered 2026-10-01 14:03, four hours late",
        "Paid 129.99 and waited 20 minutes at 10:30",
        "Ticket 12345, three transfers",
        "I waited in Baker Street for an hour",  # a street with no house number
        "",
    ],
)
def test_ordinary_comments_are_left_alone(text: str) -> None:
    assert _redact(text) == text


def test_luhn_check_tells_real_card_numbers_from_others() -> None:
    frame = pl.DataFrame({"n": ["4111 1111 1111 1111", "4111 1111 1111 1112", "79927398713"]})
    assert frame.select(luhn_valid("n")).to_series().to_list() == [True, False, True]


def test_counts_are_placeholders_added_not_text_that_already_looked_like_one() -> None:
    frame, counts = redact_pii(
        pl.DataFrame({"t": ["[EMAIL] is what I typed, mail a@b.co", None]}), ["t"]
    )
    assert frame.get_column("t").to_list() == ["[EMAIL] is what I typed, mail [EMAIL]", None]
    assert counts["email"] == 1


# --- the whole run --------------------------------------------------------------------------


def _secrets() -> list[str]:
    """Every planted value, and the bare digits of the numeric ones (as a leak might show)."""
    found: list[str] = []
    for values in PLANTED.values():
        for value in values:
            found.append(value)
            digits = re.sub(r"\D", "", value)
            if len(digits) >= 8:
                found.append(digits)
    return found


def _plant(path: Path) -> dict[str, int]:
    """Add PII to comments of kept rows, a row that fails validation and a malformed line."""
    text = path.read_text(encoding="utf-8", errors="strict")
    lines = text.splitlines()
    header = lines[0].split(",")
    rows = list(csv.DictReader(io.StringIO(text)))
    planted = {kind: 0 for kind in PLANTED}
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    sentences = [(kind, value) for kind, values in PLANTED.items() for value in values]
    for i, row in enumerate(rows[:60]):
        kind, value = sentences[i % len(sentences)]
        row = dict(row)
        row["comment"] = f"{row['comment'] or ''} Contact: {value}."
        if i == 7:
            row["csat"] = "9"  # this one goes to quarantine with its (redacted) raw record
        planted[kind] += 1
        writer.writerow(row)
    body = out.getvalue()
    # A malformed line (a field too many) whose whole text is quarantined, redacted.
    body += "R-BROKEN,I-BROKEN,2026-10-05T10:00:00,phone,1,0,7,call jane.doe@example.com,en,x,y\n"
    planted["email"] += 1
    path.write_text(body, encoding="utf-8")
    return planted


@pytest.fixture(scope="module")
def run_with_pii(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Settings, dict[str, int], list[logging.LogRecord]]:
    root = tmp_path_factory.mktemp("pii")
    generate(root, DAY, DAY, per_day=80, seed=9, mess=False)
    settings = Settings(data_dir=str(root))
    planted = _plant(settings.raw_day(DAY) / "surveys.csv")

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    root_logger = logging.getLogger()
    previous = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    try:
        validated = validate_day(settings, DAY, "pii-run")
        publish_clean(settings, validated, {"run_id": "pii-run"})
        clean = without_scores(load_clean(settings, DAY))
        publish_marts(settings, DAY, clean, None, {"run_id": "pii-run"})
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(previous)
    return settings, planted, records


def _every_string_written(settings: Settings) -> list[str]:
    """Every string value of every Parquet file and every JSON file outside the raw zone."""
    values: list[str] = []
    for path in sorted(settings.root.rglob("*")):
        if not path.is_file() or settings.root / "raw" in path.parents:
            continue
        if settings.truth_dir in path.parents:
            continue  # the generator's answer key, not a pipeline output
        if path.suffix == ".parquet":
            con = duckdb.connect()
            arrow = con.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table()
            table = pl.from_arrow(arrow)
            assert isinstance(table, pl.DataFrame)
            for name, dtype in table.schema.items():
                if dtype == pl.String:
                    values.extend(table.get_column(name).drop_nulls().to_list())
                elif dtype == pl.List(pl.String):
                    values.extend(table.get_column(name).explode().drop_nulls().to_list())
        else:
            values.append(path.read_text(errors="replace"))
    return values


def test_no_planted_value_reaches_any_output_or_staged_file(
    run_with_pii: tuple[Settings, dict[str, int], list[logging.LogRecord]],
) -> None:
    settings, _, _ = run_with_pii
    written = _every_string_written(settings)
    assert any("[EMAIL]" in v for v in written), "the planted comments were not written at all"
    leaks = [(s, v[:120]) for s in _secrets() for v in written if s in v]
    assert leaks == []


def test_the_raw_zone_keeps_the_original_text(
    run_with_pii: tuple[Settings, dict[str, int], list[logging.LogRecord]],
) -> None:
    settings, _, _ = run_with_pii
    raw = (settings.raw_day(DAY) / "surveys.csv").read_text()
    assert all(value in raw for values in PLANTED.values() for value in values)


def test_no_planted_value_reaches_the_logs(
    run_with_pii: tuple[Settings, dict[str, int], list[logging.LogRecord]],
) -> None:
    _, _, records = run_with_pii
    messages = [r.getMessage() for r in records]
    assert [s for s in _secrets() for m in messages if s in m] == []


def test_redaction_counts_are_in_the_manifest_and_match_what_was_planted(
    run_with_pii: tuple[Settings, dict[str, int], list[logging.LogRecord]],
) -> None:
    settings, planted, _ = run_with_pii
    for table_dir in (settings.clean_dir, settings.quarantine_dir):
        manifest = read_manifest(table_dir, DAY)
        assert manifest is not None
        assert manifest["counts"]["redacted"] == planted, json.dumps(manifest["counts"])


def test_quarantined_rows_keep_their_reasons_and_redacted_raw_record(
    run_with_pii: tuple[Settings, dict[str, int], list[logging.LogRecord]],
) -> None:
    settings, _, _ = run_with_pii
    quarantine = pl.read_parquet(settings.quarantine_dir / f"survey_date={DAY}" / "part-0.parquet")
    scored = quarantine.filter(pl.col("reasons").list.join(" ").str.contains("csat: '9'"))
    assert scored.height == 1
    assert json.loads(scored.get_column("raw_record").item())["comment"].endswith("].")
    broken = quarantine.filter(pl.col("raw_record").str.starts_with("R-BROKEN"))
    assert broken.get_column("raw_record").item().endswith("call [EMAIL],en,x,y")
