"""Micropub (W3C Recommendation): post, edit, delete and query notes from IndieWeb apps and scripts.

- ``POST /micropub``: create (form-encoded, multipart with photo files, or
  JSON), and ``action=update`` (JSON), ``delete`` and ``undelete`` (either).
- ``GET /micropub?q=config|source|syndicate-to``: what the server supports, and
  a note's properties.
- ``POST /micropub/media``: the media endpoint (multipart ``file``).

Every request needs an access token of this site (starpunk/tokens.py), in an
``Authorization: Bearer`` header or an ``access_token`` form field, never both.
Scopes: ``create`` to post, ``update`` to edit, ``delete`` to delete and
undelete, ``media`` (or ``create``) to upload; queries need any active token,
``q=source`` one that may create or update. Errors are the spec's JSON
(``error``, ``error_description``). Writes go through starpunk/store.py, as the
admin form's do: pages, feeds and caches of every worker follow at once.
"""

import json
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, request, url_for

from . import media, responses, store, throttle
from .csrf import csrf
from .media import MediaError
from .mf2 import PropertyError, apply_update, form_entry, json_entry, note_fields, source_properties
from .notes import permalink
from .photos import Photo
from .responses import response_of
from .slugs import is_valid_slug
from .store import NoteError
from .tokens import TokenRequestError, bearer_token, verify_token
from .web import FORM_TYPES, MULTIPART, NO_STORE, oauth_error

bp = Blueprint("micropub", __name__, url_prefix="/micropub")
# Clients post from their own servers and scripts, with a token, never with the owner's cookie.
csrf.exempt(bp)

POST_TYPES = [{"type": kind, "name": kind.capitalize()} for kind in responses.POST_TYPES]
QUERIES = ["config", "source", "syndicate-to"]
# Each action and the scopes that allow it (any one of them).
ACTION_SCOPES = {"create": ("create",), "update": ("update",), "delete": ("delete",), "undelete": ("delete",)}
MEDIA_SCOPES = ("media", "create")
SOURCE_SCOPES = ("create", "update")


class Refusal(Exception):
    """A request refused with a Micropub error; response() is its JSON answer."""

    def __init__(self, description, status=400, error="invalid_request", headers=None, **fields):
        super().__init__(description)
        self.description, self.status, self.error, self.fields = description, status, error, fields
        self.headers = headers or {}

    def response(self):
        """Return the spec's JSON error answer."""
        answer = oauth_error(self.error, self.description, self.status, **self.fields)
        answer.headers.update(self.headers)
        if self.error == "insufficient_scope":
            answer.headers["WWW-Authenticate"] = f'Bearer error="insufficient_scope", scope="{self.fields["scope"]}"'
        return answer


@bp.errorhandler(Refusal)
def answer_refusal(exc):
    """Answer a refused request with its JSON error."""
    current_app.logger.info("micropub: %s %s refused: %s (%s)", request.method, request.path, exc.error, exc.status)
    return exc.response()


def _refuse_if_throttled():
    """Raise 429 (Retry-After) while this client is refused for presenting unknown tokens."""
    # Looked up once per request: the upload limit may look before the view, and a
    # failure it counts must not refuse the request that made it.
    if "token_refused_for" not in g:
        g.token_refused_for = throttle.retry_after("token")
        if g.token_refused_for:
            throttle.log_refusal("token", g.token_refused_for)
    seconds = g.token_refused_for
    if seconds:
        raise Refusal(
            f"Too many unknown access tokens came from your address. Try again in {seconds} seconds.",
            429,
            "temporarily_unavailable",
            headers={"Retry-After": str(seconds), **NO_STORE},
        )


def _count_unknown_token():
    """Count one unknown token against this client, once per request."""
    if not g.get("unknown_token_counted"):
        g.unknown_token_counted = True
        throttle.record_failure("token", f"unknown access token at {request.path}")


def authenticate():
    """Return the TokenInfo of the request's token, or raise the Refusal the spec asks for."""
    _refuse_if_throttled()
    try:
        plaintext = bearer_token(request)
    except TokenRequestError as exc:
        raise Refusal(str(exc)) from None
    if plaintext is None:
        raise Refusal(
            "An access token is required (Authorization: Bearer, or an access_token form field).", 401, "unauthorized"
        )
    info = verify_token(plaintext)
    if info is None:
        _count_unknown_token()
        raise Refusal("The access token is unknown, expired or revoked.", 401, "invalid_token")
    return info


