"""Fill a StarPunk database with N notes in seconds, straight into its schema: ten years of an author's archive.

    python -m testkit.seed --migrate --count 100000 ./data      # from the checkout
    python3 /seed/seed.py --migrate --count 100000 /data        # inside the image (PYTHONPATH=/app)

The schema is the app's own: `--migrate` applies starpunk.db's migrations (the
package must be importable: the checkout, or the image with PYTHONPATH=/app)
before any note is written, so the notes land in exactly the tables a site of
this revision reads, in one transaction of bulk inserts. What lands: notes of
realistic lengths (mostly a line or two, some several paragraphs of Markdown
with headings, lists, links, emphasis and code), dated over ten years up to now
in id order (a month in the middle holds more than a page of them at any size:
the benchmark's month page is the same page at 100 notes as at 100,000), 2%
drafts and 0.5% deleted; tags from a vocabulary (a few common, many rare); 4%
of notes with one or two photos, rows pointing at a few real PNG files written
to DATA/media. The content generation is bumped once, as any write bumps it.
Every full-text table (FTS5) the migrations made is left filled: an
external-content one is rebuilt from its table, any other must have been filled
by its triggers (else the seeder stops and says so).

With --hold-back K the notes go into the schema as it was before the newest
K migrations, which the app's migrate() then applies to the full archive,
timed: what an upgrade costs a site of that size.

The last line printed is JSON: the counts and the facts a benchmark needs to
address pages of this archive (a common tag, a month with notes, a deep note
and its page, a search word). Generation is seeded: the same N gives the same
archive. This module runs inside the image too: the standard library only.
"""

import argparse
import importlib
import json
import math
import os
import random
import sqlite3
import struct
import sys
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DB_FILENAME = "starpunk.db"
MEDIA_FOLDER = "media"
PAGE_SIZE = 20  # notes on a page of the index and of a tag (starpunk/paging.py)
YEARS = 10
# The benchmark's month (the facts' `month`) holds more than a page of notes at any size, so its page is the same
# page at 100 notes as at 100,000: while notes are further apart than BURST_GAP_S, MONTH_BURST of them in the
# middle of the archive are written an hour apart (still in id order) within one month.
MONTH_BURST = PAGE_SIZE + 5
BURST_STEP_S = 3600
BURST_GAP_S = 3 * 3600
# Every DRAFT_EVERY-th note a draft, every DELETED_EVERY-th deleted, every PHOTO_EVERY-th with photos: by position, not
# chance, so that even a hundred notes hold some of each (the offsets keep them apart).
DRAFT_EVERY, DRAFT_AT = 50, 17
DELETED_EVERY, DELETED_AT = 200, 42
PHOTO_EVERY, PHOTO_AT = 25, 3
# The photo files every photo row points at: (width, height, colour). Small, real PNGs.
IMAGES = ((64, 48, (40, 90, 160)), (48, 64, (200, 120, 40)), (80, 45, (30, 140, 80)))
# Tags: the first few are common (Zipf-like weights), the rest rare; 0-3 a note.
TAGS = (
    "indieweb photos travel cooking books music running garden cycling family work python sqlite "
    "films weather coffee hiking climbing city trains podcasts writing linux tea birds sea"
).split()
WORDS = (
    "the a of and to in is it that on was for with as at by this from but not or have are be one all "
    "we there when your can said each which she do how their if will up other about out many then them "
    "these so some her would make like him into time has look two more write go see number no way could "
    "people my than first water been call who oil its now find long down day did get come made may part "
    "morning evening harbour river bridge station market library kitchen window garden street "
    "mountain valley forest meadow island village bakery museum theatre concert chapter novel poem recipe "
    "bread soup coffee teapot bicycle train ticket journey letter notebook pencil camera photo sunset rain "
    "snow wind storm cloud autumn spring summer winter walked cooked read wrote listened watched planted "
    "fixed built tried learned found lost noticed remembered quiet bright slow early late warm cold small "
    "large green blue golden grey old new favourite strange simple careful patient"
).split()
# The word the benchmark searches for: in one sentence of five, about a quarter of the notes, a common word, so that its
# first page of results is as full at 100 notes as at 100,000 (the same page at both sizes, as the top tag's is).
SEARCH_WORD = "lighthouse"
SEARCH_SHARE = 0.2


class SeedError(RuntimeError):
    """The database cannot be seeded as asked; the message says why."""


