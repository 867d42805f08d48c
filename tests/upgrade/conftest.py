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
