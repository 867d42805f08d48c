"""A running StarPunk under test: one Site abstraction, driven here through the engine API, and a Lab that cleans up.

Site holds everything that does not depend on how the container is driven
(HTTP on 127.0.0.1, waiting, the database, signing in); a subclass drives one
engine. ApiSite drives the docker SDK through testcontainers; CliSite
(testkit/cli.py) drives the docker or podman command line, with the same shape
(start, stop, kill, exec, logs, state, remove), for the tests that are about
the command line.
"""

import json
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, cast

from .env import TESTCONTAINERS_ENV

# testcontainers reads these when it is imported (testkit/env.py says why).
for _name, _value in TESTCONTAINERS_ENV.items():
    os.environ.setdefault(_name, _value)

import docker  # noqa: E402
import requests  # noqa: E402
from docker.models.containers import Container  # noqa: E402
from testcontainers.core.container import DockerContainer  # noqa: E402

from . import runs  # noqa: E402
from .env import SITE_URL, site_env  # noqa: E402
from .owner import Owner  # noqa: E402
from .ports import free_port, loopback_url  # noqa: E402
from .waiting import wait_for  # noqa: E402
from .web import TIMEOUT, plain_session  # noqa: E402

APP_UID = 1000
POLL_SECONDS = 0.05
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30
# How long whatever a container writes after a reply (logs, engine state) may take to show.
SETTLE_TIMEOUT = 30.0
DOWN = ("exited", "dead")


class SiteDown(AssertionError):
    """The container stopped while a test waited for it to answer."""


