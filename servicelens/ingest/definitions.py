"""Source definitions: how to read one kind of export and map it onto the canonical contract.

A definition is a TOML file (format: ``docs/sources.md``). Built-in presets for the common
exports live in ``servicelens/ingest/presets/``; a team's own definition ``extends`` one and
adds its questions in a few lines. Loading checks every key and names the file and the key
that is wrong; fitting a definition to a file is :mod:`servicelens.ingest.mapping`'s job.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from models.spec import TEXT, FeatureSpec, spec_from_dict
from servicelens.ingest.readers import CsvDialect, column_key
from servicelens.settings import AUDIT_DATE_ORDERS
from transforms.clean import MONTH_NAMES, NPS_DETRACTOR_MAX, ROW_FLAG_COLUMNS
from transforms.schemas import (
    ABANDONED,
    NEGATIVE_CSAT_MAX,
    RAW_INTERACTION_SCHEMA,
    RAW_SURVEY_COLUMNS,
    RESOLVED_FLAG,
    ROOT_CAUSES,
)

BUILT_IN_DIR = Path(__file__).parent / "presets"
#: Canonical columns a definition may map export columns onto (the survey contract, the
#: interaction facts a row may carry itself, a two-level rating such as good/bad, the
#: source's own resolved-on-first-contact flag, and its abandoned-call flag).
CANONICAL_COLUMNS: tuple[str, ...] = (
    *RAW_SURVEY_COLUMNS,
    *(c for c in RAW_INTERACTION_SCHEMA if c not in RAW_SURVEY_COLUMNS),
    "rating",
    RESOLVED_FLAG,
    ABANDONED,
)
#: The ``[columns]`` key of a per-row country (``country = { column = "Market" }``): each
#: row's phone numbering plan, an ISO 3166-1 alpha-2 code or a locale (``de-AT``), the
#: source's ``country`` where a row has none or one no plan is known for
#: (:func:`transforms.pii.row_region`). Named as the source-wide ``country`` it overrides
#: row by row. Not a canonical column: it is read while the rows are redacted and not
#: landed, so an attribute may still be called ``country``.
ROW_COUNTRY = "country"
#: Canonical columns an ``[interactions]`` feed may map: the sample's interaction contract
#: (``RAW_INTERACTION_SCHEMA``), joined as the sample's interactions are.
FEED_COLUMNS: tuple[str, ...] = tuple(RAW_INTERACTION_SCHEMA)
#: Timestamp columns: parsed with the column's ``format`` (ISO 8601 when none is declared).
TIMESTAMP_COLUMNS: tuple[str, ...] = ("submitted_at", "delivered_at", "started_at")
#: Numeric columns that may be written as durations.
DURATION_UNITS: dict[str, float | None] = {
    "seconds": 1.0,
    "minutes": 60.0,
    "hours": 3600.0,
    "h:mm:ss": None,
}
#: Why a source whose definition says ``negative = "none"`` gets no root causes, and no
#: model (said by ``run``, ``train``, ``score`` and the report).
NOTHING_NEGATIVE = (
    'its definition marks no response negative (negative = "none": it maps no csat, nps or '
    "rating), so there is nothing for a root-cause model to score and none is needed; to "
    'score root causes, map one of them or set negative = "all" (docs/sources.md)'
)
#: What makes a response negative (so it gets a root cause).
NEGATIVE_RULES: tuple[str, ...] = ("csat", "nps", "rating", "all", "none")
#: The rules that take a threshold of the source's own (``negative = "csat <= 3"``), each
#: with its default and the lowest and highest threshold allowed: some score of the row
#: checks' scale (csat 1-5, nps 0-10) on each side of it.
NEGATIVE_THRESHOLDS: dict[str, tuple[int, int, int]] = {
    "csat": (NEGATIVE_CSAT_MAX, 1, 4),
    "nps": (NPS_DETRACTOR_MAX, 0, 9),
}
FORMATS: tuple[str, ...] = ("csv", "xlsx", "json", "auto")

_TOP_KEYS = {
    "name",
    "extends",
    "description",
    "country",
    "timezone",
    "partition",
    "pseudonymise_agents",
    "ambiguous_times",
    "audit_date_order",
    "max_comment_chars",
    "never_store",
    "never_features",
    "expected_columns",
    "negative",
    "read",
    "columns",
    "attributes",
    "exclude",
    "label",
    "features",
    "interactions",
}
#: The keys of an ``[interactions]`` table (a contact-facts feed, :class:`InteractionFeed`).
_FEED_KEYS = {"lookback_days", "timezone", "ambiguous_times", "read", "columns"}
#: Names of UTC in the tz database: a source in one of them reads naive times as UTC.
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})
_READ_KEYS = {
    "format",
    "encoding",
    "repair_mojibake",
    "delimiter",
    "quote",
    "header_rows",
    "extra_header_rows",
    "extra_header_if_cell_starts",
    "extra_header_if_id_not",
    "names",
    "generic_sub_names",
    "lower_case_names",
    "timezone_from_header",
    "sheet",
    "records",
    "null_values",
    "decimal_comma",
    "thousands",
    "month_names",
}
_RULE_KEYS = {
    "column",
    "columns",
    "value",
    "format",
    "values",
    "missing",
    "unit",
    "derive",
    "required",
    "times",
    "negate",
}
_FEATURE_KEYS = {
    "categorical",
    "numeric",
    "flags",
    "crosses",
    "char_ngrams",
    "c",
    "boosted_facts",
    "design",
}


#: What a source's name may be: it names its inbox, raw and partition folders.
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@functools.cache
def _known_timezones() -> frozenset[str]:
    """The tz database's zone names (the ``tzdata`` package's, else the system's)."""
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


class DefinitionError(ValueError):
    """A definition that is malformed, or an export that does not fit its definition. The
    message names the file, the key or line and column, and what to change."""


@dataclass(frozen=True)
class ColumnRule:
    """How one canonical column is filled from the export."""

    name: str
    #: Export column names, each a list of alternatives (the first present is used); several
    #: entries are joined with a space (a date and a time in separate columns).
    sources: tuple[tuple[str, ...], ...] = ()
    #: A constant for every row (``channel = { value = "phone" }``).
    value: str | None = None
    #: strftime formats of a timestamp, tried in order (day-first or month-first is
    #: declared, never guessed); ``"iso"`` is ISO 8601, the default.
    formats: tuple[str, ...] = ()
    #: Export text -> canonical value (choice codes, scores written as text, ``Telefon``);
    #: matched after trimming, ignoring case; an empty value means missing.
    values: dict[str, str] = field(default_factory=dict)
    #: More tokens meaning "not answered" for this column (``0`` on a 1-5 scale).
    missing: tuple[str, ...] = ()
    #: Duration unit of a number: seconds, minutes, hours or h:mm:ss.
    unit: str | None = None
    #: A stable id derived from the row's content (exports without a response id).
    derive: bool = False
    #: ``response_id`` only: the columns of its ``columns`` that hold a time, written into
    #: the id to the minute as ``submitted_at``'s formats read it (Microsoft Forms' ``Start
    #: time``), so that an Excel re-save's ``30.11.2026 09:09`` gives the id its workbook's
    #: ``2026-11-30 09:09:07`` does.
    times: tuple[str, ...] = ()
    #: ``required = false``: the export may lack the column (a question added to the survey
    #: mid-quarter: the exports before it were never asked it), and the rows of one that
    #: lacks it have no value here, said once per delivery, never quarantined. On csat it
    #: also keeps rows without a rating (a call log where unanswered calls have none);
    #: required by default when csat decides what is negative.
    required: bool = True
    #: ``negate = true`` on a yes/no column (:data:`transforms.clean.ROW_FLAG_COLUMNS`): the
    #: export's yes/no (after ``values``) read the other way round, every word
    #: :func:`transforms.clean.parsed_flag` reads (a call log's ``Answered (Y/N)`` as
    #: ``abandoned``: ``Y``, ``yes``, ``true``, ``1`` are no; ``N``, ``no``, ``false``, ``0``
    #: are yes); any other word is quarantined as on any yes/no column.
    negate: bool = False


