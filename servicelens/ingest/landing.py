"""Landing: a source's deliveries, as delivered, into the landed layer, one partition per
survey date (or month) in the business timezone.

A vendor drops exports of any date range, under any file name, sometimes with the same rows
again. Landing one:

1. copies the file into the raw zone as delivered, named by its sha256 (``raw/sources/
   <source>/<sha12>-<name>``): never modified, and the same bytes delivered twice are one
   delivery;
2. reads and maps it with the source's definition (the same reader as every file: decoding,
   physical lines, rejects), redacts personal data, and dates each row by its submitted time
   in the business timezone (a record the reader rejected by the time its fields hold,
   :func:`rejected_record_dates`; a row whose time cannot be read is dated by its
   delivery's own day, :func:`undated_rows_day`: the date its file name holds, else the day
   most of its rows fall on, else the day it was landed, so its reason is reported with
   that date, and the delivery's note says which; a row submitted after the delivery was
   landed is a reject there, saying so);
3. rewrites each touched partition whole: the rows it held from other deliveries, plus this
   delivery's. Its manifest names every delivery file in it, with its sha256, and the
   fingerprint of the definition each was landed with.

The same bytes dropped again under the same definition change nothing ("already landed").
Under a changed definition (a fixed column mapping or date format) they are landed again:
their rows replace the ones landed before, and a partition they no longer land in (their
rows were dated by the delivery while the date format did not fit) is rewritten without
them, so no row is both kept in one partition and quarantined in another. Under the same
definition, bytes that had reached only some of their partitions (a landing stopped by a
full disk or a kill) are landed again, whole, and said to be so.
When the definition gives the responses of deliveries landed before other ids (a
preset's id changed by a release), the first landing under it lands those deliveries
again from their raw copies (:func:`rekey_earlier_deliveries`), so supersession by id
still holds across the change.

Re-delivered rows are not resolved here: every copy is landed, dated by its delivery, and
the clean layer keeps the latest (the older go to quarantine as superseded). The one
exception is a new delivery's row the same as the copy in force of its response (a
cumulative export repeating every earlier response, :func:`split_unchanged_copies`): it is
counted in its partition's manifest (:data:`UNCHANGED_COPIES`), not stored again, and a
partition that gets nothing else is not rewritten, so its date does not run again. A late row
changes its date's landed partition, so that date's inputs change and the nightly look-back
(or a backfill) reprocesses it. A re-delivered row whose date changed (a correction) lands
in another partition than its older copy: the older copy's partition records it in its
manifest (``superseded_elsewhere``, :func:`_superseded_elsewhere`) and counts the newer
delivery among its inputs, so it is reprocessed too, and quarantines the older copy.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from servicelens.erasure import erasure_list
from servicelens.ingest.definitions import ROW_COUNTRY, DefinitionError, SourceDefinition
from servicelens.ingest.mapping import (
    EXCLUDED,
    MappedExport,
    MissingColumns,
    json_value_text,
    map_export,
    mapped_column,
    no_records_text,
    read_export,
    unnamed_columns,
    unread_columns,
)
from servicelens.ingest.readers import (
    EmptyFile,
    RawRead,
    Reject,
    SourceError,
    column_key,
    declared_encoding_not_used,
    spreadsheet_column_letters,
)
from servicelens.settings import INTERACTIONS_FEED, Settings
from servicelens.storage.fs import DataPath, as_path, file_state, read_bytes, write_text_whole
from servicelens.storage.partitions import (
    MANIFEST_FILE,
    checksums,
    partition_dir,
    read_manifest,
    read_partition,
    replace_manifest,
    scan_table,
    write_partition,
)
from servicelens.validation.expectations import (
    CLOCK_SKEW,
    NO_SUCH_DAY,
    REPEATED_ID,
    SCIENTIFIC_ID,
)
from transforms.clean import (
    ParseOptions,
    ShortIds,
    dating_timestamp,
    ids_short_of_their_width,
    no_such_day,
    normalised_text,
    survey_day,
)
from transforms.formatting import formatted_text
from transforms.pii import redact_pii, redact_pii_by_value, row_region
from transforms.schemas import LANDED_SCHEMA, PARTITION_COLUMN

PARTITION_FILE = "part-0.parquet"


def period_start(day: date, granularity: str) -> date:
    """The partition a survey date belongs to: the date itself, or its month's first day."""
    return day.replace(day=1) if granularity == "month" else day


def period_start_of(dates: pl.Expr, granularity: str) -> pl.Expr:
    """:func:`period_start` of each date of a Date expression."""
    return dates.dt.month_start() if granularity == "month" else dates


@dataclass
class Landing:
    """What landing one delivery did."""

    file: str
    delivered_as: str
    sha256: str
    rows: int
    rejects: int
    #: Partitions (period starts) rewritten, with how many of this delivery's rows each got.
    periods: dict[date, int] = field(default_factory=dict)
    #: The same bytes had been landed before, under the same definition: nothing changed.
    already_landed: bool = False
    #: The same bytes had been landed before under other rules (a changed definition): their
    #: rows were landed again, replacing the ones landed before.
    landed_again: bool = False
    #: The same bytes, under the same definition, landed before into only some of the
    #: partitions they land in: that landing stopped part way (a full disk, a kill), and this
    #: one finished it (``landed_again`` is set too). Found by a trial: the run after a full
    #: disk said it was landed again "under the changed definition", which never changed.
    unfinished_before: bool = False
    #: The same bytes, under the same definition, sent again after a later delivery had
    #: replaced some of their responses: landed again as delivered now, their copies in
    #: force again (``landed_again`` is set too).
    sent_again: bool = False
    #: For a delivery :attr:`sent_again`: the later deliveries whose copies of its responses
    #: it superseded (their raw copies' paths, in the order they were landed), with how many
    #: responses each. Said, so that an operator notices a correction overridden by an old
    #: file sent again (supersession is by delivery order, not by content).
    superseded_newer: dict[str, int] = field(default_factory=dict)
    #: Partitions (of ``periods``) rewritten by a delivery landed again whose file and inputs
    #: are the same as before: its rows read the same under the changed rules, so nothing
    #: there is for a run to process.
    same_as_before: list[date] = field(default_factory=list)
    #: Partitions this delivery's rows had been landed in and no longer are (landed again
    #: under a changed definition), with how many of its rows each lost. Each is also in
    #: ``periods`` (rewritten, with 0 of its rows).
    moved_out: dict[date, int] = field(default_factory=dict)
    #: Partitions holding older copies of responses this delivery dates in another
    #: partition (a corrected date), with how many: each is also in ``periods``, and its
    #: older copies go to quarantine when it runs again.
    superseded_elsewhere: dict[date, int] = field(default_factory=dict)
    #: Lines of this delivery that re-deliver responses landed before in another partition
    #: with a ``submitted_at`` that cannot be read, by the partition holding the older copy.
    #: Such a copy is dated by the day its delivery was landed, not the delivery's own day
    #: (:func:`_undated_redeliveries`), and quarantined, and supersedes nothing elsewhere:
    #: the older copy stays in the marts (found by a trial's re-saved export).
    older_copies_kept: dict[date, list[int]] = field(default_factory=dict)
    #: Rows of this delivery that an earlier delivery landed already, unchanged (the same
    #: response, row as delivered and partition as the copy in force:
    #: :func:`split_unchanged_copies`), by partition: counted in that partition's landed
    #: manifest (:data:`UNCHANGED_COPIES`), not stored again, so the partition is not
    #: rewritten for them and its date does not run again. A cumulative export (Google
    #: Forms, Microsoft Forms) repeats every earlier response each day.
    unchanged_copies: dict[date, int] = field(default_factory=dict)
    #: Of those, how many repeat each earlier delivery (its raw copy's path).
    unchanged_of: dict[str, int] = field(default_factory=dict)
    #: The sheet read, for a workbook: its notes name rows as Excel shows them
    #: (``sheet 'Umfrage' row 4``), not by line (:attr:`RawRead.sheet`).
    sheet: str | None = None
    #: Id columns some of whose ids most likely lost their leading zeros in a spreadsheet
    #: (:func:`short_ids_notes`), each with the export's name for it: kept, and said.
    short_ids: list[str] = field(default_factory=list)
    #: Columns of the delivery's header the definition neither reads, lists in never_store,
    #: nor expects (:func:`servicelens.ingest.mapping.unread_columns`): a column the source
    #: added, whose values stay in raw/ only, said once for the file
    #: (:func:`unread_columns_note`), and once for the source while the set stays the
    #: same. Found by a BI trial: a Qualtrics export's new Q3 landed without a word, in no
    #: attribute and no quarantined raw_record.
    unread_columns: list[str] = field(default_factory=list)
    #: Canonical columns and attributes marked ``required = false`` whose export column this
    #: delivery lacks, each with that column's name(s) (:attr:`MappedExport.not_asked`):
    #: its rows have none (not asked), said once for the delivery. Found by an analyst's
    #: trial: a question added mid-quarter refused every export from before it.
    not_asked: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Of those, the columns whose header cell is blank, each with its place (1-based) and
    #: a value of it (:func:`servicelens.ingest.mapping.unnamed_columns`): the note names
    #: them so, not by the name the reader gives them (``column_5``).
    unnamed_columns: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    #: Whether an earlier landing of the source told of the same set of unread columns
    #: (:func:`unread_columns_told_before`): the run's notes then leave them out, told once
    #: (``sources check`` always tells). Found by a review: a column left unread on purpose
    #: was told of on every delivery, every night, and the notes were learnt to be ignored.
    unread_columns_told_before: bool = False
    #: What the run says once for the delivery when some rows' per-row country names no
    #: country (:meth:`RowCountries.unrecognised_note`: their count and the values); None
    #: when every value was recognised, or the definition maps no per-row country.
    unrecognised_countries: str | None = None
    #: Rows of a delivery of a source without response ids that re-save responses landed
    #: before (:func:`resaved_copies`): every one of its rows did, so they took the earlier
    #: copies' ids and replace them, as a re-delivery does.
    resaved: int = 0
    #: Rows that match earlier responses so, in a delivery whose other rows do not: landed
    #: as new responses, and said (how many, the first line and the earlier copy's file and
    #: line it matches).
    resave_suspects: int = 0
    resave_example: tuple[int, str, int] | None = None
    #: The definition's ``[label]`` column (its names), when the export has none of them:
    #: no row of the delivery is labelled. Found by a trial: a misspelt label column was
    #: said by ``sources check`` only, and ``sources run`` landed unlabelled rows silently.
    label_column_missing: list[str] | None = None
    #: Lines of this delivery the reader rejected (malformed) that give no survey date of
    #: their own (:func:`rejected_record_dates`), by the date they are quarantined under:
    #: the delivery's, as any undatable row.
    undated_rejects: dict[date, list[int]] = field(default_factory=dict)
    #: Rows of this delivery whose own submitted_at gives no survey date (empty, a format
    #: the definition does not declare, after the delivery was landed; the reader's
    #: malformed records apart, :attr:`undated_rejects`), the day they are quarantined under
    #: and how it was chosen (:func:`undated_rows_day`), which its note says. None where
    #: it has none.
    undated: tuple[int, date, str] | None = None
    #: The reason the quarantine gives every one of :attr:`undated` rows, where the time
    #: they share the trouble of is known exactly (:data:`NO_SUCH_DAY`: '31/11/2026
    #: 10:15:00' against %d/%m/%Y, :func:`undated_rows_reason`); None: the note says what
    #: it may be (empty, or a format the definition does not read).
    undated_reason: str | None = None
    #: For a delivery of a source's contact-facts feed (``[interactions]``, whose rows are
    #: landed with ``started_at`` as their ``submitted_at``:
    #: ``SourceDefinition.interactions_definition``), the export's name(s) for its
    #: started_at column; None for a survey export. Its notes then speak of contacts and of
    #: started_at, the feed's own terms. Found by a trial: a contact export's row with an
    #: unreadable Start Time was told as "1 row whose submitted_at gives no survey date".
    contact_start_column: tuple[str, ...] | None = None
    #: The day the delivery was (first) landed, in the business's timezone: where its
    #: undated copies of responses landed before are filed (:func:`_undated_redeliveries`).
    landed_on: date | None = None
    #: The 8-bit code page the definition declares, when the delivery was UTF-8 and read
    #: as UTF-8 instead (``readers.declared_encoding_not_used``).
    declared_encoding_not_used: str | None = None
    #: The line of the record the file ends inside (:attr:`Reject.truncated`: a download
    #: interrupted, a copy in progress), the response id it gives (None: cut before its id
    #: ended), and the date it is quarantined under with whether that is the delivery's.
    #: Found by a trial: a Zendesk page cut at 60 % was said only to have a line that "could
    #: not be read as a record (malformed)", and the nightly's user was not told the
    #: download was truncated, nor to download it again.
    truncated_at: tuple[int, str | None, date, bool] | None = None
    #: For a whole CSV of a header alone (:func:`header_only_whole`): the day it was
    #: recorded for as a day of 0 responses (None: none), and how that day was told
    #: (:func:`quiet_day`), which its note says.
    quiet_day: tuple[date | None, str] | None = None
    #: Earlier deliveries of the source landed again first, from their raw copies, because
    #: the definition now gives their responses other ids (:func:`rekey_earlier_deliveries`):
    #: their raw copies' paths, each with how many of its responses' ids changed, in the
    #: order they were first landed. Found by a review: the microsoft_forms preset's id
    #: dropped the Start time's seconds, and the next cumulative export would have counted
    #: every response landed before twice.
    rekeyed: dict[str, int] = field(default_factory=dict)
    #: One response id of those deliveries as landed before, and as it reads now.
    rekeyed_example: tuple[str, str] | None = None
    #: Earlier deliveries landed under other rules whose raw copies cannot be read under
    #: the current definition, each with why: their responses keep the ids they were landed
    #: with, so a later copy of one whose id now reads otherwise counts twice.
    not_rekeyed: dict[str, str] = field(default_factory=dict)
    #: The rows of the delivery an erase took out of its partitions (their manifests'
    #: ``erased``) that the erasure list no longer names, by partition: the same bytes
    #: delivered again land them back (:func:`_no_longer_erased`). Found by a trial: an
    #: erasure of the wrong customer undone by editing the list could not be undone.
    restored: dict[date, int] = field(default_factory=dict)

    @property
    def first_named_otherwise(self) -> str:
        """`` as calls.csv`` when the delivery's bytes were first delivered (its raw copy)
        under another name than this file's, else ``""``."""
        first = _delivered_name(self.delivered_as)
        return "" if first == Path(self.file).name else f" as {first}"

    def landed_again_text(self) -> str:
        """``landed again under the changed definition (the same bytes as calls.csv, landed
        before)``: what a delivery :attr:`landed_again` is, naming the earlier delivery when
        it came under another name."""
        named = self.first_named_otherwise
        if self.sent_again:
            return (
                f"landed again: the same bytes{named}, landed before, sent again after a "
                "later delivery replaced some of their responses, whose copies are in force "
                f"again{self._superseded_newer_text()}"
            )
        if self.restored:
            rows = sum(self.restored.values())
            days = ", ".join(str(d) for d in sorted(self.restored))
            return (
                f"landed again: the same bytes{named}, landed before; {rows} of its rows "
                f"an erase took out ({days}) are no longer on the erasure list, and are "
                "restored"
            )
        if self.unfinished_before:
            return (
                f"landed again: its earlier landing did not finish (the same bytes{named}, "
                "under the same definition)"
            )
        return f"landed again under the changed definition (the same bytes{named}, landed before)"

    def _superseded_newer_text(self) -> str:
        """``: they supersede 3 responses of the newer delivery fix.csv (raw copy ...)...``
        for :attr:`superseded_newer`, else ``""``."""
        if not self.superseded_newer:
            return ""
        newer = list(self.superseded_newer.items())
        named = [
            f"{count} response{'s' if count != 1 else ''} of the newer delivery "
            f"{_delivered_name(raw)} (raw copy {raw})"
            for raw, count in newer[:MAX_DELIVERIES_NAMED]
        ]
        more = newer[MAX_DELIVERIES_NAMED:]
        if more:
            named.append(f"those of {len(more)} more newer deliveries")
        which = "that delivery" if len(newer) == 1 else "one of those deliveries"
        return (
            f": they supersede {'; '.join(named)}. If {which} was a correction, its copies "
            "are no longer in force: drop its raw copy into the inbox again to put them back"
        )

    def changed_periods(self) -> list[date]:
        """The partitions this landing changed: rewritten, and not the same as before."""
        return sorted(p for p in self.periods if p not in self.same_as_before)

    def notes(self) -> list[str]:
        """What a run says of this delivery beyond its counts: the definition's label column
        missing from it (found by a trial); the same bytes landed again under a changed
        definition, and the partitions that changed (found by a trial: the file left the
        inbox, and no run named it); per-row country values that name no country, once for
        the delivery."""
        notes = self._rekeyed_notes()
        if self.quiet_day is not None:
            notes.append(self.quiet_day_text())
        if self.declared_encoding_not_used:
            # Found by a trial: a corrected UTF-8 copy read as the declared cp850 had its
            # good responses quarantined as mojibake, and replaced the rows kept before.
            notes.append(
                f"the file is UTF-8 and was read as UTF-8, not as "
                f"{self.declared_encoding_not_used} as the definition's [read] declares (read "
                "so, its text would be mojibake). If this source now delivers UTF-8 only, set "
                '`encoding = "auto"` there'
            )
        if self.landed_again and (changed := self.changed_periods()):
            named = ", ".join(p.isoformat() for p in changed[:MAX_PERIODS_NAMED])
            more = changed[MAX_PERIODS_NAMED:]
            named += f" and {len(more)} more" if more else ""
            which = "the partition" if len(changed) == 1 else "the partitions"
            notes.append(f"{self.landed_again_text()}; it changed {which} of {named}")
        if self.not_asked:
            said = "; ".join(
                f"{name} (column {' or '.join(map(repr, columns))})"
                for name, columns in self.not_asked.items()
            )
            rows = self.rows
            notes.append(
                f"this export has no {said}: marked required = false in the definition, so "
                f"its {rows} row{'s' if rows != 1 else ''} have none (not asked when it was "
                "exported); kept, not quarantined"
            )
        if self.label_column_missing:
            names = " or ".join(map(repr, self.label_column_missing))
            notes.append(
                f"the label column {names} of the definition's [label] is not in this export, "
                "so none of its rows is labelled (`servicelens sources check DEFINITION FILE` "
                "lists the export's columns)"
            )
        if self.resaved:
            notes.append(
                f"its {self.resaved} responses re-save ones landed before (every answer the "
                "same, and submitted_at the same to the precision this file gives, as a "
                "spreadsheet's re-save writes it): they replace the earlier copies, as a "
                "re-delivery does, and are not counted again"
            )
        if self.resave_suspects and self.resave_example:
            line, file, earlier = self.resave_example
            one = self.resave_suspects == 1
            notes.append(
                f"{self.resave_suspects} {'row' if one else 'rows'} (e.g. "
                f"{_lines_named([line], self.sheet)}) {'has' if one else 'have'} every answer "
                f"of a response landed before (e.g. {_lines_named([earlier], self.sheet)} of "
                f"{Path(file).name}) and its submitted_at to the precision "
                "this file gives (its seconds dropped, as a spreadsheet's re-save writes "
                f"it), while the file's other rows are new: {'it is' if one else 'they are'} "
                "landed as new responses, so if they are re-saved copies they are counted "
                "twice. If this file re-saves an earlier export, deliver the original export "
                "instead (or the re-save holding only the earlier responses, which then "
                "replaces them); if they are different people's answers, nothing is to do"
            )
        if self.older_copies_kept:
            lines = sorted(line for kept in self.older_copies_kept.values() for line in kept)
            periods = [p.isoformat() for p in sorted(self.older_copies_kept)]
            where = (
                f"{periods[0]}'s partition"
                if len(periods) == 1
                else f"the partitions of {', '.join(periods[:-1])} and {periods[-1]}"
            )
            one = len(lines) == 1
            # A contact feed's rows are contacts, dated by started_at under the export's name
            # for it (a trial's feed note spoke of a response and its submitted_at).
            if self.contact_start_column is None:
                what, time = ("a response" if one else "responses"), "submitted_at"
                fix = "submitted_at in the export (or the definition's format for it)"
            else:
                named = " or ".join(repr(c) for c in self.contact_start_column)
                what, time = ("a contact" if one else "contacts"), f"started_at ({named})"
                fix = (
                    f"{named} in the export (or the format of started_at in the definition's "
                    "[interactions.columns])"
                )
            notes.append(
                f"{_lines_named(lines, self.sheet)} "
                f"{'re-delivers' if one else 're-deliver'} {what} landed before "
                f"(in {where}) with a {time} that cannot be read: "
                f"{'it is' if one else 'they are'} quarantined under the day the delivery "
                f"was landed{f', {self.landed_on.isoformat()}' if self.landed_on else ''}, "
                "apart, and "
                f"the older {'copy stays' if one else 'copies stay'} in the marts. Fix "
                f"{fix} and deliver it again to replace the older {'copy' if one else 'copies'}"
            )
        if self.truncated_at is not None:
            notes.append(self._truncated_text())
        how = self.undated[2] if self.undated else BY_LANDING
        # A contact feed's rows are dated by their start, not by a survey's submission.
        time, own_date = (
            ("submitted_at", "a survey date")
            if self.contact_start_column is None
            else ("started_at", "a date")
        )
        for day, lines in sorted(self.undated_rejects.items()):
            one = len(lines) == 1
            notes.append(
                f"{_lines_named(lines, self.sheet)} could not be read as "
                f"{'a record' if one else 'records'} (malformed) and "
                f"{'gives' if one else 'give'} no {time} that reads: quarantined under "
                f"its delivery's day, {day.isoformat()} ({how}), not {own_date} of "
                f"{'its' if one else 'their'} own"
            )
        if self.undated and self.undated[0] > 0:
            notes.append(self._undated_text(*self.undated))
        notes += self.short_ids
        if self.unrecognised_countries:
            notes.append(self.unrecognised_countries)
        if self.unread_columns and not self.unread_columns_told_before:
            notes.append(unread_columns_note(self.unread_columns, self.unnamed_columns))
        return notes

    def _undated_text(self, count: int, day: date, how: str) -> str:
        """The note of :attr:`undated`: ``count`` rows whose own time gives no date, filed
        under ``day``, chosen ``how`` (:func:`undated_rows_day`). A contact feed's rows are
        contacts, dated by started_at under the export's name for it
        (:attr:`contact_start_column`); a survey export's are rows, by submitted_at."""
        one = count == 1
        filed = (
            f"{'is' if one else 'are'} quarantined under its delivery's day, "
            f"{day.isoformat()} ({how}), "
        )
        # The quarantine's own words where they are exact: a trial's contact export wrote
        # 31/11/2026, quarantined as a day the calendar does not have, and the note guessed.
        exact = f"{self.undated_reason}; {'it' if one else 'they'} " if self.undated_reason else ""
        if self.contact_start_column is None:
            guess = "gives no survey date (empty, or a format the definition does not read) "
            return (
                f"{count} {'row' if one else 'rows'} whose submitted_at {exact or guess}"
                f"{filed}not a survey date of {'its' if one else 'their'} own"
            )
        named = " or ".join(repr(c) for c in self.contact_start_column)
        guess = (
            "gives no date (empty, or a format the definition's [interactions.columns] "
            "does not read) "
        )
        return (
            f"{count} {'contact' if one else 'contacts'} whose started_at (the export's "
            f"{named}) {exact or guess}{filed}not a date of {'its' if one else 'their'} own"
        )

    def quiet_day_text(self) -> str:
        """The note of a whole header-only delivery (:attr:`quiet_day`): 0 responses, and the
        day recorded so, or that none is."""
        assert self.quiet_day is not None
        day, how = self.quiet_day
        said = "0 responses: a header only, whole (settled, ending with its line end)"
        if day is None:
            return f"{said}; {how}"
        return f"{said}, recorded for {day.isoformat()} ({how})"

    def _rekeyed_notes(self) -> list[str]:
        """What a run says of :attr:`rekeyed` and :attr:`not_rekeyed` (once: the landing
        that found them)."""
        notes = []
        if self.rekeyed:
            count = sum(self.rekeyed.values())
            named = [_delivered_name(raw) for raw in self.rekeyed][:MAX_DELIVERIES_NAMED]
            if len(self.rekeyed) > len(named):
                named.append(f"{len(self.rekeyed) - len(named)} more")
            was, now = self.rekeyed_example or ("", "")
            one = len(self.rekeyed) == 1
            which = "the earlier delivery" if one else f"the {len(self.rekeyed)} earlier deliveries"
            notes.append(
                f"the definition now gives {count} response{'s' if count != 1 else ''} "
                f"landed before other ids (e.g. {was!r} is now {now!r}): {which} holding "
                f"them ({', '.join(named)}) {'was' if one else 'were'} landed again first, "
                "from the raw zone, under the current definition, so their copies and this "
                "delivery's are the same responses, each counted once"
            )
        if self.not_rekeyed:
            # One note for every such copy (an analyst's trial read 44 of ~1,000
            # characters each, for each delivery of the run).
            count = len(self.not_rekeyed)
            named = [_delivered_name(raw) for raw in self.not_rekeyed][:MAX_DELIVERIES_NAMED]
            if count > len(named):
                named.append(f"{count - len(named)} more")
            raw, why = next(iter(self.not_rekeyed.items()))
            which = "the earlier delivery" if count == 1 else f"{count} earlier deliveries"
            notes.append(
                f"{which} ({', '.join(named)}) landed under other rules cannot have "
                f"{'its' if count == 1 else 'their'} response ids checked under the current "
                f"definition ({_delivered_name(raw)}: {why}; raw cop"
                f"{'y' if count == 1 else 'ies'} under {Path(raw).parent}): "
                f"{'its' if count == 1 else 'their'} responses keep the ids they were landed "
                "with, so one whose id now reads otherwise counts twice when delivered again. "
                "Put the raw copies back, or make the definition's response_id read them, and "
                "run again (said once; checked again by each landing)"
            )
        return notes

    def _truncated_text(self) -> str:
        """The note of a delivery cut off in its last record (:attr:`truncated_at`): where,
        what was landed of it, and what to do; the complete copy supersedes the cut record
        only when its id was read."""
        assert self.truncated_at is not None
        line, response_id, day, by_delivery = self.truncated_at
        named = "" if response_id is None else f" (response {response_id})"
        where = (
            f"its delivery's day, {day.isoformat()} "
            f"({self.undated[2] if self.undated else BY_LANDING})"
            if by_delivery
            else f"its own survey date, {day.isoformat()}"
        )
        done = (
            "the complete copy supersedes it"
            if response_id is not None
            else "the complete copy replaces the records before the cut; the cut one stays "
            "quarantined, its id cut off too"
        )
        whole = self.rows
        return (
            f"looks truncated: the file ends inside the record on "
            f"{_lines_named([line], self.sheet)}{named}, cut off there (a download "
            f"interrupted, or a copy still in progress); the {whole} "
            f"record{'s' if whole != 1 else ''} read whole before it "
            f"{'are' if whole != 1 else 'is'} landed, and the cut one is quarantined under "
            f"{where}. Download the file again and drop it in the inbox: {done}"
        )


