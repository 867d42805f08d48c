"""Caddyfile.example and nginx.conf.example in front of the image, checked through HTTPS on 127.0.0.1.

Each proxy is rendered for the test host starpunk.test on free ports, with
Caddy's internal CA or a self-signed certificate, and StarPunk runs with
TRUSTED_PROXIES=1 and SITE_URL=https://starpunk.test:PORT. Clients connect to
127.0.0.1 and speak TLS (SNI, certificate check, Host) as starpunk.test.
"""

import gzip
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import zstandard

from harness.proxy import ProxyServer
from testkit.env import SITE_NAME
from testkit.limits import PROXY_FRESHNESS_LIMIT_S
from testkit.ports import free_port, loopback_url
from testkit.site import POLL_SECONDS, SETTLE_TIMEOUT, START_TIMEOUT, ApiSite, Lab
from testkit.waiting import wait_for
from testkit.web import TIMEOUT, https_session, plain_session

HOST = "starpunk.test"
FEEDS = {
    "/feed.xml": "application/rss+xml",
    "/feed.atom": "application/atom+xml",
    "/feed.json": "application/feed+json",
}
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
FEED_CACHE = "public, max-age=300"
STATIC_CACHE = "public, max-age=31536000, immutable"
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)"')
SPOOFED_CLIENT = "203.0.113.9"


@dataclass
class Proxied:
    """A proxy in front of a StarPunk container, and a client that reaches it over HTTPS."""

    proxy: ProxyServer
    app: ApiSite
    http: requests.Session

    @property
    def url(self) -> str:
        """Return the address the client connects to, https://127.0.0.1:PORT."""
        return loopback_url(self.proxy.https_port, "https")

    def get(self, path: str, **headers: str) -> requests.Response:
        """GET path through the proxy without following redirects."""
        return self.http.get(self.url + path, headers=headers, allow_redirects=False, timeout=TIMEOUT)

    def client(self) -> requests.Session:
        """Return a new HTTPS session to the proxy that trusts only its certificate."""
        return https_session(HOST, self.proxy.https_port, str(self.proxy.ca_file))


@pytest.fixture(scope="module", params=["caddy", "nginx"])
def proxied(request: pytest.FixtureRequest, module_lab: Lab) -> Iterator[Proxied]:
    """Start StarPunk and the proxy in front of it.

    Afterwards stop both and remove the proxy's files (the lab, the app's volume).
    """
    app_port = free_port()
    # Straight under /tmp, not pytest's 0700 folders: nginx's workers (nobody) write their cache there.
    workdir = Path(tempfile.mkdtemp(prefix=f"starpunk-proxy-{request.param}-"))
    proxy = ProxyServer(request.param, HOST, app_port, workdir)
    app: ApiSite | None = None
    try:
        app = module_lab.site(env={"SITE_URL": proxy.site_url, "TRUSTED_PROXIES": "1"}, port=app_port)
        # Some notes, so pages and feeds are past the proxies' minimum size for compression.
        owner = app.sign_in()
        for number in range(1, 4):
            owner.publish(f"Note {number} before the proxy: " + "words worth compressing " * 20)
        proxy.start()
        proxy.wait_for_ca()
        proxied = Proxied(proxy, app, https_session(HOST, proxy.https_port, str(proxy.ca_file)))

        def health() -> int:
            proxy.check_running()  # a proxy that exited fails the wait at once, with its log
            return proxied.get("/health").status_code

        wait_for(
            health,
            f"{proxy.kind}: /health answering 200 over HTTPS",
            START_TIMEOUT,
            POLL_SECONDS,
            lambda status: status == 200,
            (requests.RequestException,),
        )
        yield proxied
    finally:
        proxy.stop()
        if app is not None:
            app.remove()  # before the other proxy's app starts
        # Caddy's CA keys, the self-signed key and the logs go with the folder.
        shutil.rmtree(proxy.workdir, ignore_errors=True)


