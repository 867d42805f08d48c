"""A site restorable from a copy of its database alone, and what /health says of the replica.

- ``reconcile(data_path)`` runs at every start: it writes back to
  DATA_PATH/media the photos the database keeps (``media_copies``) that the
  volume lacks (a database restored onto a new volume), and keeps in the
  database the photo files it lacks (a site upgraded from 0.7.0).
- The volume marker: ``DATA_PATH/.starpunk-volume`` holds the id the database
  keeps in ``site_state``. A database whose id this volume does not hold was
  restored here from a copy made elsewhere (a Litestream replica, a backup
  taken on another volume); the start says so in one line: what it holds and
  the time of its newest change.
- ``replication_status`` asks Litestream's control socket (the sidecar's, on
  the shared volume) whether the replica holds the newest write, for /health.
  Litestream's own ``last_sync_at`` cannot say so: it is the end of the last
  upload that succeeded, and Litestream refreshes it every second while it
  believes it has nothing to send, even before it has read a write the site
  has just acknowledged. So the status asks Litestream to read the WAL now
  (``POST /sync`` without waiting for the store: every transaction committed
  before the request, the local step only) and compares the position that
  gave (``txid``) with the position the replica has uploaded
  (``replicated_txid``, which Litestream sets only after an upload or a
  listing of the bucket succeeded, and clears on an error). "ok" only when
  the second has reached the first.
"""

import http.client
import json
import os
import re
import secrets
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from . import mediacopies
from .db import DB_FILENAME, connect, transaction
from .media import NAME, media_folder, write_atomically

VOLUME_MARKER = ".starpunk-volume"
VOLUME_KEY = "volume_id"
SOCKET_TIMEOUT_SECONDS = 2.0
# Go writes nanoseconds; Python's datetime keeps microseconds.
_FRACTION = re.compile(r"(\.\d{6})\d+")


# A record of counts; tests/replicate/writes.py's record is alike in shape only (the duplicates tool pairs them).
class Reconciled(NamedTuple):
    """What a start found: whether the database came from elsewhere, and the photos it wrote back or kept."""

    restored: bool
    notes: int
    photos_written_back: int
    photos_kept: int
    newest_change: str

    def restored_line(self):
        """Return the one log line that says what was restored and from when."""
        return (
            f"restored this site from a copy of its database (a replica or a backup): {self.notes} note(s), "
            f"{self.photos_written_back} photo file(s) written back, newest change {self.newest_change}"
        )


def reconcile(data_path):
    """Write back the photos the database keeps and the volume lacks, keep the files it lacks; say if restored."""
    data_path = Path(data_path)
    folder = media_folder(data_path)
    conn = connect(data_path)
    try:
        restored = _claim_volume(conn, data_path)
        on_disk = {path.name for path in folder.iterdir() if NAME.match(path.name)} if folder.is_dir() else set()
        kept = mediacopies.names(conn)
        missing = sorted(kept - on_disk)
        for name in missing:
            write_atomically(folder, name, mediacopies.data_of(conn, name))
        unkept = sorted(on_disk - kept)
        for name in unkept:
            mediacopies.keep(conn, name, (folder / name).read_bytes())
        notes = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
        changed = conn.execute("SELECT value FROM site_state WHERE key = 'content_changed_at'").fetchone()
        newest = max(filter(None, [changed[0] if changed else None, mediacopies.newest(conn)]), default="never")
        return Reconciled(restored, notes, len(missing), len(unkept), newest)
    finally:
        conn.close()


def _claim_volume(conn, data_path):
    """Make this volume's marker name the database's id; return True when it named another (a restored copy)."""
    row = conn.execute("SELECT value FROM site_state WHERE key = ?", (VOLUME_KEY,)).fetchone()
    marker = data_path / VOLUME_MARKER
    try:
        held = marker.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        held = None
    if row is None:  # a new site, or one from before 0.8: this volume is its home
        volume_id = secrets.token_hex(16)
        with transaction(conn):
            conn.execute("INSERT INTO site_state (key, value) VALUES (?, ?)", (VOLUME_KEY, volume_id))
        write_atomically(data_path, VOLUME_MARKER, volume_id.encode("ascii"))
        return False
    if held == row[0]:
        return False
    write_atomically(data_path, VOLUME_MARKER, row[0].encode("ascii"))
    return True


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket: Litestream's control server listens on one, never on the network."""

    def __init__(self, path):
        super().__init__("litestream", timeout=SOCKET_TIMEOUT_SECONDS)
        self.socket_path = path

    def connect(self):
        """Connect to the socket file instead of a host and port."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def _ask(socket_path, method, path, body=None):
    """Return the JSON of Litestream's answer to one request on its control socket (ValueError when not 200)."""
    conn = _UnixConnection(socket_path)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        answer = reply.read()
        if reply.status != 200:
            raise ValueError(f"Litestream answered {reply.status} to {method} {path}")
        return json.loads(answer)
    finally:
        conn.close()


def _parse_time(text):
    return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))


def _positions(socket_path, db_path):
    """Return (txid, replicated_txid) after Litestream read the WAL now, or None when it could not say."""
    try:
        # Never a "timeout" (nor "wait", which implies one): Litestream 0.5.17 then runs the sync on a context that
        # ends with the request, and when that sync is the one that opens the database or checkpoints, the read
        # transaction that keeps everyone else's checkpoints off its WAL begins on that context too; Go's
        # database/sql rolls it back when the context ends, silently. Our own automatic checkpoints then overwrite
        # the WAL under Litestream, which falls back to a snapshot at every sync, of a file those checkpoints are
        # writing: the replica restored malformed (issue 26). Without one the sync runs on Litestream's own context;
        # this socket's timeout bounds our wait.
        synced = _ask(socket_path, "POST", "/sync", {"path": db_path})
        return int(synced.get("txid") or 0), int(synced.get("replicated_txid") or 0)
    except (OSError, ValueError, TypeError, http.client.HTTPException):
        return None


def replication_status(socket_path, max_lag_seconds, now=None):
    """Return the replica's status: "ok" only when it holds every write committed before this call.

    {"status": "ok" | "syncing" | "behind" | "unreachable", "seconds_since_sync": N, "txid": T,
    "replicated_txid": R}: "syncing" while a write is not in the bucket yet but Litestream's last
    successful upload is at most max_lag_seconds old, "behind" after that (or when it never uploaded).
    """
    try:
        listing = _ask(socket_path, "GET", "/list")
    except (OSError, ValueError, http.client.HTTPException):
        return {"status": "unreachable"}
    entries = [item for item in listing.get("databases") or [] if os.path.basename(item.get("path", "")) == DB_FILENAME]
    if not entries:
        return {"status": "behind", "seconds_since_sync": None}  # Litestream has not opened the database yet
    last = entries[0].get("last_sync_at")
    now = now or datetime.now(timezone.utc)
    age = round(max(0.0, (now - _parse_time(last)).total_seconds()), 1) if last else None
    positions = _positions(socket_path, entries[0]["path"])
    status = {"seconds_since_sync": age}
    if positions is not None:
        status.update(txid=positions[0], replicated_txid=positions[1])
        if positions[0] > 0 and positions[1] >= positions[0]:
            return {"status": "ok", **status}
    recent = age is not None and age <= max_lag_seconds
    return {"status": "syncing" if recent else "behind", **status}
