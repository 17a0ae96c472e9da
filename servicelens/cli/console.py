"""What the command line shows people: progress bars on long work and aligned tables.

Progress is measured, not guessed: a background thread counts what the work has written to
disk (partition manifests, raw files, model versions) since it started. Bars go to stderr and
only appear on a terminal, so ``--json`` output and logs piped to a file stay clean.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from servicelens.runtime import STEPS_LOGGER
from servicelens.storage import strict_json
from servicelens.storage.fs import DataPath, modified_at
from servicelens.validation.reasons import SET_ASIDE_WORDS, SUPERSEDED_WORDS


def print_json(value: Any) -> None:
    """Print a command's ``--json`` output as strict JSON (an undefined number as ``null``:
    :mod:`servicelens.storage.strict_json`), for scripts, jq and JavaScript to read."""
    print(strict_json.dumps(value))


def files_since(pattern_root: DataPath, pattern: str, since: float) -> int:
    """How many files matching ``pattern`` under ``pattern_root`` changed at or after ``since``."""
    if not pattern_root.exists():
        return 0
    count = 0
    for path in pattern_root.glob(pattern):
        try:
            if modified_at(path) >= since:
                count += 1
        except FileNotFoundError:  # swapped out by a concurrent partition write
            continue
    return count


@contextmanager
def progress(
    description: str,
    total: int | None,
    count_done: Callable[[], int],
    enabled: bool = True,
    unit: str = "step",
    poll_seconds: float = 0.5,
) -> Iterator[None]:
    """Show a progress bar for the work inside the ``with`` block.

    ``count_done`` is polled from a thread; it must be cheap and must not raise. The bar is
    shown only when ``enabled`` and stderr is a terminal. With ``total`` None (not known
    before the work finds it) it counts, with the time elapsed.
    """
    if not enabled or not sys.stderr.isatty():
        yield
        return
    # A terminal that reports no size (some ptys, CI consoles) would get no bar at all from
    # tqdm; it gets a 100 x 24 one instead.
    size = shutil.get_terminal_size((100, 24))
    bar = tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        ncols=min(120, size.columns),
        nrows=size.lines,
        # Progress is polled, so tqdm's rate would be jumps per poll: show elapsed and ETA.
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit}s "
        "[{elapsed}<{remaining}]"
        if total is not None
        else "{desc}: {n_fmt} {unit}s done [{elapsed}]",
    )
    ceiling = total if total is not None else sys.maxsize
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(poll_seconds):
            done = min(ceiling, count_done())
            if done != bar.n:
                bar.n = done
                bar.refresh()

    watcher = threading.Thread(target=poll, name="servicelens-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=2)
        bar.n = min(ceiling, count_done())
        bar.refresh()
        bar.close()


#: The attribute of a log record already printed on the terminal (:func:`said_if_slow`).
_SAID = "servicelens_said"


@contextmanager
def said_if_slow(what: str, enabled: bool = True, seconds: float = 3.0) -> Iterator[None]:
    """Say ``servicelens: <what> ...`` on stderr once the block has taken ``seconds``: a
    step with no bar of its own that can take a while (a report read from an object store:
    a platform engineer's trial could not tell "building the report" from hung). On stderr
    only when ``enabled`` and stderr is a terminal, as the progress bars; in the command's
    log file (an INFO line of :data:`~servicelens.runtime.STEPS_LOGGER`) either way."""
    if not enabled:
        yield
        return
    on_terminal = sys.stderr.isatty()

    def say() -> None:
        if on_terminal:
            tqdm.write(f"servicelens: {what} ...", sys.stderr)
        logging.getLogger(STEPS_LOGGER).info(f"{what} ...", extra={_SAID: True})

    timer = threading.Timer(seconds, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _places(values: Sequence[Any]) -> int:
    """The fewest decimal places, 1 to 3, that show every float of a column as it is (to
    1e-9); 3 when none does."""
    floats = [v for v in values if isinstance(v, float) and math.isfinite(v)]
    for places in (1, 2):
        if all(abs(v - round(v, places)) <= 1e-9 * max(1.0, abs(v)) for v in floats):
            return places
    return 3


#: The longest rule drawn under a table's last column (characters).
LAST_COLUMN_RULE = 60


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as an aligned plain-text table: numbers right-aligned; a column's floats to the
    places its values need, 1 to 3 (a column rounded to one place in SQL shows one place,
    ``12952.0``, not ``12952.000``). The last column's rule is at most
    :data:`LAST_COLUMN_RULE` characters; a longer cell runs on past it."""
    if not rows:
        return "(no rows)"
    names = list(columns or rows[0].keys())
    places = {name: _places([row.get(name) for row in rows]) for name in names}

    def text(value: Any, name: str) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.{places[name]}f}"
        if isinstance(value, int):
            return f"{value:,}"
        # A line break inside a cell (a comment written over lines, a cluster's multi-line
        # error) would break the table's rows: shown as a mark, on the cell's one line.
        return " ↵ ".join(str(value).splitlines())

    cells = [[text(row.get(name), name) for name in names] for row in rows]
    numeric = [
        all(isinstance(row.get(name), int | float) or row.get(name) is None for row in rows)
        for name in names
    ]
    widths = [max(len(name), *(len(c[i]) for c in cells)) for i, name in enumerate(names)]
    # The last column is never padded (lines are stripped), so its rule need not reach its
    # longest cell: a failed delivery's message of 900 characters drew a rule that long
    # under the run table's header (found by a trial).
    widths[-1] = min(widths[-1], max(len(names[-1]), LAST_COLUMN_RULE))

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(names), rule, *(line(c) for c in cells)])


