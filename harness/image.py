"""Build StarPunk's image.

First a wheelhouse for the image's Python, filled on the host, then `docker build -f Containerfile`.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import ROOT, HarnessError

REPOSITORY = "starpunk"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)


def app_version() -> str:
    """Return StarPunk's version from starpunk/__init__.py, without importing the package."""
    match = VERSION_LINE.search((ROOT / "starpunk" / "__init__.py").read_text(encoding="utf-8"))
    if match is None:
        raise HarnessError('starpunk/__init__.py has no line `__version__ = "X.Y.Z"`.')
    return match.group(1)


def image_tag() -> str:
    """Return the tag the image is built and tested as, e.g. starpunk:0.7.0.

    STARPUNK_IMAGE_TAG names it instead (and then starpunk:latest is left alone),
    so that two checkouts sharing one engine do not test each other's image.
    """
    return os.environ.get("STARPUNK_IMAGE_TAG") or f"{REPOSITORY}:{app_version()}"


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


@dataclass(frozen=True)
class Target:
    """The interpreter and platform the image's Python runs on, as pip's tags name them."""

    python_version: str  # "3.13"
    abi: str  # "cp313"
    machine: str  # "x86_64"
    glibc: tuple[int, int]  # (2, 41)

    def platforms(self) -> list[str]:
        """Return every manylinux tag a wheel for this platform may carry, newest first."""
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)]
        # The legacy aliases of manylinux_2_17, _2_12 and _2_5 (PEP 600).
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        tags += [f"{name}_{self.machine}" for m, name in legacy.items() if m <= minor]
        return tags

    def pip_options(self) -> list[str]:
        """Return pip's options that select wheels for this target instead of the running interpreter."""
        options = ["--only-binary=:all:", "--python-version", self.python_version, "--implementation", "cp"]
        for abi in (self.abi, "abi3", "none"):
            options += ["--abi", abi]
        for platform in self.platforms():
            options += ["--platform", platform]
        return options

    def __str__(self) -> str:
        return f"CPython {self.python_version} ({self.abi}) on glibc {self.glibc[0]}.{self.glibc[1]} {self.machine}"


_PROBE = (
    "import platform, sys; v = sys.version_info; libc, ver = platform.libc_ver();"
    " print(f'{v[0]}.{v[1]} cp{v[0]}{v[1]} {platform.machine()} {libc} {ver}')"
)


def probe_target(base_image: str) -> Target:
    """Ask the base image's own python3 which interpreter and platform its wheels must fit."""
    command = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python3", base_image, "-c", _PROBE]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise HarnessError(
            f"could not ask {base_image} for its Python (`python3` in the image): {result.stderr.strip()[-500:]}"
        )
    version, abi, machine, libc, libc_version = result.stdout.split()
    if libc != "glibc":
        raise HarnessError(
            f"{base_image} runs on {libc}, not glibc: the wheelhouse is built for manylinux (glibc) bases only."
        )
    major, minor = (int(part) for part in libc_version.split(".")[:2])
    return Target(version, abi, machine, (major, minor))


_MISSING = re.compile(r"No matching distribution found for (\S+)")


def _build_pure_wheel(python: str, requirement: str, target: Target, wheelhouse: Path) -> Path:
    """Build a wheel from an sdist on the host; only a pure-Python wheel fits a foreign target."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", scratch, requirement]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        built = sorted(Path(scratch).glob("*.whl"))
        if result.returncode != 0 or not built:
            raise HarnessError(
                f"no wheel of {requirement} exists for the image's Python, {target}, and its source did not build "
                f"on the host either:\n{result.stderr.strip()[-800:]}"
            )
        wheel = built[0]
        if not wheel.name.endswith("-none-any.whl"):
            raise HarnessError(
                f"no wheel of {requirement} exists for the image's Python, {target}; its source builds only "
                f"{wheel.name} here, for the host's interpreter, which would not run in the image. "
                "Pin a release that publishes a wheel for the image's Python."
            )
        return Path(shutil.move(str(wheel), wheelhouse / wheel.name))


def fill_wheelhouse(
    python: str,
    target: Target,
    say: Callable[[str], None] = print,
    requirements: Path = ROOT / "requirements.txt",
    wheelhouse: Path = WHEELHOUSE,
) -> None:
    """Fill build/wheelhouse/ with wheels for the image's Python (not the host's) of every requirement, plus pip.

    Binary wheels only, chosen for `target`; a requirement published only as an
    sdist is built on the host and kept only if the wheel is pure Python. A
    requirement with neither stops here, naming the package and the target,
    before any container build starts.
    """
    reset_wheelhouse(wheelhouse)
    download = [python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", *target.pip_options()]
    download += ["--find-links", str(wheelhouse), "--dest", str(wheelhouse)]
    built: set[str] = set()
    while True:
        result = subprocess.run(
            [*download, "--requirement", str(requirements), "pip"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            break
        missing = _MISSING.search(result.stderr)
        if missing is None or missing.group(1) in built:
            raise HarnessError(f"pip could not download wheels for {target}:\n{result.stderr.strip()[-1500:]}")
        requirement = missing.group(1)
        built.add(requirement)
        wheel = _build_pure_wheel(python, requirement, target, wheelhouse)
        say(f"wheelhouse: {requirement} has no published wheel; built {wheel.name} (pure Python) on the host")
    say(f"wheelhouse: {len(list(wheelhouse.glob('*.whl')))} wheels for {target}")


def reset_wheelhouse(wheelhouse: Path = WHEELHOUSE) -> None:
    """Empty the wheelhouse so no stale wheel (or second pip) is copied into the build."""
    shutil.rmtree(wheelhouse, ignore_errors=True)
    wheelhouse.mkdir(parents=True)


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
    command += ["--tag", image_tag()]
    if not os.environ.get("STARPUNK_IMAGE_TAG"):
        command += ["--tag", f"{REPOSITORY}:latest"]
    command.append(str(ROOT))
    return command


def image_size(tag: str) -> int:
    """Return the image's size in bytes as the engine reports it."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Size}}", tag], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"image {tag} not found after the build: {result.stderr.strip()}")
    return int(json.loads(result.stdout))
