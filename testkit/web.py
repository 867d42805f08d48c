"""HTTP helpers shared by every client of a site under test.

Proxy-free sessions (plain, or HTTPS to a proxy) and a form's CSRF token.
"""

import re
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .ports import LOOPBACK

# The hidden field every StarPunk form carries.
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TIMEOUT = 10


def plain_session() -> requests.Session:
    """Return a requests session that ignores proxy settings, so its traffic goes straight to 127.0.0.1."""
    http = requests.Session()
    http.trust_env = False
    return http


class _NamedHostAdapter(HTTPAdapter):
    """Connect to 127.0.0.1 but speak TLS (SNI and the certificate's name) as hostname."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(server_hostname=self._hostname, assert_hostname=self._hostname)
        super().init_poolmanager(*args, **kwargs)


def https_session(host: str, port: int, ca_file: str) -> requests.Session:
    """Return a session for https://127.0.0.1:port that trusts only ca_file.

    It presents itself as host:port (SNI, Host).
    """
    http = plain_session()
    http.mount(f"https://{LOOPBACK}:{port}", _NamedHostAdapter(host))
    http.headers["Host"] = f"{host}:{port}"
    http.verify = ca_file
    return http


def csrf_token(page: str, where: str = "the page") -> str:
    """Return the value of the first csrf_token field in an HTML page; fail naming the page when there is none."""
    match = CSRF_FIELD.search(page)
    assert match, f"no csrf_token field in {where}"
    return match.group(1)
