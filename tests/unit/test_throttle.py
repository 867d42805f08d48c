"""Guessing is slowed wherever a secret can be tried: tokens, codes, authorization requests, login links."""

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from starpunk import search, throttle
from starpunk.tokens import create_token

GUESSES = throttle.MAX_FAILURES
WINDOW_S = throttle.FAILURE_WINDOW.total_seconds()
CLIENT_ID = "https://app.example/"
BAD_AUTHORIZE = {"client_id": "not a url", "redirect_uri": "https://app.example/back", "response_type": "code"}


@pytest.fixture
def issue(app):
    """Return a function that makes an access token with every Micropub scope and returns its secret."""

    def make():
        with app.app_context():
            return create_token("create update delete media")[1]

    return make


def _bearer(value):
    return {"Authorization": f"Bearer {value}"}


def _assert_json_429(reply):
    assert reply.status_code == 429
    assert reply.json["error"] == "temporarily_unavailable"
    seconds = int(reply.headers["Retry-After"])
    assert 0 < seconds <= WINDOW_S
    assert f"{seconds} seconds" in reply.json["error_description"]
    assert reply.headers["Cache-Control"] == "no-store"


def test_unknown_tokens_at_micropub_are_refused_after_too_many(client, issue, caplog):
    """Ten unknown bearer tokens: each a 401; then 429 with Retry-After, even for a valid token.

    No guess in the logs.
    """
    guesses = [f"guess-{n}-secret" for n in range(GUESSES)]
    for guess in guesses:
        assert client.get("/micropub?q=config", headers=_bearer(guess)).status_code == 401
    _assert_json_429(client.get("/micropub?q=config", headers=_bearer("one-more-guess")))
    _assert_json_429(client.get("/micropub?q=config", headers=_bearer(issue())))
    logs = caplog.text
    assert logs.count("failed token attempt from 127.0.0.1") == GUESSES
    assert "token attempts from 127.0.0.1 refused for" in logs
    assert not [guess for guess in [*guesses, "one-more-guess"] if guess in logs]


def test_a_request_without_a_token_is_not_a_guess(client):
    """Requests that carry no token at all (a client not yet signed in) are 401 but never throttled."""
    for _ in range(GUESSES + 2):
        assert client.get("/micropub?q=config").status_code == 401


def test_unknown_tokens_at_the_media_endpoint_count_once_each(client, issue):
    """Uploads with unknown tokens count one failure per request (the upload limit and the view both look)."""
    for n in range(GUESSES):
        reply = client.post(
            "/micropub/media",
            headers=_bearer(f"guess-{n}"),
            data={"file": (b"x", "a.png")},
            content_type="multipart/form-data",
        )
        assert reply.status_code == 401, reply.json
    reply = client.post("/micropub/media", headers=_bearer(issue()), data={}, content_type="multipart/form-data")
    _assert_json_429(reply)


def test_a_valid_token_is_never_counted(client, issue):
    """A client using its own token many times is never refused."""
    token = issue()
    for _ in range(GUESSES * 2):
        assert client.get("/micropub?q=config", headers=_bearer(token)).status_code == 200


def test_bad_code_exchanges_are_refused_after_too_many(client):
    """Ten codes the token endpoint refuses: then 429 JSON, also at the authorization endpoint's code redemption."""
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "redirect_uri": CLIENT_ID + "back",
        "code_verifier": "v" * 43,
    }
    for n in range(GUESSES):
        reply = client.post("/indieauth/token", data={**form, "code": f"made-up-{n}"})
        assert reply.status_code == 400 and reply.json["error"] == "invalid_grant"
    _assert_json_429(client.post("/indieauth/token", data={**form, "code": "made-up-last"}))
    _assert_json_429(client.post("/indieauth/authorize", data={**form, "code": "made-up-last"}))


