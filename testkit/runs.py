"""What one test run owns: its identity, the labels on everything it starts, and its containers still running.

Every container and volume a run starts carries two labels: LABEL names the
suite (container, faults, ...) and RUN_LABEL names the run as host:pid:start,
the pytest process that owns it. A sweep may remove what a run left behind only
once that process is gone, so runs on one engine never remove each other's.
"""

import os
import socket
from pathlib import Path
from typing import Protocol

LABEL = "org.starpunk.test"
RUN_LABEL = "org.starpunk.test.run"
# How much of a container's log a failure report shows.
REPORT_LOG_LINES = 200


def _process_start(pid: int) -> str:
    """Return when a process started (clock ticks since boot, from /proc), or "" where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 (starttime); the command name in field 2 may hold spaces, so count from its closing parenthesis.
    return stat.rsplit(")", 1)[1].split()[19]


def run_id(pid: int | None = None) -> str:
    """Return this run's identity, host:pid:start, which names the process that owns the run."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def owner_alive(run: str) -> bool:
    """Say whether the process that owns a run may still be running.

    True when it cannot be told: never sweep a maybe.
    """
    host, _, rest = run.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    # The same pid, started at another time, is another process: the owner is gone.
    return not start or _process_start(pid) == start


def swept(found: dict[str, str] | None, run: str | None = None, suite: str | None = None) -> bool:
    """Say whether a sweep removes a thing labelled found.

    It removes one of run's, or (run None) one whose run's process is gone; only suite's if given.
    """
    found = found or {}
    if RUN_LABEL not in found or (suite is not None and found.get(LABEL) != suite):
        return False
    return found[RUN_LABEL] == run if run is not None else not owner_alive(found[RUN_LABEL])


def labels(suite: str, run: str | None = None) -> dict[str, str]:
    """Return the labels for a container or volume this run starts for a suite."""
    return {LABEL: suite, RUN_LABEL: run or run_id()}


class Logged(Protocol):
    """Anything running whose logs belong in a failure report."""

    @property
    def name(self) -> str:
        """Return the container's name."""
        ...

    def logs(self, tail: int | None = None) -> str:
        """Return the last tail lines of its logs (all of them when tail is None)."""
        ...


_live: dict[str, Logged] = {}


def track(running: Logged) -> None:
    """Note a container as running, so a failing test's report shows its logs."""
    _live[running.name] = running


def untrack(name: str) -> None:
    """Forget a container once it is removed."""
    _live.pop(name, None)


def tracked() -> list[Logged]:
    """Return the containers started and not yet removed."""
    return list(_live.values())
