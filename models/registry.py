"""Model files: skops on disk, loaded only with explicitly trusted types, with metadata."""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import skops.io as sio
from sklearn.pipeline import Pipeline

if TYPE_CHECKING:
    # For type checking only: a models folder may be a local Path or an object-store
    # RemotePath with the same methods; at run time this module imports neither fsspec nor
    # servicelens, so models/ stays pure scikit-learn.
    from servicelens.fs import DataPath
else:
    DataPath = Path

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
CHAMPION_FILE = "champion.json"

#: The only non-default types a model file may contain. Anything else is refused on load.
TRUSTED_TYPES: tuple[str, ...] = (
    "collections.defaultdict",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "builtins.slice",
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


def sha256_file(path: DataPath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(
    model: Pipeline,
    models_dir: DataPath,
    version: str,
    meta: dict[str, Any],
    metrics: dict[str, Any],
) -> DataPath:
    """Write ``models/<version>/`` (model, metadata with the model's checksum, metrics)."""
    target = models_dir / version
    target.mkdir(parents=True, exist_ok=True)
    model_path = target / MODEL_FILE
    # Serialised in memory and written in one go (one PUT on an object store).
    model_path.write_bytes(sio.dumps(model))
    full_meta = {
        **meta,
        "version": version,
        "saved_at": datetime.now(UTC).isoformat(),
        "model_sha256": sha256_file(model_path),
        "libraries": library_versions(),
    }
    (target / METADATA_FILE).write_text(json.dumps(full_meta, indent=2, default=str))
    (target / METRICS_FILE).write_text(json.dumps(metrics, indent=2, default=str))
    return target


def load_model(models_dir: DataPath, version: str) -> Pipeline:
    """Load a saved model after checking its checksum and that every type in it is trusted."""
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
    # Read once: the bytes checked are the bytes loaded (and it works on object stores).
    payload = model_path.read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != meta.get("model_sha256"):
        raise ModelFileError(
            f"{model_path}: checksum {actual[:12]} does not match its metadata "
            f"({str(meta.get('model_sha256'))[:12]}); the file was changed after it was saved. "
            "Retrain, or roll back to another version"
        )
    try:
        found = sio.get_untrusted_types(data=payload)
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ModelFileError(
            f"{model_path}: not a skops model file ({error}); pickles and other formats are "
            "never loaded. Retrain, or roll back to another version"
        ) from error
    untrusted = [t for t in found if t not in TRUSTED_TYPES]
    if untrusted:
        raise ModelFileError(f"{model_path}: refusing to load untrusted types {untrusted}")
    model = sio.loads(payload, trusted=list(TRUSTED_TYPES))
    if not isinstance(model, Pipeline):
        raise ModelFileError(f"{model_path}: holds a {type(model).__name__}, not a Pipeline")
    return model


def champion_version(models_dir: DataPath) -> str | None:
    """The version the ``champion`` alias points at, or None before any model is promoted."""
    alias = models_dir / CHAMPION_FILE
    if not alias.exists():
        return None
    return str(json.loads(alias.read_text())["version"])


def set_champion(models_dir: DataPath, version: str, reason: str) -> None:
    """Point the champion alias at ``version`` (atomically: write then rename)."""
    if not (models_dir / version / MODEL_FILE).exists():
        raise ModelFileError(f"cannot promote {version}: {models_dir / version} has no model")
    alias = models_dir / CHAMPION_FILE
    previous = champion_version(models_dir)
    text = json.dumps(
        {
            "version": version,
            "previous": previous,
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


def list_versions(models_dir: DataPath) -> list[dict[str, Any]]:
    """Every saved version with its headline metric, oldest first."""
    rows: list[dict[str, Any]] = []
    if not models_dir.exists():
        return rows
    champion = champion_version(models_dir)
    versions = [p for p in models_dir.iterdir() if (p / METADATA_FILE).exists()]
    for path in sorted(versions, key=str):
        meta = json.loads((path / METADATA_FILE).read_text())
        metrics = json.loads((path / METRICS_FILE).read_text())
        rows.append(
            {
                "version": path.name,
                "champion": path.name == champion,
                "saved_at": meta.get("saved_at"),
                "accuracy": metrics.get("model", {}).get("accuracy"),
                "roc_auc": metrics.get("model", {}).get("roc_auc"),
            }
        )
    return rows
