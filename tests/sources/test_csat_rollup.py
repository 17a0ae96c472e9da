"""daily_summary's mean_csat rolled up across groups and dates through the real
``sources run`` (real Prefect, real Parquet read back by DuckDB), for a source whose negative
rule is not csat: weighted by csat_responses it is feedback_scored's avg(csat) (found by a BI
analyst's trial: weighting by rated or responses, the only counts there were, is not)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from servicelens.ingest.configured import register_source
from servicelens.settings import Settings

#: A pulse survey: csat optional, NPS the negative rule (detractors, 0-6).
DEFINITION = (
    'name = "pulse"\nnegative = "nps"\n[columns]\nresponse_id = "ID"\n'
    'submitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\nchannel = "Channel"\n'
    'csat = { column = "CSAT", required = false }\nnps = "NPS"\n'
)
#: Rows with a csat and no nps, an nps and no csat, and both, over two dates and channels.
EXPORT = """ID,At,Channel,CSAT,NPS
P1,2026-03-02 09:00,phone,5,9
P2,2026-03-02 09:10,phone,1,2
P3,2026-03-02 09:20,phone,,8
P4,2026-03-02 09:30,chat,2,
P5,2026-03-02 09:40,chat,,3
P6,2026-03-03 10:00,phone,4,
P7,2026-03-03 10:10,phone,3,10
P8,2026-03-03 10:20,chat,,0
"""


def test_mean_csat_rolls_up_by_csat_responses(prefect_api: None, tmp_path: Path) -> None:
    from servicelens.cli.main import main

    data = tmp_path / "data"
    definition = tmp_path / "pulse.toml"
    definition.write_text(DEFINITION)
    register_source(Settings(data_dir=str(data)), str(definition))
    export = tmp_path / "pulse.csv"
    export.write_text(EXPORT)
    assert main(["--data-dir", str(data), "sources", "run", "pulse", str(export)]) == 0
    marts = data / "sources" / "pulse" / "marts"

    def read(table: str) -> str:
        return (
            f"read_parquet('{marts}/{table}/*/*.parquet', hive_partitioning = true, "
            "union_by_name = true)"
        )

    [(mean, rated)] = duckdb.sql(
        "SELECT sum(mean_csat * csat_responses) / sum(csat_responses), "
        f"sum(mean_csat * rated) / sum(rated) FROM {read('daily_summary')} "
        "WHERE csat_responses > 0"
    ).fetchall()
    [(expected, with_csat)] = duckdb.sql(
        f"SELECT avg(csat), count(csat) FROM {read('feedback_scored')}"
    ).fetchall()
    assert mean == pytest.approx(expected) and expected == pytest.approx(3.0)
    # Weighted by rated (the rows the nps rule judged), the mean is another number.
    assert rated != pytest.approx(expected)
    # The count is of the rows the mean is over, per group: null mean_csat where it is 0.
    assert duckdb.sql(
        f"SELECT sum(csat_responses), count(*) FILTER (WHERE (mean_csat IS NULL) != "
        f"(csat_responses = 0)) FROM {read('daily_summary')}"
    ).fetchall() == [(with_csat, 0)]
