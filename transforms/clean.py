"""Cleaning as pure functions of frames: no paths, no environment, no Prefect.

Raw text columns become typed columns here. A value that is present but cannot be parsed
becomes :data:`UNPARSEABLE` (scores) or null (timestamps) while the raw text is kept beside it
as ``<column>_raw``, so validation can reject the row and say exactly which value was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from transforms.formatting import formatted_text
from transforms.language import base_language
from transforms.schemas import (
    ABANDONED,
    CHANNELS,
    CONTACT_SCHEMA,
    NEGATIVE_CSAT_MAX,
    RAW_INTERACTION_SCHEMA,
    RESOLVED_FLAG,
    conform,
)

#: Marks a score that was present in the export but is not a number; always out of range.
UNPARSEABLE = -1

#: Spellings seen in vendor exports, mapped to the canonical channel.
CHANNEL_ALIASES: dict[str, str] = {
    "voice": "phone",
    "tel": "phone",
    "telephone": "phone",
    "call": "phone",
    "live chat": "chat",
    "livechat": "chat",
    "webchat": "chat",
    "e-mail": "email",
    "mail": "email",
    "in-store": "store",
    "instore": "store",
    "in store": "store",
    "shop": "store",
    "web form": "web",
    "webform": "web",
    "online": "web",
    "website": "web",
}

#: Columns whose raw text is kept next to the parsed value for error messages.
PARSED_SURVEY_COLUMNS: tuple[str, ...] = (
    "submitted_at",
    "channel",
    "csat",
    "nps",
    "effort",
    "delivered_at",
)
#: Interaction facts a survey row may carry itself (a call log, a complaints export), by type.
ROW_NUMBER_COLUMNS: tuple[str, ...] = ("wait_seconds", "handle_seconds", "fees_charged")
ROW_COUNT_COLUMNS: tuple[str, ...] = ("transfers", "prior_contacts")
ROW_FLAG_COLUMNS: tuple[str, ...] = ("sla_met", "policy_disclosed", RESOLVED_FLAG, ABANDONED)
ROW_TEXT_COLUMNS: tuple[str, ...] = ("customer_id", "agent_id")
ROW_TIMESTAMP_COLUMNS: tuple[str, ...] = ("started_at",)
#: Two-level satisfaction (Zendesk's good/bad): carried as it is, never turned into csat.
RATINGS: tuple[str, ...] = ("good", "bad")
#: Seconds per unit of a duration written as a number.
UNIT_SECONDS: dict[str, float] = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
#: What a naive local time that cannot be placed on the UTC line is called in ``<col>_dst``.
NONEXISTENT = "nonexistent"
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class ParseOptions:
    """How an export's text becomes types (built from its source definition).

    ``timezone`` places naive local times (with the tz database's daylight-saving rules);
    ``business_timezone`` turns submitted times into survey dates. ``formats`` holds a
    strftime format per timestamp column (absent: ISO 8601, offset optional). A naive time
    the clocks skip is never shifted: it is null with ``<column>_dst = "nonexistent"``; one
    they pass twice is null with ``"ambiguous"`` unless ``ambiguous = "earliest"``.
    ``units`` gives a duration unit per numeric column (seconds, minutes, hours, h:mm:ss).
    """

    timezone: str
    business_timezone: str | None = None
    formats: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ambiguous: str = "earliest"
    decimal_comma: bool = False
    thousands: str = ""
    units: dict[str, str] = field(default_factory=dict)
    #: The text comes from a workbook, whose number cells reach it as Excel writes a number
    #: (``4.95``) whatever ``decimal_comma`` and ``thousands`` say of its text cells.
    workbook: bool = False


#: A run of whitespace that is not already one plain space: replacing these with one space
#: is ``\s+`` -> ``" "`` exactly, without rewriting the single space between every two
#: words (five times faster on comments).
WHITESPACE_RUN = r"\s{2,}|[^\S ]"
#: Control characters but tab, newline and carriage return (whitespace, collapsed instead).
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
#: A comment's line break as Windows or an old Mac writes it (CR LF, or CR alone): it
#: becomes LF. Each pattern below starts with a rare character or a two-character literal:
#: one that could start at any space (`` ?\n ?``) cost 0.06 s a pass over 1M comments, these
#: about 0.025 s.
LINE_BREAK = r"\r\n?"
#: In a comment, whitespace that is not a line break (tabs, no-break and other spaces, and
#: U+2028): a run of it becomes one space, and so does one such space that is not plain.
SPACE_RUN = r"[^\S\n]{2,}|[^\S \n]"
#: The one space :data:`SPACE_RUN` leaves beside a line break: it goes.
BESIDE_BREAK = r"\n | \n ?"
#: More than one blank line in a row: one is kept.
BLANK_LINES = r"\n{3,}"


def normalised_channel(column: str = "channel") -> pl.Expr:
    """Lower-case, trim and collapse a channel, then map known aliases to the canonical name."""
    text = pl.col(column).str.strip_chars().str.to_lowercase().str.replace_all(WHITESPACE_RUN, " ")
    return text.replace(CHANNEL_ALIASES).alias(column)


#: A score's text: its number (digits, the marks a number is written with, spaces between
#: thousands) and, after a dash, an optional label (``4 - Satisfied``); group 1 is the number.
SCORE_TEXT = r"^([+-]?\d[\d.,'\u00a0\u202f\u2009 ]*?)\s*(?:-.*)?$"


def score_number(text: pl.Expr) -> pl.Expr:
    """The number of a score's ``text`` (:data:`SCORE_TEXT`: ``4 - Satisfied`` -> ``4``,
    ``1.000`` as it is), trimmed; null when the text does not start with a digit."""
    return text.str.strip_chars().str.extract(SCORE_TEXT, 1)


def parsed_score(
    column: str, decimal_comma: bool = False, thousands: str = "", workbook: bool = False
) -> pl.Expr:
    """A score (Int8) written ``4``, `` 4 ``, ``4 - Satisfied``, or as a whole number with
    zero decimals (``4,0`` with ``decimal_comma``, ``4.00`` without: a spreadsheet's number
    format; a trial's European export wrote ``4,0``, quarantined as not a score).

    The number (:func:`score_number`) is read as every number a row carries is, with the
    definition's decimal mark and thousands separator (:func:`read_number`): with
    ``decimal_comma`` and ``thousands = "."``, ``1.000`` is 1000 (out of every scale, so
    quarantined), not 1 (found by a French insurer's trial: a Lisbon BPO's nps ``1.000`` was
    kept as 1); ``1,000`` is 1. Empty means missing (null); a number that is not whole
    (``4,5``), not written the definition's way (``4.5`` or ``1.0`` with a decimal comma),
    or no number at all is :data:`UNPARSEABLE`; a whole number above 127 reads as 127 (out
    of every scale as it is).
    """
    text = pl.col(column).cast(pl.String).str.strip_chars()
    number = read_number(score_number(text), decimal_comma, thousands, workbook)
    whole = (number.is_finite() & (number == number.round(0))).fill_null(False)
    return (
        pl.when(text.is_null() | (text == ""))
        .then(None)
        .when(whole)
        .then(number.clip(UNPARSEABLE, 127))
        .otherwise(UNPARSEABLE)
        .cast(pl.Int8)
        .alias(column)
    )


def _parsed_local(text: pl.Expr, fmt: str) -> tuple[pl.Expr, pl.Expr]:
    """(UTC instant when the text has an offset, naive local time when it has none) for one
    format; ``"iso"`` reads ISO 8601 with or without an offset, or a bare date."""
    if fmt == "iso":
        iso = text.str.replace(r"[Zz]$", "+00:00").str.replace(" ", "T")
        with_offset = iso.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC", time_unit="us"
        )
        # A bare date is its midnight: padded to one (a second parse of every text, to
        # read the few bare dates, cost a 1M-row column 0.15-0.3 s).
        padded = pl.when(iso.str.len_bytes() == 10).then(iso + "T00:00:00").otherwise(iso)
        naive = padded.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
        return with_offset, naive
    if "%z" in fmt or "%Z" in fmt:
        # chrono's %z wants a numeric offset; ISO 8601 writes UTC as "Z" (a trial's audit
        # file had 2026-12-03T09:00Z set aside as "not a date QA writes").
        zulu = text.str.replace(r"[Zz]$", "+00:00") if "%z" in fmt else text
        parsed = zulu.str.to_datetime(fmt, strict=False, time_unit="us")
        return four_digit_years(parsed.dt.convert_time_zone("UTC"), fmt), pl.lit(
            None, pl.Datetime("us")
        )
    if not any(code in fmt for code in ("%H", "%I", "%M", "%S", "%T", "%R")):
        naive = text.str.to_date(fmt, strict=False).cast(pl.Datetime("us"))
    else:
        naive = text.str.to_datetime(fmt, strict=False, time_unit="us")
    return pl.lit(None, pl.Datetime("us", "UTC")), four_digit_years(naive, fmt)


#: Month names and abbreviations of the languages a definition can declare its dates are
#: written in (``month_names`` in ``[read]``), by English month: CLDR's wide and abbreviated
#: forms (an abbreviation's own full stop is part of it: ``déc.``, ``Dez.``), with the
#: spellings without accents that exports also carry. Polars reads only English ones for
#: ``%b`` and ``%B``: a French trial's ``5 déc. 2026`` could never be read.
MONTH_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "fr": {
        "January": ("janvier", "janv"),
        "February": ("février", "fevrier", "févr", "fevr", "fév", "fev"),
        "March": ("mars",),
        "April": ("avril", "avr"),
        "May": ("mai",),
        "June": ("juin",),
        "July": ("juillet", "juil"),
        "August": ("août", "aout", "aoû"),
        "September": ("septembre", "sept"),
        "October": ("octobre", "oct"),
        "November": ("novembre", "nov"),
        "December": ("décembre", "decembre", "déc", "dec"),
    },
    "de": {
        "January": ("januar", "jänner", "jan"),
        "February": ("februar", "feb"),
        "March": ("märz", "maerz", "mär", "mrz"),
        "April": ("april", "apr"),
        "May": ("mai",),
        "June": ("juni", "jun"),
        "July": ("juli", "jul"),
        "August": ("august", "aug"),
        "September": ("september", "sept", "sep"),
        "October": ("oktober", "okt"),
        "November": ("november", "nov"),
        "December": ("dezember", "dez"),
    },
    "nl": {
        "January": ("januari", "jan"),
        "February": ("februari", "feb"),
        "March": ("maart", "mrt", "mar"),
        "April": ("april", "apr"),
        "May": ("mei",),
        "June": ("juni", "jun"),
        "July": ("juli", "jul"),
        "August": ("augustus", "aug"),
        "September": ("september", "sept", "sep"),
        "October": ("oktober", "okt"),
        "November": ("november", "nov"),
        "December": ("december", "dec"),
    },
    "es": {
        "January": ("enero", "ene"),
        "February": ("febrero", "feb"),
        "March": ("marzo", "mar"),
        "April": ("abril", "abr"),
        "May": ("mayo", "may"),
        "June": ("junio", "jun"),
        "July": ("julio", "jul"),
        "August": ("agosto", "ago"),
        "September": ("septiembre", "setiembre", "sept", "sep", "set"),
        "October": ("octubre", "oct"),
        "November": ("noviembre", "nov"),
        "December": ("diciembre", "dic"),
    },
}
#: strftime codes that read a month's name.
MONTH_NAME_CODES: tuple[str, ...] = ("%b", "%B", "%h")


def english_month_names(text: pl.Expr, language: str) -> pl.Expr:
    """``text`` with each month name or abbreviation of ``language`` (a key of
    :data:`MONTH_NAMES`), in any case and with the full stop an abbreviation takes, written
    as the English month's abbreviation, which both ``%b`` and ``%B`` read (``5 déc. 2026``
    -> ``5 Dec 2026``, ``5. Dezember 2026`` -> ``5. Dec 2026``). Only whole words are
    replaced. Raises KeyError for a language it has no names of."""
    for english, names in MONTH_NAMES[language].items():
        words = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        text = text.str.replace_all(rf"(?i)\b(?:{words})\b\.?", english[:3])
    return text


#: strftime codes of a time of day: a format without any of them writes a date alone.
TIME_CODES: tuple[str, ...] = ("%H", "%I", "%M", "%S", "%T", "%R", "%z", "%Z", "%s", "%c")


def written_date(column: str, formats: tuple[str, ...] = ()) -> pl.Expr:
    """The calendar date (pl.Date) of a timestamp text written as a date alone, with no time
    of day, as the first of ``formats`` that reads it reads it (``"iso"``: ``2016-08-18``);
    null where the text has a time or no format reads it.

    Such a text names a day, not an instant: a survey dated ``08-18-2016`` (SurveyMonkey's
    ``EndDate``, CFPB's ``Date received``) belongs to 18 August wherever it was answered.
    Its ``submitted_at`` is midnight in the export's timezone, which in a business timezone
    to the west falls on the day before: a trial's Europe/Berlin export was filed a day
    early under Europe/London. Callers date such a row by this day instead."""
    text = pl.col(column).str.strip_chars()
    readings: list[tuple[pl.Expr, pl.Expr]] = []
    for fmt in formats or ("iso",):
        with_offset, naive = _parsed_local(text, fmt)
        day: pl.Expr
        if fmt == "iso":
            day = pl.when(text.str.len_bytes() == 10).then(naive.dt.date())
        elif any(code in fmt for code in TIME_CODES):
            day = pl.lit(None, pl.Date)
        else:
            day = naive.dt.date()
        readings.append((with_offset.is_not_null() | naive.is_not_null(), day))
    chosen = pl.lit(None, pl.Date)
    for read, day in reversed(readings):
        chosen = pl.when(read).then(day).otherwise(chosen)
    return chosen.alias(column)


def survey_day(
    parsed: pl.Expr, text_column: str, business_timezone: str, formats: tuple[str, ...] = ()
) -> pl.Expr:
    """The survey date (pl.Date) of a timestamp: the day its text in ``text_column`` writes
    when that is a date alone (:func:`written_date`), else the day of ``parsed`` (the text
    as :func:`parsed_timestamp` or :func:`dating_timestamp` read it, a UTC datetime) in
    ``business_timezone`` (an IANA name). Null where neither reads."""
    return pl.coalesce(
        written_date(text_column, formats),
        parsed.dt.convert_time_zone(business_timezone).dt.date(),
    )


def response_day(business_timezone: str) -> pl.Expr:
    """Each clean row's own day (pl.Date): its ``submitted_at`` (UTC) on the calendar of
    ``business_timezone`` (an IANA name), else its ``survey_date``. A monthly or weekly
    partition's ``survey_date`` is the period's first day, not the row's: CFPB's March
    complaints all read 2026-03-01."""
    return (
        pl.col("submitted_at")
        .dt.convert_time_zone(business_timezone)
        .dt.date()
        .fill_null(pl.col("survey_date"))
    )


#: A spreadsheet's date serial number (days since 1899-12-30) of the years 2000-2099, and
#: any time of day after it: a date column saved as CSV after its cells lost their date
#: format (a trial's audit "46346"; a call log's "46322 10:00:00", date and time columns
#: joined).
SPREADSHEET_SERIAL = (
    r"^\s*((?:3[6-9]|[4-6]\d|7[0-2])\d{3}(?:\.\d+)?)(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?\s*$"
)


def spreadsheet_serial_date(text: pl.Expr) -> pl.Expr:
    """The date a spreadsheet's date serial number in ``text`` stands for (``46322`` ->
    2026-10-27), null where ``text`` is not one (:data:`SPREADSHEET_SERIAL`). Said by the
    audits' reasons and the surveys' alike."""
    days = text.str.extract(SPREADSHEET_SERIAL, 1).cast(pl.Float64, strict=False)
    return (pl.lit(date(1899, 12, 30)) + pl.duration(days=days)).dt.date()


def four_digit_years(parsed: pl.Expr, fmt: str) -> pl.Expr:
    """``parsed`` (text read with ``fmt``), null where ``%Y`` read a year under 1000: polars'
    ``%Y`` takes ``26`` as the year 26, so ``11/23/26`` matched ``%m/%d/%Y`` before a
    ``%m/%d/%y`` listed after it could, and a trial's ``01/01/21`` against ``%d/%m/%Y`` was
    said to read with day and month swapped."""
    if "%Y" not in fmt:
        return parsed
    return pl.when(parsed.dt.year() >= 1000).then(parsed).otherwise(None)


def _naive_and_offset(
    column: str, formats: tuple[str, ...], only: pl.Expr | None = None
) -> tuple[pl.Expr, pl.Expr]:
    """The text of ``column`` read (with its offset, as a naive local time) by the first of
    ``formats`` that reads it each way; with ``only``, the rows it leaves out are read as
    null (they are not parsed at all)."""
    text = pl.col(column).str.strip_chars()
    if only is not None:
        text = pl.when(only).then(text)
    pairs = [_parsed_local(text, fmt) for fmt in formats or ("iso",)]
    if len(pairs) == 1:
        return pairs[0]
    return pl.coalesce(p[0] for p in pairs), pl.coalesce(p[1] for p in pairs)


#: How each strftime field of a declared format is written, for :func:`no_such_day`.
_FORMAT_FIELDS = {
    "%d": r"(?P<day>\d{1,2})",
    "%m": r"(?P<month>\d{1,2})",
    "%Y": r"(?P<year>\d{4})",
    "%H": r"\d{1,2}",
    "%I": r"\d{1,2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
    "%p": r"[AaPp]\.?[Mm]\.?",
}


def no_such_day(raw: pl.Expr, declared: str) -> pl.Expr:
    """Whether the text ``raw`` is written as one of the ``declared`` formats (several
    joined by " or ") but names a day its month does not have (29.02.2026, 31.04.2026):
    such a value was told it is "not a timestamp", which sent an analyst's trial looking
    for a format problem. Formats with fields other than :data:`_FORMAT_FIELDS` are not
    looked at (False)."""
    found = pl.lit(False)
    for fmt in declared.split(" or "):
        pieces = re.split(r"(%.)", fmt)
        if any(p.startswith("%") and p not in _FORMAT_FIELDS for p in pieces) or not all(
            f in fmt for f in ("%d", "%m", "%Y")
        ):
            continue
        pattern = "^" + "".join(_FORMAT_FIELDS.get(p, re.escape(p)) for p in pieces) + "$"
        parts = raw.str.strip_chars().str.extract_groups(pattern)
        day, month, year = (
            parts.struct.field(name).cast(pl.Int32, strict=False)
            for name in ("day", "month", "year")
        )
        month_ok = month.is_between(1, 12)
        last = pl.date(year, pl.when(month_ok).then(month).otherwise(1), 1).dt.month_end().dt.day()
        found = found | (month_ok & day.is_between(1, 31) & (day > last)).fill_null(False)
    return found


def parsed_timestamp(
    column: str,
    timezone: str,
    formats: tuple[str, ...] = (),
    ambiguous: str = "earliest",
) -> pl.Expr:
    """Parse timestamps to UTC: ISO with an offset, a ``Z``, or none (taken as ``timezone``),
    or text in one of the strftime ``formats`` (tried in order; ``"iso"`` is ISO 8601). See
    :func:`local_time_problem` for the naive times daylight saving makes impossible or
    ambiguous (null here, unless ``ambiguous`` is ``"earliest"``)."""
    with_offset, naive = _naive_and_offset(column, formats)
    earliest, latest = _zoned(naive, timezone)
    return _utc_instant(with_offset, earliest, latest, ambiguous).alias(column)


def offset_instant(column: str, formats: tuple[str, ...] = ()) -> pl.Expr:
    """The instant (UTC) of a text of ``column`` read with its own offset (or ``Z``) by the
    first of ``formats`` that reads it so (ISO 8601 where none); null for a text with no
    offset or none that reads. Where not null, it is :func:`parsed_timestamp` of the text
    with ``formats`` followed by any others: an offset reading wins over a naive one, and
    the timezone is not needed."""
    return _naive_and_offset(column, formats)[0].alias(column)


def _zoned(naive: pl.Expr, timezone: str) -> tuple[pl.Expr, pl.Expr]:
    """The naive local times ``naive`` in ``timezone`` read as their earliest and their
    latest instant: the same where the time is unambiguous, both null where the clocks skip
    it."""
    earliest, latest = (
        naive.dt.replace_time_zone(timezone, ambiguous=side, non_existent="null")
        for side in ("earliest", "latest")
    )
    return earliest, latest


def _utc_instant(
    with_offset: pl.Expr, earliest: pl.Expr, latest: pl.Expr, ambiguous: str
) -> pl.Expr:
    """The instant in UTC: the text's own offset, else its local time (``earliest`` and
    ``latest``, :func:`_zoned`); a time the clocks pass twice is its earlier instant when
    ``ambiguous`` is ``"earliest"``, else null."""
    local = earliest if ambiguous == "earliest" else pl.when(earliest == latest).then(earliest)
    return pl.coalesce(with_offset, local.dt.convert_time_zone("UTC"))


def _dst_problem(
    with_offset: pl.Expr, naive: pl.Expr, earliest: pl.Expr, latest: pl.Expr, ambiguous: str
) -> pl.Expr:
    """:func:`local_time_problem` from the text's readings (:func:`_naive_and_offset`,
    :func:`_zoned`)."""
    nonexistent = with_offset.is_null() & naive.is_not_null() & earliest.is_null()
    if ambiguous == "earliest":
        return pl.when(nonexistent).then(pl.lit(NONEXISTENT)).otherwise(None)
    return (
        pl.when(nonexistent)
        .then(pl.lit(NONEXISTENT))
        .when(with_offset.is_null() & (earliest != latest))
        .then(pl.lit(AMBIGUOUS))
        .otherwise(None)
    )


def with_parsed_timestamps(
    frame: pl.LazyFrame,
    columns: Collection[str],
    timezone: str,
    formats: Mapping[str, tuple[str, ...]],
    ambiguous: str = "earliest",
    flag_dst: Collection[str] = (),
) -> pl.LazyFrame:
    """``frame`` with each text column of ``columns`` replaced by :func:`parsed_timestamp`
    of it (its ``formats`` by name, ISO 8601 where none), and :func:`local_time_problem` as
    ``<column>_dst`` for those in ``flag_dst``: the same values, computed in stages so that
    each reading of a text (with its offset, naive, and the naive time's earliest and latest
    instant in ``timezone``) is computed once. One ``select`` of both expressions read each
    text four times over: polars 2.1 shares no sub-expression of it (its plan repeats each),
    and a 100k-row survey export's ``submitted_at`` took 0.116 s against 0.029 s staged."""
    names = list(columns)
    part = "__{}_{}".format
    # The naive reading only where there is no offset: the offset is what is used there,
    # and a 100k-row column's naive parse costs 0.016 s.
    offsets = [_naive_and_offset(n, formats.get(n, ()))[0].alias(part(n, "offset")) for n in names]
    naives = [
        _naive_and_offset(n, formats.get(n, ()), pl.col(part(n, "offset")).is_null())[1].alias(
            part(n, "naive")
        )
        for n in names
    ]
    zoned = [
        instant.alias(part(name, side))
        for name in names
        for side, instant in zip(
            ("earliest", "latest"), _zoned(pl.col(part(name, "naive")), timezone), strict=True
        )
    ]
    final: list[pl.Expr] = []
    for name in names:
        with_offset, naive, earliest, latest = (
            pl.col(part(name, p)) for p in ("offset", "naive", "earliest", "latest")
        )
        final.append(_utc_instant(with_offset, earliest, latest, ambiguous).alias(name))
        if name in flag_dst:
            problem = _dst_problem(with_offset, naive, earliest, latest, ambiguous)
            final.append(problem.alias(f"{name}_dst"))
    helpers = [part(n, p) for n in names for p in ("offset", "naive", "earliest", "latest")]
    return (
        frame.with_columns(offsets)
        .with_columns(naives)
        .with_columns(zoned)
        .with_columns(final)
        .drop(helpers)
    )


