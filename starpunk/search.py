"""Full-text search (SQLite FTS5, the note_search table of migration 0008): /search for readers, and the owner's.

A query is text, never FTS5 syntax: each word is quoted as a phrase, and a note
must hold them all. Results are ranked (bm25), with a snippet of the note's
text around the words, escaped like everything else and marked up here, not
by SQLite. A search is bounded three ways: its length (MAX_QUERY_CHARS), the
work SQLite may do for it (MAX_SEARCH_STEPS, counted by a progress handler)
and how often one client may search (SEARCHES_PER_MINUTE, throttle.py).
"""

import re
import sqlite3
from contextlib import contextmanager

from flask import Blueprint, abort, render_template, request, url_for
from markupsafe import Markup, escape

from . import throttle
from .db import get_db
from .store import NOTE_COLUMNS, PUBLIC, with_attachments

bp = Blueprint("search", __name__)

# Results change with every note and are nobody's page: kept by no cache, indexed by no crawler.
RESULT_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}

MAX_QUERY_CHARS = 200
RESULTS_PAGE_SIZE = 20
# Readers page through the best RESULTS_PAGE_SIZE * MAX_RESULT_PAGES results at most.
MAX_RESULT_PAGES = 5
# A search ranks (bm25) at most the newest this many notes it matches: ranking costs each match's score, and a
# word most notes hold would cost the whole archive's.
MAX_RANKED_MATCHES = 2000
# SQLite virtual-machine steps a search may take (about a tenth of a second's work on one core), and how
# often the progress handler counts them.
MAX_SEARCH_STEPS = 20_000_000
PROGRESS_INTERVAL = 10_000
SEARCHES_PER_MINUTE = 30
# Snippets come back from SQLite with these around each match (private-use characters), then escaped here.
MATCH_START, MATCH_END = "\ue000", "\ue001"
CONTROL = re.compile("[\x00-\x1f\x7f]")
MARKERS = re.compile(f"([{MATCH_START}{MATCH_END}])")
SNIPPET_WORDS = 24


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


def find(text, limit, offset=0, readers=True, drafts_only=False):
    """Return [(note, snippet markup)] for the notes holding every word of text, best first.

    readers: published, undeleted notes only; else the owner's undeleted
    notes, drafts too (only drafts with drafts_only). Only the newest
    MAX_RANKED_MATCHES matches are ranked: the cost is theirs, not the archive's.
    """
    expression = match_expression(text)
    if expression is None:
        return []
    where = PUBLIC if readers else "deleted_at IS NULL" + (" AND published = 0" if drafts_only else "")
    columns = ", ".join(f"notes.{name}" for name in NOTE_COLUMNS.split(", "))
    db = get_db()
    with bounded(db):
        # Matches leave the index in rowid order unscored: the MAX_RANKED_MATCHES-th newest bounds what is ranked.
        oldest = db.execute(
            "SELECT rowid FROM note_search WHERE note_search MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
            (expression, MAX_RANKED_MATCHES - 1),
        ).fetchone()
        rows = db.execute(
            f"SELECT {columns}, snippet(note_search, 0, ?, ?, '…', ?) AS snippet"
            " FROM note_search JOIN notes ON notes.id = note_search.rowid"
            f" WHERE note_search MATCH ? AND note_search.rowid >= ? AND {where} ORDER BY rank LIMIT ? OFFSET ?",
            (MATCH_START, MATCH_END, SNIPPET_WORDS, expression, oldest[0] if oldest else 0, limit, offset),
        ).fetchall()
    notes = with_attachments(db, [{key: row[key] for key in row.keys() if key != "snippet"} for row in rows])
    return [(note, highlighted(row["snippet"])) for note, row in zip(notes, rows, strict=True)]


def search_text():
    """Return the query typed (?q=), stripped; 400 when it is longer than MAX_QUERY_CHARS."""
    text = request.args.get("q", "")
    if len(text) > MAX_QUERY_CHARS:
        abort(400, f"A search can be at most {MAX_QUERY_CHARS} characters long; this one has {len(text)}.")
    return text.strip()


def _result_page():
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or raw.startswith("0") or len(raw) > len(str(MAX_RESULT_PAGES)):
        abort(404, "No such page of results.")
    if int(raw) > MAX_RESULT_PAGES:
        abort(404, "No such page of results.")
    return int(raw)


@bp.get("/search")
def search():
    """Show the published notes holding every word of ?q=, best first, RESULTS_PAGE_SIZE a page."""
    text, page = search_text(), _result_page()
    if not text:
        return render_template("search.html", query="", results=[], page=1, searched=False), RESULT_HEADERS
    limited = throttle.refused_for_rate("search", SEARCHES_PER_MINUTE, "Too many searches came from your address.")
    if limited is not None:
        return limited
    try:
        found = find(text, RESULTS_PAGE_SIZE + 1, (page - 1) * RESULTS_PAGE_SIZE)
    except SearchTooCostly:
        message = "This search matched too much to rank in time. Add a word or two and try again."
        page_html = render_template("search.html", query=text, results=[], page=page, searched=True, error=message)
        return page_html, 503, RESULT_HEADERS
    if page > 1 and not found:
        abort(404, "No such page of results.")
    more = len(found) > RESULTS_PAGE_SIZE and page < MAX_RESULT_PAGES
    return render_template(
        "search.html",
        query=text,
        results=found[:RESULTS_PAGE_SIZE],
        page=page,
        searched=True,
        prev_url=url_for("search.search", q=text, page=page - 1) if page > 1 else None,
        next_url=url_for("search.search", q=text, page=page + 1) if more else None,
    ), RESULT_HEADERS
