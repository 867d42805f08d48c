"""Webmention endpoint discovery cases, served on 127.0.0.1: which endpoint a sender must POST to for each page.

The cases follow the W3C Webmention Recommendation (section 3.1.2) and are
numbered as webmention.rocks numbers its discovery tests
(https://webmention.rocks/, by Aaron Parecki; written here from the case
list, not copied), plus a few the Recommendation implies (``x1`` ...). Each
case is a page of the stand-in site (testkit.otherweb) under ``/test/N/``,
advertising its endpoint one way, often beside decoys a wrong parser would
pick. ``serve(web)`` sets the pages up and returns the cases: the URL a note
links to, and the one path (query string included) that must receive that
target's Webmention, or None when the page advertises no endpoint. Every
endpoint and decoy answers ``202``, so a wrong choice is recorded, not
refused.
"""

from collections.abc import Callable
from dataclasses import dataclass

from .otherweb import OtherWeb

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Case:
    """One discovery case: its number and title, the target URL, and the path that must get the Webmention."""

    number: str
    title: str
    target: str
    endpoint: str | None


def _document(body: str) -> str:
    return f"<!doctype html><html><head><title>Discovery</title>{body}</head><body><p>A test page.</p></body></html>"


def _endpoints(web: OtherWeb, *paths: str) -> None:
    for path in paths:
        web.page(path, "accepted", status=202, content_type="text/plain")


Serve = Callable[[OtherWeb, str], str]  # serves a case's page under its folder; returns the page's URL


def _header(value: str, name: str = "Link", body: str = "") -> Serve:
    """A page whose Link header (named name) is value; {base} and {abs} in it are the case's folder, relative or not."""

    def serve(web: OtherWeb, base: str) -> str:
        link = value.format(base=base, abs=web.url(base))
        return web.page(f"{base}page", _document(body.format(base=base, abs=web.url(base))), headers=[(name, link)])

    return serve


def _html(body: str) -> Serve:
    """A page whose document is body; {base} and {abs} in it are the case's folder, relative or not."""

    def serve(web: OtherWeb, base: str) -> str:
        return web.page(f"{base}page", _document(body.format(base=base, abs=web.url(base))))

    return serve


def _two_headers(web: OtherWeb, base: str) -> str:
    links = [("Link", f'<{base}other>; rel="other"'), ("Link", f"<{base}webmention>; rel=webmention")]
    return web.page(f"{base}page", _document(""), headers=links)


def _redirect(web: OtherWeb, base: str) -> str:
    web.page(f"{base}moved/page", _document(""), headers={"Link": "<webmention>; rel=webmention"})
    return web.redirect(f"{base}page", f"{base}moved/page")


def _json_with_header(web: OtherWeb, base: str) -> str:
    link = {"Link": f"<{base}webmention>; rel=webmention"}
    return web.page(f"{base}page", '{"a": 1}', headers=link, content_type="application/json")


def _text_with_element(web: OtherWeb, base: str) -> str:
    return web.page(f"{base}page", f'<link rel="webmention" href="{base}decoy">', content_type="text/plain")


