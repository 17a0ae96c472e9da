"""Answering a data subject's access request (GDPR Art. 15): ``servicelens access``.

Every row about the subject, found by erase's own locator
(:func:`servicelens.erasure.subject_eraser` for their ids, then
:func:`servicelens.erasure.subject_partitions` over the same layers, and
:func:`servicelens.erasure.model_files_holding` over the model versions), plus the QA audit
rows of their responses, written as one CSV per layer and a ``summary.json``. The ids follow
erase's rules: surrounding whitespace is no part of an id, case is (another spelling is
named, never included). Nothing in the data directory is written: the ids are hashed with
a key made for this process alone, never the agent key (whose first use writes its file).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from servicelens.erasure import (
    Eraser,
    ErasureRequest,
    IdVariant,
    model_files_holding,
    subject_eraser,
    subject_partitions,
)
from servicelens.settings import Settings

#: The layers an access request reads, in the order the summary lists them: erase's per-date
#: tables (:func:`servicelens.erasure.table_dirs`), the audits and the model versions.
ACCESS_LAYERS = (
    "landed",
    "landed_interactions",
    "clean",
    "contacts",
    "quarantine",
    "feedback_scored",
    "review_queue",
    "audits",
    "models",
)
#: The columns each CSV row starts with: where the row was found.
WHERE_COLUMNS = ("from_source", "from_date", "from_file")
SUMMARY_FILE = "summary.json"


@dataclass
class AccessResult:
    """What an access request found: the subject's rows by layer (:data:`ACCESS_LAYERS`;
    :data:`WHERE_COLUMNS` first, then the layer's own), their ids by kind (plain: the ids
    asked for and those of their rows), and the spellings of the customer ids asked for in
    another case or with whitespace around them (:class:`~servicelens.erasure.IdVariant`)."""

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)
    variants: list[IdVariant] = field(default_factory=list)

    def rows_by_layer(self) -> dict[str, int]:
        """Rows per layer, every layer searched (0 where none)."""
        return {layer: self.frames[layer].height if layer in self.frames else 0
                for layer in ACCESS_LAYERS}  # fmt: skip

    def not_included(self) -> list[str]:
        """The spellings found that differ from a customer id asked for in case (stripped,
        sorted): another id, perhaps another customer's, so their rows are not included."""
        return sorted({v.spelled.strip() for v in self.variants if not v.erased})


def _located(frame: pl.DataFrame, source: str, day: Any, file: str) -> pl.DataFrame:
    """``frame`` with :data:`WHERE_COLUMNS` first."""
    where = [
        pl.lit(source, pl.String).alias("from_source"),
        pl.lit(day, pl.Date).alias("from_date"),
        pl.lit(file, pl.String).alias("from_file"),
    ]
    return frame.select(*where, pl.exclude(WHERE_COLUMNS))


def _audit_rows(layers: Sequence[Settings], eraser: Eraser) -> pl.DataFrame | None:
    """The audit rows of the subject's responses (``response_id`` matched, as erase
    matches it) in each layer's audit files (``servicelens.stages.audits_read``): those in
    force, those a later audit overturned and those set aside, ``audit_status`` saying
    which; :data:`WHERE_COLUMNS` from the audit file (``from_date``: the audit's date, UTC).
    An earlier audit a later one repeated is not kept by the reader, so not here."""
    from servicelens.stages import audits_read

    found: list[pl.DataFrame] = []
    for layer in layers:
        read = audits_read(layer)
        for status, frame in (
            ("in force", read.audits),
            ("overturned", read.overturned_rows),
            ("set aside", read.set_aside),
        ):
            rows = frame.filter(eraser.mask(frame, ("response_id",)))
            if not rows.height:
                continue
            day = (
                pl.col("audited_at").dt.date()
                if "audited_at" in rows.columns
                else pl.lit(None, pl.Date)
            )
            found.append(
                rows.select(
                    pl.lit(layer.source, pl.String).alias("from_source"),
                    day.alias("from_date"),
                    pl.col("source_file").cast(pl.String).alias("from_file"),
                    pl.lit(status).alias("audit_status"),
                    pl.all(),
                )
            )
    return pl.concat(found, how="diagonal_relaxed") if found else None


