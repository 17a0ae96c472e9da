"""Every kind of mess the generator injects is either cleaned or caught, never lost.

The generator records each injected defect (kind, response id, line) in
``truth/<date>.injected.csv``; these tests run the real ingest + GX validation on generated
days and look each one up in the clean output or the quarantine.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.readers import read_csv_with_lines
from servicelens.settings import Settings
from servicelens.stages import ValidatedDay, validate_day
from servicelens.synthetic.generator import generate
from transforms.schemas import CHANNELS

START = date(2026, 10, 1)
DAYS = 3

#: Defects that must be quarantined, with the column their reason must name.
CAUGHT = {
    "unknown_channel": "channel",
    "csat_out_of_range": "csat",
    "csat_non_numeric": "csat",
    "nps_out_of_range": "nps",
    "timestamp_unparseable": "submitted_at",
    "timestamp_future": "submitted_at",
    "missing_response_id": "response_id",
    "duplicate_response_id": "response_id",
    "survey_without_interaction": "interaction_id",
    "malformed_line": "malformed line",
}
#: Variants that must be cleaned into canonical values and kept.
CLEANED = ("channel_variant", "csat_label", "timestamp_offset", "embedded_newline")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[ValidatedDay]]:
    root = tmp_path_factory.mktemp("mess")
    generate(root, START, START + timedelta(days=DAYS - 1), per_day=2500, seed=11)
    settings = Settings(data_dir=str(root))
    days = [validate_day(settings, START + timedelta(days=i), "test") for i in range(DAYS)]
    return settings, days


def _injected(settings: Settings) -> pl.DataFrame:
    frames = [
        pl.read_csv(
            settings.truth_dir / f"{START + timedelta(days=i)}.injected.csv",
            schema_overrides={"line": pl.Int64, "response_id": pl.String},
        ).with_columns(pl.lit(START + timedelta(days=i)).alias("survey_date"))
        for i in range(DAYS)
    ]
    return pl.concat(frames)


def _outputs(days: list[ValidatedDay]) -> tuple[pl.DataFrame, pl.DataFrame]:
    clean = pl.concat([d.clean() for d in days])
    quarantine = pl.concat([d.quarantine() for d in days])
    return clean, quarantine


def test_rows_read_equal_kept_plus_quarantined(
    generated: tuple[Settings, list[ValidatedDay]],
) -> None:
    settings, days = generated
    for day in days:
        raw = read_csv_with_lines(settings.raw_day(day.day) / "surveys.csv")
        clean = day.clean()
        quarantine = day.quarantine().filter(pl.col("feed") == "surveys")
        assert raw.records_read == day.counts.surveys_read
        assert clean.height + quarantine.height == raw.records_read
        # Every line read appears exactly once, on one side or the other.
        lines = pl.concat([clean.get_column("source_line"), quarantine.get_column("source_line")])
        assert lines.n_unique() == lines.len()


@pytest.mark.parametrize(("kind", "column"), sorted(CAUGHT.items()))
def test_each_defect_is_quarantined_with_a_reason_naming_its_column(
    generated: tuple[Settings, list[ValidatedDay]], kind: str, column: str
) -> None:
    settings, days = generated
    injected = _injected(settings).filter(pl.col("kind") == kind)
    assert injected.height > 0, f"the generator injected no {kind} in {DAYS} days"
    clean, quarantine = _outputs(days)
    found = injected.join(
        quarantine.filter(pl.col("feed") == "surveys"),
        left_on=["survey_date", "line"],
        right_on=["survey_date", "source_line"],
        how="left",
    )
    assert found.get_column("reasons").null_count() == 0, found.filter(pl.col("reasons").is_null())
    reasons = found.get_column("reasons").list.join(" | ").to_list()
    assert all(column in r for r in reasons), reasons
    kept_lines = clean.select("survey_date", pl.col("source_line").alias("line"))
    assert injected.join(kept_lines, ["survey_date", "line"], "semi").height == 0


@pytest.mark.parametrize("kind", CLEANED)
def test_each_variant_is_cleaned_and_kept(
    generated: tuple[Settings, list[ValidatedDay]], kind: str
) -> None:
    settings, days = generated
    injected = _injected(settings).filter(pl.col("kind") == kind)
    assert injected.height > 0
    clean, _ = _outputs(days)
    kept = injected.join(
        clean, left_on=["survey_date", "line"], right_on=["survey_date", "source_line"]
    )
    # A variant can also carry an unrelated defect; most must survive, all survivors clean.
    assert kept.height >= 0.9 * injected.height
    assert kept.get_column("channel").is_in(CHANNELS).all()
    assert kept.get_column("csat").is_between(1, 5).all()
    assert kept.get_column("submitted_at").dtype == pl.Datetime("us", "UTC")
    assert kept.get_column("submitted_at").null_count() == 0


def test_redelivered_duplicates_keep_only_the_latest(
    generated: tuple[Settings, list[ValidatedDay]],
) -> None:
    settings, days = generated
    injected = _injected(settings).filter(pl.col("kind") == "duplicate_redelivery")
    assert injected.height > 0
    clean, quarantine = _outputs(days)
    ids = injected.get_column("response_id")
    kept = clean.filter(pl.col("response_id").is_in(ids))
    assert kept.get_column("response_id").is_unique().all()
    superseded = quarantine.filter(
        pl.col("record_id").is_in(ids) & pl.col("reasons").list.join(" ").str.contains("superseded")
    )
    assert superseded.height >= injected.height
    for day in days:
        raw = read_csv_with_lines(settings.raw_day(day.day) / "surveys.csv").frame
        latest = (
            raw.filter(pl.col("response_id").is_in(ids))
            .sort("delivered_at")
            .group_by("response_id")
            .agg(pl.col("source_line").last())
        )
        on_day = kept.filter(pl.col("survey_date") == day.day).select("response_id", "source_line")
        assert on_day.join(latest, ["response_id", "source_line"], "anti").height == 0


def test_malformed_interaction_lines_are_quarantined(
    generated: tuple[Settings, list[ValidatedDay]],
) -> None:
    settings, days = generated
    injected = _injected(settings).filter(pl.col("kind") == "malformed_json")
    _, quarantine = _outputs(days)
    interactions = quarantine.filter(pl.col("feed") == "interactions")
    in_range = injected.filter(pl.col("survey_date").is_in([d.day for d in days]))
    for row in in_range.iter_rows(named=True):
        hit = interactions.filter(
            (pl.col("survey_date") == row["survey_date"]) & (pl.col("source_line") == row["line"])
        )
        assert hit.height == 1, row


def test_legacy_encoded_day_is_read_with_its_accents(
    generated: tuple[Settings, list[ValidatedDay]],
) -> None:
    settings, days = generated
    encodings = {
        d.day: read_csv_with_lines(settings.raw_day(d.day) / "surveys.csv").encoding for d in days
    }
    assert "cp1252" in encodings.values()
    legacy_day = next(day for day, enc in encodings.items() if enc == "cp1252")
    clean = next(d for d in days if d.day == legacy_day).clean()
    comments = clean.get_column("comment").drop_nulls()
    assert comments.str.contains("[éüàç]").any()
    assert not comments.str.contains("\ufffd").any()


def test_quarantine_rows_name_file_and_line(
    generated: tuple[Settings, list[ValidatedDay]],
) -> None:
    _, days = generated
    _, quarantine = _outputs(days)
    assert quarantine.get_column("source_file").null_count() == 0
    assert (quarantine.get_column("source_line") >= 1).all()
    assert (quarantine.get_column("reasons").list.len() >= 1).all()
    assert all(
        Path(f).name in ("surveys.csv", "interactions.jsonl")
        for f in quarantine.get_column("source_file").unique()
    )
