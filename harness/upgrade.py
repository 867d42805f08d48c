"""The previous release for `nox -s upgrade`.

It is found by its tag (or the commit releases.toml records) and built once with its own recipe.

The release is checked out in a git worktree under build/releases/ and built
by its own harness, run with the host Python it was made for and with the
worktree as its folder, so its Containerfile, base image, wheelhouse and
requirements are the ones it shipped with, offline as every build here. Only
the tag differs: starpunk-release:<tag>, never starpunk:<version> or
starpunk:latest, which name the image of the current code.
"""

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import ROOT, HarnessError
from .image import app_version

RELEASES_FILE = ROOT / "releases.toml"
WORKTREES = ROOT / "build" / "releases"
RELEASE_REPOSITORY = "starpunk-release"
REVISION_LABEL = "org.opencontainers.image.revision"
FETCH_TIMEOUT = 120
BUILD_TIMEOUT = 1800
LOG_LINES = 30

# Run by the release's own Python in its worktree, so `harness` is the release's
# harness. It builds as that release's `nox -s image` does, tagged as given.
BUILD_SCRIPT = r"""
import subprocess, sys
from harness import base, image

tag, python = sys.argv[1], sys.executable
base_image = base.ensure_base(say=print)
if hasattr(image, "fill_wheelhouse"):  # later releases pick wheels for the image's own Python
    image.fill_wheelhouse(python, image.probe_target(base_image), say=print)
else:  # v0.6.0: wheels for the host's Python, the same minor version as the image's
    image.reset_wheelhouse()
    for command in image.wheelhouse_commands(python):
        subprocess.run(command, check=True)
command = image.build_command(base_image)
context = command.pop()
while "--tag" in command:  # its own tags (starpunk:<version>, starpunk:latest) name the current image
    at = command.index("--tag")
    del command[at:at + 2]
subprocess.run([*command, "--tag", tag, context], check=True)
"""


@dataclass(frozen=True)
class Release:
    """One release as releases.toml names it."""

    version: str
    tag: str
    commit: str
    host_python: str

    @property
    def image(self) -> str:
        """Return the tag its image is built as, e.g. starpunk-release:v0.6.0."""
        return f"{RELEASE_REPOSITORY}:{self.tag}"


def version_key(version: str) -> tuple[int, ...]:
    """Return a version X.Y.Z as a tuple that sorts in release order."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        raise HarnessError(f"version {version!r} is not of the form X.Y.Z") from None


def releases(path: Path = RELEASES_FILE) -> list[Release]:
    """Return every release releases.toml lists."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path} is missing: it names the releases `nox -s upgrade` upgrades from.") from None
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"{path.name} is not valid TOML: {exc}") from None
    found = []
    for entry in data.get("release", []):
        try:
            found.append(Release(**entry))
        except TypeError:
            raise HarnessError(
                f"{path.name}: each [[release]] needs exactly version, tag, commit and host_python; found {entry}"
            ) from None
    return found


def previous_release(current: str | None = None, path: Path = RELEASES_FILE) -> Release:
    """Return the newest release at or below the current version (the one a site upgrades from)."""
    current = current or app_version()
    candidates = [release for release in releases(path) if version_key(release.version) <= version_key(current)]
    if not candidates:
        raise HarnessError(f"{path.name} names no release at or below the current version {current}.")
    return max(candidates, key=lambda release: version_key(release.version))


def older_releases(current: str | None = None, path: Path = RELEASES_FILE) -> list[Release]:
    """Return the releases below the previous one, oldest first: a site on any of them upgrades in one step too."""
    previous = previous_release(current, path)
    older = [release for release in releases(path) if version_key(release.version) < version_key(previous.version)]
    return sorted(older, key=lambda release: version_key(release.version))


def _git(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _resolve(revision: str, cwd: Path = ROOT) -> str:
    result = _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=cwd)
    return result.stdout.strip() if result.returncode == 0 else ""


