"""Memory of a running container: its working set over time, and each process's private and shared memory.

The working set is what `docker stats` shows (the cgroup's usage minus its
inactive page cache), sampled while the load runs; its peak is the figure the
goals judge. Per process (Gunicorn's master and each worker) the kernel's
/proc/PID/smaps_rollup says how much of its resident memory is its own
(private: what each more worker costs) and how much it shares with the others
(the interpreter, libraries and the master's objects the forks still share).
The container's processes are read from the host (`docker top` gives host
PIDs; this needs root, as the harness runs).
"""

import threading
import time
from pathlib import Path
from typing import Any

from testkit.limits import MB

INTERVAL_S = 0.5
# The smaps_rollup fields summed into each figure (kB).
PRIVATE = ("Private_Clean", "Private_Dirty")
SHARED = ("Shared_Clean", "Shared_Dirty")


# What the working set is made of (the cgroup's memory.stat, v1 names first, then v2's).
PARTS = {
    "anonymous (the processes' own memory)": (("total_rss", "total_active_anon"), ("anon",)),
    "active page cache (files read or written: the database, its WAL, photos, code)": (
        ("total_active_file",),
        ("active_file",),
    ),
}


def working_set(container: Any) -> tuple[float | None, dict[str, float]]:
    """Return the container's working set now in MB (None when the engine gives no figure) and its parts in MB."""
    memory = container.stats(stream=False, one_shot=True).get("memory_stats", {})
    inner = memory.get("stats", {})
    inactive = inner.get("total_inactive_file", inner.get("inactive_file", 0))
    parts = {}
    for part, (v1, v2) in PARTS.items():
        name = next((key for key in (v1[0], v2[0]) if key in inner), None)
        if name is not None:
            parts[part] = inner[name] / MB
    return ((memory["usage"] - inactive) / MB if "usage" in memory else None), parts


class MemorySampler(threading.Thread):
    """Sample a container's working set every interval until stopped."""

    def __init__(self, container: Any, interval: float = INTERVAL_S) -> None:
        super().__init__(daemon=True)
        self.container = container
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.peak_parts: dict[str, float] = {}
        self.started = time.monotonic()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            tick = time.monotonic()
            figure, parts = working_set(self.container)
            if figure is not None:
                if not self.samples or figure > max(mb for _, mb in self.samples):
                    self.peak_parts = parts
                self.samples.append((tick - self.started, figure))
            self._stop_event.wait(max(0.0, self.interval - (time.monotonic() - tick)))

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join(timeout=10)

    def figures(self) -> dict[str, Any]:
        """Return the peak and mean working set in MB, the number of samples and the series."""
        values = [mb for _, mb in self.samples]
        return {
            "peak": max(values) if values else None,
            "mean": sum(values) / len(values) if values else None,
            "samples": len(values),
            "series": self.samples,
            "peak_parts": self.peak_parts,
        }


def smaps_rollup(pid: int, proc: Path = Path("/proc")) -> dict[str, int]:
    """Return the fields of /proc/PID/smaps_rollup in kB (Rss, Pss, Private_Dirty, ...)."""
    fields = {}
    for line in (proc / str(pid) / "smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name.strip()] = int(parts[0])
    return fields


def process_figures(rows: list[tuple[int, int]], proc: Path = Path("/proc")) -> list[dict[str, Any]]:
    """Return, for each (pid, ppid) of a container, its role (master or worker) and memory in MB.

    The master is the process whose parent is outside the container; every
    process it started is a worker.
    """
    pids = {pid for pid, _ in rows}
    figures = []
    for pid, ppid in rows:
        try:
            fields = smaps_rollup(pid, proc)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # ended between the listing and the reading (a recycled worker)
        figures.append(
            {
                "pid": pid,
                "role": "worker" if ppid in pids else "master",
                "rss_mb": fields.get("Rss", 0) * 1024 / MB,
                "pss_mb": fields.get("Pss", 0) * 1024 / MB,
                "private_mb": sum(fields.get(name, 0) for name in PRIVATE) * 1024 / MB,
                "shared_mb": sum(fields.get(name, 0) for name in SHARED) * 1024 / MB,
            }
        )
    figures.sort(key=lambda figure: (figure["role"] != "master", figure["pid"]))
    return figures


def container_processes(container: Any) -> list[tuple[int, int]]:
    """Return (pid, ppid) on the host of every process in the container."""
    top = container.top(ps_args="-o pid,ppid")
    titles = [title.upper() for title in top["Titles"]]
    pid_at, ppid_at = titles.index("PID"), titles.index("PPID")
    return [(int(row[pid_at]), int(row[ppid_at])) for row in top["Processes"]]


def per_process(container: Any) -> dict[str, Any]:
    """Return each process's memory and the totals: private summed, the largest shared figure (what all share)."""
    processes = process_figures(container_processes(container))
    return {
        "processes": processes,
        "private_mb": sum(figure["private_mb"] for figure in processes),
        "pss_mb": sum(figure["pss_mb"] for figure in processes),
        "workers": sum(figure["role"] == "worker" for figure in processes),
    }
