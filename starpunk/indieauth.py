"""StarPunk as its own IndieAuth server: discovery, consent, codes and tokens for Micropub clients.

Endpoints (absolute URLs are built from SITE_URL):
- ``GET /.well-known/oauth-authorization-server``: the metadata document.
- ``GET /indieauth/authorize``: the owner's consent page; ``POST`` redeems a
  code for the profile URL only ({"me"}), as the spec's authentication flow does.
- ``POST /indieauth/consent``: the consent form's answer (CSRF-protected).
- ``POST /indieauth/token``: a code for a Bearer token.
- ``POST /indieauth/introspect``: a token's details, for callers holding an
  active token of this site themselves (sent as ``Authorization: Bearer``).
- ``POST /indieauth/revoke``: revoke a token; 200 whether or not it was active.

Client information is not fetched: a redirect_uri on another scheme, host or
port than its client_id is refused.
"""

import re
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, session, url_for

from . import throttle, tokens
from .auth import is_owner, login_required
from .authcodes import PKCE_VALUE, CodeError, issue_code, record_token, redeem_code
from .clients import origin, origin_text, valid_client_id, with_query
from .csrf import csrf
from .tokens import SUPPORTED_SCOPES, TokenRequestError, bearer_token, create_token, verify_token
from .web import NO_STORE, SECURITY_HEADERS, oauth_error, site_root

bp = Blueprint("indieauth", __name__)

METADATA_PATH = "/.well-known/oauth-authorization-server"
# Unanswered consent pages remembered per session; an older one must be opened again.
MAX_PENDING = 5
# RFC 6749 appendix A.4: a scope token is printable ASCII without space, '"' or '\'.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")
SCOPE_DESCRIPTIONS = {
    "create": "publish new notes",
    "update": "change your notes",
    "delete": "delete and undelete your notes",
    "media": "upload photos",
    "profile": "read your name and profile URL",
}


def _absolute(endpoint):
    return current_app.config["SITE_URL"] + url_for(endpoint)


def discovery_links():
    """Return (rel, absolute URL) of every endpoint a client discovers from the site's pages."""
    return [
        ("indieauth-metadata", _absolute("indieauth.metadata")),
        ("authorization_endpoint", _absolute("indieauth.authorize")),
        ("token_endpoint", _absolute("indieauth.token")),
        ("micropub", _absolute("micropub.endpoint")),
        ("webmention", _absolute("webmention.receive")),
    ]


@bp.app_context_processor
def discovery_context():
    """Give every template the discovery links, for <link> elements in the page head."""
    return {"discovery_links": discovery_links}


@bp.after_app_request
def add_link_headers(response):
    """Advertise the endpoints in HTTP Link headers on the public pages (the home page and permalinks)."""
    if request.blueprint == "notes" and response.mimetype == "text/html":
        fields = current_app.extensions.get("starpunk_link_headers")
        if fields is None:  # the same for every request of this app: made once
            fields = [("Link", f'<{href}>; rel="{rel}"') for rel, href in discovery_links()]
            current_app.extensions["starpunk_link_headers"] = fields
        response.headers.extend(fields)
    return response


@bp.get(METADATA_PATH)
def metadata():
    """Describe this authorization server (IndieAuth metadata, RFC 8414 fields)."""
    return jsonify(
        issuer=site_root(),  # a prefix of the metadata URL
        authorization_endpoint=_absolute("indieauth.authorize"),
        token_endpoint=_absolute("indieauth.token"),
        introspection_endpoint=_absolute("indieauth.introspect"),
        revocation_endpoint=_absolute("indieauth.revoke"),
        revocation_endpoint_auth_methods_supported=["none"],
        scopes_supported=list(SUPPORTED_SCOPES),
        response_types_supported=["code"],
        grant_types_supported=["authorization_code"],
        code_challenge_methods_supported=["S256"],
        authorization_response_iss_parameter_supported=True,
    )


def _refuse_page(message, reason):
    throttle.record_failure("authorize", f"authorization request refused: {reason}")
    abort(400, message)


