"""Measure the StarPunk image under load and write build/reports/load/report.{json,md,png}.

Run by `nox -s load`; arguments after `--` are parsed here, and any this
script does not know (e.g. --processes 2) are passed on to locust:

    python -m loadtests.bench --image starpunk:latest -u 50 -r 10 -t 60s
    python -m loadtests.bench --image starpunk:latest --write-baseline
    python -m loadtests.bench --image starpunk:latest --workers-sweep   # loadtests/workers.py, slow

The app runs on core 1 and every load generator on core 0. Phases, in order:
seeding; start-up of StarPunk beside the framework floor
(loadtests/floor/floorapp.py in the same image, with the same
gunicorn.conf.py) and the engine's own start (loadtests/startup.py); the
locust mix, with StarPunk's working set
sampled and each process's memory read after it (loadtests/memory.py);
StarPunk started afresh under the readers alone, then the floor under the
same readers, for the memory goal; wrk on StarPunk's routes beside
the floor and nginx serving the same feed bytes from disk
(loadtests/throughput.py); readers while notes are written at 1 and 10 per
second (loadtests/writes.py). The ratios are checked against
loadtests/baseline.json (loadtests/baseline.py).
"""

import argparse
import contextlib
import csv
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from testkit.env import SITE_URL
from testkit.limits import (
    BASELINE_MIN_SERVER_CPU,
    BASELINE_TOLERANCE,
    FLOOR_RATIO_GOAL,
    GOALS,
    LIMITS,
    MB,
    NOT_MODIFIED_FLOOR_RATIO_GOAL,
    SATURATION_P95_MS,
)
from testkit.site import standalone_lab
from testkit.web import plain_session

from . import flood, memory, startup, throughput, writes
from .baseline import BASELINE, FLOOR, LIMIT, LIMIT_RATIO, judge, other_ratios, read_baseline, write_baseline
from .micropub import make_token, seed_tagged_photos
from .report import write_reports
from .seeding import idle_queue, seed
from .wrk import CLIENT_CORE, SERVER_CORE

HERE = Path(__file__).resolve().parent
SEED_NOTES = 200
# Posted through Micropub after the others, so the index shows them: tags and a photo each, for the readers.
SEED_PHOTO_NOTES = 10
# The image run the way compose.yaml runs it: 1 CPU, 512 MB, the default 2 workers (gunicorn.conf.py), a data volume.
CPUS = 1
MEMORY_LIMIT_MB = 512
WORKERS = 2
# Pass/fail limits and the goals reported beside them live in testkit/limits.py, shared with the tests.
FLOOR_APP = startup.FLOOR_APP
# What makes the locust mix run the author (loadtests/locustfile.py): without them, the readers alone run.
AUTHOR_ENV = ("STARPUNK_LOGIN_URL", "STARPUNK_MICROPUB_TOKEN")
NOT_MODIFIED = "/feed.xml 304"
# StarPunk's routes measured against the floor, each with the goal of its ratio (None: reported only).
ROUTES = {
    "/feed.xml": FLOOR_RATIO_GOAL,
    "/feed.atom": FLOOR_RATIO_GOAL,
    "/feed.json": FLOOR_RATIO_GOAL,
    "/note/<slug>": FLOOR_RATIO_GOAL,
    "/": FLOOR_RATIO_GOAL,
    NOT_MODIFIED: NOT_MODIFIED_FLOOR_RATIO_GOAL,
    "/health": None,
}
BASELINE_ROUNDS_FACTOR = 3
# The floor's memory is measured under the same readers (locust, the same users and spawn rate) for this long:
# it serves the same bytes whatever it is asked, so its working set is flat once every user runs.
FLOOR_MIX_TIME = "15s"
NOTE_LINK = re.compile(r'href="[^"]*?(/note/[a-z0-9-]+)"')


