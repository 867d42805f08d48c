"""Sending Webmentions: which targets are told when, endpoint discovery (webmention.rocks cases), retries, outcomes."""

import json
from email.message import Message
from urllib.parse import parse_qs

import pytest

from starpunk import queue, sending, store, tokens
from starpunk.outbound import Response
from starpunk.sending import MAX_TARGETS, SEND_ATTEMPTS, discover, targets_of
from tests.unit.conftest import csrf_token, sign_in

PAGE = "https://target.example/post/1"


@pytest.fixture
def owner_of():
    """Return a function giving (a client signed in as the owner of app, the CSRF token reader)."""
    return lambda app: (sign_in(app, app.test_client()), csrf_token)


def page(body="", links=(), content_type="text/html; charset=utf-8", url=PAGE):
    """Return a fetched page with these Link headers (each one header) and body, as the outbound fetcher gives it."""
    headers = Message()
    headers["Content-Type"] = content_type
    for value in links:
        headers["Link"] = value
    return Response(url, 200, headers, body.encode())


@pytest.mark.parametrize(
    ("links", "body", "endpoint"),
    [
        # webmention.rocks 1, 2: a Link header, relative and absolute
        (["</wm/1>; rel=webmention"], "", "https://target.example/wm/1"),
        (["<https://wm.example/2>; rel=webmention"], "", "https://wm.example/2"),
        # 3, 4: <link>, relative and absolute; 5, 6: <a>
        ([], '<link rel="webmention" href="/wm/3">', "https://target.example/wm/3"),
        ([], '<link rel="webmention" href="https://wm.example/4">', "https://wm.example/4"),
        ([], '<a rel="webmention" href="/wm/5">x</a>', "https://target.example/wm/5"),
        ([], '<a rel="webmention" href="https://wm.example/6">x</a>', "https://wm.example/6"),
        # 8: rel quoted; 10: several rel values in the header; 9: several in HTML
        (['</wm/8>; rel="webmention"'], "", "https://target.example/wm/8"),
        (['</wm/10>; rel="webmention somethingelse"'], "", "https://target.example/wm/10"),
        ([], '<link rel="somethingelse webmention" href="/wm/9">', "https://target.example/wm/9"),
        # 11: the header wins over the document
        (
            ["</wm/header>; rel=webmention"],
            '<link rel="webmention" href="/wm/html">',
            "https://target.example/wm/header",
        ),
        # 12: rel="not-webmention" is not webmention
        (
            [],
            '<link rel="not-webmention" href="/no"><link rel="webmention" href="/wm/12">',
            "https://target.example/wm/12",
        ),
        # 13: a comment is no element; 14: escaped text is no element
        ([], '<!-- <link rel="webmention" href="/no"> --><link rel="webmention" href="/wm/13">', PAGE[:-6] + "wm/13"),
        (
            [],
            '<code>&lt;a rel="webmention" href="/no"&gt;</code><a rel="webmention" href="/wm/14">',
            PAGE[:-6] + "wm/14",
        ),
        # 15: an empty href is the page itself
        ([], '<link rel="webmention" href="">', PAGE),
        # 16, 17: the first in document order, <a> or <link>
        ([], '<a rel="webmention" href="/wm/a">a</a><link rel="webmention" href="/wm/link">', PAGE[:-6] + "wm/a"),
        ([], '<link rel="webmention" href="/wm/link"><a rel="webmention" href="/wm/a">a</a>', PAGE[:-6] + "wm/link"),
        # 18: several Link headers; 19: several values in one
        (['</other>; rel="other"', "</wm/18>; rel=webmention"], "", "https://target.example/wm/18"),
        (['</other>; rel="other", </wm/19>; rel="webmention"'], "", "https://target.example/wm/19"),
        # 20: an element without href is skipped
        ([], '<link rel="webmention"><a rel="webmention" href="/wm/20">x</a>', "https://target.example/wm/20"),
        # 21: the endpoint's query string is kept
        ([], '<link rel="webmention" href="/wm/21?query=yes">', "https://target.example/wm/21?query=yes"),
        # 22: relative to the page's path
        ([], '<link rel="webmention" href="22/wm">', "https://target.example/post/22/wm"),
        # rel in any case, parameters in any case
        (['</wm/case>; REL="WebMention"'], "", "https://target.example/wm/case"),
    ],
)
def test_discovery_follows_the_recommendation(links, body, endpoint):
    """Every discovery case of the W3C Recommendation (webmention.rocks numbering) finds its endpoint."""
    assert discover(page(body, links)) == endpoint


