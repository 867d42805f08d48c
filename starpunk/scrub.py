"""Remove location metadata from JPEG, PNG and WebP files without re-encoding their pixels.

Photos keep their quality: only metadata blocks change. The EXIF block is
rewritten without its GPS directory (orientation, camera and date stay), and
XMP packets, which can repeat the position as text, are dropped whole. GIF
carries no EXIF and is returned as it came. Pillow is imported on the first
upload (starpunk.media.pillow), not when the app starts.
"""

import struct
import zlib

# Pillow's ExifTags.IFD.GPSInfo, the EXIF tag of the GPS directory (tests/unit/test_media.py checks they agree).
GPS_IFD = 0x8825
EXIF_PREFIX = b"Exif\x00\x00"
XMP_PREFIXES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp\x00"
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


def _scrub_jpeg(data):
    out = [data[:2]]
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break  # not a marker: leave the rest as it is (the decoder decides)
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            out.append(data[pos : pos + 1])
            pos += 1
            continue
        if marker in JPEG_STANDALONE:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: compressed data follows, untouched
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        segment = data[pos : pos + 2 + length]
        payload = segment[4:]
        pos += 2 + length
        if marker == 0xE1 and payload.startswith(XMP_PREFIXES):
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
        if kind in {b"iTXt", b"tEXt", b"zTXt"} and body.startswith(PNG_XMP_KEYWORD):
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


SCRUBBERS = {"JPEG": _scrub_jpeg, "PNG": _scrub_png, "WEBP": _scrub_webp}


def remove_location(data, image_format):
    """Return the file's bytes without GPS or XMP metadata; image_format is Pillow's name for it."""
    scrub = SCRUBBERS.get(image_format)
    return scrub(data) if scrub else data
