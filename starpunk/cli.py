"""Operator commands: backup and export (init-db and login-link live with their modules)."""

import json
import os
import sqlite3
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .db import connect
from .store import count_all_notes, iter_all_notes


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
    click.echo(f"Backed up {count} note(s) to {file}")


def _front_matter(note):
    fields = {
        "slug": note["slug"],
        "published": bool(note["published"]),
        "created": note["created_at"],
        "updated": note["updated_at"],
        "published_at": note["published_at"],
        "deleted": note["deleted_at"],
    }
    # JSON scalars are valid YAML, so every value is quoted safely.
    lines = [f"{key}: {json.dumps(value)}" for key, value in fields.items() if value is not None]
    return "---\n" + "\n".join(lines) + "\n---\n"


@click.command("export")
@with_appcontext
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--include-deleted", is_flag=True, help="Also export notes that were deleted.")
def export_command(directory, include_deleted):
    """Write every note as Markdown with front matter under DIRECTORY/YYYY/MM/slug.md."""
    conn = connect(current_app.config["DATA_PATH"])
    written = 0
    try:
        for note in iter_all_notes(conn):
            if note["deleted_at"] and not include_deleted:
                continue
            year, month = note["created_at"][:4], note["created_at"][5:7]
            target = directory / year / month / f"{note['slug']}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_front_matter(note) + "\n" + note["content"] + "\n", encoding="utf-8")
            written += 1
    finally:
        conn.close()
    click.echo(f"Exported {written} note(s) to {directory}")


def init_app(app):
    """Register the operator commands."""
    app.cli.add_command(backup_command)
    app.cli.add_command(export_command)
