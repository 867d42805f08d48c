"""Stored mentions: moderation in /admin/mentions and `flask mentions`, and what readers see under a note."""

import mf2py
import pytest

from starpunk import mentions, store

SITE = "http://localhost"


def fields(kind="reply", name="Bob", url="https://bob.example/", content="Great <b>note</b>"):
    return {
        "type": kind,
        "author_name": name,
        "author_url": url,
        "content": content,
        "url": "",
        "published": "2026-12-01T10:00:00Z",
    }


@pytest.fixture
def noted(app):
    """Return (note, save): a published note and a function that stores a verified mention of it."""
    with app.app_context():
        note = store.create_note("Answer me", True)
    target = f"{SITE}/note/{note['slug']}"

    def save(source, **kwargs):
        with app.app_context():
            mentions.save(source, target, note["id"], fields(**kwargs))
            return mentions.find(source, target)["id"]

    return note, save


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=["mentions", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_pending_and_rejected_mentions_are_never_shown(app, client, noted):
    """Readers see no pending or rejected mention on the permalink, the home page or a feed."""
    note, save = noted
    save("https://a.example/1", content="Pending words")
    rejected = save("https://b.example/1", content="Rejected words")
    cli(app, "reject", str(rejected))
    for path in (f"/note/{note['slug']}", "/", "/feed.xml", "/feed.atom", "/feed.json"):
        text = client.get(path).text
        assert "Pending words" not in text and "Rejected words" not in text, path
    assert "Responses" not in client.get(f"/note/{note['slug']}").text


def test_approved_mentions_parse_back_as_the_note_s_properties(app, client, noted):
    """comment, like, repost and bookmark of the note's h-entry: h-cites with an h-card author; comments' content."""
    note, save = noted
    save("https://bob.example/reply", content="Great <b>note</b>")
    save("https://ann.example/like", kind="like", name="Ann", url="https://ann.example/")
    save("https://cy.example/repost", kind="repost", name="Cy", url="https://cy.example/")
    save("https://di.example/mark", kind="bookmark", name="Di", url="")
    save("https://ed.example/post", kind="mention", name="Ed", url="https://ed.example/")
    cli(app, "approve", "--all")
    url = f"{SITE}/note/{note['slug']}"
    page = client.get(f"/note/{note['slug']}").text
    (entry,) = [item for item in mf2py.parse(doc=page, url=url)["items"] if item["type"] == ["h-entry"]]
    props = entry["properties"]
    (comment,) = props["comment"]
    assert comment["type"] == ["h-cite"]
    author = comment["properties"]["author"][0]
    assert author["type"] == ["h-card"]
    assert (author["properties"]["name"], author["properties"]["url"]) == (["Bob"], ["https://bob.example/"])
    assert comment["properties"]["content"][0]["html"] == "Great <b>note</b>"
    for name, who, home in (("like", "Ann", "https://ann.example/"), ("repost", "Cy", "https://cy.example/")):
        (item,) = props[name]
        card = item["properties"]["author"][0]
        assert (item["type"], card["properties"]["name"], card["properties"]["url"]) == (["h-cite"], [who], [home])
    assert props["bookmark"][0]["properties"]["author"][0]["properties"]["name"] == ["Di"]
    assert "1 like:" in page and "1 repost:" in page and "1 bookmark:" in page
    assert '<a href="https://ed.example/post" rel="nofollow ugc">Ed</a>' in page


def test_moderation_changes_the_page_at_once_in_every_worker(make_app, noted):
    """Approving or removing a mention in one worker changes the note's cached page in another at once."""
    note, save = noted
    path = f"/note/{note['slug']}"
    other = make_app().test_client()  # a second worker on the same database, its page cached
    assert "Fresh reply" not in other.get(path).text
    mention = save("https://a.example/r", content="Fresh reply")
    assert "Fresh reply" not in other.get(path).text
    with make_app().app_context():
        mentions.approve([mention])
    assert "Fresh reply" in other.get(path).text
    with make_app().app_context():
        mentions.delete([mention])
    assert "Fresh reply" not in other.get(path).text


def test_the_cli_lists_approves_rejects_deletes_and_blocks(app, noted):
    """`flask mentions` lists (all, or one status) and moderates by id; block removes the host's mentions."""
    _, save = noted
    first, second = save("https://a.example/1"), save("https://spam.example/1", name="Spammer")
    listing = cli(app, "list")
    assert f"{first}\tpending\treply\thttps://a.example/1\t" in listing and "Spammer" in listing
    assert cli(app, "approve", str(first)) == "Approved 1 mention(s)\n"
    assert cli(app, "list", "--status", "pending").count("\n") == 1
    assert cli(app, "reject", str(second)) == "Rejected 1 mention(s)\n"
    assert cli(app, "list", "--status", "rejected").startswith(f"{second}\trejected")
    assert cli(app, "block", "Spam.Example:443") == "Blocked spam.example; removed 1 mention(s)\n"
    assert cli(app, "delete", str(first)) == "Deleted 1 mention(s)\n"
    assert cli(app, "list") == ""
    with app.app_context():
        assert mentions.is_blocked("spam.example")
    failed = app.test_cli_runner().invoke(args=["mentions", "approve"])
    assert failed.exit_code != 0 and "name mention ids, or --all" in failed.output


def test_a_rejected_mention_stays_rejected_when_sent_again(app, noted):
    """An update keeps the owner's decision."""
    _, save = noted
    mention = save("https://a.example/1", content="First")
    cli(app, "reject", str(mention))
    save("https://a.example/1", content="Second")
    assert cli(app, "list").startswith(f"{mention}\trejected")


def test_the_owner_moderates_in_admin(app, owner, token, noted, client):
    """/admin/mentions lists pending first with type, author, excerpt and source; approve, reject, delete, block."""
    note, save = noted
    keep = save("https://a.example/1", content="Kind words")
    drop = save("https://spam.example/1", name="Spammer", content="Buy things")
    page = owner.get("/admin/mentions").text
    assert "Kind words" in page and "Spammer" in page and "https://a.example/1" in page and "reply" in page
    csrf = token(owner, "/admin/mentions")
    assert owner.post(f"/admin/mentions/{keep}/approve", data={"csrf_token": csrf}).status_code == 303
    assert "Kind words" in client.get(f"/note/{note['slug']}").text
    assert owner.post(f"/admin/mentions/{drop}/reject", data={"csrf_token": csrf}).status_code == 303
    assert "Rejected" in owner.get("/admin/mentions?status=rejected").text
    assert owner.post("/admin/mentions/block", data={"csrf_token": csrf, "host": "spam.example"}).status_code == 303
    assert "spam.example" in owner.get("/admin/mentions").text.split("Blocked hosts")[1]
    assert owner.post(f"/admin/mentions/{keep}/delete", data={"csrf_token": csrf}).status_code == 303
    assert "Kind words" not in client.get(f"/note/{note['slug']}").text
    assert owner.post(f"/admin/mentions/{keep}/delete", data={"csrf_token": csrf}).status_code == 404
    assert owner.post(f"/admin/mentions/{keep}/explode", data={"csrf_token": csrf}).status_code == 404
    assert owner.post("/admin/mentions/block", data={"csrf_token": csrf, "host": " "}).status_code == 400
    assert owner.get("/admin/mentions?status=nonsense").status_code == 404


def test_admin_mentions_need_the_owner(client, noted):
    """Visitors are sent to sign in, and cannot moderate."""
    _, save = noted
    mention = save("https://a.example/1")
    assert client.get("/admin/mentions").status_code in (302, 303)
    assert client.post(f"/admin/mentions/{mention}/approve").status_code in (302, 303, 400)


def test_likes_carry_their_source_without_a_hidden_link(app, client, noted):
    """A like's h-cite has its source as u-url in a <data> element: nothing invisible takes keyboard focus."""
    note, save = noted
    save("https://ann.example/like", kind="like", name="Ann", url="https://ann.example/")
    cli(app, "approve", "--all")
    page = client.get(f"/note/{note['slug']}").text
    (like,) = mf2py.parse(doc=page, url=f"{SITE}/note/{note['slug']}")["items"][0]["properties"]["like"]
    assert like["properties"]["url"] == ["https://ann.example/like"]
    assert '<data class="u-url" value="https://ann.example/like"></data>' in page
