"""Model files: skops on disk, loaded only with explicitly trusted types, with metadata.

Reading a version's metadata, metrics or the champion alias needs only ``json``: skops and
scikit-learn are imported when a model is saved or loaded, so commands that list models or
draw the report start without them.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import threading
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from servicelens.storage import strict_json
from servicelens.storage.checksums import sha256_file

if TYPE_CHECKING:
    from models.pipeline import RootCauseModel

    # For type checking only: a models folder may be a local Path or an object-store
    # RemotePath with the same methods; at run time this module imports neither fsspec nor
    # servicelens's storage (only its standard-library strict JSON writer and checksum), so
    # models/ stays pure scikit-learn.
    from servicelens.storage.fs import DataPath
else:
    DataPath = Path

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
REFERENCE_FILE = "reference.json"
OUT_OF_FOLD_FILE = "out_of_fold.parquet"
#: The labels trained on without text (``response_id``): no out-of-fold probability is
#: made for them (models.train.TrainingResult.trained_facts_only).
FACTS_ONLY_FILE = "trained_facts_only.parquet"
#: The time split's test slice as the model fitted before the split's cut-off scored it
#: (``response_id``, ``survey_date``, ``root_cause``, ``p_policy_failure``).
HOLDOUT_FILE = "holdout.parquet"
#: Columns of :data:`HOLDOUT_FILE`.
HOLDOUT_COLUMNS = ("response_id", "survey_date", "root_cause", "p_policy_failure")
#: The rows of the training inputs the ingest layer quarantined (``QUARANTINE_SCHEMA`` of
#: ``transforms/schemas.py``: file, line, id, every reason, the redacted raw record), where
#: there were any: ``train --source X --input F`` keeps them with the version they left out.
QUARANTINE_FILE = "quarantine.parquet"
#: The promotion decision training took for a version (:func:`record_decision`).
DECISION_FILE = "decision.json"
CHAMPION_FILE = "champion.json"
#: How a version's model file is laid out, recorded in its metadata. 2: vectorisers save
#: their vocabulary as arrays (models/native_text.py), not one zip member per term; 3: the
#: terms as one UTF-8 buffer (2's fixed-width terms grew with the longest term).
#: Every format up to this one loads (a newer one only loads faster); a newer format is
#: refused with a message, not loaded into objects this code cannot fill.
MODEL_FORMAT = 3
#: A challenger replaces the champion unless its holdout macro-F1 is lower by more than this
#: (and, where both models' per-row predictions are at hand, lower beyond the noise of the
#: rows compared: promotion_decision's ``noise``).
PROMOTION_TOLERANCE = 0.01
#: The confidence of promotion_decision's ``noise`` interval, in percent (as
#: ``models.evaluate.INTERVAL_CONFIDENCE``, not imported: this module reads metadata with
#: ``json`` alone).
INTERVAL_PERCENT = 95
#: With no holdout rows to compare on, a challenger trained on fewer than this share of the
#: champion's labelled rows keeps the champion: an out-of-fold estimate on the challenger's
#: own few rows is no test of a model trained on many more (a trial's retrain on a 220-row
#: --input replaced a champion trained on 2,091 CFPB complaints).
FEWER_ROWS_SHARE = 0.5

#: The only non-default types a model file may contain. Anything else is refused on load.
TRUSTED_TYPES: tuple[str, ...] = (
    "collections.defaultdict",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    # our own stateless feature-cross function (models/pipeline.py), referenced by name
    "models.pipeline.feature_crosses",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    # the same vectorisers with a native transform (models/native_text.py)
    "models.native_text.NativeTfidfVectorizer",
    "models.native_text.NativeCountVectorizer",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "builtins.slice",
    # the text vectors every design shares, and the NB-SVM design's weights (models/features.py)
    "models.features.TextVectors",
    "models.features.NaiveBayesWeights",
    # text log-odds + boosted facts, and the text + facts blend (models/stacked.py)
    "models.stacked.TextThenFacts",
    "models.stacked.TextFactsBlend",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    # a partial of check_array, which the fitted booster keeps for validating input
    "functools.partial",
    "sklearn.utils.validation.check_array",
)


class ModelFileError(RuntimeError):
    """A model file that is missing, tampered with, or holds types we do not trust."""


def library_versions() -> dict[str, str]:
    names = ("scikit-learn", "polars", "numpy", "skops", "great-expectations", "prefect")
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_model(
    model: RootCauseModel,
    models_dir: DataPath,
    version: str,
    meta: dict[str, Any],
    metrics: dict[str, Any],
    reference: dict[str, Any] | None = None,
    out_of_fold: pl.DataFrame | None = None,
    holdout: pl.DataFrame | None = None,
    quarantine: pl.DataFrame | None = None,
    trained_facts_only: pl.DataFrame | None = None,
) -> DataPath:
    """Write ``models/<version>/``: the model, metadata with the model's checksum, metrics,
    and optionally the drift reference, the out-of-fold probabilities of the labels, the
    time split's test slice with the probabilities it was scored with before the refit
    (``holdout``: at least :data:`HOLDOUT_COLUMNS`, of which only those are kept) and the
    input rows quarantined instead of trained on (:data:`QUARANTINE_FILE`, when any) and the
    labels trained on without text (:data:`FACTS_ONLY_FILE`, when any).

    Each file is serialised in memory and written in one go (one PUT on an object store)."""
    import skops.io as sio

    target = models_dir / version
    target.mkdir(parents=True, exist_ok=True)
    model_path = target / MODEL_FILE
    model_path.write_bytes(sio.dumps(model))
    if reference is not None:
        (target / REFERENCE_FILE).write_text(json.dumps(reference, default=str))
    if out_of_fold is not None:
        _write_parquet(target / OUT_OF_FOLD_FILE, out_of_fold)
    if holdout is not None:
        _write_parquet(target / HOLDOUT_FILE, holdout.select(HOLDOUT_COLUMNS))
    if quarantine is not None and quarantine.height:
        _write_parquet(target / QUARANTINE_FILE, quarantine)
    if trained_facts_only is not None and trained_facts_only.height:
        _write_parquet(target / FACTS_ONLY_FILE, trained_facts_only.select("response_id"))
    full_meta = {
        **meta,
        "version": version,
        "saved_at": datetime.now(UTC).isoformat(),
        "model_sha256": sha256_file(model_path),
        "model_format": MODEL_FORMAT,
        "libraries": library_versions(),
    }
    (target / METADATA_FILE).write_text(json.dumps(full_meta, indent=2, default=str))
    # Strict JSON: an undefined metric (NaN) is null; read_metrics reads it back as NaN.
    (target / METRICS_FILE).write_text(strict_json.dumps(metrics))
    return target


def load_model(models_dir: DataPath, version: str) -> RootCauseModel:
    """Load a saved model after checking its checksum and that every type in it is trusted."""
    import skops.io as sio
    from sklearn.pipeline import Pipeline
    from skops.io.exceptions import UntrustedTypesFoundException

    from models.native_text import with_native_vectorizers
    from models.stacked import TextFactsBlend, TextThenFacts

    target = models_dir / version
    model_path = target / MODEL_FILE
    if not model_path.exists():
        raise ModelFileError(f"{model_path}: no model file; train one with `servicelens train`")
    meta_path = target / METADATA_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise ModelFileError(
            f"{meta_path}: no metadata to check {model_path} against ({error}); a model without "
            "its checksum is not loaded. Retrain, or roll back to another version"
        ) from error
    saved_format = meta.get("model_format", 1)
    if not isinstance(saved_format, int) or saved_format > MODEL_FORMAT:
        # A newer layout would load into objects this code cannot fill (a vocabulary saved
        # as arrays reads as no vocabulary here), failing only when the model scores.
        raise ModelFileError(
            f"{model_path}: saved in model format {saved_format} by a newer servicelens; this "
            f"version reads formats up to {MODEL_FORMAT}. Upgrade servicelens, or roll back to "
            "a model version this one saved (`servicelens models`)"
        )
    # Read once: the bytes checked are the bytes loaded (and it works on object stores).
    payload = model_path.read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != meta.get("model_sha256"):
        raise ModelFileError(
            f"{model_path}: checksum {actual[:12]} does not match its metadata "
            f"({str(meta.get('model_sha256'))[:12]}); the file was changed after it was saved. "
            "Retrain, or roll back to another version"
        )
    # skops audits every type against the trusted list before it builds anything, so one
    # pass both checks and loads (listing the untrusted types first parsed the file twice).
    try:
        model = sio.loads(payload, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        untrusted = [t for t in sio.get_untrusted_types(data=payload) if t not in TRUSTED_TYPES]
        raise ModelFileError(
            f"{model_path}: refusing to load untrusted types {untrusted}"
        ) from None
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ModelFileError(
            f"{model_path}: not a skops model file ({error}); pickles and other formats are "
            "never loaded. Retrain, or roll back to another version"
        ) from error
    if not isinstance(model, Pipeline | TextThenFacts | TextFactsBlend):
        raise ModelFileError(
            f"{model_path}: holds a {type(model).__name__}, not a Pipeline, TextThenFacts or "
            "TextFactsBlend"
        )
    # A model saved with scikit-learn's own vectorisers scores with the native transform
    # too: the same features (tests/model/test_native_text.py), several times faster.
    with_native_vectorizers(model)
    return model


#: Models loaded in this process, by (models folder, version): at most this many are kept.
MODELS_KEPT = 4
_LOADED: dict[tuple[str, str], RootCauseModel] = {}
_MODEL_LOADING = threading.Lock()


def cached_model(
    models_dir: DataPath,
    version: str,
    prepare: Callable[[RootCauseModel], None] | None = None,
) -> RootCauseModel:
    """:func:`load_model`, once per process for each folder and version: a backfill scores
    every date with one champion, and its load (checksum, trusted-type audit) costs 0.06 s
    at the bench's vocabulary. A version's files never change, so the cached model is the
    one on disk. A load already running on another thread
    (:func:`load_champion_in_background`) is waited for, not repeated, and so is its
    ``prepare`` (called with the model, holding the same lock, so a caller that scores
    never builds the same tables beside it). Raises what :func:`load_model` raises; a
    failed load is not cached."""
    key = (str(models_dir), version)
    with _MODEL_LOADING:
        model = _LOADED.get(key)
        if model is None:
            model = load_model(models_dir, version)
            _LOADED[key] = model
            while len(_LOADED) > MODELS_KEPT:
                del _LOADED[next(iter(_LOADED))]
        if prepare is not None:
            prepare(model)
        return model


def load_champion_in_background(models_dir: DataPath) -> None:
    """Start loading the champion (if any) into :func:`cached_model`'s cache on a thread,
    and building the tables its first scoring would build
    (:func:`~models.explain.prepare_for_scoring`), for a caller that will score soon and
    reads the day's files until then. Returns at once. A failure here is dropped: the
    scoring step's own :func:`cached_model` call meets it again and raises it with its
    message."""

    def load() -> None:
        from models.explain import prepare_for_scoring

        try:
            version = champion_version(models_dir)
            if version is not None:
                cached_model(models_dir, version, prepare_for_scoring)
        except Exception:  # raised again where the model is used
            return

    threading.Thread(target=load, name="champion-model", daemon=True).start()


def champion_version(models_dir: DataPath) -> str | None:
    """The version the ``champion`` alias points at, or None before any model is promoted."""
    alias = models_dir / CHAMPION_FILE
    if not alias.exists():
        return None
    return str(json.loads(alias.read_text())["version"])


def set_champion(
    models_dir: DataPath, version: str, reason: str, history: list[str] | None = None
) -> None:
    """Point the champion alias at ``version`` (atomically: write then rename).

    The alias keeps the earlier champions, oldest first (``history``; ``previous`` is its
    last, for readers of older aliases): by default the current champion is added to them.
    :func:`rollback_champion` passes the history it leaves instead. Promoting the champion
    again changes nothing (its history would name it as the one it replaced, and the next
    rollback would step to itself). Raises :class:`ModelFileError` when ``version`` has no
    saved model.
    """
    if not (models_dir / version / MODEL_FILE).exists():
        raise ModelFileError(f"cannot promote {version}: {models_dir / version} has no model")
    alias = models_dir / CHAMPION_FILE
    if history is None:
        current = champion_version(models_dir)
        if current == version:
            return  # already the champion: its history stays as it is
        history = [*champion_history(models_dir), *([current] if current else [])]
    text = json.dumps(
        {
            "version": version,
            "previous": history[-1] if history else None,
            "history": history,
            "reason": reason,
            "promoted_at": datetime.now(UTC).isoformat(),
        },
        indent=2,
    )
    if isinstance(alias, Path):
        # Local: write then rename, so a reader sees the old alias or the new one.
        tmp = alias.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(alias)
    else:
        # Object store: one PUT replaces the object atomically already.
        alias.write_text(text)


def champion_history(models_dir: DataPath) -> list[str]:
    """The earlier champions, oldest first, the one the current champion replaced last
    (an alias written before the history was kept gives its ``previous`` alone)."""
    alias = models_dir / CHAMPION_FILE
    if not alias.exists():
        return []
    recorded = json.loads(alias.read_text())
    history = recorded.get("history")
    if history is None:
        previous = recorded.get("previous")
        history = [previous] if previous else []
    return [str(v) for v in history]


def read_metadata(models_dir: DataPath, version: str) -> dict[str, Any]:
    """The ``metadata.json`` of a version (decision threshold, feature spec, provenance)."""
    path = models_dir / version / METADATA_FILE
    if not path.exists():
        raise ModelFileError(f"{path}: no such model version; see `servicelens models list`")
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def trained_through(meta: dict[str, Any]) -> date | None:
    """The last survey date of every row a version trained on, facts-only rows included
    (``trained_dates`` in its metadata): rows dated after it are new to the version.

    A user trial with the CFPB complaints found a champion dated by its rows with text
    alone (``survey_dates``, to 2026-03-11) judged on 132 text-less complaints of later
    dates it had trained on as facts-only rows. A version saved before ``trained_dates``
    was recorded that trained on facts-only rows has no record of their dates: ``date.max``,
    since any row may be one it trained on. None: no dates recorded at all."""
    dates = meta.get("trained_dates") or []
    if len(dates) == 2:
        return date.fromisoformat(str(dates[1]))
    if int(meta.get("facts_only_rows") or 0) > 0:
        return date.max
    dates = meta.get("survey_dates") or []
    return date.fromisoformat(str(dates[1])) if len(dates) == 2 else None


def read_metrics(models_dir: DataPath, version: str) -> dict[str, Any]:
    """The ``metrics.json`` of a version (holdout, cross-validated, baselines; empty if the
    version has none), an undefined number (``null``, or a bare ``NaN`` as versions before
    strict JSON wrote it) as NaN (metrics hold no null of their own)."""
    path = models_dir / version / METRICS_FILE
    if not path.exists():
        return {}
    result: dict[str, Any] = strict_json.undefined_as_nan(json.loads(path.read_text()))
    return result


def read_reference(models_dir: DataPath, version: str) -> dict[str, Any] | None:
    """The drift reference profile recorded when the version was trained, if any."""
    path = models_dir / version / REFERENCE_FILE
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def read_out_of_fold(models_dir: DataPath, version: str) -> pl.DataFrame | None:
    """Out-of-fold probabilities of every label the version was trained on, if recorded."""
    return _read_parquet(models_dir / version / OUT_OF_FOLD_FILE)


def read_trained_facts_only(models_dir: DataPath, version: str) -> pl.Series | None:
    """The ``response_id`` of each label the version was trained on without text (no
    out-of-fold probability exists for them); None when it had none or predates the file."""
    frame = _read_parquet(models_dir / version / FACTS_ONLY_FILE)
    return None if frame is None else frame.get_column("response_id")


def read_holdout(models_dir: DataPath, version: str) -> pl.DataFrame | None:
    """The version's time-split test slice (:data:`HOLDOUT_COLUMNS`), scored by the model
    fitted before the cut-off; None for a version saved without it (before 2026-12)."""
    return _read_parquet(models_dir / version / HOLDOUT_FILE)


def _write_parquet(path: DataPath, frame: pl.DataFrame) -> None:
    """``frame`` as Parquet, serialised in memory and written in one go (one PUT)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    path.write_bytes(buffer.getvalue())


