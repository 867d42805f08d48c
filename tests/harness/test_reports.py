"""build/reports/index.html shows the image's SBOM and the reproducibility check beside the other reports."""

from pathlib import Path

import pytest

from harness import reports


@pytest.fixture
def report_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every report folder of harness.reports into tmp_path/build/reports."""
    folder = tmp_path / "build" / "reports"
    monkeypatch.setattr(reports, "ROOT", tmp_path)
    monkeypatch.setattr(reports, "REPORTS", folder)
    for name, relative in {
        "RESULTS": "sessions",
        "JUNIT": "junit",
        "COVERAGE": "coverage",
        "LOAD": "load",
        "SCREENSHOTS": "e2e",
        "AXE": "e2e/axe",
        "LIGHTHOUSE": "lighthouse",
        "BLUE_GREEN": "upgrade/blue-green.json",
        "PROXY": "proxy",
        "SBOM": "sbom",
        "REPRODUCIBLE": "reproducible",
    }.items():
        monkeypatch.setattr(reports, name, folder / relative)
    return folder


def test_the_index_shows_the_sbom_summary_and_links_the_document(report_folder: Path) -> None:
    (report_folder / "sbom").mkdir(parents=True)
    (report_folder / "sbom" / "summary.md").write_text("30 components: 16 Debian packages\n")
    (report_folder / "sbom" / "starpunk.cdx.json").write_text("{}\n")
    page = reports.write_index(["image"]).read_text()
    assert "<h2>SBOM of the image (CycloneDX 1.6)</h2>" in page
    assert '<a href="sbom/starpunk.cdx.json">starpunk.cdx.json</a>' in page
    assert "30 components: 16 Debian packages" in page
    assert "none: <code>nox -s reproducible</code> writes it to build/reports/reproducible/." in page


def test_the_index_says_how_to_get_an_sbom_when_there_is_none(report_folder: Path) -> None:
    page = reports.write_index(["image"]).read_text()
    assert "none: <code>nox -s image</code> writes it to build/reports/sbom/." in page
