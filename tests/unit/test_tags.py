"""Tags: normalised once, shown as p-category links, each with its paginated page and its three feeds."""

import feedparser
import mf2py
import pytest

from starpunk import store
from starpunk.paging import PAGE_SIZE
from starpunk.tags import MAX_TAG_CHARS, MAX_TAGS, clean_tags, normalise_tag, parse_tags

SITE = "http://localhost"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Python", "python"),
        ("  #IndieWeb ", "indieweb"),
        ("New   York\tCity", "new york city"),
        ("ＦＵＬＬＷＩＤＴＨ", "fullwidth"),  # NFKC
        ("Café", "café"),
        ("日本語", "日本語"),
        ("a/b", "a-b"),
        ("<script>alert(1)</script>", "<script>alert(1)<-script>"),
        ("zero\u200bwidth\x00", "zerowidth"),
        ("# #a", "a"),
        ("## Web", "web"),
        ("C#", "c#"),
    ],
)
def test_tags_are_normalised(raw, stored):
    """Case, spacing, width forms, leading #s (and spaces between them) and slashes are normalised; the rest is kept.

    Normalising a stored tag again gives the same tag.
    """
    assert normalise_tag(raw) == stored
    assert normalise_tag(stored) == stored


@pytest.mark.parametrize("raw", ["", "   ", "#", "# #", ".", "..", "x" * (MAX_TAG_CHARS + 1)])
def test_unusable_tags_are_refused(raw):
    """Empty tags, dot segments (which browsers would resolve away) and overlong tags are refused."""
    with pytest.raises(ValueError):
        normalise_tag(raw)


def test_clean_tags_keeps_order_and_drops_duplicates():
    """Tags stay in the order given; the same tag twice (in any spelling) is kept once."""
    assert clean_tags(["Zebra", "apple", "ZEBRA", " ", "#apple", "mango"]) == ["zebra", "apple", "mango"]
    with pytest.raises(ValueError):
        clean_tags([f"t{n}" for n in range(MAX_TAGS + 1)])
    assert parse_tags("one, two ,,three") == ["one", " two ", "three"]


def tagged(app, content, tags=(), published=True):
    """Store a note with tags and return it."""
    with app.app_context():
        return store.create_note(content, published, tags=tags)


def test_tags_are_stored_in_order_and_replaced_or_kept_on_update(app, database):
    """update_note with tags=None keeps them, a list replaces them, [] removes them; each write bumps the generation."""
    note = tagged(app, "Tagged", ["b", "a", "c"])
    assert note["tags"] == ["b", "a", "c"]

    def generation() -> int:
        return int(database.execute("SELECT value FROM site_state WHERE key = 'content_generation'").fetchone()[0])

    before = generation()
    with app.app_context():
        assert store.update_note(note["id"], "Edited", True)["tags"] == ["b", "a", "c"]
        assert store.update_note(note["id"], "Edited", True, tags=["Z", "b"])["tags"] == ["z", "b"]
        assert store.update_note(note["id"], "Edited", True, tags=[])["tags"] == []
    assert generation() == before + 3
    assert database.execute("SELECT count(*) FROM note_tags").fetchone()[0] == 0


def test_a_bad_tag_refuses_the_whole_note(app, database):
    """A note with an unusable tag is not stored at all."""
    with app.app_context(), pytest.raises(store.NoteError):
        store.create_note("Refused", True, tags=["fine", ".."])
    assert database.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


def test_notes_show_their_tags_as_p_category_links(app, client):
    """Each tag is a p-category link to its page, on the index and the permalink."""
    note = tagged(app, "Linked tags", ["IndieWeb", "new york"])
    for path in ("/", f"/note/{note['slug']}"):
        parsed = mf2py.parse(doc=client.get(path).text, url=SITE + "/")
        entries = [item for item in parsed["items"] if "h-entry" in item["type"]]
        entries += [
            child for item in parsed["items"] for child in item.get("children", []) if "h-entry" in child["type"]
        ]
        assert entries[0]["properties"]["category"] == ["indieweb", "new york"]
    html = client.get("/").text
    assert 'href="/tag/indieweb"' in html and 'href="/tag/new%20york"' in html


def test_the_tag_page_lists_only_published_notes_with_that_tag(app, client):
    """/tag/<tag> shows the published notes carrying the tag, newest first, and nothing else."""
    tagged(app, "First cat", ["cats"])
    tagged(app, "A dog", ["dogs"])
    tagged(app, "Draft cat", ["cats"], published=False)
    tagged(app, "Second cat", ["cats", "pets"])
    page = client.get("/tag/cats")
    assert page.status_code == 200
    text = page.text
    assert "Second cat" in text and "First cat" in text
    assert text.index("Second cat") < text.index("First cat")
    assert "A dog" not in text and "Draft cat" not in text
    assert "Notes tagged “cats”" in text
    for suffix in ("feed.xml", "feed.atom", "feed.json"):
        assert f'href="/tag/cats/{suffix}"' in text


def test_the_tag_page_is_paginated_like_the_index(app, client):
    """PAGE_SIZE notes a page, with prev/next links that keep the tag; old numbered pages redirect."""
    with app.app_context():
        ids = [store.create_note(f"Paged note {n}", True, tags=["paged"])["id"] for n in range(PAGE_SIZE + 1)]
    first = client.get("/tag/paged").text
    assert first.count('class="h-entry') == PAGE_SIZE
    assert f'href="/tag/paged?before={ids[1]}"' in first
    second = client.get(f"/tag/paged?before={ids[1]}")
    assert second.status_code == 200 and second.text.count('class="h-entry') == 1
    assert "Paged note 0" in second.text and 'href="/tag/paged"' in second.text
    assert client.get("/tag/paged?page=2").headers["Location"] == f"/tag/paged?before={ids[1]}"
    assert client.get("/tag/paged?page=3").status_code == 404
    assert client.get("/tag/paged?page=x").status_code == 404
    assert client.get(f"/tag/paged?before={ids[0]}").status_code == 404  # past the last note


