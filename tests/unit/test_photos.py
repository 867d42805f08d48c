"""Photos of notes: stored files or links (never fetched), with alt text, on pages and in every feed."""

import io
import xml.etree.ElementTree as ET

import feedparser
import mf2py
import pytest

from starpunk import media, store
from starpunk.photos import Photo
from tests.unit.conftest import image_bytes

SITE = "http://localhost"
ATOM = "{http://www.w3.org/2005/Atom}"


def raw_contents(body):
    """Return each item's HTML exactly as the feed carries it (feedparser would rewrite it)."""
    root = ET.fromstring(body)
    if root.tag == "rss":
        return [item.findtext("description") for item in root.iter("item")]
    return [entry.findtext(f"{ATOM}content") for entry in root.iter(f"{ATOM}entry")]


def stored_photo(app, alt, size=(40, 30), image_format="PNG"):
    """Store a real image file and return its Photo."""
    with app.test_request_context():
        return Photo.stored(media.save_upload(io.BytesIO(image_bytes(image_format, size=size))), alt)


def note_with(app, content, photos, tags=()):
    """Store a published note with these photos and return it."""
    with app.test_request_context():
        return store.create_note(content, True, tags=tags, photos=photos)


def test_photos_are_shown_as_u_photo_with_alt_and_size(app, client):
    """On the permalink each photo is a u-photo with its alt text and width/height; lazy after the first."""
    first, second = stored_photo(app, "A red square", (40, 30)), stored_photo(app, "Another one", (20, 10))
    note = note_with(app, "Two photos", [first, second])
    html = client.get(f"/note/{note['slug']}").text
    parsed = mf2py.parse(doc=html, url=SITE + "/")
    (entry,) = [item for item in parsed["items"] if "h-entry" in item["type"]]
    assert entry["properties"]["photo"] == [
        {"value": f"{SITE}/media/{first.file_name}", "alt": "A red square"},
        {"value": f"{SITE}/media/{second.file_name}", "alt": "Another one"},
    ]
    assert 'width="40" height="30">' in html  # the first loads at once
    assert 'width="20" height="10" loading="lazy"' in html


def test_on_the_index_only_the_first_photo_of_the_page_loads_eagerly(app, client):
    """Photos below the first on the home page carry loading="lazy"."""
    note_with(app, "Older", [stored_photo(app, "Old photo")])
    note_with(app, "Newer", [stored_photo(app, "New photo"), stored_photo(app, "Second new photo")])
    html = client.get("/").text
    assert html.count('class="u-photo"') == 3
    assert html.count('loading="lazy"') == 2
    assert html.index('alt="New photo"') < html.index('loading="lazy"')


def test_a_photo_url_elsewhere_is_linked_and_never_fetched(app, client, httpserver):
    """A photo given by URL is shown from there; the server never requests it, not even for feeds."""
    url = httpserver.url_for("/cat.jpg")
    with app.test_request_context():
        photo = Photo.from_url(url, "A cat elsewhere")
    assert (photo.url, photo.file_name, photo.width) == (url, None, None)
    note = note_with(app, "Linked photo", [photo])
    html = client.get(f"/note/{note['slug']}").text
    assert f'<img class="u-photo" src="{url}" alt="A cat elsewhere">' in html
    for path in ("/feed.xml", "/feed.atom", "/feed.json", "/"):
        assert url in client.get(path).get_data(as_text=True)
    assert httpserver.log == []
    # A link has no known size or type: it is in the content, not an enclosure.
    assert "enclosure" not in client.get("/feed.atom").get_data(as_text=True)


def test_this_sites_media_url_becomes_the_stored_file(app):
    """The address the media endpoint returned resolves to the stored file, with its size and type."""
    photo = stored_photo(app, "Mine", (33, 22))
    with app.test_request_context():
        again = Photo.from_url(f"{SITE}/media/{photo.file_name}", "Mine again")
        assert (again.file_name, again.width, again.height, again.content_type) == (
            photo.file_name,
            33,
            22,
            "image/png",
        )
        with pytest.raises(ValueError, match="no photo is stored"):
            Photo.from_url(f"{SITE}/media/{'0' * 32}.png")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "ftp://example.com/a.jpg",
        "https://",
        "/relative.jpg",
        "https://example.com/a b.jpg",
        "https://example.com/" + "a" * 2000,
    ],
)
def test_unusable_photo_urls_are_refused(app, url):
    """Only absolute http(s) URLs without spaces, of sane length, are accepted as photo links."""
    with app.test_request_context(), pytest.raises(ValueError):
        Photo.from_url(url)


