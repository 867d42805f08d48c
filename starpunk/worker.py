"""Gunicorn's sync worker, made to hold slow clients without a worker each and to answer queued requests on stop."""

import errno
import os
import queue
import select
import signal
import socket
import time

from gunicorn import util
from gunicorn.workers.sync import StopWaiting, SyncWorker

# Gunicorn's internals this module relies on, beyond the documented worker_class setting. Each is
# named where it is used; requirements.txt pins Gunicorn with a pointer here, and
# tests/unit/test_worker.py (test_gunicorn_internal) checks each against the installed Gunicorn,
# so an upgrade that changes one fails there with its name instead of hanging a worker:
#   MASTER_SIGNAL_QUEUE  the master's signal handler is its bound Arbiter.signal, which puts the
#                        signal on the arbiter's SIG_QUEUE (a queue.SimpleQueue); a worker runs it
#                        from the fork until its own handlers are installed
#   ACCEPT_LOOP          SyncWorker's run loops call self.accept(listener) for each connection and
#                        take an OSError with errno EAGAIN as "nothing queued", then call
#                        self.wait(timeout), whose return value lists the ready listeners
#   WAKE_UP_PIPE         Worker.wait_fds (the listeners and PIPE[0]) and PIPE, the pipe a signal
#                        handler writes one byte to so that wait() returns
#   STOP_WAITING         raising gunicorn.workers.sync.StopWaiting from wait() ends the run loop,
#                        and run() returns once self.alive is false
#   HANDLE               SyncWorker.handle(listener, client, addr) reads the request through
#                        client.recv only, then calls handle_request(listener, req, client, addr)
GUNICORN_INTERNALS = ("MASTER_SIGNAL_QUEUE", "ACCEPT_LOOP", "WAKE_UP_PIPE", "STOP_WAITING", "HANDLE")

# The accept queue is first in, first out: this is long enough to answer what
# was queued when the stop came, and short enough that steady traffic cannot
# hold a stopping worker (the container must stop within seconds).
DRAIN_SECONDS = 1.0
# A connection must deliver its request line and headers within this time. Until
# they are complete it waits in the worker's poll set, costing a file descriptor,
# not the worker.
HEADER_SECONDS = 10.0
# Once the headers are in, a worker is committed: the body must arrive within this
# time (never past WORKER_TIMEOUT less a margin, when Gunicorn would kill the worker).
BODY_SECONDS = 20.0
TIMEOUT_MARGIN = 5.0
# How long a worker waits, at most, for a connection that has sent nothing yet before it
# lets it wait with the slow ones: a round trip on a local network or from the proxy.
ARRIVAL_GRACE_SECONDS = 0.01
# Connections a worker holds while their headers arrive; past it the oldest is closed.
MAX_WAITING = 256
# The signals that stop a worker (graceful or quick).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
# Enough of a request to see where its headers end (or that they are too long,
# which Gunicorn's parser then refuses).
PEEK_BYTES = 65536
PROXY_ADVICE = "put one of the shipped proxies in front (docs/deployment/container-deployment.md)"
REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def headers_complete(client):
    """Return True when the request's headers have arrived whole.

    Also True when the client closed, or sent too much to wait for.
    """
    try:
        data = client.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        # A reset or similar: the parser meets it at once and closes quietly.
        return True
    return not data or b"\n\r\n" in data or b"\n\n" in data or len(data) >= PEEK_BYTES


def request_arrives_soon(client):
    """Return True when a connection that has sent nothing yet sends its whole headers within ARRIVAL_GRACE_SECONDS.

    The kernel hands over a connection before its request arrives: an ordinary
    client's request follows within a round trip, and serving it now keeps it
    from waiting behind whatever this worker takes next.
    """
    try:
        if client.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
            return False  # part of a request is there already: it is coming slowly
    except BlockingIOError:
        pass
    except OSError:
        return True
    poller = select.poll()
    poller.register(client, select.POLLIN)
    return bool(poller.poll(ARRIVAL_GRACE_SECONDS * 1000)) and headers_complete(client)


def refuse_slowly_sent(client):
    """Answer 408 and close, without blocking; what the client sent is read first, so the close is not a reset."""
    try:
        for _ in range(16):
            if not client.recv(PEEK_BYTES, socket.MSG_DONTWAIT):
                break
    except OSError:
        pass
    try:
        client.send(REQUEST_TIMEOUT, socket.MSG_DONTWAIT)
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    util.close(client)


def client_address(addr):
    """Return the client's IP address for a log line."""
    return addr[0] if isinstance(addr, tuple) and addr else "?"


class Parked(BlockingIOError):
    """Raised by accept() when the connection it took waits for its headers (an EAGAIN to Gunicorn's loop).

    Gunicorn internal ACCEPT_LOOP: the sync worker's loops take errno EAGAIN as "nothing queued".
    """


