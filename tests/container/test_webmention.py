"""Receiving Webmentions in the image: another site (served by the test on 127.0.0.1) mentions a note.

The site runs in the host's network namespace (Gunicorn on 127.0.0.1:port)
with OUTBOUND_ALLOW_NETWORKS=127.0.0.0/8, so the container can fetch the
stand-in site testkit.otherweb serves; production refuses such addresses.
Everything is checked as a reader or the other site sees it: the endpoint's
answers, the fetches that reach the other site, and the note's page parsed
with mf2py, asked several times so that every worker answers.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import mf2py
import pytest
import requests

from testkit.env import SITE_URL
from testkit.otherweb import OtherWeb
from testkit.site import Lab, Site
from testkit.waiting import wait_for

# Fresh connections per check: enough for the kernel to hand them to every one of the 4 workers.
REPEATS = 12
CHECK_SECONDS = 30.0
CONSUMER = re.compile(r"queue consumer started in process (\d+)")


@dataclass
class Conversation:
    """A running site, the note other sites answer, and the rest of the web."""

    site: Site
    web: OtherWeb
    slug: str

    @property
    def target(self) -> str:
        return f"{SITE_URL}/note/{self.slug}"

    def send(self, source: str, target: str | None = None) -> requests.Response:
        """POST a Webmention to the site's endpoint exactly as another site would."""
        return self.site.http.post(
            f"{self.site.base_url}/webmention", data={"source": source, "target": target or self.target}, timeout=10
        )

    def entry(self) -> dict[str, Any]:
        """Return the note's h-entry as mf2py reads it, the same from every worker."""
        pages = {self.site.get(f"/note/{self.slug}").text for _ in range(REPEATS)}
        assert len(pages) == 1, "the workers answered the note's page differently"
        items = mf2py.parse(doc=pages.pop(), url=self.target)["items"]
        (entry,) = [item for item in items if item["type"] == ["h-entry"]]
        return entry

    def mentions(self) -> list[list[Any]]:
        """Return (status, type, source, content) of every stored mention."""
        return self.site.sqlite("SELECT status, type, source, content FROM webmentions ORDER BY id")


def h_entry(body: str, author: str = "Bob", url: str = "https://bob.example.test/") -> str:
    return (
        f'<!doctype html><html><body><article class="h-entry">'
        f'<a class="p-author h-card" href="{url}">{author}</a>{body}</article></body></html>'
    )


@pytest.fixture(scope="module")
def conversation(module_lab: Lab) -> Iterator[Conversation]:
    """Start one site on the host's network that may fetch from 127.0.0.1, with one note and the rest of the web."""
    # Four workers (the default is 2): one consumer among many is what is proven.
    site = module_lab.site(env={"OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8", "WORKERS": "4"}, host_network=True)
    slug = site.sign_in().publish("A note the rest of the web answers.")
    with OtherWeb() as web:
        yield Conversation(site, web, slug)


def test_the_endpoint_is_discoverable(conversation: Conversation) -> None:
    """The permalink advertises the endpoint in a Link header and a <link>, absolute from SITE_URL."""
    page = conversation.site.get(f"/note/{conversation.slug}")
    assert f'<{SITE_URL}/webmention>; rel="webmention"' in page.headers["Link"]
    assert mf2py.parse(doc=page.text, url=conversation.target)["rels"]["webmention"] == [f"{SITE_URL}/webmention"]


def test_bad_requests_are_refused_at_once(conversation: Conversation) -> None:
    """A target that is not a note of this site, or a source equal to it, is a 400 with its reason."""
    refused = conversation.send("https://else.example.test/a", f"{SITE_URL}/note/no-such-note")
    assert (refused.status_code, refused.text) == (400, "target is not a page of this site that accepts Webmentions.\n")
    assert conversation.send(conversation.target).status_code == 400


def test_replies_likes_reposts_and_bookmarks_reach_the_page_after_approval(conversation: Conversation) -> None:
    """Each kind is fetched by exactly one consumer, kept pending, then shown to every reader once approved."""
    web, target = conversation.web, conversation.target
    pages = {
        "/reply": h_entry(f'<a class="u-in-reply-to" href="{target}">re</a><p class="e-content">Well <b>said</b>.</p>'),
        "/like": h_entry(f'<a class="u-like-of" href="{target}">liked</a>', "Ann", "https://ann.example.test/"),
        "/repost": h_entry(f'<a class="u-repost-of" href="{target}">shared</a>', "Cy", "https://cy.example.test/"),
        "/bookmark": h_entry(f'<a class="u-bookmark-of" href="{target}">kept</a>', "Di", "https://di.example.test/"),
        "/mention": h_entry(f'<p class="e-content">I read <a href="{target}">this</a>.</p>', "Ed"),
    }
    sources = {web.page(path, body) for path, body in pages.items()}
    for source in sources:
        assert conversation.send(source).status_code == 202
    for path in pages:
        (fetch,) = web.wait_for_request(path, timeout=CHECK_SECONDS)
        assert fetch.headers["User-Agent"].startswith("StarPunk/") and SITE_URL in fetch.headers["User-Agent"]

    def stored() -> list[list[Any]]:
        return [row for row in conversation.mentions() if row[2] in sources]

    rows = wait_for(stored, "five mentions stored", timeout=CHECK_SECONDS, until=lambda found: len(found) == 5)
    assert sorted(row[1] for row in rows) == ["bookmark", "like", "mention", "reply", "repost"]
    assert {row[0] for row in rows} == {"pending"}
    shown = {url for c in conversation.entry()["properties"].get("comment", []) for url in c["properties"]["url"]}
    assert web.url("/reply") not in shown, "a pending reply was shown to readers"

    conversation.site.run("flask", "--app", "starpunk", "mentions", "approve", "--all")
    entry = conversation.entry()
    (comment,) = [c for c in entry["properties"]["comment"] if c["properties"]["url"] == [web.url("/reply")]]
    assert comment["properties"]["content"][0]["html"] == "Well <b>said</b>."
    assert comment["properties"]["author"][0]["properties"]["name"] == ["Bob"]
    for kind, who in (("like", "Ann"), ("repost", "Cy"), ("bookmark", "Di")):
        assert who in authors(entry, kind)