#: Unread columns a note names before "and N more".
MAX_COLUMNS_NAMED = 8


def unread_columns_note(
    columns: list[str], unnamed: dict[str, tuple[int, str | None]] | None = None
) -> str:
    """What a run (after the file's name, as every landing note) and ``sources check`` say
    of a delivery whose header has ``columns`` the definition neither reads nor expects
    (:func:`servicelens.ingest.mapping.unread_columns`): the columns, that their values
    stay in raw/ only, and how to keep them or say they are expected. A column of
    ``unnamed`` (its header cell blank: place and a value,
    :func:`servicelens.ingest.mapping.unnamed_columns`) is named as the user finds it,
    "the unnamed column 5 (E in a spreadsheet; e.g. value 'yes')", with the name a
    definition reads it by (``column_5``): a trial's note named it ``'column_5'``, a name
    no file of theirs holds. The run tells it once for each set of such columns
    (:attr:`Landing.unread_columns_told_before`); ``sources check`` always."""
    unnamed = unnamed or {}

    def named_as(name: str) -> str:
        if name not in unnamed:
            return repr(name)
        place, value = unnamed[name]
        example = "" if value is None else f"; e.g. value {value!r}"
        letters = spreadsheet_column_letters(place)
        return f"the unnamed column {place} ({letters} in a spreadsheet{example})"

    labels = [named_as(name) for name in columns[:MAX_COLUMNS_NAMED]]
    named = ", ".join(labels)
    if more := columns[MAX_COLUMNS_NAMED:]:
        named += f" and {len(more)} more"
    one = len(columns) == 1
    subject = named if columns[0] in unnamed else f"{'column' if one else 'columns'} {named}"
    example = re.sub(r"\W+", "_", columns[0].casefold()).strip("_") or "new_column"
    blank = [name for name in columns if name in unnamed]
    read_as, or_named = "", ""
    if blank:
        here = ", ".join(map(repr, blank[:MAX_COLUMNS_NAMED]))
        read_as = f": a column with a blank header is read as column_<its place>, here {here}"
        unnamed_one = "it" if one else "the unnamed column" if len(blank) == 1 else "the unnamed"
        or_named = f", or give {unnamed_one} a name in the export's header"
    return (
        f"{subject} {'is' if one else 'are'} read by nothing in the source definition (not "
        "mapped in [columns], not kept under [attributes], not in never_store): "
        f"{'its' if one else 'their'} values stay in raw/ only, in no landed row, quarantine "
        f"raw_record or mart. To keep {'it' if one else 'them'}, add "
        f"{'it' if one else 'them'} under [attributes] in the definition (e.g. "
        f'{example} = "{columns[0]}"{read_as}){or_named}; if {"it is" if one else "they are"} '
        f"to stay in raw/ only, list {'it' if one else 'them'} in the definition's "
        "expected_columns to stop this note"
    )


#: The file beside a source's landed partitions (its ``landed_dir``) holding the unread
#: columns its landings last told of (:func:`unread_columns_told_before`).
UNREAD_COLUMNS_TOLD_FILE = "unread-columns-told.json"


def unread_columns_told_before(settings: Settings, columns: list[str]) -> bool:
    """Whether a landing of ``settings``' source (its landed table: responses, or the
    contact-facts feed) told of the same set of unread ``columns`` before (the names, in
    any order), as :data:`UNREAD_COLUMNS_TOLD_FILE` remembers it
    (:func:`remember_unread_columns_told`). A set told of once is not told again on every
    delivery, every night; a new set (a column added, or one of them gone) is. An
    unreadable memory counts as none (told again)."""
    path = settings.landed_dir / UNREAD_COLUMNS_TOLD_FILE
    if not columns or not path.exists():
        return False
    try:
        told = json.loads(path.read_text()).get("columns")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(told, list) and set(told) == set(columns)


def remember_unread_columns_told(settings: Settings, landing: Landing, told_at: datetime) -> None:
    """Remember the unread columns ``landing`` tells of (:attr:`Landing.unread_columns`,
    when :attr:`~Landing.unread_columns_told_before` is false), the file and when, in the
    source's :data:`UNREAD_COLUMNS_TOLD_FILE` (one small JSON file, replaced whole). A
    delivery with no unread columns leaves it: a file of the old layout landed between two
    of the new does not make the new column be told of again."""
    if not landing.unread_columns or landing.unread_columns_told_before:
        return
    told = {
        "columns": landing.unread_columns,
        "file": Path(landing.file).name,
        "told_at": told_at.isoformat(),
    }
    write_text_whole(settings.landed_dir / UNREAD_COLUMNS_TOLD_FILE, json.dumps(told, indent=1))


#: The column landing holds each row's phone region in while it redacts (:func:`row_regions`);
#: never landed.
ROW_REGION = "__row_region"
#: Unrecognised per-row country values a note quotes; the rest are counted.
MAX_COUNTRIES_NAMED = 10


@dataclass(frozen=True)
class RowCountries:
    """How a delivery's rows were given their phone numbering plans by the definition's
    per-row country (``[columns] country``, :data:`ROW_COUNTRY`): what ``sources check``
    shows, and, for values that name no country, what a run tells once per delivery."""

    #: The export's column(s) the country is read from, as its header spells them (none for
    #: a constant ``value``).
    columns: tuple[str, ...]
    #: The source's ``country``: the plan of every row without one of its own.
    fallback: str
    #: Rows read in their own country, by country (ISO 3166-1 alpha-2), commonest first.
    by_country: dict[str, int]
    #: Rows with no value (empty, or a null token), read in :attr:`fallback`.
    empty: int
    #: Values that name no country libphonenumber has a plan for (``UK``, ``Germany``),
    #: redacted as any field, each with its rows (read in :attr:`fallback`), commonest first.
    unrecognised: dict[str, int]

    @property
    def column_text(self) -> str:
        """``column 'Market'`` (``columns 'A', 'B'``), or ``a constant value``."""
        if not self.columns:
            return "a constant value"
        plural = "s" if len(self.columns) > 1 else ""
        return f"column{plural} {', '.join(map(repr, self.columns))}"

    def summary(self) -> str:
        """One line for ``sources check``: each country's rows and the fallback's."""
        own = ", ".join(f"{code} {rows:,}" for code, rows in self.by_country.items()) or "none"
        rest = self.empty + sum(self.unrecognised.values())
        return (
            f"phone numbers in national form read in each row's country ({ROW_COUNTRY} from "
            f"{self.column_text}): {own}; in the source's country {self.fallback}: {rest:,} "
            f"({self.empty:,} without a value, {sum(self.unrecognised.values()):,} "
            "unrecognised)"
        )

    def unrecognised_note(self, path: Path) -> str | None:
        """What a run says once for the delivery when some rows' values name no country
        (their count and the values, each with its rows), and how to map them; None when
        every value was recognised. Their rows are kept: redaction reads them in the
        source's country, which is no reason to lose a row."""
        if not self.unrecognised:
            return None
        rows = sum(self.unrecognised.values())
        items = list(self.unrecognised.items())
        named = ", ".join(f"{value!r} ({n:,})" for value, n in items[:MAX_COUNTRIES_NAMED])
        if more := items[MAX_COUNTRIES_NAMED:]:
            named += f" and {len(more)} more values ({sum(n for _, n in more):,} rows)"
        first, one = items[0][0], rows == 1
        return (
            f"{rows:,} row{'' if one else 's'} had a per-row country ({ROW_COUNTRY} from "
            f"{self.column_text}) that names no country: {named}; {'its' if one else 'their'} "
            f"phone numbers were read in the source's country {self.fallback} (kept, as every "
            "row). Write ISO 3166-1 alpha-2 codes (DE, FR, GB) or locales (de-AT, fr_BE) in "
            f"the export, or map the values in the definition ({path}): {ROW_COUNTRY} = "
            f'{{ column = "{self.columns[0] if self.columns else "Country"}", values = '
            f'{{ "{first}" = "<its ISO 3166-1 alpha-2 code>" }} }}'
        )


#: The columns an export names its recipient by, first name then last name, as vendors
#: write them (compared by :func:`~servicelens.ingest.readers.column_key`): Qualtrics'
#: contact fields and SurveyMonkey's custom-data names. Never landed (the presets list them
#: in ``never_store``); read here only to redact the row's own names from its comment.
RECIPIENT_NAME_COLUMNS = (
    ("RecipientFirstName", "RecipientLastName"),
    ("First Name", "Last Name"),
)
#: The columns landing holds each row's own values in while it redacts (:func:`own_values`);
#: never landed.
OWN_CUSTOMER_ID = "__own_customer_id"
OWN_NAMES = ("__own_first_name", "__own_last_name")


def own_values(mapped: MappedExport) -> pl.DataFrame:
    """Each mapped row's own values that its comment may quote, in the rows' order: its
    customer id (:data:`OWN_CUSTOMER_ID`, where the definition maps ``customer_id``) and
    its recipient's first and last name (:data:`OWN_NAMES`, where the export carries a
    pair of :data:`RECIPIENT_NAME_COLUMNS`, either one may be missing). A frame of no
    columns when there are none. A DPO's trial of a Qualtrics source found
    "ref C40017733" and the recipient's own name kept in landed, clean and
    feedback_scored comments."""
    columns: list[pl.Series] = []
    if "customer_id" in mapped.definition.columns and "customer_id" in mapped.frame.columns:
        columns.append(mapped.frame.get_column("customer_id").alias(OWN_CUSTOMER_ID))
    read = mapped.read.frame
    by_key = {column_key(c): c for c in read.columns}
    for pair in RECIPIENT_NAME_COLUMNS:
        found = [by_key.get(column_key(name)) for name in pair]
        if any(found):
            for header, alias in zip(found, OWN_NAMES, strict=True):
                if header is not None and read.schema[header] == pl.String:
                    columns.append(read.get_column(header).alias(alias))
                else:
                    columns.append(pl.Series(alias, [None] * read.height, pl.String))
            break
    return pl.DataFrame(columns)


