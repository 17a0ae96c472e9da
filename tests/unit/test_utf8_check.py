"""The strict UTF-8 check that decides whether an export is read as it is: Arrow's validator
must accept exactly what Python's strict decoder accepts, whole or a piece at a time."""

from __future__ import annotations

import io
import random

import pytest

from servicelens.ingest.readers import _is_utf8, _utf8_and_cr

#: Bytes where UTF-8's rules change: ASCII's end, continuation bounds, invalid leads (C0, C1,
#: F5-FF), the leads whose second byte is restricted (E0 overlong, ED surrogates, F0, F4).
EDGES = [
    0x00, 0x0A, 0x0D, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
    0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF,
]  # fmt: skip


def _python_says(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_agrees_with_python_on_every_short_sequence_of_edge_bytes() -> None:
    cases = [bytes([a]) for a in range(256)]
    cases += [bytes([a, b]) for a in range(256) for b in range(256)]
    cases += [bytes([a, b, c]) for a in EDGES for b in EDGES for c in EDGES]
    cases += [bytes([a, b, c, d]) for a in EDGES[-14:] for b in EDGES for c in EDGES for d in EDGES]
    cases += [b"plain text " + case + b" more" for case in cases[:: len(cases) // 5000]]
    disagree = [case for case in cases if _is_utf8(case) != _python_says(case)]
    assert not disagree, disagree[:5]


def test_agrees_with_python_on_random_adversarial_text() -> None:
    rng = random.Random(18)
    pool = EDGES + list(range(0x20, 0x7F))
    for _ in range(30_000):
        data = bytes(rng.choice(pool) for _ in range(rng.randint(0, 16)))
        assert _is_utf8(data) == _python_says(data), data.hex()
    text = "".join(chr(rng.choice([0x41, 0xE9, 0x20AC, 0x1F621, 0xFFFD])) for _ in range(5000))
    assert _is_utf8(text.encode())
    assert _is_utf8(memoryview(text.encode()))
    assert _is_utf8(b"")


def test_pieces_find_exactly_what_the_whole_text_is_wherever_the_cuts_fall() -> None:
    """Pieces of 5 bytes cut inside every kind of character; a file that ends inside one, or
    holds a surrogate, a lone continuation byte or a CR, is told apart."""
    rng = random.Random(7)
    characters = ["a", "\n", "é", "€", "😡", "\r", "\u0301"]
    for _ in range(2_000):
        text = "".join(rng.choice(characters) for _ in range(rng.randint(0, 30))).encode()
        damage = rng.choice([b"", b"", b"\xed\xa0\x80", b"\x80", b"\xf0\x9f", b"\xc0\xaf"])
        at = rng.randint(0, len(text))
        data = text[:at] + damage + text[at:]
        valid, carriage_return = _utf8_and_cr(io.BytesIO(data), piece=5)
        assert valid == _python_says(data), data.hex()
        if valid:
            assert carriage_return == (b"\r" in data)
    assert _utf8_and_cr(io.BytesIO("€".encode()[:2]), piece=5) == (False, False)
    assert _utf8_and_cr(io.BytesIO(b""), piece=5) == (True, False)


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 8])
def test_pieces_of_ascii_and_multibyte_text(piece: int) -> None:
    def check(data: bytes) -> bool:
        return _utf8_and_cr(io.BytesIO(data), piece=piece)[0]

    text = ("plain " * 3 + "café ✓ 😀 " + "plain " * 3).encode()
    assert check(text)
    assert not check(text[:-1] + b"\xc3")  # a character left open at the end
    assert not check(b"ab\xc3" + b"ascii after an open character")
    assert not check(b"\xff" + b"a" * 20)
