"""A reader browses StarPunk: newest first, permalinks, paging, feed autodiscovery."""

import re

import pytest

SEEDED = 25


@pytest.fixture(scope="module")
def reader_notes(owner):
    """Publish SEEDED numbered notes, enough for two pages."""
    for number in range(1, SEEDED + 1):
        owner.publish(f"Reader note {number}: a short thought for the browser test.")
    return SEEDED


def _numbers(page):
    texts = page.locator(".h-entry .e-content").all_inner_texts()
    return [int(m.group(1)) for t in texts if (m := re.search(r"Reader note (\d+):", t))]


def test_index_lists_notes_newest_first(site, reader_notes, page):
    page.goto(site.base_url + "/")
    numbers = _numbers(page)
    assert numbers, "no reader notes on the first page"
    assert numbers == sorted(numbers, reverse=True)
    assert numbers[0] == reader_notes


def test_permalink_and_back(site, reader_notes, page):
    page.goto(site.base_url + "/")
    first = page.locator(".h-entry").first
    text = first.locator(".e-content").inner_text()
    first.locator("a.u-url").click()
    page.wait_for_url(re.compile(r"/note/[a-z0-9-]+$"))
    assert page.locator(".h-entry .e-content").inner_text() == text
    assert page.locator("h1").count() == 1
    page.go_back()
    page.wait_for_url(site.base_url + "/")
    assert page.locator(".h-entry").first.locator(".e-content").inner_text() == text


def test_paging_with_prev_and_next_links(site, reader_notes, page):
    page.goto(site.base_url + "/")
    first_page = _numbers(page)
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"\?before=[0-9]+$"))
    second_page = _numbers(page)
    assert second_page, "page 2 shows no reader notes"
    assert max(second_page) < min(first_page), "page 2 must hold older notes than page 1"
    page.click("a[rel=prev]")
    page.wait_for_url(re.compile(r"/$"))
    assert _numbers(page) == first_page


def test_feed_is_found_through_autodiscovery(site, reader_notes, page):
    page.goto(site.base_url + "/")
    feeds = {
        link.get_attribute("type"): link.get_attribute("href")
        for link in page.locator("head link[rel=alternate]").all()
    }
    assert set(feeds) == {"application/rss+xml", "application/atom+xml", "application/feed+json"}
    reply = page.request.get(site.base_url + feeds["application/rss+xml"])
    assert reply.status == 200
    assert "<rss" in reply.text() and "Reader note 25:" in reply.text()
