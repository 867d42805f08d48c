"""A running StarPunk driven by the docker or podman command line, for the tests that are about the command line.

CliSite is the same Site as ApiSite (health, waits, the database, signing in),
but every step is the command a user types: `run`, `start`, `stop`, `kill`,
`exec`, `logs`, `inspect`, `rm`. It starts a container from an image, or
follows one something else started (docker-compose, a guide's shell block)
by name. Everything it runs goes through `run`, with a proxy-free environment.
"""

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

from . import runs
from .env import loopback_env
from .ports import LOOPBACK
from .site import Site, unique_name

COMMAND_TIMEOUT = 120


def run(
    *command: str, check: bool = True, timeout: float = COMMAND_TIMEOUT, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command with a proxy-free environment; with check, fail showing its output unless it exits 0."""
    kwargs.setdefault("env", loopback_env())
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check:
        assert result.returncode == 0, (
            f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result


def label_args(labels: dict[str, str]) -> list[str]:
    """Return the --label options that put labels on what `run` or `volume create` makes."""
    return [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]


def env_args(env: dict[str, str]) -> list[str]:
    """Return the --env options that give a container these settings."""
    return [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]


class CliSite(Site):
    """One StarPunk container driven with the docker or podman command line, published on 127.0.0.1:port."""

    def __init__(
        self,
        env: dict[str, str],
        engine: str = "docker",
        image: str = "",
        volume: str = "",
        labels: dict[str, str] | None = None,
        options: tuple[str, ...] = (),
        name: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(env, name, port)
        self.engine = engine
        self.image_name = image
        self.volume = volume
        self.labels = labels or {}
        self.options = options

    def cli(self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run the engine's command line (docker ARGS or podman ARGS)."""
        return run(self.engine, *args, check=check, timeout=timeout)

    def follow(self) -> Self:
        """Follow a container something else created under this name: its logs go into failure reports until removed."""
        runs.track(self)
        self.started_at = time.monotonic()
        return self

    def _create_and_start(self) -> None:
        assert self.image_name, f"{self.name}: no image to run (a followed container is started by what created it)"
        data = ["--volume", f"{self.volume}:/data"] if self.volume else []
        self.cli(
            "run",
            "--detach",
            "--name",
            self.name,
            *label_args(self.labels),
            *self.options,
            *env_args(self.env),
            *data,
            "--publish",
            f"{LOOPBACK}:{self.port}:8000",
            self.image_name,
        )

    def _start_existing(self) -> None:
        self.cli("start", self.name)

    def _stop(self, timeout: int) -> None:
        self.cli("stop", "--time", str(timeout), self.name, timeout=timeout + COMMAND_TIMEOUT)

    def kill(self, signal: str = "SIGKILL") -> None:
        """Send a signal to the container's main process (Gunicorn's master) and return at once."""
        self.cli("kill", "--signal", signal, self.name)

    def exec(self, *command: str, user: str = "") -> tuple[int, str, str]:
        """Run a command inside the container; return its exit code, stdout and stderr."""
        result = self.cli("exec", *(("--user", user) if user else ()), self.name, *command, check=False)
        return result.returncode, result.stdout, result.stderr

    def logs(self, tail: int | None = None) -> str:
        """Return the container's stdout and stderr (the last tail lines, or all)."""
        result = self.cli("logs", *(("--tail", str(tail)) if tail is not None else ()), self.name, check=False)
        return result.stdout + result.stderr

    def inspect(self) -> dict[str, Any]:
        """Return everything `inspect` says of the container."""
        found: list[dict[str, Any]] = json.loads(self.cli("inspect", self.name).stdout)
        return found[0]

    def state(self) -> dict[str, Any]:
        """Return `inspect`'s State, plus RestartCount."""
        attrs = self.inspect()
        return {**attrs["State"], "RestartCount": attrs.get("RestartCount", 0)}

    def image(self) -> str:
        """Return the image the container was created from, as its `run` named it."""
        return str(self.inspect()["Config"]["Image"])

    def _remove(self) -> None:
        self.cli("rm", "--force", self.name, check=False)


def create_volume(engine: str, labels: dict[str, str]) -> str:
    """Create a labelled named volume with the engine's command line and return its name."""
    name = unique_name()
    run(engine, "volume", "create", *label_args(labels), name)
    return name


def remove_volume(engine: str, name: str) -> None:
    """Remove a named volume, if it is still there."""
    run(engine, "volume", "rm", "--force", name, check=False)


@contextmanager
def volume(engine: str, labels: dict[str, str]) -> Iterator[str]:
    """Give a labelled named volume for the time of a with block, removed afterwards."""
    name = create_volume(engine, labels)
    try:
        yield name
    finally:
        remove_volume(engine, name)


# What a sweep does to each kind of thing: list the labelled ones, inspect them, remove one.
_SWEPT = {
    "container": (("ps", "--all", "--quiet"), ("inspect",), ("rm", "--force")),
    "volume": (("volume", "ls", "--quiet"), ("volume", "inspect"), ("volume", "rm", "--force")),
}


def sweep(engine: str, run_id: str | None = None) -> list[str]:
    """Remove the containers, then the volumes, of one run; return their names.

    With run_id None, remove those of every run whose process is gone.
    """
    selector = f"label={runs.RUN_LABEL}={run_id}" if run_id else f"label={runs.RUN_LABEL}"
    removed = []
    for kind, (listing, inspect, remove) in _SWEPT.items():
        names = run(engine, *listing, "--filter", selector).stdout.split()
        found: list[dict[str, Any]] = (
            json.loads(run(engine, *inspect, *names, check=False).stdout or "[]") if names else []
        )
        for item in found:
            if not runs.swept((item["Config"] if kind == "container" else item).get("Labels"), run_id):
                continue
            name = str(item["Name"]).lstrip("/")
            run(engine, *remove, name, check=False)
            removed.append(f"{kind} {name}")
    return removed
