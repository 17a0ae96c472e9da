"""CPU seconds by test file, printed after pytest's own ``--durations`` table.

The suite is bound by CPU, not by waiting: a fresh clone's `make test` used 2,970 s of CPU
(user + system, every server and command it started included) in 1,681 s of wall time on 2
cores (2026-12-07). Wall seconds per test say which tests wait; CPU seconds per file say
where the machine's time goes, which is what a shorter CI needs to know, and no run had
measured it file by file.

Each test's setup, call and teardown are measured with ``getrusage``: the test process's
own CPU (``RUSAGE_SELF``: every thread, polars' and Prefect's included) and that of the
subprocesses it has waited for (``RUSAGE_CHILDREN``: the commands and servers a test starts
and stops). A session-scoped fixture's set-up and teardown (the Prefect API of
``prefect_api``: its server's CPU is counted when its teardown reaps it) get a row of their
own, ``(session fixture NAME)``, not the file of the test that set it up or ran last:
pytest tears session fixtures down inside the last test's teardown, so each worker's
whole-session server was charged to whichever file it ran last (tests/unit/
test_utf8_check.py 132.6 s and tests/unit/test_weekly_sources.py 114.9 s in one run; 4.5 s
and 0.1 s alone, starting no subprocess; 2026-12-07). A subprocess reaped by another test
(one left running, reaped by a later ``Popen``) still counts where it is reaped. Under
pytest-xdist each worker measures its own tests and hands the sums to the controller
through ``workeroutput``, which prints the table.
"""

from __future__ import annotations

import json
import resource
from collections import defaultdict
from collections.abc import Generator
from typing import Any

import pytest

#: Rows of the table: as many as pytest's ``--durations`` shows in `make test`.
SHOWN = 25
_KEY = "servicelens_cpu_by_file"


def _cpu_seconds() -> tuple[float, float]:
    """(this process's CPU seconds, its waited-for children's), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


class CpuByFile:
    """Sums (own, children) CPU seconds per test file; merges workers' sums."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def add(self, path: str, own: float, children: float) -> None:
        entry = self.seconds[path]
        entry[0] += own
        entry[1] += children

    def merge(self, encoded: str) -> None:
        for path, (own, children) in json.loads(encoded).items():
            self.add(path, own, children)

    def encoded(self) -> str:
        return json.dumps(dict(self.seconds))


_SUMS = CpuByFile()
#: CPU seconds (own, children) of session fixtures' set-ups and teardowns during the test
#: being measured: taken off its file's share (they have rows of their own).
_SESSION_PART = [0.0, 0.0]
#: CPU at the start of each session fixture's teardown, by fixture name.
_TEARDOWN_STARTS: dict[str, tuple[float, float]] = {}


def _charge_session_fixture(name: str, since: tuple[float, float]) -> None:
    own, children = _cpu_seconds()
    own, children = own - since[0], children - since[1]
    _SUMS.add(f"(session fixture {name})", own, children)
    _SESSION_PART[0] += own
    _SESSION_PART[1] += children


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Generator[None, Any, None]:
    """A session fixture's set-up goes to its own row; its teardown too, from the first of
    its finalizers (the one added last: pytest runs them last in, first out) to
    :func:`pytest_fixture_post_finalizer`, which pytest runs after all of them."""
    if fixturedef.scope != "session":
        yield
        return
    started = _cpu_seconds()
    yield
    _charge_session_fixture(fixturedef.argname, started)
    name = fixturedef.argname
    fixturedef.addfinalizer(lambda: _TEARDOWN_STARTS.__setitem__(name, _cpu_seconds()))


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[Any]) -> None:
    """The end of a session fixture's teardown (:func:`pytest_fixture_setup`)."""
    started = _TEARDOWN_STARTS.pop(fixturedef.argname, None)
    if fixturedef.scope == "session" and started is not None:
        _charge_session_fixture(fixturedef.argname, started)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, Any, None]:
    own, children = _cpu_seconds()
    _SESSION_PART[:] = [0.0, 0.0]
    yield
    own_after, children_after = _cpu_seconds()
    _SUMS.add(
        item.nodeid.split("::", 1)[0],
        own_after - own - _SESSION_PART[0],
        children_after - children - _SESSION_PART[1],
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints
        workeroutput[_KEY] = _SUMS.encoded()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist's hook on the controller as a worker ends: take its sums."""
    del error
    encoded = getattr(node, "workeroutput", {}).get(_KEY)
    if encoded:
        _SUMS.merge(encoded)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _SUMS.seconds:
        return
    rows = sorted(_SUMS.seconds.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
    own_total = sum(own for own, _ in _SUMS.seconds.values())
    children_total = sum(children for _, children in _SUMS.seconds.values())
    terminalreporter.write_sep("=", f"CPU seconds by test file, top {min(SHOWN, len(rows))}")
    terminalreporter.write_line(
        f"{own_total + children_total:9.1f}s in all ({own_total:.1f} in the test processes, "
        f"{children_total:.1f} in the subprocesses they waited for), {len(rows)} file(s)"
    )
    for path, (own, children) in rows[:SHOWN]:
        terminalreporter.write_line(
            f"{own + children:9.1f}s {path} ({own:.1f} own, {children:.1f} subprocesses)"
        )
