"""SIGKILL at a random moment while notes are being published loses no acknowledged note and damages nothing."""

import os
import random
import re
import time

from testkit.owner import ADMIN_PAGE_SIZE
from testkit.site import Lab, Site

from .traffic import Traffic, assert_killed_mid_traffic

CYCLES = 4
# The kill comes at a random moment in this window after the writers start.
KILL_AFTER = (0.5, 2.0)
WRITERS = 3


def stored_contents(site: Site) -> set[str]:
    """Return the content of every note in the site's database (read inside the container)."""
    return {row[0] for row in site.sqlite("SELECT content FROM notes")}


def test_sigkill_while_publishing_loses_no_acknowledged_note(lab: Lab) -> None:
    """Kill the container mid-traffic, several times.

    Every note answered with 303 is there, intact, and the database is sound.
    """
    seed = int(os.environ.get("STARPUNK_FAULT_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    site = lab.site()
    owner = site.sign_in()
    token = owner.csrf_token()
    acknowledged: list[str] = []
    for cycle in range(CYCLES):
        with Traffic(owner, token, prefix=f"crash{cycle}", writers=WRITERS, seed=seed, max_seconds=30) as traffic:
            time.sleep(rng.uniform(*KILL_AFTER))
            kill_sent = time.monotonic()
            site.kill()
            killed_at = time.monotonic()
        context = f"cycle {cycle}, seed {seed} (STARPUNK_FAULT_SEED={seed} repeats it)"
        assert traffic.acknowledged, f"{context}: no note was acknowledged before the kill, so nothing was tested"
        assert_killed_mid_traffic(traffic.outcomes, kill_sent, killed_at, 303, {303}, context)
        acknowledged += traffic.acknowledged

        site.start_again()
        assert site.integrity() == "ok", context
        stored = stored_contents(site)
        lost = [content.split(maxsplit=1)[0] for content in acknowledged if content not in stored]
        assert not lost, (
            f"{context}: {len(lost)} of {len(acknowledged)} acknowledged notes are missing or changed: {lost[:5]}"
        )
        # The owner's list is paged: its first page shows the newest notes the database holds.
        admin = owner.get("/admin")
        assert admin.status_code == 200, f"{context}: /admin answered {admin.status_code}"
        newest = [
            row[0]
            for row in site.sqlite(
                f"SELECT slug FROM notes WHERE deleted_at IS NULL ORDER BY id DESC LIMIT {ADMIN_PAGE_SIZE}"
            )
        ]
        listed = re.findall(r'aria-label="Delete ([a-z0-9-]+)"', admin.text)
        assert listed == newest, f"{context}: /admin's first page lists {listed[:5]}, the newest are {newest[:5]}"
        health = site.get("/health")
        assert health.status_code == 200, f"{context}: {health.text}"
