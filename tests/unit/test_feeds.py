"""RSS, Atom and JSON Feed: valid, complete, safe, cacheable, and never stale across workers."""

import json
from datetime import datetime, timezone
from email.utils import format_datetime

import feedparser
import jsonschema
import pytest

from starpunk import feeds, store

SITE = "http://localhost"
XML_FEEDS = ["/feed.xml", "/feed.atom"]
ALL_FEEDS = [*XML_FEEDS, "/feed.json"]

# RFC 3339 date-time, as JSON Feed requires. A pattern, not "format": jsonschema
# checks "date-time" only when the optional rfc3339-validator is installed.
RFC_3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"

# JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), the parts readers rely on.
JSON_FEED_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string", "minLength": 1},
        "home_page_url": {"type": "string", "pattern": "^https?://"},
        "feed_url": {"type": "string", "pattern": "^https?://"},
        "language": {"type": "string"},
        "authors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "anyOf": [{"required": ["name"]}, {"required": ["url"]}],
                "properties": {"name": {"type": "string"}, "url": {"type": "string"}},
            },
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "url", "content_html", "date_published"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "title": {"type": "string"},
                    "content_html": {"type": "string"},
                    "date_published": {"type": "string", "pattern": RFC_3339},
                    "date_modified": {"type": "string", "pattern": RFC_3339},
                },
            },
        },
    },
}
JSON_FEED_VALIDATOR = jsonschema.Draft202012Validator(JSON_FEED_SCHEMA)


def read_feed(client, path):
    """Fetch a feed and return (ids, publish times, contents) of its items, in feed order."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    if path == "/feed.json":
        document = response.get_json()
        JSON_FEED_VALIDATOR.validate(document)
        return (
            [item["id"] for item in document["items"]],
            [datetime.fromisoformat(item["date_published"]) for item in document["items"]],
            [item["content_html"] for item in document["items"]],
        )
    # Unsanitised: feedparser's own cleaning would hide what the app sent.
    parsed = feedparser.parse(response.data, sanitize_html=False, resolve_relative_uris=False)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return (
        [entry.id for entry in parsed.entries],
        [datetime(*entry.published_parsed[:6], tzinfo=timezone.utc) for entry in parsed.entries],
        [(entry.get("content") or [{"value": entry.get("summary", "")}])[0]["value"] for entry in parsed.entries],
    )


def publish_time(note):
    """Return a note's publish time to the second, as feeds carry it."""
    return datetime.fromisoformat(note["published_at"]).replace(microsecond=0)


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_empty_feeds_are_valid(client, path):
    """A new site already serves valid, empty feeds."""
    ids, _, _ = read_feed(client, path)
    assert ids == []


def test_rss_is_valid_rss_2(client, add_notes):
    """feedparser reads /feed.xml as RSS 2.0 with the site's title and link."""
    add_notes(["Hello RSS"])
    response = client.get("/feed.xml")
    assert response.mimetype == "application/rss+xml"
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0
    assert parsed.version == "rss20"
    assert parsed.feed.title == "Test Notes"
    assert parsed.feed.link == SITE + "/"


def test_atom_is_valid_atom_1(client, add_notes):
    """feedparser reads /feed.atom as Atom 1.0 with an author and a self link."""
    add_notes(["Hello Atom"])
    response = client.get("/feed.atom")
    assert response.mimetype == "application/atom+xml"
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Test Notes"
    assert parsed.feed.author == "Ada Owner"
    assert {link.rel: link.href for link in parsed.feed.links}["self"] == SITE + "/feed.atom"


def test_json_feed_is_json_feed_1_1(client, add_notes):
    """/feed.json is a JSON Feed 1.1 document with the site's details."""
    add_notes(["Hello JSON"])
    response = client.get("/feed.json")
    assert response.mimetype == "application/feed+json"
    document = json.loads(response.data)
    JSON_FEED_VALIDATOR.validate(document)
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["title"] == "Test Notes"
    assert document["home_page_url"] == SITE + "/"
    assert document["feed_url"] == SITE + "/feed.json"
    assert document["authors"] == [{"name": "Ada Owner", "url": "https://owner.example/"}]
    (item,) = document["items"]
    assert item["title"] == "Hello JSON"
    assert item["content_html"] == "<p>Hello JSON</p>"