def require_scope(info, scopes):
    """Raise 403 insufficient_scope unless the token grants one of scopes."""
    if not any(info.has_scope(name) for name in scopes):
        raise Refusal(
            f"This token's scope ({info.scope or 'none'}) does not allow this; it needs {' or '.join(scopes)}.",
            403,
            "insufficient_scope",
            scope=" ".join(scopes),
        )


def _header_token_may(scopes):
    """Return True when the Authorization header carries an active token with one of scopes (reads no body)."""
    kind, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        return False
    try:
        _refuse_if_throttled()
    except Refusal:
        return False
    info = verify_token(value.strip(), touch=False)
    if info is None:
        # The upload limit answers differently for a known token: this guess counts too.
        _count_unknown_token()
        return False
    return any(info.has_scope(name) for name in scopes)


def note_for_url(url):
    """Return the note whose permalink is url, or raise a Refusal naming what is wrong with it."""
    if not isinstance(url, str) or not url:
        raise Refusal("The url of the note is required.")
    prefix = permalink("x")[:-1]
    slug = urlsplit(url[len(prefix) :]).path.rstrip("/") if url.startswith(prefix) else None
    if slug is None or not is_valid_slug(slug):
        raise Refusal(f"{url} is not a note of this site (its notes are at {prefix}<slug>).")
    note = store.get_note_by_slug(slug)
    if note is None:
        raise Refusal(f"There is no note at {url}.")
    return note


def _created(note):
    response = current_app.response_class(status=201)
    response.headers["Location"] = permalink(note["slug"])
    return response


def _no_content():
    return "", 204


def _json_body():
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # the parser's own limit, far below what a body of MAX_CONTENT_LENGTH can nest
        body = None
    if not isinstance(body, dict):
        raise Refusal("The body is not a JSON object (Content-Type: application/json).")
    _check_json(body, current_app.config["MAX_JSON_DEPTH"])
    return body


def _check_json(body, max_depth):
    """Refuse JSON nested deeper than max_depth, or holding text no database can store (a lone surrogate)."""
    pending = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list) and depth > max_depth:
            raise Refusal(f"The JSON body nests arrays and objects more than {max_depth} levels deep.")
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Refusal(
                    "The JSON body holds text that is not Unicode (a lone surrogate, \\ud800 to \\udfff)."
                ) from None


