"""A stage clock: wall time and peak resident memory per pipeline stage, no profiler needed.

Functions of the code under test are wrapped in place (module attributes), so the benchmark
measures the real pipeline, not a copy of it. Time goes to the innermost stage running; time
in no stage is reported as ``other``. Peak memory comes from sampling /proc/self/statm.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def peak_rss_bytes() -> int:
    """This process's own peak resident memory so far, in bytes: ``VmHWM`` of
    ``/proc/self/status`` (Linux, reported in kB), the high-water mark of the address space
    the process has had since it started its program.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that over ``fork`` and ``exec`` from
    the parent (``setmax_mm_hiwater_rss`` in ``exec_mmap``), so every measurement the bench
    started after generating a dataset in its own process read the bench's 3,129 MB
    (the floor's 1M run too, which peaks near 1.6 GB)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line: the bench measures on Linux only")


class StageClock:
    """Accumulates exclusive wall time of the main thread, CPU time (all threads of the
    process) and the peak RSS seen while each stage runs. On a shared machine CPU seconds
    move less than wall seconds: they show the work done, wall seconds what it took."""

    def __init__(self, interval: float = 0.01) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu_seconds: dict[str, float] = defaultdict(float)
        self.peak: dict[str, int] = defaultdict(int)
        self._stack: list[str] = ["other"]
        self._since = time.perf_counter()
        self._cpu_since = time.process_time()
        self._interval = interval
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        #: One entry per :meth:`mark`: the stage seconds since the previous mark, and RSS.
        self.marks: list[dict[str, Any]] = []
        self._marked: dict[str, float] = {}

    def __enter__(self) -> StageClock:
        self._since = time.perf_counter()
        self._cpu_since = time.process_time()
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._switch()
        self._stop.set()
        self._sampler.join()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            stage = self._stack[-1]
            self.peak[stage] = max(self.peak[stage], rss_bytes())

    def _switch(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.seconds[self._stack[-1]] += now - self._since
        self.cpu_seconds[self._stack[-1]] += cpu - self._cpu_since
        self._since, self._cpu_since = now, cpu

    def mark(self, label: str) -> None:
        """Record what each stage took since the last mark (e.g. per date of a multi-date
        run), and the resident memory now: a run that slows down or grows shows where."""
        self._switch()
        delta = {s: t - self._marked.get(s, 0.0) for s, t in self.seconds.items()}
        self._marked = dict(self.seconds)
        self.marks.append(
            {
                "label": label,
                "stages_s": delta,
                "total_s": sum(delta.values()),
                "rss_mb": rss_bytes() / 2**20,
            }
        )

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._switch()
        self._stack.append(name)
        try:
            yield
        finally:
            self._switch()
            self._stack.pop()

    def wrap(self, module: ModuleType, attribute: str, stage: str) -> None:
        """Replace ``module.attribute`` by a version that runs inside ``stage``."""
        original: Callable[..., Any] = getattr(module, attribute)
        original = getattr(original, "_clock_original", original)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            # Stages are the main thread's wall time: work a helper thread does beside it
            # (repeat contacts counted while GX validates) counts where the main thread is,
            # and never pushes onto the one stack from two threads at once.
            if threading.current_thread() is not threading.main_thread():
                return original(*args, **kwargs)
            with self.stage(stage):
                return original(*args, **kwargs)

        timed._clock_original = original  # type: ignore[attr-defined]
        setattr(module, attribute, timed)
