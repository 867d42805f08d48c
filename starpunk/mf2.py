"""Microformats 2 properties of an h-entry, as Micropub sends them, and the notes StarPunk makes of them.

Pure functions, no request: starpunk/micropub.py reads the request and writes
through starpunk/store.py. A property is a name and a list of values; a value
is a string or an object (an HTML content, a photo with alt text, a nested
microformats object).

- ``form_entry(form)`` and ``json_entry(body)``: (properties, commands) of a
  create request; ``mp-*`` names are commands (``mp-slug``, ``mp-photo-alt``),
  the rest properties.
- ``note_fields(properties)``: what StarPunk stores (``NoteFields``): content,
  categories, photos, date, draft flag, and the properties it keeps unrendered.
- ``apply_update(properties, body)``: the properties after a Micropub update's
  ``replace``, ``add`` and ``delete``, and the names it touched.
- ``source_properties(note, url)``: every property of a stored note, for ``q=source``.

Every refusal is a ``PropertyError``, whose message tells the client what to fix.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .render import html_note, html_of_note, sanitise_html
from .responses import clean_properties

# Properties StarPunk turns into a note's own fields; any other is kept as sent.
RENDERED = ("content", "category", "photo", "published", "post-status")
# Properties the server derives itself, or that must never be stored.
NOT_KEPT = ("url", "access_token")
POST_STATUSES = ("published", "draft")


class PropertyError(ValueError):
    """A request's properties cannot make a note; the message says why (400 invalid_request)."""


@dataclass
class NoteFields:
    """What a note is made of, from an h-entry's properties."""

    content: str = ""
    tags: list = field(default_factory=list)
    photos: list = field(default_factory=list)  # (url, alt) pairs
    published_at: datetime | None = None
    draft: bool = False
    kept: dict = field(default_factory=dict)


def _split(pairs):
    """Return (properties, commands) from (name, values) pairs; repeated names add values."""
    properties, commands = {}, {}
    for name, values in pairs:
        if name.endswith("[]"):
            name = name[:-2]
        if not name or name in ("h", "action", "access_token"):
            continue
        target = commands if name.startswith("mp-") else properties
        target.setdefault(name, []).extend(values)
    return properties, commands


def form_entry(form):
    """Return (properties, commands) of a form-encoded create request (h=entry, content, category[], ...)."""
    kind = form.get("h", "entry")
    if kind != "entry":
        raise PropertyError(f"Only h=entry is supported; this site cannot make an h-{kind}.")
    return _split((name, form.getlist(name)) for name in form)


def json_entry(body):
    """Return (properties, commands) of a JSON create request ({"type": ["h-entry"], "properties": {...}})."""
    kinds = body.get("type")
    if kinds != ["h-entry"]:
        raise PropertyError(f'Only {{"type": ["h-entry"]}} is supported, not {kinds!r}.')
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise PropertyError('A JSON entry needs "properties": an object of property names to lists of values.')
    return _split((name, _values(name, values)) for name, values in properties.items())


def _values(name, values):
    if not isinstance(values, list):
        raise PropertyError(f'The property "{name}" must be a list of values, e.g. ["..."].')
    return values


def parse_published(text):
    """Return an ISO 8601 date and time as an aware datetime; one without a zone is taken as UTC."""
    if not isinstance(text, str):
        raise PropertyError("published must be an ISO 8601 date and time, as a string.")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PropertyError(f"published {text!r} is not an ISO 8601 date and time.") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    try:
        moment.astimezone(timezone.utc)  # stored in UTC: 9999-12-31T23:59-23:59 has no UTC time
    except OverflowError:
        raise PropertyError(f"published {text!r} is out of range (years 1 to 9999, in UTC).") from None
    return moment


