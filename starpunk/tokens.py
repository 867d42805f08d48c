"""Access tokens for Micropub clients and scripts: stored only as SHA-256 hashes.

The API other modules (Micropub, the IndieAuth endpoints, /admin) build on;
every function needs an app context and uses this request's connection:

- ``create_token(scope, client_id=None, me=None, lifetime=None) -> (token_id, plaintext)``:
  store a new token and return its id and the only copy of its secret.
  ``scope`` is a space-separated string or an iterable of scopes; ``me``
  defaults to the site's URL (``SITE_URL`` + "/"), ``lifetime`` (a timedelta)
  to ``TOKEN_LIFETIME_DAYS``.
- ``verify_token(plaintext, touch=True) -> TokenInfo | None``: the token's
  details, or None when it is unknown, expired or revoked. ``touch`` records
  its use (``last_used_at``, at most once a minute).
- ``list_tokens(include_inactive=False) -> list[TokenInfo]``: newest first;
  active ones only unless asked.
- ``revoke_token(token_id) -> bool`` and ``revoke_plaintext(plaintext) -> bool``:
  True when an active token was revoked just now.
- ``bearer_token(request) -> str | None``: the token a request carries in an
  ``Authorization: Bearer`` header or an ``access_token`` form field; None
  when it carries none; raises ``TokenRequestError`` when it carries both
  (answer ``400 invalid_request``).
- ``TokenInfo``: ``id``, ``scopes`` (frozenset of str), ``client_id`` (str or
  None), ``me``, ``created_at``, ``expires_at``, ``last_used_at``,
  ``revoked_at`` (aware UTC datetimes or None), ``scope`` (the scopes as one
  string) and ``has_scope(name)``.

The `flask --app starpunk token ...` commands live here too.
"""

import secrets
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import click
from flask import current_app
from flask.cli import with_appcontext

from .db import get_db, isoformat, transaction
from .web import FORM_TYPES, hash_token, site_root

# The scopes StarPunk grants (IndieAuth's profile, Micropub's create, update, delete and media).
SUPPORTED_SCOPES = ("create", "update", "delete", "media", "profile")
# last_used_at is written at most this often per token, so a busy client does not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
COLUMNS = "id, me, client_id, scope, created_at, expires_at, last_used_at, revoked_at"


class TokenRequestError(ValueError):
    """A request carried its token in two places at once (answer 400 invalid_request)."""


def now():
    """Return the current time in UTC (one place, so tests can move the clock)."""
    return datetime.now(timezone.utc)


def _moment(text):
    return datetime.fromisoformat(text) if text else None


class TokenInfo(NamedTuple):
    """What a token grants; never its secret."""

    id: int
    scopes: frozenset
    client_id: str | None
    me: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def scope(self):
        """Return the scopes as one space-separated string, in a stable order."""
        return " ".join(sorted(self.scopes))

    def has_scope(self, name):
        """Return True when the token grants the scope name."""
        return name in self.scopes

    @classmethod
    def from_row(cls, row):
        """Build a TokenInfo from a tokens table row."""
        return cls(
            id=row["id"],
            scopes=frozenset(row["scope"].split()),
            client_id=row["client_id"],
            me=row["me"],
            created_at=_moment(row["created_at"]),
            expires_at=_moment(row["expires_at"]),
            last_used_at=_moment(row["last_used_at"]),
            revoked_at=_moment(row["revoked_at"]),
        )


def parse_scope(scope):
    """Return the scopes named by a space-separated string or an iterable, without repeats, in order."""
    names = scope.split() if isinstance(scope, str) else [str(name) for name in scope]
    return list(dict.fromkeys(name for name in names if name))


def create_token(scope, client_id=None, me=None, lifetime=None):
    """Store a new token and return (token_id, plaintext); the plaintext is never stored."""
    plaintext = secrets.token_urlsafe(32)
    created = now()
    lifetime = lifetime or timedelta(days=current_app.config["TOKEN_LIFETIME_DAYS"])
    db = get_db()
    with transaction(db):
        token_id = db.execute(
            "INSERT INTO tokens (token_hash, me, client_id, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                hash_token(plaintext),
                me or site_root(),  # every token of this site speaks for the site itself
                client_id,
                " ".join(parse_scope(scope)),
                isoformat(created),
                isoformat(created + lifetime),
            ),
        ).lastrowid
    return token_id, plaintext


