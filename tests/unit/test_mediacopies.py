"""media_copies: every stored photo's bytes in the database beside its file, gone with a discarded upload."""

import io
import sqlite3

import pytest

from starpunk import media, mediacopies
from tests.unit.conftest import image_bytes


def save(app, data):
    """Store data as an upload inside an app context and return the StoredMedia."""
    with app.test_request_context():
        return media.save_upload(io.BytesIO(data))


def test_a_stored_photo_is_kept_byte_for_byte_in_the_database(app, database, data_path):
    """The bytes in media_copies are the bytes of the file served, under the same name."""
    stored = save(app, image_bytes("PNG"))
    row = database.execute("SELECT data, stored_at FROM media_copies WHERE name = ?", (stored.name,)).fetchone()
    assert row["data"] == (data_path / "media" / stored.name).read_bytes()
    assert row["stored_at"] == mediacopies.newest(database)


def test_a_discarded_upload_leaves_no_copy(app, database):
    """A photo whose note was not saved goes from the folder and from the database."""
    stored = save(app, image_bytes("PNG"))
    with app.test_request_context():
        media.discard([stored.name])
    assert mediacopies.names(database) == set()


def test_a_refused_copy_leaves_no_file(app, monkeypatch, data_path):
    """When the database refuses the copy (a full disk), the upload fails as a 503 and its file goes too."""

    def refuse(conn, name, data):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(mediacopies, "keep", refuse)
    with pytest.raises(media.MediaStorageError, match="database refused"):
        save(app, image_bytes("PNG"))
    assert [path.name for path in (data_path / "media").iterdir()] == []


def test_a_copy_that_cannot_be_removed_keeps_the_notes_error(app, monkeypatch, caplog):
    """discard logs a database that refuses the removal instead of raising over the note's own error."""
    stored = save(app, image_bytes("PNG"))

    def refuse(conn, names):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(mediacopies, "forget", refuse)
    with app.test_request_context():
        media.discard([stored.name])
    assert "could not remove the database copies of 1 discarded photo(s)" in caplog.text
