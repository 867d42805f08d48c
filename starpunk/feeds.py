"""RSS 2.0, Atom 1.0 and JSON Feed 1.1, of all notes and of each tag, cached coherently across workers."""

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from flask import Blueprint, current_app, redirect, url_for
from markupsafe import escape
from werkzeug.http import http_date

from . import store
from .notes import permalink, published_tag
from .pagecache import conditional_response, content_etag
from .render import render_markdown, summary

bp = Blueprint("feeds", __name__)

FORMATS = {
    "rss": ("feeds.rss", "application/rss+xml; charset=utf-8"),
    "atom": ("feeds.atom", "application/atom+xml; charset=utf-8"),
    "json": ("feeds.json_feed", "application/feed+json; charset=utf-8"),
}
TAG_ENDPOINTS = {"rss": "feeds.tag_rss", "atom": "feeds.tag_atom", "json": "feeds.tag_json_feed"}
# Feeds kept per worker: the site's three, plus those of the tags read most lately.
MAX_CACHED_FEEDS = 64


@dataclass(frozen=True)
class CachedFeed:
    """A rendered feed and the content generation it was rendered from."""

    generation: int
    built_at: float
    body: bytes
    etag: str
    last_modified: datetime
    # ETag aside, what every answer from this copy carries (Last-Modified, Cache-Control), made once.
    headers: tuple[tuple[str, str], ...] = ()


class AtomEnclosures(BaseEntryExtension):
    """Write an entry's photos as <link rel="enclosure">: feedgen 1.0.0 drops rel and type from entry links."""

    def __init__(self):
        self.photos = []

    def extend_atom(self, entry):
        """Append one enclosure link per stored photo."""
        for photo in self.photos:
            xml_elem(
                "link", entry, href=photo.src, rel="enclosure", type=photo.content_type, length=str(photo.size_bytes)
            )
        return entry


def _site_meta(kind, tag=None):
    config = current_app.config
    site = config["SITE_URL"]
    if tag is None:
        home, own = site + "/", site + url_for(FORMATS[kind][0])
        title, description = config["SITE_NAME"], f"Notes by {config['SITE_AUTHOR']}"
    else:
        home, own = site + url_for("notes.tagged", tag=tag), site + url_for(TAG_ENDPOINTS[kind], tag=tag)
        title = f"{config['SITE_NAME']}: notes tagged “{tag}”"
        description = f"Notes by {config['SITE_AUTHOR']} tagged “{tag}”"
    return {
        "home": home,
        "self": own,
        "title": title,
        "description": description,
        "author": config["SITE_AUTHOR"],
        "author_url": config["ADMIN_ME"] or site + "/",
    }


def photos_html(photos):
    """Return the photos as <img> elements (escaped) to follow a note's text in feeds."""
    parts = []
    for photo in photos:
        size = f' width="{photo.width}" height="{photo.height}"' if photo.width else ""
        parts.append(f'<p><img src="{escape(photo.src)}" alt="{escape(photo.alt)}"{size}></p>')
    return "".join(parts)


def _feed_items(notes):
    for note in notes:
        yield {
            "url": permalink(note["slug"]),
            "title": summary(note["content"]),
            "html": render_markdown(note["content"]) + photos_html(note["photos"]),
            "published": datetime.fromisoformat(note["published_at"]),
            "updated": datetime.fromisoformat(note["updated_at"]),
            "tags": note["tags"],
            "photos": note["photos"],
            # Only files stored here have a known type and size, as enclosures need.
            "enclosures": [photo for photo in note["photos"] if photo.file_name],
        }


def _generator(meta, updated):
    fg = FeedGenerator()
    fg.id(meta["home"])
    fg.title(meta["title"])
    fg.author({"name": meta["author"], "uri": meta["author_url"]})
    fg.link(href=meta["self"], rel="self")
    # feedgen gives RSS's <channel><link> the last link added: the home page.
    fg.link(href=meta["home"], rel="alternate")
    fg.description(meta["description"])
    fg.language("en")
    fg.updated(updated)
    fg.lastBuildDate(updated)
    fg.register_extension("starpunk", BaseExtension, AtomEnclosures, atom=True, rss=False)
    return fg


