"""Readers' lists of notes: pages cut at a note (keyset on notes_public), the archive's years and months, tag counts.

Reads only; the notes and their tags are written by store.py, and the triggers
of migration 0009 keep tag_counts. Every function here reads a bounded number
of rows, whatever the archive's size (paging.py turns them into pages).
"""

from . import tags as tag_table
from .db import get_db
from .store import NOTE_COLUMNS, PUBLIC, with_attachments


def list_published(limit, tag=None):
    """Return the newest published notes (only those with this tag, if given), newest first: what the feeds show."""
    return published_page(limit, tag=tag)[0]


# A tag carried by fewer notes than this is listed from its own index entries (sorted: at most this many rows);
# a commoner one by walking notes_public and keeping its notes: at 100,000 notes at least one in 50 carries it,
# so a page reads about 50 rows for each it shows.
RARE_TAG_NOTES = 2000


def _list_source(tag=None, since=None, until=None):
    """Return (FROM, WHERE, parameters) of a readers' list: public notes, with a tag, within [since, until).

    Both ways of listing a tag read a bounded number of rows a page, however large the archive.
    """
    source, where, params = "notes", PUBLIC, ()
    if tag is not None:
        if tag_count(tag) < RARE_TAG_NOTES:
            # CROSS JOIN: SQLite keeps the tag's entries as the outer loop, as written.
            source = "note_tags CROSS JOIN notes ON notes.id = note_tags.note_id"
            where, params = f"note_tags.tag = ? AND {PUBLIC}", (tag,)
        else:
            where, params = f"{PUBLIC} AND {tag_table.tagged_filter()}", (tag,)
    if since is not None:
        where, params = f"{where} AND published_at >= ? AND published_at < ?", (*params, since, until)
    return source, where, params


def paging_key(note_id):
    """Return the (published_at, id) a readers' page is cut at, from a note that is or was public; None if none."""
    row = (
        get_db()
        .execute(
            "SELECT published_at, id FROM notes WHERE id = ? AND published = 1 AND published_at IS NOT NULL", (note_id,)
        )
        .fetchone()
    )
    return None if row is None else (row["published_at"], row["id"])


def published_page(limit, before=None, after=None, tag=None, since=None, until=None):
    """Return (notes, newer, older): one page of a readers' list, newest first.

    Keyset paging on (published_at, id), the order of the notes_public index:
    ``before`` (a paging_key) gives the ``limit`` notes older than that key,
    ``after`` the ``limit`` just newer than it, neither the newest. ``tag``
    keeps the notes with that tag, ``since``/``until`` (ISO text) those
    published in that span. ``newer`` is how many notes (up to limit + 1) lie
    before the page's first, ``older`` whether any lies past its last. Every
    query seeks the index and reads at most a page and one: page 4,000 costs
    what page 2 does.
    """
    source, where, params = _list_source(tag, since, until)
    db = get_db()
    columns = ", ".join(f"notes.{name}" for name in NOTE_COLUMNS.split(", "))
    if after is not None:
        rows = db.execute(
            f"SELECT {columns} FROM {source} WHERE {where} AND (published_at, notes.id) > (?, ?)"
            " ORDER BY published_at ASC, notes.id ASC LIMIT ?",
            (*params, *after, limit + 1),
        ).fetchall()
        rows = rows[:limit][::-1]
    else:
        key, extra = (" AND (published_at, notes.id) < (?, ?)", before) if before is not None else ("", ())
        rows = db.execute(
            f"SELECT {columns} FROM {source} WHERE {where}{key} ORDER BY published_at DESC, notes.id DESC LIMIT ?",
            (*params, *extra, limit + 1),
        ).fetchall()
        rows = rows[:limit]
    if not rows:
        return [], 0, False
    first, last = rows[0], rows[-1]
    newer = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {where} AND (published_at, notes.id) > (?, ?) LIMIT ?)",
        (*params, first["published_at"], first["id"], limit + 1),
    ).fetchone()[0]
    older = (
        db.execute(
            f"SELECT 1 FROM {source} WHERE {where} AND (published_at, notes.id) < (?, ?) LIMIT 1",
            (*params, last["published_at"], last["id"]),
        ).fetchone()
        is not None
    )
    return with_attachments(db, rows), newer, older


def page_start(page, page_size, tag=None):
    """Return the id of the last note before page number ``page`` (2 or more) of a list; None when that page is empty.

    For the old ``?page=N`` addresses: one walk of the index up to that page.
    """
    source, where, params = _list_source(tag)
    rows = (
        get_db()
        .execute(
            f"SELECT notes.id FROM {source} WHERE {where} ORDER BY published_at DESC, notes.id DESC LIMIT 2 OFFSET ?",
            (*params, (page - 1) * page_size - 1),
        )
        .fetchall()
    )
    return rows[0]["id"] if len(rows) == 2 else None


def tag_counts(limit, after=None):
    """Return [(tag, count)] of the tags readers can see, alphabetically, ``limit`` of them from after ``after``.

    tag_counts (migration 0009) holds the counts, kept by triggers: a page costs its own rows.
    """
    rows = get_db().execute(
        "SELECT tag, notes FROM tag_counts WHERE tag > ? ORDER BY tag LIMIT ?", ("" if after is None else after, limit)
    )
    return [(tag, count) for tag, count in rows]


def published_years():
    """Return the years (as int, newest first) in which public notes were published: one index seek a year."""
    db = get_db()
    years = []
    bound = "9999"
    while True:
        row = db.execute(
            f"SELECT substr(published_at, 1, 4) FROM notes WHERE {PUBLIC} AND published_at < ?"
            " ORDER BY published_at DESC LIMIT 1",
            (bound,),
        ).fetchone()
        if row is None:
            return years
        bound = row[0]
        years.append(int(bound))


def month_counts(year):
    """Return [(month, count)] of the public notes published in a year (UTC), newest month first.

    Twelve rows at most of month_counts (0010), kept by triggers: the year's notes are never counted.
    """
    rows = get_db().execute(
        "SELECT CAST(substr(month, 6, 2) AS INTEGER), notes FROM month_counts"
        " WHERE month >= ? AND month < ? ORDER BY month DESC",
        (f"{year:04d}", f"{year + 1:04d}"),
    )
    return [(month, count) for month, count in rows]


def tag_count(tag):
    """Return how many notes readers can see carry this tag (0 for none): one read of tag_counts (0009)."""
    row = get_db().execute("SELECT notes FROM tag_counts WHERE tag = ?", (tag,)).fetchone()
    return 0 if row is None else row[0]
