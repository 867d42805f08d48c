"""Signing in: IndieLogin over real HTTP, one-time login links, DEV_MODE, logout and rate limits."""

import base64
import hashlib
import json
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug import Response

from testkit.ports import free_port

SITE = "http://localhost"


class IndieLoginStandIn:
    """A local IndieLogin speaking its protocol over HTTP: codes bound to a PKCE challenge."""

    def __init__(self, httpserver):
        self.server = httpserver
        self.url = httpserver.url_for("/").rstrip("/")
        self.me = None  # who IndieLogin vouches for; the app fixture makes it the owner
        self.codes = {}
        httpserver.expect_request("/auth", method="POST").respond_with_handler(self.verify)

    def authorize(self, location):
        """Play the visitor's browser at IndieLogin: return the callback query it redirects to."""
        params = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
        code = secrets.token_urlsafe(16)
        self.codes[code] = params
        return {"code": code, "state": params["state"]}

    def verify(self, request):
        """Answer the app's server-to-server code check, as indielogin.com does."""
        form = request.form
        issued = self.codes.pop(form.get("code"), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            issued is None
            or form.get("client_id") != issued["client_id"]
            or form.get("redirect_uri") != issued["redirect_uri"]
            or challenge != issued["code_challenge"]
        ):
            return json_response({"error": "invalid_grant", "error_description": "bad code"}, 400)
        return json_response({"me": self.me}, 200)

    def exchanges(self):
        """Return how many code checks the app made."""
        return len(self.server.log)


def json_response(document, status):
    """Return a JSON response from the stand-in."""
    return Response(json.dumps(document), status=status, content_type="application/json")


@pytest.fixture
def indielogin(httpserver):
    """Return a running IndieLogin stand-in on 127.0.0.1."""
    return IndieLoginStandIn(httpserver)


@pytest.fixture
def indie_app(make_app, indielogin):
    """Return an app whose INDIELOGIN_URL is the stand-in, which vouches for the owner."""
    app = make_app(INDIELOGIN_URL=indielogin.url)
    indielogin.me = app.config["ADMIN_ME"]
    return app


def start_login(client, next_url=None):
    """Visit /auth/login and return the IndieLogin URL it redirects to."""
    response = client.get("/auth/login", query_string={"next": next_url} if next_url else None)
    assert response.status_code == 302
    return response.headers["Location"]


def is_signed_in(client):
    """Return True when the client can open the admin page."""
    return client.get("/admin").status_code == 200


def test_login_redirects_to_indielogin_with_state_and_pkce(indie_app, indielogin):
    """/auth/login sends the visitor to INDIELOGIN_URL/auth with state, ids and a PKCE challenge."""
    location = start_login(indie_app.test_client())
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == indielogin.url + "/auth"
    params = parse_qs(parts.query)
    assert params["client_id"] == [SITE + "/"]
    assert params["redirect_uri"] == [SITE + "/auth/callback"]
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["state"][0]) >= 20
    assert len(params["code_challenge"][0]) == 43  # base64url of a SHA-256
    assert params["me"] == [indie_app.config["ADMIN_ME"]]


def test_each_login_gets_a_fresh_state(indie_app):
    """State is random per attempt, so one attempt's link cannot finish another."""
    client = indie_app.test_client()
    first = parse_qs(urlsplit(start_login(client)).query)["state"]
    second = parse_qs(urlsplit(start_login(client)).query)["state"]
    assert first != second


def test_owner_signs_in_through_indielogin(indie_app, indielogin):
    """A code that the stand-in confirms for ADMIN_ME signs the owner in and goes to ?next."""
    client = indie_app.test_client()
    callback = indielogin.authorize(start_login(client, next_url="/admin/new"))
    response = client.get("/auth/callback", query_string=callback)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/new"
    assert indielogin.exchanges() == 1
    assert is_signed_in(client)


def test_the_same_callback_cannot_be_replayed(indie_app, indielogin, token):
    """State is single use: a second visit to the same callback URL is refused."""
    client = indie_app.test_client()
    callback = indielogin.authorize(start_login(client))
    assert client.get("/auth/callback", query_string=callback).status_code == 303
    client.post("/auth/logout", data={"csrf_token": token(client)})
    again = client.get("/auth/callback", query_string=callback)
    assert again.status_code == 400
    assert not is_signed_in(client)


