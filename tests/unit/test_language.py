"""Comment language: detected offline where the export does not state it, never guessed."""

from __future__ import annotations

import polars as pl

from transforms.language import detect_language, with_detected_language


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
