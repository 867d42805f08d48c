"""Photo files: accepted by content only, stripped of location, stored atomically, served forever, never guessable."""

import io
import os
import re

import pytest
from flask import request
from PIL import ExifTags, Image

from starpunk import media, scrub
from starpunk.media import MediaStorageError, MediaTooLarge, UnsupportedMedia
from tests.unit.conftest import gps_exif, image_bytes, multipart

FORMATS = [
    ("JPEG", "jpg", "image/jpeg"),
    ("PNG", "png", "image/png"),
    ("GIF", "gif", "image/gif"),
    ("WEBP", "webp", "image/webp"),
]


def stored_files(app):
    """Return the names of the files in DATA_PATH/media (temporary ones included)."""
    folder = media.media_folder(app.config["DATA_PATH"])
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def save(app, data):
    """Store data as an upload inside an app context and return the StoredMedia."""
    with app.test_request_context():
        return media.save_upload(io.BytesIO(data))


@pytest.mark.parametrize(("image_format", "extension", "content_type"), FORMATS)
def test_each_accepted_type_is_stored_and_served_for_a_year(app, client, image_format, extension, content_type):
    """JPEG, PNG, GIF and WebP are stored under an unguessable name and served immutable."""
    data = image_bytes(image_format, size=(64, 48))
    stored = save(app, data)
    assert re.fullmatch(rf"[0-9a-f]{{32}}\.{extension}", stored.name)
    assert (stored.width, stored.height, stored.content_type) == (64, 48, content_type)
    assert stored.url == f"http://localhost/media/{stored.name}"
    response = client.get(f"/media/{stored.name}")
    body = response.get_data()
    response.close()  # the file is streamed; closing it ends the stream
    assert response.status_code == 200
    assert response.mimetype == content_type
    assert body == scrub.remove_location(data, image_format)
    assert response.cache_control.max_age == 365 * 24 * 3600
    assert response.cache_control.public and response.cache_control.immutable
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_names_are_never_reused(app):
    """The same file stored twice gets two different random names."""
    data = image_bytes("PNG")
    assert save(app, data).name != save(app, data).name


def test_the_type_comes_from_the_content_not_the_name_or_declared_type(upload, owner, app):
    """A PNG named .jpg and declared image/jpeg is stored and served as the PNG it is."""
    form = {
        "csrf_token": None,
        "content": "Mislabelled",
        "published": "y",
        "photo_1": (io.BytesIO(image_bytes("PNG")), "holiday.jpg", "image/jpeg"),
        "alt_1": "A PNG in disguise",
    }
    from tests.unit.conftest import csrf_token

    form["csrf_token"] = csrf_token(owner)
    response = owner.post("/admin/new", data=form, content_type="multipart/form-data")
    assert response.status_code == 303, response.text
    names = stored_files(app)
    assert len(names) == 1 and names[0].endswith(".png")
    response = owner.get(f"/media/{names[0]}")
    response.close()
    assert response.mimetype == "image/png"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"just some text, honestly\n", "photo.png"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "logo.gif"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "truncated.png"),
        (b"", "empty.jpg"),
    ],
    ids=["text-named-png", "svg-named-gif", "broken-png", "empty"],
)
def test_anything_but_an_accepted_image_is_refused_with_415(upload, app, database, data, name):
    """Text, SVG, a broken PNG or an empty file: a 415 form error, no file kept, no note."""
    response = upload(photos=[(data, name, "Whatever it is")])
    assert response.status_code == 415
    assert "JPEG, PNG, GIF and WebP" in response.text or "empty" in response.text
    assert stored_files(app) == []
    assert database.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


@pytest.mark.parametrize("image_format", ["BMP", "TIFF"])
def test_other_image_formats_are_refused_too(app, image_format):
    """Real images in formats the site does not serve (BMP, TIFF) are refused."""
    with pytest.raises(UnsupportedMedia):
        save(app, image_bytes(image_format))


