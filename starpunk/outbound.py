"""The one way StarPunk talks to other servers: every fetch and send goes through ``fetch``.

No other module calls an HTTP client. The rules live here, once:

- Only ``http`` and ``https`` URLs.
- The host name is resolved here, each address is checked, and the
  connection is made to that checked address (TLS still verifies the host
  name): loopback, private, link-local, multicast, reserved, unspecified and
  shared addresses, IPv4 and IPv6 (IPv4-mapped IPv6 included), are refused
  unless their network is in ``Policy.allow_networks``
  (``OUTBOUND_ALLOW_NETWORKS``). A host name that resolves to a public address
  for the check and a private one for the connection (DNS rebinding) gets
  nowhere, because there is no second lookup.
- Redirects (301, 302, 303, 307, 308) are followed up to
  ``Policy.max_redirects``, each hop checked exactly like the first; a 303,
  and a 301 or 302 answering a POST, continue as a GET without a body.
- One deadline for the whole fetch, redirects included (``Policy.timeout``
  seconds): every connect and read gets only what is left of it.
- At most ``Policy.max_bytes`` of the body are read; ``Response.truncated``
  says when more was there.
- A ``User-Agent`` that names StarPunk and the site (``Policy.user_agent``).
- Proxy settings of the environment are ignored: traffic goes where the
  address says, and the address is the one checked.

Use::

    from starpunk import outbound
    response = outbound.fetch(url, outbound.policy())            # in an app context
    response = outbound.fetch(url, policy, method="POST", form={"source": s, "target": t})

``Response`` has ``url`` (after redirects), ``status``, ``headers``
(``email.message.Message``: case-insensitive, ``get_all`` for repeated ones
such as ``Link``), ``body`` (bytes), ``truncated`` and ``text()``. Every
failure (refused address, DNS, connect, TLS, timeout, too many redirects,
malformed answer) raises ``FetchError`` with a one-line reason that is safe to
log; ``Refused`` is the subclass for the address rules. Any status is a
``Response``, errors included: the caller decides what a 404 means.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from email.message import Message
from typing import NamedTuple
from urllib.parse import urlencode, urljoin, urlsplit

from flask import current_app

# Limits of every fetch (a caller may pass a stricter Policy).
TIMEOUT_SECONDS = 10.0  # the whole fetch, redirects included
MAX_BYTES = 1024 * 1024  # of the body read
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024


class FetchError(Exception):
    """A fetch did not get an answer; the message is one line, safe to log and to show the owner."""


class Refused(FetchError):
    """The address a URL leads to is not one StarPunk may connect to (or the URL is not http(s))."""


class Policy(NamedTuple):
    """What a fetch may do: networks allowed beyond the public Internet, limits, and the User-Agent."""

    user_agent: str
    allow_networks: tuple = ()
    timeout: float = TIMEOUT_SECONDS
    max_bytes: int = MAX_BYTES
    max_redirects: int = MAX_REDIRECTS


class Response(NamedTuple):
    """An answer: the final URL, its status and headers, and at most max_bytes of its body."""

    url: str
    status: int
    headers: Message
    body: bytes
    truncated: bool = False
    redirects: tuple | list = ()  # the URLs that redirected, in order

    def text(self):
        """Return the body decoded with the charset the answer names (UTF-8 when none), bad bytes replaced."""
        charset = self.headers.get_content_charset() or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")


def user_agent(config):
    """Return the User-Agent that names StarPunk, its version and the site."""
    return f"StarPunk/{config['VERSION']} (+{config['SITE_URL']}/)"


def policy():
    """Return the policy of this app's settings (in an app context)."""
    config = current_app.config
    return Policy(user_agent=user_agent(config), allow_networks=config["OUTBOUND_ALLOW_NETWORKS"])


def address_refusal(address, allow_networks=()):
    """Return why StarPunk may not connect to this IP address (a str), or None when it may."""
    ip = ipaddress.ip_address(address)
    if any(ip in network for network in allow_networks if network.version == ip.version):
        return None
    checked = ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped is not None else ip
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(checked, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    if not checked.is_global:  # shared (100.64.0.0/10) and the other special-purpose blocks
        return f"{address} is not a public address"
    return None


def _addresses(host, port, deadline):
    """Return the host's addresses (in the resolver's order); FetchError when it has none."""
    _remaining(deadline)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from None
    seen = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in seen:
            seen.append(sockaddr[0])
    return seen


def _remaining(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("timed out")
    return left


def _connect(host, port, policy, deadline):
    """Return a socket connected to the first allowed address of host; Refused when none is allowed."""
    refusals, failures = [], []
    for address in _addresses(host, port, deadline):
        refusal = address_refusal(address, policy.allow_networks)
        if refusal:
            refusals.append(refusal)
            continue
        try:
            return socket.create_connection((address, port), timeout=_remaining(deadline))
        except OSError as exc:
            failures.append(f"{address}: {exc.strerror or exc}")
    if failures:
        raise FetchError(f"cannot connect to {host}: {'; '.join(failures)}")
    raise Refused(f"refused to connect to {host}: {'; '.join(refusals) or 'no address'}")


class _CheckedConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket was connected to a checked address (see _connect)."""

    def __init__(self, host, port, sock, timeout):
        super().__init__(host, port, timeout=timeout)
        self.sock = sock

    def connect(self):
        """Do nothing: the socket is already connected to the checked address."""


def _open(scheme, host, port, policy, deadline):
    sock = _connect(host, port, policy, deadline)
    try:
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise FetchError(f"TLS with {host} failed: {exc}") from None
    return _CheckedConnection(host, port, sock, _remaining(deadline))


def _target(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not an http(s) URL: {url[:200]}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchError(f"bad port in {url[:200]}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path, parts.netloc


def _one_request(url, policy, deadline, method, body, headers):
    scheme, host, port, path, netloc = _target(url)
    conn = _open(scheme, host, port, policy, deadline)
    try:
        conn.sock.settimeout(_remaining(deadline))
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", netloc.rsplit("@", 1)[-1])
        conn.putheader("User-Agent", policy.user_agent)
        conn.putheader("Accept-Encoding", "identity")
        for name, value in headers.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        chunks, size, truncated = [], 0, False
        while True:
            conn.sock.settimeout(_remaining(deadline))
            chunk = answer.read1(CHUNK)  # a HEAD answer has none
            if not chunk:
                break
            if size + len(chunk) > policy.max_bytes:
                chunks.append(chunk[: policy.max_bytes - size])
                truncated = True
                break
            chunks.append(chunk)
            size += len(chunk)
        return answer.status, answer.msg, b"".join(chunks), truncated
    except TimeoutError:
        raise FetchError(f"timed out talking to {host}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"bad answer from {host}: {type(exc).__name__} {exc}".strip()) from None
    finally:
        conn.close()


def fetch(url, policy, method="GET", form=None, headers=None):
    """Send one request (form: a dict sent form-encoded) and return the Response after redirects; FetchError if none."""
    deadline = time.monotonic() + policy.timeout
    headers = dict(headers or {})
    body = None
    if form is not None:
        body = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    redirects = []
    while True:
        status, msg, data, truncated = _one_request(url, policy, deadline, method, body, headers)
        location = msg.get("Location")
        if status not in REDIRECTS or not location:
            return Response(url, status, msg, data, truncated, redirects)
        if len(redirects) >= policy.max_redirects:
            raise FetchError(f"more than {policy.max_redirects} redirects from {redirects[0]}")
        redirects.append(url)
        url = urljoin(url, location.strip())
        if status == 303 or (status in (301, 302) and method == "POST"):
            method, body = "GET", None
            headers.pop("Content-Type", None)