def _checked_request(args):
    """Return the request's parameters, or refuse it with a 400 page.

    Never a redirect to the client: anyone can name any client_id and a
    redirect_uri on its site, so sending a refusal there would make this
    endpoint an open redirector (RFC 9700, 4.11.2). A client gets a redirect
    only for a request valid in every respect, once the owner has answered.
    """
    client_id = args.get("client_id", "")
    redirect_uri = args.get("redirect_uri", "")
    if not valid_client_id(client_id):
        _refuse_page(
            "The app asking to sign in sent no valid client_id (an http or https URL), so it was refused.",
            "no valid client_id",
        )
    if origin(redirect_uri) is None:
        _refuse_page(
            "The app asking to sign in sent no valid redirect_uri, so it was refused.", "no valid redirect_uri"
        )
    if origin(redirect_uri) != origin(client_id):
        _refuse_page(
            f"The app {client_id} asked to send you back to {redirect_uri}, which is not on its own site. "
            "For your safety this request was refused.",
            "redirect_uri not on the client's site",
        )

    def refuse(error, description):
        _refuse_page(
            f"The app {client_id} sent a request this site cannot answer: {description}",
            f"request from {client_id}: {error}",
        )

    state = args.get("state", "")
    if args.get("response_type") != "code":
        refuse("unsupported_response_type", "Only response_type=code is supported.")
    if not state:
        refuse("invalid_request", "The state parameter is required.")
    if args.get("code_challenge_method") != "S256":
        refuse("invalid_request", "PKCE is required, with code_challenge_method=S256.")
    challenge = args.get("code_challenge", "")
    if not PKCE_VALUE.fullmatch(challenge):
        refuse("invalid_request", "A code_challenge (PKCE, S256) is required.")
    scopes = tokens.parse_scope(args.get("scope", ""))
    if not all(SCOPE_TOKEN.fullmatch(name) for name in scopes):
        refuse("invalid_scope", "The scope parameter is malformed.")
    if args.get("me") and origin(args["me"]) is None:
        refuse("invalid_request", "The me parameter is not an http or https URL.")
    return {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "scopes": scopes,
    }


def _remember(pending):
    waiting = dict(session.get("indieauth", {}))
    request_id = secrets.token_urlsafe(16)
    waiting[request_id] = pending
    session["indieauth"] = dict(list(waiting.items())[-MAX_PENDING:])
    return request_id


def _consent_headers(redirect_uri):
    """Let the consent form's answer be redirected to the client (CSP form-action also governs that redirect)."""
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "form-action 'self'", f"form-action 'self' {origin_text(redirect_uri)}"
    )
    return {"Content-Security-Policy": policy, **NO_STORE}


@bp.get("/indieauth/authorize")
def authorize():
    """Check an app's authorization request and show the signed-in owner the consent page."""
    limited = throttle.refused_page("authorize", "Too many refused authorization requests came from your address.")
    if limited:
        return limited
    pending = _checked_request(request.args)
    if not is_owner():
        return redirect(url_for("auth.login", next=request.full_path))
    offered = [name for name in pending["scopes"] if name in SUPPORTED_SCOPES]
    ignored = [name for name in pending["scopes"] if name not in SUPPORTED_SCOPES]
    pending["scopes"] = offered
    page = render_template(
        "indieauth/consent.html",
        request_id=_remember(pending),
        client_id=pending["client_id"],
        client_host=urlsplit(pending["client_id"]).hostname,
        redirect_uri=pending["redirect_uri"],
        scopes=offered,
        ignored=ignored,
        scope_descriptions=SCOPE_DESCRIPTIONS,
        me=site_root(),
    )
    return page, 200, _consent_headers(pending["redirect_uri"])


@bp.post("/indieauth/consent")
@login_required
def consent():
    """Answer the app: a code when the owner approves, error=access_denied when they deny."""
    pending = dict(session.get("indieauth", {}))
    answered = pending.pop(request.form.get("request_id", ""), None)
    if answered is None:
        abort(400, "This sign-in request is unknown or was already answered. Start again from the app.")
    session["indieauth"] = pending
    params = {"state": answered["state"], "iss": site_root()}
    if request.form.get("decision") != "approve":
        current_app.logger.info("authorization denied to %s", answered["client_id"])
        params = {"error": "access_denied", "error_description": "The owner declined.", **params}
        return redirect(with_query(answered["redirect_uri"], params), code=303)
    chosen = set(request.form.getlist("scope"))
    granted = [name for name in answered["scopes"] if name in chosen]
    params["code"] = issue_code(
        answered["client_id"], answered["redirect_uri"], answered["code_challenge"], granted, site_root()
    )
    current_app.logger.info("authorization approved for %s, scope %r", answered["client_id"], " ".join(granted))
    return redirect(with_query(answered["redirect_uri"], params), code=303)


