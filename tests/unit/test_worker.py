"""The Gunicorn worker: slow clients, the connections queued when it is told to stop, and the internals it uses."""

import errno
import inspect
import os
import signal
import socket
import threading
import time
from contextlib import ExitStack

import pytest
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.config import Config
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker
from gunicorn.workers.sync import StopWaiting, SyncWorker

from starpunk.worker import GUNICORN_INTERNALS, Parked, SlowClientWorker
from testkit.local import LocalGunicorn
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


@pytest.mark.parametrize(("worker_class", "answered"), [(SyncWorker, 0), (SlowClientWorker, 3)])
def test_stopping_worker_answers_queued_connections(listener, stopped_worker, worker_class, answered):
    """Told to stop with three requests queued, Gunicorn's sync worker drops them; SlowClientWorker answers them."""
    clients = _queue_connections(listener, 3)
    worker = stopped_worker(worker_class, listener)
    worker.run()
    assert len(worker.handled) == answered
    for client in clients:
        client.close()


def test_drain_is_bounded_in_time(listener, stopped_worker):
    """A stopping worker stops draining at its deadline, however many connections are still queued."""
    clients = _queue_connections(listener, 20)
    worker = stopped_worker(SlowClientWorker, listener)
    answer = worker.handle

    def slow_handle(listener, client, addr):
        time.sleep(0.05)
        answer(listener, client, addr)

    worker.handle = slow_handle
    served = worker.drain(listener, time.monotonic() + 0.2)
    assert 1 <= served < 20
    for client in clients:
        client.close()


# --- Slow clients, against a real Gunicorn running SlowClientWorker --------------------------------

SHORT_HEADER_SECONDS = 1.0
SHORT_BODY_SECONDS = 1.5
# util.close_graceful's default: how long Gunicorn (27) waits for a client to close after the answer.
GUNICORN_CLOSE_LINGER_SECONDS = 2.0
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
    """Start Gunicorn on the echo app with SlowClientWorker and these conf.py lines; return the LocalGunicorn."""
    (folder / "echo.py").write_text(ECHO_APP)
    config = folder / "conf.py"
    config.write_text(
        "import starpunk.worker\n"
        f"starpunk.worker.HEADER_SECONDS = {SHORT_HEADER_SECONDS}\n"
        f"starpunk.worker.BODY_SECONDS = {SHORT_BODY_SECONDS}\n"
        "worker_class = 'starpunk.worker.SlowClientWorker'\ncontrol_socket_disable = True\n" + settings
    )
    return LocalGunicorn("echo:app", folder / "gunicorn.log", ["-c", str(config), "--chdir", str(folder)])


def _stop_gunicorn(server):
    """SIGTERM Gunicorn; fail with its log unless every process has exited within STOP_SECONDS."""
    if not server.stop(STOP_SECONDS):
        pytest.fail(f"Gunicorn did not stop within {STOP_SECONDS} s of SIGTERM; its log:\n{server.logs()}")


@pytest.fixture
def gunicorn(request, tmp_path):
    """Run Gunicorn on a body-echoing app; yield (port, log path).

    2 SlowClientWorkers and a WORKER_TIMEOUT of 30 s unless the test asks for others (a
    number of workers, or (workers, timeout)); short deadlines.
    """
    workers, timeout = getattr(request, "param", 2), 30
    if isinstance(workers, tuple):
        workers, timeout = workers
    server = _start_gunicorn(tmp_path, f"workers = {workers}\ntimeout = {timeout}\n")
    port = server.port
    try:
        wait_for(lambda: _get(port, timeout=1) == 200, timeout=20, what=f"Gunicorn answering on 127.0.0.1:{port}")
        yield port, server.log
    finally:
        _stop_gunicorn(server)


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
    uploads_count = 6
    # Each refusal holds the worker for its body deadline, then Gunicorn lingers on the closed connection
    # (util.close_graceful) until this client closes its end. The worker may answer the six in another order
    # than they are read here, so the first read may wait for the whole batch (the bound, on a busy machine).
    batch_seconds = uploads_count * (SHORT_BODY_SECONDS + GUNICORN_CLOSE_LINGER_SECONDS)
    with ExitStack() as stack:
        uploads = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=batch_seconds + 15))
            for _ in range(uploads_count)
        ]
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
    server = _start_gunicorn(
        tmp_path, "import time\nworkers = 1\ngraceful_timeout = 30\ndef post_fork(server, worker):\n    time.sleep(2)\n"
    )
    try:
        wait_for(lambda: "Booting worker" in server.logs(), timeout=20, what="the worker's fork")
    finally:
        _stop_gunicorn(server)
    assert "Worker exiting" in server.logs(), server.logs()


# --- The Gunicorn internals starpunk/worker.py relies on (GUNICORN_INTERNALS there) -------------------

UPGRADE_ADVICE = "starpunk/worker.py relies on it (GUNICORN_INTERNALS): adapt the worker before moving the pin"


def bounded(call, seconds=5.0):
    """Run call in a thread; fail with a clear line if it has not returned within seconds, raise what it raised."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"Gunicorn's loop did not return within {seconds} s; {UPGRADE_ADVICE}"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class _App(BaseApplication):
    """The smallest Gunicorn application: a WSGI callable, no configuration file."""

    def load_config(self):
        """Take Gunicorn's defaults."""

    def load(self):
        """Return a WSGI app that answers nothing."""
        return lambda environ, start_response: []