@dataclass
class SeedFacts:
    """What was seeded, and addresses of this archive worth measuring (the JSON the command prints last)."""

    notes: int
    published: int
    drafts: int
    deleted: int
    photos: int
    tag_rows: int
    first_published: str
    last_published: str
    years: list[int]
    top_tag: str
    top_tag_notes: int
    month: str  # YYYY/MM of a month in the middle of the archive that has published notes
    month_notes: int
    year: str
    deep_note_id: int  # a published note nine tenths of the way back
    deep_note_published: str
    deep_note_slug: str
    deep_page: int  # the page of the index (?page=N, PAGE_SIZE a page) that lists it
    older_note_slug: str  # the published note just before it: the first one a page of notes before it lists
    pages: int
    search_word: str
    search_notes: int
    fts_tables: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # The newest migrations, held back (--hold-back) and applied by the app's migrate() once the notes were in.
    late_migrations: list[str] = field(default_factory=list)
    late_migrations_s: float | None = None


# The sample images every suite uses (testkit/samples.py offers them): here, because this module
# must run on the standard library alone, inside the image, and writes PNG files of its own.


def _png(width: int, height: int, rows: bytes, level: int) -> bytes:
    """Return a PNG of 8-bit RGB rows (each a filter byte 0, then its pixels), deflated at level, no other chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(rows, level))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


def png(width: int, height: int, rgb: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    """Return a real PNG image of one colour, made without any imaging library."""
    return _png(width, height, (b"\x00" + bytes(rgb) * width) * height, 9)


def noisy_png(size_bytes: int, seed: int | str = 0) -> bytes:
    """Return a valid PNG of random pixels, at least size_bytes long (noise does not compress), the same per seed."""
    rng = random.Random(seed)
    side = max(2, math.isqrt(size_bytes // 3) + 1)
    return _png(side, side, b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side)), 1)


def isoformat(moment: datetime) -> str:
    """Return a UTC datetime in the one text form the database stores (starpunk.db.isoformat)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def migrate(data_path: Path, hold_back: int = 0) -> list[str]:
    """Create or update the database with the app's own migrations (starpunk.db.migrate); return those applied.

    hold_back leaves the newest migrations out: the app's migrate() is shown only the older ones.
    """
    try:
        db: Any = importlib.import_module("starpunk.db")  # the app is untyped
    except ImportError as exc:
        raise SeedError(f"--migrate needs the starpunk package importable (run from the checkout): {exc}") from exc
    every = db.available_migrations
    if hold_back:
        older = every()[:-hold_back]
        db.available_migrations = lambda: older
    try:
        applied: list[str] = db.migrate(str(data_path))
    finally:
        db.available_migrations = every
    return applied


def write_images(media: Path, rng: random.Random) -> list[tuple[str, int, int, int]]:
    """Write the photo files (names as the app gives them: 128 random bits in hex); return (name, w, h, bytes)."""
    media.mkdir(parents=True, exist_ok=True)
    written = []
    for width, height, rgb in IMAGES:
        data = png(width, height, rgb)
        name = f"{rng.getrandbits(128):032x}.png"
        (media / name).write_bytes(data)
        written.append((name, width, height, len(data)))
    return written


class Writer:
    """Makes the rows of one archive; the same rng seed makes the same notes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        weights = [1 / rank for rank in range(1, len(TAGS) + 1)]
        self.tag_weights = weights

    def words(self, count: int) -> str:
        """Return count words of running text."""
        return " ".join(self.rng.choices(WORDS, k=count))

    def sentence(self) -> str:
        """Return one sentence, now and then with a link, emphasis or code."""
        text = self.words(self.rng.randint(6, 18))
        if self.rng.random() < SEARCH_SHARE:
            text += f" {SEARCH_WORD}"
        roll = self.rng.random()
        if roll < 0.08:
            text += f" ([more](https://example.org/{self.rng.randint(1, 9999)}))"
        elif roll < 0.16:
            text += f" *{self.words(2)}*"
        elif roll < 0.19:
            text += f" `{self.rng.choice(WORDS)}()`"
        return text[0].upper() + text[1:] + "."

    def content(self) -> str:
        """Return a note's Markdown: mostly a line or two, a tenth of them long with a heading and a list."""
        if self.rng.random() < 0.9:
            return " ".join(self.sentence() for _ in range(self.rng.randint(1, 3)))
        parts = [f"## {self.words(3).capitalize()}"]
        for _ in range(self.rng.randint(2, 5)):
            parts.append(" ".join(self.sentence() for _ in range(self.rng.randint(2, 5))))
        parts.insert(2, "\n".join(f"- {self.words(self.rng.randint(2, 6))}" for _ in range(self.rng.randint(2, 4))))
        return "\n\n".join(parts)

    def tags(self) -> list[str]:
        """Return 0-3 distinct tags, common ones more often."""
        count = self.rng.choices((0, 1, 2, 3), weights=(30, 40, 20, 10))[0]
        chosen: list[str] = []
        while len(chosen) < count:
            tag = self.rng.choices(TAGS, weights=self.tag_weights)[0]
            if tag not in chosen:
                chosen.append(tag)
        return chosen


