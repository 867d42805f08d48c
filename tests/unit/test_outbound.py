"""The outbound fetcher: address rules on the address connected to, redirects, deadline, size cap, User-Agent."""

import ipaddress
import socket

import pytest

from starpunk import outbound
from starpunk.outbound import FetchError, Policy, Refused, address_refusal, fetch

LOOPBACK_ALLOWED = (ipaddress.ip_network("127.0.0.0/8"),)
UA = "StarPunk/test (+http://localhost/)"


def allowed(**limits):
    return Policy(user_agent=UA, allow_networks=LOOPBACK_ALLOWED, **limits)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "224.0.0.1",
        "239.255.255.250",
        "0.0.0.0",
        "240.0.0.1",
        "255.255.255.255",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_special_addresses_are_refused(address):
    """Loopback, private, link-local, multicast, reserved, unspecified and shared addresses are refused."""
    assert address_refusal(address) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    """Public IPv4 and IPv6 addresses may be reached."""
    assert address_refusal(address) is None


def test_allowed_networks_open_only_themselves():
    """OUTBOUND_ALLOW_NETWORKS opens its own networks, nothing next to them."""
    networks = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    assert address_refusal("127.0.0.1", networks) is None
    assert address_refusal("fd12::1", networks) is None
    assert address_refusal("10.0.0.1", networks) is not None
    assert address_refusal("::1", networks) is not None


def test_fetch_gets_the_page_and_names_the_site(web):
    """A GET answers the page's status, headers and body, and sends StarPunk's User-Agent."""
    url = web.page("/post", "<p>hello</p>", headers={"Link": '<https://a.example/>; rel="webmention"'})
    response = fetch(url, allowed())
    assert (response.status, response.text(), response.url) == (200, "<p>hello</p>", url)
    assert response.headers.get_all("Link") == ['<https://a.example/>; rel="webmention"']
    assert not response.truncated
    (seen,) = web.requests_to("/post")
    assert seen.headers["User-Agent"] == UA
    assert seen.headers["Host"] == f"127.0.0.1:{web.port}"


def test_loopback_is_refused_without_the_setting(web):
    """With no allowed networks, a server on 127.0.0.1 (by address or by name) is never contacted."""
    url = web.page("/post", "secret")
    for address in (url, url.replace("127.0.0.1", "localhost")):
        with pytest.raises(Refused, match="loopback"):
            fetch(address, Policy(user_agent=UA))
    assert web.requests == []


def test_the_checked_address_is_the_one_connected_to(web, monkeypatch):
    """DNS is asked once and the connection goes to the address checked: a name that rebinds gets nowhere."""
    web.page("/post", "rebound")
    answers = iter(["93.184.216.34", "127.0.0.1"])  # public for a check, private for a connection
    looked_up = []

    def resolver(host, port, *args, **kwargs):
        looked_up.append(host)
        address = next(answers) if host == "rebind.example" else host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    connected = []
    real_connect = socket.create_connection

    def spy(address, *args, **kwargs):
        connected.append(address[0])
        raise OSError("unreachable in tests")

    monkeypatch.setattr(socket, "create_connection", spy)
    with pytest.raises(FetchError, match="cannot connect"):
        fetch(f"http://rebind.example:{web.port}/post", Policy(user_agent=UA))
    assert (looked_up, connected) == (["rebind.example"], ["93.184.216.34"])
    monkeypatch.setattr(socket, "create_connection", real_connect)
    with pytest.raises(Refused):
        fetch(f"http://rebind.example:{web.port}/post", Policy(user_agent=UA))  # now it resolves to 127.0.0.1
    assert web.requests == []


