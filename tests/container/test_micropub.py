"""Micropub against the image, by a client that knows only the site's URL.

It signs in with PKCE and passes every check; its notes reach every page and
feed of every worker.

The site runs with the image's 4 Gunicorn workers. Each URL is fetched several
times in a row on fresh connections, so the answers come from several workers,
after every worker's caches were warmed: one stale worker shows as a miss.
"""

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from testkit.micropub_checks import CHECKS, failures, run_checks
from testkit.micropub_client import MicropubClient
from testkit.owner import Owner
from testkit.samples import noisy_png
from testkit.site import Lab, Site

# Fresh connections per URL after each change: enough for the kernel to hand them to every worker.
REPEATS = 12
SITE_FEEDS = ("/feed.xml", "/feed.atom", "/feed.json")
PHOTO_BYTES = 20_000


@dataclass
class MicropubSite:
    """A running site, its owner and a Micropub client signed in through the authorization flow."""

    site: Site
    owner: Owner
    client: MicropubClient


@pytest.fixture(scope="module")
def micropub_site(module_lab: Lab) -> MicropubSite:
    """Start one site for this module, sign in the owner with a login link and a Micropub client through consent."""
    site = module_lab.site()
    owner = site.sign_in()
    return MicropubSite(site, owner, MicropubClient.sign_in(owner))


def tag_paths(tag: str) -> tuple[str, ...]:
    """Return a tag's page and its three feeds."""
    return (f"/tag/{tag}", f"/tag/{tag}/feed.xml", f"/tag/{tag}/feed.atom", f"/tag/{tag}/feed.json")


def path_of(url: str) -> str:
    """Return the path of one of the site's URLs (permalinks and photos are canonical: https://blog.example.test/...)."""
    return urlsplit(url).path


def answers(site: Site, path: str) -> list[tuple[int, str]]:
    """Fetch a path REPEATS times, each on a new connection; return every (status, body)."""
    replies = [site.get(path, headers={"Connection": "close"}) for _ in range(REPEATS)]
    return [(reply.status_code, reply.text) for reply in replies]


def assert_everywhere(
    site: Site, paths: tuple[str, ...], present: tuple[str, ...] = (), absent: tuple[str, ...] = ()
) -> None:
    """Check that every answer of every path is 200, holds every present text and none of the absent ones."""
    for path in paths:
        for number, (status, body) in enumerate(answers(site, path)):
            where = f"{path}, answer {number + 1} of {REPEATS}"
            assert status == 200, f"{where}: {status}"
            missing = [text for text in present if text not in body]
            assert not missing, f"{where} lacks {missing}"
            stale = [text for text in absent if text in body]
            assert not stale, f"{where} still has {stale}"


def test_a_client_knowing_only_the_url_passes_every_micropub_check(micropub_site: MicropubSite) -> None:
    """Every Micropub check passes.

    Discovery, the authorization-code flow with PKCE, create, update, delete, query, media and authentication.
    """
    results = run_checks(micropub_site.owner)
    assert failures(results) == []
    # Every check ran: discovery and authorization, the client's checks, and the scope check.
    assert len(results) == len(CHECKS) + 2, [result.name for result in results]


def test_tagged_notes_with_photos_reach_every_page_and_feed_of_every_worker(micropub_site: MicropubSite) -> None:
    """Created, updated, deleted and undeleted through Micropub.

    Pages, tag pages and all six feeds follow at once on every worker.
    """
    site, client = micropub_site.site, micropub_site.client
    marker = uuid.uuid4().hex[:10]
    tag, added_tag = f"mp-{marker}", f"mp-added-{marker}"
    listings = ("/", *SITE_FEEDS, *tag_paths(tag))
    for path in ("/", *SITE_FEEDS):  # warm every worker's caches, so a stale one would show
        answers(site, path)

    uploaded = noisy_png(PHOTO_BYTES, f"multipart-{marker}")
    # Slugs are given, so that the texts looked for (and their absence) never show in a permalink.
    reply = client.create_form(
        content=f"Multipart note {marker}-a",
        mp_slug=f"first-{marker}",
        category=[tag],
        mp_photo_alt="Noise, uploaded with the note",
        files=[("photo", ("noise.png", uploaded, "image/png"))],
    )
    assert reply.status_code == 201, reply.text[:300]
    first = reply.headers["Location"]
    first_photo = client.source(first)["properties"]["photo"][0]
    first_photo_url = first_photo["value"] if isinstance(first_photo, dict) else first_photo
    sent = noisy_png(PHOTO_BYTES, f"media-{marker}")
    second_photo_url = client.upload(sent, "sent.png")
    second = client.create(
        f"JSON note {marker}-b",
        category=[tag],
        photo=[{"value": second_photo_url, "alt": f"Noise {marker}"}],
        **{"mp-slug": [f"second-{marker}"]},
    )

    for photo_url, data in ((first_photo_url, uploaded), (second_photo_url, sent)):
        for _ in range(REPEATS):
            served = client.get(photo_url, headers={"Connection": "close"})
            assert served.status_code == 200 and served.content == data, (
                f"{photo_url}: {served.status_code}, {len(served.content)} bytes"
            )
            assert "immutable" in served.headers["Cache-Control"]
    both = (f"{marker}-a", f"{marker}-b", first_photo_url, second_photo_url)
    assert_everywhere(site, listings, present=both)
    assert_everywhere(
        site, (path_of(first),), present=(f"{marker}-a", first_photo_url, 'alt="Noise, uploaded with the note"')
    )
    assert_everywhere(
        site, (path_of(second),), present=(f"{marker}-b", second_photo_url, f'alt="Noise {marker}"', f"/tag/{tag}")
    )

    assert (
        client.update(
            first, replace={"content": [f"Edited note {marker}-c"]}, add={"category": [added_tag]}
        ).status_code
        == 204
    )
    assert_everywhere(
        site, (*listings, *tag_paths(added_tag)), present=(f"{marker}-c", first_photo_url), absent=(f"{marker}-a",)
    )

    assert client.delete(second).status_code == 204
    gone = [status for status, _ in answers(site, path_of(second))]
    assert gone == [410] * REPEATS, gone
    assert_everywhere(site, listings, present=(f"{marker}-c",), absent=(f"{marker}-b", second_photo_url))

    assert client.undelete(second).status_code == 204
    assert_everywhere(site, listings, present=(f"{marker}-b", second_photo_url, f"{marker}-c"))
    assert_everywhere(site, (path_of(second),), present=(f"{marker}-b", second_photo_url))