def _redeem(form, grant_type_required=False):
    """Redeem the code a client posted; return (Grant, None) or (None, error response).

    Every refusal counts as a failed code attempt of this client (starpunk/throttle.py).
    """
    limited = throttle.refused_json("code", "Too many refused code exchanges came from your address.")
    if limited:
        return None, limited

    def refuse(error, description):
        throttle.record_failure("code", f"code exchange for {form.get('client_id') or 'no client_id'} refused: {error}")
        return None, oauth_error(error, description)

    grant_type = form.get("grant_type")
    if grant_type is None and grant_type_required:
        return refuse("invalid_request", "Missing: grant_type.")
    if grant_type is not None and grant_type != "authorization_code":
        return refuse("unsupported_grant_type", "Only grant_type=authorization_code is supported.")
    missing = [name for name in ("code", "client_id", "redirect_uri", "code_verifier") if not form.get(name)]
    if missing:
        return refuse("invalid_request", f"Missing: {', '.join(missing)}.")
    try:
        grant = redeem_code(form["code"], form["client_id"], form["redirect_uri"], form["code_verifier"])
    except CodeError as exc:
        return refuse("invalid_grant", str(exc))
    return grant, None


def _profile_answer(grant, **fields):
    body = {"me": grant.me, **fields}
    if "profile" in grant.scopes:
        body["profile"] = {"name": current_app.config["SITE_AUTHOR"], "url": grant.me}
    return _no_store_json(body)


def _no_store_json(body):
    response = jsonify(body)
    response.headers.update(NO_STORE)
    return response


@bp.post("/indieauth/authorize")
@csrf.exempt
def redeem_for_profile():
    """Redeem a code for the profile URL only, without a token (IndieAuth authentication)."""
    grant, refusal = _redeem(request.form)
    return refusal or _profile_answer(grant)


@bp.post("/indieauth/token")
@csrf.exempt
def token():
    """Exchange a code, once, for a Bearer access token with the granted scopes."""
    grant, refusal = _redeem(request.form, grant_type_required=True)
    if refusal is not None:
        return refusal
    if not grant.scopes:
        return oauth_error("invalid_grant", "No scope was granted: redeem this code at the authorization endpoint.")
    token_id, plaintext = create_token(grant.scopes, client_id=grant.client_id, me=grant.me)
    record_token(grant, token_id)
    current_app.logger.info("token %s issued to %s, scope %r", token_id, grant.client_id, grant.scope)
    lifetime = current_app.config["TOKEN_LIFETIME_DAYS"] * 86400
    return _profile_answer(grant, access_token=plaintext, token_type="Bearer", scope=grant.scope, expires_in=lifetime)


@bp.post("/indieauth/introspect")
@csrf.exempt
def introspect():
    """Tell a caller holding an active token of this site whether another token is active, and what it grants."""
    limited = throttle.refused_json("token", "Too many unknown access tokens came from your address.")
    if limited:
        return limited
    try:
        caller = bearer_token(request)
    except TokenRequestError as exc:
        return oauth_error("invalid_request", str(exc))
    if caller is None:
        return oauth_error(
            "unauthorized", "Introspection needs an access token of this site (Authorization: Bearer).", 401
        )
    if verify_token(caller) is None:
        throttle.record_failure("token", "introspection with an unknown access token")
        return oauth_error("invalid_token", "The access token is unknown, expired or revoked.", 401)
    if not request.form.get("token"):
        return oauth_error("invalid_request", "Missing: token.")
    info = verify_token(request.form["token"], touch=False)
    if info is None:
        # Introspection answers whether a token is active: probing it counts like presenting one.
        throttle.record_failure("token", "introspection of an inactive or unknown token")
        body = {"active": False}
    else:
        body = {
            "active": True,
            "me": info.me,
            "client_id": info.client_id,
            "scope": info.scope,
            "exp": int(info.expires_at.timestamp()),
            "iat": int(info.created_at.timestamp()),
        }
    return _no_store_json(body)


@bp.post("/indieauth/revoke")
@csrf.exempt
def revoke():
    """Revoke a token (RFC 7009): 200 whether it was active, unknown or already revoked."""
    if not request.form.get("token"):
        return oauth_error("invalid_request", "Missing: token.")
    if tokens.revoke_plaintext(request.form["token"]):
        current_app.logger.info("a token was revoked through the revocation endpoint")
    return "", 200, NO_STORE
