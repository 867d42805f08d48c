"""A Micropub client that knows only a site's address: discovery, IndieAuth with PKCE, and every Micropub request.

    owner = site.sign_in()                       # testkit.owner.Owner, signed in with a login link
    client = MicropubClient.sign_in(owner)       # discovers, consents as the owner, redeems the code
    url = client.create_form(content="Hello", category=["a", "b"]).headers["Location"]
    client.update(url, replace={"content": ["Hello again"]})
    client.delete(url); client.undelete(url)
    client.source(url)["properties"]; client.config()["media-endpoint"]
    photo_url = client.upload(png(2, 2), "photo.png")

Everything goes over real HTTP with requests. A site under test is often
reached at another address (http://127.0.0.1:PORT) than its canonical one
(SITE_URL, e.g. https://blog.example.test), and every URL it hands out is
canonical: the client learns the canonical origin from the IndieAuth
metadata's ``issuer`` and sends whatever is addressed there to the base URL.
Request helpers return the ``requests.Response`` so tests can check refusals;
the flow and the query helpers assert on what a conforming site must answer.
"""

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

import requests

from .owner import Owner
from .web import TIMEOUT, csrf_token, plain_session

CLIENT_ID = "https://micropub-client.example/"
REDIRECT_URI = "https://micropub-client.example/callback"
ALL_SCOPES = "create update delete media"
REQUEST_ID = re.compile(r'name="request_id" value="([^"]+)"')
OFFERED_SCOPE = re.compile(r'name="scope" value="([^"]+)"')


class _LinkElements(HTMLParser):
    """Collect rel -> href of the <link> elements of a page (a rel may name several relations)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rels: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "link" and found.get("href"):
            for rel in (found.get("rel") or "").split():
                self.rels.setdefault(rel, found["href"] or "")


@dataclass(frozen=True)
class Endpoints:
    """What a client discovers from a site: its canonical origin and every endpoint (canonical URLs)."""

    site: str
    authorization: str
    token: str
    micropub: str
    issuer: str


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def discover(base_url: str, http: requests.Session | None = None) -> Endpoints:
    """Find the IndieAuth and Micropub endpoints from the home page's Link headers (else its <link> elements)."""
    http = http or plain_session()
    home = http.get(base_url.rstrip("/") + "/", timeout=TIMEOUT)
    assert home.status_code == 200, f"the home page answered {home.status_code}"
    elements = _LinkElements()
    elements.feed(home.text)
    rels = {rel: urljoin(home.url, link["url"]) for rel, link in home.links.items()}
    for rel, href in elements.rels.items():
        rels.setdefault(rel, urljoin(home.url, href))
    missing = [rel for rel in ("indieauth-metadata", "micropub") if rel not in rels]
    assert not missing, f"the home page advertises no {', '.join(missing)} (Link headers: {home.headers.get('Link')})"
    issuer_origin = _origin(rels["indieauth-metadata"])
    metadata = http.get(_reach(rels["indieauth-metadata"], issuer_origin, base_url), timeout=TIMEOUT)
    assert metadata.status_code == 200, f"the IndieAuth metadata answered {metadata.status_code}"
    described: dict[str, Any] = metadata.json()
    for name in ("issuer", "authorization_endpoint", "token_endpoint"):
        assert isinstance(described.get(name), str), f"the IndieAuth metadata has no {name}: {described}"
    assert "S256" in described.get("code_challenge_methods_supported", []), "the server does not offer PKCE S256"
    return Endpoints(
        site=_origin(described["issuer"]),
        authorization=described["authorization_endpoint"],
        token=described["token_endpoint"],
        micropub=rels["micropub"],
        issuer=described["issuer"],
    )


def _reach(url: str, canonical_origin: str, base_url: str) -> str:
    """Return where to send a request for url: the base URL when url is on the site's canonical origin."""
    if _origin(url) != canonical_origin:
        return url
    base, parts = urlsplit(base_url), urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


