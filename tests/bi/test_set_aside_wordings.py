"""Rows a definition's ``[[exclude]]`` rule set aside, written before quarantine contract 3
under an earlier wording of the rule (the zendesk preset's ``offered`` one), are set aside
in the report's reasons table, not rejected; both wordings are one line, the rule's words
now; and the report says the backfill that rewrites them. They read as rejects until the
date was run again, and the two wordings as two lines."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from servicelens.ingest.definitions import Exclusion
from servicelens.reporting.report import _quarantine_reasons
from servicelens.settings import Settings
from servicelens.validation.reasons import reasons_of_rejects_and_superseded

BY = "set aside by the zendesk definition"
NOW = f"no rating was given (the survey was offered, never answered): {BY}"
EARLIER = f"no rating was given (the survey was only offered): {BY}"
RULES = {
    "zendesk": [
        Exclusion("rating", ("offered",), False, NOW, unanswered=True),
        Exclusion("rating", ("unoffered",), False, "no survey was sent: set aside", False),
    ]
}
OLD_DAY, NEW_DAY = date(2026, 11, 2), date(2026, 11, 9)


def _quarantine() -> pl.DataFrame:
    """Two dates of a zendesk source: one written before contract 3 (no reason kinds), its
    rows set aside under the rule's earlier words; one after, under its words now."""
    rows = [
        (OLD_DAY, f"rating: 'offered' {EARLIER}", None),
        (OLD_DAY, f"rating: 'offered' {EARLIER}", None),
        (OLD_DAY, "rating: 'maybe' is not a rating (good or bad)", None),
        # Written as every rule's row is now, a colon after the value (a bank analyst's
        # trial read "Finished: '0' the respondent did not finish"): one line with the rest.
        (NEW_DAY, f"rating: 'offered': {NOW}", ["set_aside"]),
    ]
    return pl.DataFrame(
        {
            "survey_date": [r[0] for r in rows],
            "feed": ["surveys"] * len(rows),
            "reasons": [[r[1]] for r in rows],
            "source": ["zendesk"] * len(rows),
            "superseded": [None, None, None, False],
            "reason_kinds": [r[2] for r in rows],
        },
        schema_overrides={"superseded": pl.Boolean, "reason_kinds": pl.List(pl.String)},
    )


def test_rows_set_aside_under_an_earlier_wording_are_one_line_of_set_aside() -> None:
    table = reasons_of_rejects_and_superseded(_quarantine(), RULES)
    assert table.select("quarantined_as", "kind", "column", "rows").rows() == [
        ("rejected", "is not a rating (good or bad)", "rating", 1),
        ("set aside", NOW, "rating", 3),
    ]


def test_the_report_says_the_backfill_that_rewrites_the_earlier_wording(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    (tmp_path / "sources" / "zendesk").mkdir(parents=True)  # the source's own folder
    html = _quarantine_reasons(settings, _quarantine(), RULES)
    assert "2 of the rows set aside were written under an earlier wording" in html
    assert (
        f"servicelens --data-dir {tmp_path} backfill --source zendesk --start {OLD_DAY} "
        f"--end {OLD_DAY} --rerun all"
    ) in html
    # None to say when every row is in the rule's words now.
    current = _quarantine().filter(pl.col("survey_date") == NEW_DAY)
    assert "earlier wording" not in _quarantine_reasons(settings, current, RULES)


def test_a_rule_s_row_reads_alike_with_or_without_a_colon_after_its_value() -> None:
    """Rows are set aside as ``<column>: '<value>': <the rule's reason>`` now, landed ones
    without the colon (``<column>: '<value>' <reason>``): both are the rule's kind, column
    and value, and the report counts both under the rule's words."""
    from servicelens.validation.reasons import reasons_by_kind, set_aside_value, with_reason_kinds

    written = [f"rating: 'offered': {NOW}", f"rating: 'offered' {NOW}"]
    frame = pl.DataFrame({"reasons": [[r] for r in written]})
    coded = with_reason_kinds(frame, [NOW])
    assert coded.get_column("reason_kinds").to_list() == [["set_aside"], ["set_aside"]]
    assert coded.get_column("reason_columns").to_list() == [["rating"], ["rating"]]
    values = frame.select(set_aside_value(pl.col("reasons").list.first())).to_series()
    assert values.to_list() == ["offered", "offered"]
    counted = reasons_by_kind(frame.with_columns(source=pl.lit("zendesk"), feed=pl.lit("surveys")))
    assert counted.select("kind", "column", "rows").rows() == [(NOW, "rating", 2)]