def unique_name(prefix: str = "starpunk-test") -> str:
    """Return a container or volume name no other run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Site(ABC):
    """One StarPunk container published on 127.0.0.1:port; how it is driven is up to the subclass."""

    def __init__(self, env: dict[str, str], name: str | None = None, port: int | None = None) -> None:
        self.name = name or unique_name()
        self.port = port or free_port()
        self.env = env
        self.started_at = 0.0
        self.http = plain_session()

    # What a subclass drives.

    @abstractmethod
    def _create_and_start(self) -> None:
        """Create the container and start it, without waiting."""

    @abstractmethod
    def _start_existing(self) -> None:
        """Start the stopped container again."""

    @abstractmethod
    def _stop(self, timeout: int) -> None:
        """Send SIGTERM and return once the container has stopped (SIGKILL after timeout seconds)."""

    @abstractmethod
    def kill(self, signal: str = "SIGKILL") -> None:
        """Send a signal to the container's main process (Gunicorn's master) and return at once."""

    @abstractmethod
    def exec(self, *command: str, user: str = "") -> tuple[int, str, str]:
        """Run a command inside the container; return its exit code, stdout and stderr."""

    @abstractmethod
    def logs(self, tail: int | None = None) -> str:
        """Return the container's stdout and stderr, interleaved, across restarts (the last tail lines, or all)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Return the engine's view of the container: `inspect`'s State, plus RestartCount."""

    @abstractmethod
    def _remove(self) -> None:
        """Remove the container, if it exists."""

    # The same whatever drives the container.

    @property
    def base_url(self) -> str:
        """Return the URL the site answers on, e.g. http://127.0.0.1:49153."""
        return loopback_url(self.port)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET a path on this site."""
        kwargs.setdefault("timeout", TIMEOUT)
        return self.http.get(self.base_url + path, **kwargs)

    def start(self, wait: bool = True) -> Self:
        """Create and start the container; with wait, return once /health answers 200."""
        runs.track(self)
        self.started_at = time.monotonic()
        self._create_and_start()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = START_TIMEOUT, interval: float = POLL_SECONDS) -> float:
        """Wait until /health answers 200; return the seconds since (re)start.

        Fail at once if the container stops.
        """

        def health() -> int:
            try:
                return self.get("/health", timeout=2).status_code
            except requests.RequestException:
                status = self.state()["Status"]
                if status in DOWN:
                    raise SiteDown(
                        f"{self.name} is {status} while waiting for /health:\n{self.logs(runs.REPORT_LOG_LINES)}"
                    ) from None
                raise

        wait_for(
            health,
            f"{self.name}: /health to answer 200",
            timeout,
            interval,
            lambda code: code == 200,
            (requests.RequestException,),
        )
        return time.monotonic() - self.started_at

    def wait_state(self, what: str, until: Any, timeout: float = SETTLE_TIMEOUT) -> dict[str, Any]:
        """Poll the engine's state until until(state) holds; return it (WaitTimeout names what and the last state)."""
        return wait_for(self.state, f"{self.name}: {what}", timeout, POLL_SECONDS, until)

    def wait_stopped(self, timeout: float = SETTLE_TIMEOUT) -> dict[str, Any]:
        """Wait until the engine says the container is no longer running; return its state."""
        return self.wait_state("the engine to say it stopped", lambda state: state["Status"] in DOWN, timeout)

    def wait_exit(self, timeout: float = SETTLE_TIMEOUT) -> int:
        """Wait for the container to stop by itself and return its exit code."""
        return int(self.wait_stopped(timeout)["ExitCode"])

    def wait_health_status(self, wanted: str, timeout: float = SETTLE_TIMEOUT) -> str:
        """Wait until the engine's HEALTHCHECK status is wanted (healthy, unhealthy) and return it."""
        state = self.wait_state(
            f"the engine's health status {wanted!r}", lambda s: s.get("Health", {}).get("Status") == wanted, timeout
        )
        return str(state["Health"]["Status"])

    def wait_for_log(self, text: str, count: int = 1, timeout: float = SETTLE_TIMEOUT) -> str:
        """Wait until text shows in the logs (at least count times); return the whole log then."""
        what = f"{self.name}: {text!r} in the logs" + (f" {count} times" if count > 1 else "")
        return wait_for(self.logs, what, timeout, POLL_SECONDS, lambda logs: logs.count(text) >= count)

    def stop(self, check: bool = True) -> None:
        """Stop the container with SIGTERM; with check, fail unless Gunicorn exited 0."""
        self._stop(STOP_TIMEOUT)
        state = self.wait_stopped()
        if check:
            assert state["ExitCode"] == 0, (
                f"exit code {state['ExitCode']} after SIGTERM (OOM killed: {state.get('OOMKilled')})"
            )

    def start_again(self, wait: bool = True) -> float:
        """Start the stopped (or killed) container again.

        With wait, wait for /health and return the seconds that took.
        """
        self.wait_stopped()  # a kill returns before the engine has seen the exit
        self.started_at = time.monotonic()
        self._start_existing()
        return self.wait_healthy() if wait else 0.0

    def restart(self) -> float:
        """Stop the container (SIGTERM, exit 0) and start the same one again; return the seconds to healthy."""
        self.stop()
        return self.start_again()

    def remove(self) -> None:
        """Remove the container (not its volume: volumes belong to the test or Lab)."""
        runs.untrack(self.name)
        self._remove()

    def run(self, *command: str, user: str = "") -> str:
        """Run a command inside the container and return its stdout; fail on a non-zero exit."""
        exit_code, stdout, stderr = self.exec(*command, user=user)
        assert exit_code == 0, f"{' '.join(command)} exited {exit_code}: {stderr}"
        return stdout

    def sqlite(self, sql: str) -> list[list[Any]]:
        """Run one SQL statement on the site's database inside the container and return its rows."""
        script = (
            "import json, sqlite3, sys; conn = sqlite3.connect('file:/data/starpunk.db?mode=rw', uri=True);"
            " print(json.dumps([list(row) for row in conn.execute(sys.argv[1])]))"
        )
        rows: list[list[Any]] = json.loads(self.run("python3", "-c", script, sql))
        return rows

    def integrity(self) -> str:
        """Return what SQLite's `PRAGMA integrity_check` says of the database ("ok" when sound)."""
        return "; ".join(str(row[0]) for row in self.sqlite("PRAGMA integrity_check"))

    def login_link(self) -> str:
        """Return a one-time sign-in URL from `flask --app starpunk login-link` inside the container."""
        url = self.run("flask", "--app", "starpunk", "login-link").strip().splitlines()[-1]
        site_url = self.env.get("SITE_URL", SITE_URL)
        assert url.startswith(site_url + "/auth/token/"), f"unexpected login link: {url!r}"
        return url

    def sign_in(self, base_url: str | None = None, http: requests.Session | None = None) -> Owner:
        """Sign in as the owner with a fresh login link, here or through a proxy at base_url."""
        return Owner(base_url or self.base_url, self.login_link(), http)


