"""StarPunk as deployed: containers run with the docker or podman CLI, HTTPS clients for a proxy, a signed-in author."""

import json
import re
import secrets
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from harness.deploy import free_port, loopback_env

LABEL = "org.starpunk.test=deploy"
ADMIN_ME = "https://owner.example.test/"
COOKIE = "starpunk_session"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
DELETE_FORM = re.compile(
    r'action="/admin/delete/(\d+)">\s*<input type="hidden" name="csrf_token" value="([^"]+)">'
    r'\s*<button[^>]*aria-label="Delete ([^"]+)"'
)
POLL_SECONDS = 0.1
START_TIMEOUT = 60
TIMEOUT = 10

# Containers started and not yet removed: their logs go into failure reports.
live: dict[str, "Container"] = {}


def production_env(site_url: str, **extra: str) -> dict[str, str]:
    """Return the settings a production StarPunk needs, with a fresh secret."""
    return {
        "ENVIRONMENT": "production",
        "SITE_URL": site_url,
        "SITE_NAME": "StarPunk deployed",
        "SITE_AUTHOR": "Deploy Test",
        "ADMIN_ME": ADMIN_ME,
        "SESSION_SECRET": secrets.token_hex(32),
        **extra,
    }


def unique_name(prefix: str = "starpunk-deploy") -> str:
    """Return a container, volume or project name no other run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def run(*command: str, check: bool = True, timeout: float = 120, **kwargs: object) -> subprocess.CompletedProcess:
    """Run a command with proxy-free environment; fail with its output when check and it exits non-zero."""
    kwargs.setdefault("env", loopback_env())
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check:
        assert result.returncode == 0, f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def plain_session() -> requests.Session:
    """Return a requests session that ignores proxy settings (all traffic stays on 127.0.0.1)."""
    http = requests.Session()
    http.trust_env = False
    return http


class _NamedHostAdapter(HTTPAdapter):
    """Connect to 127.0.0.1 but speak TLS (SNI and certificate check) as hostname."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs.update(server_hostname=self._hostname, assert_hostname=self._hostname)
        super().init_poolmanager(*args, **kwargs)


def https_session(host: str, port: int, ca_file: str) -> requests.Session:
    """Return a session for https://127.0.0.1:port that presents itself as host:port and trusts only ca_file."""
    http = plain_session()
    http.mount(f"https://127.0.0.1:{port}", _NamedHostAdapter(host))
    http.headers["Host"] = f"{host}:{port}"
    http.verify = ca_file
    return http


