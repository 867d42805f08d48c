"""Throughput of StarPunk's routes beside the framework floor and nginx's static-file limit.

Measured with wrk in one run.

Every server runs on the server core (containers with --cpuset-cpus, nginx under
taskset) and wrk on the client core. Each target is measured in ROUNDS short
runs, interleaved (round 1 runs every target once, then round 2, ...), so a
slow moment of a shared machine lands on every target alike; a target's figure
is the median of its runs, and the ratios to the floor are taken in this run.

Saturation: wrk is a closed loop (each connection asks again when its answer
arrives), so latency grows with the connections once the server is busy. A
target's saturation figure is the highest requests/s among its runs at 1, 4,
16 and 64 connections whose p95 latency stays under SATURATION_P95_MS: after
the runs at 16 connections it tries 64 when they stayed under (more load
might still do), else 4 and then 1 (less load might get under).
"""

import signal
import socket
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.proxy import nginx_main_conf
from testkit.limits import SATURATION_P95_MS
from testkit.ports import free_port, loopback_url
from testkit.waiting import wait_for

from .wrk import SERVER_CORE, run_wrk

ROUNDS = 3
SECONDS = 1
CONNECTIONS = 16
SATURATION_CONNECTIONS = (1, 4, 16, 64)
FEED_TYPE = "application/rss+xml; charset=utf-8"
NGINX_STOP_TIMEOUT = 10


@dataclass(frozen=True)
class Target:
    """One thing to measure: a name for the report, its URL, the request headers, how to read its server's CPU time."""

    name: str
    url: str
    server_cpu_s: Callable[[], float]
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Point:
    """One wrk run of a target.

    Its connections, requests/s, p95, errors, and the CPU seconds of wrk and of the server.
    """

    connections: int
    rps: float
    p95_ms: float
    p99_ms: float
    errors: int
    duration_s: float
    wrk_cpu_s: float
    server_cpu_s: float


@dataclass
class Figures:
    """A target's figures: the median requests/s at CONNECTIONS, the saturation figure, and every run."""

    rps: float
    p95_ms: float
    errors: int
    wrk_cpu: float
    server_cpu: float
    saturation_rps: float | None
    saturation_connections: int | None
    points: list[Point] = field(default_factory=list)
    # Errors in the runs that probe past CONNECTIONS for the saturation figure: overload, reported, not failed.
    probe_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready data."""
        return asdict(self)


def run_point(target: Target, connections: int, seconds: int) -> Point:
    """Run wrk once against target and return the figures of that run."""
    before = target.server_cpu_s()
    run = run_wrk(target.url, seconds, connections, target.headers)
    server = target.server_cpu_s() - before
    return Point(connections, run.rps, run.p95_ms, run.p99_ms, run.errors, run.duration_s, run.cpu_s, max(server, 0.0))


def saturation(points: list[Point], limit_ms: float = SATURATION_P95_MS) -> Point | None:
    """Return the run with the highest requests/s whose p95 stayed under limit_ms, without errors (None if none)."""
    under = [point for point in points if point.p95_ms < limit_ms and not point.errors]
    return max(under, key=lambda point: point.rps) if under else None


def saturation_levels(points: list[Point], limit_ms: float = SATURATION_P95_MS) -> list[int]:
    """Return the connection counts to try after the runs at CONNECTIONS.

    Nearest first, in the direction that can help.
    """
    if saturation(points, limit_ms) is not None:
        return [count for count in SATURATION_CONNECTIONS if count > CONNECTIONS]
    return sorted((count for count in SATURATION_CONNECTIONS if count < CONNECTIONS), reverse=True)


def summarize(points: list[Point], limit_ms: float = SATURATION_P95_MS) -> Figures:
    """Return a target's figures from its runs: medians of the runs at CONNECTIONS, saturation from all."""
    steady = [point for point in points if point.connections == CONNECTIONS]
    seconds = sum(point.duration_s for point in steady) or 1.0
    best = saturation(points, limit_ms)
    return Figures(
        rps=statistics.median(point.rps for point in steady),
        p95_ms=statistics.median(point.p95_ms for point in steady),
        errors=sum(point.errors for point in steady),
        wrk_cpu=sum(point.wrk_cpu_s for point in steady) / seconds,
        server_cpu=sum(point.server_cpu_s for point in steady) / seconds,
        saturation_rps=best.rps if best else None,
        saturation_connections=best.connections if best else None,
        points=points,
        probe_errors=sum(point.errors for point in points if point.connections != CONNECTIONS),
    )


