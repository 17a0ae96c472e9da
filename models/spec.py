"""What a root-cause model reads (:class:`FeatureSpec`) and the designs it may be, without
scikit-learn: a source definition's ``[features]`` are read by commands that must start fast
(``models list``, ``query``, ``backfill --dry-run``; a trial measured 1 s of scikit-learn
import in each once a source was configured). ``models/pipeline.py`` builds the estimator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

TEXT = "comment"


#: The fixed family of model designs a source chooses from (``models/select.py``):
#: - ``linear``: word and character TF-IDF, one-hot facts and crosses into one logistic
#:   regression;
#: - ``nbsvm``: the same with each n-gram scaled by its naive-Bayes log-count ratio (NB-SVM);
#: - ``boosted``: the text model's out-of-fold log-odds and the raw facts into gradient
#:   boosting, non-decreasing in the text (:class:`models.stacked.TextThenFacts`);
#: - ``blend``: a text model and a facts model (trained on every labelled row, with text or
#:   without), blended by a logistic regression with non-negative weights fitted out-of-fold
#:   (:class:`models.stacked.TextFactsBlend`);
#: - ``facts``: the structured fields alone (one-hot facts, scaled numbers, centred flags and
#:   crosses) into one logistic regression, the text not read: the facts-only baseline
#:   (``models.train._baselines``) as a design of its own, for a source whose text adds
#:   nothing its facts do not say (a data scientist's trial: on the CFPB complaints the
#:   facts-only baseline beat the chosen blend, macro-F1 0.697 against 0.665 on 426 rows).
DESIGNS: tuple[str, ...] = ("linear", "nbsvm", "boosted", "blend", "facts")


@dataclass(frozen=True)
class FeatureSpec:
    """The model's inputs: one free-text column and typed structured columns, and optional
    overrides of what training otherwise chooses by itself.

    ``crosses`` are pairs (or singles) of columns turned into one categorical value each,
    e.g. ``("channel", "wait_seconds")`` -> ``"store|11"``: a twenty-minute wait is a breach
    in a store and fast for an email, and a linear model only sees that through the cross.
    Numeric members of a cross are bucketed on a fixed log scale (no statistics, no leakage).

    ``design``, ``c``, ``char_ngrams`` and ``boosted_facts`` are overrides: left as None,
    training compares every design of :data:`DESIGNS` by cross-validation on the training
    slice and keeps the best (``models/select.py``), each with its own defaults.
    """

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    #: Yes/no facts that are often unrecorded: missing is information, so it gets an indicator.
    flags: tuple[str, ...] = ()
    crosses: tuple[tuple[str, ...], ...] = ()
    text: str = TEXT
    #: Character n-grams make the text part robust to typos and word forms (default: in the
    #: ``linear`` design only).
    char_ngrams: bool | None = None
    #: Inverse regularisation strength of the logistic regressions (default: per design).
    c: float | None = None
    #: True: only the ``boosted`` design; False: every design but it; None: all compared.
    boosted_facts: bool | None = None
    #: One design of :data:`DESIGNS`, fixed: set by training once it has chosen.
    design: str | None = None

    def __post_init__(self) -> None:
        if self.design is not None and self.design not in DESIGNS:
            raise ValueError(f"design {self.design!r} is not one of {DESIGNS}")
        if self.design == "facts" and not self.facts:
            raise ValueError(
                "design 'facts' reads the structured fields alone, and the spec declares none "
                "(categorical, numeric or flags): declare them, or leave the design out"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.text, *self.categorical, *self.numeric, *self.flags)

    @property
    def facts(self) -> tuple[str, ...]:
        """Every structured (non-text) column."""
        return (*self.categorical, *self.numeric, *self.flags)

    @property
    def reads_text(self) -> bool:
        """Whether the model of this spec reads its text column: not when there is none, nor
        in the ``facts`` design, which keeps ``text`` (the rows still carry it, and training
        groups repeated comments by it) but learns nothing from it, so no language, no
        vocabulary and no phrase is the model's."""
        return bool(self.text) and self.design != "facts"

    def without_text(self) -> FeatureSpec:
        return replace(self, text="", char_ngrams=False, design="linear")

    def text_only(self) -> FeatureSpec:
        return FeatureSpec(text=self.text, char_ngrams=self.char_ngrams, c=self.c, design="linear")

    def candidates(self) -> tuple[str, ...]:
        """The designs training compares for this spec, honouring its overrides.

        Without text, ``linear`` is the one candidate (it then reads the facts alone, as
        ``facts`` would); without facts, neither ``blend`` nor ``facts`` is one."""
        if self.design is not None:
            return (self.design,)
        if not self.text:
            return ("linear",)
        if self.boosted_facts:
            return ("boosted",)
        designs = [d for d in DESIGNS if not (self.boosted_facts is False and d == "boosted")]
        # A blend needs a facts model to blend with, and a facts model needs facts.
        return tuple(d for d in designs if self.facts or d not in ("blend", "facts"))

    def one_candidate_because(self) -> str:
        """Why :meth:`candidates` is a single design, as ``train`` and the report say it after
        the design: the source's ``[features] design`` or ``boosted_facts = true`` fixed it,
        or the source has no text column (``linear`` then reads its facts alone). A call
        centre's trial read "fixed by the source's spec" of a call log whose definition
        fixed nothing."""
        if self.design is not None:
            return "fixed by the source's spec"
        if not self.text:
            return "the one design for a source without a text column: it reads the facts alone"
        return "fixed by the source's spec (boosted_facts = true)"

    def chosen(self) -> str:
        """The design this spec builds: the fixed one, else the only candidate, else (older
        specs without a design) what their ``boosted_facts`` said."""
        if self.design is not None:
            return self.design
        return "boosted" if self.boosted_facts and self.text and self.facts else "linear"


