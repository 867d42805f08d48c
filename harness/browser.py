"""Find Debian's Chromium for the browser tests, installing it on Debian as root when missing."""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from . import HarnessError, apt_install

CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium(say: Callable[[str], None] = print) -> str:
    """Return the path of a Chromium binary Playwright can drive; apt-get install it if needed."""
    override = os.environ.get("CHROMIUM_PATH")
    if override:
        if not Path(override).exists():
            raise HarnessError(f"CHROMIUM_PATH={override} does not exist.")
        return override
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise HarnessError(
            "Chromium is missing: install your distribution's chromium package "
            "(Debian/Ubuntu: apt-get install chromium) or set CHROMIUM_PATH to a Chromium binary."
        )
    say("browser: /usr/bin/chromium is missing; installing Debian's chromium with apt-get")
    apt_install("chromium")
    return str(CHROMIUM)
