"""A contact-centre interaction export whose ids a spreadsheet rewrote (trial 96: every
export passed through Excel): its rows with an interaction or customer id in scientific
notation are quarantined with the row suite's reason, not joined to a response or counted
as one customer's repeat contacts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl

from servicelens.settings import INTERACTIONS_FILE, Settings
from servicelens.stages import validate_day
from servicelens.synthetic.generator import generate

DAY = date(2026, 10, 1)
SCIENTIFIC = (
    "is a number a spreadsheet wrote in scientific notation: its digits are lost. Export the "
    "ids again as text (format that column as Text before saving, or import the CSV with it "
    "as Text: a CSV opened in the spreadsheet has its long numbers turned into this)"
)


def test_interaction_rows_with_ids_in_scientific_notation_are_quarantined(
    tmp_path: Path,
) -> None:
    generate(tmp_path, DAY, DAY, per_day=60, seed=5)
    settings = Settings(data_dir=str(tmp_path))
    export = settings.raw_day(DAY) / INTERACTIONS_FILE
    lines = export.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    # Lines 2 and 3: two customers rounded alike; line 4: an interaction id so written.
    records[1]["customer_id"] = "4,17E+08"
    records[2]["customer_id"] = "4.17E+08"
    records[3]["interaction_id"] = "4.17001E+08"
    records[4]["customer_id"] = records[4]["interaction_id"] = "1,23457E+11"
    # A customer and an agent an export writes as "-" (none) are no formula: kept.
    records[5]["customer_id"] = records[5]["agent_id"] = "-"
    lost = [r["interaction_id"] for r in records[:3]]
    export.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")

    validated = validate_day(settings, DAY, "test")
    counts = validated.counts
    assert counts.interactions_read == len(records)
    assert counts.surveys_read == counts.kept + counts.quarantined
    quarantine = validated.quarantine()
    interactions = quarantine.filter(pl.col("feed") == "interactions")
    assert dict(interactions.select("source_line", "reasons").rows()) == {
        2: [f"customer_id: '4,17E+08' {SCIENTIFIC}"],
        3: [f"customer_id: '4.17E+08' {SCIENTIFIC}"],
        4: [f"interaction_id: '4.17001E+08' {SCIENTIFIC}"],
        5: [
            f"interaction_id: '1,23457E+11' {SCIENTIFIC}",
            f"customer_id: '1,23457E+11' {SCIENTIFIC}",
        ],
    }
    assert counts.interactions_quarantined == 4
    assert 6 not in interactions.get_column("source_line").to_list()
    # No response joined to a quarantined interaction is kept with its facts.
    kept = validated.clean()
    assert kept.filter(pl.col("customer_id").str.contains("E\\+")).is_empty()
    assert kept.filter(pl.col("interaction_id").is_in(lost[1:])).is_empty()
