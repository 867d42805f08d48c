"""Fixtures for StarPunk's unit tests: apps on a fresh DATA_PATH, clients, and a signed-in owner."""

import re
import sqlite3
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from starpunk import create_app, db
from starpunk.config import DEFAULTS
from starpunk.db import database_path
from testkit.web import CSRF_FIELD
from tests.corpus import xss_payloads

ADMIN_ME = "https://owner.example/"
SESSION_SECRET = "unit-test-secret-" + "s" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Keep any StarPunk settings of the machine running the tests out of every test."""
    for name in DEFAULTS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def data_path(tmp_path):
    """Return this test's DATA_PATH (created by the app on start)."""
    return tmp_path / "data"


@pytest.fixture
def make_app(data_path):
    """Return a factory of apps ("workers") on this test's DATA_PATH, holding its connection; keyword settings win.

    With hold=False the process holds no connection, as in the Gunicorn master
    or a CLI command: every request opens its own.
    """

    def make(hold=True, **settings):
        config = {
            "DATA_PATH": str(data_path),
            "SITE_URL": "http://localhost",
            "SITE_NAME": "Test Notes",
            "SITE_AUTHOR": "Ada Owner",
            "ADMIN_ME": ADMIN_ME,
            "SESSION_SECRET": SESSION_SECRET,
        }
        config.update(settings)
        app = create_app(config)
        # As a Gunicorn worker does after the fork (gunicorn.conf.py: post_worker_init):
        # this test process holds one connection that its requests share.
        if hold and str(config["DATA_PATH"]) not in db._held:
            db.hold_open(config["DATA_PATH"])
        return app

    yield make
    db.release_held()


@pytest.fixture
def app(make_app):
    """Return an app in development settings on a fresh DATA_PATH."""
    return make_app()


@pytest.fixture
def client(app):
    """Return an anonymous visitor's test client."""
    return app.test_client()


