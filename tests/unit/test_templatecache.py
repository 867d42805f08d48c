"""Templates compiled at image build: loaded instead of compiled, never stale, never written at run time."""

import pytest
from jinja2 import Environment

from starpunk import templatecache

PAGES = ("/", "/feed.xml", "/robots.txt")


@pytest.fixture
def compiles(monkeypatch):
    """Return the names of the templates Jinja compiles from now on."""
    seen = []
    original = Environment.compile

    def compile(self, source, name=None, filename=None, raw=False, defer_init=False):
        seen.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(Environment, "compile", compile)
    return seen


@pytest.fixture
def prebuilt(tmp_path):
    """Return a folder holding every template compiled, as the image build makes it."""
    folder = tmp_path / "template-bytecode"
    assert templatecache.build(folder) >= 10
    # Readable by the site's user, not only by the build's (root in the image).
    assert {path.stat().st_mode & 0o777 for path in folder.iterdir()} == {0o644}
    return folder


def test_prebuilt_templates_are_loaded_not_compiled(make_app, prebuilt, compiles, add_notes):
    """With the build's folder, a page renders the same bytes and no template is compiled."""
    add_notes(["A note to show"])
    plain = make_app().test_client()
    expected = {path: plain.get(path).data for path in PAGES}
    compiles.clear()
    app = make_app()
    templatecache.use_prebuilt(app, prebuilt)
    client = app.test_client()
    assert {path: client.get(path).data for path in PAGES} == expected
    assert client.get("/note/a-note-to-show").status_code == 200
    assert compiles == []


def test_an_edited_template_is_compiled_afresh(make_app, prebuilt, compiles, monkeypatch):
    """The compiled code is checked against the template's source: an edit is shown, not the build's copy."""
    app = make_app()
    templatecache.use_prebuilt(app, prebuilt)
    loader = app.jinja_env.loader
    original = loader.get_source

    def edited(environment, name):
        source, filename, uptodate = original(environment, name)
        if name == "index.html":
            source = source.replace("{% block head %}", "{% block head %}<!-- edited after the build -->", 1)
        return source, filename, uptodate

    monkeypatch.setattr(loader, "get_source", edited)
    assert "edited after the build" in app.test_client().get("/").text
    assert compiles == ["index.html"]


def test_nothing_is_written_at_run_time(make_app, tmp_path, compiles):
    """An empty folder stays empty: templates compiled at run time live in memory only."""
    folder = tmp_path / "empty"
    folder.mkdir()
    app = make_app()
    templatecache.use_prebuilt(app, folder)
    assert app.test_client().get("/").status_code == 200
    assert "index.html" in compiles
    assert list(folder.iterdir()) == []


def test_without_the_folder_jinja_compiles_as_usual(make_app, tmp_path):
    """Development and tests have no build folder: no bytecode cache is set."""
    app = make_app()
    templatecache.use_prebuilt(app, tmp_path / "missing")
    assert app.jinja_env.bytecode_cache is None
