"""The owner's pages: list, write, edit and delete notes; list and revoke access tokens."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from . import store, tokens
from .auth import login_required
from .store import NoteError

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _is_checked(field):
    return request.form.get(field, "").strip().lower() not in {"", "0", "false", "off", "no"}


def _note_or_404(note_id):
    note = store.get_note(note_id)
    if note is None:
        abort(404, "There is no such note.")
    return note


@bp.get("")
@login_required
def index():
    """List every note, drafts included, and the active access tokens."""
    return render_template("admin/index.html", notes=store.list_all(), tokens=tokens.list_tokens())


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    """Show the form for a new note, and create it on POST."""
    if request.method == "POST":
        content = request.form.get("content", "")
        published = _is_checked("published")
        try:
            note = store.create_note(
                store.validate_content(content, current_app.config["MAX_NOTE_CHARS"]), published
            )
        except NoteError as exc:
            return render_template("admin/edit.html", note=None, content=content, published=published, error=str(exc)), 400
        current_app.logger.info("note %s created (%s)", note["slug"], "published" if published else "draft")
        flash(f"{'Published' if published else 'Saved draft'}: {note['slug']}")
        return redirect(url_for("admin.index"), code=303)
    return render_template("admin/edit.html", note=None, content="", published=True, error=None)


@bp.route("/edit/<int:note_id>", methods=["GET", "POST"])
@login_required
def edit(note_id):
    """Show a note in the form, and save the changes on POST."""
    note = _note_or_404(note_id)
    if request.method == "POST":
        content = request.form.get("content", "")
        published = _is_checked("published")
        try:
            store.update_note(
                note_id, store.validate_content(content, current_app.config["MAX_NOTE_CHARS"]), published
            )
        except NoteError as exc:
            return render_template("admin/edit.html", note=note, content=content, published=published, error=str(exc)), 400
        except LookupError:
            abort(404, "There is no such note.")
        current_app.logger.info("note %s updated", note["slug"])
        flash(f"Saved: {note['slug']}")
        return redirect(url_for("admin.index"), code=303)
    return render_template(
        "admin/edit.html", note=note, content=note["content"], published=bool(note["published"]), error=None
    )


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

