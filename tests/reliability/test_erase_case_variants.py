"""``servicelens erase`` of a customer whose id another vendor's export spells in another
case (``C00016`` and ``c00016``), through two real configured sources (real ``sources run``,
real Parquet): the dry run and the erase's summary name the spellings found that differ from
the one asked for only in case or surrounding whitespace, per source and layer with their
rows, and the command that includes them; a case variant is not erased by itself."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import configured_source
from servicelens.settings import Settings
from tests.sources.configured_run import run_configured_source


def _definition(name: str) -> str:
    return (
        f'name = "{name}"\npseudonymise_agents = false\n[columns]\n'
        'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
        'channel = { value = "phone" }\nagent_id = "Agent"\ncustomer_id = "Customer"\n'
        'queue = "Queue"\ncsat = "CSAT"\n'
    )


#: Vendor A spells the customer C00016; vendor B c00016 (twice, one of them quarantined for
#: its unreadable time) and once with a space after it, which is the same id.
EXPORT_A = """ID,At,Agent,Customer,Queue,CSAT
A1,2026-03-02 09:00,A1,C00016,billing,4
A2,2026-03-02 09:10,A1,C00017,billing,1
"""
EXPORT_B = """ID,At,Agent,Customer,Queue,CSAT
B1,2026-03-02 10:00,A2,c00016,billing,2
B2,2026-03-02 nine,A2,c00016,billing,5
B3,2026-03-02 10:20,A2,"C00016 ",billing,3
B4,2026-03-02 10:30,A2,C00018,billing,3
"""


@pytest.fixture
def two_vendors(prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    data, _ = run_configured_source(tmp_path, "vendor-a", _definition("vendor-a"), EXPORT_A)
    run_configured_source(tmp_path, "vendor-b", _definition("vendor-b"), EXPORT_B)
    capsys.readouterr()
    return data


def _customers(data: Path, source: str, layer: str) -> list[str]:
    settings = configured_source(Settings(data_dir=str(data)), source)
    folder = {"clean": settings.clean_dir, "landed": settings.landed_dir}[layer]
    files = sorted(folder.glob("*/*.parquet"))  # type: ignore[union-attr]
    return sorted(pl.concat(pl.read_parquet(f) for f in files).get_column("customer_id"))


def test_another_case_is_named_with_the_command_to_include_it_and_left_unerased(
    two_vendors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = two_vendors
    argv = ["--data-dir", str(data), "erase", "--customer-id", "C00016"]
    assert main([*argv, "--dry-run"]) == 0
    said = capsys.readouterr().out
    lines = said.splitlines()
    assert "vendor-b  landed" in said  # B3's "C00016 " is the same id, found as ever
    start = next(i for i, line in enumerate(lines) if line.startswith("Ids found "))
    rows = {tuple(line.split()[:5]) for line in lines[start:] if line.startswith("vendor-")}
    assert rows == {
        ("vendor-b", "landed", "C00016", "c00016", "2"),  # B2 filed under its landing day
        ("vendor-b", "clean", "C00016", "c00016", "1"),
        ("vendor-b", "contacts", "C00016", "c00016", "1"),
        ("vendor-b", "quarantine", "C00016", "c00016", "1"),  # B2's raw record
    }, said
    command = f"servicelens --data-dir {data} erase --customer-id C00016 --customer-id c00016"
    assert f"  {command} --dry-run" in lines, said

    # The same in --json, for a script, the ids of id_variants hashed as the record keeps
    # them.
    assert main([*argv, "--dry-run", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["not_included"]["customer_ids"] == ["c00016"]
    assert result["not_included"]["command"].endswith(
        "erase --customer-id C00016 --customer-id c00016 --dry-run"
    )
    assert {(v["source"], v["table"], v["rows"], v["erased"]) for v in result["id_variants"]} == {
        ("vendor-b", "landed", 2, False),
        ("vendor-b", "clean", 1, False),
        ("vendor-b", "contacts", 1, False),
        ("vendor-b", "quarantine", 1, False),
    }
    assert "c00016" not in json.dumps(result["id_variants"])

    # Only another spelling in vendor-a: "no rows found" says which, and how to include it.
    argv = ["--data-dir", str(data), "erase", "--customer-id", "c00016", "--source", "vendor-a"]
    assert main([*argv, "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("no rows found for customer c00016"), said
    assert "vendor-a  landed    c00016  C00016     1" in said, said
    assert (
        f"  servicelens --data-dir {data} erase --customer-id c00016 --customer-id C00016 "
        "--source vendor-a --dry-run"
    ) in said.splitlines(), said

    # Erasing (one test with the dry run: the two sources' runs are its cost) leaves the
    # other case, and the summary says how to include it.
    argv = ["--data-dir", str(data), "erase", "--customer-id", "C00016", "--yes"]
    assert main(argv) == 0
    said = capsys.readouterr().out
    command = f"  servicelens --data-dir {data} erase --customer-id c00016 --dry-run"
    assert command in said.splitlines(), said
    assert _customers(data, "vendor-a", "clean") == ["C00017"]
    assert _customers(data, "vendor-b", "clean") == ["C00018", "c00016"]
    record = json.loads(Path(said.split("erasure record: ")[1].split()[0]).read_text())
    assert ("vendor-b", "clean", 1, False) in {
        (v["source"], v["table"], v["rows"], v["erased"]) for v in record["id_variants"]
    }
    assert "c00016" not in json.dumps(record)

    # Erasing it as the summary says finds only its rows, and names no variant any more.
    assert main(["--data-dir", str(data), "erase", "--customer-id", "c00016", "--yes"]) == 0
    assert "Ids found " not in capsys.readouterr().out
    assert _customers(data, "vendor-b", "clean") == ["C00018"]


def test_a_spelling_with_whitespace_around_it_is_named_as_erased_with_the_id() -> None:
    """Landing strips a customer id, so a spelling with whitespace around it is found in
    partitions written otherwise (here, a frame): it is the same id, erased with it."""
    from servicelens.erasure import IdVariant, spellings_differing_in_case

    frame = pl.DataFrame(
        {
            "customer_id": ["C1", " C1", "c1", None, "C12"],
            "raw_record": [None, '{"c": " C1"}', '{"c": "c1", "d": "c1"}', "c1,x", "C12"],
        }
    )
    found = spellings_differing_in_case(frame, ["C1"])
    assert found.rows() == [("C1", " C1", 1), ("C1", "c1", 2)]
    assert IdVariant("s", "landed", "C1", " C1", 1).erased
    assert not IdVariant("s", "landed", "C1", "c1", 2).erased