def wait_for(url: str, http: requests.Session, timeout: float = START_TIMEOUT, alive=lambda: None) -> float:
    """Poll url until it answers 200; return the seconds it took. alive() may raise when the server died."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < timeout:
        alive()
        try:
            reply = http.get(url, timeout=2)
            if reply.status_code == 200:
                return time.monotonic() - started
            last = f"{reply.status_code}: {reply.text[:200]}"
        except requests.RequestException as exc:
            last = str(exc)
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s (last: {last})")


class Container:
    """One StarPunk container run with the docker or podman CLI on a named volume, published on 127.0.0.1."""

    def __init__(self, engine: str, image: str, volume: str, env: dict[str, str], options: tuple[str, ...] = ()) -> None:
        self.engine = engine
        self.image = image
        self.volume = volume
        self.env = env
        self.options = options
        self.name = unique_name()
        self.port = free_port()
        self.http = plain_session()

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT, where the container is published."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Container":
        """Create and start the container, then wait until /health answers 200."""
        environment = [arg for key, value in self.env.items() for arg in ("--env", f"{key}={value}")]
        live[self.name] = self
        run(self.engine, "run", "--detach", "--name", self.name, "--label", LABEL, *self.options, *environment,
            "--volume", f"{self.volume}:/data", "--publish", f"127.0.0.1:{self.port}:8000", self.image)
        self.wait_healthy()
        return self

    def wait_healthy(self) -> float:
        """Wait until /health answers 200 on the published port."""
        return wait_for(self.base_url + "/health", self.http, alive=self._check_running)

    def _check_running(self) -> None:
        state = run(self.engine, "inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()
        assert state == "running", f"{self.name} is {state}:\n{self.logs()}"

    def restart(self) -> None:
        """Stop the container (SIGTERM), start the same one again and wait until it is healthy."""
        run(self.engine, "stop", "--time", "30", self.name)
        run(self.engine, "start", self.name)
        self.wait_healthy()

    def exec(self, *command: str) -> str:
        """Run a command in the container and return its stdout."""
        return run(self.engine, "exec", self.name, *command).stdout

    def login_link(self) -> str:
        """Return a one-time sign-in URL from `flask login-link` in the container."""
        return login_link(self.engine, self.name)

    def logs(self) -> str:
        """Return the container's last log lines."""
        result = run(self.engine, "logs", "--tail", "200", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        """Remove the container (its volume belongs to the test)."""
        live.pop(self.name, None)
        run(self.engine, "rm", "--force", self.name, check=False)


def login_link(engine: str, container: str) -> str:
    """Return the sign-in URL that `flask --app starpunk login-link` prints inside a container."""
    return run(engine, "exec", container, "flask", "--app", "starpunk", "login-link").stdout.strip().splitlines()[-1]


def note_rows(engine: str, container: str) -> list[tuple]:
    """Return every note in the container's database (drafts and deleted ones too), ordered by id."""
    query = (
        "import json, sqlite3; db = sqlite3.connect('/data/starpunk.db'); "
        "print(json.dumps(db.execute("
        "'SELECT id, slug, content, published, published_at, deleted_at FROM notes ORDER BY id').fetchall()))"
    )
    return [tuple(row) for row in json.loads(run(engine, "exec", container, "python3", "-c", query).stdout)]


class Author:
    """The site's owner, signed in with a one-time link: writes, lists and deletes notes through the admin pages."""

    def __init__(self, base_url: str, link: str, http: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or plain_session()
        reply = self.http.get(self.base_url + urlsplit(link).path, allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 303, f"login link answered {reply.status_code}: {reply.text[:300]}"
        assert urlsplit(reply.headers["Location"]).path == "/admin"
        self.set_cookie = reply.headers.get("Set-Cookie", "")
        cookie = reply.cookies.get(COOKIE)
        assert cookie, f"no {COOKIE} cookie in {self.set_cookie!r}"
        if self.base_url.startswith("http://"):
            # The cookie is Secure (SITE_URL is https): requests keeps it from plain http, so send it ourselves.
            self.http.headers["Cookie"] = f"{COOKIE}={cookie}"

    def get(self, path: str) -> requests.Response:
        """GET a page as the owner and check it answered 200."""
        reply = self.http.get(self.base_url + path, allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 200, f"{path} answered {reply.status_code}: {reply.text[:300]}"
        return reply

    def notes(self) -> dict[str, tuple[int, str]]:
        """Return slug -> (id, CSRF token of its delete form) for every note on the admin page."""
        return {slug: (int(note_id), token) for note_id, token, slug in DELETE_FORM.findall(self.get("/admin").text)}

    def publish(self, content: str, published: bool = True) -> str:
        """Write a note through the admin form and return its slug."""
        before = set(self.notes())
        token = CSRF_FIELD.search(self.get("/admin/new").text)
        assert token, "no csrf_token field in /admin/new"
        form = {"csrf_token": token.group(1), "content": content, **({"published": "y"} if published else {})}
        reply = self.http.post(self.base_url + "/admin/new", data=form, allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 303, f"publishing answered {reply.status_code}: {reply.text[:300]}"
        new = set(self.notes()) - before
        assert len(new) == 1, f"expected one new note on /admin, found {new}"
        return new.pop()

    def delete(self, slug: str) -> None:
        """Delete a note through its form on the admin page."""
        note_id, token = self.notes()[slug]
        reply = self.http.post(f"{self.base_url}/admin/delete/{note_id}", data={"csrf_token": token}, allow_redirects=False, timeout=TIMEOUT)
        assert reply.status_code == 303, f"deleting answered {reply.status_code}: {reply.text[:300]}"
