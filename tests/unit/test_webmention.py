"""The Webmention endpoint: answered at once (400 with a reason, 429, or 202 with the check stored), and advertised."""

import json
import sqlite3

import pytest

from starpunk import webmention
from starpunk.db import database_path

SITE = "http://localhost"


@pytest.fixture
def note_url(add_notes):
    """Return the permalink of a published note."""
    (note,) = add_notes(["A note worth answering"])
    return f"{SITE}/note/{note['slug']}"


def jobs(app):
    conn = sqlite3.connect(database_path(app.config["DATA_PATH"]))
    try:
        return [
            (kind, key, json.loads(payload))
            for kind, key, payload in conn.execute("SELECT kind, key, payload FROM jobs")
        ]
    finally:
        conn.close()


def send(client, **form):
    return client.post("/webmention", data=form)


def test_a_good_request_is_accepted_and_stored(app, client, note_url):
    """202 Accepted, and the check is already a job in the database (nothing fetched yet)."""
    response = send(client, source="https://other.example/reply/1", target=note_url)
    assert response.status_code == 202
    assert jobs(app) == [
        ("webmention", "other.example", {"source": "https://other.example/reply/1", "target": note_url, "note_id": 1})
    ]


def test_the_home_page_is_a_target(app, client):
    """The home page accepts Webmentions, with or without its trailing slash."""
    assert send(client, source="https://other.example/a", target=SITE + "/").status_code == 202
    assert send(client, source="https://other.example/b", target=SITE).status_code == 202
    assert [payload["note_id"] for _, _, payload in jobs(app)] == [None, None]


def test_the_same_mention_twice_is_one_check(app, client, note_url):
    """A resent Webmention whose check has not run yet is not queued twice."""
    for _ in range(3):
        assert send(client, source="https://other.example/r", target=note_url).status_code == 202
    assert len(jobs(app)) == 1


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"target": "{note}"}, "source is missing."),
        ({"source": "https://other.example/"}, "target is missing."),
        ({"source": "ftp://other.example/x", "target": "{note}"}, "source must be an http or https URL."),
        ({"source": "javascript:alert(1)", "target": "{note}"}, "source must be an http or https URL."),
        ({"source": "https://other.example/", "target": "mailto:me@localhost"}, "target must be an http or https URL."),
        ({"source": "{note}", "target": "{note}"}, "source and target must differ."),
        ({"source": "https://other.example/", "target": "https://elsewhere.example/note/x"}, "target is not a page"),
        ({"source": "https://other.example/", "target": SITE + "/note/no-such-note"}, "target is not a page"),
        ({"source": "https://other.example/", "target": SITE + "/tag/x"}, "target is not a page"),
    ],
)
def test_bad_requests_get_400_with_a_reason(app, client, note_url, form, reason):
    """Every refusal is a 400 whose one-line body says why; nothing is queued."""
    response = send(client, **{name: value.replace("{note}", note_url) for name, value in form.items()})
    assert response.status_code == 400
    assert response.text.startswith(reason)
    assert response.text.count("\n") == 1
    assert jobs(app) == []


def test_urls_of_at_most_2048_characters(app, client, note_url):
    """A source of exactly MAX_URL_CHARS characters is accepted; one more is refused."""
    base = "https://other.example/"
    exact = base + "a" * (webmention.MAX_URL_CHARS - len(base))
    assert send(client, source=exact, target=note_url).status_code == 202
    response = send(client, source=exact + "a", target=note_url)
    assert (response.status_code, response.text) == (400, "source is longer than 2048 characters.\n")


def test_drafts_and_deleted_notes_are_not_targets(app, client, add_notes):
    """A draft's or a deleted note's permalink is refused like an unknown one."""
    from starpunk import store

    (draft,) = add_notes(["Not yet"], published=False)
    (gone,) = add_notes(["Soon gone"])
    with app.app_context():
        store.delete_note(gone["id"])
    for note in (draft, gone):
        response = send(client, source="https://other.example/", target=f"{SITE}/note/{note['slug']}")
        assert response.status_code == 400


