"""What applying the erasure list costs (servicelens.erasure): every distinct id hashed once
by :func:`ids_hashed_to`, which gives :func:`hashed_id`'s hashes; a list written before still
erases; an empty list hashes nothing."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import polars as pl
import pytest

from servicelens import erasure
from servicelens.erasure import Eraser, erasure_list, hashed_id, ids_hashed_to
from servicelens.ingest.readers import RawRead, Reject
from servicelens.settings import Settings

KEY = b"test key"
#: What the erasure list held for ``C1`` and ``R9`` under KEY as servicelens wrote it at
#: bfad37a: lists on disk hold such entries and must still erase.
WRITTEN = {
    "C1": "b9f0e262d76de001b8600dfa85bb77f4b9105f5d1737671bc4a674c3758285a6",
    "R9": "4efd5d7bb52501b1cc4ef9b2d688184fbd5819fcfcb97c778ee8c974be919fdb",
}


def _ids() -> list[str]:
    rng = random.Random(20261105)
    alphabet = "AZaz09_-" + "e\u0301" + "\u00e9\u4e2d\u05d0" + "\U0001f600\U0001f1eb\U0001f1f7"
    controls = "".join(chr(c) for c in [*range(1, 32), 127])  # every control char but NUL
    drawn = [
        "".join(rng.choice(alphabet + controls) for _ in range(rng.randint(1, 40)))
        for _ in range(400)
    ]
    special = [
        "C1",
        "a\u0301\u0302\u0303",  # combining marks only
        "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # an emoji sequence with joiners
        "\x01\x7fC2\x1f",
        "x" * 100_000,
        "\u00e9" * 5_000,
    ]
    return [*drawn, *special]


@pytest.mark.parametrize("key", [b"", KEY, bytes(range(256)) * 2], ids=["empty", "short", "long"])
def test_the_ids_found_are_those_whose_hashed_id_is_listed(key: bytes) -> None:
    ids = list(dict.fromkeys(v.strip() for v in _ids()))  # distinct and stripped, as read
    listed = ids[::3]
    digests = frozenset(bytes.fromhex(hashed_id(key, v)) for v in listed)
    assert ids_hashed_to(key, pl.Series(ids, dtype=pl.String), digests) == listed
    assert ids_hashed_to(key, pl.Series(["", "not listed"]), digests) == []


def test_an_eraser_finds_ids_with_whitespace_around_them_as_hashed_id_strips_it() -> None:
    eraser = Eraser(KEY).with_ids(["C1", "C2"])
    frame = pl.DataFrame({"customer_id": [" C1", "C1\x1f", "\u3000C2\x1c", "C3", "", None, "C 1"]})
    assert eraser.mask(frame).to_list() == [True, True, True, False, False, False, False]


def test_a_list_written_before_still_erases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICELENS_AGENT_KEY", KEY.decode())
    folder = tmp_path / "data" / "erasure"
    folder.mkdir(parents=True)
    entries = [
        {
            "hash": h,
            "kind": "customer_id" if v.startswith("C") else "response_id",
            "source": None,
            "erased_at": "2026-10-30T09:00:00+00:00",
            "erasure_id": "20261030T090000Z-0a1b2c3d",
        }
        for v, h in WRITTEN.items()
    ]
    (folder / "erased_ids.json").write_text(json.dumps({"about": "", "erased": entries}))
    eraser = erasure_list(Settings(data_dir=str(tmp_path / "data")))
    frame = pl.DataFrame(
        {
            "customer_id": ["C1", "C2", " C1 ", None],
            "response_id": ["R1", "R2", "R3", "R9"],
            "raw_record": [None, "C2,R2", None, None],
        }
    )
    kept, dropped = eraser.without_erased(frame)
    assert dropped == 3 and kept.get_column("response_id").to_list() == ["R2"]


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("hashed although nothing is erased")


def test_an_empty_list_hashes_nothing_and_reads_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure, "ids_hashed_to", _refuse)
    monkeypatch.setattr(erasure, "hashed_id", _refuse)
    monkeypatch.setattr(Settings, "agent_key", _refuse)
    eraser = erasure_list(Settings(data_dir=str(tmp_path / "data")))
    frame = pl.DataFrame({"customer_id": ["C1"], "raw_record": ["C1,R1"]})
    read = RawRead("x.csv", "utf-8", ["customer_id"], frame, rejects=[Reject(2, "C1,", "x")])
    assert not eraser
    assert eraser.mask(frame).to_list() == [False]
    assert eraser.without_erased(frame) == (frame, 0)
    assert eraser.without_erased_read(read) == (read, 0)
    assert eraser.erased_texts(["C1,R1"]) == [False]


def test_a_reads_ids_and_rejects_are_each_hashed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The id columns were hashed one query at a time, and each malformed line alone."""
    hashed: list[list[str]] = []

    def counted(key: bytes, values: pl.Series, digests: frozenset[bytes]) -> list[str]:
        hashed.append(sorted(values.to_list()))
        return ids_hashed_to(key, values, digests)

    monkeypatch.setattr(erasure, "ids_hashed_to", counted)
    frame = pl.DataFrame(
        {"customer_id": ["C1", "C2", "C2 "], "response_id": ["R1", "R2", "R3"], "x": [1, 2, 3]}
    )
    rejects = [Reject(5, "R7,,C1", "ragged"), Reject(6, "R8,,C9", "ragged")]
    read = RawRead("x.csv", "utf-8", list(frame.columns), frame, rejects=rejects)
    kept, dropped = Eraser(KEY).with_ids(["C1"]).without_erased_read(read)
    assert dropped == 2 and [r.line for r in kept.rejects] == [6]
    assert hashed == [["C1", "C2", "R1", "R2", "R3"], ["C1", "C9", "R7", "R8"]]


def test_hashed_id_is_the_keyed_blake2b_the_list_was_written_with() -> None:
    assert {v: hashed_id(KEY, v) for v in WRITTEN} == WRITTEN
    key = hashlib.sha256(KEY).digest()
    mac = hashlib.blake2b(b"C1", key=key, digest_size=32, person=b"sl-erasure").hexdigest()
    assert mac == WRITTEN["C1"]