def test_header_names_in_any_case():
    """webmention.rocks 7: a header named "LinK" is a Link header."""
    headers = Message()
    headers["LinK"] = "</wm/7>; rel=webmention"
    assert discover(Response(PAGE, 200, headers, b"")) == "https://target.example/wm/7"


def test_no_endpoint_and_non_html():
    """A page without an endpoint has none; a non-HTML body is not searched for elements."""
    assert discover(page('<link rel="stylesheet" href="/s.css">')) is None
    assert discover(page('<link rel="webmention" href="/wm">', content_type="text/plain")) is None


def test_targets_are_content_links_and_the_answered_page(app):
    """Links of the content (http(s), once each, not this site's own) and the response URL are targets."""
    content = "[a](https://a.example/) [again](https://a.example/) [me](http://localhost/note/x) [m](mailto:x@y.z)"
    with app.app_context():
        found = targets_of(content + " <https://b.example/>", {"in-reply-to": ["https://c.example/"]})
    assert found == ["https://a.example/", "https://b.example/", "https://c.example/"]


def test_at_most_max_targets(app):
    """A note tells at most MAX_TARGETS targets: N are kept, the N + 1st is not."""
    links = " ".join(f"<https://t{n}.example/>" for n in range(MAX_TARGETS + 1))
    with app.app_context():
        found = targets_of(links, {})
    assert len(found) == MAX_TARGETS and "https://t100.example/" not in found


def jobs(app):
    """Return the queued send jobs' targets, in order."""
    with app.app_context():
        rows = store.get_db().execute("SELECT payload FROM jobs WHERE kind = ? ORDER BY id", (sending.JOB_KIND,))
        return [json.loads(row[0])["target"] for row in rows]


def sends(app, note_id=1):
    """Return {target: row} of a note's sends."""
    with app.app_context():
        return {row["target"]: row for row in sending.sends_of(note_id)}


def run_all(app):
    """Do every due job."""
    while queue.run_one(app):
        pass


def test_a_published_note_sends_to_each_target(mention_app, web, owner_of):
    """The target is fetched, its endpoint gets source (the permalink) and target, form-encoded; the outcome is kept."""
    endpoint = web.page("/endpoint", "accepted", status=202)
    target = web.page("/post", '<link rel="webmention" href="/endpoint">')
    owner, token = owner_of(mention_app)
    form = {
        "csrf_token": token(owner),
        "content": f"See [this]({target}) and [me](http://localhost/)",
        "published": "y",
    }
    assert owner.post("/admin/new", data=form).status_code == 303
    assert jobs(mention_app) == [target]
    run_all(mention_app)
    (sent,) = web.requests_to("/endpoint")
    assert sent.method == "POST" and sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(sent.body.decode()) == {"source": ["http://localhost/note/see-this-and-me"], "target": [target]}
    row = sends(mention_app)[target]
    assert (row["status"], row["code"], row["endpoint"]) == ("sent", 202, endpoint)
    edit = owner.get("/admin/edit/1").text
    assert "Webmentions sent" in edit and endpoint in edit and "sent (202)" in edit


def test_a_draft_sends_nothing_until_published(mention_app, web, owner_of):
    """A draft queues no send; publishing it does."""
    target = web.page("/post", "")
    owner, token = owner_of(mention_app)
    form = {"csrf_token": token(owner), "content": f"Draft [link]({target})"}
    owner.post("/admin/new", data=form)
    assert jobs(mention_app) == []
    owner.post("/admin/edit/1", data={**form, "published": "y"})
    assert jobs(mention_app) == [target]
    run_all(mention_app)
    assert sends(mention_app)[target]["status"] == "no endpoint"


def test_an_update_tells_removed_links_and_a_delete_every_target(mention_app, web, owner_of):
    """On update the targets before and now are told; on delete every target ever told, and the page is 410."""
    old, new = web.page("/old", ""), web.page("/new", "")
    owner, token = owner_of(mention_app)
    form = {"csrf_token": token(owner), "content": f"[old]({old})", "published": "y"}
    owner.post("/admin/new", data=form)
    run_all(mention_app)
    owner.post("/admin/edit/1", data={**form, "content": f"[new]({new})"})
    assert jobs(mention_app) == [old, new]
    run_all(mention_app)
    owner.post("/admin/edit/1", data={**form, "content": "no links now"})
    assert jobs(mention_app) == [new]
    run_all(mention_app)
    owner.post("/admin/delete/1", data={"csrf_token": token(owner)})
    assert sorted(jobs(mention_app)) == sorted([old, new])
    assert owner.get("/note/old").status_code == 410


