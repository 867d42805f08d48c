"""Micropub: tokens and scopes, create (form, JSON, multipart), update, delete, undelete, queries and media."""

import io
import json
from datetime import timedelta
from urllib.parse import urlencode

import mf2py
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from starpunk import media, photos, store, throttle, tokens
from starpunk.db import transaction
from starpunk.tokens import create_token, revoke_token
from tests.unit.conftest import image_bytes, multipart

SITE = "http://localhost"
ALL_SCOPES = "create update delete media"


@pytest.fixture
def issue(app):
    """Return a function that makes an access token with these scopes and returns its secret."""

    def make(scope=ALL_SCOPES, **options):
        with app.app_context():
            return create_token(scope, **options)[1]

    return make


@pytest.fixture
def bearer(issue):
    """Return the Authorization header of a token that may do everything Micropub offers."""
    return {"Authorization": f"Bearer {issue()}"}


@pytest.fixture
def post_json(client, bearer):
    """Return a function that POSTs a JSON body to /micropub with a token (headers= replaces it)."""

    def post(body, headers=None):
        return client.post("/micropub", json=body, headers=bearer if headers is None else headers)

    return post


@pytest.fixture
def create(post_json, client):
    """Return a function that creates a note from JSON properties and returns its permalink path."""

    def make(**properties):
        response = post_json({"type": ["h-entry"], "properties": properties})
        assert response.status_code == 201, response.text
        assert response.headers["Location"].startswith(f"{SITE}/note/")
        return response.headers["Location"][len(SITE) :]

    return make


@pytest.fixture
def source(client, bearer):
    """Return a function that answers q=source for a note's path (its properties)."""

    def ask(path, status=200, **args):
        response = client.get("/micropub", query_string={"q": "source", "url": SITE + path, **args}, headers=bearer)
        assert response.status_code == status, response.text
        return response.get_json()

    return ask


def assert_error(response, status, error):
    """Fail unless the response is the spec's JSON error with this status and code, and a description."""
    assert response.status_code == status, response.text
    assert response.mimetype == "application/json", response.text
    body = response.get_json()
    assert body["error"] == error, body
    assert body["error_description"], body
    assert "Traceback" not in response.text and "<html" not in response.text
    return body


def note_of(app, path):
    """Return the stored note at a permalink path (drafts and deleted ones too)."""
    with app.app_context():
        return store.get_note_by_slug(path.rsplit("/", 1)[1])


def stored_files(app):
    """Return the names of the photo files in DATA_PATH/media."""
    folder = media.media_folder(app.config["DATA_PATH"])
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def entry_of(client, path):
    """Return the h-entry of a permalink page, parsed as a microformats reader would."""
    parsed = mf2py.parse(doc=client.get(path).text, url=SITE + "/")
    return next(item for item in parsed["items"] if "h-entry" in item["type"])


# Authentication and scopes


@pytest.mark.parametrize(
    ("method", "path"), [("post", "/micropub"), ("get", "/micropub?q=config"), ("post", "/micropub/media")]
)
def test_no_token_is_401_unauthorized(client, method, path):
    """A request without a token is refused with the spec's 401, and says how to send one."""
    response = getattr(client, method)(path, data={"h": "entry", "content": "Sneaky"} if method == "post" else None)
    body = assert_error(response, 401, "unauthorized")
    assert "Authorization: Bearer" in body["error_description"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Cache-Control"] == "no-store"


def test_a_token_in_the_header_or_the_form_posts_a_note(app, client, issue):
    """Either place works, and the form's access_token is never kept as a property."""
    secret = issue()
    by_header = client.post(
        "/micropub", data={"h": "entry", "content": "Via the header"}, headers={"Authorization": f"Bearer {secret}"}
    )
    by_form = client.post("/micropub", data={"h": "entry", "content": "Via the form", "access_token": secret})
    assert by_header.status_code == by_form.status_code == 201
    note = note_of(app, by_form.headers["Location"][len(SITE) :])
    assert note["content"] == "Via the form"
    assert secret not in json.dumps(note["properties"])
    assert client.get(by_form.headers["Location"][len(SITE) :]).status_code == 200


def test_a_token_in_both_places_is_400(client, issue):
    """The header and the form at once is invalid_request, and nothing is posted."""
    secret = issue()
    response = client.post(
        "/micropub", data={"content": "Twice", "access_token": secret}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert_error(response, 400, "invalid_request")
    assert "Twice" not in client.get("/").text


def test_unknown_expired_and_revoked_tokens_are_401(app, client, issue, monkeypatch):
    """A token this site does not know, one past its lifetime, and a revoked one are all refused."""
    expiring = issue(lifetime=timedelta(hours=1))
    with app.app_context():
        revoked_id, revoked = create_token("create")
        revoke_token(revoked_id)
    for secret in ("not-a-token-of-this-site", revoked):
        response = client.post("/micropub", data={"content": "Nope"}, headers={"Authorization": f"Bearer {secret}"})
        assert_error(response, 401, "invalid_token")
    assert client.get("/micropub?q=config", headers={"Authorization": f"Bearer {expiring}"}).status_code == 200
    later = tokens.now() + timedelta(hours=2)
    monkeypatch.setattr(tokens, "now", lambda: later)
    assert_error(
        client.get("/micropub?q=config", headers={"Authorization": f"Bearer {expiring}"}), 401, "invalid_token"
    )
    assert "Nope" not in client.get("/").text


@pytest.mark.parametrize(
    ("scope", "body", "needed"),
    [
        ("update delete media", {"type": ["h-entry"], "properties": {"content": ["No create scope"]}}, "create"),
        ("create delete", {"action": "update", "url": "URL", "replace": {"content": ["x"]}}, "update"),
        ("create update", {"action": "delete", "url": "URL"}, "delete"),
        ("create update", {"action": "undelete", "url": "URL"}, "delete"),
    ],
)
def test_each_action_needs_its_scope(client, create, issue, scope, body, needed):
    """A token without the action's scope is 403 insufficient_scope naming the scope, and nothing changes."""
    path = create(content=["Guarded note"])
    body = {key: SITE + path if value == "URL" else value for key, value in body.items()}
    response = client.post("/micropub", json=body, headers={"Authorization": f"Bearer {issue(scope)}"})
    answer = assert_error(response, 403, "insufficient_scope")
    assert answer["scope"] == needed
    assert f'scope="{needed}"' in response.headers["WWW-Authenticate"]
    assert client.get(path).status_code == 200
    assert "Guarded note" in client.get(path).text
    assert "No create scope" not in client.get("/").text


def test_queries_need_a_token_but_source_needs_create_or_update(client, create, issue):
    """Any active token reads q=config; a media-only token cannot read a note's source."""
    path = create(content=["Secret draft"], **{"post-status": ["draft"]})
    media_only = {"Authorization": f"Bearer {issue('media')}"}
    assert client.get("/micropub?q=config", headers=media_only).status_code == 200
    response = client.get("/micropub", query_string={"q": "source", "url": SITE + path}, headers=media_only)
    assert_error(response, 403, "insufficient_scope")
    assert "Secret draft" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("put", "/micropub", 405), ("get", "/micropub/nowhere", 404), ("get", "/micropub/media", 405)],
)
def test_other_errors_are_json_too(client, method, path, status):
    """Even a wrong method or address under /micropub answers the spec's JSON, never an HTML page."""
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert set(response.get_json()) == {"error", "error_description"}


