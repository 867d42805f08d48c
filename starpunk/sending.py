"""Sending Webmentions (W3C Recommendation, sender side): every note tells the pages it links to.

When a note is published, updated, deleted or undeleted (starpunk/store.py,
from the admin form and Micropub alike), ``queue_sends`` stores, in the same
transaction, one queue job per http(s) target: the links of its content and
the page it answers (starpunk/responses.py), never this site's own pages. On
an update the targets linked before are told too (a removed link learns it
is gone); on a delete every target ever sent to (the permalink answers 410).
A draft sends nothing.

Cross-posting (``SYNDICATE_TO``, e.g. Bridgy Publish): the targets picked for
a note (``pick``) are rows with ``publish = 1``; the note's page links to
them, as the publisher requires, and once the note is public each gets one
Webmention (to the target's ``endpoint`` when the setting names one, else the
discovered one). The syndication URL of the answer (``Location`` of a ``201``,
or the ``url`` of a JSON body) is added to the note's ``syndication``. A
publisher's ``4xx`` is shown to the owner and not retried.

The job (``send``, through the durable queue, so a SIGKILL loses no send)
fetches the target with the outbound fetcher, discovers its endpoint
(``discover``: the HTTP ``Link`` header first, then the first ``<link>`` or
``<a>`` whose ``rel`` holds ``webmention``, resolved against the page's final
URL) and POSTs ``source`` and ``target`` form-encoded to it. The title of
the page the note answers is kept for its h-cite (starpunk/cited.py). Network errors,
``429`` and ``5xx`` are retried with the queue's backoff (30 s, 2 min, ...
at most 6 h) for SEND_ATTEMPTS attempts, about a day; any other answer is
final. ``webmention_sends`` keeps each note's latest outcome per target, for
the edit page and ``flask --app starpunk mentions sent [SLUG]``.
"""

import functools
import json
import re
from urllib.parse import urljoin, urlsplit

import click
from flask import current_app
from flask.cli import with_appcontext

from . import cited, outbound, queue
from .db import get_db, utcnow
from .render import render_markdown
from .responses import response_of

JOB_KIND = "webmention-send"
SEND_ATTEMPTS = 10  # 30 s, 2 min, 8 min, 32 min, 2 h 8 min, then 6 h apart: about 27 h in all
MAX_TARGETS = 100  # targets one note tells; links beyond are not sent to
# One link of a Link header: <URL> then its parameters, up to the next link.
_LINK = re.compile(r"<([^>]*)>([^<]*)")
_REL = re.compile(r'(?:^|;)\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))', re.IGNORECASE)


def source_url(slug):
    """Return a note's permalink from SITE_URL (as notes.permalink does, also outside a request)."""
    return f"{current_app.config['SITE_URL']}/note/{slug}"


def _is_own(url):
    return urlsplit(url).netloc.lower() == urlsplit(current_app.config["SITE_URL"]).netloc.lower()


@functools.cache
def _link_parser():
    """The parser class of _links_in, made on the first note written: html.parser costs every start-up 2 ms."""
    from html.parser import HTMLParser

    class Links(HTMLParser):
        """The href of every <a> in an HTML fragment, in order."""

        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.hrefs = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.hrefs.append(dict(attrs).get("href") or "")

    return Links


def _links_in(markup):
    # The note's own sanitised HTML (render.py): the standard library's parser reads it, so a worker that writes
    # a note does not load Beautiful Soup (6.6 MB of its own memory each; only the queue's consumer needs it).
    parser = _link_parser()()
    parser.feed(markup)
    parser.close()
    return parser.hrefs


def targets_of(content, properties):
    """Return the http(s) URLs a note links to (its content's links, then the page it answers), in order."""
    found = []
    urls = _links_in(render_markdown(content or ""))
    answered = response_of(properties or {})
    if answered is not None:
        urls.append(answered.url)
    for url in urls:
        url = url.strip()
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname and not _is_own(url):
            if url not in found:
                found.append(url)
    return found[:MAX_TARGETS]


def public_targets(row):
    """Return the targets of a note row (content, published, deleted_at, properties) while readers can see it."""
    if row is None or not row["published"] or row["deleted_at"]:
        return []
    return targets_of(row["content"], json.loads(row["properties"]))


def sent_targets(db, note_id):
    """Return every target this note was ever queued to tell."""
    sql = "SELECT target FROM webmention_sends WHERE note_id = ? AND status != 'picked' ORDER BY id"
    return [row[0] for row in db.execute(sql, (note_id,))]


