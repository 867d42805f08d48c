"""Fixtures of the upgrade suite.

The previous release's image beside the current one, and an installation made by the guide.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.upgrade.installation import Installation

RELEASE_VARIABLE = "STARPUNK_RELEASE_IMAGE"
OLDER_VARIABLE = "STARPUNK_OLDER_RELEASE_IMAGES"


@pytest.fixture(scope="session")
def release_image(docker_client: docker.DockerClient) -> str:
    """Return the previous release's image (STARPUNK_RELEASE_IMAGE).

    `nox -s upgrade` builds it: nothing is pulled.
    """
    tag = os.environ.get(RELEASE_VARIABLE, "")
    if not tag:
        pytest.exit(
            f"{RELEASE_VARIABLE} is not set; run the suite with `nox -s upgrade`, which builds the previous release.",
            returncode=2,
        )
    try:
        docker_client.images.get(tag)
    except docker.errors.ImageNotFound:
        pytest.exit(f"{tag} is not in the local engine; `nox -s upgrade` builds it.", returncode=2)
    return tag


@pytest.fixture
def installation(
    tmp_path: Path, image_tag: str, release_image: str, run_labels: dict[str, str]
) -> Iterator[Installation]:
    """A folder to run the guide's blocks in, its names made unique; containers and volume removed afterwards."""
    installed = Installation(tmp_path, image_tag, release_image, run_labels)
    try:
        yield installed
    finally:
        installed.remove()
        shutil.rmtree(tmp_path, ignore_errors=True)  # the env file's secret, nginx's key


def _older_release_images() -> list[tuple[str, str]]:
    """Return (version, image) of each release before the previous one (STARPUNK_OLDER_RELEASE_IMAGES)."""
    listed = os.environ.get(OLDER_VARIABLE, "")
    return [tuple(entry.split("=", 1)) for entry in listed.split(",") if entry]  # type: ignore[misc]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give each test of an older release's upgrade one release, named by its version."""
    if "older_image" in metafunc.fixturenames:
        if OLDER_VARIABLE not in os.environ:
            pytest.exit(f"{OLDER_VARIABLE} is not set; run the suite with `nox -s upgrade`.", returncode=2)
        older = _older_release_images()
        metafunc.parametrize("older_image", [image for _, image in older], ids=[version for version, _ in older])


@pytest.fixture
def older_installation(
    tmp_path: Path, image_tag: str, older_image: str, run_labels: dict[str, str], docker_client: docker.DockerClient
) -> Iterator[Installation]:
    """An installation of an older release (one per release before the previous one)."""
    try:
        docker_client.images.get(older_image)
    except docker.errors.ImageNotFound:
        pytest.exit(f"{older_image} is not in the local engine; `nox -s upgrade` builds it.", returncode=2)
    installed = Installation(tmp_path, image_tag, older_image, run_labels)
    try:
        yield installed
    finally:
        installed.remove()
        shutil.rmtree(tmp_path, ignore_errors=True)
