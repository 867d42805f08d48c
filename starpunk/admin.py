"""The owner's pages: write, edit and delete notes (tags, up to MAX_PHOTOS photos); revoke tokens; moderate mentions."""

import re

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from . import media, mentions, search, sending, store, tokens
from .auth import is_owner, login_required
from .config import host_name
from .media import MediaError
from .photos import Photo
from .responses import KINDS, clean_properties, response_of
from .store import NoteError
from .tags import parse_tags

bp = Blueprint("admin", __name__, url_prefix="/admin")

PHOTO_FIELD = re.compile(r"^photo_[1-9][0-9]{0,2}$")

# The owner's list shows this many notes a page, so its cost is the page's, not the archive's.
ADMIN_PAGE_SIZE = 50
# A note id in a paging address (?before=ID, ?after=ID): ASCII digits, at most this many.
MAX_ID_DIGITS = 18


def _is_checked(field):
    return request.form.get(field, "").strip().lower() not in {"", "0", "false", "off", "no"}


def _note_or_404(note_id):
    note = store.get_note(note_id)
    if note is None:
        abort(404, "There is no such note.")
    return note


def _kept_photos(note):
    """Return the note's photos the form keeps, in order, with the alt text as edited."""
    if note is None:
        return []
    keep = set(request.form.getlist("keep_photo"))
    return [
        photo.with_alt(request.form.get(f"alt_existing_{position}", photo.alt))
        for position, photo in enumerate(note["photos"], start=1)
        if str(position) in keep
    ]


def _new_uploads():
    """Return (file, alt) for every photo chosen in the form; alt text is required with each."""
    uploads = []
    # Every photo_N field counts, not only the slots the form shows: a fifth is refused, not ignored.
    slots = sorted(int(field[6:]) for field in request.files if PHOTO_FIELD.match(field))
    for slot in slots:
        file = request.files[f"photo_{slot}"]
        if not file.filename:
            continue
        alt = store.validate_alt(request.form.get(f"alt_{slot}", ""))
        if not alt:
            raise NoteError(f"Describe new photo {slot} for readers who cannot see it (alt text is required).")
        uploads.append((file, alt))
    return uploads


def _response_properties(note):
    """Return the note's properties with the response the form names (kind and URL), or raise NoteError."""
    properties = {name: values for name, values in (note["properties"] if note else {}).items() if name not in KINDS}
    kind, url = request.form.get("response", ""), request.form.get("response_url", "").strip()
    if kind and kind not in KINDS:
        raise NoteError("Choose a reply, like, repost or bookmark, or a plain note.")
    if bool(kind) != bool(url):
        raise NoteError("A reply, like, repost or bookmark needs both its kind and the URL it answers.")
    if kind:
        properties[kind] = [url]
    try:
        return clean_properties(properties)
    except ValueError as exc:
        raise NoteError(str(exc)) from None


def _save_from_form(note):
    """Create (note is None) or update a note from the submitted form; return it, or raise NoteError/MediaError."""
    properties = _response_properties(note)
    answered = response_of(properties)
    offered = {target["uid"] for target in current_app.config["SYNDICATE_TO"]}
    picks = [uid for uid in request.form.getlist("syndicate_to") if uid in offered]
    content = store.validate_content(
        request.form.get("content", ""),
        current_app.config["MAX_NOTE_CHARS"],
        required=answered is None or answered.needs_text,
    )
    tags = store.validate_tags(parse_tags(request.form.get("tags", "")))
    kept = _kept_photos(note)
    uploads = _new_uploads()
    # Refuse before any file is written: at most MAX_PHOTOS, alt text within its limit.
    store.check_photo_count(len(kept) + len(uploads))
    kept = store.validate_photos(kept)
    stored = []
    try:
        for file, alt in uploads:
            stored.append(Photo.stored(media.save_upload(file), alt))
        photos = kept + stored
        published = _is_checked("published")
        if note is None:
            slug = answered.kind if answered and not content.strip() else None
            return store.create_note(
                content, published, tags, photos, slug=slug, properties=properties, syndicate_to=picks
            )
        return store.update_note(
            note["id"], content, published, tags, photos, properties=properties, syndicate_to=picks
        )
    except BaseException:
        # The note was not saved: the files stored for it go too.
        media.discard(photo.file_name for photo in stored)
        raise


