"""Audit the pinned requirements with pip-audit, and prove the audit can fail.

pip-audit asks PyPI's JSON API for each pinned release (the default service).
Where that API does not answer per release (the registry proxy on this kind of
machine serves only whole-project pages), the audit falls back to the last
free PyUp database (the `safety-db` package, July 2021), served to pip-audit
as an OSV query API on 127.0.0.1. The fallback is stale: it still catches
every advisory older than its snapshot, and the session says which source it used.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# A pin with a well-known advisory: Jinja2 2.10's sandbox escape (CVE-2019-10906), fixed in 2.10.1.
CANARY_PACKAGE, CANARY_VERSION = "jinja2", "2.10"
PIP_AUDIT_ARGS = ["--strict", "--no-deps", "--disable-pip", "--progress-spinner", "off"]


def canary_findings(report: str) -> list[str]:
    """Return the advisory ids pip-audit's JSON report gives the canary pin (empty when it could not audit it)."""
    for dependency in json.loads(report)["dependencies"]:
        if dependency["name"] == CANARY_PACKAGE and dependency.get("version") == CANARY_VERSION:
            return [vuln["id"] for vuln in dependency.get("vulns", [])]
    return []


def snapshot_vulns(database: dict[str, Any], name: str, version: str) -> list[dict[str, Any]]:
    """Return the OSV records of the snapshot's advisories that cover this release."""
    try:
        release = Version(version)
    except InvalidVersion:
        return []
    records = []
    for entry in database.get(canonicalize_name(name), []):
        if any(release in SpecifierSet(spec) for spec in entry["specs"]):
            records.append(
                {
                    "id": entry["id"],
                    "aliases": [entry["cve"]] if entry.get("cve") else [],
                    "details": entry["advisory"],
                    "affected": [{"package": {"name": canonicalize_name(name), "ecosystem": "PyPI"}, "ranges": []}],
                }
            )
    return records


@contextmanager
def snapshot_osv(database_file: Path) -> Iterator[str]:
    """Serve the safety-db snapshot as OSV's /v1/query on 127.0.0.1 and yield its URL."""
    database: dict[str, Any] = {
        canonicalize_name(name): entries
        for name, entries in json.loads(database_file.read_text()).items()
        if name != "$meta"
    }

    class Query(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            vulns = snapshot_vulns(database, query["package"]["name"], query["version"])
            body = json.dumps({"vulns": vulns} if vulns else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Query)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/query"
    finally:
        server.shutdown()
        server.server_close()
