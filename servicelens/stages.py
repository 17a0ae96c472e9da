"""The pipeline's stages for one survey date, as plain functions (no Prefect).

Flows wrap these in tasks; tests and the benchmark call them directly. Each stage takes the
settings and a date, reads what the previous stage left on disk and returns paths and counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from servicelens.checkpoints import checkpoint
from servicelens.ingest.readers import (
    RawRead,
    Reject,
    read_csv_with_lines,
    read_jsonl_with_lines,
    read_plain_csv,
)
from servicelens.settings import Settings
from servicelens.storage.fs import DataPath, read_parquet
from servicelens.storage.partitions import (
    DATA_FILE,
    checksums,
    partition_dir,
    read_partition,
    scan_table,
    stage_frame,
    write_partition,
)
from servicelens.validation.expectations import ROW_ID, validate_survey_batch, validate_survey_rows
from transforms.clean import (
    is_negative,
    join_interactions,
    normalise_surveys,
    normalised_text,
    prepare_interactions,
    split_superseded_deliveries,
    with_policy_facts,
)
from transforms.marts import daily_summary, feedback_scored
from transforms.pii import add_counts, redact_pii
from transforms.repeat_contacts import (
    LOOKBACK_DAYS,
    contacts_from_interactions,
    with_earlier_contacts,
)
from transforms.schemas import (
    CLEAN_RESPONSE_SCHEMA,
    CONTACT_SCHEMA,
    DAILY_SUMMARY_SCHEMA,
    FEEDBACK_SCORED_SCHEMA,
    QUARANTINE_SCHEMA,
    RAW_INTERACTION_SCHEMA,
    RAW_SURVEY_COLUMNS,
    conform,
)

SURVEYS_FILE = "surveys.csv"
INTERACTIONS_FILE = "interactions.jsonl"
AUDITS_FILE = "audits.csv"


class BatchError(RuntimeError):
    """A whole date cannot be processed; the message says what and where. Earlier outputs of
    that date are left untouched."""


@dataclass
class DayCounts:
    """Row reconciliation of one date: read = kept + quarantined, always."""

    surveys_read: int = 0
    kept: int = 0
    quarantined: int = 0
    superseded_duplicates: int = 0
    malformed_lines: int = 0
    failed_expectations: dict[str, int] = field(default_factory=dict)
    interactions_read: int = 0
    interactions_quarantined: int = 0
    negatives: int = 0
    scored: int = 0
    #: Personal data replaced by placeholders before anything was staged, by kind.
    redacted: dict[str, int] = field(default_factory=dict)

    def check(self, where: str) -> None:
        if self.surveys_read != self.kept + self.quarantined:
            raise BatchError(
                f"{where}: row reconciliation failed: read {self.surveys_read} != kept "
                f"{self.kept} + quarantined {self.quarantined}; nothing was written"
            )


@dataclass(frozen=True)
class ValidatedDay:
    """What :func:`validate_day` staged for the next task."""

    day: date
    valid_path: str
    quarantine_path: str
    counts: DayCounts
    inputs: dict[str, str]
    #: The contacts of the day's own interaction export (the contact history's partition).
    contacts_path: str | None = None


def day_input_files(settings: Settings, day: date) -> list[DataPath]:
    """Every raw file one date's output depends on (its checksums decide re-runs)."""
    files = [settings.raw_day(day) / SURVEYS_FILE, settings.policies_file]
    for back in range(settings.interaction_lookback_days + 1):
        files.append(settings.raw_day(day - timedelta(days=back)) / INTERACTIONS_FILE)
    return files


