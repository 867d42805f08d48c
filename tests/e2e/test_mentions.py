"""The owner approves a Webmention in the browser, and a reader sees the reply under the note.

Another site (testkit.otherweb, on 127.0.0.1) answers a note; the site runs in
the host's network namespace with OUTBOUND_ALLOW_NETWORKS=127.0.0.0/8 so its
check can fetch that page. The owner's moderation page and the permalink with
the approved reply are audited with axe-core, and hostile replies (XSS corpus
payloads as content, author name and author URL) run nothing in the browser.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape

import pytest
import requests

from testkit.otherweb import OtherWeb
from testkit.ports import free_port, loopback_url
from testkit.site import ApiSite
from testkit.waiting import wait_for
from tests.corpus import xss_payloads

from .test_axe import axe_source, run_axe, summarise

CHECK_SECONDS = 30.0
HOSTILE = xss_payloads()[:12]
PAYLOAD_SINK = "http://127.0.0.1:9/"


@dataclass
class Conversation:
    """The site, the note others answer, and the rest of the web."""

    site: ApiSite
    web: OtherWeb
    slug: str

    @property
    def target(self) -> str:
        return f"{self.site.base_url}/note/{self.slug}"

    def mention(self, path: str, body: str, author: str, author_url: str) -> None:
        """Serve an h-entry at path on the other site and send its Webmention; wait until the site stored it."""
        page = (
            '<!doctype html><html><body><article class="h-entry">'
            f'<a class="p-author h-card" href="{author_url}">{author}</a>{body}</article></body></html>'
        )
        source = self.web.page(path, page)
        sent = requests.post(
            f"{self.site.base_url}/webmention", data={"source": source, "target": self.target}, timeout=10
        )
        assert sent.status_code == 202, sent.text
        wait_for(
            lambda: self.site.sqlite(f"SELECT status FROM webmentions WHERE source = '{source}'"),
            f"the check of {source} to store its mention",
            timeout=CHECK_SECONDS,
        )


@pytest.fixture(scope="module")
def conversation(module_lab) -> Iterator[Conversation]:
    """A development site on the host's network that may fetch from 127.0.0.1, with one note, and the other site."""
    port = free_port()
    env = {"ENVIRONMENT": "development", "SITE_URL": loopback_url(port), "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8"}
    site = module_lab.site(env=env, port=port, host_network=True)
    slug = site.sign_in().publish("A note the browser sees answered.")
    with OtherWeb() as web:
        yield Conversation(site, web, slug)


def _sign_in(site, page):
    page.goto(site.login_link())
    page.wait_for_url(re.compile(r"/admin$"))


def _assert_clean(name, page):
    row = summarise(run_axe(page, axe_source()))
    assert row["violations"] == [], f"{name}: {row['violations']}"


def test_the_owner_approves_a_reply_and_a_reader_sees_it(conversation, page, new_page, screenshots):
    """Pending in /admin/mentions, hidden from readers; approved with its button, shown under the note."""
    target = conversation.target
    conversation.mention(
        "/reply",
        f'<a class="u-in-reply-to" href="{target}">re</a><p class="e-content">Well <b>said</b>, browser.</p>',
        "Bob Reader",
        "https://bob.example.test/",
    )
    reader = new_page()
    reader.goto(target)
    assert "Well said, browser." not in reader.locator("main").inner_text(), "a pending reply is shown to readers"

    _sign_in(conversation.site, page)
    page.goto(conversation.site.base_url + "/admin/mentions")
    row = page.locator("tr", has_text="Bob Reader")
    assert "pending" in row.inner_text().lower()
    page.screenshot(path=str(screenshots / "mentions-pending.png"), full_page=True)
    _assert_clean("/admin/mentions", page)
    row.get_by_role("button", name=re.compile("^Approve ")).click()
    page.wait_for_url(re.compile(r"/admin/mentions$"))
    assert "approved" in page.locator("tr", has_text="Bob Reader").inner_text().lower()

    reader.goto(target)
    reply = reader.locator(".p-comment.h-cite", has_text="Well said, browser.")
    assert reply.count() == 1
    assert reply.locator("a", has_text="Bob Reader").get_attribute("href") == "https://bob.example.test/"
    reader.screenshot(path=str(screenshots / "note-with-reply.png"), full_page=True)
    _assert_clean("permalink with a reply", reader)


@pytest.mark.parametrize("number", range(len(HOSTILE)))
def test_hostile_replies_run_nothing(conversation, page, number):
    """A reply's content, author name and author URL carry a corpus payload; approved and shown, nothing runs."""
    payload = HOSTILE[number]
    conversation.mention(
        f"/hostile-{number}",
        f'<a class="u-in-reply-to" href="{conversation.target}">re</a>'
        f'<div class="e-content">Hostile reply {number} {payload}</div>',
        escape(f"Mallory {number} {payload}"),
        escape(payload if payload.startswith(("javascript:", "data:")) else "javascript:alert(1)"),
    )
    conversation.site.run("flask", "--app", "starpunk", "mentions", "approve", "--all")
    page.goto(conversation.target)
    page.wait_for_load_state("load")
    page.mouse.move(200, 300)  # hover handlers would fire now
    assert f"Hostile reply {number}" in page.locator("main").inner_text()
    assert page.watch.dialogs == [], f"a payload opened a dialog: {page.watch.dialogs}"
    assert [m for m in page.watch.console_errors if "xss" in m.lower()] == []
    assert [url for url in page.watch.requests if url.startswith(PAYLOAD_SINK)] == []
    assert page.locator("a[href^='javascript:']").count() == 0
