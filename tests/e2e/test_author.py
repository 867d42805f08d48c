"""The author signs in with a login link and writes, drafts, edits and deletes notes in the browser."""

import re
import secrets

MARKDOWN_NOTE = """# Browser heading

A paragraph with [a link](https://example.org/docs) in it.

- first item
- second item

```
print("code block")
```
"""


def _slug_in_admin(page, text):
    """Return the slug of the note whose row in /admin shows text."""
    label = (
        page.locator("tr", has_text=text).get_by_role("button", name=re.compile("^Delete ")).get_attribute("aria-label")
    )
    return label.removeprefix("Delete ")


def _sign_in(site, page):
    page.goto(site.login_link())
    page.wait_for_url(re.compile(r"/admin$"))


def _write(page, content, published):
    page.click("text=Write a new note")
    page.fill("#content", content)
    page.set_checked("#published", published)
    page.click("button[type=submit]:has-text('Create note')")
    page.wait_for_url(re.compile(r"/admin$"))


def test_author_publishes_markdown_note(site, page):
    _sign_in(site, page)
    _write(page, MARKDOWN_NOTE, published=True)
    page.goto(site.base_url + "/")
    entry = page.locator(".h-entry").first
    content = entry.locator(".e-content")
    assert content.locator("h2").inner_text() == "Browser heading"
    assert content.locator("a[href='https://example.org/docs']").inner_text() == "a link"
    assert content.locator("ul li").all_inner_texts() == ["first item", "second item"]
    assert 'print("code block")' in content.locator("pre code").inner_text()
    entry.locator("a.u-url").click()
    page.wait_for_url(re.compile(r"/note/browser-heading"))
    # On its permalink the note's opening heading is the page's title: its one h1, shown once.
    assert page.locator("h1").all_inner_texts() == ["Browser heading"]
    assert page.locator(".e-content h1").inner_text() == "Browser heading"


def test_draft_is_hidden_from_readers(site, page, new_page):
    _sign_in(site, page)
    text = f"Draft {secrets.token_hex(3)} only the author sees."
    _write(page, text, published=False)
    row = page.locator("tr", has_text=text)
    assert row.locator("td").nth(1).inner_text() == "Draft"
    slug = _slug_in_admin(page, text)
    reader_page = new_page()
    reader_page.goto(site.base_url + "/")
    assert text not in reader_page.content()
    assert reader_page.goto(f"{site.base_url}/note/{slug}").status == 404


def test_author_edits_and_deletes_a_note(site, page):
    _sign_in(site, page)
    marker = secrets.token_hex(3)
    original, edited = f"Edit me {marker} in the browser.", f"Edited {marker} in the browser, for real."
    _write(page, original, published=True)
    slug = _slug_in_admin(page, original)
    page.locator("tr", has_text=original).get_by_role("link", name="Edit", exact=True).click()
    page.fill("#content", edited)
    page.click("button[type=submit]:has-text('Save')")
    page.wait_for_url(re.compile(r"/admin$"))
    page.goto(site.base_url + "/")
    assert edited in page.locator(".h-feed").inner_text()
    assert original not in page.locator(".h-feed").inner_text()
    assert page.goto(f"{site.base_url}/note/{slug}").status == 200, "the permalink keeps its slug"

    page.goto(site.base_url + "/admin")
    page.locator("tr", has_text=edited).get_by_role("button", name=re.compile("^Delete ")).click()
    page.wait_for_url(re.compile(r"/admin$"))
    page.goto(site.base_url + "/")
    assert edited not in page.locator(".h-feed").inner_text()
    assert page.goto(f"{site.base_url}/note/{slug}").status == 410, "a deleted note is Gone"
