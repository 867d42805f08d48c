"""The author adds photos with alt text and tags in the admin form; a reader sees the photos and follows the tag."""

import re
import secrets

from testkit.samples import png

# Two solid photos, big enough to see in the screenshot: (name, width, height, colour, alt text).
PHOTOS = [
    ("harbour.png", 480, 320, (30, 110, 170), "A blue harbour at dawn, boats still moored"),
    ("lamp.png", 240, 360, (220, 160, 40), "A yellow street lamp, portrait"),
]
LOADED = "image => image.complete && image.naturalWidth > 0"


def _sign_in(site, page):
    page.goto(site.login_link())
    page.wait_for_url(re.compile(r"/admin$"))


def test_author_publishes_photos_with_alt_text_and_a_reader_follows_the_tag(site, page, new_page, screenshots):
    """Photos uploaded in the form show on the index and the permalink with their alt text and size.

    The tag link lists the note.
    """
    marker = secrets.token_hex(4)
    tag = f"walk-{marker}"
    _sign_in(site, page)
    page.click("text=Write a new note")
    page.fill("#content", f"An evening walk {marker}, two photos.")
    page.fill("#tags", f"Photos, {tag}")
    for slot, (name, width, height, colour, alt) in enumerate(PHOTOS, start=1):
        page.set_input_files(
            f"#photo_{slot}",
            files=[{"name": name, "mimeType": "image/png", "buffer": png(width, height, colour)}],
        )
        page.fill(f"#alt_{slot}", alt)
    page.set_checked("#published", True)
    page.click("button[type=submit]:has-text('Create note')")
    page.wait_for_url(re.compile(r"/admin$"))

    reader = new_page()
    reader.goto(site.base_url + "/")
    entry = reader.locator(".h-entry", has_text=marker)
    photos = entry.locator(".photos img.u-photo")
    assert photos.count() == len(PHOTOS)
    for number, (_, width, height, _, alt) in enumerate(PHOTOS):
        photo = photos.nth(number)
        assert photo.get_attribute("alt") == alt
        assert (photo.get_attribute("width"), photo.get_attribute("height")) == (str(width), str(height))
        photo.scroll_into_view_if_needed()
        reader.wait_for_function(LOADED, arg=photo.element_handle())
        assert photo.evaluate("image => [image.naturalWidth, image.naturalHeight]") == [width, height]
    assert entry.locator("a.p-category").all_inner_texts() == ["photos", tag]

    entry.locator("a.p-category", has_text=tag).click()
    reader.wait_for_url(re.compile(rf"/tag/{tag}$"))
    assert reader.locator(".h-entry").count() == 1
    assert marker in reader.locator(".h-entry .e-content").inner_text()

    reader.locator(".h-entry a.u-url").click()
    reader.wait_for_url(re.compile(r"/note/[a-z0-9-]+$"))
    for photo in reader.locator(".photos img.u-photo").all():
        photo.scroll_into_view_if_needed()
        reader.wait_for_function(LOADED, arg=photo.element_handle())
    assert reader.watch.console_errors == [] and reader.watch.failed_requests == []
    reader.screenshot(path=str(screenshots / "note-with-photos.png"), full_page=True)
