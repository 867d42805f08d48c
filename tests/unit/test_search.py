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


@pytest.mark.parametrize(
    "query",
    [f"page={page}" for page in ("0", "abc", str(search.RANKED_WINDOW // search.RESULTS_PAGE_SIZE + 2), "²", "01", "")]
    + [f"before={before}" for before in ("0", "abc", "01", "²", "", "9" * 19)],
)
def test_pages_and_windows_past_the_bounds_are_404(client, note, query):
    """A page past a window's last, or a ?before= that is no note id, is a 404, not a search."""
    note("bounded")
    assert client.get(f"/search?q=bounded&{query}").status_code == 404


def _next_link(html):
    import html as markup
    import re

    found = re.search(r'<a rel="next" href="([^"]+)"', html)
    return markup.unescape(found.group(1)) if found else None


def crawl(client, address):
    """Follow rel="next" from address to the end; return every result's snippet text, page by page in order."""
    seen, pages = [], 0
    while address is not None:
        response = client.get(address)
        assert response.status_code == 200
        seen += results(response)
        address, pages = _next_link(response.text), pages + 1
        assert pages < 100, "paging never ends"
    return seen


@pytest.fixture
def windows(monkeypatch, app, note):
    """Return the notes of an archive searched in windows of 5, 2 results a page: published, drafts, deleted, others."""
    monkeypatch.setattr(search, "RANKED_WINDOW", 5)
    monkeypatch.setattr(search, "RESULTS_PAGE_SIZE", 2)
    kinds = {"published": [], "draft": [], "deleted": []}
    for n in range(23):
        kind = "draft" if n % 7 == 3 else "deleted" if n % 11 == 5 else "published"
        made = note(f"match or not, {kind} number {n}" + " match" * (n % 4), published=kind != "draft")
        kinds[kind].append(made["content"])
        note(f"unrelated words {n}")
    with app.app_context():
        for content in kinds["deleted"]:
            store.delete_note(next(n for n in store.list_all() if n["content"] == content)["id"])
    return kinds


@pytest.mark.parametrize("query", ["match", "MATCH or", '-match* "OR"'])
def test_every_published_match_is_reachable_exactly_once(client, windows, query):
    """Paging on through windows and their pages lists each published match once, and no draft or deleted note."""
    from urllib.parse import urlencode

    seen = crawl(client, "/search?" + urlencode({"q": query}))
    assert sorted(seen) == sorted(windows["published"]) and len(seen) == len(set(seen))


def test_the_owner_reaches_every_match_drafts_too(owner, windows):
    """The owner's search pages through windows the same way: drafts included, deleted notes not."""
    seen = crawl(owner, "/admin?q=match")
    assert sorted(seen) == sorted(windows["published"] + windows["draft"]) and len(seen) == len(set(seen))
    drafts = crawl(owner, "/admin?q=match&show=drafts")
    assert sorted(drafts) == sorted(windows["draft"])


def test_a_window_is_ranked_and_the_next_one_holds_the_older_matches(client, note, monkeypatch):
    """The best match of the newest RANKED_WINDOW comes first; an older, better one leads the next window."""
    monkeypatch.setattr(search, "RANKED_WINDOW", 3)
    note("best best best best match, the oldest")
    note("a weaker match with many other words that dilute it: best")
    note("best best, second best")
    for n in range(2):
        note(f"a weaker match number {n}, with many other words that dilute it: best")
    first = client.get("/search?q=best")
    assert results(first)[0] == "best best, second best" and len(results(first)) == 3
    assert "Older matches" in first.text and 'rel="next"' in first.text
    older = client.get(_next_link(first.text))
    assert results(older) == ["best best best best match, the oldest", results(older)[1]] and len(results(older)) == 2
    assert "Older matches" not in older.text and 'href="/search?q=best">Newest matches' in older.text


def test_the_last_page_of_a_window_leads_to_older_matches(client, note, monkeypatch):
    """Inside a window rel=next is its next page; on its last page, the next window; Older matches on every page."""
    monkeypatch.setattr(search, "RANKED_WINDOW", 4)
    monkeypatch.setattr(search, "RESULTS_PAGE_SIZE", 2)
    for n in range(5):
        note(f"many {n}")
    first, last = client.get("/search?q=many"), client.get("/search?q=many&page=2")
    assert _next_link(first.text) == "/search?q=many&page=2" and "Older matches" in first.text
    assert _next_link(last.text).startswith("/search?q=many&before=")
    assert client.get("/search?q=many&page=3").status_code == 404


def test_a_snippet_starts_just_before_the_first_match():
    """Long text is cut around its first match, with an ellipsis where it was cut."""
    words = [f"w{n}" for n in range(100)]
    words[50] = search.MATCH_START + "needle" + search.MATCH_END
    snippet = search.snippet_of(" ".join(words))
    assert snippet.startswith("…w46 ") and snippet.endswith("…") and len(snippet.split()) == search.SNIPPET_WORDS
    assert search.snippet_of("short " + words[50]) == "short " + words[50]


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


@pytest.mark.parametrize(
    ("query", "status"), [("q=plan&after=5", 404), ("q=plan&page=9", 404), ("q=" + "a" * 201, 400)]
)
def test_the_owner_search_is_paged_by_window_only(owner, query, status):
    """A search is not paged by ?after=, only through its windows, and is bounded like readers' searches."""
    assert owner.get("/admin?" + query).status_code == status


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


def test_each_search_landmark_has_its_own_name(owner):
    """The owner's page holds two search forms: each landmark is named, and differently (axe: landmark-unique)."""
    import re

    names = re.findall(r'role="search" aria-label="([^"]+)"', owner.get("/admin").text)
    assert len(names) == len(set(names)) == 2