def test_a_photo_over_media_max_bytes_is_a_413_form_error(make_app, make_image, login_link, token):
    """A photo one byte over MEDIA_MAX_BYTES is refused (413) with a clear message; nothing kept."""
    app = make_app(MEDIA_MAX_BYTES=2048)
    owner = app.test_client()
    from urllib.parse import urlsplit

    owner.get(urlsplit(login_link(app)).path)
    big = make_image("PNG", size=(300, 300), compress_level=0)
    assert len(big) > 2048
    form = {
        "csrf_token": token(owner),
        "content": "Too big",
        "published": "y",
        "photo_1": (io.BytesIO(big), "big.png"),
        "alt_1": "Big",
    }
    response = owner.post("/admin/new", data=form, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "at most" in response.text
    assert stored_files(app) == []
    with pytest.raises(MediaTooLarge):
        save(app, big)


def test_a_whole_request_over_the_upload_limit_is_a_413_page(make_app, login_link, token):
    """Past MAX_PHOTOS photos' worth of bytes the request itself is refused, with a page naming the limits."""
    app = make_app(MEDIA_MAX_BYTES=2048)
    owner = app.test_client()
    from urllib.parse import urlsplit

    owner.get(urlsplit(login_link(app)).path)
    form = {
        "csrf_token": token(owner),
        "content": "x",
        "photo_1": (io.BytesIO(b"\0" * app.config["UPLOAD_MAX_CONTENT_LENGTH"]), "a.png"),
    }
    response = owner.post("/admin/new", **multipart(form))
    assert response.status_code == 413
    assert "Photos can be at most" in response.text


def test_visitors_keep_the_small_body_limit_on_upload_views(client, app):
    """Only the owner gets the larger limit: an anonymous multipart post over MAX_CONTENT_LENGTH is 413."""
    body = {"content": "x", "photo_1": (io.BytesIO(b"\0" * (app.config["MAX_CONTENT_LENGTH"] + 1)), "a.png")}
    assert client.post("/admin/new", **multipart(body)).status_code == 413


def test_a_decompression_bomb_is_refused(app):
    """A small file that would decode to more than MAX_PIXELS pixels is refused."""
    side = int(media.MAX_PIXELS**0.5) + 100
    bomb = io.BytesIO()
    Image.new("1", (side, side)).save(bomb, "PNG")
    assert len(bomb.getvalue()) < 2 * 1024 * 1024
    with pytest.raises(UnsupportedMedia, match="pixels"):
        save(app, bomb.getvalue())


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP"])
def test_gps_is_removed_and_the_rest_kept(app, image_format):
    """A photo with a GPS position is stored without it; orientation and camera stay, the pixels are untouched."""
    data = image_bytes(image_format, size=(64, 48), exif=gps_exif(orientation=6))
    with Image.open(io.BytesIO(data)) as before:
        assert ExifTags.IFD.GPSInfo in before.getexif()
        pixels = before.convert("RGB").tobytes()
    stored = save(app, data)
    kept = (media.media_folder(app.config["DATA_PATH"]) / stored.name).read_bytes()
    with Image.open(io.BytesIO(kept)) as after:
        exif = after.getexif()
        assert ExifTags.IFD.GPSInfo not in exif
        assert exif[ExifTags.Base.Orientation] == 6
        assert exif[ExifTags.Base.Make] == "StarPhone"
        assert after.convert("RGB").tobytes() == pixels
    # Orientation 6 turns the picture a quarter: the page shows it 48 wide and 64 high.
    assert (stored.width, stored.height) == (48, 64)


def test_jpeg_scan_data_is_copied_not_re_encoded(app):
    """Removing GPS from a JPEG leaves its compressed picture byte for byte (no quality lost)."""
    data = image_bytes("JPEG", size=(64, 48), exif=gps_exif(), quality=95)
    stored = save(app, data)
    kept = (media.media_folder(app.config["DATA_PATH"]) / stored.name).read_bytes()
    scan = data.index(b"\xff\xda")
    assert kept.endswith(data[scan:])
    assert len(kept) < len(data)


def test_xmp_packets_are_dropped_from_jpeg(app):
    """XMP can repeat the position as text: the whole packet goes."""
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,31.2N</exif:GPSLatitude></x:xmpmeta>'
    data = image_bytes("JPEG", xmp=xmp)
    assert b"GPSLatitude" in data
    stored = save(app, data)
    assert b"GPSLatitude" not in (media.media_folder(app.config["DATA_PATH"]) / stored.name).read_bytes()


def test_a_photo_without_metadata_is_stored_unchanged(app):
    """Nothing to remove: the stored bytes are the uploaded bytes."""
    for image_format in ("JPEG", "PNG", "GIF", "WEBP"):
        data = image_bytes(image_format)
        stored = save(app, data)
        assert (media.media_folder(app.config["DATA_PATH"]) / stored.name).read_bytes() == data


@pytest.mark.parametrize(
    "path",
    [
        "/media/../starpunk.db",
        "/media/..%2Fstarpunk.db",
        "/media/%2e%2e%2fstarpunk.db",
        "/media/starpunk.db",
        "/media/.upload-0123456789abcdef",
        "/media/0123456789ABCDEF0123456789ABCDEF.png",
        "/media/0123456789abcdef0123456789abcdef.png",
        "/media/0123456789abcdef0123456789abcdef.svg",
        "/media/0123456789abcdef0123456789abcdef.png%00.db",
    ],
)
def test_path_tricks_and_unknown_names_are_404(app, client, path):
    """Only a stored file's exact name is served; nothing else under DATA_PATH is reachable."""
    save(app, image_bytes("PNG"))
    response = client.get(path)
    assert response.status_code == 404
    assert b"SQLite" not in response.data


def test_a_failed_write_leaves_no_file_behind(app, monkeypatch):
    """When the disk refuses the file (here: fsync fails as on a full disk), no part of it stays."""

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(media.os, "fsync", full_disk)
    with pytest.raises(MediaStorageError, match="No space left"):
        save(app, image_bytes("PNG"))
    assert stored_files(app) == []


def test_own_media_urls_resolve_to_the_stored_file(app):
    """This site's /media/<name> address names its stored file; other addresses do not."""
    stored = save(app, image_bytes("PNG", size=(10, 20)))
    with app.test_request_context():
        assert media.name_from_url(stored.url) == stored.name
        assert media.stored_media(stored.name) == stored
        assert media.name_from_url("https://elsewhere.example/media/" + stored.name) is None
        assert media.name_from_url("http://localhost/media/../starpunk.db") is None
        assert media.stored_media("0" * 32 + ".png") is None
        assert media.stored_media("../starpunk.db") is None


def test_discard_removes_only_stored_names(app, data_path):
    """discard removes the files named, and never anything outside the media folder."""
    stored = save(app, image_bytes("PNG"))
    with app.test_request_context():
        media.discard([stored.name, "../starpunk.db"])
    assert stored_files(app) == []
    assert os.path.exists(data_path / "starpunk.db")


def test_xmp_is_dropped_from_png_and_webp_and_the_webp_header_says_so(app):
    """PNG's XMP text chunk and WebP's XMP chunk go; WebP's header no longer claims an XMP chunk."""
    from PIL import PngImagePlugin

    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,31.2N</exif:GPSLatitude></x:xmpmeta>'
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    info.add_text("Comment", "kept")
    png = image_bytes("PNG", pnginfo=info)
    webp = image_bytes("WEBP", xmp=xmp, exif=gps_exif())
    for data in (png, webp):
        assert b"GPSLatitude" in data
        stored = save(app, data)
        kept = (media.media_folder(app.config["DATA_PATH"]) / stored.name).read_bytes()
        assert b"GPSLatitude" not in kept
        with Image.open(io.BytesIO(kept)) as image:
            image.load()
            assert ExifTags.IFD.GPSInfo not in image.getexif()
            assert "xmp" not in image.info
    assert b"kept" in (media.media_folder(app.config["DATA_PATH"]) / save(app, png).name).read_bytes()


def test_an_exif_block_that_cannot_be_read_is_dropped_not_kept(app):
    """A damaged EXIF block might still hide a position: it is removed whole, and the photo kept."""
    data = image_bytes("JPEG", exif=gps_exif())
    start = data.index(b"Exif\x00\x00") + 6
    damaged = data[:start] + b"XX" + data[start + 2 :]  # not a TIFF byte order any more
    stored = save(app, damaged)
    kept = (media.media_folder(app.config["DATA_PATH"]) / stored.name).read_bytes()
    assert b"Exif\x00\x00" not in kept
    with Image.open(io.BytesIO(kept)) as image:
        image.load()
        assert image.size == (40, 30)


def test_exif_without_gps_is_kept_byte_for_byte(app):
    """A photo whose EXIF has no position keeps its EXIF block exactly."""
    from PIL import ExifTags

    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 3
    for image_format in ("JPEG", "PNG", "WEBP"):
        data = image_bytes(image_format, exif=exif)
        stored = save(app, data)
        assert (media.media_folder(app.config["DATA_PATH"]) / stored.name).read_bytes() == data


def test_partial_uploads_left_by_a_killed_process_are_removed_at_start(make_app, data_path, capsys):
    """A start removes the partial files of writes killed long ago; a write still in progress and the photos stay."""
    app = make_app()
    stored = save(app, image_bytes("PNG"))
    folder = data_path / "media"
    abandoned, in_progress = (
        folder / f"{media.TEMP_PREFIX}0123456789abcdef",
        folder / f"{media.TEMP_PREFIX}fedcba9876543210",
    )
    abandoned.write_bytes(b"\x89PNG half of a photo")
    in_progress.write_bytes(b"\x89PNG a photo being written")
    long_ago = os.stat(abandoned).st_mtime - media.ABANDONED_AFTER_SECONDS - 1
    os.utime(abandoned, (long_ago, long_ago))
    capsys.readouterr()
    make_app()
    assert sorted(path.name for path in folder.iterdir()) == sorted([stored.name, in_progress.name])
    assert "removed 1 partial upload file(s) left by a killed process" in capsys.readouterr().err


def test_a_photo_of_exactly_media_max_bytes_is_stored_and_one_byte_more_refused(make_app):
    """MEDIA_MAX_BYTES bytes are accepted; MEDIA_MAX_BYTES + 1 are 413 (bytes after PNG's end pad the file)."""
    app = make_app(MEDIA_MAX_BYTES=4096)
    png = image_bytes("PNG")
    exact = png + b"\0" * (4096 - len(png))
    assert save(app, exact).size_bytes == 4096
    with pytest.raises(MediaTooLarge):
        save(app, exact + b"\0")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_gives_the_displayed_size(app, orientation):
    """Orientations 5 to 8 turn the picture a quarter (width and height swap); 1 to 4 do not."""
    data = image_bytes("JPEG", size=(64, 48), exif=gps_exif(orientation=orientation))
    stored = save(app, data)
    assert (stored.width, stored.height) == ((48, 64) if orientation >= 5 else (64, 48))


def test_the_gps_directory_tag_is_pillows():
    """scrub names the GPS directory's tag without importing Pillow at start: it is the one Pillow knows."""
    assert scrub.GPS_IFD == ExifTags.IFD.GPSInfo


def test_the_refusal_names_the_accepted_types_in_one_sentence(app):
    """Anything not accepted is refused with the sentence the author sees, word for word."""
    with pytest.raises(UnsupportedMedia) as refused:
        save(app, image_bytes("BMP"))
    assert str(refused.value) == "Only JPEG, PNG, GIF and WebP photos are accepted; this file is none of them."
    assert refused.value.status == 415


def test_only_the_four_accepted_decoders_ever_read_an_upload(app, monkeypatch):
    """Pillow is told which formats to try: no other decoder (another attack surface) is handed the bytes."""
    Image = media.pillow()  # noqa: N806 (Pillow's module name)
    asked = []

    def accept(prefix):
        asked.append(prefix[:4])
        return False

    monkeypatch.setattr(Image, "ID", ["PROBE", *Image.ID])
    monkeypatch.setitem(Image.OPEN, "PROBE", (None, accept))
    for image_format in ("JPEG", "BMP"):
        data = image_bytes(image_format)
        if image_format == "JPEG":
            save(app, data)
        else:
            with pytest.raises(UnsupportedMedia):
                save(app, data)
    assert asked == []


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_photo_pillow_only_warns_about_is_stored(app):
    """Only the decompression-bomb warning refuses a photo: another (an EXIF block cut short) does not."""
    exif = gps_exif()
    exif[ExifTags.Base.ImageDescription] = "x" * 200
    data = image_bytes("JPEG", exif=exif)
    start = data.index(b"Exif\x00\x00") - 2
    length = int.from_bytes(data[start : start + 2], "big")
    cut = (
        data[:start]
        + (length - 150).to_bytes(2, "big")
        + data[start + 2 : start + length - 150]
        + data[start + length :]
    )
    with pytest.warns(UserWarning), Image.open(io.BytesIO(cut)) as image:
        image.getexif()  # the warning this photo makes Pillow give
    stored = save(app, cut)
    assert (stored.width, stored.height) == (40, 30)


def test_discarding_a_file_already_gone_is_no_error(app):
    """discard is called after a failed save: a name whose file is missing is passed over, the others removed."""
    stored = save(app, image_bytes("PNG"))
    with app.test_request_context():
        media.discard(["0123456789abcdef0123456789abcdef.png", stored.name])
    assert stored_files(app) == []


def test_a_database_refusing_to_forget_discarded_copies_is_logged(app, monkeypatch, caplog):
    """When the copies cannot be removed (a full disk), the files still go and a warning names the count and error."""
    import sqlite3

    from starpunk import mediacopies

    def full(conn, names):
        raise sqlite3.OperationalError("database or disk is full")

    stored = [save(app, image_bytes("PNG")), save(app, image_bytes("GIF"))]
    monkeypatch.setattr(mediacopies, "forget", full)
    with app.test_request_context():
        media.discard([photo.name for photo in stored])
    assert stored_files(app) == []
    assert [record.getMessage() for record in caplog.records if record.levelname == "WARNING"] == [
        "could not remove the database copies of 2 discarded photo(s): database or disk is full"
    ]


def test_a_view_marked_as_accepting_uploads_gets_the_larger_limit_only_when_its_predicate_says_so(make_app):
    """@accepts_uploads(when=...) raises the body limit of a multipart request to its view while when() is true."""
    app = make_app(MAX_CONTENT_LENGTH=1024, WTF_CSRF_ENABLED=False)  # the probe view has no form to carry a token
    allowed = [False]

    @media.accepts_uploads(when=lambda: allowed[0])
    def upload_probe():
        return str(len(request.files["photo"].read()))

    app.add_url_rule("/upload-probe", view_func=upload_probe, methods=["POST"])
    body = {"photo": (io.BytesIO(b"\0" * 4096), "a.png")}
    client = app.test_client()
    assert client.post("/upload-probe", **multipart(body)).status_code == 413
    allowed[0] = True
    body = {"photo": (io.BytesIO(b"\0" * 4096), "a.png")}
    response = client.post("/upload-probe", **multipart(body))
    assert (response.status_code, response.text) == (200, "4096")


def test_the_size_refusal_names_the_limit_in_mib(make_app):
    """Over MEDIA_MAX_BYTES, the author is told the limit in whole MiB (10 MiB here)."""
    app = make_app(MEDIA_MAX_BYTES=10 * 1024 * 1024)
    with pytest.raises(MediaTooLarge) as refused:
        save(app, b"\0" * (10 * 1024 * 1024 + 1))
    assert str(refused.value) == "A photo can be at most 10 MB; this one is larger."
    # Rounded from MiB: a limit just past 2.5 MiB reads as 3 (2.4976 had it been divided by 1,025 once).
    app = make_app(MEDIA_MAX_BYTES=5 * 512 * 1024 + 1)
    with pytest.raises(MediaTooLarge) as refused:
        save(app, b"\0" * (5 * 512 * 1024 + 2))
    assert str(refused.value) == "A photo can be at most 3 MB; this one is larger."


def test_an_upload_stream_is_read_no_further_than_one_byte_past_the_limit(make_app):
    """A stream is read once, for MEDIA_MAX_BYTES + 1 bytes at most: an over-long upload is never held whole."""
    app = make_app(MEDIA_MAX_BYTES=4096)
    asked = []

    class Upload(io.BytesIO):
        def read(self, size=-1):
            asked.append(size)
            return super().read(size)

    with app.test_request_context(), pytest.raises(MediaTooLarge):
        media.save_upload(Upload(b"\0" * 100_000))
    assert asked == [4097]


def test_an_empty_file_is_refused_with_its_own_sentence(app):
    """An empty photo field is named as empty, not as an unknown type."""
    with pytest.raises(UnsupportedMedia) as refused:
        save(app, b"")
    assert str(refused.value) == "The photo file is empty."


def test_a_database_refusing_the_copy_is_told_in_one_sentence(app, monkeypatch):
    """When the database refuses a photo's copy, the file goes too and the author reads why."""
    import sqlite3

    from starpunk import mediacopies

    def full(conn, name, data):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(mediacopies, "keep", full)
    with pytest.raises(MediaStorageError) as refused:
        save(app, image_bytes("PNG"))
    assert str(refused.value) == "The photo could not be saved (the database refused it); nothing was kept."
    assert stored_files(app) == []


def test_a_stored_photo_is_logged_with_its_name_type_size_and_bytes(app, caplog):
    """Each stored photo leaves one log line: its name, content type, displayed size and stored bytes."""
    import logging

    caplog.set_level(logging.INFO)
    stored = save(app, image_bytes("GIF", size=(20, 10)))
    assert f"media {stored.name} stored (image/gif, 20x10, {stored.size_bytes} bytes)" in [
        record.getMessage() for record in caplog.records
    ]


def test_a_partial_upload_another_process_removed_first_is_passed_over(data_path, monkeypatch):
    """Two containers starting on one volume race to remove the same files: one already gone stops nothing."""
    folder = data_path / "media"
    folder.mkdir(parents=True, exist_ok=True)
    for digit in "0123":
        (folder / f"{media.TEMP_PREFIX}{digit * 16}").write_bytes(b"half of a photo")
    later = os.stat(folder).st_mtime + media.ABANDONED_AFTER_SECONDS + 1
    real_stat = type(folder).stat
    looked_at = []

    def stat(path, *args, **kwargs):
        if path.name.startswith(media.TEMP_PREFIX):
            looked_at.append(path.name)
        if looked_at == [path.name]:  # another process removes the first file listed before this look
            path.unlink()
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(type(folder), "stat", stat)
    assert media.remove_abandoned_uploads(data_path, now=later) == 3
    monkeypatch.undo()
    assert list(folder.iterdir()) == []
