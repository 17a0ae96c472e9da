"""A configured source run for real, for tests that read its marts with DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from servicelens.ingest.configured import register_source
from servicelens.settings import Settings


def run_configured_source(
    tmp_path: Path, name: str, definition: str, export: str, *run_args: str
) -> tuple[Path, Callable[[str], str]]:
    """Register ``definition`` (a source definition's TOML text, naming ``name``) in the
    data directory ``tmp_path/data``, write ``export`` (CSV text) as its export, and run it
    with ``servicelens sources run`` (and ``run_args``, e.g. ``--train``), asserting exit 0.

    Returns the data directory and ``read(layer)``: DuckDB's ``read_parquet`` of one of the
    source's layers (``"marts/agent_outcomes"``, ``"clean"``), partition column restored."""
    from servicelens.cli.main import main

    data = tmp_path / "data"
    definition_file = tmp_path / f"{name}.toml"
    definition_file.write_text(definition)
    register_source(Settings(data_dir=str(data)), str(definition_file))
    export_file = tmp_path / f"{name}.csv"
    export_file.write_text(export)
    run = ["--data-dir", str(data), "sources", "run", name, str(export_file), *run_args]
    assert main(run) == 0
    root = data / "sources" / name

    def read(layer: str) -> str:
        return f"read_parquet('{root}/{layer}/*/*.parquet', hive_partitioning = true)"

    return data, read
