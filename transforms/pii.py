"""Redaction of personal data in free text, as pure polars: frames in, frames and counts out.

Customers write their e-mail address, phone number, card number, bank details and home
address into survey comments. None of it may reach a mart, a BI-facing quarantine export, a
report or a log, so comments are redacted right after they are read; only the immutable raw
zone keeps the original text.

Each kind of value is replaced by a typed placeholder (``[EMAIL]``, ``[CARD]``, ...), so an
analyst still sees that the customer left contact details, and the counts go into the
partition manifest. Kinds run in a fixed order: e-mail first (addresses contain digits), then
cards (Luhn-checked, so a 16-digit order number is left alone), bank accounts, phones (9 to 15
digits, never a date) and postal addresses. Redaction errs on the side of removing: a
nine-digit order number may be taken for a phone number, which costs an analyst a number but
never leaks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class PiiKind:
    """One kind of personal data: how to find it and what replaces it."""

    name: str
    placeholder: str
    #: Candidates; for ``checked`` kinds each candidate is verified before it is replaced.
    pattern: str
    checked: bool = False


EMAIL = PiiKind(
    "email",
    "[EMAIL]",
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
)
#: 13 to 19 digits, optionally grouped by spaces or dashes; kept only if the Luhn check passes.
CARD = PiiKind("card", "[CARD]", r"\b\d(?:[ \-]?\d){12,18}\b", checked=True)
BANK_ACCOUNT = PiiKind(
    "bank_account",
    "[BANK_ACCOUNT]",
    # An IBAN (country, check digits, 11-30 alphanumerics in groups of four), a UK sort code,
    # or a number introduced as an account number.
    r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"
    r"|(?i:\bsort[ \-]?code[:#\s]*\d{2}[ \-]?\d{2}[ \-]?\d{2}\b)"
    r"|(?i:\b(?:account|acct|a/c)(?:[ \-]?(?:number|no\.?|num|#))?[:#\s]*\d{6,12}\b)",
)
#: Digit groups with phone separators; kept only with 9 to 15 digits and not shaped like a date.
PHONE = PiiKind(
    "phone",
    "[PHONE]",
    r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,5}\)[ .\-]?)?\d{2,5}(?:[ .\-]?\d{2,6}){1,4}",
    checked=True,
)
ADDRESS = PiiKind(
    "postal_address",
    "[ADDRESS]",
    # A house number and a capitalised street name with a street suffix, or a UK postcode.
    # Anything looser (a bare town name, a five-digit number) is not reliable enough.
    r"\b\d{1,5}[A-Za-z]?,? (?:[A-Z][a-z]+ ){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|"
    r"Drive|Dr|Close|Way|Court|Ct|Boulevard|Blvd|Place|Pl|Crescent|Terrace|Gardens|Square)\b\.?"
    r"|\b[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}\b",
)

#: In the order they run.
PII_KINDS: tuple[PiiKind, ...] = (EMAIL, CARD, BANK_ACCOUNT, PHONE, ADDRESS)


def luhn_valid(column: str) -> pl.Expr:
    """True when the digits of ``column`` pass the Luhn check that every payment card passes."""
    digits = (
        pl.col(column)
        .str.replace_all(r"\D", "")
        .str.reverse()
        .str.split("")
        .list.eval(pl.element().cast(pl.Int32))
    )
    doubled = digits.list.eval(
        pl.when(pl.int_range(pl.len()) % 2 == 1)
        .then(pl.element() * 2 - pl.when(pl.element() > 4).then(9).otherwise(0))
        .otherwise(pl.element())
    )
    return (doubled.list.sum() % 10 == 0).alias(column)


def plausible_phone(column: str) -> pl.Expr:
    """True for 9 to 15 digits that do not start like a date (2026-10-01) or a year range."""
    digits = pl.col(column).str.replace_all(r"\D", "").str.len_chars()
    looks_like_date = pl.col(column).str.contains(r"^\d{4}[\-.]\d{1,2}[\-.]\d{1,2}")
    return (digits.is_between(9, 15) & ~looks_like_date).alias(column)


def _check(kind: PiiKind) -> pl.Expr:
    return luhn_valid("candidate") if kind is CARD else plausible_phone("candidate")


def _verified_candidates(frame: pl.DataFrame, column: str, kind: PiiKind) -> dict[str, str]:
    """Every distinct text in ``column`` that matches ``kind`` and passes its check."""
    found = (
        frame.select(pl.col(column).str.extract_all(kind.pattern).alias("candidate"))
        .explode("candidate")
        .drop_nulls()
        .unique()
        .filter(_check(kind))
    )
    # Longest first, so a number that contains a shorter one is replaced whole.
    ordered = found.sort(pl.col("candidate").str.len_chars(), descending=True)
    return dict.fromkeys(ordered.get_column("candidate").to_list(), kind.placeholder)


def _redact_column(frame: pl.DataFrame, column: str, kind: PiiKind) -> pl.DataFrame:
    if kind.checked:
        found = _verified_candidates(frame, column, kind)
        if not found:
            return frame
        return frame.with_columns(pl.col(column).str.replace_many(found))
    return frame.with_columns(pl.col(column).str.replace_all(kind.pattern, kind.placeholder))


def placeholder_count(column: str, kind: PiiKind) -> pl.Expr:
    """How many ``kind`` placeholders ``column`` holds in all rows."""
    return pl.col(column).str.count_matches(kind.placeholder, literal=True).fill_null(0).sum()


def redact_pii(frame: pl.DataFrame, columns: Sequence[str]) -> tuple[pl.DataFrame, dict[str, int]]:
    """Replace personal data in the text ``columns`` by typed placeholders.

    Returns the redacted frame (same shape, same other columns) and how many values of each
    kind were replaced, summed over the columns. Counts are placeholders added, so text that
    already said ``[EMAIL]`` is not counted twice.
    """
    counts = dict.fromkeys((kind.name for kind in PII_KINDS), 0)
    for column in columns:
        if frame.get_column(column).dtype == pl.Null:  # a column that is empty in every row
            frame = frame.with_columns(pl.col(column).cast(pl.String))
        if frame.get_column(column).dtype != pl.String:
            raise TypeError(f"redact_pii: column {column!r} is {frame[column].dtype}, not text")
        for kind in PII_KINDS:
            before = frame.select(placeholder_count(column, kind)).item()
            frame = _redact_column(frame, column, kind)
            counts[kind.name] += frame.select(placeholder_count(column, kind)).item() - before
    return frame, counts


def add_counts(*parts: dict[str, int]) -> dict[str, int]:
    """Sum redaction counts from several frames, kind by kind."""
    total = dict.fromkeys((kind.name for kind in PII_KINDS), 0)
    for part in parts:
        for name, count in part.items():
            total[name] = total.get(name, 0) + count
    return total
