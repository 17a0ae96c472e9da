"""What an on-call engineer is told of a configured source's unusual delivery names the
definition's own keys and tables, and puts first what fixes that one delivery.

Found by an on-call engineer's trial (Zendesk ratings with a Zendesk Explore ticket CSV as
their ``[interactions]`` feed; Qualtrics with three header rows): its files, cut to their
first rows, are under ``tests/badinput/oncall/``. ``explore-tickets-usual.csv`` is the
vendor's usual export (comma, point decimals, ISO times, UTF-8);
``explore-tickets-resaved.csv`` the same export saved again by a German Excel (semicolon,
decimal comma, day-first times, cp1252).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings

HERE = Path(__file__).parent / "oncall"
ZENDESK = HERE / "acme-zendesk.toml"
RESAVED = HERE / "explore-tickets-resaved.csv"
USUAL = HERE / "explore-tickets-usual.csv"


def _check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], definition: Path, file: Path
) -> tuple[int, str]:
    """``servicelens sources check DEFINITION FILE`` on an empty data directory: its exit
    code and everything it wrote."""
    code = main(
        ["--data-dir", str(tmp_path / "data"), "sources", "check", str(definition), str(file)]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_contact_facts_time_names_the_feeds_started_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ratings' submitted_at is not the key to change: following that advice re-dates
    every rating and leaves the feed's rows quarantined."""
    code, said = _check(tmp_path, capsys, ZENDESK, RESAVED)
    assert code == 4, said
    assert (
        "line 2 (6200): handle_seconds: '151,4' is not a number" in said
        and "started_at: '05.12.2026 00:36' is not a timestamp as %Y-%m-%d %H:%M:%S reads it; "
        "it reads as %d.%m.%Y %H:%M (day first): if the export writes its times so (a "
        "spreadsheet saved again changes them), add that format to started_at under "
        "[interactions.columns] in the definition (format takes a list)"
    ) in said, said
    assert "submitted_at" not in said, said
    # Following the advice reads every start time of the re-save, and the usual file still.
    text = ZENDESK.read_text(encoding="utf-8").replace(
        'format = "%Y-%m-%d %H:%M:%S"', 'format = ["%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M"]'
    )
    fixed = tmp_path / "acme-zendesk.toml"
    fixed.write_text(text, encoding="utf-8")
    code, said = _check(tmp_path, capsys, fixed, RESAVED)
    assert "started_at" not in said.split("would be quarantined", 1)[1], said
    assert _check(tmp_path, capsys, fixed, USUAL)[0] == 0


def _feed_format(tmp_path: Path, started_at: str) -> Path:
    """The trial's definition with ``started_at`` mapped as ``started_at`` (TOML)."""
    text = ZENDESK.read_text(encoding="utf-8")
    old = 'started_at = { column = "Ticket created - Timestamp", format = "%Y-%m-%d %H:%M:%S" }'
    assert old in text
    changed = tmp_path / "acme-zendesk-changed.toml"
    changed.write_text(text.replace(old, f"started_at = {started_at}"), encoding="utf-8")
    return changed


def test_a_contact_facts_time_with_no_format_declared_names_started_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = _feed_format(tmp_path, '"Ticket created - Timestamp"')
    said = _check(tmp_path, capsys, definition, RESAVED)[1]
    assert (
        "started_at: '05.12.2026 00:36' is not a timestamp as ISO 8601 reads it (the "
        "definition declares no format for started_at under [interactions.columns]); it reads "
        "as %d.%m.%Y %H:%M (day first): add the format the export writes to started_at under "
        "[interactions.columns] in the definition"
    ) in said, said
    assert "submitted_at" not in said, said


def test_a_contact_facts_feed_in_the_other_day_order_names_started_at(tmp_path: Path) -> None:
    """The nightly refusal of a whole feed delivery whose days and months are the other way
    round from the definition's."""
    definition = _feed_format(
        tmp_path, '{ column = "Ticket created - Timestamp", format = "%m/%d/%Y %H:%M" }'
    )
    source = register_source(Settings(data_dir=str(tmp_path / "data")), str(definition))
    lines = USUAL.read_text(encoding="utf-8").splitlines()
    rows = [lines[0]] + [
        line.replace("2026-12-04 ", f"{13 + n}/12/2026 ", 1).replace(":00,", ",", 1)
        for n, line in enumerate(lines[1:6])
    ]
    inbox = source.for_interactions().inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    day_first = inbox / "explore-tickets-day-first.csv"
    day_first.write_text("\n".join(rows) + "\n", encoding="utf-8")
    then = time.time() - 120
    os.utime(day_first, (then, then))
    [refused] = pick_up_deliveries(source)
    assert refused.landing is None
    assert "line 2: started_at '13/12/2026 02:57' reads only as %d/%m/%Y %H:%M" in refused.error
    assert (
        'declare format = "%d/%m/%Y %H:%M" for started_at under [interactions.columns] in the '
        "definition"
    ) in refused.error, refused.error
    assert "submitted_at" not in refused.error, refused.error


