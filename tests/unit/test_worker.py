"""The Gunicorn worker answers the connections already queued when it is told to stop."""

import socket
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.sync import SyncWorker

from starpunk.worker import DrainingWorker
from testkit.ports import free_port
from testkit.waiting import wait_for


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


# --- Slow clients, against a real Gunicorn running DrainingWorker --------------------------------

SHORT_HEADER_SECONDS = 1.0
SHORT_BODY_SECONDS = 1.5
# Workers drain for at most DRAIN_SECONDS (1 s) on SIGTERM; Gunicorn itself waits graceful_timeout (30 s) for them.
STOP_SECONDS = 10
ECHO_APP = """
def app(environ, start_response):
    body = environ["wsgi.input"].read()
    status = "200 OK" if len(body) == int(environ.get("CONTENT_LENGTH") or 0) else "400 Bad Request"
    answer = str(len(body)).encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]
"""


def _start_gunicorn(folder, settings):
    """Start Gunicorn on the echo app with DrainingWorker and these conf.py lines; return (process, port, log)."""
    (folder / "echo.py").write_text(ECHO_APP)
    config = folder / "conf.py"
    config.write_text(
        "import starpunk.worker\n"
        f"starpunk.worker.HEADER_SECONDS = {SHORT_HEADER_SECONDS}\n"
        f"starpunk.worker.BODY_SECONDS = {SHORT_BODY_SECONDS}\n"
        "worker_class = 'starpunk.worker.DrainingWorker'\ncontrol_socket_disable = True\n" + settings
    )
    port = free_port()
    log = folder / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "-c", str(config), "-b", f"127.0.0.1:{port}"]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, "--chdir", str(folder), "echo:app"], stdout=out, stderr=subprocess.STDOUT)
    return process, port, log


def _stop_gunicorn(process, log):
    """SIGTERM Gunicorn; fail with its log unless every process has exited within STOP_SECONDS."""
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"Gunicorn did not stop within {STOP_SECONDS} s of SIGTERM; its log:\n{log.read_text()}")


@pytest.fixture
def gunicorn(request, tmp_path):
    """Run Gunicorn on a body-echoing app; yield (port, log path).

    2 DrainingWorkers and a WORKER_TIMEOUT of 30 s unless the test asks for others (a
    number of workers, or (workers, timeout)); short deadlines.
    """
    workers, timeout = getattr(request, "param", 2), 30
    if isinstance(workers, tuple):
        workers, timeout = workers
    process, port, log = _start_gunicorn(tmp_path, f"workers = {workers}\ntimeout = {timeout}\n")
    try:
        wait_for(lambda: _get(port, timeout=1) == 200, timeout=20, what=f"Gunicorn answering on 127.0.0.1:{port}")
        yield port, log
    finally:
        _stop_gunicorn(process, log)


