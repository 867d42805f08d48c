"""nginx.conf.example's micro-cache in front of the image, through HTTPS on 127.0.0.1 as starpunk.test.

Anonymous readers get pages and feeds from a one-second cache: fast (measured
against the same nginx serving the same bytes from disk, in the same run),
fresh (a new note shows within the freshness limit), and never the owner's
(the owner, the private paths and /health always reach the app, and nothing
of theirs, nor any Set-Cookie, lands in nginx's cache folder).
"""

import json
import re
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from harness.proxy import ProxyServer
from harness.reports import PROXY as REPORT
from loadtests import slowclients
from testkit.limits import PROXY_CACHE_STATIC_RATIO_LIMIT, PROXY_FRESHNESS_LIMIT_S
from testkit.owner import Owner
from testkit.ports import free_port, loopback_url
from testkit.site import POLL_SECONDS, START_TIMEOUT, ApiSite, Lab
from testkit.waiting import wait_for
from testkit.web import TIMEOUT, https_session

HOST = "starpunk.test"
NOTES = 10
# nginx (master and worker) on core 1; loadtests.slowclients.wrk runs wrk on core 0.
NGINX_CPU = "1"
# Short runs, alternating disk and cache, so a burst of other work on the shared
# machine lands in one round, not on one side: the median round decides.
ROUNDS = 5
WRK_SECONDS = 1
# While wrk reads through the cache the app sees about one refresh per expiry (1 s); 2 a second bounds it loosely.
APP_REQUESTS_PER_SECOND_LIMIT = 2
# What the owner's pages show and a reader's never do (base.html's sign-out button, the form's token).
OWNER_MARKERS = (b"Sign out", b"csrf_token")
CACHE_STATES = {"HIT", "MISS", "EXPIRED", "UPDATING", "REVALIDATED", "STALE"}
# Paths that reach the app on every request and are never stored.
PRIVATE_PATHS = (
    "/admin",
    "/admin/new",
    "/auth/login",
    "/micropub",
    "/indieauth/authorize",
    "/.well-known/oauth-authorization-server",
    "/health",
)
CACHE_KEY = re.compile(rb"\nKEY: ([^\n]*)\n")


@dataclass
class Cached:
    """nginx from nginx.conf.example (with a reference server for files on disk) in front of a StarPunk container."""

    proxy: ProxyServer
    app: ApiSite

    @property
    def url(self) -> str:
        """Return the address clients connect to, https://127.0.0.1:PORT."""
        return loopback_url(self.proxy.https_port, "https")

    def reader(self) -> requests.Session:
        """Return a new anonymous HTTPS session (no cookie) to the proxy that trusts only its certificate."""
        return https_session(HOST, self.proxy.https_port, str(self.proxy.ca_file))

    def get(self, path: str) -> requests.Response:
        """GET path through the proxy as a new anonymous reader, without following redirects."""
        return self.reader().get(self.url + path, allow_redirects=False, timeout=TIMEOUT)

    def owner(self) -> Owner:
        """Sign in as the owner through the proxy."""
        return self.app.sign_in(self.url, self.reader())

    def wait_cached(self, path: str) -> None:
        """Wait until an anonymous GET of path is answered from the cache."""
        wait_for(
            lambda: self.get(path).headers.get("X-Cache-Status"),
            f"{path} answered from nginx's cache",
            5,
            POLL_SECONDS,
            lambda status: status == "HIT",
        )

    def stored(self) -> dict[str, bytes]:
        """Return every entry in nginx's cache folder by its key (scheme, host and request URI)."""
        entries = {}
        for path in self.proxy.cache_folder.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                match = CACHE_KEY.search(content)
                entries[match.group(1).decode() if match else f"(no key) {path.name}"] = content
        return entries

    def app_requests(self, path: str) -> int:
        """Return how many requests for path the app's access log shows."""
        return self.app.logs().count(f'"GET {path} HTTP/1.1"')


