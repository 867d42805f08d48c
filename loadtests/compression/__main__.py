"""Measure what gzip in the app would cost and save when no proxy is in front: requests/s with wrk against bytes saved.

    python -m loadtests.compression --image starpunk:latest

Starts the image twice on 127.0.0.1 (the server on core 1, wrk on core 0):
as built, and with gzip_app.py (the same app plus a gzip hook), each filled
with the same notes; runs wrk on the index, a permalink and the RSS feed, and
writes the figures to build/reports/load/compression.md. Bounded: a few
10-second wrk runs.
"""

import argparse
import re
import secrets
import subprocess
import time
from pathlib import Path

import requests

from testkit.owner import Owner
from testkit.ports import free_port
from testkit.samples import fill_site

HERE = Path(__file__).resolve().parent
REPORT = Path("build/reports/load/compression.md")
LABEL = "org.starpunk.test=compression"
DURATION_S = 10
CONNECTIONS = 16


def start(image, variant):
    """Run the image on 127.0.0.1 on core 1 (with gzip_app when variant is 'gzip'); return (name, base URL)."""
    port = free_port()
    name = f"starpunk-compression-{secrets.token_hex(4)}"
    command = [
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--label",
        LABEL,
        "--cpuset-cpus",
        "1",
        "-p",
        f"127.0.0.1:{port}:8000",
        "-e",
        "ENVIRONMENT=development",
        "-e",
        f"SITE_URL=http://127.0.0.1:{port}",
        "-e",
        f"SESSION_SECRET={secrets.token_hex(32)}",
    ]
    if variant == "gzip":
        command += ["-v", f"{HERE / 'gzip_app.py'}:/bench/gzip_app.py:ro", "-e", "PYTHONPATH=/bench"]
    command.append(image)
    if variant == "gzip":
        command += ["gunicorn", "--config", "/app/gunicorn.conf.py", "gzip_app:app"]
    subprocess.run(command, check=True, capture_output=True)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base_url + "/health", timeout=1).status_code == 200:
                return name, base_url
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{name} did not answer /health within 30 s")


def wrk(url, gzip):
    """Return requests/s of a bounded wrk run on url (from core 0), with or without Accept-Encoding: gzip."""
    header = ["-H", "Accept-Encoding: gzip"] if gzip else []
    done = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{DURATION_S}s", *header, url],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))


def body_bytes(url, gzip):
    """Return the size of the body as sent (compressed or not)."""
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    reply = requests.get(url, headers=headers, stream=True, timeout=10)
    return len(reply.raw.read(decode_content=False))


def main():
    """Measure both variants and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="starpunk:latest")
    image = parser.parse_args().image
    rows = []
    for variant in ("as built", "gzip"):
        name, base_url = start(image, variant)
        try:
            login = subprocess.run(
                ["docker", "exec", name, "flask", "--app", "starpunk", "login-link"],
                check=True,
                capture_output=True,
                text=True,
            )
            paths = fill_site(Owner(base_url, login.stdout.strip().splitlines()[-1]))
            for label, path in (("index", "/"), ("permalink", paths.photo_note), ("RSS feed", "/feed.xml")):
                url = base_url + path
                compressed = variant == "gzip"
                wrk(url, compressed)  # warm-up run, not counted
                rows.append((label, variant, body_bytes(url, compressed), wrk(url, compressed)))
        finally:
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
    lines = [
        f"wrk, {CONNECTIONS} connections, {DURATION_S} s per figure, "
        "Gunicorn (4 workers) on core 1, wrk on core 0; gzip level 6.",
        "",
        "| page | app | body bytes | requests/s | vs as built |",
        "|---|---|---|---|---|",
    ]
    plain = {label: (size, rate) for label, variant, size, rate in rows if variant == "as built"}
    for label, variant, size, rate in rows:
        ratio = rate / plain[label][1]
        lines.append(f"| {label} | {variant} | {size:,} ({size / plain[label][0]:.0%}) | {rate:,.0f} | {ratio:.2f} |")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
