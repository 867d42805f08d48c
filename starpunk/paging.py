"""Readers' lists cut into pages by a note, not a number: ``?before=ID`` and ``?after=ID`` (keyset paging).

A page ``before`` a note holds the PAGE_SIZE notes just older than it, a page
``after`` one the PAGE_SIZE just newer; the first page has neither. The note
named is one that is or was public (a deleted one still cuts the list where it
stood), so an old link keeps working and there is one address per page, not
one per string a visitor can type: anything else in the query is refused
(404) or, when only unknown fields were added (``?utm_source=``), redirected
to the page's own address. Readers' pages are cached by path and query
(pagecache.py), so a cached page always has exactly one spelling.
"""

from typing import NamedTuple

from flask import abort, redirect, request, url_for

from . import listing

PAGE_SIZE = 20
# A note id in a paging address: ASCII digits without a leading zero, at most this many.
MAX_ID_DIGITS = 18
# The old numbered addresses (?page=N): ASCII digits, at most this many.
MAX_PAGE_DIGITS = 6
# The query fields a numbered list (/, /tag/<tag>) reads; the page cache is keyed by them alone.
LIST_FIELDS = ("before", "after", "page")


class Page(NamedTuple):
    """One page of a readers' list and the addresses of its neighbours (None at either end)."""

    notes: list
    first: bool
    prev_url: str | None
    next_url: str | None


def _note_id(raw):
    # isascii: "²" passes isdigit() but int() refuses it.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_ID_DIGITS or raw.startswith("0"):
        abort(404, "No such page of notes.")
    return int(raw)


def query_args(allowed):
    """Return {name: value} of the query's fields in ``allowed``: 404 for a repeated one, a redirect drops others.

    Raises a redirect (via abort) to the same path without the unknown fields;
    a known field spelled otherwise than this site writes it is a 404.
    """
    args = request.args
    if any(len(args.getlist(name)) > 1 for name in args):
        abort(404, "No such page of notes.")
    known = {name: args[name] for name in allowed if name in args}
    # The address as the site writes it (url_for, as in every link), and its query.
    canonical = url_for(request.endpoint, **request.view_args, **known)
    if request.query_string.decode("latin-1") != canonical.partition("?")[2]:
        if set(args) <= set(allowed):
            abort(404, "No such page of notes.")  # the same fields, spelled another way (%31, a '+')
        abort(redirect(canonical, code=301))
    return known


def list_page(endpoint, url_args, tag=None, since=None, until=None, numbered=False):
    """Return the Page the query asks for (``?before=``, ``?after=``, and ``?page=N`` when numbered): 404 if empty.

    Aborts with a redirect for old numbered addresses and for a page ``after``
    a note that is in fact the first page.
    """
    args = query_args(LIST_FIELDS if numbered else LIST_FIELDS[:2])
    if len(args) > 1:
        abort(404, "No such page of notes.")
    if "page" in args:
        abort(redirect(_numbered_page(endpoint, url_args, args["page"], tag), code=301))
    before = after = None
    if "before" in args or "after" in args:
        key = listing.paging_key(_note_id(args["before"] if "before" in args else args["after"]))
        if key is None:
            abort(404, "No such page of notes.")
        before, after = (key, None) if "before" in args else (None, key)
    notes, newer, older = listing.published_page(PAGE_SIZE, before, after, tag, since, until)
    if not notes and (before or after or tag or since):
        abort(404, "No such page of notes.")
    if after is not None and newer == 0:
        abort(redirect(url_for(endpoint, **url_args), code=302))  # the newest notes: the first page's address
    if not newer:
        prev_url = None
    elif newer <= PAGE_SIZE:
        prev_url = url_for(endpoint, **url_args)
    else:
        prev_url = url_for(endpoint, after=notes[0]["id"], **url_args)
    next_url = url_for(endpoint, before=notes[-1]["id"], **url_args) if older else None
    return Page(notes, before is None and after is None, prev_url, next_url)


def _numbered_page(endpoint, url_args, raw, tag):
    """Return the keyset address of old page number ``raw``; 404 when there is no such page."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_PAGE_DIGITS or int(raw) < 1:
        abort(404, "No such page of notes.")
    if int(raw) == 1:
        return url_for(endpoint, **url_args)
    start = listing.page_start(int(raw), PAGE_SIZE, tag)
    if start is None:
        abort(404, "No such page of notes.")
    return url_for(endpoint, before=start, **url_args)
