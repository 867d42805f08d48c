"""Restoring a backup in place of the database, from a file or standard input, refusing anything but a sound one."""

import io
import subprocess
import sys

import pytest

from starpunk import restore

ROOT_OF_REPO = restore.__file__.rsplit("/starpunk/", 1)[0]


@pytest.fixture
def backup(app, add_notes, tmp_path):
    """Return the bytes of a real backup of a site holding one note."""
    add_notes(["Came back from a backup"])
    target = tmp_path / "backup.db"
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    return target.read_bytes()


@pytest.fixture
def stale_site(tmp_path):
    """Return the database path of another site, with a write-ahead log and shared-memory file of its own."""
    folder = tmp_path / "other"
    folder.mkdir()
    database = folder / "starpunk.db"
    database.write_bytes(b"the old database")
    for suffix in ("-wal", "-shm"):
        (folder / f"starpunk.db{suffix}").write_bytes(b"old")
    return database


def test_restore_from_standard_input_serves_the_backup(backup, stale_site, make_app):
    """`python3 -m starpunk.restore DATABASE < backup`: the site started on it shows the note; the old WAL is gone."""
    result = subprocess.run(
        [sys.executable, "-m", "starpunk.restore", str(stale_site)],
        input=backup,
        capture_output=True,
        cwd=ROOT_OF_REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert stale_site.read_bytes() == backup
    assert sorted(path.name for path in stale_site.parent.iterdir()) == ["starpunk.db"]
    app = make_app(DATA_PATH=str(stale_site.parent))
    assert "Came back from a backup" in app.test_client().get("/").text


def test_restore_from_a_file(backup, stale_site, tmp_path):
    """With BACKUP named, the backup is read from that file."""
    source = tmp_path / "copy.db"
    source.write_bytes(backup)
    assert restore.main([str(stale_site), str(source)]) == 0
    assert stale_site.read_bytes() == backup


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"not a database at all, just text" * 200, "not a StarPunk database"), (b"", "no notes table")],
)
def test_a_broken_backup_leaves_the_database_alone(stale_site, capsys, monkeypatch, content, reason):
    """Text, or an empty file, is refused with one line, and the database and its WAL stay as they were."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content)))
    assert restore.main([str(stale_site)]) == 1
    error = capsys.readouterr().err
    assert reason in error
    assert error.startswith("starpunk: restore failed:") and "the database was not changed" in error, error
    assert stale_site.read_bytes() == b"the old database"
    assert sorted(path.name for path in stale_site.parent.iterdir()) == [
        "starpunk.db",
        "starpunk.db-shm",
        "starpunk.db-wal",
    ]


def test_missing_backup_file_and_unwritable_folder_are_one_line(stale_site, tmp_path, capsys):
    """A backup that is not there, or a folder that takes no write, fail with one line each; usage without arguments."""
    assert restore.main([str(stale_site), str(tmp_path / "missing.db")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert restore.main([str(tmp_path / "no-such-folder" / "starpunk.db"), str(stale_site)]) == 1
    assert "cannot write" in capsys.readouterr().err
    assert restore.main([]) == 1
    assert capsys.readouterr().err.startswith("usage:")