class _Probe(SyncWorker):
    """A sync worker whose accept() and wait() follow a script, to watch Gunicorn's run loop call them."""

    def __init__(self, listeners, accepts, wait):
        cfg = Config()
        super().__init__(0, os.getppid(), listeners, None, 30, cfg, Logger(cfg))
        self.accepts = list(accepts)
        self.scripted_wait = wait
        self.calls = []
        self.PIPE = os.pipe()  # as Worker.init_process makes it

    def accept(self, listener):
        self.calls.append("accept")
        step = self.accepts.pop(0) if self.accepts else "stop"
        if step == "stop":
            self.alive = False
        elif step == "parked":
            raise Parked(errno.EAGAIN, "connection waiting for its request headers")

    def wait(self, timeout):
        self.calls.append("wait")
        return self.scripted_wait(self)


@pytest.fixture
def probes():
    """Make _Probe workers and close their heartbeat files afterwards."""
    made = []

    def make(listeners, accepts=(), wait=lambda worker: None):
        worker = _Probe(listeners, accepts, wait)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.tmp.close()
        for fd in worker.PIPE:
            os.close(fd)


def check_master_signal_queue():
    """The master's handler is its bound Arbiter.signal, which puts the signal on SIG_QUEUE (get_nowait reads it)."""
    saved = {number: signal.getsignal(number) for number in (*Arbiter.SIGNALS, signal.SIGCHLD)}
    try:
        arbiter = Arbiter(_App())
        arbiter.init_signals()
        handler = signal.getsignal(signal.SIGTERM)
        assert getattr(handler, "__self__", None) is arbiter, "SIGTERM's handler is no longer the arbiter's method"
        handler(signal.SIGTERM, None)
        assert not arbiter.SIG_QUEUE.empty(), "the arbiter's handler did not put the signal on SIG_QUEUE"
        assert arbiter.SIG_QUEUE.get_nowait() == signal.SIGTERM, "SIG_QUEUE does not hold the signal"
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def check_accept_loop(listener, probes):
    """An EAGAIN from accept() sends the loop to wait(), and the listeners wait() returns are accepted on."""
    one = probes([listener], accepts=["parked", "stop"], wait=lambda worker: None)
    bounded(one.run)
    assert one.calls == ["accept", "wait", "accept"], f"one listener: the loop called {one.calls}"
    second = _Listener()
    try:
        many = probes([listener, second], accepts=["parked", "stop"], wait=lambda worker: [second])
        bounded(many.run)
        assert many.calls == ["wait", "accept", "wait", "accept"], f"two listeners: the loop called {many.calls}"
    finally:
        second.sock.close()


def check_wake_up_pipe(listener, probes):
    """Gunicorn sets wait_fds to the listeners and PIPE[0]; its wait() returns on a byte in the pipe and reads it."""
    setup = inspect.getsource(Worker.init_process)
    assert "self.PIPE = os.pipe()" in setup, "Worker.init_process no longer makes PIPE"
    assert "self.wait_fds = self.sockets + [self.PIPE[0]]" in setup, "wait_fds is no longer the listeners and PIPE[0]"
    worker = probes([listener])
    worker.wait_fds = [listener, worker.PIPE[0]]
    os.write(worker.PIPE[1], b"1")
    assert bounded(lambda: SyncWorker.wait(worker, 1.0)) == [worker.PIPE[0]], "wait() ignored the pipe"
    os.set_blocking(worker.PIPE[0], False)
    with pytest.raises(BlockingIOError):
        os.read(worker.PIPE[0], 1)  # wait() read the wake-up byte itself


def check_stop_waiting(listener, probes):
    """StopWaiting raised by wait() ends run(), and run() returns at once when alive is false."""

    def stop(worker):
        raise StopWaiting

    worker = probes([listener], accepts=["parked"], wait=stop)
    bounded(worker.run)
    assert worker.calls == ["accept", "wait"], f"after StopWaiting the loop called {worker.calls}"
    stopped = probes([listener])
    stopped.alive = False
    bounded(stopped.run)
    assert stopped.calls == [], "run() served with alive false"


def check_handle(listener, probes):
    """handle() parses the request through client.recv only and passes the client on to handle_request()."""
    server, peer = socket.socketpair()
    used = []

    class Watched:
        def __getattr__(self, name):
            used.append(name)
            return getattr(server, name)

    worker = probes([listener])
    handed = []
    worker.handle_request = lambda listener, req, client, addr: handed.append((req.method, req.path, client))
    client = Watched()
    peer.sendall(b"GET /probe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    peer.shutdown(socket.SHUT_WR)
    try:
        bounded(lambda: SyncWorker.handle(worker, listener, client, ("127.0.0.1", 1)))
    finally:
        peer.close()
    assert handed == [("GET", "/probe", client)], f"handle_request got {handed}"
    reads = {name for name in used if name.startswith(("recv", "read", "makefile"))}
    assert reads == {"recv"}, f"the request was read with {sorted(reads)}, not recv alone"


INTERNAL_CHECKS = {
    "MASTER_SIGNAL_QUEUE": lambda listener, probes: check_master_signal_queue(),
    "ACCEPT_LOOP": check_accept_loop,
    "WAKE_UP_PIPE": check_wake_up_pipe,
    "STOP_WAITING": check_stop_waiting,
    "HANDLE": check_handle,
}


def test_every_gunicorn_internal_has_a_check():
    """Each internal starpunk/worker.py names is checked below, and no check is of an internal it does not name."""
    assert set(INTERNAL_CHECKS) == set(GUNICORN_INTERNALS)


@pytest.mark.parametrize("internal", sorted(INTERNAL_CHECKS))
def test_gunicorn_internal(internal, listener, probes):
    """The installed Gunicorn still behaves as starpunk/worker.py relies on; else one line says which part."""
    try:
        INTERNAL_CHECKS[internal](listener, probes)
    except Exception as exc:  # any way it breaks is said in one line
        reason = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
        pytest.fail(f"Gunicorn internal {internal} changed: {reason}; {UPGRADE_ADVICE}", pytrace=False)
