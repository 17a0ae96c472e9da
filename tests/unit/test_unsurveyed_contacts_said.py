"""README says plainly that a configured source's contacts are its surveyed rows only.

Found by a workforce analyst's trial: README promised "every interaction of that day's
export (surveyed or not)", while a configured source's ``[interactions]`` feed's unrated
tickets are no contacts, so a customer's unrated return two days later was missed (an
agent's first-contact resolution 1.0 where it was 0.875). Until the feed's every row is a
contact, the README says what is counted where it says what a contact is."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_says_a_configured_sources_unrated_returns_are_missed() -> None:
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    layer = text.split("| `clean/contacts/survey_date=<date>/` |", 1)[1][:400]
    assert "a configured source's are its surveyed contacts only" in layer
    repeat = text.split("**Repeat contacts, from the interaction history.**", 1)[1][:1200]
    assert "A configured source's contacts are its survey rows only" in repeat
    assert "first-contact resolution overstated" in repeat
    sources = " ".join((ROOT / "docs" / "sources.md").read_text(encoding="utf-8").split())
    assert "first-contact resolution is overstated" in sources
