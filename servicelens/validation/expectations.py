"""Great Expectations suites, written as code, and the glue that turns their results into
per-row quarantine reasons.

Two suites guard a day of surveys:

* the **batch suite** runs on the raw text table: the required columns are there and the file
  is not empty. Its failure stops the date.
* the **row suite** runs on the typed, de-duplicated, joined table: ids present and unique,
  scores in range, timestamps that parse and are not in the future, a known channel, and a
  matching interaction. Its failures name rows, which go to quarantine with every reason.

Only the columns a suite needs are handed to GX (through Arrow, as pandas), and each column
expectation is given its own column alone (:func:`_column_domain_engine`). Failing rows
are reported by their ``source_line`` (the line of the survey file where the record starts),
so the Data Docs pages and the quarantine name the same lines.

Great Expectations and pandas are imported when a suite first runs, not with this module:
importing GX takes seconds, and commands that never validate must not pay for it. The
context and each suite are built once per process (per source rule set), not per date:
building a suite cost GX about as much as running it. What changes from run to run (the
latest plausible timestamp) is a suite parameter, given at each validation.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import polars as pl

from servicelens.ingest.mapping import NOT_A_MAPPED_CODE
from servicelens.ingest.readers import (
    TOTALS_ROW,
    TOTALS_ROW_NOTE,
    code_page_that_repairs,
    could_be_misspelt,
    header_excerpt,
    looks_double_encoded,
    lost_in_a_resave,
)
from servicelens.runtime import freeze_long_lived
from servicelens.validation.docs import write_data_docs_page, write_page_soon
from transforms.agents import AGENT_IN_SCIENTIFIC_NOTATION, SCIENTIFIC_NOTATION
from transforms.clean import (
    AMBIGUOUS,
    FLAG_NO,
    FLAG_READ,
    FLAG_YES,
    MONTH_NAME_CODES,
    MONTH_NAMES,
    NONEXISTENT,
    NORMALISABLE,
    RATINGS,
    ROW_COUNT_COLUMNS,
    ROW_FLAG_COLUMNS,
    ROW_NUMBER_COLUMNS,
    clock_duration_problem,
    four_digit_years,
    no_such_day,
    normalised_text,
    number_pattern,
    read_number,
    score_number,
    spreadsheet_serial_date,
    thousands_separator,
)
from transforms.formatting import formatted_text
from transforms.schemas import CHANNELS, RAW_SURVEY_COLUMNS, REQUIRED_SURVEY_COLUMNS

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core.batch_definition import BatchDefinition

P = ParamSpec("P")
R = TypeVar("R")

ROW_ID = "_row"
#: The columns GX reports failing rows by: the record's file and its line in that file, so
#: Data Docs name the same lines as the quarantine. A landed partition may hold rows of
#: several deliveries, so the line alone does not name a row.
FILE_COLUMN = "source_file"
LINE_COLUMN = "source_line"
INDEX_COLUMNS: tuple[str, str] = (FILE_COLUMN, LINE_COLUMN)
#: Earliest plausible survey timestamp: older values are typing errors, not history.
EARLIEST_SURVEY = datetime(2000, 1, 1, tzinfo=UTC)
#: Longest comment kept: longer text is a paste or an attack, not feedback, and would bloat
#: every mart row it reached.
MAX_COMMENT_CHARS = 10_000
#: Text a spreadsheet would run as a formula if an id were exported to one (CSV injection;
#: OWASP names ``=``, ``+``, ``-``, ``@``, tab and carriage return). A ``-`` starts a formula
#: unless the id is a plain number (``-1+1+cmd|' /C calc'!A0`` is one, ``-1042`` is not): a
#: privacy review's ids got through to the first cell of the QA worksheet. "A plain number"
#: is ASCII digits with at most one inner point, to the end of the text.
#:
#: Written without lookahead, ``\d``, ``\s`` or ``$`` so that pandas hands it to pyarrow's RE2
#: for GX's pandas engine instead of running Python's ``re`` per row (pandas'
#: ``_needs_python_regex``): with a lookahead the two id checks took 5x longer.
#: ``tests/unit/test_formula_start.py`` checks it against the lookahead form and RE2.
FORMULA_START = r"^(?:[=+@\t\r]|-(?:\Z|\.|[0-9.]*[^0-9.]|[0-9]*\.[0-9]*\.|[0-9.]*\.\Z))"


#: A number as a spreadsheet writes it in scientific notation (``7.26E+06``, pandas'
#: ``7.26e+06``): an id saved so has lost its digits. Found by a trial: CFPB complaint ids
#: saved as 7.26E+6 were quarantined as "used by more than one different response", which
#: did not say why, and the one whose rounding was unique was kept under that id.
SCIENTIFIC_ID = SCIENTIFIC_NOTATION
_SCIENTIFIC_ID_PROBLEM = (
    "is a number a spreadsheet wrote in scientific notation: its digits are lost. Export the "
    "ids again as text (format that column as Text before saving, or import the CSV with it "
    "as Text: a CSV opened in the spreadsheet has its long numbers turned into this)"
)
_FORMULA_ID_PROBLEM = "starts like a spreadsheet formula; an id never does"
#: The check of both on each id column (one regex pass over its ids, not two): which of them
#: a failing id is, is told from its text (:func:`validate_survey_rows`).
_ID_AS_SPREADSHEET_TEXT = "id as a spreadsheet wrote it"
#: The id columns rows are matched, joined or grouped on, each checked by
#: :data:`_ID_AS_SPREADSHEET_TEXT`: a response's copies, its interaction, the customer
#: repeat contacts are counted by, the agent the agent marts group by.
SPREADSHEET_CHECKED_IDS = ("response_id", "interaction_id", "customer_id", "agent_id")
#: Of those, the ids also checked for a formula's start (:data:`FORMULA_START`): a response
#: and an interaction always have an id of their own. A customer or an agent may have none,
#: which exports write as ``-`` (a lone dash starts like a formula): such a row was kept
#: before the customer and agent ids were checked, and is kept still.
FORMULA_CHECKED_IDS = ("response_id", "interaction_id")
#: How a reason shows a pseudonymised agent's id in scientific notation (stored as
#: ``transforms.agents.AGENT_IN_SCIENTIFIC_NOTATION``): the rounded staff number is not
#: printed where the source promises pseudonyms.
_AGENT_NOT_SHOWN = "(not shown: the source pseudonymises its agents)"
#: The stand-in as a regex (RE2's and Python's alike).
_AGENT_STAND_IN = r"^\[AGENT: scientific notation\]"
#: The check of a response already kept under another survey date; each failing row's
#: reason names that date (:func:`validate_survey_rows`).
_ACCEPTED_ELSEWHERE = "accepted under another survey date"


@dataclass(frozen=True)
class RowCheck:
    """One row expectation and how to word its failure for a person fixing the export."""

    expectation: gx.expectations.Expectation
    #: The column a person should look at (the raw column, not a derived flag).
    reported_column: str
    #: Completes "<column>: <raw value> ..." in the quarantine reason.
    problem: str


#: The problem of a response id two different rows of one delivery carry. Landing gives it
#: to such rows a delivery dates to different partitions (servicelens.ingest.landing), where
#: the row suite, run a partition at a time, cannot see both. A later ``delivered_at``
#: supersedes (``transforms.clean.split_superseded_deliveries``); an export without the
#: column has none, and a trial's was told "delivered at the same time".
REPEATED_ID = (
    "is used by more than one different response, and their delivery times (delivered_at: "
    "the same, or none) do not tell which is the later: keep one of them in the export"
)
#: :data:`REPEATED_ID` as said of a contact-facts feed's rows (``[interactions]``): they are
#: contacts, and the feed maps no delivery time (``transforms.schemas`` has none among the
#: interaction columns). Found by a trial: a contact export's id used twice was told as
#: "used by more than one different response, and their delivery times (delivered_at: ...)".
REPEATED_CONTACT_ID = (
    "is used by more than one different contact of the feed, which gives no delivery time "
    "to tell which is the later: keep one of them in the export"
)


@dataclass(frozen=True)
class RowRules:
    """Which row checks a source needs; the defaults are the generated sample's.

    A source whose rows carry their own contact facts has no interaction to match; one
    without a csat question (complaints, a two-level rating) does not require a csat.
    ``timezone`` and ``timestamp_format`` are named in the reasons a person reads.
    """

    require_interaction_id: bool = True
    require_interaction_match: bool = True
    #: The longest comment kept, in characters (a definition's ``max_comment_chars``).
    max_comment_chars: int = MAX_COMMENT_CHARS
    require_csat: bool = True
    #: Only a source that maps a two-level rating has one to check.
    check_rating: bool = False
    #: The numbers the source's rows carry (durations, fees, counts): each must be a number
    #: of 0 or more as the definition reads numbers (transforms.clean.parsed_number), which
    #: ``number_style`` words for the reason (``a decimal comma and . between thousands``).
    number_facts: tuple[str, ...] = ()
    #: The scores whose column rule in the definition has a ``values`` map: a word it does
    #: not name is told to be added to it (only the wording of the reason).
    mapped_scores: tuple[str, ...] = ()
    #: The yes/no facts the source's rows carry (transforms.clean.ROW_FLAG_COLUMNS): each
    #: must be empty or a yes or no :func:`transforms.clean.parsed_flag` reads.
    flag_facts: tuple[str, ...] = ()
    number_style: str | None = None
    #: How the definition reads numbers (``ReadOptions.decimal_comma`` and ``thousands``)
    #: and the table of the definition file that says so (``[read]``, or a contact-facts
    #: feed's ``[interactions.read]``): a number written with the other decimal mark is
    #: told so (:func:`other_decimal_mark_problem`).
    decimal_comma: bool = False
    thousands: str = ""
    read_table: str = "[read]"
    #: The numbers among ``number_facts`` the definition reads as durations written
    #: ``H:MM:SS`` or ``M:SS`` (``unit = "h:mm:ss"``): their reason says so instead.
    clock_durations: tuple[str, ...] = ()
    timezone: str | None = None
    timestamp_format: str | None = None
    #: How the definition names the mapping of the time that dates a row, for advice to
    #: add a format to it (``SourceDefinition.key_of``): ``started_at under
    #: [interactions.columns]`` for a contact-facts feed.
    timestamp_key: str = "submitted_at"
    #: The language the definition declares month names in (``month_names``), None for
    #: English: a time that a declared ``%b`` / ``%B`` cannot read is told so.
    month_names: str | None = None
    #: The channel comes from a column of the export, read through the definition: an
    #: unknown channel's reason says how to map the export's own words.
    channel_from_column: bool = False
    #: The rows come through a source definition: a score that is not one, and a missing
    #: csat, say what in the definition reads them (the missing list, required = false).
    from_definition: bool = False
    #: The export columns the definition reads csat from row by row, when it names more
    #: than one (``column = ["Old wording", "New wording"]``): a missing csat's reason
    #: names them all, for it is empty in each.
    csat_alternatives: tuple[str, ...] = ()
    #: The free-text columns checked for double-encoded text (of CHECKED_FOR_MOJIBAKE): the
    #: comment always, the queue and the attributes where a definition maps them from the
    #: export (the sample's queue comes from the contact-centre feed). Each costs the row
    #: suite one expectation (about 0.03 s a 100k date).
    double_encoded_columns: tuple[str, ...] = ("comment",)
    #: The definition already asks for mojibake to be repaired (``repair_mojibake``): a value
    #: still double-encoded is one ftfy could not repair, and the reason says so instead of
    #: asking for the setting (found by a trial: it asked for what was already set).
    repairs_mojibake: bool = False
    #: The definition's ``encoding`` (``"auto"`` when detected): a value whose repair was
    #: not verified is tried in other code pages, for its reason to name the file's.
    read_encoding: str = "auto"
    #: The rows' file was read as Unicode (``readers.read_as_unicode``), whatever ``encoding``
    #: the definition declares; known where one file is checked (``stages.ingest_export``).
    #: A value still double-encoded was so before the file was saved as UTF-8: its reason
    #: says so, and names no other code page (its bytes are the UTF-8 ones, not the file's).
    read_as_unicode: bool = False


#: The problem of a text (CHECKED_FOR_MOJIBAKE) encoded twice (looks_double_encoded); no quote
#: or apostrophe in it, as for :func:`number_problem`. Found by a trial: such a comment in
#: a UTF-8 export was kept, and fed the model and BI as it was.
DOUBLE_ENCODED_PROBLEM = (
    "looks double-encoded (mojibake, such as Ã© for é): the text was read with the wrong "
    "code page before the file was saved as UTF-8. Fix it where the export comes from and "
    "deliver the file again, or, for a configured source, set repair_mojibake = true in "
    "the [read] table of its definition to repair it"
)
#: What :data:`DOUBLE_ENCODED_UNREPAIRED` says of ftfy (``readers._verified_repair``, field by
#: field). Found by a user trial: "ftfy found no reading of it that is text" was said of
#: "RÃ©ponse claire, merci", which ftfy repairs: its line's repair was refused for another
#: cell of the line, and a value is not what ftfy was asked to read.
_NO_VERIFIED_REPAIR = (
    "ftfy offered no repair of it that checks out (undone, a repair must give back the text "
    "as read, and it must bring in only letters a code page has), so it was left as read"
)
#: :data:`DOUBLE_ENCODED_PROBLEM` for a source that already repairs mojibake.
DOUBLE_ENCODED_UNREPAIRED = (
    "looks double-encoded (mojibake, such as Ã© for é) even after repair_mojibake: "
    f"{_NO_VERIFIED_REPAIR}. Fix it where the export comes from (or save the file again as "
    "UTF-8) and deliver the file again"
)
#: :data:`DOUBLE_ENCODED_UNREPAIRED` for a file read as UTF-8 (:attr:`RowRules.read_as_unicode`),
#: whatever its definition declares. Found by a user trial: a Typeform export saved again as
#: UTF-8 from its mojibake was told to save the file again as UTF-8, as it was.
DOUBLE_ENCODED_READ_AS_UTF8 = (
    "looks double-encoded (mojibake, such as Ã© for é) even after repair_mojibake: the file "
    "was read as UTF-8; its text is double-encoded (decoded in the wrong code page before "
    f"it was saved as UTF-8), and {_NO_VERIFIED_REPAIR}. Deliver the "
    "export as the survey tool wrote it, or fix the text where the export comes from, and "
    "deliver the file again"
)
#: :data:`DOUBLE_ENCODED_UNREPAIRED` for a value whose bytes, read in another code page
#: ({page}), repair to text where the declared one ({declared}) does not: the value was
#: left as read, not repaired into other letters.
DOUBLE_ENCODED_OTHER_CODE_PAGE = (
    "looks double-encoded (mojibake) and was left as read: repaired as read in {declared} it "
    "gives other letters or none, and its bytes read as {page} repair to text, so the file "
    "is in {page}. Set encoding = {page} in the [read] table of the definition and deliver "
    "the file again"
)
#: :data:`DOUBLE_ENCODED_OTHER_CODE_PAGE` for a value whose bytes, as the declared code page
#: ({declared}) read them, are UTF-8 text: a file read as UTF-8 throughout would have
#: been, so lines of it are UTF-8 and others not (found by a trial: UTF-8 lines read as
#: cp850 were told cp437 on one line and cp1252 on another).
DOUBLE_ENCODED_UTF8_LINE = (
    "looks double-encoded (mojibake) and was left as read: its bytes are UTF-8 text, read "
    "as {declared}, and the file is not UTF-8 throughout, so it mixes encodings. Save the "
    "whole file again as UTF-8 (it is then read as UTF-8) and deliver it again"
)
#: :data:`DOUBLE_ENCODED_OTHER_CODE_PAGE` where the values of one check do not agree on the
#: code page that repairs them: no one code page is named (each line naming its own, as a
#: trial's did, contradicts the others).
DOUBLE_ENCODED_NO_ONE_CODE_PAGE = (
    "looks double-encoded (mojibake) and was left as read: repaired as read in {declared} "
    "it gives other letters or none, and no one code page repairs every such value of the "
    "delivery. Save the file again as UTF-8 where the export comes from and deliver it again"
)

#: The free-text columns whose values are checked for double-encoded text: the comment, and
#: the names a source maps into the queue and its attributes (a trial's company name
#: "Ã–sterreich Collections" split BI's groupings without a word).
CHECKED_FOR_MOJIBAKE = ("comment", "queue", "attributes")

#: A comment up to this many characters is quoted whole in a reason; a longer one by its
#: first 40 characters and its length.
COMMENT_QUOTED_WHOLE = 80

#: The suite parameter the row suite's upper bound on ``submitted_at`` is given at each run
#: (the time of the run plus five minutes of clock skew).
LATEST_SUBMITTED_AT = "latest_submitted_at"
#: Clock skew allowed between the survey tool and this machine.
CLOCK_SKEW = timedelta(minutes=5)

#: A number the row carries failed its check; worded per source (:func:`number_problem`).
_NUMBER_FACT_PROBLEM = "number"
#: A yes/no fact the row carries (sla_met, policy_disclosed) that is neither (no quote or
#: apostrophe: the report reads a reason's kind after the quoted value).
FLAG_PROBLEM = (
    f"is not a yes or no as read ({'/'.join(FLAG_YES)} or {'/'.join(FLAG_NO)}, any case): "
    "map the words of the export to yes and no with values in the source definition"
)


#: A word a yes/no column's ``values`` map does not name, where the map reads yes and no the
#: other way round (servicelens.ingest.mapping.reverses_yes_no), ``{codes}`` the words it
#: names (no quote or apostrophe: the report reads a reason's kind after the quoted value).
FLAG_NOT_IN_VALUES = (
    "is none of the words the values of the column in the definition map ({codes}), which "
    "read yes and no the other way round, so it is not read either way: add it to values, "
    "or write negate = true in place of values to read every yes and no reversed"
)


def number_problem(number_style: str | None) -> str:
    """The problem of a number a row carries that is not one (or is negative), naming how
    the source's definition reads numbers (no quotes in it: servicelens/validation/reasons.py
    closes a quoted value at the last quote)."""
    style = f", written with {number_style}" if number_style else ""
    return (
        f"is not a number of 0 or more{style}; set decimal_comma and thousands in the "
        "definition to how the export writes numbers, or add a word meaning no value to the "
        "missing list of the column"
    )


def other_decimal_mark_thousands(decimal_comma: bool, thousands: str) -> str:
    """The thousands separator a number written with the other decimal mark than
    ``decimal_comma`` says is read with: the other of ``.`` and ``,`` (``1.299,5`` against a
    decimal point), else ``thousands`` as declared (a space or an apostrophe)."""
    if thousands in ("", ".", ","):
        return "," if decimal_comma else "."
    return thousands


def other_decimal_mark_problem(rules: RowRules) -> str:
    """The problem of a number a row carries written with the other decimal mark than the
    definition reads (``151,4`` against a decimal point): a delivery saved again by a
    spreadsheet in another language. The first advice is to have the file sent again as the
    source usually writes it (as the definition reads, as its usual files pass); setting
    ``decimal_comma`` comes second, said to apply to every delivery and to quarantine every
    decimal number of a usual file (:func:`other_decimal_mark_advice`). No quote or
    apostrophe, as for :func:`number_problem`.

    Found by an on-call engineer's trial: a Zendesk Explore export re-saved by a German
    Excel was told to set decimal_comma and thousands in the definition, and with them the
    vendor's usual point-decimal file was quarantined whole (200 rows of 200)."""
    return number_problem(rules.number_style).split(";")[0] + other_decimal_mark_advice(rules)


