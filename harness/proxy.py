"""Run Debian's caddy and nginx in front of StarPunk from the repository's example configurations.

The examples stay templates for a user's domain (blog.example.com, the app on
127.0.0.1:8000). Here they are rendered for a local test host by plain
substitution of those placeholders, plus what a test on a shared machine
needs (free ports, loopback only, files in a temporary folder), and nothing
else: the headers, compression and cache rules under test are the user's.
"""

import re
import signal
import subprocess
from pathlib import Path

from testkit.env import loopback_env
from testkit.ports import free_port
from testkit.waiting import WaitTimeout, wait_for

from . import ROOT, HarnessError

DOMAIN = "blog.example.com"
UPSTREAM = "127.0.0.1:8000"
NGINX_CACHE = "/var/cache/starpunk-nginx"
STOP_TIMEOUT = 10
LOG_LINES = 40


def _substitute(text: str, name: str, replacements: list[tuple[str, str]]) -> str:
    for old, new in replacements:
        if old not in text:
            raise HarnessError(f"{name} no longer contains {old!r}; update harness/proxy.py to the new template.")
        text = text.replace(old, new)
    return text


# Caddyfile.example's request buffering for Caddy 2.6.4+, and what its comment says to use on 2.6.2 and 2.6.3.
CADDY_BUFFERS = "request_buffers 42MiB"
CADDY_262_BUFFERS = "buffer_requests\n\t\tmax_buffer_size 42MiB"


def caddy_version() -> tuple[int, ...]:
    """Return the installed Caddy's version as numbers, e.g. (2, 6, 2)."""
    result = subprocess.run(["caddy", "version"], capture_output=True, text=True, check=False)
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", result.stdout.strip())
    if result.returncode != 0 or match is None:
        raise HarnessError(f"`caddy version` did not name a version: {result.stdout}{result.stderr}")
    return tuple(int(part) for part in match.groups())


def render_caddyfile(
    template: str,
    host: str,
    https_port: int,
    http_port: int,
    upstream: str,
    workdir: Path,
    version: tuple[int, ...] = (2, 6, 4),
) -> str:
    """Return Caddyfile.example for https://host:https_port with certificates from Caddy's internal CA.

    For Caddy before 2.6.4, the request buffering line is the one the example's comment gives for those versions.
    """
    replacements = [
        (DOMAIN, f"{host}:{https_port}"),
        (UPSTREAM, upstream),
        ("/var/log/caddy/starpunk.log", str(workdir / "access.log")),
    ]
    if version < (2, 6, 4):
        # The example's comment must still give the older lines this renders.
        replacements.append(("#   max_buffer_size 42MiB", "#   max_buffer_size 42MiB"))
        replacements.append((f"\t\t{CADDY_BUFFERS}\n", f"\t\t{CADDY_262_BUFFERS}\n"))
    site = _substitute(template, "Caddyfile.example", replacements)
    # Test-only global options: internal TLS issuer (`tls internal` for every
    # site), no admin endpoint, no trust-store changes, loopback, own storage.
    options = "\n".join(
        [
            "{",
            "\tadmin off",
            "\tlocal_certs",
            "\tskip_install_trust",
            f"\tstorage file_system {workdir / 'data'}",
            f"\thttp_port {http_port}",
            f"\thttps_port {https_port}",
            "\tdefault_bind 127.0.0.1",
            "}",
            "",
        ]
    )
    return options + site


def render_nginx_site(template: str, host: str, https_port: int, http_port: int, upstream: str, workdir: Path) -> str:
    """Return nginx.conf.example for https://host:https_port with the session's own certificate."""
    return _substitute(
        template,
        "nginx.conf.example",
        [
            (f"/etc/letsencrypt/live/{DOMAIN}/fullchain.pem", str(workdir / "cert.pem")),
            (f"/etc/letsencrypt/live/{DOMAIN}/privkey.pem", str(workdir / "key.pem")),
            (DOMAIN, host),
            (UPSTREAM, upstream),
            ("/var/www/certbot", str(workdir / "www")),
            (NGINX_CACHE, str(workdir / "cache")),
            ("listen [::]:80;", ""),
            ("listen [::]:443 ssl http2;", ""),
            ("listen 80;", f"listen 127.0.0.1:{http_port};"),
            ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ],
    )


