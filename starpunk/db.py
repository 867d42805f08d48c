"""SQLite access: one connection per request, one held open per worker, numbered migrations, init-db."""

import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
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


# One idle connection per process (see hold_open), kept for the process's life.
_held = []


def hold_open(data_path):
    """Keep one connection open for this process's life, so the WAL files outlive every request.

    SQLite deletes the -wal and -shm files when the last connection closes, and
    the next connection must create them again, even to read. On a full disk
    that fails, and every page would be a 503; with the files held open, readers
    need no new space and only writes fail.
    """
    conn = connect(data_path)
    try:
        # A connection opens the files on its first statement, not before.
        count_migrations(conn)
    except BaseException:
        conn.close()
        raise
    _held.append(conn)
    return conn


def get_db():
    """Return this request's connection, opening it on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATA_PATH"])
    return g.db


def close_db(exc=None):
    """Close this request's connection, if one was opened."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


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
    """Register the connection teardown and the init-db command."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
