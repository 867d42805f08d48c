"""What only the replication suite needs: the report folder and replicated sites (SeaweedFS and the sidecar image
are testkit.plugin's: the guide session uses them too)."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.objectstore import ObjectStore
from testkit.replica import ReplicatedSite
from testkit.site import Lab

REPORTS = Path(__file__).resolve().parents[2] / "build" / "reports" / "replicate"
# `nox -s replicate` runs the suite on two pytest-xdist workers (`-n 2 --dist loadgroup`), each with its own
# SeaweedFS: one takes the store's minute-long outage and the short restores, the other the disaster
# rounds and the large site's fill, which need the CPU and never share it with each other.
BESIDE_THE_OUTAGE = {"test_outage.py", "test_restore.py", "test_manifests.py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put each test in its worker's group when the suite runs on pytest-xdist's workers."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        group = "outage" if item.path.name in BESIDE_THE_OUTAGE else "writes"
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def reports() -> Path:
    """Return build/reports/replicate/, where the suite writes its tables."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS


@pytest.fixture
def replicated(lab: Lab, sidecar_image: str, objectstore: ObjectStore) -> Iterator[Callable[..., ReplicatedSite]]:
    """Return a factory of replicated sites (not started) on new volumes; their containers go before the volumes."""
    made: list[ReplicatedSite] = []

    def make(path: str, **options: Any) -> ReplicatedSite:
        pair = ReplicatedSite(lab, sidecar_image, objectstore, path, **options)
        made.append(pair)
        return pair

    yield make
    for pair in made:
        pair.remove()