def _read_parquet(path: DataPath) -> pl.DataFrame | None:
    """The Parquet file at ``path``, or None when there is none."""
    return pl.read_parquet(io.BytesIO(path.read_bytes())) if path.exists() else None


def promotion_decision(
    challenger: str,
    challenger_score: float,
    champion: str | None,
    champion_score: float | None,
    metric: str = "macro_f1",
    tolerance: float = PROMOTION_TOLERANCE,
    compared_rows: int | None = None,
    same_data: bool = False,
    no_skill: str | None = None,
    cross_validated: tuple[tuple[float, int], tuple[float, int]] | None = None,
    cross_validated_same_rows: bool = False,
    same_build: bool = False,
    training_rows: tuple[int, int] | None = None,
    before_refit: bool = False,
    one_class_holdout: str | None = None,
    promote: str | None = None,
    noise: tuple[float, float] | None = None,
    corrected_labels: int = 0,
) -> tuple[bool, str]:
    """Whether a challenger replaces the champion, with the reason in words.

    ``noise``: the :data:`models.evaluate.INTERVAL_CONFIDENCE` paired bootstrap interval of
    the challenger's score minus the champion's on the rows compared
    (``models.evaluate.macro_f1_difference_interval``), where per-row predictions of both
    were at hand. With it, the challenger is worse only when it is worse beyond
    ``tolerance`` *and* beyond that noise (the whole interval below 0): on a few hundred
    rows 0.01 macro-F1 is 2 or 3 rows, and a QA lead's trial kept a champion that had
    learned 7 verdicts QA had since overturned, 0.014 ahead on 284 rows, where the
    interval ran from about -0.06 to +0.03. ``corrected_labels``: how many of the
    champion's training labels the audits have since changed
    (``transforms.labelled.labels_since_corrected``), said with the decision. Both scores
    are taken against the labels as they are now.

    ``promote``: the command that promotes the challenger by hand, named where a reason
    keeps the champion (default: the sample's ``servicelens models promote CHALLENGER``; a
    configured source's needs its ``--source``).

    Both scores must come from the same holdout rows, ones neither model trained on
    (``compared_rows`` of them). ``before_refit``: the scores are both versions' time-split
    predictions on rows in both test slices, each made by the model fitted before its split's
    cut-off and scored against the labels as they are now (the champion's final model was
    refitted on those rows, so they are new to neither final model; a data scientist's trial
    on the CFPB complaints saw a challenger worse on the same 426 time-split rows, macro-F1
    0.637 against 0.667, promoted on an out-of-fold estimate flattered by later rows). The
    challenger wins unless it is worse than the champion by
    more than ``tolerance``. With a champion but no score for it (too few rows it had not
    seen), the challenger wins: it was trained on the labels as they are now, and on the
    current code. ``same_data``: both were trained on the same labelled rows (equal data
    fingerprints), which the reason says instead of claiming newer data. ``no_skill``: why
    the challenger shows no skill over chance (``models.evaluate.no_skill_reason``); such a
    challenger is never promoted, with or without a champion, since a constant model would
    otherwise win whenever there is nothing to compare on. ``cross_validated``: the
    challenger's and the champion's cross-validated ``metric`` with their labelled rows,
    ``((score, rows), (score, rows))``, measured out of fold: with
    ``cross_validated_same_rows``, on the same responses against the labels as they are now
    (``models.evaluate.scored_on_current_labels``), else each on its own audits (a
    champion saved without its out-of-fold predictions). With no holdout to compare on, a
    challenger worse than the champion by them beyond ``tolerance`` keeps the champion (a
    retrain on a truncated or half-synced audits folder). ``same_build``: besides the same
    labelled rows, the same committed code, scikit-learn version and declared features
    built both: the challenger is the champion built again, and the champion is kept (a QA
    lead's trial saw each unchanged retrain replace the champion with its twin, so the
    registry's champion history no longer said when anything changed). ``training_rows``:
    the challenger's and the champion's labelled training rows; with no holdout to compare
    on, a challenger trained on fewer than :data:`FEWER_ROWS_SHARE` of the champion's keeps
    the champion (a hand promotion remains). ``one_class_holdout``: the root cause every
    holdout row to compare on has, when they hold one (``models.evaluate.one_label``):
    they have no macro-F1, so they judge neither model and ``champion_score`` is None; the
    challenger is then judged as with no holdout (out of fold, on the same rows and current
    labels where the champion kept its out-of-fold predictions), never on the undefined
    holdout scores, and the reason says the holdout held one root cause.

    Without a champion the skill over chance (``no_skill``) alone decides, as always; a
    learned baseline that beats the challenger is said with the decision by its caller
    (``flows.training.register_and_promote``), not judged on.
    """
    promoted, reason = _decided(
        challenger, challenger_score, champion, champion_score, metric, tolerance,
        compared_rows, same_data, no_skill, cross_validated, cross_validated_same_rows,
        same_build, training_rows, before_refit, one_class_holdout, promote, noise,
    )  # fmt: skip
    if champion is not None and corrected_labels:
        labels = "label" if corrected_labels == 1 else "labels"
        reason = (
            f"{reason}; the champion was trained on {corrected_labels:,} {labels} since corrected"
        )
    return promoted, reason


