"""Operator commands: backup, export and render-notes (init-db and login-link live with their modules).

A backup is one SQLite file: the database as it was, plus every photo file in
a ``backup_media`` table. Restoring it is putting it in place of the database;
on the next start ``restore.restore_backed_up_media`` writes the photos back
to DATA_PATH/media and drops the table.
"""

import json
import os
import shutil
import sqlite3
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .db import connect
from .media import NAME, media_folder
from .restore import BACKUP_MEDIA_TABLE
from .store import count_all_notes, iter_all_notes, store_renderings


def _add_media(target, data_path):
    """Copy every stored photo file into the backup; return how many."""
    target.execute(f"CREATE TABLE {BACKUP_MEDIA_TABLE} (name TEXT PRIMARY KEY, data BLOB NOT NULL)")
    count = 0
    folder = media_folder(data_path)
    # Files are never changed once stored, and a note's files are stored
    # before the note: every photo the snapshot names is already here.
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if NAME.match(path.name):
            target.execute(
                f"INSERT INTO {BACKUP_MEDIA_TABLE} (name, data) VALUES (?, ?)", (path.name, path.read_bytes())
            )
            count += 1
    target.commit()
    return count


@click.command("backup")
@with_appcontext
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(file):
    """Write a consistent snapshot of the database to FILE while the site keeps serving."""
    file = file.absolute()
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    source = connect(current_app.config["DATA_PATH"])
    try:
        target = sqlite3.connect(partial)
        try:
            # The backup API copies page by page and restarts if a writer
            # changes the database meanwhile, so the copy is one consistent state.
            source.backup(target)
            photos = _add_media(target, current_app.config["DATA_PATH"])
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            count = count_all_notes(target)
        finally:
            target.close()
    finally:
        source.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"backup failed its integrity check: {check}")
    os.replace(partial, file)
    click.echo(f"Backed up {count} note(s) and {photos} photo file(s) to {file}")


def _photo_fields(photo):
    if photo.file_name:
        return {"file": f"media/{photo.file_name}", "alt": photo.alt, "width": photo.width, "height": photo.height}
    return {"url": photo.url, "alt": photo.alt}


def _front_matter(note):
    fields = {
        "slug": note["slug"],
        "published": bool(note["published"]),
        "created": note["created_at"],
        "updated": note["updated_at"],
        "published_at": note["published_at"],
        "deleted": note["deleted_at"],
        "tags": note["tags"] or None,
        "photos": [_photo_fields(photo) for photo in note["photos"]] or None,
    }
    # JSON scalars are valid YAML, so every value is quoted safely.
    lines = [f"{key}: {json.dumps(value)}" for key, value in fields.items() if value is not None]
    return "---\n" + "\n".join(lines) + "\n---\n"


@click.command("export")
@with_appcontext
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--include-deleted", is_flag=True, help="Also export notes that were deleted.")
def export_command(directory, include_deleted):
    """Write every note as Markdown with front matter to DIRECTORY/YYYY/MM/slug.md, its photos to DIRECTORY/media/."""
    conn = connect(current_app.config["DATA_PATH"])
    source = media_folder(current_app.config["DATA_PATH"])
    written = copied = 0
    try:
        for note in iter_all_notes(conn):
            if note["deleted_at"] and not include_deleted:
                continue
            year, month = note["created_at"][:4], note["created_at"][5:7]
            target = directory / year / month / f"{note['slug']}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_front_matter(note) + "\n" + note["content"] + "\n", encoding="utf-8")
            written += 1
            for photo in note["photos"]:
                if photo.file_name:
                    (directory / "media").mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source / photo.file_name, directory / "media" / photo.file_name)
                    copied += 1
    finally:
        conn.close()
    click.echo(f"Exported {written} note(s) and {copied} photo(s) to {directory}")


@click.command("render-notes")
@with_appcontext
def render_notes_command():
    """Store the HTML of notes written before 0.8.0 or by an older renderer, so reading them renders no Markdown."""
    conn = connect(current_app.config["DATA_PATH"])
    try:
        stored = store_renderings(conn)
    finally:
        conn.close()
    click.echo(f"Stored the HTML of {stored} note(s)")


def init_app(app):
    """Register the operator commands."""
    app.cli.add_command(backup_command)
    app.cli.add_command(export_command)
    app.cli.add_command(render_notes_command)