def _content(values):
    """Return a note's stored text from content values: plain text (Markdown), or HTML made safe."""
    if not values:
        return ""
    value = values[0]
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("html"), str):
        if not sanitise_html(value["html"]).strip():
            return ""
        return html_note(value["html"])
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return value["value"]
    raise PropertyError('content must be a string, {"html": "..."} or {"value": "..."}.')


def _photo(value):
    if isinstance(value, str):
        return value, ""
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        alt = value.get("alt", "")
        if not isinstance(alt, str):
            raise PropertyError("A photo's alt must be a string.")
        return value["value"], alt
    raise PropertyError('A photo must be a URL or {"value": URL, "alt": "..."}.')


def _draft(values):
    status = values[0] if values else "published"
    if status not in POST_STATUSES:
        raise PropertyError(f"post-status must be published or draft, not {status!r}.")
    return status == "draft"


def note_fields(properties):
    """Return the NoteFields an h-entry's properties describe (the content is not yet length-checked)."""
    fields = NoteFields(content=_content(properties.get("content", [])))
    for value in properties.get("category", []):
        if isinstance(value, str):
            fields.tags.append(value)
        else:  # a nested object (an h-card of a person tagged): kept, not a tag
            fields.kept.setdefault("category", []).append(value)
    fields.photos = [_photo(value) for value in properties.get("photo", [])]
    if properties.get("published"):
        fields.published_at = parse_published(properties["published"][0])
    fields.draft = _draft(properties.get("post-status", []))
    for name, values in properties.items():
        if name not in RENDERED and name not in NOT_KEPT and values:
            fields.kept[name] = values
    try:
        fields.kept = clean_properties(fields.kept)
    except ValueError as exc:
        raise PropertyError(str(exc)) from None
    return fields


def _changes(body, operation):
    changes = body.get(operation, {})
    if not isinstance(changes, dict):
        raise PropertyError(f'"{operation}" must be an object of property names to lists of values.')
    return {name: _values(name, values) for name, values in changes.items()}


def apply_update(properties, body):
    """Return (new properties, names touched) after a Micropub update's replace, add and delete."""
    updated = {name: list(values) for name, values in properties.items()}
    replace, add = _changes(body, "replace"), _changes(body, "add")
    removals = body.get("delete", [])
    if not isinstance(removals, list | dict):
        raise PropertyError('"delete" must be a list of property names or an object of names to values.')
    if not (replace or add or removals):
        raise PropertyError('An update needs "replace", "add" or "delete".')
    for name, values in replace.items():
        updated[name] = list(values)
    for name, values in add.items():
        updated.setdefault(name, []).extend(values)
    if isinstance(removals, list):
        if not all(isinstance(name, str) for name in removals):
            raise PropertyError('"delete" as a list names whole properties: it must hold strings.')
        for name in removals:
            updated.pop(name, None)
    else:
        for name, values in removals.items():
            kept = [value for value in updated.get(name, []) if value not in _values(name, values)]
            updated[name] = kept
    touched = set(replace) | set(add) | set(removals)
    return {name: values for name, values in updated.items() if values}, touched


def _photo_value(photo):
    return {"value": photo.src, "alt": photo.alt} if photo.alt else photo.src


def _moment(stamp):
    return datetime.fromisoformat(stamp).isoformat()


def source_properties(note, url):
    """Return every property of a stored note as microformats JSON values (q=source)."""
    kept = dict(note["properties"])
    written_as = html_of_note(note["content"])
    properties = {"content": [{"html": written_as} if written_as is not None else note["content"]]}
    if not note["content"]:  # a like or bookmark without text
        del properties["content"]
    categories = list(note["tags"]) + kept.pop("category", [])
    if categories:
        properties["category"] = categories
    if note["photos"]:
        properties["photo"] = [_photo_value(photo) for photo in note["photos"]]
    if note["published_at"]:
        properties["published"] = [_moment(note["published_at"])]
    properties["post-status"] = ["published" if note["published"] else "draft"]
    properties["url"] = [url]
    return {**properties, **kept}
