"""What browsers, crawlers and link previews read besides the pages: static files, robots.txt, absolute URLs.

Static files are linked as ``/static/<file>?v=<fingerprint of its content>``
(``static_url``); a request carrying the current fingerprint is answered with
a year of immutable caching, any other (an old page's link, a bare path)
with ``no-cache``, so a changed file is never served stale from a cache.
"""

import hashlib
import os
from functools import lru_cache

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.security import safe_join

from .readercache import record_static_file

bp = Blueprint("meta", __name__)

STATIC_CACHE_SECONDS = 365 * 24 * 3600
# Pages only the owner or an app signing in uses, and search results: nothing for a search engine.
PRIVATE_PREFIXES = ("/admin", "/auth/", "/indieauth/", "/micropub", "/search")


@lru_cache(maxsize=64)
def _digest(path, modified_ns, size):  # the stat fields key the cache: an edited file gets a new digest
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()[:12]


def fingerprint(filename):
    """Return the fingerprint of a file under the static folder (None when there is no such file)."""
    path = safe_join(current_app.static_folder, filename)
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None
    if stat is None or not os.path.isfile(path):
        return None
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def static_url(filename):
    """Return the versioned address of a static file: it changes whenever the file's content does."""
    record_static_file(_static_path(current_app.static_folder, filename))
    return url_for("static", filename=filename, v=fingerprint(filename))


@lru_cache(maxsize=64)
def _static_path(folder, filename):
    return safe_join(folder, filename)


def absolute_url(address):
    """Return an address made absolute on SITE_URL when it is a path on this site."""
    return current_app.config["SITE_URL"] + address if address.startswith("/") else address


@bp.after_app_request
def cache_versioned_static(response):
    """Let browsers keep a static file a year, unasked, when its address names its current content."""
    if request.endpoint != "static" or response.status_code not in {200, 304}:
        return response
    if request.args.get("v") and request.args["v"] == fingerprint(request.view_args["filename"]):
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = STATIC_CACHE_SECONDS
        response.cache_control.immutable = True
    return response


@bp.get("/robots.txt")
def robots():
    """Tell crawlers to keep out of the owner's pages, and where the feeds are (read as sitemaps)."""
    site = current_app.config["SITE_URL"]
    lines = ["User-agent: *", *(f"Disallow: {prefix}" for prefix in PRIVATE_PREFIXES), ""]
    # Search engines accept RSS 2.0 and Atom feeds as sitemaps.
    lines += [f"Sitemap: {site}{url_for(endpoint)}" for endpoint in ("feeds.rss", "feeds.atom")]
    response = Response("\n".join(lines) + "\n", mimetype="text/plain")
    response.cache_control.public = True
    response.cache_control.max_age = current_app.config["FEED_CACHE_SECONDS"]
    return response