def test_micropub_responses_send_to_the_answered_page(mention_app, web):
    """A like made through Micropub tells the liked page."""
    web.page("/endpoint", status=201)
    liked = web.page("/liked", headers={"Link": '</endpoint>; rel="webmention"'})
    with mention_app.app_context():
        secret = tokens.create_token("create")[1]
    made = mention_app.test_client().post(
        "/micropub", data={"h": "entry", "like-of": liked}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert made.status_code == 201
    run_all(mention_app)
    assert parse_qs(web.requests_to("/endpoint")[0].body.decode())["target"] == [liked]


def test_a_redirected_target_resolves_against_its_final_url(mention_app, web, owner_of):
    """webmention.rocks 23: a relative endpoint resolves against the page the redirects ended at."""
    web.page("/final/endpoint", status=202)
    web.page("/final/page", '<link rel="webmention" href="endpoint">')
    start = web.redirect("/start", "/final/page")
    owner, token = owner_of(mention_app)
    owner.post("/admin/new", data={"csrf_token": token(owner), "content": f"<{start}>", "published": "y"})
    run_all(mention_app)
    assert sends(mention_app)[start]["endpoint"] == web.url("/final/endpoint")
    assert len(web.requests_to("/final/endpoint")) == 1


@pytest.mark.parametrize("where", ["page", "endpoint"])
def test_5xx_is_retried_with_backoff_then_sent(mention_app, web, owner_of, where):
    """A 5xx (of the page or the endpoint) keeps the send queued with its reason and a next try; it succeeds later."""
    web.page("/endpoint", status=503 if where == "endpoint" else 202)
    target = web.page("/post", '<link rel="webmention" href="/endpoint">', status=503 if where == "page" else 200)
    owner, token = owner_of(mention_app)
    owner.post("/admin/new", data={"csrf_token": token(owner), "content": f"<{target}>", "published": "y"})
    assert queue.run_one(mention_app)
    row = sends(mention_app)[target]
    assert row["status"] == "queued" and "503" in row["error"] and row["next_at"]
    assert "next try" in owner.get("/admin/edit/1").text
    assert not queue.run_one(mention_app)  # the retry waits (30 s first)
    web.page("/endpoint", status=202)
    web.page("/post", '<link rel="webmention" href="/endpoint">')
    with mention_app.app_context():
        store.get_db().execute("UPDATE jobs SET next_at = '2000-01-01T00:00:00Z'")
    assert queue.run_one(mention_app)
    assert sends(mention_app)[target]["status"] == "sent"


def test_a_4xx_is_final_with_the_endpoints_answer(mention_app, web, owner_of):
    """An endpoint's 400 fails the send for good, with its answer shown."""
    web.page("/endpoint", "target not supported", status=400)
    target = web.page("/post", '<a rel="webmention" href="/endpoint">wm</a>')
    owner, token = owner_of(mention_app)
    owner.post("/admin/new", data={"csrf_token": token(owner), "content": f"<{target}>", "published": "y"})
    run_all(mention_app)
    row = sends(mention_app)[target]
    assert (row["status"], row["code"]) == ("failed", 400) and "target not supported" in row["error"]
    with mention_app.app_context():
        assert store.get_db().execute("SELECT state FROM jobs").fetchone()[0] == "failed"


def test_the_address_rules_apply(make_app, web, owner_of):
    """Without OUTBOUND_ALLOW_NETWORKS a target on 127.0.0.1 is refused, for good, and never fetched."""
    app = make_app()
    target = web.page("/post", '<link rel="webmention" href="/endpoint">')
    owner, token = owner_of(app)
    owner.post("/admin/new", data={"csrf_token": token(owner), "content": f"<{target}>", "published": "y"})
    run_all(app)
    assert sends(app)[target]["status"] == "failed" and "loopback" in sends(app)[target]["error"]
    assert web.requests == []


def test_an_unreachable_target_is_retried(mention_app, owner_of):
    """A network error keeps the send queued."""
    owner, token = owner_of(mention_app)
    form = {"csrf_token": token(owner), "content": "<http://127.0.0.1:9/nothing>", "published": "y"}
    owner.post("/admin/new", data=form)
    run_all(mention_app)
    assert sends(mention_app)["http://127.0.0.1:9/nothing"]["error"].startswith("will retry: cannot connect")


def test_sends_are_tried_for_about_a_day():
    """SEND_ATTEMPTS with the queue's backoff span about a day, the first retry within a minute."""
    assert queue.ATTEMPTS[sending.JOB_KIND] == SEND_ATTEMPTS
    assert queue.backoff(1) <= 60
    assert 20 * 3600 <= sum(queue.backoff(n) for n in range(1, SEND_ATTEMPTS)) <= 30 * 3600


def test_the_sent_command_prints_each_send(mention_app, web, owner_of):
    """`flask mentions sent [SLUG]` lists the note, target, status, code and endpoint."""
    web.page("/endpoint", status=202)
    target = web.page("/post", '<link rel="webmention" href="/endpoint">')
    owner, token = owner_of(mention_app)
    owner.post("/admin/new", data={"csrf_token": token(owner), "content": f"hi <{target}>", "published": "y"})
    run_all(mention_app)
    runner = mention_app.test_cli_runner()
    for args in (["mentions", "sent"], ["mentions", "sent", "hi"]):
        output = runner.invoke(args=args).output
        assert f"hi\t{target}\tsent\t202\t{web.url('/endpoint')}" in output
    assert runner.invoke(args=["mentions", "sent", "other"]).output == ""


# Cross-posting through a Webmention-based publisher (Bridgy Publish)


@pytest.fixture
def publisher(web, make_app):
    """Return (app, web, uid): a site whose SYNDICATE_TO names a publisher on the local web (endpoint discovered)."""
    web.page("/publish/webmention", '{"url": "https://mastodon.example/@me/1"}', content_type="application/json")
    uid = web.page("/publish/mastodon", '<link rel="webmention" href="/publish/webmention">')
    targets = json.dumps([{"uid": uid, "name": "Mastodon"}, {"uid": "https://unused.example/", "name": "Other"}])
    return make_app(OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8", SYNDICATE_TO=targets), web, uid


def micropub(app, body=None, **form):
    """POST a Micropub create with a fresh create token; return the response."""
    with app.app_context():
        secret = tokens.create_token("create")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    return (
        client.post("/micropub", json=body, headers=headers)
        if body
        else client.post("/micropub", data=form, headers=headers)
    )


def test_q_config_and_syndicate_to_list_the_targets(publisher):
    """Both queries list SYNDICATE_TO's uid and name."""
    app, _, uid = publisher
    with app.app_context():
        secret = tokens.create_token("create")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    expected = [{"uid": uid, "name": "Mastodon"}, {"uid": "https://unused.example/", "name": "Other"}]
    assert client.get("/micropub?q=config", headers=headers).get_json()["syndicate-to"] == expected
    assert client.get("/micropub?q=syndicate-to", headers=headers).get_json() == {"syndicate-to": expected}


def test_micropub_cross_posts_and_records_the_syndication_url(publisher):
    """mp-syndicate-to: the page links to the target, the publisher gets the Webmention, its url shows "Also on"."""
    app, web, uid = publisher
    made = micropub(app, h="entry", content="Hello fediverse", **{"mp-syndicate-to": uid})
    assert made.status_code == 201, made.text
    page = app.test_client().get("/note/hello-fediverse").text
    assert f'href="{uid}" hidden' in page and "unused.example" not in page
    run_all(app)
    (sent,) = web.requests_to("/publish/webmention")
    assert parse_qs(sent.body.decode()) == {"source": ["http://localhost/note/hello-fediverse"], "target": [uid]}
    page = app.test_client().get("/note/hello-fediverse").text
    assert "Also on" in page and 'class="u-syndication" rel="syndication" href="https://mastodon.example/@me/1"' in page
    run_all(app)  # nothing more: a publish is sent once
    assert len(web.requests_to("/publish/webmention")) == 1


def test_an_unknown_target_is_refused(publisher):
    """mp-syndicate-to must name a target of SYNDICATE_TO."""
    app, _, _ = publisher
    refused = micropub(app, h="entry", content="x", **{"mp-syndicate-to": "https://elsewhere.example/"})
    assert refused.status_code == 400 and "not a target" in refused.get_json()["error_description"]


def test_a_201_location_and_a_configured_endpoint(web, make_app):
    """A target's configured endpoint is used as is; a 201's Location is the syndication URL."""
    endpoint = web.page("/wm", status=201, headers={"Location": "/post/99"})
    targets = json.dumps([{"uid": "https://brid.gy/publish/bluesky", "name": "Bluesky", "endpoint": endpoint}])
    app = make_app(OUTBOUND_ALLOW_NETWORKS="127.0.0.0/8", SYNDICATE_TO=targets)
    properties = {"content": ["Sky"], "mp-syndicate-to": ["https://brid.gy/publish/bluesky"]}
    body = {"type": ["h-entry"], "properties": properties}
    assert micropub(app, body).status_code == 201
    run_all(app)
    with app.app_context():
        assert store.get_note(1)["properties"]["syndication"] == [web.url("/post/99")]


def test_the_admin_form_picks_targets_and_a_draft_waits(publisher):
    """Checkboxes pick targets; a draft sends nothing; publishing sends once; a delete tells the publisher too."""
    app, web, uid = publisher
    owner = sign_in(app, app.test_client())
    form = {"csrf_token": csrf_token(owner), "content": "Draft first", "syndicate_to": uid}
    assert owner.post("/admin/new", data=form).status_code == 303
    assert 'name="syndicate_to" value="' + uid + '" checked' in owner.get("/admin/edit/1").text
    assert jobs(app) == []
    owner.post("/admin/edit/1", data={**form, "published": "y"})
    assert jobs(app) == [uid]
    run_all(app)
    owner.post("/admin/edit/1", data={**form, "content": "Draft first, edited", "published": "y"})
    assert jobs(app) == []
    owner.post("/admin/delete/1", data={"csrf_token": csrf_token(owner)})
    assert jobs(app) == [uid]


@pytest.mark.parametrize(
    ("answer", "content_type", "error"),
    [
        ("no json here", "text/plain", "named no syndication URL"),
        ('{"url": "javascript:alert(1)"}', "application/json", "URL was refused"),
        ('["a list"]', "application/json", "named no syndication URL"),
    ],
)
def test_a_publisher_answer_without_a_usable_url(publisher, answer, content_type, error):
    """An answer naming no (or no http(s)) URL is sent, with the reason shown; nothing is added to the page."""
    app, web, uid = publisher
    web.page("/publish/webmention", answer, content_type=content_type)
    micropub(app, h="entry", content="Posted", **{"mp-syndicate-to": uid})
    run_all(app)
    row = sends(app)[uid]
    assert row["status"] == "sent" and error in row["error"]
    assert "Also on" not in app.test_client().get("/note/posted").text


def test_a_failed_publish_shows_the_publishers_error_and_is_not_retried(publisher):
    """A publisher's 400 is final, its error shown on the edit page."""
    app, web, uid = publisher
    web.page("/publish/webmention", '{"error": "Mastodon said: too long"}', status=400, content_type="application/json")
    micropub(app, h="entry", content="Too long", **{"mp-syndicate-to": uid})
    run_all(app)
    owner = sign_in(app, app.test_client())
    assert "Mastodon said: too long" in owner.get("/admin/edit/1").text
    assert sends(app)[uid]["status"] == "failed"


def micropub_update(app, body):
    """POST a Micropub JSON update with a fresh create+update token; return the response."""
    with app.app_context():
        secret = tokens.create_token("create update")[1]
    return app.test_client().post("/micropub", json=body, headers={"Authorization": f"Bearer {secret}"})


def source_of(app, url):
    """Return q=source's properties of the note at url."""
    with app.app_context():
        secret = tokens.create_token("create update")[1]
    answer = app.test_client().get(f"/micropub?q=source&url={url}", headers={"Authorization": f"Bearer {secret}"})
    return answer.get_json()["properties"]


@pytest.mark.parametrize("operation", ["add", "replace"])
def test_an_update_with_mp_syndicate_to_cross_posts_without_editing(publisher, operation):
    """An update that only picks targets: the publisher gets one Webmention, the links are not told again."""
    app, web, uid = publisher
    linked = web.page("/linked", '<link rel="webmention" href="/linked-wm">')
    web.page("/linked-wm", status=202)
    micropub(app, h="entry", content=f"Hello [you]({linked})")
    run_all(app)
    assert len(web.requests_to("/linked-wm")) == 1
    url = "http://localhost/note/hello-you"
    answer = micropub_update(app, {"action": "update", "url": url, operation: {"mp-syndicate-to": [uid]}})
    assert answer.status_code == 204, answer.text
    assert f'href="{uid}" hidden' in app.test_client().get("/note/hello-you").text
    run_all(app)
    (sent,) = web.requests_to("/publish/webmention")
    assert parse_qs(sent.body.decode()) == {"source": [url], "target": [uid]}
    assert len(web.requests_to("/linked-wm")) == 1  # not told again: the note did not change
    properties = source_of(app, url)
    assert "mp-syndicate-to" not in properties and properties["syndication"] == ["https://mastodon.example/@me/1"]
    with app.app_context():
        assert store.get_note(1)["updated_at"] == store.get_note(1)["created_at"]
    micropub_update(app, {"action": "update", "url": url, "add": {"mp-syndicate-to": [uid]}})
    run_all(app)  # picked again: a target is published to once
    assert len(web.requests_to("/publish/webmention")) == 1


def test_an_update_with_changes_and_mp_syndicate_to(publisher):
    """Replacing the content and adding mp-syndicate-to edits the note and cross-posts it; a draft waits."""
    app, web, uid = publisher
    made = micropub(app, h="entry", content="First words", **{"post-status": "draft"})
    url = made.headers["Location"]
    body = {"action": "update", "url": url, "replace": {"content": ["Second words"]}, "add": {"mp-syndicate-to": [uid]}}
    assert micropub_update(app, body).status_code == 204
    assert jobs(app) == []  # a draft: the pick waits
    assert "mp-syndicate-to" not in source_of(app, url)
    publish = {"action": "update", "url": url, "replace": {"post-status": ["published"]}}
    assert micropub_update(app, publish).status_code == 204
    assert jobs(app) == [uid]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"add": {"mp-syndicate-to": ["https://elsewhere.example/"]}}, "not a target"),
        ({"replace": {"mp-syndicate-to": "https://brid.gy/publish/mastodon"}}, "must be a list"),
        ({"add": {"mp-syndicate-to": [{"uid": "x"}]}}, "not a target"),
    ],
)
def test_an_update_picking_an_unknown_target_is_refused(publisher, change, reason):
    """mp-syndicate-to in an update must list targets of SYNDICATE_TO; nothing is queued."""
    app, _, _ = publisher
    url = micropub(app, h="entry", content="Stay").headers["Location"]
    refused = micropub_update(app, {"action": "update", "url": url, **change})
    assert refused.status_code == 400 and reason in refused.get_json()["error_description"]
    assert jobs(app) == []


