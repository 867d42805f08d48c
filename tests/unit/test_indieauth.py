"""StarPunk as its own IndieAuth server: discovery, consent, PKCE codes, tokens, introspection and revocation."""

import base64
import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import mf2py
import pytest

from starpunk import authcodes, throttle, tokens
from testkit.micropub_client import REQUEST_ID
from testkit.web import CSRF_FIELD

SITE = "https://notes.example"
CLIENT = "https://app.example/"
REDIRECT = "https://app.example/callback?from=starpunk"
ENDPOINTS = {
    "indieauth-metadata": SITE + "/.well-known/oauth-authorization-server",
    "authorization_endpoint": SITE + "/indieauth/authorize",
    "token_endpoint": SITE + "/indieauth/token",
    "micropub": SITE + "/micropub",
}


def challenge_of(verifier):
    """Return the S256 challenge of a verifier, computed as a client would (RFC 7636)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def site(make_app):
    """Return an app whose SITE_URL is an https site, as in production."""
    return make_app(SITE_URL=SITE)


@pytest.fixture
def owner(site, login_link):
    """Return a client of the https site signed in as the owner."""
    client = site.test_client()
    assert client.get(urlsplit(login_link(site)).path).status_code == 303
    return client


@pytest.fixture
def app_client(site):
    """Return the Micropub app's own HTTP client (no session: it talks to the endpoints directly)."""
    return site.test_client()


class Request:
    """One authorization request of a client: its parameters and its PKCE verifier."""

    def __init__(self, scope="create update", **changes):
        self.verifier = secrets.token_urlsafe(48)
        self.state = secrets.token_urlsafe(12)
        self.params = {
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "state": self.state,
            "code_challenge": challenge_of(self.verifier),
            "code_challenge_method": "S256",
            "scope": scope,
            "me": SITE + "/",
        }
        self.params.update(changes)
        self.params = {key: value for key, value in self.params.items() if value is not None}


def redirect_query(response, base=REDIRECT):
    """Return the query a redirect to the client carries, checking it goes to the client's redirect_uri."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["Location"]
    assert location.startswith(base.split("?")[0] + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def open_consent(owner, request):
    """Open the consent page; return (page response, form fields it carries)."""
    page = owner.get("/indieauth/authorize", query_string=request.params)
    assert page.status_code == 200, page.text
    return page, {
        "csrf_token": CSRF_FIELD.search(page.text).group(1),
        "request_id": REQUEST_ID.search(page.text).group(1),
    }


def approve(owner, request, scopes=None, **extra):
    """Approve on the consent page (all requested scopes unless told) and return the redirect's query."""
    _page, form = open_consent(owner, request)
    chosen = request.params.get("scope", "").split() if scopes is None else scopes
    response = owner.post("/indieauth/consent", data={**form, "scope": chosen, "decision": "approve", **extra})
    return redirect_query(response)


def exchange(app_client, request, code, /, endpoint="/indieauth/token", **changes):
    """Post the code to the token endpoint as the client would; return the response."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "code_verifier": request.verifier,
    }
    form.update(changes)
    return app_client.post(endpoint, data={key: value for key, value in form.items() if value is not None})


def obtain_token(owner, app_client, scope="create update"):
    """Run the whole flow and return the token endpoint's JSON."""
    request = Request(scope=scope)
    response = exchange(app_client, request, approve(owner, request)["code"])
    assert response.status_code == 200, response.text
    return response.json


def assert_oauth_error(response, error, status=400):
    """Check an OAuth JSON error: status, error code, a description, no HTML, not cached."""
    assert response.status_code == status, response.text
    assert response.mimetype == "application/json"
    assert response.json["error"] == error
    assert response.json["error_description"]
    assert "Traceback" not in response.text
    assert response.headers.get("Cache-Control") == "no-store"


