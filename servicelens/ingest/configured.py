"""The sources configured in a data directory: their definitions, their drop folders (inboxes),
and which of their partitions a nightly run or a backfill processes.

A source is configured by registering its definition (``servicelens sources add``, or the
first ``sources run``/``sources demo``): the definition is copied to ``sources/<name>/
definition.toml`` (with the definition files it extends, unless they are built-in presets),
so the data directory says by itself how each of its sources is read, and an inbox
``inbox/<name>/`` is created. A vendor (or a person) drops exports of any date range into
the inbox; the nightly run lands each new file (raw copy named by its sha256, landed
partitions rewritten whole) and removes it from the inbox once its bytes are safe in
``raw/``, then processes every partition whose landed inputs changed.

No Prefect here: the flows call these functions.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from servicelens.ingest.audits import (
    AUDIT_COLUMNS,
    audit_column_named,
    audit_columns_near,
    first_line_cells,
    looks_like_audits,
    move_command,
)
from servicelens.ingest.definitions import (
    BUILT_IN_DIR,
    DefinitionError,
    SourceDefinition,
    load_definition,
    resolve_definition_path,
)
from servicelens.ingest.landing import (
    DeliveryChanging,
    EmptyDelivery,
    Landing,
    land_delivery,
    landed_periods,
    period_start,
)
from servicelens.ingest.mapping import MissingColumns
from servicelens.runtime import raised_by_a_library, said_as_a_bug
from servicelens.settings import INTERACTIONS_FEED, SURVEYS_FILE, Settings
from servicelens.storage.fs import (
    DataPath,
    file_state,
    machine_folder_for,
    modified_at,
    read_bytes,
    write_text_whole,
)
from servicelens.storage.runs import (
    PlannedDate,
    date_status,
    idempotency_key,
    inputs_changed,
    left_failed,
    read_inbox_failures,
    rule_change,
)

#: A configured source's definition, in its folder under ``sources/<name>/``.
DEFINITION_FILE = "definition.toml"
#: Beside the registered copy: the absolute path of the file it was registered from, so a
#: refusal can tell whether that file changed since (:func:`_registered_copy_note`).
REGISTERED_FROM_FILE = "registered-from.txt"
#: Inbox files whose name starts or ends like this are still being written: left alone.
IN_PROGRESS = (".", "~")
IN_PROGRESS_SUFFIXES = (".partial", ".tmp", ".part", ".crdownload")
#: What to do about an inbox file the source's definition does not fit (its refusal says
#: what does not fit): said by the nightly run's outcome row and by the run report.
NOT_LANDED_TODO = "fix the definition or the file: it stays in the inbox and lands on the next run"
_EXTENDS = re.compile(r'^(\s*extends\s*=\s*)(["\'])(.+?)\2', re.MULTILINE)


def _settings_for(settings: Settings, definition: SourceDefinition, path: str) -> Settings:
    return settings.for_source(
        definition.name,
        path,
        definition.partition,
        reveal_agent_ids=not definition.pseudonymise_agents,
        audit_date_order=definition.audit_date_order or None,
        negative_rule=definition.negative_rule,
        interaction_feed=definition.interactions is not None,
        interaction_lookback_days=(
            definition.interactions.lookback_days if definition.interactions else None
        ),
    )


def _chain_texts(path: Path) -> list[tuple[str, str]]:
    """The definition file and the non-built-in files it extends, as (file name, text), each
    text's ``extends`` pointing at the next one's file name (so the copies load together)."""
    text = path.read_text(encoding="utf-8")
    found = _EXTENDS.search(text)
    if found is None:
        return [(DEFINITION_FILE, text)]
    parent = resolve_definition_path(found.group(3), relative_to=path)
    if parent.parent == BUILT_IN_DIR:
        return [(DEFINITION_FILE, text)]
    chain = _chain_texts(parent)
    own_name = f"extends-{len(chain)}-{parent.name}"
    chain[0] = (own_name, chain[0][1])
    return [(DEFINITION_FILE, _EXTENDS.sub(rf"\g<1>\g<2>{own_name}\g<2>", text, count=1)), *chain]


def definition_named(settings: Settings, source: str, given_as: str = "--source") -> str:
    """The definition ``--source`` names, as ``load_definition`` takes it: a source configured
    in the data directory (its registered copy), a built-in preset, or a definition file.

    Raises DefinitionError naming the configured sources and the presets, and the closest
    of them to ``source`` (a typo), when it is none of those. Found by a new user's trial:
    ``score --source`` refused a configured source's name, and a misspelt name was answered
    with the presets only (``models``) or as a missing ``--input`` (``train``); a second
    trial, that ``sources run`` and ``sources check`` refused a configured source's name.
    ``given_as`` names the argument in the refusal."""
    import difflib

    from servicelens.ingest.definitions import built_in_definitions

    names = configured_names(settings)
    if source in names:
        return str(configured_source(settings, source).definition)
    try:
        resolve_definition_path(source)
    except DefinitionError as error:
        presets = list(built_in_definitions())
        close = difflib.get_close_matches(source, [*names, *presets], n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise DefinitionError(
            f"{given_as} {source}: not a source configured in {settings.data_dir} "
            f"({', '.join(names) or 'none'}), a built-in definition ({', '.join(presets)}) "
            f"or a definition file{hint}"
        ) from error
    return source


def replacement_refusal(settings: Settings, definition: str) -> str | None:
    """Why configuring ``definition`` needs ``--replace``, or None when it does not.

    It does when a source of the same name is configured with another definition and has
    exports landed: the next runs would read them with the new one. Found by a new user's
    trial: a copied definition that kept ``name = "cfpb"`` replaced the cfpb source's, and
    the next backfill quarantined every complaint of the month it ran. An unchanged
    definition, or a source with nothing landed yet, is configured as asked, and so is one
    whose registered copy cannot be read: no run reads its exports with that copy, and
    registering the definition again is how it is mended (the retrain advises it).
    """
    loaded = load_definition(definition)
    if loaded.name not in configured_names(settings):
        return None
    try:
        existing = configured_source(settings, loaded.name)
    except (DefinitionError, OSError):
        return None
    folder = existing.source_root
    unchanged = all(
        (folder / name).exists() and (folder / name).read_text() == text
        for name, text in _chain_texts(loaded.path)
    )
    landed = len(landed_periods(existing)) if not unchanged else 0
    if not landed:
        return None
    return (
        f"source {loaded.name} is already configured ({folder / DEFINITION_FILE}) with another "
        f"definition, and {landed} {existing.partition} partition(s) of its exports are "
        f"landed: {definition} would replace that definition, and the next runs would check "
        f"them with it. If {definition} is an edited definition of the same source, add "
        f"--replace (exports are mapped as they land: to map the landed ones with it too, "
        f"drop them again into {existing.inbox_dir}); if it is another source, give it a "
        "name of its own (the name line of the definition)"
    )


def register_source(settings: Settings, definition: str, replace: bool = False) -> Settings:
    """Configure a source in ``settings``' data directory (see the module's docstring);
    registering it again with a changed definition replaces the registered copy, but only
    with ``replace`` once exports of the source are landed (:func:`replacement_refusal`).

    ``definition`` is a built-in name or a definition file. Returns the settings addressing
    the source, whose definition is the registered copy. Raises DefinitionError.
    """
    loaded = load_definition(definition)
    if loaded.name == Settings.source:
        # Found by a trial: the refusal came from the lookup after registering, "source
        # 'sample' is not configured ...: add it with servicelens sources add", circular.
        raise DefinitionError(
            f"{definition}: name = {loaded.name!r} is the generated sample feed's own name "
            "(its layers are at the top of the data directory, not under sources/); give "
            "the source a name of its own in the definition's name line"
        )
    if not replace and (refusal := replacement_refusal(settings, definition)):
        raise DefinitionError(refusal)
    source = _settings_for(settings, loaded, "")
    folder = source.source_root
    texts = _chain_texts(loaded.path)
    for name, text in texts:
        target = folder / name
        if not target.exists() or target.read_text() != text:
            if isinstance(target, Path):
                target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    origin = folder / REGISTERED_FROM_FILE
    if loaded.path.parent != BUILT_IN_DIR:
        origin.write_text(str(loaded.path.resolve()))
    elif origin.exists():
        origin.unlink()
    folders = [source.inbox_dir, source.audits_dir]
    if loaded.interactions is not None:
        folders.append(source.for_interactions().inbox_dir)
    for folder in folders:
        if isinstance(folder, Path):
            folder.mkdir(parents=True, exist_ok=True)
    return configured_source(settings, loaded.name)


def _local_definition(folder: DataPath, settings: Settings, name: str) -> Path:
    """A local path to a registered definition (loading needs files; an object store's
    copies are fetched into a machine-local folder first)."""
    if isinstance(folder, Path):
        return folder / DEFINITION_FILE
    local = machine_folder_for(settings.root, "definitions") / name
    local.mkdir(parents=True, exist_ok=True)
    for remote in folder.glob("*.toml"):
        (local / remote.name).write_bytes(remote.read_bytes())
    return local / DEFINITION_FILE


def timezone_note(settings: Settings, definition: str) -> str | None:
    """What to know when the definition ``definition`` (a file or built-in name) declares
    another ``timezone`` than ``settings``' business timezone, or None when it declares none,
    the same one, or one whose UTC offsets are the business timezone's at every instant
    that matters (:func:`servicelens.dates.zones_differ`: Europe/Vienna for Europe/Berlin).

    Not an error (a London business may buy from a Berlin vendor), but a row's survey date is
    its time's date in the business timezone, and the first partition published fixes that
    timezone for the data directory. Found by a trial: a Berlin source added to a directory
    without SERVICELENS_TIMEZONE had 00:30 Berlin's responses dated the day before, silently,
    and setting Berlin afterwards was refused."""
    from servicelens.dates import zones_differ
    from servicelens.settings import timezone_origin
    from servicelens.storage.runs import recorded_timezone

    loaded = load_definition(definition)
    declared, business = loaded.timezone, settings.timezone
    if declared is None or declared == business:
        return None
    # Zones with the same offsets at every instant that matters cut the same days: a bank
    # analyst's trial was warned of a Vienna source's responses dated "the day before or
    # after" in Berlin, whose clocks have agreed with Vienna's since 1981.
    if not zones_differ(declared, business):
        return None
    # A built-in preset's own timezone is its export's clock (Typeform's UTC, CFPB's dates
    # that name a day), not a vendor's business day: no note for it.
    # (A configured preset's registered copy is named as the preset.)
    named = (loaded.name, *loaded.extends)
    presets = [loaded.path, *(BUILT_IN_DIR / f"{p}.toml" for p in named)]
    if any(
        p.parent == BUILT_IN_DIR and p.exists() and load_definition(str(p)).timezone == declared
        for p in presets
    ):
        return None
    said = (
        f"{loaded.name}'s definition reads its naive times in {declared}, but the business "
        f"timezone is {business} ({timezone_origin(business)}): its rows' survey dates are "
        f"days of {business}, cut at {business}'s midnight, so a response submitted near "
        f"midnight in {declared} can be dated the day before or after its {declared} day"
    )
    if recorded_timezone(settings) == business:
        return (
            f"{said}. This data directory keeps {business} (its partitions record it): to have "
            f"{declared}'s days, process the exports in another data directory (--data-dir) "
            f"with SERVICELENS_TIMEZONE={declared}"
        )
    return (
        f"{said}. If the days should be {declared}'s, set SERVICELENS_TIMEZONE={declared} "
        "before the first run: the first partition published fixes the data directory's "
        "business timezone"
    )


#: The file under ``<data dir>/sources/`` holding the business-timezone notes (each one
#: :func:`timezone_note`'s text) the last command that processes dates told of
#: (:func:`untold_timezone_notes`).
TIMEZONE_NOTES_TOLD_FILE = "timezone-notes-told.json"


def untold_timezone_notes(settings: Settings, notes: list[str]) -> list[str]:
    """Of ``notes`` (:func:`timezone_note`'s, one a source), those not told before, as
    :data:`TIMEZONE_NOTES_TOLD_FILE` remembers them (:func:`remember_timezone_notes_told`),
    in ``notes``' order. The rule of :func:`servicelens.ingest.landing.unread_columns_told_before`:
    a note told once is not told again on every run, every night (a data engineer's trial:
    two sources' notes, a Zurich and a Berlin one, repeated unchanged by every nightly run
    of a directory whose sources had delivered nothing yet, and were learnt to be ignored);
    a new one (a source added in another timezone, another SERVICELENS_TIMEZONE) is told. An
    unreadable memory counts as none (all told again)."""
    told = _told_notes(settings.root / "sources" / TIMEZONE_NOTES_TOLD_FILE) or []
    return [note for note in notes if note not in told]


def remember_timezone_notes_told(settings: Settings, notes: list[str], told_at: datetime) -> None:
    """Add ``notes`` (the timezone notes a command told) to those
    ``<data dir>/sources/`` :data:`TIMEZONE_NOTES_TOLD_FILE` remembers, with when (one
    small JSON file, replaced whole), so later commands leave them out
    (:func:`untold_timezone_notes`). Added to, not replaced: a command run for one source
    (``backfill --source``) does not make the others' notes be told again. Nothing is
    written when every note is remembered already (a nightly run changes nothing). A memory
    that cannot be written is left: the notes are told again."""
    path = settings.root / "sources" / TIMEZONE_NOTES_TOLD_FILE
    told = _told_notes(path) or []
    added = [note for note in notes if note not in told]
    if not added:
        return
    remembered = {"notes": [*told, *added], "told_at": told_at.isoformat()}
    try:
        write_text_whole(path, json.dumps(remembered, indent=1))
    except OSError:
        return  # a read-only data directory: the command itself says so


def _told_notes(path: DataPath) -> list[str] | None:
    """The notes :data:`TIMEZONE_NOTES_TOLD_FILE` at ``path`` holds, or None (no file, or
    unreadable)."""
    if not path.exists():
        return None
    try:
        told = json.loads(path.read_text()).get("notes")
    except (OSError, ValueError, AttributeError):
        return None
    return told if isinstance(told, list) else None


def configured_names(settings: Settings) -> list[str]:
    """Names of the sources configured in the data directory, sorted."""
    found = (settings.root / "sources").glob(f"*/{DEFINITION_FILE}")
    return sorted(p.parent.name for p in found)


def unclaimed_inboxes(settings: Settings) -> dict[str, str]:
    """The folders of ``<data dir>/inbox/`` that hold files but are no configured source's
    drop folder (a misspelt name), each with what to do: move the files to the source its
    name is closest to, or configure a source of that name. Found by a trial: files dropped
    in ``inbox/hotdog-form`` (the source is ``hotdog-forms``) were ignored every night, and
    no run said so."""
    import difflib

    inbox = settings.root / "inbox"
    if not isinstance(inbox, Path) or not inbox.is_dir():  # drop folders are local
        return {}
    names = configured_names(settings)
    found = {}
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir() and p.name not in names):
        files = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]
        if not files:
            continue
        close = difflib.get_close_matches(folder.name, names, n=1)
        move = (
            f"move them to {inbox / close[0]}/ (did you mean {close[0]}?)"
            if close
            else f"configured sources: {', '.join(names) or 'none'}"
        )
        found[str(folder)] = (
            f"{folder} holds {len(files)} file(s) but no source named {folder.name} is "
            f"configured, so no run lands them: {move}, or configure it with `servicelens "
            "sources add DEFINITION`"
        )
    return found


def configured_source(settings: Settings, name: str) -> Settings:
    """Settings addressing the configured source ``name`` (its registered definition, its
    partitioning, whether its agent ids may be shown).

    Raises DefinitionError naming the configured sources when ``name`` is not one of them.
    """
    folder = settings.root / "sources" / name
    if not (folder / DEFINITION_FILE).exists():
        import difflib

        names = configured_names(settings)
        close = difflib.get_close_matches(name, names, n=1)
        # A typo of a configured source is said as one, as `train` and `query` say it; a
        # new analyst's trial was told to add "acme-qualtric" with `sources add`.
        todo = (
            f"did you mean {close[0]}?"
            if close
            else "add it with `servicelens sources add DEFINITION`"
        )
        raise DefinitionError(
            f"source {name!r} is not configured in {settings.data_dir} (configured: "
            f"{', '.join(names) or 'none'}); {todo}"
        )
    path = _local_definition(folder, settings, name)
    definition = load_definition(path)
    if definition.name != name:
        raise DefinitionError(
            f"{folder / DEFINITION_FILE}: its name is {definition.name!r} but it is registered "
            f"as {name!r}; register it again with `servicelens sources add`"
        )
    return _settings_for(settings, definition, str(path))


def configured_sources(settings: Settings) -> list[Settings]:
    """Settings of every source configured in the data directory."""
    return [configured_source(settings, name) for name in configured_names(settings)]


@dataclass(frozen=True)
class UnreadableSource:
    """A configured source whose registered definition cannot be read: ``source`` its name,
    ``reason`` the file, what is wrong in it and what to change."""

    source: str
    reason: str


#: In a run's failed outcome (``flows.sources.unreadable_outcome``): true when the source
#: was not run because its registered definition cannot be read.
UNREADABLE_DEFINITION = "unreadable_definition"


def configured_sources_or_unreadable(settings: Settings) -> list[Settings | UnreadableSource]:
    """:func:`configured_sources`, with each source whose registered definition cannot be
    read (not TOML, a file it extends gone, a key it no longer may have) an
    :class:`UnreadableSource` in its place, so one broken definition stops no other
    source's run."""
    found: list[Settings | UnreadableSource] = []
    for name in configured_names(settings):
        try:
            found.append(configured_source(settings, name))
        except (DefinitionError, OSError) as error:
            recorded = settings.root / "sources" / name / REGISTERED_FROM_FILE
            origin = recorded.read_text().strip() if recorded.exists() else "DEFINITION"
            found.append(
                UnreadableSource(
                    name,
                    f"its registered definition cannot be read: {error}; register the "
                    "definition again (corrected, if the error is in it): `servicelens "
                    f"sources add {origin} --replace`",
                )
            )
    return found


def readable_configured_sources(
    settings: Settings,
) -> tuple[list[Settings], list[UnreadableSource]]:
    """:func:`configured_sources_or_unreadable` parted: the sources whose registered
    definition reads, then those whose does not. For the commands that read every source
    (``runs show``, ``runs release``, ``report``, ``review-queue``, ``query``, ``sources
    list``): they answer for the others and say each one left out once
    (:func:`left_out_note`), where :func:`configured_sources` raised on the first one and
    they failed outright."""
    readable: list[Settings] = []
    unreadable: list[UnreadableSource] = []
    for source in configured_sources_or_unreadable(settings):
        if isinstance(source, UnreadableSource):
            unreadable.append(source)
        else:
            readable.append(source)
    return readable, unreadable


def left_out_note(source: UnreadableSource) -> str:
    """What a command over every configured source says of ``source``, which it leaves
    out: its name, then the nightly run's own words for it (the file, what is wrong in it,
    and the ``sources add ... --replace`` that mends it)."""
    return f"source {source.source} left out: {source.reason}"


def records_layer(settings: Settings, name: str) -> Settings:
    """Settings addressing the layers of the configured source ``name`` without reading its
    definition: for its runs' records (``sources/<name>/runs/``), its in-flight records and
    its inbox, which a source whose registered definition cannot be read still has. Not
    for reading its exports: its partitioning and rules are the definition's."""
    return settings.for_source(name, "")


def has_sample_exports(settings: Settings) -> bool:
    """Whether the data directory holds the generated sample's layout (``raw/<date>/``)."""
    return any((settings.root / "raw").glob(f"*/{SURVEYS_FILE}"))


def pending_deliveries(source: Settings) -> list[DataPath]:
    """Files waiting in a source's inbox, in the order they were written (last modified
    first to last, then by name); files whose name says they are still being written
    (hidden, ``.partial``, ``.tmp``, an Excel ``~$`` lock file, ...) are not listed, and
    those modified too recently to be complete wait too (:func:`inbox_wait`).

    The order is the order of delivery: a row delivered again supersedes the copy landed
    before it. By name alone, a correction saved as ``export (1).csv`` (a browser's or
    Windows' name for a second download) sorted before ``export.csv`` and lost to it."""
    inbox = source.inbox_dir
    if not inbox.exists():
        return []
    waiting = [
        p
        for p in inbox.iterdir()
        if not p.name.startswith(IN_PROGRESS)
        and not p.name.endswith(IN_PROGRESS_SUFFIXES)
        and not p.is_dir()
    ]
    return sorted(waiting, key=lambda p: (modified_at(p), p.name))


def inbox_wait(
    path: DataPath, written: tuple[int, float], settle_seconds: float, now: float
) -> str:
    """Why the inbox file ``path``, of size and modification time ``written``
    (``storage.fs.file_state``), is left for a later run, in one line; "" when this run
    takes it. A file whose name does not say it is in progress (:func:`pending_deliveries`)
    may still be being copied: one modified less than ``settle_seconds`` before ``now``
    (seconds since the epoch) waits.

    Found by a trial: ``august.csv``, written in two halves 35 s apart, was landed cut off
    after its header, removed from the inbox, and the writer's second half went into the
    removed file: its rows were lost, exit 0."""
    age = now - written[1]
    if age >= settle_seconds:
        return ""
    taken = f"taken once unchanged for {settle_seconds:g} s (SERVICELENS_INBOX_SETTLE_SECONDS)"
    if age < 0:
        return f"{path.name}: waits: modified {-age:.0f} s ahead of this machine's clock; {taken}"
    return f"{path.name}: waits: modified {age:.0f} s ago; {taken}"


def inbox_outlook(source: Settings, now: float | None = None) -> tuple[list[DataPath], list[str]]:
    """What the next run does with each file of ``source``'s inbox
    (:func:`pending_deliveries`), told without landing any: the files it lands, and for
    each it does not, ``"<name>: <why>"``: one modified less than the settling time before
    ``now`` (still being written: a later run takes it), an empty one (0 bytes or blanks
    only: it is never landed, the vendor is to send it again), one the last nightly run
    refused and unchanged since (:func:`not_landed`: the same refusal). A header-only CSV
    that is whole lands (0 responses). Found by a trial: a backfill's dry run said a file
    "`servicelens run` lands" stayed in the inbox every night."""
    moment = time.time() if now is None else now
    refused = {f.file: f.reason for f in not_landed(source)}
    lands: list[DataPath] = []
    left: list[str] = []
    for path in pending_deliveries(source):
        size, written = file_state(path)
        if inbox_wait(path, (size, written), source.inbox_settle_seconds, moment):
            left.append(
                f"{path.name}: still being written (modified {max(moment - written, 0):.0f} s "
                f"ago): a run takes it once unchanged for {source.inbox_settle_seconds:g} s"
            )
        elif size <= EMPTY_LOOKS_AT and not read_bytes(path).strip():
            left.append(
                f"{path.name}: empty ({size} bytes): no run lands it; ask the vendor to send "
                "the export again"
            )
        elif str(path) in refused:
            left.append(
                f"{path.name}: refused by the last run, and it will be again: {refused[str(path)]}"
            )
        else:
            lands.append(path)
    return lands, left


#: Files up to this size are read to tell one of blanks only (an empty export) in a dry run.
EMPTY_LOOKS_AT = 4096


@dataclass
class PickedUp:
    """One inbox file: landed (and removed from the inbox), or left there with the error."""

    file: str
    landing: Landing | None
    error: str = ""
    #: Why a file that changed nothing left the inbox all the same: it has no rows, or the
    #: same bytes were landed before (under this name or another), under the same rules or
    #: under changed ones that read its rows the same.
    note: str = ""


def sources_fitting(source: Settings, path: DataPath) -> list[Settings]:
    """The other sources configured beside ``source`` whose definitions read ``path`` and
    find every column they map in it (:func:`~servicelens.ingest.mapping.missing_columns`),
    in name order. A source whose definition cannot read the file (another format, a broken
    definition) does not fit."""
    from servicelens.ingest.mapping import missing_columns, read_export

    fitting = []
    for other in configured_sources_or_unreadable(source):
        if isinstance(other, UnreadableSource) or other.source == source.source:
            continue
        try:
            definition = load_definition(other.definition or other.source)
            if not missing_columns(definition, read_export(definition, path).header):
                fitting.append(other)
        except (DefinitionError, ValueError, OSError):
            continue
    return fitting


def _registered_copy_note(source: Settings) -> str:
    """What to know after a refusal that advises changing the definition: the run reads the
    registered copy, so a definition file changed since it was registered must be registered
    again (``--replace``). Said only when the file it was registered from changed, or cannot
    be told (registered by an earlier version, or the file gone): found by a new user's
    trial, told to register again with --replace though nothing had changed."""
    folder = source.source_root
    note = f" (this source reads its registered copy, {source.root / 'sources'}/"
    note += f"{source.source}/{DEFINITION_FILE}"
    recorded = folder / REGISTERED_FROM_FILE
    origin = Path(recorded.read_text().strip()) if recorded.exists() else None
    try:
        chain = _chain_texts(origin) if origin is not None and origin.is_file() else None
    except (DefinitionError, OSError, UnicodeDecodeError):
        chain = None  # its extends line names a file gone: cannot be told
    if origin is not None and chain is not None:
        registered = [
            (folder / name).read_text() if (folder / name).exists() else None for name, _ in chain
        ]
        if registered == [text for _, text in chain]:
            return f"{note}, the same as {origin})"
        return (
            f"{note}; {origin} has changed since it was registered: register it again with "
            f"`servicelens sources add {origin} --replace`)"
        )
    return (
        f"{note}: after changing your definition file, register it again with "
        "`servicelens sources add FILE --replace`)"
    )


def date_order_declared_by(source: Settings) -> str:
    """What declares the order ``source``'s ambiguous slashed audit dates are read in, in
    the words the audit tally gives a file read so: a configured source's definition when
    it declares ``audit_date_order`` (which wins), else ``SERVICELENS_AUDIT_DATE_ORDER``."""
    if not source.is_sample:
        definition = load_definition(source.definition or source.source)
        if definition.audit_date_order:
            return f"source {source.source}'s definition (audit_date_order)"
    return "SERVICELENS_AUDIT_DATE_ORDER"


def date_order_advice(source: Settings) -> str:
    """How QA declares the order of ``source``'s slashed audit dates (the words after
    "declare the order: " of :func:`~servicelens.ingest.audits.read_audit_files`' reason),
    as a command that does it.

    For a configured source: add ``audit_date_order`` to the top of the definition file it
    was registered from and register that file again with ``--replace`` (the audits are read
    with the registered copy, which the edit alone does not change: a QA lead's trial was
    told to declare it "in the source definition", a word of neither the registered copy
    nor ``--replace``). The line goes above the first ``[section]``: below one, TOML
    reads it as that section's. When the file it was registered from is not known (a
    built-in preset, or registered by an earlier version), FILE stands for it. For the
    generated sample, ``SERVICELENS_AUDIT_DATE_ORDER``."""
    import shlex

    if source.is_sample:
        return (
            "`SERVICELENS_AUDIT_DATE_ORDER=day-first servicelens train` (or month-first; set "
            "it for every command that reads audits: run, train, review-queue, report)"
        )
    recorded = source.source_root / REGISTERED_FROM_FILE
    origin = recorded.read_text().strip() if recorded.exists() else ""
    known = bool(origin) and Path(origin).is_file()
    file = origin if known else "FILE"
    registered = source.source_root / DEFINITION_FILE
    # Registered from a built-in preset (or by an earlier version): FILE is a file of one's
    # own that extends the preset with the same name.
    built_in = (
        "" if known else f" (a file of yours: extends = the preset, name = {source.source!r})"
    )
    return (
        f'add the line audit_date_order = "day-first" (or "month-first") at the top of '
        f"{file}{built_in}, above its first [section], and register it again: "
        f"`servicelens sources add {shlex.quote(file) if known else file} --replace` (this "
        f"source reads its registered copy, {registered}, not the file)"
    )


def another_sources_export(source: Settings, path: DataPath, error: MissingColumns) -> str | None:
    """For ``path``, refused by ``source``'s definition for the columns it lacks
    (``error``), what to do when another configured source's definition reads it whole
    (:func:`sources_fitting`): move it to that source's inbox. None when none does. Found by
    a trial: a call log dropped in another source's inbox was told to change that source's
    definition (by the nightly run, then by ``sources check``, which says the same)."""
    if not (fits := sources_fitting(source, path)):
        return None
    lacks = ", ".join(repr(group[0]) for group in error.missing)
    return (
        f"{path}: not an export of source {source.source}: it lacks {lacks}, "
        f"which its definition reads, and has every column source "
        f"{fits[0].source} reads: if it is that source's export, move it to "
        f"{fits[0].inbox_dir} (the next run lands it there)"
    )


#: The columns an audit file's refusal names of those the source's definition reads.
_LACKS_SHOWN = 3


def audit_file_refusal(source: Settings, path: DataPath, error: Exception) -> str | None:
    """For ``path``, refused as an export of ``source`` (``error``), what to say when it is
    a file of QA audits: its first line names the four :data:`AUDIT_COLUMNS`, or, refused
    for the columns it lacks (:class:`MissingColumns`), names the audit columns under other
    names (:func:`~servicelens.ingest.audits.audit_columns_near`: a QA Google Form's
    ``Timestamp, Email Address, Response ID, Verdict, Rationale``). It names the source's
    audits folder and the command that files it there
    (:func:`~servicelens.ingest.audits.move_command`), and the columns to rename for
    training to read it. None for a file that is no audit file. Found by a contact centre's
    trial: a QA form's export in the call log's inbox was refused as a call log missing its
    columns, with no word of audits."""
    move = move_command(str(path), str(source.audits_dir))
    command = f" (`{move}`)" if not move.startswith("move it") else ""
    files_it = f"move it to {source.audits_dir}, where training reads the source's audits{command}"
    if looks_like_audits(path):
        return (
            f"{path}: line 1 (header): this is a file of QA audits "
            f"({', '.join(AUDIT_COLUMNS)}), not an export of source {source.source}: {files_it}"
        )
    header = first_line_cells(path)
    if not isinstance(error, MissingColumns) or (near := audit_columns_near(header)) is None:
        return None
    renames = [
        (cell, column) for column, cell in near.items() if not audit_column_named(column, cell)
    ]
    absent = [column for column in AUDIT_COLUMNS if column not in near]
    to_do = []
    if renames:
        shown = ", ".join(f"{cell!r} to {column}" for cell, column in renames)
        to_do.append(f"rename {shown} in its line 1")
    if absent:
        to_do.append(f"add the column{'s' if len(absent) > 1 else ''} {', '.join(absent)}")
    lacks = ", ".join(repr(group[0]) for group in error.missing[:_LACKS_SHOWN]) + (
        ", ..." if len(error.missing) > _LACKS_SHOWN else ""
    )
    return (
        f"{path}: line 1 (header): this looks like a QA audit file, not an export of source "
        f"{source.source}: its header ({', '.join(header)}) names the audit columns "
        f"{', '.join(near)}{', some under other names' if renames else ''}, and it lacks "
        f"{lacks}, which "
        f"the source's definition reads. If it is QA's audits, {files_it}"
        + (f", and {' and '.join(to_do)}, so that it is read as audits" if to_do else "")
    )


def belongs_elsewhere(source: Settings, path: DataPath, error: Exception) -> str | None:
    """For ``path``, refused as an export of ``source`` (``error``), what to say when it
    belongs elsewhere: a file of QA audits (:func:`audit_file_refusal`: the audits folder),
    else, refused for the columns it lacks, another configured source's export
    (:func:`another_sources_export`: that source's inbox). None when it is neither: the
    refusal is the definition's own. The inbox (:func:`pick_up_deliveries`) and ``sources
    check`` both say it, so a file previewed is told what the nightly run would tell it.
    A file of the source's contact-facts feed dropped beside its surveys
    (:func:`fits_interactions`) is told to move to the feed's folder."""
    if audits := audit_file_refusal(source, path, error):
        return audits
    if source.feed != INTERACTIONS_FEED and source.definition:
        try:
            definition = load_definition(source.definition)
        except (DefinitionError, OSError):
            definition = None
        if definition is not None and fits_interactions(definition, path):
            facts = source.for_interactions().inbox_dir
            move = move_command(str(path), str(facts))
            command = f" (`{move}`)" if not move.startswith("move it") else ""
            return (
                f"{path}: a file of source {source.source}'s contact facts (its [interactions] "
                f"feed reads every column it maps in it), not a survey export: move it to "
                f"{facts}/{command}, where the next run lands it"
            )
    if isinstance(error, MissingColumns):
        return another_sources_export(source, path, error)
    return None


#: How many of a source's newest deliveries tell the encodings it usually sends, and how
#: much of each is read to tell (up to a line end): a refusal should not read gigabytes.
RECENT_DELIVERIES = 5
ENCODING_SAMPLE_BYTES = 1 << 20


def _recent_deliveries(source: Settings, path: DataPath) -> list[tuple[str, bytes]]:
    """The encodings (``"cp1252"``, ``"UTF-8"``, ``"UTF-16"``) and the first lines (at most
    :data:`ENCODING_SAMPLE_BYTES`) of ``source``'s newest :data:`RECENT_DELIVERIES` raw
    copies other than ``path``'s, newest first. A copy that cannot be unpacked, or that the
    detection reads as latin-1 (no code page known), is left out."""
    from servicelens.ingest.landing import RAW_PREFIX_DIGITS
    from servicelens.ingest.readers import SourceError, decode_to_utf8, unpack_delivery

    refused = hashlib.sha256(read_bytes(path)).hexdigest()[:RAW_PREFIX_DIGITS]
    copies = [
        copy for copy in source.deliveries_dir.glob("*") if not copy.name.startswith((refused, "."))
    ]
    found: list[tuple[str, bytes]] = []
    for copy in sorted(copies, key=modified_at, reverse=True)[:RECENT_DELIVERIES]:
        try:
            data, _ = unpack_delivery(str(copy), read_bytes(copy))
        except SourceError:
            continue
        if len(data) > ENCODING_SAMPLE_BYTES:
            data = data[: data.rfind(b"\n", 0, ENCODING_SAMPLE_BYTES) + 1] or data
        encoding = decode_to_utf8(data)[1]
        label = "UTF-16" if encoding.startswith("utf-16") else encoding
        if label != "latin-1":
            found.append(("UTF-8" if label.startswith("utf-8") else label, data))
    return found


def sent_in_another_code_page(
    source: Settings, definition: SourceDefinition, path: DataPath, error: Exception
) -> str | None:
    """For ``path``, refused for its code page (:class:`~servicelens.ingest.readers.
    CodePageRefused`), the refusal said for a source that delivers in another encoding:
    the one its definition declares, else the ones its recent deliveries were read in
    (:func:`_recent_deliveries`). Its first advice is to have the file sent again as usual
    (:func:`~servicelens.ingest.readers.sent_once_advice`), not to change how every
    delivery is read. None for another error, and for a source with no encoding to go by
    (no delivery landed yet, its definition declaring none)."""
    from collections import Counter

    from servicelens.ingest.readers import CodePageRefused, read_as_unicode, sent_once_advice

    if not isinstance(error, CodePageRefused):
        return None
    declared = definition.read.dialect.encoding
    recent = _recent_deliveries(source, path)
    if declared != "auto":
        usual = [declared]
        kept = [data for label, data in recent if not read_as_unicode(label.lower())]
    else:
        usual = [label for label, _ in Counter(label for label, _ in recent).most_common()]
        page = next((label for label in usual if not read_as_unicode(label.lower())), None)
        kept = [data for label, data in recent if label == page]
    if not usual:
        return None
    return sent_once_advice(error, usual, declared != "auto", kept[0] if kept else None)


def fits_interactions(definition: SourceDefinition, path: str | DataPath) -> bool:
    """Whether ``path`` is a file of ``definition``'s contact-facts feed: the definition
    declares one, the file does not read as its survey export with every column the
    definition maps (another format, or columns it lacks), and the feed's own ``read``
    finds every column the feed maps in it. ``sources check`` previews such a file as the
    feed, and the nightly run tells one dropped beside the surveys where it goes."""
    from servicelens.ingest.mapping import missing_columns, read_export

    if definition.interactions is None:
        return False
    try:
        if not missing_columns(definition, read_export(definition, path).header):
            return False
    except (DefinitionError, ValueError, OSError):
        pass
    facts = definition.interactions_definition()
    try:
        return not missing_columns(facts, read_export(facts, path).header)
    except (DefinitionError, ValueError, OSError):
        return False


def pick_up_deliveries(
    source: Settings, landed_at: datetime | None = None, run_date: date | None = None
) -> list[PickedUp]:
    """Land every file waiting in the source's inbox, then remove it from the inbox.
    ``run_date``: the nightly run's date, the day a whole header-only file whose name holds
    no date is recorded for with 0 responses (:func:`~servicelens.ingest.landing.quiet_day`).

    A file modified too recently to be complete (:func:`inbox_wait`), or one that changed
    while it was read, is left for a later run, its note saying so. A file is removed only
    when its size, modification time and bytes are still the ones landed (one the vendor
    was still writing is landed again, whole, next time, and its note says so). A file that
    cannot be landed (the definition does not fit it) stays in the inbox with its one-line
    error in the result; the other files are landed all the same.

    A source whose definition declares a contact-facts feed (``[interactions]``) has the
    feed's files landed first, from ``inbox/<name>/interactions/``, by the same landing
    (:meth:`~servicelens.ingest.definitions.SourceDefinition.interactions_definition`); a
    file there for a source that declares none stays, its error saying so.
    """
    definition = load_definition(source.definition or source.source)
    facts = source.for_interactions()
    if definition.interactions is not None:
        picked = _land_waiting(facts, definition.interactions_definition(), landed_at, run_date)
    else:
        picked = [
            PickedUp(
                str(path),
                None,
                f"{path}: a contact-facts file, but source {source.source}'s definition "
                "declares no [interactions] feed to read it with; declare one (docs/sources.md, "
                "Contact facts) and register the definition again, or move the file away",
            )
            for path in pending_deliveries(facts)
        ]
    return picked + _land_waiting(source, definition, landed_at, run_date)


def _land_waiting(
    source: Settings,
    definition: SourceDefinition,
    landed_at: datetime | None,
    run_date: date | None = None,
) -> list[PickedUp]:
    """:func:`pick_up_deliveries` of one feed: ``source`` addressing its inbox and landed
    layer, ``definition`` the one its files are read with."""
    picked: list[PickedUp] = []
    settle = source.inbox_settle_seconds
    for path in pending_deliveries(source):
        written = file_state(path)
        if waits := inbox_wait(path, written, settle, time.time()):
            picked.append(PickedUp(str(path), None, note=waits))
            continue
        try:
            landing = land_delivery(source, definition, path, landed_at, run_date)
        except DeliveryChanging:
            said = f"{path.name}: waits: it changed while it was read; taken once unchanged "
            picked.append(PickedUp(str(path), None, note=f"{said}for {settle:g} s"))
            continue
        except EmptyDelivery as empty:
            # Nothing to land. A whole document without records (a paged export's last
            # page) leaves, its raw copy kept. Else it may be a copy not begun (most start
            # at 0 bytes) or cut inside its header: found by a trial, taken for a day without
            # responses and removed, a copy's rest went into the removed file. It stays,
            # skipped each night, until it holds rows. A header that is whole (settled,
            # ending with its line end) is landed as 0 responses (landing.header_only_whole).
            if empty.complete:
                path.unlink()
                said = f"{empty} (it left the inbox; its bytes are kept in the raw zone)"
            else:
                said = (
                    f"{empty}; it stays in the inbox and is landed once it holds rows (delete "
                    "it if none are to come)"
                )
            picked.append(PickedUp(str(path), None, note=said))
            continue
        except (DefinitionError, ValueError, OSError) as error:
            message = belongs_elsewhere(source, path, error)
            if message is None:
                message = sent_in_another_code_page(source, definition, path, error)
                if message is None and raised_by_a_library(error):
                    # Names nothing of the file (difflib's "n must be > 0: 0"): a bug, said
                    # with its log as the CLI says one; the file waits, the others land.
                    message = f"{said_as_a_bug(error, str(path))}; the file stays in the inbox"
                elif message is None:
                    message = str(error)
                if "definition" in message:
                    message += _registered_copy_note(source)
            picked.append(PickedUp(str(path), None, message))
            continue
        # Removed only as landed: a writer paused past the settling time (or one that wrote
        # the same size within the mtime's resolution) is caught by its bytes.
        removed = (
            file_state(path) == written
            and hashlib.sha256(read_bytes(path)).hexdigest() == landing.sha256
        )
        if removed:
            path.unlink()
        note = ""
        if not removed:
            # Its rows as read are landed; landed again whole, its copies supersede them.
            note = (
                f"{path.name}: it changed while it was landed, so it stays in the inbox; its "
                f"rows as read are landed, and it is landed again, whole, once unchanged for "
                f"{settle:g} s"
            )
        elif landing.already_landed:
            # Nothing changed, and the file leaves the inbox: the run says why.
            named = landing.first_named_otherwise
            note = f"{path.name}: already landed{named} (the same bytes); nothing changed"
        elif landing.quiet_day is not None and not landing.periods:
            # 0 responses, and no partition runs for it: the run names it here.
            note = (
                f"{path.name}: {landing.quiet_day_text()} (it left the inbox; its bytes are "
                "kept in the raw zone)"
            )
        elif landing.landed_again and not landing.changed_periods():
            # Landed again under a changed definition, its rows read the same: no partition
            # runs for it, so the run names it here (found by a trial: it left the inbox, and
            # no run said so). One that changed partitions is named by its landing's notes.
            same = "as before" if landing.sent_again or landing.unfinished_before else "under it"
            note = (
                f"{path.name}: {landing.landed_again_text()}; its rows are the same {same}: "
                "no partition changed"
            )
        picked.append(PickedUp(str(path), landing, note=note))
    return picked


@dataclass(frozen=True)
class NotLanded:
    """An inbox file the source's last nightly run could not land, still waiting there."""

    file: str
    #: The refusal as the run said it (the file, line and column, and what to change).
    error: str
    #: When a run first refused it (ISO 8601, UTC).
    refused_since: str
    #: The run that last refused it, and when (ISO 8601, UTC).
    run_id: str
    recorded_at: str

    @property
    def reason(self) -> str:
        """The refusal's first line."""
        return (self.error.strip().splitlines() or ["(no reason recorded)"])[0]

    def waiting(self, now: datetime | None = None) -> str:
        """How long since a run first refused it, in words (``3 h``, ``2 days``)."""
        start = datetime.fromisoformat(self.refused_since)
        seconds = max(((now or datetime.now(UTC)) - start).total_seconds(), 0.0)
        for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
            if seconds >= 2 * size:
                return f"{seconds / size:.0f} {unit}"
        return f"{seconds:.0f} s"


def not_landed(source: Settings) -> list[NotLanded]:
    """The files of ``source``'s inbox its last nightly run refused
    (``storage.runs.record_inbox_failures``) and that still wait there, in the record's
    order; [] for the sample (it has no inbox), for an empty inbox and when every file
    landed. A file moved away or landed since is not listed. ``runs show`` and the run
    report both read it: the report said nothing of a night whose delivery was refused."""
    record = None if source.is_sample else read_inbox_failures(source)
    if not record or not record.get("files"):
        return []
    waiting = {
        str(p)
        for p in (*pending_deliveries(source), *pending_deliveries(source.for_interactions()))
    }
    return [
        NotLanded(
            f["file"],
            f["error"],
            f.get("refused_since") or record["recorded_at"],
            record["run_id"],
            record["recorded_at"],
        )
        for f in record["files"]
        if f["file"] in waiting
    ]


def source_periods(source: Settings, start: date, end: date) -> list[date]:
    """The source's landed partitions whose survey dates fall in ``start``..``end`` (a
    monthly source's partitions are named by the month's first day)."""
    first = period_start(start, source.partition)
    return [p for p in landed_periods(source) if first <= p <= end]


def unlanded_periods(source: Settings, start: date, end: date) -> list[date]:
    """The periods of ``start``..``end`` (days, or months by their first day) with no
    landed partition of ``source``: a backfill has nothing to run for them, because no
    delivery held a survey of those dates."""
    from servicelens.dates import next_period

    landed = set(landed_periods(source))
    period, gaps = period_start(start, source.partition), []
    while period <= end:
        if period not in landed:
            gaps.append(period)
        period = next_period(period, source.partition)
    return gaps


def periods_text(periods: list[date], granularity: str) -> str:
    """``2026-11-03..2026-11-05, 2026-11-09`` (``2019-02..2019-04`` for months): runs of
    consecutive periods written as spans, at most 12 of them, then how many more."""
    from servicelens.dates import next_period

    def name(period: date) -> str:
        return f"{period:%Y-%m}" if granularity == "month" else period.isoformat()

    spans: list[tuple[date, date]] = []
    for period in sorted(periods):
        if spans and next_period(spans[-1][1], granularity) == period:
            spans[-1] = (spans[-1][0], period)
        else:
            spans.append((period, period))
    shown = [name(a) if a == b else f"{name(a)}..{name(b)}" for a, b in spans[:12]]
    more = f" and {len(spans) - 12} more spans" if len(spans) > 12 else ""
    return ", ".join(shown) + more


def inbox_outlook_text(source: Settings, lands: list[DataPath], left: list[str]) -> str:
    """:func:`inbox_outlook`'s answer in words: ``2 file(s) wait in <inbox>: `servicelens
    run` lands them`` for the files a run lands, then each other file with why not
    (``; 1 more it does not land: x.csv: empty (0 bytes): ...``)."""
    said = []
    if lands:
        said.append(
            f"{len(lands)} file(s) wait in {source.inbox_dir}: `servicelens run` lands them"
        )
    if left:
        which = f"{len(left)} more" if lands else f"{len(left)} file(s) in {source.inbox_dir}"
        said.append(f"{which} that `servicelens run` does not land now: " + "; ".join(left))
    return "; ".join(said)


def backfill_dates(
    settings: Settings, start: date, end: date, source: str | None = None
) -> tuple[Settings, list[date]]:
    """What a backfill of ``start``..``end`` runs: the sample's dates, or with ``source`` that
    configured source's settings and its landed partitions in the range (months for a
    monthly source). Raises DefinitionError when ``source`` is not configured, ValueError
    when none of its landed partitions is in the range (saying which ones it has)."""
    if source:
        chosen = configured_source(settings, source)
        periods = source_periods(chosen, start, end)
        if not periods:
            landed = landed_periods(chosen)
            # Files waiting in the inbox are named: a trial with 29 of them there was told to
            # drop its exports into the inbox.
            lands, left = inbox_outlook(chosen)
            waiting = len(lands) + len(left)
            inbox = inbox_outlook_text(chosen, lands, left)
            if landed:
                held = f"its {len(landed)} landed partition(s) span {landed[0]}..{landed[-1]}"
                held += f"; {inbox}" if waiting else ""
            elif waiting:
                held = f"nothing is landed for it yet, and {inbox}"
            else:
                held = (
                    f"nothing is landed for it yet: drop its exports into {chosen.inbox_dir} "
                    "and run `servicelens run`"
                )
            raise ValueError(
                f"source {source!r} has no landed partition between {start} and {end}; {held}"
            )
        return chosen, periods
    return settings, [date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1)]


