"""JSON as RFC 8259 defines it, for the files and ``--json`` outputs that other tools read.

Python's ``json`` writes an undefined number (NaN, an infinity) as a bare ``NaN`` or
``Infinity``, which JavaScript's ``JSON.parse``, jq and DuckDB's ``read_json`` refuse (found
by a trial: 42 of them in one CFPB model's ``metrics.json``, the ROC-AUC of groups holding
one class). :func:`dumps` writes them as ``null``; :func:`undefined_as_nan` turns the
``null`` of a document that holds no null of its own (a model's metrics) back into NaN.
"""

from __future__ import annotations

import json
import math
from typing import Any


def dumps(value: Any, indent: int | None = 2) -> str:
    """``value`` as strict JSON: every non-finite float as ``null``, anything JSON has no
    type for (a date, a path) as its ``str``."""
    return json.dumps(_finite(value), indent=indent, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def undefined_as_nan(value: Any) -> Any:
    """``value`` (a parsed document) with every ``null`` as NaN: for documents whose only
    nulls are the undefined numbers :func:`dumps` wrote."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {key: undefined_as_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [undefined_as_nan(item) for item in value]
    return value
