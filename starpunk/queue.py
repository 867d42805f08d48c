"""The durable job queue: work that waits on another server, kept in SQLite and done outside requests.

A request stores a job (``enqueue``) in its own write transaction and answers
at once; the job survives a SIGKILL right after. Jobs are done by the
container's one consumer (starpunk/consumer.py), or by ``run_one`` directly
(tests, ``flask --app starpunk queue run``).

A claim is atomic (one ``UPDATE ... RETURNING`` under SQLite's write lock),
so even two consumers never run one job twice. A claimed job is ``running``
until its claim expires (``next_at``, LEASE_SECONDS after the claim); a job
whose consumer died is claimed again then, or at once by the next consumer to
take the lock. Jobs are retried with exponential backoff (``backoff``) up to
MAX_ATTEMPTS, then kept as ``failed`` with their last error; done jobs are
deleted.

API (``conn`` is an open connection; every function commits its own change
unless the caller already holds a transaction on it):

- ``enqueue(conn, kind, payload, key="", delay=0, unique=False) -> id``:
  payload is JSON-able; key groups jobs for ``pending`` (a source host);
  unique returns the id of an identical queued job instead of adding one.
- ``pending(conn, kind, key=None) -> int``: queued and running jobs of kind.
- ``failed(conn, kind=None) -> rows``: failed jobs with their last error, newest
  first; only the newest MAX_FAILED_KEPT are kept.
- ``@handler(kind, attempts=MAX_ATTEMPTS)``: registers ``func(payload)``, called
  in an app context; a job of kind is failed after that many attempts.
  Returning finishes the job; ``raise Retry(reason, delay=None)`` retries it
  later; ``raise Drop(reason)`` fails it for good; any other exception is
  logged and retried like ``Retry``.
- ``run_one(app) -> bool``: claim one due job, run its handler, record the
  outcome; False when no job is due. Tests drive the queue with it.
- ``release_claims(conn)``: queue again every running job, for a consumer
  that knows it is the only one (it holds the lock).
"""

import json
import secrets
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone

from .db import connect, isoformat, transaction, utcnow

MAX_ATTEMPTS = 5
MAX_FAILED_KEPT = 1000  # failed jobs kept for the owner to read; older ones are deleted as new ones fail
LEASE_SECONDS = 120  # a claim outlives any handler's work (a fetch is at most 10 s)
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 6 * 3600

HANDLERS = {}
ATTEMPTS = {}  # attempts a kind's jobs get, when not MAX_ATTEMPTS


class Retry(Exception):
    """The job should run again later (the other server did not answer, or answered 5xx)."""

    def __init__(self, reason, delay=None):
        super().__init__(reason)
        self.delay = delay


class Drop(Exception):
    """The job can never succeed: it is kept as failed with this reason."""


def handler(kind, attempts=MAX_ATTEMPTS):
    """Register the decorated function as the handler of jobs of kind, failed after that many attempts."""

    def register(func):
        HANDLERS[kind] = func
        ATTEMPTS[kind] = attempts
        return func

    return register


def _at(seconds):
    return isoformat(datetime.now(timezone.utc) + timedelta(seconds=seconds))


def backoff(attempts):
    """Return the seconds before retry number attempts: 30 s, 2 min, 8 min, ... at most 6 h."""
    return min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 4 ** max(0, attempts - 1))


def _write(conn):
    """Return a transaction on conn, or nothing new when the caller already holds one."""
    if conn.in_transaction:
        return nullcontext(conn)
    return transaction(conn)


def _encode(payload):
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def enqueue(conn, kind, payload, key="", delay=0, unique=False):
    """Store a job durably and return its id (with unique, an identical queued job's id instead)."""
    encoded = _encode(payload)
    now = utcnow()
    with _write(conn):
        if unique:
            row = conn.execute(
                "SELECT id FROM jobs WHERE kind = ? AND key = ? AND state = 'queued' AND payload = ? LIMIT 1",
                (kind, key, encoded),
            ).fetchone()
            if row is not None:
                return row[0]
        cur = conn.execute(
            "INSERT INTO jobs (kind, key, payload, next_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, key, encoded, _at(delay) if delay else now, now, now),
        )
        return cur.lastrowid


def pending(conn, kind, key=None):
    """Return how many jobs of kind (with this key, if given) are queued or running."""
    sql = "SELECT count(*) FROM jobs WHERE kind = ? AND state IN ('queued', 'running')"
    params = (kind,)
    if key is not None:
        sql += " AND key = ?"
        params += (key,)
    return conn.execute(sql, params).fetchone()[0]


class Job:
    """A claimed job: its row, its decoded payload, and the claim that proves it is still ours."""

    def __init__(self, row):
        self.id, self.kind, self.key = row["id"], row["kind"], row["key"]
        self.payload = json.loads(row["payload"])
        self.attempts, self.claim = row["attempts"], row["claim"]


