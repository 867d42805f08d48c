"""The queue's one consumer per container, and the ``queue`` commands.

Every Gunicorn worker starts a ``Consumer`` thread (gunicorn.conf.py:
post_worker_init); only the one holding an exclusive ``flock`` on
``DATA_PATH/queue.lock`` does jobs (``queue.run_one``), the others wait for
the lock. So the container has exactly one consumer whatever WORKERS says,
and no process of its own for Gunicorn to supervise. When that worker dies
(a crash, MAX_REQUESTS, SIGKILL) the kernel releases the lock and another
worker's thread takes it within POLL_SECONDS, first queuing again the jobs
the dead one had claimed (``queue.release_claims``). An error in the loop is
logged and the loop starts again after RESTART_SECONDS. The thread opens its
own database connections (the worker's held one belongs to its requests).

- ``Consumer(app, poll=POLL_SECONDS, gap=JOB_GAP_SECONDS, delay=0).start()`` /
  ``.stop()``; ``.consuming`` is set while it holds the lock; it pauses
  ``gap`` seconds after each job (at most 10 jobs a second). It first waits
  ``delay`` seconds: a worker's consumer waits START_DELAY_SECONDS, so the
  worker's first requests (the orchestrator's health check) do not share its
  first moments with the consumer's first connection and queries.
- ``flask --app starpunk queue status``: jobs by kind and state, and the
  failed ones' last errors.
- ``flask --app starpunk queue run``: do every due job now, then exit (for the
  development server, which runs no consumer, and for operators).
"""

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from . import queue
from .db import connect

POLL_SECONDS = 1.0  # how often an idle consumer looks for due jobs (and a waiting one for the lock)
# The pause after each job: the consumer shares its worker's interpreter with readers' requests, so it does at
# most 10 jobs a second, and a backlog (a flood's) waits in the queue, whose bounds refuse the rest, rather than
# in front of readers. Fifty checks still take five seconds.
JOB_GAP_SECONDS = 0.1
RESTART_SECONDS = 5.0  # pause before a crashed consumer loop starts again
START_DELAY_SECONDS = 1.0  # a worker's consumer starts working this long after the worker (see the module's docstring)
LOCK_FILE = "queue.lock"


class Consumer:
    """Does the queue's jobs in a daemon thread while this process holds the container's queue lock."""

    def __init__(self, app, poll=POLL_SECONDS, gap=JOB_GAP_SECONDS, delay=0.0):
        self.app = app
        self.poll = poll
        self.gap = gap
        self.delay = delay
        self.lock_path = Path(app.config["DATA_PATH"]) / LOCK_FILE
        self.stopping = threading.Event()
        self.consuming = threading.Event()  # set while this consumer holds the lock
        self.thread = threading.Thread(target=self._run, name="starpunk-queue", daemon=True)

    def start(self):
        """Start the thread; it returns at once."""
        self.thread.start()
        return self

    def stop(self, timeout=10.0):
        """Ask the thread to stop after its current job and wait for it."""
        self.stopping.set()
        self.thread.join(timeout)

    def _run(self):
        unreadable = None  # why the database could not be used, said once until it changes
        if self.stopping.wait(self.delay):
            return
        while not self.stopping.is_set():
            try:
                self._consume()
            except (sqlite3.DatabaseError, OSError) as exc:
                # A damaged, deleted or unreadable database is the site's failure, said in one line (as /health
                # and every page say it), not a crash of the consumer: it tries again when the file may be back.
                if str(exc) != unreadable:
                    unreadable = str(exc)
                    self.app.logger.error(
                        "queue consumer paused: the database cannot be used (%s); it tries again every %.0f s",
                        exc,
                        RESTART_SECONDS,
                    )
                self.stopping.wait(RESTART_SECONDS)
            except Exception:
                self.app.logger.exception("queue consumer crashed; it starts again in %.0f s", RESTART_SECONDS)
                self.stopping.wait(RESTART_SECONDS)

    def _consume(self):
        with open(self.lock_path, "a+b") as lock:
            while not self._try_lock(lock):
                if self.stopping.wait(self.poll):
                    return
            self.consuming.set()
            try:
                self._work()
            finally:
                self.consuming.clear()

    def _try_lock(self, lock):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _work(self):
        conn = connect(self.app.config["DATA_PATH"])
        try:
            released = queue.release_claims(conn)
        finally:
            conn.close()
        self.app.logger.info(
            "queue consumer started in process %d (%d interrupted job(s) queued again)", os.getpid(), released
        )
        while not self.stopping.is_set():
            self.stopping.wait(self.gap if queue.run_one(self.app) else self.poll)


@click.group("queue")
def queue_command():
    """Look at and work the durable job queue."""


@queue_command.command("status")
@with_appcontext
def status_command():
    """Print how many jobs of each kind are queued, running and failed, and the failed ones' last errors."""
    conn = connect(current_app.config["DATA_PATH"])
    try:
        counts = conn.execute("SELECT kind, state, count(*) FROM jobs GROUP BY kind, state ORDER BY kind, state")
        for kind, state, count in counts.fetchall():
            click.echo(f"{kind}\t{state}\t{count}")
        for row in queue.failed(conn):
            click.echo(f"failed job {row['id']} ({row['kind']}, {row['key']}): {row['last_error']}")
    finally:
        conn.close()


@queue_command.command("run")
@with_appcontext
def run_command():
    """Do every job that is due now, then exit."""
    app = current_app._get_current_object()
    done = 0
    while queue.run_one(app):
        done += 1
    click.echo(f"Ran {done} job(s)")
