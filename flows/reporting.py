"""Run-summary artifacts: what a run did, readable in the Prefect UI next to the run."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from servicelens.storage.runs import summary_markdown


def publish_run_summary(key: str, title: str, rows: list[dict[str, Any]]) -> None:
    """A markdown report and a table of per-date outcomes, attached to the current run.

    ``key`` (lowercase letters, digits, dashes) groups the artifact's versions in the UI.
    """
    create_markdown_artifact(summary_markdown(title, rows), key=key, description=title)
    create_table_artifact(rows, key=f"{key}-table", description=title)
