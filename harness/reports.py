"""Record each nox session's result and wall time, and write build/reports/index.html linking every report.

Each session writes build/reports/sessions/<session>.json when it ends, so the
page survives a crash of a later session and can be rebuilt from the folders
of several CI jobs merged together. A record carries the run it belongs to:
STARPUNK_RUN_ID when set (CI sets it to the pipeline's id, shared by its
jobs), else the time the nox process started. The page marks records of an
earlier run as such, and sessions with no record as not run.
"""

import html
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import ROOT

# One folder a kind of report: a list alike in shape only (the duplicates tool pairs its two halves).
REPORTS = ROOT / "build" / "reports"
RESULTS = REPORTS / "sessions"
JUNIT = REPORTS / "junit"
COVERAGE = REPORTS / "coverage"
LOAD = REPORTS / "load"
SCALE = REPORTS / "scale"
SCREENSHOTS = REPORTS / "e2e"
AXE = SCREENSHOTS / "axe"
LIGHTHOUSE = REPORTS / "lighthouse"
BLUE_GREEN = REPORTS / "upgrade" / "blue-green.json"
PROXY = REPORTS / "proxy"
MUTANTS = REPORTS / "mutants"
SBOM = REPORTS / "sbom"
REPRODUCIBLE = REPORTS / "reproducible"
REPLICATE = REPORTS / "replicate"
WEBMENTION = REPORTS / "webmention"

STARTED = datetime.now(timezone.utc)
RUN_ID = os.environ.get("STARPUNK_RUN_ID") or STARTED.strftime("%Y-%m-%dT%H:%M:%SZ")
STATUSES = {
    "passed": "passed",
    "failed": "FAILED",
    "skipped": "skipped",
    "interrupted": "INTERRUPTED",
    "aborted": "ABORTED",
}


@dataclass
class Result:
    """What one session did: its nox name (e.g. tests-3.12), the session it is a variant of, and how it ended."""

    name: str
    session: str
    status: str
    seconds: float
    finished: str
    run: str
    reason: str = ""


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def junit_path(name: str) -> Path:
    """Return where the pytest session `name` (e.g. tests-3.12) writes its JUnit XML."""
    return JUNIT / f"{_file_name(name)}.xml"


def coverage_path(name: str) -> Path:
    """Return the folder of the HTML coverage report of the session `name`."""
    return COVERAGE / _file_name(name)


def record(name: str, session: str, status: str, seconds: float, reason: str = "") -> Path:
    """Write the result of one session run; return the file written."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    finished = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = Result(name, session, status, round(seconds, 1), finished, RUN_ID, reason)
    path = RESULTS / f"{_file_name(name)}.json"
    path.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return path


def recorded_in_this_run(name: str) -> bool:
    """Return whether the session `name` has recorded a result in this nox run."""
    path = RESULTS / f"{_file_name(name)}.json"
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("run") == RUN_ID)
    except (OSError, ValueError):
        return False


def read_results() -> list[Result]:
    """Return every recorded session result, skipping files that are not one."""
    results = []
    for path in sorted(RESULTS.glob("*.json")):
        try:
            results.append(Result(**json.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, TypeError):
            continue
    return results


def junit_counts(path: Path) -> str:
    """Summarise a JUnit XML file as "N tests: F failed, E errors, S skipped" (or say it cannot be read)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return "unreadable JUnit file"
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = {
        key: sum(int(suite.get(key, "0")) for suite in suites) for key in ("tests", "failures", "errors", "skipped")
    }
    parts = [
        f"{totals[key]} {label}"
        for key, label in (("failures", "failed"), ("errors", "errors"), ("skipped", "skipped"))
        if totals[key]
    ]
    return f"{totals['tests']} tests" + (f": {', '.join(parts)}" if parts else ", all passed")


def _link(path: Path, text: str) -> str:
    return f'<a href="{html.escape(path.relative_to(REPORTS).as_posix())}">{html.escape(text)}</a>'