def _beyond_noise(noise: tuple[float, float] | None) -> str:
    """ "; paired bootstrap 95% interval of the difference -0.060 to +0.032" (empty
    without one)."""
    if noise is None:
        return ""
    return (
        f"; paired bootstrap {INTERVAL_PERCENT}% interval of the difference "
        f"{noise[0]:+.3f} to {noise[1]:+.3f}"
    )


def _worse(ours: float, theirs: float, tolerance: float, noise: tuple[float, float] | None) -> bool:
    """Whether ``ours`` is worse than ``theirs`` beyond ``tolerance``, and beyond the noise
    when its interval is known (all of the interval below 0)."""
    return ours + tolerance < theirs and (noise is None or noise[1] < 0)


def _decided(
    challenger: str,
    challenger_score: float,
    champion: str | None,
    champion_score: float | None,
    metric: str,
    tolerance: float,
    compared_rows: int | None,
    same_data: bool,
    no_skill: str | None,
    cross_validated: tuple[tuple[float, int], tuple[float, int]] | None,
    cross_validated_same_rows: bool,
    same_build: bool,
    training_rows: tuple[int, int] | None,
    before_refit: bool,
    one_class_holdout: str | None,
    promote: str | None,
    noise: tuple[float, float] | None,
) -> tuple[bool, str]:
    """:func:`promotion_decision` before the champion's corrected labels are said."""
    if no_skill is not None:
        if champion is None:
            return False, (
                f"not promoted: {no_skill}. There is no champion, so negatives stay unscored"
            )
        return False, f"kept champion {champion}: challenger {challenger}: {no_skill}"
    if champion is None:
        if one_class_holdout is not None:
            return True, (
                f"promoted: no champion yet. Its holdout holds only {one_class_holdout} rows, "
                "so its holdout scores judge nothing; it shows skill over chance out of fold"
            )
        return True, "promoted: no champion yet"
    if same_data and same_build:
        return False, (
            f"kept champion {champion}: challenger {challenger} was built from the same "
            "labelled rows by the same code, scikit-learn and features (no audit and no "
            "code changed since), so it is the champion built again"
        )
    if champion_score is None:
        if same_data:
            return True, (
                f"promoted: trained on the same labelled rows as champion {champion} (no "
                "audit changed since), so no holdout rows are new to compare on; the "
                "challenger is the current code's build of them"
            )
        newer = f"only {compared_rows} holdout rows are" if compared_rows else "no holdout row is"
        # What leaves no holdout to compare on: too few new rows, or rows of one label.
        few_new = f"{newer} newer than the champion's training data to compare them on"
        too_few = f"{newer} newer than its training data, too few to compare on"
        too_few_champion = (
            f"{newer} newer than champion {champion}'s training data, too few to compare on"
        )
        if one_class_holdout is not None:
            few_new = too_few = too_few_champion = (
                f"the holdout rows to compare on hold only {one_class_holdout}, so they judge "
                "no model"
            )
        if training_rows is not None and training_rows[0] < FEWER_ROWS_SHARE * training_rows[1]:
            ours_rows, their_rows = training_rows
            return False, (
                f"kept champion {champion}: challenger {challenger} was trained on "
                f"{ours_rows:,} labelled rows against the champion's {their_rows:,}, and "
                f"{few_new}; an "
                "estimate on the challenger's own few rows is no test of the champion. To use "
                f"it all the same: `{promote or f'servicelens models promote {challenger}'}`"
            )
        if cross_validated is not None:
            (ours, our_rows), (theirs, their_rows) = cross_validated
            if cross_validated_same_rows:
                compared = (
                    f"out-of-fold {metric} {ours:.3f} vs champion {champion} {theirs:.3f} on "
                    f"the same {our_rows:,} labelled rows, scored against the labels as they "
                    f"are now (tolerance {tolerance}{_beyond_noise(noise)})"
                )
                if _worse(ours, theirs, tolerance, noise):
                    return False, (
                        f"kept champion {champion}: {too_few}, and challenger "
                        f"{challenger}'s {compared}"
                    )
                return True, (f"promoted: {too_few_champion}; {compared}")
            if ours + tolerance < theirs:
                return False, (
                    f"kept champion {champion}: {too_few}, and challenger {challenger}'s "
                    "cross-validated "
                    f"{metric} {ours:.3f} on its {our_rows:,} labelled rows is worse than the "
                    f"champion's {theirs:.3f} on {their_rows:,} beyond tolerance {tolerance} "
                    "(fewer or other audits than the champion had?)"
                )
        return True, (
            f"promoted: {too_few_champion}; the challenger was trained on the labels as they "
            "are now"
        )
    on = (
        f" on the same {compared_rows:,} rows of both time splits' test slices, each scored "
        "before its refit and against the labels as they are now"
        if before_refit
        else f" on {compared_rows} rows neither trained on"
        if compared_rows is not None
        else ""
    )
    if not _worse(challenger_score, champion_score, tolerance, noise):
        return True, (
            f"promoted: holdout {metric} {challenger_score:.3f} vs champion {champion} "
            f"{champion_score:.3f}{on} (tolerance {tolerance}{_beyond_noise(noise)})"
        )
    return False, (
        f"kept champion {champion}: challenger {challenger} holdout {metric} "
        f"{challenger_score:.3f} is worse than {champion_score:.3f}{on}, beyond tolerance "
        f"{tolerance}{_beyond_noise(noise)}"
    )


