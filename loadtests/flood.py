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
its rounds. Beside requests/s, each run's requests per CPU-second of the
server (the flood's own CPU included) are compared with the quiet run's of
the same round, as loadtests/writes.py does: on the shared machine another
job's share of the server's core moves requests/s by half between runs,
while that ratio is what the flood itself takes from readers. The senders
use the standard library's http.client, not requests, whose own CPU per
request on the client core slowed wrk beside it: the load generator's cost,
not the site's.
The flood's answers are tallied by status: past the bound on waiting checks
per source host the endpoint answers 429.
"""

import http.client
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from .throughput import CONNECTIONS
from .wrk import WrkRun, run_wrk

RATE_PER_S = 10_000 / 60
# Enough that the schedule holds while the server takes up to about 0.1 s to answer each one.
SENDERS = 16
ROUNDS = 2
SECONDS = 2
SEND_TIMEOUT_S = 10
SOURCE = "http://127.0.0.1:9/flood/{number}"
# One wrk run and the server's CPU seconds over it.
Measured = tuple[WrkRun, float]


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

    def answered(self) -> int:
        """Return how many mentions have been answered so far (any status, or an error)."""
        with self._lock:
            return sum(self.statuses.values())

    def wait(self, seconds: float) -> None:
        """Let the flood run alone for seconds."""
        self._stop.wait(seconds)

    def _next(self) -> tuple[int, float]:
        """Return the next mention's number and when it is due (the schedule is shared by the threads)."""
        with self._lock:
            number = self._sent
            self._sent += 1
        return number, self._started + number / self.rate

    def _run(self) -> None:
        url = urlsplit(self.endpoint)
        while not self._stop.is_set():
            number, due = self._next()
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            body = urlencode({"source": SOURCE.format(number=number), "target": self.target})
            started = time.monotonic()
            # A connection per mention, as another site's sender opens one (Gunicorn's sync workers close it anyway).
            connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=SEND_TIMEOUT_S)
            try:
                connection.request("POST", url.path, body, {"Content-Type": "application/x-www-form-urlencoded"})
                reply = connection.getresponse()
                reply.read()
                status = str(reply.status)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
            finally:
                connection.close()
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
    server_cpu_s: Callable[[], float] = lambda: 0.0,
) -> dict[str, Any]:
    """Measure each route (name -> path) quiet and under a flood, round after round; return the figures.

    Its signature follows loadtests/writes.py's measure on purpose: the same wrk and CPU hooks, faked alike in tests.

    server_cpu_s reads the server's CPU seconds so far (throughput.container_cpu_s).
    """
    runs: dict[str, dict[str, list[Measured]]] = {"quiet": {name: [] for name in routes}, "flood": {}}
    runs["flood"] = {name: [] for name in routes}
    sent: Counter[str] = Counter()
    flood_s = 0.0
    latencies: list[float] = []

    def measured(path: str) -> Measured:
        before = server_cpu_s()
        wrk = run(base_url + path, seconds, CONNECTIONS)
        return wrk, server_cpu_s() - before

    alone: list[tuple[float, int]] = []
    for _ in range(rounds):
        for name, path in routes.items():
            runs["quiet"][name].append(measured(path))
        started = time.monotonic()
        with Flood(base_url + "/webmention", target) as flood:
            # The flood alone first, its start included (the bound filling): the server's CPU per mention answered.
            before_cpu, before_answered = server_cpu_s(), flood.answered()
            flood.wait(seconds)
            alone.append((server_cpu_s() - before_cpu, flood.answered() - before_answered))
            for name, path in routes.items():
                runs["flood"][name].append(measured(path))
        flood_s += time.monotonic() - started
        sent.update(flood.statuses)
        latencies += flood.latencies_ms
    figures = summarize(runs, sent, flood_s, latencies)
    figures["cpu_ms"] = cpu_per_request_ms(runs["quiet"], alone)
    return figures


def cpu_per_request_ms(quiet: dict[str, list[Measured]], alone: list[tuple[float, int]]) -> dict[str, float | None]:
    """Return the server's CPU ms per mention of the flood alone and per quiet reader request (medians of rounds)."""
    mentions = [cpu_s * 1000 / answered for cpu_s, answered in alone if answered and cpu_s > 0]
    readers = [cpu_s * 1000 / run.requests for runs in quiet.values() for run, cpu_s in runs if run.requests and cpu_s]
    return {
        "mention": statistics.median(mentions) if mentions else None,
        "reader": statistics.median(readers) if readers else None,
    }


def _per_cpu_second(measured: Measured) -> float:
    wrk, cpu_s = measured
    return wrk.requests / cpu_s if cpu_s > 0 else 0.0


def _cost_ratio(flooded: list[Measured], quiet: list[Measured]) -> float | None:
    """Return the median over rounds of the flood run's requests per server CPU-second over the quiet run's."""
    ratios = [
        _per_cpu_second(run) / _per_cpu_second(base)
        for run, base in zip(flooded, quiet, strict=True)
        if _per_cpu_second(base) and _per_cpu_second(run)
    ]
    return statistics.median(ratios) if ratios else None


def summarize(
    runs: dict[str, dict[str, list[Measured]]], sent: Counter[str], flood_s: float, latencies: list[float]
) -> dict[str, Any]:
    """Return each route's median p95 and req/s quiet and under the flood, and the flood's answers by status.

    cost_ratio: the flood's requests per server CPU-second over quiet's, paired by round (None without CPU figures).
    """
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
                **{
                    state: {
                        "p95_ms": statistics.median(run.p95_ms for run, _ in runs[state][name]),
                        "rps": statistics.median(run.rps for run, _ in runs[state][name]),
                        "errors": sum(run.errors for run, _ in runs[state][name]),
                    }
                    for state in ("quiet", "flood")
                },
                "cost_ratio": _cost_ratio(runs["flood"][name], runs["quiet"][name]),
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
        "| route | quiet p95 ms | flood p95 ms | quiet req/s | flood req/s | flood ÷ quiet per CPU-second |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, route in under["routes"].items():
        quiet, flooded, cost = route["quiet"], route["flood"], route.get("cost_ratio")
        lines.append(
            f"| `{name}` | {quiet['p95_ms']:.1f} | {flooded['p95_ms']:.1f} "
            f"| {quiet['rps']:,.0f} | {flooded['rps']:,.0f} | {'—' if cost is None else f'{cost:.2f}'} |"
        )
    cpu = under.get("cpu_ms", {})
    if cpu.get("mention") and cpu.get("reader"):
        share = cpu["mention"] * RATE_PER_S / 1000
        lines += [
            "",
            f"The server's CPU per request: {cpu['mention']:.2f} ms per mention of the flood alone (its first "
            f"{SECONDS} s each round, the bound filling included, and the "
            f"site's idle work), {cpu['reader']:.2f} ms per quiet reader's request; at issue 24's rate the flood "
            f"takes {share:.0%} of one core.",
        ]
    lines += [
        "",
        "The flood's sources are refused by the check's address rules, so nothing leaves 127.0.0.1; what it "
        "costs is the endpoint, the bound on waiting checks (429 beyond it, answered before Flask by "
        "starpunk/floodgate.py) and the queue. The last column is the readers' requests per CPU-second of the "
        "server during the flood over quiet's (paired by round, median): the share of the server the flood "
        "leaves readers, whatever else the shared machine runs. Reported, not judged.",
        "",
    ]
    return lines
