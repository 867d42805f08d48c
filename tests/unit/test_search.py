"""Full-text search: readers' /search and the owner's /admin?q=, kept with every write, bounded, escaped."""

import sqlite3

import pytest

from starpunk import create_app, db, restore, search, store
from starpunk.pagecache import EXTENSION
from tests.unit.conftest import ADMIN_ME, SESSION_SECRET


def results(response):
    """Return the text of each search result's snippet, tags stripped."""
    import re

    return [re.sub(r"<[^>]+>", "", found) for found in re.findall(r'<p class="snippet">(.*?)</p>', response.text, re.S)]


@pytest.fixture
def note(app):
    """Return a function storing a note through the store (published unless told) and returning it."""

    def write(content, published=True, tags=()):
        with app.app_context():
            return store.create_note(content, published, tags=tags)

    return write


def test_start_up_refuses_a_sqlite_without_fts5(monkeypatch, data_path):
    """Without FTS5 the app does not start, and says why in one line."""
    monkeypatch.setattr(search, "fts5_available", lambda: False)
    with pytest.raises(SystemExit) as stopped:
        create_app({"DATA_PATH": str(data_path), "ADMIN_ME": ADMIN_ME, "SESSION_SECRET": SESSION_SECRET})
    message = str(stopped.value)
    assert "\n" not in message and "FTS5" in message and message.startswith("starpunk: ")


def test_this_python_has_fts5():
    """The probe finds FTS5 in the SQLite the tests (and the image) run with."""
    assert search.fts5_available()


def test_readers_find_published_notes_only_best_first(client, note, app):
    """/search lists published, undeleted notes holding every word, the closest match first."""
    note("A walk in the park with the dog")
    note("Park, park and more park: the dog loved the park")
    note("The park draft", published=False)
    gone = note("A deleted park note")
    note("Only a cat here")
    with app.app_context():
        store.delete_note(gone["id"])
    found = results(client.get("/search?q=park"))
    assert found[0].startswith("Park, park and more park") and len(found) == 2
    assert results(client.get("/search?q=dog+walk")) == ["A walk in the park with the dog"]


def test_tags_and_accents_are_searched(client, note):
    """A note is found by its tags, and words match without their accents."""
    note("Coffee this morning", tags=["Café"])
    note("Crème brûlée for dessert")
    assert results(client.get("/search?q=cafe")) == ["Coffee this morning"]
    assert len(results(client.get("/search?q=creme"))) == 1


def test_the_index_follows_every_write(app, client, note):
    """Edits, tag changes, deletes and undeletes show in the next search (the index is kept in the same transaction)."""
    first = note("Original wording", tags=["alpha"])
    with app.app_context():
        store.update_note(first["id"], "Rewritten entirely", True, tags=["beta"])
    assert results(client.get("/search?q=original")) == [] and results(client.get("/search?q=alpha")) == []
    assert len(results(client.get("/search?q=rewritten+beta"))) == 1
    with app.app_context():
        store.delete_note(first["id"])
    assert results(client.get("/search?q=rewritten")) == []
    with app.app_context():
        store.undelete_note(first["id"])
    assert len(results(client.get("/search?q=rewritten"))) == 1


def test_a_failed_write_leaves_the_index_as_it_was(app, client, note):
    """A write that rolls back takes its index change with it."""
    first = note("Stable words")
    with app.app_context(), pytest.raises(store.NoteError):
        store.update_note(first["id"], "Changed words", True, tags=["x" * 200])
    assert len(results(client.get("/search?q=stable"))) == 1 and results(client.get("/search?q=changed")) == []


def test_snippets_are_escaped_and_only_matches_are_marked(client, note, corpus, safe_html):
    """The snippet shows the note's text as text: its markup escaped, the matched words in <mark>."""
    note('Needle <script>alert("x")</script> <b>bold</b> \ue000 stray \ue001 marker')
    html = client.get("/search?q=needle").text
    snippet = html.split('<p class="snippet">', 1)[1].split("</p>", 1)[0]
    assert "<mark>Needle</mark>" in snippet and "&lt;script&gt;" in snippet and "<script>" not in snippet
    assert snippet.count("<mark>") == snippet.count("</mark>")
    for payload in corpus[:20]:
        note(f"Payload {payload}")
    for found in results(client.get("/search?q=payload")):
        safe_html(found)


