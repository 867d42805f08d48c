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


# Byte-level layouts: hand-built files the scrubber must walk exactly (issue 22's mutation tests).


def jpeg_segment(marker, payload):
    """Return a JPEG marker segment: 0xFF, the marker, a length counting itself, the payload."""
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


XMP_SEGMENT = jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
SCAN_HEADER = jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")


def damaged_exif():
    """Return a GPS EXIF block (TIFF bytes, no prefix) whose byte order no reader knows."""
    return b"XX" + gps_exif().tobytes()[len(scrub.EXIF_PREFIX) + 2 :]


def test_jpeg_compressed_data_runs_past_stuffed_bytes_restart_markers_and_fill_to_its_end():
    """0xFF00, restart markers 0xFFD0 to 0xFFD7 and fill bytes are part of a scan; the end marker ends the file."""
    first = b"\xff\xd8" + SCAN_HEADER + b"\x11\xff\x00\x22\xff\xd0\x33\xff\xd7\x44\xff\xff\xd9"
    second = image_bytes("JPEG", exif=gps_exif())
    assert scrub.remove_location(first + second, "JPEG") == first


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8" + SCAN_HEADER + b"\x11\xff\x00\x22\xff",
        b"\xff\xd8" + SCAN_HEADER + b"\x11\xff\x00\x22",
        b"\xff\xd8" + jpeg_segment(0xE0, b"JFIF\x00\x01\x01"),
        b"\xff\xd8" + jpeg_segment(0xE0, b"JFIF\x00\x01\x01") + b"\xff\xe0\x00",
        b"\xff\xd8" + jpeg_segment(0xE0, b"JFIF\x00\x01\x01") + b"\x00\x11\xff\xe1",
    ],
    ids=["scan-ending-in-0xff", "scan-without-end", "after-a-segment", "in-a-segment-header", "not-a-marker"],
)
def test_a_jpeg_cut_off_anywhere_is_kept_as_it_came(data):
    """A file that ends early, or holds bytes that are no marker, is copied from there on (the decoder decides)."""
    assert scrub.remove_location(data, "JPEG") == data


def test_fill_bytes_and_standalone_markers_between_segments_are_kept_and_walked_past():
    """A fill byte (0xFF before a marker) and a marker without length (0xFF01) stay; the XMP after each goes."""
    plain = image_bytes("JPEG")
    data = plain[:2] + b"\xff" + XMP_SEGMENT + b"\xff\x01" + XMP_SEGMENT + plain[2:]
    assert scrub.remove_location(data, "JPEG") == plain[:2] + b"\xff\xff\x01" + plain[2:]


@pytest.mark.parametrize(
    "dropped",
    [
        XMP_SEGMENT,
        jpeg_segment(0xE2, b"MPF\x00II*\x00\x08\x00\x00\x00"),
        jpeg_segment(0xE1, scrub.EXIF_PREFIX + damaged_exif()),
    ],
    ids=["xmp", "multi-picture-index", "damaged-exif"],
)
def test_the_segments_after_a_dropped_one_are_still_cleaned(dropped):
    """XMP, the multi-picture index and unreadable EXIF go; the GPS EXIF after them is still cleaned.

    Segments that only look alike stay: an ICC profile (APP2 but not MPF), "MPF" in another APP
    segment, a comment that begins like an EXIF block.
    """
    gps = image_bytes("JPEG", exif=gps_exif())
    alike = (
        jpeg_segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + bytes(16))
        + jpeg_segment(0xE3, b"MPF\x00 in another segment")
        + jpeg_segment(0xFE, scrub.EXIF_PREFIX + b" is how this comment begins")
    )
    kept = scrub.remove_location(gps[:2] + alike + dropped + gps[2:], "JPEG")
    assert kept.startswith(gps[:2] + alike)
    assert dropped not in kept
    assert locations(kept) == []
    assert b"StarPhone" in kept  # the EXIF block was rewritten, not dropped


def test_an_xmp_segment_longer_than_32_kib_is_dropped():
    """Segment lengths are unsigned: an XMP packet padded past 32 KiB (as editors do) goes whole."""
    plain = image_bytes("JPEG")
    big = jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP + b" " * 40_000)
    assert scrub.remove_location(plain[:2] + big + plain[2:], "JPEG") == plain


def test_an_exif_block_still_holding_gps_after_the_rewrite_is_dropped(monkeypatch):
    """Belt and braces: were Pillow's rewrite to keep the GPS directory, the EXIF block goes whole."""
    from PIL import Image

    monkeypatch.setattr(Image.Exif, "__delitem__", lambda exif, tag: None)  # a Pillow that fails to delete
    data = image_bytes("JPEG", exif=gps_exif())
    kept = scrub.remove_location(data, "JPEG")
    assert scrub.EXIF_PREFIX not in kept
    assert locations(kept) == []