def claim(conn, lease=LEASE_SECONDS):
    """Claim the next due job (queued and due, or running with an expired claim) and return it, or None.

    A job whose claim expired MAX_ATTEMPTS times (its consumer kept dying) is failed instead.
    """
    now = utcnow()
    with _write(conn):
        abandoned = conn.execute(
            "UPDATE jobs SET state = 'failed', claim = NULL, updated_at = ?,"
            " last_error = 'gave up: its consumer stopped during every attempt'"
            " WHERE state = 'running' AND next_at <= ? AND attempts >= ?",
            (now, now, MAX_ATTEMPTS),
        ).rowcount
        if abandoned:
            _forget_old_failures(conn)
        row = conn.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, claim = ?, next_at = ?, updated_at = ?"
            " WHERE id = (SELECT id FROM jobs WHERE state IN ('queued', 'running') AND next_at <= ?"
            " ORDER BY next_at, id LIMIT 1)"
            " RETURNING id, kind, key, payload, attempts, claim",
            (secrets.token_hex(8), _at(lease), now, now),
        ).fetchone()
    return Job(row) if row is not None else None


def next_due(conn):
    """Return when the next job is due (an ISO time), or None when there is none."""
    return conn.execute("SELECT min(next_at) FROM jobs WHERE state IN ('queued', 'running')").fetchone()[0]


def finish(conn, job):
    """Delete a done job (unless its claim expired and another consumer holds it now)."""
    with _write(conn):
        conn.execute("DELETE FROM jobs WHERE id = ? AND claim = ?", (job.id, job.claim))


def retry(conn, job, error, delay=None):
    """Queue a job again after delay (by default its backoff), or fail it once it has had its kind's attempts."""
    if job.attempts >= ATTEMPTS.get(job.kind, MAX_ATTEMPTS):
        return fail(conn, job, f"gave up after {job.attempts} attempts: {error}")
    with _write(conn):
        conn.execute(
            "UPDATE jobs SET state = 'queued', claim = NULL, next_at = ?, last_error = ?, updated_at = ?"
            " WHERE id = ? AND claim = ?",
            (_at(backoff(job.attempts) if delay is None else delay), error[:500], utcnow(), job.id, job.claim),
        )
    return None


def fail(conn, job, error):
    """Keep a job as failed for good, with its reason (and forget the oldest beyond MAX_FAILED_KEPT)."""
    with _write(conn):
        conn.execute(
            "UPDATE jobs SET state = 'failed', claim = NULL, last_error = ?, updated_at = ? WHERE id = ? AND claim = ?",
            (error[:500], utcnow(), job.id, job.claim),
        )
        _forget_old_failures(conn)


def _forget_old_failures(conn):
    conn.execute(
        "DELETE FROM jobs WHERE state = 'failed' AND id NOT IN"
        " (SELECT id FROM jobs WHERE state = 'failed' ORDER BY id DESC LIMIT ?)",
        (MAX_FAILED_KEPT,),
    )


def failed(conn, kind=None):
    """Return the failed jobs (of kind, if given), newest first: id, kind, key, payload, attempts, last_error."""
    sql = "SELECT id, kind, key, payload, attempts, last_error, updated_at FROM jobs WHERE state = 'failed'"
    params = ()
    if kind is not None:
        sql += " AND kind = ?"
        params = (kind,)
    return conn.execute(sql + " ORDER BY id DESC", params).fetchall()


def release_claims(conn):
    """Queue again every running job at once; only for a consumer that knows no other one runs (it holds the lock)."""
    with _write(conn):
        return conn.execute(
            "UPDATE jobs SET state = 'queued', claim = NULL, next_at = ?, updated_at = ? WHERE state = 'running'",
            (utcnow(), utcnow()),
        ).rowcount


def run_one(app):
    """Claim one due job and run its handler in an app context; return False when no job was due."""
    conn = connect(app.config["DATA_PATH"])
    try:
        due = next_due(conn)  # a read: an idle queue costs no write transaction
        job = claim(conn) if due is not None and due <= utcnow() else None
        if job is None:
            return False
        func = HANDLERS.get(job.kind)
        try:
            if func is None:
                raise Drop(f"no handler for jobs of kind {job.kind!r}")
            with app.app_context():
                func(job.payload)
        except Drop as exc:
            app.logger.warning("job %d (%s) failed for good: %s", job.id, job.kind, exc)
            fail(conn, job, str(exc))
        except Retry as exc:
            app.logger.info("job %d (%s) will be retried: %s", job.id, job.kind, exc)
            retry(conn, job, str(exc), exc.delay)
        except Exception as exc:
            app.logger.exception("job %d (%s) raised; it will be retried", job.id, job.kind)
            retry(conn, job, f"{type(exc).__name__}: {exc}")
        else:
            finish(conn, job)
        return True
    finally:
        conn.close()
