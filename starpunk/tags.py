"""Tags of notes (the note_tags table): normalised names, kept in the order the author gave them.

A tag is normalised once, when stored: Unicode NFKC, lower case, runs of
whitespace made one space, a leading "#" dropped, and "/" (which would split
its address) turned into "-". Pass raw names to ``store.create_note`` /
``store.update_note`` as ``tags=``; ``parse_tags`` splits the admin form's
comma-separated field.
"""

import unicodedata

MAX_TAG_CHARS = 100
MAX_TAGS = 30  # per note


def normalise_tag(raw):
    """Return the stored form of a tag name; ValueError when nothing usable is left."""
    text = unicodedata.normalize("NFKC", str(raw))
    text = "".join(char for char in text if unicodedata.category(char)[0] != "C" or char.isspace())
    text = " ".join(text.replace("/", "-").split()).lstrip("# ").lower()
    if not text or set(text) == {"."}:
        raise ValueError(f"{raw!r} is not a usable tag.")
    if len(text) > MAX_TAG_CHARS:
        raise ValueError(f"A tag can have at most {MAX_TAG_CHARS} characters.")
    return text


def clean_tags(names):
    """Return the normalised tags, duplicates and empty ones left out, in order; ValueError if too many."""
    found = []
    for raw in names:
        if not str(raw).strip():
            continue
        tag = normalise_tag(raw)
        if tag not in found:
            found.append(tag)
    if len(found) > MAX_TAGS:
        raise ValueError(f"A note can have at most {MAX_TAGS} tags.")
    return found


def parse_tags(text):
    """Split a comma-separated list of tags as typed in the admin form."""
    return [part for part in (text or "").split(",") if part.strip()]


def replace_tags(db, note_id, tags):
    """Make tags (normalised, in order) the note's only tags; call inside the note's write transaction."""
    db.execute("DELETE FROM note_tags WHERE note_id = ?", (note_id,))
    db.executemany(
        "INSERT INTO note_tags (note_id, position, tag) VALUES (?, ?, ?)",
        [(note_id, position, tag) for position, tag in enumerate(tags, start=1)],
    )


def tags_of(db, note_ids):
    """Return {note id: [tag, ...] in order} for these notes."""
    found = {note_id: [] for note_id in note_ids}
    if not found:
        return found
    marks = ",".join("?" * len(found))
    rows = db.execute(
        f"SELECT note_id, tag FROM note_tags WHERE note_id IN ({marks}) ORDER BY note_id, position", list(found)
    )
    for note_id, tag in rows:
        found[note_id].append(tag)
    return found


def tagged_filter(alias="notes"):
    """Return the SQL condition that keeps notes carrying the tag given as the next ? parameter."""
    return f"EXISTS (SELECT 1 FROM note_tags WHERE note_tags.note_id = {alias}.id AND note_tags.tag = ?)"