def subject_access(
    settings: Settings, layers: Sequence[Settings], request: ErasureRequest
) -> AccessResult:
    """Every row about ``request``'s subject in ``layers`` (``erasure.layers_of`` chooses
    them by ``request.source``): each per-date table's partitions, the audit rows of their
    responses, and the rows of the model versions' files naming them
    (``erasure.model_files_holding``; with no ``request.source``, every registry under
    ``models/sources/`` too). Reads only. Raises what reading a partition raises
    (``servicelens.storage.fs.read_parquet``)."""
    key = secrets.token_bytes(32)  # in-process matching only: nothing hashed is kept
    eraser, ids = subject_eraser(layers, key, request.customer_ids, request.response_ids)
    asked = sorted(ids["customer_id"])
    parts: dict[str, list[pl.DataFrame]] = {}
    variants: dict[tuple[str, str, str, str], int] = {}
    for where, rows, spellings in subject_partitions(layers, eraser, asked):
        if rows.height:
            located = _located(rows, where.source, where.day, where.file)
            parts.setdefault(where.table, []).append(located)
        for spelled_as, spelled, n in spellings.iter_rows():
            key_of = (where.source, where.table, spelled_as, spelled)
            variants[key_of] = variants.get(key_of, 0) + n
    frames = {table: pl.concat(found, how="diagonal_relaxed") for table, found in parts.items()}
    if (audits := _audit_rows(layers, eraser)) is not None:
        frames["audits"] = audits
    models = [
        _located(
            held.rows.select(
                pl.lit(held.version).alias("model_version"),
                pl.lit(held.champion).alias("champion"),
                pl.all(),
            ),
            held.source,
            None,
            held.file,
        )
        for held in model_files_holding(settings, layers, eraser, every=request.source is None)
    ]
    if models:
        frames["models"] = pl.concat(models, how="diagonal_relaxed")
    return AccessResult(
        frames={layer: frames[layer] for layer in ACCESS_LAYERS if layer in frames},
        ids={kind: sorted(values) for kind, values in ids.items()},
        variants=[IdVariant(*k, rows) for k, rows in variants.items()],
    )


def as_csv_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every nested column as text CSV can hold: a list's items joined by
    ``"; "`` (a quarantined row's reasons, a scored row's top reasons), a struct as JSON."""
    text = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List | pl.Array):
            text.append(pl.col(name).cast(pl.List(pl.String)).list.join("; ").alias(name))
        elif isinstance(dtype, pl.Struct):
            text.append(pl.col(name).struct.json_encode().alias(name))
    return frame.with_columns(text) if text else frame


def write_access(
    result: AccessResult, request: ErasureRequest, out: Path, data_dir: str
) -> dict[str, Any]:
    """Write ``result`` to the folder ``out`` (made if missing): ``<layer>.csv`` for each
    layer holding rows (UTF-8, a header, :data:`WHERE_COLUMNS` first) and
    :data:`SUMMARY_FILE` (what was asked, when, rows per layer, the files, the ids found,
    the model versions holding them). Returns the summary.

    Raises ValueError when ``out`` is a file, or a folder that holds anything: an answer
    to one request is not mixed with another's files."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(
            f"--out {out}: {'is a file' if not out.is_dir() else 'holds files already'}; "
            "name a new or empty folder for this request's answer"
        )
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for layer, frame in result.frames.items():
        name = f"{layer}.csv"
        as_csv_columns(frame).write_csv(out / name)
        files[layer] = name
    models = result.frames.get("models")
    summary: dict[str, Any] = {
        "about": "every row about the data subject the pipeline holds, by layer (servicelens "
        "access, GDPR Art. 15); each CSV row starts with the source, date and file it was "
        "found in",
        "answered_at": datetime.now(UTC).isoformat(),
        "data_dir": data_dir,
        "asked": {
            "customer_ids": list(request.customer_ids),
            "response_ids": list(request.response_ids),
            "source": request.source or "every source",
        },
        "ids_found": result.ids,
        "rows_by_layer": result.rows_by_layer(),
        "files": files,
        "model_versions": []
        if models is None
        else [
            {"source": source, "version": version, "champion": champion}
            for source, version, champion in models.select(
                "from_source", "model_version", "champion"
            )
            .unique()
            .sort("from_source", "model_version")
            .iter_rows()
        ],
        "not_included": {
            "spellings_in_another_case": len(result.not_included()),
            "note": "ids differing from one asked for only in case may be another person's: "
            "their rows are not included unless asked for by name. A model's vocabulary "
            "may hold the subject's words; it holds no ids, so no row of it is here",
        },
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary
