"""The load benchmark's seeded site: the notes it publishes, and the check that they left its queue idle."""

from typing import TYPE_CHECKING

from testkit.owner import Owner

if TYPE_CHECKING:
    from testkit.site import Site


def seed(owner: Owner, count: int) -> None:
    """Publish count notes through the admin form, as the author would.

    Each note links to a page of the site itself, which sends no Webmention: a
    link elsewhere queues one per note, and these machines resolve no name
    outside, so all of them were retried (30 s, 2 min, 8 min later) while the
    phases after the seeding measured readers (see idle_queue).
    """
    token = owner.csrf_token()
    for n in range(count):
        content = (
            f"## Seed note {n}\n\nA note with *Markdown*, a [link](/tags) "
            f"and a list:\n\n- one\n- two & three\n\nNumber {n} of {count}."
        )
        reply = owner.post_note(content, csrf_token=token)
        if reply.status_code != 303:
            raise RuntimeError(f"seeding note {n} failed with HTTP {reply.status_code}")


def idle_queue(site: "Site") -> None:
    """Fail unless the site's job queue is empty: the readers' phases measure readers, not its consumer at work."""
    jobs = site.run("flask", "--app", "starpunk", "queue", "status").strip()
    if jobs:
        raise RuntimeError(
            f"the seeded site has jobs queued, which its consumer would work while readers are measured:\n{jobs}"
        )
