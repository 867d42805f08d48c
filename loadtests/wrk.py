"""Run wrk, bounded in time, from the load generator's core: requests/s, latency percentiles and wrk's own CPU time.

    run_wrk("http://127.0.0.1:8000/feed.xml", seconds=3, connections=16)

The benchmark (loadtests/bench.py), the slow-client figures (loadtests/slowclients.py)
and anything else that measures throughput share this one helper. wrk is a
closed loop: each connection sends its next request when the answer arrives.
"""

import json
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUMMARY_SCRIPT = Path(__file__).with_name("wrk_summary.lua")
# The server runs on core 1 (docker --cpuset-cpus 1); the generator on core 0.
CLIENT_CORE = 0
SERVER_CORE = 1
# wrk's own limit on one response; longer is a timeout error, not a long latency.
TIMEOUT_S = 5


@dataclass(frozen=True)
class WrkRun:
    """One wrk run's figures; latencies in ms, cpu_s is wrk's own user + system time."""

    url: str
    connections: int
    requests: int
    duration_s: float
    bytes: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    cpu_s: float
    # Which errors, when there were any: connect, read, write, status (a non-2xx/3xx answer), timeout.
    error_kinds: tuple[tuple[str, int], ...] = ()

    @property
    def rps(self) -> float:
        """Return the requests per second of the run."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def cpu_share(self) -> float:
        """Return wrk's CPU time over the run's length: 1.0 is one core kept busy."""
        return self.cpu_s / self.duration_s if self.duration_s else 0.0


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(
    url: str, seconds: int = 3, connections: int = 16, headers: tuple[str, ...] = (), core: int = CLIENT_CORE
) -> WrkRun:
    """Run wrk with one thread pinned to core for seconds at connections; return its figures."""
    command = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    command += ["--timeout", f"{TIMEOUT_S}s", "-s", str(SUMMARY_SCRIPT)]
    for header in headers:
        command += ["-H", header]
    before = _children_cpu_s()
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, check=False, timeout=seconds + TIMEOUT_S + 30
    )
    cpu_s = _children_cpu_s() - before
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"`{' '.join(command)} {url}` exited {result.returncode}: {result.stderr or result.stdout}")
    summary = json.loads(lines[-1])
    kinds = {key: summary[key] for key in summary if key.endswith("errors") or key == "timeouts"}
    errors = sum(kinds.values())
    return WrkRun(
        url=url,
        connections=connections,
        requests=summary["requests"],
        duration_s=summary["duration_us"] / 1e6,
        bytes=summary["bytes"],
        p50_ms=summary["p50_us"] / 1000,
        p95_ms=summary["p95_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=errors,
        cpu_s=cpu_s,
        error_kinds=tuple((key, count) for key, count in kinds.items() if count),
    )
