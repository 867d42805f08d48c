"""Markdown rendering: readable HTML, and nothing that can run in a reader's browser."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from starpunk.render import (
    description,
    note_html,
    opens_with_heading,
    outlined_html,
    readable_date,
    render_markdown,
    summary,
)


def test_markdown_becomes_html():
    """Emphasis, links, lists, code and tables render as a reader expects."""
    html = render_markdown(
        "Some *emphasis* and **strong** with [a link](https://example.com).\n\n"
        "- one\n- two\n\n```\ncode & <things>\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert "<em>emphasis</em>" in html
    assert "<strong>strong</strong>" in html
    assert 'href="https://example.com"' in html
    assert "<li>one</li>" in html
    assert "<pre><code>code &amp; &lt;things&gt;" in html
    assert "<td>1</td>" in html


def test_links_do_not_pass_referrer_or_rank():
    """Links in notes open safely and carry nofollow."""
    html = render_markdown("[x](https://example.com)")
    assert 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.parametrize(
    ("source", "level"),
    [("# Title", "h2"), ("## Sub", "h3"), ("##### Deep", "h6"), ("###### Deepest", "h6")],
)
def test_headings_are_demoted_so_the_page_keeps_one_h1(source, level):
    """A note's headings sit below the page title: no note can add an h1."""
    html = render_markdown(source)
    assert html.startswith(f"<{level}>")
    assert "<h1" not in html


def test_raw_h1_in_a_note_is_not_kept():
    """Raw HTML h1 tags are stripped too (their text stays)."""
    html = render_markdown("<h1>Big</h1>")
    assert "<h1" not in html
    assert "Big" in html


@pytest.mark.parametrize(
    ("source", "gone"),
    [
        ("<script>alert('x')</script>hello", ["<script", "alert"]),
        ('<img src="x.png" onerror="alert(1)">', ["onerror", "alert"]),
        ('<a href="#" onclick="steal()">click</a>', ["onclick", "steal"]),
        ("[click](javascript:alert(1))", ["javascript:"]),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', ["javascript:", "alert"]),
        ("![img](data:image/svg+xml;base64,PHN2Zz4=)", ["data:"]),
        ('<a href="data:text/html,<script>alert(1)</script>">x</a>', ["data:", "<script"]),
        ("<style>body{display:none}</style>text", ["<style", "display:none"]),
        ('<iframe src="https://evil.example"></iframe>', ["<iframe"]),
        ('<p style="color:red">styled</p>', ["style="]),
    ],
)
def test_dangerous_markup_is_removed(source, gone, safe_html):
    """Scripts, event handlers, javascript: and data: URLs, styles and frames never survive."""
    html = render_markdown(source).lower()
    for fragment in gone:
        assert fragment.lower() not in html
    safe_html(html)


def test_every_payload_of_the_xss_corpus_is_neutralised(corpus, safe_html):
    """The shared XSS corpus renders to allowlisted HTML only."""
    assert len(corpus) > 20
    for payload in corpus:
        html = render_markdown(payload)
        safe_html(html)
        assert "<script" not in html.lower()


def test_note_html_is_markup_safe_for_templates():
    """Templates get already-clean HTML that Jinja will not escape a second time."""
    html = note_html("*hi*")
    assert isinstance(html, Markup)
    assert str(html) == "<p><em>hi</em></p>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello **world**\n\nSecond paragraph", "Hello world"),
        ("\n\n# Heading\n\ntext", "Heading"),
        ("<script>alert(1)</script>", "Note"),
        ("Fish &amp; chips", "Fish & chips"),
        ("---\n\nAfter a rule", "After a rule"),
    ],
)
def test_summary_is_the_first_visible_line(text, expected):
    """Titles use the first visible line, without markup."""
    assert summary(text) == expected


def test_long_summary_is_cut_with_an_ellipsis():
    """A long first line is shortened to the limit and marked as cut."""
    line = summary("word " * 40)
    assert len(line) <= 80
    assert line.endswith("…")


def test_readable_date():
    """Stored UTC timestamps read like "28 Nov 2026, 12:30 UTC"."""
    assert readable_date("2026-11-08T09:05:00.000000+00:00") == "8 Nov 2026, 09:05 UTC"
    assert readable_date(None) == ""


HOSTILE = st.lists(
    st.sampled_from(
        [
            "<script>",
            "</script>",
            "<img src=x onerror=alert(1)>",
            "<a href='javascript:x'>",
            "[l](javascript:alert(1))",
            "![i](data:text/html,x)",
            "<svg onload=x>",
            "<iframe>",
            '" onmouseover="x',
            "<style>",
            "# ",
            "\n",
            "```",
            "<h1>",
            "&#106;avascript:",
            "<!--",
            "-->",
            "<![CDATA[",
            "<math>",
            "text",
            "*",
            "`",
            "|a|\n|-|\n|b|",
            "<div style=x>",
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=150)
@given(st.one_of(st.text(), HOSTILE))
def test_render_never_raises_and_emits_only_allowlisted_html(safe_html, text):
    """Whatever the author types, the output is allowlisted HTML and never an error."""
    html = render_markdown(text)
    safe_html(html)
    assert "<h1" not in html.lower()


def _levels(markup):
    return [int(level) for level in re.findall(r"<h([1-6])>", markup)]


@pytest.mark.parametrize(
    ("source", "levels"),
    [
        ("## Travel\n\n#### Detail", [2, 3]),  # the first heading right below the page's h1; no level skipped
        ("# A\n\n## B\n\n#### C\n\n## D\n\n# E", [2, 3, 4, 3, 2]),
        ("### Deep first\n\n# Then shallow", [2, 2]),  # never above the note's level on the page
        ("#" * 6 + " a\n\n" + "#" * 5 + " b\n\n#### c", [2, 2, 2]),
    ],
)
def test_a_notes_headings_fit_below_the_pages_own(source, levels):
    """Headings are renumbered from h2, each at most one level below the one it follows."""
    assert _levels(outlined_html(source)) == levels


def test_a_note_opening_with_a_heading_can_give_the_page_its_h1():
    """With title=True the opening heading is the only h1; later top-level headings are h2."""
    markup = outlined_html("# Title\n\ntext\n\n# Part\n\n### Sub\n\n## Part two", title=True)
    assert _levels(markup) == [1, 2, 3, 3]
    assert markup.startswith("<h1>Title</h1>")
    assert opens_with_heading("# Title\n\ntext") and not opens_with_heading("text\n\n# Title")


def test_images_of_notes_below_the_first_screen_load_lazily():
    """lazy=True marks every image of the note; the default leaves them eager."""
    assert '<img loading="lazy" alt="a" src="/a.png">' in outlined_html("![a](/a.png)", lazy=True)
    assert "loading" not in outlined_html("![a](/a.png)")


def test_headings_in_code_are_text_not_renumbered():
    """A heading tag written inside code stays escaped text."""
    assert outlined_html("`<h2>x</h2>`\n\n## Real") == "<p><code>&lt;h2&gt;x&lt;/h2&gt;</code></p>\n<h2>Real</h2>"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('Plain "quoted" <b>bold</b> & café', 'Plain "quoted" bold & café'),
        ("# Title\n\nBody **text**\n\n- one\n- two", "Body text one two"),
        ("# Only a title", "Only a title"),
        ("word " * 40, ("word " * 32).strip() + "…"),
        ("x" * 200, "x" * 159 + "…"),
    ],
)
def test_description_is_the_plain_text_cut_at_a_word(source, expected):
    """A note's description: visible text on one line, the title left out, at most 160 characters."""
    assert description(source) == expected
    assert len(description(source)) <= 160