def test_wrong_state_is_refused_without_asking_indielogin(indie_app, indielogin):
    """A callback whose state does not match is a 400 page, and no code is exchanged."""
    client = indie_app.test_client()
    callback = indielogin.authorize(start_login(client))
    response = client.get("/auth/callback", query_string={**callback, "state": "forged"})
    assert response.status_code == 400
    assert "state" in response.text
    assert indielogin.exchanges() == 0
    assert not is_signed_in(client)


def test_callback_without_a_started_login_is_refused(indie_app, indielogin):
    """A callback in a browser that never started signing in is a 400."""
    response = indie_app.test_client().get("/auth/callback", query_string={"code": "abc", "state": "abc"})
    assert response.status_code == 400
    assert indielogin.exchanges() == 0


def test_callback_without_a_code_is_refused(indie_app, indielogin):
    """A callback with the right state but no code is a 400."""
    client = indie_app.test_client()
    callback = indielogin.authorize(start_login(client))
    response = client.get("/auth/callback", query_string={"state": callback["state"]})
    assert response.status_code == 400
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "me",
    [
        "https://someone-else.example/",
        "https://owner.example.evil.example/",
        "https://owner.example/other",
        "http://owner.example/",
    ],
)
def test_anyone_but_the_owner_is_forbidden(indie_app, indielogin, me):
    """IndieLogin may vouch for other people; only ADMIN_ME may sign in (403)."""
    indielogin.me = me
    client = indie_app.test_client()
    response = client.get("/auth/callback", query_string=indielogin.authorize(start_login(client)))
    assert response.status_code == 403
    assert "owner" in response.text
    assert not is_signed_in(client)


@pytest.mark.parametrize("me", ["https://OWNER.example", "https://owner.example"])
def test_owner_url_is_compared_normalised(indie_app, indielogin, me):
    """The owner's URL matches regardless of host case or a missing trailing slash."""
    indielogin.me = me
    client = indie_app.test_client()
    assert client.get("/auth/callback", query_string=indielogin.authorize(start_login(client))).status_code == 303
    assert is_signed_in(client)


def test_a_code_indielogin_rejects_is_refused(indie_app, indielogin):
    """When IndieLogin answers with an error, sign-in fails with a 400 page."""
    client = indie_app.test_client()
    callback = indielogin.authorize(start_login(client))
    response = client.get("/auth/callback", query_string={**callback, "code": "not-issued"})
    assert response.status_code == 400
    assert indielogin.exchanges() == 1
    assert "did not confirm" in response.text
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "reply",
    [
        Response("<html>oops</html>", status=200, content_type="text/html"),
        Response("[1, 2]", status=200, content_type="application/json"),
        Response('{"me": ""}', status=200, content_type="application/json"),
        Response("", status=500),
    ],
)
def test_odd_answers_from_indielogin_are_refused(make_app, httpserver, reply):
    """Non-JSON, unexpected JSON or server errors from IndieLogin never sign anyone in."""
    httpserver.expect_request("/auth", method="POST").respond_with_response(reply)
    app = make_app(INDIELOGIN_URL=httpserver.url_for("/").rstrip("/"))
    client = app.test_client()
    state = parse_qs(urlsplit(start_login(client)).query)["state"][0]
    response = client.get("/auth/callback", query_string={"state": state, "code": "x"})
    assert response.status_code == 400
    assert "Traceback" not in response.text
    assert not is_signed_in(client)


def test_unreachable_indielogin_is_a_clear_502_page(make_app):
    """If IndieLogin cannot be reached, the owner sees a plain 502 page, no traceback."""
    app = make_app(INDIELOGIN_URL=f"http://127.0.0.1:{free_port()}")
    client = app.test_client()
    state = parse_qs(urlsplit(start_login(client)).query)["state"][0]
    response = client.get("/auth/callback", query_string={"state": state, "code": "x"})
    assert response.status_code == 502
    assert response.mimetype == "text/html"
    assert "IndieLogin could not be reached" in response.text
    for leak in ("Traceback", "ConnectionError", "Errno", "127.0.0.1"):
        assert leak not in response.text
    assert not is_signed_in(client)


def test_login_link_command_prints_a_url(app, login_link):
    """`flask login-link` prints one URL on SITE_URL."""
    url = login_link()
    assert url.startswith(SITE + "/auth/token/")
    assert len(urlsplit(url).path.rsplit("/", 1)[1]) >= 32