def _fetch(release: Release, repo: Path) -> str:
    """Try once to fetch the release's tag from origin; return why it failed, or "" when it worked."""
    refspec = f"+refs/tags/{release.tag}:refs/tags/{release.tag}"
    try:
        result = _git("fetch", "--quiet", "--no-tags", "origin", refspec, cwd=repo, timeout=FETCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"`git fetch origin` gave no answer within {FETCH_TIMEOUT} s"
    if result.returncode != 0:
        lines: list[str] = result.stderr.strip().splitlines() or ["git fetch failed"]
        return lines[-1]
    return ""


def release_commit(release: Release, say: Callable[[str], None] = print, repo: Path = ROOT) -> str:
    """Return the release's commit: its tag's, else the recorded one.

    Fetch the tag from origin once if neither is in this clone.
    """
    fetch_failure = ""
    for attempt in ("local", "fetched"):
        tagged = _resolve(f"refs/tags/{release.tag}", repo)
        if tagged:
            if tagged != release.commit:
                raise HarnessError(
                    f"tag {release.tag} names commit {tagged}, but releases.toml records {release.commit} for it; "
                    "a release tag never moves: correct whichever of the two is wrong."
                )
            say(f"release: {release.tag} found by its tag, commit {tagged[:12]}")
            return tagged
        recorded = _resolve(release.commit, repo)
        if recorded:
            say(
                f"release: this clone has no tag {release.tag}; using the commit releases.toml records, {recorded[:12]}"
            )
            return recorded
        if attempt == "local":
            say(
                f"release: neither tag {release.tag} nor commit {release.commit[:12]} is in this clone; "
                "fetching the tag from origin"
            )
            fetch_failure = _fetch(release, repo)
    raise HarnessError(
        f"cannot find release {release.tag}: "
        f"neither its tag nor the commit {release.commit[:12]} that releases.toml records "
        f"is in this clone (shallow, or cloned without tags), and fetching it from origin failed ({fetch_failure}). "
        f"Fetch it (`git fetch origin tag {release.tag}`, or `git fetch --unshallow --tags`) and run again."
    )


def release_worktree(release: Release, commit: str, say: Callable[[str], None] = print) -> Path:
    """Return a clean git worktree of the commit under build/releases/, reusing one that is already there."""
    path = WORKTREES / release.tag
    if path.exists():
        toplevel = _git("rev-parse", "--show-toplevel", cwd=path).stdout.strip()
        clean = not _git("status", "--porcelain", "--untracked-files=no", cwd=path).stdout.strip()
        if toplevel and Path(toplevel).resolve() == path.resolve() and _resolve("HEAD", cwd=path) == commit and clean:
            return path
        say(f"release: {path} is not a clean checkout of {commit[:12]}; making it again")
        _git("worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
    _git("worktree", "prune")
    path.parent.mkdir(parents=True, exist_ok=True)
    result = _git("worktree", "add", "--force", "--detach", str(path), commit)
    if result.returncode != 0:
        raise HarnessError(f"`git worktree add {path} {commit[:12]}` failed: {result.stderr.strip()}")
    say(f"release: checked out {release.tag} in {path.relative_to(ROOT)}")
    return path


def image_revision(tag: str) -> str:
    """Return the revision label of a local image ("" when the engine has no such image)."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return ""
    labels: dict[str, str] = json.loads(result.stdout) or {}
    return labels.get(REVISION_LABEL, "")


def _release_python(release: Release) -> str:
    name = f"python{release.host_python}"
    found = shutil.which(name)
    probe = (
        subprocess.run([found, "-m", "pip", "--version"], capture_output=True, text=True, check=False)
        if found
        else None
    )
    if found is None or probe is None or probe.returncode != 0:
        raise HarnessError(
            f"release {release.tag} builds its image with Python {release.host_python} on the host "
            "(host_python in releases.toml), "
            f"and `{name} -m pip` does not run here; install CPython {release.host_python} with pip."
        )
    return found


def ensure_release_image(release: Release, say: Callable[[str], None] = print) -> str:
    """Return the release's image, building it from its own worktree and recipe unless the engine has it already."""
    commit = release_commit(release, say)
    if image_revision(release.image) == commit:
        say(f"release: {release.image} is built already (revision {commit[:12]}); reusing it")
        return release.image
    worktree = release_worktree(release, commit, say)
    python = _release_python(release)
    log = WORKTREES / f"{release.tag}-build.log"
    # The release's harness chooses its own base; a base chosen for the current image must not leak into it.
    env = {key: value for key, value in os.environ.items() if key not in ("STARPUNK_BASE_IMAGE", "PYTHONPATH")}
    say(
        f"release: building {release.image} with {release.tag}'s own recipe and {python} "
        f"(a few minutes; log: {log.relative_to(ROOT)})"
    )
    with log.open("w") as output:
        try:
            result = subprocess.run(
                [python, "-c", BUILD_SCRIPT, release.image],
                cwd=worktree,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HarnessError(f"building {release.image} took over {BUILD_TIMEOUT} s; see {log}") from None
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-LOG_LINES:])
        raise HarnessError(
            f"building {release.image} from {release.tag} failed (exit {result.returncode}); "
            f"last lines of {log}:\n{tail}"
        )
    built = image_revision(release.image)
    if built != commit:
        raise HarnessError(f"{release.image} was built but its {REVISION_LABEL} label is {built!r}, not {commit}.")
    say(f"release: built {release.image}")
    return release.image
