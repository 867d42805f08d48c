"""Readers' copies answered before Flask: the same bytes and headers, coherent across workers, never the owner's."""

import time
from datetime import timedelta

import pytest
from flask import request, request_started
from werkzeug.http import http_date, parse_date
from werkzeug.test import EnvironBuilder

from starpunk import db, fastpath, paging, store
from starpunk.sessions import COOKIE_NAME

READER_ADDRESSES = (
    "/",
    "/{year}/",
    "/{year}/{month}/",
    "/tags",
    "/note/{slug}",
    "/tag/fast",
    "/feed.xml",
    "/feed.atom",
    "/feed.json",
)


@pytest.fixture
def flask_requests(app):
    """Return the list of paths that reached Flask from now on (its request_started signal)."""
    seen = []

    def record(sender, **extra):
        from flask import request

        seen.append(request.full_path.rstrip("?"))

    request_started.connect(record, app)
    yield seen
    request_started.disconnect(record, app)


@pytest.fixture
def addresses(app):
    """Return the readers' addresses of a site with one published note tagged "fast"."""
    with app.app_context():
        note = store.create_note("A note read often", True, tags=["fast"])
    year, month = note["published_at"][:4], note["published_at"][5:7]
    return [address.format(slug=note["slug"], year=year, month=month) for address in READER_ADDRESSES]


def answer(response):
    """Return what a client receives: status, headers in order, body."""
    return response.status, response.headers.to_wsgi_list(), response.data


