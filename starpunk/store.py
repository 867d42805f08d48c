"""Notes in SQLite: every write bumps the content generation in the same transaction.

The write API, shared by the admin form and Micropub (inside an app context):

- ``create_note(content, published, tags=(), photos=(), slug=None, published_at=None, properties=None) -> note``:
  ``slug`` (words to make the slug from; Micropub's ``mp-slug``) is used when
  free, else a unique variant; by default the slug comes from the content.
  ``published_at`` (an aware datetime) dates the note instead of now.
- ``update_note(note_id, content, published, tags=None, photos=None, published_at=None, properties=None) -> note``:
  ``None`` keeps the note's current tags, photos, date or properties; a
  sequence replaces them (an empty one removes them all). Raises LookupError
  for no such note (or a deleted one).
- ``delete_note(note_id)`` and ``undelete_note(note_id)``: LookupError when
  there is no such note, or it is already deleted (undeleted).
- ``syndicate_note(note_id, uids)``: pick cross-posting targets for a note without editing it.
- ``add_syndication(note_id, url)``: a copy elsewhere, from a cross-posting answer.

Every write queues, in its own transaction, the Webmentions it calls for
(starpunk/sending.py); ``syndicate_to`` (create and update) picks
cross-posting targets of SYNDICATE_TO for the note.

``properties`` is a dict of the microformats properties a Micropub client sent
that StarPunk keeps without rendering them (starpunk/micropub.py), stored as JSON.

``content`` goes through ``validate_content`` first; ``tags`` are raw names
(normalised here, see starpunk/tags.py); ``photos`` are ``photos.Photo``
values, at most MAX_PHOTOS, from ``Photo.stored(media.save_upload(...), alt)``
or ``Photo.from_url(url, alt)``. Store a photo's file *before* calling these,
and ``media.discard`` it if they raise, so no note ever points at a missing
file and no orphan stays. Bad tags or photos raise NoteError (shown to the author).

Every note read from here is a dict: the notes columns plus ``tags`` (list of
str) and ``photos`` (list of Photo), with ``properties`` decoded to a dict,
and ``cited_title`` (the title of the page it answers, when fetched, see
starpunk/cited.py), except in ``list_all`` and ``owner_page`` (the admin list). Readers' lists
are read by listing.py.
"""

import json
import sqlite3

from flask import current_app

from . import cited, render, sending
from . import photos as photo_table
from . import tags as tag_table
from .db import get_db, isoformat, transaction, utcnow
from .responses import clean_url
from .slugs import slugify, unique_slug

PUBLIC = "published = 1 AND deleted_at IS NULL"
NOTE_COLUMNS = (
    "id, slug, content, published, created_at, updated_at, published_at, deleted_at, properties, rendered, rendered_by"
)
# Read with a note, kept by render.py, not part of the note a caller gets (see _rendering).
RENDERING = ("rendered", "rendered_by")


class NoteError(ValueError):
    """A note's content was refused; the message is shown to the author."""


def validate_content(content, max_chars, required=True):
    """Return the content with line endings normalised, or raise NoteError (empty only when not required)."""
    content = (content or "").replace("\r\n", "\n").replace("\r", "\n")
    if required and not content.strip():
        raise NoteError("A note needs some text.")
    if len(content) > max_chars:
        raise NoteError(f"A note can have at most {max_chars:,} characters; this one has {len(content):,}.")
    return content


def _as_note_error(clean, value):
    """Return clean(value), its ValueError said as a NoteError (the form and Micropub show its message)."""
    try:
        return clean(value)
    except ValueError as exc:
        raise NoteError(str(exc)) from None


def validate_tags(names):
    """Return the normalised tags of a note, or raise NoteError."""
    return _as_note_error(tag_table.clean_tags, names)


def check_photo_count(count):
    """Raise NoteError when a note would have more than MAX_PHOTOS photos."""
    limit = current_app.config["MAX_PHOTOS"]
    if count > limit:
        raise NoteError(f"A note can have at most {limit} photos; this one has {count}.")


def validate_alt(alt):
    """Return a photo's alt text with whitespace tidied, or raise NoteError when it is too long."""
    return _as_note_error(photo_table.clean_alt, alt)