def _fts_tables(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Return (name, CREATE statement) of every FTS5 table in the database."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND lower(sql) LIKE '%using fts5%' ORDER BY name"
    )
    return [(str(name), str(sql)) for name, sql in rows]


def _fill_fts(conn: sqlite3.Connection, notes: int) -> list[str]:
    """Leave every FTS5 table filled: rebuild external-content ones, check the others were filled by triggers."""
    names = []
    for name, sql in _fts_tables(conn):
        options = sql.lower().replace(" ", "")
        quoted = '"' + name.replace('"', '""') + '"'
        if "content=" in options and "content=''" not in options and 'content=""' not in options:
            conn.execute(f"INSERT INTO {quoted}({quoted}) VALUES ('rebuild')")
        elif notes and not conn.execute(f"SELECT 1 FROM {quoted} LIMIT 1").fetchone():
            raise SeedError(
                f"full-text table {name} has no external content to rebuild from and no trigger filled it: "
                "teach testkit/seed.py how the app fills it"
            )
        names.append(name)
    return names


def slug_of(content: str, note_id: int) -> str:
    """Return a slug as the app would make one from the first words, made unique by the note's id."""
    words = "".join(char if char.isalnum() else " " for char in content.lower()).split()[:4]
    return "-".join([*words, str(note_id)])


