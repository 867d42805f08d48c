"""CSRF protection for the owner's forms, checked only for the methods it protects.

Its own module, imported when the app is built: Gunicorn imports the
``starpunk`` package to find the worker class, and Flask-WTF (with WTForms)
should load then only for StarPunk, not for another app served by the same
``gunicorn.conf.py`` (the load test's framework floor).
"""

from flask import current_app, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def check_csrf():
    """Check the CSRF token of a write; reads go through untouched."""
    # Flask-WTF's own hook would look up the view's exemption on every request, reads included;
    # only the methods it protects need it (the same check, the same exemptions).
    if request.method in current_app.config["WTF_CSRF_METHODS"] and current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect(apply_exemptions=True)
