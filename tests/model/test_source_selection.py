"""A source onboarded with a plain mapping (no tuning keys) gets a chosen model, learns from
a second export whose rows have labels but no text, and the report shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from models.pipeline import DESIGNS
from models.select import Selection
from servicelens.cli.main import main
from servicelens.cli.models import selection_lines
from servicelens.reporting.report import _design_and_review, render_report
from servicelens.settings import Settings
from tests.sources.test_train_and_score import VENDOR_MAPPING, _vendor_export

#: The vendor mapping with every tuning key removed: what a team onboarding an export writes.
PLAIN_MAPPING = "\n".join(
    line
    for line in VENDOR_MAPPING.splitlines()
    if not line.startswith(("crosses", "char_ngrams", "c =", "boosted_facts"))
)


def test_a_plain_mapping_gets_a_chosen_model_that_learns_from_text_less_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "plain.toml"
    mapping.write_text(PLAIN_MAPPING)
    _vendor_export(240, seed=1).write_csv(tmp_path / "with_text.csv")
    without_text = _vendor_export(400, seed=3).with_columns(pl.lit("").alias("what_happened"))
    without_text.write_csv(tmp_path / "without_text.csv")
    data = ["--data-dir", str(tmp_path / "data")]
    args = ["train", "--source", str(mapping), "--folds", "3"]
    inputs = [
        "--input",
        str(tmp_path / "with_text.csv"),
        "--input",
        str(tmp_path / "without_text.csv"),
    ]
    assert main([*data, "--json", *args, *inputs]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]

    selection = metrics["selection"]
    assert selection["chosen"] in DESIGNS
    assert set(selection["candidates"]) == set(DESIGNS)
    assert metrics["input"]["labelled_rows"] == 240
    assert metrics["input"]["facts_only_rows"] == metrics["facts_only_rows"] == 400
    roles = [f["role"] for f in metrics["input"]["files"]]
    assert roles == ["scored", "facts only (no text)"]
    # The time split cut the text-less rows at its own date: only earlier ones trained.
    split = metrics["split"]
    early = without_text.filter(
        pl.col("opened").str.to_date("%d/%m/%Y") < pl.lit(split["test_from"]).str.to_date()
    )
    assert split["facts_only_train_rows"] == early.height < 400
    assert metrics["cross_validation"]["roc_auc"] > 0.9
    curve = metrics["decision"]["abstention"]
    assert curve[0]["review_share"] == 0.0
    assert all(0 <= point["review_share"] <= 1 for point in curve)

    # The same run, read by people: the console names the design and every candidate.
    assert main([*data, *args, *inputs]) == 0
    printed = capsys.readouterr().out
    assert "design chosen on the training slice" in printed
    for design in DESIGNS:
        assert design in printed
    assert "tf-idf + logistic regression" in printed and "review band" in printed
    # The second run would build the first one's model again: it keeps it untrained, saying
    # so, and shows the champion's report (a QA lead's trial waited 65 s for each twin).
    assert "nothing changed since it was built" in printed.splitlines()[0]
    assert "so it was not trained again" in printed.splitlines()[0]
    # Without the text-less export it trains on other rows (a trial's retrain with 11,474
    # facts-only rows more was said to have the same rows, and promoted uncompared).
    assert main([*data, "--json", *args, *inputs[:2]]) == 0
    decision = json.loads(capsys.readouterr().out)["decision"]
    assert "same labelled rows" not in decision

    html, _ = render_report(Settings(data_dir=str(tmp_path / "data")), None, datetime.now(UTC))
    model_section = html.split('<section id="model">')[1].split("</section>")[0]
    assert (
        "Source acme-vendor" in model_section and "Reliability on the time split" in model_section
    )
    assert "chosen on the training slice" in model_section


def test_a_mapping_naming_the_facts_design_trains_scores_shows_and_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``design = "facts"`` in [features]: nothing is compared, the model reads the facts
    alone, its scores' reasons never name the comment, and models show and the report name
    the design. A design not of the family is refused naming the file."""
    mapping = tmp_path / "facts.toml"
    mapping.write_text(PLAIN_MAPPING + '\ndesign = "facts"\n')
    _vendor_export(240, seed=1).write_csv(tmp_path / "train.csv")
    data = ["--data-dir", str(tmp_path / "data"), "--json"]
    source = ["--source", str(mapping)]
    train = [*data, "train", *source, "--input", str(tmp_path / "train.csv"), "--folds", "3"]
    assert main(train) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["metrics"]["selection"]["chosen"] == "facts"
    assert trained["metrics"]["selection"]["candidates"] == {}

    new = _vendor_export(30, seed=2).drop("verdict", "resolution_note")
    new.write_csv(tmp_path / "new.csv")
    out = tmp_path / "scored.parquet"
    assert main([*data, "score", *source, "--input", str(tmp_path / "new.csv"), "--output",
                 str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    reasons = [r for row in pl.read_parquet(out).get_column("top_reasons").to_list() for r in row]
    assert reasons and not [r for r in reasons if "comment" in r or "phrase" in r], reasons

    assert main([*data, "models", *source, "show"]) == 0
    assert json.loads(capsys.readouterr().out)["design"] == "facts"
    html, _ = render_report(Settings(data_dir=str(tmp_path / "data")), None, datetime.now(UTC))
    assert "Design: facts (fixed by the source&#x27;s spec; no other design was compared)." in html

    mapping.write_text(PLAIN_MAPPING + '\ndesign = "forest"\n')
    assert main(train) == 2
    said = capsys.readouterr()
    assert f"{mapping} [features]: design 'forest' is not one of" in said.out + said.err


_SCORES = {"log_loss": 0.41, "roc_auc": 0.88, "brier": 0.13, "cpu_seconds": 1.0}
_ONE_CAUSE = (
    "3 time-ordered folds (forward chaining), 40 validation rows, all perceived: they judge "
    "no design, so the simplest, tfidf, is kept"
)


@pytest.mark.parametrize(
    ("selection", "paragraph"),
    [
        (
            Selection("facts", {}, "fixed by the source's spec"),
            "<p>Design: facts (fixed by the source&#x27;s spec; no other design was compared).</p>",
        ),
        (
            Selection("tfidf", {"tfidf": _SCORES, "blend": _SCORES}, _ONE_CAUSE, judged=False),
            f"<p>Design chosen on the training slice ({_ONE_CAUSE}): tfidf.</p>",
        ),
        (
            Selection("blend", {"tfidf": _SCORES, "blend": _SCORES}, "3 folds, 40 rows"),
            "<p>Design chosen on the training slice (3 folds, 40 rows): blend (lowest "
            "validation log loss).</p>",
        ),
    ],
)
def test_the_report_says_how_the_design_was_chosen_as_the_terminal_does(
    selection: Selection, paragraph: str
) -> None:
    """The report said "by validation log loss" of every design, also one the definition
    fixed (``[features] design``) or one kept because validation rows of one root cause
    judged none; ``train`` and ``models show`` said which. Both say the same line now."""
    metrics = {"selection": selection.as_dict()}
    said = _design_and_review(metrics)
    assert said.startswith(paragraph)
    terminal = selection_lines(metrics["selection"])[0]
    assert paragraph.lower() == f"<p>{terminal}.</p>".replace("'", "&#x27;").lower()