def test_metadata_document_follows_the_indieauth_spec(app_client):
    """The well-known document names every endpoint, S256 only, the scopes and the iss parameter."""
    response = app_client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json
    assert meta["issuer"] == SITE + "/"
    assert ENDPOINTS["indieauth-metadata"].startswith(meta["issuer"])
    assert meta["authorization_endpoint"] == ENDPOINTS["authorization_endpoint"]
    assert meta["token_endpoint"] == ENDPOINTS["token_endpoint"]
    assert meta["introspection_endpoint"] == SITE + "/indieauth/introspect"
    assert meta["revocation_endpoint"] == SITE + "/indieauth/revoke"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"create", "update", "delete", "media", "profile"} <= set(meta["scopes_supported"])
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code"]
    assert meta["authorization_response_iss_parameter_supported"] is True


@pytest.mark.parametrize("page", ["home", "permalink", "page two"])
def test_pages_advertise_the_endpoints_in_links_and_headers(site, add_notes, page):
    """A client knowing only the site's URL finds every endpoint, in <link> elements and Link headers."""
    notes = add_notes([f"Note {n}" for n in range(21)])
    path = {"home": "/", "permalink": f"/note/{notes[0]['slug']}", "page two": f"/?before={notes[1]['id']}"}[page]
    response = site.test_client().get(path, headers={"Host": "evil.example"})
    assert response.status_code == 200
    rels = mf2py.parse(doc=response.text, url=SITE + path)["rels"]
    headers = response.headers.get_all("Link")
    for rel, href in ENDPOINTS.items():
        assert rels[rel] == [href]
        assert f'<{href}>; rel="{rel}"' in headers


def test_feeds_carry_no_link_headers(site):
    """Only the pages advertise endpoints; feeds and health stay as they were."""
    client = site.test_client()
    for path in ("/feed.xml", "/feed.json", "/health"):
        assert client.get(path).headers.get("Link") is None


def test_the_whole_flow_gives_a_working_token(site, owner, app_client):
    """Consent, approve, exchange: the token has the scopes, names the site and works until it expires."""
    request = Request(scope="create update media")
    page, _form = open_consent(owner, request)
    assert "app.example" in page.text
    assert REDIRECT.replace("&", "&amp;") in page.text
    for scope in ("create", "update", "media"):
        box = f'<input type="checkbox" id="scope-{scope}" name="scope" value="{scope}" checked>'
        assert f'<label class="checkbox" for="scope-{scope}">{box}' in page.text
    assert "scope-delete" not in page.text
    answer = approve(owner, request)
    assert answer["state"] == request.state
    assert answer["iss"] == SITE + "/"
    assert answer["from"] == "starpunk"  # the redirect_uri's own query is kept
    response = exchange(app_client, request, answer["code"])
    assert response.status_code == 200, response.text
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["me"] == SITE + "/"
    assert set(body["scope"].split()) == {"create", "update", "media"}
    assert body["expires_in"] == 90 * 86400
    assert "profile" not in body
    assert response.headers["Cache-Control"] == "no-store"
    with site.app_context():
        info = tokens.verify_token(body["access_token"])
    assert info.scopes == frozenset({"create", "update", "media"})
    assert info.client_id == CLIENT
    assert info.me == SITE + "/"


def test_the_owner_may_grant_fewer_scopes_than_asked(owner, app_client):
    """Unticking a scope on the consent page leaves it out of the token."""
    request = Request(scope="create update delete")
    answer = approve(owner, request, scopes=["create"])
    assert exchange(app_client, request, answer["code"]).json["scope"] == "create"


def test_scopes_the_site_does_not_offer_are_named_but_not_granted(owner, app_client):
    """An unknown scope is not a checkbox and never reaches the token, even if the form adds it."""
    request = Request(scope="create read")
    page, _form = open_consent(owner, request)
    assert "scope-read" not in page.text
    assert "read, which this site does not offer" in page.text
    answer = approve(owner, request, scopes=["create", "read", "delete"])
    assert exchange(app_client, request, answer["code"]).json["scope"] == "create"


def test_a_visitor_is_sent_to_sign_in_first_and_back(make_app):
    """Not signed in: the authorization request waits behind the usual sign-in, then the consent page shows."""
    dev = make_app(SITE_URL=SITE, DEV_MODE=True)
    visitor = dev.test_client()
    request = Request()
    response = visitor.get("/indieauth/authorize", query_string=request.params)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/auth/login"
    next_url = parse_qs(target.query)["next"][0]
    assert next_url.startswith("/indieauth/authorize?")
    login = visitor.get(f"{target.path}?{target.query}")
    signed_in = visitor.post(
        "/auth/dev-login", data={"csrf_token": CSRF_FIELD.search(login.text).group(1), "next": next_url}
    )
    assert signed_in.status_code == 303
    back = visitor.get(signed_in.headers["Location"])
    assert back.status_code == 200
    assert "Sign in to app.example?" in back.text


