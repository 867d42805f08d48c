"""Tools the deployment and load sessions drive, installed when missing.

Debian's docker-compose, podman, caddy, nginx, wrk and taskset.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from . import HarnessError, apt_install

# Binary name -> Debian package that brings it.
PACKAGES = {
    "docker-compose": "docker-compose",
    "podman": "podman",
    "catatonit": "catatonit",
    "caddy": "caddy",
    "nginx": "nginx",
    "openssl": "openssl",
    "wrk": "wrk",
    "taskset": "util-linux",
}


def ensure_tools(*binaries: str, say: Callable[[str], None] = print) -> None:
    """Make sure each binary is on PATH, installing its Debian package with apt-get (as root) if not."""
    missing = [name for name in binaries if shutil.which(name) is None]
    if not missing:
        return
    packages = [PACKAGES[name] for name in missing]
    if os.geteuid() != 0 or not Path("/etc/debian_version").exists() or shutil.which("apt-get") is None:
        raise HarnessError(f"{', '.join(missing)} missing; install {' '.join(packages)} with your package manager.")
    say(f"deploy: installing {' '.join(packages)} with apt-get")
    apt_install(*packages)