# Create


def test_form_create_with_every_syntax(client, bearer):
    """h=entry, content, category and category[], published, mp-slug: a public note at its permalink."""
    form = [
        ("h", "entry"),
        ("content", "Hello from **Quill**"),
        ("category", "IndieWeb"),
        ("category[]", "micropub"),
        ("category[]", "Python"),
        ("published", "2024-05-06T07:08:09+02:00"),
        ("mp-slug", "Hello Quill"),
    ]
    response = client.post(
        "/micropub", data=urlencode(form), content_type="application/x-www-form-urlencoded", headers=bearer
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{SITE}/note/hello-quill"
    page = client.get("/note/hello-quill")
    assert "<strong>Quill</strong>" in page.text
    entry = entry_of(client, "/note/hello-quill")
    assert entry["properties"]["category"] == ["indieweb", "micropub", "python"]
    assert entry["properties"]["published"] == ["2024-05-06T05:08:09+0000"]
    assert client.get("/tag/micropub").status_code == 200
    assert "Hello from" in client.get("/feed.json").text


def test_h_entry_is_the_default_and_other_types_are_refused(client, bearer):
    """A form without h makes an entry; h=event or a JSON h-card is 400 with a clear reason."""
    assert client.post("/micropub", data={"content": "No h at all"}, headers=bearer).status_code == 201
    event = assert_error(
        client.post("/micropub", data={"h": "event", "content": "Party"}, headers=bearer), 400, "invalid_request"
    )
    assert "h=entry" in event["error_description"]
    card = client.post("/micropub", json={"type": ["h-card"], "properties": {"name": ["Me"]}}, headers=bearer)
    assert "h-entry" in assert_error(card, 400, "invalid_request")["error_description"]
    assert "Party" not in client.get("/").text


def test_mp_slug_is_honoured_when_free_else_a_variant(create):
    """The slug the client asks for is used; a taken one gets a numbered variant."""
    assert create(content=["One"], **{"mp-slug": ["my-trip"]}) == "/note/my-trip"
    assert create(content=["Two"], **{"mp-slug": ["My Trip!"]}) == "/note/my-trip-2"
    assert create(content=["Three"], **{"mp-slug": ["../../etc"]}) == "/note/etc"


def test_json_create_with_html_content_is_sanitised(client, create, safe_html, corpus):
    """HTML content keeps its safe markup; scripts, handlers and javascript: URLs go, on the page and in feeds."""
    html = (
        "<p>Hi <b>there</b> *not markdown*</p><script>alert(1)</script>"
        '<img src="x" onerror="alert(2)"><a href="javascript:alert(3)">link</a>' + "".join(corpus)
    )
    path = create(content=[{"html": html}])
    page = client.get(path).text
    content = page.split('<div class="e-content">', 1)[1].split("</div>", 1)[0]
    safe_html(content)
    assert "<b>there</b> *not markdown*" in content
    for feed in ("/feed.xml", "/feed.atom", "/feed.json"):
        assert "alert(1)" not in client.get(feed).text
    assert "<script" not in page.lower().split("</head>", 1)[1]


def test_json_content_as_a_value_object_is_text(client, create, source):
    """content {"value": ...} is plain text (Markdown, as in the admin form), and comes back as a string."""
    path = create(content=[{"value": "Plain *value*"}])
    assert "<em>value</em>" in client.get(path).text
    assert source(path)["properties"]["content"] == ["Plain *value*"]


def test_json_create_with_categories_photos_and_unknown_properties(app, client, create, source):
    """Photos by URL (with alt) are links, categories tags, nested objects and unknown properties kept."""
    person = {"type": ["h-card"], "properties": {"name": ["Ada"], "url": ["https://ada.example/"]}}
    location = {"type": ["h-adr"], "properties": {"locality": ["Berlin"]}}
    path = create(
        content=["Sunny day"],
        category=["sun", person],
        photo=["https://photos.example/a.jpg", {"value": "https://photos.example/b.jpg", "alt": "A beach"}],
        location=[location],
        **{"x-mood": ["happy"], "url": ["https://elsewhere.example/"]},
    )
    entry = entry_of(client, path)
    assert entry["properties"]["photo"] == [
        {"value": "https://photos.example/a.jpg", "alt": ""},
        {"value": "https://photos.example/b.jpg", "alt": "A beach"},
    ]
    assert "sun" in entry["properties"]["category"]
    properties = source(path)["properties"]
    assert properties["category"] == ["sun", person]
    assert properties["photo"] == [
        "https://photos.example/a.jpg",
        {"value": "https://photos.example/b.jpg", "alt": "A beach"},
    ]
    assert properties["location"] == [location]
    assert properties["x-mood"] == ["happy"]
    assert properties["url"] == [SITE + path]
    assert stored_files(app) == []  # links are never fetched


def test_multipart_create_stores_uploaded_photos_with_alt(app, client, bearer):
    """Photo files in a multipart create are stored, shown with their alt text, and served."""
    form = {
        "h": "entry",
        "content": "Two photos",
        "photo[]": [(io.BytesIO(image_bytes("PNG")), "one.png"), (io.BytesIO(image_bytes("JPEG")), "two.jpg")],
        "mp-photo-alt[]": ["A red square", "A second square"],
    }
    response = client.post("/micropub", headers=bearer, **multipart(form))
    assert response.status_code == 201, response.text
    path = response.headers["Location"][len(SITE) :]
    photos = entry_of(client, path)["properties"]["photo"]
    assert [photo["alt"] for photo in photos] == ["A red square", "A second square"]
    assert len(stored_files(app)) == 2
    served = client.get(photos[0]["value"][len(SITE) :])
    assert served.status_code == 200 and served.mimetype == "image/png"
    served.close()


def test_a_multipart_photo_too_large_or_not_an_image_is_refused_whole(make_app):
    """Over MEDIA_MAX_BYTES is 413, a text file named .png is 415: JSON errors, no note, no file kept."""
    app = make_app(MEDIA_MAX_BYTES=2048)
    client = app.test_client()
    with app.app_context():
        headers = {"Authorization": f"Bearer {create_token(ALL_SCOPES)[1]}"}
    small = image_bytes("PNG")
    big = image_bytes("PNG", size=(400, 400), compress_level=0)
    assert len(big) > 2048
    for photo, status in (((io.BytesIO(big), "big.png"), 413), ((io.BytesIO(b"<?php evil(); ?>"), "evil.png"), 415)):
        form = {"content": f"Refused {status}", "photo": [(io.BytesIO(small), "ok.png"), photo]}
        response = client.post("/micropub", headers=headers, **multipart(form))
        assert_error(response, status, "invalid_request")
        assert f"Refused {status}" not in client.get("/").text
    assert stored_files(app) == []


def test_files_are_discarded_when_the_note_is_refused_after_storing_them(app, client, bearer):
    """A note refused after its uploads were stored (an alt text too long on a linked photo) leaves no file."""
    form = {
        "content": "Almost",
        "photo": [(io.BytesIO(image_bytes("PNG")), "a.png"), "https://photos.example/x.jpg"],
        "mp-photo-alt": ["fine", "x" * 2000],
    }
    assert_error(client.post("/micropub", headers=bearer, **multipart(form)), 400, "invalid_request")
    assert stored_files(app) == []


def test_at_most_max_photos_and_no_file_written_for_a_fifth(app, client, bearer):
    """Five photos are refused before any file is stored."""
    files = [(io.BytesIO(image_bytes("PNG")), f"{n}.png") for n in range(5)]
    response = client.post("/micropub", headers=bearer, **multipart({"content": "Too many", "photo": files}))
    assert "at most 4 photos" in assert_error(response, 400, "invalid_request")["error_description"]
    assert stored_files(app) == []


def test_a_photo_from_the_media_endpoint_becomes_the_stored_file(app, client, bearer, create):
    """Posting the URL the media endpoint returned attaches the stored file, not a link."""
    uploaded = client.post(
        "/micropub/media", headers=bearer, **multipart({"file": (io.BytesIO(image_bytes("GIF")), "x.gif")})
    )
    url = uploaded.headers["Location"]
    path = create(content=["From the media endpoint"], photo=[{"value": url, "alt": "A GIF"}])
    (photo,) = note_of(app, path)["photos"]
    assert photo.file_name == url.rsplit("/", 1)[1]
    assert photo.content_type == "image/gif"


@pytest.mark.parametrize(
    ("photo", "reason"),
    [
        ("javascript:alert(1)", "http(s) URL"),
        (f"{SITE}/media/{'0' * 32}.png", "no photo is stored"),
        ({"url": "https://x.example/a.jpg"}, "photo must be a URL"),
    ],
)
def test_unusable_photo_urls_are_400(post_json, client, photo, reason):
    """A photo that is not an http(s) URL, or names a missing file of this site, is refused."""
    response = post_json({"type": ["h-entry"], "properties": {"content": ["Bad photo"], "photo": [photo]}})
    assert reason in assert_error(response, 400, "invalid_request")["error_description"]
    assert "Bad photo" not in client.get("/").text


def test_a_draft_is_not_public(client, create, source):
    """post-status=draft keeps the note off the pages and feeds; q=source still reads it."""
    path = create(content=["Draft thoughts"], **{"post-status": ["draft"]})
    assert client.get(path).status_code == 404
    for page in ("/", "/feed.xml", "/feed.json"):
        assert "Draft thoughts" not in client.get(page).text
    assert source(path)["properties"]["post-status"] == ["draft"]


def test_form_draft_with_a_date_keeps_it_when_published(app, client, bearer, post_json):
    """A draft given a published date is dated so once an update publishes it."""
    form = {"content": "Dated draft", "post-status": "draft", "published": "2023-01-02T03:04:05"}
    path = client.post("/micropub", data=form, headers=bearer).headers["Location"][len(SITE) :]
    assert client.get(path).status_code == 404
    response = post_json({"action": "update", "url": SITE + path, "replace": {"post-status": ["published"]}})
    assert response.status_code == 204, response.text
    assert entry_of(client, path)["properties"]["published"] == ["2023-01-02T03:04:05+0000"]


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"content": [""]}, "needs some text"),
        ({}, "needs some text"),
        ({"content": [{"html": "<script>only()</script>"}]}, "needs some text"),
        ({"content": [42]}, "content must be"),
        ({"content": ["x" * 100_001]}, "at most 100,000 characters"),
        ({"content": ["ok"], "published": ["yesterday"]}, "ISO 8601"),
        ({"content": ["ok"], "published": [20240101]}, "ISO 8601"),
        ({"content": ["ok"], "post-status": ["scheduled"]}, "published or draft"),
        ({"content": ["ok"], "category": ["###"]}, "not a usable tag"),
        ({"content": "not a list"}, "must be a list"),
        ({"content": ["ok"], "photo": [{"value": "https://x.example/a.jpg", "alt": 5}]}, "alt must be a string"),
    ],
)
def test_bad_properties_are_400_with_a_reason(post_json, properties, reason):
    """Each unusable property is named in the error description."""
    response = post_json({"type": ["h-entry"], "properties": properties})
    assert reason in assert_error(response, 400, "invalid_request")["error_description"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"type": ["h-entry"], "properties": []}', "application/json", 400),
        ('{"type": ["h-entry"]}', "application/json", 400),
        ("content=hi", "text/plain", 415),
    ],
)
def test_bad_bodies_are_refused(client, bearer, data, content_type, status):
    """Malformed JSON, JSON that is not an entry, and unknown body types are JSON errors."""
    response = client.post("/micropub", data=data, content_type=content_type, headers=bearer)
    assert_error(response, status, "invalid_request")


