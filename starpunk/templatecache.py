"""Compiled templates made when the image is built, so a starting server does not compile them.

Jinja turns each template into Python code and compiles it the first time it
is rendered: in the container that was most of the warm-up before the first
worker forks. The image build runs ``python -m starpunk.templatecache`` once;
the app then loads every template's code from ``starpunk/template-bytecode``
(Jinja's own bytecode cache, keyed by the template's path and checked against
a checksum of its source, so an edited template is compiled afresh, never
served stale).
Nothing is written there at run time: the image's /app is read-only to the
site's user, and a missing folder (development, tests) means Jinja compiles as
usual.
"""

import sys
import tempfile
from pathlib import Path

from jinja2 import FileSystemBytecodeCache


class PrebuiltTemplates(FileSystemBytecodeCache):
    """Jinja's file bytecode cache, read-only: what the image build wrote is loaded, nothing is written."""

    def dump_bytecode(self, bucket):
        """Write nothing: a template compiled at run time stays in this process's memory only."""


# Beside the package's templates, where the image build writes them.
DEFAULT_FOLDER = Path(__file__).parent / "template-bytecode"


def use_prebuilt(app, folder=DEFAULT_FOLDER):
    """Load the app's templates from the compiled ones in folder, when it exists."""
    folder = Path(folder)
    if folder.is_dir():
        app.jinja_env.bytecode_cache = PrebuiltTemplates(str(folder))


def build(folder=DEFAULT_FOLDER):
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
    if len(sys.argv) > 2:
        raise SystemExit("usage: python -m starpunk.templatecache [FOLDER]")
    target = Path(sys.argv[1]) if len(sys.argv) == 2 else DEFAULT_FOLDER
    print(f"compiled {build(target)} templates into {target}")
