"""The /health endpoint for container engines and monitors."""

import os
import sqlite3

from flask import Blueprint, current_app, jsonify

from .db import get_db

bp = Blueprint("health", __name__)

PROBE_NAME = ".health-probe"


def check_database():
    """Return "ok" when the database answers and has its schema, else a short reason."""
    try:
        get_db().execute("SELECT count(*) FROM schema_migrations").fetchone()
    except sqlite3.DatabaseError as exc:
        current_app.logger.error("health: database check failed: %s", exc)
        return "unavailable"
    return "ok"


def check_data_path():
    """Return "ok" when a file can really be written in DATA_PATH, else a short reason."""
    probe = os.path.join(current_app.config["DATA_PATH"], PROBE_NAME)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        current_app.logger.error("health: data path check failed: %s", exc.strerror)
        return "not writable" if exc.errno in {13, 30} else "write failed"
    return "ok"


@bp.get("/health")
def health():
    """Report healthy (200) or which check failed (503), as JSON."""
    checks = {"database": check_database(), "data_path": check_data_path()}
    if all(result == "ok" for result in checks.values()):
        return jsonify(
            status="healthy",
            version=current_app.config["VERSION"],
            environment=current_app.config["ENVIRONMENT"],
        )
    response = jsonify(status="unhealthy", checks=checks, version=current_app.config["VERSION"])
    response.status_code = 503
    return response
