"""Turn a note's Markdown into HTML that is safe to show to anyone."""

import html
import re
from datetime import datetime
from functools import lru_cache

import markdown
import nh3
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "sub",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


class _DemoteHeadings(Treeprocessor):
    """Shift headings one level down: the page's own title is its only h1."""

    def run(self, root):
        for element in root.iter():
            if element.tag in {"h1", "h2", "h3", "h4", "h5"}:
                element.tag = f"h{int(element.tag[1]) + 1}"


class DemoteHeadingsExtension(Extension):
    """Markdown extension that registers _DemoteHeadings."""

    def extendMarkdown(self, md):  # noqa: N802 (Markdown's API name)
        md.treeprocessors.register(_DemoteHeadings(md), "starpunk_demote_headings", 5)


EXTENSIONS = ["fenced_code", "tables", "sane_lists", DemoteHeadingsExtension()]


def sanitise_html(markup):
    """Keep only allowlisted tags, attributes and URL schemes of an HTML fragment (scripts and styles go whole)."""
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


@lru_cache(maxsize=2048)
def render_markdown(text):
    """Render Markdown, then keep only allowlisted tags, attributes and URL schemes."""
    return sanitise_html(markdown.markdown(text, extensions=EXTENSIONS, output_format="html"))


# A note written as HTML (Micropub's {"html": ...} content) is stored as its
# sanitised HTML inside one <div> block: Markdown passes a block of raw HTML
# through untouched, and the allowlist then drops the <div> itself, so the
# note renders as exactly that HTML, cleaned once more on the way out.
_HTML_NOTE = re.compile(r'<div class="html-note">\n(.*)\n</div>', re.DOTALL)


def html_note(markup):
    """Return the stored text of a note written as HTML: the sanitised HTML, marked so Markdown leaves it alone."""
    return f'<div class="html-note">\n{sanitise_html(markup).strip()}\n</div>'


def html_of_note(text):
    """Return the HTML a note was written as (see html_note), or None for a note written in Markdown."""
    match = _HTML_NOTE.fullmatch(text)
    return match.group(1) if match else None


@lru_cache(maxsize=2048)
def summary(text, length=80):
    """Return the first line of a note's visible text (no markup), for titles."""
    visible = html.unescape(nh3.clean(render_markdown(text), tags=set()))
    for line in visible.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= length else line[: length - 1].rstrip() + "…"
    return "Note"


def readable_date(stamp):
    """Return a stored UTC timestamp as "28 Nov 2026, 12:30 UTC"."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def note_html(text):
    """Return a note's sanitised HTML marked safe for templates (nh3 already cleaned it)."""
    return Markup(render_markdown(text))