def publishers_of(note_id, db=None):
    """Return the cross-posting targets picked for a note (its page links to them)."""
    sql = "SELECT target FROM webmention_sends WHERE note_id = ? AND publish = 1 ORDER BY id"
    return [row[0] for row in (db or get_db()).execute(sql, (note_id,))]


def pick(db, note_id, uids):
    """Pick cross-posting targets for a note (in the caller's transaction); each is published once."""
    now = utcnow()
    for uid in uids:
        db.execute(
            "INSERT INTO webmention_sends (note_id, target, status, publish, created_at, updated_at)"
            " VALUES (?, ?, 'picked', 1, ?, ?) ON CONFLICT (note_id, target) DO NOTHING",
            (note_id, uid, now, now),
        )


def _waiting_picks(db, note_id, row):
    """Return the picked cross-posting targets not yet sent to, once the note is public (else none)."""
    if not row["published"] or row["deleted_at"]:
        return []
    sql = "SELECT target FROM webmention_sends WHERE note_id = ? AND publish = 1 AND status = 'picked'"
    return [found[0] for found in db.execute(sql, (note_id,))]


def note_written(db, note_id, before, after, picks=()):
    """Queue the sends a note's write calls for, in its transaction (before/after: rows, None when absent/deleted)."""
    pick(db, note_id, picks)
    targets = public_targets(before) + public_targets(after)
    if after is None:  # deleted: every target ever told hears of it
        targets = sent_targets(db, note_id) + targets
    else:
        targets += _waiting_picks(db, note_id, after)
    if targets:
        queue_sends(db, note_id, (after or before)["slug"], targets)


def note_syndicated(db, note_id, row, picks):
    """Pick cross-posting targets for an unchanged note (row) and queue their sends once it is public."""
    pick(db, note_id, picks)
    targets = _waiting_picks(db, note_id, row)
    if targets:
        queue_sends(db, note_id, row["slug"], targets)


def _endpoint_of(uid):
    for target in current_app.config["SYNDICATE_TO"]:
        if target["uid"] == uid:
            return target.get("endpoint")
    return None


def queue_sends(db, note_id, slug, targets):
    """Queue one send per target in the caller's transaction, and mark each target's row queued."""
    now = utcnow()
    source = source_url(slug)
    publishers = set(publishers_of(note_id, db))
    for target in dict.fromkeys(targets):
        db.execute(
            "INSERT INTO webmention_sends (note_id, target, status, created_at, updated_at)"
            " VALUES (?, ?, 'queued', ?, ?) ON CONFLICT (note_id, target) DO UPDATE SET"
            " status = 'queued', code = NULL, error = NULL, updated_at = excluded.updated_at",
            (note_id, target, now, now),
        )
        payload = {"note_id": note_id, "source": source, "target": target}
        if target in publishers:
            payload["publish"] = True
        queue.enqueue(db, JOB_KIND, payload, key=urlsplit(target).hostname or "", unique=True)


def _rels(value):
    return {rel.lower() for rel in (value or "").split()}


def discover(response):
    """Return the Webmention endpoint a fetched page advertises (absolute), or None."""
    for header in response.headers.get_all("Link") or []:
        for url, params in _LINK.findall(header):
            for quoted, bare in _REL.findall(params):
                if "webmention" in _rels(quoted or bare):
                    return urljoin(response.url, url.strip())
    if "html" not in (response.headers.get_content_type() or ""):
        return None
    from bs4 import BeautifulSoup  # on the first send, not at start (see verify.links_to)

    soup = BeautifulSoup(response.text(), "html.parser")
    for element in soup.find_all(["link", "a"]):
        rel = element.get("rel") or []
        rels = _rels(" ".join(rel) if isinstance(rel, list) else rel)
        if "webmention" in rels and element.has_attr("href"):
            return urljoin(response.url, element["href"].strip())
    return None


def _record(note_id, target, status, endpoint=None, code=None, error=None):
    db = get_db()
    db.execute(
        "UPDATE webmention_sends SET status = ?, endpoint = ?, code = ?, error = ?, updated_at = ?"
        " WHERE note_id = ? AND target = ?",
        (status, endpoint, code, (error or "")[:500] or None, utcnow(), note_id, target),
    )


def _retry(note_id, target, reason, endpoint=None):
    _record(note_id, target, "queued", endpoint, error=f"will retry: {reason}")
    raise queue.Retry(reason)


