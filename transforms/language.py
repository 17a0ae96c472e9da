"""The language of a comment, when the export does not say it.

Detected offline with py3langid (langid.py's naive-Bayes byte n-gram model, shipped inside the
wheel: nothing is downloaded), restricted to :data:`DETECTABLE` so that short comments are
not taken for one of a hundred other languages. A comment too short or too mixed to tell
(confidence under :data:`MIN_CONFIDENCE`) stays null rather than guessed.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import polars as pl

#: ISO 639-1 codes the detector chooses among: the languages of the survey exports seen so far
#: (English, the generator's Spanish, French and German, the Qualtrics sample's German) and
#: their nearest neighbours, so a comment in one of those is not forced into another.
DETECTABLE: tuple[str, ...] = ("en", "de", "fr", "es", "it", "pt", "nl")
#: Below this normalised probability the language is left unknown. Measured on the
#: generator's 219 phrases: the 5 wrong answers (one or two words, such as "Bof." or
#: "Unbelievable!") all scored 0.35 or less; 4 right answers also fall under 0.5 and stay
#: unknown, which costs nothing (a short English phrase gets no language, not a wrong one).
MIN_CONFIDENCE = 0.5


_LOADING = threading.Lock()


def _identifier() -> Any:
    """The detector, loaded once: by the first caller, or by the thread
    :func:`load_detector_in_background` started (a caller waits for it rather than load a
    second copy)."""
    with _LOADING:
        return _load_identifier()


def load_detector_in_background() -> None:
    """Start loading the detector on a thread, for a caller that will detect languages soon
    and is busy with other work until then (reading a day's files). Most of the load is
    LZMA decompression, which lets go of the GIL. Returns at once."""
    threading.Thread(target=_identifier, name="language-detector", daemon=True).start()


@lru_cache(maxsize=1)
def _load_identifier() -> Any:
    """The detector restricted to :data:`DETECTABLE`, loaded once on first use (about 0.5 s
    of CPU), never at import. Only the restricted model is kept: 47 MB of resident memory,
    against 74 MB for the full model (139 languages) restricted afterwards."""
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

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


def detect_language(texts: pl.Series) -> pl.Series:
    """ISO 639-1 code of each text (String), null where the text is empty, blank or null or
    the detector is less than :data:`MIN_CONFIDENCE` sure. Each distinct text is classified
    once (a day's comments repeat a great deal), about 30,000 a second; the detector is
    loaded only when there is a non-blank text to classify."""
    distinct = texts.cast(pl.String).drop_nulls().unique()

    def one(text: str) -> str | None:
        if not text.strip():  # Python's idea of blank, as the detector's own input
            return None
        language, confidence = _identifier().classify(text)
        return str(language) if confidence >= MIN_CONFIDENCE else None

    found = pl.Series([one(t) for t in distinct.to_list()], dtype=pl.String)
    detected = texts.cast(pl.String).replace_strict(distinct, found, default=None)
    return detected.alias(texts.name)


def with_detected_language(
    frame: pl.DataFrame, text: str = "comment", language: str = "language"
) -> pl.DataFrame:
    """Fill the nulls of ``language`` with the language detected in ``text``; a language the
    export states is kept as it is. Only the rows with a null language are detected."""
    missing = frame.get_column(language).is_null() & frame.get_column(text).is_not_null()
    if not missing.any():
        return frame
    at = missing.arg_true()
    detected = detect_language(frame.get_column(text).gather(at))
    filled = frame.get_column(language).scatter(at, detected)
    return frame.with_columns(filled.alias(language))