def test_the_schema_rejects_a_broken_feed():
    """The JSON Feed schema used here really checks items (so passing it means something)."""
    broken = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [{"id": "x", "url": "http://a/"}]}
    assert not JSON_FEED_VALIDATOR.is_valid(broken)
    bad_date = {**broken, "items": [{"id": "x", "url": "http://a/", "content_html": "", "date_published": "yesterday"}]}
    assert not JSON_FEED_VALIDATOR.is_valid(bad_date)


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_feeds_carry_exactly_the_published_notes_newest_first(app, client, add_notes, path):
    """Drafts and deleted notes stay out; the rest come newest first with permalinks as ids."""
    published = add_notes(["First published", "Second published", "Third published"])
    add_notes(["A draft"], published=False)
    (gone,) = add_notes(["Deleted later"])
    with app.app_context():
        store.delete_note(gone["id"])
    ids, dates, contents = read_feed(client, path)
    newest_first = list(reversed(published))
    assert ids == [f"{SITE}/note/{note['slug']}" for note in newest_first]
    assert dates == [publish_time(note) for note in newest_first]
    assert [text.strip() for text in contents] == [f"<p>{note['content']}</p>" for note in newest_first]


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_feed_max_items_limits_the_feed_to_the_newest(make_app, add_notes, path):
    """Only the newest FEED_MAX_ITEMS notes are in a feed."""
    app = make_app(FEED_MAX_ITEMS=3)
    notes = add_notes([f"Item {n}" for n in range(1, 6)])
    ids, _, _ = read_feed(app.test_client(), path)
    assert ids == [f"{SITE}/note/{note['slug']}" for note in reversed(notes[2:])]


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_ids_and_dates_are_stable_across_requests_edits_and_workers(make_app, add_notes, path):
    """Readers de-duplicate by id and date: neither changes when a note is edited or on another worker."""
    app = make_app()
    (note,) = add_notes(["Stable identity"])
    ids, dates, _ = read_feed(app.test_client(), path)
    with app.app_context():
        store.update_note(note["id"], "Stable identity, now edited", published=True)
    ids_after, dates_after, contents_after = read_feed(app.test_client(), path)
    other_worker = make_app()
    ids_other, dates_other, _ = read_feed(other_worker.test_client(), path)
    assert ids == ids_after == ids_other == [f"{SITE}/note/{note['slug']}"]
    assert dates == dates_after == dates_other == [publish_time(note)]
    assert "now edited" in contents_after[0]


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_script_in_a_note_is_nowhere_in_the_feed(client, add_notes, path):
    """A <script> typed into a note reaches no feed, not even escaped as text."""
    add_notes(["Safe **bold** <script>alert('feed-xss')</script> <img src=x onerror=alert(2)>"])
    raw = client.get(path).data.decode("utf-8").lower()
    for fragment in ("<script", "&lt;script", "\\u003cscript", "feed-xss", "onerror"):
        assert fragment not in raw
    _, _, contents = read_feed(client, path)
    assert "<strong>bold</strong>" in contents[0]


@pytest.mark.parametrize("path", XML_FEEDS)
def test_characters_xml_forbids_leave_the_feed_well_formed(client, add_notes, path):
    """A control character pasted into a note is left out, and the rest of the note still reaches readers."""
    add_notes(["Pasted\x01 from a terminal\x1b[0m, and more"])
    _, _, contents = read_feed(client, path)
    assert "Pasted from a terminal[0m, and more" in contents[0]


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_feed_content_of_the_xss_corpus_is_allowlisted_html(client, add_notes, corpus, safe_html, path):
    """Every hostile payload reaches feed readers as allowlisted HTML only."""
    add_notes(corpus)
    _, _, contents = read_feed(client, path)
    assert len(contents) == len(corpus)
    for html in contents:
        safe_html(html)


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_caching_headers(make_app, path):
    """Every feed response has an ETag, Last-Modified and public Cache-Control of FEED_CACHE_SECONDS."""
    response = make_app(FEED_CACHE_SECONDS=123).test_client().get(path)
    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"]
    assert response.cache_control.public
    assert response.cache_control.max_age == 123


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_matching_if_none_match_is_304_without_body(client, add_notes, path):
    """A reader that has the current feed gets 304 and no body."""
    add_notes(["Cached"])
    etag = client.get(path).headers["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}'):
        response = client.get(path, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.data == b""
        assert response.headers["ETag"] == etag


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_if_modified_since(client, add_notes, path):
    """If-Modified-Since at or after Last-Modified is 304; an older date gets the feed."""
    add_notes(["Dated"])
    last_modified = client.get(path).headers["Last-Modified"]
    unchanged = client.get(path, headers={"If-Modified-Since": last_modified})
    assert unchanged.status_code == 304
    assert unchanged.data == b""
    old = format_datetime(datetime(2000, 1, 1, tzinfo=timezone.utc), usegmt=True)
    assert client.get(path, headers={"If-Modified-Since": old}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"If-None-Match": "not-quoted-garbage"},
        {"If-None-Match": '"unterminated'},
        {"If-None-Match": "\x00\x01"},
        {"If-Modified-Since": "yesterday"},
        {"If-Modified-Since": "Mon, 99 Foo 20xx 99:99:99 GMT"},
        {"If-Modified-Since": "Sat, 01 Jan 10000 00:00:00 GMT"},
    ],
)
def test_malformed_conditional_headers_get_the_feed(client, add_notes, headers):
    """Garbage validators are ignored: the reader gets a 200 with the feed, not an error."""
    add_notes(["Robust"])
    for path in ALL_FEEDS:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, headers)
        assert b"Robust" in response.data