def _form_again(note, exc):
    """Show the form again with what was typed (files must be chosen again) and why it was refused."""
    keep = set(request.form.getlist("keep_photo"))
    existing = [
        (position, photo, str(position) in keep, request.form.get(f"alt_existing_{position}", photo.alt))
        for position, photo in enumerate(note["photos"] if note else [], start=1)
    ]
    return render_template(
        "admin/edit.html",
        note=note,
        content=request.form.get("content", ""),
        published=_is_checked("published"),
        tags=request.form.get("tags", ""),
        response=request.form.get("response", ""),
        response_url=request.form.get("response_url", ""),
        existing=existing,
        alts={slot: request.form.get(f"alt_{slot}", "") for slot in range(1, current_app.config["MAX_PHOTOS"] + 1)},
        error=str(exc),
        sends=sending.sends_of(note["id"]) if note else [],
        picked=set(request.form.getlist("syndicate_to")),
    ), getattr(exc, "status", 400)


def _form(note):
    answered = response_of(note["properties"]) if note else None
    return render_template(
        "admin/edit.html",
        note=note,
        content=note["content"] if note else "",
        published=bool(note["published"]) if note else True,
        tags=", ".join(note["tags"]) if note else "",
        response=answered.prop if answered else "",
        response_url=answered.url if answered else "",
        existing=[
            (position, photo, True, photo.alt) for position, photo in enumerate(note["photos"] if note else [], start=1)
        ],
        alts={},
        error=None,
        sends=sending.sends_of(note["id"]) if note else [],
        picked=set(sending.publishers_of(note["id"])) if note else set(),
    )


def _note_id_arg(name):
    """Return the note id given as ?name=ID, None when absent; 404 for anything else."""
    raw = request.args.get(name)
    if raw is None:
        return None
    # isascii: "²" passes isdigit() but int() refuses it.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_ID_DIGITS:
        abort(404, "No such page of notes.")
    return int(raw)


@bp.get("")
@login_required
def index():
    """List the owner's notes, newest first, ADMIN_PAGE_SIZE a page, or the best matches of ?q=; and the tokens.

    ?show=drafts keeps the drafts only, in the list and in a search.
    """
    show = request.args.get("show", "all")
    if show not in {"all", "drafts"}:
        abort(404, "No such list of notes.")
    query = search.search_text()
    kept = {} if show == "all" else {"show": show}
    if query:
        return _search_results(query, show, kept)
    before, after = _note_id_arg("before"), _note_id_arg("after")
    if before is not None and after is not None:
        abort(404, "No such page of notes.")
    notes, newer, older = store.owner_page(ADMIN_PAGE_SIZE, before, after, drafts_only=show == "drafts")
    return render_template(
        "admin/index.html",
        notes=notes,
        show=show,
        query="",
        first_page=before is None and after is None,
        newer_url=url_for("admin.index", after=notes[0]["id"], **kept) if newer and notes else None,
        older_url=url_for("admin.index", before=notes[-1]["id"], **kept) if older and notes else None,
        tokens=tokens.list_tokens(),
    )


