"""Settings: defaults, environment, test_config, and refusals that stop startup with one line."""

from pathlib import Path

import pytest

from starpunk import create_app
from starpunk.config import ConfigError, load_config

GOOD_SECRET = "p" * 32
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SITE_URL": "https://notes.example",
    "SESSION_SECRET": GOOD_SECRET,
    "ADMIN_ME": "https://owner.example/",
}


def test_defaults_when_the_environment_is_empty():
    """Every setting has the documented default."""
    settings = load_config(environ={})
    assert settings["SITE_URL"] == "http://localhost:8000"
    assert settings["SITE_NAME"] == "StarPunk"
    assert settings["ENVIRONMENT"] == "development"
    assert settings["DEV_MODE"] is False
    assert settings["FEED_MAX_ITEMS"] == 50
    assert settings["FEED_CACHE_SECONDS"] == 300
    assert settings["INDIELOGIN_URL"] == "https://indielogin.com"
    assert settings["TRUSTED_PROXIES"] == 0
    assert settings["TOKEN_LIFETIME_DAYS"] == 90
    assert settings["DATA_PATH"] == str(Path("data").absolute())
    assert settings["MAX_NOTE_CHARS"] == 100_000
    # Development gets a working (insecure) secret so the dev server starts.
    assert settings["SESSION_SECRET"]


def test_environment_overrides_defaults_and_is_parsed(tmp_path):
    """Values from the environment replace defaults; numbers and flags are converted."""
    settings = load_config(
        environ={
            "SITE_URL": "https://notes.example/",
            "SITE_NAME": "My Notes",
            "DATA_PATH": str(tmp_path),
            "DEV_MODE": "yes",
            "FEED_MAX_ITEMS": " 7 ",
            "FEED_CACHE_SECONDS": "0",
            "TRUSTED_PROXIES": "2",
            "TOKEN_LIFETIME_DAYS": "30",
            "INDIELOGIN_URL": "http://127.0.0.1:9999/",
            "ENVIRONMENT": "Development",
            "UNRELATED": "ignored",
        }
    )
    assert settings["SITE_URL"] == "https://notes.example"  # trailing slash dropped
    assert settings["SITE_NAME"] == "My Notes"
    assert settings["DATA_PATH"] == str(tmp_path)
    assert settings["DEV_MODE"] is True
    assert settings["FEED_MAX_ITEMS"] == 7
    assert settings["FEED_CACHE_SECONDS"] == 0
    assert settings["TRUSTED_PROXIES"] == 2
    assert settings["TOKEN_LIFETIME_DAYS"] == 30
    assert settings["INDIELOGIN_URL"] == "http://127.0.0.1:9999"
    assert settings["ENVIRONMENT"] == "development"
    assert "UNRELATED" not in settings


def test_relative_data_path_becomes_absolute():
    """A relative DATA_PATH is fixed at startup, whatever the working directory is later."""
    settings = load_config(environ={"DATA_PATH": "some/dir"})
    assert Path(settings["DATA_PATH"]).is_absolute()
    assert settings["DATA_PATH"].endswith("some/dir")


def test_test_config_wins_over_the_environment():
    """test_config is applied last."""
    settings = load_config(
        environ={"SITE_NAME": "From env", "FEED_MAX_ITEMS": "9"},
        test_config={"SITE_NAME": "From test", "FEED_MAX_ITEMS": 3},
    )
    assert settings["SITE_NAME"] == "From test"
    assert settings["FEED_MAX_ITEMS"] == 3


@pytest.mark.parametrize("raw", ["true", "1", "on", "YES"])
def test_truthy_dev_mode_values(raw):
    """The usual spellings of true turn DEV_MODE on."""
    assert load_config(environ={"DEV_MODE": raw})["DEV_MODE"] is True


