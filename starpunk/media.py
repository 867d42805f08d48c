"""Photo files: checked from their content, stripped of location, stored atomically, served forever.

The API the admin form and Micropub share (inside an app context):

- ``save_upload(source) -> StoredMedia``: ``source`` is bytes
  or a binary file object (a Werkzeug ``FileStorage`` or its ``.stream``). The
  type comes from the content alone (JPEG, PNG, GIF or WebP; the name and any
  declared type are ignored); GPS and XMP metadata are removed without
  re-encoding (starpunk/scrub.py). Raises ``MediaTooLarge`` (status 413) past
  MEDIA_MAX_BYTES, ``UnsupportedMedia`` (415) for anything else and
  ``MediaStorageError`` (503) when the disk refuses the file. When it returns,
  the file is fsynced under ``DATA_PATH/media/<name>`` and served at ``url``,
  and its bytes are in the database's ``media_copies`` (starpunk/mediacopies.py).
- ``StoredMedia(name, url, width, height, content_type, size_bytes)``.
- ``stored_media(name)``: the StoredMedia of a file already stored, or None.
- ``name_from_url(url)``: the stored name when ``url`` is this site's
  ``/media/<name>``, else None (a link to elsewhere, never fetched).
- ``discard(names)``: remove files (and their copies in the database) a request
  stored for a note that was then not saved, so no orphan stays behind. Call it only for files that request stored.
- ``remove_abandoned_uploads(data_path)``: at start, remove the partial files
  of uploads whose process was killed mid-write (SIGKILL, power loss).
- ``@accepts_uploads(when=predicate)`` on a view: requests to it for which
  ``predicate()`` is true (the owner's session, a valid token) may carry a
  body up to UPLOAD_MAX_CONTENT_LENGTH (MAX_PHOTOS photos plus text) instead of
  MAX_CONTENT_LENGTH. The limit is raised in a hook that runs before the CSRF
  check reads the form, so a large form is not refused before the view runs.

Names are 128 random bits in hex plus the extension of the detected type, so
nobody can guess a photo's address before it is published. Files are never
changed once stored; a note that drops a photo keeps no reference to it, but
the file stays (deleted notes can be restored, and backups stay complete).
"""

import io
import os
import re
import secrets
import sqlite3
import struct
import time
import warnings
from pathlib import Path
from typing import NamedTuple

from flask import Blueprint, abort, current_app, request, send_from_directory, url_for

from . import mediacopies
from .db import get_db
from .scrub import remove_location
from .web import MULTIPART

bp = Blueprint("media", __name__)

MEDIA_FOLDER = "media"
TYPES = {  # Pillow's format name: (extension, content type)
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
CONTENT_TYPES = {extension: content_type for extension, content_type in TYPES.values()}
NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png|gif|webp)$")
TEMP_PREFIX = ".upload-"
# A partial upload file untouched this long was left by a killed process (see remove_abandoned_uploads).
ABANDONED_AFTER_SECONDS = 300
# Decompression bombs: a small file that decodes to a huge bitmap is refused.
# 90 megapixels is above any phone camera (a 48 MP photo is 8000 x 6000).
MAX_PIXELS = 90_000_000
CACHE_SECONDS = 365 * 24 * 3600
# EXIF orientations that turn the picture a quarter: its displayed width is its stored height.
QUARTER_TURNS = {5, 6, 7, 8}
ORIENTATION_TAG = 0x0112


class MediaError(Exception):
    """An upload was refused; status is the HTTP status, the message is shown to the author."""

    status = 400


class MediaTooLarge(MediaError):
    """The file is over MEDIA_MAX_BYTES."""

    status = 413


class UnsupportedMedia(MediaError):
    """The file's content is not a JPEG, PNG, GIF or WebP image this site accepts."""

    status = 415


class MediaStorageError(MediaError):
    """The file could not be written (disk full, read-only); nothing was kept."""

    status = 503


class StoredMedia(NamedTuple):
    """A photo file stored by this site."""

    name: str
    url: str
    width: int
    height: int
    content_type: str
    size_bytes: int


def media_folder(data_path=None):
    """Return the folder holding the photo files (DATA_PATH/media)."""
    return Path(data_path or current_app.config["DATA_PATH"]) / MEDIA_FOLDER


def media_url(name):
    """Return the absolute URL a stored file is served at."""
    return current_app.config["SITE_URL"] + url_for("media.serve", name=name)


def name_from_url(url):
    """Return the stored file's name when url is this site's /media/<name>, else None."""
    prefix = current_app.config["SITE_URL"] + url_for("media.serve", name="x")[:-1]
    if url.startswith(prefix):
        name = url[len(prefix) :]
        if NAME.match(name):
            return name
    return None


def _read_limited(source, limit):
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        stream = getattr(source, "stream", source)
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise MediaTooLarge(f"A photo can be at most {limit / 1024 / 1024:.0f} MB; this one is larger.")
    return data


