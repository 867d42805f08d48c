"""Checking a received Webmention: the queue's ``webmention`` jobs (payload: source, target, note_id).

Run by the queue's consumer (starpunk/queue.py), never in a request. The
source is fetched through the outbound fetcher (starpunk/outbound.py: at most
1 MB, 10 s, 5 redirects, public addresses only). Then, as the W3C
Recommendation says:

- ``410`` or ``404``: the stored mention, if any, is removed (a delete);
- ``429`` or ``5xx``, or no answer: tried again later (the queue's backoff);
- another error status or a refused address: given up, nothing stored;
- the page does not link to the target exactly (an ``href`` or ``src`` of an
  HTML page, or the URL in the text of any other type): removed, as a delete;
- otherwise stored, or updated: read with mf2py, the h-entry that refers to the
  target (or the page's first h-entry) gives the type (``in-reply-to``,
  ``like-of``, ``repost-of``, ``bookmark-of`` naming the target; else a
  mention), the author's name and URL (its h-card; no photo is kept), the
  content (HTML through the received-content allowlist, or its text cut to
  MAX_CONTENT_CHARS), ``published`` and ``url``.
"""

import html
from urllib.parse import urljoin, urlsplit

from flask import current_app

from . import mentions, outbound, queue
from .config import host_name
from .render import sanitise_received_html, visible_text

MAX_CONTENT_CHARS = 2000
MAX_NAME_CHARS = 100
MAX_URL_CHARS = 2048
MAX_DATE_CHARS = 40
TYPE_PROPERTIES = (("in-reply-to", "reply"), ("like-of", "like"), ("repost-of", "repost"), ("bookmark-of", "bookmark"))
LINK_ATTRIBUTES = ("href", "src")
# Python's own HTML parser, for the link check and mf2py alike: the image leaves out html5lib
# (mf2py's default), which only mf2py's requirements bring (see the Containerfile).
HTML_PARSER = "html.parser"


def links_to(response, target):
    """Return True when the fetched page links to target exactly (HTML: an href or src; other types: the text)."""
    if "html" not in (response.headers.get_content_type() or ""):
        return target in response.text()
    # Imported here, on the first check, not when the app starts: Beautiful Soup and mf2py (which imports
    # requests) cost every start-up and every worker's memory for what only the queue's consumer does.
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(response.text(), HTML_PARSER)
    base = soup.find("base", href=True)
    base_url = urljoin(response.url, base["href"].strip()) if base is not None else response.url
    for tag in soup.find_all(lambda tag: any(tag.has_attr(name) for name in LINK_ATTRIBUTES)):
        for name in LINK_ATTRIBUTES:
            value = tag.get(name)
            if isinstance(value, str) and urljoin(base_url, value.strip()) == target:
                return True
    return False


def _urls(values):
    """Yield the URLs of a property's values (plain strings, or nested microformats with a url or a value)."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from (url for url in value.get("properties", {}).get("url", []) if isinstance(url, str))
            if isinstance(value.get("value"), str):
                yield value["value"]


def _entries(items):
    """Yield every h-entry of a parsed page, nested ones in h-feeds included."""
    for item in items:
        if "h-entry" in item.get("type", []):
            yield item
        yield from _entries(item.get("children", []))


def _kind_for(entry, target):
    for name, kind in TYPE_PROPERTIES:
        if target in _urls(entry.get("properties", {}).get(name, [])):
            return kind
    return None


def _web_url(value):
    """Return value when it is an http(s) URL of a sane length, else "" (javascript:, data: and others go)."""
    value = (value or "").strip() if isinstance(value, str) else ""
    return value if urlsplit(value).scheme in ("http", "https") and len(value) <= MAX_URL_CHARS else ""


def _cut(text, limit):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _author(entry):
    """Return (name, url) of an h-entry's author: an h-card, a URL, or a name."""
    for author in entry.get("properties", {}).get("author", []):
        if isinstance(author, dict):
            props = author.get("properties", {})
            url = _web_url(next(iter(props.get("url", [])), ""))
            name = next((n for n in props.get("name", []) if isinstance(n, str) and n.strip()), "")
            return _cut(name or url, MAX_NAME_CHARS), url
        if isinstance(author, str):
            url = _web_url(author)
            return _cut(author, MAX_NAME_CHARS), url
    return "", ""


def _content(entry):
    """Return the entry's content as HTML safe to show: sanitised, or its text when long (escaped by the template)."""
    props = entry.get("properties", {})
    for value in props.get("content", []) + props.get("summary", []):
        if isinstance(value, dict) and isinstance(value.get("html"), str):
            text = visible_text(value["html"])
            if len(" ".join(text.split())) <= MAX_CONTENT_CHARS:
                return sanitise_received_html(value["html"]).strip()
            return _escaped(_cut(text, MAX_CONTENT_CHARS))
        if isinstance(value, str) and value.strip():
            return _escaped(_cut(value, MAX_CONTENT_CHARS))
    return ""


def _escaped(text):
    return html.escape(text)


def classify(response, target):
    """Return the stored fields of a mention from a page that links to target."""
    fields = dict(type="mention", author_name="", author_url="", content="", url=response.url, published="")
    if "html" not in (response.headers.get_content_type() or ""):
        return fields
    import mf2py  # on the first check, not at start (see links_to)

    parsed = mf2py.parse(doc=response.text(), url=response.url, html_parser=HTML_PARSER)
    entries = list(_entries(parsed.get("items", [])))
    entry = next((e for e in entries if _kind_for(e, target)), entries[0] if entries else None)
    if entry is None:
        return fields
    props = entry.get("properties", {})
    fields["type"] = _kind_for(entry, target) or "mention"
    fields["author_name"], fields["author_url"] = _author(entry)
    fields["content"] = _content(entry)
    fields["url"] = _web_url(next(iter(props.get("url", [])), "")) or response.url
    published = next((p for p in props.get("published", []) if isinstance(p, str)), "")
    fields["published"] = published[:MAX_DATE_CHARS]
    return fields


@queue.handler(mentions.JOB_KIND)
def verify(payload):
    """Fetch a Webmention's source and store, update or remove the mention (see the module's rules)."""
    source, target, note_id = payload["source"], payload["target"], payload.get("note_id")
    if mentions.is_blocked(host_name(urlsplit(source).netloc)):
        return
    try:
        response = outbound.fetch(source, outbound.policy())
    except outbound.Refused as exc:
        raise queue.Drop(str(exc)) from None
    except outbound.FetchError as exc:
        raise queue.Retry(str(exc)) from None
    if response.status in (404, 410):
        _removed(source, target, f"the source answered {response.status}")
        return
    if response.status == 429 or response.status >= 500:
        raise queue.Retry(f"the source answered {response.status}")
    if not 200 <= response.status < 300:
        raise queue.Drop(f"the source answered {response.status}")
    if not links_to(response, target):
        _removed(source, target, "the source does not link to the target")
        return
    fields = classify(response, target)
    status = mentions.save(source, target, note_id, fields)
    current_app.logger.info("webmention from %s to %s stored: %s, %s", source, target, fields["type"], status)


def _removed(source, target, why):
    if mentions.remove(source, target):
        current_app.logger.info("webmention from %s to %s removed: %s", source, target, why)
    else:
        current_app.logger.info("webmention from %s to %s not stored: %s", source, target, why)