def dating_timestamp(column: str, timezone: str, formats: tuple[str, ...] = ()) -> pl.Expr:
    """:func:`parsed_timestamp` for dating a row only (the partition it lands in): a naive
    time the clocks skip in ``timezone`` is read an hour later instead of null, so its row
    lands on the day it names. The row is still quarantined for it
    (:func:`local_time_problem`); dated by its delivery instead, each re-delivery of the
    export landed it in another partition, where the newer copy could not supersede it."""
    with_offset, naive = _naive_and_offset(column, formats)
    return pl.coalesce(with_offset, local_to_utc_forward(naive, timezone)).alias(column)


def time_to_the_minute(text: pl.Expr, formats: tuple[str, ...] = ()) -> pl.Expr:
    """``text`` (a time as an export writes it) read by the first of ``formats`` that reads
    it (ISO 8601 where none) and written to the minute, as it is written (a naive local
    time, ``2026-11-30 09:09``; one with an offset in UTC, ``2026-11-30 09:09Z``); the text
    itself where none reads it. Two copies of one time agree however each was written:
    Excel's re-save drops the seconds and writes the day first (``30.11.2026 09:09``)."""
    pairs = [_parsed_local(text, fmt) for fmt in formats or ("iso",)]
    naive = pl.coalesce(p[1] for p in pairs).dt.strftime("%Y-%m-%d %H:%M")
    with_offset = pl.coalesce(p[0] for p in pairs).dt.strftime("%Y-%m-%d %H:%MZ")
    return pl.coalesce(with_offset, naive, text)


