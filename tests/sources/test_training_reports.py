"""What ``train --source X --input F`` and ``models`` report of a small, lopsided export:
the folds that ran, a holdout of one root cause, the rows it quarantined."""

from __future__ import annotations

import contextlib
import html
import io
import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from models.pipeline import DESIGNS
from models.registry import read_metrics
from models.train import fold_count
from servicelens.cli.main import main
from tests.sources.test_train_and_score import VENDOR_MAPPING, _vendor_export
from transforms.schemas import QUARANTINE_SCHEMA, QUARANTINE_VERSION

START = date(2026, 1, 1)


def _lopsided_export(rows: int = 43, failures: int = 3) -> pl.DataFrame:
    """``failures`` "Our fault" rows on the first dates, the rest "As designed" over twelve
    dates: the latest dates (the time split's test slice) hold perceived rows only."""
    late = [(START + timedelta(days=i % 12)) for i in range(rows)]
    dates = [START + timedelta(days=i) if i < failures else late[i] for i in range(rows)]
    return _vendor_export(rows, seed=3).with_columns(
        pl.Series("verdict", ["Our fault" if i < failures else "As designed" for i in range(rows)]),
        pl.Series(
            "what_happened",
            [
                ("the engineer never came" if i < failures else "the fee was in the contract")
                + f" {i}"
                for i in range(rows)
            ],
        ),
        pl.Series("opened", [d.strftime("%d/%m/%Y") for d in dates]),
    )


@pytest.fixture(scope="module")
def lopsided(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, Any], str]:
    """Trained once: the ``models --source`` arguments, the version's metrics.json and
    training's terminal text."""
    root = tmp_path_factory.mktemp("lopsided")
    mapping = root / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    _lopsided_export().write_csv(root / "imbal.csv")
    data = ["--data-dir", str(root / "data")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            main([*data, "train", "--source", str(mapping), "--input", str(root / "imbal.csv")])
            == 0
        )
    registry = root / "data" / "models" / "sources" / "acme-vendor"
    (version,) = [p.name for p in registry.iterdir() if p.is_dir()]
    return (
        [*data, "models", "--source", str(mapping)],
        {**read_metrics(registry, version), "version": version},
        out.getvalue(),
    )


def test_the_folds_a_small_root_cause_lowers_are_counted_and_said() -> None:
    assert fold_count(np.array([0] * 40 + [1] * 3), 5) == (
        3,
        "lowered from the 5 asked for: policy_failure has only 3 labelled rows, and each "
        "stratified fold holds out at least one of each root cause",
    )
    assert fold_count(np.array([0] * 6 + [1] * 6), 5) == (5, None)


