"""Error pages: HTML for people, JSON for machines, never a traceback."""

import sqlite3

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from .csrf import CSRFRefused
from .health import forget_write_check
from .web import oauth_error

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    410: "Gone",
    413: "Too large",
    415: "Unsupported media type",
    429: "Too many requests",
    431: "Headers too large",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


# Endpoints for programs (IndieAuth, Micropub) answer errors in OAuth 2.0's JSON form.
OAUTH_PATHS = ("/indieauth/token", "/indieauth/introspect", "/indieauth/revoke", "/micropub")
OAUTH_ERRORS = {401: "unauthorized", 403: "forbidden", 500: "server_error", 503: "temporarily_unavailable"}


def _wants_json():
    return request.path == "/health" or request.path.startswith("/health/") or request.path.endswith(".json")


def _wants_oauth_json():
    path = request.path
    if path == "/indieauth/authorize":  # its POST redeems codes for programs; its GET is a page
        return request.method == "POST"
    return path in OAUTH_PATHS or path.startswith("/micropub/")


def render_error(code, message):
    """Return an error response in the form the client expects."""
    if _wants_oauth_json():
        error = OAUTH_ERRORS.get(code, "invalid_request")
        # Cache-Control alone, as these answers always had (the endpoints' own errors add Pragma).
        return oauth_error(error, message, code, headers={"Cache-Control": "no-store"})
    if _wants_json():
        response = jsonify(status="error", code=code, message=message)
        response.status_code = code
        return response
    title = TITLES.get(code, "Error")
    return render_template("error.html", code=code, title=title, message=message), code


def handle_http_error(exc):
    """Render any HTTP error (404, 405, 413, ...) as a page."""
    if exc.code is None or exc.code < 400:
        return exc
    message = exc.description if exc.description and not exc.description.startswith("The ") else None
    if message is None and exc.code == 413:
        message = _DEFAULT_MESSAGES[413] + " " + _photo_limits()
    return render_error(exc.code, message or _DEFAULT_MESSAGES.get(exc.code, exc.description))


def _photo_limits():
    config = current_app.config
    return f"Photos can be at most {config['MEDIA_MAX_BYTES'] / 1048576:.1f} MB each, {config['MAX_PHOTOS']} a note."


def handle_csrf_error(exc):
    """Refuse a form that lacks a valid CSRF token with a 400 page."""
    return render_error(400, "This form has expired or did not come from this site. Go back, reload and try again.")


STORAGE_MESSAGE = (
    "The site could not read or save its data just now (storage full, read-only or damaged). "
    "Nothing was changed. Please try again later."
)


def storage_error_page():
    """Return (HTML, 503) saying the storage failed and nothing was changed."""
    return render_template(
        "error.html", code=ServiceUnavailable.code, title=TITLES[503], message=STORAGE_MESSAGE
    ), ServiceUnavailable.code


def handle_storage_error(exc):
    """Turn a database failure (full disk, read-only or damaged file) into a clear 503."""
    current_app.logger.error("storage error on %s %s: %s", request.method, request.path, exc)
    forget_write_check()  # /health writes again at its next probe, rather than vouch for the disk
    return render_error(ServiceUnavailable.code, STORAGE_MESSAGE)


def handle_unexpected_error(exc):
    """Log an unexpected exception and show a plain 500 page."""
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(InternalServerError.code, "Something went wrong on our side.")


_DEFAULT_MESSAGES = {
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    413: "That was more than this site accepts in one request.",
}


def init_app(app):
    """Register the error handlers."""
    app.register_error_handler(CSRFRefused, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(sqlite3.Error, handle_storage_error)
    app.register_error_handler(Exception, handle_unexpected_error)
