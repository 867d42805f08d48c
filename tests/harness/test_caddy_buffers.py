"""Caddyfile.example buffers request bodies on every Caddy the harness meets.

2.6.4+ as written, 2.6.2 by its comment.
"""

from pathlib import Path

import pytest

from harness import ROOT
from harness.proxy import render_caddyfile

TEMPLATE = (ROOT / "Caddyfile.example").read_text()


def _reverse_proxy_block(rendered: str) -> str:
    start = rendered.index("reverse_proxy 127.0.0.1:9000 {")
    return rendered[start : rendered.index("\n\t}\n", start)]


@pytest.mark.parametrize(
    ("version", "wanted", "absent"),
    [
        ((2, 6, 2), ["\t\tbuffer_requests\n", "\t\tmax_buffer_size 42MiB"], "\t\trequest_buffers"),
        ((2, 6, 3), ["\t\tbuffer_requests\n", "\t\tmax_buffer_size 42MiB"], "\t\trequest_buffers"),
        ((2, 6, 4), ["\t\trequest_buffers 42MiB"], "\t\tbuffer_requests"),
        ((2, 8, 4), ["\t\trequest_buffers 42MiB"], "\t\tbuffer_requests"),
    ],
)
def test_request_bodies_are_buffered_whole(
    tmp_path: Path, version: tuple[int, ...], wanted: list[str], absent: str
) -> None:
    """The rendered reverse_proxy block turns request buffering on with the directive that Caddy version knows."""
    rendered = render_caddyfile(TEMPLATE, "starpunk.test", 8443, 8080, "127.0.0.1:9000", tmp_path, version=version)
    block = _reverse_proxy_block(rendered)
    for line in wanted:
        assert line in block
    assert absent not in block


def test_the_body_limit_matches_nginx() -> None:
    """Caddy refuses bodies over 42 MiB, as nginx.conf.example's client_max_body_size 42m does."""
    assert "max_size 42MiB" in TEMPLATE
    assert "client_max_body_size 42m;" in (ROOT / "nginx.conf.example").read_text()
    assert "proxy_request_buffering on;" in (ROOT / "nginx.conf.example").read_text()
