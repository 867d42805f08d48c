"""The Micropub side of the load run, for the benchmark: an access token, and tagged notes with photos for the readers.

The benchmark makes a token inside the container (`flask --app starpunk token
create`), seeds notes with tags and photos through Micropub with it
(seed_tagged_photos), and hands it to locust in STARPUNK_MICROPUB_TOKEN for
the author's Micropub app (loadtests/micropub_user.py). Nothing here imports
locust, which monkey-patches the process it is imported in.
"""

from testkit.micropub_client import MicropubClient, discover
from testkit.samples import noisy_png
from testkit.site import Site

# Every seeded and posted note carries this tag, so readers always have a tag page to fetch.
TAG = "load"
TAGS = ("walks", "harbour", "night", "food")
SCOPE = "create media"
SEED_PHOTO_BYTES = 30_000


def make_token(site: Site) -> str:
    """Make an access token for the load test inside the container and return it (the command's last line)."""
    output = site.run(
        "flask", "--app", "starpunk", "token", "create", "--scope", SCOPE, "--client-id", "https://load.example/"
    )
    return output.strip().splitlines()[-1]


def seed_tagged_photos(site: Site, token: str, count: int) -> None:
    """Post count notes with tags and a photo each through Micropub, newest on the index, for the readers to find."""
    client = MicropubClient(site.base_url, discover(site.base_url), token)
    for n in range(count):
        photo = noisy_png(SEED_PHOTO_BYTES, f"seed-{n}")
        reply = client.create_form(
            content=f"Seeded photo note {n}: a tagged note with a photo.",
            category=[TAG, TAGS[n % len(TAGS)]],
            mp_photo_alt=f"Seeded photo {n}",
            files=[("photo", (f"seed-{n}.png", photo, "image/png"))],
        )
        if reply.status_code != 201:
            raise RuntimeError(
                f"seeding photo note {n} through Micropub failed with HTTP {reply.status_code}: {reply.text[:300]}"
            )