def elapsed(start: float) -> str:
    seconds = time.monotonic() - start
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f} min"


#: Where a person reads every quarantined row's reasons (sql/queries/quarantined_rows.sql).
QUARANTINE_HINT = "Each row's file, line and reasons: `servicelens query quarantined_rows`"


#: Below this many rows read, a partition that kept none is not taken as a sign that the
#: export no longer fits its definition (:func:`nothing_kept_note`): a typo'd date or a time
#: in a DST gap makes a partition of one row. A judgement, not a statistic.
NOTHING_KEPT_MIN_ROWS = 10
#: The exit status of ``run`` and ``backfill`` when nothing failed but a date or partition
#: read rows and kept none of them (:func:`kept_none_of_many`), so that a scheduler can act
#: on it: an operations engineer's trial saw 24 of 24 rows quarantined exit 0.
EXIT_KEPT_NOTHING = 4


def trained_rows_line(published: Sequence[dict[str, Any]]) -> str | None:
    """The summary's line on the scored rows whose label the champion trained on (the
    published dates' ``in_training_set`` counts), None when there are none: a data
    scientist's trial read a CFPB demo's counts as predictions, built on those rows'
    in-sample scores."""
    trained = sum(r.get("in_training_set") or 0 for r in published)
    if not trained:
        return None
    scored = sum(r.get("scored") or 0 for r in published)
    return (
        f"{trained:,} of the {scored:,} scored rows are labels the model trained on "
        "(in_training_set): they carry its out-of-fold scores, not fresh predictions"
    )


def kept_none_of_many(row: dict[str, Any]) -> bool:
    """Whether a completed date or partition read at least :data:`NOTHING_KEPT_MIN_ROWS`
    rows and kept none, not all of them older copies a later delivery replaced: an export
    or a definition gone wrong, far more often than a day of bad responses.

    ``row``: a run's outcome row (``outcome``, ``result``: the date's counts, the fields of
    :class:`servicelens.stages.DayCounts`)."""
    result = row.get("result") or {}
    read = int(result.get("surveys_read") or 0)
    if row.get("outcome") != "completed" or read < NOTHING_KEPT_MIN_ROWS or result.get("kept"):
        return False
    return int(result.get("superseded_duplicates") or 0) < read


