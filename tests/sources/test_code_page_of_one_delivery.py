"""One delivery in another code page than a source's others is asked for again, as usual.

Found by an on-call engineer's trial: a source whose nights are cp1252 (a European
semicolon export) received one file in cp850, and the refusal's first advice was to set
``encoding = "cp850"`` in the definition, which reads every usual night with wrong letters
and no refusal. Real files in a real inbox: the field sample in cp1252, and the same export
saved in cp850; a file's age is set with ``os.utime``, never slept for.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import PickedUp, pick_up_deliveries, register_source
from servicelens.ingest.readers import decode_export
from servicelens.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
EUROPEAN = FIELD / "12-european-semicolon-decimal-comma" / "sample.csv"
DEFINITION = Path(__file__).parent / "definitions" / "european-feedback.toml"

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _night(source: Settings, name: str, prefix: str, encoding: str) -> list[PickedUp]:
    """The field sample, its response ids starting ``prefix``, saved in ``encoding`` and
    dropped in ``source``'s inbox a minute ago; the inbox picked up."""
    text = EUROPEAN.read_bytes().decode("cp1252").replace("A-1", f"{prefix}-1")
    night = source.inbox_dir / name
    night.parent.mkdir(parents=True, exist_ok=True)
    night.write_bytes(text.encode(encoding))
    then = time.time() - 120
    os.utime(night, (then, then))
    return pick_up_deliveries(source)


def _source(tmp_path: Path, declared: str | None = None) -> Settings:
    definition = DEFINITION
    if declared is not None:
        text = DEFINITION.read_text(encoding="utf-8")
        definition = tmp_path / "european-declared.toml"
        definition.write_text(
            text.replace("[read]\n", f'[read]\nencoding = "{declared}"\n'), encoding="utf-8"
        )
    return register_source(Settings(data_dir=str(tmp_path / "data")), str(definition))


def test_a_cp850_night_among_cp1252_ones_is_asked_for_again_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _source(tmp_path)
    for name, prefix in (("night1.csv", "A"), ("night2.csv", "B")):
        [landed] = _night(source, name, prefix, "cp1252")
        assert landed.landing is not None, landed.error
    [refused] = _night(source, "night3.csv", "C", "cp850")
    assert refused.landing is None
    inbox = source.inbox_dir / "night3.csv"
    assert refused.error.startswith(
        f"{inbox}: line 1, column 111: byte 0x81 is not a cp1252 character and the file is "
        "not UTF-8;"
    )
    advice = refused.error.split("'GebÅhr (EUR)'. ", 1)[1]
    assert advice.startswith(
        "This source's recent deliveries were cp1252: ask the sender for this file again as "
        "cp1252, as usual, or as UTF-8. Only if the source sends cp850 from now on, set "
        '`encoding = "cp850"` in the definition\'s [read]: that applies to every delivery, and '
        "the source's usual cp1252 files would be read with wrong letters ('Gebühr (EUR)' as "
        "'Geb³hr (EUR)'); files in UTF-8 are still read as UTF-8 (this source reads its "
        "registered copy, "
    ), advice
    # `sources check`, the pre-check before a file goes into the inbox, says the same.
    outside = tmp_path / "night3-checked.csv"
    outside.write_bytes(inbox.read_bytes())
    check = ["--data-dir", str(tmp_path / "data"), "sources", "check", source.source]
    assert main([*check, str(outside)]) == 2
    assert advice.split(" (this source reads")[0] in capsys.readouterr().err
    # What the advice says of the usual nights is what declaring cp850 does to them.
    text, found = decode_export(str(EUROPEAN), EUROPEAN.read_bytes(), "cp850")
    assert found == "cp850" and "Geb³hr (EUR)" in text.decode("utf-8")
    # Sent again as usual, it lands.
    inbox.unlink()
    [landed] = _night(source, "night3.csv", "C", "cp1252")
    assert landed.landing is not None and landed.landing.rows + landed.landing.rejects == 8


def test_a_definition_declaring_the_code_page_is_named_as_the_usual_one(
    tmp_path: Path,
) -> None:
    source = _source(tmp_path, declared="cp1252")
    [refused] = _night(source, "night1.csv", "C", "cp850")
    assert (
        "is not a cp1252 character (the encoding the definition's [read] declares). This "
        "source's definition declares cp1252: ask the sender for this file again in cp1252, "
        "as usual, or as UTF-8 (read as UTF-8 whatever is declared). Only if the source sends "
        'cp850 from now on, set `encoding = "cp850"` in the definition\'s [read]: that applies '
        "to every delivery, and cp1252 files would be read with wrong letters ('ü' as '³'); "
        "files in UTF-8 are still read as UTF-8"
    ) in refused.error, refused.error


def test_a_source_with_nothing_to_go_by_is_told_the_code_page_first(tmp_path: Path) -> None:
    """No delivery landed yet and no encoding declared: nothing says the file is unusual."""
    source = _source(tmp_path)
    [refused] = _night(source, "night1.csv", "C", "cp850")
    assert (
        "'GebÅhr (EUR)'. The file reads as text in cp850: set `encoding = \"cp850\"` in the "
        "definition's [read], or export the file again as UTF-8"
    ) in refused.error