def plan_source_nightly(
    source: Settings, target: date, as_of: datetime | None = None
) -> list[PlannedDate]:
    """Which partitions of a landed source a nightly run processes: the partition of
    ``target`` (yesterday), and every landed partition whose inputs changed since it was
    last processed. ``target``'s partition, when it is up to date (processed, inputs
    unchanged), is in the plan as skipped, saying so and how to run it again. Landing names
    exactly what a delivery changed, so a late row of any age reprocesses its partition
    (the look-back by checksum, not by a number of days).
    A partition whose last run failed is run again when its inputs change; until then it is
    in the plan as skipped, with what to run once its error is fixed."""
    plan: list[PlannedDate] = []
    nightly = period_start(target, source.partition)
    landed = landed_periods(source)
    if nightly not in landed:
        status = date_status(source, nightly, as_of)
        plan.append(
            PlannedDate(
                nightly, status.state, False, "nothing landed for it", idempotency_key(status)
            )
        )
    for period in landed:
        status = date_status(source, period, as_of)
        if status.state == "failed" and not inputs_changed(source, status):
            # Like the sample's look-back: named every night until it is rerun (a trial's
            # marts stayed a run behind the clean layer, the next night exiting 0 in silence).
            plan.append(
                left_failed(source, status, f"servicelens backfill --source {source.source}")
            )
            continue
        if status.state == "completed" and not inputs_changed(source, status):
            if period == nightly:
                # Named, not left out: a trial's `run --date D` listed nothing for D at all.
                plan.append(
                    PlannedDate(
                        period,
                        status.state,
                        False,
                        "up to date: processed, and nothing landed for it since (to process "
                        f"it again: `servicelens backfill --source {source.source} --start "
                        f"{period} --end {period} --rerun all`)",
                        idempotency_key(status),
                    )
                )
            continue
        reason = (
            "nightly date"
            if period == nightly
            else status.detail
            if status.torn
            else rule_change(source, period) or "inputs changed since last run"
        )
        plan.append(PlannedDate(period, status.state, True, reason, idempotency_key(status)))
    return sorted(plan, key=lambda p: p.day)


