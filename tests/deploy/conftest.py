"""Fixtures for the deployment tests: the image under test, labelled leftovers swept, logs on failure.

Every container and volume these tests start with Docker carries the label
org.starpunk.test=deploy and is removed by the test that made it; the sweep
at the start and end of the run catches what an interrupted run left behind.
"""

import os
import shutil
from collections.abc import Iterator

import pytest
from deployed import LABEL, live, run

from harness.deploy import loopback_env


def _sweep_docker() -> None:
    if shutil.which("docker") is None or run("docker", "info", check=False).returncode != 0:
        return
    containers = run("docker", "ps", "--all", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if containers:
        run("docker", "rm", "--force", *containers, check=False)
    volumes = run("docker", "volume", "ls", "--quiet", "--filter", f"label={LABEL}").stdout.split()
    if volumes:
        run("docker", "volume", "rm", "--force", *volumes, check=False)


@pytest.fixture(scope="session", autouse=True)
def sweep() -> Iterator[None]:
    """Remove labelled Docker leftovers before and after the run."""
    _sweep_docker()
    yield
    _sweep_docker()


@pytest.fixture(scope="session")
def image() -> str:
    """Return the image under test (STARPUNK_IMAGE), which must be in the local Docker engine: nothing is pulled."""
    tag = os.environ.get("STARPUNK_IMAGE", "starpunk:latest")
    if run("docker", "image", "inspect", tag, check=False).returncode != 0:
        pytest.exit(f"Image {tag} is not in the local engine; build it with `nox -s image` (or set STARPUNK_IMAGE).", returncode=2)
    return tag


@pytest.fixture
def volume() -> Iterator[str]:
    """Create a labelled Docker volume for one test and remove it afterwards."""
    name = run("docker", "volume", "create", "--label", LABEL).stdout.strip()
    yield name
    run("docker", "volume", "rm", "--force", name, check=False)


@pytest.fixture(scope="session")
def shell_env() -> dict[str, str]:
    """Return the environment for commands run by the tests: no HTTP proxy between them and 127.0.0.1."""
    return loopback_env()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Add the logs of every container still running to a failing test's report."""
    report = yield
    if report.failed:
        for container in list(live.values()):
            report.sections.append((f"container logs: {container.name}", container.logs()))
    return report
