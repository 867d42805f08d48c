"""Write the load report as JSON (every figure), Markdown (the tables) and PNG (three charts of the locust mix)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here: draw straight to a file
import matplotlib.pyplot as plt  # noqa: E402

# wrk's share of its core from which the generator may be what limits a row.
GENERATOR_BOUND = 0.8


def _mark(ok):
    return "✅" if ok else "❌"


def _percent(share):
    return f"{share * 100:.0f}%"


def _baseline_cell(name, report):
    """Return the baseline column: the committed ratio and whether this run stayed within the tolerance."""
    expected = report.get("baseline", {}).get(name)
    if expected is None:
        return "—"
    measured = report["cost_ratios"].get(name)
    if report.get("baseline_written"):
        return f"{expected:.3f} (written by this run)"
    ok = measured is not None and measured >= expected * (1 - report["baseline_tolerance"])
    return f"{_mark(ok)} {expected:.3f}"


def throughput_table(report):
    """Return the floor, the nginx limit and StarPunk's routes side by side.

    Requests/s, ratios, goals, baseline, saturation.
    """
    params = report["parameters"]
    floor, limit, limit_ratio = report["floor"], report["limit"], report["limit_ratio"]
    figures, ratios, costs = report["throughput"], report["ratios"], report["cost_ratios"]
    lines = [
        f"## Throughput beside the framework floor (wrk: {params['wrk_rounds']} interleaved rounds of "
        f"{params['wrk_seconds']} s runs at {params['wrk_connections']} connections)",
        "",
        "| server | route | req/s | ÷ floor | goal | met | ÷ floor per CPU-s | baseline | "
        f"saturation: req/s at p95 < {report['saturation_p95_ms']} ms (connections) | p95 ms | server CPU | wrk CPU |",
        "|---|---|---:|---:|---|---|---:|---|---:|---:|---:|---:|",
    ]
    rows = [(limit, "nginx, the file from disk (the limit)", "/feed.xml")]
    rows.append((floor, "floor: minimal Flask app, same image and gunicorn.conf.py", "/feed.xml"))
    rows += [(name, "StarPunk", name) for name in report["route_goals"]]
    for key, server, route in rows:
        figure = figures[key]
        goal = report["route_goals"].get(key)
        if key == floor:
            ratio, cost, baseline = "1", "1", "—"
        elif key == limit:
            # The limit's row holds the floor's share of it: the floor ÷ nginx ratio.
            ratio = f"{limit_ratio}: {ratios.get(limit_ratio, 0):.3f}"
            cost = f"{costs.get(limit_ratio, 0):.3f}"
            baseline = _baseline_cell(limit_ratio, report)
        else:
            ratio, cost, baseline = f"{ratios.get(key, 0):.2f}", f"{costs.get(key, 0):.2f}", _baseline_cell(key, report)
        goal_cell = f"≥ {goal}" if goal is not None else "—"
        met = _mark(ratios.get(key, 0) >= goal) if goal is not None else "—"
        if figure["saturation_rps"] is None:
            saturated = "none: over at 1"
        else:
            saturated = f"{figure['saturation_rps']:,.0f} ({figure['saturation_connections']})"
        if figure.get("probe_errors"):
            # Past 16 connections the probe overloads the server on purpose: its errors are reported, not failed.
            saturated += f"; {figure['probe_errors']} wrk error(s) in the overload probes"
        wrk_cpu = _percent(figure["wrk_cpu"]) + (" ⚠" if figure["wrk_cpu"] >= GENERATOR_BOUND else "")
        lines.append(
            f"| {server} | `{route}` | {figure['rps']:,.0f} | {ratio} | {goal_cell} | {met} | {cost} | {baseline} "
            f"| {saturated} | {figure['p95_ms']:.1f} | {_percent(figure['server_cpu'])} | {wrk_cpu} |"
        )
    again = report.get("measured_again")
    lines += [
        "",
        f"`{report['not_modified']}` is a conditional GET of `/feed.xml` with its current ETag "
        "(`If-None-Match`), answered 304. The floor and nginx serve the exact bytes StarPunk's `/feed.xml` served "
        f"in this run ({params['feed_bytes']:,} bytes). Servers on core {params['server_core']} (the containers "
        f"with `--cpuset-cpus`, nginx under `taskset`), wrk and locust on core {params['client_core']}"
        + ("" if params["pinned"] else " (not pinned: this machine has one core)")
        + ". The floor and StarPunk run in the host's network namespace, Gunicorn listening on 127.0.0.1 "
        "(no Docker proxy in between); StarPunk is a container started after the mix, on its volume.",
        "",
        "req/s: the median of a row's runs. ÷ floor: the median over rounds of the row's req/s over the floor's "
        "in the same round (the goals judge this). ÷ floor per CPU-s: the same with requests per CPU-second of "
        "the server, what a request costs whatever share of its core a busy machine gave it; the baseline "
        "judges this one. On a quiet machine the server keeps its core busy (server CPU near 100%) and the two "
        "agree.",
        "",
        f"Saturation: the highest req/s among a row's runs at {', '.join(map(str, params['saturation_connections']))} "
        f"connections whose p95 latency stayed under {report['saturation_p95_ms']} ms (from "
        f"{params['wrk_connections']} it tries more connections while under, fewer while over). wrk is a closed "
        "loop (a connection asks again when its answer arrives), so this is the rate that many concurrent "
        "readers get, not an open-loop arrival rate, which would queue sooner.",
        "",
        f"CPU: share of one core over the runs at {params['wrk_connections']} connections: the server's (the "
        "container's cgroup, nginx's processes) and wrk's own (user + system). ⚠ marks wrk at "
        f"{GENERATOR_BOUND:.0%} or more: the generator, not the server, may set that row's figure.",
        "",
        f"Baseline: `loadtests/baseline.json`; a ratio more than {report['baseline_tolerance']:.0%} below it fails "
        "the run, once it stays below after as many rounds again (with the floor)"
        + (f": measured again here: {', '.join(again)}" if again else "")
        + ". Refresh it after an intended change with `nox -s load -- --write-baseline` and commit the file. "
        f"It is judged only when the floor's server had at least {report['baseline_min_server_cpu']:.0%} of its "
        f"core; here it had {report['floor_server_cpu']:.0%}"
        + ("." if report["baseline_judged"] else ": **not judged** (another load shares this machine)."),
        "",
    ]
    return lines


def markdown_table(report):
    """Return the report as Markdown.

    Headline figures, throughput beside the floor, then the locust mix per endpoint.
    """
    limits, goals = report["limits"], report["goals"]
    startup, memory, mix_cpu = report["startup_s"], report["memory_mb"], report["mix_cpu"]
    peak = memory["peak"] or 0.0
    lines = [
        f"# StarPunk load report — {report['image']} ({report['image_id'][:19]}), revision {report['revision'][:12]}",
        "",
        f"Load: {report['parameters']['users']} users, spawn {report['parameters']['spawn_rate']}/s, "
        f"{report['parameters']['run_time']}; container: 1 CPU, 512 MB limit, 4 workers, "
        f"{report['parameters']['seed_notes']} notes, then {report['parameters'].get('seed_photo_notes', 0)} "
        "tagged notes with a photo through Micropub.",
        "",
        "| figure | measured | limit (fails the run) | goal |",
        "|---|---|---|---|",
        f"| image size | {report['image_mb']:.1f} MB (app layers {report['app_layers_mb']:.1f} MB) "
        f"| {_mark(report['image_mb'] < limits['image_mb'])} < {limits['image_mb']} MB "
        f"| {_mark(report['image_mb'] <= goals['image_mb'])} ≤ {goals['image_mb']} MB |",
        f"| startup to healthy, median (max) of {len(startup['runs'])} "
        f"| {startup['median']:.2f} s ({startup['max']:.2f} s) "
        f"| {_mark(startup['median'] < limits['startup_median_s'])} < {limits['startup_median_s']} s "
        f"| {_mark(startup['median'] <= goals['startup_median_s'])} ≤ {goals['startup_median_s']} s |",
        f"| working-set memory under the mix, peak (mean) | {peak:.1f} MB ({(memory['mean'] or 0):.1f} MB) "
        f"| {_mark(peak < limits['memory_peak_mb'])} < {limits['memory_peak_mb']} MB "
        f"| {_mark(peak <= goals['memory_peak_mb'])} ≤ {goals['memory_peak_mb']} MB |",
        "",
        *throughput_table(report),
        f"## The locust mix: {report['parameters']['users']} users for {report['parameters']['run_time']}",
        "",
        f"CPU over the mix ({mix_cpu['seconds']:.0f} s): locust {_percent(mix_cpu['locust'])} of a core, "
        f"the server {_percent(mix_cpu['server'])} of its core.",
        "",
        "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in report["endpoints"].items():
        flag = "" if name == "Aggregated" or entry["p95_ms"] < limits["p95_ms"] else " ❌"
        lines.append(
            f"| {entry['method']} {name} | {entry['requests']} | {entry['failures']} | {entry['rps']:.1f} "
            f"| {entry['p50_ms']:.0f} | {entry['p95_ms']:.0f}{flag} | {entry['p99_ms']:.0f} |"
        )
    lines.append("")
    phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in report.get("phases_s", {}).items())
    lines += [f"Time by phase: {phases}.", ""]
    for label, items in (("Limits missed", report.get("failed_limits")), ("Goals missed", report.get("missed_goals"))):
        lines.append(f"**{label}:** " + ("; ".join(items) if items else "none"))
        lines.append("")
    return "\n".join(lines)


def draw_chart(report, path):
    """Draw requests/s, p95 latency and memory over time into one PNG."""
    history = report["history"]
    series = report["memory_mb"]["series"]
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    if history:
        seconds, rps, p95 = zip(*history, strict=True)
        axes[0].plot(seconds, rps, color="tab:blue")
        axes[1].plot(seconds, p95, color="tab:orange")
    axes[1].axhline(report["limits"]["p95_ms"], color="tab:red", linestyle="--", label="limit")
    if series:
        seconds, megabytes = zip(*series, strict=True)
        axes[2].plot(seconds, megabytes, color="tab:green")
    axes[2].axhline(report["limits"]["memory_peak_mb"], color="tab:red", linestyle="--", label="limit")
    axes[2].axhline(report["goals"]["memory_peak_mb"], color="tab:gray", linestyle=":", label="goal")
    axes[0].set_ylabel("requests/s")
    axes[1].set_ylabel("p95 latency (ms)")
    axes[2].set_ylabel("working set (MB)")
    axes[2].set_xlabel("seconds since the load started")
    for axis in axes[1:]:
        axis.legend(loc="upper right")
    for axis in axes:
        axis.grid(alpha=0.3)
    fig.suptitle(f"StarPunk under load: {report['parameters']['users']} users, {report['parameters']['run_time']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_reports(report, out):
    """Write report.json, report.md and report.png under out; return the Markdown."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    table = markdown_table(report)
    (out / "report.md").write_text(table + "\n", encoding="utf-8")
    draw_chart(report, out / "report.png")
    return table