def pillow():
    """Return Pillow's Image module, imported on the first upload and set to refuse decompression bombs.

    Only uploads need Pillow: importing it when the app starts cost every
    start-up about 15 ms (python -X importtime in the image) for a site that
    may never receive a photo.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


def inspect_image(data):
    """Return (Pillow format, displayed width, height) of an accepted image, or raise UnsupportedMedia."""
    Image = pillow()  # noqa: N806 (Pillow's module name)
    refused = UnsupportedMedia("Only JPEG, PNG, GIF and WebP photos are accepted; this file is none of them.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(TYPES)) as image:
                image_format, (width, height) = image.format, image.size
                image.verify()
            with Image.open(io.BytesIO(data), formats=list(TYPES)) as image:
                orientation = image.getexif().get(ORIENTATION_TAG)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsupportedMedia(f"This image has more than {MAX_PIXELS:,} pixels; make it smaller.") from None
    except (Image.UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error):
        raise refused from None
    if image_format not in TYPES:
        raise refused
    if orientation in QUARTER_TURNS:
        width, height = height, width
    return image_format, width, height


def write_atomically(folder, name, data):
    """Write data to folder/name through a synced temporary file, so the name never holds part of it."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        os.replace(temp, folder / name)
        # The rename itself is durable only once the folder is synced.
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise MediaStorageError(f"The photo could not be saved ({exc.strerror}); nothing was kept.") from exc


def remove_abandoned_uploads(data_path, older_than=ABANDONED_AFTER_SECONDS, now=None):
    """Remove the partial files uploads left when their process was killed mid-write; return how many.

    Only files untouched for older_than seconds go: a write in progress, in this
    container or another on the same volume, is never that old (Gunicorn kills
    a request after WORKER_TIMEOUT), so it is left alone.
    """
    folder = media_folder(data_path)
    cutoff = (time.time() if now is None else now) - older_than
    removed = 0
    for path in folder.glob(f"{TEMP_PREFIX}*") if folder.is_dir() else []:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another process removed it first
    return removed


def save_upload(source):
    """Check, clean and store one uploaded photo; return its StoredMedia."""
    data = _read_limited(source, current_app.config["MEDIA_MAX_BYTES"])
    if not data:
        raise UnsupportedMedia("The photo file is empty.")
    image_format, width, height = inspect_image(data)
    data = remove_location(data, image_format)
    extension, content_type = TYPES[image_format]
    name = f"{secrets.token_hex(16)}.{extension}"
    write_atomically(media_folder(), name, data)
    try:
        # Its bytes in the database too, before the note that shows it: a replica holds both (mediacopies.py).
        mediacopies.keep(get_db(), name, data)
    except sqlite3.Error as exc:
        (media_folder() / name).unlink(missing_ok=True)
        raise MediaStorageError("The photo could not be saved (the database refused it); nothing was kept.") from exc
    current_app.logger.info("media %s stored (%s, %dx%d, %d bytes)", name, content_type, width, height, len(data))
    return StoredMedia(name, media_url(name), width, height, content_type, len(data))


def stored_media(name):
    """Return the StoredMedia of a file this site stored, or None when there is none by that name."""
    if not NAME.match(name or ""):
        return None
    try:
        data = (media_folder() / name).read_bytes()
        _, width, height = inspect_image(data)
    except (OSError, UnsupportedMedia):
        return None
    return StoredMedia(name, media_url(name), width, height, CONTENT_TYPES[name.rsplit(".", 1)[1]], len(data))


def discard(names):
    """Remove files stored for a note that was then not saved, and their copies in the database."""
    names = [name for name in names if NAME.match(name)]
    for name in names:
        (media_folder() / name).unlink(missing_ok=True)
    if not names:
        return
    try:
        mediacopies.forget(get_db(), names)
    except sqlite3.Error as exc:  # a full disk: the copies stay, unseen (no note names them); the note's error stands
        current_app.logger.warning("could not remove the database copies of %d discarded photo(s): %s", len(names), exc)


def accepts_uploads(when):
    """Mark a view whose requests may carry photos, when when() says the sender may upload."""

    def mark(view):
        view.accepts_uploads = when
        return view

    return mark


def raise_upload_limit():
    """Let a multipart request to an upload view (from someone allowed to upload) be as large as MAX_PHOTOS photos."""
    if request.mimetype != MULTIPART:
        return  # only a multipart form carries files: a JSON or urlencoded body keeps MAX_CONTENT_LENGTH
    view = current_app.view_functions.get(request.endpoint)
    allowed = getattr(view, "accepts_uploads", None)
    if allowed is not None and allowed():
        request.max_content_length = current_app.config["UPLOAD_MAX_CONTENT_LENGTH"]


@bp.get("/media/<name>")
def serve(name):
    """Serve a stored photo with long-lived, immutable cache headers; anything else is 404."""
    if not NAME.match(name):
        abort(404, "There is no photo at this address.")
    response = send_from_directory(
        media_folder(), name, mimetype=CONTENT_TYPES[name.rsplit(".", 1)[1]], max_age=CACHE_SECONDS
    )
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response
