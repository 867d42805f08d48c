"""Measure the StarPunk image under load and write build/reports/load/report.{json,md,png}.

Run by `nox -s load`; arguments after `--` are parsed here, and any this
script does not know (e.g. --processes 2) are passed on to locust:

    python -m loadtests.bench --image starpunk:latest -u 50 -r 10 -t 60s
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker

from testkit import runs
from testkit.engine import EngineMissing, connect, local_image, sweep
from testkit.limits import GOALS, LIMITS, MB
from testkit.owner import Owner
from testkit.site import ApiSite, Lab

from .micropub import make_token, seed_tagged_photos
from .report import write_reports

HERE = Path(__file__).resolve().parent
STARTS = 5
POLL_SECONDS = 0.025
MEMORY_INTERVAL = 0.5
SEED_NOTES = 200
# Posted through Micropub after the others, so the index shows them: tags and a photo each, for the readers.
SEED_PHOTO_NOTES = 10
# The image run the way compose.yaml runs it: 1 CPU, 512 MB, 4 workers, a data volume.
CPUS = 1
MEMORY_LIMIT_MB = 512
WORKERS = 4
# Pass/fail limits and the goals reported beside them live in testkit/limits.py, shared with the tests.


def parse_args(argv):
    """Split the benchmark's own options from those meant for locust."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="starpunk:latest")
    parser.add_argument("-u", "--users", type=int, default=50)
    parser.add_argument("-r", "--spawn-rate", type=float, default=10)
    parser.add_argument("-t", "--run-time", default="60s")
    parser.add_argument("--capacity-time", default="15s", help="length of each capacity run")
    parser.add_argument("--capacity-users", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("build/reports/load"))
    return parser.parse_known_args(argv)


def timed_start(site: ApiSite) -> float:
    """Stop the site (SIGTERM, exit 0), `start` the same container again, and return the seconds to its first 200 from /health."""
    site.stop()
    site.start_again(wait=False)
    return site.wait_healthy(interval=POLL_SECONDS)


def seed(owner: Owner, count: int) -> None:
    """Publish count notes through the admin form, as the author would."""
    token = owner.csrf_token()
    for n in range(count):
        content = (
            f"## Seed note {n}\n\nA note with *Markdown*, a [link](https://example.org/{n}) "
            f"and a list:\n\n- one\n- two & three\n\nNumber {n} of {count}."
        )
        reply = owner.post_note(content, csrf_token=token)
        if reply.status_code != 303:
            raise RuntimeError(f"seeding note {n} failed with HTTP {reply.status_code}")


class MemorySampler(threading.Thread):
    """Sample the container's working set (usage minus inactive file cache) every interval."""

    def __init__(self, container, interval=MEMORY_INTERVAL):
        super().__init__(daemon=True)
        self.container = container
        self.interval = interval
        self.samples = []
        self.started = time.monotonic()
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            tick = time.monotonic()
            stats = self.container.stats(stream=False, one_shot=True)
            memory = stats.get("memory_stats", {})
            inner = memory.get("stats", {})
            inactive = inner.get("total_inactive_file", inner.get("inactive_file", 0))
            if "usage" in memory:
                self.samples.append((tick - self.started, (memory["usage"] - inactive) / MB))
            self._stop_event.wait(max(0.0, self.interval - (time.monotonic() - tick)))

    def stop(self):
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join(timeout=10)


def run_locust(locustfile, base_url, users, spawn_rate, run_time, csv_prefix, extra, env=None, user_class=None):
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
    if user_class:
        command.append(user_class)
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


