"""StarPunk as `podman kube play` runs deploy/kubernetes/.

Here: the played pod as a testkit Site, and the sweep of what runs leave.

Everything a run makes in Podman (pods, the claim's volume, the secret) is
named for the run and labelled with testkit's run labels under the suite
"kube", so a sweep removes only what this run, or a run whose process is
gone, left behind; the podman session's images and containers are never touched.
"""

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.kube import CONTAINERS_CONF, Played, podman_secret
from harness.podman import podman
from testkit import cli, runs
from testkit.ports import free_port
from testkit.site import Site
from testkit.waiting import wait_for

SUITE = "kube"


class PlayedSite(Site):
    """StarPunk as the pod `podman kube play` makes of the Deployment; removed with `podman kube down`."""

    def __init__(self, played: Played, folder: Path) -> None:
        settings = {key: str(value) for key, value in played.settings["data"].items()}
        super().__init__(settings, name=played.container_name, port=played.port)
        self.played = played
        self.pod_file = folder / "pod.yaml"
        self.pod_file.write_text(played.pod_yaml())
        conf = folder / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        self.podman_env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run podman with the run's containers.conf (the lower rlimits `kube play` cannot be given as flags)."""
        return podman(*args, check=check, env=self.podman_env)

    def _create_and_start(self) -> None:
        self.podman("kube", "play", str(self.pod_file))

    def _start_existing(self) -> None:
        self.podman("pod", "start", f"{self.played.name}-pod-0")

    def _stop(self, timeout: int) -> None:
        self.podman("pod", "stop", "--time", str(timeout), f"{self.played.name}-pod-0")

    def kill(self, signal: str = "SIGKILL") -> None:
        """Send a signal to the app container's main process."""
        self.podman("kill", "--signal", signal, self.name)

    def exec(self, *command: str, user: str = "") -> tuple[int, str, str]:
        """Run a command in the app container; return its exit code, stdout and stderr."""
        result = self.podman("exec", *(["--user", user] if user else []), self.name, *command, check=False)
        return result.returncode, result.stdout, result.stderr

    def logs(self, tail: int | None = None) -> str:
        """Return the app container's log (the last tail lines, or all)."""
        result = self.podman("logs", *(["--tail", str(tail)] if tail else []), self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict[str, Any]:
        """Return `podman inspect`'s State of the app container, plus RestartCount."""
        attrs = self.inspect()
        return {**attrs["State"], "RestartCount": attrs.get("RestartCount", 0)}

    def inspect(self) -> dict[str, Any]:
        """Return everything `podman inspect` says of the app container."""
        return json.loads(self.podman("inspect", self.name).stdout)[0]

    def _remove(self) -> None:
        self.podman("kube", "down", str(self.pod_file), check=False)

    def down(self) -> None:
        """Tear the pod down as a user would (`podman kube down`), leaving the claim's volume."""
        self.remove()
        wait_for(
            lambda: self.podman("pod", "exists", f"{self.played.name}-pod-0", check=False).returncode,
            "the pod to be gone",
            30,
        )


def sweep(run: str | None = None) -> None:
    """Remove pods, volumes and secrets this suite left: this run's, or those of runs whose process is gone."""

    def ours(labels: dict[str, str] | None) -> bool:
        return runs.swept(labels, run, SUITE)

    pods = json.loads(podman("pod", "ps", "--format", "json").stdout or "[]")
    for pod in pods:
        if ours(pod.get("Labels")):
            podman("pod", "rm", "--force", pod["Name"], check=False)
    for volume in json.loads(podman("volume", "ls", "--format", "json").stdout or "[]"):
        if ours(volume.get("Labels")):
            podman("volume", "rm", "--force", volume["Name"], check=False)
    for name in podman("secret", "ls", "--format", "{{.Name}}").stdout.split():
        labels = json.loads(podman("secret", "inspect", "--format", "{{json .Spec.Labels}}", name).stdout or "{}")
        if ours(labels):
            podman("secret", "rm", name, check=False)


@contextmanager
def play(
    image: str,
    labels: dict[str, str],
    folder: Path,
    secret: dict[str, str],
    wait: bool = True,
    plan_of: Callable[[str, str, int, dict[str, str]], Played] = Played,
) -> Iterator[PlayedSite]:
    """Play the manifests with Podman (plan_of: the base's, or another variant of them).

    The secrets as Podman secrets, the claim once, then the ConfigMap and Deployment.
    """
    plan = plan_of(f"starpunk-kube-{uuid.uuid4().hex[:10]}", image, free_port(), labels)
    site = PlayedSite(plan, folder)
    label_args = cli.label_args(labels)
    named = {plan.secret_name: secret, **plan.secrets()}
    try:
        for name, values in named.items():
            secret_file = folder / "secret.json"
            secret_file.write_text(podman_secret(values))
            site.podman("secret", "create", *label_args, name, str(secret_file))
            secret_file.unlink()
        claim = folder / "claim.yaml"
        claim.write_text(plan.claim_yaml())
        site.podman("kube", "play", str(claim))
        yield site.start(wait=wait)
    finally:
        site.remove()
        site.podman("volume", "rm", "--force", plan.claim_name, check=False)
        for name in named:
            site.podman("secret", "rm", name, check=False)