def test_login_link_works_once(app, login_link, database):
    """A login link signs in once; the second use is refused."""
    path = urlsplit(login_link()).path
    first = app.test_client()
    response = first.get(path)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin"
    assert is_signed_in(first)
    second = app.test_client()
    again = second.get(path)
    assert again.status_code == 400
    assert "already used" in again.text
    assert not is_signed_in(second)


def test_login_link_is_not_stored_in_plain_text(login_link, database):
    """The database holds only a hash of the token: a leaked copy cannot sign in."""
    token = urlsplit(login_link()).path.rsplit("/", 1)[1]
    row = database.execute("SELECT token_hash FROM login_tokens").fetchone()
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()


def test_expired_login_link_is_refused(app, login_link, database):
    """A link older than 10 minutes no longer signs in."""
    path = urlsplit(login_link()).path
    row = database.execute("SELECT created_at, expires_at FROM login_tokens").fetchone()
    lifetime = datetime.fromisoformat(row["expires_at"]) - datetime.fromisoformat(row["created_at"])
    assert lifetime == timedelta(minutes=10)
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat(timespec="microseconds")
    database.execute("UPDATE login_tokens SET expires_at = ?", (past,))
    client = app.test_client()
    assert client.get(path).status_code == 400
    assert not is_signed_in(client)


def test_made_up_login_link_is_refused(client):
    """A guessed token is a 400 page."""
    assert client.get("/auth/token/" + "a" * 43).status_code == 400
    assert not is_signed_in(client)


def test_logins_leave_no_secrets_in_the_logs(capsys, make_app, indielogin, login_link):
    """Neither login-link tokens nor IndieLogin codes or state appear in the logs (stderr)."""
    # Made here, not in a fixture: the log handler binds the stderr that is current.
    app = make_app(INDIELOGIN_URL=indielogin.url)
    indielogin.me = app.config["ADMIN_ME"]
    client = app.test_client()
    callback = indielogin.authorize(start_login(client))
    client.get("/auth/callback", query_string=callback)
    token = urlsplit(login_link(app)).path.rsplit("/", 1)[1]
    app.test_client().get(f"/auth/token/{token}")
    app.test_client().get("/auth/token/wrong-guess-token")
    logs = capsys.readouterr().err
    assert logs.count("owner signed in") == 2
    assert "failed sign-in attempt from" in logs
    for secret in (token, callback["code"], callback["state"], "wrong-guess-token"):
        assert secret not in logs


def test_without_admin_me_indielogin_signs_no_one_in(make_app, indielogin):
    """With no owner configured (development), IndieLogin is not told whom to expect, and admits no one."""
    app = make_app(ADMIN_ME="", INDIELOGIN_URL=indielogin.url)
    indielogin.me = "https://anyone.example/"
    client = app.test_client()
    location = start_login(client)
    assert "me" not in parse_qs(urlsplit(location).query)
    assert client.get("/auth/callback", query_string=indielogin.authorize(location)).status_code == 403
    assert not is_signed_in(client)


