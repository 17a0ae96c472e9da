"""Readers of the raw zone: decode, split into records, and keep every record's file and line.

Every record read ends up either in the returned frame (with ``source_file`` and
``source_line``) or in the returned rejects (with the raw text and the reason), so the caller
can reconcile rows read = rows kept + rows quarantined. Nothing here drops a record silently:
a JSON lines reader told to keep only some rows counts the others in ``skipped``.

The CSV path is vectorised: a numpy pass over the bytes finds record boundaries (newlines
outside quotes) and field counts, ragged records are set aside with their line numbers, and
pyarrow parses the rest. Only if pyarrow disagrees with that split does the slower csv-module
path run, which is exact by construction.
"""

from __future__ import annotations

import codecs
import csv
import decimal
import functools
import gzip
import hashlib
import html
import io
import json
import os
import re
import sys
import threading
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from servicelens.storage.checksums import sha256_file
from servicelens.storage.fs import DataPath, as_path, read_bytes
from transforms.schemas import RAW_INTERACTION_SCHEMA

QUOTE = ord('"')
NEWLINE = ord("\n")
COMMA = ord(",")
CARRIAGE_RETURN = ord("\r")
#: Bytes that cp1252 leaves undefined: in a text file they mean the bytes were damaged or
#: re-encoded (latin-1 maps them to invisible C1 control characters).
UNDEFINED_IN_CP1252 = frozenset(b"\x81\x8d\x8f\x90\x9d")
NEWLINE_BYTE = b"\n"
_C1_CONTROLS = re.compile("[\x80-\x9f]")


class SourceError(ValueError):
    """A raw file cannot be processed at all; the message names file, line, column and value."""