def other_decimal_mark_advice(rules: RowRules) -> str:
    """What :func:`other_decimal_mark_problem` says after its problem (``: it is written
    with a decimal point, ...``), also said after a score's (:func:`score_problem`)."""
    usual, other = ("a decimal comma", "a decimal point")
    if not rules.decimal_comma:
        usual, other = other, usual
    usual_example, setting = ("4,5", "false") if rules.decimal_comma else ("4.5", "true")
    return (
        f": it is written with {other}, as "
        "a spreadsheet saved again in another language writes numbers. Ask the sender for "
        f"this file again as the export usually writes it, with {usual} (as the definition "
        f"reads numbers); only if the export now writes every number with {other}, set "
        f"decimal_comma = {setting} (and thousands to the mark it writes between thousands, "
        f"if any) in {rules.read_table} of the definition: that applies to every delivery, "
        f"and each number of a usual file written with {usual} ({usual_example}) would "
        "then be quarantined"
    )


def score_in_thousands_advice(rules: RowRules) -> str:
    """What is said after :func:`score_problem` of a score that holds the thousands
    separator the definition declares, so reads as a number in the thousands (``1.000``
    with a decimal comma and ``thousands = "."``). No quote or apostrophe, as for
    :func:`number_problem`. Found by a French insurer's trial: a Lisbon BPO's nps ``1.000``
    was kept as 1; read as declared it is 1000, and the advice to map another scale with
    values would not be what the sender meant."""
    style = rules.number_style or "the decimal mark and thousands separator declared"
    return (
        f"; read with {style}, as {rules.read_table} of the definition declares, the "
        f"{rules.thousands} in it separates thousands, so it is a number in the thousands. "
        "Ask the sender for this file again with each score a whole number of the scale (a "
        "spreadsheet in another language may write the score 1 with three decimals as "
        "1.000); leave decimal_comma and thousands as they are if the other numbers of the "
        "file read right"
    )


#: A currency sign or ISO code beside an amount (``15,00 €``, ``EUR 15.00``, ``$15``).
CURRENCY_IN_NUMBER = r"[€$£¥₹]|(?i:\b(?:EUR|USD|GBP|CHF|JPY|CAD|AUD|SEK|NOK|DKK|PLN)\b)"
#: The problem of an amount written with its currency: its decimal comma and thousands
#: separator were right, and the old advice to set them sent an analyst's trial in a
#: circle (``15,00 €``).
CURRENCY_PROBLEM = (
    "is not a number of 0 or more: it holds a currency sign or code, and the column must "
    "hold the amount alone (a source has one currency); export the column formatted as a "
    "number, not as currency"
)


