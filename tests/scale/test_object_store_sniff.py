"""``delivered_format`` (``format = "auto"``) on a delivery in a real local S3 server
(moto's, on 127.0.0.1): it reads a file's head by a ranged GET, not the whole object, and
tells the same format as from a local copy. Found in review: a many-megabyte gzipped
export was downloaded whole to look at its first 4 KiB."""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from servicelens.ingest.readers import FORMAT_SNIFF_BYTES, delivered_format
from servicelens.storage.fs import RemotePath, filesystem
from tests.scale.s3_requests import CountingMotoServer, s3_endpoint

BUCKET = "servicelens-sniff"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[CountingMotoServer]:
    """A moto S3 server on 127.0.0.1 with one bucket, this process's AWS variables set to
    it, counting the requests it serves and the bytes it sends."""
    server = CountingMotoServer()
    server.start()
    try:
        with s3_endpoint(server, BUCKET):
            yield server
    finally:
        server.stop()


def _json_lines(megabytes: int) -> bytes:
    """JSON Lines of random ratings, ``megabytes`` MiB or more, that gzip hardly shrinks."""
    rng = random.Random(7)
    lines: list[bytes] = []
    size = 0
    while size < megabytes << 20:
        line = json.dumps(
            {"Response": f"R{rng.getrandbits(64):x}", "Note": rng.randbytes(96).hex()}
        )
        lines.append(line.encode() + b"\n")
        size += len(lines[-1])
    return b"".join(lines)


def _zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "pack"),
    [("ratings.json.gz", gzip.compress), ("ratings.zip", lambda d: _zipped("ratings.json", d))],
)
def test_sniffing_a_large_packed_delivery_in_s3_reads_its_head_only(
    s3_server: CountingMotoServer, tmp_path: Path, name: str, pack: Callable[[bytes], bytes]
) -> None:
    data = pack(_json_lines(6))
    assert len(data) > 2 << 20  # hex text: gzip halves it
    local = tmp_path / name
    local.write_bytes(data)
    remote = RemotePath(f"s3://{BUCKET}/inbox/{name}")
    remote.write_bytes(data)
    filesystem.cache_clear()  # nothing of the object kept from writing it
    start = s3_server.mark()
    told = delivered_format(remote)
    sent = s3_server.bytes_sent_since(start)
    assert told == delivered_format(local) == ("json", "JSON Lines (an object a line)")
    # The head (a zip archive: its directory and the member's first block), not the object.
    assert sent <= 4 * 64 << 10, (sent, s3_server.since(start))
    assert sent >= FORMAT_SNIFF_BYTES
