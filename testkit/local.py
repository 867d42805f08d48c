"""Gunicorn run from this Python environment on 127.0.0.1: for the tests that want a real server but no image.

LocalGunicorn runs any WSGI app (the worker's tests serve an echo app with their
own settings); LocalSite is StarPunk itself under it, with the repository's
gunicorn.conf.py, on a fresh DATA_PATH.
"""

import importlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from .env import SITE_URL
from .owner import Owner
from .ports import LOOPBACK, free_port, loopback_url
from .waiting import wait_for
from .web import plain_session

ROOT = Path(__file__).resolve().parents[1]
STOP_TIMEOUT = 30.0
START_TIMEOUT = 30.0


class LocalGunicorn:
    """One Gunicorn child process bound to 127.0.0.1 on a free port, its output in a log file."""

    def __init__(
        self,
        app: str,
        log: Path,
        options: Sequence[str] = (),
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = loopback_url(self.port)
        self.log = log
        command = [sys.executable, "-m", "gunicorn", *options, "-b", f"{LOOPBACK}:{self.port}", app]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)

    def logs(self) -> str:
        """Return what Gunicorn has written so far."""
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Send SIGTERM; return whether Gunicorn exited within timeout seconds (if not, it is killed)."""
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return False
        return True


class LocalSite:
    """StarPunk in development settings under LocalGunicorn (gunicorn.conf.py, `workers` workers) on data."""

    def __init__(self, data: Path, site_url: str = SITE_URL, workers: int = 2) -> None:
        # No StarPunk setting of the machine running the tests leaks in (the app is untyped: imported by name).
        settings: Any = importlib.import_module("starpunk.config").DEFAULTS
        self.env = {
            **{name: value for name, value in os.environ.items() if name not in settings},
            "DATA_PATH": str(data),
            "SITE_URL": site_url,
            "ENVIRONMENT": "development",
            "WORKERS": str(workers),
        }
        self.server = LocalGunicorn("starpunk:create_app()", data.parent / "gunicorn.log", cwd=ROOT, env=self.env)
        self.base_url = self.server.base_url
        http = plain_session()

        def health() -> int:
            if self.server.process.poll() is not None:
                raise AssertionError(f"Gunicorn exited {self.server.process.returncode}:\n{self.logs()[-3000:]}")
            return http.get(self.base_url + "/health", timeout=2).status_code

        try:
            wait_for(
                health,
                "Gunicorn answering /health",
                START_TIMEOUT,
                0.05,
                lambda status: status == 200,
                (requests.ConnectionError,),
            )
        except BaseException:
            self.server.stop()  # a site that never answered leaves no Gunicorn behind
            raise

    def logs(self) -> str:
        """Return Gunicorn's log."""
        return self.server.logs()

    def login_link(self) -> str:
        """Return a one-time login link from the `login-link` command, as an operator makes one."""
        made = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "starpunk", "login-link"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return made.stdout.strip().splitlines()[-1]

    def sign_in(self) -> Owner:
        """Sign in as the owner with a fresh login link."""
        return Owner(self.base_url, self.login_link())

    def stop(self) -> str:
        """Stop Gunicorn (SIGTERM, bounded wait) and return its log."""
        self.server.stop()
        return self.logs()