def _own_value_columns(own: pl.DataFrame) -> dict[str, Any]:
    """:func:`redact_pii`'s ``customer_ids`` and ``recipient_names`` for the columns of
    ``own`` (:func:`own_values`)."""
    return {
        "customer_ids": OWN_CUSTOMER_ID if OWN_CUSTOMER_ID in own.columns else None,
        "recipient_names": [c for c in OWN_NAMES if c in own.columns],
    }


def row_regions(mapped: MappedExport) -> pl.Series | None:
    """Each mapped row's phone region (:data:`ROW_REGION`; :func:`transforms.pii.row_region`
    of the per-row country, null where the row has none or one no plan is known for, so
    redaction reads it in the source's country), in the rows' order; None when the
    definition maps no per-row country."""
    if ROW_COUNTRY not in mapped.definition.columns:
        return None
    return mapped.frame.select(row_region(pl.col(ROW_COUNTRY)).alias(ROW_REGION)).to_series()


def row_countries(mapped: MappedExport) -> RowCountries | None:
    """How ``mapped``'s rows get their phone numbering plans (:class:`RowCountries`), or
    None when the definition maps no per-row country. The unrecognised values are redacted
    as any field before they are quoted (they are printed and logged)."""
    regions = row_regions(mapped)
    if regions is None:
        return None
    values = mapped.frame.select(pl.col(ROW_COUNTRY).alias("value"), regions)
    own = values.filter(pl.col(ROW_REGION).is_not_null()).group_by(ROW_REGION).len()
    unknown = (
        values.filter(pl.col(ROW_REGION).is_null() & pl.col("value").is_not_null())
        .group_by("value")
        .len()
    )
    unknown, _ = redact_pii_by_value(unknown, ["value"], mapped.definition.country)
    unknown = (
        unknown.group_by("value")
        .agg(pl.col("len").sum())
        .sort(["len", "value"], descending=[True, False])
    )
    return RowCountries(
        columns=mapped.exported_as.get(ROW_COUNTRY, ()),
        fallback=mapped.definition.country.strip().upper(),
        by_country=dict(own.sort(["len", ROW_REGION], descending=[True, False]).iter_rows()),
        empty=values.get_column("value").null_count(),
        unrecognised=dict(unknown.iter_rows()),
    )


#: The id columns whose leading zeros a spreadsheet may drop (a derived response id, made
#: from the answers, is hex: never all digits, so never told).
ZERO_PADDED_ID_COLUMNS = ("response_id", "interaction_id", "customer_id")


def short_ids_notes(frame: pl.DataFrame, exported_as: dict[str, tuple[str, ...]]) -> list[str]:
    """What a run and ``sources check`` say of a delivery (its mapped ``frame``,
    ``exported_as`` the export's column names of each canonical one) whose id columns
    (:data:`ZERO_PADDED_ID_COLUMNS`) hold ids shorter than most, in a column whose ids are
    padded with zeros (:func:`transforms.clean.ids_short_of_their_width`): one note a
    column, naming the column, how many rows, two examples and what to do. The file is not
    named: each caller puts its name before every note of it, as before the other landing
    notes (a nightly's read ``umfrage.csv: umfrage.csv: column ...``). The rows are kept:
    such an id may be genuinely short."""
    found = ids_short_of_their_width(frame, ZERO_PADDED_ID_COLUMNS)
    return [
        _short_ids_note(column, exported_as.get(column, ()), short)
        for column, short in found.items()
    ]


def _short_ids_note(column: str, exported: tuple[str, ...], short: ShortIds) -> str:
    named = " + ".join(map(repr, exported)) or repr(column)
    one = short.count == 1
    examples = ", ".join(f"{e!r} (likely {e.zfill(short.width)!r})" for e in short.examples)
    return (
        f"column {named} ({column}): {short.count:,} "
        f"{'id has' if one else 'ids have'} fewer digits than the column's other ids, which "
        f"have {short.width} with leading zeros (e.g. {examples}): a spreadsheet most likely "
        f"dropped {'its' if one else 'their'} leading zeros when the file was saved, so "
        f"{'it does' if one else 'they do'} not match the same id{'' if one else 's'} "
        "elsewhere (an interaction, an earlier delivery). Kept as delivered; if the zeros "
        "were lost, format the column as Text in Excel before saving (or export the file "
        "again from the source) and deliver it again"
    )


#: Lines a landing note names before "and N more".
MAX_LINES_NAMED = 5
#: Partitions a landing note names before "and N more".
MAX_PERIODS_NAMED = 12
#: Newer deliveries a note of a delivery sent again names before "N more".
MAX_DELIVERIES_NAMED = 3


def _lines_named(lines: list[int], sheet: str | None = None) -> str:
    """The lines a note names, "line 4" or "lines 4, 9, 12 and 3 more": the first
    :data:`MAX_LINES_NAMED` of a delivery's ``lines`` (physical line numbers), and how many
    more; a workbook's on its ``sheet``, as Excel shows them: "sheet 'Umfrage' rows 4, 9"
    (a trial's workbook was named by lines no one finds in Excel)."""
    named = ", ".join(map(str, lines[:MAX_LINES_NAMED]))
    more = f" and {len(lines) - MAX_LINES_NAMED} more" if len(lines) > MAX_LINES_NAMED else ""
    unit = "line" if sheet is None else "row"
    return (
        f"{'' if sheet is None else f'sheet {sheet!r} '}"
        f"{unit if len(lines) == 1 else unit + 's'} {named}{more}"
    )


#: A raw copy is named ``<the first 12 hex digits of its sha256>-<its name as delivered>``.
RAW_PREFIX_DIGITS = 12
#: The name as delivered, taken from a raw copy's path (the regex's one group).
DELIVERED_NAME = rf"(?:[0-9a-f]{{{RAW_PREFIX_DIGITS}}}-)?([^/\\]+)$"


def _delivered_name(raw: str) -> str:
    """The name a delivery came under, from its raw copy's path (``1a2b...-calls.csv`` ->
    ``calls.csv``)."""
    found = re.search(DELIVERED_NAME, raw)
    return found.group(1) if found else raw


def _copy_as_delivered(
    settings: Settings, file: str | DataPath
) -> tuple[DataPath, str, bytes, bool]:
    """Copy ``file`` into the raw zone; return the copy, its sha256, its bytes, and whether
    the same bytes were delivered before (under any name).

    The same bytes delivered again under another name (``export (1).csv``) are not copied a
    second time: the copy made of them first is returned, so the raw zone holds each
    delivery's bytes once and its name is the one they were first delivered under.

    Raises :class:`DeliveryChanging`, before anything is copied, when the file's size or
    modification time changed while it was read: it is still being written."""
    source = as_path(str(file))
    before = file_state(source) if isinstance(source, Path) else None
    data = read_bytes(str(file))
    if before is not None and (after := file_state(source)) != before:
        raise DeliveryChanging(
            f"{file}: it changed while it was read ({before[0]} bytes, then {after[0]}): it "
            "is still being written; nothing landed. Land it once it is complete"
        )
    sha = hashlib.sha256(data).hexdigest()
    prefix = sha[:RAW_PREFIX_DIGITS]
    target = settings.deliveries_dir / f"{prefix}-{Path(str(file)).name}"
    earlier: list[DataPath] = sorted(settings.deliveries_dir.glob(f"{prefix}-*"), key=str)
    seen = bool(earlier)
    if not target.exists():
        for copy in earlier:  # the prefix is 48 bits: the whole checksum decides
            if hashlib.sha256(read_bytes(str(copy))).hexdigest() == sha:
                return copy, sha, data, seen
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.parent / f".{target.name}.partial"
            partial.write_bytes(data)
            partial.rename(target)
        else:  # one PUT: an object store never shows part of an object
            target.write_bytes(data)
    return target, sha, data, seen


#: Canonical columns whose export fields a raw record keeps unredacted (see landed_rows).
UNREDACTED_FIELDS = ("response_id", "interaction_id", "submitted_at", "delivered_at", "started_at")
#: Mapped columns landed as delivered: ids and times (as above), the customer (the key
#: repeat contacts are counted by) and the agent (pseudonymised before any mart), the
#: label (a verdict word), and what landing itself writes. Every other text column (the
#: comment, scores as typed, queue, policy, channel, numbers as typed, each attribute) is
#: redacted: each reaches a mart, a quarantine reason or Data Docs.
KEPT_AS_DELIVERED = (
    *UNREDACTED_FIELDS,
    "customer_id",
    "agent_id",
    "label",
    "attributes",  # redacted field by field, below
    "_excluded",
    "source",
    "source_file",
)


def _with_redacted_attributes(
    frame: pl.DataFrame, names: tuple[str, ...], country: str
) -> pl.DataFrame:
    """``frame`` with each field of its ``attributes`` JSON (every one a text value, as
    ``map_export`` writes them) redacted on its own, each distinct value once, and encoded
    again in the same order."""
    fields = frame.select(
        pl.col("attributes")
        .str.json_decode(pl.Struct({name: pl.String for name in names}))
        .struct.unnest()
    )
    fields, _ = redact_pii_by_value(fields, list(names), country)
    encoded = fields.select(pl.struct(list(names)).struct.json_encode().alias("attributes"))
    return frame.with_columns(
        pl.when(pl.col("attributes").is_null())
        .then(None)
        .otherwise(encoded.to_series())
        .alias("attributes")
    )


def landed_rows(
    mapped: MappedExport,
    settings: Settings,
    definition: SourceDefinition,
    sha256: str,
    landed_at: datetime,
    reject_dates: pl.Series | None = None,
    in_place: Sequence[bool] | None = None,
) -> pl.DataFrame:
    """A mapped delivery as landed rows (``LANDED_SCHEMA``): redacted, each with its raw
    record (never_store columns left out, the agent's field pseudonymised as the clean
    layer's ``agent_id`` is: :func:`pseudonymised_fields`) and its survey date; the
    delivery's rejects as rows with their reason (:func:`rejected_records`), each dated by
    ``reject_dates`` (:func:`rejected_record_dates`, in the rejects' order; read here when
    not given) or, where that is null, by the delivery. ``in_place``:
    :func:`records_in_place` of ``mapped`` (worked out here when not given)."""
    read = mapped.read
    if in_place is None:
        in_place = records_in_place(mapped)
    # Personal data goes from every text column that reaches a mart, a reason or Data Docs,
    # not only from the comment: a privacy review found e-mail addresses, phone numbers and
    # card numbers typed into a score, a topic used as the queue, and attributes, quoted by
    # the quarantine's reasons and stored in feedback_scored. Each distinct value is
    # redacted once (a queue or a score has few).
    # A per-row country (an operator's export of several countries) reads each row's
    # national phone numbers in its own plan, in the comment and in the raw record's fields;
    # it is not landed itself (docs/sources.md, one operator in several countries). The
    # short fields and attributes, by value, and a malformed line, which has no country to
    # read, use the source's.
    text = [
        c
        for c, t in mapped.frame.schema.items()
        if t == pl.String and c not in KEPT_AS_DELIVERED and c not in ("comment", ROW_COUNTRY)
    ]
    # The row's own customer id and recipient's names, where the export carries them, are
    # redacted from its comment and its raw record's fields: quoted in its text, they are
    # certain to be this customer's (no word need name them).
    regions = row_regions(mapped)
    own = None if regions is None else ROW_REGION
    values = own_values(mapped)
    frame = mapped.frame if regions is None else mapped.frame.with_columns(regions)
    frame = frame.with_columns(values)
    frame, _ = redact_pii(frame, ["comment"], definition.country, own, **_own_value_columns(values))
    frame = frame.drop(ROW_REGION, ROW_COUNTRY, *values.columns, strict=False)
    frame, _ = redact_pii_by_value(frame, text, definition.country)
    if definition.attributes:
        frame = _with_redacted_attributes(frame, tuple(definition.attributes), definition.country)
    if definition.pseudonymise_agents and "agent_id" in frame.columns:
        # The landed layer holds the pseudonym too, not only the raw record and clean (a
        # helper's review of the German trial found "Petra Weber" in landed.agent_id);
        # clean keeps a value that is one already (stages._pseudonymised).
        frame = pseudonymised_fields(
            frame, ["agent_id"], definition.read.null_values, settings.agent_key()
        )
    # The raw record is the export's text: personal data goes from it as from the comment
    # (it held the comment unredacted, and so did every landed and quarantined row made from
    # it). The raw zone keeps the delivery as it was, for re-processing. Each field is
    # redacted on its own, each distinct value once: a record's JSON is unique to its row,
    # and redacting whole records sent every id and date with six digits through
    # libphonenumber, 0.2-0.33 ms a row (84 % of landing a 100k-row export). The fields read
    # into ids and times are left as they are: no personal data, stored as they are in the
    # clean layer, and quoted as they are by any reason about them.
    # The agent's field holds the keyed pseudonym the clean layer and the agent marts show
    # (a German trial found "Mitarbeiter":"Petra Weber" in every landed and quarantined row
    # while clean.agent_id read agent-d5cab065c1c4), unless the definition shows its agents.
    as_read = {h for c in UNREDACTED_FIELDS for h in mapped.headers_of(c)}
    agents = [
        c
        for c in mapped.headers_of("agent_id")
        if definition.pseudonymise_agents and c in mapped.raw_columns
    ]
    fields = read.frame.select("source_line", *mapped.raw_columns)
    if regions is not None:  # the mapped rows are the read rows, in order
        fields = fields.with_columns(regions)
    fields = fields.with_columns(values)
    redacted = [c for c in mapped.raw_columns if c not in as_read and c not in agents]
    # The customer id's own field is redacted as before, not replaced by its placeholder.
    customer = [c for c in redacted if c in mapped.headers_of("customer_id")]
    if quoting := [c for c in redacted if c not in customer]:
        fields, _ = redact_pii(
            fields, quoting, definition.country, own, **_own_value_columns(values)
        )
    if customer:
        fields, _ = redact_pii(fields, customer, definition.country, own)
    fields = fields.drop(ROW_REGION, *values.columns, strict=False)
    if agents:
        fields = pseudonymised_fields(
            fields, agents, definition.read.null_values, settings.agent_key()
        )
    records = fields.select(
        "source_line",
        pl.struct(mapped.raw_columns).struct.json_encode().alias("raw_record")
        if mapped.raw_columns
        else pl.lit(None, pl.String).alias("raw_record"),
    )
    options = mapped.parse_options(settings.timezone)
    delivered_on = landed_at.astimezone(_zone(settings.timezone)).date()
    # A row submitted after its delivery was landed (a month-first date read day-first, a
    # clock set wrong) is rejected, dated by its delivery: in the partition of a date still
    # to come it could not run, so it was neither kept nor quarantined.
    formats = " or ".join(options.formats.get("submitted_at", ())) or "ISO 8601"
    future = _submitted_after(options, landed_at)
    # The row's own date, parsed once (polars 2.1 does not share an expression used twice).
    own_date = "__own_survey_date"
    frame = frame.join(records, "source_line", "left").with_columns(
        _own_survey_date(options, settings.timezone, landed_at).alias(own_date)
    )
    frame = frame.with_columns(
        pl.col(own_date).fill_null(delivered_on).alias(PARTITION_COLUMN),
        # Filed under the landing's day here, then under the delivery's own day by
        # land_delivery (undated_rows_day). Said per partition (processed_dates.rows_undated):
        # such rows made a day with no responses look like one (a trial's SurveyMonkey row
        # with an empty End Date read "2026-12-05 read 1 kept 0 quarantined 1").
        pl.col(own_date).is_null().alias("dated_by_delivery"),
        pl.col("delivered_at").fill_null(pl.lit(landed_at.isoformat())),
        pl.col(EXCLUDED).alias("excluded"),
        pl.when(future)
        .then(
            formatted_text(
                "submitted_at: '{}' is after the delivery was landed ({}), in the future: "
                "check that the definition's format for it ({}) reads this export's dates",
                pl.col("submitted_at"),
                pl.lit(f"{landed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"),
                pl.lit(formats),
            )
        )
        .otherwise(None)
        .alias("reject"),
        pl.lit(mapped.timezone).alias("timezone"),
    ).drop(own_date)
    frame = _with_repeated_ids_rejected(frame)
    if reject_dates is None:
        reject_dates = rejected_record_dates(mapped, settings.timezone, landed_at, in_place)
    rejects = rejected_records(mapped, in_place).with_columns(
        rejected_record_ids(mapped, in_place),
        reject_dates.fill_null(delivered_on).alias(PARTITION_COLUMN),
        reject_dates.is_null().alias("dated_by_delivery"),
        pl.lit(definition.name).alias("source"),
        pl.lit(read.path).alias("source_file"),
    )
    rows = pl.concat([frame, rejects], how="diagonal_relaxed").with_columns(
        pl.lit(read.sheet, pl.String).alias("source_sheet"),
        pl.lit(sha256).alias("delivery"),
        pl.lit(landed_at).cast(pl.Datetime("us", "UTC")).alias("landed_at"),
    )
    absent = [
        pl.lit(None, dtype).alias(name)
        for name, dtype in LANDED_SCHEMA.items()
        if name not in rows.columns
    ]
    return rows.with_columns(absent).select(
        pl.col(name).cast(dtype) for name, dtype in LANDED_SCHEMA.items()
    )


def _submitted_after(options: ParseOptions, landed_at: datetime) -> pl.Expr:
    """Whether a row's ``submitted_at`` text (read with ``options``) is after its delivery
    was landed, allowing :data:`CLOCK_SKEW`."""
    submitted = dating_timestamp(
        "submitted_at", options.timezone, options.formats.get("submitted_at", ())
    )
    return submitted > pl.lit(landed_at + CLOCK_SKEW).cast(pl.Datetime("us", "UTC"))


def _own_survey_date(options: ParseOptions, business_timezone: str, landed_at: datetime) -> pl.Expr:
    """The survey date (pl.Date, in ``business_timezone``) a row's ``submitted_at`` text
    gives, read with ``options`` (:func:`transforms.clean.survey_day`); null where it cannot
    be read or is after the delivery was landed (``landed_at``): such a row is dated by its
    delivery instead."""
    submitted = dating_timestamp(
        "submitted_at", options.timezone, options.formats.get("submitted_at", ())
    )
    return (
        pl.when(_submitted_after(options, landed_at))
        .then(None)
        .otherwise(
            survey_day(
                submitted,
                "submitted_at",
                business_timezone,
                options.formats.get("submitted_at", ()),
            )
        )
    )