def test_a_fifth_photo_is_refused_by_the_store(app, database):
    """MAX_PHOTOS is 4: a note with five is not stored at all."""
    photos = [stored_photo(app, f"Photo {n}") for n in range(5)]
    with app.test_request_context(), pytest.raises(store.NoteError, match="at most 4 photos"):
        store.create_note("Too many", True, photos=photos)
    assert database.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


def test_update_keeps_replaces_or_removes_photos(app, database):
    """photos=None keeps them; a list replaces them in its order; [] removes them. The files stay."""
    one, two = stored_photo(app, "One"), stored_photo(app, "Two")
    note = note_with(app, "Photos change", [one, two])
    with app.test_request_context():
        assert [p.alt for p in store.update_note(note["id"], "Text only", True)["photos"]] == ["One", "Two"]
        swapped = store.update_note(note["id"], "Swapped", True, photos=[two.with_alt("  Two,\n renamed "), one])
        assert [(p.file_name, p.alt) for p in swapped["photos"]] == [
            (two.file_name, "Two, renamed"),
            (one.file_name, "One"),
        ]
        assert store.update_note(note["id"], "None", True, photos=[])["photos"] == []
    assert (media.media_folder(app.config["DATA_PATH"]) / one.file_name).exists()


def test_alt_text_with_markup_is_escaped_on_pages_and_in_feeds(app, client, owner):
    """Alt text is text everywhere: pages, the admin form, RSS, Atom and JSON Feed."""
    payload = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    photo = stored_photo(app, payload)
    note = note_with(app, "Escaped alt", [photo])
    for path in ("/", f"/note/{note['slug']}", f"/admin/edit/{note['id']}"):
        html = owner.get(path).text
        assert "<script>alert(1)" not in html and "<img src=x" not in html, path
        assert 'alt="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"' in html, path
    for path in ("/feed.xml", "/feed.atom"):
        (content,) = raw_contents(client.get(path).data)
        assert "<script>" not in content and "<img src=x" not in content
        assert 'alt="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"' in content
    content = client.get("/feed.json").get_json()["items"][0]["content_html"]
    assert "<script>" not in content and "&lt;script&gt;" in content


def test_feeds_carry_photos_as_enclosures_images_and_attachments(app, client):
    """RSS: an enclosure (the first photo); Atom: link rel=enclosure for each; JSON: image and attachments."""
    one, two = stored_photo(app, "One", (40, 30)), stored_photo(app, "Two", (20, 10), "JPEG")
    note_with(app, "Feed photos", [one, two], tags=["photos"])
    urls = [f"{SITE}/media/{one.file_name}", f"{SITE}/media/{two.file_name}"]
    for path in ("/feed.xml", "/tag/photos/feed.xml"):
        rss = feedparser.parse(client.get(path).data, sanitize_html=False)
        assert rss.bozo == 0
        entry = rss.entries[0]
        assert [(e.href, e.type, int(e.length)) for e in entry.enclosures] == [(urls[0], "image/png", one.size_bytes)]
        (html,) = raw_contents(client.get(path).data)
        assert all(f'<img src="{url}"' in html for url in urls)
    atom = feedparser.parse(client.get("/feed.atom").data, sanitize_html=False)
    enclosures = [(link.href, link.type) for link in atom.entries[0].links if link.rel == "enclosure"]
    assert enclosures == [(urls[0], "image/png"), (urls[1], "image/jpeg")]
    assert 'alt="Two" width="20" height="10"' in raw_contents(client.get("/feed.atom").data)[0]
    item = client.get("/feed.json").get_json()["items"][0]
    assert item["image"] == urls[0]
    assert item["attachments"] == [
        {"url": urls[0], "mime_type": "image/png", "size_in_bytes": one.size_bytes},
        {"url": urls[1], "mime_type": "image/jpeg", "size_in_bytes": two.size_bytes},
    ]
    assert item["tags"] == ["photos"]


