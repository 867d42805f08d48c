"""Remove location metadata from JPEG, PNG, GIF and WebP files without re-encoding their pixels.

Photos keep their quality: only metadata blocks change. The EXIF block is
rewritten without its GPS directory (orientation, camera and date stay), and
XMP packets, which can repeat the position as text, are dropped whole,
wherever the format keeps them: JPEG's APP1 segments (extended XMP too),
PNG's text chunks (and the "Raw profile type" chunks in which ImageMagick
keeps EXIF and XMP as hex), GIF's XMP application extension, WebP's chunks.
A JPEG ends at its first end-of-image marker: a second picture after it (the
multi-picture layout phones write, with its own EXIF) is dropped.
Pillow is imported on the first upload (starpunk.media.pillow), not when the app starts.
"""

import struct
import zlib

# Pillow's ExifTags.IFD.GPSInfo, the EXIF tag of the GPS directory (tests/unit/test_media.py checks they agree).
GPS_IFD = 0x8825
EXIF_PREFIX = b"Exif\x00\x00"
XMP_PREFIXES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp\x00"
# ImageMagick's text chunks of raw metadata: "Raw profile type exif" (EXIF, GPS included), "... xmp", "... APP1".
PNG_RAW_PROFILE = b"Raw profile type "
PNG_TEXT_CHUNKS = {b"iTXt", b"tEXt", b"zTXt"}
JPEG_MPF_PREFIX = b"MPF\x00"  # the multi-picture index (APP2): it points at pictures that are dropped
GIF_EXTENSION, GIF_IMAGE, GIF_TRAILER = 0x21, 0x2C, 0x3B
GIF_APPLICATION = 0xFF
GIF_XMP_APPLICATION = b"XMP DataXMP"
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}
JPEG_MAX_SEGMENT = 0xFFFF - 2
WEBP_FLAG_EXIF = 0x08
WEBP_FLAG_XMP = 0x04


def has_location(tiff):
    """Return True when an EXIF block (with or without its "Exif" prefix) holds a GPS directory."""
    from PIL import Image

    exif = Image.Exif()
    exif.load(tiff)
    return GPS_IFD in exif


def _exif_without_location(tiff):
    """Return the EXIF block (TIFF bytes, no prefix) without GPS, or b"" when it cannot be kept safely."""
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(tiff)
        if GPS_IFD not in exif:
            return tiff
        del exif[GPS_IFD]
        rewritten = exif.tobytes()[len(EXIF_PREFIX) :]
    except Exception:  # noqa: BLE001 - a block Pillow cannot parse is dropped, never kept
        return b""
    # Belt and braces: keep the rewrite only if it really lost the GPS directory.
    return b"" if has_location(rewritten) else rewritten


