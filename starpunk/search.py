"""Full-text search (SQLite FTS5, the note_search table of migration 0008): /search for readers, and the owner's.

A query is text, never FTS5 syntax: each word is quoted as a phrase, and a note
must hold them all. Matches are ranked in windows: the newest RANKED_WINDOW
matches (older than ?before=, a note id, when given) are scored and shown best
first, a page at a time, and the last page of a window links to the next,
older one, so every match is reachable and every page costs the same however
many notes match. The score is BM25's term-frequency and length parts,
computed here from FTS5's highlight(): SQLite's own bm25() counts each word's
matches across the whole archive (its IDF), a cost that grows with the archive,
and within a window every match holds every word anyway. The snippet is cut
from the same highlighted text, escaped like everything else and marked up
here, not by SQLite. A search is bounded three ways: its length
(MAX_QUERY_CHARS), the work SQLite may do for it (MAX_SEARCH_STEPS, counted by
a progress handler) and how often one client may search (SEARCHES_PER_MINUTE,
throttle.py).
"""

import re
import sqlite3
from contextlib import contextmanager
from typing import NamedTuple

from flask import Blueprint, abort, render_template, request, url_for
from markupsafe import Markup, escape

from . import store, throttle
from .db import get_db
from .paging import MAX_ID_DIGITS
from .store import PUBLIC

bp = Blueprint("search", __name__)

# Results change with every note and are nobody's page: kept by no cache, indexed by no crawler.
RESULT_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}

MAX_QUERY_CHARS = 200
RESULTS_PAGE_SIZE = 20
# Matches ranked together: a page costs highlighting and scoring this many (about 5 µs each), whatever the archive
# holds. 50 keeps page 1 of a common word's search at 100,000 notes within 1.1 × its cost at 100 (100: 1.26 ×;
# docs/changes/unreleased.md, issue 28). Readers and the owner page through a window RESULTS_PAGE_SIZE at a time.
RANKED_WINDOW = 50
# BM25's constants, FTS5's own (k1 = 1.2, b = 0.75).
BM25_K1, BM25_B = 1.2, 0.75
# SQLite virtual-machine steps a search may take (about a tenth of a second's work on one core), and how
# often the progress handler counts them.
MAX_SEARCH_STEPS = 20_000_000
PROGRESS_INTERVAL = 10_000
SEARCHES_PER_MINUTE = 30
# Highlighted text comes back from SQLite with these around each match (private-use characters), escaped here.
MATCH_START, MATCH_END = "\ue000", "\ue001"
CONTROL = re.compile("[\x00-\x1f\x7f]")
MARKERS = re.compile(f"([{MATCH_START}{MATCH_END}])")
SNIPPET_WORDS = 24
# Words of a snippet before its first match.
SNIPPET_LEAD = 4
# ?before= when none is given: above every note id.
NO_BOUND = 1 << 62


class SearchTooCostly(Exception):
    """A search would take SQLite more than MAX_SEARCH_STEPS: refused, not answered late."""


