"""What StarPunk's HTTP-facing modules share: headers, form types, the OAuth-style error, token hashes, the root URL.

CSRF protection has a module of its own (csrf.py), for the reason given
there. This one is imported when the app is built, never with the package.
"""

import base64
import hashlib

from flask import current_app, jsonify

# Sent with every response (create_app's after_request); a view may send its own policy instead.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' https:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
# Kept by no browser and no cache: tokens, codes, refusals (RFC 6749 section 5.1 asks for both).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MULTIPART = "multipart/form-data"
# The bodies that carry a form (request.form); JSON carries none.
FORM_TYPES = ("application/x-www-form-urlencoded", MULTIPART)


def add_security_headers(response):
    """Add the security headers a response does not set itself (the consent page sets its own policy)."""
    # One pass over the few headers a response has.
    present = {name.lower() for name, _ in response.headers.items()}
    response.headers.extend((name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present)
    return response


def oauth_error(error, description, status=400, headers=NO_STORE, **fields):
    """Return an OAuth 2.0 error: JSON {"error", "error_description", **fields}, with headers (never cached)."""
    response = jsonify(error=error, error_description=description, **fields)
    response.status_code = status
    response.headers.update(headers)
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return response


def hash_token(token):
    """Return the SHA-256 of a secret token: the database never holds the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def pkce_challenge(verifier):
    """Return the S256 code challenge of a PKCE verifier (RFC 7636; the verifier is ASCII by its grammar)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def site_root():
    """Return the site's root URL: its profile URL (me), its IndieAuth issuer and its client_id at IndieLogin."""
    return current_app.config["SITE_URL"] + "/"
