"""The committed ratios (loadtests/baseline.json) and the check of a run against them: a gate that does not cry wolf.

Absolute requests/s depend on the machine and on what else it runs; ratios
measured side by side in one run much less. Each run's ratios are compared
with the committed ones, and one more than BASELINE_TOLERANCE below its
baseline fails the run. Every ratio is "higher is better":

- throughput: every route over the framework floor, in requests per
  CPU-second of the server (see loadtests/throughput.py), each judged by its
  best round (judged_ratio); the floor over nginx's static-file limit is kept
  and reported but not judged (loadtests/bench.py's gated: contention moves
  it, StarPunk's code cannot);
- start-up: the floor's median over StarPunk's;
- memory: the floor's peak working set over StarPunk's;
- readers while notes are written at 1 per second, over the same readers quiet.

Why the best round: another job on the server's core (a shared machine, a CI
runner) slows a round down, it never speeds one up. A round the contention
happened to spare measures the code; a change that makes every request
dearer (say, the reader fast path switched off) lowers every round. So the
gate fails a route only when even its best round is more than the tolerance
below its baseline (and still is after as many rounds again), which a CPU
hog sharing the core does not do (tests/harness/test_load_figures.py has the
synthetic cases; the report says what a run measured). The baseline itself
holds medians from a quiet machine, so the best round also carries the
rounds' spread: a small regression can pass, a large one cannot.

After a change that moves them on purpose (a faster app, a new image), refresh
the file on a quiet machine and commit it:

    nox -s load -- --write-baseline
"""

import json
from pathlib import Path
from typing import Any

from testkit.limits import BASELINE_TOLERANCE

BASELINE = Path(__file__).with_name("baseline.json")
REFRESH = "nox -s load -- --write-baseline"


def read_baseline(path: Path = BASELINE) -> dict[str, float]:
    """Return the committed ratios by name ({} when there is no baseline yet)."""
    if not path.exists():
        return {}
    ratios: dict[str, float] = json.loads(path.read_text(encoding="utf-8"))["ratios"]
    return ratios


def write_baseline(
    ratios: dict[str, float], revision: str, image: str, floor_server_cpu: float, path: Path = BASELINE
) -> None:
    """Write this run's ratios as the new baseline, with where they come from and how to refresh them."""
    document = {
        "about": f"Throughput ratios measured by `nox -s load` in one run; refresh with `{REFRESH}` and commit.",
        "revision": revision,
        "image": image,
        # The share of its core the floor's server had: near 1 on a machine that runs nothing else.
        "floor_server_cpu": round(floor_server_cpu, 2),
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def regressions(
    measured: dict[str, float], baseline: dict[str, float], tolerance: float = BASELINE_TOLERANCE
) -> dict[str, str]:
    """Return, by name, a line for each baseline ratio this run measured more than tolerance below it, or not at all."""
    lines = {}
    for name, expected in baseline.items():
        value = measured.get(name)
        if value is None:
            lines[name] = f"{name}: not measured in this run (baseline {expected:.3f})"
        elif value < expected * (1 - tolerance):
            lines[name] = (
                f"{name}: measured {value:.3f}, baseline {expected:.3f} "
                f"({value / expected - 1:+.0%}, more than {tolerance:.0%} below; {REFRESH} if intended)"
            )
    return lines


def judged_ratio(rounds: list[float]) -> float:
    """Return the figure the gate judges of a ratio's per-round values: its best round (see the module's docstring)."""
    return max(rounds)


def describe(ratio: str, measured: dict[str, float], baseline: dict[str, float], tolerance: float) -> dict[str, Any]:
    """Return what the report shows of one ratio: the value judged, the baseline, the bound and whether it held."""
    expected = baseline.get(ratio)
    value = measured.get(ratio)
    bound = None if expected is None else expected * (1 - tolerance)
    return {
        "measured": value,
        "baseline": expected,
        "bound": bound,
        "held": None if bound is None else value is not None and value >= bound,
    }
