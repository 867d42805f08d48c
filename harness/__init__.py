"""Helpers behind the nox sessions: find or start a container engine, get a base image, build StarPunk's image."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class HarnessError(Exception):
    """A prerequisite is missing; the message says what to do about it."""


def apt_install(*packages: str) -> None:
    """Install Debian packages with apt-get after refreshing its lists; raise HarnessError with apt's last lines."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).splitlines()[-5:])
            raise HarnessError(f"`{' '.join(command)}` failed:\n{tail}")