# (number, title, how the page is served, the endpoint's path below the case's folder, decoys below it)
CASES: list[tuple[str, str, Serve, str | None, tuple[str, ...]]] = [
    ("1", "Link header, rel unquoted, relative URL", _header("<{base}webmention>; rel=webmention"), "webmention", ()),
    ("2", "Link header, rel unquoted, absolute URL", _header("<{abs}webmention>; rel=webmention"), "webmention", ()),
    ("3", "<link>, relative URL", _html('<link rel="webmention" href="{base}webmention">'), "webmention", ()),
    ("4", "<link>, absolute URL", _html('<link rel="webmention" href="{abs}webmention">'), "webmention", ()),
    ("5", "<a>, relative URL", _html('<a rel="webmention" href="{base}webmention">wm</a>'), "webmention", ()),
    ("6", "<a>, absolute URL", _html('<a rel="webmention" href="{abs}webmention">wm</a>'), "webmention", ()),
    (
        "7",
        "header name in strange casing",
        _header("<{base}webmention>; rel=webmention", name="LinK"),
        "webmention",
        (),
    ),
    ("8", "Link header, rel quoted", _header('<{base}webmention>; rel="webmention"'), "webmention", ()),
    (
        "9",
        "several rel values on a <link>",
        _html('<link rel="webmention somethingelse" href="{base}webmention">'),
        "webmention",
        (),
    ),
    (
        "10",
        "several rel values in a Link header",
        _header('<{base}webmention>; rel="webmention somethingelse"'),
        "webmention",
        (),
    ),
    (
        "11",
        "Link header, <link> and <a>: the header wins",
        _header(
            '<{base}webmention>; rel="webmention"',
            body='<link rel="webmention" href="{base}link-decoy"><a rel="webmention" href="{base}a-decoy">x</a>',
        ),
        "webmention",
        ("link-decoy", "a-decoy"),
    ),
    (
        "12",
        "rel=not-webmention is not webmention",
        _html('<link rel="not-webmention" href="{base}decoy"><link rel="webmention" href="{base}webmention">'),
        "webmention",
        ("decoy",),
    ),
    (
        "13",
        "an endpoint inside an HTML comment is no element",
        _html('<!-- <link rel="webmention" href="{base}decoy"> --><link rel="webmention" href="{base}webmention">'),
        "webmention",
        ("decoy",),
    ),
    (
        "14",
        "an endpoint in escaped HTML is text",
        _html(
            '<code>&lt;a rel="webmention" href="{base}decoy"&gt;x&lt;/a&gt;</code>'
            '<a rel="webmention" href="{base}webmention">wm</a>'
        ),
        "webmention",
        ("decoy",),
    ),
    ("15", "an empty href is the page itself", _html('<link rel="webmention" href="">'), "page", ()),
    (
        "16",
        "<a> before <link>: the first in document order",
        _html('<a rel="webmention" href="{base}webmention">wm</a><link rel="webmention" href="{base}decoy">'),
        "webmention",
        ("decoy",),
    ),
    (
        "17",
        "<link> before <a>: the first in document order",
        _html('<link rel="webmention" href="{base}webmention"><a rel="webmention" href="{base}decoy">x</a>'),
        "webmention",
        ("decoy",),
    ),
    ("18", "several Link headers", _two_headers, "webmention", ("other",)),
    (
        "19",
        "several links in one Link header",
        _header('<{base}other>; rel="other", <{base}webmention>; rel="webmention"'),
        "webmention",
        ("other",),
    ),
    (
        "20",
        "a <link> without href is skipped",
        _html('<link rel="webmention"><a rel="webmention" href="{base}webmention">wm</a>'),
        "webmention",
        (),
    ),
    (
        "21",
        "the endpoint's query string is kept",
        _html('<link rel="webmention" href="{base}webmention?query=yes&amp;second=2">'),
        "webmention?query=yes&second=2",
        (),
    ),
    (
        "22",
        "a relative URL without a slash, against the page's path",
        _html('<link rel="webmention" href="webmention">'),
        "webmention",
        (),
    ),
    ("23", "a redirected page: relative to the final URL", _redirect, "moved/webmention", ("webmention",)),
    (
        "x1",
        "rel and href in any case, the rel among other parameters",
        _header('<{base}webmention>; title="an endpoint"; REL="WebMention"'),
        "webmention",
        (),
    ),
    (
        "x2",
        "a relative URL with ../",
        _html('<link rel="webmention" href="../x2/deeper/../webmention">'),
        "webmention",
        (),
    ),
    ("x3", "a fragment is not sent", _html('<link rel="webmention" href="{base}webmention#here">'), "webmention", ()),
    ("x4", "a page without an endpoint", _html('<link rel="stylesheet" href="{base}style.css">'), None, ()),
    ("x5", "a Link header on a page that is not HTML", _json_with_header, "webmention", ()),
    ("x6", "a body that is not HTML is not searched", _text_with_element, None, ("decoy",)),
]


def serve(web: OtherWeb) -> list[Case]:
    """Serve every case's page, endpoint and decoys on web; return the cases."""
    cases = []
    for number, title, how, endpoint, decoys in CASES:
        base = f"/test/{number}/"
        target = how(web, base)
        _endpoints(web, *(base + path for path in ("webmention", "other", *decoys) if path != "page"))
        if endpoint is not None and endpoint != "page":
            _endpoints(web, base + endpoint.split("?", 1)[0])
        cases.append(Case(number, title, target, None if endpoint is None else base + endpoint))
    return cases
