"""Source definitions: a new export is trained and scored through one TOML file, no code,
through the same ingest layer as every other file."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.ingest.definitions import DefinitionError, load_definition
from servicelens.settings import Settings
from servicelens.stages import ingest_export
from servicelens.storage.partitions import read_manifest
from tests.shared_builds import built_once, run_folder
from transforms.schemas import QUARANTINE_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
CFPB = ROOT.parent / "shared" / "real" / "cfpb" / "complaints.csv"

VENDOR_MAPPING = """
name = "acme-vendor"
never_features = ["resolution_note"]
# A ticket export: every row is a complaint.
negative = "all"

[columns]
response_id = "ticket"
submitted_at = { column = "opened", format = "%d/%m/%Y" }
comment = "what_happened"
queue = "team"
wait_seconds = "hold_secs"
sla_met = "within_target"

[label]
column = "verdict"
[label.values]
"Our fault" = "policy_failure"
"As designed" = "perceived"

[features]
categorical = ["queue"]
numeric = ["wait_seconds"]
flags = ["sla_met"]
crosses = [["queue", "wait_seconds"]]
char_ngrams = false
"""

FAILURES = ["the engineer never came", "charged a fee not in my contract", "transferred four times"]
PERCEIVED = ["the fee was in the contract I signed", "I wanted it faster than the policy allows"]


def _vendor_export(rows: int = 240, seed: int = 1) -> pl.DataFrame:
    """A foreign export with its own column names, date format and label vocabulary."""
    rng = np.random.default_rng(seed)
    failure = rng.random(rows) < 0.5
    texts = [
        str(rng.choice(FAILURES if f else PERCEIVED)) + str(rng.choice(["", ". awful", ". meh"]))
        for f in failure
    ]
    start = date(2026, 1, 1)
    return pl.DataFrame(
        {
            "ticket": [f"T-{i:05d}" for i in range(rows)],
            "opened": [(start + timedelta(days=i % 12)).strftime("%d/%m/%Y") for i in range(rows)],
            "what_happened": texts,
            "team": rng.choice(["field", "billing", "phones"], rows).tolist(),
            "hold_secs": np.round(rng.lognormal(5, 1, rows), 1).tolist(),
            "within_target": np.where(failure & (rng.random(rows) < 0.7), "N", "Y").tolist(),
            "resolution_note": np.where(failure, "refunded", "explained").tolist(),
            "verdict": np.where(failure, "Our fault", "As designed").tolist(),
        }
    )


def _vendor_data(
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    name: str,
    build: Callable[[Path, list[str]], None],
) -> tuple[Path, list[str]]:
    """The data directory ``build`` left (given the folder of its ``acme.toml``, holding
    :data:`VENDOR_MAPPING`, and the ``--data-dir`` arguments of ``folder/data``) as
    ``tmp_path/data``, and ``tmp_path/acme.toml``: the mapping and ``--data-dir`` arguments.

    Several tests began with the same deterministic commands on the vendor export (landed
    and run by Prefect's real engine, 12 dates); the first of the run to ask builds it
    (:func:`tests.shared_builds.built_once`) and each test copies it before it writes. The
    copy is a moved data directory, read as the one the commands wrote (inputs are matched
    by folder and name); the file its source was registered from is the test's own
    ``acme.toml``, as if the test had registered it."""
    from servicelens.ingest.configured import REGISTERED_FROM_FILE

    def build_in(folder: Path) -> None:
        (folder / "acme.toml").write_text(VENDOR_MAPPING)
        build(folder, ["--data-dir", str(folder / "data")])

    built = built_once(run_folder(tmp_path_factory), name, build_in)
    shutil.copytree(built / "data", tmp_path / "data")
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    registered_from = tmp_path / "data" / "sources" / "acme-vendor" / REGISTERED_FROM_FILE
    assert registered_from.read_text() == str((built / "acme.toml").resolve())
    registered_from.write_text(str(mapping.resolve()))
    return mapping, ["--data-dir", str(tmp_path / "data")]


def _run_the_vendor_inbox(folder: Path, data: list[str]) -> None:
    """The vendor source added, its export dropped in its inbox and run on 2026-01-13."""
    assert main([*data, "sources", "add", str(folder / "acme.toml")]) == 0
    _vendor_export().write_csv(folder / "data" / "inbox" / "acme-vendor" / "export.csv")
    assert main([*data, "run", "--date", "2026-01-13", "--json"]) == 0


def _vendor_inbox_run(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> tuple[Path, list[str]]:
    """:func:`_run_the_vendor_inbox`, shared (:func:`_vendor_data`): the mapping and the
    ``--data-dir`` arguments."""
    return _vendor_data(tmp_path_factory, tmp_path, "vendor-inbox-run", _run_the_vendor_inbox)


def test_a_new_export_trains_and_scores_through_a_mapping_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    export = _vendor_export()
    export.write_csv(tmp_path / "train.csv")
    data = ["--data-dir", str(tmp_path / "data"), "--json"]
    assert main([*data, "train", "--source", str(mapping), "--input", str(tmp_path / "train.csv"),
                 "--folds", "3"]) == 0  # fmt: skip
    trained = json.loads(capsys.readouterr().out)
    assert trained["promoted"]
    assert trained["metrics"]["cross_validation"]["roc_auc"] > 0.9

    # Scoring never needs the label (or the leaking note): drop both.
    unlabelled = _vendor_export(60, seed=2).drop("verdict", "resolution_note")
    unlabelled.write_csv(tmp_path / "new.csv")
    out = tmp_path / "scored.parquet"
    assert main([*data, "score", "--source", str(mapping), "--input", str(tmp_path / "new.csv"),
                 "--output", str(out)]) == 0  # fmt: skip
    scored = pl.read_parquet(out)
    assert scored.get_column("response_id").to_list() == unlabelled.get_column("ticket").to_list()
    assert {"root_cause", "p_policy_failure", "needs_review", "top_reasons"} <= set(scored.columns)
    assert scored.get_column("p_policy_failure").is_between(0, 1).all()
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 60 and summary["drift"] is not None
    # Every row read is scored, kept as not negative, or quarantined (a trial's sentence
    # left the kept rows that are not negative out).
    assert summary["scored"] + summary["not_negative"] + summary["quarantined"] == 60
    assert summary["quarantined"] == 0 and summary["quarantine_output"] is None
    assert not (tmp_path / "scored.quarantine.parquet").exists()

    # Rows that cannot be scored are kept beside the scores with their reasons, and the
    # first of them are shown: every row read is in one file or the other.
    broken = unlabelled.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("31/02/2026"))
        .otherwise("opened")
        .alias("opened")
    )
    broken.write_csv(tmp_path / "broken.csv")
    assert main(["--data-dir", str(tmp_path / "data"), "score", "--source", str(mapping),
                 "--input", str(tmp_path / "broken.csv"), "--output", str(out)]) == 0  # fmt: skip
    said = capsys.readouterr().out
    quarantine = pl.read_parquet(tmp_path / "scored.quarantine.parquet")
    assert quarantine.select("source_line", "record_id").rows() == [(5, "T-00003")]
    assert quarantine.get_column("reasons")[0][0].startswith("submitted_at: '31/02/2026'")
    # The quarantine zone's contract, its reasons' kinds and columns as the nightly publishes
    # them (BI's group-by read score's file without them).
    assert quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert quarantine.row(0, named=True)["reason_columns"] == ["submitted_at"]
    assert quarantine.row(0, named=True)["reason_kinds"] == ["not_a_timestamp"]
    assert pl.read_parquet(out).height + quarantine.height == 60
    assert f"quarantined (not scored), all 1 in {tmp_path / 'scored.quarantine.parquet'}" in said
    assert "  line 5 (T-00003): submitted_at: '31/02/2026'" in said

    assert main([*data, "models", "--source", str(mapping), "list"]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [v["champion"] for v in versions] == [True]


def test_a_scored_export_carries_the_columns_bi_slices_the_mart_by(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a consumer-finance lead's trial: `score --output` held the ids, line and
    scores only, so BI could not slice a scored CFPB export by product (queue) or month
    without joining back to the CSV. It carries the source, the row's date as the nightly
    run partitions it (a monthly source: the month's first day) and its own time, and the
    columns the definition maps, with feedback_scored's names and types."""
    import duckdb

    from transforms.schemas import FEEDBACK_SCORED_SCHEMA, SCORE_OUTPUT_SCHEMA

    mapping = tmp_path / "acme.toml"
    mapping.write_text(
        VENDOR_MAPPING.replace('negative = "all"', 'negative = "all"\npartition = "month"')
    )
    _vendor_export().write_csv(tmp_path / "train.csv")
    data = ["--data-dir", str(tmp_path / "data"), "--json"]
    assert main([*data, "train", "--source", str(mapping), "--input", str(tmp_path / "train.csv"),
                 "--folds", "3"]) == 0  # fmt: skip
    # Two months: the last days of January and the first of February.
    export = _vendor_export(40, seed=2).drop("verdict", "resolution_note")
    days = [date(2026, 1, 30) + timedelta(days=i % 4) for i in range(export.height)]
    export = export.with_columns(opened=pl.Series([d.strftime("%d/%m/%Y") for d in days]))
    export.write_csv(tmp_path / "new.csv")
    out = tmp_path / "scored.parquet"
    assert main([*data, "score", "--source", str(mapping), "--input", str(tmp_path / "new.csv"),
                 "--output", str(out)]) == 0  # fmt: skip
    capsys.readouterr()

    scored = pl.read_parquet(out)
    assert scored.schema == SCORE_OUTPUT_SCHEMA
    marts = {**FEEDBACK_SCORED_SCHEMA, "source_line": pl.Int64(), "agent": pl.String()}
    assert all(marts[name] == dtype for name, dtype in scored.schema.items())
    assert scored.get_column("response_id").to_list() == export.get_column("ticket").to_list()
    assert scored.get_column("source").unique().to_list() == ["acme-vendor"]
    assert scored.get_column("queue").to_list() == export.get_column("team").to_list()
    assert scored.get_column("sla_met").to_list() == (export["within_target"] == "Y").to_list()
    # The definition maps no resolved flag: null on every row, as feedback_scored has it.
    assert scored.get_column("resolved_first_contact").null_count() == export.height
    own = scored.get_column("submitted_at").dt.convert_time_zone("Europe/London").dt.date()
    assert own.to_list() == days
    # What BI asks of it: failures by month and queue, as of the mart.
    by_month = duckdb.sql(
        f"SELECT survey_date, count(*) AS n FROM read_parquet('{out}') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert by_month == [(date(2026, 1, 1), 20), (date(2026, 2, 1), 20)]
    by_queue = duckdb.sql(
        f"SELECT queue, count(*) FILTER (root_cause = 'policy_failure') AS failures "
        f"FROM read_parquet('{out}') GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [queue for queue, _ in by_queue] == ["billing", "field", "phones"]


def test_a_scored_export_carries_the_sources_first_contact_resolution_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ticket feed's "fixed first time" Y/N mapped as ``resolved_first_contact``: fixEH put
    it into feedback_scored and daily_summary, but `score --output` dropped it, so an analyst
    scoring a one-off export lost first-contact resolution. Each scored row carries the
    export's own answer (Y yes, N no, blank null), as the mart does."""
    flagged = tmp_path / "acme.toml"
    flagged.write_text(
        VENDOR_MAPPING.replace(
            'sla_met = "within_target"\n',
            'sla_met = "within_target"\nresolved_first_contact = "fixed_first_time"\n',
        )
    )
    answers = ["Y", "N", ""]

    def with_answers(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            fixed_first_time=pl.Series([answers[i % 3] for i in range(frame.height)])
        )

    with_answers(_vendor_export()).write_csv(tmp_path / "train.csv")
    data = ["--data-dir", str(tmp_path / "data"), "--json"]
    assert main([*data, "train", "--source", str(flagged), "--input", str(tmp_path / "train.csv"),
                 "--folds", "3"]) == 0  # fmt: skip
    export = with_answers(_vendor_export(30, seed=3).drop("verdict", "resolution_note"))
    export.write_csv(tmp_path / "new.csv")
    out = tmp_path / "scored.parquet"
    assert main([*data, "score", "--source", str(flagged), "--input", str(tmp_path / "new.csv"),
                 "--output", str(out)]) == 0  # fmt: skip
    capsys.readouterr()

    said = {"Y": True, "N": False, "": None}
    expected = [said[a or ""] for a in export.get_column("fixed_first_time").to_list()]
    scored = pl.read_parquet(out)
    assert scored.get_column("response_id").to_list() == export.get_column("ticket").to_list()
    assert scored.get_column("resolved_first_contact").to_list() == expected
    assert expected.count(True) == expected.count(False) == expected.count(None) == 10


def test_a_mapping_that_feeds_the_label_or_a_leaking_column_is_refused(tmp_path: Path) -> None:
    leaking = tmp_path / "leak.toml"
    leaking.write_text(VENDOR_MAPPING.replace('queue = "team"', 'queue = "resolution_note"'))
    # The column by name, not a Python tuple of tuples (a data scientist's trial read
    # "feature 'pr' reads (('company-public-response',),)").
    with pytest.raises(
        DefinitionError,
        match=r"leak\.toml: feature 'queue' reads column 'resolution_note', which is the label",
    ):
        load_definition(str(leaking))
    labelled = tmp_path / "label.toml"
    labelled.write_text(VENDOR_MAPPING.replace('queue = "team"', 'queue = "verdict"'))
    with pytest.raises(DefinitionError, match="is the label or"):
        load_definition(str(labelled))


def test_an_export_missing_a_mapped_column_names_file_and_column(tmp_path: Path) -> None:
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    _vendor_export(10).drop("team").write_csv(tmp_path / "broken.csv")
    with pytest.raises(
        DefinitionError, match=r"broken\.csv: line 1 \(header\): .*reads column\(s\) 'team'[ ,]"
    ):
        ingest_export(
            load_definition(str(mapping)), tmp_path / "broken.csv", Settings(data_dir=str(tmp_path))
        )


def test_two_columns_matching_one_mapped_name_are_refused_unless_one_is_mapped_exactly(
    tmp_path: Path,
) -> None:
    """Found by a trial: a CFPB file with both ``complaint_id`` and ``Complaint ID`` was
    read by ``Complaint ID`` without a note. The refusal names both columns and their places
    on the header line, and how to choose; a definition of one's own that maps one of them
    by its exact name has chosen it."""
    export = pl.DataFrame(
        {
            "complaint_id": ["1", "2"],
            "Date received": ["2024-01-02", "2024-01-03"],
            "Product": ["Mortgage", "Debt collection"],
            "Issue": ["Fees", "Threats"],
            "Complaint ID": ["91", "92"],
            "Consumer complaint narrative": ["they charged a fee twice", "calls at night"],
            **{c: ["x", "y"] for c in ("Sub-product", "Sub-issue", "Company", "State", "Tags")},
            "Submitted via": ["Web", "Web"],
            "Timely response?": ["Yes", "No"],
        }
    )
    export.write_csv(tmp_path / "both.csv")
    settings = Settings(data_dir=str(tmp_path))
    with pytest.raises(DefinitionError) as refused:
        ingest_export(load_definition("cfpb"), tmp_path / "both.csv", settings)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'both.csv'}: line 1 (header): ")
    assert (
        "'complaint_id' (column 1) and 'Complaint ID' (column 5) both match 'Complaint ID', "
        "which [columns] response_id reads" in message
    )
    assert 'extends = "cfpb"' in message and "response_id = 'complaint_id' under [columns]" in (
        message
    )
    for chosen, ids in (("complaint_id", ["1", "2"]), ("Complaint ID", ["91", "92"])):
        own = tmp_path / "own.toml"
        own.write_text(f'extends = "cfpb"\nname = "mine"\n[columns]\nresponse_id = "{chosen}"\n')
        read = ingest_export(load_definition(str(own)), tmp_path / "both.csv", settings)
        assert read.clean.get_column("response_id").to_list() == ids, chosen


def test_unknown_source_lists_the_built_in_definitions() -> None:
    with pytest.raises(DefinitionError, match=r"\['cfpb', 'google_forms', .*'zendesk'\]"):
        load_definition("no-such-vendor")


@pytest.mark.slow
@pytest.mark.skipif(not CFPB.exists(), reason=f"real CFPB export not present at {CFPB}")
def test_cfpb_model_beats_tfidf_baseline_and_scores_without_the_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path), "--json"]
    # The latest 800 complaints and two folds keep this under a minute on 2 cores; the
    # README's numbers come from the CLI on all 2,094 rows with five folds.
    sample = tmp_path / "sample.csv"
    pl.read_csv(CFPB, infer_schema_length=0).sort("date_received").tail(800).write_csv(sample)
    assert main([*data, "train", "--source", "cfpb", "--input", str(sample), "--folds", "2"]) == 0
    trained = json.loads(capsys.readouterr().out)
    metrics = trained["metrics"]
    model_auc = metrics["cross_validation"]["roc_auc"]
    assert model_auc > metrics["tfidf_baseline"]["cross_validation"]["roc_auc"]
    assert metrics["model"]["roc_auc"] > metrics["tfidf_baseline"]["time_split"]["roc_auc"]

    unlabelled = (
        pl.read_csv(CFPB, infer_schema_length=0)
        .drop("company_response_to_consumer", "company_public_response", "consumer_disputed")
        .head(300)
    )
    unlabelled.write_csv(tmp_path / "new.csv")
    out = tmp_path / "scored.parquet"
    # Named: the version just trained (the champion, as the first with skill).
    version = ["--version", trained["version"]]
    assert main([*data, "score", "--source", "cfpb", "--input", str(tmp_path / "new.csv"),
                 "--output", str(out), *version]) == 0  # fmt: skip
    scored = pl.read_parquet(out)
    assert scored.height == 300
    assert scored.get_column("response_id").to_list() == unlabelled["complaint_id"].to_list()
    capsys.readouterr()
    # The very rows it was trained on are no drift (a trial's read "company PSI 0.37": the
    # profile kept the 50 commonest of 353 companies and left the rest out).
    same = tmp_path / "same.parquet"
    assert main([*data, "score", "--source", "cfpb", "--input", str(sample),
                 "--output", str(same), *version]) == 0  # fmt: skip
    said = json.loads(capsys.readouterr().out)
    drift = said["drift"]
    assert drift["alerts"] == [] and drift["max_psi"] < 0.01, drift
    # The rows it trained on are marked, and carry their out-of-fold probabilities (a
    # trial's marts scored them in-sample); of the first export's 300, those it learned.
    models = tmp_path / "models" / "sources" / "cfpb"
    [version] = [d.name for d in models.iterdir() if d.is_dir()]
    oof = pl.read_parquet(models / version / "out_of_fold.parquet")
    rescored = pl.read_parquet(same).join(oof, "response_id", "left")
    assert said["in_training_set"] == rescored.height == 800
    assert rescored.get_column("in_training_set").all()
    assert (rescored["p_policy_failure"] == rescored["p_out_of_fold"]).all()
    first = scored.join(oof.select("response_id", "p_out_of_fold"), "response_id", "left")
    seen = first.get_column("p_out_of_fold").is_not_null()
    assert (first.get_column("in_training_set") == seen).all()


