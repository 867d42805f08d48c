"""The database: numbered migrations applied once, WAL mode, and no silently created files."""

import os
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


def _dump(data_path):
    conn = sqlite3.connect(data_path / "starpunk.db")
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


BROKEN = (
    9999,
    "9999_broken.sql",
    "CREATE TABLE half (x);\nALTER TABLE notes ADD COLUMN half TEXT;\nTHIS IS NOT SQL;\n",
)


def test_a_failing_migration_leaves_the_database_as_it_was(app, data_path, add_notes, monkeypatch):
    """A migration that fails midway is rolled back whole, not recorded, and named in the error."""
    add_notes(["Written before the broken upgrade"])
    before = _dump(data_path)
    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: [*real, BROKEN])
    with pytest.raises(db.MigrationError, match=r"^migration 9999_broken\.sql failed and was rolled back") as failed:
        db.migrate(str(data_path))
    assert 'near "THIS": syntax error' in str(failed.value)
    assert _dump(data_path) == before


def test_migrations_before_a_failing_one_stay_applied(app, data_path, monkeypatch):
    """Each migration is its own transaction: the good one before a broken one lands and is recorded once."""
    good = (9998, "9998_good.sql", "CREATE TABLE good (x);\nINSERT INTO good VALUES (1);\n")
    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: [*real, good, BROKEN])
    with pytest.raises(db.MigrationError) as failed:
        db.migrate(str(data_path))
    assert failed.value.applied == ["9998_good.sql"]
    conn = sqlite3.connect(data_path / "starpunk.db")
    try:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert conn.execute("SELECT x FROM good").fetchall() == [(1,)]
    finally:
        conn.close()
    assert versions[-1] == 9998 and versions.count(9998) == 1
    assert "half" not in tables
    monkeypatch.setattr(db, "available_migrations", lambda: [*real, good])
    assert db.migrate(str(data_path)) == []


def test_a_migration_another_worker_applied_meanwhile_is_skipped(app, data_path):
    """A worker that read the bookkeeping before another one committed applies nothing twice."""
    version, name, _ = db.available_migrations()[0]
    conn = db.connect(str(data_path))
    try:
        assert db._apply(conn, version, name, "CREATE TABLE twice (x);") is False
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'twice'").fetchone()[0] == 0
    finally:
        conn.close()


def test_startup_with_a_failing_migration_is_one_line(app, data_path, monkeypatch, capfd):
    """The app refuses to start with one line naming the migration, not a traceback, and exits non-zero."""
    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: [*real, BROKEN])
    capfd.readouterr()
    with pytest.raises(SystemExit) as stop:
        create_app({"DATA_PATH": str(data_path)})
    message = str(stop.value.code)
    assert message.startswith("starpunk: migration 9999_broken.sql failed and was rolled back")
    assert "\n" not in message
    assert "migration" not in capfd.readouterr().err, "nothing was applied, so nothing is logged before the line"


def test_startup_names_the_migrations_applied_before_a_failing_one(app, data_path, monkeypatch, capfd):
    """When a good migration lands before a broken one, the log says so before the failure line."""
    good = (9998, "9998_good.sql", "CREATE TABLE good (x);\n")
    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: [*real, good, BROKEN])
    capfd.readouterr()
    with pytest.raises(SystemExit):
        create_app({"DATA_PATH": str(data_path)})
    assert "applied 1 migration(s): 9998_good.sql" in capfd.readouterr().err


def test_init_db_with_a_failing_migration_is_one_line(app, data_path, monkeypatch):
    """`flask init-db` says which migration failed in one line and exits 1."""
    real = db.available_migrations()
    monkeypatch.setattr(db, "available_migrations", lambda: [*real, BROKEN])
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: migration 9999_broken.sql failed and was rolled back, the database is unchanged by it: "
        'near "THIS": syntax error'
    ]


def test_startup_says_which_migrations_it_applied(make_app, capfd):
    """A start on a new or older database logs the migrations it applied; a restart logs none."""
    make_app()
    first = capfd.readouterr().err
    names = ", ".join(name for _, name, _ in db.available_migrations())
    assert f"applied {len(db.available_migrations())} migration(s): {names}" in first
    make_app()
    assert "migration" not in capfd.readouterr().err


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


