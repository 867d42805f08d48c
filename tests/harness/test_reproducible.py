"""Two builds are compared by their layers; the report says which differ and why the image ids do."""

import json
from pathlib import Path

import pytest

from harness import reproducible
from harness.reproducible import Build, write_reproducibility_report

LAYERS = ("sha256:" + "1" * 64, "sha256:" + "2" * 64, "sha256:" + "3" * 64)


def test_the_content_digest_follows_every_layer_and_their_order() -> None:
    first = Build("a", "sha256:aaa", "2026-12-05T04:00:00Z", LAYERS)
    again = Build("b", "sha256:bbb", "2026-12-05T05:00:00Z", LAYERS)
    assert first.content_digest == again.content_digest
    assert first.content_digest != Build("c", "sha256:ccc", "", LAYERS[:2] + ("sha256:" + "4" * 64,)).content_digest
    assert first.content_digest != Build("d", "sha256:ddd", "", tuple(reversed(LAYERS))).content_digest


def test_the_report_names_the_layer_that_differs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reproducible, "REPORT", tmp_path)
    changed = LAYERS[:2] + ("sha256:" + "4" * 64,)
    builds = [Build("a", "sha256:aaa", "t1", LAYERS), Build("b", "sha256:bbb", "t2", changed)]
    summary = write_reproducibility_report(builds, ["layer 2: app: mtime=1 | mtime=2"])
    text = summary.read_text()
    assert "the layers DIFFER" in text
    assert f"2. {LAYERS[2]} != ['{changed[2]}']" in text
    assert "- layer 2: app: mtime=1 | mtime=2" in text
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["same"] is False and result["builds"][1]["content_digest"] == builds[1].content_digest