class EmptyFile(SourceError):
    """A file of no bytes (or only blanks): no export at all, however it is read."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class CodePageRefused(SourceError):
    """A file refused for its code page: neither UTF-8 nor cp1252 (detected as latin-1), or
    not in the code page its definition declares. Besides the message, what a caller that
    knows the source's other deliveries needs to say it otherwise
    (:func:`sent_once_advice`): ``advice``, the end of the message that says what to do;
    ``page``, the code page the file reads as text in (None when none of
    :data:`CANDIDATE_CODE_PAGES` does); ``repair``, what to set beside ``encoding`` for its
    double-encoded text ("" when nothing). Made again from its message alone, with these
    copied, when the message is reworded (the landing names the delivered file, not its
    raw copy): :attr:`refused` is read from the message."""

    def __init__(
        self, message: str, advice: str = "", page: str | None = None, repair: str = ""
    ) -> None:
        super().__init__(message)
        self.advice = advice
        self.page = page
        self.repair = repair

    @property
    def refused(self) -> str:
        """The message up to its advice: what is wrong, naming the file, line and byte."""
        message = str(self)
        if self.advice and message.endswith(f" {self.advice}"):
            return message[: -len(self.advice) - 1]
        return message


class UnknownDelimiter(SourceError):
    """None of the four delimiters in use (comma, semicolon, tab, pipe) fits a file's first
    lines: a file of one column, or one split by another character."""


@dataclass(frozen=True)
class Reject:
    """A record that could not be read as a row; it goes to quarantine as it was."""

    line: int
    text: str
    reason: str
    #: The file ends in this record with no line end while its other lines have one, and it
    #: has fewer fields than the header: a copy cut off in it, whose fields are the header's
    #: first ones, one for one (the last maybe cut short).
    cut_off: bool = False
    #: The file ends inside this record: the delivery looks truncated (a download
    #: interrupted, a copy in progress), whatever its reason says of the record itself; the
    #: run's notes say so, and what to do (``Landing.truncated_at``). Wider than
    #: :attr:`cut_off`: a JSON record, or a CSV one cut inside a quoted value, is one too.
    truncated: bool = False
    #: Reasons after ``reason``, for a record failing more than one check (an interaction
    #: whose interaction and customer ids a spreadsheet both rounded).
    more_reasons: tuple[str, ...] = ()
    #: ``text`` is already redacted as the quarantine quotes it (the parse cache stores
    #: rejects so: flows.caching), so it is not redacted again.
    redacted: bool = False

    def __post_init__(self) -> None:
        # A record read back from JSON (flows.caching) gives a list.
        object.__setattr__(self, "more_reasons", tuple(self.more_reasons))


@dataclass(frozen=True)
class CsvDialect:
    """How to read one kind of delimited export (a source definition's ``[read]`` table).

    The defaults read the generated sample's files exactly as before: comma, double quote,
    one header row, encoding detected, header names trimmed and lower-cased.
    """

    #: One character, or ``"auto"``: sniffed from the head of the file (stdlib ``csv.Sniffer``).
    delimiter: str = ","
    quote: str = '"'
    #: ``"auto"`` (BOM, UTF-8, UTF-16, cp1252, latin-1, with a mojibake check on 8-bit
    #: text) or a Python codec name that overrides detection.
    encoding: str = "auto"
    #: Repair double-encoded text (mojibake) with ftfy instead of refusing the file.
    repair_mojibake: bool = False
    #: Header records always present; the first one names the columns.
    header_rows: int = 1
    #: Up to this many more records after them are header records too, when detected by
    #: ``extra_header_if_cell_starts`` or ``extra_header_if_id_not``.
    extra_header_rows: int = 0
    #: A record is an extra header record when one of its cells starts with one of these
    #: (Qualtrics' ``{"ImportId":...}`` row).
    extra_header_if_cell_starts: tuple[str, ...] = ()
    #: (column name, regex): a record is an extra header record when that column's cell does
    #: not match the regex (a question-text row under ``ResponseId``).
    extra_header_if_id_not: tuple[str, str] | None = None
    #: ``"first"``: the first header record names the columns. ``"joined"``: its empty cells
    #: are forward-filled (a question spanning several columns) and joined with the second
    #: record's cell (``"question - option"``), unless that cell is in ``generic_sub_names``.
    names: str = "first"
    generic_sub_names: tuple[str, ...] = ()
    lower_case_names: bool = True
    #: A JSON key read from header cells (Qualtrics' ``timeZone``) into ``RawRead.header_timezone``.
    timezone_key: str | None = None
    #: Read a record with fewer fields than the header as if its missing last fields were
    #: empty (as pandas and spreadsheets do), and one with more whose fields beyond the
    #: header are all empty (spaces aside) without them, instead of rejecting either: for
    #: hand-kept files whose last columns are optional, where each field read is then
    #: checked by the caller. Found by QA leads' trials: every audit typed without its
    #: comment was set aside as malformed, and so was every row of a wider worksheet
    #: appended to an audits.csv, its extra columns empty. An export's ragged record stays
    #: a reject: there it means a truncated or broken line.
    fit_ragged_records: bool = False


DEFAULT_DIALECT = CsvDialect()


@dataclass
class RawRead:
    """What one raw file yielded: its rows as text, its rejects, and how it was decoded."""

    path: str
    encoding: str
    header: list[str]
    frame: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    #: Records read and decoded but left out of ``frame`` because the caller did not need them.
    skipped: int = 0
    #: Physical lines the header took (1 for a plain CSV, 3 for a Qualtrics export).
    header_lines: int = 1
    #: The delimiter used (declared or sniffed); None for JSON.
    delimiter: str | None = ","
    #: A timezone the header declared (Qualtrics' ImportId row), if asked for and present.
    header_timezone: str | None = None
    #: How the delivery was packed, when it was: "gzip", or "zip: <member>" (the file read
    #: from inside the archive; line numbers are that file's).
    unpacked_from: str | None = None
    #: The line of the last row of ``frame`` when the file ends in it with no line end while
    #: its other lines have one: a copy cut off there, maybe (a trial's re-delivery ended
    #: ``...;Le si``); landing sets it aside when it stops short of a copy landed before.
    unterminated_line: int | None = None
    #: A title skipped above the header (:func:`title_above_header`): its line (a sheet's
    #: row) and its text.
    title: tuple[int, str] | None = None
    #: The sheet read, for a workbook: its rows are named as Excel shows them, on it.
    sheet: str | None = None
    #: Records of empty fields alone (``,,,``: a spreadsheet's empty row) left out of
    #: ``frame`` and not in :attr:`records_read` (:func:`_without_empty_records`); a wholly
    #: empty line is no record, and not counted.
    empty_records: int = 0
    #: The format the file was read as: "csv", "xlsx" or "json" (a definition's
    #: ``format = "auto"`` is told per delivery: :func:`delivered_format`).
    format: str = "csv"

    @property
    def header_span(self) -> str:
        """The header's lines as a message names them: ``line 1``, or ``lines 1-3`` for a
        Qualtrics export (a trial read "line 3 (header)" of a column named on line 1); for a
        workbook, its sheet and the header's (last) row: ``sheet 'Umfrage' row 2``."""
        if self.sheet is not None:
            return f"sheet {self.sheet!r} row {self.header_lines}"
        return "line 1" if self.header_lines <= 1 else f"lines 1-{self.header_lines}"

    @property
    def line_unit(self) -> str:
        """What a message calls the place of a row: a workbook's ``row``, a file's ``line``."""
        return "row" if self.sheet is not None else "line"

    @property
    def records_read(self) -> int:
        return self.frame.height + len(self.rejects) + self.skipped


def decode_to_utf8(data: bytes) -> tuple[bytes, str]:
    """Return ``data`` as UTF-8 bytes and the encoding it was found in.

    BOMs decide first (UTF-8, UTF-16); then strict UTF-8; then cp1252, the legacy Windows
    encoding most survey tools export in; latin-1 last, which decodes anything.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :], "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16").encode("utf-8"), "utf-16"
    unmarked = _unmarked_utf16(data)
    if unmarked:
        return data.decode(unmarked, "replace").encode("utf-8"), unmarked
    if _is_utf8(data):
        return data, "utf-8"
    try:
        return data.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8"), "latin-1"


def refuse_broken_utf8(path: str, buf: bytes) -> None:
    """Raise :class:`SourceError` when ``buf``, the text of a file that begins with UTF-8's
    byte-order mark (the mark removed), holds bytes that are not UTF-8: the mark decided the
    encoding, and such a file mixes encodings (a cp1252 line pasted into a UTF-8 file). The
    message names the file, the line, the byte and what to do; an analyst's trial read
    Python's "'utf-8' codec can't decode byte 0xe9 in position 136" and nothing more."""
    if _is_utf8(buf):
        return
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError as error:
        line = buf.count(NEWLINE_BYTE, 0, error.start) + 1
        column = error.start - (buf.rfind(NEWLINE_BYTE, 0, error.start) + 1) + 1
        as_cp1252 = bytes([buf[error.start]]).decode("cp1252", "replace")
        raise SourceError(
            f"{path}: line {line}, byte {column}: 0x{buf[error.start]:02X} is not UTF-8, "
            "though the file begins with UTF-8's byte-order mark: the file mixes encodings "
            f"(in cp1252 that byte is {as_cp1252!r}). Save that line's text as UTF-8 (or "
            "re-export the file as UTF-8) and deliver it again"
        ) from None


def _is_utf8(data: bytes | bytearray | memoryview) -> bool:
    """Strict UTF-8, exactly what ``bytes.decode("utf-8")`` accepts (no surrogates, no overlong
    forms, nothing above U+10FFFF), checked by Arrow's validator on the bytes where they lie:
    no copy, and no str built just to learn that the text decodes. ``tests/unit/
    test_utf8_check.py`` holds the two to the same answer on every sequence of one or two
    bytes, on the edge bytes' sequences of three and four, and on 30,000 random adversarial
    ones (800,000 such cases agreed when this was written). A 162 MB survey export: 7 ms,
    against 120 ms decoding it in 16 MB slices."""
    if not len(data):
        return True
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_utf8(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _whole_characters(data: memoryview, end: int) -> int:
    """Where ``data[:end]`` ends if a last character that ``end`` cuts short is left out (at
    most three bytes): a piece cut there is valid on its own exactly when the text is valid
    up to there. Bytes no character could start with are kept: the check rejects them."""
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the last character starts here
            size = 2 if 0xC0 <= byte < 0xE0 else 3 if 0xE0 <= byte < 0xF0 else 4
            size = 1 if byte < 0x80 or byte >= 0xF8 else size
            return end - back if size > back else end
    return end


def _utf8_and_cr(
    handle: io.BufferedIOBase, piece: int = 1 << 24, digest: Any = None
) -> tuple[bool, bool]:
    """Whether the rest of ``handle`` is strict UTF-8 (:func:`_is_utf8`), and whether it holds
    a CR. Read a piece at a time into one buffer, so the file is never held whole and no
    fresh memory is faulted in per piece; a character that straddles two pieces is carried
    over to the next. Returns at the first invalid piece, (False, CR seen so far).

    With ``digest`` (a :mod:`hashlib` object), every byte read is also fed to it, and the
    rest is read to the end even after an invalid piece (no longer checked): the one read of
    a file both hashes and checks it (:func:`sha256_checking_text`)."""
    buffer = bytearray(piece + 3)
    view = memoryview(buffer)
    carried = 0
    carriage_return = False
    valid = True
    while got := handle.readinto(view[carried : carried + piece]):
        end = carried + got
        if digest is not None:
            digest.update(view[carried:end])
        if not valid:
            continue  # hashing the rest: the verdict is known
        carriage_return = carriage_return or buffer.find(b"\r", carried, end) != -1
        cut = _whole_characters(view, end)
        if not _is_utf8(view[:cut]):
            if digest is None:
                return False, carriage_return
            valid = False
            carried = 0
            continue
        view[: end - cut] = bytes(view[cut:end])
        carried = end - cut
    return valid and _is_utf8(view[:carried]), carriage_return


#: A local file's identity while it is unchanged: resolved path, size, modification time
#: (ns) and inode, as ``os.stat`` gives them.
_FileStamp = tuple[str, int, int, int]

#: What :func:`sha256_checking_text` found of the files it hashed (strict UTF-8, holds a CR),
#: by their stamp: :meth:`_PlainUtf8File.open` takes it instead of reading the file a second
#: time. The latest few only (a date hashes a handful of files).
_TEXT_CHECKED_WHILE_HASHED: dict[_FileStamp, tuple[bool, bool]] = {}
_TEXT_CHECKS_KEPT = 32
#: Files are hashed on threads (:class:`~servicelens.storage.partitions.PendingChecksums`).
_TEXT_CHECKS_LOCK = threading.Lock()


def _stamp(path: Path, info: os.stat_result) -> _FileStamp:
    return (str(path.resolve()), info.st_size, info.st_mtime_ns, info.st_ino)


def sha256_checking_text(path: DataPath) -> str:
    """The hex sha256 of the file at ``path``, as :func:`~servicelens.storage.checksums.
    sha256_file` gives it; for a local file, the same read also checks it as the JSON Lines
    reader streams a plain UTF-8 file (strict UTF-8, no CR: :func:`_utf8_and_cr`), and the
    answer is kept for that reader by the file's stamp (path, size, modification time,
    inode) while the file keeps it. A 520 MB interaction export was read twice, once to hash
    it and once to check it. A file that changes while it is hashed leaves no answer.

    Raises whatever opening ``path`` raises (FileNotFoundError for a missing file)."""
    local = as_path(path)
    if not isinstance(local, Path):
        return sha256_file(path)
    digest = hashlib.sha256()
    with local.open("rb") as handle:
        before = os.fstat(handle.fileno())
        verdict = _utf8_and_cr(handle, digest=digest)
        after = os.fstat(handle.fileno())
    stamp = _stamp(local, before)
    if stamp == _stamp(local, after):
        with _TEXT_CHECKS_LOCK:
            _TEXT_CHECKED_WHILE_HASHED[stamp] = verdict
            while len(_TEXT_CHECKED_WHILE_HASHED) > _TEXT_CHECKS_KEPT:
                del _TEXT_CHECKED_WHILE_HASHED[next(iter(_TEXT_CHECKED_WHILE_HASHED))]
    return digest.hexdigest()


def _unmarked_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: text whose every other byte is NUL (ASCII-range characters)."""
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        return None
    if head[1::2].count(0) > 0.9 * len(head) // 2 and not head[0::2].count(0):
        return "utf-16-le"
    if head[0::2].count(0) > 0.9 * len(head) // 2 and not head[1::2].count(0):
        return "utf-16-be"
    return None


def decode_export(
    path: str, data: bytes, encoding: str = "auto", repair_mojibake: bool = False
) -> tuple[bytes, str]:
    """Decode an export to UTF-8 bytes as its definition says; refuse damaged text.

    ``encoding="auto"`` detects as :func:`decode_to_utf8` does. Text that came out of an
    8-bit encoding (detected or declared) is checked for mojibake, the marks of text
    encoded twice (``Ã©`` for ``é``) or bytes no 8-bit code page defines, with ftfy's
    detector: a damaged file is refused with its line and a sample of the text, unless
    ``repair_mojibake`` asks ftfy to repair it. A file that is neither UTF-8 nor cp1252
    (detected as latin-1) is refused, with or without ``repair_mojibake``, unless
    ``encoding`` names its code page (:func:`_refuse_unknown_code_page`: its bytes do not
    tell which, and repairing latin-1's reading of it would guess). A file that is UTF-8
    though ``encoding`` names an 8-bit code page is read as UTF-8
    (:func:`_utf8_despite_declared`), and the encoding returned says which was declared
    (:func:`declared_encoding_not_used`). Raises :class:`SourceError`.
    """
    note = ""
    if encoding == "auto":
        buf, found = decode_to_utf8(data)
        if found == "utf-8-sig":
            refuse_broken_utf8(path, buf)
    elif (utf8 := _utf8_despite_declared(data, encoding)) is not None:
        buf, found, note = utf8, "utf-8", f"{UTF8_DESPITE_DECLARED}{encoding}"
    else:
        try:
            text = data.decode(encoding)
        except LookupError as error:
            raise SourceError(
                f"{path}: {encoding!r} is not an encoding Python knows ({error}); fix "
                '`encoding` in the definition\'s [read] (e.g. "cp1252", "cp850"), or use "auto"'
            ) from error
        except UnicodeDecodeError as error:
            # Found by a user trial: "'charmap' codec can't decode byte 0x8d in position
            # 4570 ... or use auto", and auto then steered to latin-1.
            line, column = _line_and_column(data, error.start)
            refused = (
                f"{path}: line {line}, column {column}: byte 0x{data[error.start]:02X} is not "
                f"a {encoding} character (the encoding the definition's [read] declares)."
            )
            raise _code_page_refused(refused, data, encoding, repair_mojibake) from None
        buf, found = text.lstrip("\ufeff").encode("utf-8"), encoding
    if read_as_unicode(found):
        # Unicode text is not refused for mojibake here: a damaged value in it was damaged
        # before the file was saved, one row at a time, and the row check quarantines that
        # row (looks_double_encoded). Asked to repair, the damaged lines are repaired.
        if repair_mojibake:
            repaired = _repaired_lines(buf.decode("utf-8"))
            if repaired is not None:
                return repaired.encode("utf-8"), f"{found}+repaired{note}"
        return buf, found + note
    unknown_code_page = encoding == "auto" and found == "latin-1"
    text = buf.decode("utf-8")
    if repair_mojibake:
        if unknown_code_page:
            # Which code page made the mojibake is unknown, and repairing latin-1's
            # reading of it gives other wrong letters, passed as repaired.
            _refuse_unknown_code_page(path, data, repair_mojibake)
        # Line by line, each repair verified (:func:`_verified_repair`): a line whose
        # repair is not is left as read, and the row check quarantines its values.
        repaired = _repaired_lines(text)
        return (text if repaired is None else repaired).encode("utf-8"), f"{found}+repaired"
    _refuse_mojibake(path, text, data, found)  # the more telling refusal first
    if unknown_code_page:
        _refuse_unknown_code_page(path, data, repair_mojibake)
    if encoding == "auto" and found == "cp1252":
        _refuse_mac_roman_read_as_cp1252(path, data)
    return buf, found


#: What :func:`decode_export` appends to ``"utf-8"`` (and the name of the code page declared)
#: for a file read as UTF-8 though its definition declares an 8-bit code page
#: (:func:`_utf8_despite_declared`); :func:`declared_encoding_not_used` reads it back.
UTF8_DESPITE_DECLARED = ", not the declared "


#: The encodings :func:`decode_export` reads Unicode text in (the start of what it returns).
UNICODE_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be")


def read_as_unicode(encoding: str) -> bool:
    """Whether ``encoding``, as :func:`decode_export` returned it for a file (``"utf-8"``,
    ``"utf-16-le+repaired"``, ``"utf-8, not the declared cp850"``, ``"cp850+repaired"``),
    says the file was read as Unicode (UTF-8 or UTF-16), not in an 8-bit code page: a value
    still double-encoded in it was double-encoded before the file was saved."""
    name = encoding.partition(UTF8_DESPITE_DECLARED)[0].partition("+")[0]
    return name.replace("_", "-").lower() in UNICODE_ENCODINGS


def declared_encoding_not_used(encoding: str) -> str | None:
    """The code page a definition declared for a file read as UTF-8 instead (the
    ``encoding`` :func:`decode_export` returned says so), else None."""
    _, said, declared = encoding.partition(UTF8_DESPITE_DECLARED)
    return declared if said else None


def _utf8_despite_declared(data: bytes, encoding: str) -> bytes | None:
    """``data`` (without its byte-order mark) when it is UTF-8 though ``encoding``, the 8-bit
    code page a definition declares, is to read it: strict UTF-8 throughout and starting
    with UTF-8's byte-order mark, or else not ASCII alone and not text in the declared code
    page where its UTF-8 reading is not text either (:func:`_declared_page_reads_it`). None
    otherwise, and for a Unicode or unknown ``encoding``.

    Found by a user trial: a corrected UTF-8 copy of an 8-bit Typeform export, read as the
    cp850 declared for the 8-bit one (with ``repair_mojibake``), had its good responses
    quarantined as mojibake, each line told another code page; a copy read in the wrong
    code page replaced rows that had been kept. An 8-bit export is hardly ever valid UTF-8
    beyond ASCII, and one that is was written as UTF-8, even when the text it was written
    from was already double-encoded: its mojibake is then the UTF-8 text's, repaired or
    quarantined as in any UTF-8 file."""
    try:
        if codecs.lookup(encoding).name.startswith("utf"):
            return None
    except LookupError:
        return None
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8) :]
        return body if _is_utf8(body) else None
    if data.isascii() or not _is_utf8(data) or _declared_page_reads_it(data, encoding):
        return None
    return data


def _declared_page_reads_it(data: bytes, encoding: str) -> bool:
    """Whether ``data``, valid UTF-8 beyond ASCII, is rather a file in ``encoding`` (the
    code page a definition declares) whose bytes happen to be valid UTF-8: its UTF-8 reading
    is not text (:func:`_reads_as_text`: letters no code page has, such as the "Ǹ" a cp850
    file's double-encoded "é", bytes C7 B8, reads as in UTF-8) and its reading in
    ``encoding`` is. Where neither reading is text, the file is UTF-8: found by a user
    trial, a Typeform export saved again as UTF-8 from its mojibake (each "Ç©" a cp850
    byte pair read as latin-1) was read as the cp850 declared, which made "├ç┬®" of it,
    and was then told to save it as UTF-8, as it was."""
    if _reads_as_text(data.decode("utf-8")):
        return False
    try:
        return _reads_as_text(data.decode(encoding))
    except UnicodeDecodeError:
        return False


def _utf8_text(data: bytes) -> bool:
    """Whether ``data`` is UTF-8 beyond ASCII whose UTF-8 reading is text
    (:func:`_reads_as_text`): written as UTF-8, whatever code page it was read in (a file,
    :func:`_utf8_despite_declared`; a value, :func:`code_page_that_repairs`)."""
    return not data.isascii() and _is_utf8(data) and _reads_as_text(data.decode("utf-8"))


def repaired_text(text: str) -> str:
    """``text`` with its lines that show mojibake repaired where the repair is verified
    (:func:`_repaired_lines`, field by field where a whole line's is not); as it is else."""
    return _repaired_lines(text) or text


#: Code pages a Western export that is neither UTF-8 nor cp1252 was most likely saved in
#: (DOS-era and classic Mac software), each shown reading the line a refusal names.
OTHER_CODE_PAGES = ("cp850", "cp437", "mac_roman")


def _refuse_unknown_code_page(path: str, data: bytes, repair_mojibake: bool) -> None:
    """Raise :class:`SourceError` for a file detected as neither UTF-8 nor cp1252: a byte
    cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) is a C1 control character in
    latin-1, never text, so the file was saved in another code page, which bytes alone do
    not tell. The message names the byte and its line, and shows that line read in each
    of :data:`OTHER_CODE_PAGES`, for the definition's ``encoding`` to name the right one.

    Found by trials: a cp850 (DOS) export was read as latin-1 and stored "Geb\x81hr" for
    "Gebühr" in the clean layer and the marts, without a word; and repairing latin-1's
    reading gave other wrong letters ("FraÇ©che" for a cp850 "Fraîche")."""
    offset, line = _undefined_in_cp1252(data) or (0, 1)
    column = _line_and_column(data, offset)[1]
    begin = data.rfind(NEWLINE_BYTE, 0, offset) + 1
    end = data.find(NEWLINE_BYTE, offset)
    raw = data[begin : end if end != -1 else len(data)].rstrip(b"\r")
    readings = "; ".join(
        f"as {page}: {_quoted_field(raw.decode(page, 'replace'), offset - begin)!r}"
        for page in OTHER_CODE_PAGES
    )
    refused = (
        f"{path}: line {line}, column {column}: byte 0x{data[offset]:02X} is not a cp1252 "
        "character and the file is not UTF-8; read as latin-1 it would be a control "
        "character in the text, so the file was saved in another code page. The field that "
        f"holds it reads {readings}."
    )
    raise _code_page_refused(refused, data, "latin-1", repair_mojibake)


#: A field quoted in a message is cut to this many characters either side of the damage.
QUOTED_AROUND = 30


def _quoted_field(line: str, at: int) -> str:
    """The field of the delimited ``line`` that holds character ``at``, for a message to
    quote: at most :data:`QUOTED_AROUND` characters either side of ``at``, personal data
    redacted as the quarantine's raw records are (``transforms.pii.redact_pii``). Found by
    a user trial: a refusal quoted the line around the byte, "Jordan,,jordan@example.com,
    ...", and names and e-mails never leave raw/: the fields beside the damaged one are
    left out (the delimiter is not known yet: any of , ; TAB | outside quotes ends one)."""
    from transforms.pii import redact_pii

    quoted = False
    start, end = 0, len(line)
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char in ",;\t|" and not quoted:
            if index < at:
                start = index + 1
            else:
                end = index
                break
    field = line[max(start, at - QUOTED_AROUND) : min(end, at + QUOTED_AROUND)]
    field = field.strip().strip('"').strip()
    redacted, _ = redact_pii(pl.DataFrame({"field": [field]}), ["field"])
    return str(redacted.item())


def _line_and_column(data: bytes, offset: int) -> tuple[int, int]:
    """The 1-based line and column (bytes into the line) of byte ``offset`` of ``data``."""
    line = data.count(NEWLINE_BYTE, 0, offset) + 1
    return line, offset - (data.rfind(NEWLINE_BYTE, 0, offset) + 1) + 1


#: The code pages a file that is not in the one declared or detected is tried in, in the
#: order advice names them (the Western ones survey exports come in).
CANDIDATE_CODE_PAGES = ("cp1252", "cp850", "cp437", "mac_roman", "cp1250", "latin-1")


@functools.cache
def _unlikely_in_text() -> re.Pattern[str]:
    """Characters no survey text holds: control characters (but tab and line ends), private
    use, and the Latin letters no code page encodes (:data:`_UNLIKELY_LATIN`)."""
    return re.compile(
        "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ue000-\uf8ff" + "".join(sorted(_UNLIKELY_LATIN)) + "]"
    )


#: A character beyond ASCII between two ASCII letters: inside a word, where text has letters.
_INSIDE_WORD = re.compile("(?<=[A-Za-z])[^\x00-\x7f](?=[A-Za-z])")


def _reads_as_text(text: str) -> bool:
    """Whether ``text`` (a file read in some code page) reads as text: no character text
    never holds (:func:`_unlikely_in_text`), each line that shows mojibake repairs with a
    verified repair (:func:`_verified_repair`) and none is left, and what sits inside words
    beyond ASCII is Latin letters, spaces (a no-break one) or word punctuation."""
    if _unlikely_in_text().search(text):
        return False
    repaired = _repaired_lines(text) or text
    if _mojibake_line(repaired) is not None:
        return False
    # Between two ASCII letters a Latin word goes on: a Latin letter, not ⁿ or τ (cp437's
    # reading of a latin-1 "ü" and "ç").
    return all(
        char.isspace()
        or char in _WORD_PUNCTUATION
        or unicodedata.name(char, "").startswith("LATIN ")
        for char in set(_INSIDE_WORD.findall(repaired))
    )


def _readings(data: bytes, pages: Iterable[str], exclude: str) -> Iterator[tuple[str, str]]:
    """``data`` decoded in each of ``pages`` that decodes it, but ``exclude`` (one name of
    a code page, whichever alias), as (page, text)."""
    skip = codecs.lookup(exclude).name
    for page in pages:
        if codecs.lookup(page).name == skip:
            continue
        try:
            yield page, data.decode(page)
        except UnicodeDecodeError:
            continue


def _text_code_page(data: bytes, exclude: str) -> tuple[str | None, bool, list[str]]:
    """The first of :data:`CANDIDATE_CODE_PAGES` but ``exclude`` that reads ``data`` as text
    (:func:`_reads_as_text`), whether that text shows mojibake (to repair), and the code
    pages tried before it that decode ``data`` (all that do, when none reads it as text)."""
    decoding: list[str] = []
    for page, text in _readings(data, CANDIDATE_CODE_PAGES, exclude):
        if _reads_as_text(text):
            return page, _mojibake_line(text) is not None, decoding
        decoding.append(page)
    return None, False, decoding


def _repair_beside(needs_repair: bool, repair_mojibake: bool) -> str:
    """What the advice sets beside ``encoding`` for a file whose text shows mojibake."""
    if not needs_repair:
        return ""
    if repair_mojibake:
        return " (beside `repair_mojibake = true`, as set: its double-encoded text repairs)"
    return " with `repair_mojibake = true` (its double-encoded text then repairs)"


def _code_page_refused(
    refused: str,
    data: bytes,
    exclude: str,
    repair_mojibake: bool,
    found: tuple[str | None, bool, list[str]] | None = None,
) -> CodePageRefused:
    """The refusal of ``data`` for its code page: ``refused`` (what is wrong, naming the
    file, line and byte), then what to set for a file that ``exclude`` (the code page
    declared or detected) does not read: the first of :data:`CANDIDATE_CODE_PAGES` the file
    reads as text in, with ``repair_mojibake`` when its text needs repairing; else the code
    pages that decode it, to be checked. Found by a user trial: a cp850 file was steered to
    latin-1, whose "repair" kept other letters. ``found``: :func:`_text_code_page` of
    ``data`` and ``exclude`` when the caller has it already."""
    page, needs_repair, decoding = found or _text_code_page(data, exclude)
    beside = _repair_beside(needs_repair, repair_mojibake)
    if page is not None:
        advice = (
            f'The file reads as text in {page}: set `encoding = "{page}"` in the '
            f"definition's [read]{beside}, or export the file again as UTF-8"
        )
    else:
        pages = ", ".join(page for page in decoding if page != "latin-1")
        advice = (
            "No code page tried reads the file as text"
            + (f" (it decodes, with characters text does not hold, in {pages})" if pages else "")
            + ": export the file again as UTF-8, or set `encoding` in the definition's [read] "
            "to the code page it was saved in"
        )
    return CodePageRefused(f"{refused} {advice}", advice, page, beside)


def sent_once_advice(
    error: CodePageRefused, usual: Sequence[str], declared: bool, sample: bytes | None
) -> str:
    """The refusal ``error`` said for a source whose deliveries come in another encoding:
    ``usual``, the encodings its recent deliveries were read in, most frequent first
    (``"cp1252"``, ``"UTF-8"``), or with ``declared`` the one its definition's [read]
    declares. The first advice is to have the file sent again as usual or as UTF-8; then,
    only if the source sends ``error.page`` from now on, to set ``encoding``, which applies
    to every delivery: what it does to a usual file is shown on ``sample`` (one of the
    source's recent deliveries, as delivered; a generic letter when it shows nothing).

    Found by an on-call engineer's trial: a source whose nights are cp1252 sent one file in
    cp850, and the refusal's first advice, ``encoding = "cp850"``, would have read every
    usual night with "Geb³hr" for "Gebühr"."""
    asked = f"as {' or '.join(usual)}, as usual" + (", or as UTF-8" * ("UTF-8" not in usual))
    if declared:
        said = f"This source's definition declares {usual[0]}"
        asked = f"in {usual[0]}, as usual, or as UTF-8 (read as UTF-8 whatever is declared)"
    else:
        said = f"This source's recent deliveries were {' and '.join(usual)}"
    first = f"{said}: ask the sender for this file again {asked}."
    if error.page is None:
        second = (
            "Only if the source now saves every export in another code page, set `encoding` "
            "in the definition's [read] to it: that applies to every delivery"
        )
        return f"{error.refused} {first} {second}"
    second = (
        f'Only if the source sends {error.page} from now on, set `encoding = "{error.page}"` '
        f"in the definition's [read]{error.repair}: that applies to every delivery"
    )
    eight_bit = next((name for name in usual if not _unicode_codec(name)), None)
    if eight_bit is not None:
        second += _misread_as(eight_bit, error.page, sample)
    return f"{error.refused} {first} {second}; files in UTF-8 are still read as UTF-8"


def _unicode_codec(name: str) -> bool:
    """Whether the codec ``name`` (any alias: "UTF-8", "utf8", "utf-16-le") is Unicode's."""
    try:
        return codecs.lookup(name).name.startswith("utf")
    except LookupError:
        return False


#: The letters a generic example of a misread code page is shown on, first found first.
_EXAMPLE_LETTERS = "üäöéßàèçñ"


def _misread_as(usual: str, page: str, sample: bytes | None) -> str:
    """What reading a ``usual`` file as ``page`` does, for advice: ", and the source's usual
    cp1252 files would be read with wrong letters ('Gebühr (EUR)' as 'Geb³hr (EUR)')" (or
    refused, when ``page`` cannot decode them), shown on the first field of
    ``sample`` (a file in ``usual``) that reads otherwise, else on the first Western letter
    that does; "" when the two read every Western letter alike."""
    try:
        if sample is not None:
            as_usual, as_page = sample.decode(usual), sample.decode(page)
            # Two code pages of one byte a character: the same characters line up.
            pairs = zip(as_usual, as_page, strict=False) if len(as_usual) == len(as_page) else ()
            at = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
            if at is not None:
                begin = as_usual.rfind("\n", 0, at) + 1
                end = as_usual.find("\n", at)
                end = len(as_usual) if end == -1 else end
                shown = (
                    _quoted_field(as_usual[begin:end].rstrip("\r"), at - begin),
                    _quoted_field(as_page[begin:end].rstrip("\r"), at - begin),
                )
                return (
                    f", and the source's usual {usual} files would be read with wrong letters "
                    f"({shown[0]!r} as {shown[1]!r})"
                )
    except UnicodeDecodeError:
        return f", and the source's usual {usual} files would be refused"
    for letter in _EXAMPLE_LETTERS + "".join(sorted(WESTERN_LETTERS)):
        read = letter.encode(usual, "replace").decode(page, "replace")
        if read != letter:
            return f", and {usual} files would be read with wrong letters ({letter!r} as {read!r})"
    return ""


#: Letters Western European text has inside its words, as a code page reads them.
WESTERN_LETTERS = frozenset("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝ")
#: Punctuation cp1252 text has inside words: apostrophes, dashes, dots.
_WORD_PUNCTUATION = frozenset("’‘´`–—·•…")


def _byte_table(test: Callable[[int], bool]) -> np.ndarray:
    """A Boolean lookup table of the 256 byte values."""
    return np.array([test(value) for value in range(256)], dtype=bool)


def _cp1252_letter(value: int) -> bool:
    return bytes([value]).decode("cp1252", "replace") in WESTERN_LETTERS


def _mac_roman_tell(value: int) -> bool:
    as_cp1252 = bytes([value]).decode("cp1252", "replace")
    mac = bytes([value]).decode("mac_roman")
    return as_cp1252 not in WESTERN_LETTERS | _WORD_PUNCTUATION and mac in WESTERN_LETTERS


#: Bytes cp1252 reads as a Western letter, and bytes whose cp1252 reading (Š š Ÿ Ž §, ...)
#: is no Western letter or word punctuation where Mac Roman reads one (ä ö ü é ß, ...).
_CP1252_LETTER = _byte_table(_cp1252_letter)
_MAC_ROMAN_TELL = _byte_table(_mac_roman_tell)
_ASCII_LETTER = _byte_table(lambda value: chr(value).isascii() and chr(value).isalpha())
#: A file detected as cp1252 is refused as Mac Roman with at least this many Mac Roman
#: tells inside words, and more than this many times its cp1252 letters inside words.
MAC_ROMAN_TELLS_AT_LEAST = 2
MAC_ROMAN_TELLS_OVER_LETTERS = 4


def _refuse_mac_roman_read_as_cp1252(path: str, data: bytes) -> None:
    """Raise :class:`SourceError` when text detected as cp1252 reads as Mac Roman (a
    classic Mac export) inside its words: Mac Roman's German letters (ä ö ü ß are 0x8A
    0x9A 0x9F 0xA7 there) are cp1252 characters too (Š š Ÿ §), so the file decodes without
    a byte to object to, and ftfy's detector sees no double encoding. Found by an analyst's
    trial: "wŠren schšn, Grš§e" reached the marts, with ``language = de``.

    The bytes weighed are those inside words (beside an ASCII letter, with letters or such
    bytes on both sides): apostrophes, quotes and dashes around words are not. A byte whose
    cp1252 reading is a Western letter (:data:`WESTERN_LETTERS`) speaks for cp1252; one
    whose cp1252 reading is no such letter nor word punctuation, and whose Mac Roman one
    is, speaks for Mac Roman; thresholds :data:`MAC_ROMAN_TELLS_AT_LEAST` and
    :data:`MAC_ROMAN_TELLS_OVER_LETTERS`. (charset-normalizer 3.5.2 was tried first, and
    named mac_iceland for a cp1252 line with German quotes, cp1250 for a Mac Roman export.)
    The message names the first line with a Mac Roman tell and shows it both ways. A file
    whose definition names its encoding is read as it says. One vectorised pass over the
    bytes beyond ASCII."""
    arr = np.frombuffer(data, dtype=np.uint8)
    high = np.flatnonzero(arr[1:-1] >= 0x80) + 1
    if high.size == 0:
        return
    before, after = arr[high - 1], arr[high + 1]
    beside_letter = _ASCII_LETTER[before] | _ASCII_LETTER[after]
    inside = beside_letter & (_ASCII_LETTER[before] | (before >= 0x80))
    inside &= _ASCII_LETTER[after] | (after >= 0x80)
    inside_bytes = arr[high[inside]]
    tells = _MAC_ROMAN_TELL[inside_bytes]
    told = int(tells.sum())
    if told < MAC_ROMAN_TELLS_AT_LEAST:
        return
    if told <= MAC_ROMAN_TELLS_OVER_LETTERS * int(_CP1252_LETTER[inside_bytes].sum()):
        return
    at = int(high[inside][np.argmax(tells)])
    begin = data.rfind(NEWLINE_BYTE, 0, at) + 1
    end = data.find(NEWLINE_BYTE, at)
    raw = data[begin : end if end != -1 else len(data)].rstrip(b"\r")
    as_cp1252 = _quoted_field(raw.decode("cp1252", "replace"), at - begin)
    as_mac_roman = _quoted_field(raw.decode("mac_roman"), at - begin)
    line, column = _line_and_column(data, at)
    raise SourceError(
        f"{path}: line {line}, column {column}: the text reads {as_cp1252!r} "
        f"as cp1252 (the encoding detected) and {as_mac_roman!r} as "
        f"mac_roman ({told} letters inside words read so): the file looks saved on a "
        'classic Mac. Set `encoding = "mac_roman"` in the definition\'s [read] if that '
        "reading is right, or export the file again as UTF-8"
    )


def _shows_mojibake(text: str) -> bool:
    """Whether ``text`` shows mojibake by ftfy's detector (``ftfy.badness.is_bad``); C1
    control characters alone are not mojibake (a stray one is removed later as a control
    character)."""
    from ftfy.badness import is_bad

    return bool(is_bad(text) and is_bad(_C1_CONTROLS.sub("", text)))


def _mojibake_line(text: str) -> tuple[int, str] | None:
    """The first line (1-based number, text) of 8-bit text that shows mojibake
    (:func:`_shows_mojibake`). None when no line does."""
    for number, line in _lines_maybe_mojibake(text):
        if _shows_mojibake(line):
            return number, line
    return None


def _repaired_lines(text: str) -> str | None:
    """``text`` with each line that shows mojibake (:func:`_shows_mojibake`) repaired by
    ftfy where the repair is verified (:func:`_verified_repair`), the other lines as they
    are (a line whose repair is not verified is left as read: the row check quarantines
    its values); None when no line is repaired. Line by line: in Unicode text only some
    lines were damaged (pasted from a mis-decoded source), and repairing the whole text
    would also touch the lines that were not."""
    lines: list[str] | None = None
    for number, line in _lines_maybe_mojibake(text):
        if _shows_mojibake(line) and (repaired := _repaired_line(line)) is not None:
            lines = lines if lines is not None else text.split("\n")
            lines[number - 1] = repaired
    return None if lines is None else "\n".join(lines)


#: What separates the fields of a line before its delimiter is known (the characters
#: :func:`_quoted_field` ends a field at, and the quote). All ASCII: UTF-8 encodes every
#: character beyond ASCII in bytes of 0x80 and above, so a UTF-8 character read in an
#: 8-bit code page (its mojibake, ``Ã©``) never holds one, and a cut there never halves it.
_FIELD_SEPARATORS = re.compile(r'([,;\t|"])')


def _repaired_line(line: str) -> str | None:
    """``line`` (one line of text that shows mojibake) repaired: whole when ftfy's repair of
    it is verified (:func:`_verified_repair`), else field by field (the pieces between
    :data:`_FIELD_SEPARATORS`), each piece that shows mojibake repaired where its own repair
    is verified and left as read where not. None when nothing of it is repaired.

    Field by field: found by a user trial, a Typeform export re-saved in cp850 had one
    e-mail cell of bytes that are no text in any code page (``D0 3F 3F 8D``, cp850 reads
    "ð??ì"); ftfy repairs such a line only by its ``decode_inconsistent_utf8`` fix, which
    nothing undoes to verify, so the whole line stayed as read and its comment ("RÃ©ponse
    claire, merci", repaired on every other line) was quarantined: 4 rows of 14 days."""
    whole = _verified_repair(line)
    if whole is not None:
        return whole
    pieces = _FIELD_SEPARATORS.split(line)
    repaired = [
        fixed
        if _shows_mojibake(piece) and (fixed := _verified_repair(piece)) is not None
        else piece
        for piece in pieces
    ]
    return None if repaired == pieces else "".join(repaired)


def _legacy_repertoire() -> frozenset[str]:
    """Every character the Windows and ISO 8859 code pages of living languages encode."""
    pages = [f"cp{n}" for n in range(1250, 1259)] + [f"iso8859_{n}" for n in range(1, 17)]
    chars: set[str] = set()
    for page in pages:
        if page != "iso8859_12":  # never published
            chars.update(bytes(range(256)).decode(page, "ignore"))
    return frozenset(chars)


#: Letters of the Latin Extended-B and IPA blocks that no Windows or ISO 8859 code page
#: encodes (Ǹ, Ǧ, ǩ, ...): hardly ever in survey text, and what a repair through the wrong
#: code page makes of mojibake (a trial's "clé", saved as cp850 and read as latin-1,
#: repaired to "clǸ").
_UNLIKELY_LATIN = frozenset(
    char
    for char in map(chr, range(0x180, 0x2B0))
    if char.isalpha() and char not in _legacy_repertoire()
)


def _unlikely_character(char: str) -> bool:
    """A character repaired text should not hold: a control character (but tab and line
    ends), a private-use, unassigned or surrogate code point, or a Latin letter no code
    page encodes (:data:`_UNLIKELY_LATIN`)."""
    if char in _UNLIKELY_LATIN:
        return True
    return unicodedata.category(char) in ("Cc", "Cn", "Co", "Cs") and char not in "\t\r\n"


def _verified_repair(text: str) -> str | None:
    """``text`` repaired by ftfy (``fix_encoding_and_explain``) when the repair is verified,
    else None (no repair, or one not to trust). Verified: each step of ftfy's plan is an
    encode or decode that, undone in reverse, gives ``text`` back exactly (the repair lost
    nothing), and the characters the repair brought in are all likely in text
    (:func:`_unlikely_character`). Found by a trial: a cp850 file declared latin-1 had
    "clé" repaired to "clǸ" and kept as repaired, while its neighbour "FraÇ©che" was
    quarantined: the wrong code page yields valid but other letters."""
    import ftfy

    fixed, plan = ftfy.fix_encoding_and_explain(text)
    if not plan or fixed == text:
        return None
    back: str | bytes = fixed
    try:
        for step, codec in reversed(plan):
            if step == "decode" and isinstance(back, str):
                back = back.encode(codec)
            elif step == "encode" and isinstance(back, bytes):
                back = back.decode(codec)
            else:  # a transcoding or a fix of its own: nothing to undo it by
                return None
    except (UnicodeError, LookupError):
        return None
    if back != text:
        return None
    if any(_unlikely_character(char) for char in set(fixed) - set(text)):
        return None
    return fixed


#: The code pages a value whose repair failed is tried in, to tell which one its file is in.
REPAIR_CODE_PAGES = ("cp1252", "cp850", "cp437", "mac_roman", "latin-1")


def code_page_that_repairs(value: str, encoding: str) -> str | None:
    """The encoding the bytes of ``value``, as ``encoding`` read them, are text in, for a
    reason to name when ``value`` was left as read because its repair was not verified:
    ``"utf-8"`` when they are UTF-8 beyond ASCII that reads as text (:func:`_reads_as_text`),
    else the code page of :data:`REPAIR_CODE_PAGES` (other than ``encoding``) in which they
    are mojibake whose repair is verified (:func:`_verified_repair`) and leaves none. None
    when none is (or ``value`` has characters ``encoding`` cannot encode).

    UTF-8 first: found by a user trial, UTF-8 text read as cp850 was told "the file is in
    cp437" on one line and "in cp1252" on another, each a code page that turns UTF-8 into
    mojibake ftfy repairs as UTF-8 (cp1252 where the bytes hold none it leaves undefined)."""
    try:
        data = value.encode(encoding)
    except (UnicodeError, LookupError):
        return None
    if _utf8_text(data):
        return "utf-8"
    for page, text in _readings(data, REPAIR_CODE_PAGES, encoding):
        repaired = _verified_repair(text) if _shows_mojibake(text) else None
        if repaired is not None and not _shows_mojibake(repaired):
            return page
    return None


def looks_double_encoded(texts: pl.Series) -> pl.Series:
    """Which values of ``texts`` (a String Series) show mojibake: text encoded twice, such
    as ``GebÃ¼hr`` for ``Gebühr`` or ``â€™`` for ``’``, as a value decoded with the wrong
    code page and then saved as UTF-8 reads. A Boolean Series of the same length and name;
    null is False.

    ftfy's detector (``ftfy.badness.is_bad``, :func:`_shows_mojibake`) decides, on the
    values that :func:`_mojibake_prefilter` (its pattern in polars' regex engine, a
    superset) picks: a value without such characters costs one regex pass, so a column
    of a million ASCII comments costs milliseconds (0.02 s for the bench's 100k comments,
    4,334 of them not ASCII). On the field exports and the CFPB complaints in ``../shared``
    it flags no line; ``tests/sources/test_formats.py`` holds it to flagging damaged text
    and not text in other languages and scripts (``NÃO``, ``Straße``, Japanese, emoji).
    """
    found = np.zeros(len(texts), dtype=bool)
    maybe = texts.str.contains(_mojibake_prefilter()).fill_null(False)
    for index in maybe.arg_true().to_list():
        found[index] = _shows_mojibake(texts[index])
    return pl.Series(texts.name, found)


#: Text whose bytes a re-save lost: ``ð`` (the cp1252 reading of a 4-byte UTF-8 sequence's
#: lead byte F0, an emoji's) followed by the ``??`` a code page writes for the characters of
#: its next bytes it has not. The field's Typeform re-save (../shared/field/04) holds
#: ``D0 3F 3F 8D``, which cp850 reads as ``ð??ì``: no repair gives the text back, and ftfy's
#: detector does not flag it (a trial's ``All good ð??ì`` was kept in clean and the marts).
LOST_IN_A_RESAVE = r"ð\?\?"


def lost_in_a_resave(texts: pl.Series) -> pl.Series:
    """Which values of ``texts`` (a String Series) hold text whose bytes an 8-bit re-save
    lost (:data:`LOST_IN_A_RESAVE`): a Boolean Series of the same length and name, null
    False. Only meaningful for a file read with ``repair_mojibake`` (a re-saved export):
    elsewhere ``ð??`` may be a word and two question marks."""
    return texts.str.contains(LOST_IN_A_RESAVE).fill_null(False).alias(texts.name)


def _undefined_in_cp1252(data: bytes) -> tuple[int, int] | None:
    """The byte offset and 1-based line of the first byte no cp1252 text has, if any."""
    offset = next((i for i, b in enumerate(data) if b in UNDEFINED_IN_CP1252), None)
    return None if offset is None else (offset, data.count(NEWLINE_BYTE, 0, offset) + 1)


def _refuse_mojibake(path: str, text: str, data: bytes, encoding: str) -> None:
    """Raise when 8-bit text shows mojibake (:func:`_mojibake_line`), quoting it."""
    from ftfy.badness import BADNESS_RE

    bad = _mojibake_line(text)
    if bad is None:
        return
    number, line = bad
    if data.startswith(codecs.BOM_UTF8) and _is_utf8(data):
        # UTF-8 marked as such, read as the definition's code page: its own mark is the
        # mojibake ("ï»¿"). An operator's trial, with another export dropped in a cp1252
        # source's inbox, was told the file mixed encodings and to set repair_mojibake.
        raise SourceError(
            f"{path}: line 1: the file starts with UTF-8's byte-order mark and is UTF-8 "
            f"throughout, but its definition reads it as {encoding}. If this source now "
            'delivers UTF-8, set `encoding = "auto"` in the definition\'s [read]; if the '
            "file is another export's, move it to that source's inbox"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        at = data.count(NEWLINE_BYTE, 0, error.start) + 1
        if number < at:
            # UTF-8 up to a line with another encoding's bytes: read as 8-bit, the UTF-8
            # lines before it became the mojibake, so point at the line that is not UTF-8.
            column = error.start - (data.rfind(NEWLINE_BYTE, 0, error.start) + 1) + 1
            raise SourceError(
                f"{path}: line {at}, byte {column}: 0x{data[error.start]:02X} is not UTF-8, "
                f"though the lines before it are: the file mixes encodings (read as "
                f"{encoding}, its UTF-8 text turns to mojibake, e.g. on line {number}). Save "
                "that line's text as UTF-8 (or re-export the file as UTF-8) and deliver it "
                "again"
            ) from None
    undefined = _undefined_in_cp1252(data)
    why = ""
    if undefined is not None:
        offset, at = undefined
        why = f"; byte 0x{data[offset]:02X} on line {at} is not a cp1252 character"
    found = BADNESS_RE.search(_C1_CONTROLS.sub("", line))
    at_char = found.start() if found else 0
    sample = _quoted_field(line, at_char)
    # A line whose UTF-8 reading is no text is not a UTF-8 line: a cp850 "é" double-encoded
    # (C7 B8) is valid UTF-8 for "Ǹ" (found by a user trial, told the file mixed encodings).
    if (utf8 := _utf8_line(data, number)) is not None and _reads_as_text(utf8):
        # A line written as UTF-8 into an 8-bit file (appended or pasted by another tool):
        # a trial's cp1252 export was told to set cp850, which read its own letters wrong
        # ("Geb³hr") and repaired nothing. What repairs such a line is repair_mojibake alone,
        # where the rest is cp1252 (ftfy reads the line's cp1252 mojibake back as UTF-8).
        mixed = (
            f"{path}: line {number}: the text {sample!r} is UTF-8 in a file read as "
            f"{encoding}: the file mixes encodings (that line reads "
        )
        # The same place in the line read as UTF-8 (its letters there are fewer).
        at_utf8 = len(_as_written_utf8(line[:at_char], encoding))
        shown = _quoted_field(utf8, at_utf8)
        if undefined is None:
            raise SourceError(
                f"{mixed}{shown!r} as UTF-8). Set `repair_mojibake = true` in the "
                "definition's [read] to read such lines as UTF-8, keeping `encoding` as it "
                "is, or save the file again as UTF-8 and deliver it again"
            )
        raise SourceError(
            f"{mixed}{shown!r} as UTF-8){why}, so the rest is in another code page. Save "
            "the file again as UTF-8 (or that line's text in the file's code page) and "
            "deliver it again"
        )
    refused = (
        f"{path}: line {number}: the text {sample!r} looks double-encoded (mojibake) "
        f"after reading the file as {encoding}{why}"
    )
    if undefined is not None:
        # Not cp1252 either: the code page that reads the file as text is named, and the
        # line shown in it (found by a user trial: a Typeform export re-saved in cp850 was
        # told only "e.g. cp850", and through its definition not even that).
        found_page = _text_code_page(data, encoding)
        if (page := found_page[0]) is not None:
            # One byte a character in both readings: the damage starts at the same place
            # in the line read in ``page``, and there in its repair where what precedes
            # it repairs to (the repair changes the length).
            as_page = _raw_line(data, number).decode(page)
            at_page = len(repaired_text(as_page[:at_char]))
            refused += (
                f". The file looks saved again in an 8-bit code page (docs/sources.md, decoding): "
                f"{page} reads that "
                f"text as {_quoted_field(repaired_text(as_page), at_page)!r}"
            )
        raise _code_page_refused(f"{refused}.", data, encoding, False, found_page)
    raise SourceError(
        f"{refused}. Re-export it as UTF-8, or set "
        '`encoding` (e.g. "cp850") and `repair_mojibake = true` in the definition\'s '
        "[read] to repair it"
    )


def _raw_line(data: bytes, number: int) -> bytes:
    """The bytes of line ``number`` (1-based) of ``data``, without its line end."""
    start = 0
    for _ in range(number - 1):
        start = data.find(NEWLINE_BYTE, start) + 1
    end = data.find(NEWLINE_BYTE, start)
    return data[start : end if end != -1 else len(data)].rstrip(b"\r")


def _as_written_utf8(text: str, encoding: str) -> str:
    """``text`` (read with the 8-bit ``encoding``) as the UTF-8 it was written in."""
    return text.encode(encoding, errors="replace").decode("utf-8", errors="replace")


def _utf8_line(data: bytes, number: int) -> str | None:
    """Line ``number`` (1-based) of ``data`` decoded as UTF-8 when its bytes are UTF-8 and
    not ASCII alone (so it was written as UTF-8, whatever the rest of the file is); None
    otherwise."""
    start = 0
    for _ in range(number - 1):
        start = data.find(NEWLINE_BYTE, start) + 1
        if start == 0:
            return None
    end = data.find(NEWLINE_BYTE, start)
    raw = data[start : end if end != -1 else len(data)].rstrip(b"\r")
    if raw.isascii():
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


@functools.cache
def _mojibake_prefilter() -> str:
    """ftfy's mojibake pattern (``ftfy.badness.BADNESS_RE``) for polars' regex engine, loose.

    Python's engine tries each of the pattern's ~40 alternatives at every character: about a
    microsecond per character, 2.6 s per 100,000 lines of French text saved as cp1252 (and
    21 s on the bench's 170 MB export). polars' engine (Rust's ``regex``, a DFA) runs the
    same pattern in linear time, so it picks the lines worth checking and Python's engine
    checks only those. The verbose pattern is made compact (comments and whitespace outside
    character classes dropped; Rust's verbose mode would drop spaces inside classes too),
    and ``\\s`` / ``\\w`` outside classes become "any character", since the two engines
    do not draw those classes alike: the result matches every line ftfy's does, and a few
    more, which the exact check then clears (a property test holds the two to that).
    """
    from ftfy.badness import BADNESS_RE

    verbose, out, in_class, at = BADNESS_RE.pattern, [], False, 0
    while at < len(verbose):
        char = verbose[at]
        if char == "\\":
            escape = verbose[at : at + 2]
            out.append("(?s:.)" if not in_class and escape in ("\\s", "\\w") else escape)
            at += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "#":
            end = verbose.find("\n", at)
            at = len(verbose) if end < 0 else end
            continue
        elif not char.isspace():
            out.append(char)
        at += 1
    return "".join(out)


def _lines_maybe_mojibake(text: str) -> Iterator[tuple[int, str]]:
    """(1-based number, text) of the ``\\n``-separated lines that ftfy's detector might find
    bad (:func:`_mojibake_prefilter`), in order; a superset of the lines it does find bad."""
    if text.isascii():  # every pattern of the detector needs a non-ASCII character
        return
    lines = pl.Series([text]).str.split("\n").explode()
    for index in lines.str.contains(_mojibake_prefilter()).arg_true().to_list():
        yield index + 1, lines[index]


#: How an .xlsx workbook begins (a zip archive), and an old .xls one (an OLE2 file).
XLSX_SIGNATURE, XLS_SIGNATURE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: How a gzip file begins (RFC 1952: ID1 ID2).
GZIP_SIGNATURE = b"\x1f\x8b"
#: How a zip archive begins: a file's local header, or an empty archive's end record.
ZIP_SIGNATURES = (XLSX_SIGNATURE, b"PK\x05\x06")
#: How common non-text files begin, and what to tell the person who delivered one. (A zip
#: archive that is not a workbook, and a gzip file, are unpacked first: :func:`unpack_delivery`.)
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (XLSX_SIGNATURE, "an Excel .xlsx workbook: export it as CSV (a configured source can "
     'read a workbook itself, with format = "xlsx" in its definition\'s [read])'),
    (XLS_SIGNATURE, "an old Excel .xls workbook: export it as CSV (a configured source can "
     'read it itself, with format = "xlsx" in its definition\'s [read])'),
    (GZIP_SIGNATURE, "gzip-compressed twice: decompress it first (gunzip)"),
    (b"%PDF", "a PDF document: export the responses as CSV"),
)  # fmt: skip


def _is_workbook_zip(archive: zipfile.ZipFile) -> bool:
    """Whether a zip archive is an Office Open XML workbook (.xlsx, .xlsm)."""
    names = set(archive.namelist())
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def is_workbook(data: bytes) -> bool:
    """Whether ``data`` (a file's bytes) is a spreadsheet workbook calamine reads, whatever
    the file is named: an .xlsx or .xlsm (an Office Open XML zip with ``xl/``), an old
    .xls (an OLE2 compound file), or an OpenDocument spreadsheet (.ods)."""
    if data.startswith(XLS_SIGNATURE):
        return True
    if not data.startswith(XLSX_SIGNATURE):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if _is_workbook_zip(archive):
                return True
            names = archive.namelist()
            kind = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, EOFError):
        return False
    return kind.startswith(b"application/vnd.oasis.opendocument.spreadsheet")


#: Office documents that are zip archives, by a folder or file only they hold.
_OFFICE_PARTS = (
    ("word/", "a Word document: export the responses as CSV"),
    ("ppt/", "a PowerPoint presentation: export the responses as CSV"),
)


def _office_document(archive: zipfile.ZipFile) -> str | None:
    """What an Office Open XML or OpenDocument file that is not a workbook is, and what to do;
    None for any other archive."""
    names = archive.namelist()
    for part, what in _OFFICE_PARTS:
        if "[Content_Types].xml" in names and any(n.startswith(part) for n in names):
            return what
    if "mimetype" in names:
        kind = archive.read("mimetype")[:100].decode("ascii", "replace")
        if kind.startswith("application/vnd.oasis.opendocument"):
            return f"an OpenDocument file ({kind.rsplit('.', 1)[-1]}): save it as CSV"
    return None


def _delivered_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The files of an archive a person put in it: not folders, and not the metadata macOS's
    Finder adds when it zips (``__MACOSX/``, ``._name``)."""
    return [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not info.filename.rsplit("/", 1)[-1].startswith("._")
    ]


def unpack_delivery(path: str, data: bytes, kind: str = "CSV") -> tuple[bytes, str | None]:
    """The export inside a compressed delivery, and how it was packed (see
    :attr:`RawRead.unpacked_from`); other bytes are returned as they are, with None. Either
    way, a known non-text file is refused by what it is (:func:`_refuse_binary`; ``kind``
    names the text expected, "CSV" or "JSON").

    Exports are often delivered compressed: the CFPB publishes its complaint database as
    ``complaints.csv.zip``, and object-store exports are commonly gzipped. A gzip file is
    decompressed; a zip archive holding exactly one file (Finder's metadata aside) gives
    that file. An .xlsx workbook is a zip archive too, and is returned as it is, for the
    caller to read or refuse as a workbook. Decompressed in memory: an export is held whole
    either way. Raises :class:`SourceError` naming the file for a damaged or truncated
    archive, an empty one, or one holding several files (which of them is the export?)."""
    unpacked, packed = _unpacked(path, data)
    _refuse_binary(path, unpacked, kind)
    return unpacked, packed


#: Bytes of a delivery's head :func:`delivered_format` reads (decompressed, when packed).
FORMAT_SNIFF_BYTES = 4096
#: The ranged GETs :func:`delivered_format` reads a zip archive in an object store by.
_ZIP_SNIFF_BLOCK_BYTES = 64 << 10


def delivered_format(path: str | DataPath) -> tuple[str, str]:
    """Which format a delivery holds, told by its content and not its name: ``("xlsx",
    what)`` for a spreadsheet workbook (.xlsx or .xlsm, .xls, .ods: :func:`is_workbook`'s,
    read by the workbook reader; found by a trial: a Forms workbook and a colleague's CSV
    re-save of it could not be read by one source); ``("json", what)`` when its first
    non-blank character (after a byte order mark; inside a gzip file or a zip archive of
    one file) opens JSON, ``what`` saying how (``"a top-level array"``, ``"an object"``,
    ``"JSON Lines (an object a line)"``); else ``("csv", "")``.

    ``[`` opens JSON when a value or ``]`` follows it (a CSV header ``[Id],[Name]`` does
    not), ``{`` when a key or ``}`` does. Reads the first :data:`FORMAT_SNIFF_BYTES` of a
    plain or gzipped file, local or in an object store (a ranged GET of those bytes; a zip
    archive's one member is opened, not the archive read). A file that cannot be unpacked is
    ``"csv"`` here: the reader refuses it by what it is. Found by a user trial: the CFPB's
    JSON download given to the cfpb source (CSV) was refused as a CSV whose header has one
    column, ``'['``. Raises OSError for a file that cannot be opened."""
    location = as_path(path)
    if isinstance(location, Path):
        with location.open("rb") as handle:
            head = handle.read(FORMAT_SNIFF_BYTES)
    else:
        head = location.fs.cat_file(location.key, start=0, end=FORMAT_SNIFF_BYTES)
    if head.startswith(XLS_SIGNATURE):
        return "xlsx", "an Excel workbook (.xls)"
    try:
        if head.startswith(GZIP_SIGNATURE):
            head = zlib.decompressobj(wbits=31).decompress(head, FORMAT_SNIFF_BYTES)
        elif head.startswith(ZIP_SIGNATURES):
            if workbook := _zip_workbook(location):
                return "xlsx", workbook
            head = _zip_member_head(location, head)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError, ValueError):
        # Damaged, password-protected, or packed in a way zipfile cannot read (Deflate64):
        # read as declared, the reader refuses it saying which (:func:`unpack_delivery`).
        return "csv", ""
    return _json_shape(head)


def _sniffed_zip(stack: ExitStack, location: DataPath) -> zipfile.ZipFile:
    """The zip archive at ``location`` opened for sniffing, closed with ``stack``: a local
    file as it is; an object in a store seekable and read in small ranged GETs (the central
    directory, then one member), not fetched whole."""
    if isinstance(location, Path):
        source: Path | IO[bytes] = location
    else:
        source = stack.enter_context(
            location.fs.open(location.key, "rb", block_size=_ZIP_SNIFF_BLOCK_BYTES)
        )
    return stack.enter_context(zipfile.ZipFile(source))


def _zip_workbook(location: DataPath) -> str | None:
    """What workbook a zip delivery is (``"an Excel workbook (.xlsx)"``, ``"an OpenDocument
    spreadsheet (.ods)"``), or None for another zip archive; its central directory is
    read (a ranged GET in an object store), not the whole file."""
    with ExitStack() as stack:
        archive = _sniffed_zip(stack, location)
        if _is_workbook_zip(archive):
            return "an Excel workbook (.xlsx)"
        if "mimetype" in archive.namelist() and archive.read("mimetype")[:100].startswith(
            b"application/vnd.oasis.opendocument.spreadsheet"
        ):
            return "an OpenDocument spreadsheet (.ods)"
    return None


def _zip_member_head(location: DataPath, data: bytes) -> bytes:
    """The first :data:`FORMAT_SNIFF_BYTES` of the one file a zip archive delivers; b""
    for a workbook or an archive of several files (the reader tells what they are)."""
    with ExitStack() as stack:
        archive = _sniffed_zip(stack, location)
        members = _delivered_members(archive)
        if _is_workbook_zip(archive) or len(members) != 1:
            return b""
        with archive.open(members[0]) as member:
            return member.read(FORMAT_SNIFF_BYTES)


def _json_shape(head: bytes) -> tuple[str, str]:
    """:func:`delivered_format` of a delivery's (unpacked) first bytes."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = head.decode("utf-16", "ignore")
    elif (unmarked := _unmarked_utf16(head)) is not None:
        text = head.decode(unmarked, "ignore")
    else:
        text = head.decode("utf-8", "ignore")
    text = text.lstrip("\ufeff \t\r\n")
    after = text[1:].lstrip(" \t\r\n")[:1]
    if text.startswith("[") and (after in ("{", "[", "]", '"', "-", "") or after.isdigit()):
        return "json", "a top-level array"
    if text.startswith("{") and after in ('"', "}", ""):
        first, _, rest = text.partition("\n")
        if rest.lstrip().startswith("{") and first.rstrip().endswith("}"):
            return "json", "JSON Lines (an object a line)"
        return "json", "an object"
    return "csv", ""


def _unpacked(path: str, data: bytes) -> tuple[bytes, str | None]:
    """:func:`unpack_delivery` without the refusal of non-text files."""
    if data.startswith(GZIP_SIGNATURE):
        try:
            return gzip.decompress(data), "gzip"
        except (OSError, EOFError, zlib.error) as error:
            raise SourceError(
                f"{path}: a gzip file that cannot be decompressed ({error}); the delivery is "
                "damaged or incomplete: ask for it again"
            ) from error
    if not data.startswith(ZIP_SIGNATURES):
        return data, None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if _is_workbook_zip(archive):
                return data, None
            document = _office_document(archive)
            if document:
                raise SourceError(f"{path}: line 1: this is not a text file but {document}")
            members = _delivered_members(archive)
            if len(members) != 1:
                names = ", ".join(m.filename for m in members[:5])
                more = f" and {len(members) - 5} more" if len(members) > 5 else ""
                what = (
                    "an empty zip archive"
                    if not members
                    else f"a zip archive of {len(members)} files ({names}{more})"
                )
                raise SourceError(
                    f"{path}: {what}; deliver one export per file: unzip it and give each "
                    "export on its own (a zip holding exactly one file is read as that file)"
                )
            member = members[0]
            if member.flag_bits & 0x1:
                raise SourceError(
                    f"{path}: a password-protected zip archive ({member.filename}); deliver it "
                    "without a password, or unzipped"
                )
            try:
                inside = archive.read(member)
            except NotImplementedError as error:  # Deflate64, zstd, ... (zipfile reads fewer)
                raise SourceError(
                    f"{path}: a zip archive compressed in a way Python cannot read ({error}); "
                    "zip it again with standard compression (deflate), or deliver it unzipped"
                ) from error
            if inside.startswith((GZIP_SIGNATURE, *ZIP_SIGNATURES)):
                raise SourceError(
                    f"{path}: a zip archive holding another archive ({member.filename}); "
                    "unpack it and deliver the export inside"
                )
            return inside, f"zip: {member.filename}"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as error:
        raise SourceError(
            f"{path}: a zip archive that cannot be opened ({error}); the delivery is damaged "
            "or incomplete: ask for it again"
        ) from error


def _refuse_binary(path: str, data: bytes, kind: str) -> None:
    """Refuse a delivery that is a known non-text file (an .xlsx, an .xls, gzip, PDF) by
    what it is, before decoding could read its bytes as 8-bit text and call it mojibake.
    ``kind`` names the text expected ("CSV", "JSON"). Raises :class:`SourceError`."""
    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise SourceError(f"{path}: line 1: this is not a {kind} text file but {what}")
    text_with_nuls = data.startswith(_UNICODE_BOMS) or _unmarked_utf16(data) is not None
    control = _NOT_TEXT_BYTE[np.frombuffer(data[:65536], dtype=np.uint8)]
    controls = int(np.count_nonzero(control))
    if not text_with_nuls and controls > max(3, control.size * NOT_TEXT_SHARE):
        offset = int(np.flatnonzero(control)[0])
        line = data.count(b"\n", 0, offset) + 1
        raise SourceError(
            f"{path}: line {line}: byte offset {offset} holds 0x{data[offset]:02X}, a control "
            f"character, as do {controls:,} of its first {control.size:,} bytes: this is not a "
            f"{kind} text file (an image, archive or other binary file?). Export or save it "
            f"again as {kind} (UTF-8)"
        )


#: Control bytes (C0 but tab, line feed, form feed and carriage return; and DEL) that text
#: holds almost none of, in any 8-bit code page or UTF-8.
_NOT_TEXT_BYTE = np.zeros(256, dtype=bool)
_NOT_TEXT_BYTE[[*range(0x09), 0x0B, *range(0x0E, 0x20), 0x7F]] = True
#: A delivery whose head holds a larger share of them is not text: random bytes hold about
#: 12 % (30 of 256 values); a CSV export a stray control character in a comment, cleaned
#: later (found by a QA lead's trial: 300 random bytes saved as an audit file were called
#: mojibake and told to set an encoding).
NOT_TEXT_SHARE = 0.05
#: Byte order marks of UTF-8, UTF-16 and UTF-32 (whose text holds NUL bytes).
_UNICODE_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32)


def check_is_text(path: str, buf: bytes) -> None:
    """Refuse a file that is not text (an image, an archive, a spreadsheet) by name and offset.

    Decoding never fails (latin-1 takes any byte), so without this a binary file would reach
    the batch checks as a header of garbage.
    """
    if not buf or buf.isspace():  # (strip() would copy the whole file to learn this)
        raise EmptyFile(
            f"{path}: the file is empty ({len(buf)} bytes); expected a CSV export", len(buf)
        )
    head = buf[:65536]
    first_line = head.split(b"\n", 1)[0]
    # A stray NUL inside a comment is a control character (cleaned later); NULs in the header
    # or in quantity mean the bytes are not text at all.
    if b"\x00" in first_line or head.count(b"\x00") > len(head) // 100:
        nul = head.find(b"\x00")
        line = head.count(b"\n", 0, nul) + 1
        raise SourceError(
            f"{path}: line {line}: byte offset {nul} holds a NUL byte ({buf[:8]!r}...); this "
            "is not a CSV text file (an image, archive or spreadsheet?). Export it as CSV"
        )


_HTML_TAG = re.compile(r"<[^<>]*>")


def column_key(name: str) -> str:
    """How export column names are matched: case, spaces and punctuation do not matter
    (``Date received``, ``date_received``, ``DateReceived`` and ``Date Received?`` are one
    column; an operations engineer's trial saw SurveyMonkey's current ``Respondent ID``
    refused by the preset's ``RespondentID``, though the docs said spaces do not count),
    nor how
    Unicode composes a letter (NFKC: ``ü`` as one code point or as ``u`` and a combining
    diaeresis, as macOS writes file names). Letters and digits of every script count: keyed
    by ASCII ones alone, every Cyrillic, Greek or Japanese header was the same empty key, so
    a definition's ``comment = "Комментарий"`` read the export's first such column, and
    ``Gebühr`` was ``GebŸhr`` (a trial's Mac Roman export)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\W_]+", "", folded)


def closest_column(wanted: str, header: list[str], also: tuple[str, ...] = ()) -> str | None:
    """The column of ``header`` that a missing column ``wanted`` most likely is, for a "did
    you mean" (a trial's ``Kommentr`` for ``Kommentar``): the first whose
    :func:`column_key` is that of a name in ``also`` (the names a column is known to go by,
    which no spelling is near: QA's ``Verdict`` for ``root_cause``), else the closest
    spelling (``difflib``); None when no column is near, or ``header`` is empty (every
    column of the export read as something else: a trial's export without its
    ``Kundennummer`` failed with difflib's "n must be > 0: 0")."""
    import difflib

    keyed = {column_key(name) for name in also}
    if named := [name for name in header if column_key(name) in keyed]:
        return named[0]
    if not header:
        return None
    close = difflib.get_close_matches(wanted, header, n=len(header))
    return next(
        (name for name in close if could_be_misspelt(wanted, name) or renamed_alike(wanted, name)),
        None,
    )


#: How alike (rapidfuzz's ``fuzz.ratio`` of the :func:`column_key`, 0-100) a column's whole
#: name must be to a missing one's for a "did you mean" beyond a typo. Tuned on vendors'
#: renames: ``Submit Date (UTC)`` -> ``Submitted At (UTC)`` 88.9 (Typeform, a new user's
#: trial), ``RecordedDate`` -> ``Recorded At`` 90.9; and on near names of other columns,
#: none to be offered: ``Bearbeitungszeit (Min)``/``(Sek)`` 84.2, ``Kundennummer``/
#: ``Kundenname`` 81.8, ``Interaction ID``/``Interaction Type`` 78.6, ``Email Address``/
#: ``IP Address`` 76.2, ``Submit Date (UTC)``/``Start Date (UTC)`` 72.0.
RENAMED_ALIKE = 85.0


def renamed_alike(wanted: str, name: str) -> bool:
    """Whether column ``name`` is near enough in whole to a missing ``wanted`` to be it
    renamed (:data:`RENAMED_ALIKE`), where a word differs by more than a typo
    (:func:`could_be_misspelt`: ``Submit Date`` and ``Submitted At``); never another number
    of a code (``QID1235`` for ``QID1234``: another question)."""
    from rapidfuzz import fuzz

    ours = {code for word in _words(wanted) if (code := _code(word))}
    theirs = {code for word in _words(name) if (code := _code(word))}
    if any(a[0] == b[0] for a in ours - theirs for b in theirs - ours):
        return False
    return fuzz.ratio(column_key(wanted), column_key(name)) >= RENAMED_ALIKE


def _words(text: str) -> list[str]:
    """The words of a column name as names are compared: letters and digits, case and
    punctuation aside (``Q1_NPS_GROUP`` is ``q1``, ``nps``, ``group``)."""
    return re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", text).casefold())


def columns_holding(wanted: str, header: Sequence[str], up_to: int = 5) -> list[str]:
    """The columns of ``header`` whose words hold all of ``wanted``'s, in order, among
    others (:func:`_words`): ``['Q1_NPS_GROUP']`` for a missing ``Q1``, those that start
    with them first (at most ``up_to``). Not ``Q10`` for ``Q1``: words are whole. Where a
    renamed column most likely is (a trial's ``Q1`` renamed ``Q1_NPS_GROUP``), but no "did
    you mean": Qualtrics itself exports an NPS question's group beside it as
    ``Q1_NPS_GROUP``, another column."""
    ours = _words(wanted)
    if not ours:
        return []
    span = len(ours)
    found = []
    for i, name in enumerate(header):
        theirs = _words(name)
        starts = (at for at in range(len(theirs) - span + 1) if theirs[at : at + span] == ours)
        if len(theirs) > span and (at := next(starts, None)) is not None:
            found.append((at > 0, i, name))
    return [name for _, _, name in sorted(found)[:up_to]]


def columns_a_missing_one_may_be(
    wanted: str, header: Sequence[str], taken: Iterable[str] = ()
) -> tuple[str | None, list[str]]:
    """What a refusal offers for a missing column ``wanted``, among the columns of
    ``header`` not in ``taken`` (those the definition reads as something else, never
    offered): a "did you mean" (:func:`closest_column`, a misspelling) and None, or None
    and the columns to name as "the export has": those holding ``wanted``'s name
    (:func:`columns_holding`), then those coded alike (:func:`columns_coded_alike`).

    Found by a new user's trial: a csat column ``Q1`` renamed ``Q1_NPS_GROUP`` was told
    "the export has 'Q2'", the comment column the definition already read, and the renamed
    column was hidden among "11 more"."""
    taken = set(taken)
    free = [name for name in header if name not in taken]
    if close := closest_column(wanted, free):
        return close, []
    holding = columns_holding(wanted, free)
    return None, list(dict.fromkeys(holding + columns_coded_alike(wanted, free)))


def _typo_distance(word: str) -> int:
    """Edits a misspelt ``word`` may be from the word meant: one up to four letters, two in
    a longer word."""
    return 1 if len(word) <= 4 else 2


def could_be_misspelt(wanted: str, name: str) -> bool:
    """Whether column ``name`` could be ``wanted`` misspelt: their words (letters and
    digits, case and punctuation aside) the same, but for words added or left out and words
    within a typo (:func:`_typo_distance` edits) of the word they stand for; words split or
    joined are compared joined. A "did you mean" offers no other column. Found by a user
    trial: ``'Start Date (UTC)'`` was offered for a missing ``Submit Date (UTC)``, whose
    acceptance would have read the wrong timestamps."""
    import difflib

    from rapidfuzz.distance import OSA

    ours, theirs = _words(wanted), _words(name)
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            meant, written = "".join(ours[i1:i2]), "".join(theirs[j1:j2])
            # Another number of the same code is another question, not a typo: a trial's
            # missing Q3 beside the export's Q1 and Q2 (see columns_coded_alike).
            code, other = _code(meant), _code(written)
            if code and other and code[0] == other[0] and code != other:
                return False
            # Optimal string alignment: a letter inserted, deleted or replaced, or two
            # adjacent letters swapped, one edit each (rapidfuzz).
            if OSA.distance(meant, written) > _typo_distance(meant):
                return False
    return True


#: A coded column name: letters, then a number (Qualtrics' ``Q3``, ``QID12``; ``Q3_1`` is
#: ``Q3`` and ``1``, as :func:`could_be_misspelt` splits words).
_CODED_NAME = re.compile(r"([^\W\d_]+)(\d+)")


def _code(word: str) -> tuple[str, int] | None:
    """``("q", 3)`` for the coded name ``Q3`` (:data:`_CODED_NAME`, case aside), else None."""
    found = _CODED_NAME.fullmatch(unicodedata.normalize("NFKC", word).casefold())
    return (found[1], int(found[2])) if found else None


def columns_coded_alike(wanted: str, header: Sequence[str], up_to: int = 5) -> list[str]:
    """The columns of ``header`` coded as ``wanted`` is, with another number, the nearest
    numbers first (at most ``up_to``): ``['Q2', 'Q1']`` for a missing ``Q3``. Not a "did
    you mean" (:func:`could_be_misspelt`: another number is another question), but what a
    message names as "the export has", and what :func:`header_excerpt` keeps in a header
    cut short. Found by a new user's trial: a definition's ``Q3`` beside the export's Q1
    and Q2 got no suggestion, and the header was cut before them."""
    code = _code(column_key(wanted))
    if code is None:
        return []
    alike = [
        (abs(other[1] - code[1]), i, name)
        for i, name in enumerate(header)
        if (other := _code(column_key(name))) and other[0] == code[0] and other != code
    ]
    return [name for _, _, name in sorted(alike)[:up_to]]


#: A header a message quotes is cut beyond this many characters, the rest counted...
HEADER_QUOTED_UP_TO = 200
#: ...and each of its names beyond this many.
HEADER_NAME_QUOTED_UP_TO = 60


def header_excerpt(header: Sequence[str], first: Iterable[str] = ()) -> str:
    """``header`` as a message quotes it, after its advice: ``3 columns: 'ID', 'Score',
    'Kommentar'``; the names :func:`header_quoted` gives, and how many more (``... and 25
    more``). Found by a user trial: a refusal quoted a Typeform header whole (1,000
    characters of question text, which can hold respondents' hidden-field values) before
    the one sentence that said what to do."""
    shown = header_quoted(header, first)
    rest = len(set(header)) - len(shown)
    count = f"{len(header)} column{'s' if len(header) != 1 else ''}"
    return f"{count}: {', '.join(map(repr, shown))}" + (f" ... and {rest} more" if rest else "")


def header_quoted(header: Sequence[str], first: Iterable[str] = ()) -> list[str]:
    """The names of ``header`` a message (or ``sources check --json``) quotes, in file
    order, each cut beyond :data:`HEADER_NAME_QUOTED_UP_TO` characters ("…"); once their
    quoted text would pass :data:`HEADER_QUOTED_UP_TO` characters the rest are left out,
    those of ``first`` (the ones a message suggests) chosen before the others. Found by a
    new user's trial: the suggested columns quoted first put a Typeform export's ``#``, its
    first column, sixth, in an order that was neither the file's nor alphabetical."""
    named = list(dict.fromkeys([name for name in first if name in header] + list(header)))
    chosen: dict[str, str] = {}
    length = 0
    for name in named:
        cut = (
            name if len(name) <= HEADER_NAME_QUOTED_UP_TO else name[:HEADER_NAME_QUOTED_UP_TO] + "…"
        )
        if chosen and length + len(repr(cut)) > HEADER_QUOTED_UP_TO:
            break
        chosen[name] = cut
        length += len(repr(cut)) + 2
    return [chosen[name] for name in dict.fromkeys(header) if name in chosen]


def clean_name(name: str) -> str:
    """A header cell as a column name: NULs and HTML tags removed, entities and NBSP made
    plain, whitespace collapsed."""
    text = _HTML_TAG.sub(" ", html.unescape(name.replace("\x00", "")))
    return " ".join(text.replace("\u00a0", " ").split())


# pandas' name for a header cell it read as empty: ``Unnamed: {i}``, or
# ``Unnamed: {i}_level_{level}`` under a multi-row header (source: pandas,
# pandas/io/parsers/python_parser.py and the ``read_csv`` docstring); a ``to_csv`` round
# trip writes it into the file.
_PANDAS_UNNAMED = re.compile(r"^Unnamed: \d+(_level_\d+)?$")


def column_names(records: list[list[str]], dialect: CsvDialect) -> list[str]:
    """One unique, non-empty name per column from the header records.

    Empty names become ``column_<position>`` (1-based), unless ``names = "joined"``
    forward-fills them from the left; a repeated name gets ``_2``, ``_3`` ... in order of
    appearance. Deterministic, so a definition can name any column.

    Shapes: with ``names = "joined"`` and two or more header records, the first record is
    the question row (``Q, "", "", R``) and the second the sub-header (``a, b, c, Response``):
    the names are ``Q - a, Q - b, Q - c, R`` (a sub-header cell in ``generic_sub_names``
    adds nothing; an empty question cell left of any question gives the sub-header cell
    alone, e.g. a pandas index column named ``0``). A file that went through pandas
    (``read_csv`` then ``to_csv``) holds ``Unnamed: 5`` where the question row was empty:
    pandas' own placeholder (exactly ``Unnamed: <i>`` or ``Unnamed: <i>_level_<j>``, the
    spelling of ``pandas.read_csv``). It counts as empty, and is forward-filled, only there: in the
    first of several header records under ``names = "joined"``. Anywhere else (a one-row
    header, the sub-header row, ``names = "first"``) such a cell is a real name and kept.
    """
    width = max(len(r) for r in records)
    first = [clean_name(c) for c in records[0]] + [""] * (width - len(records[0]))
    if dialect.names == "joined" and len(records) > 1:
        filled, last = [], ""
        for cell in first:
            if _PANDAS_UNNAMED.match(cell):
                cell = ""
            last = cell or last
            filled.append(last)
        sub = [clean_name(c) for c in records[1]] + [""] * (width - len(records[1]))
        generic = set(dialect.generic_sub_names)
        first = [
            f"{name} - {part}" if name and part and part not in generic else (name or part)
            for name, part in zip(filled, sub, strict=True)
        ]
    names = [n.lower() if dialect.lower_case_names else n for n in first]
    names = [name or f"column_{i}" for i, name in enumerate(names, start=1)]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    # A made-up name may collide with a real one (a column really called "other_2").
    while len(set(unique)) < len(unique):
        unique = [n if unique.index(n) == i else f"{n}_" for i, n in enumerate(unique)]
    return unique


def unnamed_column_number(header: list[str], name: str) -> int | None:
    """The place of ``name`` in ``header`` (1 for the first column) when it is the name
    :func:`column_names` gives a column whose header cell is blank (``column_<place>``),
    else None: a note names such a column as the user sees it, "the unnamed column 5",
    not by a name no file of theirs holds. (A header cell really written ``column_5`` in
    the fifth column reads the same; no export seen writes one.)"""
    place = header.index(name) + 1 if name in header else 0
    return place if place and name == f"column_{place}" else None


def spreadsheet_column_letters(number: int) -> str:
    """The letters a spreadsheet shows over column ``number`` (1-based): 1 -> ``A``, 26 ->
    ``Z``, 27 -> ``AA``, 703 -> ``AAA`` (bijective base 26, as Excel and LibreOffice
    name their columns). Raises ValueError for a number below 1."""
    if number < 1:
        raise ValueError(f"spreadsheet columns are numbered from 1, not {number}")
    letters = ""
    while number:
        number, left = divmod(number - 1, 26)
        letters = chr(ord("A") + left) + letters
    return letters


def _header_timezone(records: list[list[str]], key: str | None) -> str | None:
    if not key:
        return None
    for record in records:
        for cell in record:
            if cell.startswith("{") and key in cell:
                try:
                    value = json.loads(cell).get(key)
                except (json.JSONDecodeError, AttributeError):
                    continue
                if value:
                    return str(value)
    return None


def sniff_delimiter(path: str, buf: bytes) -> str:
    """The delimiter of a CSV export, sniffed from its head with the stdlib ``csv.Sniffer``
    among the four in use (comma, semicolon, tab, pipe). Raises UnknownDelimiter if none fits."""
    head = buf[:65536].decode("utf-8", "ignore")
    sniffer = csv.Sniffer()
    try:
        return sniffer.sniff(head, delimiters=",;\t|").delimiter
    except csv.Error as error:
        # Decimal commas in the rows confuse the count; the header line has none. It is the
        # first line that is not blank (a blanked ``sep=`` line can come before it).
        first = next((line for line in head.split("\n") if line.strip()), "")
        try:
            return sniffer.sniff(first, delimiters=",;\t|").delimiter
        except csv.Error:
            pass
        raise UnknownDelimiter(
            f"{path}: line 1: cannot tell the delimiter from the first lines ({error}); "
            'declare it as `delimiter = ";"` (or ",", "\\t", "|") in the definition\'s [read]'
        ) from error


@dataclass(frozen=True)
class _Split:
    starts: np.ndarray  # byte offset where each record starts
    ends: np.ndarray  # byte offset one past each record's last byte (newline excluded)
    lines: np.ndarray  # 1-based physical line each record starts on
    fields: np.ndarray  # number of fields, counting delimiters outside quotes
    spans_lines: np.ndarray  # whether the record holds a newline (a quoted one, or a misread)
    odd_quotes: bool = False  # whether the text holds an odd number of quotes: one left open


#: Bytes :func:`byte_positions` compares at a time: a mebibyte, which stays in the cache
#: between the comparisons of one block.
BYTE_POSITIONS_BLOCK = 1 << 20


def byte_positions(
    arr: np.ndarray, values: Sequence[int], block: int = BYTE_POSITIONS_BLOCK
) -> list[np.ndarray]:
    """Where each byte of ``values`` is in ``arr`` (a text's bytes, ``uint8``): for each, its
    offsets in ascending order (``intp``), as ``np.flatnonzero(arr == value)`` gives them.

    Compared ``block`` bytes at a time into one reused mask: comparing the whole text makes
    a mask as long as it (170 MB for a 1M-survey export) whose fresh pages the kernel faults
    in and zeroes, for each byte. Measured on a 1M-survey export (170 MB, one run, load
    10-14): the quote, newline and delimiter found in 0.29 s of CPU this way, against 4.45 s
    for their three whole-text comparisons alone."""
    found: list[list[np.ndarray]] = [[] for _ in values]
    mask = np.empty(min(block, arr.size), dtype=bool)
    for begin in range(0, arr.size, block):
        piece = arr[begin : begin + block]
        piece_mask = mask[: piece.size]
        for positions, value in zip(found, values, strict=True):
            np.equal(piece, value, out=piece_mask)
            at = np.flatnonzero(piece_mask)
            at += begin
            positions.append(at)
    return [np.concatenate(p) if p else np.zeros(0, dtype=np.intp) for p in found]


def _split_records(
    arr: np.ndarray, delimiter: int = COMMA, quote: int = QUOTE, block: int = BYTE_POSITIONS_BLOCK
) -> _Split:
    # A newline or delimiter is inside quotes when an odd number of quotes comes before it:
    # counted by a binary search in the quotes' positions, only where one of them is (a
    # running count over every byte of the file took twenty times as long).
    quotes, newlines, delimiters = byte_positions(arr, (quote, NEWLINE, delimiter), block)
    separators = newlines[(np.searchsorted(quotes, newlines) & 1) == 0]
    starts = np.concatenate(([0], separators + 1))
    ends = np.concatenate((separators, [arr.size]))
    lines = np.searchsorted(newlines, starts) + 1
    spans_lines = np.searchsorted(newlines, ends) + 1 > lines
    # Delimiters before each record's start, differenced: the delimiters inside each record,
    # less those inside its quoted spans (each pair of quotes, the last one open to the end
    # of the text when the count is odd; a span never crosses a record's end, which is a
    # newline outside quotes). The same as keeping the delimiters an even number of quotes
    # precede, with a binary search per quote instead of per delimiter: a 1M-survey export
    # holds 12 million delimiters and 2 million quotes.
    bounds = np.concatenate((starts, [arr.size]))
    fields = np.diff(np.searchsorted(delimiters, bounds)) + 1
    if quotes.size:
        opens = quotes[0::2]
        closes = np.append(quotes[1::2], arr.size) if quotes.size % 2 else quotes[1::2]
        quoted = np.searchsorted(delimiters, closes) - np.searchsorted(delimiters, opens)
        record = np.searchsorted(starts, opens, side="right") - 1
        fields -= np.bincount(record, weights=quoted, minlength=starts.size).astype(fields.dtype)
    return _Split(
        starts=starts,
        ends=ends,
        lines=lines,
        fields=fields,
        spans_lines=spans_lines,
        odd_quotes=bool(quotes.size % 2),
    )


def _parse_record(text: str, dialect: CsvDialect, delimiter: str) -> list[str]:
    return next(csv.reader([text], delimiter=delimiter, quotechar=dialect.quote), [])


def title_above_header(first: Sequence[str], second: Sequence[str], workbook: bool = False) -> bool:
    """Whether record ``first`` is a title saved above the header ``second`` (a report
    tool's or a spreadsheet's ``Post-call survey export 2018-07-19``, alone on its line or
    followed by empty cells): it has one cell that is not empty, holding no delimiter, where
    ``second`` names two columns or more, each once. Found by a new user's trial: the title
    was read as an export's one column, and every column the definition reads was said to
    be missing. The readers skip such a line, and audit files are read below it so too.

    A ``workbook``'s rows are cells, not delimited text: its title may hold any character
    (a trial's ``Export, November 2026`` in A1 was read as the header)."""
    filled = [cell for cell in first if cell.strip()]
    names = [column_key(cell) for cell in second if cell.strip()]
    # A header read with the wrong delimiter is one cell too (``id;score;comment`` read as
    # comma-separated): a title holds no delimiter of any kind. A sheet's cells were never
    # split by one.
    return (
        len(filled) == 1
        and (workbook or not re.search(r"[,;\t|]", filled[0]))
        and len(names) >= 2
        and len(set(names)) == len(names)
    )


#: How many of a file's first records (blank lines included) may stand above its header.
TITLE_SEARCHED = 10


def _title_line(
    split: _Split, blank: np.ndarray, parsed: Callable[[int], list[str]]
) -> tuple[int, int, str] | None:
    """The index of the header's record, and the line and text of the title above it
    (:func:`title_above_header`), or None. The first two records holding text are compared
    (a spreadsheet's ``;;;;`` rows between them hold none); the second is parsed only when
    the first has one cell, and a record the csv module cannot read there (a stray quote:
    the body's readers settle it) is no header."""
    first: tuple[int, list[str]] | None = None
    for i in np.flatnonzero(~blank[: min(split.starts.size, TITLE_SEARCHED)]):
        try:
            cells = parsed(int(i))
        except csv.Error:
            return None
        if not any(cell.strip() for cell in cells):
            continue
        if first is None:
            if sum(1 for cell in cells if cell.strip()) != 1:
                return None
            first = (int(i), cells)
            continue
        if not title_above_header(first[1], cells):
            return None
        text = next(cell for cell in first[1] if cell.strip()).strip()
        return int(i), int(split.lines[first[0]]), text
    return None


def _header_records(
    buf: bytes, split: _Split, blank: np.ndarray, dialect: CsvDialect, delimiter: str
) -> tuple[list[list[str]], int, tuple[int, str] | None]:
    """The header records (parsed), the index of the first body record, and the title
    skipped above the header (:func:`title_above_header`: its line and text), if any.
    Where the dialect has extra header rows, a record repeating one already taken among
    them is a header line too (not kept twice), wherever it stands before the first
    response."""
    records: list[list[str]] = []
    index = 0
    size = split.starts.size

    def parsed(i: int) -> list[str]:
        text = buf[split.starts[i] : split.ends[i]].decode("utf-8").rstrip("\r")
        return _parse_record(text, dialect, delimiter)

    title = None
    if (below := _title_line(split, blank, parsed)) is not None:
        index, title = below[0], below[1:]
    while index < size and len(records) < dialect.header_rows:
        if not blank[index]:
            records.append(parsed(index))
        index += 1
    if not records:
        return [[]], index, title
    names = column_names(records[:1], replace_dialect(dialect))
    id_rule = dialect.extra_header_if_id_not
    # The id column is found as the mapping finds columns: whatever its case and punctuation.
    keys = [column_key(name) for name in names]
    id_at = (
        keys.index(column_key(id_rule[0])) if id_rule and column_key(id_rule[0]) in keys else None
    )
    extra = 0
    while index < size and dialect.extra_header_rows:
        if blank[index]:
            index += 1
            continue
        cells = parsed(index)
        if cells in records:
            # A header record repeated among the header lines (a trial's question-text row
            # pasted twice) is still the header, and takes no place of an extra one: else
            # the ImportId row after it was read as a response, dated the day it landed.
            index += 1
            continue
        if extra >= dialect.extra_header_rows:
            break
        starts = any(
            c.casefold().startswith(p.casefold())
            for c in cells
            for p in dialect.extra_header_if_cell_starts
        )
        not_an_id = (
            id_rule is not None
            and id_at is not None
            and not re.fullmatch(id_rule[1], cells[id_at] if id_at < len(cells) else "")
        )
        if not (starts or not_an_id):
            break
        records.append(cells)
        extra += 1
        index += 1
    return records, index, title


def replace_dialect(dialect: CsvDialect) -> CsvDialect:
    """The dialect that names columns from the first header record alone (no joining)."""
    return CsvDialect(lower_case_names=dialect.lower_case_names)


def read_csv_with_lines(
    path: str | DataPath, data: bytes | None = None, dialect: CsvDialect = DEFAULT_DIALECT
) -> RawRead:
    """Read a CSV file as text columns, keeping each row's physical line number.

    Ragged records (a field too many or too few) become rejects naming their line, and
    saying so when the extra fields are empty at the end (a delimiter ending the line that
    the header does not end with); a quote left open on a line, which made it and the lines
    after it one record of the wrong width, rejects that line alone, and the lines after it
    are read as their own records;
    a record repeating the header (two exports joined into one file) becomes a reject
    saying so. Blank lines, and records whose every field is empty (a spreadsheet's
    ``,,,,`` rows), are not records. A byte order mark (U+FEFF) starting a record is not
    text: joined exports each start with one.
    ``dialect`` says how the file is written (delimiter, quote, header records, encoding);
    the default reads the generated sample's files. Lines may end in LF, CRLF, or CR alone
    throughout (a "Macintosh" CSV). Raises :class:`SourceError` naming the file (and the
    line, where one is to blame) when it cannot be read.
    """
    path = str(path)
    raw, unpacked_from = unpack_delivery(path, read_bytes(path) if data is None else data)
    buf, encoding = decode_export(path, raw, dialect.encoding, dialect.repair_mojibake)
    buf = _with_classic_mac_line_ends_as_newlines(buf, dialect.quote)
    check_is_text(path, buf)
    declared = excel_declared_delimiter(buf)
    buf = _without_excel_separator_line(buf)
    if declared is not None:
        dialect = _with_excel_declared_delimiter(path, dialect, declared)
    try:
        read, header_records, odd_quotes = _read_decoded_csv(path, buf, encoding, dialect)
        read.unpacked_from = unpacked_from
        if odd_quotes:  # a quote is left open somewhere: at the end of the file?
            read = _set_aside_a_record_cut_off(read, buf, dialect)
        read.unterminated_line = _unterminated_last_row(read, buf)
        read = _set_aside_repeated_headers(_without_empty_records(read), header_records)
        return _with_unquoted_delimiter_notes(read)
    except csv.Error as error:
        # The csv module reads the header, and the records the quick split cannot settle; a
        # carriage return alone inside an unquoted field is the one thing it refuses there.
        lone = re.search(rb"\r(?!\n)", buf)
        where = ""
        if lone is not None:
            begin = buf.rfind(b"\n", 0, lone.start()) + 1
            end = buf.find(b"\n", lone.start())
            text = buf[begin : end if end != -1 else len(buf)].decode("utf-8", "replace")
            line = buf.count(b"\n", 0, lone.start()) + 1
            where = f"line {line}: {text[:120]!r}: "
        raise SourceError(
            f"{path}: {where}the csv module cannot read it ({error}); a carriage return (CR, "
            "\\r) alone inside an unquoted field, most likely. Save the file again with "
            "CRLF (Windows) or LF line ends, or quote that field"
        ) from error


#: Excel's first line naming the file's delimiter (``sep=;``), which a CSV saved for Excel
#: may start with: not a record (a QA lead's trial had an audit file starting so read as
#: the columns "sep=" and "column_2").
EXCEL_SEPARATOR_LINE = re.compile(rb"^(?:\xef\xbb\xbf)?sep=([^\r\n]?)[ \t]*\r?\n", re.IGNORECASE)


def excel_declared_delimiter(buf: bytes) -> str | None:
    """The delimiter Excel's ``sep=`` first line (:data:`EXCEL_SEPARATOR_LINE`) declares, or
    None when the text has no such line (or it names no character)."""
    found = EXCEL_SEPARATOR_LINE.match(buf)
    if found is None or not found.group(1).strip(b" "):
        return None
    return found.group(1).decode("utf-8", "replace")


def _with_excel_declared_delimiter(path: str, dialect: CsvDialect, declared: str) -> CsvDialect:
    """``dialect`` reading with the delimiter the file's ``sep=`` line declares.

    With ``delimiter = "auto"`` the declaration is the delimiter: the line says how the file
    was written, which no sniffing of its rows can say better (a trial's French export
    starting ``sep=;`` was refused as "cannot tell the delimiter", its decimal commas
    confusing the sniffer). A definition that declares another delimiter is not overruled:
    the file is refused, saying which to change, since one of the two is wrong and reading
    the file either way would split its rows where the other says they are not split.
    Raises :class:`SourceError`."""
    if dialect.delimiter == "auto":
        return replace(dialect, delimiter=declared)
    if dialect.delimiter != declared:
        raise SourceError(
            f"{path}: line 1: the file declares its delimiter as {declared!r} (Excel's "
            f"'sep={declared}' line), and the definition reads it as {dialect.delimiter!r}: "
            f"if the file is written with {declared!r}, set delimiter = {declared!r} (or "
            '"auto") in the definition\'s [read]; otherwise save the file again without that line'
        )
    return dialect


def _without_excel_separator_line(buf: bytes) -> bytes:
    """``buf`` with Excel's ``sep=`` line (:data:`EXCEL_SEPARATOR_LINE`) left blank, so the
    header below it is line 2 as an editor shows it; the delimiter it names is read first
    (:func:`excel_declared_delimiter`)."""
    found = EXCEL_SEPARATOR_LINE.match(buf)
    return buf if found is None else b"\n" + buf[found.end() :]


#: A field that holds nothing, for polars' regex engine: empty, or spaces and tabs only
#: (not ``\s``, which Python's engine draws otherwise on control characters).
BLANK_FIELD = r"^[ \t]*$"


def _whitespace_lines(
    buf: bytes, arr: np.ndarray, split: _Split, lengths: np.ndarray
) -> np.ndarray:
    """Which records are one field of spaces and tabs alone (and a CR): blank lines as an
    editor leaves them, which hold nothing, like empty ones. Found by a trial: `  ` and a
    tab below the data were each quarantined as a malformed line of 1 field, in a partition
    of their own. Only records starting with a space or tab are looked at in Python. (The
    csv module, which reads the stretch of lines after a stray quote, still rejects such a
    line there: it cannot tell ``  `` from ``"  "``, a record of one field.)"""
    starts = np.clip(split.starts, 0, max(arr.size - 1, 0))
    first = arr[starts] if arr.size else np.zeros(0, dtype=np.uint8)
    maybe = (split.fields == 1) & (lengths > 0) & ((first == ord(" ")) | (first == ord("\t")))
    found = np.zeros(split.starts.size, dtype=bool)
    for i in np.flatnonzero(maybe):
        found[i] = not buf[split.starts[i] : split.ends[i]].strip(b" \t\r")
    return found


def _without_empty_records(read: RawRead) -> RawRead:
    """``read`` without the records whose every field is empty or only spaces and tabs
    (:data:`BLANK_FIELD`; ``,,,,``: the rows a spreadsheet saves below its data, or between
    blocks of it). Like blank lines they hold nothing, and are not records; each was
    quarantined as a response without an id."""
    fields = [c for c in read.header if c in read.frame.columns]
    if not fields or read.frame.is_empty():
        return read
    blank = BLANK_FIELD
    # The first field alone first: a file without such records pays one pass over one column.
    maybe = read.frame.filter(pl.col(fields[0]).str.contains(blank))
    if maybe.is_empty():
        return read
    empty = maybe.filter(pl.all_horizontal(pl.col(c).str.contains(blank) for c in fields))
    if not empty.is_empty():
        lines = empty.get_column("source_line").implode()
        read.frame = read.frame.filter(~pl.col("source_line").is_in(lines))
        read.empty_records = empty.height
    return read


def _set_aside_repeated_headers(read: RawRead, header_records: list[list[str]]) -> RawRead:
    """``read`` with the rows that repeat one of its header records, cell for cell, moved to
    its rejects, saying so (two exports joined into one file, ``cat a.csv b.csv``): each was
    quarantined as a response whose every value was wrong. ``header_records`` are the header
    records as the reader parsed them. Rows are compared on their first column first, so a
    file without such rows costs one comparison per header record. A header's empty cells
    (SurveyMonkey's continuation columns) match because the reader reads an empty field as
    ``""``, never null (``null == ""`` is null, and would keep the header as a response)."""
    if read.delimiter is None or read.frame.is_empty() or not read.header:
        return read
    names = read.header
    repeated: list[pl.DataFrame] = []
    for cells in header_records:
        if len(cells) != len(names):
            continue
        same = read.frame.filter(pl.col(names[0]) == cells[0])
        if same.height:
            same = same.filter(
                pl.all_horizontal(pl.col(n) == c for n, c in zip(names, cells, strict=True))
            )
            repeated.append(same.select("source_line"))
    if not repeated:
        return read
    lines = pl.concat(repeated).get_column("source_line").unique().sort()
    taken = read.frame.filter(pl.col("source_line").is_in(lines.implode()))
    reason = (
        f"repeats the header ({read.header_span}): two exports joined into one file? Deliver each "
        "export as its own file, or remove the repeated header"
    )
    found = [
        Reject(int(line), read.delimiter.join(str(v) for v in values), reason)
        for line, values in zip(
            taken.get_column("source_line").to_list(),
            taken.select(names).iter_rows(),
            strict=True,
        )
    ]
    read.frame = read.frame.filter(~pl.col("source_line").is_in(lines.implode()))
    read.rejects = sorted([*read.rejects, *found], key=lambda r: r.line)
    return read


def _with_classic_mac_line_ends_as_newlines(buf: bytes, quote: str = '"') -> bytes:
    """A file whose lines end in CR alone ("Macintosh" CSV, as Excel for Mac and old Mac
    tools save it) with each CR made an LF, so its lines are numbered as an editor shows
    them; any other file as it is. The csv module and the quick split read CR-only files
    apart (one record per CR, against one line for the whole file).

    A file is CR-ended when it has no CRLF and no LF outside quotes, with a CR outside
    them: an LF a quoted comment holds (a line break typed in a cell) does not make it an
    LF file. A trial's old-Mac export with one such comment was read as one line, its
    header as one column, and refused whole. An LF file whose quoted fields hold a CR
    alone stays as it is (its CRs are outside no quotes)."""
    if b"\r" not in buf or b"\r\n" in buf:
        return buf
    if b"\n" not in buf:
        return buf.replace(b"\r", b"\n")
    arr = np.frombuffer(buf, dtype=np.uint8)
    quotes = np.flatnonzero(arr == ord(quote))

    def outside_quotes(byte: int) -> bool:
        at = np.flatnonzero(arr == byte)
        return bool(((np.searchsorted(quotes, at) & 1) == 0).any())

    if not outside_quotes(NEWLINE) and outside_quotes(CARRIAGE_RETURN):
        return buf.replace(b"\r", b"\n")
    return buf


class JoinedSlices(io.RawIOBase):
    """A read-only stream of the slices ``[start, end)`` of ``data`` joined by ``b"\\n"``:
    the bytes of ``b"\\n".join(data[start:end] for start, end in slices)``, copied out a
    read at a time instead of into one new object (a 1M-survey export's well-formed records
    joined around its rejects were a 170 MB copy: 0.3 s of CPU, most of it faulting in fresh
    pages). ``tests/unit/test_joined_slices.py`` holds it to the join."""

    def __init__(self, data: bytes, slices: Iterable[tuple[int, int]]) -> None:
        view = memoryview(data)
        self._parts: list[memoryview] = []
        for start, end in slices:
            if self._parts:
                self._parts.append(memoryview(b"\n"))
            self._parts.append(view[int(start) : int(end)])
        self._part = 0
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(out) and self._part < len(self._parts):
            part = self._parts[self._part]
            taken = min(len(out) - filled, len(part) - self._offset)
            out[filled : filled + taken] = part[self._offset : self._offset + taken]
            filled += taken
            self._offset += taken
            if self._offset == len(part):
                self._part += 1
                self._offset = 0
        return filled


def _read_decoded_csv(
    path: str, buf: bytes, encoding: str, dialect: CsvDialect
) -> tuple[RawRead, list[list[str]], bool]:
    """:func:`read_csv_with_lines` on the decoded text, the header records it parsed, and
    whether the text holds an odd number of quotes (:attr:`_Split.odd_quotes`)."""
    delimiter = sniff_delimiter(path, buf) if dialect.delimiter == "auto" else dialect.delimiter
    if len(delimiter) != 1 or len(dialect.quote) != 1:
        raise SourceError(
            f"{path}: delimiter {delimiter!r} and quote {dialect.quote!r} must be one character "
            "each; fix [read] in the definition"
        )
    arr = np.frombuffer(buf, dtype=np.uint8)
    split = _split_records(arr, ord(delimiter), ord(dialect.quote))
    if _bom_starts_a_record(arr, split):  # rare: split again without them
        buf = _without_byte_order_marks_at_record_starts(buf, split)
        arr = np.frombuffer(buf, dtype=np.uint8)
        split = _split_records(arr, ord(delimiter), ord(dialect.quote))
    lengths = split.ends - split.starts
    # A record that is only "\r" (CRLF file, blank line) is blank too.
    last = np.clip(split.ends - 1, 0, None)
    blank = (lengths == 0) | ((lengths == 1) & (arr[last] == CARRIAGE_RETURN))
    spaces = _whitespace_lines(buf, arr, split, lengths)
    blank |= spaces
    records, first_body, title = _header_records(buf, split, blank, dialect, delimiter)
    header = column_names(records, dialect)
    header_lines = int(split.lines[first_body] - 1) if first_body < split.starts.size else 0
    header_lines = header_lines or int(split.lines[-1])
    timezone = _header_timezone(records, dialect.timezone_key)
    n_fields = len(header)
    body = np.arange(split.starts.size) >= first_body
    ragged = body & ~blank & (split.fields != n_fields)
    # A record spanning lines may be the quick split's mistake, not the file's: it counts
    # every quote, and the csv module takes a quote inside an unquoted field (`He said "no`)
    # literally. From such a record to where both agree again, the csv module reads the file
    # (_exact_windows); the rest takes the quick path. One stray quote used to send a whole
    # million-row export down the csv module (9 s instead of 2 s). Not only ragged ones: a
    # stray quote can join two lines into a record of the right width, and pyarrow then
    # reads as many rows as the quick split, one of them dated by the wrong line (found by
    # tests/badinput/test_properties.py: `a",,` then `,",,` then `,,",`). Multi-line records are few
    # (176 of a 100k-survey export), each read by the csv module up to the next agreed line.
    spans_lines = body & ~blank & split.spans_lines
    # A CR alone (not ending a CRLF, nor the file) is text to the quick split and to the csv
    # module as _ExactReader runs it, but pyarrow ends a line there: such records are read by
    # the csv module too, so the CR stays in its field wherever it stands.
    lone_cr = _has_lone_cr(buf)
    suspects = spans_lines | (body & _holds_lone_cr(arr, split)) if lone_cr else spans_lines
    if dialect.fit_ragged_records:  # the csv module reads them, fitted (_read_records)
        suspects = suspects | ragged
    result = RawRead(
        path, encoding, header, pl.DataFrame(), [], 0, header_lines, delimiter, timezone
    )
    result.title = title
    exact = _ExactReader(path, buf, header, dialect, delimiter, lone_cr)
    windows = exact.windows(split, np.flatnonzero(suspects))
    in_window = np.zeros(split.starts.size, dtype=bool)
    for window in windows:
        in_window[window.first : window.stop] = True
    ragged &= ~in_window
    valid = body & ~blank & ~ragged & ~in_window
    rejects = [
        Reject(
            line=int(split.lines[i]),
            text=buf[split.starts[i] : split.ends[i]].decode("utf-8", "replace"),
            reason=_ragged_reason(
                int(split.fields[i]),
                n_fields,
                _truncation_note(int(i), split, arr, dialect, n_fields)
                or _empty_fields_note(buf, split, int(i), n_fields, dialect, delimiter),
                buf[split.starts[i] : split.ends[i]]
                .decode("utf-8", "replace")
                .split(delimiter, 1)[0]
                .strip('"'),
            ),
            cut_off=_cut_off_short(int(i), split, arr, dialect, n_fields),
            truncated=_truncation_note(int(i), split, arr, dialect, n_fields) != "",
        )
        for i in np.flatnonzero(ragged)
    ]
    skip_rows = 1
    if ragged.any() or windows or first_body != 1 or spaces.any():
        # Keep the well-formed body records only, in order: each run of consecutive ones is
        # one slice of the file (a few slices, not one per record).
        edges = np.diff(np.concatenate(([0], valid.view(np.int8), [0])))
        firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        clean: IO[bytes] = io.BufferedReader(
            JoinedSlices(buf, zip(split.starts[firsts], split.ends[lasts], strict=True)),
            1 << 20,
        )
        skip_rows = 0
    else:
        clean = io.BytesIO(buf)
    lines = split.lines[valid]
    try:
        table = pacsv.read_csv(
            clean,
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=skip_rows),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, quote_char=dialect.quote, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        table = None
    if table is None or table.num_rows != lines.size:
        start = int(split.starts[first_body]) if first_body < split.starts.size else len(buf)
        return exact.whole(result, start, header_lines + 1), records, split.odd_quotes
    quick = pl.from_arrow(table)
    assert isinstance(quick, pl.DataFrame)
    frame = quick.with_columns(pl.Series("source_line", lines, dtype=pl.Int64))
    if windows:
        # Every window's rows as one frame: a frame per window (176 of a 100k-survey export)
        # cost more than the csv module's reading of them.
        windowed = _Records()
        for window in windows:
            windowed.rows += window.records.rows
            windowed.lines += window.records.lines
            windowed.rejects += window.records.rejects
        frame = pl.concat([frame, _records_frame(header, windowed)]).sort("source_line")
        rejects = sorted([*rejects, *windowed.rejects], key=lambda r: r.line)
    result.frame = frame.with_columns(pl.lit(path).alias("source_file")).select(
        *header, "source_file", "source_line"
    )
    result.rejects = rejects
    return result, records, split.odd_quotes


#: A run of UTF-8 byte order marks (U+FEFF) at the start of the text or of a line.
_BOMS_STARTING_A_LINE = re.compile(rb"(?:^|(?<=\n))(?:\xef\xbb\xbf)+")


def _bom_starts_a_record(arr: np.ndarray, split: _Split) -> bool:
    """Whether a UTF-8 byte order mark (U+FEFF) starts any record: one byte per record."""
    starts = split.starts[split.starts + 3 <= arr.size]
    first = starts[arr[starts] == 0xEF]  # almost always none: the rest is read for those
    return bool(((arr[first + 1] == 0xBB) & (arr[first + 2] == 0xBF)).any())


def _without_byte_order_marks_at_record_starts(buf: bytes, split: _Split) -> bytes:
    """``buf`` (UTF-8) without the byte order marks (U+FEFF) that start a record (``split``
    its records); any other text as it is.

    A BOM marks where a file starts; at a record's start in the middle of a file it is a
    second export's, joined on (``cat monday.csv tuesday.csv``, each saved with a BOM).
    Left there it would make that export's header line differ from the first one (it would
    not be recognised as repeating the header) and start a record id or value shown to the
    person. A BOM that is not at a record's start (inside a quoted value running over lines)
    is kept. Only line ends count for line numbers, so every line keeps its number."""
    starts = set(split.starts.tolist())
    pieces, kept_from = [], 0
    for mark in _BOMS_STARTING_A_LINE.finditer(buf):
        if mark.start() in starts:
            pieces.append(buf[kept_from : mark.start()])
            kept_from = mark.end()
    pieces.append(buf[kept_from:])
    return b"".join(pieces)


def _has_lone_cr(buf: bytes) -> bool:
    """Whether the text holds a CR that does not end a CRLF: one or two byte counts."""
    return b"\r" in buf and buf.count(b"\r") != buf.count(b"\r\n")


def _holds_lone_cr(arr: np.ndarray, split: _Split) -> np.ndarray:
    """Which records of ``split`` hold a CR that is followed by neither LF nor the end of
    the file (worth asking only when :func:`_has_lone_cr`)."""
    held = np.zeros(split.starts.size, dtype=bool)
    at = np.flatnonzero(arr == CARRIAGE_RETURN)
    after = np.minimum(at + 1, arr.size - 1)
    lone = at[(at + 1 < arr.size) & (arr[after] != NEWLINE)]
    if split.starts.size and lone.size:
        held[np.searchsorted(split.starts, lone, side="right") - 1] = True
    return held


def _ragged_reason(fields: int, n_fields: int, note: str = "", first: str = "") -> str:
    """The reject reason of a record of ``fields`` fields under a header of ``n_fields``,
    whose first field is ``first`` (a totals row's label is said: :data:`TOTALS_ROW`)."""
    totals = f"; the line {TOTALS_ROW_NOTE}" if TOTALS_ROW.match(first) else ""
    return f"malformed line: {fields} fields where the header has {n_fields}{note}{totals}"


#: The labels a spreadsheet writes in the first cell of a totals or summary row, in the
#: languages of the exports met so far (English, German, Dutch, French, Spanish, Italian).
#: Found by a trial: an export's last lines, ``Durchschnitt: 3,1`` and ``Summe;...``, were
#: told to map their words onto the score's scale.
TOTALS_LABELS = (
    *("Total", "Totals", "Sum", "Average", "Mean", "Grand total"),
    *("Summe", "Gesamt", "Durchschnitt", "Mittelwert"),
    *("Totaal", "Gemiddelde", "Somme", "Moyenne", "Suma", "Promedio", "Totale", "Media"),
)
#: A first field that is one of :data:`TOTALS_LABELS` alone or before a colon (any case):
#: ``Summe``, ``Durchschnitt: 3,1``; not an id that starts with one (``Total-123``).
TOTALS_ROW = re.compile(
    r"^\s*(?:" + "|".join(TOTALS_LABELS) + r")\s*(?::.*)?$", re.IGNORECASE | re.DOTALL
)
#: What is said of such a row (no quote or apostrophe: the report reads a reason's kind).
TOTALS_ROW_NOTE = (
    "looks like the totals or summary row of a spreadsheet, not a response: it should not be "
    "in the export (take it out, or export the responses without totals); the row stays "
    "quarantined, so nothing is lost"
)


#: A ragged record's reason with nothing said of why (:func:`_ragged_reason`, no note): the
#: fields it has, the header's, and what follows (nothing, or the totals row's note).
_BARE_RAGGED = re.compile(r"^malformed line: (\d+) fields where the header has (\d+)((?:; .*)?)$")
#: Columns an unquoted-delimiter note names before "and N more".
MAX_COLUMNS_NAMED = 3


def _with_unquoted_delimiter_notes(read: RawRead) -> RawRead:
    """``read`` with each reject of ``k`` fields more than the header, not yet explained
    (:func:`_trailing_delimiter_note`, a record over lines), saying that a field probably
    holds ``k`` unquoted delimiters, where a column could: one whose values in the rows
    read hold the delimiter (quoted there). Found by a trial: a SurveyMonkey comment
    "..., second time now" written unquoted was "malformed line: 22 fields where the header
    has 21", with no hint of the comma."""
    delimiter = read.delimiter
    if delimiter is None or not read.rejects or read.frame.height == 0:
        return read
    bare = [(r, _BARE_RAGGED.match(r.reason)) for r in read.rejects]
    if not any(m and int(m[1]) > int(m[2]) and not _explained(m[3]) for _, m in bare):
        return read
    holding = read.frame.select(
        pl.col(c).str.contains(delimiter, literal=True).any() for c in read.header
    ).row(0)
    columns = [c for c, held in zip(read.header, holding, strict=True) if held]
    if not columns:
        return read
    named = ", ".join(repr(c) for c in columns[:MAX_COLUMNS_NAMED])
    more = len(columns) - MAX_COLUMNS_NAMED
    named += f" and {more} more" if more > 0 else ""
    which = f"the column {named} holds" if len(columns) == 1 else f"the columns {named} hold"
    rejects = []
    for reject, m in bare:
        if m and int(m[1]) > int(m[2]) and not _explained(m[3]):
            extra = int(m[1]) - int(m[2])
            held = (
                f"a field probably holds an unquoted {delimiter!r}"
                if extra == 1
                else f"fields probably hold {extra} unquoted {delimiter!r}"
            )
            note = (
                f"; {held} ({which} {delimiter!r} in other rows, quoted there): quote it, or "
                "re-export with quoting"
            )
            reject = replace(reject, reason=m[0].removesuffix(m[3]) + note + m[3])
        rejects.append(reject)
    read.rejects = rejects
    return read


def _explained(rest: str) -> bool:
    """Whether a ragged reason's ``rest`` (after its counts) already says why, beyond the
    totals row's note."""
    return bool(rest) and rest != f"; the line {TOTALS_ROW_NOTE}"


def _empty_fields_note(
    buf: bytes, split: _Split, i: int, n_fields: int, dialect: CsvDialect, delimiter: str
) -> str:
    """:func:`_trailing_delimiter_note` for record ``i`` of ``split`` (one line: a record
    running over lines is read by the csv module instead)."""
    if split.fields[i] <= n_fields:
        return ""
    text = buf[split.starts[i] : split.ends[i]].decode("utf-8", "replace").rstrip("\r")
    return _trailing_delimiter_note(_parse_record(text, dialect, delimiter), n_fields)


def _trailing_delimiter_note(record: list[str], n_fields: int) -> str:
    """For a record with more fields than the header whose extra fields, at its end, are
    all empty (the line ends with a delimiter the header does not have: an Excel or vendor
    quirk that ends every data line so): that, and what to do. Else ``""``."""
    extra = record[n_fields:]
    if not extra or any(extra):
        return ""
    if len(extra) == 1:
        return (
            "; the extra field at the end is empty: the line ends with a delimiter the header "
            "does not have. Re-export without it, or add an empty column name at the end of "
            "the header"
        )
    return (
        f"; the {len(extra)} extra fields at the end are empty: the line ends with "
        f"{len(extra)} delimiters the header does not have. Re-export without them, or add "
        f"{len(extra)} empty column names at the end of the header"
    )


def _cut_off_short(
    i: int, split: _Split, arr: np.ndarray, dialect: CsvDialect, n_fields: int
) -> bool:
    """Whether record ``i`` is the one :func:`_truncation_note` says looks cut off with
    fewer fields than the header (:attr:`Reject.cut_off`)."""
    return _truncation_note(i, split, arr, dialect, n_fields).startswith(" (the file looks cut off")


#: What is said of a record the file ends inside a quoted value of, after "the file ends
#: inside a quoted value" (:func:`_truncation_note`, :meth:`_ExactReader._cut_record_reject`).
_CUT_INSIDE_QUOTE = (
    " with no final newline: the delivery looks truncated; ask for the complete file"
)


def _truncation_note(
    i: int, split: _Split, arr: np.ndarray, dialect: CsvDialect, n_fields: int = 0
) -> str:
    """For the file's last record, when no newline ends it while the file's other lines
    end in one, and a quote it opened never closes or it has fewer fields than the header
    (``n_fields``): the delivery was cut off (or is still being copied), which is what the
    person needs to know. Found by a trial: a call log copied in part said only "malformed
    line: 3 fields where the header has 13"."""
    if i != split.starts.size - 1 or arr.size == 0 or arr[-1] == NEWLINE:
        return ""
    if not np.any(arr[: split.starts[i]] == NEWLINE):
        return ""  # the file's only line: nothing tells how its lines end
    quotes = int(np.count_nonzero(arr[split.starts[i] : split.ends[i]] == ord(dialect.quote)))
    if quotes % 2:
        return " (the file ends inside a quoted value" + _CUT_INSIDE_QUOTE + ")"
    if split.fields[i] >= n_fields:
        return ""
    line = int(split.lines[i])
    return (
        f" (the file looks cut off at line {line}: its last line has no line end, as its "
        "other lines have, and fewer fields than the header; ask for the complete file, or "
        "wait for it to be copied whole and deliver it again)"
    )


def _a_line_holds_a_record(
    buf: bytes, start: int, dialect: CsvDialect, delimiter: str, n_fields: int
) -> bool:
    """Whether a line of ``buf`` from byte ``start`` on, read on its own, has ``n_fields``
    fields (the header's): a record a stray quote above it swallowed, where the lines of a
    value cut off inside its quotes (a narrative's sentences) have fewer or more."""
    for text in _lines_from(buf, start):
        try:
            fields = _parse_record(text.rstrip("\n").rstrip("\r"), dialect, delimiter)
        except csv.Error:  # a CR alone in an unquoted field: no record either
            continue
        if len(fields) == n_fields:
            return True
    return False


def _unterminated_last_row(read: RawRead, buf: bytes) -> int | None:
    """The line of ``read``'s last row when it is the file's last record and no line end
    follows it while the file's other lines end in one (:attr:`RawRead.unterminated_line`)."""
    if read.frame.is_empty() or not buf or buf.endswith(b"\n") or b"\n" not in buf:
        return None
    line = int(read.frame.get_column("source_line")[-1])
    if read.rejects and max(r.line for r in read.rejects) > line:
        return None  # the file's last record is a reject
    return line


def _set_aside_a_record_cut_off(read: RawRead, buf: bytes, dialect: CsvDialect) -> RawRead:
    """``read`` with its last row moved to the rejects when the file ends inside a quoted
    value of it: a delivery cut off mid-comment, whose last record still had every field
    (the cut value's opening quote made the rest of it one field), was kept with its comment
    cut short (found by an analyst's trial: ``Dreimal weit``); or a stray opening quote that
    made the rest of the file one value. A record with too few fields is rejected already
    (:func:`_truncation_note`). ``buf`` is the decoded text the rows were read from, worth
    looking at only when it holds an odd number of quotes (a quote left open somewhere: the
    caller knows from the quick split; a cut-off file whose other quotes include one stray
    quote inside an unquoted value, taken literally, goes unnoticed); from the last row's
    line on, the csv module, strict, says whether the text ends inside a quoted value.
    Nothing is raised."""
    if read.frame.is_empty():
        return read
    line = int(read.frame.get_column("source_line")[-1])
    if read.rejects and max(r.line for r in read.rejects) > line:
        return read  # the file's last record is a reject already
    start = len(buf)
    for _ in range(buf.count(b"\n") - line + 2):  # back to the newline ending line - 1
        start = buf.rfind(b"\n", 0, start)
    text = buf[start + 1 :].decode("utf-8", "replace")
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=read.delimiter or ",",
        quotechar=dialect.quote,
        strict=True,
    )
    try:
        for _ in reader:
            pass
        return read
    except csv.Error as error:
        if "unexpected end of data" not in str(error):
            return read
    end = line + text.rstrip("\r\n").count("\n")
    # Over lines, a stray quote may have swallowed whole records; when no later line has
    # the header's fields and no newline ends the text, they are the cut value's own lines
    # (_ExactReader._cut_inside_quote).
    after = start + 1 + text.index("\n") + 1 if end > line else len(buf)
    whole = _a_line_holds_a_record(buf, after, dialect, read.delimiter or ",", len(read.header))
    cut = end == line or (not buf.endswith(b"\n") and not whole)
    where = (
        "the file ends inside a quoted value: the delivery looks truncated; ask for the "
        "complete file"
        if end == line
        else f"the file ends inside a quoted value opened on line {line} (lines {line}-{end} "
        f"are one record){_CUT_INSIDE_QUOTE}"
        if cut
        else f"the file ends inside a quoted value opened on line {line} (lines {line}-{end} "
        f"were read as one record): a delivery cut off, or a stray quote on line {line}; ask "
        "for the complete file, or mend that quote"
    )
    read.frame = read.frame.head(read.frame.height - 1)
    read.rejects.append(
        Reject(line, text.rstrip("\r\n"), f"malformed line: {where}", truncated=cut)
    )
    return read


@dataclass
class _Records:
    """What the csv module read: well-formed rows with their first line, and rejects."""

    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


@dataclass(frozen=True)
class _Window:
    """Records ``first``..``stop`` (exclusive) of the quick split, read by the csv module."""

    first: int
    stop: int
    records: _Records


@dataclass(frozen=True)
class _OverLines:
    """A record of the wrong width the csv module read over lines ``line``..``end_line``:
    a quoted value over several lines, or a quote opened on ``line`` and closed lines later,
    or never (a stray quote), which only the quoting of those lines tells apart."""

    line: int
    end_line: int
    record: list[str]


def _read_records(
    reader: Any,
    n_fields: int,
    first_line: int,
    records: _Records,
    delimiter: str = ",",
    fit: bool = False,
) -> int | _OverLines:
    """Read one record from ``reader`` into ``records``; return the line after it, or -1 at
    the end of the input. ``first_line`` is the physical line ``reader`` started on.
    ``fit``: a record of fewer fields than ``n_fields`` is read with the missing last ones
    empty, one with more whose extra fields are all empty without them
    (:attr:`CsvDialect.fit_ragged_records`).

    A record over several lines with the wrong number of fields (even when its extra
    fields are empty) is not recorded but returned (:class:`_OverLines`), for the caller to tell
    a stray quote, whose line alone is rejected, from a value over lines
    (:meth:`_ExactReader._read`)."""
    start_line = first_line + reader.line_num
    record = next(reader, None)
    if record is None:
        return -1
    end_line = first_line + reader.line_num - 1
    if record and fit and len(record) < n_fields:
        record += [""] * (n_fields - len(record))
    elif fit and len(record) > n_fields and not "".join(record[n_fields:]).strip(" \t"):
        del record[n_fields:]
    if record and len(record) == n_fields:
        records.rows.append(record)
        records.lines.append(start_line)
    elif record:
        # Over lines, only the quoting tells a stray quote from a value over lines, whatever
        # the record's last fields hold: a stray quote closed by a later line's opening quote
        # can end in that line's own empty last field (a QA lead's trial: lines 33-34 lost).
        if end_line > start_line:
            return _OverLines(start_line, end_line, record)
        note = _trailing_delimiter_note(record, n_fields)
        records.rejects.append(
            Reject(
                start_line,
                delimiter.join(record),
                _ragged_reason(len(record), n_fields, note, record[0]),
            )
        )
    return end_line + 1


@dataclass
class _Cursor:
    """The csv module reading a file from physical line ``first_line`` on."""

    reader: Any
    first_line: int


class _Restoring:
    """A csv reader whose fields have ``stand_in`` put back as the CR it stood for."""

    def __init__(self, reader: Any, stand_in: str) -> None:
        self.reader = reader
        self.stand_in = stand_in

    @property
    def line_num(self) -> int:
        return int(self.reader.line_num)

    def __iter__(self) -> _Restoring:
        return self

    def __next__(self) -> list[str]:
        return [field.replace(self.stand_in, "\r") for field in next(self.reader)]


def _lines_from(buf: bytes, start: int) -> Iterator[str]:
    """The UTF-8 lines of ``buf`` from byte ``start``, each with its LF, decoded one at a
    time as they are asked for. A window of the csv module reads a few lines from anywhere
    in the file: a ``BytesIO`` of the rest of the file copied the rest each time (176
    windows of a 100k-survey export took 0.18 s more than the whole quick read)."""
    end = len(buf)
    while start < end:
        stop = buf.find(b"\n", start)
        stop = end if stop == -1 else stop + 1
        yield buf[start:stop].decode("utf-8")
        start = stop


@dataclass
class _ExactReader:
    """The csv module's reading of a file, for the records the quick split cannot settle."""

    path: str
    buf: bytes
    header: list[str]
    dialect: CsvDialect
    delimiter: str
    #: Whether the text holds a CR that does not end a CRLF (:func:`_has_lone_cr`).
    lone_cr: bool

    def _reader(self, start: int, strict: bool = False) -> Any:
        """The csv module over the text from byte ``start``, its lines ending at LF only, as
        the quick split's do (a CRLF's CR is the csv module's line end).

        A CR alone is text, as in the quick split, not a line end: the csv module ends a
        line at one (universal newlines), or refuses one in an unquoted field, so each is
        given to it as a character the file does not hold and put back in the fields."""
        text: Iterable[str] = _lines_from(self.buf, start)
        stand_in = self._lone_cr_stand_in
        if stand_in is not None:
            lone = re.compile(r"\r(?!\n|$)")
            text = (lone.sub(stand_in, line) for line in text)
        reader = csv.reader(
            text, delimiter=self.delimiter, quotechar=self.dialect.quote, strict=strict
        )
        return reader if stand_in is None else _Restoring(reader, stand_in)

    def _line_start(self, line: int) -> int:
        """The byte where physical line ``line`` starts (the text's end past its last)."""
        if line <= 1:
            return 0
        newlines = self._newlines
        return int(newlines[line - 2]) + 1 if line - 2 < newlines.size else len(self.buf)

    @functools.cached_property
    def _newlines(self) -> np.ndarray:
        """Where the text's LFs are (found only when a stray quote needs a line's start)."""
        return byte_positions(np.frombuffer(self.buf, dtype=np.uint8), (NEWLINE,))[0]

    def _read(self, cursor: _Cursor, records: _Records) -> int:
        """:func:`_read_records` for this file's header and dialect, from ``cursor``: the
        line after the record read, or -1 at the end of the text.

        A record of the wrong width over several lines (:class:`_OverLines`) whose quoting
        is broken (a quote closed and followed by more text, or never closed) is a stray
        quote on its first line: that line alone is rejected, and ``cursor`` reads again
        from the line after it. Found by a call-centre trial: one unbalanced quote made
        lines 6-25 one record of 5 fields, rejected whole, and the 19 good calls on lines
        7-25 were in neither the output nor the quarantine. One rightly quoted (a value
        over lines, and a field too many or too few) is rejected whole, as it was read."""
        read = _read_records(
            cursor.reader,
            len(self.header),
            cursor.first_line,
            records,
            self.delimiter,
            self.dialect.fit_ragged_records,
        )
        if not isinstance(read, _OverLines):
            return read
        if self._quoted_rightly(read.line):
            # Empty fields at the end say why, even after a value running over lines.
            note = _trailing_delimiter_note(read.record, len(self.header)) or (
                f" (lines {read.line}-{read.end_line} were read as one record: check the "
                f"quotes on line {read.line})"
            )
            reason = _ragged_reason(len(read.record), len(self.header), note, read.record[0])
            records.rejects.append(Reject(read.line, self.delimiter.join(read.record), reason))
            return read.end_line + 1
        if self._cut_inside_quote(read):
            records.rejects.append(self._cut_record_reject(read))
            return read.end_line + 1
        records.rejects.append(self._stray_quote_reject(read))
        cursor.first_line = read.line + 1
        cursor.reader = self._reader(self._line_start(cursor.first_line))
        return cursor.first_line

    def _quoted_rightly(self, line: int) -> bool:
        """Whether the record starting on ``line`` is quoted as a CSV writer quotes: each
        quoted value closed, and followed by a delimiter or the line's end."""
        try:
            next(self._reader(self._line_start(line), strict=True), None)
        except csv.Error:
            return False
        return True

    def _cut_inside_quote(self, runaway: _OverLines) -> bool:
        """Whether a runaway record (:class:`_OverLines`) is the file's last record cut off
        inside a quoted value over lines: a download interrupted in a multi-line narrative.

        So when the text has no final newline (its other lines end in one: the record spans
        lines), the record runs to the text's last line, its quote is never closed (the csv
        module, strict, meets the end of the data inside it, not a closed quote followed by
        more text), and none of its later lines, read on its own, has the header's number of
        fields: they are the value's lines, not records a stray quote swallowed. A stray
        quote in the middle of a file has whole records after it, each as wide as the
        header, and keeps :meth:`_stray_quote_reject`. Found by a trial: a CFPB download cut
        inside complaint 16349248's narrative (lines 78-82) read as a stray quote on line 78
        and four more rejects of 1 or 2 fields, none saying the file was truncated."""
        if not self.buf or self.buf.endswith(b"\n") or runaway.end_line != self._newlines.size + 1:
            return False
        try:
            next(self._reader(self._line_start(runaway.line), strict=True), None)
        except csv.Error as error:
            if "unexpected end of data" not in str(error):
                return False  # a quote closed and followed by more text: a stray one
        else:
            return False
        start = self._line_start(runaway.line + 1)
        return not _a_line_holds_a_record(
            self.buf, start, self.dialect, self.delimiter, len(self.header)
        )

    def _cut_record_reject(self, runaway: _OverLines) -> Reject:
        """The reject of a record the file ends inside, over lines ``runaway.line``..
        ``runaway.end_line`` (:meth:`_cut_inside_quote`): all its lines, as they are in the
        file, as one record, saying the delivery looks truncated
        (:attr:`Reject.truncated`), as :func:`_truncation_note` does for a one-line one."""
        line, end = runaway.line, runaway.end_line
        text = self.buf[self._line_start(line) :].decode("utf-8", "replace").rstrip("\r\n")
        note = (
            f" (lines {line}-{end} are one record, and the file ends inside its quoted value"
            f"{_CUT_INSIDE_QUOTE})"
        )
        reason = _ragged_reason(len(runaway.record), len(self.header), note, runaway.record[0])
        return Reject(line, text, reason, truncated=True)

    def _stray_quote_reject(self, runaway: _OverLines) -> Reject:
        """The reject of a runaway record's first line, as it is in the file, naming the
        field whose quote that line does not close and what to change."""
        line = runaway.line
        begin, end = self._line_start(line), self._line_start(line + 1)
        text = self.buf[begin:end].decode("utf-8", "replace").rstrip("\n").rstrip("\r")
        try:  # alone, the line's last field is the one its open quote started
            opened = len(_parse_record(text, self.dialect, self.delimiter))
        except csv.Error:  # a CR alone in an unquoted field: the field cannot be told
            opened = 0
        field = (
            f"field {opened} ({self.header[opened - 1]!r})"
            if 0 < opened <= len(self.header)
            else "a field"
        )
        return Reject(
            line,
            text,
            f"malformed line: the quote opening {field} is not closed on line {line}, so "
            f"lines {line}-{runaway.end_line} read as one record of {len(runaway.record)} fields "
            f"where the header has {len(self.header)}: a stray quote? Only line {line} is "
            "set aside; the lines after it are read on their own. Close the quote on line "
            f'{line}, or double it ("") if it belongs to the value, and deliver the line again',
        )

    @functools.cached_property
    def _lone_cr_stand_in(self) -> str | None:
        """A character the file does not hold, to stand in for its lone CRs; None when it
        has none (every CR ends a CRLF)."""
        if not self.lone_cr:
            return None
        for candidate in ("\uffff", "\ufffe", "\U0010ffff", "\U0010fffe"):
            if candidate.encode("utf-8") not in self.buf:
                return candidate
        raise SourceError(
            f"{self.path}: holds carriage returns (CR) alone, and every character that could "
            "stand in for them; save it again with CRLF (Windows) or LF line ends"
        )

    def windows(self, split: _Split, suspects: np.ndarray) -> list[_Window]:
        """For each suspect record, read from it with the csv module until a line where the
        quick split also starts a record: from there on both read the file the same way."""
        _allow_large_fields(self.buf)
        windows: list[_Window] = []
        stop = 0
        for suspect in suspects.tolist():
            if suspect < stop:
                continue  # inside the previous window
            cursor = _Cursor(self._reader(int(split.starts[suspect])), int(split.lines[suspect]))
            records = _Records()
            stop = split.starts.size
            while (line := self._read(cursor, records)) != -1:
                at = int(np.searchsorted(split.lines, line))
                if at < split.lines.size and split.lines[at] == line:
                    stop = at
                    break
            windows.append(_Window(suspect, stop, records))
        return windows

    def whole(self, result: RawRead, start: int, first_line: int) -> RawRead:
        """Slow, exact fallback: the csv module reads every body record from byte ``start``
        (physical line ``first_line``) and reports each record's line itself."""
        _allow_large_fields(self.buf)
        cursor = _Cursor(self._reader(start), first_line)
        records = _Records()
        while self._read(cursor, records) != -1:
            pass
        frame = _records_frame(self.header, records).with_columns(
            pl.lit(self.path).alias("source_file")
        )
        result.frame = frame.select(*self.header, "source_file", "source_line")
        result.rejects = records.rejects
        return result


def _read_csv_exact(path: str, buf: bytes, encoding: str) -> RawRead:
    """The csv module alone reading a default-dialect file (the reference the quick path is
    tested against)."""
    header_text = buf.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    header = column_names([_parse_record(header_text, DEFAULT_DIALECT, ",")], DEFAULT_DIALECT)
    start = len(buf.split(b"\n", 1)[0]) + 1
    result = RawRead(path, encoding, header, pl.DataFrame())
    exact = _ExactReader(path, buf, header, DEFAULT_DIALECT, ",", _has_lone_cr(buf))
    return exact.whole(result, start, 2)


def _records_frame(header: list[str], records: _Records) -> pl.DataFrame:
    columns = list(zip(*records.rows, strict=True)) if records.rows else [() for _ in header]
    return pl.DataFrame(
        {
            name: pl.Series(name, list(col), dtype=pl.String)
            for name, col in zip(header, columns, strict=True)
        }
    ).with_columns(pl.Series("source_line", records.lines, dtype=pl.Int64))


def _allow_large_fields(buf: bytes) -> None:
    # One comment may be megabytes; the csv module's default limit (128 kB) would raise.
    csv.field_size_limit(max(len(buf), csv.field_size_limit()))


def read_jsonl_with_lines(
    path: str | DataPath,
    schema: dict[str, pl.DataType] | None = None,
    keep: pl.Expr | None = None,
) -> RawRead:
    """Read JSON lines into ``schema``, keeping each row's line; undecodable lines are rejects.

    ``keep``, a predicate on the decoded columns, drops the rows the caller does not need
    while they are decoded, so they are never held all at once (a date needs a few of the
    look-back days' interactions, not all of them); they are counted in ``RawRead.skipped``.
    Every line is still decoded and checked: rejects do not depend on ``keep``.

    One streaming pass decodes the lines that are plainly an object with polars
    (:func:`_decode_json_fast`); every other line, and each line polars could read otherwise
    than Python's decoder, is decoded alone by :func:`_decode_json_exact`, which is the
    reference: a line's fate never depends on the other lines of its file. A file polars'
    decoder refuses outright (a line it cannot parse, a value of a type it cannot convert)
    is decoded line by line by the exact decoder; the answer is the same, only slower.

    Raises :class:`SourceError` when a local file changes while it is read.
    """
    path = str(path)
    schema = schema or RAW_INTERACTION_SCHEMA
    # A local export in plain UTF-8 (the usual case) is streamed from the file; anything
    # else (an object store, a BOM, a legacy encoding, CR line ends) is decoded to UTF-8 in
    # memory first.
    source: _JsonSource | None = _PlainUtf8File.open(path)
    encoding = "utf-8"
    split_here = False
    unpacked_from = None
    if source is None:
        unpacked, unpacked_from = unpack_delivery(path, read_bytes(path), "JSON")
        decoded_bytes, encoding = decode_to_utf8(unpacked)
        if encoding == "utf-8-sig":
            refuse_broken_utf8(path, decoded_bytes)
        del unpacked
        split_here = b"\r" in decoded_bytes
        source = _InMemory(decoded_bytes)
        del decoded_bytes
    lines_input = source.lines_input()
    fast = _decode_json_fast(lambda: _numbered_lines(lines_input, split_here), schema, keep)
    if fast is None:
        payload = source.whole() or bytes(source.read(0, source.size))
        rows, rejects = _decode_lines_exact(_numbered_lines(payload, split_here).collect(), schema)
        del payload
        rows_decoded = rows.height
        if keep is not None:
            rows = rows.filter(keep)
    else:
        exact, rejects = _decode_lines_exact(fast.others, schema)
        rows_decoded = fast.decoded + exact.height
        if keep is not None:
            exact = exact.filter(keep)
        rows = fast.rows
        if not exact.is_empty():
            rows = pl.concat([rows, exact], how="vertical_relaxed").sort("source_line")
    rejects.sort(key=lambda r: r.line)
    if rejects and _ends_the_file(source, rejects[-1].text) and _is_cut_record(rejects[-1].text):
        rejects[-1] = replace(rejects[-1], reason=CUT_OFF_LINE, truncated=True)
    source.check_unchanged()
    source.close()
    frame = rows.select(*schema, pl.lit(path).alias("source_file"), "source_line")
    skipped = rows_decoded - frame.height
    return RawRead(
        path, encoding, list(schema), frame, rejects, skipped, unpacked_from=unpacked_from
    )


#: The reason of the last line of a JSON Lines export that the file ends inside.
CUT_OFF_LINE = (
    "malformed JSON: cut off, the file ends inside this record (it looks truncated: an "
    "upload or a copy that stopped mid-line); ask for the complete file, put it in place of "
    "this one and run its date again"
)


def _ends_the_file(source: _JsonSource, text: str) -> bool:
    """Whether the line ``text`` (a reject's, as read) ends ``source`` with no line end after
    it, as a file whose upload or copy stopped mid-line does (a generated or exported file
    ends its last line; a line broken before its end is a broken record, not a cut file).
    Read from the file's tail, not its whole."""
    line = text.rstrip()
    if not line:
        return False
    need = len(line.encode()) + 64
    tail = bytes(source.read(max(0, source.size - need), source.size))
    ending = tail.decode("utf-8", "replace").rstrip(" \t")
    if not ending.endswith(line):
        return False
    before = ending[: len(ending) - len(line)]
    return before.endswith("\n") or (not before and source.size <= need)


def _is_cut_record(text: str) -> bool:
    """Whether ``text``, a line that is not a JSON object, is one the file was cut inside:
    it starts as an object does and breaks at its very end (not in its middle), as
    ``servicelens.ingest.mapping`` tells a cut JSON Lines delivery."""
    line = text.strip().lstrip("\ufeff")
    if not line.startswith("{"):
        return False
    try:
        json.loads(line)
    except json.JSONDecodeError as error:
        return not line[error.pos :].strip() or not line.endswith("}")
    return False


def _decode_lines_exact(
    lines: pl.DataFrame, schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, list[Reject]]:
    """The rows (``schema``'s columns and ``source_line``) and rejects of ``lines``
    (``source_line``, ``text``), each decoded by :func:`_decode_json_exact`: a blank line is
    no record; a line that is not an object from "{" to "}" (blanks around it allowed) is a
    reject, "not a complete object" (a cut-off line, usually)."""
    empty = pl.DataFrame(schema={**schema, "source_line": pl.Int64})
    if lines.is_empty():
        return empty, []
    stripped = pl.col("text").str.strip_chars()
    shaped = lines.filter(stripped != "").with_columns(
        (stripped.str.starts_with("{") & stripped.str.ends_with("}")).alias("candidate")
    )
    rejects = [
        Reject(int(line), text, "malformed JSON: not a complete object")
        for line, text in shaped.filter(~pl.col("candidate"))
        .select("source_line", "text")
        .iter_rows()
    ]
    candidates = shaped.filter(pl.col("candidate"))
    if candidates.is_empty():
        return empty, rejects
    decoded, more = _decode_json_exact(candidates, schema)
    return decoded.select(pl.col("row").struct.unnest(), "source_line"), rejects + more


#: The text polars' JSON decoder writes into a String column for a JSON value that is not
#: a string: a number (``1.5``, ``100`` for ``1e2``), ``true``/``false``.
_TEXT_OF_A_NON_STRING = (
    r"^(?:-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|(?s:\{.*\})|(?s:\[.*\]))$"
)


def _lines_holding_text_that_was_not(
    lines: pl.LazyFrame, maybe: pl.Series, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """Of the lines numbered ``maybe``, those (``source_line``, ``text``) that give a text
    field of ``schema`` a value that was not a JSON string, or write a key with an escape
    (:func:`_not_plainly_text`): polars' decoder reads such a value as its JSON text
    (``123`` becomes ``"123"``) where the exact decoder rejects it.

    ``maybe`` are the rows whose text values could be such a value's text (a number,
    true): few in the usual export, and only their lines are matched, in a second streaming
    pass: matching every line in the first cost 0.6 s of CPU for a 520 MB export."""
    return (
        lines.filter(pl.col("source_line").is_in(maybe.implode()))
        .filter(pl.col("text").str.contains(_not_plainly_text(schema)))
        .select("source_line", "text")
        .collect(engine="streaming")
    )


def _not_plainly_text(schema: dict[str, pl.DataType]) -> str:
    """A regular expression that finds, in one JSON line, a text field of ``schema`` given
    anything but a JSON string or null, or any key written with an escape.

    polars' NDJSON reader reads such a value into a String column as JSON text (``123``
    becomes ``"123"``, ``{"a":  1}`` is re-serialised as ``{"a": 1}``), where the exact
    decoder (:func:`_contract_row`) rejects it; a key with an escape (``"\\u0069d"``)
    may name a field the pattern does not see. A line this finds sends its file to the
    exact decoder (:func:`_lines_holding_text_that_was_not` runs it on the lines that may hold one).
    """
    return _not_plainly_text_of(
        tuple(name for name, dtype in schema.items() if dtype == pl.String())
    )


@functools.cache
def _not_plainly_text_of(fields: tuple[str, ...]) -> str:
    keys = "|".join(re.escape(json.dumps(name)) for name in fields)
    # A key is a quote right after "{" or "," (and blanks): inside a JSON string every
    # quote is escaped, so this never matches within a value. A value that is not plainly
    # text starts with anything but a quote or "null". A nested object's key can match
    # too; that only sends the file to the exact path, whose answer is the same.
    not_text_or_null = r'(?:[^"n\s]|n(?:[^u]|u[^l]|ul[^l]))'
    escaped_key = r'"[^"\\]*\\'
    return rf"[{{,]\s*(?:(?:{keys})\s*:\s*{not_text_or_null}|{escaped_key})"


def _numbered_lines(buf: bytes | str, split_here: bool) -> pl.LazyFrame:
    """The lines of ``buf`` (bytes, or a file's path) as ``text`` with their 1-based
    ``source_line``, blank ones too. ``split_here`` (bytes only) splits in Python."""
    if not split_here:
        return pl.scan_lines(
            buf, name="text", row_index_name="source_line", row_index_offset=1
        ).with_columns(pl.col("source_line").cast(pl.Int64))
    # polars' line reader drops the "\r" of a CRLF line ending; a file with any "\r" is split
    # here instead, so a rejected line's text is kept exactly as it is in the file.
    assert isinstance(buf, bytes), "a file with CR line ends is read into memory"
    return (
        pl.DataFrame({"text": [buf.decode("utf-8")]})
        .lazy()
        .select(pl.col("text").str.split("\n").explode())
        .with_row_index("source_line", offset=1)
        .with_columns(pl.col("source_line").cast(pl.Int64))
    )


class _JsonSource:
    """The UTF-8 text of an NDJSON export, read by byte range."""

    size: int

    def lines_input(self) -> bytes | str:
        """What polars' line scanner reads: the bytes, or the file's path."""
        raise NotImplementedError

    def read(self, begin: int, end: int) -> bytes | memoryview:
        raise NotImplementedError

    def whole(self) -> bytes | None:
        """The text as one ``bytes`` object without copying it, if it is held as one."""
        return None

    def check_unchanged(self) -> None:
        """Raise :class:`SourceError` if the text changed since it was opened."""

    def close(self) -> None:
        """Let go of the text (or the file)."""


class _InMemory(_JsonSource):
    def __init__(self, data: bytes) -> None:
        self.data: bytes | None = data
        self.size = len(data)

    def lines_input(self) -> bytes:
        assert self.data is not None
        return self.data

    def read(self, begin: int, end: int) -> memoryview:
        assert self.data is not None
        return memoryview(self.data)[begin:end]

    def whole(self) -> bytes | None:
        return self.data

    def close(self) -> None:
        self.data = None


class _PlainUtf8File(_JsonSource):
    """A local file whose bytes are its UTF-8 text as they are: no BOM, no UTF-16, no CR
    (polars' line scanner drops a CR the rejects must keep), and valid UTF-8. Checked a
    slice at a time, so the file is never held whole."""

    def __init__(self, path: Path, size: int, stamp: tuple[int, int]) -> None:
        self.path = path
        self.size = size
        self.stamp = stamp
        self.handle = path.open("rb")

    @classmethod
    def open(cls, location: str) -> _PlainUtf8File | None:
        path = as_path(location)
        if not isinstance(path, Path) or not path.is_file():
            return None
        info = path.stat()
        with path.open("rb") as handle:
            head = handle.read(4096)
            # A BOM or UTF-16 is decoded in memory; an archive is unpacked first.
            marks = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            if head.startswith((*marks, GZIP_SIGNATURE, *ZIP_SIGNATURES)):
                return None
            if _unmarked_utf16(head):
                return None
            # Checked while it was hashed (sha256_checking_text), or read now to check it.
            with _TEXT_CHECKS_LOCK:
                checked = _TEXT_CHECKED_WHILE_HASHED.get(_stamp(path, info))
            handle.seek(0)
            valid, carriage_return = checked or _utf8_and_cr(handle)
            if not valid or carriage_return:
                return None
        return cls(path, info.st_size, (info.st_size, info.st_mtime_ns))

    def lines_input(self) -> str:
        return str(self.path)

    def read(self, begin: int, end: int) -> bytes:
        self.check_unchanged()
        self.handle.seek(begin)
        return self.handle.read(end - begin)

    def check_unchanged(self) -> None:
        info = self.path.stat()
        if (info.st_size, info.st_mtime_ns) != self.stamp:
            raise SourceError(
                f"{self.path}: the file changed while it was being read; run the date again "
                "once the export is complete"
            )

    def close(self) -> None:
        self.handle.close()


@dataclass(frozen=True)
class _FastRead:
    """What polars' decoder made of an NDJSON text (:func:`_decode_json_fast`)."""

    #: The rows it decoded as the exact decoder would (``schema``'s columns and
    #: ``source_line``), those ``keep`` selects, in line order.
    rows: pl.DataFrame
    #: Every other line (``source_line``, ``text``): blank, not plainly an object, or one
    #: whose values polars could have read otherwise than the exact decoder.
    others: pl.DataFrame
    #: How many rows it decoded before ``keep``.
    decoded: int


def _decode_json_fast(
    lines: Callable[[], pl.LazyFrame],
    schema: dict[str, pl.DataType],
    keep: pl.Expr | None,
) -> _FastRead | None:
    """Decode the lines (``lines()``: ``source_line`` and ``text``, :func:`_numbered_lines`)
    that are plainly an object ("{...}") with polars' JSON decoder in one streaming pass,
    keeping the rows ``keep`` selects; None when the decoder refuses a line (one it cannot
    parse, or a value of a type it cannot convert), for the exact decoder to read them all.

    polars' decoder reads some values silently where the exact decoder
    (:func:`_contract_row`) rejects or reads them otherwise, and those lines go to
    :attr:`_FastRead.others` for the exact decoder, whatever ``keep`` says:

    * a number with a fraction in an Int64 field (polars truncates ``2.5`` to 2), or a whole
      number beyond 2**53 or Int64's range (polars gives null): Int64 fields are decoded as
      Float64 and a line is kept only while every value is whole and below 2**53, which a
      float holds exactly; a whole number written as a float (``1.0``, as pandas writes an
      integer column holding a missing value) is read here, and cast back;
    * ``true`` or ``false`` in a number field (polars reads 1 or 0): a line writing more
      ``true``/``false`` than its Boolean fields hold;
    * a number or boolean in a text field (polars writes its JSON text), or a key written
      with an escape: :func:`_lines_holding_text_that_was_not`.

    The property test ``test_jsonl_fast_and_exact_paths_agree_on_any_values`` holds the two
    decoders to the same answer on random objects. Against the two passes this replaced
    (the lines' shapes first, then polars' NDJSON reader on the file's pieces with the bad
    lines blanked out), a 520 MB export took 2.9 s of CPU instead of 3.4.
    """
    whole = [name for name, dtype in schema.items() if dtype == pl.Int64()]
    numbers = [name for name, dtype in schema.items() if dtype in (pl.Int64(), pl.Float64())]
    flags = [name for name, dtype in schema.items() if dtype == pl.Boolean()]
    texts = [name for name, dtype in schema.items() if dtype == pl.String()]
    as_floats = {name: pl.Float64() if name in whole else dtype for name, dtype in schema.items()}
    plainly = pl.col("text").str.starts_with("{") & pl.col("text").str.ends_with("}")
    read_apart = [
        pl.col(name).is_not_null()
        & ((pl.col(name).floor() != pl.col(name)) | (pl.col(name).abs() >= _EXACT_IN_A_FLOAT))
        for name in whole
    ]
    if numbers:
        written = pl.col("text").str.count_matches("true|false")
        read_apart.append(written > pl.sum_horizontal(0, *(pl.col(f).is_not_null() for f in flags)))
    maybe_not_text = [pl.col(name).str.contains(_TEXT_OF_A_NON_STRING) for name in texts]
    wanted = pl.lit(True) if keep is None else keep
    read = (
        lines()
        .with_columns(plainly.alias("_plainly"))
        # Decoded once into a struct, then unnested: unnesting the expression itself
        # decoded every line once per field (24 s of CPU instead of 2.9 for 520 MB).
        .with_columns(
            pl.when("_plainly")
            .then(pl.col("text"))
            .str.json_decode(pl.Struct(as_floats))
            .alias("_row")
        )
        .with_columns(pl.col("_row").struct.unnest())
        .with_columns(
            (pl.col("_plainly") & pl.any_horizontal(False, *read_apart)).alias("_apart"),
            (pl.col("_plainly") & pl.any_horizontal(False, *maybe_not_text)).alias("_maybe"),
        )
        .with_columns(pl.col(whole).cast(pl.Int64, strict=False), wanted.alias("_wanted"))
    )
    # Three outputs of one pass (polars shares the decoding between them): the rows, the
    # other lines, and the count of all lines. Filtering one output into rows and other
    # lines afterwards copied a whole export's rows: 0.4 s of CPU for 520 MB.
    plain = pl.col("_plainly") & ~pl.col("_apart")
    queries = [
        read.filter(plain & (pl.col("_maybe") | pl.col("_wanted"))).select(
            *schema, "source_line", "_maybe", "_wanted"
        ),
        read.filter(~plain).select("source_line", "text"),
        read.select(pl.len()),
    ]
    try:
        rows, others, counted = pl.collect_all(queries, engine="streaming")
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, ValueError):
        return None
    taken = pl.col("_wanted")
    maybe = rows.filter(pl.col("_maybe")).get_column("source_line")
    moved = pl.DataFrame()
    if not maybe.is_empty():
        moved = _lines_holding_text_that_was_not(lines(), maybe, schema)
        if not moved.is_empty():
            taken &= ~pl.col("source_line").is_in(moved.get_column("source_line").implode())
            others = pl.concat([others, moved]).sort("source_line")
    if keep is not None or not moved.is_empty():
        rows = rows.filter(taken)
    return _FastRead(
        rows=rows.drop("_maybe", "_wanted"),
        others=others,
        decoded=int(counted.item()) - others.height,
    )


def _decode_json_exact(
    candidates: pl.DataFrame, schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, list[Reject]]:
    """Decode each line of ``candidates`` (``text``, ``source_line``) with Python's JSON
    decoder into a ``row`` struct of ``schema``, line by line: a line that is not a JSON
    object, or whose field does not fit the contract (:func:`_contract_row`), is a reject
    naming the field, the value as written and what the field takes."""
    good_rows: list[dict[str, object]] = []
    good_lines: list[int] = []
    rejects: list[Reject] = []
    for text, line in candidates.select("text", "source_line").iter_rows():
        try:
            value = json.loads(text, object_pairs_hook=_first_of_each_key, parse_float=_JsonNumber)
        except json.JSONDecodeError as error:
            rejects.append(Reject(int(line), text, f"malformed JSON: {error.msg}"))
            continue
        if not isinstance(value, dict):
            rejects.append(Reject(int(line), text, "malformed JSON: not an object"))
            continue
        row = _contract_row(value, schema)
        if isinstance(row, str):
            rejects.append(Reject(int(line), text, f"malformed JSON: {row}"))
            continue
        good_rows.append(row)
        good_lines.append(int(line))
    frame = pl.DataFrame(good_rows, schema=schema, strict=False)
    decoded = pl.DataFrame(
        {"row": frame.to_struct("row"), "source_line": pl.Series(good_lines, dtype=pl.Int64)}
    )
    return decoded, rejects


def _first_of_each_key(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose key appears twice keeps its first value, as polars' reader (the
    fast path) does; Python's own decoder keeps the last."""
    return dict(reversed(pairs))


class _JsonNumber(float):
    """A JSON number written with a fraction or an exponent (``2.0``, ``2e0``): its value
    as a float, and its ``literal``, from which a whole number a float cannot hold exactly
    (beyond 2**53) is read."""

    __slots__ = ("literal",)
    literal: str

    def __new__(cls, literal: str) -> _JsonNumber:
        number = super().__new__(cls, literal)
        number.literal = literal
        return number


#: Below this magnitude a float holds every whole number exactly (2**53).
_EXACT_IN_A_FLOAT = 2**53
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT64_MAX = int(sys.float_info.max)
#: What a field of each type takes, as a reject's reason says it.
_TAKES = {
    pl.Boolean(): "true or false",
    pl.Int64(): "a whole number",
    pl.Float64(): "a number",
}


def _contract_row(
    value: dict[str, object], schema: dict[str, pl.DataType]
) -> dict[str, object] | str:
    """The values of ``schema``'s fields in the JSON object ``value`` (a missing field or
    null is None), or the reason the first field that does not fit its type is refused: a
    value of another JSON type, a number with a fraction for an Int64 field, a whole number
    outside Int64 (-2**63 to 2**63 - 1) or beyond Float64's range (about 1.8e308).

    An Int64 field takes a whole number however it is written: ``2``, ``2.0``, ``2e0`` (as
    pandas writes an integer column that holds a missing value); ``-0.0`` is 0. A number
    written with a fraction or exponent is the float nearest its literal while that is
    below 2**53 (so ``1.0000000000000001``, which a float cannot tell from 1, is 1, as
    polars' reader reads it on the fast path); beyond, where floats skip whole numbers, it
    is read exactly from its literal (``9007199254740993.0`` is 9007199254740993)."""
    row: dict[str, object] = {}
    for name, dtype in schema.items():
        item = value.get(name)
        if item is None:
            row[name] = None
            continue
        typed: object = None
        problem = None
        if dtype == pl.Boolean():
            typed = item if isinstance(item, bool) else None
        elif dtype == pl.Int64():
            typed, problem = _whole_number(item)
        elif dtype == pl.Float64():
            if isinstance(item, int | float) and not isinstance(item, bool):
                if isinstance(item, int) and abs(item) > _FLOAT64_MAX:
                    problem = f"is out of range for {dtype}"
                else:
                    typed = float(item)
        else:
            typed = item if isinstance(item, str) else None
        if problem is None and typed is None:
            problem = f"is not {_TAKES.get(dtype, 'a string (text in double quotes)')}"
        if problem is not None:
            return f"field {name!r}: {_as_written(item)} {problem}"
        row[name] = typed
    return row


def _whole_number(item: object) -> tuple[int | None, str | None]:
    """The whole number a JSON value is, for an Int64 field (see :func:`_contract_row`),
    or None and why not when it is out of Int64's range (None alone: not a whole number)."""
    if isinstance(item, bool) or not isinstance(item, int | float):
        return None, None
    if isinstance(item, _JsonNumber):
        if abs(item) < _EXACT_IN_A_FLOAT:
            return (int(item), None) if item.is_integer() else (None, None)
        exact = decimal.Decimal(item.literal)
        if not _INT64_MIN <= exact <= _INT64_MAX:
            return None, f"is out of range for {pl.Int64()}"
        return (int(exact), None) if exact == exact.to_integral_value() else (None, None)
    assert isinstance(item, int)
    if not _INT64_MIN <= item <= _INT64_MAX:
        return None, f"is out of range for {pl.Int64()}"
    return item, None


def _as_written(item: object, limit: int = 60) -> str:
    """A JSON value as the export wrote it (``true``, ``"12"``, ``2.50``), for a reason;
    one longer than ``limit`` characters is cut short."""
    text = item.literal if isinstance(item, _JsonNumber) else json.dumps(item, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_plain_csv(path: str | DataPath) -> pl.DataFrame:
    """Read a small reference or label file (policies, audits) whose lines need no tracking."""
    result = read_csv_with_lines(path)
    if result.rejects:
        first = result.rejects[0]
        raise SourceError(f"{path}: line {first.line}: {first.reason}: {first.text!r}")
    return result.frame
