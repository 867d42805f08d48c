"""Readers' copies answered before Flask: a cached page or feed costs a dict lookup and one small read.

The page cache (pagecache.py) and the feed cache (feeds.py) spare readers the
rendering, but each request still paid for Flask itself: the request context,
routing, session lookup, hooks and a Response object, about twice what the
bytes' own serving costs. This WSGI middleware sits outside Flask. When a view
answers a reader's GET from one of those caches it *offers* that copy
(``offer``, stored in the WSGI environ); the middleware keeps the response it
sees leave Flask for that address (status, every header, body) with the
offer's terms, and answers the next readers' GET, HEAD and conditional
requests for the address itself while the terms hold:

- the content generation is the one the copy was rendered from (one read on
  the worker's held connection, as the caches do: a write in any worker is
  seen by every worker's next request);
- a feed is younger than ``FEED_CACHE_SECONDS``;
- the static files the page links to are unchanged.

A copy is keyed by the path and query string alone, so nothing else a request
carries may change the bytes Flask renders: the site is served at the root of
SITE_URL, and the middleware clears ``SCRIPT_NAME`` (which Gunicorn would
take from a ``SCRIPT_NAME`` header of a trusted peer, and ``url_for`` put
before every link) for every request, Flask's included.

Anything else goes to Flask as before: requests with the session cookie (the
owner, a visitor signing in), other methods, a process that holds no
connection (the Gunicorn master, CLI commands), a database that does not
answer (Flask's error page says why), and every address nobody offered.
"""

import sqlite3
from typing import NamedTuple

from werkzeug.http import parse_date, parse_etags, remove_entity_headers

from . import db
from .readercache import FAST_PATH_COPIES, ReaderCache, ReaderCopy, plainly_a_reader
from .store import generation_of

OFFER_KEY = "starpunk.reader_copy"
# The request fields that make a GET conditional (RFC 9110 13.1), which holds() reads.
CONDITIONS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE")
# Copies kept per worker: one for each the page cache and the feed cache keep.
MAX_COPIES = FAST_PATH_COPIES


class Copy(NamedTuple):
    """One address's answer, as it left Flask, and the terms of its reuse: the view's ReaderCopy.

    Not a second copy record: the terms are the page or feed cache's own
    (generation, ETag, validators, expiry, static-file stamps); what the fast
    path adds is the answer encoded as WSGI sends it, every header the app's
    layers set included, so that it is given again with no work at all.
    """

    terms: ReaderCopy
    status: str
    headers: tuple
    not_modified_headers: tuple
    body: bytes


def _unsent(status, headers, exc_info=None):
    """start_response for an answer nobody is sent (the 200 behind a 304): its write() drops what it is given."""
    return lambda data: None  # Flask never calls write()


def offer(environ, copy):
    """Let the fast path repeat this request's answer (if it is a 200 without cookies) while copy is current."""
    environ[OFFER_KEY] = copy


def holds(environ, etag, last_modified=None):
    """Return True when the request says it holds this version: If-None-Match, or else If-Modified-Since (RFC 9110)."""
    if "HTTP_IF_NONE_MATCH" in environ:
        return parse_etags(environ["HTTP_IF_NONE_MATCH"]).contains_weak(etag)
    if last_modified is not None and "HTTP_IF_MODIFIED_SINCE" in environ:
        since = parse_date(environ["HTTP_IF_MODIFIED_SINCE"])
        return since is not None and last_modified.replace(microsecond=0) <= since
    return False


class ReaderFastPath:
    """WSGI middleware answering readers from the copies Flask's views offered (see the module's docstring)."""

    def __init__(self, wsgi_app, data_path):
        self.wsgi_app = wsgi_app
        self.data_path = str(data_path)
        self.copies = ReaderCache()

    def __call__(self, environ, start_response):
        # The site lives at the root of SITE_URL: no request names another mount point (see the module's docstring).
        environ["SCRIPT_NAME"] = ""
        if not plainly_a_reader(environ):
            return self.wsgi_app(environ, start_response)
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        copy = self.copies.get(key)
        if copy is not None and self._current(copy.terms):
            self.copies.move_to_end(key)
            if holds(environ, copy.terms.etag, copy.terms.last_modified):
                start_response("304 NOT MODIFIED", list(copy.not_modified_headers))
                return []
            start_response(copy.status, list(copy.headers))
            return [] if environ["REQUEST_METHOD"] == "HEAD" else [copy.body]
        return self._through_flask(key, environ, start_response)

    def _current(self, terms):
        """Return True while a copy's terms hold; False sends the request to Flask, which renders again."""
        conn = db.proven_held_connection(self.data_path)
        if conn is None:
            return False  # no held connection, or a changed file: Flask proves it
        try:
            generation = generation_of(conn)
        except (sqlite3.Error, TypeError, ValueError):
            return False  # a missing or damaged database: Flask asks again and answers with its error page
        return terms.is_current(generation)

    def _ask_flask(self, environ, start_response):
        """Send a request through Flask, passing its status and headers on; return them (a dict) and the body."""
        answer = {}

        def keep_status(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return start_response(status, headers, exc_info)

        return answer, self.wsgi_app(environ, keep_status)

    def _through_flask(self, key, environ, start_response):
        answer, body = self._ask_flask(environ, start_response)
        offered = environ.get(OFFER_KEY) is not None and environ["REQUEST_METHOD"] == "GET"
        if offered and answer["status"].startswith("304 "):
            # A 304 leaves nothing to copy. Feed readers ask almost only conditionally, so a worker that only
            # they reached went through Flask for every one of them: ask Flask for the 200 the 304 stands for
            # (its own cache answers it; nothing renders again) and keep that, for this worker's next readers.
            self._keep_plain_answer(key, environ)
            return body
        return self._keep(key, environ, answer, body)

    def _keep_plain_answer(self, key, environ):
        """Ask Flask for the address without the request's conditions and keep its 200 as the copy."""
        plain = {name: value for name, value in environ.items() if name not in (*CONDITIONS, OFFER_KEY)}
        answer, body = self._ask_flask(plain, _unsent)
        sent = self._keep(key, plain, answer, body)
        if hasattr(sent, "close"):
            sent.close()

    def _keep(self, key, environ, answer, body):
        """Keep Flask's answer when it may be repeated to every reader; return the body to send on."""
        terms = environ.get(OFFER_KEY)
        if terms is None or environ["REQUEST_METHOD"] != "GET" or not answer["status"].startswith("200 "):
            return body
        if any(name.lower() == "set-cookie" for name, _ in answer["headers"]):
            return body  # a response that set a cookie is somebody's, not every reader's
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        headers = tuple(answer["headers"])
        self.copies.keep(key, Copy(terms, answer["status"], headers, _not_modified_headers(headers), data), MAX_COPIES)
        return [data]


def _not_modified_headers(headers):
    """Return a 200's headers as Werkzeug sends them with a 304: without the entity's (type, length, Last-Modified)."""
    fields = list(headers)
    remove_entity_headers(fields)
    return tuple(fields)
