"""RSS, Atom and JSON Feed from the container: valid, exact, stable, cacheable and coherent across workers.

feedparser (6.0.14, the newest on PyPI) reads RSS and Atom but not JSON Feed,
so /feed.json is checked against the JSON Feed 1.1 specification's required
fields instead, and all three are compared through the same Entry shape.
"""

import html
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import feedparser
import pytest

from testkit.owner import Owner
from testkit.site import Lab, Site

FEEDS = {
    "/feed.xml": "application/rss+xml",
    "/feed.atom": "application/atom+xml",
    "/feed.json": "application/feed+json",
}
TAG = re.compile(r"<[^>]+>")
# Published in this order; the draft is saved between them and must never show.
NOTES = [
    "Fish & chips, salt & vinegar",
    "Maths: 1 < 2 and 3 > 2 & x <= y",
    "Quotes: \"double\", 'single' and a backslash \\ too",
    "Emoji 🚀✨ and accents: café, naïve, 日本語",
]
WORKER_SPREAD_REQUESTS = 20


@dataclass
class FeedSite:
    """A site with the notes above published and one draft; `published` holds every published text, oldest first.

    A test that publishes more appends to `published`, so the others hold in any order.
    """

    site: Site
    owner: Owner
    published: list[str]
    draft_marker: str


@dataclass(frozen=True)
class Entry:
    """One feed entry, whatever the format: id, publication date and visible text."""

    id: str
    published: datetime
    text: str


def visible_text(content: str) -> str:
    """Return HTML content without tags, unescaped."""
    return html.unescape(TAG.sub("", content))


def parse_json_feed(body: bytes) -> list[Entry]:
    """Check a JSON Feed 1.1 document's required fields and return its items."""
    document = json.loads(body)
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(document["title"], str) and document["title"]
    entries = []
    for item in document["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert isinstance(item.get("content_html", item.get("content_text")), str)
        published = datetime.fromisoformat(item["date_published"])  # RFC 3339
        assert published.tzinfo is not None, item["date_published"]
        entries.append(Entry(item["id"], published, visible_text(item.get("content_html") or item["content_text"])))
    return entries


def parse(site: Site, path: str) -> list[Entry]:
    """Fetch and parse one feed, failing on a non-200 answer or any parse error (feedparser's bozo)."""
    reply = site.get(path, headers={"Connection": "close"})
    assert reply.status_code == 200, f"{path}: {reply.status_code}"
    if path.endswith(".json"):
        return parse_json_feed(reply.content)
    feed = feedparser.parse(reply.content, response_headers={"content-type": reply.headers["Content-Type"]})
    assert feed.bozo == 0, f"{path}: {feed.get('bozo_exception')!r}"
    return [
        Entry(
            entry.id,
            datetime(*entry.published_parsed[:6], tzinfo=UTC),
            visible_text(entry.get("content", [{}])[0].get("value") or entry.get("summary", "")),
        )
        for entry in feed.entries
    ]


@pytest.fixture(scope="module")
def feed_site(module_lab: Lab) -> FeedSite:
    """Start one site for this module and publish the notes and a draft through the admin form."""
    site = module_lab.site()
    owner = site.sign_in()
    published = []
    draft_marker = f"draft-{uuid.uuid4().hex[:12]}"
    for number, text in enumerate(NOTES):
        content = f"{text} [note-{uuid.uuid4().hex[:12]}]"
        owner.publish(content)
        published.append(content)
        if number == 1:
            owner.publish(f"Unfinished thought [{draft_marker}]", published=False)
    return FeedSite(site, owner, published, draft_marker)


@pytest.mark.parametrize("path", FEEDS)
def test_feed_parses_without_errors(feed_site: FeedSite, path: str) -> None:
    """Each feed has its media type and parses without any error (feedparser's bozo == 0)."""
    reply = feed_site.site.get(path)
    assert reply.headers["Content-Type"].startswith(FEEDS[path])
    assert parse(feed_site.site, path)


@pytest.mark.parametrize("path", FEEDS)
def test_feed_lists_exactly_the_published_notes_newest_first(feed_site: FeedSite, path: str) -> None:
    """The feed holds every published note, newest first, with its text intact, and never the draft."""
    texts = [entry.text for entry in parse(feed_site.site, path)]
    expected = feed_site.published[::-1]
    assert len(texts) == len(expected), texts
    for text, wanted in zip(texts, expected, strict=True):
        assert wanted in text
    assert feed_site.draft_marker not in feed_site.site.get(path).text


@pytest.mark.parametrize("path", FEEDS)
def test_feed_entries_have_stable_ids_and_dates(feed_site: FeedSite, path: str) -> None:
    """Ids and dates are unique, present and the same on every fetch, whichever worker answers."""
    first = [(entry.id, entry.published) for entry in parse(feed_site.site, path)]
    assert len({entry_id for entry_id, _ in first}) == len(first)
    assert all(entry_id and published for entry_id, published in first), first
    dates = [published for _, published in first]
    assert dates == sorted(dates, reverse=True)
    time.sleep(1.1)  # a second later, so a date made up at request time would differ
    for _ in range(4):
        again = [(entry.id, entry.published) for entry in parse(feed_site.site, path)]
        assert again == first


@pytest.mark.parametrize("path", FEEDS)
def test_feed_answers_304_to_its_etag(feed_site: FeedSite, path: str) -> None:
    """A request with the feed's ETag in If-None-Match gets 304 and no body."""
    reply = feed_site.site.get(path)
    etag = reply.headers.get("ETag")
    assert etag, f"{path} has no ETag"
    for _ in range(4):  # the same answer from any worker
        again = feed_site.site.get(path, headers={"If-None-Match": etag, "Connection": "close"})
        assert again.status_code == 304
        assert again.content == b""


def test_pages_show_published_notes_but_not_the_draft(feed_site: FeedSite) -> None:
    """The home page lists every published note and hides the draft."""
    page = feed_site.site.get("/").text
    assert all(content.rsplit("[", 1)[1].rstrip("]") in page for content in feed_site.published)
    assert feed_site.draft_marker not in page


def test_new_note_is_in_every_answer_right_after_publishing(feed_site: FeedSite) -> None:
    """After a publish returns, 20 fresh connections per feed (spread over the workers) all include the note."""
    marker = f"fresh-{uuid.uuid4().hex[:12]}"
    for path in FEEDS:  # warm every worker's cache first, so a stale cache would show
        for _ in range(8):
            feed_site.site.get(path, headers={"Connection": "close"})
    feed_site.owner.publish(f"Just published [{marker}]")
    feed_site.published.append(f"Just published [{marker}]")
    for path in FEEDS:
        stale = [
            number
            for number in range(WORKER_SPREAD_REQUESTS)
            if marker not in feed_site.site.get(path, headers={"Connection": "close"}).text
        ]
        assert not stale, f"{path}: requests {stale} of {WORKER_SPREAD_REQUESTS} lacked the new note"
    for path in FEEDS:
        assert marker in parse(feed_site.site, path)[0].text, f"{path}: the new note is not the first entry"
