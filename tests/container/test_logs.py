"""The container's logs say what happened without leaking a secret."""

from urllib.parse import urlsplit

from testkit.site import Lab


def test_logs_hold_no_login_token_cookie_or_secret(lab: Lab) -> None:
    """Signing in and publishing are logged (token redacted), and no token, cookie or secret shows anywhere."""
    site = lab.site()
    owner = site.sign_in()
    owner.publish("A note written while someone reads the logs.")
    token = urlsplit(owner.login_url).path.rsplit("/", 1)[-1]
    # Gunicorn writes an access line after the reply has gone out, and the engine
    # collects logs on its own time: wait for each line rather than read once.
    for line in ("owner signed in", "GET /auth/token/[redacted]", "POST /admin/new"):
        site.wait_for_log(line)
    logs = site.logs()
    for secret in (token, owner.cookie, site.env["SESSION_SECRET"]):
        assert secret not in logs
