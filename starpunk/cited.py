"""The title of the page a note answers, shown in its h-cite ("In reply to <title>").

Sending a note's Webmentions fetches each target (starpunk/sending.py); when
the target is the page the note answers (its ``in-reply-to``, ``like-of``,
``repost-of`` or ``bookmark-of``), ``keep`` stores that page's title beside
the send (``webmention_sends.title``) and bumps the content generation, so
every worker's cached pages and feeds are rendered again with it. The title is
the page's microformats2 ``name`` (of its first h-entry, h-cite or h-card),
else its ``<title>``: plain text, whitespace collapsed, control characters
dropped, at most MAX_TITLE_CHARS. Templates escape it like any text.

- ``title_of(response)``: the title of a fetched page, or None.
- ``keep(db, note_id, target, response)``: store it for the note's response target.
- ``titles_of(db, notes)``: {note id: title} of the notes' answered pages, one query.
"""

import json
import unicodedata

from .db import transaction, utcnow
from .responses import response_of

MAX_TITLE_CHARS = 200
# Python's own HTML parser, as verify.py uses (the image leaves out html5lib).
HTML_PARSER = "html.parser"
NAMED_TYPES = ("h-entry", "h-cite", "h-card")


def clean_title(text):
    """Return text as one line of at most MAX_TITLE_CHARS, without control characters, or None when empty."""
    if not isinstance(text, str):
        return None
    kept = "".join(char for char in text if not unicodedata.category(char).startswith("C") or char.isspace())
    line = " ".join(kept.split())
    if len(line) > MAX_TITLE_CHARS:
        line = line[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return line or None


def _mf2_name(text, url):
    import mf2py  # on the first send, not at start (see verify.links_to)

    for item in mf2py.parse(doc=text, url=url, html_parser=HTML_PARSER)["items"]:
        if any(kind in NAMED_TYPES for kind in item.get("type", [])):
            for name in item.get("properties", {}).get("name", []):
                title = clean_title(name)
                if title:
                    return title
    return None


def title_of(response):
    """Return the title of a fetched page (mf2 name, else <title>), cleaned, or None (not HTML, no title)."""
    if "html" not in (response.headers.get_content_type() or "") or response.status != 200:
        return None
    text = response.text()
    title = _mf2_name(text, response.url)
    if title:
        return title
    from bs4 import BeautifulSoup  # on the first send, not at start

    found = BeautifulSoup(text, HTML_PARSER).title
    return clean_title(found.get_text()) if found is not None else None


def keep(db, note_id, target, response):
    """Store the title of target's page when the note answers target; bump the generation when it changed."""
    from .store import _bump_generation  # store imports sending, which imports this module

    row = db.execute("SELECT properties FROM notes WHERE id = ?", (note_id,)).fetchone()
    answered = response_of(json.loads(row[0])) if row is not None else None
    if answered is None or answered.url != target:
        return
    title = title_of(response)
    with transaction(db):
        cur = db.execute(
            "UPDATE webmention_sends SET title = ? WHERE note_id = ? AND target = ? AND title IS NOT ?",
            (title, note_id, target, title),
        )
        if cur.rowcount:  # readers' cached pages and feeds are rendered again, with the title
            _bump_generation(db, utcnow())


def titles_of(db, notes):
    """Return {note id: title of the page it answers} for those of the notes (dicts with properties) that have one."""
    answered = {}
    for note in notes:
        response = response_of(note["properties"])
        if response is not None:
            answered[note["id"]] = response.url
    if not answered:
        return {}
    marks = ", ".join("?" * len(answered))
    rows = db.execute(
        f"SELECT note_id, target, title FROM webmention_sends WHERE note_id IN ({marks}) AND title IS NOT NULL",
        list(answered),
    )
    return {note_id: title for note_id, target, title in rows if answered.get(note_id) == target}