def _json_item(item):
    document = {
        "id": item["url"],
        "url": item["url"],
        "title": item["title"],
        "content_html": item["html"],
        "date_published": item["published"].isoformat(timespec="seconds"),
        "date_modified": item["updated"].isoformat(timespec="seconds"),
    }
    if item["tags"]:
        document["tags"] = item["tags"]
    if item["photos"]:
        document["image"] = item["photos"][0].src
    if item["enclosures"]:
        document["attachments"] = [
            {"url": photo.src, "mime_type": photo.content_type, "size_in_bytes": photo.size_bytes}
            for photo in item["enclosures"]
        ]
    return document


def render_feed(kind, notes, updated, tag=None):
    """Return the bytes of one feed of the given notes (newest first), the site's or a tag's."""
    items = list(_feed_items(notes))
    meta = _site_meta(kind, tag)
    if kind == "json":
        document = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": meta["title"],
            "home_page_url": meta["home"],
            "feed_url": meta["self"],
            "language": "en",
            "authors": [{"name": meta["author"], "url": meta["author_url"]}],
            "items": [_json_item(item) for item in items],
        }
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
    fg = _generator(meta, updated)
    for item in items:
        entry = fg.add_entry(order="append")
        entry.id(item["url"])
        entry.guid(item["url"], permalink=True)
        entry.title(item["title"])
        entry.link(href=item["url"], rel="alternate")
        entry.published(item["published"])
        entry.updated(item["updated"])
        for name in item["tags"]:
            entry.category(term=name)
        if kind == "rss":
            entry.description(item["html"])
            # RSS allows one enclosure per item: the first stored photo.
            if item["enclosures"]:
                first = item["enclosures"][0]
                entry.enclosure(first.src, str(first.size_bytes), first.content_type)
        else:
            entry.content(item["html"], type="html")
            entry.starpunk.photos = item["enclosures"]
    return fg.rss_str(pretty=False) if kind == "rss" else fg.atom_str(pretty=False)


def _cached_feed(kind, tag=None):
    """Return the feed, rebuilt when any note changed (in any worker) or it grew too old."""
    cache = current_app.extensions.setdefault("starpunk_feeds", OrderedDict())
    key = kind if tag is None else (kind, tag)
    entry = cache.get(key)
    max_age = current_app.config["FEED_CACHE_SECONDS"]
    if entry and entry.generation == store.content_generation() and time.monotonic() - entry.built_at < max_age:
        cache.move_to_end(key)
        return entry
    generation, changed_at = store.content_state()
    updated = datetime.fromisoformat(changed_at)
    notes = store.list_published(current_app.config["FEED_MAX_ITEMS"], tag=tag)
    body = render_feed(kind, notes, updated, tag)
    entry = CachedFeed(
        generation=generation,
        built_at=time.monotonic(),
        body=body,
        etag=content_etag(body),
        last_modified=updated,
        headers=(
            ("Last-Modified", http_date(updated)),
            ("Cache-Control", f"public, max-age={max_age}"),
        ),
    )
    cache[key] = entry
    cache.move_to_end(key)
    while len(cache) > MAX_CACHED_FEEDS:
        cache.popitem(last=False)
    return entry


def _feed_response(kind, tag=None):
    entry = _cached_feed(kind, tag)
    return conditional_response(
        entry.body, FORMATS[kind][1], entry.etag, entry.headers, last_modified=entry.last_modified
    )


@bp.get("/feed.xml")
def rss():
    """Serve the RSS 2.0 feed."""
    return _feed_response("rss")


@bp.get("/feed.atom")
def atom():
    """Serve the Atom 1.0 feed."""
    return _feed_response("atom")


@bp.get("/feed.json")
def json_feed():
    """Serve the JSON Feed 1.1."""
    return _feed_response("json")


def _tag_feed_response(kind, tag):
    name = published_tag(tag)
    if name != tag:
        return redirect(url_for(TAG_ENDPOINTS[kind], tag=name), code=301)
    return _feed_response(kind, name)


@bp.get("/tag/<tag>/feed.xml")
def tag_rss(tag):
    """Serve the RSS 2.0 feed of one tag."""
    return _tag_feed_response("rss", tag)


@bp.get("/tag/<tag>/feed.atom")
def tag_atom(tag):
    """Serve the Atom 1.0 feed of one tag."""
    return _tag_feed_response("atom", tag)


@bp.get("/tag/<tag>/feed.json")
def tag_json_feed(tag):
    """Serve the JSON Feed 1.1 of one tag."""
    return _tag_feed_response("json", tag)
