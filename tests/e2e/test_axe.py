"""axe-core on every page readers and the owner see: no WCAG 2.1 A/AA or best-practice violation.

Every page is checked at 375 and 1280 px, light and dark.

axe runs inside each page through Playwright's `page.evaluate` (the browser's
DevTools connection), so the site's Content-Security-Policy (`script-src
'none'`) stays on. `nox -s e2e` sets AXE_CORE to axe.min.js as installed by
npm ci from tests/e2e/package-lock.json. The findings of every page go to
build/reports/e2e/axe/findings.json, with a table in summary.md.
"""

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import pytest

from testkit.ports import free_port, loopback_url
from testkit.samples import fill_site

RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
WIDTHS = {"phone": 375, "desktop": 1280}
SCHEMES = ("light", "dark")
# An IndieAuth client's sign-in request, as an app sends the owner's browser to the consent page.
CONSENT_QUERY = {
    "response_type": "code",
    "client_id": "https://app.example.test/",
    "redirect_uri": "https://app.example.test/callback",
    "state": "axe-audit-state",
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    "code_challenge_method": "S256",
    "scope": "create update media profile",
}


def axe_source():
    """Return axe-core's script, as the e2e session installed it."""
    path = os.environ.get("AXE_CORE", "")
    if not path or not Path(path).is_file():
        pytest.fail(f"AXE_CORE={path!r} is not axe.min.js: run this through `nox -s e2e`")
    return Path(path).read_text(encoding="utf-8")


def run_axe(page, source):
    """Run axe-core in the page (injected over DevTools, so the CSP stays on) and return its results."""
    page.evaluate(source)
    options = {"runOnly": {"type": "tag", "values": RULE_TAGS}, "resultTypes": ["violations", "incomplete"]}
    return page.evaluate("options => window.axe.run(document, options)", options)


def summarise(results):
    """Return what a report needs of axe's results: each violation and each check axe could not decide."""

    def brief(items):
        return [
            {
                "rule": item["id"],
                "impact": item["impact"],
                "help": item["help"],
                "targets": [node["target"] for node in item["nodes"]],
            }
            for item in items
        ]

    return {
        "violations": brief(results["violations"]),
        "incomplete": brief(results["incomplete"]),
        "passed_rules": len(results["passes"]),
        "axe": results["testEngine"]["version"],
    }


@pytest.fixture(scope="module")
def dev_site(module_lab):
    """Start a second site with DEV_MODE on: its sign-in page, and failed sign-ins that touch no other site's limits."""
    port = free_port()
    env = {"ENVIRONMENT": "development", "DEV_MODE": "true", "SITE_URL": loopback_url(port)}
    return module_lab.site(env=env, port=port)


@pytest.fixture(scope="module")
def pages(site, owner, dev_site):
    """Fill the site as the owner; return (name, base URL, path, signed in) for every page to audit."""
    filled = fill_site(owner)
    this_month = datetime.now(timezone.utc)
    consent = "/indieauth/authorize?" + urlencode({**CONSENT_QUERY, "me": site.base_url + "/"})
    return [
        ("index", site.base_url, "/", False),
        ("index-page-2", site.base_url, "/?page=2", False),  # redirected to its keyset address
        ("year", site.base_url, f"/{this_month:%Y}/", False),
        ("month", site.base_url, f"/{this_month:%Y}/{this_month:%m}/", False),
        ("tags", site.base_url, "/tags", False),
        ("search", site.base_url, "/search?q=harbour", False),
        ("search-nothing-found", site.base_url, "/search?q=zzzzzz", False),
        # An older window's page: its "Newest matches" link and paging as well
        ("search-older-matches", site.base_url, "/search?q=harbour&before=999999", False),
        ("permalink-with-photos", site.base_url, filled.photo_note, False),
        ("tag", site.base_url, filled.tag, False),
        ("not-found", site.base_url, "/note/no-such-note", False),
        ("admin", site.base_url, "/admin", True),
        ("admin-search", site.base_url, "/admin?q=harbour", True),
        ("admin-search-older-matches", site.base_url, "/admin?q=harbour&before=999999", True),
        ("admin-new", site.base_url, "/admin/new", True),
        ("admin-edit", site.base_url, filled.edit_form, True),
        ("indieauth-consent", site.base_url, consent, True),
        ("sign-in-dev-mode", dev_site.base_url, "/auth/login", False),
        ("sign-in-failed", dev_site.base_url, "/auth/callback", False),
    ]


@pytest.fixture(scope="module")
def findings(screenshots):
    """Collect axe's findings per page; write them (JSON and a summary table) when the module ends."""
    found = {}
    yield found
    if not found:
        return
    folder = screenshots / "axe"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "findings.json").write_text(json.dumps(found, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lines = [
        f"axe-core {next(iter(found.values()))['axe']}, rules tagged {', '.join(RULE_TAGS)}.",
        "",
        "| page | width | scheme | violations | incomplete | rules passed |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(found):
        row = found[key]
        name, width, scheme = key.split(" ")
        broken = ", ".join(sorted({item["rule"] for item in row["violations"]})) or "0"
        lines.append(f"| {name} | {width} | {scheme} | {broken} | {len(row['incomplete'])} | {row['passed_rules']} |")
    total = sum(len(row["violations"]) for row in found.values())
    lines += ["", f"{len(found)} page views audited, {total} violation(s)."]
    (folder / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_axe_finds_violations_when_there_are_some(browser):
    """The audit can fail: on a page with an unlabelled field, an image without alt and faint text, axe names each."""
    page = browser.new_page()
    try:
        page.set_content(
            '<html><head><title>Broken</title></head><body><main><h1>Broken</h1><img src="data:,">'
            '<input type="text"><p style="color:#ccc;background:#fff">faint</p></main></body></html>'
        )
        found = {item["rule"] for item in summarise(run_axe(page, axe_source()))["violations"]}
    finally:
        page.close()
    assert {"image-alt", "label", "color-contrast", "html-has-lang"} <= found, found


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width_name", sorted(WIDTHS))
def test_no_page_has_an_axe_violation(browser, site, pages, findings, width_name, scheme):
    """Every reader and owner page passes axe's WCAG 2.1 A/AA and best-practice rules."""
    source = axe_source()
    viewport = {"width": WIDTHS[width_name], "height": 800}
    reader = browser.new_context(viewport=viewport, color_scheme=scheme)
    owner = browser.new_context(viewport=viewport, color_scheme=scheme)
    try:
        signed_in = owner.new_page()
        signed_in.goto(site.login_link())
        signed_in.wait_for_url(f"{site.base_url}/admin")
        anonymous = reader.new_page()
        problems = []
        for name, base_url, path, as_owner in pages:
            page = signed_in if as_owner else anonymous
            response = page.goto(base_url + path)
            assert response is not None and page.url.startswith(base_url), f"{name}: {path} went to {page.url}"
            row = summarise(run_axe(page, source))
            findings[f"{name} {WIDTHS[width_name]} {scheme}"] = {"path": path, "status": response.status, **row}
            problems += [
                f"{name} ({path}): {item['rule']} [{item['impact']}] {item['help']} at {item['targets']}"
                for item in row["violations"]
            ]
    finally:
        reader.close()
        owner.close()
    assert problems == [], f"axe violations at {WIDTHS[width_name]} px, {scheme}:\n" + "\n".join(problems)
