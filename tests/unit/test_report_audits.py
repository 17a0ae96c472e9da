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
from transforms.schemas import CLEAN_RESPONSE_SCHEMA, FEEDBACK_SCORED_SCHEMA

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
    write_partition(
        conform_filling(
            clean.with_columns(pl.lit("billing").alias("queue")), CLEAN_RESPONSE_SCHEMA
        ),
        settings.clean_dir,
        DAY,
        CLEAN_RESPONSE_SCHEMA,
        {},
        settings.staging_dir,
    )
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
    # Marts without in_training_set (scored before out-of-fold scores were kept) are in sample.
    assert note == (
        "37 audited negatives of the dates the champion was trained on, as the marts score "
        "them: each with the in-sample probability of a model that kept no out-of-fold ones "
        "(optimistic). The holdout metrics above are the out-of-time numbers."
    )


def test_the_curves_note_says_the_marts_give_trained_labels_out_of_fold_scores() -> None:
    """Found by an ML engineer's trial: the confusion matrix was labelled "18,224 audited
    negatives the champion was trained on (in sample: optimistic ...)", but the marts carry
    the out-of-fold score of every label the champion trained on (in_training_set)."""
    from servicelens.reporting.report import trained_rows_note

    flags = pl.DataFrame({"in_training_set": [True, True, True]})
    assert trained_rows_note(flags, "audited negatives") == (
        "3 audited negatives of the dates the champion was trained on, as the marts score "
        "them: each with the out-of-fold probability the marts carry for a label the champion "
        "trained on (from the cross-validation model that did not see it), classified at its "
        "threshold. The holdout metrics above are the out-of-time numbers."
    )
    mixed = pl.DataFrame({"in_training_set": [True, True, False, None]})
    note = trained_rows_note(mixed, "audited negatives")
    assert ": 2 with the out-of-fold probability" in note
    assert "; 1 with a prediction made without its label" in note
    assert "; 1 with the in-sample probability of a model that kept no out-of-fold" in note
    assert "in sample: optimistic" not in note


def test_the_qa_section_and_json_say_where_every_audit_row_went(tmp_path: Path) -> None:
    """Found by a QA lead's trial: `train` and `review-queue` named the files not read and
    the rows set aside (a date typed as a serial number, a misspelt verdict, rows dated
    before their response); the report showed none, as if every audit had been taken."""
    from servicelens.reporting.report import render_report

    settings = _scored_and_audited(tmp_path)
    folder = tmp_path / "raw" / "2026-11-22"
    folder.mkdir()
    header = "response_id,root_cause,audited_at,auditor\n"
    (folder / "audits-eve.csv").write_text(
        header
        + "R900,policy_falure,2026-11-22 10:00,eve\n"
        + "R901,perceived,46348,eve\n"
        + "R902,policy_falure,2026-11-22 10:05,eve\n"
    )
    (folder / "acme-ws - eve.tsv").write_text(header.replace(",", "\t"))
    page, result = render_report(settings, None, datetime(2026, 12, 2, tzinfo=UTC))
    section = page.split('<section id="review-queue">', 1)[1].split("</section>", 1)[0]
    # No model yet: the first-audit list holds the three responses whose only audits are
    # dated before them (an audit training does not use closes no item).
    assert section.startswith(
        "<h2>What QA audits next</h2><p>No model yet, so nothing is scored: 3 negative "
        "responses over 1 date(s) have no label"
    )
    assert all(f"<td>R0{n}</td>" in section for n in (37, 38, 39))
    tally = result.headline["audits"]
    assert (tally["rows_read"], tally["used"], tally["dated_before_the_response"]) == (43, 37, 3)
    assert tally["set_aside"] == {"root_cause": 2, "audited_at": 1}
    assert tally["misplaced_files"] == [str(folder / "acme-ws - eve.tsv")]
    lines = (
        "audits: 43 rows in 2 file(s), 37 used; 3 dated before their response, 2 set aside "
        f"(root_cause), 1 set aside (audited_at); {folder / 'acme-ws - eve.tsv'} is not read: "
        "audits are read from CSV files named audits.csv or audits-&lt;name&gt;.csv: if it is "
        "CSV or tab-separated text, such as Excel&#x27;s Unicode Text, rename it "
        "audits-acme-ws - eve.csv (its delimiter, a tab or a comma, is found by itself)",
        "  2026-11-22/audits-eve.csv line 2 (R900): root_cause: &#x27;policy_falure&#x27; is "
        "not one of perceived or policy_failure (did you mean policy_failure?) (and 1 more "
        "like it in this file)",
        "  2026-11-22/audits-eve.csv line 3 (R901): audited_at: &#x27;46348&#x27; is a "
        "spreadsheet&#x27;s date serial number (2026-11-22), not a date: format the column as "
        "a date (2026-11-28) before saving the file as CSV",
        "  2026-11-21/audits.csv line 39 (R037): response_id: &#x27;R037&#x27; was audited "
        "before the response was submitted (audited 2026-11-13, submitted 2026-11-20): check "
        "audited_at (a day-first date read month-first, or a wrong year?) (and 2 more like it "
        "in this file: line 40 &#x27;R038&#x27;, line 41 &#x27;R039&#x27;)",
    )
    assert (
        f"<p>QA's audits as the next <code>servicelens --data-dir {tmp_path} train</code> "
        "counts them (a row set aside labels nothing and closes no item until it is mended):"
        "</p><pre>" + "\n".join(lines) + "</pre>"
    ) in section
