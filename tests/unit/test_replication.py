"""A site restored from a copy of its database: photos written back, one line saying so; the replica's status."""

import io
import json
import os
import socket
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from starpunk import media, replication
from tests.unit.conftest import image_bytes

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=timezone.utc)


def save(app, data):
    """Store data as an upload inside an app context and return the StoredMedia."""
    with app.test_request_context():
        return media.save_upload(io.BytesIO(data))


def new_volume(tmp_path, data_path):
    """Copy only the database to a new, empty DATA_PATH, as a Litestream restore does; return it."""
    target = tmp_path / "restored"
    target.mkdir()
    source = replication.connect(data_path)
    try:
        copy = sqlite3.connect(target / "starpunk.db")
        source.backup(copy)
        copy.close()
    finally:
        source.close()
    return target


def test_a_restored_database_writes_back_its_photos_and_says_so_in_one_line(
    app, make_app, tmp_path, data_path, write_note, capsys
):
    """A new volume with only the database gets every photo back, and one log line names what and when."""
    stored = save(app, image_bytes("PNG"))
    write_note("A note before the disk died")
    restored = new_volume(tmp_path, data_path)
    capsys.readouterr()
    make_app(DATA_PATH=str(restored), hold=False)
    assert (restored / "media" / stored.name).read_bytes() == (data_path / "media" / stored.name).read_bytes()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "restored this site" in line]
    assert len(lines) == 1, err
    assert "1 note(s), 1 photo file(s) written back, newest change 20" in lines[0]


def test_a_normal_start_and_a_new_site_say_nothing_of_a_restore(make_app, data_path, capsys):
    """Neither a first start nor a restart on the same volume is a restore."""
    make_app(hold=False)
    make_app(hold=False)
    assert "restored this site" not in capsys.readouterr().err
    assert (data_path / replication.VOLUME_MARKER).exists()


def test_photo_files_from_before_the_copies_are_kept_at_start(app, make_app, database, data_path, capsys):
    """A site upgraded from 0.7.0 (files on disk, no copies) has them copied into the database at its next start."""
    stored = save(app, image_bytes("PNG"))
    database.execute("DELETE FROM media_copies")
    capsys.readouterr()
    make_app(hold=False)
    assert database.execute("SELECT count(*) FROM media_copies").fetchone()[0] == 1
    assert "kept 1 photo file(s) in the database" in capsys.readouterr().err
    assert stored.name in replication.mediacopies.names(database)


def test_a_missing_photo_on_the_same_volume_is_written_back_without_a_restore_line(app, make_app, data_path, capsys):
    """A file lost on the volume comes back from its copy, and the log says so without claiming a restore."""
    stored = save(app, image_bytes("PNG"))
    (data_path / "media" / stored.name).unlink()
    capsys.readouterr()
    make_app(hold=False)
    assert (data_path / "media" / stored.name).exists()
    err = capsys.readouterr().err
    assert "wrote back 1 photo file(s)" in err
    assert "restored this site" not in err


def test_a_failed_reconcile_is_one_warning_and_the_site_starts(app, make_app, monkeypatch, capsys):
    """When the files cannot be written back, the start goes on with a warning."""

    def refuse(data_path):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(replication, "reconcile", refuse)
    assert make_app(hold=False).test_client().get("/health").status_code == 200
    assert "could not reconcile the photo files" in capsys.readouterr().err


class Litestream(BaseHTTPRequestHandler):
    """Litestream's control server as the app sees it: GET /list."""

    listing: dict[str, object] = {}

    def do_GET(self):  # noqa: N802 - the name http.server calls
        body = json.dumps(self.listing).encode()
        self.send_response(200 if self.path == "/list" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class UnixHTTPServer(HTTPServer):
    address_family = socket.AF_UNIX

    def server_bind(self):
        self.socket.bind(self.server_address)

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("litestream", 0)


@pytest.fixture
def litestream(tmp_path):
    """Serve a fake Litestream control socket; return a function that sets its listing and gives its path."""
    path = str(tmp_path / "litestream.sock")
    server = UnixHTTPServer(path, Litestream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def answer(last_sync_at, db_path="/data/starpunk.db"):
        entry = {"path": db_path, "status": "replicating"}
        if last_sync_at:
            entry["last_sync_at"] = last_sync_at
        Litestream.listing = {"databases": [entry]}
        return path

    yield answer
    server.shutdown()
    server.server_close()


def go_time(moment):
    """Return a time as Go's JSON encoder writes it (nanoseconds, Z)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def test_a_fresh_sync_is_ok_and_an_old_one_is_behind(litestream):
    """The replica is ok within the allowed lag, behind after it."""
    path = litestream(go_time(NOW - timedelta(seconds=3)))
    assert replication.replication_status(path, 10, now=NOW) == {"status": "ok", "seconds_since_sync": 3.0}
    path = litestream(go_time(NOW - timedelta(seconds=11)))
    assert replication.replication_status(path, 10, now=NOW) == {"status": "behind", "seconds_since_sync": 11.0}


def test_never_synced_is_behind_and_no_socket_is_unreachable(litestream, tmp_path):
    """A database not yet replicated is behind; no sidecar listening is unreachable."""
    assert replication.replication_status(litestream(None), 10, now=NOW)["status"] == "behind"
    assert replication.replication_status(str(tmp_path / "none.sock"), 10) == {"status": "unreachable"}


def test_health_shows_the_replica_and_its_own_route_fails_when_behind(make_app, litestream):
    """/health stays 200 with the replica's status; /health/replication is 200 when ok, 503 when behind."""
    fresh = go_time(datetime.now(timezone.utc))
    client = make_app(REPLICATION_SOCKET=litestream(fresh)).test_client()
    body = client.get("/health").get_json()
    assert body["status"] == "healthy" and body["replication"]["status"] == "ok"
    assert client.get("/health/replication").status_code == 200
    litestream(go_time(datetime.now(timezone.utc) - timedelta(seconds=60)))
    response = client.get("/health")
    assert response.status_code == 200 and response.get_json()["replication"]["status"] == "behind"
    assert client.get("/health/replication").status_code == 503


def test_unwatched_replication_is_not_mentioned(client):
    """Without REPLICATION_SOCKET, /health says nothing of replication and its route is a JSON 404."""
    assert "replication" not in client.get("/health").get_json()
    response = client.get("/health/replication")
    assert response.status_code == 404 and response.is_json


def test_an_unhealthy_site_still_shows_the_replica(make_app, litestream, monkeypatch):
    """A 503 from /health carries the replica's status too."""
    app = make_app(REPLICATION_SOCKET=litestream(go_time(datetime.now(timezone.utc))))
    monkeypatch.setattr(os, "access", lambda *args: False)
    monkeypatch.setattr("starpunk.health.check_data_path", lambda: "not writable")
    body = app.test_client().get("/health").get_json()
    assert body["status"] == "unhealthy" and body["replication"]["status"] == "ok"
