"""StarPunk containers for the tests: a Site on 127.0.0.1, its signed-in Owner, and a Lab that cleans up."""

import json
import os
import re
import secrets
import socket
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

# testcontainers reads these when it is imported. This machine has /.dockerenv,
# so without them it would talk to the bridge gateway; no Ryuk image can be pulled.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
os.environ.setdefault("TC_HOST", "127.0.0.1")

import docker  # noqa: E402
import requests  # noqa: E402
from testcontainers.core.container import DockerContainer  # noqa: E402
from testcontainers.core.wait_strategies import HttpWaitStrategy  # noqa: E402

IMAGE = os.environ.get("STARPUNK_IMAGE", "starpunk:latest")
LABEL = "org.starpunk.test"
LABELS = {LABEL: "container"}
APP_UID = 1000
SITE_URL = "https://blog.example.test"
ADMIN_ME = "https://owner.example.test/"
POLL_SECONDS = 0.05
START_TIMEOUT = 60
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
LOG_LINES = 200

# Containers started and not yet removed, by name: their logs go into failure reports.
_live: dict[str, "Site"] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(version: str, **overrides: str) -> dict[str, str]:
    """Return a production environment for StarPunk with a fresh 64-character secret."""
    env = {
        "ENVIRONMENT": "production",
        "SITE_URL": SITE_URL,
        "SITE_NAME": "StarPunk under test",
        "SITE_AUTHOR": "Test Owner",
        "ADMIN_ME": ADMIN_ME,
        "SESSION_SECRET": secrets.token_hex(32),
        "VERSION": version,
    }
    env.update(overrides)
    return env


class Site:
    """One StarPunk container from the image under test, published on 127.0.0.1 only."""

    def __init__(
        self,
        client: docker.DockerClient,
        data: str,
        env: dict[str, str],
        labels: dict[str, str] = LABELS,
        tmpfs: dict[str, str] | None = None,
        data_mode: str = "rw",
        **kwargs: object,
    ) -> None:
        self.name = f"starpunk-test-{uuid.uuid4().hex[:10]}"
        self.port = _free_port()
        self.env = env
        self.started_at = 0.0
        self._client = client
        self.container = DockerContainer(IMAGE, env=env, name=self.name)
        # Bound explicitly on loopback: the port stays the same across restarts.
        self.container.ports["8000/tcp"] = ("127.0.0.1", self.port)
        # No data: a tmpfs (below) or the image's anonymous volume holds /data.
        if data:
            self.container.with_volume_mapping(data, "/data", data_mode)
        for path, options in (tmpfs or {}).items():
            self.container.with_tmpfs_mount(path, options)
        self.container.with_kwargs(labels=labels, **kwargs)
        self.http = requests.Session()
        self.http.trust_env = False  # no proxy between the tests and 127.0.0.1

    @property
    def base_url(self) -> str:
        """Return the URL the site answers on, e.g. http://127.0.0.1:49153."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def wrapped(self) -> "docker.models.containers.Container":
        """Return the docker SDK container, refreshed from the engine."""
        container = self.container.get_wrapped_container()
        container.reload()
        return container

    def start(self, wait: bool = True) -> "Site":
        """Create and start the container; with wait, return once /health answers 200."""
        _live[self.name] = self
        self.started_at = time.monotonic()
        if wait:
            self.container.waiting_for(self._health_wait())
        self.container.start()
        return self

    def _health_wait(self) -> HttpWaitStrategy:
        return HttpWaitStrategy(8000, "/health").with_poll_interval(POLL_SECONDS).with_startup_timeout(START_TIMEOUT)

    def wait_healthy(self) -> float:
        """Wait until /health answers 200; return the seconds since the container was (re)started."""
        self._health_wait().wait_until_ready(self.container)
        return time.monotonic() - self.started_at

    def stop(self) -> None:
        """Stop the container with SIGTERM and check that Gunicorn exited cleanly."""
        self.container.get_wrapped_container().stop(timeout=30)
        state = self.wrapped.attrs["State"]
        assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} after SIGTERM (OOM killed: {state['OOMKilled']})"

    def restart(self) -> None:
        """Stop the container (SIGTERM) and start the same one again."""
        self.stop()
        self.start_again()

    def kill(self, signal: str = "SIGKILL") -> None:
        """Send a signal to the container's main process (Gunicorn's master); SIGKILL ends every process at once."""
        self.container.get_wrapped_container().kill(signal=signal)

    def start_again(self) -> float:
        """Start the stopped container again and wait for /health; return the seconds that took."""
        self.started_at = time.monotonic()
        self.container.get_wrapped_container().start()
        return self.wait_healthy()

    def wait_exit(self, timeout: float = 30) -> int:
        """Wait for the container to stop by itself and return its exit code."""
        result = self.container.get_wrapped_container().wait(timeout=timeout)
        return int(result["StatusCode"])

    def logs_once_they_hold(self, text: str, timeout: float = 5.0) -> str:
        """Return the logs once they hold text (Gunicorn writes an access line only after the response is sent)."""
        deadline = time.monotonic() + timeout
        while text not in (logs := self.logs()):
            assert time.monotonic() < deadline, f"the logs did not show {text!r} within {timeout} s:\n{logs[-2000:]}"
            time.sleep(POLL_SECONDS)
        return logs

    def logs(self) -> str:
        """Return the container's stdout and stderr, interleaved."""
        try:
            return self.container.get_wrapped_container().logs(tail=LOG_LINES).decode(errors="replace")
        except Exception as exc:  # the container may never have been created
            return f"(no logs: {exc})"

    def remove(self) -> None:
        """Remove the container (not its volume: volumes belong to the test)."""
        _live.pop(self.name, None)
        try:
            self.container.get_wrapped_container().remove(force=True)
        except Exception:
            pass  # never created, or already gone; the session sweep removes leftovers by label

    def get(self, path: str, **kwargs: object) -> requests.Response:
        """GET a path on this site."""
        kwargs.setdefault("timeout", 10)
        return self.http.get(self.base_url + path, **kwargs)

    def exec(self, *command: str, user: str = "") -> tuple[int, str, str]:
        """Run a command inside the container and return its exit code, stdout and stderr."""
        result = self.container.get_wrapped_container().exec_run(list(command), user=user, demux=True)
        stdout, stderr = (part.decode(errors="replace") if part else "" for part in result.output)
        return result.exit_code, stdout, stderr

    def run(self, *command: str, user: str = "") -> str:
        """Run a command inside the container and return its stdout; fail on a non-zero exit."""
        exit_code, stdout, stderr = self.exec(*command, user=user)
        assert exit_code == 0, f"{' '.join(command)} exited {exit_code}: {stderr}"
        return stdout

    def sqlite(self, sql: str) -> list[list[object]]:
        """Run one SQL statement on the site's database inside the container and return its rows."""
        script = (
            "import json, sqlite3, sys; conn = sqlite3.connect('file:/data/starpunk.db?mode=rw', uri=True);"
            " print(json.dumps([list(row) for row in conn.execute(sys.argv[1])]))"
        )
        return json.loads(self.run("python3", "-c", script, sql))

    def integrity(self) -> str:
        """Return what SQLite's `PRAGMA integrity_check` says of the database ("ok" when sound)."""
        return "; ".join(str(row[0]) for row in self.sqlite("PRAGMA integrity_check"))

    def sign_in(self) -> "Owner":
        """Sign in as the owner with a one-time link from `flask login-link` inside the container."""
        return Owner(self)