@dataclass(frozen=True)
class Exclusion:
    """Rows a definition sets aside, with the reason that goes into quarantine."""

    column: str
    values: tuple[str, ...]
    #: True: excluded when the value is NOT one of ``values``.
    unless: bool
    reason: str
    #: True (``unanswered = true``): the rows are surveys offered and never answered (a
    #: Zendesk rating only ``offered``), so the report gives the response rate, answered /
    #: offered, beside them. Set aside all the same, never counted as rejected.
    unanswered: bool = False


@dataclass(frozen=True)
class ReadOptions:
    """The ``[read]`` table: how the bytes become text rows."""

    format: str = "csv"
    dialect: CsvDialect = field(default_factory=CsvDialect)
    #: xlsx: the sheet (name or 0-based index).
    sheet: str | int = 0
    #: json: the key holding the list of records (None: the document is the list, or its
    #: only list-valued key).
    records: str | None = None
    #: Text meaning "missing" in any mapped column, compared after trimming.
    null_values: tuple[str, ...] = ("",)
    decimal_comma: bool = False
    thousands: str = ""
    #: The language of month names in dates read with ``%b`` / ``%B`` (a key of
    #: :data:`transforms.clean.MONTH_NAMES`: ``"fr"``, ``"de"``, ``"nl"``, ``"es"``); None:
    #: English, the only names those codes read otherwise.
    month_names: str | None = None
    #: A JSON key in the header cells that gives the export's timezone (Qualtrics).
    timezone_from_header: str | None = None


@dataclass(frozen=True)
class InteractionFeed:
    """A definition's ``[interactions]`` table: a second export of the same source holding
    the contact facts (a ticket or call log), delivered beside the surveys into
    ``inbox/<source>/interactions/`` and joined to them on ``interaction_id``, as the sample's
    ``raw/<date>/interactions.jsonl`` is (docs/sources.md, "Contact facts")."""

    #: How the feed's files become text rows (its own ``[interactions.read]``).
    read: ReadOptions
    #: Interaction column (:data:`FEED_COLUMNS`) -> how it is filled; ``interaction_id`` and
    #: ``started_at`` always mapped (the key, and the date its partition is named by).
    columns: dict[str, ColumnRule]
    #: Days before a survey partition whose contacts it is joined to (a ticket opened on
    #: Monday and rated on Friday needs 4); None: ``Settings.interaction_lookback_days``.
    lookback_days: int | None = None
    #: The feed's timezone for its naive local times (``[interactions] timezone``); None:
    #: the source's (:attr:`SourceDefinition.timezone`), refused where that is UTC and the
    #: feed's ``started_at`` carries no UTC offset (:func:`_refuse_a_feed_read_as_utc`).
    timezone: str | None = None
    #: ``quarantine`` or ``earliest`` for the feed's own times the clocks went through twice
    #: (``[interactions] ambiguous_times``); None: the source's.
    ambiguous_times: str | None = None


