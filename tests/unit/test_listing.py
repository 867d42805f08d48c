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
