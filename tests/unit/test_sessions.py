"""Server-side sessions: what the cookie carries, how long it lives, and when it stops working."""

import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest


def owner_cookie(response):
    """Return the Set-Cookie header that carries the session."""
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("starpunk_session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


def is_signed_in(client):
    """Return True when the client can open the admin page."""
    return client.get("/admin").status_code == 200


def test_owner_cookie_is_httponly_lax_and_lasts_30_days(app, login_link):
    """On http SITE_URL, the cookie is HttpOnly, SameSite=Lax, 30 days, and not Secure."""
    response = app.test_client().get(urlsplit(login_link()).path)
    header = owner_cookie(response)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Max-Age=2592000" in header
    assert "Path=/" in header
    assert "Secure" not in header


def test_cookie_is_secure_when_the_site_is_https(make_app, login_link):
    """On an https SITE_URL the browser may only send the cookie over https."""
    app = make_app(SITE_URL="https://notes.example")
    url = login_link(app)
    assert url.startswith("https://notes.example/auth/token/")
    client = app.test_client()
    header = owner_cookie(client.get(urlsplit(url).path, base_url="https://notes.example"))
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
    cookie = client.get_cookie("starpunk_session", domain="notes.example")
    assert cookie.secure and cookie.http_only and cookie.same_site == "Lax"


def test_visitors_get_no_cookie_for_reading(client, add_notes):
    """Reading pages and feeds sets no cookie at all."""
    add_notes(["Just reading"])
    for path in ("/", "/feed.xml", "/health", "/nothing-here"):
        assert "Set-Cookie" not in client.get(path).headers, path


def test_an_unfinished_sign_in_lives_only_an_hour(client):
    """The cookie made when sign-in starts is short-lived."""
    response = client.get("/auth/login")
    assert "Max-Age=3600" in owner_cookie(response)


def test_cookie_holds_only_a_random_id_stored_hashed(app, login_link, database):
    """The cookie is an opaque id; the database keeps its hash, and the data stays on the server."""
    client = app.test_client()
    client.get(urlsplit(login_link()).path)
    sid = client.get_cookie("starpunk_session").value
    assert len(sid) >= 40
    assert "owner.example" not in sid
    row = database.execute("SELECT id_hash, data FROM sessions").fetchone()
    assert row["id_hash"] == hashlib.sha256(sid.encode()).hexdigest()
    assert "owner.example" in row["data"]


def test_signing_in_rotates_the_session_id(app, login_link):
    """The id a visitor had before signing in is useless afterwards (no session fixation)."""
    client = app.test_client()
    client.get("/auth/login")  # an anonymous session with sign-in state
    before = client.get_cookie("starpunk_session").value
    client.get(urlsplit(login_link()).path)
    after = client.get_cookie("starpunk_session").value
    assert before != after
    planted = app.test_client()
    planted.set_cookie("starpunk_session", before)
    assert not is_signed_in(planted)
    assert is_signed_in(client)


def test_expired_session_signs_the_owner_out(owner, database):
    """When the server-side session has expired, the cookie no longer works."""
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat(timespec="microseconds")
    database.execute("UPDATE sessions SET expires_at = ?", (past,))
    response = owner.get("/admin")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/auth/login"


@pytest.mark.parametrize("value", ["x" * 200, "not-a-session", ""])
def test_unknown_or_oversized_cookies_are_anonymous(client, value):
    """A bogus cookie is treated as no session, never as an error."""
    client.set_cookie("starpunk_session", value)
    assert client.get("/").status_code == 200
    assert client.get("/admin").status_code == 302


def test_expired_sessions_are_cleaned_up(app, login_link, database):
    """Old session rows are deleted when new sessions are saved."""
    past = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="microseconds")
    database.execute(
        "INSERT INTO sessions (id_hash, data, created_at, expires_at) VALUES ('old', '{}', ?, ?)", (past, past)
    )
    app.test_client().get(urlsplit(login_link()).path)
    hashes = [row[0] for row in database.execute("SELECT id_hash FROM sessions")]
    assert "old" not in hashes
    assert len(hashes) == 1


def test_an_unreadable_session_store_leaves_visitors_anonymous(owner, data_path):
    """If the database cannot be read, a signed-in owner's health check still answers (503, not 500)."""
    (data_path / "starpunk.db").write_bytes(b"this is not a database" * 200)
    response = owner.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] != "ok"


def test_a_stray_callback_sets_no_cookie(client):
    """A visitor who lands on the callback without starting to sign in gets no session cookie."""
    response = client.get("/auth/callback?state=x&code=y")
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers


def test_a_session_that_cannot_be_saved_gives_the_storage_error_page(client, monkeypatch):
    """When the session cannot be written (disk full, read-only), the visitor sees the 503 page, not a 500."""
    import sqlite3 as sqlite

    from starpunk.sessions import SQLiteSessionInterface

    def refuse(app, session):
        raise sqlite.OperationalError("database or disk is full")

    monkeypatch.setattr(SQLiteSessionInterface, "_store", staticmethod(refuse))
    response = client.get("/auth/login")
    assert response.status_code == 503
    assert "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert "Nothing was changed" in response.get_data(as_text=True)


@pytest.fixture
def store_reads(monkeypatch):
    """Return the list of session-store reads and writes from now on."""
    from starpunk.sessions import SQLiteSessionInterface

    seen = []
    load, store = SQLiteSessionInterface._load, SQLiteSessionInterface._store

    def counting_load(data_path, sid):
        seen.append("read")
        return load(data_path, sid)

    def counting_store(app, session):
        seen.append("write")
        return store(app, session)

    monkeypatch.setattr(SQLiteSessionInterface, "_load", staticmethod(counting_load))
    monkeypatch.setattr(SQLiteSessionInterface, "_store", staticmethod(counting_store))
    return seen


def test_visitors_without_a_cookie_never_reach_the_session_store(client, add_notes, store_reads):
    """Reading pages, feeds, photos' 404s, robots.txt and /health costs a cookie-less visitor no session access."""
    slug = add_notes(["Read anonymously"])[0]["slug"]
    for path in ("/", f"/note/{slug}", "/feed.xml", "/feed.atom", "/feed.json", "/health", "/robots.txt", "/nope"):
        client.get(path)
    assert store_reads == []


def test_a_session_cookie_is_looked_up_once_a_request(owner, store_reads):
    """With the cookie, each request reads its session row once (and writes it only when it changed)."""
    owner.get("/")  # the first page with a form puts a CSRF token in the session: one write
    assert store_reads == ["read", "write"]
    owner.get("/")
    owner.get("/feed.xml")
    assert store_reads == ["read", "write", "read", "read"]
