"""A site installed as the deployment guide installs it, changed by the guide's own blocks run with this test's names.

The guide's blocks use fixed names: the container `starpunk` (and
`starpunk-next` beside it), the volume `starpunk-data`, ports 8000 and 8001,
`starpunk.env`, the images `starpunk:latest` (the new one) and
`starpunk:X.Y.Z` (the previous one), and nginx's files under /etc and /run.
Each test substitutes its own for them, labels what `docker run` and `docker
volume create` make so a sweep finds leftovers, and runs the blocks with bash
as written otherwise.
"""

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

from harness.deploy import loopback_env
from harness.proxy import ProxyServer
from testkit import runs
from testkit.ports import free_port
from testkit.site import Site, unique_name
from tests.deploy import guide

# The blocks this suite runs, each recognised by a string only it contains, in the guide's order.
GUIDE_ROLES = {"run": "docker volume create", "upgrade": "before-upgrade.db"}
UPGRADE_ROLES = {"start_next": "--name starpunk-next", "switch": "nginx -s reload", "retire": "docker rename", "rollback": "previous="}
# The container's name where it stands alone: not flask's `--app starpunk`, not starpunk.env or starpunk:tag.
CONTAINER = re.compile(r"(?<![\w./-])(?<!--app )starpunk(?=\s|\)|$|:/)", re.MULTILINE)
LEFT_OVER = re.compile(r"(?<![\w./-])(?<!--app )starpunk(?![\w.-])")
PREVIOUS_TAG = re.compile(r"\bstarpunk:\d+\.\d+\.\d+\b")
NGINX_COMMAND = re.compile(r"(?<![\w/.-])nginx (?=-)")
BLOCK_TIMEOUT = 180
ENGINE_TIMEOUT = 60


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the docker command line; fail with its output when check and it exits non-zero."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=ENGINE_TIMEOUT, env=loopback_env(), check=False)
    assert not check or result.returncode == 0, f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
    return result


def _blocks(marker: str, roles: dict[str, str], exact: bool) -> dict[str, guide.Block]:
    found: dict[str, guide.Block] = {}
    for block in guide.tested_blocks(marker):
        matches = [role for role, key in roles.items() if key in block.script]
        assert len(matches) <= 1, f"guide block at line {block.line} matches several roles: {matches}"
        if matches:
            found[matches[0]] = block
        else:
            assert not exact, f"the {marker} block at line {block.line} matches no role of {list(roles)}"
    assert list(found) == list(roles), f"the guide's {marker} blocks should include {list(roles)} in this order, found {list(found)}"
    return found


