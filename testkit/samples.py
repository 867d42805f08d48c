"""Sample content: the PNG images every suite uploads, and a site filled the way the audits measured it.

`png` (one colour) and `noisy_png` (random pixels that do not compress, for a
photo of a given size) are made in testkit/seed.py, which must stay on the
standard library alone; import them from here.

`fill_site` writes, through the admin form as the owner would, notes with
Markdown headings, lists and links (enough for a second page of the index),
and one note with two photos and tags; it returns the paths worth auditing.
"""

from dataclasses import dataclass

from .owner import Owner
from .seed import PAGE_SIZE, noisy_png, png

__all__ = ["AuditPaths", "fill_site", "noisy_png", "note_text", "png", "publish_with_photos"]


# Alike in shape only to tests/container/test_feeds.py's records (the duplicates tool pairs them).
@dataclass(frozen=True)
class AuditPaths:
    """Pages of a filled site: a permalink with photos, its tag page, and a note's edit form."""

    photo_note: str
    tag: str
    edit_form: str


def note_text(number: int) -> str:
    """Return the Markdown of the numbered sample note: headings two levels deep, a list, a link, a quote."""
    return (
        f"## Day {number} on the coast\n\nWe walked **{number + 3} km** from the harbour to the lighthouse, "
        'past the café “Le Phare” and its "famous" crêpes.\n\n'
        "### What we saw\n\n- seals on the rocks\n- a [tide table](https://example.org/tides)\n\n> Wind from the west."
    )


def publish_with_photos(owner: Owner, content: str, photos: list[tuple[bytes, str]], tags: str = "") -> None:
    """Publish one note with PNG photos (bytes, alt text) and comma-separated tags through the admin form."""
    reply = owner.post_note(content, photos=photos, tags=tags)
    assert reply.status_code == 303, f"publishing a note with photos answered {reply.status_code}: {reply.text[:300]}"


def fill_site(owner: Owner, notes: int = PAGE_SIZE + 5) -> AuditPaths:
    """Publish the audit corpus (notes with headings, then one with two photos and tags); return the pages to audit."""
    token = owner.csrf_token()
    for number in range(notes - 1):
        reply = owner.post_note(note_text(number), csrf_token=token)
        assert reply.status_code == 303, f"publishing note {number} answered {reply.status_code}"
    publish_with_photos(
        owner,
        "## Harbour at dusk\n\nTwo photos of the harbour, taken from the pier at **dusk**.",
        [
            (png(1200, 800), "Boats moored in the harbour at dusk"),
            (png(800, 1200, (200, 120, 40)), "The lighthouse, lit"),
        ],
        tags="Travel, photos",
    )
    listed = owner.notes()  # newest first, as /admin lists them
    newest = next(iter(listed))
    return AuditPaths(photo_note=f"/note/{newest}", tag="/tag/travel", edit_form=f"/admin/edit/{listed[newest].id}")
