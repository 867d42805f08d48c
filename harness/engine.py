"""Find a Docker-compatible engine, or install and start Debian's docker.io when none answers."""

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from testkit.waiting import WaitTimeout, wait_for

from . import HarnessError, apt_install

DOCKERD_LOG = Path("/var/log/dockerd.log")
DOCKERD_PIDFILE = Path("/var/run/docker.pid")
START_TIMEOUT = 90
INSTALL_HINT = (
    "Install Docker (https://docs.docker.com/engine/install/) or Podman and start it; "
    "for Podman run `podman system service --time=0 &` and set "
    "DOCKER_HOST=unix:///run/podman/podman.sock (rootless: unix://$XDG_RUNTIME_DIR/podman/podman.sock)."
)


def engine_answers() -> bool:
    """Return whether `docker info` reaches an engine (DOCKER_HOST respected)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def _is_debian_root() -> bool:
    return os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def _install_docker_io(say: Callable[[str], None]) -> None:
    say("engine: no container engine answers; installing Debian's docker.io with apt-get (a minute or two)")
    try:
        apt_install("docker.io")
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{INSTALL_HINT}") from None


def _dockerd_running() -> bool:
    try:
        pid = int(DOCKERD_PIDFILE.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def _start_dockerd(say: Callable[[str], None]) -> None:
    if _dockerd_running():
        say("engine: dockerd is running but not answering yet; waiting for it")
    else:
        say(f"engine: starting dockerd in the background (log: {DOCKERD_LOG})")
        with DOCKERD_LOG.open("ab") as log:
            # A session of its own: the daemon outlives this nox run on purpose.
            subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(engine_answers, "dockerd to answer `docker info`", START_TIMEOUT, 0.5)
    except WaitTimeout as exc:
        tail = "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-10:])
        raise HarnessError(f"{exc}; last lines of {DOCKERD_LOG}:\n{tail}") from None
    say("engine: dockerd answers")


def ensure_engine(say: Callable[[str], None] = print) -> None:
    """Make sure `docker` reaches an engine, installing and starting docker.io on Debian as root if needed."""
    if engine_answers():
        say(f"engine: using the engine at {os.environ.get('DOCKER_HOST', 'the default Docker socket')}")
        return
    if os.environ.get("DOCKER_HOST"):
        raise HarnessError(
            f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer `docker info`; "
            "start that engine or unset DOCKER_HOST."
        )
    if not _is_debian_root():
        raise HarnessError(
            "No container engine answers `docker info`, and this is not Debian/Ubuntu as root, "
            f"so none can be installed here. {INSTALL_HINT}"
        )
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        _install_docker_io(say)
    _start_dockerd(say)
