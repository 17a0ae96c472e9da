"""The run report: one static HTML page that says what a run produced, for people to look at.

It reads only what is on disk (partition manifests, the marts, the quarantine, the model
registry, QA audits, Great Expectations Data Docs) so it works after any flow, and says
"not available" for a section whose inputs do not exist yet rather than failing. Charts are
Plotly figures (:mod:`servicelens.reporting.charts`) drawn by the plotly.js that the reports
share: the page needs no network.

Each build writes ``reports/report-<UTC time>.html`` (a configured source's:
``report-<UTC time>[-<run>]-<source>.html``) and replaces ``reports/latest.html``
(a source's also ``reports/latest-<source>.html``) atomically, so the newest report is
always at the same path; ``reports/plotly-<version>.min.js``
is written beside them once.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from models.drift import NOISE_QUANTILE, PSI_ALERT, PSI_WATCH, ROWS_PER_BIN, PsiJudgement, judge_psi
from models.evaluate import (
    GROUP_ROWS_TO_SCORE,
    INTERVAL_METRICS,
    band_check_text,
    baselines_ahead_text,
    decision_origin_text,
    expected_calibration_error,
    groupings_with_values,
    interval_text,
    precision_recall_points,
    review_band_text,
    rule_baseline_text,
    selection_summary,
)
from models.registry import METADATA_FILE, champion_version, read_metrics
from servicelens.dates import periods_word
from servicelens.ingest.configured import (
    NOT_LANDED_TODO,
    NotLanded,
    configured_sources_or_unreadable,
    not_landed,
    unclaimed_inboxes,
)
from servicelens.reporting.charts import (
    COLOURS,
    Series,
    hbar_chart,
    line_chart,
    matrix_chart,
    page_head,
    page_scripts,
    write_library_script,
)
from servicelens.reporting.suggested import (
    data_dir_argument,
    naming_data_dir,
    not_promoted_text,
    train_hint,
)
from servicelens.settings import Settings
from servicelens.storage.contract_versions import older_contracts_note
from servicelens.storage.fs import DataPath, listings_reused, prune_to_newest
from servicelens.storage.partitions import MANIFEST_FILE, read_manifest, scan_table
from servicelens.validation.reasons import quarantined_split, reasons_of_rejects_and_superseded
from transforms.agents import (
    FCR_CLAIMED,
    NO_AGENT_RECORDED,
    NO_CUSTOMER_ID,
    NOT_SETTLED_YET,
    TOO_FEW_CONTACTS,
)
from transforms.formatting import formatted_text
from transforms.marts import satisfied_share, wilson_interval
from transforms.schemas import (
    NO_POLICY,
    PARTITION_COLUMN,
    POSITIVE_CLASS,
    PUBLISHED_TABLES,
    policy_name,
    with_contract_columns,
)

if TYPE_CHECKING:
    from servicelens.ingest.definitions import Exclusion

LATEST_NAME = "latest.html"


def latest_name(source: str) -> str:
    """The file name of a configured source's newest report: ``latest-<source>.html``."""
    return f"latest-{source}.html"


#: How many policies each "top policies" chart shows.
TOP_POLICIES = 6
#: Drift compares the most recent dates with the ones before them, flagged at
#: ``models.drift.PSI_ALERT``: the same line as the drift checks of every scoring run.
DRIFT_RECENT_DAYS = 7
#: Calibration and PR curves need at least this many audited, scored negatives.
MIN_AUDITED = 30
#: The fewest rows a bin of the calibration chart is drawn from: a bin of one or two rows
#: says nothing about calibration.
CALIBRATION_BIN_ROWS = 5
#: How many fix-list rows each owner's table shows.
TOP_FIXES = 5


@dataclass
class ReportResult:
    """Where the report went and what it could show."""

    path: Path
    latest: Path
    #: Section title -> None when shown, or the reason it is not available.
    missing: dict[str, str] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    #: Section title -> what a section not available says besides why (unused audits).
    notes: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Inputs:
    settings: Settings
    manifests: pl.DataFrame
    scored: pl.DataFrame | None
    summary: pl.DataFrame | None
    quarantine: pl.DataFrame | None
    champion: str | None
    metrics: dict[str, Any] | None
    metadata: dict[str, Any] | None
    audited: pl.DataFrame | None
    fix_list: pl.DataFrame | None = None
    agents: pl.DataFrame | None = None
    #: Each scored date's early-warning result (from its feedback_scored manifest), by date.
    early_warnings: dict[date, dict[str, Any]] = field(default_factory=dict)
    #: Dates whose last run failed after their marts were last published, or before any.
    failed: list[FailedDate] = field(default_factory=list)
    #: Why the source needs no model (:func:`no_model_needed`), None when it may have one:
    #: read once here, not by each section that asks (each read parses its definition).
    no_model: str | None = None
    #: For such a source, the line saying the audit files saved under it are not used
    #: (:func:`servicelens.ingest.audits.unused_audits_line`), None when it has none.
    unused_audits: str | None = None
    #: The files of the source's inbox its last nightly run refused, still waiting there
    #: (:func:`servicelens.ingest.configured.not_landed`).
    not_landed: list[NotLanded] = field(default_factory=list)
    #: The data directory's inbox folders that hold files but are no configured source's
    #: (:func:`servicelens.ingest.configured.unclaimed_inboxes`): folder -> what to do.
    unclaimed: dict[str, str] = field(default_factory=dict)
    #: Where every QA audit row of the source goes now, as training's tally counts it
    #: (:func:`servicelens.stages.audit_report`), None for a source without audit files.
    audits: dict[str, Any] | None = None
    #: Each source of the data directory another live run is rebuilding now (it holds
    #: dates of the source's layer): source -> the runs' names (:func:`_being_rebuilt`).
    rebuilding: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FailedDate:
    """A date whose last run failed: when, why, and whether marts of an earlier run stand."""

    day: date
    finished_at: str
    error: str
    published: bool


class _NotAvailable(Exception):
    """A section's inputs do not exist yet; the message says which and how to get them,
    ``notes`` what else the section says (each a line of plain text), ``html`` what it shows
    all the same (QA's audit tally below a review queue not available)."""

    def __init__(self, reason: str, notes: list[str] | None = None, html: str = "") -> None:
        super().__init__(reason)
        self.notes = notes or []
        self.html = html


#: A backfill's dates where none are known yet.
PLACEHOLDER_RANGE = " --start ... --end ..."


def _backfill_hint(settings: Settings, options: str = "") -> str:
    """The backfill a hint tells to run: a configured source's report names its source (a
    backfill without ``--source`` would act on the sample), and its landed range where
    ``options`` name no dates (a platform engineer's trial met "--start ... --end ..." in a
    report whose backfill would have printed the range; placeholders remain only when
    nothing is landed)."""
    if not settings.is_sample:
        if not options or options.startswith(PLACEHOLDER_RANGE):
            from servicelens.ingest.landing import landed_periods

            periods = landed_periods(settings)
            if periods:
                rest = options.removeprefix(PLACEHOLDER_RANGE)
                options = f" --start {periods[0]} --end {periods[-1]}{rest}"
            elif not options:
                options = PLACEHOLDER_RANGE
        options = f" --source {settings.source}{options}"
    return f"`servicelens backfill{options}`"


def no_model_needed(settings: Settings) -> str | None:
    """Why the source ``settings`` address needs no root-cause model, in the words
    ``servicelens run`` and ``train`` use (:data:`servicelens.cli.sources.NOTHING_NEGATIVE`),
    when its definition says ``negative = "none"``; None for the sample and every other
    source. A trial's report of such a survey said "no champion model yet: run train" in
    three sections, and `train` then refused."""
    from servicelens.retrain import why_no_model

    if (needless := why_no_model(settings)) is None:
        return None
    return f"no model needed: {settings.source}: {needless}"


#: The section that says in full why a source needs no model (:func:`no_model_needed`).
MODEL_TITLE = "Model and baselines"


def _no_model_elsewhere(inputs: _Inputs) -> str | None:
    """Why a section a model would fill is empty, for a source that needs no model: one
    line pointing to :data:`MODEL_TITLE`, which says why in full (the report of such a
    survey repeated the paragraph in eight sections). The whole reason where that section
    shows a model after all (one trained before the definition said negative = "none");
    None for a source that may have a model."""
    if inputs.no_model is None:
        return None
    if inputs.champion is not None and inputs.metrics is not None:
        return inputs.no_model
    return f"no model needed, so nothing is scored: see {MODEL_TITLE}"


def reasons_first(missing: dict[str, str]) -> list[tuple[str, str]]:
    """``missing`` (section title -> why it is not available, in page order) as (title,
    reason) pairs for reading top to bottom, as ``report`` prints them: the sections whose
    reason others point to ("... see Model and baselines", :func:`_no_model_elsewhere`)
    first, then the rest in page order. Printed in page order, a user trial read six
    pointers to a reason before the reason itself."""
    pointed_to = [t for t in missing if any(f"see {t}" in r for r in missing.values())]
    rest = [t for t in missing if t not in pointed_to]
    return [(title, missing[title]) for title in pointed_to + rest]


# --- reading what is on disk ----------------------------------------------------------------


def _table(table_dir: DataPath) -> pl.DataFrame | None:
    """Every partition of a table, None when it has none. A published table (named by its
    folder, :data:`transforms.schemas.PUBLISHED_TABLES`) has every column of its contract:
    those no partition holds yet read as null."""
    if not any(table_dir.glob(f"{PARTITION_COLUMN}=*/*.parquet")):
        return None
    frame = scan_table(table_dir).collect()
    contract = next((c for c in PUBLISHED_TABLES if c.name == table_dir.name), None)
    return frame if contract is None else with_contract_columns(frame, contract.schema)


def _every_quarantine(settings: Settings) -> pl.DataFrame | None:
    """The quarantine of every source in the data directory (its ``source`` column tells
    them apart): the report's reasons table is the one place a source's rows set aside are
    explained, and an analyst's trial found only the sample's there, its configured
    source's six rows in the Sources table's count alone. None when none has one."""
    from servicelens.reporting.analyst import source_roots

    found = [
        frame
        for root in source_roots(settings.root).values()
        if (frame := _table(root / "quarantine")) is not None
    ]
    return pl.concat(found, how="diagonal_relaxed") if found else None


