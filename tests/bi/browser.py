"""Headless Chromium (Debian's package) opening a report page and returning its render check."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


def render_in_chromium(page: Path, profile: Path) -> tuple[dict[str, Any], str]:
    """The page's render check (per chart: size, marks, line segments, x pixel positions of
    the first trace's points) after Chromium has run its scripts, and the page's DOM then.

    Chromium runs with a new profile and every background service off, so nothing is fetched.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make browser` (as root) first")
    try:
        dom = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        ).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r'<output id="render-check"[^>]*data-done="yes"[^>]*>(.*?)</output>', dom)
    assert found, "the page's render check did not run"
    result: dict[str, Any] = json.loads(found.group(1))
    return result, dom


def x_steps(chart: dict[str, Any]) -> list[float]:
    """Pixels between consecutive points of a chart's first trace, left to right."""
    return [b - a for a, b in itertools.pairwise(sorted(chart["x_px"]))]
