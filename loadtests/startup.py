"""Start-up beside the framework floor: the engine's own start, the floor's and StarPunk's, in one run.

Three stopped containers of the same image, with the same limits, each
published on 127.0.0.1 the same way (so each start also sets up Docker's port
proxy), are started in turn, round after round, so a busy moment of a shared
machine lands on all three alike:

- engine: the image with a trivial command (``python3 -I -S -c`` sleeping: the
  image has no shell), from ``docker start`` until the engine has started its
  process (the call returns), which is what the engine itself costs every
  start; a command's exit is not timed, as the engine's exit handling and
  wait (about 100 ms here) belong to no start;
- floor: the framework floor (loadtests/floor/floorapp.py, Gunicorn with the
  same gunicorn.conf.py, worker count and preloading, run as the image's own
  Gunicorn script), from ``docker start`` to its first 200;
- StarPunk, from ``docker start`` to a healthy ``/health``.

Each is stopped (SIGTERM) before the next starts. The goal (testkit/limits.py)
is StarPunk's median at most STARTUP_OVER_FLOOR_GOAL_MS above the floor's.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the harness's unit tests read the figures without the engine's SDK installed
    from testkit.site import ApiSite, Lab

HERE = Path(__file__).resolve().parent
FLOOR_APP = HERE / "floor" / "floorapp.py"
ROUNDS = 9
POLL_SECONDS = 0.01
ENGINE, FLOOR, STARPUNK = "engine", "floor", "starpunk"
TRIVIAL = ["python3", "-I", "-S", "-c", "import time; time.sleep(600)"]


@dataclass(frozen=True)
class Starts:
    """The seconds each start took, by what was started."""

    runs: dict[str, list[float]]

    def median(self, name: str) -> float:
        """Return the median start of name, in seconds."""
        return statistics.median(self.runs[name])

    def as_dict(self) -> dict[str, Any]:
        """Return every run with each one's median and max, and StarPunk's median over the floor's in ms."""
        figures: dict[str, Any] = {
            name: {"runs": runs, "median": statistics.median(runs), "max": max(runs)}
            for name, runs in self.runs.items()
        }
        figures["over_floor_ms"] = (self.median(STARPUNK) - self.median(FLOOR)) * 1000
        figures["floor_over_engine_ms"] = (self.median(FLOOR) - self.median(ENGINE)) * 1000
        # Higher is better, like every ratio the baseline gate judges: the floor's median over StarPunk's.
        figures["floor_ratio"] = self.median(FLOOR) / self.median(STARPUNK)
        return figures


def floor_site(lab: "Lab", feed_file: Path, workers: int, **container: Any) -> "ApiSite":
    """Start the framework floor serving feed_file: the same image, gunicorn.conf.py and workers, published likewise."""
    return lab.site(
        env={"WORKERS": str(workers)},
        mounts={str(FLOOR_APP): "/floor/floorapp.py", str(feed_file): "/floor/feed.xml"},
        # The image's Gunicorn script itself: one Python start, as StarPunk's entry point makes.
        entrypoint=["gunicorn"],
        command=["--config", "/app/gunicorn.conf.py", "--pythonpath", "/floor", "floorapp:app"],
        **container,
    )


def engine_site(lab: "Lab", **container: Any) -> "ApiSite":
    """Create the image's container with a trivial command, started once; return it stopped."""
    site = lab.site(entrypoint=TRIVIAL, wait=False, **container)
    _halt(site)
    return site


def _halt(site: "ApiSite") -> None:
    """Kill the trivial command (PID 1 ignores SIGTERM it has no handler for) and wait until it is gone."""
    container = site.container.get_wrapped_container()
    container.kill()
    container.wait(timeout=60)


def timed_engine_start(site: "ApiSite") -> float:
    """Start the stopped container and return the seconds until the engine says its process runs; stop it."""
    container = site.container.get_wrapped_container()
    started = time.monotonic()
    container.start()
    took = time.monotonic() - started
    _halt(site)
    return took


def timed_start(site: "ApiSite") -> float:
    """Start the stopped site, return the seconds to its first 200, and stop it (SIGTERM) so the next has the core."""
    site.start_again(wait=False)
    took = site.wait_healthy(interval=POLL_SECONDS)
    site.stop()
    return took


def measure(
    starpunk: "ApiSite", floor: "ApiSite", engine: "ApiSite", rounds: int = ROUNDS, say: Callable[[str], None] = print
) -> Starts:
    """Start the three in turn, round after round (each round begins one later); return every start's seconds."""
    starpunk.stop()
    floor.stop()
    starts: list[tuple[str, Callable[[], float]]] = [
        (ENGINE, lambda: timed_engine_start(engine)),
        (FLOOR, lambda: timed_start(floor)),
        (STARPUNK, lambda: timed_start(starpunk)),
    ]
    runs: dict[str, list[float]] = {name: [] for name, _ in starts}
    for number in range(rounds):
        shift = number % len(starts)
        for name, start in starts[shift:] + starts[:shift]:
            runs[name].append(start())
    figures = Starts(runs)
    say(
        "startup: "
        + ", ".join(f"{name} median {figures.median(name) * 1000:.0f} ms" for name in runs)
        + f" ({rounds} rounds)"
    )
    return figures