def local_to_utc_forward(naive: pl.Expr, timezone: str) -> pl.Expr:
    """Naive local times of ``timezone`` in UTC, a time the clocks skip (spring forward)
    read an hour later, as a clock shows it, and a repeated one as its earlier instant.
    For dating and for generating rows, never for a row's own time (which such a time
    quarantines: :func:`local_time_problem`)."""
    zoned = [
        (naive + pl.duration(hours=shift)).dt.replace_time_zone(
            timezone, ambiguous="earliest", non_existent="null"
        )
        for shift in (0, 1)
    ]
    return pl.coalesce(zoned).dt.convert_time_zone("UTC")


def local_time_problem(
    column: str, timezone: str, formats: tuple[str, ...] = (), ambiguous: str = "null"
) -> pl.Expr:
    """``"nonexistent"`` for a naive local time the clocks skip in ``timezone`` (spring
    forward), ``"ambiguous"`` for one they pass twice (autumn), null otherwise.

    Read from the raw text as :func:`parsed_timestamp` reads it; texts with an offset are
    never a problem. Named ``<column>_dst`` by :func:`normalise_surveys`. With
    ``ambiguous="earliest"`` (the earlier instant is taken) only nonexistent times are one.
    """
    with_offset, naive = _naive_and_offset(column, formats)
    earliest, latest = _zoned(naive, timezone)
    return _dst_problem(with_offset, naive, earliest, latest, ambiguous).alias(f"{column}_dst")