class ApiSite(Site):
    """A Site run through the engine's API: testcontainers' DockerContainer over the docker SDK."""

    def __init__(
        self,
        image: str,
        env: dict[str, str],
        labels: dict[str, str],
        data: str = "",
        data_mode: str = "rw",
        tmpfs: dict[str, str] | None = None,
        port: int | None = None,
        mounts: dict[str, str] | None = None,
        command: list[str] | None = None,
        host_network: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, port=port)
        if host_network:
            # In the host's network namespace Gunicorn itself listens on loopback:port, and no
            # userland proxy stands between clients and it. The image's HEALTHCHECK asks port
            # 8000, which here would be the host's: it is turned off.
            env = {**env, "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{self.port}"}
            kwargs = {**kwargs, "network_mode": "host", "healthcheck": {"test": ["NONE"]}}
        self.env = env
        self.container = DockerContainer(image, env=env, name=self.name)
        if command:
            # Arguments the entrypoint runs instead of StarPunk's Gunicorn.
            self.container.with_command(command)
        if not host_network:
            # Bound explicitly on loopback: the port stays the same across restarts. testcontainers
            # passes this dict to the SDK's `ports`, which takes (address, port); its annotation says int only.
            self.container.ports["8000/tcp"] = ("127.0.0.1", self.port)  # type: ignore[assignment]
        # No data: a tmpfs or the image's anonymous volume holds /data.
        if data:
            self.container.with_volume_mapping(data, "/data", data_mode)
        for path, options in (tmpfs or {}).items():
            self.container.with_tmpfs_mount(path, options)
        for host_path, container_path in (mounts or {}).items():
            self.container.with_volume_mapping(host_path, container_path, "ro")
        self.container.with_kwargs(labels=labels, **kwargs)

    @property
    def wrapped(self) -> Container:
        """Return the docker SDK container, refreshed from the engine."""
        container = self.container.get_wrapped_container()
        container.reload()
        return container

    def _create_and_start(self) -> None:
        self.container.start()

    def _start_existing(self) -> None:
        self.container.get_wrapped_container().start()

    def _stop(self, timeout: int) -> None:
        self.container.get_wrapped_container().stop(timeout=timeout)

    def kill(self, signal: str = "SIGKILL") -> None:
        """Send a signal to the container's main process (Gunicorn's master); SIGKILL ends every process at once."""
        self.container.get_wrapped_container().kill(signal=signal)

    def exec(self, *command: str, user: str = "") -> tuple[int, str, str]:
        """Run a command inside the container; return its exit code, stdout and stderr."""
        result = self.container.get_wrapped_container().exec_run(list(command), user=user, demux=True)
        # demux=True: output is (stdout bytes or None, stderr bytes or None).
        output = cast(tuple[bytes | None, bytes | None], result.output)
        stdout, stderr = (part.decode(errors="replace") if part else "" for part in output)
        assert result.exit_code is not None, f"{' '.join(command)}: the engine gave no exit code"
        return result.exit_code, stdout, stderr

    def logs(self, tail: int | None = None) -> str:
        """Return the container's stdout and stderr, interleaved, across restarts (the last tail lines, or all)."""
        try:
            raw: bytes = self.container.get_wrapped_container().logs(tail="all" if tail is None else tail)
        except Exception as exc:  # never created, or already removed
            return f"(no logs: {exc})"
        return raw.decode(errors="replace")

    def state(self) -> dict[str, Any]:
        """Return the engine's view of the container: `inspect`'s State, plus RestartCount."""
        attrs = self.wrapped.attrs
        return {**attrs["State"], "RestartCount": attrs["RestartCount"]}

    def _remove(self) -> None:
        try:
            # v: with it goes the anonymous volume the image's VOLUME /data makes when nothing is mounted there.
            self.container.get_wrapped_container().remove(force=True, v=True)
        except Exception:
            pass  # never created, or already gone; the run's sweep removes leftovers by label