def _manifests(table_dir: DataPath) -> pl.DataFrame:
    from servicelens.cli.console import swapped_nearer_note

    rows = []
    paths: list[DataPath] = sorted(table_dir.glob(f"{PARTITION_COLUMN}=*/{MANIFEST_FILE}"), key=str)
    for path in paths:
        manifest = json.loads(path.read_text())
        counts = manifest.get("counts") or {}
        rows.append(
            {
                "survey_date": date.fromisoformat(manifest[PARTITION_COLUMN]),
                "run_id": str(manifest.get("run_id")),
                "written_at": str(manifest.get("written_at")),
                "surveys_read": counts.get("surveys_read"),
                "kept": counts.get("kept"),
                "quarantined": counts.get("quarantined"),
                "negatives": counts.get("negatives"),
                "superseded_duplicates": counts.get("superseded_duplicates"),
                "malformed_lines": counts.get("malformed_lines"),
                "undated": counts.get("undated"),
                "set_aside": counts.get("set_aside"),
                "unanswered": counts.get("unanswered"),
                "rated": counts.get("rated"),
                "awaiting_contact_facts": counts.get("awaiting_contact_facts"),
                "misdated_note": swapped_nearer_note(counts),
            }
        )
    schema = {
        "survey_date": pl.Date,
        "run_id": pl.String,
        "written_at": pl.String,
        **{
            k: pl.Int64
            for k in (
                "surveys_read",
                "kept",
                "quarantined",
                "negatives",
                "superseded_duplicates",
                "malformed_lines",
                "undated",
                "set_aside",
                "unanswered",
                "rated",
                "awaiting_contact_facts",
            )
        },
        "misdated_note": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def misdated_notes(table_dir: DataPath) -> list[str]:
    """Per partition of ``table_dir`` (the clean layer) whose last run kept rows that read
    either way round and may be misdated (its manifest's counts ``maybe_misdated`` and
    ``swapped_nearer``, servicelens.stages.DayCounts): ``"<date>: <the run's note>"``, the
    note naming the row, file, line and value and what to do
    (servicelens.cli.console.swapped_nearer_note), by date. Found by a trial: only the
    night the row landed said so, and the report showed the source "from 2026-03-11"
    without a word. The report takes them from the manifests it has read
    (:func:`_misdated`)."""
    return _misdated(_manifests(table_dir))


def _misdated(manifests: pl.DataFrame) -> list[str]:
    """:func:`misdated_notes` of the manifests :func:`_manifests` read."""
    flagged = manifests.filter(pl.col("misdated_note").is_not_null()).sort("survey_date")
    return [f"{day}: {note}" for day, note in flagged.select("survey_date", "misdated_note").rows()]


def _json(path: DataPath) -> dict[str, Any] | None:
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _audited_negatives(settings: Settings, scored: pl.DataFrame | None) -> pl.DataFrame | None:
    """Scored negatives with a label training uses (:func:`servicelens.stages.with_training_labels`:
    an audit dated before its response is not one), that label as ``audit_root_cause``
    beside the model's probability and class (``root_cause``). None when there is none."""
    from servicelens.stages import with_training_labels

    if scored is None:
        return None
    negatives = scored.filter(pl.col("is_negative") & pl.col("p_policy_failure").is_not_null())
    if negatives.height == 0:
        return None
    labelled = with_training_labels(
        settings, negatives.rename({"root_cause": "scored_root_cause"})
    ).rename({"root_cause": "audit_root_cause", "scored_root_cause": "root_cause"})
    if labelled.height == 0:
        return None
    return labelled.filter(pl.col("audit_root_cause").is_in(["perceived", POSITIVE_CLASS]))


def _being_rebuilt(settings: Settings, run_id: str | None) -> dict[str, list[str]]:
    """Each source of ``settings``' data directory (the sample too) whose layer a live run
    other than ``run_id`` (the run writing the report) holds dates of now: source -> the
    runs' names (:func:`servicelens.storage.claims.live_runs_holding`). Found by a French
    insurer's trial: a report written while another source was mid-run showed it as if
    nothing were scored; its figures are what its marts hold at that moment."""
    from servicelens.reporting.analyst import source_roots
    from servicelens.storage.claims import live_runs_holding

    found = {
        name: live_runs_holding(settings.for_source(name, ""), run_id)
        for name in source_roots(settings.root)
    }
    return {name: runs for name, runs in found.items() if runs}


def _read_inputs(settings: Settings, run_id: str | None = None) -> _Inputs:
    from servicelens.ingest.audits import unused_audits_line
    from servicelens.stages import audit_report

    scored = _table(settings.marts_dir / "feedback_scored")
    champion = champion_version(settings.models_dir)
    model_dir = settings.models_dir / champion if champion else None
    return _Inputs(
        settings=settings,
        manifests=_manifests(settings.clean_dir),
        scored=scored,
        summary=_table(settings.marts_dir / "daily_summary"),
        quarantine=_every_quarantine(settings),
        champion=champion,
        metrics=(read_metrics(settings.models_dir, champion) or None) if champion else None,
        metadata=_json(model_dir / METADATA_FILE) if model_dir else None,
        audited=_audited_negatives(settings, scored),
        fix_list=_table(settings.marts_dir / "fix_list"),
        agents=_table(settings.marts_dir / "agent_outcomes"),
        early_warnings=_early_warnings(settings.marts_dir / "feedback_scored"),
        failed=failed_dates(settings),
        no_model=(no_model := no_model_needed(settings)),
        unused_audits=unused_audits_line(settings) if no_model else None,
        not_landed=not_landed(settings),
        unclaimed=unclaimed_inboxes(settings),
        audits=audit_report(settings),
        rebuilding=_being_rebuilt(settings, run_id),
    )


def failed_dates(settings: Settings) -> list[FailedDate]:
    """The dates whose last run failed and has not been followed by a publish (the state a
    backfill's ``--rerun failed`` takes up), from the run records under ``runs/``: a date
    whose marts an earlier run published still shows them, and read as healthy (a trial
    broke a date's export, its backfill failed, and every later report showed the date's
    old rows as reconciled). Only dates whose record says ``failed`` are looked at further.
    """
    from servicelens.storage.runs import date_status

    found: list[FailedDate] = []
    records: list[DataPath] = sorted(settings.runs_dir.glob(f"{PARTITION_COLUMN}=*.json"), key=str)
    for record in records:
        try:
            day = date.fromisoformat(record.name.removeprefix(f"{PARTITION_COLUMN}=")[:-5])
            outcome = json.loads(record.read_text())
        except (ValueError, OSError):
            continue  # not a run record, or being replaced
        if outcome.get("outcome") != "failed":
            continue
        if date_status(settings, day).state != "failed":
            continue  # published since
        error = (str(outcome.get("error") or "").strip().splitlines() or ["(not recorded)"])[0]
        published = read_manifest(settings.marts_dir / "feedback_scored", day) is not None
        found.append(FailedDate(day, str(outcome.get("finished_at", ""))[:16], error, published))
    return found


def _early_warnings(table_dir: DataPath) -> dict[date, dict[str, Any]]:
    found = {}
    paths: list[DataPath] = sorted(table_dir.glob(f"{PARTITION_COLUMN}=*/{MANIFEST_FILE}"), key=str)
    for path in paths:
        manifest = json.loads(path.read_text())
        if manifest.get("early_warning"):
            # With the rows the date kept: a partition of only quarantined rows (a source's
            # rows whose date could not be read, filed under the delivery's) has none.
            kept = (manifest.get("counts") or {}).get("kept")
            found[date.fromisoformat(manifest[PARTITION_COLUMN])] = {
                **manifest["early_warning"],
                "kept": kept,
            }
    return found


# --- sections -------------------------------------------------------------------------------


def _html_table(frame: pl.DataFrame, float_digits: int | None = 3) -> str:
    """``frame`` as an HTML table. ``float_digits``: the decimals every float is printed
    with; None: each column's floats with the decimals its values have, at most
    :data:`MOST_DECIMALS`, for a query's output that rounds its own columns
    (handle_time_vs_resolution's mean_csat to 2: printed 3.690 at 3, beside daily_summary's
    3.693, a BI developer's trial)."""
    digits = [
        float_digits if float_digits is not None else decimals_given(frame.get_column(c))
        for c in frame.columns
    ]

    def cell(value: Any, decimals: int) -> str:
        if value is None:
            return '<td class="null">-</td>'
        if isinstance(value, float):
            return f'<td class="num">{value:.{decimals}f}</td>'
        if isinstance(value, int):
            return f'<td class="num">{value:,}</td>'
        return f"<td>{escape(str(value))}</td>"

    head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(cell(v, d) for v, d in zip(row, digits, strict=True)) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: The most decimals a float of a report table is printed with.
MOST_DECIMALS = 3


def decimals_given(column: pl.Series) -> int:
    """The fewest decimals (0 to :data:`MOST_DECIMALS`) that print every float of ``column``
    as it is: 2 for a column a query rounded to 2 decimals (3.69, 3.65), so no 0 is added
    that the value does not have; :data:`MOST_DECIMALS` for one rounded to more, or not
    at all. A column of no float (integers, text, nulls only) gives 0."""
    values = [v for v in column.to_list() if isinstance(v, float) and math.isfinite(v)]
    return next(
        (d for d in range(MOST_DECIMALS) if all(round(v, d) == v for v in values)),
        MOST_DECIMALS,
    )


def rows_first_and_last(
    clean_dir: DataPath, manifests: pl.DataFrame, granularity: str, timezone: str
) -> tuple[date, date] | None:
    """The first and last day of the rows kept in the clean table ``clean_dir`` (each row's
    own day, :func:`transforms.clean.response_day` in the business ``timezone``), from its
    ``manifests`` (:func:`_manifests`); None when no partition kept a row.

    A daily partition's date is its rows' day, so nothing is read; a weekly or monthly one
    is dated by its period's first day (an analyst's trial read CFPB's "2015-03-01 to
    2026-03-01" beside rows from 2015-03-23 to 2026-03-11), so the ``submitted_at`` of its
    first and last partitions that kept a row are read, those two columns alone."""
    from transforms.clean import response_day

    days = manifests.filter(pl.col("kept").fill_null(0) > 0).get_column("survey_date").sort()
    if days.is_empty():
        return None
    if granularity == "day":
        return days[0], days[-1]
    ends = scan_table(clean_dir, [days[0], days[-1]]).select(
        response_day(timezone).min().alias("first"), response_day(timezone).max().alias("last")
    )
    first, last = ends.collect().row(0)
    return (first or days[0]), (last or days[-1])


def _holding_rows(manifests: pl.DataFrame) -> pl.DataFrame:
    """The clean partitions' manifests (``survey_date``, ``surveys_read`` ...) of dates that
    read any row. A partition whose rows all moved to their own dates when a fixed
    definition landed its delivery again holds none: an analyst's trial read the report's
    dates as running to it, its quarantine share as ``nan``, and it counted as a date."""
    return manifests.filter(pl.col("surveys_read").fill_null(0) > 0)


def _superseded_and_rejected() -> list[pl.Expr]:
    """Over manifests' counts (``quarantined``, ``superseded_duplicates``, ``set_aside``):
    ``superseded``, the quarantined rows that are earlier copies of a response replaced by a
    later line or delivery, nothing wrong with them; ``set_aside``, the rows the source
    definition's ``[[exclude]]`` rules set aside (a Zendesk survey only offered), nothing
    wrong with them either; and ``rejected``, the rest. A partition written before its
    superseded copies (or its set-aside rows) were counted has them among ``rejected``, as
    then. The run summaries count them apart so
    (``servicelens.validation.reasons.quarantined_split``); a user trial's report counted a
    form submitted twice with the rejects, and a support manager's its surveys only offered
    (rejected shares of 0.30-0.46 a day)."""
    superseded = pl.col("superseded_duplicates").fill_null(0)
    set_aside = pl.col("set_aside").fill_null(0)
    return [
        superseded.alias("superseded"),
        set_aside.alias("set_aside"),
        (pl.col("quarantined") - superseded - set_aside).alias("rejected"),
    ]


def _quarantined_counts(manifests: pl.DataFrame) -> dict[str, int]:
    """``quarantined``, ``superseded``, ``set_aside`` and ``rejected`` rows of every
    partition of ``manifests`` (:func:`_superseded_and_rejected`), in that order."""
    totals = manifests.select(pl.col("quarantined"), *_superseded_and_rejected()).sum()
    return {name: int(totals[name][0] or 0) for name in totals.columns}


def _volumes(inputs: _Inputs) -> str:
    if inputs.manifests.height == 0:
        raise _NotAvailable(f"no clean partitions yet: run {_backfill_hint(inputs.settings)} first")
    holding = _holding_rows(inputs.manifests)
    empty = inputs.manifests.height - holding.height
    days = (
        (holding if holding.height else inputs.manifests)
        .sort("survey_date")
        .with_columns(_superseded_and_rejected())
    )
    xs = days.get_column("survey_date").to_list()
    series = [
        Series("read", xs, days.get_column("surveys_read").to_list(), COLOURS["neutral"]),
        Series("kept", xs, days.get_column("kept").to_list(), COLOURS["green"]),
        Series("negatives", xs, days.get_column("negatives").to_list(), COLOURS["orange"]),
        Series("rejected", xs, days.get_column("rejected").to_list(), COLOURS["purple"]),
        Series("superseded", xs, days.get_column("superseded").to_list(), COLOURS["sky"]),
    ]
    if days.get_column("set_aside").sum():
        series.append(
            Series("set aside", xs, days.get_column("set_aside").to_list(), COLOURS["neutral"])
        )
    # A monthly source's partitions (CFPB) are named by the month's first day.
    monthly = inputs.settings.partition == "month"
    chart = line_chart(
        "volumes",
        f"Survey responses per {'month' if monthly else 'day'}",
        series,
        "survey month" if monthly else "survey date",
        "responses",
        monthly=monthly,
    )
    totals = days.select(
        pl.len().alias("dates"),
        pl.col("surveys_read").sum().alias("read"),
        pl.col("kept").sum(),
        pl.col("quarantined").sum(),
        pl.col("superseded").sum(),
        pl.col("set_aside").sum(),
        pl.col("rejected").sum(),
        pl.col("negatives").sum(),
    )
    total = totals.row(0, named=True)
    words = quarantined_split(total["quarantined"], total["superseded"], total["set_aside"])
    split = (
        f"<p>Of the {total['quarantined']:,} quarantined: {escape(words)}.</p>"
        if total["quarantined"]
        else ""
    )
    note = (
        f"<p>{empty:,} more partition(s) hold no row: their rows moved to their own dates when "
        "the delivery was landed again.</p>"
        if empty
        else ""
    )
    return chart + _html_table(totals) + split + note


def _trend(inputs: _Inputs) -> str:
    if inputs.summary is None:
        raise _NotAvailable(
            f"no daily_summary mart yet: run {_backfill_hint(inputs.settings)} first"
        )
    # A date whose negatives no model scored has no count (a gap in the lines), not 0: its
    # groups without negatives hold 0s, which summed with its unscored groups' nulls read as
    # a date of no failures (as policies_by_root_cause did, found by a user's trial).
    counted = ("perceived", "policy_failures")
    per_day = (
        inputs.summary.group_by("survey_date")
        .agg(
            *(pl.col(c).sum() for c in counted),
            pl.col("negatives").sum(),
            (pl.col("perceived") + pl.col("policy_failures")).sum().alias("scored"),
        )
        .with_columns(
            pl.when((pl.col("negatives") > 0) & (pl.col("scored") == 0))
            .then(None)
            .otherwise(pl.col(c))
            .alias(c)
            for c in counted
        )
        .sort("survey_date")
    )
    if per_day.select(pl.col("perceived").sum() + pl.col("policy_failures").sum()).item() == 0:
        raise _NotAvailable(_no_root_causes(inputs))
    xs = per_day.get_column("survey_date").to_list()
    series = [
        Series("policy failure", xs, per_day["policy_failures"].to_list(), COLOURS[POSITIVE_CLASS]),
        Series("perceived", xs, per_day["perceived"].to_list(), COLOURS["perceived"]),
    ]
    monthly = inputs.settings.partition == "month"
    return line_chart(
        "trend",
        "Negative responses by root cause",
        series,
        "survey month" if monthly else "survey date",
        "negative responses",
        monthly=monthly,
    )


def _estimated_failures(scored: pl.DataFrame | None) -> pl.DataFrame:
    """``survey_date``, ``policy_code``, ``estimated``: the sum of ``p_policy_failure`` over
    each date's and policy's scored negatives of ``scored`` (feedback_scored); empty when
    there is none. The estimate of a day whose daily_summary predates
    ``expected_policy_failures`` (version 6)."""
    columns = {"survey_date": pl.Date, "policy_code": pl.String, "estimated": pl.Float64}
    if scored is None or scored.is_empty():
        return pl.DataFrame(schema=columns)
    return (
        scored.filter(pl.col("is_negative") & pl.col("p_policy_failure").is_not_null())
        .group_by("survey_date", "policy_code")
        .agg(pl.col("p_policy_failure").sum().cast(pl.Float64).alias("estimated"))
        .cast(columns)  # type: ignore[arg-type]
    )


def _top_policies(inputs: _Inputs) -> str:
    if inputs.summary is None:
        raise _NotAvailable(
            f"no daily_summary mart yet: run {_backfill_hint(inputs.settings)} first"
        )
    # How many of each kind a policy has, as the calibrated probabilities estimate (the sum of
    # p_policy_failure, as `servicelens query policies_by_root_cause` counts them): the
    # decisions at the model's threshold under-counted every sample policy's failures (a BI
    # developer's trial). A day written before daily_summary version 6 has no estimate: it
    # takes the sum of its scored responses' p_policy_failure from feedback_scored, as the
    # query does; its decisions never stand in (a platform engineer's upgrade saw the chart
    # draw CONDUCT's old decision count, 92, where the same rows summed to 108.3).
    # A policy no model scored a negative of is left out, not drawn as 0 of each kind (its
    # groups without negatives hold 0s, which summed read as a count of none).
    scored = pl.col("perceived") + pl.col("policy_failures")
    failures = pl.coalesce("expected_policy_failures", "estimated")
    by_policy = (
        inputs.summary.join(
            _estimated_failures(inputs.scored), on=["survey_date", "policy_code"], how="left"
        )
        .group_by("policy_code")
        .agg(
            (scored - failures).sum().alias("perceived"),
            failures.sum().alias("policy_failures"),
            scored.sum().alias("scored"),
        )
        .filter(pl.col("scored") > 0)
    )
    if by_policy.select(pl.col("perceived").sum() + pl.col("policy_failures").sum()).item() == 0:
        raise _NotAvailable(_no_root_causes(inputs))
    charts = []
    for column, chart_id, title, colour in (
        (
            "perceived",
            "top-perceived",
            "Most perceived complaints (estimated): fix how expectations are set",
            COLOURS["perceived"],
        ),
        (
            "policy_failures",
            "top-failures",
            "Most real failures (estimated): fix the operation",
            COLOURS[POSITIVE_CLASS],
        ),
    ):
        top = by_policy.sort([column, "policy_code"], descending=[True, False]).head(TOP_POLICIES)
        charts.append(
            hbar_chart(
                chart_id,
                title,
                top.get_column("policy_code").to_list(),
                [float(round(v)) for v in top.get_column(column).to_list()],
                colour,
            )
        )
    return '<div class="pair">' + "".join(charts) + "</div>"


def _data_quality(inputs: _Inputs) -> str:
    if inputs.manifests.height == 0:
        raise _NotAvailable(f"no clean partitions yet: run {_backfill_hint(inputs.settings)} first")
    unanswered_rule = _unanswered_rule(inputs.settings)
    answered, offered = pl.col("rated"), pl.col("rated") + pl.col("unanswered")
    days = (
        inputs.manifests.sort("survey_date")
        .with_columns(
            (pl.col("surveys_read") == pl.col("kept") + pl.col("quarantined")).alias("reconciled"),
            # The quarantined rows other than earlier copies a later delivery replaced and
            # rows the definition sets aside: a BI analyst's trial read "quarantine_share
            # 0.800" of re-delivered days with nothing wrong, a support manager's "rejected"
            # Zendesk surveys that were only offered.
            *_superseded_and_rejected(),
        )
        .with_columns(
            # None (shown "-") where nothing was read: 0/0 printed "nan".
            pl.when(pl.col("surveys_read") > 0)
            .then(pl.col("rejected") / pl.col("surveys_read"))
            .alias("rejected_share"),
            pl.when(offered > 0).then(answered / offered).alias("response_rate"),
        )
    )
    parts = []
    broken = days.filter(~pl.col("reconciled"))
    verdict = (
        '<p class="ok">Every date reconciles: rows read = rows kept + rows quarantined.</p>'
        if broken.height == 0
        else f'<p class="flag">{broken.height:,} date(s) do not reconcile: '
        f"{escape(', '.join(str(d) for d in broken['survey_date'].to_list()))}</p>"
    )
    parts.append(verdict)
    if inputs.failed:
        parts.append(_failed_flag(inputs))
    parts.extend(f'<p class="flag">{escape(note)}</p>' for note in _misdated(inputs.manifests))
    failed = [f.day for f in inputs.failed]
    rate = ""
    if unanswered_rule:
        counted = days.filter(pl.col("unanswered").is_not_null())
        got, sent = (
            int(counted["rated"].sum()),
            int((counted["rated"] + counted["unanswered"]).sum()),
        )
        rate = (
            " <code>response_rate</code> = answered / offered: the kept responses with a "
            "rating over those and the surveys offered and never answered, which the "
            f"definition sets aside with the reason &ldquo;{escape(unanswered_rule)}&rdquo; "
            "(<code>-</code> for dates run before they were counted)"
            + (
                f"; over these dates {got:,} answered of {sent:,} offered, {got / sent:.3f}."
                if sent
                else "."
            )
        )
    parts.append(
        "<p>Of the quarantined rows, <code>superseded</code> are earlier copies a later "
        "delivery replaced (nothing wrong with them; the quarantine's superseded column), "
        "<code>set_aside</code> the rows the source definition's <code>[[exclude]]</code> "
        "rules set aside (nothing wrong with them either: kept in quarantine with the rule's "
        "reason, counted apart; dates run before they were counted have them among rejected) "
        "and <code>rejected</code> the rest, rejected in their own right; "
        f"<code>rejected_share</code> = rejected / read.{rate} <code>undated</code> are rows filed "
        "under their delivery's day (the date its file name holds, else the day most of its "
        "rows fall on, else the day it was landed) because their own date could not be read: "
        "not responses of that date (processed_dates.rows_undated; <code>-</code> for dates "
        "run before it was counted)."
        + (
            " <code>without_contact_facts</code> are kept responses published without their "
            "contact facts because the contact feed has no export for that date (none landed; "
            "one delivered empty is a day without contacts): filled in when the export lands "
            "and the next <code>servicelens run</code> processes the date again "
            "(<code>-</code> for dates run before it was counted)."
            if inputs.settings.interaction_feed
            else ""
        )
        + "</p>"
    )
    parts.append(
        _html_table(
            days.with_columns(
                pl.when(pl.col("survey_date").is_in(failed))
                .then(pl.lit("failed"))
                .otherwise(pl.lit("completed"))
                .alias("last_run")
            )
            .select(
                "survey_date",
                pl.col("surveys_read").alias("read"),
                "kept",
                "quarantined",
                "superseded",
                "set_aside",
                "rejected",
                "rejected_share",
                *(["response_rate"] if unanswered_rule else []),
                # Not in the report before: a trial found processed_dates' rows_undated the
                # one place a day holding only undatable rows was told from a day of responses.
                "undated",
                # A trial's 582 responses of a day whose contacts came two days late were
                # published without queue or handle time, and the report said nothing.
                *(
                    [pl.col("awaiting_contact_facts").alias("without_contact_facts")]
                    if inputs.settings.interaction_feed
                    else []
                ),
                pl.col("malformed_lines").alias("malformed"),
                "reconciled",
                "last_run",
            )
            .with_columns(pl.col("survey_date").cast(pl.String), pl.col("reconciled").cast(str))
        )
    )
    if inputs.quarantine is not None and inputs.quarantine.height:
        parts.append(
            _quarantine_reasons(
                inputs.settings, inputs.quarantine, _set_aside_reasons(inputs.settings)
            )
        )
    docs = inputs.settings.gx_docs_dir / "index.html"
    if docs.exists():
        parts.append(
            f'<p>Every validation, expectation by expectation: <a href="{_rel(docs, inputs)}">'
            "Great Expectations Data Docs</a>.</p>"
        )
    else:
        parts.append('<p class="na">Great Expectations Data Docs: not available yet.</p>')
    return "".join(parts)


def _unanswered_rule(settings: Settings) -> str | None:
    """The reasons of the ``[[exclude]]`` rules of the source ``settings`` addresses that set
    aside surveys offered and never answered (``unanswered = true``), joined by "; "; None
    for the sample and a source without such a rule."""
    if settings.is_sample:
        return None
    from servicelens.stages import source_definition

    reasons = [e.reason for e in source_definition(settings).exclude if e.unanswered]
    return "; ".join(reasons) or None


def _set_aside_reasons(settings: Settings) -> dict[str, list[Exclusion]]:
    """Each configured source's ``[[exclude]]`` rules, by source name (the quarantine's
    ``source``): the rows quarantined by them are set aside, not rejected. A source whose
    registered definition cannot be read has none here (its rows count as rejected): the
    report of the others is still written, and the run names that source (a test of a
    nightly with one broken definition saw the whole report, and the run, fail on it)."""
    from servicelens.stages import source_definition

    return {
        source.source: list(source_definition(source).exclude)
        for source in configured_sources_or_unreadable(settings)
        if isinstance(source, Settings)
    }


def _quarantine_reasons(
    settings: Settings, quarantine: pl.DataFrame, set_aside: dict[str, list[Exclusion]]
) -> str:
    """Why rows were quarantined: the rejects' reasons apart from those of the earlier copies
    a later delivery replaced, which are nothing wrong (counted together, a re-delivered
    export's copies read as rejects beside the failed checks), in the words of the dates
    table above and of every run summary (``servicelens.validation.reasons.quarantined_split``)."""
    return (
        "<h3>Why rows were quarantined</h3><p>Every source's, each kind of reason as the "
        "quarantine states it, the <code>rejected</code> rows first: a whole record that "
        "could not be read (malformed line or JSON), or a value that failed a check (the "
        "column and the problem). Then, apart, the rows <code>set aside</code> by a source "
        "definition's <code>[[exclude]]</code> rule (its reason; nothing wrong with them) "
        "and the <code>superseded</code> rows: earlier "
        "copies a later delivery replaced, nothing wrong with them (duplicate delivery, "
        "exact duplicate; the quarantine's superseded column, or in rows written before it "
        "their first reason). A row with several reasons counts under each.</p>"
        + _html_table(reasons_of_rejects_and_superseded(quarantine, set_aside))
        + _earlier_wordings(settings, quarantine, set_aside)
    )


def _earlier_wordings(
    settings: Settings, quarantine: pl.DataFrame, set_aside: dict[str, list[Exclusion]]
) -> str:
    """A note on the rows set aside under an earlier wording of their rule (a partition
    written before quarantine contract 3, or a delivery landed before the rule was
    reworded): counted above as set aside under the rule's words now, with the dates that
    hold them and the backfill that rewrites them in those words. Empty when there are
    none."""
    from servicelens.storage.contract_versions import OlderPartitions, rewrite_commands
    from servicelens.validation.reasons import set_aside_rule_reason

    rule = set_aside_rule_reason(set_aside)
    earlier = quarantine.filter(
        rule.is_not_null() & ~pl.col("reasons").list.first().str.ends_with(pl.lit(" ") + rule)
    )
    if earlier.height == 0:
        return ""
    table = next(t for t in PUBLISHED_TABLES if t.name == "quarantine")
    found = [
        OlderPartitions(source, table, None, tuple(sorted(set(days))))
        for source, days in earlier.group_by("source")
        .agg(pl.col(PARTITION_COLUMN).unique().sort())
        .sort("source")
        .iter_rows()
    ]
    commands = [c for cs in rewrite_commands(settings, found).values() for c in cs]
    return (
        f"<p>{earlier.height:,} of the rows set aside were written under an earlier wording "
        "of their rule (dates run before quarantine contract 3, or landed before the rule was "
        "reworded): counted above as set aside, under the rule's words now, not as rejected. "
        "Running their dates again rewrites them in the current words: "
        + "; ".join(f"<code>{escape(c)}</code>" for c in commands)
        + ".</p>"
    )


#: Failed dates the report names one by one; the rest are counted.
FAILED_SHOWN = 10


def _failed_flag(inputs: _Inputs) -> str:
    """The dates whose last run failed: which still show an earlier run's rows, why each
    failed, and the backfill that runs them again once the cause is fixed."""
    failed = inputs.failed
    stale = sum(f.published for f in failed)
    items = "".join(
        f"<li>{f.day} (failed {escape(f.finished_at.replace('T', ' '))} UTC; "
        + ("the rows below are an earlier run's" if f.published else "nothing published")
        + f"): {escape(f.error)}</li>"
        for f in failed[:FAILED_SHOWN]
    )
    more = f"<li>and {len(failed) - FAILED_SHOWN:,} more</li>" if len(failed) > FAILED_SHOWN else ""
    first, last = failed[0].day, failed[-1].day
    hint = _backfill_hint(inputs.settings, f" --start {first} --end {last} --rerun failed")
    return (
        f'<p class="flag">{len(failed):,} date(s) failed on their last run'
        + (f", {stale:,} of them still showing an earlier run's marts" if stale else "")
        + f": fix the cause, then run {escape(hint)}.</p><ul>{items}{more}</ul>"
    )


def _count(value: Any) -> str:
    """A count as the report writes every count, with thousands separators (``18,219``, as
    its tables and the audit tally have them; a QA lead's trial read "trained on 18219
    audited negatives" beside "18,219 used"); ``?`` where it is not recorded."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return "?"
    return f"{int(value):,}"


def _rel(target: Path, inputs: _Inputs) -> str:
    return escape(os.path.relpath(target, inputs.settings.reports_dir))


def _model(inputs: _Inputs) -> str:
    sources = _source_models(inputs.settings)
    if inputs.champion is None or inputs.metrics is None:
        if sources:
            return "<p>No survey model yet (`servicelens train`).</p>" + sources
        if inputs.no_model:
            # Where QA looks for where its audits went (training's tally, below, for a
            # source with a model): a user trial's audits were said unused by `sources
            # run` alone.
            raise _NotAvailable(inputs.no_model, [u] if (u := inputs.unused_audits) else [])
        if (refused := not_promoted_text(inputs.settings)) is not None:
            # Train ran: say what it saved and why it kept it back, as review-queue does.
            raise _NotAvailable(f"no champion model yet: {refused}")
        raise _NotAvailable(f"no champion model yet: run {train_hint(inputs.settings)}")
    metrics = inputs.metrics
    rows: list[dict[str, Any]] = []
    best_rule = metrics.get("best_rule_baseline") or {}
    named = [
        (f"model (holdout, {_label_words(inputs.settings, metrics)})", metrics.get("model")),
        ("majority baseline", metrics.get("majority_baseline")),
        # None to score when every rule was constant on the training rows.
        ("best single rule", rule if "rule" in (rule := best_rule) else None),
        # Found by a data scientist's trial: these two were in metrics.json only, and on the
        # CFPB time split the facts alone ranked better than the model.
        ("text only baseline", metrics.get("text_only_baseline")),
        ("facts only baseline", metrics.get("facts_only_baseline")),
    ]
    ahead = baselines_ahead_text(metrics)
    truth = metrics.get("against_truth") or {}
    named += [
        ("model vs generator truth", truth.get("model_vs_truth")),
        ("oracle vs generator truth", truth.get("oracle_vs_truth")),
    ]
    for name, values in named:
        if values:
            rows.append(
                {"": name}
                | {
                    k: float(values.get(k, float("nan")))
                    for k in ("accuracy", "roc_auc", "pr_auc", "macro_f1", "brier", "ece")
                }
            )
    split = metrics.get("split") or {}
    meta = inputs.metadata or {}
    threshold = model_thresholds(inputs.settings, [inputs.champion])[inputs.champion]
    intro = (
        f"<p>Champion <code>{escape(inputs.champion)}</code>, trained on "
        f"{_trained_on(inputs.settings, meta, metrics)}; holdout "
        f"{split.get('test_from', '?')} to {split.get('test_to', '?')} "
        f"({_count(split.get('test_rows'))} rows). Negatives are classified policy_failure at "
        f"P(policy_failure) >= {_threshold_text(threshold)}"
        + (
            f" ({escape(decision_origin_text(metrics))}; kept in the version's metadata). "
            if "threshold" in (metrics.get("decision") or {})
            else " (kept in the version's metadata). "
        )
        + (
            f"Best single rule: <code>{escape(str(best_rule['rule']))}</code>.</p>"
            if "rule" in best_rule
            else f"Best single rule: {escape(rule_baseline_text(best_rule))}.</p>"
        )
    )
    return (
        intro
        + _last_training(inputs.settings.models_dir, inputs.champion)
        + _audit_tally(metrics, inputs.audits)
        + (_html_table(pl.DataFrame(rows)) if rows else "")
        + (f'<p class="flag">{escape(ahead[0].upper() + ahead[1:])}.</p>' if ahead else "")
        + _design_and_review(metrics)
        + (f"<p>{escape(inputs.unused_audits)}.</p>" if inputs.unused_audits else "")
        + sources
    )


def _audits_used(metrics: dict[str, Any]) -> int:
    """How many QA audit rows the champion's training used (its metrics' ``audits`` tally)."""
    return int((metrics.get("audits") or {}).get("used") or 0)


def _label_words(settings: Settings, metrics: dict[str, Any]) -> str:
    """What the champion's labels are: QA's audits (the sample), or a configured source's
    export's own label (CFPB's company response), with QA's audits over it where any was
    used. A user trial's CFPB report called the company responses "audit labels"."""
    if settings.is_sample:
        return "audit labels"
    used = _audits_used(metrics)
    return "the export's labels and QA's audits" if used else "the export's labels"


