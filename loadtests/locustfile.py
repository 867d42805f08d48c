"""Locust users that behave like StarPunk's readers, feed readers and author.

Run against a running instance (all traffic to the --host given):

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 50 -r 10 -t 2m

The author signs in with a one-time login link in STARPUNK_LOGIN_URL (made
by `flask --app starpunk login-link`); without it, no author user runs. The
author's Micropub app (loadtests/micropub_user.py) posts with the access token in
STARPUNK_MICROPUB_TOKEN; without it, it does not run. With STARPUNK_LOCUST_FLOOR=1
the readers run against the framework floor (loadtests/floor/floorapp.py, which
answers every GET with the same feed), and only the status is checked: the
benchmark measures the floor's memory under the same readers.
Readers and feed readers use locust's FastHttpUser (geventhttpclient), so one
locust process on one core keeps up with the mix; the benchmark reports its
CPU use beside the server's. Throughput at saturation is wrk's job
(loadtests/throughput.py): locust cannot generate the rates the floor reaches.
"""

import itertools
import os
import random
import re
from urllib.parse import urlsplit

from locust import FastHttpUser, HttpUser, between, events, task

# locust puts the working directory (the checkout) on sys.path
from loadtests.micropub_user import MicropubAuthor  # noqa: F401 (a user class of the mix)
from testkit import limits
from testkit.owner import COOKIE
from testkit.web import CSRF_FIELD

P95_LIMIT_MS = float(os.environ.get("STARPUNK_P95_LIMIT_MS", limits.P95_LIMIT_MS))
FLOOR = os.environ.get("STARPUNK_LOCUST_FLOOR") == "1"
NOTE_LINK = re.compile(r'href="[^"]*?(/note/[a-z0-9-]+)"')
TAG_LINK = re.compile(r'href="[^"]*?(/tag/[^"/?]+)"')
PHOTO_SRC = re.compile(r'src="[^"]*?(/media/[0-9a-f]{32}\.(?:jpg|png|gif|webp))"')
FEEDS = {
    "/feed.xml": ("application/rss+xml", b"<rss"),
    "/feed.atom": ("application/atom+xml", b"<feed"),
    "/feed.json": ("application/feed+json", b"https://jsonfeed.org/version/1.1"),
}
_login_urls = iter(u for u in os.environ.get("STARPUNK_LOGIN_URL", "").split() if u)
_note_counter = itertools.count(1)


def check(response, status=200, content_type=None, marker=None):
    """Mark a response failed unless status, content type and body marker are right."""
    if response.status_code != status:
        response.failure(f"status {response.status_code}, expected {status}")
    elif FLOOR:
        response.success()  # the floor answers every GET with the same feed: its status is all there is to check
    elif content_type and not response.headers.get("Content-Type", "").startswith(content_type):
        response.failure(f"content type {response.headers.get('Content-Type')!r}")
    elif marker and marker not in response.content:
        response.failure(f"body lacks {marker!r}")
    else:
        response.success()


class Reader(FastHttpUser):
    """Reads the index, older pages and permalinks, like a visitor."""

    weight = 6
    wait_time = between(1, 3)
    permalinks: list
    tags: list
    photos: list

    def on_start(self):
        # Tags are followed only once the index has shown their links (a
        # release without tag pages, as in the upgrade test, shows none).
        self.permalinks, self.tags, self.photos = [], [], []

    @task(5)
    def index(self):
        with self.client.get("/", name="/", catch_response=True) as response:
            check(response, 200, "text/html", b'class="h-feed"')
            page = response.text or ""
            self.permalinks = NOTE_LINK.findall(page)[:20] or self.permalinks
            self.tags = sorted(set(TAG_LINK.findall(page))) or self.tags
            self.photos = PHOTO_SRC.findall(page) or self.photos

    @task(2)
    def tag_page(self):
        if not self.tags:
            self.index()
            return
        with self.client.get(random.choice(self.tags), name="/tag/[tag]", catch_response=True) as response:
            check(response, 200, "text/html", b'class="h-feed"')

    @task(3)
    def photo(self):
        if not self.photos:
            return self.index()
        with self.client.get(random.choice(self.photos), name="/media/[name]", catch_response=True) as response:
            check(response, 200, "image/")

    @task(2)
    def older_page(self):
        page = random.randint(2, 5)
        with self.client.get(f"/?page={page}", name="/?page=[n]", catch_response=True) as response:
            # Pages past the last one are a proper 404: only a small site has them.
            if response.status_code == 404:
                response.success()
            else:
                check(response, 200, "text/html", b'class="h-feed"')

    @task(4)
    def permalink(self):
        if not self.permalinks:
            return self.index()
        path = random.choice(self.permalinks)
        with self.client.get(path, name="/note/[slug]", catch_response=True) as response:
            check(response, 200, "text/html", b'class="h-entry')


class FeedReader(FastHttpUser):
    """Polls the feeds with If-None-Match, as feed readers do: most answers are 304."""

    weight = 3
    wait_time = between(2, 5)
    etags: dict

    def on_start(self):
        self.etags = {}

    def poll(self, path):
        headers = {"If-None-Match": self.etags[path]} if path in self.etags else {}
        with self.client.get(path, name=path, headers=headers, catch_response=True) as response:
            if response.status_code == 304 and path in self.etags:
                response.success()
                return
            content_type, marker = FEEDS[path]
            check(response, 200, content_type, marker)
            if response.headers.get("ETag"):
                self.etags[path] = response.headers["ETag"]

    @task(6)
    def rss(self):
        self.poll("/feed.xml")

    @task(2)
    def atom(self):
        self.poll("/feed.atom")

    @task(2)
    def json_feed(self):
        self.poll("/feed.json")


class Author(HttpUser):
    """Signs in with a login link and publishes a note now and then, invalidating the caches."""

    fixed_count = 1
    wait_time = between(5, 10)
    csrf_token = None

    def on_start(self):
        login_url = next(_login_urls, None)
        if login_url is None:
            self.stop()
            return
        path = urlsplit(login_url).path
        with self.client.get(path, name="/auth/token/[token]", allow_redirects=False, catch_response=True) as response:
            check(response, 303)
            cookie = response.cookies.get(COOKIE)
        # The cookie is Secure when SITE_URL is https; this client talks plain
        # http to 127.0.0.1, so it is handed back explicitly.
        if cookie:
            self.client.cookies.set(COOKIE, cookie)

    @task
    def publish(self):
        publish_note(
            self.client, f"Load-test note {next(_note_counter)}: published while readers read & feeds are polled."
        )


def publish_note(client, content):
    """Publish a note through the admin form as the signed-in author; return whether the site acknowledged it (303)."""
    with client.get("/admin/new", name="/admin/new", catch_response=True) as response:
        check(response, 200, "text/html", b"csrf_token")
        found = CSRF_FIELD.search(response.text or "")
    if not found:
        return False
    data = {"csrf_token": found.group(1), "content": content, "published": "y"}
    with client.post(
        "/admin/new", data=data, name="/admin/new [POST]", allow_redirects=False, catch_response=True
    ) as response:
        check(response, 303)
        return response.status_code == 303


@events.quitting.add_listener
def enforce_targets(environment, **kwargs):
    """Exit non-zero on any failed request or an endpoint whose p95 is over the limit."""
    stats = environment.stats
    if stats.total.num_failures:
        environment.process_exit_code = 1
    for entry in stats.entries.values():
        if entry.num_requests and entry.get_response_time_percentile(0.95) >= P95_LIMIT_MS:
            environment.process_exit_code = 1
