"""The one copy record and the one bounded cache the page cache, the feed cache and the fast path share."""

import time

from starpunk.readercache import ReaderCache, ReaderCopy, file_stamp


def test_a_copy_is_current_only_for_its_own_generation():
    """A note written anywhere bumps the generation: the copy rendered before it is no longer given."""
    copy = ReaderCopy(generation=7, etag="abc", body=b"page")
    assert copy.is_current(7)
    assert not copy.is_current(8)


def test_a_copy_expires_at_its_moment_not_before(monkeypatch):
    """A feed's copy is given until expires_at and not from then on."""
    copy = ReaderCopy(generation=1, etag="abc", expires_at=100.0)
    monkeypatch.setattr(time, "monotonic", lambda: 99.999)
    assert copy.is_current(1)
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    assert not copy.is_current(1)


def test_a_changed_static_file_ends_the_copy(tmp_path):
    """A page linking a stylesheet stops being current once the stylesheet is written again."""
    sheet = tmp_path / "style.css"
    sheet.write_text("body { color: red; }")
    copy = ReaderCopy(generation=1, etag="abc", static_files=((str(sheet), file_stamp(sheet)),))
    assert copy.is_current(1)
    sheet.write_text("body { color: darkred; }")
    assert not copy.is_current(1)


def test_the_cache_keeps_its_bound_and_drops_the_least_lately_read():
    """At the bound every copy stays; one more drops the copy read least lately, not the first stored."""
    cache = ReaderCache()
    for key in ("a", "b", "c"):
        cache.keep(key, key.upper(), 3)
    cache.move_to_end("a")  # read again: "b" is now the least lately read
    assert list(cache) == ["b", "c", "a"]
    assert cache.keep("d", "D", 3) == "D"
    assert list(cache) == ["c", "a", "d"]