def record_decision(models_dir: DataPath, version: str, promoted: bool, reason: str) -> None:
    """Keep the promotion decision training took for ``version`` beside it, for
    ``models list`` and for a later hand promotion to warn about."""
    (models_dir / version / DECISION_FILE).write_text(
        json.dumps(
            {"promoted": promoted, "reason": reason, "decided_at": datetime.now(UTC).isoformat()},
            indent=2,
        )
    )


def record_champion_change(
    models_dir: DataPath, version: str, event: str, **details: str | None
) -> None:
    """Add ``event`` ("rolled back", "promoted by hand"), with its time and ``details``, to
    the ``events`` of ``version``'s decision file (created when training kept none): a
    QA lead's trial saw three versions that were no longer champions all read "promoted"
    in ``models list``, and nothing said which had been rolled back, or when."""
    decision = read_decision(models_dir, version) or {}
    at = datetime.now(UTC).isoformat()
    events = [*decision.get("events", []), {"event": event, "at": at, **details}]
    (models_dir / version / DECISION_FILE).write_text(
        json.dumps({**decision, "events": events}, indent=2)
    )


#: ``models list`` names a version's changes by hand up to this many, else the latest ones.
EVENTS_LISTED = 3


def decision_word(decision: dict[str, Any] | None) -> str | None:
    """What ``models list`` says of a version's decision: training's (``promoted`` or
    ``kept out``), then each change made by hand since, in order (``kept out -> promoted by
    hand -> rolled back``); past :data:`EVENTS_LISTED` changes, how many came before the
    latest ones. None for a version saved before decisions were kept.

    The latest change alone read "kept out, rolled back" for a version refused, promoted by
    hand, then rolled back, and "promoted, promoted by hand" for one rolled back and then
    promoted again (found by a user trial)."""
    if decision is None:
        return None
    changes = [str(e["event"]) for e in decision.get("events") or []]
    if len(changes) > EVENTS_LISTED:
        latest = changes[-(EVENTS_LISTED - 1) :]
        changes = [f"({len(changes) - len(latest)} earlier changes)", *latest]
    trained = (
        ("promoted" if decision.get("promoted") else "kept out") if "promoted" in decision else ""
    )
    return " -> ".join(w for w in (trained, *changes) if w) or None


