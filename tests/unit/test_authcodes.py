"""Authorization codes: used once, and bound to exactly their client_id, redirect_uri and PKCE challenge."""

import pytest

from starpunk.authcodes import CodeError, issue_code, pkce_challenge, redeem_code

CLIENT = "https://app.example/"
REDIRECT = "https://app.example/callback?from=starpunk"
VERIFIER = "a-verifier-of-the-client-43-characters-or-more"
ME = "http://localhost/"


@pytest.fixture
def ctx(app):
    """Run the test inside an app context, as the token endpoint does."""
    with app.app_context():
        yield app


def binding(**changes):
    """Return redeem_code's keyword arguments for the code issued below, with changes."""
    return {"client_id": CLIENT, "redirect_uri": REDIRECT, "code_verifier": VERIFIER, **changes}


def test_a_code_redeems_once_with_its_exact_binding(ctx):
    """The client that asked, with its redirect_uri and verifier, gets the grant once; a replay is refused."""
    code = issue_code(CLIENT, REDIRECT, pkce_challenge(VERIFIER), ["create", "update"], ME)
    grant = redeem_code(code, **binding())
    assert (grant.client_id, grant.redirect_uri, grant.scopes, grant.me) == (CLIENT, REDIRECT, ("create", "update"), ME)
    with pytest.raises(CodeError, match="already been used"):
        redeem_code(code, **binding())


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": CLIENT[:-1]},
        {"client_id": CLIENT + "x"},
        {"client_id": "https://app.example.evil/"},
        {"client_id": CLIENT.upper()},
        {"redirect_uri": REDIRECT.split("?")[0]},
        {"redirect_uri": REDIRECT + "&more=1"},
        {"redirect_uri": REDIRECT[:-1]},
        {"redirect_uri": REDIRECT.replace("https:", "http:")},
        {"code_verifier": VERIFIER[:-1]},
        {"code_verifier": VERIFIER + "x"},
        {"code_verifier": VERIFIER[:43]},
        {"code_verifier": ""},
    ],
    ids=lambda changes: f"{next(iter(changes))}={next(iter(changes.values()))!r}",
)
def test_each_binding_field_changed_alone_is_refused(ctx, changes):
    """A code redeemed with one of client_id, redirect_uri or verifier not exactly as issued is refused, and used up."""
    code = issue_code(CLIENT, REDIRECT, pkce_challenge(VERIFIER), ["create"], ME)
    with pytest.raises(CodeError):
        redeem_code(code, **binding(**changes))
    with pytest.raises(CodeError, match="already been used"):
        redeem_code(code, **binding())


def test_a_challenge_is_compared_whole_not_by_prefix(ctx):
    """A stored challenge that merely starts with the verifier's S256 (challenges run to 128 characters) is refused."""
    code = issue_code(CLIENT, REDIRECT, pkce_challenge(VERIFIER) + "A", ["create"], ME)
    with pytest.raises(CodeError, match="code_verifier"):
        redeem_code(code, **binding())


def test_an_unknown_or_malformed_code_is_refused(ctx):
    """No code, an oversized one and one never issued are refused alike."""
    for code in ("", "x" * 513, "never-issued"):
        with pytest.raises(CodeError):
            redeem_code(code, **binding())