@dataclass
class Tally:
    """What the published, undeleted notes are, as they are made: the facts are read from it."""

    public: list[tuple[int, str, str]] = field(default_factory=list)  # (id, published_at, slug), oldest first
    tags: Counter[str] = field(default_factory=Counter)
    months: Counter[str] = field(default_factory=Counter)
    search_notes: int = 0
    burst_month: str = ""  # YYYY-MM of the month burst (_month_burst), when there is one
    drafts: int = 0
    deleted: int = 0

    def facts(self, count: int, photos: int, tag_rows: int, fts: list[str], seconds: float) -> SeedFacts:
        """Return the facts of the archive."""
        if not self.public:
            raise SeedError("no published note was seeded: give a larger --count")
        newest_first = self.public[::-1]
        deep_index = min(len(newest_first) - 1, len(newest_first) * 9 // 10)
        deep_id, deep_published, deep_slug = newest_first[deep_index]
        older_slug = newest_first[min(deep_index + 1, len(newest_first) - 1)][2]
        month = self.burst_month or self.public[len(self.public) // 2][1][:7]
        top_tag, top_count = self.tags.most_common(1)[0] if self.tags else ("", 0)
        return SeedFacts(
            notes=count,
            published=len(self.public),
            drafts=self.drafts,
            deleted=self.deleted,
            photos=photos,
            tag_rows=tag_rows,
            first_published=self.public[0][1],
            last_published=self.public[-1][1],
            years=sorted({int(stamp[:4]) for _, stamp, _ in self.public}),
            top_tag=top_tag,
            top_tag_notes=top_count,
            month=month.replace("-", "/"),
            month_notes=self.months[month],
            year=month[:4],
            deep_note_id=deep_id,
            deep_note_published=deep_published,
            deep_note_slug=deep_slug,
            deep_page=deep_index // PAGE_SIZE + 1,
            older_note_slug=older_slug,
            pages=-(-len(self.public) // PAGE_SIZE),
            search_word=SEARCH_WORD,
            search_notes=self.search_notes,
            fts_tables=fts,
            seconds=round(seconds, 2),
        )


@dataclass(frozen=True)
class Burst:
    """Notes start .. start + MONTH_BURST - 1, written BURST_STEP_S apart from first on (empty when not needed)."""

    start: int
    first: datetime
    size: int

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and self.start <= number < self.start + self.size


def _month_burst(start: datetime, span_s: float, count: int) -> Burst:
    """Return the burst of notes that fills the middle month: none when notes are BURST_GAP_S apart or closer.

    It begins where the middle note's slot begins, or at the next month's first moment when the burst would
    not end within that month; either way before the slot of the note after it (the gap is over 45 hours).
    """
    middle = count // 2
    gap = span_s / count
    if gap <= BURST_GAP_S or middle + MONTH_BURST > count:
        return Burst(middle, start, 0)
    first = start + timedelta(seconds=gap * middle)
    last = first + timedelta(seconds=BURST_STEP_S * MONTH_BURST)
    if (last.year, last.month) != (first.year, first.month):
        first = datetime(last.year, last.month, 1, tzinfo=timezone.utc)
    return Burst(middle, first, MONTH_BURST)


def seed(data_path: Path, count: int, seed_value: int = 28, now: datetime | None = None) -> SeedFacts:
    """Add count notes to the migrated database in data_path (and their photo files to its media folder)."""
    started = time.monotonic()
    if count < 1:
        raise SeedError(f"--count must be at least 1, not {count}")
    database = data_path / DB_FILENAME
    if not database.is_file():
        raise SeedError(f"no database at {database}: create it with the app's migrations first (--migrate)")
    rng = random.Random(seed_value)
    writer = Writer(rng)
    images = write_images(data_path / MEDIA_FOLDER, rng)
    end = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    start = end - timedelta(days=365.25 * YEARS)
    span_s = (end - start).total_seconds()
    tally = Tally()
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN IMMEDIATE")
        first_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM notes").fetchone()[0]) + 1
        notes: list[tuple[int, str, str, int, str, str, str | None, str | None]] = []
        tag_rows: list[tuple[int, int, str]] = []
        photo_rows: list[tuple[int, int, str, str, int, int, str, int]] = []
        burst = _month_burst(start, span_s, count)
        tally.burst_month = isoformat(burst.first)[:7] if burst.size else ""
        for number in range(count):
            note_id = first_id + number
            # Evenly spread, jittered within its slot: ids and dates rise together, as they do on a real site.
            jitter = rng.random()
            if number in burst:
                stamp = isoformat(burst.first + timedelta(seconds=BURST_STEP_S * (number - burst.start + jitter)))
            else:
                stamp = isoformat(start + timedelta(seconds=span_s * (number + jitter) / count))
            content = writer.content()
            slug = slug_of(content, note_id)
            published = number % DRAFT_EVERY != DRAFT_AT
            # Deleted the moment it was written: the dates stay in order.
            deleted_at = stamp if number % DELETED_EVERY == DELETED_AT else None
            notes.append(
                (note_id, slug, content, int(published), stamp, stamp, stamp if published else None, deleted_at)
            )
            tags = writer.tags()
            tag_rows += [(note_id, position, tag) for position, tag in enumerate(tags, start=1)]
            if number % PHOTO_EVERY == PHOTO_AT:
                for position in range(1, rng.randint(1, 2) + 1):
                    name, width, height, size = rng.choice(images)
                    alt = f"A {rng.choice(('blue', 'orange', 'green'))} square, photo {position}"
                    photo_rows.append((note_id, position, name, alt, width, height, "image/png", size))
            if not published:
                tally.drafts += 1
            elif deleted_at:
                tally.deleted += 1
            else:
                tally.public.append((note_id, stamp, slug))
                tally.tags.update(tags)
                tally.months[stamp[:7]] += 1
                tally.search_notes += SEARCH_WORD in "".join(c if c.isalnum() else " " for c in content).split()
        conn.executemany(
            "INSERT INTO notes (id, slug, content, published, created_at, updated_at, published_at, deleted_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            notes,
        )
        conn.executemany("INSERT INTO note_tags (note_id, position, tag) VALUES (?, ?, ?)", tag_rows)
        conn.executemany(
            "INSERT INTO note_photos (note_id, position, file_name, alt, width, height, content_type, size_bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            photo_rows,
        )
        fts = _fill_fts(conn, count)
        # One write, as far as every worker's caches can tell: the generation moves on once.
        conn.execute("UPDATE site_state SET value = CAST(value AS INTEGER) + 1 WHERE key = 'content_generation'")
        conn.execute(
            "UPDATE site_state SET value = ? WHERE key = 'content_changed_at'", (isoformat(datetime.now(timezone.utc)),)
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return tally.facts(count, len(photo_rows), len(tag_rows), fts, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    """Seed the database in DATA (migrating it first with --migrate); print the facts as JSON last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data", type=Path, help="the site's DATA_PATH (the folder holding starpunk.db)")
    parser.add_argument("--count", type=int, default=1000, help="notes to add")
    parser.add_argument("--seed", type=int, default=28, help="the random seed: the same seed, the same archive")
    parser.add_argument("--migrate", action="store_true", help="create the schema with the app's migrations first")
    parser.add_argument(
        "--hold-back",
        type=int,
        default=0,
        metavar="K",
        help="with --migrate: seed on the schema without the newest K migrations, then apply them and time it",
    )
    args = parser.parse_args(argv)
    try:
        if args.migrate:
            applied = migrate(args.data, args.hold_back)
            print(f"seed: applied {len(applied)} migration(s)", file=sys.stderr)
        facts = seed(args.data, args.count, args.seed)
        if args.migrate and args.hold_back:
            started = time.monotonic()
            facts.late_migrations = migrate(args.data)
            facts.late_migrations_s = round(time.monotonic() - started, 3)
            print(
                f"seed: then applied {', '.join(facts.late_migrations)} in {facts.late_migrations_s} s", file=sys.stderr
            )
    except (SeedError, sqlite3.Error) as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 1
    size = sum(os.path.getsize(path) for path in args.data.glob(DB_FILENAME + "*"))
    print(f"seed: {facts.notes} notes in {facts.seconds:.1f} s, database {size / 1e6:.1f} MB", file=sys.stderr)
    print(json.dumps(asdict(facts)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
