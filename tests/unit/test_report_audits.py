"""What the run report says of QA's audits counts them as training does: the rows it
labels, the version a train saved without promoting it, and the tally of every audit row
(found by a QA lead's trial, whose auditors' worksheets came back from Calc and Sheets)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from servicelens.reporting.report import _audited_for_curves, _read_inputs
from servicelens.settings import Settings
from servicelens.stages import conform_filling, labelled_negatives
from servicelens.storage.partitions import write_partition
from transforms.schemas import FEEDBACK_SCORED_SCHEMA

DAY = date(2026, 11, 20)
#: Negatives of DAY, each audited; the last EARLY of them dated a week before it.
IDS = [f"R{i:03d}" for i in range(40)]
EARLY = 3


def _scored_and_audited(root: Path) -> Settings:
    """A sample data directory of DAY's 40 negative responses, cleaned and scored, and an
    audit file labelling each: the last :data:`EARLY` dated before their response."""
    settings = Settings(data_dir=str(root))
    submitted = datetime(2026, 11, 20, 9, tzinfo=UTC)
    clean = pl.DataFrame(
        {
            "survey_date": [DAY] * len(IDS),
            "response_id": IDS,
            "is_negative": [True] * len(IDS),
            "submitted_at": [submitted] * len(IDS),
        }
    )
    write_partition(clean, settings.clean_dir, DAY, dict(clean.schema), {}, settings.staging_dir)
    scored = clean.with_columns(
        pl.lit("sample").alias("source"),
        pl.lit("billing").alias("queue"),
        pl.Series("root_cause", ["policy_failure", "perceived"] * (len(IDS) // 2)),
        pl.Series("p_policy_failure", [0.8, 0.2] * (len(IDS) // 2)),
    )
    write_partition(
        conform_filling(scored, FEEDBACK_SCORED_SCHEMA),
        settings.marts_dir / "feedback_scored",
        DAY,
        FEEDBACK_SCORED_SCHEMA,
        {"run_id": "t"},
        settings.staging_dir,
    )
    rows = [
        f"{r},{'policy_failure' if i % 3 else 'perceived'},"
        f"{'2026-11-13' if i >= len(IDS) - EARLY else '2026-11-21'},qa\n"
        for i, r in enumerate(IDS)
    ]
    folder = root / "raw" / "2026-11-21"
    folder.mkdir(parents=True)
    header = "response_id,root_cause,audited_at,auditor\n"
    (folder / "audits.csv").write_text(header + "".join(rows))
    return settings


def test_the_curves_count_the_audited_negatives_training_uses(tmp_path: Path) -> None:
    """Found by a QA lead's trial: the Model section said "trained on 18,238 audited
    negatives" and the confusion matrix "18,253 audited negatives the champion was trained
    on", the 15 audits dated before their response counted by the report alone."""
    settings = _scored_and_audited(tmp_path)
    trained = labelled_negatives(settings).height
    assert trained == len(IDS) - EARLY
    rows, note, in_sample = _audited_for_curves(_read_inputs(settings))
    assert rows.height == trained
    assert in_sample
    assert note == (
        "37 audited negatives the champion was trained on (in sample: optimistic; the "
        "holdout metrics above are the honest numbers)."
    )
