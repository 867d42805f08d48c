"""Readers' pages: rendered once per content generation, fresh on every worker after any write, never the owner's."""

import hashlib
import re
import subprocess
import sys

import pytest
from flask import request, session, template_rendered
from werkzeug.http import quote_etag

from starpunk import pagecache, store
from starpunk.sessions import COOKIE_NAME
from tests.unit.conftest import sign_in
from tests.unit.test_micropub import ALL_SCOPES

READER_PAGES = ("/", "/note/{slug}", "/tag/cached", "/tags")


@pytest.fixture
def renders(app):
    """Return the list of templates the app renders from now on (Flask's template_rendered signal)."""
    seen = []

    def record(sender, template, context, **extra):
        seen.append(template.name)

    template_rendered.connect(record, app)
    yield seen
    template_rendered.disconnect(record, app)


def page_paths(slug):
    """Return the reader pages of the site with one note."""
    return [path.format(slug=slug) for path in READER_PAGES]


@pytest.fixture
def tagged_slug(app):
    """Return the slug of a published note tagged "cached" (stored through the store's write API)."""
    with app.app_context():
        return store.create_note("A cached note", True, tags=["cached"])["slug"]


def test_reader_pages_are_rendered_once_per_generation(client, tagged_slug, renders):
    """Asking again for a page nobody changed renders nothing: the bytes come from memory, identical."""
    for path in page_paths(tagged_slug):
        first = client.get(path)
        assert first.status_code == 200, path
        rendered = len(renders)
        again = [client.get(path) for _ in range(3)]
        assert len(renders) == rendered, f"{path} was rendered again though nothing changed"
        assert {reply.data for reply in again} == {first.data}
        assert {reply.headers["ETag"] for reply in again} == {first.headers["ETag"]}


def test_cached_pages_keep_every_header(client, tagged_slug):
    """A page from the cache carries the security headers, Link headers and type of a rendered one."""
    rendered = client.get("/")
    cached = client.get("/")
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert cached.headers[name] == rendered.headers[name]
    assert cached.headers.getlist("Link") == rendered.headers.getlist("Link") != []
    assert cached.headers["Content-Type"] == "text/html; charset=utf-8"
    assert client.head("/").headers["ETag"] == cached.headers["ETag"]