#: The problem of a duration the definition reads as H:MM:SS that is not one (no quote or
#: apostrophe in it, as for :func:`number_problem`).
CLOCK_DURATION_PROBLEM = (
    "is not a duration of 0 or more written as H:MM:SS or M:SS, as unit h:mm:ss in the "
    "definition reads it; fix the value, or add a word meaning no value to the missing list "
    "of the column"
)
#: The problem of a duration shaped as H:MM:SS or M:SS whose minutes or seconds no clock
#: shows (:func:`transforms.clean.clock_duration_problem` fills in which: ``minutes 99 are
#: not 0-59``): a trial's ``25:99:00`` was kept as 95,940 seconds.
CLOCK_PART_PROBLEM = (
    "is not a duration written as H:MM:SS or M:SS, as unit h:mm:ss in the definition reads "
    "it: its {} (the hours of H:MM:SS and the minutes of M:SS may be any count, the minutes "
    "of H:MM:SS and the seconds are a clock's 0-59); fix the value, or add a word meaning no "
    "value to the missing list of the column"
)

#: The timestamp check's problem is worded per row: not a timestamp, or a naive local time
#: that daylight saving skips or repeats (``submitted_at_dst``), each its own reason.
_TIMESTAMP_CHECK = "timestamp"
#: A timestamp outside the suite's bounds; each row's reason says which bound it is past.
_TIMESTAMP_RANGE_CHECK = "timestamp range"
#: A channel outside :data:`CHANNELS`; worded per source (:func:`channel_problem`).
_CHANNEL_PROBLEM = "channel"
#: A required csat with no value; worded per source (:data:`CSAT_MISSING_IN_DEFINITION`).
_CSAT_MISSING = "csat missing"
#: After "missing" for a source definition's csat. Found by a trial: a cell holding a word
#: of the missing list read as "(empty) missing", with no word of how to keep such rows.
CSAT_MISSING_IN_DEFINITION = (
    " (empty, or a word of the missing list of the column); required = false on csat in "
    "the definition keeps rows without a rating"
)


def csat_missing_problem(rules: RowRules) -> str:
    """The problem of a required csat with no value, as ``rules`` word it: after a source
    definition's, what keeps such rows (:data:`CSAT_MISSING_IN_DEFINITION`), and every
    export column it is read from when there are alternatives (quotes and apostrophes in a
    name written as typographic ones: a problem holds none). Found by a trial: a row of a
    question reworded mid-month was said to be "(empty) missing" of the first wording."""
    if not rules.from_definition:
        return "missing"
    if not rules.csat_alternatives:
        return "missing" + CSAT_MISSING_IN_DEFINITION
    names = " or ".join(
        name.replace("'", "\u2019").replace('"', "\u201d") for name in rules.csat_alternatives
    )
    return (
        "missing (empty, or a word of the missing list of the column, in every column the "
        f"definition reads it from: {names}); required = false on csat in the definition "
        "keeps rows without a rating"
    )


#: After "is not a score from a to b" for a source definition's score: a word the export
#: writes for no answer (the trial's 'k.A.') is not a score either.
SCORE_IN_DEFINITION = (
    "; an answer the export writes in words is mapped onto the scale with values in the "
    "rule of the column in the definition (e.g. values = { Very dissatisfied = 1, Dissatisfied = "
    "2, Neutral = 3, Satisfied = 4, Very satisfied = 5 }), and a word for no answer goes in "
    "its missing list"
)

#: After "is not a score from a to b" for a source definition's score that is a number: a
#: survey on another scale, not a word for no answer (a trial's csat 7 was offered the
#: missing list).
SCORE_ON_ANOTHER_SCALE = (
    "; a survey on another scale is mapped onto this one with values for every answer in "
    "the rule of the column in the definition"
)
#: The example after :data:`SCORE_ON_ANOTHER_SCALE`, by the score's column and scale: a
#: user's trial was shown a 1-to-7 csat map for an nps of '11' (nps is 0 to 10; an export
#: that numbers its eleven choices from 1, as some survey tools do, writes 11).
SCORE_SCALE_EXAMPLES = {
    "csat": ", e.g. for 1 to 7: values = { 1 = 1, 2 = 1, 3 = 2, 4 = 3, 5 = 4, 6 = 5, 7 = 5 }",
    "nps": ", e.g. for choices numbered 1 to 11: values = { 1 = 0, 2 = 1, 3 = 2, ..., 11 = 10 }",
    "effort": ", e.g. for 1 to 5: values = { 1 = 1, 2 = 2, 3 = 4, 4 = 6, 5 = 7 }",
}
#: The mark the mapping puts at the end of a score its ``values`` has no code for
#: (:data:`NOT_A_MAPPED_CODE`); its one group is the codes the map names. The reason quotes
#: the value without it and says it after the problem: a QA lead's trial read "csat: '7
#: (not a code of the definition's values: 1, 2, 3, 4)' is not a score from 1 to 5".
NOT_A_CODE_MARK = re.escape(NOT_A_MAPPED_CODE.split("{codes}")[0]) + r"(.*)\)$"
#: After "is not a score from a to b" for such a value, its ``{codes}`` the codes the map
#: names (no quote or apostrophe: the report reads a reason's kind after the quoted value).
SCORE_NOT_A_CODE = (
    ", nor one of the codes the values of the column in the definition map ({codes}): they "
    "need a code for every answer the export writes (a word for no answer goes in its "
    "missing list)"
)
#: After "is not a score from a to b" for a word the values of the column's rule already
#: in the definition do not name (a trial was shown an example map like its own).
SCORE_NOT_IN_VALUES = (
    "; it is not one of the answers the values of the column in the definition map: add it "
    "there with its score (a word for no answer goes in its missing list)"
)
#: After "is not a score from a to b" for such a score. Found by a trial: a French export's
#: csat '4,5' was told how to map answers written in words.
SCORE_NOT_WHOLE = (
    "; it is not a whole number, and the scale takes whole scores only: ask for the export "
    "with whole scores, or map every answer it writes onto the scale with values in the rule "
    'of the column in the definition (e.g. "4,5" = 4, beside a code for each whole score)'
)

#: How the problem of a score out of its range starts (:func:`score_problem`).
_NOT_A_SCORE = "is not a score from"


def _written_with_other_mark(text: pl.Expr, rules: RowRules) -> pl.Expr:
    """Whether ``text`` is a number written with the other decimal mark than the definition
    reads (``151,4`` against a decimal point): it holds that mark and reads as a number
    written so."""
    other_thousands = other_decimal_mark_thousands(rules.decimal_comma, rules.thousands)
    trimmed = text.str.strip_chars()
    return trimmed.str.contains(
        "." if rules.decimal_comma else ",", literal=True
    ) & trimmed.str.contains(number_pattern(not rules.decimal_comma, other_thousands))


def score_problem(low: int, high: int) -> str:
    """The problem of a score that is not a whole number from ``low`` to ``high``."""
    return f"{_NOT_A_SCORE} {low} to {high}"


def day_month_swapped(timestamp_format: str | None) -> str | None:
    """``timestamp_format`` with ``%d`` and ``%m`` swapped, when it is one format holding
    both (``%m/%d/%Y %H:%M`` -> ``%d/%m/%Y %H:%M``); else None."""
    if not timestamp_format or " or " in timestamp_format:
        return None
    if "%d" not in timestamp_format or "%m" not in timestamp_format:
        return None
    return timestamp_format.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


#: The words that tell, in a time's reason, that it reads with day and month swapped.
READS_SWAPPED = " reads it, but reads as "
#: What to do about an export whose times read with day and month swapped, as a run's
#: notes say it (the partition's, servicelens.cli.console.day_first_note; the delivery's,
#: Landing.notes). Either order may be the export's: a trial's month-first re-save of a
#: day-first export was told "if the export writes the day first", which the definition did.
DECLARE_SWAPPED_ORDER = (
    "if the export writes its dates that way round, declare that format in the definition "
    "(sources add DEFINITION --replace) and drop the export again"
)


def both_readings(column: str, timestamp_format: str | None) -> tuple[pl.Expr, pl.Expr] | None:
    """``column``'s text (stripped) read as Datetime with ``timestamp_format`` and with its day
    and month swapped (:func:`day_month_swapped`), null where a reading fails; None when the
    format holds no such pair (several formats, or no ``%d`` and ``%m``)."""
    swapped = day_month_swapped(timestamp_format)
    if swapped is None or timestamp_format is None:
        return None
    text = pl.col(column).str.strip_chars()
    return (
        _strict_year(text, timestamp_format),
        _strict_year(text, swapped),
    )


def _date_part(timestamp_format: str | None) -> str:
    """The part of ``timestamp_format`` that writes the date (``%d/%m/%Y %H:%M`` ->
    ``%d/%m/%Y``), to show a date as the export writes it; ISO where it has none alone."""
    for part in (timestamp_format or "").split():
        if all(code in part for code in ("%d", "%m", "%Y")):
            return part
    return "%Y-%m-%d"


def _strict_year(text: pl.Expr, timestamp_format: str) -> pl.Expr:
    """``text`` read as Datetime with ``timestamp_format``; null where it fails, and where
    the format's ``%Y`` read a year under 1000 (:func:`transforms.clean.four_digit_years`)."""
    parsed = text.str.strptime(pl.Datetime("us"), timestamp_format, strict=False)
    return four_digit_years(parsed, timestamp_format)


def read_either_way(frame: pl.DataFrame, timestamp_format: str | None) -> int:
    """How many rows of ``frame`` read as two different times with ``timestamp_format`` and
    with its day and month swapped (:func:`day_month_swapped`): ``03/04/2026 10:00`` is
    4 March or 3 April. ``frame`` carries ``submitted_at_raw``, the time as exported (the
    mapping keeps it, transforms.clean.normalise_surveys). 0 when the format holds no
    such pair (several formats, or no ``%d`` and ``%m``) or the frame has no raw time.

    Found by a trial: a day-first export read month-first kept these rows, misdated, while
    only the quarantined ones said why; the run's table counts them (DayCounts)."""
    readings = both_readings("submitted_at_raw", timestamp_format)
    if readings is None or "submitted_at_raw" not in frame.columns:
        return 0
    one, other = readings
    both = (one.is_not_null() & other.is_not_null() & (one != other)).sum()
    return int(frame.select(both).item())


#: A delivery's times read swapped are taken to be its own when, read as declared, they
#: are at least this many days older than the delivery ...
SWAPPED_NEARER_MIN_DAYS = 56
#: ... and at least this many times as old as read swapped (a delivery comes days after its
#: responses, not months).
SWAPPED_NEARER_RATIO = 4


