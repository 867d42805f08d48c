"""Notes in SQLite: every write bumps the content generation in the same transaction."""

import sqlite3

from .db import get_db, transaction, utcnow
from .slugs import slugify, unique_slug

PUBLIC = "published = 1 AND deleted_at IS NULL"
NOTE_COLUMNS = "id, slug, content, published, created_at, updated_at, published_at, deleted_at"


class NoteError(ValueError):
    """A note's content was refused; the message is shown to the author."""


def validate_content(content, max_chars):
    """Return the content with line endings normalised, or raise NoteError."""
    content = (content or "").replace("\r\n", "\n").replace("\r", "\n")
    if not content.strip():
        raise NoteError("A note needs some text.")
    if len(content) > max_chars:
        raise NoteError(f"A note can have at most {max_chars:,} characters; this one has {len(content):,}.")
    return content


def _bump_generation(db, now):
    db.execute(
        "UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'"
    )
    db.execute("UPDATE site_state SET value = ? WHERE key = 'content_changed_at'", (now,))


def content_state():
    """Return (generation, changed_at): they change with every note write."""
    rows = dict(get_db().execute("SELECT key, value FROM site_state").fetchall())
    return int(rows["content_generation"]), rows["content_changed_at"]


def create_note(content, published):
    """Store a new note with a unique slug and return it."""
    db = get_db()
    now = utcnow()
    with transaction(db):
        # The write lock is held from here: no other worker can take the slug.
        slug = unique_slug(slugify(content), lambda s: _slug_taken(db, s))
        cur = db.execute(
            "INSERT INTO notes (slug, content, published, created_at, updated_at, published_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (slug, content, int(bool(published)), now, now, now if published else None),
        )
        _bump_generation(db, now)
    return get_note(cur.lastrowid)


def _slug_taken(db, slug):
    return db.execute("SELECT 1 FROM notes WHERE slug = ?", (slug,)).fetchone() is not None


def update_note(note_id, content, published):
    """Change a note's content and published flag; its slug and first publish time stay."""
    db = get_db()
    now = utcnow()
    with transaction(db):
        cur = db.execute(
            "UPDATE notes SET content = ?, published = ?, updated_at = ?,"
            " published_at = CASE WHEN ? AND published_at IS NULL THEN ? ELSE published_at END"
            " WHERE id = ? AND deleted_at IS NULL",
            (content, int(bool(published)), now, int(bool(published)), now, note_id),
        )
        if cur.rowcount != 1:
            raise LookupError(note_id)
        _bump_generation(db, now)
    return get_note(note_id)


def delete_note(note_id):
    """Soft-delete a note: it leaves every page and feed but stays in the database."""
    db = get_db()
    now = utcnow()
    with transaction(db):
        cur = db.execute(
            "UPDATE notes SET deleted_at = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
            (now, now, note_id),
        )
        if cur.rowcount != 1:
            raise LookupError(note_id)
        _bump_generation(db, now)


def get_note(note_id, include_deleted=False):
    """Return the note with this id, or None."""
    sql = f"SELECT {NOTE_COLUMNS} FROM notes WHERE id = ?"
    if not include_deleted:
        sql += " AND deleted_at IS NULL"
    return get_db().execute(sql, (note_id,)).fetchone()


def get_published_note(slug):
    """Return the published, undeleted note with this slug, or None."""
    return get_db().execute(
        f"SELECT {NOTE_COLUMNS} FROM notes WHERE slug = ? AND {PUBLIC}", (slug,)
    ).fetchone()


def list_published(limit, offset=0):
    """Return published notes, newest first."""
    return get_db().execute(
        f"SELECT {NOTE_COLUMNS} FROM notes WHERE {PUBLIC}"
        " ORDER BY published_at DESC, id DESC LIMIT ? OFFSET ?",
        (limit, offset),
    ).fetchall()


def count_published():
    """Return how many notes readers can see."""
    return get_db().execute(f"SELECT count(*) FROM notes WHERE {PUBLIC}").fetchone()[0]


def list_all():
    """Return every undeleted note, drafts included, newest first (for the owner)."""
    return get_db().execute(
        f"SELECT {NOTE_COLUMNS} FROM notes WHERE deleted_at IS NULL"
        " ORDER BY created_at DESC, id DESC"
    ).fetchall()


def count_all_notes(conn):
    """Return how many notes an open connection's database holds, deleted ones included."""
    return conn.execute("SELECT count(*) FROM notes").fetchone()[0]


def iter_all_notes(conn):
    """Yield every note, deleted ones included, oldest first, from an open connection."""
    conn.row_factory = sqlite3.Row
    yield from conn.execute(f"SELECT {NOTE_COLUMNS} FROM notes ORDER BY id")
