"""The author posting from a Micropub app during the load run, and the tagged notes with photos readers find.

The benchmark makes a token inside the container (`flask --app starpunk token
create`), seeds notes with tags and photos through Micropub with it
(seed_tagged_photos), and hands it to locust in STARPUNK_MICROPUB_TOKEN;
without it, no MicropubAuthor runs.
"""

import itertools
import os
from typing import TYPE_CHECKING

from locust import HttpUser, between, task

from testkit.micropub_client import MicropubClient, discover, noisy_png

if TYPE_CHECKING:  # the engine's SDK is the benchmark's business, not the locust process's
    from testkit.site import Site

# Every seeded and posted note carries this tag, so readers always have a tag page to fetch.
TAG = "load"
TAGS = ("walks", "harbour", "night", "food")
SCOPE = "create media"
SEED_PHOTO_BYTES = 30_000
# A photo with every PHOTO_EVERY-th post, about the size of a phone photo resized for the web.
PHOTO_EVERY = 3
POST_PHOTO_BYTES = 60_000
_tokens = iter(token for token in os.environ.get("STARPUNK_MICROPUB_TOKEN", "").split() if token)
_post_counter = itertools.count(1)


def make_token(site: "Site") -> str:
    """Make an access token for the load test inside the container and return it (the command's last line)."""
    output = site.run("flask", "--app", "starpunk", "token", "create", "--scope", SCOPE, "--client-id", "https://load.example/")
    return output.strip().splitlines()[-1]


def seed_tagged_photos(site: "Site", token: str, count: int) -> None:
    """Post count notes with tags and a photo each through Micropub, newest on the index, for the readers to find."""
    client = MicropubClient(site.base_url, discover(site.base_url), token)
    for n in range(count):
        photo = noisy_png(SEED_PHOTO_BYTES, f"seed-{n}")
        reply = client.create_form(content=f"Seeded photo note {n}: a tagged note with a photo.", category=[TAG, TAGS[n % len(TAGS)]],
                                   mp_photo_alt=f"Seeded photo {n}", files=[("photo", (f"seed-{n}.png", photo, "image/png"))])
        if reply.status_code != 201:
            raise RuntimeError(f"seeding photo note {n} through Micropub failed with HTTP {reply.status_code}: {reply.text[:300]}")


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
        data = [("h", "entry"), ("content", f"Posted from a Micropub app during the load test, number {number}."),
                ("category[]", TAG), ("category[]", TAGS[number % len(TAGS)])]
        headers = {"Authorization": f"Bearer {self.token}"}
        if number % PHOTO_EVERY:
            with self.client.post("/micropub", data=data, headers=headers, name="/micropub [create]",
                                  allow_redirects=False, catch_response=True) as response:
                micropub_check(response, 201)
            return
        files = {"photo": (f"load-{number}.png", noisy_png(POST_PHOTO_BYTES, f"post-{number}"), "image/png")}
        data.append(("mp-photo-alt", f"Load-test photo {number}"))
        with self.client.post("/micropub", data=data, files=files, headers=headers, name="/micropub [create with photo]",
                              allow_redirects=False, catch_response=True) as response:
            micropub_check(response, 201)
