"""A stream of notes with photos, through the admin form and Micropub, each remembered with when it was acknowledged.

`Writer` publishes from a thread until told to stop; a write counts as
acknowledged when the site answered it (303 from the form, 201 from Micropub)
and `acked_at` is the moment that answer arrived. `check_back` tells, after a
restore, which of them came back byte for byte: the note's text in the
database, its permalink and its photo bytes.
"""

import random
import re
import secrets
import threading
import time
from dataclasses import dataclass

import requests

from testkit.micropub_client import MicropubClient
from testkit.owner import Owner
from testkit.samples import noisy_png
from testkit.site import Site
from testkit.web import TIMEOUT

PHOTO_BYTES = 6000
PAUSE_SECONDS = 0.1
MEDIA = re.compile(r"/media/([0-9a-f]{32}\.png)")


@dataclass(frozen=True)
class Write:
    """One acknowledged note: its unique text, its photo's bytes, how it was sent and when it was acknowledged."""

    marker: str
    content: str
    photo: bytes
    via: str
    acked_at: float


class Writer:
    """Publishes notes with one photo each, alternating the admin form and Micropub, from a thread."""

    def __init__(self, owner: Owner, micropub: MicropubClient, label: str) -> None:
        self.owner = owner
        self.micropub = micropub
        self.label = label
        self.acked: list[Write] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._csrf = owner.csrf_token()

    def start(self) -> "Writer":
        """Start publishing."""
        self._thread.start()
        return self

    def stop(self) -> list[Write]:
        """Stop publishing and return every acknowledged write."""
        self._stop.set()
        self._thread.join(timeout=60)
        return self.acked

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            marker = f"{self.label}-{number}-{secrets.token_hex(4)}"
            photo = noisy_png(PHOTO_BYTES, seed=marker)
            try:
                via = self._by_form(marker, photo) if number % 2 else self._by_micropub(marker, photo)
            except requests.RequestException:
                self.errors += 1  # the site died under this request: not acknowledged, and no other will be
                return
            if via:
                self.acked.append(Write(marker, _content(marker, via), photo, via, time.monotonic()))
            else:
                self.errors += 1
            time.sleep(PAUSE_SECONDS * random.uniform(0.5, 1.5))

    def _by_form(self, marker: str, photo: bytes) -> str:
        form = {"csrf_token": self._csrf, "content": _content(marker, "form"), "published": "y", "alt_1": marker}
        reply = self.owner.http.post(
            self.owner.url("/admin/new"),
            data=form,
            files={"photo_1": ("photo.png", photo, "image/png")},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return "form" if reply.status_code == 303 else ""

    def _by_micropub(self, marker: str, photo: bytes) -> str:
        reply = self.micropub.create_form(
            files=[("photo", ("photo.png", photo, "image/png"))], content=_content(marker, "micropub")
        )
        return "micropub" if reply.status_code == 201 else ""


def _content(marker: str, via: str) -> str:
    return f"Written through the {via}: **{marker}**, with one photo."


def stored_notes(site: Site) -> dict[str, tuple[str, str, list[str]]]:
    """Return content -> (slug, content, photo file names) of every note in the site's database."""
    rows = site.sqlite(
        "SELECT n.slug, n.content, group_concat(p.file_name) FROM notes n"
        " LEFT JOIN note_photos p ON p.note_id = n.id GROUP BY n.id"
    )
    return {content: (slug, content, (files or "").split(",") if files else []) for slug, content, files in rows}


def check_back(site: Site, writes: list[Write], pages: bool) -> dict[str, bool]:
    """Return marker -> whether the write is back byte for byte (text, photo bytes; with pages, its permalink too)."""
    notes = stored_notes(site)
    back = {}
    for write in writes:
        found = notes.get(write.content)
        ok = found is not None and len(found[2]) == 1
        if ok and found is not None:
            photo = site.get(f"/media/{found[2][0]}")
            ok = photo.status_code == 200 and photo.content == write.photo
            if ok and pages:
                page = site.get(f"/note/{found[0]}")
                ok = page.status_code == 200 and write.marker in page.text and found[2][0] in page.text
        back[write.marker] = ok
    return back
