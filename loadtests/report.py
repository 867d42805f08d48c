"""Write the load report as JSON (every figure), Markdown (one table) and PNG (three charts)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display here: draw straight to a file
import matplotlib.pyplot as plt  # noqa: E402


def _mark(ok):
    return "✅" if ok else "❌"


def markdown_table(report):
    """Return the report as Markdown: the headline figures, then one row per endpoint."""
    limits, goals = report["limits"], report["goals"]
    startup, memory, capacity = report["startup_s"], report["memory_mb"], report["capacity"]
    peak = memory["peak"] or 0.0
    ratio = capacity["feed_health_ratio"] or 0.0
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
        f"| working-set memory, peak (mean) | {peak:.1f} MB ({(memory['mean'] or 0):.1f} MB) "
        f"| {_mark(peak < limits['memory_peak_mb'])} < {limits['memory_peak_mb']} MB "
        f"| {_mark(peak <= goals['memory_peak_mb'])} ≤ {goals['memory_peak_mb']} MB |",
        "| /feed.xml (no If-None-Match) ÷ /health, requests/s "
        f"| {capacity['feed_rps']:.0f} ÷ {capacity['health_rps']:.0f} "
        f"= {ratio:.2f} | — | {_mark(ratio >= goals['feed_health_ratio'])} ≥ {goals['feed_health_ratio']} |",
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
