"""A reader pages through a search with more matches than one window: its pages, then the older matches."""

import re

import pytest

# More matches than one window of ranked matches (starpunk/search.py RANKED_WINDOW, 50), so the last ones are older.
MATCHES = 55
WINDOW = 50


@pytest.fixture(scope="module")
def beacon_notes(owner):
    """Publish MATCHES numbered notes about a beacon (oldest first) and one draft about it."""
    token = owner.csrf_token()
    for number in range(1, MATCHES + 1):
        reply = owner.post_note(f"Beacon note {number}: the beacon shines over the bay.", csrf_token=token)
        assert reply.status_code == 303
    owner.publish("A draft about the beacon, never shown to readers.", published=False)
    return MATCHES


def _numbers(page):
    texts = page.locator(".search-results .snippet").all_inner_texts()
    return [int(m.group(1)) for t in texts if (m := re.search(r"Beacon note (\d+):", t))]


def test_paging_through_a_window_and_on_to_older_matches(site, beacon_notes, page, screenshots):
    page.goto(site.base_url + "/search?q=beacon")
    seen = [_numbers(page)]
    while page.get_by_role("link", name="More results →").count():
        page.get_by_role("link", name="More results →").click()
        page.wait_for_url(re.compile(r"&page=[0-9]+$"))
        seen.append(_numbers(page))
    assert [len(numbers) for numbers in seen] == [20, 20, 10]
    page.get_by_role("link", name="Older matches →").click()
    page.wait_for_url(re.compile(r"\?q=beacon&before=[0-9]+$"))
    seen.append(_numbers(page))
    page.screenshot(path=str(screenshots / "search-older-matches.png"), full_page=True)
    flat = [number for numbers in seen for number in numbers]
    assert sorted(flat) == list(range(1, beacon_notes + 1)), "every match once"
    assert sorted(seen[-1]) == list(range(1, beacon_notes - WINDOW + 1)), "the older window holds the oldest"
    assert page.get_by_role("link", name="Older matches →").count() == 0 and "draft" not in page.content()
    page.get_by_role("link", name="Newest matches").click()
    page.wait_for_url(re.compile(r"/search\?q=beacon$"))
    assert _numbers(page) == seen[0]