def test_rendered_config_validates(proxied: Proxied) -> None:
    """`caddy validate` / `nginx -t` accept the example rendered for the test host."""
    output = proxied.proxy.validate()
    assert "Valid configuration" in output or "test is successful" in output, output


def test_pages_and_feeds_arrive(proxied: Proxied) -> None:
    """The home page, health and the three feeds come through HTTPS with their content types."""
    home = proxied.get("/")
    assert home.status_code == 200 and SITE_NAME in home.text
    assert proxied.get("/health").json()["status"] == "healthy"
    for path, content_type in FEEDS.items():
        reply = proxied.get(path)
        assert reply.status_code == 200, f"{path}: {reply.status_code}"
        assert reply.headers["Content-Type"].startswith(content_type)


def _stylesheet(proxied: Proxied) -> str:
    match = STYLESHEET.search(proxied.get("/").text)
    assert match and "?v=" in match.group(1), "the page should link its stylesheet with ?v=<fingerprint>"
    return match.group(1)


@pytest.mark.parametrize("path", ["/", "/feed.xml", "/feed.json", "/admin", "/static"])
def test_security_headers_once(proxied: Proxied, path: str) -> None:
    """HSTS, CSP, X-Frame-Options, X-Content-Type-Options and Referrer-Policy: each exactly once, right value."""
    reply = proxied.get(_stylesheet(proxied) if path == "/static" else path)
    assert reply.status_code in (200, 302), reply.status_code
    for name, value in SECURITY_HEADERS.items():
        assert reply.raw.headers.getlist(name) == [value], f"{name} on {path}"
    csp = reply.raw.headers.getlist("Content-Security-Policy")
    assert len(csp) == 1 and "default-src 'self'" in csp[0] and "frame-ancestors 'none'" in csp[0]


def _raw(proxied: Proxied, path: str, encoding: str) -> requests.Response:
    reply = proxied.http.get(proxied.url + path, headers={"Accept-Encoding": encoding}, stream=True, timeout=TIMEOUT)
    reply.body = reply.raw.read(decode_content=False)
    reply.close()
    return reply


