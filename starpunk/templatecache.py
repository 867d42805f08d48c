"""Compiled templates made when the image is built, so a starting server does not compile them.

Jinja turns each template into Python code and compiles it the first time it
is rendered: in the container that was most of the warm-up before the first
worker forks. The image build runs ``python -m starpunk.templatecache FOLDER``
once; the app then loads every template's code from FOLDER (Jinja's own
bytecode cache, keyed by the template's path and checked against a checksum of
its source, so an edited template is compiled afresh, never served stale).
Nothing is written there at run time: the image's /app is read-only to the
site's user, and a missing folder (development, tests) means Jinja compiles as
usual.
"""

import sys
import tempfile
from pathlib import Path

from jinja2 import FileSystemBytecodeCache

FOLDER_NAME = "template-bytecode"


class PrebuiltTemplates(FileSystemBytecodeCache):
    """Jinja's file bytecode cache, read-only: what the image build wrote is loaded, nothing is written."""

    def dump_bytecode(self, bucket):
        """Write nothing: a template compiled at run time stays in this process's memory only."""


def default_folder(app):
    """Return where the image keeps the compiled templates: beside the package's templates."""
    return Path(app.root_path) / FOLDER_NAME


def use_prebuilt(app, folder=None):
    """Load the app's templates from the compiled ones in folder (default_folder), when it exists."""
    folder = Path(folder) if folder is not None else default_folder(app)
    if folder.is_dir():
        app.jinja_env.bytecode_cache = PrebuiltTemplates(str(folder))


def build(folder):
    """Compile every template of the app into folder; return how many."""
    from . import create_app

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="starpunk-templates-") as data:
        # Any valid settings: they do not reach the compiled code, only the rendered pages.
        app = create_app(
            {
                "DATA_PATH": data,
                "SITE_URL": "https://build.invalid",
                "ADMIN_ME": "https://build.invalid/",
                "SESSION_SECRET": "template-build-" + "x" * 32,
            }
        )
        env = app.jinja_env
        env.bytecode_cache = FileSystemBytecodeCache(str(folder))
        names = env.list_templates()
        for name in names:
            env.get_template(name)
    # Jinja writes its files for its own user only; the site runs as another one and reads them.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return len(names)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m starpunk.templatecache FOLDER")
    print(f"compiled {build(sys.argv[1])} templates into {sys.argv[1]}")
