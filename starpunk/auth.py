"""Sign-in for the one owner: IndieLogin, one-time login links, and DEV_MODE."""

import functools
import json
import secrets
from datetime import datetime, timedelta, timezone
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit

import click
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask.cli import with_appcontext

from . import throttle
from .db import connect, get_db, isoformat, migrate, transaction, utcnow
from .web import hash_token, pkce_challenge, site_root

bp = Blueprint("auth", __name__, url_prefix="/auth")

LOGIN_LINK_LIFETIME = timedelta(minutes=10)
INDIELOGIN_TIMEOUT_SECONDS = 10


def is_owner():
    """Return True when this request's session belongs to the signed-in owner."""
    return bool(session.get("me"))


@bp.after_app_request
def keep_owner_pages_private(response):
    """Mark every page rendered for the signed-in owner private and unstorable, varying with the cookie.

    Drafts, CSRF tokens and the admin links must stay out of shared caches and
    out of a browser's history once the owner has signed out.
    """
    if response.mimetype == "text/html" and is_owner():
        response.headers["Cache-Control"] = "private, no-store"
        response.vary.add("Cookie")
    return response


def login_required(view):
    """Send visitors who are not signed in to the sign-in page."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not is_owner():
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def safe_next(target):
    """Return target if it is a path on this site, else the admin page (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("admin.index")


def _normalise_me(url):
    url = (url or "").strip()
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


def _redirect_uri():
    return current_app.config["SITE_URL"] + url_for("auth.callback")


def _sign_in(next_url):
    session.clear()
    session["me"] = current_app.config["ADMIN_ME"] or site_root()
    session.rotate()
    current_app.logger.info("owner signed in")
    return redirect(safe_next(next_url), code=303)


def _refuse(message, status):
    throttle.record_failure("sign-in", message)
    return render_template("auth/failed.html", message=message), status


def _check_rate():
    return throttle.refused_page("sign-in", "Too many failed sign-in attempts.")


@bp.get("/login")
def login():
    """Start signing in: IndieLogin, or the DEV_MODE page in development."""
    next_url = safe_next(request.args.get("next"))
    if is_owner():
        return redirect(next_url)
    if current_app.config["DEV_MODE"] and not request.args.get("indielogin"):
        return render_template("auth/login.html", next_url=next_url)
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    challenge = pkce_challenge(verifier)
    session["indielogin"] = {"state": state, "verifier": verifier, "next": next_url}
    params = {
        "client_id": site_root(),
        "redirect_uri": _redirect_uri(),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if current_app.config["ADMIN_ME"]:
        params["me"] = current_app.config["ADMIN_ME"]
    return redirect(f"{current_app.config['INDIELOGIN_URL']}/auth?{urlencode(params)}")


@bp.get("/callback")
def callback():
    """Finish an IndieLogin sign-in: check state, verify the code, accept only ADMIN_ME."""
    limited = _check_rate()
    if limited:
        return limited
    pending = session.pop("indielogin", None)
    state = request.args.get("state", "")
    code = request.args.get("code", "")
    if not pending or not state or not secrets.compare_digest(state, pending["state"]):
        return _refuse("This sign-in did not start here, or it has expired (state mismatch). Please start again.", 400)
    if not code:
        return _refuse("IndieLogin sent no authorization code. Please start again.", 400)
    form = {
        "code": code,
        "client_id": site_root(),
        "redirect_uri": _redirect_uri(),
        "code_verifier": pending["verifier"],
    }
    from urllib.request import Request, urlopen  # only the IndieLogin exchange needs it: not at start-up

    exchange = Request(
        f"{current_app.config['INDIELOGIN_URL']}/auth",
        data=urlencode(form).encode(),
        headers={"Accept": "application/json"},
        method="POST",
    )
    try:
        with urlopen(exchange, timeout=INDIELOGIN_TIMEOUT_SECONDS) as reply:
            answer = reply.read()
    except HTTPError as exc:
        # IndieLogin answered, with an error status: it did not confirm the sign-in.
        exc.close()
        answer = b""
    except (URLError, HTTPException, OSError) as exc:
        current_app.logger.error("IndieLogin unreachable: %s", type(getattr(exc, "reason", exc)).__name__)
        return render_template(
            "auth/failed.html", message="IndieLogin could not be reached. Please try again later."
        ), 502
    try:
        me = json.loads(answer).get("me")
    except (ValueError, AttributeError):
        me = None
    if not me:
        return _refuse("IndieLogin did not confirm the sign-in.", 400)
    if _normalise_me(me) != _normalise_me(current_app.config["ADMIN_ME"]):
        return _refuse("Only this site's owner can sign in here.", 403)
    return _sign_in(pending.get("next"))


@bp.get("/token/<token>")
def token_login(token):
    """Sign in with a one-time login link made by `flask login-link`."""
    limited = _check_rate()
    if limited:
        return limited
    db = get_db()
    now = utcnow()
    with transaction(db):
        used = db.execute(
            "UPDATE login_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
            (now, hash_token(token), now),
        ).rowcount
    if used != 1:
        return _refuse("This login link is invalid, already used or expired. Make a new one.", 400)
    return _sign_in(url_for("admin.index"))


@bp.post("/dev-login")
def dev_login():
    """Sign in without IndieLogin; only when DEV_MODE is on (never in production)."""
    if not current_app.config["DEV_MODE"]:
        abort(404)
    current_app.logger.warning("DEV_MODE sign-in used: no identity was checked")
    return _sign_in(request.form.get("next"))


@bp.post("/logout")
def logout():
    """End the owner's session."""
    session.clear()
    return redirect(url_for("notes.index"), code=303)


def create_login_link(data_path, site_url):
    """Store a new single-use token and return its login URL."""
    token = secrets.token_urlsafe(32)
    created = datetime.now(timezone.utc)
    conn = connect(data_path)
    try:
        with transaction(conn):
            conn.execute(
                "INSERT INTO login_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
                (hash_token(token), isoformat(created), isoformat(created + LOGIN_LINK_LIFETIME)),
            )
    finally:
        conn.close()
    return f"{site_url}/auth/token/{token}"


@click.command("login-link")
@with_appcontext
def login_link_command():
    """Print a one-time sign-in URL for the owner (valid 10 minutes)."""
    migrate(current_app.config["DATA_PATH"])
    click.echo(create_login_link(current_app.config["DATA_PATH"], current_app.config["SITE_URL"]))
