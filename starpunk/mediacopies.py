"""The ``media_copies`` table: every stored photo's bytes beside its file, so a copy of the database holds the photos.

A Litestream replica is a copy of the database alone. With each photo's bytes
written here in the request that stores the file, before the note that shows
it, a replica (or a backup) that holds a note holds its photos too, in the
same order; ``replication.reconcile`` writes them back to DATA_PATH/media when
a restored volume lacks them.
"""

from .db import transaction, utcnow


def keep(conn, name, data):
    """Store one photo's bytes under its file name, in a transaction of its own."""
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO media_copies (name, data, stored_at) VALUES (?, ?, ?)", (name, data, utcnow())
        )


def forget(conn, names):
    """Remove the copies of photos whose files were discarded (their note was not saved)."""
    with transaction(conn):
        conn.executemany("DELETE FROM media_copies WHERE name = ?", [(name,) for name in names])


def names(conn):
    """Return the names of every photo kept in the database."""
    return {row[0] for row in conn.execute("SELECT name FROM media_copies")}


def data_of(conn, name):
    """Return one kept photo's bytes."""
    return conn.execute("SELECT data FROM media_copies WHERE name = ?", (name,)).fetchone()[0]


def newest(conn):
    """Return when the newest photo was kept (ISO 8601, UTC), or None when there is none."""
    return conn.execute("SELECT max(stored_at) FROM media_copies").fetchone()[0]
