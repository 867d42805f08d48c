"""Build StarPunk's image with Podman from the same Containerfile, base image and build arguments as with Docker."""

import subprocess

from . import HarnessError
from .image import build_command

# Podman as root here needs lower rlimits, or runc fails with "error setting rlimit type 7".
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def podman(
    *args: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run podman with args (in env, else this process's environment).

    Raise HarnessError with its output when check is set and podman fails.
    """
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False, env=env)
    if check and result.returncode != 0:
        raise HarnessError(
            f"`podman {' '.join(args)}` exited {result.returncode}:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    return result


def image_ids() -> set[str]:
    """Return the ids of every image (intermediate ones too) in Podman's storage."""
    return set(podman("images", "--all", "--quiet", "--no-trunc").stdout.split())


def load_base(base: str) -> bool:
    """Copy the base image from the Docker engine into Podman unless Podman has it; return whether it was copied."""
    if podman("image", "exists", base, check=False).returncode == 0:
        return False
    copy_from_docker(base)
    return True


def copy_from_docker(image: str) -> None:
    """Copy an image from the Docker engine into Podman's storage (`docker save | podman load`)."""
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    load = subprocess.run(["podman", "load"], stdin=save.stdout, capture_output=True, text=True, check=False)
    if save.stdout is not None:  # always a pipe; closing our copy lets docker see when podman stops reading
        save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise HarnessError(f"could not copy {image} from Docker to Podman: {load.stderr.strip()[-1000:]}")


def podman_build_command(base: str, tag: str, docker_format: bool = True) -> list[str]:
    """Return `podman build` with the harness's Docker build arguments, tagged only as tag.

    docker_format keeps the HEALTHCHECK; Podman's default OCI format drops it.
    """
    docker_command = build_command(base)
    command = ["podman", "build"]
    args = iter(docker_command[2:])
    for arg in args:
        if arg == "--tag":
            next(args)  # the Docker tags (starpunk:VERSION, starpunk:latest) stay Docker's
        else:
            command.append(arg)
    context = command.pop()
    if docker_format:
        command += ["--format", "docker"]
    return [*command, "--tag", tag, context]
