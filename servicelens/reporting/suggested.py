"""The commands a message suggests act on the data directory the command ran on.

Messages all over the pipeline end with the command to run next (``servicelens backfill
--start ... --rerun failed``, ``servicelens train``). They are written once, without a data
directory, so they read the same in the README and on the terminal. Pasted from a command
that ran on another data directory (a cron job's log, an object store), such a suggestion
acted on ``./data`` instead: an operator's trial found `train` and `backfill --rerun all`
pointed at the demo's data. :func:`naming_data_dir` adds ``--data-dir`` to each suggested
command, and :func:`suggestions_name` applies it to everything the command prints.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from servicelens.settings import DEFAULT_DATA_DIR, Settings

if TYPE_CHECKING:
    from servicelens.ingest.definitions import SourceDefinition

#: The command line's commands (``servicelens <command>``); ``tests/unit/test_suggested.py``
#: holds it to the parser's.
COMMANDS = (
    "generate", "run", "backfill", "serve", "sources", "runs", "train", "score", "models",
    "demo", "report", "review-queue", "query", "dictionary", "erase", "access", "prefect",
)  # fmt: skip


def train_hint(settings: Settings) -> str:
    """The training a message tells to run, as a quoted command: the sample's plain
    ``servicelens train``; a configured source's ``train --source NAME``, trained on the
    labels it has landed (or on a labelled export given with --input). The report, and
    ``score`` of a configured source with landed rows, say it alike."""
    if settings.is_sample:
        return "`servicelens train`"
    return (
        f"`servicelens train --source {settings.source}` (on the labels it has landed; "
        "add --input FILE for a labelled export)"
    )


def not_promoted_text(settings: Settings) -> str | None:
    """What to say of a registry without a champion where training saved a version all the
    same: ``model <version> was trained but not promoted: <training's reason>`` and the
    ``models show`` and ``models promote`` commands of ``settings``' registry (``--source
    NAME`` for a configured source); the promote command once, not again where training's
    reason names it (a refusal for repeated comments does). None when there is a champion
    or no version. The review queue and the report say it alike (found by a QA lead's
    trial: the report of a source whose first model was refused for no skill said "no
    champion model yet: run train", while ``review-queue`` named the version and how to
    promote it)."""
    from models.registry import champion_version, list_versions, read_decision

    if champion_version(settings.models_dir) is not None:
        return None
    versions = [v["version"] for v in list_versions(settings.models_dir)]
    if not versions:
        return None
    version = max(versions)  # names start with the time they were saved
    reason = (read_decision(settings.models_dir, version) or {}).get("reason")
    flag = "" if settings.is_sample else f" --source {settings.source}"
    models = f"servicelens models{flag}"
    # Training's reason starts with its verdict ("not promoted: it shows no skill ...").
    why = f": {reason.removeprefix('not promoted: ')}" if reason else ""
    show = f"`{models} show {version}` shows its metrics"
    promote = f"`{models} promote {version}`"
    if promote in (reason or ""):
        # A refusal for repeated comments names the hand promotion itself (a review saw the
        # review queue's line give it twice).
        return f"model {version} was trained but not promoted{why}. {show}"
    return (
        f"model {version} was trained but not promoted{why}. {show}, and {promote} promotes it "
        "by hand"
    )


def nothing_to_read_text(definition: SourceDefinition) -> str | None:
    """What training refuses a source with when its ``definition`` gives a model nothing to
    read (no ``comment`` mapped, no ``[features]`` declared), in training's own words
    (``SourceDefinition.refuse_an_empty_model``, the one rule); None when a model can read
    it. ``review-queue``, ``sources add`` and ``sources check`` say it first: a QA lead's
    trial was offered 4,262 responses for first audits of a call log no model could be
    trained on, and only the retrain said so."""
    from servicelens.ingest.definitions import DefinitionError

    try:
        definition.refuse_an_empty_model()
    except DefinitionError as error:
        return str(error)
    return None


def data_dir_argument(data_dir: str) -> str | None:
    """``--data-dir <dir>`` for a suggested command, or None for the default data directory.

    A local directory is given absolute (a cron job's log is read, and its command pasted,
    in another working directory); an object store's URL as it is. None also when the quoted
    directory holds a ``"`` or ``\\``, which would need escaping inside ``--json`` output.
    """
    if data_dir in ("", DEFAULT_DATA_DIR):
        return None
    shown = data_dir if "://" in data_dir else str(Path(data_dir).expanduser().resolve())
    if shown == str(Path(DEFAULT_DATA_DIR).resolve()):
        return None
    quoted = shlex.quote(shown)
    if '"' in quoted or "\\" in quoted:
        return None
    return f"--data-dir {quoted}"


def naming_data_dir(text: str, argument: str, commands: Collection[str] = COMMANDS) -> str:
    """``text`` with ``argument`` (``--data-dir <dir>``) after every ``servicelens <command>``
    it suggests, ``command`` one of ``commands`` (the CLI's command names).

    A suggestion that already names a data directory (``--data-dir`` before the closing
    backtick or the line's end), argparse's ``usage:`` lines and a command's name as a
    line's speaker (``servicelens serve:``) are left as they are.
    """
    if "servicelens " not in text:
        return text
    pattern = re.compile(
        r"(?<![\w./-])servicelens (?=(?:"
        + "|".join(re.escape(c) for c in sorted(commands, key=len, reverse=True))
        # A command said at a colon is a line's speaker (``servicelens serve: started
        # ...``), not a suggestion: under --data-dir serve's every line was rewritten.
        + r")\b(?!:))"
    )

    def named(match: re.Match[str]) -> str:
        rest = text[match.end() :]
        until = min((i for i in (rest.find("`"), rest.find("\n")) if i >= 0), default=len(rest))
        before = text[max(0, match.start() - 7) : match.start()]
        if "--data-dir" in rest[:until] or before.endswith("usage: "):
            return match.group(0)
        return f"servicelens {argument} "

    return pattern.sub(named, text)


class _Naming:
    """A text stream that writes through :func:`naming_data_dir`; everything else (``isatty``
    for the progress bars, ``fileno``, ``encoding``) is the wrapped stream's."""

    def __init__(self, stream: TextIO, argument: str, commands: Collection[str]) -> None:
        self._stream = stream
        self._argument = argument
        self._commands = commands

    def write(self, text: str) -> int:
        self._stream.write(naming_data_dir(text, self._argument, self._commands))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def suggestions_name(data_dir: str, commands: Collection[str] = COMMANDS) -> Iterator[None]:
    """While inside, what is printed on stdout and stderr names ``data_dir`` in the commands
    it suggests (nothing changes for the default data directory). The streams in place when
    the block ends are put back only if they are still the ones set here."""
    argument = data_dir_argument(data_dir)
    if argument is None:
        yield
        return
    out, err = sys.stdout, sys.stderr
    named_out, named_err = _Naming(out, argument, commands), _Naming(err, argument, commands)
    sys.stdout, sys.stderr = named_out, named_err  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.stdout is named_out:  # type: ignore[comparison-overlap]
            sys.stdout = out
        if sys.stderr is named_err:  # type: ignore[comparison-overlap]
            sys.stderr = err
