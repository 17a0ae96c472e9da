"""Every problem a row check can word is read back as its own kind by the report.

The report counts quarantine reasons by their problem (servicelens/validation/reasons.py),
which ends at the last quote of the raw value: a problem with an apostrophe in it ("the
export's word") was filed under the words after it, and one holding the run's time would
have been a new kind every run.
"""

from __future__ import annotations

import polars as pl
import pytest

from servicelens.validation.expectations import (
    CLOCK_DURATION_PROBLEM,
    COMMENT_LIMIT_IN_DEFINITION,
    CSAT_MISSING_IN_DEFINITION,
    CURRENCY_PROBLEM,
    NO_SUCH_DAY,
    SCORE_IN_DEFINITION,
    SCORE_NOT_A_CODE,
    SCORE_NOT_IN_VALUES,
    SCORE_NOT_WHOLE,
    SCORE_ON_ANOTHER_SCALE,
    SCORE_SCALE_EXAMPLES,
    RowRules,
    channel_problem,
    number_problem,
    survey_row_checks,
)
from servicelens.validation.reasons import (
    reason_codes,
    reason_kind,
    reasons_of_rejects_and_superseded,
    with_reason_kinds,
)
from transforms.schemas import REASON_KINDS

#: The problems worded per row or per source rather than fixed in a check.
WORDED = [
    channel_problem(True),
    channel_problem(False),
    number_problem("a decimal comma and . between thousands"),
    number_problem(None),
    CLOCK_DURATION_PROBLEM,
    CURRENCY_PROBLEM,
    NO_SUCH_DAY,
    "missing" + CSAT_MISSING_IN_DEFINITION,
    "is longer than the 40000-character limit" + COMMENT_LIMIT_IN_DEFINITION,
    "is not a score from 1 to 5" + SCORE_IN_DEFINITION,
    "is not a score from 1 to 5" + SCORE_ON_ANOTHER_SCALE,
    *(
        "is not a score from 0 to 10" + SCORE_ON_ANOTHER_SCALE + e
        for e in SCORE_SCALE_EXAMPLES.values()
    ),
    "is not a score from 1 to 5" + SCORE_NOT_A_CODE.format(codes="1, 2, 3, 4"),
    "is not a score from 1 to 5" + SCORE_NOT_IN_VALUES,
    "is not a score from 1 to 5" + SCORE_NOT_WHOLE,
    # The day-first hint (validate_survey_rows), as a source with one format words it.
    "is not a timestamp as %m/%d/%Y reads it, but reads as %d/%m/%Y: if the export writes "
    "the day first, declare that format in the definition (rows that read either way are "
    "misdated until then)",
    # A spreadsheet's date serial number (validate_survey_rows, spreadsheet_serial_date).
    "is not a timestamp but a spreadsheet date number (27/10/2026): format the column as a "
    "date in the spreadsheet before saving (expected %d/%m/%Y %H:%M:%S, as the source "
    "definition declares)",
    # A time another common format reads (validate_survey_rows, _formats_reading).
    "is not a timestamp as %Y-%m-%d %H:%M:%S reads it; it reads as %Y-%m-%d %H:%M: if the "
    "export writes its times so (a spreadsheet saved again changes them), add that format to "
    "submitted_at in the definition (format takes a list)",
]


def _fixed_problems() -> list[str]:
    rules = RowRules(check_rating=True, number_facts=("handle_seconds",), flag_facts=("sla_met",))
    # Markers (one word) are worded at validation time: the worded list covers them.
    return [c.problem for c in survey_row_checks(rules) if " " in c.problem]


@pytest.mark.parametrize("problem", [*WORDED, *_fixed_problems()])
def test_a_problem_is_its_own_kind_after_a_quoted_value(problem: str) -> None:
    reasons = pl.Series([f"channel: 'it''s odd' {problem}", f"channel: (empty) {problem}"])
    kinds = pl.select(reason_kind(pl.lit(reasons)).alias("k")).unnest("k")
    assert kinds.get_column("kind").to_list() == [problem, problem]
    assert kinds.get_column("column").to_list() == ["channel", "channel"]