@pytest.mark.parametrize("body", [{"action": "publish", "url": "x"}, {"action": "like"}])
def test_unknown_actions_are_400(client, bearer, post_json, body):
    """An action the spec does not define is refused, as JSON or as a form."""
    assert "Unknown action" in assert_error(post_json(body), 400, "invalid_request")["error_description"]
    assert_error(client.post("/micropub", data=body, headers=bearer), 400, "invalid_request")


def test_a_micropub_note_reaches_every_worker_at_once(make_app, app, post_json):
    """A note posted through one worker is in another worker's cached feed and index on its next request."""
    other = make_app(FEED_CACHE_SECONDS=3600).test_client()
    first = other.get("/feed.atom")
    assert other.get("/feed.atom").headers["ETag"] == first.headers["ETag"]
    assert post_json({"type": ["h-entry"], "properties": {"content": ["Posted on worker A"]}}).status_code == 201
    assert "Posted on worker A" in other.get("/feed.atom").text
    assert "Posted on worker A" in other.get("/").text


# Update


def test_update_replace_add_and_delete(client, create, post_json, source):
    """replace swaps values, add appends, delete removes values or whole properties."""
    path = create(content=["First words"], category=["one", "two", "three"], **{"x-kept": ["a", "b"]})
    url = SITE + path
    body = {
        "action": "update",
        "url": url,
        "replace": {"content": ["Second words"]},
        "add": {"category": ["four"], "x-new": ["n"]},
        "delete": {"category": ["two"], "x-kept": ["a"]},
    }
    assert post_json(body).status_code == 204
    properties = source(path)["properties"]
    assert properties["content"] == ["Second words"]
    assert properties["category"] == ["one", "three", "four"]
    assert properties["x-kept"] == ["b"] and properties["x-new"] == ["n"]
    assert "Second words" in client.get(path).text
    assert post_json({"action": "update", "url": url, "delete": ["category", "x-new"]}).status_code == 204
    properties = source(path)["properties"]
    assert "category" not in properties and "x-new" not in properties
    assert client.get("/tag/one").status_code == 404
    assert path == "/note/first-words"  # the permalink never changes


