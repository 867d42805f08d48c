"""Read StarPunk's settings from the environment, in this one place."""

import ipaddress
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

DEFAULTS = {
    "SITE_URL": "http://localhost:8000",
    "SITE_NAME": "StarPunk",
    # One or two sentences about the site: the description of its lists in
    # search results and link previews (empty: "Notes by SITE_AUTHOR.").
    "SITE_DESCRIPTION": "",
    "SITE_AUTHOR": "Anonymous",
    "ADMIN_ME": "",
    "SESSION_SECRET": "",
    "DATA_PATH": "data",
    "ENVIRONMENT": "development",
    "DEV_MODE": False,
    "VERSION": "",
    "FEED_MAX_ITEMS": 50,
    "FEED_CACHE_SECONDS": 300,
    "INDIELOGIN_URL": "https://indielogin.com",
    "TRUSTED_PROXIES": 0,
    "TOKEN_LIFETIME_DAYS": 90,
    "MEDIA_MAX_BYTES": 10 * 1024 * 1024,
    "AUTHOR_PHOTO": "",
    # Networks outbound fetches may reach besides the public Internet (comma-separated
    # CIDRs): loopback, private and other special addresses are refused otherwise.
    "OUTBOUND_ALLOW_NETWORKS": "",
    # Host names whose Webmentions are approved at once, and whose are dropped unread.
    "WEBMENTION_TRUSTED_HOSTS": "",
    "WEBMENTION_BLOCKED_HOSTS": "",
    # Cross-posting targets (JSON list of {"uid": URL, "name": text}), e.g. Bridgy Publish's
    # https://brid.gy/publish/mastodon: Micropub's syndicate-to and the admin form's checkboxes.
    "SYNDICATE_TO": "",
    # Litestream's control socket (the sidecar's `socket: path:`), on the shared
    # volume; empty: replication is not watched and /health says nothing of it.
    "REPLICATION_SOCKET": "",
    # A write not in the bucket yet: /health says "syncing" until Litestream's last
    # successful upload is this old, "behind" after.
    "REPLICATION_MAX_LAG_SECONDS": 10,
}

INT_SETTINGS = {
    "FEED_MAX_ITEMS": 1,
    "FEED_CACHE_SECONDS": 0,
    "TRUSTED_PROXIES": 0,
    "TOKEN_LIFETIME_DAYS": 1,
    "MEDIA_MAX_BYTES": 1024,
    "REPLICATION_MAX_LAG_SECONDS": 1,
}
BOOL_SETTINGS = {"DEV_MODE"}
MIN_SECRET_LENGTH = 32
# Largest request body accepted (bytes): a 100,000-character note of emoji,
# form-encoded, stays under it; anything bigger is a 413.
MAX_CONTENT_LENGTH = 2 * 1024 * 1024
MAX_NOTE_CHARS = 100_000
MAX_PHOTOS = 4  # per note
# Micropub properties a note keeps without rendering them (syndication, location, ...):
# at most this many names, and this many bytes as the stored JSON (UTF-8).
MAX_KEPT_PROPERTIES = 50
MAX_KEPT_BYTES = 100_000
# Levels of arrays and objects in a Micropub JSON body (an h-card in a category is 6).
MAX_JSON_DEPTH = 32


class ConfigError(Exception):
    """A setting is missing, malformed or unsafe; the message is one line."""


def _parse_bool(name, raw):
    value = str(raw).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _parse_int(name, raw, minimum):
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _parse_networks(name, raw):
    if not isinstance(raw, str):  # already parsed (a test_config of networks)
        return tuple(raw)
    networks = []
    for item in raw.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{name} must list networks such as 127.0.0.0/8, not {item!r}") from None
    return tuple(networks)


def host_name(text):
    """Return the host name of "host", "host:port" or a URL's netloc: lower case, no port, no trailing dot."""
    return (urlsplit("//" + text.strip()).hostname or "").rstrip(".")


def parse_hosts(raw):
    """Return the host names of a comma-separated list (or of a list), as host_name gives them."""
    items = raw.split(",") if isinstance(raw, str) else raw
    return frozenset(filter(None, (host_name(item) for item in items)))


def parse_syndicate_to(raw):
    """Return the cross-posting targets of SYNDICATE_TO (a JSON list, or a list) as [{"uid", "name"}]."""
    if not raw:
        return []
    try:
        targets = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ConfigError('SYNDICATE_TO must be a JSON list of {"uid": URL, "name": text}; it is not JSON') from None
    if not isinstance(targets, list):
        raise ConfigError('SYNDICATE_TO must be a JSON list of {"uid": URL, "name": text}')
    cleaned = []
    for target in targets:
        uid = target.get("uid") if isinstance(target, dict) else None
        name = target.get("name") if isinstance(target, dict) else None
        endpoint = target.get("endpoint", "") if isinstance(target, dict) else ""
        if not isinstance(uid, str) or not uid.startswith(("https://", "http://")) or not isinstance(name, str):
            raise ConfigError(f'each SYNDICATE_TO target needs an http(s) "uid" and a "name", not {target!r}')
        if not isinstance(endpoint, str) or (endpoint and not endpoint.startswith(("https://", "http://"))):
            raise ConfigError(f'a SYNDICATE_TO "endpoint" must be an http(s) URL, not {endpoint!r}')
        cleaned.append({"uid": uid, "name": name, **({"endpoint": endpoint} if endpoint else {})})
    return cleaned


