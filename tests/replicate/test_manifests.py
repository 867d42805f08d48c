"""The replicated deployments: deploy/kubernetes-replication/ (restore init container, sidecar) and compose's profile.

Rendered with `kubectl kustomize` and validated offline against the oldest and
newest Kubernetes schemas the kube session uses; `nox -s kube` plays the overlay
with Podman (tests/deploy/test_kube.py: the init container's restore, then the pod).
"""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness import ROOT
from testkit import cli
from testkit.env import loopback_env, site_env

OVERLAY = ROOT / "deploy" / "kubernetes-replication"
VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]


def rendered() -> list[dict[str, Any]]:
    """Return the overlay's objects as `kubectl kustomize` renders them."""
    result = subprocess.run(["kubectl", "kustomize", str(OVERLAY)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_overlay_renders_valid_objects(version: str) -> None:
    """Every rendered object, and the example Secret, is valid for Kubernetes 1.28 and the newest schema."""
    for obj in rendered() + list(yaml.safe_load_all((OVERLAY / "secret.yaml").read_text(encoding="utf-8"))):
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_restore_runs_first_and_the_sidecar_shares_the_claim_hardened() -> None:
    """The init container restores onto the claim before StarPunk, which watches the sidecar's socket on it."""
    deployment = next(obj for obj in rendered() if obj["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (restore,) = pod["initContainers"]
    assert restore["args"][:1] == ["restore"] and "-if-db-not-exists" in restore["args"]
    assert "-if-replica-exists" in restore["args"]
    containers = {container["name"]: container for container in pod["containers"]}
    assert set(containers) == {"starpunk", "litestream"}
    assert {"name": "REPLICATION_SOCKET", "value": "/data/.litestream.sock"} in containers["starpunk"]["env"]
    for container in (restore, containers["litestream"]):
        assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["envFrom"] == [{"secretRef": {"name": "starpunk-litestream"}}]
        assert container["resources"]["limits"]
    assert containers["starpunk"]["envFrom"], "the base's settings stay"


def test_compose_adds_the_sidecar_only_with_the_replicate_profile(tmp_path: Path) -> None:
    """`docker-compose config` is valid; only the sidecar has a profile (replicate), on StarPunk's volume."""
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    (tmp_path / ".env").write_text("".join(f"{key}={value}\n" for key, value in site_env().items()))
    env = loopback_env(COMPOSE_PROJECT_NAME="starpunkconfigcheck")

    rendered = cli.run("docker-compose", "--profile", "replicate", "config", cwd=tmp_path, env=env, timeout=60).stdout
    services: dict[str, Any] = yaml.safe_load(rendered)["services"]
    assert set(services) == {"starpunk", "litestream"}
    # A service without profiles always starts; one with a profile only when it is asked for.
    assert "profiles" not in services["starpunk"]
    assert services["litestream"]["profiles"] == ["replicate"]
    sidecar = services["litestream"]
    assert sidecar["image"].startswith("starpunk-litestream:")
    assert any(str(volume).startswith("starpunk-data:/data") or "/data" in str(volume) for volume in sidecar["volumes"])
    assert sidecar["restart"] == "unless-stopped"
