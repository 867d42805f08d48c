"""Webmentions from a host already refused or dropped, answered before Flask: a flood costs a dict lookup per request.

The endpoint (webmention.py) answers a sender over its bound ``429`` with
``Retry-After``, and a blocked host ``202`` (dropped unread). Each such answer
still cost a whole Flask request: the request context, the form, the target's
note, the blocked list and four counts; under issue 24's flood (10,000 a
minute from one host) that was most of the server's core, and readers waited
behind it. This WSGI middleware sits outside Flask. When the view refuses a
host (or everyone, past the bound in all) or drops a blocked host's mention,
it *marks* the request (``remember``, in the WSGI environ); the middleware
keeps the answer it sees leave Flask (status, every header, body) and gives
the same answer itself to the next ``POST /webmention`` from that host for
HOLD_SECONDS, reading nothing but the request's small form body. Then Flask
answers again, so a host whose checks were done since is accepted within a
second: the gate repeats Flask's decisions, it never makes one.

A request the gate cannot read cheaply (not a form, no or a large
``Content-Length``, not UTF-8) or whose URLs Flask would refuse with ``400``
goes to Flask as before, with its body intact. The refused hosts are kept per
worker, at most MAX_HOSTS of them.
"""

import io
import time
from collections import OrderedDict
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

from .config import host_name

MARK_KEY = "starpunk.floodgate"
EVERYONE = ""  # the key of a refusal of every host (the bound in all)
PATH = "/webmention"
FORM_TYPE = "application/x-www-form-urlencoded"
# How long the gate repeats Flask's answer to a host: the bound is asked again once a second per worker.
HOLD_SECONDS = 1.0
# A Webmention's form is two URLs of at most 2,048 characters (webmention.MAX_URL_CHARS), percent-encoded.
MAX_BODY_BYTES = 16 * 1024
MAX_HOSTS = 1024
clock = time.monotonic  # the gate's clock (tests move it)


class Answer(NamedTuple):
    """Flask's answer to a host, as it left Flask, and until when the gate repeats it."""

    until: float  # clock()
    status: str
    headers: tuple
    body: bytes


def remember(environ, host):
    """Let the gate repeat this request's answer to host (EVERYONE: to every host) for HOLD_SECONDS."""
    environ[MARK_KEY] = host


def source_host(form):
    """Return the host of a well-formed Webmention's source, or None when Flask must read the request itself."""
    from .webmention import url_problem  # the endpoint's own rules; imported late, as it imports Flask's app

    source, target = form.get("source", ""), form.get("target", "")
    if url_problem("source", source) or url_problem("target", target) or source == target:
        return None
    return host_name(urlsplit(source).netloc)


class WebmentionGate:
    """WSGI middleware repeating the endpoint's refusals to a flooding host (see the module's docstring)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app
        self.answers = OrderedDict()  # host (or EVERYONE) -> Answer

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "POST" or environ.get("PATH_INFO") != PATH or not self.answers:
            return self._through_flask(environ, start_response)
        form = _read_form(environ)
        host = source_host(form) if form is not None else None
        if host is None:
            return self._through_flask(environ, start_response)
        now = clock()
        # The host's own answer first: a blocked host's mention is dropped (202) even while everyone is refused.
        answer = self._current(host, now) or self._current(EVERYONE, now)
        if answer is None:
            return self._through_flask(environ, start_response)
        start_response(answer.status, list(answer.headers))
        return [answer.body]

    def _current(self, host, now):
        answer = self.answers.get(host)
        if answer is None:
            return None
        if now >= answer.until:
            del self.answers[host]
            return None
        return answer

    def _through_flask(self, environ, start_response):
        # Shaped like fastpath.ReaderFastPath._through_flask (keep the status Flask answers, then decide), as
        # each middleware keeps a different answer on different terms.
        seen = {}

        def keep_status(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, keep_status)
        host = environ.get(MARK_KEY)
        if host is None or any(name.lower() == "set-cookie" for name, _ in seen.get("headers", ())):
            return body
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        self.answers[host] = Answer(clock() + HOLD_SECONDS, seen["status"], tuple(seen["headers"]), data)
        self.answers.move_to_end(host)
        while len(self.answers) > MAX_HOSTS:
            self.answers.popitem(last=False)
        return [data]


def _read_form(environ):
    """Return a small url-encoded form body's fields (first value of each), putting the body back for Flask; or None."""
    if (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower() != FORM_TYPE:
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= MAX_BODY_BYTES:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    form = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form