#: What a data directory that never received an export is most often: a mistyped one.
NO_EXPORTS_AT_ALL = (
    "{data_dir} holds no exports at all: check --data-dir or SERVICELENS_DATA_DIR; "
    "`servicelens demo` fills a new one with sample data"
)


def holds_nothing(settings: Settings) -> bool:
    """Whether ``settings``' data directory holds nothing of the pipeline's: no sample
    exports' folder (``raw/``), no layer a run wrote (``clean/``, ``marts/``), no configured
    source. Most often a mistyped ``--data-dir`` or prefix.

    On an object store whose bucket does not exist, raises FileNotFoundError saying so (a
    platform engineer's trial was told the bucket "holds no exports at all", where
    ``generate`` named the missing bucket)."""
    nothing = not any(
        (settings.root / folder).exists() for folder in ("raw", "clean", "marts")
    ) and not configured_names(settings)
    if nothing:
        from servicelens.storage.fs import refuse_a_missing_bucket

        refuse_a_missing_bucket(settings.data_dir)
    return nothing


def only_sources(settings: Settings) -> bool:
    """Whether ``settings``' data directory holds configured sources and no sample exports
    (``raw/<date>/``): its runs and backfills take every configured source, not the
    sample's dates (which would all fail with "no survey export")."""
    return not has_sample_exports(settings) and bool(configured_names(settings))