def read_decision(models_dir: DataPath, version: str) -> dict[str, Any] | None:
    """The decision :func:`record_decision` kept for ``version`` (None for versions saved
    before decisions were kept, or never decided on)."""
    path = models_dir / version / DECISION_FILE
    if not path.exists():
        return None
    decision: dict[str, Any] = json.loads(path.read_text())
    return decision


def rollback_champion(models_dir: DataPath, command: str = "servicelens models") -> str:
    """Point the champion alias back at the version it replaced; returns that version.

    Each rollback steps one champion further back (the one rolled back from is dropped, not
    pushed: a second rollback never brings it back). Raises :class:`ModelFileError` with no
    champion, or none before it; ``command`` is the registry's command in its advice (a
    source's registry: ``servicelens models --source NAME``).
    """
    alias = models_dir / CHAMPION_FILE
    if not alias.exists():
        raise ModelFileError(f"{alias}: no champion to roll back from")
    history = champion_history(models_dir)
    if not history:
        raise ModelFileError(
            f"{alias}: the champion has no previous version; promote one explicitly with "
            f"`{command} promote VERSION` (`{command} list` lists them)"
        )
    current = champion_version(models_dir)
    if not (models_dir / history[-1] / MODEL_FILE).exists():
        # Deleted (`models delete`, or by hand): said as such, not as a version to promote.
        kept = [v for v in history[:-1] if (models_dir / v / MODEL_FILE).exists()]
        earlier = (
            f"; of the earlier champions, {', '.join(kept)} are still saved"
            if len(kept) > 1
            else f"; of the earlier champions, {kept[0]} is still saved"
            if kept
            else ""
        )
        raise ModelFileError(
            f"{alias}: the champion {current}'s previous version {history[-1]} was deleted "
            f"({models_dir / history[-1]} holds no model), so there is nothing to roll back "
            f"to{earlier}; nothing changed. Promote one explicitly with `{command} promote "
            f"VERSION` (`{command} list` lists them)"
        )
    set_champion(models_dir, history[-1], f"rollback from {current}", history[:-1])
    if current is not None:
        record_champion_change(models_dir, current, "rolled back", to=history[-1])
    return history[-1]


