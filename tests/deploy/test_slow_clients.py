"""Slow clients through Caddyfile.example and nginx.conf.example: the proxy absorbs them, readers do not notice.

200 connections trickle their headers (one short line a second, never
finishing) and 20 uploads of 5 MB photos trickle their bodies at 4 KB/s for
the window (25 s); then the rest of each body goes at once, so the uploads
finish. Readers fetch /, a permalink and /feed.xml through the proxy the
whole time. Every reader gets a 200, the readers' p95 stays under the goal,
and every finished upload is stored whole (its bytes come back from the app).
All on 127.0.0.1, over HTTPS as starpunk.test.
"""

import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.proxy import ProxyServer
from testkit.site import ApiSite, Lab
from testkit.slowclients import Outcome, SlowClientRun, Target
from testkit.waiting import wait_for
from testkit.web import plain_session

HOST = "starpunk.test"
HEADER_CLIENTS = 200
UPLOADS = 20
UPLOAD_BYTES = 5_000_000
UPLOAD_RATE = 4096
WINDOW_S = 25.0
# The goal for readers while the proxy holds the slow clients.
READER_P95_GOAL_MS = 200


@dataclass
class Front:
    """A proxy from the repository's example in front of a StarPunk container."""

    proxy: ProxyServer
    site: ApiSite
    token: str
    permalink: str

    def target(self) -> Target:
        """Return where slow clients connect: the proxy's HTTPS port, as starpunk.test, trusting its CA."""
        return Target(self.proxy.https_port, HOST, ssl.create_default_context(cafile=str(self.proxy.ca_file)))


@pytest.fixture(scope="module", params=["caddy", "nginx"])
def front(request: pytest.FixtureRequest, module_lab: Lab) -> Iterator[Front]:
    """Start StarPunk, a note, a media token, and the proxy in front; stop the proxy and remove its files afterwards."""
    site = module_lab.site(env={"SITE_URL": f"https://{HOST}", "TRUSTED_PROXIES": "1"})
    owner = site.sign_in()
    slug = owner.publish("A note for readers while slow clients knock: " + "words " * 40)
    token = site.run("flask", "--app", "starpunk", "token", "create", "--scope", "media").strip().splitlines()[-1]
    # Straight under /tmp, not pytest's private folder: nginx's workers (nobody) spool the
    # uploads' bodies to temporary files in it, as they do in /var/lib/nginx on a server.
    workdir = Path(tempfile.mkdtemp(prefix=f"starpunk-slow-{request.param}-"))
    proxy = ProxyServer(request.param, HOST, site.port, workdir)
    try:
        proxy.start()
        proxy.wait_for_ca()
        front = Front(proxy, site, token, f"/note/{slug}")
        http = plain_session()
        http.verify = str(proxy.ca_file)

        def health() -> int:
            proxy.check_running()
            return _fetch_status(front, "/health")

        wait_for(health, what=f"{proxy.kind} answering /health", timeout=30, until=lambda status: status == 200)
        yield front
    finally:
        proxy.stop()
        shutil.rmtree(proxy.workdir, ignore_errors=True)


def _fetch_status(front: Front, path: str) -> int:
    run = SlowClientRun(front.target(), [path], readers=1, window_s=0)
    replies = run.run().replies
    return replies[0].status or 0 if replies else 0


def _stored_bytes(front: Front, location: str) -> bytes:
    """Return the bytes the app serves for an uploaded photo's URL, fetched from the app itself."""
    reply = front.site.get(urlsplit(location).path, timeout=30)
    assert reply.status_code == 200, f"{location}: {reply.status_code}"
    return reply.content


def test_slow_clients_are_absorbed_by_the_proxy(front: Front) -> None:
    """200 trickled headers and 20 trickled 5 MB uploads.

    Readers see only 200s, p95 under the goal, uploads stored whole.
    """
    run = SlowClientRun(
        front.target(),
        ["/", front.permalink, "/feed.xml"],
        header_clients=HEADER_CLIENTS,
        uploads=UPLOADS,
        upload_bytes=UPLOAD_BYTES,
        upload_rate=UPLOAD_RATE,
        token=front.token,
        window_s=WINDOW_S,
    )
    outcome: Outcome = run.run()
    print(f"{front.proxy.kind}: {outcome.summary()}")
    front.proxy.check_running()
    assert outcome.header_opens >= HEADER_CLIENTS, outcome.summary()
    assert len(outcome.replies) > 100, f"too few reader requests to judge: {outcome.summary()}"
    failed = outcome.failures()
    assert not failed, f"{len(failed)} reader requests failed through {front.proxy.kind}: {failed[:5]}"
    assert outcome.percentile_ms(0.95) < READER_P95_GOAL_MS, outcome.summary()
    stored = [upload for upload in outcome.uploads if upload.status == 201]
    assert len(stored) == UPLOADS, f"uploads: {[(upload.status, upload.error) for upload in outcome.uploads]}"
    for upload in stored:
        assert _stored_bytes(front, upload.location) == upload.sent, f"{upload.location} is not the photo sent"
    logs = front.site.logs()
    assert "its body did not arrive" not in logs and "no complete request headers" not in logs, (
        "a slow client reached Gunicorn through the proxy"
    )
