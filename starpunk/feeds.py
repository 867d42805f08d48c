"""RSS 2.0, Atom 1.0 and JSON Feed 1.1, cached coherently across workers."""

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, current_app, request, url_for

from . import store
from .notes import permalink
from .render import render_markdown, summary

bp = Blueprint("feeds", __name__)

FORMATS = {
    "rss": ("feeds.rss", "application/rss+xml; charset=utf-8"),
    "atom": ("feeds.atom", "application/atom+xml; charset=utf-8"),
    "json": ("feeds.json_feed", "application/feed+json; charset=utf-8"),
}


@dataclass(frozen=True)
class CachedFeed:
    """A rendered feed and the content generation it was rendered from."""

    generation: int
    built_at: float
    body: bytes
    etag: str
    last_modified: datetime


def _site_meta():
    config = current_app.config
    return {
        "home": config["SITE_URL"] + "/",
        "title": config["SITE_NAME"],
        "author": config["SITE_AUTHOR"],
        "author_url": config["ADMIN_ME"] or config["SITE_URL"] + "/",
    }


def _feed_items(notes):
    for note in notes:
        yield {
            "url": permalink(note["slug"]),
            "title": summary(note["content"]),
            "html": render_markdown(note["content"]),
            "published": datetime.fromisoformat(note["published_at"]),
            "updated": datetime.fromisoformat(note["updated_at"]),
        }


def _generator(kind, updated):
    meta = _site_meta()
    fg = FeedGenerator()
    fg.id(meta["home"])
    fg.title(meta["title"])
    fg.author({"name": meta["author"], "uri": meta["author_url"]})
    fg.link(href=current_app.config["SITE_URL"] + url_for(FORMATS[kind][0]), rel="self")
    # feedgen gives RSS's <channel><link> the last link added: the home page.
    fg.link(href=meta["home"], rel="alternate")
    fg.description(f"Notes by {meta['author']}")
    fg.language("en")
    fg.updated(updated)
    fg.lastBuildDate(updated)
    return fg


def render_feed(kind, notes, updated):
    """Return the bytes of one feed of the given notes (newest first)."""
    items = list(_feed_items(notes))
    if kind == "json":
        meta = _site_meta()
        document = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": meta["title"],
            "home_page_url": meta["home"],
            "feed_url": current_app.config["SITE_URL"] + url_for("feeds.json_feed"),
            "language": "en",
            "authors": [{"name": meta["author"], "url": meta["author_url"]}],
            "items": [
                {
                    "id": item["url"],
                    "url": item["url"],
                    "title": item["title"],
                    "content_html": item["html"],
                    "date_published": item["published"].isoformat(timespec="seconds"),
                    "date_modified": item["updated"].isoformat(timespec="seconds"),
                }
                for item in items
            ],
        }
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
    fg = _generator(kind, updated)
    for item in items:
        entry = fg.add_entry(order="append")
        entry.id(item["url"])
        entry.guid(item["url"], permalink=True)
        entry.title(item["title"])
        entry.link(href=item["url"], rel="alternate")
        entry.published(item["published"])
        entry.updated(item["updated"])
        if kind == "rss":
            entry.description(item["html"])
        else:
            entry.content(item["html"], type="html")
    return fg.rss_str(pretty=False) if kind == "rss" else fg.atom_str(pretty=False)


def _cached_feed(kind):
    """Return the feed, rebuilt when any note changed (in any worker) or it grew too old."""
    cache = current_app.extensions.setdefault("starpunk_feeds", {})
    generation, changed_at = store.content_state()
    entry = cache.get(kind)
    max_age = current_app.config["FEED_CACHE_SECONDS"]
    if entry and entry.generation == generation and time.monotonic() - entry.built_at < max_age:
        return entry
    updated = datetime.fromisoformat(changed_at)
    notes = store.list_published(current_app.config["FEED_MAX_ITEMS"])
    body = render_feed(kind, notes, updated)
    entry = CachedFeed(
        generation=generation,
        built_at=time.monotonic(),
        body=body,
        etag=hashlib.sha256(body).hexdigest()[:32],
        last_modified=updated,
    )
    cache[kind] = entry
    return entry


def _feed_response(kind):
    entry = _cached_feed(kind)
    response = Response(entry.body, content_type=FORMATS[kind][1])
    response.set_etag(entry.etag)
    response.last_modified = entry.last_modified
    response.cache_control.public = True
    response.cache_control.max_age = current_app.config["FEED_CACHE_SECONDS"]
    return response.make_conditional(request)


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
