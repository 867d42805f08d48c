"""harness.reports: the report index shows what the sessions wrote."""

import pytest

from harness import reports


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """Point every report path at an empty build/reports/ in a checkout of this test's own."""
    paths = "REPORTS RESULTS JUNIT COVERAGE LOAD SCALE SCREENSHOTS AXE LIGHTHOUSE PROXY BLUE_GREEN SBOM REPRODUCIBLE"
    paths += " MUTANTS REPLICATE WEBMENTION"
    paths = paths.split()
    for name in paths:
        monkeypatch.setattr(reports, name, tmp_path / getattr(reports, name).relative_to(reports.ROOT))
    monkeypatch.setattr(reports, "ROOT", tmp_path)
    return tmp_path / "build" / "reports"


def test_the_index_shows_the_scale_table(folder) -> None:
    """The scale session's table is on the page, escaped, with links to its files."""
    (folder / "scale").mkdir(parents=True)
    (folder / "scale" / "report.md").write_text("| route | p95 <ms> |\n", encoding="utf-8")
    (folder / "scale" / "report.json").write_text("{}\n", encoding="utf-8")
    reports.record("scale", "scale", "passed", 95.0)
    page = reports.write_index(["scale"]).read_text(encoding="utf-8")
    assert "| route | p95 &lt;ms&gt; |" in page
    assert 'href="scale/report.md"' in page and 'href="scale/report.json"' in page
    assert "<td>scale</td><td>passed</td><td>95 s</td>" in page


def test_the_index_says_how_to_get_a_missing_scale_table(folder) -> None:
    """Without the report, the page names the session that writes it."""
    page = reports.write_index(["scale"]).read_text(encoding="utf-8")
    assert "<code>nox -s scale</code> writes it to build/reports/scale/" in page


def test_the_index_shows_the_sbom_summary_and_links_the_document(folder) -> None:
    """The image's SBOM summary is on the page with a link to the document; a missing check names its session."""
    (folder / "sbom").mkdir(parents=True)
    (folder / "sbom" / "summary.md").write_text("30 components: 16 Debian packages\n")
    (folder / "sbom" / "starpunk.cdx.json").write_text("{}\n")
    page = reports.write_index(["image"]).read_text()
    assert "<h2>SBOM of the image (CycloneDX 1.6)</h2>" in page
    assert '<a href="sbom/starpunk.cdx.json">starpunk.cdx.json</a>' in page
    assert "30 components: 16 Debian packages" in page
    assert "none: <code>nox -s reproducible</code> writes it to build/reports/reproducible/." in page


def test_the_index_says_how_to_get_an_sbom_when_there_is_none(folder) -> None:
    """Without an SBOM, the page names the session that writes it."""
    page = reports.write_index(["image"]).read_text()
    assert "none: <code>nox -s image</code> writes it to build/reports/sbom/." in page


def test_the_index_shows_the_publish_to_arrival_figure(folder) -> None:
    """The container session's publish-to-arrival table is on the page; without it, the page names the session."""
    assert "<code>nox -s container</code> writes it to build/reports/webmention/" in reports.write_index([]).read_text(
        encoding="utf-8"
    )
    (folder / "webmention").mkdir(parents=True)
    (folder / "webmention" / "arrival.md").write_text("| publishes | median |\n| 10 | 0.6 s |\n", encoding="utf-8")
    (folder / "webmention" / "arrival.json").write_text("{}\n", encoding="utf-8")
    page = reports.write_index([]).read_text(encoding="utf-8")
    assert "| 10 | 0.6 s |" in page and 'href="webmention/arrival.json"' in page
