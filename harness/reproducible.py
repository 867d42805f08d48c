"""Compare two builds of the same commit (`nox -s reproducible`): the same layers, byte for byte.

The classic builder cannot give two builds the same image digest: the image's
configuration records when each step ran (`created`, in the image and in every
history entry) and the id of the container each step ran in. What the builds
can share is every layer: its diff_id is the SHA-256 of the layer's
uncompressed tar, headers (names, modes, owners, times) included, so two equal
lists of diff_ids mean the same root file system, SBOM and app, file for file.
This module reads them, finds the entries that differ when they do not match
(from `docker save` of both), and writes build/reports/reproducible/.
"""

import hashlib
import json
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import ROOT, HarnessError

REPORT = ROOT / "build" / "reports" / "reproducible"
SHOWN_DIFFERENCES = 50


@dataclass(frozen=True)
class Build:
    """One built image: its id (the digest of its configuration), when it was built, its layers' diff_ids."""

    tag: str
    image_id: str
    created: str
    layers: tuple[str, ...]

    @property
    def content_digest(self) -> str:
        """Return one SHA-256 over the ordered diff_ids: the same for two builds exactly when every layer is."""
        return "sha256:" + hashlib.sha256("\n".join(self.layers).encode()).hexdigest()


def layers_of(tag: str) -> Build:
    """Return the id, build time and layer diff_ids of a local image."""
    result = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"image {tag} not found: {result.stderr.strip()}")
    attrs = json.loads(result.stdout)[0]
    return Build(tag, attrs["Id"], attrs["Created"], tuple(attrs["RootFS"]["Layers"]))


def _entry(archive: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    """Describe one layer entry by everything its tar header and content hold."""
    digest = ""
    if member.isfile():
        content = archive.extractfile(member)
        digest = hashlib.sha256(content.read() if content else b"").hexdigest()[:16]
    return (
        f"type={member.type.decode()} mode={member.mode:o} owner={member.uid}:{member.gid} "
        f"mtime={member.mtime} size={member.size} link={member.linkname} sha256={digest} "
        f"pax={sorted(member.pax_headers.items())}"
    )


def layer_entries(tag: str) -> dict[str, str]:
    """Return every entry of every layer of an image, as {"layer N: path": description}, from `docker save`."""
    with tempfile.TemporaryDirectory(dir=ROOT / "build", prefix="reproducible-") as scratch:
        saved = Path(scratch) / "image.tar"
        with saved.open("wb") as out:
            result = subprocess.run(["docker", "save", tag], stdout=out, stderr=subprocess.PIPE, check=False)
        if result.returncode != 0:
            raise HarnessError(f"docker save {tag} failed: {result.stderr.decode(errors='replace').strip()}")
        entries = {}
        with tarfile.open(saved) as image:
            manifest = image.extractfile("manifest.json")
            if manifest is None:
                raise HarnessError(f"docker save {tag} wrote no manifest.json")
            for number, name in enumerate(json.loads(manifest.read())[0]["Layers"]):
                layer = image.extractfile(name)
                if layer is None:
                    raise HarnessError(f"docker save {tag}: no layer {name}")
                with tarfile.open(fileobj=layer) as archive:
                    for member in archive:
                        entries[f"layer {number}: {member.name}"] = _entry(archive, member)
        return entries


def differing_files(first: str, second: str) -> list[str]:
    """Return the layer entries in which two images differ, each with both descriptions."""
    one, two = layer_entries(first), layer_entries(second)
    different = []
    for key in sorted(one.keys() | two.keys()):
        if one.get(key) != two.get(key):
            different.append(f"{key}: {one.get(key, 'absent')} | {two.get(key, 'absent')}")
    return different


def write_reproducibility_report(builds: list[Build], different: list[str]) -> Path:
    """Write build/reports/reproducible/summary.md and result.json; return the summary's path."""
    REPORT.mkdir(parents=True, exist_ok=True)
    same = len({build.layers for build in builds}) == 1
    lines = [
        "# Two builds of the same commit, no cache",
        "",
        f"Verdict: {'the same layers, byte for byte' if same else 'the layers DIFFER'}. "
        "Image ids differ by design: the classic builder records each build's time in the image's configuration.",
        "",
        "| build | image id | built at | content digest (SHA-256 over the layers' diff_ids) |",
        "|---|---|---|---|",
    ]
    for build in builds:
        lines.append(f"| {build.tag} | {build.image_id} | {build.created} | {build.content_digest} |")
    lines += ["", "Layers (diff_id: SHA-256 of the uncompressed layer tar):", ""]
    for number, layer in enumerate(builds[0].layers):
        others = [build.layers[number] if number < len(build.layers) else "absent" for build in builds[1:]]
        lines.append(f"{number}. {layer}" + ("" if all(other == layer for other in others) else f" != {others}"))
    if different:
        lines += ["", f"Differences ({len(different)}; the first {SHOWN_DIFFERENCES}):", ""]
        lines += [f"- {line}" for line in different[:SHOWN_DIFFERENCES]]
    summary = REPORT / "summary.md"
    summary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = {
        "same": same,
        "checked": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "builds": [{**asdict(build), "content_digest": build.content_digest} for build in builds],
        "differences": different,
    }
    (REPORT / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return summary
