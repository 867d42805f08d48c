"""Operator commands: an online backup and a Markdown export of every note."""

import json
import sqlite3

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
    published, = add_notes(["# Trip\n\nWe went to *Lisbon*."])
    draft, = add_notes(["Unfinished draft"], published=False)
    gone, = add_notes(["Deleted note"])
    old, = add_notes(["From last year"])
    with app.app_context():
        store.delete_note(gone["id"])
    database.execute("UPDATE notes SET created_at = '2025-03-09T10:00:00.000000+00:00' WHERE id = ?", (old["id"],))

    result = runner.invoke(args=["export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Exported 3 note(s)" in result.output
    year, month = published["created_at"][:4], published["created_at"][5:7]
    files = sorted(path.relative_to(tmp_path / "out").as_posix() for path in (tmp_path / "out").rglob("*.md"))
    assert files == sorted(
        [f"{year}/{month}/trip-we-went-to-lisbon.md", f"{year}/{month}/unfinished-draft.md", "2025/03/from-last-year.md"]
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
    gone, = add_notes(["Deleted but archived"])
    with app.app_context():
        store.delete_note(gone["id"])
    result = runner.invoke(args=["export", "--include-deleted", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    path, = (tmp_path / "out").rglob("deleted-but-archived.md")
    fields, body = read_front_matter(path)
    assert fields["deleted"]
    assert "Deleted but archived" in body


def test_export_quotes_awkward_text_safely(runner, add_notes, tmp_path):
    """Front matter stays parseable, and the note body is exported byte for byte."""
    content = 'Colons: "quotes", ---\n---\nand unicode ✓'
    add_notes([content])
    runner.invoke(args=["export", str(tmp_path / "out")])
    path, = (tmp_path / "out").rglob("*.md")
    fields, body = read_front_matter(path)
    assert fields["slug"] == "colons-quotes-and-unicode"
    assert body == "\n" + content + "\n"


def test_export_of_an_empty_site(runner, tmp_path):
    """Exporting nothing is fine and says so."""
    result = runner.invoke(args=["export", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "Exported 0 note(s)" in result.output
