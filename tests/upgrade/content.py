"""What a site holds and shows.

Notes written through its admin pages, and each note as its page and the three feeds give it.

A reading keeps each note's own content fragment (the inside of its
`e-content` element, each feed's content field) with its permalink, feed ids
and dates, never whole pages: the footer and the stylesheet link carry the
version, which an upgrade changes on purpose.
"""

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import requests

from testkit.owner import Owner
from tests.corpus import xss_payloads

ATOM = "{http://www.w3.org/2005/Atom}"
FEEDS = ("/feed.xml", "/feed.atom", "/feed.json")
# Notes that exercise the renderer: Markdown, HTML the sanitiser must strip, non-ASCII text, long text.
NOTES = [
    "Plain words with accents and signs: café, naïve, Zürich, “quotes”, 5 € and an emoji 🚀.",
    "**Markdown** with a [link](https://example.org/a?b=1&c=2), `inline code` and a list:\n\n- one\n- two\n\n> a quote",
    "```\nfenced code with <b>tags</b> kept as text & an ampersand\n```\n\nAnd a paragraph after it.",
    (
        "A heading below.\n\n## Second level\n\n1. first\n2. second\n\n---\n\n"
        "*emphasis* and ~~strike~~ and a line  \nbreak."
    ),
    "Long note. "
    + " ".join(f"Sentence {number} of a note long enough to be cut short in the titles." for number in range(1, 40)),
    *(f"Sanitised on the way out: {payload}" for payload in xss_payloads()[:8]),
]


@dataclass
class Filled:
    """The slugs of the notes written through the admin pages, by what happened to them."""

    published: list[str]
    edited: str
    draft: str
    deleted: str


def fill(owner: Owner) -> Filled:
    """Write notes, an edit, a draft and a deleted note through the site's own admin forms."""
    published = [owner.publish(text) for text in NOTES]
    edited = published[1]
    owner.edit(edited, NOTES[1] + "\n\nEdited after it was published.")
    draft = owner.publish("A draft that must stay a draft.", published=False)
    deleted = owner.publish("Published, then deleted: it must stay deleted.")
    owner.delete(deleted)
    return Filled(published, edited, draft, deleted)


class _ContentFragment(HTMLParser):
    """Find the source text inside the first <div class="e-content"> (nested divs counted)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.line_starts = [0]
        for line in page.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.depth = 0
        self.start = -1
        self.fragment: str | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "div" or self.fragment is not None:
            return
        if self.depth:
            self.depth += 1
        elif "e-content" in (dict(attrs).get("class") or "").split():
            self.depth = 1
            self.start = self._offset() + len(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.fragment = self.page[self.start : self._offset()]


def content_fragment(page: str) -> str:
    """Return the source of a note page's e-content element, exactly as sent."""
    parser = _ContentFragment(page)
    parser.feed(page)
    parser.close()
    assert parser.fragment is not None, 'no <div class="e-content"> in the page'
    return parser.fragment


def feed_entries(path: str, body: bytes) -> dict[str, tuple[str | None, ...]]:
    """Return id -> (link, content, published, updated) for each entry of one feed."""
    if path == "/feed.json":
        return {
            item["id"]: (item["url"], item["content_html"], item["date_published"], item["date_modified"])
            for item in json.loads(body)["items"]
        }
    root = ElementTree.fromstring(body)
    if path == "/feed.xml":
        return {
            str(item.findtext("guid")): (item.findtext("link"), item.findtext("description"), item.findtext("pubDate"))
            for item in root.iter("item")
        }
    return {
        str(entry.findtext(f"{ATOM}id")): (
            entry.find(f"{ATOM}link").get("href"),  # type: ignore[union-attr]
            entry.findtext(f"{ATOM}content"),
            entry.findtext(f"{ATOM}published"),
            entry.findtext(f"{ATOM}updated"),
        )
        for entry in root.iter(f"{ATOM}entry")
    }


@dataclass
class Reading:
    """Each published note as readers get it: its page's content fragment and its entry in every feed."""

    pages: dict[str, str]
    feeds: dict[str, dict[str, tuple[str | None, ...]]]


def read(get: Callable[[str], requests.Response], slugs: list[str]) -> Reading:
    """Fetch each note's page and the three feeds with get(path), and keep what belongs to the notes."""
    pages = {}
    for slug in slugs:
        reply = get(f"/note/{slug}")
        assert reply.status_code == 200, f"/note/{slug} answered {reply.status_code}"
        pages[f"/note/{slug}"] = content_fragment(reply.text)
    feeds = {}
    for path in FEEDS:
        reply = get(path)
        assert reply.status_code == 200, f"{path} answered {reply.status_code}"
        feeds[path] = feed_entries(path, reply.content)
    return Reading(pages, feeds)


NOTE_COLUMNS = "id, slug, content, published, created_at, updated_at, published_at, deleted_at"


def note_rows(site: Any) -> list[list[Any]]:
    """Return every note in the site's database, drafts and deleted ones too, ordered by id."""
    rows: list[list[Any]] = site.sqlite(f"SELECT {NOTE_COLUMNS} FROM notes ORDER BY id")
    return rows


def migration_rows(site: Any) -> list[list[Any]]:
    """Return the migrations bookkeeping table: version, name and when each was applied."""
    rows: list[list[Any]] = site.sqlite("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    return rows
