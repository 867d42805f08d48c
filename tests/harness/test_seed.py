"""testkit.seed: an archive seeded straight into the app's schema is one the app reads as its own."""

import json
import re
import sqlite3
from datetime import datetime, timezone

import pytest

from starpunk import create_app, db
from testkit import seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
COUNT = 400


@pytest.fixture
def data(tmp_path):
    """Return a DATA_PATH whose database the app's own migrations made."""
    seed.migrate(tmp_path)
    return tmp_path


@pytest.fixture
def seeded(data):
    """Return (DATA_PATH, facts) of a seeded archive of COUNT notes."""
    return data, seed.seed(data, COUNT, now=NOW)


@pytest.fixture
def client(seeded):
    """Return an anonymous visitor's test client of an app on the seeded archive."""
    data, _ = seeded
    app = create_app(
        {
            "DATA_PATH": str(data),
            "SITE_URL": "http://localhost",
            "ADMIN_ME": "https://owner.example/",
            "SESSION_SECRET": "seed-test-secret-" + "s" * 32,
        }
    )
    yield app.test_client()
    db.release_held()


def rows(data, sql):
    """Return the rows of one query on the seeded database."""
    conn = sqlite3.connect(data / seed.DB_FILENAME)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_counts_add_up_and_the_database_is_sound(seeded) -> None:
    """Every note lands, with some drafts, some deleted, tags and photos, and SQLite finds the file sound."""
    data, facts = seeded
    assert rows(data, "SELECT count(*) FROM notes") == [(COUNT,)]
    assert facts.published + facts.drafts + facts.deleted == COUNT
    assert facts.drafts > 0 and facts.deleted > 0 and facts.photos > 0
    assert rows(data, "SELECT count(*) FROM notes WHERE published = 0") == [(facts.drafts,)]
    assert rows(data, "SELECT count(*) FROM notes WHERE deleted_at IS NOT NULL") == [(facts.deleted,)]
    assert rows(data, "SELECT count(*) FROM note_tags") == [(facts.tag_rows,)]
    assert rows(data, "SELECT count(*) FROM note_photos") == [(facts.photos,)]
    assert rows(data, "PRAGMA integrity_check") == [("ok",)]
    assert rows(data, "PRAGMA foreign_key_check") == []


def test_dates_span_ten_years_up_to_now_in_id_order(seeded) -> None:
    """The archive runs from ten years back to now, and a later note is never dated before an earlier one."""
    data, facts = seeded
    first = datetime.fromisoformat(facts.first_published)
    last = datetime.fromisoformat(facts.last_published)
    assert (last - first).days > 365 * 9.9 and last <= NOW
    assert len(facts.years) == 11  # ten years back from December reach into eleven calendar years
    dates = [row[0] for row in rows(data, "SELECT created_at FROM notes ORDER BY id")]
    assert dates == sorted(dates)


def test_the_content_generation_moves_on_once(data) -> None:
    """Seeding is one write to every worker's cache: the generation goes up by one."""
    before = rows(data, "SELECT value FROM site_state WHERE key = 'content_generation'")
    seed.seed(data, 10, now=NOW)
    after = rows(data, "SELECT value FROM site_state WHERE key = 'content_generation'")
    assert int(after[0][0]) == int(before[0][0]) + 1


def test_the_app_reads_the_seeded_notes(seeded, client) -> None:
    """The index, a deep page, the common tag, a deep permalink and the photo files answer as for written notes."""
    data, facts = seeded
    newest = rows(data, "SELECT slug FROM notes WHERE published = 1 AND deleted_at IS NULL ORDER BY id DESC LIMIT 1")
    home = client.get("/")
    assert home.status_code == 200 and f"/note/{newest[0][0]}" in home.text
    # The list is cut at a note: the page before the deep note starts with the one just older.
    deep = client.get(f"/?before={facts.deep_note_id}")
    listed = list(dict.fromkeys(re.findall(r'/note/([a-z0-9-]+)"', deep.text)))
    assert deep.status_code == 200 and listed[0] == facts.older_note_slug
    # The old numbered address of the deep note's page still leads to a page that lists it.
    numbered = client.get(f"/?page={facts.deep_page}")
    assert numbered.status_code == 301
    assert f"/note/{facts.deep_note_slug}" in client.get(numbered.headers["Location"]).text
    assert client.get(f"/?page={facts.pages}").status_code == 301
    assert client.get(f"/?page={facts.pages + 1}").status_code == 404
    tag = client.get(f"/tag/{facts.top_tag}")
    assert tag.status_code == 200 and tag.text.count('class="h-entry') == seed.PAGE_SIZE
    assert client.get(f"/note/{facts.deep_note_slug}").status_code == 200
    name = rows(data, "SELECT file_name FROM note_photos LIMIT 1")[0][0]
    with client.get(f"/media/{name}") as photo:
        assert photo.status_code == 200 and photo.data.startswith(b"\x89PNG")


def test_drafts_and_deleted_notes_stay_off_the_pages(seeded, client) -> None:
    """A draft's permalink is not found and a deleted one is gone, as for notes the owner drafted or deleted."""
    data, _ = seeded
    draft = rows(data, "SELECT slug FROM notes WHERE published = 0 LIMIT 1")[0][0]
    deleted = rows(data, "SELECT slug FROM notes WHERE deleted_at IS NOT NULL LIMIT 1")[0][0]
    assert client.get(f"/note/{draft}").status_code == 404
    assert client.get(f"/note/{deleted}").status_code == 410