def test_a_conditional_get_is_answered_304_before_any_rendering(client, tagged_slug, renders):
    """A reader holding the current page gets 304 with no body and nothing rendered; a stale one gets the page."""
    etag = client.get("/").headers["ETag"]
    rendered = len(renders)
    reply = client.get("/", headers={"If-None-Match": etag})
    assert reply.status_code == 304 and reply.data == b""
    assert reply.headers["ETag"] == etag
    assert len(renders) == rendered
    with client.application.app_context():
        store.create_note("Something new", True)
    fresh = client.get("/", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and "Something new" in fresh.text
    assert fresh.headers["ETag"] != etag


def write_through_admin(app, owner, token):
    """Publish a note with the admin form."""
    reply = owner.post(
        "/admin/new", data={"csrf_token": token(owner), "content": "Written in the admin", "published": "y"}
    )
    assert reply.status_code == 303, reply.text
    return "Written in the admin"


def write_through_micropub(app, owner, token):
    """Publish a note as a Micropub client does, with a token."""
    with app.app_context():
        from starpunk.tokens import create_token

        secret = create_token(ALL_SCOPES)[1]
    reply = app.test_client().post(
        "/micropub",
        data={"h": "entry", "content": "Written with Micropub"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert reply.status_code == 201, reply.text
    return "Written with Micropub"


def write_from_another_process(app, owner, token):
    """Publish a note from another process (a script or `flask shell` beside the running site)."""
    settings = {key: str(app.config[key]) for key in ("DATA_PATH", "SITE_URL", "SESSION_SECRET")}
    script = (
        "import sys; from starpunk import create_app, store; "
        f"app = create_app({settings!r}); "
        "app.app_context().push(); store.create_note('Written from the command line', True)"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=60)
    return "Written from the command line"


@pytest.mark.parametrize("write", [write_through_admin, write_through_micropub, write_from_another_process])
def test_a_write_through_any_path_shows_on_every_worker_next_request(make_app, owner, token, write):
    """Two workers with warm caches both show a note written by the admin form, Micropub or another process."""
    workers = [owner.application, make_app()]
    readers = [worker.test_client() for worker in workers]
    before = [reader.get("/") for reader in readers]
    assert all(reply.status_code == 200 for reply in before)
    text = write(owner.application, owner, token)
    for reader, old in zip(readers, before, strict=True):
        reply = reader.get("/")
        assert text in reply.text
        assert reply.headers["ETag"] != old.headers["ETag"]


def test_an_operator_edit_bumping_the_generation_shows_at_once(client, add_notes, database):
    """A change made with the sqlite3 tool shows as soon as it bumps site_state's content generation."""
    slug = add_notes(["Before the operator's edit"])[0]["slug"]
    assert "Before the operator" in client.get(f"/note/{slug}").text
    database.execute("UPDATE notes SET content = 'After the operator''s edit' WHERE slug = ?", (slug,))
    assert "Before the operator" in client.get(f"/note/{slug}").text, "no generation bump: the cached page stands"
    database.execute("UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'")
    assert "After the operator" in client.get(f"/note/{slug}").text


def test_the_owners_view_is_never_served_from_or_stored_in_the_cache(app, client, owner, write_note):
    """The owner (session cookie) always gets their own page; readers never get the owner's links or tokens."""
    write_note("Public words")
    write_note("A secret draft", published=False)
    owners_page = owner.get("/")
    assert "Sign out" in owners_page.text and "csrf_token" in owners_page.text
    reader_page = client.get("/")
    assert "Sign out" not in reader_page.text and "csrf_token" not in reader_page.text
    assert "A secret draft" not in reader_page.text
    # Once a reader's copy is cached, the owner still gets their own.
    assert "Sign out" in owner.get("/").text
    assert "ETag" not in owner.get("/").headers
    assert "Sign out" not in client.get("/").text


def test_a_visitor_with_a_live_session_is_rendered_for(app, client, tagged_slug, renders):
    """A session that exists (a visitor signing in) means the page may differ by visitor: it is rendered each time."""
    client.get("/")
    with client.session_transaction() as session:
        session["state"] = "signing-in"
    rendered = len(renders)
    client.get("/")
    client.get("/")
    assert len(renders) == rendered + 2


def test_a_junk_session_cookie_costs_no_more_than_a_reader(client, tagged_slug, renders):
    """A cookie naming no session (forged, expired, random) gets the readers' copy: no render per request."""
    reader = client.get("/")
    rendered = len(renders)
    for junk in ("not-a-session-we-know", "x" * 100, "another"):
        client.set_cookie(COOKIE_NAME, junk)
        again = client.get("/")
        assert again.data == reader.data
    assert len(renders) == rendered


def test_unused_query_parameters_make_no_new_copy(app, client, tagged_slug, renders):
    """/?x=<random> is the page of /: served from its copy, no render and no new key per parameter."""
    first = client.get("/")
    rendered = len(renders)
    for query in ("?x=1", "?x=2", "?utm_source=a&x=3", "?_external=1"):
        response = client.get(f"/{query}")
        assert response.status_code == 200, query
        assert response.data == first.data, query
    client.get(f"/note/{tagged_slug}")
    client.get(f"/note/{tagged_slug}?y=1")
    client.get("/tag/cached?z=1")
    client.get("/tag/cached")
    assert len(renders) == rendered + 2
    assert sorted(app.extensions[pagecache.EXTENSION]) == [
        ("/", ""),
        (f"/note/{tagged_slug}", ""),
        ("/tag/cached", ""),
    ]
    # An old page number is a field the list reads: redirected to the page's address (or 404), never kept.
    assert client.get("/?page=1&x=4").status_code == 301
    assert client.get("/?page=1&page=2").status_code == 404
    assert len(app.extensions[pagecache.EXTENSION]) == 3


def test_errors_and_redirects_are_not_cached(client, tagged_slug, renders):
    """A missing note, a missing page and a tag's redirect are answered afresh each time."""
    assert client.get("/note/no-such-note").status_code == 404
    assert client.get("/?page=99").status_code == 404
    assert client.get("/tag/Cached").status_code == 301
    with client.application.app_context():
        store.create_note("Now there is one", True, slug="no-such-note")
    assert client.get("/note/no-such-note").status_code == 200


def test_the_cache_is_bounded(app, client, add_notes, monkeypatch):
    """Each worker keeps at most MAX_CACHED_PAGES pages, dropping the least lately read."""
    monkeypatch.setattr(pagecache, "MAX_CACHED_PAGES", 2)
    slugs = [note["slug"] for note in add_notes(["One", "Two", "Three"])]
    for slug in slugs:
        assert client.get(f"/note/{slug}").status_code == 200
    kept = app.extensions[pagecache.EXTENSION]
    assert [path for path, _ in kept] == [f"/note/{slug}" for slug in slugs[1:]]


@pytest.fixture
def probe(make_app):
    """Return (app, calls, answer): an app whose /probe view is wrapped by cached_for_readers("page") as the test runs.

    The decorator is applied here, not when starpunk's views are imported, so a change
    to it (a mutant) is in force for these tests.
    """
    app = make_app()
    calls = []
    answer = {"status": 200, "touch_session": False}

    @pagecache.cached_for_readers("page")
    def probe():
        calls.append(request.full_path)
        if answer["touch_session"]:
            session["seen"] = True
        return f"page {request.args.get('page', '1')}, render {len(calls)}", answer["status"]

    app.add_url_rule("/probe", view_func=probe)
    return app, calls, answer


def test_a_wrapped_view_renders_once_per_page_and_generation(probe):
    """Readers share one copy per path and read parameter while the generation stands; others make none."""
    app, calls, _ = probe
    client = app.test_client()
    first = client.get("/probe")
    assert (first.status_code, first.text) == (200, "page 1, render 1")
    assert first.headers["ETag"] == quote_etag(pagecache.content_etag(first.data))
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert [client.get(path).text for path in ("/probe", "/probe?x=1")] == ["page 1, render 1"] * 2
    assert [client.get(path).text for path in ("/probe?page=2", "/probe?x=1&page=2")] == ["page 2, render 2"] * 2
    assert list(app.extensions[pagecache.EXTENSION]) == [("/probe", ""), ("/probe", "page=2")]
    held = client.get("/probe", headers={"If-None-Match": first.headers["ETag"]})
    assert (held.status_code, held.data) == (304, b"")
    with app.app_context():
        store.create_note("A new generation", True)
    assert client.get("/probe").text == "page 1, render 3"
    assert len(calls) == 3


def test_a_wrapped_view_keeps_the_latest_read_pages(probe, monkeypatch):
    """Past MAX_CACHED_PAGES the least lately read page goes: a page read again is kept over an older one.

    The second read of page 1 carries an unread parameter, so the fast path (which keys its
    copies by the whole query string) leaves it to the page cache.
    """
    app, calls, _ = probe
    monkeypatch.setattr(pagecache, "MAX_CACHED_PAGES", 2)
    client = app.test_client()
    for query in ("page=1", "page=2", "page=1&x=1", "page=3"):
        client.get(f"/probe?{query}")
    assert list(app.extensions[pagecache.EXTENSION]) == [("/probe", "page=1"), ("/probe", "page=3")]
    assert len(calls) == 3


@pytest.mark.parametrize("change", ["status", "touch_session", "signed_in"])
def test_a_wrapped_view_renders_every_time_for_errors_sessions_and_the_owner(probe, change):
    """An error, a page that touched the session, and anyone signed in are rendered each time and never kept."""
    app, calls, answer = probe
    client = app.test_client()
    if change == "signed_in":
        sign_in(app, client)
    else:
        answer[change] = 404 if change == "status" else True
    replies = [client.get("/probe") for _ in range(2)]
    assert [reply.text for reply in replies] == ["page 1, render 1", "page 1, render 2"]
    assert len(app.extensions.get(pagecache.EXTENSION, {})) == 0


def test_a_cookie_that_only_mentions_the_session_cookies_name_is_a_readers(client, tagged_slug, renders):
    """Another site's cookie whose value holds the session cookie's name gets the readers' copy, not a render.

    The fast path's plain test (the name anywhere in the Cookie header) leaves such a request to Flask;
    Flask's parsed cookies then hold no session cookie, so it is a reader's.
    """
    reader = client.get("/")
    rendered = len(renders)
    client.set_cookie("elsewhere", COOKIE_NAME)  # the test client sends its jar's cookies, not a Cookie header
    again = client.get("/")
    assert again.data == reader.data
    assert len(renders) == rendered


def test_an_entity_tag_is_the_first_128_bits_of_the_bodys_sha256():
    """32 hex digits: the same bytes get the same tag in every worker, different bytes another."""
    body = b"<p>a page</p>"
    assert pagecache.content_etag(body) == hashlib.sha256(body).hexdigest()[:32]
    assert re.fullmatch(r"[0-9a-f]{32}", pagecache.content_etag(b""))
    assert pagecache.content_etag(body) != pagecache.content_etag(body + b" ")