@pytest.fixture(scope="module")
def cached(module_lab: Lab) -> Iterator[Cached]:
    """Start StarPunk with some notes and nginx in front, pinned to one core; remove nginx's files afterwards."""
    app_port = free_port()
    # Straight under /tmp, not pytest's 0700 folders: nginx's workers (nobody) write the cache there.
    proxy = ProxyServer("nginx", HOST, app_port, Path(tempfile.mkdtemp(prefix="starpunk-cache-")), reference=True)
    try:
        app = module_lab.site(env={"SITE_URL": proxy.site_url, "TRUSTED_PROXIES": "1"}, port=app_port)
        owner = app.sign_in()
        for number in range(1, NOTES + 1):
            owner.publish(f"Note {number} for the readers of the cache: " + "words to read " * 15)
        proxy.start(cpus=NGINX_CPU)
        cached = Cached(proxy, app)

        def health() -> int:
            proxy.check_running()
            return cached.get("/health").status_code

        wait_for(
            health,
            "nginx answering /health",
            START_TIMEOUT,
            POLL_SECONDS,
            lambda status: status == 200,
            (requests.RequestException,),
        )
        yield cached
    finally:
        proxy.stop()
        shutil.rmtree(proxy.workdir, ignore_errors=True)


def test_feed_from_the_cache_near_the_static_limit(cached: Cached, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anonymous /feed.xml from the cache runs at least half as fast as nginx serving the same bytes from disk."""
    feed = cached.get("/feed.xml").content
    (cached.proxy.reference_folder / "feed.xml").write_bytes(feed)
    cached.wait_cached("/feed.xml")
    # loadtests.slowclients.wrk reads its duration from this module constant.
    monkeypatch.setattr(slowclients, "WRK_SECONDS", WRK_SECONDS)
    rounds = []
    before = cached.app_requests("/feed.xml")
    for _ in range(ROUNDS):
        from_disk = slowclients.wrk(loopback_url(cached.proxy.reference_port, "https") + "/feed.xml")
        from_cache = slowclients.wrk(cached.url + "/feed.xml")
        rounds.append((from_disk, from_cache, from_cache / from_disk))
    reached_app = cached.app_requests("/feed.xml") - before
    ratio = statistics.median(round_[2] for round_ in rounds)
    figures = {
        "feed_bytes": len(feed),
        "wrk": f"1 thread, {slowclients.WRK_CONNECTIONS} connections, {WRK_SECONDS} s a run, on core 0",
        "nginx": f"1 worker on core {NGINX_CPU}",
        "rounds_disk_cache_ratio": [[round(disk), round(cache), round(share, 3)] for disk, cache, share in rounds],
        "from_disk_median_requests_per_s": round(statistics.median(round_[0] for round_ in rounds)),
        "from_cache_median_requests_per_s": round(statistics.median(round_[1] for round_ in rounds)),
        "cache_over_disk_median": round(ratio, 3),
        "limit": PROXY_CACHE_STATIC_RATIO_LIMIT,
        "seconds_of_reads": 2 * ROUNDS * WRK_SECONDS,
        "requests_that_reached_the_app": reached_app,
    }
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "microcache.json").write_text(json.dumps(figures, indent=1) + "\n")
    rows = [
        f"| {number} | {disk:.0f} | {cache:.0f} | {share:.2f} |"
        for number, (disk, cache, share) in enumerate(rounds, start=1)
    ]
    (REPORT / "summary.md").write_text(
        f"nginx.conf.example, anonymous /feed.xml ({len(feed)} bytes) over HTTPS, requests/s "
        f"(wrk {figures['wrk']}; nginx {figures['nginx']}):\n\n"
        "| round | the same bytes from disk (the limit) | from the micro-cache | cache ÷ disk |\n"
        "|---|---:|---:|---:|\n" + "\n".join(rows) + "\n"
        f"| median | {figures['from_disk_median_requests_per_s']} | {figures['from_cache_median_requests_per_s']} "
        f"| **{ratio:.2f}** (limit {PROXY_CACHE_STATIC_RATIO_LIMIT}) |\n\n"
        f"Requests that reached the app while wrk read through the cache: {reached_app}.\n"
    )
    print(figures)
    assert ratio >= PROXY_CACHE_STATIC_RATIO_LIMIT, figures
    # About one refresh per expiry reaches the app, not the readers' thousands of requests.
    assert reached_app <= APP_REQUESTS_PER_SECOND_LIMIT * (2 * ROUNDS * WRK_SECONDS) + 1, figures


def test_a_new_note_shows_through_the_cache_within_the_limit(cached: Cached) -> None:
    """A note the app has acknowledged shows on the cached home page and feed within 2 seconds."""
    for path in ("/", "/feed.xml"):
        cached.wait_cached(path)
    text = f"Fresh through the micro-cache {uuid.uuid4().hex[:8]}."
    cached.owner().publish(text)
    acknowledged = time.monotonic()
    for path in ("/", "/feed.xml"):
        # Bounded: polled until shortly past the limit, so a miss is reported with how late it was.
        wait_for(
            lambda path=path: text in cached.get(path).text,
            f"the new note on {path} through the cache",
            PROXY_FRESHNESS_LIMIT_S + 3,
            POLL_SECONDS,
        )
        seen = time.monotonic() - acknowledged
        assert seen <= PROXY_FRESHNESS_LIMIT_S, f"{path} showed the note after {seen:.2f} s"


def test_the_owner_is_never_served_from_or_stored_in_the_cache(cached: Cached) -> None:
    """The signed-in owner's pages come from the app; a reader right after gets no owner markup and no cookie."""
    cached.wait_cached("/")
    owner = cached.owner()
    for path in ("/", "/feed.xml", "/admin"):
        reply = owner.get(path)
        assert reply.headers.get("X-Cache-Status") == "BYPASS", f"{path}: {reply.headers.get('X-Cache-Status')}"
    assert b"Sign out" in owner.get("/").content
    for _ in range(3):
        reply = cached.get("/")
        assert reply.status_code == 200 and reply.headers.get("X-Cache-Status") in CACHE_STATES
        assert "Set-Cookie" not in reply.headers
        assert not any(marker in reply.content for marker in OWNER_MARKERS)
    stored = cached.stored()
    assert any(key.endswith("/") for key in stored), f"the anonymous home page should be stored: {list(stored)}"
    for key, content in stored.items():
        assert b"starpunk_session" not in content and owner.cookie.encode() not in content, key
        assert b"Set-Cookie" not in content, key
        assert not any(marker in content for marker in OWNER_MARKERS), key


def test_private_paths_and_health_reach_the_app_and_are_never_stored(cached: Cached) -> None:
    """/admin, /auth, /micropub, IndieAuth and /health: BYPASS every time, for readers and the owner, no entry kept."""
    owner = cached.owner()
    for path in PRIVATE_PATHS:
        statuses = [cached.get(path).headers.get("X-Cache-Status") for _ in range(2)]
        statuses.append(
            owner.http.get(owner.url(path), allow_redirects=False, timeout=TIMEOUT).headers.get("X-Cache-Status")
        )
        assert statuses == ["BYPASS"] * 3, f"{path}: {statuses}"
    kept = [key for key in cached.stored() if any(f"{HOST}{path}" in key for path in PRIVATE_PATHS)]
    assert not kept, kept


def test_what_the_app_forbids_is_not_stored(cached: Cached) -> None:
    """A stylesheet the app sends no-cache (unversioned) is never a HIT; its versioned address is cached."""
    versioned = re.search(r'<link rel="stylesheet" href="([^"]+)"', cached.get("/").text)
    assert versioned and "?v=" in versioned.group(1)
    cached.wait_cached(versioned.group(1))
    unversioned = versioned.group(1).split("?")[0]
    replies = [cached.get(unversioned) for _ in range(3)]
    assert all(reply.headers.get("Cache-Control") == "no-cache" for reply in replies)
    assert [reply.headers.get("X-Cache-Status") for reply in replies] == ["MISS"] * 3
    assert not [key for key in cached.stored() if key.endswith(unversioned)]


def test_only_gets_and_heads_use_the_cache(cached: Cached) -> None:
    """A HEAD is answered from the cached GET; a POST goes to the app with no cache status at all."""
    cached.wait_cached("/feed.xml")
    head = cached.reader().head(cached.url + "/feed.xml", timeout=TIMEOUT)
    assert head.status_code == 200 and head.headers.get("X-Cache-Status") == "HIT"
    posts = [
        cached.reader().post(cached.url + "/", data={"x": "1"}, allow_redirects=False, timeout=TIMEOUT)
        for _ in range(2)
    ]
    assert [post.headers.get("X-Cache-Status") for post in posts] == [None, None]
