"""Write the load report as JSON (every figure), Markdown (the tables) and PNG (three charts of the locust mix)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here: draw straight to a file
import matplotlib.pyplot as plt  # noqa: E402

from .flood import flood_table  # noqa: E402

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
    measured = report.get("judged_ratios", report["cost_ratios"]).get(name)
    if report.get("baseline_written"):
        return f"{expected:.3f} (written by this run)"
    if name == report["limit_ratio"]:
        return f"{expected:.3f} (reported, not judged)"
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
        # The gate's own section (gate_table) says this again in its words, for a reader who starts there.
        f"Baseline: `loadtests/baseline.json`; a ratio whose best round is more than "
        f"{report['baseline_tolerance']:.0%} below it fails the run, once it stays below after as many rounds "
        "again (with the floor; see the gate's section below)"
        + (f": measured again here: {', '.join(again)}" if again else "")
        + ". Refresh it after an intended change with `nox -s load -- --write-baseline` and commit the file. "
        f"It is judged only when the floor's server had at least {report['baseline_min_server_cpu']:.0%} of its "
        f"core; here it had {report['floor_server_cpu']:.0%}"
        + ("." if report["baseline_judged"] else ": **not judged** (another load shares this machine)."),
        "",
    ]
    return lines


def startup_table(report):
    """Return the start-up section: the engine's own start, the floor's and StarPunk's, median and max, and the goal."""
    figures, goals = report["startup"], report["goals"]
    labels = {
        "engine": "the engine: the image with a trivial command, `docker start` until its process runs",
        "floor": "the framework floor, `docker start` to its first 200",
        "starpunk": "StarPunk, `docker start` to a healthy `/health`",
    }
    over, goal = figures["over_floor_ms"], goals["startup_over_floor_ms"]
    lines = [
        f"## Start-up beside the framework floor ({report['parameters']['starts']} starts of each, interleaved)",
        "",
        "| what starts | median | max |",
        "|---|---:|---:|",
    ]
    for name, label in labels.items():
        lines.append(f"| {label} | {figures[name]['median'] * 1000:.0f} ms | {figures[name]['max'] * 1000:.0f} ms |")
    lines += [
        "",
        f"StarPunk's median over the floor's: **{over:.0f} ms** (goal ≤ {goal} ms: {_mark(over <= goal)}); the "
        f"floor's over the engine's: {figures['floor_over_engine_ms']:.0f} ms. All three are containers of the same "
        "image with the same limits, published on 127.0.0.1 the same way, each stopped before the next starts.",
        "",
    ]
    return lines


def _process_rows(label, figures):
    rows = []
    for process in figures.get("processes", []):
        rows.append(
            f"| {label} | {process['role']} {process['pid']} | {process['private_mb']:.1f} | "
            f"{process['shared_mb']:.1f} | {process['pss_mb']:.1f} | {process['rss_mb']:.1f} |"
        )
    return rows


def memory_table(report):
    """Return the memory section: the peak working sets beside the floor's, then every process's private and shared."""
    memory, goals, params = report["memory"], report["goals"], report["parameters"]
    starpunk, floor, over = memory["starpunk"], memory["floor"], memory["over_floor_mb"]
    readers = memory.get("starpunk_readers", {})
    lines = [
        f"## Memory beside the framework floor ({params['workers']} workers each)",
        "",
        "| server | under | peak working set | mean | private, all processes | PSS, all processes |",
        "|---|---|---:|---:|---:|---:|",
        f"| StarPunk | the locust mix, {params['run_time']} | {_mb(starpunk['peak'])} | {_mb(starpunk['mean'])} "
        f"| {_mb(starpunk.get('private_mb'))} | {_mb(starpunk.get('pss_mb'))} |",
        f"| StarPunk, started afresh | the floor's readers, {params['floor_mix_time']} | {_mb(readers.get('peak'))} "
        f"| {_mb(readers.get('mean'))} | {_mb(readers.get('private_mb'))} | {_mb(readers.get('pss_mb'))} |",
        f"| floor | the same readers, {params['floor_mix_time']} | {_mb(floor['peak'])} | {_mb(floor['mean'])} "
        f"| {_mb(floor.get('private_mb'))} | {_mb(floor.get('pss_mb'))} |",
        "",
        f"StarPunk's peak over the floor's under the same readers: **{_mb(over)}** (goal ≤ "
        f"{goals['memory_over_floor_mb']} MB: {_mark(over is not None and over <= goals['memory_over_floor_mb'])}); "
        f"under the whole mix, the author's writes, photos and forms included: {_mb(memory.get('mix_over_floor_mb'))} "
        "(reported: the floor has no admin or Micropub to take that part of the mix). Working set: the container's "
        "memory use minus its inactive page cache, as `docker stats` shows it, sampled every 0.5 s. The floor "
        "serves the same bytes whatever it is asked, so its working set is flat once the readers run.",
        "",
        *_peak_parts(starpunk, readers, floor),
        "Each process after its mix, from `/proc/PID/smaps_rollup` (MB): private is what the process alone holds "
        "(what one more worker costs), shared what it shares with the others (the interpreter, libraries, and the "
        "master's objects the forks still share), PSS its fair share of the whole.",
        "",
        "| server | process | private | shared | PSS | RSS |",
        "|---|---|---:|---:|---:|---:|",
        *_process_rows("StarPunk", starpunk),
        *_process_rows("StarPunk, readers", readers),
        *_process_rows("floor", floor),
        "",
    ]
    return lines


