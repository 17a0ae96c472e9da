"""Unit tests of the pure cleaning functions on frames written in the test."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.clean import (
    INTERACTION_COLUMNS,
    UNPARSEABLE,
    join_feed_facts,
    join_interactions,
    latest_interactions,
    local_time_problem,
    normalise_surveys,
    normalised_channel,
    normalised_text,
    normalised_text_of,
    offset_instant,
    parsed_number,
    parsed_score,
    parsed_timestamp,
    safe_comment,
    split_superseded_deliveries,
    survey_day,
    unstated_comments,
    with_parsed_timestamps,
    with_policy_facts,
    written_date,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Phone", "phone"),
        (" phone", "phone"),
        ("VOICE", "phone"),
        ("Live  Chat", "chat"),
        ("E-mail", "email"),
        ("email ", "email"),
        ("In-Store", "store"),
        ("Web Form", "web"),
        ("fax", "fax"),
    ],
)
def test_channel_spellings_map_to_canonical(raw: str, expected: str) -> None:
    out = pl.DataFrame({"channel": [raw]}).select(normalised_channel())
    assert out.item() == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4", 4),
        (" 5 ", 5),
        ("4 - Satisfied", 4),
        ("1 - Very dissatisfied", 1),
        ("11", 11),
        ("4,0", UNPARSEABLE),  # a decimal comma, where none is declared (see below)
        ("4.00", 4),
        ("4,5", UNPARSEABLE),  # a score is whole
        ("4,", UNPARSEABLE),
        ("n/a", UNPARSEABLE),
        ("five", UNPARSEABLE),
        ("", None),
        (None, None),
    ],
)
def test_scores_parse_or_are_marked_unparseable(raw: str | None, expected: int | None) -> None:
    out = pl.DataFrame({"csat": [raw]}, schema={"csat": pl.String}).select(parsed_score("csat"))
    assert out.item() == expected


#: Score texts read under each way a definition declares numbers: (decimal_comma,
#: thousands) -> what parsed_score gives (127: a whole number above every scale).
SCORE_LOCALES: dict[tuple[bool, str], dict[str, int | None]] = {
    (False, ""): {"1.000": 1, "1,000": UNPARSEABLE, "1.0": 1, "10": 10, "4,5": UNPARSEABLE,
                  "1.000,0": UNPARSEABLE, "4,0": UNPARSEABLE, "4 - Satisfied": 4},
    (False, ","): {"1.000": 1, "1,000": 127, "1.0": 1, "10": 10, "4,5": UNPARSEABLE,
                   "1.000,0": UNPARSEABLE, "4,0": UNPARSEABLE, "4 - Satisfied": 4},
    (True, ""): {"1.000": UNPARSEABLE, "1,000": 1, "1.0": UNPARSEABLE, "10": 10,
                 "4,5": UNPARSEABLE, "1.000,0": UNPARSEABLE, "4,0": 4, "4 - Satisfied": 4},
    (True, "."): {"1.000": 127, "1,000": 1, "1.0": UNPARSEABLE, "10": 10, "4,5": UNPARSEABLE,
                  "1.000,0": 127, "4,0": 4, "4 - Zufrieden": 4},
}  # fmt: skip


@pytest.mark.parametrize(("decimal_comma", "thousands"), list(SCORE_LOCALES))
def test_scores_read_with_the_declared_decimal_mark_and_thousands_separator(
    decimal_comma: bool, thousands: str
) -> None:
    """A score is read as every number a row carries (transforms.clean.read_number): a
    French insurer's trial kept a Lisbon BPO's nps `1.000` (decimal comma, thousands `.`,
    so 1000) as 1. Each text reads as parsed_number reads it, then must be whole."""
    expected = SCORE_LOCALES[(decimal_comma, thousands)]
    frame = pl.DataFrame({"nps": list(expected)}, schema={"nps": pl.String})
    got = frame.select(
        parsed_score("nps", decimal_comma, thousands),
        parsed_number("nps", decimal_comma, thousands).alias("number"),
    )
    assert dict(zip(expected, got.get_column("nps").to_list(), strict=True)) == expected
    # One reading: a score is the number parsed_number reads, where that is whole.
    for text, (score, number) in zip(expected, got.iter_rows(), strict=True):
        if score not in (UNPARSEABLE, 127) and " - " not in text:
            assert number == score


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01T14:03:00+02:00", datetime(2026, 11, 1, 12, 3, tzinfo=UTC)),
        ("2026-11-01 12:03:00Z", datetime(2026, 11, 1, 12, 3, tzinfo=UTC)),
        ("2026-11-01T12:03:00.250Z", datetime(2026, 11, 1, 12, 3, 0, 250000, tzinfo=UTC)),
        # Naive times are the business's local time: London is UTC+1 in July.
        ("2026-07-01 13:03:00", datetime(2026, 7, 1, 12, 3, tzinfo=UTC)),
        # A bare ISO date is midnight there (the docstring promised it; it read as null).
        ("2026-07-01", datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
        ("yesterday", None),
        ("31/31/2026", None),
    ],
)
def test_timestamps_become_utc(raw: str, expected: datetime | None) -> None:
    out = pl.DataFrame({"ts": [raw]}).select(parsed_timestamp("ts", "Europe/London"))
    assert out.item() == expected


#: Texts of every kind the timestamp readers meet: offsets, Z, naive, bare dates, the
#: London clocks' skipped (29 March 2026 01:30) and repeated (25 October 01:30) hours,
#: declared formats, unreadable text and null.
TIMESTAMP_TEXTS = [
    "2026-11-01T12:03:00+01:00",
    "2026-11-01 12:03:00Z",
    " 2026-07-01 13:03:00 ",
    "2026-07-01",
    "2026-03-29T01:30:00",
    "2026-10-25T01:30:00",
    "2026-10-25T01:30:00+01:00",
    "25.10.2026 01:30",
    "29.03.2026 01:30",
    "18/08/2016",
    "yesterday",
    "",
    None,
]


@pytest.mark.parametrize("ambiguous", ["earliest", "null"])
@pytest.mark.parametrize("formats", [(), ("%d.%m.%Y %H:%M", "iso", "%d/%m/%Y")])
def test_staged_timestamps_equal_the_single_expressions(
    ambiguous: str, formats: tuple[str, ...]
) -> None:
    """with_parsed_timestamps computes each reading of a text once (polars does not share
    sub-expressions); the values must be parsed_timestamp's and local_time_problem's."""
    frame = pl.LazyFrame(
        {"a": TIMESTAMP_TEXTS, "b": list(reversed(TIMESTAMP_TEXTS)), "keep": range(13)},
        schema={"a": pl.String, "b": pl.String, "keep": pl.Int64},
    )
    expected = frame.with_columns(
        parsed_timestamp("a", "Europe/London", formats, ambiguous),
        parsed_timestamp("b", "Europe/London", (), ambiguous),
        local_time_problem("a", "Europe/London", formats, ambiguous),
    ).collect()
    staged = with_parsed_timestamps(
        frame, ["a", "b"], "Europe/London", {"a": formats}, ambiguous, flag_dst=["a"]
    ).collect()
    assert staged.columns == expected.columns
    assert staged.equals(expected)
    # The cases the texts are there for are met.
    assert expected.get_column("a_dst").drop_nulls().unique().sort().to_list() == (
        ["ambiguous", "nonexistent"] if ambiguous == "null" else ["nonexistent"]
    )


@pytest.mark.parametrize("more", [(), ("%Y-%m-%dT%H:%M%z", "%d.%m.%Y %H:%M", "%d/%m/%Y")])
def test_a_time_read_with_its_offset_is_that_instant_whatever_formats_follow(
    more: tuple[str, ...],
) -> None:
    """The audits read a time written with its offset by ISO 8601 alone, and only the
    other rows by every format (servicelens.ingest.audits)."""
    frame = pl.DataFrame({"t": TIMESTAMP_TEXTS}, schema={"t": pl.String})
    alone = frame.select(offset_instant("t", ("iso",))).to_series()
    full = frame.select(parsed_timestamp("t", "Asia/Tokyo", ("iso", *more))).to_series()
    assert alone.is_not_null().sum() == 3  # the three texts with an offset or Z
    assert alone.filter(alone.is_not_null()).equals(full.filter(alone.is_not_null()))


@pytest.mark.parametrize(
    ("raw", "formats", "expected"),
    [
        ("08-18-2016", ("%m-%d-%Y",), date(2016, 8, 18)),
        ("2016-08-18", (), date(2016, 8, 18)),
        ("2016-08-18", ("iso",), date(2016, 8, 18)),
        (" 2016-08-18 ", ("%Y-%m-%d", "iso"), date(2016, 8, 18)),
        # A text with a time of day is an instant: dated in the business timezone instead.
        ("2016-08-18 00:30:00", (), None),
        ("2016-08-18T00:30:00+02:00", ("iso",), None),
        ("18/08/2016 00:30", ("%d/%m/%Y %H:%M", "%d/%m/%Y"), None),
        # The first format that reads the text decides, as parsed_timestamp reads it.
        ("18/08/2016", ("%d/%m/%Y %H:%M", "%d/%m/%Y"), date(2016, 8, 18)),
        ("not a date", ("%d/%m/%Y",), None),
        (None, (), None),
    ],
)
def test_a_date_written_alone_is_read_as_that_day(
    raw: str | None, formats: tuple[str, ...], expected: date | None
) -> None:
    frame = pl.DataFrame({"ts": [raw]}, schema={"ts": pl.String})
    assert frame.select(written_date("ts", formats)).item() == expected


@pytest.mark.parametrize(
    ("raw", "formats", "timezone", "expected"),
    [
        # Midnight in Berlin is 23:00 the day before in London: a date alone keeps its day.
        ("08-18-2016", ("%m-%d-%Y",), "Europe/Berlin", date(2016, 8, 18)),
        ("2016-08-18", (), "Asia/Tokyo", date(2016, 8, 18)),
        # A time of day is an instant, dated where the business is (00:30 CEST, 23:30 BST).
        ("2016-08-18 00:30:00", (), "Europe/Berlin", date(2016, 8, 17)),
    ],
)
def test_a_survey_is_dated_by_its_written_day_or_its_instant_in_the_business_timezone(
    raw: str, formats: tuple[str, ...], timezone: str, expected: date
) -> None:
    frame = pl.DataFrame({"ts": [raw]})
    parsed = parsed_timestamp("ts", timezone, formats)
    assert frame.select(survey_day(parsed, "ts", "Europe/London", formats)).item() == expected


def test_text_loses_control_characters_and_empty_becomes_null() -> None:
    out = pl.DataFrame({"c": ["  late\x07  again\n", "   ", None]}).select(normalised_text("c"))
    assert out.to_series().to_list() == ["late again", None, None]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<b>late</b> again", "late again"),
        ("late<br/>again", "late again"),
        ("<BR>late<Br />again", "late again"),
        ('<p class="a">late</p>', "late"),
        ('<a href="https://x.example">link</a>', "link"),
        ("<script>fetch('//x')</script>ok", "ok"),
        ("ok <!-- note --> then", "ok then"),
        # Not markup: CFPB's redaction placeholder, a customer's words (a user's trial saw
        # "Executive Resolutions <XXXX> Date" lose its placeholder).
        ("Executive Resolutions <XXXX> Date", "Executive Resolutions <XXXX> Date"),
        ("Dear <name>, thanks", "Dear <name>, thanks"),
        ("a < b > c", "a < b > c"),
        ("<3 the agent", "<3 the agent"),
        ("<bold> or <b", "<bold> or <b"),
        # A comment that starts like a formula is a sentence: Parquet is not a spreadsheet
        # (CFPB complaint 6007403 was stored as "'- Kia agreed ...").
        ("- Kia agreed to pay", "- Kia agreed to pay"),
        ("+1 for the agent", "+1 for the agent"),
        ("=HYPERLINK(1)", "=HYPERLINK(1)"),
        ("@support never replied", "@support never replied"),
    ],
)
def test_a_comment_loses_html_markup_and_keeps_its_text_as_written(raw: str, expected: str) -> None:
    out = pl.DataFrame({"comment": [raw]}).select(safe_comment()).item()
    assert out == expected


@pytest.mark.parametrize(
    "odd",
    [None, "", " I9", "I9 ", "I\t9", "I  9", "I\x079", "I\x7f9", "I\u00a09", "I\u20039", "\u2028"],
)
def test_ids_checked_first_normalise_exactly_as_every_value(odd: str | None) -> None:
    # Clean ids are returned as they are; one value with anything to normalise (whitespace
    # of any kind, a control character, empty text) normalises the column as before.
    ids = pl.DataFrame({"id": ["I1", "I-2", "Ä3", "I\u00e94", "😀5", odd]})
    expected = ids.select(normalised_text("id"))
    assert ids.select(normalised_text_of(ids, "id")).equals(expected)
    # A missing id is nothing to normalise; any other of these is.
    assert normalised_text_of(ids, "id").meta.eq(pl.col("id")) == (odd is None)
    clean = ids.head(5)
    assert normalised_text_of(clean, "id").meta.eq(pl.col("id"))  # nothing to do
    assert clean.select(normalised_text_of(clean, "id")).equals(clean)
    assert clean.select(normalised_text_of(clean, "id")).equals(clean.select(normalised_text("id")))


def _surveys(rows: list[dict[str, object]]) -> pl.DataFrame:
    base = {
        "response_id": "R1",
        "interaction_id": "I1",
        "submitted_at": "2026-11-01T10:00:00Z",
        "channel": "phone",
        "csat": "2",
        "nps": "",
        "effort": "",
        "comment": "late",
        "language": "en",
        "delivered_at": "2026-11-01T11:00:00Z",
        "source_file": "s.csv",
    }
    frame = pl.DataFrame([{**base, **row} for row in rows])
    return frame.with_columns(pl.int_range(2, frame.height + 2).cast(pl.Int64).alias("source_line"))


def test_redelivery_keeps_the_latest_and_reports_the_superseded() -> None:
    raw = _surveys(
        [
            {"csat": "2"},
            {"csat": "4", "delivered_at": "2026-11-02T11:00:00Z"},
            {"response_id": "R2"},
            {"response_id": "R2"},  # an exact copy delivered at the same time
        ]
    )
    typed = normalise_surveys(raw, "Europe/London", date(2026, 11, 1))
    kept, superseded = split_superseded_deliveries(typed)
    assert kept.sort("response_id").select("response_id", "csat").rows() == [("R1", 4), ("R2", 2)]
    assert sorted(superseded.get_column("source_line").to_list()) == [2, 4]
    assert kept.height + superseded.height == raw.height


def test_stated_languages_are_reduced_to_their_base_language() -> None:
    """Qualtrics writes ``ES-ES`` for Spanish-Spain and ``ES`` for Spanish (trial 112): both
    are Spanish, and a blank one is detected as ``es``; one language, not two."""
    stated = ["ES-ES", "es_ES", "en-GB", "fr-CA", "pt-BR", "ES", " EN ", "-ES", "", None]
    raw = _surveys([{"response_id": f"R{i}", "language": code} for i, code in enumerate(stated)])
    typed = normalise_surveys(raw, "Europe/London", date(2026, 11, 1)).sort("source_line")
    assert typed.get_column("language").to_list() == [
        "es",
        "es",
        "en",
        "fr",
        "pt",
        "es",
        "en",
        None,
        None,
        None,
    ]


def test_the_comments_classified_ahead_are_those_whose_language_is_detected() -> None:
    """The date classifies unstated_comments of the raw batch on a thread; they must be the
    texts with_detected_language looks up once normalise_surveys has typed it."""
    raw = _surveys(
        [
            {"language": ""},
            {"language": "  ", "comment": "<b>Le  colis</b>\r\nest arrivé en retard"},
            {"language": None, "comment": "   "},
            {"language": None, "comment": None},
            {"language": "EN ", "comment": "stated"},
            {"language": "\x07", "comment": "only a control character stated"},
        ]
    )
    typed = normalise_surveys(raw, "Europe/London", date(2026, 11, 1))
    detected = typed.filter(
        pl.col("language").is_null() & pl.col("comment").is_not_null()
    ).get_column("comment")
    assert unstated_comments(raw).to_list() == detected.to_list()
    assert detected.to_list() == [
        "late",
        "Le colis\nest arrivé en retard",
        "only a control character stated",
    ]


def test_conflicting_responses_with_one_id_are_both_kept_for_validation() -> None:
    raw = _surveys([{"comment": "one"}, {"comment": "another"}])
    typed = normalise_surveys(raw, "Europe/London", date(2026, 11, 1))
    kept, superseded = split_superseded_deliveries(typed)
    assert kept.height == 2
    assert superseded.height == 0


def test_copies_of_one_delivery_time_in_two_deliveries_keep_the_later_landed() -> None:
    """Landed rows of two downloads with the same delivered_at (Zendesk's updated_at): the
    later landed copy wins, identical or edited, whatever the other bookkeeping columns
    (delivery, landed_at, file, line) say; two different copies of one delivery stay a
    conflict for validation. Found by a QA lead's trial: every repeated rating was kept
    twice, then quarantined as used by more than one different response."""
    first, second = datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC)
    raw = _surveys(
        [
            {"landed_at": first, "delivery": "aa", "source_file": "ratings.json"},
            {"response_id": "R2", "landed_at": first, "delivery": "aa"},
            {"response_id": "R3", "landed_at": first, "delivery": "aa", "comment": "one"},
            {"response_id": "R3", "landed_at": first, "delivery": "aa", "comment": "two"},
            {"landed_at": second, "delivery": "bb", "source_file": "ratings (1).json"},
            {"response_id": "R2", "landed_at": second, "delivery": "bb", "comment": "edited"},
        ]
    ).with_columns(pl.Series("source_line", [3, 15, 27, 39, 1, 1]))
    typed = normalise_surveys(raw, "Europe/London", date(2026, 11, 1))
    kept, superseded = split_superseded_deliveries(typed)
    assert kept.sort("source_line", "response_id").select(
        "response_id", "delivery", "comment"
    ).rows() == [
        ("R1", "bb", "late"),
        ("R2", "bb", "edited"),
        ("R3", "aa", "one"),
        ("R3", "aa", "two"),
    ]
    assert superseded.select("response_id", "delivery", "superseded_by_file").rows() == [
        ("R1", "aa", "ratings (1).json"),
        ("R2", "aa", "s.csv"),
    ]


def test_join_marks_surveys_without_interaction() -> None:
    surveys = pl.DataFrame({"interaction_id": ["I1", "I9"]})
    interactions = pl.DataFrame(
        {
            "interaction_id": ["I1"],
            **{c: [None] for c in INTERACTION_COLUMNS},
        }
    )
    out = join_interactions(surveys, interactions)
    assert out.get_column("has_interaction").to_list() == [True, False]


def test_a_feeds_facts_win_over_a_rows_own_and_disagreements_are_named() -> None:
    """A source's contact-facts feed joined as the sample's interactions: the feed's fact
    wins, the row's own stays where the feed has none, an unmatched row keeps its own."""
    surveys = pl.DataFrame(
        {
            "response_id": ["R1", "R2", "R3"],
            "interaction_id": ["T1", "T2", "T9"],
            "queue": ["billing", "shipping", "returns"],
            "handle_seconds": [None, 90.0, None],
        }
    )
    facts = pl.DataFrame(
        {"interaction_id": ["T1", "T2"], **{c: [None, None] for c in INTERACTION_COLUMNS}}
    ).with_columns(
        pl.Series("queue", ["shipping", None]), pl.Series("handle_seconds", [300.0, 600.0])
    )
    joined, disagreements = join_feed_facts(surveys, facts)
    assert joined.select("response_id", "queue", "handle_seconds", "has_interaction").rows() == [
        ("R1", "shipping", 300.0, True),  # the feed's queue wins over the row's
        ("R2", "shipping", 600.0, True),  # the row's own queue where the feed has none
        ("R3", "returns", None, False),  # unmatched: its own facts, null where none
    ]
    assert joined.get_column("agent_id").to_list() == [None, None, None]
    assert disagreements.sort("column").rows() == [
        ("handle_seconds", 1, "T2", "90.0", "600.0"),
        ("queue", 1, "T1", "billing", "shipping"),
    ]


def test_fee_excess_is_the_fee_beyond_what_the_policy_allows() -> None:
    responses = pl.DataFrame(
        {"policy_code": ["GYM", "GYM", "DELIV"], "fees_charged": [60.0, 10.0, None]}
    )
    policies = pl.DataFrame({"policy_code": ["GYM", "DELIV"], "fee_allowed": ["25", "0"]})
    out = with_policy_facts(responses, policies)
    assert out.get_column("fee_excess").to_list() == [35.0, 0.0, 0.0]


def test_rows_without_an_id_are_never_treated_as_duplicates_of_each_other() -> None:
    raw = _surveys(
        [
            {"response_id": ""},
            {"response_id": "", "delivered_at": "2026-11-02T11:00:00Z"},
        ]
    )
    typed = normalise_surveys(raw, "Europe/London", date(2026, 11, 1))
    kept, superseded = split_superseded_deliveries(typed)
    assert kept.height == 2
    assert superseded.height == 0


def test_typing_by_distinct_values_equals_typing_every_row() -> None:
    """The lookup over distinct values (nulls, blanks and junk included) gives exactly the
    column the expression gives row by row."""
    from transforms.clean import by_distinct_values, normalised_channel, parsed_score

    values = [" Phone ", "phone", None, "", "E-mail", "chat ", "4 - Satisfied", " 4", "x", None]
    frame = pl.DataFrame({"channel": values * 4, "csat": list(reversed(values)) * 4})
    exprs = [normalised_channel("channel"), parsed_score("csat")]
    looked_up = by_distinct_values(frame, exprs, min_rows=0)
    assert frame.select(looked_up).equals(frame.select(exprs))
    # Many distinct values (one per row): the expressions are kept as they are.
    assert by_distinct_values(frame.head(5), exprs, min_rows=0)[0] is exprs[0]


_FEW_VALUES = st.sampled_from(["delivery", "billing", " Delivery", "BILLING", "", "a", "b", None])


@settings(deadline=None, max_examples=300)
@given(st.lists(_FEW_VALUES, min_size=1, max_size=40))
def test_a_lookup_that_changes_nothing_gives_the_column_typed_every_row(
    values: list[str | None],
) -> None:
    """Where every distinct value is already as the expression makes it, the column is kept
    as it is instead of looked up; the answer must still be the expression's row by row,
    for expressions that change some values (normalising, lower-casing, blank to null), all
    or none of them, and one that swaps two values (a lookup that only checked the set of
    values would take that for no change)."""
    from transforms.clean import by_distinct_values, normalised_text

    # Each value eight times at least: the lookup is taken (it is not for many distinct values).
    frame = pl.DataFrame({"queue": values * 8}, schema={"queue": pl.String})
    exprs = [
        normalised_text("queue").str.to_lowercase(),
        pl.col("queue").str.to_uppercase().alias("queue"),
        pl.col("queue").replace({"a": "b", "b": "a"}).alias("queue"),
        pl.col("queue").alias("queue"),
    ]
    for expr in exprs:
        looked_up = by_distinct_values(frame, [expr], min_rows=0)
        assert frame.select(looked_up).equals(frame.select(expr)), expr


def test_a_column_the_expression_leaves_as_it_is_is_not_looked_up() -> None:
    """Codes already clean (the usual export's queues) keep their column: no lookup."""
    from transforms.clean import by_distinct_values, normalised_text

    frame = pl.DataFrame({"queue": ["delivery", "billing", None] * 10})
    (kept,) = by_distinct_values(frame, [normalised_text("queue").str.to_lowercase()], 0)
    assert kept.meta.eq(pl.col("queue"))
    (looked_up,) = by_distinct_values(frame, [normalised_text("queue").str.to_uppercase()], 0)
    assert not looked_up.meta.eq(pl.col("queue"))
    assert frame.select(looked_up).get_column("queue").to_list()[:3] == [
        "DELIVERY",
        "BILLING",
        None,
    ]


@pytest.mark.parametrize(
    "ids",
    [
        ["a", "b", "c", "d"],  # all distinct: returned as they are
        ["a", "b", "a", "c", "b"],  # repeats: the last of each, in the order kept
        [],
    ],
)
def test_latest_interactions_equals_the_order_keeping_unique(ids: list[str]) -> None:
    typed = pl.DataFrame(
        {"interaction_id": ids, "source_line": list(range(1, len(ids) + 1))},
        schema={"interaction_id": pl.String, "source_line": pl.Int64},
    )
    expected = typed.unique("interaction_id", keep="last", maintain_order=True)
    assert latest_interactions(typed).equals(expected)
