"""The load benchmark's arithmetic: saturation, ratios paired by round, and the check against the committed baseline."""

import json
from pathlib import Path

import pytest

from loadtests import baseline, throughput
from loadtests.throughput import CONNECTIONS, Point


def point(rps: float, p95_ms: float = 10.0, connections: int = CONNECTIONS, cpu_s: float = 1.0) -> Point:
    """Return a one-second run with these figures."""
    return Point(connections, rps, p95_ms, p95_ms, 0, 1.0, 0.1, cpu_s)


def test_saturation_is_the_fastest_run_under_the_latency_limit() -> None:
    """A faster run over the limit does not count; with none under it there is no figure."""
    runs = [point(500, 40), point(900, 150, 64), point(700, 90, 4)]
    assert throughput.saturation(runs, 100) == runs[2]
    assert throughput.saturation([point(900, 150)], 100) is None


def test_saturation_tries_more_connections_while_under_and_fewer_while_over() -> None:
    """From the runs at 16 connections the search goes up if they stayed under the limit, else down, nearest first."""
    assert throughput.saturation_levels([point(500, 40)], 100) == [64]
    assert throughput.saturation_levels([point(500, 140)], 100) == [4, 1]


def test_ratios_pair_the_runs_of_one_round() -> None:
    """A slow round slows the floor and the route alike: the ratio is the median of per-round ratios."""
    points = {
        "floor": [point(1000), point(500), point(1000)],
        "nginx": [point(20000), point(10000), point(20000)],
        "/": [point(500), point(250), point(500)],
    }
    ratios = throughput.ratios_to_floor(points, "floor", "nginx")
    assert ratios == {"/": 0.5, "floor ÷ nginx": 0.05}


def test_ratios_per_cpu_second_divide_out_a_share_of_the_core() -> None:
    """A route served at half the rate with half the CPU costs what the floor does per request."""
    points = {"floor": [point(1000, cpu_s=1.0)], "nginx": [point(20000, cpu_s=1.0)], "/": [point(500, cpu_s=0.5)]}
    assert throughput.ratios_to_floor(points, "floor", "nginx", throughput.per_cpu_second)["/"] == 1.0
    assert throughput.ratios_to_floor(points, "floor", "nginx")["/"] == 0.5


def test_summary_takes_medians_at_sixteen_connections_and_saturation_from_all() -> None:
    """The figure is the median of the rounds; a saturation run at 64 connections may set the saturation figure."""
    figures = throughput.summarize([point(400), point(600), point(500), point(650, 80, 64)], 100)
    assert (figures.rps, figures.saturation_rps, figures.saturation_connections) == (500, 650, 64)


def test_a_ratio_more_than_the_tolerance_below_its_baseline_is_named_with_both_figures() -> None:
    """The failing line names the route, the baseline and the measured ratio."""
    lines = baseline.regressions({"/feed.xml": 0.44, "/": 0.30}, {"/feed.xml": 0.50, "/": 0.31}, 0.10)
    assert list(lines) == ["/feed.xml"]
    assert "measured 0.440, baseline 0.500" in lines["/feed.xml"]
    assert "nox -s load -- --write-baseline" in lines["/feed.xml"]


def test_ratios_within_the_tolerance_or_above_pass_and_missing_ones_fail() -> None:
    """9% below passes, any improvement passes, a ratio not measured at all fails."""
    assert baseline.regressions({"/": 0.455, "/health": 0.9}, {"/": 0.5, "/health": 0.5}, 0.10) == {}
    assert "not measured" in baseline.regressions({}, {"/": 0.5}, 0.10)["/"]


def test_a_written_baseline_reads_back(tmp_path: Path) -> None:
    """--write-baseline writes the ratios, rounded, with how to refresh them; reading returns the ratios."""
    path = tmp_path / "baseline.json"
    baseline.write_baseline({"/": 0.123456, "floor ÷ nginx": 0.05}, "abc123", "starpunk:test", 0.95, path)
    assert baseline.read_baseline(path) == {"/": 0.123, "floor ÷ nginx": 0.05}
    assert "--write-baseline" in json.loads(path.read_text(encoding="utf-8"))["about"]
    assert baseline.read_baseline(tmp_path / "missing.json") == {}


@pytest.mark.parametrize("name", ["/feed.xml", "/feed.atom", "/feed.json", "/note/<slug>", "/", "/feed.xml 304"])
def test_the_committed_baseline_holds_every_route_with_a_goal(name: str) -> None:
    """loadtests/baseline.json has a ratio for each route issue 12 sets a goal for, and the floor's share of nginx."""
    ratios = baseline.read_baseline()
    assert 0 < ratios[name] < 2
    assert 0 < ratios["floor ÷ nginx"] < 1


def test_errors_count_at_sixteen_connections_and_overload_probes_are_only_reported() -> None:
    """A run at CONNECTIONS with errors fails the run.

    A probe past it that errs is overload: reported, never the saturation figure.
    """
    steady = [Point(CONNECTIONS, 1000, 20, 20, 2, 1.0, 0.1, 1.0), point(1100, 20)]
    probe = Point(64, 1500, 50, 50, 7, 1.0, 0.1, 1.0)
    figures = throughput.summarize([*steady, probe])
    assert figures.errors == 2
    assert figures.probe_errors == 7
    assert figures.saturation_connections == CONNECTIONS and figures.saturation_rps == 1100