def test_deny_sends_access_denied_with_state_and_iss(owner, app_client):
    """Deny redirects with error=access_denied, the state and iss, and no code."""
    request = Request()
    _page, form = open_consent(owner, request)
    response = owner.post("/indieauth/consent", data={**form, "decision": "deny"})
    answer = redirect_query(response)
    assert answer["error"] == "access_denied"
    assert answer["state"] == request.state
    assert answer["iss"] == SITE + "/"
    assert "code" not in answer


def test_consent_without_csrf_token_is_refused(owner):
    """The consent form is CSRF-protected like the admin forms: no token, no redirect."""
    request = Request()
    _page, form = open_consent(owner, request)
    response = owner.post("/indieauth/consent", data={"request_id": form["request_id"], "decision": "approve"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_consent_by_someone_not_signed_in_is_refused(owner, site):
    """Another browser cannot answer the owner's consent page."""
    request = Request()
    _page, form = open_consent(owner, request)
    response = site.test_client().post("/indieauth/consent", data={**form, "decision": "approve"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_a_tampered_state_in_the_form_changes_nothing(owner):
    """The request's parameters live on the server: a state (or redirect) added to the form is ignored."""
    request = Request()
    answer = approve(owner, request, state="forged", redirect_uri="https://evil.example/")
    assert answer["state"] == request.state


@pytest.mark.parametrize("request_id", ["", "made-up"])
def test_an_unknown_consent_request_is_refused(owner, request_id):
    """A consent answer for a request this session never showed is a 400 page, not a redirect."""
    request = Request()
    _page, form = open_consent(owner, request)
    response = owner.post("/indieauth/consent", data={**form, "request_id": request_id, "decision": "approve"})
    assert response.status_code == 400
    assert "Start again from the app" in response.text


def test_a_consent_request_is_answered_once(owner):
    """Approving twice (a double submit, a replay) gives one code."""
    request = Request()
    _page, form = open_consent(owner, request)
    first = owner.post("/indieauth/consent", data={**form, "scope": ["create"], "decision": "approve"})
    assert "code" in redirect_query(first)
    second = owner.post("/indieauth/consent", data={**form, "scope": ["create"], "decision": "approve"})
    assert second.status_code == 400


BAD_REQUESTS = [
    {"response_type": "token"},
    {"response_type": None},
    {"state": None},
    {"code_challenge_method": "plain"},
    {"code_challenge_method": None},
    {"code_challenge": None},
    {"code_challenge": "too-short"},
    {"scope": 'create "quoted"'},
    {"me": "javascript:alert(1)"},
]


@pytest.mark.parametrize("changes", BAD_REQUESTS)
@pytest.mark.parametrize("who", ["owner", "visitor"])
def test_a_bad_request_is_a_page_never_a_redirect_to_the_client(site, owner, who, changes):
    """A request wrong in any one way is a 400 page for the owner and for anyone else, never a trip to the client."""
    browser = owner if who == "owner" else site.test_client()
    response = browser.get("/indieauth/authorize", query_string=Request(**changes).params)
    assert response.status_code == 400, response.headers.get("Location")
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("who", ["owner", "visitor"])
def test_the_reported_open_redirect_is_closed(site, owner, who):
    """client_id and redirect_uri on the same foreign site, response_type=token: no 302 to it (issue 22, finding 7)."""
    browser = owner if who == "owner" else site.test_client()
    params = {
        "client_id": "https://evil.example/",
        "redirect_uri": "https://evil.example/x",
        "response_type": "token",
        "state": "s",
    }
    response = browser.get("/indieauth/authorize", query_string=params)
    assert response.status_code == 400
    assert "evil.example" not in response.headers.get("Location", "")


@pytest.mark.parametrize(
    "client_id",
    [
        None,
        "app.example",
        "ftp://app.example/",
        "https://app.example/#fragment",
        "https://user:pass@app.example/",
        "https://203.0.113.7/",
        "https://app.example/./x",
        "https://app.example/a/../b",
        "https://app.example:99999/",
        "https://app_example.test/",
    ],
)
def test_an_invalid_client_id_is_a_page_never_a_redirect(owner, client_id):
    """Without a valid client_id nobody can be trusted with a redirect: a clear 400 page."""
    response = owner.get("/indieauth/authorize", query_string=Request(client_id=client_id).params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "client_id" in response.text


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "http://app.example/callback",
        "https://app.example:8443/callback",
        "https://app.example.evil.example/callback",
        "https://127.0.0.1/callback",
    ],
)
def test_a_redirect_uri_off_the_clients_site_is_refused(owner, redirect_uri):
    """A redirect_uri on another scheme, host or port than client_id: an error page naming it, no redirect."""
    response = owner.get("/indieauth/authorize", query_string=Request(redirect_uri=redirect_uri).params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert redirect_uri in response.text
    assert "not on its own site" in response.text


@pytest.mark.parametrize("redirect_uri", [None, "not a url", "app://callback"])
def test_a_missing_or_malformed_redirect_uri_is_a_page(owner, redirect_uri):
    """No usable redirect_uri: a 400 page."""
    response = owner.get("/indieauth/authorize", query_string=Request(redirect_uri=redirect_uri).params)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_loopback_clients_are_allowed(owner, app_client):
    """A client on 127.0.0.1 (a desktop app, a script) may sign in, redirected to its own port."""
    client_id, redirect_uri = "http://127.0.0.1:8123/", "http://127.0.0.1:8123/done"
    request = Request(client_id=client_id, redirect_uri=redirect_uri)
    _page, form = open_consent(owner, request)
    response = owner.post("/indieauth/consent", data={**form, "scope": ["create"], "decision": "approve"})
    code = redirect_query(response, base=redirect_uri)["code"]
    token = exchange(app_client, request, code, client_id=client_id, redirect_uri=redirect_uri)
    assert token.status_code == 200


def test_the_consent_page_may_send_its_answer_to_the_client_only(owner, site):
    """CSP form-action on the consent page adds the client's origin (browsers apply it to the redirect).

    Every other page keeps the site's policy.
    """
    page, _form = open_consent(owner, Request())
    policy = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://app.example;" in policy
    assert "script-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "form-action 'self';" in owner.get("/admin").headers["Content-Security-Policy"]


def test_wrong_pkce_verifier_is_refused_and_burns_the_code(owner, app_client):
    """A code with the wrong verifier gives invalid_grant, and the code cannot be tried again."""
    request = Request()
    code = approve(owner, request)["code"]
    assert_oauth_error(exchange(app_client, request, code, code_verifier=secrets.token_urlsafe(48)), "invalid_grant")
    assert_oauth_error(exchange(app_client, request, code), "invalid_grant")


@pytest.mark.parametrize("verifier", ["", "short", "x" * 129, "é" * 50])
def test_malformed_verifiers_are_refused(owner, app_client, verifier):
    """A verifier outside RFC 7636's 43-128 unreserved characters never matches."""
    request = Request()
    code = approve(owner, request)["code"]
    error = "invalid_request" if not verifier else "invalid_grant"
    assert_oauth_error(exchange(app_client, request, code, code_verifier=verifier), error)


def test_a_replayed_code_fails_and_revokes_its_token(site, owner, app_client):
    """A code works once; a replay is invalid_grant and the token it bought stops working."""
    request = Request()
    code = approve(owner, request)["code"]
    first = exchange(app_client, request, code)
    assert first.status_code == 200
    assert_oauth_error(exchange(app_client, request, code), "invalid_grant")
    with site.app_context():
        assert tokens.verify_token(first.json["access_token"]) is None


def test_a_code_expires_after_ten_minutes(owner, app_client, monkeypatch):
    """A code is refused once ten minutes have passed (the clock moved, not slept)."""
    request = Request()
    code = approve(owner, request)["code"]
    later = datetime.now(timezone.utc) + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(authcodes, "now", lambda: later)
    response = exchange(app_client, request, code)
    assert_oauth_error(response, "invalid_grant")
    assert "expired" in response.json["error_description"]


def test_a_code_still_works_nine_minutes_later(owner, app_client, monkeypatch):
    """Within its ten minutes a code works."""
    request = Request()
    code = approve(owner, request)["code"]
    later = datetime.now(timezone.utc) + timedelta(minutes=9)
    monkeypatch.setattr(authcodes, "now", lambda: later)
    assert exchange(app_client, request, code).status_code == 200


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"redirect_uri": "https://app.example/other"}, "redirect_uri"),
        ({"client_id": "https://other-app.example/"}, "client_id"),
        ({"code": "not-a-code-we-issued"}, "unknown"),
    ],
)
def test_a_code_is_bound_to_its_client_and_redirect_uri(owner, app_client, changes, words):
    """Another redirect_uri or client_id at the exchange, or an unknown code: invalid_grant."""
    request = Request()
    code = approve(owner, request)["code"]
    response = exchange(app_client, request, code, **changes)
    assert_oauth_error(response, "invalid_grant")
    assert words in response.json["error_description"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"grant_type": None}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "unsupported_grant_type"),
        ({"code": None}, "invalid_request"),
        ({"client_id": None}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
        ({"code_verifier": None}, "invalid_request"),
        ({"code": "x" * 600}, "invalid_grant"),
    ],
)
def test_incomplete_token_requests_are_refused(owner, app_client, changes, error):
    """Missing or wrong parameters at the token endpoint are OAuth JSON errors, 400."""
    request = Request()
    code = approve(owner, request)["code"]
    assert_oauth_error(exchange(app_client, request, code, **changes), error)