def version_files(models_dir: DataPath, version: str) -> list[DataPath]:
    """The files of a saved ``version`` of the registry ``models_dir`` (its folder's
    ``model.skops``, metadata, metrics, out-of-fold and holdout predictions...), sorted.

    Raises :class:`ModelFileError` for a name that is not one of the registry's versions: a
    folder holding neither :data:`METADATA_FILE` nor :data:`MODEL_FILE` (the sample's
    registry holds the sources' registries under ``sources/``, which no version name may
    reach), or a name with a path separator or ``..``."""
    target = models_dir / version
    if (
        not version
        or version in (".", "..")
        or any(sep in version for sep in ("/", "\\"))
        or not ((target / METADATA_FILE).exists() or (target / MODEL_FILE).exists())
    ):
        raise ModelFileError(f"{target}: no such model version; see `servicelens models list`")
    return sorted(target.iterdir(), key=str)


def delete_version(
    models_dir: DataPath,
    version: str,
    command: str = "servicelens models",
    train: str = "servicelens train",
) -> list[DataPath]:
    """Delete the folder of a saved ``version`` of the registry ``models_dir``, every file in
    it, through the storage layer the registry writes with (a local folder, or an object
    store's prefix: ``servicelens.storage.fs.remove_tree``); returns the files deleted.

    What an erasure leaves to do (README "Erasing one person's data"): a version's
    out-of-fold and holdout predictions name the responses it trained on, and its
    vocabulary their words. The champion alias's history keeps naming a deleted version, as
    the record of what was champion when: :func:`rollback_champion` then says it was deleted.

    Raises :class:`ModelFileError` for no such version (:func:`version_files`), for the
    champion (``command``, the registry's command, and ``train``, the training command, are
    named in what to do: promote another version or retrain first), and when the folder is
    still there after deleting (the store refused)."""
    from servicelens.storage.fs import remove_tree

    files = version_files(models_dir, version)
    if champion_version(models_dir) == version:
        raise ModelFileError(
            f"{models_dir / version}: {version} is the champion, which scores every date run "
            f"from now on; it is not deleted. Promote another version first (`{command} "
            f"promote VERSION`, `{command} list` lists them), or retrain (`{train}`) so a new "
            f"one is promoted, then delete {version}"
        )
    remove_tree(models_dir / version)
    if (models_dir / version).exists():
        raise ModelFileError(
            f"{models_dir / version}: still there after deleting it; check that you may delete "
            "in that folder, then run the same delete again"
        )
    return files