def _trained_on(settings: Settings, meta: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The rows the champion trained on, as its metadata and metrics record them: the
    labelled rows it is scored on, by whom they were labelled, and the facts-only rows
    without text it also trained on (a user trial's CFPB report left out 11,474)."""
    dates = escape(" to ".join(meta.get("survey_dates", [])))
    rows = _count(meta.get("training_rows"))
    if settings.is_sample:
        return f"{rows} audited negatives ({dates})"
    used = _audits_used(metrics)
    labels = (
        f"the export's own label, or QA's audit where one is in force ({used:,} audit rows used)"
        if used
        else "the export's own label (no QA audit was used)"
    )
    facts = int(meta.get("facts_only_rows") or 0)
    text = "labelled negatives with text" if facts else "labelled negatives"
    said = f"{rows} {text} ({dates}), labelled by {labels}"
    if facts:
        every = meta.get("trained_dates") or []
        when = (
            f"; every row it trained on is dated {escape(' to '.join(every))}"
            if len(every) == 2
            else ""
        )
        said += f", and {facts:,} facts-only rows without text (trained on, never scored{when})"
    return said


def _audit_tally(metrics: dict[str, Any], now: dict[str, Any] | None = None) -> str:
    """Where every QA audit row went when the champion was trained (the tally ``train``
    prints, kept in its metrics as ``audits``), for QA to read beside the model: found by a
    QA lead's trial, the report named the labels trained on but not the audits set aside.
    Empty when the champion's training read no audit file; a pointer to the tally of
    What QA audits next when it reads the same as ``now`` (the audits' tally as they are)."""
    from servicelens.ingest.audits import accounting_text

    audits = metrics.get("audits")
    if not audits:
        return ""
    if now and accounting_text(now) == accounting_text(audits):
        return (
            "<p>QA's audits when the champion was trained are as they are now: see "
            '<a href="#review-queue">What QA audits next</a>.</p>'
        )
    return _tally_html(
        "QA's audits when the champion was trained (<code>servicelens review-queue</code> "
        "names the rows set aside that leave an item open)",
        audits,
    )


def _tally_html(intro: str, accounting: dict[str, Any]) -> str:
    """``intro`` (HTML) and the audit tally ``accounting`` (``stages.audit_report``'s, or a
    version's metrics' ``audits``) as ``train`` prints it
    (:func:`servicelens.ingest.audits.accounting_text`)."""
    from servicelens.ingest.audits import accounting_text

    return f"<p>{intro}:</p><pre>{escape(accounting_text(accounting))}</pre>"


def _audits_now(inputs: _Inputs) -> str:
    """Where every audit row in the source's audit files goes now, as the next ``train``
    counts it: rows read and used, those set aside by reason with the first of each kind
    (file and line, or a workbook's sheet and row), the files not read and why. Found by a
    QA lead's trial: ``train`` and ``review-queue`` said them on the terminal, and the report
    the lead reads showed none, as if every audit had been taken. Empty for a source with no
    audit file."""
    from servicelens.reporting.analyst import train_command

    tally = inputs.audits
    if not tally or not (tally["files"] or tally["misplaced_files"] or tally["files_not_read"]):
        return ""
    return _tally_html(
        f"QA's audits as the next <code>{escape(train_command(inputs.settings))}</code> counts "
        "them (a row set aside labels nothing and closes no item until it is mended)",
        tally,
    )


def _last_training(models_dir: DataPath, champion: str) -> str:
    """A paragraph on the newest version training saved: that it is the champion, or that
    it was not promoted, with training's reason (found by a QA lead's trial: the report
    written by a retrain that kept the champion named neither the challenger nor why).

    The verdict is said once: training's reasons start with theirs (``promoted: ...``,
    ``not promoted: ...``), which is dropped where the sentence says it (a review read
    "was not promoted. Training's reason: not promoted: it shows no skill ...")."""
    from models.registry import list_versions, read_decision

    versions = [v["version"] for v in list_versions(models_dir)]
    if not versions:
        return ""
    newest = max(versions)  # names start with the time they were saved
    decision = read_decision(models_dir, newest) or {}
    reason = decision.get("reason")
    if not reason:
        return ""
    when = (
        f"Last training ({escape(str(decision.get('decided_at', ''))[:16].replace('T', ' '))} UTC)"
    )
    listed = "<code>servicelens models list</code> shows every version"
    refused = reason.startswith("not promoted: ")
    why = escape(reason.removeprefix("not promoted: ").removeprefix("promoted: "))
    if newest == champion:
        if not decision.get("promoted"):
            return (
                f"<p><strong>{when} did not promote it:</strong> {why}; it was promoted by hand "
                "since.</p>"
            )
        return f"<p>{when} promoted it: {why}.</p>"
    if decision.get("promoted"):
        return (
            f"<p>{when} promoted <code>{escape(newest)}</code>; the champion has been changed "
            f"since, by a rollback or by hand ({listed}).</p>"
        )
    if refused:
        # Trained while there was no champion (one was promoted by hand since).
        return (
            f"<p><strong>{when} did not promote challenger <code>{escape(newest)}</code>:"
            f"</strong> {why} ({listed}).</p>"
        )
    return (
        f"<p><strong>{when} kept the champion:</strong> challenger <code>{escape(newest)}"
        f"</code> was not promoted. Training's reason: {why} ({listed}).</p>"
    )


def _intervals_note(metrics: dict[str, Any]) -> str:
    """The 95% bootstrap interval of each cross-validated and time-split score, and whether
    the holdout can check the review band's promise (``models.evaluate.band_check_text``);
    empty for a version saved before they were kept. A QA lead's trial: on ~300 audits the
    scores moved by more than the table's three places between two retrains."""
    intervals = metrics.get("intervals") or {}
    said = [
        f"{name}: "
        + ", ".join(
            f"{k}{interval_text((intervals.get(key) or {}).get(k)) or ' n/a'}"
            for k in INTERVAL_METRICS
        )
        for name, key in (("cross-validated", "cross_validation"), ("time split", "model"))
        if intervals.get(key)
    ]
    band = band_check_text((metrics.get("decision") or {}).get("band_check"))
    if not said and band is None:
        return ""
    text = (f"95% bootstrap intervals over the rows ({'; '.join(said)})." if said else "") + (
        f" {band[:1].upper()}{band[1:]}." if band else ""
    )
    return f"<p>{escape(text.strip())}</p>"


def _design_and_review(metrics: dict[str, Any]) -> str:
    """Which design training chose and how every candidate validated; how the review band
    trades the share sent to review for accuracy on the rest; per-language accuracy."""
    parts: list[str] = [_intervals_note(metrics)]
    selection = metrics.get("selection") or {}
    candidates = selection.get("candidates") or {}
    if selection:
        # The terminal's line (train, models show): "by validation log loss" only when it
        # judged, not of a design the definition fixed or validation rows of one root cause.
        said = selection_summary(selection)
        parts.append(f"<p>{escape(said[:1].upper() + said[1:])}.</p>")
    if candidates:
        parts.append(
            _html_table(
                pl.DataFrame(
                    [
                        {"candidate": name, **{k: float(v[k]) for k in _CANDIDATE_SCORES}}
                        for name, v in candidates.items()
                    ]
                )
            )
        )
    decision = metrics.get("decision") or {}
    if "holdout_review_share" in decision:
        low, high = decision["review_band"]
        parts.append(
            f"<p>Review band {low:.2f}-{high:.2f} (chosen on training data"
            + (
                f"; {escape(review_band_text(decision))}"
                if not (decision.get("band_validation") or {}).get("target_met", True)
                else ""
            )
            + "): "
            f"{decision['holdout_review_share']:.1%} of the holdout went to review; accuracy "
            f"on the rest {decision['holdout_accuracy_when_decided']:.3f}, on every row "
            f"{decision.get('holdout_accuracy_all', float('nan')):.3f}. Wider bands:</p>"
        )
        curve = decision.get("abstention") or []
        if curve:
            parts.append(_html_table(pl.DataFrame(curve)))
    by_language = groupings_with_values(metrics.get("by_group") or {}).get("language") or {}
    if by_language:
        # A group too small to judge shows its size alone, as `models show` does (a data
        # scientist's trial read "missing 2 1.000" here).
        parts.append(
            "<p>Holdout by comment language (accuracy of groups of at least "
            f"{GROUP_ROWS_TO_SCORE} rows):</p>"
        )
        parts.append(
            _html_table(
                pl.DataFrame(
                    [
                        {
                            "language": k,
                            "rows": int(v["n"]),
                            "accuracy": float(v["accuracy"])
                            if v["n"] >= GROUP_ROWS_TO_SCORE
                            else None,
                        }
                        for k, v in by_language.items()
                    ],
                    schema={"language": pl.String, "rows": pl.Int64, "accuracy": pl.Float64},
                )
            )
        )
    return "".join(parts)


_CANDIDATE_SCORES = ("log_loss", "roc_auc", "brier", "cpu_seconds")


def _source_models(settings: Settings) -> str:
    """The champion of each source's registry (``models/sources/<name>/``): its design, its
    cross-validated and time-split scores, its reliability curve and review band."""
    root = settings.models_dir / "sources"
    if not root.exists():
        return ""
    parts: list[str] = []
    registries: list[DataPath] = sorted(root.iterdir(), key=str)
    for registry in registries:
        champion = champion_version(registry)
        metrics = (read_metrics(registry, champion) or None) if champion else None
        if metrics is None or champion is None:
            continue
        cv, holdout = metrics.get("cross_validation") or {}, metrics.get("model") or {}
        parts.append(
            f"<h3>Source {escape(registry.name)}</h3><p>Champion <code>{escape(champion)}"
            "</code>.</p>" + _last_training(registry, champion)
        )
        parts.append(
            _html_table(
                pl.DataFrame(
                    [
                        {"": name, **{k: float(m.get(k, float("nan"))) for k in _SCORES}}
                        for name, m in (("cross-validated", cv), ("time split", holdout))
                    ]
                )
            )
        )
        parts.append(_design_and_review(metrics))
        curve = metrics.get("reliability") or []
        if curve:
            parts.append(
                f"<p>Reliability on the time split (ECE {holdout.get('ece', float('nan')):.3f}):"
                " predicted P(policy_failure) against the observed rate, per bin.</p>"
                + _html_table(pl.DataFrame(curve))
            )
    return "".join(parts)


_SCORES = ("roc_auc", "pr_auc", "accuracy", "brier", "ece")


def _audited_for_curves(inputs: _Inputs) -> tuple[pl.DataFrame, str, bool]:
    """Audited, scored negatives, preferring those the champion did not train on; with a
    note saying which, and whether they are the ones it trained on (in sample)."""
    audited = inputs.audited
    if audited is None and (needless := _no_model_elsewhere(inputs)):
        raise _NotAvailable(needless)
    if audited is None or audited.height < MIN_AUDITED:
        raise _NotAvailable(
            f"fewer than {MIN_AUDITED} scored negatives have a QA audit: audit more, or train "
            "a model and publish the audited dates"
        )
    from models.registry import trained_through

    # Every row the champion trained on, facts-only rows without text included: a user
    # trial's report calibrated a CFPB champion "out of sample" on text-less complaints it
    # had trained on, dated after its rows with text (survey_dates).
    # A configured source's labels are mostly its export's own (CFPB's company response).
    noun = "audited negatives" if inputs.settings.is_sample else "labelled negatives"
    trained_to = trained_through(inputs.metadata or {})
    if trained_to is not None:
        unseen = audited.filter(pl.col("survey_date") > trained_to)
        if unseen.height >= MIN_AUDITED:
            return (
                unseen,
                f"{unseen.height:,} {noun} from after the champion's training data "
                "(out of sample).",
                False,
            )
    return audited, trained_rows_note(audited, noun), True


def trained_rows_note(rows: pl.DataFrame, noun: str) -> str:
    """What the probabilities of ``rows`` (feedback_scored's labelled negatives of the dates
    the champion trained on, ``in_training_set`` among their columns) are, for the note under
    the confusion matrix and precision-recall curve: a row whose label the model trained on
    carries its out-of-fold probability (``in_training_set`` true); one it did not train on
    a prediction made without its label (false); one scored by a version that kept no
    out-of-fold probabilities, its in-sample one (null: optimistic). A QA lead's trial read
    "trained on (in sample: optimistic)" over a matrix of out-of-fold scores."""
    flags = (
        rows.get_column("in_training_set")
        if "in_training_set" in rows.columns
        else pl.Series("in_training_set", [None] * rows.height, pl.Boolean)
    )
    kinds = {
        "out_of_fold": (
            int(flags.fill_null(False).sum()),
            "the out-of-fold probability the marts carry for a label the champion trained on "
            "(from the cross-validation model that did not see it), classified at its threshold",
        ),
        "fresh": (
            int((~flags.fill_null(True)).sum()),
            "a prediction made without its label (the champion did not train on it)",
        ),
        "in_sample": (
            flags.null_count(),
            "the in-sample probability of a model that kept no out-of-fold ones (optimistic)",
        ),
    }
    present = [(n, what) for n, what in kinds.values() if n]
    if len(present) == 1:
        said = f"each with {present[0][1]}"
    else:
        said = "; ".join(f"{n:,} with {what}" for n, what in present)
    return (
        f"{rows.height:,} {noun} of the dates the champion was trained on, as the marts score "
        f"them: {said}. The holdout metrics above are the out-of-time numbers."
    )


def _held_out_rows(inputs: _Inputs) -> tuple[pl.DataFrame, str] | None:
    """Labels the champion was trained on, each with a probability from a model that did
    not see it, as ``audit_root_cause`` and ``p_policy_failure`` (the marts' probabilities
    of those rows are in sample). The time split's test slice first, scored by the model
    fitted on the dates before it: held out in time, as new dates are. A data scientist's
    trial found CFPB's random-fold out-of-fold probabilities flattering on drifting data
    (ECE 0.021 against 0.052 on the time split). Else every label's out-of-fold
    probability. None when neither is recorded with :data:`MIN_AUDITED` rows.

    The note says which rows and why: a time-split slice of fewer than :data:`MIN_AUDITED`
    labelled negatives falls back to out-of-fold probabilities, and the note says so, with
    the slice's rows and ECE (found by a French insurer's trial: one source's calibration
    was on its 42-row time split, the other's on 100 out-of-fold rows beside a holdout ECE
    of 0.307 on 22 rows, unexplained). The rule stays: on fewer than 30 rows a chart of
    ten bins shows at most a few bins of :data:`CALIBRATION_BIN_ROWS` rows each, and its
    ECE swings with a row or two."""
    from models.registry import read_holdout, read_out_of_fold

    if inputs.champion is None:
        return None
    holdout = read_holdout(inputs.settings.models_dir, inputs.champion)
    if holdout is not None and holdout.height >= MIN_AUDITED:
        first = str(holdout.get_column("survey_date").min())
        return holdout.select(pl.col("root_cause").alias("audit_root_cause"), "p_policy_failure"), (
            f"{holdout.height:,} labelled negatives of the champion's time-split test slice "
            f"(survey dates from {first}), each scored by the model fitted on the dates "
            "before them (held out in time, as new dates are)."
        )
    oof = read_out_of_fold(inputs.settings.models_dir, inputs.champion)
    if oof is None or oof.height < MIN_AUDITED or "p_out_of_fold" not in oof.columns:
        return None
    rows = oof.select(
        pl.col("root_cause").alias("audit_root_cause"),
        pl.col("p_out_of_fold").alias("p_policy_failure"),
    )
    why = ""
    if holdout is not None and holdout.height:
        y = (holdout.get_column("root_cause") == POSITIVE_CLASS).to_numpy().astype(float)
        ece = expected_calibration_error(y, holdout.get_column("p_policy_failure").to_numpy())
        why = (
            f" Not the time-split test slice, which comes first: it has {holdout.height:,} "
            f"labelled negatives (ECE {ece:.3f} on them), fewer than the {MIN_AUDITED} a "
            "calibration chart needs here; label more of the latest dates to calibrate on it."
        )
    return rows, (
        f"{rows.height:,} labelled negatives the champion was trained on, each with its "
        "out-of-fold probability (cross-validation: predicted by a model that did not see it)."
        + why
    )


def _calibration(inputs: _Inputs) -> str:
    rows, note, in_sample = _audited_for_curves(inputs)
    if in_sample and (held_out := _held_out_rows(inputs)) is not None:
        # Found by a data scientist's trial: the chart and ECE of the rows the champion was
        # trained on (ECE 0.141, ROC-AUC 0.967 in sample against 0.776 out of fold) said
        # nothing of how calibrated it is; held-out probabilities do.
        rows, note = held_out
    y = (rows.get_column("audit_root_cause") == POSITIVE_CLASS).to_numpy().astype(float)
    p = rows.get_column("p_policy_failure").to_numpy()
    bins = np.clip((p * 10).astype(int), 0, 9)
    xs, ys = [], []
    for b in range(10):
        mask = bins == b
        if mask.sum() >= CALIBRATION_BIN_ROWS:
            xs.append(float(p[mask].mean()))
            ys.append(float(y[mask].mean()))
    chart = line_chart(
        "calibration",
        "Calibration: predicted vs audited failure rate",
        [Series("model", xs, ys, COLOURS[POSITIVE_CLASS])],
        "predicted P(policy_failure)",
        "audited share that failed",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        diagonal=True,
    )
    ece = expected_calibration_error(y, p)
    return f"<p>{escape(note)} Expected calibration error {ece:.3f}.</p>{chart}"


def confusion_counts(rows: pl.DataFrame) -> list[list[int]]:
    """``[[tn, fp], [fn, tp]]`` of audited negatives, policy_failure positive: the QA audit
    (``audit_root_cause``) against the class the marts gave (``root_cause``), which is the
    probability against the threshold of the model version that scored the row (chosen in
    training, kept in its metadata), not against 0.5."""
    y = (rows.get_column("audit_root_cause") == POSITIVE_CLASS).to_numpy()
    predicted = (rows.get_column("root_cause") == POSITIVE_CLASS).to_numpy()
    return [
        [int(((~y) & (~predicted)).sum()), int(((~y) & predicted).sum())],
        [int((y & (~predicted)).sum()), int((y & predicted).sum())],
    ]


def _confusion_and_pr(inputs: _Inputs) -> str:
    rows, note, _ = _audited_for_curves(inputs)
    y = (rows.get_column("audit_root_cause") == POSITIVE_CLASS).to_numpy()
    p = rows.get_column("p_policy_failure").to_numpy()
    labels = ["perceived", "policy_failure"]
    matrix = confusion_counts(rows)
    confusion = matrix_chart(
        "confusion",
        f"Confusion matrix ({_thresholds_used(inputs.settings, rows)})",
        matrix,
        labels,
        labels,
        "QA audit",
        "model",
    )
    if len(np.unique(y)) < 2:
        raise _NotAvailable("the audited rows hold one class only: a PR curve needs both")
    precision, recall, _ = precision_recall_points(y, p)
    base = float(y.mean())
    pr = line_chart(
        "pr-curve",
        "Precision-recall for policy_failure",
        [
            Series(
                "model", recall.tolist(), precision.tolist(), COLOURS[POSITIVE_CLASS], False, False
            ),
            Series("no skill", [0.0, 1.0], [base, base], COLOURS["neutral"], True, False),
        ],
        "recall",
        "precision",
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
    )
    return f'<p>{escape(note)}</p><div class="pair">{confusion}{pr}</div>'


def model_thresholds(settings: Settings, versions: list[str]) -> dict[str, float | None]:
    """The decision threshold each model version classifies at (its metadata's
    ``decision.threshold``; None when the version recorded none, or is no longer in the
    registry: marts keep the version that scored them after its folder is deleted)."""
    from models.registry import ModelFileError, read_metadata

    found: dict[str, float | None] = {}
    for version in versions:
        try:
            decision = read_metadata(settings.models_dir, version).get("decision") or {}
        except ModelFileError:
            decision = {}
        found[version] = float(decision["threshold"]) if "threshold" in decision else None
    return found


def _thresholds_used(settings: Settings, rows: pl.DataFrame) -> str:
    versions = rows.get_column("model_version").drop_nulls().unique().sort().to_list()
    used = model_thresholds(settings, versions)
    if len(used) == 1:
        (threshold,) = used.values()
        return f"threshold {_threshold_text(threshold)}, as the marts classify"
    each = ", ".join(f"{_threshold_text(t)} ({v})" for v, t in used.items())
    return f"thresholds of the versions that scored them: {each}"


def _threshold_text(threshold: float | None) -> str:
    return "not recorded" if threshold is None else f"{threshold:.2f}"


def _psi(reference: pl.Series, recent: pl.Series) -> PsiJudgement:
    """Population stability index between two categorical samples (``models.drift.psi`` over
    the share of each value in either sample), judged against sampling noise as a scoring
    run's drift check judges it (``models.drift.judge_psi``)."""
    ref = reference.drop_nulls().value_counts(normalize=True, name="ref")
    new = recent.drop_nulls().value_counts(normalize=True, name="new")
    joined = ref.join(new, on=reference.name, how="full", coalesce=True).fill_null(0.0)
    return judge_psi(
        joined.get_column("ref").to_numpy(),
        joined.get_column("new").to_numpy(),
        recent.drop_nulls().len(),
        reference.drop_nulls().len(),
    )


def _drift(inputs: _Inputs) -> str:
    scored = inputs.scored
    if scored is None:
        raise _NotAvailable(
            f"no feedback_scored mart yet: run {_backfill_hint(inputs.settings)} first"
        )
    dates = scored.get_column("survey_date").unique().sort()
    if dates.len() < 4:
        raise _NotAvailable("drift needs at least 4 survey dates")
    n_recent = min(DRIFT_RECENT_DAYS, dates.len() // 2)
    cutoff = dates[dates.len() - n_recent]
    reference = scored.filter(pl.col("survey_date") < cutoff)
    recent = scored.filter(pl.col("survey_date") >= cutoff)
    bucket = (pl.col("p_policy_failure") * 10).floor().clip(0, 9).cast(pl.Int8)
    checks: list[tuple[str, pl.Expr]] = [
        ("channel mix", pl.col("channel")),
        ("queue mix", pl.col("queue")),
        ("policy mix", pl.col("policy_code")),
        ("csat distribution", pl.col("csat")),
        ("transfers distribution", pl.col("transfers").clip(0, 4)),
        ("predicted P(policy_failure), deciles", bucket),
    ]
    rows = []
    for name, expr in checks:
        before = reference.select(expr.alias("value")).to_series()
        after = recent.select(expr.alias("value")).to_series()
        judged = _psi(before, after)
        # Too few rows for the values compared pass PSI's line by chance (a QA lead's trial
        # saw 28 negatives against 32 flagged): measured, not flagged.
        flag = "DRIFT" if judged.drifted else "ok"
        if not judged.judged:
            flag = f"not judged: {judged.too_few('values')}"
        rows.append({"what": name, "psi": judged.psi, "flag": flag})
    table = pl.DataFrame(rows)
    flagged = table.filter(pl.col("flag") == "DRIFT").height
    head = (
        f"<p>The last {n_recent:,} survey dates (from {cutoff}) against the "
        f"{dates.len() - n_recent:,} before them; a population stability index above "
        f"{PSI_ALERT} is flagged (below {PSI_WATCH} is stable, {PSI_WATCH}-{PSI_ALERT} worth "
        f"watching) when it is also above what sampling noise alone reaches "
        f"({NOISE_QUANTILE:.0%} of the time), as every scoring run's drift check judges it; "
        f"a side with fewer than {ROWS_PER_BIN} rows per value compared is measured, not "
        f"judged. {flagged} flag(s).</p>"
    )
    extra = ""
    model_drift = (inputs.metrics or {}).get("drift")
    if model_drift:
        extra = (
            "<h3>Drift recorded by training</h3><pre>"
            + escape(json.dumps(model_drift, indent=2, default=str))
            + "</pre>"
        )
    return head + _html_table(table) + extra


#: Open review items shown in the report (``servicelens review-queue`` lists them all).
TOP_REVIEW_ITEMS = 10


def _review_queue(inputs: _Inputs) -> str:
    """What QA audits next: the review queues as they stand, less what was audited since
    (``stages.open_review_queue``), the most urgent first; then where QA's audit rows go
    (:func:`_audits_now`), shown when the queue is not available too."""
    try:
        return _open_review_items(inputs) + _audits_now(inputs)
    except _NotAvailable as reason:
        reason.html += _audits_now(inputs)
        raise


def _open_review_items(inputs: _Inputs) -> str:
    """The review queue's open items, most urgent first, or the first audits a source
    without a model needs; :class:`_NotAvailable` when there is none."""
    from servicelens.reporting.analyst import review_reasons_text
    from servicelens.stages import first_audits, open_review_queue, review_queue_days

    items, closed = open_review_queue(inputs.settings)
    first = items.height == 0 and not closed and inputs.champion is None
    if first:
        # No model yet: the negatives nobody has labelled, for the first audits, as
        # `review-queue` lists them (a platform engineer's trial read "nothing to recommend"
        # here while the command listed 6 first_audit items of the same source).
        items = first_audits(inputs.settings)
    if items.height == 0:
        if inputs.champion is None:
            raise _NotAvailable(_no_model_elsewhere(inputs) or _not_scored(inputs.settings))
        if closed:
            raise _NotAvailable(
                f"nothing open ({closed:,} items closed by audits filed since their dates "
                "were scored)"
            )
        if queued := len(review_queue_days(inputs.settings)):
            # Queues written empty: not the same as no date scored (a QA lead's trial).
            raise _NotAvailable(
                f"nothing open: the queues of {queued:,} scored date(s) hold no item (every "
                "negative was audited, or none was scored)"
            )
        raise _NotAvailable(
            "no date has a review queue yet: dates get one when a champion scores them"
        )
    reasons = items.get_column("reason")
    source = "" if inputs.settings.is_sample else f" --source {inputs.settings.source}"
    top = items.head(TOP_REVIEW_ITEMS).select(
        pl.col("survey_date").cast(pl.String).alias("date"),
        "response_id",
        "reason",
        "priority",
        pl.col("p_policy_failure").alias("p"),
        pl.col("audit_label").alias(label_heading(inputs.settings)),
        "queue",
        pl.col("comment").str.slice(0, 120),
    )
    over = (
        f"{items.get_column('survey_date').n_unique():,} {periods_word(inputs.settings.partition)}"
    )
    worksheet = (
        f"<code>servicelens review-queue{source} --output worksheet.csv</code> writes them as "
        "a worksheet for QA to fill in.</p>"
    )
    if first:
        return (
            f"<p>No model yet, so nothing is scored: {items.height:,} negative responses over "
            f"{over} have no label, for QA's first audits (spread over the queues). The "
            f"{top.height} first below; {worksheet}" + _html_table(top)
        )
    return (
        f"<p>{items.height:,} open items over {over}: {escape(review_reasons_text(reasons))}; "
        f"{closed:,} closed by audits filed since their dates were scored. The "
        f"{top.height} most urgent below; {worksheet}" + _html_table(top)
    )


def label_heading(settings: Settings) -> str:
    """The review queue's column of each item's label: ``audited as`` for the sample, whose
    labels are QA's audits; ``labelled as`` for a configured source, whose label may be its
    export's own (CFPB's company response) where no audit overrides it (a trial read the
    export's label as an audit)."""
    return "audited as" if settings.is_sample else "labelled as"


def _no_root_causes(inputs: _Inputs) -> str:
    """Why a chart of root causes has none to draw, and what to do: nothing, for a source
    that needs no model (:func:`no_model_needed`)."""
    return (
        _no_model_elsewhere(inputs)
        or "no negative response has a root cause yet: train a model first"
    )


def _not_scored(settings: Settings) -> str:
    """Why there is no fix list when no model has scored the negatives, and what to run
    (a source that needs no model says so instead: :func:`_no_model_elsewhere`)."""
    return (
        "no model has scored the negatives yet, so there is nothing to recommend: run "
        f"{train_hint(settings)}, then re-run the dates "
        f"({_backfill_hint(settings, PLACEHOLDER_RANGE + ' --rerun all')})"
    )


def _estimate(column: str, decimals: int, why: str | None = None) -> pl.Expr:
    """A fix-list estimate and its interval as text: "12 (4 to 20)"; "12 (no interval)"
    when the responses gave no spread to build one; where there is no estimate, the text of
    the column ``why`` (``csat_not_estimated``: "too few responses: 1 with the problem and 7
    without have a csat ...") or, without one, "not known" (a complaint database has no
    csat). Partitions written before nulls were kept hold NaN: read alike."""

    def rounded(name: str) -> pl.Expr:
        value = pl.col(name).fill_nan(None).round(decimals)
        return value.cast(pl.Int64) if decimals == 0 else value

    point, low, high = (rounded(n) for n in (column, f"{column}_low", f"{column}_high"))
    missing = pl.lit("not known") if why is None else pl.col(why).fill_null("not known")
    return (
        pl.when(point.is_null())
        .then(missing)
        .when(low.is_null() | high.is_null())
        .then(formatted_text("{} (no interval)", point))
        .otherwise(formatted_text("{} ({} to {})", point, low, high))
    )


def _models_named(rows: pl.DataFrame) -> str:
    """ "model <code>V</code>", or "models <code>A</code>, <code>B</code>" for the versions
    whose root causes ``rows`` (fix list rows, ``model_version``) count: a window that
    straddles a promotion not re-scored counts two (a QA lead's trial read one)."""
    from transforms.marts import MODEL_VERSION_SEPARATOR

    versions = sorted(
        {
            version
            for text in rows.get_column("model_version").drop_nulls().to_list()
            for version in text.split(MODEL_VERSION_SEPARATOR)
        }
    )
    named = ", ".join(f"<code>{escape(v)}</code>" for v in versions)
    return f"model {named}" if len(versions) == 1 else f"models {named or 'not recorded'}"


def _fix_list(inputs: _Inputs) -> str:
    fixes = inputs.fix_list
    if fixes is None or fixes.height == 0:
        if inputs.champion is None or fixes is not None:
            raise _NotAvailable(_no_model_elsewhere(inputs) or _not_scored(inputs.settings))
        raise _NotAvailable(
            f"no fix list yet: run {_backfill_hint(inputs.settings)} (rebuilt every run)"
        )
    newest = fixes.filter(
        (pl.col("period") == "window") & (pl.col("survey_date") == pl.col("survey_date").max())
    )
    if newest.height == 0:
        raise _NotAvailable(_no_model_elsewhere(inputs) or _not_scored(inputs.settings))
    first, last = newest.row(0, named=True)["period_start"], newest.row(0, named=True)["period_end"]
    if inputs.settings.partition != "day":
        # A monthly window runs from a month's first day to one's last: its rows' own first
        # and last days instead, as the header gives them (a monthly source's fix list read
        # "2023-06-01 to 2023-08-31" under "2023-06-27..2023-08-25" for the same rows).
        window = inputs.manifests.filter(pl.col("survey_date").is_between(first, last))
        first, last = rows_first_and_last(
            inputs.settings.clean_dir, window, inputs.settings.partition, inputs.settings.timezone
        ) or (first, last)
    from transforms.fix_list import MIN_RESPONSES_PER_SIDE  # scipy: only when it is drawn

    # A source without scores (a complaint database) has no csat to rank by: the fix list
    # ranks by responses then (transforms/fix_list.py), and the page says so. So it does when
    # every row has too few responses with a csat to estimate from.
    scored = newest.get_column("csat_points_lost").fill_nan(None).is_not_null().any()
    # Null in a list written before fix_list version 4 (_table).
    # Too few on a side, or nothing to compare with ("no responses without the problem").
    why = newest.get_column("csat_not_estimated")
    few = (why.is_not_null() & ~why.str.starts_with("no response has")).any()
    if scored:
        ranking = "Ranked by csat points"
    elif few:
        ranking = (
            f"Too few responses have a csat to estimate any row's points (each needs "
            f"{MIN_RESPONSES_PER_SIDE} with the problem and {MIN_RESPONSES_PER_SIDE} without): "
            "ranked by the number of responses with the problem"
        )
    elif rates_satisfaction(inputs.settings):
        # A two-level rating (Zendesk's good/bad) is no csat scale: "gives no csat" read
        # as if the source gave no satisfaction at all (found reviewing the zendesk preset).
        ranking = (
            "This source rates good or bad (a two-level rating), not on a csat scale, so "
            "csat points lost are not estimated; its satisfaction is the "
            f'<a href="#satisfaction">{SATISFIED_WORDS}</a>: ranked by the number of '
            "responses with the problem"
        )
    else:
        ranking = (
            "This source gives no csat, so its points are not known: ranked by the number of "
            "responses with the problem"
        )
    if scored and few:
        ranking += (
            f" (a row with fewer than {MIN_RESPONSES_PER_SIDE} problem or comparable responses "
            "with a csat has no estimate and comes last)"
        )
    parts = [
        f"<p>Survey dates {first} to {last}, root causes by {_models_named(newest)}. What "
        "fixing each problem would recover: the csat points its responses lost against "
        "comparable responses without it (the same policy and queue, every other response), "
        "and the points of the period's NPS, "
        f"each with a 95% interval (Welch's t). {ranking}; all rows are in "
        "<code>marts/fix_list</code> (<code>servicelens query fix_list_by_owner</code>).</p>"
    ]
    for owner, what in (
        ("operations", "real failures: fix what breaks"),
        ("communications", "perceived complaints: fix how expectations are set"),
    ):
        top = newest.filter(pl.col("owner") == owner).sort("rank").head(TOP_FIXES)
        table = top.select(
            "rank",
            "policy_code",
            "queue",
            pl.col("problem_responses").alias("problem responses"),
            _estimate("csat_points_lost", 0, "csat_not_estimated").alias("csat points lost (95%)"),
            _estimate("nps_points_lost", 2, "nps_not_estimated").alias("NPS points (95%)"),
            pl.col("example_comments")
            .list.eval(formatted_text("“{}”", _shortened(pl.element(), EXAMPLE_CHARACTERS)))
            .list.join(" / ")
            .alias("examples (redacted)"),
        )
        parts.append(f"<h3>Owner: {owner} ({escape(what)})</h3>" + _html_table(table))
    return "".join(parts)


#: How much of an example comment the fix list shows: a trial's report printed whole CFPB
#: narratives of several thousand characters in one table cell. The full text is in the
#: feedback_scored mart. A reading length, not a statistic.
EXAMPLE_CHARACTERS = 240


def _shortened(text: pl.Expr, limit: int) -> pl.Expr:
    """``text`` cut to at most ``limit`` characters at the last whitespace before it, with
    "…" after it when anything was cut; shorter text as it is."""
    cut = text.str.slice(0, limit).str.replace(r"\s+\S*$", "") + pl.lit(" …")
    return pl.when(text.str.len_chars() > limit).then(cut).otherwise(text)


def _judged_week(agents: pl.DataFrame) -> pl.DataFrame:
    """The newest week whose judged agents are mostly settled (else the newest with any)."""
    weeks = (
        agents.filter(pl.col("status") == "judged")
        .group_by("survey_date")
        .agg(pl.col("fcr_provisional").mean().alias("provisional"))
        .sort("survey_date")
    )
    if weeks.height == 0:
        return agents.clear()
    settled = weeks.filter(pl.col("provisional") < 0.5)
    week = (settled if settled.height else weeks).get_column("survey_date").max()
    return agents.filter(pl.col("survey_date") == week)


def rates_satisfaction(settings: Settings) -> bool:
    """Whether the source ``settings`` addresses reads a two-level ``rating`` as its
    negative (``negative = "rating"``: a Zendesk good/bad), so its report gives the
    satisfied share, good / rated; False for the sample."""
    if settings.is_sample:
        return False
    from servicelens.stages import source_definition

    return source_definition(settings).negative == "rating"


#: What the report calls a two-level rating's satisfaction score (Zendesk's).
SATISFIED_WORDS = "satisfied share (good / rated)"


def _share_text(satisfied: int, ratings: int) -> str:
    """``satisfied`` of ``ratings`` as the headline says it: the share, the counts and the
    95% Wilson interval (:func:`transforms.marts.wilson_interval`)."""
    if ratings == 0:
        return f"{SATISFIED_WORDS}: no rating yet"
    both = pl.DataFrame({"satisfied": [satisfied], "ratings": [ratings]})
    low, high = wilson_interval(both, "satisfied", "ratings").select("low", "high").row(0)
    return (
        f"{SATISFIED_WORDS} {satisfied / ratings:.3f}: {satisfied:,} good of {ratings:,} "
        f"rated (95% interval {low:.3f}-{high:.3f})"
    )


def _satisfaction_totals(summary: pl.DataFrame | None) -> tuple[int, int] | None:
    """(satisfied, ratings) over every daily_summary row that counts them (version 9 on);
    None when none does."""
    if summary is None or summary.get_column("ratings").null_count() == summary.height:
        return None
    totals = summary.select(pl.col("satisfied").sum(), pl.col("ratings").sum()).row(0)
    return int(totals[0]), int(totals[1])


def _satisfaction(inputs: _Inputs) -> str:
    """The satisfied share of a source whose negative is a two-level rating: day by day
    (chart and table, each with its 95% interval), the bad ratings by the source's
    ``reason`` attribute where one is mapped, and per agent, week by week."""
    summary = inputs.summary
    if summary is None:
        raise _NotAvailable(
            f"no daily_summary mart yet: run {_backfill_hint(inputs.settings)} first"
        )
    counted = summary.filter(pl.col("ratings").is_not_null())
    if counted.height == 0:
        raise _NotAvailable(
            "no date's daily_summary counts ratings yet (written before version 9): re-run the "
            f"dates with {_backfill_hint(inputs.settings, ' --rerun all')}"
        )
    per_day = wilson_interval(
        counted.group_by("survey_date")
        .agg(pl.col("ratings").sum(), pl.col("satisfied").sum())
        .filter(pl.col("ratings") > 0)
        .sort("survey_date")
        .with_columns(
            (pl.col("ratings") - pl.col("satisfied")).alias("bad"),
            satisfied_share(pl.col("satisfied"), pl.col("ratings")).alias("satisfied_share"),
        ),
        "satisfied",
        "ratings",
    )
    uncounted = summary.filter(pl.col("ratings").is_null()).get_column("survey_date").n_unique()
    xs = per_day.get_column("survey_date").to_list()
    shares = per_day.get_column("satisfied_share").to_list()
    chart = line_chart(
        "satisfied-share",
        "Satisfied share (good / rated), with its 95% interval",
        [
            Series("satisfied share", xs, shares, COLOURS["green"]),
            Series("95% low", xs, per_day["low"].to_list(), COLOURS["neutral"]),
            Series("95% high", xs, per_day["high"].to_list(), COLOURS["neutral"]),
        ],
        "survey month" if inputs.settings.partition == "month" else "survey date",
        "satisfied share",
        y_range=(0.0, 1.0),
        monthly=inputs.settings.partition == "month",
    )
    parts = [
        "<p>Zendesk's satisfaction score: the responses rated good over those rated good or "
        "bad. A survey offered and never answered is not a rating (it is set aside: see the "
        "response rate under Data quality). Each share with its 95% interval (Wilson score); "
        "across days, sum the counts and divide (<code>marts/daily_summary</code>: "
        "<code>satisfied</code>, <code>ratings</code>).</p>",
        chart,
        _html_table(
            per_day.select(
                pl.col("survey_date").cast(pl.String),
                pl.col("ratings").alias("rated"),
                pl.col("satisfied").alias("good"),
                "bad",
                "satisfied_share",
                pl.col("low").alias("95% low"),
                pl.col("high").alias("95% high"),
            )
        ),
    ]
    if uncounted:
        parts.append(
            f"<p>{uncounted:,} date(s) written before daily_summary counted ratings are left "
            f"out: re-run them with {escape(_backfill_hint(inputs.settings, ' --rerun all'))}."
            "</p>"
        )
    parts.append(_bad_by_reason(inputs))
    parts.append(_agents_satisfaction(inputs.agents))
    return "".join(parts)


def _bad_by_reason(inputs: _Inputs) -> str:
    """The bad ratings of feedback_scored by the source's ``reason`` attribute (Zendesk's
    reason for a bad rating), most first; a sentence saying there is none mapped else."""
    from servicelens.stages import source_definition

    if "reason" not in source_definition(inputs.settings).attributes:
        return (
            "<p>The source maps no <code>reason</code> attribute, so the bad ratings are not "
            "split by the customer's reason: map the export's reason column under "
            "<code>[attributes]</code> as <code>reason</code> (the zendesk preset does).</p>"
        )
    scored = inputs.scored
    bad = (
        scored.filter(pl.col("rating") == "bad")
        if scored is not None and "rating" in scored.columns
        else pl.DataFrame(schema={"attributes": pl.String})
    )
    if bad.height == 0:
        return "<p>No bad rating yet to split by its reason.</p>"
    by_reason = (
        bad.select(
            pl.col("attributes")
            .str.json_path_match("$.reason")
            .fill_null("(none given)")
            .alias("reason")
        )
        .group_by("reason")
        .len("bad ratings")
        .with_columns((pl.col("bad ratings") / bad.height).alias("share of bad"))
        .sort(["bad ratings", "reason"], descending=[True, False])
    )
    return (
        f"<h3>Bad ratings by the customer's reason</h3><p>The {bad.height:,} bad ratings by "
        "the source's <code>reason</code> attribute (as the customer chose it).</p>"
        + _html_table(by_reason)
    )


def _agents_satisfaction(agents: pl.DataFrame | None) -> str:
    """Each agent's satisfied share in the newest week with ratings (agent_outcomes),
    most ratings first; empty when no week has any."""
    if agents is None:
        return ""
    rated = agents.filter(pl.col("ratings").fill_null(0) > 0)
    if rated.height == 0:
        return ""
    week = str(rated.get_column("week_start").max())
    newest = rated.filter(pl.col("week_start").cast(pl.String) == week).sort(
        ["ratings", "agent"], descending=[True, False], nulls_last=True
    )
    return (
        f"<h3>Agents, week of {week}: {SATISFIED_WORDS}</h3><p>Each agent's ratings of the "
        "week (<code>marts/agent_outcomes</code>: <code>satisfied</code>, "
        "<code>ratings</code>, every week), with the 95% interval: a share of a few ratings "
        "says little. Agent ids are pseudonymous keyed hashes unless the source shows them.</p>"
        + _html_table(
            wilson_interval(
                newest.select(
                    "agent",
                    pl.col("ratings").alias("rated"),
                    pl.col("satisfied").alias("good"),
                    "satisfied_share",
                ),
                "good",
                "rated",
            ).rename({"low": "95% low", "high": "95% high"})
        )
    )


def _agents(inputs: _Inputs) -> str:

    agents = inputs.agents
    if agents is None or agents.height == 0:
        raise _NotAvailable(
            f"no agent outcomes yet: run {_backfill_hint(inputs.settings)} (rebuilt every run)"
        )
    if (agents.get_column("status") == NO_AGENT_RECORDED).all():
        # Said of no kind of source: a post-call survey, a complaints database and a web
        # form all land here (a SurveyMonkey survey's report called itself the latter two).
        flagged = "flagged_contacts" in agents.columns and bool(
            agents.get_column("flagged_contacts").fill_null(0).sum()
        )
        return (
            "<p>This source's exports record no agent on any contact, so there is no agent "
            "view (map the export's agent column as <code>agent_id</code> in the source "
            "definition's <code>[columns]</code> if it has one): the contacts and their "
            "first-contact resolution are in <code>marts/agent_outcomes</code> under one row "
            "per week without an agent."
            + (
                " Its own resolved flag is on each response in "
                "<code>marts/feedback_scored</code> (<code>resolved_first_contact</code>) and "
                "by day and channel in <code>marts/daily_summary</code> "
                "(<code>fcr_answered</code>, <code>fcr_resolved</code>, <code>fcr_rate</code>; "
                "abandoned calls left out, counted in <code>abandoned</code>)."
                if flagged
                else ""
            )
            + "</p>"
        )
    week = _judged_week(agents)
    judged = week.filter(pl.col("status") == "judged")
    statuses = agents.filter(pl.col("status") != NO_AGENT_RECORDED).get_column("status")
    if judged.height == 0 and statuses.len() and (statuses == NO_CUSTOMER_ID).all():
        return _no_customer_id(inputs.settings)
    # Rows of agent_outcomes 7 and before have no fcr_measure: returns, as then.
    claimed = "fcr_measure" in agents.columns and bool(
        (agents.get_column("fcr_measure") == FCR_CLAIMED).any()
    )
    if judged.height == 0:
        minimum = inputs.settings.min_agent_contacts
        if claimed:
            raise _NotAvailable(
                f"no agent has {minimum:,} contacts with the source's resolved flag in a week"
            )
        if (unfollowed := _no_queue(inputs.settings)) is not None:
            raise _NotAvailable(unfollowed)
        raise _NotAvailable(
            f"no agent has {minimum:,} settled contacts in a week yet: later dates settle them"
        )
    start = judged.get_column("week_start")[0]
    points = Series(
        "agent",
        (judged.get_column("median_handle_seconds") / 60).to_list(),
        judged.get_column("first_contact_resolution").to_list(),
        COLOURS["perceived"],
        line=False,
    )
    chart = line_chart(
        "handle-vs-fcr",
        f"Agents, week of {start}: handle time against first-contact resolution",
        [points],
        "median handle time (minutes)",
        "first-contact resolution",
        y_range=(0.0, 1.0),
    )
    too_few = week.filter(pl.col("status").is_in([TOO_FEW_CONTACTS, NOT_SETTLED_YET])).height
    unmeasured = week.filter(pl.col("status") == NO_CUSTOMER_ID).height
    provisional = judged.get_column("fcr_provisional").sum()
    window = int(week.get_column("return_window_days")[0])
    # The table is of the week the dots are: every judged week summed beside it read as
    # that week's agents (a trial's 300 agents judged beside 600 agent-weeks, half of them
    # a newer week still provisional). Newer weeks follow apart, labelled: those with judged
    # agents, and those whose agents are all not settled yet (a trial's newest week, 296-499
    # contacts an agent and none settled, was left out without a word).
    judged_week = judged.get_column("survey_date")[0]
    bands = _bands(inputs, [judged_week])
    newer = (
        agents.filter(
            pl.col("status").is_in(["judged", NOT_SETTLED_YET])
            & (pl.col("survey_date") > judged_week)
        )
        .group_by("survey_date", "week_start")
        .agg(
            (pl.col("status") == "judged").sum().alias("agents"),
            (pl.col("fcr_provisional") & (pl.col("status") == "judged")).sum().alias("provisional"),
            (pl.col("status") == NOT_SETTLED_YET).sum().alias("unsettled"),
            pl.col("contacts").sum(),
            pl.col("settled_contacts").sum(),
            pl.col("negatives_policy_failure").sum(),
            pl.col("negatives_other").sum(),
            # Null before any model: the split is unknown, not 0.
            pl.col("negatives_policy_failure").is_not_null().any().alias("scored"),
        )
        .sort("survey_date")
    )
    by_flag = claimed and bool((judged.get_column("fcr_measure") == FCR_CLAIMED).all())
    measured = (
        "the share of an agent's contacts the source's own flag "
        "(<code>resolved_first_contact</code>) records as resolved: its contacts carry no "
        "customer id, so a customer coming back cannot be seen, and the flag is the source's "
        "answer (the customer's, in a survey; a system's, in a ticket feed or call log), not a "
        "return seen"
        if by_flag
        else "the share of an agent's contacts whose customer did not contact the same queue "
        f"again within {window} days"
    )
    return (
        f"<p>First-contact resolution: {measured}. A long call that resolves is good "
        f"service; a quick transfer that brings the customer back is not. Each dot is one of "
        f"{judged.height:,} agents judged that week ({too_few:,} with too few "
        f"{'flagged' if by_flag else 'settled'} contacts to judge are left out"
        + (
            f", and {unmeasured:,} whose contacts carry no customer id, so none of them can settle"
            if unmeasured
            else ""
        )
        + (
            ""
            if by_flag
            else f"; {provisional:,} still have contacts inside their window, so their "
            "resolution is provisional"
        )
        + f"). Agent ids are pseudonymous keyed hashes.</p>{chart}"
        f"<h3>The week of {start}, by median handle time</h3>"
        "<p>The same agents as the dots; negatives split by the model's root cause: "
        "those a policy failure caused (the operation broke) and the perceived ones (the "
        "policy was followed and explained, and the customer expected something else). "
        "Neither is as such the agent's doing: an agent who takes a policy's calls takes its "
        "complaints, so <code>servicelens query agents_by_policy_failure_share</code> names "
        "the policy most of each agent's perceived negatives are about "
        "(<code>top_perceived_policy</code> in <code>marts/agent_outcomes</code>). Every "
        "judged week: <code>servicelens query handle_time_vs_resolution</code>.</p>"
        + _html_table(bands, float_digits=None)
        + "".join(_newer_week(inputs, row, window) for row in newer.iter_rows(named=True))
    )


def _newer_week(inputs: _Inputs, row: dict[str, Any], window: int) -> str:
    """A week newer than the one plotted, apart and labelled: its judged agents' table by
    handle time while their resolution is provisional, or, where no agent is judged yet
    (every agent ``not settled yet``), what it holds so far: agents, contacts, the settled
    ones and the split of its negatives. ``row``: the week's counts (:func:`_agents`)."""
    if row["agents"]:
        return (
            f"<h3>The week of {row['week_start']}, provisional</h3>"
            f"<p>{row['agents']:,} agents judged so far, {row['provisional']:,} of them with "
            "contacts still inside their return window: their first-contact resolution can "
            "change as later interactions arrive, so the week is shown apart from the one "
            "above.</p>" + _html_table(_bands(inputs, [row["survey_date"]]), float_digits=None)
        )
    split = (
        f" Their negatives so far: {row['negatives_policy_failure']:,} from policy failures, "
        f"{row['negatives_other']:,} perceived."
        if row["scored"]
        else ""
    )
    return (
        f"<h3>The week of {row['week_start']}, not settled yet</h3>"
        f"<p>{row['unsettled']:,} agents with {row['contacts']:,} contacts, "
        f"{row['settled_contacts']:,} of them settled: a contact settles once its {window}-day "
        "return window has passed and the contact history covers it, so no agent is judged "
        f"on this week yet (status <code>{NOT_SETTLED_YET}</code> in "
        "<code>marts/agent_outcomes</code>); later dates settle it." + split + "</p>"
    )


def _bands(inputs: _Inputs, weeks: list[date]) -> pl.DataFrame:
    """``servicelens query handle_time_vs_resolution`` over the agent_outcomes partitions of
    ``weeks`` only."""
    from servicelens.reporting.analyst import run_query

    return pl.DataFrame(
        run_query(
            inputs.settings.root,
            "handle_time_vs_resolution",
            inputs.settings.timezone,
            weeks=weeks,
        )
    )


def _no_queue(settings: Settings) -> str | None:
    """Why no contact of the source ``settings`` addresses can settle when its definition
    maps no ``queue`` (a contact comes back when the same customer contacts the same queue:
    ``transforms.repeat_contacts``), and what to map; None for the sample and a source that
    maps one. Found by a support manager's trial: the zendesk preset mapped none, agents had
    35-52 ratings a week, and the report said "later dates settle them"."""
    if settings.is_sample:
        return None
    from servicelens.stages import source_definition

    if "queue" in source_definition(settings).columns:
        return None
    return (
        f"no agent can be judged: the source definition of {settings.source} maps no queue, "
        "so a customer coming back to the same queue cannot be followed and no contact ever "
        "settles (later dates will not settle any). Map the column naming the team or queue "
        "that handled each contact as queue in the definition's [columns] (Zendesk's "
        "group_id, as the zendesk preset does; docs/sources.md), then land the exports "
        "again: `servicelens sources run --replace DEFINITION EXPORT`"
    )


def _no_customer_id(settings: Settings) -> str:
    """The agents section of a source whose contacts carry no customer id (agent_outcomes'
    status ``no customer id``): why first-contact resolution cannot be measured, and what
    to map. Found by a QA lead's trial: a call log without customer ids was said to have
    "no agent with 20 settled contacts in a week yet: later dates settle them"."""
    return (
        f"<p>The contacts of {escape(settings.source)} carry no customer id, so a customer "
        "coming back cannot be recognised: first-contact resolution cannot be measured, and "
        "no agent is judged on it (every agent-week's status in "
        f"<code>marts/agent_outcomes</code> is <code>{NO_CUSTOMER_ID}</code>: later dates "
        "will not settle any contact, and handle time is not shown alone). If the export has "
        "a customer id, map its column as <code>customer_id</code> in the source "
        "definition's <code>[columns]</code> (docs/sources.md); if it records whether each "
        "contact resolved the problem (a call log's <code>Resolved</code> Y/N), map that as "
        "<code>resolved_first_contact</code>, and first-contact resolution is the share it "
        "records resolved (the source's answer, not a return seen); then land the exports again "
        "with it: <code>servicelens sources run --replace DEFINITION EXPORT</code>.</p>"
    )


def _untested(warning: dict[str, Any], day: date, inputs: _Inputs) -> str:
    """Why ``day``'s early warning tested nothing, as its manifest records it (before
    4b9e386 a date without a scored negative recorded "not tested: " and no reason). A date
    scored before the champion existed says so and how to score it, not "no champion model
    yet" beside a report that names one (found by a QA lead's trial), nor of a source that
    needs none (:func:`no_model_needed`)."""
    from servicelens.outcomes import NOTHING_TO_TEST

    status = str(warning.get("status") or "").strip()
    if status.rstrip(":") == "not tested" or not status:
        return f"not tested: {NOTHING_TO_TEST}"
    if "no champion model yet" in status and (needless := _no_model_elsewhere(inputs)):
        return f"not tested: {needless}"
    if inputs.champion is not None and "no champion model yet" in status:
        backfill = _backfill_hint(inputs.settings, f" --start {day} --end {day} --rerun all")
        return (
            f"not tested: scored before a champion existed; to score it with champion "
            f"{inputs.champion}, run {backfill}"
        )
    return status


def _early_warning(inputs: _Inputs) -> str:
    from servicelens.storage.runs import flag_sentence

    if not inputs.early_warnings:
        raise _NotAvailable(f"no scored dates yet: run {_backfill_hint(inputs.settings)} first")
    tested_days = [d for d, w in inputs.early_warnings.items() if w.get("tested")]
    if not tested_days:
        # The newest date that kept rows says why: a trial's report named a newer partition
        # of one unreadable row, scored before the champion, as "no champion model yet".
        holding = [d for d, w in inputs.early_warnings.items() if w.get("kept") != 0]
        newest = max(holding or inputs.early_warnings)
        raise _NotAvailable(f"{newest}: {_untested(inputs.early_warnings[newest], newest, inputs)}")
    # The newest date tested: a newer partition with nothing to test (a source's rows whose
    # date could not be read, filed under their delivery's) does not hide it (a trial's
    # report said "not tested: " of an empty month and showed nothing else).
    day = max(tested_days)
    latest = inputs.early_warnings[day]
    parts = [
        f"<p>{d}: {escape(_untested(inputs.early_warnings[d], d, inputs))}; the newest date "
        "tested "
        "follows.</p>"
        for d in sorted(inputs.early_warnings)
        if d > day
    ][-3:]
    parts.append(f"<p>{day}: {escape(latest.get('statement', ''))}</p>")
    for flag in latest["flags"]:
        parts.append(
            f'<p class="flag">{escape(flag_sentence(flag))}</p><ul>'
            + "".join(f"<li>{escape(c)}</li>" for c in flag["comments"])
            + "</ul>"
        )
    if not latest["flags"]:
        parts.append('<p class="ok">No policy\'s failure share rose beyond its normal range.</p>')
    # A manifest written before history days were left out of the baseline has no count of
    # them: shown empty, not a KeyError on the whole report.
    policies = pl.DataFrame(
        [{"history_days_left_out": None, **p} for p in latest["policies"]]
    ).select(
        pl.col("policy_code").fill_null(NO_POLICY),
        "negatives",
        "failures",
        "share",
        "normal_low",
        "normal_high",
        "baseline_share",
        "history_days",
        "history_days_left_out",
        "p_adjusted",
        pl.col("flagged").cast(pl.String),
        "status",
    )
    parts.append(_html_table(policies))
    flagged = [
        {
            "survey_date": str(d),
            "flags": ", ".join(policy_name(f["policy_code"]) for f in w["flags"]),
        }
        for d, w in sorted(inputs.early_warnings.items())
        if w.get("flags")
    ]
    tested = sum(1 for w in inputs.early_warnings.values() if w.get("tested"))
    parts.append(
        f"<h3>Flags over the {tested:,} dates tested</h3>"
        + (_html_table(pl.DataFrame(flagged)) if flagged else "<p>None.</p>")
    )
    return "".join(parts)


# --- the page -------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1340px; color: #111;
       padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2rem;
       margin-top: 2.2rem; }
.meta { color: #555; } .na { color: #8a5a00; background: #fff6e0; padding: 0.5rem 0.8rem; }
.flag { color: #a00; font-weight: 600; } .ok { color: #006b3c; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.null { color: #999; } .pair { display: flex; flex-wrap: wrap; gap: 1rem; }
nav a { margin-right: 1rem; }
"""


def scoring_versions(scored: pl.DataFrame) -> list[str]:
    """The model versions that scored ``scored`` (``feedback_scored`` rows), most rows first."""
    return (
        scored.get_column("model_version")
        .drop_nulls()
        .value_counts(sort=True)
        .get_column("model_version")
        .to_list()
    )


def _sources(inputs: _Inputs) -> str:
    """Every source in the data directory side by side: partitions, rows, negatives (scored
    or not), negatives scored, policy failures, the champion of its own registry."""
    from servicelens.reporting.analyst import source_roots

    rows = []
    for name, root in source_roots(inputs.settings.root).items():
        manifests = _manifests(root / "clean" / "responses")
        if manifests.height == 0:
            continue
        paths: list[DataPath] = sorted(
            (root / "clean" / "responses").glob(f"{PARTITION_COLUMN}=*/{MANIFEST_FILE}"), key=str
        )
        first = json.loads(paths[0].read_text()) if paths else {}
        granularity = (first.get("partition") or {}).get("granularity", "day")
        scored = _table(root / "marts" / "feedback_scored")
        registry = (
            root / "models"
            if name == "sample"
            else inputs.settings.root / "models" / "sources" / name
        )
        # Negatives apart from those scored: a source without a model has negatives (as
        # Volumes shows) but none scored, and a lone "0" read as "no negatives".
        negatives = negatives_scored = failures = 0
        scored_by: list[str] = []
        if scored is not None:
            negatives = int(scored.get_column("is_negative").sum())
            negatives_scored = int(scored.get_column("p_policy_failure").is_not_null().sum())
            failures = int((scored.get_column("root_cause") == POSITIVE_CLASS).sum())
            scored_by = scoring_versions(scored)
        # The dates of the rows kept: a delivery's rows whose date could not be read are
        # quarantined under the delivery's day (the day it was landed, for one whose name and
        # rows give none), and an analyst's trial read that day
        # as the end of the source's data ("2026-03-01 -> 2026-12-04" for March's export).
        holding = manifests.filter(pl.col("kept").fill_null(0) > 0)
        # A partition whose rows all moved to their own dates when a fixed definition landed
        # its delivery again holds none (a QA lead's trial read it as "only quarantined").
        empty = manifests.filter(pl.col("surveys_read").fill_null(0) == 0).height
        aside = manifests.height - holding.height - empty
        days = manifests.get_column("survey_date").sort()
        first_and_last = rows_first_and_last(
            root / "clean" / "responses", manifests, granularity, inputs.settings.timezone
        ) or (days.min(), days.max())
        notes = [
            *([f"{aside:,} holding only rows quarantined"] if aside and holding.height else []),
            *([f"{empty:,} holding no row"] if empty and holding.height else []),
        ]
        rows.append(
            {
                "source": name,
                "partitions": f"{manifests.height:,} ({granularity})"
                + "".join(f", {note}" for note in notes),
                "from": str(first_and_last[0]),
                "to": str(first_and_last[1]),
                "read": int(manifests.get_column("surveys_read").sum() or 0),
                "kept": int(manifests.get_column("kept").sum() or 0),
                **_quarantined_counts(manifests),
                "negatives": negatives,
                "negatives scored": negatives_scored,
                # None (drawn "-") where no negative was scored: "0" read as scored and
                # none a failure (a platform engineer's upgrade trial, two unscored sources).
                "policy failures": failures if negatives_scored else None,
                # The counts are the marts': after a promotion or rollback they stay the
                # earlier model's until the dates are scored again (--rerun all).
                "scored by": ", ".join(scored_by) or "-",
                "champion": champion_version(registry) or "none yet",
                # Said beside every source: latest.html is whichever source's report a run
                # wrote last, and a refused delivery of another source read as a clean night.
                "inbox not landed": _waiting_count(inputs.settings, name),
                # Another live run holds dates of the source now: its marts stand half
                # rewritten, so its figures above are not its last complete state.
                "being rebuilt": _rebuilt_by(inputs.rebuilding.get(name, [])),
            }
        )
    if not rows:
        raise _NotAvailable(f"no clean partitions yet: run {_backfill_hint(inputs.settings)} first")
    return (
        "<p>Each source's layers and model, side by side (the sections below are about "
        f"<code>{escape(inputs.settings.source)}</code>). From and to are the dates of the "
        "rows kept; rows whose date could not be read are quarantined under their delivery's "
        "day: the date its file name holds, else the day most of its rows fall on, else the "
        "day it was landed. <code>inbox not landed</code>: files its last nightly run "
        "refused, still waiting in its inbox (that source's report says which and why). "
        "<code>being rebuilt</code>: another run holds dates of the source as this report "
        "is written, so its counts are its marts' half way through that run; its next "
        "report, once the run ends, gives them whole.</p>" + _html_table(pl.DataFrame(rows))
    )


def _rebuilt_by(runs: list[str]) -> str | None:
    """The Sources table's ``being rebuilt`` cell: None ("-") when no other run holds the
    source's dates, else ``by RUN, RUN``."""
    return f"by {', '.join(runs)}" if runs else None


def _waiting_count(settings: Settings, name: str) -> int | None:
    """How many files the last nightly run of source ``name`` refused wait in its inbox
    (:func:`servicelens.ingest.configured.not_landed`); None for the sample (it has no
    inbox) and for a source whose registered definition cannot be read (its own commands
    say why)."""
    from servicelens.ingest.configured import configured_source
    from servicelens.ingest.definitions import DefinitionError

    if name == "sample":
        return None
    try:
        return len(not_landed(configured_source(settings, name)))
    except (DefinitionError, OSError, ValueError):
        return None


_SECTIONS: list[tuple[str, str, Callable[[_Inputs], str]]] = [
    ("sources", "Sources", _sources),
    ("volumes", "Volumes", _volumes),
    ("satisfaction", "Satisfied share (good / rated)", _satisfaction),
    ("trend", "Perceived vs policy failure, over time", _trend),
    ("policies", "Top policies of each kind", _top_policies),
    ("fix-list", "Fix list: what to fix first, by owner", _fix_list),
    ("agents", "Agents: handle time against first-contact resolution", _agents),
    ("early-warning", "Early warning: failure shares against their history", _early_warning),
    ("review-queue", "What QA audits next", _review_queue),
    ("quality", "Data quality", _data_quality),
    ("model", MODEL_TITLE, _model),
    ("calibration", "Calibration", _calibration),
    ("errors", "Confusion matrix and precision-recall", _confusion_and_pr),
    ("drift", "Drift flags", _drift),
]


def _linked(reason: str) -> str:
    """``reason`` as HTML, each "see <section title>" in it a link to that section of the
    page (the pointers of :func:`_no_model_elsewhere`: a review of the report found them
    plain text, to be looked for by scrolling)."""
    html = escape(reason)
    for anchor, title, _ in _SECTIONS:
        pointer = f"see {escape(title)}"
        html = html.replace(pointer, f'see <a href="#{anchor}">{escape(title)}</a>')
    return html


def render_report(
    settings: Settings, run_id: str | None, now: datetime
) -> tuple[str, ReportResult]:
    """The report's HTML and what it could and could not show (nothing is written)."""
    inputs = _read_inputs(settings, run_id)
    missing: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    body = []
    rating = rates_satisfaction(settings)
    # The satisfied share only where the negative is a two-level rating.
    sections = [s for s in _SECTIONS if rating or s[0] != "satisfaction"]
    for anchor, title, build in sections:
        try:
            content = build(inputs)
        except _NotAvailable as reason:
            missing[title] = str(reason)
            content = f'<p class="na">Not available: {_linked(str(reason))}</p>' + "".join(
                f"<p>{escape(note)}.</p>" for note in reason.notes
            )
            content += reason.html
            if reason.notes:
                notes[title] = reason.notes
        body.append(f'<section id="{anchor}"><h2>{escape(title)}</h2>{content}</section>')
    if (data_dir := data_dir_argument(settings.data_dir)) is not None:
        # The commands it suggests act on this report's data directory when pasted.
        body = [naming_data_dir(section, escape(data_dir)) for section in body]
    holding = _holding_rows(inputs.manifests)
    shown = holding if holding.height else inputs.manifests
    dates = shown.get_column("survey_date").cast(pl.String).sort().to_list()
    # The rows' own days, as the Sources table gives them, not a monthly source's months.
    kept = rows_first_and_last(
        settings.clean_dir, inputs.manifests, settings.partition, settings.timezone
    )
    if kept is not None:
        dates = [str(kept[0]), str(kept[1])]
    older = older_contracts_note(settings, None if settings.is_sample else settings.source)
    headline = {
        "dates": f"{dates[0]}..{dates[-1]}" if dates else None,
        "responses": inputs.scored.height if inputs.scored is not None else 0,
        **_quarantined_counts(inputs.manifests),
        "champion": inputs.champion,
        "early_warning_flags": sum(len(w.get("flags", [])) for w in inputs.early_warnings.values()),
        "failed_dates": [f.day.isoformat() for f in inputs.failed],
        "inbox_not_landed": [
            {
                "file": waiting.file,
                "reason": waiting.reason,
                "refused_since": waiting.refused_since,
                "waiting": waiting.waiting(now),
                "todo": NOT_LANDED_TODO,
            }
            for waiting in inputs.not_landed
        ],
        "inbox_unclaimed": [
            {"folder": folder, "reason": reason} for folder, reason in inputs.unclaimed.items()
        ],
        # What run and backfill say of an upgrade: partitions an earlier servicelens wrote
        # under an older contract version (a trial's BI reader, who opens only the report,
        # was not told the marts carried two versions). None when there are none.
        "older_contract": older,
        "sections_missing": sorted(missing),
        # Where every audit row goes now (training's tally, as metrics.json's "audits").
        "audits": inputs.audits,
        # Sources another live run holds dates of as the report is written (source -> runs).
        "being_rebuilt": inputs.rebuilding,
    }
    nav = "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t, _ in sections)
    satisfaction = ""
    if rating and (totals := _satisfaction_totals(inputs.summary)) is not None:
        headline["satisfied"], headline["ratings"] = totals
        satisfaction = f"; {escape(_share_text(*totals))}"
    champion = (
        f"champion <code>{escape(str(inputs.champion))}</code>"
        if inputs.champion
        else f'no model needed (see <a href="#model">{MODEL_TITLE}</a>)'
        if inputs.no_model
        else "no champion model yet"
    )
    html = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>servicelens run report {now:%Y-%m-%d %H:%M} UTC</title>"
        f"<style>{_CSS}</style>{page_head()}</head><body>"
        "<h1>servicelens run report</h1>"
        f"<p class='meta'>Written {now:%Y-%m-%d %H:%M:%S} UTC "
        f"({_local(now, settings.timezone)}) by run "
        f"<code>{escape(str(run_id or 'manual'))}</code> from <code>"
        f"{escape(str(_absolute(settings.root)))}</code>. Survey dates "
        f"{escape(str(headline['dates']))}; {headline['responses']:,} valid responses"
        f"{satisfaction}; {champion}{_scored_by_others(inputs)}.</p>"
        f"{_not_landed_headline(inputs, now)}"
        f"{_unclaimed_headline(inputs)}"
        f"{_failed_headline(inputs)}"
        f"{_older_contract_headline(older)}"
        f"<nav>{nav}</nav>{''.join(body)}{page_scripts()}</body></html>"
    )
    return html, ReportResult(Path(), Path(), missing, headline, notes)


def _older_contract_headline(note: str | None) -> str:
    """A line under the header when partitions hold rows of an older contract version
    (``note``: :func:`servicelens.storage.contract_versions.older_contracts_note`, as run
    and backfill print it), or nothing."""
    return f'<p class="flag">{escape(note)}.</p>' if note else ""


def _failed_headline(inputs: _Inputs) -> str:
    """A line under the header when dates failed on their last run (details: Data quality)."""
    if not inputs.failed:
        return ""
    failed = inputs.failed
    days = ", ".join(str(f.day) for f in failed[:FAILED_SHOWN])
    more = f" and {len(failed) - FAILED_SHOWN:,} more" if len(failed) > FAILED_SHOWN else ""
    return (
        f'<p class="flag">Last run failed for {escape(days)}{more}: see '
        '<a href="#quality">Data quality</a>.</p>'
    )


def _not_landed_headline(inputs: _Inputs, now: datetime) -> str:
    """Under the header, the files waiting in the source's inbox that its last nightly run
    refused: each file, since when and why (the refusal's first line), and what to do;
    "" when none waits. Found by a trial: a night whose only delivery was refused (a cp850
    file, a renamed column) wrote a report that read as clean, the refusal said only in the
    terminal, the log and ``runs show``."""
    if not inputs.not_landed:
        return ""
    items = "".join(
        f"<li><code>{escape(Path(waiting.file).name)}</code> (refused by every run since "
        f"{escape(waiting.refused_since[:16].replace('T', ' '))} UTC, "
        f"{escape(waiting.waiting(now))}): {escape(waiting.reason)}</li>"
        for waiting in inputs.not_landed
    )
    count = len(inputs.not_landed)
    return (
        f'<p class="flag">{count:,} file(s) delivered to '
        f"<code>{escape(str(_absolute(inputs.settings.inbox_dir)))}</code> were not landed: "
        "their rows are in no date of this report. "
        f"{escape(NOT_LANDED_TODO[0].upper() + NOT_LANDED_TODO[1:])}.</p><ul>{items}</ul>"
    )


def _unclaimed_headline(inputs: _Inputs) -> str:
    """Under the header, the inbox folders that hold files but are named after no configured
    source (a misspelt folder), each with what to do; "" when there is none. The nightly run
    fails on them, but its report read as clean: the files' rows are in no report (left by
    the on-call engineer's trial, whose refused files the report now names too). Every
    report of the data directory says it: which source the files were meant for is a guess."""
    if not inputs.unclaimed:
        return ""
    items = "".join(f"<li>{escape(reason)}</li>" for reason in inputs.unclaimed.values())
    return (
        f'<p class="flag">{len(inputs.unclaimed):,} inbox folder(s) of '
        f"<code>{escape(str(_absolute(inputs.settings.root / 'inbox')))}</code> hold files "
        "that no run lands: no source is named after them.</p>"
        f"<ul>{items}</ul>"
    )


def _local(moment: datetime, timezone: str) -> str:
    """``moment`` in the business timezone, for the person reading the report
    (``2026-12-02 08:44 Asia/Kolkata``)."""
    from zoneinfo import ZoneInfo

    return f"{moment.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} {timezone}"


def _scored_by_others(inputs: _Inputs) -> str:
    """Words for the header when the marts were scored by other versions than the champion
    (a promotion or rollback since): the counts below are theirs."""
    versions = scoring_versions(inputs.scored) if inputs.scored is not None else []
    others = [v for v in versions if v != inputs.champion]
    if not others:
        return ""
    return (
        "; the marts were scored by "
        + ", ".join(f"<code>{escape(v)}</code>" for v in versions)
        + " (scores and counts below are theirs until the dates are run again with "
        "<code>--rerun all</code>)"
    )


def _absolute(location: DataPath) -> DataPath:
    return location.resolve() if isinstance(location, Path) else location


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def build_report(
    settings: Settings, run_id: str | None = None, now: datetime | None = None
) -> ReportResult:
    """Write this run's report and make it ``reports/latest.html``.

    The folder keeps the newest ``settings.report_keep`` reports (``report-*.html``, names
    sorting by their UTC time): older ones are deleted before this one is written, so that
    the plotly.js only they referenced goes too (a nightly schedule wrote one a night,
    forever, 0.1-0.2 MB each: a platform engineer's trial).
    """
    from servicelens.validation.docs import write_data_docs_index

    now = now or datetime.now(UTC)
    # The validations of every date wrote their Data Docs pages; list them all in one index.
    write_data_docs_index(settings.gx_docs_dir)
    with listings_reused():  # each table of an object store listed once, not per section
        html, result = render_report(settings, run_id, now)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    suffix = f"-{run_id[:8]}" if run_id else ""
    if not settings.is_sample:
        # One run writes every configured source's report, often within the same second.
        suffix += f"-{settings.source}"
    path = settings.reports_dir / f"report-{now:%Y%m%dT%H%M%SZ}{suffix}.html"
    prune_to_newest(settings.reports_dir, "report-*.html", settings.report_keep - 1, path)
    write_library_script(settings.reports_dir)
    _write_atomically(path, html)
    latest = settings.reports_dir / LATEST_NAME
    _write_atomically(latest, html)
    if not settings.is_sample:
        # Each source's newest at a path of its own: latest.html is whichever source's report
        # a run wrote last (trial 81 found the 10-row source's there, not the CFPB one's).
        latest = settings.reports_dir / latest_name(settings.source)
        _write_atomically(latest, html)
    result.path, result.latest = path, latest
    return result
