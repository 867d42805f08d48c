"""StarPunk's pytest plugin: the engine fixtures, the label sweep, and container logs in failure reports.

Registered once for every suite by tests/conftest.py. It imports the docker
SDK only when a test asks for an engine fixture, so the unit tests need none.
Everything a Lab starts, and everything tests start with the docker or podman
command line (testkit.cli, with the `run_labels` fixture), carries this run's
labels (see testkit.runs): the first engine fixture (docker_client, or
podman_engine for Podman) removes what earlier runs left once their pytest
process is gone, and the end of the run removes this run's own leftovers.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

from . import runs

if TYPE_CHECKING:
    import docker
    from docker.models.images import Image

    from .objectstore import ObjectStore
    from .site import Lab

RUN = runs.run_id()


def suite_of(request: pytest.FixtureRequest) -> str:
    """Return the suite a test belongs to: the name of its folder under tests/ (container, faults, ...)."""
    return request.path.parent.name


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """Connect to the engine; remove what dead runs left before, and what this run left after."""
    from .engine import EngineMissing, connect, sweep

    try:
        client = connect()
    except EngineMissing as exc:
        pytest.exit(str(exc), returncode=2)
    sweep(client)
    yield client
    sweep(client, RUN)
    client.close()


@pytest.fixture(scope="session")
def image_tag() -> str:
    """Return the tag of the image under test (STARPUNK_IMAGE, else starpunk:latest)."""
    from .engine import image_tag

    return image_tag()


@pytest.fixture(scope="session")
def image(docker_client: docker.DockerClient, image_tag: str) -> Image:
    """Return the image under test, which must exist locally: nothing is pulled."""
    from .engine import EngineMissing, local_image

    try:
        return local_image(docker_client, image_tag)
    except EngineMissing as exc:
        pytest.exit(str(exc), returncode=2)


@pytest.fixture(scope="session")
def version(image: Image) -> str:
    """Return the version the image was labelled with."""
    return str(image.labels["org.opencontainers.image.version"])


@pytest.fixture(scope="module")
def run_labels(request: pytest.FixtureRequest) -> dict[str, str]:
    """Return the labels for anything a test creates on the engine by hand: its suite and this run."""
    return runs.labels(suite_of(request), RUN)


def _lab(request: pytest.FixtureRequest, client: docker.DockerClient, tag: str, version: str) -> Iterator[Lab]:
    from .site import Lab

    lab = Lab(client, tag, version, runs.labels(suite_of(request), RUN))
    try:
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def lab(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, image_tag: str, version: str
) -> Iterator[Lab]:
    """Give one test its own containers and volumes, removed afterwards."""
    yield from _lab(request, docker_client, image_tag, version)


@pytest.fixture(scope="module")
def module_lab(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, image_tag: str, version: str
) -> Iterator[Lab]:
    """Give one test module containers and volumes shared by its tests, removed afterwards."""
    yield from _lab(request, docker_client, image_tag, version)


@pytest.fixture(scope="session")
def podman_engine() -> Iterator[str]:
    """Use Podman's command line: remove what dead runs left in Podman before, and what this run left after."""
    from .cli import sweep

    sweep("podman")
    yield "podman"
    sweep("podman", RUN)


@pytest.fixture(scope="session")
def objectstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """Run SeaweedFS with an S3 gateway on 127.0.0.1 for the whole run, with credentials made for it."""
    from .objectstore import ObjectStore

    with ObjectStore(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture(scope="session")
def sidecar_image() -> str:
    """Return the Litestream sidecar image the session built (STARPUNK_SIDECAR_IMAGE: nox -s replicate or guide)."""
    tag = os.environ.get("STARPUNK_SIDECAR_IMAGE")
    if not tag:
        pytest.fail("STARPUNK_SIDECAR_IMAGE is not set: run the suite with `nox -s replicate` or `nox -s guide`")
    return tag


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add the last log lines of every container still running to a failing test's report."""
    report = yield
    if report.failed:
        for running in runs.tracked():
            report.sections.append((f"container logs: {running.name}", running.logs(runs.REPORT_LOG_LINES)))
    return report
