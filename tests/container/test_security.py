"""The security review of issue 22 against the image: each finding stays fixed, over HTTP and from inside the pod.

Findings 1-8 each have a case here (finding 9 is the guide's and the log's,
tests/unit/test_throttle.py); the unit tests hold the boundaries.
"""

import json
import struct
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from testkit.micropub_client import MicropubClient
from testkit.owner import Owner
from testkit.samples import png
from testkit.site import Lab, Site

# Fresh connections per address: enough for the kernel to hand them to every worker.
REPEATS = 12
# Sent from inside the container, as a sidecar or a host-network proxy would: SCRIPT_NAME from 127.0.0.1.
POISON = """
import socket
for _ in range({repeats}):
    with socket.create_connection(("127.0.0.1", 8000)) as sock:
        sock.sendall(b"GET //evil.example/ HTTP/1.1\\r\\nHost: x\\r\\nSCRIPT_NAME: //evil.example\\r\\n"
                     b"Connection: close\\r\\n\\r\\n")
        while sock.recv(65536):
            pass
"""


@dataclass
class SecuredSite:
    """A running site, its owner and a Micropub client with every scope."""

    site: Site
    owner: Owner
    client: MicropubClient


@pytest.fixture(scope="module")
def secured(module_lab: Lab) -> SecuredSite:
    """Start one site for this module with a signed-in owner and a Micropub client."""
    site = module_lab.site()
    owner = site.sign_in()
    return SecuredSite(site, owner, MicropubClient.sign_in(owner))


def fresh(site: Site, path: str, headers: dict[str, str] | None = None) -> list:
    """GET path REPEATS times, each on a new connection (so from several workers), following no redirect."""
    headers = {"Connection": "close", **(headers or {})}
    return [site.get(path, headers=headers, allow_redirects=False) for _ in range(REPEATS)]


def test_script_name_from_inside_the_pod_never_reaches_readers(secured: SecuredSite) -> None:
    """After a write, SCRIPT_NAME requests from 127.0.0.1 render first: readers' / links nowhere else (finding 1)."""
    secured.owner.publish(f"Poison check {uuid.uuid4()}")
    status, out, err = secured.site.exec("python3", "-c", POISON.format(repeats=REPEATS))
    assert status == 0, out + err
    for reply in fresh(secured.site, "/"):
        assert reply.status_code == 200
        assert "evil.example" not in reply.text


def test_junk_queries_and_cookies_get_the_readers_page(secured: SecuredSite) -> None:
    """/?x=<random> and a junk session cookie are answered with the page of / (finding 4)."""
    page = secured.site.get("/").text
    for n in range(REPEATS):
        assert secured.site.get(f"/?x={uuid.uuid4()}").text == page
        assert secured.site.get("/", cookies={"starpunk_session": f"junk-{n}"}).text == page


def test_a_tags_redirect_ignores_the_query_and_the_host(secured: SecuredSite) -> None:
    """/tag/X?tag=x, ?_method=POST and ?_external=1 with a foreign Host: a relative 301, never a 500 (finding 5)."""
    secured.client.create("Tagged for the redirect check", category=["redirectcheck"])
    for query in ("?tag=x", "?_method=POST", "?tag=a&tag=b", "?_external=1"):
        for reply in fresh(secured.site, f"/tag/RedirectCheck{query}", {"Host": "evil.example"}):
            assert reply.status_code == 301, query
            assert reply.headers["Location"] == "/tag/redirectcheck", query