def _fail(note_id, target, reason, endpoint=None, code=None):
    _record(note_id, target, "failed", endpoint, code, reason)
    raise queue.Drop(reason)


@queue.handler(JOB_KIND, attempts=SEND_ATTEMPTS)
def send(payload):
    """Discover the target's endpoint and send it the Webmention; retry what may pass, record the outcome."""
    note_id, source, target = payload["note_id"], payload["source"], payload["target"]
    policy = outbound.policy()
    endpoint = _endpoint_of(target) if payload.get("publish") else None
    if endpoint is None:
        endpoint = _discover(note_id, target, policy)
    if endpoint is None:
        _record(note_id, target, "no endpoint")
        current_app.logger.info("webmention to %s: no endpoint", target)
        return
    try:
        answer = outbound.fetch(endpoint, policy, method="POST", form={"source": source, "target": target})
    except outbound.Refused as exc:
        _fail(note_id, target, str(exc), endpoint)
    except outbound.FetchError as exc:
        _retry(note_id, target, str(exc), endpoint)
    if answer.status == 429 or answer.status >= 500:
        _retry(note_id, target, f"the endpoint answered {answer.status}", endpoint)
    if not 200 <= answer.status < 300:
        _fail(note_id, target, f"the endpoint answered {answer.status}: {answer.text()[:200]}", endpoint, answer.status)
    _record(note_id, target, "sent", endpoint, answer.status)
    current_app.logger.info("webmention from %s to %s sent: %s", source, target, answer.status)
    if payload.get("publish"):
        _syndicated(note_id, target, endpoint, answer)


def _discover(note_id, target, policy):
    """Return the target's endpoint, or None; Retry or Drop (recorded) when the target cannot be read."""
    try:
        page = outbound.fetch(target, policy)
    except outbound.Refused as exc:
        _fail(note_id, target, str(exc))
    except outbound.FetchError as exc:
        _retry(note_id, target, str(exc))
    if page.status == 429 or page.status >= 500:
        _retry(note_id, target, f"the target answered {page.status}")
    try:
        cited.keep(get_db(), note_id, target, page)
    except Exception:  # the title is a courtesy: a page it cannot be read from is still told
        current_app.logger.exception("webmention to %s: its title could not be read", target)
    return discover(page)


def syndication_url(answer):
    """Return the URL a publisher's answer names (Location of a 201, else a JSON body's url), or None."""
    if answer.status == 201 and answer.headers.get("Location"):
        return urljoin(answer.url, answer.headers["Location"].strip())
    try:
        body = json.loads(answer.text())
    except ValueError:
        return None
    url = body.get("url") if isinstance(body, dict) else None
    return url if isinstance(url, str) else None


def _syndicated(note_id, target, endpoint, answer):
    from . import store  # store queues sends: imported here, not at the top

    url = syndication_url(answer)
    if url is None:
        _record(note_id, target, "sent", endpoint, answer.status, "the publisher named no syndication URL")
        return
    try:
        store.add_syndication(note_id, url)
    except ValueError as exc:
        _record(note_id, target, "sent", endpoint, answer.status, f"the publisher's URL was refused: {exc}")


def sends_of(note_id):
    """Return a note's sends (target, endpoint, status, code, error, updated_at, next_at), first queued first."""
    return (
        get_db()
        .execute(
            "SELECT s.target, s.endpoint, s.status, s.code, s.error, s.updated_at,"
            " (SELECT min(jobs.next_at) FROM jobs WHERE jobs.kind = ? AND jobs.state = 'queued'"
            "  AND json_extract(jobs.payload, '$.note_id') = s.note_id"
            "  AND json_extract(jobs.payload, '$.target') = s.target) AS next_at"
            " FROM webmention_sends AS s WHERE s.note_id = ? ORDER BY s.id",
            (JOB_KIND, note_id),
        )
        .fetchall()
    )


@click.command("sent")
@click.argument("slug", required=False)
@with_appcontext
def sent_command(slug):
    """List the Webmentions sent (of one note, by slug): note, target, status, code, endpoint, error."""
    sql = (
        "SELECT notes.slug, s.target, s.status, s.code, s.endpoint, s.error FROM webmention_sends AS s"
        " JOIN notes ON notes.id = s.note_id"
    )
    params = ()
    if slug:
        sql += " WHERE notes.slug = ?"
        params = (slug,)
    for row in get_db().execute(sql + " ORDER BY s.id", params):
        click.echo("\t".join("" if value is None else str(value) for value in row))