class Owner:
    """A signed-in owner of a Site: a requests session carrying the session cookie."""

    def __init__(self, site: Site) -> None:
        self.site = site
        url = site.run("flask", "--app", "starpunk", "login-link").strip().splitlines()[-1]
        assert url.startswith(SITE_URL + "/auth/token/"), f"unexpected login link: {url!r}"
        self.login_url = url
        self.http = requests.Session()
        self.http.trust_env = False
        reply = self.http.get(site.base_url + urlsplit(url).path, allow_redirects=False, timeout=10)
        assert reply.status_code in (302, 303), f"login link answered {reply.status_code}: {reply.text[:300]}"
        assert urlsplit(reply.headers["Location"]).path == "/admin"
        cookie = reply.cookies.get("starpunk_session")
        assert cookie, f"no starpunk_session cookie in {reply.headers.get('Set-Cookie')!r}"
        # The cookie is Secure (SITE_URL is https), so requests would not send it
        # back over plain http to 127.0.0.1: send it ourselves.
        self.http.headers["Cookie"] = f"starpunk_session={cookie}"
        self.cookie = cookie

    def csrf_token(self) -> str:
        """Return the CSRF token of the form on /admin/new (it lasts as long as the session)."""
        form_page = self.http.get(self.site.base_url + "/admin/new", timeout=10)
        assert form_page.status_code == 200, f"/admin/new answered {form_page.status_code}"
        match = CSRF_FIELD.search(form_page.text)
        assert match, "no csrf_token field in /admin/new"
        return match.group(1)

    def post_note(self, content: str, published: bool = True, csrf_token: str = "", timeout: float = 10) -> requests.Response:
        """POST the new-note form and return the reply, whatever it is (network errors are raised)."""
        form = {"csrf_token": csrf_token or self.csrf_token(), "content": content}
        if published:
            form["published"] = "y"
        return self.http.post(self.site.base_url + "/admin/new", data=form, allow_redirects=False, timeout=timeout)

    def publish(self, content: str, published: bool = True) -> None:
        """Write one note through the admin form, with its CSRF token."""
        reply = self.post_note(content, published)
        assert reply.status_code == 303, f"publishing answered {reply.status_code}: {reply.text[:300]}"
        assert urlsplit(reply.headers["Location"]).path == "/admin"


class Lab:
    """Starts Sites and makes volumes for one test (or module), and removes them all afterwards."""

    def __init__(self, client: docker.DockerClient, version: str, labels: dict[str, str] = LABELS) -> None:
        self.client = client
        self.version = version
        self.labels = labels
        self.sites: list[Site] = []
        self.volumes: list[str] = []

    def volume(self) -> str:
        """Create a labelled named volume and return its name."""
        name = f"starpunk-test-{uuid.uuid4().hex[:10]}"
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
        **kwargs: object,
    ) -> Site:
        """Start StarPunk on a volume or host folder (a new volume if none, none if tmpfs holds /data), in production settings."""
        env = site_env(self.version, **(env or {}))
        if data is None and "/data" not in (tmpfs or {}):
            data = self.volume()
        site = Site(self.client, str(data or ""), env, labels=self.labels, tmpfs=tmpfs, data_mode=data_mode, **kwargs)
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


def live_sites() -> list[Site]:
    """Return the Sites started and not yet removed."""
    return list(_live.values())