def test_the_facts_address_real_pages(seeded) -> None:
    """The month, the tag and the search word the facts name are the archive's own."""
    data, facts = seeded
    month = facts.month.replace("/", "-")
    assert rows(
        data, f"SELECT count(*) FROM notes WHERE published = 1 AND deleted_at IS NULL AND published_at LIKE '{month}%'"
    ) == [(facts.month_notes,)]
    assert facts.month_notes > seed.PAGE_SIZE  # a full page, as at 100,000 notes (the month burst)
    assert facts.top_tag_notes > seed.PAGE_SIZE and facts.search_notes > seed.PAGE_SIZE
    assert re.fullmatch(r"\d{4}/\d{2}", facts.month) and facts.year == facts.month[:4]


@pytest.mark.parametrize("count", [100, 1000, 5000])
def test_the_facts_month_holds_more_than_a_page_at_any_size(data, count) -> None:
    """The benchmark's month page is a full page at 100 notes as at 100,000; dates still rise with ids."""
    facts = seed.seed(data, count, now=NOW)
    assert facts.month_notes > seed.PAGE_SIZE
    stamps = [stamp for (stamp,) in rows(data, "SELECT created_at FROM notes ORDER BY id")]
    assert stamps == sorted(stamps) and len(set(stamps)) == count


@pytest.mark.parametrize("count", [53, 211, 997])
def test_the_month_burst_stays_in_one_month_before_the_next_notes_slot(count) -> None:
    """Wherever the middle note's slot falls (near a month's end too), the burst ends in its month and in time."""
    start = datetime(2016, 1, 31, 23, 0, tzinfo=timezone.utc)
    span_s = 3650 * 86400.0
    burst = seed._month_burst(start, span_s, count)
    last = burst.first + seed.timedelta(seconds=seed.BURST_STEP_S * burst.size)
    assert burst.size == seed.MONTH_BURST and (last.year, last.month) == (burst.first.year, burst.first.month)
    gap = span_s / count
    assert start + seed.timedelta(seconds=gap * burst.start) <= burst.first
    assert last <= start + seed.timedelta(seconds=gap * (burst.start + burst.size))


def test_no_burst_when_months_are_full_anyway() -> None:
    """At 100,000 notes (53 minutes apart) every month holds hundreds: the dates stay evenly spread."""
    assert seed._month_burst(NOW, 3650 * 86400.0, 100_000).size == 0


def test_an_external_content_search_index_is_rebuilt(data) -> None:
    """An FTS5 table over the notes (as a later migration may add) holds every seeded note afterwards."""
    conn = sqlite3.connect(data / seed.DB_FILENAME)
    conn.execute("CREATE VIRTUAL TABLE notes_fts USING fts5(content, content='notes', content_rowid='id')")
    conn.close()
    facts = seed.seed(data, 200, now=NOW)
    assert facts.fts_tables == ["note_search", "notes_fts"]  # the app's own index (0008) and this one
    found = rows(data, f"SELECT count(*) FROM notes_fts WHERE notes_fts MATCH '{seed.SEARCH_WORD}'")
    assert found[0][0] >= facts.search_notes > 0
    assert rows(data, "INSERT INTO notes_fts(notes_fts) VALUES ('integrity-check')") == []


def test_a_search_index_no_trigger_fills_stops_the_seeder(data) -> None:
    """A full-text table the seeder cannot fill is named, and nothing is seeded."""
    conn = sqlite3.connect(data / seed.DB_FILENAME)
    conn.execute("CREATE VIRTUAL TABLE notes_words USING fts5(content)")
    conn.close()
    with pytest.raises(seed.SeedError, match="notes_words"):
        seed.seed(data, 50, now=NOW)
    assert rows(data, "SELECT count(*) FROM notes") == [(0,)]


def test_the_command_migrates_seeds_and_prints_its_facts_last(tmp_path, capsys) -> None:
    """`python -m testkit.seed --migrate` makes the schema, seeds, and ends with the facts as JSON."""
    assert seed.main([str(tmp_path), "--migrate", "--count", "50"]) == 0
    facts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert facts["notes"] == 50
    assert rows(tmp_path, "SELECT count(*) FROM notes") == [(50,)]


def test_the_command_refuses_a_folder_without_a_database(tmp_path, capsys) -> None:
    """Without --migrate and without a database, the command says what to do in one line."""
    assert seed.main([str(tmp_path), "--count", "5"]) == 1
    assert "--migrate" in capsys.readouterr().err


def test_held_back_migrations_are_applied_to_the_seeded_archive(tmp_path, capsys) -> None:
    """--hold-back seeds on the older schema, then the app's migrate() brings the full archive up to date."""
    newest = db.available_migrations()[-1]
    assert seed.main([str(tmp_path), "--migrate", "--hold-back", "1", "--count", "50"]) == 0
    facts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert facts["late_migrations"] == [newest[1]] and facts["late_migrations_s"] >= 0
    assert rows(tmp_path, "SELECT max(version) FROM schema_migrations") == [(newest[0],)]
    assert rows(tmp_path, "SELECT count(*) FROM notes") == [(50,)]
