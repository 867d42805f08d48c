"""The object store goes away: the site keeps serving and taking notes, /health says replication is behind, and
the sidecar catches up by itself when the store is back (nothing lost: a restore afterwards has it all).

The issue asks for a minute; this outage lasts 30 s, to keep the session
within a few minutes (a minute costs about one more, since the catch-up
waits for Litestream's next retry too). Nothing changes between the two:
Litestream retries with a wait that doubles from the 1 s sync interval
(1, 2, 4, 8, 16 s: five failed attempts in 30 s, where a minute adds one,
at 32 s) up to its five-minute maximum, /health says "behind" from the 5th
second on, and the catch-up comes at the next retry after the store is back
(here within about 32 s; after a minute, within about 64 s).
"""

import secrets
import time
from collections.abc import Callable

from testkit.objectstore import ObjectStore
from testkit.replica import ReplicatedSite
from testkit.samples import png, publish_with_photos
from tests.replicate.writes import stored_notes

OUTAGE_SECONDS = 30.0
MAX_LAG_SECONDS = 5
WRITE_EVERY_SECONDS = 3.0
CATCH_UP_TIMEOUT = 150.0


def test_an_outage_of_the_store_costs_nothing_and_replication_catches_up(
    replicated: Callable[..., ReplicatedSite], objectstore: ObjectStore
) -> None:
    """30 s without the store: pages 200, notes accepted, replication behind; then ok, and all restorable."""
    path = f"outage-{secrets.token_hex(4)}"
    pair = replicated(path, env={"REPLICATION_MAX_LAG_SECONDS": str(MAX_LAG_SECONDS)}).start()
    assert pair.site is not None
    site, owner = pair.site, pair.site.sign_in()
    publish_with_photos(owner, "Before the outage", [(png(64, 48), "A photo before the outage")])
    pair.wait_replicated()

    written, statuses = [], []
    objectstore.stop()
    try:
        ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < ends:
            content = f"Written while the store is down, {len(written) + 1} ({secrets.token_hex(3)})"
            publish_with_photos(owner, content, [(png(32, 32, (len(written) * 20 % 255, 90, 60)), content)])
            written.append(content)
            assert site.get("/").status_code == 200
            health = site.get("/health")
            assert health.status_code == 200, f"/health answered {health.status_code} during the outage"
            statuses.append(health.json()["replication"]["status"])
            time.sleep(WRITE_EVERY_SECONDS)
        assert "behind" in statuses, f"/health never said behind during the outage: {statuses}"
        assert site.get("/health/replication").status_code == 503
    finally:
        objectstore.start()

    pair.wait_replicated(timeout=CATCH_UP_TIMEOUT)
    assert site.get("/health/replication").status_code == 200
    pair.kill()
    pair.destroy()
    again = replicated(path).start()
    assert again.site is not None
    notes = stored_notes(again.site)
    missing = [content for content in written if content not in notes]
    assert not missing, f"notes written during the outage missing after the restore: {missing}"
    assert again.site.integrity() == "ok"
