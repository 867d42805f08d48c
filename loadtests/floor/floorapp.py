"""The framework floor: a minimal Flask app answering every GET with the bytes of StarPunk's /feed.xml.

loadtests/bench.py runs it in StarPunk's own image, with StarPunk's own
gunicorn.conf.py (workers, worker class, logging, hooks), on the same data
volume, with this file and feed.xml mounted read-only at /floor:

    gunicorn --config /app/gunicorn.conf.py --pythonpath /floor floorapp:app

What this costs per request is what Flask and Gunicorn cost in that image;
StarPunk's routes are measured against it.
"""

from pathlib import Path

from flask import Flask, Response

BODY = (Path(__file__).parent / "feed.xml").read_bytes()

# A plain Flask app: gunicorn.conf.py's hooks find no warm_up or hold_database_open on it, so the
# floor loads nothing of StarPunk but its worker class (starpunk.worker, which imports only Gunicorn).
app = Flask(__name__)


@app.get("/", defaults={"path": ""})
@app.get("/<path:path>")
def feed(path):
    """Return the feed's bytes, whatever the path."""
    return Response(BODY, content_type="application/rss+xml; charset=utf-8")