def test_superseded_copies_are_counted_apart_from_rejects() -> None:
    """The report's reasons table counted earlier copies a later delivery replaced with the
    rejects. The quarantine's superseded column splits them; in rows written before it
    (null), a first reason naming the newer copy does, as the quarantine contract says."""
    late = "submitted_at: (empty) missing"
    quarantine = pl.DataFrame(
        {
            "source": ["acme"] * 5,
            "feed": ["surveys"] * 5,
            "reasons": [
                ["duplicate delivery: superseded by line 9"],
                # A copy replaced by a later one that failed its checks: still a copy.
                ["duplicate delivery: superseded by line 12, which failed its checks", late],
                [late],
                ["duplicate delivery: superseded by line 4"],  # written before the column
                ["malformed line: 7 fields where the header has 9"],  # likewise
            ],
            "superseded": [True, True, False, None, None],
        }
    )
    rows = reasons_of_rejects_and_superseded(quarantine).rows()
    assert rows == [
        ("rejected", "acme", "surveys", "malformed line", None, 1),
        ("rejected", "acme", "surveys", "missing", "submitted_at", 1),
        ("superseded", "acme", "surveys", "duplicate delivery", None, 3),
        ("superseded", "acme", "surveys", "missing", "submitted_at", 1),
    ]


#: Markers of checks whose problem is worded per row at validation time, and those wordings.
MARKERS = {
    "accepted under another survey date",
    "id as a spreadsheet wrote it",
    "timestamp range",
    "csat missing",
}
WORDED_PER_ROW = [
    "is already in the clean layer under survey date 2026-10-03; a response counts once",
    "is a number a spreadsheet wrote in scientific notation: its digits are lost. Export ...",
    "starts like a spreadsheet formula; an id never does",
    "is in the future: later than the clock of the run plus 5 minutes of allowed skew. ...",
    "is before 2000-01-01, earlier than any survey kept: check the year ...",
    "is after the delivery was landed (2026-12-01 10:00 UTC), in the future: ...",
    "does not exist in Europe/London: the clocks went forward over it (daylight saving); ...",
    "happened twice in Europe/London: the clocks went back over it (daylight saving), ...",
    "missing; the row looks like the totals or summary row of a spreadsheet, not a response",
]


@pytest.mark.parametrize(
    "problem",
    [*WORDED, *WORDED_PER_ROW, *(p for p in _fixed_problems() if p not in MARKERS)],
)
def test_every_problem_has_a_stable_kind(problem: str) -> None:
    """The quarantine's reason_kinds: every problem a check words is one of the contract's
    kinds, not 'other', and its column is the reason's, whatever value it quotes (a BI
    trial's ~1,000 reasons were 582 distinct strings)."""
    reasons = pl.Series([f"csat: '9' {problem}", f"csat: 'it''s odd' {problem}"])
    codes = pl.select(reason_codes(pl.lit(reasons)).alias("k")).unnest("k")
    [kind] = codes.get_column("kind").unique().to_list()
    assert kind in REASON_KINDS and kind != "other", problem
    assert codes.get_column("column").to_list() == ["csat", "csat"]


def test_reason_kinds_are_parallel_to_the_reasons() -> None:
    """Record-level reasons name no column; a definition's [[exclude]] reason names the
    export's column; a reason no kind names is 'other', never dropped."""
    excluded = "is not a real response (1 = survey preview): set aside by the definition"
    quarantine = pl.DataFrame(
        {
            "reasons": [
                [
                    "duplicate delivery: superseded by line 9 of b.csv",
                    f"Status: '1': {excluded}",
                ],
                [
                    "malformed line: 7 fields where the header has 9",
                    "csat: '9' is not a score from 1 to 5",
                ],
                ["exact duplicate: the same answers as line 11", "something new: x"],
                ["repeats the header (lines 1-3): two exports joined into one file?"],
                ["submitted_at: now reads as survey date 2021-01-01, so the row belongs to ..."],
                [],
            ]
        }
    )
    got = with_reason_kinds(quarantine, (excluded,))
    assert got.get_column("reason_kinds").to_list() == [
        ["duplicate_delivery", "set_aside"],
        ["malformed_line", "not_a_score"],
        ["exact_duplicate", "other"],
        ["repeated_header"],
        ["wrong_partition"],
        [],
    ]
    assert got.get_column("reason_columns").to_list() == [
        [None, "Status"],
        [None, "csat"],
        [None, None],
        [None],
        ["submitted_at"],
        [],
    ]


def test_an_updated_ratings_earlier_version_is_its_own_kind() -> None:
    """The reason a later version of a changed Zendesk rating gives its earlier one (fixCH)
    came in beside the reason kinds (fixCM), which read it as 'other'."""
    reason = (
        "updated: superseded by the later version on line 23 of zd-ratings-2026-11-21-p1.json "
        "(updated_at 2026-11-21T09:30:00Z)"
    )
    got = with_reason_kinds(pl.DataFrame({"reasons": [[reason]]}))
    assert got.get_column("reason_kinds").to_list() == [["updated"]]
    assert got.get_column("reason_columns").to_list() == [[None]]
