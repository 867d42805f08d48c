"""testkit's engine-free parts.

The bounded poll, run ownership for the sweep, the site environment and the CSRF helper.
"""

import socket
import subprocess
import sys

import pytest

from starpunk import admin, paging
from testkit import owner, runs, samples
from testkit.env import site_env
from testkit.waiting import WaitTimeout, wait_for
from testkit.web import csrf_token


def test_wait_for_returns_the_first_value_that_satisfies() -> None:
    """The poll returns as soon as the probe's value passes, with that value."""
    values = iter([0, 0, 3, 4])
    assert wait_for(lambda: next(values), "a positive number", timeout=5, interval=0.001) == 3


def test_wait_for_names_what_it_waited_for_and_the_last_value() -> None:
    """Giving up raises an error naming what was awaited and the last value seen."""
    with pytest.raises(WaitTimeout, match=r"'POST /admin/new' in the logs after 0.05 s .*last seen: GET /health"):
        wait_for(
            lambda: "GET /health",
            "'POST /admin/new' in the logs",
            timeout=0.05,
            interval=0.01,
            until=lambda logs: "POST" in logs,
        )


def test_wait_for_counts_ignored_errors_as_looks_and_raises_others() -> None:
    """An ignored exception is one more failed look; any other ends the wait at once."""
    with pytest.raises(WaitTimeout, match="ConnectionError: refused"):
        wait_for(
            lambda: (_ for _ in ()).throw(ConnectionError("refused")),
            "an answer",
            0.05,
            0.01,
            ignore=(ConnectionError,),
        )
    with pytest.raises(KeyError):
        wait_for(lambda: {}["missing"], "a key", 5, 0.01, ignore=(ConnectionError,))


def test_a_run_is_alive_while_its_process_is_and_gone_after() -> None:
    """The sweep may remove a run's containers only once the pytest process that owns it has ended."""
    assert runs.owner_alive(runs.run_id())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owned = runs.run_id(child.pid)
        assert runs.owner_alive(owned)
    finally:
        child.kill()
        child.wait()
    assert not runs.owner_alive(owned)
    # Another host's run, or a label this code did not write, is never taken for dead.
    assert runs.owner_alive("another-host:1:1")
    assert runs.owner_alive("")


def test_site_env_is_production_with_a_fresh_secret_each_time() -> None:
    """Each environment is production, with its own 64-character secret, and keyword settings win."""
    first, second = site_env("1.2.3"), site_env(WORKERS="4")
    assert first["ENVIRONMENT"] == "production" and first["VERSION"] == "1.2.3"
    assert len(first["SESSION_SECRET"]) == 64 and first["SESSION_SECRET"] != second["SESSION_SECRET"]
    assert second["WORKERS"] == "4" and "VERSION" not in second


def test_csrf_token_reads_the_hidden_field_or_names_the_page() -> None:
    """The token is read from the form's hidden field; a page without one fails naming the page."""
    assert csrf_token('<input type="hidden" name="csrf_token" value="abc.def">') == "abc.def"
    with pytest.raises(AssertionError, match="/admin/new"):
        csrf_token("<form></form>", "/admin/new")


def test_a_sweep_takes_only_what_a_run_or_a_gone_run_left() -> None:
    """A sweep removes one run's things, or those of runs whose process is gone.

    Never a live run's, an unlabelled thing or another suite's.
    """
    live = runs.labels("deploy")
    gone = runs.labels("deploy", f"{socket.gethostname()}:999999999:1")  # past the largest pid Linux gives
    assert runs.swept(live, live[runs.RUN_LABEL]) and not runs.swept(live)
    assert runs.swept(gone) and not runs.swept(gone, live[runs.RUN_LABEL])
    assert not runs.swept(gone, suite="kube") and runs.swept(gone, suite="deploy")
    assert not runs.swept({runs.LABEL: "deploy"}) and not runs.swept(None)


def test_owner_client_knows_the_admin_page_size() -> None:
    """testkit's owner reads /admin's first page as the app pages it."""
    assert owner.ADMIN_PAGE_SIZE == admin.ADMIN_PAGE_SIZE


def test_samples_know_the_readers_page_size() -> None:
    """testkit's audit corpus fills more than one page of the index, as the app pages it."""
    assert samples.PAGE_SIZE == paging.PAGE_SIZE


def test_otherweb_repeats_headers_fails_first_and_times_arrivals() -> None:
    """OtherWeb sends a repeated header as given, fails a path's next requests on demand, and stamps each arrival."""
    import http.client
    import time

    from testkit.otherweb import OtherWeb

    def get(port: int) -> tuple[int, list[str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/p")
            answer = conn.getresponse()
            return answer.status, answer.headers.get_all("Link") or [], answer.read()
        finally:
            conn.close()

    with OtherWeb() as web:
        web.page("/p", "hello", headers=[("Link", "</a>; rel=a"), ("Link", "</b>; rel=b")])
        web.fail_first("/p", 2)
        before = time.monotonic()
        assert [get(web.port)[0] for _ in range(2)] == [503, 503]
        assert get(web.port) == (200, ["</a>; rel=a", "</b>; rel=b"], b"hello")
        seen = web.requests_to("/p")
        assert len(seen) == 3 and before <= seen[0].at <= seen[1].at <= seen[2].at <= time.monotonic()
