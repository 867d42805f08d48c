"""Build StarPunk's image: the wheelhouse on the host, then `docker build -f Containerfile`."""

import json
import re
import shutil
import subprocess

from . import ROOT, HarnessError

REPOSITORY = "starpunk"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)


def app_version() -> str:
    """Return StarPunk's version from starpunk/__init__.py, without importing the package."""
    match = VERSION_LINE.search((ROOT / "starpunk" / "__init__.py").read_text(encoding="utf-8"))
    if match is None:
        raise HarnessError("starpunk/__init__.py has no line `__version__ = \"X.Y.Z\"`.")
    return match.group(1)


def image_tag() -> str:
    """Return the tag the image is built and tested as, e.g. starpunk:0.6.0."""
    return f"{REPOSITORY}:{app_version()}"


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def wheelhouse_commands(python: str) -> list[list[str]]:
    """Return the commands that fill build/wheelhouse/ with every wheel requirements.txt needs, plus pip's own."""
    target = str(WHEELHOUSE)
    return [
        [python, "-m", "pip", "wheel", "--quiet", "--requirement", str(ROOT / "requirements.txt"), "--wheel-dir", target],
        [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "pip", "--dest", target],
    ]


def reset_wheelhouse() -> None:
    """Empty build/wheelhouse/ so no stale wheel (or second pip) is copied into the build."""
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    WHEELHOUSE.mkdir(parents=True)


def build_command(base_image: str) -> list[str]:
    """Return the `docker build` command line for the image, tagged with its version and latest."""
    version = app_version()
    revision = _git("rev-parse", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        revision += "-dirty"
    source = _git("remote", "get-url", "origin") or "unknown"
    args = {"BASE_IMAGE": base_image, "VERSION": version, "REVISION": revision, "SOURCE": source}
    command = ["docker", "build", "--file", str(ROOT / "Containerfile")]
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    command += ["--tag", image_tag(), "--tag", f"{REPOSITORY}:latest", str(ROOT)]
    return command


def image_size(tag: str) -> int:
    """Return the image's size in bytes as the engine reports it."""
    result = subprocess.run(["docker", "image", "inspect", "--format", "{{json .Size}}", tag], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"image {tag} not found after the build: {result.stderr.strip()}")
    return int(json.loads(result.stdout))

