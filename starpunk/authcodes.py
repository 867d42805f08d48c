"""IndieAuth authorization codes: single-use, short-lived, bound to client, redirect URI and PKCE challenge."""

import re
import secrets
from datetime import timedelta
from typing import NamedTuple

from flask import current_app

from . import tokens
from .db import get_db, isoformat, transaction
from .tokens import now
from .web import hash_token, pkce_challenge

CODE_LIFETIME = timedelta(minutes=10)
# RFC 7636: verifiers (and S256 challenges) are 43 to 128 unreserved characters.
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


class CodeError(ValueError):
    """A code was refused; the message is the OAuth error_description (it names no secret)."""


class Grant(NamedTuple):
    """What a redeemed code granted."""

    code_hash: str
    client_id: str
    redirect_uri: str
    scopes: tuple
    me: str

    @property
    def scope(self):
        """Return the granted scopes as one space-separated string."""
        return " ".join(self.scopes)


def issue_code(client_id, redirect_uri, code_challenge, scopes, me):
    """Store a new code for an approved request and return it (only its hash is kept)."""
    code = secrets.token_urlsafe(32)
    created = now()
    db = get_db()
    with transaction(db):
        db.execute("DELETE FROM authorization_codes WHERE expires_at <= ?", (isoformat(created),))
        db.execute(
            "INSERT INTO authorization_codes"
            " (code_hash, client_id, redirect_uri, code_challenge, scope, me, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                hash_token(code),
                client_id,
                redirect_uri,
                code_challenge,
                " ".join(scopes),
                me,
                isoformat(created),
                isoformat(created + CODE_LIFETIME),
            ),
        )
    return code


def redeem_code(code, client_id, redirect_uri, code_verifier):
    """Use a code up (whatever comes next) and return its Grant; raise CodeError if it does not match."""
    if not code or len(code) > 512:
        raise CodeError("The authorization code is missing or malformed.")
    code_hash = hash_token(code)
    moment = isoformat(now())
    db = get_db()
    with transaction(db):
        row = db.execute(
            "SELECT client_id, redirect_uri, code_challenge, scope, me, used_at, token_id"
            " FROM authorization_codes WHERE code_hash = ? AND expires_at > ?",
            (code_hash, moment),
        ).fetchone()
        if row is not None and row["used_at"] is None:
            db.execute("UPDATE authorization_codes SET used_at = ? WHERE code_hash = ?", (moment, code_hash))
    if row is None:
        raise CodeError("The authorization code is unknown or has expired.")
    if row["used_at"] is not None:
        # RFC 6749 4.1.2: a replayed code may have been stolen, so what it bought is taken back.
        if row["token_id"] is not None and tokens.revoke_token(row["token_id"]):
            current_app.logger.warning("authorization code replayed: token %s revoked", row["token_id"])
        raise CodeError("The authorization code has already been used.")
    if client_id != row["client_id"]:
        raise CodeError("The authorization code was issued to another client_id.")
    if redirect_uri != row["redirect_uri"]:
        raise CodeError("The redirect_uri does not match the one the code was issued for.")
    if not PKCE_VALUE.fullmatch(code_verifier or "") or not secrets.compare_digest(
        pkce_challenge(code_verifier), row["code_challenge"]
    ):
        raise CodeError("The code_verifier does not match the code_challenge.")
    return Grant(code_hash, row["client_id"], row["redirect_uri"], tuple(row["scope"].split()), row["me"])


def record_token(grant, token_id):
    """Remember which token a code was exchanged for (revoked if the code is ever replayed)."""
    db = get_db()
    with transaction(db):
        db.execute("UPDATE authorization_codes SET token_id = ? WHERE code_hash = ?", (token_id, grant.code_hash))