@pytest.fixture
def database(app):
    """Return a plain sqlite3 connection to the app's database, as an operator would open it."""
    conn = sqlite3.connect(database_path(app.config["DATA_PATH"]), isolation_level=None)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def make_login_link(app):
    """Return a fresh one-time login URL, made by the `login-link` command."""
    result = app.test_cli_runner().invoke(args=["login-link"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def sign_in(app, client):
    """Sign client in as the owner through a one-time login link."""
    response = client.get(urlsplit(make_login_link(app)).path)
    assert response.status_code == 303, response.text
    return client


def csrf_token(client, path="/admin/new"):
    """Return the CSRF token from the form on path (as a browser would see it)."""
    response = client.get(path)
    assert response.status_code == 200, response.status
    return CSRF_FIELD.search(response.text).group(1)


@pytest.fixture
def login_link(app):
    """Return a function that makes a fresh one-time login URL (for the app fixture, or another)."""
    return lambda other=None: make_login_link(other or app)


@pytest.fixture
def owner(app):
    """Return a test client signed in as the owner."""
    return sign_in(app, app.test_client())


@pytest.fixture
def token():
    """Return a function that reads the CSRF token a client's form carries."""
    return csrf_token


@pytest.fixture
def write_note(owner):
    """Return a function that creates a note through the admin form and returns its slug."""

    def write(content, published=True, client=owner):
        form = {"csrf_token": csrf_token(client), "content": content}
        if published:
            form["published"] = "y"
        response = client.post("/admin/new", data=form)
        assert response.status_code == 303, response.text
        # The flash message names the new note's slug.
        listing = client.get("/admin").text
        return re.findall(r"(?:Published|Saved draft): ([a-z0-9-]+)", listing)[-1]

    return write


@pytest.fixture
def add_notes(app):
    """Return a function that stores notes directly (fast, for lists and feeds); returns the rows."""
    from starpunk import store

    def add(contents, published=True):
        with app.app_context():
            return [store.create_note(text, published) for text in contents]

    return add


@pytest.fixture
def web():
    """Return the rest of the web: another site served on 127.0.0.1 that records its requests."""
    from testkit.otherweb import OtherWeb

    with OtherWeb() as server:
        yield server


@pytest.fixture
def mention_app(make_app):
    """Return an app that may fetch from 127.0.0.1 (where the test's other sites are), as the tests' containers do."""
    return make_app(OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8")


@pytest.fixture
def corpus():
    """Return the shared XSS payloads (tests/corpus/xss.md)."""
    return xss_payloads()


# Written out here, not imported: if the app's allowlist grows something
# dangerous, these tests must notice.
SAFE_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
SAFE_ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}
# nh3 (ammonia) also allows these harmless attributes on every tag.
GENERIC_ATTRIBUTES = {"title", "lang"}
SAFE_SCHEMES = ("http:", "https:", "mailto:")


class Elements(HTMLParser):
    """Collect every start tag and its attributes from an HTML fragment."""

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.found = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def assert_only_safe_html(markup):
    """Fail unless markup holds only allowlisted tags, attributes and URL schemes."""
    assert isinstance(markup, str), markup
    for tag, attrs in Elements(markup).found:
        assert tag in SAFE_TAGS, f"unsafe tag <{tag}> in {markup!r}"
        assert set(attrs) <= SAFE_ATTRIBUTES.get(tag, set()) | GENERIC_ATTRIBUTES, (
            f"unsafe attribute on <{tag}>: {attrs}"
        )
        for name in ("href", "src"):
            url = (attrs.get(name) or "").strip().lower()
            if ":" in url.split("/", 1)[0]:
                assert url.startswith(SAFE_SCHEMES), f"unsafe URL {url!r}"


@pytest.fixture(scope="session")
def safe_html():
    """Return a check that fails unless an HTML fragment is allowlisted markup only."""
    return assert_only_safe_html


def image_bytes(image_format="PNG", size=(40, 30), **save_options):
    """Return a small real image file in image_format (Pillow's name), made with Pillow."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    mode = "P" if image_format == "GIF" else "RGB"
    Image.new(mode, size, color=1 if mode == "P" else (200, 80, 40)).save(buffer, image_format, **save_options)
    return buffer.getvalue()


def multipart(form):
    """Return a multipart body built in memory (the test client would spool a large one to a file it never closes).

    form maps names to strings, (stream, file name) tuples, or lists of either (a field sent several times).
    """
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import stream_encode_multipart

    def part(value):
        return FileStorage(*value) if isinstance(value, tuple) else value

    fields = MultiDict()
    for key, value in form.items():
        for item in value if isinstance(value, list) else [value]:
            fields.add(key, part(item))
    stream, _, boundary = stream_encode_multipart(fields, use_tempfile=False)
    return {"data": stream.getvalue(), "content_type": f"multipart/form-data; boundary={boundary}"}


def gps_exif(orientation=1):
    """Return an EXIF block holding a GPS position (and an orientation and camera), as a phone writes it."""
    from PIL import ExifTags, Image

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "StarPhone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    return exif


@pytest.fixture
def make_image():
    """Return a function that makes a real image file (bytes) with Pillow."""
    return image_bytes


@pytest.fixture
def upload(owner, token):
    """Return a function that posts the admin form with photos [(bytes, file name, alt), ...]; returns the response."""
    import io

    def post(content="A note with photos", photos=(), tags="", path="/admin/new", client=owner, **fields):
        form = {"csrf_token": token(client), "content": content, "published": "y", "tags": tags, **fields}
        for slot, (data, name, alt) in enumerate(photos, start=1):
            form[f"photo_{slot}"] = (io.BytesIO(data), name)
            form[f"alt_{slot}"] = alt
        return client.post(path, data=form, content_type="multipart/form-data")

    return post


# The job kind the queue's and the consumer's tests register a recording handler for.
QUEUE_KIND = "test.echo"


@pytest.fixture
def conn(app):
    """Return a connection of its own to the app's database (as the queue's consumer has)."""
    connection = db.connect(app.config["DATA_PATH"])
    yield connection
    connection.close()


@pytest.fixture
def done(monkeypatch):
    """Register a handler for QUEUE_KIND that records its payloads; return the record."""
    from starpunk import queue

    seen = []
    monkeypatch.setitem(queue.HANDLERS, QUEUE_KIND, seen.append)
    return seen
