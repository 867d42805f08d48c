"""StarPunk: a minimal, self-hosted, single-author IndieWeb microblog."""

import logging
import re
import sqlite3
import sys
import time

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import Rule

from .config import ConfigError, load_config

__version__ = "0.7.0"


def _configure_logging(app):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s starpunk: %(message)s"))
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(logging.INFO)
    app.logger.propagate = False


class LazyBuildRule(Rule):
    """A URL rule that writes its URL builder on its first use, not when the app is built.

    Werkzeug compiles two builder functions per rule (Python code, written
    and compiled) as each rule is added; a start-up would pay for all of
    them, though most are first used long after. The warm-up's pages build
    the readers' links in the master, so the workers share those; the
    owner's rules are built in the worker that first links to them.
    """

    def _compile_builder(self, append_unknown=True):
        attribute = "_build_unknown" if append_unknown else "_build"

        def build_on_first_use(rule, *args, **kwargs):
            built = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, attribute, built)
            return built(*args, **kwargs)

        return build_on_first_use


class StarPunk(Flask):
    """Flask, minus the per-call check for coroutine functions: StarPunk's views and hooks are all plain functions.

    gunicorn.conf.py's hooks call warm_up, start_queue_consumer and hold_database_open;
    an app without them (the load test's framework floor) is served without any.
    """

    url_rule_class = LazyBuildRule

    def ensure_sync(self, func):
        """Return func itself (Flask checks each view and hook, on every request, for an async def)."""
        return func

    def warm_up(self):
        """Serve the busiest pages once (see the module's warm_up)."""
        warm_up(self)

    def hold_database_open(self):
        """Hold this process's database connection open for its requests (see db.hold_open)."""
        from .db import hold_open

        hold_open(self.config["DATA_PATH"])

    def start_queue_consumer(self):
        """Start this worker's queue consumer thread (see starpunk/consumer.py): one worker at a time does the jobs."""
        from .consumer import START_DELAY_SECONDS, Consumer

        Consumer(self, delay=START_DELAY_SECONDS).start()


# The settings every template reads as site.NAME.
SITE_SETTINGS = (
    "SITE_URL",
    "SITE_NAME",
    "SITE_DESCRIPTION",
    "SITE_AUTHOR",
    "AUTHOR_PHOTO",
    "ADMIN_ME",
    "VERSION",
    "DEV_MODE",
)


def warm_up(app):
    """Serve the home page and the newest note once, so templates are compiled and notes rendered.

    Gunicorn calls this in its master before forking (gunicorn.conf.py), so
    every worker, recycled ones included, starts with the page templates
    compiled and the first page's notes rendered instead of paying for them
    on its first requests. Reads only: nothing is written. Its cost is that
    of the first page, whatever the archive's size: every list reads a page
    by keyset (paging.py), never a count. The feeds are left to each
    worker's first reader of each (about 3 ms a feed, from the notes
    rendered here): warming them cost every start-up 9 ms, for copies the
    first write replaces anyway.
    """
    from werkzeug.test import Client  # Werkzeug's own client: Flask's test_client would import click's and pdb

    started = time.monotonic()
    client = Client(app)
    response = client.get("/")
    if response.status_code == 200:
        newest = re.search(rb'href="[^"]*(/note/[a-z0-9-]+)"', response.data)
        if newest:
            client.get(newest.group(1).decode())
    app.logger.info("warmed up in %.0f ms", (time.monotonic() - started) * 1000)


def create_app(test_config=None, *, commands=True):
    """Create and configure the StarPunk application.

    Gunicorn asks for it with commands=False: the `flask` command-line
    commands (backup, restore, login-link...) are added only for the CLI.
    """
    try:
        settings = load_config(test_config=test_config)
    except ConfigError as exc:
        raise SystemExit(f"starpunk: configuration error: {exc}") from None
    app = StarPunk(__name__)
    _configure(app, settings)
    open_data_folder(app)
    if commands:
        _add_commands(app)
    _handle_requests(app)
    _build_wsgi_pipeline(app)
    _set_up_templates(app)
    if settings["DEV_MODE"]:
        app.logger.warning(
            "DEV_MODE is ON: anyone who can reach this site can sign in as the owner. Never use it on a public server."
        )
    return app


def _configure(app, settings):
    app.config.update(settings)
    app.config.update(
        SECRET_KEY=settings["SESSION_SECRET"],
        VERSION=settings["VERSION"] or __version__,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=False,  # Referer checks break behind some proxies; the token suffices
        TEMPLATES_AUTO_RELOAD=False,
    )
    _configure_logging(app)


