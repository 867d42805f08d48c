"""Fixtures for the fault tests: StarPunk containers from tests/container's Lab, crashed, stopped and starved on purpose.

Every container and volume carries the label org.starpunk.test=faults (not
=container, so a concurrent `nox -s container` run and this one never sweep
each other's containers) and is removed after its test, whether it passed or
not; a sweep at the start and end of the run removes what an interrupted run
left. When a test fails, the logs of every container still running are added
to its report.
"""

import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

# The Lab lives with the container tests; these tests reuse it, not copy it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "container"))

from starpunk_lab import IMAGE, LABEL, Lab, live_sites  # noqa: E402

FAULT_LABELS = {LABEL: "faults"}


def _sweep(client: docker.DockerClient) -> None:
    label = f"{LABEL}={FAULT_LABELS[LABEL]}"
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for volume in client.volumes.list(filters={"label": label}):
        volume.remove(force=True)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """Connect to the engine, and remove labelled leftovers before and after the run."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.exit(f"No container engine answers ({exc}); run `nox -s image` (it starts one) or start Docker.", returncode=2)
    _sweep(client)
    yield client
    _sweep(client)
    client.close()


@pytest.fixture(scope="session")
def version(docker_client: docker.DockerClient) -> str:
    """Return the version label of the image under test (STARPUNK_IMAGE), which must exist locally."""
    try:
        image = docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.exit(f"Image {IMAGE} is not in the local engine; build it first with `nox -s image` (or set STARPUNK_IMAGE).", returncode=2)
    return image.labels["org.opencontainers.image.version"]


@pytest.fixture
def lab(docker_client: docker.DockerClient, version: str) -> Iterator[Lab]:
    """Give one test its own containers and volumes, labelled for the fault tests and removed afterwards."""
    lab = Lab(docker_client, version, labels=FAULT_LABELS)
    yield lab
    lab.cleanup()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Add the logs of every running StarPunk container to a failing test's report."""
    report = yield
    if report.failed:
        for site in live_sites():
            report.sections.append((f"container logs: {site.name}", site.logs()))
    return report
