"""Landing a delivery that has a line cut short works out which rejected records are in place
(``records_in_place``: a sample of the well-formed rows' shapes) once, and passes it to what
reads the rejects' dates, ids and masked fields, which each worked it out again before."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from servicelens.ingest import landing
from servicelens.ingest.definitions import load_definition
from servicelens.settings import Settings
from servicelens.storage.partitions import read_partition
from tests.sources.test_withheld_columns import DEFINITION, HEADER, KEPT, NOW, QUARANTINED

#: A line cut short (10 of 14 fields, the rest lost), beside no other rejected line.
CUT = "D-24;V-24;01.12.2026 17:45;Telefon;2;5;4,5;0,00;Ina Ost;ina@example.de\n"


def test_a_delivery_with_a_short_line_works_out_its_records_in_place_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "test-key")
    calls: list[int] = []
    worked_out = landing.read_records_in_place

    def counted(read: Any, quote: str) -> list[bool]:
        calls.append(len(read.rejects))
        return worked_out(read, quote)

    monkeypatch.setattr(landing, "read_records_in_place", counted)
    path = tmp_path / "stadtwerke-de.toml"
    path.write_text(DEFINITION.format(extra=""), encoding="utf-8")
    definition = load_definition(str(path))
    source = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Berlin").for_source(
        definition.name, str(path), reveal_agent_ids=False
    )
    export = tmp_path / "export.csv"
    export.write_text(HEADER + KEPT + CUT + QUARANTINED, encoding="utf-8")
    landing.land_delivery(source, definition, export, NOW)
    assert calls == [1]
    # What it is used for, as before: the line's id told, its withheld fields masked, and
    # its own date dating it.
    landed = read_partition(source.landed_dir, date(2026, 12, 1))
    assert landed.select("source_line", "response_id", "raw_record").rows() == [
        (3, "D-24", "D-24;V-24;01.12.2026 17:45;Telefon;2;5;4,5;0,00;[NEVER_STORE];[NEVER_STORE]")
    ]
    assert landed.get_column("dated_by_delivery").to_list() == [False]
