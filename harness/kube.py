"""The Kubernetes manifests in deploy/kubernetes/, read as objects, and the variant `podman kube play` runs.

Users apply the manifests as they are. Podman 4.3 differs from a cluster in
three ways the played variant works around, changing copies of the parsed
objects rather than keeping a second hand-written set:
- a Secret object plays, but Podman keeps its YAML as the secret's content
  and a pod reading it fails ("secret ... is not valid JSON"), so the run
  makes a Podman secret holding secret.yaml's keys as a flat JSON map of
  base64 values, which `envFrom: secretRef` reads;
- a PersistentVolumeClaim plays once only (the next play finds its volume
  already there), so the claim is played alone, before the Deployment;
- nothing routes a Service or an Ingress, so the pod publishes its port
  itself, with hostPort on 127.0.0.1.
Every object is also renamed for the run, so a run never touches a user's
objects or another run's, and labelled so a sweep can find what it left.
`PlayedReplicated` plays deploy/kubernetes-replication/ as `kubectl kustomize`
renders it (restore init container, Litestream sidecar), with three more
Podman-only changes it names.
"""

import base64
import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from . import ROOT, HarnessError
from .podman import copy_from_docker, podman

MANIFESTS = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
# Podman as root here cannot start a container with the default rlimits, and
# `kube play` has no --ulimit flag: CONTAINERS_CONF points at this instead.
CONTAINERS_CONF = '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n'

Manifest = dict[str, Any]
# What Podman makes for itself the first time it plays a pod: a run removes them only if it made them.
PAUSE_IMAGE = "localhost/podman-pause"
KUBE_NETWORK = "podman-default-kube-network"


def manifest_files() -> list[Path]:
    """Return every Kubernetes object file in deploy/kubernetes/ (the kustomization is not one)."""
    return sorted(path for path in MANIFESTS.glob("*.yaml") if path != KUSTOMIZATION)


def load(path: Path) -> list[Manifest]:
    """Return the objects in a YAML file, in order."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def find(kind: str, name: str | None = None) -> Manifest:
    """Return the one object of a kind (and name) among the manifests; fail when there is not exactly one."""
    found = [
        obj
        for path in manifest_files()
        for obj in load(path)
        if obj["kind"] == kind and name in (None, obj["metadata"]["name"])
    ]
    if len(found) != 1:
        raise LookupError(f"expected one {kind} {name or ''} in {MANIFESTS}, found {len(found)}")
    return found[0]


def kustomization() -> Manifest:
    """Return deploy/kubernetes/kustomization.yaml as an object."""
    kustomization: Manifest = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    return kustomization


def pod_spec(deployment: Manifest) -> Manifest:
    """Return the pod template's spec of a Deployment."""
    spec: Manifest = deployment["spec"]["template"]["spec"]
    return spec


def dump(objects: list[Manifest]) -> str:
    """Return objects as one multi-document YAML text."""
    return yaml.safe_dump_all(objects, sort_keys=False)


def podman_secret(values: dict[str, str]) -> str:
    """Return the content of a Podman secret that `kube play` maps like a Kubernetes Secret's data."""
    return json.dumps({key: base64.b64encode(value.encode()).decode() for key, value in values.items()})


