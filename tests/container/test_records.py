"""What scanners read in the image: os-release, the Debian package records, the SBOM and the labels."""

import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import docker
import pytest
from docker.errors import ImageNotFound

from harness.image import SBOM_INPUTS
from runtime_root import GENERATED, OWN_FILES

ROOT = Path(__file__).resolve().parents[2]
RECORDS = "var/lib/dpkg/status.d/"
SBOM_PATH = "/usr/share/starpunk/sbom.cdx.json"
RECORD_FIELDS = ("Package", "Version", "Architecture", "Source")
# Written by the build and no package's: the app, the venv, the records and the SBOM themselves.
BUILD_OWN = ("app/", "opt/venv/", RECORDS, SBOM_PATH.lstrip("/"))
# What the engine puts into every container (an export shows them), not the image's layers.
ENGINE_OWN = (".dockerenv", "dev/", "proc/", "sys/", "etc/hostname", "etc/hosts", "etc/resolv.conf")


def fields_of(text: str) -> dict[str, str]:
    """Return the `Key: value` fields of a package record or status stanza (continuation lines skipped)."""
    pairs = (line.split(": ", 1) for line in text.splitlines() if ": " in line and not line.startswith(" "))
    return dict(pairs)


def read_tar(chunks: Iterator[bytes]) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Return every member of a tar stream with its content (empty for anything but a small-enough file)."""
    members = {}
    with tarfile.open(fileobj=BytesIO(b"".join(chunks))) as archive:
        for member in archive:
            named = member.name.startswith(("var/lib/dpkg", "dpkg/")) or "os-release" in member.name
            wanted = member.isfile() and named
            content = archive.extractfile(member) if wanted else None
            members[member.name.removeprefix("./")] = (member, content.read() if content else b"")
    return members


@pytest.fixture(scope="module")
def image_files(docker_client: docker.DockerClient, image: "docker.models.images.Image", run_labels: dict[str, str]):
    """Return the image's file system as {path: (tar header, content of records and os-release)}."""
    container = docker_client.containers.create(image.id, labels=run_labels)
    try:
        return read_tar(container.export())
    finally:
        container.remove(v=True, force=True)


@pytest.fixture(scope="module")
def base_dpkg(docker_client: docker.DockerClient, image: "docker.models.images.Image", run_labels: dict[str, str]):
    """Return the dpkg database of the base the image was assembled from, as {path under dpkg/: content}."""
    base = image.labels["org.opencontainers.image.base.name"]
    try:
        docker_client.images.get(base)
    except ImageNotFound:
        docker_client.images.pull(base)  # where a registry answers (CI's hosted runners); else this fails, naming it
    container = docker_client.containers.create(base, labels=run_labels)
    try:
        stream, _ = container.get_archive("/var/lib/dpkg")
        return {name: content for name, (_, content) in read_tar(stream).items()}
    finally:
        container.remove(v=True, force=True)