def _peak_parts(starpunk, readers, floor):
    """Return the lines that say what each peak working set was made of (memory.stat at the peak sample)."""
    servers = (("StarPunk, the mix", starpunk), ("StarPunk, the readers", readers), ("floor", floor))
    names = list(dict.fromkeys(name for _, figures in servers for name in figures.get("peak_parts", {})))
    if not names:
        return []
    return [
        "At each peak, from the cgroup's `memory.stat`:",
        "",
        "| server | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        *(
            f"| {server} | " + " | ".join(_mb(figures.get("peak_parts", {}).get(name)) for name in names) + " |"
            for server, figures in servers
        ),
        "",
    ]


def _mb(value):
    return "—" if value is None else f"{value:.1f} MB"


def writes_table(report):
    """Return the readers-under-writes section: each reader route quiet, at 1 and at 10 writes per second."""
    under, goals, params = report["under_writes"], report["goals"], report["parameters"]
    judged = str(goals["writes_judged_per_s"])
    lines = [
        f"## Readers while notes are written ({params['write_rounds']} interleaved rounds of "
        f"{params['write_seconds']} s wrk runs at {params['wrk_connections']} connections)",
        "",
        "| writes | written (failed), write p95 | route | req/s | × quiet | × quiet per CPU-s | p95 ms | goal |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for rate, figures in under.items():
        written = (
            f"{figures['writes_per_s']:.1f}/s: {figures['written']} ({figures['failed']}), "
            f"{figures['write_p95_ms']:.0f} ms"
            if rate != "0"
            else "—"
        )
        for name, route in figures["routes"].items():
            goal = "—"
            if rate == judged:
                ok = (
                    route["cost_ratio_to_quiet"] >= goals["readers_under_writes_ratio"]
                    and route["p95_ms"] < goals["readers_under_writes_p95_ms"]
                )
                goal = (
                    f"{_mark(ok)} ≥ {goals['readers_under_writes_ratio']} × quiet per CPU-s, "
                    f"p95 < {goals['readers_under_writes_p95_ms']} ms"
                )
            label = "quiet" if rate == "0" else f"{rate}/s"
            lines.append(
                f"| {label} | {written} | `{name}` | {route['rps']:,.0f} | {route['ratio_to_quiet']:.2f} "
                f"| {route['cost_ratio_to_quiet']:.2f} | {route['p95_ms']:.1f} | {goal} |"
            )
    lines += [
        "",
        "A writer posts notes through Micropub on a fixed schedule from the client core while wrk reads; every "
        "note bumps the content generation, so every worker renders the page or feed it is asked for again. "
        "× quiet: the median over rounds of the route's req/s over its quiet run of the same round; per CPU-s: "
        "the same with requests per CPU-second of the server (the writes' own CPU included), which the goal "
        "judges: another job's share of the server's core moves req/s between runs, not what a request costs.",
        "",
    ]
    return lines


def gate_table(report):
    """Return the baseline gate's section: every ratio it judges, the committed value, the bound and the verdict."""
    judged, baseline, tolerance = report["judged_ratios"], report.get("baseline", {}), report["baseline_tolerance"]
    lines = [
        "## The baseline gate",
        "",
        "| ratio (higher is better) | judged in this run | baseline | fails under | held |",
        "|---|---:|---:|---:|---|",
    ]
    for name in sorted(set(judged) | set(baseline)):
        value, expected = judged.get(name), baseline.get(name)
        bound = None if expected is None else expected * (1 - tolerance)
        if report.get("baseline_written"):
            held = "written by this run"
        elif name == report["limit_ratio"]:
            held = "reported, not judged: contention moves it, StarPunk's code cannot"
        elif expected is None:
            held = "no baseline yet (`nox -s load -- --write-baseline` on a quiet machine)"
        else:
            held = _mark(value is not None and value >= bound)
        lines.append(
            f"| {name} | {'—' if value is None else f'{value:.3f}'} | {'—' if expected is None else f'{expected:.3f}'} "
            f"| {'—' if bound is None else f'{bound:.3f}'} | {held} |"
        )
    lines += [
        "",
        "Throughput ratios are judged by their best round (requests per CPU-second of the server over the floor's "
        "in the same round): contention slows a round, it never speeds one up, so a round it spared measures the "
        "code, and a change that makes every request dearer lowers every round (loadtests/baseline.py). A ratio "
        f"more than {tolerance:.0%} below its baseline fails the run once it stays below after as many rounds "
        f"again. The gate is not judged when the floor's server had under {report['baseline_min_server_cpu']:.0%} "
        f"of its core; here it had {report['floor_server_cpu']:.0%}"
        + ("." if report["baseline_judged"] else ": **not judged**."),
        "",
    ]
    return lines


def markdown_table(report):
    """Return the report as Markdown.

    Headline figures, start-up and memory beside the floor, throughput beside the floor, readers under writes,
    the gate, then the locust mix per endpoint.
    """
    limits, goals = report["limits"], report["goals"]
    startup, memory, mix_cpu = report["startup_s"], report["memory_mb"], report["mix_cpu"]
    peak = memory["peak"] or 0.0
    over_start, over_memory = report["startup"]["over_floor_ms"], report["memory"]["over_floor_mb"]
    lines = [
        f"# StarPunk load report — {report['image']} ({report['image_id'][:19]}), revision {report['revision'][:12]}",
        "",
        f"Load: {report['parameters']['users']} users, spawn {report['parameters']['spawn_rate']}/s, "
        f"{report['parameters']['run_time']}; container: 1 CPU, 512 MB limit, {report['parameters']['workers']} "
        f"workers, {report['parameters']['seed_notes']} notes, then {report['parameters'].get('seed_photo_notes', 0)} "
        "tagged notes with a photo through Micropub.",
        "",
        "| figure | measured | limit (fails the run) | goal |",
        "|---|---|---|---|",
        f"| image size | {report['image_mb']:.1f} MB (app layers {report['app_layers_mb']:.1f} MB) "
        f"| {_mark(report['image_mb'] < limits['image_mb'])} < {limits['image_mb']} MB "
        f"| {_mark(report['image_mb'] <= goals['image_mb'])} ≤ {goals['image_mb']} MB |",
        f"| startup to healthy, median (max) of {len(startup['runs'])}; over the floor's median "
        f"| {startup['median']:.2f} s ({startup['max']:.2f} s); {over_start:+.0f} ms "
        f"| {_mark(startup['median'] < limits['startup_median_s'])} < {limits['startup_median_s']} s "
        f"| {_mark(over_start <= goals['startup_over_floor_ms'])} ≤ floor + {goals['startup_over_floor_ms']} ms |",
        f"| working-set memory under the mix, peak (mean) | {peak:.1f} MB ({(memory['mean'] or 0):.1f} MB) "
        f"| {_mark(peak < limits['memory_peak_mb'])} < {limits['memory_peak_mb']} MB "
        f"| {_mark(peak <= goals['memory_peak_mb'])} ≤ {goals['memory_peak_mb']} MB |",
        f"| peak working set over the floor's, same workers and readers | {_mb(over_memory)} "
        f"(whole mix: {_mb(report['memory'].get('mix_over_floor_mb'))}) | — "
        f"| {_mark(over_memory is not None and over_memory <= goals['memory_over_floor_mb'])} "
        f"≤ {goals['memory_over_floor_mb']} MB |",
        "",
        *startup_table(report),
        *memory_table(report),
        *throughput_table(report),
        *writes_table(report),
        *flood_table(report),
        *gate_table(report),
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
