"""What only the replication suite needs: one SeaweedFS for the run, the sidecar image, the report folder."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.objectstore import ObjectStore
from testkit.replica import ReplicatedSite
from testkit.site import Lab

REPORTS = Path(__file__).resolve().parents[2] / "build" / "reports" / "replicate"


@pytest.fixture(scope="session")
def objectstore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """Run SeaweedFS with an S3 gateway on 127.0.0.1 for the whole run, with credentials made for it."""
    with ObjectStore(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


@pytest.fixture(scope="session")
def sidecar_image() -> str:
    """Return the Litestream sidecar image `nox -s replicate` built (STARPUNK_SIDECAR_IMAGE)."""
    tag = os.environ.get("STARPUNK_SIDECAR_IMAGE")
    if not tag:
        pytest.fail("STARPUNK_SIDECAR_IMAGE is not set: run the suite with `nox -s replicate`, which builds it")
    return tag


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