class CliSite(Site):
    """A container the guide's blocks created, driven by its name with the docker command line."""

    def _create_and_start(self) -> None:
        raise NotImplementedError("the guide's blocks create this container")

    def _start_existing(self) -> None:
        docker("start", self.name)

    def _stop(self, timeout: int) -> None:
        docker("stop", "--time", str(timeout), self.name)

    def kill(self, signal: str = "SIGKILL") -> None:
        """Send a signal to the container's main process and return at once."""
        docker("kill", "--signal", signal, self.name)

    def exec(self, *command: str, user: str = "") -> tuple[int, str, str]:
        """Run a command inside the container; return its exit code, stdout and stderr."""
        result = docker("exec", *(("--user", user) if user else ()), self.name, *command, check=False)
        return result.returncode, result.stdout, result.stderr

    def logs(self, tail: int | None = None) -> str:
        """Return the container's stdout and stderr (the last tail lines, or all)."""
        result = docker("logs", *(("--tail", str(tail)) if tail else ()), self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict[str, Any]:
        """Return `docker inspect`'s State, plus RestartCount."""
        found = json.loads(docker("inspect", "--format", "{{json .}}", self.name).stdout)
        return {**found["State"], "RestartCount": found["RestartCount"]}

    def image(self) -> str:
        """Return the image the container was created from, as its `docker run` named it."""
        return docker("inspect", "--format", "{{.Config.Image}}", self.name).stdout.strip()

    def _remove(self) -> None:
        docker("rm", "--force", self.name, check=False)


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
        self.guide_blocks = _blocks(guide.MARKER, GUIDE_ROLES, exact=False)
        self.upgrade_blocks = _blocks(guide.UPGRADE_MARKER, UPGRADE_ROLES, exact=True)

    def localise(self, script: str, latest: str) -> str:
        """Return a guide block with this test's names, latest standing for starpunk:latest."""
        label = " ".join(f"--label {shlex.quote(f'{key}={value}')}" for key, value in self.labels.items())
        script = script.replace("starpunk:latest", "@LATEST@")
        script = PREVIOUS_TAG.sub("@PREVIOUS@", script)
        script = script.replace("starpunk-next", "@NEXT@").replace("starpunk-data", "@VOLUME@")
        script = script.replace("127.0.0.1:8001", f"127.0.0.1:{self.next_port}").replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        script = script.replace("docker run ", f"docker run {label} ").replace("docker volume create", f"docker volume create {label}")
        if self.proxy is not None:
            script = script.replace("/etc/nginx/conf.d/starpunk.conf", str(self.proxy.workdir / "starpunk.conf"))
            script = script.replace("/run/nginx.pid", str(self.proxy.workdir / "nginx.pid"))
            script = NGINX_COMMAND.sub(shlex.join(self.proxy.control_command()) + " ", script)
        script = CONTAINER.sub(self.container, script)
        assert not LEFT_OVER.search(script), f"a fixed name is left in:\n{script}"
        replacements = {"@LATEST@": latest, "@PREVIOUS@": self.previous_image, "@NEXT@": self.next_container, "@VOLUME@": self.volume}
        for slot, value in replacements.items():
            script = script.replace(slot, value)
        return script

    def run(self, role: str, latest: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the guide's block for role with bash (set -euo pipefail) and return its result; fail if it fails."""
        block = self.guide_blocks.get(role) or self.upgrade_blocks[role]
        script = "set -euo pipefail\n" + self.localise(block.script, latest or self.image)
        result = subprocess.run(["bash", "-c", script], cwd=self.folder, env=loopback_env(), capture_output=True, text=True,
                                timeout=BLOCK_TIMEOUT, check=False)
        assert result.returncode == 0, (
            f"guide block `{role}` (line {block.line}) exited {result.returncode}:\n{script}\n"
            f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
        )
        return result

    def settings(self) -> dict[str, str]:
        """Return the settings in starpunk.env, as the guide's blocks pass them to the containers."""
        lines = (self.folder / "starpunk.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))

    def write_settings(self, settings: dict[str, str]) -> None:
        """Write starpunk.env, as the guide's quick start has the reader do."""
        (self.folder / "starpunk.env").write_text("".join(f"{key}={value}\n" for key, value in settings.items()))

    def start(self, image: str) -> CliSite:
        """Create the volume and run the container as the guide's quick start does.

        The settings are those in starpunk.env.
        """
        labels = [arg for key, value in self.labels.items() for arg in ("--label", f"{key}={value}")]
        docker("volume", "create", *labels, self.volume)
        docker("run", "-d", "--name", self.container, *labels, "--env-file", str(self.folder / "starpunk.env"),
               "-v", f"{self.volume}:/data", "-p", f"127.0.0.1:{self.port}:8000", "--restart", "unless-stopped", image)
        site = self.site()
        site.wait_healthy()
        return site

    def site(self, name: str = "", port: int = 0) -> CliSite:
        """Return a container the blocks started.

        By default the one named `starpunk` in the guide, on port 8000's stand-in.
        """
        site = CliSite(self.settings(), name=name or self.container, port=port or self.port)
        runs.track(site)
        return site

    def remove(self) -> None:
        """Remove both containers and the volume, whatever state they are in."""
        for name in (self.container, self.next_container):
            runs.untrack(name)
            docker("rm", "--force", name, check=False)
        docker("volume", "rm", "--force", self.volume, check=False)
