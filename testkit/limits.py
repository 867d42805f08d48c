"""Limits (a miss fails the run) and goals (a miss is reported) for the image, read by benchmark and tests alike.

Units are in every name: MB is 10^6 bytes everywhere, s seconds, ms milliseconds.
Tests assert only the generous limits; the benchmark reports every figure
against both (see loadtests/bench.py and build/reports/load/report.md).
"""

MB = 1_000_000  # bytes in one MB

IMAGE_LIMIT_MB = 250
IMAGE_GOAL_MB = 60
# From `start` to the first 200 from /health: the median of several starts in the benchmark, one start in the tests.
STARTUP_LIMIT_S = 10
# Issue 23: against the framework floor (the same image, gunicorn.conf.py and workers, a minimal Flask app) started
# the same way in the same run, StarPunk's median start-up is at most this much longer. It replaced issue 12's
# absolute 0.4 s, of which the engine's `docker start` and the framework's imports alone took most.
STARTUP_OVER_FLOOR_GOAL_MS = 50
# Working set (usage minus inactive page cache, as `docker stats` shows it), at the peak of the load.
MEMORY_LIMIT_MB = 256
MEMORY_GOAL_MB = 80
# Issue 23: StarPunk's peak working set over the floor's, the same workers and the same mix of readers.
MEMORY_OVER_FLOOR_GOAL_MB = 15
# Issue 23: readers of /, a permalink and /feed.xml while notes are written at this rate (per second) keep at least
# this share of their quiet throughput (wrk, the same run), with p95 under this.
WRITES_JUDGED_PER_S = 1
READERS_UNDER_WRITES_RATIO_GOAL = 0.8
READERS_UNDER_WRITES_P95_GOAL_MS = 50
# 95th percentile latency of every endpoint under the benchmark's mixed load.
P95_LIMIT_MS = 500
FAILED_REQUESTS_LIMIT = 0
# Throughput (wrk, requests per second) of a StarPunk route over the framework floor's
# (the same image and Gunicorn settings serving the same feed bytes from a minimal
# Flask app), both measured in the same run: every page and feed, and a conditional
# GET of /feed.xml answered 304, which should cost no more than the floor.
FLOOR_RATIO_GOAL = 0.9
NOT_MODIFIED_FLOOR_RATIO_GOAL = 1.0
# The saturation figure of each route: the highest requests/s measured while p95 latency stays under this.
SATURATION_P95_MS = 100
# A ratio of this run more than this fraction below its committed baseline (loadtests/baseline.json) fails the run.
# Issue 12 asked for 10%; on the 2-core CI machines the medians of three rounds moved by up to 10-12%
# between runs of the same commit (the floor alone from 2,050 to 2,510 req/s), so 10% failed runs of
# unchanged code. A regression such as losing the page cache costs a route far more than 20%.
BASELINE_TOLERANCE = 0.20
# The baseline is judged unless the floor's server had less than this share of its core: then its runs were mostly
# waiting for the core, and the report says they were not judged. Issue 23: the gate judges each throughput ratio by
# its best round (loadtests/baseline.py), which contention cannot push down, so it holds at half a core (a CPU hog
# sharing the server's core); 0.5 here had made such runs "not judged", and at 0.67 it had failed unchanged code.
BASELINE_MIN_SERVER_CPU = 0.25
# Lighthouse's score (0-100) in each of its four categories, every audited page, mobile and desktop.
LIGHTHOUSE_MIN_SCORE = 95
# The proxy tier (nginx.conf.example's micro-cache), through HTTPS on 127.0.0.1 in `nox -s proxy`:
# anonymous /feed.xml from the cache over the same bytes served from disk by the same nginx, requests
# per second measured in the same run (a cache hit also looks up its key, opens and parses the stored
# response and refreshes it once a second: ~0.7-0.8 seen here; the rest is the shared machine's noise).
PROXY_CACHE_STATIC_RATIO_LIMIT = 0.5
# From the moment the app acknowledges a note to the moment an anonymous reader sees it through the cache.
PROXY_FRESHNESS_LIMIT_S = 2.0

# The same figures under the keys of the load report (build/reports/load/report.json).
LIMITS: dict[str, float] = {
    "image_mb": IMAGE_LIMIT_MB,
    "startup_median_s": STARTUP_LIMIT_S,
    "memory_peak_mb": MEMORY_LIMIT_MB,
    "p95_ms": P95_LIMIT_MS,
    "failures": FAILED_REQUESTS_LIMIT,
}
GOALS: dict[str, float] = {
    "image_mb": IMAGE_GOAL_MB,
    "startup_over_floor_ms": STARTUP_OVER_FLOOR_GOAL_MS,
    "memory_peak_mb": MEMORY_GOAL_MB,
    "memory_over_floor_mb": MEMORY_OVER_FLOOR_GOAL_MB,
    "writes_judged_per_s": WRITES_JUDGED_PER_S,
    "readers_under_writes_ratio": READERS_UNDER_WRITES_RATIO_GOAL,
    "readers_under_writes_p95_ms": READERS_UNDER_WRITES_P95_GOAL_MS,
    "floor_ratio": FLOOR_RATIO_GOAL,
    "not_modified_floor_ratio": NOT_MODIFIED_FLOOR_RATIO_GOAL,
}


def megabytes(size_bytes: float) -> float:
    """Return a size in bytes as MB (10^6 bytes)."""
    return size_bytes / MB


# At scale (`nox -s scale`, build/reports/scale/): the same site seeded with 100 and with 100,000 notes, measured in
# one run (issue 28). Every page's p95 at the larger size within this factor of its p95 at the smaller one.
SCALE_P95_RATIO_GOAL = 1.2
# ... or at most this much slower, whichever is more: a page answered from a cache in ~3 ms has a p95 that moves by
# 1-2 ms between rounds of the same site on these shared 2-core machines (seen: 7.9-10.0 ms for the same feed), so a
# factor alone would judge the machine's noise there; a page whose cost grows with the archive misses both.
SCALE_P95_SLACK_MS = 2.0
# Start-up to healthy (median of several starts) at the larger size at most this much above the smaller's: reported,
# not gated (the starts of one site spread over a few hundred ms here; see loadtests/scale.py).
SCALE_STARTUP_DELTA_GOAL_MS = 50
# The readers' and the owner's search, p95 at the larger size.
SEARCH_P95_GOAL_MS = 50
