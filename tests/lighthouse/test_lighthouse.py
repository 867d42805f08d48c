"""Lighthouse on the image as readers' browsers load it, on a phone and a desktop.

The pages are the index, a permalink with photos and a tag page.
Every category (performance, accessibility, best practices, SEO) must score
at least LIGHTHOUSE_MIN_SCORE. Each run's JSON report and a summary table
(summary.md, summary.json) go to build/reports/lighthouse/. `nox -s lighthouse`
sets LIGHTHOUSE_CLI (installed by npm ci from tests/lighthouse/package-lock.json)
and CHROMIUM_PATH (Debian's Chromium).
"""

import json
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest

from testkit.limits import LIGHTHOUSE_MIN_SCORE
from testkit.ports import free_port
from testkit.samples import fill_site

REPORTS = Path(os.environ.get("STARPUNK_LIGHTHOUSE_REPORTS", "build/reports/lighthouse"))
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
FORM_FACTORS = ("mobile", "desktop")
PAGES = ("index", "permalink", "tag")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Only the site under test: any other host name fails at once instead of being looked up.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
RUN_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def pages(module_lab):
    """Start the image, fill it as the owner (headed notes, a second page, photos, tags); return name -> URL."""
    # SITE_URL is the address the browser uses, as on a real site (photos and permalinks are built from it);
    # production settings would require https.
    port = free_port()
    site = module_lab.site(env={"ENVIRONMENT": "development", "SITE_URL": f"http://127.0.0.1:{port}"}, port=port)
    found = fill_site(site.sign_in())
    paths = {"index": "/", "permalink": found.photo_note, "tag": found.tag}
    return {name: site.base_url + path for name, path in paths.items()}


@pytest.fixture(scope="module")
def scores():
    """Collect every run's scores; write the summary table when the module ends."""
    found = {}
    yield found
    if not found:
        return
    REPORTS.mkdir(parents=True, exist_ok=True)
    lines = ["| page | form factor | " + " | ".join(CATEGORIES) + " |", "|---|---|" + "---|" * len(CATEGORIES)]
    for (page, form_factor), row in sorted(found.items()):
        cells = [str(row["scores"][name]) for name in CATEGORIES]
        lines.append(f"| {page} | {form_factor} | " + " | ".join(cells) + " |")
    errored = sorted({audit for row in found.values() for audit in row["errored"]})
    lines += [
        "",
        f"Lighthouse {next(iter(found.values()))['version']}; each score must be at least {LIGHTHOUSE_MIN_SCORE}.",
    ]
    if errored:
        lines.append(f"Audits that errored (left out of the scores by Lighthouse): {', '.join(errored)}.")
    (REPORTS / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = [{"page": page, "form_factor": form_factor, **row} for (page, form_factor), row in sorted(found.items())]
    (REPORTS / "summary.json").write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")


def lighthouse(url, form_factor, output):
    """Run the pinned Lighthouse CLI on url with Debian's Chromium; return its JSON report (also written to output)."""
    cli = os.environ.get("LIGHTHOUSE_CLI", "")
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not cli or not Path(cli).is_file():
        pytest.fail(f"LIGHTHOUSE_CLI={cli!r} is not Lighthouse's cli/index.js: run this through `nox -s lighthouse`")
    command = [
        "node",
        cli,
        url,
        "--quiet",
        "--output=json",
        f"--output-path={output}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={shlex.join(CHROMIUM_FLAGS)}",
    ]
    if form_factor == "desktop":
        command.append("--preset=desktop")
    with tempfile.TemporaryDirectory() as home:
        # A fresh HOME: Chromium's profile and Lighthouse's own files stay out of the user's.
        env = {**os.environ, "CHROME_PATH": chromium, "HOME": home}
        done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, check=False)
    assert done.returncode == 0 and output.is_file(), (
        f"lighthouse failed on {url} ({form_factor}):\n{done.stderr[-2000:]}"
    )
    return json.loads(output.read_text(encoding="utf-8"))


def shortfalls(report):
    """Return, per category, the weighted audits that did not pass, with their score and value."""
    found = {}
    for name, category in report["categories"].items():
        failing = []
        for ref in category["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < 1:
                failing.append(
                    f"{ref['id']} ({audit['score']}{', ' + audit['displayValue'] if audit.get('displayValue') else ''})"
                )
        found[name] = failing
    return found


@pytest.mark.parametrize("form_factor", FORM_FACTORS)
@pytest.mark.parametrize("page", PAGES)
def test_every_category_scores_at_least_the_minimum(pages, scores, page, form_factor):
    """Performance, accessibility, best practices and SEO each score LIGHTHOUSE_MIN_SCORE or more."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = lighthouse(pages[page], form_factor, REPORTS / f"{page}-{form_factor}.json")
    assert report["configSettings"]["formFactor"] == form_factor
    # A category Lighthouse could not score has null: it counts as a miss.
    found = {name: round((report["categories"][name]["score"] or 0) * 100) for name in CATEGORIES}
    errored = sorted(name for name, audit in report["audits"].items() if audit.get("errorMessage"))
    scores[(page, form_factor)] = {"scores": found, "errored": errored, "version": report["lighthouseVersion"]}
    low = {name: score for name, score in found.items() if score < LIGHTHOUSE_MIN_SCORE}
    missing = shortfalls(report)
    assert not low, f"{page} ({form_factor}) scores below {LIGHTHOUSE_MIN_SCORE}: {low}; failing audits: " + "; ".join(
        f"{name}: {', '.join(missing[name])}" for name in low
    )
