"""Date and partition locks: threads and processes take turns; the holder may re-enter."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest

from servicelens.storage.locks import LockBusyError, date_lock

DAY = date(2026, 10, 3)


def test_the_holding_thread_may_take_the_lock_again(tmp_path: Path) -> None:
    with date_lock(tmp_path, DAY, 0.0), date_lock(tmp_path, DAY, 0.0):
        pass
    with date_lock(tmp_path, DAY, 0.0):  # released whole after the outer block
        pass


def test_another_thread_waits_then_refuses_naming_the_date(tmp_path: Path) -> None:
    errors: list[str] = []

    def second() -> None:
        try:
            with date_lock(tmp_path, DAY, 0.3):
                errors.append("acquired while held")
        except LockBusyError as error:
            errors.append(str(error))

    with date_lock(tmp_path, DAY, 0.0):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(10)
    assert len(errors) == 1 and f"survey date {DAY} is locked" in errors[0], errors


def test_another_thread_that_waits_long_enough_gets_the_lock(tmp_path: Path) -> None:
    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with date_lock(tmp_path, DAY, 0.0):
            held.set()
            order.append("first in")
            threading.Event().wait(0.3)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(10)
    with date_lock(tmp_path, DAY, 10.0):
        order.append("second in")
    thread.join(10)
    assert order == ["first in", "first out", "second in"]


def test_a_lock_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with (
        pytest.raises(OSError, match="cannot create the lock file for survey date"),
        date_lock(blocker / "locks", DAY, 0.0),
    ):
        pass
