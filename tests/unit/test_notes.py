"""Public pages: the paginated index, permalinks, microformats2 and feed autodiscovery."""

from datetime import datetime
from html.parser import HTMLParser

import mf2py
import pytest

SITE = "http://localhost"


class HeadLinks(HTMLParser):
    """Collect the <link> elements inside <head>, and count <h1> elements in the page."""

    def __init__(self, markup):
        super().__init__()
        self.in_head = False
        self.links = []
        self.h1 = 0
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self.in_head = True
        elif tag == "link" and self.in_head:
            self.links.append(dict(attrs))
        elif tag == "h1":
            self.h1 += 1

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False

    def rel(self, rel):
        """Return the links with this rel."""
        return [link for link in self.links if rel in (link.get("rel") or "").split()]


def entries(html):
    """Return the h-entry items inside the page's h-feed."""
    parsed = mf2py.parse(doc=html, url=SITE + "/")
    feeds = [item for item in parsed["items"] if "h-feed" in item["type"]]
    assert len(feeds) == 1, parsed["items"]
    return [child for child in feeds[0].get("children", []) if "h-entry" in child["type"]]


def test_empty_site_is_a_friendly_page(client):
    """A brand-new site shows its name and says there are no notes yet."""
    response = client.get("/")
    assert response.status_code == 200
    assert "Test Notes" in response.text
    assert "No notes yet" in response.text
    assert entries(response.text) == []


def test_index_lists_published_notes_newest_first(client, add_notes):
    """Readers see published notes only, the latest at the top."""
    add_notes(["Oldest note", "Middle note", "Newest note"])
    add_notes(["Secret draft"], published=False)
    html = client.get("/").text
    texts = [entry["properties"]["content"][0]["value"] for entry in entries(html)]
    assert texts == ["Newest note", "Middle note", "Oldest note"]
    assert "Secret draft" not in html


def test_index_pages_hold_20_notes_with_prev_and_next(client, add_notes):
    """45 notes make three pages (20, 20, 5), each cut at a note and linked with rel=prev/next."""
    notes = add_notes([f"Note number {n}" for n in range(1, 46)])
    ids = {n: note["id"] for n, note in enumerate(notes, start=1)}

    first = client.get("/")
    assert len(entries(first.text)) == 20
    assert "Note number 45" in first.text and "Note number 26" in first.text
    head = HeadLinks(first.text)
    assert [link["href"] for link in head.rel("next")] == [f"/?before={ids[26]}"]
    assert head.rel("prev") == []

    second = client.get(f"/?before={ids[26]}")
    assert second.status_code == 200
    assert len(entries(second.text)) == 20
    assert "Note number 25" in second.text and "Note number 6" in second.text
    head = HeadLinks(second.text)
    assert [link["href"] for link in head.rel("prev")] == ["/"]
    assert [link["href"] for link in head.rel("next")] == [f"/?before={ids[6]}"]
    assert f'rel="next" href="/?before={ids[6]}"' in second.text  # a visible link, not only <head>

    third = client.get(f"/?before={ids[6]}")
    texts = [entry["properties"]["content"][0]["value"] for entry in entries(third.text)]
    assert texts == [f"Note number {n}" for n in range(5, 0, -1)]
    head = HeadLinks(third.text)
    assert head.rel("next") == []
    assert [link["href"] for link in head.rel("prev")] == [f"/?after={ids[5]}"]
    back = client.get(f"/?after={ids[5]}")
    assert [entry["properties"]["content"][0]["value"] for entry in entries(back.text)] == [
        f"Note number {n}" for n in range(25, 5, -1)
    ]


@pytest.mark.parametrize("page", ["0", "-1", "abc", "2", "99", "1.5", "", "9" * 40, "１", "²", "١"])
def test_unknown_old_page_numbers_are_404_pages(client, add_notes, page):
    """A page number that does not exist is a 404 page, never a crash."""
    add_notes(["Only note"])
    response = client.get("/", query_string={"page": page})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Traceback" not in response.text


def test_permalink_shows_a_published_note(client, add_notes):
    """/note/<slug> shows the note, with its text as the page title."""
    (note,) = add_notes(["A *fine* day at the beach"])
    response = client.get(f"/note/{note['slug']}")
    assert response.status_code == 200
    assert "<em>fine</em>" in response.text
    assert "<title>A fine day at the beach – Test Notes</title>" in response.text
    canonical = HeadLinks(response.text).rel("canonical")
    assert [link["href"] for link in canonical] == [f"{SITE}/note/{note['slug']}"]


def test_permalink_page_has_exactly_one_h1(client, add_notes):
    """Headings in a note are demoted, so the page title stays the only h1."""
    (note,) = add_notes(["# My heading\n\nAnd text"])
    assert HeadLinks(client.get(f"/note/{note['slug']}").text).h1 == 1


def test_drafts_deleted_and_unknown_notes_have_no_page(app, client, add_notes):
    """Only published notes have a public page: a deleted one is 410 Gone, drafts and unknown slugs 404."""
    from starpunk import store

    (draft,) = add_notes(["Not ready"], published=False)
    (deleted_draft,) = add_notes(["Never shown"], published=False)
    (gone,) = add_notes(["Removed"])
    with app.app_context():
        store.delete_note(gone["id"])
        store.delete_note(deleted_draft["id"])
    for slug in (draft["slug"], deleted_draft["slug"], "no-such-note", "UPPER", "..%2f..%2fetc"):
        response = client.get(f"/note/{slug}")
        assert response.status_code == 404, slug
        assert "Not ready" not in response.text and "Never shown" not in response.text
    response = client.get(f"/note/{gone['slug']}")
    assert response.status_code == 410
    assert "<h1>Gone</h1>" in response.text and "deleted by its author" in response.text
    assert "Removed" not in response.text


