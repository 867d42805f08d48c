"""What the HTTP-facing modules share (starpunk/web.py): headers, the OAuth-style error, hashes, PKCE, the root URL."""

import hashlib

from flask import Response

from starpunk import web


def test_pkce_challenge_is_rfc_7636s_example():
    """The S256 challenge of RFC 7636 appendix B's verifier is the one the RFC gives."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert web.pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_token_is_stored_as_its_sha256():
    """hash_token is the hex SHA-256 of the token's UTF-8 bytes, never the token."""
    assert web.hash_token("sécret") == hashlib.sha256("sécret".encode()).hexdigest()


def test_security_headers_keep_a_views_own_policy():
    """Every security header is added, but a policy the view set (the consent page's) stays as it is."""
    response = web.add_security_headers(Response(headers={"content-security-policy": "form-action 'self' x"}))
    assert response.headers.getlist("Content-Security-Policy") == ["form-action 'self' x"]
    for name in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"):
        assert response.headers[name] == web.SECURITY_HEADERS[name]


def test_an_oauth_error_is_json_never_cached_and_names_its_scheme_on_401(app):
    """oauth_error answers {"error", "error_description"} with no-store; a 401 adds WWW-Authenticate."""
    with app.test_request_context():
        refused = web.oauth_error("invalid_token", "Unknown token.", 401, extra="x")
        plain = web.oauth_error("invalid_request", "Missing: token.", headers={"Cache-Control": "no-store"})
        assert web.site_root() == app.config["SITE_URL"] + "/"
    assert refused.status_code == 401 and refused.get_json() == {
        "error": "invalid_token",
        "error_description": "Unknown token.",
        "extra": "x",
    }
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert refused.headers["Cache-Control"] == "no-store" and refused.headers["Pragma"] == "no-cache"
    assert plain.status_code == 400 and "WWW-Authenticate" not in plain.headers and "Pragma" not in plain.headers
