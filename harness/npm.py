"""Node tools of the browser audits (axe-core, Lighthouse), installed from the npm registry exactly as locked.

Each tool has a folder holding a package.json and its package-lock.json
(tests/e2e for axe-core, tests/lighthouse for Lighthouse); `npm ci` installs
what the lock names, with its integrity hashes, into build/npm/<folder>/, once
per lock: nothing is fetched again at test time while the lock is unchanged.
"""

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from . import ROOT, HarnessError, apt_install

# Lighthouse 12 needs Node 18.16 or later (Debian 12's nodejs is 18.19); 13 would need 22.
NODE_MAJOR_MIN = 18
INSTALLS = ROOT / "build" / "npm"
STAMP = ".starpunk-lock.sha256"


def ensure_node(say: Callable[[str], None] = print) -> str:
    """Return the path of node, installing Debian's nodejs and npm with apt-get (as root) when missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise HarnessError(
                "node and npm are missing: install Node.js 18 or later (Debian: apt-get install nodejs npm)."
            )
        say("npm: node or npm is missing; installing Debian's nodejs and npm with apt-get")
        apt_install("nodejs", "npm")
    node = shutil.which("node")
    assert node is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < NODE_MAJOR_MIN:
        raise HarnessError(
            f"node {version} is too old for the browser audits: Node.js {NODE_MAJOR_MIN}.16 or later is needed."
        )
    return node


def npm_install(folder: Path, say: Callable[[str], None] = print) -> Path:
    """Install the packages folder's lock pins (npm ci) into build/npm/<folder name>; return its node_modules."""
    ensure_node(say)
    lock = (folder / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (folder / "package.json").read_bytes()).hexdigest()
    target = INSTALLS / folder.name
    modules = target / "node_modules"
    if (modules / STAMP).is_file() and (modules / STAMP).read_text() == digest:
        return modules
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(folder / name, target / name)
    say(f"npm: installing {folder.relative_to(ROOT)}/package-lock.json into {target.relative_to(ROOT)}")
    # --ignore-scripts: no package may run code at install time (none needs to: no browser download).
    command = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    result = subprocess.run(command, cwd=target, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-8:])
        raise HarnessError(f"`npm ci` in {target} failed:\n{tail}")
    (modules / STAMP).write_text(digest)
    return modules
