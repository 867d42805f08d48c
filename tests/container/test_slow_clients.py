"""Slow clients straight at the container's port (no proxy): it degrades clearly, and the log says why.

Gunicorn's sync workers read one request at a time; starpunk.worker keeps a
connection whose headers are incomplete out of the workers (408 after
HEADER_SECONDS) and gives a body BODY_SECONDS. The guide's measured tolerance
comes from these runs (printed with -s).
"""

import socket
import time

from testkit.site import ApiSite, Lab
from testkit.slowclients import SlowClientRun, Target

# starpunk/worker.py's deadlines (this suite's environment has no Gunicorn to import them from).
HEADER_SECONDS = 10
BODY_SECONDS = 20
IDLE_CONNECTIONS = 8
HEADER_CLIENTS = 200
SLOW_UPLOADS = 2
# Past BODY_SECONDS, so the slow uploads meet the body deadline.
WINDOW_S = BODY_SECONDS + 5
GIVE_UP_MESSAGES = ("Perhaps out of memory", "WORKER TIMEOUT", "Traceback")


def _health_seconds(site: ApiSite) -> float:
    started = time.monotonic()
    reply = site.get("/health", timeout=60)
    assert reply.status_code == 200
    return time.monotonic() - started


def test_idle_connections_do_not_stall_the_site(lab: Lab) -> None:
    """Eight connections that send half a request and stop: /health still answers at once.

    Each idle one gets 408 and one log line.
    """
    site = lab.site()
    idle = [socket.create_connection(("127.0.0.1", site.port)) for _ in range(IDLE_CONNECTIONS)]
    for sock in idle:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    # Gunicorn's sync workers answered this after 31 s (the worker timeout); it must not
    # wait for the header deadline either.
    waited = _health_seconds(site)
    print(f"/health with {IDLE_CONNECTIONS} idle connections: {waited:.2f} s")
    assert waited < HEADER_SECONDS, f"/health took {waited:.1f} s behind {IDLE_CONNECTIONS} idle connections"
    for sock in idle:
        sock.settimeout(HEADER_SECONDS + 20)
        assert sock.recv(64).startswith(b"HTTP/1.1 408 "), "an idle connection was not answered 408"
        sock.close()
    logs = site.wait_for_log("no complete request headers within", count=IDLE_CONNECTIONS)
    assert not [message for message in GIVE_UP_MESSAGES if message in logs], logs[-3000:]


def test_slow_clients_at_the_bare_port(lab: Lab) -> None:
    """200 trickled headers and 2 uploads that stall mid-body at the bare port.

    Readers get every answer, the uploads a clear 400.
    """
    site = lab.site()
    owner = site.sign_in()
    slug = owner.publish("A note read while slow clients knock at the bare port.")
    token = site.run("flask", "--app", "starpunk", "token", "create", "--scope", "media").strip().splitlines()[-1]
    paths = ["/", f"/note/{slug}", "/feed.xml"]
    target = Target(site.port, "127.0.0.1")
    run = SlowClientRun.stalled_uploads(target, paths, SLOW_UPLOADS, token, WINDOW_S, header_clients=HEADER_CLIENTS)
    outcome = run.run()
    print(f"bare port: {outcome.summary()}")
    failed = outcome.failures()
    assert not failed, f"{len(failed)} reader requests failed at the bare port: {failed[:5]}"
    assert outcome.header_closed_by_server >= HEADER_CLIENTS, "the slow header clients were never closed"
    assert [upload.status for upload in outcome.uploads] == [400] * SLOW_UPLOADS, outcome.summary()
    logs = site.wait_for_log("its body did not arrive within", count=SLOW_UPLOADS)
    assert not [message for message in GIVE_UP_MESSAGES if message in logs], logs[-3000:]
