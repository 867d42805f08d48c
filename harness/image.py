"""Build StarPunk's image.

First a wheelhouse for the image's Python, filled on the host, then `docker build -f Containerfile`.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import ROOT, HarnessError

REPOSITORY = "starpunk"
WHEELHOUSE = ROOT / "build" / "wheelhouse"
# The SBOM tools' wheels (pyproject.toml's `sbom` group), installed in the builder stage only; a folder of
# their own, copied after the root file system is assembled, so a new pin of theirs rebuilds only the SBOM.
SBOM_TOOLS_GROUP = "sbom"
SBOM_WHEELHOUSE = ROOT / "build" / "sbom-wheelhouse"
# What the image's root file system (the layer runtime_root.py assembles) is made from:
# its files carry the time of the last commit that changed one of these.
ROOTFS_INPUTS = ["Containerfile", "requirements.txt", "runtime_root.py", "harness/base.py", "harness/image.py"]
# What the SBOM lists is made from those, its tools and the app's version: its time is that of the last
# commit that changed one of these (a commit of app code only leaves the SBOM as it was).
SBOM_INPUTS = [*ROOTFS_INPUTS, "image_sbom.py", "pyproject.toml", "starpunk/__init__.py"]
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


def sbom_tool_pins(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """Return the pins of the SBOM tools the builder stage runs (pyproject.toml's `sbom` group)."""
    groups = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("dependency-groups", {})
    pins = groups.get(SBOM_TOOLS_GROUP)
    if not pins or not all(isinstance(pin, str) for pin in pins):
        raise HarnessError(f"pyproject.toml has no [dependency-groups] {SBOM_TOOLS_GROUP} of plain pins.")
    return list(pins)


def fill_wheelhouse(
    python: str,
    target: Target,
    say: Callable[[str], None] = print,
    requirements: Path = ROOT / "requirements.txt",
    wheelhouse: Path = WHEELHOUSE,
    sbom_tools: Sequence[str] | None = None,
    sbom_wheelhouse: Path = SBOM_WHEELHOUSE,
) -> None:
    """Fill build/wheelhouse/ with wheels for the image's Python (not the host's) of every requirement, plus pip.

    Binary wheels only, chosen for `target`; a requirement published only as an
    sdist is built on the host and kept only if the wheel is pure Python. A
    requirement with neither stops here, naming the package and the target,
    before any container build starts. The SBOM tools (`sbom_tools`, by default
    pyproject.toml's `sbom` group) go to build/sbom-wheelhouse/ with their
    requirements.txt, exactly as pinned (no dependency of theirs is resolved).
    """
    reset_wheelhouse(wheelhouse)
    _download_wheels(python, target, say, requirements, wheelhouse, resolve=True)
    tools = sbom_tool_pins() if sbom_tools is None else list(sbom_tools)
    if tools:
        _fill_tool_wheels(python, target, say, tools, sbom_wheelhouse)


def _wheel_prefix(pin: str) -> str:
    """Return how a wheel's file name starts for an exact pin (PEP 427 escaping): boolean.py==5.0 -> boolean_py-5.0-."""
    name, version = pin.split("==")
    return f"{re.sub(r'[-_.]+', '_', name.split('[')[0]).lower()}-{version}-"


def _fill_tool_wheels(python: str, target: Target, say: Callable[[str], None], pins: list[str], folder: Path) -> None:
    """Download exactly the pinned wheels into folder with their requirements.txt; keep them when already there."""
    requirements = f"# for {target}\n" + "".join(f"{pin}\n" for pin in pins)
    listing = folder / "requirements.txt"
    wheels = [path.name.lower() for path in folder.glob("*.whl")] if folder.is_dir() else []
    kept = listing.is_file() and listing.read_text(encoding="utf-8") == requirements
    if kept and all(sum(wheel.startswith(_wheel_prefix(pin)) for wheel in wheels) == 1 for pin in pins):
        say(f"wheelhouse: the {len(pins)} wheels in {folder.name}/ are those pinned, for {target}")
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    listing.write_text(requirements, encoding="utf-8")
    _download_wheels(python, target, say, listing, folder, resolve=False)


def _download_wheels(
    python: str, target: Target, say: Callable[[str], None], requirements: Path, wheelhouse: Path, resolve: bool
) -> None:
    """Download the wheels of requirements into wheelhouse: with what they pull in and pip, or only them."""
    download = [python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", *target.pip_options()]
    download += ["--find-links", str(wheelhouse), "--dest", str(wheelhouse)]
    download += (
        ["--requirement", str(requirements), "pip"] if resolve else ["--no-deps", "--requirement", str(requirements)]
    )
    built: set[str] = set()
    while True:
        result = subprocess.run(download, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            break
        missing = _MISSING.search(result.stderr)
        if missing is None or missing.group(1) in built:
            raise HarnessError(f"pip could not download wheels for {target}:\n{result.stderr.strip()[-1500:]}")
        requirement = missing.group(1)
        built.add(requirement)
        wheel = _build_pure_wheel(python, requirement, target, wheelhouse)
        say(f"wheelhouse: {requirement} has no published wheel; built {wheel.name} (pure Python) on the host")
    say(f"wheelhouse: {len(list(wheelhouse.glob('*.whl')))} wheels for {target} in {wheelhouse.name}/")


def reset_wheelhouse(wheelhouse: Path = WHEELHOUSE) -> None:
    """Empty the wheelhouse so no stale wheel (or second pip) is copied into the build."""
    shutil.rmtree(wheelhouse, ignore_errors=True)
    wheelhouse.mkdir(parents=True)


def commit_time(*paths: str) -> int:
    """Return the Unix time of the last commit (that changed one of paths, when given); 0 outside git."""
    found = _git("log", "-1", "--format=%ct", "HEAD", "--", *paths) if paths else _git("log", "-1", "--format=%ct")
    return int(found) if found.isdigit() else 0


def build_command(base_image: str, tag: str | None = None, no_cache: bool = False) -> list[str]:
    """Return the `docker build` command line for the image, tagged with its version and latest (or only tag).

    The build is reproducible: the root file system's files carry the time of
    the last commit that changed what it is made of, the SBOM's that of the
    last commit that changed what it lists, and the app's the commit's time
    (SOURCE_DATE_EPOCH), which is also the image's `created` label.
    """
    version = app_version()
    revision = _git("rev-parse", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no"):
        revision += "-dirty"
    source = _git("remote", "get-url", "origin") or "unknown"
    epoch = commit_time()
    args = {
        "BASE_IMAGE": base_image,
        "VERSION": version,
        "REVISION": revision,
        "SOURCE": source,
        "SOURCE_DATE_EPOCH": str(epoch),
        "ROOTFS_DATE_EPOCH": str(commit_time(*ROOTFS_INPUTS)),
        "SBOM_DATE_EPOCH": str(commit_time(*SBOM_INPUTS)),
        "CREATED": datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    command = ["docker", "build", "--file", str(ROOT / "Containerfile")]
    if no_cache:
        command.append("--no-cache")
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    if tag is not None:
        command += ["--tag", tag]
    else:
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
