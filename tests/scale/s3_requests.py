"""A real moto S3 server on 127.0.0.1 that counts the requests it serves, by kind and key,
and the body bytes it sends: what object-store latency and cost follow (no timed tests)."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server


class CountingMotoServer(ThreadedMotoServer):
    """moto's threaded server, each request served also noted as ``(kind, key)``: kind is
    LIST (a listing: a GET of a bucket with ``list-type``), HEAD, GET, PUT, DELETE, POST;
    key is the object's key, or a listing's prefix. ``sent[i]`` is the body bytes the i-th
    request was answered with."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.requests: list[tuple[str, str]] = []
        self.sent: list[int] = []
        self._lock = threading.Lock()

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def counting(
            environ: dict[str, Any], start_response: Callable[..., Any]
        ) -> Iterable[bytes]:
            index = self._note(environ)
            served: Iterable[bytes] = app(environ, start_response)
            return self._counted(index, served)

        self._server = make_server(
            self._ip_address, self._port, counting, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    def _counted(self, index: int, served: Iterable[bytes]) -> Iterator[bytes]:
        try:
            for chunk in served:
                with self._lock:
                    self.sent[index] += len(chunk)
                yield chunk
        finally:
            close = getattr(served, "close", None)
            if close is not None:
                close()

    def _note(self, environ: dict[str, Any]) -> int:
        method = str(environ["REQUEST_METHOD"])
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        bucket_and_key = unquote(str(environ.get("PATH_INFO", ""))).lstrip("/")
        if method == "GET" and "list-type" in query:
            kind, key = "LIST", f"{bucket_and_key}/{query.get('prefix', [''])[0]}"
        else:
            kind, key = method, bucket_and_key
        with self._lock:
            self.requests.append((kind, key))
            self.sent.append(0)
            return len(self.requests) - 1

    def since(self, start: int) -> Counter[str]:
        """The requests served since the ``start``-th, counted by kind."""
        with self._lock:
            return Counter(kind for kind, _ in self.requests[start:])

    def bytes_sent_since(self, start: int) -> int:
        """The body bytes sent answering the requests since the ``start``-th."""
        with self._lock:
            return sum(self.sent[start:])

    def mark(self) -> int:
        """How many requests were served so far (a ``start`` for :meth:`since`)."""
        with self._lock:
            return len(self.requests)


#: The AWS variables :func:`s3_endpoint` sets and restores.
S3_ENV = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@contextmanager
def s3_endpoint(server: CountingMotoServer, bucket: str) -> Iterator[None]:
    """This process's AWS variables pointed at ``server`` (test credentials), with
    ``bucket`` made in it; the variables as they were, and servicelens's cached filesystems
    dropped, on the way in and out (a filesystem made before the endpoint was set would
    ignore it)."""
    from servicelens.storage.fs import filesystem

    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in S3_ENV}
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    filesystem.cache_clear()
    filesystem("s3").mkdir(bucket)
    try:
        yield
    finally:
        filesystem.cache_clear()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
