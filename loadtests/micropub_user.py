"""The author's Micropub app in the load mix: tagged notes now and then, every third with a photo uploaded with it.

It posts with the access token in STARPUNK_MICROPUB_TOKEN (made by the
benchmark, loadtests/micropub.py); without it, it does not run.
"""

import itertools
import os

from locust import HttpUser, between, task

from loadtests.micropub import TAG, TAGS
from testkit.samples import noisy_png

# A photo with every PHOTO_EVERY-th post, about the size of a phone photo resized for the web.
PHOTO_EVERY = 3
POST_PHOTO_BYTES = 60_000
_tokens = iter(token for token in os.environ.get("STARPUNK_MICROPUB_TOKEN", "").split() if token)
_post_counter = itertools.count(1)


def micropub_check(response, status):
    """Mark a Micropub reply failed unless it has the status (and a Location, for 201)."""
    if response.status_code != status:
        response.failure(f"status {response.status_code}, expected {status}: {response.text[:200]}")
    elif status == 201 and not response.headers.get("Location"):
        response.failure("201 without a Location")
    else:
        response.success()


class MicropubAuthor(HttpUser):
    """Posts a tagged note from a Micropub app now and then, every third one with a photo uploaded with it."""

    fixed_count = 1
    wait_time = between(5, 10)
    token = ""

    def on_start(self):
        self.token = next(_tokens, "")
        if not self.token:
            self.stop()

    @task
    def post(self):
        number = next(_post_counter)
        data = [
            ("h", "entry"),
            ("content", f"Posted from a Micropub app during the load test, number {number}."),
            ("category[]", TAG),
            ("category[]", TAGS[number % len(TAGS)]),
        ]
        headers = {"Authorization": f"Bearer {self.token}"}
        files, name = None, "/micropub [create]"
        if number % PHOTO_EVERY == 0:
            files = {"photo": (f"load-{number}.png", noisy_png(POST_PHOTO_BYTES, f"post-{number}"), "image/png")}
            data.append(("mp-photo-alt", f"Load-test photo {number}"))
            name = "/micropub [create with photo]"
        options = {"headers": headers, "allow_redirects": False, "catch_response": True}
        with self.client.post("/micropub", data=data, files=files, name=name, **options) as response:
            micropub_check(response, 201)