def test_update_photos_date_and_html_content(client, create, post_json, source):
    """Photos, published date and HTML content can all be replaced."""
    path = create(content=["Plain"], photo=["https://photos.example/old.jpg"])
    body = {
        "action": "update",
        "url": SITE + path,
        "replace": {
            "photo": [{"value": "https://photos.example/new.jpg", "alt": "New"}],
            "published": ["2020-02-02T02:02:02Z"],
            "content": [{"html": "<p><em>Rich</em><script>x()</script></p>"}],
        },
    }
    assert post_json(body).status_code == 204
    properties = source(path)["properties"]
    assert properties["photo"] == [{"value": "https://photos.example/new.jpg", "alt": "New"}]
    assert properties["published"] == ["2020-02-02T02:02:02+00:00"]
    assert properties["content"] == [{"html": "<p><em>Rich</em></p>"}]
    assert "<em>Rich</em>" in client.get(path).text


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"replace": ["content", "x"]}, '"replace" must be an object'),
        ({"add": "category"}, '"add" must be an object'),
        ({"replace": {"content": "x"}}, "must be a list"),
        ({"delete": "content"}, '"delete" must be a list'),
        ({"delete": [["content"]]}, "must hold strings"),
        ({}, "needs"),
        ({"delete": ["content"]}, "needs some text"),
    ],
)
def test_bad_updates_are_400_and_change_nothing(client, create, post_json, change, reason):
    """A non-object replace or add, a malformed delete, an empty update: 400, and the note is unchanged."""
    path = create(content=["Unchanged"])
    response = post_json({"action": "update", "url": SITE + path, **change})
    assert reason in assert_error(response, 400, "invalid_request")["error_description"]
    assert "Unchanged" in client.get(path).text


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.example/note/x",
        f"{SITE}/note/no-such-note",
        f"{SITE}/tag/x",
        f"{SITE}/note/../admin",
        None,
        5,
    ],
)
def test_a_url_that_is_not_a_note_of_this_site_is_400(post_json, url):
    """update, delete and undelete name the note by its permalink; anything else is invalid_request."""
    for action in ("update", "delete", "undelete"):
        response = post_json({"action": action, "url": url, "replace": {"content": ["x"]}})
        assert_error(response, 400, "invalid_request")


def test_updates_must_be_json(client, bearer, create):
    """A form-encoded update is refused (the spec defines updates in JSON only)."""
    path = create(content=["Form update"])
    response = client.post("/micropub", data={"action": "update", "url": SITE + path, "content": "x"}, headers=bearer)
    assert "JSON" in assert_error(response, 400, "invalid_request")["error_description"]


# Delete and undelete


def test_delete_then_undelete_by_form_and_json(client, bearer, create, post_json, source):
    """Delete makes the permalink 410 Gone and empties the feeds; undelete brings it back; repeats are harmless."""
    path = create(content=["Here today"])
    url = SITE + path
    assert client.post("/micropub", data={"action": "delete", "url": url}, headers=bearer).status_code == 204
    assert client.get(path).status_code == 410
    assert "Here today" not in client.get("/feed.json").text
    assert post_json({"action": "delete", "url": url}).status_code == 204  # already deleted: nothing to do
    response = post_json({"action": "update", "url": url, "replace": {"content": ["x"]}})
    assert "undelete" in assert_error(response, 400, "invalid_request")["error_description"]
    source(path, status=400)
    assert post_json({"action": "undelete", "url": url}).status_code == 204
    assert client.get(path).status_code == 200
    assert "Here today" in client.get("/feed.json").text
    assert client.post("/micropub", data={"action": "undelete", "url": url}, headers=bearer).status_code == 204


# Queries


def test_q_config_and_syndicate_to(client, bearer):
    """q=config names the media endpoint (absolute), no syndication targets and the post types."""
    config = client.get("/micropub?q=config", headers=bearer)
    assert config.status_code == 200
    assert config.headers["Cache-Control"] == "no-store"
    body = config.get_json()
    assert body["media-endpoint"] == f"{SITE}/micropub/media"
    assert body["syndicate-to"] == []
    assert {kind["type"] for kind in body["post-types"]} == {"note", "photo", "reply", "like", "repost", "bookmark"}
    assert client.get("/micropub?q=syndicate-to", headers=bearer).get_json() == {"syndicate-to": []}


def test_q_source_all_or_some_properties(create, source, client, bearer):
    """q=source answers the whole h-entry, or only the properties asked for (properties[] or properties)."""
    path = create(content=["Sourced"], category=["a"], **{"x-y": [{"deep": {"nested": [1, 2]}}]})
    whole = source(path)
    assert whole["type"] == ["h-entry"]
    assert whole["properties"]["x-y"] == [{"deep": {"nested": [1, 2]}}]
    some = client.get(
        "/micropub",
        headers=bearer,
        query_string=[
            ("q", "source"),
            ("url", SITE + path),
            ("properties[]", "content"),
            ("properties[]", "category"),
            ("properties[]", "absent"),
        ],
    ).get_json()
    assert some == {"properties": {"content": ["Sourced"], "category": ["a"]}}
    assert source(path, properties="x-y") == {"properties": {"x-y": [{"deep": {"nested": [1, 2]}}]}}


@pytest.mark.parametrize(
    "query", [{}, {"q": "everything"}, {"q": "source"}, {"q": "source", "url": "https://x.example/"}]
)
def test_bad_queries_are_400(client, bearer, query):
    """A missing or unknown q, or q=source without a note of this site, is invalid_request."""
    assert_error(client.get("/micropub", query_string=query, headers=bearer), 400, "invalid_request")


# Media endpoint


@pytest.mark.parametrize("scope", ["media", "create"])
def test_media_endpoint_stores_a_file(app, client, issue, scope):
    """A multipart file is stored under a random name (never its own, path tricks included); 201 + Location."""
    headers = {"Authorization": f"Bearer {issue(scope)}"}
    data = image_bytes("PNG")
    response = client.post(
        "/micropub/media", headers=headers, **multipart({"file": (io.BytesIO(data), "../../../etc/passwd.png")})
    )
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith(f"{SITE}/media/") and response.get_json() == {"url": location}
    name = location.rsplit("/", 1)[1]
    assert stored_files(app) == [name] and "passwd" not in name
    served = client.get(location[len(SITE) :])
    assert served.status_code == 200 and served.mimetype == "image/png"
    served.close()
    assert client.get("/media/..%2f..%2fstarpunk.db").status_code == 404


def test_media_endpoint_refusals(make_app):
    """No file is 400, a form that is not multipart 415, oversized 413, not an image 415, wrong scope 403."""
    app = make_app(MEDIA_MAX_BYTES=2048)
    client = app.test_client()
    with app.app_context():
        headers = {"Authorization": f"Bearer {create_token('media')[1]}"}
        wrong = {"Authorization": f"Bearer {create_token('update')[1]}"}
    big = image_bytes("PNG", size=(400, 400), compress_level=0)
    cases = [
        (multipart({"other": (io.BytesIO(image_bytes()), "a.png")}), headers, 400, "invalid_request"),
        (multipart({"file": "not a file"}), headers, 400, "invalid_request"),
        ({"data": {"file": "not multipart"}}, headers, 415, "invalid_request"),
        ({"json": {"file": "x"}}, headers, 415, "invalid_request"),
        (multipart({"file": (io.BytesIO(big), "big.png")}), headers, 413, "invalid_request"),
        (multipart({"file": (io.BytesIO(b"GIF89a but not really"), "fake.gif")}), headers, 415, "invalid_request"),
        (multipart({"file": (io.BytesIO(image_bytes()), "a.png")}), wrong, 403, "insufficient_scope"),
    ]
    for request, auth, status, error in cases:
        assert_error(client.post("/micropub/media", headers=auth, **request), status, error)
    assert stored_files(app) == []


