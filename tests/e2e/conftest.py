"""Browser tests: headless Debian Chromium, driven by Playwright, against StarPunk on 127.0.0.1.

The `site` fixture starts the image under test (STARPUNK_IMAGE, default
starpunk:latest) through testkit's Lab, on a fresh volume with a port on
127.0.0.1, once for each test module: each module's tests reason about the
notes on the site, so no module sees another's, in any order. `owner` is the
owner signed in to it.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from testkit.owner import Owner
from testkit.ports import free_port, loopback_url
from testkit.site import ApiSite, Lab

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


@pytest.fixture(scope="module")
def site(module_lab: Lab) -> ApiSite:
    """Start StarPunk's image for the browser tests, with development settings.

    These let the browser sign in over plain http.
    """
    port = free_port()
    return module_lab.site(env={"ENVIRONMENT": "development", "SITE_URL": loopback_url(port)}, port=port)


@pytest.fixture(scope="module")
def owner(site: ApiSite) -> Owner:
    """Return the owner signed in to the site, for the notes a test needs before its browser starts."""
    return site.sign_in()


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