def test_a_new_note_changes_etag_and_last_modified(client, add_notes):
    """After publishing, an old ETag no longer matches: readers get the new feed."""
    add_notes(["Before"])
    before = client.get("/feed.xml")
    add_notes(["After"])
    after = client.get("/feed.xml", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert b"After" in after.data


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_workers_share_a_coherent_cache(make_app, write_note, app, owner, token, path):
    """A note published, edited or deleted through one worker is in every worker's next feed."""
    worker_a = app  # the owner's client talks to this one
    worker_b = make_app(FEED_CACHE_SECONDS=3600)
    reader_b = worker_b.test_client()
    write_note("Already there")
    first = reader_b.get(path)
    assert reader_b.get(path).headers["ETag"] == first.headers["ETag"]  # served from B's cache

    slug = write_note("Published through worker A")
    after_publish = reader_b.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert after_publish.status_code == 200
    assert after_publish.headers["ETag"] != first.headers["ETag"]
    assert b"Published through worker A" in after_publish.data
    assert "Published through worker A" in reader_b.get("/").text

    with worker_a.app_context():
        note_id = store.get_published_note(slug)["id"]
    form = {"csrf_token": token(owner), "content": "Edited through worker A", "published": "y"}
    assert owner.post(f"/admin/edit/{note_id}", data=form).status_code == 303
    after_edit = reader_b.get(path)
    assert b"Edited through worker A" in after_edit.data
    assert b"Published through worker A" not in after_edit.data

    assert owner.post(f"/admin/delete/{note_id}", data={"csrf_token": token(owner)}).status_code == 303
    after_delete = reader_b.get(path)
    assert b"Edited through worker A" not in after_delete.data
    assert b"Already there" in after_delete.data
    assert reader_b.get(f"/note/{slug}").status_code == 410


def test_cached_feed_is_served_until_it_expires(make_app, database, monkeypatch):
    """Within FEED_CACHE_SECONDS the cached feed is reused; after it, the feed is rebuilt."""
    app = make_app(FEED_CACHE_SECONDS=60)
    reader = app.test_client()
    assert b"Hand-made" not in reader.get("/feed.xml").data
    # An operator's direct change to the database does not bump the generation.
    now = datetime.now(timezone.utc).isoformat()
    database.execute(
        "INSERT INTO notes (slug, content, published, created_at, updated_at, published_at)"
        " VALUES ('hand-made', 'Hand-made note', 1, ?, ?, ?)",
        (now, now, now),
    )
    assert b"Hand-made" not in reader.get("/feed.xml").data  # still the cached copy
    clock = feeds.time.monotonic
    monkeypatch.setattr(feeds.time, "monotonic", lambda: clock() + 61)
    assert b"Hand-made" in reader.get("/feed.xml").data


def test_zero_cache_seconds_rebuilds_every_time(make_app, database):
    """FEED_CACHE_SECONDS=0 turns the server cache off and tells clients not to keep it."""
    app = make_app(FEED_CACHE_SECONDS=0)
    reader = app.test_client()
    first = reader.get("/feed.json")
    assert first.cache_control.max_age == 0
    now = datetime.now(timezone.utc).isoformat()
    database.execute(
        "INSERT INTO notes (slug, content, published, created_at, updated_at, published_at)"
        " VALUES ('direct', 'Direct note', 1, ?, ?, ?)",
        (now, now, now),
    )
    assert b"Direct note" in reader.get("/feed.json").data


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_feeds_answer_get_only(client, path):
    """Feeds are read-only: other methods get 405."""
    assert client.post(path).status_code == 405
    assert client.delete(path).status_code == 405


@pytest.mark.parametrize("path", ALL_FEEDS)
def test_a_conditional_get_renders_nothing(client, add_notes, monkeypatch, path):
    """A reader holding the current feed is answered 304 from the worker's copy: no feed is built for it."""
    add_notes(["Built once"])
    etag = client.get(path).headers["ETag"]
    built = []
    real = feeds.render_feed
    monkeypatch.setattr(feeds, "render_feed", lambda *args, **kwargs: built.append(args) or real(*args, **kwargs))
    for _ in range(3):
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert built == []


def test_responses_carry_their_line_and_json_feed_external_url(app, client):
    """Feeds show "Liked <URL>" and similar; JSON Feed gives external_url for likes and bookmarks, not replies."""
    with app.app_context():
        store.create_note("", True, slug="like", properties={"like-of": ["https://o.example/liked"]})
        store.create_note("Agreed", True, properties={"in-reply-to": ["https://o.example/said"]})
    items = {item["url"]: item for item in client.get("/feed.json").get_json()["items"]}
    liked, replied = items["http://localhost/note/like"], items["http://localhost/note/agreed"]
    assert liked["external_url"] == "https://o.example/liked" and liked["title"] == "Liked https://o.example/liked"
    assert "external_url" not in replied
    assert "In reply to" in replied["content_html"]
    assert "Liked" in client.get("/feed.xml").text
