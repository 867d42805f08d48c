"""Location metadata: gone from every layout an accepted photo can carry it in, as Pillow reads the served bytes."""

import io
from urllib.parse import urlsplit

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from starpunk import media, scrub
from tests.unit.conftest import gps_exif, image_bytes

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,31.2N</exif:GPSLatitude></x:xmpmeta>'


def served(app, client, data):
    """Store data as an upload and return the bytes a visitor then gets from the photo's address."""
    with app.test_request_context():
        stored = media.save_upload(io.BytesIO(data))
    with client.get(urlsplit(stored.url).path) as response:
        assert response.status_code == 200
        return response.data


def locations(data):
    """Return what Pillow reads as a position in each picture of data (a JPEG's later pictures too)."""
    found = []
    starts = [0]
    if data.startswith(b"\xff\xd8"):
        starts += [at for at in range(1, len(data)) if data.startswith(b"\xff\xd8\xff", at)]
    for start in starts:
        try:
            with Image.open(io.BytesIO(data[start:])) as image:
                image.load()
                exif, info = image.getexif(), dict(image.info)
        except (OSError, SyntaxError, ValueError):
            continue
        if ExifTags.IFD.GPSInfo in exif:
            found.append(f"EXIF GPS in the picture at byte {start}")
        found += [f"{name} at byte {start}" for name, value in info.items() if "GPS" in str(value)]
    return found


def raw_profile(exif_block):
    """Return an EXIF block as ImageMagick writes it in a PNG text chunk: a header, then hex."""
    hexed = exif_block.hex()
    lines = "\n".join(hexed[at : at + 72] for at in range(0, len(hexed), 72))
    return f"\nexif\n{len(exif_block):8d}\n{lines}\n"


def png_with(kind):
    """Return a PNG with a GPS position in a "Raw profile type exif" chunk of this kind."""
    info = PngImagePlugin.PngInfo()
    text = raw_profile(gps_exif().tobytes())
    if kind == "iTXt":
        info.add_itxt("Raw profile type exif", text)
    else:
        info.add_text("Raw profile type exif", text, zip=kind == "zTXt")
    info.add_text("Comment", "kept")
    return image_bytes("PNG", pnginfo=info)


def gif_with_xmp(xmp=XMP):
    """Return a GIF carrying an XMP packet in its application extension (with XMP's magic trailer)."""
    plain = image_bytes("GIF")
    table = 3 * 2 ** ((plain[10] & 0x07) + 1) if plain[10] & 0x80 else 0
    at = 13 + table
    trailer = bytes([0x01, *range(0xFF, -1, -1)]) + b"\x00"
    return plain[:at] + b"\x21\xff\x0bXMP DataXMP" + xmp + trailer + plain[at:]


def two_pictures(first=None):
    """Return a JPEG followed by a second JPEG holding a GPS position (the multi-picture layout)."""
    first = first or image_bytes("JPEG", size=(40, 30))
    return first, first + image_bytes("JPEG", size=(40, 30), exif=gps_exif())


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
def test_png_raw_profile_exif_chunks_are_removed(app, client, kind):
    """ImageMagick's "Raw profile type exif" text chunk (GPS inside) goes; other text chunks stay."""
    data = png_with(kind)
    assert locations(data), "the test image must carry a position Pillow can read"
    kept = served(app, client, data)
    assert locations(kept) == []
    assert b"Raw profile type" not in kept
    with Image.open(io.BytesIO(kept)) as image:
        assert image.info["Comment"] == "kept"


def test_gif_xmp_application_extension_is_removed(app, client):
    """A GIF's XMP application extension (exif:GPSLatitude) goes; the picture and its size stay."""
    data = gif_with_xmp()
    assert b"GPSLatitude" in data
    with Image.open(io.BytesIO(data)) as image:  # Pillow reads past the extension (it does not parse GIF XMP)
        pixels, size = image.convert("RGB").tobytes(), image.size
    kept = served(app, client, data)
    assert b"GPSLatitude" not in kept and b"XMP DataXMP" not in kept
    assert locations(kept) == []
    with Image.open(io.BytesIO(kept)) as image:
        assert (image.convert("RGB").tobytes(), image.size) == (pixels, size)