class Waiting:
    """A connection accepted but whose request headers have not all arrived yet."""

    def __init__(self, listener, client, addr, deadline):
        self.listener = listener
        self.client = client
        self.addr = addr
        self.deadline = deadline


class BodyDeadline:
    """The client socket as the request's parser and the app read it: reads must end by a deadline.

    Past it, a read returns end-of-file (the app answers 400, as for a client
    that went away) and the worker is free again. Everything else is the socket's.
    """

    def __init__(self, sock, deadline, on_expiry):
        self._sock = sock
        self.deadline = deadline
        self.on_expiry = on_expiry
        self.expired = False
        self.finished = False

    def recv(self, size, flags=0):
        """Read like socket.recv, but give up (return b"") once the deadline has passed."""
        if self.finished:
            return self._sock.recv(size, flags)
        if self.expired:
            return b""
        remaining = self.deadline - time.monotonic()
        if remaining > 0:
            self._sock.settimeout(remaining)
            try:
                return self._sock.recv(size, flags)
            except TimeoutError:
                pass
            finally:
                self._sock.settimeout(None)
        self.expired = True
        self.on_expiry()
        return b""

    def __getattr__(self, name):
        return getattr(self._sock, name)


class SlowClientWorker(SyncWorker):
    """A sync worker that waits for request headers without blocking, bounds request bodies, and drains on stop.

    Gunicorn's sync worker reads one request at a time and blocks on it: a
    client that sends its headers slowly, or not at all, holds the worker
    until WORKER_TIMEOUT kills it (logged as "Perhaps out of memory?"). This
    worker accepts a connection, and until its headers are complete keeps it
    in its poll set beside the listeners, serving other connections meanwhile;
    after HEADER_SECONDS it answers 408 and closes it, with one log line. A
    body must arrive within BODY_SECONDS, after which the app sees the end of
    it and answers 400, again with one line. Bodies still hold the worker, so
    a buffering proxy belongs in front.

    Gunicorn's sync worker also stops accepting as soon as it is told to
    stop; a connection the kernel has already queued would then be reset when
    the last worker exits. This worker answers those first (gunicorn.conf.py:
    worker_class).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiting = []
        self.activity = "waiting for connections"

    def init_signals(self):
        """Install the worker's signal handlers, then act on a stop that arrived before they were in place.

        From the fork until now this process ran Gunicorn's master handlers,
        which only queue a signal for the master's loop (in this process's copy
        of the queue): a SIGTERM sent to a worker still booting, a stop right
        after a start, was lost, and the worker served on until Gunicorn killed
        it at graceful_timeout.
        """
        inherited = signal.getsignal(signal.SIGTERM)
        super().init_signals()
        # Gunicorn internal MASTER_SIGNAL_QUEUE: the inherited handler is the arbiter's bound method.
        queued = getattr(getattr(inherited, "__self__", None), "SIG_QUEUE", None)
        while queued is not None:
            try:
                caught = queued.get_nowait()
            except queue.Empty:
                break
            if caught in STOP_SIGNALS:
                os.kill(os.getpid(), caught)  # to this worker's own handler now
                break

    @property
    def body_seconds(self):
        """Return how long a request body may take: BODY_SECONDS, or less when WORKER_TIMEOUT is short."""
        return max(1.0, min(BODY_SECONDS, self.cfg.timeout - TIMEOUT_MARGIN))

    def run(self):
        """Serve until told to stop, then drain the queued connections."""
        super().run()  # Gunicorn internal STOP_WAITING: returns once self.alive is false
        deadline = time.monotonic() + DRAIN_SECONDS
        for listener in self.sockets:
            self.drain(listener, deadline)
        self.serve_waiting(deadline)
        for entry in self.waiting:
            util.close(entry.client)
        self.waiting = []

    def drain(self, listener, deadline):
        """Accept and answer the connections queued on a listener; return how many.

        It stops when the queue is empty or the deadline passes.
        """
        served = 0
        while time.monotonic() < deadline:
            try:
                # Non-blocking: an empty queue (or a closed listener) ends the drain.
                self.accept(listener)
            except Parked:
                continue
            except OSError:
                break
            served += 1
        return served

    def serve_waiting(self, deadline):
        """Answer the waiting connections whose headers arrive before the deadline (on stop)."""
        while self.waiting and time.monotonic() < deadline:
            try:
                self.poll_waiting(min(0.05, max(0.0, deadline - time.monotonic())), [])
            except StopWaiting:
                return

    def accept(self, listener):
        """Accept a connection; answer it now if its headers are in, else keep it waiting without blocking."""
        client, addr = listener.accept()
        client.setblocking(1)
        util.close_on_exec(client)
        if self.cfg.is_ssl or headers_complete(client) or request_arrives_soon(client):
            self.handle(listener, client, addr)
            return
        if len(self.waiting) >= MAX_WAITING:
            oldest = self.waiting.pop(0)
            self.log.warning(
                "starpunk: closed a connection from %s that had not sent its request headers: "
                "%d others are waiting for theirs (slow or idle clients; %s)",
                client_address(oldest.addr),
                MAX_WAITING,
                PROXY_ADVICE,
            )
            util.close(oldest.client)
        self.waiting.append(Waiting(listener, client, addr, time.monotonic() + HEADER_SECONDS))
        # Back to wait() rather than straight to the next accept: a request that
        # arrives on this connection meanwhile is answered before the worker
        # commits to another (Gunicorn's loop takes this as "nothing queued").
        raise Parked(errno.EAGAIN, "connection waiting for its request headers")

    def wait(self, timeout):
        """Wait for a listener or a waiting connection to be ready; answer the connections whose headers are in."""
        if not self.waiting:
            return super().wait(timeout)
        # Gunicorn internal ACCEPT_LOOP: what wait() returns is the listeners the loop accepts on.
        self.notify()
        self.expire_waiting()
        nearest = min((entry.deadline for entry in self.waiting), default=time.monotonic() + timeout)
        ready = []
        self.poll_waiting(max(0.0, min(timeout, nearest - time.monotonic())), ready)
        return ready

    def poll_waiting(self, timeout, ready_listeners):
        """Poll the listeners and waiting connections once.

        Answer complete requests; add ready listeners to ready_listeners.
        """
        poller = select.poll()
        # Gunicorn internal WAKE_UP_PIPE: wait_fds is the listeners and the signal pipe's reading end.
        for fd in self.wait_fds:
            poller.register(fd, select.POLLIN)
        by_fd = {}
        for entry in self.waiting:
            by_fd[entry.client.fileno()] = entry
            poller.register(entry.client, select.POLLIN)
        try:
            events = poller.poll(timeout * 1000)
        except InterruptedError:
            events = []
        for fd, event in events:
            entry = by_fd.get(fd)
            if entry is not None:
                if headers_complete(entry.client):
                    self.waiting.remove(entry)
                    self.handle(entry.listener, entry.client, entry.addr)
                continue
            if event & select.POLLNVAL:
                raise StopWaiting  # Gunicorn internal STOP_WAITING: a closed listener ends the run loop
            if fd == self.PIPE[0]:
                # A signal's wake-up byte (the pipe is non-blocking).
                try:
                    os.read(self.PIPE[0], 1)
                except BlockingIOError:
                    pass
                continue
            ready_listeners.extend(listener for listener in self.sockets if listener.fileno() == fd)
        self.expire_waiting()

    def expire_waiting(self):
        """Answer 408 and close the connections whose headers did not arrive in time, one log line each."""
        now = time.monotonic()
        overdue = [entry for entry in self.waiting if entry.deadline <= now]
        for entry in overdue:
            self.waiting.remove(entry)
            if headers_complete(entry.client):
                # They came in time, while this worker was busy with another request.
                self.handle(entry.listener, entry.client, entry.addr)
                continue
            self.log.warning(
                "starpunk: closed the connection from %s: no complete request headers within %.0f s "
                "(a slow or idle client; %s)",
                client_address(entry.addr),
                HEADER_SECONDS,
                PROXY_ADVICE,
            )
            refuse_slowly_sent(entry.client)

    def handle(self, listener, client, addr):
        """Answer one connection, its body bounded by the body deadline."""
        # Gunicorn's heartbeat, so WORKER_TIMEOUT times this request alone: connections
        # that became ready together are answered one after another from one poll.
        self.notify()
        who = client_address(addr)
        seconds = self.body_seconds

        def expired():
            self.log.warning(
                "starpunk: refused a request from %s: its body did not arrive within %.0f s (a slow client; %s)",
                who,
                seconds,
                PROXY_ADVICE,
            )

        self.activity = f"reading a request from {who}"
        if not self.cfg.is_ssl:
            # Gunicorn internal HANDLE: the parser reads the socket through recv, which BodyDeadline bounds.
            client = BodyDeadline(client, time.monotonic() + seconds, expired)
        try:
            super().handle(listener, client, addr)
        finally:
            self.activity = "waiting for connections"

    def handle_request(self, listener, req, client, addr):
        """Answer a parsed request; afterwards the socket reads without a deadline (Gunicorn's graceful close)."""
        # The method only: a path may hold a login-link token.
        self.activity = f"answering a {req.method} request from {client_address(addr)}"
        try:
            super().handle_request(listener, req, client, addr)
        finally:
            if isinstance(client, BodyDeadline):
                client.finished = True
