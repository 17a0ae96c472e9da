"""The scheduled retrain's decisions, as plain functions (no Prefect): which models a data
directory's retrain trains, which of them need none, and what became of each.

The served ``train/servicelens-retrain`` deployment (``flows.pipeline.train``) passes its
training step in as a function, so every decision here is tested without a Prefect API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from servicelens.ingest.configured import (
    UnreadableSource,
    configured_names,
    configured_sources_or_unreadable,
    has_sample_exports,
)
from servicelens.ingest.definitions import NOTHING_NEGATIVE
from servicelens.settings import Settings
from servicelens.stages import BatchError, source_definition

#: A model trained and promoted to champion.
PROMOTED = "promoted"
#: A model trained and saved, but kept out: the champion stays (the decision says why).
NOT_PROMOTED = "not promoted"
#: Nothing changed since the champion was built, so it was not trained again.
UNCHANGED = "unchanged"
#: A source that needs no model (``negative = "none"``): nothing to train.
SKIPPED = "skipped"
#: Training refused: too few usable audits, no clean data yet, nothing for a model to read.
NOT_TRAINED = "not trained"
#: Training, or the run report after it, failed with an error, or the source's registered
#: definition cannot be read.
FAILED = "failed"
#: The outcomes that fail a retrain run: an error. A refusal (:data:`NOT_TRAINED`: too few
#: audits, say, a new source's state until QA has audited enough) completes the run with its
#: message, as the nightly run completes with "no model trained: ..." (a red run every week
#: would say nothing an operator can fix).
UNFINISHED = (FAILED,)


@dataclass(frozen=True)
class Retrained:
    """What a retrain did with one model: ``model`` is ``sample`` or a configured source's
    name, ``outcome`` one of :data:`PROMOTED`, :data:`NOT_PROMOTED`, :data:`UNCHANGED`,
    :data:`SKIPPED`, :data:`NOT_TRAINED`, :data:`FAILED`; ``detail`` the promotion
    decision, why it needs no model, or training's own message; ``version`` the version
    trained (or the champion kept), None when there is none; ``note`` what a promotion
    leaves to do (the dates published unscored, or scored by another version, and the
    backfill that scores them: ``servicelens.cli.models.rescore_hint``'s words), else ""."""

    model: str
    outcome: str
    detail: str
    version: str | None = None
    note: str = ""

    def line(self) -> str:
        """``model: outcome: detail``, on one line."""
        return f"{self.model}: {self.outcome}: {self.detail}"


class ModelsNotTrained(RuntimeError):
    """A retrain in which a model that needs one was not trained (refused or failed): the
    failed run's exception. Its message says what became of every model; ``rows`` holds
    each :class:`Retrained` as a dict, as a completed run's data does."""

    def __init__(self, message: str, rows: list[dict[str, Any]]) -> None:
        super().__init__(message, rows)  # both in ``args``: it pickles whole
        self.rows = rows

    def __str__(self) -> str:
        return str(self.args[0])


def models_to_retrain(settings: Settings) -> list[Settings | UnreadableSource]:
    """The models a scheduled retrain trains in ``settings``' data directory, as the nightly
    run scores with them: the sample's (``[settings]``) where the directory holds sample
    exports (``raw/<date>/``) or no configured source (its refusal then says how to
    ingest), then each configured source's (``sources/<name>/``), in name order. A
    directory of configured sources alone has no sample model to train: a new user's
    trial saw every scheduled retrain fail on its empty ``clean/responses``.

    A configured source whose registered definition cannot be read is an
    :class:`~servicelens.ingest.configured.UnreadableSource` in its place, saying why.
    """
    sample: list[Settings | UnreadableSource] = (
        [settings] if has_sample_exports(settings) or not configured_names(settings) else []
    )
    return sample + configured_sources_or_unreadable(settings)


def why_no_model(model: Settings) -> str | None:
    """Why ``model`` (a configured source's settings) needs no model: its definition says
    ``negative = "none"``, so nothing is scored (:data:`NOTHING_NEGATIVE`); None when it
    needs one, and for the sample."""
    if model.is_sample or source_definition(model).negative != "none":
        return None
    return NOTHING_NEGATIVE


def retrain_each(
    settings: Settings, train_one: Callable[[Settings], dict[str, Any]]
) -> list[Retrained]:
    """Train every model of :func:`models_to_retrain` with ``train_one`` (given a model's
    settings, it trains, registers and reports it, and returns
    ``flows.training.train_and_register_task``'s dict: ``version``, ``decision``,
    ``promoted``, and ``trained`` False when the champion was kept unchanged), one
    :class:`Retrained` each, in that order.

    A source that needs no model is skipped with :func:`why_no_model`'s reason and not
    trained. A model whose training refuses (a ValueError: too few usable audits, nothing
    for a model to read; a BatchError: no clean data yet) is :data:`NOT_TRAINED` with
    training's own message, and one whose training fails otherwise is :data:`FAILED`, as is
    a source whose registered definition cannot be read (the file, what is wrong and what
    to change): in each case the models after it are still trained."""
    done = []
    for model in models_to_retrain(settings):
        name = model.source
        if isinstance(model, UnreadableSource):
            done.append(Retrained(name, FAILED, one_line(model.reason)))
            continue
        try:
            if (reason := why_no_model(model)) is not None:
                done.append(Retrained(name, SKIPPED, f"no model needed: {reason}"))
                continue
            trained = train_one(model)
        except (ValueError, BatchError) as error:
            done.append(Retrained(name, NOT_TRAINED, one_line(str(error))))
        except Exception as error:
            done.append(Retrained(name, FAILED, one_line(f"{type(error).__name__}: {error}")))
        else:
            done.append(_with_rescore_note(model, _trained(name, trained)))
    return done


def _with_rescore_note(model: Settings, retrained: Retrained) -> Retrained:
    """``retrained`` with the note a promotion leaves (``rescore_hint``: the dates published
    before it stay unscored, or scored by another version, until the backfill it names),
    in the words ``train`` and ``run`` print. Found by a QA lead's trial: the retrain's
    summary of "2 promoted" did not say so."""
    if retrained.outcome != PROMOTED:
        return retrained
    from servicelens.cli.models import rescore_hint

    source = None if model.is_sample else model.source
    hint = rescore_hint(model, model.models_dir, source)
    return retrained if hint is None else replace(retrained, note=hint)


def _trained(name: str, trained: dict[str, Any]) -> Retrained:
    """The :class:`Retrained` of a training run that finished (``train_one``'s dict)."""
    version = str(trained["version"])
    if trained.get("trained") is False:
        outcome = UNCHANGED
    else:
        outcome = PROMOTED if trained["promoted"] else NOT_PROMOTED
    return Retrained(name, outcome, f"model {version}: {trained['decision']}", version)


def one_line(text: str) -> str:
    """A message of several lines (training's refusals) as one, its lines joined by "; "."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def retrain_message(outcomes: list[Retrained]) -> str:
    """What a retrain did, for its final state and its log: a first line counting the
    models by outcome, then one line per model (:meth:`Retrained.line`), e.g.::

        1 not trained, 1 promoted, 1 skipped
        acme: not trained: training needs ...
        calls: promoted: model 2026...: promoted: no champion yet
        forms: skipped: no model needed: its definition marks no response negative ...
    """
    order = (NOT_TRAINED, FAILED, PROMOTED, NOT_PROMOTED, UNCHANGED, SKIPPED)
    counts = [(sum(o.outcome == outcome for o in outcomes), outcome) for outcome in order]
    head = ", ".join(f"{count} {outcome}" for count, outcome in counts if count) or "no models"
    return "\n".join([head, *(o.line() for o in outcomes)])


def retrain_rows(outcomes: list[Retrained]) -> list[dict[str, Any]]:
    """The outcomes as dicts (a run's data, its summary table)."""
    return [asdict(o) for o in outcomes]


def retrain_markdown(title: str, outcomes: list[Retrained]) -> str:
    """A markdown table of what a retrain did with each model, its summary artifact."""
    lines = [f"# {title}", "", "| model | outcome | version | detail |", "|---|---|---|---|"]
    for o in outcomes:
        detail = o.detail.replace("|", "\\|")
        lines.append(f"| {o.model} | {o.outcome} | {o.version or ''} | {detail} |")
    # What a promotion leaves to do, under the table: the dates it did not score.
    notes = [f"- {o.model}: {o.note}" for o in outcomes if o.note]
    return "\n".join([*lines, *(["", *notes] if notes else [])])
