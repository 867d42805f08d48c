"""Traffic for the fault tests: writers that record which notes were acknowledged, readers, and slow uploads."""

import http.client
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import requests

from testkit.owner import Owner
from testkit.web import plain_session

READ_PATHS = ("/", "/feed.xml", "/feed.json", "/health")
# Pause after a refused connection, so a writer does not spin while the site is down.
RETRY_PAUSE = 0.05


@dataclass
class Outcome:
    """One request: when it started and ended (time.monotonic), and its status, or the error that stopped it."""

    path: str
    started: float
    ended: float
    status: int | None
    error: str = ""


def note_content(prefix: str, rng: random.Random) -> str:
    """Return a unique note of 100-6,000 characters: Markdown, non-ASCII text and a marker to find it by."""
    marker = f"{prefix}-{uuid.uuid4().hex[:12]}"
    filler = " ".join(
        rng.choice(("ünïcödé", "*emphasis*", "`code`", "[link](https://example.test/)", "words"))
        for _ in range(rng.randint(10, 600))
    )
    return f"{marker}\n\nA note from the fault tests. {filler}\n\n{marker} ends here."


# A kill lands while writes are going on when the last acknowledged write was answered this recently before it.
WRITING_UP_TO = 0.5


class TrafficThreads:
    """What every traffic generator here shares: threads bounded by count and time, and every request's Outcome.

    A subclass (a dataclass with max_requests, max_seconds and outcomes) calls _launch in __post_init__.
    """

    max_requests: int
    max_seconds: float
    outcomes: list[Outcome]

    def _launch(self, *work: tuple[Callable[[int], None], int]) -> None:
        """Make count threads running each function of work (it gets the thread's number)."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=run, args=(number,), daemon=True) for run, count in work for number in range(count)
        ]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every thread and wait for it (a request in flight ends by its own timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        assert not any(thread.is_alive() for thread in self._threads), "a traffic thread did not stop"

    def _rounds(self) -> Iterator[int]:
        """Yield 0, 1, 2, ... until stopped, max_requests or max_seconds, whichever comes first."""
        deadline = time.monotonic() + self.max_seconds
        done = 0
        while not self._stop.is_set() and done < self.max_requests and time.monotonic() < deadline:
            yield done
            done += 1

    def _send(self, path: str, request: Callable[[], requests.Response]) -> requests.Response | None:
        """Send one request and record its Outcome; None (after a short pause) when it got no answer."""
        started = time.monotonic()
        try:
            reply = request()
        except requests.RequestException as exc:
            self._keep(Outcome(path, started, time.monotonic(), None, type(exc).__name__), self.outcomes)
            time.sleep(RETRY_PAUSE)
            return None
        self._keep(Outcome(path, started, time.monotonic(), reply.status_code), self.outcomes)
        return reply

    def _keep(self, item: Any, into: list[Any]) -> None:
        with self._lock:
            into.append(item)


def assert_killed_mid_traffic(
    outcomes: list[Outcome], kill_sent: float, killed_at: float, acknowledged: int, accepted: set[int], context: str
) -> None:
    """Say that the kill landed while writes were going on: recent acknowledgements, unanswered requests, no refusal.

    acknowledged is the status of an acknowledged write; accepted every status a write may get before the kill.
    """
    last_answer = max(o.ended for o in outcomes if o.status == acknowledged)
    assert last_answer > kill_sent - WRITING_UP_TO, f"{context}: the writers had stopped before the kill"
    unanswered = [o for o in outcomes if o.started < killed_at and o.status is None]
    assert unanswered, f"{context}: no request went unanswered, so the kill interrupted nothing"
    refused = [o for o in outcomes if o.status not in (None, *accepted)]
    assert not refused, f"{context}: the site refused writes before the kill: {refused[:3]}"


@dataclass
class Traffic(TrafficThreads):
    """Threads that publish notes and read pages back-to-back until stopped; every outcome is kept.

    Bounded: each thread stops after max_requests or max_seconds, whichever comes first.
    """

    owner: Owner
    csrf_token: str
    prefix: str = "note"
    writers: int = 2
    readers: int = 0
    max_requests: int = 3000
    max_seconds: float = 60
    seed: int = 0
    acknowledged: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._launch((self._write, self.writers), (self._read, self.readers))

    def _write(self, number: int) -> None:
        http = self.owner.session()
        rng = random.Random(f"{self.seed}-{self.prefix}-{number}")
        url = self.owner.url("/admin/new")
        for _ in self._rounds():
            content = note_content(self.prefix, rng)
            form = {"csrf_token": self.csrf_token, "content": content, "published": "y"}
            reply = self._send("/admin/new", partial(http.post, url, data=form, allow_redirects=False, timeout=10))
            if reply is not None and reply.status_code == 303:
                self._keep(content, self.acknowledged)

    def _read(self, number: int) -> None:
        http = plain_session()
        for done in self._rounds():
            path = READ_PATHS[(number + done) % len(READ_PATHS)]
            # A new connection each time, as Gunicorn's sync workers close every one anyway.
            self._send(path, partial(http.get, self.owner.url(path), headers={"Connection": "close"}, timeout=10))


def slow_post(owner: Owner, content: str, csrf_token: str, seconds: float, sent_first_part: threading.Event) -> Outcome:
    """POST a new note whose body trickles in over `seconds`.

    Set the event once the headers and a first part are out.
    """
    body = urlencode({"csrf_token": csrf_token, "content": content, "published": "y"}).encode()
    parts = 10
    size = -(-len(body) // parts)
    address = urlsplit(owner.base_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=seconds + 15)
    started = time.monotonic()
    try:
        connection.putrequest("POST", "/admin/new")
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Cookie", f"starpunk_session={owner.cookie}")
        connection.endheaders(body[:size])
        sent_first_part.set()
        for offset in range(size, len(body), size):
            time.sleep(seconds / parts)
            connection.send(body[offset : offset + size])
        status = connection.getresponse().status
    except OSError as exc:
        sent_first_part.set()
        return Outcome("/admin/new (slow)", started, time.monotonic(), None, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    return Outcome("/admin/new (slow)", started, time.monotonic(), status)
