"""Which apps may ask for a token: the client_id and redirect_uri checks of the IndieAuth spec."""

import ipaddress
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
LOOPBACK = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}


def origin(url):
    """Return (scheme, host, port) of a well-formed http(s) URL on a domain name or loopback address, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    host = parts.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not HOST_NAME.fullmatch(host):
            return None
    else:
        if address not in LOOPBACK:
            return None
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def valid_client_id(client_id):
    """Return True for a client_id the IndieAuth spec allows (http(s), no fragment, credentials or dot segments)."""
    if origin(client_id) is None:
        return False
    return not any(segment in (".", "..") for segment in urlsplit(client_id).path.split("/"))


def origin_text(url):
    """Return a URL's origin as text (scheme://host[:port]), as CSP source lists write it."""
    scheme, host, port = origin(url)
    default = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port == default else f":{port}")


def with_query(url, params):
    """Return url with params added to its query string (any it had are kept)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(key, value) for key, value in params.items() if value]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