def test_malformed_code_exchanges_count_too(client):
    """Missing grant_type or fields are refused like bad codes, and count the same."""
    for _ in range(GUESSES):
        assert client.post("/indieauth/token", data={}).status_code == 400
    _assert_json_429(client.post("/indieauth/token", data={}))


def test_bad_authorization_requests_get_the_html_429(client):
    """Ten authorization requests with bad parameters: then an HTML 429 page with Retry-After."""
    for _ in range(GUESSES):
        assert client.get("/indieauth/authorize", query_string=BAD_AUTHORIZE).status_code == 400
    blocked = client.get("/indieauth/authorize", query_string=BAD_AUTHORIZE)
    assert blocked.status_code == 429
    assert blocked.mimetype == "text/html"
    assert "Too many refused authorization requests" in blocked.text
    assert 0 < int(blocked.headers["Retry-After"]) <= WINDOW_S


def test_the_html_refusal_is_logged_with_its_kind_client_and_wait(client, caplog):
    """The HTML 429's log line names the kind, the client and the Retry-After it sent, like the JSON one's."""
    for _ in range(GUESSES):
        client.get("/indieauth/authorize", query_string=BAD_AUTHORIZE)
    caplog.clear()
    blocked = client.get("/indieauth/authorize", query_string=BAD_AUTHORIZE)
    assert [record.getMessage() for record in caplog.records] == [
        f"authorize attempts from 127.0.0.1 refused for {blocked.headers['Retry-After']} s: "
        f"{GUESSES} failures within 15 minutes"
    ]