class Lab:
    """Starts ApiSites and makes volumes for one test (or module), and removes them afterwards.

    All are labelled for this run.
    """

    def __init__(self, client: docker.DockerClient, image: str, version: str, labels: dict[str, str]) -> None:
        self.client = client
        self.image = image
        self.version = version
        self.labels = labels
        self.sites: list[ApiSite] = []
        self.volumes: list[str] = []

    def volume(self) -> str:
        """Create a labelled named volume and return its name."""
        name = unique_name()
        self.client.volumes.create(name=name, labels=self.labels)
        self.volumes.append(name)
        return name

    def site(
        self,
        data: str | Path | None = None,
        env: dict[str, str] | None = None,
        wait: bool = True,
        tmpfs: dict[str, str] | None = None,
        data_mode: str = "rw",
        port: int | None = None,
        mounts: dict[str, str] | None = None,
        command: list[str] | None = None,
        host_network: bool = False,
        **kwargs: Any,
    ) -> ApiSite:
        """Start StarPunk in production settings on a volume or host folder.

        With data None, a new volume (none if tmpfs holds /data).
        port publishes it on a port chosen beforehand (a free one if None); mounts binds host
        files or folders read-only (host path -> path in the container); command replaces
        StarPunk's Gunicorn (the entrypoint runs its arguments instead); host_network runs it
        in the host's network namespace, Gunicorn bound to 127.0.0.1:port with no proxy in
        between (benchmarks: Docker's userland proxy costs CPU of its own). Further keywords
        go to the engine's create call (user, read_only, healthcheck, restart_policy, ...).
        """
        environment = site_env(self.version, **(env or {}))
        if data is None and "/data" not in (tmpfs or {}):
            data = self.volume()
        site = ApiSite(
            self.image,
            environment,
            self.labels,
            str(data or ""),
            data_mode,
            tmpfs,
            port,
            mounts,
            command,
            host_network,
            **kwargs,
        )
        self.sites.append(site)
        return site.start(wait=wait)

    def cleanup(self) -> None:
        """Remove every container, then every volume this lab made."""
        for site in self.sites:
            site.remove()
        for name in self.volumes:
            try:
                self.client.volumes.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass


@contextmanager
def standalone_lab(image: str, suite: str) -> Iterator[Lab]:
    """Give a Lab outside pytest (a measurement run from the command line), labelled with this run's id.

    The engine must answer and the image be there (it is never pulled); what
    earlier runs whose process is gone left behind is swept first, and what
    this Lab made is removed afterwards. Stops with one line when the engine
    or the image is missing.
    """
    from .engine import EngineMissing, connect, local_image, sweep

    try:
        client = connect()
        found = local_image(client, image)
    except EngineMissing as exc:
        raise SystemExit(str(exc)) from None
    sweep(client)
    version = str(found.labels.get("org.opencontainers.image.version", ""))
    lab = Lab(client, image, version, runs.labels(suite))
    try:
        yield lab
    finally:
        lab.cleanup()
