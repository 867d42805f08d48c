"""Endpoint discovery through the real image: every webmention.rocks-style case, checked at the endpoint that receives.

The site runs in the host's network namespace with
OUTBOUND_ALLOW_NETWORKS=127.0.0.0/8 (as in test_webmention_send.py); the
pages of testkit.discovery are served on 127.0.0.1. One note links to every
case's page; each page's Webmention must reach exactly its endpoint, once,
with the note as source and the page as target, and nothing else may receive
one. The same site also cross-posts through a publisher picked by a Micropub
update, retries an endpoint that answers 503 first, and measures the time
from a Micropub create's 201 to the Webmention's arrival (median of ARRIVALS
publishes, no other load), written to build/reports/webmention/ (a benchmark
figure, not a pass/fail limit).
"""

import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

import pytest

from harness.reports import WEBMENTION as REPORT
from testkit import discovery
from testkit.micropub_client import MicropubClient
from testkit.otherweb import OtherWeb, Seen
from testkit.site import Lab, Site
from testkit.waiting import wait_for

SEND_SECONDS = 60.0
ARRIVALS = 10  # publishes measured for the arrival time


@dataclass
class Sender:
    """A running site on the host's network, a Micropub client of it, and the rest of the web."""

    site: Site
    client: MicropubClient
    web: OtherWeb
    publisher: str  # the SYNDICATE_TO uid on the local web


def received(web: OtherWeb, target: str) -> list[Seen]:
    """Return the Webmentions (POSTs) the rest of the web received for target."""
    return [
        seen
        for seen in web.requests
        if seen.method == "POST" and parse_qs(seen.body.decode()).get("target") == [target]
    ]


def sends_done(site: Site) -> None:
    """Wait until the queue holds no send job (done ones are deleted)."""
    wait_for(
        lambda: site.sqlite("SELECT count(*) FROM jobs WHERE kind = 'webmention-send'"),
        "every queued Webmention send done",
        timeout=SEND_SECONDS,
        until=lambda rows: rows == [[0]],
    )


@pytest.fixture(scope="module")
def sender(module_lab: Lab) -> Iterator[Sender]:
    """Start the rest of the web, then one site that may reach it and names a publisher in SYNDICATE_TO."""
    with OtherWeb() as web:
        web.page("/publish/webmention", status=201, headers={"Location": "/copies/1"}, content_type="text/plain")
        uid = web.page("/publish/mastodon", '<link rel="webmention" href="/publish/webmention">')
        env = {
            "OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8",
            "SYNDICATE_TO": json.dumps([{"uid": uid, "name": "Mastodon"}]),
        }
        site = module_lab.site(env=env, host_network=True)
        yield Sender(site, MicropubClient.sign_in(site.sign_in()), web, uid)


def test_each_discovery_case_reaches_exactly_its_endpoint(sender: Sender) -> None:
    """One note links every case's page: each endpoint gets one Webmention; decoys and endpoint-less pages none."""
    cases = discovery.serve(sender.web)
    links = " ".join(f"[case {case.number}]({case.target})" for case in cases)
    note = sender.client.create(f"Discovery cases: {links}")
    sends_done(sender.site)
    wrong = {}
    for case in cases:
        got = [seen.path for seen in received(sender.web, case.target)]
        wanted = [] if case.endpoint is None else [case.endpoint]
        if got != wanted:
            wrong[f"{case.number} ({case.title})"] = got
        for seen in received(sender.web, case.target):
            assert parse_qs(seen.body.decode()) == {"source": [note], "target": [case.target]}
    assert not wrong, f"endpoints that received the wrong Webmentions (case: paths): {wrong}"
    statuses = dict(sender.site.sqlite("SELECT target, status FROM webmention_sends"))
    assert {statuses[case.target] for case in cases if case.endpoint is None} == {"no endpoint"}
    assert {statuses[case.target] for case in cases if case.endpoint is not None} == {"sent"}


