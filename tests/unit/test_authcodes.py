"""Authorization codes: used once, and bound to exactly their client_id, redirect_uri and PKCE challenge."""

import re

import pytest

from starpunk import tokens
from starpunk.authcodes import CodeError, issue_code, pkce_challenge, record_token, redeem_code

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


def test_a_code_of_at_most_512_characters_is_looked_up_and_a_longer_one_is_malformed(ctx):
    """The length limit sits exactly at 512: 512 characters are an unknown code, 513 (or none) a malformed one."""
    with pytest.raises(CodeError, match="unknown or has expired"):
        redeem_code("x" * 512, **binding())
    for code in ("", "x" * 513):
        with pytest.raises(CodeError, match="missing or malformed"):
            redeem_code(code, **binding())


@pytest.mark.parametrize(
    ("code", "changes", "description"),
    [
        ("", {}, "The authorization code is missing or malformed."),
        ("never-issued", {}, "The authorization code is unknown or has expired."),
        (None, {"client_id": CLIENT + "x"}, "The authorization code was issued to another client_id."),
        (None, {"redirect_uri": REDIRECT + "x"}, "The redirect_uri does not match the one the code was issued for."),
        (None, {"code_verifier": VERIFIER + "x"}, "The code_verifier does not match the code_challenge."),
    ],
)
def test_each_refusal_is_described_to_the_client_in_one_sentence(ctx, code, changes, description):
    """The error_description the token endpoint sends is exactly the sentence for what went wrong."""
    if code is None:
        code = issue_code(CLIENT, REDIRECT, pkce_challenge(VERIFIER), ["create"], ME)
    with pytest.raises(CodeError) as refused:
        redeem_code(code, **binding(**changes))
    assert str(refused.value) == description


def test_a_replay_is_described_and_logged_with_the_revoked_token(ctx, caplog):
    """A replayed code's token is revoked; the client reads why, the log names the token's id (never the code)."""
    code = issue_code(CLIENT, REDIRECT, pkce_challenge(VERIFIER), ["create"], ME)
    grant = redeem_code(code, **binding())
    token_id, plaintext = tokens.create_token(grant.scopes, client_id=grant.client_id, me=grant.me)
    record_token(grant, token_id)
    with pytest.raises(CodeError) as refused:
        redeem_code(code, **binding())
    assert str(refused.value) == "The authorization code has already been used."
    assert [r.getMessage() for r in caplog.records] == [f"authorization code replayed: token {token_id} revoked"]
    assert tokens.verify_token(plaintext) is None


def test_a_code_carries_256_random_bits(ctx):
    """Each code is 32 random bytes, written as 43 URL-safe characters, and no two are alike."""
    codes = {issue_code(CLIENT, REDIRECT, pkce_challenge(VERIFIER), ["create"], ME) for _ in range(3)}
    assert len(codes) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", code) for code in codes)
