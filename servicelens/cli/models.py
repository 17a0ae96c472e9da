"""Command handlers for models and one-file exports: ``train --source``, ``score``, ``models``.

Survey training stays a Prefect flow (``servicelens train``); an export read through a source
definition is trained and scored here directly, because it is one file in and one file out.
Both go through the same ingest layer as the nightly run (:func:`servicelens.stages.ingest_export`):
decoding, line numbers, quarantine with reasons, PII redaction, Great Expectations checks and
reconciliation. Models of a source live in their own registry, ``models/sources/<name>/``.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, cast

import polars as pl

from servicelens.cli.console import print_json
from servicelens.cli.embedded_api import start_in_background
from servicelens.settings import Settings
from servicelens.storage.fs import DataPath

#: The per-row lists of a training's audit accounting: in metrics.json, not in `models show`.
AUDIT_ROW_LISTS = (
    "set_aside_rows",
    "unused_rows",
    "overturned_rows",
    "used_without_an_auditor",
)


def source_models_dir(settings: Settings, source: str | None) -> DataPath:
    """The registry of the survey pipeline (no ``source``, or ``sample``), or of one source
    definition (:func:`registry_of`)."""
    if not source:
        return settings.models_dir
    from servicelens.ingest.configured import definition_named
    from servicelens.ingest.definitions import load_definition

    return registry_of(settings, load_definition(definition_named(settings, source)).name)


def registry_of(settings: Settings, source_name: str) -> DataPath:
    """Where the models of one source live: ``models/sources/<name>/``, and the sample's
    (:data:`~transforms.schemas.SAMPLE_SOURCE`, its preset's name too) at ``models/``, where
    training writes them and `models list` labels them "source sample". A user's trial:
    `score --source sample --version V` looked for models/sources/sample/V/metadata.json and
    `models --source sample list` said "no models", as `query` and `backfill --source
    sample` read the sample's own."""
    from transforms.schemas import SAMPLE_SOURCE

    if source_name == SAMPLE_SOURCE:
        return settings.root / "models"
    return settings.root / "models" / "sources" / source_name


def add_arguments(sub: Any, train: argparse.ArgumentParser) -> None:
    """Register ``score`` and ``models``, and the ``--source`` options of ``train``."""
    train.add_argument(
        "--source", help="built-in source definition (e.g. cfpb) or a definition file"
    )
    train.add_argument(
        "--input",
        type=Path,
        action="append",
        help="an export to train on (with --source); repeat for several files of the source: "
        "a file with labels but no text teaches the facts and is never scored",
    )
    train.add_argument(
        "--folds",
        type=_fold_count,
        default=5,
        help="cross-validation folds of the out-of-fold estimates (default 5; 2 or more)",
    )
    train.set_defaults(handler=cmd_train)

    score = sub.add_parser("score", help="score an export read through a source definition")
    score.add_argument("--source", required=True, help="built-in definition or definition file")
    score.add_argument("--input", type=Path, required=True)
    score.add_argument("--output", type=Path, required=True, help="Parquet file to write")
    score.add_argument("--version", default=None, help="model version (default: champion)")
    score.set_defaults(handler=cmd_score)

    models = sub.add_parser("models", help="list, promote, roll back or delete model versions")
    models.add_argument("--source", default=None, help="a source definition's registry")
    action = models.add_subparsers(dest="action", required=True)
    listed = action.add_parser("list", help="every version, its holdout metrics, the champion")
    promote = action.add_parser("promote", help="make a version the champion")
    promote.add_argument("version")
    rollback = action.add_parser("rollback", help="point the champion back at the one it replaced")
    show = action.add_parser(
        "show", help="one version: training's decision, data, metrics and skill over chance"
    )
    show.add_argument("version", nargs="?", help="a version (default: the champion)")
    delete = action.add_parser(
        "delete",
        help="delete a version that is not the champion (dry run unless --yes)",
        description=(
            "Delete a model version's folder (its model, vocabulary, out-of-fold and holdout "
            "predictions, metadata): what `servicelens erase` names for an erased subject. "
            "Without --yes it lists the files and deletes nothing. The champion is refused: "
            "promote another version, or retrain, first."
        ),
    )
    delete.add_argument("version")
    delete.add_argument("--yes", action="store_true", help="delete (without it: a dry run)")
    for each in (listed, promote, rollback, show, delete):
        # `models show --source X` as well as `models --source X show` (a trial wrote the
        # first); SUPPRESS keeps the subcommand from resetting the one given before it.
        each.add_argument(
            "--source", default=argparse.SUPPRESS, help="a source definition's registry"
        )
    models.set_defaults(handler=cmd_models)


def model_rows(clean: pl.DataFrame, features: Any) -> pl.DataFrame:
    """Clean rows with the source attributes the model's features name as columns."""
    from transforms.clean import with_attributes

    return with_attributes(clean, [*features.categorical, *features.numeric, *features.flags])


def labelled_rows(clean: pl.DataFrame) -> pl.DataFrame:
    """Rows usable for training: the source's own label as ``root_cause``, and a date."""
    return clean.filter(
        pl.col("label").is_not_null() & pl.col("survey_date").is_not_null()
    ).with_columns(pl.col("label").alias("root_cause"))


def _fold_count(text: str) -> int:
    """``--folds``: a whole number of 2 or more, refused by the parser (a QA lead's trial
    gave 0, 1 and -2: the sample ignored them, and ``--input`` failed 25 s later in
    scikit-learn's words)."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from error
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"{value}: use 2 or more (each fold is scored by a model trained on the others)"
        )
    return value


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens train``: the survey flow, or an export through ``--source``."""
    if not args.source:
        if args.input:
            raise ValueError("--input needs --source (the definition that says how to read it)")
        from servicelens.cli.main import cmd_train as train_surveys
        from servicelens.reporting.analyst import chosen_source

        # A directory of configured sources only: say which to name, not to ingest samples.
        return train_surveys(args, chosen_source(settings, None, "train"))
    from servicelens.ingest.configured import (
        configured_names,
        configured_source,
        definition_named,
    )
    from servicelens.ingest.definitions import DefinitionError
    from servicelens.reporting.analyst import refuse_a_missing_data_dir

    names = configured_names(settings)
    configured = args.source in names
    if not configured and not args.input:
        # Only a configured source trains without --input, and a data directory that does
        # not exist configures none: said alone (a trial run from a folder with no ./data
        # was asked "did you mean qualtrics?" of its source bank-qualtrics).
        refuse_a_missing_data_dir(settings)
    if not configured:
        try:
            definition_named(settings, args.source)  # a typo is named as one, not as no --input
        except DefinitionError:
            refuse_a_missing_data_dir(settings)  # the likelier mistake, said first
            raise
    if not args.input and not configured:
        # A definition file (or preset) whose source is configured here trains that source.
        from servicelens.ingest.definitions import load_definition

        try:
            named = load_definition(args.source).name
        except DefinitionError:
            named = None
        if named in names:
            args.source, configured = named, True
    if not args.input:
        if configured:
            return _train_configured(args, configured_source(settings, args.source))
        raise ValueError(
            "--source needs --input FILE (the export to train on), unless it names a source "
            f"configured here ({', '.join(names) or 'none'}): then it trains on the labels "
            "the source has landed"
        )
    from flows.training import build_fingerprint, champion_built_from, register_and_promote
    from models.pipeline import spec_to_dict
    from models.registry import QUARANTINE_FILE
    from models.train import tfidf_baseline_report, train_root_cause_model
    from servicelens.ingest.definitions import load_definition
    from servicelens.stages import published_quarantine

    # A configured source's name reads its registered definition, as backfill --source does.
    chosen = configured_source(settings, args.source).definition if configured else None
    definition = load_definition(chosen or args.source)
    if not definition.label_column and definition.name in names:
        # Found by a QA lead's trial: told to configure a source that was configured.
        folder = configured_source(settings, definition.name).audits_dir
        raise ValueError(
            f"{definition.path}: has no [label], so it cannot train on --input; source "
            f"{definition.name} is configured here and learns from QA's audits in {folder}: "
            f"run `servicelens train --source {definition.name}` without --input"
        )
    definition.refuse_an_empty_model()
    labelled, facts_only, files, quarantine = _labelled_inputs(definition, args.input, settings)
    audits: dict[str, Any] | None = None
    relabelled = 0
    if configured:
        # A configured source's QA audits are its labels over the export's own, whichever
        # rows it trains on (found by a data scientist's trial: --input trained on CFPB's
        # labels alone and was promoted over the champion that had learnt QA's verdicts).
        from servicelens.stages import audit_report, with_audit_verdicts

        source = configured_source(settings, definition.name)
        labelled, relabelled = with_audit_verdicts(labelled, source)
        if facts_only is not None:
            facts_only, more = with_audit_verdicts(facts_only, source)
            relabelled += more
        audits = audit_report(source)
    registry = registry_of(settings, definition.name)
    build = build_fingerprint(
        labelled,
        facts_only,
        spec_to_dict(definition.features),
        seed=settings.seed,
        folds=args.folds,
    )
    if (unchanged := champion_built_from(registry, build)) is not None:
        if args.json:
            print_json(unchanged)
        else:
            decided = decision_above_table(unchanged["decision"], unchanged["metrics"])
            print(f"{definition.name} model {unchanged['version']}: {decided}")
            print(source_report(unchanged["metrics"]))  # the champion's, as training showed it
            if quarantine.height:
                kept_in = registry / unchanged["version"] / QUARANTINE_FILE
                print(quarantine_text(quarantine, kept_in, "not trained on", with_file=True))
        return 0
    result = train_root_cause_model(
        labelled,
        seed=settings.seed,
        spec=definition.features,
        cv_folds=args.folds,
        facts_only=facts_only,
    )
    metrics = dict(result.metrics)
    metrics["input"] = {
        "files": files,
        "rows": sum(f["rows"] for f in files),
        "kept": sum(f["kept"] for f in files),
        "quarantined": sum(f["quarantined"] for f in files),
        # Why, and where the rows are (in the version's folder): a trial's 40 rows of
        # repeated ids were dropped with nothing but a count.
        "quarantined_by_reason": quarantine_by_reason(quarantine),
        "quarantine_file": QUARANTINE_FILE if quarantine.height else None,
        "labelled_rows": labelled.height,
        "facts_only_rows": 0 if facts_only is None else facts_only.height,
        "skipped_unlabelled": sum(f["kept"] - f["labelled_rows"] for f in files),
        "unmapped_labels": dict(
            sum((Counter(f["unmapped_labels"]) for f in files), Counter()).most_common()
        ),
        "not_verdict_labels": dict(
            sum((Counter(f["not_verdict_labels"]) for f in files), Counter()).most_common()
        ),
        "relabelled_by_an_audit": relabelled,
    }
    if audits is not None:
        metrics["audits"] = audits
    # The plain TF-IDF baseline reads the comment: a model of facts alone has none to read.
    metrics["tfidf_baseline"] = (
        tfidf_baseline_report(labelled, settings.seed, args.folds)
        if definition.features.text
        else None
    )
    registered = register_and_promote(
        result,
        registry,
        labelled,
        metrics,
        definition.features,
        source=definition.name,
        facts_only=facts_only,
        build=build,
        # Kept as the quarantine contract publishes it, as `score --output` and the nightly
        # write it: a trial's was written without reason_kinds, reason_columns and
        # schema_version, so BI could not group it by kind as it does the others.
        quarantine=published_quarantine(quarantine, tuple(e.reason for e in definition.exclude)),
    )
    if args.json:
        print_json(registered)
    else:
        decided = decision_above_table(registered["decision"], metrics)
        print(f"{definition.name} model {registered['version']}: {decided}")
        print(source_report(metrics))
        if quarantine.height:
            kept_in = registry / registered["version"] / QUARANTINE_FILE
            print(quarantine_text(quarantine, kept_in, "not trained on", with_file=True))
        if audits is not None:
            from servicelens.ingest.audits import accounting_text

            print(
                f"{relabelled:,} labelled row(s) of the --input files took a QA audit's "
                "verdict over the export's label; " + accounting_text(audits)
            )
    return 0


def _train_configured(args: argparse.Namespace, source: Settings) -> int:
    """``train --source NAME`` without ``--input``: the train flow on a configured source's
    landed, cleaned rows and their own labels (every delivery landed so far), into its
    registry; the same decision and report as the sample's ``train``."""
    from flows.pipeline import train
    from flows.prefect_client import prompt_flow_heartbeats
    from servicelens.cli.sources import NOTHING_NEGATIVE, marks_nothing_negative

    if marks_nothing_negative(source, source.source):
        raise ValueError(f"source {source.source}: {NOTHING_NEGATIVE}")
    start_in_background()
    with prompt_flow_heartbeats():
        # Given settings, the flow trains that one model and returns its dict.
        result = cast(dict[str, Any], train(source, folds=args.folds))
    if args.json:
        print_json(result)
    else:
        metrics = result["metrics"]
        decided = decision_above_table(result["decision"], metrics)
        print(f"{source.source} model {result['version']}: {decided}")
        if result["promoted"] and (hint := rescore_hint(source, source.models_dir, source.source)):
            print(hint, file=sys.stderr)
        cv, holdout = metrics["cross_validation"], metrics["model"]
        facts = int(metrics.get("facts_only_rows") or 0)
        # The same rule as --input's (transforms.labelled.set_apart_facts_only), said, since every
        # figure after it is measured on the rows with text alone.
        also = (
            f" and {facts:,} facts-only rows (deliveries without text: trained on, never scored)"
            if facts
            else ""
        )
        print(
            f"trained on {metrics['split']['train_rows'] + metrics['split']['test_rows']} "
            f"labelled rows of the source's clean layer (its own labels and QA's audits)"
            f"{also}; cross-validated roc_auc "
            f"{cv['roc_auc']:.3f}, time split roc_auc {holdout['roc_auc']:.3f} on "
            f"{metrics['split']['test_rows']} rows ({metrics['split']['test_from']}.."
            f"{metrics['split']['test_to']})"
        )
        from models.registry import holdout_one_class

        if cause := holdout_one_class(metrics):
            print(f"time split's test slice: {one_class_text(cause)}")
        if "audits" in metrics:
            from servicelens.ingest.audits import accounting_text

            print(accounting_text(metrics["audits"]))
        from servicelens.cli.main import metrics_lines

        print(metrics_lines(metrics))
    return 0


def _labelled_inputs(
    definition: Any, paths: list[Path], settings: Settings
) -> tuple[pl.DataFrame, pl.DataFrame | None, list[dict[str, Any]], pl.DataFrame]:
    """The labelled rows of every input, each read through the ingest layer: those of files
    with text (scored and trained on), those of files without any text (facts only: trained
    on, never scored), per file what was read, kept and quarantined, and the quarantined
    rows of every file (``QUARANTINE_ROW_SCHEMA``, as the stages build them, published by
    :func:`~servicelens.stages.published_quarantine`; none: no rows)."""
    from servicelens.stages import ingest_export
    from transforms.labelled import set_apart_facts_only

    scored: list[pl.DataFrame] = []
    facts: list[pl.DataFrame] = []
    files: list[dict[str, Any]] = []
    written = pl.col("comment").fill_null("").str.strip_chars() != ""
    quarantined: list[pl.DataFrame] = []
    with_text = 0  # rows with text, labelled or not: to say why none can be scored on
    for path in paths:
        ingested = ingest_export(definition, path, settings, require_label=True)
        quarantined.append(ingested.quarantine)
        everything = model_rows(ingested.clean, definition.features)
        rows = labelled_rows(everything)
        with_text += everything.filter(written).height
        # One rule for --input and the landed rows (transforms.labelled.set_apart_facts_only): a
        # file none of whose labelled rows has text is facts only; a model of facts alone
        # (no comment mapped) trains and scores on every file.
        with_text_rows, facts_rows = set_apart_facts_only(rows, definition.features.text)
        has_text = facts_rows is None
        scored.append(with_text_rows)
        if facts_rows is not None:
            facts.append(facts_rows)
        files.append(
            {
                "file": str(path),
                "rows": ingested.counts.surveys_read,
                "kept": ingested.counts.kept,
                "quarantined": ingested.counts.quarantined,
                "labelled_rows": rows.height,
                "unmapped_labels": ingested.mapped.unmapped_labels,
                "not_verdict_labels": ingested.mapped.not_verdict_labels,
                "role": "scored" if has_text else "facts only (no text)",
            }
        )
    scored = [frame for frame in scored if frame.height]
    if not scored:
        labelled = sum(f["labelled_rows"] for f in files)
        # No labelled row has text here, so every row with text is unlabelled.
        why = (
            f"none of their {labelled} labelled rows has comment text ({with_text} "
            "rows with text have no label, e.g. outcomes still in progress)"
            if with_text
            else "no row of theirs has comment text"
        )
        raise ValueError(
            f"the --input files of source {definition.name!r} cannot train a model: {why}. The "
            "model needs labelled rows with text; files without text can only be added to them"
        )
    return (
        pl.concat(scored, how="diagonal_relaxed"),
        pl.concat(facts, how="diagonal_relaxed") if facts else None,
        files,
        pl.concat(quarantined, how="vertical_relaxed"),
    )


#: Unmapped label words named on the terminal; the metrics keep them all.
UNMAPPED_LABELS_SHOWN = 8


def unmapped_labels_text(unmapped: dict[str, int]) -> str:
    """One line naming the label words ``[label.values]`` does not map (word -> rows,
    commonest first): their rows are not trained on, which is right for outcomes that are
    no verdict ("In progress") and a silent loss for a verdict spelt another way."""
    return (
        f"label words the definition's [label.values] does not map, so their rows have no "
        f"label: {_label_words_listed(unmapped)}. Map those that are verdicts "
        "(matched ignoring case)"
    )


def _label_words_listed(words: dict[str, int]) -> str:
    """``'In progress' 8, 'Open' 2``: the first :data:`UNMAPPED_LABELS_SHOWN` label words
    of ``words`` (word -> rows) with their rows, and ``and N more`` for the rest."""
    shown = list(words.items())[:UNMAPPED_LABELS_SHOWN]
    listed = ", ".join(f"{word!r} {rows:,}" for word, rows in shown)
    more = len(words) - len(shown)
    return f"{listed}{f' and {more} more' if more > 0 else ''}"


def not_verdicts_text(words: dict[str, int]) -> str:
    """One line naming the label words the definition says are no verdict (``[label]
    not_verdicts``; word -> rows, commonest first): their rows are kept unlabelled on
    purpose, so nothing is asked of the reader (a trial's ``sources check`` of the CFPB
    sample told an analyst to map ``In progress``, which the ``cfpb`` preset leaves out of
    the labels on purpose)."""
    return (
        f"label words the definition's [label] not_verdicts says are no verdict, so their "
        f"rows are kept unlabelled on purpose (not trained on): {_label_words_listed(words)}"
    )


def folds_text(cross_validation: dict[str, Any]) -> str:
    """``5-fold CV``, or with the folds lowered, ``3-fold CV (lowered from the 5 asked for:
    ...)``: the folds that ran, from a version's ``metrics["cross_validation"]`` (versions
    saved before 2026-12 recorded the folds asked for, and no ``folds_lowered``)."""
    notes = _folds_notes(cross_validation)
    return f"{cross_validation['folds']}-fold CV" + (f" ({'; '.join(notes)})" if notes else "")


def _folds_notes(cross_validation: dict[str, Any]) -> list[str]:
    """Why fewer folds ran than were asked for, and how many rows sharing a comment were
    kept in one fold (:func:`transforms.labelled.duplicate_text_groups`), as recorded; read back
    from ``metrics.json``, a null is NaN (``read_metrics``), which says nothing."""
    lowered = cross_validation.get("folds_lowered")
    shared = cross_validation.get("shared_text_rows")
    # Versions saved before 2026-12-05 did not record whether the folds were grouped.
    kept = (
        "each in its copies' fold"
        if cross_validation.get("grouped_by_text") is not False
        else "not kept in one fold: a root cause has fewer distinct comments than folds"
    )
    return [
        *([lowered] if isinstance(lowered, str) else []),
        *(
            [f"{int(shared):,} rows whose comment another repeats, {kept}"]
            if isinstance(shared, int | float) and shared > 0
            else []
        ),
    ]


def decision_above_table(decision: str, metrics: dict[str, Any]) -> str:
    """A training's ``decision`` as the terminal prints it above the metrics table
    (:func:`source_report`, ``main.metrics_lines``): without its closing sentence naming a
    baseline that beats the model (``models.evaluate.baselines_ahead_text``), which the
    table's own line says. The decision keeps it for the log, ``models show`` and
    ``--json``; a new user's trial read it twice in `train`'s output."""
    from models.evaluate import baselines_ahead_text

    ahead = baselines_ahead_text(metrics)
    return decision.removesuffix(f"; {ahead}") if ahead else decision


def selection_lines(selection: dict[str, Any] | None, design: str | None = None) -> list[str]:
    """How training chose a model's design, as ``train`` (every path) and ``models show``
    print it: ``selection`` is ``metrics.json``'s (:meth:`models.select.Selection.as_dict`:
    ``chosen``, ``criterion``, ``folds``, ``candidates`` mapping each design compared to its
    pooled validation ``log_loss``, ``roc_auc``, ``brier`` and ``cpu_seconds``).

    Candidates compared: a line naming the chosen design, the folds and why it won, then one
    row per candidate, the chosen one starred. One candidate, or no ``selection`` (a version
    saved before it was recorded): the one line alone. The first line is
    :func:`models.evaluate.selection_summary`'s, which the report says too.
    A QA lead's trial read "design blend" in ``models show`` and no design in ``train
    --source X``, though training had compared five on the validation numbers kept here."""
    from models.evaluate import selection_summary

    lines = [selection_summary(selection, design)]
    if not selection or not selection.get("candidates"):
        return lines
    candidates = selection["candidates"]
    lines.append(f"{'  candidate':<30}{'log_loss':>9}{'roc_auc':>9}{'brier':>8}{'cpu s':>8}")
    for name, score in candidates.items():
        mark = "*" if name == selection["chosen"] else " "
        lines.append(
            f"{mark} {name:<28}{score['log_loss']:>9.3f}{score['roc_auc']:>9.3f}"
            f"{score['brier']:>8.3f}{score['cpu_seconds']:>8.1f}"
        )
    return lines


def decision_lines(metrics: dict[str, Any]) -> list[str]:
    """``train``'s lines for a QA lead, from a version's ``metrics.json``: the labels' class
    balance, where the threshold and review band come from, and the time split's errors by
    root cause at that threshold (none for a one-class test slice)."""
    from models.evaluate import class_balance_text, decision_origin_text, per_class_error_lines
    from models.registry import holdout_one_class

    lines = [balance] if (balance := class_balance_text(metrics)) else []
    decision = metrics.get("decision") or {}
    if "threshold" in decision:
        lines.append(decision_origin_text(metrics))
        if not holdout_one_class(metrics):
            rows = (metrics.get("split") or {}).get("test_rows")
            lines += per_class_error_lines(
                metrics.get("model") or {},
                f"on the time split's {rows:,} test rows at threshold {decision['threshold']:.2f}",
            )
    return lines


def source_report(metrics: dict[str, Any]) -> str:
    """The chosen design and every candidate's validation scores, then the model beside the
    plain TF-IDF baseline, cross-validated and on the time split, and the review band."""
    base = metrics["tfidf_baseline"]
    cv, holdout = metrics["cross_validation"], metrics["model"]
    selection = metrics.get("selection") or {}
    split = metrics["split"]
    inputs = metrics["input"]
    lines = [
        f"rows {inputs['rows']} (kept {inputs['kept']}, quarantined {inputs['quarantined']}), "
        f"labelled {inputs['labelled_rows']} scored + "
        f"{inputs.get('facts_only_rows', 0)} facts only; {folds_text(cv)}; time split: "
        f"train {split['train_rows']} (+{split.get('facts_only_train_rows', 0)} facts only), "
        f"test {split['test_rows']} ({split['test_from']}..{split['test_to']})"
        + (
            f", {seen:,} of them repeating a training row's comment"
            if (seen := split.get("test_rows_with_training_text"))
            else ""
        ),
    ]
    from models.evaluate import baselines_ahead_text
    from models.registry import holdout_one_class

    if cause := holdout_one_class(metrics):
        lines.append(f"time split's test slice: {one_class_text(cause)}")
    if inputs.get("unmapped_labels"):
        lines.append(unmapped_labels_text(inputs["unmapped_labels"]))
    if inputs.get("not_verdict_labels"):
        lines.append(not_verdicts_text(inputs["not_verdict_labels"]))
    lines += selection_lines(selection)
    lines.append(
        f"{'':<30}{'cv roc_auc':>11}{'cv pr_auc':>10}{'time roc_auc':>13}{'time pr_auc':>12}"
    )
    rows = [(f"model ({selection.get('chosen', '?')})", cv, holdout)]
    if base is not None:  # none for a model of facts alone
        rows.append(("tf-idf + logistic regression", base["cross_validation"], base["time_split"]))
    for name, c, t in rows:
        lines.append(
            f"{name:<30}{c['roc_auc']:>11.3f}{c['pr_auc']:>10.3f}{t['roc_auc']:>13.3f}"
            f"{t['pr_auc']:>12.3f}"
        )
    # Found by data scientists' trials: the facts-only baseline ranked CFPB's time split
    # better than the model, and only the HTML report said so; then it beat the model on
    # macro-F1 and accuracy too, and the line named only ROC-AUC.
    if ahead := baselines_ahead_text(metrics):
        lines.append(ahead)
    decision = metrics["decision"]
    lines += decision_lines(metrics)
    lines.append(
        f"calibration: ECE {holdout['ece']:.3f} on the time split, {cv['ece']:.3f} "
        f"cross-validated; review band {decision['review_band']}: "
        f"{decision['holdout_review_share']:.1%} of the test slice to review, accuracy "
        f"{decision['holdout_accuracy_when_decided']:.3f} on the rest "
        f"(all rows {decision['holdout_accuracy_all']:.3f})"
    )
    timing = metrics.get("timing") or {}
    if timing:
        lines.append(f"training CPU time: {sum(timing.values()):.0f} s")
    return "\n".join(lines)


def cmd_score(args: argparse.Namespace, settings: Settings) -> int:
    """Score the kept rows of an export with a source's champion; one output row per kept
    row, in file order, with feedback_scored's columns BI slices by
    (``transforms.schemas.SCORE_OUTPUT_SCHEMA``: source, survey_date as the nightly run
    partitions it, submitted_at, queue and the other mapped columns, the agent as
    agent_outcomes names it (:func:`servicelens.outcomes.published_agent_ids`; null, and
    said, where no row names one), then the scores).
    Quarantined rows go beside the output (:func:`quarantine_output`,
    ``QUARANTINE_SCHEMA`` as the nightly publishes it, :func:`servicelens.stages.
    published_quarantine`: line, id, every reason with its kind and column, the raw record
    with personal data redacted) and are counted, by column, in the summary. A date of the
    sample's raw zone is read holding the date as a run of it does
    (:func:`servicelens.erasure.holding_date`: waits for a run holding it, saying so on
    stderr, then :class:`~servicelens.storage.locks.LockBusyError`)."""
    from models.drift import compare_with_reference
    from models.pipeline import feature_frame, spec_from_dict
    from models.registry import (
        champion_version,
        load_model,
        read_metadata,
        read_out_of_fold,
        read_reference,
        read_trained_facts_only,
    )
    from models.train import Decision, score_negatives
    from servicelens.erasure import holding_date
    from servicelens.ingest.configured import definition_named
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import period_start_of
    from servicelens.outcomes import published_agent_ids
    from servicelens.stages import ingest_export, published_quarantine, sample_day_rows
    from transforms.marts import IN_TRAINING_SET, with_out_of_fold_scores
    from transforms.schemas import PARTITION_COLUMN, SAMPLE_SOURCE, SCORE_OUTPUT_SCHEMA, conform

    definition = load_definition(definition_named(settings, args.source))
    models_dir = registry_of(settings, definition.name)
    version = args.version or champion_version(models_dir)
    if version is None and definition.negative == "none":
        # Not "train one first": a trial's `run` had just said none is needed (and none
        # can be trained).
        from servicelens.cli.sources import NOTHING_NEGATIVE

        raise ValueError(f"source {definition.name}: {NOTHING_NEGATIVE}")
    if version is None:
        raise ValueError(
            f"{models_dir}: no {definition.name} model yet; {_train_first(settings, args.source)}"
        )
    meta = read_metadata(models_dir, version)
    spec = spec_from_dict(meta.get("feature_spec"))
    decision = Decision.from_dict(meta.get("decision"), settings.review_band)
    facts_note = None
    day = sample_raw_day(settings, args.input) if definition.name == SAMPLE_SOURCE else None
    if day is not None:
        # A date of this data directory's raw zone is read as the nightly run reads it (its
        # interactions joined, a row matching none quarantined, policy facts, repeat
        # contacts), so its rows and scores are the marts' (a trial's score of a demo date
        # changed 46 root causes and scored 10 rows the nightly had quarantined).
        # It publishes the contact history of look-back exports no date has indexed yet, as
        # the nightly run does: held as a run holds the date, so a score beside a backfill
        # of the same date takes its turn.
        sample = replace(settings, source=SAMPLE_SOURCE)
        with holding_date(sample, day, "score", SCORE_THEN, say_on_stderr):
            validated = sample_day_rows(sample, day, data_docs=False)
        clean = validated.clean
        quarantine = validated.quarantine.filter(pl.col("feed") == "surveys")
        rows_read, quarantined = validated.counts.surveys_read, validated.counts.quarantined
    else:
        ingested = ingest_export(definition, args.input, settings)
        clean, quarantine = ingested.clean, ingested.quarantine
        rows_read, quarantined = ingested.counts.surveys_read, ingested.counts.quarantined
        facts_note = missing_facts_note(settings, definition, args.input)
    rows = model_rows(clean, spec)
    in_sample = score_negatives(
        load_model(models_dir, version),
        rows,
        decision.review_band,
        decision.threshold,
        spec,
        decision=decision,
    )
    # A row whose label the model learned gets its out-of-fold score, as the marts give it
    # (feedback_scored's in_training_set): a trial scored the export it had trained on.
    scored = with_out_of_fold_scores(
        in_sample,
        read_out_of_fold(models_dir, version),
        decision.threshold,
        decision.review_band,
        read_trained_facts_only(models_dir, version),
    )
    # The mart's columns BI slices by, as feedback_scored has them (a consumer-finance
    # lead's trial could not slice a scored CFPB export by product or month without the CSV),
    # and the agent as agent_outcomes names it: the mart's pseudonym under the mart's key,
    # so a scored row joins to its agent's weeks (BI could not slice a scored file by agent).
    source = (
        replace(settings, source=SAMPLE_SOURCE)
        if definition.name == SAMPLE_SOURCE
        else settings.for_source(
            definition.name,
            str(args.source),
            definition.partition,
            reveal_agent_ids=not definition.pseudonymise_agents,
        )
    )
    agent_ids = scored.get_column("agent_id")
    agent_note = (
        None
        if agent_ids.null_count() < scored.height or not scored.height
        else f"agent: null on every row: no row of {args.input} names an agent "
        + (
            "(the sample's agents come from the interaction export of a date of "
            f"{settings.root / 'raw'}: score that date's surveys.csv)"
            if definition.name == SAMPLE_SOURCE
            else f"(map the export's agent column as agent_id in {definition.name}'s [columns])"
        )
    )
    out = conform(
        scored.with_columns(
            period_start_of(pl.col(PARTITION_COLUMN), definition.partition),
            pl.lit(version).alias("model_version"),
            (published_agent_ids(source, agent_ids) if agent_note is None else agent_ids).alias(
                "agent"
            ),
        ),
        SCORE_OUTPUT_SCHEMA,
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    out.write_parquet(args.output)
    # Nothing read is lost: the rows that were not scored go beside the scores, each with
    # its line and every reason (QUARANTINE_SCHEMA, as the quarantine zone keeps them: its
    # reasons' kinds and columns too, which BI groups by).
    quarantine_file = quarantine_output(args.output)
    if quarantine.height:
        set_aside = tuple(e.reason for e in definition.exclude)
        published_quarantine(quarantine, set_aside).write_parquet(quarantine_file)
    else:
        quarantine_file.unlink(missing_ok=True)  # an earlier score's, now stale
    reference = read_reference(models_dir, version)
    # Drift compares in-sample scores with the reference's, which are in-sample too.
    negatives = in_sample.filter(pl.col("p_policy_failure").is_not_null())
    drift = (
        compare_with_reference(
            feature_frame(negatives, spec),
            negatives.get_column("p_policy_failure").to_numpy(),
            reference,
        )
        if reference and negatives.height
        else None
    )
    summary = {
        "input": str(args.input),
        "output": str(args.output),
        "rows": rows_read,
        "scored": int(out.get_column("p_policy_failure").is_not_null().sum()),
        # Kept rows a root cause is not given to (a trial's sentence left them out).
        "not_negative": int((~clean.get_column("is_negative").fill_null(False)).sum()),
        "quarantined": quarantined,
        "quarantined_by_column": quarantine_by_column(quarantine),
        "quarantine_output": str(quarantine_file) if quarantine.height else None,
        "contact_facts": "joined" if facts_note is None else "missing",
        "contact_facts_note": facts_note,
        "agent_note": agent_note,
        "model_version": version,
        "policy_failure": int((out.get_column("root_cause") == "policy_failure").sum()),
        "needs_review": int(out.get_column("needs_review").sum()),
        "in_training_set": int(out.get_column(IN_TRAINING_SET).sum()),
        "drift": drift,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"scored {summary['scored']} of {summary['rows']} rows with {definition.name} model "
            f"{version}: {summary['policy_failure']} policy_failure, {summary['needs_review']} "
            f"need review; {summary['not_negative']} kept that are not negative (by the "
            f'definition\'s negative = "{definition.negative_rule}": no root cause to give), '
            f"{summary['quarantined']} quarantined -> {args.output}"
        )
        if summary["in_training_set"]:
            print(
                f"{summary['in_training_set']:,} of them are labels the model trained on "
                "(in_training_set): they carry its out-of-fold scores, not fresh predictions"
            )
        if quarantine.height:
            print(quarantine_text(quarantine, quarantine_file))
        if facts_note:
            print(facts_note)
        if agent_note:
            print(agent_note)
        if drift:
            print(f"drift vs training: {drift_text(drift)} (max PSI {drift['max_psi']:.3f})")
    return 0


#: What ``score`` says when the date it reads stays held (``erasure.holding_date``).
SCORE_THEN = (
    "nothing was scored or written. Let that run finish (`servicelens runs show`), then score again"
)


def say_on_stderr(message: str) -> None:
    """Print ``message`` on stderr at once (a wait for a date, while stdout is the output)."""
    print(message, file=sys.stderr, flush=True)


def sample_raw_day(settings: Settings, export: Path) -> date | None:
    """The date whose raw survey export ``export`` is in ``settings``' data directory
    (``raw/<date>/surveys.csv``, a local path), or None for a file elsewhere."""
    from servicelens.settings import SURVEYS_FILE

    try:
        day = date.fromisoformat(export.parent.name)
    except ValueError:
        return None
    own = settings.raw_day(day) / SURVEYS_FILE
    if export.name != SURVEYS_FILE or not isinstance(own, Path):
        return None
    return day if own.exists() and own.resolve() == export.resolve() else None


def missing_facts_note(settings: Settings, definition: Any, export: Path) -> str | None:
    """What ``score`` says when the rows it scores lack contact-centre facts the nightly
    run joins to the same rows: the sample's (its ``interactions.jsonl``, joined only to a
    date of the data directory's raw zone) and a definition's ``[interactions]`` feed
    (landed beside the source, not beside an export). None where the rows carry every fact
    they have in the marts."""
    from transforms.clean import INTERACTION_COLUMNS
    from transforms.schemas import SAMPLE_SOURCE

    facts = ", ".join(INTERACTION_COLUMNS)
    if definition.name == SAMPLE_SOURCE:
        where = settings.root / "raw"
        return (
            f"contact-centre facts missing: {export} is not a date of {where} "
            "(<date>/surveys.csv, joined to the interactions.jsonl of the date and the days "
            "before it), so its rows are scored without the facts the nightly run joins to "
            f"them ({facts}), and their scores and root causes will differ from the marts'; "
            "nor is a row matching no interaction quarantined. To score as the marts do, put "
            f"the export and the interaction exports in {where}/<date>/ and score that "
            "surveys.csv"
        )
    if definition.interactions is not None:
        return (
            f"contact-centre facts missing: {definition.name} declares an [interactions] feed, "
            f"which the nightly run joins to its rows from the landed feed; {export}'s rows "
            "are scored with only the facts they carry themselves, so the scores and root "
            "causes of rows the feed gives facts for will differ from the marts'"
        )
    return None


def drift_text(drift: dict[str, Any]) -> str:
    """What :func:`models.drift.compare_with_reference`'s result says, in a few words: a
    batch too small to judge says so, and is not called free of drift; nor are the features
    it has too few rows for (``not_judged``: 200 rows over 51 companies are noise)."""
    from models.drift import MIN_DRIFT_ROWS

    not_judged = drift.get("not_judged") or []
    unjudged = f"; not judged: {'; '.join(not_judged)}" if not_judged else ""
    if drift["flagged"]:
        return "DRIFT: " + "; ".join(drift["alerts"]) + unjudged
    if drift["rows"] < MIN_DRIFT_ROWS:
        seen = f"; measured: {'; '.join(drift['alerts'])}" if drift["alerts"] else ""
        return (
            f"not judged: {drift['rows']} scored rows, under the {MIN_DRIFT_ROWS} drift needs{seen}"
        )
    if not_judged:
        judged = len(drift.get("psi", {})) - len(not_judged)
        return f"no drift in the {judged} feature(s) judged{unjudged}"
    return "no drift"


def _train_first(settings: Settings, source: str) -> str:
    """What ``score --source SOURCE`` tells to run when there is no model to score with: a
    source configured in ``settings``' data directory that has landed rows trains on them,
    as ``run`` and the report say (:func:`~servicelens.reporting.suggested.train_hint`);
    any other (a preset, a definition file, a configured source with nothing landed) on a
    labelled export. A consumer-finance lead's trial, with CFPB landed, was told to give
    ``--input FILE``."""
    from servicelens.ingest.configured import configured_names, configured_source
    from servicelens.ingest.landing import landed_periods
    from servicelens.reporting.suggested import train_hint

    if source in configured_names(settings):
        configured = configured_source(settings, source)
        if landed_periods(configured):
            return f"run {train_hint(configured)}, then score again"
    return f"run `servicelens train --source {source} --input FILE` first"


def quarantine_output(output: Path) -> Path:
    """Where ``servicelens score`` writes the rows it did not score: beside ``output``,
    ``scored.parquet`` -> ``scored.quarantine.parquet``."""
    return output.with_name(f"{output.stem}.quarantine{output.suffix or '.parquet'}")


#: Quarantined rows ``servicelens score`` lists on the terminal; the file holds them all.
QUARANTINE_SHOWN = 5


def quarantine_by_column(quarantine: pl.DataFrame) -> dict[str, int]:
    """Rows of a ``QUARANTINE_SCHEMA`` frame by the column its first reason names (``malformed
    line`` where it names none), commonest first."""
    counted = (
        quarantine.select(pl.col("reasons").list.first().str.extract(r"^([^:]+):"))
        .to_series()
        .fill_null("malformed line")
        .value_counts(sort=True)
        .rows()
    )
    return dict(counted)


def quarantine_by_reason(quarantine: pl.DataFrame) -> dict[str, int]:
    """Every reason of a ``QUARANTINE_SCHEMA`` frame with its quoted values masked
    (``response_id: '…' is used by more than one ...``), and how many rows give it,
    commonest first: a row with two reasons counts under each."""
    counted = (
        quarantine.select(
            pl.col("reasons").list.unique().explode().str.replace_all(r"'[^']*'", "'…'")
        )
        .to_series()
        .drop_nulls()
        .value_counts(sort=True)
        .rows()
    )
    return dict(counted)


def quarantine_text(
    quarantine: pl.DataFrame, written_to: Path, what: str = "not scored", with_file: bool = False
) -> str:
    """The first :data:`QUARANTINE_SHOWN` quarantined rows of a ``QUARANTINE_SCHEMA`` frame,
    one line each (line, id, every reason; ``with_file``: the file's name first), where all
    of them were written, and with ``with_file``, when the lines leave rows out, how many
    give each reason (:func:`quarantine_by_reason`). ``what``: what became of them (``not
    scored``). A tally beside every row said each row twice (a data scientist's trial: "1 x
    malformed line: ..." over the one truncated record it counted)."""
    lines = [f"quarantined ({what}), all {quarantine.height} in {written_to}:"]
    if with_file and quarantine.height > QUARANTINE_SHOWN:
        lines += [f"  {n:,} x {why}" for why, n in quarantine_by_reason(quarantine).items()]
    shown = quarantine.sort("source_file", "source_line").head(QUARANTINE_SHOWN)
    for file, line, record, reasons in shown.select(
        "source_file", "source_line", "record_id", "reasons"
    ).rows():
        # A record that could not be split into fields has no id to show (not "no id").
        label = f" ({record})" if record else ""
        where = f"{Path(file).name} line {line}" if with_file else f"line {line}"
        lines.append(f"  {where}{label}: " + "; ".join(reasons or []))
    if quarantine.height > QUARANTINE_SHOWN:
        lines.append(f"  ... and {quarantine.height - QUARANTINE_SHOWN} more")
    return "\n".join(lines)


def _action_words(args: argparse.Namespace) -> list[str]:
    """``models``' action and its version, as typed: what follows ``--source NAME`` in a
    suggested command."""
    return [args.action, *([args.version] if getattr(args, "version", None) else [])]


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    """``servicelens models list | show | promote VERSION | rollback | delete VERSION``.

    Raises ValueError (exit status 2) for ``list`` or ``show`` of a local data directory
    that does not exist: a mistyped --data-dir listed "no models", exit 0
    (:func:`~servicelens.reporting.analyst.refuse_a_missing_data_dir`)."""
    from models.registry import (
        ModelFileError,
        champion_version,
        list_versions,
        read_decision,
        record_champion_change,
        rollback_champion,
        set_champion,
    )
    from servicelens.reporting.analyst import chosen_source, refuse_a_missing_data_dir
    from transforms.schemas import SAMPLE_SOURCE

    if args.source == SAMPLE_SOURCE:
        args.source = None  # the sample's registry, and its commands, as `backfill` reads it
    if args.action in ("list", "show", "delete"):
        refuse_a_missing_data_dir(settings)
    if not args.source:  # the sample's registry: refused where there is no sample
        chosen_source(settings, None, "models", " ".join(_action_words(args)))
    models_dir = source_models_dir(settings, args.source)
    flag = f" --source {args.source}" if args.source else ""
    if args.action == "promote" and champion_version(models_dir) == args.version:
        print(f"{args.version} is already the champion; nothing changed")
    elif args.action == "promote":
        try:
            replaced = champion_version(models_dir)
            set_champion(models_dir, args.version, "promoted by hand")
        except ModelFileError as error:
            raise ModelFileError(
                f"{error}; `servicelens models{flag} list` names the versions there"
            ) from error
        decided = read_decision(models_dir, args.version)
        record_champion_change(models_dir, args.version, "promoted by hand", over=replaced)
        print(f"champion is now {args.version}")
        if decided and decided.get("promoted") is False:
            # Rollback only where there is a champion to go back to (a trial was told to roll
            # back a first champion, and rollback then refused: no previous version).
            back = (
                f"`servicelens models{flag} rollback` goes back to {replaced}, the champion it "
                "replaced"
                if replaced
                else "there was no champion before it, so there is none to roll back to"
            )
            print(
                f"note: training did not promote it: {decided['reason']}. Promoted as asked; "
                + back,
                file=sys.stderr,
            )
    elif args.action == "rollback":
        back = rollback_champion(models_dir, f"servicelens models{flag}")
        print(f"champion rolled back to {back}")
    if args.action in ("promote", "rollback"):
        hint = rescore_hint(settings, models_dir, args.source)
        if hint:
            print(hint, file=sys.stderr)
    if args.action == "delete":
        return _delete_version(args, models_dir, flag)
    if args.action == "show":
        if args.version is None and champion_version(models_dir) is None:
            raise ModelFileError(_no_champion(models_dir, flag))
        shown = version_summary(models_dir, args.version)
        print_json(shown) if args.json else print(_summary_text(shown))
        return 0
    rows = list_versions(models_dir)
    if args.json:
        print_json(rows)
    elif args.action == "list":
        # Found by data scientists' trials: the sample's list said nothing of the sources'
        # registries beside it, configured or trained with --input (cfpb's alone: "no
        # models ... `train` trains one").
        others = [] if args.source else sources_with_models(settings)
        where = ", ".join(f"`servicelens models --source {n} list`" for n in others)
        if not rows:
            print(
                f"no models in {models_dir}"
                + (f"; sources with models: {where}" if others else "")
                + f": `servicelens train{flag}` trains one"
            )
        else:
            # Under a header, the champion marked (a QA lead's trial read bare columns).
            from servicelens.cli.console import table

            print(
                table(
                    [
                        {
                            "champion": "*" if row["champion"] else "",
                            "version": row["version"],
                            "source": row["source"],
                            # Each version's holdout is its own test slice (a user trial
                            # compared macro-F1 on 667 rows with one on 4,494).
                            "holdout rows": _row_count(row["holdout_rows"]),
                            # A holdout of one root cause judges nothing (a trial read
                            # "macro_f1 0.444" of 10 perceived rows).
                            "macro_f1 (holdout)": row["macro_f1"]
                            if not row.get("holdout_one_class")
                            else f"all {row['holdout_one_class']}",
                            "roc_auc (holdout)": row["roc_auc"],
                            # A QA lead's trial could not tell a refused challenger from
                            # the others, nor compare calibration, without opening each.
                            "ece (holdout)": row["ece"],
                            "training's decision": row["decision"] or "",
                            "saved at": row["saved_at"],
                        }
                        for row in rows
                    ]
                )
            )
            if note := holdouts_note(rows):
                print(note)
            if others:
                print(f"models of sources too: {where}")
    return 0


def _delete_version(args: argparse.Namespace, models_dir: DataPath, flag: str) -> int:
    """``models delete VERSION``: list its files (a dry run), or with ``--yes`` delete them
    (``models.registry.delete_version``; the champion is refused with what to do first)."""
    from models.registry import ModelFileError, champion_version, delete_version, version_files

    command = f"servicelens models{flag}"
    train = f"servicelens train{flag}"
    try:
        files = version_files(models_dir, args.version)
        if args.yes:
            delete_version(models_dir, args.version, command, train)
        elif champion_version(models_dir) == args.version:
            # The dry run says the refusal too: --yes would meet it.
            delete_version(models_dir, args.version, command, train)
    except ModelFileError as error:
        if "no such model version" in str(error):
            raise ModelFileError(f"{error}; `{command} list` names the versions there") from None
        raise
    names = [str(f) for f in files]
    if args.json:
        print_json(
            {"version": args.version, "folder": str(models_dir / args.version),
             "deleted": args.yes, "files": names}
        )  # fmt: skip
        return 0
    done = "deleted" if args.yes else "would delete (dry run, nothing deleted; add --yes)"
    print(f"{done} {args.version}: {len(files)} files in {models_dir / args.version}")
    print("\n".join(f"  {name}" for name in names))
    return 0


def _row_count(rows: object) -> int | None:
    """A recorded row count; None where there is none (read_metrics gives a null as NaN)."""
    return int(rows) if isinstance(rows, int | float) and rows == rows else None


def holdouts_note(rows: list[dict[str, Any]]) -> str | None:
    """When the versions ``models list`` lists were tested on holdouts of different sizes:
    that their holdout scores are not of the same rows; else None."""
    sizes = {n for r in rows if (n := _row_count(r["holdout_rows"])) is not None}
    if len(sizes) < 2:
        return None
    return (
        "each version's holdout is the latest survey dates of its own training data "
        f"({min(sizes):,} to {max(sizes):,} rows): the holdout scores of two versions are "
        "not on the same rows"
    )


def sources_with_models(settings: Settings) -> list[str]:
    """The sources whose registries (``models/sources/<name>/``) hold a model version,
    sorted: configured sources and those trained with ``train --source X --input F``
    alike, the latter having no configuration to find them by."""
    from models.registry import list_versions
    from servicelens.ingest.configured import configured_names

    folder = settings.models_dir / "sources"
    found = {p.name for p in folder.iterdir() if p.is_dir()} if folder.exists() else set()
    return sorted(
        name
        for name in found | set(configured_names(settings))
        if list_versions(registry_of(settings, name))
    )


def _no_champion(models_dir: DataPath, flag: str) -> str:
    """Why ``models show`` without a version has nothing to show, and what to run."""
    from models.registry import list_versions

    versions = list_versions(models_dir)
    if not versions:
        return f"{models_dir}: no model trained yet: `servicelens train{flag}` trains one"
    return (
        f"{models_dir}: no champion yet ({len(versions)} version(s), none promoted): name one "
        f"(`servicelens models{flag} list`), or promote one with `servicelens models{flag} "
        "promote VERSION`"
    )


def rescore_hint(settings: Settings, models_dir: DataPath, source: str | None) -> str | None:
    """After a promotion or a rollback: the marts whose negatives another version than the
    new champion scored, or none did (published while there was no champion), and the
    backfill that scores them again (nothing re-scores them by itself: the champion scores
    the dates run from now on). None when all are the champion's, or there is no champion.

    (Found by a trial: ``sources run --train`` of a landed export promoted a source's first
    model and left every partition unscored, with no word of how to score them.)"""
    from models.registry import champion_version
    from servicelens.storage.partitions import scan_table

    champion = champion_version(models_dir)
    name = None if not source else models_dir.name
    root = settings.root if name is None else settings.root / "sources" / name
    table = root / "marts" / "feedback_scored"
    if not table.exists():
        return None
    if champion is None:
        return None
    version = pl.col("model_version")
    unscored = version.is_null() & pl.col("is_negative").fill_null(False)
    other = (
        scan_table(table)
        .filter((version.is_not_null() & (version != champion)) | unscored)
        .select(
            pl.col("survey_date").min().alias("first"),
            pl.col("survey_date").max().alias("last"),
            pl.col("survey_date").n_unique().alias("dates"),
            version.drop_nulls().unique().sort().implode().alias("versions"),
            unscored.any().alias("unscored"),
        )
        .collect()
        .row(0, named=True)
    )
    if not other["dates"]:
        return None
    flag = f" --source {name}" if name else ""
    scored_by = ", ".join(other["versions"])
    if other["unscored"]:
        were = (
            f"were scored by {scored_by} or " if scored_by else "were "
        ) + "not scored at all (there was no champion when they ran)"
        head = f"note: the negatives in the marts of {other['dates']} date(s)"
        said = f"{head} ({other['first']}..{other['last']}) {were}; champion {champion}"
    else:
        said = (
            f"note: the marts of {other['dates']} date(s) ({other['first']}..{other['last']}) "
            f"were scored by {scored_by}, not by champion {champion}; the champion"
        )
    return (
        f"{said} scores the dates run from now on. To score them with it: servicelens "
        f"backfill{flag} --start {other['first']} --end {other['last']} --rerun all"
    )


def version_summary(models_dir: DataPath, version: str | None) -> dict[str, Any]:
    """One version's record: whether it is the champion, training's decision, its data
    (rows, survey dates, fingerprint), design, how training chose it (``selection``, see
    :func:`selection_lines`) and threshold, holdout and cross-validated
    metrics, skill over chance, the baselines (rule or learned) that beat it on the time split
    and, for the
    sample feed, where every audit went. Raises ModelFileError for an unknown version (or
    none, with no champion)."""
    from models.evaluate import (
        baselines_ahead_text,
        class_balance_text,
        decision_origin_text,
        groupings_with_values,
    )
    from models.registry import (
        HOLDOUT_JUDGEMENTS,
        ModelFileError,
        champion_version,
        holdout_one_class,
        read_decision,
        read_metadata,
        read_metrics,
        source_name,
    )

    champion = champion_version(models_dir)
    version = version or champion
    if version is None:
        raise ModelFileError(f"{models_dir}: no champion yet; name a version (`models list`)")
    meta = read_metadata(models_dir, version)
    metrics = read_metrics(models_dir, version)
    audits = metrics.get("audits") or {}
    return {
        "version": version,
        "champion": version == champion,
        "decision": read_decision(models_dir, version),
        "source": source_name(meta),
        "training_rows": meta.get("training_rows"),
        "facts_only_rows": meta.get("facts_only_rows") or 0,
        "survey_dates": meta.get("survey_dates"),
        # Every row's, facts-only rows included (trial 81: survey_dates are the text rows').
        "trained_dates": meta.get("trained_dates"),
        "data_sha256": meta.get("data_sha256"),
        "design": meta.get("design"),
        # How training chose it: every candidate's validation scores (metrics.json's; None
        # for a version saved before they were recorded).
        "selection": metrics.get("selection"),
        "threshold": (meta.get("decision") or {}).get("threshold"),
        "review_band": (meta.get("decision") or {}).get("review_band"),
        # Where both come from, the labels' balance and each root cause's errors: what a QA
        # lead's trial looked for here and found in metrics.json only.
        "decision_origin": decision_origin_text(metrics) if metrics.get("decision") else None,
        "positive_share_train": (metrics.get("split") or {}).get("positive_share_train"),
        "class_balance": class_balance_text(metrics),
        "holdout": {
            "rows": (metrics.get("split") or {}).get("test_rows"),
            "confusion": (metrics.get("model") or {}).get("confusion"),
            # Every row of one root cause: the scores judge nothing, and are not shown.
            "one_class": (one_class := holdout_one_class(metrics)),
            **{
                k: None if one_class else (metrics.get("model") or {}).get(k)
                for k in HOLDOUT_JUDGEMENTS
            },
            # Each score's 95% bootstrap interval over the rows (None: saved before them).
            "intervals": (metrics.get("intervals") or {}).get("model"),
        },
        "cross_validation": {
            **{
                k: (metrics.get("cross_validation") or {}).get(k)
                for k in (
                    "folds",
                    "folds_lowered",
                    "shared_text_rows",
                    "roc_auc",
                    "macro_f1",
                    "ece",
                )
            },
            "intervals": (metrics.get("intervals") or {}).get("cross_validation"),
        },
        # Whether the holdout's rows outside the review band can check its promise.
        "band_check": (metrics.get("decision") or {}).get("band_check"),
        "skill": metrics.get("skill"),
        # Each baseline (the best single rule, the learned ones) that beats the model on
        # the time split, and on what (a data scientist's trial found it in the HTML report
        # alone; a contact centre's, a rule ahead said nowhere); None: none does.
        "baselines_ahead": baselines_ahead_text(metrics),
        # The holdout by queue, policy and language (a trial found them in metrics.json only).
        "by_group": {
            kind: {
                value: {k: scores.get(k) for k in ("n", "roc_auc", "macro_f1", "ece")}
                for value, scores in groups.items()
            }
            # Not one of no value: a version saved before training left those out.
            for kind, groups in groupings_with_values(metrics.get("by_group") or {}).items()
        },
        "audits": {k: v for k, v in audits.items() if k not in AUDIT_ROW_LISTS} or None,
    }


def _summary_text(shown: dict[str, Any]) -> str:
    from models.evaluate import GROUP_ROWS_TO_SCORE, band_check_text, per_class_error_lines

    decision = shown["decision"] or {}
    # Rows of files without text count too (a trial read "trained on 2094" for 13,568).
    facts_only = int(shown.get("facts_only_rows") or 0)
    also = f" and {facts_only:,} without text (facts only, not scored)" if facts_only else ""
    every = shown.get("trained_dates") or []
    if facts_only and len(every) == 2 and every != shown.get("survey_dates"):
        # The facts-only rows' dates reach beyond the survey dates (the text rows'): a
        # promotion counts rows after every row's last date as new (trial 81).
        also = also[:-1] + f"; every row dated {'..'.join(every)})"
    lines = [
        f"{shown['version']}{' (champion)' if shown['champion'] else ''}, source "
        f"{shown['source']}, design {shown['design']}, threshold {_fmt(shown['threshold'])}",
        *selection_lines(shown.get("selection"), shown["design"]),
        f"trained on {shown['training_rows']} labelled rows{also}, survey dates "
        f"{'..'.join(shown['survey_dates'] or [])}",
        f"training's decision: {decision.get('reason', 'not recorded')}",
        # Changes made by hand since (a QA lead's trial could not tell a rolled-back
        # version from the others).
        *(
            f"then {e['event']} at {e['at'][:19].replace('T', ' ')} UTC"
            + (f" (champion back to {e['to']})" if e.get("to") else "")
            + (f" (over {e['over']})" if e.get("over") else "")
            for e in decision.get("events", [])
        ),
        *([shown["class_balance"]] if shown.get("class_balance") else []),
        *([shown["decision_origin"]] if shown.get("decision_origin") else []),
        _holdout_line(shown["holdout"]),
        *(
            per_class_error_lines(
                shown["holdout"], f"on the holdout at threshold {_fmt(shown['threshold'])}"
            )
            if not shown["holdout"].get("one_class")
            else []
        ),
        # Said once: training's decision gives it for versions trained since it was kept.
        *(
            [ahead]
            if (ahead := shown.get("baselines_ahead"))
            and ahead not in str(decision.get("reason", ""))
            else []
        ),
        *([said] if (said := band_check_text(shown.get("band_check"))) else []),
        f"cross-validated ({_folds_shown(shown['cross_validation'])}): "
        + _scores_text(shown["cross_validation"]),
        *(
            ["scores in [brackets]: 95% bootstrap intervals over the rows"]
            if shown["holdout"].get("intervals") or shown["cross_validation"].get("intervals")
            else []
        ),
    ]
    skill = shown["skill"]
    if skill:
        from models.evaluate import p_value_text

        lines.append(
            f"skill over chance: {'yes' if skill['skilled'] else 'NO'} (out-of-fold roc_auc "
            f"{_fmt(skill['roc_auc'])}, Mann-Whitney {p_value_text(skill['p_value'])}, macro_f1 "
            f"{_fmt(skill['macro_f1'])} vs {_fmt(skill['majority_macro_f1'])} majority)"
        )
    for kind, groups in shown["by_group"].items():
        lines.append(f"holdout by {kind}:")
        width = max((len(str(value)) for value in groups), default=0)
        lines += [
            f"  {value:<{width}}  n {int(scores['n'] or 0):>6,}  "
            + (
                f"roc_auc {_fmt(scores['roc_auc'])}  macro_f1 {_fmt(scores['macro_f1'])}  "
                f"ece {_fmt(scores['ece'])}"
                if (scores["n"] or 0) >= GROUP_ROWS_TO_SCORE
                else f"too few rows to score (under {GROUP_ROWS_TO_SCORE})"
            )
            for value, scores in groups.items()
        ]
    if shown["audits"]:
        from servicelens.ingest.audits import accounting_text

        empty: dict[str, list[Any]] = {key: [] for key in AUDIT_ROW_LISTS}
        lines.append(accounting_text({**shown["audits"], **empty}))
    return "\n".join(lines)


def _holdout_line(holdout: dict[str, Any]) -> str:
    """``models show``'s holdout line: its scores, or that its rows hold one root cause."""
    if holdout.get("one_class"):
        return f"holdout ({holdout['rows']} rows): {one_class_text(holdout['one_class'])}"
    return f"holdout ({holdout['rows']} rows): {_scores_text(holdout)}"


def _scores_text(scores: dict[str, Any]) -> str:
    """ "roc_auc 0.813 [0.712, 0.901] macro_f1 ... ece ...": each score with its 95%
    bootstrap interval where the version kept one (``intervals``)."""
    from models.evaluate import interval_text

    intervals = scores.get("intervals") or {}
    return " ".join(
        f"{k} {_fmt(scores[k])}{interval_text(intervals.get(k))}"
        for k in ("roc_auc", "macro_f1", "ece")
    )


def one_class_text(cause: str) -> str:
    """Why a holdout whose rows are all of root cause ``cause`` is no judgement."""
    return (
        f"every row is {cause}, so it has no roc_auc or macro_f1 and its scores judge "
        "nothing; audit responses of the latest survey dates of both root causes"
    )


def _folds_shown(cross_validation: dict[str, Any]) -> str:
    """``5 folds``, and why, when fewer ran than were asked for
    (:func:`models.train.fold_count`)."""
    return f"{cross_validation['folds']} folds" + "".join(
        f", {note}" for note in _folds_notes(cross_validation)
    )


def _fmt(value: float | None) -> str:
    return "  n/a" if value is None or math.isnan(value) else f"{value:.3f}"
