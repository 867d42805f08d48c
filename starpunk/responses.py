"""Responses: a note that answers another page (a reply, a like, a repost, a bookmark), and its syndication links.

A response is one Micropub property kept with the note's other properties
(``notes.properties``, see starpunk/store.py): ``in-reply-to``, ``like-of``,
``repost-of`` or ``bookmark-of``, holding one http(s) URL of at most
MAX_URL_CHARS. A reply needs text; a like, repost or bookmark may have none.
``syndication`` holds the URLs of copies elsewhere ("Also on ...").

- ``clean_properties(properties)``: the properties with each response and
  syndication value checked and reduced to its URL; ValueError says why not.
- ``response_of(properties)``: ``Response(kind, url)`` of a note, or None.
- ``syndication_of(properties)``: the note's syndication URLs.
"""

from typing import NamedTuple
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
MAX_SYNDICATION = 10  # syndication URLs a note keeps
# Property, post type, the line a reader sees before the URL, and whether the note needs text.
KINDS = {
    "in-reply-to": ("reply", "In reply to", True),
    "like-of": ("like", "Liked", False),
    "repost-of": ("repost", "Reposted", False),
    "bookmark-of": ("bookmark", "Bookmarked", False),
}
POST_TYPES = ["note", "photo", "reply", "like", "repost", "bookmark"]


class Response(NamedTuple):
    """What a note answers: its property (``like-of``), post type (``like``), human line and the URL."""

    prop: str
    url: str

    @property
    def kind(self):
        """Return the post type: reply, like, repost or bookmark."""
        return KINDS[self.prop][0]

    @property
    def line(self):
        """Return the words a reader sees before the URL ("Liked")."""
        return KINDS[self.prop][1]

    @property
    def needs_text(self):
        """Return True when a note of this kind needs text (a reply)."""
        return KINDS[self.prop][2]


def clean_url(value, name):
    """Return the http(s) URL a property value holds (a string, or an h-cite's url); ValueError when it is not one."""
    if isinstance(value, dict):
        urls = value.get("properties", {}).get("url") if isinstance(value.get("properties"), dict) else None
        value = value.get("value") or (urls[0] if isinstance(urls, list) and urls else None)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a URL.")
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"{name} can be at most {MAX_URL_CHARS} characters; this one has {len(url)}.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"{name} must be an http or https URL, not {url[:100]!r}.")
    return url


def clean_properties(properties):
    """Return the properties with responses and syndication reduced to checked URLs; ValueError says what is wrong."""
    cleaned = dict(properties)
    present = [name for name in KINDS if cleaned.get(name)]
    if len(present) > 1:
        raise ValueError(f"A note answers one page: it has {', '.join(present)}.")
    for name in present:
        if len(cleaned[name]) != 1:
            raise ValueError(f"{name} takes one URL; this has {len(cleaned[name])}.")
        cleaned[name] = [clean_url(cleaned[name][0], name)]
    if cleaned.get("syndication"):
        if len(cleaned["syndication"]) > MAX_SYNDICATION:
            raise ValueError(f"A note keeps at most {MAX_SYNDICATION} syndication URLs.")
        cleaned["syndication"] = [clean_url(value, "syndication") for value in cleaned["syndication"]]
    return cleaned


def response_of(properties):
    """Return the Response a note's properties hold, or None for a plain note."""
    for name in KINDS:
        values = properties.get(name)
        if values and isinstance(values[0], str):
            return Response(name, values[0])
    return None


def syndication_of(properties):
    """Return the note's syndication URLs (http(s) strings only)."""
    return [url for url in properties.get("syndication", []) if isinstance(url, str) and url.startswith("http")]


def host_of(url):
    """Return the host name of a URL, for a short link text ("Also on mastodon.example")."""
    return urlsplit(url).hostname or url
