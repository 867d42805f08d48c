"""Measure the bare container against slow clients, and its throughput, for the figures of the guide (issue 14).

    python -m loadtests.slowclients --image starpunk:latest [--worker-from DIR] [--label after]

Starts the image on 127.0.0.1 (app on core 1, clients on core 0), publishes a
note, then measures: how long /health takes behind 8 idle connections; what
readers of /, a permalink and /feed.xml see while N connections trickle their
headers (N = 3, 8, 200) and while 3 or 4 uploads trickle their bodies and stall; and wrk's
requests/s for the three pages. --worker-from DIR mounts DIR's
starpunk/worker.py and gunicorn.conf.py over the image's, to measure an older
worker (e.g. main's) on the same image in the same run. Prints a Markdown table.
All traffic goes to 127.0.0.1; every run is bounded in time.
"""

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from testkit.slowclients import SlowClientRun, Target
from testkit.web import plain_session

from .wrk import SERVER_CORE, run_wrk

if TYPE_CHECKING:  # the docker SDK is imported only to measure: loadtests.workers imports this module's helpers
    from testkit.site import ApiSite, Lab

IDLE_CONNECTIONS = 8
HEADER_CLIENT_COUNTS = (3, 8, 200)
WINDOW_S = 15.0
UPLOAD_WINDOW_S = 25.0
STALLED_UPLOAD_COUNTS = (3, 4)
WRK_SECONDS = 10
WRK_CONNECTIONS = 16


def start(lab: "Lab", worker_from: Path | None) -> "ApiSite":
    """Start the image on 127.0.0.1 on the server core (with the worker of worker_from, if given); wait for health."""
    mounts = {}
    if worker_from is not None:
        mounts = {
            str(worker_from / "starpunk" / "worker.py"): "/app/starpunk/worker.py",
            str(worker_from / "gunicorn.conf.py"): "/app/gunicorn.conf.py",
        }
    return lab.site(mounts=mounts, cpuset_cpus=str(SERVER_CORE))


def health_behind_idle(port: int) -> float:
    """Return the seconds /health takes while 8 connections sit on half a request."""
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_CONNECTIONS)]
    for sock in idle:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    plain_session().get(f"http://127.0.0.1:{port}/health", timeout=90)
    waited = time.monotonic() - started
    for sock in idle:
        sock.close()
    return waited


def wrk(url: str) -> float:
    """Return wrk's requests/s for url (1 thread on core 0, 16 connections, 10 s; see loadtests/wrk.py)."""
    return run_wrk(url, WRK_SECONDS, WRK_CONNECTIONS).rps


def slow_client_rows(label: str, port: int, paths: list[str], token: str) -> list[str]:
    """Return the rows of the slow-client measurements against 127.0.0.1:port."""
    rows = [f"| {label} | /health behind {IDLE_CONNECTIONS} idle connections | {health_behind_idle(port):.2f} s |"]
    for count in HEADER_CLIENT_COUNTS:
        outcome = SlowClientRun(Target(port, "127.0.0.1"), paths, header_clients=count, window_s=WINDOW_S).run()
        rows.append(f"| {label} | readers with {count} slow-header clients ({WINDOW_S:.0f} s) | {outcome.summary()} |")
    for uploads in STALLED_UPLOAD_COUNTS:
        outcome = SlowClientRun.stalled_uploads(Target(port, "127.0.0.1"), paths, uploads, token, UPLOAD_WINDOW_S).run()
        rows.append(
            f"| {label} | readers with {uploads} uploads trickling 1 KB/s, then stalling ({UPLOAD_WINDOW_S:.0f} s) "
            f"| {outcome.summary()} |"
        )
    return rows


def measure(
    image: str, worker_from: Path | None, label: str, only_throughput: bool = False, repeat: int = 1
) -> list[str]:
    """Run every measurement on one container and return the table rows."""
    from testkit.site import standalone_lab

    rows = []
    with standalone_lab(image, "slowbench") as lab:
        site = start(lab, worker_from)
        slug = site.sign_in().publish("A note for the slow-client measurement. " + "words " * 30)
        token = site.run("flask", "--app", "starpunk", "token", "create", "--scope", "media").splitlines()[-1]
        paths = ["/", f"/note/{slug}", "/feed.xml"]
        if not only_throughput:
            rows += slow_client_rows(label, site.port, paths, token)
        for path in paths:
            figures = sorted(wrk(site.base_url + path) for _ in range(repeat))
            shown = ", ".join(f"{figure:.0f}" for figure in figures)
            rows.append(
                f"| {label} | wrk requests/s {path.split('/')[1] or '/'} (median of {repeat}: {shown}) "
                f"| {statistics.median(figures):.0f} |"
            )
        logs = site.logs()
        for marker in (
            "Perhaps out of memory",
            "WORKER TIMEOUT",
            "no complete request headers",
            "its body did not arrive",
        ):
            rows.append(f"| {label} | log lines containing '{marker}' | {logs.count(marker)} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="starpunk:latest")
    parser.add_argument("--worker-from", type=Path, default=None)
    parser.add_argument("--label", default="this worker")
    parser.add_argument("--only-throughput", action="store_true", help="skip the slow clients, measure wrk only")
    parser.add_argument("--repeat", type=int, default=1, help="wrk runs per page (the median is reported)")
    args = parser.parse_args(argv)
    print("| worker | measurement | result |\n|---|---|---|")
    for row in measure(args.image, args.worker_from, args.label, args.only_throughput, args.repeat):
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