def test_a_name_is_connected_by_its_checked_address(web, monkeypatch):
    """A host name is resolved here and the request carries the name in Host."""
    web.page("/post", "named")

    def resolver(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    response = fetch(f"http://site.example:{web.port}/post", allowed())
    assert response.text() == "named"
    assert web.requests_to("/post")[0].headers["Host"] == f"site.example:{web.port}"


def test_redirects_are_checked_hop_by_hop(web):
    """A redirect to a refused address is refused before any connection is made."""
    web.redirect("/hop", "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(Refused, match="link-local"):
        fetch(web.url("/hop"), allowed())


def test_redirects_are_followed_up_to_the_limit(web):
    """Exactly MAX_REDIRECTS redirects are followed; one more is an error."""
    limit = outbound.MAX_REDIRECTS
    for hop in range(limit + 1):
        web.redirect(f"/r{hop}", f"/r{hop + 1}")
    web.page(f"/r{limit + 1}", "arrived")
    response = fetch(web.url("/r1"), allowed())
    assert (response.text(), response.url, len(response.redirects)) == ("arrived", web.url(f"/r{limit + 1}"), limit)
    with pytest.raises(FetchError, match=f"more than {limit} redirects"):
        fetch(web.url("/r0"), allowed())


def test_the_body_is_capped(web):
    """At most max_bytes are read: exactly that many is whole, one more is truncated."""
    web.page("/exact", b"x" * 1000)
    web.page("/over", b"x" * 1001)
    exact = fetch(web.url("/exact"), allowed(max_bytes=1000))
    over = fetch(web.url("/over"), allowed(max_bytes=1000))
    assert (len(exact.body), exact.truncated) == (1000, False)
    assert (len(over.body), over.truncated) == (1000, True)


def test_default_limits_are_the_issue_s():
    """Every fetch reads at most 1 MB, takes at most 10 s in all and follows at most 5 redirects."""
    policy = Policy(user_agent=UA)
    assert (policy.max_bytes, policy.timeout, policy.max_redirects) == (1024 * 1024, 10.0, 5)


def test_a_slow_server_times_out(web):
    """The whole fetch has one deadline."""
    web.page("/slow", "late", delay=1.0)
    with pytest.raises(FetchError, match="timed out"):
        fetch(web.url("/slow"), allowed(timeout=0.3))


def test_post_sends_the_form_and_303_continues_as_get(web):
    """A form POST is sent form-encoded; a 303 answer is followed with a GET without the body."""
    web.redirect("/endpoint", "/status", status=303)
    web.page("/status", "queued")
    response = fetch(web.url("/endpoint"), allowed(), method="POST", form={"source": "a b", "target": "c&d"})
    assert response.text() == "queued"
    post, get = web.requests_to("/endpoint")[0], web.requests_to("/status")[0]
    assert (post.method, post.body) == ("POST", b"source=a+b&target=c%26d")
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert (get.method, get.body) == ("GET", b"")


def test_307_keeps_the_method_and_body(web):
    """A 307 repeats the POST with its body."""
    web.redirect("/old", "/new", status=307)
    web.page("/new", "", status=202)
    assert fetch(web.url("/old"), allowed(), method="POST", form={"a": "1"}).status == 202
    assert web.requests_to("/new")[0].body == b"a=1"


def test_error_statuses_are_answers(web):
    """A 410 or 404 is a Response, for the caller to read."""
    web.page("/gone", "gone", status=410)
    assert fetch(web.url("/gone"), allowed()).status == 410
    assert fetch(web.url("/nothing"), allowed()).status == 404


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "javascript:alert(1)", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls(url):
    """Other schemes, or no host, are refused."""
    with pytest.raises(Refused, match="not an http"):
        fetch(url, allowed())


def test_connection_failures_are_one_line():
    """Nothing listening, a name that does not resolve and a bad port are FetchErrors."""
    from testkit.ports import free_port

    with pytest.raises(FetchError, match="cannot connect"):
        fetch(f"http://127.0.0.1:{free_port()}/", allowed())
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch("http://nothing.invalid/", allowed())
    with pytest.raises(FetchError, match="bad port"):
        fetch("http://127.0.0.1:99999/", allowed())


def test_text_follows_the_charset(web):
    """The body is decoded with the charset the answer names, UTF-8 otherwise."""
    web.page("/latin", "café".encode("latin-1"), content_type="text/html; charset=iso-8859-1")
    web.page("/unknown", "café".encode(), content_type="text/html; charset=no-such-charset")
    assert fetch(web.url("/latin"), allowed()).text() == "café"
    assert fetch(web.url("/unknown"), allowed()).text() == "café"


def test_policy_comes_from_the_settings(make_app):
    """The app's policy names the site in its User-Agent and allows OUTBOUND_ALLOW_NETWORKS only."""
    app = make_app(OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8, ::1/128", SITE_URL="https://notes.example")
    with app.app_context():
        policy = outbound.policy()
    assert policy.user_agent == f"StarPunk/{app.config['VERSION']} (+https://notes.example/)"
    assert policy.allow_networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    with make_app().app_context():
        assert outbound.policy().allow_networks == ()


def test_tls_is_verified(web):
    """https:// to a server that speaks no TLS (or has no trusted certificate) is a FetchError, not a page."""
    web.page("/post", "plain")
    with pytest.raises(FetchError, match="TLS with 127.0.0.1 failed"):
        fetch(web.url("/post").replace("http://", "https://"), allowed())
