"""How long a new machine takes to come back: a site of 1,000 notes and 200 photos, restored, beside a plain start.

The site is filled inside its container through the app's own store and
media code (what the admin form calls), then replicated. Measured three
times each, medians reported in build/reports/replicate/restore-time.md:
the plain start-up of the filled site (stop, start, /health 200), the restore
step on a new empty volume, and the restored site's start (which writes the
200 photo files back). Timings are reported, not judged: the machine is shared.
"""

import json
import secrets
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from testkit.replica import ReplicatedSite

NOTES = 1000
PHOTOS = 200
PHOTO_BYTES = 100_000
REPEATS = 3
FILL = """
import random, struct, sys, zlib
from starpunk import create_app, media, store
from starpunk.photos import Photo

def png(seed, size):
    rng = random.Random(seed)
    side = int((size // 3) ** 0.5) + 1
    rows = b"".join(b"\\0" + rng.randbytes(side * 3) for _ in range(side))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")
    return b"\\x89PNG\\r\\n\\x1a\\n" + body

notes, photos, size = (int(arg) for arg in sys.argv[1:4])
every = notes // photos
app = create_app()
with app.test_request_context():
    for number in range(notes):
        attached = []
        if number % every == 0:
            attached = [Photo.stored(media.save_upload(png(number, size)), f"Photo {number}")]
        store.create_note(f"Note {number} of the large site, with **Markdown**.", True, ["large"], attached)
"""


def test_restore_time_of_a_large_site_beside_its_plain_start(
    replicated: Callable[..., ReplicatedSite], reports: Path
) -> None:
    """Restore and start of 1,000 notes and 200 photos on new volumes, beside the same site's plain restart."""
    path = f"large-{secrets.token_hex(4)}"
    pair = replicated(path).start()
    assert pair.site is not None
    site = pair.site
    filled = time.monotonic()
    site.run("python3", "-c", FILL, str(NOTES), str(PHOTOS), str(PHOTO_BYTES))
    fill_seconds = time.monotonic() - filled
    assert site.sqlite("SELECT count(*) FROM notes") == [[NOTES]]
    size = int(site.sqlite("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size")[0][0])
    pair.wait_replicated(timeout=60)  # ok: the bucket holds every transaction of the fill

    plain = []
    for _ in range(REPEATS):
        site.stop()
        plain.append(site.start_again())
    restores, starts = [], []
    for _ in range(REPEATS):
        again = replicated(path)
        started = time.monotonic()
        again.start(replicate=False)
        assert again.site is not None and again.restored is not None
        starts.append(time.monotonic() - started - again.restored.seconds)
        restores.append(again.restored.seconds)
        assert again.site.sqlite("SELECT count(*) FROM notes") == [[NOTES]]
        integrity = again.site.integrity()
        assert integrity == "ok", (
            f"the restored database: {integrity}\nrestore: {again.restored.logs[-3000:]}\n"
            f"the sidecar that replicated it: {pair.sidecar_logs()[-5000:]}"
        )
        copies = again.site.sqlite("SELECT count(*) FROM media_copies")
        assert copies == [[PHOTOS]], f"the restored database keeps {copies} photos:\n{again.restored.logs[-3000:]}"
        assert f"{PHOTOS} photo file(s) written back" in again.site.logs()
        again.remove()
    figures = {
        "notes": NOTES,
        "photos": PHOTOS,
        "photo_bytes_each": PHOTO_BYTES,
        "database_bytes": size,
        "fill_seconds": round(fill_seconds, 1),
        "plain_start_seconds": [round(s, 2) for s in plain],
        "restore_step_seconds": [round(s, 2) for s in restores],
        "restored_start_seconds": [round(s, 2) for s in starts],
    }
    (reports / "restore-time.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    median = statistics.median
    plain, restores, starts = (
        figures[key] for key in ("plain_start_seconds", "restore_step_seconds", "restored_start_seconds")
    )
    table = (
        "# Restore time\n\n"
        f"A site of {NOTES} notes and {PHOTOS} photos ({PHOTO_BYTES // 1000} kB each; database {size / 1e6:.1f} MB "
        "with the photos' copies), replicated to SeaweedFS on 127.0.0.1. Medians of "
        f"{REPEATS}; seconds.\n\n"
        "| step | median | runs |\n|---|---|---|\n"
        f"| plain start-up of the filled site (stop, start, /health 200) | {median(plain):.2f} | {plain} |\n"
        f"| restore step on a new empty volume (sidecar image, `restore`) | {median(restores):.2f} | {restores} |\n"
        f"| start of the restored site (photos written back, /health 200) | {median(starts):.2f} | {starts} |\n"
        f"| restore + start, new machine to serving | {median(restores) + median(starts):.2f} | |\n"
    )
    (reports / "restore-time.md").write_text(table, encoding="utf-8")
    print(table)
