"""Put a backup in place of the database, with the site stopped: ``python3 -m starpunk.restore DATABASE [BACKUP]``.

The image has no shell, so this replaces ``cat > ... && mv ... && rm -f ...``.
The backup comes from the file BACKUP, or from standard input when it is left
out (``docker run --rm -i ... python3 -m starpunk.restore /data/starpunk.db <
starpunk-backup.db``), so the new file belongs to the container's user. It is
checked before it replaces anything; the old write-ahead log and shared-memory
files go, since they belong to the old database. The photos the backup carries
are written back by the next start (``restore_backed_up_media``, called by
create_app).
"""

import os
import shutil
import sqlite3
import sys
from pathlib import Path

from .db import connect
from .media import NAME, media_folder, write_atomically

EXIT_FAILED = 1
# The table a backup (cli.py's backup command) carries every photo file in.
BACKUP_MEDIA_TABLE = "backup_media"


class RestoreError(Exception):
    """The backup cannot be restored; the message is one line for the operator."""


def _check(partial):
    try:
        # immutable: reading a WAL-mode file this way leaves no -wal or -shm of its own.
        conn = sqlite3.connect(f"{partial.absolute().as_uri()}?immutable=1", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            notes = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'notes'").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise RestoreError(f"the backup is not a StarPunk database ({error})") from None
    if result != "ok":
        raise RestoreError(f"the backup failed its integrity check: {result}")
    if notes is None:
        raise RestoreError("the backup has no notes table: it is not a StarPunk database")


def restore(source, database):
    """Copy the backup read from the binary stream source in place of database, once it passes its integrity check."""
    database = Path(database)
    partial = database.with_name(database.name + ".restore")
    try:
        with open(partial, "wb") as target:
            shutil.copyfileobj(source, target)
            target.flush()
            os.fsync(target.fileno())
        _check(partial)
        os.replace(partial, database)
    except OSError as error:
        raise RestoreError(f"cannot write {database}: {error.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


def restore_backed_up_media(data_path):
    """Write back the photos a restored backup carries, then drop them from the database; return how many."""
    conn = connect(data_path)
    try:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (BACKUP_MEDIA_TABLE,)
        ).fetchone()
        if not found:
            return 0
        folder = media_folder(data_path)
        written = 0
        for name, data in conn.execute(f"SELECT name, data FROM {BACKUP_MEDIA_TABLE}"):
            if NAME.match(name) and not (folder / name).exists():
                write_atomically(folder, name, data)
                written += 1
        # Only once every file is back: a crash before this repeats the restore.
        conn.execute(f"DROP TABLE {BACKUP_MEDIA_TABLE}")
        conn.execute("VACUUM")
        return written
    finally:
        conn.close()


def main(arguments):
    """Restore from the command line; return the exit code."""
    if len(arguments) not in (1, 2):
        print(
            "usage: python3 -m starpunk.restore DATABASE [BACKUP]  (BACKUP defaults to standard input)", file=sys.stderr
        )
        return EXIT_FAILED
    try:
        if len(arguments) == 2:
            try:
                source = open(arguments[1], "rb")  # noqa: SIM115 - closed below, after the restore
            except OSError as error:
                raise RestoreError(f"cannot read {arguments[1]}: {error.strerror}") from None
            with source:
                restore(source, arguments[0])
        else:
            restore(sys.stdin.buffer, arguments[0])
    except RestoreError as error:
        print(f"starpunk: restore failed: {error}; the database was not changed", file=sys.stderr)
        return EXIT_FAILED
    print(f"starpunk: restored {arguments[0]}; start the site to bring back its photos")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
