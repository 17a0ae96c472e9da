"""Comment language: detected offline where the export does not state it, never guessed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from transforms.language import (
    MIN_CONFIDENCE,
    _identifier,
    base_language,
    base_language_code,
    detect_language,
    with_detected_language,
)


def test_languages_of_full_sentences_are_detected_and_short_ones_left_unknown() -> None:
    texts = pl.Series(
        "comment",
        [
            "Die Lieferung kam zwei Tage zu spät, niemand hat sich gemeldet.",
            "The driver never came and nobody called.",
            "On m'a facturé des frais qui ne figurent pas dans le contrat.",
            "Me cobraron una comisión que no está en el contrato.",
            "Ok",
            "",
            None,
        ],
    )
    assert detect_language(texts).to_list() == ["de", "en", "fr", "es", None, None, None]


def test_only_missing_languages_are_filled() -> None:
    frame = pl.DataFrame(
        {
            "comment": [
                "The driver never came and nobody called.",
                "Sehr enttäuscht, wirklich.",
                None,
            ],
            "language": ["fr", None, None],
        }
    )
    filled = with_detected_language(frame)
    # The export's own "fr" stays, even on English text: the export is the record.
    assert filled.get_column("language").to_list() == ["fr", "de", None]
    assert filled.get_column("comment").to_list() == frame.get_column("comment").to_list()


def _one_row_at_a_time(texts: list[str | None]) -> list[str | None]:
    """The definition: every row put to the detector on its own (blank and null: unknown)."""
    identifier = _identifier()
    detected: list[str | None] = []
    for text in texts:
        if not text or not text.strip():
            detected.append(None)
            continue
        language, confidence = identifier.classify(text)
        detected.append(str(language) if confidence >= MIN_CONFIDENCE else None)
    return detected


def test_each_distinct_text_is_detected_once_with_the_per_row_answer() -> None:
    """Distinct texts are classified once and their answer given to every copy: the same
    languages as classifying row by row, for repeats, blanks (Python's whitespace, which
    includes the U+001C-U+001F separators), nulls and short texts."""
    phrases = [
        "Die Lieferung kam zwei Tage zu spät, niemand hat sich gemeldet.",
        "The driver never came and nobody called.",
        "On m'a facturé des frais qui ne figurent pas dans le contrat.",
        "Me cobraron una comisión que no está en el contrato.",
        "Bof.",
        "Ok",
        "",
        "   ",
        "\x1c\x1f",
        None,
        "Unbelievable!",
        "Het pakket kwam nooit aan en niemand belde terug.",
        "🙂🙂🙂",
    ]
    texts = [phrases[(i * 7) % len(phrases)] for i in range(200)]
    detected = detect_language(pl.Series("comment", texts)).to_list()
    assert detected == _one_row_at_a_time(texts)
    assert {"de", "en", "fr", "es"} <= set(detected)


def test_nothing_to_detect_gives_nulls_of_the_right_type() -> None:
    for texts in ([], [None, None], ["", "  "]):
        detected = detect_language(pl.Series("comment", texts, dtype=pl.String))
        assert detected.dtype == pl.String
        assert detected.name == "comment"
        assert detected.to_list() == [None] * len(texts)


def test_detector_loaded_in_background_is_loaded_once_and_used() -> None:
    """A caller that asks while the background load runs waits for it: one load, one model."""
    from concurrent.futures import ThreadPoolExecutor

    from transforms import language

    language._load_identifier.cache_clear()
    language.load_detector_in_background()
    with ThreadPoolExecutor(max_workers=3) as pool:
        found = list(pool.map(lambda _: language._identifier(), range(3)))
    assert all(f is found[0] for f in found)
    assert language._load_identifier.cache_info().misses == 1
    assert detect_language(pl.Series(["The fee was wrong and nobody called back."])).to_list() == [
        "en"
    ]


def _shipped_identifier() -> object:
    """The detector built as before the cache: py3langid's own loader, restricted after."""
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

    from transforms.language import DETECTABLE

    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    keep = [i for i, code in enumerate(classes) if code in DETECTABLE]
    return LanguageIdentifier(
        np.ascontiguousarray(np.asarray(ptc)[:, keep]),
        np.asarray(pc)[keep],
        [classes[i] for i in keep],
        nextmove,
        output,
        norm_probs=True,
        tk_row=row,
    )


