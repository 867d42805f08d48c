"""Failed attempts at a secret, counted per client and kind, so guessing is slowed wherever it can be tried.

A client is the request's address (the forwarded one only behind
TRUSTED_PROXIES, see create_app). After MAX_FAILURES failures of one kind
within FAILURE_WINDOW, that client's requests of that kind are refused with
429 and Retry-After until the oldest of them ages out; nothing is checked
meanwhile, so a refused guess costs no database write. Log lines name the
client and the kind, never the guessed value. The kinds:

- ``sign-in``: login links and IndieLogin callbacks (starpunk/auth.py);
- ``token``: access tokens presented to Micropub, the media endpoint and
  introspection;
- ``code``: authorization codes redeemed at the token and authorization endpoints;
- ``authorize``: authorization requests with bad parameters.

Costly anonymous reads (``search``) are limited by their number, not their
failures: ``refused_for_rate``, counted in each worker's memory.
"""

import math
import time
from collections import OrderedDict, deque
from datetime import datetime, timedelta, timezone

from flask import current_app, render_template, request

from .db import get_db, isoformat, transaction
from .web import NO_STORE, oauth_error

FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 10
KINDS = ("sign-in", "token", "code", "authorize")


def client():
    """Return the address failures are counted against: the request's, or the trusted proxy's forwarded one."""
    return request.remote_addr or "?"


LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")
UNPROXIED_WARNED = "starpunk_unproxied_warned"


def warn_of_unproxied_requests():
    """Warn once, with TRUSTED_PROXIES set, when a request reaches the app from afar without passing a proxy.

    Every proxy adds X-Forwarded-For; a request from another host without it
    came to the port directly, and whoever can do that can also send a
    rotating X-Forwarded-For of their own, which ProxyFix believes: the rate
    limits then count a new client for each guess. /health is left out (the
    engine's and the orchestrator's probes ask it directly, by design).
    """
    if current_app.extensions.get(UNPROXIED_WARNED) or request.path == "/health":
        return
    # ProxyFix keeps the connecting address aside, and leaves the header in place.
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR") or ""
    if "HTTP_X_FORWARDED_FOR" not in request.environ and peer and peer not in LOOPBACK_ADDRESSES:
        current_app.extensions[UNPROXIED_WARNED] = True
        current_app.logger.warning(
            "a request from %s reached the app directly, not through a proxy (no X-Forwarded-For), though "
            "TRUSTED_PROXIES=%d: whoever reaches the port directly can choose the address the rate limits count. "
            "Publish the port on 127.0.0.1 only, or firewall it, so only the proxy reaches it",
            peer,
            current_app.config["TRUSTED_PROXIES"],
        )


def _since():
    return isoformat(datetime.now(timezone.utc) - FAILURE_WINDOW)


def retry_after(kind):
    """Return the seconds until this client may try kind again: 0 when it is not refused."""
    row = (
        get_db()
        .execute(
            "SELECT at FROM auth_failures WHERE client = ? AND kind = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
            (client(), kind, _since(), MAX_FAILURES - 1),
        )
        .fetchone()
    )
    if row is None:
        return 0
    free_at = datetime.fromisoformat(row["at"]) + FAILURE_WINDOW
    return max(1, math.ceil((free_at - datetime.now(timezone.utc)).total_seconds()))


def record_failure(kind, what):
    """Count one failed attempt of kind against this client and log it (what: a description, never the value tried)."""
    if kind not in KINDS:
        raise ValueError(kind)
    db = get_db()
    with transaction(db):
        db.execute(
            "INSERT INTO auth_failures (client, kind, at) VALUES (?, ?, ?)",
            (client(), kind, isoformat(datetime.now(timezone.utc))),
        )
        db.execute("DELETE FROM auth_failures WHERE at <= ?", (_since(),))
    current_app.logger.warning("failed %s attempt from %s: %s", kind, client(), what)


def log_refusal(kind, seconds):
    """Log that this client is refused kind for seconds (one line, no guessed value)."""
    current_app.logger.warning(
        "%s attempts from %s refused for %d s: %d failures within %d minutes",
        kind,
        client(),
        seconds,
        MAX_FAILURES,
        FAILURE_WINDOW.seconds // 60,
    )


def _wait_text(seconds):
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def refused_page(kind, message):
    """Return the HTML 429 page (with Retry-After) when this client is refused kind, else None."""
    seconds = retry_after(kind)
    if not seconds:
        return None
    log_refusal(kind, seconds)
    page = render_template("auth/failed.html", message=f"{message} Try again in {_wait_text(seconds)}.")
    return page, 429, {"Retry-After": str(seconds), **NO_STORE}


def refused_json(kind, message):
    """Return the OAuth-style JSON 429 when this client is refused kind, else None.

    The 429 carries error temporarily_unavailable and Retry-After.
    """
    seconds = retry_after(kind)
    if not seconds:
        return None
    log_refusal(kind, seconds)
    description = f"{message} Try again in {seconds} seconds."
    return oauth_error("temporarily_unavailable", description, 429, headers={"Retry-After": str(seconds), **NO_STORE})


# Clients whose recent requests this worker remembers for refused_for_rate; the oldest are forgotten first.
MAX_RATED_CLIENTS = 4096
RATE_WINDOW_SECONDS = 60
RATES = "starpunk_rates"


def spend(kind, per_minute):
    """Count one request of kind from this client in this worker; return the seconds to wait (0: allowed).

    Costly anonymous reads (search) are counted in memory, per worker: no
    database write per read. A refused request is not counted.
    """
    now = time.monotonic()
    rates = current_app.extensions.setdefault(RATES, OrderedDict())
    key = (kind, client())
    recent = rates.pop(key, None) or deque()
    while recent and recent[0] <= now - RATE_WINDOW_SECONDS:
        recent.popleft()
    wait = 0
    if len(recent) >= per_minute:
        wait = max(1, math.ceil(recent[0] + RATE_WINDOW_SECONDS - now))
    else:
        recent.append(now)
    rates[key] = recent
    while len(rates) > MAX_RATED_CLIENTS:
        rates.popitem(last=False)
    return wait


def refused_for_rate(kind, per_minute, message):
    """Return the HTML 429 page (with Retry-After) when this client made per_minute requests of kind, else None."""
    seconds = spend(kind, per_minute)
    if not seconds:
        return None
    current_app.logger.warning(
        "%s requests from %s refused for %d s: more than %d a minute", kind, client(), seconds, per_minute
    )
    page = render_template(
        "error.html", code=429, title="Too many requests", message=f"{message} Try again in {seconds} seconds."
    )
    return page, 429, {"Retry-After": str(seconds), **NO_STORE}
