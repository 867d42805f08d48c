"""Access tokens: the API Micropub builds on, and the `token` commands for scripts."""

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from starpunk import tokens
from starpunk.tokens import TokenRequestError, bearer_token, create_token, list_tokens, revoke_token, verify_token


@pytest.fixture
def ctx(app):
    """Run the test inside an app context, as a view or a command would."""
    with app.app_context():
        yield app


@pytest.fixture
def runner(app):
    """Return a CLI runner for the app (as `flask --app starpunk ...`)."""
    return app.test_cli_runner()


def move_clock(monkeypatch, delta):
    """Make the tokens module believe delta has passed."""
    later = datetime.now(timezone.utc) + delta
    monkeypatch.setattr(tokens, "now", lambda: later)


def test_a_new_token_verifies_with_its_scopes(ctx):
    """create_token returns an id and a secret; verify_token gives back what it grants."""
    token_id, plaintext = create_token("create  update create", client_id="https://app.example/")
    assert len(plaintext) == 43  # 32 random bytes, URL-safe base64
    info = verify_token(plaintext)
    assert info.id == token_id
    assert info.scopes == frozenset({"create", "update"})
    assert info.scope == "create update"
    assert info.has_scope("create") and not info.has_scope("delete")
    assert info.client_id == "https://app.example/"
    assert info.me == "http://localhost/"
    assert info.expires_at - info.created_at == timedelta(days=90)
    assert info.revoked_at is None


def test_scopes_may_be_a_list_and_me_and_lifetime_may_be_given(ctx):
    """The scope can be an iterable; me and the lifetime override the defaults."""
    _id, plaintext = create_token(["media"], me="https://someone.example/", lifetime=timedelta(hours=1))
    info = verify_token(plaintext)
    assert info.scopes == frozenset({"media"})
    assert info.me == "https://someone.example/"
    assert info.client_id is None
    assert info.expires_at - info.created_at == timedelta(hours=1)


def test_lifetime_follows_the_setting(make_app):
    """TOKEN_LIFETIME_DAYS sets how long new tokens live."""
    app = make_app(TOKEN_LIFETIME_DAYS="7")
    with app.app_context():
        info = verify_token(create_token("create")[1])
    assert info.expires_at - info.created_at == timedelta(days=7)


@pytest.mark.parametrize("plaintext", [None, "", "not-a-token", "x" * 600])
def test_unknown_tokens_do_not_verify(ctx, plaintext):
    """A token never issued (or absurdly long, or empty) is None."""
    create_token("create")
    assert verify_token(plaintext) is None


def test_an_expired_token_does_not_verify(ctx, monkeypatch):
    """Past its lifetime a token is refused and leaves the active list (the clock moved, not slept)."""
    _id, plaintext = create_token("create", lifetime=timedelta(days=1))
    move_clock(monkeypatch, timedelta(hours=23))
    assert verify_token(plaintext) is not None
    move_clock(monkeypatch, timedelta(days=1, seconds=1))
    assert verify_token(plaintext) is None
    assert list_tokens() == []
    assert [info.id for info in list_tokens(include_inactive=True)] == [_id]
    assert revoke_token(_id) is False


def test_a_revoked_token_does_not_verify(ctx):
    """Revoking works once; the token is refused from then on, and stays listed only with include_inactive."""
    keep_id, keep = create_token("create")
    gone_id, gone = create_token("update")
    assert [info.id for info in list_tokens()] == [gone_id, keep_id]
    assert revoke_token(gone_id) is True
    assert revoke_token(gone_id) is False
    assert verify_token(gone) is None
    assert verify_token(keep) is not None
    assert [info.id for info in list_tokens()] == [keep_id]
    revoked = [info for info in list_tokens(include_inactive=True) if info.id == gone_id][0]
    assert revoked.revoked_at is not None


def test_revoke_by_plaintext(ctx):
    """revoke_plaintext revokes the token with that secret, and answers False for anything else."""
    _id, plaintext = create_token("create")
    assert tokens.revoke_plaintext("never-issued") is False
    assert tokens.revoke_plaintext("") is False
    assert tokens.revoke_plaintext(plaintext) is True
    assert verify_token(plaintext) is None


def test_last_use_is_recorded_at_most_once_a_minute(ctx, monkeypatch):
    """verify_token notes the time of use; within a minute it does not write again; touch=False never does."""
    _id, plaintext = create_token("create")
    assert verify_token(plaintext, touch=False).last_used_at is None
    assert list_tokens()[0].last_used_at is None
    verify_token(plaintext)
    first = list_tokens()[0].last_used_at
    assert first is not None
    move_clock(monkeypatch, timedelta(seconds=30))
    verify_token(plaintext)
    assert list_tokens()[0].last_used_at == first
    move_clock(monkeypatch, timedelta(minutes=2))
    verify_token(plaintext)
    assert list_tokens()[0].last_used_at > first


