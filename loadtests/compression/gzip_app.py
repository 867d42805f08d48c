"""StarPunk as the image runs it, plus gzip in the app: the variant `python -m loadtests.compression` measures.

Mounted read-only into the container and served by the image's own Gunicorn
settings; it only adds an after_request hook, so the two runs differ by the
compression alone. Not part of the app: the measurement decided against it
(docs/deployment/container-deployment.md, "Compression").
"""

import gzip

from flask import request

from starpunk import create_app

COMPRESSIBLE = {
    "text/html",
    "text/css",
    "text/plain",
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "image/svg+xml",
}
LEVEL = 6  # nginx's gzip_comp_level default is 1, Caddy's encode gzip 5; 6 is zlib's default

app = create_app()


@app.after_request
def compress(response):
    """Gzip a text response when the client accepts it, as a proxy would."""
    if "gzip" not in request.headers.get("Accept-Encoding", "") or response.mimetype not in COMPRESSIBLE:
        return response
    if response.status_code != 200 or "Content-Encoding" in response.headers:
        return response
    response.direct_passthrough = False
    response.set_data(gzip.compress(response.get_data(), LEVEL))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response
