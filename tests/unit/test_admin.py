"""The owner's pages: writing, editing and deleting notes through the forms, and what is refused."""

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import url_for

from starpunk import admin, media, store


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
    (note,) = add_notes(["Owner's note"])
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
    """Each admin route, whatever its method, redirects an anonymous visitor and changes nothing.

    None lacks its guard.
    """
    (note,) = add_notes(["Owner's note"])
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
    (published,) = add_notes(["Out in the world"])
    (draft,) = add_notes(["Still thinking"], published=False)
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


def edit_links(page):
    """Return the note ids an admin page links to for editing, in order."""
    return [int(found) for found in re.findall(r'href="/admin/edit/([0-9]+)"', page.text)]


def test_admin_pages_at_most_admin_page_size_notes(owner, add_notes):
    """Exactly ADMIN_PAGE_SIZE notes fit one page with no paging link; one more moves the oldest to page 2."""
    size = admin.ADMIN_PAGE_SIZE
    notes = add_notes([f"Note number {n}" for n in range(size)])
    first = owner.get("/admin")
    assert edit_links(first) == [note["id"] for note in reversed(notes)]
    assert 'rel="next"' not in first.text and 'rel="prev"' not in first.text

    (newest,) = add_notes(["One too many"])
    first = owner.get("/admin")
    assert edit_links(first) == [newest["id"]] + [note["id"] for note in reversed(notes[1:])]
    older = re.search(r'<a rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert older == f"/admin?before={notes[1]['id']}"
    second = owner.get(older)
    assert edit_links(second) == [notes[0]["id"]]
    assert 'rel="next"' not in second.text
    newer = re.search(r'<a rel="prev" href="([^"]+)"', second.text).group(1)
    assert newer == f"/admin?after={notes[0]['id']}"
    assert edit_links(owner.get(newer)) == edit_links(first)


def test_admin_drafts_filter_pages_drafts_only(owner, add_notes):
    """?show=drafts lists only drafts, and its paging links keep the filter."""
    drafts = add_notes([f"Draft {n}" for n in range(admin.ADMIN_PAGE_SIZE + 1)], published=False)
    add_notes(["Published after the drafts"])
    page = owner.get("/admin?show=drafts")
    assert edit_links(page) == [note["id"] for note in reversed(drafts[1:])]
    assert f'href="/admin?show=drafts&amp;before={drafts[1]["id"]}"' in page.text or (
        f'href="/admin?before={drafts[1]["id"]}&amp;show=drafts"' in page.text
    )
    assert edit_links(owner.get(f"/admin?show=drafts&before={drafts[1]['id']}")) == [drafts[0]["id"]]


def test_admin_drafts_filter_on_a_site_without_drafts(owner, add_notes):
    """The drafts filter says there are none rather than showing published notes."""
    add_notes(["Only published"])
    page = owner.get("/admin?show=drafts")
    assert edit_links(page) == [] and "No drafts." in page.text


@pytest.mark.parametrize(
    "query", ["show=trash", "before=x", "before=-1", "after=%C2%B2", "before=1&after=2", "before=" + "9" * 19]
)
def test_admin_refuses_paging_it_does_not_know(owner, add_notes, query):
    """An unknown filter or a malformed page key is a 404, not a guess."""
    add_notes(["A note"])
    assert owner.get(f"/admin?{query}").status_code == 404


def test_admin_page_past_the_oldest_note_says_so(owner, add_notes):
    """A page key older than every note (the notes were deleted since) offers the way back."""
    (note,) = add_notes(["Only one"])
    page = owner.get(f"/admin?before={note['id']}")
    assert page.status_code == 200 and edit_links(page) == []
    assert "Back to the newest" in page.text


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
    gone = client.get(f"/note/{slug}")
    assert gone.status_code == 410
    assert "Regrettable" not in gone.text
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

    def vanished(*args, **kwargs):
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
    (note,) = add_notes(["Untouched"])
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
        response = owner.post(
            f"/admin/edit/{note_id}", data={"csrf_token": token(owner), "content": content, "published": "y"}
        )
        assert response.status_code == 400
    assert note_by_slug(database, slug)["content"] == "Original text"


def test_request_body_over_the_limit_is_a_413_page(owner, token, database, app):
    """A form over the owner's upload limit (MAX_PHOTOS photos plus text) is a 413 page; nothing stored."""
    limit = app.config["UPLOAD_MAX_CONTENT_LENGTH"]
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


def media_files(app):
    """Return the names of the stored photo files."""
    folder = media.media_folder(app.config["DATA_PATH"])
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def test_the_form_is_multipart_with_tags_and_four_photo_slots(owner):
    """The new-note form posts multipart, with a tags field and four photo inputs, each with its alt text."""
    html = owner.get("/admin/new").text
    assert 'enctype="multipart/form-data"' in html
    assert 'name="tags"' in html
    for slot in range(1, 5):
        assert f'name="photo_{slot}"' in html and f'name="alt_{slot}"' in html
    assert 'name="photo_5"' not in html


def test_a_note_with_tags_and_photos_from_the_form(upload, owner, app, make_image):
    """Uploaded photos and comma-separated tags are stored with the note and shown on its page."""
    response = upload(
        content="Holiday",
        tags="Travel, sea ,travel",
        photos=[(make_image("JPEG"), "beach.jpg", "A beach at dusk"), (make_image("PNG"), "map.png", "A map")],
    )
    assert response.status_code == 303, response.text
    with app.app_context():
        (note,) = store.list_all()
        note = store.get_note(note["id"])
    assert note["tags"] == ["travel", "sea"]
    assert [(p.alt, p.content_type) for p in note["photos"]] == [
        ("A beach at dusk", "image/jpeg"),
        ("A map", "image/png"),
    ]
    assert len(media_files(app)) == 2
    page = owner.get(f"/note/{note['slug']}").text
    assert 'alt="A beach at dusk"' in page and 'href="/tag/travel"' in page


def test_alt_text_is_required_with_each_uploaded_photo(upload, app, database, make_image):
    """A photo without a description is refused before any file is written (400, the text kept)."""
    response = upload(content="Kept text", tags="kept", photos=[(make_image("PNG"), "a.png", "   ")])
    assert response.status_code == 400
    assert "alt text is required" in response.text
    assert "Kept text" in response.text and 'value="kept"' in response.text
    assert media_files(app) == []
    assert note_count(database) == 0


def test_a_fifth_photo_is_refused_in_the_form(upload, app, database, make_image):
    """Five photos in one form: refused with a clear message, nothing written."""
    photos = [(make_image("PNG"), f"{n}.png", f"Photo {n}") for n in range(5)]
    response = upload(photos=photos)
    assert response.status_code == 400
    assert "at most 4 photos" in response.text
    assert media_files(app) == [] and note_count(database) == 0


def test_a_bad_second_photo_discards_the_first(upload, app, database, make_image):
    """When one upload is refused, the files already stored for that note are removed."""
    response = upload(photos=[(make_image("PNG"), "good.png", "Good"), (b"not an image", "bad.png", "Bad")])
    assert response.status_code == 415
    assert media_files(app) == [] and note_count(database) == 0


def test_a_failed_note_write_leaves_no_orphan_file(upload, app, database, make_image):
    """The file is stored before the note; when the note's transaction fails, the file goes too."""
    database.execute("CREATE TRIGGER refuse BEFORE INSERT ON notes BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
    response = upload(photos=[(make_image("PNG"), "a.png", "Orphan?")])
    assert response.status_code == 503
    assert media_files(app) == [] and note_count(database) == 0


def test_editing_keeps_redescribes_removes_and_adds_photos(upload, owner, app, token, make_image):
    """On edit, unticked photos go, kept ones may get new alt text, new ones are added after them."""
    upload(content="Edit me", tags="one, two", photos=[(make_image("PNG"), f"{n}.png", f"Photo {n}") for n in range(3)])
    with app.app_context():
        note = store.get_note(store.list_all()[0]["id"])
    form = owner.get(f"/admin/edit/{note['id']}").text
    assert 'value="one, two"' in form
    assert form.count('name="keep_photo"') == 3 and form.count('type="file"') == 1
    first, _, third = note["photos"]
    response = owner.post(
        f"/admin/edit/{note['id']}",
        data={
            "csrf_token": token(owner, f"/admin/edit/{note['id']}"),
            "content": "Edited",
            "published": "y",
            "tags": "two, three",
            "keep_photo": ["1", "3"],
            "alt_existing_1": "Photo 0",
            "alt_existing_3": "The third, described again",
            "photo_1": (io.BytesIO(make_image("GIF")), "new.gif"),
            "alt_1": "A new GIF",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.text
    with app.app_context():
        edited = store.get_note(note["id"])
    assert edited["tags"] == ["two", "three"]
    assert [(p.file_name, p.alt) for p in edited["photos"]][:2] == [
        (first.file_name, "Photo 0"),
        (third.file_name, "The third, described again"),
    ]
    assert edited["photos"][2].content_type == "image/gif" and edited["photos"][2].alt == "A new GIF"


def test_editing_to_more_than_four_photos_is_refused(upload, owner, app, token, make_image):
    """Four kept photos plus a new one is a fifth: refused, the note unchanged."""
    upload(photos=[(make_image("PNG"), f"{n}.png", f"Photo {n}") for n in range(4)])
    with app.app_context():
        note = store.get_note(store.list_all()[0]["id"])
    page = owner.get(f"/admin/edit/{note['id']}").text
    assert "untick one to make room" in page
    response = owner.post(
        f"/admin/edit/{note['id']}",
        data={
            "csrf_token": token(owner, f"/admin/edit/{note['id']}"),
            "content": "More",
            "published": "y",
            "keep_photo": ["1", "2", "3", "4"],
            "photo_1": (io.BytesIO(make_image("PNG")), "5.png"),
            "alt_1": "Fifth",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "at most 4 photos" in response.text
    assert 'name="keep_photo" value="4" checked' in response.text
    with app.app_context():
        assert len(store.get_note(note["id"])["photos"]) == 4
    assert len(media_files(app)) == 4


def test_the_owner_posts_a_like_and_a_reply_from_the_form(owner, token, client):
    """The form's kind and URL make a like without text, and a reply that needs text; the edit form shows them."""
    form = {
        "csrf_token": token(owner),
        "response": "like-of",
        "response_url": "https://other.example/p",
        "published": "y",
    }
    assert owner.post("/admin/new", data=form).status_code == 303
    assert "Liked " in client.get("/note/like").text
    refused = owner.post("/admin/new", data={**form, "response": "in-reply-to"})
    assert refused.status_code == 400 and "A note needs some text" in refused.text
    assert owner.post("/admin/new", data={**form, "response": "in-reply-to", "content": "Yes!"}).status_code == 303
    assert "In reply to" in client.get("/note/yes").text
    edit = owner.get("/admin/edit/2").text
    assert 'value="https://other.example/p"' in edit and '<option value="in-reply-to" selected>' in edit


@pytest.mark.parametrize(
    ("response", "url", "reason"),
    [
        ("like-of", "", "needs both"),
        ("", "https://other.example/", "needs both"),
        ("x-of", "https://other.example/", "Choose a reply"),
        ("like-of", "javascript:alert(1)", "http or https"),
    ],
)
def test_a_bad_response_is_refused_with_a_reason(owner, token, response, url, reason):
    """A kind without a URL, a URL without a kind, an unknown kind or a non-http URL is shown back with why."""
    form = {"csrf_token": token(owner), "content": "x", "response": response, "response_url": url}
    refused = owner.post("/admin/new", data=form)
    assert refused.status_code == 400 and reason in refused.text


def test_editing_a_response_back_into_a_note(owner, token, client):
    """Choosing "A note" removes the response; the note's other properties stay."""
    form = {"csrf_token": token(owner), "content": "Hm", "response": "repost-of", "response_url": "https://o.example/"}
    owner.post("/admin/new", data={**form, "published": "y"})
    assert "Reposted" in client.get("/note/hm").text
    owner.post("/admin/edit/1", data={**form, "response": "", "response_url": "", "published": "y"})
    assert "Reposted" not in client.get("/note/hm").text
