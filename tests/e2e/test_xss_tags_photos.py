"""Every XSS payload of the corpus runs nothing in a real browser.

Each goes in as photo alt text, as a tag name and as Micropub HTML content.

The payloads go in through Micropub (a client signed in with PKCE, JSON with
`{"html": ...}` content, a photo whose alt text is the payload, the payload as
a category) and, once, through the admin form in the browser. Then a reader
opens the index, every permalink and every tag page; nothing may open a
dialog, log from a payload, call the payloads' address or leave a scripting
element or attribute in the page.
"""

import re
from urllib.parse import urlsplit

import pytest

from testkit.micropub_client import MicropubClient
from testkit.samples import png
from tests.corpus import xss_payloads

PAYLOADS = xss_payloads()
# Payloads that try to send data somewhere send it here (nothing listens), as in test_xss.py.
PAYLOAD_SINK = "http://127.0.0.1:9/"
# Tags are at most 100 characters once normalised; every payload fits in 90.
TAG_CHARS = 90
FORM_PAYLOAD = PAYLOADS[1]
# What a payload could leave behind that runs: scripting elements, on* handlers, javascript: or data: HTML addresses.
INJECTED = """() => {
  const found = [];
  for (const element of document.querySelectorAll('*')) {
    if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'BASE', 'FRAME'].includes(element.tagName.toUpperCase())) {
      found.push(element.tagName);
    }
    if (element.tagName.toUpperCase() === 'META' && element.getAttribute('http-equiv')) found.push('META http-equiv');
    for (const attribute of element.attributes) {
      const value = attribute.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
      if (attribute.name.toLowerCase().startsWith('on')) found.push(`${element.tagName} ${attribute.name}`);
      if (value.startsWith('javascript:') || value.startsWith('data:text/html')) {
        found.push(`${element.tagName} ${attribute.name}=${value}`);
      }
    }
  }
  return found;
}"""


def squeeze(text):
    """Return text with its whitespace runs made single spaces, as alt text is stored."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def hostile_posts(site, owner):
    """Post one note per payload through Micropub; return their permalinks and tag pages.

    The payload is each note's HTML content, tag and photo alt.
    """
    client = MicropubClient.sign_in(owner)
    photo_url = client.upload(png(4, 4), "hostile.png")
    permalinks: list[str] = []
    tags: set[str] = set()
    for number, payload in enumerate(PAYLOADS):
        url = client.create(
            {"html": f"<p>Hostile post {number}</p>{payload}"},
            category=[payload[:TAG_CHARS]],
            photo=[{"value": photo_url, "alt": payload}],
        )
        permalinks.append(urlsplit(url).path)
        tags.update(client.source(url)["properties"].get("category", []))
    return permalinks, sorted(tags)


def _assert_nothing_injected(page, where):
    assert page.watch.dialogs == [], f"{where}: a payload opened a dialog: {page.watch.dialogs}"
    from_payload = [message for message in page.watch.console_errors if "xss" in message.lower()]
    assert from_payload == [], f"{where}: console messages from payloads: {from_payload}"
    leaked = [url for url in page.watch.requests if url.startswith(PAYLOAD_SINK)]
    assert leaked == [], f"{where}: requests to the payloads' address: {leaked}"
    injected = page.evaluate(INJECTED)
    assert injected == [], f"{where}: elements or attributes a payload left: {injected}"


def test_payload_in_the_admin_form_alt_text_and_tags_runs_nothing(site, page, new_page):
    """The author types a payload as alt text and as a tag; the reader's page shows it as text and runs nothing."""
    page.goto(site.login_link())
    page.wait_for_url(re.compile(r"/admin$"))
    page.click("text=Write a new note")
    page.fill("#content", "Hostile form note, alt text and tag.")
    page.fill("#tags", FORM_PAYLOAD.replace(",", " "))
    page.set_input_files("#photo_1", files=[{"name": "x.png", "mimeType": "image/png", "buffer": png(8, 8)}])
    page.fill("#alt_1", FORM_PAYLOAD)
    page.set_checked("#published", True)
    page.click("button[type=submit]:has-text('Create note')")
    page.wait_for_url(re.compile(r"/admin$"))

    reader = new_page()
    reader.goto(site.base_url + "/")
    entry = reader.locator(".h-entry", has_text="Hostile form note")
    assert entry.locator(".photos img.u-photo").get_attribute("alt") == squeeze(FORM_PAYLOAD), (
        "the alt text is not shown as typed"
    )
    entry.locator("a.p-category").click()
    reader.wait_for_url(re.compile(r"/tag/"))
    reader.mouse.move(200, 300)
    _assert_nothing_injected(reader, reader.url)


def test_micropub_payloads_run_nothing_on_index_permalinks_and_tag_pages(site, hostile_posts, page):
    """HTML content, alt text and tag names from Micropub run nothing on any page a reader opens."""
    permalinks, tags = hostile_posts
    assert len(tags) == len(PAYLOADS), f"only {len(tags)} of {len(PAYLOADS)} payloads became tags"
    page.goto(site.base_url + "/")
    seen = 0
    while True:
        page.wait_for_load_state("load")
        page.mouse.move(200, 300)  # hover handlers would fire now
        seen += len(re.findall(r"Hostile post \d+", page.locator(".h-feed").inner_text()))
        _assert_nothing_injected(page, page.url)
        if page.locator("a[rel=next]").count() == 0:
            break
        page.click("a[rel=next]")
    assert seen >= len(PAYLOADS)
    tag_links = set()
    for number, path in enumerate(permalinks):
        page.goto(site.base_url + path)
        page.mouse.move(100, 200)
        _assert_nothing_injected(page, path)
        alt = page.locator(".photos img.u-photo").get_attribute("alt")
        assert alt == squeeze(PAYLOADS[number]), f"{path}: the alt text is not shown as posted: {alt!r}"
        tag_links.update(page.locator("a.p-category").evaluate_all("links => links.map(link => link.href)"))
    assert len(tag_links) == len(tags), f"the permalinks link {len(tag_links)} tag pages for {len(tags)} tags"
    for link in sorted(tag_links):
        reply = page.goto(link)
        assert reply is not None and reply.status == 200, f"{link} answered {reply and reply.status}"
        page.mouse.move(100, 200)
        _assert_nothing_injected(page, link)
