"""/health: a JSON answer a container engine can act on, naming what failed and nothing more."""

import errno
import os
import shutil
import tempfile

import pytest

LEAKS = (
    "Traceback",
    "Errno",
    "sqlite",
    "database disk image",
    "not a database",
    "No such file",
    "Read-only file system",
    "No space",
)


def assert_no_exception_text(response):
    """Fail if the body shows anything an exception would have said."""
    for leak in LEAKS:
        assert leak.lower() not in response.get_data(as_text=True).lower(), leak


def test_healthy_site_reports_status_version_and_environment(client):
    """A working site answers 200 JSON with status, version and environment."""
    response = client.get("/health")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "healthy", "version": "0.7.0", "environment": "development"}


def test_version_and_environment_come_from_the_settings(make_app):
    """VERSION and ENVIRONMENT are reported as configured."""
    app = make_app(
        VERSION="1.2.3",
        ENVIRONMENT="production",
        SITE_URL="https://notes.example",
        SESSION_SECRET="z" * 64,
    )
    body = app.test_client().get("/health", base_url="https://notes.example").get_json()
    assert body == {"status": "healthy", "version": "1.2.3", "environment": "production"}


@pytest.mark.parametrize(
    ("code", "reason"), [(errno.EROFS, "not writable"), (errno.EACCES, "not writable"), (errno.ENOSPC, "write failed")]
)
def test_unwritable_data_path_is_503_naming_the_check(client, monkeypatch, code, reason):
    """When nothing can be written under DATA_PATH, /health says so (503) without the OS error."""

    def refuse(*args, **kwargs):
        raise OSError(
            code,
            {
                errno.EROFS: "Read-only file system",
                errno.EACCES: "Permission denied",
                errno.ENOSPC: "No space left on device",
            }[code],
        )

    # Tests run as root here, where chmod cannot make a folder unwritable.
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unhealthy"
    assert body["checks"] == {"database": "ok", "data_path": reason}
    assert_no_exception_text(response)
    assert "Permission denied" not in response.text


def test_removed_database_is_503(client, data_path):
    """A deleted database file fails the database check (and is not recreated)."""
    (data_path / "starpunk.db").unlink()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unavailable", "data_path": "ok"}
    assert not (data_path / "starpunk.db").exists()
    assert_no_exception_text(response)


def test_corrupted_database_is_503(client, data_path):
    """A database file full of garbage fails the database check."""
    (data_path / "starpunk.db").write_bytes(b"garbage, not SQLite " * 500)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable"
    assert_no_exception_text(response)


def test_data_path_replaced_by_a_file_fails_both_checks(client, data_path):
    """If DATA_PATH is gone (here: a plain file in its place), both checks fail, with no OS text."""
    shutil.rmtree(data_path)
    data_path.write_text("not a folder")
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unavailable", "data_path": "write failed"}
    assert_no_exception_text(response)


def test_health_leaves_no_files_behind(client, data_path):
    """The write probe cleans up after itself, even when probed many times."""

    def others():
        return sorted(p.name for p in data_path.iterdir() if not p.name.startswith("starpunk.db"))

    before = others()
    for _ in range(5):
        assert client.get("/health").status_code == 200
    assert others() == before == [".starpunk-volume"]  # the volume marker (starpunk/replication.py), no probe


class Clock:
    """A monotonic clock the test moves by hand (for /health's write-probe window)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """Return the clock /health reads, frozen until the test moves it."""
    from starpunk import health

    ticking = Clock()
    monkeypatch.setattr(health, "monotonic", ticking)
    return ticking


@pytest.fixture
def probes(monkeypatch):
    """Return the list of write probes /health makes from now on (each a real temporary file)."""
    made = []
    real = tempfile.TemporaryFile

    def counting(*args, **kwargs):
        made.append(kwargs.get("dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", counting)
    return made


def test_probes_in_a_loop_write_once_per_window(client, clock, probes):
    """Probes within WRITE_CHECK_SECONDS of a successful write trust it; the next one after writes again."""
    from starpunk.health import WRITE_CHECK_SECONDS

    for _ in range(5):
        assert client.get("/health").status_code == 200
    assert len(probes) == 1
    clock.now += WRITE_CHECK_SECONDS
    assert client.get("/health").status_code == 200
    assert len(probes) == 2


def test_a_disk_failing_after_a_good_probe_shows_once_the_window_ends(client, clock, monkeypatch):
    """A disk that stops taking writes is reported at the first probe after the window (seconds), then every time."""
    from starpunk.health import WRITE_CHECK_SECONDS

    assert client.get("/health").status_code == 200

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    clock.now += WRITE_CHECK_SECONDS
    for _ in range(3):
        response = client.get("/health")
        assert response.status_code == 503
        assert response.get_json()["checks"] == {"database": "ok", "data_path": "write failed"}
    monkeypatch.undo()  # space again: the failure was not remembered, the next probe is healthy
    assert client.get("/health").status_code == 200


def test_a_database_failure_shows_at_the_very_next_probe(client, clock, data_path):
    """Only the write probe is trusted for a moment: the database is asked at every probe."""
    assert client.get("/health").status_code == 200
    (data_path / "starpunk.db").write_bytes(b"garbage, not SQLite " * 500)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unavailable", "data_path": "ok"}


def test_a_failed_write_anywhere_ends_the_trust_at_once(app, client, clock, monkeypatch, owner, token):
    """When a note fails to save for lack of storage, the next probe writes again and says so."""
    assert client.get("/health").status_code == 200
    form = {"csrf_token": token(owner), "content": "On a full disk", "published": "y"}

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    from starpunk import db

    for held in db._held.values():
        held.conn.execute("PRAGMA query_only = ON")  # the database refuses writes, as on a full disk
    assert owner.post("/admin/new", data=form).status_code == 503
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert client.get("/health").status_code == 503


def test_a_folder_that_stops_looking_writable_is_probed_at_once(client, clock, monkeypatch):
    """Within the window, a folder the site may no longer write to (chmod, a read-only remount) is probed at once.

    Tests run as root, whom a mode does not stop: the kernel's answers to the
    site's user are stood in for (access says no, the write is refused).
    """

    def refuse(*args, **kwargs):
        raise OSError(errno.EACCES, "Permission denied")

    assert client.get("/health").status_code == 200
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    assert client.get("/health").status_code == 200, "still writable to the kernel: the window holds"
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "data_path": "not writable"}


def test_a_full_file_system_is_probed_at_once(client, clock, monkeypatch, data_path):
    """Within the window, a file system without free blocks is probed at once (and the failed write reported)."""

    class Full:
        f_bavail = 0

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    assert client.get("/health").status_code == 200
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(os, "statvfs", lambda path: Full())
    assert client.get("/health").get_json()["checks"]["data_path"] == "write failed"