def test_a_large_upload_needs_the_token_in_the_header(make_app):
    """Past MAX_CONTENT_LENGTH, an upload is read only for a token in the header; a form token cannot lift it."""
    app = make_app(MAX_CONTENT_LENGTH=4096)
    client = app.test_client()
    with app.app_context():
        secret = create_token("media")[1]
    photo = image_bytes("PNG", size=(300, 300), compress_level=0)
    assert len(photo) > 4096
    by_header = client.post(
        "/micropub/media",
        headers={"Authorization": f"Bearer {secret}"},
        **multipart({"file": (io.BytesIO(photo), "a.png")}),
    )
    assert by_header.status_code == 201, by_header.text
    by_form = client.post(
        "/micropub/media", **multipart({"file": (io.BytesIO(photo), "a.png"), "access_token": secret})
    )
    assert_error(by_form, 413, "invalid_request")
    small = client.post(
        "/micropub/media", **multipart({"file": (io.BytesIO(image_bytes()), "a.png"), "access_token": secret})
    )
    assert small.status_code == 201


# --- Hostile and malformed JSON (issue 22, findings 3 and 6) ------------------------------------

SURROGATE = "\ud800"
PHOTO = "https://photos.example/a.jpg"


def entry(**properties):
    """Return a JSON create body of an h-entry with these properties (content "x" unless given)."""
    return {"type": ["h-entry"], "properties": {"content": ["x"], **properties}}


@pytest.mark.parametrize(
    "body",
    [
        {"action": ["delete"], "url": "URL"},
        {"action": {"delete": 1}, "url": "URL"},
        entry(published=["9999-12-31T23:59:59-23:59"]),
        entry(published=["0001-01-01T00:00:00+23:59"]),
        entry(content=[SURROGATE]),
        entry(content=[{"html": f"<p>{SURROGATE}</p>"}]),
        entry(content=[{"value": SURROGATE}]),
        entry(**{"mp-slug": [f"a{SURROGATE}"]}),
        entry(extra=[SURROGATE]),
        entry(**{f"e{SURROGATE}": ["y"]}),
        entry(photo=[{"value": PHOTO, "alt": SURROGATE}]),
        entry(photo=[f"https://photos.example/{SURROGATE}.jpg"]),
        entry(photo=[PHOTO], **{"mp-photo-alt": [SURROGATE]}),
        {"action": "update", "url": "URL", "replace": {"content": [SURROGATE]}},
        {"action": "update", "url": "URL", "add": {"extra": [{"html": SURROGATE}]}},
        {"action": "update", "url": "URL", "replace": {"published": ["9999-12-31T23:59:59-23:59"]}},
    ],
)
def test_malformed_json_is_the_specs_400(client, bearer, create, body):
    """Lists for strings, dates without a UTC time and lone surrogates anywhere are 400 invalid_request, not 500."""
    path = create(content=["Target"])
    text = json.dumps(body).replace('"URL"', json.dumps(SITE + path))
    response = client.post("/micropub", data=text, content_type="application/json", headers=bearer)
    assert_error(response, 400, "invalid_request")
    assert client.get(path).status_code == 200


def test_json_nested_100000_deep_is_400(client, bearer):
    """A body nested far past any parser's recursion limit is 400, not a RecursionError's 500."""
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        response = client.post("/micropub", data=text, content_type="application/json", headers=bearer)
        assert_error(response, 400, "invalid_request")


def nested(levels):
    """Return a list nesting lists this many levels deep."""
    value = ["deep"]
    for _ in range(levels - 1):
        value = [value]
    return value


def test_json_nesting_is_accepted_up_to_max_json_depth(app, post_json):
    """Arrays and objects nest MAX_JSON_DEPTH levels (the body is 1, properties 2, a value list 3), not one more."""
    depth = app.config["MAX_JSON_DEPTH"]
    assert post_json(entry(extra=nested(depth - 2))).status_code == 201
    assert_error(post_json(entry(extra=nested(depth - 1))), 400, "invalid_request")


def test_kept_properties_are_bounded_in_number(app, post_json):
    """A note keeps MAX_KEPT_PROPERTIES unrendered properties; one more is 400 and nothing is stored."""
    limit = app.config["MAX_KEPT_PROPERTIES"]
    assert post_json(entry(**{f"p{n}": ["v"] for n in range(limit)})).status_code == 201
    body = assert_error(post_json(entry(**{f"p{n}": ["v"] for n in range(limit + 1)})), 400, "invalid_request")
    assert str(limit) in body["error_description"]


def test_kept_properties_are_bounded_in_bytes(app, post_json, create):
    """The kept properties take MAX_KEPT_BYTES of JSON (UTF-8) at most, when created and when updated."""
    limit = app.config["MAX_KEPT_BYTES"]
    framing = len('{"extra":[""]}')
    assert post_json(entry(extra=["é" * ((limit - framing) // 2)])).status_code == 201
    assert post_json(entry(extra=["a" * (limit - framing)])).status_code == 201
    assert_error(post_json(entry(extra=["a" * (limit - framing + 1)])), 400, "invalid_request")
    path = create(content=["Grows"], extra=["a" * (limit - framing)])
    grown = post_json({"action": "update", "url": SITE + path, "add": {"extra": ["b"]}})
    assert_error(grown, 400, "invalid_request")


def test_a_create_token_does_not_raise_the_limit_of_a_json_or_form_body(app, client, bearer):
    """Only a multipart body may be UPLOAD_MAX_CONTENT_LENGTH: a larger JSON or urlencoded one is the spec's 413."""
    big = "a" * app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/micropub", json=entry(extra=[big]), headers=bearer)
    assert_error(response, 413, "invalid_request")
    response = client.post("/micropub", data={"h": "entry", "content": "x", "extra": big}, headers=bearer)
    assert_error(response, 413, "invalid_request")
    assert store_count(app) == 0


def store_count(app):
    """Return how many notes the site holds, drafts included."""
    with app.app_context():
        return len(store.list_all())


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [SURROGATE, "a\udfffb", "9999-12-31T23:59:59-23:59", "draft", "published", "delete", "update", PHOTO, ""]
    )
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
NAMES = st.sampled_from(
    ["content", "category", "photo", "published", "post-status", "mp-slug", "mp-photo-alt", "url", "extra", "html"]
) | st.text(max_size=8)
BODIES = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from([["h-entry"], "h-entry", ["h-card"]]) | JSON_VALUES},
        optional={"properties": st.dictionaries(NAMES, JSON_VALUES, max_size=5) | JSON_VALUES, "action": JSON_VALUES},
    ),
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(["update", "delete", "undelete"]) | JSON_VALUES,
            "url": st.just("URL") | JSON_VALUES,
        },
        optional={
            "replace": st.dictionaries(NAMES, JSON_VALUES, max_size=3) | JSON_VALUES,
            "add": st.dictionaries(NAMES, JSON_VALUES, max_size=3) | JSON_VALUES,
            "delete": st.lists(NAMES, max_size=3) | st.dictionaries(NAMES, JSON_VALUES, max_size=3) | JSON_VALUES,
        },
    ),
    JSON_VALUES,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_no_json_body_is_a_server_error(client, bearer, create, body):
    """Whatever JSON a token holder sends, the answer is a success or the spec's JSON error, never a 500."""
    target = SITE + create(content=["Fuzzed"])
    text = json.dumps(body).replace('"URL"', json.dumps(target))
    response = client.post("/micropub", data=text, content_type="application/json", headers=bearer)
    if response.status_code >= 400:
        assert response.status_code in {400, 403, 413, 415}, response.text
        assert_error(response, response.status_code, response.get_json()["error"])
    else:
        assert response.status_code in {201, 204}, response.text


