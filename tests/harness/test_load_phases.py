"""The load benchmark's memory, start-up and readers-under-writes figures, from synthetic inputs."""

import time
from pathlib import Path

import pytest

from loadtests import memory, startup, writes
from loadtests.wrk import WrkRun
from testkit.ports import free_port

ROLLUP = """55d4c0a1e000-7ffd5b7f2000 ---p 00000000 00:00 0                          [rollup]
Rss:               36000 kB
Pss:                9800 kB
Pss_Anon:           3000 kB
Shared_Clean:      30000 kB
Shared_Dirty:       2000 kB
Private_Clean:       500 kB
Private_Dirty:      3500 kB
Referenced:        36000 kB
Anonymous:          4000 kB
"""


def _proc(tmp_path: Path, pids: list[int]) -> Path:
    for pid in pids:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "smaps_rollup").write_text(ROLLUP)
    return tmp_path


def test_smaps_rollup_gives_private_and_shared_memory_per_process(tmp_path: Path) -> None:
    """The master is the process whose parent is outside the container; private and shared sum their two fields."""
    proc = _proc(tmp_path, [10, 11, 12])
    figures = memory.process_figures([(11, 10), (10, 1), (12, 10)], proc)
    assert [figure["role"] for figure in figures] == ["master", "worker", "worker"]
    assert figures[0]["private_mb"] == pytest.approx(4000 * 1024 / 1e6)
    assert figures[0]["shared_mb"] == pytest.approx(32000 * 1024 / 1e6)
    assert figures[0]["pss_mb"] == pytest.approx(9800 * 1024 / 1e6)


def test_a_process_that_ended_before_it_was_read_is_left_out(tmp_path: Path) -> None:
    """A worker recycled between the listing and the reading has no smaps: the others are still reported."""
    proc = _proc(tmp_path, [10])
    assert [figure["pid"] for figure in memory.process_figures([(10, 1), (11, 10)], proc)] == [10]


def test_startup_figures_compare_medians_with_the_floor() -> None:
    """StarPunk's median over the floor's in ms, and the floor's over StarPunk's as the gate's ratio."""
    starts = startup.Starts({"engine": [0.30, 0.32, 0.31], "floor": [0.50, 0.60, 0.55], "starpunk": [0.62, 0.58, 0.7]})
    figures = starts.as_dict()
    assert figures["over_floor_ms"] == pytest.approx(70)
    assert figures["floor_over_engine_ms"] == pytest.approx(240)
    assert figures["floor_ratio"] == pytest.approx(0.55 / 0.62)
    assert figures["starpunk"]["max"] == 0.7


def _run(rps: float, p95_ms: float = 10.0) -> WrkRun:
    return WrkRun("http://127.0.0.1/", 16, int(rps * 2), 2.0, 0, p95_ms, p95_ms, p95_ms, 0, 0.1)


def test_readers_under_writes_are_paired_with_the_quiet_run_of_their_round() -> None:
    """A slow round slows quiet and writing runs alike: the ratio is the median of per-round ratios."""
    runs = {0: {"/": [(_run(1000), 2.0), (_run(500), 1.0)]}, 1: {"/": [(_run(900), 2.0), (_run(450), 1.0)]}}
    tally = {"written": 4, "failed": 0, "seconds": 4.0, "latencies_ms": [20.0, 30.0, 25.0, 40.0]}
    figures = writes.summarize(runs, {0: {**tally, "written": 0, "latencies_ms": []}, 1: tally})
    assert figures["1"]["routes"]["/"]["ratio_to_quiet"] == pytest.approx(0.9)
    assert figures["1"]["writes_per_s"] == 1.0
    assert figures["0"]["write_p95_ms"] is None


def test_readers_under_writes_are_judged_per_cpu_second_of_the_server() -> None:
    """Another job took half the server's core in the writing run: req/s halves, what a request costs does not."""
    runs = {0: {"/": [(_run(1000), 2.0)]}, 1: {"/": [(_run(500), 1.0)]}}
    tally = {"written": 2, "failed": 0, "seconds": 2.0, "latencies_ms": [20.0]}
    route = writes.summarize(runs, {0: {**tally, "written": 0, "latencies_ms": []}, 1: tally})["1"]["routes"]["/"]
    assert route["ratio_to_quiet"] == pytest.approx(0.5)
    assert route["cost_ratio_to_quiet"] == pytest.approx(1.0)


def test_the_writer_posts_on_schedule_and_counts_what_was_acknowledged() -> None:
    """Against a port nobody listens on every post fails, and the writer says so instead of stopping the run."""
    with writes.Writer(f"http://127.0.0.1:{free_port()}/micropub", "token", rate=20) as writer:
        time.sleep(0.3)
    assert writer.written == 0
    assert writer.failed >= 2


def _row(count: int, capacity_per_mb: float, slow: bool = True, fast: bool = True, small: bool = True) -> dict:
    return {
        "workers": count,
        "capacity_per_mb": capacity_per_mb,
        "slow_clients": {"met": slow},
        "throughput_met": fast,
        "p95_met": True,
        "memory_met": small,
    }


def test_the_default_workers_serve_most_per_mb_among_those_meeting_every_goal() -> None:
    """One worker is cheapest but a stalled upload stalls every reader; four are over 80 MB: two or three win."""
    from loadtests import workers

    rows = [_row(1, 20.0, slow=False), _row(2, 15.0), _row(3, 12.0), _row(4, 16.0, small=False)]
    assert workers.choose(rows) == 2
    assert workers.choose([_row(1, 20.0, slow=False)]) is None


class _QueueSite:
    """A site whose `flask queue status` prints the given lines."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.commands: list[tuple[str, ...]] = []

    def run(self, *command: str) -> str:
        self.commands.append(command)
        return self.status


def test_the_seed_leaves_no_jobs_for_the_readers_phases() -> None:
    """The seeded notes link inside the site (no Webmention queued), and a queued job stops the run."""
    from loadtests import seeding

    captured = []

    class Owner:
        def csrf_token(self) -> str:
            return "token"

        def post_note(self, content: str, csrf_token: str):
            captured.append(content)
            return type("Reply", (), {"status_code": 303})()

    seeding.seed(Owner(), 3)
    assert len(captured) == 3
    assert all("](/" in content and "http" not in content for content in captured)
    idle = _QueueSite("")
    seeding.idle_queue(idle)
    assert idle.commands == [("flask", "--app", "starpunk", "queue", "status")]
    with pytest.raises(RuntimeError, match="webmention-send\tqueued\t200"):
        seeding.idle_queue(_QueueSite("webmention-send\tqueued\t200\n"))