def validate_photos(photos):
    """Return the photos with tidied alt text, or raise NoteError (too many, alt text too long)."""
    photos = list(photos)
    check_photo_count(len(photos))
    return [photo.with_alt(validate_alt(photo.alt)) for photo in photos]


def _bump_generation(db, now):
    db.execute("UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'")
    db.execute("UPDATE site_state SET value = ? WHERE key = 'content_changed_at'", (now,))


def content_generation():
    """Return the content generation: one small read, made by every reader's request."""
    return generation_of(get_db())


def generation_of(conn):
    """Return the content generation as this connection reads it (fastpath.py asks without an app context)."""
    return int(conn.execute("SELECT value FROM site_state WHERE key = 'content_generation'").fetchone()[0])


def content_state():
    """Return (generation, changed_at): they change with every note write."""
    rows = dict(get_db().execute("SELECT key, value FROM site_state").fetchall())
    return int(rows["content_generation"]), rows["content_changed_at"]


def _rendering(content):
    """Return a note's HTML and what rendered it, stored with its text: reading a page then renders no Markdown."""
    return render.render_markdown(content), render.RENDERED_BY


RENDER_BATCH = 500  # notes whose HTML store_renderings writes in one transaction


def store_renderings(conn, batch=RENDER_BATCH):
    """Store the HTML of every note that lacks this revision's (see render.RENDERED_BY); return how many.

    Notes written before 0.8.0 have none, and an upgrade that changes
    render.py's rules or its libraries makes all of it stale; until this runs
    (``flask --app starpunk render-notes``), such notes render when read, as
    they always did. A batch a transaction, by id, so the site keeps writing;
    a note edited meanwhile keeps the HTML its edit stored.
    """
    stored = after = 0
    while rows := conn.execute(
        "SELECT id, content FROM notes WHERE id > ? AND rendered_by IS NOT ? ORDER BY id LIMIT ?",
        (after, render.RENDERED_BY, batch),
    ).fetchall():
        # Rendered before the write lock is taken, so writers wait only for the updates.
        renderings = [
            (render.render_afresh(content), render.RENDERED_BY, note_id, content) for note_id, content in rows
        ]
        with transaction(conn):
            for rendering in renderings:
                # The HTML any page already shows for this text: no generation bump.
                stored += conn.execute(
                    "UPDATE notes SET rendered = ?, rendered_by = ? WHERE id = ? AND content = ?", rendering
                ).rowcount
        after = rows[-1][0]
    return stored


def _properties_json(properties):
    return json.dumps(properties or {}, ensure_ascii=False, separators=(",", ":"))


def create_note(content, published, tags=(), photos=(), slug=None, published_at=None, properties=None, syndicate_to=()):
    """Store a new note with a unique slug, its tags and photos, and return it."""
    tags, photos = validate_tags(tags), validate_photos(photos)
    db = get_db()
    now = utcnow()
    # A given date dates the note even as a draft: it is kept when the draft is published.
    dated = isoformat(published_at) if published_at else (now if published else None)
    with transaction(db):
        # The write lock is held from here: no other worker can take the slug.
        slug = unique_slug(slugify(slug or content), lambda s: _slug_taken(db, s))
        cur = db.execute(
            "INSERT INTO notes (slug, content, published, created_at, updated_at, published_at, properties,"
            " rendered, rendered_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (slug, content, int(bool(published)), now, now, dated, _properties_json(properties), *_rendering(content)),
        )
        tag_table.replace_tags(db, cur.lastrowid, tags)
        photo_table.replace_photos(db, cur.lastrowid, photos)
        _bump_generation(db, now)
        sending.note_written(db, cur.lastrowid, None, _sending_row(db, cur.lastrowid), syndicate_to)
    return get_note(cur.lastrowid)


def _sending_row(db, note_id):
    """Return what sending.py reads of a note: slug, content, published, deleted_at, properties."""
    return db.execute(
        "SELECT slug, content, published, deleted_at, properties FROM notes WHERE id = ?", (note_id,)
    ).fetchone()


def _slug_taken(db, slug):
    return db.execute("SELECT 1 FROM notes WHERE slug = ?", (slug,)).fetchone() is not None