#: The generated survey data joined to contact-centre facts.
SURVEY_FEATURES = FeatureSpec(
    categorical=("channel", "queue", "policy_code", "language", "resolution"),
    numeric=(
        "wait_seconds",
        "handle_seconds",
        "transfers",
        "prior_contacts",
        "fees_charged",
        "fee_excess",
        "csat",
        "nps",
        "effort",
        "repeat_contacts_30d",
    ),
    flags=("sla_met", "policy_disclosed"),
    # Measured on the generated data (28 days x 1,500, holdout = last 7 days, against truth):
    # eleven one-hot crosses (policy x fee, queue x handle time, ...) cost 1.5 points of
    # accuracy (0.864 vs 0.879) and 0.01 ROC-AUC, and on 8 days they fell below text alone;
    # the linear terms already carry what the crosses add, so none are used here. Source
    # mappings can still declare crosses.
    crosses=(),
    # Text log-odds + boosted facts, fixed. Compared on the demo's volume (28 days x 5,000,
    # seeds 7, 8 and 9) selection chose it every time (README "## The model"); on a few
    # hundred audits log loss prefers the blend, whose linear facts model reads handle time
    # as a straight line and flags long calls that solved the problem as failures (the
    # product brief's own counter-example; tests/bi checks it). C and character n-grams are
    # the design's defaults.
    boosted_facts=True,
)


def spec_to_dict(spec: FeatureSpec) -> dict[str, Any]:
    """The spec as JSON-friendly data, stored in a model's metadata."""
    return asdict(spec)


def spec_from_dict(data: dict[str, Any] | None) -> FeatureSpec:
    """Rebuild a spec from model metadata (models saved before specs existed: the survey one;
    specs saved before designs existed build what their ``boosted_facts`` said)."""
    if not data:
        return SURVEY_FEATURES

    def optional(key: str, kind: type) -> Any:
        value = data.get(key)
        return None if value is None else kind(value)

    return FeatureSpec(
        categorical=tuple(data.get("categorical", ())),
        numeric=tuple(data.get("numeric", ())),
        flags=tuple(data.get("flags", ())),
        crosses=tuple(tuple(x) for x in data.get("crosses", ())),
        text=str(data.get("text", TEXT)),
        char_ngrams=optional("char_ngrams", bool),
        c=optional("c", float),
        boosted_facts=optional("boosted_facts", bool),
        design=optional("design", str),
    )
