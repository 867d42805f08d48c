"""Browser tests: headless Debian Chromium, driven by Playwright, against StarPunk on 127.0.0.1.

The `starpunk` fixture starts the image (STARPUNK_IMAGE, default
starpunk:latest) on a fresh volume, with a port on 127.0.0.1. Set
STARPUNK_E2E_URL and STARPUNK_E2E_LOGIN_CMD instead to point the tests at an
instance that is already running.
"""

import os
import re
import secrets
import shlex
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("STARPUNK_E2E_SCREENSHOTS", "build/reports/e2e"))
LABEL = "org.starpunk.test=e2e"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Site:
    """A running StarPunk: its base URL and a way to make login links."""

    base_url: str
    login_command: list

    def login_url(self):
        """Return a fresh one-time login URL on this site's base URL."""
        output = subprocess.run(self.login_command, capture_output=True, text=True, check=True).stdout
        return self.base_url + urlsplit(output.strip().splitlines()[-1]).path

    def owner_session(self):
        """Return a requests session signed in as the owner, and its CSRF token."""
        http = requests.Session()
        reply = http.get(self.login_url(), allow_redirects=False, timeout=10)
        assert reply.status_code == 303, reply.text
        token = CSRF.search(http.get(f"{self.base_url}/admin/new", timeout=10).text).group(1)
        return http, token

    def publish(self, content, published=True):
        """Publish (or save as draft) one note through the admin form; return its slug."""
        http, token = self.owner_session()
        form = {"csrf_token": token, "content": content}
        if published:
            form["published"] = "y"
        reply = http.post(f"{self.base_url}/admin/new", data=form, allow_redirects=False, timeout=10)
        assert reply.status_code == 303, reply.text
        return reply


def _wait_healthy(base_url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base_url} did not become healthy in {timeout} s")


@contextmanager
def _running_site(*settings):
    """Run the image (STARPUNK_IMAGE) on a fresh volume and 127.0.0.1; yield its Site, print its last logs at the end."""
    image = os.environ.get("STARPUNK_IMAGE", "starpunk:latest")
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        pytest.fail(f"image {image} is missing: build it with `nox -s image`")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    name = f"starpunk-e2e-{secrets.token_hex(4)}"
    environment = [
        "ENVIRONMENT=development", f"SITE_URL={base_url}", "SITE_NAME=StarPunk E2E", "SITE_AUTHOR=E2E Author",
        "ADMIN_ME=https://owner.example.test/", f"SESSION_SECRET={secrets.token_hex(32)}", *settings,
    ]
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--label", LABEL, "-p", f"127.0.0.1:{port}:8000",
         *(part for setting in environment for part in ("-e", setting)), image],
        check=True,
        capture_output=True,
    )
    try:
        _wait_healthy(base_url)
        yield Site(base_url, ["docker", "exec", name, "flask", "--app", "starpunk", "login-link"])
    finally:
        logs = subprocess.run(["docker", "logs", "--tail", "50", name], capture_output=True, text=True)
        print(f"--- last log lines of {name} ---\n{logs.stdout}{logs.stderr}")
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)


@pytest.fixture(scope="session")
def site():
    """Start StarPunk's image for the browser tests (or use STARPUNK_E2E_URL)."""
    if os.environ.get("STARPUNK_E2E_URL"):
        yield Site(os.environ["STARPUNK_E2E_URL"].rstrip("/"), shlex.split(os.environ["STARPUNK_E2E_LOGIN_CMD"]))
        return
    with _running_site() as running:
        yield running


@pytest.fixture(scope="session")
def dev_site():
    """Start a second StarPunk with DEV_MODE on, whose sign-in page and failed sign-ins touch no other test."""
    with _running_site("DEV_MODE=true") as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    """Launch Debian's Chromium headless, once for the whole run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (nox -s e2e does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class PageWatch:
    """What a page did that it should not: console errors, failed requests, dialogs."""

    def __init__(self, page):
        self.console_errors = []
        self.failed_requests = []
        self.dialogs = []
        self.requests = []
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
        page.on("requestfailed", lambda req: self.failed_requests.append(req.url))
        page.on("request", lambda req: self.requests.append(req.url))

        def on_dialog(dialog):
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)

    def bad_responses(self, responses):
        """Return the responses with a status of 400 or more."""
        return [(r.url, r.status) for r in responses if r.status >= 400]


@pytest.fixture()
def new_page(browser):
    """Return a factory of pages, each in a fresh context (no cookies) with a PageWatch as page.watch."""
    contexts = []

    def make(width=1280, height=900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        made = context.new_page()
        made.watch = PageWatch(made)
        return made

    yield make
    for context in contexts:
        context.close()


@pytest.fixture()
def page(new_page):
    """A desktop-width page in a fresh context, watched."""
    return new_page()


@pytest.fixture(scope="session")
def screenshots():
    """The folder where screenshots for people to look at are saved."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
