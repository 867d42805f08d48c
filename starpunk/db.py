"""SQLite access: one connection held open per worker and used by its requests, numbered migrations, init-db."""

import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path

import click
from flask import current_app, g
from flask.cli import with_appcontext

DB_FILENAME = "starpunk.db"
BUSY_TIMEOUT_MS = 10_000


def isoformat(moment):
    """Return a UTC datetime in the one text form the database stores and compares."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def utcnow():
    """Return the current time in UTC, as stored in the database."""
    return isoformat(datetime.now(timezone.utc))


def database_path(data_path):
    """Return the database file inside DATA_PATH."""
    return Path(data_path) / DB_FILENAME


@lru_cache(maxsize=16)
def _database_file(data_path):
    return os.path.join(data_path, DB_FILENAME)


def connect(data_path, create=False):
    """Open a connection; without create, a missing database file is an error."""
    mode = "rwc" if create else "rw"
    uri = f"{database_path(data_path).as_uri()}?mode={mode}"
    # isolation_level=None: transactions are explicit (see transaction()).
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL: an acknowledged note survives even a power cut, not only a crash.
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        # A damaged file fails on the first statement: the caller never gets
        # the connection, so it is closed here (Python 3.13 warns otherwise).
        conn.close()
        raise
    return conn


class Held:
    """This process's connection to one database, and the file's identity when it was last proven readable."""

    def __init__(self, pid, conn, identity):
        self.pid = pid
        self.thread = threading.get_ident()
        self.conn = conn
        self.identity = identity


# DATA_PATH -> Held: the connection each worker process opens after the fork
# (gunicorn.conf.py: post_worker_init) and its requests share. A connection is
# never used by a process other than the one that opened it, nor by another
# thread (the job queue's consumer, starpunk/queue.py, opens its own).
_held = {}


def file_identity(data_path):
    """Return the database file's (device, inode, mtime, size), or None when it cannot be seen."""
    try:
        stat = os.stat(_database_file(str(data_path)))
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size)


def hold_open(data_path):
    """Open this process's connection to the database, kept for its life and shared by its requests.

    SQLite deletes the -wal and -shm files when the last connection closes, and
    the next connection must create them again, even to read. On a full disk
    that fails, and every page would be a 503; with the files held open, readers
    need no new space and only writes fail. Requests use it instead of opening
    (and paying for) a connection each: see held_connection.
    """
    identity = file_identity(data_path)
    conn = _connect_and_read(data_path)
    previous = _held.get(str(data_path))
    if previous is not None and previous.pid == os.getpid():
        previous.conn.close()  # held again (a test, a tool): the one it replaces is closed, not left to the collector
    _held[str(data_path)] = Held(os.getpid(), conn, identity)
    return conn


