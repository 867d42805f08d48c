"""The environments under test, in one place.

A production StarPunk's settings (a fresh secret each time), and a proxy-free shell.
"""

import os
import secrets

SITE_URL = "https://blog.example.test"
ADMIN_ME = "https://owner.example.test/"
SITE_NAME = "StarPunk under test"
SITE_AUTHOR = "Test Owner"
# testcontainers on this kind of machine: no Ryuk image to pull, and /.dockerenv makes it guess the
# bridge gateway as the host; all traffic stays on 127.0.0.1. testkit/site.py sets them before it
# imports testcontainers (which reads them then), and the noxfile gives them to every session's tests.
TESTCONTAINERS_ENV = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
    "TC_HOST": "127.0.0.1",
}
# Environment variables that would send a client's traffic for 127.0.0.1 elsewhere.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def site_env(version: str | None = None, *, site_url: str = SITE_URL, **overrides: str) -> dict[str, str]:
    """Return StarPunk's production environment with a fresh 64-character SESSION_SECRET; keyword settings win."""
    env = {
        "ENVIRONMENT": "production",
        "SITE_URL": site_url,
        "SITE_NAME": SITE_NAME,
        "SITE_AUTHOR": SITE_AUTHOR,
        "ADMIN_ME": ADMIN_ME,
        "SESSION_SECRET": secrets.token_hex(32),
    }
    if version is not None:
        env["VERSION"] = version
    env.update(overrides)
    return env


def loopback_env(**extra: str) -> dict[str, str]:
    """Return this process's environment without HTTP proxy settings, so commands it runs talk to 127.0.0.1 directly."""
    env = {key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env
