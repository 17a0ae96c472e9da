"""The scheduled retrain's decisions (servicelens/retrain.py), without Prefect: which models
a data directory's retrain trains, which it skips, and that one refusal stops no other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from models.stacked import TooFewToFit
from servicelens.cli.main import main
from servicelens.ingest.configured import register_source
from servicelens.retrain import (
    FAILED,
    NOT_PROMOTED,
    NOT_TRAINED,
    PROMOTED,
    SKIPPED,
    UNCHANGED,
    UNFINISHED,
    models_to_retrain,
    retrain_each,
    retrain_message,
)
from servicelens.settings import SURVEYS_FILE, Settings
from servicelens.stages import BatchError, refuse_training_without_clean_data

DEFINITIONS = Path(__file__).resolve().parents[1] / "sources" / "definitions"
#: Maps a csat: its negatives need a root-cause model.
CALLS = DEFINITIONS / "call-centre.toml"
#: Google Forms with no rating mapped: negative = "none", no model needed.
FORMS = DEFINITIONS / "google-forms-hotdog.toml"


def _add_sample_export(base: Settings) -> None:
    day = base.raw_day(date(2026, 1, 5))
    day.mkdir(parents=True)
    (day / SURVEYS_FILE).write_text("response_id\n")


def test_the_retrain_trains_the_models_the_nightly_run_scores_with(tmp_path: Path) -> None:
    base = Settings(data_dir=str(tmp_path / "data"))
    assert models_to_retrain(base) == [base]  # nothing configured: the sample's
    forms = register_source(base, str(FORMS))
    calls = register_source(base, str(CALLS))
    # Configured sources alone: theirs, in name order, and no sample model.
    assert [m.source for m in models_to_retrain(base)] == [forms.source, calls.source]
    _add_sample_export(base)
    assert [m.source for m in models_to_retrain(base)] == ["sample", forms.source, calls.source]


def _trained(version: str, promoted: bool, **more: Any) -> dict[str, Any]:
    return {"version": version, "decision": f"decided {version}", "promoted": promoted, **more}


def test_a_source_that_needs_no_model_is_skipped_and_a_refusal_stops_no_other(
    tmp_path: Path,
) -> None:
    base = Settings(data_dir=str(tmp_path / "data"))
    register_source(base, str(FORMS))
    register_source(base, str(CALLS))
    _add_sample_export(base)
    asked: list[str] = []

    def train_one(model: Settings) -> dict[str, Any]:
        asked.append(model.source)
        if model.is_sample:
            raise TooFewToFit("training needs at least 3 audits\nQA audits are read from x")
        return _trained("v2", promoted=True)

    done = retrain_each(base, train_one)
    assert asked == ["sample", "pwc-call-centre"]  # the refusal first, the source trained after
    assert [(d.model, d.outcome, d.version) for d in done] == [
        ("sample", NOT_TRAINED, None),
        ("hot-dog-survey", SKIPPED, None),
        ("pwc-call-centre", PROMOTED, "v2"),
    ]
    # Training's own message, on one line; the skipped source's reason.
    assert done[0].detail == "training needs at least 3 audits; QA audits are read from x"
    assert done[1].detail.startswith("no model needed: its definition marks no response negative")
    assert done[2].detail == "model v2: decided v2"
    assert retrain_message(done).splitlines()[0] == "1 not trained, 1 promoted, 1 skipped"


@pytest.mark.parametrize(
    ("raised", "returned", "outcome"),
    [
        (BatchError("clean/responses: no clean data yet"), None, NOT_TRAINED),
        (OSError("disk full"), None, FAILED),
        (None, _trained("v3", promoted=False), NOT_PROMOTED),
        (None, _trained("v1", promoted=False, trained=False), UNCHANGED),
    ],
)
def test_each_way_a_models_training_ends_is_said(
    tmp_path: Path, raised: Exception | None, returned: dict[str, Any] | None, outcome: str
) -> None:
    base = Settings(data_dir=str(tmp_path / "data"))
    register_source(base, str(CALLS))
    register_source(base, str(FORMS))

    def train_one(model: Settings) -> dict[str, Any]:
        if raised is not None:
            raise raised
        assert returned is not None
        return returned

    skipped, trained = retrain_each(base, train_one)
    assert (skipped.model, skipped.outcome) == ("hot-dog-survey", SKIPPED)
    assert (trained.model, trained.outcome) == ("pwc-call-centre", outcome)
    if outcome == FAILED:
        assert trained.detail == "OSError: disk full"


def _break_registered_toml(source: Settings) -> str:
    """Edit the registered copy by hand into something that is not TOML; what its failure
    names."""
    copy = Path(source.definition or "")
    copy.write_text(copy.read_text() + "negative = csat <= 3\n")  # unquoted: not TOML
    return f"{copy}: not valid TOML: Invalid value (at line 3, column 12)"


def _lose_an_extended_file(source: Settings) -> str:
    """Delete the registered copy of the file its definition extends; what its failure
    names."""
    [extended] = Path(source.definition or "").parent.glob("extends-*.toml")
    extended.unlink()
    return f"{source.definition}: extends = '{extended.name}' names neither"


@pytest.mark.parametrize("breaks", [_break_registered_toml, _lose_an_extended_file])
def test_a_source_whose_definition_cannot_be_read_fails_alone(
    tmp_path: Path, breaks: Callable[[Settings], str]
) -> None:
    """Found reading the retrain: one configured source whose registered definition could not
    be read (broken TOML, a file it extends gone) stopped the whole retrain with an error,
    and no other model was trained. It is that source's failure, naming the file and what
    to change; the others are trained, and the run fails after all were tried."""
    base = Settings(data_dir=str(tmp_path / "data"))
    register_source(base, str(CALLS))
    # A definition that extends a file of the user's (registered with a copy of it).
    parent = tmp_path / "calls-base.toml"
    parent.write_text(CALLS.read_text())
    child = tmp_path / "calls-child.toml"
    child.write_text('extends = "calls-base.toml"\nname = "calls-child"\n')
    says = breaks(register_source(base, str(child)))
    asked: list[str] = []

    def train_one(model: Settings) -> dict[str, Any]:
        asked.append(model.source)
        return _trained("v2", promoted=True)

    done = retrain_each(base, train_one)
    assert asked == ["pwc-call-centre"]
    assert [(d.model, d.outcome) for d in done] == [
        ("calls-child", FAILED),
        ("pwc-call-centre", PROMOTED),
    ]
    assert says in done[0].detail
    mend = f"`servicelens sources add {child} --replace`"
    assert mend in done[0].detail
    assert "\n" not in done[0].detail
    assert FAILED in UNFINISHED
    # What it says to run mends it: the registered copy is replaced, the next retrain trains.
    assert main(["--data-dir", base.data_dir, *mend.strip("`").split()[1:]]) == 0
    assert [(d.model, d.outcome) for d in retrain_each(base, train_one)] == [
        ("calls-child", PROMOTED),
        ("pwc-call-centre", PROMOTED),
    ]


def test_training_advice_offers_demo_only_where_no_source_is_configured(tmp_path: Path) -> None:
    """Found by a new user's trial: every scheduled retrain of a directory holding
    configured sources advised `servicelens demo`, which writes synthetic sample data."""
    base = Settings(data_dir=str(tmp_path / "data"))
    with pytest.raises(BatchError, match="servicelens demo"):
        refuse_training_without_clean_data(base)
    register_source(base, str(CALLS))
    with pytest.raises(BatchError, match="no clean data yet") as refused:
        refuse_training_without_clean_data(base)
    assert "demo" not in str(refused.value)
