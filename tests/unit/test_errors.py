"""Error pages: plain HTML for people, JSON for machines, and never a traceback."""

from urllib.parse import urlsplit

import pytest

from starpunk import db, health, listing, store

ERROR_LEAKS = ("Traceback", 'File "', "Error:", "sqlite3", "werkzeug")


def assert_plain_error_page(response, status, title):
    """Fail unless response is the site's own HTML error page with no internals in it."""
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert f"<h1>{title}</h1>" in response.text
    assert 'href="/"' in response.text  # a way back home
    for leak in ERROR_LEAKS:
        assert leak not in response.text, leak


@pytest.fixture
def make_read_only(monkeypatch):
    """Return a switch that makes request connections (the held one too) refuse writes, as a read-only disk would."""
    real_connect = db.connect

    def connect(data_path, create=False):
        conn = real_connect(data_path, create)
        conn.execute("PRAGMA query_only = ON")
        return conn

    def switch():
        monkeypatch.setattr(db, "connect", connect)
        for held in db._held.values():  # the connection this process holds for its requests
            held.conn.execute("PRAGMA query_only = ON")

    return switch


def test_404_page(client):
    """An unknown address gets the site's 404 page."""
    response = client.get("/no/such/page")
    assert_plain_error_page(response, 404, "Not found")
    assert "There is nothing at this address." in response.text


def test_404_page_for_a_note_says_why(client):
    """A missing note's 404 says there is no note there."""
    response = client.get("/note/missing")
    assert_plain_error_page(response, 404, "Not found")
    assert "There is no note at this address." in response.text


def test_405_page(client):
    """The wrong method gets a 405 page."""
    response = client.put("/")
    assert_plain_error_page(response, 405, "Method not allowed")
    assert "does not accept that kind of request" in response.text


def test_413_page(client, app):
    """An oversized request body gets a 413 page, even from a visitor."""
    response = client.post("/auth/dev-login", data={"next": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})
    assert_plain_error_page(response, 413, "Too large")


@pytest.mark.parametrize("action", ["create", "edit", "delete"])
def test_a_failed_write_is_a_503_saying_nothing_changed(owner, token, write_note, database, make_read_only, action):
    """When the database refuses a write, the owner gets a 503 page and no partial change."""
    slug = write_note("Before the disk filled up") if action != "create" else None
    note_id = database.execute("SELECT id FROM notes").fetchone()[0] if slug else None
    before = [tuple(row) for row in database.execute("SELECT * FROM notes")]
    form = {"csrf_token": token(owner), "content": "During the outage", "published": "y"}
    path = {"create": "/admin/new", "edit": f"/admin/edit/{note_id}", "delete": f"/admin/delete/{note_id}"}[action]
    make_read_only()
    response = owner.post(path, data=form)
    assert_plain_error_page(response, 503, "Temporarily unavailable")
    assert "Nothing was changed" in response.text
    assert [tuple(row) for row in database.execute("SELECT * FROM notes")] == before


def test_a_failed_write_is_logged(capsys, make_app, monkeypatch, token, login_link):
    """The storage failure is logged for the operator (the page only says it failed)."""
    app = make_app()
    client = app.test_client()
    client.get(urlsplit(login_link(app)).path)
    form = {"csrf_token": token(client), "content": "x", "published": "y"}

    def refuse(*args, **kwargs):
        raise store.sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "create_note", refuse)
    assert client.post("/admin/new", data=form).status_code == 503
    assert "storage error on POST /admin/new: database or disk is full" in capsys.readouterr().err


def test_an_unexpected_error_is_a_plain_500(capsys, make_app, monkeypatch):
    """A bug shows a plain 500 page; the details go to the log only."""
    app = make_app()

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(listing, "published_page", broken)
    response = app.test_client().get("/")
    assert_plain_error_page(response, 500, "Something went wrong")
    assert "secret internal detail" not in response.text
    logged = capsys.readouterr().err
    assert "unhandled error on GET /" in logged
    assert "secret internal detail" in logged


def test_errors_under_health_are_json(client, monkeypatch):
    """Machines asking /health get JSON errors, without exception text."""
    response = client.post("/health")
    assert response.status_code == 405
    assert response.get_json() == {
        "status": "error",
        "code": 405,
        "message": "This address does not accept that kind of request.",
    }

    def broken():
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(health, "check_database", broken)
    response = client.get("/health")
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert "secret internal detail" not in response.text


def test_unknown_json_addresses_get_json_errors(client):
    """A .json address that does not exist answers in JSON."""
    response = client.get("/missing.json")
    assert response.status_code == 404
    assert response.get_json()["code"] == 404


def test_error_pages_carry_the_security_headers(client):
    """Error pages are protected like every other page."""
    response = client.get("/no/such/page")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/note/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/?page=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ],
)
def test_error_pages_do_not_echo_the_request(client, path):
    """Whatever was in the URL is not reflected into the error page."""
    response = client.get(path)
    assert response.status_code == 404
    assert "<script" not in response.text.lower()
    assert "alert(1)" not in response.text
