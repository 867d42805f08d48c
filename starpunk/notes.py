"""Public pages: the home page's list, one list per tag, and one page per note.

Lists are cut into pages by a note (?before=ID, ?after=ID; see paging.py).
Readers' copies are cached (see pagecache).
"""

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from . import listing, mentions, paging, sending, store
from .pagecache import cached_for_readers
from .tags import normalise_tag

bp = Blueprint("notes", __name__)


def permalink(slug):
    """Return a note's canonical URL, built from SITE_URL so it never varies by request."""
    return current_app.config["SITE_URL"] + url_for("notes.note", slug=slug)


def render_list(page, **context):
    """Render a readers' list page: its notes, rel=prev/next links and canonical address."""
    canonical = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
    return render_template(
        "index.html",
        notes=page.notes,
        first_page=page.first,
        prev_url=page.prev_url,
        next_url=page.next_url,
        canonical=current_app.config["SITE_URL"] + canonical,
        **context,
    )


@bp.get("/")
@cached_for_readers(*paging.LIST_FIELDS)
def index():
    """List published notes, newest first, paging.PAGE_SIZE to a page, with the years of the archive."""
    page = paging.list_page("notes.index", {}, numbered=True)
    return render_list(page, years=listing.published_years())


def published_tag(raw):
    """Return the normalised tag named in an address; 404 unless some published note carries it."""
    try:
        tag = normalise_tag(raw)
    except ValueError:
        abort(404, "There are no notes with this tag.")
    if not listing.tag_count(tag):
        abort(404, "There are no notes with this tag.")
    return tag


@bp.get("/tag/<tag>")
@cached_for_readers(*paging.LIST_FIELDS)
def tagged(tag):
    """List published notes with this tag, newest first, paging.PAGE_SIZE to a page."""
    name = published_tag(tag)
    if name != tag:  # "/tag/Python" → "/tag/python"
        # Built from the route's own values and the paging fields, never from request.args as a whole
        # (it may hold url_for's own options: _external, _method, or the route's own "tag").
        values = {name: request.args[name] for name in paging.LIST_FIELDS if name in request.args}
        return redirect(url_for("notes.tagged", tag=name, **values), code=301)
    page = paging.list_page("notes.tagged", {"tag": name}, tag=name, numbered=True)
    return render_list(page, tag=name)


@bp.get("/note/<slug>")
@cached_for_readers()
def note(slug):
    """Show one published note; a deleted one is 410 Gone, drafts and unknown slugs are 404."""
    found = store.get_published_note(slug)
    if found is None:
        if store.was_published_then_deleted(slug):
            abort(410, "This note was deleted by its author.")
        abort(404, "There is no note at this address.")
    return render_template(
        "note.html",
        note=found,
        responses=mentions.for_note(found["id"]),
        publish_to=sending.publishers_of(found["id"]),
    )