def update_note(
    note_id, content, published, tags=None, photos=None, published_at=None, properties=None, syndicate_to=()
):
    """Change a note's content, published flag and (unless None) tags, photos, date and properties; the slug stays."""
    tags = None if tags is None else validate_tags(tags)
    photos = None if photos is None else validate_photos(photos)
    db = get_db()
    now = utcnow()
    with transaction(db):
        before = _sending_row(db, note_id)
        cur = db.execute(
            "UPDATE notes SET content = ?, published = ?, updated_at = ?, rendered = ?, rendered_by = ?,"
            " published_at = CASE WHEN ? AND published_at IS NULL THEN ? ELSE published_at END"
            " WHERE id = ? AND deleted_at IS NULL",
            (content, int(bool(published)), now, *_rendering(content), int(bool(published)), now, note_id),
        )
        if cur.rowcount != 1:
            raise LookupError(note_id)
        if tags is not None:
            tag_table.replace_tags(db, note_id, tags)
        if photos is not None:
            photo_table.replace_photos(db, note_id, photos)
        if published_at is not None:
            db.execute("UPDATE notes SET published_at = ? WHERE id = ?", (isoformat(published_at), note_id))
        if properties is not None:
            db.execute("UPDATE notes SET properties = ? WHERE id = ?", (_properties_json(properties), note_id))
        _bump_generation(db, now)
        # The targets linked before and now: a removed link is told too.
        sending.note_written(db, note_id, before, _sending_row(db, note_id), syndicate_to)
    return get_note(note_id)


def syndicate_note(note_id, uids):
    """Pick cross-posting targets for a note without editing it (a Micropub update's mp-syndicate-to)."""
    db = get_db()
    with transaction(db):
        row = _sending_row(db, note_id)
        if row is None or row["deleted_at"]:
            raise LookupError(note_id)
        # The page links to the picked targets (the publisher reads them there): readers' copies go.
        _bump_generation(db, utcnow())
        sending.note_syndicated(db, note_id, row, uids)


def add_syndication(note_id, url):
    """Add a URL (a copy of the note elsewhere) to its syndication property; ValueError when it is not http(s)."""
    url = clean_url(url, "syndication")
    db = get_db()
    with transaction(db):
        row = db.execute("SELECT properties FROM notes WHERE id = ?", (note_id,)).fetchone()
        properties = json.loads(row[0])
        if url in properties.get("syndication", []):
            return
        properties["syndication"] = [*properties.get("syndication", []), url]
        # Not an edit of the owner's: updated_at stays; pages and feeds follow the generation.
        db.execute("UPDATE notes SET properties = ? WHERE id = ?", (_properties_json(properties), note_id))
        _bump_generation(db, utcnow())


def delete_note(note_id):
    """Soft-delete a note: it leaves every page and feed but stays in the database."""
    db = get_db()
    now = utcnow()
    with transaction(db):
        before = _sending_row(db, note_id)
        cur = db.execute(
            "UPDATE notes SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            (now, now, note_id),
        )
        if cur.rowcount != 1:
            raise LookupError(note_id)
        _bump_generation(db, now)
        # Every target ever told, and the ones it links now: its permalink answers 410 from here.
        sending.note_written(db, note_id, before, None)


def undelete_note(note_id):
    """Bring a soft-deleted note back to the pages and feeds it was on."""
    db = get_db()
    now = utcnow()
    with transaction(db):
        cur = db.execute(
            "UPDATE notes SET deleted_at = NULL, updated_at = ? WHERE id = ? AND deleted_at IS NOT NULL",
            (now, note_id),
        )
        if cur.rowcount != 1:
            raise LookupError(note_id)
        _bump_generation(db, now)
        sending.note_written(db, note_id, None, _sending_row(db, note_id))


# Notes whose tags and photos are read in one query each (SQLite's limit on
# parameters is far above it).
ATTACH_BATCH = 500


def with_attachments(db, rows):
    """Return the rows as dicts, each with its tags, photos, kept Micropub properties (a dict) and cited_title."""
    rows = list(rows)
    notes = []
    for start in range(0, len(rows), ATTACH_BATCH):
        batch = rows[start : start + ATTACH_BATCH]
        ids = [row["id"] for row in batch]
        tags, photos = tag_table.tags_of(db, ids), photo_table.photos_of(db, ids)
        for row in batch:
            if "rendered" in row.keys():
                render.remember(row["content"], row["rendered"], row["rendered_by"])
        made = [
            {
                **{key: row[key] for key in row.keys() if key not in RENDERING},
                "tags": tags[row["id"]],
                "photos": photos[row["id"]],
                "properties": json.loads(row["properties"]),
            }
            for row in batch
        ]
        titles = cited.titles_of(db, made)  # no query when no note of the batch answers a page
        notes += [{**note, "cited_title": titles.get(note["id"])} for note in made]
    return notes