def _record_fields(text: str, delimiter: str, quote: str) -> list[str] | None:
    """The fields of one rejected CSV record (``text``, over one or more physical lines),
    or None when it does not split into exactly one record."""
    try:
        records = list(
            csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote)
        )
    except csv.Error:
        return None
    return records[0] if len(records) == 1 else None


#: Well-formed rows whose fields' shapes a short record's are compared with
#: (:func:`records_in_place`), from the top of the export...
SHAPES_SAMPLED = 50_000
#: ...and the distinct shapes beyond which a column holds free text, which any field fits.
FREE_TEXT_SHAPES = 50


def _loose_shape(values: pl.Expr) -> pl.Expr:
    """A value's shape as :func:`records_in_place` compares them: each run of digits ``9``,
    each run of letters ``a``, the rest as it is (``1.299,99`` -> ``9.9,9``, ``Anna Nord``
    -> ``a a``, ``anna@example.de`` -> ``a@a.a``)."""
    return values.str.replace_all(r"[0-9]+", "9").str.replace_all(r"[^\W\d_]+", "a")


def records_in_place(mapped: MappedExport) -> list[bool]:
    """For each record the reader rejected (``mapped.read.rejects``, in order), whether its
    fields are the header's first ones, one for one (the last maybe cut short), so a field
    is read from its column's position: a record cut off at the file's end
    (:attr:`~servicelens.ingest.readers.Reject.cut_off`), or a CSV line with fewer fields
    than the header (a line cut short) that is beside no other rejected line (a row split
    by a line break is two short lines, the second holding the header's last fields) and
    whose every non-empty field has a shape (:func:`_loose_shape`) its column has in the
    first :data:`SHAPES_SAMPLED` well-formed rows (its last field the start of one; a
    column of more than :data:`FREE_TEXT_SHAPES` shapes, free text, fits any). A field left
    out in the middle moves the others to columns of other shapes (a name where a fee
    is). Found by a new user's trial: a SurveyMonkey line of 6 fields in 12 was quarantined
    with no record_id and every field masked as never_store, its id and dates in place.

    It samples the well-formed rows' shapes, so a delivery's landing works it out once
    (:func:`land_delivery`) and passes it to :func:`landed_rows` and the readers of the
    rejects' ids, dates and masked fields."""
    return read_records_in_place(mapped.read, mapped.definition.read.dialect.quote)


def read_records_in_place(read: RawRead, quote: str) -> list[bool]:
    """:func:`records_in_place` of a read (``quote`` its dialect's quote character): also
    for the generated sample's survey export, which no definition maps."""
    in_place = [reject.cut_off for reject in read.rejects]
    if read.delimiter is None or not read.rejects:
        return in_place
    rejected_lines = {reject.line for reject in read.rejects}
    candidates: dict[int, list[str]] = {}
    for number, reject in enumerate(read.rejects):
        body = reject.text.rstrip("\r\n")
        if reject.cut_off or "\n" in body or "\r" in body or reject.redacted:
            continue
        if {reject.line - 1, reject.line + 1} & rejected_lines:
            continue
        fields = _record_fields(body, read.delimiter, quote)
        if fields and len(fields) < len(read.header):
            candidates[number] = fields
    if not candidates:
        return in_place
    width = max(len(fields) for fields in candidates.values())
    sample = read.frame.head(SHAPES_SAMPLED)
    shapes: list[set[str] | None] = []
    for name in read.header[:width]:
        if name not in sample.columns:
            shapes.append(set())  # not read: nothing fits
            continue
        found = (
            sample.select(_loose_shape(pl.col(name).filter(pl.col(name) != "")).unique())
            .head(FREE_TEXT_SHAPES + 1)
            .to_series()
            .drop_nulls()
        )
        shapes.append(None if found.len() > FREE_TEXT_SHAPES else set(found))
    for number, fields in candidates.items():
        shaped = pl.DataFrame({"f": fields}, schema={"f": pl.String}).select(
            _loose_shape(pl.col("f"))
        )
        last = len(fields) - 1
        in_place[number] = all(
            value == "" or _fits(shape, shapes[at], at == last)
            for at, (value, shape) in enumerate(zip(fields, shaped.to_series(), strict=True))
        )
    return in_place


def _fits(shape: str, column: set[str] | None, last: bool) -> bool:
    """Whether a field of ``shape`` fits a column of the ``column`` shapes (None: free
    text, any): one of them, or for a ``last`` field (maybe cut short) the start of one."""
    if column is None or shape in column:
        return True
    return last and any(known.startswith(shape) for known in column)


def rejected_record_ids(mapped: MappedExport, in_place: Sequence[bool] | None = None) -> pl.Series:
    """The response id each record the reader rejected (``mapped.read.rejects``, in order)
    gives, where it can be told for certain; else null.

    A record with fields too many holds them because a value holds the delimiter unquoted,
    wherever that is; only the first field is the same in every alignment (as
    :func:`rejected_record_dates` reasons), so an id is told where the definition reads it
    from the export's first column, the record has more fields than the header (a field
    lost, two values may have run together) or fewer on a line beside no other rejected
    line (not half of a row a line break split), and its first field has the shape of the
    ids the well-formed rows hold (digits and letters in the same places: an id cut at an
    unquoted delimiter of its own has not). A record cut off at the file's end
    (:attr:`~servicelens.ingest.readers.Reject.cut_off`), or a line cut short
    (:func:`records_in_place`), holds the header's first fields one for one: its id is told
    from the id column's position when a delimiter follows that field (the last field may be
    cut short), wherever the column is. A line whose quote opens a field and never closes it
    (the reader's stray quote) tells the id where the id's field comes before that one
    (:func:`_fields_before_an_open_quote`). A derived id (made from
    the answers) is never told. A JSON record the file ends inside
    (:attr:`~servicelens.ingest.readers.Reject.truncated`) tells its id when the id's key
    and a whole value (a comma or brace after it) precede the cut
    (:func:`_id_before_the_cut`). Found by trials: a SurveyMonkey line with an unquoted comma
    in its comment, a call log copied in part, and a Zendesk page cut off in a rating were
    quarantined with no record_id, though their ids read (the complete copy delivered
    after could not supersede the fragment). ``in_place``: :func:`records_in_place` of
    ``mapped`` (worked out here when not given)."""
    read = mapped.read
    ids: list[str | None] = [None] * len(read.rejects)
    read_from = mapped.exported_as.get("response_id", ())
    rule = mapped.definition.columns.get("response_id")
    if (
        not read.rejects
        or (read.delimiter is None and not any(r.truncated for r in read.rejects))
        or rule is None
        or rule.derive
        or len(read_from) != 1
        or read_from[0] not in read.header
        or "response_id" not in mapped.frame.columns
    ):
        return pl.Series("response_id", ids, dtype=pl.String)
    firsts = rejected_id_fields(
        read,
        read_from[0],
        mapped.definition.read.dialect.quote,
        records_in_place(mapped) if in_place is None else in_place,
    )
    told = (
        pl.DataFrame({read_from[0]: firsts}, schema={read_from[0]: pl.String})
        .select(mapped_column("response_id", read_from, mapped.definition, read.encoding))
        .to_series()
    )
    return ids_shaped_as(told, mapped.frame.get_column("response_id"))


def rejected_id_fields(
    read: RawRead, column: str, quote: str, in_place: Sequence[bool]
) -> list[str | None]:
    """The text of the id column ``column`` (of ``read.header``) each record the reader
    rejected (``read.rejects``, in order) holds where it can be told for certain, as
    :func:`rejected_record_ids` reasons; else None. ``quote``: the dialect's quote
    character; ``in_place``: :func:`read_records_in_place` of the rejects."""
    position = read.header.index(column)
    rejected_lines = {reject.line for reject in read.rejects}
    firsts: list[str | None] = []
    for number, reject in enumerate(read.rejects):
        if read.delimiter is None:
            firsts.append(_id_before_the_cut(reject, column))
            continue
        fields = _record_fields(reject.text, read.delimiter, quote) or []
        long = position == 0 and len(fields) > len(read.header)
        # A line of too few fields beside no other rejected line (not one half of a row a
        # line break split, whose second half starts mid-row) starts with the header's
        # first column, whichever field is missing after it: a trial's SurveyMonkey line of
        # 5 fields in 7, a field in its middle of another shape, had no record_id.
        short = (
            position == 0
            and 1 < len(fields) < len(read.header)
            and not reject.redacted
            and not {reject.line - 1, reject.line + 1} & rejected_lines
            and "\n" not in reject.text.rstrip("\r\n")
        )
        whole = in_place[number] and position < len(fields) - 1
        # A line whose quote opens a field and is never closed (the reader's stray quote)
        # starts a record, unless the line before it is rejected too (a row a line break
        # split): the fields before that one are whole, the header's first ones. A card
        # issuer's trial: line 21's comment opened a quote, its intact id was not told.
        before = (
            []
            if reject.redacted or reject.line - 1 in rejected_lines
            else _fields_before_an_open_quote(reject.text, read.delimiter, quote)
        )
        firsts.append(
            fields[position]
            if long or short or whole
            else before[position]
            if position < len(before)
            else None
        )
    return firsts


def _fields_before_an_open_quote(text: str, delimiter: str, quote: str) -> list[str]:
    """The fields of a one-line record (``text``) before the field its quote opens and never
    closes (the csv module, strict, meets the end of the data inside it): whole, each
    followed by a delimiter. None (an empty list) for a record that closes its quotes, or
    spans lines."""
    body = text.rstrip("\r\n")
    if "\n" in body or "\r" in body:
        return []
    try:
        next(csv.reader([body], delimiter=delimiter, quotechar=quote, strict=True), None)
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            return (_record_fields(body, delimiter, quote) or [])[:-1]
    return []


def ids_shaped_as(told: pl.Series, ids: pl.Series) -> pl.Series:
    """``told`` (ids read from rejected records), each kept where it has the shape
    (:func:`_id_shape`) of one of ``ids`` (the well-formed rows'), else null: an id cut at
    an unquoted delimiter of its own, or a field that is no id, has none of theirs."""
    shapes = set(pl.DataFrame({"id": ids}).select(_id_shape(pl.col("id"))).to_series().drop_nulls())
    shaped = pl.DataFrame({"id": told}).select(_id_shape(pl.col("id"))).to_series()
    return pl.Series(
        "response_id",
        [
            i if i is not None and shape in shapes else None
            for i, shape in zip(told, shaped, strict=True)
        ],
        dtype=pl.String,
    )


def _id_before_the_cut(reject: Reject, key: str) -> str | None:
    """The value of ``key`` in the text of a JSON record the file ends inside, as the reader
    writes a whole record's (text; a whole number as its digits), when the key and its whole
    value (a string, or a number, followed by a comma or a closing brace) come before the
    cut; else None. A key written inside a string value has its quotes escaped, so only a
    key of the record itself is matched."""
    if not reject.truncated:
        return None
    found = re.search(
        rf'"{re.escape(key)}"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*[,}}]',
        reject.text,
    )
    if found is None:
        return None
    return json_value_text(json.loads(found.group(1)))


def _id_shape(ids: pl.Expr) -> pl.Expr:
    """An id's shape: each digit ``9``, each letter ``a``, the rest as it is
    (``R_3kXz9`` -> ``a_9aaa9``)."""
    return ids.str.replace_all(r"[0-9]", "9").str.replace_all(r"[^\W\d_]", "a")


def rejected_record_dates(
    mapped: MappedExport,
    business_timezone: str,
    landed_at: datetime,
    in_place: Sequence[bool] | None = None,
) -> pl.Series:
    """The survey date (pl.Date, in ``business_timezone``) each record the reader rejected
    (``mapped.read.rejects``, in order) gives by its own ``submitted_at``, null where none
    can be told; ``landed_at`` is when the delivery was landed (a later time is none).

    A ragged CSV record (``k`` fields too many or too few) holds the value of header
    position ``p`` in one of its fields ``p`` to ``p + k`` (or ``p - k`` to ``p``), as
    :func:`masked_fields` reasons: each alignment is read as the definition maps and dates
    ``submitted_at`` (:func:`~servicelens.ingest.mapping.mapped_column`,
    :func:`_own_survey_date`), and the record is dated when the alignments that read give
    one date. A JSON record that could not be parsed, a record over lines that does not
    split, or alignments that give different dates: null, and the record is dated by its
    delivery as any undatable row is. Found by a QA lead's trial: a Qualtrics line with 2
    fields too many made a partition of the day it was landed, a survey date that got no
    surveys, though its RecordedDate read. ``in_place``: :func:`records_in_place` of
    ``mapped`` (worked out here when not given)."""
    read = mapped.read
    read_from = mapped.exported_as.get("submitted_at", ())
    dates = [None] * len(read.rejects)
    if not read.rejects or not read_from or read.delimiter is None:
        return pl.Series(PARTITION_COLUMN, dates, dtype=pl.Date)
    positions = [read.header.index(column) for column in read_from]
    quote = mapped.definition.read.dialect.quote
    alignments: dict[str, list[Any]] = {"_record": [], **{column: [] for column in read_from}}
    if in_place is None:
        in_place = records_in_place(mapped)
    for number, reject in enumerate(read.rejects):
        fields = _record_fields(reject.text, read.delimiter, quote)
        if fields is None:
            continue
        # A record in place (records_in_place) has one alignment: the header's.
        extra = 0 if in_place[number] else len(fields) - len(read.header)
        for shift in range(min(0, extra), max(0, extra) + 1):
            at = [p + shift for p in positions]
            if all(0 <= i < len(fields) for i in at):
                alignments["_record"].append(number)
                for column, i in zip(read_from, at, strict=True):
                    alignments[column].append(fields[i])
    frame = pl.DataFrame(
        alignments, schema={"_record": pl.Int64, **{column: pl.String for column in read_from}}
    )
    options = mapped.parse_options(business_timezone)
    dated = (
        frame.select(
            "_record",
            mapped_column("submitted_at", read_from, mapped.definition, read.encoding),
        )
        .select("_record", _own_survey_date(options, business_timezone, landed_at).alias("day"))
        .drop_nulls("day")
        .group_by("_record")
        .agg(pl.col("day").unique())
        .filter(pl.col("day").list.len() == 1)
    )
    for number, (day,) in dated.iter_rows():
        dates[number] = day
    return pl.Series(PARTITION_COLUMN, dates, dtype=pl.Date)


def pseudonymised_fields(
    fields: pl.DataFrame, columns: list[str], null_values: tuple[str, ...], key: bytes
) -> pl.DataFrame:
    """``fields`` (export columns as text) with each of ``columns`` (the agent's) holding the
    keyed pseudonym of its value (:func:`transforms.agents.pseudonymise` under the settings'
    agent key), read as the clean layer reads an agent id (trimmed, whitespace collapsed:
    :func:`transforms.clean.normalised_text`), so a raw record names the agent as
    ``clean.agent_id`` and the agent marts do. A field that holds no id (empty, or one of
    the definition's ``null_values``) is left as it is."""
    from transforms.agents import pseudonymise

    for column in columns:
        text = normalised_text(column)
        ids = fields.select(
            pl.when(text.is_in(list(null_values))).then(None).otherwise(text).alias(column)
        ).to_series()
        pseudonyms = pseudonymise(ids, key)
        fields = fields.with_columns(
            pl.when(pseudonyms.is_null()).then(pl.col(column)).otherwise(pseudonyms).alias(column)
        )
    return fields


#: What stands in a rejected record's raw text for a field of a ``never_store`` column, and
#: for one of the agent column when the source's agents are pseudonymised.
NEVER_STORE_FIELD = "[NEVER_STORE]"
AGENT_FIELD = "[AGENT]"
#: What stands for a whole rejected record whose fields cannot be told apart: ``why`` (its
#: fields could not be aligned with the header, or a JSON value withheld could not be
#: told apart), ``columns`` (:func:`_withheld_named`: never_store columns, the
#: pseudonymised agent's), and where the raw zone keeps it.
WITHHELD_RECORD = (
    "[WITHHELD: {why}, so {columns} could not be left out; the raw zone keeps it: "
    "{file}, line {line}]"
)
#: ``why`` of :data:`WITHHELD_RECORD` for a CSV record, and for a JSON one.
NOT_ALIGNED = "the fields of this record could not be aligned with the header"
NOT_SEPARATED = "the values of this record could not be separated (its JSON does not parse)"


def _withheld_named(header: list[str], withheld: dict[int, str]) -> str:
    """The columns :data:`WITHHELD_RECORD` names, each kind for what it is: "the columns
    that never leave raw/ ('Kunde')" (never_store) and "the pseudonymised agent column
    ('assignee_id')". Found by a trial: a Zendesk record cut off named its agent column as
    one that never leaves raw/, where the definition has no never_store column."""
    named = []
    for placeholder, kind in (
        (NEVER_STORE_FIELD, "the columns that never leave raw/"),
        (AGENT_FIELD, "the pseudonymised agent column"),
    ):
        columns = [repr(header[p]) for p, held in sorted(withheld.items()) if held == placeholder]
        if columns:
            plural = "s" if len(columns) > 1 and placeholder == AGENT_FIELD else ""
            named.append(f"{kind}{plural} ({', '.join(columns)})")
    return " and ".join(named)


def masked_json_text(text: str, withheld: dict[str, str]) -> str | None:
    """``text`` (a JSON record that could not be parsed: cut off, or broken) with the value
    of each key of ``withheld`` (key -> placeholder, :func:`withheld_fields`) replaced by
    its placeholder as a JSON string, wherever the key is followed by a colon; None when
    such a value is an object or a list (where it ends cannot be told in a broken record).
    A string value cut off at the end of ``text`` is masked to its end. A key written
    inside a string value has its quotes escaped, so only the record's own keys match."""
    for key, placeholder in withheld.items():
        pattern = re.compile(rf'("{re.escape(key)}"\s*:\s*)')
        masked, at = [], 0
        for found in pattern.finditer(text):
            start = found.end()
            if start < at:
                continue
            value = re.match(r'"(?:[^"\\]|\\.)*"?|[^,}\]\s]*', text[start:])
            if text[start : start + 1] in ("{", "[") or value is None:
                return None
            masked += [text[at:start], json.dumps(placeholder)]
            at = start + value.end()
        text = "".join(masked) + text[at:]
    return text