@pytest.mark.parametrize(
    "snippet",
    ["\ue001a\ue000b", "\ue000a\ue000b\ue001", "\ue000<i>", "plain & <b>"],
)
def test_highlighting_is_balanced_markup_whatever_the_markers(snippet):
    """Stray or unbalanced markers never unbalance the markup, and text is always escaped."""
    markup = str(search.highlighted(snippet))
    assert markup.count("<mark>") == markup.count("</mark>") <= 1
    assert "<i>" not in markup and "<b>" not in markup


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ('"', 0),
        ('cats"dogs', 0),  # one word holding two tokens: a phrase, "cats dogs", which the note lacks
        ("NEAR(cats dogs)", 0),  # the phrases "near cats" and "dogs"
        ("cats OR", 0),
        ("-cats", 1),
        ("content:cats", 0),
        ("cats*", 1),
        ("^cats", 1),
        ("ca*", 0),
        ("(", 0),
        ("AND", 1),
        ("tags:cats", 0),
        ("\x00", 0),
        ("cats\x00\x1f", 1),
        ("!!!", 0),
    ],
)
def test_a_query_is_text_never_search_syntax(client, note, query, found):
    """Quotes, operators, prefixes and column filters are words to find, never FTS5 syntax: no error, no surprise."""
    note("cats and dogs")
    response = client.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert len(results(response)) == found


def test_an_operator_is_a_word_to_find(client, note):
    """'cats OR dogs' finds the notes holding all three words, not either animal."""
    note("cats only")
    note("dogs only")
    note("cats or dogs, you choose")
    assert results(client.get("/search?q=cats+OR+dogs")) == ["cats or dogs, you choose"]


@pytest.mark.parametrize(("length", "status"), [(search.MAX_QUERY_CHARS, 200), (search.MAX_QUERY_CHARS + 1, 400)])
def test_a_query_has_at_most_max_query_chars(client, length, status):
    """A query of MAX_QUERY_CHARS is searched; one more character is a 400 page saying the limit."""
    response = client.get("/search", query_string={"q": "a" * length})
    assert response.status_code == status
    if status == 400:
        assert f"at most {search.MAX_QUERY_CHARS} characters" in response.text


def test_a_search_past_its_budget_is_refused_and_the_site_goes_on(client, note, monkeypatch):
    """A search SQLite cannot finish within MAX_SEARCH_STEPS is a 503 page; the next one works."""
    note("budget words")
    monkeypatch.setattr(search, "PROGRESS_INTERVAL", 1)
    monkeypatch.setattr(search, "MAX_SEARCH_STEPS", 1)
    refused = client.get("/search?q=budget")
    assert refused.status_code == 503 and "matched too much" in refused.text
    monkeypatch.undo()
    assert len(results(client.get("/search?q=budget"))) == 1


def test_a_database_error_in_a_search_is_not_taken_for_the_budget(app, monkeypatch):
    """Only the progress handler's interruption means 'too costly'; other errors go on to the error page."""
    with app.test_request_context(), pytest.raises(sqlite3.OperationalError):
        with search.bounded(db.get_db()) as conn:
            conn.execute("SELECT * FROM no_such_table")


@pytest.mark.parametrize(("extra", "status"), [(0, 200), (1, 429)])
def test_a_client_may_search_searches_per_minute_times(client, monkeypatch, extra, status):
    """SEARCHES_PER_MINUTE searches a minute are answered; the next is 429 with Retry-After, no-store."""
    monkeypatch.setattr(search, "SEARCHES_PER_MINUTE", 3)
    for _ in range(3):
        assert client.get("/search?q=word").status_code == 200
    assert client.get("/search").status_code == 200  # the empty form is no search
    if extra:
        refused = client.get("/search?q=word")
        assert refused.status_code == status and int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["Cache-Control"] == "no-store" and "Too many searches" in refused.text


@pytest.mark.parametrize(("found", "next_page"), [(2, False), (3, True)])
def test_results_page_at_their_size(client, note, monkeypatch, found, next_page):
    """RESULTS_PAGE_SIZE results fit a page; one more makes a next page."""
    monkeypatch.setattr(search, "RESULTS_PAGE_SIZE", 2)
    for n in range(found):
        note(f"paged result {n}")
    first = client.get("/search?q=paged")
    assert len(results(first)) == 2 and ('rel="next"' in first.text) == next_page
    second = client.get("/search?q=paged&page=2")
    assert second.status_code == (200 if next_page else 404)
    if next_page:
        assert len(results(second)) == 1 and 'href="/search?q=paged&amp;page=1"' in second.text


@pytest.mark.parametrize("page", ["0", "abc", str(search.MAX_RESULT_PAGES + 1), "²", "01", "", "9" * 30])
def test_result_pages_past_the_bound_are_404(client, note, page):
    """Readers page through at most MAX_RESULT_PAGES pages of results."""
    note("bounded")
    assert client.get(f"/search?q=bounded&page={page}").status_code == 404


def test_the_last_result_page_has_no_next_link(client, note, monkeypatch):
    """Page MAX_RESULT_PAGES is the last, however many notes match."""
    monkeypatch.setattr(search, "RESULTS_PAGE_SIZE", 1)
    for n in range(search.MAX_RESULT_PAGES + 1):
        note(f"many {n}")
    last = client.get(f"/search?q=many&page={search.MAX_RESULT_PAGES}")
    assert last.status_code == 200 and 'rel="next"' not in last.text