@dataclass(frozen=True)
class SourceDefinition:
    """A parsed, checked source definition."""

    name: str
    path: Path
    description: str
    read: ReadOptions
    columns: dict[str, ColumnRule]
    #: Attribute name -> export column: facts kept as JSON in the ``attributes`` column.
    attributes: dict[str, tuple[str, ...]]
    features: FeatureSpec
    never_store: tuple[str, ...] = ()
    never_features: tuple[str, ...] = ()
    exclude: tuple[Exclusion, ...] = ()
    label_column: tuple[str, ...] = ()
    #: Label word (trimmed, lower case: matched ignoring case) -> root cause.
    label_values: dict[str, str] = field(default_factory=dict)
    #: Label words (trimmed, lower case) the definition says are no verdict (``[label]
    #: not_verdicts``: the ``cfpb`` preset's ``In progress``): their rows stay unlabelled,
    #: as any unmapped word's do, and are said to be so on purpose, not told to be mapped.
    #: Not in the fingerprint: it changes no row, only what is said.
    not_verdicts: frozenset[str] = field(default=frozenset(), repr=False)
    negative: str = "csat"
    #: The threshold of a csat or nps ``negative`` rule the definition sets
    #: (``negative = "csat <= 3"``); None: the default (:data:`NEGATIVE_THRESHOLDS`). In the
    #: fingerprint only when set (:attr:`fingerprint`).
    negative_at_most: int | None = field(default=None, repr=False)
    #: The export's timezone for naive local times (None: the business timezone).
    timezone: str | None = None
    #: ISO 3166 alpha-2 country, for telling phone numbers in comments: every row's, or,
    #: when ``[columns]`` maps a per-row :data:`ROW_COUNTRY`, the rows' without one.
    country: str = "GB"
    #: ``day`` or ``month``: how many survey dates one partition holds.
    partition: str = "day"
    #: Agent ids stored and shown only as keyed pseudonyms (the default); ``false``: the
    #: source allows its agent ids to be shown as recorded (``Settings.reveal_agent_ids``).
    pseudonymise_agents: bool = True
    #: ``quarantine``: a naive time the clocks went through twice is quarantined with its
    #: own reason; ``earliest``: the earlier instant is taken (the generated sample's rule).
    ambiguous_times: str = "quarantine"
    #: How this source's QA audit files write slashed dates (``03/12/2026``) when no date
    #: of a file says: ``day-first``, ``month-first`` or empty (``SERVICELENS_AUDIT_DATE_ORDER``
    #: then, else such dates are set aside). Out of the fingerprint (``repr=False``): it
    #: changes no landed row.
    audit_date_order: str = field(default="", repr=False)
    #: The longest comment this source's rows keep, in characters (None: the row suite's
    #: default, ``validation.expectations.MAX_COMMENT_CHARS``): a complaints database's
    #: narratives run longer than survey comments (a trial's CFPB download had two valid
    #: complaints over 10,000). A row check, not landing: out of the fingerprint.
    max_comment_chars: int | None = field(default=None, repr=False)
    #: The presets it extends, nearest first.
    extends: tuple[str, ...] = ()
    #: Export columns the definition knows the export carries and does not read (a vendor's
    #: own metadata: Qualtrics' StartDate, Duration, DistributionChannel), names or ``*``
    #: patterns matched ignoring case: not told as new columns that stay in raw/ only
    #: (:func:`servicelens.ingest.mapping.unread_columns`). A definition's list adds to its
    #: presets'. Out of the fingerprint: it changes no landed row.
    expected_columns: tuple[str, ...] = field(default=(), repr=False)
    #: Export column names a definition of the user's own writes (not a built-in preset's,
    #: whose names stand for every spelling): such a name picks the column spelt exactly so
    #: where two columns match it (:func:`servicelens.ingest.mapping.ambiguous_columns`).
    #: Out of the fingerprint: it changes no landed row.
    exact_names: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    #: The contact-facts feed the definition declares (``[interactions]``), or None. Out of
    #: the fingerprint: it changes no landed survey row (the feed's own files are landed
    #: under :meth:`interactions_definition`'s fingerprint).
    interactions: InteractionFeed | None = field(default=None, repr=False)
    #: The tables of the definition file ``read`` and ``columns`` come from: ``""`` for the
    #: survey rows' own ([read], [columns]), ``"interactions"`` for the contact-facts feed's
    #: (:meth:`interactions_definition`, set there). Advice names them so (:meth:`key_of`).
    #: Out of the fingerprint: it changes no landed row.
    table: str = field(default="", repr=False)
    #: Attributes written ``{ column = ..., required = false }``: an export may lack their
    #: column, and its rows then have none (as an optional :class:`ColumnRule`). In the
    #: fingerprint only when some is (:attr:`fingerprint`), so a definition without any
    #: keeps the fingerprint its deliveries were landed with.
    optional_attributes: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def optional_groups(self) -> set[tuple[str, ...]]:
        """The export column groups (alternatives) of the ``[columns]`` rules and
        ``[attributes]`` marked ``required = false``: an export may lack them."""
        groups = {g for rule in self.columns.values() if not rule.required for g in rule.sources}
        groups.update(self.attributes[name] for name in self.optional_attributes)
        return groups

    def optional_line(self, group: tuple[str, ...]) -> str | None:
        """The line that marks the mapping reading export column group ``group`` optional
        (``resolved_first_contact = { column = "Was ...?", required = false }``), for advice
        when older exports lack it; None when no ``[columns]`` rule or attribute reads it
        alone (a joined rule, a label, an exclusion)."""
        import json

        column = json.dumps(group[0] if len(group) == 1 else list(group), ensure_ascii=False)
        for name, rule in self.columns.items():
            if rule.sources == (group,) and name not in ("response_id", "submitted_at"):
                return f"[columns] {name} = {{ column = {column}, required = false }}"
        for name, read in self.attributes.items():
            if read == group:
                return f"[attributes] {name} = {{ column = {column}, required = false }}"
        return None

    def key_of(self, column: str) -> str:
        """How the definition file names the mapping of the landed column ``column``, for
        advice to change it: ``submitted_at`` for the survey rows; for the contact-facts
        feed's definition (:attr:`table`), whose ``interaction_id`` and ``started_at`` are
        landed as ``response_id`` and ``submitted_at``, the feed's own key and its table
        (``started_at under [interactions.columns]``).

        Found by an on-call engineer's trial: a Zendesk Explore CSV's day-first start times
        were told to add their format to submitted_at, the ratings' key, whose change
        re-dates the ratings and leaves the feed's rows quarantined."""
        if not self.table:
            return column
        own = {"response_id": "interaction_id", "submitted_at": "started_at"}.get(column, column)
        return f"{own} under [{self.table}.columns]"

    @property
    def feed_names_customers(self) -> bool:
        """Whether the definition's ``[interactions]`` feed maps each contact's
        ``customer_id``: its every row, surveyed or not, is then one of the source's
        contacts (the repeat-contact history, first-contact resolution). False without a
        feed."""
        return self.interactions is not None and "customer_id" in self.interactions.columns

    @property
    def unsurveyed_contacts_note(self) -> str | None:
        """What a source whose ``[interactions]`` feed maps no ``customer_id`` is told (the
        run's log, ``sources check``): its contacts are its surveyed tickets only, and how to
        count every ticket. None for a source without a feed, or whose feed maps one."""
        if self.interactions is None or self.feed_names_customers:
            return None
        return (
            f"source {self.name}'s [interactions] feed maps no customer_id, so its contacts "
            "are its surveyed tickets only: a customer's unrated return is missed, repeat "
            "contacts are undercounted and first-contact resolution is overstated. Map the "
            "ticket's requester (customer) column as customer_id under [interactions.columns] "
            f"of {self.path} to count every ticket of the feed"
        )

    @property
    def read_table(self) -> str:
        """The table of the definition file ``read`` comes from: ``[read]``, or the
        contact-facts feed's ``[interactions.read]`` (:attr:`table`)."""
        return f"[{self.table}.read]" if self.table else "[read]"

    def interactions_definition(self) -> SourceDefinition:
        """The definition the ``[interactions]`` feed's files are read, mapped and landed
        with: the source's own (name, country, never_store, agent pseudonyms) with the
        feed's ``read`` and ``columns``, the feed's ``timezone`` and ``ambiguous_times``
        where it sets them (else the source's), ``interaction_id`` standing as the row's
        id and ``started_at`` as the time that dates it, so the one reader and landing of
        every export land contact facts too (each interaction's latest delivery wins, as a
        re-delivered response does). No label, attributes, exclusions or negatives.

        Raises DefinitionError when the definition declares no feed."""
        import dataclasses

        feed = self.interactions
        if feed is None:
            raise DefinitionError(
                f"{self.path}: source {self.name} declares no [interactions] feed "
                "(docs/sources.md, Contact facts)"
            )
        columns = {
            "response_id": dataclasses.replace(feed.columns["interaction_id"], name="response_id"),
            "submitted_at": dataclasses.replace(feed.columns["started_at"], name="submitted_at"),
            **{k: v for k, v in feed.columns.items() if k != "started_at"},
        }
        return dataclasses.replace(
            self,
            read=feed.read,
            columns=columns,
            timezone=feed.timezone or self.timezone,
            ambiguous_times=feed.ambiguous_times or self.ambiguous_times,
            attributes={},
            features=FeatureSpec(text=""),
            never_features=(),
            exclude=(),
            label_column=(),
            label_values={},
            negative="none",
            negative_at_most=None,
            max_comment_chars=None,
            interactions=None,
            table="interactions",
        )

    @property
    def fingerprint(self) -> str:
        """sha256 of the rules as parsed (every setting, with the presets it extends applied;
        not the file's path, comments or layout, nor its description or the names of the
        presets, which change no row): landing records it for each delivery, so the same
        file dropped again under changed rules is landed again."""
        import dataclasses
        import hashlib

        rules = repr(dataclasses.replace(self, path=Path(), description="", extends=()))
        if self.negative_at_most is not None:
            # It changes which landed rows are negative; unset, it is left out, so a
            # definition that sets none keeps the fingerprint its deliveries were landed with.
            rules += f" negative <= {self.negative_at_most}"
        if self.optional_attributes:
            rules += f" optional attributes {sorted(self.optional_attributes)}"
        return hashlib.sha256(rules.encode()).hexdigest()

    @property
    def negative_rule(self) -> str:
        """The rule that calls a response negative, as ``negative`` may write it, a csat or
        nps rule with its threshold (the definition's, else the default): ``csat <= 2``,
        ``nps <= 6``, ``rating`` (a bad one), ``all`` or ``none``."""
        if self.negative in NEGATIVE_THRESHOLDS:
            default = NEGATIVE_THRESHOLDS[self.negative][0]
            at_most = default if self.negative_at_most is None else self.negative_at_most
            return f"{self.negative} <= {at_most}"
        return self.negative

    def refuse_an_empty_model(self) -> None:
        """Raise DefinitionError when the definition gives a model nothing to read: no
        ``comment`` mapped and no ``[features]`` declared. Called before training (a trial's
        call-centre log read scikit-learn's "inconsistent numbers of samples: [0, 143]" from
        a model given no column at all)."""
        if self.features.text or self.features.facts:
            return
        raise DefinitionError(
            f"source {self.name} has nothing for a model to read: its definition ({self.path}) "
            "maps no comment and declares no [features]. Declare the facts that tell a policy "
            'failure from perceived bad service, e.g. [features] categorical = ["queue"], '
            'numeric = ["wait_seconds", "handle_seconds"] (docs/sources.md); a configured '
            "source's is registered again with `servicelens sources add FILE --replace`"
        )

    @property
    def export_columns(self) -> list[tuple[str, ...]]:
        """Every export column the definition reads (alternatives grouped), each once (a
        trial's ``[[exclude]]`` rule on the mapped ``Kanal`` column listed it twice in the
        missing-columns error)."""
        wanted: list[tuple[str, ...]] = []
        for rule in self.columns.values():
            wanted.extend(rule.sources)
        wanted.extend(self.attributes.values())
        if self.label_column:
            wanted.append(self.label_column)
        wanted.extend((e.column,) for e in self.exclude)
        return list(dict.fromkeys(wanted))