def nothing_kept_note(result: dict[str, Any]) -> str | None:
    """For a date (or partition) whose run read rows and kept none, which is a definition or
    an export gone wrong far more often than a day of bad responses: what failed most, and
    where each row's reasons are. None when a row was kept or none was read.

    ``result``: a date's outcome result (``surveys_read``, ``kept``, ``failed_expectations``
    as column -> rows, ``malformed_lines``: :class:`servicelens.stages.DayCounts`)."""
    read, kept = result.get("surveys_read"), result.get("kept")
    if not read or kept:
        return None
    if read == (result.get("superseded_duplicates") or 0):
        # Every row is an older copy a later delivery replaced (a corrected date moved it to
        # another partition): nothing is wrong with the export. Found by a trial, where
        # the note asked whether the export still fit its definition.
        return (
            f"all of its {read} rows are {SUPERSEDED_WORDS} (their reasons name the line "
            f"and the partition of each newer copy). {QUARANTINE_HINT}"
        )
    if (result.get("day_first") or 0) + (result.get("superseded_duplicates") or 0) >= read:
        # Every row is explained by day_first_note (a time that reads only day and month
        # swapped) or is an older copy: that note says what to change, once.
        return None
    failed: dict[str, int] = dict(result.get("failed_expectations") or {})
    if result.get("malformed_lines"):
        failed["malformed lines"] = int(result["malformed_lines"])
    top = max(failed.items(), key=lambda item: item[1]) if failed else None
    most = f" (most failed checks: {top[0]}, {top[1]})" if top else ""
    if read < NOTHING_KEPT_MIN_ROWS:
        # A partition of a stray row or two (a typo'd date, a time in a DST gap, each dated
        # where it could be) says nothing of the export: a trial's one-row partition asked
        # whether the export still fit its definition while the rest of it was kept.
        rows = "its 1 row was not kept" if read == 1 else f"none of its {read} rows was kept"
        return f"{rows}{most}. {QUARANTINE_HINT}"
    if top and top[0] == "malformed lines":
        # Records that could not even be split into fields: a damaged or cut-short file
        # (a truncated download) far more often than a changed format.
        return (
            f"none of its {read} rows was kept{most}: is the file damaged or cut short, or "
            f"not the kind of file its reader expects? {QUARANTINE_HINT}"
        )
    return (
        f"none of its {read} rows was kept{most}: does the export still fit what reads it "
        f"(a date format, a renamed column)? {QUARANTINE_HINT}"
    )


