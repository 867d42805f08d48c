"""The deployment guide, run as written: its tested shell blocks in order, backup then restore, and its error texts.

The blocks use fixed names (container `starpunk`, volume `starpunk-data`,
port 8000, image `starpunk:latest`); each run substitutes unique ones so it
touches nothing of a real installation on the same machine.
"""

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from testkit import cli
from testkit.cli import CliSite
from testkit.env import site_env
from testkit.owner import Owner
from testkit.ports import free_port, loopback_url
from testkit.site import unique_name
from tests.deploy import guide

# What each tested block does, recognised by a string only it contains, in the order the guide must have them.
ROLES = {
    "run": "docker volume create",
    "wait": "/health",
    "login": "login-link",
    "backup": "backup /data/backups/starpunk-backup.db",
    "export": "export /data/export",
    "restore": "docker start",
    "upgrade": "before-upgrade.db",
}
IMAGE_SLOT = "@IMAGE@"
NOTE_ROWS = "SELECT id, slug, content, published, published_at, deleted_at FROM notes ORDER BY id"


class Deployment:
    """The guide's names made unique for one run, and a way to run its blocks in a folder of their own."""

    def __init__(self, folder: Path, image: str, labels: dict[str, str]) -> None:
        self.folder = folder
        self.image = image
        self.labels = labels
        self.container = unique_name()
        self.volume = unique_name()
        self.port = free_port()
        self.blocks = guide.blocks_by_role(guide.MARKER, ROLES)
        # The container the blocks start, followed by name (its logs go into failure reports).
        self.site = CliSite({}, name=self.container, port=self.port)

    @property
    def base_url(self) -> str:
        """Return where the guide's container is published."""
        return loopback_url(self.port)

    def localise(self, script: str) -> str:
        """Return script with this run's container, volume, port and image in place of the guide's.

        This run's labels are added too.
        """
        script = script.replace("starpunk:latest", IMAGE_SLOT).replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        script = script.replace("starpunk-data", self.volume)
        script = guide.labelled(script, self.labels)
        script = guide.CONTAINER.sub(self.container, script)
        assert not guide.LEFT_OVER.search(script), f"a fixed name is left in:\n{script}"
        return script.replace(IMAGE_SLOT, self.image)

    def run(self, role: str) -> subprocess.CompletedProcess[str]:
        """Run the guide's block for role as written (with this run's names) and return its result; fail if it fails."""
        block = self.blocks[role]
        return guide.run_block(role, block, self.localise(block.script), self.folder)

    def notes(self) -> list[tuple[Any, ...]]:
        """Return every row of the running container's notes table (drafts and deleted ones too), ordered by id."""
        return [tuple(row) for row in self.site.sqlite(NOTE_ROWS)]

    def feed(self) -> list[tuple[str, str]]:
        """Return the (url, content) of each item in the JSON Feed."""
        reply = self.site.get("/feed.json")
        assert reply.status_code == 200
        return [(item["url"], item["content_html"]) for item in reply.json()["items"]]

    def remove(self) -> None:
        """Remove the container and its volume, whatever state they are in."""
        self.site.remove()
        cli.remove_volume("docker", self.volume)


@pytest.fixture
def deployment(tmp_path: Path, image_tag: str, image: object, run_labels: dict[str, str]) -> Iterator[Deployment]:
    """A folder to run the guide in, with its container and volume removed afterwards.

    image is asked for because it must be in the engine.
    """
    deployment = Deployment(tmp_path, image_tag, run_labels)
    try:
        yield deployment
    finally:
        deployment.remove()
        shutil.rmtree(tmp_path, ignore_errors=True)  # the env file's secret, the backup, the export


def test_guide_blocks_run_and_restore_brings_back_every_note(deployment: Deployment) -> None:
    """Quick start, backup, export, restore and upgrade as written; the restore returns the notes as backed up."""
    deployment.run("run")
    deployment.site.follow()
    assert '"status":"healthy"' in deployment.run("wait").stdout.replace(" ", "")
    link = deployment.run("login").stdout.strip().splitlines()[-1]
    author = Owner(deployment.base_url, link)
    slugs = [author.publish(f"Note {number} from the guide's quick start.") for number in range(1, 4)]
    author.publish("A draft the backup must keep too.", published=False)
    author.delete(slugs[0])
    backed_up, feed_backed_up = deployment.notes(), deployment.feed()

    deployment.run("backup")
    with closing(sqlite3.connect(deployment.folder / "starpunk-backup.db")) as copy:
        rows = copy.execute(NOTE_ROWS).fetchall()
    assert rows == backed_up, "the backup on the host should hold exactly the notes at backup time"

    later = author.publish("Written after the backup: the restore drops it.")
    author.delete(slugs[1])
    assert deployment.notes() != backed_up
    deployment.run("export")
    exported = [path.read_text() for path in (deployment.folder / "starpunk-export").rglob("*.md")]
    assert any("Written after the backup" in text for text in exported), "export should write the newest note"

    deployment.run("restore")
    deployment.site.wait_healthy()
    assert deployment.notes() == backed_up
    assert deployment.feed() == feed_backed_up
    assert deployment.site.get(f"/note/{later}").status_code == 404
    assert deployment.site.get(f"/note/{slugs[1]}").status_code == 200

    before = deployment.site.inspect()["Id"]
    deployment.run("upgrade")
    deployment.site.wait_healthy()
    assert deployment.site.inspect()["Id"] != before
    assert deployment.notes() == backed_up, "the new container should serve the same volume"


def _start_failure(image: str, labels: dict[str, str], *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = site_env(site_url="https://blog.example.com", **env)
    return cli.run(
        "docker",
        "run",
        "--rm",
        *cli.label_args(labels),
        *options,
        *cli.env_args(settings),
        image,
        check=False,
        timeout=60,
    )


def test_permission_error_is_the_guides(
    image_tag: str, image: object, run_labels: dict[str, str], tmp_path: Path
) -> None:
    """A root-owned bind mount stops the container with the line the guide quotes."""
    folder = tmp_path / "root-owned"
    folder.mkdir(mode=0o755)
    assert folder.stat().st_uid == 0, "run as root: the folder must belong to root, not to UID 1000"
    try:
        result = _start_failure(image_tag, run_labels, "--volume", f"{folder}:/data")
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert result.returncode == 73
    assert result.stderr.strip() == guide.quoted_in("/data is not writable")[0]


def test_dev_mode_error_is_the_guides(image_tag: str, image: object, run_labels: dict[str, str]) -> None:
    """DEV_MODE=true in production stops the start with the line the guide quotes."""
    result = _start_failure(image_tag, run_labels, DEV_MODE="true")
    assert result.returncode != 0
    assert result.stderr.strip() == guide.quoted_in("DEV_MODE=true is refused")[0]


def test_http_site_url_error_is_the_guides(image_tag: str, image: object, run_labels: dict[str, str]) -> None:
    """An http SITE_URL in production stops the start with the line the guide gives as an example."""
    result = _start_failure(image_tag, run_labels, SITE_URL="http://blog.example.com")
    assert result.returncode != 0
    line = result.stderr.strip()
    assert line.startswith("starpunk: configuration error: SITE_URL")
    assert f"`{line}`" in guide.text()
