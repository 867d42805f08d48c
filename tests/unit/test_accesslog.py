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


def test_access_log_keeps_ordinary_requests(capsys):
    line = _access_line("/note/hello?page=2", capsys)
    assert "GET /note/hello?page=2 HTTP/1.1" in line
