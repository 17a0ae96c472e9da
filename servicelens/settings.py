"""One typed settings object, built at the entry point and passed down.

Nothing here touches the disk or the environment at import time: :func:`Settings.from_env`
is called by the CLI (or a test) and the result is handed to flows as a parameter.
"""

from __future__ import annotations

import difflib
import math
import os
import secrets
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from servicelens.storage.fs import DataPath, as_path, machine_folder_for, store_bounds

DEFAULT_DATA_DIR = "./data"

#: Every ``SERVICELENS_*`` variable servicelens reads (README "Configuration"), with those
#: the tests and the embedded API set for a process they start. Any other is a typo
#: :func:`unread_variables` names: a trial's data directory variable spelt without its
#: second underscore quietly ran on ``./data``, and its timezone variable missing its last
#: letter on the default timezone. A test checks that every name the code reads is here.
VARIABLES = frozenset(
    {
        "SERVICELENS_AGENT_KEY",
        "SERVICELENS_AGENT_KEY_FILE",
        "SERVICELENS_AUDIT_DATE_ORDER",
        "SERVICELENS_BACKFILL_SLOTS",
        "SERVICELENS_CACHE_DIR",
        "SERVICELENS_DASK_ADDRESS",
        "SERVICELENS_DATA_DIR",
        "SERVICELENS_EARLY_WARNING_FDR",
        "SERVICELENS_EARLY_WARNING_HISTORY_DAYS",
        "SERVICELENS_FIX_LIST_WINDOW_DAYS",
        "SERVICELENS_HEARTBEAT_SECONDS",
        "SERVICELENS_INBOX_SETTLE_SECONDS",
        "SERVICELENS_LOG_KEEP",
        "SERVICELENS_LOOKBACK_DAYS",
        "SERVICELENS_MIN_AGENT_CONTACTS",
        "SERVICELENS_NIGHTLY_CRON",
        "SERVICELENS_NOTIFY_URL",
        "SERVICELENS_PAUSE_AT",
        "SERVICELENS_PAUSE_FILE",
        "SERVICELENS_PAUSE_SECONDS",
        "SERVICELENS_REPORT_KEEP",
        "SERVICELENS_RETRAIN_CRON",
        "SERVICELENS_RETURN_WINDOW_DAYS",
        "SERVICELENS_SERVING_API",
        "SERVICELENS_SLOT_LEASE_SECONDS",
        "SERVICELENS_STORE_ATTEMPTS",
        "SERVICELENS_STORE_CONNECT_SECONDS",
        "SERVICELENS_STORE_READ_SECONDS",
        "SERVICELENS_TIMEZONE",
    }
)


def unread_variables(environ: dict[str, str] | None = None) -> list[str]:
    """One warning per ``SERVICELENS_*`` variable of ``environ`` (default: the process's)
    that servicelens does not read (:data:`VARIABLES`), naming the closest one it reads,
    in name order: a misspelt variable is otherwise ignored in silence, and the command
    runs on the default it was meant to change."""
    names = sorted(
        n
        for n in (os.environ if environ is None else environ)
        if n.startswith("SERVICELENS_") and n not in VARIABLES
    )
    warnings = []
    for name in names:
        close = difflib.get_close_matches(name, VARIABLES, n=1, cutoff=0.8)
        meant = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a variable servicelens reads{meant}: it is ignored")
    return warnings


DEFAULT_TIMEZONE = "Europe/London"
#: 02:30 business time: after the vendors' midnight exports, and outside the 01:00-02:00
#: hour that a spring-forward change skips.
DEFAULT_NIGHTLY_CRON = "30 2 * * *"
DEFAULT_RETRAIN_CRON = "0 5 * * 0"
#: Surveys a day in generated sample data (``demo``, ``generate``). At 28 days that is about
#: 18,000 QA audits, 13,500 of them before the time split's holdout: the model needs about
#: 10,000 audits to come within 2 points of the oracle (learning curve, README "## The model").
SAMPLE_PER_DAY = 5_000
#: The agent pseudonym key file when none is configured: beside ``.prefect/``, not in the
#: data; relative to :func:`project_dir`.
DEFAULT_AGENT_KEY_FILE = ".servicelens/agent.key"