def _check_kept(kept):
    """Refuse more unrendered properties than a note keeps: MAX_KEPT_PROPERTIES names, MAX_KEPT_BYTES of JSON."""
    config = current_app.config
    if len(kept) > config["MAX_KEPT_PROPERTIES"]:
        raise Refusal(f"A note keeps at most {config['MAX_KEPT_PROPERTIES']} other properties; this has {len(kept)}.")
    size = len(json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > config["MAX_KEPT_BYTES"]:
        raise Refusal(
            f"A note's other properties can take at most {config['MAX_KEPT_BYTES']:,} bytes; these take {size:,}."
        )


def _uploads():
    """Return the photo files of a multipart create request, in order."""
    return [file for name in ("photo", "photo[]") for file in request.files.getlist(name) if file.filename]


def _alt_texts(commands):
    return [text if isinstance(text, str) else "" for text in commands.get("mp-photo-alt", [])]


def _linked_photos(pairs, alts):
    """Return the Photos of (url, alt) pairs; mp-photo-alt fills in alt text a pair lacks."""
    found = []
    for index, (url, alt) in enumerate(pairs):
        try:
            found.append(Photo.from_url(url, alt or (alts[index] if index < len(alts) else "")))
        except ValueError as exc:
            raise Refusal(f"Photo {url!r}: {exc}") from None
    return found


def _check(content, tags, photo_count, kept):
    """Return the validated content and tags; refuse too many photos before any file is written.

    A like, repost or bookmark may have no text; a reply and a plain note need some.
    """
    answered = response_of(kept)
    required = answered is None or answered.needs_text
    content = store.validate_content(content, current_app.config["MAX_NOTE_CHARS"], required=required)
    tags = store.validate_tags(tags)
    store.check_photo_count(photo_count)
    return content, tags


def _picked_targets(commands):
    """Return the mp-syndicate-to targets, each one of SYNDICATE_TO's uids; refuse any other."""
    offered = {target["uid"] for target in current_app.config["SYNDICATE_TO"]}
    picks = commands.get("mp-syndicate-to", [])
    for uid in picks:
        if not isinstance(uid, str) or uid not in offered:
            raise Refusal(f"mp-syndicate-to {uid!r} is not a target of this site (see q=syndicate-to).")
    return list(dict.fromkeys(picks))


def _update_picks(body):
    """Return (the update without mp-syndicate-to, the targets its replace or add picks); refuse unknown ones.

    mp-syndicate-to is a command, not a property: it cross-posts the note and is never stored.
    """
    picks, rest = [], dict(body)
    for operation in ("replace", "add"):
        changes = body.get(operation)
        if isinstance(changes, dict) and "mp-syndicate-to" in changes:
            changes = dict(changes)
            values = changes.pop("mp-syndicate-to")
            if not isinstance(values, list):
                raise Refusal('mp-syndicate-to must be a list of targets, e.g. ["https://brid.gy/publish/mastodon"].')
            picks += values
            rest[operation] = changes
    return rest, _picked_targets({"mp-syndicate-to": picks})


def create(properties, commands, files=()):
    """Make a note from an h-entry's properties (and uploaded photo files); return the 201 response."""
    fields = note_fields(properties)
    _check_kept(fields.kept)
    content, tags = _check(fields.content, fields.tags, len(files) + len(fields.photos), fields.kept)
    alts = _alt_texts(commands)
    picks = _picked_targets(commands)
    # Uploaded files come first, then photo URLs: mp-photo-alt values follow that order.
    linked = _linked_photos(fields.photos, alts[len(files) :])
    upload_alts = [store.validate_alt(alt) for alt in alts[: len(files)]]
    stored = []
    try:
        for index, file in enumerate(files):
            alt = upload_alts[index] if index < len(upload_alts) else ""
            stored.append(Photo.stored(media.save_upload(file), alt))
        slug = next((value for value in commands.get("mp-slug", []) if isinstance(value, str)), None)
        if slug is None and not content.strip():  # a like without text: "like", "like-2", ...
            slug = response_of(fields.kept).kind
        note = store.create_note(
            content,
            not fields.draft,
            tags,
            stored + linked,
            slug=slug,
            published_at=fields.published_at,
            properties=fields.kept,
            syndicate_to=picks,
        )
    except BaseException:
        media.discard(photo.file_name for photo in stored)
        raise
    current_app.logger.info("micropub: note %s created (%s)", note["slug"], "draft" if fields.draft else "published")
    return _created(note)


def update(body):
    """Apply a JSON update (replace, add, delete) to a note; 204 when done."""
    note = note_for_url(body.get("url"))
    if note["deleted_at"]:
        raise Refusal(f"The note at {body['url']} is deleted; undelete it before changing it.")
    body, picks = _update_picks(body)
    if picks and not any(body.get(operation) for operation in ("replace", "add", "delete")):
        store.syndicate_note(note["id"], picks)  # cross-posts only: the note itself is not edited
        current_app.logger.info("micropub: note %s cross-posted to %s", note["slug"], ", ".join(picks))
        return _no_content()
    properties, touched = apply_update(source_properties(note, permalink(note["slug"])), body)
    fields = note_fields(properties)
    _check_kept(fields.kept)
    content, tags = _check(fields.content, fields.tags, len(fields.photos), fields.kept)
    photos = _linked_photos(fields.photos, []) if "photo" in touched else None
    store.update_note(
        note["id"],
        content,
        not fields.draft,
        tags=tags if "category" in touched else None,
        photos=photos,
        published_at=fields.published_at if "published" in touched else None,
        properties=fields.kept,
        syndicate_to=picks,
    )
    current_app.logger.info("micropub: note %s updated (%s)", note["slug"], ", ".join(sorted(touched)))
    return _no_content()


def delete(url, undo=False):
    """Delete (or undelete) the note at url; 204, also when it already was."""
    note = note_for_url(url)
    if bool(note["deleted_at"]) != undo:
        return _no_content()
    (store.undelete_note if undo else store.delete_note)(note["id"])
    current_app.logger.info("micropub: note %s %s", note["slug"], "undeleted" if undo else "deleted")
    return _no_content()


def _run(action, info, run):
    if not isinstance(action, str) or action not in ACTION_SCOPES:
        raise Refusal(f"Unknown action {action!r}: this endpoint knows {', '.join(ACTION_SCOPES)}.")
    require_scope(info, ACTION_SCOPES[action])
    try:
        return run()
    except (PropertyError, NoteError) as exc:
        raise Refusal(str(exc)) from None
    except MediaError as exc:
        raise Refusal(
            str(exc), exc.status, "temporarily_unavailable" if exc.status == 503 else "invalid_request"
        ) from None


@bp.post("")
@media.accepts_uploads(when=lambda: _header_token_may(ACTION_SCOPES["create"]))
def endpoint():
    """Create, update, delete or undelete a note, from a form or a JSON body."""
    info = authenticate()
    if request.mimetype in FORM_TYPES:
        action = request.form.get("action", "create")
        if action == "update":
            raise Refusal("Updates must be sent as JSON (Content-Type: application/json).")
        if action in ("delete", "undelete"):
            return _run(action, info, lambda: delete(request.form.get("url"), undo=action == "undelete"))
        return _run(action, info, lambda: create(*form_entry(request.form), files=_uploads()))
    if request.mimetype != "application/json":
        raise Refusal("Send a form (application/x-www-form-urlencoded, multipart/form-data) or JSON.", 415)
    body = _json_body()
    action = body.get("action", "create")
    if action == "update":
        return _run(action, info, lambda: update(body))
    if action in ("delete", "undelete"):
        return _run(action, info, lambda: delete(body.get("url"), undo=action == "undelete"))
    return _run(action, info, lambda: create(*json_entry(body)))


def _syndicate_to():
    return [{"uid": target["uid"], "name": target["name"]} for target in current_app.config["SYNDICATE_TO"]]


def _config():
    return {
        "media-endpoint": current_app.config["SITE_URL"] + url_for("micropub.media_endpoint"),
        "syndicate-to": _syndicate_to(),
        "post-types": POST_TYPES,
        "q": QUERIES,
    }


def _source(info):
    require_scope(info, SOURCE_SCOPES)
    note = note_for_url(request.args.get("url"))
    if note["deleted_at"]:
        raise Refusal(f"The note at {request.args['url']} is deleted.")
    properties = source_properties(note, permalink(note["slug"]))
    wanted = request.args.getlist("properties[]") + request.args.getlist("properties")
    if wanted:
        return {"properties": {name: properties[name] for name in wanted if name in properties}}
    return {"type": ["h-entry"], "properties": properties}


@bp.get("")
def query():
    """Answer q=config, q=source (a note's properties) or q=syndicate-to."""
    info = authenticate()
    asked = request.args.get("q")
    if asked == "config":
        body = _config()
    elif asked == "syndicate-to":
        body = {"syndicate-to": _syndicate_to()}
    elif asked == "source":
        body = _source(info)
    else:
        raise Refusal(f"Unknown or missing query q={asked or ''!s}: ask for {', '.join(QUERIES)}.")
    response = jsonify(body)
    response.headers.update(NO_STORE)
    return response


@bp.post("/media")
@media.accepts_uploads(when=lambda: _header_token_may(MEDIA_SCOPES))
def media_endpoint():
    """Store one uploaded photo (multipart field "file"); 201 with its URL in Location."""
    info = authenticate()
    require_scope(info, MEDIA_SCOPES)
    if request.mimetype != MULTIPART:
        raise Refusal("Upload the photo as multipart/form-data, in a field named file.", 415)
    file = request.files.get("file")
    if file is None:
        raise Refusal("No file: upload the photo in a multipart field named file.")
    try:
        stored = media.save_upload(file)
    except MediaError as exc:
        raise Refusal(
            str(exc), exc.status, "temporarily_unavailable" if exc.status == 503 else "invalid_request"
        ) from None
    response = jsonify(url=stored.url)
    response.status_code = 201
    response.headers["Location"] = stored.url
    return response
