"""The durable job queue: stored at once, claimed once, retried with backoff, re-run after a crash, one consumer."""

import json
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

from starpunk import queue
from starpunk.db import connect
from tests.unit.conftest import QUEUE_KIND as KIND


def jobs(conn):
    return [dict(row) for row in conn.execute("SELECT * FROM jobs ORDER BY id")]


def test_a_job_runs_once_and_is_gone(app, conn, done):
    """run_one hands the payload to the kind's handler in an app context; the finished job is deleted."""
    queue.enqueue(conn, KIND, {"n": 1})
    assert queue.run_one(app) is True
    assert done == [{"n": 1}]
    assert jobs(conn) == []
    assert queue.run_one(app) is False


def test_jobs_not_yet_due_wait(app, conn, done):
    """A delayed job is not run before its time."""
    queue.enqueue(conn, KIND, {"n": 1}, delay=60)
    assert queue.run_one(app) is False
    assert done == []


def test_unique_jobs_are_stored_once(conn):
    """The same queued job asked for twice with unique is one job; without unique, two."""
    first = queue.enqueue(conn, KIND, {"a": 1, "b": 2}, key="h", unique=True)
    assert queue.enqueue(conn, KIND, {"b": 2, "a": 1}, key="h", unique=True) == first
    assert queue.enqueue(conn, KIND, {"a": 1, "b": 2}, key="h") != first
    assert queue.pending(conn, KIND) == 2


def test_pending_counts_by_key(conn):
    """pending counts queued and running jobs of a kind, in all or for one key."""
    for key in ("a.example", "a.example", "b.example"):
        queue.enqueue(conn, KIND, {"k": key}, key=key)
    queue.claim(conn)
    assert (queue.pending(conn, KIND), queue.pending(conn, KIND, "a.example")) == (3, 2)
    assert queue.pending(conn, "other") == 0


def test_enqueue_joins_the_caller_s_transaction(conn):
    """A job enqueued inside the caller's transaction lands or goes with it."""
    conn.execute("BEGIN IMMEDIATE")
    queue.enqueue(conn, KIND, {"n": 1})
    conn.execute("ROLLBACK")
    assert jobs(conn) == []


def test_retry_backs_off_then_fails_for_good(app, conn, monkeypatch):
    """Retry queues the job again after its backoff; after MAX_ATTEMPTS it is kept as failed with its reason."""

    def flaky(payload):
        raise queue.Retry("the other server answered 503")

    monkeypatch.setitem(queue.HANDLERS, KIND, flaky)
    queue.enqueue(conn, KIND, {})
    assert queue.run_one(app)
    (row,) = jobs(conn)
    assert (row["state"], row["attempts"], row["last_error"]) == ("queued", 1, "the other server answered 503")
    wait = datetime.fromisoformat(row["next_at"]) - datetime.now(timezone.utc)
    assert 25 < wait.total_seconds() <= 30
    for _ in range(2, queue.MAX_ATTEMPTS + 1):
        conn.execute("UPDATE jobs SET next_at = ?", ("2000-01-01T00:00:00.000000+00:00",))
        assert queue.run_one(app)
    (row,) = jobs(conn)
    assert (row["state"], row["attempts"]) == ("failed", queue.MAX_ATTEMPTS)
    assert row["last_error"].startswith(f"gave up after {queue.MAX_ATTEMPTS} attempts")
    assert queue.run_one(app) is False


def test_a_kind_may_have_its_own_attempts(app, conn, monkeypatch):
    """handler(kind, attempts=N): the job is retried up to N attempts (N = 7 here), then failed."""

    @queue.handler("test.patient", attempts=7)
    def patient(payload):
        raise queue.Retry("not yet")

    monkeypatch.setitem(queue.ATTEMPTS, "test.patient", 7)
    queue.enqueue(conn, "test.patient", {})
    for attempt in range(1, 8):
        conn.execute("UPDATE jobs SET next_at = ?", ("2000-01-01T00:00:00.000000+00:00",))
        assert queue.run_one(app)
        assert jobs(conn)[0]["state"] == ("queued" if attempt < 7 else "failed")
    queue.HANDLERS.pop("test.patient")


def test_backoff_grows_and_is_capped():
    """Retries wait 30 s, 2 min, 8 min, ... never more than 6 hours."""
    assert [queue.backoff(n) for n in (1, 2, 3)] == [30, 120, 480]
    assert queue.backoff(50) == queue.MAX_RETRY_SECONDS


