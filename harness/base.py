"""Choose the base image: the official Python image when it is there or can be pulled, else one built from Debian."""

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

from . import ROOT, HarnessError, apt_install

# The image's Python: Debian 13 "trixie" (stable) ships 3.13, as does the
# official slim image of the same name. The host's Python may differ: the
# wheelhouse is downloaded for this target, not for the interpreter running nox.
PYTHON_VERSION = "3.13"
DEFAULT_BASE = f"python:{PYTHON_VERSION}-slim"
LOCAL_REPOSITORY = "starpunk-base"
SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["python3-minimal", f"libpython{PYTHON_VERSION}-stdlib", "ca-certificates"]
# gconv holds glibc's iconv charset modules (8 MB): Python's codecs are its own.
EXCLUDES = [
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
    "/usr/lib/x86_64-linux-gnu/gconv/*",
]
# perl-base (9 MB) is essential only for dpkg's maintainer scripts; nothing is
# installed into the runtime image, so it goes once the packages are in.
PURGE_ESSENTIAL = ["perl-base"]
# What the official image sets too, so the app sees the same environment on both bases.
IMPORT_CHANGES = ["ENV LANG=C.UTF-8", 'CMD ["python3"]']


def image_present(name: str) -> bool:
    """Return whether the engine has an image of this name locally."""
    result = subprocess.run(["docker", "image", "inspect", name], capture_output=True, check=False)
    return result.returncode == 0


def _mmdebstrap_command(target: str) -> list[str]:
    command = ["mmdebstrap", "--variant=essential", f"--include={','.join(PACKAGES)}"]
    command += [f"--dpkgopt=path-exclude={pattern}" for pattern in EXCLUDES]
    command += [
        f'--customize-hook=chroot "$1" dpkg --purge --force-remove-essential --force-depends '
        f"{' '.join(PURGE_ESSENTIAL)}",
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/* "$1"/var/log/*',
        "--format=tar",
        SUITE,
        target,
        MIRROR,
    ]
    return command


def local_base_tag() -> str:
    """Return the tag of the Debian-built base; it changes whenever the recipe does."""
    recipe = " ".join(_mmdebstrap_command("TARGET") + IMPORT_CHANGES)
    return f"{LOCAL_REPOSITORY}:{SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def _build_local_base(tag: str, say: Callable[[str], None]) -> None:
    if shutil.which("mmdebstrap") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise HarnessError(
                f"{DEFAULT_BASE} cannot be pulled and mmdebstrap is missing; install it (apt-get install mmdebstrap) "
                f"or make {DEFAULT_BASE} available to the engine."
            )
        say("base: installing mmdebstrap with apt-get")
        apt_install("mmdebstrap")
    say(f"base: building {tag} from Debian {SUITE} packages with mmdebstrap (about a minute)")
    build_dir = ROOT / "build"
    build_dir.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_dir, prefix="base-") as workdir:
        rootfs = f"{workdir}/rootfs.tar"
        result = subprocess.run(_mmdebstrap_command(rootfs), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.splitlines()[-15:])
            raise HarnessError(f"mmdebstrap failed building the base image:\n{tail}")
        changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
        subprocess.run(["docker", "import", *changes, rootfs, tag], check=True, capture_output=True)
    say(f"base: imported {tag}")


def ensure_base(say: Callable[[str], None] = print) -> str:
    """Return the base image to build on, building a local one from Debian if the official one is out of reach."""
    chosen = os.environ.get("STARPUNK_BASE_IMAGE")
    if chosen:
        if not image_present(chosen):
            raise HarnessError(f"STARPUNK_BASE_IMAGE={chosen} is not an image the engine has locally.")
        say(f"base: {chosen} (from STARPUNK_BASE_IMAGE)")
        return chosen
    if image_present(DEFAULT_BASE):
        say(f"base: {DEFAULT_BASE} (present locally)")
        return DEFAULT_BASE
    pull = subprocess.run(
        ["docker", "pull", "--quiet", DEFAULT_BASE], capture_output=True, text=True, timeout=600, check=False
    )
    if pull.returncode == 0:
        say(f"base: {DEFAULT_BASE} (pulled)")
        return DEFAULT_BASE
    tag = local_base_tag()
    reason = (pull.stderr.strip().splitlines() or ["pull failed"])[-1]
    if image_present(tag):
        say(f"base: {tag} (built earlier from Debian; {DEFAULT_BASE} cannot be pulled: {reason})")
        return tag
    say(f"base: {DEFAULT_BASE} cannot be pulled ({reason})")
    _build_local_base(tag, say)
    return tag
