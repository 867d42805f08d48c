"""A site installed as the deployment guide installs it, changed by the guide's own blocks run with this test's names.

The guide's blocks use fixed names: the container `starpunk` (and
`starpunk-next` beside it), the volume `starpunk-data`, ports 8000 and 8001,
`starpunk.env`, the images `starpunk:latest` (the new one) and
`starpunk:X.Y.Z` (the previous one), and nginx's files under /etc and /run.
Each test substitutes its own for them, labels what `docker run` and `docker
volume create` make so a sweep finds leftovers, and runs the blocks with bash
as written otherwise.
"""

import re
import shlex
import subprocess
from pathlib import Path

from harness.proxy import ProxyServer
from testkit import cli, runs
from testkit.cli import CliSite
from testkit.ports import free_port
from testkit.site import unique_name
from tests.deploy import guide

# The blocks this suite runs, each recognised by a string only it contains, in the guide's order.
GUIDE_ROLES = {"run": "docker volume create", "upgrade": "before-upgrade.db"}
UPGRADE_ROLES = {
    "start_next": "--name starpunk-next",
    "switch": "nginx -s reload",
    "retire": "docker rename",
    "rollback": "previous=",
}
PREVIOUS_TAG = re.compile(r"\bstarpunk:\d+\.\d+\.\d+\b")
NGINX_COMMAND = re.compile(r"(?<![\w/.-])nginx (?=-)")


class Installation:
    """The guide's names made unique for one test, a folder to run its blocks in, and the sites they start."""

    def __init__(self, folder: Path, image: str, previous_image: str, labels: dict[str, str]) -> None:
        self.folder = folder
        self.image = image
        self.previous_image = previous_image
        self.labels = labels
        self.container = unique_name("starpunk-upgrade")
        self.next_container = self.container + "-next"
        self.volume = unique_name("starpunk-upgrade-data")
        self.port = free_port()
        self.next_port = free_port()
        self.proxy: ProxyServer | None = None
        self.guide_blocks = guide.blocks_by_role(guide.MARKER, GUIDE_ROLES, exact=False)
        self.upgrade_blocks = guide.blocks_by_role(guide.UPGRADE_MARKER, UPGRADE_ROLES)

    def localise(self, script: str, latest: str) -> str:
        """Return a guide block with this test's names, latest standing for starpunk:latest."""
        script = script.replace("starpunk:latest", "@LATEST@")
        script = PREVIOUS_TAG.sub("@PREVIOUS@", script)
        script = script.replace("starpunk-next", "@NEXT@").replace("starpunk-data", "@VOLUME@")
        script = script.replace("127.0.0.1:8001", f"127.0.0.1:{self.next_port}").replace(
            "127.0.0.1:8000", f"127.0.0.1:{self.port}"
        )
        script = guide.labelled(script, self.labels)
        if self.proxy is not None:
            script = script.replace("/etc/nginx/conf.d/starpunk.conf", str(self.proxy.workdir / "starpunk.conf"))
            script = script.replace("/run/nginx.pid", str(self.proxy.workdir / "nginx.pid"))
            script = NGINX_COMMAND.sub(shlex.join(self.proxy.control_command()) + " ", script)
        script = guide.CONTAINER.sub(self.container, script)
        assert not guide.LEFT_OVER.search(script), f"a fixed name is left in:\n{script}"
        replacements = {
            "@LATEST@": latest,
            "@PREVIOUS@": self.previous_image,
            "@NEXT@": self.next_container,
            "@VOLUME@": self.volume,
        }
        for slot, value in replacements.items():
            script = script.replace(slot, value)
        return script

    def run(self, role: str, latest: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the guide's block for role with bash (set -euo pipefail) and return its result; fail if it fails."""
        block = self.guide_blocks.get(role) or self.upgrade_blocks[role]
        return guide.run_block(role, block, self.localise(block.script, latest or self.image), self.folder)

    def settings(self) -> dict[str, str]:
        """Return the settings in starpunk.env, as the guide's blocks pass them to the containers."""
        lines = (self.folder / "starpunk.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))

    def write_settings(self, settings: dict[str, str]) -> None:
        """Write starpunk.env, as the guide's quick start has the reader do."""
        (self.folder / "starpunk.env").write_text("".join(f"{key}={value}\n" for key, value in settings.items()))

    def start(self, image: str) -> CliSite:
        """Create the volume and run the container as the guide's quick start does.

        With the settings in starpunk.env.
        """
        labels = cli.label_args(self.labels)
        cli.run("docker", "volume", "create", *labels, self.volume)
        cli.run(
            "docker",
            "run",
            "-d",
            "--name",
            self.container,
            *labels,
            "--env-file",
            str(self.folder / "starpunk.env"),
            "-v",
            f"{self.volume}:/data",
            "-p",
            f"127.0.0.1:{self.port}:8000",
            "--restart",
            "unless-stopped",
            image,
        )
        site = self.site()
        site.wait_healthy()
        return site

    def site(self, name: str = "", port: int = 0) -> CliSite:
        """Return a container the blocks started.

        By default the one named `starpunk` in the guide, on port 8000's stand-in.
        """
        return CliSite(self.settings(), name=name or self.container, port=port or self.port).follow()

    def remove(self) -> None:
        """Remove both containers and the volume, whatever state they are in."""
        for name in (self.container, self.next_container):
            runs.untrack(name)
            cli.run("docker", "rm", "--force", name, check=False)
        cli.remove_volume("docker", self.volume)
