"""Readers' lists read from SQLite: published notes newest first, and tag counts kept by triggers."""

import pytest

from starpunk import listing, store


@pytest.fixture
def ctx(app):
    """Run the test inside an application context (one request's worth of database)."""
    with app.app_context():
        yield


def test_public_list_is_newest_first_without_drafts_or_deleted(ctx):
    """Readers see published notes, newest first; the owner also sees drafts."""
    first = store.create_note("First", published=True)
    draft = store.create_note("A draft", published=False)
    second = store.create_note("Second", published=True)
    gone = store.create_note("Deleted", published=True)
    store.delete_note(gone["id"])
    assert [n["id"] for n in listing.list_published(10)] == [second["id"], first["id"]]
    assert [n["id"] for n in listing.list_published(1)] == [second["id"]]
    assert [n["id"] for n in store.list_all()] == [second["id"], draft["id"], first["id"]]


def _counted(ctx_db):
    """Return {tag: public notes carrying it}, counted from the tables themselves."""
    rows = ctx_db.execute(
        "SELECT tag, count(*) FROM note_tags JOIN notes ON notes.id = note_tags.note_id"
        " WHERE published = 1 AND deleted_at IS NULL GROUP BY tag"
    )
    return dict(rows.fetchall())


def test_tag_counts_follow_every_write(ctx):
    """Publishing, unpublishing, retagging, deleting and undeleting keep tag_counts equal to a fresh count."""
    from starpunk.db import get_db

    conn = get_db()

    def kept():
        return dict(conn.execute("SELECT tag, notes FROM tag_counts").fetchall())

    a = store.create_note("A", True, tags=["one", "two"])
    b = store.create_note("B", False, tags=["two", "three"])
    assert kept() == _counted(conn) == {"one": 1, "two": 1}
    store.update_note(b["id"], "B", True)  # a draft published: its tags count
    assert kept() == _counted(conn) == {"one": 1, "two": 2, "three": 1}
    store.update_note(a["id"], "A", False, tags=["four"])  # unpublished and retagged at once
    assert kept() == _counted(conn) == {"two": 1, "three": 1}
    store.update_note(b["id"], "B", True, tags=["three", "five"])
    assert kept() == _counted(conn) == {"three": 1, "five": 1}
    store.delete_note(b["id"])
    assert kept() == _counted(conn) == {}
    store.undelete_note(b["id"])
    store.update_note(a["id"], "A", True)
    assert kept() == _counted(conn) == {"three": 1, "five": 1, "four": 1}
    assert listing.tag_count("five") == 1 and listing.tag_count("two") == 0


def test_month_counts_follow_every_write(ctx):
    """Publishing, re-dating, unpublishing, deleting and undeleting keep month_counts equal to a fresh count."""
    from datetime import datetime, timezone

    from starpunk.db import get_db

    conn = get_db()

    def kept():
        return dict(conn.execute("SELECT month, notes FROM month_counts").fetchall())

    def counted():
        rows = conn.execute(
            "SELECT substr(published_at, 1, 7), count(*) FROM notes"
            " WHERE published = 1 AND deleted_at IS NULL GROUP BY 1"
        )
        return dict(rows.fetchall())

    def when(year, month):
        return datetime(year, month, 3, 12, tzinfo=timezone.utc)

    a = store.create_note("A", True, published_at=when(2021, 5))
    b = store.create_note("B", False, published_at=when(2021, 5))
    c = store.create_note("C", True, published_at=when(2022, 1))
    assert kept() == counted() == {"2021-05": 1, "2022-01": 1}
    store.update_note(b["id"], "B", True)  # a dated draft published
    assert kept() == counted() == {"2021-05": 2, "2022-01": 1}
    store.update_note(a["id"], "A", True, published_at=when(2021, 7))  # re-dated
    assert kept() == counted() == {"2021-05": 1, "2021-07": 1, "2022-01": 1}
    store.update_note(c["id"], "C", False)
    store.delete_note(b["id"])
    assert kept() == counted() == {"2021-07": 1}
    store.undelete_note(b["id"])
    assert kept() == counted() == {"2021-05": 1, "2021-07": 1}
    assert listing.month_counts(2021) == [(7, 1), (5, 1)] and listing.month_counts(2022) == []
