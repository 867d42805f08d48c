"""What crawlers and link previews read: page metadata, fingerprinted static files, robots.txt."""

import itertools
from html.parser import HTMLParser

import pytest

from tests.unit.test_photos import note_with, stored_photo

SITE = "http://localhost"


class HeadMeta(HTMLParser):
    """Collect a page's <meta> and <link rel=canonical> as a link preview reads them (entities decoded)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.meta, self.canonical, self.headings = {}, [], []
        self._heading = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "meta" and ("name" in found or "property" in found):
            key = found.get("property") or found["name"]
            assert key not in self.meta, f"{key} given twice"
            self.meta[key] = found.get("content")
        elif tag == "link" and found.get("rel") == "canonical":
            self.canonical.append(found["href"])
        elif tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self._heading = [int(tag[1]), ""]

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data

    def handle_endtag(self, tag):
        if self._heading is not None and tag == f"h{self._heading[0]}":
            self.headings.append((self._heading[0], " ".join(self._heading[1].split())))
            self._heading = None


def page_meta(client, path):
    """Return the parsed metadata of the page at path (which must answer 200)."""
    response = client.get(path)
    assert response.status_code == 200, response.status
    return HeadMeta(response.text)


def fetch(client, path):
    """Return the whole response to path, its file closed (static files are streamed)."""
    with client.get(path) as response:
        response.get_data()
    return response


def assert_outline(headings):
    """One h1 first, and each heading at most one level below the one before it."""
    levels = [level for level, _ in headings]
    assert levels[0] == 1 and levels.count(1) == 1, headings
    for before, after in itertools.pairwise(levels):
        assert after <= before + 1, headings


TRICKY = (
    '# Café "crème" & <b>brûlée</b>\n\n'
    "A <em>rich</em> **dessert** from Lyon, '50s style — «très bon».\n\n"
    "#### Deep\n\nEnd."
)


def test_a_note_with_markup_quotes_and_accents_previews_as_plain_text(app, client):
    """The title and description are the note's plain text, quotes and accents intact, no tag left."""
    note = note_with(app, TRICKY, [])
    meta = page_meta(client, f"/note/{note['slug']}")
    assert meta.meta["og:title"] == meta.meta["twitter:title"] == 'Café "crème" & brûlée'
    expected = "A rich dessert from Lyon, '50s style — «très bon». Deep End."
    assert meta.meta["description"] == meta.meta["og:description"] == meta.meta["twitter:description"] == expected
    assert meta.canonical == [meta.meta["og:url"]] == [f"{SITE}/note/{note['slug']}"]
    assert meta.meta["og:type"] == "article" and meta.meta["og:site_name"] == "Test Notes"
    assert meta.meta["twitter:card"] == "summary" and "og:image" not in meta.meta


def test_a_long_note_is_described_in_at_most_160_characters_cut_at_a_word(app, client):
    """A long note's description ends at a whole word with an ellipsis."""
    note = note_with(app, "Ünïcode wörds " * 40, [])
    description = page_meta(client, f"/note/{note['slug']}").meta["description"]
    assert len(description) <= 160 and description.endswith("wörds…"), description


def test_the_first_photo_is_the_preview_image_with_its_alt_text_and_size(app, client):
    """og:image is the first photo's absolute address, with alt text and dimensions; a large card."""
    first = stored_photo(app, 'A "red" square <3', (40, 30))
    note = note_with(app, "Two photos", [first, stored_photo(app, "Second", (20, 10))])
    meta = page_meta(client, f"/note/{note['slug']}").meta
    assert meta["og:image"] == meta["twitter:image"] == f"{SITE}/media/{first.file_name}"
    assert meta["og:image:alt"] == meta["twitter:image:alt"] == 'A "red" square <3'
    assert (meta["og:image:width"], meta["og:image:height"]) == ("40", "30")
    assert meta["twitter:card"] == "summary_large_image"


@pytest.mark.parametrize(
    ("path", "canonical"),
    [("/", f"{SITE}/"), ("/?before={cut}", SITE + "/?before={cut}"), ("/tag/food", f"{SITE}/tag/food")],
)
def test_lists_carry_the_site_description_and_their_own_canonical_address(make_app, path, canonical):
    """The index and its later pages describe the site (SITE_DESCRIPTION); a tag page names its tag."""
    app = make_app(SITE_DESCRIPTION='Short notes on "food" & more')
    notes = [note_with(app, f"Note {number}", [], tags=["food"]) for number in range(21)]
    path, canonical = path.format(cut=notes[1]["id"]), canonical.format(cut=notes[1]["id"])
    meta = page_meta(app.test_client(), path)
    assert meta.canonical == [canonical] and meta.meta["og:url"] == canonical
    expected = "Notes tagged “food” by Ada Owner." if "tag" in path else 'Short notes on "food" & more'
    assert meta.meta["description"] == meta.meta["og:description"] == expected
    assert meta.meta["og:type"] == "website"