def test_a_token_still_verifies_when_its_use_cannot_be_recorded(app, data_path, caplog):
    """On a storage that refuses writes, a valid token is still accepted (reads keep working)."""
    with app.app_context():
        _id, plaintext = create_token("create")
    locker = sqlite3.connect(data_path / "starpunk.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
        with app.app_context():
            from starpunk.db import get_db

            get_db().execute("PRAGMA busy_timeout = 50")
            info = verify_token(plaintext)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert info is not None
    assert [record.getMessage() for record in caplog.records] == [
        f"token {_id}: last use not recorded: database is locked"
    ]


@pytest.mark.parametrize(
    ("headers", "form", "expected"),
    [
        ({"Authorization": "Bearer abc"}, None, "abc"),
        ({"Authorization": "bearer   abc "}, None, "abc"),
        ({}, {"access_token": "abc"}, "abc"),
        ({}, None, None),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None, None),
        ({"Authorization": "Bearer"}, None, None),
        ({}, {"content": "hello"}, None),
    ],
)
def test_bearer_token_reads_the_header_or_the_form(app, headers, form, expected):
    """The token comes from Authorization: Bearer or the access_token form field."""
    with app.test_request_context("/micropub", method="POST", headers=headers, data=form):
        from flask import request

        assert bearer_token(request) == expected


def test_bearer_token_in_a_multipart_form(app):
    """A multipart upload may carry access_token as a form field."""
    form = {"access_token": "abc"}
    with app.test_request_context("/micropub", method="POST", data=form, content_type="multipart/form-data"):
        from flask import request

        assert bearer_token(request) == "abc"


def test_bearer_token_ignores_json_bodies(app):
    """A JSON body is not a form: its access_token key is not a token (the spec allows header or form)."""
    with app.test_request_context("/micropub", method="POST", json={"access_token": "abc"}):
        from flask import request

        assert bearer_token(request) is None


def test_a_token_in_both_places_is_an_error(app):
    """Header and form field at once raise TokenRequestError (the caller answers 400 invalid_request)."""
    with app.test_request_context(
        "/micropub", method="POST", headers={"Authorization": "Bearer abc"}, data={"access_token": "abc"}
    ):
        from flask import request

        with pytest.raises(TokenRequestError, match="not both"):
            bearer_token(request)


def test_cli_create_prints_a_working_token_last(app, runner, data_path):
    """`token create` prints the new token as its last line; it verifies, and only its hash is stored."""
    scope, client = "create update delete media", "https://ci.example/"
    result = runner.invoke(args=["token", "create", "--scope", scope, "--client-id", client])
    assert result.exit_code == 0, result.output
    plaintext = result.output.strip().splitlines()[-1]
    assert "shown only this once" in result.output
    with app.app_context():
        info = verify_token(plaintext)
    assert info.scopes == frozenset({"create", "update", "delete", "media"})
    assert info.client_id == "https://ci.example/"
    stored = b"".join(path.read_bytes() for path in data_path.iterdir() if path.is_file())
    assert plaintext.encode() not in stored


@pytest.mark.parametrize("scope", ["", "create root", "admin"])
def test_cli_create_refuses_unknown_scopes(runner, scope):
    """An empty or unknown scope is a usage error naming the scopes on offer; no token is made."""
    result = runner.invoke(args=["token", "create", "--scope", scope])
    assert result.exit_code == 2
    assert "create update delete media profile" in result.output
    assert "No active tokens" in runner.invoke(args=["token", "list"]).output


def test_cli_list_and_revoke(app, runner):
    """`token list` shows id, client, scopes and dates; `token revoke ID` stops the token."""
    assert runner.invoke(args=["token", "list"]).output.strip() == "No active tokens."
    made = runner.invoke(args=["token", "create", "--scope", "media"])
    plaintext = made.output.strip().splitlines()[-1]
    listing = runner.invoke(args=["token", "list"]).output
    assert listing.startswith("1\t(command line)\tscope: media\tcreated ")
    assert "last used never" in listing
    assert plaintext not in listing
    result = runner.invoke(args=["token", "revoke", "1"])
    assert result.exit_code == 0
    assert "Revoked token 1." in result.output
    with app.app_context():
        assert verify_token(plaintext) is None
    assert runner.invoke(args=["token", "list"]).output.strip() == "No active tokens."
    assert "REVOKED" in runner.invoke(args=["token", "list", "--all"]).output
    again = runner.invoke(args=["token", "revoke", "1"])
    assert again.exit_code == 1
    assert "no active token with id 1" in again.output