def test_a_code_without_scope_gives_no_token_but_identifies_the_owner(owner, app_client):
    """Authentication only: the token endpoint refuses, the authorization endpoint answers {me}."""
    request = Request(scope=None)
    page, form = open_consent(owner, request)
    assert "it gets no access to your notes" in page.text
    assert "It also asked for" not in page.text  # no scope asked is none refused either
    # The pending request's id: 16 random bytes (128 bits), URL-safe base64 without padding.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", form["request_id"])
    code = approve(owner, request)["code"]
    assert_oauth_error(exchange(app_client, request, code), "invalid_grant")
    request = Request(scope=None)
    code = approve(owner, request)["code"]
    response = exchange(app_client, request, code, endpoint="/indieauth/authorize")
    assert response.status_code == 200
    assert response.json == {"me": SITE + "/"}
    assert_oauth_error(exchange(app_client, request, code, endpoint="/indieauth/authorize"), "invalid_grant")


def test_profile_scope_adds_the_profile(owner, app_client):
    """With the profile scope, both endpoints add the author's name and URL."""
    body = obtain_token(owner, app_client, scope="profile create")
    assert body["profile"] == {"name": "Ada Owner", "url": SITE + "/"}
    request = Request(scope="profile")
    code = approve(owner, request)["code"]
    response = exchange(app_client, request, code, endpoint="/indieauth/authorize", grant_type=None)
    assert response.json == {"me": SITE + "/", "profile": {"name": "Ada Owner", "url": SITE + "/"}}


