"""Notes survive a restart, a new container on the same volume and a bind-mounted host folder."""

import os
import uuid
from pathlib import Path

import pytest

from testkit.site import APP_UID, Lab, Site

FEEDS = ("/feed.xml", "/feed.atom", "/feed.json")


def write_notes(site: Site) -> list[str]:
    """Publish three notes with unique markers through the admin form; return the markers."""
    owner = site.sign_in()
    markers = [f"persist-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    for marker in markers:
        owner.publish(f"Note {marker} should outlive its container.")
    return markers


def assert_notes_served(site: Site, markers: list[str]) -> None:
    """Check that every marker is on the home page and in every feed."""
    for path in ("/", *FEEDS):
        body = site.get(path).text
        missing = [marker for marker in markers if marker not in body]
        assert not missing, f"{path} lacks {missing}"


def host_folder_for_app(path: Path) -> Path:
    """Create a host folder the container's user (UID 1000) owns."""
    path.mkdir()
    if os.geteuid() == 0:
        os.chown(path, APP_UID, APP_UID)
    elif os.getuid() != APP_UID:
        pytest.skip(f"needs root (to chown) or UID {APP_UID} to make a folder the container can write")
    return path


def test_notes_survive_restart(lab: Lab) -> None:
    """Stopping and starting the same container keeps every note."""
    site = lab.site()
    markers = write_notes(site)
    assert_notes_served(site, markers)
    site.restart()
    assert_notes_served(site, markers)


def test_notes_survive_new_container_on_same_volume(lab: Lab) -> None:
    """A new container on the old container's volume serves every note."""
    volume = lab.volume()
    first = lab.site(volume)
    markers = write_notes(first)
    first.stop()
    first.remove()
    second = lab.site(volume)
    assert_notes_served(second, markers)


def test_notes_survive_in_bind_mounted_host_folder(lab: Lab, tmp_path: Path) -> None:
    """A host folder owned by UID 1000 holds the database, and a new container serves its notes."""
    folder = host_folder_for_app(tmp_path / "data")
    first = lab.site(folder)
    markers = write_notes(first)
    first.stop()
    first.remove()
    database = folder / "starpunk.db"
    assert database.is_file()
    assert database.stat().st_uid == APP_UID
    second = lab.site(folder)
    assert_notes_served(second, markers)


def test_unwritable_host_folder_stops_with_one_clear_line(lab: Lab, tmp_path: Path) -> None:
    """A host folder the container cannot write stops it at once with one line naming the UID and the fix."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    site = lab.site(folder, wait=False)
    assert site.wait_exit() != 0
    # The engine may report the exit before it has collected the last output.
    site.wait_for_log("chown")
    lines = [line for line in site.logs().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"UID {APP_UID}" in lines[0]
    assert "chown" in lines[0]
    assert "Traceback" not in lines[0]
