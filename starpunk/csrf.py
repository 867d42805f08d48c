"""CSRF protection for the owner's forms, checked only for the methods it protects.

Flask-WTF does the work (its token, its check). It and WTForms are loaded
on the first form a process renders or checks, not when the app is built:
importing them was 8 ms of every start-up, for pages no reader sees. The
settings it reads are set here, when the app is built, to Flask-WTF's own
defaults except where StarPunk's differ (see _configure in __init__.py).
Its own module, so that Gunicorn, which imports the ``starpunk`` package to
find the worker class, loads none of it for another app served by the same
``gunicorn.conf.py`` (the load test's framework floor).
"""

from flask import Blueprint, current_app, request
from werkzeug.exceptions import BadRequest

# Flask-WTF's defaults (flask_wtf.csrf.CSRFProtect.init_app), which it reads on every check.
DEFAULTS = {
    "WTF_CSRF_ENABLED": True,
    "WTF_CSRF_FIELD_NAME": "csrf_token",
    "WTF_CSRF_HEADERS": ["X-CSRFToken", "X-CSRF-Token"],
    "WTF_CSRF_TIME_LIMIT": 3600,
    "WTF_CSRF_SSL_STRICT": True,
}
METHODS = ("POST", "PUT", "PATCH", "DELETE")


class CSRFRefused(BadRequest):
    """A write whose CSRF token is missing, wrong or expired (Flask-WTF's CSRFError, raised as StarPunk's own)."""


class CSRF:
    """Flask-WTF's CSRFProtect, loaded when a process first checks a write; exemptions are kept until then."""

    def __init__(self):
        self._exempt_views = set()
        self._exempt_blueprints = set()
        self._protect = None

    def init_app(self, app):
        """Set Flask-WTF's settings and the templates' csrf_token(); load nothing of Flask-WTF yet."""
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        app.config["WTF_CSRF_METHODS"] = set(app.config.get("WTF_CSRF_METHODS", METHODS))
        app.extensions["csrf"] = self
        app.jinja_env.globals["csrf_token"] = csrf_token

    def exempt(self, view):
        """Take a view or a blueprint out of the check (as CSRFProtect.exempt does); return it."""
        if isinstance(view, Blueprint):
            self._exempt_blueprints.add(view.name)
        else:
            self._exempt_views.add(f"{view.__module__}.{view.__name__}")
        return view

    def is_exempt(self):
        """Whether the current request's view or blueprint was exempted."""
        if request.blueprint in self._exempt_blueprints:
            return True
        view = current_app.view_functions.get(request.endpoint)
        return view is not None and f"{view.__module__}.{view.__name__}" in self._exempt_views

    def protect(self):
        """Check the current request's token with Flask-WTF; raise CSRFRefused when it fails."""
        from flask_wtf.csrf import CSRFError, CSRFProtect

        if self._protect is None:
            self._protect = CSRFProtect()
        try:
            self._protect.protect()
        except CSRFError as refused:
            raise CSRFRefused(refused.description) from None


csrf = CSRF()


def csrf_token():
    """The session's CSRF token for a form (Flask-WTF's generate_csrf)."""
    from flask_wtf.csrf import generate_csrf

    return generate_csrf()


def check_csrf():
    """Check the CSRF token of a write; reads go through untouched."""
    # Flask-WTF's own hook would look up the view's exemption on every request, reads included;
    # only the methods it protects need it (the same check, the same exemptions).
    config = current_app.config
    if request.method in config["WTF_CSRF_METHODS"] and config["WTF_CSRF_ENABLED"]:
        if request.endpoint and not csrf.is_exempt():
            csrf.protect()
