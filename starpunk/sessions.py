"""Server-side sessions in SQLite; the cookie holds only a random id."""

import json
import secrets
import sqlite3
from datetime import datetime, timedelta, timezone

from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from .db import connect, held_connection, isoformat, transaction, utcnow
from .errors import storage_error_page
from .web import hash_token

COOKIE_NAME = "starpunk_session"
OWNER_LIFETIME = timedelta(days=30)
# Sessions of visitors who never signed in (they only hold a CSRF token or an
# IndieLogin state) live briefly.
ANONYMOUS_LIFETIME = timedelta(hours=1)


class ServerSession(CallbackDict, SessionMixin):
    """A dict of session data whose changes are saved at the end of the request."""

    def __init__(self, initial=None, sid=None):
        def on_update(self):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.modified = False
        self.regenerate = False

    def rotate(self):
        """Give this session a new id (after signing in, against session fixation)."""
        self.regenerate = True
        self.modified = True


class SQLiteSessionInterface(SessionInterface):
    """Keep session data in the sessions table, keyed by the hash of the cookie's id."""

    def open_session(self, app, request):
        """Load the session named by the cookie, if it exists and has not expired."""
        # Most readers send no cookie at all: then there is no Cookie header to parse.
        sid = request.cookies.get(COOKIE_NAME) if COOKIE_NAME in request.environ.get("HTTP_COOKIE", "") else None
        if not sid or len(sid) > 128:
            # A visitor without a session cookie costs the session store nothing.
            return ServerSession()
        try:
            row = self._load(app.config["DATA_PATH"], sid)
        except sqlite3.Error as exc:
            # Pages that need no session still work; /health names the failure.
            app.logger.error("session store unavailable: %s", exc)
            return ServerSession()
        if row is None:
            return ServerSession()
        return ServerSession(json.loads(row["data"]), sid=sid)

    @staticmethod
    def _load(data_path, sid):
        """Return the unexpired row of this session id, read on the worker's held connection if it has one."""
        held = held_connection(data_path)
        conn = held if held is not None else connect(data_path)
        try:
            return conn.execute(
                "SELECT data FROM sessions WHERE id_hash = ? AND expires_at > ?",
                (hash_token(sid), utcnow()),
            ).fetchone()
        finally:
            if held is None:
                conn.close()

    def save_session(self, app, session, response):
        """Write changed data, rotate the id when asked, and set or clear the cookie."""
        if not session.modified:
            return
        secure = app.config["SITE_URL"].startswith("https://")
        had_id = session.sid
        try:
            lifetime = self._store(app, session)
        except sqlite3.Error as exc:
            app.logger.error("session could not be saved: %s", exc)
            _storage_failed(response)
            return
        if lifetime is None:
            if had_id:
                response.delete_cookie(COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="Lax")
            return
        response.set_cookie(
            COOKIE_NAME,
            session.sid,
            max_age=int(lifetime.total_seconds()),
            path="/",
            secure=secure,
            httponly=True,
            samesite="Lax",
        )

    @staticmethod
    def _store(app, session):
        """Save the session's row (or delete it when emptied); return its lifetime, or None when deleted."""
        conn = connect(app.config["DATA_PATH"])
        try:
            # A session write lost to a power cut only signs someone out: it
            # need not wait for the disk like a note does.
            conn.execute("PRAGMA synchronous = NORMAL")
            with transaction(conn):
                if session.sid and (session.regenerate or not session):
                    conn.execute("DELETE FROM sessions WHERE id_hash = ?", (hash_token(session.sid),))
                if not session:
                    return None
                if session.regenerate or not session.sid:
                    session.sid = secrets.token_urlsafe(32)
                lifetime = OWNER_LIFETIME if session.get("me") else ANONYMOUS_LIFETIME
                now = datetime.now(timezone.utc)
                conn.execute(
                    "INSERT INTO sessions (id_hash, data, created_at, expires_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
                    (hash_token(session.sid), json.dumps(dict(session)), isoformat(now), isoformat(now + lifetime)),
                )
                conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (isoformat(now),))
            return lifetime
        finally:
            conn.close()


def _storage_failed(response):
    """Turn a response whose session could not be saved into the storage-error page (503)."""
    body, status = storage_error_page()
    response.status_code = status
    response.headers.pop("Location", None)
    response.headers.pop("Set-Cookie", None)
    response.set_data(body)
    response.mimetype = "text/html"