def test_the_served_discovery_cases_in_process(mention_app, web, owner_of):
    """testkit.discovery's pages, sent to by the app in process: each endpoint gets its one Webmention (the container
    suite, tests/container/test_webmention_discovery.py, does the same through the image)."""
    from testkit import discovery

    cases = discovery.serve(web)
    owner, token = owner_of(mention_app)
    content = " ".join(f"[{case.number}]({case.target})" for case in cases)
    owner.post("/admin/new", data={"csrf_token": token(owner), "content": content, "published": "y"})
    run_all(mention_app)
    got = {}
    for seen in web.requests:
        if seen.method == "POST":
            got.setdefault(parse_qs(seen.body.decode())["target"][0], []).append(seen.path)
    assert {case.number: got.get(case.target, []) for case in cases} == {
        case.number: [] if case.endpoint is None else [case.endpoint] for case in cases
    }


def test_micropub_updates_and_deletes_send_too(mention_app, web):
    """A Micropub update tells the pages linked before and now; a Micropub delete tells every page ever told."""
    old, new = web.page("/old", ""), web.page("/new", "")
    url = micropub(mention_app, h="entry", content=f"[old]({old})").headers["Location"]
    run_all(mention_app)
    change = {"action": "update", "url": url, "replace": {"content": [f"[new]({new})"]}}
    assert micropub_update(mention_app, change).status_code == 204
    assert sorted(jobs(mention_app)) == sorted([old, new])
    run_all(mention_app)
    with mention_app.app_context():
        secret = tokens.create_token("delete")[1]
    gone = mention_app.test_client().post(
        "/micropub", data={"action": "delete", "url": url}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert gone.status_code == 204
    assert sorted(jobs(mention_app)) == sorted([old, new])
