"""Source mappings: onboard a foreign export (another survey vendor, a complaints database)
with a declarative TOML file instead of new code. The format is documented in
``docs/mappings.md``; built-in mappings live in ``servicelens/ingest/presets/``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from models.pipeline import FeatureSpec
from transforms.schemas import ROOT_CAUSES

BUILT_IN_DIR = Path(__file__).parent / "presets"
#: Model names every mapping must give a source column for.
REQUIRED_COLUMNS: tuple[str, ...] = ("response_id", "survey_date", "comment")


class MappingError(ValueError):
    """A mapping file that is malformed, or an export that does not fit its mapping."""


@dataclass(frozen=True)
class SourceMapping:
    """A parsed mapping: which export column feeds which model column, and how."""

    name: str
    path: Path
    columns: dict[str, str]
    features: FeatureSpec
    label_column: str | None = None
    label_values: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    never_features: tuple[str, ...] = ()
    date_format: str | None = None
    description: str = ""


def built_in_mappings() -> list[str]:
    """Names accepted by ``--source`` without a path."""
    return sorted(p.stem for p in BUILT_IN_DIR.glob("*.toml"))


def resolve_mapping_path(source: str) -> Path:
    """A built-in mapping name, or a path to a mapping file."""
    candidate = Path(source)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.exists():
            raise MappingError(f"{candidate}: mapping file not found")
        return candidate
    built_in = BUILT_IN_DIR / f"{source}.toml"
    if not built_in.exists():
        raise MappingError(
            f"--source {source!r} is neither a built-in mapping {built_in_mappings()} nor a "
            "path to a mapping file (see docs/mappings.md)"
        )
    return built_in


def _need(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise MappingError(f"{where}: missing required key {key!r}")
    if not isinstance(data[key], kind):
        raise MappingError(f"{where}: {key!r} must be a {kind.__name__}, got {data[key]!r}")
    return data[key]


def load_mapping(source: str) -> SourceMapping:
    """Parse and check a mapping; errors name the file, the key and the value."""
    path = resolve_mapping_path(source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"{path}: not valid TOML: {error}") from error
    where = str(path)
    columns: dict[str, str] = _need(data, "columns", dict, where)
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise MappingError(f"{where}: [columns] must map {missing} to export columns")
    features: dict[str, Any] = _need(data, "features", dict, where)
    spec = FeatureSpec(
        categorical=tuple(features.get("categorical", ())),
        numeric=tuple(features.get("numeric", ())),
        flags=tuple(features.get("flags", ())),
        crosses=tuple(tuple(x) for x in features.get("crosses", ())),
        char_ngrams=bool(features.get("char_ngrams", True)),
        c=float(features.get("c", 1.0)),
        boosted_facts=bool(features.get("boosted_facts", False)),
    )
    label: dict[str, Any] = data.get("label", {})
    label_column = label.get("column")
    label_values = {str(k): str(v) for k, v in label.get("values", {}).items()}
    bad_labels = sorted({v for v in label_values.values() if v not in ROOT_CAUSES})
    if bad_labels:
        raise MappingError(f"{where}: [label.values] may map only to {ROOT_CAUSES}: {bad_labels}")
    if label_column and not label_values:
        raise MappingError(f"{where}: [label] names column {label_column!r} but no values")
    never = tuple(data.get("never_features", ()))
    forbidden = set(never) | ({label_column} if label_column else set())
    for name in (spec.text, *spec.facts, *(c for x in spec.crosses for c in x)):
        if name not in columns:
            raise MappingError(f"{where}: feature {name!r} has no source column in [columns]")
        if columns[name] in forbidden:
            raise MappingError(
                f"{where}: feature {name!r} reads {columns[name]!r}, which is the label or "
                "listed in never_features; remove it from [features]"
            )
    return SourceMapping(
        name=str(data.get("name", path.stem)),
        path=path,
        columns=columns,
        features=spec,
        label_column=label_column,
        label_values=label_values,
        values={k: dict(v) for k, v in data.get("values", {}).items()},
        never_features=never,
        date_format=data.get("date_format"),
        description=str(data.get("description", "")),
    )


def read_export(mapping: SourceMapping, path: Path, require_label: bool) -> pl.DataFrame:
    """Read an export and map it onto model columns, one row per input row, in file order.

    Adds ``source_line`` (1 = first data row after the header) and, when the export has the
    label column, ``root_cause`` (null where the label value is not mapped). Scoring never
    needs the label column; training does (``require_label``).
    """
    if not path.exists():
        raise MappingError(f"{path}: input file not found")
    raw = pl.read_csv(path, infer_schema_length=0, encoding="utf8-lossy")
    needed = sorted(set(mapping.columns.values()))
    absent = [c for c in needed if c not in raw.columns]
    if absent:
        raise MappingError(
            f"{path}: columns {absent} named by mapping {mapping.path} are not in the export "
            f"(it has {raw.columns}); fix [columns] in the mapping"
        )
    has_label = bool(mapping.label_column) and mapping.label_column in raw.columns
    if require_label and not has_label:
        raise MappingError(
            f"{path}: training needs the label column {mapping.label_column!r} of mapping "
            f"{mapping.path}"
        )
    spec = mapping.features
    expressions: list[pl.Expr] = [pl.int_range(1, pl.len() + 1).alias("source_line")]
    for name, column in mapping.columns.items():
        value = pl.col(column).str.strip_chars()
        if name in mapping.values:
            table = mapping.values[name]
            value = value.replace_strict(
                list(table), list(table.values()), default=None, return_dtype=_dtype(table)
            )
        if name == "survey_date":
            value = value.str.to_date(mapping.date_format, strict=False)
        elif name in spec.numeric:
            value = value.cast(pl.Float64, strict=False)
        elif name in spec.flags and name not in mapping.values:
            value = value.str.to_lowercase().is_in(["true", "yes", "1", "y"])
        expressions.append(value.alias(name))
    if has_label:
        labels = mapping.label_values
        expressions.append(
            pl.col(str(mapping.label_column))
            .str.strip_chars()
            .replace_strict(list(labels), list(labels.values()), default=None)
            .alias("root_cause")
        )
    return raw.select(expressions)


def _dtype(table: dict[str, Any]) -> pl.DataType:
    values = list(table.values())
    if values and all(isinstance(v, bool) for v in values):
        return pl.Boolean()
    if values and all(isinstance(v, int | float) for v in values):
        return pl.Float64()
    return pl.String()


def labelled_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows usable for training: a mapped label and a parseable date."""
    return frame.filter(pl.col("root_cause").is_not_null() & pl.col("survey_date").is_not_null())