def test_a_batch_too_small_for_drift_is_not_called_free_of_it() -> None:
    """``score`` on a 14-row export printed "no drift (max PSI 4.194)" with six alerts."""
    from servicelens.cli.models import drift_text

    small = {"rows": 14, "alerts": ["queue PSI 4.19 > 0.25"], "flagged": False}
    assert drift_text(small) == (
        "not judged: 14 scored rows, under the 50 drift needs; measured: queue PSI 4.19 > 0.25"
    )
    assert drift_text({**small, "rows": 80, "alerts": []}) == "no drift"
    flagged = {"rows": 80, "alerts": ["queue PSI 4.19 > 0.25"], "flagged": True}
    assert drift_text(flagged) == "DRIFT: queue PSI 4.19 > 0.25"
    # Nor are the features a batch has too few rows for (a trial's 200 rows over 51 companies).
    unjudged = ["company: too few rows (80) for 51 categories (judged from 510)"]
    assert drift_text(
        {**small, "rows": 80, "alerts": [], "psi": {"queue": 0.1, "company": 0.4},
         "not_judged": unjudged}
    ) == ("no drift in the 1 feature(s) judged; not judged: company: too few rows (80) for 51 "
          "categories (judged from 510)")  # fmt: skip


def test_training_refusals_say_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A definition without [label] says so (it named "the label column []"); files whose
    text is all on unlabelled rows say that (it said the files had no text at all)."""
    no_label = tmp_path / "nolabel.toml"
    no_label.write_text(VENDOR_MAPPING.split("[label]")[0])
    _vendor_export(40).write_csv(tmp_path / "x.csv")
    data = ["--data-dir", str(tmp_path / "data")]
    assert (
        main([*data, "train", "--source", str(no_label), "--input", str(tmp_path / "x.csv")]) == 2
    )
    assert "has no [label]" in capsys.readouterr().err
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    unlabelled_text = _vendor_export(40).with_columns(
        pl.when(pl.col("verdict") == "Our fault")
        .then(None)
        .otherwise(pl.col("what_happened"))
        .alias("what_happened"),
        pl.when(pl.col("verdict") == "Our fault").then(pl.col("verdict")).alias("verdict"),
    )
    unlabelled_text.write_csv(tmp_path / "y.csv")
    assert main([*data, "train", "--source", str(mapping), "--input", str(tmp_path / "y.csv")]) == 2
    said = capsys.readouterr().err
    labelled = int((unlabelled_text.get_column("verdict").is_not_null()).sum())
    assert f"none of their {labelled} labelled rows has comment text" in said
    assert f"({40 - labelled} rows with text have no label" in said


def test_label_words_match_ignoring_case_and_unmapped_ones_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial: "Policy Failure" and "echter Fehler" beside the mapped
    "Policy failure" and "Echter Fehler" silently lost a quarter of the verdicts. Label words
    now match trimmed and ignoring case, like a column's values, and the words that still
    match nothing are named by `sources check` and `train` (their rows have no label)."""
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    export = _vendor_export()
    n = export.height
    verdicts = export.get_column("verdict").to_list()
    spelt = [
        v.upper() if i % 3 == 0 else (f"  {v.lower()} " if i % 3 == 1 else v)
        for i, v in enumerate(verdicts)
    ]
    spelt[5], spelt[6], spelt[7] = "In progress", "in review", "In progress"
    # Personal data typed into the label column is named by its placeholder only: the words
    # are printed and kept in the model's metrics (a trial's 'bob@example.com' was shown).
    spelt[8] = "bob@example.com"
    export.with_columns(pl.Series("verdict", spelt)).write_csv(tmp_path / "train.csv")

    definition = load_definition(str(mapping))
    ingested = ingest_export(definition, tmp_path / "train.csv", Settings(data_dir=str(tmp_path)))
    assert ingested.clean.get_column("label").null_count() == 4
    assert ingested.mapped.unmapped_labels == {"In progress": 2, "[EMAIL]": 1, "in review": 1}

    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "sources", "check", str(mapping), str(tmp_path / "train.csv")]) == 0
    out = capsys.readouterr().out
    assert f"labelled (kept rows with a label, for training): {n - 4}\n" in out
    assert (
        "label words the definition's [label.values] does not map, so their rows have no "
        "label: 'In progress' 2, '[EMAIL]' 1, 'in review' 1. Map those that are verdicts" in out
    )
    assert "bob@" not in out
    assert main([*data, "train", "--source", str(mapping), "--input", str(tmp_path / "train.csv"),
                 "--folds", "3"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"labelled {n - 4} scored" in out and "'In progress' 2, '[EMAIL]' 1" in out
    assert "bob@" not in out

    # Two spellings of one word mapped to different root causes cannot both be meant.
    both = '"As designed" = "perceived"\n"our FAULT" = "perceived"'
    mapping.write_text(VENDOR_MAPPING.replace('"As designed" = "perceived"', both))
    with pytest.raises(DefinitionError, match="another spelling of it to 'policy_failure'"):
        load_definition(str(mapping))


def test_a_configured_source_trains_on_what_it_has_landed(
    prefect_api: None,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a QA lead's trial: `train --source NAME` of a configured source asked for
    --input, and with --input refused the configured name, so verdicts in later inbox
    deliveries were never trained on unless every file was passed again by hand."""
    mapping, data = _vendor_inbox_run(tmp_path_factory, tmp_path)
    capsys.readouterr()
    assert main([*data, "train", "--source", "acme-vendor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("acme-vendor model ") and out[0].endswith("promoted: no champion yet")
    assert out[1].startswith("trained on 240 labelled rows of the source's clean layer")
    assert main([*data, "--json", "models", "--source", "acme-vendor", "list"]) == 0
    assert [v["champion"] for v in json.loads(capsys.readouterr().out)] == [True]
    # The option after the subcommand too (a trial wrote `models show --source NAME`).
    assert main([*data, "--json", "models", "show", "--source", "acme-vendor"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "acme-vendor"

    # The definition file of a configured source trains that source the same way.
    assert main([*data, "train", "--source", str(mapping)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "so it was not trained again" in out[0]  # the same rows, the same model
    # --folds reaches the training (a QA lead's trial: it was ignored without --input, and
    # 0, 1 or -2 went through): other folds are another build, and their count is recorded.
    assert main([*data, "--json", "train", "--source", "acme-vendor", "--folds", "3"]) == 0
    refolded = json.loads(capsys.readouterr().out)
    assert "not trained again" not in refolded["decision"]
    assert refolded["metrics"]["cross_validation"]["folds"] == 3
    for bad in ("1", "0", "-2", "three"):
        with pytest.raises(SystemExit) as refused:
            main([*data, "train", "--source", "acme-vendor", "--folds", bad])
        assert refused.value.code == 2
        assert "--folds" in capsys.readouterr().err
    assert main([*data, "train", "--source", "acme-other"]) == 2
    said = capsys.readouterr().err
    assert "--source acme-other: not a source configured in " in said
    assert "(acme-vendor), a built-in definition" in said and "did you mean acme-vendor?" in said


def _run_the_vendor_export(folder: Path, data: list[str]) -> None:
    """The vendor export (``folder/export.csv``) landed and run by `sources run`."""
    _vendor_export().write_csv(folder / "export.csv")
    assert (
        main([*data, "sources", "run", str(folder / "acme.toml"), str(folder / "export.csv")]) == 0
    )


def _vendor_source_run(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> tuple[Path, Path, list[str]]:
    """The vendor export landed and run by `sources run` with no model, shared
    (:func:`_vendor_data`): its definition, export and the ``--data-dir`` arguments."""
    mapping, data = _vendor_data(
        tmp_path_factory, tmp_path, "vendor-sources-run", _run_the_vendor_export
    )
    export = tmp_path / "export.csv"
    _vendor_export().write_csv(export)
    return mapping, export, data


def test_sources_run_train_of_a_landed_export_says_how_to_score_what_it_left(
    prefect_api: None,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a trial: `sources run SRC FILE` (no model yet), then the same with --train,
    promoted the source's first model and scored nothing (the file was already landed, so
    no partition ran), with no word of it; `query` then said to train the source, which had
    a champion. Now the run names the dates its champion did not score and the backfill
    that scores them, and `query` asks only for that backfill."""
    mapping, export, data = _vendor_source_run(tmp_path_factory, tmp_path)
    capsys.readouterr()
    assert main([*data, "query", "policies_by_root_cause", "--source", "acme-vendor"]) == 0
    named = f"servicelens {' '.join(data)}"  # the commands it suggests name its data directory
    assert f"run `{named} train --source acme-vendor`, then" in capsys.readouterr().err
    assert main([*data, "sources", "run", str(mapping), str(export), "--train"]) == 0
    out = capsys.readouterr().out
    assert "promoted: no champion yet" in out
    assert (
        "note: the negatives in the marts of 12 date(s) (2026-01-01..2026-01-12) were not "
        "scored at all (there was no champion when they ran); champion "
    ) in out
    assert re.search(
        r"champion \S+ scores the dates run from now on\. To score them with it: "
        + re.escape(named)
        + r" backfill --source acme-vendor --start 2026-01-01 --end 2026-01-12 --rerun all",
        out,
    )
    assert main([*data, "query", "policies_by_root_cause", "--source", "acme-vendor"]) == 0
    said = capsys.readouterr().err
    assert f"`{named} backfill --source acme-vendor --start ... --end ... --rerun all` (its " in (
        said
    )
    assert f"{named} train" not in said


def test_a_sources_backfill_ending_after_today_runs_as_its_dry_run_plans(
    prefect_api: None,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a trial: for a monthly source, `backfill --source cfpb --start 2026-12 --end
    2026-12 --dry-run` planned its landed month, and the same without --dry-run refused
    2026-12-31 as "in the future" once Prefect had started (a failed flow run left behind).
    The flow now bounds a source's landed partitions by --end as the command line does. A
    daily source's --end after today is refused by both, dry run or not (a new analyst's
    trial counted the days to come); up to today, the run does what the dry run planned."""
    _, _, data = _vendor_source_run(tmp_path_factory, tmp_path)
    start = [*data, "backfill", "--source", "acme-vendor", "--start", "2026-01-12"]
    later = (date.today() + timedelta(days=40)).isoformat()
    capsys.readouterr()
    for dry in (["--dry-run"], []):
        assert main([*start, "--end", later, "--rerun", "all", *dry]) == 2
        assert "is in the future" in capsys.readouterr().err
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    backfill = [*start, "--end", yesterday, "--rerun", "all"]
    assert main([*backfill, "--dry-run"]) == 0
    assert "dry run: 1 of 1 dates would run" in capsys.readouterr().out
    assert main(backfill) == 0
    shown = capsys.readouterr()
    assert "is in the future" not in shown.err
    assert "2026-01-12" in shown.out and "completed" in shown.out


def _audit_file(export: pl.DataFrame, rows: int, *, override: dict[str, str] | None = None) -> str:
    """QA's audits of the first ``rows`` tickets as a spreadsheet in a European locale saves
    them: semicolons, Title Case headers, verdicts spelled as people type them; plus one
    audit of a ticket the source never delivered."""
    lines = ["Response ID;Root Cause;Audited At;Auditor"]
    for ticket, verdict in export.head(rows).select("ticket", "verdict").iter_rows():
        word = "Policy failure" if verdict == "Our fault" else "perceived"
        word = (override or {}).get(ticket, word)
        lines.append(f"{ticket};{word};2026-01-20 09:30;qa-anna")
    lines.append("T-99999;perceived;2026-01-20 09:31;qa-anna")
    return "\n".join(lines) + "\n"


def test_a_configured_sources_qa_audits_are_its_labels(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A QA team keeps its verdicts apart from the survey export (a Qualtrics export carries
    no verdict column): a configured source's audits folder labels it, the review queue
    leaves its audited responses out, and an audit file dropped in the inbox by mistake is
    named as such. Left alone for two stops: only the generated sample had an audits feed."""
    from servicelens.ingest.configured import configured_source

    mapping = tmp_path / "acme.toml"
    no_label = (
        VENDOR_MAPPING.split("[label]")[0] + "[features]" + VENDOR_MAPPING.split("[features]")[1]
    )
    # The team is kept as an attribute of the source (not the schema's queue) and is one of
    # the model's features: every frame the model scores must carry it.
    no_label = (
        no_label.replace('queue = "team"\n', "")
        .replace("[features]\n", '[attributes]\nteam = "team"\n\n[features]\n')
        .replace('categorical = ["queue"]', 'categorical = ["team"]')
        .replace('crosses = [["queue", "wait_seconds"]]\n', "")
    )
    mapping.write_text(no_label)
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "sources", "add", str(mapping)]) == 0
    source = configured_source(Settings(data_dir=str(tmp_path / "data")), "acme-vendor")
    assert str(source.audits_dir) in capsys.readouterr().out
    assert source.audits_dir.is_dir()

    export = _vendor_export()
    export.drop("verdict").write_csv(source.inbox_dir / "export.csv")
    audits = _audit_file(export, 200)
    (source.inbox_dir / "qa-january.csv").write_text(audits)
    assert main([*data, "run", "--date", "2026-01-13", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["sources"]
    (failed,) = [r for r in rows if r["outcome"] == "failed"]
    assert failed["result"]["inbox_file"].endswith("qa-january.csv")
    assert "this is a file of QA audits" in failed["error"]
    assert f"move it to {source.audits_dir}" in failed["error"]

    # No audits and no model yet: the review queue offers the negatives for the first
    # audits, spread over the teams (a QA lead's trial found "nothing open" and no way to
    # the ids to audit).
    first_sheet = tmp_path / "first-audits.csv"
    assert main([*data, "review-queue", "--source", "acme-vendor", "--output",
                 str(first_sheet), "--limit", "0"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "review queue of acme-vendor: no model yet, so " in said
    from models.train import audits_needed_text

    assert (
        f"for the first audits: training needs, of responses with a comment, "
        f"{audits_needed_text()}; audit them, then `servicelens {' '.join(data)} train "
        "--source acme-vendor`" in said
    )
    assert f"`servicelens {' '.join(data)} train --source acme-vendor`" in said
    offered = pl.read_csv(first_sheet)
    negatives = pl.read_parquet(source.clean_dir / "**" / "*.parquet").filter("is_negative")
    assert set(offered.get_column("reason")) == {"first_audit"}
    assert sorted(offered.get_column("response_id")) == sorted(negatives["response_id"])

    # No audits yet: training says where they go.
    assert main([*data, "train", "--source", "acme-vendor"]) == 2
    said = capsys.readouterr().err
    # A workbook is read there too, so the advice says so (it said "the CSV files in").
    assert (
        f"read from the CSV files or workbooks (.xlsx, .xlsm, .xls, .ods) in {source.audits_dir}"
        in said
    )
    assert "labels also come from the exports" not in said  # its definition has no [label]

    # Only a Numbers document there: it is why nothing is labelled, so it is said first (a
    # QA lead's trial read "training needs at least 3 audits" first, and "0 used; ; ...").
    (source.audits_dir / "qa-january.numbers").write_bytes(b"PK\x03\x04")
    assert main([*data, "train", "--source", "acme-vendor"]) == 2
    said = capsys.readouterr().err
    workbook = "audits: 0 rows in 0 file(s), 0 used; " + str(
        source.audits_dir / "qa-january.numbers"
    )
    assert workbook in said and "; ;" not in said
    assert said.index(workbook) < said.index("training needs")

    (source.inbox_dir / "qa-january.csv").rename(source.audits_dir / "qa-january.csv")
    assert main([*data, "train", "--source", "acme-vendor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("promoted: no champion yet")
    assert out[1].startswith("trained on 200 labelled rows of the source's clean layer")
    # Every audit row accounted for: 200 used, one of a ticket never delivered; the
    # Numbers document beside them is named, not ignored.
    assert out[2].startswith("audits: 201 rows in 1 file(s), 200 used; ")
    assert "1 for a response not in the clean layer" in out[2]
    assert "qa-january.numbers is not read: audits are read from CSV files and" in out[2]

    # The review queue of a rescored date proposes no audited response.
    assert main([*data, "backfill", "--source", "acme-vendor", "--start", "2026-01-01",
                 "--end", "2026-01-12", "--rerun", "all"]) == 0  # fmt: skip
    queue = pl.read_parquet(source.marts_dir / "review_queue" / "**" / "*.parquet")
    audited = set(export.head(200).get_column("ticket").to_list())
    # Unaudited items: uncertain where the model abstains, spot checks where it decided.
    unaudited = pl.col("reason").is_in(["uncertain", "spot_check"])
    uncertain = queue.filter(unaudited).get_column("response_id")
    assert uncertain.len() > 0 and not set(uncertain.to_list()) & audited

    # QA's loop: the queue as a worksheet, two rows filled in and saved (by a spreadsheet in
    # a European locale) into the audits folder, and those two close without re-scoring.
    capsys.readouterr()
    # A source's labels may be its export's own: the queue does not call them audits.
    assert main([*data, "review-queue", "--source", "acme-vendor", "--limit", "5"]) == 0
    assert "labelled as" in capsys.readouterr().out
    sheet = tmp_path / "worksheet.csv"
    assert main([*data, "review-queue", "--source", "acme-vendor", "--limit", "5",
                 "--output", str(sheet)]) == 0  # fmt: skip
    assert (
        f"then save it in {source.audits_dir} (any name; CSV files or workbooks (.xlsx, "
        ".xlsm, .xls, .ods) are read there)" in capsys.readouterr().out
    )
    assert sheet.read_text(encoding="utf-8-sig").startswith(
        "response_id,root_cause,audited_at,auditor,survey_date,reason"
    )
    worksheet = pl.read_csv(sheet)
    ids = worksheet.filter(unaudited).get_column("response_id").to_list()
    first, second = ids[:2]
    filled = [f"{first};Policy failure;2026-01-21;qa-ben", f"{second};perceived;2026-01-21;qa-ben"]
    filled += [f"{i};;;" for i in worksheet.get_column("response_id") if i not in (first, second)]
    (source.audits_dir / "qa-worksheet.csv").write_text(
        "\ufeffresponse_id;root_cause;audited_at;auditor\n" + "\n".join(filled) + "\n"
    )
    (source.audits_dir / "New Worksheet.csv").write_text("")
    assert main([*data, "--json", "review-queue", "--source", "acme-vendor", "--limit", "0"]) == 0
    printed = capsys.readouterr()
    assert "New Worksheet.csv" in printed.err and "its audits close no item" in printed.err
    shown = json.loads(printed.out)
    assert shown["closed_by_audits_since"] == 2
    assert shown["uncertain"] + shown["spot_check"] == uncertain.len() - 2
    assert {first, second}.isdisjoint(i["response_id"] for i in shown["items"])

    # Trained again on the two new audits, a new champion scores the next run; the early
    # warning re-scores the dates the first champion scored, and those need the source's
    # attributes the model reads (team) as much as today's rows do. A QA
    # lead's trial found every partition failing here after a retrain.
    capsys.readouterr()
    assert main([*data, "train", "--source", "acme-vendor"]) == 0
    assert main([*data, "backfill", "--source", "acme-vendor", "--start", "2026-01-12",
                 "--end", "2026-01-12", "--rerun", "all"]) == 0  # fmt: skip
    rescored = read_manifest(source.marts_dir / "feedback_scored", date(2026, 1, 12))
    assert rescored is not None and rescored["early_warning"]["history_rescored"]


def test_an_audit_overrides_the_label_a_sources_export_carries(
    prefect_api: None,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A source whose export carries a label (CFPB's company response) and whose QA team
    audits some rows: the audit is a person's reading of that response, the export's label
    a proxy, so the audit's verdict is the one trained on."""
    from servicelens.ingest.audits import accounting_text
    from servicelens.ingest.configured import configured_source
    from servicelens.stages import audit_report, labelled_negatives

    _, data = _vendor_inbox_run(tmp_path_factory, tmp_path)
    source = configured_source(Settings(data_dir=str(tmp_path / "data")), "acme-vendor")
    export = _vendor_export()
    first = export.row(0, named=True)
    flipped = "perceived" if first["verdict"] == "Our fault" else "policy_failure"
    # Found by a data scientist's trial: an audit whose date is before its response (a
    # mistyped year) took away the export's own label, so the response left training, and
    # the tally counted it as overriding that label.
    fourth = export.row(3, named=True)
    own = "policy_failure" if fourth["verdict"] == "Our fault" else "perceived"
    other = "perceived" if own == "policy_failure" else "policy failure"
    (source.audits_dir / "qa.csv").write_text(
        _audit_file(export, 3, override={first["ticket"]: flipped})
        + f"{fourth['ticket']};{other};2020-01-20 09:30;qa-anna\n"
    )
    labels = dict(labelled_negatives(source).select("response_id", "root_cause").iter_rows())
    assert len(labels) == 240
    assert labels[first["ticket"]] == flipped
    assert labels[fourth["ticket"]] == own
    report = audit_report(source)
    assert report is not None and report["overrode_the_export_label"] == 1
    assert "1 of those used gave another verdict than the export's own label" in (
        accounting_text(report)
    )
    second = export.row(1, named=True)
    assert labels[second["ticket"]] == (
        "policy_failure" if second["verdict"] == "Our fault" else "perceived"
    )

    # Found by a data scientist's trial: `train --input` of a configured source trained on
    # the export's labels alone, dropping QA's verdicts, and was promoted. The audits in
    # force are its labels too, and the tally says so.
    again = tmp_path / "again.csv"
    export.write_csv(again)
    capsys.readouterr()
    assert main([*data, "--json", "train", "--source", "acme-vendor", "--input", str(again)]) == 0
    trained = json.loads(capsys.readouterr().out)
    metrics = trained["metrics"]
    assert metrics["input"]["relabelled_by_an_audit"] == 1
    assert metrics["audits"]["overrode_the_export_label"] == 1
    from servicelens.stages import with_audit_verdicts

    rows = (
        _vendor_export()
        .rename({"ticket": "response_id"})
        .with_columns(
            pl.col("verdict")
            .replace_strict({"Our fault": "policy_failure", "As designed": "perceived"})
            .alias("root_cause"),
            pl.lit(datetime(2026, 1, 12, tzinfo=UTC)).alias("submitted_at"),
        )
    )
    relabelled, changed = with_audit_verdicts(rows, source)
    verdicts = dict(relabelled.select("response_id", "root_cause").iter_rows())
    assert changed == 1 and verdicts[first["ticket"]] == flipped
    assert verdicts[fourth["ticket"]] == own


def test_personal_data_typed_outside_the_comment_is_redacted_when_landed(tmp_path: Path) -> None:
    """Found by a privacy review: e-mail addresses and phone numbers typed into a column
    read as the queue and into attributes (a CFPB company, a sub-issue) reached
    feedback_scored, the model's categories and its top reasons. Every mapped text column
    but ids and times, and each attribute, is redacted as the comment is; ids, times and
    the label are kept as delivered."""
    import csv
    import io

    sample = ROOT.parent / "shared" / "field" / "08-cfpb-official-download" / "sample.csv"
    rows = list(csv.DictReader(io.StringIO(sample.read_text(encoding="utf-8-sig"))))
    rows[0]["Company"] = "ACME LENDING c/o jp.company@example.com"
    rows[0]["Sub-issue"] = "Called +44 20 7946 0321 about it"
    rows[0]["Product"] = "Callback on 4111 1111 1111 1111"
    export = tmp_path / "complaints.csv"
    with export.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ingested = ingest_export(load_definition("cfpb"), export, Settings(data_dir=str(tmp_path)))
    first = ingested.clean.filter(pl.col("response_id") == rows[0]["Complaint ID"])
    attributes = json.loads(first.get_column("attributes").item())
    assert attributes["company"] == "ACME LENDING c/o [EMAIL]"
    assert attributes["sub_issue"] == "Called [PHONE] about it"
    assert first.get_column("queue").item().lower() == "callback on [card]"
    assert first.get_column("submitted_at").item() is not None
    others = ingested.clean.filter(pl.col("response_id") != rows[0]["Complaint ID"])
    assert others.get_column("attributes").str.contains(r"\[(EMAIL|PHONE|CARD)\]").sum() == 0


def test_sources_check_says_when_the_label_column_is_not_in_the_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: a misspelt [label] column labelled no row, `sources
    check` said only "labelled: 0", and training then asked for more audits."""
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING.replace('column = "verdict"', 'column = "verdikt"'))
    _vendor_export().write_csv(tmp_path / "train.csv")
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "sources", "check", str(mapping), str(tmp_path / "train.csv")]) == 0
    out = capsys.readouterr().out
    assert "labelled (kept rows with a label, for training): 0\n" in out
    assert (
        "  the label column ['verdikt'] of the definition's [label] is not in this export, so "
        "no row is labelled; the export's header has 8 columns: 'ticket', 'opened', "
        "'what_happened', 'team', 'hold_secs', 'within_target', 'resolution_note', 'verdict'" in out
    )  # whole, in the file's order (as a user compares it with the file: a trial)
    # --json: the header's names as the terminal quotes them, not the header whole (a
    # trial's export_has held 1,500 characters of question text): a long question is cut.
    question = "How satisfied were you with Jane Doe's handling of your call? " * 20
    _vendor_export().with_columns(pl.lit(5).alias(question)).write_csv(tmp_path / "long.csv")
    assert (
        main([*data, "--json", "sources", "check", str(mapping), str(tmp_path / "long.csv")]) == 0
    )
    missing = json.loads(capsys.readouterr().out)["labels"]["column_missing"]
    assert missing["column"] == ["verdikt"]
    has = missing["export_has"]
    assert (has["columns"], has["names"][:2], has["more"]) == (9, ["ticket", "opened"], 0)
    assert has["names"][-1] == question[:60] + "…" and question not in has["names"]


def test_a_source_without_free_text_trains_on_its_facts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an analyst's trial: a call-centre log maps no comment; its [features] were
    refused for a `comment` it never wrote, and without them `train` failed with
    scikit-learn's "inconsistent numbers of samples: [0, 143]". Its declared facts are the
    model's inputs; with none, training refuses up front saying what to declare."""
    calls = tmp_path / "calls.toml"
    calls.write_text(VENDOR_MAPPING.replace('comment = "what_happened"\n', ""))
    _vendor_export().write_csv(tmp_path / "train.csv")
    data = ["--data-dir", str(tmp_path / "data"), "--json"]
    assert main([*data, "train", "--source", str(calls), "--input", str(tmp_path / "train.csv"),
                 "--folds", "3"]) == 0  # fmt: skip
    trained = json.loads(capsys.readouterr().out)
    assert trained["promoted"]
    assert trained["metrics"]["cross_validation"]["roc_auc"] > 0.7  # sla_met tells them apart
    _vendor_export(60, seed=2).drop("verdict", "what_happened").write_csv(tmp_path / "new.csv")
    out = tmp_path / "scored.parquet"
    assert main([*data, "score", "--source", str(calls), "--input", str(tmp_path / "new.csv"),
                 "--output", str(out)]) == 0  # fmt: skip
    assert pl.read_parquet(out).get_column("p_policy_failure").is_between(0, 1).all()

    nothing = tmp_path / "nothing.toml"
    nothing.write_text(calls.read_text().split("[features]")[0])
    assert main([*data, "train", "--source", str(nothing), "--input", str(tmp_path / "train.csv"),
                 "--folds", "3"]) == 2  # fmt: skip
    said = capsys.readouterr().err
    assert "has nothing for a model to read" in said and "declares no [features]" in said
    assert "inconsistent numbers of samples" not in said


def test_a_header_only_export_is_refused_as_rows_of_the_source_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a data scientist's trial: `score --source cfpb` of a CSV with its header
    alone said "the file has no survey rows" of complaints, and nothing to do; the log held
    the BatchError's traceback for this expected refusal. It says "rows" (a definition names
    no kind of record) and what to do, and its log entry is one line."""
    mapping = tmp_path / "acme.toml"
    mapping.write_text(VENDOR_MAPPING)
    header_only = tmp_path / "header_only.csv"
    _vendor_export(5).head(0).write_csv(header_only)
    data = tmp_path / "data"
    data.mkdir()
    train = ["train", "--source", str(mapping), "--input", str(header_only)]
    assert main(["--data-dir", str(data), *train]) == 2
    said = capsys.readouterr().err
    assert f"{header_only}: the file has no rows (a header only, or only empty rows), so " in said
    assert "if rows were expected, ask for the complete export" in said
    assert "survey" not in said
    assert "traceback" not in said  # the log holds none to point at
    [log] = (data / "logs").glob("*-train.log")
    logged = log.read_text()
    assert "command refused: " in logged and "BatchError: " in logged
    assert "Traceback" not in logged


FIELD_QUALTRICS = ROOT.parent / "shared" / "field" / "01-qualtrics-three-header-rows"


@pytest.mark.skipif(not FIELD_QUALTRICS.exists(), reason=f"field sample not at {FIELD_QUALTRICS}")
def test_a_sources_qa_audits_kept_in_an_excel_workbook_are_its_labels(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QA keeps its audits of a Qualtrics source's negatives (the field export) in Excel, a
    title above the header and a lookup sheet of verdicts beside it: `train --source` read
    none of it ("audits are read from CSV files"). It reads the audit sheet as a CSV audit
    file is read, dates typed as Excel dates as the dates they are (04/09/2023 shown
    day-first is 4 September), and names a row it sets aside by its workbook, sheet and
    the row Excel shows."""
    import xlsxwriter

    from servicelens.ingest.configured import configured_source

    data = ["--data-dir", str(tmp_path / "data")]
    definition = Path(__file__).parent / "definitions" / "qualtrics-acme.toml"
    assert (
        main([*data, "sources", "run", str(definition), str(FIELD_QUALTRICS / "sample.csv")]) == 0
    )
    source = configured_source(Settings(data_dir=str(tmp_path / "data")), "acme-qualtrics")
    ids = sorted(
        pl.read_parquet(source.clean_dir / "**" / "*.parquet")
        .filter(pl.col("is_negative") & pl.col("comment").is_not_null())
        .get_column("response_id")
        .to_list()
    )
    assert len(ids) >= 3
    capsys.readouterr()

    source.audits_dir.mkdir(parents=True, exist_ok=True)
    book = xlsxwriter.Workbook(str(source.audits_dir / "qa-2018-07.xlsx"))
    lookup = book.add_worksheet("Verdicts")
    lookup.write_column(0, 0, ["Verdict", "perceived", "policy_failure"])
    sheet = book.add_worksheet("Audits")
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    sheet.write(0, 0, "Acme - QA audits - July 2018")
    sheet.write_row(2, 0, ["Response ID", "Root Cause", "Audited At", "Auditor"])
    sheet.write_row(3, 0, [ids[0], "Policy failure"])
    sheet.write_datetime(3, 2, datetime(2018, 8, 4), day)  # shown 04/08/2018: 4 August
    sheet.write_row(4, 0, [ids[1], "perceived", "2018-08-06 10:00"])  # a date typed as text
    sheet.write_row(5, 0, [ids[2], "percieved"])
    sheet.write_datetime(5, 2, datetime(2018, 8, 6), day)
    for row in (3, 4, 5):
        sheet.write(row, 3, "qa-anna")
    book.close()

    # Too few audits for a model: training says so, after where every audit row went.
    assert main([*data, "train", "--source", "acme-qualtrics"]) == 2
    said = capsys.readouterr().err
    assert "audits: 3 rows in 1 file(s), 2 used; 1 set aside (root_cause)" in said
    assert (
        "acme-qualtrics/qa-2018-07.xlsx sheet 'Audits': rows 1-2 skipped as a title above its "
        "header (row 3)" in said
    )
    assert (
        f"  acme-qualtrics/qa-2018-07.xlsx sheet 'Audits' row 6 ({ids[2]}): root_cause: "
        "'percieved' is not one of perceived or policy_failure (did you mean perceived?)" in said
    )
    assert "is not read" not in said

    from servicelens.stages import audits_read

    read = audits_read(source)
    assert read.audits.select("response_id", "root_cause", "audited_at", "source_line").rows() == [
        # Midnight and 10:00 in the business timezone (Europe/London, BST).
        (ids[0], "policy_failure", datetime(2018, 8, 3, 23, tzinfo=UTC), 4),
        (ids[1], "perceived", datetime(2018, 8, 6, 9, tzinfo=UTC), 5),
    ]