#: A number column's value for text that is not a number the way the export writes them:
#: below every valid value, so the row suite's "0 or more" check quarantines the row, quoting
#: the text (kept as ``<column>_raw``). Never in the clean layer.
UNREADABLE_NUMBER = float("-inf")


#: The characters a space between thousands is written with: a plain space, a no-break
#: space (U+00A0), a narrow no-break space (U+202F, what current fr-FR Excel and CLDR's
#: French locale write: a French trial's ``1\u202f299,99`` was refused as not a number
#: written with a space between thousands) and a thin space (U+2009). A definition
#: declaring any of them as ``thousands`` reads all four.
THOUSANDS_SPACES = " \u00a0\u202f\u2009"


def thousands_separator(thousands: str) -> str:
    """A regular expression for one thousands separator as declared (``"."``, ``"'"``), or
    any of :data:`THOUSANDS_SPACES` for a space of any of their kinds."""
    if len(thousands) == 1 and thousands in THOUSANDS_SPACES:
        return f"[{THOUSANDS_SPACES}]"
    return re.escape(thousands)


def number_pattern(decimal_comma: bool, thousands: str) -> str:
    """A regular expression for a number as the export writes it: optional sign, digits
    (with ``thousands`` only between groups of three, ``1.299``, never ``4.5``; a space
    of any kind, :func:`thousands_separator`), optional decimals after the decimal mark
    (``,`` with ``decimal_comma``, else ``.``)."""
    point = "," if decimal_comma else r"\."
    whole = r"\d+"
    if thousands:
        whole = rf"(?:\d{{1,3}}(?:{thousands_separator(thousands)}\d{{3}})+|\d+)"
    return rf"^[+-]?(?:{whole}(?:{point}\d*)?|{point}\d+)$"


#: A number cell of a workbook as its reader writes it (a decimal point, no thousands
#: separator, an exponent for the very large or small): ``4.95``, ``1299``, ``1E-05``.
WORKBOOK_NUMBER = r"^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$"


def read_number(
    text: pl.Expr, decimal_comma: bool = False, thousands: str = "", workbook: bool = False
) -> pl.Expr:
    """``text`` (an expression of text) read as a number written the export's way
    (Float64): ``1.299,99`` with a decimal comma and a thousands dot; ``1 299,99`` with any
    space of :data:`THOUSANDS_SPACES` where the definition says a space; null when null or
    empty, :data:`UNREADABLE_NUMBER` when the text is not such a number.

    With a thousands separator the digit groups must be of three: ``4.5`` or ``12.50`` with
    ``thousands = "."`` is a number written another way (a point decimal), not 45 or 1250.
    ``workbook``: the text comes from a workbook, where a number cell reads as
    :data:`WORKBOOK_NUMBER` whatever the definition says of text (found by a trial: a German
    Forms workbook with ``decimal_comma = true`` had its fee cells 4.95 and 12.5
    quarantined); only its text cells are read the export's way. (A text cell ``1.299``
    meaning 1299 in a workbook reads as 1.299.) The one reading of numbers, scores
    (:func:`parsed_score`) and counts included.
    """
    text = text.cast(pl.String).str.strip_chars()
    readable = text.str.contains(number_pattern(decimal_comma, thousands))
    digits = text
    if thousands:
        digits = digits.str.replace_all(thousands_separator(thousands), "")
    if decimal_comma:
        digits = digits.str.replace(",", ".", literal=True)
    if workbook and (decimal_comma or thousands):
        as_cell = text.str.contains(WORKBOOK_NUMBER)
        digits = pl.when(as_cell).then(text).otherwise(digits)
        readable = readable | as_cell
    return (
        pl.when(text.is_null() | (text == ""))
        .then(None)
        .when(readable)
        .then(digits.cast(pl.Float64, strict=False))
        .otherwise(UNREADABLE_NUMBER)
    )


def parsed_number(
    column: str, decimal_comma: bool = False, thousands: str = "", workbook: bool = False
) -> pl.Expr:
    """Column ``column`` read as a number written the export's way (:func:`read_number`)."""
    return read_number(pl.col(column), decimal_comma, thousands, workbook).alias(column)


def parsed_count(
    column: str, decimal_comma: bool = False, workbook: bool = False, thousands: str = ""
) -> pl.Expr:
    """A count (transfers, prior contacts) as Int16: null when empty, :data:`UNPARSEABLE`
    (below every valid count) when not a whole number from 0 to 32767, read with the
    definition's decimal mark and thousands separator (``workbook``: as
    :func:`read_number`)."""
    number = parsed_number(column, decimal_comma, thousands, workbook)
    whole = number.is_finite() & (number == number.round(0)) & number.is_between(0, 32767)
    return (
        pl.when(number.is_null())
        .then(None)
        .when(whole)
        .then(number)
        .otherwise(UNPARSEABLE)
        .cast(pl.Int16)
        .alias(column)
    )


#: A duration written on a clock (``unit = "h:mm:ss"``): ``H:MM:SS``, the hours any count
#: and the minutes one or two digits, or ``M:SS``, the minutes any count (the leading unit,
#: as the hours are: Excel's ``[m]:ss`` elapsed-time format writes ``75:30``); the seconds
#: two digits, a decimal fraction allowed (``0:05:03.5``, ``0:05:03,5``). Groups: hours,
#: minutes of H:MM:SS, minutes of M:SS, seconds.
CLOCK_DURATION = r"^(?:(\d+):(\d{1,2})|(\d+)):(\d{2}(?:[.,]\d+)?)$"
#: A bare zero (``0``, ``00``, ``0.0``, ``0,0``) in a column read as a clock's duration: zero
#: is zero in any unit, whichever the decimal mark, so it reads as 0 s; any other bare number
#: stays unreadable (``90`` may be seconds or minutes). A trial's call log wrote an
#: unanswered call's ``AvgTalkDuration`` as ``0``, and every such call was quarantined.
BARE_ZERO_DURATION = r"^0+(?:[.,]0+)?$"
#: The largest minutes (of H:MM:SS) and seconds a clock shows: a clock's 0-59.
CLOCK_PART_MAX = 59


