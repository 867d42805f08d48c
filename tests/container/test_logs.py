"""The container's logs say what happened without leaking a secret."""

from urllib.parse import urlsplit

from starpunk_lab import Lab


def test_logs_hold_no_login_token_cookie_or_secret(lab: Lab) -> None:
    site = lab.site()
    owner = site.sign_in()
    owner.publish("A note written while someone reads the logs.")
    token = urlsplit(owner.login_url).path.rsplit("/", 1)[-1]
    # The logs did record the sign-in and the access lines: they are not empty.
    # The client has its 303 before the worker writes that request's access line.
    logs = site.logs_once_they_hold("POST /admin/new")
    assert "owner signed in" in logs
    assert "GET /auth/token/[redacted]" in logs
    for secret in (token, owner.cookie, site.env["SESSION_SECRET"]):
        assert secret not in logs
