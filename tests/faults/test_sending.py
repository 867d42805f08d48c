"""SIGKILL with Webmentions waiting to be sent, one of them in flight: after the restart each is sent exactly once.

A note links to several pages of another site (testkit.otherweb, on
127.0.0.1), each advertising its own endpoint. The pages answer slowly, so
when the container is killed the first send is in the middle of its
discovery fetch and the others wait in the queue; no endpoint has been told
yet. After the restart the pages answer at once, and every endpoint receives
exactly one Webmention with the note as source and its page as target.
"""

from urllib.parse import parse_qs

from testkit.env import SITE_URL
from testkit.otherweb import OtherWeb
from testkit.site import Lab
from testkit.waiting import wait_for

TARGETS = 6
SLOW_SECONDS = 8.0  # the pages' delay before the kill: longer than the test takes to kill
SEND_SECONDS = 60.0


def test_sigkill_with_sends_pending_loses_none_and_sends_each_once(lab: Lab) -> None:
    """Every send queued before a SIGKILL reaches its endpoint once after the restart; none is lost."""
    site = lab.site(env={"OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8"}, host_network=True)
    owner = site.sign_in()
    with OtherWeb() as web:
        pages = {f"/page{n}": f'<link rel="webmention" href="/endpoint{n}"><p>Page {n}</p>' for n in range(TARGETS)}
        for n in range(TARGETS):
            web.page(f"/endpoint{n}", status=202)
        targets = [web.page(path, body, delay=SLOW_SECONDS) for path, body in pages.items()]
        slug = owner.publish("Told right before a crash: " + " ".join(f"[{n}]({url})" for n, url in enumerate(targets)))
        in_flight = wait_for(
            lambda: [seen.path for seen in web.requests if seen.path in pages],
            "a discovery fetch to reach the other site",
            timeout=SEND_SECONDS,
        )
        assert not [seen for seen in web.requests if seen.method == "POST"], "an endpoint was told before the kill"
        site.kill()

        for path, body in pages.items():
            web.page(path, body)  # fast from now on
        site.start_again()
        for n in range(TARGETS):
            web.wait_for_request(f"/endpoint{n}", timeout=SEND_SECONDS)
        wait_for(
            lambda: site.sqlite("SELECT count(*) FROM jobs WHERE kind = 'webmention-send'"),
            "every send job done (done jobs are deleted)",
            timeout=SEND_SECONDS,
            until=lambda rows: rows == [[0]],
        )
        for n, target in enumerate(targets):
            (sent,) = web.requests_to(f"/endpoint{n}")  # exactly once
            assert parse_qs(sent.body.decode()) == {"source": [f"{SITE_URL}/note/{slug}"], "target": [target]}
        assert len(web.requests_to(in_flight[0])) >= 2, "the send interrupted by the kill was not run again"
        statuses = site.sqlite("SELECT status, code FROM webmention_sends ORDER BY id")
        assert statuses == [["sent", 202]] * TARGETS
    assert site.integrity() == "ok"