def parse_args(argv):
    """Split the benchmark's own options from those meant for locust."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="starpunk:latest")
    parser.add_argument("-u", "--users", type=int, default=50)
    parser.add_argument("-r", "--spawn-rate", type=float, default=10)
    # 40 s (60 s until issue 23): about 800 requests after the ramp-up, plenty for each endpoint's p95, and the
    # session's time went to the floor's memory, the start-ups beside the floor and the readers under writes.
    parser.add_argument("-t", "--run-time", default="40s")
    parser.add_argument("--wrk-rounds", type=int, default=throughput.ROUNDS, help="wrk runs per target (median)")
    parser.add_argument("--wrk-seconds", type=int, default=throughput.SECONDS, help="length of each wrk run")
    parser.add_argument("--starts", type=int, default=startup.ROUNDS, help="start-ups of each kind (median, max)")
    parser.add_argument("--workers", type=int, default=WORKERS, help="Gunicorn workers of StarPunk and the floor")
    parser.add_argument("--floor-mix-time", default=FLOOR_MIX_TIME, help="how long the floor serves the readers")
    parser.add_argument(
        "--write-rounds", type=int, default=writes.ROUNDS, help="rounds of readers quiet and under writes"
    )
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="the committed ratios to compare with")
    parser.add_argument(
        "--write-baseline", action="store_true", help="write this run's ratios to --baseline instead of comparing"
    )
    parser.add_argument(
        "--min-server-cpu",
        type=float,
        default=BASELINE_MIN_SERVER_CPU,
        help="judge the baseline only when the floor's server had this share of its core (0: always)",
    )
    parser.add_argument("--out", type=Path, default=Path("build/reports/load"))
    parser.add_argument(
        "--flood-only",
        action="store_true",
        help="instead: only readers quiet and under the Webmention flood, on a seeded site (OUT/flood.md)",
    )
    parser.add_argument(
        "--workers-sweep",
        action="store_true",
        help="instead: measure 1-4 workers for the default WORKERS (loadtests/workers.py; about 10 minutes)",
    )
    return parser.parse_known_args(argv)


def run_locust(locustfile, base_url, users, spawn_rate, run_time, csv_prefix, extra, env=None):
    """Run locust headless as a subprocess; return its exit code."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / locustfile),
        "--headless",
        "--host",
        base_url,
        "-u",
        str(users),
        "-r",
        str(spawn_rate),
        "-t",
        run_time,
        "--csv",
        str(csv_prefix),
        "--csv-full-history",
        "--only-summary",
        "--stop-timeout",
        "5",
        *extra,
    ]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, env=env, check=False).returncode


def _number(text):
    """Return locust's CSV figure as a float; "N/A" (no request yet) is 0."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def read_stats(csv_prefix):
    """Return locust's per-endpoint figures from <prefix>_stats.csv."""
    rows = {}
    with open(f"{csv_prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["Name"]] = {
                "method": row["Type"],
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": _number(row["Requests/s"]),
                "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
            }
    return rows


