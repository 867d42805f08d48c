"""The check of a received Webmention: fetch the source, require the link, read its microformats, store or remove."""

import sqlite3

import mf2py
import pytest

from starpunk import queue
from starpunk.db import database_path
from tests.unit.conftest import Elements

SITE = "http://localhost"


@pytest.fixture
def target(mention_app):
    """Return the permalink of a published note on the mention app."""
    from starpunk import store

    with mention_app.app_context():
        note = store.create_note("A note worth answering", True)
    return f"{SITE}/note/{note['slug']}"


def rows(app, sql="SELECT * FROM webmentions ORDER BY id"):
    conn = sqlite3.connect(database_path(app.config["DATA_PATH"]))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql)]
    finally:
        conn.close()


def deliver(app, web, path, body, target, **page):
    """Serve body at path on the other site, send its Webmention to target, and run the check."""
    source = web.page(path, body, **page)
    response = app.test_client().post("/webmention", data={"source": source, "target": target})
    assert response.status_code == 202, response.text
    assert queue.run_one(app)
    return source


def reply_page(
    target, content="Nice <b>post</b>", author='<a class="p-author h-card" href="https://bob.example/">Bob</a>'
):
    return f"""<!doctype html><html><body><article class="h-entry">
      {author}
      <a class="u-in-reply-to" href="{target}">in reply to</a>
      <div class="e-content">{content}</div>
      <a class="u-url" href="https://bob.example/replies/1">
        <time class="dt-published" datetime="2026-12-01T10:00:00Z">1 Dec</time></a>
    </article></body></html>"""


def test_a_reply_is_stored_pending_with_what_the_page_says(mention_app, web, target):
    """Type, author's name and URL, sanitised content, published and url come from the source's h-entry."""
    content = (
        'Nice <b>post</b><script>alert(1)</script><img src="https://evil.example/t.png"> <a href="javascript:x()">x</a>'
    )
    source = deliver(mention_app, web, "/reply", reply_page(target, content), target)
    (row,) = rows(mention_app)
    assert (row["source"], row["target"], row["note_id"], row["status"], row["type"]) == (
        source,
        target,
        1,
        "pending",
        "reply",
    )
    assert (row["author_name"], row["author_url"]) == ("Bob", "https://bob.example/")
    assert row["content"] == 'Nice <b>post</b> <a rel="noopener noreferrer nofollow ugc">x</a>'
    assert (row["published"], row["url"]) == ("2026-12-01T10:00:00Z", "https://bob.example/replies/1")
    (fetch,) = web.requests_to("/reply")
    assert fetch.method == "GET" and fetch.headers["User-Agent"].startswith("StarPunk/")


@pytest.mark.parametrize(
    ("markup", "kind"),
    [
        ('<a class="u-like-of" href="{t}">liked</a>', "like"),
        ('<a class="u-repost-of" href="{t}">reposted</a>', "repost"),
        ('<a class="u-bookmark-of" href="{t}">bookmarked</a>', "bookmark"),
        ('<div class="u-in-reply-to h-cite"><a class="u-url" href="{t}">the note</a></div>', "reply"),
        ('<div class="e-content">I read <a href="{t}">this</a></div>', "mention"),
        ('<a class="u-like-of" href="https://else.example/">x</a> and <a href="{t}">this</a>', "mention"),
    ],
)
def test_the_type_comes_from_the_property_naming_the_target(mention_app, web, target, markup, kind):
    """like-of, repost-of, bookmark-of, in-reply-to (also as an h-cite) naming the target; anything else a mention."""
    body = f'<div class="h-entry"><span class="p-author h-card">Ann</span>{markup.replace("{t}", target)}</div>'
    deliver(mention_app, web, "/post", body, target)
    assert [row["type"] for row in rows(mention_app)] == [kind]


def test_a_page_without_microformats_is_a_mention(mention_app, web, target):
    """A plain page that links to the target is a mention with no author."""
    deliver(mention_app, web, "/plain", f'<p>See <a href="{target}">this</a></p>', target)
    (row,) = rows(mention_app)
    assert (row["type"], row["author_name"], row["content"]) == ("mention", "", "")


