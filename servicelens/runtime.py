"""Settings of the Python process that runs dates, as opposed to the data it reads.

The memory allocator's settings are made where polars is first imported (``servicelens/
__init__.py``); the garbage collector's are made here, when the objects that live as long as
the process exist.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The logger whose INFO lines name a run's long steps after its dates (the weekly marts'
#: rebuild, the run report): the CLI prints them above its progress bar
#: (``servicelens.cli.console.said_on_terminal``).
STEPS_LOGGER = "servicelens.steps"

_FROZEN: set[str] = set()
_LOCK = threading.Lock()


def freeze_long_lived(moment: str) -> bool:
    """Move the objects Python's cyclic garbage collector tracks now into its permanent
    generation (``gc.freeze``), once per process for each ``moment``; True when it froze.

    Call it where the objects alive are the process's long-lived ones: its imported modules,
    Great Expectations' context, Prefect's engine, caches. ``moment`` names the call site
    (``"first date"``, ``"GX context"``), so each freezes once, not once per date.

    Why: a full collection in Python 3.11 walks every tracked object, and after its imports a
    pipeline process tracks about 420,000 (scikit-learn, GX, Prefect, pydantic). One date
    allocates enough to set off one full collection: 0.25-0.29 s in a 100k date and 0.31 s
    in a 1M date (timed with ``gc.callbacks``), nearly all of it walking those objects;
    frozen, none ran. (The 100k date's wall time did not move measurably, medians of ten
    alternating runs: the collection overlapped work off the GIL.) Frozen objects are still
    freed as usual when nothing refers to them; only a reference cycle among them would
    outlive its use. That is why freezing happens a fixed number of times per process,
    never per date: whatever is frozen is a bounded, one-off amount. Source: the Python
    documentation of ``gc.freeze`` (3.7+), which suggests it for objects that live for the
    rest of the process.
    """
    with _LOCK:
        if moment in _FROZEN:
            return False
        _FROZEN.add(moment)
        gc.freeze()
        return True


def is_rust_panic(error: BaseException) -> bool:
    """Whether ``error`` is a panic of a Rust extension (polars, pydantic-core): pyo3 raises
    ``pyo3_runtime.PanicException``, one class per extension, all named so.

    It derives from ``BaseException`` (not ``Exception``), so that ``except Exception`` does
    not swallow it; code that sorts a bug from a stop (KeyboardInterrupt, SystemExit, a
    signal) must ask for it by name."""
    kind = type(error)
    return kind.__module__ == "pyo3_runtime" and kind.__name__ == "PanicException"


#: The project's packages: an error raised in their code, or of a class of theirs, is the
#: project's own (:func:`raised_by_a_library`).
_PROJECT_PACKAGES = ("servicelens", "flows", "transforms", "models")


def raised_by_a_library(error: BaseException) -> bool:
    """Whether ``error`` was raised inside a library (or Python's standard library), not by
    the project: its class is not one of the project's packages (:data:`_PROJECT_PACKAGES`)
    and the innermost frame of its traceback is in none of them. Such an error's message
    names no file, line or column of the user's input (difflib's "n must be > 0: 0", which a
    new user's trial read as the whole error of ``sources check``): a bug to report, not a
    refusal. An error raised by a C function called from the project's code (``int("x")``,
    ``open``) has that code as its innermost frame, so counts as the project's. Without a
    traceback (never raised) it is the project's."""
    from pathlib import Path

    if type(error).__module__.split(".")[0] in _PROJECT_PACKAGES:
        return False
    frame = error.__traceback__
    if frame is None:
        return False
    while frame.tb_next is not None:
        frame = frame.tb_next
    where = Path(frame.tb_frame.f_code.co_filename).resolve()
    root = Path(__file__).resolve().parents[1]  # the folder holding the packages
    return not any(where.is_relative_to(root / name) for name in _PROJECT_PACKAGES)


def said_as_a_bug(error: BaseException, where: str) -> str:
    """One line saying that ``error`` (:func:`raised_by_a_library`, say) while working on
    ``where`` (a file) is a bug of servicelens, not of the input, naming the log file its
    traceback is written to: the root logger's last file handler's (a command's log,
    ``servicelens.cli.logfile``), or, with none (``-v``), the traceback logged above. The
    CLI says an error it reaches so (``servicelens.cli.main._bug``); this is for one that a
    run keeps going after (an inbox file left waiting), its line shown in the run's table."""
    import logging

    logging.getLogger("servicelens").error(
        "%s: unexpected %s", where, type(error).__name__, exc_info=error
    )
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    # The last added: a command's (logs_to_file adds it when the command starts).
    log = f"the log {files[-1].baseFilename}" if files else "the traceback logged above"
    message = " ".join(str(error).split())
    return (
        f"{where}: unexpected {type(error).__name__}: {message}; this is a bug in servicelens, "
        f"not in your data: please report it with {log}"
    )


class RustPanicError(RuntimeError):
    """A Rust extension's panic (:func:`is_rust_panic`) raised again as an ordinary error,
    where it is the failure of one piece of work (a date) rather than a stop of the process.
    ``panic`` is the original (also the ``__cause__``); the message is the panic's."""

    def __init__(self, panic: BaseException) -> None:
        super().__init__(str(panic))
        self.panic = panic


@contextmanager
def panics_as_errors() -> Iterator[None]:
    """Raise a Rust panic in the block as :class:`RustPanicError`; anything else as it came.

    For the boundary of one piece of work that fails alone (a date's stages): there, code
    that sorts a stop from a bug by ``except Exception`` (Prefect's engine, which marks a
    flow run crashed on a ``BaseException``; the date's outcome record) sees a panic as the
    bug it is. A user trial's panic in one date left that date recorded "interrupted" and
    stopped every other date of its backfill, as a Ctrl-C would have."""
    try:
        yield
    except BaseException as error:
        if not is_rust_panic(error):
            raise
        raise RustPanicError(error) from error