# Its __init__ is alike in shape only to tests/upgrade/installation.py's (names for one run's copy).
class Played:
    """The names and objects of one run's copy of the manifests, as Podman plays them."""

    def __init__(
        self, name: str, image: str, port: int, labels: dict[str, str], deployment: Manifest | None = None
    ) -> None:
        self.name = name
        self.image = image
        self.port = port
        self.labels = labels
        self.deployment = deployment or find("Deployment")
        self.settings = find("ConfigMap", self._ref("configMapRef"))
        self.claim = find("PersistentVolumeClaim", self._claim_name())
        self.secret = find("Secret", self._ref("secretRef"))
        self.secret_name = f"{name}-secret"
        self.claim_name = f"{name}-data"

    @property
    def container_name(self) -> str:
        """Return the name Podman gives the app's container: <deployment>-pod-0-<container>."""
        return f"{self.name}-pod-0-{pod_spec(self.deployment)['containers'][0]['name']}"

    def _ref(self, kind: str) -> str:
        refs: list[str] = [
            source[kind]["name"] for source in pod_spec(self.deployment)["containers"][0]["envFrom"] if kind in source
        ]
        assert len(refs) == 1, f"the Deployment's container should take its settings from one {kind}, not {refs}"
        return refs[0]

    def _claim_name(self) -> str:
        claims: list[str] = [
            volume["persistentVolumeClaim"]["claimName"]
            for volume in pod_spec(self.deployment)["volumes"]
            if "persistentVolumeClaim" in volume
        ]
        assert len(claims) == 1, f"the Deployment should mount one claim, not {claims}"
        return claims[0]

    def _rename(self, obj: Manifest, name: str) -> Manifest:
        obj = copy.deepcopy(obj)
        obj["metadata"]["name"] = name
        obj["metadata"].setdefault("labels", {}).update(self.labels)
        return obj

    def claim_yaml(self) -> str:
        """Return the claim, renamed for the run: played alone, once, it creates the volume."""
        return dump([self._rename(self.claim, self.claim_name)])

    def secrets(self) -> dict[str, dict[str, str]]:
        """Return the Podman secrets the pod reads besides secret.yaml's (name -> values): none for the base."""
        return {}

    def pod_yaml(self) -> str:
        """Return the ConfigMap and the Deployment, renamed, on the run's claim and secret, published on 127.0.0.1."""
        return dump(list(self.pod_objects()))

    def pod_objects(self) -> tuple[Manifest, Manifest]:
        """Return the ConfigMap and the Deployment as pod_yaml() writes them."""
        settings = self._rename(self.settings, f"{self.name}-settings")
        deployment = self._rename(self.deployment, self.name)
        deployment["spec"]["template"]["metadata"]["labels"].update(self.labels)
        spec = pod_spec(deployment)
        container = spec["containers"][0]
        container["image"] = self.image
        for source in container["envFrom"]:
            if "configMapRef" in source:
                source["configMapRef"]["name"] = settings["metadata"]["name"]
            if "secretRef" in source:
                source["secretRef"]["name"] = self.secret_name
        (http,) = [port for port in container["ports"] if port["containerPort"] == 8000]
        http.update(hostIP="127.0.0.1", hostPort=self.port)
        for volume in spec["volumes"]:
            # Podman makes a named volume of an emptyDir, named as in the pod: keep it the run's own.
            old = volume["name"]
            volume["name"] = f"{self.name}-{old}"
            for mount in (m for c in spec["containers"] + spec.get("initContainers", []) for m in c["volumeMounts"]):
                if mount["name"] == old:
                    mount["name"] = volume["name"]
            if "persistentVolumeClaim" in volume:
                volume["persistentVolumeClaim"]["claimName"] = self.claim_name
        return settings, deployment


class PlayedReplicated(Played):
    """deploy/kubernetes-replication/ rendered (restore init container, Litestream sidecar), as one run plays it.

    Besides the base's changes: the sidecar image is Podman's copy of the one
    under test, the replication Secret is a Podman secret of the run (pointing
    at the test's object store), and the pod joins the host's network, because
    the test's store listens on 127.0.0.1, which a pod on Podman's bridge cannot
    reach (a real store is reached over the network as written); Gunicorn then
    binds 127.0.0.1 and the run's port itself.
    """

    def __init__(
        self,
        name: str,
        image: str,
        port: int,
        labels: dict[str, str],
        sidecar_image: str,
        replication: dict[str, str],
    ) -> None:
        super().__init__(name, image, port, labels, rendered_deployment(REPLICATION_MANIFESTS))
        self.sidecar_image = sidecar_image
        self.replication = replication
        self.replication_secret_name = f"{name}-litestream"

    def secrets(self) -> dict[str, dict[str, str]]:
        """Return the replication Secret's values as the run's Podman secret."""
        return {self.replication_secret_name: self.replication}

    def pod_objects(self) -> tuple[Manifest, Manifest]:
        """Return the base's changes plus the sidecar's image and secret, on the host's network."""
        settings, deployment = super().pod_objects()
        # Podman 4.3 runs an init container "once" by default and may try to remove it before it has exited
        # (containers/podman#18477); "always" keeps it, and it restores nothing once the claim holds a database.
        for metadata in (deployment["metadata"], deployment["spec"]["template"]["metadata"]):
            metadata.setdefault("annotations", {})[INIT_CONTAINER_TYPE] = "always"
        spec = pod_spec(deployment)
        spec["hostNetwork"] = True
        app, *others = spec["containers"]
        # Podman refuses port mappings on the host's network: the probes name the port by number instead.
        del app["ports"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            app[probe]["httpGet"]["port"] = self.port
        app.setdefault("env", []).append({"name": "GUNICORN_CMD_ARGS", "value": f"--bind 127.0.0.1:{self.port}"})
        # Kubernetes lets a container's env win over its envFrom; Podman 4.3 the other way round, so the
        # ConfigMap's empty REPLICATION_SOCKET would hide the overlay's. The played ConfigMap holds the overlay's.
        overlaid = {item["name"]: item["value"] for item in app["env"] if item["name"] in settings["data"]}
        settings["data"].update(overlaid)
        for container in others + spec["initContainers"]:
            container["image"] = self.sidecar_image
            for source in container["envFrom"]:
                source["secretRef"]["name"] = self.replication_secret_name
        return settings, deployment


REPLICATION_MANIFESTS = ROOT / "deploy" / "kubernetes-replication"
INIT_CONTAINER_TYPE = "io.podman.annotations.init.container.type"


def rendered_deployment(overlay: Path) -> Manifest:
    """Return the Deployment `kubectl kustomize` renders from an overlay (kubectl from the kube session's tools)."""
    result = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"kubectl kustomize {overlay} failed: {result.stderr.strip()[-500:]}")
    deployments: list[Manifest] = [
        obj for obj in yaml.safe_load_all(result.stdout) if obj and obj["kind"] == "Deployment"
    ]
    (deployment,) = deployments
    return deployment