def swapped_nearer_delivery(
    frame: pl.DataFrame, timestamp_format: str | None
) -> tuple[int, dict[str, str]]:
    """The rows of ``frame`` in deliveries every time of which reads both as
    ``timestamp_format`` and, differently, with day and month swapped
    (:func:`both_readings`), and whose swapped reading is much nearer the day the delivery
    was landed than the declared one: not after it, the declared reading at least
    :data:`SWAPPED_NEARER_MIN_DAYS` days and :data:`SWAPPED_NEARER_RATIO` times as far
    before it. Their count, and for the first such delivery the dates as read (``as_read``),
    swapped (``swapped``) and its landing day (``landed``), with its first row's
    ``response_id``, ``file``, ``line`` and ``value`` (as exported) where ``frame`` has
    ``response_id``, ``source_file`` and ``source_line``; ``(0, {})`` where none is.
    ``frame`` carries ``submitted_at_raw``, ``delivery`` and ``landed_at``.

    Found by a trial: 12 calls of 5 Nov written month first (11/05/2026) and landed in
    December through a day-first definition were published as 11 May, exit 0, without a
    word: every time read either way, and all on one date, none spread over months for
    landing's check (:func:`servicelens.ingest.landing.refuse_the_other_day_order`) to see.
    A day-first export of early-month days landed promptly reads nearer as declared, so
    stays quiet."""
    readings = both_readings("submitted_at_raw", timestamp_format)
    needed = {"submitted_at_raw", "delivery", "landed_at"}
    if readings is None or frame.is_empty() or not needed <= set(frame.columns):
        return 0, {}
    landed = pl.col("landed_at").dt.replace_time_zone(None)
    days = (
        frame.select(
            "delivery",
            readings[0].alias("as_read"),
            readings[1].alias("swapped"),
            landed.alias("landed"),
        )
        .with_columns(
            (pl.col("landed") - pl.col("as_read")).dt.total_days().alias("read_age"),
            (pl.col("landed") - pl.col("swapped")).dt.total_days().alias("swapped_age"),
        )
        .group_by("delivery", maintain_order=True)
        .agg(
            pl.len().alias("rows"),
            (
                pl.col("as_read").is_not_null()
                & pl.col("swapped").is_not_null()
                & (pl.col("as_read") != pl.col("swapped"))
            )
            .all()
            .alias("either_way"),
            pl.col("read_age").min(),
            pl.col("swapped_age").min().alias("swapped_nearest"),
            pl.col("swapped_age").max().alias("swapped_farthest"),
            pl.col("as_read").min(),
            pl.col("swapped").min(),
            pl.col("landed").max(),
        )
    )
    nearer = days.filter(
        pl.col("either_way")
        & (pl.col("swapped_nearest") >= 0)
        & (pl.col("read_age") >= SWAPPED_NEARER_MIN_DAYS)
        & (pl.col("read_age") >= SWAPPED_NEARER_RATIO * pl.col("swapped_farthest"))
    )
    if nearer.is_empty():
        return 0, {}
    first = nearer.row(0, named=True)
    found = {
        "as_read": f"{first['as_read']:%Y-%m-%d}",
        "swapped": f"{first['swapped']:%Y-%m-%d}",
        "landed": f"{first['landed']:%Y-%m-%d}",
    }
    # One row of it by id, file, line and value, kept in the date's manifest with the
    # dates: a trial's flag was said by one night's run alone, and nothing named the row.
    named = ("response_id", "source_file", "source_line")
    if set(named) <= set(frame.columns):
        row = frame.filter(pl.col("delivery") == first["delivery"]).row(0, named=True)
        found |= {
            "response_id": str(row["response_id"]),
            "file": str(row["source_file"]),
            "line": str(row["source_line"]),
            "value": str(row["submitted_at_raw"]),
        }
    return int(nearer.get_column("rows").sum()), found


#: Timestamp formats exports are commonly written in (ISO, and day-first and month-first
#: dates as spreadsheets save them, with and without seconds), tried on a time the declared
#: format cannot read, to say which one can (:func:`_formats_reading`).
COMMON_TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)

#: The problem of a time the declared format cannot read but a common one can (no quote or
#: apostrophe, as for :func:`number_problem`): the declared format, the ones that read it,
#: and how the definition names the time's mapping (``RowRules.timestamp_key``).
_READS_OTHERWISE = (
    "is not a timestamp as {} reads it; it reads as {}: if the export writes its times so (a "
    "spreadsheet saved again changes them), add that format to {} in the definition "
    "(format takes a list)"
)


#: The problem of a time a definition that declares no format for submitted_at (so reads
#: ISO 8601) cannot read but a common format can: how the definition names the time's
#: mapping (``RowRules.timestamp_key``), the formats that read it, and that key again. No
#: quote or apostrophe, as for :func:`number_problem`.
_READS_UNDECLARED = (
    "is not a timestamp as ISO 8601 reads it (the definition declares no format for "
    "{}); it reads as {}: add the format the export writes to {} in the definition (format "
    "takes a list)"
)


def _with_order(timestamp_format: str) -> str:
    """``timestamp_format`` with the order of its day and month in words when a date written
    so can be read the other way round (``%d/%m/%Y`` -> ``%d/%m/%Y (day first)``); else as
    it is."""
    if day_month_swapped(timestamp_format) is None or timestamp_format.startswith("%Y"):
        return timestamp_format
    first = "day" if timestamp_format.index("%d") < timestamp_format.index("%m") else "month"
    return f"{timestamp_format} ({first} first)"


def _formats_reading(raw: pl.Expr, declared: str | None) -> pl.Expr:
    """The common formats (:data:`COMMON_TIMESTAMP_FORMATS`, not ``declared``: one format,
    several joined by " or ", or None for ISO 8601 alone) that read the text ``raw``, the
    first two joined by " or ", each naming its order of day and month where a date can be
    read either way round (:func:`_with_order`); null when none does.

    Found by a trial: a Typeform export saved again by a spreadsheet wrote 2017-02-27 8:16
    against the preset format %Y-%m-%d %H:%M:%S, and all its rows were quarantined as not a
    timestamp with no word of the format that reads them; and by a user's trial: a call
    log's 13/01/2021 13:43:49, read with no format declared, was told it "is missing or
    not a timestamp" and nothing of what it is."""
    skip = set((declared or "").split(" or "))
    text = raw.str.strip_chars()
    found = pl.concat_list(
        pl.when(text.str.strptime(pl.Datetime("us"), f, strict=False).is_not_null()).then(
            pl.lit(_with_order(f))
        )
        for f in COMMON_TIMESTAMP_FORMATS
        if f not in skip
    ).list.drop_nulls()
    return pl.when(found.list.len() > 0).then(found.list.head(2).list.join(" or "))


NO_SUCH_DAY = (
    "is a day the calendar does not have (its month has fewer days): check the day, or "
    "whether day and month are the right way round"
)


def channel_problem(from_column: bool) -> str:
    """The problem of a channel that is not one of :data:`CHANNELS`; for a channel read from
    an export's column, how the definition maps the export's own words. No quote or
    apostrophe in it, as for :func:`number_problem`, and nothing that changes from run to
    run: the report counts reasons by their problem text (servicelens/validation/reasons.py)."""
    known = f"is not a known channel ({', '.join(CHANNELS)})"
    if not from_column:
        return known
    return (
        f"{known}; map the word the export uses to one of these with values on channel in "
        "[columns] of the source definition (docs/sources.md, Format)"
    )


@functools.cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every pandas batch under HASH_THRESHOLD bytes (1 GB) for its batch
    # markers: an md5 of pandas' row hashes, 1.3-1.5 s of the 1M date's 4.5 s of GX. Nothing
    # here reads the fingerprint (a run's inputs are identified by their sha256 in the
    # manifest) and no expectation uses it, so no batch is fingerprinted; a batch over 1 GB
    # never was. (great_expectations/execution_engine/pandas_execution_engine.py, 1.x.)
    pandas_execution_engine.HASH_THRESHOLD = 0
    # GX announces its temporary docs directory at INFO on every start; that is not news.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    # GX's modules and its context live as long as the process: out of the collector's way.
    freeze_long_lived("GX context")
    return context


@functools.cache
def _column_domain_engine() -> type:
    """GX's pandas engine, handing each column expectation a frame of its one column.

    GX's pandas engine gives a column expectation the whole batch as its domain, and its
    column map metrics filter that frame row by row (nulls out, then the failing rows) about
    three times an expectation: with every checked column in the batch, each expectation
    copied all of them. In a 1M date's profile these copies (``column_condition_partial`` ->
    ``DataFrame.__getitem__`` with a mask) were 56% of the row suite. Here a column domain's
    records are its column alone, with the batch's index (the failing rows' (file, line)),
    so each expectation copies only what it reads; the expectations and their results are
    GX's own (``tests/unit/test_narrow_validation.py`` compares them with GX's stock engine).

    A column domain's ``unexpected_index_column_names`` must therefore be index levels, not
    columns (:func:`validate_survey_rows` makes them the index). Other domains (the table,
    column pairs, column lists) get the whole batch as before.
    (great_expectations/execution_engine/pandas_execution_engine.py, ``get_domain_records``,
    and expectations/metrics/map_metric_provider/column_condition_partial.py, 1.x.)
    """
    from great_expectations.execution_engine import PandasExecutionEngine

    class ColumnDomainEngine(PandasExecutionEngine):
        def get_domain_records(self, domain_kwargs: dict[str, Any]) -> pd.DataFrame:
            data = super().get_domain_records(domain_kwargs)
            column = domain_kwargs.get("column")
            return data if column is None else data[[column]]

    return ColumnDomainEngine


@functools.cache
def _batch_definition(name: str) -> BatchDefinition:
    source = _context().data_sources.add_pandas(f"{name}_source")
    # The datasource's engine class is a ClassVar that pydantic will not set on an instance;
    # set on this datasource alone, not on every pandas datasource of the process.
    object.__setattr__(source, "execution_engine_override", _column_domain_engine())
    asset = source.add_dataframe_asset(f"{name}_frame")
    return asset.add_batch_definition_whole_dataframe(f"{name}_batch")


def id_as_spreadsheet_wrote_it(column: str, text: pl.Expr | None = None) -> pl.Expr:
    """The row suite's id check (:data:`SPREADSHEET_CHECKED_IDS`) as an expression, for
    rows no suite runs on: the reason a row's text ``column`` (read as the clean layer reads
    an id, :func:`~transforms.clean.normalised_text`) fails it for, worded as the row
    suite's (``interaction_id: '4.17E+08' is a number a spreadsheet wrote in scientific
    notation: ...``), null where it passes. Found with a trial's ids Excel rounded: an
    interaction export's rows with such ids were joined and counted as one contact.

    ``text`` is the column as normalised already, when the caller knows it cheaper
    (``transforms.clean.normalised_text_of``: ids usually hold nothing to normalise, and
    normalising 1.6 million ids of three columns took 0.9 s of a 1M date's read)."""
    text = normalised_text(column) if text is None else text
    quoted = f"{column}: '{{}}' "
    scientific, formula = _spreadsheet_id_conditions(column, text)
    reason = pl.when(scientific).then(
        formatted_text(quoted + _SCIENTIFIC_ID_PROBLEM, visible_text(text))
    )
    if formula is None:
        return reason
    return reason.when(formula).then(
        formatted_text(quoted + _FORMULA_ID_PROBLEM, visible_text(text))
    )


