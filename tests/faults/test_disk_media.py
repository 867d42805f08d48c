"""A full /data while photos are uploaded.

Each refusal is a clear 503, no half-written file stays in /data/media, no note names a missing file.
"""

import json
import uuid

from testkit.micropub_client import MicropubClient
from testkit.samples import noisy_png
from testkit.site import Lab, Site

from .test_disk import DATA_TMPFS, FILLER, fill

# Room left on /data after filling it: less than the big photo, more than the small one.
ROOM_BYTES = 256 * 1024
BIG_PHOTO_BYTES = 1_000_000
SMALL_PHOTO_BYTES = 2_000
# Notes this long need new pages in the write-ahead log; the second is longer than the first plus the room freed.
# A note's stored HTML (0.8.0) about doubles what it writes; the room freed for the small photo holds the photo's
# file and its database copy's pages (16 KB did not once each note's HTML was stored beside its text).
FILLING_NOTE_CHARS = 60_000
REFUSED_NOTE_CHARS = 95_000
FREED_FOR_PHOTO = 64 * 1024
# Frees room by shortening the filler (the image has no shell, so no truncate): FILE BYTES.
SHRINK = "import os, sys; os.truncate(sys.argv[1], os.path.getsize(sys.argv[1]) - int(sys.argv[2]))"
MAX_ATTEMPTS = 20
PHOTO_REFUSED = "The photo could not be saved"
STORE_REFUSED = "Nothing was changed"
LIST_MEDIA = (
    "import json, pathlib; folder = pathlib.Path('/data/media');"
    " print(json.dumps({p.name: p.stat().st_size for p in folder.iterdir()} if folder.is_dir() else {}))"
)


def media_files(site: Site) -> dict[str, int]:
    """Return name -> size of every file in /data/media, hidden ones (temporary uploads) included."""
    files: dict[str, int] = json.loads(site.run("python3", "-c", LIST_MEDIA))
    return files


def referenced_files(site: Site) -> dict[str, int]:
    """Return name -> size in bytes of every stored file a note names."""
    rows = site.sqlite("SELECT file_name, size_bytes FROM note_photos WHERE file_name IS NOT NULL")
    return {name: size for name, size in rows}


def assert_refused_cleanly(reply_status: int, body: dict[str, str], says: str) -> None:
    """Check a Micropub refusal on a full disk: 503, the spec's JSON error, saying what happened."""
    assert reply_status == 503, f"{reply_status}: {body}"
    assert body["error"] == "temporarily_unavailable", body
    assert says in body["error_description"] and "Traceback" not in body["error_description"], body


def test_full_disk_during_uploads_leaves_no_partial_file_and_no_dangling_photo(lab: Lab) -> None:
    """A photo larger than the room left is refused and leaves nothing.

    So is a note too large for the room once its photo is stored.
    """
    site = lab.site(tmpfs=DATA_TMPFS)
    client = MicropubClient.sign_in(site.sign_in())
    kept = noisy_png(SMALL_PHOTO_BYTES, "before")
    before = client.create_form(
        content="Written while there was room", files=[("photo", ("before.png", kept, "image/png"))]
    )
    assert before.status_code == 201, before.text[:300]
    stored_before = media_files(site)
    fill(site)
    site.run("python3", "-c", SHRINK, FILLER, str(ROOM_BYTES))

    # A file that cannot fit: refused while it is written, through the media endpoint and with a note.
    big = noisy_png(BIG_PHOTO_BYTES, uuid.uuid4().hex)
    upload = client.upload_reply(big, "big.png")
    assert_refused_cleanly(upload.status_code, upload.json(), PHOTO_REFUSED)
    with_note = client.create_form(
        content="A note with a photo too big for the disk", files=[("photo", ("big.png", big, "image/png"))]
    )
    assert_refused_cleanly(with_note.status_code, with_note.json(), PHOTO_REFUSED)
    assert media_files(site) == stored_before, "a refused upload left a file in /data/media"

    # Fill the write-ahead log's room with long notes until one is refused, as on a full disk.
    for attempt in range(MAX_ATTEMPTS):
        reply = client.create_form(content=f"filling-{attempt} " + "x" * FILLING_NOTE_CHARS)
        if reply.status_code != 201:
            assert_refused_cleanly(reply.status_code, reply.json(), STORE_REFUSED)
            break
    else:
        raise AssertionError(f"{MAX_ATTEMPTS} long notes were all accepted on a nearly full disk")
    # Room for a small photo but not for a longer note: the photo is stored, then the note is refused.
    site.run("python3", "-c", SHRINK, FILLER, str(FREED_FOR_PHOTO))
    marker = f"refused-{uuid.uuid4().hex[:8]}"
    files = [("photo", ("small.png", noisy_png(SMALL_PHOTO_BYTES, marker), "image/png"))]
    refused = client.create_form(content=f"{marker} " + "y" * REFUSED_NOTE_CHARS, files=files)
    assert_refused_cleanly(refused.status_code, refused.json(), STORE_REFUSED)
    site.wait_for_log("ERROR starpunk: storage error on POST /micropub: database or disk is full")

    found, named = media_files(site), referenced_files(site)
    assert found == stored_before, (
        f"/data/media holds {sorted(set(found) - set(stored_before))} besides the photos stored before"
    )
    missing = {name: size for name, size in named.items() if found.get(name) != size}
    assert not missing, f"notes name photos that are missing or short: {missing}"
    assert not site.sqlite(f"SELECT id FROM notes WHERE content LIKE '{marker}%'"), "the refused note was stored"
    assert site.integrity() == "ok"

    site.run("python3", "-c", "import os, sys; os.remove(sys.argv[1])", FILLER)
    after = noisy_png(SMALL_PHOTO_BYTES, "after")
    url = client.upload(after, "after.png")
    assert client.get(url).content == after
    assert client.create("Written once the space came back", photo=[url])
    assert site.get("/health").status_code == 200
