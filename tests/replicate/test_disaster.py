"""Lose the machine, lose nothing: SIGKILL the site and its sidecar, delete the volume, restore on a new one.

Each round publishes notes with photos (admin form and Micropub) for a random
few seconds, then, while writes are in flight, kills the site and the sidecar
at once and deletes the volume. A new site on a new, empty volume restores
from the bucket. Every write acknowledged more than the sync interval plus
1 s before the kill must be back byte for byte (text, photo bytes, permalink,
feed); the younger ones are counted, and whether they came back. The table
goes to build/reports/replicate/disaster.md (and .json).
"""

import json
import random
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from testkit.micropub_client import MicropubClient
from testkit.replica import SYNC_INTERVAL_SECONDS, ReplicatedSite
from tests.replicate.writes import Write, Writer, check_back

ROUNDS = 10
WINDOW_SECONDS = SYNC_INTERVAL_SECONDS + 1.0
FEED_ITEMS = 50  # FEED_MAX_ITEMS's default: /feed.json carries the newest 50


def test_every_write_older_than_the_window_survives_ten_disasters(
    replicated: Callable[..., ReplicatedSite], reports: Path
) -> None:
    """Over ten rounds of kill-and-delete, no write acknowledged more than 2 s before the disaster is lost."""
    path = f"disaster-{secrets.token_hex(4)}"
    pair = replicated(path).start()
    assert pair.restored is not None and "no matching backups found" in pair.restored.logs
    assert pair.site is not None and pair.site.sqlite("SELECT count(*) FROM notes") == [[0]], "a new site starts empty"
    expected: list[Write] = []
    rows = []
    for round_number in range(1, ROUNDS + 1):
        site = pair.site
        assert site is not None
        owner = site.sign_in()
        writer = Writer(owner, MicropubClient.sign_in(owner), f"r{round_number}").start()
        time.sleep(random.uniform(2.5, 4.0))
        disaster_at = time.monotonic()
        pair.kill()
        acked = writer.stop()
        pair.destroy()

        pair = replicated(path).start()
        assert pair.site is not None and pair.restored is not None
        restored_line = pair.site.wait_for_log("restored this site from a copy of its database")
        old = [write for write in acked if write.acked_at < disaster_at - WINDOW_SECONDS]
        young = [write for write in acked if write.acked_at >= disaster_at - WINDOW_SECONDS]
        # This round's writes are checked on their pages too; the earlier ones by text and photo bytes.
        back = {**check_back(pair.site, expected, pages=False), **check_back(pair.site, acked, pages=True)}
        feed = pair.site.get("/feed.json").text
        # The feed holds the newest notes: the young writes that came back take their places first.
        in_feed_expected = old[len(old) - max(0, FEED_ITEMS - young_back_count(back, young)) :]
        in_feed = sum(write.marker in feed for write in in_feed_expected)
        lost_old = [write.marker for write in expected + old if not back[write.marker]]
        young_back = sum(back[write.marker] for write in young)
        rows.append(
            {
                "round": round_number,
                "acknowledged": len(acked),
                "older_than_window": len(old),
                "older_back": len(old) - sum(not back[w.marker] for w in old),
                "earlier_rounds_back": sum(back[w.marker] for w in expected),
                "earlier_rounds": len(expected),
                "younger_than_window": len(young),
                "younger_back": young_back,
                "lost_beyond_window": len(lost_old),
                # The effective window: how long before the kill the oldest lost write was acknowledged.
                "oldest_lost_seconds": round(
                    max((disaster_at - w.acked_at for w in young if not back[w.marker]), default=0), 2
                ),
                "restore_seconds": round(pair.restored.seconds, 2),
                "cut_by_the_kill": writer.errors,
            }
        )
        assert not lost_old, f"round {round_number}: writes older than {WINDOW_SECONDS} s lost: {lost_old}"
        assert in_feed == len(in_feed_expected), f"round {round_number}: /feed.json lacks restored notes"
        assert "newest change" in restored_line
        # What came back is what the next round must keep; a young write that did not come back is gone for good.
        expected += old + [write for write in young if back[write.marker]]
    _write_table(reports, rows)
    assert sum(row["older_than_window"] for row in rows) >= ROUNDS, "too few writes to prove anything"


def young_back_count(back: dict[str, bool], young: list[Write]) -> int:
    """Return how many of the writes younger than the window came back."""
    return sum(back[write.marker] for write in young)


def _write_table(reports: Path, rows: list[dict[str, float]]) -> None:
    (reports / "disaster.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    header = (
        "| round | acknowledged | older than 2 s: back | earlier rounds: back | younger than 2 s: back "
        "| lost beyond the window | oldest lost (s before the kill) | restore (s) | write cut by the kill |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['round']} | {r['acknowledged']} | {r['older_back']}/{r['older_than_window']} "
        f"| {r['earlier_rounds_back']}/{r['earlier_rounds']} | {r['younger_back']}/{r['younger_than_window']} "
        f"| {r['lost_beyond_window']} | {r['oldest_lost_seconds']} | {r['restore_seconds']} | {r['cut_by_the_kill']} |"
        for r in rows
    ]
    text = (
        f"# Disaster rounds\n\nSIGKILL of the site and the sidecar, the volume deleted, a new volume restored "
        f"from SeaweedFS. Window: sync interval {SYNC_INTERVAL_SECONDS:g} s + 1 s.\n\n" + header + "\n".join(lines)
    )
    (reports / "disaster.md").write_text(text + "\n", encoding="utf-8")
