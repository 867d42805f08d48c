"""Every payload of the XSS corpus, posted as a note, runs nothing in a real browser."""

import re

import pytest

from tests.corpus import xss_payloads

PAYLOADS = xss_payloads()
# Payloads that try to send data somewhere send it here (nothing listens).
PAYLOAD_SINK = "http://127.0.0.1:9/"


@pytest.fixture(scope="module")
def hostile_notes(owner):
    """Publish each payload as a note (with a marker so its permalink can be found)."""
    for number, payload in enumerate(PAYLOADS):
        owner.publish(f"Hostile note {number}\n\n{payload}")
    return len(PAYLOADS)


def _assert_nothing_ran(page):
    assert page.watch.dialogs == [], f"a payload opened a dialog: {page.watch.dialogs}"
    from_payload = [m for m in page.watch.console_errors if "xss" in m.lower()]
    assert from_payload == [], f"console messages from payloads: {from_payload}"
    leaked = [url for url in page.watch.requests if url.startswith(PAYLOAD_SINK)]
    assert leaked == [], f"requests to the payloads' URL: {leaked}"


def test_payloads_run_nothing_on_index_pages(site, hostile_notes, page):
    page.goto(site.base_url + "/")
    seen = 0
    while True:
        page.wait_for_load_state("load")
        page.mouse.move(200, 300)  # hover handlers would fire now
        seen += len(re.findall(r"Hostile note \d+", page.locator(".h-feed").inner_text()))
        _assert_nothing_ran(page)
        if page.locator("a[rel=next]").count() == 0:
            break
        page.click("a[rel=next]")
    assert seen >= hostile_notes


def test_payloads_run_nothing_on_permalinks(site, hostile_notes, page):
    links = set()
    page.goto(site.base_url + "/")
    while True:
        for entry in page.locator(".h-entry").all():
            if "Hostile note" in entry.locator(".e-content").inner_text():
                links.add(entry.locator("a.u-url").get_attribute("href"))
        if page.locator("a[rel=next]").count() == 0:
            break
        page.click("a[rel=next]")
    assert len(links) >= hostile_notes
    for link in sorted(links):
        page.goto(link)
        page.mouse.move(100, 200)
        _assert_nothing_ran(page)
