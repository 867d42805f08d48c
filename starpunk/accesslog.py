"""Gunicorn's access log, minus secrets: login-link tokens, codes and access tokens never reach it."""

from urllib.parse import unquote_plus

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# Paths whose last segment or query string is a one-time secret.
SECRET_PATH_PREFIX = "/auth/token/"
SECRET_QUERY_PATHS = ("/auth/callback",)
# Query parameters that carry a secret on any path (OAuth codes, PKCE verifiers, access tokens).
SECRET_PARAMETERS = {"code", "code_verifier", "access_token", "token"}


def _redact_parameter(pair):
    name, sep, _value = pair.partition("=")
    if sep and unquote_plus(name).strip().lower() in SECRET_PARAMETERS:
        return f"{name}={REDACTED}"
    return pair


def redact_uri(uri):
    """Return the request URI with any login token, code or access token replaced."""
    if uri.startswith(SECRET_PATH_PREFIX):
        return SECRET_PATH_PREFIX + REDACTED
    path, sep, query = uri.partition("?")
    if not sep:
        return uri
    if path in SECRET_QUERY_PATHS:
        return f"{path}?{REDACTED}"
    redacted = "&".join(_redact_parameter(pair) for pair in query.split("&"))
    return uri if redacted == query else f"{path}?{redacted}"


class RedactingLogger(Logger):
    """Gunicorn logger whose access-log atoms carry redacted URIs (gunicorn.conf.py: logger_class)."""

    def atoms(self, resp, req, environ, request_time):
        """Return Gunicorn's atoms with the request line, path and query string redacted."""
        atoms = super().atoms(resp, req, environ, request_time)
        raw = environ.get("RAW_URI", "")
        safe = redact_uri(raw)
        if safe == raw:
            return atoms
        path, _, query = safe.partition("?")
        atoms["r"] = f"{environ.get('REQUEST_METHOD')} {safe} {environ.get('SERVER_PROTOCOL')}"
        atoms["U"] = path
        atoms["q"] = query
        for name in ("raw_uri", "path_info", "query_string", "request_uri"):
            atoms.pop(f"{{{name}}}e", None)
        return atoms