def _revision() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _session_rows(sessions: Iterable[str], results: list[Result], current: str) -> list[str]:
    names = list(dict.fromkeys([*sessions, *(result.session for result in results)]))
    rows = []
    for session in names:
        runs = [result for result in results if result.session == session]
        if not runs:
            rows.append(
                f'<tr class="notrun"><td>{html.escape(session)}</td><td>not run</td><td></td><td></td><td></td></tr>'
            )
        for result in runs:
            status = STATUSES.get(result.status, result.status) + (f": {result.reason}" if result.reason else "")
            when = result.finished if result.run == current else f"{result.finished} (an earlier run)"
            links = []
            if junit_path(result.name).is_file():
                links.append(
                    f"{_link(junit_path(result.name), 'JUnit XML')} "
                    f"({html.escape(junit_counts(junit_path(result.name)))})"
                )
            if (coverage_path(result.name) / "index.html").is_file():
                links.append(_link(coverage_path(result.name) / "index.html", "coverage"))
            css = result.status if result.run == current else f"{result.status} stale"
            rows.append(
                f'<tr class="{html.escape(css)}"><td>{html.escape(result.name)}</td><td>{html.escape(status)}</td>'
                f"<td>{result.seconds:.0f} s</td><td>{html.escape(when)}</td><td>{'; '.join(links)}</td></tr>"
            )
    return rows


