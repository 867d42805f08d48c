"""The flood gate: Webmentions from a host the endpoint just refused or dropped get the same answer before Flask."""

import io
import json
import sqlite3

import pytest

from starpunk import floodgate, webmention
from starpunk.db import database_path

SITE = "http://localhost"


@pytest.fixture
def note_url(add_notes):
    """Return the permalink of a published note."""
    (note,) = add_notes(["A note a flood aims at"])
    return f"{SITE}/note/{note['slug']}"


@pytest.fixture
def clock(monkeypatch):
    """Return the gate's clock as a one-item list of seconds the test moves on."""
    now = [1000.0]
    monkeypatch.setattr(floodgate, "clock", lambda: now[0])
    return now


@pytest.fixture
def views(app):
    """Return a list that grows each time Flask itself (not the gate) is asked for the endpoint."""
    from flask import request

    seen = []
    app.before_request(lambda: seen.append(request.path) if request.path == webmention.PATH else None)
    return seen


def send(client, **form):
    return client.post("/webmention", data=form)


def queued(app):
    conn = sqlite3.connect(database_path(app.config["DATA_PATH"]))
    try:
        return [json.loads(payload)["source"] for (payload,) in conn.execute("SELECT payload FROM jobs ORDER BY id")]
    finally:
        conn.close()


def clear_jobs(app):
    conn = sqlite3.connect(database_path(app.config["DATA_PATH"]))
    try:
        conn.execute("DELETE FROM jobs")
        conn.commit()
    finally:
        conn.close()


def test_a_refused_host_is_refused_again_before_flask_for_the_hold(app, client, note_url, monkeypatch, clock, views):
    """After the endpoint's 429, the host's next mentions get the same 429 and Retry-After without Flask."""
    monkeypatch.setattr(webmention, "MAX_PENDING_PER_HOST", 2)
    for n in range(2):
        assert send(client, source=f"https://flood.example/{n}", target=note_url).status_code == 202
    refused = send(client, source="https://flood.example/2", target=note_url)
    assert refused.status_code == 429 and len(views) == 3
    again = send(client, source="https://flood.example/3", target=note_url)
    assert len(views) == 3, "the gate answered: Flask saw no fourth request"
    assert (again.status_code, again.headers["Retry-After"], again.data) == (429, "60", refused.data)
    assert again.headers["Content-Security-Policy"] == refused.headers["Content-Security-Policy"]
    assert queued(app) == ["https://flood.example/0", "https://flood.example/1"]


def test_the_gate_never_outlives_its_hold(app, client, note_url, monkeypatch, clock):
    """Room made in the queue shows after HOLD_SECONDS at the latest: then Flask decides again and accepts."""
    monkeypatch.setattr(webmention, "MAX_PENDING_PER_HOST", 1)
    assert send(client, source="https://flood.example/0", target=note_url).status_code == 202
    assert send(client, source="https://flood.example/1", target=note_url).status_code == 429
    clear_jobs(app)  # the consumer checked the waiting one
    clock[0] += floodgate.HOLD_SECONDS - 0.01
    assert send(client, source="https://flood.example/2", target=note_url).status_code == 429
    clock[0] += 0.01
    assert send(client, source="https://flood.example/3", target=note_url).status_code == 202
    assert queued(app) == ["https://flood.example/3"]


def test_other_hosts_go_through_with_their_form_intact(app, client, note_url, monkeypatch, clock):
    """While one host is refused, another's mention reaches Flask with its whole body, and is accepted."""
    monkeypatch.setattr(webmention, "MAX_PENDING_PER_HOST", 1)
    send(client, source="https://flood.example/0", target=note_url)
    assert send(client, source="https://flood.example/1", target=note_url).status_code == 429
    source = "https://calm.example/a%20reply?x=1&y=2"
    assert send(client, source=source, target=note_url).status_code == 202
    assert queued(app)[-1] == source


def test_a_refused_host_still_hears_why_a_malformed_request_is_wrong(client, note_url, monkeypatch, clock):
    """The gate repeats refusals of well-formed mentions only: a bad URL from a refused host is still a 400."""
    monkeypatch.setattr(webmention, "MAX_PENDING_PER_HOST", 1)
    send(client, source="https://flood.example/0", target=note_url)
    assert send(client, source="https://flood.example/1", target=note_url).status_code == 429
    bad = send(client, source="https://flood.example/2", target="ftp://localhost/")
    assert bad.status_code == 400 and b"target must be an http or https URL" in bad.data
    same = send(client, source=note_url, target=note_url)
    assert same.status_code == 400