def test_blocked_hosts_are_accepted_and_dropped(make_app, add_notes):
    """A source from a blocked host (setting or owner's list) gets 202 and is never queued."""
    app = make_app(WEBMENTION_BLOCKED_HOSTS="spam.example")
    (note,) = add_notes(["Hello"])
    target = f"{SITE}/note/{note['slug']}"
    client = app.test_client()
    assert send(client, source="https://SPAM.example:8443/x", target=target).status_code == 202
    with app.app_context():
        from starpunk import mentions

        mentions.block("owner-blocked.example")
    assert send(client, source="https://owner-blocked.example/x", target=target).status_code == 202
    assert jobs(app) == []


def test_waiting_checks_per_host_are_bounded(app, client, note_url, monkeypatch):
    """Exactly MAX_PENDING_PER_HOST checks from one host may wait; the next gets 429 with Retry-After."""
    monkeypatch.setattr(webmention, "MAX_PENDING_PER_HOST", 5)
    for n in range(5):
        assert send(client, source=f"https://flood.example/{n}", target=note_url).status_code == 202
    refused = send(client, source="https://flood.example/5", target=note_url)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(webmention.RETRY_AFTER_SECONDS)
    assert send(client, source="https://calm.example/1", target=note_url).status_code == 202
    assert len(jobs(app)) == 6


def test_waiting_checks_in_all_are_bounded(app, client, note_url, monkeypatch):
    """Exactly MAX_PENDING checks may wait in all; the next, from any host, gets 429."""
    monkeypatch.setattr(webmention, "MAX_PENDING", 3)
    for n in range(3):
        assert send(client, source=f"https://host{n}.example/", target=note_url).status_code == 202
    assert send(client, source="https://host9.example/", target=note_url).status_code == 429


def test_pending_mentions_count_against_the_limit(app, client, note_url, monkeypatch):
    """Mentions awaiting the owner's decision count like waiting checks: approving makes room again.

    The room shows once the flood gate's hold on the refused host is over (starpunk/floodgate.py).
    """
    from starpunk import floodgate, mentions

    now = [0.0]
    monkeypatch.setattr(floodgate, "clock", lambda: now[0])
    monkeypatch.setattr(webmention, "MAX_PENDING_PER_HOST", 2)
    fields = dict(type="mention", author_name="", author_url="", content="", url="", published="")
    with app.app_context():
        mentions.save("https://busy.example/1", note_url, 1, fields)
        mentions.save("https://busy.example/2", note_url, 1, fields)
    assert send(client, source="https://busy.example/3", target=note_url).status_code == 429
    with app.app_context():
        mentions.approve([1])
    now[0] += floodgate.HOLD_SECONDS
    assert send(client, source="https://busy.example/3", target=note_url).status_code == 202


def test_the_limits_are_the_documented_ones():
    """50 waiting checks per source host, 1000 in all, come back after 60 s."""
    assert (webmention.MAX_PENDING_PER_HOST, webmention.MAX_PENDING, webmention.RETRY_AFTER_SECONDS) == (50, 1000, 60)


def test_no_csrf_token_is_needed(make_app, add_notes):
    """Other sites post without a form of ours: the endpoint is exempt from CSRF."""
    app = make_app(WTF_CSRF_ENABLED=True)
    (note,) = add_notes(["Hello"])
    response = send(app.test_client(), source="https://other.example/", target=f"{SITE}/note/{note['slug']}")
    assert response.status_code == 202


def test_the_endpoint_is_advertised(client, note_url):
    """Every page has <link rel="webmention">; the home page and permalinks also a Link header; both absolute."""
    for path in ("/", note_url[len(SITE) :]):
        page = client.get(path)
        assert f'<link rel="webmention" href="{SITE}/webmention">' in page.text
        assert f'<{SITE}/webmention>; rel="webmention"' in page.headers.getlist("Link")


def test_get_is_not_allowed(client):
    """The endpoint takes POST only."""
    assert client.get("/webmention").status_code == 405


def test_a_flood_from_one_host_stores_at_most_its_share(app, client, note_url):
    """Well-formed requests from one host beyond MAX_PENDING_PER_HOST are refused: the queue holds 50 of them."""
    answers = [send(client, source=f"https://flood.example/{n}", target=note_url).status_code for n in range(120)]
    assert answers.count(202) == webmention.MAX_PENDING_PER_HOST
    assert set(answers[webmention.MAX_PENDING_PER_HOST :]) == {429}
    assert len(jobs(app)) == webmention.MAX_PENDING_PER_HOST
