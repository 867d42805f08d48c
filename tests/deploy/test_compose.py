"""compose.yaml as a user runs it: up from a .env, healthy, limits really applied, notes kept across down and up."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import ROOT
from testkit import cli, runs
from testkit.cli import CliSite
from testkit.env import loopback_env, site_env
from testkit.ports import free_port
from testkit.site import unique_name

COMPOSE = "docker-compose"
SERVICE = "starpunk"
# This run's labels on the service's container and volume, so the run's sweep finds what an interrupted run left.
LABELS_FILE = "labels.compose.json"
HEALTHY_TIMEOUT = 90
MIB = 1024 * 1024


class Stack:
    """compose.yaml copied into its own project folder, with a generated .env, driven by docker-compose."""

    def __init__(self, folder: Path, image: str, labels: dict[str, str]) -> None:
        self.folder = folder
        self.project = unique_name("starpunk-compose").replace("-", "")
        self.port = free_port()
        shutil.copy(ROOT / "compose.yaml", folder / "compose.yaml")
        self.settings = site_env(STARPUNK_IMAGE=image, STARPUNK_PORT=str(self.port))
        (folder / ".env").write_text("".join(f"{key}={value}\n" for key, value in self.settings.items()))
        labelled = {"services": {SERVICE: {"labels": labels}}, "volumes": {"starpunk-data": {"labels": labels}}}
        (folder / LABELS_FILE).write_text(json.dumps(labelled))
        # The project's own .env must decide the image and port, not the caller's environment.
        self.env = loopback_env(COMPOSE_PROJECT_NAME=self.project, COMPOSE_FILE=f"compose.yaml:{LABELS_FILE}")
        for key in ("STARPUNK_IMAGE", "STARPUNK_PORT"):
            self.env.pop(key, None)
        self.followed: CliSite | None = None

    def compose(self, *args: str, check: bool = True) -> str:
        """Run docker-compose in the project folder and return its output."""
        result = cli.run(COMPOSE, *args, cwd=self.folder, env=self.env, check=check, timeout=300)
        return result.stdout + result.stderr

    def site(self) -> CliSite:
        """Return the service's container (there must be exactly one), followed so its logs go into failure reports."""
        ids = self.compose("ps", "--quiet", SERVICE).split()
        assert len(ids) == 1, f"expected one {SERVICE} container, found {ids}"
        if self.followed is None or self.followed.name != ids[0]:
            self.forget()
            self.followed = CliSite(self.settings, name=ids[0], port=self.port).follow()
        return self.followed

    def inspect(self) -> dict[str, Any]:
        """Return `docker inspect` of the service's container."""
        return self.site().inspect()

    def wait_healthy(self) -> None:
        """Wait until the port answers and the engine's healthcheck has passed (failing at once if it failed)."""
        site = self.site()
        site.wait_healthy(HEALTHY_TIMEOUT)
        state = site.wait_state(
            "the engine's health check to pass or fail", lambda s: _health(s) != "starting", HEALTHY_TIMEOUT
        )
        assert _health(state) == "healthy", f"health status {_health(state)}:\n{self.compose('logs', '--tail', '50')}"

    def forget(self) -> None:
        """Stop following the service's container (docker-compose removes it)."""
        if self.followed is not None:
            runs.untrack(self.followed.name)
            self.followed = None


def _health(state: dict[str, Any]) -> str:
    return str(state.get("Health", {}).get("Status", "no healthcheck"))


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, image_tag: str, image: object, run_labels: dict[str, str]
) -> Iterator[Stack]:
    """Bring compose.yaml up in a fresh project; `down -v` afterwards, whatever happened."""
    stack = Stack(tmp_path_factory.mktemp("compose"), image_tag, run_labels)
    try:
        stack.compose("up", "--detach")
        stack.wait_healthy()
        yield stack
    finally:
        stack.forget()
        stack.compose("down", "--volumes", "--remove-orphans", check=False)
        shutil.rmtree(stack.folder, ignore_errors=True)  # its .env holds a secret


def test_compose_file_is_valid_and_versionless(stack: Stack) -> None:
    """docker-compose accepts the file as the Compose specification (no `version:` key, which v2 ignores)."""
    text = (ROOT / "compose.yaml").read_text()
    assert not [line for line in text.splitlines() if line.startswith("version:")]
    stack.compose("--file", "compose.yaml", "config", "--quiet")


def test_limits_logs_restart_and_binding_are_applied(stack: Stack) -> None:
    """The engine runs the container with 1 CPU, 512 MiB, rotated json-file logs, unless-stopped, 127.0.0.1 only."""
    host = stack.inspect()["HostConfig"]
    assert host["NanoCpus"] == 1_000_000_000
    assert host["Memory"] == 512 * MIB
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(stack.port)}]}


def test_runs_on_its_own_network_and_volume(stack: Stack) -> None:
    """The container is on the project's network only, with /data on the project's named volume."""
    details = stack.inspect()
    assert list(details["NetworkSettings"]["Networks"]) == [f"{stack.project}_starpunk"]
    network = json.loads(cli.run("docker", "network", "inspect", f"{stack.project}_starpunk").stdout)[0]
    assert network["Labels"]["com.docker.compose.project"] == stack.project
    mounts = {mount["Destination"]: mount for mount in details["Mounts"]}
    assert mounts["/data"]["Type"] == "volume"
    assert mounts["/data"]["Name"] == f"{stack.project}_starpunk-data"


def test_note_survives_down_and_up(stack: Stack) -> None:
    """A note published before `down` is served by the new container after `up`."""
    first = stack.site()
    slug = first.sign_in().publish("Written before docker-compose down, read after up again.")
    stack.compose("down")
    stack.compose("up", "--detach")
    again = stack.site()
    # The port is enough here: the engine's first probe comes only after the 30 s interval.
    again.wait_healthy()
    assert again.name != first.name, "up after down should create a new container"
    reply = again.get(f"/note/{slug}")
    assert reply.status_code == 200 and "read after up again" in reply.text
