"""The /health endpoint for container engines and monitors."""

import os
import sqlite3
import tempfile
from time import monotonic

from flask import Blueprint, abort, current_app, jsonify

from .db import count_migrations, get_db
from .replication import replication_status

bp = Blueprint("health", __name__)

PROBE_BYTES = b"\0" * 4096
# A successful write probe vouches for DATA_PATH this long in this worker, so a
# monitor polling in a loop does not cost a file creation per probe. Only while
# the folder still looks writable, though: every probe asks the kernel (access,
# statvfs: no file created) whether this user may write there and the file
# system has room, and writes again at once when not. Failures are never kept,
# and a failed write anywhere in the app (handle_storage_error) ends the
# vouching too.
WRITE_CHECK_SECONDS = 1.0
WRITE_CHECK = "starpunk_health_written_at"


def check_database():
    """Return "ok" when the database answers and has its schema, else a short reason."""
    try:
        count_migrations(get_db())
    except sqlite3.DatabaseError as exc:
        current_app.logger.error("health: database check failed: %s", exc)
        return "unavailable"
    return "ok"


def forget_write_check():
    """Make the next probe write to DATA_PATH again (a write just failed somewhere)."""
    current_app.extensions.pop(WRITE_CHECK, None)


def looks_writable():
    """Return True when this user may write in DATA_PATH and its file system has free blocks (nothing is written)."""
    folder = current_app.config["DATA_PATH"]
    try:
        return os.access(folder, os.W_OK) and os.statvfs(folder).f_bavail > 0
    except OSError:
        return False


def check_data_path():
    """Return "ok" when a file can really be written in DATA_PATH (proven within WRITE_CHECK_SECONDS), else a reason."""
    written_at = current_app.extensions.get(WRITE_CHECK)
    if written_at is not None and monotonic() - written_at < WRITE_CHECK_SECONDS and looks_writable():
        return "ok"
    try:
        # An unnamed temporary file: workers probing at once never collide,
        # and a full disk fails the write just as it would fail a note.
        with tempfile.TemporaryFile(dir=current_app.config["DATA_PATH"]) as probe:
            probe.write(PROBE_BYTES)
            probe.flush()
    except OSError as exc:
        current_app.logger.error("health: data path check failed: %s", exc.strerror)
        return "not writable" if exc.errno in {13, 30} else "write failed"
    current_app.extensions[WRITE_CHECK] = monotonic()
    return "ok"


def check_replication():
    """Return the replica's status from Litestream's socket, or None when replication is not watched."""
    socket_path = current_app.config["REPLICATION_SOCKET"]
    if not socket_path:
        return None
    return replication_status(socket_path, current_app.config["REPLICATION_MAX_LAG_SECONDS"])


@bp.get("/health")
def health():
    """Report healthy (200) or which check failed (503), as JSON; with replication watched, the replica's status.

    A replica behind or unreachable does not make the site unhealthy: it keeps
    serving and taking notes (an orchestrator restarting it would not help);
    /health/replication answers 503 then, for a monitor.
    """
    checks = {"database": check_database(), "data_path": check_data_path()}
    replication = check_replication()
    extra = {} if replication is None else {"replication": replication}
    if all(result == "ok" for result in checks.values()):
        return jsonify(
            status="healthy",
            version=current_app.config["VERSION"],
            environment=current_app.config["ENVIRONMENT"],
            **extra,
        )
    response = jsonify(status="unhealthy", checks=checks, version=current_app.config["VERSION"], **extra)
    response.status_code = 503
    return response


@bp.get("/health/replication")
def replication_health():
    """Report the replica's status: 200 when it synced within REPLICATION_MAX_LAG_SECONDS, else 503 (404: unwatched)."""
    replication = check_replication()
    if replication is None:
        abort(404, "Replication is not watched here (REPLICATION_SOCKET is empty).")
    response = jsonify(replication)
    response.status_code = 200 if replication["status"] == "ok" else 503
    return response
