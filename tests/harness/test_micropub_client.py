"""testkit's Micropub client and conformance checks against a real Gunicorn on 127.0.0.1, over real HTTP."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from starpunk.config import DEFAULTS
from testkit.micropub_checks import failures, main, run_checks
from testkit.micropub_client import MicropubClient, discover, pkce_pair
from testkit.owner import Owner
from testkit.ports import free_port, loopback_url
from testkit.samples import png
from testkit.waiting import wait_for
from testkit.web import plain_session

ROOT = Path(__file__).resolve().parents[2]
# The canonical address the site believes it has; it is reached at 127.0.0.1, as a container under test is.
CANONICAL = "https://blog.example.test"


class Gunicorn:
    """StarPunk under Gunicorn (the repository's gunicorn.conf.py, two workers) on a fresh DATA_PATH."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.base_url = loopback_url(self.port)
        self.env = {
            # No StarPunk setting of the machine running the tests leaks in.
            **{name: value for name, value in os.environ.items() if name not in DEFAULTS},
            "DATA_PATH": str(data),
            "SITE_URL": CANONICAL,
            "ENVIRONMENT": "development",
            "WORKERS": "2",
        }
        self.log = data.parent / "gunicorn.log"
        bin_dir = Path(sys.executable).parent
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(bin_dir / "gunicorn"), "-b", f"127.0.0.1:{self.port}", "starpunk:create_app()"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        http = plain_session()
        wait_for(
            lambda: http.get(self.base_url + "/health", timeout=2).status_code,
            "Gunicorn answering /health",
            timeout=30,
            interval=0.05,
            until=lambda status: status == 200,
            ignore=(requests.ConnectionError,),
        )

    def login_link(self) -> str:
        """Return a one-time login link from the `login-link` command, as an operator makes one."""
        made = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "starpunk", "login-link"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return made.stdout.strip().splitlines()[-1]

    def stop(self) -> str:
        """Stop Gunicorn (SIGTERM, bounded wait) and return its log."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """Run one Gunicorn for this module's tests; its log is shown if a test fails."""
    server = Gunicorn(tmp_path_factory.mktemp("micropub") / "data")
    yield server
    server.stop()


@pytest.fixture
def owner(gunicorn: Gunicorn) -> Owner:
    """Return the owner, signed in over HTTP with a fresh login link."""
    return Owner(gunicorn.base_url, gunicorn.login_link())


def test_discovery_finds_every_endpoint_and_the_canonical_origin(gunicorn: Gunicorn) -> None:
    """The client learns the endpoints from the home page and the metadata, all at the canonical address."""
    found = discover(gunicorn.base_url)
    assert found.site == CANONICAL and found.issuer == CANONICAL + "/"
    assert found.micropub == CANONICAL + "/micropub"
    assert found.authorization.startswith(CANONICAL) and found.token.startswith(CANONICAL)


def test_pkce_and_png_helpers() -> None:
    """The PKCE pair is fresh and S256-shaped; the PNG is a real, small PNG."""
    (verifier, challenge), (other, _) = pkce_pair(), pkce_pair()
    assert verifier != other and 43 <= len(verifier) <= 128
    assert len(challenge) == 43 and "=" not in challenge
    assert png(2, 2).startswith(b"\x89PNG\r\n\x1a\n")


def test_every_conformance_check_passes(gunicorn: Gunicorn, owner: Owner) -> None:
    """Sign-in with PKCE, create, update, delete, query, media and authentication all pass against Gunicorn."""
    results = run_checks(owner)
    assert len(results) == 12
    assert failures(results) == [], gunicorn.log.read_text(errors="replace")[-3000:]


def test_a_check_that_fails_says_what_it_saw(owner: Owner) -> None:
    """An owner whose session is gone cannot consent: the sign-in is reported as one failure naming the answer."""
    owner.http.headers.pop("Cookie", None)
    owner.http.cookies.clear()
    results = run_checks(owner)
    assert [result.passed for result in results] == [False]
    assert "the authorization endpoint answered 302" in results[0].detail


def test_a_create_token_may_upload_and_a_media_token_may_not_create(owner: Owner) -> None:
    """The media endpoint accepts a create token; a media-only token is refused a create with 403."""
    assert MicropubClient.sign_in(owner, scope="create").upload_reply(png(2, 2)).status_code == 201
    refused = MicropubClient.sign_in(owner, scope="media").create_form(content="No")
    assert refused.status_code == 403 and refused.json()["scope"] == "create"


def test_the_command_line_runs_the_checks(gunicorn: Gunicorn, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m testkit.micropub_checks BASE_URL LOGIN_LINK` prints one line per check and exits 0."""
    assert main([gunicorn.base_url, gunicorn.login_link()]) == 0
    printed = capsys.readouterr().out
    assert "12 of 12 checks passed" in printed and "FAIL" not in printed
