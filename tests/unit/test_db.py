"""The database: numbered migrations applied once, WAL mode, and no silently created files."""

import re
import sqlite3

import pytest

from starpunk import create_app, db


def test_migrations_are_numbered_and_ordered():
    """Migration files are NNNN_name.sql and are applied in numeric order."""
    migrations = db.available_migrations()
    assert migrations, "no migrations found in the package"
    versions = [version for version, _, _ in migrations]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    for version, name, _ in migrations:
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", name)
        assert int(name[:4]) == version


def test_startup_applies_every_migration_once(database):
    """A fresh DATA_PATH gets the whole schema, each migration recorded once."""
    recorded = [tuple(row) for row in database.execute("SELECT version, name FROM schema_migrations ORDER BY version")]
    assert recorded == [(version, name) for version, name, _ in db.available_migrations()]
    tables = {row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"notes", "sessions", "login_tokens", "site_state", "auth_failures"} <= tables


def test_restarting_applies_nothing_again(make_app, data_path, add_notes):
    """A second worker or a restart leaves the schema and the notes as they were."""
    make_app()
    add_notes(["Kept across restarts"])
    assert db.migrate(str(data_path)) == []
    app = make_app()
    with app.app_context():
        count = db.get_db().execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    assert count == len(db.available_migrations())
    assert "Kept across restarts" in app.test_client().get("/").text


def test_init_db_twice_is_idempotent(app, data_path):
    """`flask init-db` creates a missing database, and a second run changes nothing."""
    (data_path / "starpunk.db").unlink()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["init-db"])
    assert first.exit_code == 0, first.output
    assert f"Applied {len(db.available_migrations())} migration(s)" in first.output
    second = runner.invoke(args=["init-db"])
    assert second.exit_code == 0, second.output
    assert "is up to date" in second.output
    conn = sqlite3.connect(data_path / "starpunk.db")
    try:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(db.available_migrations())
    finally:
        conn.close()


def test_database_is_in_wal_mode(database):
    """Readers never wait for the writer: the journal mode is WAL, and it persists."""
    assert database.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failing_migration_leaves_nothing_half_applied(app, data_path, monkeypatch):
    """A migration that fails midway is rolled back whole and not recorded."""
    broken = (9999, "9999_broken.sql", "CREATE TABLE half (x);\nTHIS IS NOT SQL;\n")
    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: [*real, broken])
    with pytest.raises(sqlite3.Error):
        db.migrate(str(data_path))
    conn = sqlite3.connect(data_path / "starpunk.db")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        versions = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    finally:
        conn.close()
    assert "half" not in tables
    assert 9999 not in versions


def test_migration_statements_split_on_complete_statements_only():
    """Semicolons inside strings and comment lines do not cut a statement in two."""
    sql = "-- a comment; with a semicolon\nINSERT INTO t VALUES ('a;b');\nCREATE TABLE u (x)\n"
    assert list(db._statements(sql)) == ["INSERT INTO t VALUES ('a;b');", "CREATE TABLE u (x)"]


def test_a_missing_database_is_an_error_not_a_new_empty_site(app, data_path):
    """If the database file vanishes, requests fail visibly instead of creating an empty one."""
    (data_path / "starpunk.db").unlink()
    response = app.test_client().get("/")
    assert response.status_code == 503
    assert not (data_path / "starpunk.db").exists()


def test_startup_with_an_unusable_data_path_is_one_line(tmp_path):
    """DATA_PATH that is a file, not a folder, stops startup with one line naming it."""
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(SystemExit) as stop:
        create_app({"DATA_PATH": str(not_a_dir)})
    message = str(stop.value.code)
    assert "DATA_PATH" in message and str(not_a_dir) in message
    assert "\n" not in message


def test_timestamps_are_utc_with_a_fixed_format():
    """Stored times are UTC ISO 8601 with microseconds, so text order is time order."""
    stamp = db.utcnow()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", stamp)


def test_transaction_rolls_back_on_error(app):
    """A failed block inside transaction() leaves no trace."""
    conn = db.connect(app.config["DATA_PATH"])
    try:
        with pytest.raises(RuntimeError):
            with db.transaction(conn):
                conn.execute("INSERT INTO auth_failures (client, at) VALUES ('x', 'y')")
                raise RuntimeError("stop")
        assert conn.execute("SELECT count(*) FROM auth_failures").fetchone()[0] == 0
    finally:
        conn.close()


def test_held_connection_keeps_the_wal_files(app, data_path):
    """With hold_open, the -wal and -shm files outlive every request, so reads need no new disk space."""
    wal, shm = data_path / "starpunk.db-wal", data_path / "starpunk.db-shm"
    app.test_client().get("/")
    assert not wal.exists() and not shm.exists(), "SQLite removes them when the last connection closes"
    held = db.hold_open(str(data_path))
    try:
        app.test_client().get("/")
        assert wal.exists() and shm.exists()
        # The held connection keeps no read snapshot open: a checkpoint can still empty the log.
        conn = db.connect(str(data_path))
        try:
            conn.execute("UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'")
            assert tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()) == (0, 0, 0)
        finally:
            conn.close()
    finally:
        db._held.remove(held)
        held.close()