@pytest.mark.parametrize(
    "path", ["/tag/unknown", "/tag/unknown/feed.xml", "/tag/unknown/feed.json", "/tag/..", "/tag/%2e%2e"]
)
def test_a_tag_no_published_note_carries_is_404(app, client, path):
    """Unknown tags, tags only drafts carry, and dot segments are 404 (as JSON for .json)."""
    tagged(app, "Draft only", ["unknown"], published=False)
    response = client.get(path)
    assert response.status_code == 404


def test_another_spelling_of_a_tag_redirects_to_its_page(app, client):
    """/tag/Python and its feeds redirect (301) to the normalised tag's address."""
    tagged(app, "Snakes", ["python"])
    response = client.get("/tag/Python?page=1")
    assert response.status_code == 301
    assert response.headers["Location"] == "/tag/python?page=1"
    assert client.get("/tag/PYTHON/feed.atom").headers["Location"] == "/tag/python/feed.atom"


def test_tag_names_with_markup_are_escaped_everywhere(app, client, owner):
    """A tag holding markup is text on pages, in the admin form and in every feed; it never becomes an element."""
    payload = '<img src=x onerror=alert(1)>"'
    note = tagged(app, "Escaping", [payload])
    tag = normalise_tag(payload)
    quoted = "%3Cimg%20src=x%20onerror=alert(1)%3E%22"
    for path in ("/", f"/note/{note['slug']}", f"/tag/{quoted}", f"/admin/edit/{note['id']}"):
        response = owner.get(path)
        assert response.status_code == 200, path
        assert "<img src=x" not in response.text, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in response.text, path
    for suffix in ("feed.xml", "feed.atom"):
        for path in (f"/{suffix}", f"/tag/{quoted}/{suffix}"):
            body = client.get(path).data
            assert b"<img src=x" not in body, path
            parsed = feedparser.parse(body, sanitize_html=False)
            assert parsed.bozo == 0
            assert [term["term"] for term in parsed.entries[0].tags] == [tag]
    assert client.get(f"/tag/{quoted}/feed.json").get_json()["items"][0]["tags"] == [tag]


@pytest.mark.parametrize("suffix", ["feed.xml", "feed.atom", "feed.json"])
def test_each_tag_has_its_own_feeds(app, client, suffix):
    """A tag's feeds hold exactly its published notes, title and self link naming the tag."""
    tagged(app, "Tagged one", ["unicode ☃"])
    tagged(app, "Untagged")
    tagged(app, "Tagged two", ["unicode ☃", "extra"])
    response = client.get(f"/tag/unicode%20☃/{suffix}")
    assert response.status_code == 200
    if suffix == "feed.json":
        document = response.get_json()
        assert [item["title"] for item in document["items"]] == ["Tagged two", "Tagged one"]
        assert document["feed_url"] == f"{SITE}/tag/unicode%20%E2%98%83/feed.json"
        assert "unicode ☃" in document["title"]
        return
    parsed = feedparser.parse(response.data, sanitize_html=False)
    assert parsed.bozo == 0
    assert [entry.title for entry in parsed.entries] == ["Tagged two", "Tagged one"]
    assert "unicode ☃" in parsed.feed.title
    assert parsed.entries[0].tags[0]["term"] == "unicode ☃"
    assert [tag["term"] for tag in parsed.entries[0].tags] == ["unicode ☃", "extra"]


def test_tag_feeds_follow_edits_in_any_worker(make_app):
    """Tag feeds are cached per worker but rebuilt as soon as any worker changes a note's tags."""
    worker_a, worker_b = make_app(FEED_CACHE_SECONDS=300), make_app(FEED_CACHE_SECONDS=300)
    note = tagged(worker_a, "Moving note", ["before"])
    tagged(worker_a, "Stays", ["after"])
    reader = worker_b.test_client()
    assert b"Moving note" not in reader.get("/tag/after/feed.xml").data
    with worker_a.app_context():
        store.update_note(note["id"], "Moving note", True, tags=["after"])
    assert b"Moving note" in reader.get("/tag/after/feed.xml").data
    assert reader.get("/tag/before/feed.xml").status_code == 404


def test_a_tag_of_exactly_max_tag_chars_is_kept_and_one_more_refused():
    """MAX_TAG_CHARS characters make a tag; MAX_TAG_CHARS + 1 do not."""
    assert normalise_tag("x" * MAX_TAG_CHARS) == "x" * MAX_TAG_CHARS
    with pytest.raises(ValueError, match=str(MAX_TAG_CHARS)):
        normalise_tag("x" * (MAX_TAG_CHARS + 1))


def test_exactly_max_tags_are_kept_and_one_more_refused():
    """A note takes MAX_TAGS tags (duplicates do not count); MAX_TAGS + 1 distinct ones are refused."""
    names = [f"t{n}" for n in range(MAX_TAGS)]
    assert clean_tags([*names, *names]) == names
    with pytest.raises(ValueError, match=str(MAX_TAGS)):
        clean_tags([*names, "one-more"])