def test_search_pages_are_kept_by_no_cache_and_no_crawler(app, client):
    """Results carry no-store and noindex, and the page cache keeps no copy of them."""
    response = client.get("/search?q=anything")
    assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Robots-Tag"] == "noindex"
    assert '<meta name="robots" content="noindex">' in response.text
    assert not any(path == "/search" for path, _ in app.extensions.get(EXTENSION, {}))
    assert "Disallow: /search" in client.get("/robots.txt").text


def test_every_page_has_a_labelled_search_box(client):
    """The header's search form has a label for its input and sends ?q= to /search."""
    html = client.get("/").text
    assert '<label for="site-search"' in html and 'id="site-search" type="search" name="q"' in html
    assert 'action="/search"' in html
    assert 'value="kept &amp; shown"' in client.get("/search?q=kept+%26+shown").text


def test_the_owner_searches_drafts_too(owner, note):
    """/admin?q= finds drafts as well as published notes; with ?show=drafts only drafts."""
    note("Secret plan draft", published=False)
    note("Published plan")
    both = owner.get("/admin?q=plan").text
    assert "Secret plan draft" in both and "Published plan" in both and "2 best matches" in both
    drafts = owner.get("/admin?q=plan&show=drafts").text
    assert "Secret plan draft" in drafts and "Published plan" not in drafts
    assert "No note holds all of these words." in owner.get("/admin?q=nothing").text


def test_the_owner_search_past_its_budget_says_so(owner, note, monkeypatch):
    """An owner's search SQLite cannot finish in budget shows why, with the list's page."""
    note("budget")
    monkeypatch.setattr(search, "MAX_SEARCH_STEPS", 1)
    monkeypatch.setattr(search, "PROGRESS_INTERVAL", 1)
    assert "matched too much" in owner.get("/admin?q=budget").text


@pytest.mark.parametrize("query", ["q=plan&before=5", "q=plan&after=5", "q=" + "a" * 201])
def test_the_owner_search_is_one_page(owner, query):
    """A search is not paged by note id, and is bounded like readers' searches."""
    assert owner.get("/admin?" + query).status_code in (400, 404)


def test_the_anonymous_cannot_search_drafts(client, note):
    """/admin?q= needs the owner; readers' /search never shows a draft."""
    note("hidden draft", published=False)
    assert client.get("/admin?q=hidden").status_code in (302, 303)
    assert results(client.get("/search?q=hidden")) == []


def test_an_old_database_is_indexed_by_the_migration(make_app, data_path, monkeypatch):
    """A database from before search gets every existing note indexed when migration 0008 runs."""
    older = [migration for migration in db.available_migrations() if migration[0] < 8]
    monkeypatch.setattr(db, "available_migrations", lambda: older)
    db.migrate(str(data_path))
    conn = db.connect(str(data_path))
    conn.execute(
        "INSERT INTO notes (slug, content, published, created_at, updated_at, published_at)"
        " VALUES ('old', 'Written before search', 1, '2020-01-01', '2020-01-01', '2020-01-01')"
    )
    conn.execute("INSERT INTO note_tags (note_id, position, tag) VALUES (1, 1, 'vintage')")
    conn.close()
    monkeypatch.undo()
    app = make_app()
    assert len(results(app.test_client().get("/search?q=written+vintage"))) == 1


def test_search_survives_backup_and_restore(app, client, note, tmp_path):
    """A backup carries the index; the restored database answers the same searches."""
    note("Backed up words", tags=["safe"])
    backup = tmp_path / "backup.db"
    result = app.test_cli_runner().invoke(args=["backup", str(backup)])
    assert result.exit_code == 0, result.output
    elsewhere = tmp_path / "restored"
    elsewhere.mkdir()
    assert restore.main([str(elsewhere / db.DB_FILENAME), str(backup)]) == 0
    restored = create_app(
        {"DATA_PATH": str(elsewhere), "ADMIN_ME": ADMIN_ME, "SESSION_SECRET": SESSION_SECRET}
    ).test_client()
    assert len(results(restored.get("/search?q=backed+safe"))) == 1


@pytest.mark.parametrize(("older", "found"), [(0, True), (1, False)])
def test_only_the_newest_matches_are_ranked(client, note, monkeypatch, older, found):
    """A note among the newest MAX_RANKED_MATCHES matches can be the best; one older than them is not ranked."""
    monkeypatch.setattr(search, "MAX_RANKED_MATCHES", 3)
    note("best best best best match, the oldest")
    for n in range(2 + older):
        note(f"a weaker match number {n}, with many other words that dilute it: best")
    listed = results(client.get("/search?q=best"))
    assert len(listed) == 3
    assert (listed[0] == "best best best best match, the oldest") == found


def test_each_search_landmark_has_its_own_name(owner):
    """The owner's page holds two search forms: each landmark is named, and differently (axe: landmark-unique)."""
    import re

    names = re.findall(r'role="search" aria-label="([^"]+)"', owner.get("/admin").text)
    assert len(names) == len(set(names)) == 2
