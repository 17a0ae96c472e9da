"""The language of a comment, when the export does not say it, and stated languages reduced to
their base language (``ES-ES``, ``es_ES`` and ``es`` are all ``es``).

Detected offline with py3langid (langid.py's naive-Bayes byte n-gram model, shipped inside the
wheel: nothing is downloaded), restricted to :data:`DETECTABLE` so that short comments are
not taken for one of a hundred other languages. A comment too short or too mixed to tell
(confidence under :data:`MIN_CONFIDENCE`) stays null rather than guessed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
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


#: What separates a language tag's subtags: BCP 47's hyphen (``pt-BR``, ``zh-Hant-TW``) and
#: the underscore of POSIX and Java locales (``es_ES``), both seen in survey exports.
SUBTAG_SEPARATOR = r"[-_]"


def base_language(stated: pl.Expr) -> pl.Expr:
    """A stated language (String) as its base language: the primary subtag of a BCP 47 tag or
    locale, lower-cased (``ES-ES``, ``es_ES``, ``en-GB``, ``fr-CA``, ``pt-BR`` give ``es``,
    ``en``, ``fr``, ``pt``), which is the ISO 639-1 code for the two-letter tags vendors
    write, as :func:`detect_language` gives. Qualtrics' ``UserLanguage`` carries a region for
    some languages only, so without this one language was counted as two. Null, blank and a
    tag with no primary subtag (``-ES``) give null. A small rule rather than ``langcodes``
    (not a dependency): only the primary subtag is kept, no tag is validated or mapped (an
    ISO 639-2 ``spa`` stays ``spa``)."""
    primary = stated.str.strip_chars().str.to_lowercase().str.replace(f"{SUBTAG_SEPARATOR}.*$", "")
    return primary.replace("", None)


def base_language_code(code: str) -> str:
    """:func:`base_language` of one code (Python ``str``), for codes stored outside a frame
    (a model's ``decision.languages``); an empty result is returned as the empty string."""
    return re.split(SUBTAG_SEPARATOR, code.strip().lower(), maxsplit=1)[0]


_LOADING = threading.Lock()


def _identifier() -> Any:
    """The detector, loaded once: by the first caller, or by the thread
    :func:`load_detector_in_background` started (a caller waits for it rather than load a
    second copy)."""
    with _LOADING:
        return _load_identifier()


def load_detector_in_background() -> None:
    """Start loading the detector on a thread, for a caller that will detect languages soon
    and is busy with other work until then (reading a day's files). From the cache
    (:func:`_load_identifier`) the load takes milliseconds; the first time, most of it is LZMA
    decompression, which lets go of the GIL. Returns at once."""
    threading.Thread(target=_identifier, name="language-detector", daemon=True).start()


#: Where the restricted model is kept once decompressed: ``SERVICELENS_CACHE_DIR``, else
#: ``.servicelens/cache`` in the working directory. The command line sets the variable to the
#: project folder's (servicelens/cli/main.py), beside the agent key and ``.prefect/``.
CACHE_DIR_VARIABLE = "SERVICELENS_CACHE_DIR"
DEFAULT_CACHE_DIR = ".servicelens/cache"


def _cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_VARIABLE) or DEFAULT_CACHE_DIR).expanduser()


