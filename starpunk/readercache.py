"""What the three reader caches share: who a reader is, one copy record, its static-file stamps, one bounded cache.

The page cache (pagecache.py), the feed cache (feeds.py) and the fast path
(fastpath.py) each keep readers' copies per worker. A copy (ReaderCopy) is good
while the content generation it was made from stands, it has not expired (the
feeds), and the static files it links to are unchanged; each cache drops its
least lately read copy past its bound (ReaderCache).
"""

import os
import time
from collections import OrderedDict
from datetime import datetime
from typing import NamedTuple

from flask import g

from .sessions import COOKIE_NAME

READER_METHODS = frozenset({"GET", "HEAD"})
# Copies kept per worker: pages (the newest pages of the index, permalinks and tags read most lately),
# feeds (the site's three, plus those of the tags read most lately), and the fast path's copies of both.
# The pages readers come back to (the home page, the newest notes, the busiest tags) fit many times over;
# an older page past the bound renders again (about 2 ms). At 256 pages and 64 feeds a worker that served a
# 300-note archive held 1.5 MB more of its own memory (issue 23's memory goal, docs/changes/unreleased.md).
PAGE_COPIES = 64
FEED_COPIES = 16
FAST_PATH_COPIES = PAGE_COPIES + FEED_COPIES


def plainly_a_reader(environ):
    """Return True for a GET or HEAD without the session cookie: a reader, told from the WSGI environ alone.

    A request with the cookie may be a reader's too (a session that no longer
    exists): only Flask can tell (pagecache.is_reader); the fast path leaves it to Flask.
    """
    return environ["REQUEST_METHOD"] in READER_METHODS and COOKIE_NAME not in environ.get("HTTP_COOKIE", "")


class ReaderCopy(NamedTuple):
    """A reader's answer as the page and feed caches keep it, and the terms on which it may be given again.

    The fast path takes a view's copy as the terms of the answer it repeats
    (fastpath.offer); what it keeps besides is that answer as it left Flask
    (fastpath.Copy: status, every header, the 304's headers).
    """

    generation: int  # the content generation (site_state) it was rendered from
    etag: str
    body: bytes = b""
    content_type: str = ""
    # ETag aside, what every answer from this copy carries (the feeds' Last-Modified and Cache-Control), made once.
    headers: tuple[tuple[str, str], ...] = ()
    last_modified: datetime | None = None  # If-Modified-Since is honoured (the feeds)
    expires_at: float | None = None  # time.monotonic() from which it is not given (the feeds: FEED_CACHE_SECONDS)
    # (absolute path, file_stamp) of each static file it links to: an edited stylesheet gets its new address at once.
    static_files: tuple = ()

    def is_current(self, generation):
        """Return True while the copy may be given: unexpired, rendered from generation, its static files unchanged."""
        if self.expires_at is not None and time.monotonic() >= self.expires_at:
            return False
        return generation == self.generation and files_unchanged(self.static_files)


class ReaderCache(OrderedDict):
    """Readers' copies by key, oldest read first: past a bound the least lately read one goes."""

    def keep(self, key, copy, bound):
        """Store copy under key as the latest read, then drop the least lately read ones past bound; return copy."""
        self[key] = copy
        self.move_to_end(key)
        while len(self) > bound:
            self.popitem(last=False)
        return copy


def file_stamp(path):
    """Return a file's (mtime_ns, size), or None when it cannot be seen: it changes whenever the file is written."""
    try:
        stat = os.stat(path)
    except (OSError, TypeError):  # TypeError: no path (a name safe_join refused)
        return None
    return stat.st_mtime_ns, stat.st_size


def record_static_file(path):
    """Note that this request's response links to a static file: a copy of it is stale once the file changes."""
    g.setdefault("static_files", {})[path] = file_stamp(path)


def linked_static_files():
    """Return the (path, file_stamp) pairs of the static files this request's response linked to."""
    return tuple(g.get("static_files", {}).items())


def files_unchanged(stamps):
    """Return True when every (path, file_stamp) pair still holds: the static files a cached copy links to."""
    return all(file_stamp(path) == stamp for path, stamp in stamps)