def test_authorization_requests_of_a_known_client_refused_count(client):
    """Requests of a well-formed client refused for another reason (bad response_type) count as failures too."""
    params = {"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID + "back", "response_type": "token", "state": "s"}
    for _ in range(GUESSES):
        assert client.get("/indieauth/authorize", query_string=params).status_code == 400
    assert client.get("/indieauth/authorize", query_string=params).status_code == 429


def test_introspection_probes_count(client, issue):
    """Unknown caller tokens, and questions about inactive tokens, count against the caller."""
    for n in range(GUESSES // 2):
        assert (
            client.post("/indieauth/introspect", headers=_bearer(f"guess-{n}"), data={"token": "x"}).status_code == 401
        )
    caller = _bearer(issue())
    for n in range(GUESSES - GUESSES // 2):
        reply = client.post("/indieauth/introspect", headers=caller, data={"token": f"probe-{n}"})
        assert reply.json == {"active": False}
    _assert_json_429(client.post("/indieauth/introspect", headers=caller, data={"token": "probe-last"}))


def test_kinds_are_counted_apart(client, login_link):
    """An app failing with bad tokens does not lock its owner out of signing in."""
    for n in range(GUESSES):
        client.get("/micropub?q=config", headers=_bearer(f"guess-{n}"))
    assert client.get("/micropub?q=config", headers=_bearer("more")).status_code == 429
    assert client.get(urlsplit(login_link()).path).status_code == 303


def test_retry_after_counts_down_to_when_the_oldest_failure_ages_out(app, client, database):
    """Retry-After is the time until the tenth-newest failure is FAILURE_WINDOW old; then the client may try again."""
    for n in range(GUESSES):
        client.get("/micropub?q=config", headers=_bearer(f"guess-{n}"))
    ten_minutes_ago = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat(timespec="microseconds")
    database.execute("UPDATE auth_failures SET at = ?", (ten_minutes_ago,))
    database.commit()
    seconds = int(client.get("/micropub?q=config", headers=_bearer("x")).headers["Retry-After"])
    assert 290 <= seconds <= 301
    sixteen_minutes_ago = (datetime.now(timezone.utc) - timedelta(minutes=16)).isoformat(timespec="microseconds")
    database.execute("UPDATE auth_failures SET at = ?", (sixteen_minutes_ago,))
    database.commit()
    assert client.get("/micropub?q=config", headers=_bearer("x")).status_code == 401


def test_spoofed_forwarded_for_does_not_dodge_the_token_limit(client):
    """Without TRUSTED_PROXIES, X-Forwarded-For is ignored: every guess counts against the one connecting address."""
    for n in range(GUESSES):
        client.get("/micropub?q=config", headers={**_bearer(f"guess-{n}"), "X-Forwarded-For": f"10.0.0.{n}"})
    reply = client.get("/micropub?q=config", headers={**_bearer("g"), "X-Forwarded-For": "10.9.9.9"})
    assert reply.status_code == 429


def test_guesses_without_a_connecting_address_count_against_a_placeholder(client, caplog):
    """A request with an empty REMOTE_ADDR (a Unix socket) is counted and logged as client "?"."""
    reply = client.get("/micropub?q=config", headers=_bearer("guess"), environ_base={"REMOTE_ADDR": ""})
    assert reply.status_code == 401
    assert [record.getMessage() for record in caplog.records if record.levelname == "WARNING"] == [
        "failed token attempt from ?: unknown access token at /micropub"
    ]


def test_behind_a_trusted_proxy_token_guesses_count_per_forwarded_client(make_app):
    """With TRUSTED_PROXIES=1, one forwarded client's guesses do not refuse another."""
    client = make_app(TRUSTED_PROXIES=1).test_client()
    for n in range(GUESSES):
        client.get("/micropub?q=config", headers={**_bearer(f"guess-{n}"), "X-Forwarded-For": "203.0.113.9"})
    assert (
        client.get("/micropub?q=config", headers={**_bearer("g"), "X-Forwarded-For": "203.0.113.9"}).status_code == 429
    )
    assert (
        client.get("/micropub?q=config", headers={**_bearer("g"), "X-Forwarded-For": "198.51.100.7"}).status_code == 401
    )


def test_an_unknown_kind_is_a_programming_error(app):
    """record_failure refuses a kind it does not know, so a typo cannot make a counter nobody checks."""
    with app.test_request_context("/"), pytest.raises(ValueError):
        throttle.record_failure("tokens", "typo")


def _spend(app, address, per_minute=2):
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        return throttle.spend("search", per_minute)


def test_a_rate_counts_per_client_and_frees_up_after_a_minute(app, monkeypatch):
    """per_minute requests a minute are allowed; the next waits until the oldest is a minute old; others are apart."""
    now = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    assert [_spend(app, "192.0.2.1") for _ in range(2)] == [0, 0]
    now[0] += 20
    assert _spend(app, "192.0.2.1") == 40
    assert _spend(app, "192.0.2.2") == 0
    now[0] += 40
    assert _spend(app, "192.0.2.1") == 0


def test_a_rate_wait_is_rounded_up_to_whole_seconds(app, monkeypatch):
    """59.8 s to wait is 60; half a second is 1 (not 0, not 2); at a full minute the client is free again."""
    now = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    assert _spend(app, "192.0.2.1", per_minute=1) == 0
    now[0] = 1000.2
    assert _spend(app, "192.0.2.1", per_minute=1) == 60
    now[0] = 1059.5
    assert _spend(app, "192.0.2.1", per_minute=1) == 1
    now[0] = 1060.0
    assert _spend(app, "192.0.2.1", per_minute=1) == 0


def test_rates_of_two_kinds_are_counted_apart(app):
    """refused_for_rate counts each kind on its own: one kind spent does not refuse another."""
    with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.1"}):
        assert throttle.refused_for_rate("search", 1, "Too many.") is None
        assert throttle.refused_for_rate("lookup", 1, "Too many.") is None
        assert throttle.refused_for_rate("search", 1, "Too many.") is not None


def test_a_search_over_the_rate_gets_the_429_page_and_one_log_line(client, monkeypatch, caplog):
    """The search after SEARCHES_PER_MINUTE: 429 page titled "Too many requests", the exact wait, one log line."""
    now = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(search, "SEARCHES_PER_MINUTE", 2)
    far = {"REMOTE_ADDR": "203.0.113.5"}
    for _ in range(2):
        assert client.get("/search?q=word", environ_base=far).status_code == 200
    now[0] += 20.5
    caplog.clear()
    refused = client.get("/search?q=word", environ_base=far)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "40" and refused.headers["Cache-Control"] == "no-store"
    assert "<title>Too many requests – Test Notes</title>" in refused.text
    assert "<h1>Too many requests</h1>" in refused.text
    assert "Too many searches came from your address. Try again in 40 seconds." in refused.text
    assert [record.getMessage() for record in caplog.records] == [
        "search requests from 203.0.113.5 refused for 40 s: more than 2 a minute"
    ]


@pytest.mark.parametrize(("clients", "remembered"), [(3, True), (4, False)])
def test_a_worker_remembers_at_most_max_rated_clients(app, monkeypatch, clients, remembered):
    """The oldest client is forgotten once more than MAX_RATED_CLIENTS are counted: memory stays bounded."""
    monkeypatch.setattr(throttle, "MAX_RATED_CLIENTS", 3)
    _spend(app, "192.0.2.100", per_minute=1)
    for number in range(1, clients):
        _spend(app, f"192.0.2.{number}", per_minute=1)
    assert len(app.extensions[throttle.RATES]) <= 3
    assert (_spend(app, "192.0.2.100", per_minute=1) > 0) == remembered


def test_a_request_that_bypassed_the_trusted_proxy_is_warned_of_once(make_app, capsys):
    """With TRUSTED_PROXIES, a request from another host without X-Forwarded-For logs one warning per process."""
    app = make_app(TRUSTED_PROXIES=1)
    client = app.test_client()
    capsys.readouterr()
    far = {"REMOTE_ADDR": "203.0.113.9"}
    client.get("/auth/login", environ_base=far, headers={"X-Forwarded-For": "198.51.100.7"})
    client.get("/health", environ_base=far)
    client.get("/auth/login", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert "not through a proxy" not in capsys.readouterr().err
    client.get("/auth/login", environ_base=far)
    client.get("/micropub", environ_base={"REMOTE_ADDR": "203.0.113.10"})
    warned = [line for line in capsys.readouterr().err.splitlines() if "not through a proxy" in line]
    assert len(warned) == 1
    assert warned[0].endswith(
        " WARNING starpunk: a request from 203.0.113.9 reached the app directly, not through a proxy "
        "(no X-Forwarded-For), though TRUSTED_PROXIES=1: whoever reaches the port directly can choose the address "
        "the rate limits count. Publish the port on 127.0.0.1 only, or firewall it, so only the proxy reaches it"
    )


def test_a_request_without_a_connecting_address_is_no_warning(make_app, capsys):
    """A request with an empty REMOTE_ADDR (Gunicorn on a Unix socket) came from no other host: nothing is logged."""
    client = make_app(TRUSTED_PROXIES=1).test_client()
    capsys.readouterr()
    client.get("/auth/login", environ_base={"REMOTE_ADDR": ""})
    assert "not through a proxy" not in capsys.readouterr().err
    client.get("/auth/login", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert "not through a proxy" in capsys.readouterr().err


def test_without_trusted_proxies_a_direct_request_is_no_warning(make_app, capsys):
    """TRUSTED_PROXIES=0 believes no header, so a direct request is the normal case: nothing is logged."""
    client = make_app().test_client()
    capsys.readouterr()
    client.get("/auth/login", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert "not through a proxy" not in capsys.readouterr().err


def test_retry_after_rounds_up_never_down(app, monkeypatch):
    """799.5 s until the oldest failure ages out is Retry-After: 800 (a client retrying at 799 would be refused)."""
    started = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    class Clock(datetime):
        moment = started

        @classmethod
        def now(cls, tz=None):
            return cls.moment

    monkeypatch.setattr(throttle, "datetime", Clock)
    with app.test_request_context():
        for _ in range(throttle.MAX_FAILURES):
            throttle.record_failure("sign-in", "test")
        Clock.moment = started + throttle.FAILURE_WINDOW - timedelta(seconds=799.5)
        assert throttle.retry_after("sign-in") == 800
        Clock.moment = started + throttle.FAILURE_WINDOW - timedelta(seconds=0.2)
        assert throttle.retry_after("sign-in") == 1
        Clock.moment = started + throttle.FAILURE_WINDOW
        assert throttle.retry_after("sign-in") == 0


@pytest.fixture
def new_york(monkeypatch):
    """Run the test in a local time zone with daylight saving time (America/New_York)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_window_is_counted_in_utc_when_clocks_fall_back(app, monkeypatch, new_york):
    """Failures at the first 01:00 EDT no longer count at 01:05 EST, 65 minutes later, though the wall clock says 5.

    Fifteen minutes before 01:05 EST in wall time is 00:50, which is EDT: a
    window counted so would last 75 minutes.
    """
    failed_at = datetime(2026, 11, 1, 5, 0, tzinfo=timezone.utc)  # 01:00 EDT

    class Clock(datetime):
        moment = failed_at

        @classmethod
        def now(cls, tz=None):
            # As datetime.now itself does (local wall time when tz is None, fold set in the repeated hour).
            return datetime.fromtimestamp(cls.moment.timestamp(), tz)

    monkeypatch.setattr(throttle, "datetime", Clock)
    with app.test_request_context():
        for _ in range(throttle.MAX_FAILURES):
            throttle.record_failure("sign-in", "test")
        Clock.moment = failed_at + timedelta(minutes=10)
        assert throttle.retry_after("sign-in") == 5 * 60
        Clock.moment = failed_at + timedelta(minutes=65)  # 01:05 EST
        assert throttle.retry_after("sign-in") == 0


def test_exactly_max_failures_refuse_and_one_fewer_does_not(app):
    """MAX_FAILURES - 1 failures leave the client free; the MAX_FAILURES-th refuses it."""
    with app.test_request_context():
        for _ in range(throttle.MAX_FAILURES - 1):
            throttle.record_failure("token", "test")
        assert throttle.retry_after("token") == 0
        throttle.record_failure("token", "test")
        assert throttle.retry_after("token") > 0
        assert throttle.retry_after("sign-in") == 0


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes")]
)
def test_the_429_page_says_how_long_to_wait_rounded_up(app, monkeypatch, seconds, text):
    """The refusal page names the wait in whole minutes, rounded up, singular for one."""
    monkeypatch.setattr(throttle, "retry_after", lambda kind: seconds)
    with app.test_request_context():
        page, status, headers = throttle.refused_page("sign-in", "Too many.")
    assert status == 429 and headers["Retry-After"] == str(seconds)
    assert f"Too many. Try again in {text}." in page


def test_log_lines_name_the_kind_the_client_and_the_reason_never_the_value(make_app, capsys):
    """Each failure and each refusal is one line naming kind and client; the refusal says how long and why."""
    app = make_app()  # after capsys: the app's log handler writes to the captured stderr
    far = {"REMOTE_ADDR": "203.0.113.5"}
    with app.test_request_context(environ_base=far):
        for _ in range(throttle.MAX_FAILURES):
            throttle.record_failure("code", "a refused code")
        capsys.readouterr()
        throttle.record_failure("code", "a refused code")
        throttle.refused_json("code", "Too many.")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].endswith("failed code attempt from 203.0.113.5: a refused code")
    assert "code attempts from 203.0.113.5 refused for " in lines[1]
    assert lines[1].endswith(f"s: {throttle.MAX_FAILURES} failures within 15 minutes")
    with app.test_request_context(), pytest.raises(ValueError, match="guessing"):
        throttle.record_failure("guessing", "an unknown kind")