def png_chunk(kind, body):
    """Return a PNG chunk: length, type, body, CRC."""
    import zlib

    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


PNG_XMP_CHUNK = png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)


@pytest.mark.parametrize(
    "before", [PNG_XMP_CHUNK, png_chunk(b"eXIf", damaged_exif()) + PNG_XMP_CHUNK], ids=["xmp", "damaged-exif-and-xmp"]
)
def test_the_png_chunks_after_a_dropped_one_are_still_cleaned(before):
    """An XMP chunk and an unreadable eXIf chunk go; the chunks after them are still read (GPS eXIf, XMP)."""
    png = image_bytes("PNG", exif=gps_exif())
    header_end = 8 + 25  # signature, IHDR
    kept = scrub.remove_location(png[:header_end] + before + png[header_end:], "PNG")
    assert b"XML:com.adobe.xmp" not in kept
    assert locations(kept) == []
    assert b"StarPhone" in kept


@pytest.mark.parametrize(
    "tail",
    [png_chunk(b"eXIf", b""), (0xFFFF_FFF0).to_bytes(4, "big") + b"tEXtXML:com.adobe.xmp\x00" + XMP],
    ids=["empty-exif-at-the-end", "xmp-claiming-more-than-the-file"],
)
def test_a_png_chunk_is_read_up_to_the_last_byte(tail):
    """A 12-byte chunk ending exactly at the file's end is read; a length past the end takes the rest of the file."""
    plain = image_bytes("PNG")
    assert scrub.remove_location(plain + tail, "PNG") == plain


def webp_of(chunks):
    """Return a WebP file of (kind, body) chunks (odd bodies padded with a zero)."""
    body = b"".join(kind + len(data).to_bytes(4, "little") + data + b"\x00" * (len(data) & 1) for kind, data in chunks)
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body


def webp_chunks(data):
    """Return a WebP file's (kind, body) chunks, checking its RIFF size, each chunk's size and zero padding."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    chunks, pos = [], 12
    while pos < len(data):
        kind, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body, pad = data[pos + 8 : pos + 8 + size], data[pos + 8 + size : pos + 8 + size + (size & 1)]
        assert len(body) == size and pad == b"\x00" * (size & 1), kind
        chunks.append((kind, body))
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    return chunks


def extended_webp(*metadata, flags=0x0C | 0x01):
    """Return an extended WebP (VP8X with these flags, the picture) followed by the metadata chunks given."""
    (vp8x, header), picture = webp_chunks(image_bytes("WEBP", exif=gps_exif(), xmp=XMP))[:2]
    assert vp8x == b"VP8X"
    return webp_of([(vp8x, bytes([flags]) + header[1:]), picture, *metadata])


@pytest.mark.parametrize(
    ("metadata", "cleared"),
    [
        ([(b"XMP ", XMP), (b"EXIF", gps_exif().tobytes())], 0x04),
        ([(b"EXIF", damaged_exif()), (b"XMP ", XMP)], 0x0C),
        ([(b"XMP ", XMP), (b"EXIF", damaged_exif())], 0x0C),
        ([(b"EXIF", gps_exif().tobytes()), (b"XMP ", b"")], 0x04),
    ],
    ids=["xmp-then-exif", "damaged-exif-then-xmp", "xmp-then-damaged-exif", "empty-xmp-at-the-end"],
)
def test_webp_clears_exactly_the_flags_of_the_chunks_it_drops(metadata, cleared):
    """VP8X loses the EXIF flag (0x08) and the XMP flag (0x04) of each chunk dropped, in any order, and no other bit."""
    data = extended_webp(*metadata)
    kept = webp_chunks(scrub.remove_location(data, "WEBP"))
    assert kept[0][1][0] == (0x0C | 0x01) & ~cleared
    assert b"XMP " not in [kind for kind, _ in kept]
    exif = [body for kind, body in kept if kind == b"EXIF"]
    assert len(exif) == (0 if cleared & 0x08 else 1)
    assert not any(scrub.has_location(body) for body in exif)
    assert kept[1] == webp_chunks(data)[1]  # the picture is copied as it came


def test_a_simple_webp_loses_an_xmp_chunk_too():
    """A WebP without VP8X header (the simple layout) has no flags to clear; its XMP chunk still goes."""
    plain = image_bytes("WEBP")
    assert webp_chunks(plain)[0][0] == b"VP8 "
    data = webp_of([*webp_chunks(plain), (b"XMP ", XMP)])
    assert scrub.remove_location(data, "WEBP") == plain


@pytest.mark.parametrize("make", ["S", "SSSS"])
def test_a_rewritten_webp_exif_chunk_has_its_true_size(make):
    """The EXIF chunk rewritten without GPS is framed by its new size (blocks of 38 and 44 bytes here)."""
    exif = gps_exif()
    exif[ExifTags.Base.Make] = make
    kept = webp_chunks(scrub.remove_location(extended_webp((b"EXIF", exif.tobytes()), flags=0x08), "WEBP"))
    (body,) = [body for kind, body in kept if kind == b"EXIF"]
    assert not scrub.has_location(body)
    with Image.open(io.BytesIO(webp_of(kept))) as image:
        assert image.getexif()[ExifTags.Base.Make] == make


def test_a_webp_chunk_claiming_more_than_the_file_takes_the_rest():
    """A chunk size past the file's end (a lie) is read as unsigned: the XMP chunk and all after it go."""
    plain = image_bytes("WEBP")
    lie = b"XMP " + (0xFFFF_FFF0).to_bytes(4, "little") + XMP
    data = plain[:4] + (len(plain) - 8 + len(lie)).to_bytes(4, "little") + plain[8:] + lie
    assert scrub.remove_location(data, "WEBP") == plain


