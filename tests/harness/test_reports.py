"""harness.reports: the report index shows what the sessions wrote."""

import pytest

from harness import reports


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """Point every report path at an empty build/reports/ in a checkout of this test's own."""
    paths = "REPORTS RESULTS JUNIT COVERAGE LOAD SCALE SCREENSHOTS AXE LIGHTHOUSE PROXY BLUE_GREEN".split()
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
