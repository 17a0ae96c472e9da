"""Text built from a template and column values, as pure polars expressions."""

from __future__ import annotations

import polars as pl

#: Where a value goes in a template of :func:`formatted_text`, as in ``pl.format``.
PLACEHOLDER = "{}"


def formatted_text(template: str, *values: str | pl.Expr | pl.Series) -> pl.Expr:
    """``template`` with each ``{}`` replaced by the next of ``values`` (a column name, an
    expression or a series, cast to text): what ``pl.format`` gives, null where any value is
    null, named as ``pl.format`` names it: after the first value (``literal`` without one).

    Built with ``pl.concat_str``: polars 2.1's ``pl.format`` panics (``assertion failed: i <
    self.len()``, pola-rs/polars#25339 and #25525, open) on a column whose first chunk is
    empty, which a filter leaves after a join gave one column more chunks than another; a
    user trial crashed ``train``, ``report``, ``review-queue`` and ``backfill`` so.

    Raises ValueError when the template's ``{}`` and ``values`` differ in number."""
    pieces = template.split(PLACEHOLDER)
    if len(pieces) != len(values) + 1:
        raise ValueError(
            f"formatted_text: the template {template!r} has {len(pieces) - 1} "
            f"placeholder(s) for {len(values)} value(s)"
        )
    parts: list[pl.Expr | pl.Series] = [pl.lit(pieces[0])]
    for value, piece in zip(values, pieces[1:], strict=True):
        parts += [pl.col(value) if isinstance(value, str) else value, pl.lit(piece)]
    text = pl.concat_str(parts, ignore_nulls=False)
    if not values:
        return text
    first = values[0]
    if isinstance(first, str):
        return text.alias(first)
    if isinstance(first, pl.Series):
        return text.alias(first.name)
    name = first.meta.output_name(raise_if_undetermined=False)
    return text if name is None else text.alias(name)