def pkce_pair() -> tuple[str, str]:
    """Return a fresh PKCE (verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Grant:
    """What the token endpoint answered: the access token, its scopes and who it speaks for."""

    access_token: str
    scope: str
    me: str


def authorize(
    owner: Owner,
    endpoints: Endpoints,
    scope: str = ALL_SCOPES,
    client_id: str = CLIENT_ID,
    redirect_uri: str = REDIRECT_URI,
    http: requests.Session | None = None,
) -> Grant:
    """Run the authorization-code flow with PKCE.

    The owner approves on the consent page, then the client redeems the code.
    """
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": scope,
        "me": endpoints.issuer,
    }
    reach = owner.base_url
    page = owner.http.get(
        _reach(endpoints.authorization, endpoints.site, reach), params=params, allow_redirects=False, timeout=TIMEOUT
    )
    assert page.status_code == 200, f"the authorization endpoint answered {page.status_code}: {page.text[:300]}"
    request_id = REQUEST_ID.search(page.text)
    assert request_id, "the consent page has no request_id"
    offered = OFFERED_SCOPE.findall(page.text)
    form = {
        "csrf_token": csrf_token(page.text, "the consent page"),
        "request_id": request_id.group(1),
        "decision": "approve",
        "scope": offered,
    }
    consent = owner.http.post(owner.url("/indieauth/consent"), data=form, allow_redirects=False, timeout=TIMEOUT)
    assert consent.status_code in (302, 303), f"approving answered {consent.status_code}: {consent.text[:300]}"
    back = urlsplit(consent.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == redirect_uri, consent.headers["Location"]
    answer = {name: values[0] for name, values in parse_qs(back.query).items()}
    assert answer.get("state") == state, f"state came back as {answer.get('state')!r}"
    assert answer.get("iss") == endpoints.issuer, f"iss came back as {answer.get('iss')!r}"
    assert "code" in answer, f"no code in the redirect: {answer}"
    redeemed = (http or plain_session()).post(
        _reach(endpoints.token, endpoints.site, reach),
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        timeout=TIMEOUT,
    )
    assert redeemed.status_code == 200, f"the token endpoint answered {redeemed.status_code}: {redeemed.text[:300]}"
    body: dict[str, Any] = redeemed.json()
    assert body.get("token_type", "").lower() == "bearer" and body.get("access_token"), body
    return Grant(body["access_token"], body.get("scope", ""), body["me"])


class MicropubClient:
    """A Micropub client holding one access token; every canonical URL of the site is reached at base_url."""

    def __init__(self, base_url: str, endpoints: Endpoints, token: str, http: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.endpoints = endpoints
        self.token = token
        self.http = http or plain_session()

    @classmethod
    def sign_in(
        cls,
        owner: Owner,
        scope: str = ALL_SCOPES,
        client_id: str = CLIENT_ID,
        redirect_uri: str = REDIRECT_URI,
        http: requests.Session | None = None,
    ) -> "MicropubClient":
        """Discover the owner's endpoints and obtain a token with these scopes through the owner's consent."""
        http = http or plain_session()
        endpoints = discover(owner.base_url, http)
        grant = authorize(owner, endpoints, scope, client_id, redirect_uri, http)
        return cls(owner.base_url, endpoints, grant.access_token, http)

    def reach(self, url: str) -> str:
        """Return where to send a request for a URL the site handed out."""
        return _reach(url, self.endpoints.site, self.base_url)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET one of the site's URLs (a permalink, a photo) without the token, as a reader would."""
        return self.http.get(self.reach(url), allow_redirects=False, timeout=TIMEOUT, **kwargs)

    def _auth(self, token: str | None) -> dict[str, str]:
        token = self.token if token is None else token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def post(
        self, token: str | None = None, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        """POST anything to the Micropub endpoint (token None: this client's; "": none), for checks of refusals."""
        return self.http.post(
            self.reach(self.endpoints.micropub),
            headers={**self._auth(token), **(headers or {})},
            allow_redirects=False,
            timeout=TIMEOUT,
            **kwargs,
        )

    def create_form(
        self,
        token: str | None = None,
        files: Iterable[tuple[str, tuple[str, bytes, str]]] = (),
        **fields: str | list[str],
    ) -> requests.Response:
        """Create an h-entry from form fields (a list value is sent as name[] repeated); with files, as multipart."""
        data: list[tuple[str, str]] = [("h", "entry")]
        for name, value in fields.items():
            name = name.replace("_", "-")
            data += [(f"{name}[]", item) for item in value] if isinstance(value, list) else [(name, value)]
        return self.post(token, data=data, files=list(files) or None)

    def create_json(self, properties: Mapping[str, list[Any]], token: str | None = None) -> requests.Response:
        """Create an h-entry from JSON properties ({"content": [...], ...})."""
        return self.post(token, json={"type": ["h-entry"], "properties": dict(properties)})

    def create(self, content: str, **properties: list[Any]) -> str:
        """Create a note from JSON properties and return its permalink (canonical); fail unless 201."""
        reply = self.create_json({"content": [content], **properties})
        assert reply.status_code == 201, f"create answered {reply.status_code}: {reply.text[:300]}"
        return reply.headers["Location"]

    def update(
        self,
        url: str,
        replace: Mapping[str, list[Any]] | None = None,
        add: Mapping[str, list[Any]] | None = None,
        delete: list[str] | Mapping[str, list[Any]] | None = None,
        token: str | None = None,
    ) -> requests.Response:
        """Send a JSON update of the note at url."""
        body: dict[str, Any] = {"action": "update", "url": url}
        for name, value in (("replace", replace), ("add", add), ("delete", delete)):
            if value is not None:
                body[name] = value
        return self.post(token, json=body)

    def delete(self, url: str, form: bool = False, token: str | None = None) -> requests.Response:
        """Delete the note at url (as JSON, or form-encoded)."""
        body = {"action": "delete", "url": url}
        return self.post(token, data=body) if form else self.post(token, json=body)

    def undelete(self, url: str, form: bool = False, token: str | None = None) -> requests.Response:
        """Undelete the note at url (as JSON, or form-encoded)."""
        body = {"action": "undelete", "url": url}
        return self.post(token, data=body) if form else self.post(token, json=body)

    def query(self, q: str, token: str | None = None, **params: str | list[str]) -> requests.Response:
        """GET the Micropub endpoint with q and other parameters (a list value is sent as name[] repeated)."""
        args: list[tuple[str, str]] = [("q", q)]
        for name, value in params.items():
            args += [(f"{name}[]", item) for item in value] if isinstance(value, list) else [(name, value)]
        return self.http.get(
            self.reach(self.endpoints.micropub),
            params=args,
            headers=self._auth(token),
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    def _json(self, reply: requests.Response) -> dict[str, Any]:
        assert reply.status_code == 200, (
            f"{reply.request.method} {reply.url} answered {reply.status_code}: {reply.text[:300]}"
        )
        body: dict[str, Any] = reply.json()
        return body

    def config(self) -> dict[str, Any]:
        """Return q=config."""
        return self._json(self.query("config"))

    def source(self, url: str, properties: list[str] | None = None) -> dict[str, Any]:
        """Return q=source for the note at url (only the properties named, if given)."""
        if properties:
            return self._json(self.query("source", url=url, properties=properties))
        return self._json(self.query("source", url=url))

    def media_endpoint(self) -> str:
        """Return the media endpoint q=config names."""
        endpoint = self.config().get("media-endpoint")
        assert isinstance(endpoint, str), "q=config names no media-endpoint"
        return endpoint

    def upload_reply(
        self, data: bytes, filename: str = "photo.png", content_type: str = "image/png", token: str | None = None
    ) -> requests.Response:
        """POST one file to the media endpoint and return the reply."""
        return self.http.post(
            self.reach(self.media_endpoint()),
            headers=self._auth(token),
            files={"file": (filename, data, content_type)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    def upload(self, data: bytes, filename: str = "photo.png", content_type: str = "image/png") -> str:
        """Upload one file to the media endpoint and return its URL; fail unless 201 with a Location."""
        reply = self.upload_reply(data, filename, content_type)
        assert reply.status_code == 201, f"the media endpoint answered {reply.status_code}: {reply.text[:300]}"
        return reply.headers["Location"]