def test_everyone_refused_past_the_bound_in_all(app, client, note_url, monkeypatch, clock, views):
    """Past MAX_PENDING the gate refuses every host's well-formed mention for the hold."""
    monkeypatch.setattr(webmention, "MAX_PENDING", 2)
    for n in range(2):
        send(client, source=f"https://host{n}.example/", target=note_url)
    assert send(client, source="https://host8.example/", target=note_url).status_code == 429
    seen = len(views)
    assert send(client, source="https://host9.example/", target=note_url).status_code == 429
    assert len(views) == seen


def test_a_blocked_host_is_dropped_before_flask(make_app, add_notes, clock):
    """A blocked host's mentions get the endpoint's 202 and are dropped; the next ones by the gate, unread."""
    app = make_app(WEBMENTION_BLOCKED_HOSTS="spam.example")
    (note,) = add_notes(["Hello"])
    client = app.test_client()
    calls = []
    app.before_request(lambda: calls.append(1))
    target = f"{SITE}/note/{note['slug']}"
    for n in range(3):
        assert send(client, source=f"https://spam.example/{n}", target=target).status_code == 202
    assert len(calls) == 1 and queued(app) == []


def test_a_blocked_host_is_dropped_even_while_everyone_is_refused(make_app, add_notes, monkeypatch, clock):
    """The host's own answer comes first: a blocked host hears 202, as from Flask, during a refusal of everyone."""
    monkeypatch.setattr(webmention, "MAX_PENDING", 1)
    app = make_app(WEBMENTION_BLOCKED_HOSTS="spam.example")
    (note,) = add_notes(["Hello"])
    client, target = app.test_client(), f"{SITE}/note/{note['slug']}"
    assert send(client, source="https://spam.example/0", target=target).status_code == 202
    send(client, source="https://one.example/", target=target)
    assert send(client, source="https://two.example/", target=target).status_code == 429
    assert send(client, source="https://spam.example/1", target=target).status_code == 202


def gate_over(answer_status="429 TOO MANY REQUESTS"):
    """Return a gate over a WSGI app that refuses every host and records what it was sent."""
    sent = []

    def inner(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        sent.append(body)
        form = floodgate._read_form(dict(environ, **{"wsgi.input": io.BytesIO(body)})) if body else None
        host = floodgate.source_host(form) if form else None
        if host is not None:
            floodgate.remember(environ, host)
        start_response(answer_status, [("Content-Type", "text/plain")])
        return [b"no"]

    return floodgate.WebmentionGate(inner), sent


def post(gate, body, content_type=floodgate.FORM_TYPE, length=None):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": floodgate.PATH,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body) if length is None else length),
        "wsgi.input": io.BytesIO(body),
    }
    seen = []
    data = b"".join(gate(environ, lambda status, headers, exc_info=None: seen.append(status)))
    return seen[0], data


def form_of(host, number=0):
    return f"source=https://{host}/{number}&target=https://site.example/".encode()


def test_the_gate_keeps_at_most_max_hosts(monkeypatch, clock):
    """Exactly MAX_HOSTS refused hosts are kept; one more forgets the oldest."""
    monkeypatch.setattr(floodgate, "MAX_HOSTS", 3)
    gate, sent = gate_over()
    for n in range(3):
        post(gate, form_of(f"h{n}.example"))
    assert list(gate.answers) == ["h0.example", "h1.example", "h2.example"]
    post(gate, form_of("h0.example", 1))
    assert len(sent) == 3, "h0 is still kept: the gate answered"
    post(gate, form_of("h3.example"))
    assert list(gate.answers) == ["h1.example", "h2.example", "h3.example"]
    post(gate, form_of("h0.example", 2))
    assert len(sent) == 5, "h0 was forgotten: Flask was asked again"


@pytest.mark.parametrize(
    ("content_type", "length"),
    [("multipart/form-data; boundary=x", None), (floodgate.FORM_TYPE, floodgate.MAX_BODY_BYTES + 1), ("", None)],
)
def test_what_the_gate_cannot_read_cheaply_goes_to_flask(clock, content_type, length):
    """Another content type or a body over MAX_BODY_BYTES is never answered by the gate, even from a refused host."""
    gate, sent = gate_over()
    post(gate, form_of("flood.example"))
    body = form_of("flood.example", 1)
    if length is not None:
        body += b"&pad=" + b"x" * (length - len(body) - 5)
    post(gate, body, content_type=content_type)
    assert len(sent) == 2 and sent[1] == body


def test_a_body_of_exactly_max_body_bytes_is_read(clock):
    """The gate reads a form of MAX_BODY_BYTES (and answers a refused host's) and gives Flask the same bytes."""
    gate, sent = gate_over()
    post(gate, form_of("flood.example"))
    body = form_of("flood.example", 1)
    body += b"&pad=" + b"x" * (floodgate.MAX_BODY_BYTES - len(body) - 5)
    assert len(body) == floodgate.MAX_BODY_BYTES
    status, data = post(gate, body)
    assert (status, data, len(sent)) == ("429 TOO MANY REQUESTS", b"no", 1)
