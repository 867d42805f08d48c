"""The queue's consumer: one per container (a lock), handed on when its process dies, restarted when it crashes."""

import signal
import sqlite3
import threading
import time

from starpunk import consumer, queue
from testkit.waiting import wait_for
from tests.unit.test_queue import KIND, _child, jobs


def test_a_consumer_killed_mid_job_hands_it_to_the_next(app, conn, done):
    """SIGKILL of the consumer's process during a job: the next consumer takes the lock and runs the job again."""
    queue.enqueue(conn, KIND, {"n": 1})
    child = _child(app.config["DATA_PATH"], "consumer.Consumer(app, poll=0.05).start()\ntime.sleep(600)\n")
    try:
        assert child.stdout.readline().strip() == "running"
        other = consumer.Consumer(app, poll=0.05).start()
        time.sleep(0.3)
        assert not other.consuming.is_set(), "a second consumer ran while the first held the lock"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        wait_for(lambda: done == [{"n": 1}], "the killed consumer's job to run in the next one", timeout=10)
        wait_for(lambda: jobs(conn) == [], "the job to be finished", timeout=10)
        assert other.consuming.is_set()
        other.stop()
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()


def test_only_one_consumer_consumes_and_a_crash_restarts_it(app, monkeypatch, caplog):
    """One of two consumers holds the lock, the other takes over when it stops; a crashed loop starts again."""
    monkeypatch.setattr(consumer, "RESTART_SECONDS", 0.05)
    first = consumer.Consumer(app, poll=0.05).start()
    wait_for(first.consuming.is_set, "the first consumer to take the lock", timeout=10)
    second = consumer.Consumer(app, poll=0.05).start()
    time.sleep(0.3)
    assert not second.consuming.is_set()
    first.stop()
    wait_for(second.consuming.is_set, "the second consumer to take over", timeout=10)

    real = queue.run_one
    calls = []

    def crash_once(app):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("consumer bug")
        return real(app)

    monkeypatch.setattr(queue, "run_one", crash_once)
    wait_for(lambda: len(calls) > 2, "the consumer to start again after crashing", timeout=10)
    second.stop()
    assert not second.thread.is_alive()
    assert "queue consumer crashed" in caplog.text


def test_the_queue_commands(app, conn, monkeypatch):
    """`queue run` does every due job now; `queue status` counts jobs by kind and state and shows failures."""
    seen = []
    monkeypatch.setitem(queue.HANDLERS, KIND, seen.append)
    for n in range(3):
        queue.enqueue(conn, KIND, {"n": n})
    queue.enqueue(conn, KIND, {"n": 9}, delay=600)
    queue.enqueue(conn, "no.such.kind", {}, key="h.example")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["queue", "status"]).output == "no.such.kind\tqueued\t1\ntest.echo\tqueued\t4\n"
    assert runner.invoke(args=["queue", "run"]).output == "Ran 4 job(s)\n"
    assert seen == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert runner.invoke(args=["queue", "status"]).output == (
        "no.such.kind\tfailed\t1\ntest.echo\tqueued\t1\n"
        "failed job 5 (no.such.kind, h.example): no handler for jobs of kind 'no.such.kind'\n"
    )


def test_a_database_that_cannot_be_used_is_one_line_said_once_not_a_crash(app, monkeypatch, caplog):
    """A damaged database pauses the consumer with one error line (no traceback), said again only if it changes."""
    monkeypatch.setattr(consumer, "RESTART_SECONDS", 0.02)
    calls = []

    def damaged(app):
        calls.append(1)
        raise sqlite3.DatabaseError("file is not a database")

    monkeypatch.setattr(queue, "run_one", damaged)
    running = consumer.Consumer(app, poll=0.01).start()
    wait_for(lambda: len(calls) > 3, "the consumer to try the database several times", timeout=10)
    running.stop()
    paused = [record for record in caplog.records if "queue consumer paused" in record.getMessage()]
    assert len(paused) == 1 and "file is not a database" in paused[0].getMessage()
    assert paused[0].exc_info is None and "Traceback" not in caplog.text


class RecordingStop(threading.Event):
    """A stop event that records how long the consumer waited each time, and stops it after `times` waits."""

    def __init__(self, times):
        super().__init__()
        self.times, self.waits = times, []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        if len(self.waits) == self.times:
            self.set()
        return self.is_set()


def test_the_consumer_pauses_its_gap_after_each_job_and_polls_when_idle(app, monkeypatch):
    """After a job the consumer waits JOB_GAP_SECONDS (at most 10 jobs a second), with nothing due its poll."""
    done = iter([True, True, False])
    monkeypatch.setattr(queue, "run_one", lambda app: next(done))
    running = consumer.Consumer(app, poll=0.7, gap=0.2)
    running.stopping = RecordingStop(times=3)
    running._work()
    assert running.stopping.waits == [0.2, 0.2, 0.7]
    assert consumer.Consumer(app).gap == consumer.JOB_GAP_SECONDS == 0.1


def test_a_workers_consumer_waits_its_start_delay_before_the_lock(app, monkeypatch):
    """The app's consumer (one per worker) waits START_DELAY_SECONDS before it looks at the lock or the queue."""
    started = []
    monkeypatch.setattr(consumer.Consumer, "start", lambda self: started.append(self) or self)
    app.start_queue_consumer()
    (made,) = started
    assert made.delay == consumer.START_DELAY_SECONDS == 1.0
    assert consumer.Consumer(app).delay == 0.0
    made.stopping = RecordingStop(times=1)
    made._run()  # stopped during the delay: it never takes the lock
    assert made.stopping.waits == [1.0]
    assert not made.consuming.is_set()
