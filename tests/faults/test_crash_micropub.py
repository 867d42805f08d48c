"""SIGKILL while notes with photos are posted through Micropub loses no acknowledged note or photo."""

import os
import random
import re
import time
from urllib.parse import urlsplit

from testkit.micropub_client import MicropubClient
from testkit.site import Lab, Site

from .micropub_traffic import MicropubTraffic, Posted
from .traffic import assert_killed_mid_traffic

CYCLES = 2
# The kill comes at a random moment in this window after the writers start.
KILL_AFTER = (0.8, 2.0)
WRITERS = 3
PHOTO_SRC = re.compile(r'<img class="u-photo" src="([^"]+)"')
# Partial files of writes the kill cut short; a start removes those untouched for 5 minutes.
PARTIAL = "/data/media/.upload-*"
# The image has no shell: its Python makes every partial upload ten minutes old, or lists them.
AGE_PARTIAL_FILES = (
    "import glob, os, time; old = time.time() - 600\n"
    "for path in glob.glob('/data/media/.upload-*'):\n"
    "    os.utime(path, (old, old))"
)
LIST_PARTIAL_FILES = "import glob, sys; print(' '.join(glob.glob(sys.argv[1])))"


def path_of(url: str) -> str:
    """Return the path of one of the site's canonical URLs."""
    return urlsplit(url).path


def lost_posts(site: Site, notes: list[Posted], photos: list[Posted]) -> list[str]:
    """Return what is missing or changed.

    Checked: each note's page with its one photo, and each photo the media endpoint acknowledged.
    """
    lost = []
    for note in notes:
        page = site.get(path_of(note.url))
        shown = PHOTO_SRC.findall(page.text)
        if page.status_code != 200 or note.marker not in page.text or len(shown) != 1:
            lost.append(f"{note.marker}: page {page.status_code}, {len(shown)} photo(s)")
        elif site.get(path_of(shown[0])).content != note.photo:
            lost.append(f"{note.marker}: its photo {shown[0]} is not the bytes posted")
    for photo in photos:
        served = site.get(path_of(photo.url))
        if served.status_code != 200 or served.content != photo.photo:
            lost.append(f"{photo.marker}: {photo.url} answered {served.status_code} with {len(served.content)} bytes")
    return lost


def test_sigkill_while_posting_through_micropub_loses_no_acknowledged_note_or_photo(lab: Lab) -> None:
    """Kill the container while three clients post notes with photos.

    Every 201 seen before the kill is there, photo bytes intact.
    """
    seed = int(os.environ.get("STARPUNK_FAULT_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    site = lab.site()
    client = MicropubClient.sign_in(site.sign_in())
    notes: list[Posted] = []
    photos: list[Posted] = []
    for cycle in range(CYCLES):
        with MicropubTraffic(client, prefix=f"mpcrash{cycle}", writers=WRITERS, seed=seed) as traffic:
            time.sleep(rng.uniform(*KILL_AFTER))
            kill_sent = time.monotonic()
            site.kill()
            killed_at = time.monotonic()
        context = f"cycle {cycle}, seed {seed} (STARPUNK_FAULT_SEED={seed} repeats it)"
        assert traffic.notes, f"{context}: no note was acknowledged before the kill, so nothing was tested"
        assert_killed_mid_traffic(traffic.outcomes, kill_sent, killed_at, 201, {200, 201}, context)
        notes += traffic.notes
        photos += traffic.photos

        site.start_again()
        assert site.integrity() == "ok", context
        lost = lost_posts(site, notes, photos)
        assert not lost, (
            f"{context}: {len(lost)} of {len(notes)} notes and {len(photos)} photos lost or changed: {lost[:5]}"
        )

    # Whatever partial files the kills left, once old enough to be abandoned, are gone after the next start.
    partial = partial_files(site)
    site.run("python3", "-c", AGE_PARTIAL_FILES)
    site.restart()
    assert partial_files(site) == [], f"partial uploads survived a start (there were {len(partial)} after the kills)"
    if partial:
        site.wait_for_log(f"removed {len(partial)} partial upload file(s) left by a killed process")
    assert lost_posts(site, notes, photos) == []


def partial_files(site: Site) -> list[str]:
    """Return the partial upload files in /data/media."""
    return site.run("python3", "-c", LIST_PARTIAL_FILES, PARTIAL).split()