def _get(port, timeout=5.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return int(sock.recv(64).split()[1])
    except OSError:
        return None


def _read_all(sock):
    chunks = []
    while chunk := sock.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def test_idle_connections_do_not_hold_the_workers(gunicorn):
    """Eight connections that send half their headers and stop leave both workers free.

    A request is answered at once.
    """
    port, _ = gunicorn
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
    for sock in idle:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    status = _get(port)
    elapsed = time.monotonic() - started
    assert status == 200
    assert elapsed < SHORT_HEADER_SECONDS, f"the request waited {elapsed:.2f} s behind idle connections"
    for sock in idle:
        sock.close()


def test_incomplete_headers_get_408_and_one_clear_log_line(gunicorn):
    """A connection whose headers never complete is answered 408 and closed at the deadline; the log says why, once."""
    port, log = gunicorn
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = _read_all(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert SHORT_HEADER_SECONDS * 0.8 <= waited < SHORT_HEADER_SECONDS + 5
    wait_for(lambda: "no complete request headers within" in log.read_text(), timeout=5, what="the 408 log line")
    text = log.read_text()
    assert text.count("no complete request headers within") == 1
    assert "127.0.0.1" in text and "docs/deployment/container-deployment.md" in text
    assert "Perhaps out of memory" not in text and "Traceback" not in text


def test_trickled_headers_are_answered_once_complete(gunicorn):
    """Headers sent a piece at a time, within the deadline, are answered normally."""
    port, _ = gunicorn
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for piece in (b"GET / HT", b"TP/1.1\r\nHo", b"st: x\r\nConnection: close\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(0.1)
        assert _read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_a_body_slower_than_its_deadline_is_refused_and_frees_the_worker(gunicorn):
    """Two uploads that stall mid-body hold both workers only until the body deadline.

    Then 400, a log line, and service again.
    """
    port, log = gunicorn
    stalled = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        stalled.append(sock)
    started = time.monotonic()
    answers = [_read_all(sock) for sock in stalled]
    assert all(answer.startswith(b"HTTP/1.1 400 ") for answer in answers), answers
    assert time.monotonic() - started < SHORT_BODY_SECONDS + 5
    assert _get(port) == 200
    wait_for(lambda: log.read_text().count("its body did not arrive within") == 2, timeout=5, what="two body log lines")
    assert "Perhaps out of memory" not in log.read_text()
    for sock in stalled:
        sock.close()


def test_a_complete_body_is_read_whole(gunicorn):
    """A 3 MB body sent at once reaches the app whole."""
    port, _ = gunicorn
    body = b"y" * 3_000_000
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(str(len(body)).encode())


@pytest.mark.parametrize("gunicorn", [1], indirect=True)
def test_headers_that_came_in_time_are_answered_even_when_the_worker_was_busy(gunicorn):
    """A connection waiting for headers is answered, not 408.

    Even when its worker then spent its header deadline on a slow body.
    """
    port, _ = gunicorn
    waiting = socket.create_connection(("127.0.0.1", port), timeout=10)
    time.sleep(0.2)
    busy = socket.create_connection(("127.0.0.1", port), timeout=10)
    busy.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100)
    time.sleep(0.2)
    waiting.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _read_all(busy).startswith(b"HTTP/1.1 400 ")
    assert _read_all(waiting).startswith(b"HTTP/1.1 200 ")
    busy.close()
    waiting.close()


@pytest.mark.parametrize("gunicorn", [(1, 3)], indirect=True)
def test_requests_answered_back_to_back_are_each_timed_from_their_own_start(gunicorn):
    """Stalled uploads whose headers complete together are refused one after another, and the worker lives.

    Each takes its 1 s body deadline; six in a row outlast WORKER_TIMEOUT (3 s here),
    which must time one request, not the batch a worker answers from one poll.
    """
    port, log = gunicorn
    with ExitStack() as stack:
        uploads = [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=15)) for _ in range(6)]
        for sock in uploads:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # incomplete headers: the worker parks them
        time.sleep(0.3)  # well inside the 1 s header deadline
        for sock in uploads:
            sock.sendall(b"Content-Length: 100000\r\n\r\n" + b"x" * 100)
        answers = [_read_all(sock) for sock in uploads]
    assert all(answer.startswith(b"HTTP/1.1 400 ") for answer in answers), answers
    assert "WORKER TIMEOUT" not in log.read_text(), log.read_text()[-2000:]


def test_a_stop_sent_while_a_worker_boots_stops_it(tmp_path):
    """SIGTERM to Gunicorn while its worker is between the fork and its own signal handlers: all exit at once.

    The worker then still ran the master's handlers, which queue the signal for
    the master's loop: it was lost, and Gunicorn waited graceful_timeout (30 s
    here) before killing the worker. post_fork holds the worker in that window.
    """
    process, _, log = _start_gunicorn(
        tmp_path, "import time\nworkers = 1\ngraceful_timeout = 30\ndef post_fork(server, worker):\n    time.sleep(2)\n"
    )
    try:
        wait_for(lambda: "Booting worker" in log.read_text(), timeout=20, what="the worker's fork")
    finally:
        _stop_gunicorn(process, log)
    assert "Worker exiting" in log.read_text(), log.read_text()
