"""A reader searches the notes and pages through the archive in the browser: older pages, the year, the month."""

import re
from datetime import datetime, timezone

import pytest

SEEDED = 45


@pytest.fixture(scope="module")
def archive_notes(owner):
    """Publish SEEDED numbered notes (every third about harbours), enough for three pages, and one draft."""
    token = owner.csrf_token()
    for number in range(1, SEEDED + 1):
        topic = "harbour lights" if number % 3 == 0 else "garden beds"
        reply = owner.post_note(f"Archive note {number}: on {topic} <b>kept as text</b>.", csrf_token=token)
        assert reply.status_code == 303
    owner.publish("A draft about harbour lights, never shown to readers.", published=False)
    return SEEDED


def _numbers(page):
    texts = page.locator(".h-entry .e-content").all_inner_texts()
    return [int(m.group(1)) for t in texts if (m := re.search(r"Archive note (\d+):", t))]


def test_paging_through_the_whole_archive_and_back(site, archive_notes, page, screenshots):
    page.goto(site.base_url + "/")
    seen = [_numbers(page)]
    while page.locator("a[rel=next]").count():
        page.click("main a[rel=next]")
        page.wait_for_url(re.compile(r"\?before=[0-9]+$"))
        seen.append(_numbers(page))
    page.screenshot(path=str(screenshots / "archive-last-page.png"), full_page=True)
    flat = [number for numbers in seen for number in numbers]
    assert flat == list(range(archive_notes, 0, -1)), "every note once, newest first"
    page.click("main a[rel=prev]")
    page.wait_for_url(re.compile(r"\?(after|before)=[0-9]+$|/$"))
    assert _numbers(page) == seen[-2]


def test_an_old_numbered_link_lands_on_its_page(site, archive_notes, page):
    page.goto(site.base_url + "/?page=2")
    page.wait_for_url(re.compile(r"\?before=[0-9]+$"))
    assert _numbers(page) == list(range(archive_notes - 20, archive_notes - 40, -1))


def test_the_year_and_month_from_the_home_page(site, archive_notes, page, screenshots):
    now = datetime.now(timezone.utc)
    page.goto(site.base_url + "/")
    page.click(f"nav.archive a[href='/{now:%Y}/']")
    page.wait_for_url(re.compile(rf"/{now:%Y}/$"))
    assert page.locator("h1").inner_text() == f"Notes from {now:%Y}"
    page.screenshot(path=str(screenshots / "archive-year.png"), full_page=True)
    page.click(f"a[href='/{now:%Y}/{now:%m}/']")
    page.wait_for_url(re.compile(rf"/{now:%Y}/{now:%m}/$"))
    assert _numbers(page)[0] == archive_notes
    page.screenshot(path=str(screenshots / "archive-month.png"), full_page=True)


def test_searching_from_the_header(site, archive_notes, page, screenshots):
    page.goto(site.base_url + "/")
    page.get_by_label("Search the notes").fill("harbour lights")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/search\?q=harbour\+lights$"))
    snippets = page.locator(".search-results .snippet").all_inner_texts()
    assert len(snippets) == archive_notes // 3 and all("harbour lights" in text for text in snippets)
    assert all("<b>kept as text</b>" in text for text in snippets), "the note's markup is shown as text"
    assert page.locator(".search-results mark").count() == 2 * len(snippets)
    assert "draft" not in page.content()
    page.screenshot(path=str(screenshots / "search-results.png"), full_page=True)
    page.locator(".search-results a").first.click()
    page.wait_for_url(re.compile(r"/note/[a-z0-9-]+$"))
    assert "harbour lights" in page.locator(".h-entry .e-content").inner_text()
