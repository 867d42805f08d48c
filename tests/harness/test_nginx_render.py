"""nginx.conf.example rendered for a test: its cache in the test's folder, and the reference server beside it."""

from pathlib import Path

from harness import ROOT
from harness.proxy import NGINX_CACHE, nginx_main_conf, nginx_reference_server, render_nginx_site

TEMPLATE = (ROOT / "nginx.conf.example").read_text()


def test_the_cache_moves_into_the_test_folder(tmp_path: Path) -> None:
    """The example's cache folder becomes workdir/cache; its rules are left as written."""
    rendered = render_nginx_site(TEMPLATE, "starpunk.test", 8443, 8080, "127.0.0.1:9000", tmp_path)
    assert NGINX_CACHE not in rendered
    assert f"proxy_cache_path {tmp_path / 'cache'} " in rendered
    assert rendered.count("proxy_cache_bypass ") == TEMPLATE.count("proxy_cache_bypass ") == 1


def test_the_reference_server_serves_files_over_the_same_tls(tmp_path: Path) -> None:
    """The reference server listens on its own loopback port with the site's certificate.

    It serves workdir/reference.
    """
    server = nginx_reference_server(8444, tmp_path)
    assert "listen 127.0.0.1:8444 ssl http2;" in server
    assert f"ssl_certificate {tmp_path / 'cert.pem'};" in server
    assert f"root {tmp_path / 'reference'};" in server
    conf = nginx_main_conf(tmp_path / "starpunk.conf", tmp_path, server)
    assert conf.index(f"include {tmp_path / 'starpunk.conf'};") < conf.index(server) < conf.rindex("}")