# --- What a one-line slip would break (issue 22, "tests that would catch the next mistake") ------


@pytest.mark.parametrize("action", ["like", "publish", "Create", "", "create "])
def test_a_form_with_an_unknown_action_and_content_creates_nothing(app, client, bearer, action):
    """action=like (or an empty one) with perfectly good content is refused: the form is not taken for a create."""
    form = {"action": action, "h": "entry", "content": "Would be a note"}
    assert_error(client.post("/micropub", data=form, headers=bearer), 400, "invalid_request")
    assert store_count(app) == 0


def test_a_delete_only_token_cannot_read_a_notes_source(client, create, issue):
    """q=source needs create or update: a token that may only delete reads nothing of a note."""
    path = create(content=["Secret draft"], **{"post-status": ["draft"]})
    response = client.get("/micropub", query_string={"q": "source", "url": SITE + path}, headers=_auth(issue("delete")))
    assert_error(response, 403, "insufficient_scope")
    assert "Secret draft" not in response.text
    allowed = client.get("/micropub", query_string={"q": "source", "url": SITE + path}, headers=_auth(issue("update")))
    assert allowed.status_code == 200


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("scope", "status"), [("create", 415), ("update delete media", 413), ("update", 413), ("", 413)]
)
def test_only_a_create_token_lifts_the_body_limit_at_micropub(app, client, issue, scope, status):
    """A multipart body past MAX_CONTENT_LENGTH is read for a create token only; any other scope gets 413 first."""
    token = issue(scope) if scope else "not-a-token"
    junk = io.BytesIO(b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1024))
    form = {"h": "entry", "content": "x", "photo": (junk, "a.png")}
    response = client.post("/micropub", headers=_auth(token), **multipart(form))
    assert response.status_code == status, response.text


# Responses: replies, likes, reposts and bookmarks


@pytest.mark.parametrize(
    ("prop", "line"), [("like-of", "Liked"), ("repost-of", "Reposted"), ("bookmark-of", "Bookmarked")]
)
def test_a_like_repost_or_bookmark_needs_no_text(create, client, source, prop, line):
    """A like, repost or bookmark without content is a note; its page says so and marks it up as an h-cite."""
    path = create(**{prop: ["https://other.example/post"]})
    page = client.get(path)
    assert f"{line} " in page.text and "https://other.example/post" in page.text
    cite = entry_of(client, path)["properties"][prop][0]
    assert cite["type"] == ["h-cite"]
    assert cite["properties"]["url"] == ["https://other.example/post"]
    properties = source(path)["properties"]
    assert properties[prop] == ["https://other.example/post"]
    assert "content" not in properties


def test_a_reply_needs_text_and_renders_as_a_reply(client, bearer, create):
    """A form-encoded reply without content is refused; with it, the page shows "In reply to" and u-in-reply-to."""
    refused = client.post("/micropub", data={"h": "entry", "in-reply-to": "https://other.example/a"}, headers=bearer)
    assert_error(refused, 400, "invalid_request")
    form = {"h": "entry", "content": "I agree", "in-reply-to": "https://other.example/a"}
    made = client.post("/micropub", data=form, headers=bearer)
    assert made.status_code == 201, made.text
    path = made.headers["Location"][len(SITE) :]
    assert "In reply to" in client.get(path).text
    entry = entry_of(client, path)
    assert entry["properties"]["in-reply-to"][0]["properties"]["url"] == ["https://other.example/a"]


def test_a_multipart_bookmark(client, bearer):
    """Multipart creates carry responses too."""
    body = multipart({"h": "entry", "bookmark-of": "https://other.example/read-later"})
    made = client.post("/micropub", **body, headers=bearer)
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == f"{SITE}/note/bookmark"


@pytest.mark.parametrize(
    "properties",
    [
        {"like-of": ["javascript:alert(1)"]},
        {"like-of": ["https://a.example/", "https://b.example/"]},
        {"like-of": ["https://a.example/"], "repost-of": ["https://b.example/"]},
        {"in-reply-to": ["https://example.com/" + "a" * 2049]},
        {"content": ["x"], "syndication": ["ftp://copy.example/"]},
    ],
)
def test_bad_responses_are_refused(post_json, properties):
    """Responses are one http(s) URL of bounded length, one kind a note."""
    assert_error(post_json({"type": ["h-entry"], "properties": properties}), 400, "invalid_request")


def test_syndication_renders_as_also_on(create, client):
    """Syndication URLs render as u-syndication links under "Also on"."""
    path = create(content=["Crossposted"], syndication=["https://mastodon.example/@me/1"])
    assert "Also on" in client.get(path).text
    assert entry_of(client, path)["properties"]["syndication"] == ["https://mastodon.example/@me/1"]


def test_an_update_can_turn_a_note_into_a_reply(create, post_json, client):
    """A Micropub update adds a response like any property; its checks apply."""
    path = create(content=["Later a reply"])
    body = {"action": "update", "url": SITE + path, "add": {"in-reply-to": ["https://other.example/b"]}}
    assert post_json(body).status_code == 204
    assert "In reply to" in client.get(path).text
    body["add"] = {"like-of": ["https://other.example/c"]}
    assert_error(post_json(body), 400, "invalid_request")


# --- What the mutation run of starpunk/micropub.py found untested (issue 22, docs/mutants.md) ---


def messages(caplog):
    """Return the log lines the app wrote during the test, formatted."""
    return [record.getMessage() for record in caplog.records]


@pytest.mark.parametrize(
    ("data", "description"),
    [
        ("{not json", "The body is not a JSON object (Content-Type: application/json)."),
        ("[1, 2]", "The body is not a JSON object (Content-Type: application/json)."),
        (
            json.dumps(entry(content=[SURROGATE])),
            "The JSON body holds text that is not Unicode (a lone surrogate, \\ud800 to \\udfff).",
        ),
        (
            json.dumps({"action": "update", "url": "URL", "replace": {"mp-syndicate-to": "x"}}),
            'mp-syndicate-to must be a list of targets, e.g. ["https://brid.gy/publish/mastodon"].',
        ),
        (json.dumps({"action": "delete"}), "The url of the note is required."),
        (json.dumps({"action": "undelete", "url": ""}), "The url of the note is required."),
    ],
)
def test_a_refused_json_body_says_why(client, bearer, create, data, description):
    """Malformed JSON, a lone surrogate, a bad mp-syndicate-to or no url: the client reads which, word for word."""
    data = data.replace('"URL"', json.dumps(SITE + create(content=["Target"])))
    response = client.post("/micropub", data=data, content_type="application/json", headers=bearer)
    assert assert_error(response, 400, "invalid_request")["error_description"] == description


def test_q_source_of_a_deleted_note_says_it_is_deleted(client, bearer, create):
    """A deleted note's source is 400 naming the note, not an error about the query."""
    path = create(content=["Soon gone"])
    assert client.post("/micropub", json={"action": "delete", "url": SITE + path}, headers=bearer).status_code == 204
    response = client.get("/micropub", query_string={"q": "source", "url": SITE + path}, headers=bearer)
    assert (
        assert_error(response, 400, "invalid_request")["error_description"] == f"The note at {SITE + path} is deleted."
    )