def read_history(csv_prefix):
    """Return the aggregated requests/s and p95 over time from <prefix>_stats_history.csv."""
    points = []
    with open(f"{csv_prefix}_stats_history.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                points.append((int(row["Timestamp"]), _number(row["Requests/s"]), _number(row["95%"])))
    if not points:
        return []
    first = points[0][0]
    return [(stamp - first, rps, p95) for stamp, rps, p95 in points]


def image_figures(client, tag):
    """Return the image id, its size and the size of the layers the Containerfile adds, in MB."""
    image = client.images.get(tag)
    base_name = image.labels.get("org.opencontainers.image.base.name")
    history = image.history()
    own = history
    if base_name:
        try:
            base = client.images.get(base_name)
        except docker.errors.ImageNotFound:
            base = None
        # A final stage FROM scratch holds none of the base's layers: then every layer is StarPunk's.
        base_layers = base.attrs["RootFS"]["Layers"] if base else []
        if base and image.attrs["RootFS"]["Layers"][: len(base_layers)] == base_layers:
            own = history[: len(history) - len(base.history())]
    return {
        "image_id": image.id,
        "image_mb": image.attrs["Size"] / MB,
        "app_layers_mb": sum(layer["Size"] for layer in own) / MB,
        "base_image": base_name,
        "version": image.labels.get("org.opencontainers.image.version"),
    }


def git_revision():
    """Return the checked-out commit, or "unknown"."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def pin_to_client_core():
    """Keep this process and the generators it starts (locust, wrk) on the client core; return whether it could."""
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return False
    os.sched_setaffinity(0, {CLIENT_CORE})
    return True


def server_limits(pinned):
    """Return the limits the image runs under, compose.yaml's (1 CPU, 512 MB), on the server core when pinned."""
    limits = {"nano_cpus": CPUS * 1_000_000_000, "mem_limit": f"{MEMORY_LIMIT_MB}m"}
    if pinned:
        limits["cpuset_cpus"] = str(SERVER_CORE)
    return limits


def children_cpu_s():
    """Return the CPU seconds (user + system) of every child process that has ended so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def phase(phases, name):
    """Record how long a part of the run takes, in phases[name] (seconds), and say so."""
    started = time.monotonic()
    try:
        yield
    finally:
        phases[name] = time.monotonic() - started
        print(f"bench: {name} took {phases[name]:.1f} s", flush=True)


def feed_snapshot(site):
    """Return StarPunk's /feed.xml as it serves it now: its bytes and its ETag."""
    reply = site.get("/feed.xml", headers={"Accept-Encoding": "identity"})
    if reply.status_code != 200 or not reply.headers.get("ETag"):
        raise RuntimeError(f"/feed.xml answered {reply.status_code} with ETag {reply.headers.get('ETag')!r}")
    return reply.content, reply.headers["ETag"]


def newest_note(site):
    """Return the path of the newest note the index links to."""
    found = NOTE_LINK.search(site.get("/").text)
    if not found:
        raise RuntimeError("the index links to no note")
    return found.group(1)


def start_floor(lab, volume, feed_file, container_limits, workers, **options):
    """Start the framework floor (same image, gunicorn.conf.py and workers) on the same volume, serving feed_file."""
    return startup.floor_site(lab, feed_file, workers, data=volume, **options, **container_limits)


def build_targets(site, floor, limit, note, etag):
    """Return what wrk measures: the floor, nginx's limit, then StarPunk's routes."""
    site_cpu = throughput.container_cpu_s(site.wrapped)
    paths = {name: name for name in ROUTES} | {"/note/<slug>": note, NOT_MODIFIED: "/feed.xml"}
    targets = [
        throughput.Target(FLOOR, floor.base_url + "/feed.xml", throughput.container_cpu_s(floor.wrapped)),
        throughput.Target(LIMIT, limit.url, limit.cpu_s),
    ]
    for name in ROUTES:
        headers = (f"If-None-Match: {etag}",) if name == NOT_MODIFIED else ()
        targets.append(throughput.Target(name, site.base_url + paths[name], site_cpu, headers))
    return targets


def check_targets(targets, feed):
    """Ask each target once.

    The floor and nginx serve the feed's exact bytes, the conditional GET gets 304, the rest 200.
    """
    http = plain_session()
    for target in targets:
        headers = dict(header.split(": ", 1) for header in target.headers)
        reply = http.get(target.url, headers={"Accept-Encoding": "identity", **headers}, timeout=10)
        expected = 304 if target.name == NOT_MODIFIED else 200
        if reply.status_code != expected:
            raise RuntimeError(f"{target.name} ({target.url}) answered {reply.status_code}, not {expected}")
        if target.name in (FLOOR, LIMIT) and reply.content != feed:
            raise RuntimeError(f"{target.name} does not serve the exact bytes of StarPunk's /feed.xml")


def mix_cpu_figures(server_cpu, started, server_before, locust_before):
    """Return the seconds since started and the CPU shares of locust and the server over them."""
    seconds = time.monotonic() - started
    return {
        "seconds": seconds,
        "locust": (children_cpu_s() - locust_before) / seconds,
        "server": (server_cpu() - server_before) / seconds,
    }


def run_mix(site, args, locust_args, out, run_time, env):
    """Run the locust mix against site with its working set sampled; return the sampler, CPU figures and exit code."""
    server_cpu = throughput.container_cpu_s(site.wrapped)
    sampler = memory.MemorySampler(site.wrapped)
    sampler.start()
    started, server_before, locust_before = time.monotonic(), server_cpu(), children_cpu_s()
    # --reset-stats: the latency figures describe the steady state, once
    # every user has spawned, not the ramp-up (the chart shows both).
    code = run_locust(
        "locustfile.py",
        site.base_url,
        args.users,
        args.spawn_rate,
        run_time,
        out,
        ["--reset-stats", *locust_args],
        env=env,
    )
    cpu = mix_cpu_figures(server_cpu, started, server_before, locust_before)
    sampler.stop()
    if code not in (0, 1):
        raise RuntimeError(f"locust exited with {code}\n{site.logs()[-4000:]}")
    return sampler, cpu, code


def measure(args, locust_args):
    """Run every measurement and return the report dictionary."""
    args.out.mkdir(parents=True, exist_ok=True)
    pinned = pin_to_client_core()
    with standalone_lab(args.image, "load") as lab:
        return measure_in(lab, pinned, args, locust_args)


def measure_in(lab, pinned, args, locust_args):
    """Run every measurement on lab's containers and return the report dictionary."""
    figures = image_figures(lab.client, args.image)
    container_limits = server_limits(pinned)
    phases = {}
    site = limit = None
    workers = {"WORKERS": str(args.workers)}
    workdir = tempfile.TemporaryDirectory(prefix="starpunk-load-")
    try:
        with phase(phases, "seeding"):
            volume = lab.volume()
            site = lab.site(data=volume, env=workers, **container_limits)
            seed(site.sign_in(), SEED_NOTES)
            token = make_token(site)
            seed_tagged_photos(site, token, SEED_PHOTO_NOTES)
            idle_queue(site)
        with phase(phases, "startups"):
            # On the seeded site, as a site restarts: the warm-up renders its notes and feeds.
            # The floor serves the bytes of StarPunk's feed; for its start-up and memory any bytes would do.
            floor_feed = Path(workdir.name) / "floor-feed.xml"
            floor_feed.write_bytes(feed_snapshot(site)[0])
            floor = start_floor(lab, volume, floor_feed, container_limits, args.workers)
            engine = startup.engine_site(lab, data=volume, **container_limits)
            starts = startup.measure(site, floor, engine, args.starts)
            site.start_again()
        with phase(phases, "locust mix"):
            env = dict(os.environ, STARPUNK_LOGIN_URL=site.login_link(), STARPUNK_MICROPUB_TOKEN=token)
            sampler, mix_cpu, _ = run_mix(site, args, locust_args, args.out / "mix", args.run_time, env)
            processes = memory.per_process(site.wrapped)
        with phase(phases, "readers-only mix"):
            # StarPunk afresh under the floor's mix, the same readers for the same time without the author:
            # the floor has no admin or Micropub, so this is the comparison the memory goal judges.
            site.restart()
            readers_env = {k: v for k, v in os.environ.items() if k not in AUTHOR_ENV}
            readers_sampler, _, _ = run_mix(
                site, args, locust_args, args.out / "readers-mix", args.floor_mix_time, readers_env
            )
            readers_processes = memory.per_process(site.wrapped)
            # The server core is the floor's next.
            site.stop()
        with phase(phases, "floor mix"):
            # The same readers against the floor (no author: it has no admin or Micropub), for its memory.
            floor.start_again()
            floor_env = dict(os.environ, STARPUNK_LOCUST_FLOOR="1")
            floor_sampler, floor_cpu, _ = run_mix(
                floor, args, locust_args, args.out / "floor-mix", args.floor_mix_time, floor_env
            )
            floor_processes = memory.per_process(floor.wrapped)
            floor.stop()
        with phase(phases, "throughput"):
            # wrk measures StarPunk and the floor in the host's network namespace, bound
            # to loopback: Docker's userland proxy, which every request to a published
            # port passes, ran on either core as the scheduler chose and cut some runs
            # to a third. StarPunk is a new container on the same volume, so its
            # master warmed up with everything the mix wrote, as a site's is after any
            # restart.
            site = lab.site(data=volume, env=workers, host_network=True, **container_limits)
            feed, etag = feed_snapshot(site)
            limit = throughput.StaticLimit(Path(workdir.name), "feed.xml", feed)
            limit.start()
            wrk_floor = start_floor(lab, volume, limit.file, container_limits, args.workers, host_network=True)
            note = newest_note(site)
            targets = build_targets(site, wrk_floor, limit, note, etag)
            check_targets(targets, feed)
            baseline = {} if args.write_baseline else read_baseline(args.baseline)
            points, rounds, floor_cpu_share, measured_again = measure_throughput(targets, args, baseline)
            wrk_floor.stop()
            limit.stop()
        with phase(phases, "readers under writes"):
            routes = {"/": "/", "/note/<slug>": note, "/feed.xml": "/feed.xml"}
            under_writes = writes.measure(
                site.base_url,
                token,
                routes,
                rounds=args.write_rounds,
                server_cpu_s=throughput.container_cpu_s(site.wrapped),
            )
        with phase(phases, "readers under a Webmention flood"):
            under_flood = measure_flood(site, note, routes, args.write_rounds)
    except Exception:
        if site is not None:
            print(site.logs()[-4000:], file=sys.stderr)
        if limit is not None:
            print(limit.logs(), file=sys.stderr)
        raise
    finally:
        if limit is not None:
            limit.stop()
        workdir.cleanup()

    cost_ratios = throughput.ratios_to_floor(points, FLOOR, LIMIT, throughput.per_cpu_second)
    startup_figures = starts.as_dict()
    memory_figures = {
        "starpunk": {**sampler.figures(), **processes},
        "starpunk_readers": {**readers_sampler.figures(), **readers_processes},
        "floor": {**floor_sampler.figures(), **floor_processes, "mix_cpu": floor_cpu},
    }
    floor_peak = memory_figures["floor"]["peak"]
    # The goal: StarPunk under the floor's own mix (the same readers, the same time) over the floor.
    memory_figures["over_floor_mb"] = _difference(memory_figures["starpunk_readers"]["peak"], floor_peak)
    # Reported beside it: the whole mix, the author's writes, photos and forms included, over the floor's readers.
    memory_figures["mix_over_floor_mb"] = _difference(memory_figures["starpunk"]["peak"], floor_peak)
    judged, below = judge(points, baseline, other_ratios(startup_figures, memory_figures, under_writes))
    return {
        "revision": git_revision(),
        "image": args.image,
        **figures,
        "parameters": {
            "users": args.users,
            "spawn_rate": args.spawn_rate,
            "run_time": args.run_time,
            "floor_mix_time": args.floor_mix_time,
            "locust_args": locust_args,
            "seed_notes": SEED_NOTES,
            "cpus": CPUS,
            "memory_limit_mb": MEMORY_LIMIT_MB,
            "workers": args.workers,
            "seed_photo_notes": SEED_PHOTO_NOTES,
            "pinned": pinned,
            "server_core": SERVER_CORE,
            "client_core": CLIENT_CORE,
            "wrk_rounds": rounds,
            "wrk_seconds": args.wrk_seconds,
            "wrk_connections": throughput.CONNECTIONS,
            "saturation_connections": throughput.SATURATION_CONNECTIONS,
            "feed_bytes": len(feed),
            "starts": args.starts,
            "write_rounds": args.write_rounds,
            "write_seconds": writes.SECONDS,
        },
        "phases_s": phases,
        "startup": startup_figures,
        "startup_s": startup_figures[startup.STARPUNK],
        "memory_mb": memory_figures["starpunk"],
        "memory": memory_figures,
        "mix_cpu": mix_cpu,
        "endpoints": read_stats(args.out / "mix"),
        "floor_endpoints": read_stats(args.out / "floor-mix"),
        "history": read_history(args.out / "mix"),
        "throughput": {name: throughput.summarize(runs).as_dict() for name, runs in points.items()},
        "under_writes": under_writes,
        "under_flood": under_flood,
        "floor": FLOOR,
        "limit": LIMIT,
        "limit_ratio": LIMIT_RATIO,
        "ratios": throughput.ratios_to_floor(points, FLOOR, LIMIT),
        "cost_ratios": cost_ratios,
        "judged_ratios": judged,
        "measured_again": measured_again,
        "baseline_judged": floor_cpu_share >= args.min_server_cpu,
        "floor_server_cpu": floor_cpu_share,
        "baseline_min_server_cpu": args.min_server_cpu,
        "regressions": list(below.values()),
        "route_goals": ROUTES,
        "not_modified": NOT_MODIFIED,
        "saturation_p95_ms": SATURATION_P95_MS,
        "baseline_tolerance": BASELINE_TOLERANCE,
        "baseline": baseline,
        "units": {
            "image_mb": "MB (10^6 bytes)",
            "startup_s": "seconds",
            "memory_mb": "MB (10^6 bytes)",
            "rps": "requests per second",
            "p50_ms": "milliseconds",
            "cpu": "CPU seconds per second of the run (1.0 is one core kept busy)",
        },
        "limits": LIMITS,
        "goals": GOALS,
    }


def measure_throughput(targets, args, baseline):
    """Run wrk on targets; return the points, the rounds run, the floor's share of its core and what ran again.

    When the floor had its core (--min-server-cpu), the routes below baseline are
    measured again, with the floor, for as many rounds more: a slow spell of a
    shared machine can push one ratio down; what is still below after that fails.
    """
    # A new baseline is taken over more rounds: its median is steadier than one run's.
    rounds = args.wrk_rounds * (BASELINE_ROUNDS_FACTOR if args.write_baseline else 1)
    points = throughput.measure(targets, rounds, args.wrk_seconds)
    floor_cpu_share = throughput.summarize(points[FLOOR]).server_cpu
    if floor_cpu_share < args.min_server_cpu:
        return points, rounds, floor_cpu_share, []
    _, below = judge(points, baseline)
    if below:
        wanted = {FLOOR, *below}
        again = [target for target in targets if target.name in wanted]
        print(f"bench: below baseline: {'; '.join(below.values())}; measuring them again", flush=True)
        throughput.measure_rounds(again, args.wrk_rounds, args.wrk_seconds, points)
    return points, rounds, floor_cpu_share, sorted(below)


def measure_flood(site, note, routes, rounds):
    """Measure readers of routes quiet and under the Webmention flood; add what the flood left behind."""
    server_cpu_s = throughput.container_cpu_s(site.wrapped)
    under_flood = flood.measure(site.base_url, SITE_URL + note, routes, rounds=rounds, server_cpu_s=server_cpu_s)
    # What the flood left behind is bounded by the endpoint's limits, not by what was sent.
    under_flood["left"] = {
        "jobs": dict(site.sqlite("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state")),
        "mentions": site.sqlite("SELECT count(*) FROM webmentions")[0][0],
    }
    return under_flood


def measure_flood_only(args):
    """Seed a site as the full run does and measure only its readers quiet and under the flood; return the lines."""
    args.out.mkdir(parents=True, exist_ok=True)
    container_limits = server_limits(pin_to_client_core())
    workers = {"WORKERS": str(args.workers)}
    site = None
    with standalone_lab(args.image, "load") as lab:
        try:
            volume = lab.volume()
            site = lab.site(data=volume, env=workers, **container_limits)
            seed(site.sign_in(), SEED_NOTES)
            idle_queue(site)
            site.stop()
            # As in the full run: a new container on the seeded volume, in the host's network namespace.
            site = lab.site(data=volume, env=workers, host_network=True, **container_limits)
            note = newest_note(site)
            routes = {"/": "/", "/note/<slug>": note, "/feed.xml": "/feed.xml"}
            under_flood = measure_flood(site, note, routes, args.write_rounds)
        except Exception:
            if site is not None:
                print(site.logs()[-4000:], file=sys.stderr)
            raise
    lines = flood.flood_table({"under_flood": under_flood, "parameters": {"write_rounds": args.write_rounds}})
    (args.out / "flood.md").write_text("\n".join(lines))
    return "\n".join(lines)


def _difference(a, b):
    return None if a is None or b is None else a - b


def write_errors(report):
    """Return the wrk errors and failed writes of the readers-under-writes phase."""
    rates = report["under_writes"].values()
    return sum(rate["failed"] + sum(route["errors"] for route in rate["routes"].values()) for rate in rates)


def verdicts(report):
    """Return (failed limits, missed goals) as lists of readable lines."""
    endpoints = {name: e for name, e in report["endpoints"].items() if name != "Aggregated"}
    mix_failures = report["endpoints"].get("Aggregated", {}).get("failures", 0)
    wrk_errors = sum(figure["errors"] for figure in report["throughput"].values()) + write_errors(report)
    failed = []
    if mix_failures + wrk_errors > LIMITS["failures"]:
        failed.append(f"{mix_failures} failed request(s) in the mix, {wrk_errors} wrk error(s) or failed write(s)")
    if report["image_mb"] >= LIMITS["image_mb"]:
        failed.append(f"image {report['image_mb']:.1f} MB ≥ {LIMITS['image_mb']} MB")
    if report["startup_s"]["median"] >= LIMITS["startup_median_s"]:
        failed.append(f"median startup {report['startup_s']['median']:.2f} s ≥ {LIMITS['startup_median_s']} s")
    peak = report["memory_mb"]["peak"]
    if peak is None or peak >= LIMITS["memory_peak_mb"]:
        failed.append(f"peak memory {peak} MB ≥ {LIMITS['memory_peak_mb']} MB (or not measured)")
    for name, entry in endpoints.items():
        if entry["p95_ms"] >= LIMITS["p95_ms"]:
            failed.append(f"p95 of {name} {entry['p95_ms']:.0f} ms ≥ {LIMITS['p95_ms']} ms")
    if report.get("baseline_judged", True):
        failed += [f"below baseline: {line}" for line in report.get("regressions", [])]
    return failed, missed_goals(report)


def missed_goals(report):
    """Return the goals this run missed, one readable line each."""
    missed = []
    if report["image_mb"] > GOALS["image_mb"]:
        missed.append(f"image {report['image_mb']:.1f} MB > goal {GOALS['image_mb']} MB")
    over = report["startup"]["over_floor_ms"]
    if over > GOALS["startup_over_floor_ms"]:
        missed.append(f"median startup {over:.0f} ms over the floor's > goal {GOALS['startup_over_floor_ms']} ms")
    peak = report["memory_mb"]["peak"]
    if peak is not None and peak > GOALS["memory_peak_mb"]:
        missed.append(f"peak memory {peak:.1f} MB > goal {GOALS['memory_peak_mb']} MB")
    over = report["memory"]["over_floor_mb"]
    if over is None or over > GOALS["memory_over_floor_mb"]:
        missed.append(f"peak memory over the floor's: {over} MB > goal {GOALS['memory_over_floor_mb']} MB")
    for name, goal in report["route_goals"].items():
        ratio = report["ratios"].get(name)
        if goal is None:
            continue
        if ratio is None:
            missed.append(f"{name}: no ratio to the floor measured (goal {goal})")
        elif ratio < goal:
            missed.append(f"{name} at {ratio:.2f} × the floor < goal {goal}")
    judged = report["under_writes"].get(str(GOALS["writes_judged_per_s"]), {"routes": {}})
    for name, route in judged["routes"].items():
        if route["cost_ratio_to_quiet"] < GOALS["readers_under_writes_ratio"]:
            missed.append(
                f"{name} at {route['cost_ratio_to_quiet']:.2f} × quiet (per CPU-second) while writing "
                f"{GOALS['writes_judged_per_s']:g}/s < goal {GOALS['readers_under_writes_ratio']}"
            )
        if route["p95_ms"] >= GOALS["readers_under_writes_p95_ms"]:
            missed.append(
                f"{name} p95 {route['p95_ms']:.0f} ms while writing {GOALS['writes_judged_per_s']:g}/s "
                f"≥ goal {GOALS['readers_under_writes_p95_ms']} ms"
            )
    return missed


def main(argv=None):
    """Measure, write the reports, print the table, exit non-zero when a limit or a baseline ratio is missed."""
    args, locust_args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.workers_sweep:
        from . import workers  # it builds on this module

        return workers.main(["--image", args.image, *locust_args])
    if args.flood_only:
        print(measure_flood_only(args))
        return 0
    report = measure(args, locust_args)
    if args.write_baseline:
        # Throughput as the medians of its rounds (the best round is judged against them), the rest as measured.
        ratios = {**report["judged_ratios"], **report["cost_ratios"]}
        write_baseline(ratios, report["revision"], report["image"], report["floor_server_cpu"], args.baseline)
        if not report["baseline_judged"]:
            print(
                f"bench: WARNING: the floor's server had {report['floor_server_cpu']:.0%} of its core: "
                "this machine was busy with something else; a baseline from a quiet one is steadier",
                flush=True,
            )
        report["baseline"] = read_baseline(args.baseline)
        report["baseline_written"] = str(args.baseline)
        print(f"bench: wrote this run's ratios to {args.baseline}; commit it", flush=True)
    failed, missed = verdicts(report)
    if not report["baseline_judged"] and not args.write_baseline:
        missed.append(
            f"baseline not judged: the floor's server had {report['floor_server_cpu']:.0%} of its core "
            f"(under {args.min_server_cpu:.0%}: another load shares this machine)"
            + (f"; below it: {'; '.join(report['regressions'])}" if report["regressions"] else "")
        )
    report["failed_limits"], report["missed_goals"] = failed, missed
    table = write_reports(report, args.out)
    print(table)
    if failed:
        print("LOAD TARGETS MISSED:\n- " + "\n- ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
