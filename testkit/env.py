"""The settings a production StarPunk runs with under test: one place, a fresh secret each time."""

import secrets

SITE_URL = "https://blog.example.test"
ADMIN_ME = "https://owner.example.test/"
SITE_NAME = "StarPunk under test"
SITE_AUTHOR = "Test Owner"


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