def test_drop_and_errors(app, conn, monkeypatch, caplog):
    """Drop fails a job at once; an unexpected exception is logged and retried; an unknown kind fails."""

    def broken(payload):
        if payload["how"] == "drop":
            raise queue.Drop("the source is not a web page")
        raise KeyError("bug")

    monkeypatch.setitem(queue.HANDLERS, KIND, broken)
    queue.enqueue(conn, KIND, {"how": "drop"})
    queue.enqueue(conn, KIND, {"how": "bug"})
    queue.enqueue(conn, "no.such.kind", {})
    while queue.run_one(app):
        pass
    states = [(row["state"], row["attempts"], row["last_error"]) for row in jobs(conn)]
    assert states[0] == ("failed", 1, "the source is not a web page")
    assert states[1][:2] == ("queued", 1) and states[1][2] == "KeyError: 'bug'"
    assert states[2] == ("failed", 1, "no handler for jobs of kind 'no.such.kind'")


def test_an_expired_claim_is_run_again(app, conn, done):
    """A job whose consumer died mid-job is claimed again when its claim expires; the dead claim cannot finish it."""
    queue.enqueue(conn, KIND, {"n": 1})
    lost = queue.claim(conn, lease=0)
    assert queue.run_one(app)
    assert done == [{"n": 1}]
    queue.finish(conn, lost)  # the old consumer coming back changes nothing
    assert jobs(conn) == []


def test_a_job_whose_consumer_always_dies_fails(app, conn, done):
    """After MAX_ATTEMPTS claims that all expired, the job is failed, not run forever."""
    queue.enqueue(conn, KIND, {"n": 1})
    for _ in range(queue.MAX_ATTEMPTS):
        assert queue.claim(conn, lease=0) is not None
    assert queue.claim(conn) is None
    assert jobs(conn)[0]["state"] == "failed"


def test_two_consumers_never_share_a_job(app, tmp_path):
    """Two processes claiming concurrently get every job exactly once between them."""
    data, go = app.config["DATA_PATH"], tmp_path / "go"
    conn = connect(data)
    try:
        for n in range(200):
            queue.enqueue(conn, KIND, {"n": n})
    finally:
        conn.close()
    script = textwrap.dedent(
        f"""
        import json, os, time
        from starpunk import queue
        from starpunk.db import connect
        conn = connect({data!r})
        while not os.path.exists({str(go)!r}):  # both start claiming together
            time.sleep(0.01)
        got = []
        while (job := queue.claim(conn)) is not None:
            got.append(job.payload["n"])
            time.sleep(0.002)  # working on it
            queue.finish(conn, job)
        print(json.dumps(got))
        """
    )
    workers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(0.5)
    go.touch()
    results = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]
    assert sorted(results[0] + results[1]) == list(range(200))
    assert all(results), "one process got every job: the claims did not overlap, so the test proved nothing"


CHILD = """
import os, signal, sys, time
from starpunk import consumer, create_app, queue
app = create_app({{"DATA_PATH": {data!r}, "SESSION_SECRET": "x" * 40}})

@queue.handler("test.echo")
def hang(payload):
    print("running", flush=True)
    time.sleep(600)

{body}
"""


def _child(data, body):
    return subprocess.Popen(
        [sys.executable, "-c", CHILD.format(data=data, body=textwrap.dedent(body))], stdout=subprocess.PIPE, text=True
    )


def test_a_job_stored_before_sigkill_is_kept(app, conn):
    """enqueue returns only once the job is on disk: a process killed right after loses nothing."""
    child = _child(
        app.config["DATA_PATH"],
        "from starpunk.db import connect\n"
        "queue.enqueue(connect(app.config['DATA_PATH']), 'test.echo', {'n': 7})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n",
    )
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert [json.loads(row["payload"]) for row in jobs(conn)] == [{"n": 7}]


def test_at_most_max_failed_kept(app, conn, monkeypatch):
    """Exactly MAX_FAILED_KEPT failed jobs are kept; the next failure forgets the oldest."""
    monkeypatch.setattr(queue, "MAX_FAILED_KEPT", 3)

    def hopeless(payload):
        raise queue.Drop(f"no {payload['n']}")

    monkeypatch.setitem(queue.HANDLERS, KIND, hopeless)
    for n in range(3):
        queue.enqueue(conn, KIND, {"n": n})
        queue.run_one(app)
    assert [row["last_error"] for row in queue.failed(conn)] == ["no 2", "no 1", "no 0"]
    queue.enqueue(conn, KIND, {"n": 3})
    queue.run_one(app)
    assert [row["last_error"] for row in queue.failed(conn, KIND)] == ["no 3", "no 2", "no 1"]
    assert queue.failed(conn, "other") == []
