"""Notes' HTML stored with their text: pages read it instead of rendering Markdown, and it never outlives the text."""

import pytest

from starpunk import render, store


@pytest.fixture
def ctx(app):
    """Run the test inside an application context (one request's worth of database)."""
    with app.app_context():
        yield


@pytest.fixture
def fresh_process(monkeypatch):
    """Forget every rendering this process kept, as a newly started one would, and count renderings from here."""
    monkeypatch.setattr(render, "_rendered", type(render._rendered)())
    calls = []
    afresh = render.render_afresh

    def counting(text):
        calls.append(text)
        return afresh(text)

    monkeypatch.setattr(render, "render_afresh", counting)
    return calls


def stored(database, slug):
    return database.execute("SELECT content, rendered, rendered_by FROM notes WHERE slug = ?", (slug,)).fetchone()


def test_a_written_note_stores_its_html_and_what_rendered_it(ctx, database):
    """Creating and editing a note store the HTML its text renders to, stamped with this revision's renderer."""
    note = store.create_note("Some *emphasis*", published=True)
    row = stored(database, note["slug"])
    assert (row["rendered"], row["rendered_by"]) == ("<p>Some <em>emphasis</em></p>", render.RENDERED_BY)
    store.update_note(note["id"], "Now **strong**", published=True)
    row = stored(database, note["slug"])
    assert (row["rendered"], row["rendered_by"]) == ("<p>Now <strong>strong</strong></p>", render.RENDERED_BY)
    assert "rendered" not in store.get_note(note["id"]) and "rendered_by" not in store.get_note(note["id"])


def test_a_process_serves_stored_html_without_rendering_markdown(app, add_notes, fresh_process):
    """A new process (a worker after a restart) shows pages and feeds from the stored HTML: no Markdown rendered."""
    add_notes(["First *one*", "Second with a [link](https://example.com/)"])
    render._rendered.clear()
    fresh_process.clear()
    client = app.test_client()
    for path in ("/", "/feed.xml", "/feed.atom", "/feed.json"):
        response = client.get(path)
        assert response.status_code == 200
        assert "<em>one</em>" in response.text or "&lt;em&gt;one&lt;/em&gt;" in response.text
    assert fresh_process == []


def test_html_stored_by_another_renderer_is_not_used(app, add_notes, database, fresh_process):
    """An upgrade that changes the rules or a library makes stored HTML stale: the note is rendered again."""
    (note,) = add_notes(["Plain *words*"])
    database.execute("UPDATE notes SET rendered = '<p>STALE</p>', rendered_by = 'older' WHERE id = ?", (note["id"],))
    render._rendered.clear()
    fresh_process.clear()
    page = app.test_client().get(f"/note/{note['slug']}").text
    assert "STALE" not in page and "<em>words</em>" in page
    assert fresh_process == ["Plain *words*"]


def test_a_text_changed_without_its_html_loses_the_stored_html(app, add_notes, database, fresh_process):
    """Code that knows nothing of the columns (0.7.0 after a rollback) edits the text: the old HTML is never shown."""
    (note,) = add_notes(["Before the edit"])
    database.execute("UPDATE notes SET content = 'After the edit' WHERE id = ?", (note["id"],))
    row = stored(database, note["slug"])
    assert (row["rendered"], row["rendered_by"]) == (None, None)
    render._rendered.clear()
    page = app.test_client().get(f"/note/{note['slug']}").text
    assert "After the edit" in page and "Before the edit" not in page


def test_render_notes_stores_the_html_of_older_notes_in_batches(app, add_notes, database):
    """Notes from before 0.8.0 (no stored HTML) or an older renderer get this one's, a batch at a time, all of them."""
    add_notes([f"Note *{n}*" for n in range(5)])
    database.execute("UPDATE notes SET rendered = NULL, rendered_by = NULL WHERE id % 2 = 1")
    database.execute("UPDATE notes SET rendered = '<p>old</p>', rendered_by = 'older' WHERE id = 2")
    assert store.store_renderings(database, batch=2) == 4
    rows = database.execute("SELECT rendered, rendered_by FROM notes ORDER BY id").fetchall()
    assert [tuple(row) for row in rows] == [(f"<p>Note <em>{n}</em></p>", render.RENDERED_BY) for n in range(5)]
    assert store.store_renderings(database) == 0


def test_render_notes_command_says_how_many(app, add_notes, database):
    """`flask --app starpunk render-notes` stores them and says how many."""
    add_notes(["One", "Two"])
    database.execute("UPDATE notes SET rendered = NULL, rendered_by = NULL")
    result = app.test_cli_runner().invoke(args=["render-notes"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Stored the HTML of 2 note(s)"
    assert (
        database.execute("SELECT count(*) FROM notes WHERE rendered_by IS NOT ?", (render.RENDERED_BY,)).fetchone()[0]
        == 0
    )


def test_render_notes_leaves_a_note_edited_meanwhile_as_its_edit_stored_it(app, add_notes, database, monkeypatch):
    """A note edited between the command's read and its write keeps the HTML its edit stored."""
    (note,) = add_notes(["Original"])
    database.execute("UPDATE notes SET rendered = NULL, rendered_by = NULL")
    afresh = render.render_afresh

    def edit_first(text):
        monkeypatch.setattr(render, "render_afresh", afresh)  # once: the edit renders its own text
        with app.app_context():
            store.update_note(note["id"], "Edited *later*", published=True)
        return afresh(text)

    monkeypatch.setattr(render, "render_afresh", edit_first)
    assert store.store_renderings(database) == 0
    row = stored(database, note["slug"])
    assert row["rendered"] == "<p>Edited <em>later</em></p>"


def test_kept_renderings_are_bounded(monkeypatch):
    """A process keeps at most RENDERED_KEPT renderings, the least recently used going first."""
    monkeypatch.setattr(render, "_rendered", type(render._rendered)())
    monkeypatch.setattr(render, "RENDERED_KEPT", 3)
    for n in range(3):
        render.render_markdown(f"n{n}")
    render.render_markdown("n0")  # used again: now the newest
    render.render_markdown("n3")
    assert list(render._rendered) == ["n2", "n0", "n3"]
    render.remember("n4", "<p>n4</p>", "older")
    assert "n4" not in render._rendered
    render.remember("n4", "<p>n4</p>", render.RENDERED_BY)
    assert list(render._rendered) == ["n0", "n3", "n4"]