def test_authorization_endpoint_redemption_checks_the_grant_type(owner, app_client):
    """A POST to the authorization endpoint with another grant_type is refused as JSON."""
    request = Request()
    code = approve(owner, request)["code"]
    response = exchange(app_client, request, code, endpoint="/indieauth/authorize", grant_type="password")
    assert_oauth_error(response, "unsupported_grant_type")


@pytest.mark.parametrize("path", ["/indieauth/token", "/indieauth/introspect", "/indieauth/revoke"])
def test_program_endpoints_answer_json_even_for_a_wrong_method(app_client, path):
    """A GET to an endpoint for programs is a JSON 405, not an HTML page."""
    response = app_client.get(path)
    assert_oauth_error(response, "invalid_request", status=405)


def test_an_unexpected_failure_is_a_json_500_without_traceback(owner, app_client, monkeypatch):
    """A bug in the token endpoint answers server_error as JSON, and logs no code or token."""
    request = Request()
    code = approve(owner, request)["code"]

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("starpunk.indieauth.create_token", broken)
    response = exchange(app_client, request, code)
    assert_oauth_error(response, "server_error", status=500)
    assert "simulated" not in response.text


def test_introspection_needs_an_active_token_of_this_site(owner, app_client):
    """No bearer token, or an unknown one: 401 JSON; a known one may ask about another token."""
    caller = obtain_token(owner, app_client)["access_token"]
    other = obtain_token(owner, app_client, scope="media")["access_token"]
    assert_oauth_error(app_client.post("/indieauth/introspect", data={"token": other}), "unauthorized", 401)
    wrong = {"Authorization": "Bearer not-a-token"}
    refused = app_client.post("/indieauth/introspect", data={"token": other}, headers=wrong)
    assert_oauth_error(refused, "invalid_token", 401)
    both = app_client.post(
        "/indieauth/introspect",
        data={"token": other, "access_token": caller},
        headers={"Authorization": f"Bearer {caller}"},
    )
    assert_oauth_error(both, "invalid_request")
    auth = {"Authorization": f"Bearer {caller}"}
    assert_oauth_error(app_client.post("/indieauth/introspect", headers=auth), "invalid_request")
    response = app_client.post("/indieauth/introspect", data={"token": other}, headers=auth)
    assert response.status_code == 200
    body = response.json
    assert body["active"] is True
    assert body["me"] == SITE + "/"
    assert body["client_id"] == CLIENT
    assert body["scope"] == "media"
    assert body["exp"] - body["iat"] == 90 * 86400
    assert abs(body["iat"] - datetime.now(timezone.utc).timestamp()) < 60
    unknown = app_client.post("/indieauth/introspect", data={"token": "never-issued"}, headers=auth)
    assert unknown.json == {"active": False}