def early_warning_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per policy an early warning flagged among a run's dates or partitions, for
    after its table: the date, the source (none for the sample's), then the flag as the
    report and the alert word it (:func:`servicelens.storage.runs.flag_sentence`: the policy,
    its share, normal range and history rate), e.g. "2026-12-02 fibre-sm: early warning:
    INSTALL-WINDOW: 62% of 60 scored negatives were policy failures; normal range 7%-28%
    (history 16%)." Found by a trial: a backfill's flag was in ``--json``, the manifest and
    the report, and not on the terminal.

    ``rows``: outcome rows (``day``, ``result`` with ``early_warning`` as
    :func:`servicelens.outcomes.early_warning` returns it and, for a configured source's
    partition, ``source``); rows without a flag give no line."""
    from servicelens.storage.runs import flag_sentence

    lines = []
    for row in rows:
        result = row.get("result") or {}
        source = f" {result['source']}" if result.get("source") else ""
        for flag in (result.get("early_warning") or {}).get("flags") or []:
            lines.append(f"{row['day']}{source}: early warning: {flag_sentence(flag)}")
    return lines


def quarantined_apart(copies: int, exact: int = 0, updated: int = 0, set_aside: int = 0) -> str:
    """What a run's table says after "quarantined N" of the rows among them that are no
    rejects, e.g. " (3 of them superseded by a later line or delivery: 1 exact duplicate, 2
    duplicate deliveries)", or "" when there are none. ``copies``: the earlier copies a
    later line or delivery replaced (the quarantine's ``superseded`` rows), ``exact`` and
    ``updated`` of them those a later line of the same file repeats and the earlier
    versions changed since, each kind as its rows' reasons name it; ``set_aside``: the rows
    the definition's ``[[exclude]]`` rules set aside. The surveys' counts and the contact
    feed's are said alike (:func:`counts_detail`)."""
    # Older copies a re-delivery replaced are quarantined too (nothing is lost), but they
    # are not rejects: a trial read "quarantined 24" of a re-delivered export as 24 failures.
    # Not "later deliveries" alone: a trial's exact duplicate within one file (a form
    # submitted twice) is one too, its reason naming the later line of the same file. One
    # word for them all, then each kind by its reasons' name ('exact duplicate' for a later
    # line of the same file with the same answers, 'updated' for one with others, else
    # 'duplicate delivery'), so the counts add up to the one the quarantine's superseded
    # column and rows_superseded give.
    kinds = [
        f"{count} {name if count == 1 else plural}"
        for count, name, plural in (
            (exact, "exact duplicate", "exact duplicates"),
            (updated, "updated", "updated"),
            (copies - exact - updated, "duplicate delivery", "duplicate deliveries"),
        )
        if count
    ]
    # Rows the definition's [[exclude]] rules set aside are quarantined too, and are not
    # rejects either: a bank analyst's trial read "quarantined 1" of a Qualtrics preview
    # that processed_dates counted as rows_set_aside 1, rows_rejected 0.
    # Set aside first, as its words hold no colon of their own; never "; ", which parts the
    # notes after the counts.
    apart = [
        (count, words)
        for count, words in (
            (set_aside, SET_ASIDE_WORDS),
            (copies, f"{SUPERSEDED_WORDS}: {', '.join(kinds)}"),
        )
        if count
    ]
    said = ", ".join(
        f"{count} {'of them ' if i == 0 else ''}{words}" for i, (count, words) in enumerate(apart)
    )
    return f" ({said})" if apart else ""


def counts_detail(result: dict[str, Any], flag: str = "") -> str:
    """A completed date's or partition's counts for a run's table ("read 24 kept 20
    quarantined 4 scored 9", "quarantined 4 (3 of them superseded by a later
    line or delivery: 1 exact duplicate, 2 duplicate deliveries)" where a re-delivery, or a
    later line of the same file, superseded rows, each kind as its rows' reasons name it;
    "quarantined 1 (1 of them set aside by the source definition)" where the definition's
    ``[[exclude]]`` rules set rows aside, as ``processed_dates.rows_set_aside`` counts them),
    ``flag`` after them, then the date's contact-facts counts where some of its contacts
    were quarantined, said as the surveys' are ("contacts read 412 kept 410 quarantined 2
    (1 of them superseded by a later line or delivery: 1 updated)": ``interactions_read``,
    ``interactions_quarantined`` and ``interactions_superseded``..., the rows of the
    sample's interaction export or a source's ``[interactions]`` feed dated that day, read =
    kept + quarantined, + ``interactions_erased`` where erased on request), then
    :func:`changed_note` where a rerun changed them, then :func:`withdrawn_note` and
    :func:`nothing_kept_note` where they apply. ``result``: a date's outcome result."""
    replaced = quarantined_apart(
        result.get("superseded_duplicates") or 0,
        result.get("exact_duplicates") or 0,
        result.get("updated_copies") or 0,
        result.get("set_aside") or 0,
    )
    text = (
        f"read {result.get('surveys_read')} kept {result.get('kept')} quarantined "
        f"{result.get('quarantined')}{replaced}"
        # Rows of subjects erased on request (servicelens erase): read = kept + quarantined
        # + erased.
        + (f" erased {erased}" if (erased := result.get("erased")) else "")
        + f" scored {result.get('scored')}{flag}"
    )
    # The feed's quarantined rows are in the quarantine mart beside the surveys' (feed =
    # 'interactions'), not in the counts above: a trial's table read "quarantined 0" of a
    # day whose contact export had two rows quarantined, told only by --json. Said as the
    # surveys' are, the earlier copies a corrected re-delivery replaced apart: a trial read
    # "contacts read 1976, quarantined 581" of 581 such copies and no reject.
    contacts = []
    quarantined = result.get("interactions_quarantined") or 0
    # Contacts of subjects erased on request, as the surveys' above: read = kept +
    # quarantined + erased.
    gone = result.get("interactions_erased") or 0
    if quarantined or gone:
        read = result.get("interactions_read") or 0
        apart = quarantined_apart(
            result.get("interactions_superseded") or 0,
            result.get("interactions_exact_duplicates") or 0,
            result.get("interactions_updated") or 0,
        )
        contacts.append(
            f"contacts read {read} kept {read - quarantined - gone} quarantined "
            f"{quarantined}{apart}" + (f" erased {gone}" if gone else "")
        )
    return "; ".join([text, *contacts, *changed_note(result), *partition_notes(result)])


def changed_note(result: dict[str, Any]) -> list[str]:
    """``["changed since its previous run: kept 4,892 -> 3,869, ..."]`` when a date run
    again (``result["previous_counts"]``: its published counts before this run, see
    :mod:`servicelens.reporting.rerun`) has other counts than before, else ``[]``."""
    from servicelens.reporting.rerun import counts_change

    change = counts_change(result.get("previous_counts"), result)
    return [f"changed since its previous run: {change}"] if change else []


def partition_notes(result: dict[str, Any]) -> list[str]:
    """What a run's table says of a completed date or partition beyond its counts
    (``result``: its outcome result, the fields of servicelens.stages.DayCounts):
    :func:`awaiting_contact_facts_note`, :func:`contact_days_not_landed_note`,
    :func:`withdrawn_note`, :func:`day_first_note`,
    :func:`undated_note` and :func:`nothing_kept_note`, where they apply."""
    notes = [
        n
        for n in (
            awaiting_contact_facts_note(result),
            contact_days_not_landed_note(result),
            withdrawn_note(result),
            day_first_note(result),
            swapped_nearer_note(result),
            undated_note(result),
            nothing_kept_note(result),
        )
        if n
    ]
    # Where to read the rows' reasons is said once, after the last note (a trial's line
    # said it twice).
    # Joined with "; ", a note the hint no longer ends ends without its full stop (a trial
    # read "until then.; none of its 2 rows").
    hint = f" {QUARANTINE_HINT}"
    return [
        n.removesuffix(hint).removesuffix(".") if i < len(notes) - 1 else n
        for i, n in enumerate(notes)
    ]


def contact_days_not_landed_note(result: dict[str, Any]) -> str | None:
    """For a source's date (or partition) some of whose kept responses name a contact its
    feed gives no facts for, while days of the feed's look-back window before it have no
    export landed (``contact_days_not_landed`` in its counts, servicelens.stages.DayCounts):
    which days, since the contacts may have started then. None where there are none. Only
    the date's own missing export was told (:func:`awaiting_contact_facts_note`)."""
    days = result.get("contact_days_not_landed") or []
    if not days:
        return None
    return (
        f"the contact feed has no export for {', '.join(days)} of this date's contact "
        "look-back: responses naming contacts started then were published without contact "
        "facts; they are filled in when the export lands and this date is processed again"
    )


def awaiting_contact_facts_note(result: dict[str, Any]) -> str | None:
    """For a source's date (or partition) whose contact feed has no export landed for it
    while some of its kept responses name a contact (``awaiting_contact_facts`` in its
    counts, servicelens.stages.DayCounts): how many responses were published without
    their contact facts, and that they are filled in when the export lands. None where
    every response found its contact, the source has no feed, or the feed delivered an
    export for the date, empty or not. Found by a trial: a day's contact export delivered
    two days late left its 582 responses without queue, policy or handle time
    (``repeat_contacts_30d`` null), and the run said nothing."""
    waiting = result.get("awaiting_contact_facts") or 0
    if not waiting:
        return None
    kept = result.get("kept") or 0
    return (
        f"the contact feed has no export for this date yet: {waiting} of its {kept} kept "
        f"responses {'was' if waiting == 1 else 'were'} published without contact facts "
        "(the feed's columns and repeat_contacts_30d null); they are filled in when the "
        "feed's export for this date lands: the next `servicelens run` processes this date "
        "again"
    )


def undated_note(result: dict[str, Any]) -> str | None:
    """For a date or partition holding rows filed under it only as their delivery's day, their
    own date unreadable (``undated`` in its counts, servicelens.stages.DayCounts; the day
    is the one the delivery's file name holds, else that most of its rows fall on, else the
    day it was landed: servicelens.ingest.landing.undated_rows_day, which the delivery's
    note names): how many, and that the date is not theirs. Found by a trial: a
    SurveyMonkey row with an empty End Date read "2026-12-05 read 1 kept 0 quarantined 1",
    a day of responses on a BI date axis where none was."""
    undated = result.get("undated") or 0
    if not undated:
        return None
    read = result.get("surveys_read") or 0
    rows = (
        f"all of its {read} rows are"
        if undated == read and read > 1
        else f"its {read} row is"
        if undated == read
        else f"{undated} of its {read} rows {'is' if undated == 1 else 'are'}"
    )
    own, what = ("its", "a response") if undated == 1 else ("their", "responses")
    return (
        f"{rows} filed under this date, {own} delivery's day, because {own} own date "
        f"(submitted_at) could not be read: not {what} of this date "
        "(processed_dates.rows_undated)"
    )


def day_first_note(result: dict[str, Any]) -> str | None:
    """For a partition some of whose times read only with day and month swapped from the
    definition's format (``day_first`` in its counts, servicelens.stages.DayCounts): how
    many, what to declare, and how many kept rows may be misdated (``maybe_misdated``)."""
    day_first = result.get("day_first") or 0
    if not day_first:
        return None
    maybe = result.get("maybe_misdated") or 0
    rows = (
        "row was quarantined because its time reads"
        if day_first == 1
        else "rows were quarantined because their times read"
    )
    kept = (
        f"; {maybe} kept row{'' if maybe == 1 else 's'} read either way and may be misdated "
        "until then"
        if maybe
        else "; rows of the export that read either way are kept, misdated, until then"
    )
    from servicelens.validation.expectations import DECLARE_SWAPPED_ORDER

    return (
        f"{day_first} {rows} only with day and month swapped: {DECLARE_SWAPPED_ORDER}{kept}. "
        f"{QUARANTINE_HINT}"
    )


def swapped_nearer_note(result: dict[str, Any]) -> str | None:
    """For a partition whose kept rows are a delivery every time of which reads either way
    round, and whose times read with day and month swapped fall much nearer the day it was
    landed (``swapped_nearer`` and ``maybe_misdated`` in its counts,
    servicelens.stages.DayCounts): both dates, and what to do. Found by a trial: 12 calls
    of 5 Nov written 11/05/2026 were published as 11 May, exit 0, without a word."""
    dates = result.get("swapped_nearer") or {}
    maybe = result.get("maybe_misdated") or 0
    if not dates or not maybe or result.get("day_first"):
        return None
    from datetime import date

    from servicelens.validation.expectations import DECLARE_SWAPPED_ORDER

    landed = date.fromisoformat(dates["landed"])

    def before(day: str) -> str:
        days = (landed - date.fromisoformat(day)).days
        return f"{days} day{'' if days == 1 else 's'} before"

    rows = "kept row reads" if maybe == 1 else "kept rows read"
    example = ""
    if "response_id" in dates:
        example = (
            f" ({'' if maybe == 1 else 'one of them: '}row {dates['response_id']}, line "
            f"{dates['line']} of {dates['file']}: '{dates['value']}')"
        )
    return (
        f"{maybe} {rows} either way round and may be misdated{example}: as the definition's format "
        f"reads them they are of {dates['as_read']}, {before(dates['as_read'])} their delivery "
        f"was landed ({dates['landed']}), and with day and month swapped of "
        f"{dates['swapped']}, {before(dates['swapped'])}: {DECLARE_SWAPPED_ORDER}, or have "
        "it saved again as the definition declares"
    )


def withdrawn_note(result: dict[str, Any]) -> str | None:
    """For a date or partition where a newer delivery of a response failed its checks, or
    was set aside by the source's definition, and so took the response out of the clean
    layer and the marts (``withdrawn`` in its counts, servicelens.stages.DayCounts): how
    many, and where the reasons are."""
    withdrawn = result.get("withdrawn") or 0
    if not withdrawn:
        return None
    what = "response is" if withdrawn == 1 else "responses are"
    return (
        f"{withdrawn} {what} in no mart now: a newer delivery failed its checks (fix it and "
        "deliver it again) or is set aside by the definition, and superseded the older "
        f"copies. {QUARANTINE_HINT}"
    )


def warning_line(message: str) -> str:
    """``message`` as every command prints a warning on stderr: ``servicelens: warning:``
    before it, as ``servicelens: error:`` comes before an error, so a reader (or a ``grep``)
    tells a warning from a step's note. The one place that prefix is written: the commands'
    own warnings and those :func:`said_on_terminal` prints for a run."""
    return f"servicelens: warning: {message}"


@contextmanager
def said_on_terminal() -> Iterator[None]:
    """Print servicelens's own warnings (a date waiting for a slot, a dead run recovered, an
    audit file refused) on stderr, above a progress bar, whatever Prefect's log settings
    are, each as :func:`warning_line` says it (an error logged as one, ``servicelens:
    error:``); they still reach the command's log file (the CLI silences the console
    handlers, so they are said once). Used by ``backfill`` and ``run``: a trial found
    ``run`` recovering a dead run of its date in silence, the warning in the log file only;
    another found ``run`` printing an audit file's refusal with no ``warning:``, which
    ``review-queue`` printed with it."""

    class Terminal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            said = (
                f"servicelens: error: {message}"
                if record.levelno >= logging.ERROR
                else warning_line(message)
            )
            tqdm.write(said, file=sys.stderr)

    logger = logging.getLogger("servicelens")
    handler = Terminal(logging.WARNING)
    logger.addHandler(handler)
    try:
        with steps_said():
            yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def steps_said() -> Iterator[None]:
    """Print the INFO lines of :data:`~servicelens.runtime.STEPS_LOGGER` (a run's steps
    after its dates: the weekly marts' rebuild, the run report) on stderr, above a progress
    bar, when stderr is a terminal: the bar (at 100 %) does not show them, and a trial's
    backfill on S3 said nothing for 4 minutes after its last date."""
    if not sys.stderr.isatty():
        yield
        return

    class Terminal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # Warnings: said_on_terminal says them; said_if_slow says its own line.
            if record.levelno < logging.WARNING and not getattr(record, _SAID, False):
                tqdm.write(f"servicelens: {record.getMessage()}", file=sys.stderr)

    steps = logging.getLogger(STEPS_LOGGER)
    handler = Terminal(logging.INFO)
    steps.addHandler(handler)
    level = steps.level
    steps.setLevel(logging.INFO)
    try:
        yield
    finally:
        steps.removeHandler(handler)
        steps.setLevel(level)
