"""Micropub conformance checks against a running site, through testkit.micropub_client over real HTTP.

From a test: ``results = run_checks(owner)`` (an Owner signed in on the site),
then ``assert failures(results) == []``. From a shell, against a site reached
at BASE_URL with a login link made by ``flask --app starpunk login-link``:

    python -m testkit.micropub_checks http://127.0.0.1:8000 https://blog.example/auth/token/...

Each check is one requirement of the Micropub specification (create, update,
delete, query, media and authentication) or of StarPunk's issue 10, and
fails with what it saw.
"""

import argparse
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .micropub_client import MicropubClient
from .owner import Owner
from .seed import png


@dataclass(frozen=True)
class Result:
    """One check's name, whether it passed, and what it saw when it did not."""

    name: str
    passed: bool
    detail: str = ""


def _marker() -> str:
    return secrets.token_hex(4)


def check_create_form(client: MicropubClient) -> None:
    """A form-encoded h-entry with categories is 201 + Location; the note is on its page, the index and the feeds."""
    text = f"Form note {_marker()}"
    reply = client.create_form(content=text, category=["micropub", "checks"])
    assert reply.status_code == 201, f"create answered {reply.status_code}: {reply.text[:200]}"
    url = reply.headers["Location"]
    page = client.get(url)
    assert page.status_code == 200 and text in page.text, f"{url} answered {page.status_code}"
    assert 'class="p-category' in page.text and "checks" in page.text, "the categories are not on the page"
    for path in ("/", "/feed.xml", "/feed.atom", "/feed.json"):
        assert text in client.get(client.base_url + path).text, f"the new note is not in {path}"


def check_create_json_html(client: MicropubClient) -> None:
    """JSON with HTML content keeps its markup and loses its scripts."""
    marker = _marker()
    url = client.create_json(
        {"content": [{"html": f"<p><em>Rich {marker}</em><script>alert('{marker}')</script></p>"}]}
    )
    assert url.status_code == 201, url.text[:200]
    page = client.get(url.headers["Location"]).text
    assert f"<em>Rich {marker}</em>" in page, "the HTML content is not on the page"
    assert f"alert('{marker}')" not in page, "a script in HTML content reached the page"


def check_slug_draft_and_published(client: MicropubClient) -> None:
    """mp-slug names the permalink, post-status=draft keeps a note private, published dates it."""
    slug = f"checked-{_marker()}"
    reply = client.create_form(content="Slugged", mp_slug=slug, published="2021-03-04T05:06:07Z")
    assert reply.status_code == 201 and reply.headers["Location"].endswith(f"/note/{slug}"), reply.headers.get(
        "Location"
    )
    assert client.source(reply.headers["Location"])["properties"]["published"][0].startswith("2021-03-04T05:06:07")
    draft = client.create_form(content=f"Draft {_marker()}", post_status="draft")
    assert draft.status_code == 201, draft.text[:200]
    assert client.get(draft.headers["Location"]).status_code == 404, "a draft has a public page"


def check_source_round_trip(client: MicropubClient) -> None:
    """q=source returns every property, nested objects included, or only those asked for."""
    nested = [{"type": ["h-card"], "properties": {"name": ["Someone"], "url": ["https://someone.example/"]}}]
    url = client.create("Round trip", category=["one", *nested], **{"x-unknown": [{"deep": ["value"]}]})
    whole = client.source(url)
    assert whole["type"] == ["h-entry"], whole
    assert whole["properties"]["category"] == ["one", *nested], whole["properties"].get("category")
    assert whole["properties"]["x-unknown"] == [{"deep": ["value"]}]
    assert client.source(url, ["content"]) == {"properties": {"content": ["Round trip"]}}


