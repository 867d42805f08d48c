"""testkit's Micropub client and conformance checks against a real Gunicorn on 127.0.0.1, over real HTTP."""

from collections.abc import Iterator

import pytest

from testkit.env import SITE_URL
from testkit.local import LocalSite
from testkit.micropub_checks import failures, main, run_checks
from testkit.micropub_client import MicropubClient, discover, pkce_pair
from testkit.owner import Owner
from testkit.samples import png

# The canonical address the site believes it has; it is reached at 127.0.0.1, as a container under test is.
CANONICAL = SITE_URL


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSite]:
    """Run one Gunicorn for this module's tests; its log is shown if a test fails."""
    server = LocalSite(tmp_path_factory.mktemp("micropub") / "data")
    yield server
    server.stop()


@pytest.fixture
def owner(gunicorn: LocalSite) -> Owner:
    """Return the owner, signed in over HTTP with a fresh login link."""
    return gunicorn.sign_in()


def test_discovery_finds_every_endpoint_and_the_canonical_origin(gunicorn: LocalSite) -> None:
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


def test_every_conformance_check_passes(gunicorn: LocalSite, owner: Owner) -> None:
    """Sign-in with PKCE, create, update, delete, query, media and authentication all pass against Gunicorn."""
    results = run_checks(owner)
    assert len(results) == 12
    assert failures(results) == [], gunicorn.logs()[-3000:]


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


def test_the_command_line_runs_the_checks(gunicorn: LocalSite, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m testkit.micropub_checks BASE_URL LOGIN_LINK` prints one line per check and exits 0."""
    assert main([gunicorn.base_url, gunicorn.login_link()]) == 0
    printed = capsys.readouterr().out
    assert "12 of 12 checks passed" in printed and "FAIL" not in printed
