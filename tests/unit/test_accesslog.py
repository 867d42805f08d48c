"""The access log never holds a login token or an IndieLogin code."""

import datetime

import pytest
from gunicorn.config import Config

from starpunk.accesslog import RedactingLogger, redact_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/auth/token/SECRET-TOKEN", "/auth/token/[redacted]"),
        ("/auth/token/SECRET-TOKEN?x=1", "/auth/token/[redacted]"),
        ("/auth/callback?code=SECRET-CODE&state=SECRET-STATE", "/auth/callback?[redacted]"),
        ("/auth/callback", "/auth/callback"),
        ("/note/hello?page=2", "/note/hello?page=2"),
        ("/micropub?q=config&access_token=SECRET", "/micropub?q=config&access_token=[redacted]"),
        (
            "/indieauth/token?code=SECRET&code_verifier=SECRET&client_id=https%3A%2F%2Fapp.example%2F",
            "/indieauth/token?code=[redacted]&code_verifier=[redacted]&client_id=https%3A%2F%2Fapp.example%2F",
        ),
        (
            "/indieauth/revoke?token=SECRET&token_type_hint=access_token",
            "/indieauth/revoke?token=[redacted]&token_type_hint=access_token",
        ),
        ("/x?ACCESS%5FTOKEN=SECRET&Code=SECRET&codes=kept", "/x?ACCESS%5FTOKEN=[redacted]&Code=[redacted]&codes=kept"),
        ("/indieauth/authorize?state=abc&code_challenge=xyz", "/indieauth/authorize?state=abc&code_challenge=xyz"),
        ("/", "/"),
    ],
)
def test_redact_uri(uri, expected):
    assert redact_uri(uri) == expected


class _Response:
    status = "303 SEE OTHER"
    sent = 0
    headers = []


def _access_line(uri, capsys):
    logger = RedactingLogger(Config())
    path, _, query = uri.partition("?")
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    logger.cfg.set("accesslog", "-")
    logger.setup(logger.cfg)
    logger.access(_Response(), {}, environ, datetime.timedelta(milliseconds=5))
    return capsys.readouterr().out


def test_access_log_line_holds_no_login_token(capsys):
    line = _access_line("/auth/token/SECRET-TOKEN", capsys)
    assert "GET /auth/token/[redacted] HTTP/1.1" in line
    assert "SECRET" not in line


def test_access_log_line_holds_no_indielogin_code(capsys):
    line = _access_line("/auth/callback?code=SECRET-CODE&state=SECRET-STATE", capsys)
    assert "/auth/callback?[redacted]" in line
    assert "SECRET" not in line


def test_access_log_line_holds_no_access_token_or_code_in_a_query(capsys):
    line = _access_line("/micropub?q=source&access_token=SECRET-TOKEN&url=x&code_verifier=SECRET-VERIFIER", capsys)
    assert "GET /micropub?q=source&access_token=[redacted]&url=x&code_verifier=[redacted] HTTP/1.1" in line
    assert "SECRET" not in line


def test_access_log_keeps_ordinary_requests(capsys):
    line = _access_line("/note/hello?page=2", capsys)
    assert "GET /note/hello?page=2 HTTP/1.1" in line