def nginx_reference_server(port: int, workdir: Path) -> str:
    """Return an nginx server that serves workdir/reference/ from disk over HTTPS on 127.0.0.1:port.

    It uses the site's certificate and the example's TLS settings, so requests
    to it cost what serving the same bytes as a file costs: the limit the
    micro-cache is measured against.
    """
    return "\n".join(
        [
            "server {",
            f"  listen 127.0.0.1:{port} ssl http2;",
            f"  ssl_certificate {workdir / 'cert.pem'};",
            f"  ssl_certificate_key {workdir / 'key.pem'};",
            "  ssl_protocols TLSv1.2 TLSv1.3;",
            "  server_tokens off;",
            f"  root {workdir / 'reference'};",
            "}",
            "",
        ]
    )


def nginx_main_conf(site: Path, workdir: Path, extra: str = "") -> str:
    """Return a main nginx.conf that includes the site the way /etc/nginx/conf.d/ would, with files in workdir."""
    temp = [
        f"  {kind}_temp_path {workdir / 'tmp' / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    ]
    return "\n".join(
        [
            "worker_processes 1;",
            f"pid {workdir / 'nginx.pid'};",
            f"error_log {workdir / 'error.log'};",
            # Debian's nginx.conf allows 768; the slow-client test holds ~250 connections,
            # each proxied one counting twice.
            "events { worker_connections 1024; }",
            "http {",
            "  include /etc/nginx/mime.types;",
            "  default_type application/octet-stream;",
            f"  access_log {workdir / 'access.log'};",
            *temp,
            f"  include {site};",
            *([extra] if extra else []),
            "}",
            "",
        ]
    )


def make_certificate(host: str, workdir: Path) -> Path:
    """Write a self-signed certificate for host (cert.pem, key.pem) with openssl and return the certificate's path."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    command = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={host}",
        "-addext",
        f"subjectAltName=DNS:{host}",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HarnessError(f"openssl could not make a certificate: {result.stderr.strip()}")
    return cert


class ProxyServer:
    """Caddy or nginx, rendered from the repository's example for host and run on 127.0.0.1 from workdir."""

    def __init__(self, kind: str, host: str, upstream_port: int, workdir: Path, reference: bool = False) -> None:
        """Render the example for host in workdir.

        With reference (nginx only), also serve workdir/reference/ from disk.
        """
        if kind not in ("caddy", "nginx") or (reference and kind != "nginx"):
            raise ValueError(kind)
        self.kind = kind
        self.host = host
        self.https_port = free_port()
        self.http_port = free_port()
        self.upstream = f"127.0.0.1:{upstream_port}"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        # A second HTTPS port where the same nginx serves files from disk (0: none).
        self.reference_port = free_port() if reference else 0
        workdir.mkdir(parents=True, exist_ok=True)
        # nginx's workers run as nobody and must reach their temporary folders.
        workdir.chmod(0o755)
        self.config = self._render()

    @property
    def site_url(self) -> str:
        """Return the public address the proxy serves, e.g. https://starpunk.test:49200."""
        return f"https://{self.host}:{self.https_port}"

    @property
    def ca_file(self) -> Path:
        """Return the certificate a client must trust to verify the proxy's TLS certificate."""
        if self.kind == "caddy":
            return self.workdir / "data" / "pki" / "authorities" / "local" / "root.crt"
        return self.workdir / "cert.pem"

    def _render(self) -> Path:
        ports = (self.host, self.https_port, self.http_port, self.upstream, self.workdir)
        if self.kind == "caddy":
            config = self.workdir / "Caddyfile"
            config.write_text(
                render_caddyfile((ROOT / "Caddyfile.example").read_text(), *ports, version=caddy_version())
            )
            return config
        make_certificate(self.host, self.workdir)
        (self.workdir / "tmp").mkdir()
        (self.workdir / "www").mkdir()
        site = self.workdir / "starpunk.conf"
        site.write_text(render_nginx_site((ROOT / "nginx.conf.example").read_text(), *ports))
        config = self.workdir / "nginx.conf"
        extra = ""
        if self.reference_port:
            (self.workdir / "reference").mkdir()
            extra = nginx_reference_server(self.reference_port, self.workdir)
        config.write_text(nginx_main_conf(site, self.workdir, extra))
        return config

    @property
    def reference_folder(self) -> Path:
        """Return the folder the reference server serves from disk."""
        return self.workdir / "reference"

    @property
    def cache_folder(self) -> Path:
        """Return the folder of nginx's micro-cache (nginx creates it at start)."""
        return self.workdir / "cache"

    def _command(self, *extra: str) -> list[str]:
        if self.kind == "caddy":
            return ["caddy", *extra, "--config", str(self.config), "--adapter", "caddyfile"]
        return [
            "nginx",
            "-c",
            str(self.config),
            "-p",
            f"{self.workdir}/",
            "-e",
            str(self.workdir / "error.log"),
            *extra,
        ]

    def control_command(self) -> list[str]:
        """Return nginx's command line for this configuration, to which -t or -s reload can be added (nginx only)."""
        if self.kind != "nginx":
            raise ValueError("only nginx is controlled from its command line here")
        return self._command()

    def _env(self) -> dict[str, str]:
        # Caddy keeps its state under HOME / XDG folders: keep them in workdir too.
        home = str(self.workdir / "home")
        return loopback_env(HOME=home, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")

    def validate(self) -> str:
        """Run `caddy validate` or `nginx -t` on the rendered configuration; return its output, raise if it fails."""
        command = self._command("validate") if self.kind == "caddy" else self._command("-t")
        result = subprocess.run(command, capture_output=True, text=True, env=self._env(), check=False)
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise HarnessError(f"`{' '.join(command)}` failed:\n{output[-2000:]}")
        return output

    def start(self, cpus: str | None = None) -> None:
        """Start the server in the foreground of a child process; its output goes to workdir/server.log.

        cpus (e.g. "1") pins the server and every process it starts to those cores with taskset.
        """
        command = self._command("run") if self.kind == "caddy" else self._command("-g", "daemon off;")
        if cpus is not None:
            command = ["taskset", "-c", cpus, *command]
        with (self.workdir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self._env())

    def check_running(self) -> None:
        """Raise HarnessError with the server's log if it has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise HarnessError(f"{self.kind} exited with {self.process.returncode}:\n{self.logs()}")

    def wait_for_ca(self, timeout: float = 30) -> None:
        """Wait until the certificate clients must trust exists (Caddy writes its CA at start)."""

        def written() -> bool:
            self.check_running()  # a server that exited ends the wait at once, with its log
            return self.ca_file.exists()

        try:
            wait_for(written, f"{self.kind} to write {self.ca_file}", timeout, 0.1)
        except WaitTimeout as exc:
            raise HarnessError(f"{exc}\n{self.logs()}") from None

    def stop(self) -> None:
        """Stop the server gracefully, then harder after each timeout."""
        if self.process is None or self.process.poll() is not None:
            return
        # nginx: SIGQUIT lets requests finish, SIGTERM is its fast shutdown; both
        # take the workers down with the master, which SIGKILL would not.
        graceful = (
            [signal.SIGTERM, signal.SIGKILL]
            if self.kind == "caddy"
            else [signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL]
        )
        for sig in graceful:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT)
                return
            except subprocess.TimeoutExpired:
                continue

    def logs(self) -> str:
        """Return the last lines of the server's output and error log."""
        lines = []
        for name in ("server.log", "error.log"):
            path = self.workdir / name
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()[-LOG_LINES:]
        return "\n".join(lines) or "(no output)"
