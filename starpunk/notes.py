"""Public pages: the paginated index, one page per tag, and one page per note.

Readers' copies are cached (see pagecache).
"""

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from . import mentions, store
from .pagecache import cached_for_readers
from .tags import normalise_tag

bp = Blueprint("notes", __name__)

PAGE_SIZE = 20
MAX_PAGE_DIGITS = 6


def permalink(slug):
    """Return a note's canonical URL, built from SITE_URL so it never varies by request."""
    return current_app.config["SITE_URL"] + url_for("notes.note", slug=slug)


def _page_number():
    raw = request.args.get("page", "1")
    # isascii: "²" passes isdigit() but int() refuses it; page numbers are ASCII digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_PAGE_DIGITS or int(raw) < 1:
        abort(404, "No such page of notes.")
    return int(raw)


def _listing(endpoint, tag=None):
    page = _page_number()
    args = {} if tag is None else {"tag": tag}
    total = store.count_published(tag)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages or (tag is not None and total == 0):
        abort(404, "No such page of notes.")
    notes = store.list_published(PAGE_SIZE, (page - 1) * PAGE_SIZE, tag)
    canonical = url_for(endpoint, **args) if page == 1 else url_for(endpoint, page=page, **args)
    return render_template(
        "index.html",
        notes=notes,
        page=page,
        tag=tag,
        canonical=current_app.config["SITE_URL"] + canonical,
        prev_url=url_for(endpoint, page=page - 1, **args) if page > 1 else None,
        next_url=url_for(endpoint, page=page + 1, **args) if page < pages else None,
    )


@bp.get("/")
@cached_for_readers
def index():
    """List published notes, newest first, PAGE_SIZE to a page."""
    return _listing("notes.index")


def published_tag(raw):
    """Return the normalised tag named in an address; 404 unless some published note carries it."""
    try:
        tag = normalise_tag(raw)
    except ValueError:
        abort(404, "There are no notes with this tag.")
    if store.count_published(tag) == 0:
        abort(404, "There are no notes with this tag.")
    return tag


@bp.get("/tag/<tag>")
@cached_for_readers
def tagged(tag):
    """List published notes with this tag, newest first, PAGE_SIZE to a page."""
    name = published_tag(tag)
    if name != tag:  # "/tag/Python" → "/tag/python"
        return redirect(url_for("notes.tagged", tag=name, **request.args), code=301)
    return _listing("notes.tagged", name)


@bp.get("/note/<slug>")
@cached_for_readers
def note(slug):
    """Show one published note; a deleted one is 410 Gone, drafts and unknown slugs are 404."""
    found = store.get_published_note(slug)
    if found is None:
        if store.was_published_then_deleted(slug):
            abort(410, "This note was deleted by its author.")
        abort(404, "There is no note at this address.")
    return render_template("note.html", note=found, responses=mentions.for_note(found["id"]))
