"""The application factory: one app per call, security headers everywhere, and the issue's whole story."""

import json
import re
from urllib.parse import urlsplit

import feedparser
import pytest

SITE = "http://localhost"


def test_each_call_builds_an_independent_app(make_app):
    """create_app() is a factory: two apps do not share settings."""
    first = make_app(SITE_NAME="First")
    second = make_app(SITE_NAME="Second")
    assert first is not second
    assert "First" in first.test_client().get("/").text
    assert "Second" in second.test_client().get("/").text


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/note/missing",
        "/feed.xml",
        "/feed.atom",
        "/feed.json",
        "/health",
        "/auth/login",
        "/admin",
        "/static/style.css",
    ],
)
def test_security_headers_on_every_response(client, path):
    """Every response forbids inline scripts, sniffing, framing and leaky referrers."""
    with client.get(path) as response:  # closes the static file's stream
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["script-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_work_without_javascript(client, add_notes):
    """No page ships a script: the site is plain HTML and CSS."""
    (note,) = add_notes(["No JS needed"])
    for path in ("/", f"/note/{note['slug']}", "/auth/login"):
        assert "<script" not in client.get(path).text.lower()


def test_stylesheet_is_served(client):
    """The stylesheet the pages link to exists."""
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', client.get("/").text).group(1)
    with client.get(href) as response:
        assert response.status_code == 200
        assert response.mimetype == "text/css"
        assert b"{" in response.data


def test_trusted_proxy_forwards_the_https_scheme(make_app, login_link):
    """Behind one trusted proxy, X-Forwarded-Proto is honoured (the app sees https)."""
    app = make_app(TRUSTED_PROXIES=1, SITE_URL="https://notes.example")
    client = app.test_client()
    response = client.get("/auth/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "notes.example"})
    location = urlsplit(response.headers["Location"])
    assert response.status_code == 302
    assert "redirect_uri=https%3A%2F%2Fnotes.example%2Fauth%2Fcallback" in location.query


def test_gunicorn_takes_no_script_name_or_path_from_any_peer():
    """gunicorn.conf.py trusts no forwarder header: a SCRIPT_NAME header, even from 127.0.0.1, is dropped."""
    import runpy
    from pathlib import Path

    from gunicorn.config import Config

    settings = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    config = Config()
    config.set("forwarder_headers", settings["forwarder_headers"])
    assert config.forwarder_headers == []
    assert config.header_map == "drop"


def test_new_users_story(app, login_link, token, client):
    """Sign in with a login link, post a draft, a note and a note with <script>: readers see two, and no script."""
    owner = app.test_client()
    assert owner.get(urlsplit(login_link()).path).status_code == 303
    posts = [
        ("Morning walk by the river, saw herons.", True),
        ("Half-written thoughts about compilers", False),
        ("Trying HTML: <script>alert('pwned')</script> **bold** stays", True),
    ]
    for content, published in posts:
        form = {"csrf_token": token(owner), "content": content}
        if published:
            form["published"] = "y"
        assert owner.post("/admin/new", data=form).status_code == 303

    home = client.get("/").text
    assert "Morning walk by the river" in home
    assert "<strong>bold</strong> stays" in home
    assert "Half-written thoughts" not in home
    assert home.index("Trying HTML") < home.index("Morning walk")  # newest first

    permalinks = re.findall(r'class="u-url" href="([^"]+)"', home)
    assert permalinks == [f"{SITE}/note/trying-html-bold-stays", f"{SITE}/note/morning-walk-by-the-river-saw"]
    for url in permalinks:
        assert client.get(urlsplit(url).path).status_code == 200
    assert client.get("/note/half-written-thoughts-about-compilers").status_code == 404

    for path in ("/feed.xml", "/feed.atom"):
        parsed = feedparser.parse(client.get(path).data, sanitize_html=False)
        assert parsed.bozo == 0
        assert [entry.link for entry in parsed.entries] == permalinks
    items = json.loads(client.get("/feed.json").data)["items"]
    assert [item["url"] for item in items] == permalinks

    everything = [home] + [client.get(urlsplit(url).path).text for url in permalinks]
    everything += [client.get(path).get_data(as_text=True) for path in ("/feed.xml", "/feed.atom", "/feed.json")]
    everything.append(owner.get("/admin").text)
    for body in everything:
        assert "<script" not in body.lower()
        assert "&lt;script" not in body.lower()
        assert "pwned" not in body


def test_warm_up_fills_the_caches_and_writes_nothing(capsys, make_app, add_notes, database):
    """Warming up (Gunicorn's master, before forking) renders the home page and the newest note, and changes no data."""
    from starpunk import pagecache, warm_up

    app = make_app()
    add_notes(["Warm note"])
    before = {
        table: [tuple(row) for row in database.execute(f"SELECT * FROM {table}")]
        for table in ("notes", "sessions", "site_state", "auth_failures")
    }
    warm_up(app)
    after = {
        table: [tuple(row) for row in database.execute(f"SELECT * FROM {table}")]
        for table in ("notes", "sessions", "site_state", "auth_failures")
    }
    assert after == before
    assert "warmed up in" in capsys.readouterr().err
    # The pages it served are cached: the home page and the note are what readers get first.
    copies = app.extensions[pagecache.EXTENSION]
    assert any(b"Warm note" in copy.body for copy in copies.values())
    assert len(copies) == 2
    # The feeds are not warmed (each worker's first reader renders them).
    assert not app.extensions.get("starpunk_feeds")


def test_warm_up_of_an_empty_or_broken_site_does_not_fail(make_app, data_path):
    """Warming up never stops the server from starting, even with nothing (or no database) to show."""
    from starpunk import warm_up

    app = make_app()
    warm_up(app)
    (data_path / "starpunk.db").unlink()
    warm_up(app)


def test_warm_up_costs_what_its_first_pages_cost_not_the_archive(make_app, add_notes, monkeypatch):
    """Warm-up makes SQLite do the same work for 60 notes as for 400: it renders first pages, not the archive."""
    from starpunk import db, warm_up

    steps = [0]
    real_connect = db.connect

    def counted(*args, **kwargs):
        conn = real_connect(*args, **kwargs)

        def step():
            steps[0] += 1
            return 0

        conn.set_progress_handler(step, 1)  # every virtual-machine instruction: rows read show in the count
        return conn

    monkeypatch.setattr(db, "connect", counted)
    db.release_held()  # as in Gunicorn's master, which holds no connection: each request opens one
    counts = []
    for more in (60, 340):  # both more than the feeds' FEED_MAX_ITEMS (50) and a page
        add_notes([f"Archive note {n:04d}" for n in range(more)])
        steps[0] = 0
        warm_up(make_app(hold=False))
        counts.append(steps[0])
    assert counts[0] == counts[1] > 0


def _modules_after(code, data_path):
    """Return the modules a fresh interpreter has loaded after running code (a clean start, not this test's)."""
    import subprocess
    import sys

    env = {
        "DATA_PATH": str(data_path),
        "SESSION_SECRET": "s" * 64,
        "SITE_URL": SITE,
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", code + "; import sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return set(result.stdout.split())


def test_a_start_does_not_import_pillow_until_a_photo_arrives(data_path):
    """Building the app (what every start-up pays) leaves Pillow, mf2py and Beautiful Soup unloaded."""
    loaded = _modules_after("import starpunk; starpunk.create_app()", data_path)
    assert "starpunk.media" in loaded and "starpunk.verify" in loaded
    assert not {"PIL", "mf2py", "bs4", "requests"} & loaded


def test_a_start_loads_flask_wtf_only_with_the_first_form(data_path):
    """Gunicorn's start (commands=False) and the readers' pages load neither Flask-WTF nor html.parser; a form does."""
    reader = (
        "import starpunk; app = starpunk.create_app(commands=False); app.warm_up()\n"
        "assert app.test_client().get('/feed.xml').status_code == 200"
    )
    loaded = _modules_after(reader, data_path)
    assert "starpunk.csrf" in loaded
    assert not {"flask_wtf", "wtforms", "html.parser", "starpunk.cli"} & loaded
    owner = (
        "import starpunk; app = starpunk.create_app(commands=False)\n"
        "refused = app.test_client().post('/auth/logout')\n"
        "assert refused.status_code == 400 and 'did not come from this site' in refused.get_data(as_text=True)"
    )
    assert {"flask_wtf", "wtforms"} <= _modules_after(owner, data_path)


def test_the_command_line_commands_are_added_for_the_cli_only(make_app):
    """create_app() (what `flask --app starpunk` calls) has the operator's commands; Gunicorn's call skips them."""
    from starpunk import create_app

    assert {"backup", "export", "init-db", "login-link", "mentions", "queue", "token"} <= set(make_app().cli.commands)
    assert not set(create_app(commands=False).cli.commands)


def test_every_url_built_on_first_use_is_the_one_werkzeug_builds(make_app):
    """The rules write their URL builders when first asked; each builds what Werkzeug's own rules build."""
    from werkzeug.routing import Map, Rule

    app = make_app()
    rules = list(app.url_map.iter_rules())
    plain = Map([Rule(r.rule, endpoint=r.endpoint, methods=r.methods, defaults=r.defaults) for r in rules])
    ours = app.url_map.bind("blog.example.test", url_scheme="https")
    theirs = plain.bind("blog.example.test", url_scheme="https")
    numbers = {"year": 2026, "month": 5, "note_id": 7, "mention_id": 8, "token_id": 9}
    values = {**numbers, "slug": "a-note", "tag": "café & tea", "filename": "a b/c.png", "token": "t?k", "name": "n"}
    built = 0
    for rule in rules:
        given = {name: values.get(name, "v") for name in rule.arguments}
        for extra in ({}, {"page": 2, "q": "a&b"}):
            for external in (False, True):
                url = ours.build(rule.endpoint, {**given, **extra}, force_external=external)
                assert url == theirs.build(rule.endpoint, {**given, **extra}, force_external=external)
                built += 1
    assert built == 4 * len(rules) > 100


def test_a_start_on_notes_with_stored_html_does_not_import_markdown(data_path):
    """The warm-up reads each note's stored HTML: a start imports no Markdown until a note is rendered afresh."""
    code = (
        "import starpunk; app = starpunk.create_app()\n"
        "with app.app_context():\n"
        "    from starpunk import store\n"
        "    store.create_note('A *first* note', published=True)"
    )
    _modules_after(code, data_path)  # written by one process (it renders), started by the next
    loaded = _modules_after("import starpunk; starpunk.create_app().warm_up()", data_path)
    assert "starpunk.render" in loaded
    assert "markdown" not in loaded


def test_writing_a_note_with_links_leaves_beautiful_soup_unloaded(data_path):
    """A worker that writes a note (its links queued as Webmentions) keeps Beautiful Soup's 6.6 MB out of its memory."""
    code = (
        "import starpunk; app = starpunk.create_app()\n"
        "with app.app_context():\n"
        "    from starpunk import store\n"
        "    store.create_note('See [this](https://example.com/a) and <https://example.org/b>', published=True)\n"
        "    from starpunk import queue, db\n"
        "    assert queue.pending(db.get_db(), 'webmention-send') == 2, 'the links were not queued'"
    )
    loaded = _modules_after(code, data_path)
    assert "starpunk.sending" in loaded
    assert not {"bs4", "mf2py", "requests"} & loaded


def test_the_worker_class_loads_nothing_of_the_app(data_path):
    """Gunicorn imports starpunk.worker for any app it serves: the framework floor must not load StarPunk's app."""
    loaded = _modules_after("import starpunk.worker", data_path)
    assert not {"flask_wtf", "wtforms", "markdown", "nh3", "PIL", "starpunk.render", "starpunk.db"} & loaded