def podman_image(tag: str) -> tuple[str, bool]:
    """Make the Docker engine's image available to Podman; return Podman's name for it and whether it was copied now."""
    found = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True, check=False
    )
    if found.returncode != 0:
        raise HarnessError(f"{tag} is not in the Docker engine; build it with `nox -s image` (or set STARPUNK_IMAGE).")
    name = f"localhost/{tag}"
    held = podman("image", "inspect", "--format", "{{.Id}}", name, check=False)
    if held.returncode == 0 and found.stdout.strip().removeprefix("sha256:") == held.stdout.strip():
        return name, False
    copy_from_docker(tag)
    return name, True


def pod_infrastructure() -> set[str]:
    """Return the pause images and the kube network Podman holds now (it makes them at the first `kube play`)."""
    images = podman("images", "--quiet", "--no-trunc", "--filter", f"reference={PAUSE_IMAGE}").stdout.split()
    networks = [KUBE_NETWORK] if podman("network", "exists", KUBE_NETWORK, check=False).returncode == 0 else []
    return {*images, *networks}


def remove_pod_infrastructure(before: set[str]) -> None:
    """Remove the pause images and kube network that appeared since before, unless a pod still uses them."""
    for made in sorted(pod_infrastructure() - before):
        if made == KUBE_NETWORK:
            podman("network", "rm", made, check=False)
        else:
            podman("rmi", made, check=False)


# ingress-nginx writes each annotation below as this nginx directive in the
# path's location; a configuration-snippet goes in as it is.
ANNOTATION_DIRECTIVES = {
    "proxy-body-size": "client_max_body_size",
    "proxy-request-buffering": "proxy_request_buffering",
    "client-body-buffer-size": "client_body_buffer_size",
    "proxy-buffering": "proxy_buffering",
}
ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"
CACHE_PATH = "/tmp/starpunk-cache"


def ingress_nginx_site(ingresses: list[Manifest], controller: Manifest, upstream: str, port: int, workdir: Path) -> str:
    """Return nginx configuration for the Ingresses as ingress-nginx lays them out: one server, a location per path.

    A translation of the annotations StarPunk uses, for a plain nginx on
    127.0.0.1:port; the controller's defaults that matter here come first
    (it does not buffer responses unless told to).
    """
    http_snippet = controller["data"]["http-snippet"]
    if CACHE_PATH not in http_snippet:
        raise HarnessError(
            f"the controller's http-snippet no longer keeps its cache in {CACHE_PATH}; update harness/kube.py."
        )
    lines = [
        http_snippet.replace(CACHE_PATH, str(workdir / "cache")),
        f"upstream starpunk {{ server {upstream}; }}",
        "server {",
    ]
    lines += [
        f"  listen 127.0.0.1:{port};",
        "  proxy_buffering off;",
        "  proxy_http_version 1.1;",
        "  proxy_set_header Host $host;",
    ]
    for ingress in ingresses:
        directives = []
        for key, value in ingress["metadata"].get("annotations", {}).items():
            name = key.removeprefix(ANNOTATION_PREFIX)
            if name == "configuration-snippet":
                directives += value.strip().splitlines()
            elif name in ANNOTATION_DIRECTIVES:
                directives.append(f"{ANNOTATION_DIRECTIVES[name]} {value};")
            else:
                raise HarnessError(f"harness/kube.py cannot translate the annotation {key} yet.")
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                prefix = path["path"]
                # A Prefix path matches itself and what lies under it, not /administrator for /admin.
                matches = ["/"] if prefix == "/" else [f"= {prefix}", f"{prefix.rstrip('/')}/"]
                for match in matches:
                    lines += [
                        f"  location {match} {{",
                        *(f"    {line}" for line in directives),
                        "    proxy_pass http://starpunk;",
                        "  }",
                    ]
    return "\n".join([*lines, "}", ""])