def test_q_config_lists_the_queries_it_answers(client, bearer):
    """q=config's "q" names every query the endpoint answers, and each of them is answered."""
    queries = client.get("/micropub?q=config", headers=bearer).get_json()["q"]
    assert sorted(queries) == ["config", "source", "syndicate-to"]
    for asked in ("config", "syndicate-to"):
        assert client.get("/micropub", query_string={"q": asked}, headers=bearer).status_code == 200


def test_a_note_url_with_a_trailing_slash_names_the_note(client, create, post_json):
    """ ".../note/slug/" is the note's permalink too: delete and undelete find it."""
    path = create(content=["Slashed"])
    assert post_json({"action": "delete", "url": f"{SITE}{path}/"}).status_code == 204
    assert client.get(path).status_code == 410
    assert post_json({"action": "undelete", "url": f"{SITE}{path}//"}).status_code == 204
    assert client.get(path).status_code == 200


def test_only_this_sites_note_urls_name_a_note(client, create, post_json):
    """A URL elsewhere that merely ends in the slug, or a slug with other letters after it, names no note."""
    path = create(content=["Keep me"])
    slug = path.rsplit("/", 1)[1]
    prefix = f"{SITE}/note/"
    elsewhere = "https://evil.example/" + "n" * (len(prefix) - len("https://evil.example/"))
    assert len(elsewhere) == len(prefix) and not elsewhere.startswith(prefix)
    for url in (elsewhere + slug, f"{prefix}{slug}X", f"{prefix}{slug}XX/"):
        response = post_json({"action": "delete", "url": url})
        assert "is not a note of this site" in assert_error(response, 400, "invalid_request")["error_description"]
    assert client.get(path).status_code == 200


def test_writes_are_logged_with_the_note_and_what_changed(client, create, post_json, caplog):
    """Each update names the note and the properties it touched; delete and undelete name the note."""
    path = create(content=["Logged"], category=["a"])
    slug = path.rsplit("/", 1)[1]
    url = SITE + path
    change = {"action": "update", "url": url, "replace": {"content": ["Logged again"]}, "add": {"category": ["b"]}}
    assert post_json(change).status_code == 204
    assert post_json({"action": "delete", "url": url}).status_code == 204
    assert post_json({"action": "undelete", "url": url}).status_code == 204
    log = messages(caplog)
    assert f"micropub: note {slug} updated (category, content)" in log
    assert f"micropub: note {slug} deleted" in log
    assert f"micropub: note {slug} undeleted" in log


def test_an_unknown_token_is_logged_with_the_address_asked(client, caplog):
    """A refused token is counted and logged with the path it was sent to (never the token itself)."""
    response = client.get("/micropub?q=config", headers=_auth("not-a-token-of-this-site"))
    assert_error(response, 401, "invalid_token")
    assert "failed token attempt from 127.0.0.1: unknown access token at /micropub" in messages(caplog)
    assert "not-a-token-of-this-site" not in caplog.text


def test_a_header_token_with_two_spaces_lifts_the_upload_limit(make_app):
    """The upload limit reads the Authorization header as authenticate() does: "Bearer  TOKEN" is the token."""
    app = make_app(MAX_CONTENT_LENGTH=4096)
    with app.app_context():
        secret = create_token("media")[1]
    photo = image_bytes("PNG", size=(300, 300), compress_level=0)
    for header in (f"Bearer  {secret}", f"bearer {secret} "):
        response = app.test_client().post(
            "/micropub/media", headers={"Authorization": header}, **multipart({"file": (io.BytesIO(photo), "a.png")})
        )
        assert response.status_code == 201, (header, response.text)


def test_a_header_without_a_bearer_token_is_not_counted_as_a_guess(client, issue):
    """Authorization: Basic (or Bearer with nothing after it) is no token: a client is not throttled for sending it."""
    for n in range(throttle.MAX_FAILURES + 1):
        header = "Basic dXNlcjpwYXNz" if n % 2 else "Bearer "
        form = multipart({"file": (io.BytesIO(image_bytes()), "a.png")})
        assert_error(client.post("/micropub/media", headers={"Authorization": header}, **form), 401, "unauthorized")
    response = client.post(
        "/micropub/media", headers=_auth(issue()), **multipart({"file": (io.BytesIO(image_bytes()), "a.png")})
    )
    assert response.status_code == 201, response.text


def test_a_refused_large_upload_does_not_mark_the_token_used(make_app):
    """The upload limit looks at a token without recording a use: a token refused there shows as never used."""
    app = make_app(MAX_CONTENT_LENGTH=4096)
    with app.app_context():
        secret = create_token("media")[1]
    junk = io.BytesIO(b"\0" * 8192)
    response = app.test_client().post(
        "/micropub", headers=_auth(secret), **multipart({"h": "entry", "content": "x", "photo": (junk, "a.png")})
    )
    assert_error(response, 413, "invalid_request")
    with app.app_context():
        (info,) = tokens.list_tokens()
        assert info.last_used_at is None


def test_an_update_that_leaves_tags_and_photos_alone_does_not_rewrite_them(app, create, post_json, source):
    """Tags and photos an update does not touch stay as stored, even when stored under older rules.

    A tag written before today's normalisation (capitals) and an alt text longer than
    today's limit: editing the text neither renames the tag nor refuses the edit.
    """
    path = create(content=["Old note"], category=["legacy"], photo=[{"value": PHOTO, "alt": "short"}])
    note_id = note_of(app, path)["id"]
    long_alt = "a" * (photos.MAX_ALT_CHARS + 1)
    with app.app_context():
        db = store.get_db()
        with transaction(db):
            db.execute("UPDATE note_tags SET tag = 'Legacy Tag' WHERE note_id = ?", (note_id,))
            db.execute("UPDATE note_photos SET alt = ? WHERE note_id = ?", (long_alt, note_id))
    response = post_json({"action": "update", "url": SITE + path, "replace": {"content": ["Edited note"]}})
    assert response.status_code == 204, response.text
    properties = source(path)["properties"]
    assert properties["content"] == ["Edited note"]
    assert properties["category"] == ["Legacy Tag"]
    assert properties["photo"] == [{"value": PHOTO, "alt": long_alt}]


def test_an_update_replacing_a_photo_without_alt_text(create, post_json, source):
    """A replaced photo given as a bare URL is stored without alt text."""
    path = create(content=["Photo"], photo=[{"value": PHOTO, "alt": "Old"}])
    other = "https://photos.example/b.jpg"
    assert post_json({"action": "update", "url": SITE + path, "replace": {"photo": [other]}}).status_code == 204
    assert source(path)["properties"]["photo"] == [other]


TARGETS = ["https://a.example/publish", "https://b.example/publish"]


@pytest.fixture
def syndicating(make_app):
    """Return (client, headers): a site with two SYNDICATE_TO targets, and a token that may do everything."""
    app = make_app(SYNDICATE_TO=json.dumps([{"uid": uid, "name": uid.split("/")[2]} for uid in TARGETS]))
    with app.app_context():
        secret = create_token(ALL_SCOPES)[1]
    return app.test_client(), _auth(secret)


def linked_targets(client, path):
    """Return the SYNDICATE_TO targets a note's page links to (the publisher reads them there)."""
    page = client.get(path).text
    return [uid for uid in TARGETS if f'href="{uid}" hidden' in page]


