"""The archive: a page per year with its months and counts, a page per month (paged), and the tag index."""

from datetime import datetime, timezone

import pytest

from starpunk import archive, store
from starpunk.pagecache import EXTENSION
from starpunk.paging import PAGE_SIZE


def dated(app, text, when, published=True, tags=()):
    """Store a note published at a given UTC moment; return it."""
    with app.app_context():
        return store.create_note(text, published, tags=tags, published_at=when)


def utc(year, month, day=1, hour=12):
    """Return an aware UTC datetime."""
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


def test_the_home_page_links_every_year_with_notes(app, client):
    """The home page lists the years in which notes were published, newest first, skipping empty ones."""
    dated(app, "Old", utc(2016, 3))
    dated(app, "Newer", utc(2019, 12, 31, 23))
    dated(app, "Draft year", utc(2018, 5), published=False)
    html = client.get("/").text
    archive_nav = html[html.index('aria-label="Archive"') :]
    assert archive_nav.index('href="/2019/"') < archive_nav.index('href="/2016/"')
    assert 'href="/2018/"' not in html and 'href="/tags"' in archive_nav


def test_a_year_lists_its_months_with_counts(app, client):
    """/YYYY/ shows each month with notes, newest first, with how many; drafts and deleted notes do not count."""
    dated(app, "January one", utc(2020, 1, 5))
    dated(app, "January two", utc(2020, 1, 31, 23))
    dated(app, "March", utc(2020, 3, 1, 0))
    dated(app, "A draft", utc(2020, 2, 1), published=False)
    gone = dated(app, "Deleted", utc(2020, 2, 2))
    dated(app, "Next year", utc(2021, 1, 1, 0))
    with app.app_context():
        store.delete_note(gone["id"])
    html = client.get("/2020/").text
    assert "3 notes in 2 months." in html
    assert html.index('href="/2020/03/">March 2020</a> (1 note)') < html.index(
        'href="/2020/01/">January 2020</a> (2 notes)'
    )
    assert "/2020/02/" not in html


def test_a_month_lists_its_notes_newest_first(app, client):
    """/YYYY/MM/ holds the month's public notes only, newest first, and links back to its year."""
    dated(app, "Early May", utc(2024, 5, 1, 0))
    dated(app, "Late May", utc(2024, 5, 31, 23))
    dated(app, "June", utc(2024, 6, 1, 0))
    dated(app, "April", utc(2024, 4, 30, 23))
    html = client.get("/2024/05/").text
    assert "Notes from May 2024" in html and 'href="/2024/"' in html
    assert html.index("Late May") < html.index("Early May")
    assert "June" not in html.split("<main", 1)[1] and "April" not in html


def test_december_ends_at_the_new_year(app, client):
    """The last month of a year holds its notes and none of the next January's."""
    dated(app, "Hogmanay", utc(2023, 12, 31, 23))
    dated(app, "New year", utc(2024, 1, 1, 0))
    html = client.get("/2023/12/").text
    assert "Hogmanay" in html and "New year" not in html


@pytest.mark.parametrize("extra", [0, 1])
def test_a_month_pages_like_the_home_page(app, client, extra):
    """A month with PAGE_SIZE notes is one page; one more makes a second page cut at a note."""
    notes = [dated(app, f"Day {n}", utc(2022, 7, 1 + n % 28, n % 24)) for n in range(PAGE_SIZE + extra)]
    first = client.get("/2022/07/").text
    assert first.count('class="h-entry') == PAGE_SIZE
    if not extra:
        assert 'rel="next"' not in first
        return
    oldest = min(notes, key=lambda note: (note["published_at"], note["id"]))
    cut = first.split('<link rel="next" href="', 1)[1].split('"', 1)[0]
    second = client.get(cut).text
    assert second.count('class="h-entry') == 1 and oldest["content"] in second
    # Only the home and tag lists had numbers: a month's ?page= is a field it does not read, so its first page.
    unread = client.get("/2022/07/?page=2")
    assert unread.status_code == 200 and unread.text == first