def test_a_decimal_comma_re_save_is_asked_for_again_before_the_definition_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Setting decimal_comma applies to every delivery: the vendor's usual point-decimal
    file is then quarantined whole, which the advice says, after asking for the file again."""
    definition = _feed_format(
        tmp_path, '{ column = "Ticket created - Timestamp", format = "%d.%m.%Y %H:%M" }'
    )
    said = _check(tmp_path, capsys, definition, RESAVED)[1]
    assert (
        "line 2 (6200): handle_seconds: '151,4' is not a number of 0 or more, written with a "
        "decimal point and no thousands separator: it is written with a decimal comma, as a "
        "spreadsheet saved again in another language writes numbers. Ask the sender for this "
        "file again as the export usually writes it, with a decimal point (as the definition "
        "reads numbers); only if the export now writes every number with a decimal comma, set "
        "decimal_comma = true (and thousands to the mark it writes between thousands, if any) "
        "in [interactions.read] of the definition: that applies to every delivery, and each "
        "number of a usual file written with a decimal point (4.5) would then be quarantined"
    ) in said, said
    # What it says of a usual file is what the setting does to one: its 20 rows quarantined.
    comma = tmp_path / "acme-zendesk-comma.toml"
    comma.write_text(
        definition.read_text(encoding="utf-8").replace(
            'format = "csv"', 'format = "csv"\ndecimal_comma = true\nthousands = "."'
        ),
        encoding="utf-8",
    )
    code, said = _check(tmp_path, capsys, comma, USUAL)
    assert code == 4 and "would be quarantined: 20 rows" in said, said
    # ... and told the other way round: ask for it again with a decimal comma first.
    assert (
        "handle_seconds: '145.0' is not a number of 0 or more, written with a decimal comma and "
        ". between thousands: it is written with a decimal point, as a spreadsheet saved again "
        "in another language writes numbers. Ask the sender for this file again as the export "
        "usually writes it, with a decimal comma (as the definition reads numbers); only if the "
        "export now writes every number with a decimal point, set decimal_comma = false"
    ) in said, said
    # A value that is no number at all is still told of the missing list.
    words = tmp_path / "explore-tickets-words.csv"
    words.write_text(
        USUAL.read_text(encoding="utf-8").replace(",145.0\n", ",n/a\n"), encoding="utf-8"
    )
    said = _check(tmp_path, capsys, _feed_format(tmp_path, '"Ticket created - Timestamp"'), words)[
        1
    ]
    assert (
        "handle_seconds: 'n/a' is not a number of 0 or more, written with a decimal point and no "
        "thousands separator; set decimal_comma and thousands in the definition to how the "
        "export writes numbers, or add a word meaning no value to the missing list of the column"
    ) in said, said


UNICODE_TEXT = HERE / "qualtrics-unicode-text.csv"
QUALTRICS = HERE / "acme-qualtrics.toml"


def test_a_tab_separated_export_read_as_commas_is_told_the_delimiter_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's "Unicode Text" (UTF-16 with a BOM, tab-separated) of a comma-separated
    source: the delimiter first and once, the header quoted once, not after each of the
    columns it seemed to lack."""
    code, said = _check(tmp_path, capsys, QUALTRICS, UNICODE_TEXT)
    assert code != 0
    assert said.count("StartDate") == 1, said
    assert (
        f"{UNICODE_TEXT}: line 1 (header): the file is tab-separated and was read as "
        f"comma-separated, so 7 column(s) that definition {QUALTRICS} reads were not found: "
        'split at its tabs, its header has every one. Set delimiter = "auto" in [read] of the '
        "definition (each delivery is then read with the delimiter it is written with), or "
        'delimiter = "\\t" if every delivery is tab-separated now. Split so, the export\'s '
        "header has 19 columns: 'StartDate', 'EndDate',"
    ) in said, said
    # Following its first advice reads the file, every row kept.
    auto = tmp_path / "acme-qualtrics.toml"
    auto.write_text(
        QUALTRICS.read_text(encoding="utf-8").replace(
            "[columns]", '[read]\ndelimiter = "auto"\n[columns]'
        ),
        encoding="utf-8",
    )
    code, said = _check(tmp_path, capsys, auto, UNICODE_TEXT)
    assert code == 0 and "read 10: kept 10, quarantined 0" in said, said


def test_a_tab_separated_export_lacking_a_column_quotes_its_header_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Split at its tabs, the header still lacks a column: the columns are named, and the
    header (one column as read) is quoted once, after the hint of the tabs."""
    lacking = tmp_path / "qualtrics-lacking.csv"
    text = UNICODE_TEXT.read_bytes().decode("utf-16")
    lacking.write_bytes(b"\xff\xfe" + text.replace("\tQ1\t", "\tQ9\t", 1).encode("utf-16-le"))
    code, said = _check(tmp_path, capsys, QUALTRICS, lacking)
    assert code != 0
    assert said.count("StartDate") == 1, said
    assert "The file looks tab-separated, and was read as comma-separated" in said, said
