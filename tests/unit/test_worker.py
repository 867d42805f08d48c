"""The Gunicorn worker answers the connections already queued when it is told to stop."""

import socket
import time

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.sync import SyncWorker

from starpunk.worker import DrainingWorker


class _Listener:
    """A listening socket on 127.0.0.1, shaped like Gunicorn's (it delegates to the socket)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.sock.setblocking(False)

    def __getattr__(self, name):
        return getattr(self.sock, name)


@pytest.fixture
def listener():
    """Give a test a non-blocking listening socket on 127.0.0.1."""
    listener = _Listener()
    yield listener
    listener.sock.close()


@pytest.fixture
def stopped_worker():
    """Return a function making a worker already told to stop, whose handle() records the connections it gets."""
    workers = []

    def make(worker_class, listener):
        cfg = Config()
        worker = worker_class(0, 0, [listener], None, 30, cfg, Logger(cfg))
        workers.append(worker)
        worker.alive = False
        worker.handled = []

        def handle(listener, client, addr):
            worker.handled.append(addr)
            client.close()

        worker.handle = handle
        return worker

    yield make
    for worker in workers:
        worker.tmp.close()


def _queue_connections(listener, count):
    clients = [socket.create_connection(listener.getsockname()) for _ in range(count)]
    for client in clients:
        client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return clients


@pytest.mark.parametrize(("worker_class", "answered"), [(SyncWorker, 0), (DrainingWorker, 3)])
def test_stopping_worker_answers_queued_connections(listener, stopped_worker, worker_class, answered):
    """Told to stop with three requests queued, Gunicorn's sync worker drops them; DrainingWorker answers them."""
    clients = _queue_connections(listener, 3)
    worker = stopped_worker(worker_class, listener)
    worker.run()
    assert len(worker.handled) == answered
    for client in clients:
        client.close()


def test_drain_is_bounded_in_time(listener, stopped_worker):
    """A stopping worker stops draining at its deadline, however many connections are still queued."""
    clients = _queue_connections(listener, 20)
    worker = stopped_worker(DrainingWorker, listener)
    answer = worker.handle

    def slow_handle(listener, client, addr):
        time.sleep(0.05)
        answer(listener, client, addr)

    worker.handle = slow_handle
    served = worker.drain(listener, time.monotonic() + 0.2)
    assert 1 <= served < 20
    for client in clients:
        client.close()