def test_the_link_must_be_exact(mention_app, web, target):
    """A link to another address (a query added) is no link; a relative one that resolves to the target is."""
    deliver(mention_app, web, "/near", f'<a href="{target}?x=1">near</a>', target)
    assert rows(mention_app) == []
    relative = f'<base href="{SITE}/"><a href="/note/{target.rsplit("/", 1)[1]}">rel</a>'
    deliver(mention_app, web, "/rel", relative, target)
    assert len(rows(mention_app)) == 1


def test_other_content_types_link_in_their_text(mention_app, web, target):
    """A text/plain source that contains the target's URL links to it."""
    deliver(mention_app, web, "/text", f"I liked {target} a lot", target, content_type="text/plain")
    assert [row["type"] for row in rows(mention_app)] == ["mention"]


def test_a_second_check_updates_and_keeps_the_status(mention_app, web, target):
    """The same source and target again updates the stored mention; an approved one stays approved."""
    deliver(mention_app, web, "/reply", reply_page(target, "First words"), target)
    with mention_app.app_context():
        from starpunk import mentions

        mentions.approve([1])
    deliver(mention_app, web, "/reply", reply_page(target, "Second thoughts"), target)
    (row,) = rows(mention_app)
    assert (row["content"], row["status"]) == ("Second thoughts", "approved")


@pytest.mark.parametrize("status", [404, 410])
def test_a_source_gone_removes_the_mention(mention_app, web, target, status, caplog):
    """A source now answering 404 or 410 removes its mention, in one log line each way."""
    source = deliver(mention_app, web, "/reply", reply_page(target), target)
    assert len(rows(mention_app)) == 1
    assert f"webmention from {source} to {target} stored: reply, pending" in caplog.text
    deliver(mention_app, web, "/reply", "gone", target, status=status)
    assert rows(mention_app) == []
    assert f"webmention from {source} to {target} removed: the source answered {status}" in caplog.text


def test_a_source_that_stops_linking_removes_the_mention(mention_app, web, target):
    """A source that no longer links to the target removes its mention."""
    deliver(mention_app, web, "/reply", reply_page(target), target)
    deliver(mention_app, web, "/reply", "<p>I changed my mind.</p>", target)
    assert rows(mention_app) == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_failing_source_is_tried_again_later(mention_app, web, target, status):
    """5xx and 429 leave the check queued for a retry; nothing is stored."""
    deliver(mention_app, web, "/busy", "busy", target, status=status)
    assert rows(mention_app) == []
    (job,) = rows(mention_app, "SELECT state, attempts, last_error FROM jobs")
    assert (job["state"], job["attempts"], job["last_error"]) == ("queued", 1, f"the source answered {status}")


def test_other_errors_and_refused_addresses_give_up(make_app, web, mention_app, target):
    """A 403 fails the check for good; so does a source at an address StarPunk may not reach."""
    deliver(mention_app, web, "/forbidden", "no", target, status=403)
    (job,) = rows(mention_app, "SELECT state, last_error FROM jobs")
    assert (job["state"], job["last_error"]) == ("failed", "the source answered 403")
    closed = make_app()  # the same site without OUTBOUND_ALLOW_NETWORKS
    source = web.page("/private", reply_page(target))
    assert closed.test_client().post("/webmention", data={"source": source, "target": target}).status_code == 202
    assert queue.run_one(closed)
    assert rows(mention_app, "SELECT state, last_error FROM jobs")[1]["last_error"].startswith("refused to connect")
    assert web.requests_to("/private") == []


