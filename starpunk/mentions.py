"""Received Webmentions and blocked hosts: the ``webmentions`` and ``blocked_hosts`` tables, and moderation.

A mention is one (source, target) pair: ``pending`` until the owner approves
it (or at once when its host is in WEBMENTION_TRUSTED_HOSTS), ``approved``
(shown under its note) or ``rejected`` (kept, so a resent mention stays
rejected, never shown). Every change readers could see (a mention approved,
or an approved one changed or removed) bumps the content generation in the
same transaction, so every worker's pages and the fast path follow at once.

- ``save(mention)``: insert or update from a verified source; an update keeps the status.
- ``remove(source, target)``: the source is gone or no longer links (the Recommendation's delete).
- ``approve(ids)``, ``reject(ids)``, ``delete(ids)``, ``block(host)``: moderation (admin and CLI).
- ``for_note(note_id)``: approved mentions of a note, by type, for its page.
- ``listing(status=None)``, ``count_pending(host=None)``, ``is_blocked(host)``.
"""

import click
from flask import current_app
from flask.cli import with_appcontext

from .config import host_name
from .db import get_db, transaction, utcnow
from .store import _bump_generation

JOB_KIND = "webmention"  # the queue's jobs that check a received Webmention (starpunk/verify.py)
STATUSES = ("pending", "approved", "rejected")
TYPES = ("reply", "like", "repost", "bookmark", "mention")
FIELDS = ("type", "author_name", "author_url", "content", "url", "published")
COLUMNS = "id, source, target, note_id, source_host, status, " + ", ".join(FIELDS) + ", received_at, updated_at"


def is_blocked(host):
    """Return True when the owner or WEBMENTION_BLOCKED_HOSTS blocked this host name."""
    if host in current_app.config["WEBMENTION_BLOCKED_HOSTS"]:
        return True
    return get_db().execute("SELECT 1 FROM blocked_hosts WHERE host = ?", (host,)).fetchone() is not None


def is_trusted(host):
    """Return True when mentions from this host are approved at once (WEBMENTION_TRUSTED_HOSTS)."""
    return host in current_app.config["WEBMENTION_TRUSTED_HOSTS"]


def count_pending(host=None):
    """Return how many mentions wait for the owner's decision (from this host, if given)."""
    if host is None:
        return get_db().execute("SELECT count(*) FROM webmentions WHERE status = 'pending'").fetchone()[0]
    sql = "SELECT count(*) FROM webmentions WHERE source_host = ? AND status = 'pending'"
    return get_db().execute(sql, (host,)).fetchone()[0]


def find(source, target):
    """Return the stored mention of target by source, or None."""
    row = get_db().execute(f"SELECT {COLUMNS} FROM webmentions WHERE source = ? AND target = ?", (source, target))
    return row.fetchone()


def save(source, target, note_id, fields):
    """Store a verified mention (fields: type, author_name, author_url, content, url, published); return its status."""
    db = get_db()
    now = utcnow()
    host = host_name(source.split("/", 3)[2])
    with transaction(db):
        old = db.execute("SELECT status FROM webmentions WHERE source = ? AND target = ?", (source, target)).fetchone()
        if old is None:
            status = "approved" if is_trusted(host) else "pending"
            db.execute(
                "INSERT INTO webmentions (source, target, note_id, source_host, status, "
                + ", ".join(FIELDS)
                + ", received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (source, target, note_id, host, status, *(fields[name] for name in FIELDS), now, now),
            )
        else:
            status = old["status"]
            db.execute(
                "UPDATE webmentions SET " + ", ".join(f"{name} = ?" for name in FIELDS) + ", updated_at = ?"
                " WHERE source = ? AND target = ?",
                (*(fields[name] for name in FIELDS), now, source, target),
            )
        if status == "approved":
            _bump_generation(db, now)
    return status


def remove(source, target):
    """Delete the mention of target by source; return True when there was one."""
    db = get_db()
    with transaction(db):
        row = db.execute("SELECT id, status FROM webmentions WHERE source = ? AND target = ?", (source, target))
        row = row.fetchone()
        if row is None:
            return False
        db.execute("DELETE FROM webmentions WHERE id = ?", (row["id"],))
        if row["status"] == "approved":
            _bump_generation(db, utcnow())
    return True


def _set_status(ids, status):
    db = get_db()
    ids = [int(i) for i in ids]
    with transaction(db):
        marks = ",".join("?" * len(ids))
        visible = db.execute(
            f"SELECT count(*) FROM webmentions WHERE id IN ({marks}) AND (status = 'approved' OR ? = 'approved')",
            (*ids, status),
        ).fetchone()[0]
        changed = db.execute(
            f"UPDATE webmentions SET status = ?, updated_at = ? WHERE id IN ({marks}) AND status != ?",
            (status, utcnow(), *ids, status),
        ).rowcount
        if changed and visible:
            _bump_generation(db, utcnow())
    return changed


