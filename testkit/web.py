"""HTTP helpers shared by every client of a site under test: a proxy-free session and the CSRF token of a form."""

import re

import requests

# The hidden field every StarPunk form carries.
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TIMEOUT = 10


def plain_session() -> requests.Session:
    """Return a requests session that ignores proxy settings, so its traffic goes straight to 127.0.0.1."""
    http = requests.Session()
    http.trust_env = False
    return http


def csrf_token(page: str, where: str = "the page") -> str:
    """Return the value of the first csrf_token field in an HTML page; fail naming the page when there is none."""
    match = CSRF_FIELD.search(page)
    assert match, f"no csrf_token field in {where}"
    return match.group(1)