def test_trusted_hosts_are_approved_at_once(make_app, web):
    """A source whose host is in WEBMENTION_TRUSTED_HOSTS is approved and shown without moderation."""
    app = make_app(OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8", WEBMENTION_TRUSTED_HOSTS="127.0.0.1")
    from starpunk import store

    with app.app_context():
        note = store.create_note("Trusting", True)
    target = f"{SITE}/note/{note['slug']}"
    deliver(app, web, "/reply", reply_page(target, "Trusted words"), target)
    assert rows(app)[0]["status"] == "approved"
    assert "Trusted words" in app.test_client().get(f"/note/{note['slug']}").text


def test_a_host_blocked_while_queued_is_never_fetched(mention_app, web, target):
    """A check waiting in the queue when its host is blocked is dropped without a fetch."""
    source = web.page("/reply", reply_page(target))
    assert mention_app.test_client().post("/webmention", data={"source": source, "target": target}).status_code == 202
    with mention_app.app_context():
        from starpunk.db import get_db

        get_db().execute("INSERT INTO blocked_hosts (host, blocked_at) VALUES ('127.0.0.1', 'now')")
    assert queue.run_one(mention_app)
    assert web.requests == [] and rows(mention_app) == []


def test_long_content_and_bad_urls_are_cut_and_dropped(mention_app, web, target):
    """Content over MAX_CONTENT_CHARS becomes its escaped text, cut; javascript: author URLs are dropped."""
    from starpunk.verify import MAX_CONTENT_CHARS

    long = "<i>word</i> " * MAX_CONTENT_CHARS
    author = '<a class="p-author h-card" href="javascript:alert(1)">Eve &lt;script&gt;</a>'
    deliver(mention_app, web, "/long", reply_page(target, long, author), target)
    (row,) = rows(mention_app)
    assert len(row["content"]) == MAX_CONTENT_CHARS and row["content"].endswith("…")
    assert "<i>" not in row["content"]
    assert (row["author_name"], row["author_url"]) == ("Eve <script>", "")


def test_the_xss_corpus_stays_inert_in_replies(make_app, web, corpus, safe_html):
    """Every payload as a reply's content, author name and author URL shows as allowlisted markup only."""
    app = make_app(OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8", WEBMENTION_TRUSTED_HOSTS="127.0.0.1")
    from starpunk import store

    with app.app_context():
        note = store.create_note("Attack surface", True)
    target = f"{SITE}/note/{note['slug']}"
    for n, payload in enumerate(corpus):
        author = f'<a class="p-author h-card" href="{payload}">{payload}</a>'
        deliver(app, web, f"/x{n}", reply_page(target, payload, author), target)
    for row in rows(app):
        safe_html(row["content"])  # shown as stored: it must be allowlisted markup only
    page = app.test_client().get(f"/note/{note['slug']}").text
    responses = page[page.index('<section class="responses"') : page.index("</section>")]
    for tag, attrs in Elements(responses).found:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src"):
            assert (attrs.get(name) or "http").startswith("http"), (tag, attrs)
        assert tag not in ("script", "iframe", "object", "embed", "img", "svg", "form", "input", "meta", "link")
    # A few payloads swallow the rest of their page (an open comment or textarea): those pages no longer link.
    comments = mf2py.parse(doc=page, url=target)["items"][0]["properties"]["comment"]
    assert len(comments) == len(rows(app)) >= len(corpus) - 3


def test_plain_text_author_and_content(mention_app, web, target):
    """An author given as text (a name or a URL) and a p-content are read as such."""
    body = (
        f'<div class="h-entry"><span class="p-author">https://cat.example/</span>'
        f'<a class="u-like-of h-cite" href="{target}"><span class="p-name">the note</span></a>'
        f'<p class="p-content">Plain &lt;words&gt;</p></div>'
    )
    deliver(mention_app, web, "/plain-author", body, target)
    (row,) = rows(mention_app)
    assert (row["author_name"], row["author_url"], row["content"]) == (
        "https://cat.example/",
        "https://cat.example/",
        "Plain &lt;words&gt;",
    )


def test_an_unreachable_source_is_tried_again(mention_app, target):
    """A source nothing answers at leaves the check queued for a retry."""
    from testkit.ports import free_port

    source = f"http://127.0.0.1:{free_port()}/gone-away"
    assert mention_app.test_client().post("/webmention", data={"source": source, "target": target}).status_code == 202
    assert queue.run_one(mention_app)
    (job,) = rows(mention_app, "SELECT state, attempts, last_error FROM jobs")
    assert (job["state"], job["attempts"]) == ("queued", 1)
    assert job["last_error"].startswith("cannot connect to 127.0.0.1")