def through_wsgi(app, address, method="GET", headers=None):
    """Return (status line, headers, body) exactly as a WSGI server (Gunicorn) gets them from the app."""
    environ = EnvironBuilder(path=address, method=method, headers=headers).get_environ()
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = status, list(response_headers)

    body = app.wsgi_app(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return started["status"], started["headers"], data


def test_a_repeated_readers_request_is_answered_without_flask(client, addresses, flask_requests):
    """Once Flask has answered an address, readers' GET, HEAD and conditional GETs of it skip Flask."""
    for address in addresses:
        first = client.get(address)
        assert first.status_code == 200, address
        assert flask_requests.count(address) == 1
        again = client.get(address)
        head = client.head(address)
        not_modified = client.get(address, headers={"If-None-Match": first.headers["ETag"]})
        assert flask_requests.count(address) == 1, f"{address} reached Flask again"
        assert answer(again) == answer(first)
        assert head.status_code == 200 and head.data == b""
        assert head.headers.to_wsgi_list() == first.headers.to_wsgi_list()
        assert not_modified.status_code == 304 and not_modified.data == b""


def test_a_wsgi_server_gets_the_same_status_lines_from_a_copy(app, addresses, flask_requests):
    """Flask's status line, headers and body, given again from the copy; HEAD without the body; then 304."""
    for address in addresses:
        first = through_wsgi(app, address)
        assert first[0] == "200 OK", address
        assert through_wsgi(app, address) == first, address
        assert through_wsgi(app, address, "HEAD") == (first[0], first[1], b""), address
        etag = dict(first[1])["ETag"]
        not_modified = through_wsgi(app, address, headers={"If-None-Match": etag})
        assert (not_modified[0], not_modified[2]) == ("304 NOT MODIFIED", b""), address
        assert flask_requests.count(address) == 1, address


def test_readers_pages_link_from_the_root_of_the_site(client, addresses):
    """A page links its stylesheet and feeds at the site's root, rendered by Flask and given from the copy alike."""
    for address in addresses:
        if address.startswith("/feed."):
            continue
        for reply in (client.get(address), client.get(address)):
            assert 'href="/static/style.css?v=' in reply.text and 'href="/feed.xml"' in reply.text, address


@pytest.mark.parametrize("conditional", ["If-None-Match", "If-Modified-Since", None])
def test_the_fast_answer_is_exactly_flasks(make_app, addresses, conditional):
    """Status, every header in order and the body are those Flask gives the same request (a fresh worker's)."""
    warm = make_app().test_client()
    for address in addresses:
        reference = warm.get(address)
        headers = {}
        if conditional == "If-None-Match":
            headers[conditional] = reference.headers["ETag"]
        elif conditional == "If-Modified-Since":
            headers[conditional] = reference.headers.get("Last-Modified", "Sun, 29 Nov 2099 00:00:00 GMT")
        fast = warm.get(address, headers=headers)
        through_flask = make_app().test_client().get(address, headers=headers)
        assert answer(fast) == answer(through_flask), address
    if conditional == "If-Modified-Since":
        # Only the feeds carry Last-Modified; pages answer If-Modified-Since alone with the page.
        assert warm.get("/feed.xml", headers=headers).status_code == 304


def test_a_write_in_another_worker_shows_on_the_next_request(make_app, client, addresses, flask_requests):
    """The copy is checked against the content generation on every request, as the caches are."""
    before = {address: client.get(address) for address in addresses}
    with make_app().app_context():
        store.create_note("Written by another worker", True, tags=["fast"])
    for address, old in before.items():
        reply = client.get(address, headers={"If-None-Match": old.headers["ETag"]})
        if "/note/" in address:
            assert reply.status_code == 304  # re-rendered, and the same bytes as before
            # Flask's 304, then the 200 it stands for, kept as the new generation's copy
            assert flask_requests.count(address) == 3, f"{address} was answered from a copy of the last generation"
        else:  # lists show the note, the year and the tag index its count
            assert flask_requests.count(address) == 2, f"{address} was answered from a copy of the last generation"
            assert reply.status_code == 200 and reply.data != old.data, address


def test_each_page_of_a_list_is_a_copy_of_its_own(app, client, add_notes, flask_requests):
    """The index's older page (?before=) is kept beside the first page under its own query, never in its place."""
    notes = add_notes([f"Listed note {n:02d}" for n in range(paging.PAGE_SIZE + 1)])
    older = f"/?before={notes[1]['id']}"
    first = client.get("/")
    assert older in first.text and "Listed note 00" not in first.text
    older_page = client.get(older)
    assert older_page.status_code == 200 and "Listed note 00" in older_page.text
    assert answer(client.get(older)) == answer(older_page)
    assert answer(client.get("/")) == answer(first)
    assert (flask_requests.count("/"), flask_requests.count(older)) == (1, 1)
    assert set(app.wsgi_app.copies) == {("/", ""), ("/", older[2:])}


def test_a_304_from_flask_is_not_repeated_to_the_next_reader(make_app, client, addresses):
    """A conditional GET that Flask answers 304 leaves no copy of that 304: the next plain GET gets the page."""
    expected = {address: answer(make_app().test_client().get(address)) for address in addresses}
    for address in addresses:
        etag = dict(expected[address][1])["ETag"]
        assert client.get(address, headers={"If-None-Match": etag}).status_code == 304, address
        assert answer(client.get(address)) == expected[address], address
        assert answer(client.get(address)) == expected[address], address


def test_a_worker_reached_only_by_conditional_gets_answers_them_itself(make_app, app, addresses, flask_requests):
    """Feed readers ask conditionally: after Flask's first 304 the worker keeps the 200 and answers the rest."""
    other = make_app().test_client()  # another worker, which rendered each address for a plain GET
    for address in addresses:
        plain = other.get(address)
        for since in (None, plain.headers.get("Last-Modified")):
            conditions = {"If-None-Match": plain.headers["ETag"]} if since is None else {"If-Modified-Since": since}
            if since is None or "Last-Modified" in plain.headers:
                assert through_wsgi(app, address, headers=conditions)[::2] == ("304 NOT MODIFIED", b""), address
        reached = len(flask_requests)
        for _ in range(3):
            assert through_wsgi(app, address, headers={"If-None-Match": plain.headers["ETag"]})[0].startswith("304")
        assert through_wsgi(app, address)[2] == plain.data, address
        assert len(flask_requests) == reached, f"{address}: a conditional GET reached Flask again"


@pytest.mark.parametrize(
    ("since", "status"),
    [(timedelta(seconds=-1), 200), (timedelta(0), 304), (timedelta(seconds=1), 304), ("not a date", 200)],
)
def test_if_modified_since_holds_from_the_feeds_last_modified_on(make_app, addresses, since, status):
    """A feed is 304 to a reader whose date is its Last-Modified or later, in Flask and the fast path alike.

    A second earlier, or a date nobody can read, gets the whole feed.
    """
    reference = make_app().test_client().get("/feed.xml")
    if isinstance(since, timedelta):
        since = http_date(parse_date(reference.headers["Last-Modified"]) + since)
    worker = make_app().test_client()
    replies = [worker.get("/feed.xml", headers={"If-Modified-Since": since}) for _ in range(2)]  # Flask, then fast
    assert [reply.status_code for reply in replies] == [status, status]
    expected = reference.data if status == 200 else b""
    assert [reply.data for reply in replies] == [expected, expected]


def test_requests_with_the_session_cookie_always_reach_flask(client, addresses, flask_requests):
    """The owner, or anyone carrying the session cookie, is answered by Flask, never from a copy."""
    client.get("/")
    client.set_cookie(COOKIE_NAME, "not-a-session-we-know")
    client.get("/")
    client.get("/")
    assert flask_requests.count("/") == 3


def test_the_owners_answers_are_never_kept(app, owner, client, addresses, write_note):
    """A page the owner was served is not offered to readers: readers never see owner links or tokens."""
    write_note("A secret draft", published=False)
    assert "Sign out" in owner.get("/").text
    assert not app.wsgi_app.copies
    reader_page = client.get("/").text
    assert "Sign out" not in reader_page and "csrf_token" not in reader_page and "A secret draft" not in reader_page


def test_only_offered_successful_gets_are_kept(app, client, addresses):
    """Errors, redirects, HEAD-only addresses and pages nobody offered (robots.txt, /health) go to Flask each time."""
    for address in ("/note/no-such-note", "/tag/FAST", "/robots.txt", "/health"):
        client.get(address)
    client.head("/feed.xml")
    assert not app.wsgi_app.copies


def test_a_feed_copy_expires_with_the_feed_cache(client, addresses, flask_requests, monkeypatch):
    """After FEED_CACHE_SECONDS the feed is rebuilt by Flask, exactly as without the fast path."""
    client.get("/feed.xml")
    client.get("/feed.xml")
    assert flask_requests.count("/feed.xml") == 1
    later = time.monotonic() + client.application.config["FEED_CACHE_SECONDS"] + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    client.get("/feed.xml")
    assert flask_requests.count("/feed.xml") == 2


def test_a_changed_static_file_sends_the_page_to_flask(app, client, tmp_path, flask_requests):
    """A page linking an edited stylesheet is rendered again, with the stylesheet's new address."""
    app.static_folder = str(tmp_path)
    sheet = tmp_path / "style.css"
    sheet.write_text("body { color: red; }")
    before = client.get("/").text
    assert client.get("/").text == before and flask_requests.count("/") == 1
    sheet.write_text("body { color: blue; } /* longer */")
    after = client.get("/").text
    assert flask_requests.count("/") == 2 and after != before


def test_a_damaged_database_is_reported_by_flask(app, client, addresses, database, flask_requests):
    """With the content generation unreadable, the copy is not served: Flask answers, with its error page."""
    assert client.get("/").status_code == 200
    database.execute("DELETE FROM site_state WHERE key = 'content_generation'")
    reply = client.get("/")
    assert flask_requests.count("/") == 2
    assert reply.status_code == 500


def test_a_process_without_a_held_connection_always_asks_flask(make_app, addresses):
    """The Gunicorn master (warming up) and CLI commands hold no connection: nothing is answered from a copy."""
    db.release_held()
    app = make_app(hold=False)
    reached = []

    def record(sender, **extra):
        reached.append(1)

    request_started.connect(record, app)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/").status_code == 200
    request_started.disconnect(record, app)
    assert len(reached) == 3


def test_a_missing_database_is_reported_by_flask(app, client, addresses, data_path):
    """With the database gone, the copy is not served: readers get Flask's 503, not a page from memory."""
    assert client.get("/").status_code == 200
    (data_path / "starpunk.db").unlink()
    assert client.get("/").status_code == 503


def test_the_copies_are_bounded(app, client, add_notes, monkeypatch):
    """Each worker keeps at most MAX_COPIES answers, dropping the least lately read."""
    monkeypatch.setattr(fastpath, "MAX_COPIES", 2)
    slugs = [note["slug"] for note in add_notes(["One", "Two", "Three"])]
    for slug in slugs:
        client.get(f"/note/{slug}")
    assert [path for path, _ in app.wsgi_app.copies] == [f"/note/{slug}" for slug in slugs[1:]]


def test_an_answer_that_sets_a_cookie_is_not_kept(app, client, addresses):
    """A reader's page that set any cookie is somebody's (a consent, a tracker added later): not repeated to others."""

    @app.after_request
    def set_cookie(response):
        response.set_cookie("seen", "1")
        return response

    assert "seen=1" in client.get("/").headers["Set-Cookie"]
    assert not app.wsgi_app.copies


def test_flasks_answer_is_closed_when_it_is_kept(app, client, addresses):
    """The fast path reads Flask's answer to keep it and closes it, as a WSGI server would: close hooks run."""
    closed = []

    @app.after_request
    def watch_close(response):
        path = request.path
        response.call_on_close(lambda: closed.append(path))
        return response

    client.get("/")
    assert app.wsgi_app.copies and closed == ["/"]


def test_unused_query_parameters_make_no_copy(app, client, addresses):
    """Readers' copies are kept for canonical addresses only: a random query adds none (nor evicts a real one)."""
    for address in addresses:
        client.get(address)
    kept = list(app.wsgi_app.copies)
    for address in addresses:
        joiner = "&" if "?" in address else "?"
        for junk in ("x=1", "x=2", "utm_source=feed"):
            assert client.get(f"{address}{joiner}{junk}").status_code == 200
    assert list(app.wsgi_app.copies) == kept


# What a proxy, a sidecar or a visitor could add to a reader's request: none of it may change a reader's bytes.
FORWARDED = [
    {"headers": {"Host": "evil.example"}},
    {"headers": {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443"}},
    {"headers": {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}},
    {"headers": {"X-Forwarded-Prefix": "//evil.example", "X-Script-Name": "/x", "Script-Name": "/x"}},
    {"headers": {"X-Original-URL": "/admin", "X-Rewrite-URL": "/admin", "X-HTTP-Method-Override": "POST"}},
    {"headers": {"Forwarded": "for=203.0.113.9;host=evil.example;proto=https"}},
    {"headers": {"Accept": "application/json", "Accept-Language": "de", "Accept-Encoding": "gzip"}},
    {"headers": {"X-Forwarded-Host": "evil.example"}, "base_url": "https://evil.example"},
    # What Gunicorn makes of a SCRIPT_NAME header from a peer in forwarded_allow_ips
    {"environ_overrides": {"SCRIPT_NAME": "//evil.example"}},
    {"environ_overrides": {"SCRIPT_NAME": "/x"}},
]


@pytest.mark.parametrize("trusted_proxies", [0, 1])
@pytest.mark.parametrize("forwarded", FORWARDED)
def test_nothing_outside_the_key_changes_a_readers_copy(make_app, addresses, trusted_proxies, forwarded):
    """A request with forwarded headers or a SCRIPT_NAME renders first after a write: readers' bytes stay the same."""
    expected = {
        address: answer(make_app(TRUSTED_PROXIES=trusted_proxies).test_client().get(address)) for address in addresses
    }
    worker = make_app(TRUSTED_PROXIES=trusted_proxies).test_client()
    for address in addresses:
        for _ in range(3):
            poisoned = worker.get(address, **forwarded)
            assert b"evil.example" not in poisoned.data and b'href="/x/' not in poisoned.data, address
        assert answer(worker.get(address)) == expected[address], address
