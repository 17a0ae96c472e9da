"""Text whose bytes an 8-bit re-save lost is quarantined saying so, not kept as read.

Found by a UK energy supplier's QA lead (trial 125): a Typeform export re-saved in cp850
(field shape 04) held a comment ``All good`` followed by the bytes ``D0 3F 3F 8D`` (an emoji
whose bytes the re-save turned into ``?``), read as ``All good ð??ì`` and kept in the clean
layer and the marts without a word, while README's policy says a value ``repair_mojibake``
cannot repair is quarantined saying so."""

from __future__ import annotations

from pathlib import Path

import duckdb

from servicelens.cli.main import main
from servicelens.ingest.configured import register_source
from servicelens.settings import Settings
from servicelens.validation.expectations import DOUBLE_ENCODED_UNREPAIRED

DEFINITION = """extends = "typeform"
name = "bw-survey"
[read]
encoding = "cp850"
repair_mojibake = true
[columns]
submitted_at = { column = "Submit Date (UTC)", format = "%Y-%m-%d %H:%M" }
csat = "How satisfied were you?"
comment = "Tell us more"
"""


def _cp850_moji(text: str) -> bytes:
    """The field sample's double conversion: UTF-8 bytes read as cp1252, written as cp850."""
    return text.encode("utf-8").decode("cp1252").encode("cp850")


def test_a_comment_whose_bytes_the_resave_lost_is_quarantined(tmp_path: Path) -> None:
    """Read back by DuckDB: the repaired comment is kept as ``Le compteur était cassé``,
    the damaged one quarantined with its line and the unrepaired reason."""
    export = (
        b"#,How satisfied were you?,Tell us more,Submit Date (UTC)\r\n"
        b"a1,2," + _cp850_moji("Le compteur était cassé") + b",2026-10-23 10:00\r\n"
        b"a2,5,All good \xd0??\x8d,2026-10-23 11:00\r\n"
        b"a3,4,Sorted first time,2026-10-23 12:00\r\n"
    )
    definition = tmp_path / "bw-survey.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), str(definition))
    (tmp_path / "typeform.csv").write_bytes(export)
    run = ["--data-dir", str(data), "sources", "run", "bw-survey", str(tmp_path / "typeform.csv")]
    assert main(run) == 0
    root = data / "sources" / "bw-survey"
    clean = f"read_parquet('{root}/clean/responses/*/*.parquet', hive_partitioning = true)"
    assert duckdb.sql(f"SELECT response_id, comment FROM {clean} ORDER BY 1").fetchall() == [
        ("a1", "Le compteur était cassé"),
        ("a3", "Sorted first time"),
    ]
    quarantine = f"read_parquet('{root}/quarantine/*/*.parquet', hive_partitioning = true)"
    assert duckdb.sql(f"SELECT source_line, reasons FROM {quarantine}").fetchall() == [
        (3, [f"comment: 'All good ð??ì' {DOUBLE_ENCODED_UNREPAIRED}"])
    ]
