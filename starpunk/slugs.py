"""Make URL-safe slugs from the first words of a note."""

import html
import re
import unicodedata

import nh3

MAX_WORDS = 6
MAX_LENGTH = 60
FALLBACK = "note"
_WORD = re.compile(r"[a-z0-9]+")
# Link targets and bare URLs are not words a reader would recognise in a URL.
_LINKS = re.compile(r"\]\([^)]*\)|https?://\S+")


def slugify(text):
    """Return a slug of at most MAX_WORDS words (lowercase ASCII, digits, hyphens)."""
    # nh3 with no allowed tags drops markup, and script/style content with it.
    plain = _LINKS.sub(" ", html.unescape(nh3.clean(text or "", tags=set())))
    ascii_text = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode("ascii")
    words = _WORD.findall(ascii_text.lower())[:MAX_WORDS]
    slug = "-".join(words)[:MAX_LENGTH].strip("-")
    return slug or FALLBACK


def unique_slug(base, taken):
    """Return base, or base-2, base-3, ... whichever taken(slug) says is free."""
    if not taken(base):
        return base
    n = 2
    while taken(f"{base}-{n}"):
        n += 1
    return f"{base}-{n}"


def is_valid_slug(slug):
    """Return True when slug has the shape slugify produces."""
    return bool(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug)) and len(slug) <= MAX_LENGTH + 12