def test_an_update_picks_targets_from_replace_and_add_together(syndicating, caplog):
    """mp-syndicate-to in replace and in add: both are picked, and the log names both."""
    client, headers = syndicating
    made = client.post("/micropub", json=entry(content=["Cross"]), headers=headers)
    path = made.headers["Location"][len(SITE) :]
    body = {
        "action": "update",
        "url": SITE + path,
        "replace": {"mp-syndicate-to": [TARGETS[0]]},
        "add": {"mp-syndicate-to": [TARGETS[1]]},
    }
    assert client.post("/micropub", json=body, headers=headers).status_code == 204
    assert linked_targets(client, path) == TARGETS
    assert f"micropub: note {path.rsplit('/', 1)[1]} cross-posted to {', '.join(TARGETS)}" in messages(caplog)


@pytest.mark.parametrize(
    "change",
    [
        {"replace": {"content": ["Changed"]}},
        {"add": {"category": ["added"]}},
        {"delete": ["x-gone"]},
    ],
    ids=["replace", "add", "delete"],
)
def test_an_update_with_a_change_and_mp_syndicate_to_makes_the_change(syndicating, change):
    """Each operation beside mp-syndicate-to is applied: the update is not taken for a cross-post only."""
    client, headers = syndicating
    made = client.post("/micropub", json=entry(content=["Before"], **{"x-gone": ["y"]}), headers=headers)
    path = made.headers["Location"][len(SITE) :]
    body = {"action": "update", "url": SITE + path, **change}
    body["add"] = {**change.get("add", {}), "mp-syndicate-to": [TARGETS[0]]}
    assert client.post("/micropub", json=body, headers=headers).status_code == 204, body
    answer = client.get("/micropub", query_string={"q": "source", "url": SITE + path}, headers=headers)
    properties = answer.get_json()["properties"]
    assert properties.get("content") == change.get("replace", {}).get("content", ["Before"])
    assert properties.get("category") == change.get("add", {}).get("category")
    assert ("x-gone" in properties) != ("delete" in change)
    assert linked_targets(client, path) == TARGETS[:1]


def test_refused_tokens_scopes_and_actions_say_why(client, create, issue):
    """Each refusal of a token, a scope or an action tells the client exactly what is wrong."""
    path = create(content=["Guarded"])
    photo = {"file": (io.BytesIO(image_bytes()), "a.png")}
    cases = [
        (
            client.post("/micropub", json=entry()),
            401,
            "unauthorized",
            "An access token is required (Authorization: Bearer, or an access_token form field).",
        ),
        (
            client.post("/micropub", json=entry(), headers=_auth("not-a-token")),
            401,
            "invalid_token",
            "The access token is unknown, expired or revoked.",
        ),
        (
            client.post("/micropub", data={"content": "x", "access_token": issue()}, headers=_auth(issue())),
            400,
            "invalid_request",
            "Send the access token in the Authorization header or the form, not both.",
        ),
        (
            client.post("/micropub", json=entry(), headers=_auth(issue("update delete media"))),
            403,
            "insufficient_scope",
            "This token's scope (delete media update) does not allow this; it needs create.",
        ),
        (
            client.post("/micropub", json={"action": "delete", "url": SITE + path}, headers=_auth(issue(""))),
            403,
            "insufficient_scope",
            "This token's scope (none) does not allow this; it needs delete.",
        ),
        (
            client.post("/micropub/media", headers=_auth(issue("update")), **multipart(photo)),
            403,
            "insufficient_scope",
            "This token's scope (update) does not allow this; it needs media or create.",
        ),
        (
            client.post("/micropub", json={"action": "like"}, headers=_auth(issue())),
            400,
            "invalid_request",
            "Unknown action 'like': this endpoint knows create, update, delete, undelete.",
        ),
    ]
    for response, status, error, description in cases:
        assert assert_error(response, status, error)["error_description"] == description
    refused_upload = cases[5][0]
    assert refused_upload.get_json()["scope"] == "media create"
    assert 'scope="media create"' in refused_upload.headers["WWW-Authenticate"]
    assert client.get(path).status_code == 200


def test_a_photo_the_disk_refuses_is_503_temporarily_unavailable(app, client, bearer, monkeypatch):
    """A full disk is the spec's temporarily_unavailable (try again later), an empty file invalid_request."""
    empty = client.post("/micropub", headers=bearer, **multipart({"content": "x", "photo": (io.BytesIO(b""), "a.png")}))
    assert assert_error(empty, 415, "invalid_request")["error_description"] == "The photo file is empty."

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(media.os, "fsync", full_disk)
    form = {"content": "Disk full", "photo": (io.BytesIO(image_bytes()), "a.png")}
    response = client.post("/micropub", headers=bearer, **multipart(form))
    body = assert_error(response, 503, "temporarily_unavailable")
    assert body["error_description"] == "The photo could not be saved (No space left on device); nothing was kept."
    assert store_count(app) == 0 and stored_files(app) == []


def test_a_create_is_logged_with_the_note_and_whether_it_is_a_draft(create, caplog):
    """The log names each new note and says whether it was published or kept as a draft."""
    published = create(content=["Out now"]).rsplit("/", 1)[1]
    draft = create(content=["Not yet"], **{"post-status": ["draft"]}).rsplit("/", 1)[1]
    log = messages(caplog)
    assert f"micropub: note {published} created (published)" in log
    assert f"micropub: note {draft} created (draft)" in log


def test_alt_text_missing_or_not_text_leaves_a_photo_without_alt(client, bearer, post_json, source):
    """mp-photo-alt shorter than the photos, or holding a number, gives those photos no alt text."""
    form = {
        "content": "Two uploads",
        "photo[]": [(io.BytesIO(image_bytes("PNG")), "one.png"), (io.BytesIO(image_bytes("PNG")), "two.png")],
        "mp-photo-alt[]": ["First"],
    }
    made = client.post("/micropub", headers=bearer, **multipart(form))
    assert made.status_code == 201, made.text
    photos = source(made.headers["Location"][len(SITE) :])["properties"]["photo"]
    assert photos[0]["alt"] == "First" and isinstance(photos[1], str)
    other = "https://photos.example/b.jpg"
    made = post_json(entry(photo=[PHOTO, other], **{"mp-photo-alt": [5, "Second"]}))
    assert made.status_code == 201, made.text
    photos = source(made.headers["Location"][len(SITE) :])["properties"]["photo"]
    assert photos == [PHOTO, {"value": other, "alt": "Second"}]


def test_too_many_photos_counting_links_are_refused_before_any_upload_is_stored(app, client, bearer, caplog):
    """MAX_PHOTOS files plus one photo URL: refused before a single file is written (nothing to clean up)."""
    files = [(io.BytesIO(image_bytes("PNG")), f"{n}.png") for n in range(app.config["MAX_PHOTOS"])]
    form = {"content": "One too many", "photo": [*files, PHOTO]}
    response = client.post("/micropub", headers=bearer, **multipart(form))
    description = assert_error(response, 400, "invalid_request")["error_description"]
    assert f"this one has {app.config['MAX_PHOTOS'] + 1}" in description
    assert not [line for line in messages(caplog) if line.startswith("media ")]
    assert stored_files(app) == []
