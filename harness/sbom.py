"""The image's SBOM on the host: read back from the built image, validated against CycloneDX 1.6, summarised.

The builder stage writes it (image_sbom.py); `nox -s image` then runs
`python -m harness.sbom IMAGE` in a venv with cyclonedx-python-lib's JSON
validator (pyproject.toml's `sbom-check` group), which writes
build/reports/sbom/starpunk.cdx.json and summary.md.
"""

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from importlib import metadata
from typing import Any
from urllib.parse import unquote

from . import ROOT, HarnessError

# Where the SBOM is in the image (the Containerfile puts it there).
IMAGE_PATH = "/usr/share/starpunk/sbom.cdx.json"
REPORT = ROOT / "build" / "reports" / "sbom"
REPORT_FILE = REPORT / "starpunk.cdx.json"


def read_from_image(image: str, path: str = IMAGE_PATH) -> str:
    """Return a text file of the image, read from a created (never started) container."""
    created = subprocess.run(["docker", "create", image], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        raise HarnessError(f"could not create a container of {image}: {created.stderr.strip()}")
    container = created.stdout.strip()
    try:
        copied = subprocess.run(["docker", "cp", f"{container}:{path}", "-"], capture_output=True, check=False)
    finally:
        subprocess.run(["docker", "rm", container], capture_output=True, check=False)
    if copied.returncode != 0:
        raise HarnessError(f"{image} has no {path}: {copied.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as archive:
        member = archive.extractfile(archive.getmembers()[0])
        if member is None:
            raise HarnessError(f"{path} in {image} is not a file")
        return member.read().decode("utf-8")


def validation_errors(text: str) -> str | None:
    """Return why text is not a valid CycloneDX 1.6 JSON document (cyclonedx-python-lib's strict validator), or None."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)


def kind_of(component: dict[str, Any]) -> str:
    """Return what a component is: deb, pypi, or the purl type of anything else."""
    purl = str(component.get("purl", ""))
    return purl.split(":", 1)[1].split("/", 1)[0] if purl.startswith("pkg:") else "other"


def summary(bom: dict[str, Any]) -> str:
    """Return a Markdown summary: the counts, then every component by kind."""
    components = sorted(bom.get("components", []), key=lambda component: (kind_of(component), component["name"]))
    subject = bom["metadata"]["component"]
    debian = [component for component in components if kind_of(component) == "deb"]
    python = [component for component in components if kind_of(component) == "pypi"]
    lines = [
        f"# SBOM of {subject['name']} {subject.get('version', '')} (CycloneDX {bom['specVersion']})",
        "",
        f"{len(components)} components: {len(debian)} Debian packages, {len(python)} Python distributions, "
        f"{len(components) - len(debian) - len(python)} other (the app). Timestamp {bom['metadata'].get('timestamp')}.",
        "",
        "| kind | name | version | purl |",
        "|---|---|---|---|",
    ]
    for component in components:
        lines.append(
            f"| {kind_of(component)} | {component['name']} | {component.get('version', '')} "
            f"| {unquote(str(component.get('purl', '')))} |"
        )
    return "\n".join(lines) + "\n"


def validated_stamp(text: str) -> str:
    """Return what identifies one validation: the document's SHA-256 and the validator's version."""
    return (
        f"{hashlib.sha256(text.encode()).hexdigest()} cyclonedx-python-lib {metadata.version('cyclonedx-python-lib')}\n"
    )


def main(image: str) -> int:
    """Read the SBOM from image, validate it and write it with its summary to build/reports/sbom/.

    The same bytes validated by the same validator before are not validated
    again (its format checks take seconds): a code-only rebuild keeps its SBOM.
    """
    text = read_from_image(image)
    stamp = REPORT / ".validated"
    again = stamp.is_file() and stamp.read_text(encoding="utf-8") == validated_stamp(text)
    if not again:
        error = validation_errors(text)
        if error is not None:
            print(f"sbom: {IMAGE_PATH} in {image} is not valid CycloneDX 1.6: {error}", file=sys.stderr)
            return 1
    REPORT.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(text, encoding="utf-8")
    bom = json.loads(text)
    (REPORT / "summary.md").write_text(summary(bom), encoding="utf-8")
    stamp.write_text(validated_stamp(text), encoding="utf-8")
    how = "the same bytes as validated before" if again else "validated"
    print(f"sbom: {len(bom['components'])} components, CycloneDX 1.6 ({how}), in {REPORT_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
