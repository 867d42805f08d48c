"""The deployment guide, run as written: its tested shell blocks in order, backup then restore, and its error texts.

The blocks use fixed names (container `starpunk`, volume `starpunk-data`,
port 8000, image `starpunk:latest`); each run substitutes unique ones so it
touches nothing of a real installation on the same machine.
"""

import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import guide
import pytest
from deployed import Author, note_rows, plain_session, production_env, run, unique_name, wait_for

from harness.deploy import free_port, loopback_env

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
CONTAINER = re.compile(r"(?<![\w./-])(?<!--app )starpunk(?=\s|\)|$|:/)", re.MULTILINE)
LEFT_OVER = re.compile(r"(?<![\w./-])(?<!--app )starpunk(?![\w.-])")
IMAGE_SLOT = "@IMAGE@"
BLOCK_TIMEOUT = 180


class Deployment:
    """The guide's names made unique for one run, and a way to run its blocks in a folder of their own."""

    def __init__(self, folder: Path, image: str) -> None:
        self.folder = folder
        self.image = image
        self.container = unique_name()
        self.volume = unique_name()
        self.port = free_port()
        self.blocks = self._blocks_by_role()

    @property
    def base_url(self) -> str:
        """Return where the guide's container is published."""
        return f"http://127.0.0.1:{self.port}"

    def _blocks_by_role(self) -> dict[str, guide.Block]:
        found = {}
        for block in guide.tested_blocks():
            roles = [role for role, key in ROLES.items() if key in block.script]
            assert len(roles) == 1, f"guide block at line {block.line} should match one role of {list(ROLES)}, matches {roles}"
            found[roles[0]] = block
        assert list(found) == list(ROLES), f"the guide's tested blocks should be {list(ROLES)} in this order, found {list(found)}"
        return found

    def localise(self, script: str) -> str:
        """Return script with this run's container, volume, port and image in place of the guide's."""
        script = script.replace("starpunk:latest", IMAGE_SLOT).replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        script = script.replace("starpunk-data", self.volume)
        script = CONTAINER.sub(self.container, script)
        assert not LEFT_OVER.search(script), f"a fixed name is left in:\n{script}"
        return script.replace(IMAGE_SLOT, self.image)

    def run(self, role: str) -> subprocess.CompletedProcess:
        """Run the guide's block for role with bash (set -euo pipefail) and return its result; fail if it fails."""
        block = self.blocks[role]
        script = "set -euo pipefail\n" + self.localise(block.script)
        result = subprocess.run(["bash", "-c", script], cwd=self.folder, env=loopback_env(), capture_output=True,
                                text=True, timeout=BLOCK_TIMEOUT, check=False)
        assert result.returncode == 0, (
            f"guide block `{role}` (line {block.line}) exited {result.returncode}:\n{script}\n"
            f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
        )
        return result

    def notes(self) -> list[tuple]:
        """Return every row of the running container's notes table."""
        return note_rows("docker", self.container)

    def feed(self) -> list[tuple[str, str]]:
        """Return the (url, content) of each item in the JSON Feed."""
        reply = plain_session().get(self.base_url + "/feed.json", timeout=10)
        assert reply.status_code == 200
        return [(item["url"], item["content_html"]) for item in reply.json()["items"]]

    def wait_healthy(self) -> None:
        """Wait until the container answers /health with 200."""
        wait_for(self.base_url + "/health", plain_session())

    def remove(self) -> None:
        """Remove the container and its volume, whatever state they are in."""
        run("docker", "rm", "--force", self.container, check=False)
        run("docker", "volume", "rm", "--force", self.volume, check=False)


@pytest.fixture
def deployment(tmp_path: Path, image: str) -> Iterator[Deployment]:
    """A folder to run the guide in, with its container and volume removed afterwards."""
    deployment = Deployment(tmp_path, image)
    try:
        yield deployment
    finally:
        deployment.remove()
        shutil.rmtree(tmp_path, ignore_errors=True)  # the env file's secret, the backup, the export


def test_guide_blocks_run_and_restore_brings_back_every_note(deployment: Deployment) -> None:
    """Quick start, backup, export, restore and upgrade as written; the restore returns the notes as backed up."""
    deployment.run("run")
    assert '"status":"healthy"' in deployment.run("wait").stdout.replace(" ", "")
    link = deployment.run("login").stdout.strip().splitlines()[-1]
    author = Author(deployment.base_url, link)
    slugs = [author.publish(f"Note {number} from the guide's quick start.") for number in range(1, 4)]
    author.publish("A draft the backup must keep too.", published=False)
    author.delete(slugs[0])
    backed_up, feed_backed_up = deployment.notes(), deployment.feed()

    deployment.run("backup")
    with sqlite3.connect(deployment.folder / "starpunk-backup.db") as copy:
        rows = copy.execute("SELECT id, slug, content, published, published_at, deleted_at FROM notes ORDER BY id").fetchall()
    assert rows == backed_up, "the backup on the host should hold exactly the notes at backup time"

    later = author.publish("Written after the backup: the restore drops it.")
    author.delete(slugs[1])
    assert deployment.notes() != backed_up
    deployment.run("export")
    exported = [path.read_text() for path in (deployment.folder / "starpunk-export").rglob("*.md")]
    assert any("Written after the backup" in text for text in exported), "export should write the newest note"

    deployment.run("restore")
    deployment.wait_healthy()
    assert deployment.notes() == backed_up
    assert deployment.feed() == feed_backed_up
    site = plain_session()
    assert site.get(f"{deployment.base_url}/note/{later}", timeout=10).status_code == 404
    assert site.get(f"{deployment.base_url}/note/{slugs[1]}", timeout=10).status_code == 200

    before = run("docker", "inspect", "--format", "{{.Id}}", deployment.container).stdout
    deployment.run("upgrade")
    deployment.wait_healthy()
    assert run("docker", "inspect", "--format", "{{.Id}}", deployment.container).stdout != before
    assert deployment.notes() == backed_up, "the new container should serve the same volume"


def _start_failure(image: str, *options: str, **env: str) -> subprocess.CompletedProcess:
    settings = production_env("https://blog.example.com", **env)
    environment = [arg for key, value in settings.items() for arg in ("--env", f"{key}={value}")]
    return run("docker", "run", "--rm", *options, *environment, image, check=False, timeout=60)


def test_permission_error_is_the_guides(image: str, tmp_path: Path) -> None:
    """A root-owned bind mount stops the container with the line the guide quotes."""
    folder = tmp_path / "root-owned"
    folder.mkdir(mode=0o755)
    assert folder.stat().st_uid == 0, "run as root: the folder must belong to root, not to UID 1000"
    try:
        result = _start_failure(image, "--volume", f"{folder}:/data")
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert result.returncode == 73
    assert result.stderr.strip() == guide.quoted_in("/data is not writable")[0]


def test_dev_mode_error_is_the_guides(image: str) -> None:
    """DEV_MODE=true in production stops the start with the line the guide quotes."""
    result = _start_failure(image, DEV_MODE="true")
    assert result.returncode != 0
    assert result.stderr.strip() == guide.quoted_in("DEV_MODE=true is refused")[0]


def test_http_site_url_error_is_the_guides(image: str) -> None:
    """An http SITE_URL in production stops the start with the line the guide gives as an example."""
    result = _start_failure(image, SITE_URL="http://blog.example.com")
    assert result.returncode != 0
    line = result.stderr.strip()
    assert line.startswith("starpunk: configuration error: SITE_URL")
    assert f"`{line}`" in guide.text()