def _refuse_a_second_key(path: Path) -> None:
    """Raise ValueError when the working directory holds a default agent key (where earlier
    versions kept it) that is not the project's key at ``path``: made with it, the agents'
    published pseudonyms would all change. Which to keep is the user's call."""
    legacy = (Path.cwd() / DEFAULT_AGENT_KEY_FILE).resolve()
    if legacy == path or not legacy.exists():
        return
    if path.exists() and path.read_text().strip() == legacy.read_text().strip():
        return
    other = f"another at {path}" if path.exists() else f"none at {path}"
    raise ValueError(
        f"an agent key is at {legacy} (in the working directory, where earlier versions kept "
        f"it) and {other}, where it is kept now: the agents' pseudonyms were made with one of "
        f"them. Keep that one: move it (mv {legacy} {path}), or point "
        "SERVICELENS_AGENT_KEY_FILE at it"
    )


def project_dir() -> Path:
    """The checkout servicelens runs from (the folder holding its ``pyproject.toml``): where
    the agent key, Prefect's home and the caches live unless configured, whichever folder a
    command is run from; the working directory for a copy installed without its checkout.

    Relative to the working directory, a nightly job started from another folder than an
    analyst's backfill used another agent key, so one agent got two pseudonyms."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


#: The raw exports of one survey date, in ``raw/<date>/``.
SURVEYS_FILE = "surveys.csv"
INTERACTIONS_FILE = "interactions.jsonl"
#: A configured source's contact-facts feed (``[interactions]`` of its definition): the name
#: of its inbox sub-folder, and of its quarantine rows' ``feed``, as the sample's exports.
INTERACTIONS_FEED = "interactions"
AUDITS_FILE = "audits.csv"
#: Prefect's setting for where its API keeps concurrency-slot leases, and the storage that
#: keeps them in files under PREFECT_HOME. The CLI sets it for the embedded API: the default
#: keeps leases in memory, which dies with the embedded API, and every slot it had leased
#: would stay taken for good (flows/slots.py).
PREFECT_LEASE_STORAGE_VARIABLE = "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"
PREFECT_FILE_LEASES = "prefect.server.concurrency.lease_storage.filesystem"
#: Prefect's bounds on a backfill slot's lease, in seconds (``SERVICELENS_SLOT_LEASE_SECONDS``).
SLOT_LEASE_BOUNDS = (60.0, 86_400.0)


class SettingError(ValueError):
    """A ``SERVICELENS_*`` variable holds a value no command can use; nothing was done."""


def _refusal(name: str, value: str, wanted: str, default: object) -> SettingError:
    return SettingError(f"{name}={value!r}: use {wanted}, or unset it for the default ({default})")


def _whole_number(name: str, default: int, minimum: int) -> int:
    """The whole number in variable ``name`` (``default`` when unset or empty); raises
    :class:`SettingError` for anything else or a number below ``minimum``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise _refusal(name, text, f"a whole number of {minimum} or more", default)
    return value


