"""Saturating users for the capacity comparison: run one class at a time.

    locust -f loadtests/capacity.py --host http://127.0.0.1:8000 --headless -u 20 -t 20s HealthCapacity
    locust -f loadtests/capacity.py --host http://127.0.0.1:8000 --headless -u 20 -t 20s FeedCapacity

Each user asks again as soon as the answer arrives, so requests/s is what the
server can do; the feed's figure over /health's is the cost of the cached feed.
"""

from locust import FastHttpUser, constant, task

from loadtests.locustfile import check, enforce_targets  # noqa: F401 (registers the thresholds)


class HealthCapacity(FastHttpUser):
    """Asks /health as fast as it answers."""

    wait_time = constant(0)

    @task
    def health(self):
        with self.client.get("/health", name="/health", catch_response=True) as response:
            check(response, 200, "application/json", b'"healthy"')


class FeedCapacity(FastHttpUser):
    """Asks /feed.xml without If-None-Match (a reader with no cache) as fast as it answers."""

    wait_time = constant(0)

    @task
    def rss(self):
        with self.client.get("/feed.xml", name="/feed.xml (no If-None-Match)", catch_response=True) as response:
            check(response, 200, "application/rss+xml", b"<rss")
