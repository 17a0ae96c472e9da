"""Fit a source definition to an export: read the file, then map its columns onto the
canonical contract as text, ready for the same cleaning and validation as every source.

Reading (:func:`read_export`) goes through the line-numbered readers of
:mod:`servicelens.ingest.readers` whatever the format, so every row keeps its file and
physical line and every record that cannot be read is a reject with its reason. Mapping
(:func:`map_export`) only renames, fills constants, applies null tokens and value maps, and
derives ids; parsing into types is :func:`transforms.clean.normalise_surveys`' job, so a bad
value is quarantined there with the text the export really held.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from servicelens.ingest.definitions import (
    BUILT_IN_DIR,
    TIMESTAMP_COLUMNS,
    DefinitionError,
    SourceDefinition,
)
from servicelens.ingest.readers import (
    TITLE_SEARCHED,
    XLS_SIGNATURE,
    XLSX_SIGNATURE,
    CsvDialect,
    EmptyFile,
    RawRead,
    Reject,
    SourceError,
    column_key,
    column_names,
    columns_a_missing_one_may_be,
    decode_export,
    decode_to_utf8,
    delivered_format,
    header_excerpt,
    read_csv_with_lines,
    repaired_text,
    sniff_delimiter,
    title_above_header,
    unnamed_column_number,
    unpack_delivery,
)
from servicelens.storage.fs import DataPath, read_bytes
from servicelens.validation.reasons import SET_ASIDE_FORMAT
from transforms.clean import (
    FLAG_NO,
    FLAG_YES,
    MONTH_NAME_CODES,
    ROW_FLAG_COLUMNS,
    ParseOptions,
    english_month_names,
    time_to_the_minute,
)
from transforms.formatting import formatted_text
from transforms.pii import redact_pii_by_value
from transforms.schemas import RAW_SURVEY_COLUMNS

#: Columns the mapping adds beside the canonical ones.
EXCLUDED = "_excluded"


def read_export(definition: SourceDefinition, path: str | DataPath) -> RawRead:
    """Read one export as the definition's ``[read]`` says: CSV (any delimiter, header
    rows, encoding), xlsx (fastexcel) or JSON records; ``format = "auto"`` reads each file
    as the format its content is (:func:`delivered_format`: a workbook as xlsx, JSON when
    it opens with ``[`` or ``{``, else CSV), the read's :attr:`RawRead.format` saying which.
    Raises SourceError naming the file, and saying so when a CSV source's file is JSON."""
    if not Path(str(path)).exists() and "://" not in str(path):
        raise SourceError(f"{path}: input file not found")
    fmt = definition.read.format
    if fmt in ("csv", "auto"):
        found, shape = delivered_format(path)
        if found == "json" and fmt == "csv":
            raise SourceError(_json_given_to_csv(str(path), shape, definition))
        # A csv source's workbook is refused by the CSV reader, saying what it is.
        fmt = found if fmt == "auto" or found == "json" else fmt
    if fmt == "xlsx":
        read = read_xlsx_with_lines(path, definition)
        read.format = "xlsx"
        return read
    if fmt == "json":
        read = read_json_records(path, definition.read.records)
        read.format = "json"
        return read
    try:
        return read_csv_with_lines(path, dialect=definition.read.dialect)
    except SourceError as error:
        # Found by a user trial: a Typeform export dropped into the cfpb source's inbox was
        # told about mojibake and code pages for the cfpb definition. Whose export the file
        # is comes first: a header that does not fit is said so, as for a UTF-8 file.
        headers = _header_in_each_code_page(str(path), definition.read.dialect)
        if headers:
            everywhere = missing_columns(definition, [n for names in headers for n in names])
            # Told only when no reading of the header fits, by the first that decodes.
            if everywhere and everywhere == missing_columns(definition, headers[0]):
                map_export(
                    definition, RawRead(str(path), "unknown", headers[0], pl.DataFrame()), "UTC"
                )
        raise error


def _json_given_to_csv(path: str, shape: str, definition: SourceDefinition) -> str:
    """The refusal of a JSON file given to a source whose definition reads CSV: what the
    file is, what the source reads, and the two ways on (found by a user trial: the CFPB's
    JSON download was told its header has one column, ``'['``)."""
    return (
        f"{path}: line 1: this file is JSON ({shape}); source {definition.name} reads CSV "
        f'(format = "csv" in the [read] of {definition.path}). Deliver the '
        'source\'s CSV export instead, or read both with format = "auto" in the [read] of '
        f'a definition of your own with extends = "{definition.name}" (each file read as '
        'the format its content is; format = "json" reads JSON alone; docs/sources.md)'
    )


#: The encodings a header is read in when the file could not be (utf-8 first; latin-1 reads
#: any byte): a column it names in any of them is not missing.
HEADER_ENCODINGS = ("utf-8", "cp1252", "cp850", "mac_roman", "latin-1")


def _header_in_each_code_page(path: str, dialect: CsvDialect) -> list[list[str]]:
    """The names of the first record of a delimited file that could not be decoded, read
    in each of :data:`HEADER_ENCODINGS` that decodes the file's head (latin-1 always does),
    in that order, each reading followed by its double-encoded names repaired
    (:func:`~servicelens.ingest.readers.repaired_text`) where that changes one; empty when
    the file cannot be opened or split. Named as the reader names a header
    (:func:`~servicelens.ingest.readers.column_names` under ``dialect``: a repeated name
    gets ``_2``), so a definition reading the second of two ``Other`` columns as
    ``Other_2`` is not told that the export lacks it (a trial's first message) before the
    file's code page."""
    try:
        raw, _ = unpack_delivery(path, read_bytes(path))
        delimiter = sniff_delimiter(path, raw)
    except (SourceError, OSError):
        return []
    headers: list[list[str]] = []
    for encoding in HEADER_ENCODINGS:
        try:
            head = raw[:65536].decode(encoding)
        except UnicodeDecodeError as error:
            if error.start < 65536 - 4:  # not a character the 64 KiB cut in two
                continue
            head = raw[: error.start].decode(encoding)
        first = next(
            csv.reader(io.StringIO(head.lstrip("\ufeff"), newline=""), delimiter=delimiter), None
        )
        if first:
            headers.append(column_names([first], dialect))
            # Its double-encoded names repaired too: found by a user trial, a Typeform
            # export re-saved in cp850 ("Tell us moreÂ\xa0about what happened" as cp850
            # reads it) was told to map the damaged name, never that the file is in cp850.
            repaired = column_names([list(map(repaired_text, first))], dialect)
            if repaired != headers[-1]:
                headers.append(repaired)
    return headers


def _check_is_workbook(path: str, data: bytes) -> None:
    """Refuse a file that is not an Excel workbook by what it is, before the workbook
    library says only that it cannot detect the format."""
    if not data:
        raise EmptyFile(f"{path}: the file is empty (0 bytes); expected an Excel workbook", 0)
    if data.startswith((XLSX_SIGNATURE, XLS_SIGNATURE)):
        return
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        # A JSON export given a workbook's definition (a trial's, to the Forms preset).
        raise SourceError(
            f"{path}: not an Excel workbook: it is JSON text. Read it with a definition of "
            'format = "json" in its [read] (the zendesk preset is one), or export the '
            "responses as .xlsx"
        )
    what = (
        "it is text (a CSV export?)"
        if b"\x00" not in data[:4096]
        else f"it begins {data[:8]!r}, neither an .xlsx nor an .xls"
    )
    raise SourceError(
        f"{path}: not an Excel workbook: {what}. Export the responses as .xlsx, or read a "
        'CSV with format = "csv" in the definition\'s [read]'
    )


def workbook_sheet_names(data: bytes) -> list[str] | None:
    """The sheet names of a workbook's bytes, in order; None when it cannot be opened."""
    import fastexcel

    try:
        return list(fastexcel.read_excel(data).sheet_names)
    except Exception:  # fastexcel raises its own types for a broken workbook
        return None


def _first_line(error: BaseException) -> str:
    """An error's message without the library's context lines."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


#: A time-of-day cell as calamine writes it: on Excel's epoch day (1899-12-30 or -31).
_EXCEL_TIME_OF_DAY = r"^1899-12-3[01] (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$"
#: A date cell as calamine writes it: the date at midnight.
EXCEL_DATE = r"^(\d{4}-\d{2}-\d{2}) 00:00:00$"


def read_xlsx_with_lines(path: str | DataPath, definition: SourceDefinition) -> RawRead:
    """Read the sheet of an .xlsx workbook the definition's ``[read]`` names as text
    (:func:`read_workbook_with_lines`)."""
    return read_workbook_with_lines(path, definition.read.sheet, definition.read.dialect)


def read_workbook_with_lines(
    path: str | DataPath, sheet: str | int, dialect: CsvDialect, first_row: int = 1
) -> RawRead:
    """Read one sheet of a workbook (.xlsx, .xlsm, .xls or .ods: polars with the
    fastexcel/calamine engine) as text: ``sheet`` a 0-based index or a name, ``dialect``'s
    ``header_rows`` the rows the header takes (``names`` and case as for a CSV). A row's
    ``source_line`` is its row number as the spreadsheet shows it (1 for the first row,
    blank rows above the data counted: calamine starts its grid at the first used row).
    Rows before ``first_row`` are left out, as if blank. A title above the header (one
    cell, the next row naming columns: :func:`_title_row`) is skipped, as a CSV's is, and
    kept in ``title``; ``sheet`` of the result is the sheet's name. Blank rows are skipped.
    A date cell reads ``2026-11-28 00:00:00``, a date and time cell ``2026-11-28
    14:05:00``, a time-of-day cell ``14:05:00``; a number cell as its number.

    Raises SourceError naming the file: not a workbook, damaged, no such sheet, or the
    sheet empty."""
    data = read_bytes(str(path))
    _check_is_workbook(str(path), data)
    try:
        grid = pl.read_excel(
            data,
            sheet_id=sheet + 1 if isinstance(sheet, int) else None,
            sheet_name=sheet if isinstance(sheet, str) else None,
            engine="calamine",
            has_header=False,
            infer_schema_length=0,
            drop_empty_rows=False,
            drop_empty_cols=False,
            raise_if_empty=False,
            # From the sheet's first row, not its first used one: a row's number is the
            # one Excel shows (a sheet starting on row 3 had its rows numbered from 1).
            read_options={"skip_rows": 0},
        )
    except Exception as error:  # fastexcel raises its own types for a broken workbook
        sheets = workbook_sheet_names(data)
        if sheets is None:
            raise SourceError(
                f"{path}: the workbook cannot be read; it may be cut short or damaged "
                f"({_first_line(error)}). Export it again"
            ) from error
        if (isinstance(sheet, int) and not 0 <= sheet < len(sheets)) or (
            isinstance(sheet, str) and sheet not in sheets
        ):
            raise SourceError(
                f"{path}: the workbook has no sheet {sheet!r}; its sheets are {sheets} (count "
                "from 0, or give a name). Fix `sheet` in the definition's [read]"
            ) from error
        raise SourceError(
            f"{path}: cannot read sheet {sheet!r} of the workbook ({_first_line(error)}); "
            "export the sheet as CSV"
        ) from error
    assert isinstance(grid, pl.DataFrame)
    # calamine writes a time-of-day cell (Excel's h:mm:ss) as that time on its 1899 epoch
    # day: it is the time alone, as the definition's unit or a date + time pair reads it.
    grid = grid.select(pl.all().cast(pl.String).str.replace(_EXCEL_TIME_OF_DAY, "$1"))
    rows = grid.rows()
    blank = [
        i + 1 < first_row or all(v is None or str(v).strip() == "" for v in row)
        for i, row in enumerate(rows)
    ]
    from servicelens.ingest.readers import column_names

    title = _title_row(rows, blank)
    if title is not None:
        blank[title[0] - 1] = True
    header_records: list[list[str]] = []
    index = 0
    while index < len(rows) and len(header_records) < dialect.header_rows:
        if not blank[index]:
            header_records.append(["" if v is None else str(v) for v in rows[index]])
        index += 1
    if not header_records:
        raise SourceError(f"{path}: sheet {sheet!r} is empty; expected a header row")
    header = column_names(header_records, dialect)
    body = [(i + 1, row) for i, row in enumerate(rows) if i >= index and not blank[i]]
    frame = pl.DataFrame(
        {name: [r[j] for _, r in body] for j, name in enumerate(header)},
        schema=dict.fromkeys(header, pl.String),
    ).with_columns(
        pl.Series("source_file", [str(path)] * len(body), dtype=pl.String),
        pl.Series("source_line", [line for line, _ in body], dtype=pl.Int64),
    )
    if isinstance(sheet, int):
        sheet = (workbook_sheet_names(data) or [str(sheet)])[sheet]
    return RawRead(str(path), "xlsx", header, frame, [], 0, index, None, title=title, sheet=sheet)


def _title_row(rows: list[tuple[object, ...]], blank: list[bool]) -> tuple[int, str] | None:
    """The row (as the sheet numbers it) and text of a title above a sheet's header
    (:func:`~servicelens.ingest.readers.title_above_header`, as a CSV's is found): the first
    two rows holding text among the sheet's first ones, the first a title of one cell. A
    trial's workbook with a title in A1 was read with the title as its header. The title is
    judged by its cells, whatever characters it holds (``Export, November 2026``)."""
    filled = [i for i in range(min(len(rows), TITLE_SEARCHED)) if not blank[i]][:2]
    if len(filled) < 2:
        return None
    first, second = ([("" if v is None else str(v)) for v in rows[i]] for i in filled)
    if not title_above_header(first, second, workbook=True):
        return None
    return filled[0] + 1, next(cell for cell in first if cell.strip()).strip()


def json_value_text(value: object) -> str | None:
    """A JSON value as a record's text field: null as None, a boolean as ``true``/``false``,
    a whole number written as a float as its digits, a list or object as JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        # 35436.0 (an id as a tool that keeps numbers as floats writes it, pandas say) is
        # the 35436 another delivery writes: the same text, so the same response.
        return str(int(value))
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _json_problem(path: str, text: str, error: json.JSONDecodeError) -> str:
    """What is wrong with an export that is not one JSON document, in one line: another
    format (a CSV, a spreadsheet's text), a file cut off
    (the error at its very end, or no closing bracket last), or broken JSON at a place."""
    where = f"{path}: line {error.lineno}"
    start = text.lstrip("\ufeff \t\r\n")[:1]
    if start not in ("{", "[", ""):
        first = text.lstrip().splitlines()[0][:60] if text.strip() else ""
        return (
            f"{path}: line 1: not JSON: it starts {first!r}. This source's definition reads "
            "JSON ([read] format); deliver its JSON export, or use a definition for this "
            'file\'s format (format = "auto" reads each file as the format its content is, '
            "CSV, JSON or a workbook)"
        )
    if not text[error.pos :].strip() or not text.rstrip().endswith(("}", "]")):
        return (
            f"{where}: not valid JSON ({error.msg}), and the file stops before its last "
            "bracket closes: the delivery looks truncated; ask for the complete file"
        )
    return (
        f"{where} column {error.colno}: not valid JSON ({error.msg}); the file is damaged "
        "there: ask for the export again"
    )


def _is_json_lines(text: str) -> bool:
    """Whether ``text`` (which is not one JSON document) is JSON Lines: more than one
    non-empty line, the first a JSON object or list alone (a line further on may be
    broken: it is that line's reject, not the file's)."""
    lines = (line for line in text.splitlines() if line.strip())
    first, second = next(lines, None), next(lines, None)
    if first is None or second is None:
        return False
    try:
        return isinstance(json.loads(first), dict | list)
    except json.JSONDecodeError:
        return False


def _json_lines_records(
    path: str, text: str, key: str | None, encoding: str, unpacked_from: str | None
) -> RawRead:
    """The records of a JSON Lines export (one JSON document per line, as Zendesk's and
    many APIs' exports write them): a line holding an object is a record, or, when it holds
    the list under ``key`` (a page of a paged export), each object of that list is one; a
    line that is not JSON, or not an object, is a reject naming its line. Found by a trial:
    a Zendesk JSON Lines export was refused whole ("deliver the export as one document")."""
    records: list[dict[str, str | None]] = []
    lines: list[int] = []
    rejects: list[Reject] = []
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    for number, line in numbered:
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            if number == numbered[-1][0] and _line_is_cut(line, error):
                found, cut = _records_of_a_cut_line(line, key)
                records += found
                lines += [number] * len(found)
                rejects += [replace(r, line=number) for r in cut]
                continue
            rejects.append(Reject(number, line, f"malformed record: not valid JSON ({error.msg})"))
            continue
        if isinstance(value, dict) and key is not None and isinstance(value.get(key), list):
            found = value[key]
        else:
            found = [value]
        for item in found:
            if isinstance(item, dict):
                records.append({str(k): json_value_text(v) for k, v in item.items()})
                lines.append(number)
            else:
                rejects.append(Reject(number, line, "malformed record: not an object"))
    return _records_read(path, encoding, records, lines, rejects, unpacked_from)


def _line_is_cut(line: str, error: json.JSONDecodeError) -> bool:
    """Whether the last line of a JSON Lines export, not valid JSON (``error``), is a
    record the file ends inside (a download interrupted): it starts as a document does and
    breaks at its very end, or stops before its closing bracket, as :func:`_json_problem`
    tells a cut JSON document. A line broken in its middle, or not JSON at all, is not."""
    if not line.lstrip("\ufeff \t").startswith(("{", "[")):
        return False
    return not line[error.pos :].strip() or not line.rstrip().endswith(("}", "]"))


def _records_of_a_cut_line(
    line: str, key: str | None
) -> tuple[list[dict[str, str | None]], list[Reject]]:
    """The records and the reject of the last line of a JSON Lines export, cut off
    (:func:`_line_is_cut`): a page of records (the list under ``key``) keeps the records
    read whole before the cut, and the record cut is the reject, its text from its own
    start (so the id told of it is its own, not the page's first record's); a line holding
    one record is the reject whole. Rejects are :data:`CUT_OFF_RECORD`, truncated, their
    line 1 (the caller numbers them). Found by a trial: a JSON Lines download cut in its
    last line was quarantined as "not valid JSON" only, its truncation not told."""
    start = None if key is None else re.search(rf'"{re.escape(key)}"\s*:\s*\[', line)
    if start is None:
        return [], [Reject(1, line, CUT_OFF_RECORD, truncated=True)]
    records, _, rejects = _list_items(line, start.end())
    return records, rejects


def _records_read(
    path: str,
    encoding: str,
    records: list[dict[str, str | None]],
    lines: list[int],
    rejects: list[Reject],
    unpacked_from: str | None,
) -> RawRead:
    """JSON ``records`` (text values) read from their ``lines`` as a RawRead of text
    columns, one per field any record has."""
    header = list(dict.fromkeys(k for r in records for k in r))
    frame = pl.DataFrame(
        {name: [r.get(name) for r in records] for name in header},
        schema=dict.fromkeys(header, pl.String),
    ).with_columns(
        pl.Series("source_file", [path] * len(records), dtype=pl.String),
        pl.Series("source_line", lines, dtype=pl.Int64),
    )
    return RawRead(path, encoding, header, frame, rejects, 0, 0, None, unpacked_from=unpacked_from)


def no_records_text(key: str | None) -> str:
    """What a JSON delivery whose list of records (under ``key``, or the top-level list) is
    there and empty is: whole, and normal (a paged export's last page, a period without
    ratings), so nothing is asked of the sender. Said alike by ``sources check`` and by the
    nightly run's landing (a trial's empty last page was told to ask for "the complete
    export" by one and refused with exit 2 by the other)."""
    listed = f"its list {key!r}" if key else "its list of records"
    return (
        f"the file holds no records ({listed} is empty, as a paged export's last page, or a "
        "period without any, has it): nothing to land, and nothing to ask the sender for"
    )


#: The reason of the record a truncated JSON delivery ends inside.
CUT_OFF_RECORD = (
    "malformed record: cut off, the delivery ends inside it (the file looks truncated): "
    "ask for the complete file; the records before it are read"
)


def _records_of_a_cut_file(text: str, key: str | None, error: json.JSONDecodeError) -> int | None:
    """Where the records of a JSON delivery cut short start (just inside the list's ``[``),
    when the file looks truncated (the error at its very end, or no closing bracket last)
    and its list of records can be found (under ``key``, or a top-level list); else None.

    Found by a trial: a Zendesk page cut off in its third record was refused whole, losing
    its complete records, where a CSV export keeps the records before a truncated last
    one."""
    if text[error.pos :].strip() and text.rstrip().endswith(("}", "]")):
        return None  # damaged in the middle: the file is refused, naming the place
    if key is not None:
        start = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
        return None if start is None else start.end()
    stripped = text.lstrip("\ufeff \t\r\n")
    return len(text) - len(stripped) + 1 if stripped.startswith("[") else None


def _list_items(
    text: str, position: int
) -> tuple[list[dict[str, str | None]], list[tuple[int, int | None]], list[Reject]]:
    """The items of the JSON list whose first item is at or after ``position`` in ``text``
    (just inside its ``[``), to its closing ``]`` or to the text's end (a cut file): the
    records (objects, as text values), per item its line (counted from 1 at the text's
    start) and its record's index (None: a reject), and the rejects (an item not an object;
    the item the text ends inside, :data:`CUT_OFF_RECORD`, truncated). Only a cut text can
    end inside an item: a whole one was parsed before."""
    decoder = json.JSONDecoder()
    records: list[dict[str, str | None]] = []
    items: list[tuple[int, int | None]] = []
    rejects: list[Reject] = []
    whitespace = re.compile(r"[\s,]*")
    line, counted = 1, 0  # lines are counted on from the last item, not from the start
    while True:
        position = whitespace.match(text, position).end()  # type: ignore[union-attr]
        if position >= len(text) or text[position] == "]":
            break
        line += text.count("\n", counted, position)
        counted = position
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            items.append((line, None))
            rejects.append(
                Reject(line, text[position : position + 200], CUT_OFF_RECORD, truncated=True)
            )
            break
        if isinstance(value, dict):
            items.append((line, len(records)))
            records.append({str(k): json_value_text(v) for k, v in value.items()})
        else:
            items.append((line, None))
            rejects.append(Reject(line, text[position:end], "malformed record: not an object"))
        position = end
    return records, items, rejects


def read_json_records(path: str | DataPath, key: str | None = None) -> RawRead:
    """Read a JSON export holding a list of records (a top-level list, or the list under
    ``key``, e.g. Zendesk's ``satisfaction_ratings``). Each record becomes a row of text
    columns (nested values as JSON text; a whole number written as a float, ``35436.0``, as
    ``"35436"``); ``source_line`` is the line its object starts on. In an export with
    several records on one line (compact JSON, as Zendesk's API returns it) lines cannot
    tell records apart: there ``source_line`` is each record's place in the list (1 for
    the first). A record that is not an object is a reject with its line (or place). JSON
    Lines (a document per line) is read too (:func:`_json_lines_records`).

    The encoding is found as for a CSV export (BOMs, UTF-16, UTF-8, then the 8-bit code
    pages, checked for mojibake: :func:`~servicelens.ingest.readers.decode_export`).
    Raises :class:`SourceError` naming the file: not valid JSON, no list of records, or an
    empty one."""
    unpacked, unpacked_from = unpack_delivery(str(path), read_bytes(str(path)), "JSON")
    data, encoding = decode_export(str(path), unpacked)
    del unpacked
    text = data.decode("utf-8")
    cut_at: int | None = None  # where a truncated delivery's records start
    cut_problem = ""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and _is_json_lines(text):
            return _json_lines_records(str(path), text, key, encoding, unpacked_from)
        cut_at = _records_of_a_cut_file(text, key, error)
        cut_problem = _json_problem(str(path), text, error)
        if cut_at is None:
            raise SourceError(cut_problem) from error
        document = None
    if cut_at is not None:
        position = cut_at
    elif isinstance(document, dict):
        lists = [k for k, v in document.items() if isinstance(v, list)]
        if key is not None and key in document and not isinstance(document[key], list):
            raise SourceError(
                f"{path}: line 1: {key!r} holds {json.dumps(document[key])[:40]}, not a list "
                "of records; ask for the export again"
            )
        key = key or (lists[0] if len(lists) == 1 else None)
        if key is None or not isinstance(document.get(key), list):
            raise SourceError(
                f"{path}: line 1: which key holds the records? set `records` in the "
                f"definition's [read] to one of {lists}"
            )
        start = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
        assert start is not None
        position = start.end()
    elif isinstance(document, list):
        position = text.index("[") + 1
    else:
        raise SourceError(f"{path}: line 1: expected a list of records or an object holding one")
    records, items, rejects = _list_items(text, position)
    if cut_at is not None and not records:
        raise SourceError(cut_problem)  # cut before its first record ended: nothing to read
    # An empty list is a delivery of no responses (Zendesk's last page of a paged export,
    # a day without ratings), as a CSV of a header alone is: read as no records, which
    # landing takes out of the inbox saying so (a trial's empty last page failed every
    # nightly run and stayed in the inbox).
    if len({line for line, _ in items}) < len(items):
        # Several items start on one line: each is named by its place in the list instead.
        items = [(place, record) for place, (_, record) in enumerate(items, 1)]
        places = iter(place for place, record in items if record is None)
        rejects = [replace(r, line=next(places)) for r in rejects]
    lines = [line for line, record in items if record is not None]
    return _records_read(str(path), encoding, records, lines, rejects, unpacked_from)


@dataclass
class MappedExport:
    """An export mapped onto the canonical contract: text columns, lineage, and what to
    quote when a row is quarantined."""

    definition: SourceDefinition
    read: RawRead
    #: Canonical columns as text (``RAW_SURVEY_COLUMNS`` always; interaction facts and
    #: ``rating`` when mapped), ``attributes`` (JSON text), ``label`` (a root cause or
    #: null), ``_excluded`` (why the definition sets the row aside, or null), ``source``,
    #: ``source_file``, ``source_line``.
    frame: pl.DataFrame
    #: Export columns quoted in a quarantined row's ``raw_record`` (never a never_store one).
    raw_columns: list[str]
    #: The export's timezone for naive local times.
    timezone: str
    #: Whether the export had the label column.
    has_label: bool
    #: Label words in the export that the definition's ``[label.values]`` does not map
    #: (their rows have no label), with their row counts, commonest first.
    unmapped_labels: dict[str, int] = field(default_factory=dict)
    #: Canonical column -> the export's headers it was read from, as the export spells them
    #: (two: a date and a time in separate columns). A constant or a derived column has
    #: none. Quarantine reasons name canonical columns; this lets a person read them in the
    #: export's own words.
    exported_as: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Canonical column -> for each of its groups, every alternative the export has (the
    #: first is ``exported_as``'s): each row reads the first one filled on it
    #: (``column = ["Old wording", "New wording"]`` in the definition).
    alternatives: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    #: Canonical columns and attributes marked ``required = false`` whose export column the
    #: export lacks (a question added to the survey after it was exported), each with that
    #: column's name(s): every row has no value there (not asked), said once per delivery.
    not_asked: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Label words in the export the definition says are no verdict (``[label]
    #: not_verdicts``), kept unlabelled on purpose, with their row counts, commonest first;
    #: not in :attr:`unmapped_labels`.
    not_verdict_labels: dict[str, int] = field(default_factory=dict)

    def headers_of(self, column: str) -> tuple[str, ...]:
        """Every export header canonical ``column`` is read from (each alternative the
        export has of each of its groups), as the export spells them; none for a constant
        or derived column."""
        groups = self.alternatives.get(column) or tuple(
            (h,) for h in self.exported_as.get(column, ())
        )
        return tuple(h for group in groups for h in group)

    def parse_options(self, business_timezone: str) -> ParseOptions:
        """How :func:`transforms.clean.normalise_surveys` types this export's text."""
        return parse_options(
            self.definition, self.timezone, business_timezone, self.read.format == "xlsx"
        )


def parse_options(
    definition: SourceDefinition,
    timezone: str,
    business_timezone: str,
    workbook: bool | None = None,
) -> ParseOptions:
    """How :func:`transforms.clean.normalise_surveys` types text mapped by ``definition``,
    its naive times read in ``timezone``; ``workbook``: whether the text came from a
    workbook (None: as the definition's format says; a ``format = "auto"`` source's read
    knows).

    A workbook's date and time cells reach the text as ISO (``2026-03-29 00:59:00``; see
    :func:`read_xlsx_with_lines`) whatever format Excel shows them in, so for an xlsx source
    ISO 8601 is tried after the formats the definition declares (for text cells), and for
    an ``"auto"`` one, whose deliveries may be workbooks."""
    if workbook is None:
        workbook = definition.read.format == "xlsx"
    rules = definition.columns
    formats = {c: r.formats for c in TIMESTAMP_COLUMNS if (r := rules.get(c)) and r.formats}
    if definition.read.format in ("xlsx", "auto"):
        formats = {c: f if "iso" in f else (*f, "iso") for c, f in formats.items()}
    return ParseOptions(
        timezone=timezone,
        business_timezone=business_timezone,
        formats=formats,
        ambiguous="earliest" if definition.ambiguous_times == "earliest" else "null",
        decimal_comma=definition.read.decimal_comma,
        thousands=definition.read.thousands,
        units={c: r.unit for c, r in rules.items() if r.unit},
        workbook=workbook,
    )


def _resolve(group: tuple[str, ...], index: dict[str, str], header: list[str]) -> str | None:
    """The first of ``group``'s alternatives ``header`` has (:func:`_present`), or None."""
    present = _present(group, index, header)
    return present[0] if present else None


def _present(group: tuple[str, ...], index: dict[str, str], header: list[str]) -> tuple[str, ...]:
    """The header names of ``group``'s alternatives that ``header`` has, in the group's
    order, each once: an alternative by its exact name, else by the same name ignoring
    case, spaces and punctuation (``index``: :func:`column_key` -> header name)."""
    found: list[str] = []
    for alternative in group:
        name = alternative if alternative in header else index.get(column_key(alternative))
        if name is not None and name not in found:
            found.append(name)
    return tuple(found)


def _text(name: str, definition: SourceDefinition, extra_missing: tuple[str, ...] = ()) -> pl.Expr:
    """An export column as trimmed text, with the definition's null tokens made null."""
    value = pl.col(name).str.replace_all("\u00a0", " ").str.strip_chars()
    missing = [*definition.read.null_values, *extra_missing]
    return pl.when(value.is_in(missing)).then(None).otherwise(value)


def _first_filled(
    group: tuple[str, ...], definition: SourceDefinition, extra_missing: tuple[str, ...] = ()
) -> pl.Expr:
    """Of the export columns ``group`` (alternatives of one column the export has, in the
    definition's order), each row's first cell that is filled (:func:`_text`), or null.
    Found by a trial: a Microsoft Forms question reworded mid-month is two columns of the
    cumulative export, each filled for the responses of its wording; the first column
    present was read for every row, and the 743 answers to the new wording were
    quarantined as missing."""
    texts = [_text(column, definition, extra_missing) for column in group]
    return texts[0] if len(texts) == 1 else pl.coalesce(texts)


#: The id columns of a response and of its interaction.
_IDS = ("response_id", "interaction_id")
#: A whole number written with zero decimals, as a float writes it (``7264292.0``).
_FLOAT_WHOLE = r"^([0-9]+)\.0+$"
#: The columns read as scores (transforms.clean.parsed_score).
_SCORES = ("csat", "nps", "effort")
#: A whole number as a spreadsheet or pandas may rewrite it: ``01``, ``4.0``, ``4,00``.
_WHOLE_NUMBER = r"^[+]?0*(\d+)(?:[.,]0+)?$"
#: Put after an unmapped code of a score whose map recodes numbers, so that the value
#: quoted in its quarantine reason says why it is not read as the number it looks like.
NOT_A_MAPPED_CODE = " (not a code of the definition's values: {codes})"


def _canonical_number(text: pl.Expr, thousands: str = "") -> pl.Expr:
    """``text`` with a whole number written as ``01``, ``4.0`` or ``4,00`` as ``4``; with
    the definition's ``thousands`` separator, a number written in groups of three with it
    (``1.000`` with ``thousands = "."``) is a number in the thousands, as
    :func:`transforms.clean.read_number` reads it, and stays as it is: not code 1 (found by
    a French insurer's trial of a Lisbon BPO's export, ``nps`` ``1.000`` read as 1)."""
    whole = text.str.contains(_WHOLE_NUMBER)
    if thousands in (".", ","):
        whole &= ~text.str.contains(rf"^[+]?\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+$")
    return pl.when(whole).then(text.str.replace(_WHOLE_NUMBER, "$1")).otherwise(text)


def _mapped_values(
    value: pl.Expr, column: str, values: dict[str, str], thousands: str = ""
) -> pl.Expr:
    """``value`` (trimmed text) through a column's ``values`` map: matched ignoring case,
    and a whole number as it is however a spreadsheet rewrote it (``01``, ``1.0``); an
    empty mapped value means missing. A value the map does not name is kept as it is
    (``channel``'s ``Telefon`` mapped, ``email`` left), except for a score whose map
    recodes numbers (every key a whole number: Qualtrics' choice codes, a reversed
    scale): there the code is not the score it looks like, so it is kept with
    :data:`NOT_A_MAPPED_CODE` and quarantined as no score. Found by a trial: a reversed
    scale's ``5`` (no code) was read as csat 5, and ``1.0`` (code 1, csat 5) as csat 1.
    Likewise a yes/no column whose map reads yes and no the other way round
    (:func:`reverses_yes_no`): a call log's unmapped ``true`` in ``Answered (Y/N)`` was
    read as abandoned. ``thousands``: the definition's thousands separator, so that a
    number in the thousands is not read as a code (:func:`_canonical_number`)."""
    keys = {_canonical_key(k): v for k, v in values.items()}
    lookup = _canonical_number(value.str.to_lowercase(), thousands)
    recodes_numbers = column in _SCORES and all(re.fullmatch(r"\d+", k) for k in keys)
    if column in ROW_FLAG_COLUMNS and reverses_yes_no(keys):
        # A word such a map does not name would be read as the export says it, the other
        # way round from the words it names (an unmapped "true" in Answered (Y/N) read as
        # abandoned): kept with the words it names and quarantined, as an unmapped code.
        default = (
            pl.when(value.is_null() | (value == ""))
            .then(value)
            .otherwise(value + pl.lit(NOT_A_MAPPED_CODE.format(codes=", ".join(keys))))
        )
    elif recodes_numbers:
        codes = ", ".join(sorted(keys, key=int))
        default = (
            pl.when(value.is_null() | (value == ""))
            .then(value)
            .otherwise(value + pl.lit(NOT_A_MAPPED_CODE.format(codes=codes)))
        )
    else:
        default = value
    mapped = lookup.replace_strict(
        list(keys), list(keys.values()), default=default, return_dtype=pl.String
    )
    return pl.when(mapped == "").then(None).otherwise(mapped)


def _flag_sense(word: str) -> bool | None:
    """``word`` as :func:`transforms.clean.parsed_flag` reads it: True (a yes), False (a no),
    None (neither)."""
    word = word.strip().lower()
    return True if word in FLAG_YES else False if word in FLAG_NO else None


def reverses_yes_no(values: dict[str, str]) -> bool:
    """Whether a yes/no column's ``values`` map reads a yes word as no or a no word as yes
    (``Y = "no"``: a column saying the opposite, mapped negated), so that a word it does not
    name cannot pass as it is (it would be read the other way round from the words the map
    names); :func:`_mapped_values` quarantines such a word, naming the map's words."""
    return any(
        (key, value) == (True, False) or (key, value) == (False, True)
        for key, value in ((_flag_sense(k), _flag_sense(v)) for k, v in values.items())
    )


def negated_flag(value: pl.Expr) -> pl.Expr:
    """``value`` (trimmed text) with every yes word :func:`transforms.clean.parsed_flag`
    reads written ``no`` and every no word written ``yes`` (``negate = true``, a column that
    says the opposite of the canonical flag); anything else as it is, for the row checks to
    quarantine it quoting it."""
    word = value.str.to_lowercase()
    return (
        pl.when(word.is_in(list(FLAG_YES)))
        .then(pl.lit("no"))
        .when(word.is_in(list(FLAG_NO)))
        .then(pl.lit("yes"))
        .otherwise(value)
    )


def _canonical_key(key: str) -> str:
    """A ``values`` key as :func:`_mapped_values` matches it (lower case; a whole number
    without leading zeros or zero decimals)."""
    found = re.fullmatch(_WHOLE_NUMBER, key.strip().lower())
    return found.group(1) if found else key.strip().lower()


def derived_ids(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """A stable id per row (``row-`` and 16 hex digits): sha256 of its non-empty values,
    each with its column's name, in the names' order, so that exact copies share one and
    the same response delivered again gets the same id however the export was re-made.
    Found by a trial: the values in the export's column order, empty ones included, gave
    every response of a Google Forms re-download a new id once the form had a new question
    (a column empty for earlier responses), a trailing delimiter or columns in another
    order, and each response counted twice. ``columns``: the export's column names
    (:func:`~servicelens.ingest.readers.column_names`)."""
    pairs = [
        pl.when(pl.col(c).str.strip_chars().fill_null("") == "")
        .then(None)
        .otherwise(pl.lit(f"{c}\x1e") + pl.col(c))
        for c in sorted(columns)
    ]
    joined = frame.select(
        pl.concat_str(pairs, separator="\x1f", ignore_nulls=True).fill_null("")
    ).to_series()
    return pl.Series(
        "response_id",
        [f"row-{hashlib.sha256(t.encode()).hexdigest()[:16]}" for t in joined.to_list()],
        dtype=pl.String,
    )


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


#: What :func:`delimiter_hint` tells a definition's user to change.
SET_DELIMITER = 'if so, set delimiter = "{shown}" (or "auto") in [read]. Otherwise, '


def delimiter_hint(read: RawRead, fix: str = SET_DELIMITER) -> str:
    """When the file's head sniffs (:func:`~servicelens.ingest.readers.sniff_delimiter`)
    as separated by another delimiter than the one it was read with (a semicolon- or
    tab-separated export read as commas, as a European Excel or "Unicode text" saves it),
    say so: that, not the columns, is what to change, and ``fix`` (with ``{shown}``, the
    delimiter found) says how. A header read as one column that holds the delimiter it was
    read with (quoted whole, or its line ends misread) is said to be so. Read only on this
    error's path; "" when the file fits."""
    if read.encoding == "xlsx":
        return _sheet_hint(read)
    if read.delimiter is None:
        return ""  # JSON
    if (held := delimiter_in_one_column_header(read)) == read.delimiter:
        name = _DELIMITER_NAMES[held]
        return (
            f"The file looks {name}-separated, as it was read, yet its header was read as one "
            "column: its header line is quoted whole (remove the quotes around it), or its "
            "line ends were misread (save it again as CSV from the spreadsheet)"
            + (". Otherwise, " if fix.endswith("Otherwise, ") else "")
        )
    try:
        # A header of one column names the delimiter it holds: a sniff of the head can
        # be misled by the rows (decimal commas in a semicolon export).
        found = held or sniff_delimiter(read.path, _head_again(read))
    except (SourceError, OSError):
        return ""
    if found == read.delimiter or found not in _DELIMITER_NAMES:
        return ""
    name, shown = _DELIMITER_NAMES[found], "\\t" if found == "\t" else found
    used = _DELIMITER_NAMES.get(read.delimiter, repr(read.delimiter))
    return f"The file looks {name}-separated, and was read as {used}-separated: " + fix.format(
        shown=shown
    )


def delimiter_in_one_column_header(read: RawRead) -> str | None:
    """The common delimiter (:data:`_DELIMITER_NAMES`) that the one column of ``read``'s
    header holds most often, or None when the header has more columns or holds none: a
    header line that was not split (another delimiter, a line quoted whole, misread line
    ends), whose columns are all missing for one reason, said once."""
    if len(read.header) != 1 or read.delimiter is None:
        return None
    line = read.header[0]
    if not any(d in line for d in _DELIMITER_NAMES):
        # The name as read has its whitespace collapsed, tabs too: a tab-separated header
        # read as one column holds its tabs only as the file writes it.
        written = _header_cells(read, read.delimiter)
        line = written[0] if len(written) == 1 else line
    held = {d: line.count(d) for d in _DELIMITER_NAMES}
    most = max(held, key=lambda d: held[d])
    return most if held[most] else None


def header_split_by(read: RawRead, delimiter: str) -> list[str]:
    """The header line of ``read``'s CSV as the file writes it (below a title skipped above
    it), split at ``delimiter``, each name's whitespace collapsed as the reader does: what
    the header would be read as with that delimiter. ``[]`` for a workbook, a JSON file, or
    a file that cannot be read again. Read only on an error's path."""
    return [" ".join(cell.split()) for cell in _header_cells(read, delimiter)]


def _header_cells(read: RawRead, delimiter: str) -> list[str]:
    """:func:`header_split_by`, each name as the file writes it (whitespace kept)."""
    if read.delimiter is None or read.encoding == "xlsx":
        return []
    try:
        head = _head_again(read).decode("utf-8", errors="replace")
    except (SourceError, OSError):
        return []
    records = csv.reader(io.StringIO(head), delimiter=delimiter)
    for _ in range(read.title[0] if read.title else 0):
        next(records, None)
    return next(records, [])


def delimiter_that_splits_header(definition: SourceDefinition, read: RawRead) -> str | None:
    """The common delimiter (:data:`_DELIMITER_NAMES`) other than the one ``read`` was read
    with that splits its header line into more than one column, among them every column
    ``definition`` reads (:func:`missing_columns`); None when none does. Found by an
    on-call engineer's trial: a Qualtrics export saved by Excel as "Unicode Text" (UTF-16,
    tab-separated) read as comma-separated was refused naming each of its 8 missing
    columns with the whole 19-column header after each, the fix last."""
    for delimiter in _DELIMITER_NAMES:
        if delimiter == read.delimiter:
            continue
        split = header_split_by(read, delimiter)
        if len(split) > 1 and not missing_columns(definition, split):
            return delimiter
    return None


def _read_with_another_delimiter(
    definition: SourceDefinition, read: RawRead, other: str, missing: list[tuple[str, ...]]
) -> MissingColumns:
    """The refusal of ``read``, whose header lacks the ``missing`` columns of ``definition``
    as read, that the delimiter ``other`` splits into every one of them
    (:func:`delimiter_that_splits_header`): the delimiter said first and once, then the
    header split so, quoted once (:func:`header_excerpt`). ``"auto"`` comes first, as it
    reads a usual delivery as before: a one-off re-save is read as written, where setting
    ``other`` would refuse the usual files in turn."""
    name = _DELIMITER_NAMES[other]
    read_as = _DELIMITER_NAMES.get(str(read.delimiter), repr(read.delimiter))
    shown = "\\t" if other == "\t" else other
    return MissingColumns(
        f"{read.path}: {read.header_span} (header): the file is {name}-separated and was read "
        f"as {read_as}-separated, so {len(missing)} column(s) that definition "
        f"{definition.path} reads were not found: split at its {name}s, its header has every "
        f'one. Set delimiter = "auto" in {definition.read_table} of the definition (each '
        "delivery is then read with the delimiter it is written with), or "
        f'delimiter = "{shown}" if every delivery is {name}-separated now. Split so, the '
        f"export's header has {header_excerpt(header_split_by(read, other))}",
        missing,
    )


def _head_again(read: RawRead) -> bytes:
    """The first 64 KiB of the delivered CSV as UTF-8, read again (out of its archive, if
    packed), for a message on an error's path. Raises OSError or SourceError as reading
    does."""
    delivered = read_bytes(read.path)
    if read.unpacked_from is not None:
        delivered = unpack_delivery(read.path, delivered)[0]
    return decode_to_utf8(delivered[:65536])[0]


def header_as_written(read: RawRead) -> list[str]:
    """The header's names as the file writes them (case kept, whitespace collapsed), for a
    message that quotes them: ``read.header`` holds them as compared (the sample layout's
    lower-cased), and a trial looked in its file for ``'csat score'`` where it said
    ``CSAT Score``. ``read.header`` itself for a workbook, a JSON file, a file that cannot
    be read again or a first record of another width. Read only on an error's path."""
    if read.delimiter is None or read.encoding == "xlsx":
        return read.header
    try:
        head = _head_again(read).decode("utf-8", errors="replace")
    except (SourceError, OSError):
        return read.header
    first = next(csv.reader(io.StringIO(head), delimiter=read.delimiter), [])
    written = [" ".join(cell.split()) for cell in first]
    return written if len(written) == len(read.header) else read.header


def _sheet_hint(read: RawRead) -> str:
    """For a workbook whose sheet lacks the columns: its other sheets, where the responses
    may be (Microsoft Forms and hand-kept workbooks put a summary first, say)."""
    sheets = workbook_sheet_names(read_bytes(read.path))
    if sheets is None or len(sheets) < 2:
        return ""
    return (
        f"The workbook has sheets {sheets}: if the responses are on another, set sheet to "
        "its name (or number, from 0) in [read]. Otherwise, "
    )


class MissingColumns(DefinitionError):
    """An export without columns its definition reads (:func:`map_export`); ``missing``
    holds their groups (alternatives of one column together)."""

    def __init__(self, message: str, missing: list[tuple[str, ...]] | None = None) -> None:
        super().__init__(message)  # args stay (message,): a copy or pickle rebuilds it
        self.missing = missing or []


def missing_columns(definition: SourceDefinition, header: list[str]) -> list[tuple[str, ...]]:
    """The groups of export columns the definition reads (its label column aside) that
    ``header`` has none of, matched as :func:`map_export` matches them (exact name, else
    the same name ignoring case, spaces and punctuation); empty when the export fits. A
    group only rules marked ``required = false`` read is never missing: its rows have no
    value (:attr:`MappedExport.not_asked`)."""
    index: dict[str, str] = {}
    for name in header:
        index.setdefault(column_key(name), name)
    optional = definition.optional_groups
    needed = {g for rule in definition.columns.values() if rule.required for g in rule.sources}
    needed.update(
        group
        for name, group in definition.attributes.items()
        if name not in definition.optional_attributes
    )
    needed.update((e.column,) for e in definition.exclude)
    return [
        group
        for group in definition.export_columns
        if group != definition.label_column
        and (group not in optional or group in needed)
        and _resolve(group, index, header) is None
    ]


def read_columns(definition: SourceDefinition, header: list[str]) -> list[str]:
    """The columns of ``header`` the definition reads (a ``[columns]`` rule, an attribute,
    its ``[label]`` or an ``[[exclude]]`` rule), matched as :func:`map_export` matches
    them, in the header's order: never what a column it lacks is offered as. Of a
    ``[columns]`` or ``[attributes]`` rule's alternatives, every one the header has is
    read (row by row, :func:`map_export`); of the label's and an exclusion's, the first."""
    index: dict[str, str] = {}
    for name in header:
        index.setdefault(column_key(name), name)
    found = {_resolve(group, index, header) for group in definition.export_columns}
    per_row = [g for rule in definition.columns.values() for g in rule.sources]
    for group in [*per_row, *definition.attributes.values()]:
        found.update(_present(group, index, header))
    return [name for name in header if name in found]


def unread_columns(
    definition: SourceDefinition, header: list[str], frame: pl.DataFrame | None = None
) -> list[str]:
    """The columns of ``header`` the definition neither reads (:func:`read_columns`), lists
    in ``never_store``, nor expects (``expected_columns``: a preset's vendor metadata, or
    what the team's own definition adds), in the header's order: a
    column the source added, whose values stay in raw/ only (no landed row, quarantine
    ``raw_record`` or mart holds them). With ``frame`` (the export's rows as text, a column
    per header name), a column no row fills is left out: nothing of it is lost (a
    spreadsheet's trailing empty columns)."""
    read = set(read_columns(definition, header))
    known = {column_key(c) for c in definition.never_store}
    patterns = [p.casefold() for p in definition.expected_columns]
    unread = [
        name
        for name in header
        if name.strip()
        and name not in read
        and column_key(name) not in known
        and not any(fnmatch.fnmatchcase(name.casefold(), p) for p in patterns)
        and not any(column_key(name) == column_key(p) for p in patterns if "*" not in p)
    ]
    if frame is None or not unread:
        return unread
    present = [name for name in unread if name in frame.columns]
    filled = frame.select(
        (pl.col(name).cast(pl.String).str.strip_chars().fill_null("") != "").any().alias(name)
        for name in present
    )
    return [name for name in unread if name not in present or filled.get_column(name)[0]]


#: Characters of a value an unnamed column's note quotes before "...".
EXAMPLE_CHARS = 40


def unnamed_columns(
    header: list[str], columns: list[str], frame: pl.DataFrame | None = None
) -> dict[str, tuple[int, str | None]]:
    """Of ``columns`` (names in ``header``, :func:`unread_columns`' say), those whose header
    cell is blank (:func:`~servicelens.ingest.readers.unnamed_column_number`), each with
    its place (1-based) and its first value that is not blank in ``frame`` (the export's
    rows as text; None without one, or none filled), cut to :data:`EXAMPLE_CHARS`: a note
    names such a column by its place and a value, as the user can find it in the file."""
    found: dict[str, tuple[int, str | None]] = {}
    for name in columns:
        place = unnamed_column_number(header, name)
        if place is None:
            continue
        example = None
        if frame is not None and name in frame.columns:
            filled = frame.get_column(name).cast(pl.String).str.strip_chars()
            filled = filled.filter(filled.fill_null("") != "")
            if filled.len():
                value = filled[0]
                cut = len(value) > EXAMPLE_CHARS
                example = value[:EXAMPLE_CHARS] + ("..." if cut else "")
        found[name] = (place, example)
    return found


def ambiguous_columns(
    definition: SourceDefinition, header: list[str]
) -> list[tuple[str, str, list[int]]]:
    """Where two or more columns of ``header`` match the name a definition reads a column
    by (the same name ignoring case, spaces and punctuation: ``complaint_id`` and
    ``Complaint ID``): for each, what reads it (``[columns] response_id``), the name, and
    the columns' positions in ``header`` (from 0). None where the definition's own file
    writes one of them by its exact name (``SourceDefinition.exact_names``): a built-in
    preset's names stand for every spelling, so they choose nothing."""
    readers: list[tuple[str, tuple[str, ...]]] = [
        (f"[columns] {name}", group)
        for name, rule in definition.columns.items()
        if not rule.derive
        for group in rule.sources
    ]
    readers += [(f"[attributes] {name}", group) for name, group in definition.attributes.items()]
    if definition.label_column:
        readers.append(("[label] column", definition.label_column))
    readers += [(f"[[exclude]] {e.column!r}", (e.column,)) for e in definition.exclude]
    keys = [column_key(name) for name in header]
    found = []
    for what, group in dict.fromkeys(readers):
        for alternative in group:
            at = [i for i, key in enumerate(keys) if key == column_key(alternative)]
            if len(at) > 1 and not (
                alternative in header and alternative in definition.exact_names
            ):
                found.append((what, alternative, at))
            if at:
                break
    return found


def _refuse_ambiguous_columns(definition: SourceDefinition, read: RawRead) -> None:
    """Raise DefinitionError when :func:`ambiguous_columns` finds any: a file with both
    ``complaint_id`` and ``Complaint ID`` read ``Complaint ID`` without a word (a trial)."""
    found = ambiguous_columns(definition, read.header)
    if not found:
        return
    header = read.header
    where = (
        f'a definition of your own with extends = "{definition.path.stem}" (docs/sources.md)'
        if definition.path.parent == BUILT_IN_DIR
        else str(definition.path)
    )
    each = "; ".join(
        " and ".join(f"{header[i]!r} (column {i + 1})" for i in at)
        + f" both match {name!r}, which {what} reads"
        for what, name, at in found
    )
    what, _, at = found[0]
    table, _, key = what.partition(" ")
    example = (
        f"{key} = {header[at[0]]!r} under {table}"
        if table in ("[columns]", "[attributes]")
        else f"{what} = {header[at[0]]!r}"
    )
    raise DefinitionError(
        f"{read.path}: {read.header_span} (header): {each}. Which one is meant cannot be "
        f"told; map one by its exact name in {where} (e.g. {example}), or deliver the export "
        "without the other"
    )


def mapped_column(
    name: str,
    read_from: tuple[str, ...],
    definition: SourceDefinition,
    encoding: str,
    alternatives: tuple[tuple[str, ...], ...] | None = None,
) -> pl.Expr:
    """The text of canonical column ``name`` (a rule of ``definition``'s ``[columns]`` that
    reads the export) from the export columns ``read_from`` (as the header spells them, one
    per source group of the rule), as :func:`map_export` maps it: trimmed, the null tokens
    made null, several cells joined, values mapped, month names made English. ``encoding``
    is the read's (``"xlsx"`` for a workbook). ``alternatives``: for each group, every
    alternative of it the export has (the first is ``read_from``'s), read row by row: a
    row's cell is that of the first one filled on it."""
    rule = definition.columns[name]
    groups = alternatives or tuple((column,) for column in read_from)
    parts = [_first_filled(group, definition, rule.missing) for group in groups]
    if rule.times:
        # An id's time to the minute, as submitted_at's formats read it (ISO too, for a
        # workbook's date cell): Microsoft Forms' ID + Start time of a workbook and of its
        # Excel re-save (day first, no seconds) is one response's id, not two.
        times = {column_key(t) for t in rule.times}
        formats = parse_options(definition, "UTC", "UTC", encoding == "xlsx").formats
        read_as = formats.get("submitted_at") or ("iso",)
        parts = [
            time_to_the_minute(part, read_as)
            if any(column_key(c) in times for c in group)
            else part
            for part, group in zip(parts, groups, strict=True)
        ]
    if len(parts) > 1 and encoding == "xlsx":
        # A date cell joined to a time cell: the date alone (not "... 00:00:00 00:59:00").
        parts = [part.str.replace(EXCEL_DATE, "$1") for part in parts]
    if len(parts) == 1:
        value = parts[0]
    else:
        # The non-empty cells joined: a date and its time, or the one ticked column of a
        # question exported as a column per option (a trial's SurveyMonkey channel: an
        # empty cell made the whole value empty, and every row was kept without it).
        joined = pl.concat_str(parts, separator=" ", ignore_nulls=True)
        any_cell = pl.any_horizontal([part.is_not_null() for part in parts])
        value = pl.when(any_cell).then(joined).otherwise(None)
    if rule.values:
        value = _mapped_values(value, name, rule.values, definition.read.thousands)
    if rule.negate:
        value = negated_flag(value)
    if (
        (language := definition.read.month_names)
        and name in TIMESTAMP_COLUMNS
        and any(code in fmt for fmt in rule.formats for code in MONTH_NAME_CODES)
    ):
        # %b and %B read English names only: the export's (5 déc. 2026) are written as
        # English's before the time is read (docs/sources.md, month_names).
        value = english_month_names(value, language)
    if name in _IDS:
        # A whole-number id that went through a float (pandas, a spreadsheet): 7264292.0
        # is 7264292, or each re-delivery of it would be another response (a trial's).
        value = value.str.replace(_FLOAT_WHOLE, "$1")
    return value.alias(name)


def map_export(
    definition: SourceDefinition,
    read: RawRead,
    business_timezone: str,
    require_label: bool = False,
) -> MappedExport:
    """Map a read export onto the canonical columns (still text).

    Raises :class:`MissingColumns` (a :class:`DefinitionError`) naming the file, the header
    line, the columns the definition reads that the export lacks, and what to change.
    """
    header = read.header
    index: dict[str, str] = {}
    for name in header:
        index.setdefault(column_key(name), name)
    if missing := missing_columns(definition, header):
        closes: list[str] = []
        taken = read_columns(definition, header)

        # A header not split into its columns is said once, by the hint: it holds every
        # missing name, and a trial read it quoted whole after each of nine.
        unsplit = delimiter_in_one_column_header(read) is not None

        def named(group: tuple[str, ...]) -> str:
            if unsplit:
                return " or ".join(repr(name) for name in group)
            # One name of the group the export might mean (a trial's `Kommentr`); else the
            # export's columns holding its name or coded alike (a trial's `Q3` beside the
            # export's Q1 and Q2, which the shortened header had hidden), never one the
            # definition reads as something else (a trial's renamed Q1 was offered the
            # comment column Q2).
            close, alike = columns_a_missing_one_may_be(group[0], header, taken)
            closes.extend([close] if close else alike)
            hint = f" (did you mean {close!r}?)" if close else ""
            if alike:
                hint = f" (the export has {', '.join(map(repr, alike))})"
            return " or ".join(repr(name) for name in group) + hint

        from servicelens.ingest.definitions import BUILT_IN_DIR

        # A trial's CFPB file without its id column was told to fix the built-in definition.
        where = (
            f'a definition of your own with extends = "{definition.path.stem}" (docs/sources.md)'
            if definition.path.parent == BUILT_IN_DIR
            else "the definition"
        )
        # After a hint's "Otherwise, " the advice goes on in lower case (a user's trial read
        # "... Otherwise: If the export lost them").
        advice = (
            "if the export lost them (a column deleted or renamed on the way), deliver it "
            "again with them; if this is how the export is now, map it in [columns], "
            f"[attributes] or [[exclude]] of {where}"
        )
        # A rule joining columns (columns = [...]) of which the export has some: a trial
        # wrote a question's two wordings so, and the export from before the rewording was
        # refused. Alternatives are column = [...], read row by row.
        for name, rule in definition.columns.items():
            if len(rule.sources) > 1 and any(g in missing for g in rule.sources):
                if all(g in missing for g in rule.sources):
                    continue
                listed = ", ".join(f'"{g[0]}"' for g in rule.sources)
                advice += (
                    f". [columns] {name} joins the cells of every column it lists (columns = "
                    f"[{listed}]); if they are alternatives (a question reworded: one wording "
                    f"per export, or both in a cumulative one), write column = [{listed}]: "
                    "each row reads the first of them filled on it, and an export needs one"
                )
        if (other := delimiter_that_splits_header(definition, read)) is not None:
            raise _read_with_another_delimiter(definition, read, other, missing)
        hint = delimiter_hint(read)
        columns = ", ".join(named(g) for g in missing)
        # The advice before the header, and the header cut short (header_excerpt): a
        # trial's refusal quoted 1,000 characters of Typeform questions first. The columns
        # the definition does not read are kept before those it does, in file order: a
        # renamed column is among them (a trial's Q1_NPS_GROUP was one of "11 more").
        closes += [name for name in header if name not in taken]
        raise MissingColumns(
            f"{read.path}: {read.header_span} (header): definition "
            f"{definition.path} reads column(s) {columns} that the export does not have. "
            + (hint + advice if hint else advice[0].upper() + advice[1:])
            + f". The export's header has {header_excerpt(header, closes)}",
            missing,
        )
    _refuse_ambiguous_columns(definition, read)
    label_at = _resolve(definition.label_column, index, header) if definition.label_column else None
    if require_label and not definition.label_column:
        raise DefinitionError(
            f"{definition.path}: has no [label] (the column holding each row's audited root "
            "cause and which of its values mean policy_failure or perceived), so this source "
            "cannot be trained on from --input: add one (docs/sources.md, [label]) if some "
            "export carries the QA team's verdicts, or configure the source (`servicelens "
            f"sources add {definition.path}`) and put QA's audits in audits/{definition.name}/ "
            f"of the data directory, then `servicelens train --source {definition.name}` "
            "(docs/sources.md, QA audits of a configured source)"
        )
    if require_label and label_at is None:
        raise DefinitionError(
            f"{read.path}: {read.header_span} (header): training needs the label "
            f"column {list(definition.label_column)} of {definition.path}; the export's "
            f"header has {header_excerpt(header)}"
        )
    frame = read.frame
    used: list[str] = []
    expressions: list[pl.Expr] = []
    exported_as: dict[str, tuple[str, ...]] = {}
    alternatives: dict[str, tuple[tuple[str, ...], ...]] = {}
    not_asked: dict[str, tuple[str, ...]] = {}
    for name, rule in definition.columns.items():
        if rule.derive:
            continue
        if rule.value is not None and not rule.sources:
            expressions.append(pl.lit(rule.value, pl.String).alias(name))
            continue
        groups = tuple(_present(group, index, header) for group in rule.sources)
        if not rule.required and not all(groups):
            # required = false: an export from before the question was asked.
            lacking = [g for g, has in zip(rule.sources, groups, strict=True) if not has]
            not_asked[name] = tuple(a for g in lacking for a in g)
            expressions.append(pl.lit(None, pl.String).alias(name))
            continue
        assert all(groups)
        used.extend(column for group in groups for column in group)
        exported_as[name] = tuple(group[0] for group in groups)
        alternatives[name] = groups
        expressions.append(
            mapped_column(name, exported_as[name], definition, read.encoding, groups)
        )
    if definition.attributes:
        fields = []
        for name, group in definition.attributes.items():
            present = _present(group, index, header)
            if not present and name in definition.optional_attributes:
                not_asked[name] = group
                fields.append(pl.lit(None, pl.String).alias(name))
                continue
            assert present
            used.extend(present)
            fields.append(_first_filled(present, definition).alias(name))
        expressions.append(pl.struct(fields).struct.json_encode().alias("attributes"))
    else:
        expressions.append(pl.lit(None, pl.String).alias("attributes"))
    unmapped_labels: dict[str, int] = {}
    not_verdict_labels: dict[str, int] = {}
    if label_at is not None:
        used.append(label_at)
        labels = definition.label_values
        word = pl.col(label_at).str.strip_chars()
        expressions.append(
            word.str.to_lowercase()
            .replace_strict(
                list(labels), list(labels.values()), default=None, return_dtype=pl.String
            )
            .alias("label")
        )
        # Label words the definition does not map leave their rows unlabelled, as the
        # docs say ("In progress"); counted, so a misspelt verdict is never lost unseen.
        unmapped = (
            frame.select(word.alias("word"))
            .filter((pl.col("word") != "") & ~pl.col("word").str.to_lowercase().is_in(labels))
            .group_by("word")
            .len()
        )
        # They are printed and kept in the model's metrics: personal data typed into the
        # label column (a trial's e-mail address) goes as its placeholder.
        unmapped, _ = redact_pii_by_value(unmapped, ["word"])
        unmapped = (
            unmapped.group_by("word")
            .agg(pl.col("len").sum())
            .sort(["len", "word"], descending=[True, False])
        )
        # Words the definition says are no verdict are told apart: kept unlabelled on purpose.
        for word, rows in unmapped.iter_rows():
            declared = word.strip().lower() in definition.not_verdicts
            (not_verdict_labels if declared else unmapped_labels)[word] = rows
    else:
        expressions.append(pl.lit(None, pl.String).alias("label"))
    reasons = []
    for exclusion in definition.exclude:
        column = _resolve((exclusion.column,), index, header)
        assert column is not None
        used.append(column)
        value = pl.col(column).str.strip_chars()
        hit = value.is_in(exclusion.values)
        hit = ~hit | value.is_null() if exclusion.unless else hit
        reasons.append(
            pl.when(hit).then(
                formatted_text(
                    SET_ASIDE_FORMAT, pl.lit(column), value.fill_null(""), pl.lit(exclusion.reason)
                )
            )
        )
    expressions.append(
        (pl.coalesce(reasons) if reasons else pl.lit(None, pl.String)).alias(EXCLUDED)
    )
    mapped = frame.select(
        *expressions,
        pl.lit(definition.name).alias("source"),
        "source_file",
        "source_line",
    )
    rule = definition.columns["response_id"]
    if rule.derive:
        mapped = mapped.with_columns(derived_ids(frame, header))
    for name in RAW_SURVEY_COLUMNS:
        if name not in mapped.columns:
            mapped = mapped.with_columns(pl.lit(None, pl.String).alias(name))
    private = {column_key(c) for c in definition.never_store}
    raw_columns = [c for c in dict.fromkeys(used) if column_key(c) not in private]
    timezone = read.header_timezone or definition.timezone or business_timezone
    return MappedExport(
        definition,
        read,
        mapped,
        raw_columns,
        timezone,
        label_at is not None,
        unmapped_labels,
        exported_as,
        alternatives,
        not_asked,
        not_verdict_labels=not_verdict_labels,
    )