def _scan_end(data, pos):
    """Return where the compressed data starting at pos ends: at the first marker that is not part of it."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        # 0xFF00 is a stuffed 0xFF, 0xFFD0-D7 restart markers, 0xFFFF fill: all inside the scan.
        if following == 0x00 or following == 0xFF or 0xD0 <= following <= 0xD7:
            pos += 1
            continue
        return pos


def _scrub_jpeg(data):
    out = [data[:2]]
    pos = 2
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            break  # not a marker: leave the rest as it is (the decoder decides)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            out.append(data[pos : pos + 1])
            pos += 1
            continue
        if marker == 0xD9:  # end of image: whatever follows (a second picture, with its own EXIF) goes
            out.append(data[pos : pos + 2])
            return b"".join(out)
        if marker in JPEG_STANDALONE:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        if pos + 4 > len(data):
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        payload = segment[4:]
        pos += 2 + length
        if marker == 0xDA:  # start of scan: the compressed data follows, copied untouched
            end = _scan_end(data, pos)
            out.append(segment + data[pos:end])
            pos = end
            continue
        if marker == 0xE1 and payload.startswith(XMP_PREFIXES):
            continue
        if marker == 0xE2 and payload.startswith(JPEG_MPF_PREFIX):
            continue
        if marker == 0xE1 and payload.startswith(EXIF_PREFIX):
            tiff = _exif_without_location(payload[len(EXIF_PREFIX) :])
            if not tiff or len(tiff) + len(EXIF_PREFIX) > JPEG_MAX_SEGMENT:
                continue
            payload = EXIF_PREFIX + tiff
            segment = segment[:2] + struct.pack(">H", len(payload) + 2) + payload
        out.append(segment)
    out.append(data[pos:])
    return b"".join(out)


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _scrub_png(data):
    out = [data[:8]]
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        chunk, body = data[pos:end], data[pos + 8 : pos + 8 + length]
        pos = end
        if kind in PNG_TEXT_CHUNKS and body.startswith((PNG_XMP_KEYWORD, PNG_RAW_PROFILE)):
            continue
        if kind == b"eXIf":
            tiff = _exif_without_location(body)
            if not tiff:
                continue
            if tiff is not body:
                chunk = _png_chunk(kind, tiff)
        out.append(chunk)
    out.append(data[pos:])
    return b"".join(out)


def _scrub_webp(data):
    chunks = []
    flags_at = None
    pos = 12
    dropped = 0
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + size + (size & 1)
        body = data[pos + 8 : pos + 8 + size]
        chunk = data[pos:end]
        pos = end
        if kind == b"XMP ":
            dropped |= WEBP_FLAG_XMP
            continue
        if kind == b"EXIF":
            raw = body[len(EXIF_PREFIX) :] if body.startswith(EXIF_PREFIX) else body
            tiff = _exif_without_location(raw)
            if not tiff:
                dropped |= WEBP_FLAG_EXIF
                continue
            if tiff is not raw:
                chunk = b"EXIF" + struct.pack("<I", len(tiff)) + tiff + b"\x00" * (len(tiff) & 1)
        if kind == b"VP8X":
            flags_at = sum(len(c) for c in chunks) + 8
        chunks.append(chunk)
    body = b"".join(chunks) + data[pos:]
    if flags_at is not None and dropped:
        body = body[:flags_at] + bytes([body[flags_at] & ~dropped & 0xFF]) + body[flags_at + 1 :]
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def _gif_sub_blocks_end(data, pos):
    """Return where the sub-blocks starting at pos end (after their zero-length terminator)."""
    while pos < len(data) and data[pos]:
        pos += data[pos] + 1
    return pos + 1


def _scrub_gif(data):
    pos = 13  # header (6) and logical screen descriptor (7)
    if len(data) < pos:
        return data
    if data[10] & 0x80:  # the global colour table
        pos += 3 * 2 ** ((data[10] & 0x07) + 1)
    out = [data[:pos]]
    while pos < len(data):
        kind = data[pos]
        if kind == GIF_EXTENSION and pos + 2 < len(data):
            label = data[pos + 1]
            end = _gif_sub_blocks_end(data, pos + 2)
            block = data[pos:end]
            pos = end
            if label == GIF_APPLICATION and block[3:14] == GIF_XMP_APPLICATION:
                continue
            out.append(block)
        elif kind == GIF_IMAGE and pos + 10 <= len(data):
            packed = data[pos + 9]
            start = pos + 10 + (3 * 2 ** ((packed & 0x07) + 1) if packed & 0x80 else 0)
            end = _gif_sub_blocks_end(data, start + 1)  # after the LZW minimum code size
            out.append(data[pos:end])
            pos = end
        elif kind == GIF_TRAILER:
            return b"".join(out) + data[pos : pos + 1]  # nothing after the trailer is kept
        else:
            break  # not a block: leave the rest as it is (the decoder decides)
    out.append(data[pos:])
    return b"".join(out)


SCRUBBERS = {"JPEG": _scrub_jpeg, "PNG": _scrub_png, "GIF": _scrub_gif, "WEBP": _scrub_webp}


def remove_location(data, image_format):
    """Return the file's bytes without GPS or XMP metadata; image_format is Pillow's name for it."""
    scrub = SCRUBBERS.get(image_format)
    return scrub(data) if scrub else data