def test_an_undeleted_note_is_back(app, client, add_notes):
    """Undeleting brings the note back to its permalink, the index and the feeds."""
    from starpunk import store

    (note,) = add_notes(["Back from the bin"])
    with app.app_context():
        store.delete_note(note["id"])
        assert client.get(f"/note/{note['slug']}").status_code == 410
        store.undelete_note(note["id"])
        with pytest.raises(LookupError):
            store.undelete_note(note["id"])
    assert client.get(f"/note/{note['slug']}").status_code == 200
    assert "Back from the bin" in client.get("/").text
    assert "Back from the bin" in client.get("/feed.json").text


def test_h_entry_on_the_permalink(client, add_notes):
    """Each note is an h-entry with e-content, dt-published, u-url and an author h-card."""
    (note,) = add_notes(["Microformats **rock**"])
    parsed = mf2py.parse(doc=client.get(f"/note/{note['slug']}").text, url=SITE + "/")
    (entry,) = [item for item in parsed["items"] if "h-entry" in item["type"]]
    props = entry["properties"]
    assert props["content"][0]["html"] == "<p>Microformats <strong>rock</strong></p>"
    assert props["url"] == [f"{SITE}/note/{note['slug']}"]
    published = datetime.fromisoformat(props["published"][0])
    assert published == datetime.fromisoformat(note["published_at"]).replace(microsecond=0)
    author = props["author"][0]
    assert "h-card" in author["type"]
    assert author["properties"]["name"] == ["Ada Owner"]
    assert author["properties"]["url"] == ["https://owner.example/"]


def test_h_feed_on_the_index_with_an_author_h_card(client, add_notes):
    """The index is an h-feed of h-entries, each with a permalink, and names its author."""
    notes = add_notes(["One", "Two"])
    html = client.get("/").text
    parsed = mf2py.parse(doc=html, url=SITE + "/")
    (feed,) = [item for item in parsed["items"] if "h-feed" in item["type"]]
    assert feed["properties"]["name"] == ["Test Notes"]
    author = feed["properties"]["author"][0]
    assert author["properties"]["name"] == ["Ada Owner"]
    urls = [entry["properties"]["url"][0] for entry in entries(html)]
    assert urls == [f"{SITE}/note/{note['slug']}" for note in reversed(notes)]
    for entry in entries(html):
        assert {"content", "published", "url"} <= set(entry["properties"])
    cards = [item for item in parsed["items"] if "h-card" in item["type"]]
    assert cards and cards[0]["properties"]["url"] == ["https://owner.example/"]


def test_permalinks_use_site_url_whatever_the_host_header(client, add_notes):
    """Links in pages are built from SITE_URL, so a spoofed Host header cannot change them."""
    (note,) = add_notes(["Host safe"])
    html = client.get("/", headers={"Host": "evil.example"}).text
    assert f"{SITE}/note/{note['slug']}" in html
    assert "evil.example/note" not in html


FEED_TYPES = {
    "application/rss+xml": "/feed.xml",
    "application/atom+xml": "/feed.atom",
    "application/feed+json": "/feed.json",
}


@pytest.mark.parametrize("path", ["/", "/{year}/", "/tags", "/note/{slug}", "/note/missing", "/auth/login"])
def test_every_page_advertises_all_three_feeds(make_app, add_notes, path):
    """Feed readers find RSS, Atom and JSON Feed from any page's <head>."""
    app = make_app(DEV_MODE=True)  # so /auth/login is a page, not a redirect
    (note,) = add_notes(["Discover me"])
    response = app.test_client().get(path.format(slug=note["slug"], year=note["published_at"][:4]))
    assert response.mimetype == "text/html"
    found = {link["type"]: link["href"] for link in HeadLinks(response.text).rel("alternate")}
    assert found == FEED_TYPES


def test_owner_pages_advertise_the_feeds_too(owner):
    """Admin pages share the same head."""
    found = {link["type"]: link["href"] for link in HeadLinks(owner.get("/admin").text).rel("alternate")}
    assert found == FEED_TYPES


@pytest.mark.parametrize(
    ("query", "location"),
    [
        ("?tag=x", "/tag/python"),
        ("?_method=POST", "/tag/python"),
        ("?tag=a&tag=b", "/tag/python"),
        ("?_external=1", "/tag/python"),
        ("?_external=1&_scheme=https", "/tag/python"),
        ("?_anchor=top", "/tag/python"),
        ("?page=1&_external=1", "/tag/python?page=1"),
    ],
)
def test_a_tags_redirect_is_built_from_the_route_alone(app, client, query, location):
    """/tag/Python?tag=x (or url_for's own options) is a relative 301 to the tag's page, never a 500 or another host."""
    from starpunk import store

    with app.app_context():
        store.create_note("Snakes", True, tags=["python"])
    response = client.get(f"/tag/Python{query}", headers={"Host": "evil.example"})
    assert response.status_code == 301
    assert response.headers["Location"] == location