def backfill_refusal(settings: Settings) -> str | None:
    """Why a backfill without ``--source`` cannot run in ``settings``'s data directory, or
    None when it can: a directory holding no export at all is most often a mistyped one (a
    platform engineer's trial: a backfill on a mistyped S3 prefix skipped every date and
    exited 0, creating the prefix's folders). The ``backfill`` flow (flows/pipeline.py) and
    the command line refuse with it. (A directory holding only configured sources backfills
    every one of them: :func:`sources_to_backfill`.)"""
    if holds_nothing(settings):
        return NO_EXPORTS_AT_ALL.format(data_dir=settings.data_dir)
    return None


def sources_to_backfill(
    settings: Settings, start: date, end: date
) -> list[tuple[Settings, list[date]]]:
    """What a backfill of ``start``..``end`` without ``--source`` runs in a data directory
    holding only configured sources (:func:`only_sources`): every configured source, in
    name order as the nightly run takes them, with its landed partitions in the range
    (none: nothing to run for it). A new user's trial re-ran last month one command per
    source, refused without ``--source``. A source whose registered definition cannot be
    read is not among them (its partitions cannot be planned): the ``backfill`` flow
    fails it on its own (:func:`configured_sources_or_unreadable`), the others run."""
    return [
        (source, source_periods(source, start, end))
        for source in configured_sources_or_unreadable(settings)
        if not isinstance(source, UnreadableSource)
    ]
