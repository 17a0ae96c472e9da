"""Run-summary artifacts: what a run did, readable in the Prefect UI next to the run."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from servicelens.retrain import Retrained, retrain_markdown, retrain_rows
from servicelens.storage.runs import summary_markdown


def publish_run_summary(key: str, title: str, rows: list[dict[str, Any]]) -> None:
    """A markdown report and a table of per-date outcomes, attached to the current run.

    ``key`` (lowercase letters, digits, dashes) groups the artifact's versions in the UI.
    """
    create_markdown_artifact(summary_markdown(title, rows), key=key, description=title)
    create_table_artifact(rows, key=f"{key}-table", description=title)


def publish_retrain_summary(title: str, outcomes: list[Retrained]) -> None:
    """A markdown report and a table of what a retrain did with each model (its outcome,
    version and why), attached to the current run."""
    create_markdown_artifact(
        retrain_markdown(title, outcomes), key="retrain-summary", description=title
    )
    create_table_artifact(retrain_rows(outcomes), key="retrain-summary-table", description=title)