@pytest.mark.parametrize("raw", ["false", "0", "off", "no", ""])
def test_falsy_dev_mode_values(raw):
    """The usual spellings of false, and empty, leave DEV_MODE off."""
    assert load_config(environ={"DEV_MODE": raw})["DEV_MODE"] is False


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"FEED_MAX_ITEMS": "fifty"}, "FEED_MAX_ITEMS"),
        ({"FEED_MAX_ITEMS": "0"}, "FEED_MAX_ITEMS"),
        ({"FEED_MAX_ITEMS": "2.5"}, "FEED_MAX_ITEMS"),
        ({"FEED_CACHE_SECONDS": "-1"}, "FEED_CACHE_SECONDS"),
        ({"TRUSTED_PROXIES": "one"}, "TRUSTED_PROXIES"),
        ({"TOKEN_LIFETIME_DAYS": "0"}, "TOKEN_LIFETIME_DAYS"),
        ({"DEV_MODE": "maybe"}, "DEV_MODE"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT"),
        ({"SITE_URL": "notes.example"}, "SITE_URL"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_setting(environ, names):
    """A malformed value is refused with one line that names the setting and the value."""
    with pytest.raises(ConfigError) as error:
        load_config(environ=environ)
    message = str(error.value)
    assert names in message
    assert next(iter(environ.values())).strip() in message
    assert "\n" not in message


def test_production_with_safe_settings_starts():
    """A complete production configuration is accepted as is."""
    settings = load_config(environ=PRODUCTION)
    assert settings["ENVIRONMENT"] == "production"
    assert settings["SESSION_SECRET"] == GOOD_SECRET


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SESSION_SECRET": ""}, "SESSION_SECRET"),
        ({"SESSION_SECRET": "short-secret"}, "SESSION_SECRET"),
        ({"SITE_URL": "http://notes.example"}, "SITE_URL"),
        ({"DEV_MODE": "true"}, "DEV_MODE"),
        ({"ADMIN_ME": ""}, "ADMIN_ME"),
    ],
)
def test_production_refuses_unsafe_settings(change, named):
    """Production will not start with a weak secret, plain http, DEV_MODE or no owner."""
    with pytest.raises(ConfigError) as error:
        load_config(environ={**PRODUCTION, **change})
    assert named in str(error.value)
    assert "\n" not in str(error.value)


def test_production_never_gets_the_development_secret():
    """Without SESSION_SECRET, production fails instead of falling back to the dev secret."""
    with pytest.raises(ConfigError):
        load_config(environ={k: v for k, v in PRODUCTION.items() if k != "SESSION_SECRET"})


def test_create_app_reads_the_environment(monkeypatch, tmp_path):
    """create_app() with no arguments (Gunicorn's call) takes its settings from the environment."""
    monkeypatch.setenv("DATA_PATH", str(tmp_path / "env-data"))
    monkeypatch.setenv("SITE_NAME", "Env Site")
    monkeypatch.setenv("FEED_MAX_ITEMS", "12")
    app = create_app()
    assert app.config["SITE_NAME"] == "Env Site"
    assert app.config["FEED_MAX_ITEMS"] == 12
    assert (tmp_path / "env-data" / "starpunk.db").is_file()
    assert "Env Site" in app.test_client().get("/").text


