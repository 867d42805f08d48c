"""Turn a note's Markdown into HTML that is safe to show to anyone."""

import hashlib
import html
import importlib.util
import re
from collections import OrderedDict
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path

import nh3
from markupsafe import Markup

# tests/unit/conftest.py writes this allowlist out again on purpose (SAFE_TAGS): a tag added here
# must be added there too, so that the tests notice anything dangerous.
ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


@cache
def _markdown():
    """Return Python-Markdown's function and StarPunk's extensions, imported on the first note rendered.

    A start renders none: the pages it warms read each note's stored HTML
    (store.py), so Markdown's import (about 10 ms) is paid by the first write.
    """
    import markdown
    from markdown.extensions import Extension
    from markdown.treeprocessors import Treeprocessor

    class DemoteHeadings(Treeprocessor):
        """Shift headings one level down: the page's own title is its only h1."""

        def run(self, root):
            for element in root.iter():
                if element.tag in {"h1", "h2", "h3", "h4", "h5"}:
                    element.tag = f"h{int(element.tag[1]) + 1}"

    class DemoteHeadingsExtension(Extension):
        """Markdown extension that registers DemoteHeadings."""

        def extendMarkdown(self, md):  # noqa: N802 (Markdown's API name)
            md.treeprocessors.register(DemoteHeadings(md), "starpunk_demote_headings", 5)

    return markdown.markdown, ["fenced_code", "tables", "sane_lists", DemoteHeadingsExtension()]


def sanitise_html(markup):
    """Keep only allowlisted tags, attributes and URL schemes of an HTML fragment (scripts and styles go whole)."""
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


# Received content (Webmention replies) keeps the same rules, minus images (a
# remote image would leak readers' addresses to its host) and headings and
# tables (a reply is a few lines inside the note's page).
RECEIVED_TAGS = ALLOWED_TAGS - {"img", "h2", "h3", "h4", "h5", "h6", "table", "tbody", "td", "th", "thead", "tr"}


def sanitise_received_html(markup):
    """Keep only what a received reply may show: the note allowlist without images, headings and tables."""
    return nh3.clean(
        markup,
        tags=RECEIVED_TAGS,
        attributes={tag: names for tag, names in ALLOWED_ATTRIBUTES.items() if tag in RECEIVED_TAGS},
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow ugc",
    )


def visible_text(markup):
    """Return the text of an HTML fragment, without any markup."""
    return html.unescape(nh3.clean(markup, tags=set()))


# Notes' HTML, by their text, as rendered in this process or stored with the note (remember): a page, its feed
# items and its summary read one rendering. Bounded, least recently used first out.
RENDERED_KEPT = 2048
_rendered = OrderedDict()


def _markdown_version():
    """Return Python-Markdown's version file, found without importing the package (see _markdown)."""
    spec = importlib.util.find_spec("markdown")
    return (Path(spec.origin).parent / "__meta__.py").read_bytes()


# What a note's stored HTML was rendered by (store.py keeps it beside the text): the rules of this module and the
# versions of the Markdown and sanitising libraries. HTML stored by anything else (an upgrade changed a rule or a
# library) is not used; that note is rendered again when read, as every note was before its HTML was stored.
RENDERED_BY = hashlib.sha256(
    b"\0".join((Path(__file__).read_bytes(), _markdown_version(), nh3.__version__.encode()))
).hexdigest()[:16]


def _keep(text, markup):
    _rendered[text] = markup
    if len(_rendered) > RENDERED_KEPT:
        _rendered.popitem(last=False)


def render_markdown(text):
    """Render Markdown, then keep only allowlisted tags, attributes and URL schemes."""
    markup = _rendered.get(text)
    if markup is not None:
        _rendered.move_to_end(text)
        return markup
    markup = render_afresh(text)
    _keep(text, markup)
    return markup


def render_afresh(text):
    """Render Markdown as render_markdown does, neither reading nor filling its kept renderings."""
    convert, extensions = _markdown()
    return sanitise_html(convert(text, extensions=extensions, output_format="html"))


def remember(text, markup, rendered_by):
    """Take a note's stored HTML as its rendering, when this revision's rules and libraries rendered it."""
    if markup is not None and rendered_by == RENDERED_BY and text not in _rendered:
        _keep(text, markup)


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


# nh3's output: heading tags carry no attributes, and a "<" in text is escaped.
_HEADING_TAG = re.compile(r"<(/?)h([1-6])>")


@lru_cache(maxsize=2048)
def outlined_html(text, title=False, lazy=False):
    """Return a note's HTML with its headings renumbered to fit a page whose own heading is the h1.

    The note's first heading becomes an h2 (the h1 itself with title=True: the
    note's opening heading is then the page's title, shown once), and each
    later one sits at most one level below the heading it follows, so the
    page's outline never skips or repeats a level. With lazy=True its images
    load only when scrolled near (for notes below the first screen).
    """
    enclosing = []  # (level written in the note, level given on the page) of the headings still open
    current = 2

    def renumber(match):
        nonlocal current
        if match.group(1):
            return f"</h{current}>"
        written = int(match.group(2))
        while enclosing and enclosing[-1][0] > written:
            enclosing.pop()
        if enclosing and enclosing[-1][0] == written:
            current = enclosing.pop()[1]
        elif enclosing:
            current = min(enclosing[-1][1] + 1, 6)
        elif title:
            # Level 0 is below any written level: every later heading nests under the title.
            enclosing.append((0, 1))
            current = 1
            return "<h1>"
        else:
            current = 2
        enclosing.append((written, current))
        return f"<h{current}>"

    outlined = _HEADING_TAG.sub(renumber, render_markdown(text))
    return outlined.replace("<img ", '<img loading="lazy" ') if lazy else outlined


@lru_cache(maxsize=2048)
def opens_with_heading(text):
    """Return whether a note's first block is a heading (which then serves as its page's title)."""
    return render_markdown(text).lstrip().startswith(("<h2>", "<h3>", "<h4>", "<h5>", "<h6>"))


@lru_cache(maxsize=2048)
def description(text, length=160):
    """Return a note's visible text (no markup) on one line, cut at a word within length characters.

    A note opening with a heading has it as its title: the text below it describes it.
    """
    lines = [line for line in html.unescape(nh3.clean(render_markdown(text), tags=set())).splitlines() if line.strip()]
    if opens_with_heading(text) and len(lines) > 1:
        lines = lines[1:]
    visible = " ".join(" ".join(lines).split())
    if len(visible) <= length:
        return visible
    cut = visible[: length - 1]
    if " " in cut and not visible[length - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


def note_html(text, title=False, lazy=False):
    """Return a note's sanitised HTML, headings fitted to the page (see outlined_html), marked safe for templates."""
    return Markup(outlined_html(text, title, lazy))
