"""The process settings: Python's garbage collector is out of the way of a date."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_long_lived_objects_are_frozen_once_per_moment() -> None:
    """In a fresh interpreter (freezing is process-wide): each moment freezes once, a second
    moment freezes again, and frozen objects are still freed when nothing refers to them."""
    script = textwrap.dedent(
        """
        import gc, weakref
        from servicelens.runtime import freeze_long_lived

        class Held:
            pass

        held = Held()
        gone = weakref.ref(held)
        assert freeze_long_lived("first date") is True
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert freeze_long_lived("first date") is False  # once per process
        assert gc.get_freeze_count() == frozen
        assert freeze_long_lived("GX context") is True  # another moment freezes again
        del held  # reference counting still frees a frozen object
        assert gone() is None
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
