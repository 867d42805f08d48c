"""Readers' lists cut at a note (?before=ID, ?after=ID): one address per page, old ?page=N links redirected."""

from datetime import datetime, timedelta, timezone

import mf2py
import pytest

from starpunk import db, listing, store
from starpunk.pagecache import EXTENSION
from starpunk.paging import PAGE_SIZE

SITE = "http://localhost"


def texts(response):
    """Return the text of each h-entry of a list page, in order."""
    parsed = mf2py.parse(doc=response.text, url=SITE + "/")
    (feed,) = [item for item in parsed["items"] if "h-feed" in item["type"]]
    return [child["properties"]["content"][0]["value"] for child in feed.get("children", [])]


def rels(response):
    """Return the page's rel links as microformats2 parsers read them."""
    return mf2py.parse(doc=response.text, url=SITE + "/")["rels"]


@pytest.fixture
def numbered(add_notes):
    """Return a function storing notes "Note 1" .. "Note count" (oldest first) and returning {n: id}."""

    def add(count):
        return {n: note["id"] for n, note in enumerate(add_notes([f"Note {n}" for n in range(1, count + 1)]), start=1)}

    return add


def test_exactly_a_page_of_notes_has_no_next_page(client, numbered):
    """PAGE_SIZE notes fit the first page: no rel=next."""
    numbered(PAGE_SIZE)
    response = client.get("/")
    assert len(texts(response)) == PAGE_SIZE
    assert "next" not in rels(response) and "prev" not in rels(response)


def test_one_note_more_than_a_page_makes_a_second_page(client, numbered):
    """PAGE_SIZE + 1 notes: the oldest is alone on the second page, which links back to the first."""
    ids = numbered(PAGE_SIZE + 1)
    first = client.get("/")
    assert rels(first)["next"] == [f"{SITE}/?before={ids[2]}"]
    second = client.get(f"/?before={ids[2]}")
    assert texts(second) == ["Note 1"]
    assert rels(second)["prev"] == [f"{SITE}/"] and "next" not in rels(second)


def test_the_h_feed_carries_its_paging_links(client, numbered):
    """The prev/next links sit inside the h-feed, so a microformats reader pages through the feed itself."""
    ids = numbered(PAGE_SIZE * 2 + 1)
    html = client.get(f"/?before={ids[PAGE_SIZE + 2]}").text
    feed = html[html.index('class="h-feed"') :]
    assert feed.index('rel="next"') < feed.index("</nav>") and feed.index('rel="prev"') < feed.index("</nav>")
    assert "</div>" in feed[feed.index("</nav>") :]


def test_a_page_after_the_newest_notes_redirects_to_the_first_page(client, numbered):
    """?after= a note with at most a page of newer notes is the first page: redirected there (not a second copy)."""
    ids = numbered(PAGE_SIZE + 1)
    response = client.get(f"/?after={ids[1]}")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_deleted_note_still_cuts_the_list_where_it_stood(app, client, numbered):
    """An old link to a page stays valid when the note it is cut at is deleted."""
    ids = numbered(PAGE_SIZE + 3)
    with app.app_context():
        store.delete_note(ids[3])
    assert texts(client.get(f"/?before={ids[3]}")) == ["Note 2", "Note 1"]


@pytest.mark.parametrize(("page", "cut"), [("1", None), ("2", PAGE_SIZE + 2), ("3", 2)])
def test_old_numbered_pages_redirect_to_their_note(client, numbered, page, cut):
    """/?page=N (the links before keyset paging) is a permanent redirect to the page holding the same notes."""
    ids = numbered(PAGE_SIZE * 2 + 1)
    response = client.get(f"/?page={page}")
    assert response.status_code == 301
    assert response.headers["Location"] == ("/" if cut is None else f"/?before={ids[cut]}")


def test_a_numbered_page_past_the_end_is_404(client, numbered):
    """/?page=N for a page that would be empty is a 404, exactly one page past the last."""
    numbered(PAGE_SIZE * 2)
    assert client.get("/?page=2").status_code == 301
    assert client.get("/?page=3").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "before=abc",
        "before=0",
        "before=01",
        "before=",
        "before=" + "9" * 19,
        "before=%C2%B2",
        "before=1.5",
        "before=999999",
        "after=999999",
        "before={draft}",
        "before={one}&after={one}",
        "before={one}&before={one}",
        "before=%3{digit}",
        "page=2&before={one}",
    ],
)
def test_malformed_or_unknown_cuts_are_404_and_never_cached(app, client, numbered, add_notes, query):
    """A cut that is not a public note's id, in the one way this site writes it, is a 404 page and kept nowhere."""
    ids = numbered(PAGE_SIZE + 2)
    (draft,) = add_notes(["A draft"], published=False)
    client.get("/")
    kept = len(app.extensions[EXTENSION])
    one = ids[PAGE_SIZE]
    path = "/?" + query.format(draft=draft["id"], one=one, digit=str(one)[0] if one < 10 else "x")
    response = client.get(path)
    assert response.status_code == 404, path
    assert response.mimetype == "text/html" and "Traceback" not in response.text
    assert len(app.extensions[EXTENSION]) == kept


@pytest.mark.parametrize(
    ("query", "location"),
    [("utm_source=feed", "/"), ("before={one}&utm_source=feed", "/?before={one}"), ("ref=a&ref=b", "/")],
)
def test_unknown_query_fields_redirect_to_the_page_itself(client, numbered, query, location):
    """Fields a list does not read (?utm_source=) redirect to the page without them: one cached copy a page."""
    one = numbered(PAGE_SIZE + 2)[3]
    response = client.get("/?" + query.format(one=one))
    if "ref=a&ref=b" in query:
        assert response.status_code == 404  # a repeated field is no spelling of any page
        return
    assert response.status_code == 301 and response.headers["Location"] == location.format(one=one)


def _statements(app, path):
    """Return how many SQL statements serving path runs on the held connection."""
    conn = db._held[str(app.config["DATA_PATH"])].conn
    seen = []
    conn.set_trace_callback(seen.append)
    try:
        assert app.test_client().get(path, headers={"Cookie": "session=x"}).status_code == 200
    finally:
        conn.set_trace_callback(None)
    return len(seen)


def test_a_deep_page_asks_the_database_what_the_second_page_does(app, make_app, numbered):
    """Page 2 and page 8 of a list run the same queries: the cost does not grow with the depth."""
    ids = numbered(PAGE_SIZE * 8 + 5)
    second = _statements(app, f"/?before={ids[PAGE_SIZE * 7 + 6]}")
    deep = _statements(app, f"/?before={ids[6]}")
    assert second == deep


def test_the_tag_list_is_the_same_either_way_it_is_read(app, client, monkeypatch):
    """A rare tag is read from its own entries, a common one by walking the list: the pages are the same."""
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    with app.app_context():
        for n in range(PAGE_SIZE + 5):
            store.create_note(
                f"Tagged {n}",
                True,
                tags=["both"] if n % 2 else ["both", "odd"],
                published_at=start + timedelta(days=n % 7, minutes=n),
            )
    pages = []
    for rare in (10_000, 1):
        monkeypatch.setattr(listing, "RARE_TAG_NOTES", rare)
        app.extensions.pop(EXTENSION, None)
        first = client.get("/tag/both", headers={"Cookie": "session=x"})
        cut = rels(first)["next"][0].removeprefix(SITE)
        pages.append((texts(first), texts(client.get(cut, headers={"Cookie": "session=x"})), cut))
    assert pages[0] == pages[1]
    assert len(pages[0][0]) == PAGE_SIZE and len(pages[0][1]) == 5
