"""The owner posts a reply, a like and a bookmark from the admin form; a reader sees each with its line, axe clean.

The pages answered are served by testkit.otherweb on 127.0.0.1; the site runs
in the host's network namespace with OUTBOUND_ALLOW_NETWORKS=127.0.0.0/8, so
sending each note's Webmention fetches the page and its title replaces the
URL in the line ("In reply to <title>"). Screenshots go to build/reports/e2e/.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from testkit.otherweb import OtherWeb
from testkit.ports import free_port, loopback_url
from testkit.site import ApiSite
from testkit.waiting import wait_for

from .test_axe import SCHEMES, WIDTHS, axe_source, run_axe, summarise

SEND_SECONDS = 30.0


@dataclass
class Answering:
    """The site and the rest of the web, whose pages the owner answers."""

    site: ApiSite
    web: OtherWeb


@pytest.fixture(scope="module")
def answering(module_lab) -> Iterator[Answering]:
    """A development site on the host's network that may reach 127.0.0.1, and the rest of the web."""
    port = free_port()
    env = {"ENVIRONMENT": "development", "SITE_URL": loopback_url(port), "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8"}
    site = module_lab.site(env=env, port=port, host_network=True)
    with OtherWeb() as web:
        yield Answering(site, web)


def _respond(page, kind, url, content=""):
    """Write and publish a response from the admin form ("A reply to", "A like of", ...)."""
    page.click("text=Write a new note")
    page.select_option("#response", label=kind)
    page.fill("#response_url", url)
    page.fill("#content", content)
    page.set_checked("#published", True)
    page.click("button[type=submit]:has-text('Create note')")
    page.wait_for_url(re.compile(r"/admin$"))


@pytest.fixture(scope="module")
def liked(answering) -> str:
    """Publish one like (no text) of a page with a title, through the owner's form; return its path once titled."""
    url = answering.web.page("/liked-for-axe", "<title>A page liked for the audit</title>")
    owner = answering.site.sign_in()
    before = set(owner.notes())
    form = {"csrf_token": owner.csrf_token(), "response": "like-of", "response_url": url, "published": "y"}
    reply = owner.http.post(owner.url("/admin/new"), data=form, allow_redirects=False, timeout=10)
    assert reply.status_code == 303, reply.text[:300]
    (slug,) = set(owner.notes()) - before
    wait_for(
        lambda: answering.site.get(f"/note/{slug}").text,
        "the liked page's title on the like's permalink",
        timeout=SEND_SECONDS,
        until=lambda text: "A page liked for the audit" in text,
    )
    return f"/note/{slug}"


def test_a_reader_sees_a_reply_a_like_and_a_bookmark_with_their_lines(answering, page, browser, screenshots):
    """Each response shows its line with the answered page's title as an h-cite; screenshots of the index and one."""
    web = answering.web
    paths = {"reply": "/essay", "like": "/photo", "bookmark": "/guide"}
    answered = {
        "reply": web.page(paths["reply"], "<title>An essay on small sites</title><p>Words.</p>"),
        "like": web.page(paths["like"], '<article class="h-entry"><h1 class="p-name">A harbour at dusk</h1></article>'),
        "bookmark": web.page(paths["bookmark"], "<title>A guide to Webmention</title>"),
    }
    page.goto(answering.site.login_link())
    page.wait_for_url(re.compile(r"/admin$"))
    _respond(page, "A reply to", answered["reply"], "I agree with every word of this.")
    _respond(page, "A like of", answered["like"])
    _respond(page, "A bookmark of", answered["bookmark"])
    for path in paths.values():
        web.wait_for_request(path, timeout=SEND_SECONDS)  # the discovery fetch, which reads the title

    lines = {
        "reply": "In reply to An essay on small sites",
        "like": "Liked A harbour at dusk",
        "bookmark": "Bookmarked A guide to Webmention",
    }
    reader = browser.new_page(viewport={"width": 1280, "height": 900})
    try:

        def shown_lines() -> list[str]:
            reader.goto(answering.site.base_url + "/")
            return reader.locator(".response").all_inner_texts()

        wait_for(
            shown_lines,
            "the answered pages' titles in the responses' lines on the index",
            timeout=SEND_SECONDS,
            until=lambda texts: set(lines.values()) <= set(texts),
        )
        for kind, url in answered.items():
            line = reader.locator(f".response-{kind}", has_text=lines[kind])
            assert line.is_visible(), f"the {kind}'s line is not visible"
            assert line.locator("a.h-cite").get_attribute("href") == url
        assert "I agree with every word of this." in reader.locator("main").inner_text()
        reader.screenshot(path=str(screenshots / "responses-index.png"), full_page=True)
        reply = reader.locator("article", has=reader.locator(".response-reply", has_text=lines["reply"]))
        reply.locator("a.u-url").first.click()
        reader.wait_for_url(re.compile(r"/note/"))
        assert reader.locator(".response-reply").inner_text() == lines["reply"]
        reader.screenshot(path=str(screenshots / "responses-reply-permalink.png"), full_page=True)
    finally:
        reader.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width_name", sorted(WIDTHS))
def test_response_pages_pass_axe(answering, liked, browser, width_name, scheme):
    """The index and a like's permalink, with their responses' lines visible, pass axe at each width and scheme."""
    context = browser.new_context(viewport={"width": WIDTHS[width_name], "height": 800}, color_scheme=scheme)
    try:
        reader = context.new_page()
        problems = []
        for path in ("/", liked):
            reader.goto(answering.site.base_url + path)
            assert reader.locator(".response-like").first.is_visible(), f"{path}: no visible like line"
            problems += [
                f"{path}: {item['rule']} [{item['impact']}] {item['help']} at {item['targets']}"
                for item in summarise(run_axe(reader, axe_source()))["violations"]
            ]
    finally:
        context.close()
    assert problems == [], f"axe violations at {WIDTHS[width_name]} px, {scheme}:\n" + "\n".join(problems)