def test_without_site_description_lists_say_whose_notes_they_are(client):
    """The default description names the author."""
    assert page_meta(client, "/").meta["description"] == "Notes by Ada Owner."


def test_the_index_names_the_site_once_and_notes_headings_follow_its_h1(app, client):
    """The site name is shown once (the h1 is for screen readers); a note's ## is an h2 there, not an h3."""
    note_with(app, "## Travel\n\nText\n\n#### Detail", [])
    response = client.get("/")
    body = response.text[response.text.index("<body>") :]
    assert body.count(">Test Notes<") == 2  # the header's link, and the h1 hidden from sight
    assert 'class="p-name visually-hidden">Test Notes</h1>' in response.text
    headings = HeadMeta(response.text).headings
    assert headings == [(1, "Test Notes"), (2, "Travel"), (3, "Detail"), (2, "Archive")]
    assert_outline(headings)


def test_a_permalink_shows_its_heading_once_as_the_page_title(app, client):
    """A note opening with a heading has it as the page's only h1; its other headings nest below."""
    note = note_with(app, TRICKY, [])
    headings = page_meta(client, f"/note/{note['slug']}").headings
    assert headings == [(1, 'Café "crème" & brûlée'), (2, "Deep")]


def test_a_note_without_heading_gets_a_title_for_screen_readers_only(app, client):
    """Its first line is the h1, visually hidden, so sighted readers do not see it twice."""
    note = note_with(app, "Just a thought.\n\n### Then a heading", [])
    response = client.get(f"/note/{note['slug']}")
    assert '<h1 class="note-title visually-hidden">Just a thought.</h1>' in response.text
    assert HeadMeta(response.text).headings == [(1, "Just a thought."), (2, "Then a heading")]


def test_error_pages_are_described_but_claim_no_canonical_address(client):
    """A 404 has a description and no canonical link."""
    response = client.get("/note/nothing-here")
    assert response.status_code == 404
    meta = HeadMeta(response.text)
    assert meta.canonical == [] and meta.meta["description"] == "There is no note at this address."


def test_every_page_has_a_skip_link_to_its_main_content(client):
    """The first link of the body skips to <main id="main">."""
    text = client.get("/").text
    body = text[text.index("<body>") :]
    assert body.index('href="#main"') < body.index("<a ", body.index('href="#main"') + 1)
    assert '<main id="main"' in text


def test_static_files_under_their_current_fingerprint_are_cached_a_year(client):
    """The linked stylesheet is immutable for a year; the same file under another fingerprint is revalidated."""
    page = client.get("/").text
    address = page.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert address.startswith("/static/style.css?v=")
    linked = fetch(client, address)
    assert linked.status_code == 200
    assert linked.cache_control.immutable and linked.cache_control.public
    assert linked.cache_control.max_age == 365 * 24 * 3600 and not linked.cache_control.no_cache
    for stale in ("/static/style.css?v=0.6.0", "/static/style.css"):
        reply = fetch(client, stale)
        assert reply.status_code == 200 and reply.cache_control.no_cache and not reply.cache_control.immutable


def test_a_changed_static_file_gets_a_new_address(app, client, tmp_path):
    """The fingerprint follows the file's content, so a new release's stylesheet is never read from an old cache."""
    app.static_folder = str(tmp_path)
    sheet = tmp_path / "style.css"
    sheet.write_text("body { color: red; }")
    before = client.get("/").text.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    sheet.write_text("body { color: blue; } /* longer */")
    after = client.get("/").text.split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert before != after
    assert fetch(client, after).cache_control.immutable
    assert fetch(client, before).cache_control.no_cache


def test_robots_txt_keeps_crawlers_out_of_the_owners_pages_and_lists_the_feeds(client):
    """robots.txt is plain text: the owner's paths disallowed, the RSS and Atom feeds as sitemaps."""
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.text.splitlines()
    assert lines[0] == "User-agent: *"
    assert {"Disallow: /admin", "Disallow: /auth/", "Disallow: /indieauth/", "Disallow: /micropub"} <= set(lines)
    assert f"Sitemap: {SITE}/feed.xml" in lines and f"Sitemap: {SITE}/feed.atom" in lines
    assert "Disallow: /" not in lines


@pytest.mark.parametrize("path", ["/", "/admin", "/admin/new"])
def test_no_id_is_used_twice_on_a_page(owner, path):
    """Labels, ARIA and the skip link point at one element each: every id on the page is unique."""
    ids = []

    class Ids(HTMLParser):
        def handle_starttag(self, tag, attrs):
            ids.extend(value for name, value in attrs if name == "id")

    Ids().feed(owner.get(path).text)
    assert "main" in ids and len(ids) == len(set(ids)), sorted(ids)
