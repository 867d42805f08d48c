"""Readers' pages rendered once per content generation, per worker, and answered from memory.

A reader is a GET or HEAD without the session cookie: such a request can see
nothing of the owner's (no drafts, no CSRF tokens, no flashed messages), so
every reader gets the same bytes for the same address. Those bytes are kept
with the content generation (site_state) they were rendered from; every note
write bumps it in the note's transaction, so the next request in any worker
renders again (the same rule the feeds follow). Anyone with a live session
(the owner, or a visitor in the middle of signing in) is rendered for, never
served from, nor stored in, this cache. A page is keyed by its path and the
query parameters its view reads: other parameters make no new copy.
"""

import functools
import hashlib
from urllib.parse import urlencode

from flask import Response, current_app, request, session
from werkzeug.http import quote_etag

from . import fastpath, store
from .readercache import (
    PAGE_COPIES,
    READER_METHODS,
    ReaderCache,
    ReaderCopy,
    linked_static_files,
    plainly_a_reader,
)
from .sessions import COOKIE_NAME

MAX_CACHED_PAGES = PAGE_COPIES
EXTENSION = "starpunk_pages"


def content_etag(body):
    """Return the entity tag of a response body: the same bytes get the same tag in every worker."""
    return hashlib.sha256(body).hexdigest()[:32]


def is_reader():
    """Return True when this request is a reader's: GET or HEAD, without a live session.

    A session cookie that names no session (expired, forged, junk) sees what a
    reader sees, and costs no more: it is served from the cache too.
    """
    if plainly_a_reader(request.environ):
        return True
    if request.method not in READER_METHODS:
        return False
    if COOKIE_NAME not in request.cookies:
        return True
    return getattr(session, "sid", None) is None


def conditional_response(copy):
    """Return 304 (its validators, no body) when the request holds this ReaderCopy, else its body; nothing is rendered.

    Both answers carry the ETag and the copy's headers (caching rules, Last-Modified).
    """
    fields = [("ETag", quote_etag(copy.etag)), *copy.headers]
    if fastpath.holds(request.environ, copy.etag, copy.last_modified):
        return Response(status=304, headers=fields)
    return Response(copy.body, headers=fields, content_type=copy.content_type)


def reader_query(params):
    """Return the query string of the parameters a view reads (their first values): the page's cache key.

    Any other parameter, or a repeated one, changes nothing on the page, so it
    makes no new copy (a random ``?x=`` would otherwise render and store one each time).
    """
    return urlencode([(name, request.args[name]) for name in params if name in request.args])


def cached_for_readers(*params):
    """Serve a public page to readers from this worker's cache while the content generation stands.

    params are the query parameters the view reads; the others do not key the cache.
    """
    return functools.partial(_cached_for_readers, params=params)


def _cached_for_readers(view, params):
    @functools.wraps(view)
    def wrapped(**kwargs):
        if not is_reader():
            return view(**kwargs)
        generation = store.content_generation()
        pages = current_app.extensions.setdefault(EXTENSION, ReaderCache())
        query = reader_query(params)
        key = (request.path, query)
        page = pages.get(key)
        if page is None or not page.is_current(generation):
            response = current_app.make_response(view(**kwargs))
            # Redirects and errors are rendered each time; a page that touched the session is not a reader's.
            if response.status_code != 200 or session.modified:
                return response
            body = response.get_data()
            page = ReaderCopy(
                generation, content_etag(body), body, response.content_type, static_files=linked_static_files()
            )
            pages.keep(key, page, MAX_CACHED_PAGES)
        else:
            pages.move_to_end(key)
        # The next readers of this address are answered before Flask while the page stands (fastpath.py);
        # the fast path keys its copies by the whole query string, so only the canonical one is offered.
        if request.query_string == query.encode():
            fastpath.offer(request.environ, page)
        return conditional_response(page)

    return wrapped
