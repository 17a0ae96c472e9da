"""An object store that accepts connections and never answers (moto's server in a process of
its own, frozen with SIGSTOP, as a data engineer's trial froze it with ``kill -STOP``): what a
command says, how soon, and what a Dask backfill records of the date it failed. The store's
requests are bounded to seconds through the documented variables
(``SERVICELENS_STORE_CONNECT_SECONDS`` / ``_READ_SECONDS`` / ``_ATTEMPTS``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from servicelens.settings import Settings
from servicelens.storage.fs import filesystem, store_not_answering
from tests.reliability.cli import (
    START,
)
from tests.scale.test_object_store_commands import _forget_filesystems

#: Each request to the store: 1 s to connect, 2 s for an answer, tried once (a frozen
#: store fails a request in about 2 s instead of the defaults' minute).
BOUNDS = {
    "SERVICELENS_STORE_CONNECT_SECONDS": "1",
    "SERVICELENS_STORE_READ_SECONDS": "2",
    "SERVICELENS_STORE_ATTEMPTS": "1",
}


@dataclass
class FrozenStore:
    """moto's S3 server in its own process, and the environment that points the AWS SDK at
    it; :meth:`frozen` stops the process (SIGSTOP) so it accepts connections and answers
    none."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def moto_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[FrozenStore]:
    """moto's server on 127.0.0.1 in a process of its own with one bucket; this process's
    AWS variables and the store's bounds (:data:`BOUNDS`) set to it."""
    port = _free_port()
    moto = str(Path(sys.executable).parent / "moto_server")
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            **BOUNDS,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _forget_filesystems()
        bucket = f"servicelens-{uuid.uuid4().hex[:12]}"
        filesystem("s3").mkdir(bucket)
        yield FrozenStore(f"s3://{bucket}/servicelens", env, process)
    finally:
        _forget_filesystems()
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(30)


def test_the_first_request_a_frozen_store_does_not_answer_ends_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a data engineer's trial: `backfill --dry-run` on a frozen store took 2 min
    14 s to say it does not answer, twice a request's bound: the settings' look for the
    data directory's timezone waited its request out and carried on as if the directory
    recorded none, and the command's first read waited the same again. That look now
    ends the command with the store's message."""
    from servicelens.cli.main import main

    dry_run = ["backfill", "--start", str(START), "--end", str(START), "--dry-run"]
    with moto_process(monkeypatch) as store, store.frozen():
        with pytest.raises(Exception) as raised:
            Settings.from_env(store.url)
        code = main(["--data-dir", store.url, *dry_run])
    assert store_not_answering(raised.value) is not None, raised.value
    said = capsys.readouterr().err
    assert code == 2, said
    assert f"{store.url}: the object store at {store.env['AWS_ENDPOINT_URL']} does not answer" in (
        said
    )
