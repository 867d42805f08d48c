"""The same Containerfile built and run with Podman (as root): health, persistence, and the OCI-format warning."""

import json
import os
import re
import uuid
from collections.abc import Iterator

import pytest

from harness import ROOT
from harness.podman import ULIMITS, image_ids, load_base, podman, podman_build_command
from testkit import cli
from testkit.cli import CliSite
from testkit.env import site_env
from tests.deploy import guide

WARNING = re.compile(r'msg="(HEALTHCHECK[^"]*)"')
BUILD_TIMEOUT = 600


@pytest.fixture(scope="module")
def base() -> str:
    """Return the base image the harness built StarPunk's Docker image on (PODMAN_BASE_IMAGE)."""
    name = os.environ.get("PODMAN_BASE_IMAGE")
    if not name:
        pytest.exit("PODMAN_BASE_IMAGE is not set; run these tests with `nox -s podman`.", returncode=2)
    return name


@pytest.fixture(scope="module")
def built(base: str) -> Iterator[dict[str, str]]:
    """Build the image with Podman in Docker format (and in OCI format); remove every image made here afterwards."""
    before = image_ids()
    loaded = load_base(base)
    tag = f"localhost/starpunk-podman-test:{uuid.uuid4().hex[:10]}"
    builds = {}
    try:
        result = cli.run(*podman_build_command(base, tag), cwd=ROOT, timeout=BUILD_TIMEOUT)
        builds["docker"] = tag
        # --no-cache: a step taken from the cache prints no warning.
        oci_command = podman_build_command(base, tag + "-oci", docker_format=False)
        result = cli.run(*oci_command[:2], "--no-cache", *oci_command[2:], cwd=ROOT, timeout=BUILD_TIMEOUT)
        builds["oci"] = tag + "-oci"
        builds["oci_output"] = result.stdout + result.stderr
        yield builds
    finally:
        for name in ("docker", "oci"):
            if name in builds:
                podman("rmi", "--force", builds[name], check=False)
        leftovers = image_ids() - before
        if leftovers:
            podman("rmi", "--force", *leftovers, check=False)
        if loaded:
            podman("rmi", base, check=False)


@pytest.fixture
def podman_volume(podman_engine: str, run_labels: dict[str, str]) -> Iterator[str]:
    """Create a labelled Podman volume for one test and remove it afterwards."""
    with cli.volume(podman_engine, run_labels) as name:
        yield name


def _healthcheck(image: str) -> dict | None:
    return json.loads(podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", image).stdout)


def test_docker_format_keeps_the_healthcheck(built: dict[str, str]) -> None:
    """`podman build --format docker` keeps the image's HEALTHCHECK; the default OCI format drops it."""
    check = _healthcheck(built["docker"])
    assert check and any("/health" in part for part in check["Test"])
    assert not _healthcheck(built["oci"])


def test_oci_warning_is_the_one_the_guide_quotes(built: dict[str, str]) -> None:
    """The warning Podman prints for HEALTHCHECK in OCI format is word for word the guide's, in both its forms."""
    messages = set(WARNING.findall(built["oci_output"]))
    assert len(messages) == 1, f"expected one HEALTHCHECK warning text, got {messages}"
    message = messages.pop()
    on_terminal, in_log = guide.quoted_in("Podman warns that HEALTHCHECK")[:2]
    terminal = re.fullmatch(r"WARN\[\d{4}\] (.*)", on_terminal)
    assert terminal, f"the guide should first quote the terminal form WARN[NNNN] ..., not {on_terminal!r}"
    assert terminal.group(1) == message
    logged = WARNING.fullmatch(in_log.split(" ", 2)[-1])
    assert logged and logged.group(1) == message, f"the guide should then quote the log form, not {in_log!r}"


def test_root_without_lower_ulimits_fails_as_the_guide_says(
    built: dict[str, str], podman_engine: str, run_labels: dict[str, str]
) -> None:
    """Without --ulimit, Podman as root cannot start the container here, with the error the guide quotes."""
    result = cli.run(
        podman_engine, "run", "--rm", *cli.label_args(run_labels), built["docker"], "true", check=False, timeout=60
    )
    assert result.returncode != 0, "this machine kind needs the lower ulimits; the guide's troubleshooting says so"
    assert guide.quoted_in("error setting rlimit type 7")[0] in result.stderr


def test_runs_healthy_and_keeps_notes(
    built: dict[str, str], podman_volume: str, podman_engine: str, run_labels: dict[str, str]
) -> None:
    """Run as root with the lowered ulimits: healthy, a note survives a restart and a new container on the volume."""
    env = site_env()

    def podman_site() -> CliSite:
        return CliSite(env, podman_engine, built["docker"], podman_volume, run_labels, tuple(ULIMITS))

    site = podman_site()
    try:
        site.start()
        # Without systemd Podman schedules no probes: run the image's healthcheck by hand.
        site.cli("healthcheck", "run", site.name)
        assert site.wait_health_status("healthy") == "healthy"
        slug = site.sign_in().publish("Kept by Podman's volume.")
        site.restart()
        assert "Kept by Podman" in site.get(f"/note/{slug}").text
    finally:
        site.remove()
    successor = podman_site()
    try:
        successor.start()
        assert "Kept by Podman" in successor.get(f"/note/{slug}").text
    finally:
        successor.remove()
