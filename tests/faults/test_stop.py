"""Stopping: SIGTERM lets requests in flight finish and exits 0 in time; a storm of restarts loses nothing."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from testkit.site import Lab

from .traffic import Outcome, Traffic, slow_post

STOP_SECONDS = 10
# Two workers busy with slow uploads leave one for six clients: at the signal,
# some of their requests are being answered and some wait in the accept queue.
WORKERS = 3
SLOW_UPLOADS = 2
UPLOAD_SECONDS = 2.0
STORM_CYCLES = 20


def test_sigterm_lets_requests_in_flight_finish(lab: Lab) -> None:
    """SIGTERM during steady traffic: every request sent before it is answered, none with a 5xx.

    The container exits 0 within 10 s.
    """
    site = lab.site(env={"WORKERS": str(WORKERS)})
    owner = site.sign_in()
    token = owner.csrf_token()
    contents = [
        f"graceful-{uuid.uuid4().hex[:12]} arrived slowly while the site was stopping." for _ in range(SLOW_UPLOADS)
    ]
    started = [threading.Event() for _ in contents]
    with ThreadPoolExecutor(max_workers=SLOW_UPLOADS) as pool:
        uploads = [
            pool.submit(slow_post, owner, content, token, UPLOAD_SECONDS, event)
            for content, event in zip(contents, started, strict=True)
        ]
        for event in started:
            assert event.wait(10), "a slow upload did not start"
        with Traffic(owner, token, prefix="steady", writers=1, readers=5, max_seconds=30) as traffic:
            # Long enough for each upload to be accepted and the steady traffic to queue up.
            time.sleep(0.5)
            signalled = time.monotonic()
            site.kill("SIGTERM")
            exit_code = site.wait_exit(timeout=STOP_SECONDS + 20)
            stopped_after = time.monotonic() - signalled
        slow: list[Outcome] = [upload.result() for upload in uploads]
    assert exit_code == 0, f"exit code {exit_code} after SIGTERM"
    assert stopped_after < STOP_SECONDS, f"the container took {stopped_after:.1f} s to stop"
    assert all(upload.status == 303 for upload in slow), f"uploads in flight at SIGTERM: {slow}"
    assert all(upload.ended > signalled for upload in slow), (
        "the uploads ended before the signal, so none was in flight"
    )
    server_errors = [outcome for outcome in traffic.outcomes if outcome.status and outcome.status >= 500]
    assert not server_errors, f"5xx during the stop: {server_errors[:5]}"
    sent_before = [outcome for outcome in traffic.outcomes if outcome.started < signalled]
    spanning = [outcome for outcome in sent_before if outcome.ended > signalled]
    assert len(spanning) >= 2, (
        f"only {len(spanning)} steady requests were waiting at the signal, so the test proved little"
    )
    failed = [outcome for outcome in sent_before if outcome.status not in (200, 303)]
    assert not failed, f"{len(failed)} of {len(sent_before)} requests sent before SIGTERM failed: {failed[:5]}"

    site.start_again()
    stored = {row[0] for row in site.sqlite("SELECT content FROM notes")}
    assert set(contents) <= stored, "a note acknowledged during the stop is missing after the restart"
    assert set(traffic.acknowledged) <= stored


def test_restart_storm_loses_nothing(lab: Lab) -> None:
    """Twenty quick stop/start cycles with a note published between each: every note is there at the end."""
    site = lab.site()
    owner = site.sign_in()
    markers = []
    for cycle in range(STORM_CYCLES):
        marker = f"storm-{cycle}-{uuid.uuid4().hex[:8]}"
        owner.publish(f"{marker} published between restarts.")
        markers.append(marker)
        site.restart()
    home = site.get("/")
    assert home.status_code == 200
    admin = owner.get("/admin").text
    missing = [marker for marker in markers if marker not in admin]
    assert not missing, f"lost after {STORM_CYCLES} restarts: {missing}"
    assert site.sqlite("SELECT count(*) FROM notes") == [[STORM_CYCLES]]
    assert site.integrity() == "ok"
