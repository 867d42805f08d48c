"""The Webmention endpoint (W3C Recommendation, receiver side): ``POST /webmention`` with ``source`` and ``target``.

Answered at once, before anything is fetched: ``400`` with a one-line reason
for a missing or non-http(s) URL, a URL over MAX_URL_CHARS, ``source`` equal
to ``target``, or a ``target`` that is neither the home page nor the
permalink of a published note; ``429`` with ``Retry-After`` while
MAX_PENDING_PER_HOST mentions from the source's host, or MAX_PENDING in all,
wait (to be checked, in the queue, or for the owner's decision, pending);
otherwise ``202 Accepted``, and the check is already a
job in the durable queue (starpunk/queue.py; done by starpunk/verify.py).
A source from a blocked host gets the same ``202`` and is dropped unread.
The endpoint is advertised on every page (``<link rel="webmention">``) and
in the ``Link`` headers of the home page and permalinks (starpunk/indieauth.py).
"""

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request

from . import floodgate, mentions, queue, store
from .config import host_name
from .csrf import csrf
from .db import get_db
from .store import NOTE_COLUMNS

bp = Blueprint("webmention", __name__)
csrf.exempt(bp)

PATH = "/webmention"
MAX_URL_CHARS = 2048
# Mentions that may wait, to be checked or for the owner's decision: from one
# source host, and in all. Beyond them a sender is asked to come back later, so
# a flood fills neither the disk, nor the consumer's day, nor the owner's list.
MAX_PENDING_PER_HOST = 50
MAX_PENDING = 1000
RETRY_AFTER_SECONDS = 60
TEXT = "text/plain; charset=utf-8"


def _refuse(reason, status=400, headers=None):
    return Response(reason + "\n", status=status, content_type=TEXT, headers=headers)


def url_problem(name, value):
    """Return why value is not a URL this endpoint accepts as name (one line), or None."""
    if not value:
        return f"{name} is missing."
    if len(value) > MAX_URL_CHARS:
        return f"{name} is longer than {MAX_URL_CHARS} characters."
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{name} must be an http or https URL."
    return None


def target_note(target):
    """Return (accepted, note_id): the home page is (True, None), a published note's permalink (True, its id)."""
    site = current_app.config["SITE_URL"]
    if target in (site, site + "/"):
        return True, None
    prefix = site + "/note/"
    if not target.startswith(prefix):
        return False, None
    slug = target[len(prefix) :]
    row = get_db().execute(f"SELECT {NOTE_COLUMNS} FROM notes WHERE slug = ? AND {store.PUBLIC}", (slug,)).fetchone()
    return (row is not None), (row["id"] if row is not None else None)


@bp.post(PATH)
def receive():
    """Accept a Webmention for a durable check (202), or say in one line why not (400, 429)."""
    source, target = request.form.get("source", ""), request.form.get("target", "")
    for name, value in (("source", source), ("target", target)):
        problem = url_problem(name, value)
        if problem:
            return _refuse(problem)
    if source == target:
        return _refuse("source and target must differ.")
    accepted, note_id = target_note(target)
    if not accepted:
        return _refuse("target is not a page of this site that accepts Webmentions.")
    host = host_name(urlsplit(source).netloc)
    if mentions.is_blocked(host):
        current_app.logger.info("webmention from blocked host %s dropped", host)
        floodgate.remember(request.environ, host)  # the next ones for a second are dropped before Flask
        return _accepted()
    db = get_db()
    everyone = queue.pending(db, mentions.JOB_KIND) + mentions.count_pending() >= MAX_PENDING
    if everyone or queue.pending(db, mentions.JOB_KIND, host) + mentions.count_pending(host) >= MAX_PENDING_PER_HOST:
        current_app.logger.warning("webmention from %s refused: too many checks waiting", host)
        # The next ones (from this host, or from anyone) are refused before Flask for a second (floodgate.py).
        floodgate.remember(request.environ, floodgate.EVERYONE if everyone else host)
        return _refuse(
            "Too many Webmentions are waiting to be checked or approved; send it again later.",
            429,
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    payload = {"source": source, "target": target, "note_id": note_id}
    queue.enqueue(db, mentions.JOB_KIND, payload, key=host, unique=True)
    return _accepted()


def _accepted():
    return Response("Accepted: the source will be checked shortly.\n", status=202, content_type=TEXT)
