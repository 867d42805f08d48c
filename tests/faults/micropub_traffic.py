"""Micropub writers for the fault tests: notes with photos, posted back-to-back.

Every acknowledged note and photo is kept.
"""

import random
import uuid
from dataclasses import dataclass, field

from testkit.micropub_client import MicropubClient
from testkit.samples import noisy_png

from .traffic import Outcome, TrafficThreads

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
class MicropubTraffic(TrafficThreads):
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
        self._launch((self._write, self.writers))

    def _write(self, number: int) -> None:
        client = MicropubClient(self.client.base_url, self.client.endpoints, self.client.token)
        rng = random.Random(f"{self.seed}-{self.prefix}-{number}")
        for done in self._rounds():
            marker = f"{self.prefix}-{uuid.uuid4().hex[:12]}"
            photo = noisy_png(rng.randint(*PHOTO_BYTES), marker)
            if done % 2 == 0:
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