def _number(
    name: str,
    default: float,
    wanted: str,
    low: float,
    high: float = math.inf,
    inclusive: bool = False,
) -> float:
    """The number in variable ``name`` (``default`` when unset or empty), which must lie
    above ``low`` and below ``high`` (or between them, ends included, with ``inclusive``);
    raises :class:`SettingError` saying ``wanted`` otherwise."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    within = low <= value <= high if inclusive else low < value < high
    if not within:  # NaN too: every comparison with it is false
        raise _refusal(name, text, wanted, f"{default:g}")
    return value


def checked_timezone(value: str, name: str = "SERVICELENS_TIMEZONE") -> str:
    """``value`` if it is an IANA timezone this machine knows (``Europe/London``); raises
    :class:`SettingError` naming the variable ``name``, the value and the closest name
    (``Europe/Berlin`` for ``Europe/Berln``, ``Europe/London`` for ``europe/london``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    try:
        ZoneInfo(value)
    # ValueError: a key ZoneInfo refuses outright (empty, absolute, with "..").
    except (ZoneInfoNotFoundError, ValueError):
        # Only on the refusal: listing the zones reads the whole tz database (~50 ms).
        zones = available_timezones()
        by_case = {zone.lower(): zone for zone in zones}
        close = [by_case[value.lower()]] if value.lower() in by_case else []
        close = close or difflib.get_close_matches(value, sorted(zones), n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SettingError(
            f"{name}={value!r}: not a timezone name{hint}; use an IANA name such as "
            f"{DEFAULT_TIMEZONE} or America/New_York, or unset it for the default "
            f"({DEFAULT_TIMEZONE})"
        ) from None
    return value


def environment_timezone() -> str:
    """The business timezone ``SERVICELENS_TIMEZONE`` names, checked (:func:`checked_timezone`);
    :data:`DEFAULT_TIMEZONE` when it is unset."""
    return checked_timezone(os.environ.get("SERVICELENS_TIMEZONE", DEFAULT_TIMEZONE))


def timezone_origin(timezone: str) -> str:
    """Where a command's business timezone ``timezone`` came from, in words for a message:
    ``SERVICELENS_TIMEZONE`` when the variable names it, the default when the variable is
    unset and it is :data:`DEFAULT_TIMEZONE`, else the settings the run was given (a flow
    called with them)."""
    if os.environ.get("SERVICELENS_TIMEZONE") == timezone:
        return "SERVICELENS_TIMEZONE"
    if "SERVICELENS_TIMEZONE" not in os.environ and timezone == DEFAULT_TIMEZONE:
        return "the default: SERVICELENS_TIMEZONE is not set"
    return "the settings this run was given"


@dataclass(frozen=True)
class Settings:
    """Where data lives and how the pipeline behaves; passed to every flow."""

    data_dir: str = DEFAULT_DATA_DIR
    timezone: str = DEFAULT_TIMEZONE
    seed: int = 7
    #: How many days of interaction files before a survey date are joined to its surveys.
    interaction_lookback_days: int = 2
    #: Responses with a calibrated probability inside this band are marked needs_review.
    review_band: tuple[float, float] = (0.35, 0.65)
    #: When the nightly deployment runs, and in which timezone it reads the cron.
    nightly_cron: str = DEFAULT_NIGHTLY_CRON
    retrain_cron: str = DEFAULT_RETRAIN_CRON
    #: Surveys arrive late: the nightly run re-checks this many dates before yesterday and
    #: reprocesses those whose input checksums changed.
    late_data_lookback_days: int = 3
    #: Slots of the global concurrency limit that backfill dates share; the nightly run does not
    #: take from it, so a large backfill cannot starve it.
    backfill_slots: int = 2
    #: Apprise URL (e.g. ``json://host/path``, ``mailto://...``) alerted when a nightly run fails.
    notify_url: str | None = None
    #: How many command log files (``<data-dir>/logs/servicelens-*.log``) are kept: when a
    #: command starts writing its log, the oldest beyond this many are deleted.
    log_keep: int = 200
    #: How many run reports (``<data-dir>/reports/report-*.html``, 0.1-0.2 MB each) are kept:
    #: each new report deletes the oldest beyond this many. ``latest.html`` is always kept.
    report_keep: int = 200
    #: How long a run waits for another run of the same date to finish before refusing.
    lock_wait_seconds: float = 600.0
    #: A customer contacting the same queue again within this many days after a contact means
    #: the contact did not resolve the problem (first-contact resolution).
    return_window_days: int = 7
    #: An agent is judged on a week only with at least this many settled contacts.
    min_agent_contacts: int = 20
    #: Where the key of the agents' pseudonyms (HMAC-SHA256) is kept when
    #: ``SERVICELENS_AGENT_KEY`` is not set: a file created on first use, never in the data
    #: directory (pseudonyms next to their key would be no pseudonyms). Empty: ``.servicelens/
    #: agent.key`` in :func:`project_dir` (the checkout), whichever folder a command runs from.
    agent_key_file: str = ""
    #: Show the sources' agent ids in the marts as recorded, not pseudonymised (only where the
    #: source definition allows it).
    reveal_agent_ids: bool = False
    #: The fix list's "window" rows cover this many survey dates up to each week's last one.
    fix_list_window_days: int = 28
    #: Early warning: a policy's failure share today is compared with this many days before.
    early_warning_history_days: int = 28
    #: Early warning: false discovery rate across the policies tested each night (Benjamini-
    #: Hochberg). On a night without any real rise it is the chance of any false flag at all.
    early_warning_fdr: float = 0.01
    #: Early warning: a flag also needs the share to be this far (absolute) above normal.
    early_warning_min_rise: float = 0.05
    #: Early warning: a policy is tested only with at least this many days of history.
    early_warning_min_history_days: int = 7
    #: The source whose layers these settings address: ``sample`` (the generated data, at the
    #: top of the data directory) or a source definition's name (under ``sources/<name>/``).
    source: str = "sample"
    #: The source's definition: a built-in name or a file path (None for the sample).
    definition: str | None = None
    #: The rule the source's definition calls a response negative by, as
    #: ``SourceDefinition.negative_rule`` writes it (``csat <= 3``); empty for the sample, or
    #: where no definition was loaded. A clean partition cleaned under another runs again.
    negative_rule: str = ""
    #: How QA's slashed ``audited_at`` dates (``03/12/2026``) read when no date of their file
    #: says (none with a day above 12): ``day-first`` (the UK, most of Europe),
    #: ``month-first`` (the US), or empty: such a file's slashed dates are set aside, saying
    #: so. ``SERVICELENS_AUDIT_DATE_ORDER``.
    audit_date_order: str = ""
    #: ``day`` or ``month``: the survey dates one partition of this source holds.
    partition: str = "day"
    #: Whether the source's definition declares a contact-facts feed (``[interactions]``):
    #: its survey partitions are then built from the feed's landed partitions too
    #: (:func:`day_input_files`), so facts landed late reprocess the surveys they join.
    interaction_feed: bool = False
    #: Which of a configured source's feeds these settings land: ``surveys`` (the default)
    #: or ``interactions``, the contact facts (:meth:`for_interactions`), whose inbox is
    #: ``inbox/<name>/interactions/`` and landed layer ``landed/interactions``.
    feed: str = "surveys"
    #: How often a run in flight rewrites its record under ``runs/in-flight/`` (its
    #: heartbeat). Across machines a record that missed ``STALE_BEATS`` beats is a dead run's.
    heartbeat_seconds: float = 5.0
    #: How long a backfill slot stays taken after its holder stops renewing it (a process
    #: that died): the live holder renews its lease well before then. Prefect's minimum is 60.
    slot_lease_seconds: float = 60.0
    #: An inbox file modified within this many seconds may still be being copied: it waits
    #: for a later run (``servicelens.ingest.configured.inbox_wait``). A copy, a download or
    #: a sync client writes without pauses of a minute; a trial's writer paused 35 s half way
    #: and its file was landed cut off. A night's file that waits is taken the next night.
    inbox_settle_seconds: float = 60.0

    @classmethod
    def from_env(cls, data_dir: str | None = None, **overrides: object) -> Settings:
        """Build settings from CLI values, falling back to ``SERVICELENS_*`` variables; in
        the timezone the data directory records unless ``SERVICELENS_TIMEZONE`` or
        ``overrides`` name one (:meth:`in_recorded_timezone`).

        Raises :class:`SettingError` (one line naming the variable, its value and what it
        must be) when a variable holds a value no command can use."""
        chosen_settings = replace(cls.from_variables(data_dir), **overrides)  # type: ignore[arg-type]
        if "SERVICELENS_TIMEZONE" in os.environ or "timezone" in overrides:
            return chosen_settings
        return chosen_settings.in_recorded_timezone()

    @classmethod
    def from_variables(cls, data_dir: str | None = None) -> Settings:
        """Settings from ``data_dir`` and the ``SERVICELENS_*`` variables alone, reading no
        file: the command line checks the variables with it before it parses its arguments
        (``--help`` dates its examples in ``SERVICELENS_TIMEZONE``).

        Raises :class:`SettingError` when a variable holds a value no command can use."""
        chosen = data_dir or os.environ.get("SERVICELENS_DATA_DIR") or DEFAULT_DATA_DIR
        try:
            store_bounds()  # read when an object store's filesystem is made: refused here
        except ValueError as refused:
            raise SettingError(str(refused)) from None
        return cls(
            data_dir=str(chosen),
            timezone=environment_timezone(),
            nightly_cron=os.environ.get("SERVICELENS_NIGHTLY_CRON", DEFAULT_NIGHTLY_CRON),
            retrain_cron=os.environ.get("SERVICELENS_RETRAIN_CRON", DEFAULT_RETRAIN_CRON),
            late_data_lookback_days=_whole_number("SERVICELENS_LOOKBACK_DAYS", 3, minimum=0),
            # 0 slots: no backfill date could ever take one; Prefect's API refused each with a
            # raw 422 and the date's failure could not be recorded (a new analyst's trial).
            backfill_slots=_whole_number("SERVICELENS_BACKFILL_SLOTS", 2, minimum=1),
            log_keep=_whole_number("SERVICELENS_LOG_KEEP", 200, minimum=1),
            report_keep=_whole_number("SERVICELENS_REPORT_KEEP", 200, minimum=1),
            notify_url=os.environ.get("SERVICELENS_NOTIFY_URL") or None,
            return_window_days=_whole_number("SERVICELENS_RETURN_WINDOW_DAYS", 7, minimum=1),
            min_agent_contacts=_whole_number("SERVICELENS_MIN_AGENT_CONTACTS", 20, minimum=1),
            # Unset: the project's (agent_key); a relative path is the working directory's.
            agent_key_file=(
                str(Path(configured_key).expanduser().resolve())
                if (configured_key := os.environ.get("SERVICELENS_AGENT_KEY_FILE"))
                else ""
            ),
            fix_list_window_days=_whole_number("SERVICELENS_FIX_LIST_WINDOW_DAYS", 28, minimum=1),
            early_warning_history_days=_whole_number(
                "SERVICELENS_EARLY_WARNING_HISTORY_DAYS", 28, minimum=1
            ),
            early_warning_fdr=_number(
                "SERVICELENS_EARLY_WARNING_FDR", 0.01, "a share above 0 and below 1", 0.0, 1.0
            ),
            heartbeat_seconds=_number(
                "SERVICELENS_HEARTBEAT_SECONDS", 5.0, "a number of seconds above 0", 0.0
            ),
            slot_lease_seconds=_number(
                "SERVICELENS_SLOT_LEASE_SECONDS",
                60.0,
                f"a number of seconds from {SLOT_LEASE_BOUNDS[0]:g} to "
                f"{SLOT_LEASE_BOUNDS[1]:g} (Prefect's bounds on a lease)",
                SLOT_LEASE_BOUNDS[0],
                SLOT_LEASE_BOUNDS[1],
                inclusive=True,
            ),
            inbox_settle_seconds=_number(
                "SERVICELENS_INBOX_SETTLE_SECONDS",
                60.0,
                "a number of seconds of 0 or more",
                0.0,
                inclusive=True,
            ),
            audit_date_order=checked_date_order(os.environ.get("SERVICELENS_AUDIT_DATE_ORDER", "")),
        )

    def in_recorded_timezone(self) -> Settings:
        """These settings in the business timezone the data directory's partitions record
        (``storage.runs.recorded_timezone``), when they record one; as they are otherwise,
        or when the directory cannot be read (the command's own checks then say why).

        Raises the error of an object store that does not answer
        (:func:`servicelens.storage.fs.store_not_answering`): its request spent every attempt
        (up to ``SERVICELENS_STORE_ATTEMPTS`` x ``SERVICELENS_STORE_READ_SECONDS``), and the
        command's next request would wait the same before saying so. A trial's
        ``backfill --dry-run`` on a frozen store took 2 min 14 s: two such waits in turn."""
        from servicelens.storage.fs import store_not_answering
        from servicelens.storage.runs import recorded_timezone

        try:
            zone = recorded_timezone(self)
        # Any other error of a store (OSError, botocore's): the command says so when it
        # reads the directory itself.
        except Exception as error:
            if store_not_answering(error) is not None:
                raise
            return self
        return self if zone is None or zone == self.timezone else replace(self, timezone=zone)

    def refuse_a_second_agent_key(self) -> Path:
        """The agent key file's path, after checking that the working directory holds no other
        default key (where earlier versions kept it): raises ``ValueError`` saying which to
        keep. The command line checks this before a command that pseudonymises agents runs,
        so a stray key stops it before anything is landed or recorded."""
        configured = Path(self.agent_key_file).expanduser() if self.agent_key_file else None
        path = (configured or project_dir() / DEFAULT_AGENT_KEY_FILE).resolve()
        if configured is None and not os.environ.get("SERVICELENS_AGENT_KEY"):
            _refuse_a_second_key(path)
        return path

    def agent_key(self) -> bytes:
        """The key of the agents' pseudonyms: ``SERVICELENS_AGENT_KEY``, else the key file
        (a random key written on first use, readable by its owner only).

        Raises ``ValueError`` when the key file would sit inside the data directory.
        """
        from_env = os.environ.get("SERVICELENS_AGENT_KEY")
        if from_env:
            return from_env.encode()
        path = self.refuse_a_second_agent_key()
        root = self.root
        if isinstance(root, Path) and path.is_relative_to(root.expanduser().resolve()):
            raise ValueError(
                f"the agent key file {path} is inside the data directory {root}: keep it "
                "elsewhere (SERVICELENS_AGENT_KEY_FILE) or set SERVICELENS_AGENT_KEY"
            )
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def agent_key_fingerprint(self) -> str:
        """Which agent key :meth:`agent_key` would give in this process, without creating
        one and without the key itself: ``"<where>: sha256 <16 hex digits>"`` (where:
        ``SERVICELENS_AGENT_KEY`` or the key file's path) of a key that exists, or
        ``"no key yet: <host> would make <path>"``. Two processes with equal fingerprints
        pseudonymise agents alike; a Dask worker with another one would give an agent a
        second pseudonym (``flows.fanout.check_dask_workers``)."""
        import hashlib
        import socket

        from_env = os.environ.get("SERVICELENS_AGENT_KEY")
        configured = Path(self.agent_key_file).expanduser() if self.agent_key_file else None
        path = (configured or project_dir() / DEFAULT_AGENT_KEY_FILE).resolve()
        if from_env:
            where, key = "SERVICELENS_AGENT_KEY", from_env.encode()
        elif path.exists():
            where, key = str(path), path.read_text().strip().encode()
        else:
            return f"no key yet: {socket.gethostname()} would make {path}"
        digest = hashlib.sha256(b"servicelens agent key fingerprint\0" + key).hexdigest()
        return f"{where}: sha256 {digest[:16]}"

    # --- the data layout: every path the pipeline reads or writes is named here ---------------

    @property
    def root(self) -> DataPath:
        """A local Path, or a RemotePath for ``s3://bucket/prefix`` and other URLs."""
        return as_path(self.data_dir)

    def for_source(
        self,
        name: str,
        definition: str,
        partition: str = "day",
        reveal_agent_ids: bool = False,
        audit_date_order: str | None = None,
        negative_rule: str = "",
        interaction_feed: bool = False,
        interaction_lookback_days: int | None = None,
    ) -> Settings:
        """The same data directory, addressing one source's layers (``sources/<name>/``).

        ``reveal_agent_ids`` comes from the source's definition (``pseudonymise_agents =
        false`` allows its agent ids to be shown as recorded), and so does
        ``audit_date_order`` when it declares one (it then wins over
        ``SERVICELENS_AUDIT_DATE_ORDER``: every command reads the source's audits alike; a
        QA lead's trial had ``train`` read them with the variable set and ``review-queue``
        and ``report`` without it). ``negative_rule``: the definition's
        (``SourceDefinition.negative_rule``), which the dates' clean partitions are compared
        with (``servicelens.storage.runs.rule_change``). ``interaction_feed``: the
        definition declares a contact-facts feed, joined over ``interaction_lookback_days``
        (the feed's own ``lookback_days``; None: these settings')."""
        return replace(
            self,
            source=name,
            definition=definition,
            partition=partition,
            reveal_agent_ids=reveal_agent_ids,
            audit_date_order=audit_date_order or self.audit_date_order,
            negative_rule=negative_rule,
            interaction_feed=interaction_feed,
            interaction_lookback_days=(
                self.interaction_lookback_days
                if interaction_lookback_days is None
                else interaction_lookback_days
            ),
            feed="surveys",
        )

    @property
    def is_sample(self) -> bool:
        return self.source == "sample"

    @property
    def source_root(self) -> DataPath:
        """Where this source's layers live: the data directory itself for the generated
        sample, ``sources/<name>/`` for every other source sharing it."""
        return self.root if self.is_sample else self.root / "sources" / self.source

    @property
    def deliveries_dir(self) -> DataPath:
        """Raw zone of a source's deliveries, as delivered (immutable, checksummed)."""
        return self.root / "raw" / "sources" / self.source

    @property
    def inbox_dir(self) -> DataPath:
        """A configured source's drop folder: files put here are landed by the next nightly
        run (``servicelens run``, the served schedule) and then removed from it."""
        inbox = self.root / "inbox" / self.source
        return inbox / INTERACTIONS_FEED if self.feed == INTERACTIONS_FEED else inbox

    @property
    def audits_dir(self) -> DataPath:
        """A configured source's QA audits: every ``*.csv`` put here (``response_id,
        root_cause, audited_at, auditor``) is read in place by training, the review queue
        and the report, never moved or changed (:mod:`servicelens.ingest.audits`). The
        generated sample keeps its audits in ``raw/<date>/audits.csv`` instead."""
        return self.root / "audits" / self.source

    @property
    def landed_dir(self) -> DataPath:
        """Landed layer: a source's delivered rows, mapped to the canonical columns as text,
        redacted, one partition per survey date (or month) in the business timezone."""
        table = "interactions" if self.feed == INTERACTIONS_FEED else "responses"
        return self.source_root / "landed" / table

    def for_interactions(self) -> Settings:
        """These settings addressing the source's contact-facts feed (``feed =
        "interactions"``): its inbox sub-folder and landed layer; every other path is the
        source's own."""
        return replace(self, feed=INTERACTIONS_FEED)

    def interaction_periods(self, day: date) -> list[date]:
        """The landed contact-facts partitions (days, or months by their first day) whose
        contacts the survey partition ``day`` is joined to: those of the
        ``interaction_lookback_days`` before it up to its own last day, as the sample's
        surveys of a date are joined to the interaction exports of the date and of the
        look-back days before it. [] for a source without a feed."""
        if not self.interaction_feed:
            return []
        if self.partition == "month":
            last = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        else:
            last = day
        first = day - timedelta(days=self.interaction_lookback_days)
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        starts = (d.replace(day=1) if self.partition == "month" else d for d in days)
        return sorted(set(starts))

    def raw_day(self, day: date) -> DataPath:
        """Immutable raw zone of one day: surveys.csv, interactions.jsonl, audits.csv."""
        return self.root / "raw" / day.isoformat()

    @property
    def policies_file(self) -> DataPath:
        return self.root / "raw" / "reference" / "policies.csv"

    @property
    def truth_dir(self) -> DataPath:
        """The generator's answer key; read by evaluation only, never by training."""
        return self.root / "truth"

    @property
    def clean_dir(self) -> DataPath:
        """Primary layer: validated, de-duplicated responses joined to their interactions."""
        return self.source_root / "clean" / "responses"

    @property
    def contacts_dir(self) -> DataPath:
        """Clean layer: every interaction of each day's export, the repeat-contact history
        (a source whose rows carry their contact facts: those rows, per partition)."""
        return self.source_root / "clean" / "contacts"

    @property
    def marts_dir(self) -> DataPath:
        return self.source_root / "marts"

    @property
    def quarantine_dir(self) -> DataPath:
        return self.source_root / "quarantine"

    @property
    def models_dir(self) -> DataPath:
        """The model registry: each source has its own (``models/sources/<name>/``)."""
        if self.is_sample:
            return self.root / "models"
        return self.root / "models" / "sources" / self.source

    @property
    def runs_dir(self) -> DataPath:
        """One outcome record per date (completed or failed), beside the marts, not in them."""
        return self.source_root / "runs"

    @property
    def staging_dir(self) -> DataPath:
        """Scratch space for frames handed between tasks and partitions being written."""
        return self.source_root / ".staging"

    @property
    def local_root(self) -> Path:
        """Where files that must be local files go (HTML reports, Data Docs pages).

        The data directory itself when it is local. For an object store it is a folder in
        the temporary directory named after the store's URL: the reports are opened in a
        browser and GX renders its pages to local files, so they stay on this machine.
        """
        if isinstance(self.root, Path):
            return self.root
        return machine_folder_for(self.root, "local")

    @property
    def reports_dir(self) -> Path:
        """Run reports: ``latest.html`` is always the newest."""
        return self.local_root / "reports"

    @property
    def gx_docs_dir(self) -> Path:
        """Great Expectations Data Docs: one page per validation, and an index."""
        return self.reports_dir / "gx_docs"


def day_input_files(settings: Settings, day: date) -> list[DataPath]:
    """Every raw file one date's output depends on (its checksums decide re-runs): the day's
    survey export, the policy catalogue, and the interaction exports of the day and of the
    ``interaction_lookback_days`` before it; for a source with a landed layer, its landed
    partition first, then (a source with a contact-facts feed) the feed's landed partitions
    it is joined to (:meth:`Settings.interaction_periods`). Files that do not exist are
    listed too."""
    if not settings.is_sample:
        from servicelens.storage.partitions import partition_dir

        facts = settings.for_interactions().landed_dir
        return [
            partition_dir(settings.landed_dir, day) / "part-0.parquet",
            *(
                partition_dir(facts, p) / "part-0.parquet"
                for p in settings.interaction_periods(day)
            ),
        ]
    files = [settings.raw_day(day) / SURVEYS_FILE, settings.policies_file]
    for back in range(settings.interaction_lookback_days + 1):
        files.append(settings.raw_day(day - timedelta(days=back)) / INTERACTIONS_FILE)
    return files


#: The values ``SERVICELENS_AUDIT_DATE_ORDER`` takes (empty: not declared).
AUDIT_DATE_ORDERS = ("day-first", "month-first")


def checked_date_order(value: str) -> str:
    """``value`` (``SERVICELENS_AUDIT_DATE_ORDER``) as declared, lower-cased; raises
    :class:`SettingError` naming the variable and the values it takes for anything else."""
    order = value.strip().lower()
    if order and order not in AUDIT_DATE_ORDERS:
        raise SettingError(
            f"SERVICELENS_AUDIT_DATE_ORDER={value!r}: use {' or '.join(AUDIT_DATE_ORDERS)} "
            "(how QA's slashed dates such as 03/12/2026 read), or leave it unset"
        )
    return order