def _connect_and_read(data_path):
    """Return a new connection that has read the database file (its error, if the file is missing or damaged)."""
    conn = connect(data_path)
    try:
        # A connection opens the files on its first statement, not before.
        count_migrations(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def release_held(data_path=None):
    """Close this process's held connection to one database (or to every one); for tests and tools."""
    for key in [str(data_path)] if data_path is not None else list(_held):
        entry = _held.pop(key, None)
        if entry is not None and entry.pid == os.getpid():
            entry.conn.close()


def held_connection(data_path):
    """Return this process's held connection when the database file is the one it holds, else None.

    One stat per request proves it: when the file's device, inode, mtime or
    size changed since the connection was last proven (a checkpoint, another
    process's write, the file deleted, replaced or overwritten), a fresh
    connection must open and read it first, exactly as every request did
    before connections were held; its error (a missing or damaged file) is
    this request's. A replaced file becomes the held one.
    """
    conn = proven_held_connection(data_path)
    if conn is not None:
        return conn
    entry = _own_entry(data_path)
    if entry is None:
        return None  # not a worker that holds one (the Gunicorn master, a CLI command), or a forked child
    identity = file_identity(data_path)
    fresh = _connect_and_read(data_path)
    if identity is None or entry.identity is None or identity[:2] != entry.identity[:2]:
        entry.conn.close()  # SQLite leaves a moved or deleted file's -wal alone on close
        entry.conn = fresh
    else:
        fresh.close()
    entry.identity = identity
    return entry.conn


def proven_held_connection(data_path):
    """Return this process's held connection when the database file is still the one last proven, else None.

    The cheap half of held_connection (one stat), on its own for the fast
    path: a changed or missing file is left to the next request through
    Flask, which proves it (or reports why not).
    """
    entry = _own_entry(data_path)
    if entry is None:
        return None
    identity = file_identity(data_path)
    return entry.conn if identity is not None and identity == entry.identity else None


def _own_entry(data_path):
    """Return the Held entry of this process and thread for data_path, or None.

    A forked child holds none of its parent's, and another thread of the
    process (the queue's consumer) none of the requests' thread.
    """
    entry = _held.get(str(data_path))
    if entry is None or entry.pid != os.getpid() or entry.thread != threading.get_ident():
        return None
    return entry


def get_db():
    """Return this request's connection: the worker's held one (see held_connection), or a new one."""
    if "db" not in g:
        data_path = current_app.config["DATA_PATH"]
        held = held_connection(data_path)
        g.db_is_held = held is not None
        g.db = held if held is not None else connect(data_path)
    return g.db


def close_db(exc=None):
    """Close this request's connection if it opened one; leave the held one open with no transaction left."""
    db = g.pop("db", None)
    if db is None:
        return
    if not g.pop("db_is_held", False):
        db.close()
    elif db.in_transaction:
        # transaction() rolls back on any error; should even ROLLBACK have
        # failed, the next request must not start inside this one's transaction.
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            release_held(current_app.config["DATA_PATH"])


@contextmanager
def transaction(conn, mode="IMMEDIATE"):
    """Run a block in one write transaction: all of it lands, or none."""
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def available_migrations():
    """Return (version, name, sql) for every migration file, in order."""
    folder = resources.files("starpunk") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def count_migrations(conn):
    """Return how many migrations the database has applied; a database without the schema raises."""
    return conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]


class MigrationError(Exception):
    """A migration failed and was rolled back: the database is as it was before it."""

    def __init__(self, name, cause):
        reason = " ".join(str(cause).split())  # one line, whatever SQLite said
        super().__init__(f"migration {name} failed and was rolled back, the database is unchanged by it: {reason}")
        self.name = name
        self.applied = []  # the migrations this run applied before the failed one


def migrate(data_path):
    """Create the database if needed and apply every pending migration; return their names.

    Each migration runs in a transaction of its own: it lands whole with its
    row in schema_migrations, or not at all (MigrationError), and the ones
    before it stay applied.
    """
    Path(data_path).mkdir(parents=True, exist_ok=True)
    conn = connect(data_path, create=True)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        with transaction(conn):
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, sql in available_migrations():
            try:
                if version not in done and _apply(conn, version, name, sql):
                    applied.append(name)
            except MigrationError as exc:
                exc.applied = applied
                raise
        return applied
    finally:
        conn.close()


def _apply(conn, version, name, sql):
    """Apply one migration unless another process got there first; return whether this one did."""
    # EXCLUSIVE, and the check inside it: several processes migrating at once (apps started side by
    # side, `flask init-db` beside a running site) apply each migration once.
    with transaction(conn, "EXCLUSIVE"):
        if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
            return False
        try:
            for statement in _statements(sql):
                conn.execute(statement)
        except sqlite3.Error as exc:
            raise MigrationError(name, exc) from exc
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, utcnow()),
        )
    return True


def _statements(sql):
    """Split a migration file into statements (executescript would commit early)."""
    statement = ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""
    if statement.strip():
        yield statement.strip()


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the database and apply pending migrations."""
    try:
        applied = migrate(current_app.config["DATA_PATH"])
    except MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    path = database_path(current_app.config["DATA_PATH"])
    if applied:
        click.echo(f"Applied {len(applied)} migration(s) to {path}: {', '.join(applied)}")
    else:
        click.echo(f"Database {path} is up to date")


def init_app(app):
    """Register the connection teardown (create_app adds the init-db command for the CLI)."""
    app.teardown_appcontext(close_db)