def test_revocation_endpoint_revokes_and_always_answers_200(site, owner, app_client):
    """A revoked token stops working at once; unknown and already-revoked tokens also get 200."""
    plaintext = obtain_token(owner, app_client)["access_token"]
    assert app_client.post("/indieauth/revoke", data={"token": plaintext}).status_code == 200
    with site.app_context():
        assert tokens.verify_token(plaintext) is None
    assert app_client.post("/indieauth/revoke", data={"token": plaintext}).status_code == 200
    unknown = {"token": "never-issued", "token_type_hint": "access_token"}
    assert app_client.post("/indieauth/revoke", data=unknown).status_code == 200
    assert_oauth_error(app_client.post("/indieauth/revoke"), "invalid_request")
    caller = obtain_token(owner, app_client)["access_token"]
    introspected = app_client.post(
        "/indieauth/introspect", data={"token": plaintext}, headers={"Authorization": f"Bearer {caller}"}
    )
    assert introspected.json == {"active": False}


def test_tokens_and_codes_are_stored_only_as_hashes(site, owner, app_client, data_path):
    """Neither the database nor its write-ahead log holds a token or a code in plain text."""
    request = Request()
    code = approve(owner, request)["code"]
    plaintext = exchange(app_client, request, code).json["access_token"]
    files = [path for path in data_path.iterdir() if path.is_file()]
    assert any(path.name == "starpunk.db" for path in files)
    stored = b"".join(path.read_bytes() for path in files)
    assert hashlib.sha256(plaintext.encode()).hexdigest().encode() in stored
    assert plaintext.encode() not in stored
    assert code.encode() not in stored


def test_the_owner_lists_and_revokes_tokens_in_admin(site, owner, app_client):
    """/admin shows each token's client, scopes and dates, and revokes it with a CSRF-protected form."""
    plaintext = obtain_token(owner, app_client, scope="create media")["access_token"]
    page = owner.get("/admin")
    assert "Apps and tokens" in page.text
    assert CLIENT in page.text
    assert "create media" in page.text
    assert "Never" in page.text  # not used yet
    revoke = re.search(r'action="(/admin/tokens/revoke/\d+)"', page.text).group(1)
    refused = owner.post(revoke)
    assert refused.status_code == 400
    with site.app_context():
        assert tokens.verify_token(plaintext) is not None
    done = owner.post(revoke, data={"csrf_token": CSRF_FIELD.search(page.text).group(1)})
    assert done.status_code == 303
    with site.app_context():
        assert tokens.verify_token(plaintext) is None
    listing = owner.get("/admin").text
    assert "Revoked token" in listing
    assert CLIENT not in listing
    again = owner.post(revoke, data={"csrf_token": CSRF_FIELD.search(listing).group(1)})
    assert again.status_code == 404


