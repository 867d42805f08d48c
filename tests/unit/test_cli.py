"""Operator commands: an online backup and a Markdown export of every note."""

import json
import sqlite3
from contextlib import closing

import pytest

from starpunk import store


@pytest.fixture
def runner(app):
    """Return a CLI runner for the app (as `flask --app starpunk ...`)."""
    return app.test_cli_runner()


def read_front_matter(path):
    """Return (fields, body) of an exported note file."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    fields = {}
    for line in header.splitlines():
        key, value = line.split(": ", 1)
        fields[key] = json.loads(value)
    return fields, body


def test_backup_is_a_consistent_copy_while_a_reader_is_open(runner, add_notes, database, tmp_path):
    """backup writes a complete, intact SQLite file while another connection is reading."""
    add_notes([f"Backed up {n}" for n in range(7)])
    add_notes(["A draft too"], published=False)
    database.execute("BEGIN")
    assert database.execute("SELECT count(*) FROM notes").fetchone()[0] == 8  # holds a read snapshot
    target = tmp_path / "backups" / "site.db"
    try:
        result = runner.invoke(args=["backup", str(target)])
    finally:
        database.execute("COMMIT")
    assert result.exit_code == 0, result.output
    assert "Backed up 8 note(s)" in result.output
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM notes").fetchone()[0] == 8
        contents = {row[0] for row in copy.execute("SELECT content FROM notes")}
    finally:
        copy.close()
    assert "Backed up 6" in contents and "A draft too" in contents
    assert not list(target.parent.glob("*.partial"))


def test_backup_leaves_out_a_write_still_in_progress(runner, add_notes, database, tmp_path):
    """An uncommitted write is not in the backup: the copy is one committed state."""
    add_notes(["Committed"])
    database.execute("BEGIN IMMEDIATE")
    database.execute(
        "INSERT INTO notes (slug, content, published, created_at, updated_at) VALUES ('half', 'Half', 0, 'x', 'x')"
    )
    try:
        result = runner.invoke(args=["backup", str(tmp_path / "b.db")])
    finally:
        database.execute("ROLLBACK")
    assert result.exit_code == 0, result.output
    copy = sqlite3.connect(tmp_path / "b.db")
    try:
        assert [row[0] for row in copy.execute("SELECT content FROM notes")] == ["Committed"]
    finally:
        copy.close()


def test_backup_replaces_an_older_backup(runner, add_notes, tmp_path):
    """Backing up to an existing file replaces it with the current state."""
    target = tmp_path / "site.db"
    target.write_bytes(b"old backup")
    add_notes(["Fresh"])
    assert runner.invoke(args=["backup", str(target)]).exit_code == 0
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("SELECT count(*) FROM notes").fetchone()[0] == 1
    finally:
        copy.close()


def test_a_restored_backup_serves_the_same_site(runner, add_notes, make_app, tmp_path):
    """The backup file is a working database: a site started on it shows the notes."""
    add_notes(["Survives a restore"])
    restored = tmp_path / "restored"
    restored.mkdir()
    assert runner.invoke(args=["backup", str(restored / "starpunk.db")]).exit_code == 0
    app = make_app(DATA_PATH=str(restored))
    assert "Survives a restore" in app.test_client().get("/").text


def test_export_writes_every_note_as_markdown_with_front_matter(app, runner, add_notes, database, tmp_path):
    """export writes DIR/YYYY/MM/slug.md for each note, drafts included, deleted ones left out."""
    (published,) = add_notes(["# Trip\n\nWe went to *Lisbon*."])
    (draft,) = add_notes(["Unfinished draft"], published=False)
    (gone,) = add_notes(["Deleted note"])
    (old,) = add_notes(["From last year"])
    with app.app_context():
        store.delete_note(gone["id"])
    database.execute("UPDATE notes SET created_at = '2025-03-09T10:00:00.000000+00:00' WHERE id = ?", (old["id"],))

    result = runner.invoke(args=["export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Exported 3 note(s)" in result.output
    year, month = published["created_at"][:4], published["created_at"][5:7]
    files = sorted(path.relative_to(tmp_path / "out").as_posix() for path in (tmp_path / "out").rglob("*.md"))
    assert files == sorted(
        [
            f"{year}/{month}/trip-we-went-to-lisbon.md",
            f"{year}/{month}/unfinished-draft.md",
            "2025/03/from-last-year.md",
        ]
    )

    fields, body = read_front_matter(tmp_path / "out" / year / month / "trip-we-went-to-lisbon.md")
    assert fields == {
        "slug": "trip-we-went-to-lisbon",
        "published": True,
        "created": published["created_at"],
        "updated": published["updated_at"],
        "published_at": published["published_at"],
    }
    assert body == "\n# Trip\n\nWe went to *Lisbon*.\n"
    draft_fields, _ = read_front_matter(tmp_path / "out" / year / month / "unfinished-draft.md")
    assert draft_fields["published"] is False
    assert "published_at" not in draft_fields


def test_export_include_deleted(app, runner, add_notes, tmp_path):
    """--include-deleted also exports deleted notes, marked with when they were deleted."""
    (gone,) = add_notes(["Deleted but archived"])
    with app.app_context():
        store.delete_note(gone["id"])
    result = runner.invoke(args=["export", "--include-deleted", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "out").rglob("deleted-but-archived.md")
    fields, body = read_front_matter(path)
    assert fields["deleted"]
    assert "Deleted but archived" in body


def test_export_quotes_awkward_text_safely(runner, add_notes, tmp_path):
    """Front matter stays parseable, and the note body is exported byte for byte."""
    content = 'Colons: "quotes", ---\n---\nand unicode ✓'
    add_notes([content])
    runner.invoke(args=["export", str(tmp_path / "out")])
    (path,) = (tmp_path / "out").rglob("*.md")
    fields, body = read_front_matter(path)
    assert fields["slug"] == "colons-quotes-and-unicode"
    assert body == "\n" + content + "\n"


def test_export_of_an_empty_site(runner, tmp_path):
    """Exporting nothing is fine and says so."""
    result = runner.invoke(args=["export", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "Exported 0 note(s)" in result.output


@pytest.fixture
def photo_note(app):
    """Store a published note with two real photo files and tags; return it."""
    from starpunk import media
    from starpunk.photos import Photo
    from tests.unit.conftest import image_bytes

    with app.test_request_context():
        photos = [
            Photo.stored(media.save_upload(image_bytes("PNG", size=(12, 8))), "A small square"),
            Photo.stored(media.save_upload(image_bytes("JPEG", size=(16, 9))), "A wide one"),
        ]
        return store.create_note("Photos to keep", True, tags=["kept", "photos"], photos=photos)


def test_a_restore_brings_every_photo_back(runner, app, photo_note, make_app, tmp_path, capfd):
    """The backup file carries the photo files; a site started on it writes them back and serves them."""
    from starpunk import media

    originals = {
        p.file_name: (media.media_folder(app.config["DATA_PATH"]) / p.file_name).read_bytes()
        for p in photo_note["photos"]
    }
    result = runner.invoke(args=["backup", str(tmp_path / "backup.db")])
    assert result.exit_code == 0, result.output
    assert "Backed up 1 note(s) and 2 photo file(s)" in result.output

    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "starpunk.db").write_bytes((tmp_path / "backup.db").read_bytes())
    site = make_app(DATA_PATH=str(restored))
    assert "restored 2 photo file(s) from the backup" in capfd.readouterr().err
    for name, data in originals.items():
        assert (restored / "media" / name).read_bytes() == data
        response = site.test_client().get(f"/media/{name}")
        body = response.get_data()
        response.close()
        assert response.status_code == 200 and body == data
    page = site.test_client().get(f"/note/{photo_note['slug']}").text
    assert 'alt="A small square"' in page and 'href="/tag/kept"' in page
    # Written back once: the photos leave the database, and the next start has nothing to do.
    with closing(sqlite3.connect(restored / "starpunk.db")) as conn:  # sqlite3's own `with` does not close
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'backup_media'").fetchone()[0] == 0
    make_app(DATA_PATH=str(restored))
    assert "restored" not in capfd.readouterr().err


def test_export_writes_tags_photos_and_the_photo_files(runner, app, photo_note, tmp_path):
    """The export's front matter lists tags and photos (file, alt, size); the files are copied under media/."""
    from starpunk import media

    result = runner.invoke(args=["export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Exported 1 note(s) and 2 photo(s)" in result.output
    (path,) = (tmp_path / "out").rglob("*.md")
    fields, _ = read_front_matter(path)
    assert fields["tags"] == ["kept", "photos"]
    first, second = photo_note["photos"]
    assert fields["photos"] == [
        {"file": f"media/{first.file_name}", "alt": "A small square", "width": 12, "height": 8},
        {"file": f"media/{second.file_name}", "alt": "A wide one", "width": 16, "height": 9},
    ]
    for photo in photo_note["photos"]:
        copied = (tmp_path / "out" / "media" / photo.file_name).read_bytes()
        assert copied == (media.media_folder(app.config["DATA_PATH"]) / photo.file_name).read_bytes()


def test_export_lists_linked_photos_by_url(runner, app, tmp_path):
    """A photo linked from elsewhere is exported as its URL; no file is fetched or written."""
    from starpunk.photos import Photo

    with app.test_request_context():
        store.create_note("Linked", True, photos=[Photo.from_url("https://elsewhere.example/a.jpg", "Far away")])
    runner.invoke(args=["export", str(tmp_path / "out")])
    (path,) = (tmp_path / "out").rglob("*.md")
    fields, _ = read_front_matter(path)
    assert fields["photos"] == [{"url": "https://elsewhere.example/a.jpg", "alt": "Far away"}]
    assert not (tmp_path / "out" / "media").exists()
