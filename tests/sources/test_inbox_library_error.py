"""A ValueError raised inside a library while the nightly lands a configured source's inbox
file names nothing of the file (difflib's "n must be > 0: 0"): it is said as a bug with its
log, the traceback in the log, as the CLI says such an error (commit 0236ddf), not as the
file's refusal; the file stays in the inbox and the other files are landed."""

from __future__ import annotations

import difflib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from servicelens.cli.logfile import logs_to_file
from servicelens.ingest import landing
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings
from tests.sources.test_erase_source import DEFINITION, EXPORT, NAME


def test_a_library_value_error_landing_an_inbox_file_is_said_as_a_bug_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = tmp_path / f"{NAME}.toml"
    definition.write_text(DEFINITION)
    source = register_source(Settings(data_dir=str(tmp_path / "data")), str(definition))
    source = replace(source, inbox_settle_seconds=0)
    inbox = Path(str(source.inbox_dir))
    inbox.mkdir(parents=True, exist_ok=True)
    broken, fine = inbox / "a-broken.csv", inbox / "b-fine.csv"
    broken.write_text(EXPORT)
    fine.write_text(EXPORT.replace("N", "M"))
    os.utime(broken, (1, 1))  # delivered first
    read_export = landing.read_export

    def read_asking_difflib_for_nothing(definition: Any, path: Any) -> Any:
        # The one monkeypatch: no real file is known to make a library raise here.
        if Path(str(path)).name.endswith("a-broken.csv"):
            difflib.get_close_matches("Kundennummer", [], n=0)
        return read_export(definition, path)

    monkeypatch.setattr(landing, "read_export", read_asking_difflib_for_nothing)
    log = tmp_path / "logs" / "run.log"
    with logs_to_file(log):
        picked = pick_up_deliveries(source)
    errors = {Path(p.file).name: p.error for p in picked}
    assert not errors["b-fine.csv"]
    said = errors["a-broken.csv"]
    assert said is not None
    assert said.startswith(f"{broken}: unexpected ValueError: n must be > 0: 0; "), said
    assert (
        f"this is a bug in servicelens, not in your data: please report it with the log {log}"
        in said
    )
    assert "\n" not in said
    assert "in get_close_matches" in log.read_text()
    assert broken.exists() and not fine.exists()
