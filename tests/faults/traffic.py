"""Traffic for the fault tests: writers that record which notes were acknowledged, readers, and slow uploads."""

import http.client
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
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


@dataclass
class Traffic:
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
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(self.writers)]
        self._threads += [threading.Thread(target=self._read, args=(n,), daemon=True) for n in range(self.readers)]

    def __enter__(self) -> "Traffic":
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

    def _keep_going(self, deadline: float, done: int) -> bool:
        return not self._stop.is_set() and done < self.max_requests and time.monotonic() < deadline

    def _record(self, outcome: Outcome, acknowledged: str = "") -> None:
        with self._lock:
            self.outcomes.append(outcome)
            if acknowledged:
                self.acknowledged.append(acknowledged)

    def _write(self, number: int) -> None:
        http = self.owner.session()
        rng = random.Random(f"{self.seed}-{self.prefix}-{number}")
        url = self.owner.url("/admin/new")
        deadline = time.monotonic() + self.max_seconds
        done = 0
        while self._keep_going(deadline, done):
            done += 1
            content = note_content(self.prefix, rng)
            form = {"csrf_token": self.csrf_token, "content": content, "published": "y"}
            started = time.monotonic()
            try:
                reply = http.post(url, data=form, allow_redirects=False, timeout=10)
            except requests.RequestException as exc:
                self._record(Outcome("/admin/new", started, time.monotonic(), None, type(exc).__name__))
                time.sleep(RETRY_PAUSE)
                continue
            self._record(
                Outcome("/admin/new", started, time.monotonic(), reply.status_code),
                content if reply.status_code == 303 else "",
            )

    def _read(self, number: int) -> None:
        http = plain_session()
        deadline = time.monotonic() + self.max_seconds
        done = 0
        while self._keep_going(deadline, done):
            path = READ_PATHS[(number + done) % len(READ_PATHS)]
            done += 1
            started = time.monotonic()
            try:
                # A new connection each time, as Gunicorn's sync workers close every one anyway.
                reply = http.get(self.owner.url(path), headers={"Connection": "close"}, timeout=10)
            except requests.RequestException as exc:
                self._record(Outcome(path, started, time.monotonic(), None, type(exc).__name__))
                time.sleep(RETRY_PAUSE)
                continue
            self._record(Outcome(path, started, time.monotonic(), reply.status_code))


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
