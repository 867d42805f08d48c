"""Photos of notes (the note_photos table): a file this site stored, or a link to an image elsewhere.

Build them with ``Photo.stored(media, alt)`` from a ``media.save_upload``
result, or ``Photo.from_url(url, alt)``: this site's own ``/media/<name>``
address becomes the stored file (as Micropub clients send back what the media
endpoint returned); any other http(s) URL is kept as a link and never fetched.
Pass them to ``store.create_note`` / ``store.update_note`` as ``photos=``.
"""

from typing import NamedTuple
from urllib.parse import urlsplit

from . import media

MAX_URL_CHARS = 2000
MAX_ALT_CHARS = 1500
COLUMNS = "note_id, position, file_name, url, alt, width, height, content_type, size_bytes"


class Photo(NamedTuple):
    """One photo of a note; exactly one of file_name and url is set."""

    alt: str = ""
    file_name: str | None = None
    url: str | None = None
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    size_bytes: int | None = None

    @classmethod
    def stored(cls, stored, alt=""):
        """Return the photo of a file stored by media.save_upload (a StoredMedia)."""
        return cls(
            alt=alt,
            file_name=stored.name,
            width=stored.width,
            height=stored.height,
            content_type=stored.content_type,
            size_bytes=stored.size_bytes,
        )

    @classmethod
    def from_url(cls, url, alt=""):
        """Return the photo at url: this site's stored file, or a link elsewhere; ValueError if unusable."""
        url = (url or "").strip()
        name = media.name_from_url(url)
        if name is not None:
            found = media.stored_media(name)
            if found is None:
                raise ValueError("That photo address is on this site, but no photo is stored there.")
            return cls.stored(found, alt)
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc or len(url) > MAX_URL_CHARS:
            raise ValueError(f"A photo's address must be an http(s) URL of at most {MAX_URL_CHARS} characters.")
        if any(ord(char) < 33 or ord(char) == 127 for char in url):
            raise ValueError("A photo's address cannot contain spaces or control characters.")
        return cls(alt=alt, url=url)

    @property
    def src(self):
        """Return the address the photo is shown from."""
        return media.media_url(self.file_name) if self.file_name else self.url

    def with_alt(self, alt):
        """Return the same photo with other alt text."""
        return self._replace(alt=alt)


def clean_alt(alt):
    """Return alt text with whitespace tidied; ValueError if too long."""
    alt = " ".join((alt or "").split())
    if len(alt) > MAX_ALT_CHARS:
        raise ValueError(f"A photo's description can have at most {MAX_ALT_CHARS:,} characters.")
    return alt


def replace_photos(db, note_id, photos):
    """Make photos (in order) the note's only photos; call inside the note's write transaction."""
    db.execute("DELETE FROM note_photos WHERE note_id = ?", (note_id,))
    db.executemany(
        f"INSERT INTO note_photos ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (note_id, position, p.file_name, p.url, p.alt, p.width, p.height, p.content_type, p.size_bytes)
            for position, p in enumerate(photos, start=1)
        ],
    )


def photos_of(db, note_ids):
    """Return {note id: [Photo, ...] in order} for these notes."""
    # Shaped like tags.tags_of on purpose: each table's reader stays beside the table (docs/architecture.md).
    found = {note_id: [] for note_id in note_ids}
    if not found:
        return found
    marks = ",".join("?" * len(found))
    rows = db.execute(
        f"SELECT {COLUMNS} FROM note_photos WHERE note_id IN ({marks}) ORDER BY note_id, position", list(found)
    )
    for row in rows:
        found[row["note_id"]].append(
            Photo(
                alt=row["alt"],
                file_name=row["file_name"],
                url=row["url"],
                width=row["width"],
                height=row["height"],
                content_type=row["content_type"],
                size_bytes=row["size_bytes"],
            )
        )
    return found
