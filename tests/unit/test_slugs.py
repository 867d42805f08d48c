"""Slugs: short, readable, URL-safe addresses made from a note's first words."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starpunk.slugs import is_valid_slug, slugify, unique_slug

SLUG_SHAPE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("One two three four five six seven eight", "one-two-three-four-five-six"),
        ("Café déjà vu à Zürich", "cafe-deja-vu-a-zurich"),
        ("# A heading\n\nthen *some* text", "a-heading-then-some-text"),
        ("See [my site](https://example.com/a-b-c) today", "see-my-site-today"),
        ("Read https://example.com/very/long/path now", "read-now"),
        ("<script>alert('x')</script>Safe words", "safe-words"),
        ("Fish &amp; chips", "fish-chips"),
        ("2026 in review", "2026-in-review"),
    ],
)
def test_slug_comes_from_the_first_words(text, slug):
    """The slug is the note's first words, lowercase ASCII, joined by hyphens."""
    assert slugify(text) == slug


@pytest.mark.parametrize("text", ["", "   ", "!!! ??? ...", "😀🎉", "日本語のテキスト", None])
def test_text_without_latin_words_gets_a_fallback(text):
    """Notes with no usable words still get a valid slug."""
    assert slugify(text) == "note"


def test_long_words_are_cut_without_a_trailing_hyphen():
    """A slug stays short enough for a URL and never ends in a hyphen."""
    slug = slugify("a" * 59 + " bbbbbbbb")
    assert len(slug) <= 60
    assert SLUG_SHAPE.match(slug)
    assert slugify("x" * 500) == "x" * 60


def test_unique_slug_adds_2_then_3():
    """Taken slugs get -2, -3, ... in order."""
    taken = {"hello"}
    assert unique_slug("hello", taken.__contains__) == "hello-2"
    taken.add("hello-2")
    assert unique_slug("hello", taken.__contains__) == "hello-3"
    assert unique_slug("fresh", taken.__contains__) == "fresh"


@pytest.mark.parametrize(
    ("slug", "valid"),
    [
        ("hello-world", True),
        ("a", True),
        ("Hello", False),
        ("a--b", False),
        ("-a", False),
        ("a/b", False),
        ("", False),
        ("a" * 80, False),
    ],
)
def test_is_valid_slug(slug, valid):
    """Only the shape slugify produces (plus a collision suffix) is a valid slug."""
    assert is_valid_slug(slug) is valid


@given(st.text())
def test_slugify_never_raises_and_is_always_url_safe(text):
    """Whatever the note says, its slug is a plain URL-safe word list."""
    slug = slugify(text)
    assert SLUG_SHAPE.match(slug)
    assert len(slug) <= 60


@given(
    st.lists(
        st.sampled_from(["<b>", "</p>", "&amp;", "[x](", ")", "https://a.b/c", " ", "-", "É", "word", "<!--", "\n"])
    ).map("".join)
)
def test_slugify_handles_markup_fragments(text):
    """Fragments of HTML, entities and links never break the slug's shape."""
    assert SLUG_SHAPE.match(slugify(text))
