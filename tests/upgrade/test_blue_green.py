"""Blue/green behind nginx under load: the guide's three blocks switch a site from the previous release to this image.

nginx runs from nginx.conf.example (rendered for starpunk.test on 127.0.0.1
with a self-signed certificate, as `nox -s proxy` runs it) in front of the
previous release. While locust readers, feed readers and an author use the
site through nginx, the guide's blocks start this image beside it on the same
volume, switch nginx's upstream with a reload, and stop the old container.
Not one request may fail, and every note the author was answered 303 for
must be there afterwards.
"""

import csv
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from harness import ROOT
from harness.proxy import ProxyServer
from testkit.env import loopback_env, site_env
from testkit.waiting import wait_for
from testkit.web import https_session
from tests.upgrade.installation import Installation

HOST = "starpunk.test"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
USERS = 12
# An upper bound only: the test stops locust (SIGTERM) once the switch is done and the author has written after it.
RUN_LIMIT = "180s"
# The author writes about one note a second: this many on each side of the switch keep the load on for a while.
ACKS_EACH_SIDE = 5
# Requests that must have been under way while the three blocks ran.
MIN_REQUESTS_DURING_SWITCH = 10
WAIT_TIMEOUT = 90.0
REPORT = ROOT / "build" / "reports" / "upgrade" / "blue-green.json"


def _acks(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _aggregate(stats_csv: Path) -> dict[str, str]:
    with stats_csv.open(newline="") as rows:
        return next(row for row in csv.DictReader(rows) if row["Name"] == "Aggregated")


def _in_flight(request_log: Path, start: float, end: float) -> int:
    """Return how many requests were under way at some moment between start and end (epoch seconds)."""
    count = 0
    for line in request_log.read_text().splitlines():
        began, took_ms = (float(part) for part in line.split())
        if began <= end and began + took_ms / 1000 >= start:
            count += 1
    return count


def test_blue_green_switch_under_load_fails_no_request_and_loses_no_note(
    installation: Installation, tmp_path: Path
) -> None:
    """Start the new container, wait for health, reload nginx onto it, stop the old one.

    Zero failures, zero lost notes.
    """
    # Straight under /tmp, not pytest's 0700 folders: nginx's workers (nobody) write its micro-cache there.
    proxy = ProxyServer("nginx", HOST, installation.port, Path(tempfile.mkdtemp(prefix="starpunk-blue-green-")))
    installation.proxy = proxy
    installation.write_settings(site_env(site_url=proxy.site_url, TRUSTED_PROXIES="1"))
    blue = installation.start(installation.previous_image)
    owner = blue.sign_in()
    for number in range(1, 6):
        owner.publish(f"Note {number} from the previous release, read all through the switch.")
    acks, requests_log, locust_log = tmp_path / "acks.jsonl", tmp_path / "requests.log", tmp_path / "locust.log"
    proxy.start()
    locust = None
    try:
        through_proxy = https_session(HOST, proxy.https_port, str(proxy.ca_file))
        health = f"https://127.0.0.1:{proxy.https_port}/health"
        wait_for(
            lambda: through_proxy.get(health, timeout=2).status_code,
            "nginx to answer /health with 200",
            30,
            0.1,
            lambda code: code == 200,
            (requests.RequestException,),
        )
        env = loopback_env(
            PYTHONPATH=str(ROOT),
            STARPUNK_LOGIN_URL=blue.login_link(),
            STARPUNK_ACK_FILE=str(acks),
            STARPUNK_REQUEST_LOG=str(requests_log),
            STARPUNK_P95_LIMIT_MS="1e9",
        )  # latency is not what this test is about; failures are
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            f"https://127.0.0.1:{proxy.https_port}",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            RUN_LIMIT,
            "--csv",
            str(tmp_path / "locust"),
            "--only-summary",
            "--stop-timeout",
            "10",
        ]
        with locust_log.open("w") as log:
            locust = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

        def acknowledged_since(moment: float) -> int:
            assert locust is not None and locust.poll() is None, (
                f"locust stopped early:\n{locust_log.read_text()[-3000:]}"
            )
            return sum(1 for ack in _acks(acks) if ack["at"] >= moment)

        wait_for(
            lambda: acknowledged_since(0),
            f"{ACKS_EACH_SIDE} notes acknowledged by the previous release",
            WAIT_TIMEOUT,
            0.2,
            lambda count: count >= ACKS_EACH_SIDE,
        )
        switch_started = time.time()
        installation.run("start_next")
        installation.run("switch")
        installation.run("retire")
        retired = time.time()
        wait_for(
            lambda: acknowledged_since(retired),
            f"{ACKS_EACH_SIDE} notes acknowledged by the new container",
            WAIT_TIMEOUT,
            0.2,
            lambda count: count >= ACKS_EACH_SIDE,
        )
    finally:
        if locust is not None and locust.poll() is None:
            locust.send_signal(signal.SIGTERM)
            locust.wait(60)
        proxy.stop()
        conf = proxy.workdir / "starpunk.conf"
        switched_conf = conf.read_text() if conf.exists() else ""
        shutil.rmtree(proxy.workdir, ignore_errors=True)

    output = locust_log.read_text()
    totals = _aggregate(tmp_path / "locust_stats.csv")
    failures = (tmp_path / "locust_failures.csv").read_text()
    during = _in_flight(requests_log, switch_started, retired)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "requests": int(totals["Request Count"]),
                "failures": int(totals["Failure Count"]),
                "requests_during_switch": during,
                "switch_s": round(retired - switch_started, 2),
                "notes_acknowledged": len(_acks(acks)),
            },
            indent=1,
        )
        + "\n"
    )
    assert int(totals["Failure Count"]) == 0, f"failed requests across the switch:\n{failures}\n{output[-3000:]}"
    assert locust.returncode == 0, f"locust exited {locust.returncode}:\n{output[-3000:]}"
    assert during >= MIN_REQUESTS_DURING_SWITCH, (
        f"only {during} of {totals['Request Count']} requests were under way "
        f"during the {retired - switch_started:.1f} s of the switch"
    )

    green = installation.site(port=installation.next_port)
    assert green.image() == installation.image
    assert f"server 127.0.0.1:{installation.next_port};" in switched_conf
    written = _acks(acks)
    assert any(ack["at"] < switch_started for ack in written) and any(ack["at"] >= retired for ack in written)
    kept = {row[0] for row in green.sqlite("SELECT content FROM notes WHERE published = 1 AND deleted_at IS NULL")}
    lost = [ack["content"] for ack in written if ack["content"] not in kept]
    assert not lost, f"{len(lost)} of {len(written)} acknowledged notes are missing: {lost[:5]}"
