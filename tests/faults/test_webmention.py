"""SIGKILL after Webmentions were accepted, while one of them is being checked, loses none of them.

The other site (testkit.otherweb, on 127.0.0.1) answers slowly, so when the
container is killed every accepted Webmention is still waiting or being
checked: the one in flight has reached the other site. After the restart the
other site answers at once, and every accepted mention is stored.
"""

from testkit.env import SITE_URL
from testkit.otherweb import OtherWeb
from testkit.site import Lab
from testkit.waiting import wait_for

MENTIONS = 8
SLOW_SECONDS = 8.0  # the other site's delay before the kill: longer than the test takes to kill
CHECK_SECONDS = 60.0


def test_sigkill_after_202_and_during_a_check_loses_no_mention(lab: Lab) -> None:
    """Every Webmention answered 202 before a SIGKILL is checked and stored after the restart."""
    site = lab.site(env={"OUTBOUND_ALLOW_NETWORKS": "127.0.0.0/8"}, host_network=True)
    slug = site.sign_in().publish("A note answered right before a crash.")
    target = f"{SITE_URL}/note/{slug}"
    with OtherWeb() as web:
        pages = {
            f"/reply{n}": f'<div class="h-entry"><a class="u-in-reply-to" href="{target}">re</a></div>'
            for n in range(MENTIONS)
        }
        sources = [web.page(path, body, delay=SLOW_SECONDS) for path, body in pages.items()]
        for source in sources:
            answer = site.http.post(
                f"{site.base_url}/webmention", data={"source": source, "target": target}, timeout=10
            )
            assert answer.status_code == 202, answer.text
        in_flight = wait_for(
            lambda: [seen.path for seen in web.requests], "a check to reach the other site", timeout=CHECK_SECONDS
        )
        assert site.sqlite("SELECT count(*) FROM webmentions") == [[0]], "a check finished before the kill"
        site.kill()

        for path, body in pages.items():
            web.page(path, body)  # fast from now on
        site.start_again()
        stored = wait_for(
            lambda: {row[0] for row in site.sqlite("SELECT source FROM webmentions")},
            f"all {MENTIONS} accepted mentions stored after the restart",
            timeout=CHECK_SECONDS,
            until=lambda found: found == set(sources),
        )
        assert len(stored) == MENTIONS
        assert len(web.requests_to(in_flight[0])) >= 2, "the check interrupted by the kill was not run again"
    assert site.integrity() == "ok"
