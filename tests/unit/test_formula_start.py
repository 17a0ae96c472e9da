"""The id check's formula pattern: what it flags, and that RE2 (pyarrow) and Python's ``re``
read it alike, so GX's pandas engine runs it in pyarrow rather than one Python call per row."""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from servicelens.validation.expectations import FORMULA_START

#: The pattern as first written, with a lookahead (Python's ``re`` only): a minus starts a
#: formula unless a plain number follows it to the end.
LOOKAHEAD_FORM = r"^(?:[=+@\t\r]|-(?!\d+(?:\.\d+)?$))"

FLAGGED = ["=1+1", "+1", "@SUM(A1)", "\tx", "\rx", "-", "-.5", "-1.", "-1..2", "-1.2.3",
           "-1+1+cmd|' /C calc'!A0", "-2+3", "-a", "-12\n", "-\u0663"]  # fmt: skip
KEPT = ["-1042", "-1.5", "-0", "R_1", "", "1-2", "a=b", " -x", "\u0663"]

ALPHABET = st.sampled_from(list("-0123456789.+=@a \t\r\n|!\u0663\u00e9"))
TEXT = st.text(ALPHABET, max_size=8) | st.text(max_size=12)


def _python(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is not None


def test_it_flags_formula_starts_and_keeps_plain_numbers() -> None:
    assert [v for v in FLAGGED if not _python(FORMULA_START, v)] == []
    assert [v for v in KEPT if _python(FORMULA_START, v)] == []


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_it_agrees_with_the_lookahead_form_on_ascii_lines(value: str) -> None:
    # The two differ by design only where \d and $ are Python's: a non-ASCII digit, or a
    # newline at the end of the text (both are flagged now, neither is a plain number).
    if value.isascii() and not value.endswith("\n"):
        assert _python(FORMULA_START, value) == _python(LOOKAHEAD_FORM, value)


@settings(max_examples=400, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=20))
def test_re2_and_python_read_it_alike(values: list[str]) -> None:
    # pandas rewrites Python's \Z to RE2's \z before handing a pattern to pyarrow.
    re2 = pc.match_substring_regex(pa.array(values), FORMULA_START.replace(r"\Z", r"\z"))
    assert re2.to_pylist() == [_python(FORMULA_START, v) for v in values]
    # And what GX's pandas engine calls (ColumnValuesNotMatchRegex._pandas) agrees too.
    through_pandas = pd.Series(values, dtype="str").astype(str).str.contains(FORMULA_START)
    assert through_pandas.tolist() == [_python(FORMULA_START, v) for v in values]


def test_pandas_runs_it_in_pyarrow_not_per_row_in_python() -> None:
    array = pd.Series(["-1042"], dtype="str").array
    # pandas' own test for a pattern RE2 cannot run alike (lookaround, \s, \d on non-ASCII,
    # $ before a newline): it then runs Python's re on every value.
    assert not array._needs_python_regex(FORMULA_START)  # type: ignore[attr-defined]
    assert array._needs_python_regex(LOOKAHEAD_FORM)  # type: ignore[attr-defined]
