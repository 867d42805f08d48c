"""The guide's replication blocks, run as written against SeaweedFS: start, watch, lose it all, restore.

The blocks use the guide's fixed names (containers `starpunk` and
`starpunk-litestream`, volumes `starpunk-data` and `starpunk-then`, port 8000,
the `:latest` images); each run substitutes its own. One change is not a
name: the sidecar joins the host's network (`--network host`), because the
object store of the test listens on 127.0.0.1, which a container on Docker's
bridge cannot reach; a real store is reached over the network as written.
"""

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from testkit import cli
from testkit.cli import CliSite
from testkit.env import site_env
from testkit.objectstore import ObjectStore
from testkit.owner import Owner
from testkit.ports import free_port, loopback_url
from testkit.samples import png, publish_with_photos
from testkit.site import unique_name
from tests.deploy import guide

MARKER = "<!-- replicate-test -->"
ROLES = {
    "run": "docker volume create starpunk-data",
    "watch": "/health/replication",
    "restored": "restored this site",
    "then": "-timestamp",
}
SIDECAR_SLOT, IMAGE_SLOT = "@SIDECAR@", "@IMAGE@"
SETTLE_SECONDS = 2.5  # the sync interval and one upload
NOTES_ON_VOLUME = (
    "import sqlite3; db = sqlite3.connect('/data/starpunk.db');"
    " print([row[0] for row in db.execute('SELECT content FROM notes')])"
)


class Replicated:
    """The guide's names made unique for one run, its env files written, its blocks run in a folder of their own."""

    def __init__(self, folder: Path, image: str, sidecar: str, store: ObjectStore, labels: dict[str, str]) -> None:
        self.folder, self.image, self.sidecar_image, self.labels = folder, image, sidecar, labels
        self.container, self.sidecar = unique_name(), unique_name("starpunk-litestream")
        self.volume, self.then_volume = unique_name(), unique_name()
        self.port = free_port()
        self.blocks = guide.blocks_by_role(MARKER, ROLES)
        self.site = CliSite({}, name=self.container, port=self.port)
        (folder / "starpunk.env").write_text("".join(f"{k}={v}\n" for k, v in site_env().items()))
        settings = store.litestream_env(f"guide-{secrets.token_hex(4)}")
        (folder / "litestream.env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def localise(self, script: str, at: str = "") -> str:
        """Return script with this run's names, images, port, labels (and the point in time at) in place."""
        script = script.replace("starpunk-litestream:latest", SIDECAR_SLOT).replace("starpunk:latest", IMAGE_SLOT)
        script = script.replace("--name starpunk-litestream", f"--name {self.sidecar}")
        script = script.replace("--env-file litestream.env", "--network host --env-file litestream.env")
        script = script.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        script = script.replace("starpunk-data", self.volume).replace("starpunk-then", self.then_volume)
        if at:
            script = script.replace("AT=2026-12-05T09:30:00Z", f"AT={at}")
        script = guide.labelled(script, self.labels)
        script = guide.CONTAINER.sub(self.container, script)
        assert not guide.LEFT_OVER.search(script), f"a fixed name is left in:\n{script}"
        return script.replace(SIDECAR_SLOT, self.sidecar_image).replace(IMAGE_SLOT, self.image)

    def run(self, role: str, at: str = "") -> str:
        """Run the guide's block for role as written (with this run's names); return its output."""
        block = self.blocks[role]
        return guide.run_block(role, block, self.localise(block.script, at), self.folder).stdout

    def lose_everything(self) -> None:
        """SIGKILL the site and the sidecar, remove both and delete the volume (the disaster)."""
        cli.run("docker", "kill", self.container, self.sidecar, check=False)
        cli.run("docker", "rm", "-f", self.container, self.sidecar, check=False)
        cli.remove_volume("docker", self.volume)

    def remove(self) -> None:
        """Remove what the blocks made."""
        self.site.remove()
        cli.run("docker", "rm", "-f", self.sidecar, check=False)
        for volume in (self.volume, self.then_volume):
            cli.remove_volume("docker", volume)


@pytest.fixture
def replicated_guide(
    tmp_path: Path,
    image_tag: str,
    image: object,
    sidecar_image: str,
    objectstore: ObjectStore,
    run_labels: dict[str, str],
) -> Iterator[Replicated]:
    """A folder to run the blocks in, with their containers and volumes removed afterwards."""
    deployment = Replicated(tmp_path, image_tag, sidecar_image, objectstore, run_labels)
    try:
        yield deployment
    finally:
        deployment.remove()
        shutil.rmtree(tmp_path, ignore_errors=True)  # the env files' secrets


def test_the_guides_replication_blocks_restore_a_lost_site_and_a_point_in_time(replicated_guide: Replicated) -> None:
    """Start as written, publish, lose the volume, start again as written: the note and its photo are back."""
    deployment = replicated_guide
    deployment.run("run")
    deployment.site.follow()
    deployment.site.wait_healthy()
    owner = Owner(loopback_url(deployment.port), deployment.site.login_link())
    photo = png(48, 32, (10, 120, 200))
    publish_with_photos(owner, "Before the moment, with a photo", [(photo, "A blue rectangle")])
    time.sleep(SETTLE_SECONDS)
    moment = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    time.sleep(SETTLE_SECONDS)
    assert owner.post_note("After the moment").status_code == 303
    # ok means the bucket holds both notes: the disaster may come at once.
    assert json.loads(deployment.run("watch"))["status"] == "ok"

    deployment.lose_everything()
    deployment.run("run")
    deployment.site.wait_healthy()
    assert "2 note(s), 1 photo file(s) written back" in deployment.run("restored")
    rows = deployment.site.sqlite("SELECT content FROM notes ORDER BY id")
    assert rows == [["Before the moment, with a photo"], ["After the moment"]]
    (name,) = deployment.site.sqlite("SELECT file_name FROM note_photos")[0]
    assert deployment.site.get(f"/media/{name}").content == photo

    deployment.run("then", at=moment)
    found = cli.run(
        "docker",
        "run",
        "--rm",
        "-v",
        f"{deployment.then_volume}:/data",
        *cli.label_args(deployment.labels),
        deployment.image,
        "python3",
        "-c",
        NOTES_ON_VOLUME,
    ).stdout
    assert "Before the moment" in found and "After the moment" not in found
