"""Sending Webmentions from the image: a note links to a page of another site (served by the test on 127.0.0.1).

The site runs in the host's network namespace with
OUTBOUND_ALLOW_NETWORKS=127.0.0.0/8, as in test_webmention.py. Checked as the
other site sees it: the discovery fetch and the exact POST its endpoint
receives, after a publish, an edit and a delete.
"""

import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from testkit.env import SITE_URL
from testkit.otherweb import OtherWeb
from testkit.site import Lab, Site

ARRIVAL_SECONDS = 30.0


@pytest.fixture(scope="module")
def sender(module_lab: Lab) -> Iterator[tuple[Site, OtherWeb]]:
    """Start one site on the host's network that may reach 127.0.0.1, and the rest of the web."""
    site = module_lab.site(env={"OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8"}, host_network=True)
    with OtherWeb() as web:
        yield site, web


def test_publish_edit_and_delete_each_send_a_webmention(sender: tuple[Site, OtherWeb]) -> None:
    """The endpoint a Link header advertises gets source (the permalink) and target, after each write."""
    site, web = sender
    web.page("/endpoint?via=header", status=202)
    target = web.page("/article", "<p>An article</p>", headers={"Link": '</endpoint?via=header>; rel="webmention"'})
    owner = site.sign_in()
    started = time.monotonic()
    slug = owner.publish(f"Worth reading: [an article]({target})")
    (sent,) = web.wait_for_request("/endpoint?via=header", timeout=ARRIVAL_SECONDS)
    print(f"publish to Webmention arrival: {time.monotonic() - started:.2f} s")
    assert sent.method == "POST"
    assert parse_qs(sent.body.decode()) == {"source": [f"{SITE_URL}/note/{slug}"], "target": [target]}
    assert web.requests_to("/article")[0].headers["User-Agent"].startswith("StarPunk/")
    owner.edit(slug, f"Still worth reading: [an article]({target})")
    web.wait_for_request("/endpoint?via=header", count=2, timeout=ARRIVAL_SECONDS)
    owner.delete(slug)
    web.wait_for_request("/endpoint?via=header", count=3, timeout=ARRIVAL_SECONDS)
    assert site.get(f"/note/{slug}").status_code == 410
