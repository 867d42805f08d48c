"""The committed throughput ratios (loadtests/baseline.json) and the check of a run against them.

Absolute requests/s depend on the machine and on what else it runs; ratios
measured side by side in one run much less. Each run's ratios (every route
over the framework floor, and the floor over nginx's static-file limit, in
requests per CPU-second of the server: see loadtests/throughput.py) are
compared with the committed ones, and one more than BASELINE_TOLERANCE below
its baseline fails the run. After a change that moves them on purpose
(a faster app, a new image), refresh the file and commit it:

    nox -s load -- --write-baseline
"""

import json
from pathlib import Path

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