def _written(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table_section(title: str, folder: Path, data: str, session: str, table: str = "summary.md") -> list[str]:
    """Return a section showing folder/table (summary.md), with links to it and to its JSON."""
    parts = [f"<h2>{html.escape(title)}</h2>"]
    summary = folder / table
    if summary.is_file():
        links = [_link(folder / name, name) for name in (table, data) if (folder / name).is_file()]
        parts.append(
            f"<p>Written {_written(summary)} UTC: {' · '.join(links)}</p>"
            f"<pre>{html.escape(summary.read_text(encoding='utf-8'))}</pre>"
        )
    else:
        parts.append(f"<p>none: <code>nox -s {session}</code> writes it to {folder.relative_to(ROOT).as_posix()}/.</p>")
    return parts


def _artifacts() -> list[str]:
    parts = _table_section("SBOM of the image (CycloneDX 1.6)", SBOM, "starpunk.cdx.json", "image")
    parts += _table_section("Reproducible build (two builds, no cache)", REPRODUCIBLE, "result.json", "reproducible")
    parts.append("<h2>Load report</h2>")
    if (LOAD / "report.md").is_file():
        table = (LOAD / "report.md").read_text(encoding="utf-8")
        links = [
            _link(LOAD / name, name) for name in ("report.md", "report.json", "report.png") if (LOAD / name).is_file()
        ]
        parts.append(
            f"<p>Written {_written(LOAD / 'report.md')} UTC: {' · '.join(links)}</p><pre>{html.escape(table)}</pre>"
        )
        if (LOAD / "report.png").is_file():
            parts.append(
                f'<img src="{html.escape((LOAD / "report.png").relative_to(REPORTS).as_posix())}" '
                'alt="requests/s, p95 latency and memory over the load run" width="900">'
            )
    else:
        parts.append("<p>none: <code>nox -s load</code> writes it to build/reports/load/.</p>")
    parts.append("<h2>At scale: 100 and 100,000 notes</h2>")
    if (SCALE / "report.md").is_file():
        links = [_link(SCALE / name, name) for name in ("report.md", "report.json") if (SCALE / name).is_file()]
        parts.append(
            f"<p>Written {_written(SCALE / 'report.md')} UTC: {' · '.join(links)}</p>"
            f"<pre>{html.escape((SCALE / 'report.md').read_text(encoding='utf-8'))}</pre>"
        )
    else:
        parts.append("<p>none: <code>nox -s scale</code> writes it to build/reports/scale/.</p>")
    parts.append("<h2>End-to-end screenshots</h2>")
    shots = sorted(SCREENSHOTS.glob("**/*.png"))
    if shots:
        parts.append(f"<p>Written {_written(max(shots, key=lambda shot: shot.stat().st_mtime))} UTC (the newest).</p>")
        parts.append(
            "<ul>"
            + "".join(f"<li>{_link(shot, shot.relative_to(SCREENSHOTS).as_posix())}</li>" for shot in shots)
            + "</ul>"
        )
    else:
        parts.append("<p>none: <code>nox -s e2e</code> writes them to build/reports/e2e/.</p>")
    parts += _table_section("Accessibility (axe-core)", AXE, "findings.json", "e2e")
    parts += _table_section("Lighthouse", LIGHTHOUSE, "summary.json", "lighthouse")
    parts += _table_section("Proxy micro-cache (nginx)", PROXY, "microcache.json", "proxy")
    parts += _table_section("Webmention: publish to arrival", WEBMENTION, "arrival.json", "container", "arrival.md")
    parts.append("<h2>Surviving mutants</h2>")
    survivors = MUTANTS / "survivors.txt"
    if survivors.is_file():
        listed = survivors.read_text(encoding="utf-8").strip() or "none: every mutant was killed"
        parts.append(
            f"<p>Written {_written(survivors)} UTC: {_link(survivors, survivors.name)} "
            "(each one named in docs/mutants.md as equivalent or a known gap)</p>"
            f"<pre>{html.escape(listed)}</pre>"
        )
    else:
        parts.append("<p>none: <code>nox -s mutants</code> writes them to build/reports/mutants/.</p>")
    parts += _table_section("Replication: disaster rounds", REPLICATE, "disaster.json", "replicate", "disaster.md")
    parts += _table_section("Replication: restore time", REPLICATE, "restore-time.json", "replicate", "restore-time.md")
    parts.append("<h2>Blue/green upgrade under load</h2>")
    if BLUE_GREEN.is_file():
        figures = BLUE_GREEN.read_text(encoding="utf-8")
        parts.append(
            f"<p>Written {_written(BLUE_GREEN)} UTC: {_link(BLUE_GREEN, BLUE_GREEN.name)}</p>"
            f"<pre>{html.escape(figures)}</pre>"
        )
    else:
        parts.append("<p>none: <code>nox -s upgrade</code> writes it to build/reports/upgrade/.</p>")
    return parts


def write_index(sessions: Iterable[str], own: str = "report") -> Path:
    """Write build/reports/index.html: each session's result, time and reports.

    The sessions given are listed first, then any other recorded.

    own is the session writing the page; its records are left out, so they never make the run it reports look earlier.
    """
    results = [result for result in read_results() if result.session != own]
    # The run of the session that finished last is the one this page is about.
    current = max(results, key=lambda result: result.finished).run if results else RUN_ID
    failed = [result.name for result in results if result.run == current and result.status != "passed"]
    verdict = f"{len(failed)} failed: {', '.join(failed)}" if failed else "no failure recorded"
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        ".passed td:nth-child(2){color:#060}"
        ".failed td:nth-child(2),.interrupted td:nth-child(2){color:#b00;font-weight:bold}"
        ".notrun,.stale{color:#777}pre{overflow-x:auto;background:#f6f6f6;padding:.5em}"
    )
    page = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>StarPunk checks: {html.escape(verdict)}</title><style>{style}</style></head><body>",
        "<h1>StarPunk checks</h1>",
        f"<p>Run {html.escape(current)}, revision {html.escape(_revision())}: {html.escape(verdict)}. "
        "Time is each session's wall time once its virtualenv is ready.</p>",
        "<table><tr><th>session</th><th>result</th><th>time</th><th>finished (UTC)</th><th>reports</th></tr>",
        *_session_rows(sessions, results, current),
        "</table>",
        *_artifacts(),
        "</body></html>",
    ]
    REPORTS.mkdir(parents=True, exist_ok=True)
    index = REPORTS / "index.html"
    index.write_text("\n".join(page) + "\n", encoding="utf-8")
    return index