def _rejects_frame(
    rejects: list[Reject], path: str, source: str, day: date
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Malformed records as quarantine rows. Their text cannot be split into fields, so all of
    it is redacted; the raw zone keeps the original at the line named."""
    frame = pl.DataFrame(
        {
            "survey_date": [day] * len(rejects),
            "source": [source] * len(rejects),
            "source_file": [path] * len(rejects),
            "source_line": [r.line for r in rejects],
            "record_id": [None] * len(rejects),
            "reasons": [[r.reason] for r in rejects],
            "raw_record": [r.text for r in rejects],
        },
        schema=QUARANTINE_SCHEMA,
    )
    return redact_pii(frame, ["raw_record"])


def read_surveys(settings: Settings, day: date) -> RawRead:
    """Read a day's survey export, or fail the date saying which file and what is wrong."""
    path = settings.raw_day(day) / SURVEYS_FILE
    if not path.exists():
        raise BatchError(f"{path}: no survey export for {day}; nothing to process")
    read = read_csv_with_lines(path)
    failures = validate_survey_batch(
        read.header, read.frame.height, settings.gx_docs_dir / str(day) / "surveys_batch.html"
    )
    if failures:
        raise BatchError(f"{path}: " + "; ".join(failures))
    missing_optional = [c for c in RAW_SURVEY_COLUMNS if c not in read.frame.columns]
    read.frame = read.frame.with_columns(pl.lit(None, pl.String).alias(c) for c in missing_optional)
    return read


#: Parses one interaction export given its sha256 (computed once per date, for the manifest),
#: keeping the rows a predicate selects (all without one). Flows pass one that goes through
#: Prefect's cache, keyed on that checksum.
InteractionReader = Callable[[DataPath, str, pl.Expr | None], RawRead]


def parse_interaction_file(path: DataPath, sha256: str, keep: pl.Expr | None = None) -> RawRead:
    """Parse one interaction export (the reader used when no flow supplies a cached one).

    ``sha256`` is not needed to parse; it is part of the reader's signature for the cached
    reader, which keys on it.
    """
    del sha256
    return read_jsonl_with_lines(path, RAW_INTERACTION_SCHEMA, keep)


def read_interactions(
    settings: Settings,
    day: date,
    inputs: dict[str, str],
    interaction_ids: pl.Series | None = None,
    read_file: InteractionReader = parse_interaction_file,
    whole: Collection[date] = (),
) -> tuple[pl.DataFrame, list[RawRead], dict[date, pl.DataFrame]]:
    """Interactions that started on ``day`` or in the look-back window before it.

    With ``interaction_ids`` (normalised, as the surveys' join key), only those interactions
    of the look-back days are kept: the join needs no others, and the look-back days hold
    millions more rows than a day's surveys name. The day's own export and those of the
    earlier days in ``whole`` (not indexed yet) are read whole first: every contact in them
    goes into the contact history (:func:`contact_history`), returned by day, before they are
    filtered like the others. Every line is still decoded and checked, so rejects and
    counts are the same either way. ``inputs`` are the date's input checksums (path -> sha256,
    :func:`day_input_files`, existing files only): the files read are the ones hashed, and
    none is hashed twice (a day's interaction file is hundreds of megabytes at scale).
    """
    keep = None
    if interaction_ids is not None:
        # Cheap and sure: an id already in its cleaned form either is one of the surveys'
        # ids or is not needed; an id with whitespace or control characters (rare) is kept
        # whatever it is, for prepare_interactions to clean and the join to match or ignore.
        raw = pl.col("interaction_id")
        keep = raw.is_in(interaction_ids.drop_nulls().unique()) | raw.str.contains(
            r"[\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
        )
    reads: list[RawRead] = []
    contacts: dict[date, pl.DataFrame] = {}
    for back in range(settings.interaction_lookback_days, -1, -1):
        read_day = day - timedelta(days=back)
        path = settings.raw_day(read_day) / INTERACTIONS_FILE
        if str(path) not in inputs:
            continue
        if read_day not in whole and read_day != day:
            reads.append(read_file(path, inputs[str(path)], keep))
            continue
        # The contacts (a few narrow columns) of the whole file; the rows the join does not
        # need go as soon as they are taken, so whole exports are never held at once.
        read = read_file(path, inputs[str(path)], None)
        contacts[read_day] = contacts_from_interactions(
            prepare_interactions(read.frame, settings.timezone), read_day
        )
        if keep is not None:
            kept = read.frame.filter(keep)
            read = replace(read, frame=kept, skipped=read.skipped + read.frame.height - kept.height)
        reads.append(read)
    if not any(r.frame.height for r in reads):
        frame = pl.DataFrame(
            schema={**RAW_INTERACTION_SCHEMA, "source_file": pl.String, "source_line": pl.Int64}
        )
    else:
        frame = pl.concat([r.frame for r in reads if r.frame.height], how="vertical_relaxed")
    return prepare_interactions(frame, settings.timezone), reads, contacts


def validate_day(
    settings: Settings,
    day: date,
    run_id: str,
    now: datetime | None = None,
    read_interaction_file: InteractionReader = parse_interaction_file,
) -> ValidatedDay:
    """Read, type, de-duplicate, join and validate one date; stage valid rows and quarantine.

    ``read_interaction_file`` parses one interaction export; each is read by several dates
    (the look-back), so the flows pass one backed by Prefect's cache (flows/caching.py).
    """
    now = now or datetime.now(UTC)
    # Checksummed before anything is read, once: the manifest records them, and the cached
    # interaction reader keys on them (hashing after reading could describe a file replaced
    # in between, and hashed each interaction file twice).
    inputs = checksums(day_input_files(settings, day))
    surveys = read_surveys(settings, day)
    # Personal data goes before anything is typed, staged or quoted in a reason; the raw
    # zone keeps the original text.
    surveys.frame, redacted_comments = redact_pii(surveys.frame, ["comment"])
    # Look-back exports no date has indexed yet (the first dates of a range) are read whole
    # and indexed from that one parse (a second parse inside this task would miss Prefect's
    # cache: a nested task's record is committed when the outer task ends).
    unindexed = [
        day - timedelta(days=back)
        for back in range(1, settings.interaction_lookback_days + 1)
        if not (
            partition_dir(settings.contacts_dir, day - timedelta(days=back)) / DATA_FILE
        ).exists()
    ]
    interactions, interaction_reads, exported = read_interactions(
        settings,
        day,
        inputs,
        surveys.frame.select(normalised_text("interaction_id")).get_column("interaction_id"),
        read_interaction_file,
        whole=unindexed,
    )
    for earlier, found in exported.items():
        if earlier != day:
            _index_contacts(settings, found, earlier, inputs)
    policies = read_plain_csv(settings.policies_file) if settings.policies_file.exists() else None
    if policies is None:
        raise BatchError(f"{settings.policies_file}: the policy catalogue is missing")

    # Each intermediate frame below is a full copy of the day (a million rows at scale):
    # they are dropped as soon as the next one exists, so at most two are held at a time.
    latest, superseded = split_superseded_deliveries(
        normalise_surveys(surveys.frame, settings.timezone, day)
    )
    contacts = exported.pop(day, None)
    if contacts is None:  # the day has no interaction export of its own
        contacts = pl.DataFrame(schema=CONTACT_SCHEMA)
    joined = with_accepted_elsewhere(
        join_interactions(latest, interactions), settings, day
    ).with_row_index(ROW_ID)
    del latest, interactions
    joined = with_earlier_contacts(
        joined, _lookback_history(settings, day, joined, contacts, read_interaction_file)
    )
    failures = validate_survey_rows(
        joined, now, settings.gx_docs_dir / str(day) / "surveys_rows.html"
    )
    reasons = failures.group_by(ROW_ID).agg(pl.col("reason").sort().alias("reasons"))

    failed = joined.join(reasons, ROW_ID, "inner")
    valid = joined.join(reasons, ROW_ID, "anti")
    del joined
    clean = conform(
        with_policy_facts(valid.with_columns(is_negative()), policies), CLEAN_RESPONSE_SCHEMA
    )
    del valid

    raw_columns = [c for c in RAW_SURVEY_COLUMNS if c in surveys.frame.columns]
    own_interactions = settings.raw_day(day) / INTERACTIONS_FILE
    survey_rejects, redacted_survey_rejects = _rejects_frame(
        surveys.rejects, surveys.path, "surveys", day
    )
    interaction_rejects = [
        _rejects_frame(r.rejects, r.path, "interactions", day)
        for r in interaction_reads
        if r.path == str(own_interactions)
    ]
    quarantine = pl.concat(
        [
            survey_rejects,
            _survey_quarantine(failed, surveys.frame, raw_columns, day),
            _survey_quarantine(
                superseded.with_columns(
                    pl.concat_list(
                        pl.format("duplicate delivery: superseded by line {}", "superseded_by_line")
                    ).alias("reasons")
                ),
                surveys.frame,
                raw_columns,
                day,
            ),
            *(frame for frame, _ in interaction_rejects),
        ]
    )
    counts = DayCounts(
        surveys_read=surveys.records_read,
        kept=clean.height,
        quarantined=int((quarantine.get_column("source") == "surveys").sum()),
        superseded_duplicates=superseded.height,
        malformed_lines=len(surveys.rejects),
        failed_expectations=dict(
            failures.with_columns(pl.col("reason").str.extract(r"^([a-z_]+):").alias("column"))
            .group_by("column")
            .len()
            .iter_rows()
        ),
        interactions_read=sum(
            r.records_read for r in interaction_reads if r.path == str(own_interactions)
        ),
        interactions_quarantined=int((quarantine.get_column("source") == "interactions").sum()),
        negatives=int(clean.get_column("is_negative").sum()),
        redacted=add_counts(
            redacted_comments, redacted_survey_rejects, *(n for _, n in interaction_rejects)
        ),
    )
    counts.check(surveys.path)
    validated = ValidatedDay(
        day=day,
        valid_path=str(stage_frame(clean, settings.staging_dir, run_id, f"valid-{day}")),
        quarantine_path=str(
            stage_frame(quarantine, settings.staging_dir, run_id, f"quarantine-{day}")
        ),
        counts=counts,
        inputs=inputs,
        contacts_path=str(stage_frame(contacts, settings.staging_dir, run_id, f"contacts-{day}")),
    )
    checkpoint("validated")
    return validated


def with_accepted_elsewhere(surveys: pl.DataFrame, settings: Settings, day: date) -> pl.DataFrame:
    """Add ``accepted_on``: the other survey date whose clean partition already holds this
    response_id, if any. A response re-delivered in another day's file must not be counted
    twice in BI; the copy that comes second goes to quarantine."""
    elsewhere = pl.DataFrame(schema={"response_id": pl.String, "accepted_on": pl.Date})
    if any(settings.clean_dir.glob("survey_date=*/part-0.parquet")):
        # Only this date's ids are looked up: a backfill's clean table grows by a day of
        # responses per date, and collecting all of them made each date slower than the last.
        elsewhere = (
            scan_table(settings.clean_dir)
            .filter(pl.col("survey_date") != day)
            .select("response_id", pl.col("survey_date").alias("accepted_on"))
            .join(
                surveys.lazy().select("response_id"), "response_id", "semi", maintain_order="left"
            )
            .unique("response_id", keep="first", maintain_order=True)
            .collect()
        )
    return surveys.join(elsewhere, "response_id", "left")


def _survey_quarantine(
    rows: pl.DataFrame, raw: pl.DataFrame, raw_columns: list[str], day: date
) -> pl.DataFrame:
    """Quarantine rows with the raw values exactly as exported (looked up by line)."""
    # Only the quarantined lines are encoded: a few percent of the day, not all of it.
    as_exported = raw.join(rows.select("source_line"), "source_line", "semi").select(
        "source_line", pl.struct(raw_columns).struct.json_encode().alias("raw_record")
    )
    return conform(
        rows.select(
            "source_file", "source_line", "reasons", pl.col("response_id").alias("record_id")
        )
        .join(as_exported, "source_line", "left")
        .with_columns(pl.lit(day).alias("survey_date"), pl.lit("surveys").alias("source")),
        QUARANTINE_SCHEMA,
    )


def publish_clean(
    settings: Settings, validated: ValidatedDay, manifest: dict[str, Any]
) -> dict[str, str]:
    """Swap in the date's clean and quarantine partitions, each with its manifest."""
    counts = validated.counts.__dict__
    full = {**manifest, "inputs": validated.inputs, "counts": counts}
    clean = read_parquet(validated.valid_path)
    quarantine = read_parquet(validated.quarantine_path)
    clean_dir = write_partition(
        clean, settings.clean_dir, validated.day, CLEAN_RESPONSE_SCHEMA, full, settings.staging_dir
    )
    quarantine_dir = write_partition(
        quarantine,
        settings.quarantine_dir,
        validated.day,
        QUARANTINE_SCHEMA,
        full,
        settings.staging_dir,
    )
    published = {"clean": str(clean_dir), "quarantine": str(quarantine_dir)}
    if validated.contacts_path:
        own = str(settings.raw_day(validated.day) / INTERACTIONS_FILE)
        published["contacts"] = str(
            write_partition(
                read_parquet(validated.contacts_path),
                settings.contacts_dir,
                validated.day,
                CONTACT_SCHEMA,
                {**manifest, "inputs": {k: v for k, v in validated.inputs.items() if k == own}},
                settings.staging_dir,
            )
        )
    return published


def load_clean(settings: Settings, day: date) -> pl.DataFrame:
    """The clean responses of one date, or a BatchError telling the user to ingest first."""
    if not (partition_dir(settings.clean_dir, day) / "part-0.parquet").exists():
        raise BatchError(
            f"{partition_dir(settings.clean_dir, day)}: no clean partition for {day}; "
            f"run `servicelens run --date {day}` first"
        )
    return read_partition(settings.clean_dir, day)


def read_audits(settings: Settings, days: list[date]) -> pl.DataFrame:
    """QA audit labels of the given survey dates (the training labels)."""
    frames = []
    for day in days:
        path = settings.raw_day(day) / AUDITS_FILE
        if path.exists():
            frames.append(
                read_plain_csv(path).select("response_id", "root_cause", "audited_at", "auditor")
            )
    if not frames:
        return pl.DataFrame(
            schema={
                "response_id": pl.String,
                "root_cause": pl.String,
                "audited_at": pl.String,
                "auditor": pl.String,
            }
        )
    audits = pl.concat(frames).with_columns(
        pl.col("root_cause").str.strip_chars().str.to_lowercase(),
        pl.col("response_id").str.strip_chars(),
    )
    # A response audited twice keeps its latest audit.
    return audits.sort("audited_at").unique("response_id", keep="last", maintain_order=True)


def read_truth(settings: Settings) -> pl.DataFrame | None:
    """The generator's answer key, if this data directory was generated; for evaluation only."""
    files: list[DataPath] = sorted(settings.truth_dir.glob("????-??-??.csv"), key=str)
    if not files:
        return None
    return pl.concat([read_plain_csv(f) for f in files]).with_columns(
        pl.col("oracle_p_policy_failure").cast(pl.Float64)
    )


def oracle_summary(settings: Settings) -> dict[str, Any] | None:
    path = settings.truth_dir / "summary.json"
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def publish_marts(
    settings: Settings,
    day: date,
    scored: pl.DataFrame,
    model_version: str | None,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Swap in the date's feedback_scored and daily_summary partitions; return their counts."""
    feedback, summary = marts_for_day(scored, model_version)
    counts = {
        "responses": feedback.height,
        "negatives": int(feedback.get_column("is_negative").sum()),
        "scored": int(feedback.get_column("root_cause").is_not_null().sum()),
        "policy_failures": int((feedback.get_column("root_cause") == "policy_failure").sum()),
        "needs_review": int(feedback.get_column("needs_review").sum()),
    }
    # Counts the caller passes (e.g. the clean partition's reconciliation) are kept; the
    # marts' own counts are added to them.
    full = {
        **manifest,
        "model_version": model_version,
        "counts": {**manifest.get("counts", {}), **counts},
    }
    for table, frame, schema in (
        ("feedback_scored", feedback, FEEDBACK_SCORED_SCHEMA),
        ("daily_summary", summary, DAILY_SUMMARY_SCHEMA),
    ):
        write_partition(frame, settings.marts_dir / table, day, schema, full, settings.staging_dir)
    return counts


def marts_for_day(
    scored: pl.DataFrame, model_version: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The feedback_scored and daily_summary frames of one date."""
    return feedback_scored(scored, model_version), conform(
        daily_summary(scored), DAILY_SUMMARY_SCHEMA
    )


def labelled_negatives(settings: Settings) -> pl.DataFrame:
    """Every clean negative response that QA audited, with its audit label as ``root_cause``."""
    if not settings.clean_dir.exists():
        raise BatchError(f"{settings.clean_dir}: no clean data yet; run a backfill first")
    negatives = scan_table(settings.clean_dir).filter(pl.col("is_negative")).collect()
    days = negatives.get_column("survey_date").unique().sort().to_list()
    audits = read_audits(settings, days)
    return negatives.join(audits.select("response_id", "root_cause"), "response_id", "inner")


# --- the contact history: every interaction of every day's export --------------------------


def contact_history(
    settings: Settings,
    days: list[date],
    read_file: InteractionReader = parse_interaction_file,
    customers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The contacts (``CONTACT_SCHEMA``) of the interaction exports of ``days``.

    Each day's contacts are its published ``clean/contacts`` partition; a day whose export
    exists but was never indexed (a date not processed yet, an export older than the first
    processed date) is indexed now from the raw export and published, so the next date reads
    the partition instead. With ``customers`` (``customer_id``, ``queue``), only the contacts
    of those customers and queues are returned.
    """
    for day in days:
        if (partition_dir(settings.contacts_dir, day) / DATA_FILE).exists():
            continue
        path = settings.raw_day(day) / INTERACTIONS_FILE
        if not path.exists():
            continue
        inputs = checksums([path])
        read = read_file(path, inputs[str(path)], None)
        indexed = contacts_from_interactions(
            prepare_interactions(read.frame, settings.timezone), day
        )
        _index_contacts(settings, indexed, day, inputs)
    empty = pl.DataFrame(schema=CONTACT_SCHEMA)
    if not days or not any(settings.contacts_dir.glob("survey_date=*/*.parquet")):
        return empty
    found = scan_table(settings.contacts_dir).filter(
        pl.col("survey_date").is_between(min(days), max(days)) & pl.col("survey_date").is_in(days)
    )
    if customers is not None:
        found = found.join(customers.lazy(), on=["customer_id", "queue"], how="semi")
    return pl.concat([empty, found.select(list(CONTACT_SCHEMA)).collect()], how="vertical_relaxed")


def _index_contacts(
    settings: Settings, contacts: pl.DataFrame, day: date, inputs: dict[str, str]
) -> None:
    """Publish the contact-history partition of an export no date has indexed yet."""
    export = str(settings.raw_day(day) / INTERACTIONS_FILE)
    write_partition(
        contacts,
        settings.contacts_dir,
        day,
        CONTACT_SCHEMA,
        {"run_id": "contact-index", "inputs": {export: inputs[export]}, "model_version": None},
        settings.staging_dir,
    )


def _lookback_history(
    settings: Settings,
    day: date,
    responses: pl.DataFrame,
    own_contacts: pl.DataFrame,
    read_file: InteractionReader,
) -> pl.DataFrame:
    """The contacts a date's responses look back over: the day's own export and the
    exports of the :data:`LOOKBACK_DAYS` before its oldest interactions could have started."""
    back = LOOKBACK_DAYS + settings.interaction_lookback_days + 1
    days = [day - timedelta(days=d) for d in range(back, 0, -1)]
    customers = responses.select("customer_id", "queue").drop_nulls().unique()
    earlier = contact_history(settings, days, read_file, customers)
    return pl.concat([earlier, own_contacts], how="vertical_relaxed")
