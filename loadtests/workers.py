"""Choose the default WORKERS for one CPU by measurement: 1 to 4 workers side by side (slow; not part of `nox -s load`).

    python -m loadtests.workers --image starpunk:latest [--counts 1 2 3 4] [--out build/reports/workers]

For each worker count, on one seeded volume, StarPunk runs on core 1 with the
compose.yaml limits (1 CPU, 512 MB) in the host's network namespace, Gunicorn
bound to 127.0.0.1 with nothing in front (the bare port), and is measured:

- the locust mix (the readers and the author of `nox -s load`): p95 of all
  requests, the peak working set, each process's private and shared memory;
- the slow-client figures of issue 14 at the bare port (loadtests/slowclients.py):
  /health behind 8 idle connections, readers while 8 connections trickle their
  headers, readers while one upload trickles and stalls;
- wrk on /, a permalink and /feed.xml beside the framework floor with the same
  worker count, in interleaved rounds: requests/s and the ratio to the floor.

It writes `table.md` and `workers.json` under --out and prints the table: the
count that serves the most per MB of peak working set (the reader routes'
requests per CPU-second of the server, its capacity on its one CPU, which a
busy machine does not move as it moves requests/s), among those that keep
every slow-client, throughput, p95 and memory goal, is the one to make the default.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkit.limits import FLOOR_RATIO_GOAL, MEMORY_GOAL_MB, P95_LIMIT_MS
from testkit.slowclients import SlowClientRun, Target

from . import memory, throughput
from .slowclients import IDLE_CONNECTIONS, health_behind_idle

if TYPE_CHECKING:  # the engine's SDK is imported only to measure: the choice and the table are tested without it
    from testkit.site import Lab

COUNTS = (1, 2, 3, 4)
ROUTES = ("/", "/note/<slug>", "/feed.xml")
MIX_TIME = "30s"
HEADER_CLIENTS = 8
SLOW_WINDOW_S = 15.0
UPLOAD_WINDOW_S = 25.0
WRK_ROUNDS = 3
WRK_SECONDS = 2
# Slow-client goals at the bare port (issue 14): /health answers at once behind idle connections, and readers do
# not wait on a client that trickles its headers, nor on one upload that trickles and stalls.
IDLE_HEALTH_GOAL_S = 1.0
SLOW_READER_MAX_GOAL_MS = 1000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Return the sweep's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="starpunk:latest")
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    parser.add_argument("-u", "--users", type=int, default=50)
    parser.add_argument("-r", "--spawn-rate", type=float, default=10)
    parser.add_argument("-t", "--run-time", default=MIX_TIME)
    parser.add_argument("--out", type=Path, default=Path("build/reports/workers"))
    return parser.parse_args(argv)


def slow_clients(port: int, paths: list[str], token: str) -> dict[str, Any]:
    """Return the slow-client figures at 127.0.0.1:port and whether each met its goal."""
    idle_s = health_behind_idle(port)
    target = Target(port, "127.0.0.1")
    headers = SlowClientRun(target, paths, header_clients=HEADER_CLIENTS, window_s=SLOW_WINDOW_S).run()
    upload = SlowClientRun.stalled_uploads(target, paths, 1, token, UPLOAD_WINDOW_S).run()
    figures: dict[str, Any] = {
        "health_behind_idle_s": idle_s,
        "header_clients": headers.summary(),
        "header_failures": len(headers.failures()),
        "header_max_ms": headers.percentile_ms(1.0),
        "stalled_upload": upload.summary(),
        "upload_failures": len(upload.failures()),
        "upload_max_ms": upload.percentile_ms(1.0),
    }
    figures["met"] = (
        idle_s < IDLE_HEALTH_GOAL_S
        and not headers.failures()
        and not upload.failures()
        and headers.percentile_ms(1.0) < SLOW_READER_MAX_GOAL_MS
        and upload.percentile_ms(1.0) < SLOW_READER_MAX_GOAL_MS
    )
    return figures


def throughput_beside_floor(
    lab: "Lab", site: Any, volume: str, workdir: Path, count: int, limits: dict[str, Any], note: str
) -> dict[str, Any]:
    """Return wrk's requests/s of the reader routes and of the floor with the same workers, and the ratios."""
    from .bench import feed_snapshot, start_floor

    feed, _ = feed_snapshot(site)
    feed_file = workdir / f"feed-{count}.xml"
    feed_file.write_bytes(feed)
    floor = start_floor(lab, volume, feed_file, limits, count, host_network=True)
    site_cpu = throughput.container_cpu_s(site.wrapped)
    targets = [throughput.Target("floor", floor.base_url + "/feed.xml", throughput.container_cpu_s(floor.wrapped))]
    for name, path in zip(ROUTES, ("/", note, "/feed.xml"), strict=True):
        targets.append(throughput.Target(name, site.base_url + path, site_cpu))
    points = throughput.measure_rounds(targets, WRK_ROUNDS, WRK_SECONDS)
    floor.stop()
    ratios = throughput.ratios_to_floor(points, "floor", "floor")
    ratios.pop("floor ÷ floor", None)
    cost_ratios = throughput.ratios_to_floor(points, "floor", "floor", throughput.per_cpu_second)
    cost_ratios.pop("floor ÷ floor", None)
    return {
        "rps": {name: statistics.median(point.rps for point in runs_) for name, runs_ in points.items()},
        # What the server answers per CPU-second: its capacity on its one CPU, whatever share of it a busy
        # machine left it during these runs (absolute requests/s moved by half between counts on a shared one).
        "per_cpu_s": {
            name: statistics.median(throughput.per_cpu_second(point) for point in runs_)
            for name, runs_ in points.items()
        },
        "ratios": ratios,
        # The throughput goal is judged per CPU-second: the floor and the route measured alike, contention divided out.
        "cost_ratios": cost_ratios,
        "errors": sum(point.errors for runs_ in points.values() for point in runs_),
    }