def test_cached_model_is_the_shipped_model_and_is_read_without_decompressing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load writes the restricted arrays uncompressed; a later process reads them
    back (without decompressing the shipped model), and both are py3langid's own model
    restricted after: the same tables, the same answers."""
    import numpy as np

    from transforms import language

    monkeypatch.setenv(language.CACHE_DIR_VARIABLE, str(tmp_path))
    language._load_identifier.cache_clear()
    try:
        first = language._load_identifier()
        (cached,) = tmp_path.glob("langid-*.npz")
        language._load_identifier.cache_clear()

        def refuse(shipped: bytes) -> dict[str, object]:
            raise AssertionError("the cached model was decompressed again")

        monkeypatch.setattr(language, "_restrict", refuse)
        second = language._load_identifier()
        monkeypatch.undo()
        shipped: Any = _shipped_identifier()
        for loaded in (first, second):
            assert np.array_equal(loaded.nb_ptc, shipped.nb_ptc)
            assert np.array_equal(loaded.nb_pc, shipped.nb_pc)
            assert loaded.nb_classes == shipped.nb_classes
            assert loaded.tk_nextmove == shipped.tk_nextmove
            assert loaded.tk_row == shipped.tk_row
            assert loaded.tk_output == shipped.tk_output
        texts = [
            "Die Lieferung kam zwei Tage zu spät, niemand hat sich gemeldet.",
            "The driver never came and nobody called.",
            "Me cobraron una comisión que no está en el contrato.",
            "Het pakket is nooit aangekomen en niemand belde terug.",
            "A encomenda não chegou e ninguém ligou.",
            "Il pacco non è mai arrivato.",
            "Ok",
            "😡😡 !!!",
            "x" * 5000,
        ]
        for text in texts:
            expected = shipped.classify(text)
            assert first.classify(text) == expected
            assert second.classify(text) == expected
        assert cached.stat().st_size > 1_000_000
    finally:
        language._load_identifier.cache_clear()


def test_unreadable_cache_is_rebuilt_and_unwritable_cache_is_done_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from transforms import language

    monkeypatch.setenv(language.CACHE_DIR_VARIABLE, str(tmp_path))
    language._load_identifier.cache_clear()
    try:
        language._load_identifier()
        (cached,) = tmp_path.glob("langid-*.npz")
        cached.write_bytes(b"not a model")  # e.g. a disk filled up mid-write elsewhere
        language._load_identifier.cache_clear()
        assert language._load_identifier().classify("The driver never came.")[0] == "en"
        assert cached.stat().st_size > 1_000_000
        assert not list(tmp_path.glob("*.partial"))

        blocked = tmp_path / "file-not-dir"
        blocked.write_text("")
        monkeypatch.setenv(language.CACHE_DIR_VARIABLE, str(blocked / "cache"))
        language._load_identifier.cache_clear()
        with caplog.at_level("WARNING", logger="transforms.language"):
            assert language._load_identifier().classify("The driver never came.")[0] == "en"
        (warning,) = caplog.records
        assert str(blocked / "cache") in warning.getMessage()
        assert language.CACHE_DIR_VARIABLE in warning.getMessage()
    finally:
        language._load_identifier.cache_clear()


def test_texts_classified_ahead_are_not_classified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A date classifies its comments on a thread while its files are read; the call after
    typing finds them classified, with the same answers."""
    from transforms import language

    texts = pl.Series(
        "comment",
        ["Le technicien n'est jamais venu et personne n'a appelé.", "Ok", "  ", None],
    )
    ahead = detect_language(texts)

    def refuse() -> Any:
        raise AssertionError("classified again")

    monkeypatch.setattr(language, "_identifier", refuse)
    assert detect_language(texts).to_list() == ahead.to_list() == ["fr", None, None, None]


def test_a_stated_language_is_its_primary_subtag_lower_cased() -> None:
    """BCP 47 tags and POSIX locales, as survey vendors write them, reduce to ISO 639-1."""
    stated = pl.Series("language", ["ES-ES", "es_ES", "en-GB", "fr-CA", "pt-BR", "zh-Hant-TW"])
    reduced = pl.select(base_language(pl.lit(stated))).to_series()
    assert reduced.to_list() == ["es", "es", "en", "fr", "pt", "zh"]
    nothing = pl.Series("language", ["", "  ", "-ES", None], dtype=pl.String)
    assert pl.select(base_language(pl.lit(nothing))).to_series().to_list() == [None] * 4
    assert [base_language_code(c) for c in ("ES-ES", "pt_BR", "de")] == ["es", "pt", "de"]
