"""Fixtures for the container tests: the image under test, labs of StarPunk containers, logs on failure.

Every container and volume carries the label org.starpunk.test=container and is
removed after its test (and, as a safety net, at the start and end of the run),
whether the test passed or not. When a test fails, the logs of every container
still running are added to its report.
"""

from collections.abc import Iterator

import docker
import pytest
from starpunk_lab import IMAGE, LABEL, Lab, live_sites


def _sweep(client: docker.DockerClient) -> None:
    label = f"{LABEL}=container"
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
def image(docker_client: docker.DockerClient) -> "docker.models.images.Image":
    """Return the image under test (STARPUNK_IMAGE), which must exist locally: nothing is pulled."""
    try:
        return docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.exit(f"Image {IMAGE} is not in the local engine; build it first with `nox -s image` (or set STARPUNK_IMAGE).", returncode=2)


@pytest.fixture(scope="session")
def version(image: "docker.models.images.Image") -> str:
    """Return the version the image was labelled with."""
    return image.labels["org.opencontainers.image.version"]


@pytest.fixture
def lab(docker_client: docker.DockerClient, version: str) -> Iterator[Lab]:
    """Give one test its own containers and volumes, removed afterwards."""
    lab = Lab(docker_client, version)
    yield lab
    lab.cleanup()


@pytest.fixture(scope="module")
def module_lab(docker_client: docker.DockerClient, version: str) -> Iterator[Lab]:
    """Give one test module containers and volumes shared by its tests, removed afterwards."""
    lab = Lab(docker_client, version)
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
