"""The date lock ``erase`` and ``score`` take (``servicelens.erasure.holding_date``) says a
date is still held only when taking that lock failed: a LockBusyError raised inside the
held block (another date's lock, a partition's) reaches the caller as it was raised, not
relabelled as the held date's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from servicelens.erasure import holding_date
from servicelens.settings import Settings
from servicelens.storage.locks import LockBusyError, date_lock
from servicelens.storage.partitions import locks_dir

HELD = date(2026, 12, 5)
OTHER = date(2026, 12, 4)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), lock_wait_seconds=0)


@pytest.fixture
def other_date_held(settings: Settings) -> Iterator[None]:
    """Another thread holds the date OTHER until the test ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with date_lock(locks_dir(settings.staging_dir), OTHER, 0):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(30)
    yield
    release.set()
    holder.join()


@pytest.mark.parametrize("command", ["erase", "score"])
def test_a_lock_busy_inside_the_block_is_not_said_to_be_the_held_dates(
    settings: Settings, other_date_held: None, command: str
) -> None:
    said: list[str] = []
    with (
        pytest.raises(LockBusyError) as raised,
        holding_date(settings, HELD, command, "run it again", said.append),
        date_lock(locks_dir(settings.staging_dir), OTHER, 0),
    ):
        pytest.fail("OTHER's lock was taken while another thread held it")
    message = str(raised.value)
    assert f"survey date {OTHER}" in message, message
    assert str(HELD) not in message and not message.startswith(f"{command}:"), message
    assert said == []  # HELD was free: no wait was said


@pytest.mark.parametrize("command", ["erase", "score"])
def test_the_held_date_itself_is_named_with_the_command_and_what_to_do(
    settings: Settings, other_date_held: None, command: str
) -> None:
    said: list[str] = []
    with (
        pytest.raises(LockBusyError) as raised,
        holding_date(settings, OTHER, command, "run it again", said.append),
    ):
        pytest.fail("the block ran without the date's lock")
    message = str(raised.value)
    assert message.startswith(f"{command}: {settings.source} date {OTHER} is still held by "), (
        message
    )
    assert message.endswith("after 0 s (lock_wait_seconds); run it again"), message
    assert said and said[0].startswith(f"{command}: {settings.source} date {OTHER} is held by ")
