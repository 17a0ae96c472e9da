"""polars' allocator options are set before polars starts, from every entry point."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("entry", ["servicelens.cli.main", "flows.pipeline", "flows.tasks"])
def test_entry_points_set_the_page_decay_before_polars_reads_it(entry: str) -> None:
    """polars appends ``_RJEM_MALLOC_CONF`` to its own options when imported; an entry point
    that imported polars before servicelens would leave polars' defaults (the 1M date's
    memory peak was 0.3 GB higher with them)."""
    script = f"import os, {entry}, polars; print(os.environ['_RJEM_MALLOC_CONF'])"
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    options = done.stdout.strip().splitlines()[-1].split(",")
    assert "muzzy_decay_ms:1000" in options  # polars' own default, then ours after it
    assert options[-2:] == ["dirty_decay_ms:300", "muzzy_decay_ms:0"]
