"""A full /data: writes fail with the storage page and change nothing, reads go on.

/health says why, and the site recovers by itself.
"""

import uuid

from testkit.site import APP_UID, Lab, Site

# Small enough to fill in an instant; owned by the app's user like the image's /data.
DATA_TMPFS = {"/data": f"size=8m,uid={APP_UID},gid={APP_UID},mode=0700"}
FILLER = "/data/filler"
FILL_SCRIPT = (
    "import sys\n"
    "with open(sys.argv[1], 'wb') as filler:\n"
    "    try:\n"
    "        while filler.tell() < 64 * 2**20:\n"
    "            filler.write(bytes(65536)); filler.flush()\n"
    "    except OSError as exc:\n"
    "        print(exc.errno)\n"
)
ENOSPC = "28"
# A note this size needs new pages in the write-ahead log, which a full disk cannot give.
BIG_NOTE_CHARS = 60_000
MAX_ATTEMPTS = 20
STORAGE_MESSAGE = "Nothing was changed"
READ_PATHS = ("/", "/feed.xml", "/feed.atom", "/feed.json")


def fill(site: Site) -> None:
    """Fill /data to the last byte with one file, written as the app's user."""
    assert site.run("python3", "-c", FILL_SCRIPT, FILLER).strip() == ENOSPC, (
        "the filler did not reach the end of the disk"
    )
    assert site.run("python3", "-c", "import os; print(os.statvfs('/data').f_bavail)").strip() == "0"


def note_count(site: Site) -> int:
    """Return how many notes the database holds, drafts and deleted ones included."""
    return site.sqlite("SELECT count(*) FROM notes")[0][0]


def test_full_disk_refuses_writes_cleanly_and_recovers_by_itself(lab: Lab) -> None:
    """Publishing on a full disk gives the 503 storage page and stores nothing.

    Reads, feeds and health go on; freeing space heals.
    """
    site = lab.site(tmpfs=DATA_TMPFS)
    owner = site.sign_in()
    token = owner.csrf_token()
    before = f"full-disk-before-{uuid.uuid4().hex[:8]}"
    owner.publish(f"{before} was written while there was room.")
    fill(site)
    for path in READ_PATHS:
        page = site.get(path)
        assert page.status_code == 200, f"{path} answered {page.status_code} on a full disk"
        assert before in page.text, f"{path} lacks the note written before the disk filled"

    # The log may still have room for a note or two: those are kept, the first refusal is what counts.
    count = note_count(site)
    refused = None
    for attempt in range(MAX_ATTEMPTS):
        marker = f"full-disk-{attempt}-{uuid.uuid4().hex[:8]}"
        reply = owner.post_note(f"{marker} " + "x" * BIG_NOTE_CHARS, csrf_token=token)
        if reply.status_code == 303:
            count += 1
            continue
        refused = (marker, reply)
        break
    assert refused, f"{MAX_ATTEMPTS} big notes were all accepted on a full disk"
    marker, reply = refused
    assert reply.status_code == 503, f"{reply.status_code}: {reply.text[:300]}"
    assert reply.headers["Content-Type"].startswith("text/html")
    assert STORAGE_MESSAGE in reply.text and "Traceback" not in reply.text
    assert note_count(site) == count, "the refused note changed the number of notes"
    assert not site.sqlite(f"SELECT id FROM notes WHERE content LIKE '{marker}%'"), "the refused note was stored"
    assert site.integrity() == "ok"
    site.wait_for_log("ERROR starpunk: storage error on POST /admin/new: database or disk is full")

    assert all(site.get(path).status_code == 200 for path in READ_PATHS), "reads failed after the refused write"
    health = site.get("/health")
    assert health.status_code == 503
    assert health.json()["checks"] == {"database": "ok", "data_path": "write failed"}

    site.run("python3", "-c", "import os, sys; os.remove(sys.argv[1])", FILLER)
    after = f"full-disk-after-{uuid.uuid4().hex[:8]}"
    owner.publish(f"{after} was written once the space came back.")
    assert site.get("/health").status_code == 200
    assert after in site.get("/").text
    assert site.integrity() == "ok"
