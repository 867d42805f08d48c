"""Readers' pages rendered once per content generation, per worker, and answered from memory.

A reader is a GET or HEAD without the session cookie: such a request can see
nothing of the owner's (no drafts, no CSRF tokens, no flashed messages), so
every reader gets the same bytes for the same address. Those bytes are kept
with the content generation (site_state) they were rendered from; every note
write bumps it in the note's transaction, so the next request in any worker
renders again (the same rule the feeds follow). Anyone with the cookie (the
owner, or a visitor in the middle of signing in) is rendered for, never
served from, nor stored in, this cache.
"""

import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from flask import Response, current_app, g, request, session
from werkzeug.http import quote_etag

from . import fastpath, store
from .meta import files_unchanged
from .sessions import COOKIE_NAME

# Pages kept per worker: the newest pages of the index, permalinks and tags read most lately.
MAX_CACHED_PAGES = 256
EXTENSION = "starpunk_pages"


@dataclass(frozen=True)
class CachedPage:
    """A page's bytes as readers get them, and the content generation they were rendered from."""

    generation: int
    body: bytes
    etag: str
    content_type: str
    # (path, (mtime, size)) of the static files it links to: an edited stylesheet gets its new address at once.
    static_files: tuple = ()


def content_etag(body):
    """Return the entity tag of a response body: the same bytes get the same tag in every worker."""
    return hashlib.sha256(body).hexdigest()[:32]


def is_reader():
    """Return True when this request is a reader's: GET or HEAD, without the session cookie."""
    if request.method not in fastpath.READER_METHODS:
        return False
    return COOKIE_NAME not in request.environ.get("HTTP_COOKIE", "") or COOKIE_NAME not in request.cookies


def conditional_response(body, content_type, etag, headers=(), last_modified=None):
    """Return 304 (its validators, no body) when the request holds this version, else the body; nothing is rendered.

    headers are the (name, value) pairs both answers carry besides the ETag
    (caching rules, Last-Modified).
    """
    fields = [("ETag", quote_etag(etag)), *headers]
    if fastpath.holds(request.environ, etag, last_modified):
        return Response(status=304, headers=fields)
    return Response(body, headers=fields, content_type=content_type)


def cached_for_readers(view):
    """Serve a public page to readers from this worker's cache while the content generation stands."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if not is_reader():
            return view(**kwargs)
        generation = store.content_generation()
        pages = current_app.extensions.setdefault(EXTENSION, OrderedDict())
        key = (request.path, request.query_string)
        page = pages.get(key)
        if page is None or page.generation != generation or not files_unchanged(page.static_files):
            response = current_app.make_response(view(**kwargs))
            # Redirects and errors are rendered each time; a page that touched the session is not a reader's.
            if response.status_code != 200 or session.modified:
                return response
            body = response.get_data()
            static_files = tuple(g.get("static_files", {}).items())
            page = CachedPage(generation, body, content_etag(body), response.content_type, static_files)
            pages[key] = page
            while len(pages) > MAX_CACHED_PAGES:
                pages.popitem(last=False)
        pages.move_to_end(key)
        # The next readers of this address are answered before Flask while the page stands (fastpath.py).
        fastpath.offer(
            request.environ,
            page.generation,
            page.etag,
            static_files=page.static_files,
        )
        return conditional_response(page.body, page.content_type, page.etag)

    return wrapped