def source_name(meta: dict[str, Any]) -> str:
    """The source a version's metadata names: ``sample`` for the generated sample's models,
    which versions saved before 2026-12-03 call ``surveys`` (a QA lead's trial saw `models
    list` say ``surveys`` where every other command says ``sample``)."""
    source = str(meta.get("source") or "sample")
    return "sample" if source == "surveys" else source


#: The holdout scores that judge nothing when every holdout row has one root cause.
HOLDOUT_JUDGEMENTS = ("macro_f1", "roc_auc", "ece")


def holdout_one_class(metrics: dict[str, Any]) -> str | None:
    """The root cause every row of a version's holdout (time split's test slice) has, when
    they hold one, from its ``metrics.json``: ``split.test_one_class``, or for versions
    saved before it was recorded, the holdout's confusion matrix (``[[tn, fp], [fn,
    tp]]``, policy_failure positive). None when both are there, or it is not known."""
    split = metrics.get("split") or {}
    if "test_one_class" in split:
        # read_metrics gives a null as NaN (metrics hold no null of their own).
        cause = split["test_one_class"]
        return cause if isinstance(cause, str) else None
    confusion = (metrics.get("model") or {}).get("confusion")
    if not confusion:
        return None
    (tn, fp), (fn, tp) = confusion
    if tn + fp and not fn + tp:
        return "perceived"
    if fn + tp and not tn + fp:
        return "policy_failure"
    return None