GIF_PIXEL = b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2, one sub-block (one pixel of colour 0), terminator
GIF_XMP = b"\x21\xff\x0bXMP DataXMP" + XMP + bytes([0x01, *range(0xFF, -1, -1)]) + b"\x00"
GIF_LOOP = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
GIF_COMMENT = b"\x21\xfe\x05hello\x00"
GIF_CONTROL = b"\x21\xf9\x04\x00\x00\x00\x00\x00"


def gif_of(flags, *blocks, background=0):
    """Return a 1x1 GIF89a: screen flags (a colour table of 2 ** (size + 1) entries when 0x80 is set), the blocks."""
    table = b"\x10\x20\x30" * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else b""
    return b"GIF89a\x01\x00\x01\x00" + bytes([flags, background, 0]) + table + b"".join(blocks)


def gif_frame(flags):
    """Return an image descriptor of a 1x1 picture with these flags (a local colour table when 0x80 is set)."""
    table = b"\x40\x50\x60" * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else b""
    return b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00" + bytes([flags]) + table + GIF_PIXEL


@pytest.mark.parametrize(("screen", "frame"), [(0x82, 0x82), (0x82, 0x81), (0x01, 0x83), (0x82, 0x00), (0x81, 0x01)])
def test_a_gif_is_walked_block_by_block_through_colour_tables_and_frames(screen, frame):
    """XMP before, between and after frames goes; other blocks stay; nothing after the trailer is kept.

    Colour tables of several sizes (global and local, present or not, size bits set without the
    table flag) must each be skipped exactly for the next block to be found.
    """
    keep = [GIF_COMMENT, GIF_LOOP, GIF_CONTROL, gif_frame(frame), GIF_CONTROL, gif_frame(0x00), GIF_COMMENT]
    with_xmp = [GIF_COMMENT, GIF_XMP, GIF_LOOP, GIF_CONTROL, gif_frame(frame), GIF_XMP]
    with_xmp += [GIF_CONTROL, gif_frame(0x00), GIF_COMMENT, GIF_XMP]
    data = gif_of(screen, *with_xmp, b";", b"after the trailer")
    assert scrub.remove_location(data, "GIF") == gif_of(screen, *keep, b";")
    with Image.open(io.BytesIO(gif_of(screen, *keep, b";"))) as image:
        assert image.n_frames == 2  # a real GIF, as Pillow reads it


@pytest.mark.parametrize(
    "tail",
    [b"", b"\x21", b"\x21\xfe\x03abc", b"\x2c\x00\x00\x00\x00\x01", b"\x00\x01\x02;"],
    ids=["after-a-frame", "in-an-extension", "in-sub-blocks", "in-a-descriptor", "not-a-block"],
)
def test_a_gif_cut_off_anywhere_is_kept_as_it_came(tail):
    """A GIF that ends early, or holds a byte that starts no block, is copied from there on (the decoder decides)."""
    data = gif_of(0x82, GIF_COMMENT, gif_frame(0x81), tail)
    assert scrub.remove_location(data, "GIF") == data


def test_formats_without_a_scrubber_are_returned_as_they_came():
    """Only the four accepted formats are scrubbed; any other name gets its bytes back unchanged."""
    assert scrub.remove_location(b"BM not a photo", "BMP") == b"BM not a photo"


def test_an_exif_block_over_32_kib_is_rewritten_with_its_true_length():
    """Segment lengths are unsigned when written too: a 40 KiB EXIF block (a long description) loses only its GPS."""
    exif = gps_exif()
    exif[ExifTags.Base.ImageDescription] = "d" * 40_000
    data = image_bytes("JPEG", exif=exif)
    kept = scrub.remove_location(data, "JPEG")
    assert locations(kept) == []
    with Image.open(io.BytesIO(kept)) as image:
        assert image.getexif()[ExifTags.Base.ImageDescription] == "d" * 40_000