def _search_results(query, show, kept):
    """Render the owner's list as a page of the best matches of query, drafts included, paged as /search is."""
    if "after" in request.args:
        abort(404, "No such page of notes.")
    page, before = search.page_arg(), search.before_arg()
    try:
        found = search.find(query, page, before, readers=False, drafts_only=show == "drafts")
        error = None
    except search.SearchTooCostly:
        found, error = search.Found([], False, None), "This search matched too much to rank in time. Add a word or two."
    if page > 1 and not found.results:
        abort(404, "No such page of results.")
    links = search.page_links("admin.index", found, page, before, q=query, **kept)
    return render_template(
        "admin/index.html",
        notes=[note for note, _ in found.results],
        snippets=[snippet for _, snippet in found.results],
        show=show,
        query=query,
        search_error=error,
        first_page=page == 1 and before is None,
        newer_url=links["prev_url"],
        older_url=links["next_url"],
        older_matches_url=links["older_url"],
        ranked_window=search.RANKED_WINDOW,
        newest_url=links["newest_url"],
        tokens=tokens.list_tokens(),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
@media.accepts_uploads(when=is_owner)
def new():
    """Show the form for a new note, and create it (with tags and photos) on POST."""
    if request.method == "POST":
        try:
            note = _save_from_form(None)
        except (NoteError, MediaError) as exc:
            return _form_again(None, exc)
        published = bool(note["published"])
        current_app.logger.info("note %s created (%s)", note["slug"], "published" if published else "draft")
        flash(f"{'Published' if published else 'Saved draft'}: {note['slug']}")
        return redirect(url_for("admin.index"), code=303)
    return _form(None)


@bp.route("/edit/<int:note_id>", methods=["GET", "POST"])
@login_required
@media.accepts_uploads(when=is_owner)
def edit(note_id):
    """Show a note in the form, and save the changes (tags and photos kept, removed or added) on POST."""
    note = _note_or_404(note_id)
    if request.method == "POST":
        try:
            _save_from_form(note)
        except (NoteError, MediaError) as exc:
            return _form_again(note, exc)
        except LookupError:
            abort(404, "There is no such note.")
        current_app.logger.info("note %s updated", note["slug"])
        flash(f"Saved: {note['slug']}")
        return redirect(url_for("admin.index"), code=303)
    return _form(note)


@bp.post("/delete/<int:note_id>")
@login_required
def delete(note_id):
    """Delete a note (softly: it stays in the database, out of every page and feed)."""
    note = _note_or_404(note_id)
    try:
        store.delete_note(note_id)
    except LookupError:
        abort(404, "There is no such note.")
    current_app.logger.info("note %s deleted", note["slug"])
    flash(f"Deleted: {note['slug']}")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/tokens/revoke/<int:token_id>")
@login_required
def revoke_token(token_id):
    """Revoke an access token: the app or script holding it is refused from now on."""
    if not tokens.revoke_token(token_id):
        abort(404, "There is no such active token.")
    current_app.logger.info("token %s revoked in /admin", token_id)
    flash(f"Revoked token {token_id}.")
    return redirect(url_for("admin.index"), code=303)


# Mentions shown on /admin/mentions: the newest of each list (pending first).
MENTIONS_PAGE_SIZE = 200
MENTION_ACTIONS = {"approve": mentions.approve, "reject": mentions.reject, "delete": mentions.delete}


@bp.get("/mentions")
@login_required
def mentions_list():
    """List received Webmentions, pending first (one status with ?status=), with the hosts blocked."""
    status = request.args.get("status") or None
    if status is not None and status not in mentions.STATUSES:
        abort(404, "No such list of mentions.")
    return render_template(
        "admin/mentions.html",
        mentions=mentions.listing(status, MENTIONS_PAGE_SIZE),
        status=status,
        statuses=mentions.STATUSES,
        blocked=mentions.blocked_hosts(),
    )


@bp.post("/mentions/<int:mention_id>/<action>")
@login_required
def moderate(mention_id, action):
    """Approve, reject or delete one mention."""
    if action not in MENTION_ACTIONS:
        abort(404, "No such action.")
    if not MENTION_ACTIONS[action]([mention_id]):
        abort(404, "There is no such mention, or it already is so.")
    current_app.logger.info("mention %s: %s", mention_id, action)
    flash(f"Mention {mention_id}: {action.rstrip('e')}ed.")
    return redirect(url_for("admin.mentions_list"), code=303)


@bp.post("/mentions/block")
@login_required
def block_host():
    """Block a source host: its mentions go and what it sends later is dropped unread."""
    try:
        removed = mentions.block(request.form.get("host", ""))
    except ValueError:
        abort(400, "Name a host to block.")
    current_app.logger.info("webmention host %s blocked", host_name(request.form["host"]))
    flash(f"Blocked {host_name(request.form['host'])}; removed {removed} mention(s).")
    return redirect(url_for("admin.mentions_list"), code=303)
