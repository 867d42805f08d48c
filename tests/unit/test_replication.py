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
    """Litestream's control server as the app sees it: GET /list, and POST /sync (its positions, WAL read)."""

    listing: dict[str, object] = {}
    positions: dict[str, object] | None = None
    synced: list[dict[str, object]] = []

    def _answer(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self._answer(200 if self.path == "/list" else 404, self.listing)

    def do_POST(self):  # noqa: N802 - the name http.server calls
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Litestream.synced.append(request)
        if self.path != "/sync" or self.positions is None:
            self._answer(500, {"error": "sync database: replica sync: connection refused"})
            return
        self._answer(200, {"status": "no_change", "path": request["path"], **self.positions})

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
    """Serve a fake Litestream control socket; return a function that sets its answers and gives its path.

    answer(last_sync_at, txid, replicated_txid): /list's entry, and /sync's positions (txid None: /sync fails).
    """
    path = str(tmp_path / "litestream.sock")
    server = UnixHTTPServer(path, Litestream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Litestream.synced = []

    def answer(last_sync_at, txid=7, replicated_txid=7, db_path="/data/starpunk.db"):
        entry = {"path": db_path, "status": "replicating"}
        if last_sync_at:
            entry["last_sync_at"] = last_sync_at
        Litestream.listing = {"databases": [entry]}
        Litestream.positions = None if txid is None else {"txid": txid, "replicated_txid": replicated_txid}
        return path

    yield answer
    server.shutdown()
    server.server_close()


def go_time(moment):
    """Return a time as Go's JSON encoder writes it (nanoseconds, Z)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def test_the_replica_is_ok_when_it_holds_the_position_litestream_just_read(litestream):
    """ok when the uploaded position has reached the WAL's, asked of the database Litestream names."""
    path = litestream(go_time(NOW - timedelta(seconds=3)), txid=7, replicated_txid=7)
    assert replication.replication_status(path, 10, now=NOW) == {
        "status": "ok",
        "seconds_since_sync": 3.0,
        "txid": 7,
        "replicated_txid": 7,
    }
    assert Litestream.synced == [{"path": "/data/starpunk.db"}]  # no timeout: its end would drop Litestream's read lock


def test_a_fresh_sync_is_not_ok_while_the_newest_write_is_not_uploaded(litestream):
    """Litestream's last sync a moment ago says nothing of a write it has not uploaded: syncing, not ok."""
    path = litestream(go_time(NOW - timedelta(seconds=0.5)), txid=8, replicated_txid=7)
    assert replication.replication_status(path, 10, now=NOW) == {
        "status": "syncing",
        "seconds_since_sync": 0.5,
        "txid": 8,
        "replicated_txid": 7,
    }
    path = litestream(go_time(NOW - timedelta(seconds=0.5)), txid=8, replicated_txid=0)  # cleared by an error
    assert replication.replication_status(path, 10, now=NOW)["status"] == "syncing"


def test_not_uploaded_for_longer_than_the_lag_is_behind(litestream):
    """Past REPLICATION_MAX_LAG_SECONDS without an upload, a write not in the bucket is behind."""
    path = litestream(go_time(NOW - timedelta(seconds=11)), txid=9, replicated_txid=7)
    assert replication.replication_status(path, 10, now=NOW)["status"] == "behind"
    path = litestream(go_time(NOW - timedelta(seconds=10)), txid=9, replicated_txid=7)
    assert replication.replication_status(path, 10, now=NOW)["status"] == "syncing"


def test_a_failed_sync_request_is_never_ok(litestream):
    """When Litestream cannot read the WAL now, the status is not ok, however fresh its last upload."""
    path = litestream(go_time(NOW - timedelta(seconds=1)), txid=None)
    assert replication.replication_status(path, 10, now=NOW) == {"status": "syncing", "seconds_since_sync": 1.0}
    path = litestream(go_time(NOW - timedelta(seconds=30)), txid=None)
    assert replication.replication_status(path, 10, now=NOW) == {"status": "behind", "seconds_since_sync": 30.0}


def test_never_synced_is_behind_and_no_socket_is_unreachable(litestream, tmp_path):
    """A database not yet replicated (or not yet opened by Litestream) is behind; no sidecar is unreachable."""
    assert replication.replication_status(litestream(None, txid=1, replicated_txid=0), 10, now=NOW)["status"] == (
        "behind"
    )
    assert replication.replication_status(litestream(None, txid=0, replicated_txid=0), 10, now=NOW)["status"] == (
        "behind"
    )
    path = litestream(None)
    Litestream.listing = {"databases": []}
    assert replication.replication_status(path, 10) == {"status": "behind", "seconds_since_sync": None}
    assert replication.replication_status(str(tmp_path / "none.sock"), 10) == {"status": "unreachable"}


def test_health_shows_the_replica_and_its_own_route_fails_unless_ok(make_app, litestream):
    """/health stays 200 with the replica's status; /health/replication is 200 only when ok, else 503."""
    fresh = go_time(datetime.now(timezone.utc))
    client = make_app(REPLICATION_SOCKET=litestream(fresh)).test_client()
    body = client.get("/health").get_json()
    assert body["status"] == "healthy" and body["replication"]["status"] == "ok"
    assert client.get("/health/replication").status_code == 200
    litestream(fresh, txid=8, replicated_txid=7)
    response = client.get("/health")
    assert response.status_code == 200 and response.get_json()["replication"]["status"] == "syncing"
    assert client.get("/health/replication").status_code == 503
    litestream(go_time(datetime.now(timezone.utc) - timedelta(seconds=60)), txid=8, replicated_txid=7)
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