def measure_count(
    lab: "Lab", volume: str, count: int, token: str, args: argparse.Namespace, workdir: Path, limits: dict[str, Any]
) -> dict[str, Any]:
    """Run every measurement with count workers on the seeded volume and return the figures."""
    from .bench import newest_note, read_stats, run_mix

    print(f"workers: measuring {count} worker(s)", flush=True)
    site = lab.site(data=volume, env={"WORKERS": str(count)}, host_network=True, **limits)
    env = dict(os.environ, STARPUNK_LOGIN_URL=site.login_link(), STARPUNK_MICROPUB_TOKEN=token)
    out = args.out / f"mix-{count}"
    sampler, _, _ = run_mix(site, args, [], out, args.run_time, env)
    processes = memory.per_process(site.wrapped)
    mix = read_stats(out)
    note = newest_note(site)
    slow = slow_clients(site.port, ["/", note, "/feed.xml"], token)
    wrk = throughput_beside_floor(lab, site, volume, workdir, count, limits, note)
    site.stop()
    peak = sampler.figures()["peak"]
    capacity = statistics.fmean(wrk["per_cpu_s"][name] for name in ROUTES)
    return {
        "workers": count,
        "mix_p95_ms": mix["Aggregated"]["p95_ms"],
        "mix_failures": mix["Aggregated"]["failures"],
        "peak_mb": peak,
        "private_mb": processes["private_mb"],
        "worker_private_mb": [p["private_mb"] for p in processes["processes"] if p["role"] == "worker"],
        "slow_clients": slow,
        "throughput": wrk,
        "capacity_per_mb": capacity / peak if peak else 0.0,
        "throughput_met": all(ratio >= FLOOR_RATIO_GOAL for ratio in wrk["cost_ratios"].values()) and not wrk["errors"],
        "p95_met": mix["Aggregated"]["p95_ms"] < P95_LIMIT_MS and not mix["Aggregated"]["failures"],
        "memory_met": peak is not None and peak <= MEMORY_GOAL_MB,
    }


def choose(rows: list[dict[str, Any]]) -> int | None:
    """Return the worker count with the most requests per CPU-second per MB among those meeting every goal."""
    eligible = [
        row
        for row in rows
        if row["slow_clients"]["met"] and row["throughput_met"] and row["p95_met"] and row["memory_met"]
    ]
    return max(eligible, key=lambda row: row["capacity_per_mb"])["workers"] if eligible else None


def table(rows: list[dict[str, Any]], chosen: int | None) -> str:
    """Return the sweep as a Markdown table, one row per worker count."""

    def mark(ok: bool) -> str:
        return "✅" if ok else "❌"

    lines = [
        "| workers | req/s `/` · permalink · `/feed.xml` (÷ floor; per CPU-s ÷ floor) | p95 under the mix "
        "| peak working set | private per worker | req per CPU-s, per MB | /health behind 8 idle "
        "| readers, 8 slow headers: max | readers, 1 stalled upload: max | goals |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        wrk, slow = row["throughput"], row["slow_clients"]
        routes = " · ".join(f"{wrk['rps'][name]:,.0f} ({wrk['ratios'].get(name, 0):.2f})" for name in ROUTES)
        per_worker = statistics.fmean(row["worker_private_mb"]) if row["worker_private_mb"] else 0.0
        goals = (
            f"slow clients {mark(slow['met'])}, throughput {mark(row['throughput_met'])}, "
            f"p95 {mark(row['p95_met'])}, ≤ {MEMORY_GOAL_MB} MB {mark(row['memory_met'])}"
        )
        name = f"**{row['workers']}**" if row["workers"] == chosen else str(row["workers"])
        lines.append(
            f"| {name} | {routes} | {row['mix_p95_ms']:.0f} ms | {row['peak_mb']:.1f} MB | {per_worker:.1f} MB "
            f"| {row['capacity_per_mb']:.1f} | {slow['health_behind_idle_s']:.2f} s | {slow['header_max_ms']:.0f} ms "
            f"| {slow['upload_max_ms']:,.0f} ms | {goals} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure every worker count, write and print the table, and name the count to make the default."""
    from testkit.site import standalone_lab

    from .bench import SEED_NOTES, SEED_PHOTO_NOTES, pin_to_client_core, server_limits
    from .micropub import make_token, seed_tagged_photos
    from .seeding import idle_queue, seed

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    limits = server_limits(pin_to_client_core())
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="starpunk-workers-") as workdir,
        standalone_lab(args.image, "workers") as lab,
    ):
        volume = lab.volume()
        site = lab.site(data=volume, host_network=True, **limits)
        seed(site.sign_in(), SEED_NOTES)
        token = make_token(site)
        seed_tagged_photos(site, token, SEED_PHOTO_NOTES)
        idle_queue(site)
        site.stop()
        for count in args.counts:
            rows.append(measure_count(lab, volume, count, token, args, Path(workdir), limits))
    chosen = choose(rows)
    text = table(rows, chosen)
    text += f"\n\nChosen: {chosen} worker(s)" if chosen else "\n\nNo worker count met every goal."
    (args.out / "table.md").write_text(text + "\n", encoding="utf-8")
    (args.out / "workers.json").write_text(json.dumps({"rows": rows, "chosen": chosen}, indent=2) + "\n")
    print(text)
    print(f"(/health behind {IDLE_CONNECTIONS} idle connections; every figure in {args.out / 'workers.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
