"""Gunicorn's access log, minus secrets: login-link tokens and IndieLogin codes never reach it."""

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# Paths whose last segment or query string is a one-time secret.
SECRET_PATH_PREFIX = "/auth/token/"
SECRET_QUERY_PATHS = ("/auth/callback",)


def redact_uri(uri):
    """Return the request URI with any login token or authorization code replaced."""
    if uri.startswith(SECRET_PATH_PREFIX):
        return SECRET_PATH_PREFIX + REDACTED
    path, sep, _query = uri.partition("?")
    if sep and path in SECRET_QUERY_PATHS:
        return f"{path}?{REDACTED}"
    return uri


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