def id_as_spreadsheet_wrote_it_found(column: str, text: pl.Expr | None = None) -> pl.Expr:
    """Whether :func:`id_as_spreadsheet_wrote_it` has a reason for a row (boolean, null for a
    null id), without wording it: two regular-expression tests a row, where the reason's
    wording formats every row's text whether it fails or not (0.23 s of CPU for the three id
    columns of a 1M date's 1.6 million interactions). Callers word the failing rows alone."""
    text = normalised_text(column) if text is None else text
    scientific, formula = _spreadsheet_id_conditions(column, text)
    return scientific if formula is None else scientific | formula


#: What an id :func:`id_as_spreadsheet_wrote_it_found` fails for must hold as it is read:
#: a first character either test can match (a digit starts :data:`SCIENTIFIC_ID`; ``=``,
#: ``+``, ``@``, tab, CR or ``-`` start :data:`FORMULA_START`), or something
#: :func:`~transforms.clean.normalised_text` changes (whitespace, a control character, an
#: empty text), after which the tests see another first character. An id holding none of
#: them is its own normalised text and fails neither test.
SPREADSHEET_ID_SUSPECT = r"^[0-9=+@\t\r-]|" + NORMALISABLE


def id_maybe_as_spreadsheet_wrote_it(column: str) -> pl.Expr:
    """Whether the text id ``column`` may fail :func:`id_as_spreadsheet_wrote_it_found`
    (boolean, null for a null id): one regular-expression test an id, on the id as read,
    true for every id that test fails (:data:`SPREADSHEET_ID_SUSPECT`) and for few others in
    an export whose ids start with a letter. The exact test then runs on those rows alone:
    over every row of a 1M date's interaction export, normalising checks and the two tests
    took 0.45-0.6 s of CPU an export."""
    return pl.col(column).str.contains(SPREADSHEET_ID_SUSPECT)


def _spreadsheet_id_conditions(column: str, text: pl.Expr) -> tuple[pl.Expr, pl.Expr | None]:
    """The scientific-notation test of ``text`` and, for :data:`FORMULA_CHECKED_IDS`, the
    formula-start test (None for a customer or agent id, which a lone "-" may stand for)."""
    scientific = text.str.contains(SCIENTIFIC_ID)
    if column not in FORMULA_CHECKED_IDS:
        return scientific, None
    # Python's and RE2's end of text, \Z, is \z in polars' (Rust's) regex.
    return scientific, text.str.contains(FORMULA_START.replace(r"\Z", r"\z"))


def survey_row_checks(rules: RowRules | None = None) -> list[RowCheck]:
    """The row suite for surveys. Timestamps are bounded above by the suite parameter
    :data:`LATEST_SUBMITTED_AT` (no answers from the future), which each run sets to its own
    time plus :data:`CLOCK_SKEW` (:func:`validate_survey_rows`).

    ``rules`` (:class:`RowRules`) drops the checks a source cannot meet by design.
    """
    rules = rules or RowRules()
    import great_expectations as gx

    e = gx.expectations
    checks = [
        RowCheck(e.ExpectColumnValuesToNotBeNull(column="response_id"), "response_id", "missing"),
        RowCheck(e.ExpectColumnValuesToBeUnique(column="response_id"), "response_id", REPEATED_ID),
        RowCheck(
            e.ExpectColumnValuesToBeNull(column="accepted_on"),
            "response_id",
            _ACCEPTED_ELSEWHERE,
        ),
        # The ids rows are joined on (a response's copies, its contact facts and history,
        # its customer's repeat contacts, its agent's week) alike: a trial's Vorgangsnummer
        # saved as 4,17001E+08 on three rows was kept, and joined them to one interaction.
        # A pseudonymised agent's id so written is landing's stand-in by now.
        *(
            RowCheck(
                e.ExpectColumnValuesToNotMatchRegex(
                    column=name,
                    regex=(
                        f"(?:{FORMULA_START})|(?:{SCIENTIFIC_ID})"
                        if name in FORMULA_CHECKED_IDS
                        else f"(?:{SCIENTIFIC_ID})"
                    )
                    + (f"|(?:{_AGENT_STAND_IN})" if name == "agent_id" else ""),
                ),
                name,
                _ID_AS_SPREADSHEET_TEXT,
            )
            for name in SPREADSHEET_CHECKED_IDS
        ),
        # One expectation; each failing row's reason says whether the text is not a
        # timestamp or names a local time the clocks skipped or repeated.
        RowCheck(
            e.ExpectColumnValuesToNotBeNull(column="submitted_at"),
            "submitted_at",
            _TIMESTAMP_CHECK,
        ),
        RowCheck(
            e.ExpectColumnValuesToBeBetween(
                column="submitted_at",
                min_value=EARLIEST_SURVEY,
                max_value={"$PARAMETER": LATEST_SUBMITTED_AT},
            ),
            "submitted_at",
            _TIMESTAMP_RANGE_CHECK,
        ),
        RowCheck(
            e.ExpectColumnValuesToBeInSet(column="channel", value_set=list(CHANNELS)),
            "channel",
            _CHANNEL_PROBLEM,
        ),
        RowCheck(
            e.ExpectColumnValuesToBeBetween(column="csat", min_value=1, max_value=5),
            "csat",
            score_problem(1, 5),
        ),
        RowCheck(
            e.ExpectColumnValuesToBeBetween(column="nps", min_value=0, max_value=10),
            "nps",
            score_problem(0, 10),
        ),
        RowCheck(
            e.ExpectColumnValuesToBeBetween(column="effort", min_value=1, max_value=7),
            "effort",
            score_problem(1, 7),
        ),
        RowCheck(
            e.ExpectColumnValuesToBeBetween(
                column="comment_chars", max_value=rules.max_comment_chars
            ),
            "comment",
            f"is longer than the {rules.max_comment_chars}{_CHARACTER_LIMIT}",
        ),
        *(
            RowCheck(
                e.ExpectColumnValuesToBeBetween(column=f"{name}_double_encoded", max_value=0),
                name,
                DOUBLE_ENCODED_UNREPAIRED if rules.repairs_mojibake else DOUBLE_ENCODED_PROBLEM,
            )
            for name in rules.double_encoded_columns
        ),
    ]
    if rules.check_rating:
        checks.append(
            RowCheck(
                e.ExpectColumnValuesToBeInSet(column="rating", value_set=list(RATINGS)),
                "rating",
                f"is not a rating ({' or '.join(RATINGS)})",
            )
        )
    if rules.require_interaction_id:
        checks.append(
            RowCheck(
                e.ExpectColumnValuesToNotBeNull(column="interaction_id"),
                "interaction_id",
                "missing",
            )
        )
    if rules.require_csat:
        checks.append(
            RowCheck(e.ExpectColumnValuesToNotBeNull(column="csat"), "csat", _CSAT_MISSING)
        )
    for name in rules.flag_facts:
        checks.append(
            RowCheck(
                e.ExpectColumnValuesToBeInSet(column=f"{name}{FLAG_READ}", value_set=[True]),
                name,
                FLAG_PROBLEM,
            )
        )
    for name in rules.number_facts:
        # Text that is not a number the definition's way is parsed below zero
        # (transforms.clean.UNREADABLE_NUMBER), so one check quotes both it and a negative.
        checks.append(
            RowCheck(
                e.ExpectColumnValuesToBeBetween(column=name, min_value=0),
                name,
                _NUMBER_FACT_PROBLEM,
            )
        )
    if rules.require_interaction_match:
        checks.append(
            RowCheck(
                e.ExpectColumnValuesToBeInSet(column="has_interaction", value_set=[True]),
                "interaction_id",
                "matches no interaction in the contact-centre exports of this day or the days "
                "before",
            )
        )
    return checks


@functools.cache
def survey_batch_suite(
    required: tuple[str, ...] = REQUIRED_SURVEY_COLUMNS,
) -> gx.ExpectationSuite:
    """The batch suite: required columns are present and the file has rows (built once per
    set of required columns)."""
    import great_expectations as gx

    _context()  # GX binds suites to the active context; make sure there is one.
    suite = gx.ExpectationSuite(name="surveys_batch")
    suite.add_expectation(
        gx.expectations.ExpectTableColumnsToMatchSet(column_set=list(required), exact_match=False)
    )
    suite.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1))
    return suite


#: How the comment check's problem ends (after its limit), and what a source's rows add.
_CHARACTER_LIMIT = "-character limit"
COMMENT_LIMIT_IN_DEFINITION = (
    " (max_comment_chars in the source definition sets it, if such text is feedback)"
)


@functools.cache
def _row_suite(
    require_interaction_id: bool,
    require_interaction_match: bool,
    require_csat: bool,
    check_rating: bool,
    number_facts: tuple[str, ...] = (),
    flag_facts: tuple[str, ...] = (),
    double_encoded_columns: tuple[str, ...] = ("comment",),
    repairs_mojibake: bool = False,
    max_comment_chars: int = MAX_COMMENT_CHARS,
) -> tuple[tuple[RowCheck, ...], gx.ExpectationSuite]:
    """The row checks and their suite for one combination of the rules that choose checks
    (a source's timezone and timestamp format only word the reasons), built once."""
    import great_expectations as gx

    _context()
    checks = survey_row_checks(
        RowRules(
            require_interaction_id=require_interaction_id,
            require_interaction_match=require_interaction_match,
            require_csat=require_csat,
            check_rating=check_rating,
            number_facts=number_facts,
            flag_facts=flag_facts,
            double_encoded_columns=double_encoded_columns,
            repairs_mojibake=repairs_mojibake,
            max_comment_chars=max_comment_chars,
        )
    )
    suite = gx.ExpectationSuite(name="surveys_rows")
    for check in checks:
        suite.add_expectation(check.expectation)
    return tuple(checks), suite


#: GX's context, stores and batch definitions are shared, unsynchronised state: a backfill
#: that validates dates on several threads must take turns here.
_GX_LOCK = threading.RLock()


