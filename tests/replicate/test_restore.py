"""Restores by the sidecar image's restore step: none without a replica, a point in time with -timestamp."""

import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone

from testkit.replica import SYNC_INTERVAL_SECONDS, ReplicatedSite
from tests.replicate.writes import stored_notes

# Long enough that a note is uploaded, and that two writes fall on either side of a second-precise timestamp.
SETTLE_SECONDS = SYNC_INTERVAL_SECONDS + 1.5


def test_without_a_replica_the_site_starts_empty(replicated: Callable[..., ReplicatedSite]) -> None:
    """The restore step finds nothing, says so and exits 0; the site starts as a new one, with no restore line."""
    pair = replicated(f"empty-{secrets.token_hex(4)}").start()
    assert pair.restored is not None and pair.restored.exit_code == 0
    assert "no matching backups found" in pair.restored.logs
    assert pair.site is not None and pair.site.sqlite("SELECT count(*) FROM notes") == [[0]]
    assert "restored this site" not in pair.site.logs()


def test_a_point_in_time_restore_brings_back_the_site_as_it_was_then(replicated: Callable[..., ReplicatedSite]) -> None:
    """`restore -timestamp T` on a new volume has the notes written before T and none written after."""
    path = f"pitr-{secrets.token_hex(4)}"
    pair = replicated(path).start()
    assert pair.site is not None
    owner = pair.site.sign_in()
    assert owner.post_note("Written before the moment").status_code == 303
    time.sleep(SETTLE_SECONDS)
    moment = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    time.sleep(SETTLE_SECONDS)
    assert owner.post_note("Written after the moment").status_code == 303
    time.sleep(SETTLE_SECONDS)
    pair.wait_replicated()

    then = replicated(path).start("-timestamp", moment, replicate=False)
    assert then.site is not None
    notes = stored_notes(then.site)
    assert "Written before the moment" in notes
    assert "Written after the moment" not in notes
    latest = replicated(path).start(replicate=False)
    assert latest.site is not None and "Written after the moment" in stored_notes(latest.site)


def test_backup_and_checkpoints_work_with_litestream_attached(replicated: Callable[..., ReplicatedSite]) -> None:
    """The online backup command and a checkpoint run beside the sidecar; the backup restores like any other."""
    pair = replicated(f"beside-{secrets.token_hex(4)}").start()
    assert pair.site is not None
    site, owner = pair.site, pair.site.sign_in()
    for number in range(5):
        assert owner.post_note(f"Note {number} beside Litestream").status_code == 303
    pair.wait_replicated()
    said = site.run("flask", "--app", "starpunk", "backup", "/data/backups/beside.db")
    assert "Backed up 5 note(s)" in said
    busy, _, _ = site.sqlite("PRAGMA wal_checkpoint(PASSIVE)")[0]
    assert busy == 0, "a passive checkpoint beside Litestream should not be blocked"
    assert site.integrity() == "ok"
    assert owner.post_note("Written after the backup").status_code == 303
    time.sleep(SETTLE_SECONDS)
    assert pair.wait_replicated()["status"] == "ok"
    assert "level=ERROR" not in pair.sidecar_logs()