def withheld_fields(mapped: MappedExport) -> dict[int, str]:
    """Header positions of ``mapped``'s export whose fields never leave ``raw/``, each with
    the placeholder that stands for it: the definition's ``never_store`` columns
    (:data:`NEVER_STORE_FIELD`) and, when its agents are pseudonymised, the columns read into
    ``agent_id`` (:data:`AGENT_FIELD`). Columns are matched as the mapping matches them
    (:func:`~servicelens.ingest.readers.column_key`); docs/sources.md, ``never_store`` and
    ``pseudonymise_agents``."""
    definition = mapped.definition
    private = {column_key(c) for c in definition.never_store}
    agents = (
        {column_key(c) for c in mapped.headers_of("agent_id")}
        if definition.pseudonymise_agents
        else set()
    )
    withheld: dict[int, str] = {}
    for position, name in enumerate(mapped.read.header):
        if column_key(name) in private:
            withheld[position] = NEVER_STORE_FIELD
        elif column_key(name) in agents:
            withheld[position] = AGENT_FIELD
    return withheld


def masked_fields(
    text: str,
    width: int,
    withheld: dict[int, str],
    delimiter: str,
    quote: str,
    cut_off: bool = False,
) -> list[str] | None:
    """The fields of one rejected CSV record (``text``, one physical line) with every field
    that may hold a withheld column's value replaced by its placeholder, or None when that
    cannot be told (a record over several lines: an open quote swallowed the lines of other
    rows, whose fields it holds anywhere).

    ``width`` is the header's field count and ``withheld`` maps header positions to
    placeholders (:func:`withheld_fields`). A record with ``k`` fields too many was split
    somewhere by a delimiter inside a value (or got fields appended): the value of header
    position ``p`` lies within its fields ``p`` to ``p + k``, wherever the split was, so all
    of them are masked; with ``k`` too few (fields left out, a line cut short), within
    ``p - k`` to ``p``. A record as wide as the header is masked field for field, and so is
    one ``cut_off`` at its end (:attr:`~servicelens.ingest.readers.Reject.cut_off`): its
    fields are the header's first ones, one for one. Found by a trial: a call log copied in
    part quarantined ``[AGENT],[AGENT],01/1``, its Call Id masked as an agent's name."""
    body = text.rstrip("\r\n")
    if "\n" in body or "\r" in body:
        return None
    try:
        fields = next(csv.reader([body], delimiter=delimiter, quotechar=quote), [])
    except csv.Error:
        return None
    extra = 0 if cut_off else len(fields) - width
    masked = list(fields)
    # never_store first: where two windows overlap, the stricter placeholder stands.
    for position, placeholder in sorted(
        withheld.items(), key=lambda item: item[1] != NEVER_STORE_FIELD
    ):
        low, high = sorted((position, position + extra))
        for index in range(max(low, 0), min(high, len(fields) - 1) + 1):
            if masked[index] not in (NEVER_STORE_FIELD, AGENT_FIELD):
                masked[index] = placeholder
    return masked


def rejected_records(mapped: MappedExport, in_place: Sequence[bool] | None = None) -> pl.DataFrame:
    """The records ``mapped``'s reader rejected (a field too many or too few, an open quote,
    a broken JSON line) as (``source_line``, ``raw_record``, ``reject``), their text
    redacted (the source's country for phone numbers).

    A rejected record cannot be mapped onto columns, so its text is all there is to quote,
    and it held the never_store columns and the agent's name as delivered (a German trial's
    ragged line put the customer's name and the agent's in the quarantine and the landed
    layer). When the definition withholds columns (:func:`withheld_fields`), a one-line CSV
    record keeps its fields with those that may hold a withheld value masked
    (:func:`masked_fields`), the rest redacted field by field; a JSON record keeps its text
    with those values masked (:func:`masked_json_text`), the rest redacted; any other
    record (over several lines, or JSON whose withheld value is an object or a list) is
    replaced by :data:`WITHHELD_RECORD`, naming its raw copy's line.
    The reason, saying what was wrong, is kept as it is. ``in_place``:
    :func:`records_in_place` of ``mapped`` (worked out here when needed and not given)."""
    read = mapped.read
    definition = mapped.definition
    rejects = pl.DataFrame(
        {
            "source_line": [r.line for r in read.rejects],
            "raw_record": [r.text for r in read.rejects],
            "reject": [r.reason for r in read.rejects],
        },
        schema={"source_line": pl.Int64, "raw_record": pl.String, "reject": pl.String},
    )
    withheld = withheld_fields(mapped)
    if not withheld or not read.rejects:
        return redact_pii(rejects, ["raw_record"], definition.country)[0]
    columns = _withheld_named(read.header, withheld)
    if read.delimiter is None:
        # A JSON record that could not be parsed: its withheld values masked in its text,
        # the rest redacted as a whole record is (a trial's cut Zendesk rating was withheld
        # whole, its agent's id the only value to leave out).
        keys = {read.header[p]: placeholder for p, placeholder in withheld.items()}
        texts = [
            masked_json_text(r.text, keys)
            or WITHHELD_RECORD.format(
                why=NOT_SEPARATED, columns=columns, file=Path(read.path).name, line=r.line
            )
            for r in read.rejects
        ]
        masked = rejects.with_columns(pl.Series("raw_record", texts, dtype=pl.String))
        return redact_pii(masked, ["raw_record"], definition.country)[0]
    quote = definition.read.dialect.quote
    # A record cut off, or a line cut short, in place (records_in_place): masked field for
    # field, its other fields kept (a trial's short SurveyMonkey line was masked whole).
    if in_place is None:
        in_place = records_in_place(mapped)
    records = [
        masked_fields(r.text, len(read.header), withheld, read.delimiter, quote, in_place[i])
        if read.delimiter
        else None
        for i, r in enumerate(read.rejects)
    ]
    # Each field redacted on its own, as a well-formed row's raw record is; a placeholder
    # is left as it is.
    pieces = pl.DataFrame(
        {
            "record": [i for i, fields in enumerate(records) for _ in fields or ()],
            "field": [f for fields in records for f in fields or ()],
        },
        schema={"record": pl.Int64, "field": pl.String},
    )
    pieces = pieces.with_columns(
        pl.when(~pl.col("field").is_in([NEVER_STORE_FIELD, AGENT_FIELD]))
        .then(pl.col("field"))
        .alias("redacted")
    )
    pieces, _ = redact_pii(pieces, ["redacted"], definition.country)
    redacted: dict[int, list[str]] = {}
    for record, as_read, as_redacted in pieces.iter_rows():
        redacted.setdefault(record, []).append(as_read if as_redacted is None else as_redacted)
    texts = []
    for index, reject in enumerate(read.rejects):
        if records[index] is None:
            texts.append(
                WITHHELD_RECORD.format(
                    why=NOT_ALIGNED, columns=columns, file=Path(read.path).name, line=reject.line
                )
            )
            continue
        out = io.StringIO()
        writer = csv.writer(out, delimiter=str(read.delimiter), quotechar=quote, lineterminator="")
        writer.writerow(redacted.get(index, []))
        texts.append(out.getvalue())
    return rejects.with_columns(pl.Series("raw_record", texts, dtype=pl.String))


#: The start of every reject landing itself gives a row (a value that fails a check of the
#: whole delivery: a time after it was landed, an id two of its rows use), as the row
#: suite's reasons start; a record the reader could not split starts otherwise
#: ("malformed ..."). The run's counts tell the two apart by it.
LANDING_CHECK_REJECT = r"^[a-z_]+: '"


def _with_repeated_ids_rejected(frame: pl.DataFrame) -> pl.DataFrame:
    """A delivery's rows (``response_id``, ``survey_date``, ``reject``, ``excluded``) with
    every row whose response id another row of the delivery, dated to another survey date,
    also carries set aside as a reject, each with the row suite's reason
    (:data:`~servicelens.validation.expectations.REPEATED_ID`).

    The row suite quarantines both copies of an id used twice in one delivery, but it runs
    on one partition at a time: two copies dated to different partitions (a SurveyMonkey
    export of a week with one respondent id on two days, a trial's) each passed in its own
    partition, and which one the marts kept depended on the order the partitions ran in,
    while ``sources check``, reading the export whole, quarantined both. Ids compare as the
    clean layer compares them (``transforms.clean.normalised_text``); rows already set aside
    and rows without an id (a derived id is made later, from the answers) take no part, nor
    does an id a spreadsheet wrote in scientific notation
    (:data:`~servicelens.validation.expectations.SCIENTIFIC_ID`): its copies are different
    responses whose digits were lost, which the row suite says (a trial's German export,
    told to keep one of them, which would have dropped the others)."""
    if "response_id" not in frame.columns or frame.height < 2:
        return frame
    key = normalised_text("response_id")
    taking_part = (
        pl.col("reject").is_null()
        & pl.col("excluded").is_null()
        & key.is_not_null()
        & ~key.str.contains(SCIENTIFIC_ID)
    )
    repeated = (
        frame.filter(taking_part)
        .group_by(key.alias("id"))
        .agg(pl.col(PARTITION_COLUMN).n_unique().alias("dates"))
        .filter(pl.col("dates") > 1)
        .get_column("id")
    )
    if repeated.is_empty():
        return frame
    return frame.with_columns(
        pl.when(taking_part & key.is_in(repeated.implode()))
        .then(formatted_text("response_id: '{}' {}", pl.col("response_id"), pl.lit(REPEATED_ID)))
        .otherwise(pl.col("reject"))
        .alias("reject")
    )


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


class DeliveryChanging(SourceError):
    """A delivery written to while it was read (a copy still in progress): nothing landed."""


class EmptyDelivery(SourceError):
    """A delivery with no rows: a header only (a day without responses, for some feeds).

    ``complete``: its format shows it whole (a JSON document's empty list, a workbook that
    opens), where 0 bytes or a CSV header alone may be a copy cut off."""

    def __init__(self, message: str, complete: bool = False) -> None:
        super().__init__(message)
        self.complete = complete


#: A date written in a delivery's file name (``responses-2026-11-22.csv``).
NAMED_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
#: The line ends a whole CSV's last line ends with (UTF-16's read as its first byte).
LINE_ENDS = (b"\n", b"\r", b"\n\x00", b"\r\x00")


def header_only_whole(settings: Settings, file: str | DataPath, now: float | None = None) -> bool:
    """Whether ``file``, a CSV of a header and no row, is whole by the inbox's own judgement
    of a settled file (:func:`~servicelens.ingest.configured.inbox_wait`): unchanged for
    ``settings.inbox_settle_seconds`` before ``now`` (seconds since the epoch; the clock
    when None) and ending with its line end. A copy still being written (too young) or cut
    inside its header (no line end) is not. A packed file (gzip, zip) is judged by the
    file inside it; one that cannot be unpacked is not whole. Reads the file's bytes."""
    from servicelens.ingest.readers import unpack_delivery

    try:
        written = file_state(as_path(str(file)))[1]
        data, _ = unpack_delivery(str(file), read_bytes(str(file)))
    except (OSError, SourceError):
        return False
    settled = (time.time() if now is None else now) - written >= settings.inbox_settle_seconds
    return settled and data.endswith(LINE_ENDS)


def named_dates(file: str | DataPath) -> list[date]:
    """The dates ``file``'s name holds (:data:`NAMED_DATE`, ``responses-2026-11-22.csv``),
    in order, those the calendar does not have left out; a raw copy's path is read by the
    name it was delivered under (:func:`_delivered_name`)."""
    dates = []
    for found in NAMED_DATE.finditer(_delivered_name(Path(str(file)).name)):
        try:
            dates.append(date(*map(int, found.groups())))
        except ValueError:
            continue
    return dates


#: How :func:`undated_rows_day` chose a delivery's day, as its note says it.
BY_NAME, BY_MOST_ROWS, BY_LANDING = (
    "the date its file name holds",
    "the day most of its dated rows fall on",
    "the day it was landed: its file name holds no single date and none of its rows has one",
)


def undated_rows_day(rows: pl.DataFrame, file: str | DataPath, landed_on: date) -> tuple[date, str]:
    """The survey day a delivery's rows whose own date cannot be read are filed under, and
    how it was chosen (:data:`BY_NAME`...): the single date the delivery's ``file`` name
    holds (:func:`named_dates`, as a quiet day's is told: an export a day, named so), else
    the day most of its dated rows fall on (the earliest of equals), else ``landed_on``, the
    day it was landed in the business's timezone (a monthly export whose rows are all
    undated, say).

    ``rows``: the delivery's landed rows (``LANDED_SCHEMA``), ``dated_by_delivery`` marking
    the undated ones. Found by an analyst's trial: a quarter of daily exports caught up on
    one day filed their 75 day-first rows under that day, outside the quarter, and its
    partition of nothing kept exited the run 4."""
    named = set(named_dates(file))
    if len(named) == 1:
        return named.pop(), BY_NAME
    most = (
        rows.filter(~pl.col("dated_by_delivery").fill_null(False))
        .group_by(PARTITION_COLUMN)
        .len()
        .sort(["len", PARTITION_COLUMN], descending=[True, False])
        .head(1)
        .get_column(PARTITION_COLUMN)
        .to_list()
    )
    if most:
        return most[0], BY_MOST_ROWS
    return landed_on, BY_LANDING


def undated_rows_reason(
    rows: pl.DataFrame, apart: Sequence[str], definition: SourceDefinition
) -> str | None:
    """:data:`~servicelens.validation.expectations.NO_SUCH_DAY`, the reason validation
    quarantines them with, when every one of a delivery's undated rows (``rows``: its
    landed rows, ``dated_by_delivery`` marking them; the reader's rejects and those
    kept ``apart`` left out) holds a time written in the definition's declared format
    (its ``submitted_at``: a contact feed's started_at) that names a day its month does not
    have (:func:`transforms.clean.no_such_day`); else None (empty, or another format: the
    note says what it may be)."""
    column = definition.columns.get("submitted_at")
    declared = " or ".join(column.formats) if column else ""
    if not declared:
        return None
    undated = rows.filter(
        pl.col("dated_by_delivery").fill_null(False),
        pl.col("reject").is_null(),
        ~pl.col("response_id").is_in(list(apart)).fill_null(False),
    ).get_column("submitted_at")
    if undated.is_empty():
        return None
    exact = undated.to_frame().select(no_such_day(pl.col("submitted_at"), declared).all())
    return NO_SUCH_DAY if exact.item() else None


def with_undated_rows_filed(
    rows: pl.DataFrame, day: date, apart: Sequence[str] = ()
) -> pl.DataFrame:
    """``rows`` (``LANDED_SCHEMA``) with those ``dated_by_delivery`` filed under ``day``
    (:func:`undated_rows_day`), but those whose ``response_id`` is in ``apart``
    (:func:`_undated_redeliveries`), which stay where :func:`landed_rows` filed them."""
    undated = pl.col("dated_by_delivery").fill_null(False) & ~pl.col("response_id").is_in(
        list(apart)
    ).fill_null(False)
    return rows.with_columns(
        pl.when(undated)
        .then(pl.lit(day))
        .otherwise(pl.col(PARTITION_COLUMN))
        .alias(PARTITION_COLUMN)
    )


def _undated_redeliveries(
    settings: Settings, rows: pl.DataFrame, sha: str, landed_at: datetime
) -> list[str]:
    """The response ids of a delivery's undated rows (``rows``, ``dated_by_delivery``) that
    re-deliver a response another delivery landed before ``landed_at`` with a date of its
    own. Such a copy stays under the day the delivery was landed: filed under the
    delivery's day, it would often share the older copy's partition and, quarantined,
    take that copy out of the marts; apart, it supersedes nothing (the older copy stays,
    and the delivery's note says so: a trial's re-saved export). One scan of the landed
    layer's ids, only when the delivery has undated rows."""
    wanted = rows.filter(
        pl.col("dated_by_delivery").fill_null(False)
        & pl.col("reject").is_null()
        & pl.col("response_id").is_not_null()
    ).select("response_id")
    if wanted.is_empty() or not any(
        settings.landed_dir.glob(f"{PARTITION_COLUMN}=*/{PARTITION_FILE}")
    ):
        return []
    older = (
        scan_table(settings.landed_dir)
        .filter(
            pl.col("excluded").is_null()
            & (pl.col("delivery") != sha)
            & ~pl.col("dated_by_delivery").fill_null(False)
            & (pl.col("landed_at") < pl.lit(landed_at).cast(pl.Datetime("us", "UTC")))
        )
        .select("response_id")
        .join(wanted.lazy().unique(), "response_id", "semi")
        .unique()
        .collect()
    )
    return older.get_column("response_id").to_list()


def quiet_day(
    file: str | DataPath, run_date: date | None, partition: str = "day"
) -> tuple[date | None, str]:
    """The one day a whole header-only delivery ``file`` says had no responses, and how it
    was told, for its note: the single date its name holds (``responses-2026-11-22.csv``:
    "the date its name holds"), else ``run_date`` (the nightly run's date: "the run's
    date"). None, with why, for a name holding a range of dates (it covers more than one
    day, which no date's partition can say alone), for no date without a run's date, and
    for a source partitioned by month (``partition``: one day says nothing of its month)."""
    if partition != "day":
        return None, (
            "the source is partitioned by month, and one day says nothing of its month: no "
            "partition is recorded for it"
        )
    dates = named_dates(file)
    if len(set(dates)) == 1:
        return dates[0], "the date its name holds"
    if dates:
        return None, (
            f"its name holds {len(set(dates))} dates, so it covers more than one day: no day "
            "is recorded for it"
        )
    if run_date is not None:
        return run_date, "the run's date; its name holds no date"
    return None, "its name holds no date, so no day is recorded for it"