@lru_cache(maxsize=1)
def _load_identifier() -> Any:
    """The detector restricted to :data:`DETECTABLE`, loaded once on first use, never at
    import. Only the restricted model is kept: 47 MB of resident memory, against 74 MB for
    the full model (139 languages) restricted afterwards.

    py3langid ships its model LZMA-compressed: decompressing it costs 0.3 s of CPU alone and
    0.6 s on a busy 2-core date (a 100k bench date took 0.39 s less, medians of five
    alternating runs, with the detector loaded before the clock). So the restricted arrays
    are kept uncompressed in :func:`_cache_dir` the first time (``langid-<key>.npz``, 40 MB),
    keyed on the shipped model's SHA-256, the py3langid version and :data:`DETECTABLE`; a
    later process reads them in 0.035 s. A cache file that
    cannot be read is rebuilt, and one that cannot be written is done without, with a warning
    that names the folder: the model is then decompressed every time, as before."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import _to_array  # its conversion to the stdlib array it walks

    arrays = _restricted_arrays(Path(MODEL_DIR) / MODEL_FILE)
    return LanguageIdentifier(
        arrays["ptc"],
        arrays["pc"],
        arrays["classes"].tolist(),
        _to_array(arrays["nextmove"]),
        arrays["out_feat"].tolist(),
        norm_probs=True,
        tk_row=_to_array(arrays["nextmove_row"]),
    )


def _restricted_arrays(model_file: Path) -> dict[str, Any]:
    """The model's arrays restricted to :data:`DETECTABLE` (numpy; ``nextmove`` and
    ``nextmove_row`` as shipped), from the cache when it holds them for this model file."""
    from importlib.metadata import version

    import numpy as np

    shipped = model_file.read_bytes()
    key = hashlib.sha256(
        json.dumps([hashlib.sha256(shipped).hexdigest(), version("py3langid"), DETECTABLE]).encode()
    ).hexdigest()[:16]
    cached = _cache_dir() / f"langid-{key}.npz"
    try:
        with np.load(cached, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, KeyError, EOFError):
        pass  # not cached yet, or unreadable: rebuilt below
    arrays = _restrict(shipped)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: two processes caching at once each rename a whole file.
        handle, partial = tempfile.mkstemp(dir=cached.parent, suffix=".npz.partial")
        try:
            with os.fdopen(handle, "wb") as out:
                np.savez(out, **arrays)
            os.replace(partial, cached)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    except OSError as error:
        # A read-only place: the detector works the same, decompressed in every process.
        logging.getLogger(__name__).warning(
            "cannot cache the language detector's model in %s (%s): every process will "
            "decompress it again (0.3 s of CPU); set %s to a writable folder",
            cached.parent,
            error,
            CACHE_DIR_VARIABLE,
        )
    return arrays


def _restrict(shipped: bytes) -> dict[str, Any]:
    """Decompress py3langid's model file (npz inside LZMA, its own format: modelio.py) and
    keep the naive-Bayes columns of :data:`DETECTABLE`; the byte DFA is language-free."""
    import io
    import lzma
    import shutil

    import numpy as np

    # Streamed through a temporary file, as py3langid's own loader does: the 65 MB npz is
    # never held whole beside the arrays taken from it.
    with (
        lzma.open(io.BytesIO(shipped)) as source,
        tempfile.TemporaryFile(suffix=".npz") as npz,
    ):
        shutil.copyfileobj(source, npz, length=1 << 20)
        npz.seek(0)
        with np.load(npz, allow_pickle=False) as data:
            missing = {"nextmove_row", "out_feat"}.difference(data.files)
            if missing:
                raise ValueError(f"py3langid's model lacks {sorted(missing)}")
            classes = data["classes"]
            keep = [i for i, code in enumerate(classes.tolist()) if code in DETECTABLE]
            return {
                "ptc": np.ascontiguousarray(data["ptc"][:, keep]),
                "pc": data["pc"][keep],
                "classes": classes[keep],
                "nextmove": data["nextmove"],
                "nextmove_row": data["nextmove_row"],
                "out_feat": data["out_feat"],
            }


#: Each text this process has classified, and what :func:`detect_language` gave it: a
#: caller can classify texts ahead on a thread while other work runs (the classifier is
#: Python, about 30,000 texts a second), and the next call finds them. Emptied when it
#: holds :data:`_CLASSIFIED_MAX` texts.
_CLASSIFIED: dict[str, str | None] = {}
_CLASSIFIED_MAX = 200_000


def _classified(text: str) -> str | None:
    """:func:`detect_language` of one non-null text, from :data:`_CLASSIFIED` once made."""
    if text in _CLASSIFIED:
        return _CLASSIFIED[text]
    language: str | None = None
    if text.strip():  # Python's idea of blank, as the detector's own input
        code, confidence = _identifier().classify(text)
        language = str(code) if confidence >= MIN_CONFIDENCE else None
    if len(_CLASSIFIED) >= _CLASSIFIED_MAX:
        _CLASSIFIED.clear()
    _CLASSIFIED[text] = language
    return language


def detect_language(texts: pl.Series) -> pl.Series:
    """ISO 639-1 code of each text (String), null where the text is empty, blank or null or
    the detector is less than :data:`MIN_CONFIDENCE` sure. Each distinct text is classified
    once (a day's comments repeat a great deal) and kept (:data:`_CLASSIFIED`), about
    30,000 a second; the detector is loaded only when there is a non-blank text to
    classify."""
    distinct = texts.cast(pl.String).drop_nulls().unique()
    found = pl.Series([_classified(t) for t in distinct.to_list()], dtype=pl.String)
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


def comment_languages(frame: pl.DataFrame, text: str) -> pl.Series:
    """Each row's comment language: the ``language`` column where the frame has one and it
    is set (as its base language, :func:`base_language`: marts written before it kept
    ``es-es``), else detected from the text (:func:`with_detected_language`); null when
    unknown."""
    if "language" in frame.columns:
        stated = frame.select(
            pl.col(text).cast(pl.String), base_language(pl.col("language").cast(pl.String))
        )
    else:
        stated = frame.select(
            pl.col(text).cast(pl.String), pl.lit(None, pl.String).alias("language")
        )
    return with_detected_language(stated, text).get_column("language")