def built_in_definitions() -> list[str]:
    """Names accepted without a path (``--source cfpb``)."""
    return sorted(p.stem for p in BUILT_IN_DIR.glob("*.toml"))


def resolve_definition_path(source: str | Path, relative_to: Path | None = None) -> Path:
    """A built-in preset name, or a path to a definition file.

    A folder is never a definition: a preset's name is the preset even where the working
    folder holds a folder of that name (a data directory called ``cfpb``, say)."""
    candidate = Path(source)
    if relative_to is not None and not candidate.is_absolute():
        near = relative_to.parent / candidate
        if near.is_file():
            return near
    built_in = BUILT_IN_DIR / f"{source}.toml"
    if candidate.is_dir() and not built_in.exists():
        raise DefinitionError(
            f"{candidate}: a folder, not a source definition; give a definition file "
            f"(.toml) or a built-in definition {built_in_definitions()}"
        )
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise DefinitionError(f"{candidate}: source definition not found")
        return candidate
    if not built_in.exists():
        raise DefinitionError(
            f"source {str(source)!r} is neither a built-in definition "
            f"{built_in_definitions()} nor a path to a definition file (see docs/sources.md)"
        )
    return built_in


#: The keys of a column rule that say where its value comes from (docs/sources.md).
_VALUE_SOURCE_KEYS = frozenset({"column", "columns", "value", "derive"})


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` (a definition) on top of ``base`` (what it ``extends``): tables merge key by
    key, anything else is replaced.

    Except a ``[columns]`` rule that names where its value comes from (``column``,
    ``columns``, ``value`` or ``derive``): it replaces the base's rule whole, so a constant or
    another column is never mixed with the preset's source (``{ value = ... }`` over the
    preset's ``{ column = "EndDate", format = ... }`` kept reading ``EndDate``). A rule with
    only adjustments (``format``, ``values``, ``missing``, ...) merges onto the base's.
    """
    merged = dict(base)
    for key, value in over.items():
        if key == "expected_columns" and isinstance(value, list):
            # A team's own columns add to the vendor metadata its preset expects.
            merged[key] = [*merged.get(key, []), *value]
        elif key == "columns" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_column_rules(merged[key], value)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _merge_column_rules(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """The ``[columns]`` tables of :func:`_merge`: a rule naming its value's source replaces
    the base's; one that only adjusts merges onto it (a base given as a bare column name is
    that name's ``column``)."""
    merged = dict(base)
    for name, rule in over.items():
        before = merged.get(name)
        if isinstance(before, str):
            before = {"column": before}
        if (
            isinstance(rule, dict)
            and isinstance(before, dict)
            and not _VALUE_SOURCE_KEYS & set(rule)
        ):
            merged[name] = _merge(before, rule)
        else:
            merged[name] = rule
    return merged


def _names_written(data: dict[str, Any]) -> frozenset[str]:
    """The export column names one definition file's own tables write (before merging)."""

    def names(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [n for v in value for n in names(v)]
        return []

    found: list[str] = []
    for rule in (data.get("columns") or {}).values():
        if isinstance(rule, dict):
            found += names(rule.get("column")) + names(rule.get("columns"))
        else:
            found += names(rule)
    for group in (data.get("attributes") or {}).values():
        found += names(group.get("column")) if isinstance(group, dict) else names(group)
    if isinstance(label := data.get("label"), dict):
        found += names(label.get("column"))
    for rule in data.get("exclude") or []:
        if isinstance(rule, dict):
            found += names(rule.get("column"))
    feed = data.get("interactions")
    for rule in ((feed.get("columns") or {}) if isinstance(feed, dict) else {}).values():
        found += names(rule.get("column")) if isinstance(rule, dict) else names(rule)
    return frozenset(found)


def _load_raw(
    path: Path, chain: tuple[Path, ...] = ()
) -> tuple[dict[str, Any], tuple[str, ...], frozenset[str]]:
    """A definition file's tables with those of the presets it extends merged under them,
    the names of those presets (nearest first), and the export column names written by the
    files of the chain that are not built-in presets (``SourceDefinition.exact_names``)."""
    if path in chain:
        raise DefinitionError(f"{path}: `extends` loops back to itself ({chain})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        # An export given where the definition goes (arguments swapped) fails here too.
        swapped = (
            " (an export? The definition comes first: `servicelens sources check DEFINITION FILE`)"
            if path.suffix.lower() != ".toml"
            else ""
        )
        hint = "" if swapped else _bare_word_hint(path.read_text(encoding="utf-8"), str(error))
        raise DefinitionError(f"{path}: not valid TOML: {error}{hint}{swapped}") from error
    except UnicodeDecodeError as error:
        # Found by a trial: an export given where the definition goes (arguments swapped)
        # was answered with the codec's words alone, naming no file.
        line = path.read_bytes().count(b"\n", 0, error.start) + 1
        raise DefinitionError(
            f"{path}: line {line}: not a definition: it is not UTF-8 text, so not TOML (an "
            "export? The definition comes first: `servicelens sources check DEFINITION "
            "FILE`)"
        ) from error
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise DefinitionError(
            f"{path}: unknown key(s) {unknown}{_close_keys(unknown, _TOP_KEYS)}; the keys are "
            f"{sorted(_TOP_KEYS)} (see docs/sources.md)"
        )
    own = _names_written(data) if path.parent != BUILT_IN_DIR else frozenset()
    parent = data.pop("extends", None)
    if parent is None:
        return data, (), own
    try:
        base_path = resolve_definition_path(str(parent), relative_to=path)
    except DefinitionError as error:
        # Found by a trial: `extends = "qualtric"` was refused naming neither the file nor
        # its extends line.
        raise DefinitionError(_extends_refusal(path, str(parent))) from error
    base, chain_names, inherited = _load_raw(base_path, (*chain, path))
    # The preset's own name and description do not pass on to a definition extending it.
    base = {k: v for k, v in base.items() if k not in ("name", "description")}
    return _merge(base, data), (str(parent), *chain_names), own | inherited