def test_cli_list_all_marks_expired_tokens(app, runner, monkeypatch):
    """`token list --all` marks expired tokens."""
    runner.invoke(args=["token", "create", "--scope", "create"])
    move_clock(monkeypatch, timedelta(days=91))
    assert "EXPIRED" in runner.invoke(args=["token", "list", "--all"]).output
    assert runner.invoke(args=["token", "list", "--all"]).exit_code == 0


def test_cli_list_all_on_an_empty_site(runner):
    """With no token at all, `token list --all` says so."""
    assert runner.invoke(args=["token", "list", "--all"]).output.strip() == "No tokens."


def test_last_use_is_recorded_again_exactly_a_minute_later(ctx, monkeypatch):
    """TOUCH_INTERVAL after the recorded use, the next use is written (the interval is at most a minute, inclusive)."""
    _id, plaintext = create_token("create")
    verify_token(plaintext)
    first = list_tokens()[0].last_used_at
    later = first + tokens.TOUCH_INTERVAL
    monkeypatch.setattr(tokens, "now", lambda: later)
    verify_token(plaintext)
    assert list_tokens()[0].last_used_at == later


def test_a_token_of_at_most_512_characters_is_looked_up(ctx, database):
    """A secret of 512 characters (one made elsewhere and stored by hash) verifies; 513 are refused unread."""
    from starpunk.db import isoformat
    from starpunk.sessions import hash_token

    moment = datetime.now(timezone.utc)
    for secret in ("k" * 512, "k" * 513):
        database.execute(
            "INSERT INTO tokens (token_hash, me, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (
                hash_token(secret),
                "http://localhost/",
                "create",
                isoformat(moment),
                isoformat(moment + timedelta(days=1)),
            ),
        )
    assert verify_token("k" * 512).scopes == frozenset({"create"})
    assert verify_token("k" * 513) is None


def test_the_token_commands_say_exactly_what_they_did(app, runner, monkeypatch, caplog):
    """create, list, revoke and list --all print one plain line each (dates in UTC), and log without the secret."""
    caplog.set_level("INFO")
    made_at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    monkeypatch.setattr(tokens, "now", lambda: made_at)
    made = runner.invoke(args=["token", "create", "--scope", "media create", "--client-id", "https://ci.example/"])
    expires = made_at + timedelta(days=app.config["TOKEN_LIFETIME_DAYS"])
    expiry = expires.strftime("%Y-%m-%d %H:%M UTC")
    *said, plaintext = made.output.splitlines()
    assert said == [
        f"Token 1 for http://localhost/, scope: create media, expires {expiry}.",
        "Copy it now: it is shown only this once. Revoke it with: flask --app starpunk token revoke 1",
    ]
    row = f"1\thttps://ci.example/\tscope: create media\tcreated 2026-03-04 05:06 UTC\texpires {expiry}"
    assert runner.invoke(args=["token", "list"]).output == f"{row}\tlast used never\n"
    monkeypatch.setattr(tokens, "now", lambda: expires)
    assert runner.invoke(args=["token", "list"]).output == "No active tokens.\n"
    assert runner.invoke(args=["token", "list", "--all"]).output == f"{row}\tlast used never EXPIRED\n"
    monkeypatch.setattr(tokens, "now", lambda: made_at + timedelta(hours=1))
    assert runner.invoke(args=["token", "revoke", "1"]).output == "Revoked token 1.\n"
    revoked = f"{row}\tlast used never REVOKED 2026-03-04 06:06 UTC\n"
    assert runner.invoke(args=["token", "list", "--all"]).output == revoked
    again = runner.invoke(args=["token", "revoke", "1"])
    assert again.output == "Error: no active token with id 1 (see: flask --app starpunk token list)\n"
    logged = [record.getMessage() for record in caplog.records if record.name == app.logger.name]
    assert logged == [
        "token 1 created from the command line, scope create media",
        "token 1 revoked from the command line",
    ]
    assert plaintext not in caplog.text


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("", "no scope given"),
        ("create root admin", "unknown scope(s): root admin"),
    ],
)
def test_a_refused_scope_is_named_with_the_choices(runner, scope, reason):
    """The usage error names the unknown scopes (or that none was given) and every scope on offer."""
    result = runner.invoke(args=["token", "create", "--scope", scope])
    assert f"Invalid value for --scope: {reason}; choose from: create update delete media profile\n" in result.output


def test_a_token_in_both_places_is_explained(app):
    """The 400's description says to send the token in one place."""
    with app.test_request_context(
        "/micropub", method="POST", headers={"Authorization": "Bearer abc"}, data={"access_token": "abc"}
    ):
        from flask import request

        with pytest.raises(TokenRequestError) as refused:
            bearer_token(request)
    assert str(refused.value) == "Send the access token in the Authorization header or the form, not both."