def _clock_parts(column: str | pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The text of ``column`` (a column's name, or an expression of text) trimmed, and its
    groups of :data:`CLOCK_DURATION` (a struct of fields ``"1"`` to ``"4"``, each null where
    the text is not so shaped)."""
    text = (pl.col(column) if isinstance(column, str) else column).cast(pl.String)
    text = text.str.strip_chars()
    return text, text.str.extract_groups(CLOCK_DURATION)


def clock_duration_problem(column: str | pl.Expr) -> pl.Expr:
    """What is wrong with a duration written ``H:MM:SS`` or ``M:SS`` (``unit="h:mm:ss"``)
    that has the shape (:data:`CLOCK_DURATION`) but not a clock's values: ``minutes 99 are
    not 0-59`` (the minutes of H:MM:SS), ``seconds 75 are not 0-59``, both joined by
    ``and``; null for a readable duration and for text of another shape (empty, negative,
    ``1:2:3``, a word: the caller's general problem names those). The bound is a clock's
    (:data:`CLOCK_PART_MAX`): a trial's ``25:99:00`` was read as 95,940 seconds and
    ``0:05:99`` as 399, published and scored, where nothing the export means is."""
    _, parts = _clock_parts(column)
    minutes = parts.struct.field("2")
    seconds = parts.struct.field("4").str.extract(r"^(\d+)")
    bad_minutes = (minutes.cast(pl.Int64) > CLOCK_PART_MAX).fill_null(False)
    bad_seconds = (seconds.cast(pl.Int64) > CLOCK_PART_MAX).fill_null(False)
    minutes_said = formatted_text(f"minutes {{}} are not 0-{CLOCK_PART_MAX}", minutes)
    seconds_said = formatted_text(f"seconds {{}} are not 0-{CLOCK_PART_MAX}", seconds)
    return (
        pl.when(bad_minutes & bad_seconds)
        .then(formatted_text("{} and {}", minutes_said, seconds_said))
        .when(bad_minutes)
        .then(minutes_said)
        .when(bad_seconds)
        .then(seconds_said)
        .otherwise(None)
    )


def parsed_duration(
    column: str, unit: str, decimal_comma: bool = False, thousands: str = "", workbook: bool = False
) -> pl.Expr:
    """A duration in seconds (Float64) from text written ``H:MM:SS`` / ``M:SS``
    (``unit="h:mm:ss"``, :data:`CLOCK_DURATION`) or a number of ``seconds``, ``minutes``
    or ``hours``; null when empty, :data:`UNREADABLE_NUMBER` when not a duration written
    that way, which for ``h:mm:ss`` includes minutes of H:MM:SS or seconds above 59
    (:func:`clock_duration_problem`: ``0:75:00`` is no clock's time); under ``h:mm:ss`` a
    bare zero (:data:`BARE_ZERO_DURATION`) is 0 s, any other bare number unreadable."""
    if unit == "h:mm:ss":
        text, parts = _clock_parts(column)
        hours = parts.struct.field("1").cast(pl.Float64).fill_null(0.0)
        minutes = pl.coalesce(parts.struct.field("2"), parts.struct.field("3")).cast(pl.Float64)
        seconds = parts.struct.field("4").str.replace(",", ".").cast(pl.Float64, strict=False)
        return (
            pl.when(text.is_null() | (text == ""))
            .then(None)
            .when(text.str.contains(BARE_ZERO_DURATION))
            .then(0.0)
            .when(clock_duration_problem(column).is_null())
            .then((hours * 3600 + minutes * 60 + seconds).fill_null(UNREADABLE_NUMBER))
            .otherwise(UNREADABLE_NUMBER)
            .alias(column)
        )
    number = parsed_number(column, decimal_comma, thousands, workbook)
    return (number * UNIT_SECONDS[unit]).alias(column)


#: The words :func:`parsed_flag` reads as yes and as no (lower case, trimmed).
FLAG_YES: tuple[str, ...] = ("y", "yes", "true", "1", "ja", "j", "oui", "si", "sí")
FLAG_NO: tuple[str, ...] = ("n", "no", "false", "0", "nein", "non")
#: Suffix of the Boolean column :func:`flag_read` adds beside a flag: false where the text
#: is neither empty nor a yes or no, for the row suite to quarantine the row.
FLAG_READ = "_read"


def parsed_flag(column: str) -> pl.Expr:
    """Yes/no written any common way (:data:`FLAG_YES`, :data:`FLAG_NO`: Y/N, yes/no,
    true/false, 1/0, ja/nein, oui/non); null when empty or anything else (:func:`flag_read`
    tells the two apart)."""
    text = pl.col(column).cast(pl.String).str.strip_chars().str.to_lowercase()
    return (
        pl.when(text.is_in(list(FLAG_YES)))
        .then(True)
        .when(text.is_in(list(FLAG_NO)))
        .then(False)
        .otherwise(None)
        .alias(column)
    )


def flag_read(column: str) -> pl.Expr:
    """``<column>_read``: whether ``column``'s text is empty or a yes or no
    :func:`parsed_flag` reads. Found by a trial: a CFPB row whose "Timely response?" said
    "Maybe" was kept with ``sla_met`` null, silently, where a number that is no number is
    quarantined quoting it."""
    text = pl.col(column).cast(pl.String).str.strip_chars().str.to_lowercase()
    return (
        (text.is_null() | (text == "") | text.is_in([*FLAG_YES, *FLAG_NO]))
        .fill_null(True)
        .alias(f"{column}{FLAG_READ}")
    )


def normalised_text(column: str) -> pl.Expr:
    """Drop control characters, collapse whitespace, and make empty text null.

    One chain of string operations, each input read once: an eager ``select`` does not
    share repeated sub-expressions, so a ``when(text == "")...otherwise(text)`` computed
    the text twice."""
    return (
        pl.col(column)
        .str.replace_all(CONTROL_CHARACTERS, "")
        .str.replace_all(WHITESPACE_RUN, " ")
        .str.strip_chars()
        .replace("", None)
        .alias(column)
    )


#: What :func:`normalised_text` can change in a value: whitespace (collapsed, stripped; regex
#: ``\s`` and ``strip_chars`` both mean Unicode White_Space), control characters, or nothing at
#: all (empty text becomes null).
NORMALISABLE = r"[\s\x00-\x1f\x7f]|^$"


def normalised_text_of(frame: pl.DataFrame, column: str) -> pl.Expr:
    """:func:`normalised_text` for ``frame``'s ``column`` (text): the column as it is when no
    value has anything to normalise, which is what an id column usually is. Checking costs
    0.05 s for 1.6 million ids, normalising 0.17 s; the values are the same either way."""
    values = frame.get_column(column)
    if values.dtype != pl.String or values.str.contains(NORMALISABLE).any():
        return normalised_text(column)
    return pl.col(column)


#: The element names of the HTML Living Standard (section 4, "The elements of HTML"), and the
#: obsolete ones browsers still render that pasted mail and web forms still carry (``font``,
#: ``center``, ``big``, ...): a comment's ``<b>`` is markup, CFPB's redaction placeholder
#: ``<XXXX>`` and a customer's ``<name>`` are text.
# A list literal would take 130 lines; the names read as the standard's index lists them.
HTML_ELEMENTS = (  # noqa: SIM905
    "a abbr address area article aside audio b base bdi bdo blockquote body br button canvas "
    "caption cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hgroup hr html i "
    "iframe img input ins kbd label legend li link main map mark menu meta meter nav noscript "
    "object ol optgroup option output p picture pre progress q rp rt ruby s samp script search "
    "section select slot small source span strong style sub summary sup table tbody td template "
    "textarea tfoot th thead time title tr track u ul var video wbr "
    "acronym big center font frame frameset marquee nobr strike tt"
).split()
#: An HTML tag: ``<``, an optional ``/``, an element name of :data:`HTML_ELEMENTS` (any
#: case), then attributes after whitespace or nothing, an optional ``/`` and ``>``.
HTML_TAG = r"(?i)</?(?:" + "|".join(HTML_ELEMENTS) + r")(?:\s[^<>]*)?/?>"


def safe_comment(column: str = "comment") -> pl.Expr:
    """A comment as plain text, with no HTML a BI tool would render.

    Script and style blocks go entirely, and tags of HTML elements (:data:`HTML_TAG`) are
    dropped, their text kept; other text in angle brackets is the customer's (CFPB's redaction
    placeholder ``<XXXX>``, ``a < b > c``, ``<3``) and stays (a user's trial saw "Executive
    Resolutions <XXXX> Date" lose its placeholder). Text that starts like a spreadsheet
    formula is kept as written: a comment starting ``- `` is a sentence, Parquet is not a
    spreadsheet, and the CSV writers for people neutralise formulas where they write
    (:func:`transforms.marts.audit_worksheet`). Then as :func:`normalised_text`, except that
    the comment keeps its line breaks (LF; at most one blank line in a row, no space beside a
    break): a multi-line answer reaches BI as it was written (found by an operator's trial on
    a Google Forms export; the field notes of that export ask for it). The model's
    tokenisers read a break as any whitespace.
    """
    # One chain, so each step reads the text once (see normalised_text).
    return (
        pl.col(column)
        .str.replace_all(r"(?is)<(script|style)\b.*?(?:</(?:script|style)\s*>|$)", " ")
        .str.replace_all(HTML_TAG, " ")
        .str.replace_all(r"<!--.*?-->", " ")
        .str.replace_all(CONTROL_CHARACTERS, "")
        .str.replace_all(LINE_BREAK, "\n")
        .str.replace_all(SPACE_RUN, " ")
        .str.replace_all(BESIDE_BREAK, "\n")
        .str.replace_all(BLANK_LINES, "\n\n")
        .str.strip_chars()
        .replace("", None)
        .alias(column)
    )


def by_distinct_values(
    frame: pl.DataFrame, exprs: Sequence[pl.Expr], min_rows: int = 10_000
) -> list[pl.Expr]:
    """``exprs`` as lookups over the distinct values of their columns.

    Each expression must be a function of the one column it is named after (a channel, a
    score, a queue, a policy code: a few dozen distinct values in a million rows). It is
    evaluated once per distinct value of that column in ``frame`` and mapped onto every row
    with ``replace_strict`` (null included), which gives the same column as evaluating it
    row by row. A frame under ``min_rows`` rows, or a column with more than one distinct
    value in eight rows, keeps the expression as it is (a lookup would not pay). A column
    whose every distinct value the expression leaves as it is (same type, same value, null
    for null: an export's queue and policy codes usually are) is the column itself: the
    lookup of each of 1.6 million rows cost 0.08-0.16 s of CPU a column for nothing.
    """
    out: list[pl.Expr] = []
    for expr in exprs:
        name = expr.meta.output_name()
        distinct = frame.get_column(name).unique()
        if frame.height < min_rows or distinct.len() * 8 > frame.height:
            out.append(expr)
            continue
        mapped = distinct.to_frame().select(expr).to_series()
        if mapped.dtype == distinct.dtype and mapped.equals(distinct, null_equal=True):
            out.append(pl.col(name))
            continue
        out.append(
            pl.col(name).replace_strict(distinct, mapped, return_dtype=mapped.dtype).alias(name)
        )
    return out


def normalise_surveys(
    raw: pl.DataFrame,
    timezone: str,
    survey_date: date | None,
    options: ParseOptions | None = None,
) -> pl.DataFrame:
    """Type a raw survey batch: every column parsed, raw text kept as ``<column>_raw``.

    ``survey_date`` dates every row (a daily export); None dates each row by its
    ``submitted_at`` in the business timezone (an export of any date range). ``options``
    (from a source definition) gives timestamp formats, the export's own timezone, number
    formats and duration units; without it timestamps are ISO in ``timezone``. Interaction
    facts the rows carry themselves (text columns such as ``handle_seconds``) are typed too;
    ``<column>_dst`` flags naive times that daylight saving makes impossible or ambiguous.
    """
    options = options or ParseOptions(timezone=timezone)
    local = options.timezone
    raw_copies = [pl.col(name).alias(f"{name}_raw") for name in PARSED_SURVEY_COLUMNS]
    # Numbers the rows carry are checked too (0 or more): their text is kept for the reason.
    raw_copies += [
        pl.col(name).alias(f"{name}_raw")
        for name in (*ROW_NUMBER_COLUMNS, *ROW_COUNT_COLUMNS, *ROW_FLAG_COLUMNS)
        if raw.schema.get(name) == pl.String
    ]
    typed = [
        normalised_text_of(raw, "response_id"),
        normalised_text_of(raw, "interaction_id"),
        safe_comment("comment"),
    ]
    # Columns of a few distinct values are typed once per value (see by_distinct_values).
    few_values = [
        normalised_channel("channel"),
        *(
            parsed_score(name, options.decimal_comma, options.thousands, options.workbook)
            for name in SURVEY_SCORES
        ),
        base_language(normalised_text("language")),
    ]
    if "rating" in raw.columns:
        few_values.append(normalised_text("rating").str.to_lowercase())
        raw_copies.append(pl.col("rating").alias("rating_raw"))
    timestamps = [
        "submitted_at",
        "delivered_at",
        *(name for name in ROW_TIMESTAMP_COLUMNS if raw.schema.get(name) == pl.String),
    ]
    for name in ROW_NUMBER_COLUMNS:
        if raw.schema.get(name) == pl.String:
            unit = options.units.get(name)
            typed.append(
                parsed_duration(
                    name, unit, options.decimal_comma, options.thousands, options.workbook
                )
                if unit
                else parsed_number(name, options.decimal_comma, options.thousands, options.workbook)
            )
    for name in ROW_COUNT_COLUMNS:
        if raw.schema.get(name) == pl.String:
            typed.append(
                parsed_count(name, options.decimal_comma, options.workbook, options.thousands)
            )
    for name in ROW_FLAG_COLUMNS:
        if raw.schema.get(name) == pl.String:
            typed += [parsed_flag(name), flag_read(name)]
    for name in ROW_TEXT_COLUMNS:
        if raw.schema.get(name) == pl.String:
            typed.append(normalised_text(name))
    if raw.schema.get("queue") == pl.String:
        few_values.append(normalised_text("queue").str.to_lowercase())
        # As exported, for the reasons and the double-encoding check: lower-cased, a
        # trial's "ZahlungsgebÃ¼hr" read "zahlungsgebã¼hr", which ftfy no longer flags.
        raw_copies.append(pl.col("queue").alias("queue_raw"))
    if raw.schema.get("policy_code") == pl.String:
        few_values.append(normalised_text("policy_code"))
    if raw.schema.get("resolution") == pl.String:
        few_values.append(normalised_text("resolution").str.to_lowercase())
    typed += by_distinct_values(raw, few_values)
    # The timestamps in stages (with_parsed_timestamps), then the rest: no other column
    # reads a timestamp's text (its raw copy keeps it).
    parsed = (
        raw.lazy()
        .with_columns(raw_copies)
        .pipe(
            with_parsed_timestamps,
            timestamps,
            local,
            options.formats,
            options.ambiguous,
            flag_dst=["submitted_at"],
        )
        .with_columns(typed)
        .pipe(without_scores_on_abandoned_calls)
        .collect()
    )
    if survey_date is not None:
        return parsed.with_columns(pl.lit(survey_date).alias("survey_date"))
    business = options.business_timezone or timezone
    day = survey_day(
        pl.col("submitted_at"),
        "submitted_at_raw",
        business,
        options.formats.get("submitted_at", ()),
    )
    return parsed.with_columns(day.alias("survey_date"))


#: The scores a survey answer gives, none of which an abandoned call has.
SURVEY_SCORES: tuple[str, ...] = ("csat", "nps", "effort")


def without_scores_on_abandoned_calls(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` (typed survey rows) with ``csat``, ``nps`` and ``effort`` made null on the
    rows whose ``abandoned`` is true: a call abandoned before anyone answered it was asked
    no survey, so a score on it is no answer, whatever it says (their ``<score>_raw`` keep
    the text). Unchanged without an ``abandoned`` column. Found by a field sample: a call
    log (field sample 10, PwC's "Call Centre Trends") writes satisfaction ``0`` on its 1-5
    scale for every unanswered call; its definition's ``missing = ["0"]`` made a 0 missing
    on answered calls too, where it is no score and must be quarantined (the sample's
    README: "map satisfaction 0 to missing when Answered = N")."""
    columns = frame.collect_schema()
    if ABANDONED not in columns:
        return frame
    abandoned = pl.col(ABANDONED).fill_null(False)
    return frame.with_columns(
        pl.when(abandoned).then(None).otherwise(pl.col(score)).alias(score)
        for score in SURVEY_SCORES
        if score in columns
    )


def unstated_comments(raw: pl.DataFrame) -> pl.Series:
    """The comments (String) of the rows of ``raw`` (a raw survey batch, as
    :func:`normalise_surveys` takes it) that state no language, as :func:`normalise_surveys`
    gives them: the texts whose language a caller will detect once the batch is typed, for
    classifying them ahead (:func:`transforms.language.detect_language`)."""
    if "comment" not in raw.columns:
        return pl.Series("comment", [], pl.String)
    stated = (
        base_language(normalised_text("language"))
        if "language" in raw.columns
        else pl.lit(None, pl.String)
    )
    return raw.filter(stated.is_null()).select(safe_comment("comment")).to_series().drop_nulls()


#: Columns that say where and when a copy of a response came (its file and line, and a
#: configured source's delivery checksum and landing time), not what it says: two copies
#: that differ only in these are the same response.
DELIVERY_BOOKKEEPING = ("source_file", "source_line", "delivery", "landed_at")


def split_superseded_deliveries(surveys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the latest delivery of each response; return (kept, superseded).

    ``surveys`` is a typed survey batch (``response_id``, ``delivered_at`` as a UTC
    Datetime, ``source_file``, ``source_line``); a configured source's landed rows carry
    ``landed_at`` (the time their delivery was landed) too. Superseded rows gain
    ``superseded_by_line``, ``superseded_by_file`` and ``superseded_by_delivered_at``, the
    latest copy's, and ``updated``: whether the latest copy was delivered later with other
    values (the response changed since, a Zendesk rating bad -> good), not sent again as
    it was.

    A vendor re-delivers a response with a later ``delivered_at`` when it changes; the latest
    wins. Copies with the same ``delivered_at`` in deliveries landed at different times (a
    second Zendesk download repeating ratings with their ``updated_at``) are decided by the
    landing: the later landed wins, as a re-delivered CSV's copies are (landing dates those
    by the delivery; docs/sources.md, the zendesk preset: "the latest update wins, whichever
    download lands last"). Exact copies of one delivery time and landing (their content the
    same, :data:`DELIVERY_BOOKKEEPING` aside) collapse to the last line. Two *different*
    responses with the same id, delivery time and landing (one export's own rows) are a real
    conflict and are both kept here, for validation to reject.
    """
    content = [c for c in surveys.columns if c not in DELIVERY_BOOKKEEPING]
    # Only an id that occurs more than once can supersede anything (a few in a million rows):
    # the ranking, hashing and grouping below run on those rows alone. Rows without an id
    # cannot be matched to each other; validation rejects them instead. Repeats are found by
    # the ids' 64-bit hashes (0.04 s for a million ids, 0.14 s comparing the text): a
    # collision only adds a row whose own id ranks it first and last, which supersedes none.
    positioned = surveys.with_row_index("_position")
    repeated = pl.col("response_id").is_not_null() & pl.col("response_id").hash().is_duplicated()
    # The landing ranks copies of one delivery time (a landed row's bookkeeping, compared
    # only here: found by a QA lead's trial, whose byte-identical ratings of two downloads
    # differed by their delivery checksum and landing time, so both were kept, and both
    # quarantined as used by more than one different response).
    landing = (
        pl.col("landed_at")
        .rank("dense", descending=True)
        .over("response_id", "_delivery_rank")
        .fill_null(1)
        if "landed_at" in surveys.columns
        else pl.lit(1, pl.UInt32)
    )
    ranked = (
        positioned.filter(repeated)
        .with_columns(
            pl.col("delivered_at")
            .rank("dense", descending=True)
            .over("response_id")
            .fill_null(1)
            .alias("_delivery_rank"),
            pl.struct(content).hash().alias("_content"),
        )
        .with_columns(landing.alias("_landing_rank"))
        .with_columns(
            (
                pl.col("source_line")
                == pl.col("source_line")
                .max()
                .over("response_id", "_delivery_rank", "_landing_rank", "_content")
            ).alias("_last_copy"),
        )
    )
    superseded = (
        (pl.col("_delivery_rank") > 1) | (pl.col("_landing_rank") > 1) | ~pl.col("_last_copy")
    )
    helpers = ["_position", "_delivery_rank", "_landing_rank", "_content", "_last_copy"]
    latest_line = (
        ranked.filter((pl.col("_delivery_rank") == 1) & (pl.col("_landing_rank") == 1))
        .group_by("response_id")
        .agg(
            pl.col("source_line").max().alias("superseded_by_line"),
            # A source's deliveries are many files: the line's own (the last of the latest).
            pl.col("source_file").sort_by("source_line").last().alias("superseded_by_file"),
            pl.col("delivered_at").max().alias("superseded_by_delivered_at"),
            pl.col("_content").sort_by("source_line").last().alias("_latest_content"),
        )
    )
    gone = ranked.filter(superseded)
    kept = positioned.filter(~pl.col("_position").is_in(gone.get_column("_position")))
    gone = (
        gone.join(latest_line, "response_id", "left", maintain_order="left")
        .with_columns(
            (
                (pl.col("delivered_at") < pl.col("superseded_by_delivered_at"))
                & (pl.col("_content") != pl.col("_latest_content"))
            )
            .fill_null(False)
            .alias("updated")
        )
        .drop(*helpers, "_latest_content")
    )
    return kept.drop("_position"), gone


def with_changed_columns(
    superseded: pl.DataFrame,
    rows: pl.DataFrame,
    columns: Sequence[str],
    attributes: Sequence[str] = (),
) -> pl.DataFrame:
    """``superseded`` (:func:`split_superseded_deliveries`' second frame) with ``changed``, a
    List(String) of what differs between each earlier copy and the copy that superseded it
    (the row of ``rows``, typed as ``surveys`` was, at its ``superseded_by_file`` and
    ``superseded_by_line``): the names of ``columns`` whose values differ (a missing value
    differs from any other), then of each attribute in ``attributes`` (keys of the JSON text
    in ``attributes``) whose value differs, in that order; empty for a copy sent again as it
    was. A copy whose superseding row is not in ``rows`` changes nothing here.

    Found by a trial: of the 78 complaints a corrected CFPB re-download superseded, two had
    changed (a company response 'In progress' -> 'Closed with monetary relief', an edited
    narrative), and all 78 were called duplicate deliveries."""
    compared = [c for c in columns if c in superseded.columns and c in rows.columns]
    keys = [a for a in attributes if "attributes" in superseded.columns]
    values = {
        **{c: pl.col(c) for c in compared},
        **{f"attributes.{a}": pl.col("attributes").str.json_path_match(f"$.{a}") for a in keys},
    }
    later = rows.select(
        pl.col("source_file").alias("superseded_by_file"),
        pl.col("source_line")
        .cast(superseded.schema["superseded_by_line"])
        .alias("superseded_by_line"),
        pl.lit(True).alias("_found"),
        *(value.alias(f"_later_{i}") for i, value in enumerate(values.values())),
    ).unique(["superseded_by_file", "superseded_by_line"], keep="last")
    joined = superseded.with_row_index("_order").join(
        later, ["superseded_by_file", "superseded_by_line"], "left"
    )
    found = pl.col("_found").fill_null(False)
    differs = [
        pl.when(found & value.ne_missing(pl.col(f"_later_{i}"))).then(pl.lit(name.split(".")[-1]))
        for i, (name, value) in enumerate(values.items())
    ]
    changed = (
        pl.concat_list(differs).list.drop_nulls() if differs else pl.lit([], pl.List(pl.String))
    )
    return (
        joined.with_columns(changed.alias("changed"))
        .sort("_order")
        .drop("_order", "_found", *(f"_later_{i}" for i in range(len(values))))
    )


def typed_interactions(raw: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Type an interaction export's rows; rows without an id are dropped.

    ``raw`` carries :data:`transforms.schemas.RAW_INTERACTION_SCHEMA`'s columns as read (plus
    any others, kept as they are). Ids and codes are cleaned (:func:`normalised_text`; queue
    and resolution lower-case, policy code upper-case), ``started_at`` is parsed to UTC
    (naive times are in ``timezone``, an IANA name), counts become Int16 (null when out of
    range). Row by row: exports typed apart and concatenated equal their concatenation
    typed, so a date can type each export once."""
    return (
        raw.lazy()
        .pipe(with_parsed_timestamps, ["started_at"], timezone, {})
        .with_columns(
            normalised_text_of(raw, "interaction_id"),
            *by_distinct_values(
                raw,
                [
                    normalised_text("queue").str.to_lowercase(),
                    normalised_text("policy_code").str.to_uppercase(),
                    normalised_text("resolution").str.to_lowercase(),
                ],
            ),
            pl.col("transfers").cast(pl.Int16, strict=False),
            pl.col("prior_contacts").cast(pl.Int16, strict=False),
        )
        .filter(pl.col("interaction_id").is_not_null())
        .collect()
    )


def latest_interactions(typed: pl.DataFrame) -> pl.DataFrame:
    """One row per ``interaction_id`` of :func:`typed_interactions` rows, the last one read
    (a later export of the same interaction corrects the earlier), in the order of the rows
    kept.

    An export whose ids are all distinct (the usual case) is returned as it is: as many
    distinct id hashes as rows proves it (equal ids hash alike), in 0.02 s for 1.6 million
    ids where the order-keeping ``unique`` took 0.24 s. Any repeat, or a hash collision,
    takes the ``unique``."""
    if typed.get_column("interaction_id").hash().n_unique() == typed.height:
        return typed
    return typed.unique("interaction_id", keep="last", maintain_order=True)


def prepare_interactions(raw: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Type the interaction export and keep one row per interaction (the last one read)."""
    return latest_interactions(typed_interactions(raw, timezone))


#: The interaction facts a survey gains by the join: the contract's columns but the key.
INTERACTION_COLUMNS: tuple[str, ...] = tuple(
    name for name in RAW_INTERACTION_SCHEMA if name != "interaction_id"
)


def join_interactions(surveys: pl.DataFrame, interactions: pl.DataFrame) -> pl.DataFrame:
    """Attach each survey's interaction facts; ``has_interaction`` says whether one was found."""
    facts = interactions.select(
        "interaction_id", *INTERACTION_COLUMNS, pl.lit(True).alias("has_interaction")
    )
    return surveys.join(facts, "interaction_id", "left").with_columns(
        pl.col("has_interaction").fill_null(False)
    )


#: Suffix of a survey row's own copy of a fact while the feed's is joined beside it.
_OWN = "__own"


def join_feed_facts(
    surveys: pl.DataFrame, facts: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``surveys`` (typed, one row per response) joined to a source's contact-facts feed
    ``facts`` (typed, one row per ``interaction_id``, every :data:`INTERACTION_COLUMNS`) by
    :func:`join_interactions`, the sample's join: ``has_interaction`` says whether one was
    found. A fact the feed gives wins over the row's own copy (the contact system's record,
    corrected by a later export); the row's own value stays where the feed gives none, and
    an unmatched row keeps its own facts (null where it carries none).

    Returns (joined, disagreements): the latter one row per fact both give differently on
    some rows, ``column``, ``rows`` (how many), and the first such row's
    ``interaction_id``, ``own`` and ``feed`` values as text, for a warning."""
    own = [c for c in INTERACTION_COLUMNS if c in surveys.columns]
    joined = join_interactions(surveys.rename({c: c + _OWN for c in own}), facts)
    differs = {
        c: pl.col(c).is_not_null()
        & pl.col(c + _OWN).is_not_null()
        & (pl.col(c).cast(pl.String) != pl.col(c + _OWN).cast(pl.String))
        for c in own
    }
    disagreements = (
        pl.concat(
            [
                joined.filter(differs[c])
                .select(
                    pl.lit(c).alias("column"),
                    pl.len().alias("rows"),
                    pl.col("interaction_id").first(),
                    pl.col(c + _OWN).first().cast(pl.String).alias("own"),
                    pl.col(c).first().cast(pl.String).alias("feed"),
                )
                .filter(pl.col("rows") > 0)
                for c in own
            ],
            how="vertical_relaxed",
        )
        if own
        else pl.DataFrame(
            schema={
                "column": pl.String,
                "rows": pl.UInt32,
                "interaction_id": pl.String,
                "own": pl.String,
                "feed": pl.String,
            }
        )
    )
    joined = joined.with_columns(pl.coalesce(c, c + _OWN).alias(c) for c in own).drop(
        [c + _OWN for c in own]
    )
    return joined, disagreements


def with_policy_facts(responses: pl.DataFrame, policies: pl.DataFrame) -> pl.DataFrame:
    """Add the fee the policy allows and how far the charged fee exceeds it."""
    allowed = policies.select(
        pl.col("policy_code").str.strip_chars().str.to_uppercase(),
        pl.col("fee_allowed").cast(pl.Float64, strict=False).alias("fee_allowed"),
    ).unique("policy_code", keep="last")
    return responses.join(allowed, "policy_code", "left").with_columns(
        (pl.col("fees_charged").fill_null(0.0) - pl.col("fee_allowed").fill_null(0.0))
        .clip(lower_bound=0.0)
        .alias("fee_excess")
    )


#: NPS at or below this is a detractor (the NPS definition: 0-6).
NPS_DETRACTOR_MAX = 6


def is_negative(rule: str = "csat", at_most: int | None = None) -> pl.Expr:
    """Whether a response gets a root cause, by the source's rule: ``csat`` at or below the
    negative threshold (the default), an ``nps`` detractor, a ``rating`` of bad, ``all``
    (every row is a complaint, as in CFPB) or ``none``. ``at_most``: the source's own
    threshold of a csat or nps rule (``negative = "csat <= 3"``), instead of
    :data:`NEGATIVE_CSAT_MAX` or :data:`NPS_DETRACTOR_MAX`."""
    if at_most is not None and rule not in ("csat", "nps"):
        raise ValueError(f"negative rule {rule!r} takes no threshold (at_most={at_most})")
    if rule == "csat":
        expr = pl.col("csat") <= (NEGATIVE_CSAT_MAX if at_most is None else at_most)
    elif rule == "nps":
        expr = pl.col("nps") <= (NPS_DETRACTOR_MAX if at_most is None else at_most)
    elif rule == "rating":
        expr = pl.col("rating") == "bad"
    elif rule in ("all", "none"):
        expr = pl.lit(rule == "all")
    else:
        raise ValueError(f"unknown negative rule {rule!r}")
    return expr.alias("is_negative")


def known_channel() -> pl.Expr:
    """True when the channel is one of the canonical channels."""
    return pl.col("channel").is_in(CHANNELS)


def with_attributes(frame: pl.DataFrame, names: tuple[str, ...] | list[str]) -> pl.DataFrame:
    """``frame`` with the named source attributes (the JSON ``attributes`` column) as text
    columns of their own, e.g. for a model whose features include them. Absent: null."""
    wanted = [n for n in names if n not in frame.columns]
    if not wanted:
        return frame
    if "attributes" not in frame.columns:
        return frame.with_columns(pl.lit(None, pl.String).alias(n) for n in wanted)
    dtype = pl.Struct({n: pl.String for n in wanted})
    return frame.with_columns(pl.col("attributes").str.json_decode(dtype).struct.field(*wanted))


def contacts_from_responses(clean: pl.DataFrame, period: date) -> pl.DataFrame:
    """A source's contact history from its own clean rows, for a source whose survey rows
    carry their contact facts (a call log with a rating, a complaints database): one contact
    per response, in :data:`transforms.schemas.CONTACT_SCHEMA`, partition ``period``.

    ``clean``: :data:`transforms.schemas.CLEAN_RESPONSE_SCHEMA` rows. A row without an
    ``interaction_id`` is its own contact (its ``response_id``); without ``started_at`` the
    contact is dated by ``submitted_at``.
    """
    return conform(
        clean.with_columns(
            pl.coalesce("interaction_id", "response_id").alias("interaction_id"),
            pl.coalesce("started_at", "submitted_at").alias("started_at"),
            pl.lit(period).alias("survey_date"),
        ),
        CONTACT_SCHEMA,
    )


@dataclass(frozen=True)
class ShortIds:
    """An all-digit id column most of whose ids have one width, some of them written with
    leading zeros, and the ids shorter than that: :func:`ids_short_of_their_width`."""

    #: The digits most ids have (8 for ``00412345``).
    width: int
    #: How many rows hold a shorter id.
    count: int
    #: The first (up to) two distinct shorter ids, as delivered.
    examples: tuple[str, ...]


def ids_short_of_their_width(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, ShortIds]:
    """The id ``columns`` of ``frame`` (text, as mapped) whose leading zeros a spreadsheet
    most likely dropped from some ids: every id all digits, more than half of them of one
    width, some of those starting with ``0`` (the source pads its ids), and some shorter
    (``412345`` among ``00412345``). Columns absent, empty or not all digits are left out.

    Found by a trial: a workbook re-saved by Excel held ``412345`` for ``00412345``, kept as
    another id, so it joined no interaction. The id may be genuinely short, so it is told,
    not quarantined. One vectorised pass per column (no per-row Python)."""
    found: dict[str, ShortIds] = {}
    for column in (c for c in columns if c in frame.columns):
        ids = frame.get_column(column).cast(pl.String)
        # A column of other ids ('A-70001') is told by its first rows, without reading all.
        if not ids.head(1000).drop_nulls().str.contains(r"^\s*[0-9]*\s*$").all():
            continue
        ids = ids.str.strip_chars()
        ids = ids.filter(ids.is_not_null() & (ids != ""))
        if ids.is_empty() or not ids.str.contains(r"^[0-9]+$").all():
            continue
        lengths = ids.str.len_bytes()
        width, most = lengths.value_counts(sort=True).row(0)
        if most * 2 <= ids.len():
            continue
        if not ids.filter(lengths == width).str.starts_with("0").any():
            continue
        short = ids.filter(lengths < width)
        if short.is_empty():
            continue
        examples = tuple(short.unique(maintain_order=True).head(2).to_list())
        found[column] = ShortIds(int(width), short.len(), examples)
    return found
