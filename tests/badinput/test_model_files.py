"""Model files load only through skops, only with trusted types, only with a matching checksum.

A model file is code-adjacent: pickle-like formats can run code on load. These tests save a
real fitted Pipeline with the registry, then tamper with it, swap in a foreign file and a
pickle, and check each is refused with a message that names the file and what to do.
"""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from models.registry import (
    METADATA_FILE,
    MODEL_FILE,
    ModelFileError,
    cached_model,
    load_champion_in_background,
    load_model,
    save_model,
    set_champion,
)
from servicelens.storage.checksums import sha256_file

VERSION = "v-test"


def _fitted(steps: list[tuple[str, object]]) -> Pipeline:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    return Pipeline(steps).fit(x, np.array([0, 0, 1, 1]))  # type: ignore[arg-type]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model = _fitted([("scale", StandardScaler()), ("clf", LogisticRegression())])
    save_model(model, tmp_path, VERSION, {"trained_on": "four rows"}, {})
    return tmp_path


def _rewrite_with_matching_checksum(models_dir: Path, payload: bytes) -> None:
    """Replace the model file and update its metadata, as a careful attacker would."""
    (models_dir / VERSION / MODEL_FILE).write_bytes(payload)
    meta_path = models_dir / VERSION / METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta["model_sha256"] = sha256_file(models_dir / VERSION / MODEL_FILE)
    meta_path.write_text(json.dumps(meta))


def test_an_untouched_model_loads(saved: Path) -> None:
    model = load_model(saved, VERSION)
    assert model.predict(np.array([[3.0, 0.0]])).tolist() == [1]


def test_a_model_saved_in_a_newer_format_is_refused_naming_what_to_do(saved: Path) -> None:
    """A model a newer servicelens saved may hold state this version cannot rebuild (its
    vectorisers' vocabulary as arrays read as none, failing only at scoring): it is refused
    on load. A model saved before formats were recorded loads (format 1)."""
    from models.registry import MODEL_FORMAT

    meta_path = saved / VERSION / METADATA_FILE
    meta = json.loads(meta_path.read_text())
    assert meta["model_format"] == MODEL_FORMAT
    meta["model_format"] = MODEL_FORMAT + 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"newer servicelens.*roll back to a model version"):
        load_model(saved, VERSION)
    del meta["model_format"]
    meta_path.write_text(json.dumps(meta))
    assert load_model(saved, VERSION).predict(np.array([[3.0, 0.0]])).tolist() == [1]


def test_a_tampered_file_is_refused_by_its_checksum(saved: Path) -> None:
    path = saved / VERSION / MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="does not match its metadata") as error:
        load_model(saved, VERSION)
    assert str(path) in str(error.value) and "Retrain, or roll back" in str(error.value)


def test_a_foreign_model_with_untrusted_types_is_refused_even_with_a_matching_checksum(
    saved: Path, tmp_path: Path
) -> None:
    foreign = _fitted([("clf", RandomForestClassifier(n_estimators=2, random_state=0))])
    sio.dump(foreign, tmp_path / "foreign.skops")
    _rewrite_with_matching_checksum(saved, (tmp_path / "foreign.skops").read_bytes())
    with pytest.raises(ModelFileError, match="refusing to load untrusted types") as error:
        load_model(saved, VERSION)
    assert "RandomForestClassifier" in str(error.value) or "Tree" in str(error.value)


class Payload:
    """What a malicious pickle would run on load; it must never be unpickled."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned",))


def test_a_pickle_posing_as_a_model_is_refused(saved: Path) -> None:
    _rewrite_with_matching_checksum(saved, pickle.dumps(Payload()))
    with pytest.raises(ModelFileError, match="not a skops model file"):
        load_model(saved, VERSION)


def test_a_model_without_metadata_is_refused(saved: Path) -> None:
    (saved / VERSION / METADATA_FILE).unlink()
    with pytest.raises(ModelFileError, match="no metadata"):
        load_model(saved, VERSION)


def _join_background_load() -> None:
    for thread in threading.enumerate():
        if thread.name == "champion-model":
            thread.join(timeout=60)


def test_the_champion_loaded_in_background_is_loaded_once(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.registry as registry

    loads: list[str] = []

    def counted(models_dir: Path, version: str) -> object:
        loads.append(version)
        return load_model(models_dir, version)

    monkeypatch.setattr(registry, "load_model", counted)
    set_champion(saved, VERSION, "test")
    load_champion_in_background(saved)
    model = cached_model(saved, VERSION)  # waits for the background load, or does it itself
    _join_background_load()
    assert cached_model(saved, VERSION) is model
    assert loads == [VERSION]
    assert model.predict(np.array([[3.0, 0.0]])).tolist() == [1]


def test_a_tampered_champion_fails_where_it_is_scored_not_in_the_background(
    saved: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = saved / VERSION / MODEL_FILE
    path.write_bytes(path.read_bytes()[:-10])
    set_champion(saved, VERSION, "test")
    load_champion_in_background(saved)
    _join_background_load()
    assert "Traceback" not in capfd.readouterr().err  # the thread says nothing itself
    with pytest.raises(ModelFileError, match="does not match its metadata"):
        cached_model(saved, VERSION)


def test_metrics_with_an_undefined_number_are_strict_json_and_read_back_as_nan(
    tmp_path: Path,
) -> None:
    """Found by a trial: a CFPB model's metrics.json held 42 bare `NaN` (the ROC-AUC of a
    group holding one class), which strict JSON parsers refuse. They are null on disk and NaN
    to every reader, a file written before as it was."""
    import math

    from models.evaluate import classification_metrics
    from models.registry import METRICS_FILE, read_metrics

    one_class = classification_metrics(np.array([1, 1, 1]), np.array([0.9, 0.6, 0.4]), 0.5)
    assert math.isnan(one_class["roc_auc"])
    metrics = {"by_group": {"queue": {"billing": one_class}}, "drift": [float("inf"), 1.5]}
    model = _fitted([("scale", StandardScaler()), ("clf", LogisticRegression())])
    save_model(model, tmp_path, VERSION, {}, metrics)
    text = (tmp_path / VERSION / METRICS_FILE).read_text()

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    on_disk = json.loads(text, parse_constant=refuse)
    billing = on_disk["by_group"]["queue"]["billing"]
    assert billing["roc_auc"] is None and billing["pr_auc"] is None
    assert billing["accuracy"] == one_class["accuracy"] and on_disk["drift"] == [None, 1.5]
    read = read_metrics(tmp_path, VERSION)
    assert math.isnan(read["by_group"]["queue"]["billing"]["roc_auc"])
    assert read["by_group"]["queue"]["billing"]["brier"] == one_class["brier"]
    # A version written before holds NaN itself: read as ever.
    (tmp_path / VERSION / METRICS_FILE).write_text('{"model": {"roc_auc": NaN, "n": 3.0}}')
    old = read_metrics(tmp_path, VERSION)
    assert math.isnan(old["model"]["roc_auc"]) and old["model"]["n"] == 3.0
