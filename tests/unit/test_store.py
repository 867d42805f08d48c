"""Notes in the database: slugs, drafts, soft delete, publish times and refused content."""

import pytest

from starpunk import listing, store
from starpunk.store import NoteError


@pytest.fixture
def ctx(app):
    """Run the test inside an application context (one request's worth of database)."""
    with app.app_context():
        yield


def count_rows(database):
    """Return how many notes the database holds, deleted ones included."""
    return database.execute("SELECT count(*) FROM notes").fetchone()[0]


def test_new_note_gets_a_slug_from_its_first_words(ctx):
    """A note's address is made from its first words."""
    note = store.create_note("Walked to the harbour this morning", published=True)
    assert note["slug"] == "walked-to-the-harbour-this-morning"
    assert note["content"] == "Walked to the harbour this morning"
    assert note["published"] == 1


def test_same_first_words_get_numbered_slugs(ctx):
    """Notes that start alike still get distinct addresses: -2, -3."""
    slugs = [store.create_note("Good morning", published=True)["slug"] for _ in range(3)]
    assert slugs == ["good-morning", "good-morning-2", "good-morning-3"]


def test_a_deleted_notes_slug_is_not_reused(ctx):
    """Old links to a deleted note never start pointing at a different note."""
    first = store.create_note("Same words", published=True)
    store.delete_note(first["id"])
    assert store.create_note("Same words", published=True)["slug"] == "same-words-2"


def test_editing_keeps_the_slug(ctx):
    """Changing a note's text does not change its address."""
    note = store.create_note("Original title here", published=True)
    edited = store.update_note(note["id"], "Completely different words", published=True)
    assert edited["slug"] == note["slug"]
    assert edited["content"] == "Completely different words"
    assert edited["updated_at"] > note["updated_at"]
    assert edited["created_at"] == note["created_at"]


def test_draft_has_no_publish_time_until_published(ctx):
    """A draft is not public; publishing it sets published_at once."""
    draft = store.create_note("Draft thoughts", published=False)
    assert draft["published_at"] is None
    assert store.get_published_note(draft["slug"]) is None
    assert listing.list_published(10) == []
    published = store.update_note(draft["id"], "Draft thoughts", published=True)
    assert published["published_at"] is not None
    assert store.get_published_note(draft["slug"])["id"] == draft["id"]


def test_publish_time_survives_unpublish_and_edits(ctx):
    """The first publish time is kept, so feed readers see one stable date."""
    note = store.create_note("Stable date", published=True)
    store.update_note(note["id"], "Stable date", published=False)
    again = store.update_note(note["id"], "Stable date, edited", published=True)
    assert again["published_at"] == note["published_at"]


def test_soft_delete_hides_the_note_but_keeps_the_row(ctx, database):
    """A deleted note leaves every list, but the database still holds it."""
    note = store.create_note("Soon gone", published=True)
    store.delete_note(note["id"])
    assert store.get_note(note["id"]) is None
    assert store.get_published_note(note["slug"]) is None
    assert listing.list_published(10) == []
    assert store.list_all() == []
    kept = store.get_note(note["id"], include_deleted=True)
    assert kept["deleted_at"] is not None
    assert count_rows(database) == 1


def test_deleted_notes_cannot_be_edited_or_deleted_again(ctx):
    """Writes to a deleted or unknown note are refused."""
    note = store.create_note("Gone", published=True)
    store.delete_note(note["id"])
    with pytest.raises(LookupError):
        store.update_note(note["id"], "Back?", published=True)
    with pytest.raises(LookupError):
        store.delete_note(note["id"])
    with pytest.raises(LookupError):
        store.update_note(9999, "Nothing", published=True)


def test_every_write_changes_the_content_state(ctx):
    """Create, edit and delete each move the generation every worker's cache checks."""
    start, _ = store.content_state()
    note = store.create_note("Count me", published=True)
    after_create, _ = store.content_state()
    store.update_note(note["id"], "Count me again", published=True)
    after_edit, _ = store.content_state()
    store.delete_note(note["id"])
    after_delete, changed_at = store.content_state()
    assert start < after_create < after_edit < after_delete
    assert changed_at == store.get_note(note["id"], include_deleted=True)["deleted_at"]


@pytest.mark.parametrize("content", ["", "   ", "\n\n\t", None])
def test_empty_content_is_refused(content):
    """A note needs some text."""
    with pytest.raises(NoteError, match="needs some text"):
        store.validate_content(content, 100_000)


def test_too_long_content_is_refused_with_the_numbers():
    """The author is told the limit and how long the note is."""
    with pytest.raises(NoteError) as error:
        store.validate_content("x" * 100_001, 100_000)
    assert "100,000" in str(error.value) and "100,001" in str(error.value)


def test_content_at_the_limit_is_accepted():
    """Exactly the maximum length is fine."""
    assert len(store.validate_content("x" * 100_000, 100_000)) == 100_000


def test_line_endings_are_normalised():
    """Windows and old Mac line endings are stored as \\n (and counted that way)."""
    assert store.validate_content("a\r\nb\rc", 10) == "a\nb\nc"
    assert store.validate_content("a\r\n" * 5, 10) == "a\n" * 5


def test_iter_all_notes_includes_drafts_and_deleted_oldest_first(app, add_notes):
    """Export and backup see every note."""
    from starpunk.db import connect

    (published,) = add_notes(["Published one"])
    (draft,) = add_notes(["Draft one"], published=False)
    with app.app_context():
        store.delete_note(published["id"])
    conn = connect(app.config["DATA_PATH"])
    try:
        assert [row["id"] for row in store.iter_all_notes(conn)] == [published["id"], draft["id"]]
    finally:
        conn.close()
