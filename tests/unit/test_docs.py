"""The docs that describe code, held to the code: blueprints, nox sessions, settings and routes.

Each test names what a page lacks (or lists that the code no longer has), so
adding a blueprint, a session, a setting or a route without its line fails here.
"""

import ast
import re
from pathlib import Path

from starpunk.config import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"


def section(text, start, end):
    """Return the text from the line that starts with start up to the next line that starts with end."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i, line in enumerate(lines[first + 1 :], first + 1) if line.startswith(end))
    return lines[first:last]


def table_column(text, header, column):
    """Return the cells of one column of the Markdown table whose header row starts with header."""
    lines = text.splitlines()
    first = lines.index(next(line for line in lines if line.startswith(header)))
    cells = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        # A "\|" inside a cell is a literal bar, not a column border.
        cells.append(re.split(r"(?<!\\)\|", line)[column + 1].strip())
    return cells


def code_spans(cells):
    """Return every `code span` of the cells."""
    return [span for cell in cells for span in re.findall(r"`([^`]+)`", cell)]


def documented_blueprints(text):
    """Return the blueprint names the architecture page's Blueprints list gives, one `name` an item."""
    items = section(text, "- **Blueprints**", "- **The store**")
    return {match.group(1) for line in items if (match := re.match(r"  - `(\w+)` \(", line))}


def nox_sessions(noxfile):
    """Return the names of the functions the noxfile decorates with @nox.session."""
    sessions = set()
    for node in ast.parse(noxfile.read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if ast.unparse(target) in {"nox.session", "session"}:
                sessions.add(node.name)
    return sessions


def documented_settings(env_example):
    """Return the settings .env.example gives a line (NAME=value), not those only commented out."""
    return {line.split("=", 1)[0] for line in env_example.splitlines() if re.match(r"^[A-Z][A-Z0-9_]*=", line)}


def route_shape(route):
    """Return a route without its query and with each variable as <>: /tag/<tag>?before=<id> is /tag/<>."""
    return re.sub(r"<[^>]*>", "<>", route.split("?", 1)[0])


def documented_routes(text):
    """Return the shapes of the routes in the README's Routes table (first column, each `code span` a route)."""
    return {route_shape(span) for span in code_spans(table_column(text, "| route | what |", 0)) if span.startswith("/")}


def served_routes(app):
    """Return the shapes of every route the app serves."""
    return {route_shape(rule.rule) for rule in app.url_map.iter_rules()}


def test_the_architecture_page_lists_every_registered_blueprint(app):
    """docs/architecture.md's Blueprints list is exactly app.blueprints."""
    listed = documented_blueprints(ARCHITECTURE.read_text())
    registered = set(app.blueprints)
    assert listed == registered, (
        f"docs/architecture.md's Blueprints list lacks {sorted(registered - listed)}"
        f" and lists {sorted(listed - registered)}, which create_app does not register"
    )


def test_both_session_tables_list_every_nox_session():
    """The README's sessions table and the architecture page's harness table each name every nox session."""
    sessions = nox_sessions(ROOT / "noxfile.py")
    tables = {
        README: table_column(README.read_text(), "| session | what it does | CI |", 0),
        ARCHITECTURE: table_column(ARCHITECTURE.read_text(), "| suite | session | what it proves |", 1),
    }
    for page, cells in tables.items():
        listed = set(code_spans(cells))
        assert listed == sessions, (
            f"{page.relative_to(ROOT)}'s sessions table lacks {sorted(sessions - listed)}"
            f" and names {sorted(listed - sessions)}, which noxfile.py does not define"
        )


def test_env_example_documents_every_setting_config_reads():
    """.env.example has a line for each setting config.py reads, and for none it does not (but Gunicorn's)."""
    documented = documented_settings((ROOT / ".env.example").read_text())
    gunicorn_conf = (ROOT / "gunicorn.conf.py").read_text()
    gunicorn = {name for name in documented if re.search(rf"\b{name}\b", gunicorn_conf)}
    settings = set(DEFAULTS)
    assert settings - documented == set(), f".env.example has no line for {sorted(settings - documented)}"
    unknown = documented - settings - gunicorn
    assert unknown == set(), f".env.example documents {sorted(unknown)}, read by neither config.py nor gunicorn.conf.py"


def test_the_readme_routes_table_lists_every_route(app):
    """The README's Routes table names every route the app serves, and no other."""
    documented = documented_routes(README.read_text())
    served = served_routes(app)
    assert served - documented == set(), f"README.md's Routes table has no line for {sorted(served - documented)}"
    assert documented - served == set(), f"README.md's Routes table names {sorted(documented - served)}, not served"


def test_the_checks_notice_a_missing_line(tmp_path):
    """Each reader finds what a page lists, so a name missing from the page is one the code has and it lacks."""
    page = "- **Blueprints**, one per module:\n  - `notes` (`/`)\n  - `feeds` (`/feed.xml`)\n- **The store**\n"
    assert documented_blueprints(page) == {"notes", "feeds"}
    noxfile = tmp_path / "noxfile.py"
    noxfile.write_text("import nox\n@nox.session(python=['3.13'])\ndef lint(session): ...\ndef helper(): ...\n")
    assert nox_sessions(noxfile) == {"lint"}
    assert documented_settings("A_B=1\n# C_D=2\nE=\n") == {"A_B", "E"}
    table = "| route | what |\n|---|---|\n| `/tag/<tag>`, `?before=<id>` | x |\n| `/a` | `/b` \\| c |\n\n| `/c` |\n"
    assert documented_routes(table) == {"/tag/<>", "/a"}
    assert route_shape("/<int(fixed_digits=4, min=1):year>/") == "/<>/"