def approve(ids):
    """Approve these mentions (shown to readers at once); return how many changed."""
    return _set_status(ids, "approved")


def approve_all_pending():
    """Approve every pending mention; return how many."""
    ids = [row[0] for row in get_db().execute("SELECT id FROM webmentions WHERE status = 'pending'")]
    return approve(ids) if ids else 0


def reject(ids):
    """Reject these mentions (never shown; a resent one stays rejected); return how many changed."""
    return _set_status(ids, "rejected")


def delete(ids):
    """Delete these mentions (a resent one is pending again); return how many."""
    db = get_db()
    ids = [int(i) for i in ids]
    marks = ",".join("?" * len(ids))
    with transaction(db):
        visible = db.execute(
            f"SELECT count(*) FROM webmentions WHERE id IN ({marks}) AND status = 'approved'", ids
        ).fetchone()[0]
        count = db.execute(f"DELETE FROM webmentions WHERE id IN ({marks})", ids).rowcount
        if visible:
            _bump_generation(db, utcnow())
    return count


def block(host):
    """Block a host: its mentions and queued checks go, and what it sends later is dropped; return mentions removed."""
    host = host_name(host)
    if not host:
        raise ValueError("a host name is needed")
    db = get_db()
    now = utcnow()
    with transaction(db):
        db.execute("INSERT OR IGNORE INTO blocked_hosts (host, blocked_at) VALUES (?, ?)", (host, now))
        visible = db.execute(
            "SELECT count(*) FROM webmentions WHERE source_host = ? AND status = 'approved'", (host,)
        ).fetchone()[0]
        count = db.execute("DELETE FROM webmentions WHERE source_host = ?", (host,)).rowcount
        db.execute("DELETE FROM jobs WHERE kind = ? AND key = ? AND state = 'queued'", (JOB_KIND, host))
        if visible:
            _bump_generation(db, now)
    return count


def for_note(note_id):
    """Return the approved mentions of a note by type (reply, like, repost, bookmark, mention), oldest first."""
    rows = get_db().execute(
        f"SELECT {COLUMNS} FROM webmentions WHERE note_id = ? AND status = 'approved' ORDER BY received_at, id",
        (note_id,),
    )
    found = {kind: [] for kind in TYPES}
    for row in rows:
        found[row["type"]].append(row)
    return found


def listing(status=None, limit=None):
    """Return mentions, pending first then newest first (one status only, if given)."""
    sql = f"SELECT {COLUMNS} FROM webmentions"
    params = ()
    if status:
        sql += " WHERE status = ?"
        params = (status,)
    sql += " ORDER BY status != 'pending', received_at DESC, id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return get_db().execute(sql, params).fetchall()


def blocked_hosts():
    """Return the hosts the owner blocked, by name."""
    return [row[0] for row in get_db().execute("SELECT host FROM blocked_hosts ORDER BY host")]


@click.group("mentions")
def mentions_command():
    """List and moderate received Webmentions."""


@mentions_command.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@with_appcontext
def list_command(status):
    """List mentions: id, status, type, source, target, author."""
    for row in listing(status):
        click.echo("\t".join(str(row[name]) for name in ("id", "status", "type", "source", "target", "author_name")))


@mentions_command.command("approve")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Approve every pending mention.")
@with_appcontext
def approve_command(ids, every):
    """Approve mentions by id (or every pending one with --all)."""
    if not ids and not every:
        raise click.UsageError("name mention ids, or --all")
    count = approve_all_pending() if every else approve(ids)
    click.echo(f"Approved {count} mention(s)")


@mentions_command.command("reject")
@click.argument("ids", nargs=-1, type=int, required=True)
@with_appcontext
def reject_command(ids):
    """Reject mentions by id."""
    click.echo(f"Rejected {reject(ids)} mention(s)")


@mentions_command.command("delete")
@click.argument("ids", nargs=-1, type=int, required=True)
@with_appcontext
def delete_command(ids):
    """Delete mentions by id."""
    click.echo(f"Deleted {delete(ids)} mention(s)")


@mentions_command.command("block")
@click.argument("host")
@with_appcontext
def block_command(host):
    """Block a host: remove its mentions and drop what it sends from now on."""
    try:
        count = block(host)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"Blocked {host_name(host)}; removed {count} mention(s)")
