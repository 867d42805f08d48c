"""A replicated StarPunk under test: the restore step, the site and its Litestream sidecar on one volume.

`ReplicatedSite(lab, sidecar_image, store, path).start()` does what the
Kubernetes deployment does on a new machine: the sidecar image's `restore` on
the volume (newest replica, or nothing when there is none yet; its init
container), then the sidecar's `replicate` (the image's default command),
then StarPunk, which waits for the sidecar's socket when it finds no
database (docker-entrypoint.py). The sidecar runs in the host's network
namespace so that it reaches the object store on 127.0.0.1
(testkit/objectstore.py); StarPunk keeps its own published port. Containers
carry the lab's labels and go with `remove()` (or the run's label sweep).
"""

import time
from dataclasses import dataclass
from typing import Any, Self

import docker
from docker.models.containers import Container

from .objectstore import ObjectStore
from .site import ApiSite, Lab, unique_name
from .waiting import wait_for

CONFIG = "/etc/litestream.yml"
DATABASE = "/data/starpunk.db"
SOCKET = "/data/.litestream.sock"
# The replica's sync interval in deploy/litestream/litestream.yml: the window of loss is this plus one upload.
SYNC_INTERVAL_SECONDS = 1.0
RESTORE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Restore:
    """What the restore step did: its exit code, its output and how long it ran."""

    exit_code: int
    logs: str
    seconds: float


class ReplicatedSite:
    """StarPunk and its Litestream sidecar on one volume, restored from the bucket before the site starts."""

    def __init__(
        self,
        lab: Lab,
        sidecar_image: str,
        store: ObjectStore,
        path: str,
        image: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.lab = lab
        self.client: docker.DockerClient = lab.client
        self.sidecar_image = sidecar_image
        self.store = store
        self.path = path
        self.image = image
        self.env = {"REPLICATION_SOCKET": SOCKET, **(env or {})}
        self.volume = lab.volume()
        self.site: ApiSite | None = None
        self.sidecar: Container | None = None
        self.restored: Restore | None = None
        self._containers: list[Container] = []

    def _run_sidecar(self, command: list[str] | None) -> Container:
        container: Container = self.client.containers.run(
            self.sidecar_image,
            command,
            name=unique_name("starpunk-litestream"),
            detach=True,
            network_mode="host",
            volumes={self.volume: {"bind": "/data", "mode": "rw"}},
            environment=self.store.litestream_env(self.path),
            labels=self.lab.labels,
        )
        self._containers.append(container)
        return container

    def restore(self, *options: str) -> Restore:
        """Run the sidecar image's restore on the volume (if no database is there, and a replica exists)."""
        started = time.monotonic()
        command = ["restore", "-config", CONFIG, "-if-db-not-exists", "-if-replica-exists", *options, DATABASE]
        container = self._run_sidecar(command)
        result = container.wait(timeout=RESTORE_TIMEOUT)
        seconds = time.monotonic() - started
        logs = container.logs().decode(errors="replace")
        container.remove(force=True)
        self._containers.remove(container)
        self.restored = Restore(int(result["StatusCode"]), logs, seconds)
        assert self.restored.exit_code == 0, f"the restore step exited {self.restored.exit_code}:\n{logs}"
        return self.restored

    def start(self, *restore_options: str, replicate: bool = True, **site_options: Any) -> Self:
        """Restore, start the sidecar's replication, then StarPunk, and wait for its /health."""
        self.restore(*restore_options)
        if replicate:
            self.start_sidecar()
        if self.image is not None:
            site_options.setdefault("image", self.image)
        self.site = self._start_site(**site_options)
        return self

    def _start_site(self, image: str | None = None, **options: Any) -> ApiSite:
        if image is None:
            return self.lab.site(data=self.volume, env=self.env, **options)
        previous, self.lab.image = self.lab.image, image
        try:
            return self.lab.site(data=self.volume, env=self.env, **options)
        finally:
            self.lab.image = previous

    def start_sidecar(self) -> Container:
        """Start the sidecar as deployed (its default command) on the volume; wait until its control socket listens."""
        self.sidecar = self._run_sidecar(None)
        wait_for(self.sidecar_logs, "the sidecar's control socket", 30, 0.1, lambda logs: "control socket" in logs)
        return self.sidecar

    def sidecar_logs(self) -> str:
        """Return the running sidecar's output."""
        assert self.sidecar is not None, "no sidecar was started"
        return str(self.sidecar.logs().decode(errors="replace"))

    def wait_replicated(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until the site's /health says the replica is ok; return its replication status."""
        assert self.site is not None
        site = self.site

        def status() -> dict[str, Any]:
            replication: dict[str, Any] = site.get("/health", timeout=5).json().get("replication", {})
            return replication

        return wait_for(status, f"{site.name}: replication ok", timeout, 0.2, lambda s: s.get("status") == "ok")

    def kill(self) -> None:
        """SIGKILL the site and the sidecar at once (the disaster)."""
        if self.site is not None:
            self.site.kill()
        if self.sidecar is not None:
            self.sidecar.kill()

    def destroy(self) -> None:
        """Remove the site, the sidecar and the volume itself."""
        self.remove()
        self.client.volumes.get(self.volume).remove(force=True)
        self.lab.volumes.remove(self.volume)

    def remove(self) -> None:
        """Remove this pair's containers (the volume stays)."""
        if self.site is not None:
            self.site.remove()
            self.lab.sites.remove(self.site)
            self.site = None
        for container in self._containers:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
        self._containers.clear()
        self.sidecar = None