def load_config(environ=None, test_config=None):
    """Return the settings: defaults, then the environment, then test_config."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    for name in DEFAULTS:
        if name in environ:
            settings[name] = environ[name]
    if test_config:
        settings.update(test_config)

    for name, minimum in INT_SETTINGS.items():
        settings[name] = _parse_int(name, settings[name], minimum)
    for name in BOOL_SETTINGS:
        settings[name] = _parse_bool(name, settings[name])

    settings["ENVIRONMENT"] = str(settings["ENVIRONMENT"]).strip().lower()
    if settings["ENVIRONMENT"] not in {"development", "production"}:
        raise ConfigError(f"ENVIRONMENT must be development or production, not {settings['ENVIRONMENT']!r}")
    settings["SITE_URL"] = str(settings["SITE_URL"]).rstrip("/")
    if not settings["SITE_URL"].startswith(("http://", "https://")):
        raise ConfigError(f"SITE_URL must start with http:// or https://, not {settings['SITE_URL']!r}")
    settings["SITE_DESCRIPTION"] = (
        " ".join(str(settings["SITE_DESCRIPTION"]).split()) or f"Notes by {settings['SITE_AUTHOR']}."
    )
    settings["INDIELOGIN_URL"] = str(settings["INDIELOGIN_URL"]).rstrip("/")
    settings["DATA_PATH"] = str(Path(settings["DATA_PATH"]).absolute())
    settings["AUTHOR_PHOTO"] = str(settings["AUTHOR_PHOTO"]).strip()
    settings["REPLICATION_SOCKET"] = str(settings["REPLICATION_SOCKET"]).strip()
    if settings["AUTHOR_PHOTO"] and not settings["AUTHOR_PHOTO"].startswith(("https://", "http://", "/")):
        raise ConfigError(
            f"AUTHOR_PHOTO must be an http(s):// URL or a path on this site, not {settings['AUTHOR_PHOTO']!r}"
        )

    networks = settings["OUTBOUND_ALLOW_NETWORKS"]
    settings["OUTBOUND_ALLOW_NETWORKS"] = _parse_networks("OUTBOUND_ALLOW_NETWORKS", networks)
    for name in ("WEBMENTION_TRUSTED_HOSTS", "WEBMENTION_BLOCKED_HOSTS"):
        settings[name] = parse_hosts(settings[name])
    settings["SYNDICATE_TO"] = parse_syndicate_to(settings["SYNDICATE_TO"])

    if settings["ENVIRONMENT"] == "production":
        _check_production(settings)
    elif not settings["SESSION_SECRET"]:
        # Development only: a fixed, obviously insecure secret so the dev
        # server works out of the box. Production refuses to start without one.
        settings["SESSION_SECRET"] = "development-only-insecure-secret-do-not-deploy"

    settings.setdefault("MAX_CONTENT_LENGTH", MAX_CONTENT_LENGTH)
    settings.setdefault("MAX_NOTE_CHARS", MAX_NOTE_CHARS)
    settings.setdefault("MAX_PHOTOS", MAX_PHOTOS)
    settings.setdefault("MAX_KEPT_PROPERTIES", MAX_KEPT_PROPERTIES)
    settings.setdefault("MAX_KEPT_BYTES", MAX_KEPT_BYTES)
    settings.setdefault("MAX_JSON_DEPTH", MAX_JSON_DEPTH)
    # A form carrying photos (the admin form, Micropub) may be this large: every
    # photo at its limit plus the text; every other request keeps the small limit.
    settings.setdefault(
        "UPLOAD_MAX_CONTENT_LENGTH",
        settings["MAX_PHOTOS"] * settings["MEDIA_MAX_BYTES"] + settings["MAX_CONTENT_LENGTH"],
    )
    return settings


def _check_production(settings):
    if settings["DEV_MODE"]:
        raise ConfigError("DEV_MODE=true is refused when ENVIRONMENT=production; unset DEV_MODE")
    if len(settings["SESSION_SECRET"]) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"SESSION_SECRET must be set to at least {MIN_SECRET_LENGTH} characters in production "
            "(generate one with: python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    if not settings["SITE_URL"].startswith("https://"):
        raise ConfigError(f"SITE_URL must be https:// in production, not {settings['SITE_URL']!r}")
    if not settings["ADMIN_ME"]:
        raise ConfigError("ADMIN_ME (the owner's URL, e.g. https://example.com/) must be set in production")
