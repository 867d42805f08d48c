"""compose.yaml as a user runs it: up from a .env, healthy, limits really applied, notes kept across down and up."""

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deployed import Author, plain_session, production_env, run, unique_name, wait_for

from harness import ROOT
from harness.deploy import free_port, loopback_env

COMPOSE = "docker-compose"
SERVICE = "starpunk"
HEALTHY_TIMEOUT = 90
MIB = 1024 * 1024


class Stack:
    """compose.yaml copied into its own project folder, with a generated .env, driven by docker-compose."""

    def __init__(self, folder: Path, image: str) -> None:
        self.folder = folder
        self.project = unique_name("starpunk-compose").replace("-", "")
        self.port = free_port()
        shutil.copy(ROOT / "compose.yaml", folder / "compose.yaml")
        settings = production_env("https://blog.example.test", STARPUNK_IMAGE=image, STARPUNK_PORT=str(self.port))
        (folder / ".env").write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        # The project's own .env must decide the image and port, not the caller's environment.
        self.env = loopback_env(COMPOSE_PROJECT_NAME=self.project)
        for key in ("STARPUNK_IMAGE", "STARPUNK_PORT"):
            self.env.pop(key, None)

    def compose(self, *args: str, check: bool = True) -> str:
        """Run docker-compose in the project folder and return its output."""
        result = run(COMPOSE, *args, cwd=self.folder, env=self.env, check=check, timeout=300)
        return result.stdout + result.stderr

    def container(self) -> str:
        """Return the id of the service's container."""
        ids = self.compose("ps", "--quiet", SERVICE).split()
        assert len(ids) == 1, f"expected one {SERVICE} container, found {ids}"
        return ids[0]

    def inspect(self) -> dict:
        """Return `docker inspect` of the service's container."""
        return json.loads(run("docker", "inspect", self.container()).stdout)[0]

    def wait_healthy(self) -> None:
        """Wait until the port answers and the engine's healthcheck reports healthy."""
        wait_for(f"http://127.0.0.1:{self.port}/health", plain_session(), timeout=HEALTHY_TIMEOUT)
        deadline = time.monotonic() + HEALTHY_TIMEOUT
        status = "starting"
        while status == "starting" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = self.inspect()["State"].get("Health", {}).get("Status", "no healthcheck")
        assert status == "healthy", f"health status {status}:\n{self.compose('logs', '--tail', '50')}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, image: str) -> Iterator[Stack]:
    """Bring compose.yaml up in a fresh project; `down -v` afterwards, whatever happened."""
    stack = Stack(tmp_path_factory.mktemp("compose"), image)
    try:
        stack.compose("up", "--detach")
        stack.wait_healthy()
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", check=False)
        shutil.rmtree(stack.folder, ignore_errors=True)  # its .env holds a secret


def test_compose_file_is_valid_and_versionless(stack: Stack) -> None:
    """docker-compose accepts the file as the Compose specification (no `version:` key, which v2 ignores)."""
    text = (ROOT / "compose.yaml").read_text()
    assert not [line for line in text.splitlines() if line.startswith("version:")]
    stack.compose("config", "--quiet")


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
    network = json.loads(run("docker", "network", "inspect", f"{stack.project}_starpunk").stdout)[0]
    assert network["Labels"]["com.docker.compose.project"] == stack.project
    mounts = {mount["Destination"]: mount for mount in details["Mounts"]}
    assert mounts["/data"]["Type"] == "volume"
    assert mounts["/data"]["Name"] == f"{stack.project}_starpunk-data"


def test_note_survives_down_and_up(stack: Stack) -> None:
    """A note published before `down` is served by the new container after `up`."""
    first = stack.container()
    link = run("docker", "exec", first, "flask", "--app", "starpunk", "login-link").stdout.strip().splitlines()[-1]
    author = Author(f"http://127.0.0.1:{stack.port}", link)
    slug = author.publish("Written before docker-compose down, read after up again.")
    stack.compose("down")
    stack.compose("up", "--detach")
    # The port is enough here: the engine's first probe comes only after the 30 s interval.
    wait_for(f"http://127.0.0.1:{stack.port}/health", plain_session())
    assert stack.container() != first, "up after down should create a new container"
    reply = plain_session().get(f"http://127.0.0.1:{stack.port}/note/{slug}", timeout=10)
    assert reply.status_code == 200 and "read after up again" in reply.text