@pytest.mark.parametrize(
    "environ",
    [
        {"FEED_CACHE_SECONDS": "soon"},
        {**PRODUCTION, "SESSION_SECRET": "short"},
        {**PRODUCTION, "SITE_URL": "http://notes.example"},
    ],
)
def test_create_app_stops_with_one_clear_line(monkeypatch, tmp_path, environ):
    """A configuration error ends startup with a one-line message, not a traceback."""
    for name, value in {**environ, "DATA_PATH": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stop:
        create_app()
    message = str(stop.value.code)
    assert message.startswith("starpunk: configuration error: ")
    assert "\n" not in message
    assert "Traceback" not in message


def test_photo_settings_defaults_and_environment():
    """MEDIA_MAX_BYTES defaults to 10 MiB and sets the upload body limit; AUTHOR_PHOTO is off by default."""
    settings = load_config(environ={})
    assert settings["MEDIA_MAX_BYTES"] == 10 * 1024 * 1024
    assert settings["AUTHOR_PHOTO"] == ""
    assert settings["UPLOAD_MAX_CONTENT_LENGTH"] == 4 * settings["MEDIA_MAX_BYTES"] + settings["MAX_CONTENT_LENGTH"]
    settings = load_config(environ={"MEDIA_MAX_BYTES": "5000000", "AUTHOR_PHOTO": " https://owner.example/me.jpg "})
    assert settings["MEDIA_MAX_BYTES"] == 5_000_000
    assert settings["AUTHOR_PHOTO"] == "https://owner.example/me.jpg"
    assert load_config(environ={"AUTHOR_PHOTO": "/static/me.png"})["AUTHOR_PHOTO"] == "/static/me.png"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MEDIA_MAX_BYTES": "ten megabytes"}, "MEDIA_MAX_BYTES"),
        ({"MEDIA_MAX_BYTES": "10"}, "MEDIA_MAX_BYTES"),
        ({"AUTHOR_PHOTO": "javascript:alert(1)"}, "AUTHOR_PHOTO"),
        ({"AUTHOR_PHOTO": "me.jpg"}, "AUTHOR_PHOTO"),
    ],
)
def test_bad_photo_settings_are_refused(environ, named):
    """A malformed limit or an author photo that is not a URL or site path stops startup, naming the setting."""
    with pytest.raises(ConfigError, match=named):
        load_config(environ=environ)


def test_outbound_and_webmention_settings():
    """Outbound networks are parsed CIDRs (none by default); host lists are lower-case names without ports."""
    import ipaddress

    settings = load_config(environ={})
    assert settings["OUTBOUND_ALLOW_NETWORKS"] == ()
    assert settings["WEBMENTION_TRUSTED_HOSTS"] == settings["WEBMENTION_BLOCKED_HOSTS"] == frozenset()
    settings = load_config(
        environ={
            "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8, 10.1.2.3, fd00::/8",
            "WEBMENTION_TRUSTED_HOSTS": "Brid.gy, friend.example:8443,",
            "WEBMENTION_BLOCKED_HOSTS": " spam.example. ",
        }
    )
    assert settings["OUTBOUND_ALLOW_NETWORKS"] == tuple(
        ipaddress.ip_network(net) for net in ("127.0.0.0/8", "10.1.2.3/32", "fd00::/8")
    )
    assert settings["WEBMENTION_TRUSTED_HOSTS"] == {"brid.gy", "friend.example"}
    assert settings["WEBMENTION_BLOCKED_HOSTS"] == {"spam.example"}


def test_a_bad_network_is_refused():
    """A value that is not a network stops startup, naming the setting."""
    with pytest.raises(ConfigError, match="OUTBOUND_ALLOW_NETWORKS.*'localhost'"):
        load_config(environ={"OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8,localhost"})


def test_syndicate_to_is_a_json_list_of_targets():
    """SYNDICATE_TO parses to uid/name (and an optional endpoint); empty means none."""
    assert load_config(environ={})["SYNDICATE_TO"] == []
    raw = '[{"uid": "https://brid.gy/publish/mastodon", "name": "Mastodon", "endpoint": "https://brid.gy/publish/webmention"}]'
    assert load_config(environ={"SYNDICATE_TO": raw})["SYNDICATE_TO"] == [
        {
            "uid": "https://brid.gy/publish/mastodon",
            "name": "Mastodon",
            "endpoint": "https://brid.gy/publish/webmention",
        }
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"uid": "https://a.example/", "name": "A"}',
        '[{"uid": "ftp://a.example/", "name": "A"}]',
        '[{"uid": "https://a.example/"}]',
        '["https://a.example/"]',
        '[{"uid": "https://a.example/", "name": "A", "endpoint": "javascript:x"}]',
    ],
)
def test_a_bad_syndicate_to_is_one_line(raw):
    """A SYNDICATE_TO that is not a list of http(s) targets with names stops startup with one line naming it."""
    with pytest.raises(ConfigError, match="SYNDICATE_TO") as error:
        load_config(environ={"SYNDICATE_TO": raw})
    assert "\n" not in str(error.value)