@pytest.mark.parametrize("path", ["/", "/feed.xml", "/feed.json", "/static"])
def test_gzip_when_asked(proxied: Proxied, path: str) -> None:
    """Pages, feeds and static files come gzip-compressed when the client asks, and plain when it does not."""
    path = _stylesheet(proxied) if path == "/static" else path
    plain = _raw(proxied, path, "identity")
    assert "Content-Encoding" not in plain.headers
    packed = _raw(proxied, path, "gzip")
    assert packed.headers.get("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in packed.headers.get("Vary", "")
    assert len(packed.body) < len(plain.body)
    assert gzip.decompress(packed.body) == plain.body


def test_zstd_when_asked(proxied: Proxied) -> None:
    """Caddy answers zstd to a client that asks for it; nginx (no zstd in Debian's build) falls back to plain."""
    plain = _raw(proxied, "/", "identity")
    reply = _raw(proxied, "/", "zstd")
    if proxied.proxy.kind == "caddy":
        assert reply.headers.get("Content-Encoding") == "zstd"
        assert zstandard.ZstdDecompressor().decompressobj().decompress(reply.body) == plain.body
    else:
        assert "Content-Encoding" not in reply.headers and reply.body == plain.body


def test_cache_policies(proxied: Proxied) -> None:
    """Feeds may be cached 5 minutes, versioned static files a year; each Cache-Control appears once."""
    for path in FEEDS:
        assert proxied.get(path).raw.headers.getlist("Cache-Control") == [FEED_CACHE], path
    static = proxied.get(_stylesheet(proxied))
    assert static.status_code == 200
    assert static.raw.headers.getlist("Cache-Control") == [STATIC_CACHE]


def test_http_redirects_to_https(proxied: Proxied) -> None:
    """Plain HTTP on the proxy's port 80 stand-in answers with a redirect to https on the same host."""
    reply = plain_session().get(
        loopback_url(proxied.proxy.http_port) + "/feed.xml",
        headers={"Host": HOST},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert reply.status_code in (301, 308)
    location = urlsplit(reply.headers["Location"])
    assert (location.scheme, location.hostname, location.path) == ("https", HOST, "/feed.xml")


def test_redirects_stay_on_https(proxied: Proxied) -> None:
    """An anonymous /admin is sent to the sign-in page on the same https origin."""
    reply = proxied.get("/admin")
    assert reply.status_code == 302
    location = urlsplit(reply.headers["Location"])
    assert location.path == "/auth/login"
    assert location.scheme in ("", "https") and location.netloc in ("", f"{HOST}:{proxied.proxy.https_port}")


def test_signed_in_owner_publishes_with_https_permalinks(proxied: Proxied) -> None:
    """Sign-in through the proxy sets a Secure cookie that works; pages and feeds link the note over https."""
    # The link is made for SITE_URL, the proxy's public address (login_link checks that).
    owner = proxied.app.sign_in(proxied.url, proxied.client())
    assert proxied.app.env["SITE_URL"] == proxied.proxy.site_url
    assert all(flag in owner.set_cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax")), owner.set_cookie
    slug = owner.publish(f"Published through {proxied.proxy.kind}.")
    permalink = f"{proxied.proxy.site_url}/note/{slug}"
    # nginx's micro-cache may answer with the copy of the last second until it refreshes.
    for path in ("/", *FEEDS):
        wait_for(
            lambda path=path: proxied.get(path).text,
            f"the new note on {path}",
            PROXY_FRESHNESS_LIMIT_S,
            POLL_SECONDS,
            lambda body: permalink in body,
        )
    assert f'href="{permalink}"' in proxied.get("/").text
    assert f'<link rel="canonical" href="{permalink}">' in proxied.get(f"/note/{slug}").text
    assert f"<link>{permalink}</link>" in proxied.get("/feed.xml").text
    assert f'href="{permalink}"' in proxied.get("/feed.atom").text
    assert json.loads(proxied.get("/feed.json").text)["items"][0]["url"] == permalink
    for body in (proxied.get(path).text for path in ("/", *FEEDS)):
        assert "http://" + HOST not in body and "127.0.0.1" not in body


def test_app_sees_the_client_address_from_the_proxy(proxied: Proxied) -> None:
    """With TRUSTED_PROXIES=1 a failed sign-in is counted against the visitor the proxy saw, not one a client claims."""
    before = proxied.app.sqlite("SELECT count(*) FROM auth_failures")[0][0]
    reply = proxied.get("/auth/token/not-a-real-token", **{"X-Forwarded-For": SPOOFED_CLIENT})
    assert reply.status_code == 400
    failures = wait_for(
        lambda: proxied.app.sqlite("SELECT client FROM auth_failures ORDER BY id"),
        "the failed sign-in in auth_failures",
        SETTLE_TIMEOUT,
        POLL_SECONDS,
        lambda rows: len(rows) > before,
    )
    assert failures[-1] == ["127.0.0.1"]


def test_only_nginx_caches(proxied: Proxied) -> None:
    """nginx answers repeated reads of a feed from its micro-cache.

    Caddy (no cache plugin) passes each one to the app.
    """
    before = proxied.app.logs().count('"GET /feed.xml HTTP/1.1"')
    replies = [proxied.client().get(proxied.url + "/feed.xml", timeout=TIMEOUT) for _ in range(5)]
    statuses = [reply.headers.get("X-Cache-Status") for reply in replies]
    if proxied.proxy.kind == "nginx":
        assert statuses.count("HIT") >= 3, statuses
    else:
        assert statuses == [None] * 5
        wait_for(
            lambda: proxied.app.logs().count('"GET /feed.xml HTTP/1.1"') - before,
            "every read of the feed in the app's access log",
            SETTLE_TIMEOUT,
            POLL_SECONDS,
            lambda reached: reached >= 5,
        )
