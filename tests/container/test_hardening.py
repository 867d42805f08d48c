"""A hardened runtime and an image without secrets, shell, compiler or pip.

The runtime: a read-only root, no capabilities, no new privileges, any UID.
"""

import os
import re
import secrets
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from testkit.site import Lab, Site

ROOT = Path(__file__).resolve().parents[2]
# What `docker run` needs for the hardened runtime: /tmp is the only scratch space.
HARDENED = {
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}
HARDENED_TMPFS = {"/tmp": "size=16m,mode=1777"}
ANY_UID = 4242
SCAN_TAG = "starpunk:secret-scan-test"
PRIVATE_KEY = re.compile(rb"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----")
KEY_FILE_NAMES = re.compile(r"^(\.env(\..+)?|id_(rsa|dsa|ecdsa|ed25519)(\.pub)?|.+\.(key|p12|pfx))$")
BUILD_TIMEOUT = 600
# Programs the runtime must not carry: shells, compilers, package managers, network tools.
UNWANTED_PROGRAMS = (
    *("sh", "bash", "dash", "busybox", "gcc", "cc", "g++", "c++", "clang", "ld", "make"),
    *("apt", "apt-get", "dpkg", "pip", "pip3", "curl", "wget", "perl"),
)
# Looks in every bin folder of the image, not only on PATH (which holds the venv alone).
FIND_PROGRAMS = (
    "import os, sys\n"
    "folders = ['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/opt/venv/bin']\n"
    "print(' '.join(f for d in folders for f in sys.argv[1:] if os.path.lexists(os.path.join(d, f))))"
)


def publish_restart_and_find(site: Site) -> None:
    """Publish a note, restart the container (SIGTERM, exit 0) and find the note again."""
    owner = site.sign_in()
    marker = f"hardened-{uuid.uuid4().hex[:12]}"
    owner.publish(f"{marker} survives a restart of the hardened container.")
    site.restart()
    assert site.get("/health").status_code == 200
    assert marker in site.get("/").text


def assert_hardened(site: Site, uid: int) -> None:
    """Check from inside that the flags took: read-only root, no capabilities, no new privileges, the given UID."""
    status = site.run("python3", "-c", "print(open('/proc/1/status').read())")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0, (fields["CapEff"], fields["CapPrm"])
    assert fields["Uid"].split()[0] == str(uid)
    exit_code, _, stderr = site.exec("python3", "-c", "open('/app/written', 'w')")
    assert exit_code != 0 and "Read-only file system" in stderr, stderr


def test_hardened_runtime_keeps_notes(lab: Lab) -> None:
    """--read-only (tmpfs /tmp), --cap-drop ALL, no-new-privileges: healthy, and notes survive a restart."""
    site = lab.site(tmpfs=HARDENED_TMPFS, **HARDENED)
    assert_hardened(site, 1000)
    publish_restart_and_find(site)


def test_hardened_runtime_under_an_arbitrary_uid(lab: Lab, tmp_path: Path) -> None:
    """The same, as --user 4242:4242 on a host folder that UID owns.

    Healthy, with notes kept across a restart and a new container.
    """
    if os.geteuid() != 0:
        pytest.skip(f"needs root to give a folder to UID {ANY_UID}")
    folder = tmp_path / "data"
    folder.mkdir()
    os.chown(folder, ANY_UID, ANY_UID)
    user = f"{ANY_UID}:{ANY_UID}"
    site = lab.site(folder, tmpfs=HARDENED_TMPFS, user=user, **HARDENED)
    assert_hardened(site, ANY_UID)
    publish_restart_and_find(site)
    assert (folder / "starpunk.db").stat().st_uid == ANY_UID
    site.stop()
    second = lab.site(folder, tmpfs=HARDENED_TMPFS, user=user, **HARDENED)
    assert "hardened-" in second.get("/").text


def test_runtime_has_no_shell_compiler_package_manager_or_pip(lab: Lab) -> None:
    """No shell, C compiler, linker or package manager anywhere; neither `python3 -m pip` nor ensurepip can run."""
    site = lab.site()
    exit_code, _, _ = site.exec("sh", "-c", "true")
    assert exit_code != 0, "the image has a shell"
    found = site.run("python3", "-c", FIND_PROGRAMS, *UNWANTED_PROGRAMS).split()
    assert found == [], f"in the image: {found}"
    for module in ("pip", "ensurepip"):
        exit_code, _, stderr = site.exec("python3", "-m", module, "--version")
        assert exit_code != 0 and f"No module named {module}" in stderr, stderr


