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
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
import zstandard
from deployed import LABEL, Author, Container, https_session, plain_session, production_env, run, wait_for

from harness.deploy import free_port
from harness.proxy import ProxyServer

HOST = "starpunk.test"
FEEDS = {"/feed.xml": "application/rss+xml", "/feed.atom": "application/atom+xml", "/feed.json": "application/feed+json"}
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
    app: Container
    http: requests.Session

    @property
    def url(self) -> str:
        """Return the address the client connects to, https://127.0.0.1:PORT."""
        return f"https://127.0.0.1:{self.proxy.https_port}"

    def get(self, path: str, **headers: str) -> requests.Response:
        """GET path through the proxy without following redirects."""
        return self.http.get(self.url + path, headers=headers, allow_redirects=False, timeout=10)


@pytest.fixture(scope="module", params=["caddy", "nginx"])
def proxied(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, image: str) -> Iterator[Proxied]:
    """Start StarPunk and the proxy in front of it; stop both and remove their files afterwards."""
    app_port = free_port()
    proxy = ProxyServer(request.param, HOST, app_port, tmp_path_factory.mktemp(request.param))
    volume = run("docker", "volume", "create", "--label", LABEL).stdout.strip()
    app = Container("docker", image, volume, production_env(proxy.site_url, TRUSTED_PROXIES="1"))
    app.port = app_port
    try:
        app.start()
        # Some notes, so pages and feeds are past the proxies' minimum size for compression.
        author = Author(app.base_url, app.login_link())
        for number in range(1, 4):
            author.publish(f"Note {number} before the proxy: " + "words worth compressing " * 20)
        proxy.start()
        proxy.wait_for_ca()
        http = https_session(HOST, proxy.https_port, str(proxy.ca_file))
        wait_for(f"https://127.0.0.1:{proxy.https_port}/health", http, alive=proxy.check_running)
        yield Proxied(proxy, app, http)
    finally:
        proxy.stop()
        app.remove()
        run("docker", "volume", "rm", "--force", volume, check=False)
        # Caddy's CA keys, the self-signed key and the logs go with the folder.
        shutil.rmtree(proxy.workdir, ignore_errors=True)


def test_rendered_config_validates(proxied: Proxied) -> None:
    """`caddy validate` / `nginx -t` accept the example rendered for the test host."""
    output = proxied.proxy.validate()
    assert "Valid configuration" in output or "test is successful" in output, output


def test_pages_and_feeds_arrive(proxied: Proxied) -> None:
    """The home page, health and the three feeds come through HTTPS with their content types."""
    home = proxied.get("/")
    assert home.status_code == 200 and "StarPunk deployed" in home.text
    assert proxied.get("/health").json()["status"] == "healthy"
    for path, content_type in FEEDS.items():
        reply = proxied.get(path)
        assert reply.status_code == 200, f"{path}: {reply.status_code}"
        assert reply.headers["Content-Type"].startswith(content_type)


def _stylesheet(proxied: Proxied) -> str:
    match = STYLESHEET.search(proxied.get("/").text)
    assert match and "?v=" in match.group(1), "the page should link its stylesheet with ?v=<version>"
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
    reply = proxied.http.get(proxied.url + path, headers={"Accept-Encoding": encoding}, stream=True, timeout=10)
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
        f"http://127.0.0.1:{proxied.proxy.http_port}/feed.xml", headers={"Host": HOST}, allow_redirects=False, timeout=10
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
    link = proxied.app.login_link()
    assert link.startswith(proxied.proxy.site_url + "/auth/token/")
    author = Author(proxied.url, link, https_session(HOST, proxied.proxy.https_port, str(proxied.proxy.ca_file)))
    assert all(flag in author.set_cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax")), author.set_cookie
    slug = author.publish(f"Published through {proxied.proxy.kind}.")
    permalink = f"{proxied.proxy.site_url}/note/{slug}"
    assert f'href="{permalink}"' in proxied.get("/").text
    assert f'<link rel="canonical" href="{permalink}">' in proxied.get(f"/note/{slug}").text
    assert f"<link>{permalink}</link>" in proxied.get("/feed.xml").text
    assert f'href="{permalink}"' in proxied.get("/feed.atom").text
    assert json.loads(proxied.get("/feed.json").text)["items"][0]["url"] == permalink
    for body in (proxied.get(path).text for path in ("/", *FEEDS)):
        assert "http://" + HOST not in body and "127.0.0.1" not in body


def test_app_sees_the_client_address_from_the_proxy(proxied: Proxied) -> None:
    """With TRUSTED_PROXIES=1 a failed sign-in is counted against the visitor the proxy saw, not one a client claims."""
    reply = proxied.get("/auth/token/not-a-real-token", **{"X-Forwarded-For": SPOOFED_CLIENT})
    assert reply.status_code == 400
    query = (
        "import sqlite3; print(sqlite3.connect('/data/starpunk.db')"
        ".execute('SELECT client FROM auth_failures ORDER BY id DESC LIMIT 1').fetchone()[0])"
    )
    assert proxied.app.exec("python3", "-c", query).strip() == "127.0.0.1"