def test_held_connection_keeps_the_wal_files(make_app, data_path):
    """With hold_open, the -wal and -shm files outlive every request, so reads need no new disk space."""
    app = make_app(hold=False)
    wal, shm = data_path / "starpunk.db-wal", data_path / "starpunk.db-shm"
    app.test_client().get("/")
    assert not wal.exists() and not shm.exists(), "SQLite removes them when the last connection closes"
    db.hold_open(str(data_path))
    app.test_client().get("/")
    assert wal.exists() and shm.exists()
    # The held connection keeps no read snapshot open: a checkpoint can still empty the log.
    conn = db.connect(str(data_path))
    try:
        conn.execute("UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'")
        assert tuple(conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()) == (0, 0, 0)
    finally:
        conn.close()


@pytest.fixture
def connections(monkeypatch):
    """Return the list of databases sqlite3.connect opens from now on, in this process."""
    opened = []
    real_connect = sqlite3.connect

    def counting(*args, **kwargs):
        opened.append(args[0] if args else kwargs.get("database"))
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting)
    return opened


def test_requests_share_the_workers_held_connection(app, add_notes, connections):
    """Pages, feeds and health of a worker holding its connection open no new one, request after request."""
    slug = add_notes(["Read many times"])[0]["slug"]
    client = app.test_client()
    for _ in range(3):
        for path in ("/", f"/note/{slug}", "/feed.xml", "/feed.json", "/tag/none", "/health"):
            assert client.get(path).status_code in {200, 404}, path
    assert connections == []


def test_without_a_held_connection_each_request_opens_its_own(make_app, connections):
    """The Gunicorn master (warm-up) and commands hold none: each request opens and closes its own."""
    client = make_app(hold=False).test_client()
    connections.clear()  # the start's migration check
    client.get("/health")
    client.get("/health")
    assert len(connections) == 2


def test_a_forked_process_never_uses_its_parents_connection(app, data_path, connections):
    """A connection held by another process id (the parent of a fork) is left alone: requests open their own."""
    held = db._held[str(data_path)]
    held.pid = -1
    try:
        assert app.test_client().get("/health").status_code == 200
        assert len(connections) == 1
    finally:
        held.pid = os.getpid()  # this process's again, so the fixture's release_held closes it


def test_a_write_by_another_connection_is_read_at_once(app, client, add_notes, database):
    """The held connection keeps no snapshot between requests: another process's commit shows next request."""
    slug = add_notes(["First words"])[0]["slug"]
    assert "First words" in client.get(f"/note/{slug}").text
    database.execute("UPDATE notes SET content = 'Second words' WHERE slug = ?", (slug,))
    database.execute("UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'")
    assert "Second words" in client.get(f"/note/{slug}").text


def test_a_deleted_then_restored_database_is_held_anew(app, client, add_notes, data_path, connections):
    """Deleted under the site, the database is a 503 (never recreated empty); a restored file is read, then held."""
    add_notes(["In the old file"])
    assert "In the old file" in client.get("/").text
    restored = data_path.parent / "restored.db"
    source = db.connect(str(data_path))
    target = sqlite3.connect(restored)
    try:
        source.backup(target)
        target.execute("UPDATE notes SET content = 'In the restored file'")
        target.execute("UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'")
        target.commit()
    finally:
        target.close()
        source.close()
    for name in ("starpunk.db", "starpunk.db-wal", "starpunk.db-shm"):
        (data_path / name).unlink()
    connections.clear()
    assert client.get("/").status_code == 503
    assert not (data_path / "starpunk.db").exists()
    restored.replace(data_path / "starpunk.db")
    assert "In the restored file" in client.get("/").text
    assert "In the restored file" in client.get("/").text
    assert len(connections) == 2, "one refused open while the file was missing, then the restored file proven once"


def test_a_request_never_leaves_the_held_connection_in_a_transaction(app, data_path):
    """A transaction a request left open is rolled back at its end, so the next request starts clean."""
    with app.test_request_context("/"):
        conn = db.get_db()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO auth_failures (client, kind, at) VALUES ('x', 'sign-in', 'y')")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM auth_failures").fetchone()[0] == 0
    assert db._held[str(data_path)].conn is conn