def _land_a_quiet_day(
    settings: Settings,
    definition: SourceDefinition,
    file: str | DataPath,
    target: DataPath,
    sha: str,
    written_at: datetime,
    day: tuple[date | None, str],
) -> Landing:
    """Land a whole header-only delivery (:func:`header_only_whole`), its raw copy
    ``target`` of sha256 ``sha`` kept: a landed partition of no rows for the day it covers
    (``day``, :func:`quiet_day`) whose manifest names the delivery, so that date runs and
    is recorded processed with 0 rows. Nothing is written for no day (a monthly source's,
    a range's), or for a day that has a landed partition already (its rows came in another
    delivery: not a quiet day); the Landing's :attr:`Landing.quiet_day` says which."""
    covered, how = day
    result = Landing(str(file), str(target), sha, 0, 0)
    if covered is None:
        result.quiet_day = (None, how)
        return result
    manifest = read_manifest(settings.landed_dir, covered)
    if manifest is not None:
        held = manifest.get("deliveries", {})
        result.already_landed = sha in held
        how += (
            "; its partition holds it already"
            if sha in held
            else f"; its partition holds rows of {len(held)} other deliver"
            + ("y" if len(held) == 1 else "ies")
            + ", left as they are"
        )
        result.quiet_day = (covered, how)
        return result
    write_partition(
        pl.DataFrame(schema=LANDED_SCHEMA).with_columns(pl.lit(covered).alias(PARTITION_COLUMN)),
        settings.landed_dir,
        covered,
        {**LANDED_SCHEMA},
        {
            "source": definition.name,
            "definition": str(definition.path),
            "partition": {"key": PARTITION_COLUMN, "granularity": definition.partition},
            "deliveries": {sha: str(target)},
            "definitions": {sha: definition.fingerprint},
            "inputs": {str(target): sha},
            "superseded_elsewhere": [],
            "landed_at": written_at.isoformat(),
        },
        settings.staging_dir,
    )
    result.periods[covered] = 0
    result.quiet_day = (covered, how)
    return result


def _dated_rows(
    settings: Settings,
    definition: SourceDefinition,
    mapped: MappedExport,
    file: str | DataPath,
    sha: str,
    dated_at: datetime,
    in_place: Sequence[bool],
) -> tuple[pl.Series, pl.DataFrame, date, tuple[date, str], list[str]]:
    """A delivery's landed rows as of ``dated_at`` (when it counts as landed): the rejects'
    dates, the rows with the undated ones filed under the delivery's day, that day (in the
    business timezone), the day its undated rows are filed under with how it was told
    (:func:`undated_rows_day`), and the ids of undated re-deliveries kept apart
    (:func:`_undated_redeliveries`)."""
    reject_dates = rejected_record_dates(mapped, settings.timezone, dated_at, in_place)
    rows = landed_rows(mapped, settings, definition, sha, dated_at, reject_dates, in_place)
    delivered_on = dated_at.astimezone(_zone(settings.timezone)).date()
    undated = undated_rows_day(rows, file, delivered_on)
    apart = _undated_redeliveries(settings, rows, sha, dated_at)
    rows = with_undated_rows_filed(rows, undated[0], apart)
    return reject_dates, rows, delivered_on, undated, apart


def land_delivery(
    settings: Settings,
    definition: SourceDefinition,
    file: str | DataPath,
    landed_at: datetime | None = None,
    run_date: date | None = None,
    rekey: bool = True,
) -> Landing:
    """Land one delivered file of ``definition``'s source (see the module's docstring).

    Raises the reader's and the definition's errors (SourceError, DefinitionError), naming
    ``file`` (not its raw copy, which is what was read), before anything is written: a file
    that cannot be read lands nothing, and the raw copy made of it is removed again (the
    file stays where it was delivered; a trial found refused files' copies piling up in the
    raw zone, and each error naming both paths). So does a file without rows
    (EmptyDelivery) that may be a copy cut off (0 bytes, a CSV header): an inbox keeps it
    until it holds rows. One shown whole (``EmptyDelivery.complete``) keeps its raw copy: it
    was delivered, and is not to be delivered again.

    A CSV of a header alone that is whole (:func:`header_only_whole`: settled, ending with
    its line end) is a delivery of 0 responses: its raw copy is kept and the one day it
    covers (:func:`quiet_day`: the single date its name holds, else ``run_date``, the
    nightly run's date) gets a landed partition of no rows, so a run records that day as
    processed with 0 rows (:func:`_land_a_quiet_day`).

    ``rekey``: first land again, from their raw copies, the earlier deliveries whose
    responses the definition now gives other ids (:func:`rekey_earlier_deliveries`), so
    that this delivery's copies supersede theirs; said in the result's notes.
    """
    written_at = landed_at or datetime.now(UTC)
    target, sha, _, seen = _copy_as_delivered(settings, file)
    try:
        try:
            read = read_export(definition, target)
        except EmptyFile as empty:
            # As a header-only file: failing every night would not fill it (a trial's 0-byte
            # file failed each nightly run and stayed in the inbox).
            raise EmptyDelivery(
                f"{file}: the file is empty ({empty.size} bytes), not an export; nothing "
                "landed. Ask the vendor to send the export again"
            ) from empty
        if read.records_read == 0 and read.format == "json":
            # Its list of records is there and empty (a cut file with no whole record is
            # refused by the reader): a paged export's last page, nothing wrong with it.
            raise EmptyDelivery(f"{file}: {no_records_text(definition.read.records)}", True)
        if read.records_read == 0 and read.format == "csv" and header_only_whole(settings, file):
            # A day without responses, as Typeform and most tools export it: the header and
            # no row. Settled and ending with its line end, it is a delivery of 0 responses
            # (found by a trial: a quiet day's export stayed in the inbox every night, and
            # the day had no row anywhere). Its header still has to fit the definition.
            map_export(definition, read, settings.timezone)
            return _land_a_quiet_day(
                settings,
                definition,
                file,
                target,
                sha,
                written_at,
                quiet_day(file, run_date, definition.partition),
            )
        if read.records_read == 0:
            # Landing it would change nothing, and say nothing. "Data rows": a source's rows
            # are complaints, tickets, calls (a trial's header-only CFPB file "has no survey
            # rows"); a definition names no kind of record.
            raise EmptyDelivery(
                f"{file}: the file has no data rows (a header only, or only empty rows); "
                "nothing landed. If rows were expected, ask the sender for the complete export",
                complete=read.format != "csv",
            )
        mapped = map_export(definition, read, settings.timezone)
        refuse_the_other_day_order(mapped.frame, definition, str(file), mapped.read.sheet)
    except EmptyDelivery as empty:
        if not empty.complete and not seen:
            target.unlink(missing_ok=True)
        raise
    except (SourceError, DefinitionError) as error:
        if not seen:
            target.unlink(missing_ok=True)
        said = str(error)
        if str(target) == str(file) or str(target) not in said:
            raise
        named = said.replace(f"{target}: {file}: ", f"{file}: ").replace(str(target), str(file))
        renamed = type(error)(named)
        renamed.__dict__.update(error.__dict__)  # what it carries besides (missing columns)
        raise renamed from error
    rekeyed: tuple[dict[str, int], tuple[str, str] | None, dict[str, str]] = ({}, None, {})
    if rekey:
        rekeyed = rekey_earlier_deliveries(settings, definition, sha, written_at)
    # The partitions holding this delivery already: only bytes delivered before can be in
    # any. Landed again, they keep the time they were first landed: their rows stay as late
    # or as early as they were against other deliveries (copies of a re-delivered row are
    # ranked by it), and a row still undated stays in its delivery's day's partition.
    holding = _partitions_holding(settings, sha, landed_periods(settings)) if seen else {}
    first_landed = _first_landed_at(settings, sha, holding)
    dated_at = first_landed or written_at
    # Worked out once for the delivery: it samples the well-formed rows' shapes, and the
    # rejects' dates, ids and masked fields each need it (three times a delivery before).
    in_place = records_in_place(mapped)
    reject_dates, rows, delivered_on, (undated_on, undated_how), apart = _dated_rows(
        settings, definition, mapped, file, sha, dated_at, in_place
    )
    rows = _with_a_cut_off_copy_set_aside(settings, read.unterminated_line, rows, sha)
    rows = rows.with_columns(
        period_start_of(pl.col(PARTITION_COLUMN), definition.partition).alias("_period")
    )
    result = Landing(str(file), str(target), sha, read.frame.height, len(read.rejects))
    result.rekeyed, result.rekeyed_example, result.not_rekeyed = rekeyed
    result.sheet = read.sheet
    result.short_ids = short_ids_notes(mapped.frame, mapped.exported_as)
    result.not_asked = mapped.not_asked
    if (countries := row_countries(mapped)) is not None:
        result.unrecognised_countries = countries.unrecognised_note(definition.path)
    result.unread_columns = unread_columns(definition, read.header, read.frame)
    result.unnamed_columns = unnamed_columns(read.header, result.unread_columns, read.frame)
    result.unread_columns_told_before = unread_columns_told_before(settings, result.unread_columns)
    result.declared_encoding_not_used = declared_encoding_not_used(read.encoding)
    truncated = [i for i, r in enumerate(read.rejects) if r.truncated]
    if truncated:
        # Only the file's last record can be one; said in a note of its own.
        at, day = truncated[-1], reject_dates[truncated[-1]]
        told = rejected_record_ids(mapped, in_place)[at]
        result.truncated_at = (read.rejects[at].line, told, day or undated_on, day is None)
    if lines := [
        r.line
        for r, day in zip(read.rejects, reject_dates, strict=True)
        if day is None and not r.truncated
    ]:
        result.undated_rejects = {undated_on: lines}
    # The reader's malformed records without a date are told by their own notes.
    told_apart = sum(1 for day in reject_dates if day is None)
    # Those kept apart under the landing day (_undated_redeliveries) are told by the note
    # of older_copies_kept.
    undated_rows = (
        rows.filter(
            pl.col("dated_by_delivery").fill_null(False)
            & ~pl.col("response_id").is_in(apart).fill_null(False)
        ).height
        - told_apart
    )
    result.undated = (undated_rows, undated_on, undated_how)
    result.undated_reason = undated_rows_reason(rows, apart, definition)
    if definition.table == INTERACTIONS_FEED:
        result.contact_start_column = mapped.exported_as.get("submitted_at", ("started_at",))
    result.landed_on = delivered_on
    if definition.label_column and not mapped.has_label:
        result.label_column_missing = list(definition.label_column)
    periods = rows.get_column("_period").unique().sort().to_list()
    rules = definition.fingerprint
    if not seen:  # a new delivery reads only the manifests of the partitions it lands in
        holding = _partitions_holding(settings, sha, periods)
    moved_out = [p for p in holding if p not in periods]
    # A manifest written before fingerprints were recorded counts as other rules: landing
    # again is idempotent, and a definition fixed since must reach the landed rows.
    same_rules = all(_landed_rules(holding[p], sha) == rules for p in holding)
    if periods and set(periods) <= set(holding) and not moved_out and same_rules:
        # Rows an erase took out that the list no longer names: the same bytes land them
        # back, as first landed (not as sent again: nothing of a later delivery changed).
        result.restored = _no_longer_erased(settings, rows, sha, holding)
        newer = {} if result.restored else _replaced_since(settings, rows, sha)
        if not newer and not result.restored:
            result.already_landed = True
            remember_unread_columns_told(settings, result, written_at)
            return result
        # Sent again after a later delivery replaced some of its responses: the sender
        # means these copies, so they land as delivered now and win again (found by a
        # trial: the complete original, sent again after a cut-off copy, changed nothing).
        if newer:
            result.sent_again = True
            result.superseded_newer = newer
            dated_at = written_at
            reject_dates, rows, delivered_on, (undated_on, undated_how), apart = _dated_rows(
                settings, definition, mapped, file, sha, dated_at, in_place
            )
            result.undated = (
                (result.undated[0], undated_on, undated_how) if result.undated else None
            )
            if result.undated_rejects:
                result.undated_rejects = {
                    undated_on: [n for lines in result.undated_rejects.values() for n in lines]
                }
            rows = rows.with_columns(
                period_start_of(pl.col(PARTITION_COLUMN), definition.partition).alias("_period")
            )
            periods = rows.get_column("_period").unique().sort().to_list()
            moved_out = [p for p in holding if p not in periods]
    result.landed_again = bool(holding)
    # The same rules, yet some of its partitions never got its rows: landed part way before.
    result.unfinished_before = (
        bool(holding) and same_rules and not result.sent_again and not set(periods) <= set(holding)
    )
    if definition.columns["response_id"].derive:
        rows = _with_resaved_ids(settings, mapped, rows, sha, result)
    unchanged = rows.head(0)
    if not seen:
        # A cumulative export (Google Forms, Microsoft Forms) repeats every response landed
        # before: those copies change nothing, so they are counted, not stored again, and
        # their partitions are not rewritten (found by a trial: 14 daily exports of a form
        # re-ran every date each night and quarantined 1,844 copies of 186 responses).
        rows, unchanged = split_unchanged_copies(settings, rows, sha, rules)
        result.unchanged_copies = dict(unchanged.group_by("_period").len().iter_rows())
        result.unchanged_of = dict(unchanged.group_by("_of").len().sort("_of").iter_rows())
        periods = rows.get_column("_period").unique().sort().to_list()
    # Only a row dated by its own time supersedes a copy elsewhere: a row whose time could
    # not be read sits in its delivery's day's partition, and took the copies it replaced out
    # of the marts while being quarantined itself (found by a trial's re-saved export).
    options = mapped.parse_options(settings.timezone)
    own_time = dating_timestamp(
        "submitted_at", options.timezone, options.formats.get("submitted_at", ())
    )
    superseded = _superseded_elsewhere(
        settings, rows.filter(own_time.is_not_null()), sha, str(target)
    )
    result.superseded_elsewhere = {p: len(e) for p, e in superseded.items()}
    # Said, not done: the copies whose time cannot be read leave the older ones in the marts.
    unreadable = own_time.is_null() & pl.col("submitted_at").str.strip_chars().ne("")
    if "submitted_at" in rows.columns:
        left = _superseded_elsewhere(settings, rows.filter(unreadable), sha, str(target))
        result.older_copies_kept = {
            p: sorted({e["by_line"] for e in entries}) for p, entries in left.items()
        }
    touched = sorted({*periods, *moved_out, *superseded})
    # Subjects erased on request (servicelens erase) are not landed again from a delivery
    # that holds them; each partition's manifest counts them by delivery.
    eraser = erasure_list(settings)
    for period in touched:
        new, erased_now = eraser.without_erased(
            rows.filter(pl.col("_period") == period).drop("_period")
        )
        result.periods[period] = new.height
        before = _landed_inputs(settings, period) if holding else None
        old_manifest = holding.get(period) or read_manifest(settings.landed_dir, period) or {}
        frames = [new]
        if (partition_dir(settings.landed_dir, period) / PARTITION_FILE).exists():
            kept = read_partition(settings.landed_dir, period).drop(PARTITION_COLUMN)
            # Landing the same delivery again replaces its rows, never doubles them.
            others = kept.filter(pl.col("delivery") != sha)
            if period in moved_out:
                result.moved_out[period] = kept.height - others.height
            frames.insert(0, others)
        merged = pl.concat(frames, how="diagonal_relaxed").sort(
            "landed_at", "source_file", "source_line"
        )
        deliveries = dict(old_manifest.get("deliveries", {}))
        fingerprints = dict(old_manifest.get("definitions", {}))
        deliveries.pop(sha, None)
        fingerprints.pop(sha, None)
        if new.height or erased_now:
            # A delivery whose rows here were all erased on request was still read into
            # this partition: an input of it, so its run counts them (read = kept +
            # quarantined + erased). Found by a trial: a re-delivered erased row counted in
            # the landed manifest's erased, never in the day's, --rerun changed skipping it.
            deliveries[sha], fingerprints[sha] = str(target), rules
        elsewhere = _merged_entries(old_manifest, superseded.get(period, []))
        manifest = {
            "source": definition.name,
            "definition": str(definition.path),
            "partition": {"key": PARTITION_COLUMN, "granularity": definition.partition},
            "deliveries": deliveries,
            "definitions": fingerprints,
            # A delivery that supersedes rows here is an input too: the partition runs again.
            "inputs": {
                **{e["by_file"]: e["delivery"] for e in elsewhere},
                **{path: digest for digest, path in deliveries.items()},
            },
            "superseded_elsewhere": elsewhere,
            "landed_at": written_at.isoformat(),
        }
        counted = _unchanged_entries(old_manifest, sha, str(target), rules, unchanged, period)
        if counted:
            manifest[UNCHANGED_COPIES] = counted
        erased = {d: n for d, n in old_manifest.get("erased", {}).items() if d != sha}
        if erased_now:
            erased[sha] = erased_now
        if erased:
            manifest["erased"] = erased
        write_partition(
            merged.with_columns(pl.lit(period).alias(PARTITION_COLUMN)),
            settings.landed_dir,
            period,
            {**LANDED_SCHEMA},
            manifest,
            settings.staging_dir,
        )
        if before is not None and _landed_inputs(settings, period) == before:
            result.same_as_before.append(period)
    for period in sorted(set(result.unchanged_copies) - set(touched)):
        # Only the count changes: the manifest is replaced, the data file (and so the
        # date's inputs, storage.runs.input_checksums) left as it is.
        old_manifest = read_manifest(settings.landed_dir, period) or {}
        counted = _unchanged_entries(old_manifest, sha, str(target), rules, unchanged, period)
        replace_manifest(
            settings.landed_dir,
            period,
            {**old_manifest, UNCHANGED_COPIES: counted},
            settings.staging_dir,
        )
    remember_unread_columns_told(settings, result, written_at)
    return result


#: The key of a landed partition's manifest counting, by delivery (its sha256), the rows it
#: re-delivered unchanged (:func:`split_unchanged_copies`): ``{"file": its raw copy,
#: "definition": the fingerprint it was read under, "rows": n, "of": {earlier delivery's raw
#: copy: n}}``. Read, and not stored: the delivery's rows read = its rows landed + these.
UNCHANGED_COPIES = "unchanged_copies"


def _no_longer_erased(
    settings: Settings, rows: pl.DataFrame, sha: str, holding: dict[date, dict[str, Any]]
) -> dict[date, int]:
    """Per partition holding delivery ``sha``, how many of its rows an erase took out (the
    manifest's ``erased`` of ``sha``, written by ``servicelens erase`` or by landing) that
    the erasure list leaves in now: an erasure undone by removing its entries from
    ``erasure/erased_ids.json`` (README "Undoing an erasure"). ``rows``: the delivery's
    rows as read now, with their ``_period``. Only fewer rows erased now counts: more are
    left out by every run all the same (the list is read by each)."""
    recorded = {p: int((m.get("erased") or {}).get(sha, 0)) for p, m in holding.items()}
    if not any(recorded.values()):
        return {}  # the usual same bytes: nothing of them was ever erased, no list to read
    eraser = erasure_list(settings)
    restored: dict[date, int] = {}
    for period, erased in recorded.items():
        if not erased:
            continue
        _, now = eraser.without_erased(rows.filter(pl.col("_period") == period).drop("_period"))
        if now < erased:
            restored[period] = erased - now
    return restored