def test_a_gif_without_xmp_is_served_as_it_came(app, client):
    """A GIF with nothing to remove is byte for byte the uploaded file (blocks are copied, not rewritten)."""
    data = image_bytes("GIF", size=(20, 10), comment=b"a comment")
    assert served(app, client, data) == data


@pytest.mark.parametrize("progressive", [False, True])
def test_a_second_picture_after_a_jpeg_is_dropped(app, client, progressive):
    """A JPEG ends at its end-of-image marker: the GPS-carrying picture after it is not served."""
    first = image_bytes("JPEG", size=(40, 30), progressive=progressive, quality=90)
    first, data = two_pictures(first)
    assert locations(data), "the second picture must carry a position Pillow can read"
    kept = served(app, client, data)
    assert kept == first
    assert locations(kept) == []


@pytest.mark.parametrize(
    "data",
    [
        image_bytes("JPEG", exif=gps_exif()),
        image_bytes("JPEG", xmp=XMP),
        image_bytes("PNG", exif=gps_exif()),
        image_bytes("WEBP", exif=gps_exif()),
        image_bytes("WEBP", xmp=XMP, exif=gps_exif()),
    ],
    ids=["jpeg-exif", "jpeg-xmp", "png-exif", "webp-exif", "webp-xmp"],
)
def test_the_layouts_that_held_keep_holding(app, client, data):
    """JPEG EXIF and XMP, PNG eXIf, WebP EXIF and XMP: no position in the served bytes."""
    assert locations(data)
    assert locations(served(app, client, data)) == []


def test_extended_xmp_segments_are_dropped_from_jpeg(app, client):
    """XMP too long for one APP1 segment continues in "xmp/extension" segments: those go too."""
    plain = image_bytes("JPEG", size=(40, 30))
    payload = b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + (len(XMP)).to_bytes(4, "big") + b"\0" * 4 + XMP
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    data = plain[:2] + segment + plain[2:]
    assert b"GPSLatitude" in data
    kept = served(app, client, data)
    assert kept == plain


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
def test_xmp_in_any_png_text_chunk_is_dropped(app, client, kind):
    """The XMP keyword in a tEXt, zTXt (compressed) or iTXt chunk: the chunk goes whichever it is."""
    info = PngImagePlugin.PngInfo()
    if kind == "iTXt":
        info.add_itxt("XML:com.adobe.xmp", XMP.decode(), zip=True)
    else:
        info.add_text("XML:com.adobe.xmp", XMP.decode(), zip=kind == "zTXt")
    data = image_bytes("PNG", pnginfo=info)
    with Image.open(io.BytesIO(data)) as image:
        assert "GPSLatitude" in str(image.info)
    kept = served(app, client, data)
    assert b"XML:com.adobe.xmp" not in kept
    assert locations(kept) == []


def test_a_dropped_webp_exif_chunk_clears_its_flag():
    """When WebP's EXIF chunk cannot be kept, VP8X no longer says there is one (readers would look for it)."""
    data = image_bytes("WEBP", exif=gps_exif())
    start = data.index(b"EXIF") + 8
    order = data.index(b"MM" if b"MM\x00*" in data else b"II", start)
    damaged = data[:order] + b"XX" + data[order + 2 :]
    assert damaged[data.index(b"VP8X") + 8] & 0x08
    kept = scrub.remove_location(
        damaged, "WEBP"
    )  # Pillow refuses such a file on upload; the scrubber must not rely on it
    assert b"EXIF" not in kept
    assert not kept[kept.index(b"VP8X") + 8] & 0x08
    with Image.open(io.BytesIO(kept)) as image:
        image.load()
