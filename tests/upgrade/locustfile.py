"""Readers and feed readers of the load model, and an author who records every note the site acknowledged.

Run by test_blue_green.py as a subprocess (locust patches with gevent on
import). The author signs in with STARPUNK_LOGIN_URL and appends one JSON line
per acknowledged note (its text and the time of the 303) to STARPUNK_ACK_FILE,
so the test can look for each one afterwards. Every request's start time and
duration go to STARPUNK_REQUEST_LOG, so the test can tell which ones were in
flight while the containers changed.
"""

import itertools
import json
import os
import time
from urllib.parse import urlsplit

from locust import FastHttpUser, between, events, task

from loadtests import locustfile as model
from loadtests.locustfile import check

_numbers = itertools.count(1)
_request_log = open(os.environ["STARPUNK_REQUEST_LOG"], "a", encoding="utf-8", buffering=1)  # open for the whole run


@events.request.add_listener
def log_request(start_time, response_time, **kwargs):
    """Note when each request started and how long it took (ms), one line each."""
    _request_log.write(f"{start_time:.3f} {response_time:.1f}\n")


class BusyReader(model.Reader):
    """The load model's reader, coming back faster, so many requests are in flight while containers change."""

    wait_time = between(0.2, 0.6)


class BusyFeedReader(model.FeedReader):
    """The load model's feed reader, polling faster."""

    wait_time = between(0.2, 0.6)


class RecordingAuthor(FastHttpUser):
    """Signs in with a login link and publishes a note about every second, noting each one the site acknowledged."""

    fixed_count = 1
    wait_time = between(0.3, 1.0)

    def on_start(self):
        path = urlsplit(os.environ["STARPUNK_LOGIN_URL"]).path
        with self.client.get(path, name="/auth/token/[token]", allow_redirects=False, catch_response=True) as response:
            check(response, 303)

    @task
    def publish(self):
        content = f"Blue/green note {next(_numbers)}: written while the site changes containers."
        if model.publish_note(self.client, content):
            with open(os.environ["STARPUNK_ACK_FILE"], "a", encoding="utf-8") as acks:
                acks.write(json.dumps({"content": content, "at": time.time()}) + "\n")
