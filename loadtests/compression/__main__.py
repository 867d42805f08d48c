"""Measure what gzip in the app would cost and save when no proxy is in front: requests/s with wrk against bytes saved.

    python -m loadtests.compression --image starpunk:latest

Starts the image twice on 127.0.0.1 (the server on core 1, wrk on core 0):
as built, and with gzip_app.py (the same app plus a gzip hook), each filled
with the same notes; runs wrk on the index, a permalink and the RSS feed, and
writes the figures to build/reports/load/compression.md. Bounded: a few
10-second wrk runs.
"""

import argparse
from pathlib import Path

from testkit.samples import fill_site
from testkit.site import ApiSite, Lab, standalone_lab
from testkit.web import TIMEOUT, plain_session

from ..wrk import SERVER_CORE, run_wrk

HERE = Path(__file__).resolve().parent
REPORT = Path("build/reports/load/compression.md")
DURATION_S = 10
CONNECTIONS = 16


def start(lab: Lab, variant: str) -> ApiSite:
    """Run the image on 127.0.0.1 on the server core (with gzip_app when variant is 'gzip'); wait until healthy."""
    if variant != "gzip":
        return lab.site(cpuset_cpus=str(SERVER_CORE))
    return lab.site(
        env={"PYTHONPATH": "/bench"},
        mounts={str(HERE / "gzip_app.py"): "/bench/gzip_app.py"},
        command=["gunicorn", "--config", "/app/gunicorn.conf.py", "gzip_app:app"],
        cpuset_cpus=str(SERVER_CORE),
    )


def wrk(url: str, gzip: bool) -> float:
    """Return requests/s of a bounded wrk run on url (loadtests/wrk.py), with or without Accept-Encoding: gzip."""
    return run_wrk(url, DURATION_S, CONNECTIONS, headers=("Accept-Encoding: gzip",) if gzip else ()).rps


def body_bytes(url: str, gzip: bool) -> int:
    """Return the size of the body as sent (compressed or not)."""
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    reply = plain_session().get(url, headers=headers, stream=True, timeout=TIMEOUT)
    return len(reply.raw.read(decode_content=False))


def main() -> None:
    """Measure both variants and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="starpunk:latest")
    image = parser.parse_args().image
    rows = []
    with standalone_lab(image, "compression") as lab:
        for variant in ("as built", "gzip"):
            site = start(lab, variant)
            paths = fill_site(site.sign_in())
            for label, path in (("index", "/"), ("permalink", paths.photo_note), ("RSS feed", "/feed.xml")):
                url = site.base_url + path
                compressed = variant == "gzip"
                wrk(url, compressed)  # warm-up run, not counted
                rows.append((label, variant, body_bytes(url, compressed), wrk(url, compressed)))
            site.remove()
    lines = [
        f"wrk, {CONNECTIONS} connections, {DURATION_S} s per figure, "
        "Gunicorn (the image's default workers) on core 1, wrk (1 thread) on core 0; gzip level 6.",
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
