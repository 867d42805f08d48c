"""Micropub writers for the fault tests: notes with photos, posted back-to-back.

Every acknowledged note and photo is kept.
"""

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from testkit.micropub_client import MicropubClient, noisy_png

from .traffic import RETRY_PAUSE, Outcome

# Photos of a few KB to a few tens of KB: several writes a second, each with a file to store.
PHOTO_BYTES = (3_000, 40_000)


@dataclass(frozen=True)
class Posted:
    """What the site acknowledged, and the photo's bytes.

    A note (Location of a 201 from /micropub) or a photo (from the media endpoint).
    """

    url: str
    marker: str
    photo: bytes


@dataclass
class MicropubTraffic:
    """Threads that post notes with photos through Micropub until stopped.

    Each has its own connection and the same token.
    Writers take turns between a multipart create carrying the photo file and
    an upload to the media endpoint followed by a JSON create naming it.
    Bounded: each thread stops after max_requests or max_seconds.
    """

    client: MicropubClient
    prefix: str = "mp"
    writers: int = 3
    max_requests: int = 2000
    max_seconds: float = 30
    seed: int = 0
    notes: list[Posted] = field(default_factory=list)
    photos: list[Posted] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(self.writers)]

    def __enter__(self) -> "MicropubTraffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        assert not any(thread.is_alive() for thread in self._threads), "a Micropub writer did not stop"

    def _send(self, path: str, request: Callable[[], requests.Response]) -> requests.Response | None:
        started = time.monotonic()
        try:
            reply = request()
        except requests.RequestException as exc:
            self._record(Outcome(path, started, time.monotonic(), None, type(exc).__name__))
            time.sleep(RETRY_PAUSE)
            return None
        self._record(Outcome(path, started, time.monotonic(), reply.status_code))
        return reply

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _keep(self, posted: Posted, into: list[Posted]) -> None:
        with self._lock:
            into.append(posted)

    def _write(self, number: int) -> None:
        client = MicropubClient(self.client.base_url, self.client.endpoints, self.client.token)
        rng = random.Random(f"{self.seed}-{self.prefix}-{number}")
        deadline = time.monotonic() + self.max_seconds
        done = 0
        while not self._stop.is_set() and done < self.max_requests and time.monotonic() < deadline:
            done += 1
            marker = f"{self.prefix}-{uuid.uuid4().hex[:12]}"
            photo = noisy_png(rng.randint(*PHOTO_BYTES), marker)
            if done % 2:
                files = [("photo", (f"{marker}.png", photo, "image/png"))]
                reply = self._send(
                    "/micropub (multipart)",
                    lambda: client.create_form(content=f"{marker} with its photo", files=files),  # noqa: B023
                )
                if reply is not None and reply.status_code == 201:
                    self._keep(Posted(reply.headers["Location"], marker, photo), self.notes)
                continue
            uploaded = self._send("/micropub/media", lambda: client.upload_reply(photo, f"{marker}.png"))  # noqa: B023
            if uploaded is None or uploaded.status_code != 201:
                continue
            url = uploaded.headers["Location"]
            self._keep(Posted(url, marker, photo), self.photos)
            body = {"content": [f"{marker} names its photo"], "photo": [{"value": url, "alt": marker}]}
            reply = self._send("/micropub (JSON)", lambda: client.create_json(body))  # noqa: B023
            if reply is not None and reply.status_code == 201:
                self._keep(Posted(reply.headers["Location"], marker, photo), self.notes)
