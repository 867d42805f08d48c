"""The answered page's title: read when sending fetches it (mf2 name, else <title>), cleaned, shown in the h-cite."""

from email.message import Message
from xml.etree import ElementTree

import mf2py
import pytest

from starpunk import queue, store
from starpunk.cited import MAX_TITLE_CHARS, clean_title, title_of
from starpunk.outbound import Response
from tests.unit.conftest import csrf_token, sign_in


def fetched(body, content_type="text/html; charset=utf-8", status=200):
    """Return a fetched page as the outbound fetcher gives it."""
    headers = Message()
    headers["Content-Type"] = content_type
    return Response("https://target.example/post", status, headers, body.encode())


@pytest.mark.parametrize(
    ("body", "title"),
    [
        ("<title>The page</title>", "The page"),
        ('<title>Page</title><article class="h-entry"><h1 class="p-name">The entry</h1></article>', "The entry"),
        # an h-entry with content only has no name (no implied one): the <title> it is
        ('<title>Page</title><article class="h-entry"><p class="e-content">Words</p></article>', "Page"),
        ('<div class="h-card"><span class="p-name">Ada</span><a class="u-url" href="/">home</a></div>', "Ada"),
        ("<title>  Two\n\n lines\x00 and\u200b a tab\t</title>", "Two lines and a tab"),
        ("<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>", "<script>alert(1)</script>"),
        ("<title>   </title>", None),
        ("<p>No title at all</p>", None),
    ],
)
def test_the_title_is_the_mf2_name_or_the_title_element(body, title):
    """mf2 name first (h-entry, h-cite, h-card), else <title>; one line, no control or format characters."""
    assert title_of(fetched(body)) == title


def test_no_title_from_other_types_or_errors():
    """A page that is not HTML, or not a 200, gives no title."""
    assert title_of(fetched("<title>x</title>", content_type="text/plain")) is None
    assert title_of(fetched("<title>Gone</title>", status=404)) is None


def test_titles_are_length_bounded_exactly():
    """At most MAX_TITLE_CHARS: N are kept as they are, N + 1 are cut to N with an ellipsis."""
    assert clean_title("a" * MAX_TITLE_CHARS) == "a" * MAX_TITLE_CHARS
    cut = clean_title("a" * (MAX_TITLE_CHARS + 1))
    assert len(cut) == MAX_TITLE_CHARS and cut.endswith("…")


def run_all(app):
    """Do every due job."""
    while queue.run_one(app):
        pass


def respond(app, owner, kind, url, content="", note_id=None, **extra):
    """Publish (or edit) a response from the admin form."""
    form = {"csrf_token": csrf_token(owner), "content": content, "response": kind, "response_url": url}
    path = f"/admin/edit/{note_id}" if note_id else "/admin/new"
    assert owner.post(path, data={**form, "published": "y", **extra}).status_code == 303


def cite_of(page, url="http://localhost/note/x"):
    """Return the first h-entry's response h-cite as mf2py reads it."""
    (entry,) = [item for item in mf2py.parse(doc=page, url=url)["items"] if item["type"] == ["h-entry"]]
    for name in ("in-reply-to", "like-of", "repost-of", "bookmark-of"):
        if name in entry["properties"]:
            return entry["properties"][name][0]
    raise AssertionError("no response property")


def test_a_fetched_title_shows_in_the_h_cite_and_the_feeds(mention_app, web):
    """Readers' cached pages change when the title arrives: h-cite name, the human line, RSS and JSON Feed."""
    page = web.page("/liked", "<title>A &lt;b&gt;fine&lt;/b&gt; &amp; long read</title>")
    owner = sign_in(mention_app, mention_app.test_client())
    respond(mention_app, owner, "like-of", page)
    reader = mention_app.test_client()
    before = reader.get("/note/like").text  # cached for readers, with the URL as the cite's name
    assert cite_of(before)["properties"]["name"] == [page]
    run_all(mention_app)
    after = reader.get("/note/like").text
    cite = cite_of(after)
    assert cite["type"] == ["h-cite"] and cite["properties"]["url"] == [page]
    assert cite["properties"]["name"] == ["A <b>fine</b> & long read"]
    assert "Liked <a" in after and "A &lt;b&gt;fine&lt;/b&gt; &amp; long read</cite>" in after
    assert "<b>fine" not in after
    feed = reader.get("/feed.json").get_json()["items"][0]
    assert feed["title"] == "Liked A <b>fine</b> & long read" and feed["external_url"] == page
    description = ElementTree.fromstring(reader.get("/feed.xml").data).findtext("channel/item/description")
    assert f'<p>Liked <a href="{page}">A &lt;b&gt;fine&lt;/b&gt; &amp; long read</a></p>' in description


def test_only_the_answered_page_gives_a_title(mention_app, web):
    """A link in the content is told, but its title is not kept; a new answered URL shows its URL until fetched."""
    linked = web.page("/linked", "<title>Just linked</title>")
    first = web.page("/first", "<title>First</title>")
    second = web.page("/second", "<title>Second</title>")
    owner = sign_in(mention_app, mention_app.test_client())
    respond(mention_app, owner, "in-reply-to", first, content=f"See [this]({linked})")
    run_all(mention_app)
    page = mention_app.test_client().get("/note/see-this").text
    assert cite_of(page)["properties"]["name"] == ["First"] and "Just linked" not in page
    respond(mention_app, owner, "in-reply-to", second, content=f"See [this]({linked})", note_id=1)
    assert cite_of(mention_app.test_client().get("/note/see-this").text)["properties"]["name"] == [second]
    run_all(mention_app)
    assert cite_of(mention_app.test_client().get("/note/see-this").text)["properties"]["name"] == ["Second"]
    with mention_app.app_context():
        assert store.get_note(1)["cited_title"] == "Second"


def test_a_title_that_cannot_be_read_does_not_stop_the_send(mention_app, web, monkeypatch):
    """When reading the title fails, the Webmention is still sent and the line keeps the URL."""
    from starpunk import cited

    def broken(response):
        raise RuntimeError("a parser bug")

    monkeypatch.setattr(cited, "title_of", broken)
    web.page("/endpoint", status=202)
    page = web.page("/liked", '<title>Never read</title><link rel="webmention" href="/endpoint">')
    owner = sign_in(mention_app, mention_app.test_client())
    respond(mention_app, owner, "like-of", page)
    run_all(mention_app)
    assert len(web.requests_to("/endpoint")) == 1
    assert cite_of(mention_app.test_client().get("/note/like").text)["properties"]["name"] == [page]
