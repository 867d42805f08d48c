"""Turn a note's Markdown into HTML that is safe to show to anyone."""

import html
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


@lru_cache(maxsize=2048)
def render_markdown(text):
    """Render Markdown, then keep only allowlisted tags, attributes and URL schemes."""
    html = markdown.markdown(text, extensions=EXTENSIONS, output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


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