def open_data_folder(app):
    """Make DATA_PATH ready to serve: migrate the database, then bring the photo files in line with it.

    Each step says what it did in one log line; a step that cannot be done
    stops the start with one line (SystemExit), except those the site can
    serve without.
    """
    from . import db, media, replication, restore, search

    data_path = app.config["DATA_PATH"]
    if not search.fts5_available():
        raise SystemExit(
            f"starpunk: this Python's SQLite {sqlite3.sqlite_version} was built without FTS5, which search needs;"
            " run StarPunk with a Python whose sqlite3 module has it (the image's does)"
        )
    try:
        applied = db.migrate(data_path)
    except db.MigrationError as exc:
        if exc.applied:
            app.logger.info("applied %d migration(s): %s", len(exc.applied), ", ".join(exc.applied))
        raise SystemExit(f"starpunk: {exc}") from None
    except (OSError, sqlite3.Error) as exc:
        raise SystemExit(f"starpunk: cannot open the database in DATA_PATH={data_path}: {exc}") from None
    if applied:
        app.logger.info("applied %d migration(s): %s", len(applied), ", ".join(applied))
    try:
        restored = restore.restore_backed_up_media(data_path)
    except (OSError, sqlite3.Error, media.MediaError) as exc:
        raise SystemExit(f"starpunk: cannot write back the photos of the restored backup: {exc}") from None
    if restored:
        app.logger.info("restored %d photo file(s) from the backup into %s", restored, media.media_folder(data_path))
    try:
        reconciled = replication.reconcile(data_path)
    except (OSError, sqlite3.Error, media.MediaError) as exc:
        # The site can still serve; the photos a restored copy carries stay in the database until the next start.
        app.logger.warning("could not reconcile the photo files with their copies in the database: %s", exc)
    else:
        if reconciled.restored:
            app.logger.info("%s", reconciled.restored_line())
        elif reconciled.photos_written_back:
            app.logger.info("wrote back %d photo file(s) kept in the database", reconciled.photos_written_back)
        if reconciled.photos_kept:
            app.logger.info("kept %d photo file(s) in the database (media_copies)", reconciled.photos_kept)
    try:
        abandoned = media.remove_abandoned_uploads(data_path)
    except OSError as exc:  # a read-only /data: the partial files do no harm, /health says what is wrong
        app.logger.warning("could not remove partial uploads: %s", exc)
    else:
        if abandoned:
            app.logger.info("removed %d partial upload file(s) left by a killed process", abandoned)


def _add_commands(app):
    from . import auth, cli, consumer, db, mentions, sending, tokens

    cli.init_app(app)
    app.cli.add_command(db.init_db_command)
    tokens.init_app(app)
    app.cli.add_command(auth.login_link_command)
    mentions.mentions_command.add_command(sending.sent_command)
    app.cli.add_command(mentions.mentions_command)
    app.cli.add_command(consumer.queue_command)


def _handle_requests(app):
    from . import (
        admin,
        archive,
        auth,
        db,
        errors,
        feeds,
        health,
        indieauth,
        media,
        meta,
        micropub,
        notes,
        search,
        throttle,
        verify,  # noqa: F401 (registers the queue's webmention handler)
        web,
        webmention,
    )
    from .csrf import check_csrf, csrf
    from .sessions import SQLiteSessionInterface

    app.session_interface = SQLiteSessionInterface()
    db.init_app(app)
    # Before CSRFProtect's hook, which reads the form: upload views get their larger limit first.
    app.before_request(media.raise_upload_limit)
    csrf.init_app(app)
    app.before_request(check_csrf)
    if app.config["TRUSTED_PROXIES"]:
        app.before_request(throttle.warn_of_unproxied_requests)
    errors.init_app(app)
    for module in (notes, archive, search, feeds, media, auth, admin, health, indieauth, micropub, meta, webmention):
        app.register_blueprint(module.bp)
    app.after_request(web.add_security_headers)


def _build_wsgi_pipeline(app):
    from . import fastpath, floodgate

    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    # Webmentions from a host the endpoint just refused or dropped are answered the same before Flask.
    app.wsgi_app = floodgate.WebmentionGate(app.wsgi_app)
    # Outermost: readers' copies of cached pages and feeds are answered before Flask (and ProxyFix) run.
    app.wsgi_app = fastpath.ReaderFastPath(app.wsgi_app, app.config["DATA_PATH"])


def _set_up_templates(app):
    from . import auth, meta, notes, responses, search, templatecache
    from .render import description, note_html, opens_with_heading, readable_date, summary

    app.jinja_env.filters.update(
        markdown=note_html,
        summary=summary,
        description=description,
        opens_with_heading=opens_with_heading,
        readable_date=readable_date,
    )
    app.jinja_env.globals.update(
        permalink=notes.permalink,
        static_url=meta.static_url,
        absolute_url=meta.absolute_url,
        search_max_chars=search.MAX_QUERY_CHARS,
        response_of=responses.response_of,
        syndication_of=responses.syndication_of,
        host_of=responses.host_of,
    )
    # The image's templates were compiled when it was built (templatecache.py): startup skips that.
    templatecache.use_prebuilt(app)
    site = {key: app.config[key] for key in SITE_SETTINGS}

    @app.context_processor
    def site_context():
        return {"site": site, "is_owner": auth.is_owner()}
