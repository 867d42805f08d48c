"""The rest of the web, for tests: other sites served on 127.0.0.1 that StarPunk fetches from and sends to.

There is no other site to reach from a test machine, so a test serves the
pages it needs itself. ``OtherWeb`` is a threaded ``http.server`` on
127.0.0.1 with a free port: ``page(path, body, status=200, headers=...)``
sets what a path answers (any method), ``redirect(path, to)`` a redirect,
``fail_first(path, times)`` makes its next requests fail with a ``5xx``,
``forget(path)`` makes it a 404 again, and every request that arrives is
recorded (``requests``, ``requests_to(path)``, ``wait_for_request``) with its
method, path, headers, body and arrival time, so a test can check what StarPunk sent
(receiving Webmentions: its fetches; sending them: its POSTs). A StarPunk
container reaches it only when it shares the host's network (testkit's sites
with ``network_mode="host"``) and ``OUTBOUND_ALLOW_NETWORKS`` includes
127.0.0.0/8. Use it as a context manager; it needs nothing but the stdlib.
"""

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

from .ports import LOOPBACK


@dataclass(frozen=True)
class Answer:
    """What a path answers: status, headers and body."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()  # (name, value) pairs, in order: a name may repeat (Link)
    delay: float = 0.0  # seconds to wait before answering (slow sites)


@dataclass(frozen=True)
class Seen:
    """One request the rest of the web received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


class OtherWeb:
    """A local stand-in for other web sites: serves given pages on 127.0.0.1 and records every request."""

    def __init__(self) -> None:
        self._answers: dict[str, Answer] = {}
        self._failures: dict[str, tuple[int, int]] = {}  # path: (requests left to fail, their status)
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="otherweb", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str = "/") -> str:
        """Return the absolute URL of a path on this server."""
        return f"http://{LOOPBACK}:{self.port}{path}"

    def page(
        self,
        path: str,
        body: str | bytes = "",
        status: int = 200,
        headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
        content_type: str = "text/html; charset=utf-8",
        delay: float = 0.0,
    ) -> str:
        """Make path answer with this status, body and headers (a dict, or pairs: a name may repeat); return its URL."""
        data = body.encode() if isinstance(body, str) else body
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or ())
        fields = (("Content-Type", content_type), *pairs)
        with self._lock:
            self._answers[path] = Answer(status, data, fields, delay)
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        """Make path redirect to another URL (absolute, or a path on this server); return its URL."""
        return self.page(path, status=status, headers={"Location": to})

    def fail_first(self, path: str, times: int, status: int = 503) -> None:
        """Make path answer status (a server error, by default) to its next times requests, then as set by page."""
        with self._lock:
            self._failures[path] = (times, status)

    def forget(self, path: str) -> None:
        """Make path answer 404 again."""
        with self._lock:
            self._answers.pop(path, None)

    @property
    def requests(self) -> list[Seen]:
        """Return every request received so far, oldest first."""
        with self._lock:
            return list(self._seen)

    def requests_to(self, path: str) -> list[Seen]:
        """Return the requests received for path (query string included), oldest first."""
        return [seen for seen in self.requests if seen.path == path]

    def wait_for_request(self, path: str, count: int = 1, timeout: float = 30.0) -> list[Seen]:
        """Return the requests for path once there are at least count of them; fail naming the path after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.requests_to(path)
            if len(seen) >= count:
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.url(path)} got {len(seen)} request(s) within {timeout} s, not {count}")
            time.sleep(0.05)

    def _answer(self, path: str) -> Answer:
        with self._lock:
            times, status = self._failures.get(path, (0, 0))
            if times > 0:
                self._failures[path] = (times - 1, status)
                return Answer(status, b"try again later", (("Content-Type", "text/plain"),))
            return self._answers.get(path) or self._answers.get(path.split("?", 1)[0]) or Answer(404, b"not here")

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        web = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                web._record(Seen(self.command, self.path, dict(self.headers.items()), body))
                answer = web._answer(self.path)
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                """Stay quiet: the recorded requests say what arrived."""

        return Handler