def test_training_records_and_prints_the_folds_that_ran(
    lopsided: tuple[list[str], dict[str, Any], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """3 policy_failure rows ran 3 folds; terminal, metrics.json and `models show` said 5."""
    models, metrics, said = lopsided
    cv = metrics["cross_validation"]
    assert (cv["folds"], cv["folds_requested"]) == (3, 5)
    assert metrics["tfidf_baseline"]["cross_validation"]["folds"] == 3
    assert "; 3-fold CV (lowered from the 5 asked for: policy_failure has only 3" in said
    assert main([*models, "show", metrics["version"]]) == 0
    assert "cross-validated (3 folds, lowered from the 5 asked for" in capsys.readouterr().out


def test_a_holdout_of_one_root_cause_is_said_to_judge_nothing(
    lopsided: tuple[list[str], dict[str, Any], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a data scientist's trial: all 10 test rows perceived, and `models list/show`
    still gave "macro_f1 0.444, ece 0.261" as holdout scores, the TF-IDF baseline's time
    pr_auc read 0.000 beside the model's nan, and every design candidate had roc_auc nan
    while one was "chosen" on its log loss."""
    models, metrics, said = lopsided
    assert metrics["split"]["test_one_class"] == "perceived"
    assert all(np.isnan(metrics["model"][k]) for k in ("roc_auc", "pr_auc", "macro_f1"))
    assert np.isnan(metrics["tfidf_baseline"]["time_split"]["pr_auc"])
    for baseline in ("majority_baseline", "text_only_baseline", "facts_only_baseline"):
        assert np.isnan(metrics[baseline]["macro_f1"])
    selection = metrics["selection"]
    assert selection["criterion"] == "none: validation rows of one root cause"
    assert selection["chosen"] == "linear"
    assert "all perceived: they judge no design, so the simplest, linear, is kept" in said
    told = "time split's test slice: every row is perceived, so it has no roc_auc or macro_f1"
    assert told in said
    assert main([*models, "show", metrics["version"]]) == 0
    assert "holdout (9 rows): every row is perceived, so it has no roc_auc" in (
        capsys.readouterr().out
    )
    assert main(["--json", *models, "list"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["holdout_one_class"] == "perceived"
    assert (row["macro_f1"], row["roc_auc"], row["ece"]) == (None, None, None)


def test_training_says_why_it_quarantined_rows_and_keeps_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a data scientist's trial: 300 complaints and 20 repeated ids with flipped
    labels printed "rows 320 (kept 280, quarantined 40)" and nothing else: no reason, no
    file, only counts in metrics.json (`score` of the same file gave the reason)."""
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    export = _vendor_export(120, seed=4)
    flipped = export.head(10).with_columns(
        pl.when(pl.col("verdict") == "Our fault")
        .then(pl.lit("As designed"))
        .otherwise(pl.lit("Our fault"))
        .alias("verdict")
    )
    pl.concat([export, flipped]).write_csv(tmp_path / "dup.csv")
    data = ["--data-dir", str(tmp_path / "data")]
    train = ["train", "--source", str(mapping), "--input", str(tmp_path / "dup.csv")]
    assert main([*data, *train, "--folds", "2"]) == 0
    said = capsys.readouterr().out
    registry = tmp_path / "data" / "models" / "sources" / "acme-vendor"
    (version,) = [p.name for p in registry.iterdir() if p.is_dir()]
    kept = registry / version / "quarantine.parquet"
    assert f"quarantined (not trained on), all 20 in {kept}:" in said
    repeated = "response_id: '…' is used by more than one different response"
    assert f"  20 x {repeated}" in said
    assert "  dup.csv line 2 (T-00000): response_id: 'T-00000' is used by more than one" in said
    quarantine = pl.read_parquet(kept)
    assert quarantine.height == 20
    # As the quarantine contract publishes it, as `score --output` and the nightly write it
    # (a trial's was written without reason_kinds, reason_columns and schema_version).
    assert quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert quarantine.get_column("schema_version").unique().to_list() == [QUARANTINE_VERSION]
    assert quarantine.get_column("reason_columns").explode().unique().to_list() == ["response_id"]
    assert set(quarantine.get_column("record_id")) == {f"T-{i:05d}" for i in range(10)}
    inputs = read_metrics(registry, version)["input"]
    assert inputs["quarantine_file"] == "quarantine.parquet"
    assert list(inputs["quarantined_by_reason"].values()) == [20]


def _textless_later_export(rows: int = 240) -> pl.DataFrame:
    """Another export of the vendor: other tickets, the three dates after
    :func:`_vendor_export`'s twelve, and no text at all (a download without the
    narratives)."""
    later = _vendor_export(rows, seed=4)
    return later.with_columns(
        pl.col("ticket").str.replace("T-", "U-"),
        pl.Series(
            "opened",
            [(START + timedelta(days=12 + i % 3)).strftime("%d/%m/%Y") for i in range(rows)],
        ),
        pl.lit(None, pl.String).alias("what_happened"),
    )


@pytest.fixture(scope="module")
def textless_later(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The CFPB trial's steps on the vendor's two exports: ``train --input`` with text and
    the later text-less one (facts only), both dropped in the inbox and run (the marts score
    the text-less rows too), the run report, then ``train`` again from the landed rows."""
    root = tmp_path_factory.mktemp("textless")
    mapping = root / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    with_text, textless = root / "export.csv", root / "export-without-text.csv"
    _vendor_export().write_csv(with_text)
    _textless_later_export().write_csv(textless)
    data = ["--data-dir", str(root / "data")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*data, "sources", "add", str(mapping)]) == 0
        assert main([*data, "--json", "train", "--source", "acme-vendor", "--folds", "3",
                     "--input", str(with_text), "--input", str(textless)]) == 0  # fmt: skip
        first = json.loads(_last_json(out))
        inbox = root / "data" / "inbox" / "acme-vendor"
        for export in (with_text, textless):
            (inbox / export.name).write_bytes(export.read_bytes())
        assert main([*data, "run", "--date", "2026-01-16"]) == 0
        assert main([*data, "report", "--source", "acme-vendor"]) == 0
    report = html.unescape((root / "data" / "reports" / "latest.html").read_text())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*data, "train", "--source", "acme-vendor", "--folds", "3"]) == 0
    retrained = out.getvalue()
    registry = root / "data" / "models" / "sources" / "acme-vendor"
    newest = max(p.name for p in registry.iterdir() if p.is_dir())
    return {
        "data": data,
        "root": root,
        "first": first,
        "report": report,
        "retrained": retrained,
        "retrained_metrics": read_metrics(registry, newest),
    }


def _last_json(out: io.StringIO) -> str:
    """The JSON document ``--json`` printed last in ``out``."""
    text = out.getvalue()
    return text[text.rindex("\n{") + 1 :] if "\n{" in text else text


def test_the_reports_out_of_sample_rows_leave_out_those_trained_on_without_text(
    textless_later: dict[str, Any],
) -> None:
    """Found by a user trial with the CFPB complaints: the report calibrated the champion on
    "30 audited negatives from after the champion's training data (out of sample)", April
    complaints without a narrative that it had trained on as facts-only rows, instead of its
    time split's test slice."""
    first = textless_later["first"]
    assert first["promoted"] and first["metrics"]["facts_only_rows"] == 240
    report = textless_later["report"]
    assert "(out of sample)" not in report
    assert "240 audited negatives from after the champion's training data" not in report
    assert "of the champion's time-split test slice" in report


def test_a_retrain_from_the_landed_rows_sets_apart_the_textless_ones_as_input_does(
    textless_later: dict[str, Any],
) -> None:
    """Found by a user trial with the CFPB complaints: ``train --input`` trained on the
    11,474 complaints without a narrative as facts only, the retrain from the landed rows
    took them as ordinary labelled rows (``facts_only_rows: 0``) and measured its
    cross-validated and time-split figures mostly on rows without text. One rule now sets
    apart a delivery without text in both."""
    first, metrics = textless_later["first"]["metrics"], textless_later["retrained_metrics"]
    assert metrics["facts_only_rows"] == first["facts_only_rows"] == 240
    split = metrics["split"]
    assert split["train_rows"] + split["test_rows"] == 240  # the rows with text
    assert split["test_to"] == first["split"]["test_to"] == "2026-01-12"
    assert split["facts_only_train_rows"] == first["split"]["facts_only_train_rows"]
    said = textless_later["retrained"].splitlines()
    assert said[1].startswith(
        "trained on 240 labelled rows of the source's clean layer (its own labels and QA's "
        "audits) and 240 facts-only rows (deliveries without text: trained on, never scored); "
    )


def test_the_reports_model_section_names_the_labels_and_the_facts_only_rows(
    textless_later: dict[str, Any],
) -> None:
    """Found by a user trial with the CFPB complaints: the report's model section said
    "trained on 2,094 labelled negatives (QA's audits, and the export's own label...)" and
    "model (holdout, audit labels)", with no QA audit filed, and left out the 11,474
    complaints without a narrative it had trained on."""
    report = textless_later["report"]
    assert (
        "trained on 240 labelled negatives with text (2026-01-01 to 2026-01-12), labelled by "
        "the export's own label (no QA audit was used), and 240 facts-only rows without text "
        "(trained on, never scored; every row it trained on is dated 2026-01-01 to 2026-01-15)"
    ) in report
    assert "model (holdout, audit labels)" not in report
    assert "QA's audits, and the export's own label" not in report
    assert "model (holdout, the export's labels)" in report


def test_a_quarantined_row_listed_whole_is_not_said_twice_by_its_tally() -> None:
    """Found by a data scientist's trial: `train` on a CFPB download whose last record was
    cut off printed its one quarantined row twice, as the tally "1 x malformed line: ..."
    and as the row itself. The tally of reasons is for rows the list leaves out."""
    from servicelens.cli.models import QUARANTINE_SHOWN, quarantine_text

    cut = "malformed line: 2 fields where the header has 18 (the delivery looks truncated)"

    def rows(n: int) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "source_file": ["sample.csv"] * n,
                "source_line": list(range(2, n + 2)),
                "record_id": [None] * n,
                "reasons": [[cut]] * n,
            }
        )

    said = quarantine_text(rows(1), Path("q.parquet"), "not trained on", with_file=True)
    assert said.count(cut) == 1
    assert said.splitlines() == [
        "quarantined (not trained on), all 1 in q.parquet:",
        f"  sample.csv line 2: {cut}",
    ]
    more = QUARANTINE_SHOWN + 1
    said = quarantine_text(rows(more), Path("q.parquet"), "not trained on", with_file=True)
    assert f"  {more} x {cut}" in said


def test_a_retrain_and_models_show_say_which_design_was_chosen_and_why(
    textless_later: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial: ``train --source X`` of a configured source and ``models
    show`` named no design, or only its name, though training had compared five on
    validation numbers kept in metrics.json (the README showed the table)."""
    selection = textless_later["retrained_metrics"]["selection"]
    assert set(selection["candidates"]) == set(DESIGNS)
    chosen = selection["chosen"]
    said = textless_later["retrained"]
    assert f"design chosen on the training slice ({selection['folds']}): {chosen}" in said
    starred = [line for line in said.splitlines() if line.startswith("* ")]
    assert [line.split()[1] for line in starred] == [chosen]
    for design, scores in selection["candidates"].items():
        assert f" {design:<28}{scores['log_loss']:>9.3f}{scores['roc_auc']:>9.3f}" in said

    registry = textless_later["root"] / "data" / "models" / "sources" / "acme-vendor"
    newest = max(p.name for p in registry.iterdir() if p.is_dir())
    models = [*textless_later["data"], "models", "--source", "acme-vendor"]
    assert main([*models, "show", newest]) == 0
    shown = capsys.readouterr().out
    assert f"design chosen on the training slice ({selection['folds']}): {chosen}" in shown
    assert all(design in shown for design in DESIGNS)
    assert main(["--json", *models, "show", newest]) == 0
    assert (
        json.loads(capsys.readouterr().out)["selection"]
        == json.loads((registry / newest / "metrics.json").read_text())["selection"]
    )


def test_models_show_reads_a_version_saved_before_the_selection_was_recorded(
    lopsided: tuple[list[str], dict[str, Any], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    models, metrics, _ = lopsided
    """A version whose metrics.json has no ``selection`` (saved before it was recorded) is
    shown with its metadata's design and that how it was chosen is not known."""
    data = Path(models[1])
    old = tmp_path / "data"
    shutil.copytree(data, old)
    saved = old / "models" / "sources" / "acme-vendor" / metrics["version"] / "metrics.json"
    saved.write_text(json.dumps({k: v for k, v in json.loads(saved.read_text()).items()
                                 if k != "selection"}))  # fmt: skip
    older = ["--data-dir", str(old), *models[2:]]
    assert main([*older, "show", metrics["version"]]) == 0
    assert "design: linear (how it was chosen was not recorded for this version)" in (
        capsys.readouterr().out
    )


def test_too_few_rows_for_a_designs_fold_is_refused_with_the_counts_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial: 14 labelled rows were refused with "one holds 3
    perceived and 1 policy_failure with a comment", no word of which rows or what the folds
    need, and pointed at a traceback in the log."""
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    _vendor_export(14, seed=1).write_csv(tmp_path / "few.csv")
    data = ["--data-dir", str(tmp_path / "data")]
    args = ["train", "--source", str(mapping), "--input", str(tmp_path / "few.csv")]
    assert main([*data, *args]) == 2
    said = capsys.readouterr().err
    assert (
        "choosing the model compares designs on 3 time-ordered folds (forward chaining) of the "
        "training slice (the earlier survey dates), which holds 6 perceived and 5 "
        "policy_failure labelled rows; fold 1 learns from survey dates before 2026-01-03 "
        "alone, and those hold 3 perceived and 1 policy_failure with a comment, while the "
        "boosted design needs at least 2 of each"
    ) in said
    assert "Audit more negative responses with comments" in said
    assert 'design = "linear"' in said and "--folds does not change these folds" in said
    assert "traceback" not in said.lower()
    assert not (tmp_path / "data" / "models" / "sources" / "acme-vendor").exists() or not [
        p
        for p in (tmp_path / "data" / "models" / "sources" / "acme-vendor").iterdir()
        if p.is_dir()
    ]