@pytest.fixture(scope="module")
def sbom(image_files, docker_client, image, run_labels) -> dict:
    """Return the image's SBOM."""
    container = docker_client.containers.create(image.id, labels=run_labels)
    try:
        stream, _ = container.get_archive(SBOM_PATH)
        with tarfile.open(fileobj=BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            assert member is not None
            return json.loads(member.read())
    finally:
        container.remove(v=True, force=True)


def records_of(image_files) -> dict[str, dict[str, str]]:
    """Return the image's package records by file name."""
    return {
        name[len(RECORDS) :]: fields_of(content.decode())
        for name, (member, content) in image_files.items()
        if name.startswith(RECORDS) and member.isfile()
    }


def installed_in_base(base_dpkg) -> dict[str, dict[str, str]]:
    """Return the base's installed packages' fields by package name."""
    stanzas = [fields_of(stanza) for stanza in base_dpkg["dpkg/status"].decode().split("\n\n") if stanza.strip()]
    return {fields["Package"]: fields for fields in stanzas if fields.get("Status", "").endswith(" installed")}


def owners_in_base(base_dpkg, aliases: dict[str, str]) -> dict[str, str]:
    """Return {path: package} from the base's file lists, merged-/usr aliases (/lib -> /usr/lib) resolved."""
    owners = {}
    for name, content in sorted(base_dpkg.items()):
        if name.startswith("dpkg/info/") and name.endswith(".list"):
            package = PurePosixPath(name).stem.split(":")[0]
            for line in content.decode().splitlines():
                owners.setdefault(resolve(line.lstrip("/"), aliases), package)
    return owners


def resolve(path: str, aliases: dict[str, str]) -> str:
    """Return path with a top-level folder symlink of the image (lib -> usr/lib) resolved."""
    top, _, rest = path.partition("/")
    return f"{aliases[top]}/{rest}" if top in aliases and rest else path


def test_os_release_is_the_bases(image_files, base_dpkg, docker_client, image, run_labels) -> None:
    """/etc/os-release (a link) and /usr/lib/os-release name the Debian release of the base, byte for byte."""
    member, content = image_files["usr/lib/os-release"]
    assert member.isfile()
    assert image_files["etc/os-release"][0].linkname == "../usr/lib/os-release"
    base = image.labels["org.opencontainers.image.base.name"]
    container = docker_client.containers.create(base, labels=run_labels)
    try:
        stream, _ = container.get_archive("/usr/lib/os-release")
        assert read_tar(stream)["os-release"][1] == content
    finally:
        container.remove(v=True, force=True)
    assert re.search(rb"^ID=debian$", content, re.MULTILINE), content


def test_every_file_belongs_to_a_recorded_package_and_every_record_to_a_file(image_files, base_dpkg, sbom) -> None:
    """Outside the app, the venv and the build's own files, each file is a recorded package's; each record has one."""
    aliases = {
        name: str(PurePosixPath(member.linkname))
        for name, (member, _) in image_files.items()
        if member.issym() and "/" not in name and not member.linkname.startswith("/")
    }
    owners = owners_in_base(base_dpkg, aliases)
    recorded = records_of(image_files)
    # The official python image builds CPython into /usr/local itself: no Debian package holds it, the SBOM does.
    outside_debian = any(str(item.get("purl", "")).startswith("pkg:generic/cpython@") for item in sbom["components"])
    unowned, used = [], set()
    for name, (member, _) in sorted(image_files.items()):
        if not member.isfile() or name.startswith(BUILD_OWN + ENGINE_OWN) or f"/{name}" in OWN_FILES:
            continue
        path = resolve(name, aliases)
        owner = owners.get(path) or (owners.get(path[:-1]) if path.endswith(".pyc") else None)
        owner = owner or GENERATED.get(f"/{name}")
        if owner is None and not (outside_debian and name.startswith("usr/local/")):
            unowned.append(name)
        elif owner is not None:
            used.add(owner)
            assert owner in recorded, f"{name} belongs to {owner}, which has no record"
    assert not unowned, f"files of no recorded package: {unowned[:20]}"
    assert set(recorded) == used, f"records without a file: {sorted(set(recorded) - used)}"


def test_records_are_the_bases_versions(image_files, base_dpkg) -> None:
    """Each record holds Package, Version, Architecture and Source exactly as the base's dpkg status has them."""
    installed = installed_in_base(base_dpkg)
    recorded = records_of(image_files)
    assert {"libc6", "libssl3t64", "libsqlite3-0", "base-files"} <= set(recorded), sorted(recorded)
    for name, fields in recorded.items():
        assert list(fields) == list(RECORD_FIELDS), name
        base = installed[name]
        expected = {**base, "Source": base.get("Source", base["Package"])}
        assert {key: expected[key] for key in RECORD_FIELDS} == fields, name


def test_no_dpkg_database_beyond_the_records(image_files) -> None:
    """The records are all there is of dpkg: no status file, no file lists, no dpkg or apt program."""
    dpkg = [name for name in image_files if name.startswith("var/lib/dpkg/")]
    assert dpkg and not [name for name in dpkg if not name.startswith(RECORDS.rstrip("/"))], dpkg


def canonical(name: str) -> str:
    """Return a Python distribution's name normalised (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# A pin requirements.txt marks so is installed and then removed by the Containerfile: the image does not hold it.
LEFT_OUT = "# left out of the image"


def test_sbom_python_components_are_exactly_the_pins(sbom) -> None:
    """The SBOM's pkg:pypi components are requirements.txt's pins, no more, no fewer, at the same versions.

    Pins marked as left out of the image are not in it, so not in its SBOM (pip-audit still checks them).
    """
    pins = {
        canonical(name): version
        for name, version in (
            line.split("#")[0].strip().split("==")
            for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.split("#")[0].strip() and LEFT_OUT not in line
        )
    }
    python = {
        canonical(item["name"]): item["version"]
        for item in sbom["components"]
        if str(item.get("purl", "")).startswith("pkg:pypi/")
    }
    assert python == pins


def test_sbom_debian_components_are_the_records(sbom, image_files) -> None:
    """Each Debian package recorded in the image is in the SBOM as pkg:deb/debian/NAME@VERSION?arch=...&distro=."""
    release = image_files["usr/lib/os-release"][1].decode()
    found = re.search(r'^VERSION_ID="?(\d+)', release, re.MULTILINE)
    assert found, release
    expected = {
        f"pkg:deb/debian/{fields['Package']}@{fields['Version']}?arch={fields['Architecture']}&distro=debian-{found[1]}"
        for fields in records_of(image_files).values()
    }
    # A purl escapes the version's + and : (%2B, %3A), as scanners write them.
    debian = {unquote(item["purl"]) for item in sbom["components"] if str(item.get("purl", "")).startswith("pkg:deb/")}
    assert debian == expected


def test_sbom_describes_the_image_and_the_app(sbom, image) -> None:
    """The SBOM's subject is the image at its version; the app is a component that needs the direct pins."""
    version = image.labels["org.opencontainers.image.version"]
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    subject = sbom["metadata"]["component"]
    assert (subject["type"], subject["name"], subject["version"]) == ("container", "starpunk", version)
    app = next(item for item in sbom["components"] if item.get("purl") == f"pkg:generic/starpunk@{version}")
    graph = {entry["ref"]: entry.get("dependsOn", []) for entry in sbom["dependencies"]}
    assert app["bom-ref"] in graph[subject["bom-ref"]]
    # Every Python distribution is the app's, directly or through another one.
    reached, todo = set(), [app["bom-ref"]]
    while todo:
        for ref in graph.get(todo.pop(), []):
            if ref not in reached:
                reached.add(ref)
                todo.append(ref)
    python = {item["bom-ref"] for item in sbom["components"] if str(item.get("purl", "")).startswith("pkg:pypi/")}
    assert python and python <= reached, sorted(python - reached)
    assert image.labels["org.starpunk.sbom"] == SBOM_PATH


def committed_at(revision: str, *paths: str) -> datetime:
    """Return the time of revision's commit, or of its last ancestor that changed one of paths."""
    committed = subprocess.run(
        ["git", "log", "-1", "--format=%ct", revision, "--", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if committed.returncode != 0 or not committed.stdout.strip():
        pytest.fail(f"the revision label {revision} is not a commit of this checkout: {committed.stderr.strip()}")
    return datetime.fromtimestamp(int(committed.stdout), timezone.utc)


def test_labels_and_sbom_carry_commit_times(image, sbom) -> None:
    """created is the revision's commit time (not the build's), the SBOM's that of the last change to what it lists."""
    labels = image.labels
    revision = labels["org.opencontainers.image.revision"].removesuffix("-dirty")
    assert labels["org.opencontainers.image.created"] == committed_at(revision).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert datetime.fromisoformat(sbom["metadata"]["timestamp"]) == committed_at(revision, *SBOM_INPUTS)
    for name in ("version", "source", "licenses", "title", "description"):
        assert labels[f"org.opencontainers.image.{name}"], name
