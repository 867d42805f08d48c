"""Readers while the author writes: wrk on /, a permalink and /feed.xml, quiet and while notes are posted at a rate.

Every note written bumps the content generation, so every worker renders the
pages and feeds readers ask for again. This measures what readers notice:
each round runs wrk on each reader route with no writes (quiet), then while
a writer posts notes through Micropub at 1 per second, then at 10 per second
(RATES), so a slow moment of a shared machine lands on every state alike. A
route's figure is the median of its rounds; its ratio to quiet is the median
of the per-round ratios, in requests/s and in requests per CPU-second of the
server (the writes' own CPU included: what readers lose to them). The goal
judges the latter: on a shared machine another job's share of the server's
core moved a route's requests/s by half between two runs of the same state,
while requests per CPU-second moved by about a tenth. The writer runs on the
client core beside wrk and posts on a fixed schedule (a late post is sent at
once, never skipped).
"""

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from testkit.web import plain_session

from .throughput import CONNECTIONS
from .wrk import WrkRun, run_wrk

RATES = (0, 1, 10)
ROUNDS = 2
SECONDS = 2
WRITE_TIMEOUT_S = 10


@dataclass
class Writer:
    """Posts notes through Micropub at rate per second, on a thread, until stopped; counts what was acknowledged."""

    micropub_url: str
    token: str
    rate: float
    written: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._http = plain_session()

    def __enter__(self) -> "Writer":
        if self.rate > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=WRITE_TIMEOUT_S + 5)

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            self._post()
            due += 1 / self.rate
            self._stop.wait(max(0.0, due - time.monotonic()))

    def _post(self) -> None:
        started = time.monotonic()
        try:
            reply = self._http.post(
                self.micropub_url,
                data={"h": "entry", "content": f"A note written while readers read ({self.written + 1})."},
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=WRITE_TIMEOUT_S,
            )
            ok = reply.status_code in (201, 202)
        except requests.RequestException:
            ok = False
        self.latencies_ms.append((time.monotonic() - started) * 1000)
        if ok:
            self.written += 1
        else:
            self.failed += 1


def measure(
    base_url: str,
    token: str,
    routes: dict[str, str],
    rates: tuple[int, ...] = RATES,
    rounds: int = ROUNDS,
    seconds: int = SECONDS,
    run: Callable[..., WrkRun] = run_wrk,
    server_cpu_s: Callable[[], float] = lambda: 0.0,
) -> dict[str, Any]:
    """Measure each route (name -> path) at each write rate, round after round; return the figures by rate.

    server_cpu_s reads the server's CPU seconds so far (throughput.container_cpu_s).
    """
    runs: dict[int, dict[str, list[tuple[WrkRun, float]]]] = {rate: {name: [] for name in routes} for rate in rates}
    writes: dict[int, dict[str, Any]] = {
        rate: {"written": 0, "failed": 0, "seconds": 0.0, "latencies_ms": []} for rate in rates
    }
    for _ in range(rounds):
        for rate in rates:
            started = time.monotonic()
            with Writer(base_url + "/micropub", token, rate) as writer:
                for name, path in routes.items():
                    before = server_cpu_s()
                    measured = run(base_url + path, seconds, CONNECTIONS)
                    runs[rate][name].append((measured, server_cpu_s() - before))
            tally = writes[rate]
            tally["written"] += writer.written
            tally["failed"] += writer.failed
            tally["seconds"] += time.monotonic() - started
            tally["latencies_ms"] += writer.latencies_ms
    return summarize(runs, writes)


def _per_cpu_second(run: WrkRun, cpu_s: float) -> float:
    return run.requests / cpu_s if cpu_s > 0 else 0.0


def _paired(runs: list[tuple[WrkRun, float]], quiet: list[tuple[WrkRun, float]], per_cpu: bool) -> float:
    """Return the median over rounds of a run's figure over the quiet run's of the same round."""
    ratios = []
    for (run, cpu_s), (base, base_cpu_s) in zip(runs, quiet, strict=True):
        value, reference = (
            (_per_cpu_second(run, cpu_s), _per_cpu_second(base, base_cpu_s))
            if per_cpu
            else (
                run.rps,
                base.rps,
            )
        )
        if reference:
            ratios.append(value / reference)
    return statistics.median(ratios) if ratios else 0.0


def summarize(
    runs: dict[int, dict[str, list[tuple[WrkRun, float]]]], writes: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """Return, by rate, each route's median req/s and p95, its ratios to quiet (paired by round), and the writes."""
    quiet = runs[0]
    figures: dict[str, Any] = {}
    for rate, routes in runs.items():
        tally = writes[rate]
        latencies = sorted(tally["latencies_ms"])
        figures[str(rate)] = {
            "writes_per_s": tally["written"] / tally["seconds"] if tally["seconds"] else 0.0,
            "written": tally["written"],
            "failed": tally["failed"],
            "write_p95_ms": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
            "routes": {
                name: {
                    "rps": statistics.median(run.rps for run, _ in route_runs),
                    "p95_ms": statistics.median(run.p95_ms for run, _ in route_runs),
                    "errors": sum(run.errors for run, _ in route_runs),
                    "error_kinds": [kind for run, _ in route_runs for kind in run.error_kinds],
                    "ratio_to_quiet": _paired(route_runs, quiet[name], per_cpu=False),
                    # What the goal judges: requests per CPU-second of the server over quiet's.
                    "cost_ratio_to_quiet": _paired(route_runs, quiet[name], per_cpu=True),
                }
                for name, route_runs in routes.items()
            },
        }
    return figures
