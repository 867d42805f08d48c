"""Gunicorn's sync worker, made to answer the requests already waiting for it when it is told to stop."""

import time

from gunicorn.workers.sync import SyncWorker

# The accept queue is first in, first out: this is long enough to answer what
# was queued when the stop came, and short enough that steady traffic cannot
# hold a stopping worker (the container must stop within seconds).
DRAIN_SECONDS = 1.0


class DrainingWorker(SyncWorker):
    """A sync worker that, on its way out, serves the connections already queued on its listeners.

    Gunicorn's sync worker stops accepting as soon as it is told to stop. A
    connection the kernel has already queued (the client sent its request
    just before SIGTERM, while every worker was busy) is then reset when the
    last worker exits. This worker accepts and answers those first
    (gunicorn.conf.py: worker_class).
    """

    def run(self):
        """Serve until told to stop, then drain the queued connections."""
        super().run()
        deadline = time.monotonic() + DRAIN_SECONDS
        for listener in self.sockets:
            self.drain(listener, deadline)

    def drain(self, listener, deadline):
        """Accept and answer the connections queued on a listener; return how many.

        It stops when the queue is empty or the deadline passes.
        """
        served = 0
        while time.monotonic() < deadline:
            try:
                # Non-blocking: an empty queue (or a closed listener) ends the drain.
                self.accept(listener)
            except OSError:
                break
            served += 1
        return served