def test_dev_mode_offers_a_login_without_indielogin(make_app, token):
    """With DEV_MODE on, /auth/login is a page whose button signs the owner in."""
    app = make_app(DEV_MODE=True)
    client = app.test_client()
    page = client.get("/auth/login?next=/admin/new")
    assert page.status_code == 200
    assert "Development mode" in page.text
    response = client.post("/auth/dev-login", data={"csrf_token": token(client, "/auth/login"), "next": "/admin/new"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/new"
    assert is_signed_in(client)


def test_dev_mode_can_still_use_indielogin(make_app):
    """The DEV_MODE page links to the real IndieLogin flow."""
    client = make_app(DEV_MODE=True, INDIELOGIN_URL="https://login.example").test_client()
    location = client.get("/auth/login?indielogin=1").headers["Location"]
    assert location.startswith("https://login.example/auth?")


def test_dev_login_is_404_without_dev_mode(app):
    """Without DEV_MODE there is no way in without IndieLogin or a login link."""
    app.config["WTF_CSRF_ENABLED"] = False  # so only DEV_MODE stands in the way
    client = app.test_client()
    assert client.get("/auth/login").status_code == 302  # straight to IndieLogin
    assert client.post("/auth/dev-login", data={"next": "/admin"}).status_code == 404
    assert not is_signed_in(client)


def test_dev_mode_warns_loudly_at_startup(make_app, capsys):
    """Starting with DEV_MODE logs a warning that anyone can sign in."""
    make_app(DEV_MODE=True)
    assert "DEV_MODE is ON" in capsys.readouterr().err
    make_app()
    assert "DEV_MODE" not in capsys.readouterr().err


def test_logout_ends_the_session_on_the_server(owner, database, token):
    """Signing out deletes the server-side session: the old cookie is worthless afterwards."""
    cookie = owner.get_cookie("starpunk_session").value
    assert database.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
    response = owner.post("/auth/logout", data={"csrf_token": token(owner)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert owner.get_cookie("starpunk_session") is None
    assert database.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    thief = owner.application.test_client()
    thief.set_cookie("starpunk_session", cookie)
    assert not is_signed_in(thief)


def test_logout_needs_the_csrf_token(owner):
    """Another site cannot sign the owner out with a forged form."""
    assert owner.post("/auth/logout").status_code == 400
    assert is_signed_in(owner)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:evil.example",
        "admin",
    ],
)
def test_next_never_leaves_the_site(make_app, token, target):
    """?next= can only point at a path on this site; anything else goes to /admin."""
    app = make_app(DEV_MODE=True)
    client = app.test_client()
    response = client.post("/auth/dev-login", data={"csrf_token": token(client, "/auth/login"), "next": target})
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost")
    assert response.headers["Location"] == "/admin"
    # Already signed in, /auth/login?next= redirects at once: also on site.
    assert client.get("/auth/login", query_string={"next": target}).headers["Location"] == "/admin"


def test_next_keeps_a_path_on_the_site(owner):
    """A signed-in owner sent to /auth/login?next=/admin/new lands there."""
    assert owner.get("/auth/login?next=/admin/new").headers["Location"] == "/admin/new"


def test_repeated_failures_are_slowed_down_with_429(app, login_link):
    """After 10 failed sign-ins, even a good link is refused for a while."""
    client = app.test_client()
    for n in range(10):
        assert client.get(f"/auth/token/guess-{n}").status_code == 400
    good = urlsplit(login_link()).path
    blocked = client.get(good)
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.text
    assert client.get("/auth/callback?state=x&code=y").status_code == 429
    assert not is_signed_in(client)


def test_old_failures_stop_counting(app, login_link, database):
    """Failures older than 15 minutes are forgotten."""
    client = app.test_client()
    for n in range(10):
        client.get(f"/auth/token/guess-{n}")
    old = (datetime.now(timezone.utc) - timedelta(minutes=16)).isoformat(timespec="microseconds")
    database.execute("UPDATE auth_failures SET at = ?", (old,))
    assert client.get(urlsplit(login_link()).path).status_code == 303


def test_spoofed_forwarded_for_does_not_dodge_the_limit(app):
    """Without trusted proxies, X-Forwarded-For is ignored: all guesses count against one client."""
    client = app.test_client()
    for n in range(10):
        client.get(f"/auth/token/guess-{n}", headers={"X-Forwarded-For": f"10.0.0.{n}"})
    assert client.get("/auth/token/next-guess", headers={"X-Forwarded-For": "10.0.1.1"}).status_code == 429


def test_behind_a_trusted_proxy_each_client_is_counted_alone(make_app, login_link):
    """With TRUSTED_PROXIES=1, the proxy's X-Forwarded-For tells clients apart."""
    app = make_app(TRUSTED_PROXIES=1)
    client = app.test_client()
    for n in range(10):
        client.get(f"/auth/token/guess-{n}", headers={"X-Forwarded-For": "203.0.113.9"})
    assert client.get("/auth/token/more", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 429
    good = urlsplit(login_link()).path
    assert client.get(good, headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 303


def test_the_owners_pages_are_private_and_vary_by_cookie(app, owner, client, write_note):
    """/admin, its forms and the owner's view of public pages: Cache-Control private, no-store; Vary: Cookie."""
    slug = write_note("A note the owner sees with its edit links")
    with app.app_context():
        from starpunk import store

        note_id = store.get_note_by_slug(slug)["id"]
    for path in ("/admin", "/admin/new", f"/admin/edit/{note_id}", "/", f"/note/{slug}"):
        response = owner.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "private, no-store", path
        assert "Cookie" in response.vary, path
    reader = client.get("/")
    assert "private" not in reader.headers.get("Cache-Control", "")
    assert "no-store" not in reader.headers.get("Cache-Control", "")