@pytest.mark.parametrize(
    "body",
    [
        '{"action": ["delete"], "url": "x"}',
        '{"type": ["h-entry"], "properties": {"content": ["x"], "published": ["9999-12-31T23:59:59-23:59"]}}',
        '{"type": ["h-entry"], "properties": {"content": ["\\ud800"]}}',
        '{"type": ["h-entry"], "properties": {"content": ["x"], "extra": ["\\ud800"]}}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_malformed_micropub_json_is_400(secured: SecuredSite, body: str) -> None:
    """Each 500 of the review is the spec's 400 JSON error (finding 6)."""
    reply = secured.client.post(data=body.encode(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] == "invalid_request"


def test_a_large_json_body_is_413_even_with_a_create_token(secured: SecuredSite) -> None:
    """A JSON body past MAX_CONTENT_LENGTH (2 MiB) is 413: only multipart bodies get the upload limit (finding 3)."""
    body = {"type": ["h-entry"], "properties": {"content": ["x"], "extra": ["a" * 3 * 1024 * 1024]}}
    reply = secured.client.post(data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert reply.json()["error"] == "invalid_request"


def test_the_authorization_endpoint_redirects_nobody_elsewhere(secured: SecuredSite) -> None:
    """The review's open redirect: a 400 page for a visitor and for the owner (finding 7)."""
    query = "client_id=https://evil.example/&redirect_uri=https://evil.example/x&response_type=token&state=s"
    visitor = secured.site.get(f"/indieauth/authorize?{query}", allow_redirects=False)
    owner = secured.owner.get(f"/indieauth/authorize?{query}", status=400)
    for reply in (visitor, owner):
        assert reply.status_code == 400
        assert "Location" not in reply.headers


def test_owner_pages_are_private(secured: SecuredSite) -> None:
    """/admin, /admin/new and the owner's / are private, no-store and vary by cookie (finding 8)."""
    for path in ("/admin", "/admin/new", "/"):
        reply = secured.owner.get(path)
        assert reply.headers["Cache-Control"] == "private, no-store", path
        assert "Cookie" in reply.headers["Vary"], path


# EXIF (big-endian TIFF) whose IFD0 holds only a GPS directory, which holds only GPSLatitudeRef "N".
GPS_EXIF = (
    b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08"
    + struct.pack(">HHHIII", 1, 0x8825, 4, 1, 26, 0)
    + struct.pack(">HHHI4sI", 1, 0x0001, 2, 2, b"N\x00\x00\x00", 0)
)


def _png_with_raw_profile() -> bytes:
    """Return a PNG holding GPS in a "Raw profile type exif" tEXt chunk, as ImageMagick writes it."""
    image = png(2, 2)
    text = b"Raw profile type exif\x00\nexif\n%8d\n%s\n" % (len(GPS_EXIF), GPS_EXIF.hex().encode())
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
    return image[:33] + chunk + image[33:]  # after the signature and IHDR


GIF = bytes.fromhex("474946383961010001008000000000000000002c000000000100010000080400010404003b")
XMP = b"<x:xmpmeta><exif:GPSLatitude>52,31.2N</exif:GPSLatitude></x:xmpmeta>"


def _gif_with_xmp() -> bytes:
    trailer = bytes([0x01, *range(0xFF, -1, -1)]) + b"\x00"
    return GIF[:19] + b"\x21\xff\x0bXMP DataXMP" + XMP + trailer + GIF[19:]


@pytest.mark.parametrize(
    ("data", "name", "needle"),
    [(_png_with_raw_profile(), "p.png", b"Raw profile type"), (_gif_with_xmp(), "p.gif", b"GPSLatitude")],
)
def test_location_layouts_are_not_served(secured: SecuredSite, data: bytes, name: str, needle: bytes) -> None:
    """PNG "Raw profile type" chunks and GIF XMP are gone from the served photo (finding 2; JPEG+JPEG: unit tests)."""
    assert needle in data
    reply = secured.client.http.post(
        secured.client.reach(secured.client.media_endpoint()),
        headers={"Authorization": f"Bearer {secured.client.token}"},
        files={"file": (name, data)},
        timeout=30,
    )
    assert reply.status_code == 201, reply.text
    served = secured.site.get(urlsplit(reply.headers["Location"]).path)
    assert served.status_code == 200
    assert needle not in served.content