def measure(args, locust_args):
    """Run every measurement and return the report dictionary."""
    try:
        client = connect()
        local_image(client, args.image)
    except EngineMissing as exc:
        raise SystemExit(str(exc)) from None
    sweep(client)  # what earlier runs left, once the process that owned them is gone
    args.out.mkdir(parents=True, exist_ok=True)
    figures = image_figures(client, args.image)
    lab = Lab(client, args.image, figures["version"], runs.labels("load"))
    site = None
    try:
        site = lab.site(env={"WORKERS": str(WORKERS)}, nano_cpus=CPUS * 1_000_000_000, mem_limit=f"{MEMORY_LIMIT_MB}m")
        startups = [timed_start(site) for _ in range(STARTS)]
        seed(site.sign_in(), SEED_NOTES)
        token = make_token(site)
        seed_tagged_photos(site, token, SEED_PHOTO_NOTES)
        env = dict(os.environ, STARPUNK_LOGIN_URL=site.login_link(), STARPUNK_MICROPUB_TOKEN=token)
        sampler = MemorySampler(site.wrapped)
        sampler.start()
        # --reset-stats: the latency figures describe the steady state, once
        # every user has spawned, not the ramp-up (the chart shows both).
        mix_code = run_locust(
            "locustfile.py",
            site.base_url,
            args.users,
            args.spawn_rate,
            args.run_time,
            args.out / "mix",
            ["--reset-stats", *locust_args],
            env=env,
        )
        sampler.stop()
        capacity = {}
        for user_class in ("HealthCapacity", "FeedCapacity"):
            run_locust(
                "capacity.py",
                site.base_url,
                args.capacity_users,
                args.capacity_users,
                args.capacity_time,
                args.out / user_class,
                locust_args,
                user_class=user_class,
            )
            capacity[user_class] = read_stats(args.out / user_class)
        if mix_code not in (0, 1):
            raise RuntimeError(f"locust exited with {mix_code}\n{site.logs()[-4000:]}")
    except Exception:
        if site is not None:
            print(site.logs()[-4000:], file=sys.stderr)
        raise
    finally:
        lab.cleanup()

    endpoints = read_stats(args.out / "mix")
    memory = [mb for _, mb in sampler.samples]
    health_rps = capacity["HealthCapacity"]["Aggregated"]["rps"]
    feed_rps = capacity["FeedCapacity"]["Aggregated"]["rps"]
    return {
        "revision": git_revision(),
        "image": args.image,
        **figures,
        "parameters": {
            "users": args.users,
            "spawn_rate": args.spawn_rate,
            "run_time": args.run_time,
            "capacity_time": args.capacity_time,
            "capacity_users": args.capacity_users,
            "locust_args": locust_args,
            "seed_notes": SEED_NOTES,
            "cpus": CPUS,
            "memory_limit_mb": MEMORY_LIMIT_MB,
            "workers": WORKERS,
            "seed_photo_notes": SEED_PHOTO_NOTES,
        },
        "startup_s": {"runs": startups, "median": statistics.median(startups), "max": max(startups)},
        "memory_mb": {
            "peak": max(memory) if memory else None,
            "mean": statistics.fmean(memory) if memory else None,
            "samples": len(memory),
            "series": sampler.samples,
        },
        "endpoints": endpoints,
        "history": read_history(args.out / "mix"),
        "capacity": {
            "health_rps": health_rps,
            "feed_rps": feed_rps,
            "feed_health_ratio": feed_rps / health_rps if health_rps else None,
            "failures": sum(stats["Aggregated"]["failures"] for stats in capacity.values()),
        },
        "units": {
            "image_mb": "MB (10^6 bytes)",
            "startup_s": "seconds",
            "memory_mb": "MB (10^6 bytes)",
            "rps": "requests per second",
            "p50_ms": "milliseconds",
        },
        "limits": LIMITS,
        "goals": GOALS,
    }


def verdicts(report):
    """Return (failed limits, missed goals) as lists of readable lines."""
    endpoints = {name: e for name, e in report["endpoints"].items() if name != "Aggregated"}
    failures = report["endpoints"].get("Aggregated", {}).get("failures", 0) + report["capacity"]["failures"]
    failed = []
    if failures > LIMITS["failures"]:
        failed.append(f"{failures} failed request(s)")
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
    missed = []
    if report["image_mb"] > GOALS["image_mb"]:
        missed.append(f"image {report['image_mb']:.1f} MB > goal {GOALS['image_mb']} MB")
    if report["startup_s"]["median"] > GOALS["startup_median_s"]:
        missed.append(f"median startup {report['startup_s']['median']:.2f} s > goal {GOALS['startup_median_s']} s")
    if peak is not None and peak > GOALS["memory_peak_mb"]:
        missed.append(f"peak memory {peak:.1f} MB > goal {GOALS['memory_peak_mb']} MB")
    ratio = report["capacity"]["feed_health_ratio"]
    if ratio is None or ratio < GOALS["feed_health_ratio"]:
        missed.append(f"feed/health throughput ratio {ratio} < goal {GOALS['feed_health_ratio']}")
    return failed, missed


def main(argv=None):
    """Measure, write the reports, print the table, exit non-zero when a limit is missed."""
    args, locust_args = parse_args(sys.argv[1:] if argv is None else argv)
    report = measure(args, locust_args)
    failed, missed = verdicts(report)
    report["failed_limits"], report["missed_goals"] = failed, missed
    table = write_reports(report, args.out)
    print(table)
    if failed:
        print("LOAD TARGETS MISSED:\n- " + "\n- ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