@pytest.mark.parametrize(
    "path", ["/2019/", "/2019/05/", "/2020/02/", "/0000/", "/20/", "/20200/", "/2020/13/", "/2020/00/", "/2020/5/"]
)
def test_empty_or_malformed_dates_are_404(app, client, path):
    """A year or month without public notes, or a date written otherwise than /YYYY/MM/, is a 404 page."""
    dated(app, "Only in 2020", utc(2020, 1))
    dated(app, "A draft", utc(2020, 2), published=False)
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_archive_pages_are_cached_and_fresh_after_a_write(app, client):
    """Readers' archive pages are kept per generation; a new note shows on the next request."""
    dated(app, "First", utc(2021, 8))
    assert "(1 note)" in client.get("/2021/").text
    assert ("/2021/", "") in app.extensions[EXTENSION] and ("/2021/08/", "") not in app.extensions[EXTENSION]
    dated(app, "Second", utc(2021, 8, 2))
    assert "(2 notes)" in client.get("/2021/").text
    # A field the page does not read is its copy, not a new one.
    tracked = client.get("/2021/?utm_source=feed")
    assert tracked.status_code == 200 and "(2 notes)" in tracked.text
    assert sorted(app.extensions[EXTENSION]) == [("/2021/", "")]


def test_the_tag_index_lists_each_tag_with_its_count(app, client):
    """/tags lists the tags readers can see, alphabetically, with how many public notes carry each."""
    dated(app, "Two", utc(2020, 1), tags=["zebra", "apple"])
    dated(app, "One", utc(2020, 2), tags=["apple"])
    dated(app, "Draft", utc(2020, 3), published=False, tags=["secret", "apple"])
    html = client.get("/tags").text
    assert html.index('href="/tag/apple">apple</a> (2 notes)') < html.index('href="/tag/zebra">zebra</a> (1 note)')
    assert "secret" not in html


def test_an_empty_site_has_no_tags_yet(client):
    """With no public tags, /tags says so."""
    assert "No tags yet." in client.get("/tags").text


@pytest.mark.parametrize("extra", [0, 1])
def test_the_tag_index_pages_at_its_size(app, client, monkeypatch, extra):
    """TAGS_PAGE_SIZE tags fit one page; one more is on a second page after the last shown."""
    monkeypatch.setattr(archive, "TAGS_PAGE_SIZE", 3)
    dated(app, "Tagged", utc(2020, 1), tags=["a", "b", "c", "d"][: 3 + extra])
    first = client.get("/tags").text
    assert first.count('rel="tag"') == 3
    if not extra:
        assert 'rel="next"' not in first
        return
    assert '<a rel="next" href="/tags?after=c">' in first
    second = client.get("/tags?after=c").text
    assert second.count('rel="tag"') == 1 and 'href="/tag/d"' in second and 'href="/tags"' in second


@pytest.mark.parametrize("query", ["after=unknown", "after=C", "after=d", "after=", "after=c&after=c", "after=%63"])
def test_tag_index_cuts_must_be_a_tag_readers_see(app, client, monkeypatch, query):
    """/tags?after= names a public tag in its stored form, and a page that holds tags; anything else is 404."""
    monkeypatch.setattr(archive, "TAGS_PAGE_SIZE", 3)
    dated(app, "Tagged", utc(2020, 1), tags=["a", "b", "c", "d"])
    dated(app, "Draft", utc(2020, 1), published=False, tags=["unknown"])
    assert client.get("/tags?" + query).status_code == 404


def test_a_tag_with_punctuation_pages_through_the_index(app, client, monkeypatch):
    """A cut at a tag holding spaces, accents and punctuation is followed as the site wrote it."""
    monkeypatch.setattr(archive, "TAGS_PAGE_SIZE", 1)
    dated(app, "Tagged", utc(2020, 1), tags=["café au lait: yes!", "zz"])
    first = client.get("/tags").text
    cut = first.split('<a rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert cut == "/tags?after=caf%C3%A9+au+lait:+yes!"
    second = client.get(cut)
    assert second.status_code == 200 and 'href="/tag/zz"' in second.text


def test_an_old_database_gets_its_tag_counts_from_the_migration(make_app, data_path, monkeypatch):
    """Migration 0009 counts the tags of the notes written before it: public ones only."""
    from starpunk import db

    older = [migration for migration in db.available_migrations() if migration[0] < 9]
    monkeypatch.setattr(db, "available_migrations", lambda: older)
    db.migrate(str(data_path))
    conn = db.connect(str(data_path))
    for number, published in ((1, 1), (2, 1), (3, 0)):
        conn.execute(
            "INSERT INTO notes (id, slug, content, published, created_at, updated_at, published_at)"
            " VALUES (?, ?, 'Old', ?, '2020-01-01', '2020-01-01', '2020-01-01')",
            (number, f"old-{number}", published),
        )
        conn.execute("INSERT INTO note_tags (note_id, position, tag) VALUES (?, 1, 'vintage')", (number,))
    conn.close()
    monkeypatch.undo()
    html = make_app().test_client().get("/tags").text
    assert 'href="/tag/vintage">vintage</a> (2 notes)' in html
