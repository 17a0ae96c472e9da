"""The order `make test` hands test files to its workers in (tests/conftest.py)."""

from __future__ import annotations

from tests.conftest import ROOT, SLOWEST_FILES


def test_every_slow_file_the_order_names_exists() -> None:
    """A renamed file would silently lose its place at the front (and the balance with it)."""
    missing = [path for path in SLOWEST_FILES if not (ROOT / path).is_file()]
    assert missing == [], f"tests/conftest.py SLOWEST_FILES names files that are gone: {missing}"
    assert len(set(SLOWEST_FILES)) == len(SLOWEST_FILES)