def _serialised(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` holding the GX lock (building suites touches the context too)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _GX_LOCK:
            return function(*args, **kwargs)

    return wrapper


def _run(
    name: str,
    suite: gx.ExpectationSuite,
    frame: pd.DataFrame,
    index: bool,
    parameters: dict[str, Any] | None = None,
) -> Any:
    batch = _batch_definition(name).get_batch(batch_parameters={"dataframe": frame})
    result_format: dict[str, Any] = {"result_format": "BASIC"}
    if index:
        result_format = {
            "result_format": "COMPLETE",
            "unexpected_index_column_names": list(INDEX_COLUMNS),
            "return_unexpected_index_query": False,
            # The failing rows' (file, line) only, as one list per index column: with their
            # values GX reads each failing row's cell one by one (1.3 s for the 19,500
            # failures of a 1M date). The reasons quote the raw text from the frame anyway.
            "exclude_unexpected_values": True,
        }
    return batch.validate(suite, result_format=result_format, expectation_parameters=parameters)


def _write_docs(result: Any, page: Path) -> None:
    """Write ``result``'s Data Docs page, on the pages' thread when the caller asked for it
    (:func:`~servicelens.validation.docs.data_docs_in_background`). The page is rendered
    holding the GX lock: GX's renderers are not documented as safe beside a validation."""

    def write() -> Path:
        with _GX_LOCK:
            return write_data_docs_page(result, page)

    write_page_soon(write)


def _failing_rows(found: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """The (files, lines) of an ``unexpected_index_list`` in either of GX's shapes: one
    {index column: [values]} mapping (``exclude_unexpected_values``), or one mapping per
    failing row (as :func:`_with_unexpected_values` rebuilds it for Data Docs)."""
    if not found:
        return [], []
    if isinstance(found[0].get(LINE_COLUMN), list):
        return found[0][FILE_COLUMN], found[0][LINE_COLUMN]
    return [str(i[FILE_COLUMN]) for i in found], [int(i[LINE_COLUMN]) for i in found]


def _with_unexpected_values(result: Any, data: pd.DataFrame) -> Any:
    """``result`` with the values of each failed expectation's failing rows put back, as GX
    reports them without ``exclude_unexpected_values``, for the Data Docs page's table of
    unexpected values and their rows.

    GX reads each failing row's value one by one (1.3 s for the 19,500 failures of a 1M
    date); here they are taken from ``data`` (indexed by (file, line)) in one lookup per
    expectation, in GX's order, and the keys are filled as GX's ``_format_map_output``
    fills them for the COMPLETE format (great_expectations/expectations/expectation.py,
    1.x): ``unexpected_list``, ``unexpected_index_list`` (one mapping per row),
    ``partial_unexpected_list``, ``partial_unexpected_index_list`` and
    ``partial_unexpected_counts`` (the 20 most common values, most common first).
    ``tests/unit/test_gx_batches.py`` compares each of these keys with what GX reports
    itself. The result is changed in place and returned (so the failures are read from it
    afterwards in this per-row shape: :func:`_failing_rows` takes both).
    """
    from collections import Counter

    import pandas as pd

    partial = 20  # GX's default partial_unexpected_count
    for outcome in result.results:
        found = outcome.result.get("unexpected_index_list")
        if outcome.success or not found or not isinstance(found[0].get(LINE_COLUMN), list):
            continue
        column = outcome.expectation_config.kwargs["column"]
        files, lines = _failing_rows(found)
        rows = pd.MultiIndex.from_arrays([files, lines], names=list(INDEX_COLUMNS))
        values = data[column].reindex(rows).tolist()
        by_row = [
            {column: value, FILE_COLUMN: file, LINE_COLUMN: line}
            for value, file, line in zip(values, files, lines, strict=True)
        ]
        try:
            common: list[dict[str, Any]] = [
                {"value": value, "count": count}
                for value, count in sorted(
                    Counter(values).most_common(partial), key=lambda x: (-x[1], x[0])
                )
            ]
        except TypeError:
            common = [{"error": "partial_exception_counts requires a hashable type"}]
        outcome.result.update(
            {
                "partial_unexpected_list": values[:partial],
                "partial_unexpected_counts": common,
                "partial_unexpected_index_list": by_row[:partial],
                "unexpected_list": values,
                "unexpected_index_list": by_row,
            }
        )
    return result


@_serialised
def validate_survey_batch(
    header: list[str],
    rows: int,
    docs_page: Path | None = None,
    required: tuple[str, ...] = REQUIRED_SURVEY_COLUMNS,
    line: int = 1,
    shown: list[str] | None = None,
    rows_called: str = "survey rows",
) -> list[str]:
    """Run the batch suite on a file's header and row count; return failure messages.

    ``required`` are the columns the source cannot do without (the sample's contract by
    default; the export columns a source definition reads, for a mapped export), ``line``
    the last physical line of the header. With ``docs_page``, the validation result is
    also written there as a Data Docs page. ``shown`` (as long as ``header``) is the
    header as the file writes it, for the messages; ``header`` by default.
    ``rows_called``: what the file's rows are, for the message of a file without any (a
    mapped export's are not surveys: a trial's header-only CFPB file "has no survey rows").
    """
    import numpy as np
    import pandas as pd

    # Table-level expectations need only the column names and the row count, so GX gets a
    # frame of the right shape rather than a copy of the data: one byte of zero per cell
    # (empty object cells were 8 bytes each, and GX fingerprints every frame it is given).
    frame = pd.DataFrame(np.zeros((rows, len(header)), dtype=np.int8), columns=pd.Index(header))
    result = _run("surveys_batch", survey_batch_suite(required), frame, index=False)
    if docs_page is not None:
        _write_docs(result, docs_page)
    failures: list[str] = []
    for outcome in result.results:
        if outcome.success:
            continue
        kind = outcome.expectation_config.type
        if kind == "expect_table_columns_to_match_set":
            missing = outcome.result.get("details", {}).get("mismatched", {}).get("missing", [])
            written = shown or header
            guesses = _close_header_names(missing, written)
            said = ", ".join(f"{guess!r} for {name!r}" for name, guess in guesses.items())
            # The advice before the header, and the header cut short (header_excerpt): a
            # trial's refusal quoted 1,000 characters of Typeform questions first.
            failures.append(
                f"line {line} (header): required column(s) {missing} missing"
                + (f" (did you mean {said}?)" if said else "")
                + ". Fix the export, or map its columns with a source definition "
                f"(docs/sources.md); the header has {header_excerpt(written, guesses.values())}"
            )
        elif kind == "expect_table_row_count_to_be_between":
            failures.append(
                f"the file has no {rows_called} (a header only, or only empty rows), so "
                f"there is nothing to read; if {rows_called} were expected, ask for the "
                "complete export"
            )
        else:
            failures.append(f"{kind} failed: {outcome.result}")
    return failures


def _close_header_names(missing: list[str], header: list[str]) -> dict[str, str]:
    """The column of ``header`` each of the ``missing`` ones most likely is, for a "did you
    mean 'CSAT score' for 'csat'?" (difflib's close matches, ignoring case, or a name
    holding the missing one as a word); those with none are left out. Found by a trial: a
    renamed ``CSAT score`` got no hint here while a source definition's check gave one."""
    import difflib

    by_lower = {name.lower(): name for name in reversed(header)}
    guesses = {}
    for name in missing:
        close = [
            c
            for c in difflib.get_close_matches(name.lower(), list(by_lower), n=len(by_lower))
            if could_be_misspelt(name, c)
        ]
        holding = [h for h in header if name.lower() in re.split(r"[\W_]+", h.lower())]
        if guess := (close and by_lower[close[0]]) or (holding and holding[0]):
            guesses[name] = guess
    return guesses


def _unrepaired_text(texts: pl.Series, repairs_mojibake: bool) -> pl.Series:
    """Which values of ``texts`` are double-encoded (:func:`looks_double_encoded`), or, read
    with ``repair_mojibake`` (an 8-bit re-save), hold bytes the re-save lost
    (:func:`~servicelens.ingest.readers.lost_in_a_resave`): both are text no repair gives
    back, quarantined as README's policy says (a value ``repair_mojibake`` cannot repair
    is quarantined saying so). A Boolean Series of ``texts``' length and name."""
    found = looks_double_encoded(texts)
    return found | lost_in_a_resave(texts) if repairs_mojibake else found


@_serialised
def validate_survey_rows(
    frame: pl.DataFrame,
    now: datetime,
    docs_page: Path | None = None,
    rules: RowRules | None = None,
) -> pl.DataFrame:
    """Run the row suite on ``frame``; return (_row, reason) pairs. ``now`` (timezone-aware)
    bounds timestamps: later than ``now`` plus :data:`CLOCK_SKEW` is in the future.

    ``frame`` carries ``_row`` (its row index) and ``source_line`` (each record's line in the
    survey file, unique: one record per line it starts on); GX reports failing rows by their
    line, the number a person finds in the file and in the quarantine.

    Reasons read ``<column>: <raw value> <problem>``, using the raw text kept beside each
    parsed column, so a person sees exactly what the export said. ``rules`` says which
    checks the source needs (:class:`RowRules`). With ``docs_page``, the validation result
    is also written there as a Data Docs page.
    """
    rules = rules or RowRules()
    checks, suite = _row_suite(
        rules.require_interaction_id,
        rules.require_interaction_match,
        rules.require_csat,
        rules.check_rating,
        rules.number_facts,
        rules.flag_facts,
        rules.double_encoded_columns,
        rules.repairs_mojibake,
        rules.max_comment_chars,
    )
    if "submitted_at_dst" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("submitted_at_dst"))
    if frame.select(INDEX_COLUMNS).is_duplicated().any():
        raise ValueError(f"validate_survey_rows: {INDEX_COLUMNS} must name each row once")
    # One piece per column: polars 2.1 panics ("assertion failed: i < self.len()") in
    # pl.format over a String column whose first chunk is empty (seen on two exports joined
    # into one file, after the mapping set rows aside); the reasons below are built with
    # formatted_text, which reads that layout, and the many string expressions of the rules
    # are kept off it all the same. A no-op when contiguous.
    frame = frame.rechunk()
    frame = frame.with_columns(
        pl.col("comment").str.len_chars().fill_null(0).alias("comment_chars"),
        *(
            _unrepaired_text(
                frame.get_column(f"{name}_raw" if f"{name}_raw" in frame.columns else name)
                if name in frame.columns
                else pl.Series(name, [None] * frame.height, pl.String),
                rules.repairs_mojibake,
            )
            .cast(pl.Int64)
            .alias(f"{name}_double_encoded")
            for name in rules.double_encoded_columns
        ),
        # Reasons quote values; a long comment is quoted by its start and its length only.
        pl.when(pl.col("comment").str.len_chars() <= COMMENT_QUOTED_WHOLE)
        .then(pl.col("comment"))
        .otherwise(
            formatted_text(
                "{}... ({} characters)",
                pl.col("comment").str.slice(0, 40),
                pl.col("comment").str.len_chars(),
            )
        )
        .alias("comment_preview"),
    )
    for name, dtype in (
        ("accepted_on", pl.Date()),
        ("rating", pl.String()),
        ("has_interaction", pl.Boolean()),
        *((name, pl.String()) for name in SPREADSHEET_CHECKED_IDS),
    ):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype).alias(name))
    checked = sorted({c.expectation.column for c in checks})  # type: ignore[attr-defined]
    data = (
        frame.select(
            *INDEX_COLUMNS,
            # GX compares whole columns at once only for int64, float64 and datetime columns;
            # a narrower integer (a score, a length) is compared one Python value at a time,
            # a million calls a date. The values are the same in the wider type.
            *(
                pl.col(c).cast(pl.Int64) if frame.schema[c].is_integer() else pl.col(c)
                for c in checked
            ),
        )
        .to_pandas(use_pyarrow_extension_array=False)
        # Failing rows are named by (file, line) as an index: GX reads an index's values per
        # failing row, where index *columns* cost it a column-name lookup per row and name.
        .set_index(list(INDEX_COLUMNS))
    )
    result = _run(
        "surveys_rows", suite, data, index=True, parameters={LATEST_SUBMITTED_AT: now + CLOCK_SKEW}
    )
    if docs_page is not None:
        _write_docs(_with_unexpected_values(result, data), docs_page)
    pieces: list[pl.DataFrame] = []
    # Results are matched to checks by (type, column), not by position: GX does not promise
    # to return them in the order the suite lists them.
    by_key = {
        (c.expectation.expectation_type, c.expectation.column): c  # type: ignore[attr-defined]
        for c in checks
    }
    for outcome in result.results:
        config = outcome.expectation_config
        check = by_key[(config.type, config.kwargs["column"])]
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"expectation {outcome.expectation_config.type} on "
                f"{check.reported_column} could not run: {outcome.exception_info}"
            )
        if outcome.success:
            continue
        files, lines = _failing_rows(outcome.result.get("unexpected_index_list") or [])
        pieces.append(
            pl.DataFrame(
                {
                    FILE_COLUMN: pl.Series(files, dtype=pl.String, strict=False),
                    LINE_COLUMN: pl.Series(lines, dtype=pl.Int64, strict=False),
                    "column": check.reported_column,
                    "problem": check.problem,
                }
            )
        )
    if not pieces:
        return pl.DataFrame(schema={ROW_ID: pl.UInt32, "reason": pl.String})
    lines_to_rows = frame.select(
        ROW_ID, pl.col(FILE_COLUMN).cast(pl.String), pl.col(LINE_COLUMN).cast(pl.Int64)
    )
    raw = {*_raw_columns(frame).values(), "submitted_at", "submitted_at_dst", "accepted_on"} | (
        {"timezone", "response_id"} & set(frame.columns)
    )
    failures = (
        pl.concat(pieces)
        .join(lines_to_rows, list(INDEX_COLUMNS), "inner")
        .drop(*INDEX_COLUMNS)
        .join(frame.select(ROW_ID, *raw), ROW_ID, "left")
    )
    raw_value = pl.coalesce(
        *(
            pl.when(pl.col("column") == name).then(pl.col(raw))
            for name, raw in _raw_columns(frame).items()
        ),
        pl.lit(None, pl.String),
    )
    # Each row's own zone where the rows carry one (an export's header can name its zone,
    # as Qualtrics' ImportId row does); else the one the rules name.
    fallback = pl.lit(rules.timezone or "the source's timezone")
    where = pl.col("timezone").fill_null(fallback) if "timezone" in frame.columns else fallback
    expected = (
        f"expected {rules.timestamp_format}, as the source definition declares"
        if rules.timestamp_format
        else "expected ISO 8601, e.g. 2026-11-01T14:03:00+01:00"
    )
    # A value that is there is not called missing (a user's trial read "'13/01/2021
    # 13:43:49' is missing or not a timestamp").
    not_a_timestamp = (
        pl.when(raw_value.str.strip_chars().fill_null("") == "")
        .then(pl.lit(f"is missing ({expected})"))
        .otherwise(pl.lit(f"is not a timestamp ({expected})"))
    )
    if (
        rules.timestamp_format
        and rules.month_names is None
        and any(code in rules.timestamp_format for code in MONTH_NAME_CODES)
    ):
        # Found by a French trial: 5 déc. 2026 against %d %b %Y was told only the formats
        # expected, which it seemed to be written in.
        not_a_timestamp = (
            pl.when(raw_value.str.contains(r"\p{L}{3}").fill_null(False))
            .then(pl.lit(f"is not a timestamp ({expected}); {ENGLISH_MONTH_NAMES}"))
            .otherwise(not_a_timestamp)
        )
    if rules.timestamp_format or rules.from_definition:
        # A definition that declares no format reads ISO 8601; what its times read as
        # instead is told as when one is declared.
        reads_as = _formats_reading(raw_value, rules.timestamp_format)
        not_a_timestamp = (
            pl.when(reads_as.is_not_null())
            .then(
                formatted_text(
                    _READS_OTHERWISE,
                    pl.lit(rules.timestamp_format),
                    reads_as,
                    pl.lit(rules.timestamp_key),
                )
                if rules.timestamp_format
                else formatted_text(
                    _READS_UNDECLARED,
                    pl.lit(rules.timestamp_key),
                    reads_as,
                    pl.lit(rules.timestamp_key),
                )
            )
            .otherwise(not_a_timestamp)
        )
    if swapped := day_month_swapped(rules.timestamp_format):
        # Found by a trial: a day-first export read with a month-first format kept the rows
        # whose day is 12 or less, misdated, and quarantined the others with no hint.
        reads_swapped = _strict_year(raw_value, swapped)
        not_a_timestamp = (
            pl.when(reads_swapped.is_not_null())
            .then(
                pl.lit(
                    f"is not a timestamp as {rules.timestamp_format}{READS_SWAPPED}"
                    f"{swapped}: if the export writes its dates that way round, declare that "
                    "format in the definition (rows that read either way are misdated until "
                    "then)"
                )
            )
            .otherwise(not_a_timestamp)
        )
    if rules.timestamp_format:
        not_a_timestamp = (
            pl.when(no_such_day(raw_value, rules.timestamp_format))
            .then(pl.lit(NO_SUCH_DAY))
            .otherwise(not_a_timestamp)
        )
    if (declared := rules.timestamp_format) and "%Y" in declared and " or " not in declared:
        # Found by a trial: 01/01/21 (Excel's d/m/yy) against %d/%m/%Y was told to declare
        # %m/%d/%Y, which the next check refused as day-first: the year is the problem.
        short = declared.replace("%Y", "%y")
        not_a_timestamp = (
            pl.when(raw_value.str.strptime(pl.Datetime("us"), short, strict=False).is_not_null())
            .then(
                pl.lit(
                    f"is not a timestamp as {declared} reads it: its year has two digits, "
                    f"which {short} reads (a spreadsheet saved again writes them so): add that "
                    f"format to {rules.timestamp_key} in the definition (format takes a list)"
                )
            )
            .otherwise(not_a_timestamp)
        )
    # Found by a trial: an Excel re-save wrote a day as its serial number ('46322
    # 10:00:00'), told only the format expected; the audits' reader names such dates.
    serial = spreadsheet_serial_date(raw_value)
    not_a_timestamp = (
        pl.when(serial.is_not_null())
        .then(
            formatted_text(
                "is not a timestamp but a spreadsheet date number ({}): format the column as "
                f"a date in the spreadsheet before saving ({expected})",
                serial.dt.to_string(_date_part(rules.timestamp_format)),
            )
        )
        .otherwise(not_a_timestamp)
    )
    # A value left as read because its repair was not verified: which code page repairs it
    # (few such values, one Python call each).
    # A file read as UTF-8 though a code page is declared is not in it: none is tried.
    tries_code_pages = (
        rules.repairs_mojibake and rules.read_encoding != "auto" and not rules.read_as_unicode
    )
    unrepaired = pl.col("problem") == DOUBLE_ENCODED_UNREPAIRED
    # Each value is tried in Python and the answers mapped by expression, never a Python
    # callback in polars' pool (:func:`_code_pages_that_repair`).
    repairs_in = _code_pages_that_repair(
        failures.filter(unrepaired).select(raw_value).to_series() if tries_code_pages else None,
        raw_value,
        rules.read_encoding,
    )
    # One encoding named for the values of one check, or none: each line naming its own
    # would contradict the others (found by a trial: cp437 on line 4, cp1252 on line 10).
    one_encoding = (
        repairs_in.filter(unrepaired).drop_nulls().n_unique() <= 1
        if tries_code_pages
        else pl.lit(True)
    )
    clock_duration = pl.col("column").is_in(list(rules.clock_durations))
    # Shaped as a clock's time with minutes or seconds no clock shows: said which.
    off_the_clock = clock_duration_problem(raw_value)
    # A number written with the other decimal mark than the definition reads (151,4 against
    # a decimal point): it holds that mark and reads as a number written so.
    other_mark = _written_with_other_mark(raw_value, rules)
    # A score read as the definition reads every number (transforms.clean.parsed_score):
    # whole (out of the scale), with a fraction, or written with the other decimal mark.
    score_text = score_number(raw_value)
    score_read = read_number(score_text, rules.decimal_comma, rules.thousands)
    score_finite = score_read.is_finite().fill_null(False)
    score_whole = score_finite & (score_read == score_read.round(0)).fill_null(False)
    # Not whole read either way (4,5 against a decimal point): said so, not to resend it.
    score_other = read_number(
        score_text,
        not rules.decimal_comma,
        other_decimal_mark_thousands(rules.decimal_comma, rules.thousands),
    )
    score_fraction = (score_finite & ~score_whole) | (
        ~score_finite & score_other.is_finite() & (score_other != score_other.round(0))
    ).fill_null(False)
    score_in_thousands = score_whole & (
        score_text.str.contains(thousands_separator(rules.thousands)).fill_null(False)
        if rules.thousands
        else pl.lit(False)
    )
    # Problems hold no quote or apostrophe and nothing that changes from run to run (the
    # run's own time): the report counts reasons by their problem (validation/reasons.py).
    out_of_range = (
        pl.when(pl.col("submitted_at") < EARLIEST_SURVEY)
        .then(
            pl.lit(
                f"is before {EARLIEST_SURVEY.date()}, earlier than any survey kept: check the "
                "year (a two-digit year, or a date format the source definition should declare)"
            )
        )
        .otherwise(
            pl.lit(
                f"is in the future: later than the clock of the run plus "
                f"{CLOCK_SKEW.total_seconds() / 60:g} minutes of allowed skew. Check the "
                "timezone of the timestamps (a local time without an offset is read in the "
                "timezone of the source)"
            )
        )
    )
    # Found by a trial: a correction delivered in a later date's export was quarantined
    # with no word of which date holds the response, nor where a correction goes.
    accepted_elsewhere = formatted_text(
        "is already in the clean layer under survey date {}; a response counts once"
        + (
            ""
            if rules.from_definition
            else ". A correction to it goes in that date's export, which runs again when it "
            "changes (the nightly look-back, or backfill --rerun changed)"
        ),
        pl.col("accepted_on"),
    )
    # A spreadsheet's totals row (its id a label such as Summe) is said to be one, whatever
    # its checks failed, and not told to map its sums onto the score's scale (a retailer's
    # trial). A German trial's "Summe;;;;;;2.578,75;..." failed only on its empty cells and
    # was told only that they were missing.
    totals_row = (
        pl.col("response_id").str.contains("(?is)" + TOTALS_ROW.pattern)
        if "response_id" in frame.columns
        else pl.lit(False)
    ).fill_null(False)
    not_a_score = pl.col("problem").str.starts_with(_NOT_A_SCORE)
    # Said once per row, on its first column (the first of its sorted reasons): a trial's
    # "Summe" row with a word in csat and a sum in nps said it once per column.
    first_of_row = pl.col("column") == pl.col("column").min().over(ROW_ID)
    totals_note = (
        pl.when(totals_row & first_of_row)
        .then(pl.lit(f"; the row {TOTALS_ROW_NOTE}"))
        .otherwise(pl.lit(""))
    )
    problem = (
        pl.when(totals_row & not_a_score)
        .then(pl.col("problem"))
        .when(pl.col("problem") == _TIMESTAMP_RANGE_CHECK)
        .then(out_of_range)
        .when(pl.col("problem") == _ACCEPTED_ELSEWHERE)
        .then(accepted_elsewhere)
        .when(pl.col("problem") == _ID_AS_SPREADSHEET_TEXT)
        .then(
            pl.when(
                raw_value.str.contains(SCIENTIFIC_ID) | (raw_value == AGENT_IN_SCIENTIFIC_NOTATION)
            )
            .then(pl.lit(_SCIENTIFIC_ID_PROBLEM))
            .otherwise(pl.lit(_FORMULA_ID_PROBLEM))
        )
        .when(
            (pl.col("problem") == FLAG_PROBLEM)
            & raw_value.str.contains(NOT_A_CODE_MARK).fill_null(False)
        )
        .then(
            formatted_text(
                FLAG_NOT_IN_VALUES.replace("{codes}", "{}"),
                raw_value.str.extract(NOT_A_CODE_MARK, 1),
            )
        )
        .when(pl.col("problem") == _CHANNEL_PROBLEM)
        .then(pl.lit(channel_problem(rules.channel_from_column)))
        .when(pl.col("problem") == _CSAT_MISSING)
        .then(pl.lit(csat_missing_problem(rules)))
        .when(pl.col("problem").str.starts_with(_NOT_A_SCORE) & rules.from_definition)
        .then(
            pl.when(score_in_thousands)
            .then(pl.col("problem") + pl.lit(score_in_thousands_advice(rules)))
            .when(score_whole)
            .then(
                pl.col("problem")
                + pl.lit(SCORE_ON_ANOTHER_SCALE)
                + pl.col("column").replace_strict(
                    SCORE_SCALE_EXAMPLES, default="", return_dtype=pl.String
                )
            )
            .when(score_fraction)
            .then(pl.col("problem") + pl.lit(SCORE_NOT_WHOLE))
            .when(_written_with_other_mark(score_text, rules).fill_null(False))
            .then(pl.col("problem") + pl.lit(other_decimal_mark_advice(rules)))
            .when(raw_value.str.contains(NOT_A_CODE_MARK).fill_null(False))
            .then(
                pl.col("problem")
                + formatted_text(
                    SCORE_NOT_A_CODE.replace("{codes}", "{}"),
                    raw_value.str.extract(NOT_A_CODE_MARK, 1),
                )
            )
            .when(pl.col("column").is_in(list(rules.mapped_scores)))
            .then(pl.col("problem") + pl.lit(SCORE_NOT_IN_VALUES))
            .otherwise(pl.col("problem") + pl.lit(SCORE_IN_DEFINITION))
        )
        .when((pl.col("problem") == _NUMBER_FACT_PROBLEM) & clock_duration)
        .then(
            pl.when(off_the_clock.is_not_null())
            .then(formatted_text(CLOCK_PART_PROBLEM, off_the_clock))
            .otherwise(pl.lit(CLOCK_DURATION_PROBLEM))
        )
        .when(
            (pl.col("problem") == _NUMBER_FACT_PROBLEM)
            & raw_value.str.contains(CURRENCY_IN_NUMBER).fill_null(False)
        )
        .then(pl.lit(CURRENCY_PROBLEM))
        .when(
            (pl.col("problem") == _NUMBER_FACT_PROBLEM)
            & pl.lit(rules.from_definition)
            & other_mark.fill_null(False)
        )
        .then(pl.lit(other_decimal_mark_problem(rules)))
        .when(pl.col("problem") == _NUMBER_FACT_PROBLEM)
        .then(pl.lit(number_problem(rules.number_style)))
        # A trial's CFPB complaints over the limit were told no remedy.
        .when(pl.col("problem").str.ends_with(_CHARACTER_LIMIT) & rules.from_definition)
        .then(pl.col("problem") + pl.lit(COMMENT_LIMIT_IN_DEFINITION))
        .when(unrepaired & pl.lit(rules.read_as_unicode))
        .then(pl.lit(DOUBLE_ENCODED_READ_AS_UTF8))
        .when(unrepaired & repairs_in.is_not_null() & ~one_encoding)
        .then(pl.lit(DOUBLE_ENCODED_NO_ONE_CODE_PAGE.replace("{declared}", rules.read_encoding)))
        .when(unrepaired & (repairs_in == "utf-8"))
        .then(pl.lit(DOUBLE_ENCODED_UTF8_LINE.replace("{declared}", rules.read_encoding)))
        .when(unrepaired & repairs_in.is_not_null())
        .then(
            formatted_text(
                DOUBLE_ENCODED_OTHER_CODE_PAGE.replace("{declared}", rules.read_encoding).replace(
                    "{page}", "{}"
                ),
                *[repairs_in] * DOUBLE_ENCODED_OTHER_CODE_PAGE.count("{page}"),
            )
        )
        .when(pl.col("problem") != _TIMESTAMP_CHECK)
        .then(pl.col("problem"))
        .when(pl.col("submitted_at_dst") == NONEXISTENT)
        .then(
            formatted_text(
                "does not exist in {}: the clocks went forward over it (daylight saving); it "
                "was not shifted. Ask for times with a UTC offset",
                where,
            )
        )
        .when(pl.col("submitted_at_dst") == AMBIGUOUS)
        .then(
            formatted_text(
                "happened twice in {}: the clocks went back over it (daylight saving), so "
                "which instant is meant cannot be told. Ask for times with a UTC offset"
                # A source's definition can take the earlier instant (a trial's Microsoft
                # Forms export has no offset to ask for).
                + (
                    ", or set ambiguous_times to earliest in the definition to take the earlier"
                    if rules.from_definition
                    else ""
                ),
                where,
            )
        )
        .otherwise(not_a_timestamp)
    ) + totals_note
    # An id a spreadsheet wrote in scientific notation is told so, not also to keep one of
    # its copies: they are different responses whose digits were lost (a trial's export).
    scientific_repeat = (pl.col("problem") == REPEATED_ID) & raw_value.str.contains(
        SCIENTIFIC_ID
    ).fill_null(False)
    return (
        failures.filter(~scientific_repeat)
        .with_columns(problem.alias("problem"))
        .with_columns(
            formatted_text(
                "{}: {} {}",
                "column",
                pl.when(raw_value.is_null() | (raw_value == ""))
                .then(pl.lit("(empty)"))
                .when(raw_value == AGENT_IN_SCIENTIFIC_NOTATION)
                .then(pl.lit(_AGENT_NOT_SHOWN))
                .otherwise(
                    pl.lit("'")
                    + visible_text(raw_value.str.replace(NOT_A_CODE_MARK, ""))
                    + pl.lit("'")
                ),
                "problem",
            ).alias("reason")
        )
        .select(ROW_ID, "reason")
    )


def _code_pages_that_repair(values: pl.Series | None, raw_value: pl.Expr, encoding: str) -> pl.Expr:
    """An expression giving, for each row, :func:`code_page_that_repairs` of the value
    ``raw_value`` gives (a String; null where none repairs it or the value is not among
    ``values``); a null String literal where ``values`` is None (no code page is tried).

    ``values`` (String) are the values the answers are wanted for: each distinct one is
    tried once here, in Python, and the answers mapped by ``replace_strict``, so no Python
    runs inside polars' thread pool (see :func:`_reasons_of_failures`' comment)."""
    if values is None:
        return pl.lit(None, pl.String)
    answers = {
        value: page
        for value in values.drop_nulls().unique().to_list()
        if (page := code_page_that_repairs(value, encoding)) is not None
    }
    if not answers:
        return pl.lit(None, pl.String)
    return raw_value.replace_strict(
        list(answers), list(answers.values()), default=None, return_dtype=pl.String
    )


#: Characters a value can hold that look like a space or like nothing, each as a reason
#: quoting the value names it: a French trial's fee ``1\u202f299,99`` was quoted as
#: '1 299,99' is not a number written with a space between thousands, which it seemed to be.
INVISIBLE_CHARACTERS: dict[str, str] = {
    "\u00a0": "<U+00A0 no-break space>",
    "\u2007": "<U+2007 figure space>",
    "\u2009": "<U+2009 thin space>",
    "\u200a": "<U+200A hair space>",
    "\u200b": "<U+200B zero-width space>",
    "\u202f": "<U+202F narrow no-break space>",
    "\u2060": "<U+2060 word joiner>",
    "\ufeff": "<U+FEFF byte order mark>",
}


def visible_text(text: pl.Expr) -> pl.Expr:
    """``text`` with each of :data:`INVISIBLE_CHARACTERS` written as its code point and name,
    for a reason that quotes it."""
    return text.str.replace_many(list(INVISIBLE_CHARACTERS), list(INVISIBLE_CHARACTERS.values()))


#: What a time with a month name a declared %b or %B does not read is told (no quote or
#: apostrophe in it, as for :func:`number_problem`).
ENGLISH_MONTH_NAMES = (
    "%b and %B read English month names only (Dec, December): if the export writes them in "
    "another language, declare it as month_names in the [read] of the definition ("
    + ", ".join(MONTH_NAMES)
    + ")"
)


#: The raw copies of the numbers rows can carry (transforms.clean.normalise_surveys).
_NUMBER_FACT_RAW = frozenset(
    f"{name}_raw" for name in (*ROW_NUMBER_COLUMNS, *ROW_COUNT_COLUMNS, *ROW_FLAG_COLUMNS)
)


def _raw_columns(frame: pl.DataFrame) -> dict[str, str]:
    """Map each reported column to the column holding its text as exported."""
    free_text = ("comment", "language", "delivered_at")
    reported = (
        *(c for c in RAW_SURVEY_COLUMNS if c not in free_text),
        "customer_id",
        "agent_id",
        "rating",
        *(c.removesuffix("_raw") for c in frame.columns if c in _NUMBER_FACT_RAW),
    )
    columns = {
        name: f"{name}_raw" if f"{name}_raw" in frame.columns else name
        for name in reported
        if name in frame.columns
    }
    if "comment_preview" in frame.columns:
        columns["comment"] = "comment_preview"
    for name in CHECKED_FOR_MOJIBAKE:
        if name in frame.columns:
            columns.setdefault(name, f"{name}_raw" if f"{name}_raw" in frame.columns else name)
    return columns