def _landed_rules(manifest: dict[str, Any], sha: str) -> str | None:
    """The definition fingerprint delivery ``sha`` was landed under in a partition of
    ``manifest``: its rows', else its counted unchanged copies'."""
    rules = manifest.get("definitions", {}).get(sha)
    if rules is None:
        rules = manifest.get(UNCHANGED_COPIES, {}).get(sha, {}).get("definition")
    return rules if isinstance(rules, str) else None


def _unchanged_entries(
    manifest: dict[str, Any],
    sha: str,
    raw_copy: str,
    rules: str,
    unchanged: pl.DataFrame,
    period: date,
) -> dict[str, Any]:
    """``manifest``'s :data:`UNCHANGED_COPIES`, delivery ``sha``'s entry for ``period``
    made from ``unchanged`` (:func:`split_unchanged_copies`' second frame; none: no entry)."""
    entries = {d: e for d, e in manifest.get(UNCHANGED_COPIES, {}).items() if d != sha}
    here = unchanged.filter(pl.col("_period") == period)
    if here.height:
        entries[sha] = {
            "file": raw_copy,
            "definition": rules,
            "rows": here.height,
            "of": dict(here.group_by("_of").len().sort("_of").iter_rows()),
        }
    return entries


def split_unchanged_copies(
    settings: Settings, rows: pl.DataFrame, sha: str, rules: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a new delivery's landed rows (:func:`landed_rows`, with ``_period``, the
    partition each lands in) into (rows to land, unchanged copies).

    An unchanged copy re-delivers a response exactly as the copy in force holds it: the
    same ``response_id`` and ``raw_record`` (the row as exported, redacted), neither
    rejected nor dated by its delivery, in the same partition, where the copy is of the
    delivery landed last of those holding the response (anywhere in the landed layer: a
    later copy elsewhere, a corrected date, would be in force instead) and was landed
    under the same definition (``rules``, its fingerprint). Landed, such a copy would only
    supersede its twin (the clean layer keeps the last landed copy) and rewrite the
    partition, so its date would run again for nothing. A response twice in the delivery
    (a form submitted twice) is unchanged as many times as the earlier delivery holds it:
    a third copy lands. The second frame carries ``_of``, the earlier delivery's raw copy.

    Found by a trial: 14 cumulative daily exports of a Google Form (each holding every
    response so far) re-ran every date each night and quarantined 1,844 copies of 186
    responses; the quarantine grew with the square of the days."""
    empty = rows.head(0).with_columns(pl.lit(None, pl.String).alias("_of"))
    candidate = (
        pl.col("reject").is_null()
        & pl.col("response_id").is_not_null()
        & ~pl.col("dated_by_delivery").fill_null(False)
    )
    ids = rows.filter(candidate).get_column("response_id").unique()
    if ids.is_empty() or not landed_periods(settings):
        return rows, empty
    stored = (
        scan_table(settings.landed_dir)
        .filter((pl.col("delivery") != sha) & pl.col("response_id").is_in(ids.implode()))
        # The copies of the delivery landed last of those holding the response.
        .filter(pl.col("landed_at") == pl.col("landed_at").max().over("response_id"))
        .filter(pl.col("reject").is_null())
        .group_by(PARTITION_COLUMN, "response_id", "raw_record", "delivery", "source_file")
        .agg(pl.len().alias("_held"))
        .collect()
    )
    # Only copies landed under the same definition read the same (each partition's
    # manifest read once, whatever the deliveries holding copies there).
    manifests = {
        period: read_manifest(settings.landed_dir, period) or {}
        for period in stored.get_column(PARTITION_COLUMN).unique()
    }
    same_rules = [
        (period, delivery)
        for period, delivery in stored.select(PARTITION_COLUMN, "delivery").unique().iter_rows()
        if _landed_rules(manifests[period], delivery) == rules
    ]
    stored = stored.join(
        pl.DataFrame(
            same_rules, schema={PARTITION_COLUMN: pl.Date, "delivery": pl.String}, orient="row"
        ),
        on=[PARTITION_COLUMN, "delivery"],
    ).unique([PARTITION_COLUMN, "response_id", "raw_record"], keep="any")
    if stored.is_empty():
        return rows, empty
    key = ["_period", "response_id", "raw_record"]
    matched = (
        rows.with_row_index("_row")
        .with_columns(
            pl.int_range(pl.len()).over(key, order_by="source_line").alias("_nth"),
            candidate.alias("_candidate"),
        )
        .join(
            stored.select(
                pl.col(PARTITION_COLUMN).alias("_period"),
                "response_id",
                "raw_record",
                pl.col("source_file").alias("_of"),
                "_held",
            ),
            on=key,
            how="left",
            nulls_equal=False,
        )
    )
    is_copy = pl.col("_candidate") & (pl.col("_nth") < pl.col("_held")).fill_null(False)
    copies = matched.filter(is_copy).sort("_row").drop("_row", "_nth", "_candidate", "_held")
    kept = matched.filter(~is_copy).sort("_row").drop("_row", "_nth", "_candidate", "_held", "_of")
    return kept, copies


#: The file beside a source's landed partitions (its ``landed_dir``) naming the rules
#: (:attr:`SourceDefinition.fingerprint`) its earlier deliveries' ids were last checked
#: against (:func:`rekey_earlier_deliveries`): under the same rules, none is read again.
IDS_CHECKED_FILE = "ids-checked.json"


def rekey_earlier_deliveries(
    settings: Settings, definition: SourceDefinition, sha: str, landed_at: datetime
) -> tuple[dict[str, int], tuple[str, str] | None, dict[str, str]]:
    """Land again, from its raw copy, each delivery of the source (but ``sha``, the one
    being landed) landed under other rules than ``definition``'s whose responses the
    definition now gives other ids, so that a later copy of a response supersedes the
    earlier ones instead of counting beside them. Supersession is by response id
    (``transforms.clean``); a release that changes how a preset writes its ids (the
    microsoft_forms id's start time, to the minute since 2026-12-07) would otherwise
    double every response of a cumulative export landed before.

    Each such delivery's raw copy is read and its ids mapped under the definition's id
    rule alone (:func:`id_rule_definition`: an earlier export lacking a column only another
    rule reads, a question added since, is checked all the same; found by an analyst's
    trial, where every v1 export was named unreadable for lacking the new question) and
    compared, line by line, with its landed rows'; where any differs it is landed again
    whole (:func:`land_delivery`: the same bytes under changed rules, keeping the time it
    was first landed, erased subjects left out), its partitions rewritten, so their runs
    see new inputs. :data:`IDS_CHECKED_FILE` then records the rules and the raw copies that
    could not be read or landed again: the next landings under the same rules read only
    those, and say nothing of them unless that changed (one of them readable now).

    Returns the deliveries landed again (raw copy path -> how many responses' ids changed,
    in the order first landed), one id as landed before and as now (or None), and the raw
    copies that could not be read or landed again (path -> why, on one line), empty when
    the same ones were told by an earlier landing under these rules."""
    rules = definition.fingerprint
    memo = settings.landed_dir / IDS_CHECKED_FILE
    told: dict[str, str] | None = None
    try:
        if memo.exists() and (recorded := json.loads(memo.read_text())).get("rules") == rules:
            told = {str(k): str(v) for k, v in dict(recorded.get("unreadable") or {}).items()}
            if not told:
                return {}, None, {}
    except (OSError, ValueError, AttributeError, TypeError):
        told = None  # unreadable: checked again
    other_rules: dict[str, str] = {}
    for period in landed_periods(settings):
        manifest = read_manifest(settings.landed_dir, period) or {}
        fingerprints = manifest.get("definitions", {})
        for delivery, raw in manifest.get("deliveries", {}).items():
            to_check = told is None or raw in told
            if delivery != sha and fingerprints.get(delivery) != rules and to_check:
                other_rules[delivery] = raw
    rekeyed: dict[str, int] = {}
    example: tuple[str, str] | None = None
    unreadable: dict[str, str] = {}
    ids_rule = id_rule_definition(definition)
    before = _landed_ids(settings, list(other_rules))
    first = before.group_by("delivery").agg(pl.col("landed_at").min()).sort("landed_at")
    for delivery in first.get_column("delivery").to_list():
        raw = other_rules[delivery]
        try:
            now = _ids_read_now(settings, ids_rule, raw)
        except (SourceError, DefinitionError, OSError, ValueError) as error:
            unreadable[raw] = _why_unread(error)
            continue
        was = before.filter(pl.col("delivery") == delivery)
        if _differ(was, now).is_empty():
            continue
        try:
            land_delivery(settings, definition, raw, landed_at, rekey=False)
        except (SourceError, DefinitionError, OSError, ValueError) as error:
            # Its ids changed, but the whole definition cannot land it (a column another
            # rule reads, not marked required = false): named, as an unreadable copy is.
            why = _why_unread(error)
            unreadable[raw] = f"its ids changed, and it cannot be landed again: {why}"
            continue
        changed = _differ(was, _landed_ids(settings, [delivery]))
        rekeyed[raw] = changed.height
        if example is None and changed.height:
            example = (changed.get_column("response_id")[0], changed.get_column("now")[0])
    checked = {"rules": rules, "checked_at": landed_at.isoformat(), "unreadable": unreadable}
    write_text_whole(memo, json.dumps(checked, indent=1))
    if told is not None and set(unreadable) == set(told):
        unreadable = {}  # told by an earlier landing under these rules, and unchanged
    return rekeyed, example, unreadable


def id_rule_definition(definition: SourceDefinition) -> SourceDefinition:
    """``definition`` reduced to what its response ids are read with: its ``[read]``, its
    ``response_id`` rule, and (for an id written with a time, ``times``) ``submitted_at``'s
    formats, reading no column of its own; no other column, attribute, label or exclusion.
    An export then fits it when it has the columns the id rule reads, whatever else the
    definition maps (:func:`rekey_earlier_deliveries`)."""
    import dataclasses

    rule = definition.columns["response_id"]
    columns = {"response_id": rule}
    if rule.times and (timed := definition.columns.get("submitted_at")) is not None:
        columns["submitted_at"] = dataclasses.replace(timed, sources=(), value="", values={})
    return dataclasses.replace(
        definition,
        columns=columns,
        attributes={},
        optional_attributes=frozenset(),
        exclude=(),
        label_column=(),
        label_values={},
    )


def _why_unread(error: Exception) -> str:
    """Why a raw copy could not be read or landed, on one line: for an export lacking
    columns (:class:`MissingColumns`), the columns alone, not the whole refusal (its header
    quoted, 1,000 characters each in an analyst's trial)."""
    if isinstance(error, MissingColumns) and error.missing:
        names = ", ".join(" or ".join(map(repr, group)) for group in error.missing)
        return f"it has no column {names}"
    return " ".join(str(error).split()) or type(error).__name__


def _landed_ids(settings: Settings, deliveries: list[str]) -> pl.DataFrame:
    """The landed rows of ``deliveries`` (sha256s) that carry a response id: ``delivery``,
    ``source_line``, ``response_id``, ``landed_at`` (one scan of the landed layer)."""
    schema = {"delivery": pl.String, "source_line": pl.Int64, "response_id": pl.String}
    if not deliveries:
        return pl.DataFrame(schema={**schema, "landed_at": pl.Datetime("us", "UTC")})
    return (
        scan_table(settings.landed_dir)
        .filter(pl.col("delivery").is_in(deliveries) & pl.col("response_id").is_not_null())
        .select("delivery", pl.col("source_line").cast(pl.Int64), "response_id", "landed_at")
        .collect()
    )


def _ids_read_now(settings: Settings, definition: SourceDefinition, raw: str) -> pl.DataFrame:
    """``source_line`` and ``now`` (its response id) of the rows of raw copy ``raw`` as
    ``definition`` reads and maps them; raises the reader's and the definition's errors."""
    read = read_export(definition, raw)
    frame = map_export(definition, read, settings.timezone).frame
    if "response_id" not in frame.columns:
        return pl.DataFrame(schema={"source_line": pl.Int64, "now": pl.String})
    return frame.select(
        pl.col("source_line").cast(pl.Int64), pl.col("response_id").cast(pl.String).alias("now")
    )


def _differ(landed: pl.DataFrame, now: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``landed`` (:func:`_landed_ids`) whose line reads another id in ``now``
    (:func:`_ids_read_now`, or :func:`_landed_ids`): ``source_line``, ``response_id`` (as
    landed) and ``now``."""
    if "now" not in now.columns:
        now = now.select("source_line", pl.col("response_id").alias("now"))
    return (
        landed.select("source_line", "response_id")
        .join(now.select("source_line", "now"), on="source_line")
        .filter(pl.col("now").is_not_null() & pl.col("now").ne(pl.col("response_id")))
        .sort("source_line")
    )


#: A delivery re-saves earlier responses only with at least this many rows, every one
#: matching: one row with a short answer in the same minute as an earlier response is as
#: likely another person's.
RESAVE_MIN_ROWS = 2
#: A delivered time that shows its seconds (``21:53:05``): compared to the second, else to
#: the minute.
_SHOWS_SECONDS = r"\d:\d\d:\d\d"


def resaved_copies(
    settings: Settings, mapped: MappedExport, rows: pl.DataFrame, sha: str
) -> tuple[int, pl.DataFrame]:
    """Rows of a delivery (``rows``, :func:`landed_rows`' with ``_period``) of a source
    without response ids that match a response landed before by another delivery: every
    answer the landed row keeps (its raw record, submitted_at aside) the same, and the same
    submitted_at to the precision the delivery gives (the minute when its times show no
    seconds, else the second). Returns how many of the delivery's rows could match (kept
    rows with a time that reads, whose derived id was not landed before), and the matches
    (``source_line``, the earlier copy's ``response_id``, ``file``, ``line``).

    Matching is one to one: an earlier response is matched by one row at most, so two
    responses with the same answers in the same minute, re-saved, stay two. Found by a
    trial: a Google Forms export re-saved in Excel (UK settings, times without seconds)
    got new derived ids (:func:`~servicelens.ingest.mapping.derived_ids`), and every
    response was counted twice."""
    options = mapped.parse_options(settings.timezone)
    time = dating_timestamp(
        "submitted_at", options.timezone, options.formats.get("submitted_at", ())
    )
    timed = set(mapped.headers_of("submitted_at"))
    answers = [c for c in mapped.raw_columns if c not in timed]
    fields = pl.col("raw_record").str.json_decode(pl.Struct({c: pl.String for c in answers}))
    # Every answer, each trimmed (a re-save keeps the text, not always its line endings).
    key = pl.concat_str(
        [
            fields.struct.field(c).fill_null("").str.replace_all("\r\n", "\n").str.strip_chars()
            for c in answers
        ],
        separator="\x1f",
    ).alias("_answers")
    usable = (
        pl.col("reject").is_null()
        & pl.col("excluded").is_null()
        & pl.col("response_id").is_not_null()
    )
    new = (
        rows.filter(usable)
        .with_columns(time.alias("_time"), key)
        .filter(pl.col("_time").is_not_null())
    )
    periods = new.get_column("_period").unique().to_list() if answers else []
    if not periods:
        return 0, pl.DataFrame()
    files = [partition_dir(settings.landed_dir, p) / PARTITION_FILE for p in periods]
    earlier = [
        read_partition(settings.landed_dir, p)
        for p, f in zip(periods, files, strict=True)
        if f.exists()
    ]
    old = (
        pl.concat(earlier, how="diagonal_relaxed").filter(usable & (pl.col("delivery") != sha))
        if earlier
        else pl.DataFrame(schema=LANDED_SCHEMA)
    )
    # A row whose derived id was landed before is a copy as it is: a re-delivery already.
    # Exact copies within the delivery (one id) are one response, as the clean layer has it.
    new = new.filter(~pl.col("response_id").is_in(old.get_column("response_id").implode())).unique(
        "response_id", keep="first", maintain_order=True
    )
    if new.is_empty() or old.is_empty():
        return new.height, pl.DataFrame()
    precision = "1s" if new.get_column("submitted_at").str.contains(_SHOWS_SECONDS).any() else "1m"
    old = (
        old.sort("landed_at")
        .unique("response_id", keep="last", maintain_order=True)
        .with_columns(time.alias("_time"), key)
        .filter(pl.col("_time").is_not_null())
    )
    by = ["_answers", "_at"]
    ranked_new = (
        new.with_columns(pl.col("_time").dt.truncate(precision).alias("_at"))
        .sort("source_line")
        .with_columns(pl.int_range(pl.len()).over(by).alias("_rank"))
    )
    ranked_old = (
        old.with_columns(pl.col("_time").dt.truncate(precision).alias("_at"))
        .sort("_time", "response_id")
        .with_columns(pl.int_range(pl.len()).over(by).alias("_rank"))
    )
    matched = ranked_new.select("response_id", "source_line", *by, "_rank").join(
        ranked_old.select(
            *by,
            "_rank",
            pl.col("response_id").alias("earlier_id"),
            pl.col("source_file").alias("file"),
            pl.col("source_line").alias("line"),
        ),
        on=[*by, "_rank"],
        how="inner",
    )
    return new.height, matched.select(
        "response_id", "source_line", "earlier_id", "file", "line"
    ).sort("source_line")


def _with_resaved_ids(
    settings: Settings, mapped: MappedExport, rows: pl.DataFrame, sha: str, result: Landing
) -> pl.DataFrame:
    """``rows`` with the earlier copies' ids when the whole delivery re-saves responses
    landed before (:func:`resaved_copies`: every row that could match does, at least
    :data:`RESAVE_MIN_ROWS`), so they replace them as a re-delivery does; otherwise as they
    are, the rows that match said in ``result`` (a delivery mixing new responses with
    matching ones may be different people's identical answers in the same minute)."""
    could, matched = resaved_copies(settings, mapped, rows, sha)
    if matched.is_empty():
        return rows
    if matched.height == could and could >= RESAVE_MIN_ROWS:
        result.resaved = matched.height
        ids = dict(zip(matched["response_id"], matched["earlier_id"], strict=True))
        return rows.with_columns(pl.col("response_id").replace(ids))
    result.resave_suspects = matched.height
    first = matched.row(0, named=True)
    result.resave_example = (first["source_line"], first["file"], first["line"])
    return rows


def _replaced_since(settings: Settings, rows: pl.DataFrame, sha: str) -> dict[str, int]:
    """The later deliveries than ``sha`` (landed after it) holding kept copies of responses
    among ``rows`` (:func:`landed_rows`' kept rows of delivery ``sha``) that differ from its
    own: their raw copies' paths, in the order they were landed, each with how many of those
    responses it holds otherwise (``raw_record``, the row as exported, redacted, differs).
    Empty when there is none; else the delivery is no longer the one in force for them.

    A later copy the same as this delivery's is not counted: the last stop's review found a
    correction of one response of three said to be overridden in three.
    """
    kept = rows.filter(
        pl.col("reject").is_null()
        & pl.col("excluded").is_null()
        & pl.col("response_id").is_not_null()
    )
    if kept.is_empty():
        return {}
    # A response twice in the delivery: its last line is the copy in force.
    own = (
        kept.sort("source_line")
        .unique("response_id", keep="last", maintain_order=True)
        .select("response_id", pl.col("raw_record").alias("_own"))
    )
    landed = scan_table(settings.landed_dir).filter(
        pl.col("reject").is_null() & pl.col("excluded").is_null()
    )
    first = landed.filter(pl.col("delivery") == sha).select(pl.col("landed_at").min())
    later = (
        landed.filter(
            (pl.col("delivery") != sha)
            & pl.col("response_id").is_in(own.get_column("response_id").implode())
        )
        .join(first.rename({"landed_at": "_first"}), how="cross")
        .filter(pl.col("landed_at") > pl.col("_first"))
        .join(own.lazy(), on="response_id")
        .filter(pl.col("raw_record").ne_missing(pl.col("_own")))
        .group_by("source_file")
        .agg(pl.col("response_id").n_unique().alias("responses"), pl.col("landed_at").min())
        .sort("landed_at", "source_file")
        .collect()
    )
    return dict(later.select("source_file", "responses").iter_rows())


def _stops_short_of(cut: str | None, whole: str | None) -> bool:
    """Whether raw record ``cut`` (JSON of the export's fields) is ``whole`` cut off: each
    field the same, or the start of the one in ``whole`` (the cut one, and any after it
    empty), and not all the same."""
    if cut is None or whole is None:
        return False
    try:
        short, full = json.loads(cut), json.loads(whole)
    except ValueError:
        return False
    if not isinstance(short, dict) or not isinstance(full, dict) or short.keys() != full.keys():
        return False
    differ = [k for k in short if short[k] != full[k]]
    return bool(differ) and all(
        isinstance(full[k], str) and full[k].startswith(short[k] or "") for k in differ
    )


def _with_a_cut_off_copy_set_aside(
    settings: Settings, line: int | None, rows: pl.DataFrame, sha: str
) -> pl.DataFrame:
    """``rows`` (:func:`landed_rows`) with the row of ``line`` rejected when it is a copy
    cut off: the file ends in it with no line end while its other lines have one
    (:attr:`~servicelens.ingest.readers.RawRead.unterminated_line`), and its fields stop
    short of the copy of its response landed before by another delivery
    (:func:`_stops_short_of`). Found by a trial: a re-delivery cut off mid-comment
    (``...;0,00;Le si``) replaced the complete copy in clean and the marts, silently; set
    aside, it supersedes nothing and the complete copy stays in force."""
    if line is None or not any(settings.landed_dir.glob(f"{PARTITION_COLUMN}=*/{PARTITION_FILE}")):
        return rows
    last = rows.filter(
        (pl.col("source_line") == line)
        & pl.col("reject").is_null()
        & pl.col("excluded").is_null()
        & pl.col("response_id").is_not_null()
    )
    if last.height != 1:
        return rows
    response_id, cut = last.get_column("response_id")[0], last.get_column("raw_record")[0]
    earlier = (
        scan_table(settings.landed_dir)
        .filter(
            (pl.col("response_id") == response_id)
            & pl.col("reject").is_null()
            & pl.col("excluded").is_null()
            & (pl.col("delivery") != sha)
        )
        .select("raw_record", "source_file", "source_line", "landed_at")
        .sort("landed_at")
        .collect()
    )
    if earlier.is_empty():
        return rows
    whole, file, at, _ = earlier.row(-1)
    if not _stops_short_of(cut, whole):
        return rows
    reason = (
        f"malformed line: the file looks cut off at line {line}: its last line has no line "
        "end, as its other lines have, and its values stop short of the copy of "
        f"{response_id} landed before (line {at} of {Path(file).name}), which stays in force; "
        "ask for the complete export"
    )
    return rows.with_columns(
        pl.when(pl.col("source_line") == line)
        .then(pl.lit(reason))
        .otherwise(pl.col("reject"))
        .alias("reject")
    )


def _landed_inputs(settings: Settings, period: date) -> dict[str, str]:
    """What a run of the landed ``period`` reads, path -> sha256: its partition file and the
    deliveries its manifest counts as inputs (as ``storage.runs.input_checksums`` takes
    them). The same before and after a landing, the landing gave a run nothing new."""
    file = partition_dir(settings.landed_dir, period) / PARTITION_FILE
    current = checksums([file]) if file.exists() else {}
    return {**current, **(read_manifest(settings.landed_dir, period) or {}).get("inputs", {})}


def _superseded_elsewhere(
    settings: Settings, rows: pl.DataFrame, sha: str, target: str
) -> dict[date, list[dict[str, Any]]]:
    """The older copies, in other partitions, of the responses a delivery lands (``rows``,
    as :func:`landed_rows` gives them with ``_period``, those dated by their own time only;
    ``sha`` and ``target`` the delivery's checksum and raw copy), by the partition holding
    them: a re-delivery that corrects a
    response's date lands it in another partition than the copy it replaces, where the
    clean layer's superseding of copies (``transforms.clean.split_superseded_deliveries``)
    cannot see both. Each entry names the older copy (``file``, ``line``) and the newer one
    (``by_file``, ``by_line``, ``by_sheet``: a workbook's sheet, ``by_partition``,
    ``delivery``). Only rows landed before this
    delivery was first landed are older (a delivery landed again keeps its first time).

    Found by a trial: the corrected copy was quarantined as already accepted under the old
    date, and the old date stayed in the marts. One scan of the landed layer's ids per
    delivery; no partition is read whole."""
    wanted = rows.filter(
        pl.col("reject").is_null()
        & pl.col("excluded").is_null()
        & pl.col("response_id").is_not_null()
    ).select(
        "response_id",
        "_period",
        "landed_at",
        pl.col("source_line").alias("by_line"),
        pl.col("source_sheet").alias("by_sheet"),
    )
    if wanted.is_empty() or not any(
        settings.landed_dir.glob(f"{PARTITION_COLUMN}=*/{PARTITION_FILE}")
    ):
        return {}
    wanted = wanted.unique("response_id", keep="last", maintain_order=True)
    older = (
        scan_table(settings.landed_dir)
        # A reject whose id could be told (a line cut off at the end of a copy in
        # progress) is an older copy too: the complete copy delivered after replaces it.
        .filter(pl.col("excluded").is_null() & (pl.col("delivery") != sha))
        .select("response_id", PARTITION_COLUMN, "source_file", "source_line", "landed_at")
        .join(wanted.lazy(), "response_id", "inner", suffix="_new")
        .filter(
            (pl.col(PARTITION_COLUMN) != pl.col("_period"))
            & (pl.col("landed_at") < pl.col("landed_at_new"))
        )
        .collect()
    )
    found: dict[date, list[dict[str, Any]]] = {}
    for row in older.iter_rows(named=True):
        found.setdefault(row[PARTITION_COLUMN], []).append(
            {
                "response_id": row["response_id"],
                "file": row["source_file"],
                "line": row["source_line"],
                "by_file": target,
                "by_line": row["by_line"],
                # A workbook's sheet, so the older copy's reason names the row where Excel
                # shows it (None for a CSV).
                "by_sheet": row["by_sheet"],
                "by_partition": row["_period"].isoformat(),
                "delivery": sha,
            }
        )
    return found


#: Fewer times than this say nothing about how the export writes dates.
DAY_FIRST_MIN_ROWS = 3
#: Times of a delivery that read only with day and month swapped, with none that reads only
#: as declared, from which the whole delivery is taken to write them the other way round:
#: two rows, since one could be a typing slip.
OTHER_DAY_ORDER_MIN_ROWS = 2


def _day_month_format(
    frame: pl.DataFrame, definition: SourceDefinition
) -> tuple[str, pl.DataFrame] | None:
    """The definition's one ``submitted_at`` format holding ``%d`` and ``%m`` the checks of
    day and month order read ``frame`` with, and the rows of ``frame`` it reads (those no
    other format of the definition reads); None when there is no such one format.

    A list of formats takes part when exactly one of them holds the pair without the year
    first (``["iso", "%d.%m.%Y %H:%M"]``, an export and its Excel re-save); the others are
    read first, as the mapping reads them. The checks had skipped every definition of
    several formats."""
    from servicelens.validation.expectations import day_month_swapped
    from transforms.clean import parsed_timestamp

    formats = (
        definition.columns["submitted_at"].formats if "submitted_at" in definition.columns else ()
    )
    if "submitted_at" not in frame.columns:
        return None
    paired = [
        f for f in formats if day_month_swapped(f) is not None and not f.lstrip().startswith("%Y")
    ]
    if len(paired) != 1:
        return None
    others = [f for f in formats if f != paired[0]]
    if others:
        frame = frame.filter(parsed_timestamp("submitted_at", "UTC", tuple(others)).is_null())
    return paired[0], frame


def refuse_the_other_day_order(
    frame: pl.DataFrame, definition: SourceDefinition, where: str, sheet: str | None = None
) -> None:
    """Raise :class:`DefinitionError` when an export writes its times with day and month the
    other way round from the definition's format holding both (``frame``'s ``submitted_at``
    text, and ``source_line``; :func:`_day_month_format`): at least
    :data:`OTHER_DAY_ORDER_MIN_ROWS` times read only swapped and none reads only as
    declared, or every time reads both ways and :func:`_day_first_span` finds them spread
    over months as declared but within a month swapped. ``where`` names the file, and
    ``sheet`` a workbook's sheet read: its rows are named as Excel shows them ("sheet
    'Umfrage' row 4"; a trial's workbook was told "line 4").

    Found by a trial: a day-first call-centre export saved again with US settings (month
    first) landed its 13th and 31st days as quarantined and every other row as kept,
    misdated (12 March as 3 December), and the run exited 0 with advice to declare the day
    first, which the definition did. Refused, the file stays in the inbox and fails the
    run, and nothing misdated reaches a partition."""
    from servicelens.ingest.definitions import DefinitionError
    from servicelens.validation.expectations import both_readings, day_month_swapped

    chosen = _day_month_format(frame, definition)
    if chosen is None:
        return
    declared, frame = chosen
    readings = both_readings("submitted_at", declared)
    swapped = day_month_swapped(declared)
    if readings is None or swapped is None:
        return
    # Each time as declared and swapped (null where that reading fails), parsed once.
    read = frame.select(
        "source_line",
        pl.col("submitted_at").str.strip_chars().alias("text"),
        readings[0].alias("declared"),
        readings[1].alias("swapped"),
    )
    as_declared, as_swapped = pl.col("declared").is_not_null(), pl.col("swapped").is_not_null()
    only_swapped = read.filter(as_swapped & ~as_declared)
    if read.filter(as_declared & ~as_swapped).height:
        return
    order = "month" if swapped.index("%m") < swapped.index("%d") else "day"
    if only_swapped.height < OTHER_DAY_ORDER_MIN_ROWS:
        _refuse_the_same_day_of_each_month(
            read, declared, swapped, where, order, sheet, definition.key_of("submitted_at")
        )
        return
    line, text = only_swapped.select("source_line", "text").row(0)
    both = read.filter(as_declared & as_swapped).height
    # (Every time reading only swapped, none is left to be misdated: a trial read "Its
    # other 0 times read either way and would be kept misdated".)
    misdated = (
        f"Its other {both} time{'s read' if both != 1 else ' reads'} either way and would be "
        f"kept misdated, so nothing of it is landed"
        if both
        else "Nothing of it is landed"
    )
    key = definition.key_of("submitted_at")
    raise DefinitionError(
        f"{where}: {_lines_named([line], sheet)}: {key.split()[0]} {text!r} reads only as "
        f"{swapped}, as do "
        f"{only_swapped.height - 1} more of its times, and none reads only as the "
        f"definition's {declared}: this export writes the {order} first. {misdated}: "
        f'declare format = "{swapped}" for {key} in the definition '
        "(sources add DEFINITION --replace), or save the export again as the definition "
        "declares it"
    )


def _refuse_the_same_day_of_each_month(
    read: pl.DataFrame,
    declared: str,
    swapped: str,
    where: str,
    order: str,
    sheet: str | None = None,
    key: str = "submitted_at",
) -> None:
    """Raise :class:`DefinitionError` when every time of an export that reads at all reads
    both ways round (``read``: its ``source_line``, ``text``, and the time as the format
    ``declared`` and as ``swapped`` read it, null where they fail) and :func:`_day_first_span`
    finds them spread over months as declared but within a month swapped: the export
    writes the ``order`` ("day" or "month") first, against the definition's format
    (:func:`_day_month_format`). ``where`` names the file, ``sheet`` a workbook's sheet,
    ``key`` how the definition names the time's mapping (``SourceDefinition.key_of``).

    Found by trials: a week of a day-first export read month-first was kept as the 3rd of
    January to August; a March call log saved again by a US-locale Excel (``3/11/2021``)
    was landed in twelve partitions from 2021-01-03 to 2021-12-03, all of them completed.
    A note under the run's table was all the user got; refused, the file stays in the
    inbox, the run fails, and nothing misdated reaches a partition."""
    from servicelens.ingest.definitions import DefinitionError

    span = _day_first_span(read)
    if span is None:
        return
    line, text = read.drop_nulls("declared").select("source_line", "text").row(0)
    raise DefinitionError(
        f"{where}: {_lines_named([line], sheet)}: {key.split()[0]} {text!r} reads either way "
        "round, as does every "
        f"time of this export: as the definition's {declared} they spread over "
        f"{span['span']}, the same days of different months, and as {swapped} they "
        f"fall within {span['swapped_span']}: this export writes the {order} first. Nothing "
        "of it is landed, as every row would be kept misdated: save the export again as the "
        f"definition declares it, or, if the source now writes the {order} first, declare "
        f'format = "{swapped}" for {key} in the definition (sources add '
        "DEFINITION --replace)"
    )


def _day_first_span(read: pl.DataFrame) -> dict[str, str] | None:
    """When a delivery's times that read both as declared and with day and month swapped
    (``read``'s ``declared`` and ``swapped`` Datetimes, null where a reading fails; at least
    :data:`DAY_FIRST_MIN_ROWS` of them, and half the rows) spread over 56 days or more as
    declared but over 31 days or fewer swapped (an export covers a stretch of days, not the
    same day of each month): the two spans (``span``, ``swapped_span``), for
    :func:`_refuse_the_same_day_of_each_month`; else None.

    Found by a trial: a week of a day-first export (01.03 to 08.03) read month-first was
    kept as the 3rd of January to August, every row, with no hint, since no time read only
    the other way round."""
    both = read.select("declared", "swapped").drop_nulls()
    if both.height < DAY_FIRST_MIN_ROWS or both.height < read.height // 2:
        return None
    spans = both.select(
        pl.all().min().name.suffix("_first"), pl.all().max().name.suffix("_last")
    ).row(0, named=True)
    declared_days = (spans["declared_last"] - spans["declared_first"]).days
    swapped_days = (spans["swapped_last"] - spans["swapped_first"]).days
    if declared_days < 56 or swapped_days > 31:
        return None
    return {
        "span": f"{spans['declared_first']:%Y-%m-%d} to {spans['declared_last']:%Y-%m-%d}",
        "swapped_span": f"{spans['swapped_first']:%Y-%m-%d} to {spans['swapped_last']:%Y-%m-%d}",
    }


def _merged_entries(manifest: dict[str, Any], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A landed partition's ``superseded_elsewhere`` entries with ``new`` ones, an older
    copy named once (by its newest superseding delivery's entry)."""
    merged = {(e["file"], e["line"]): e for e in manifest.get("superseded_elsewhere", [])}
    merged.update({(e["file"], e["line"]): e for e in new})
    return sorted(merged.values(), key=lambda e: (e["file"], e["line"]))


def _partitions_holding(
    settings: Settings, sha: str, periods: list[date]
) -> dict[date, dict[str, Any]]:
    """Those of ``periods`` whose landed manifest names delivery ``sha`` (among its
    deliveries, or its :data:`UNCHANGED_COPIES`), with their manifests (one manifest read
    per period)."""
    holding = {}
    for period in periods:
        manifest = read_manifest(settings.landed_dir, period) or {}
        if sha in manifest.get("deliveries", {}) or sha in manifest.get(UNCHANGED_COPIES, {}):
            holding[period] = manifest
    return holding


def _first_landed_at(
    settings: Settings, sha: str, holding: dict[date, dict[str, Any]]
) -> datetime | None:
    """When delivery ``sha`` was landed before (its rows' ``landed_at`` in the first
    partition ``holding`` it), or None if no partition holds it."""
    for period in sorted(holding):
        if not (partition_dir(settings.landed_dir, period) / PARTITION_FILE).exists():
            continue
        times = (
            read_partition(settings.landed_dir, period)
            .filter(pl.col("delivery") == sha)
            .get_column("landed_at")
            .drop_nulls()
        )
        if times.len():
            first: datetime = times.min()  # type: ignore[assignment]
            return first.replace(tzinfo=UTC) if first.tzinfo is None else first
    return None


def landed_periods(settings: Settings) -> list[date]:
    """Every partition of the source's landed layer, oldest first."""
    found = settings.landed_dir.glob(f"{PARTITION_COLUMN}=*/{MANIFEST_FILE}")
    return sorted(date.fromisoformat(p.parent.name.split("=", 1)[1]) for p in found)


def landed_under_earlier_definitions(
    settings: Settings, definition: SourceDefinition, start: date, end: date
) -> tuple[list[date], int]:
    """The source's landed partitions (period starts) from ``start`` to ``end`` holding
    rows of a delivery landed under other rules than ``definition``'s (its fingerprint, as
    each partition's manifest records it per delivery), oldest first, and how many
    landed partitions the range holds. A run or backfill re-publishes such rows as they
    were landed: only landing the delivery again maps it under the current definition
    (found by an analyst's trial: a backfill after ``sources add --replace`` was taken to
    apply the new mapping, and republished identical marts). Reads the manifests only."""
    rules = definition.fingerprint
    earlier: list[date] = []
    periods = [p for p in landed_periods(settings) if start <= p <= end]
    for period in periods:
        manifest = read_manifest(settings.landed_dir, period) or {}
        fingerprints = manifest.get("definitions", {})
        if any(fingerprints.get(sha) != rules for sha in manifest.get("deliveries", {})):
            earlier.append(period)
    return earlier, len(periods)
