"""A site of the previous release (v0.7.0) gains replication with one restart, and then survives losing its volume.

The sidecar starts beside the running old site (no restart for that); the one
restart is onto the current image, which keeps the old photos in the
database at its start, so they replicate too.
"""

import os
import secrets
import time
from collections.abc import Callable

import pytest

from testkit.replica import ReplicatedSite
from testkit.samples import png, publish_with_photos
from tests.replicate.writes import stored_notes

NOTES = 5


@pytest.fixture(scope="module")
def release_image() -> str:
    """Return the previous release's image, built by `nox -s replicate` (STARPUNK_RELEASE_IMAGE)."""
    tag = os.environ.get("STARPUNK_RELEASE_IMAGE")
    if not tag:
        pytest.fail("STARPUNK_RELEASE_IMAGE is not set: run the suite with `nox -s replicate`, which builds it")
    return tag


def test_a_previous_release_gains_replication_with_one_restart(
    replicated: Callable[..., ReplicatedSite], release_image: str
) -> None:
    """Old notes and photos, and one written after the upgrade, come back byte for byte on a new volume."""
    path = f"upgrade-{secrets.token_hex(4)}"
    pair = replicated(path, image=release_image).start(replicate=False)
    assert pair.site is not None
    owner = pair.site.sign_in()
    photos = {}
    for number in range(NOTES):
        content = f"Written by the old release, number {number}"
        photo = png(40 + number, 30, (number * 40, 100, 150))
        publish_with_photos(owner, content, [(photo, content)])
        photos[content] = photo
    pair.start_sidecar()  # beside the old site, which knows nothing of it

    pair.site.stop()
    stopped = time.monotonic()
    pair.site.remove()
    pair.lab.sites.remove(pair.site)
    pair.image = None
    pair.site = pair.lab.site(data=pair.volume, env=pair.env)
    downtime = time.monotonic() - stopped
    assert f"kept {NOTES} photo file(s) in the database" in pair.site.logs()
    owner = pair.site.sign_in()
    assert owner.post_note("Written after the upgrade").status_code == 303
    pair.wait_replicated()
    time.sleep(2.5)

    pair.kill()
    pair.destroy()
    new = replicated(path).start()
    assert new.site is not None
    notes = stored_notes(new.site)
    assert "Written after the upgrade" in notes
    for content, photo in photos.items():
        slug, _, files = notes[content]
        assert new.site.get(f"/media/{files[0]}").content == photo, f"{slug}: photo bytes differ"
        assert content in new.site.get(f"/note/{slug}").text
    print(f"upgrade: one restart, {downtime:.1f} s from the old site's stop to the new one's health")
