"""Readers during a Webmention flood: wrk on /, a permalink and /feed.xml, quiet and while one host floods /webmention.

A flood is issue 24's: 10,000 well-formed Webmentions from one source host in
a minute (RATE_PER_S), sent on a fixed schedule by SENDERS threads on the
client core beside wrk for as long as the readers are measured. Its sources
are on 127.0.0.1's discard port, so the site's check refuses them by the
address rules (the load site allows no private network) without a connection
or a DNS lookup: what the flood costs is the endpoint, the queue and the
check, as it would from a real host whose pages the check then reads. Each
round measures every route quiet, then under the flood, so a slow spell of
the shared machine lands on both alike; a route's figure is the median of
its rounds. The flood's answers are tallied by status: past the bound on
waiting checks per source host the endpoint answers 429.
"""

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from testkit.web import plain_session

from .throughput import CONNECTIONS
from .wrk import WrkRun, run_wrk

RATE_PER_S = 10_000 / 60
SENDERS = 4
ROUNDS = 2
SECONDS = 2
SEND_TIMEOUT_S = 10
SOURCE = "http://127.0.0.1:9/flood/{number}"


@dataclass
class Flood:
    """Sends Webmentions to target from one source host at rate per second, on SENDERS threads, until stopped."""

    endpoint: str
    target: str
    rate: float = RATE_PER_S
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SENDERS)]

    def __enter__(self) -> "Flood":
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=SEND_TIMEOUT_S + 5)

    def _next(self) -> tuple[int, float]:
        """Return the next mention's number and when it is due (the schedule is shared by the threads)."""
        with self._lock:
            number = self._sent
            self._sent += 1
        return number, self._started + number / self.rate

    def _run(self) -> None:
        http = plain_session()
        while not self._stop.is_set():
            number, due = self._next()
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            started = time.monotonic()
            try:
                reply = http.post(
                    self.endpoint,
                    data={"source": SOURCE.format(number=number), "target": self.target},
                    timeout=SEND_TIMEOUT_S,
                )
                status = str(reply.status_code)
            except requests.RequestException as exc:
                status = type(exc).__name__
            with self._lock:
                self.statuses[status] += 1
                self.latencies_ms.append((time.monotonic() - started) * 1000)


def measure(
    base_url: str,
    target: str,
    routes: dict[str, str],
    rounds: int = ROUNDS,
    seconds: int = SECONDS,
    run: Callable[..., WrkRun] = run_wrk,
) -> dict[str, Any]:
    """Measure each route (name -> path) quiet and under a flood, round after round; return the figures."""
    runs: dict[str, dict[str, list[WrkRun]]] = {"quiet": {name: [] for name in routes}, "flood": {}}
    runs["flood"] = {name: [] for name in routes}
    sent: Counter[str] = Counter()
    flood_s = 0.0
    latencies: list[float] = []
    for _ in range(rounds):
        for name, path in routes.items():
            runs["quiet"][name].append(run(base_url + path, seconds, CONNECTIONS))
        started = time.monotonic()
        with Flood(base_url + "/webmention", target) as flood:
            for name, path in routes.items():
                runs["flood"][name].append(run(base_url + path, seconds, CONNECTIONS))
        flood_s += time.monotonic() - started
        sent.update(flood.statuses)
        latencies += flood.latencies_ms
    return summarize(runs, sent, flood_s, latencies)


def summarize(
    runs: dict[str, dict[str, list[WrkRun]]], sent: Counter[str], flood_s: float, latencies: list[float]
) -> dict[str, Any]:
    """Return each route's median p95 and req/s quiet and under the flood, and the flood's answers by status."""
    ordered = sorted(latencies)
    return {
        "flood": {
            "sent": sum(sent.values()),
            "per_s": sum(sent.values()) / flood_s if flood_s else 0.0,
            "statuses": dict(sorted(sent.items())),
            "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] if ordered else None,
        },
        "routes": {
            name: {
                state: {
                    "p95_ms": statistics.median(run.p95_ms for run in runs[state][name]),
                    "rps": statistics.median(run.rps for run in runs[state][name]),
                    "errors": sum(run.errors for run in runs[state][name]),
                }
                for state in ("quiet", "flood")
            }
            for name in runs["quiet"]
        },
    }


def flood_table(report):
    """Return the Webmention-flood section: each reader route's p95 and req/s quiet and while one host floods."""
    under = report.get("under_flood")
    if not under:
        return []
    sent, left = under["flood"], under.get("left", {})
    jobs = ", ".join(f"{state}: {count}" for state, count in left.get("jobs", {}).items()) or "none"
    statuses = ", ".join(f"{status}: {count}" for status, count in sent["statuses"].items()) or "none"
    lines = [
        f"## Readers during a Webmention flood ({report['parameters']['write_rounds']} rounds, quiet then flooded)",
        "",
        f"One source host sent {sent['sent']} Webmentions at {sent['per_s']:.0f}/s (issue 24's flood is 10,000 a "
        f"minute, {10_000 / 60:.0f}/s); answers by status: {statuses}. Jobs left by state: {jobs}; "
        f"stored mentions: {left.get('mentions', '—')}.",
        "",
        "| route | quiet p95 ms | flood p95 ms | quiet req/s | flood req/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, route in under["routes"].items():
        quiet, flooded = route["quiet"], route["flood"]
        lines.append(
            f"| `{name}` | {quiet['p95_ms']:.1f} | {flooded['p95_ms']:.1f} "
            f"| {quiet['rps']:,.0f} | {flooded['rps']:,.0f} |"
        )
    lines += [
        "",
        "The flood's sources are refused by the check's address rules, so nothing leaves 127.0.0.1; what it "
        "costs is the endpoint, the bound on waiting checks (429 beyond it) and the queue. Reported, not judged.",
        "",
    ]
    return lines