def _one(db, row):
    return with_attachments(db, [row])[0] if row is not None else None


def notes_by_id(db, ids):
    """Return the notes with these ids that exist, in the order given, with their attachments."""
    marks = ", ".join("?" * len(ids))
    rows = db.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE id IN ({marks})", ids).fetchall() if ids else []
    by_id = {row["id"]: row for row in rows}
    return with_attachments(db, [by_id[note_id] for note_id in ids if note_id in by_id])


def get_note(note_id, include_deleted=False):
    """Return the note with this id, or None."""
    sql = f"SELECT {NOTE_COLUMNS} FROM notes WHERE id = ?"
    if not include_deleted:
        sql += " AND deleted_at IS NULL"
    db = get_db()
    return _one(db, db.execute(sql, (note_id,)).fetchone())


def get_note_by_slug(slug):
    """Return the note with this slug, drafts and deleted ones included (see deleted_at), or None."""
    db = get_db()
    return _one(db, db.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE slug = ?", (slug,)).fetchone())


def was_published_then_deleted(slug):
    """Return True when the note with this slug was public and has been deleted (its page is 410 Gone)."""
    row = (
        get_db()
        .execute("SELECT 1 FROM notes WHERE slug = ? AND published = 1 AND deleted_at IS NOT NULL", (slug,))
        .fetchone()
    )
    return row is not None


def get_published_note(slug):
    """Return the published, undeleted note with this slug, or None."""
    db = get_db()
    return _one(db, db.execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE slug = ? AND {PUBLIC}", (slug,)).fetchone())


def list_all():
    """Return every undeleted note, drafts included, newest first (for tools and tests; pages use owner_page)."""
    return (
        get_db()
        .execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC")
        .fetchall()
    )


def owner_page(limit, before=None, after=None, drafts_only=False):
    """Return (notes, newer, older): one page of the owner's undeleted notes, newest first.

    Keyset paging on the note id (ids grow with creation time): ``before``
    gives the ``limit`` notes older than that id, ``after`` the ``limit`` just
    newer than it, neither the newest. ``newer`` and ``older`` say whether
    notes lie beyond either end of the page. The cost is the page's, not the
    archive's: every query walks the primary key (or notes_owner for drafts).
    """
    where = "deleted_at IS NULL" + (" AND published = 0" if drafts_only else "")
    db = get_db()
    if after is not None:
        rows = db.execute(
            f"SELECT {NOTE_COLUMNS} FROM notes WHERE {where} AND id > ? ORDER BY id ASC LIMIT ?", (after, limit + 1)
        ).fetchall()
        newer, older = len(rows) > limit, _any_note(db, where, "id <= ?", after)
        rows = rows[:limit][::-1]
    else:
        key, params = ("AND id < ?", (before,)) if before is not None else ("", ())
        rows = db.execute(
            f"SELECT {NOTE_COLUMNS} FROM notes WHERE {where} {key} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
        ).fetchall()
        newer = before is not None and _any_note(db, where, "id >= ?", before)
        older = len(rows) > limit
        rows = rows[:limit]
    return rows, newer, older


def _any_note(db, where, key, note_id):
    return db.execute(f"SELECT 1 FROM notes WHERE {where} AND {key} LIMIT 1", (note_id,)).fetchone() is not None


def count_all_notes(conn):
    """Return how many notes an open connection's database holds, deleted ones included."""
    return conn.execute("SELECT count(*) FROM notes").fetchone()[0]


def iter_all_notes(conn):
    """Yield every note (with tags and photos), deleted ones included, oldest first, from an open connection."""
    conn.row_factory = sqlite3.Row
    cursor = conn.execute(f"SELECT {NOTE_COLUMNS} FROM notes ORDER BY id")
    while batch := cursor.fetchmany(ATTACH_BATCH):
        yield from with_attachments(conn, batch)