def test_updates_and_deletes_follow_the_source(conversation: Conversation) -> None:
    """A changed source updates the reply; a 410 and a page that stops linking remove their mentions."""
    web, target = conversation.web, conversation.target
    reply = web.page("/reply2", h_entry(f'<a class="u-in-reply-to" href="{target}">re</a><p class="e-content">v1</p>'))
    gone = web.page("/like2", h_entry(f'<a class="u-like-of" href="{target}">liked</a>', "Flo"))
    unlinked = web.page("/repost2", h_entry(f'<a class="u-repost-of" href="{target}">shared</a>', "Gil"))
    sources = (reply, gone, unlinked)
    for source in sources:
        assert conversation.send(source).status_code == 202

    def stored() -> set[str]:
        return {row[2] for row in conversation.mentions()} & set(sources)

    wait_for(stored, "the three mentions stored", timeout=CHECK_SECONDS, until=lambda found: len(found) == 3)
    conversation.site.run("flask", "--app", "starpunk", "mentions", "approve", "--all")
    assert authors(conversation.entry(), "like") >= {"Flo"} and authors(conversation.entry(), "repost") >= {"Gil"}

    web.page("/reply2", h_entry(f'<a class="u-in-reply-to" href="{target}">re</a><p class="e-content">v2</p>'))
    web.page("/like2", "gone", status=410)
    web.page("/repost2", h_entry("<p>I no longer link there.</p>", "Gil"))
    for source in sources:
        assert conversation.send(source).status_code == 202

    def settled() -> bool:
        entry = conversation.entry()
        texts = {c["properties"]["content"][0]["value"] for c in entry["properties"].get("comment", [])}
        gone_authors = authors(entry, "like") | authors(entry, "repost")
        return "v2" in texts and "v1" not in texts and "Flo" not in gone_authors and "Gil" not in gone_authors

    # While the checks land, workers may answer a moment apart: a differing answer is one more look. The three
    # checks land one after another (the consumer pauses between jobs), so the wait covers all three.
    wait_for(settled, "the update and both deletes on every worker's page", CHECK_SECONDS, ignore=(AssertionError,))
    assert "Gil" not in authors(conversation.entry(), "repost")


def authors(entry: dict[str, Any], kind: str) -> set[str]:
    """Return the names of the authors of an h-entry's responses of one kind (like, repost, comment...)."""
    return {item["properties"]["author"][0]["properties"]["name"][0] for item in entry["properties"].get(kind, [])}


def test_one_consumer_for_the_container_and_another_when_it_dies(conversation: Conversation) -> None:
    """Of the 4 workers exactly one consumes the queue; when that worker is killed, another takes over."""
    site, web = conversation.site, conversation.web
    wait_for(lambda: CONSUMER.findall(site.logs()), "a queue consumer to start", timeout=CHECK_SECONDS)
    started = CONSUMER.findall(site.logs())
    assert len(started) == 1, site.logs()
    site.run("python3", "-c", f"import os, signal; os.kill({started[0]}, signal.SIGKILL)")
    again = wait_for(
        lambda: CONSUMER.findall(site.logs()),
        "another worker's consumer",
        timeout=CHECK_SECONDS,
        until=lambda f: len(f) == 2,
    )
    assert again[1] != started[0]
    source = web.page("/after-kill", h_entry(f'<a class="u-like-of" href="{conversation.target}">liked</a>', "Hal"))
    assert conversation.send(source).status_code == 202
    wait_for(
        conversation.mentions,
        "the new consumer's check",
        CHECK_SECONDS,
        until=lambda rows: source in {r[2] for r in rows},
    )


# The flood gate's hold (starpunk/floodgate.py): each worker asks Flask about a refused host at most this often.
HOLD_SECONDS = 1.0
FLOOD_SIZE = 300


def test_a_flood_from_one_host_is_refused_mostly_before_flask(module_lab: Lab) -> None:
    """Past the bound on one host's waiting checks, 429s with Retry-After; Flask decides about once a second a worker.

    Each refusal Flask makes is one log line; the gate's copies of it log nothing.
    The sources are on a private address, which the check refuses without a connection.
    """
    workers = 2
    site = module_lab.site(env={"WORKERS": str(workers)})
    target = f"{SITE_URL}/note/{site.sign_in().publish('A note a flood aims at.')}"
    answers: dict[int, int] = {}
    started = time.monotonic()
    for number in range(FLOOD_SIZE):
        reply = site.http.post(
            f"{site.base_url}/webmention",
            data={"source": f"http://10.0.0.1:9/flood/{number}", "target": target},
            timeout=10,
        )
        answers[reply.status_code] = answers.get(reply.status_code, 0) + 1
        if reply.status_code == 429:
            assert reply.headers["Retry-After"] == "60"
    elapsed = time.monotonic() - started

    def refusals() -> int:
        return site.logs().count("refused: too many checks waiting")

    wait_for(lambda: refusals() > 0, "the endpoint's first refusal in the log", timeout=10)
    assert set(answers) == {202, 429} and answers[202] >= 50
    decided = refusals()
    assert decided <= workers * (elapsed / HOLD_SECONDS + 2), f"Flask refused {decided} times in {elapsed:.1f} s"
    assert answers[429] > decided
    site.stop()
