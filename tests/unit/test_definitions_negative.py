"""A definition's ``negative`` rule with a threshold of its own (``negative = "csat <= 3"``):
how it is read, refused, applied and named. Found by a new user's trial: an airline's QA
audited csat-3 responses, ``negative = "csat <= 3"`` was refused, and 82 of 410 audits were
set aside as "not negative" with no word of the rule that decided it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.definitions import DefinitionError, SourceDefinition, load_definition
from transforms.clean import is_negative

#: A definition reading ``ID,At,Score,NPS``, with ``{negative}`` as its negative line.
DEFINITION = (
    'name = "airline"\n{negative}\n[columns]\nresponse_id = "ID"\n'
    'submitted_at = {{ column = "At", format = "%Y-%m-%d %H:%M" }}\ncsat = "Score"\nnps = "NPS"\n'
)


def _load(tmp_path: Path, negative: str, name: str = "airline.toml") -> SourceDefinition:
    """The definition :data:`DEFINITION` with ``negative``, loaded from ``tmp_path/name``."""
    path = tmp_path / name
    path.write_text(DEFINITION.format(negative=negative), encoding="utf-8")
    return load_definition(str(path))


@pytest.mark.parametrize(
    ("negative", "rule", "at_most", "named"),
    [
        ('negative = "csat <= 3"', "csat", 3, "csat <= 3"),
        ('negative = "csat<=1"', "csat", 1, "csat <= 1"),
        ('negative = "nps <= 4"', "nps", 4, "nps <= 4"),
        ('negative = "csat <= 2"', "csat", None, "csat <= 2"),  # the default, written out
        ('negative = "csat"', "csat", None, "csat <= 2"),
        ('negative = "nps"', "nps", None, "nps <= 6"),
        ("", "csat", None, "csat <= 2"),  # csat mapped: the default rule
    ],
)
def test_a_negative_rule_may_set_its_threshold(
    tmp_path: Path, negative: str, rule: str, at_most: int | None, named: str
) -> None:
    definition = _load(tmp_path, negative)
    assert (definition.negative, definition.negative_at_most) == (rule, at_most)
    assert definition.negative_rule == named


def test_a_threshold_changes_the_fingerprint_and_the_default_written_out_does_not(
    tmp_path: Path,
) -> None:
    """It changes which landed rows are negative, so a file dropped again lands again; a
    definition without one keeps the fingerprint its deliveries were landed with."""
    plain = _load(tmp_path, 'negative = "csat"', "plain.toml").fingerprint
    assert _load(tmp_path, 'negative = "csat <= 2"', "two.toml").fingerprint == plain
    assert _load(tmp_path, 'negative = "csat <= 3"', "three.toml").fingerprint != plain


@pytest.mark.parametrize(
    ("negative", "said"),
    [
        (
            '"csat <= 9"',
            "negative = 'csat <= 9': csat runs from 1 to 5, so 9 would call every csat "
            'negative; write a threshold from 1 to 4, such as "csat <= 3"',
        ),
        (
            '"csat <= 0"',
            "negative = 'csat <= 0': csat runs from 1 to 5, so 0 would call no csat negative",
        ),
        ('"nps <= 10"', "nps runs from 0 to 10, so 10 would call every nps negative"),
        (
            '"csat <= three"',
            "negative = 'csat <= three': the threshold 'three' is not a whole number; csat "
            'scores are whole numbers, write one from 1 to 4, such as "csat <= 3"',
        ),
        ('"csat <= 2.5"', "the threshold '2.5' is not a whole number"),
        (
            '"csat < 3"',
            "negative = 'csat < 3': a negative csat is one at or below the threshold; write it "
            'with <=, such as "csat <= 2"',
        ),
        ('"rating <= 1"', "negative = 'rating <= 1': \"rating\" takes no threshold"),
        ('"score <= 3"', "negative = 'score <= 3' is no rule; use one of 'csat', 'nps'"),
        ("3", "negative = 3 is not text; use one of 'csat', 'nps', 'rating', 'all', 'none'"),
    ],
)
def test_a_malformed_negative_rule_is_refused_naming_the_file_and_value(
    tmp_path: Path, negative: str, said: str
) -> None:
    with pytest.raises(DefinitionError) as error:
        _load(tmp_path, f"negative = {negative}")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'airline.toml'}: "), message
    assert said in message, message


def test_the_threshold_decides_which_responses_are_negative() -> None:
    scores = pl.DataFrame({"csat": [1, 2, 3, 4, None], "nps": [0, 5, 6, 7, 9]})
    default = scores.select(is_negative("csat")).to_series().to_list()
    assert default == [True, True, False, False, None]
    three = scores.select(is_negative("csat", 3)).to_series().to_list()
    assert three == [True, True, True, False, None]
    five = scores.select(is_negative("nps", 5)).to_series().to_list()
    assert five == [True, True, False, False, False]
    with pytest.raises(ValueError, match="takes no threshold"):
        is_negative("all", 3)


def test_the_audit_tally_names_the_rule_that_set_audits_aside() -> None:
    """A QA lead reads which rule called the audited responses not negative, and so what
    to change; a version's metrics written before the rule was recorded read as before."""
    from servicelens.ingest.audits import accounting_text

    accounting = {
        "files": 1,
        "rows_read": 410,
        "used": 328,
        "replaced_by_a_later_audit": 0,
        "repeated": 0,
        "of_a_quarantined_response": 0,
        "of_an_unknown_response": 0,
        "of_a_response_not_negative": 82,
        "set_aside": {},
        "set_aside_rows": [],
        "unused_rows": [],
    }
    line = accounting_text({**accounting, "negative_rule": "csat <= 2"}).splitlines()[0]
    assert line.endswith(
        "328 used; 82 for responses that are not negative "
        '(by the definition\'s negative = "csat <= 2")'
    ), line
    assert accounting_text(accounting).splitlines()[0].endswith("that are not negative")