def test_the_author_h_card_carries_the_configured_photo(make_app):
    """With AUTHOR_PHOTO the home page's and permalink's author h-card have a u-photo; without it, none."""
    app = make_app(AUTHOR_PHOTO="https://owner.example/me.jpg")
    note = note_with(app, "Author photo", [])
    client = app.test_client()
    home = mf2py.parse(doc=client.get("/").text, url=SITE + "/")
    (feed,) = [item for item in home["items"] if "h-feed" in item["type"]]
    author = feed["properties"]["author"][0]["properties"]
    assert author["photo"][0]["value"] == "https://owner.example/me.jpg"
    assert author["name"] == ["Ada Owner"] and author["url"] == ["https://owner.example/"]
    permalink = mf2py.parse(doc=client.get(f"/note/{note['slug']}").text, url=SITE + "/")
    (entry,) = [item for item in permalink["items"] if "h-entry" in item["type"]]
    assert entry["properties"]["author"][0]["properties"]["photo"][0]["value"] == "https://owner.example/me.jpg"
    plain = make_app(AUTHOR_PHOTO="")
    assert "u-photo" not in plain.test_client().get("/").text


def test_alt_text_of_exactly_max_alt_chars_is_kept_and_one_more_refused(app):
    """MAX_ALT_CHARS characters of description are kept (after tidying spaces); one more is refused."""
    from starpunk.photos import MAX_ALT_CHARS, clean_alt

    assert clean_alt("a" * MAX_ALT_CHARS) == "a" * MAX_ALT_CHARS
    assert clean_alt("  " + "a" * MAX_ALT_CHARS + "  ") == "a" * MAX_ALT_CHARS
    with pytest.raises(ValueError, match="1,500"):
        clean_alt("a" * (MAX_ALT_CHARS + 1))
    with app.test_request_context(), pytest.raises(store.NoteError):
        store.validate_alt("a" * (MAX_ALT_CHARS + 1))


def test_a_photo_url_of_exactly_max_url_chars_is_kept_and_one_more_refused(app):
    """A link of MAX_URL_CHARS characters is kept whole, with its alt text; one character more is refused."""
    from starpunk.photos import MAX_URL_CHARS

    url = "https://example.com/" + "a" * (MAX_URL_CHARS - len("https://example.com/"))
    with app.test_request_context():
        photo = Photo.from_url(url, "Alt")
        assert (photo.url, photo.alt, photo.file_name, photo.src) == (url, "Alt", None, url)
        with pytest.raises(ValueError) as refused:
            Photo.from_url(url + "a")
    assert str(refused.value) == "A photo's address must be an http(s) URL of at most 2000 characters."


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("  https://example.com/a.jpg\n", "https://example.com/a.jpg"),
        ("http://example.com/!~", "http://example.com/!~"),
        ("https://example.com/a\x7fb.jpg", None),
        ("https://example.com/a\tb.jpg", None),
        ("https://example.com/a\x00b.jpg", None),
    ],
)
def test_a_photo_url_is_trimmed_and_refused_only_for_spaces_or_control_characters(app, url, kept):
    """Whitespace around the address is dropped; printable ASCII is kept; DEL, tabs and NULs inside are refused."""
    with app.test_request_context():
        if kept is not None:
            assert (Photo.from_url(url).url, Photo.from_url(url).alt) == (kept, "")
            return
        with pytest.raises(ValueError) as refused:
            Photo.from_url(url)
    assert str(refused.value) == "A photo's address cannot contain spaces or control characters."


def test_a_missing_photo_url_is_refused(app):
    """No address at all is refused like any other unusable one."""
    with app.test_request_context(), pytest.raises(ValueError, match="http\\(s\\) URL"):
        Photo.from_url(None)


def test_this_sites_media_url_keeps_the_alt_text_given_with_it(app):
    """A photo sent back by its /media/ address keeps the description sent with it; an unknown file is named so."""
    photo = stored_photo(app, "First words")
    with app.test_request_context():
        assert Photo.from_url(f"{SITE}/media/{photo.file_name}", "Second words").alt == "Second words"
        assert Photo.from_url(f"{SITE}/media/{photo.file_name}").alt == ""
        with pytest.raises(ValueError) as refused:
            Photo.from_url(f"{SITE}/media/{'0' * 32}.png", "Alt")
    assert str(refused.value) == "That photo address is on this site, but no photo is stored there."