def test_a_visitor_cannot_revoke_tokens(site, owner, app_client):
    """The revoke form is the owner's: a visitor is sent to sign in and the token keeps working."""
    plaintext = obtain_token(owner, app_client)["access_token"]
    revoke = re.search(r'action="(/admin/tokens/revoke/\d+)"', owner.get("/admin").text).group(1)
    response = site.test_client().post(revoke)
    assert response.status_code == 400
    with site.app_context():
        assert tokens.verify_token(plaintext) is not None


def test_the_app_log_never_holds_a_code_a_verifier_or_a_token(owner, app_client, caplog, monkeypatch):
    """Through a flow, a replay, a failure and a revocation, the log names events but no secret."""
    request = Request()
    code = approve(owner, request)["code"]
    plaintext = exchange(app_client, request, code).json["access_token"]
    exchange(app_client, request, code)
    app_client.post("/indieauth/revoke", data={"token": plaintext})
    second = Request()
    other_code = approve(owner, second)["code"]
    monkeypatch.setattr("starpunk.indieauth.record_token", lambda *args: 1 / 0)
    assert exchange(app_client, second, other_code).status_code == 500
    log = caplog.text
    assert "token 1 issued to https://app.example/" in log
    assert "authorization code replayed: token 1 revoked" in log
    assert "unhandled error on POST /indieauth/token" in log
    for secret in (code, other_code, plaintext, request.verifier, second.verifier):
        assert secret not in log


# --- What a one-line slip would break (issue 22, "tests that would catch the next mistake") ------


@pytest.mark.parametrize("decision", [None, "", "Approve", "yes", "approve "])
def test_a_consent_without_an_approve_decision_is_a_denial(owner, decision):
    """Only decision=approve issues a code: a missing or other decision field sends access_denied."""
    request = Request()
    _page, form = open_consent(owner, request)
    data = {**form, "scope": ["create"]} | ({} if decision is None else {"decision": decision})
    answer = redirect_query(owner.post("/indieauth/consent", data=data))
    assert answer["error"] == "access_denied"
    assert "code" not in answer


def test_pending_consents_keep_the_newest(owner):
    """Past MAX_PENDING unanswered consent pages, the oldest is forgotten and every newer one still answers."""
    from starpunk.indieauth import MAX_PENDING

    opened = [open_consent(owner, Request()) for _ in range(MAX_PENDING + 1)]
    forgotten = owner.post("/indieauth/consent", data={**opened[0][1], "decision": "approve"})
    assert forgotten.status_code == 400
    for _page, form in reversed(opened[1:]):
        assert "code" in redirect_query(owner.post("/indieauth/consent", data={**form, "decision": "approve"}))


def test_introspection_does_not_mark_the_token_asked_about_as_used(site, owner, app_client):
    """Asking whether a token is active records no use of that token (its last use stays the client's own)."""
    caller = obtain_token(owner, app_client)["access_token"]
    other = obtain_token(owner, app_client, scope="media")["access_token"]
    answer = app_client.post(
        "/indieauth/introspect", data={"token": other}, headers={"Authorization": f"Bearer {caller}"}
    )
    assert answer.json["active"] is True
    with site.app_context():
        assert tokens.verify_token(other, touch=False).last_used_at is None
        assert tokens.verify_token(caller, touch=False).last_used_at is not None


def test_a_repeated_scope_is_granted_once(owner, app_client):
    """scope=create create update: one checkbox each, and the token's scope names each once."""
    request = Request(scope="create create update create")
    page, _form = open_consent(owner, request)
    assert page.text.count('id="scope-create"') == 1
    answer = approve(owner, request, scopes=["create", "update", "create"])
    assert exchange(app_client, request, answer["code"]).json["scope"] == "create update"