def fts5_available():
    """Return True when this Python's SQLite has FTS5 (checked at start-up: search needs it)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return True


def match_expression(text):
    """Return the FTS5 query matching notes holding every word of text, each quoted: None when there is none."""
    words = CONTROL.sub(" ", text).split()  # SQLite reads a NUL as the end of the query
    if not words:
        return None
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def highlighted(snippet):
    """Return a snippet as safe markup: its text escaped, each match in <mark> (a stray marker is dropped)."""
    parts, inside = [], False
    for piece in MARKERS.split(snippet):
        if piece == MATCH_START and not inside:
            parts.append(Markup("<mark>"))
            inside = True
        elif piece == MATCH_END and inside:
            parts.append(Markup("</mark>"))
            inside = False
        elif piece not in (MATCH_START, MATCH_END):
            parts.append(escape(piece))
    if inside:
        parts.append(Markup("</mark>"))
    return Markup("").join(parts)


@contextmanager
def bounded(conn):
    """Let SQLite run at most MAX_SEARCH_STEPS steps on conn within the block, else raise SearchTooCostly."""
    calls = 0
    most = max(1, MAX_SEARCH_STEPS // PROGRESS_INTERVAL)

    def past_budget():
        nonlocal calls
        calls += 1
        return calls > most

    conn.set_progress_handler(past_budget, PROGRESS_INTERVAL)
    try:
        yield conn
    except sqlite3.OperationalError as exc:
        if calls > most:
            raise SearchTooCostly() from exc
        raise
    finally:
        conn.set_progress_handler(None, 0)


class Found(NamedTuple):
    """One page of a search: (note, snippet markup) best first; whether the window has another page; the window after.

    older is the ?before= of the next, older window: None when no match is older than this window.
    """

    results: list
    more: bool
    older: int | None


def _score(row, average_length):
    """Return BM25's term-frequency and length parts for one match (its text highlighted by FTS5).

    Length is counted in characters, not words: the score needs it only against the window's average.
    """
    hits = row["content"].count(MATCH_START) + row["tags"].count(MATCH_START)
    length = len(row["content"]) + len(row["tags"])
    return hits * (BM25_K1 + 1) / (hits + BM25_K1 * (1 - BM25_B + BM25_B * length / average_length))


def snippet_of(content):
    """Return about SNIPPET_WORDS words of highlighted text from just before its first match, '…' where cut."""
    words = content.split()
    first = next((at for at, word in enumerate(words) if MATCH_START in word), 0)
    start = max(0, min(first - SNIPPET_LEAD, len(words) - SNIPPET_WORDS))
    end = start + SNIPPET_WORDS
    return ("…" if start else "") + " ".join(words[start:end]) + ("…" if end < len(words) else "")


def find(text, page=1, before=None, readers=True, drafts_only=False):
    """Return the Found page of the RANKED_WINDOW newest notes holding every word of text (older than before).

    readers: published, undeleted notes only; else the owner's undeleted
    notes, drafts too (only drafts with drafts_only). The window's matches
    are scored and sorted here (ties: the newer first); only the page's notes
    are loaded.
    """
    expression = match_expression(text)
    if expression is None:
        return Found([], False, None)
    where = PUBLIC if readers else "deleted_at IS NULL" + (" AND published = 0" if drafts_only else "")
    db = get_db()
    with bounded(db):
        # FTS5 hands matches over in rowid order without scoring them: the newest RANKED_WINDOW + 1 cost their
        # number, and the extra one says whether an older window exists.
        rows = db.execute(
            "SELECT note_search.rowid AS id, highlight(note_search, 0, ?, ?) AS content,"
            " highlight(note_search, 1, ?, ?) AS tags"
            " FROM note_search JOIN notes ON notes.id = note_search.rowid"
            f" WHERE note_search MATCH ? AND note_search.rowid < ? AND {where}"
            " ORDER BY note_search.rowid DESC LIMIT ?",
            (MATCH_START, MATCH_END, MATCH_START, MATCH_END, expression, before or NO_BOUND, RANKED_WINDOW + 1),
        ).fetchall()
    window = rows[:RANKED_WINDOW]
    average = max(1.0, sum(len(row["content"]) + len(row["tags"]) for row in window) / max(1, len(window)))
    ranked = sorted(window, key=lambda row: (-_score(row, average), -row["id"]))
    chosen = ranked[(page - 1) * RESULTS_PAGE_SIZE : page * RESULTS_PAGE_SIZE]
    snippets = {row["id"]: highlighted(snippet_of(row["content"])) for row in chosen}
    results = [(note, snippets[note["id"]]) for note in store.notes_by_id(db, [row["id"] for row in chosen])]
    older = window[-1]["id"] if len(rows) > RANKED_WINDOW else None
    return Found(results, len(ranked) > page * RESULTS_PAGE_SIZE, older)


def search_text():
    """Return the query typed (?q=), stripped; 400 when it is longer than MAX_QUERY_CHARS."""
    text = request.args.get("q", "")
    if len(text) > MAX_QUERY_CHARS:
        abort(400, f"A search can be at most {MAX_QUERY_CHARS} characters long; this one has {len(text)}.")
    return text.strip()


def page_arg():
    """Return ?page= (1 when absent), a page of a window, RESULTS_PAGE_SIZE a page; 404 for anything else."""
    raw, last = request.args.get("page", "1"), -(-RANKED_WINDOW // RESULTS_PAGE_SIZE)
    if not (raw.isascii() and raw.isdigit()) or raw.startswith("0") or len(raw) > len(str(last)) or int(raw) > last:
        abort(404, "No such page of results.")
    return int(raw)


def before_arg():
    """Return ?before= (a note id: the window holds older matches only), None when absent; 404 for anything else."""
    raw = request.args.get("before")
    if raw is None:
        return None
    # isascii: "²" passes isdigit() but int() refuses it.
    if not (raw.isascii() and raw.isdigit()) or raw.startswith("0") or len(raw) > MAX_ID_DIGITS:
        abort(404, "No such page of results.")
    return int(raw)


def page_links(endpoint, found, page, before, **kept):
    """Return the addresses around a page of results: prev and next in its window, the older window, the newest."""
    here = {**kept, **({"before": before} if before is not None else {})}
    return {
        "prev_url": url_for(endpoint, **here, page=page - 1) if page > 1 else None,
        "next_url": url_for(endpoint, **here, page=page + 1) if found.more else None,
        "older_url": url_for(endpoint, **kept, before=found.older) if found.older is not None else None,
        "newest_url": url_for(endpoint, **kept) if before is not None else None,
    }


@bp.get("/search")
def search():
    """Show the published notes holding every word of ?q=, best first, RESULTS_PAGE_SIZE a page, window by window."""
    text, page, before = search_text(), page_arg(), before_arg()
    if not text:
        return render_template("search.html", query="", results=[], page=1, searched=False), RESULT_HEADERS
    limited = throttle.refused_for_rate("search", SEARCHES_PER_MINUTE, "Too many searches came from your address.")
    if limited is not None:
        return limited
    try:
        found = find(text, page, before)
    except SearchTooCostly:
        message = "This search matched too much to rank in time. Add a word or two and try again."
        page_html = render_template("search.html", query=text, results=[], page=page, searched=True, error=message)
        return page_html, 503, RESULT_HEADERS
    if page > 1 and not found.results:
        abort(404, "No such page of results.")
    return render_template(
        "search.html",
        query=text,
        results=found.results,
        page=page,
        older=before is not None,
        searched=True,
        **page_links("search.search", found, page, before, q=text),
    ), RESULT_HEADERS
