"""Public pages: the paginated index and one page per note."""

from flask import Blueprint, abort, current_app, render_template, request, url_for

from . import store

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


@bp.get("/")
def index():
    """List published notes, newest first, PAGE_SIZE to a page."""
    page = _page_number()
    total = store.count_published()
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:
        abort(404, "No such page of notes.")
    notes = store.list_published(PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return render_template(
        "index.html",
        notes=notes,
        page=page,
        prev_url=url_for("notes.index", page=page - 1) if page > 1 else None,
        next_url=url_for("notes.index", page=page + 1) if page < pages else None,
    )


@bp.get("/note/<slug>")
def note(slug):
    """Show one published note; drafts, deleted and unknown slugs are 404."""
    found = store.get_published_note(slug)
    if found is None:
        abort(404, "There is no note at this address.")
    return render_template("note.html", note=found)