def layer_findings(archive: tarfile.TarFile, needle: bytes) -> list[str]:
    """Return every secret-looking file in one image layer, and every file holding the needle."""
    findings = []
    for member in archive:
        name = Path(member.name).name
        if KEY_FILE_NAMES.match(name) and not member.isdir():
            findings.append(f"{member.name}: secret-looking file name")
        if not member.isfile():
            continue
        content = archive.extractfile(member).read()
        if PRIVATE_KEY.search(content):
            findings.append(f"{member.name}: PEM private key")
        if needle and needle in content:
            findings.append(f"{member.name}: holds the build context's SESSION_SECRET")
    return findings


def scan_saved_image(client: docker.DockerClient, tag: str, folder: Path, needle: bytes = b"") -> list[str]:
    """Save the image with `docker save`, then scan its config and every layer; return what was found."""
    saved = folder / "image.tar"
    with saved.open("wb") as out:
        for chunk in client.images.get(tag).save(named=True):
            out.write(chunk)
    findings = []
    layers = 0
    with tarfile.open(saved) as image:
        for member in image:
            if not member.isfile():
                continue
            data = image.extractfile(member)
            if member.name.endswith("layer.tar"):
                layers += 1
                with tarfile.open(fileobj=data) as layer:
                    findings += [f"{member.name} -> {finding}" for finding in layer_findings(layer, needle)]
            elif needle and needle in data.read():
                # Config and manifest: build arguments and history live there.
                findings.append(f"{member.name}: holds the build context's SESSION_SECRET")
    declared = len(set(client.images.get(tag).attrs["RootFS"]["Layers"]))
    assert layers == declared >= 1, (
        f"{layers} layer(s) in the saved image, {declared} declared: not a format this reads"
    )
    return findings


def test_image_layers_hold_no_env_file_or_private_key(
    docker_client: docker.DockerClient, image: "docker.models.images.Image", image_tag: str, tmp_path: Path
) -> None:
    """The image under test, saved: no .env, no SSH or TLS key file, no PEM private key in any layer."""
    assert scan_saved_image(docker_client, image_tag, tmp_path) == []


@pytest.fixture
def context_with_secrets(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the build context as a developer's checkout holds it.

    It adds a .env, keys and a secret inside the package.
    """
    wheelhouse = ROOT / "build" / "wheelhouse"
    if not any(wheelhouse.glob("*.whl")):
        pytest.fail("build/wheelhouse is empty: run `nox -s image` first (it fills it)")
    context = tmp_path / "context"
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    )
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, context / name)
    shutil.copytree(wheelhouse, context / "build" / "wheelhouse")
    shutil.copytree(ROOT / "build" / "sbom-wheelhouse", context / "build" / "sbom-wheelhouse")
    secret = f"scan-{secrets.token_hex(24)}"
    key = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secrets.token_urlsafe(48)}\n-----END OPENSSH PRIVATE KEY-----\n"
    planted = {
        ".env": f"SESSION_SECRET={secret}\n",
        ".env.production": f"SESSION_SECRET={secret}\n",
        "data/.env": f"SESSION_SECRET={secret}\n",
        ".ssh/id_rsa": key,
        "deploy/server.key": key.replace("OPENSSH ", ""),
        # Inside a folder the Containerfile copies whole: only the ignore file's patterns keep these out.
        "starpunk/.env": f"SESSION_SECRET={secret}\n",
        "starpunk/static/id_ed25519": key,
        "starpunk/templates/tls.pem": key.replace("OPENSSH ", "EC "),
    }
    for name, text in planted.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(text)
    yield context, secret


def test_secrets_in_the_build_context_stay_out_of_the_image(
    docker_client: docker.DockerClient,
    image: "docker.models.images.Image",
    run_labels: dict[str, str],
    context_with_secrets: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """The image carries none of the secrets in its build context.

    The context holds .env files and SSH and TLS keys, also inside starpunk/.
    """
    context, secret = context_with_secrets
    base = image.labels["org.opencontainers.image.base.name"]
    command = ["docker", "build", "--file", str(context / "Containerfile"), "--build-arg", f"BASE_IMAGE={base}"]
    for key, value in run_labels.items():
        command += ["--label", f"{key}={value}"]
    command += ["--tag", SCAN_TAG, str(context)]
    try:
        # The secret is in the build's environment too, as it would be in a shell that sourced .env.
        result = subprocess.run(
            command,
            env={**os.environ, "SESSION_SECRET": secret},
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        findings = scan_saved_image(docker_client, SCAN_TAG, tmp_path, secret.encode())
    finally:
        try:
            docker_client.images.remove(SCAN_TAG, noprune=False)
        except docker.errors.ImageNotFound:
            pass
    assert findings == []