def verify_token(plaintext, touch=True):
    """Return the TokenInfo of an active token, or None for an unknown, expired or revoked one."""
    if not plaintext or len(plaintext) > 512:
        return None
    db = get_db()
    moment = now()
    row = db.execute(
        f"SELECT {COLUMNS} FROM tokens WHERE token_hash = ? AND revoked_at IS NULL AND expires_at > ?",
        (hash_token(plaintext), isoformat(moment)),
    ).fetchone()
    if row is None:
        return None
    info = TokenInfo.from_row(row)
    if touch and (info.last_used_at is None or moment - info.last_used_at >= TOUCH_INTERVAL):
        try:
            with transaction(db):
                db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ?", (isoformat(moment), info.id))
        except sqlite3.OperationalError as exc:
            # A full or read-only disk must not lock clients out of reading; only writes fail.
            current_app.logger.warning("token %s: last use not recorded: %s", info.id, exc)
    return info


def list_tokens(include_inactive=False):
    """Return the tokens, newest first: active ones only unless include_inactive."""
    sql = f"SELECT {COLUMNS} FROM tokens"
    params = ()
    if not include_inactive:
        sql += " WHERE revoked_at IS NULL AND expires_at > ?"
        params = (isoformat(now()),)
    return [TokenInfo.from_row(row) for row in get_db().execute(sql + " ORDER BY id DESC", params)]


def _revoke(where, value):
    db = get_db()
    with transaction(db):
        return (
            db.execute(
                f"UPDATE tokens SET revoked_at = ? WHERE {where} = ? AND revoked_at IS NULL AND expires_at > ?",
                (isoformat(now()), value, isoformat(now())),
            ).rowcount
            == 1
        )


def revoke_token(token_id):
    """Revoke the token with this id; return True when it was active until now."""
    return _revoke("id", token_id)


def revoke_plaintext(plaintext):
    """Revoke the token with this secret; return True when it was active until now."""
    return bool(plaintext) and _revoke("token_hash", hash_token(plaintext))


def bearer_token(request):
    """Return the token a request carries (Authorization: Bearer, or an access_token form field), or None."""
    header = request.headers.get("Authorization", "")
    kind, _, value = header.strip().partition(" ")
    from_header = value.strip() if kind.lower() == "bearer" else ""
    from_form = request.form.get("access_token", "") if request.mimetype in FORM_TYPES else ""
    if from_header and from_form:
        raise TokenRequestError("Send the access token in the Authorization header or the form, not both.")
    return from_header or from_form or None


def _when(moment):
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


@click.group("token")
def token_cli():
    """Make, list and revoke access tokens for Micropub clients and scripts."""


@token_cli.command("create")
@click.option("--scope", required=True, help='Space-separated scopes, e.g. "create update delete media".')
@click.option("--client-id", default=None, help="URL of the client or script the token is for (shown in /admin).")
@with_appcontext
def create_command(scope, client_id):
    """Make a token and print it as the last line (shown once: it is stored only as a hash)."""
    scopes = parse_scope(scope)
    unknown = [name for name in scopes if name not in SUPPORTED_SCOPES]
    if not scopes or unknown:
        raise click.BadParameter(
            f"{'unknown scope(s): ' + ' '.join(unknown) if unknown else 'no scope given'}; "
            f"choose from: {' '.join(SUPPORTED_SCOPES)}",
            param_hint="--scope",
        )
    token_id, plaintext = create_token(scopes, client_id=client_id)
    info = next(token for token in list_tokens() if token.id == token_id)
    current_app.logger.info("token %s created from the command line, scope %s", token_id, info.scope)
    click.echo(f"Token {token_id} for {info.me}, scope: {info.scope}, expires {_when(info.expires_at)}.")
    click.echo(f"Copy it now: it is shown only this once. Revoke it with: flask --app starpunk token revoke {token_id}")
    click.echo(plaintext)


@token_cli.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Also list revoked and expired tokens.")
@with_appcontext
def list_command(include_inactive):
    """List the tokens: id, client, scopes, created, expires, last used."""
    found = list_tokens(include_inactive=include_inactive)
    if not found:
        click.echo("No tokens." if include_inactive else "No active tokens.")
        return
    for info in found:
        state = ""
        if info.revoked_at:
            state = f" REVOKED {_when(info.revoked_at)}"
        elif info.expires_at <= now():
            state = " EXPIRED"
        click.echo(
            f"{info.id}\t{info.client_id or '(command line)'}\tscope: {info.scope}\tcreated {_when(info.created_at)}"
            f"\texpires {_when(info.expires_at)}\tlast used {_when(info.last_used_at)}{state}"
        )


@token_cli.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_command(token_id):
    """Revoke the token with this id; clients using it are refused from now on."""
    if not revoke_token(token_id):
        raise click.ClickException(f"no active token with id {token_id} (see: flask --app starpunk token list)")
    current_app.logger.info("token %s revoked from the command line", token_id)
    click.echo(f"Revoked token {token_id}.")


def init_app(app):
    """Register the token commands."""
    app.cli.add_command(token_cli)
