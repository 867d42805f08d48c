"""The owner's pages: writing, editing and deleting notes through the forms, and what is refused."""

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import url_for

from starpunk import store


def note_count(database, include_deleted=True):
    """Return how many notes are stored."""
    sql = "SELECT count(*) FROM notes" + ("" if include_deleted else " WHERE deleted_at IS NULL")
    return database.execute(sql).fetchone()[0]


def note_by_slug(database, slug):
    """Return the stored row for slug."""
    return database.execute("SELECT * FROM notes WHERE slug = ?", (slug,)).fetchone()


@pytest.mark.parametrize("path", ["/admin", "/admin/new", "/admin/edit/1"])
def test_admin_pages_send_visitors_to_sign_in(client, path):
    """Anonymous visitors are redirected to the sign-in page, which brings them back afterwards."""
    response = client.get(path)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == [path]


@pytest.mark.parametrize("path", ["/admin/new", "/admin/edit/1", "/admin/delete/1"])
def test_admin_posts_from_visitors_change_nothing(app, client, add_notes, database, path):
    """Even with CSRF out of the way, an anonymous POST is redirected and stores nothing."""
    note, = add_notes(["Owner's note"])
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post(path, data={"content": "Intruder", "published": "y"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/auth/login"
    rows = database.execute("SELECT content, deleted_at FROM notes").fetchall()
    assert [tuple(row) for row in rows] == [("Owner's note", None)]


def admin_routes(app, note_id):
    """Return (endpoint, method, path) for every method of every rule under /admin, ids filled with note_id."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.rule == "/admin" or rule.rule.startswith("/admin/"):
                path = url_for(rule.endpoint, **dict.fromkeys(rule.arguments, note_id))
                routes += [(rule.endpoint, method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_every_admin_route_sends_visitors_to_sign_in(app, client, add_notes, database):
    """Each admin route, whatever its method, redirects an anonymous visitor and changes nothing: none lacks its guard."""
    note, = add_notes(["Owner's note"])
    app.config["WTF_CSRF_ENABLED"] = False
    routes = admin_routes(app, note["id"])
    assert {endpoint for endpoint, _, _ in routes} >= {"admin.index", "admin.new", "admin.edit", "admin.delete"}
    for endpoint, method, path in routes:
        response = client.open(path, method=method, data={"content": "Intruder", "published": "y"})
        assert response.status_code == 302, (endpoint, method, path)
        assert urlsplit(response.headers["Location"]).path == "/auth/login", (endpoint, method, path)
    rows = database.execute("SELECT content, deleted_at FROM notes").fetchall()
    assert [tuple(row) for row in rows] == [("Owner's note", None)]


def test_admin_lists_drafts_and_published_notes(owner, add_notes):
    """The owner sees every note with its state, and links to edit each."""
    published, = add_notes(["Out in the world"])
    draft, = add_notes(["Still thinking"], published=False)
    page = owner.get("/admin")
    assert page.status_code == 200
    assert "Out in the world" in page.text and "Still thinking" in page.text
    assert "Draft" in page.text and "Published" in page.text
    assert f'href="/admin/edit/{draft["id"]}"' in page.text
    assert f'href="/note/{published["slug"]}"' in page.text


def test_empty_admin(owner):
    """A new site's admin page invites the first note."""
    page = owner.get("/admin")
    assert "No notes yet" in page.text
    assert 'href="/admin/new"' in page.text


def test_new_note_form(owner):
    """The new-note form has a content textarea, a published checkbox and a CSRF token."""
    page = owner.get("/admin/new").text
    assert '<textarea id="content" name="content"' in page
    assert 'name="published"' in page
    assert 'name="csrf_token"' in page


def test_create_a_published_note(owner, token, client, database):
    """Posting the form publishes the note: it is on the home page and its permalink."""
    response = owner.post("/admin/new", data={"csrf_token": token(owner), "content": "Hello *world*", "published": "y"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin"
    assert "Published: hello-world" in owner.get("/admin").text
    assert note_by_slug(database, "hello-world")["content"] == "Hello *world*"
    assert "<em>world</em>" in client.get("/note/hello-world").text
    assert "Hello <em>world</em>" in client.get("/").text


def test_create_a_draft(owner, token, client):
    """Without the checkbox the note is a draft: listed for the owner, invisible to readers."""
    response = owner.post("/admin/new", data={"csrf_token": token(owner), "content": "Secret plan"})
    assert response.status_code == 303
    assert "Saved draft: secret-plan" in owner.get("/admin").text
    assert client.get("/note/secret-plan").status_code == 404
    assert "Secret plan" not in client.get("/").text
    assert "Secret plan" not in client.get("/feed.xml").text


@pytest.mark.parametrize("value", ["", "0", "false", "off", "no"])
def test_unchecked_published_values_mean_draft(owner, token, client, value):
    """Only a checked box publishes; false-like values keep the note a draft."""
    owner.post("/admin/new", data={"csrf_token": token(owner), "content": "Maybe later", "published": value})
    assert client.get("/note/maybe-later").status_code == 404


def test_edit_a_note_keeps_its_address(owner, token, client, write_note, database):
    """Editing changes the text everywhere but not the permalink."""
    slug = write_note("First version of the text")
    note_id = note_by_slug(database, slug)["id"]
    form_page = owner.get(f"/admin/edit/{note_id}")
    assert "First version of the text</textarea>" in form_page.text
    assert " checked" in form_page.text
    response = owner.post(
        f"/admin/edit/{note_id}", data={"csrf_token": token(owner), "content": "Second version", "published": "y"}
    )
    assert response.status_code == 303
    assert f"Saved: {slug}" in owner.get("/admin").text
    page = client.get(f"/note/{slug}")
    assert "Second version" in page.text and "First version" not in page.text


def test_unpublishing_hides_a_note(owner, token, client, write_note, database):
    """Unchecking published takes a note off the site and out of the feeds."""
    slug = write_note("Public for now")
    note_id = note_by_slug(database, slug)["id"]
    owner.post(f"/admin/edit/{note_id}", data={"csrf_token": token(owner), "content": "Public for now"})
    assert client.get(f"/note/{slug}").status_code == 404
    assert "Public for now" not in client.get("/feed.json").text


def test_delete_a_note(owner, token, client, write_note, database):
    """Deleting removes the note from the site, the feeds and the admin list, but keeps the row."""
    slug = write_note("Regrettable note")
    note_id = note_by_slug(database, slug)["id"]
    response = owner.post(f"/admin/delete/{note_id}", data={"csrf_token": token(owner)})
    assert response.status_code == 303
    listing = owner.get("/admin").text
    assert f"Deleted: {slug}" in listing
    assert "Regrettable note" not in listing
    assert client.get(f"/note/{slug}").status_code == 404
    assert "Regrettable" not in client.get("/feed.atom").text
    assert note_by_slug(database, slug)["deleted_at"] is not None


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/admin/edit/999"), ("post", "/admin/edit/999"), ("post", "/admin/delete/999")],
)
def test_unknown_notes_are_404(owner, token, method, path):
    """Editing or deleting a note that does not exist is a 404 page."""
    response = getattr(owner, method)(path, data={"csrf_token": token(owner), "content": "x"})
    assert response.status_code == 404
    assert "no such note" in response.text


def test_deleted_notes_cannot_be_edited_or_deleted_again(owner, token, write_note, database):
    """A deleted note is gone from the admin too."""
    slug = write_note("Delete me once")
    note_id = note_by_slug(database, slug)["id"]
    owner.post(f"/admin/delete/{note_id}", data={"csrf_token": token(owner)})
    assert owner.get(f"/admin/edit/{note_id}").status_code == 404
    assert owner.post(f"/admin/delete/{note_id}", data={"csrf_token": token(owner)}).status_code == 404


def test_a_note_deleted_while_being_edited_is_404(owner, token, write_note, database, monkeypatch):
    """If the note disappears between loading and saving, the save is a 404, not a crash."""
    slug = write_note("Racing note")
    note_id = note_by_slug(database, slug)["id"]

    def vanished(*args):
        raise LookupError(note_id)

    monkeypatch.setattr(store, "update_note", vanished)
    monkeypatch.setattr(store, "delete_note", vanished)
    form = {"csrf_token": token(owner), "content": "Too late", "published": "y"}
    assert owner.post(f"/admin/edit/{note_id}", data=form).status_code == 404
    assert owner.post(f"/admin/delete/{note_id}", data=form).status_code == 404


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
@pytest.mark.parametrize("path", ["/admin/new", "/admin/edit/{id}", "/admin/delete/{id}"])
def test_missing_or_wrong_csrf_is_a_400_page(owner, add_notes, database, csrf, path):
    """Every admin POST needs this session's CSRF token; without it nothing changes."""
    note, = add_notes(["Untouched"])
    data = {"content": "Forged change", "published": "y"}
    if csrf is not None:
        data["csrf_token"] = csrf
    response = owner.post(path.format(id=note["id"]), data=data)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "did not come from this site" in response.text
    rows = database.execute("SELECT content, deleted_at FROM notes").fetchall()
    assert [tuple(row) for row in rows] == [("Untouched", None)]


def test_csrf_token_of_another_session_is_refused(app, owner, token, login_link, database):
    """A token copied from a different session does not work."""
    other = app.test_client()
    other.get(urlsplit(login_link()).path)
    stolen = token(other)
    response = owner.post("/admin/new", data={"csrf_token": stolen, "content": "Via stolen token", "published": "y"})
    assert response.status_code == 400
    assert note_count(database) == 0


@pytest.mark.parametrize("content", ["", "   \n\t  "])
def test_empty_note_is_refused_with_a_message(owner, token, database, content):
    """An empty note is a 400 with a clear message, and nothing is stored."""
    response = owner.post("/admin/new", data={"csrf_token": token(owner), "content": content, "published": "y"})
    assert response.status_code == 400
    assert "A note needs some text." in response.text
    assert note_count(database) == 0


def test_too_long_note_is_refused_and_the_text_kept(owner, token, database):
    """A 100,001-character note is a 400 naming the limit; the form keeps the text."""
    content = "a" * 100_001
    response = owner.post("/admin/new", data={"csrf_token": token(owner), "content": content, "published": "y"})
    assert response.status_code == 400
    assert "at most 100,000 characters" in response.text
    assert content in response.text  # the author does not lose their writing
    assert note_count(database) == 0


def test_a_note_at_the_limit_is_accepted_even_in_emoji(owner, token, database):
    """100,000 characters is allowed, even as 4-byte emoji (the body limit leaves room)."""
    response = owner.post("/admin/new", data={"csrf_token": token(owner), "content": "😀" * 100_000, "published": "y"})
    assert response.status_code == 303
    assert len(database.execute("SELECT content FROM notes").fetchone()[0]) == 100_000


def test_too_long_edit_leaves_the_note_unchanged(owner, token, write_note, database):
    """A refused edit changes nothing."""
    slug = write_note("Original text")
    note_id = note_by_slug(database, slug)["id"]
    for content in ("", "b" * 100_001):
        response = owner.post(f"/admin/edit/{note_id}", data={"csrf_token": token(owner), "content": content, "published": "y"})
        assert response.status_code == 400
    assert note_by_slug(database, slug)["content"] == "Original text"


def test_request_body_over_the_limit_is_a_413_page(owner, token, database, app):
    """A body over MAX_CONTENT_LENGTH is refused with a 413 page and nothing stored."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = owner.post(
        "/admin/new", data={"csrf_token": token(owner), "content": "x" * (limit + 1), "published": "y"}
    )
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "more than this site accepts" in response.text
    assert note_count(database) == 0


def test_signed_in_pages_show_admin_and_sign_out(owner):
    """The owner sees Admin and Sign out links in the header on public pages."""
    page = owner.get("/").text
    assert 'href="/admin"' in page
    assert 'action="/auth/logout"' in page