def measure_rounds(
    targets: list[Target], rounds: int, seconds: int, points: dict[str, list[Point]] | None = None
) -> dict[str, list[Point]]:
    """Run every target once per round at CONNECTIONS, round after round; add the runs to points and return it."""
    points = points if points is not None else {}
    for target in targets:
        points.setdefault(target.name, [])
    for number in range(rounds):
        # Each round starts one target later, so no target is always first after a pause.
        shift = number % len(targets)
        for target in targets[shift:] + targets[:shift]:
            points[target.name].append(run_point(target, CONNECTIONS, seconds))
    return points


def measure_saturation(targets: list[Target], seconds: int, points: dict[str, list[Point]]) -> None:
    """Add each target's runs at fewer or more connections than CONNECTIONS, as far as its saturation figure needs."""
    for target in targets:
        for connections in saturation_levels(points[target.name]):
            point = run_point(target, connections, seconds)
            points[target.name].append(point)
            # Up: stop at the first count over the limit; down: at the first under it.
            if (point.p95_ms < SATURATION_P95_MS) != (connections > CONNECTIONS):
                break


def measure(
    targets: list[Target], rounds: int = ROUNDS, seconds: int = SECONDS, say: Callable[[str], None] = print
) -> dict[str, list[Point]]:
    """Measure every target in interleaved rounds at CONNECTIONS, then its saturation; return the runs by name."""
    points = measure_rounds(targets, rounds, seconds)
    measure_saturation(targets, seconds, points)
    for name, runs in points.items():
        figure = summarize(runs)
        say(
            f"throughput: {name}: {figure.rps:.0f} req/s, p95 {figure.p95_ms:.1f} ms, {figure.errors} errors"
            f" (+{figure.probe_errors} probing saturation)"
        )
    return points


def _steady(points: list[Point]) -> list[Point]:
    return [point for point in points if point.connections == CONNECTIONS]


def _paired(
    target: list[Point],
    base: list[Point],
    measure: Callable[[Point], float],
    pick: Callable[[list[float]], float] = statistics.median,
) -> float | None:
    """Return pick (the median) of target's figure over base's in the same round (None if base measured 0)."""
    pairs = [(measure(a), measure(b)) for a, b in zip(_steady(target), _steady(base), strict=False)]
    values = [a / b for a, b in pairs if b]
    return pick(values) if values else None


def per_cpu_second(point: Point) -> float:
    """Return the requests a run served per CPU-second of its server.

    What a request costs, whatever CPU it was given.
    """
    return point.rps * point.duration_s / point.server_cpu_s if point.server_cpu_s else 0.0


def requests_per_second(point: Point) -> float:
    """Return a run's requests/s."""
    return point.rps


def ratios_to_floor(
    points: dict[str, list[Point]],
    floor: str,
    limit: str,
    measure: Callable[[Point], float] = requests_per_second,
    pick: Callable[[list[float]], float] = statistics.median,
) -> dict[str, float]:
    """Return each target's figure over the floor's and the floor's over the limit's.

    Each the median (or what pick takes, e.g. max: the best round) of per-round ratios.

    Pairing the runs of one round keeps a slow spell of a shared machine from
    landing on one side of a ratio only.
    """
    ratios = {}
    for name, runs in points.items():
        if name in (floor, limit):
            continue
        ratio = _paired(runs, points[floor], measure, pick)
        if ratio is not None:
            ratios[name] = ratio
    ratio = _paired(points[floor], points[limit], measure, pick)
    if ratio is not None:
        ratios[f"{floor} ÷ {limit}"] = ratio
    return ratios


