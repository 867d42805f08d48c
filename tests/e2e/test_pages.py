"""Every page is clean and usable: no console errors or failed requests, accessible basics, no sideways scrolling."""

import re

import pytest

WIDTHS = {"phone": 375, "desktop": 1280}


@pytest.fixture(scope="module")
def sample_note(owner):
    """Publish one note with an image, a list and a long unbroken word; return its permalink path."""
    owner.publish(
        "Layout sample note with an image and a very long word.\n\n"
        "![A small star](/static/favicon.svg)\n\n"
        "- one\n- two\n\n" + "Supercalifragilisticexpialidocious" * 4
    )
    return "/note/layout-sample-note-with-an-image"


def _pages(site, sample_note):
    return {"index": "/", "permalink": sample_note, "admin-form": "/admin/new", "admin": "/admin"}


def _check_page(page, url, responses):
    assert page.title().strip(), f"{url} has no title"
    assert page.get_attribute("html", "lang"), f"{url} has no lang"
    assert page.locator("h1").count() == 1, f"{url} must have exactly one h1"
    for field in page.locator("input:not([type=hidden]), textarea, select").all():
        field_id = field.get_attribute("id")
        labelled = field.get_attribute("aria-label") or (
            field_id and page.locator(f"label[for='{field_id}']").count() == 1
        )
        assert labelled, f"{url}: a form field has no label"
    for image in page.locator("img").all():
        assert image.get_attribute("alt") is not None, f"{url}: an image has no alt text"
    assert page.watch.console_errors == [], f"{url}: console errors {page.watch.console_errors}"
    assert page.watch.failed_requests == [], f"{url}: failed requests {page.watch.failed_requests}"
    assert [(r.url, r.status) for r in responses if r.status >= 400] == [], f"{url}: error responses"


@pytest.mark.parametrize("width_name", sorted(WIDTHS))
def test_pages_are_clean_accessible_and_fit(site, sample_note, new_page, screenshots, width_name):
    page = new_page(width=WIDTHS[width_name], height=800)
    page.goto(site.login_link())
    page.wait_for_url(re.compile(r"/admin$"))
    page.wait_for_load_state("networkidle")
    for name, path in _pages(site, sample_note).items():
        responses = []

        def record(response, responses=responses):
            responses.append(response)

        page.on("response", record)
        page.watch.console_errors.clear()
        page.watch.failed_requests.clear()
        page.goto(site.base_url + path)
        # Let late requests (the favicon) finish here, not abort on the next navigation.
        page.wait_for_load_state("networkidle")
        page.remove_listener("response", record)
        _check_page(page, path, responses)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {WIDTHS[width_name]}px"
        if name != "admin":
            page.screenshot(path=str(screenshots / f"{name}-{width_name}.png"), full_page=True)
