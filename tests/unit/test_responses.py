"""Responses: the one URL a reply, like, repost or bookmark answers, checked; syndication URLs; the human lines."""

import pytest

from starpunk.responses import MAX_SYNDICATION, MAX_URL_CHARS, clean_properties, response_of, syndication_of


def url_of_length(length):
    """Return an https URL of exactly length characters."""
    head = "https://example.com/"
    return head + "a" * (length - len(head))


@pytest.mark.parametrize(
    ("prop", "kind", "line", "needs_text"),
    [
        ("in-reply-to", "reply", "In reply to", True),
        ("like-of", "like", "Liked", False),
        ("repost-of", "repost", "Reposted", False),
        ("bookmark-of", "bookmark", "Bookmarked", False),
    ],
)
def test_each_kind_has_its_post_type_and_line(prop, kind, line, needs_text):
    """Every response property names its post type, its line, and whether it needs text."""
    answered = response_of(clean_properties({prop: ["https://example.com/post"]}))
    assert (answered.kind, answered.line, answered.needs_text) == (kind, line, needs_text)
    assert answered.url == "https://example.com/post"


def test_a_plain_note_answers_nothing():
    """A note without a response property is a plain note."""
    assert response_of({"x-mood": ["happy"]}) is None


def test_an_h_cite_is_reduced_to_its_url():
    """A Micropub client may send an h-cite (with a url) or a value: the URL is kept."""
    cite = {"type": ["h-cite"], "properties": {"url": ["https://example.com/a"], "name": ["A"]}}
    assert clean_properties({"like-of": [cite]})["like-of"] == ["https://example.com/a"]
    assert clean_properties({"like-of": [{"value": "https://example.com/b"}]})["like-of"] == ["https://example.com/b"]


def test_urls_are_length_bounded_exactly():
    """At most MAX_URL_CHARS characters: N is kept, N + 1 refused."""
    assert clean_properties({"in-reply-to": [url_of_length(MAX_URL_CHARS)]})
    with pytest.raises(ValueError, match="at most 2048"):
        clean_properties({"in-reply-to": [url_of_length(MAX_URL_CHARS + 1)]})


@pytest.mark.parametrize(
    "value",
    ["javascript:alert(1)", "ftp://example.com/x", "/relative", "https://", "https://exa mple.com/", 42, {"a": 1}],
)
def test_only_http_urls_are_responses(value):
    """Anything but an absolute http(s) URL is refused, with the property named."""
    with pytest.raises(ValueError, match="like-of"):
        clean_properties({"like-of": [value]})


def test_one_url_and_one_kind():
    """A note answers one page: two URLs, or two kinds, are refused."""
    with pytest.raises(ValueError, match="one URL"):
        clean_properties({"like-of": ["https://a.example/", "https://b.example/"]})
    with pytest.raises(ValueError, match="answers one page"):
        clean_properties({"like-of": ["https://a.example/"], "in-reply-to": ["https://b.example/"]})


def test_syndication_urls_are_checked_and_bounded():
    """Syndication URLs must be http(s); at most MAX_SYNDICATION, one more is refused."""
    urls = [f"https://copy{n}.example/1" for n in range(MAX_SYNDICATION)]
    assert syndication_of(clean_properties({"syndication": urls})) == urls
    with pytest.raises(ValueError, match="at most"):
        clean_properties({"syndication": [*urls, "https://one-more.example/"]})
    with pytest.raises(ValueError, match="syndication"):
        clean_properties({"syndication": ["javascript:x"]})