def list_versions(models_dir: DataPath) -> list[dict[str, Any]]:
    """Every saved version, oldest first: ``version``, ``champion`` (bool), ``saved_at``,
    ``source``, ``holdout_rows`` (the rows of its holdout, the time split's test slice:
    each version's own, so versions are scored on different rows), the holdout's
    ``accuracy``, ``macro_f1``, ``roc_auc`` and ``ece`` (None where not measured, and where
    every holdout row has one root cause, which ``holdout_one_class`` names: those rows
    judge nothing), and ``decision``: training's promotion decision, ``promoted`` or ``kept
    out``, and each change by hand since (:func:`decision_word`); None for a version saved
    before decisions were kept (:func:`record_decision`)."""
    rows: list[dict[str, Any]] = []
    if not models_dir.exists():
        return rows
    champion = champion_version(models_dir)
    versions = [p for p in models_dir.iterdir() if (p / METADATA_FILE).exists()]
    for path in sorted(versions, key=str):
        meta = json.loads((path / METADATA_FILE).read_text())
        metrics = read_metrics(models_dir, path.name)
        one_class = holdout_one_class(metrics)
        holdout = {
            k: None if one_class and k in HOLDOUT_JUDGEMENTS else metrics.get("model", {}).get(k)
            for k in ("accuracy", *HOLDOUT_JUDGEMENTS)
        }
        rows.append(
            {
                "version": path.name,
                "champion": path.name == champion,
                "saved_at": meta.get("saved_at"),
                "source": source_name(meta),
                "holdout_rows": (metrics.get("split") or {}).get("test_rows"),
                **holdout,
                "holdout_one_class": one_class,
                "decision": decision_word(read_decision(models_dir, path.name)),
            }
        )
    return rows