def container_cpu_s(container: Any) -> Callable[[], float]:
    """Return a reader of a container's CPU seconds so far: its cgroup's counter, else the engine's stats (slower)."""
    full_id = container.id
    candidates = [
        (Path(f"/sys/fs/cgroup/cpuacct/docker/{full_id}/cpuacct.usage"), 1e-9),
        (Path(f"/sys/fs/cgroup/cpu,cpuacct/docker/{full_id}/cpuacct.usage"), 1e-9),
        (Path(f"/sys/fs/cgroup/docker/{full_id}/cpu.stat"), 1e-6),
        (Path(f"/sys/fs/cgroup/system.slice/docker-{full_id}.scope/cpu.stat"), 1e-6),
    ]
    for path, scale in candidates:
        if path.exists():
            return lambda path=path, scale=scale: _cgroup_counter(path) * scale

    def from_engine() -> float:
        stats = container.stats(stream=False, one_shot=True)
        return float(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9

    return from_engine


def _cgroup_counter(path: Path) -> int:
    text = path.read_text()
    if path.name == "cpu.stat":  # cgroup v2: "usage_usec N" among other lines
        return int(dict(line.split() for line in text.splitlines())["usage_usec"])
    return int(text)


class StaticLimit:
    """Debian's nginx serving one file from disk on 127.0.0.1, one worker on the server core.

    The limit of this machine.
    """

    def __init__(self, workdir: Path, name: str, body: bytes, content_type: str = FEED_TYPE) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        www = workdir / "www"
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        www.mkdir(exist_ok=True)
        # nginx's worker runs as nobody: it must reach the file.
        for folder in (workdir, www):
            folder.chmod(0o755)
        self.file = www / name
        self.file.write_bytes(body)
        self.file.chmod(0o644)
        site = workdir / "static.conf"
        site.write_text(
            "\n".join(
                [
                    "server {",
                    f"  listen 127.0.0.1:{self.port};",
                    # Debian's nginx.conf sends files with sendfile; no access log: this is the limit.
                    "  sendfile on;",
                    "  access_log off;",
                    f"  root {www};",
                    f'  location = /{name} {{ types {{ }} default_type "{content_type}"; }}',
                    "}",
                    "",
                ]
            )
        )
        self.config = workdir / "nginx.conf"
        self.config.write_text(nginx_main_conf(site, workdir))
        self.url = f"{loopback_url(self.port)}/{name}"

    def start(self) -> None:
        """Start nginx in the foreground of a child process pinned to the server core; wait until it answers."""
        command = ["taskset", "-c", str(SERVER_CORE), "nginx", "-c", str(self.config), "-p", f"{self.workdir}/"]
        command += ["-e", str(self.workdir / "error.log"), "-g", "daemon off;"]
        with (self.workdir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}: {self.logs()}")
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        wait_for(answers, f"nginx on 127.0.0.1:{self.port}", 10, 0.05, ignore=(OSError,))

    def cpu_s(self) -> float:
        """Return the CPU seconds nginx's master and workers have used so far."""
        import psutil

        if self.process is None:
            return 0.0
        master = psutil.Process(self.process.pid)
        total = 0.0
        for process in [master, *master.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
        return total

    def stop(self) -> None:
        """Stop nginx (SIGTERM, its fast shutdown; SIGKILL if it lingers)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(NGINX_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(NGINX_STOP_TIMEOUT)

    def logs(self) -> str:
        """Return nginx's output and error log."""
        parts = [path.read_text(errors="replace") for path in (self.workdir / "server.log", self.workdir / "error.log")]
        return "".join(part for part in parts if part)[-2000:] or "(no output)"
