"""RSS 2.0, Atom 1.0 and JSON Feed 1.1, of all notes and of each tag, cached coherently across workers."""

import json
import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from email.utils import format_datetime

from flask import Blueprint, current_app, redirect, request, url_for
from markupsafe import escape
from werkzeug.http import http_date

from . import fastpath, listing, store
from .notes import permalink, published_tag
from .pagecache import conditional_response, content_etag, is_reader
from .readercache import FEED_COPIES, ReaderCache, ReaderCopy
from .render import render_markdown, summary
from .responses import response_of

bp = Blueprint("feeds", __name__)

FORMATS = {
    "rss": ("feeds.rss", "application/rss+xml; charset=utf-8"),
    "atom": ("feeds.atom", "application/atom+xml; charset=utf-8"),
    "json": ("feeds.json_feed", "application/feed+json; charset=utf-8"),
}
TAG_ENDPOINTS = {"rss": "feeds.tag_rss", "atom": "feeds.tag_atom", "json": "feeds.tag_json_feed"}
MAX_CACHED_FEEDS = FEED_COPIES
ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_LINK = f"{{{ATOM_NS}}}link"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# Characters XML 1.0 forbids (C0 controls but tab and newlines, lone surrogates,
# U+FFFE/U+FFFF): ElementTree would write them and leave the feed unreadable.
# Named as they are, not as the complement of what XML allows: that class of
# every other code point took 2-3 ms of each start-up to compile.
NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# RSS carries Atom's self link as <atom:link>, the prefix every reader expects.
ET.register_namespace("atom", ATOM_NS)


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


def response_html(answered, title=None):
    """Return the line a feed reader shows before a response's text ("Liked <a>title or URL</a>"), or nothing."""
    if answered is None:
        return ""
    url = escape(answered.url)
    return f'<p>{answered.line} <a href="{url}">{escape(title or answered.url)}</a></p>'


def _feed_items(notes):
    for note in notes:
        answered = response_of(note["properties"])
        cited = note.get("cited_title")  # the answered page's title, when sending fetched it
        title = summary(note["content"]) if note["content"].strip() or answered is None else ""
        yield {
            "url": permalink(note["slug"]),
            "title": title or f"{answered.line} {cited or answered.url}",
            "html": response_html(answered, cited) + render_markdown(note["content"]) + photos_html(note["photos"]),
            # JSON Feed's external_url: the page a bookmark or a like is about.
            "external_url": answered.url if answered and answered.kind in ("bookmark", "like") else None,
            "published": datetime.fromisoformat(note["published_at"]),
            "updated": datetime.fromisoformat(note["updated_at"]),
            "tags": note["tags"],
            "photos": note["photos"],
            # Only files stored here have a known type and size, as enclosures need.
            "enclosures": [photo for photo in note["photos"] if photo.file_name],
        }


def _add(parent, tag, text=None, **attributes):
    """Append a child element with the given text and attributes, and return it."""
    element = ET.SubElement(parent, tag, {name: NOT_XML_CHARS.sub("", value) for name, value in attributes.items()})
    if text is not None:
        element.text = NOT_XML_CHARS.sub("", text)
    return element


def _rss_document(meta, updated, items):
    rss = ET.Element("rss", version="2.0")
    channel = _add(rss, "channel")
    _add(channel, "title", meta["title"])
    _add(channel, "link", meta["home"])
    _add(channel, "description", meta["description"])
    _add(channel, ATOM_LINK, href=meta["self"], rel="self")
    _add(channel, "docs", "https://www.rssboard.org/rss-specification")
    _add(channel, "generator", "StarPunk")
    _add(channel, "language", "en")
    _add(channel, "lastBuildDate", format_datetime(updated))
    for item in items:
        element = _add(channel, "item")
        _add(element, "title", item["title"])
        _add(element, "link", item["url"])
        _add(element, "description", item["html"])
        _add(element, "guid", item["url"], isPermaLink="true")
        for name in item["tags"]:
            _add(element, "category", name)
        # RSS allows one enclosure per item: the first stored photo.
        if item["enclosures"]:
            first = item["enclosures"][0]
            _add(element, "enclosure", url=first.src, length=str(first.size_bytes), type=first.content_type)
        _add(element, "pubDate", format_datetime(item["published"]))
    return rss


def _atom_document(meta, updated, items):
    # Atom's namespace is declared as the document's default: ElementTree's
    # default_namespace option refuses the unqualified attributes Atom uses.
    feed = ET.Element("feed", {"xmlns": ATOM_NS, XML_LANG: "en"})
    _add(feed, "id", meta["home"])
    _add(feed, "title", meta["title"])
    _add(feed, "updated", updated.isoformat())
    author = _add(feed, "author")
    _add(author, "name", meta["author"])
    _add(author, "uri", meta["author_url"])
    _add(feed, "link", href=meta["self"], rel="self")
    _add(feed, "link", href=meta["home"], rel="alternate")
    _add(feed, "generator", "StarPunk")
    _add(feed, "subtitle", meta["description"])
    for item in items:
        entry = _add(feed, "entry")
        _add(entry, "id", item["url"])
        _add(entry, "title", item["title"])
        _add(entry, "updated", item["updated"].isoformat())
        _add(entry, "published", item["published"].isoformat())
        _add(entry, "content", item["html"], type="html")
        _add(entry, "link", href=item["url"], rel="alternate")
        for name in item["tags"]:
            _add(entry, "category", term=name)
        for photo in item["enclosures"]:
            _add(
                entry,
                "link",
                href=photo.src,
                rel="enclosure",
                type=photo.content_type,
                length=str(photo.size_bytes),
            )
    return feed


def _json_item(item):
    document = {
        "id": item["url"],
        "url": item["url"],
        "title": item["title"],
        "content_html": item["html"],
        "date_published": item["published"].isoformat(timespec="seconds"),
        "date_modified": item["updated"].isoformat(timespec="seconds"),
    }
    if item["external_url"]:
        document["external_url"] = item["external_url"]
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
    build = _rss_document if kind == "rss" else _atom_document
    return ET.tostring(build(meta, updated, items), encoding="UTF-8", xml_declaration=True)


def _cached_feed(kind, tag=None):
    """Return the feed, rebuilt when any note changed (in any worker) or it grew too old."""
    cache = current_app.extensions.setdefault("starpunk_feeds", ReaderCache())
    key = kind if tag is None else (kind, tag)
    entry = cache.get(key)
    if entry and entry.is_current(store.content_generation()):
        cache.move_to_end(key)
        return entry
    max_age = current_app.config["FEED_CACHE_SECONDS"]
    generation, changed_at = store.content_state()
    updated = datetime.fromisoformat(changed_at)
    notes = listing.list_published(current_app.config["FEED_MAX_ITEMS"], tag=tag)
    body = render_feed(kind, notes, updated, tag)
    entry = ReaderCopy(
        generation=generation,
        etag=content_etag(body),
        body=body,
        content_type=FORMATS[kind][1],
        headers=(
            ("Last-Modified", http_date(updated)),
            ("Cache-Control", f"public, max-age={max_age}"),
        ),
        last_modified=updated,
        expires_at=time.monotonic() + max_age,
    )
    return cache.keep(key, entry, MAX_CACHED_FEEDS)


def _feed_response(kind, tag=None):
    entry = _cached_feed(kind, tag)
    if is_reader() and not request.query_string:
        # The next readers of this feed are answered before Flask while it stands (fastpath.py); its
        # copies are keyed by the whole query string, which a feed never reads: only the bare one is kept.
        fastpath.offer(request.environ, entry)
    return conditional_response(entry)


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