def _extends_refusal(path: Path, parent: str) -> str:
    """Why definition ``path``'s ``extends = parent`` names nothing it can extend, with the
    built-in definition closest to it (a typo) or the definition files beside it."""
    import difflib

    presets = built_in_definitions()
    beside = sorted(p.name for p in path.parent.glob("*.toml") if p != path)
    close = difflib.get_close_matches(parent, [*presets, *beside], n=1)
    todo = f"did you mean {close[0]!r}?" if close else "correct the extends line"
    return (
        f"{path}: extends = {parent!r} names neither a built-in definition "
        f"({', '.join(presets)}) nor a definition file (a path is read from {path.parent}, "
        f"then the working directory); {todo}"
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DefinitionError(f"{where}: expected a column name or a list of names, got {value!r}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: A strftime code of chrono, the library polars parses dates with: ``%`` and an optional
#: padding flag, then a letter (``%Y``), a fraction (``%.f``, ``%3f``) or an offset (``%:z``).
_FORMAT_CODE = re.compile(r"%[-_0]?(\.?[369]?f|:{1,3}z|#z|.?)", re.DOTALL)
#: The letters chrono knows after ``%`` (docs.rs/chrono, format::strftime).
_FORMAT_LETTERS = frozenset("YCymbBhdeaAwuUWGgVjDxFvHkIlPpMSRTXrZzcs+tn%")


def _check_format(fmt: str, where: str) -> None:
    """Raise DefinitionError (naming ``where``) unless ``fmt`` is ``"iso"`` or a strftime
    format polars can read (:func:`_format_problem`)."""
    problem = _format_problem(fmt)
    if problem:
        raise DefinitionError(
            f"{where}: format {fmt!r}{problem}; write the format with codes such as "
            '%d.%m.%Y %H:%M ("%%" for a literal %), or "iso"'
        )


@functools.cache
def _format_problem(fmt: str) -> str:
    """What is wrong with ``fmt`` as a date format, or "" when polars can read it: every
    ``%`` code known, and the set of codes one polars accepts (``%H`` without ``%M`` fails
    at parse time, for every row; found here, the definition is refused when it is loaded,
    not in the middle of a nightly run). Cached: a definition is loaded once per partition
    a run processes, and a trial parse is half of a load."""
    if fmt == "iso":
        return ""
    for code in _FORMAT_CODE.finditer(fmt):
        body = code.group(1)
        if (len(body) == 1 and body not in _FORMAT_LETTERS) or not body:
            return f": {code.group(0) if body else '%'!r} is not a strftime code"
    from transforms.clean import parsed_timestamp

    try:
        pl.DataFrame({"t": ["2021-01-01"]}).select(parsed_timestamp("t", "UTC", (fmt,)))
    except pl.exceptions.ComputeError as error:
        reason = str(error).splitlines()[0].rstrip(".")
        return f" cannot be used: {reason} (polars, which parses the dates)"
    return ""


def _rule(name: str, spec: Any, where: str) -> ColumnRule:
    if not isinstance(spec, dict):
        return ColumnRule(name, sources=(_strings(spec, where),))
    unknown = sorted(set(spec) - _RULE_KEYS)
    if unknown:
        raise DefinitionError(
            f"{where}: unknown key(s) {unknown}{_close_keys(unknown, _RULE_KEYS)}; allowed "
            f"{sorted(_RULE_KEYS)}"
        )
    sources: tuple[tuple[str, ...], ...] = ()
    if "column" in spec:
        sources = (_strings(spec["column"], where),)
    if "columns" in spec:
        if not isinstance(spec["columns"], list):
            raise DefinitionError(f"{where}: `columns` must be a list of column names")
        sources = tuple(_strings(c, where) for c in spec["columns"])
    unit = spec.get("unit")
    if unit is not None and unit not in DURATION_UNITS:
        raise DefinitionError(f"{where}: unit {unit!r} is not one of {list(DURATION_UNITS)}")
    derive = spec.get("derive")
    if derive not in (None, "row"):
        raise DefinitionError(f'{where}: derive = {derive!r}; the only kind is "row"')
    if derive and name != "response_id":
        raise DefinitionError(f"{where}: only response_id can be derived from the row")
    value = spec.get("value")
    if not sources and value is None and not derive:
        raise DefinitionError(f"{where}: give `column`, `columns`, `value` or `derive`")
    times = _strings(spec["times"], where) if "times" in spec else ()
    if times and name != "response_id":
        raise DefinitionError(f"{where}: `times` applies to response_id only")
    listed = {column_key(a) for group in sources for a in group}
    if unknown_times := [t for t in times if column_key(t) not in listed or len(sources) < 2]:
        raise DefinitionError(
            f"{where}: times = {list(unknown_times)} names no column of the id's `columns` "
            'besides another (e.g. columns = ["ID", "Start time"], times = ["Start time"])'
        )
    required = spec.get("required", True)
    if not isinstance(required, bool):
        raise DefinitionError(f"{where}: required = {required!r}; write true or false")
    if not required and name in ("response_id", "submitted_at"):
        raise DefinitionError(
            f"{where}: {name} cannot be required = false: every row needs it (it "
            + ("identifies the response)" if name == "response_id" else "dates the response)")
        )
    negate = spec.get("negate", False)
    if not isinstance(negate, bool):
        raise DefinitionError(f"{where}: negate = {negate!r}; write true or false")
    if negate and name not in ROW_FLAG_COLUMNS:
        raise DefinitionError(
            f"{where}: `negate` applies to the yes/no columns {list(ROW_FLAG_COLUMNS)} only"
        )
    fmt = spec.get("format")
    if fmt is not None and name not in TIMESTAMP_COLUMNS:
        raise DefinitionError(f"{where}: `format` applies to timestamps {TIMESTAMP_COLUMNS} only")
    formats = _strings(fmt, where) if fmt is not None else ()
    for one in formats:
        _check_format(one, where)
    return ColumnRule(
        name=name,
        sources=sources,
        value=None if value is None else _text(value),
        formats=formats,
        values={str(k).strip().lower(): _text(v) for k, v in spec.get("values", {}).items()},
        missing=tuple(str(m) for m in spec.get("missing", ())),
        unit=unit,
        derive=bool(derive),
        required=required,
        times=times,
        negate=negate,
    )


def _bare_word_hint(text: str, error: str) -> str:
    """``; text values need double quotes: comment = "Q2"`` when the TOML parse ``error``
    stands at a bare word (``comment = Q2``), else nothing. Found by a new user's trial:
    "Invalid value (at line 4, column 11)" said neither what was wrong nor how to write it."""
    at = re.search(r"\(at line (\d+), column (\d+)\)", error)
    lines = text.splitlines()
    if at is None or not 0 < int(at[1]) <= len(lines):
        return ""
    line = lines[int(at[1]) - 1]
    key, equals, value = line.partition("=")
    before, after = line[: int(at[2]) - 1].rstrip(), line[int(at[2]) - 1 :]
    word = re.match(r"[^\W\d][^\s,}\]#]*", after)
    # Where a value starts (after ``=``, ``[`` or ``,``), not inside one (``2x``).
    if not word or not before.endswith(("=", "[", ",")) or word[0] in ("true", "false"):
        return ""
    whole = equals and value.strip() == word[0]  # ``comment = Q2``, not ``{ column = Q1 }``
    written = f'{key.strip()} = "{word[0]}"' if whole else f'"{word[0]}"'
    return f"; text values need double quotes: {written}"


def _close_keys(unknown: list[str], allowed: Iterable[str]) -> str:
    """`` (did you mean 'decimal_comma' for 'decimal_coma'?)`` for each unknown key close to
    an allowed one (``difflib.get_close_matches``), else nothing. Found by a trial: a
    misspelt key was refused with the whole list of keys to search by eye."""
    close = [
        f"{' or '.join(repr(m) for m in match)} for {key!r}"
        for key in unknown
        if (match := difflib.get_close_matches(key, sorted(allowed), n=2, cutoff=0.75))
    ]
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _read_options(data: dict[str, Any], where: str) -> ReadOptions:
    unknown = sorted(set(data) - _READ_KEYS)
    if unknown:
        raise DefinitionError(
            f"{where} [read]: unknown key(s) {unknown}{_close_keys(unknown, _READ_KEYS)}; "
            f"allowed {sorted(_READ_KEYS)}"
        )
    fmt = data.get("format", "csv")
    if fmt not in FORMATS:
        raise DefinitionError(f"{where} [read]: format {fmt!r} is not one of {list(FORMATS)}")
    id_rule = data.get("extra_header_if_id_not")
    if id_rule is not None and not (
        isinstance(id_rule, list) and len(id_rule) == 2 and all(isinstance(x, str) for x in id_rule)
    ):
        raise DefinitionError(
            f"{where} [read]: extra_header_if_id_not must be [column, regex], got {id_rule!r}"
        )
    names = data.get("names", "first")
    if names not in ("first", "joined"):
        raise DefinitionError(f'{where} [read]: names = {names!r}; use "first" or "joined"')
    month_names = data.get("month_names")
    if month_names is not None and month_names not in MONTH_NAMES and month_names != "en":
        raise DefinitionError(
            f"{where} [read]: month_names = {month_names!r} is not a language whose month "
            f"names are known; use one of {['en', *MONTH_NAMES]} (the language the export "
            "writes month names in, for %b and %B), or leave it out for English"
        )
    dialect = CsvDialect(
        delimiter=str(data.get("delimiter", ",")),
        quote=str(data.get("quote", '"')),
        encoding=str(data.get("encoding", "auto")),
        repair_mojibake=_flag(data, "repair_mojibake", where),
        header_rows=int(data.get("header_rows", 1)),
        extra_header_rows=int(data.get("extra_header_rows", 0)),
        extra_header_if_cell_starts=tuple(data.get("extra_header_if_cell_starts", ())),
        extra_header_if_id_not=(id_rule[0], id_rule[1]) if id_rule else None,
        names=names,
        generic_sub_names=tuple(data.get("generic_sub_names", ())),
        lower_case_names=_flag(data, "lower_case_names", where),
        timezone_key=data.get("timezone_from_header"),
    )
    return ReadOptions(
        format=fmt,
        dialect=dialect,
        sheet=data.get("sheet", 0),
        records=data.get("records"),
        null_values=tuple(str(v) for v in data.get("null_values", ("",))),
        decimal_comma=_flag(data, "decimal_comma", where),
        thousands=str(data.get("thousands", "")),
        month_names=None if month_names in (None, "en") else str(month_names),
        timezone_from_header=data.get("timezone_from_header"),
    )


def _flag(data: dict[str, Any], key: str, where: str) -> bool:
    """``[read]``'s ``key`` (false when absent) as TOML's ``true`` or ``false``. Raises
    DefinitionError naming ``where`` (the definition file), the key and the value for any
    other value: ``decimal_comma = "auto"`` or ``= "false"`` read as true through ``bool``, so
    a usual file's every decimal number was quarantined with nothing said of the setting."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise DefinitionError(
            f"{where} [read]: {key} = {value!r} is not true or false; write {key} = true or "
            f"{key} = false (no quotes), or leave it out for false"
        )
    return value


#: ``csat <= 3``: a rule, a comparison and a threshold, as ``negative`` may write them.
_NEGATIVE_WITH_THRESHOLD = re.compile(r"\s*([A-Za-z_]+)\s*([<>=!]+)\s*(.*?)\s*")


def _negative_rule(value: Any, where: str) -> tuple[str, int | None]:
    """``negative`` as written (``"csat"``, ``"csat <= 3"``) as its rule and its threshold
    (None: the rule's default, :data:`NEGATIVE_THRESHOLDS`; the default written out is
    None too). Raises DefinitionError naming ``where`` and the value for an unknown rule,
    a threshold on a rule that takes none, another comparison than ``<=``, a threshold
    that is not a whole number, or one that leaves no score of the scale on one side.

    Found by a new user's trial: an airline's QA audited responses of csat 3, and
    ``negative = "csat <= 3"`` was refused with no way to say it; 82 of 410 audits were
    not trained on."""
    forms = (
        f"use one of {', '.join(map(repr, NEGATIVE_RULES))}, or a csat or nps rule with its "
        'threshold, such as "csat <= 3" (docs/sources.md, Format)'
    )
    if not isinstance(value, str):
        raise DefinitionError(f"{where}: negative = {value!r} is not text; {forms}")
    if value.strip() in NEGATIVE_RULES:
        return value.strip(), None
    found = _NEGATIVE_WITH_THRESHOLD.fullmatch(value)
    if found is None or found[1] not in NEGATIVE_RULES:
        raise DefinitionError(f"{where}: negative = {value!r} is no rule; {forms}")
    rule, comparison, threshold = found[1], found[2], found[3]
    if rule not in NEGATIVE_THRESHOLDS:
        raise DefinitionError(
            f'{where}: negative = {value!r}: "{rule}" takes no threshold; write negative = '
            f'"{rule}", or a csat or nps rule with its threshold, such as "csat <= 3"'
        )
    default, lowest, highest = NEGATIVE_THRESHOLDS[rule]
    example = f'"{rule} <= {default + 1}"'
    if not re.fullmatch(r"[+-]?\d+", threshold):
        raise DefinitionError(
            f"{where}: negative = {value!r}: the threshold {threshold!r} is not a whole "
            f"number; {rule} scores are whole numbers, write one from {lowest} to {highest}, "
            f"such as {example}"
        )
    at_most = int(threshold)
    if comparison != "<=":
        said = f'"{rule} <= {at_most - 1}"' if comparison == "<" else example
        raise DefinitionError(
            f"{where}: negative = {value!r}: a negative {rule} is one at or below the "
            f"threshold; write it with <=, such as {said}"
        )
    if not lowest <= at_most <= highest:
        every = at_most > highest
        raise DefinitionError(
            f"{where}: negative = {value!r}: {rule} runs from {lowest} to {highest + 1}, so "
            f"{at_most} would call {'every' if every else 'no'} {rule} negative; write a "
            f"threshold from {lowest} to {highest}, such as {example} (or negative = "
            + ('"all" for every row)' if every else '"none" for no row)')
        )
    return rule, None if at_most == default else at_most


def _features(data: dict[str, Any], where: str, has_comment: bool) -> FeatureSpec:
    """The model's inputs a definition's ``[features]`` declare, beside the free-text
    ``comment`` when the definition maps one: a source without one (a call-centre log) is
    modelled on its facts alone. Found by an analyst's trial: its [features] were refused
    for a ``comment`` it never wrote, so such a source could never get a model."""
    unknown = sorted(set(data) - _FEATURE_KEYS)
    if unknown:
        raise DefinitionError(
            f"{where} [features]: unknown key(s) {unknown}{_close_keys(unknown, _FEATURE_KEYS)}"
        )
    # The model's own reader of a spec, so a definition's features mean what a saved one does
    # (models/spec.py: without scikit-learn, which quick commands must not import).
    try:
        return spec_from_dict({"text": TEXT if has_comment else "", **data})
    except ValueError as error:  # a design not of the family, or "facts" without facts
        raise DefinitionError(f"{where} [features]: {error}") from None


def _interaction_feed(data: Any, where: str) -> InteractionFeed | None:
    """The ``[interactions]`` table (:class:`InteractionFeed`), or None when there is none.

    Raises DefinitionError naming ``where`` and the key: an unknown key, a column that is
    not an interaction column (:data:`FEED_COLUMNS`), ``interaction_id`` or ``started_at``
    not mapped, a ``lookback_days`` that is not a whole number of 0 or more."""
    if data is None:
        return None
    spot = f"{where} [interactions]"
    if not isinstance(data, dict):
        raise DefinitionError(f"{spot}: must be a table (a [interactions] section)")
    unknown = sorted(set(data) - _FEED_KEYS)
    if unknown:
        raise DefinitionError(
            f"{spot}: unknown key(s) {unknown}{_close_keys(unknown, _FEED_KEYS)}; allowed "
            f"{sorted(_FEED_KEYS)}"
        )
    spec = data.get("columns", {})
    if not isinstance(spec, dict):
        raise DefinitionError(f"{spot}: [interactions.columns] must be a table")
    others = sorted(set(spec) - set(FEED_COLUMNS))
    if others:
        flags = [c for c in others if c in (RESOLVED_FLAG, ABANDONED)]
        survey = [c for c in others if c in CANONICAL_COLUMNS and c not in flags]
        where_else = f"; {survey} are survey columns: map them in [columns]" if survey else ""
        if flags:
            # docs/sources.md named a ticket feed's Resolved Y/N: a card issuer's trial
            # mapped its contact feed's here and was refused without a reason.
            where_else += (
                f"; a contact feed's own yes/no {flags} is not read: a contact lends its "
                "responses the interaction columns alone, and a survey's own answer would "
                "share the column; map it in [columns] where the source's own export has it "
                "(a survey's 'Was your issue resolved?', or a call log or ticket export read "
                "as the source's export: docs/sources.md, 'Canonical columns')"
            )
        raise DefinitionError(
            f"{spot}: [interactions.columns] {others} are not interaction columns"
            f"{_close_keys(others, FEED_COLUMNS)}{where_else}. The interaction columns: "
            f"{list(FEED_COLUMNS)}"
        )
    for needed, why in (
        ("interaction_id", "the key the surveys are joined on"),
        ("started_at", "the time that dates each contact, as the sample's interactions are"),
    ):
        if needed not in spec:
            raise DefinitionError(
                f"{spot}: [interactions.columns] needs {needed} ({why}), e.g. "
                + (
                    'interaction_id = "Ticket ID"'
                    if needed == "interaction_id"
                    else 'started_at = "Ticket created - Timestamp"'
                )
            )
    columns = {
        str(name): _rule(str(name), rule, f"{spot} [interactions.columns.{name}]")
        for name, rule in spec.items()
    }
    if derived := [n for n, rule in columns.items() if rule.derive]:
        raise DefinitionError(f"{spot}: [interactions.columns] {derived} cannot be derived")
    lookback = data.get("lookback_days")
    if lookback is not None and (
        not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 0
    ):
        raise DefinitionError(
            f"{spot}: lookback_days = {lookback!r}; give a whole number of days of 0 or more "
            "(how long before a survey its contact may have started, such as 7)"
        )
    read = data.get("read", {})
    if not isinstance(read, dict):
        raise DefinitionError(f"{spot}: [interactions.read] must be a table")
    ambiguous = data.get("ambiguous_times")
    return InteractionFeed(
        read=_read_options(read, f"{spot}"),
        columns=columns,
        lookback_days=lookback,
        timezone=_timezone(data, spot),
        ambiguous_times=None if ambiguous is None else _ambiguous_times(data, spot),
    )


def _timezone(data: dict[str, Any], where: str) -> str | None:
    """The ``timezone`` of a definition's table ``data`` (the source's, or its
    ``[interactions]`` feed's), or None when it sets none.

    Raises DefinitionError naming ``where`` when it is no tz database name."""
    timezone = data.get("timezone")
    if timezone is not None and timezone not in _known_timezones():
        raise DefinitionError(
            f"{where}: timezone = {timezone!r} is not a timezone of the tz database; give an "
            'IANA name such as "Europe/Zurich" or "America/New_York" (`python -c "import '
            'zoneinfo; print(sorted(zoneinfo.available_timezones()))"` lists them)'
        )
    return None if timezone is None else str(timezone)


def _ambiguous_times(data: dict[str, Any], where: str) -> str:
    """The ``ambiguous_times`` of a definition's table ``data`` (the source's, or its
    ``[interactions]`` feed's): ``"quarantine"`` (the default) or ``"earliest"``.

    Raises DefinitionError naming ``where`` for any other value."""
    ambiguous = data.get("ambiguous_times", "quarantine")
    if ambiguous not in ("quarantine", "earliest"):
        raise DefinitionError(
            f'{where}: ambiguous_times = {ambiguous!r}; "quarantine" or "earliest"'
        )
    return str(ambiguous)


def _refuse_a_feed_read_as_utc(
    feed: InteractionFeed | None, timezone: str | None, where: str
) -> None:
    """Raise DefinitionError when an ``[interactions]`` feed sets no ``timezone`` of its own
    under a source whose ``timezone`` is UTC (the typeform preset's: its ``Submit Date
    (UTC)`` is), and the feed's ``started_at`` is read with formats of which none reads a
    UTC offset (``%z``; no format: ISO 8601, which may be naive): its times would be read as
    UTC without a word.

    Found by a UK energy supplier's trial: a call log's London wall-clock times, the
    ``[interactions]`` feed of a Typeform source, were read as UTC, every BST call 3,600 s
    late, and the DST-end night's 01:30 calls taken as 01:30Z without the source's
    ``ambiguous_times``. A contact-centre log or CRM export writes local time more often
    than not; the feed's own ``timezone`` says which."""
    if feed is None or feed.timezone is not None or timezone not in _UTC_NAMES:
        return
    formats = feed.columns["started_at"].formats
    if formats and all("%z" in f for f in formats):
        return
    read = f"with format {list(formats)}" if formats else "as ISO 8601 (no format declared)"
    raise DefinitionError(
        f"{where} [interactions]: the feed sets no timezone, so its started_at times, read "
        f"{read} without a UTC offset, would be taken in the source's timezone = "
        f"\"{timezone}\" (the survey export's own, such as Typeform's Submit Date (UTC)). A call "
        "log or ticket export usually writes local wall-clock time: set the feed's own, e.g. "
        'timezone = "Europe/London" under [interactions] (and ambiguous_times = "earliest" '
        "there to take the earlier of a time the clocks went through twice), or timezone = "
        '"UTC" under [interactions] if its times really are UTC'
    )


def load_definition(source: str | Path) -> SourceDefinition:
    """Parse and check a definition (a preset name or a file, with its ``extends`` chain).

    Raises :class:`DefinitionError` naming the file and the key: an unknown key, a column
    that is not canonical, a feature with no source, a feature that reads the label or a
    column in ``never_features``/``never_store``, a label value other than a root cause.
    """
    path = resolve_definition_path(source)
    data, chain, exact_names = _load_raw(path)
    where = str(path)
    columns_spec = data.get("columns", {})
    if not isinstance(columns_spec, dict):
        raise DefinitionError(f"{where}: [columns] must be a table")
    unknown_columns = sorted(set(columns_spec) - {*CANONICAL_COLUMNS, ROW_COUNTRY})
    if unknown_columns:
        raise DefinitionError(
            f"{where}: [columns] {unknown_columns} are not canonical columns"
            f"{_close_keys(unknown_columns, CANONICAL_COLUMNS)}; keep other facts under "
            f"[attributes]. The canonical columns: {list(CANONICAL_COLUMNS)}"
        )
    columns = {
        name: _rule(name, spec, f"{where} [columns.{name}]") for name, spec in columns_spec.items()
    }
    if "response_id" not in columns:
        raise DefinitionError(
            f'{where}: [columns] needs response_id (or response_id = {{ derive = "row" }} '
            "when the export has no id)"
        )
    if "submitted_at" not in columns:
        raise DefinitionError(f"{where}: [columns] needs submitted_at (it dates each response)")
    attributes: dict[str, tuple[str, ...]] = {}
    optional_attributes: set[str] = set()
    for name, spec in data.get("attributes", {}).items():
        spot = f"{where} [attributes.{name}]"
        if isinstance(spec, dict):
            # { column = "...", required = false }: an export may lack it (a question
            # added mid-quarter), as a [columns] rule's required = false.
            unknown = sorted(set(spec) - {"column", "required"})
            required = spec.get("required", True)
            if unknown or "column" not in spec or not isinstance(required, bool):
                raise DefinitionError(
                    f"{spot}: an attribute is a column name, a list of alternatives, or "
                    '{ column = "...", required = false }'
                    + (f"; unknown key(s) {unknown}" if unknown else "")
                )
            if not required:
                optional_attributes.add(str(name))
            spec = spec["column"]
        attributes[str(name)] = _strings(spec, spot)
    clash = sorted(set(attributes) & set(CANONICAL_COLUMNS))
    if clash:
        raise DefinitionError(f"{where}: [attributes] {clash} are canonical: map them in [columns]")
    negative, negative_at_most = _negative_rule(
        data.get("negative")
        or next((rule for rule in ("csat", "rating") if rule in columns), "none"),
        where,
    )
    if negative in ("csat", "nps", "rating") and negative not in columns:
        raise DefinitionError(
            f'{where}: negative = "{negative}" but [columns] maps no {negative}; map it, or say '
            'negative = "all" (every row is a complaint) or "none"'
        )
    label = data.get("label", {})
    # Matched as a column's values are: trimmed, ignoring case ("Policy Failure" is
    # "policy failure"); a QA team's verdicts vary in case from one auditor to the next.
    label_values: dict[str, str] = {}
    for key, value in label.get("values", {}).items():
        word = str(key).strip().lower()
        if label_values.get(word, str(value)) != str(value):
            raise DefinitionError(
                f"{where}: [label.values] maps {key!r} to {value!r} but another spelling of "
                f"it to {label_values[word]!r}; label words are matched ignoring case"
            )
        label_values[word] = str(value)
    bad_labels = sorted({v for v in label_values.values() if v not in ROOT_CAUSES})
    if bad_labels:
        raise DefinitionError(
            f"{where}: [label.values] may map only to {ROOT_CAUSES}: {bad_labels}"
        )
    words = label.get("not_verdicts", [])
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise DefinitionError(
            f"{where}: [label] not_verdicts must be a list of label words, got {words!r} "
            '(e.g. not_verdicts = ["In progress"])'
        )
    not_verdicts = frozenset(word.strip().lower() for word in words)
    if both := sorted(not_verdicts & set(label_values)):
        raise DefinitionError(
            f"{where}: [label] not_verdicts names {both}, which [label.values] maps to a root "
            "cause; a word is a verdict or not: take it out of one of them (matched ignoring "
            "case)"
        )
    label_column = _strings(label["column"], f"{where} [label]") if "column" in label else ()
    if label_column and not label_values:
        raise DefinitionError(f"{where}: [label] names column {label_column} but no values")
    exclusions = []
    for i, item in enumerate(data.get("exclude", [])):
        spot = f"{where} [[exclude]] #{i + 1}"
        if not {"column", "reason"} <= set(item) or not ({"in", "not_in"} & set(item)):
            raise DefinitionError(f"{spot}: needs column, reason and `in` or `not_in`")
        unless = "not_in" in item
        unanswered = item.get("unanswered", False)
        if not isinstance(unanswered, bool):
            raise DefinitionError(
                f"{spot}: unanswered = {unanswered!r}: write true (the rows are surveys "
                "offered and never answered) or false"
            )
        exclusions.append(
            Exclusion(
                column=str(item["column"]),
                values=tuple(_text(v) for v in item["not_in" if unless else "in"]),
                unless=unless,
                reason=str(item["reason"]),
                unanswered=unanswered,
            )
        )
    # No free text and no [features]: nothing for a model to read (training says so).
    features = _features(data.get("features", {}), where, "comment" in columns)
    never_features = tuple(data.get("never_features", ()))
    never_store = tuple(data.get("never_store", ()))
    # Compared as export columns are matched (case, spaces and punctuation aside): a trial's
    # [attributes] spelt a never_store column in lower case without its brackets, the
    # definition was accepted and the clean layer kept the first names it had to leave.
    private = {column_key(c) for c in never_store}
    # A mapping that reads personal data is named first: it, not [features], is the fix.
    for name, rule in columns.items():
        stored = [alt for group in rule.sources for alt in group if column_key(alt) in private]
        if stored and name != "response_id":
            raise DefinitionError(
                f"{where}: [columns.{name}] reads {stored}, listed in never_store (personal "
                "data stays in raw/); remove the mapping or the never_store entry"
            )
    for name, group in attributes.items():
        if stored := [alt for alt in group if column_key(alt) in private]:
            raise DefinitionError(
                f"{where}: [attributes.{name}] reads {stored}, listed in never_store (personal "
                "data stays in raw/); remove the attribute or the never_store entry"
            )
    feed = _interaction_feed(data.get("interactions"), where)
    if feed is not None:
        for name, rule in feed.columns.items():
            stored = [alt for group in rule.sources for alt in group if column_key(alt) in private]
            if stored:
                raise DefinitionError(
                    f"{where}: [interactions.columns.{name}] reads {stored}, listed in "
                    "never_store (personal data stays in raw/); remove the mapping or the "
                    "never_store entry"
                )
    forbidden = {column_key(c) for c in (*never_features, *never_store, *label_column)}
    # The feed's facts are columns of the clean rows too (joined on interaction_id).
    feed_columns = {} if feed is None else feed.columns
    # The per-row country is not landed, so it is no feature (an attribute may be).
    row_columns = {k: v for k, v in columns.items() if k != ROW_COUNTRY}
    known = {*row_columns, *attributes, *feed_columns}
    used = (features.text, *features.facts, *(c for x in features.crosses for c in x))
    for name in (n for n in used if n):
        if name not in known:
            hint = (
                f"; [columns] {ROW_COUNTRY} only chooses each row's phone numbering plan and "
                "is not kept in the rows: to use the country as a feature, map its column "
                'under [attributes] too (market = "Country") and name that attribute'
                if name == ROW_COUNTRY and ROW_COUNTRY in columns
                else ""
            )
            raise DefinitionError(
                f"{where}: feature {name!r} has no source in [columns], [attributes] or "
                f"[interactions.columns]{hint}"
            )
        reads = (
            row_columns[name].sources
            if name in row_columns
            else (attributes[name],)
            if name in attributes
            else feed_columns[name].sources
        )
        # The columns by name: the rule's tuple of alternatives read "reads
        # (('company-public-response',),)" in a data scientist's trial.
        leaking = dict.fromkeys(a for g in reads for a in g if column_key(a) in forbidden)
        if leaking:
            said = ", ".join(repr(alt) for alt in leaking)
            raise DefinitionError(
                f"{where}: feature {name!r} reads column{'s' if len(leaking) > 1 else ''} "
                f"{said}, which is the label or listed in never_features / never_store; "
                "remove it from [features]"
            )
    partition = data.get("partition", "day")
    if partition not in ("day", "month"):
        raise DefinitionError(f'{where}: partition = {partition!r}; use "day" or "month"')
    max_comment_chars = data.get("max_comment_chars")
    if max_comment_chars is not None and (
        not isinstance(max_comment_chars, int)
        or isinstance(max_comment_chars, bool)
        or max_comment_chars < 1
    ):
        raise DefinitionError(
            f"{where}: max_comment_chars = {max_comment_chars!r}; give a whole number of "
            "characters, such as 50000"
        )
    ambiguous = _ambiguous_times(data, where)
    audit_date_order = str(data.get("audit_date_order", "")).strip().lower()
    if audit_date_order not in ("", *AUDIT_DATE_ORDERS):
        raise DefinitionError(
            f"{where}: audit_date_order = {data.get('audit_date_order')!r}; use "
            f"{' or '.join(map(repr, AUDIT_DATE_ORDERS))} (how QA's slashed dates such as "
            "03/12/2026 read in this source's audit files)"
        )
    name = str(data.get("name", path.stem))
    if not SOURCE_NAME.fullmatch(name):
        raise DefinitionError(
            f"{where}: name = {name!r}: a source's name becomes folder names (its inbox, raw "
            "copies and partitions); use letters, digits, '-', '_' and '.', starting with a "
            'letter or digit, at most 64 characters (name = "acme-qualtrics")'
        )
    timezone = _timezone(data, where)
    _refuse_a_feed_read_as_utc(feed, timezone, where)
    return SourceDefinition(
        name=name,
        path=path,
        description=str(data.get("description", "")),
        read=_read_options(data.get("read", {}), where),
        columns=columns,
        attributes=attributes,
        features=features,
        never_store=never_store,
        never_features=never_features,
        exclude=tuple(exclusions),
        label_column=label_column,
        label_values=label_values,
        not_verdicts=not_verdicts,
        negative=negative,
        negative_at_most=negative_at_most,
        timezone=timezone,
        country=str(data.get("country", "GB")),
        partition=partition,
        pseudonymise_agents=bool(data.get("pseudonymise_agents", True)),
        ambiguous_times=ambiguous,
        max_comment_chars=max_comment_chars,
        audit_date_order=audit_date_order,
        extends=chain,
        exact_names=exact_names,
        interactions=feed,
        expected_columns=_strings(data.get("expected_columns", []), f"{where} expected_columns"),
        optional_attributes=frozenset(optional_attributes),
    )
