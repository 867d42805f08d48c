"""Write the image's CycloneDX 1.6 SBOM (JSON), in the builder stage, once runtime_root.py has assembled the root.

Run by the Python of the SBOM tools' venv (cyclonedx-bom and cyclonedx-python-lib,
pinned in pyproject.toml's `sbom` group, installed from the wheelhouse):

    /opt/sbom-tools/bin/python3 image_sbom.py ROOT VERSION OUTPUT

The Python half is cyclonedx-py's, read from the venv as installed (name,
version, declared licence, dependencies); the Debian half comes from the package
records runtime_root.py wrote (ROOT/var/lib/dpkg/status.d) and the root's
os-release; the SBOM's subject is the container image, which holds the app.
SOURCE_DATE_EPOCH is its timestamp and the serial number is derived from what
it lists, so the same inputs give the same bytes.
"""

import hashlib
import json
import os
import platform
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

VENV_PYTHON = "/opt/venv/bin/python3"
RECORDS = Path("var/lib/dpkg/status.d")
OS_RELEASE = Path("usr/lib/os-release")
DESCRIPTION = "A minimal, self-hosted, single-author IndieWeb microblog"


def read_fields(text: str) -> dict[str, str]:
    """Return the `Key: value` fields of one package record."""
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith(" "))
    return {key.strip(): value.strip() for key, value in pairs}


def read_os_release(root: Path) -> dict[str, str]:
    """Return os-release's KEY=value pairs, unquoted."""
    pairs = (line.split("=", 1) for line in (root / OS_RELEASE).read_text().splitlines() if "=" in line)
    return {key: value.strip().strip('"') for key, value in pairs}


def python_bom(venv_python: str) -> Bom:
    """Return cyclonedx-py's SBOM of the venv: one component per installed distribution."""
    command = [sys.executable, "-m", "cyclonedx_py", "environment", "--sv", "1.6", "--of", "JSON"]
    # Validation happens on the host (nox -s image); the builder has no jsonschema.
    command += ["--output-reproducible", "--no-validate", "-o", "-", venv_python]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return Bom.from_json(json.loads(done.stdout))  # type: ignore[attr-defined]


def debian_components(root: Path) -> list[Component]:
    """Return one component per Debian package recorded in the root, purl pkg:deb/debian/NAME@VERSION."""
    release = read_os_release(root)
    distro = f"{release['ID']}-{release['VERSION_ID']}"
    components = []
    for record in sorted((root / RECORDS).iterdir()):
        fields = read_fields(record.read_text())
        qualifiers = {"arch": fields["Architecture"], "distro": distro}
        purl = PackageURL("deb", "debian", fields["Package"], fields["Version"], qualifiers)
        components.append(
            Component(
                type=ComponentType.LIBRARY,
                name=fields["Package"],
                version=fields["Version"],
                purl=purl,
                bom_ref=purl.to_string(),
                properties=[Property(name="debian:source", value=fields["Source"])],
            )
        )
    return components


def interpreter_component() -> Component | None:
    """Return CPython as a component when the base built it outside Debian's packages (the official image)."""
    if sys.base_prefix == "/usr":
        return None
    version = platform.python_version()
    purl = PackageURL("generic", None, "cpython", version)
    return Component(
        type=ComponentType.APPLICATION,
        name="cpython",
        version=version,
        purl=purl,
        bom_ref=purl.to_string(),
        description=f"CPython in {sys.base_prefix}, built by the base image, not a Debian package",
    )


def image_bom(root: Path, version: str) -> Bom:
    """Return the image's SBOM: the venv's distributions, the Debian packages, the app, with the image as subject."""
    bom = python_bom(VENV_PYTHON)
    distributions = list(bom.components)
    # The app needs the distributions no other one pulls in: requirements.txt's direct pins.
    pulled_in = {ref for dependency in bom.dependencies for ref in dependency.dependencies_as_bom_refs()}
    direct = [component for component in distributions if component.bom_ref not in pulled_in]
    app = Component(
        type=ComponentType.APPLICATION,
        name="starpunk",
        version=version,
        description=DESCRIPTION,
        purl=PackageURL("generic", None, "starpunk", version),
        bom_ref=f"pkg:generic/starpunk@{version}",
    )
    system = debian_components(root)
    interpreter = interpreter_component()
    if interpreter is not None:
        system.append(interpreter)
    image = Component(
        type=ComponentType.CONTAINER,
        name="starpunk",
        version=version,
        description=f"{DESCRIPTION} (container image)",
        bom_ref=f"starpunk-image@{version}",
    )
    for component in [app, *system]:
        bom.components.add(component)
    bom.register_dependency(app, direct)
    bom.register_dependency(image, [app, *system])
    for component in system:
        bom.register_dependency(component, [])
    bom.metadata.component = image
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or 0)
    bom.metadata.timestamp = datetime.fromtimestamp(epoch, timezone.utc)
    listed = "\n".join(sorted(str(component.purl) for component in bom.components))
    bom.serial_number = uuid.uuid5(uuid.NAMESPACE_URL, f"starpunk-sbom:{version}:{epoch}:{_digest(listed)}")
    return bom


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def main(root: Path, version: str, output: Path) -> None:
    """Write the SBOM of the image assembled in root to output."""
    bom = image_bom(root, version)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(JsonV1Dot6(bom).output_as_string(indent=2) + "\n")
    print(f"image_sbom: {len(bom.components)} components written to {output}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: image_sbom.py ROOT VERSION OUTPUT")
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
