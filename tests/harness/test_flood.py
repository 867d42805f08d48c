"""loadtests.flood: the Webmention flood readers are measured under, against a real HTTP server on 127.0.0.1."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from loadtests import flood
from loadtests.wrk import WrkRun

TARGET = "http://127.0.0.1/note/a-note"


class Endpoint:
    """A Webmention endpoint that accepts BOUND mentions, then answers 429, and keeps every form it was sent."""

    BOUND = 5

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                endpoint.forms.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(202 if len(endpoint.forms) <= Endpoint.BOUND else 429)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            # The flood's 16 senders connect at once: the default backlog of 5 let the kernel refuse some
            # connections under load, and a refused mention never reached the endpoint's forms.
            request_queue_size = 128
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint():
    made = Endpoint()
    yield made
    made.close()


def wrk_run(url: str, p95_ms: float, requests: int = 100) -> WrkRun:
    return WrkRun(url, 16, requests, 1.0, 0, p95_ms / 2, p95_ms, p95_ms * 2, 0, 0.1)


def test_a_flood_sends_well_formed_mentions_from_one_host_and_tallies_the_answers(endpoint) -> None:
    """Every mention names the target and a source on one host; 202s and 429s are counted apart."""
    with flood.Flood(endpoint.url + "/webmention", TARGET, rate=400) as sent:
        while len(endpoint.forms) < Endpoint.BOUND + 3:
            threading.Event().wait(0.01)
    sources = [form["source"][0] for form in endpoint.forms]
    assert {form["target"][0] for form in endpoint.forms} == {TARGET}
    assert {urlsplit(source).netloc for source in sources} == {"127.0.0.1:9"}
    assert len(set(sources)) == len(sources), "each mention has a source of its own"
    assert sent.statuses["202"] == Endpoint.BOUND and sent.statuses["429"] == len(endpoint.forms) - Endpoint.BOUND


def test_readers_are_measured_quiet_then_under_the_flood(endpoint) -> None:
    """Each round runs every route quiet with no mention sent, then under the flood; medians by state."""
    seen: list[tuple[str, int]] = []

    def run(url: str, seconds: int, connections: int) -> WrkRun:
        seen.append((url, len(endpoint.forms)))
        flooded = url.endswith("?flood") or len(seen) % 2 == 0
        threading.Event().wait(0.05)
        return wrk_run(url, 9.0 if flooded else 3.0)

    cpu = iter(range(100))  # the server's CPU seconds so far: one more at each reading

    figures = flood.measure(
        endpoint.url, TARGET, {"/": "/"}, rounds=2, seconds=1, run=run, server_cpu_s=lambda: float(next(cpu))
    )
    # Round one: quiet before any mention; then the flood is running while "/" is measured again.
    assert seen[0][1] == 0
    assert figures["routes"]["/"]["quiet"]["p95_ms"] == 3.0 and figures["routes"]["/"]["flood"]["p95_ms"] == 9.0
    statuses = figures["flood"]["statuses"]
    # Every answered mention (202 or 429) is a form the endpoint kept; a connection error would be counted apart.
    assert statuses.get("202", 0) + statuses.get("429", 0) == len(endpoint.forms) > 0
    assert sum(statuses.values()) == figures["flood"]["sent"]
    # One server CPU-second per run both ways, and as many requests: the flood left readers all of it.
    assert figures["routes"]["/"]["cost_ratio"] == 1.0
    # The flood alone (one CPU-second per reading too) over the mentions it had answered meanwhile.
    assert figures["cpu_ms"]["reader"] == 10.0 and figures["cpu_ms"]["mention"] > 0


def test_the_load_report_shows_readers_quiet_and_under_the_flood() -> None:
    """The report's flood section has each route's p95 both ways, the answers by status and what was left."""
    # The flood's run: 100 requests in 0.5 server CPU-seconds against quiet's 100 in 0.4, so 0.8 of quiet's.
    runs = {"quiet": {"/": [(wrk_run("/", 3.0), 0.4)]}, "flood": {"/": [(wrk_run("/", 4.5), 0.5)]}}
    under = flood.summarize(runs, flood.Counter({"202": 50, "429": 950}), 6.0, [1.0, 2.0])
    under["left"] = {"jobs": {"done": 50}, "mentions": 0}
    under["cpu_ms"] = {"mention": 0.6, "reader": 0.5}
    lines = "\n".join(flood.flood_table({"under_flood": under, "parameters": {"write_rounds": 1}}))
    assert "| `/` | 3.0 | 4.5 | 100 | 100 | 0.80 |" in lines
    assert "0.60 ms per mention of the flood alone" in lines and "0.50 ms per quiet reader's request" in lines
    assert "the flood takes 10% of one core" in lines
    assert "sent 1000 Webmentions at 167/s" in lines and "202: 50, 429: 950" in lines
    assert "Jobs left by state: done: 50; stored mentions: 0." in lines
    assert flood.flood_table({"parameters": {}}) == []
