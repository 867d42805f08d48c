"""The container engine through its API (the docker SDK): connect, find the image under test, sweep what runs left."""

import os

import docker
from docker.models.images import Image

from .runs import RUN_LABEL, swept

IMAGE_VARIABLE = "STARPUNK_IMAGE"
DEFAULT_IMAGE = "starpunk:latest"


class EngineMissing(RuntimeError):
    """No container engine answers, or the image under test is not in it."""


def image_tag() -> str:
    """Return the tag of the image under test: STARPUNK_IMAGE, else starpunk:latest."""
    return os.environ.get(IMAGE_VARIABLE, DEFAULT_IMAGE)


def connect() -> docker.DockerClient:
    """Connect to the engine DOCKER_HOST (or the default socket) names and check that it answers."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise EngineMissing(
            f"No container engine answers ({exc}); run `nox -s image` (it starts one) or start Docker."
        ) from exc
    return client


def local_image(client: docker.DockerClient, tag: str) -> Image:
    """Return an image that must already be in the engine: nothing is ever pulled."""
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        raise EngineMissing(
            f"Image {tag} is not in the local engine; build it first with `nox -s image` (or set {IMAGE_VARIABLE})."
        ) from None


def sweep(client: docker.DockerClient, run: str | None = None) -> list[str]:
    """Remove the containers, then the volumes, of one run; return their names.

    With run None, it sweeps every run whose process is gone.
    """
    selector = f"{RUN_LABEL}={run}" if run else RUN_LABEL

    removed = []
    for container in client.containers.list(all=True, filters={"label": selector}):
        if swept(container.labels, run):
            container.remove(force=True, v=True)
            removed.append(f"container {container.name}")
    for volume in client.volumes.list(filters={"label": selector}):
        if swept(volume.attrs.get("Labels"), run):
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                continue
            removed.append(f"volume {volume.name}")
    return removed