def test_a_micropub_update_cross_posts_through_the_publisher(sender: Sender) -> None:
    """mp-syndicate-to in an update: the publisher gets the note once, its Location shows as "Also on"."""
    url = sender.client.create("Posted here first, then elsewhere.")
    reply = sender.client.update(url, add={"mp-syndicate-to": [sender.publisher]})
    assert reply.status_code == 204, reply.text
    (sent,) = sender.web.wait_for_request("/publish/webmention", timeout=SEND_SECONDS)
    assert parse_qs(sent.body.decode()) == {"source": [url], "target": [sender.publisher]}
    copy = sender.web.url("/copies/1")
    page = wait_for(
        lambda: sender.client.get(url).text,
        "the syndication URL on the note's page",
        timeout=SEND_SECONDS,
        until=lambda text: f'href="{copy}"' in text,
    )
    assert f'class="u-bridgy-publish" href="{sender.publisher}"' in page
    assert "mp-syndicate-to" not in sender.client.source(url)["properties"]


def test_an_endpoint_answering_5xx_first_is_tried_again_within_a_minute(sender: Sender) -> None:
    """The endpoint answers 503 to the first Webmention; the retry (30 s later) is received and the send is sent."""
    sender.web.fail_first("/flaky/webmention", 1)
    sender.web.page("/flaky/webmention", status=202, content_type="text/plain")
    target = sender.web.page("/flaky/page", '<link rel="webmention" href="/flaky/webmention">')
    url = sender.client.create(f"Told twice: [a flaky site]({target})")
    first, second = sender.web.wait_for_request("/flaky/webmention", count=2, timeout=SEND_SECONDS)
    assert first.body == second.body and parse_qs(second.body.decode()) == {"source": [url], "target": [target]}
    assert 25 <= second.at - first.at <= 60, "the first retry comes after the queue's first backoff (30 s)"
    wait_for(
        lambda: sender.site.sqlite(f"SELECT status, code FROM webmention_sends WHERE target = '{target}'"),
        "the retried send recorded as sent",
        timeout=SEND_SECONDS,
        until=lambda rows: rows == [["sent", 202]],
    )


def test_publish_to_arrival_time_is_reported(sender: Sender) -> None:
    """ARRIVALS Micropub publishes, one at a time: each Webmention arrives; the median time goes to the report."""
    seconds = []
    for n in range(ARRIVALS):
        # The consumer looks for due jobs every POLL_SECONDS (1 s): publishing right after the previous arrival
        # would always land just after its look. Waiting n/ARRIVALS of a second spreads the publishes over its cycle.
        time.sleep(n / ARRIVALS)
        endpoint = f"/arrival/{n}/webmention"
        sender.web.page(endpoint, status=202, content_type="text/plain")
        target = sender.web.page(
            f"/arrival/{n}/page", "<p>A page</p>", headers={"Link": f"<{endpoint}>; rel=webmention"}
        )
        reply = sender.client.create_json({"content": [f"Arrival {n}: [a page]({target})"]})
        created = time.monotonic()
        assert reply.status_code == 201, reply.text
        (arrived,) = sender.web.wait_for_request(endpoint, timeout=SEND_SECONDS)
        seconds.append(arrived.at - created)
    figures = {
        "publishes": ARRIVALS,
        "median_seconds": round(statistics.median(seconds), 3),
        "min_seconds": round(min(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "each_seconds": [round(value, 3) for value in seconds],
        "note": "from the Micropub 201 to the POST's arrival at the target's endpoint; queue consumer polls every 1 s",
    }
    REPORT.mkdir(parents=True, exist_ok=True)
    (REPORT / "arrival.json").write_text(json.dumps(figures, indent=1) + "\n")
    (REPORT / "arrival.md").write_text(
        "Publish to Webmention arrival (Micropub 201 to the POST at the endpoint, no other load)\n\n"
        "| publishes | median | min | max |\n|---|---|---|---|\n"
        f"| {ARRIVALS} | {figures['median_seconds']:.3f} s | {figures['min_seconds']:.3f} s"
        f" | {figures['max_seconds']:.3f} s |\n"
    )
    print(f"publish to Webmention arrival: median {figures['median_seconds']} s over {ARRIVALS}")