@pytest.mark.parametrize(
    ("changes", "description", "logged"),
    [
        ({"grant_type": None}, "Missing: grant_type.", f"code exchange for {CLIENT} refused: invalid_request"),
        (
            {"grant_type": "refresh_token"},
            "Only grant_type=authorization_code is supported.",
            f"code exchange for {CLIENT} refused: unsupported_grant_type",
        ),
        (
            {"code": None, "code_verifier": None},
            "Missing: code, code_verifier.",
            f"code exchange for {CLIENT} refused: invalid_request",
        ),
        ({"client_id": None}, "Missing: client_id.", "code exchange for no client_id refused: invalid_request"),
    ],
    ids=["no-grant-type", "other-grant-type", "two-missing", "no-client-id"],
)
def test_a_refused_code_exchange_says_why_and_logs_the_client(owner, app_client, caplog, changes, description, logged):
    """The client reads which field is wrong; the log names the client (or its absence) and the error, not the code."""
    request = Request()
    code = approve(owner, request)["code"]
    response = exchange(app_client, request, code, **changes)
    assert response.json["error_description"] == description
    assert f"failed code attempt from 127.0.0.1: {logged}" in [record.getMessage() for record in caplog.records]


def test_too_many_refused_code_exchanges_are_named_in_the_429(app_client):
    """Past MAX_FAILURES refused exchanges, the client is told what it did and when to come back."""
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "code_verifier": "v" * 43,
    }
    for n in range(throttle.MAX_FAILURES):
        assert app_client.post("/indieauth/token", data={**form, "code": f"made-up-{n}"}).status_code == 400
    response = app_client.post("/indieauth/token", data={**form, "code": "made-up-last"})
    assert response.status_code == 429
    seconds = response.headers["Retry-After"]
    assert response.json["error_description"] == (
        f"Too many refused code exchanges came from your address. Try again in {seconds} seconds."
    )


@pytest.mark.parametrize(
    ("changes", "page", "reason"),
    [
        (
            {"client_id": "not a url"},
            "The app asking to sign in sent no valid client_id (an http or https URL), so it was refused.",
            "no valid client_id",
        ),
        (
            {"redirect_uri": "not a url"},
            "The app asking to sign in sent no valid redirect_uri, so it was refused.",
            "no valid redirect_uri",
        ),
        (
            {"redirect_uri": "https://evil.example/x"},
            f"The app {CLIENT} asked to send you back to https://evil.example/x, which is not on its own site. "
            "For your safety this request was refused.",
            "redirect_uri not on the client's site",
        ),
        *[
            (
                changes,
                f"The app {CLIENT} sent a request this site cannot answer: {description}",
                f"request from {CLIENT}: {error}",
            )
            for changes, error, description in [
                ({"response_type": "token"}, "unsupported_response_type", "Only response_type=code is supported."),
                ({"state": None}, "invalid_request", "The state parameter is required."),
                (
                    {"code_challenge_method": "plain"},
                    "invalid_request",
                    "PKCE is required, with code_challenge_method=S256.",
                ),
                ({"code_challenge": "short"}, "invalid_request", "A code_challenge (PKCE, S256) is required."),
                ({"scope": "create caf\u00e9"}, "invalid_scope", "The scope parameter is malformed."),
                ({"me": "not a url"}, "invalid_request", "The me parameter is not an http or https URL."),
            ]
        ],
    ],
    ids=[
        "client-id",
        "redirect-uri",
        "redirect-elsewhere",
        "response-type",
        "state",
        "method",
        "challenge",
        "scope",
        "me",
    ],
)
def test_a_refused_authorization_request_says_why_and_is_logged(owner, caplog, changes, page, reason):
    """A refused request is a page saying why, word for word, and a failed attempt logged with the reason."""
    response = owner.get("/indieauth/authorize", query_string=Request(**changes).params)
    assert response.status_code == 400
    assert f'content="{page}"' in response.text  # the page's description: the sentence alone
    assert f"failed authorize attempt from 127.0.0.1: authorization request refused: {reason}" in [
        record.getMessage() for record in caplog.records
    ]