def check_update(client: MicropubClient) -> None:
    """replace, add and delete (values and whole properties) change the note; other JSON is refused."""
    url = client.create("Before the update", category=["keep", "drop"])
    reply = client.update(
        url, replace={"content": ["After the update"]}, add={"category": ["added"]}, delete={"category": ["drop"]}
    )
    assert reply.status_code in (200, 201, 204), f"update answered {reply.status_code}: {reply.text[:200]}"
    properties = client.source(url)["properties"]
    assert properties["content"] == ["After the update"] and properties["category"] == ["keep", "added"], properties
    assert "After the update" in client.get(url).text
    assert client.update(url, delete=["category"]).status_code in (200, 204)
    assert "category" not in client.source(url)["properties"]
    refused = client.post(json={"action": "update", "url": url, "replace": "content"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request", refused.text[:200]
    elsewhere = client.update("https://elsewhere.example/note/x", replace={"content": ["x"]})
    assert elsewhere.status_code == 400, f"an update of another site's URL answered {elsewhere.status_code}"


def check_delete_undelete(client: MicropubClient) -> None:
    """Delete makes the permalink 410 Gone; undelete brings it back."""
    url = client.create(f"Deleted and back {_marker()}")
    assert client.delete(url, form=True).status_code in (200, 204)
    assert client.get(url).status_code == 410, "a deleted note's permalink is not 410"
    assert client.undelete(url).status_code in (200, 204)
    assert client.get(url).status_code == 200, "an undeleted note's permalink is not back"


def check_queries(client: MicropubClient) -> None:
    """q=config names the media endpoint; q=syndicate-to answers a list; an unknown q is 400."""
    config = client.config()
    assert config["media-endpoint"].endswith("/micropub/media") and config["syndicate-to"] == [], config
    syndicate = client.query("syndicate-to")
    assert syndicate.status_code == 200 and syndicate.json() == {"syndicate-to": []}, syndicate.text[:200]
    assert client.query("nonsense").status_code == 400


def check_responses(client: MicropubClient) -> None:
    """Six post types in q=config; a like needs no text and renders as u-like-of; a reply without text is 400."""
    kinds = {kind["type"] for kind in client.config()["post-types"]}
    assert kinds == {"note", "photo", "reply", "like", "repost", "bookmark"}, kinds
    liked = f"https://elsewhere.example/{_marker()}"
    reply = client.create_json({"like-of": [liked]})
    assert reply.status_code == 201, f"a like without text answered {reply.status_code}: {reply.text[:200]}"
    url = reply.headers["Location"]
    page = client.get(url).text
    assert 'class="u-like-of h-cite"' in page and "Liked" in page and liked in page, "the like is not on its page"
    assert client.source(url)["properties"]["like-of"] == [liked], "q=source does not give the like-of back"
    bare = client.create_form(in_reply_to=liked)
    assert bare.status_code == 400, f"a reply without text answered {bare.status_code}"
    answered = client.create_form(content="Quite so", in_reply_to=liked)
    assert answered.status_code == 201 and "In reply to" in client.get(answered.headers["Location"]).text


def check_media_and_photos(client: MicropubClient) -> None:
    """The media endpoint stores a file; a note can use it, and a multipart create can carry one."""
    photo_url = client.upload(png(2, 2), "../../etc/passwd.png")
    served = client.get(photo_url)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/png", served.status_code
    url = client.create("With an uploaded photo", photo=[{"value": photo_url, "alt": "A tiny square"}])
    assert photo_url in client.get(url).text, "the photo from the media endpoint is not on the page"
    reply = client.create_form(
        content="Multipart photo",
        mp_photo_alt="Another square",
        files=[("photo", ("square.png", png(3, 3), "image/png"))],
    )
    assert reply.status_code == 201, reply.text[:200]
    assert 'alt="Another square"' in client.get(reply.headers["Location"]).text
    refused = client.upload_reply(b"not an image at all", "fake.png")
    assert refused.status_code == 415, f"a file that is not an image answered {refused.status_code}"


def check_authentication(client: MicropubClient) -> None:
    """No token 401; an unknown token 401; the token in both places 400; in the form alone, accepted."""
    assert client.create_form(token="", content="No token").status_code == 401
    assert client.create_form(token="not-a-real-token", content="Bad token").status_code == 401
    both = client.post(data={"h": "entry", "content": "Both", "access_token": client.token})
    assert both.status_code == 400 and both.json()["error"] == "invalid_request", both.text[:200]
    in_form = client.post(token="", data={"h": "entry", "content": "Token in the form", "access_token": client.token})
    assert in_form.status_code == 201, f"a token in the form answered {in_form.status_code}"
    assert client.query("config", token="").status_code == 401


def check_scope(owner: Owner) -> None:
    """A token granted only media cannot create, update or delete: 403 insufficient_scope."""
    weak = MicropubClient.sign_in(owner, scope="media")
    reply = weak.create_form(content="Not allowed")
    assert reply.status_code == 403 and reply.json()["error"] == "insufficient_scope", reply.text[:200]


CHECKS: list[tuple[str, Callable[[MicropubClient], None]]] = [
    ("create: form-encoded with categories", check_create_form),
    ("create: JSON with HTML content", check_create_json_html),
    ("create: mp-slug, draft, published", check_slug_draft_and_published),
    ("query: source round trip", check_source_round_trip),
    ("update: replace, add, delete", check_update),
    ("delete and undelete", check_delete_undelete),
    ("query: config, syndicate-to", check_queries),
    ("responses: reply, like (no text)", check_responses),
    ("media endpoint and photos", check_media_and_photos),
    ("authentication", check_authentication),
]


def _run(name: str, check: Callable[[], None]) -> Result:
    try:
        check()
    except AssertionError as exc:
        return Result(name, False, str(exc) or "assertion failed")
    return Result(name, True)


def run_checks(owner: Owner) -> list[Result]:
    """Sign in a Micropub client as the owner (discovery, consent, PKCE) and run every check; return the results."""
    first = "discovery and authorization (PKCE)"
    try:
        client = MicropubClient.sign_in(owner)
    except AssertionError as exc:
        return [Result(first, False, str(exc))]
    results = [Result(first, True)]
    for name, check in CHECKS:
        results.append(_run(name, lambda: check(client)))  # noqa: B023 (called at once, inside the loop)
    results.append(_run("scope: a media-only token", lambda: check_scope(owner)))
    return results


def failures(results: list[Result]) -> list[str]:
    """Return "name: detail" of every failed check."""
    return [f"{result.name}: {result.detail}" for result in results if not result.passed]


def main(argv: list[str] | None = None) -> int:
    """Run the checks against a site and print one line per check; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="where the site answers, e.g. http://127.0.0.1:8000")
    parser.add_argument("login_link", help="a fresh one-time login link (flask --app starpunk login-link)")
    args = parser.parse_args(argv)
    results = run_checks(Owner(args.base_url, args.login_link))
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.name}{'' if result.passed else ': ' + result.detail}")
    print(f"{sum(result.passed for result in results)} of {len(results)} checks passed")
    return 0 if all(result.passed for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
